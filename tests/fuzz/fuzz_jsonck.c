/* tests/fuzz/fuzz_jsonck.c: libFuzzer target for lib/base/cp_jsonck.c.
 *
 * The input is fed to the checker whole, one byte at a time and in pseudo-random pieces (stopping at
 * the first failure): all three must give the same result, started/done state and output. The output
 * fed again to a fresh checker is accepted and comes out unchanged (it is a valid prefix, already
 * clean); with a capped output buffer the result is the same or CP_JSONCK_FULL with a prefix of the
 * output. When the checker reports done, the output parses with jansson as an object (for UTF-8
 * input: the checker does not check UTF-8, by design; valid JSON that jansson refuses is let pass).
 *
 * Run: `make fuzz` (all targets), or after it: build-fuzz/fuzz_jsonck -max_len=4096
 * build-fuzz/corpus/fuzz_jsonck */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cp_buf.h"
#include "cp_json.h"
#include "cp_jsonck.h"

typedef struct run {
    cp_buf_t out;
    int rc, started, done;
} run_t;

/* Feeds <d>/<n> cut in pieces (how 0: whole, 1: bytes, 2: pseudo-random sizes), output capped at
 * <cap> bytes (0: none). */
static void feed(const uint8_t *d, size_t n, int how, size_t cap, run_t *r)
{
    cp_jsonck_t t;
    size_t at = 0;
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n && i < 64; i++)
        h = (h ^ d[i]) * 16777619u;
    memset(&t, 0, sizeof(t));
    memset(r, 0, sizeof(*r));
    cp_buf_init(&r->out, cap);
    while (at < n && r->rc == CP_JSONCK_OK) {
        size_t k = how == 0 ? n - at : how == 1 ? 1 : 1 + (h = h * 1103515245u + 12345u) % 13;
        if (k > n - at)
            k = n - at;
        r->rc = cp_jsonck_feed(&t, (const char *)d + at, k, &r->out);
        at += k;
    }
    r->started = cp_jsonck_started(&t);
    r->done = cp_jsonck_done(&t);
    if (r->done && !r->started)
        abort();
}

static int same_out(const run_t *a, const run_t *b)
{
    return a->out.len == b->out.len && (a->out.len == 0 || memcmp(a->out.p, b->out.p, a->out.len) == 0);
}

/* True when <p>/<n> is UTF-8 as jansson accepts it (no overlongs, surrogates or code points past
 * U+10FFFF). */
static int utf8(const uint8_t *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = p[i], k, cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        k = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
        if (c < 0xC2 || c > 0xF4 || n - i <= k) /* a continuation byte, an overlong lead, past U+10FFFF */
            return 0;
        cp = c & (0x3Fu >> k);
        for (unsigned j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + j] & 0x3Fu);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* True for the valid JSON (RFC 8259) that jansson refuses: "\u0000" in a key, a lone surrogate
 * escape, a number beyond a double or an integer beyond 64 bits. */
static int refused(const json_error_t *e)
{
    switch (json_error_code(e)) {
    case json_error_null_byte_in_key:
    case json_error_numeric_overflow:
        return 1;
    case json_error_invalid_syntax:
        return strncmp(e->text, "invalid Unicode", 15) == 0;
    default:
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    run_t r[3], again, capped;

    for (int how = 0; how < 3; how++)
        feed(d, n, how, 0, &r[how]);
    for (int how = 1; how < 3; how++)
        if (r[how].rc != r[0].rc || r[how].started != r[0].started || r[how].done != r[0].done ||
            !same_out(&r[how], &r[0]))
            abort();
    if (r[0].rc == CP_JSONCK_FULL)
        abort();

    /* the output is a clean valid prefix: accepted as is, unchanged */
    feed((const uint8_t *)r[0].out.p, r[0].out.len, 2, 0, &again);
    if (again.rc != CP_JSONCK_OK || again.done != r[0].done || !same_out(&again, &r[0]))
        abort();
    cp_buf_free(&again.out);

    /* a capped output: the same, or FULL with a prefix */
    feed(d, n, 2, 1 + (n > 0 ? d[n / 2] : 0) % (r[0].out.len + 2), &capped);
    if (capped.rc == CP_JSONCK_FULL) {
        if (capped.out.len > r[0].out.len ||
            (capped.out.len > 0 && memcmp(capped.out.p, r[0].out.p, capped.out.len) != 0))
            abort();
    } else if (capped.rc != r[0].rc || capped.done != r[0].done || !same_out(&capped, &r[0])) {
        abort();
    }
    cp_buf_free(&capped.out);

    if (r[0].done && utf8(d, n)) {
        json_error_t err;
        json_t *j = cp_json_loadb(r[0].out.p, r[0].out.len, JSON_ALLOW_NUL, &err);
        if (j == NULL && !refused(&err))
            abort();
        if (j != NULL && !json_is_object(j))
            abort();
        json_decref(j);
    }
    for (int how = 0; how < 3; how++)
        cp_buf_free(&r[how].out);
    return 0;
}
