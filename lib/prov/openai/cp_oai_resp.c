/* lib/prov/openai/cp_oai_resp.c: see cp_oai_resp.h.
 *
 * One translator per answer. It owns an SSE parser (or the whole body), a few small strings and one
 * record per tool call; it borrows the names map and the provider options. What it produces goes
 * through the writer (cp_anth_out.h) into the buffer the caller passes to each call; nothing here
 * calls back into anyone, so it can be driven from inside a curl write callback. Upstream bytes are
 * parsed once (cp_sse, then jansson per chunk, or jansson once for a whole body).
 *
 * The rules, with the choices made where the protocols leave room, are in docs/protocol-notes.md
 * ("Answers (OpenAI-style -> Anthropic)"). The shape of the code:
 *   chunk -> choice -> delta: reasoning (so_reasoning), content (so_content, through the <think>
 *   filter), refusal, tool_calls (so_tool) -> blocks (so_text, so_open_call, so_close) -> the writer;
 *   finish_reason is remembered; usage is remembered from any chunk (the last one wins);
 *   so_finalize writes message_delta + message_stop after the usage chunk, [DONE] or the end.
 * A whole chat.completion is one chunk whose "message" is one big delta: the same rules apply, so a
 * whole answer and the same answer streamed give the same Message.
 *
 * Limits: 1 MiB per upstream SSE event, 32 MiB of plain-JSON body, 8 MiB of tool arguments waiting
 * to be sent, 512 tool calls, nesting 128 deep in tool arguments. Going past one fails the answer. */
#include "cp_oai_resp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cp_json.h"
#include "cp_prov_err.h"
#include "cp_sse.h"

#include "cp_oai_resp_int.h"

/* ---- chunks ---- */

static int so_finalize(cp_oai_resp_t *s);

/* An error reported in-band: <err> (borrowed) is the value of an "error" member. */
static int so_inband(cp_oai_resp_t *s, const json_t *err)
{
    cp_err_t e;

    memset(&e, 0, sizeof(e));
    cp_prov_error_value(err, cp_oair_prov(s), &e);
    if (strcmp(e.type, "api_error") == 0 && strcasestr(e.msg, "overload") != NULL) {
        e.type = "overloaded_error";
        e.http_status = 529;
    }
    return cp_oair_fail_e(s, &e);
}

/* A data event that is JSON but not an object. */
static int so_nonobject(cp_oai_resp_t *s, const json_t *j)
{
    const json_t *err = json_object_get(json_array_get(j, 0), "error"); /* borrowed from j */

    if (err != NULL && !json_is_null(err)) /* Gemini: [{"error":{...}}] */
        return so_inband(s, err);
    if (s->whole)
        return cp_oair_fail(s, 502, "api_error",
                            "provider %s returned an unexpected response (not a chat completion)",
                            cp_oair_prov(s));
    return cp_oair_fail(s, 502, "api_error",
                        "provider %s sent a stream event that is not a chat completion chunk",
                        cp_oair_prov(s));
}

/* A data event that is not JSON at all. */
static int so_not_json(cp_oai_resp_t *s, const char *d, size_t n)
{
    cp_err_t x;
    const char *m;
    size_t pl = strlen(cp_oair_prov(s));

    if (s->eof)
        return cp_oair_fail(s, 502, "api_error", "provider %s stream ended before the answer finished",
                            cp_oair_prov(s));
    cp_prov_error(500, d, n, cp_oair_prov(s), &x); /* a readable, scrubbed excerpt: "<prov>: <excerpt>" */
    m = strncmp(x.msg, cp_oair_prov(s), pl) == 0 && strncmp(x.msg + pl, ": ", 2) == 0 ? x.msg + pl + 2
                                                                                      : x.msg;
    if (s->whole || s->mode == MODE_RAW)
        return cp_oair_fail(s, 502, "api_error",
                            "provider %s returned a 200 answer that is not JSON: \"%.*s\"", cp_oair_prov(s),
                            cp_oair_cut(m, 300), m);
    return cp_oair_fail(s, 502, "api_error", "provider %s sent a stream event that is not JSON: %.*s",
                        cp_oair_prov(s), cp_oair_cut(m, 300), m);
}

/* A token count: a JSON number clamped to [0, 2^53]; anything else is 0. Sets *<bad> when the value
 * had to be repaired (negative, fractional, huge, not a number). */
static long long so_count(const json_t *v, int *bad)
{
    double d;

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n >= 0 && (double)n <= SO_COUNT_MAX)
            return (long long)n;
        *bad = 1;
        return n < 0 ? 0 : (long long)SO_COUNT_MAX;
    }
    if (!json_is_real(v)) {
        *bad = 1;
        return 0;
    }
    d = json_real_value(v);
    if (!(d >= 0)) { /* negative or NaN */
        *bad = 1;
        return 0;
    }
    if (d > SO_COUNT_MAX) {
        *bad = 1;
        return (long long)SO_COUNT_MAX;
    }
    if (d != (double)(long long)d) /* fractional (d is within [0, 2^53] here) */
        *bad = 1;
    return (long long)d;
}

int cp_oai_usage_map(const json_t *u, cp_anth_usage_t *out, int *clamped)
{
    const json_t *ud = json_object_get(u, "prompt_tokens_details"); /* borrowed from u */
    int bad = 0;
    long long prompt = so_count(json_object_get(u, "prompt_tokens"), &bad);
    long long hit = so_count(json_object_get(u, "prompt_cache_hit_tokens"), &bad); /* DeepSeek */

    out->cache_read = so_count(json_object_get(ud, "cached_tokens"), &bad);
    if (hit > out->cache_read)
        out->cache_read = hit;
    out->cache_write = so_count(json_object_get(ud, "cache_write_tokens"), &bad);
    /* every term is within [0, 2^53]: no overflow */
    out->input =
        prompt - out->cache_read - out->cache_write > 0 ? prompt - out->cache_read - out->cache_write : 0;
    out->output = so_count(json_object_get(u, "completion_tokens"), &bad);
    if (clamped != NULL)
        *clamped = bad;
    return json_object_get(u, "prompt_tokens") != NULL;
}

static void so_usage(cp_oai_resp_t *s, const json_t *u)
{
    cp_anth_usage_t us;
    int bad = 0;

    if (!cp_oai_usage_map(u, &us, &bad))
        us.input = s->in_est;
    else
        s->got_usage = 1;
    s->u = us;
    if (bad)
        cp_oair_note(s, "usage values out of range (negative, fractional, huge or not numbers) were clamped");
}

/* The thinking text of a reasoning_details entry (text, or a summary), or NULL. */
static const char *so_detail_text(const json_t *x, size_t *n)
{
    const json_t *type = json_object_get(x, "type"); /* borrowed from x */

    if (cp_json_streq(type, "reasoning.text"))
        return cp_json_str(json_object_get(x, "text"), n);
    if (cp_json_streq(type, "reasoning.summary"))
        return cp_json_str(json_object_get(x, "summary"), n);
    return NULL;
}

/* Reasoning: reasoning_content (DeepSeek, llama.cpp), else reasoning (OpenRouter, Ollama, vLLM), else
 * the text of reasoning_details, never two of them (OpenRouter sends both); a signature in
 * reasoning_details is kept for the thinking block's signature_delta. */
static int so_reasoning(cp_oai_resp_t *s, const json_t *d)
{
    const json_t *det = json_object_get(d, "reasoning_details"); /* borrowed from d */
    const char *t;
    size_t n = 0, i;
    json_t *x; /* borrowed from det */

    json_array_foreach(det, i, x)
    {
        const char *sig = cp_json_str(json_object_get(x, "signature"), NULL);
        if (sig != NULL) {
            free(s->sig);
            s->sig = cp_xstrdup(sig);
        }
    }
    t = cp_json_str(json_object_get(d, "reasoning_content"), &n);
    if (t == NULL)
        t = cp_json_str(json_object_get(d, "reasoning"), &n);
    if (t != NULL) {
        s->reasoned = 1;
        return cp_oair_text(s, SO_THINK, t, n);
    }
    json_array_foreach(det, i, x)
    {
        if ((t = so_detail_text(x, &n)) != NULL) {
            s->reasoned = 1;
            if (cp_oair_text(s, SO_THINK, t, n) != CP_OK)
                return CP_ERR;
        }
    }
    return CP_OK;
}

/* Content text after the <think> filter: inside the tags it is reasoning, unless the reasoning
 * already came in a reasoning field (MiniMax sends both: the copy is dropped). */
static int so_tag_emit(cp_oai_resp_t *s, int think, const char *t, size_t n)
{
    if (!think)
        return cp_oair_text(s, SO_TEXT, t, n);
    if (s->reasoned)
        return CP_OK;
    return cp_oair_text(s, SO_THINK, t, n);
}

static const char so_open_tag[] = "<think>", so_close_tag[] = "</think>";

static int so_tagged(cp_oai_resp_t *s, const char *t, size_t n);

/* TAG_START: content is held until it is clear whether it opens with "<think>" (after blanks). */
static int so_tag_start(cp_oai_resp_t *s, const char *t, size_t n)
{
    const size_t ol = sizeof(so_open_tag) - 1;
    const char *h;
    size_t k = 0;
    cp_buf_t rest = CP_BUF_INIT;
    int rc;

    if (s->tag.len == 0 && n > 0 && t[0] != '<' && !cp_jsonck_ws(t[0])) {
        s->tagst = TAG_OFF; /* the common case: plain text from the first byte, nothing to hold */
        return cp_oair_text(s, SO_TEXT, t, n);
    }
    cp_buf_add(&s->tag, t, n);
    h = cp_buf_str(&s->tag);
    while (k < s->tag.len && cp_jsonck_ws(h[k]))
        k++;
    if (s->tag.len - k < ol && strncmp(h + k, so_open_tag, s->tag.len - k) == 0 && s->tag.len < SO_HOLD_MAX)
        return CP_OK; /* could still become "<think>" */
    if (s->tag.len - k < ol || strncmp(h + k, so_open_tag, ol) != 0) {
        s->tagst = TAG_OFF; /* plain content: send what was held */
        rest = s->tag;
        cp_buf_init(&s->tag, 0);
        rc = cp_oair_text(s, SO_TEXT, rest.p, rest.len);
        cp_buf_free(&rest);
        return rc;
    }
    s->tagst = TAG_IN;
    cp_buf_add(&rest, h + k + ol, s->tag.len - k - ol);
    cp_buf_free(&s->tag);
    rc = rest.len > 0 ? so_tagged(s, rest.p, rest.len) : CP_OK;
    cp_buf_free(&rest);
    return rc;
}

/* TAG_IN: reasoning until "</think>", which may be split: a possible partial tag is held back. */
static int so_tag_in(cp_oai_resp_t *s, const char *t, size_t n)
{
    const size_t cl = sizeof(so_close_tag) - 1;
    const char *e;
    size_t keep = 0;
    int rc;

    cp_buf_add(&s->tag, t, n);
    e = memmem(s->tag.p, s->tag.len, so_close_tag, cl);
    if (e != NULL) {
        size_t before = (size_t)(e - s->tag.p);
        cp_buf_t rest = CP_BUF_INIT;

        rc = so_tag_emit(s, 1, s->tag.p, before);
        cp_buf_add(&rest, e + cl, s->tag.len - before - cl);
        cp_buf_free(&s->tag);
        s->tagst = TAG_AFTER;
        if (rc == CP_OK && rest.len > 0)
            rc = so_tagged(s, rest.p, rest.len);
        cp_buf_free(&rest);
        return rc;
    }
    for (size_t k = cl - 1; k > 0 && keep == 0; k--) /* a partial "</think>" at the end */
        if (k <= s->tag.len && memcmp(s->tag.p + s->tag.len - k, so_close_tag, k) == 0)
            keep = k;
    if (s->tag.len == keep)
        return CP_OK;
    rc = so_tag_emit(s, 1, s->tag.p, s->tag.len - keep);
    memmove(s->tag.p, s->tag.p + s->tag.len - keep, keep);
    s->tag.len = keep;
    s->tag.p[keep] = '\0';
    return rc;
}

/* Feeds content text through the <think>...</think> filter (a leading tag only; split anywhere). */
static int so_tagged(cp_oai_resp_t *s, const char *t, size_t n)
{
    switch (s->tagst) {
    case TAG_OFF:
        return cp_oair_text(s, SO_TEXT, t, n);
    case TAG_START:
        return so_tag_start(s, t, n);
    case TAG_IN:
        return so_tag_in(s, t, n);
    default: /* TAG_AFTER: the blanks after </think> are dropped */
        while (n > 0 && cp_jsonck_ws(*t)) {
            t++;
            n--;
        }
        if (n == 0)
            return CP_OK;
        s->tagst = TAG_OFF;
        return cp_oair_text(s, SO_TEXT, t, n);
    }
}

/* Ends the <think> filter at the end of the content: what it held is sent as what it was. */
int cp_oair_tag_flush(cp_oai_resp_t *s)
{
    cp_buf_t held = s->tag;
    int rc = CP_OK;

    cp_buf_init(&s->tag, 0);
    if (s->tagst == TAG_START && !cp_oair_blank(cp_buf_str(&held), held.len))
        s->tagst = TAG_OFF;
    if (held.len > 0)
        rc = so_tag_emit(s, s->tagst == TAG_IN, held.p, held.len);
    cp_buf_free(&held);
    return rc;
}

/* The text of a content part's "thinking" (Mistral Magistral: a string, or an array of text parts). */
static int so_part_thinking(cp_oai_resp_t *s, const json_t *th)
{
    const char *t;
    size_t n = 0, i;
    json_t *p; /* borrowed from th */

    if ((t = cp_json_str(th, &n)) != NULL)
        return cp_oair_text(s, SO_THINK, t, n);
    json_array_foreach(th, i, p)
    {
        if ((t = cp_json_str(json_object_get(p, "text"), &n)) != NULL &&
            cp_oair_text(s, SO_THINK, t, n) != CP_OK)
            return CP_ERR;
    }
    return CP_OK;
}

static int so_content(cp_oai_resp_t *s, const json_t *c)
{
    const char *t;
    size_t n = 0, i;
    json_t *p; /* borrowed from c */

    if ((t = cp_json_str(c, &n)) != NULL)
        return so_tagged(s, t, n);
    json_array_foreach(c, i, p) /* content parts: text, and thinking (Mistral) */
    {
        const json_t *type = json_object_get(p, "type"); /* borrowed from p */

        if (cp_json_streq(type, "text") && (t = cp_json_str(json_object_get(p, "text"), &n)) != NULL) {
            if (so_tagged(s, t, n) != CP_OK)
                return CP_ERR;
        } else if (cp_json_streq(type, "thinking") &&
                   so_part_thinking(s, json_object_get(p, "thinking")) != CP_OK) {
            return CP_ERR;
        }
    }
    return CP_OK;
}

static unsigned char so_fin_of(const char *f)
{
    if (strcmp(f, "stop") == 0)
        return FIN_STOP;
    if (strcmp(f, "length") == 0 || strcmp(f, "max_tokens") == 0)
        return FIN_LENGTH;
    if (strcmp(f, "tool_calls") == 0 || strcmp(f, "function_call") == 0)
        return FIN_TOOLS;
    if (strcmp(f, "content_filter") == 0)
        return FIN_FILTER;
    return FIN_OTHER;
}

/* The tool calls of a delta (or message), and the legacy function_call. */
static int so_calls(cp_oai_resp_t *s, const json_t *d)
{
    const json_t *calls = json_object_get(d, "tool_calls"); /* borrowed from d */
    const json_t *fc = json_object_get(d, "function_call"); /* borrowed from d */
    size_t base = s->ncalls, i;
    json_t *tc; /* borrowed from calls */

    if ((json_array_size(calls) > 0 || json_is_object(fc)) && cp_oair_tag_flush(s) != CP_OK)
        return CP_ERR; /* content held by the <think> filter comes before the calls */

    json_array_foreach(calls, i, tc)
    {
        if (json_is_object(tc) && cp_oair_tool(s, tc, json_object_get(tc, "function"), i, base) != CP_OK)
            return CP_ERR;
    }
    if (json_is_object(fc)) {                          /* the legacy functions API: one call */
        json_t *wrap = json_pack("{s:i}", "index", 0); /* owned */
        int rc = cp_oair_tool(s, wrap, fc, 0, base);

        json_decref(wrap);
        if (rc != CP_OK)
            return CP_ERR;
    }
    if ((json_array_size(calls) > 0 || json_is_object(fc)) && cp_oair_advance(s) != CP_OK)
        return CP_ERR;
    return CP_OK;
}

/* One delta (or a whole message): reasoning, content, refusal, tool calls, in that order. */
static int so_message(cp_oai_resp_t *s, const json_t *d)
{
    const char *t;
    size_t n = 0;

    if (so_reasoning(s, d) != CP_OK || so_content(s, json_object_get(d, "content")) != CP_OK)
        return CP_ERR;
    if ((t = cp_json_str(json_object_get(d, "refusal"), &n)) != NULL) {
        s->refusal = 1;
        if (cp_oair_tag_flush(s) != CP_OK || cp_oair_text(s, SO_TEXT, t, n) != CP_OK)
            return CP_ERR;
    }
    return so_calls(s, d);
}

static int so_choice(cp_oai_resp_t *s, const json_t *ch)
{
    const json_t *err = json_object_get(ch, "error"); /* borrowed from ch */
    const json_t *d = json_object_get(ch, "delta");   /* borrowed from ch */
    const char *f = cp_json_str(json_object_get(ch, "finish_reason"), NULL);

    if (json_is_null(err))
        err = NULL;
    if (err != NULL && (json_is_object(err) || json_is_string(err)))
        return so_inband(s, err);
    if (err != NULL || (f != NULL && strcmp(f, "error") == 0))
        return cp_oair_fail(s, 500, "api_error", "%s: the generation failed (finish_reason \"error\")",
                            cp_oair_prov(s));
    if (f != NULL && strcmp(f, "insufficient_system_resource") == 0) /* DeepSeek */
        return cp_oair_fail(s, 529, "overloaded_error",
                            "%s: insufficient system resources, the generation was cut short",
                            cp_oair_prov(s));
    if (!json_is_object(d))
        d = json_object_get(ch, "message"); /* a whole chat.completion: one big delta */
    if (json_is_object(d) && so_message(s, d) != CP_OK)
        return CP_ERR;
    if (f != NULL) {
        const char *vstop = cp_json_str(json_object_get(ch, "stop_reason"), NULL); /* vLLM: the stop string */

        s->fin = so_fin_of(f);
        s->have_fin = 1;
        free(s->stop_seq);
        s->stop_seq = vstop != NULL ? cp_xstrdup(vstop) : NULL;
        return cp_oair_settle(s);
    }
    return CP_OK;
}

static int so_chunk(cp_oai_resp_t *s, const json_t *j)
{
    const json_t *err = json_object_get(j, "error");       /* borrowed from j */
    const json_t *u = json_object_get(j, "usage");         /* borrowed from j */
    const json_t *choices = json_object_get(j, "choices"); /* borrowed from j */
    size_t i;
    json_t *ch; /* borrowed from choices */

    if (err != NULL && !json_is_null(err))
        return so_inband(s, err);
    if (json_is_object(u))
        so_usage(s, u);
    json_array_foreach(choices, i, ch)
    {
        const json_t *ci = json_object_get(ch, "index"); /* borrowed from ch */
        if (json_is_integer(ci) && json_integer_value(ci) != 0)
            continue; /* n > 1 is never asked for */
        if (so_choice(s, ch) != CP_OK)
            return CP_ERR;
    }
    if (json_is_array(choices) && json_array_size(choices) == 0 && json_is_object(u) && s->have_fin)
        return so_finalize(s); /* the usage chunk that follows the finish (include_usage) */
    return CP_OK;
}

/* An "event: error" (some servers name the event): its data is an error, whatever its shape. */
static int so_error_event(cp_oai_resp_t *s, const char *d, size_t n)
{
    json_t *j = cp_json_loadb(d, n, CP_JSON_PARSE, NULL); /* owned */
    int rc;

    if (json_is_object(j) && json_object_get(j, "error") == NULL) {
        rc = so_inband(s, j);
    } else if (json_is_object(j) || json_is_array(j)) {
        rc = json_is_object(j) ? so_chunk(s, j) : so_nonobject(s, j);
    } else {
        cp_err_t e;
        cp_prov_error(500, d, n, cp_oair_prov(s), &e);
        rc = cp_oair_fail_e(s, &e);
    }
    json_decref(j);
    return rc;
}

static int so_event(cp_oai_resp_t *s, const cp_sse_event_t *ev)
{
    const char *d = ev->data;
    size_t n = ev->data_len;
    json_t *j; /* owned */
    int rc;

    while (n > 0 && cp_jsonck_ws(d[0])) {
        d++;
        n--;
    }
    while (n > 0 && cp_jsonck_ws(d[n - 1]))
        n--;
    if (ev->event_len == 5 && memcmp(ev->event, "error", 5) == 0)
        return so_error_event(s, d, n);
    if (n == 0)
        return CP_OK; /* keep-alive */
    if (n == 6 && memcmp(d, "[DONE]", 6) == 0) {
        s->done = 1;
        return so_finalize(s);
    }
    j = cp_json_loadb(d, n, JSON_ALLOW_NUL | CP_JSON_PARSE, NULL);
    if (j == NULL)
        return so_not_json(s, d, n);
    rc = json_is_object(j) ? so_chunk(s, j) : so_nonobject(s, j);
    json_decref(j);
    return rc;
}

static const char *so_stop_reason(const cp_oai_resp_t *s)
{
    if (s->refusal)
        return "refusal";
    if (s->fin == FIN_LENGTH)
        return "max_tokens";
    if (s->fin == FIN_FILTER)
        return "refusal";
    if (s->tools_sent)
        return "tool_use"; /* also when Gemini ends a tool-call turn with "stop" */
    if (s->fin == FIN_STOP && s->stop_seq != NULL)
        return "stop_sequence";
    return "end_turn";
}

static int so_finalize(cp_oai_resp_t *s)
{
    const char *stop;

    if (cp_oair_begin(s) != CP_OK || cp_oair_tag_flush(s) != CP_OK || cp_oair_settle(s) != CP_OK)
        return CP_ERR;
    stop = so_stop_reason(s);
    if (cp_anth_out_message_delta(&s->w, s->out, stop,
                                  strcmp(stop, "stop_sequence") == 0 ? s->stop_seq : NULL, &s->u) != CP_OK ||
        cp_anth_out_message_stop(&s->w, s->out) != CP_OK)
        return CP_ERR;
    s->finished = 1;
    s->ok = 1;
    return CP_OK;
}

/* ---- public ---- */

cp_oai_resp_t *cp_oai_resp_new(const char *client_model, const cp_oai_names_t *names, const cp_oai_opts_t *o,
                               int64_t input_tokens, enum cp_anth_out_mode mode)
{
    cp_oai_resp_t *s = cp_xcalloc(1, sizeof(*s));

    cp_anth_out_init(&s->w, mode);
    s->names = names;
    s->o = o;
    s->model = cp_xstrdup(client_model != NULL ? client_model : "");
    s->in_est = input_tokens > 0 ? input_tokens : 0;
    s->u.input = s->in_est;
    cp_buf_init(&s->raw, SO_RAW_MAX);
    return s;
}

void cp_oai_resp_free(cp_oai_resp_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ncalls; i++) {
        free(s->calls[i].id);
        free(s->calls[i].name);
        cp_buf_free(&s->calls[i].js);
    }
    free(s->calls);
    cp_sse_free(s->sse);
    cp_buf_free(&s->raw);
    cp_buf_free(&s->hold);
    cp_buf_free(&s->tag);
    cp_buf_free(&s->notes);
    free(s->stop_seq);
    free(s->sig);
    free(s->model);
    free(s->err);
    free(s);
}

int cp_oai_resp_begin(cp_oai_resp_t *s, cp_buf_t *out)
{
    s->out = out;
    return cp_oair_begin(s);
}

/* Pulls and translates every complete event. */
static int so_drain(cp_oai_resp_t *s, int fed)
{
    cp_sse_event_t ev;
    int rc = CP_OK;

    while (!s->finished && (rc = cp_sse_next(s->sse, &ev)) == CP_OK)
        if (so_event(s, &ev) != CP_OK)
            return CP_ERR;
    if (s->finished)
        return s->ok ? CP_OK : CP_ERR;
    if (fed != CP_OK || rc == CP_ERR)
        return cp_oair_fail(s, 502, "api_error", "provider %s sent a stream event larger than %zu MiB",
                            cp_oair_prov(s), SO_EVENT_MAX >> 20);
    return CP_OK;
}

int cp_oai_resp_feed(cp_oai_resp_t *s, const char *p, size_t n, cp_buf_t *out)
{
    s->out = out;
    if (s->finished)
        return CP_OK; /* later bytes are ignored */
    if (cp_oair_begin(s) != CP_OK)
        return CP_ERR;
    if (s->mode == MODE_UNKNOWN) { /* the first non-blank byte tells an event stream from plain JSON */
        size_t k = 0;
        while (k < n && cp_jsonck_ws(p[k]))
            k++;
        if (k == n)
            return CP_OK; /* blank lines mean nothing in either */
        p += k;
        n -= k;
        s->mode = p[0] == '{' || p[0] == '[' ? MODE_RAW : MODE_SSE;
        if (s->mode == MODE_SSE)
            s->sse = cp_sse_new(SO_EVENT_MAX);
    }
    if (s->mode == MODE_RAW) {
        if (cp_buf_add(&s->raw, p, n) != CP_OK)
            return cp_oair_fail(s, 502, "api_error", "provider %s answered with more than %zu MiB of JSON",
                                cp_oair_prov(s), SO_RAW_MAX >> 20);
        return CP_OK;
    }
    return so_drain(s, cp_sse_feed(s->sse, p, n));
}

/* A whole body that is a JSON object: a chat.completion, or an error in a 200. */
static int so_whole(cp_oai_resp_t *s, const json_t *j)
{
    const json_t *err = json_object_get(j, "error"); /* borrowed from j */
    const json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    const json_t *cerr = json_object_get(ch, "error"); /* borrowed from j */
    const char *f = cp_json_str(json_object_get(ch, "finish_reason"), NULL);

    s->whole = 1;
    if (err != NULL && !json_is_null(err))
        return so_inband(s, err);
    if (!json_is_object(ch))
        return cp_oair_fail(s, 502, "api_error",
                            "provider %s returned an unexpected response (not a chat completion)",
                            cp_oair_prov(s));
    if ((cerr == NULL || json_is_null(cerr)) && (f == NULL || strcmp(f, "error") != 0) &&
        (f == NULL || strcmp(f, "insufficient_system_resource") != 0) &&
        !json_is_object(json_object_get(ch, "message")) && !json_is_object(json_object_get(ch, "delta")))
        return cp_oair_fail(s, 502, "api_error",
                            "provider %s returned an unexpected response (choice without a message)",
                            cp_oair_prov(s));
    return so_chunk(s, j);
}

/* The end of a plain-JSON body: a whole chat.completion (or an error). */
static int so_raw_end(cp_oai_resp_t *s)
{
    json_t *j = cp_json_loadb(s->raw.p, s->raw.len, JSON_ALLOW_NUL | CP_JSON_PARSE, NULL); /* owned */
    int rc;

    if (j == NULL) {
        s->eof = 0; /* the body is all here: report it as what it is */
        rc = so_not_json(s, cp_buf_str(&s->raw), s->raw.len);
    } else if (!json_is_object(j)) {
        s->whole = 1;
        rc = so_nonobject(s, j);
    } else {
        rc = so_whole(s, j);
    }
    json_decref(j);
    cp_buf_free(&s->raw);
    if (rc != CP_OK || s->finished)
        return s->ok ? CP_OK : CP_ERR;
    return so_finalize(s) == CP_OK ? CP_OK : CP_ERR;
}

int cp_oai_resp_end(cp_oai_resp_t *s, cp_buf_t *out)
{
    s->out = out;
    if (s->finished)
        return s->ok ? CP_OK : CP_ERR;
    if (cp_oair_begin(s) != CP_OK)
        return CP_ERR;
    s->eof = 1;
    if (s->mode == MODE_RAW)
        return so_raw_end(s);
    if (s->mode == MODE_UNKNOWN && s->w.mode == CP_ANTH_OUT_MESSAGE)
        return cp_oair_fail(s, 502, "api_error",
                            "provider %s returned a 200 answer that is not JSON (empty body)",
                            cp_oair_prov(s));
    if (s->sse != NULL && cp_sse_pending(s->sse) > 0 && so_drain(s, cp_sse_feed(s->sse, "\n\n", 2)) != CP_OK)
        return CP_ERR; /* the last event lacked its blank line */
    if (s->finished)
        return s->ok ? CP_OK : CP_ERR;
    if (!s->have_fin && !s->done)
        return cp_oair_fail(s, 502, "api_error", "provider %s stream ended before the answer finished",
                            cp_oair_prov(s));
    return so_finalize(s) == CP_OK ? CP_OK : CP_ERR;
}

int cp_oai_resp_whole(cp_oai_resp_t *s, const char *body, size_t len, cp_buf_t *out)
{
    s->out = out;
    if (s->finished)
        return s->ok ? CP_OK : CP_ERR;
    if (cp_oair_begin(s) != CP_OK)
        return CP_ERR;
    s->mode = MODE_RAW;
    s->whole = 1;
    if (len == 0)
        return cp_oair_fail(s, 502, "api_error",
                            "provider %s returned a 200 answer that is not JSON (empty body)",
                            cp_oair_prov(s));
    if (cp_buf_add(&s->raw, body, len) != CP_OK)
        return cp_oair_fail(s, 502, "api_error", "provider %s answered with more than %zu MiB of JSON",
                            cp_oair_prov(s), SO_RAW_MAX >> 20);
    return cp_oai_resp_end(s, out);
}

void cp_oai_resp_fail(cp_oai_resp_t *s, const cp_err_t *e, cp_buf_t *out)
{
    s->out = out;
    cp_oair_fail_e(s, e);
}

int cp_oai_resp_finished(const cp_oai_resp_t *s)
{
    return s->finished;
}

const cp_err_t *cp_oai_resp_error(const cp_oai_resp_t *s)
{
    return s->finished && !s->ok ? s->err : NULL;
}

const char *cp_oai_resp_notes(const cp_oai_resp_t *s)
{
    return s->notes.len > 0 ? s->notes.p : NULL;
}

json_t *cp_oai_response(const json_t *oai, const char *client_model, const cp_oai_names_t *names,
                        const cp_oai_opts_t *o, cp_err_t *e)
{
    cp_oai_resp_t *s = cp_oai_resp_new(client_model, names, o, 0, CP_ANTH_OUT_MESSAGE);
    cp_buf_t out = CP_BUF_INIT;
    json_t *msg = NULL; /* owned; returned */

    s->out = &out;
    if (cp_oair_begin(s) == CP_OK) {
        s->eof = 1;
        s->whole = 1;
        if (!json_is_object(oai) ? so_nonobject(s, oai) == CP_OK : so_whole(s, oai) == CP_OK)
            if (!s->finished)
                so_finalize(s);
    }
    if (s->ok)
        msg = json_loadb(out.p, out.len, 0, NULL);
    if (msg == NULL && e != NULL) {
        if (s->err != NULL)
            *e = *s->err;
        else /* cannot happen: the writer writes valid JSON into an unlimited buffer */
            cp_err_set(e, 500, "api_error", "cannot build the response message");
    }
    cp_buf_free(&out);
    cp_oai_resp_free(s);
    return msg;
}

int cp_oai_resp_usage(const cp_oai_resp_t *s, cp_anth_usage_t *out)
{
    *out = s->u;
    return s->got_usage;
}
