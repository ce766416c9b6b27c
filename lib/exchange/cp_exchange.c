/* lib/exchange/cp_exchange.c: see cp_exchange.h.
 *
 * One state machine, the same for every provider:
 *
 *   start ── adapter.start ──> local reply | error reply | upstream request ──> WAIT_HEAD
 *   WAIT_HEAD ── head: adapter.head ──> STREAM (the reply starts) | COLLECT
 *   STREAM ── body: adapter.stream_feed -> bytes to the client; DONE or error ends the reply
 *          ── end: adapter.stream_end -> the stream's last events
 *   COLLECT ── body: kept (capped) ── end: adapter.finish -> reply | error | retry (WAIT_HEAD again)
 *
 * Nothing is sent to the client before the upstream status is known, so a failure before then is a
 * plain Anthropic error response; after the reply started it is an "event: error" (the adapter writes
 * it). The client's request is kept until the reply starts: which candidate and key each attempt goes to,
 * and what a failed attempt leads to (another key, a wait, the next candidate of whatever style), is
 * decided in lib/exchange/cp_failover.c (docs/resilience.md); a dropped candidate's adapter state is
 * freed and the next one starts from the same request. Backpressure:
 * above server.streamBufferBytes of output the client has not taken, the transfer is paused (on_body returns
 * CP_AGAIN, curl keeps the bytes) and resumed from the front's drain callback. A ping event goes out whenever
 * the stream has been silent for server.pingIntervalSeconds (and the adapter is between events), so no idle
 * timeout fires during a long think. Callbacks only record facts and release halves; the exchange is freed
 * from its own zero-delay event once both are released, so no callback frees the object that delivered it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_exchange_int.h"
#include "cp_log.h"

static void ex_release(exchange_t *x, unsigned half);
static void ex_send(exchange_t *x, cp_upreq_t *req);

cp_exchanges_t *cp_exchanges_new(struct event_base *base, cp_up_t *up)
{
    cp_exchanges_t *xs = cp_xcalloc(1, sizeof(*xs));

    xs->base = base;
    xs->up = up;
    xs->caps = cp_caps_new();
    xs->health = cp_health_new();
    LIST_INIT(&xs->all);
    return xs;
}

void cp_exchanges_free(cp_exchanges_t *xs)
{
    if (xs == NULL)
        return;
    cp_caps_free(xs->caps);
    cp_health_free(xs->health);
    free(xs);
}

void cp_exchanges_set_metrics(cp_exchanges_t *xs, cp_metrics_t *m)
{
    xs->metrics = m;
}

cp_health_t *cp_exchanges_health(cp_exchanges_t *xs)
{
    return xs->health;
}

unsigned cp_exchange_live(const cp_exchanges_t *xs)
{
    return xs->live;
}

void cp_exchange_cancel_all(cp_exchanges_t *xs)
{
    exchange_t *x;

    LIST_FOREACH(x, &xs->all, link)
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
    const char *notes = x->st != NULL ? x->ops->notes(x->st) : NULL;

    (void)fd;
    (void)what;
    if (notes != NULL)
        cp_log_j(CP_LOG_DEBUG, "translation notes",
                 json_pack("{s:s,s:s,s:s}", "rid", x->rid, "provider", x->prov->name, "notes", notes));
    event_free(x->reap);
    if (x->ping != NULL)
        event_free(x->ping);
    if (x->linger != NULL)
        event_free(x->linger);
    if (x->st != NULL)
        x->ops->free(x->st);
    free(x->cand);
    free(x->ctx);
    json_decref(x->request);
    if (x->wait != NULL)
        event_free(x->wait);
    cp_buf_free(&x->out);
    cp_buf_free(&x->body);
    cp_config_unref(x->cfg);
    LIST_REMOVE(x, link);
    x->xs->live--;
    free(x);
}

/* Called when one side is definitively finished with <x>. Never frees synchronously. */
static void ex_release(exchange_t *x, unsigned half)
{
    x->live &= ~half;
    if (x->live == 0)
        event_active(x->reap, EV_TIMEOUT, 0);
}

/* ---- whole replies -------------------------------------------------------------------------- */

/* Hands the front the tokens the upstream reported, for the ledger and the limits, and the upstream's
 * times, for the metrics (before <x->fr> is released). */
static void ex_report_usage(exchange_t *x)
{
    cp_anth_usage_t u;

    if (x->fr != NULL && x->st != NULL && x->ops->usage(x->st, &u))
        cp_front_req_usage(x->fr, &u);
    if (x->fr != NULL && x->sent > 0) /* a transfer still open (a stream ending, lingering) counts till now */
        cp_front_req_upstream(x->fr, x->ttfb_us, x->up_us + (x->xfer != NULL ? cp_mono_us() - x->sent_us : 0),
                              x->sent - 1);
}

void ex_error(exchange_t *x, const cp_err_t *e, const char *const *extra)
{
    cp_front_req_t *fr = x->fr;

    if (fr == NULL)
        return;
    ex_report_usage(x);
    x->fr = NULL;
    if (x->sent > 0) /* which provider answered, for the client (docs/resilience.md) */
        cp_front_req_add_header(fr, "x-ccproxy-provider", x->prov->name);
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
    ex_report_usage(x);
    x->fr = NULL;
    if (x->sent > 0)
        cp_front_req_add_header(fr, "x-ccproxy-provider", x->prov->name);
    cp_front_req_reply(fr, status, ctype, body, len, extra);
    ex_release(x, EX_HALF_CLIENT);
}

/* The client left: drop the upstream at once (abandoned generations cost money). Inside a curl
 * callback the transfer cannot be removed: on_body then fails it instead (it sees fr == NULL). */
static void ex_on_gone(void *ud)
{
    exchange_t *x = ud;

    ex_report_usage(x); /* what was reported before the client left */
    if (x->xfer != NULL)
        ex_attempt_end(x, 0, 1);
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

/* ---- streaming ------------------------------------------------------------------------------ */

static const char ex_ping_event[] = "event: ping\ndata: {\"type\": \"ping\"}\n\n";

static void ex_ping_arm(exchange_t *x)
{
    if (x->ping != NULL)
        evtimer_add(x->ping, x->ping_tv); /* re-adding a pending timer moves it */
}

/* Sends what the adapter produced. */
static void ex_flush(exchange_t *x)
{
    if (x->out.len == 0 || x->fr == NULL)
        return;
    cp_front_req_stream_write(x->fr, x->out.p, x->out.len);
    cp_buf_reset(&x->out, EX_OUT_KEEP);
    ex_ping_arm(x);
}

static void ex_ping_cb(evutil_socket_t fd, short what, void *arg)
{
    exchange_t *x = arg;

    (void)fd;
    (void)what;
    if (x->fr == NULL || !x->streaming)
        return;
    if (x->ops->stream_idle(x->st))
        cp_front_req_stream_write(x->fr, ex_ping_event, sizeof(ex_ping_event) - 1);
    ex_ping_arm(x);
}

/* Ends the streamed reply (the client half is released); <error_type>: NULL when it ended complete,
 * else the Anthropic error type of the error event that ended it. */
static void ex_stream_end(exchange_t *x, const char *error_type)
{
    cp_front_req_t *fr = x->fr;

    if (x->ping != NULL)
        evtimer_del(x->ping);
    if (fr == NULL)
        return;
    ex_report_usage(x);
    if (error_type != NULL)
        cp_front_req_failed(fr, error_type);
    ex_flush(x);
    x->fr = NULL;
    cp_front_req_stream_end(fr);
    ex_release(x, EX_HALF_CLIENT);
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

/* The upstream answered and the adapter streams: start the reply. */
static int ex_stream_begin(exchange_t *x)
{
    struct event_base *base = x->xs->base;
    /* thousands of streams share one interval: a common-timeout queue makes re-arming O(1) */
    struct timeval tv = {(time_t)x->cfg->ping_interval_s, 0};

    x->streaming = 1;
    x->ping = evtimer_new(base, ex_ping_cb, x);
    x->ping_tv = event_base_init_common_timeout(base, &tv);
    if (x->ping_tv == NULL) {
        x->ping_store = tv;
        x->ping_tv = &x->ping_store;
    }
    json_decref(x->request); /* the client gets bytes now: no other candidate will be tried */
    x->request = NULL;
    cp_front_req_add_header(x->fr, "x-ccproxy-provider", x->prov->name);
    cp_front_req_stream_start(x->fr, "text/event-stream", ex_on_drain, x);
    if (x->ops->stream_begin(x->st, &x->out) != CP_OK)
        return CP_ERR;
    ex_flush(x);
    ex_ping_arm(x);
    return CP_OK;
}

/* After the reply started: logs why it ends with an error event. */
static void ex_stream_failed(const exchange_t *x, const char *why)
{
    cp_log_j(CP_LOG_WARN, "stream failed after it started",
             json_pack("{s:s,s:s,s:s}", "rid", x->rid, "provider", x->prov->name, "error", why));
}

static void ex_linger_cb(evutil_socket_t fd, short what, void *arg)
{
    exchange_t *x = arg;

    (void)fd;
    (void)what;
    if (x->xfer != NULL) { /* an upstream that keeps its connection open after the last event */
        cp_up_cancel(x->xfer);
        x->xfer = NULL;
        ex_release(x, EX_HALF_UPSTREAM);
    }
}

/* The answer is complete while the transfer still runs: give the upstream a moment to end its body
 * (so its connection can be reused), then drop it. */
static void ex_linger(exchange_t *x)
{
    struct timeval tv = {0, EX_LINGER_MS * 1000};

    x->linger = evtimer_new(x->xs->base, ex_linger_cb, x);
    if (x->linger == NULL || evtimer_add(x->linger, &tv) != 0) {
        cp_log(CP_LOG_ERROR, "out of memory arming a timer");
        abort();
    }
}

/* One piece of a streamed 2xx body. */
static int ex_stream_body(exchange_t *x, const char *p, size_t n)
{
    int rc;

    if (x->fr == NULL)
        return CP_ERR; /* the client left, or the answer already ended: abort the transfer */
    if (cp_front_req_pending(x->fr) >= x->cfg->stream_buffer_bytes) {
        x->paused = 1; /* curl keeps these bytes and offers them again after cp_xfer_resume */
        return CP_AGAIN;
    }
    rc = x->ops->stream_feed(x->st, p, n, &x->out);
    ex_flush(x);
    if (rc == CP_OK)
        return CP_OK;
    ex_stream_end(x, rc == CP_PROV_DONE ? NULL : "api_error"); /* complete, or an error event went out */
    if (rc != CP_PROV_DONE) {
        const char *why = x->ops->notes(x->st);
        ex_stream_failed(x,
                         why != NULL ? why : "the answer could not be translated (an error event was sent)");
        return CP_ERR;
    }
    if (x->linger == NULL)
        ex_linger(x);
    return CP_OK;
}

/* ---- upstream callbacks --------------------------------------------------------------------- */

static int ex_on_head(void *ud, cp_xfer_t *xf, long status)
{
    exchange_t *x = ud;
    int rc = CP_OK;

    x->status = status;
    x->ttfb_us = (int64_t)(cp_mono_us() - x->sent_us);
    cp_buf_free(&x->body);
    cp_buf_init(&x->body, status >= 200 && status < 300 ? x->cfg->max_answer_bytes : EX_ERROR_BODY_MAX);
    if (x->fr == NULL)
        return CP_ERR;
    if (status >= 200 && status < 300) { /* an answer: no other attempt will be made */
        json_decref(x->request);
        x->request = NULL;
        ex_attempt_end(x, status, 0);
    }
    if (x->ops->head(x->st, status, cp_xfer_header(xf, "content-type")) == CP_PROV_STREAM) {
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
    if (cp_buf_add(&x->body, p, n) == CP_OK)
        return CP_OK;
    if (x->status >= 200 && x->status < 300) {
        cp_err_t e;
        cp_err_set(&e, 502, "api_error", "provider %s sent an answer larger than %zu bytes", x->prov->name,
                   x->body.max);
        cp_xfer_fail(xf, &e);
        return CP_ERR;
    }
    cp_buf_add(&x->body, p, x->body.max - x->body.len); /* an error body: keep its start, drop the rest */
    return CP_OK;
}

/* The collected answer is complete: the adapter says what the client gets. */
static void ex_finish(exchange_t *x, cp_xfer_t *xf)
{
    cp_prov_reply_t reply = {0};
    cp_upreq_t req = {0};
    cp_err_t e = {0};
    const char *hdr[8];
    char secs[48];
    int rc;

    if ((x->status < 200 || x->status >= 300) && ex_recover(x, xf))
        return;
    ex_retry_headers(x, xf, hdr, 8, secs);
    if (ex_all_busy(x)) {
        /* a chain whose every candidate failed, one of them busy until a known time: that is the news */
        cp_err_set(&e, 429, "rate_limit_error",
                   "every provider for this model is busy; the first one frees up in %s s (retry-after)",
                   secs);
        ex_error(x, &e, hdr);
        return;
    }
    rc = x->ops->finish(x->st, x->status, cp_buf_str(&x->body), x->body.len, &reply, &req, &e);
    if (rc == CP_AGAIN) {
        cp_log_j(CP_LOG_INFO, "retrying upstream",
                 json_pack("{s:s,s:s,s:s,s:s}", "rid", x->rid, "provider", x->prov->name, "model",
                           x->upstream_model, "why", req.note != NULL ? req.note : "adapter asked"));
        cp_buf_free(&x->body);
        x->status = 0;
        ex_send(x, &req);
        return;
    }
    if (rc == CP_OK)
        ex_reply(x, reply.status, reply.ctype, cp_buf_str(&reply.body), reply.body.len, hdr);
    else
        ex_error(x, &e, hdr);
    cp_buf_free(&reply.body);
}

static void ex_on_done(void *ud, cp_xfer_t *xf, int rc, const cp_err_t *e)
{
    exchange_t *x = ud;

    x->up_us += cp_mono_us() - x->sent_us;
    x->xfer = NULL;
    ex_attempt_end(x, x->status, x->fr == NULL);
    ex_release(x, EX_HALF_UPSTREAM); /* the client half is still held: nothing is freed here */
    if (x->fr == NULL)
        return; /* already answered (stream complete, error event sent) or the client left */
    if (x->streaming) {
        const char *failed = NULL;
        if (x->ops->stream_end(x->st, rc == CP_OK ? NULL : e, &x->out) != CP_OK) {
            const char *why = rc == CP_OK ? x->ops->notes(x->st) : e->msg;
            ex_stream_failed(x, why != NULL ? why : "the upstream stream ended unfinished");
            failed = rc != CP_OK && e->type != NULL ? e->type : "api_error";
        }
        ex_stream_end(x, failed);
    } else if (rc != CP_OK) {
        if (x->status == 0 && ex_next(x, e->msg)) /* no answer at all: connect, TLS, first byte */
            return;
        ex_error(x, e, NULL);
    } else {
        ex_finish(x, xf);
    }
}

static const cp_xfer_cbs_t ex_cbs = {ex_on_head, ex_on_body, ex_on_done};

/* ---- starting --------------------------------------------------------------------------------- */

/* Sends the adapter's upstream request <req> (its contents are taken). */
static void ex_send(exchange_t *x, cp_upreq_t *req)
{
    cp_up_req_t ur = {0};
    cp_err_t e = {0};
    struct curl_slist *h = NULL;

    for (size_t i = 0; i < req->nhdr; i++) {
        struct curl_slist *n = curl_slist_append(h, req->hdr[i]);
        h = n != NULL ? n : h;
    }
    ur.provider = x->prov->name;
    ur.url = req->url;
    ur.headers = h;
    ur.body = cp_buf_detach(&req->body, &ur.body_len); /* taken by cp_up_start */
    ur.connect_timeout_ms = x->prov->connect_timeout_ms;
    ur.first_byte_timeout_ms = ex_first_byte_timeout(x);
    ur.idle_timeout_ms = x->prov->idle_timeout_ms;
    ur.proxy = x->prov->proxy;
    cp_log_j(CP_LOG_DEBUG, "upstream request",
             json_pack("{s:s,s:s,s:s,s:I}", "rid", x->rid, "provider", x->prov->name, "url", req->url,
                       "bytes", (json_int_t)ur.body_len));
    x->sent_us = cp_mono_us();
    x->ttfb_us = -1;
    x->reported = 0;
    x->xfer = cp_up_start(x->xs->up, &ur, &ex_cbs, x, &e);
    cp_upreq_free(req);
    if (x->xfer == NULL) {
        ex_attempt_unsent(x);
        ex_error(x, &e, NULL);
        return;
    }
    x->sent++;
    x->live |= EX_HALF_UPSTREAM;
    cp_front_req_watch(x->fr, ex_on_gone, x);
}

/* Refuses what cannot be sent before any adapter runs. Returns CP_OK, or CP_ERR with <e>. */
static int ex_admit(const cp_exchanges_t *xs, cp_front_req_t *r, const cp_provider_t *p, cp_err_t *e)
{
    const cp_config_t *cfg = cp_front_req_config(r);

    if (p->nkeys == 0 && cp_prov_key_required(p))
        return cp_err_set(
            e, 400, "invalid_request_error",
            "ccproxy: provider \"%s\" has no API key. Set %s in ccproxy's environment, add \"apiKey\" "
            "under providers.%s in ~/.ccproxy/settings.json, or run `ccproxy init` to write a config.",
            p->name, p->api_key_env, p->name);
    if (cfg->max_concurrent > 0 && xs->live >= cfg->max_concurrent)
        return cp_err_set(
            e, 529, "overloaded_error",
            "ccproxy is at its limit of %u concurrent requests (server.maxConcurrentRequests); retry shortly",
            cfg->max_concurrent);
    return CP_OK;
}

static exchange_t *ex_new(cp_exchanges_t *xs, cp_front_req_t *r, const json_t *body, const cp_route_t *route)
{
    exchange_t *x = cp_xcalloc(1, sizeof(*x));

    xs->live++;
    LIST_INSERT_HEAD(&xs->all, x, link);
    x->xs = xs;
    x->fr = r;
    x->cfg = cp_config_ref(cp_front_req_config(r));
    x->start_us = cp_mono_us();
    x->prov = route->provider;
    x->ops = cp_prov_ops(x->prov);
    x->key = -1;
    x->live = EX_HALF_CLIENT;
    cp_buf_init(&x->out, 0);
    cp_buf_init(&x->body, x->cfg->max_answer_bytes);
    x->reap = event_new(xs->base, -1, 0, ex_reap_cb, x);
    if (x->reap == NULL) {
        cp_log(CP_LOG_ERROR, "out of memory creating an exchange");
        abort();
    }
    snprintf(x->rid, sizeof(x->rid), "%s", cp_front_req_id(r));
    snprintf(x->model, sizeof(x->model), "%s", json_string_value(json_object_get(body, "model")));
    snprintf(x->upstream_model, sizeof(x->upstream_model), "%s", route->model);
    return x;
}

/* Runs the current candidate's adapter on the client's <body>: sends its upstream request, or answers. */
void ex_begin(exchange_t *x, json_t *body)
{
    cp_prov_args_t a = {0};
    cp_prov_reply_t reply = {0};
    cp_upreq_t req = {0};
    cp_err_t e = {0};
    int rc;

    a.prov = x->prov;
    a.client_model = x->model;
    a.upstream_model = x->upstream_model;
    a.anthropic_version = cp_front_req_header(x->fr, "anthropic-version");
    a.anthropic_beta = cp_front_req_header(x->fr, "anthropic-beta");
    a.caps = x->xs->caps;
    a.kind = x->kind;
    a.client_stream = x->client_stream;
    a.api_key = x->key >= 0 ? x->prov->keys[x->key] : NULL;
    a.cache_key = x->cache_key[0] != '\0' ? x->cache_key : NULL;
    rc = x->ops->start(&a, body, &x->st, &req, &reply, &e);
    if (rc == CP_OK) {
        if (req.note != NULL)
            cp_log_j(CP_LOG_DEBUG, "request translated",
                     json_pack("{s:s,s:s,s:s}", "rid", x->rid, "provider", x->prov->name, "note", req.note));
        ex_send(x, &req);
        return;
    }
    cp_upreq_free(&req);
    ex_attempt_unsent(x);
    if (rc == CP_DECLINED)
        ex_reply(x, reply.status, reply.ctype, cp_buf_str(&reply.body), reply.body.len, NULL);
    else
        ex_error(x, &e, NULL);
    cp_buf_free(&reply.body);
}

void cp_exchange_start(void *ud, cp_front_req_t *r, enum cp_anth_kind kind, json_t *body,
                       const cp_route_t *route)
{
    cp_exchanges_t *xs = ud;
    exchange_t *x;
    cp_err_t e = {0};

    if (ex_admit(xs, r, route->provider, &e) != CP_OK) {
        json_decref(body);
        cp_front_req_error(r, &e, NULL);
        return;
    }
    x = ex_new(xs, r, body, route);
    x->kind = kind;
    x->client_stream = kind == CP_ANTH_MESSAGES && json_is_true(json_object_get(body, "stream"));
    x->request = body; /* kept until the answer starts: another attempt may need it */
    ex_cands_start(x, route);
}
