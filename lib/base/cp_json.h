/* lib/base/cp_json.h: small jansson helpers every translator uses. Pure, header only. */
#ifndef CP_JSON_H
#define CP_JSON_H

#include <string.h>

#include <jansson.h>

#include "cp_buf.h"

/* Flags for parsing JSON that comes from an upstream: any value at the top. */
#define CP_JSON_PARSE JSON_DECODE_ANY

/* json_loadb() that also accepts integers beyond 64 bits, which jansson refuses ("too big integer")
 * although they are valid JSON (routers send "seed": 9949578379265081000): such a document is read
 * again with every integer beyond 64 bits taken as a real. Other integers stay integers.
 * Returns new, or NULL with <err> (may be NULL) saying why. */
json_t *cp_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err);

/* A cheap upper bound of the values in the JSON text <buf> (<len> bytes), counted without building
 * anything: one, plus every '[', '{' and ',' outside strings. Stops counting past <stop>. A parser
 * spends tens of bytes per value, so a body is refused by this count before a tree is built. */
size_t cp_json_count_values(const char *buf, size_t len, size_t stop);

/* True when <v> is the string <s>. */
static inline int cp_json_streq(const json_t *v, const char *s)
{
    const char *t = json_string_value(v);
    return t != NULL && strcmp(t, s) == 0;
}

/* The value of the non-empty string <v> (its length in *<len> when not NULL), else NULL. */
static inline const char *cp_json_str(const json_t *v, size_t *len)
{
    if (!json_is_string(v) || json_string_length(v) == 0)
        return NULL;
    if (len != NULL)
        *len = json_string_length(v);
    return json_string_value(v);
}

/* Appends the string <v> (if it is one) to <b> after <sep> when <b> holds text. */
static inline void cp_json_join(cp_buf_t *b, const char *sep, const json_t *v)
{
    if (json_is_string(v))
        cp_buf_join(b, sep, json_string_value(v), json_string_length(v));
}

/* Returns new: the text of <b> as a JSON string. The caller guarantees it is UTF-8 (it was built
 * from jansson strings and ASCII). */
static inline json_t *cp_json_of_buf(const cp_buf_t *b)
{
    return json_stringn_nocheck(cp_buf_str(b), b->len);
}

/* Describes <v> for an error message, never longer than <n>: a string quoted (its first 60 bytes, then
 * "..."), a number, true, false, null, "an array" or "an object". */
void cp_json_describe(const json_t *v, char *buf, size_t n);

#endif
