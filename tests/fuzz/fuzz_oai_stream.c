/* tests/fuzz/fuzz_oai_stream.c: libFuzzer target for lib/cp_oai_stream.c (not built by CMake).
 *
 * The input is an upstream body. It is translated fed whole and fed one byte at a time (ids made
 * deterministic with the test hook); both outputs must be identical, every emit call must hold one
 * whole event, and the output must follow the Anthropic grammar: message_start first (or a lone
 * error), blocks started in index order 0,1,2..., one at a time, deltas of the open block's type,
 * non-empty text, tool input fragments that join into a JSON object, then message_delta and
 * message_stop last, or one error event and nothing after it.
 *
 * Build and run (clang with libFuzzer, Debian: libclang-rt-14-dev), from the repository root, after
 * building the sanitizer tree (CC=clang cmake -S . -B build-asan -DCCPROXY_SANITIZE=ON; cmake --build
 * build-asan --target ccproxy_core):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilib tests/fuzz/fuzz_oai_stream.c \
 *       lib/cp_oai_stream.c lib/cp_sse.c build-asan/libccproxy_core.a \
 *       $(pkg-config --cflags --libs jansson libcurl openssl libevent_core libevent_extra libevent_openssl) \
 *       -o /tmp/fuzz_oai_stream
 *   mkdir -p /tmp/oai-corpus && cp tests/fixtures/stream/[a-z]*.sse /tmp/oai-corpus/ && rm
 * /tmp/oai-corpus/long-2000.sse /tmp/fuzz_oai_stream -max_total_time=300 -max_len=8192 /tmp/oai-corpus */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cp_oai_stream.h"

void cp_oai_stream_set_id_seed(uint64_t seed);

typedef struct out {
    char *p;
    size_t len, cap;
} out_t;

static int collect(void *ud, const char *p, size_t n)
{
    out_t *o = ud;

    if (n < 9 || memcmp(p, "event: ", 7) != 0 || memcmp(p + n - 2, "\n\n", 2) != 0 ||
        memmem(p, n - 2, "\n\n", 2) != NULL)
        abort(); /* not exactly one whole event */
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2;
        o->p = realloc(o->p, o->cap);
    }
    memcpy(o->p + o->len, p, n);
    o->len += n;
    return CP_OK;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

static void check(const char *p, size_t n)
{
    const char *q = p, *e = p + n;
    int started = 0, open = -1, nblocks = 0, delta = 0, stop = 0, err = 0, sig = 0;
    char type[16] = "";
    char *pj = NULL, *txt = NULL;
    size_t pjl = 0, txl = 0;

    while (q < e) {
        const char *nl = memchr(q, '\n', (size_t)(e - q)), *end;
        char name[32];
        json_t *d, *x;
        const char *t;

        if (err || stop || nl == NULL || nl - q - 7 >= (long)sizeof(name) || memcmp(nl + 1, "data: ", 6) != 0)
            abort();
        memcpy(name, q + 7, (size_t)(nl - q - 7));
        name[nl - q - 7] = '\0';
        end = memchr(nl + 7, '\n', (size_t)(e - nl - 7));
        d = json_loadb(nl + 7, (size_t)(end - nl - 7), JSON_ALLOW_NUL, NULL);
        if (!json_is_object(d) || strcmp(str(d, "type"), name) != 0)
            abort();
        q = end + 2;
        if (strcmp(name, "error") == 0) {
            err = 1;
        } else if (!started) {
            if (strcmp(name, "message_start") != 0)
                abort();
            started = 1;
        } else if (strcmp(name, "content_block_start") == 0) {
            x = json_object_get(d, "content_block");
            if (open >= 0 || delta || json_integer_value(json_object_get(d, "index")) != nblocks)
                abort();
            snprintf(type, sizeof(type), "%s", str(x, "type"));
            if (strcmp(type, "tool_use") == 0 && (str(x, "id")[0] == '\0' || str(x, "name")[0] == '\0'))
                abort();
            open = nblocks++;
            pjl = txl = 0;
            sig = 0;
        } else if (strcmp(name, "content_block_delta") == 0) {
            x = json_object_get(d, "delta");
            t = str(x, "type");
            if (open < 0 || json_integer_value(json_object_get(d, "index")) != open)
                abort();
            if (strcmp(t, "text_delta") == 0 || strcmp(t, "thinking_delta") == 0) {
                const json_t *v = json_object_get(x, t[1] == 'e' ? "text" : "thinking");
                if (strcmp(type, t[1] == 'e' ? "text" : "thinking") != 0 || json_string_length(v) == 0 || sig)
                    abort();
                txt = realloc(txt, txl + json_string_length(v) + 1);
                memcpy(txt + txl, json_string_value(v), json_string_length(v));
                txl += json_string_length(v);
            } else if (strcmp(t, "signature_delta") == 0) {
                if (strcmp(type, "thinking") != 0)
                    abort();
                sig = 1;
            } else if (strcmp(t, "input_json_delta") == 0) {
                const json_t *v = json_object_get(x, "partial_json");
                if (strcmp(type, "tool_use") != 0 || json_string_length(v) == 0)
                    abort();
                pj = realloc(pj, pjl + json_string_length(v) + 1);
                memcpy(pj + pjl, json_string_value(v), json_string_length(v));
                pjl += json_string_length(v);
                pj[pjl] = '\0';
            } else {
                abort();
            }
        } else if (strcmp(name, "content_block_stop") == 0) {
            if (open < 0 || json_integer_value(json_object_get(d, "index")) != open)
                abort();
            if (strcmp(type, "tool_use") == 0) {
                json_t *in = pjl > 0 ? json_loadb(pj, pjl, 0, NULL) : NULL;
                if (!json_is_object(in))
                    abort();
                json_decref(in);
            } else {
                size_t k = 0;
                while (k < txl && (txt[k] == ' ' || txt[k] == '\n' || txt[k] == '\t' || txt[k] == '\r'))
                    k++;
                if ((strcmp(type, "text") == 0 && k == txl) ||
                    (strcmp(type, "thinking") == 0 && (!sig || !txl)))
                    abort();
            }
            open = -1;
        } else if (strcmp(name, "message_delta") == 0) {
            if (open >= 0 || delta ||
                !json_is_integer(json_object_get(json_object_get(d, "usage"), "output_tokens")))
                abort();
            delta = 1;
        } else if (strcmp(name, "message_stop") == 0) {
            if (!delta)
                abort();
            stop = 1;
        } else {
            abort();
        }
        json_decref(d);
    }
    if (!stop && !err)
        abort();
    free(pj);
    free(txt);
}

static void translate(const uint8_t *d, size_t n, int bytewise, out_t *o, int *rc)
{
    cp_oai_opts_t opts;
    cp_oai_stream_t *s;

    memset(&opts, 0, sizeof(opts));
    opts.provider = "fuzz";
    cp_oai_stream_set_id_seed(1);
    s = cp_oai_stream_new("claude-x", NULL, &opts, 10, collect, o);
    cp_oai_stream_begin(s);
    if (bytewise)
        for (size_t i = 0; i < n; i++)
            cp_oai_stream_feed(s, (const char *)d + i, 1);
    else
        cp_oai_stream_feed(s, (const char *)d, n);
    *rc = cp_oai_stream_end(s);
    if (!cp_oai_stream_finished(s))
        abort();
    cp_oai_stream_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    out_t a = {0}, b = {0};
    int ra, rb;

    translate(d, n, 0, &a, &ra);
    translate(d, n, 1, &b, &rb);
    if (ra != rb || a.len != b.len || (a.len > 0 && memcmp(a.p, b.p, a.len) != 0))
        abort();
    check(a.p, a.len);
    free(a.p);
    free(b.p);
    return 0;
}
