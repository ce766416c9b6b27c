/* lib/base/cp_buf.c: see cp_buf.h. Capacity doubles (from 64 bytes), clamped to the cap + 1. */
#include "cp_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN 64

void cp_buf_init(cp_buf_t *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max > 0 ? max : CP_BUF_UNLIMITED;
}

/* Makes room for <n> more bytes plus the NUL. Returns CP_ERR when the cap forbids it. */
static int buf_room(cp_buf_t *b, size_t n)
{
    size_t max = b->max > 0 ? b->max : CP_BUF_UNLIMITED; /* a zeroed buffer is unlimited */
    size_t need, cap;

    if (n > max || b->len > max - n)
        return CP_ERR;
    need = b->len + n + 1;
    if (need <= b->cap)
        return CP_OK;
    cap = b->cap > 0 ? b->cap : BUF_MIN;
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    if (max != CP_BUF_UNLIMITED && cap > max + 1)
        cap = max + 1;
    b->p = cp_xrealloc(b->p, cap);
    b->cap = cap;
    return CP_OK;
}

int cp_buf_add(cp_buf_t *b, const void *s, size_t n)
{
    if (buf_room(b, n) != CP_OK)
        return CP_ERR;
    if (n > 0)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return CP_OK;
}

int cp_buf_addc(cp_buf_t *b, char c)
{
    return cp_buf_add(b, &c, 1);
}

int cp_buf_adds(cp_buf_t *b, const char *s)
{
    return cp_buf_add(b, s, strlen(s));
}

int cp_buf_addf(cp_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    size_t avail = b->p != NULL ? b->cap - b->len : 0;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(avail > 0 ? b->p + b->len : NULL, avail, fmt, ap); /* one pass when it fits */
    va_end(ap);
    if (n < 0)
        return CP_ERR;
    if ((size_t)n < avail) {
        size_t max = b->max > 0 ? b->max : CP_BUF_UNLIMITED;
        if ((size_t)n > max || b->len > max - (size_t)n) {
            b->p[b->len] = '\0'; /* over the cap: as if nothing was added */
            return CP_ERR;
        }
        b->len += (size_t)n;
        return CP_OK;
    }
    if (buf_room(b, (size_t)n) != CP_OK) {
        if (b->p != NULL)
            b->p[b->len] = '\0';
        return CP_ERR;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return CP_OK;
}

int cp_buf_add_int(cp_buf_t *b, long long v)
{
    char t[24];
    size_t i = sizeof(t);
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

    do { /* no printf: this runs for every event of every stream */
        t[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        t[--i] = '-';
    return cp_buf_add(b, t + i, sizeof(t) - i);
}

int cp_buf_add_jstr(cp_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0, run;

    while (i < n) {
        unsigned char c;
        int rc;

        for (run = i; run < n && (unsigned char)s[run] >= 0x20 && s[run] != '"' && s[run] != '\\'; run++)
            ;
        if (cp_buf_add(b, s + i, run - i) != CP_OK)
            return CP_ERR;
        if (run == n)
            break;
        c = (unsigned char)s[run];
        i = run + 1;
        switch (c) {
        case '"':
            rc = CP_BUF_LIT(b, "\\\"");
            break;
        case '\\':
            rc = CP_BUF_LIT(b, "\\\\");
            break;
        case '\n':
            rc = CP_BUF_LIT(b, "\\n");
            break;
        case '\r':
            rc = CP_BUF_LIT(b, "\\r");
            break;
        case '\t':
            rc = CP_BUF_LIT(b, "\\t");
            break;
        case '\b':
            rc = CP_BUF_LIT(b, "\\b");
            break;
        case '\f':
            rc = CP_BUF_LIT(b, "\\f");
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            rc = cp_buf_add(b, u, sizeof(u));
            break;
        }
        }
        if (rc != CP_OK)
            return CP_ERR;
    }
    if (n == 0 && b->p == NULL)
        return cp_buf_add(b, "", 0);
    return CP_OK;
}

int cp_buf_join(cp_buf_t *b, const char *sep, const char *s, size_t n)
{
    if (n == 0)
        return CP_OK;
    if (b->len > 0 && cp_buf_adds(b, sep) != CP_OK)
        return CP_ERR;
    return cp_buf_add(b, s, n);
}

const char *cp_buf_str(const cp_buf_t *b)
{
    return b->p != NULL ? b->p : "";
}

void cp_buf_truncate(cp_buf_t *b, size_t len)
{
    if (len > b->len)
        return;
    b->len = len;
    if (b->p != NULL)
        b->p[len] = '\0';
}

void cp_buf_reset(cp_buf_t *b, size_t keep)
{
    if (b->cap > keep) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
    b->len = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

char *cp_buf_detach(cp_buf_t *b, size_t *len)
{
    /* what is detached usually lives on (an upload body for a whole stream): give back the slack */
    char *p = b->p == NULL                    ? cp_xstrdup("")
              : b->cap > b->len + 1 + BUF_MIN ? cp_xrealloc(b->p, b->len + 1)
                                              : b->p;

    if (len != NULL)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void cp_buf_free(cp_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
