/* lib/prov/openai/cp_prov_openai.c: the Chat Completions adapter (cp_prov.h).
 *
 * start: the request translator (cp_oai_req.h) builds the body for the provider's flavor
 * (cp_oai_flavor.h), capped to the output-token limit configured or learned; it goes to
 * <baseURL>[root path]/chat/completions with the provider's key as a Bearer token. count_tokens is
 * answered locally (cp_tok.h): Chat Completions has no such endpoint.
 * The answer: one response translator (cp_oai_resp.h) for every case: a streaming client fed the
 * upstream stream piece by piece; a whole body translated once, into a Message or into the event
 * stream a streaming client asked for. A 400 that names an output-token cap below what was asked is
 * retried once with that cap, and the cap is remembered (cp_caps.h). */
#include "cp_prov_openai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cp_json.h"
#include "cp_oai_flavor.h"
#include "cp_oai_req.h"
#include "cp_oai_resp.h"
#include "cp_prov_err.h"
#include "cp_tok.h"
#include "cp_url.h"

typedef struct oai_state {
    cp_prov_args_t a;          /* strings and provider borrowed (see cp_prov_args_t) */
    cp_oai_opts_t o;           /* what this provider and model accept */
    cp_oai_names_t *names;     /* owned: tool names shortened in the request */
    char *sent;                /* owned: the body as sent, kept for one capped retry until a 2xx */
    cp_oai_resp_t *tr;         /* owned: the response translator */
    int64_t input_est;         /* message_start's input_tokens until the upstream reports usage */
    unsigned retried : 1;      /* the capped retry was made */
    unsigned event_stream : 1; /* the answer is an event stream */
} oai_state_t;

/* A key is required by the vendor APIs themselves, not by a relay that speaks their flavor. */
static int oai_key_required(const cp_provider_t *p)
{
    const cp_oai_flavor_t *f = cp_oai_flavor_of(p);

    return f->key_required && f->host != NULL && cp_url_host_is(p->base_url, f->host);
}

/* The URL and headers of the upstream request (its body is already in req->body). */
static void oai_upreq(const oai_state_t *st, cp_upreq_t *req)
{
    const cp_provider_t *p = st->a.prov;
    const char *root =
        st->o.fl->root_path != NULL && !cp_url_has_path(p->base_url) ? st->o.fl->root_path : "";

    req->url = cp_xasprintf("%s%s/chat/completions", p->base_url, root);
    cp_upreq_header(req, "Content-Type", "application/json");
    cp_upreq_header(req, "Accept", "application/json");
    if (st->a.api_key != NULL) {
        char *auth = cp_xasprintf("Bearer %s", st->a.api_key);
        cp_upreq_header(req, "Authorization", auth);
        free(auth);
    }
    cp_upreq_header(req, "User-Agent", "ccproxy/" CP_VERSION);
    cp_upreq_extra_headers(req, p);
}

/* count_tokens: the local estimate. */
static int oai_count_tokens(const json_t *anth, cp_prov_reply_t *reply)
{
    reply->status = 200;
    reply->ctype = "application/json";
    cp_buf_init(&reply->body, 0);
    cp_buf_addf(&reply->body, "{\"input_tokens\":%lld}", (long long)cp_tok_request(anth));
    return CP_DECLINED;
}

static int oai_start(const cp_prov_args_t *a, json_t *anth, void **stp, cp_upreq_t *req,
                     cp_prov_reply_t *reply, cp_err_t *e)
{
    oai_state_t *st;
    json_t *body; /* owned */
    int rc;
    char dropped[512];

    if (a->kind == CP_ANTH_COUNT_TOKENS)
        return oai_count_tokens(anth, reply);
    st = cp_xcalloc(1, sizeof(*st));
    *stp = st;
    st->a = *a;
    cp_oai_opts_for(a->prov, a->upstream_model, &st->o);
    body = cp_oai_request(anth, a->upstream_model, &st->o, &st->names, e);
    if (body == NULL)
        return CP_ERR;
    if (a->prov->max_output_tokens > 0)
        cp_oai_request_cap(body, a->prov->max_output_tokens);
    cp_oai_request_cap(body, cp_caps_get(a->caps, a->prov->name, a->upstream_model));
    if (a->cache_key != NULL && st->o.fl->cache_key) /* one session, one OpenAI prompt cache */
        json_object_set_new(body, "prompt_cache_key", json_string(a->cache_key));
    /* the body is written straight into the request's buffer; the next step is a builder that writes
     * there without the tree (docs/architecture.md, "Performance notes") */
    rc = cp_upreq_json_body(req, body);
    json_decref(body);
    if (rc != CP_OK)
        return cp_err_set(e, 400, "invalid_request_error", "request could not be encoded for provider %s",
                          a->prov->name);
    /* kept as text for one capped retry: a tree of a Claude Code request is several times its 70 KB */
    st->sent = cp_xstrndup(req->body.p, req->body.len);
    if (a->client_stream)
        st->input_est = cp_tok_request(anth);
    cp_oai_request_dropped(anth, dropped, sizeof(dropped));
    if (dropped[0] != '\0')
        req->note = cp_xasprintf("fields without an OpenAI equivalent dropped: %s", dropped);
    oai_upreq(st, req);
    return CP_OK;
}

static int oai_is_event_stream(const char *ctype)
{
    return ctype != NULL && strncasecmp(ctype, "text/event-stream", 17) == 0;
}

static int oai_head(void *stp, long status, const char *ctype)
{
    oai_state_t *st = stp;
    int ok = status >= 200 && status < 300;

    st->event_stream = oai_is_event_stream(ctype);
    if (ok) {
        free(st->sent); /* kept only for a capped retry after a 400 */
        st->sent = NULL;
    }
    if (!ok || !st->a.client_stream || !st->event_stream)
        return CP_PROV_COLLECT;
    st->tr = cp_oai_resp_new(st->a.client_model, st->names, &st->o, st->input_est, CP_ANTH_OUT_SSE);
    return CP_PROV_STREAM;
}

static int oai_stream_begin(void *stp, cp_buf_t *out)
{
    oai_state_t *st = stp;

    return cp_oai_resp_begin(st->tr, out);
}

static int oai_stream_feed(void *stp, const char *p, size_t n, cp_buf_t *out)
{
    oai_state_t *st = stp;

    if (cp_oai_resp_feed(st->tr, p, n, out) != CP_OK)
        return CP_ERR;
    return cp_oai_resp_finished(st->tr) ? CP_PROV_DONE : CP_OK;
}

static int oai_stream_end(void *stp, const cp_err_t *e, cp_buf_t *out)
{
    oai_state_t *st = stp;

    if (e != NULL) {
        cp_oai_resp_fail(st->tr, e, out);
        return cp_oai_resp_error(st->tr) == NULL ? CP_OK : CP_ERR;
    }
    return cp_oai_resp_end(st->tr, out);
}

static int oai_stream_idle(const void *stp)
{
    (void)stp;
    return 1; /* the translator writes whole events only */
}

/* After a 400 naming an output-token cap below what was asked: the same request with that cap. */
static int oai_retry_capped(oai_state_t *st, const char *body, cp_upreq_t *req)
{
    long cap = st->retried || st->sent == NULL ? 0 : cp_oai_cap_named(body);
    json_t *j = cap > 0 ? json_loads(st->sent, 0, NULL) : NULL; /* owned */

    if (j == NULL || !cp_oai_request_cap(j, cap) || cp_upreq_json_body(req, j) != CP_OK) {
        json_decref(j);
        cp_upreq_free(req);
        return CP_ERR;
    }
    json_decref(j);
    st->retried = 1;
    cp_caps_put(st->a.caps, st->a.prov->name, st->a.upstream_model, cap);
    free(st->sent);
    st->sent = cp_xstrndup(req->body.p, req->body.len);
    oai_upreq(st, req);
    req->note = cp_xasprintf("upstream output-token cap learned (%ld); retrying", cap);
    return CP_OK;
}

static int oai_finish(void *stp, long status, const char *body, size_t len, cp_prov_reply_t *reply,
                      cp_upreq_t *req, cp_err_t *e)
{
    oai_state_t *st = stp;
    enum cp_anth_out_mode mode = st->a.client_stream ? CP_ANTH_OUT_SSE : CP_ANTH_OUT_MESSAGE;
    int rc;

    if (status < 200 || status >= 300) {
        if (status == 400 && oai_retry_capped(st, body, req) == CP_OK)
            return CP_AGAIN;
        cp_prov_error(status, body, len, st->a.prov->name, e);
        cp_prov_scrub_err(st->a.prov, e);
        return CP_ERR;
    }
    cp_oai_resp_free(st->tr);
    st->tr = cp_oai_resp_new(st->a.client_model, st->names, &st->o, st->input_est, mode);
    cp_buf_init(&reply->body, 0);
    if (st->event_stream) /* a whole answer streamed to a client that did not ask for a stream */
        rc = cp_oai_resp_feed(st->tr, body, len, &reply->body) == CP_OK
                 ? cp_oai_resp_end(st->tr, &reply->body)
                 : CP_ERR;
    else
        rc = cp_oai_resp_whole(st->tr, body, len, &reply->body);
    if (rc != CP_OK) {
        const cp_err_t *why = cp_oai_resp_error(st->tr);
        if (why != NULL) {
            *e = *why;
            cp_prov_scrub_err(st->a.prov, e);
        } else /* cannot happen: the writer's buffer has no cap */
            cp_err_set(e, 500, "api_error", "ccproxy could not encode the answer");
        cp_buf_free(&reply->body);
        return CP_ERR;
    }
    reply->status = 200;
    reply->ctype = mode == CP_ANTH_OUT_SSE ? "text/event-stream" : "application/json";
    return CP_OK;
}

static const char *oai_notes(const void *stp)
{
    const oai_state_t *st = stp;

    return st->tr != NULL ? cp_oai_resp_notes(st->tr) : NULL;
}

static int oai_usage(const void *stp, cp_anth_usage_t *out)
{
    const oai_state_t *st = stp;

    return st != NULL && st->tr != NULL && cp_oai_resp_usage(st->tr, out);
}

static void oai_free(void *stp)
{
    oai_state_t *st = stp;

    if (st == NULL)
        return;
    cp_oai_resp_free(st->tr);
    cp_oai_names_free(st->names);
    free(st->sent);
    free(st);
}

const cp_prov_ops_t cp_prov_openai = {
    .name = "openai",
    .key_required = oai_key_required,
    .start = oai_start,
    .head = oai_head,
    .stream_begin = oai_stream_begin,
    .stream_feed = oai_stream_feed,
    .stream_end = oai_stream_end,
    .stream_idle = oai_stream_idle,
    .finish = oai_finish,
    .notes = oai_notes,
    .usage = oai_usage,
    .free = oai_free,
};
