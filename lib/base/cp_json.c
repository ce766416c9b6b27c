/* lib/base/cp_json.c: see cp_json.h. */
#include "cp_json.h"

#include <stdlib.h>
#include <string.h>

#define JSON_INT_DIGITS 19 /* digits of INT64_MAX */

/* True when the <n> digits at <d> (after a '-' when <neg>) are beyond what a 64-bit integer holds. */
static int json_int_overflows(const char *d, size_t n, int neg)
{
    const char *lim = neg ? "9223372036854775808" : "9223372036854775807";

    while (n > 1 && *d == '0') { /* not valid JSON anyway; the parser will say so */
        d++;
        n--;
    }
    return n > JSON_INT_DIGITS || (n == JSON_INT_DIGITS && strncmp(d, lim, JSON_INT_DIGITS) > 0);
}

/* The end of a number whose integer digits end at <j>: past ".digits" and "e[+-]digits". */
static size_t json_number_end(const char *buf, size_t len, size_t j)
{
    if (j < len && buf[j] == '.')
        for (j++; j < len && buf[j] >= '0' && buf[j] <= '9'; j++)
            ;
    if (j < len && (buf[j] == 'e' || buf[j] == 'E')) {
        j++;
        if (j < len && (buf[j] == '+' || buf[j] == '-'))
            j++;
        while (j < len && buf[j] >= '0' && buf[j] <= '9')
            j++;
    }
    return j;
}

/* Returns new: <buf> with ".0" after every integer literal (outside strings) beyond 64 bits. */
static char *json_widen(const char *buf, size_t len, size_t *out_len)
{
    cp_buf_t b = CP_BUF_INIT;
    size_t i = 0;
    int in_str = 0;

    while (i < len) {
        char c = buf[i];

        if (in_str) {
            cp_buf_addc(&b, c);
            if (c == '\\' && i + 1 < len)
                cp_buf_addc(&b, buf[++i]);
            else if (c == '"')
                in_str = 0;
            i++;
        } else if (c == '"') {
            in_str = 1;
            cp_buf_addc(&b, c);
            i++;
        } else if ((c >= '0' && c <= '9') || c == '-') {
            size_t j = i + (c == '-'), digits;
            int is_int;

            while (j < len && buf[j] >= '0' && buf[j] <= '9')
                j++;
            digits = j - i - (c == '-');
            is_int = j >= len || (buf[j] != '.' && buf[j] != 'e' && buf[j] != 'E');
            j = json_number_end(buf, len, j); /* a fraction and an exponent belong to the number */
            cp_buf_add(&b, buf + i, j - i);
            if (is_int && json_int_overflows(buf + i + (c == '-'), digits, c == '-'))
                CP_BUF_LIT(&b, ".0");
            i = j;
        } else {
            cp_buf_addc(&b, c);
            i++;
        }
    }
    return cp_buf_detach(&b, out_len);
}

size_t cp_json_count_values(const char *buf, size_t len, size_t stop)
{
    size_t n = 1;
    int in_str = 0;

    for (size_t i = 0; i < len && n <= stop; i++) {
        char c = buf[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == ',' || c == '[' || c == '{') {
            n++;
        }
    }
    return n;
}

json_t *cp_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err)
{
    json_error_t e;
    json_t *j = json_loadb(buf, len, flags, &e); /* owned; returned */
    char *wide;
    size_t wlen;

    if (j != NULL || json_error_code(&e) != json_error_numeric_overflow) {
        if (err != NULL)
            *err = e;
        return j;
    }
    wide = json_widen(buf, len, &wlen);
    j = json_loadb(wide, wlen, flags, err);
    free(wide);
    return j;
}

void cp_json_describe(const json_t *v, char *buf, size_t n)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        snprintf(buf, n, "\"%.60s%s\"", s, strlen(s) > 60 ? "..." : "");
        break;
    }
    case JSON_INTEGER:
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(buf, n, "%g", json_real_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        snprintf(buf, n, "%s", json_is_true(v) ? "true" : "false");
        break;
    case JSON_NULL:
        snprintf(buf, n, "null");
        break;
    case JSON_ARRAY:
        snprintf(buf, n, "an array");
        break;
    default:
        snprintf(buf, n, "an object");
        break;
    }
}
