/* lib/base/cp_jsonck.h: an incremental checker for one JSON object (RFC 8259), fed in pieces.
 *
 * It accepts exactly the prefixes of one JSON object, byte by byte and across any split, and
 * appends what may be passed on to <out>: the input minus whitespace outside the object, with raw
 * control characters inside strings escaped (invalid JSON that models do write). UTF-8 is not
 * checked: the text comes out of a jansson string. Used to stream tool arguments so that a client
 * only ever sees a valid prefix of one object. Pure; no allocation besides <out>. */
#ifndef CP_JSONCK_H
#define CP_JSONCK_H

#include <stddef.h>
#include <stdint.h>

#include "cp_buf.h"

#define CP_JSONCK_DEPTH_MAX 128 /* nesting accepted */

enum cp_jsonck_rc {
    CP_JSONCK_OK = 0,
    CP_JSONCK_SYNTAX,     /* the text can no longer be a prefix of one JSON value */
    CP_JSONCK_NOT_OBJECT, /* the value is not an object */
    CP_JSONCK_DEEP,       /* nesting beyond CP_JSONCK_DEPTH_MAX */
    CP_JSONCK_FULL,       /* <out> reached its cap: what was accepted could not all be passed on */
};

/* Checker state: zero it (memset or = {0}) to start. */
typedef struct cp_jsonck {
    unsigned char st;  /* internal state (0: nothing but whitespace yet) */
    unsigned char sub; /* detail of the state */
    unsigned char lit; /* literal being read */
    unsigned char key; /* the string being read is an object key */
    unsigned short depth;
    uint64_t arr[CP_JSONCK_DEPTH_MAX / 64]; /* bit d: nesting level d is an array */
} cp_jsonck_t;

/* Feeds <n> bytes. Returns CP_JSONCK_OK, or why the text can no longer be a prefix of one object, or
 * CP_JSONCK_FULL; after anything but CP_JSONCK_OK the checker must not be fed again. What may be sent
 * is appended to <out> (always a valid prefix of one object, also on failure). */
int cp_jsonck_feed(cp_jsonck_t *t, const char *s, size_t n, cp_buf_t *out);

/* True once anything but whitespace was fed. */
int cp_jsonck_started(const cp_jsonck_t *t);

/* True once the object is complete (only whitespace may follow). */
int cp_jsonck_done(const cp_jsonck_t *t);

/* True for JSON whitespace. */
int cp_jsonck_ws(char c);

#endif
