/* lib/cp_exchange.c: see cp_exchange.h.
 *
 * States: the client half is live until cp_front_req_reply/_error was called or the client left
 * (exchange_on_gone); the upstream half until on_done ran or the transfer was cancelled. Callbacks
 * only record and release halves; the exchange is freed from its own zero-delay event once both are
 * released (style.md 2.8), so no callback frees the object that delivered it.
 *
 * Streaming requests: the upstream is asked to stream too. Nothing is sent to the client until the
 * upstream status is known; a non-2xx becomes a plain Anthropic error response. On a 2xx event stream
 * the reply starts and each piece of upstream body is translated (cp_oai_stream) or, for
 * anthropic-style providers, relayed byte for byte. Backpressure: above server.streamBufferBytes of
 * output the client has not taken, the transfer is paused (on_body returns CP_AGAIN, curl keeps the
 * bytes) and resumed from the front's drain callback. A ping event goes out whenever the stream has been
 * silent for server.pingIntervalSeconds, so no idle timeout fires during a long think. Any failure after
 * the reply started is an "event: error", never a stream that looks complete. A 2xx that is not an
 * event stream (a server that ignored "stream") is collected and turned into one
 * (cp_anth_message_sse). */
#include "cp_exchange.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "cp_log.h"
#include "cp_oai.h"
#include "cp_oai_stream.h"
#include "cp_tok.h"
#include "cp_up.h"

#define EX_ERROR_BODY_MAX (64u * 1024u) /* what we keep of a non-2xx upstream body */
#define EX_BODY_MAX       (256u << 20)  /* largest upstream answer we accept */
#define EX_HALF_CLIENT    1u
#define EX_HALF_UPSTREAM  2u

typedef struct exchange {
    cp_front_req_t *fr; /* NULL once replied or gone */
    cp_xfer_t *xfer;    /* NULL once done or cancelled */
    cp_config_t *cfg;   /* own reference: the provider below lives in it */
    const cp_provider_t *prov;
    char model[CP_ROUTE_MODEL_MAX]; /* the client's model, echoed in answers */
    char upstream_model[CP_ROUTE_MODEL_MAX];
    char rid[CP_REQ_ID_LEN + 1];
    enum cp_anth_kind kind;
    unsigned client_stream : 1; /* the client asked for SSE */
    unsigned live;              /* EX_HALF_* still held */
    cp_oai_opts_t oo;
    cp_oai_names_t *names;
    cp_up_t *up;   /* borrowed */
    char *up_json; /* openai style: the Chat Completions body as sent, kept for one capped retry; owned */
    unsigned retried : 1;
    unsigned streaming : 1;   /* the streamed reply started */
    unsigned relay : 1;       /* anthropic style: body bytes go to the client as they are */
    unsigned paused : 1;      /* we paused the transfer: client output above the high-water mark */
    unsigned in_curl : 1;     /* inside on_head/on_body: the transfer must not be removed now */
    unsigned relay_clean : 1; /* relay: the bytes sent so far end at an event boundary */
    unsigned relay_stop : 1;  /* relay: "message_stop" went through */
    char relay_tail[24];      /* relay: the last bytes sent, to find message_stop across pieces */
    size_t relay_tail_len;
    cp_oai_stream_t *st;    /* openai style, streaming */
    int64_t input_estimate; /* message_start's input_tokens until the upstream reports usage */
    char *out;              /* translated output waiting to be written */
    size_t out_len, out_cap;
    struct event *ping;
    const struct timeval *ping_tv; /* the base's common timeout for ping_interval_s */
    struct timeval ping_store;     /* used when no common timeout could be made */
    long status;
    char *buf; /* upstream body */
    size_t len, cap;
    size_t limit;
    struct event *reap;
    LIST_ENTRY(exchange) link; /* in ex_all */
} exchange_t;

static unsigned ex_live_count;
static LIST_HEAD(, exchange) ex_all = LIST_HEAD_INITIALIZER(ex_all); /* every live exchange */

static int ex_retry_capped(exchange_t *x);
static void ex_release(exchange_t *x, unsigned half);

unsigned cp_exchange_live(void)
{
    return ex_live_count;
}

void cp_exchange_cancel_all(void)
{
    exchange_t *x;

    LIST_FOREACH(x, &ex_all, link)
    {
        if (x->xfer != NULL) {
            cp_up_cancel(x->xfer);
            x->xfer = NULL;
            if (x->live & EX_HALF_UPSTREAM)
                ex_release(x, EX_HALF_UPSTREAM);
        }
    }
}

/* ---- lifetime ------------------------------------------------------------------------------- */

static void ex_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    exchange_t *x = arg;

    (void)fd;
    (void)what;
    event_free(x->reap);
    x->reap = NULL;
    cp_oai_stream_free(x->st);
    x->st = NULL;
    if (x->ping != NULL)
        event_free(x->ping);
    x->ping = NULL;
    free(x->out);
    x->out = NULL;
    cp_oai_names_free(x->names);
    x->names = NULL;
    free(x->up_json);
    x->up_json = NULL;
    cp_config_unref(x->cfg);
    x->cfg = NULL;
    free(x->buf);
    x->buf = NULL;
    LIST_REMOVE(x, link);
    free(x);
    ex_live_count--;
}

/* Called when one side is definitively finished with <x>. Never frees synchronously. */
static void ex_release(exchange_t *x, unsigned half)
{
    x->live &= ~half;
    if (x->live == 0)
        event_active(x->reap, EV_TIMEOUT, 0);
}

static void ex_error(exchange_t *x, const cp_err_t *e, const char *const *extra)
{
    cp_front_req_t *fr = x->fr;

    if (fr == NULL)
        return;
    x->fr = NULL;
    if (e->http_status >= 500)
        cp_log_j(CP_LOG_WARN, "upstream error",
                 json_pack("{s:s,s:s,s:i,s:s}", "rid", x->rid, "provider", x->prov->name, "status",
                           e->http_status, "error", e->msg));
    cp_front_req_error(fr, e, extra);
    ex_release(x, EX_HALF_CLIENT);
}

static void ex_reply(exchange_t *x, int status, const char *ctype, const char *body, size_t len,
                     const char *const *extra)
{
    cp_front_req_t *fr = x->fr;

    if (fr == NULL)
        return;
    x->fr = NULL;
    cp_front_req_reply(fr, status, ctype, body, len, extra);
    ex_release(x, EX_HALF_CLIENT);
}

/* Replies with an Anthropic Message: as JSON, or as the event stream the client asked for. Takes <msg>. */
static void ex_reply_message(exchange_t *x, json_t *msg)
{
    char *s = x->client_stream ? cp_anth_message_sse(msg) : json_dumps(msg, JSON_COMPACT);
    static const char *const sse_hdr[] = {"Cache-Control", "no-cache", NULL};

    json_decref(msg);
    if (s == NULL) {
        cp_err_t e;
        cp_err_set(&e, 500, "api_error", "ccproxy could not encode the answer");
        ex_error(x, &e, NULL);
        return;
    }
    if (x->client_stream)
        ex_reply(x, 200, "text/event-stream", s, strlen(s), sse_hdr);
    else
        ex_reply(x, 200, "application/json", s, strlen(s), NULL);
    free(s);
}

/* The client left: drop the upstream at once (abandoned generations cost money). Inside a curl
 * callback the transfer cannot be removed: on_body then fails it instead (it sees fr == NULL). */
static void ex_on_gone(void *ud)
{
    exchange_t *x = ud;

    x->fr = NULL;
    if (x->ping != NULL)
        evtimer_del(x->ping);
    if (x->xfer != NULL && !x->in_curl) {
        cp_up_cancel(x->xfer);
        x->xfer = NULL;
        ex_release(x, EX_HALF_UPSTREAM);
    }
    ex_release(x, EX_HALF_CLIENT);
}

/* ---- upstream callbacks --------------------------------------------------------------------- */

/* ---- streaming ------------------------------------------------------------------------------ */

static const char ex_ping_event[] = "event: ping\ndata: {\"type\": \"ping\"}\n\n";

static void ex_ping_arm(exchange_t *x)
{
    if (x->ping != NULL)
        evtimer_add(x->ping, x->ping_tv); /* re-adding a pending timer moves it */
}

/* Sends what the translator produced. */
static void ex_flush(exchange_t *x)
{
    if (x->out_len == 0 || x->fr == NULL)
        return;
    cp_front_req_stream_write(x->fr, x->out, x->out_len);
    x->out_len = 0;
    ex_ping_arm(x);
}

/* cp_emit_fn of the translator: collect, ex_flush() sends once per upstream piece. */
static int ex_emit(void *ud, const char *p, size_t n)
{
    exchange_t *x = ud;

    if (x->out_len + n > x->out_cap) {
        x->out_cap = (x->out_len + n) * 2;
        x->out = cp_xrealloc(x->out, x->out_cap);
    }
    memcpy(x->out + x->out_len, p, n);
    x->out_len += n;
    return CP_OK;
}

static void ex_ping_cb(evutil_socket_t fd, short what, void *arg)
{
    exchange_t *x = arg;

    (void)fd;
    (void)what;
    if (x->fr == NULL || !x->streaming)
        return;
    if (!x->relay || x->relay_clean) { /* never inside a relayed event that is still arriving */
        cp_front_req_stream_write(x->fr, ex_ping_event, sizeof(ex_ping_event) - 1);
    }
    ex_ping_arm(x);
}

/* Ends the streamed reply (the client half is released). */
static void ex_stream_end(exchange_t *x)
{
    cp_front_req_t *fr = x->fr;

    if (x->ping != NULL)
        evtimer_del(x->ping);
    if (fr == NULL)
        return;
    ex_flush(x);
    x->fr = NULL;
    cp_front_req_stream_end(fr);
    ex_release(x, EX_HALF_CLIENT);
}

/* After the reply started: reports <e> as an "event: error" and ends the reply. */
static void ex_stream_fail(exchange_t *x, const cp_err_t *e)
{
    if (x->fr == NULL)
        return;
    cp_log_j(CP_LOG_WARN, "stream failed after it started",
             json_pack("{s:s,s:s,s:s}", "rid", x->rid, "provider", x->prov->name, "error", e->msg));
    if (x->st != NULL) {
        cp_oai_stream_fail(x->st, e);
    } else {
        char *ev = cp_oai_stream_error_event(e);
        if (!x->relay_clean)
            ex_emit(x, "\n\n", 2); /* end the relayed event that was cut short */
        ex_emit(x, ev, strlen(ev));
        free(ev);
    }
    ex_stream_end(x);
}

/* The front drained the client's output: resume a paused transfer (may deliver bytes right away). */
static void ex_on_drain(void *ud)
{
    exchange_t *x = ud;

    if (x->paused && x->xfer != NULL) {
        x->paused = 0;
        cp_xfer_resume(x->xfer);
    }
}

static int ex_is_event_stream(const char *ctype)
{
    return ctype != NULL && strncasecmp(ctype, "text/event-stream", 17) == 0;
}

/* The upstream answered 2xx with an event stream to a streaming request: start the reply. */
static int ex_stream_begin(exchange_t *x)
{
    x->streaming = 1;
    x->relay = x->prov->style == CP_STYLE_ANTHROPIC;
    x->relay_clean = 1;
    x->ping = evtimer_new(cp_up_base(x->up), ex_ping_cb, x);
    {
        /* thousands of streams share one interval: a common-timeout queue makes re-arming O(1) */
        struct timeval tv = {(time_t)x->cfg->ping_interval_s, 0};
        x->ping_tv = event_base_init_common_timeout(cp_up_base(x->up), &tv);
        if (x->ping_tv == NULL) {
            x->ping_store = tv;
            x->ping_tv = &x->ping_store;
        }
    }
    cp_front_req_stream_start(x->fr, "text/event-stream", ex_on_drain, x);
    if (!x->relay) {
        x->st = cp_oai_stream_new(x->model, x->names, &x->oo, x->input_estimate, ex_emit, x);
        if (cp_oai_stream_begin(x->st) != CP_OK)
            return CP_ERR;
    }
    ex_flush(x);
    ex_ping_arm(x);
    return CP_OK;
}

/* True when <s> (<n> bytes) holds the message_stop event: its data is the only JSON whose "type" is
 * "message_stop" (inside a string a quote is escaped, so text that merely mentions it cannot match). */
static int ex_has_stop(const char *s, size_t n)
{
    static const char a[] = "\"type\":\"message_stop\"", b[] = "\"type\": \"message_stop\"";

    return memmem(s, n, a, sizeof(a) - 1) != NULL || memmem(s, n, b, sizeof(b) - 1) != NULL;
}

/* Notes whether the relayed stream carried message_stop (the pattern may straddle two pieces). */
static void ex_relay_scan(exchange_t *x, const char *p, size_t n)
{
    const size_t keep_max = sizeof(x->relay_tail);
    char joint[2 * sizeof(x->relay_tail)];
    size_t head = n < keep_max ? n : keep_max;

    if (x->relay_stop)
        return;
    memcpy(joint, x->relay_tail, x->relay_tail_len);
    memcpy(joint + x->relay_tail_len, p, head);
    if (ex_has_stop(joint, x->relay_tail_len + head) || ex_has_stop(p, n)) {
        x->relay_stop = 1;
        return;
    }
    if (n >= keep_max) {
        memcpy(x->relay_tail, p + n - keep_max, keep_max);
        x->relay_tail_len = keep_max;
    } else {
        size_t keep = x->relay_tail_len + n > keep_max ? keep_max - n : x->relay_tail_len;
        memmove(x->relay_tail, x->relay_tail + x->relay_tail_len - keep, keep);
        memcpy(x->relay_tail + keep, p, n);
        x->relay_tail_len = keep + n;
    }
}

/* One piece of a streamed 2xx body. */
static int ex_stream_body(exchange_t *x, const char *p, size_t n)
{
    int rc = CP_OK;

    if (x->fr == NULL)
        return CP_ERR; /* the client left: abort the transfer */
    if (cp_front_req_pending(x->fr) >= x->cfg->stream_buffer_bytes) {
        x->paused = 1; /* curl keeps these bytes and offers them again after cp_xfer_resume */
        return CP_AGAIN;
    }
    if (x->relay) {
        cp_front_req_stream_write(x->fr, p, n);
        ex_relay_scan(x, p, n);
        x->relay_clean = n >= 2 && p[n - 1] == '\n' && p[n - 2] == '\n';
        if (x->relay_stop && x->relay_clean) {
            ex_stream_end(x); /* complete: do not wait for an upstream that keeps its connection open */
            return CP_ERR;    /* ... and drop that transfer */
        }
        ex_ping_arm(x);
        return CP_OK;
    }
    rc = cp_oai_stream_feed(x->st, p, n);
    ex_flush(x);
    if (rc != CP_OK || cp_oai_stream_finished(x->st)) {
        ex_stream_end(x); /* an error event went out, or the answer is complete */
        return rc == CP_OK ? CP_OK : CP_ERR;
    }
    return CP_OK;
}

static int ex_on_head(void *ud, cp_xfer_t *xf, long status)
{
    exchange_t *x = ud;
    int rc = CP_OK;

    x->status = status;
    x->limit = (status >= 200 && status < 300) ? EX_BODY_MAX : EX_ERROR_BODY_MAX;
    if (x->fr == NULL)
        return CP_ERR;
    if (status >= 200 && status < 300) {
        free(x->up_json); /* kept only for a capped retry after a 400 */
        x->up_json = NULL;
    }
    if (x->client_stream && status >= 200 && status < 300 &&
        ex_is_event_stream(cp_xfer_header(xf, "content-type"))) {
        x->in_curl = 1;
        rc = ex_stream_begin(x);
        x->in_curl = 0;
    }
    return rc;
}

static int ex_on_body(void *ud, cp_xfer_t *xf, const char *p, size_t n)
{
    exchange_t *x = ud;

    if (x->streaming) {
        int rc;
        x->in_curl = 1;
        rc = ex_stream_body(x, p, n);
        x->in_curl = 0;
        return rc;
    }
    if (x->len + n > x->limit) {
        if (x->status >= 200 && x->status < 300) {
            cp_err_t e;
            cp_err_set(&e, 502, "api_error", "provider %s sent an answer larger than %zu bytes",
                       x->prov->name, x->limit);
            cp_xfer_fail(xf, &e);
            return CP_ERR;
        }
        n = x->limit - x->len; /* an error body: keep its start, drop the rest */
    }
    if (x->len + n + 1 > x->cap) {
        x->cap = (x->len + n + 1) * 2;
        if (x->cap > x->limit + 1)
            x->cap = x->limit + 1;
        x->buf = cp_xrealloc(x->buf, x->cap);
    }
    memcpy(x->buf + x->len, p, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return CP_OK;
}

/* Copies retry-after headers of the upstream answer into <hdr> (NULL-terminated name/value pairs). */
static void ex_retry_headers(cp_xfer_t *xf, const char **hdr, size_t cap)
{
    static const char *const names[] = {"retry-after", "retry-after-ms"};
    size_t n = 0;

    for (size_t i = 0; i < 2 && n + 2 < cap; i++) {
        const char *v = cp_xfer_header(xf, names[i]);
        if (v != NULL) {
            hdr[n++] = names[i];
            hdr[n++] = v;
        }
    }
    hdr[n] = NULL;
}

/* anthropic style: relay the answer with its status; a non-JSON error body becomes the envelope. */
static void ex_done_anthropic(exchange_t *x, cp_xfer_t *xf)
{
    const char *ctype = cp_xfer_header(xf, "content-type");
    const char *hdr[8];
    json_t *j; /* owned */

    ex_retry_headers(xf, hdr, 8);
    if (x->status >= 200 && x->status < 300) {
        /* a streaming request answered with a whole Message: the client still gets an event stream */
        j = x->client_stream && x->len ? json_loadb(x->buf, x->len, 0, NULL) : NULL;
        if (json_is_object(j) && json_is_string(json_object_get(j, "type")) &&
            strcmp(json_string_value(json_object_get(j, "type")), "message") == 0) {
            ex_reply_message(x, j);
            return;
        }
        json_decref(j);
        ex_reply(x, (int)x->status, ctype ? ctype : "application/json", x->buf ? x->buf : "", x->len, hdr);
        return;
    }
    j = x->len ? json_loadb(x->buf, x->len, 0, NULL) : NULL;
    if (json_is_object(j) && json_is_object(json_object_get(j, "error"))) {
        json_decref(j);
        ex_reply(x, (int)x->status, "application/json", x->buf, x->len, hdr);
        return;
    }
    json_decref(j);
    {
        cp_err_t e;
        cp_oai_error(x->status, x->buf, x->len, x->prov->name, &e); /* same wording as openai style */
        ex_error(x, &e, hdr);
    }
}

static void ex_done_openai(exchange_t *x, cp_xfer_t *xf)
{
    const char *hdr[8];
    cp_err_t e = {0};
    json_t *oai, *msg; /* owned */
    json_error_t jerr;

    ex_retry_headers(xf, hdr, 8);
    if (x->status < 200 || x->status >= 300) {
        cp_oai_error(x->status, x->buf, x->len, x->prov->name, &e);
        ex_error(x, &e, hdr);
        return;
    }
    oai = x->len ? json_loadb(x->buf, x->len, JSON_DECODE_ANY, &jerr) : NULL;
    if (oai == NULL) {
        cp_err_set(&e, 502, "api_error", "provider %s returned a %ld answer that is not JSON%s%.80s%s",
                   x->prov->name, x->status, x->len ? ": \"" : " (empty body)", x->len ? x->buf : "",
                   x->len ? "\"" : "");
        ex_error(x, &e, NULL);
        return;
    }
    msg = cp_oai_response(oai, x->model, x->names, &x->oo, &e);
    json_decref(oai);
    if (msg == NULL) {
        ex_error(x, &e, NULL);
        return;
    }
    ex_reply_message(x, msg);
}

static void ex_on_done(void *ud, cp_xfer_t *xf, int rc, const cp_err_t *e)
{
    exchange_t *x = ud;

    x->xfer = NULL;
    ex_release(x, EX_HALF_UPSTREAM); /* the client half is still held: nothing is freed here */
    if (x->streaming) {
        if (x->fr == NULL)
            return; /* already ended (complete, error event sent, or the client left) */
        if (rc != CP_OK) {
            ex_stream_fail(x, e);
        } else if (x->relay && !x->relay_stop) {
            cp_err_t trunc;
            cp_err_set(&trunc, 502, "api_error", "provider %s ended its stream before message_stop",
                       x->prov->name);
            ex_stream_fail(x, &trunc);
        } else if (x->st != NULL && cp_oai_stream_end(x->st) != CP_OK)
            ex_stream_end(x); /* the translator emitted the error event */
        else
            ex_stream_end(x);
        return;
    }
    if (rc != CP_OK)
        ex_error(x, e, NULL);
    else if (x->prov->style == CP_STYLE_ANTHROPIC)
        ex_done_anthropic(x, xf);
    else if (ex_retry_capped(x))
        return;
    else
        ex_done_openai(x, xf);
}

static const cp_xfer_cbs_t ex_cbs = {ex_on_head, ex_on_body, ex_on_done};

/* ---- building the upstream request ----------------------------------------------------------- */

/* True when <url> has no path beyond "/" (e.g. "https://generativelanguage.googleapis.com"). */
static int ex_url_has_no_path(const char *url)
{
    const char *h = strstr(url, "://");

    h = h ? h + 3 : url;
    return strchr(h, '/') == NULL;
}

static int ex_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static struct curl_slist *ex_header(struct curl_slist *l, const char *name, const char *value)
{
    char *line = cp_xasprintf("%s: %s", name, value);
    struct curl_slist *n = curl_slist_append(l, line);

    free(line);
    return n ? n : l;
}

/* Adds the provider's configured extra headers. */
static struct curl_slist *ex_extra_headers(struct curl_slist *l, const cp_provider_t *p)
{
    const char *k;
    json_t *v; /* borrowed */

    json_object_foreach(p->headers, k, v) l = ex_header(l, k, json_string_value(v));
    return l;
}

/* Sends <body> (JSON text, copied; NULL when it could not be encoded) to <url> (taken). */
static void ex_start_upstream(exchange_t *x, cp_up_t *up, char *url, struct curl_slist *hdrs,
                              const char *body)
{
    cp_up_req_t req = {0};
    cp_err_t e = {0};

    req.provider = x->prov->name;
    req.url = url;
    req.headers = hdrs;
    req.body = body ? cp_xstrdup(body) : NULL;
    req.body_len = req.body ? strlen(req.body) : 0;
    req.connect_timeout_ms = x->prov->connect_timeout_ms;
    req.first_byte_timeout_ms = x->prov->first_byte_timeout_ms;
    req.idle_timeout_ms = x->prov->idle_timeout_ms;
    if (req.body == NULL) {
        curl_slist_free_all(hdrs);
        cp_err_set(&e, 400, "invalid_request_error", "request could not be encoded for provider %s",
                   x->prov->name);
        ex_error(x, &e, NULL);
        free(url);
        return;
    }
    cp_log_j(CP_LOG_DEBUG, "upstream request",
             json_pack("{s:s,s:s,s:s,s:I}", "rid", x->rid, "provider", x->prov->name, "url", url, "bytes",
                       (json_int_t)req.body_len));
    x->xfer = cp_up_start(up, &req, &ex_cbs, x, &e);
    free(url);
    if (x->xfer == NULL) {
        ex_error(x, &e, NULL);
        return;
    }
    x->live |= EX_HALF_UPSTREAM;
    cp_front_req_watch(x->fr, ex_on_gone, x);
}

static void ex_start_anthropic(exchange_t *x, cp_up_t *up, json_t *body)
{
    const char *base = x->prov->base_url;
    const char *path = ex_ends_with(base, "/v1") ? "/messages" : "/v1/messages";
    char *url = cp_xasprintf("%s%s%s", base, path, x->kind == CP_ANTH_COUNT_TOKENS ? "/count_tokens" : "");
    const char *ver = cp_front_req_header(x->fr, "anthropic-version");
    const char *beta = cp_front_req_header(x->fr, "anthropic-beta");
    struct curl_slist *h = NULL;

    json_object_set_new(body, "model", json_string(x->upstream_model));
    h = ex_header(h, "Content-Type", "application/json");
    h = ex_header(h, "Accept", "application/json");
    h = ex_header(h, "anthropic-version", ver ? ver : "2023-06-01");
    if (beta != NULL)
        h = ex_header(h, "anthropic-beta", beta);
    if (x->prov->api_key != NULL)
        h = ex_header(h, "x-api-key", x->prov->api_key); /* never the client's key */
    h = ex_header(h, "User-Agent", "ccproxy/" CP_VERSION);
    h = ex_extra_headers(h, x->prov);
    {
        char *text = json_dumps(body, JSON_COMPACT);
        ex_start_upstream(x, up, url, h, text);
        free(text);
    }
}

/* Logs (debug) the request's top-level fields that have no Chat Completions equivalent. */
static void ex_log_dropped(const exchange_t *x, const json_t *anth)
{
    static const char *const mapped[] = {
        "model", "max_tokens", "messages", "system",      "stop_sequences", "stream",       "temperature",
        "top_p", "metadata",   "tools",    "tool_choice", "thinking",       "output_config"};
    char list[512];
    size_t len = 0;
    const char *k;
    json_t *v; /* borrowed */

    if (!cp_log_enabled(CP_LOG_DEBUG))
        return;
    list[0] = '\0';
    json_object_foreach((json_t *)anth, k, v)
    {
        size_t i;
        for (i = 0; i < sizeof(mapped) / sizeof(mapped[0]) && strcmp(k, mapped[i]) != 0; i++)
            ;
        if (i == sizeof(mapped) / sizeof(mapped[0]) && len < sizeof(list))
            len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", len ? "," : "", k);
    }
    if (len > 0)
        cp_log_j(CP_LOG_DEBUG, "fields without an OpenAI equivalent dropped",
                 json_pack("{s:s,s:s,s:s}", "rid", x->rid, "provider", x->prov->name, "fields", list));
}

/* Sends x->up_json to <baseURL>/chat/completions. */
static void ex_send_openai(exchange_t *x)
{
    const char *base = x->prov->base_url;
    int gemini_root = x->oo.flavor == CP_OAI_GEMINI && ex_url_has_no_path(base);
    char *url = cp_xasprintf("%s%s/chat/completions", base, gemini_root ? "/v1beta/openai" : "");
    struct curl_slist *h = NULL;

    h = ex_header(h, "Content-Type", "application/json");
    h = ex_header(h, "Accept", "application/json");
    if (x->prov->api_key != NULL) {
        char *auth = cp_xasprintf("Bearer %s", x->prov->api_key);
        h = ex_header(h, "Authorization", auth);
        free(auth);
    }
    h = ex_header(h, "User-Agent", "ccproxy/" CP_VERSION);
    h = ex_extra_headers(h, x->prov);
    ex_start_upstream(x, x->up, url, h, x->up_json);
}

/* ---- output-token caps ---------------------------------------------------------------------
 * Claude Code asks for 32k-64k output tokens; many upstream models allow less and answer 400 ("max_tokens
 * is too large: 32000. This model supports at most 16384 completion tokens"). The cap comes from the
 * provider's maxOutputTokens, else from what the upstream said before: the request is retried once with
 * the cap it named, and the cap is remembered per provider and model for later requests. */

#define EX_CAPS 128

static struct {
    char key[CP_ROUTE_MODEL_MAX + 80];
    long cap;
} ex_caps[EX_CAPS];
static unsigned ex_caps_next;

static long ex_cap_get(const exchange_t *x)
{
    char key[sizeof(ex_caps[0].key)];

    snprintf(key, sizeof(key), "%s/%s", x->prov->name, x->upstream_model);
    for (unsigned i = 0; i < EX_CAPS; i++)
        if (ex_caps[i].cap > 0 && strcmp(ex_caps[i].key, key) == 0)
            return ex_caps[i].cap;
    return 0;
}

static void ex_cap_put(const exchange_t *x, long cap)
{
    unsigned slot = ex_caps_next++ % EX_CAPS;

    for (unsigned i = 0; i < EX_CAPS; i++) {
        char key[sizeof(ex_caps[0].key)];
        snprintf(key, sizeof(key), "%s/%s", x->prov->name, x->upstream_model);
        if (strcmp(ex_caps[i].key, key) == 0) {
            slot = i;
            break;
        }
    }
    snprintf(ex_caps[slot].key, sizeof(ex_caps[slot].key), "%s/%s", x->prov->name, x->upstream_model);
    ex_caps[slot].cap = cap;
}

/* Lowers the output-token field of the Chat Completions body <body> to <cap> when it is above.
 * Returns 1 if it changed. */
static int ex_apply_cap(json_t *body, long cap)
{
    const char *name = "max_completion_tokens";
    json_t *v = json_object_get(body, name); /* borrowed */

    if (v == NULL) {
        name = "max_tokens";
        v = json_object_get(body, name);
    }
    if (!json_is_integer(v) || cap <= 0 || json_integer_value(v) <= cap)
        return 0;
    json_object_set_new(body, name, json_integer(cap));
    return 1;
}

/* Finds the cap an upstream 400 names. Returns it, or 0. */
static long ex_parse_cap(const char *body)
{
    static const char *const after[] = {
        "supports at most ", "valid range of max_tokens is [1, ",  "must be less than or equal to ",
        "must be at most ",  "maximum value for `max_tokens` is ", "max_tokens must be <= "};
    const char *p;

    if (body == NULL ||
        (strstr(body, "max_tokens") == NULL && strstr(body, "max_completion_tokens") == NULL &&
         strstr(body, "completion tokens") == NULL && strstr(body, "output tokens") == NULL))
        return 0;
    for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++)
        if ((p = strstr(body, after[i])) != NULL) {
            long n = strtol(p + strlen(after[i]), NULL, 10);
            if (n > 0)
                return n;
        }
    return 0;
}

/* After a 400: when it names an output-token cap below what was asked, resend once with it. */
static int ex_retry_capped(exchange_t *x)
{
    long cap;
    json_t *body; /* owned */
    char *text;

    if (x->status != 400 || x->retried || x->fr == NULL || x->up_json == NULL)
        return 0;
    cap = ex_parse_cap(x->buf);
    body = cap > 0 ? json_loads(x->up_json, 0, NULL) : NULL;
    if (body == NULL || !ex_apply_cap(body, cap) || (text = json_dumps(body, JSON_COMPACT)) == NULL) {
        json_decref(body);
        return 0;
    }
    json_decref(body);
    free(x->up_json);
    x->up_json = text;
    x->retried = 1;
    ex_cap_put(x, cap);
    cp_log_j(CP_LOG_INFO, "upstream output-token cap learned; retrying",
             json_pack("{s:s,s:s,s:s,s:I}", "rid", x->rid, "provider", x->prov->name, "model",
                       x->upstream_model, "cap", (json_int_t)cap));
    free(x->buf);
    x->buf = NULL;
    x->len = x->cap = 0;
    x->status = 0;
    ex_send_openai(x);
    return 1;
}

static void ex_start_openai(exchange_t *x, json_t *anth)
{
    cp_err_t e = {0};
    json_t *body = cp_oai_request(anth, x->upstream_model, &x->oo, &x->names, &e); /* owned */

    if (body == NULL) {
        ex_error(x, &e, NULL);
        return;
    }
    ex_log_dropped(x, anth);
    if (x->prov->max_output_tokens > 0)
        ex_apply_cap(body, x->prov->max_output_tokens);
    ex_apply_cap(body, ex_cap_get(x));
    /* only the text is kept: a tree of a Claude Code request is several times its 70 KB */
    x->up_json = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    ex_send_openai(x);
}

static void ex_count_locally(exchange_t *x, const json_t *body)
{
    char out[64];
    int n = snprintf(out, sizeof(out), "{\"input_tokens\":%lld}", (long long)cp_tok_request(body));

    ex_reply(x, 200, "application/json", out, (size_t)n, NULL);
}

void cp_exchange_start(cp_front_req_t *r, cp_up_t *up, enum cp_anth_kind kind, json_t *body,
                       const cp_route_t *route)
{
    exchange_t *x = cp_xcalloc(1, sizeof(*x));

    ex_live_count++;
    LIST_INSERT_HEAD(&ex_all, x, link);
    x->fr = r;
    x->up = up;
    x->cfg = cp_config_ref(cp_front_req_config(r));
    x->prov = route->provider;
    x->kind = kind;
    x->live = EX_HALF_CLIENT;
    x->reap = event_new(cp_up_base(up), -1, 0, ex_reap_cb, x);
    if (x->reap == NULL) {
        cp_log(CP_LOG_ERROR, "out of memory creating an exchange");
        abort();
    }
    snprintf(x->rid, sizeof(x->rid), "%s", cp_front_req_id(r));
    snprintf(x->model, sizeof(x->model), "%s", json_string_value(json_object_get(body, "model")));
    snprintf(x->upstream_model, sizeof(x->upstream_model), "%s", route->model);
    x->client_stream = kind == CP_ANTH_MESSAGES && json_is_true(json_object_get(body, "stream"));
    cp_oai_opts_for(x->prov, x->upstream_model, &x->oo);
    if (x->client_stream && x->prov->style == CP_STYLE_OPENAI)
        x->input_estimate = cp_tok_request(body);

    if (x->prov->style == CP_STYLE_ANTHROPIC)
        ex_start_anthropic(x, up, body);
    else if (kind == CP_ANTH_COUNT_TOKENS)
        ex_count_locally(x, body);
    else
        ex_start_openai(x, body);
    json_decref(body);
}
