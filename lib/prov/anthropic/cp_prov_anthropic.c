/* lib/prov/anthropic/cp_prov_anthropic.c: the Anthropic Messages adapter (cp_prov.h): passthrough.
 *
 * The request goes to <baseURL>/v1/messages[/count_tokens] ("/v1" is not doubled) with the upstream
 * model name and the provider's key (never the client's), anthropic-version and anthropic-beta
 * forwarded. The answer is relayed: a stream byte for byte (ending once message_stop went through,
 * so an upstream that keeps its connection open does not hold the client), a whole answer with its
 * status. A streaming client answered with a whole Message still gets an event stream; an error body
 * that is not an Anthropic error envelope is mapped like any upstream error (cp_prov_err.h). */
#include "cp_prov_anthropic.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cp_anth_out.h"
#include "cp_json.h"
#include "cp_prov_err.h"
#include "cp_sse.h"
#include "cp_url.h"

#define ANT_TAIL      24         /* bytes kept to find "message_stop" across two pieces */
#define ANT_EVENT_MAX (4u << 20) /* the largest relayed event read for its usage (larger: not read) */

typedef struct ant_state {
    cp_prov_args_t a;    /* borrowed (see cp_prov_args_t) */
    char ctype[128];     /* the answer's content type */
    char tail[ANT_TAIL]; /* the last bytes relayed (until message_stop is seen) */
    size_t tail_len;
    char end[4];            /* the last 4 bytes relayed, to tell an event boundary */
    char why[160];          /* why the stream failed, for the log */
    cp_sse_t *sse;          /* owned: reads the relayed stream for its usage; NULL once it failed */
    cp_anth_usage_t u;      /* the usage the upstream reported */
    unsigned clean : 1;     /* the bytes relayed so far end at an event boundary */
    unsigned stop : 1;      /* "message_stop" went through */
    unsigned got_usage : 1; /* <u> holds what the upstream reported */
} ant_state_t;

static int ant_key_required(const cp_provider_t *p)
{
    return cp_url_host_is(p->base_url, "api.anthropic.com");
}

static int ant_start(const cp_prov_args_t *a, json_t *anth, void **stp, cp_upreq_t *req,
                     cp_prov_reply_t *reply, cp_err_t *e)
{
    ant_state_t *st = cp_xcalloc(1, sizeof(*st));
    const cp_provider_t *p = a->prov;
    const char *path = cp_url_path_ends_with(p->base_url, "/v1") ? "/messages" : "/v1/messages";
    (void)reply;
    *stp = st;
    st->a = *a;
    st->clean = 1;
    json_object_set_new(anth, "model", json_string(a->upstream_model));
    if (cp_upreq_json_body(req, anth) != CP_OK)
        return cp_err_set(e, 400, "invalid_request_error", "request could not be encoded for provider %s",
                          p->name);
    req->url = cp_url_join(p->base_url, path, a->kind == CP_ANTH_COUNT_TOKENS ? "/count_tokens" : NULL);
    cp_upreq_header(req, "Content-Type", "application/json");
    cp_upreq_header(req, "Accept", "application/json");
    cp_upreq_header(req, "anthropic-version",
                    a->anthropic_version != NULL ? a->anthropic_version : "2023-06-01");
    if (a->anthropic_beta != NULL)
        cp_upreq_header(req, "anthropic-beta", a->anthropic_beta);
    if (a->api_key != NULL)
        cp_upreq_header(req, "x-api-key", a->api_key); /* never the client's key */
    cp_upreq_header(req, "User-Agent", "ccproxy/" CP_VERSION);
    cp_upreq_extra_headers(req, p);
    return CP_OK;
}

static int ant_head(void *stp, long status, const char *ctype)
{
    ant_state_t *st = stp;

    snprintf(st->ctype, sizeof(st->ctype), "%s", ctype != NULL ? ctype : "application/json");
    if (st->a.client_stream && status >= 200 && status < 300 && ctype != NULL &&
        strncasecmp(ctype, "text/event-stream", 17) == 0)
        return CP_PROV_STREAM;
    return CP_PROV_COLLECT;
}

static int ant_stream_begin(void *stp, cp_buf_t *out)
{
    ant_state_t *st = stp;

    (void)out;
    st->sse = cp_sse_new(ANT_EVENT_MAX);
    return CP_OK;
}

/* Reads the token counts of a "usage" object <u> (a message's or a message_delta's) into st->u: the
 * fields present replace the ones known (a message_delta carries the final output count, and may
 * carry the input counts again). */
static void ant_usage_read(ant_state_t *st, const json_t *u)
{
    static const struct {
        const char *name;
        size_t off;
    } f[] = {{"input_tokens", offsetof(cp_anth_usage_t, input)},
             {"output_tokens", offsetof(cp_anth_usage_t, output)},
             {"cache_read_input_tokens", offsetof(cp_anth_usage_t, cache_read)},
             {"cache_creation_input_tokens", offsetof(cp_anth_usage_t, cache_write)}};

    if (!json_is_object(u))
        return;
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        const json_t *v = json_object_get(u, f[i].name);
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            *(long long *)(void *)((char *)&st->u + f[i].off) = (long long)json_integer_value(v);
            st->got_usage = 1;
        }
    }
}

/* Follows the relayed stream's message_start and message_delta events for their usage. */
static void ant_usage_scan(ant_state_t *st, const char *p, size_t n)
{
    cp_sse_event_t ev;
    int rc;

    if (st->sse == NULL)
        return;
    if (cp_sse_feed(st->sse, p, n) != CP_OK) { /* an event too large to read: the relay goes on */
        cp_sse_free(st->sse);
        st->sse = NULL;
        return;
    }
    while ((rc = cp_sse_next(st->sse, &ev)) == CP_OK) {
        int start = ev.event_len == 13 && memcmp(ev.event, "message_start", 13) == 0;
        json_t *j; /* owned */
        if (!start && !(ev.event_len == 13 && memcmp(ev.event, "message_delta", 13) == 0))
            continue;
        j = json_loadb(ev.data, ev.data_len, 0, NULL);
        ant_usage_read(st, json_object_get(start ? json_object_get(j, "message") : j, "usage"));
        json_decref(j);
    }
}

/* True when <s> (<n> bytes) holds the message_stop event: its data is the only JSON whose "type" is
 * "message_stop" (inside a string a quote is escaped, so text that merely mentions it cannot match). */
static int ant_has_stop(const char *s, size_t n)
{
    static const char a[] = "\"type\":\"message_stop\"", b[] = "\"type\": \"message_stop\"";

    return memmem(s, n, a, sizeof(a) - 1) != NULL || memmem(s, n, b, sizeof(b) - 1) != NULL;
}

/* Notes whether the relayed stream carried message_stop (the pattern may straddle two pieces). */
static void ant_scan(ant_state_t *st, const char *p, size_t n)
{
    char joint[2 * ANT_TAIL];
    size_t head = n < ANT_TAIL ? n : ANT_TAIL;

    if (st->stop)
        return;
    memcpy(joint, st->tail, st->tail_len);
    memcpy(joint + st->tail_len, p, head);
    if (ant_has_stop(joint, st->tail_len + head) || ant_has_stop(p, n)) {
        st->stop = 1;
        return;
    }
    if (n >= ANT_TAIL) {
        memcpy(st->tail, p + n - ANT_TAIL, ANT_TAIL);
        st->tail_len = ANT_TAIL;
    } else {
        size_t keep = st->tail_len + n > ANT_TAIL ? ANT_TAIL - n : st->tail_len;
        memmove(st->tail, st->tail + st->tail_len - keep, keep);
        memcpy(st->tail + keep, p, n);
        st->tail_len = keep + n;
    }
}

/* True when the bytes relayed so far, ending with <p> (<n> bytes), end with a blank line (LF LF,
 * CR LF CR LF or CR CR: an event boundary), whatever the split. */
static int ant_at_boundary(ant_state_t *st, const char *p, size_t n)
{
    char *e = st->end;

    if (n >= 4) {
        memcpy(e, p + n - 4, 4);
    } else {
        memmove(e, e + n, 4 - n);
        memcpy(e + 4 - n, p, n);
    }
    return (e[2] == '\n' && e[3] == '\n') || (e[2] == '\r' && e[3] == '\r') ||
           (e[0] == '\r' && e[1] == '\n' && e[2] == '\r' && e[3] == '\n');
}

static int ant_stream_feed(void *stp, const char *p, size_t n, cp_buf_t *out)
{
    ant_state_t *st = stp;

    if (cp_buf_add(out, p, n) != CP_OK)
        return CP_ERR;
    ant_usage_scan(st, p, n);
    ant_scan(st, p, n);
    st->clean = ant_at_boundary(st, p, n);
    /* complete: do not wait for an upstream that keeps its connection open */
    return st->stop && st->clean ? CP_PROV_DONE : CP_OK;
}

static int ant_stream_end(void *stp, const cp_err_t *e, cp_buf_t *out)
{
    ant_state_t *st = stp;
    cp_anth_out_t w;
    cp_err_t trunc;

    if (e == NULL && st->stop)
        return CP_OK;
    if (e == NULL) {
        cp_err_set(&trunc, 502, "api_error", "provider %s ended its stream before message_stop",
                   st->a.prov->name);
        e = &trunc;
    }
    snprintf(st->why, sizeof(st->why), "%.*s", (int)sizeof(st->why) - 1, e->msg);
    if (!st->clean)
        CP_BUF_LIT(out, "\n\n"); /* end the relayed event that was cut short */
    cp_anth_out_init(&w, CP_ANTH_OUT_SSE);
    cp_anth_out_error(&w, out, e);
    return CP_ERR;
}

static int ant_stream_idle(const void *stp)
{
    const ant_state_t *st = stp;

    return st->clean; /* never inside a relayed event that is still arriving */
}

/* A 2xx body the client may get as it is: a whole Message (or, for count_tokens, {"input_tokens": N}). */
static int ant_answer_ok(const ant_state_t *st, const json_t *j)
{
    if (!json_is_object(j))
        return 0;
    if (st->a.kind == CP_ANTH_COUNT_TOKENS)
        return json_is_integer(json_object_get(j, "input_tokens"));
    return cp_json_streq(json_object_get(j, "type"), "message") &&
           json_is_array(json_object_get(j, "content"));
}

static int ant_finish(void *stp, long status, const char *body, size_t len, cp_prov_reply_t *reply,
                      cp_upreq_t *req, cp_err_t *e)
{
    ant_state_t *st = stp;
    json_error_t jerr;
    json_t *j = len > 0 ? cp_json_loadb(body, len, CP_JSON_PARSE, &jerr) : NULL; /* owned */
    int ok = status >= 200 && status < 300;
    /* invalid UTF-8 inside an otherwise whole answer is relayed as it is, like a stream's bytes
     * (docs/protocol-notes.md); a cut body, HTML or JSON that is no answer is not */
    int raw_utf8 = j == NULL && len > 0 && json_error_code(&jerr) == json_error_invalid_utf8;

    (void)req;
    cp_buf_init(&reply->body, 0);
    if (ok && st->a.kind == CP_ANTH_MESSAGES && json_is_object(j))
        ant_usage_read(st, json_object_get(j, "usage"));
    if (ok && st->a.client_stream && json_is_object(j) &&
        cp_json_streq(json_object_get(j, "type"), "message")) {
        /* a streaming request answered with a whole Message: the client still gets an event stream */
        int rc = cp_anth_out_message_events(&reply->body, j);
        json_decref(j);
        if (rc != CP_OK) {
            cp_buf_free(&reply->body);
            return cp_err_set(e, 500, "api_error", "ccproxy could not encode the answer");
        }
        reply->status = 200;
        reply->ctype = "text/event-stream";
        return CP_OK;
    }
    if (ok && !raw_utf8 && !ant_answer_ok(st, j)) { /* HTML, a cut body, or JSON that is not an answer */
        json_decref(j);
        cp_buf_free(&reply->body);
        cp_err_set(e, 502, "api_error", "provider %s returned a 200 answer that is not %s: \"%.*s\"",
                   st->a.prov->name,
                   st->a.kind == CP_ANTH_COUNT_TOKENS ? "a token count" : "an Anthropic Message",
                   (int)(len < 120 ? len : 120), body);
        cp_prov_scrub_err(st->a.prov, e);
        return CP_ERR;
    }
    if (ok || (json_is_object(j) && json_is_object(json_object_get(j, "error")))) {
        json_decref(j);
        cp_buf_add(&reply->body, body, len);
        if (!ok) /* an error envelope may quote the key the upstream refused */
            cp_prov_scrub(st->a.prov, &reply->body);
        reply->status = (int)status;
        reply->ctype = ok ? st->ctype : "application/json";
        return CP_OK;
    }
    json_decref(j);
    cp_buf_free(&reply->body);
    cp_prov_error(status, body, len, st->a.prov->name, e); /* same wording as every adapter */
    cp_prov_scrub_err(st->a.prov, e);
    return CP_ERR;
}

static const char *ant_notes(const void *stp)
{
    const ant_state_t *st = stp;

    return st->why[0] != '\0' ? st->why : NULL;
}

static int ant_usage(const void *stp, cp_anth_usage_t *out)
{
    const ant_state_t *st = stp;

    if (st == NULL || !st->got_usage)
        return 0;
    *out = st->u;
    return 1;
}

static void ant_free(void *stp)
{
    ant_state_t *st = stp;

    if (st != NULL)
        cp_sse_free(st->sse);
    free(st);
}

const cp_prov_ops_t cp_prov_anthropic = {
    .name = "anthropic",
    .key_required = ant_key_required,
    .start = ant_start,
    .head = ant_head,
    .stream_begin = ant_stream_begin,
    .stream_feed = ant_stream_feed,
    .stream_end = ant_stream_end,
    .stream_idle = ant_stream_idle,
    .finish = ant_finish,
    .notes = ant_notes,
    .usage = ant_usage,
    .free = ant_free,
};
