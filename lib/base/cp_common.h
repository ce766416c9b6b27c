/* lib/base/cp_common.h: what every module shares: return codes, the error record, allocation wrappers
 * that abort on out-of-memory (as redis and h2o do; docs/architecture.md, "Principles"), request ids
 * and clocks. No I/O. */
#ifndef CP_COMMON_H
#define CP_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define CP_OK       0
#define CP_ERR      -1
#define CP_AGAIN    -2
#define CP_DECLINED -3

#ifndef CP_VERSION
#define CP_VERSION "0.1.0"
#endif
#ifndef CP_GIT_COMMIT
#define CP_GIT_COMMIT "unknown"
#endif

/* Exit codes of the ccproxy command (sysexits.h values where one fits). */
#define CP_EXIT_OK     0
#define CP_EXIT_FAIL   1
#define CP_EXIT_USAGE  2
#define CP_EXIT_CONFIG 78 /* EX_CONFIG */

/* Error details, filled by the function that detected the error and never by its callers.
 * <http_status> and <type> describe what the client should see; <msg> is always NUL-terminated. */
typedef struct cp_err {
    int http_status;  /* e.g. 400, 413, 502; 0 when not an HTTP-facing error */
    const char *type; /* Anthropic error.type: "invalid_request_error", "api_error", ... */
    char msg[512];
    unsigned no_retry : 1; /* retrying cannot help (a 429 for an exhausted quota): x-should-retry: false */
    unsigned config : 1;   /* the configuration is at fault (a file it names): exit CP_EXIT_CONFIG */
} cp_err_t;

/* Fills <e> (which may be NULL) and returns CP_ERR, for `return cp_err_set(...)`. */
int cp_err_set(cp_err_t *e, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void *cp_xmalloc(size_t n);
void *cp_xcalloc(size_t n, size_t m);
void *cp_xrealloc(void *p, size_t n);
char *cp_xstrdup(const char *s);
char *cp_xstrndup(const char *s, size_t n);
/* Returns new: a printf-formatted heap string. */
char *cp_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes a fresh request id "req_" + 24 lowercase hex digits + NUL into <out> (29 bytes). */
#define CP_REQ_ID_LEN 28
void cp_req_id(char out[CP_REQ_ID_LEN + 1]);

/* Writes <prefix> + 24 lowercase hex digits into <out> (<n> bytes): random (getrandom), or a function
 * of the seed given to cp_id_set_seed() (tests: deterministic ids). For "msg_", "toolu_" ids. */
void cp_rand_id(const char *prefix, char *out, size_t n);

/* Test hook: makes cp_rand_id() a function of <seed> from now on (0: random again). */
void cp_id_set_seed(uint64_t seed);

/* Writes the lowercase hex SHA-256 of <n> bytes at <s> into <out> (65 bytes with the NUL). */
void cp_sha256_hex(const void *s, size_t n, char out[65]);

/* Monotonic clock in microseconds, and wall clock in milliseconds since the epoch. */
uint64_t cp_mono_us(void);
uint64_t cp_wall_ms(void);

/* The proleptic Gregorian calendar in UTC, by integer arithmetic (H. Hinnant's days_from_civil and
 * civil_from_days): no time zone, no libc time functions. Days count from 1970-01-01 (negative before). */
int64_t cp_days_from_civil(int64_t y, unsigned m, unsigned d);
void cp_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Writes <ms> since the epoch as "YYYY-MM-DDTHH:MM:SSZ", with ".mmm" before the Z when <frac> is set
 * and <ms> is not a whole second. */
void cp_time_iso(int64_t ms, int frac, char out[32]);

#endif
