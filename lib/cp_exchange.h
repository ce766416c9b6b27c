/* lib/cp_exchange.h: one proxied POST /v1/messages or /v1/messages/count_tokens.
 *
 * Ties the client request (cp_front_req_t), the upstream transfer (cp_xfer_t) and the provider's
 * translation together. openai-style providers: the body is translated (cp_oai), sent to
 * <baseURL>/chat/completions, and the answer translated back; count_tokens is answered locally
 * (cp_tok). anthropic-style providers: the body goes to <baseURL>/v1/messages[/count_tokens] with the
 * upstream model name and the provider's key, and the answer is relayed with its status.
 *
 * Lifetime: the exchange lives until both halves are released: the client half when the reply is
 * sent or the client left, the upstream half when the transfer ended or was cancelled. It is freed
 * from a deferred event, never inside the callback that released the last half. */
#ifndef CP_EXCHANGE_H
#define CP_EXCHANGE_H

#include <jansson.h>

#include "cp_anth.h"
#include "cp_front.h"
#include "cp_route.h"

/* Starts answering <r> (borrowed until it is replied to or gone). Takes <body>, the validated
 * Anthropic request; borrows <route> during the call (its provider lives in <r>'s config snapshot).
 * Replies to <r> before returning (errors, local answers) or later. */
void cp_exchange_start(cp_front_req_t *r, cp_up_t *up, enum cp_anth_kind kind, json_t *body,
                       const cp_route_t *route);

/* Exchanges alive (for /health and the drain). */
unsigned cp_exchange_live(void);

/* Shutdown: cancels the upstream transfer of every exchange still alive (their clients are gone by
 * then); the exchanges are freed on the loop's next pass. From libevent context only. */
void cp_exchange_cancel_all(void);

#endif
