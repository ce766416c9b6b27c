/* tests/fuzz/fuzz_sse.c: libFuzzer target for lib/base/cp_sse.c.
 *
 * The first input byte picks the event size limit (small limits reach the error paths); the rest is
 * the stream. It is parsed three ways: whole, one byte at a time, and in pseudo-random pieces (cut
 * points derived from the input), pulling after every feed; all three must give the same events and
 * the same failure, every event must fit the limit, and a name never holds CR or LF.
 *
 * Run: `make fuzz` (all targets), or after it: build-fuzz/fuzz_sse -max_len=4096 build-fuzz/corpus/fuzz_sse
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_common.h"
#include "cp_sse.h"

typedef struct trace {
    char *p;
    size_t len, cap;
    int err;
} trace_t;

static void tr_add(trace_t *t, const void *s, size_t n)
{
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2 + 64;
        t->p = realloc(t->p, t->cap);
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
}

static void pull(cp_sse_t *p, size_t max, trace_t *t)
{
    cp_sse_event_t e;
    int rc;

    while ((rc = cp_sse_next(p, &e)) == CP_OK) {
        if (e.data_len + e.event_len > max || memchr(e.event, '\n', e.event_len) != NULL ||
            memchr(e.event, '\r', e.event_len) != NULL || (e.data_len == 0 && e.data == NULL))
            abort();
        tr_add(t, &e.event_len, sizeof(e.event_len));
        tr_add(t, e.event, e.event_len);
        tr_add(t, &e.data_len, sizeof(e.data_len));
        tr_add(t, e.data, e.data_len);
    }
    if (rc == CP_ERR)
        t->err = 1;
    else if (rc != CP_AGAIN)
        abort();
}

static void parse(const uint8_t *d, size_t n, size_t max, int how, trace_t *t)
{
    cp_sse_t *p = cp_sse_new(max);
    size_t at = 0;
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n && i < 64; i++)
        h = (h ^ d[i]) * 16777619u;
    while (at < n) {
        size_t k = how == 0 ? n - at : how == 1 ? 1 : 1 + (h = h * 1103515245u + 12345u) % 17;
        if (k > n - at)
            k = n - at;
        if (cp_sse_feed(p, (const char *)d + at, k) != CP_OK)
            t->err = 1;
        pull(p, max, t);
        at += k;
    }
    (void)cp_sse_pending(p);
    cp_sse_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    static const size_t limits[] = {1, 2, 3, 8, 16, 64, 1u << 20};
    trace_t t[3];
    size_t max;

    if (n == 0)
        return 0;
    max = limits[d[0] % (sizeof(limits) / sizeof(limits[0]))];
    memset(t, 0, sizeof(t));
    for (int how = 0; how < 3; how++)
        parse(d + 1, n - 1, max, how, &t[how]);
    for (int how = 1; how < 3; how++)
        if (t[how].len != t[0].len || t[how].err != t[0].err ||
            (t[0].len > 0 && memcmp(t[how].p, t[0].p, t[0].len) != 0))
            abort();
    for (int how = 0; how < 3; how++)
        free(t[how].p);
    return 0;
}
