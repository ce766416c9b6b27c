/* tests/fuzz/fuzz_oai_resp.c: libFuzzer target for lib/prov/openai/cp_oai_resp.c.
 *
 * The input is an upstream body. In SSE mode it is fed whole, one byte at a time and in pseudo-random
 * pieces (ids made deterministic with cp_id_set_seed()): all three must give the same bytes and result;
 * what each call appends must be whole "event: X\ndata: {...}\n\n" frames; and the output must follow
 * the Anthropic grammar: message_start first (then, at most, one error event that ends it), blocks
 * started in index order 0,1,2..., one at a time, deltas of the open block's type, non-empty text,
 * tool input fragments that join into a JSON object, then message_delta and message_stop last. The
 * result is CP_OK iff the stream ends with message_stop. When the input is a whole JSON body (first
 * non-blank byte '{' or '['), Message mode (cp_oai_resp_whole) must succeed iff the SSE run did, and
 * on success be one JSON Message, the same bytes as when the body is fed byte by byte.
 *
 * Run: `make fuzz` (all targets), or after it:
 *   build-fuzz/fuzz_oai_resp -max_len=8192 build-fuzz/corpus/fuzz_oai_resp */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cp_buf.h"
#include "cp_common.h"
#include "cp_oai_flavor.h"
#include "cp_oai_resp.h"

#define SEED 0x5eedULL

/* Aborts unless <p>/<n> is a sequence of whole "event: NAME\ndata: DATA\n\n" frames. */
static void frames(const char *p, size_t n)
{
    const char *q = p, *e = p + n;

    while (q < e) {
        const char *nl, *end;

        if ((size_t)(e - q) < 7 || memcmp(q, "event: ", 7) != 0)
            abort();
        nl = memchr(q, '\n', (size_t)(e - q));
        if (nl == NULL || nl == q + 7 || (size_t)(e - nl) < 7 || memcmp(nl + 1, "data: ", 6) != 0)
            abort();
        end = memchr(nl + 7, '\n', (size_t)(e - nl - 7));
        if (end == NULL || end + 1 >= e || end[1] != '\n')
            abort();
        q = end + 2;
    }
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

/* Checks the grammar of the SSE output <p>/<n> (already known to be whole frames); <rc> is the
 * translator's final result. */
static void check(const char *p, size_t n, int rc)
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

        if (err || stop || (size_t)(nl - q - 7) >= sizeof(name))
            abort();
        memcpy(name, q + 7, (size_t)(nl - q - 7));
        name[nl - q - 7] = '\0';
        end = memchr(nl + 7, '\n', (size_t)(e - nl - 7));
        d = json_loadb(nl + 7, (size_t)(end - nl - 7), JSON_ALLOW_NUL, NULL);
        if (!json_is_object(d) || strcmp(str(d, "type"), name) != 0)
            abort();
        q = end + 2;
        if (!started) {
            if (strcmp(name, "message_start") != 0)
                abort();
            started = 1;
        } else if (strcmp(name, "error") == 0) {
            x = json_object_get(d, "error");
            if (str(x, "type")[0] == '\0' || !json_is_string(json_object_get(x, "message")))
                abort();
            err = 1;
        } else if (strcmp(name, "content_block_start") == 0) {
            x = json_object_get(d, "content_block");
            if (open >= 0 || delta || json_integer_value(json_object_get(d, "index")) != nblocks)
                abort();
            snprintf(type, sizeof(type), "%s", str(x, "type"));
            if (strcmp(type, "tool_use") == 0 && (str(x, "id")[0] == '\0' || str(x, "name")[0] == '\0'))
                abort();
            else if (strcmp(type, "tool_use") != 0 && strcmp(type, "text") != 0 &&
                     strcmp(type, "thinking") != 0)
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
                if (strcmp(type, "thinking") != 0 || !json_is_string(json_object_get(x, "signature")))
                    abort();
                sig = 1;
            } else if (strcmp(t, "input_json_delta") == 0) {
                const json_t *v = json_object_get(x, "partial_json");
                if (strcmp(type, "tool_use") != 0 || json_string_length(v) == 0)
                    abort();
                pj = realloc(pj, pjl + json_string_length(v) + 1);
                memcpy(pj + pjl, json_string_value(v), json_string_length(v));
                pjl += json_string_length(v);
            } else {
                abort();
            }
        } else if (strcmp(name, "content_block_stop") == 0) {
            if (open < 0 || json_integer_value(json_object_get(d, "index")) != open)
                abort();
            if (strcmp(type, "tool_use") == 0) {
                json_t *in = pjl > 0 ? json_loadb(pj, pjl, JSON_ALLOW_NUL, NULL) : NULL;
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
                !json_is_integer(json_object_get(json_object_get(d, "usage"), "output_tokens")) ||
                str(json_object_get(d, "delta"), "stop_reason")[0] == '\0')
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
    if (!started || !(stop || err) || (rc == CP_OK) != stop)
        abort();
    free(pj);
    free(txt);
}

/* One call's output: what it appended to <b> since <from> must be whole frames (SSE mode). */
static void appended(const cp_buf_t *b, size_t *from, int sse)
{
    if (sse)
        frames(b->p + *from, b->len - *from);
    *from = b->len;
}

/* Translates <d>/<n> in <mode>: cut into pieces of 1 byte (how 1), of pseudo-random sizes (how 2),
 * or whole (how 0); Message mode with how 3 uses cp_oai_resp_whole(). Returns the result; the output
 * is left in <out>. */
static int translate(const uint8_t *d, size_t n, enum cp_anth_out_mode mode, int how, cp_buf_t *out)
{
    cp_oai_opts_t opts;
    cp_oai_resp_t *s;
    size_t at = 0, from = 0;
    uint32_t h = 2166136261u;
    int rc, sse = mode == CP_ANTH_OUT_SSE, failed = 0;

    for (size_t i = 0; i < n && i < 64; i++)
        h = (h ^ d[i]) * 16777619u;
    memset(&opts, 0, sizeof(opts));
    opts.provider = "fuzz";
    opts.fl = cp_oai_flavor_get(CP_OAI_GENERIC);
    cp_id_set_seed(SEED);
    s = cp_oai_resp_new("claude-x", NULL, &opts, 10, mode);
    if (how == 3) {
        rc = cp_oai_resp_whole(s, (const char *)d, n, out);
    } else {
        if (cp_oai_resp_begin(s, out) != CP_OK)
            abort();
        appended(out, &from, sse);
        while (at < n) {
            size_t k = how == 0 ? n - at : how == 1 ? 1 : 1 + (h = h * 1103515245u + 12345u) % 23;
            if (k > n - at)
                k = n - at;
            rc = cp_oai_resp_feed(s, (const char *)d + at, k, out);
            if (failed && rc != CP_OK)
                abort(); /* after the answer finished, input is ignored */
            if (rc != CP_OK) {
                failed = 1;
                if (!cp_oai_resp_finished(s))
                    abort();
            }
            appended(out, &from, sse);
            at += k;
        }
        rc = cp_oai_resp_end(s, out);
    }
    appended(out, &from, sse);
    if (!cp_oai_resp_finished(s) || cp_oai_resp_end(s, out) != rc || out->len != from)
        abort(); /* finished, and end is idempotent */
    if ((rc == CP_OK) != (cp_oai_resp_error(s) == NULL))
        abort();
    if (rc != CP_OK && cp_oai_resp_error(s)->http_status < 400)
        abort();
    cp_oai_resp_free(s);
    return rc;
}

static int same(const cp_buf_t *a, const cp_buf_t *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    cp_buf_t o[3] = {CP_BUF_INIT, CP_BUF_INIT, CP_BUF_INIT}, m = CP_BUF_INIT, mb = CP_BUF_INIT;
    int rc[3];
    size_t k = 0;

    for (int how = 0; how < 3; how++)
        rc[how] = translate(d, n, CP_ANTH_OUT_SSE, how, &o[how]);
    for (int how = 1; how < 3; how++)
        if (rc[how] != rc[0] || !same(&o[how], &o[0]))
            abort();
    check(o[0].p, o[0].len, rc[0]);

    while (k < n && (d[k] == ' ' || d[k] == '\t' || d[k] == '\n' || d[k] == '\r'))
        k++;
    if (k < n && (d[k] == '{' || d[k] == '[')) { /* a whole body */
        int rm = translate(d, n, CP_ANTH_OUT_MESSAGE, 3, &m);
        if (rm != rc[0] || translate(d, n, CP_ANTH_OUT_MESSAGE, 1, &mb) != rm ||
            (rm == CP_OK && !same(&m, &mb)))
            abort();
        if (rm == CP_OK) {
            json_t *j = json_loadb(m.p, m.len, JSON_ALLOW_NUL, NULL);
            if (!json_is_object(j) || strcmp(str(j, "type"), "message") != 0 ||
                !json_is_array(json_object_get(j, "content")))
                abort();
            json_decref(j);
        }
    }
    for (int how = 0; how < 3; how++)
        cp_buf_free(&o[how]);
    cp_buf_free(&m);
    cp_buf_free(&mb);
    return 0;
}
