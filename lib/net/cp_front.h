/* lib/net/cp_front.h: the client side: the evhttp listener, connections, routes, replies, access log.
 *
 * One cp_front_t per event_base. It holds a reference to the current configuration; every request
 * takes its own reference when it starts, so a reload (cp_front_reload) never changes the config a
 * request in flight sees. Connections are tracked from accept to close so that a drain can tell
 * idle keep-alive connections (closed at once) from ones with a request under way (left to finish).
 * All functions must be called from the loop's thread, outside evhttp callbacks of this front. */
#ifndef CP_FRONT_H
#define CP_FRONT_H

#include <event2/event.h>

#include <jansson.h>

#include "cp_anth.h"
#include "cp_anth_out.h"
#include "cp_common.h"
#include "cp_config.h"
#include "cp_route.h"

typedef struct cp_front cp_front_t;
typedef struct cp_front_req cp_front_req_t; /* one request from handler to reply */

/* Answers a parsed, validated and routed Messages request: takes <body>; borrows <route> during the
 * call; must eventually reply to <r> (see "one request" below). The front knows nothing of what
 * answers it (lib/exchange/ does). */
typedef void (*cp_front_handler_fn)(void *ud, cp_front_req_t *r, enum cp_anth_kind kind, json_t *body,
                                    const cp_route_t *route);

/* Called (from the loop) when a draining front has no connection and no request left. */
typedef void (*cp_front_idle_cb)(cp_front_t *f, void *ud);

/* Creates the HTTP server on <base> and binds <cfg>'s host and port. Borrows <base> for the front's
 * lifetime; <handler> with <ud> answers Messages requests; takes a new reference on <cfg>. Returns
 * new, or NULL with <e> saying why (bind failed). */
cp_front_t *cp_front_new(struct event_base *base, cp_front_handler_fn handler, void *ud, cp_config_t *cfg,
                         cp_err_t *e);

/* Installs <cfg> (takes a new reference) for requests that start from now on. If the listen
 * address changed, binds the new one first and keeps the old one when that fails. Returns CP_OK, or
 * CP_ERR with <e> set and nothing changed. */
int cp_front_reload(cp_front_t *f, cp_config_t *cfg, cp_err_t *e);

/* Stops accepting, closes idle connections, answers later requests with "Connection: close", and
 * calls <cb> once nothing is left (possibly from the loop right away). */
void cp_front_drain(cp_front_t *f, cp_front_idle_cb cb, void *ud);

/* Ends every request in flight at once (the drain timeout): a started event stream gets an
 * `event: error` (overloaded_error, <msg>) and ends, so the client sees why instead of a truncated
 * body; a request not answered yet gets 503 overloaded_error with retry-after. Their upstream
 * transfers are cancelled through the owners' gone callbacks. */
void cp_front_abort(cp_front_t *f, const char *msg);

/* The port listened on (the one the kernel chose when the configured port is 0). */
int cp_front_port(const cp_front_t *f);

/* Requests being handled right now, and open client connections. */
unsigned cp_front_active(const cp_front_t *f);
unsigned cp_front_connections(const cp_front_t *f);

/* Of the requests in flight, those whose reply is being streamed. */
unsigned cp_front_streams(const cp_front_t *f);

/* Closes every connection and frees the front. Accepts NULL. */
void cp_front_free(cp_front_t *f);

/* ---- one request, for the handler that answers it asynchronously -------------------------------- */

/* Called once when the client goes away before the reply was sent. <r> is freed right after the
 * callback returns: the callee must forget it. Runs from a libevent callback. */
typedef void (*cp_front_gone_cb)(void *ud);

/* Borrowed views, valid while <r> lives. */
const char *cp_front_req_id(const cp_front_req_t *r);
cp_config_t *cp_front_req_config(const cp_front_req_t *r);                  /* the request's snapshot */
const char *cp_front_req_header(const cp_front_req_t *r, const char *name); /* a request header */

/* Whether the request's developer key (if any) may use <upstream_model>@<provider>: its "models" list
 * (docs/team.md) holds for every candidate of a fallback chain, not only the route's target. */
int cp_front_req_model_ok(const cp_front_req_t *r, const char *provider, const char *upstream_model);

/* Developer keys, limits and the ledger (lib/team/cp_team.h), borrowed; NULL (the default) turns them
 * off. Set once, before the loop runs. */
typedef struct cp_team cp_team_t;
void cp_front_set_team(cp_front_t *f, cp_team_t *team);

/* The registry GET /metrics serves and every finished request is counted in (lib/net/cp_metrics.h),
 * borrowed; NULL (the default): /metrics is 404 and nothing is counted. Set once, before the loop runs. */
typedef struct cp_metrics cp_metrics_t;
void cp_front_set_metrics(cp_front_t *f, cp_metrics_t *m);

/* What the exchanges remember of the upstreams (lib/exchange/cp_health.h), borrowed: its breakers and
 * key states are shown by /health to trusted callers and by /metrics. NULL (the default): not shown. */
typedef struct cp_health cp_health_t;
void cp_front_set_health(cp_front_t *f, cp_health_t *h);

/* What the upstream side of <r> took, for the metrics: <ttfb_us> from the upstream request sent to its
 * head (the last attempt; -1: no head), <inflight_us> the time upstream transfers were in flight
 * (summed over attempts), <retries> the requests sent again. Call before the reply ends (or from the
 * gone callback), like cp_front_req_usage. */
void cp_front_req_upstream(cp_front_req_t *r, int64_t ttfb_us, uint64_t inflight_us, unsigned retries);

/* The tokens the upstream reported for <r> (copied), for the ledger and the limits: call before the
 * reply ends (or from the gone callback). */
void cp_front_req_usage(cp_front_req_t *r, const cp_anth_usage_t *u);

/* <r> ends with an error although its reply started with 200 (an error event in the stream): the
 * ledger records <error_type> (copied). */
void cp_front_req_failed(cp_front_req_t *r, const char *error_type);

/* Records the resolved provider and upstream model for the access log (copied). */
void cp_front_req_note(cp_front_req_t *r, const char *provider, const char *upstream_model);

/* Adds a header (copied) to the reply that is yet to start: a whole reply, an error, or a stream. */
void cp_front_req_add_header(cp_front_req_t *r, const char *name, const char *value);

/* Takes the request asynchronous: watches the client connection so that <cb> is called if it closes
 * before the reply. */
void cp_front_req_watch(cp_front_req_t *r, cp_front_gone_cb cb, void *ud);

/* Streaming replies. stream_start sends the 200 head with <ctype>; <drain> (may be NULL) is called from
 * the loop each time the connection's output buffer has drained after a write. stream_write sends
 * bytes (copied) as the next chunk; pending is what the client has not taken yet (for backpressure);
 * stream_end finishes the reply, writes the access line and frees <r>. A client that leaves during the
 * stream is reported through the cp_front_req_watch callback, after which <r> is gone. */
typedef void (*cp_front_drain_cb)(void *ud);
void cp_front_req_stream_start(cp_front_req_t *r, const char *ctype, cp_front_drain_cb drain, void *ud);
void cp_front_req_stream_write(cp_front_req_t *r, const char *p, size_t n);
size_t cp_front_req_pending(const cp_front_req_t *r);
void cp_front_req_stream_end(cp_front_req_t *r);

/* Sends the whole reply, writes the access line and frees <r>. <extra>: NULL or "Name", "value", ...,
 * NULL. */
void cp_front_req_reply(cp_front_req_t *r, int status, const char *ctype, const char *body, size_t len,
                        const char *const *extra);

/* Sends the Anthropic error envelope for <e> (plus x-should-retry: false for 4xx other than 408, 409
 * and 429, and <extra>), writes the access line and frees <r>. */
void cp_front_req_error(cp_front_req_t *r, const cp_err_t *e, const char *const *extra);

#endif
