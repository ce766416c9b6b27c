/* lib/net/cp_front.c: see cp_front.h.
 *
 * Connections, from accept to close (tracking, limits, framing, deadlines, TLS, evhttp's own HTML
 * error pages rewritten as Anthropic errors): lib/net/cp_conn.c.
 *
 * Requests. Each request runs with its own reference to the config snapshot that was current when
 * it started. Replies are sent with evhttp_send_reply; the access log line is written when the
 * reply is handed to evhttp. */
#include "cp_front.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include "cp_accept.h"
#include "cp_conn.h"
#include "cp_anth.h"
#include "cp_guard.h"
#include "cp_health.h"
#include "cp_ident.h"
#include "cp_json.h"
#include "cp_log.h"
#include "cp_route.h"
#include "cp_scrape.h"
#include "cp_team.h"
#include "cp_tls.h"

struct cp_front {
    struct event_base *base;
    cp_front_handler_fn handler; /* answers Messages requests */
    void *handler_ud;
    cp_team_t *team;       /* borrowed: developer keys, limits, the ledger; NULL in unit tests */
    cp_metrics_t *metrics; /* borrowed: GET /metrics and what it counts; NULL: none */
    cp_health_t *health;   /* borrowed: breakers and key states for /health and /metrics; NULL: none */
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    cp_accept_t *acc; /* owned: pauses accepting at the open-file limit */
    char *host;
    int port;          /* as configured (0: any free port) */
    int bound_port;    /* the port listened on */
    cp_config_t *cfg;  /* current snapshot; owned reference */
    unsigned active;   /* requests between handler and completion */
    unsigned streams;  /* of those, replies being streamed (started) */
    cp_conns_t *conns; /* owned: every client connection */
    uint64_t started_us;
    unsigned draining : 1;
    cp_front_idle_cb idle_cb;
    void *idle_ud;
    struct event *idle_ev;
};

/* One request, from the handler to the reply: freed when the reply is handed to evhttp, or when the
 * client leaves first (front_req_gone). */
struct cp_front_req {
    cp_front_t *f;
    struct evhttp_request *req;
    cp_conn_t *conn;  /* NULL when the connection was never associated (should not happen) */
    cp_config_t *cfg; /* owned reference for the request's lifetime */
    char rid[CP_REQ_ID_LEN + 1];
    uint64_t t0;
    const char *method;
    char path[256];
    char model[CP_ROUTE_MODEL_MAX];
    char provider[80];
    char upstream_model[CP_ROUTE_MODEL_MAX];
    size_t bytes_in;
    struct event *probe; /* EV_READ on the client socket while we wait: notices a client that left */
    cp_front_gone_cb gone_cb;
    void *gone_ud;
    cp_front_drain_cb drain_cb; /* streaming: output drained */
    void *drain_ud;
    size_t bytes_out;       /* streaming: body bytes handed to evhttp */
    struct evbuffer *chunk; /* streaming: reused for every chunk (evhttp drains it into the output) */
    unsigned started : 1;   /* evhttp_send_reply_start was called */
    unsigned sse : 1;       /* the started reply is an event stream */
    cp_team_req_t team;     /* who asked, what it used (lib/team/cp_team.h) */
};
typedef struct cp_front_req front_req_t;

static void front_check_idle(cp_front_t *f);
static void front_req_gone(front_req_t *r, int closing);

/* ---- connections --------------------------------------------------------------------------- */

/* A connection closed (lib/net/cp_conn.c): with the request it had in flight, if any. */
static void front_conn_closed(void *ud, void *pending, int in_request)
{
    cp_front_t *f = ud;

    if (pending != NULL)
        front_req_gone(pending, 1); /* evhttp frees the request after we return */
    if (in_request)
        f->active--; /* its completion callback will never come */
    front_check_idle(f);
}

/* ---- replies -------------------------------------------------------------------------------- */

/* evhttp's completion of a reply (the connection record is the argument: it outlives requests). */
static void front_on_complete(struct evhttp_request *req, void *arg)
{
    cp_conn_t *c = arg;
    cp_front_t *f = cp_conn_owner(c);

    (void)req;
    f->active--;
    cp_conn_request(c, 0);
    front_check_idle(f);
}

static void front_probe_disarm(front_req_t *r)
{
    if (r->probe != NULL)
        event_free(r->probe);
    r->probe = NULL;
}

static void front_req_free(front_req_t *r)
{
    front_probe_disarm(r);
    if (r->started)
        r->f->streams--;
    if (r->conn != NULL && cp_conn_pending(r->conn) == r)
        cp_conn_set_pending(r->conn, NULL);
    if (r->chunk != NULL)
        evbuffer_free(r->chunk);
    r->chunk = NULL;
    cp_config_unref(r->cfg);
    r->cfg = NULL;
    free(r);
}

/* The access line, and (for an API request that passed auth) the ledger row and the limits' charge. */
static void front_access(front_req_t *r, int status, size_t bytes_out)
{
    uint64_t dur_us = cp_mono_us() - r->t0;

    cp_log_j(CP_LOG_INFO, "request",
             json_pack("{s:s,s:s,s:s,s:i,s:f,s:s?,s:s?,s:s?,s:s?,s:I,s:I}", "rid", r->rid, "method",
                       r->method, "path", r->path, "status", status, "dur_ms", (double)dur_us / 1000.0, "key",
                       r->team.key != NULL ? r->team.key->name : NULL, "model", r->model[0] ? r->model : NULL,
                       "provider", r->provider[0] ? r->provider : NULL, "upstream_model",
                       r->upstream_model[0] ? r->upstream_model : NULL, "bytes_in", (json_int_t)r->bytes_in,
                       "bytes_out", (json_int_t)bytes_out));
    cp_scrape_count(r->f->metrics, &r->team, r->provider, r->model, status, dur_us);
    if (r->f->team != NULL && (r->team.api || r->team.admitted)) {
        cp_ledger_row_t row = {0};
        row.rid = r->rid;
        row.model = r->model[0] ? r->model : NULL;
        row.provider = r->provider[0] ? r->provider : NULL;
        row.upstream_model = r->upstream_model[0] ? r->upstream_model : NULL;
        row.status = status;
        row.duration_ms = (int64_t)(dur_us / 1000u);
        if (status >= 400 && r->team.error_type[0] == '\0')
            snprintf(r->team.error_type, sizeof(r->team.error_type), "%s",
                     status == 499 ? "client_closed" : "api_error");
        cp_team_end(r->f->team, &r->team, r->cfg, &row);
    }
}

/* The reply's first byte leaves now (for the ledger's time to first byte). */
static void front_first_byte(front_req_t *r)
{
    if (r->team.ttfb_ms < 0) /* the clock of dur_ms, so that ttfb <= duration */
        r->team.ttfb_ms = (int64_t)((cp_mono_us() - r->t0) / 1000u);
}

/* The client left before its reply: tell the owner (which cancels its upstream), log 499, and let
 * evhttp release the request. <closing>: called from the connection's close callback, where evhttp
 * frees the request itself; otherwise a reply is sent so that evhttp finds the socket dead and tears
 * the connection down. */
static void front_req_gone(front_req_t *r, int closing)
{
    cp_front_gone_cb cb = r->gone_cb;
    void *ud = r->gone_ud;
    struct evhttp_request *req = r->req;

    int started = r->started;

    front_probe_disarm(r);
    if (r->conn != NULL)
        cp_conn_set_pending(r->conn, NULL);
    r->gone_cb = NULL;
    r->drain_cb = NULL;
    if (cb != NULL)
        cb(ud);
    front_access(r, 499, r->bytes_out);
    cp_log(CP_LOG_DEBUG, "%s: client closed the connection %s", r->rid,
           started ? "during the streamed reply" : "before the reply");
    front_req_free(r);
    if (closing && started && evhttp_request_get_connection(req) == NULL)
        evhttp_send_reply_end(req); /* detached mid-stream: ours to free */
    if (!closing) {
        struct evbuffer *out = evbuffer_new();
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        evhttp_send_reply(req, 499, "Client Closed Request", out);
        evbuffer_free(out);
    }
}

/* The client socket is readable while its request waits: pipelined bytes (kept, within their cap,
 * for evhttp to read later), or the client leaving. A client that shuts down its sending side after
 * the request is taken as gone, as nginx does (docs/security.md). */
static void front_probe_cb(evutil_socket_t fd, short what, void *arg)
{
    front_req_t *r = arg;
    int rc = r->conn != NULL ? cp_conn_absorb(r->conn) : -1;

    (void)fd;
    (void)what;
    if (rc == 1)
        front_probe_disarm(r); /* over the cap: the connection closes, and with it the request */
    else if (rc == -1)
        front_req_gone(r, 0);
}

/* Sends the reply, writes the access line and frees <r>. <extra> is NULL or "Name", "value", ..., NULL
 * pairs. Never touches <r->req> afterwards (evhttp may free it before returning). */
static void front_reply(front_req_t *r, int status, const char *ctype, const char *body, size_t len,
                        const char *const *extra)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    struct evbuffer *out = evbuffer_new();
    struct evhttp_request *req = r->req;

    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "request-id", r->rid);
    if (r->f->draining)
        evhttp_add_header(h, "Connection", "close");
    for (; extra != NULL && extra[0] != NULL; extra += 2)
        evhttp_add_header(h, extra[0], extra[1]);
    if (out == NULL) {
        cp_log(CP_LOG_ERROR, "out of memory building a reply");
        abort();
    }
    if (evhttp_request_get_command(r->req) == EVHTTP_REQ_HEAD) {
        /* evhttp 2.1.12 would write the body after a HEAD reply; send the length only */
        char cl[24];
        snprintf(cl, sizeof(cl), "%zu", len);
        evhttp_add_header(h, "Content-Length", cl);
        len = 0;
    }
    evbuffer_add(out, body, len);
    front_first_byte(r);
    front_access(r, status, len);
    front_req_free(r);
    evhttp_send_reply(req, status, cp_conn_phrase(status), out);
    evbuffer_free(out);
}

static void front_json(front_req_t *r, int status, json_t *body /* takes */)
{
    char *s = json_dumps(body, JSON_COMPACT);

    json_decref(body);
    front_reply(r, status, "application/json", s ? s : "{}", s ? strlen(s) : 2, NULL);
    free(s);
}

static void front_error_x(front_req_t *r, int status, const char *type, const char *msg,
                          const char *const *extra)
{
    char *s = cp_anth_error_json(status, type, msg, r->rid);

    snprintf(r->team.error_type, sizeof(r->team.error_type), "%s", type);
    cp_log(CP_LOG_DEBUG, "%s %s -> %d: %s", r->method, r->path, status, msg);
    front_reply(r, status, "application/json", s, strlen(s), extra);
    free(s);
}

/* ---- handlers ------------------------------------------------------------------------------- */

/* GET /health: status for anyone; the version, pid and load for callers on loopback or that prove the
 * instance key (x-ccproxy-auth); with x-ccproxy-nonce, the proof that this server holds the key and
 * the digest of its current configuration (lib/cli/cp_ident.h). */
static void front_health(front_req_t *r)
{
    struct evhttp_connection *evc = evhttp_request_get_connection(r->req);
    const cp_ident_key_t *key = cp_ident_server_key(); /* NULL: no instance key, no proof */
    const char *nonce = NULL, *auth = NULL;
    char digest[CP_IDENT_HEX + 1], proof[CP_IDENT_HEX + 1];
    struct evkeyval *kv;
    json_t *body; /* owned until sent */
    int twice = 0, trusted;

    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(r->req), next)
    {
        if (strcasecmp(kv->key, CP_IDENT_NONCE_HEADER) == 0) {
            twice |= nonce != NULL;
            nonce = kv->value;
        } else if (strcasecmp(kv->key, CP_IDENT_AUTH_HEADER) == 0) {
            twice |= auth != NULL;
            auth = kv->value;
        }
    }
    if (twice || (nonce != NULL && !cp_ident_nonce_ok(nonce)) || (auth != NULL && nonce == NULL)) {
        front_error_x(r, 400, "invalid_request_error",
                      twice           ? "x-ccproxy-nonce and x-ccproxy-auth may appear once each"
                      : nonce == NULL ? "x-ccproxy-auth needs an x-ccproxy-nonce"
                                      : "x-ccproxy-nonce must be 32 to 64 hex digits",
                      NULL);
        return;
    }
    /* Who may see the pid and the load: loopback peers, and callers that prove the instance key.
     * Client keys, once they exist, are the third way in: here. */
    trusted =
        cp_ident_peer_loopback(evc ? evhttp_connection_get_addr(evc) : NULL) ||
        (key != NULL && auth != NULL && cp_ident_client_ok(key, nonce, auth)) ||
        cp_scrape_insider(r->cfg, evhttp_find_header(evhttp_request_get_input_headers(r->req), "x-api-key"),
                          evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization"));
    body = json_pack("{s:s,s:s}", "status", "ok", "service", "ccproxy");
    if (trusted)
        json_object_update_new(
            body, json_pack("{s:s,s:I,s:I,s:I,s:I}", "version", CP_VERSION, "pid", (json_int_t)getpid(),
                            "uptime_s", (json_int_t)((cp_mono_us() - r->f->started_us) / 1000000u), "active",
                            (json_int_t)r->f->active - 1, "streams", (json_int_t)r->f->streams));
    if (trusted && r->f->health != NULL) /* breakers and key states (docs/resilience.md) */
        json_object_set_new(
            body, "upstreams",
            cp_health_json(r->f->health, r->cfg->providers, r->cfg->nproviders, cp_mono_us() / 1000u));
    if (nonce != NULL && key != NULL && cp_ident_config_digest(key, r->cfg->merged, digest) == CP_OK) {
        cp_ident_proof(key, nonce, (long)getpid(), digest, proof);
        json_object_set_new(body, "config_digest", json_string(digest));
        json_object_set_new(body, "proof", json_string(proof));
    }
    front_json(r, 200, body);
}

static void front_root(front_req_t *r)
{
    front_json(r, 200, json_pack("{s:s,s:s}", "service", "ccproxy", "version", CP_VERSION));
}

/* Adds the configured target <model> as "name@provider", unless already listed. */
static void front_models_add(json_t *data, const cp_config_t *cfg, const char *model)
{
    char id[CP_ROUTE_MODEL_MAX + 96];
    size_t i;
    json_t *m; /* borrowed */
    cp_route_t rt;

    if (cp_route_target(cfg, model, &rt, NULL) != CP_OK)
        return;
    snprintf(id, sizeof(id), "%s@%s", rt.model, rt.provider->name);
    json_array_foreach(data, i, m) if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0) return;
    json_array_append_new(data, json_pack("{s:s,s:s,s:s,s:s,s:n,s:n}", "type", "model", "id", id,
                                          "display_name", id, "created_at", "1970-01-01T00:00:00Z",
                                          "max_input_tokens", "max_tokens"));
}

static void front_models(front_req_t *r)
{
    json_t *data = json_array(); /* owned until packed */
    size_t n;

    front_models_add(data, r->cfg, r->cfg->big_model);
    front_models_add(data, r->cfg, r->cfg->small_model);
    {
        const char *pat;
        json_t *target;                                     /* borrowed from the config */
        json_object_foreach(r->cfg->model_map, pat, target) /* a chain is listed by its target */
            front_models_add(data, r->cfg,
                             json_string_value(json_is_array(target) ? json_array_get(target, 0) : target));
    }
    n = json_array_size(data);
    front_json(r, 200,
               json_pack("{s:o,s:b,s:O?,s:O?}", "data", data, "has_more", 0, "first_id",
                         n ? json_object_get(json_array_get(data, 0), "id") : NULL, "last_id",
                         n ? json_object_get(json_array_get(data, n - 1), "id") : NULL));
}

static void front_messages(front_req_t *r, enum cp_anth_kind kind)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t n = evbuffer_get_length(in);
    const char *buf = n ? (const char *)evbuffer_pullup(in, -1) : "";
    json_t *body; /* owned */
    cp_err_t e = {0};
    cp_route_t rt;

    r->bytes_in = n;
    if (!cp_guard_json_type(evhttp_find_header(evhttp_request_get_input_headers(r->req), "Content-Type"))) {
        evbuffer_drain(in, n);
        front_error_x(r, 415, "invalid_request_error",
                      "Content-Type must be application/json (a web page cannot send that without a CORS "
                      "preflight)",
                      NULL);
        return;
    }
    if (cp_json_count_values(buf, n, r->cfg->max_json_values) > r->cfg->max_json_values) {
        char msg[200];
        evbuffer_drain(in, n);
        snprintf(msg, sizeof(msg), "The request body has more than %zu JSON values (server.maxJsonValues)",
                 r->cfg->max_json_values);
        front_error_x(r, 413, "request_too_large", msg, NULL);
        return;
    }
    body = cp_anth_parse(buf, n, &e);
    evbuffer_drain(in, n); /* parsed: a long stream must not keep the raw body too */
    if (body == NULL) {
        cp_front_req_error(r, &e, NULL);
        return;
    }
    if (json_is_string(json_object_get(body, "model")))
        snprintf(r->model, sizeof(r->model), "%s", json_string_value(json_object_get(body, "model")));
    if (cp_anth_validate(body, kind, &e) != CP_OK || cp_route_resolve(r->cfg, r->model, &rt, &e) != CP_OK) {
        json_decref(body);
        cp_front_req_error(r, &e, NULL);
        return;
    }
    cp_front_req_note(r, rt.provider->name, rt.model);
    if (r->f->team != NULL) {
        const char *hdr[3];
        char hbuf[24];
        struct evkeyvalq *h = evhttp_request_get_input_headers(r->req);
        const char *sid = evhttp_find_header(h, "x-claude-code-session-id");
        const char *aid = evhttp_find_header(h, "x-claude-code-agent-id");

        snprintf(r->team.session, sizeof(r->team.session), "%s", sid != NULL ? sid : "");
        snprintf(r->team.agent, sizeof(r->team.agent), "%s", aid != NULL ? aid : "");
        if (cp_team_admit(r->f->team, &r->team, kind, body, r->bytes_in, r->model, &rt, &e, hdr, hbuf) !=
            CP_OK) {
            json_decref(body);
            cp_front_req_error(r, &e, hdr);
            return;
        }
    }
    r->f->handler(r->f->handler_ud, r, kind, body, &rt); /* takes body; answers r now or later */
}

/* GET /ccproxy/key: the caller's key, its limits and where it stands (`ccproxy status` shows it). */
static void front_key(front_req_t *r)
{
    if (r->f->team == NULL) {
        front_error_x(r, 404, "not_found_error", "Not found: GET /ccproxy/key", NULL);
        return;
    }
    front_json(r, 200, cp_team_key_view(r->f->team, &r->team, r->cfg));
}

/* GET /metrics (lib/net/cp_scrape.h): loopback, metrics.allow or metrics.token; 401 / 403 otherwise. */
static void front_metrics(front_req_t *r)
{
    struct evhttp_connection *evc = evhttp_request_get_connection(r->req);
    const char *authz = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
    cp_metrics_gauges_t g = {.active_requests =
                                 (double)r->f->active - (r->conn != NULL), /* not this scrape */
                             .active_streams = (double)r->f->streams,
                             .open_connections = (double)cp_conns_count(r->f->conns)};
    cp_buf_t b;
    cp_err_t e = {0};

    cp_buf_init(&b, CP_METRICS_TEXT_MAX);
    if (cp_scrape(r->f->metrics, r->f->health, r->f->team, r->cfg,
                  evc ? evhttp_connection_get_addr(evc) : NULL, authz, &g, &b, &e) == CP_OK)
        front_reply(r, 200, CP_METRICS_CONTENT_TYPE, cp_buf_str(&b), b.len, NULL);
    else
        cp_front_req_error(r, &e, NULL);
    cp_buf_free(&b);
}

/* Who is asking (lib/team/cp_team.h): CP_OK, or CP_ERR after answering 401. */
static int front_auth(front_req_t *r)
{
    struct evhttp_connection *evc = evhttp_request_get_connection(r->req);
    struct evkeyvalq *h = evhttp_request_get_input_headers(r->req);
    cp_err_t e = {0};

    if (cp_team_auth(r->cfg, cp_ident_peer_loopback(evc ? evhttp_connection_get_addr(evc) : NULL),
                     evhttp_find_header(h, "x-api-key"), evhttp_find_header(h, "Authorization"), &r->team,
                     &e) == CP_OK)
        return CP_OK;
    cp_front_req_error(r, &e, NULL);
    return CP_ERR;
}

typedef struct front_route {
    const char *path;
    unsigned methods; /* EVHTTP_REQ_* bits */
    const char *allow;
    void (*get)(front_req_t *r);
    enum cp_anth_kind kind; /* for POST routes */
    int auth;               /* an API route: the caller must pass lib/team/cp_team.h's auth */
} front_route_t;

static const front_route_t front_routes[] = {
    {"/", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", front_root, 0, 0},
    {"/health", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", front_health, 0, 0},
    {"/v1/models", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", front_models, 0, 1},
    {"/v1/messages", EVHTTP_REQ_POST, "POST", NULL, CP_ANTH_MESSAGES, 1},
    {"/v1/messages/count_tokens", EVHTTP_REQ_POST, "POST", NULL, CP_ANTH_COUNT_TOKENS, 1},
    {"/ccproxy/key", EVHTTP_REQ_GET, "GET", front_key, 0, 1},
    {"/metrics", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", front_metrics, 0, 0},
};

static const char *front_method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "?";
    }
}

/* The browser guards of lib/net/cp_guard.h on this request's head (framing was checked by
 * lib/net/cp_frame.c before evhttp read it): NULL, or the error message (in <msg>). */
static const char *front_guard(front_req_t *r, char *msg, size_t n)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(r->req);

    return cp_guard_browser(r->cfg, evhttp_find_header(h, "Host"), evhttp_find_header(h, "Origin"), msg, n);
}

static void front_on_request(struct evhttp_request *req, void *arg)
{
    cp_front_t *f = arg;
    front_req_t *r = cp_xcalloc(1, sizeof(*r));
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);

    r->f = f;
    r->req = req;
    r->cfg = cp_config_ref(f->cfg);
    r->t0 = cp_mono_us();
    r->team.ttfb_ms = -1;
    r->team.t0_ms = (int64_t)cp_wall_ms();
    r->method = front_method_name(m);
    r->bytes_in = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    cp_req_id(r->rid);
    snprintf(r->path, sizeof(r->path), "%s", path && *path ? path : "/");
    r->conn = cp_conns_find(f->conns, evhttp_request_get_connection(req));
    if (r->conn != NULL) {
        f->active++;
        cp_conn_request(r->conn, 1);
        evhttp_request_set_on_complete_cb(req, front_on_complete, r->conn);
    }
    /* from here on <r> may be freed by any reply: never touch it after dispatching */

    if (req->major != 1 || (req->minor != 0 && req->minor != 1)) {
        /* evhttp takes any "HTTP/%d.%d" with a major of at most 1, and would echo it back */
        const char *const close[] = {"Connection", "close", NULL};
        req->major = 1;
        req->minor = 1;
        front_error_x(r, 505, "invalid_request_error", "HTTP version not supported: use HTTP/1.1", close);
        return;
    }
    {
        char why[320];
        const char *bad = front_guard(r, why, sizeof(why));

        if (bad != NULL) {
            front_error_x(r, 403, "permission_error", bad, NULL);
            return;
        }
    }

    for (size_t i = 0; i < sizeof(front_routes) / sizeof(front_routes[0]); i++) {
        const front_route_t *rt = &front_routes[i];
        char msg[320];

        if (strcmp(r->path, rt->path) != 0)
            continue;
        r->team.msg_route = rt->get == NULL && (rt->methods & (unsigned)m);
        if (!(rt->methods & (unsigned)m)) {
            const char *const allow[] = {"Allow", rt->allow, NULL};
            snprintf(msg, sizeof(msg), "Method %s is not allowed on %s; use %s", r->method, rt->path,
                     rt->allow);
            front_error_x(r, 405, "invalid_request_error", msg, allow);
        } else if (rt->auth && front_auth(r) != CP_OK) {
            /* answered: 401 */
        } else if (rt->get != NULL) {
            rt->get(r);
        } else {
            r->team.api = 1; /* a Messages request that passed auth: one ledger row, whatever follows */
            r->team.count = rt->kind == CP_ANTH_COUNT_TOKENS;
            front_messages(r, rt->kind);
        }
        return;
    }
    {
        char msg[320];
        snprintf(msg, sizeof(msg), "Not found: %s %.200s", r->method, r->path);
        front_error_x(r, 404, "not_found_error", msg, NULL);
    }
}

/* ---- one request: the API for asynchronous answers ------------------------------------------ */

const char *cp_front_req_id(const cp_front_req_t *r)
{
    return r->rid;
}

cp_config_t *cp_front_req_config(const cp_front_req_t *r)
{
    return r->cfg;
}

const char *cp_front_req_header(const cp_front_req_t *r, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
}

int cp_front_req_model_ok(const cp_front_req_t *r, const char *provider, const char *upstream_model)
{
    return r->team.key == NULL || cp_auth_model_ok(r->team.key, r->model, upstream_model, provider);
}

void cp_front_req_usage(cp_front_req_t *r, const cp_anth_usage_t *u)
{
    r->team.tokens_known = 1;
    r->team.tok.input = u->input;
    r->team.tok.output = u->output;
    r->team.tok.cache_read = u->cache_read;
    r->team.tok.cache_write = u->cache_write;
}

void cp_front_req_failed(cp_front_req_t *r, const char *error_type)
{
    snprintf(r->team.error_type, sizeof(r->team.error_type), "%s", error_type);
}

void cp_front_set_team(cp_front_t *f, cp_team_t *team)
{
    f->team = team;
}

void cp_front_set_metrics(cp_front_t *f, cp_metrics_t *m)
{
    f->metrics = m;
}

void cp_front_set_health(cp_front_t *f, cp_health_t *h)
{
    f->health = h;
}

void cp_front_req_upstream(cp_front_req_t *r, int64_t ttfb_us, uint64_t inflight_us, unsigned retries)
{
    r->team.upstream = 1;
    r->team.up_ttfb_us = ttfb_us;
    r->team.up_us = inflight_us;
    r->team.up_retries = retries;
}

void cp_front_req_note(cp_front_req_t *r, const char *provider, const char *upstream_model)
{
    snprintf(r->provider, sizeof(r->provider), "%s", provider);
    snprintf(r->upstream_model, sizeof(r->upstream_model), "%s", upstream_model);
}

void cp_front_req_add_header(cp_front_req_t *r, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->req), name, value);
}

void cp_front_req_watch(cp_front_req_t *r, cp_front_gone_cb cb, void *ud)
{
    evutil_socket_t fd;

    r->gone_cb = cb;
    r->gone_ud = ud;
    if (r->conn == NULL)
        return;
    cp_conn_set_pending(r->conn, r);
    /* before the reply starts evhttp does not read the socket, so it would notice a client that left
     * only when we write; a one-byte MSG_PEEK probe notices at once */
    fd = cp_conn_fd(r->conn);
    if (fd >= 0 && r->probe == NULL) {
        r->probe = event_new(r->f->base, fd, EV_READ | EV_PERSIST, front_probe_cb, r);
        if (r->probe != NULL)
            event_add(r->probe, NULL);
    }
}

/* evhttp's write callback: the connection's output buffer has drained. Its argument is the
 * connection record, which outlives any request on it. */
static void front_on_drained(struct evhttp_connection *evc, void *arg)
{
    cp_conn_t *c = arg;
    front_req_t *r = c ? cp_conn_pending(c) : NULL;

    (void)evc;
    if (r != NULL && r->drain_cb != NULL)
        r->drain_cb(r->drain_ud);
}

void cp_front_req_stream_start(cp_front_req_t *r, const char *ctype, cp_front_drain_cb drain, void *ud)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

    front_probe_disarm(r); /* evhttp watches the socket for close from now on */
    r->drain_cb = drain;
    r->drain_ud = ud;
    r->started = 1;
    front_first_byte(r);
    r->sse = strncmp(ctype, "text/event-stream", 17) == 0;
    r->f->streams++;
    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "request-id", r->rid);
    if (r->f->draining)
        evhttp_add_header(h, "Connection", "close");
    evhttp_send_reply_start(r->req, 200, "OK");
}

void cp_front_req_stream_write(cp_front_req_t *r, const char *p, size_t n)
{
    if (n == 0 || evhttp_request_get_connection(r->req) == NULL)
        return; /* detached: the close callback is on its way */
    if (r->chunk == NULL && (r->chunk = evbuffer_new()) == NULL) {
        cp_log(CP_LOG_ERROR, "out of memory streaming a reply");
        abort();
    }
    evbuffer_add(r->chunk, p, n);
    r->bytes_out += n;
    /* always the _with_cb form: the plain one clears the drain callback */
    evhttp_send_reply_chunk_with_cb(r->req, r->chunk, front_on_drained, r->conn);
    evbuffer_drain(r->chunk, evbuffer_get_length(r->chunk)); /* normally empty already */
}

size_t cp_front_req_pending(const cp_front_req_t *r)
{
    if (r->conn == NULL)
        return 0;
    return cp_conn_unsent(r->conn);
}

void cp_front_req_stream_end(cp_front_req_t *r)
{
    struct evhttp_request *req = r->req;

    front_access(r, 200, r->bytes_out);
    front_req_free(r); /* clears conn->pending first: a synchronous close must not find it */
    evhttp_send_reply_end(req);
}

void cp_front_req_reply(cp_front_req_t *r, int status, const char *ctype, const char *body, size_t len,
                        const char *const *extra)
{
    front_reply(r, status, ctype, body, len, extra);
}

void cp_front_req_error(cp_front_req_t *r, const cp_err_t *e, const char *const *extra)
{
    const char *hdr[12];
    size_t n = 0;
    int status = e->http_status ? e->http_status : 500;

    /* 4xx answers are the client's to fix: tell the SDKs not to retry them (408/409/429 are retryable,
     * unless the error says retrying cannot help, as an exhausted quota does) */
    if (e->no_retry || (status >= 400 && status < 500 && status != 408 && status != 409 && status != 429)) {
        hdr[n++] = "x-should-retry";
        hdr[n++] = "false";
    }
    for (; extra != NULL && extra[0] != NULL && n + 2 < sizeof(hdr) / sizeof(hdr[0]); extra += 2) {
        hdr[n++] = extra[0];
        hdr[n++] = extra[1];
    }
    hdr[n] = NULL;
    front_error_x(r, status, e->type ? e->type : cp_anth_error_type(status), e->msg, hdr);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void front_idle_fire(evutil_socket_t fd, short what, void *arg)
{
    cp_front_t *f = arg;

    (void)fd;
    (void)what;
    if (f->draining && cp_conns_count(f->conns) == 0 && f->active == 0 && f->idle_cb != NULL)
        f->idle_cb(f, f->idle_ud);
}

static void front_check_idle(cp_front_t *f)
{
    if (f->draining && cp_conns_count(f->conns) == 0 && f->active == 0)
        event_active(f->idle_ev, EV_TIMEOUT, 0); /* never call out from inside evhttp's callbacks */
}

static void front_apply_limits(cp_front_t *f, const cp_config_t *cfg)
{
    evhttp_set_max_body_size(f->http, (ev_ssize_t)cfg->max_body_bytes);
    evhttp_set_max_headers_size(f->http, (ev_ssize_t)cfg->max_header_bytes);
    evhttp_set_timeout(f->http, (int)cfg->client_timeout_s);
}

static int front_bind(cp_front_t *f, const char *host, int port, cp_err_t *e)
{
    evutil_socket_t fd = cp_accept_listen(host, port);
    struct evhttp_bound_socket *s = fd == -1 ? NULL : evhttp_accept_socket_with_handle(f->http, fd);

    if (s == NULL) {
        int saved = errno;
        if (fd != -1)
            evutil_closesocket(fd);
        return cp_err_set(e, 0, NULL, "cannot listen on %s:%d: %s", host, port, strerror(saved));
    }
    if (f->sock != NULL)
        evhttp_del_accept_socket(f->http, f->sock);
    f->sock = s;
    cp_accept_watch(f->acc, evhttp_bound_socket_get_listener(s));
    free(f->host);
    f->host = cp_xstrdup(host);
    f->port = port;
    f->bound_port = port;
    {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (port == 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0) /* any free port: which one */
            f->bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                           : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return CP_OK;
}

cp_front_t *cp_front_new(struct event_base *base, cp_front_handler_fn handler, void *ud, cp_config_t *cfg,
                         cp_err_t *e)
{
    cp_front_t *f = cp_xcalloc(1, sizeof(*f));
    cp_tls_t *tls = NULL;

    f->base = base;
    f->handler = handler;
    f->handler_ud = ud;
    f->started_us = cp_mono_us();
    f->http = evhttp_new(base);
    f->acc = cp_accept_new(base);
    f->idle_ev = event_new(base, -1, 0, front_idle_fire, f);
    if (f->http == NULL || f->idle_ev == NULL) {
        cp_err_set(e, 0, NULL, "cannot create the HTTP server");
        cp_front_free(f);
        return NULL;
    }
    f->cfg = cp_config_ref(cfg);
    /* every method reaches us, so that wrong methods get our 405 instead of evhttp's 501 page */
    evhttp_set_allowed_methods(f->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_PATCH);
    f->conns = cp_conns_new(base, f->http, f->cfg, front_conn_closed, f);
    evhttp_set_gencb(f->http, front_on_request, f);
    front_apply_limits(f, cfg);
    if (cp_tls_load(cfg, &tls, e) != CP_OK || front_bind(f, cfg->host, cfg->port, e) != CP_OK) {
        cp_tls_free(tls);
        cp_front_free(f);
        return NULL;
    }
    cp_conns_config(f->conns, cfg, tls);
    return f;
}

int cp_front_reload(cp_front_t *f, cp_config_t *cfg, cp_err_t *e)
{
    cp_tls_t *tls = NULL; /* certificate and key read again: a renewed certificate needs only SIGHUP */

    if (cp_tls_load(cfg, &tls, e) != CP_OK ||
        ((strcmp(cfg->host, f->host) != 0 || cfg->port != f->port) && !f->draining &&
         front_bind(f, cfg->host, cfg->port, e) != CP_OK)) {
        cp_tls_free(tls);
        return CP_ERR;
    }
    front_apply_limits(f, cfg);
    cp_conns_config(f->conns, cfg, tls);
    cp_config_unref(f->cfg);
    f->cfg = cp_config_ref(cfg);
    return CP_OK;
}

void cp_front_drain(cp_front_t *f, cp_front_idle_cb cb, void *ud)
{
    f->idle_cb = cb;
    f->idle_ud = ud;
    if (!f->draining) {
        f->draining = 1;
        if (f->sock != NULL)
            evhttp_del_accept_socket(f->http, f->sock);
        f->sock = NULL;
        cp_accept_watch(f->acc, NULL);
        cp_conns_drain(f->conns); /* closes idle connections from the loop */
    }
    front_check_idle(f);
}

/* Ends <r> now (see cp_front_abort): tells its owner, which cancels the upstream, then closes the
 * stream with an error event, or answers 503. */
static void front_abort_one(void *pending, void *ud)
{
    front_req_t *r = pending;
    const char *msg = ud;
    cp_front_gone_cb cb = r->gone_cb;
    void *cb_ud = r->gone_ud;

    r->gone_cb = NULL;
    r->drain_cb = NULL;
    if (cb != NULL)
        cb(cb_ud); /* the owner forgets <r> */
    if (r->started) {
        cp_front_req_failed(r, "overloaded_error");
        if (r->sse && evhttp_request_get_connection(r->req) != NULL) {
            char *j = cp_anth_error_json(529, "overloaded_error", msg, r->rid);
            char *ev = cp_xasprintf("event: error\ndata: %s\n\n", j);
            cp_front_req_stream_write(r, ev, strlen(ev));
            free(ev);
            free(j);
        }
        cp_front_req_stream_end(r);
    } else {
        const char *const hdr[] = {"Connection", "close", "retry-after", "5", NULL};
        front_error_x(r, 503, "overloaded_error", msg, hdr);
    }
}

void cp_front_abort(cp_front_t *f, const char *msg)
{
    cp_conns_each_pending(f->conns, front_abort_one, (void *)msg);
}

int cp_front_port(const cp_front_t *f)
{
    return f->bound_port;
}

unsigned cp_front_active(const cp_front_t *f)
{
    return f->active;
}

unsigned cp_front_streams(const cp_front_t *f)
{
    return f->streams;
}

unsigned cp_front_connections(const cp_front_t *f)
{
    return f->conns != NULL ? cp_conns_count(f->conns) : 0;
}

void cp_front_free(cp_front_t *f)
{
    if (f == NULL)
        return;
    if (f->http != NULL)
        evhttp_free(f->http); /* closes every connection: cp_conn frees the associated ones */
    f->http = NULL;
    cp_accept_free(f->acc);
    cp_conns_free(f->conns);
    f->conns = NULL;
    if (f->idle_ev != NULL)
        event_free(f->idle_ev);
    f->idle_ev = NULL;
    cp_config_unref(f->cfg);
    free(f->host);
    free(f);
}
