/* lib/exchange/cp_exchange.h: one proxied POST /v1/messages or /v1/messages/count_tokens.
 *
 * The exchange ties a client request (cp_front_req_t), the upstream transfer (cp_xfer_t) and the
 * provider's adapter (cp_prov.h) together. It is provider-agnostic: it asks the adapter for the
 * upstream request, hands it the answer's head and body, and sends the client what the adapter
 * returns. All I/O decisions are here (when to start the reply, backpressure, pings, disconnects,
 * the deferred free); all translation decisions are in the adapter.
 *
 * Lifetime: an exchange lives until both halves are released: the client half when the reply is sent
 * or the client left, the upstream half when the transfer ended or was cancelled. It is freed from a
 * deferred event, never inside the callback that released the last half. */
#ifndef CP_EXCHANGE_H
#define CP_EXCHANGE_H

#include <event2/event.h>
#include <jansson.h>

#include "cp_anth.h"
#include "cp_front.h"
#include "cp_route.h"

/* Every exchange of one loop, and what they share (the upstream multi, the learned caps). */
typedef struct cp_exchanges cp_exchanges_t;
typedef struct cp_up cp_up_t;

/* Returns new. Borrows <base> and <up> for its lifetime. */
cp_exchanges_t *cp_exchanges_new(struct event_base *base, cp_up_t *up);

/* Frees. Call after cp_exchange_cancel_all() and one more loop pass (exchanges are freed from the
 * loop). Accepts NULL. */
void cp_exchanges_free(cp_exchanges_t *xs);

/* The front's request handler (cp_front_handler_fn) for Messages requests; <ud> is the
 * cp_exchanges_t. Answers <r> (borrowed until it is replied to or gone) now (errors, local answers)
 * or later. Takes <body>, the validated Anthropic request; borrows <route> during the call (its
 * provider lives in <r>'s config snapshot). */
void cp_exchange_start(void *ud, cp_front_req_t *r, enum cp_anth_kind kind, json_t *body,
                       const cp_route_t *route);

/* Counts each upstream attempt into <m> (ccproxy_upstream_attempts_total); <m> is borrowed, NULL: none. */
void cp_exchanges_set_metrics(cp_exchanges_t *xs, struct cp_metrics *m);

/* What the exchanges remember of the upstreams (breakers, keys, sessions), for /health and /metrics and
 * the reload (cp_health_reload). Borrowed: lives as long as <xs>. */
struct cp_health *cp_exchanges_health(cp_exchanges_t *xs);

/* Exchanges alive (for the drain). */
unsigned cp_exchange_live(const cp_exchanges_t *xs);

/* Shutdown: cancels the upstream transfer of every exchange still alive (their clients are gone by
 * then); the exchanges are freed on the loop's next pass. From libevent context only. */
void cp_exchange_cancel_all(cp_exchanges_t *xs);

#endif
