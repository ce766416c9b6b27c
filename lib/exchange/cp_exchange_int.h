/* lib/exchange/cp_exchange_int.h: the exchange's insides, shared by its two files:
 *   cp_exchange.c  the I/O state machine: the client's reply, the upstream transfer, streaming,
 *                  backpressure, pings, the deferred free;
 *   cp_failover.c  the choices between attempts (docs/resilience.md): which candidate and key the next
 *                  attempt goes to (fallback chains, session affinity, key pools, circuit breakers),
 *                  and whether a failed attempt is waited for, retried, or handed over.
 * Not a public interface: nothing outside lib/exchange/ includes it. */
#ifndef CP_EXCHANGE_INT_H
#define CP_EXCHANGE_INT_H

#include <sys/queue.h>

#include "cp_buf.h"
#include "cp_caps.h"
#include "cp_exchange.h"
#include "cp_health.h"
#include "cp_metrics.h"
#include "cp_prov.h"
#include "cp_up.h"

#define EX_ERROR_BODY_MAX (64u * 1024u) /* what we keep of a non-2xx upstream body */
#define EX_OUT_KEEP       4096          /* output buffer capacity kept between pieces */
#define EX_LINGER_MS      100           /* after a complete answer, how long the upstream may take to end */
#define EX_COOL_MS        1000          /* a key's cooling after a 429 that named no time */
#define EX_HALF_CLIENT    1u
#define EX_HALF_UPSTREAM  2u

struct cp_exchanges {
    struct event_base *base; /* borrowed */
    cp_up_t *up;             /* borrowed */
    cp_caps_t *caps;         /* owned: output-token caps learned from upstream answers */
    cp_health_t *health;     /* owned: breakers, key states, session affinity (kept across reloads) */
    cp_metrics_t *metrics;   /* borrowed, or NULL: ccproxy_upstream_attempts_total */
    unsigned live;
    LIST_HEAD(, exchange) all; /* every live exchange */
};

typedef struct exchange {
    cp_exchanges_t *xs;
    cp_front_req_t *fr;        /* NULL once replied or gone */
    cp_xfer_t *xfer;           /* NULL once done or cancelled */
    cp_config_t *cfg;          /* own reference: the providers below live in it */
    const cp_provider_t *prov; /* the current candidate's */
    const cp_prov_ops_t *ops;
    void *st;                       /* owned: the adapter's state */
    char model[CP_ROUTE_MODEL_MAX]; /* the client's model */
    char upstream_model[CP_ROUTE_MODEL_MAX];
    /* candidates (cp_failover.c) */
    cp_route_next_t *cand;     /* owned, ncand: the target, then its fallbacks; the session's candidate first
                                  (sized to need: a stream keeps its exchange for minutes) */
    cp_route_next_t *ctx;      /* owned, nctx: models.contextFallbacks of the target; NULL when none */
    unsigned ncand, nctx, cur; /* cur: the current candidate's index in cand */
    int key;                   /* the current attempt's key: index into prov->keys; -1: none */
    uint64_t session;          /* cp_health_session_id of x-claude-code-session-id; 0: none */
    char cache_key[33];        /* the session's prompt_cache_key; "" when none */
    unsigned probe : 1;        /* the current attempt is its breaker's half-open probe */
    unsigned reported : 1;     /* the current attempt's outcome went to the breaker and the metrics */
    unsigned ctx_used : 1;     /* the candidates were replaced by the context fallbacks */
    unsigned skipped;          /* candidates passed over (breaker open, no usable key) */
    json_t *request;           /* own reference to the client's body while another attempt may be made */
    struct event *wait;        /* a Retry-After or backoff pause before the same candidate is asked again */
    unsigned tries;            /* attempts on the current candidate */
    uint64_t start_us;         /* when the request reached the exchange */
    uint64_t free_at_ms;       /* the earliest a candidate said it frees up (wall clock); 0: none said */
    enum cp_anth_kind kind;
    unsigned client_stream : 1;
    char rid[CP_REQ_ID_LEN + 1];
    unsigned live;          /* EX_HALF_* still held */
    unsigned streaming : 1; /* the streamed reply started */
    unsigned paused : 1;    /* we paused the transfer: client output above the high-water mark */
    unsigned in_curl : 1;   /* inside on_head/on_body: the transfer must not be removed now */
    long status;            /* of the upstream answer */
    unsigned sent;          /* upstream requests sent (the first and each retry) */
    uint64_t sent_us;       /* when the current one was sent (cp_mono_us) */
    uint64_t up_us;         /* in flight, summed over the attempts that ended */
    int64_t ttfb_us;        /* sent -> head of the current attempt; -1: no head yet */
    cp_buf_t out;           /* client bytes the adapter produced, not written yet */
    cp_buf_t body;          /* the collected upstream body */
    struct event *ping;
    const struct timeval *ping_tv; /* the base's common timeout for ping_interval_s */
    struct event *linger;          /* cancels a transfer still open after its answer was complete */
    struct event *reap;
    struct timeval ping_store; /* used when no common timeout could be made */
    LIST_ENTRY(exchange) link; /* in xs->all */
} exchange_t;

/* ---- cp_exchange.c, for cp_failover.c ---- */

/* Runs the current candidate's adapter on <body>: sends its upstream request, or answers. */
void ex_begin(exchange_t *x, json_t *body);

/* Answers the client with <e> (and the extra header pairs <extra>, NULL-terminated, or NULL). */
void ex_error(exchange_t *x, const cp_err_t *e, const char *const *extra);

/* ---- cp_failover.c, for cp_exchange.c ---- */

/* Fills the candidates of <x> from <route> and the session of the request; the session's last
 * candidate goes first. Chooses the first usable one and makes it current. Returns 1, or 0 when none
 * may be asked now (the client was answered). */
int ex_cands_start(exchange_t *x, const cp_route_t *route);

/* The first-byte timeout of an attempt on the current candidate. */
long ex_first_byte_timeout(const exchange_t *x);

/* The current attempt was answered without an upstream request (or none could be started). */
void ex_attempt_unsent(exchange_t *x);

/* The current attempt ended with upstream <status> (0: no answer; <gone>: the client left first):
 * tells the breaker and the metrics, once per attempt. */
void ex_attempt_end(exchange_t *x, long status, int gone);

/* The current candidate answered nothing at all (connect, TLS, first-byte timeout: <why>): the next
 * usable candidate gets the request. Returns 1 when one was started, 0 when none is left. */
int ex_next(exchange_t *x, const char *why);

/* The current candidate answered the non-2xx x->status: a key refused, a failover status, a context
 * overflow (docs/resilience.md). Returns 1 when another attempt was started or is waited for, 0 when
 * the answer stands. */
int ex_recover(exchange_t *x, cp_xfer_t *xf);

/* The retry-after headers for the client's error: the upstream's, or the wait until the earliest a
 * candidate frees up (<buf>: 48 bytes). <hdr>: <cap> slots. */
void ex_retry_headers(const exchange_t *x, cp_xfer_t *xf, const char **hdr, size_t cap, char *buf);

/* Whether the client's error should be our 429 "every provider busy" rather than the last answer. */
int ex_all_busy(const exchange_t *x);

#endif
