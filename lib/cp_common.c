/* lib/cp_common.c: allocation wrappers, error records, request ids, clocks. */
#include "cp_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/random.h>

static void common_oom(size_t n)
{
    /* Logging could allocate; write(2)-level stdio is the safest thing left. */
    fprintf(stderr, "ccproxy: out of memory allocating %zu bytes\n", n);
    abort();
}

void *cp_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        common_oom(n);
    return p;
}

void *cp_xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (p == NULL)
        common_oom(n * m);
    return p;
}

void *cp_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        common_oom(n);
    return q;
}

char *cp_xstrdup(const char *s)
{
    return cp_xstrndup(s, strlen(s));
}

char *cp_xstrndup(const char *s, size_t n)
{
    char *p = cp_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cp_xasprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    p = cp_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

int cp_err_set(cp_err_t *e, int status, const char *type, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL)
        return CP_ERR;
    e->http_status = status;
    e->type = type;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return CP_ERR;
}

void cp_req_id(char out[CP_REQ_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[12];

    /* getrandom(2), not OpenSSL: ids need uniqueness, and the kernel's pool costs no memory at start */
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
        /* The CSPRNG failing is near impossible; ids only need to be unique, not secret. */
        uint64_t t = cp_mono_us() ^ ((uint64_t)rand() << 20);
        memcpy(rnd, &t, sizeof(t));
        memset(rnd + sizeof(t), 0x5a, sizeof(rnd) - sizeof(t));
    }
    memcpy(out, "req_", 4);
    for (size_t i = 0; i < sizeof(rnd); i++) {
        out[4 + 2 * i] = hex[rnd[i] >> 4];
        out[5 + 2 * i] = hex[rnd[i] & 15];
    }
    out[CP_REQ_ID_LEN] = '\0';
}

uint64_t cp_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t cp_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
