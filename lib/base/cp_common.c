/* lib/base/cp_common.c: allocation wrappers, error records, ids, hashes, clocks. */
#include "cp_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/random.h>

#include <openssl/evp.h>

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
    e->no_retry = 0;
    e->config = 0;
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

static uint64_t id_seed; /* 0: ids from the CSPRNG */

void cp_id_set_seed(uint64_t seed)
{
    id_seed = seed;
}

static uint64_t id_splitmix(void)
{
    uint64_t z = (id_seed += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void cp_rand_id(const char *prefix, char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char rid[CP_REQ_ID_LEN + 1];
    uint64_t z = 0;

    if (id_seed == 0) {
        cp_req_id(rid); /* "req_" + 24 hex from the CSPRNG */
    } else {
        for (int k = 0; k < 24; k++) {
            if (k % 16 == 0)
                z = id_splitmix();
            rid[4 + k] = hex[z & 15];
            z >>= 4;
        }
        rid[CP_REQ_ID_LEN] = '\0';
    }
    snprintf(out, n, "%s%s", prefix, rid + 4);
}

void cp_sha256_hex(const void *s, size_t n, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;

    if (EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        memset(md, 0, sizeof(md)); /* cannot happen with the built-in provider */
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
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

int64_t cp_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void cp_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468, era, doe, yoe, doy, mp;

    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

void cp_time_iso(int64_t ms, int frac, char out[32])
{
    int64_t day = ms / 86400000 - (ms % 86400000 < 0), rest = ms - day * 86400000, y;
    unsigned m, d;
    char tmp[96]; /* room for any int64 year: the compiler cannot know the year is short */
    size_t n;

    cp_civil_from_days(day, &y, &m, &d);
    if (frac && rest % 1000 != 0)
        snprintf(tmp, sizeof(tmp), "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
                 (int)(rest / 3600000), (int)(rest / 60000 % 60), (int)(rest / 1000 % 60),
                 (int)(rest % 1000));
    else
        snprintf(tmp, sizeof(tmp), "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d,
                 (int)(rest / 3600000), (int)(rest / 60000 % 60), (int)(rest / 1000 % 60));
    n = strnlen(tmp, 31);
    memcpy(out, tmp, n);
    out[n] = '\0';
}
