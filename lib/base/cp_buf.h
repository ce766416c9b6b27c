/* lib/base/cp_buf.h: the one growable byte buffer, with a size cap (in the spirit of curl's dynbuf).
 *
 * A cp_buf_t is a plain value: embed it, cp_buf_init() it with its cap, add to it, cp_buf_free() it.
 * The text is always NUL-terminated once anything was added (cp_buf_str() gives "" before). Adding
 * past the cap adds nothing and returns CP_ERR, so a buffer sized by a client or an upstream can never
 * grow without bound: going over is a handled error, never an allocation failure. No I/O. */
#ifndef CP_BUF_H
#define CP_BUF_H

#include <stddef.h>

#include "cp_common.h"

typedef struct cp_buf {
    char *p;    /* owned; NULL until something was added */
    size_t len; /* bytes held, without the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* the cap on len; 0 or CP_BUF_UNLIMITED: none (so a zeroed cp_buf_t is ready to use) */
} cp_buf_t;

#define CP_BUF_UNLIMITED ((size_t)-1)
#define CP_BUF_INIT                                                                                          \
    {                                                                                                        \
        NULL, 0, 0, CP_BUF_UNLIMITED                                                                         \
    }

/* Empties <b> and sets its cap (<max> 0 means unlimited). Frees nothing: call on a fresh buffer. */
void cp_buf_init(cp_buf_t *b, size_t max);

/* Appends <n> bytes. Returns CP_OK, or CP_ERR (nothing added) when len would exceed the cap. */
int cp_buf_add(cp_buf_t *b, const void *s, size_t n);
int cp_buf_addc(cp_buf_t *b, char c);
int cp_buf_adds(cp_buf_t *b, const char *s); /* a NUL-terminated string */
int cp_buf_addf(cp_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cp_buf_add_int(cp_buf_t *b, long long v);
#define CP_BUF_LIT(b, lit) cp_buf_add((b), (lit), sizeof(lit) - 1)

/* Appends <n> bytes of <s> as the inside of a JSON string literal (jansson's escapes: \" \\ \n \r \t
 * \b \f, other control characters as \u00XX; UTF-8 passes unchanged). */
int cp_buf_add_jstr(cp_buf_t *b, const char *s, size_t n);

/* Appends <n> bytes of <s>, after <sep> when <b> already holds text; empty pieces add nothing. */
int cp_buf_join(cp_buf_t *b, const char *sep, const char *s, size_t n);

/* The text (borrowed until the next change), "" when empty. */
const char *cp_buf_str(const cp_buf_t *b);

/* Cuts the content to its first <len> bytes (<len> <= b->len). */
void cp_buf_truncate(cp_buf_t *b, size_t len);

/* Forgets the content and keeps the allocation, unless it is above <keep> bytes (then frees it). */
void cp_buf_reset(cp_buf_t *b, size_t keep);

/* Returns new: the text (NUL-terminated, never NULL; its allocation shrunk to fit), with its length in
 * *<len> when not NULL; <b> is left empty with the same cap. */
char *cp_buf_detach(cp_buf_t *b, size_t *len);

void cp_buf_free(cp_buf_t *b); /* frees the text; the cap stays */

#endif
