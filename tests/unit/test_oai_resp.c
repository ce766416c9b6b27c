/* Unit tests for lib/prov/openai/cp_oai_resp.c: OpenAI Chat Completions answers -> Anthropic answers,
 * streamed (this file) and whole (test_oai_whole.c); the parity between the two is tested here.
 *
 * Three layers:
 *  1. check_stream(): the Anthropic event grammar every output must satisfy (docs/protocol-notes.md,
 *     "Anthropic event stream", "What the SDK and Claude Code accept"), checked like the SDK
 *     accumulators do it; it also rebuilds the final Message so tests can assert on content. It runs on
 *     every output of every test, and test_checker_catches proves it rejects each kind of broken
 *     stream.
 *  2. Recorded upstream streams, tests/fixtures/stream/NAME.sse (written by make-fixtures.py there),
 *     with the exact expected output in NAME.golden. Each is fed whole, split in two at every byte
 *     offset (every 1999th offset for the 2,000-chunk stream), and one byte at a time; every run must
 *     give the golden bytes. Ids are made deterministic with the test hook cp_id_set_seed().
 *     CCPROXY_REGEN_GOLDEN=1 rewrites the goldens from the whole-feed run (review them before commit).
 *  3. Focused tests of single rules with inline streams (JSON written with ' for ", see sse()). */
#include "cp_unit.h"

#include <ctype.h>

#include "cp_json.h"
#include "cp_oai_req.h"
#include "cp_oai_resp.h"

#define SEED 0x5eedULL

/* ---- output collector ------------------------------------------------------------------------ */

typedef struct out {
    char *p;
    size_t len, cap;
    int calls;      /* emit calls */
    int fail_at;    /* emit call number (1-based) that returns CP_ERR; 0: never */
    int bad_frames; /* emit calls that did not hold exactly one whole event */
} out_t;

static int collect(void *ud, const char *p, size_t n)
{
    out_t *o = ud;
    const char *end;

    o->calls++;
    if (o->fail_at != 0 && o->calls >= o->fail_at)
        return CP_ERR;
    /* one whole event per call: "event: ...\n" ... "\n\n" with no blank line inside */
    end = n >= 2 ? p + n - 2 : p;
    if (n < 8 || memcmp(p, "event: ", 7) != 0 || memcmp(end, "\n\n", 2) != 0)
        o->bad_frames++;
    for (const char *q = p; q + 1 < end; q++)
        if (q[0] == '\n' && q[1] == '\n')
            o->bad_frames++;
    if (o->len + n + 1 > o->cap) {
        o->cap = (o->len + n + 1) * 2;
        o->p = realloc(o->p, o->cap);
    }
    memcpy(o->p + o->len, p, n);
    o->len += n;
    o->p[o->len] = '\0';
    return CP_OK;
}

static void out_free(out_t *o)
{
    free(o->p);
    memset(o, 0, sizeof(*o));
}

/* ---- the translator as these tests drive it: one collect() call per event ------------------------ */

typedef struct ts {
    cp_oai_resp_t *r;
    cp_buf_t b; /* what the translator wrote, not handed on yet */
    int (*emit)(void *ud, const char *p, size_t n);
    void *ud;
} ts_t;

/* Hands what the translator wrote to <emit>, one event ("...\n\n") per call. */
static void ts_flush(ts_t *t)
{
    size_t at = 0;

    while (at < t->b.len) {
        const char *e = memmem(t->b.p + at, t->b.len - at, "\n\n", 2);
        size_t end = e != NULL ? (size_t)(e - t->b.p) + 2 : t->b.len;
        t->emit(t->ud, t->b.p + at, end - at);
        at = end;
    }
    cp_buf_reset(&t->b, 0);
}

static ts_t *ts_new(const char *model, const cp_oai_names_t *names, const cp_oai_opts_t *o, int64_t est,
                    int (*emit)(void *, const char *, size_t), void *ud)
{
    ts_t *t = calloc(1, sizeof(*t));

    t->r = cp_oai_resp_new(model, names, o, est, CP_ANTH_OUT_SSE);
    cp_buf_init(&t->b, 0);
    t->emit = emit;
    t->ud = ud;
    return t;
}

static int ts_begin(ts_t *t)
{
    int rc = cp_oai_resp_begin(t->r, &t->b);
    ts_flush(t);
    return rc;
}

static int ts_feed(ts_t *t, const char *p, size_t n)
{
    int rc = cp_oai_resp_feed(t->r, p, n, &t->b);
    ts_flush(t);
    return rc;
}

static int ts_end(ts_t *t)
{
    int rc = cp_oai_resp_end(t->r, &t->b);
    ts_flush(t);
    return rc;
}

static void ts_fail(ts_t *t, const cp_err_t *e)
{
    cp_oai_resp_fail(t->r, e, &t->b);
    ts_flush(t);
}

static int ts_finished(const ts_t *t)
{
    return cp_oai_resp_finished(t->r);
}

static void ts_free(ts_t *t)
{
    if (t == NULL)
        return;
    cp_oai_resp_free(t->r);
    cp_buf_free(&t->b);
    free(t);
}

/* Returns new: the error event for <e>, as the writer formats it. */
static char *ts_error_event(const cp_err_t *e)
{
    cp_anth_out_t w;
    cp_buf_t b = CP_BUF_INIT;

    cp_anth_out_init(&w, CP_ANTH_OUT_SSE);
    cp_anth_out_error(&w, &b, e);
    return cp_buf_detach(&b, NULL);
}

/* ---- the grammar checker ---------------------------------------------------------------------- */

typedef struct chk {
    json_t *msg;   /* owned: the Message rebuilt from the events */
    json_t *err;   /* owned: the error event's data, if the stream ended with one */
    char why[300]; /* first rule broken */
    int events;
} chk_t;

static int bad(chk_t *c, int ev, const char *why)
{
    if (c->why[0] == '\0')
        snprintf(c->why, sizeof(c->why), "event %d: %s", ev, why);
    return -1;
}

static int id_ok(const char *s, const char *prefix, int hex24)
{
    size_t pl = strlen(prefix);

    if (s == NULL || strncmp(s, prefix, pl) != 0)
        return 0;
    if (hex24)
        return strlen(s) == pl + 24 && strspn(s + pl, "0123456789abcdef") == 24;
    return strlen(s) > 0 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(s);
}

static int blank(const json_t *v)
{
    const char *s = json_string_value(v);

    for (size_t i = 0; i < json_string_length(v); i++)
        if (!isspace((unsigned char)s[i]))
            return 0;
    return 1;
}

static const char *sv(const json_t *v)
{
    const char *s = json_string_value(v);

    return s != NULL ? s : "";
}

/* blk[key] += piece (NUL-safe). */
static void cat(json_t *blk, const char *key, const json_t *piece)
{
    const json_t *old = json_object_get(blk, key);
    size_t a = json_string_length(old), b = json_string_length(piece);
    char *t = malloc(a + b + 1);

    memcpy(t, json_string_value(old), a);
    memcpy(t + a, json_string_value(piece), b);
    json_object_set_new(blk, key, json_stringn_nocheck(t, a + b));
    free(t);
}

static int is_count(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* Checks the whole output <p>/<n>. Returns 0 when every rule holds (c->msg then holds the Message,
 * or c->err the error), else -1 with c->why set. */
static int check_stream(const char *p, size_t n, chk_t *c)
{
    const char *q = p, *e = p + n;
    int ev = 0, open = -1, started = 0, delta_seen = 0, stopped = 0, sig_seen = 0;
    char *pj = NULL; /* partial_json of the open tool block */
    size_t pjl = 0;
    int rc = 0;

    memset(c, 0, sizeof(*c));
    while (q < e) {
        const char *nl, *dl, *end;
        char name[64];
        json_t *d, *blk;
        const char *type;

        ev++;
        if (c->err != NULL)
            return bad(c, ev, "event after the error event");
        if (stopped)
            return bad(c, ev, "event after message_stop");
        if ((size_t)(e - q) < 7 || memcmp(q, "event: ", 7) != 0)
            return bad(c, ev, "no event: line");
        nl = memchr(q, '\n', (size_t)(e - q));
        if (nl == NULL || (size_t)(nl - q - 7) >= sizeof(name))
            return bad(c, ev, "bad event: line");
        memcpy(name, q + 7, (size_t)(nl - q - 7));
        name[nl - q - 7] = '\0';
        dl = nl + 1;
        if ((size_t)(e - dl) < 6 || memcmp(dl, "data: ", 6) != 0)
            return bad(c, ev, "no data: line");
        end = memchr(dl, '\n', (size_t)(e - dl));
        if (end == NULL || end + 1 >= e || end[1] != '\n')
            return bad(c, ev, "event not ended by a blank line (or data on several lines)");
        d = json_loadb(dl + 6, (size_t)(end - dl - 6), JSON_ALLOW_NUL, NULL);
        q = end + 2;
        if (!json_is_object(d)) {
            json_decref(d);
            return bad(c, ev, "data is not a JSON object");
        }
        type = json_string_value(json_object_get(d, "type"));
        if (type == NULL || strcmp(type, name) != 0) {
            json_decref(d);
            return bad(c, ev, "data.type differs from the event name");
        }
        if (strcmp(name, "error") == 0) {
            json_t *eo = json_object_get(d, "error");
            if (!json_is_string(json_object_get(eo, "type")) ||
                !json_is_string(json_object_get(eo, "message"))) {
                json_decref(d);
                return bad(c, ev, "error without error.type/message");
            }
            c->err = d;
            continue;
        }
        if (strcmp(name, "ping") == 0) {
            json_decref(d);
            continue;
        }
        if (!started && strcmp(name, "message_start") != 0) {
            json_decref(d);
            return bad(c, ev, "first event is not message_start");
        }
        if (strcmp(name, "message_start") == 0) {
            json_t *m = json_object_get(d, "message"), *u = json_object_get(m, "usage");
            if (started)
                rc = bad(c, ev, "second message_start");
            else if (!id_ok(json_string_value(json_object_get(m, "id")), "msg_", 1) ||
                     strcmp(sv(json_object_get(m, "type")), "message") != 0 ||
                     strcmp(sv(json_object_get(m, "role")), "assistant") != 0 ||
                     !json_is_string(json_object_get(m, "model")) ||
                     !json_is_array(json_object_get(m, "content")) ||
                     json_array_size(json_object_get(m, "content")) != 0 ||
                     !json_is_null(json_object_get(m, "stop_reason")) ||
                     !json_is_null(json_object_get(m, "stop_sequence")) ||
                     !is_count(json_object_get(u, "input_tokens")) ||
                     !is_count(json_object_get(u, "output_tokens")))
                rc = bad(c, ev, "message_start.message incomplete");
            else
                c->msg = json_deep_copy(m);
            started = 1;
        } else if (strcmp(name, "content_block_start") == 0) {
            json_t *cb = json_object_get(d, "content_block");
            const char *bt = json_string_value(json_object_get(cb, "type"));
            if (open >= 0)
                rc = bad(c, ev, "block started while another is open");
            else if (delta_seen)
                rc = bad(c, ev, "block after message_delta");
            else if (!json_is_integer(json_object_get(d, "index")) ||
                     json_integer_value(json_object_get(d, "index")) !=
                         (json_int_t)json_array_size(json_object_get(c->msg, "content")))
                rc = bad(c, ev, "block index not the next position");
            else if (bt == NULL)
                rc = bad(c, ev, "block without type");
            else if (strcmp(bt, "text") == 0 && !(json_is_string(json_object_get(cb, "text")) &&
                                                  json_string_length(json_object_get(cb, "text")) == 0))
                rc = bad(c, ev, "text block must start with text \"\"");
            else if (strcmp(bt, "thinking") == 0 &&
                     !(json_is_string(json_object_get(cb, "thinking")) &&
                       json_string_length(json_object_get(cb, "thinking")) == 0 &&
                       json_is_string(json_object_get(cb, "signature"))))
                rc = bad(c, ev, "thinking block must start with thinking \"\" and signature");
            else if (strcmp(bt, "tool_use") == 0 &&
                     (!id_ok(json_string_value(json_object_get(cb, "id")), "", 0) ||
                      !json_is_string(json_object_get(cb, "name")) ||
                      json_string_length(json_object_get(cb, "name")) == 0 ||
                      !json_is_object(json_object_get(cb, "input")) ||
                      json_object_size(json_object_get(cb, "input")) != 0))
                rc = bad(c, ev, "tool_use block must start with id, name and input {}");
            else if (strcmp(bt, "text") != 0 && strcmp(bt, "thinking") != 0 && strcmp(bt, "tool_use") != 0)
                rc = bad(c, ev, "unexpected block type");
            else {
                json_array_append(json_object_get(c->msg, "content"), cb);
                open = (int)json_integer_value(json_object_get(d, "index"));
                sig_seen = 0;
                free(pj);
                pj = NULL;
                pjl = 0;
            }
        } else if (strcmp(name, "content_block_delta") == 0) {
            json_t *dd = json_object_get(d, "delta");
            const char *dt = json_string_value(json_object_get(dd, "type"));
            const char *bt;
            blk = open >= 0 ? json_array_get(json_object_get(c->msg, "content"), (size_t)open) : NULL;
            bt = json_string_value(json_object_get(blk, "type"));
            if (blk == NULL || json_integer_value(json_object_get(d, "index")) != open)
                rc = bad(c, ev, "delta for a block that is not open");
            else if (dt == NULL)
                rc = bad(c, ev, "delta without type");
            else if (strcmp(dt, "text_delta") == 0) {
                const char *t = json_string_value(json_object_get(dd, "text"));
                if (strcmp(bt, "text") != 0)
                    rc = bad(c, ev, "text_delta on a non-text block");
                else if (t == NULL || json_string_length(json_object_get(dd, "text")) == 0)
                    rc = bad(c, ev, "empty text_delta");
                else
                    cat(blk, "text", json_object_get(dd, "text"));
            } else if (strcmp(dt, "thinking_delta") == 0) {
                const char *t = json_string_value(json_object_get(dd, "thinking"));
                if (strcmp(bt, "thinking") != 0)
                    rc = bad(c, ev, "thinking_delta on a non-thinking block");
                else if (sig_seen)
                    rc = bad(c, ev, "thinking_delta after signature_delta");
                else if (t == NULL || t[0] == '\0')
                    rc = bad(c, ev, "empty thinking_delta");
                else
                    cat(blk, "thinking", json_object_get(dd, "thinking"));
            } else if (strcmp(dt, "signature_delta") == 0) {
                if (strcmp(bt, "thinking") != 0)
                    rc = bad(c, ev, "signature_delta on a non-thinking block");
                else if (!json_is_string(json_object_get(dd, "signature")))
                    rc = bad(c, ev, "signature_delta without signature");
                else {
                    sig_seen = 1;
                    json_object_set(blk, "signature", json_object_get(dd, "signature"));
                }
            } else if (strcmp(dt, "input_json_delta") == 0) {
                const json_t *f = json_object_get(dd, "partial_json");
                if (strcmp(bt, "tool_use") != 0)
                    rc = bad(c, ev, "input_json_delta on a non-tool block");
                else if (!json_is_string(f) || json_string_length(f) == 0)
                    rc = bad(c, ev, "empty input_json_delta");
                else {
                    pj = realloc(pj, pjl + json_string_length(f) + 1);
                    memcpy(pj + pjl, json_string_value(f), json_string_length(f));
                    pjl += json_string_length(f);
                    pj[pjl] = '\0';
                }
            } else {
                rc = bad(c, ev, "unknown delta type");
            }
        } else if (strcmp(name, "content_block_stop") == 0) {
            const char *bt;
            blk = open >= 0 ? json_array_get(json_object_get(c->msg, "content"), (size_t)open) : NULL;
            bt = json_string_value(json_object_get(blk, "type"));
            if (blk == NULL || json_integer_value(json_object_get(d, "index")) != open)
                rc = bad(c, ev, "stop for a block that is not open");
            else if (strcmp(bt, "text") == 0 && blank(json_object_get(blk, "text")))
                rc = bad(c, ev, "text block empty or only whitespace");
            else if (strcmp(bt, "thinking") == 0 &&
                     (!sig_seen || json_string_length(json_object_get(blk, "thinking")) == 0))
                rc = bad(c, ev, "thinking block without thinking or without signature_delta");
            else if (strcmp(bt, "tool_use") == 0) {
                json_t *in = pj != NULL ? json_loads(pj, 0, NULL) : NULL;
                if (!json_is_object(in)) {
                    json_decref(in);
                    rc = bad(c, ev, "tool input_json_delta pieces do not form a JSON object");
                } else {
                    json_object_set_new(blk, "input", in);
                }
            }
            open = -1;
        } else if (strcmp(name, "message_delta") == 0) {
            json_t *dd = json_object_get(d, "delta"), *u = json_object_get(d, "usage");
            const char *sr = json_string_value(json_object_get(dd, "stop_reason"));
            static const char *const ok[] = {"end_turn", "max_tokens", "stop_sequence",
                                             "tool_use", "refusal",    "pause_turn"};
            int known = 0;
            for (size_t i = 0; sr != NULL && i < sizeof(ok) / sizeof(ok[0]); i++)
                known |= strcmp(sr, ok[i]) == 0;
            if (open >= 0)
                rc = bad(c, ev, "message_delta while a block is open");
            else if (delta_seen)
                rc = bad(c, ev, "second message_delta");
            else if (!known || json_object_get(dd, "stop_sequence") == NULL)
                rc = bad(c, ev, "message_delta.delta needs stop_reason and stop_sequence");
            else if (!is_count(json_object_get(u, "output_tokens")) ||
                     !is_count(json_object_get(u, "input_tokens")) ||
                     !is_count(json_object_get(u, "cache_read_input_tokens")) ||
                     !is_count(json_object_get(u, "cache_creation_input_tokens")))
                rc = bad(c, ev, "message_delta.usage incomplete");
            else {
                json_object_set(c->msg, "stop_reason", json_object_get(dd, "stop_reason"));
                json_object_set(c->msg, "stop_sequence", json_object_get(dd, "stop_sequence"));
                json_object_update(json_object_get(c->msg, "usage"), u);
            }
            delta_seen = 1;
        } else if (strcmp(name, "message_stop") == 0) {
            if (!delta_seen)
                rc = bad(c, ev, "message_stop without message_delta");
            stopped = 1;
        } else {
            rc = bad(c, ev, "unknown event");
        }
        json_decref(d);
        if (rc != 0)
            break;
    }
    free(pj);
    c->events = ev;
    if (rc == 0 && !stopped && c->err == NULL)
        rc = bad(c, ev, "stream ends without message_stop or error");
    return rc;
}

static void chk_free(chk_t *c)
{
    json_decref(c->msg);
    json_decref(c->err);
    c->msg = c->err = NULL;
}

/* Fails the test unless <o> satisfies the grammar. */
static void must_check(const out_t *o, chk_t *c)
{
    if (o->bad_frames != 0)
        fail_msg("%d emit calls were not exactly one whole event:\n%s", o->bad_frames, o->p ? o->p : "");
    if (check_stream(o->p != NULL ? o->p : "", o->len, c) != 0)
        fail_msg("grammar: %s\n--- output ---\n%s", c->why, o->p != NULL ? o->p : "");
}

/* ---- running streams -------------------------------------------------------------------------- */

static cp_oai_opts_t opts(const char *prov, enum cp_oai_flavor_id f)
{
    cp_oai_opts_t o;

    memset(&o, 0, sizeof(o));
    o.provider = prov;
    o.fl = cp_oai_flavor_get(f);
    return o;
}

/* Feeds <in> cut at <cuts> (ascending offsets), then ends. Returns the end's result. */
static int run_cuts(const cp_oai_opts_t *o, const cp_oai_names_t *names, const char *model, int64_t est,
                    const char *in, size_t n, const size_t *cuts, size_t ncuts, out_t *out)
{
    ts_t *s;
    size_t at = 0;
    int rc, erred = 0;

    cp_id_set_seed(SEED);
    s = ts_new(model, names, o, est, collect, out);
    assert_int_equal(ts_begin(s), CP_OK);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        rc = ts_feed(s, in + at, to - at);
        if (erred)
            assert_int_equal(rc, CP_OK); /* after the stream finished, input is ignored */
        if (rc != CP_OK) {
            erred = 1;
            assert_true(ts_finished(s));
        }
        at = to;
    }
    rc = ts_end(s);
    assert_true(ts_finished(s));
    assert_int_equal(ts_end(s), rc); /* idempotent */
    ts_free(s);
    return rc;
}

static int run_whole(const cp_oai_opts_t *o, const char *model, const char *in, size_t n, out_t *out)
{
    return run_cuts(o, NULL, model, 1000, in, n, NULL, 0, out);
}

/* Returns new: "data: <chunk>\n\n" for each chunk of the NULL-terminated list, with ' turned into "
 * unless <keep_quotes>. */
static char *sse_q(const char *const *chunks, int keep_quotes)
{
    size_t len = 0;
    char *b;

    for (size_t i = 0; chunks[i] != NULL; i++)
        len += strlen(chunks[i]) + 8;
    b = calloc(1, len + 1);
    for (size_t i = 0; chunks[i] != NULL; i++) {
        if (chunks[i][0] == ':' || strncmp(chunks[i], "event:", 6) == 0) /* raw line(s) */
            strcat(b, chunks[i]);
        else {
            strcat(b, "data: ");
            strcat(b, chunks[i]);
        }
        strcat(b, "\n\n");
    }
    for (char *p = b; *p != '\0' && !keep_quotes; p++)
        if (*p == '\'')
            *p = '"';
    return b;
}

static char *sse(const char *const *chunks)
{
    return sse_q(chunks, 0);
}

/* Runs the chunks whole and split byte by byte (same bytes expected), checks the grammar, and returns
 * the end's result; c gets the rebuilt Message or error (caller frees with chk_free). */
static int run_chunks_q(const char *const *chunks, int keep_quotes, chk_t *c, out_t *keep)
{
    cp_oai_opts_t o = opts("prov", CP_OAI_GENERIC);
    char *in = sse_q(chunks, keep_quotes);
    size_t n = strlen(in);
    size_t *cuts = malloc((n + 1) * sizeof(size_t));
    out_t a = {0}, b = {0};
    int rc, rc2;

    for (size_t i = 0; i < n; i++)
        cuts[i] = i + 1;
    rc = run_whole(&o, "claude-sonnet-4-5", in, n, &a);
    rc2 = run_cuts(&o, NULL, "claude-sonnet-4-5", 1000, in, n, cuts, n > 0 ? n - 1 : 0, &b);
    assert_int_equal(rc, rc2);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, a.len);
    must_check(&a, c);
    if (keep != NULL)
        *keep = a;
    else
        out_free(&a);
    out_free(&b);
    free(cuts);
    free(in);
    return rc;
}

static int run_chunks(const char *const *chunks, chk_t *c, out_t *keep)
{
    return run_chunks_q(chunks, 0, c, keep);
}

static const char *err_type(const chk_t *c)
{
    return json_string_value(json_object_get(json_object_get(c->err, "error"), "type"));
}

static const char *err_msg(const chk_t *c)
{
    return json_string_value(json_object_get(json_object_get(c->err, "error"), "message"));
}

static json_t *block(const chk_t *c, size_t i)
{
    return json_array_get(json_object_get(c->msg, "content"), i);
}

static size_t nblocks(const chk_t *c)
{
    return json_array_size(json_object_get(c->msg, "content"));
}

static const char *bstr(const chk_t *c, size_t i, const char *key)
{
    return json_string_value(json_object_get(block(c, i), key));
}

static const char *stop_reason(const chk_t *c)
{
    return json_string_value(json_object_get(c->msg, "stop_reason"));
}

static long long usage(const chk_t *c, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(c->msg, "usage"), key));
}

/* ---- fixtures --------------------------------------------------------------------------------- */

static const char *fixdir(void)
{
    return unit_fixdir("stream", "CCPROXY_STREAM_FIXTURES");
}

static char *slurp(const char *name, size_t *len)
{
    return unit_slurp(fixdir(), name, len);
}

#define LONG_TOOL "mcp__claude_in_chrome__browser_navigate_to_url_and_wait_for_network_idle"
#define LONG_SENT "mcp__claude_in_chrome__browser_navigate_to_url_and_wait_32f71246"

static const struct fx {
    const char *name;
    const char *prov;
    enum cp_oai_flavor_id flavor;
    const char *model;
    int64_t est;
    int long_names; /* build the names map from a request with LONG_TOOL */
    int want;       /* ts_end() result */
} fxs[] = {
    {"openai-text", "openai", CP_OAI_OPENAI, "claude-sonnet-4-5", 2300, 0, CP_OK},
    {"openai-tools", "openai", CP_OAI_OPENAI, "claude-sonnet-4-5", 5000, 0, CP_OK},
    {"openai-text-after-tool", "openai", CP_OAI_OPENAI, "claude-opus-4-1", 880, 0, CP_OK},
    {"combined-chunk", "vllm", CP_OAI_GENERIC, "claude-sonnet-4-5", 290, 0, CP_OK},
    {"gemini-whole-calls", "gemini", CP_OAI_GEMINI, "claude-sonnet-4-5", 3900, 0, CP_OK},
    {"gemini-calls-spread", "gemini", CP_OAI_GEMINI, "claude-haiku-4-5", 1150, 0, CP_OK},
    {"deepseek-reasoning", "deepseek", CP_OAI_GENERIC, "claude-opus-4-1", 600, 0, CP_OK},
    {"deepseek-overloaded", "deepseek", CP_OAI_GENERIC, "claude-opus-4-1", 600, 0, CP_ERR},
    {"openrouter-reasoning", "openrouter", CP_OAI_OPENROUTER, "claude-sonnet-4-5", 2900, 0, CP_OK},
    {"openrouter-error-midstream", "openrouter", CP_OAI_OPENROUTER, "claude-sonnet-4-5", 100, 0, CP_ERR},
    {"finish-error", "openrouter", CP_OAI_OPENROUTER, "claude-sonnet-4-5", 100, 0, CP_ERR},
    {"ollama-reasoning-tools", "ollama", CP_OAI_GENERIC, "claude-haiku-4-5", 170, 0, CP_OK},
    {"truncated", "local", CP_OAI_GENERIC, "claude-sonnet-4-5", 50, 0, CP_ERR},
    {"utf8-crlf", "local", CP_OAI_GENERIC, "claude-sonnet-4-5", 70, 0, CP_OK},
    {"interleaved-tools", "local", CP_OAI_GENERIC, "claude-sonnet-4-5", 45, 0, CP_OK},
    {"args-object-empty", "local", CP_OAI_GENERIC, "claude-sonnet-4-5", 45, 0, CP_OK},
    {"args-invalid", "local", CP_OAI_GENERIC, "claude-sonnet-4-5", 45, 0, CP_ERR},
    {"long-tool-name", "local", CP_OAI_GENERIC, "claude-sonnet-4-5", 45, 1, CP_OK},
    {"done-no-finish", "local", CP_OAI_GENERIC, "claude-sonnet-4-5", 45, 0, CP_OK},
    {"plain-json", "local", CP_OAI_GENERIC, "claude-sonnet-4-5", 25, 0, CP_OK},
    {"long-2000", "openai", CP_OAI_OPENAI, "claude-sonnet-4-5", 100, 0, CP_OK},
    {"think-tags-bigint", "together", CP_OAI_GENERIC, "claude-sonnet-4-5", 30, 0, CP_OK},
    {"minimax-think-twice", "openrouter", CP_OAI_OPENROUTER, "claude-sonnet-4-5", 30, 0, CP_OK},
    {"magistral-thinking", "mistral", CP_OAI_GENERIC, "claude-sonnet-4-5", 30, 0, CP_OK},
    {"error-typed-midstream", "hf", CP_OAI_GENERIC, "claude-sonnet-4-5", 30, 0, CP_ERR},
    {"openrouter-reasoning-both", "openrouter", CP_OAI_OPENROUTER, "claude-sonnet-4-5", 30, 0, CP_OK},
};

static size_t fx_runs; /* fixture x split cases run */

/* The names map a request with LONG_TOOL produces; checks the fixture's shortened name matches it. */
static cp_oai_names_t *long_names(const cp_oai_opts_t *o)
{
    json_t *req = json_pack("{s:s,s:i,s:b,s:[{s:s,s:s}],s:[{s:s,s:{s:s}}]}", "model", "claude-sonnet-4-5",
                            "max_tokens", 100, "stream", 1, "messages", "role", "user", "content", "hi",
                            "tools", "name", LONG_TOOL, "input_schema", "type", "object");
    cp_oai_names_t *names = NULL;
    cp_err_t e;
    json_t *body = cp_oai_request(req, "qwen3-coder", o, &names, &e);
    const char *sent;

    assert_non_null(body);
    sent = json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(body, "tools"), 0), "function"), "name"));
    assert_string_equal(sent, LONG_SENT);
    assert_string_equal(cp_oai_names_original(names, LONG_SENT), LONG_TOOL);
    json_decref(body);
    json_decref(req);
    return names;
}

static void same_as_golden(const char *fx, const char *what, const out_t *got, const char *want, size_t wlen)
{
    if (got->len == wlen && memcmp(got->p, want, wlen) == 0)
        return;
    for (size_t i = 0; i < wlen && i < got->len; i++)
        if (got->p[i] != want[i]) {
            fail_msg("%s (%s): differs from the golden at byte %zu:\n got: %.120s\nwant: %.120s", fx, what, i,
                     got->p + i, want + i);
        }
    fail_msg("%s (%s): length %zu, golden %zu", fx, what, got->len, wlen);
}

static void test_fixtures(void **st)
{
    int regen = getenv("CCPROXY_REGEN_GOLDEN") != NULL;

    (void)st;
    for (size_t i = 0; i < sizeof(fxs) / sizeof(fxs[0]); i++) {
        const struct fx *f = &fxs[i];
        cp_oai_opts_t o = opts(f->prov, f->flavor);
        cp_oai_names_t *names = f->long_names ? long_names(&o) : NULL;
        char fname[256];
        size_t n = 0, glen = 0, step;
        char *in, *golden;
        out_t whole = {0};
        chk_t c;
        size_t *cuts;

        snprintf(fname, sizeof(fname), "%s.sse", f->name);
        in = slurp(fname, &n);
        if (in == NULL)
            fail_msg("missing fixture %s/%s", fixdir(), fname);
        assert_int_equal(run_cuts(&o, names, f->model, f->est, in, n, NULL, 0, &whole), f->want);
        must_check(&whole, &c);
        assert_true(f->want == CP_OK ? c.err == NULL : c.err != NULL);
        chk_free(&c);
        snprintf(fname, sizeof(fname), "%s.golden", f->name);
        if (regen) {
            char path[1400];
            FILE *w;
            snprintf(path, sizeof(path), "%s/%s", fixdir(), fname);
            w = fopen(path, "wb");
            assert_non_null(w);
            fwrite(whole.p, 1, whole.len, w);
            fclose(w);
        }
        golden = slurp(fname, &glen);
        if (golden == NULL)
            fail_msg("missing golden %s/%s (CCPROXY_REGEN_GOLDEN=1 writes it)", fixdir(), fname);
        same_as_golden(f->name, "whole", &whole, golden, glen);
        fx_runs++;

        /* every two-way split (a stride for the big one), then byte by byte */
        step = n > 65536 ? 1999 : 1;
        for (size_t cut = 0; cut <= n; cut += step) {
            out_t o2 = {0};
            assert_int_equal(run_cuts(&o, names, f->model, f->est, in, n, &cut, 1, &o2), f->want);
            same_as_golden(f->name, "two pieces", &o2, golden, glen);
            out_free(&o2);
            fx_runs++;
        }
        cuts = malloc(n * sizeof(size_t));
        for (size_t k = 0; k + 1 < n; k++)
            cuts[k] = k + 1;
        {
            out_t o3 = {0};
            assert_int_equal(run_cuts(&o, names, f->model, f->est, in, n, cuts, n > 0 ? n - 1 : 0, &o3),
                             f->want);
            same_as_golden(f->name, "byte by byte", &o3, golden, glen);
            out_free(&o3);
            fx_runs++;
        }
        free(cuts);
        free(golden);
        free(in);
        out_free(&whole);
        cp_oai_names_free(names);
    }
    cp_id_set_seed(0);
    printf("[ fixtures ] %zu fixtures, %zu fixture x split runs\n", sizeof(fxs) / sizeof(fxs[0]), fx_runs);
}

/* What the goldens must say, independently of their bytes (so a regenerated golden cannot hide a
 * regression): content, stop reasons, usage, errors. */
static void test_fixture_semantics(void **st)
{
    static const struct {
        const char *name;
        const char *stop; /* NULL: an error of type <etype> */
        const char *etype;
        const char *shape; /* block types in order: k = thinking, x = text, t = tool_use */
        long long in, out, read, write;
    } want[] = {
        {"openai-text", "end_turn", NULL, "x", 262, 11, 2048, 0},
        {"openai-tools", "tool_use", NULL, "xtt", 1024, 58, 4096, 0},
        {"openai-text-after-tool", "tool_use", NULL, "tx", 900, 40, 0, 0},
        {"combined-chunk", "tool_use", NULL, "kxt", 300, 25, 0, 0},
        {"gemini-whole-calls", "tool_use", NULL, "xtt", 4000, 52, 0, 0},
        {"gemini-calls-spread", "tool_use", NULL, "tt", 1200, 31, 0, 0},
        {"deepseek-reasoning", "end_turn", NULL, "kx", 128, 35, 512, 0},
        {"deepseek-overloaded", NULL, "overloaded_error", "", 0, 0, 0, 0},
        {"openrouter-reasoning", "end_turn", NULL, "kx", 1500, 44, 1000, 500},
        {"openrouter-error-midstream", NULL, "overloaded_error", "", 0, 0, 0, 0},
        {"finish-error", NULL, "rate_limit_error", "", 0, 0, 0, 0},
        {"ollama-reasoning-tools", "tool_use", NULL, "kt", 180, 64, 0, 0},
        {"truncated", NULL, "api_error", "", 0, 0, 0, 0},
        {"utf8-crlf", "tool_use", NULL, "xt", 77, 20, 0, 0},
        {"interleaved-tools", "tool_use", NULL, "tt", 50, 30, 0, 0},
        {"args-object-empty", "tool_use", NULL, "tt", 45, 0, 0, 0},
        {"args-invalid", NULL, "api_error", "", 0, 0, 0, 0},
        {"long-tool-name", "tool_use", NULL, "t", 45, 0, 0, 0},
        {"done-no-finish", "end_turn", NULL, "x", 45, 0, 0, 0},
        {"plain-json", "tool_use", NULL, "xt", 20, 9, 0, 0},
        {"long-2000", "end_turn", NULL, "x", 100, 4000, 0, 0},
        /* prompt_tokens 2^64 and cached 2.5 clamped to 2^53 and 2; completion -3 to 0 */
        {"think-tags-bigint", "end_turn", NULL, "kx", 9007199254740990LL, 0, 2, 0},
        {"minimax-think-twice", "end_turn", NULL, "kx", 40, 30, 0, 0},
        {"magistral-thinking", "end_turn", NULL, "kx", 10, 30, 0, 0},
        {"error-typed-midstream", NULL, "invalid_request_error", "", 0, 0, 0, 0},
        {"openrouter-reasoning-both", "end_turn", NULL, "kx", 50, 12, 0, 0},
    };

    (void)st;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char fname[256];
        size_t n;
        char *g;
        chk_t c;

        snprintf(fname, sizeof(fname), "%s.golden", want[i].name);
        g = slurp(fname, &n);
        assert_non_null(g);
        if (check_stream(g, n, &c) != 0)
            fail_msg("%s: %s", want[i].name, c.why);
        if (want[i].stop == NULL) {
            if (c.err == NULL || strcmp(err_type(&c), want[i].etype) != 0)
                fail_msg("%s: want error %s, got %s", want[i].name, want[i].etype,
                         c.err ? err_type(&c) : "none");
        } else {
            char shape[16] = "";
            for (size_t b = 0; b < nblocks(&c) && b + 1 < sizeof(shape); b++) {
                const char *t = bstr(&c, b, "type");
                shape[b] = strcmp(t, "thinking") == 0 ? 'k' : strcmp(t, "text") == 0 ? 'x' : 't';
                shape[b + 1] = '\0';
            }
            assert_null(c.err);
            if (strcmp(shape, want[i].shape) != 0 || strcmp(stop_reason(&c), want[i].stop) != 0)
                fail_msg("%s: blocks %s stop %s, want %s %s", want[i].name, shape, stop_reason(&c),
                         want[i].shape, want[i].stop);
            if (usage(&c, "input_tokens") != want[i].in || usage(&c, "output_tokens") != want[i].out ||
                usage(&c, "cache_read_input_tokens") != want[i].read ||
                usage(&c, "cache_creation_input_tokens") != want[i].write)
                fail_msg("%s: usage %lld/%lld/%lld/%lld", want[i].name, usage(&c, "input_tokens"),
                         usage(&c, "output_tokens"), usage(&c, "cache_read_input_tokens"),
                         usage(&c, "cache_creation_input_tokens"));
        }
        chk_free(&c);
        free(g);
    }
}

/* Specific content of some goldens. */
static void test_fixture_content(void **st)
{
    size_t n;
    char *g;
    chk_t c;
    char *big;

    (void)st;
    g = slurp("openai-tools.golden", &n);
    assert_int_equal(check_stream(g, n, &c), 0);
    assert_string_equal(bstr(&c, 0, "text"), "Let me look at both files.");
    assert_string_equal(bstr(&c, 1, "id"), "call_Hk2ZQpL0aW9mEvd7");
    assert_string_equal(bstr(&c, 1, "name"), "Read");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(block(&c, 1), "input"), "file_path")), "/src/a.c");
    assert_string_equal(bstr(&c, 2, "name"), "Grep");
    assert_string_equal(json_string_value(json_object_get(json_object_get(block(&c, 2), "input"), "pattern")),
                        "TODO\\(\"x\xc3\xa9");
    chk_free(&c);
    free(g);

    g = slurp("gemini-whole-calls.golden", &n);
    assert_int_equal(check_stream(g, n, &c), 0);
    assert_true(id_ok(bstr(&c, 1, "id"), "toolu_", 1)); /* Gemini's "" ids are replaced */
    assert_true(id_ok(bstr(&c, 2, "id"), "toolu_", 1));
    assert_string_not_equal(bstr(&c, 1, "id"), bstr(&c, 2, "id"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(block(&c, 2), "input"), "file_path")),
        "/etc/hostname");
    chk_free(&c);
    free(g);

    g = slurp("openrouter-reasoning.golden", &n);
    assert_int_equal(check_stream(g, n, &c), 0);
    assert_string_equal(bstr(&c, 0, "thinking"), "Plan: read then answer."); /* not doubled */
    assert_string_equal(bstr(&c, 0, "signature"), "ErUBCkYIBRgCIkB0c2ln");
    assert_string_equal(bstr(&c, 1, "text"), "Hello there.");
    chk_free(&c);
    free(g);

    g = slurp("deepseek-reasoning.golden", &n);
    assert_int_equal(check_stream(g, n, &c), 0);
    assert_string_equal(bstr(&c, 0, "thinking"), "The user asks for 2+2. Answer: 4.");
    assert_string_equal(bstr(&c, 1, "text"), "\n\n2 + 2 = 4"); /* held whitespace kept in front */
    chk_free(&c);
    free(g);

    g = slurp("utf8-crlf.golden", &n);
    assert_int_equal(check_stream(g, n, &c), 0);
    assert_string_equal(bstr(&c, 0, "text"), "Grüße, 世界 🎉! Ελληνικά → ok");
    assert_string_equal(bstr(&c, 1, "id"), "call___1"); /* each byte of a non-ASCII character -> _ */
    assert_string_equal(json_string_value(json_object_get(json_object_get(block(&c, 1), "input"), "content")),
                        "日本語🙂");
    chk_free(&c);
    free(g);

    g = slurp("interleaved-tools.golden", &n);
    assert_int_equal(check_stream(g, n, &c), 0);
    assert_string_equal(bstr(&c, 0, "name"), "Read");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(block(&c, 0), "input"), "file_path")), "/a.txt");
    assert_string_equal(bstr(&c, 1, "name"), "Glob");
    assert_string_equal(json_string_value(json_object_get(json_object_get(block(&c, 1), "input"), "pattern")),
                        "*.c");
    chk_free(&c);
    free(g);

    g = slurp("args-object-empty.golden", &n);
    assert_int_equal(check_stream(g, n, &c), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(block(&c, 0), "input"), "new_string")), "b");
    assert_int_equal(json_object_size(json_object_get(block(&c, 1), "input")), 0);
    chk_free(&c);
    free(g);

    g = slurp("args-invalid.golden", &n);
    assert_int_equal(check_stream(g, n, &c), 0);
    assert_non_null(strstr(err_msg(&c), "\"Edit\""));
    assert_non_null(strstr(err_msg(&c), "local"));
    chk_free(&c);
    free(g);

    g = slurp("long-tool-name.golden", &n);
    assert_int_equal(check_stream(g, n, &c), 0);
    assert_string_equal(bstr(&c, 0, "name"), LONG_TOOL);
    chk_free(&c);
    free(g);

    g = slurp("finish-error.golden", &n);
    assert_int_equal(check_stream(g, n, &c), 0);
    assert_non_null(strstr(err_msg(&c), "openrouter"));
    assert_non_null(strstr(err_msg(&c), "high demand"));
    assert_null(strstr(g, "0123456789abcdef0123456789abcdef")); /* the key-like string is scrubbed */
    chk_free(&c);
    free(g);

    g = slurp("truncated.golden", &n);
    assert_int_equal(check_stream(g, n, &c), 0);
    assert_string_equal(err_msg(&c), "provider local stream ended before the answer finished");
    chk_free(&c);
    free(g);

    g = slurp("long-2000.golden", &n);
    assert_int_equal(check_stream(g, n, &c), 0);
    big = strdup(bstr(&c, 0, "text"));
    assert_true(strncmp(big, "lorem0 ipsum1 dolor2", 20) == 0);
    assert_non_null(strstr(big, " do1999"));
    assert_int_equal(strlen(strstr(big, " do1999")), 7);
    free(big);
    chk_free(&c);
    free(g);
}

/* ---- the checker itself ----------------------------------------------------------------------- */

#define MS                                                                                                   \
    "event: message_start\ndata: "                                                                           \
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_0123456789abcdef01234567\","                      \
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,"       \
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n"
#define END                                                                                                  \
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","       \
    "\"stop_sequence\":null},\"usage\":{\"input_tokens\":1,\"output_tokens\":2,\"cache_read_input_tokens\":" \
    "0,"                                                                                                     \
    "\"cache_creation_input_tokens\":0}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
#define EV(name, json) "event: " name "\ndata: " json "\n\n"
#define TS(i)                                                                                                \
    EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":" #i                              \
                              ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
#define TD(i, t)                                                                                             \
    EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":" #i                              \
                              ",\"delta\":{\"type\":\"text_delta\",\"text\":\"" t "\"}}")
#define UST(i)                                                                                               \
    EV("content_block_start",                                                                                \
       "{\"type\":\"content_block_start\",\"index\":" #i                                                     \
       ",\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"R\",\"input\":{}}}")
#define JD(i, j)                                                                                             \
    EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":" #i                              \
                              ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"" j "\"}}")
#define STP(i) EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":" #i "}")
#define ERR    EV("error", "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}")

static void test_checker_catches(void **st)
{
    static const char *const good[] = {
        MS TS(0) TD(0, "hi") STP(0) END,
        MS TS(0) TD(0, "hi") STP(0) UST(1) JD(1, "{\\\"a\\\":") JD(1, "1}") STP(1) END,
        MS TS(0) TD(0, "hi") ERR,
        ERR,
    };
    static const char *const broken[] = {
        TS(0) TD(0, "hi") STP(0) END,                                /* no message_start */
        MS TD(0, "hi") STP(0) END,                                   /* delta before its start */
        MS TS(1) TD(1, "hi") STP(1) END,                             /* index gap */
        MS TS(0) TD(0, "hi") TS(1) TD(1, "x") STP(1) STP(0) END,     /* overlapping blocks */
        MS UST(0) TD(0, "hi") STP(0) END,                            /* text_delta on tool_use */
        MS TS(0) JD(0, "{}") STP(0) END,                             /* input_json on text */
        MS UST(0) JD(0, "{\\\"a\\\":") STP(0) END,                   /* tool JSON incomplete */
        MS UST(0) JD(0, "[1]") STP(0) END,                           /* tool JSON not an object */
        MS TS(0) TD(0, " ") STP(0) END,                              /* blank text block */
        MS TS(0) STP(0) END,                                         /* empty text block */
        MS TS(0) TD(0, "hi") STP(0),                                 /* no message_delta/stop */
        MS TS(0) TD(0, "hi") ERR END,                                /* events after error */
        MS TS(0) TD(0, "hi") STP(0) END END,                         /* events after message_stop */
        MS TS(0) TD(0, "hi") END,                                    /* message_delta, block open */
        MS MS TS(0) TD(0, "hi") STP(0) END,                          /* two message_start */
        "data: {\"type\":\"message_start\"}\n\n",                    /* no event: line */
        MS "event: ping\ndata: {\"type\":\"message_stop\"}\n\n" END, /* type != event name */
    };
    chk_t c;

    (void)st;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (check_stream(good[i], strlen(good[i]), &c) != 0)
            fail_msg("good stream %zu rejected: %s", i, c.why);
        chk_free(&c);
    }
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        if (check_stream(broken[i], strlen(broken[i]), &c) == 0)
            fail_msg("broken stream %zu accepted", i);
        chk_free(&c);
    }
}

/* ---- focused rules ---------------------------------------------------------------------------- */

#define CH(delta, fin)                                                                                       \
    "{'id':'c','object':'chat.completion.chunk','choices':[{'index':0,'delta':" delta                        \
    ",'finish_reason':" fin "}]}"
#define CHQ(delta, fin)                                                                                      \
    "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":" delta          \
    ",\"finish_reason\":" fin "}]}"
#define DONE "[DONE]"

static void test_message_start_and_end(void **st)
{
    const char *const in[] = {CH("{'role':'assistant','content':'Hi'}", "null"), CH("{}", "'stop'"), DONE,
                              NULL};
    out_t o = {0};
    chk_t c;

    (void)st;
    assert_int_equal(run_chunks(in, &c, &o), CP_OK);
    /* message_start exactly as specified, with the client's model and the estimate */
    assert_non_null(
        strstr(o.p, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_"));
    assert_non_null(strstr(o.p,
                           "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\","
                           "\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_"
                           "tokens\":1000,\"output_tokens\":0,\"cache_creation_input_tokens\":0,\"cache_read_"
                           "input_tokens\":0}}}\n\n"));
    /* no usage upstream: the estimate is repeated, output 0 */
    assert_non_null(
        strstr(o.p, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                    "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":1000,\"output_"
                    "tokens\":0,\"cache_read_input_tokens\":0,\"cache_creation_input_tokens\":0}}\n\n"
                    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    assert_int_equal(o.len, strstr(o.p, "event: message_stop") - o.p +
                                strlen("event: message_stop\ndata: "
                                       "{\"type\":\"message_stop\"}\n\n"));
    out_free(&o);
    chk_free(&c);
}

static void test_no_empty_blocks(void **st)
{
    const char *const a[] = {
        CH("{'role':'assistant','content':'','reasoning_content':''}", "null"),
        CH("{'content':null,'reasoning':null}", "null"),
        CH("{'content':'\\n\\n  '}", "null"),
        CH("{'tool_calls':[{'index':0,'id':'c1','function':{'name':'R','arguments':'{}'}}]}", "null"),
        CH("{}", "'tool_calls'"),
        DONE,
        NULL};
    const char *const b[] = {CH("{'content':' '}", "null"), CH("{}", "'stop'"), DONE, NULL};
    const char *const d[] = {CH("{'content':'\\n'}", "null"),
                             CH("{'content':'Hi'}", "null"),
                             CH("{'content':' '}", "null"),
                             CH("{'content':'there'}", "'stop'"),
                             DONE,
                             NULL};
    chk_t c;

    (void)st;
    /* blank text before a tool call: no text block at all */
    assert_int_equal(run_chunks(a, &c, NULL), CP_OK);
    assert_int_equal(nblocks(&c), 1);
    assert_string_equal(bstr(&c, 0, "type"), "tool_use");
    chk_free(&c);
    /* only blank text: no block, end_turn */
    assert_int_equal(run_chunks(b, &c, NULL), CP_OK);
    assert_int_equal(nblocks(&c), 0);
    assert_string_equal(stop_reason(&c), "end_turn");
    chk_free(&c);
    /* blank text in front of real text is kept, and inside a block it is sent */
    assert_int_equal(run_chunks(d, &c, NULL), CP_OK);
    assert_int_equal(nblocks(&c), 1);
    assert_string_equal(bstr(&c, 0, "text"), "\nHi there");
    chk_free(&c);
}

static void test_finish_mapping(void **st)
{
    static const struct {
        const char *chunk1, *fin, *stop;
    } t[] = {
        {"{'content':'a'}", "'stop'", "end_turn"},
        {"{'content':'a'}", "'length'", "max_tokens"},
        {"{'content':'a'}", "'content_filter'", "refusal"},
        {"{'content':'a'}", "'tool_calls'", "end_turn"}, /* no tool call seen */
        {"{'content':'a'}", "'function_call'", "end_turn"},
        {"{'content':'a'}", "'eos_token'", "end_turn"}, /* unknown value */
        {"{'tool_calls':[{'index':0,'id':'x','function':{'name':'R','arguments':'{}'}}]}", "'stop'",
         "tool_use"},
        {"{'tool_calls':[{'index':0,'id':'x','function':{'name':'R','arguments':'{}'}}]}", "'tool_calls'",
         "tool_use"},
        /* cut by the output limit after complete tool calls: the limit is what the client must learn */
        {"{'tool_calls':[{'index':0,'id':'x','function':{'name':'R','arguments':'{}'}}]}", "'length'",
         "max_tokens"},
        {"{'content':'a','tool_calls':[{'index':0,'id':'x','function':{'name':'R','arguments':'{}'}}]}",
         "'max_tokens'", "max_tokens"},
        {"{'refusal':'I cannot help with that.'}", "'stop'", "refusal"},
        {"{'function_call':{'name':'R','arguments':'{\\'a\\':1}'}}", "'function_call'", "tool_use"},
    };
    chk_t c;

    (void)st;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char c1[512], c2[256];
        const char *in[] = {c1, c2, DONE, NULL};

        snprintf(c1, sizeof(c1), CH("%s", "null"), t[i].chunk1);
        snprintf(c2, sizeof(c2), CH("{}", "%s"), t[i].fin);
        assert_int_equal(run_chunks(in, &c, NULL), CP_OK);
        if (strcmp(stop_reason(&c), t[i].stop) != 0)
            fail_msg("case %zu: %s, want %s", i, stop_reason(&c), t[i].stop);
        chk_free(&c);
    }
}

static void test_stop_sequence_vllm(void **st)
{
    const char *const in[] = {
        CH("{'content':'a'}", "null"),
        "{'choices':[{'index':0,'delta':{},'finish_reason':'stop','stop_reason':'</answer>'}]}", DONE, NULL};
    chk_t c;

    (void)st;
    assert_int_equal(run_chunks(in, &c, NULL), CP_OK);
    assert_string_equal(stop_reason(&c), "stop_sequence");
    assert_string_equal(json_string_value(json_object_get(c.msg, "stop_sequence")), "</answer>");
    chk_free(&c);
}

static void test_usage(void **st)
{
    /* repeated cumulative usage: the last wins, never a sum; DeepSeek hit tokens; cache writes */
    const char *const a[] = {"{'choices':[{'index':0,'delta':{'content':'a'},'finish_reason':null}],'usage':{"
                             "'prompt_tokens':100,'completion_tokens':1}}",
                             "{'choices':[{'index':0,'delta':{'content':'b'},'finish_reason':null}],'usage':{"
                             "'prompt_tokens':100,'completion_tokens':2}}",
                             "{'choices':[{'index':0,'delta':{},'finish_reason':'stop'}],'usage':{'prompt_"
                             "tokens':100,'completion_tokens':3,'prompt_cache_hit_tokens':60,'prompt_tokens_"
                             "details':{'cached_tokens':40,'cache_write_tokens':10}}}",
                             DONE, NULL};
    /* more cached than prompt: input clamps at 0 */
    const char *const b[] = {CH("{'content':'a'}", "'stop'"),
                             "{'choices':[],'usage':{'prompt_tokens':5,'completion_tokens':1,'prompt_tokens_"
                             "details':{'cached_tokens':9}}}",
                             NULL};
    chk_t c;

    (void)st;
    assert_int_equal(run_chunks(a, &c, NULL), CP_OK);
    assert_int_equal(usage(&c, "input_tokens"), 30);
    assert_int_equal(usage(&c, "output_tokens"), 3);
    assert_int_equal(usage(&c, "cache_read_input_tokens"), 60);
    assert_int_equal(usage(&c, "cache_creation_input_tokens"), 10);
    chk_free(&c);
    assert_int_equal(run_chunks(b, &c, NULL), CP_OK);
    assert_int_equal(usage(&c, "input_tokens"), 0);
    assert_int_equal(usage(&c, "cache_read_input_tokens"), 9);
    chk_free(&c);
}

/* The usage-only chunk after the finish ends the message at once; what follows is ignored. */
static void test_usage_chunk_finishes(void **st)
{
    char *in =
        sse((const char *const[]){CH("{'content':'a'}", "'stop'"),
                                  "{'choices':[],'usage':{'prompt_tokens':5,'completion_tokens':1}}", NULL});
    cp_oai_opts_t o = opts("p", CP_OAI_OPENAI);
    out_t out = {0};
    ts_t *s = ts_new("m", NULL, &o, 3, collect, &out);
    chk_t c;

    (void)st;
    assert_int_equal(ts_feed(s, in, strlen(in)), CP_OK);
    assert_true(ts_finished(s));
    assert_non_null(strstr(out.p, "message_stop"));
    assert_int_equal(ts_feed(s, "data: garbage\n\ndata: [DONE]\n\n", 30), CP_OK);
    assert_int_equal(ts_end(s), CP_OK);
    must_check(&out, &c);
    chk_free(&c);
    ts_free(s);
    out_free(&out);
    free(in);
}

/* The finish chunk alone holds message_delta back (a usage chunk may follow); EOF then completes. */
static void test_finish_then_eof(void **st)
{
    char *in = sse((const char *const[]){CH("{'content':'a'}", "'stop'"), NULL});
    cp_oai_opts_t o = opts("p", CP_OAI_OPENAI);
    out_t out = {0};
    ts_t *s = ts_new("m", NULL, &o, 3, collect, &out);
    chk_t c;

    (void)st;
    assert_int_equal(ts_feed(s, in, strlen(in)), CP_OK);
    assert_false(ts_finished(s));
    assert_null(strstr(out.p, "message_delta"));
    assert_non_null(strstr(out.p, "content_block_stop")); /* the open block was closed at the finish */
    assert_int_equal(ts_end(s), CP_OK);
    must_check(&out, &c);
    assert_string_equal(stop_reason(&c), "end_turn");
    chk_free(&c);
    ts_free(s);
    out_free(&out);
    free(in);
}

static void test_errors(void **st)
{
    static const struct {
        const char *chunks[4];
        const char *type, *msg_part;
    } t[] = {
        {{CH("{'content':'a'}", "null"),
          "{'error':{'message':'The server is overloaded','type':'server_error'}}"},
         "overloaded_error",
         "prov: The server is overloaded"},
        {{CH("{'content':'a'}", "null"), "{'error':{'message':'bad key','code':401}}"},
         "authentication_error",
         "bad key"},
        {{CH("{'content':'a'}", "null"), "{'error':'plain string error'}"},
         "api_error",
         "plain string error"},
        {{CH("{'content':'a'}", "'error'")}, "api_error", "finish_reason \\\"error\\\""},
        {{"[{'error':{'code':429,'message':'Resource exhausted','status':'RESOURCE_EXHAUSTED'}}]"},
         "rate_limit_error",
         "Resource exhausted"},
        {{CH("{'content':'a'}", "null"), "<html><title>502 Bad Gateway</title></html>"},
         "api_error",
         "not JSON: 502 Bad Gateway"},
        {{"event: error\ndata: {'message':'upstream died'}"}, "api_error", "upstream died"},
        {{CH("{'content':'a'}", "null"), "42"}, "api_error", "not a chat completion chunk"},
        {{CH("{'tool_calls':[{'index':0,'id':'x','function':{'name':'Write','arguments':'{\\'a\\':'}}]}",
             "null"),
          CH("{'content':'text'}", "null")},
         "api_error",
         "text in the middle of the arguments for tool \\\"Write\\\""},
        {{CH("{'tool_calls':[{'index':0,'id':'x','function':{'name':'Write','arguments':'{\\'a\\':'}}]}",
             "null"),
          CH("{}", "'length'")},
         "api_error",
         "output token limit in the middle of the arguments for tool \\\"Write\\\""},
        {{CH("{'tool_calls':[{'index':0,'id':'x','function':{'name':'Write','arguments':'{\\'a\\':'}}]}",
             "null"),
          CH("{}", "'tool_calls'")},
         "api_error",
         "not valid JSON (incomplete)"},
        {{CH("{'tool_calls':[{'index':0,'function':{'arguments':'{}'}}]}", "'tool_calls'")},
         "api_error",
         "a tool call without a function name"},
        {{CH("{'tool_calls':[{'index':0,'id':'x','function':{'name':'R','arguments':[1]}}]}", "null")},
         "api_error",
         "not a JSON object"},
        {{CH("{'tool_calls':[{'index':0,'id':'x','function':{'name':'R','arguments':'\\'str\\''}}]}",
             "null")},
         "api_error",
         "for tool \\\"R\\\" that are not a JSON object"},
    };

    (void)st;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const char *in[5] = {t[i].chunks[0], t[i].chunks[1], t[i].chunks[2], t[i].chunks[3], NULL};
        out_t o = {0};
        chk_t c;

        assert_int_equal(run_chunks(in, &c, &o), CP_ERR);
        if (c.err == NULL || strcmp(err_type(&c), t[i].type) != 0 || strstr(o.p, t[i].msg_part) == NULL)
            fail_msg("case %zu: got %s", i, o.p);
        assert_null(strstr(o.p, "message_delta"));
        out_free(&o);
        chk_free(&c);
    }
}

static void test_truncations(void **st)
{
    static const char *const t[] = {
        "", /* nothing at all */
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"fin", /* cut inside an event */
        ": OPENROUTER PROCESSING\n\n",
    };
    cp_oai_opts_t o = opts("p", CP_OAI_GENERIC);

    (void)st;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        out_t out = {0};
        chk_t c;

        assert_int_equal(run_whole(&o, "m", t[i], strlen(t[i]), &out), CP_ERR);
        must_check(&out, &c);
        assert_string_equal(err_msg(&c), "provider p stream ended before the answer finished");
        chk_free(&c);
        out_free(&out);
    }
    /* the last event lacking its blank line is still read at EOF */
    {
        const char *in =
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n"
            "\ndata: [DONE]";
        out_t out = {0};
        chk_t c;
        assert_int_equal(run_whole(&o, "m", in, strlen(in), &out), CP_OK);
        must_check(&out, &c);
        chk_free(&c);
        out_free(&out);
    }
}

static void test_oversized_event(void **st)
{
    size_t n = (1u << 20) + 64;
    char *in = malloc(n + 16);
    cp_oai_opts_t o = opts("p", CP_OAI_GENERIC);
    out_t out = {0};
    chk_t c;

    (void)st;
    memcpy(in, "data: \"", 7);
    memset(in + 7, 'a', n - 7);
    memcpy(in + n, "\"\n\n", 3);
    assert_int_equal(run_whole(&o, "m", in, n + 3, &out), CP_ERR);
    must_check(&out, &c);
    assert_non_null(strstr(err_msg(&c), "larger than 1 MiB"));
    chk_free(&c);
    out_free(&out);
    free(in);
}

/* Tool-call keying: index, no index, repeated index, late names, ids. */
static void test_tool_keys(void **st)
{
    /* no index: fragments with neither id nor name continue the call */
    const char *const a[] = {
        CH("{'tool_calls':[{'id':'c1','function':{'name':'Bash','arguments':''}}]}", "null"),
        CH("{'tool_calls':[{'function':{'arguments':'{\\'command\\':'}}]}", "null"),
        CH("{'tool_calls':[{'function':{'arguments':'\\'ls\\'}'}}]}", "null"),
        CH("{}", "'tool_calls'"),
        DONE,
        NULL};
    /* Gemini: index 0 every time with new ids -> new calls */
    const char *const b[] = {
        CH("{'tool_calls':[{'index':0,'id':'g1','function':{'name':'R','arguments':'{\\'a\\':1}'}}]}",
           "null"),
        CH("{'tool_calls':[{'index':0,'id':'g2','function':{'name':'R','arguments':'{\\'a\\':2}'}}]}",
           "null"),
        CH("{}", "'stop'"), DONE, NULL};
    /* index 0 repeated, empty ids, same name, whole arguments each time -> new calls */
    const char *const d[] = {
        CH("{'tool_calls':[{'index':0,'id':'','function':{'name':'R','arguments':'{\\'a\\':1}'}}]}", "null"),
        CH("{'tool_calls':[{'index':0,'id':'','function':{'name':'R','arguments':'{\\'a\\':2}'}}]}", "null"),
        CH("{}", "'stop'"), DONE, NULL};
    /* arguments before the name: no block until the name is known, then the kept text is sent */
    const char *const e[] = {
        CH("{'content':'x'}", "null"),
        CH("{'tool_calls':[{'index':0,'function':{'arguments':'{\\'a\\':'}}]}", "null"),
        CH("{'tool_calls':[{'index':0,'id':'functions.Bash:0','function':{'name':'Bash','arguments':'7}'}}]}",
           "null"),
        CH("{}", "'tool_calls'"),
        DONE,
        NULL};
    /* a call whose name came only at the end, while another call streamed */
    const char *const f[] = {
        CH("{'tool_calls':[{'index':1,'function':{'arguments':'{}'}}]}", "null"),
        CH("{'tool_calls':[{'index':0,'id':'k0','function':{'name':'A','arguments':'{\\'x\\':'}}]}", "null"),
        CH("{'tool_calls':[{'index':1,'id':'k1','function':{'name':'B'}}]}", "null"),
        CH("{'tool_calls':[{'index':0,'function':{'arguments':'1}'}}]}", "null"),
        CH("{}", "'tool_calls'"),
        DONE,
        NULL};
    /* trailing whitespace for a closed call is harmless */
    const char *const g[] = {
        CH("{'tool_calls':[{'index':0,'id':'k0','function':{'name':'A','arguments':'{}'}}]}", "null"),
        CH("{'tool_calls':[{'index':1,'id':'k1','function':{'name':'B','arguments':'{}'}}]}", "null"),
        CH("{'tool_calls':[{'index':0,'function':{'arguments':' \\n'}}]}", "null"),
        CH("{}", "'tool_calls'"),
        DONE,
        NULL};
    chk_t c;

    (void)st;
    assert_int_equal(run_chunks(a, &c, NULL), CP_OK);
    assert_int_equal(nblocks(&c), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(block(&c, 0), "input"), "command")),
                        "ls");
    chk_free(&c);

    assert_int_equal(run_chunks(b, &c, NULL), CP_OK);
    assert_int_equal(nblocks(&c), 2);
    assert_string_equal(bstr(&c, 1, "id"), "g2");
    assert_string_equal(stop_reason(&c), "tool_use");
    chk_free(&c);

    assert_int_equal(run_chunks(d, &c, NULL), CP_OK);
    assert_int_equal(nblocks(&c), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(block(&c, 1), "input"), "a")), 2);
    chk_free(&c);

    assert_int_equal(run_chunks(e, &c, NULL), CP_OK);
    assert_int_equal(nblocks(&c), 2);
    assert_string_equal(bstr(&c, 1, "id"), "functions_Bash_0");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(block(&c, 1), "input"), "a")), 7);
    chk_free(&c);

    assert_int_equal(run_chunks(f, &c, NULL), CP_OK);
    assert_int_equal(nblocks(&c), 2);
    assert_string_equal(bstr(&c, 0, "name"), "A");
    assert_string_equal(bstr(&c, 1, "name"), "B");
    assert_string_equal(bstr(&c, 1, "id"), "k1");
    chk_free(&c);

    assert_int_equal(run_chunks(g, &c, NULL), CP_OK);
    assert_int_equal(nblocks(&c), 2);
    chk_free(&c);
}

/* Tool arguments, one chunk per byte: every valid object arrives intact; everything else is an
 * error, never {}. */
static void test_tool_args_checker(void **st)
{
    static const struct {
        const char *args; /* as the model wrote them */
        int ok;
        const char *want; /* the input as JSON (NULL: args itself) */
    } t[] = {
        {"{}", 1, NULL},
        {"  {\"a\" : 1 }\n ", 1, "{\"a\":1}"},
        {"", 1, "{}"},
        {"   ", 1, "{}"},
        {"{\"a\":[1,2,{\"b\":null}],\"c\":\"x\\u00e9\\n\\\"\\\\\\/"
         "\",\"d\":-0.5e+10,\"e\":true,\"f\":false,\"g\":0,"
         "\"h\":1E3,\"i\":[],\"j\":{},\"k\":-12.25}",
         1, NULL},
        {"{\"a\":\"raw\nnewline\ttab\"}", 1, "{\"a\":\"raw\\nnewline\\ttab\"}"}, /* repaired */
        {"{\"emoji\":\"\xf0\x9f\x99\x82\",\"s\":\"\xe6\x97\xa5\"}", 1, NULL},
        {"[1,2]", 0, NULL},
        {"\"str\"", 0, NULL},
        {"42", 0, NULL},
        {"null", 0, NULL},
        {"{\"a\":}", 0, NULL},
        {"{\"a\":1,}", 0, NULL},
        {"{\"a\":01}", 0, NULL},
        {"{\"a\":1.}", 0, NULL},
        {"{\"a\":.5}", 0, NULL},
        {"{\"a\":1e}", 0, NULL},
        {"{\"a\":-}", 0, NULL},
        {"{\"a\":1}x", 0, NULL},
        {"{\"a\":1}{\"b\":2}", 0, NULL},
        {"{\"a\":tru}", 0, NULL},
        {"{\"a\":nul", 0, NULL},
        {"{\"a\":\"\\x\"}", 0, NULL},
        {"{\"a\":\"\\u12g4\"}", 0, NULL},
        {"{\"a\":1", 0, NULL},
        {"{'a':1}", 0, NULL},
        {"{a:1}", 0, NULL},
        {"{\"a\" 1}", 0, NULL},
        {"{\"a\":[1 2]}", 0, NULL},
        {"{\"a\":[1,]}", 0, NULL},
        {"{\"a\":{\"b\":1]}", 0, NULL},
        {"{\"a\":\"unterminated}", 0, NULL},
    };

    (void)st;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t n = strlen(t[i].args);
        const char **in = calloc(n + 5, sizeof(char *));
        char **own = calloc(n + 5, sizeof(char *));
        size_t k = 0;
        chk_t c;
        int rc;

        own[k] = strdup(CHQ("{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"function\":{\"name\":\"T\","
                            "\"arguments\":\"\"}}]}",
                            "null"));
        in[k] = own[k];
        k++;
        for (size_t b = 0; b < n; b++) { /* one chunk per byte (UTF-8 kept whole: the JSON needs it) */
            json_t *frag, *chunk;
            size_t len = 1;
            char *txt;
            while (b + len < n && ((unsigned char)t[i].args[b + len] & 0xC0) == 0x80)
                len++;
            frag = json_stringn(t[i].args + b, len);
            chunk = json_pack("{s:[{s:i,s:{s:[{s:i,s:{s:o}}]},s:n}]}", "choices", "index", 0, "delta",
                              "tool_calls", "index", 0, "function", "arguments", frag, "finish_reason");
            txt = json_dumps(chunk, JSON_COMPACT);
            own[k] = txt;
            in[k] = own[k];
            k++;
            json_decref(chunk);
            b += len - 1;
        }
        own[k] = strdup(CHQ("{}", "\"tool_calls\""));
        in[k] = own[k];
        k++;
        in[k++] = DONE;
        in[k] = NULL;
        rc = run_chunks_q(in, 1, &c, NULL); /* the arguments may hold ' */
        if (t[i].ok) {
            json_t *want = json_loads(t[i].want != NULL ? t[i].want : t[i].args, 0, NULL);
            if (rc != CP_OK || !json_equal(json_object_get(block(&c, 0), "input"), want))
                fail_msg("case %zu (%s) should pass", i, t[i].args);
            json_decref(want);
        } else if (rc != CP_ERR || c.err == NULL || strstr(err_msg(&c), "\"T\"") == NULL) {
            fail_msg("case %zu (%s) should fail naming the tool", i, t[i].args);
        }
        chk_free(&c);
        for (size_t j = 0; j < k; j++)
            free(own[j]);
        free(own);
        free(in);
    }
}

static void test_tool_args_deep(void **st)
{
    char args[700], ch[1024];
    const char *in[] = {ch, CH("{}", "'tool_calls'"), DONE, NULL};
    chk_t c;
    size_t k = 0;

    (void)st;
    /* 100 levels are fine */
    k += (size_t)sprintf(args + k, "{\\'a\\':");
    for (int i = 0; i < 99; i++)
        args[k++] = '[';
    for (int i = 0; i < 99; i++)
        args[k++] = ']';
    args[k++] = '}';
    args[k] = '\0';
    snprintf(ch, sizeof(ch),
             CH("{'tool_calls':[{'index':0,'id':'c','function':{'name':'T','arguments':'%s'}}]}", "null"),
             args);
    assert_int_equal(run_chunks(in, &c, NULL), CP_OK);
    chk_free(&c);
    /* 200 are not */
    k = (size_t)sprintf(args, "{\\'a\\':");
    for (int i = 0; i < 199; i++)
        args[k++] = '[';
    args[k] = '\0';
    snprintf(ch, sizeof(ch),
             CH("{'tool_calls':[{'index':0,'id':'c','function':{'name':'T','arguments':'%s'}}]}", "null"),
             args);
    assert_int_equal(run_chunks(in, &c, NULL), CP_ERR);
    assert_non_null(strstr(err_msg(&c), "nested too deeply"));
    chk_free(&c);
}

static void test_reasoning_variants(void **st)
{
    /* reasoning_details alone (no reasoning field) */
    const char *const a[] = {
        CH("{'reasoning_details':[{'type':'reasoning.summary','summary':'Short plan.'}]}", "null"),
        CH("{'content':'Answer'}", "'stop'"), DONE, NULL};
    /* content parts; reasoning after text opens a new thinking block */
    const char *const b[] = {
        CH("{'content':[{'type':'text','text':'A'},{'type':'image_url'},{'type':'text','text':'B'}]}",
           "null"),
        CH("{'reasoning':'later thought'}", "null"), CH("{'content':'C'}", "'stop'"), DONE, NULL};
    chk_t c;

    (void)st;
    assert_int_equal(run_chunks(a, &c, NULL), CP_OK);
    assert_string_equal(bstr(&c, 0, "thinking"), "Short plan.");
    assert_string_equal(bstr(&c, 0, "signature"), "");
    assert_string_equal(bstr(&c, 1, "text"), "Answer");
    chk_free(&c);
    assert_int_equal(run_chunks(b, &c, NULL), CP_OK);
    assert_int_equal(nblocks(&c), 3);
    assert_string_equal(bstr(&c, 0, "text"), "AB");
    assert_string_equal(bstr(&c, 1, "type"), "thinking");
    assert_string_equal(bstr(&c, 2, "text"), "C");
    chk_free(&c);
}

/* A data event holding a whole chat.completion; a plain-JSON body that is an error. */
/* The answers of the defect fixtures, exactly: the reasoning once, in one thinking block, and the text
 * without the tags. */
static void test_defect_fixtures(void **st)
{
    static const struct {
        const char *name, *thinking, *text, *sig;
    } want[] = {
        {"think-tags-bigint", "\nThe user wants a greeting.\n", "Hello! How can I help?", ""},
        {"minimax-think-twice", "I should list the files.", "Here are the files.", ""},
        {"magistral-thinking", "The user asks 2+2. That is 4.", "2 + 2 = 4.", ""},
        {"openrouter-reasoning-both", "Check the file first.", "Done.", "EqQBCkgIBxABGAIi"},
    };

    (void)st;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char fname[256];
        size_t n;
        char *g;
        chk_t c;

        snprintf(fname, sizeof(fname), "%s.golden", want[i].name);
        g = slurp(fname, &n);
        assert_non_null(g);
        if (check_stream(g, n, &c) != 0)
            fail_msg("%s: %s", want[i].name, c.why);
        assert_int_equal(nblocks(&c), 2);
        assert_string_equal(bstr(&c, 0, "thinking"), want[i].thinking);
        assert_string_equal(bstr(&c, 0, "signature"), want[i].sig);
        assert_string_equal(bstr(&c, 1, "text"), want[i].text);
        chk_free(&c);
        free(g);
    }
}

/* A mid-stream error keeps its type, whatever the shape that carries it. */
static void test_midstream_error_types(void **st)
{
    static const struct {
        const char *chunk, *type;
        int status;
    } cases[] = {
        {"{'error':{'message':'bad input','type':'invalid_request_error','status_code':400}}",
         "invalid_request_error", 400},
        {"{'error':{'message':'bad input','type':'invalid_request_error','code':null}}",
         "invalid_request_error", 400},
        {"{'error':{'message':'slow down','type':'rate_limit_error'}}", "rate_limit_error", 429},
        {"{'error':{'message':'no such model','code':404}}", "not_found_error", 404},
        {"{'error':{'message':'busy','status_code':503}}", "overloaded_error", 529},
        {"{'error':{'message':'oops','http_status_code':401}}", "authentication_error", 401},
        {"{'error':'plain string error'}", "api_error", 500},
    };

    (void)st;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        chk_t c;
        out_t keep = {0};
        const char *const chunks[] = {"{'choices':[{'delta':{'content':'Partial'}}]}", cases[i].chunk, NULL};

        assert_int_equal(run_chunks(chunks, &c, &keep), CP_ERR);
        if (c.err == NULL || strcmp(err_type(&c), cases[i].type) != 0)
            fail_msg("case %zu: got %s, want %s\n%s", i, c.err ? err_type(&c) : "no error", cases[i].type,
                     keep.p);
        chk_free(&c);
        out_free(&keep);
    }
}

/* Usage values of every wrong kind reach no undefined behaviour and are clamped (UBSan checks the
 * former when the suite runs under it). */
static void test_usage_clamped(void **st)
{
    static const struct {
        const char *usage;
        long long in, out, read;
        int clamped;
    } cases[] = {
        {"{'prompt_tokens':10,'completion_tokens':5}", 10, 5, 0, 0},
        {"{'prompt_tokens':-10,'completion_tokens':-5}", 0, 0, 0, 1},
        {"{'prompt_tokens':1e300,'completion_tokens':1e308}", 9007199254740992LL, 9007199254740992LL, 0, 1},
        {"{'prompt_tokens':9223372036854775807,'completion_tokens':2}", 9007199254740992LL, 2, 0, 1},
        {"{'prompt_tokens':10.7,'completion_tokens':'5'}", 10, 0, 0, 1},
        {"{'prompt_tokens':100,'prompt_tokens_details':{'cached_tokens':9223372036854775807}}", 0, 0,
         9007199254740992LL, 1},
        {"{'prompt_tokens':[1],'completion_tokens':{}}", 0, 0, 0, 1},
        {"{'prompt_tokens':null,'completion_tokens':true}", 0, 0, 0, 1},
    };

    (void)st;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = strdup(cases[i].usage);
        json_t *u;
        cp_anth_usage_t got;
        int clamped = -1;

        for (char *p = s; *p != '\0'; p++)
            if (*p == '\'')
                *p = '"';
        u = json_loads(s, 0, NULL);
        assert_non_null(u);
        cp_oai_usage_map(u, &got, &clamped);
        if (got.input != cases[i].in || got.output != cases[i].out || got.cache_read != cases[i].read ||
            clamped != cases[i].clamped)
            fail_msg("case %zu %s: got in %lld out %lld read %lld clamped %d", i, cases[i].usage, got.input,
                     got.output, got.cache_read, clamped);
        json_decref(u);
        free(s);
    }
}

/* The <think> filter's edges: a tag never closed (the rest is reasoning), content that only looked like
 * a tag at first (sent as text, nothing lost), and a tag that is not at the start (plain text). */
static void test_think_edges(void **st)
{
    static const struct {
        const char *a, *b, *thinking, *text;
    } cases[] = {
        {"<think>abc", " def", "abc def", NULL},
        {"<thi", "s is text", NULL, "<this is text"},
        {"<", "", NULL, "<"},
        {"Hello <think>x</think>", "!", NULL, "Hello <think>x</think>!"},
        {"  <think>r</think>  ", "done", "r", "done"},
    };

    (void)st;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char c1[256], c2[256];
        chk_t c;

        snprintf(c1, sizeof(c1), "{'choices':[{'index':0,'delta':{'content':'%s'},'finish_reason':null}]}",
                 cases[i].a);
        snprintf(c2, sizeof(c2), "{'choices':[{'index':0,'delta':{'content':'%s'},'finish_reason':'stop'}]}",
                 cases[i].b);
        {
            const char *const chunks[] = {c1, c2, DONE, NULL};
            assert_int_equal(run_chunks(chunks, &c, NULL), CP_OK);
        }
        if (cases[i].thinking != NULL) {
            assert_string_equal(bstr(&c, 0, "type"), "thinking");
            assert_string_equal(bstr(&c, 0, "thinking"), cases[i].thinking);
        }
        if (cases[i].text != NULL)
            assert_string_equal(bstr(&c, nblocks(&c) - 1, "text"), cases[i].text);
        assert_int_equal(nblocks(&c), (cases[i].thinking != NULL) + (cases[i].text != NULL));
        chk_free(&c);
    }
}

/* ---- parity: a whole answer and the same answer streamed give the same Message ----------------------- */

static const char *const parity_fixtures[] = {
    "gpt41-tools", "openrouter-reasoning", "deepseek-reasoner", "gemini-tools",
    "vllm-stop",   "together-r1",          "minimax-think",     "magistral"};

/* Generated ids -> "msg_ID" / "toolu_GEN" (upstream tool ids are kept as they are). */
static void norm(json_t *msg)
{
    size_t i;
    json_t *b;

    json_object_set_new(msg, "id", json_string("msg_ID"));
    json_array_foreach(json_object_get(msg, "content"), i, b)
    {
        const char *id = json_string_value(json_object_get(b, "id"));
        if (id != NULL && strncmp(id, "toolu_", 6) == 0 && strlen(id) == 30)
            json_object_set_new(b, "id", json_string("toolu_GEN"));
    }
}

/* Returns new: the Message of the whole-answer path for <in>, normalized; NULL when it failed. */
static json_t *parity_whole(const cp_oai_opts_t *o, const char *in, size_t n, char **text)
{
    cp_oai_resp_t *r = cp_oai_resp_new("claude-sonnet-4-5", NULL, o, 0, CP_ANTH_OUT_MESSAGE);
    cp_buf_t out = CP_BUF_INIT;
    json_t *msg = NULL;

    if (cp_oai_resp_whole(r, in, n, &out) == CP_OK)
        msg = json_loadb(out.p, out.len, 0, NULL);
    cp_oai_resp_free(r);
    if (msg != NULL)
        norm(msg);
    *text = cp_buf_detach(&out, NULL);
    return msg;
}

/* Returns new: the Message rebuilt from the event stream the streaming path gives for <in> fed in
 * <ncuts>+1 pieces, normalized. */
static json_t *parity_stream(const cp_oai_opts_t *o, const char *in, size_t n, const size_t *cuts,
                             size_t ncuts)
{
    out_t out = {0};
    chk_t c;
    json_t *msg;

    assert_int_equal(run_cuts(o, NULL, "claude-sonnet-4-5", 0, in, n, cuts, ncuts, &out), CP_OK);
    must_check(&out, &c);
    msg = json_incref(c.msg);
    chk_free(&c);
    out_free(&out);
    norm(msg);
    return msg;
}

/* Returns new: the chat.completion <in> as a real stream: one chunk whose delta is the message (tool
 * calls indexed), then [DONE]. */
static char *parity_as_chunks(const char *in, size_t n)
{
    json_t *j = cp_json_loadb(in, n, 0, NULL), *ch, *m, *tc;
    char *chunk, *s;
    size_t i;

    assert_non_null(j);
    ch = json_array_get(json_object_get(j, "choices"), 0);
    m = json_object_get(ch, "message");
    json_array_foreach(json_object_get(m, "tool_calls"), i, tc)
    {
        json_object_set_new(tc, "index", json_integer((json_int_t)i));
    }
    json_object_set(ch, "delta", m);
    json_object_del(ch, "message");
    json_object_set_new(j, "object", json_string("chat.completion.chunk"));
    chunk = json_dumps(j, JSON_COMPACT);
    s = malloc(strlen(chunk) + 32);
    sprintf(s, "data: %s\n\ndata: [DONE]\n\n", chunk);
    free(chunk);
    json_decref(j);
    return s;
}

static void parity_same(const char *fx, const char *how, const json_t *got, const json_t *want)
{
    char *g, *w;

    if (json_equal(got, want))
        return;
    g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
    w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
    fail_msg("%s, %s: not the whole-answer Message\n got: %s\nwant: %s", fx, how, g, w);
}

/* Every whole-answer fixture (tests/fixtures/oai/resp-*.openai.json), given to the streaming path as
 * the one-chunk body of a server that ignored stream:true (whole, and split in two at every byte) and
 * as a real one-chunk stream, gives the Message the whole-answer path gives; and the whole-answer path
 * fed in two pieces at every byte gives the same bytes. */
static void test_parity(void **st)
{
    cp_oai_opts_t o = opts("p", CP_OAI_GENERIC);
    size_t runs = 0;

    (void)st;
    for (size_t i = 0; i < sizeof(parity_fixtures) / sizeof(parity_fixtures[0]); i++) {
        char name[256], *in, *text, *chunks;
        size_t n = 0;
        json_t *want, *got;

        snprintf(name, sizeof(name), "../oai/resp-%s.openai.json", parity_fixtures[i]);
        in = slurp(name, &n);
        if (in == NULL)
            fail_msg("missing fixture %s/%s", fixdir(), name);
        want = parity_whole(&o, in, n, &text);
        if (want == NULL)
            fail_msg("%s: the whole-answer path failed", name);
        got = parity_stream(&o, in, n, NULL, 0);
        parity_same(name, "one-chunk body", got, want);
        json_decref(got);
        for (size_t cut = 0; cut <= n; cut++) {
            cp_oai_resp_t *r = cp_oai_resp_new("claude-sonnet-4-5", NULL, &o, 0, CP_ANTH_OUT_MESSAGE);
            cp_buf_t out = CP_BUF_INIT;
            json_t *m;

            got = parity_stream(&o, in, n, &cut, 1);
            parity_same(name, "body in two pieces, streamed", got, want);
            json_decref(got);
            assert_int_equal(cp_oai_resp_feed(r, in, cut, &out), CP_OK);
            assert_int_equal(cp_oai_resp_feed(r, in + cut, n - cut, &out), CP_OK);
            assert_int_equal(cp_oai_resp_end(r, &out), CP_OK);
            m = json_loadb(out.p, out.len, 0, NULL);
            assert_non_null(m);
            norm(m);
            parity_same(name, "body in two pieces, whole", m, want);
            json_decref(m);
            cp_buf_free(&out);
            cp_oai_resp_free(r);
            runs += 2;
        }
        chunks = parity_as_chunks(in, n);
        got = parity_stream(&o, chunks, strlen(chunks), NULL, 0);
        parity_same(name, "as a one-chunk stream", got, want);
        json_decref(got);
        free(chunks);
        json_decref(want);
        free(text);
        free(in);
    }
    cp_id_set_seed(0);
    printf("[ parity ] %zu fixtures, %zu split runs\n", sizeof(parity_fixtures) / sizeof(parity_fixtures[0]),
           runs);
}

static void test_whole_completion(void **st)
{
    const char *const a[] = {"{'id':'x','object':'chat.completion','choices':[{'index':0,'message':{'role':'"
                             "assistant','reasoning_content':'hmm','content':'Hi!'},'finish_reason':'stop'}],"
                             "'usage':{'prompt_tokens':4,'completion_tokens':2}}",
                             NULL};
    const char *b = "\r\n  {\"error\":{\"message\":\"model not found\",\"code\":404}}";
    const char *d = "{\"object\":\"list\",\"data\":[]}";
    cp_oai_opts_t o = opts("p", CP_OAI_GENERIC);
    out_t out = {0};
    chk_t c;

    (void)st;
    assert_int_equal(run_chunks(a, &c, NULL), CP_OK);
    assert_int_equal(nblocks(&c), 2);
    assert_string_equal(bstr(&c, 1, "text"), "Hi!");
    assert_int_equal(usage(&c, "output_tokens"), 2);
    chk_free(&c);
    assert_int_equal(run_whole(&o, "m", b, strlen(b), &out), CP_ERR);
    must_check(&out, &c);
    assert_string_equal(err_type(&c), "not_found_error");
    chk_free(&c);
    out_free(&out);
    assert_int_equal(run_whole(&o, "m", d, strlen(d), &out), CP_ERR);
    must_check(&out, &c);
    assert_non_null(strstr(err_msg(&c), "not a chat completion"));
    chk_free(&c);
    out_free(&out);
}

static void test_fail_api(void **st)
{
    cp_oai_opts_t o = opts("p", CP_OAI_GENERIC);
    out_t out = {0};
    ts_t *s;
    cp_err_t e = {.http_status = 504, .type = "timeout_error", .msg = "provider p timed out"};
    chk_t c;
    char *ev;

    (void)st;
    /* before begin: one error event only */
    s = ts_new("m", NULL, &o, 1, collect, &out);
    ts_fail(s, &e);
    ts_fail(s, &e);
    assert_true(ts_finished(s));
    assert_int_equal(ts_begin(s), CP_ERR);
    assert_int_equal(ts_end(s), CP_ERR);
    must_check(&out, &c);
    assert_int_equal(c.events, 1);
    assert_string_equal(err_type(&c), "timeout_error");
    chk_free(&c);
    ts_free(s);
    out_free(&out);

    /* mid-stream: the error follows the open block, with nothing after it */
    s = ts_new("m", NULL, &o, 1, collect, &out);
    assert_int_equal(ts_begin(s), CP_OK);
    assert_int_equal(ts_begin(s), CP_OK); /* once */
    {
        const char *chunk = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n";
        assert_int_equal(ts_feed(s, chunk, strlen(chunk)), CP_OK);
    }
    ts_fail(s, &e);
    assert_int_equal(ts_feed(s, "data: [DONE]\n\n", 14), CP_OK);
    assert_int_equal(ts_end(s), CP_ERR);
    must_check(&out, &c);
    assert_int_equal(c.events, 4);
    chk_free(&c);
    ts_free(s);
    out_free(&out);

    /* after message_stop: nothing */
    s = ts_new("m", NULL, &o, 1, collect, &out);
    assert_int_equal(ts_feed(s, "data: [DONE]\n\n", 14), CP_OK); /* feed begins by itself */
    ts_fail(s, &e);
    assert_int_equal(ts_end(s), CP_OK);
    must_check(&out, &c);
    assert_null(c.err);
    chk_free(&c);
    ts_free(s);
    out_free(&out);

    ev = ts_error_event(&e);
    assert_string_equal(
        ev, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"timeout_error\",\"message\":"
            "\"provider p timed out\"},\"request_id\":null}\n\n");
    free(ev);
    ts_free(NULL);
}

/* Escaping of what goes into the JSON text: quotes, backslashes, control characters, NUL, model. */
static void test_escaping(void **st)
{
    const char *in = "data: {\"choices\":[{\"delta\":{\"content\":\"q\\\" b\\\\ \\u0001 \\u0000 \\t/\"},"
                     "\"finish_reason\":\"stop\"}]}\n\n";
    cp_oai_opts_t o = opts("p", CP_OAI_GENERIC);
    out_t out = {0};
    chk_t c;

    (void)st;
    assert_int_equal(run_cuts(&o, NULL, "model \"x\"\n", 1, in, strlen(in), NULL, 0, &out), CP_OK);
    must_check(&out, &c);
    assert_non_null(strstr(out.p, "\"text\":\"q\\\" b\\\\ \\u0001 \\u0000 \\t/\""));
    assert_string_equal(json_string_value(json_object_get(c.msg, "model")), "model \"x\"\n");
    assert_int_equal(json_string_length(json_object_get(block(&c, 0), "text")), 12);
    chk_free(&c);
    out_free(&out);
}

int main(void)
{
    const struct CMUnitTest ts[] = {
        cmocka_unit_test(test_checker_catches),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_fixture_semantics),
        cmocka_unit_test(test_fixture_content),
        cmocka_unit_test(test_message_start_and_end),
        cmocka_unit_test(test_no_empty_blocks),
        cmocka_unit_test(test_finish_mapping),
        cmocka_unit_test(test_stop_sequence_vllm),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_usage_chunk_finishes),
        cmocka_unit_test(test_finish_then_eof),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_oversized_event),
        cmocka_unit_test(test_tool_keys),
        cmocka_unit_test(test_tool_args_checker),
        cmocka_unit_test(test_tool_args_deep),
        cmocka_unit_test(test_reasoning_variants),
        cmocka_unit_test(test_whole_completion),
        cmocka_unit_test(test_fail_api),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_parity),
        cmocka_unit_test(test_think_edges),
        cmocka_unit_test(test_defect_fixtures),
        cmocka_unit_test(test_midstream_error_types),
        cmocka_unit_test(test_usage_clamped),
    };
    return cmocka_run_group_tests(ts, NULL, NULL);
}
