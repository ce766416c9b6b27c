/* lib/exchange/cp_health.h: what the exchange remembers about upstreams between requests
 * (docs/resilience.md): a circuit breaker per provider and model, the state of each key of a key pool
 * (cooling after a 429, out after a 401/403 until the next reload), and which candidate and key each
 * Claude Code session was last served by (session affinity, so the provider's prompt cache stays warm).
 *
 * Pure: no I/O, no clock (every call takes <now_ms>, a monotonic millisecond count), no config (the
 * breaker's numbers come in a cp_breaker_cfg_t). One cp_health_t per process, owned by the server and
 * kept across reloads (cp_health_reload marks one). Loop thread only.
 *
 * Keys are never stored: a key is known by a 64-bit fingerprint of its bytes (cp_health_key_id), and is
 * shown as its 1-based position in the provider's current pool. Sessions are known by a 64-bit hash of
 * their id (cp_health_session_id); candidates by a hash of "model@provider".
 *
 * Every table is bounded (CP_HEALTH_*_MAX): a client naming endless "model@provider" pairs or session ids
 * cannot grow the process. A full table replaces its least recently used entry, an open breaker last. */
#ifndef CP_HEALTH_H
#define CP_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cp_buf.h"
#include "cp_provider.h"

#define CP_HEALTH_BREAKERS_MAX 1024  /* provider+model pairs with a breaker */
#define CP_HEALTH_KEYS_MAX     1024  /* keys with a state (cooling or out) */
#define CP_HEALTH_SESSIONS_MAX 16384 /* sessions remembered (direct-mapped: a collision forgets one) */
#define CP_HEALTH_SESSION_TTL  (3600u * 1000u) /* ms a session is remembered after its last request */

typedef struct cp_health cp_health_t;

/* The breaker's numbers (docs/configuration.md, "breaker"). */
typedef struct cp_breaker_cfg {
    unsigned failures;     /* consecutive failures that open it; 0: never by count */
    double rate;           /* failure share over the window that opens it (0 < rate <= 1); 0: never by rate */
    unsigned window_s;     /* the window of the rate */
    unsigned min_requests; /* attempts in the window before the rate counts */
    unsigned cooldown_s;   /* how long an open breaker skips its candidate before one probe */
} cp_breaker_cfg_t;

enum cp_health_gate {
    CP_HEALTH_CLOSED = 0, /* go */
    CP_HEALTH_PROBE,      /* go: this request is the one half-open probe; its result must be reported */
    CP_HEALTH_OPEN,       /* skip this candidate */
};

enum cp_health_outcome {
    CP_HEALTH_OK = 0,  /* the provider answered (2xx, or a 4xx that is the request's fault) */
    CP_HEALTH_FAIL,    /* no answer, a timeout, a 5xx/529, a stream broken by the upstream */
    CP_HEALTH_NEUTRAL, /* says nothing of the provider (the client left, a 429 of one key): a probe ends */
};

cp_health_t *cp_health_new(void);    /* returns new */
void cp_health_free(cp_health_t *h); /* accepts NULL */

/* A configuration was (re)loaded: keys taken out by a 401/403 are usable again (the admin may have
 * replaced them); cooling keys and breakers keep their state. */
void cp_health_reload(cp_health_t *h);

/* ---- breaker, per provider and model ---- */

/* Whether an attempt may go to <provider>/<model> now. CP_HEALTH_OPEN: skip it; *<until_ms> (may be NULL)
 * is when it may be probed. After the cooldown, the first caller gets CP_HEALTH_PROBE and the others
 * CP_HEALTH_OPEN until that probe is reported (or until another cooldown passes without a report, so a
 * lost probe cannot keep it open for ever). An unknown pair is CP_HEALTH_CLOSED. */
enum cp_health_gate cp_health_gate(cp_health_t *h, const char *provider, const char *model,
                                   const cp_breaker_cfg_t *cfg, uint64_t now_ms, uint64_t *until_ms);

/* The outcome of an attempt let through by cp_health_gate (<probe>: it got CP_HEALTH_PROBE).
 * OK closes a half-open breaker and clears the consecutive count; FAIL counts, opens the breaker when
 * <cfg> says so (a failed probe opens it for another cooldown); NEUTRAL counts nothing, and a probe that
 * ends NEUTRAL lets the next caller probe. Returns 1 when this call opened the breaker, else 0. */
int cp_health_report(cp_health_t *h, const char *provider, const char *model, int probe,
                     enum cp_health_outcome outcome, const cp_breaker_cfg_t *cfg, uint64_t now_ms);

/* ---- key pools ---- */

/* The fingerprint of <key> (a keyed 64-bit hash of its bytes, the key of the hash random per process). */
uint64_t cp_health_key_id(const char *key);

/* Picks a key of provider <p> (p->keys[0 .. p->nkeys-1]) for a request of session <session> (0: none).
 * Usable keys are those not out and not cooling at <now_ms>. The session's key when it has one of this
 * provider and it is usable; else the next usable key after the last one picked for <p> (round robin).
 * Returns its index, or -1 when none is usable (or p->nkeys == 0); then *<free_at_ms> is the earliest
 * a cooling key frees up, 0 when every key is out. */
int cp_health_key_pick(cp_health_t *h, const cp_provider_t *p, uint64_t session, uint64_t now_ms,
                       uint64_t *free_at_ms);

/* Key <p->keys[i]> is rate-limited until <until_ms>: skipped by cp_health_key_pick until then. A later
 * time than one already recorded extends it; an earlier one does not shorten it. */
void cp_health_key_cool(cp_health_t *h, const cp_provider_t *p, size_t i, uint64_t until_ms);

/* Key <p->keys[i]> was refused (401/403): skipped until cp_health_reload. */
void cp_health_key_out(cp_health_t *h, const cp_provider_t *p, size_t i);

/* ---- session affinity ---- */

/* The hash of a session id (x-claude-code-session-id), never 0; 0 for NULL or "". */
uint64_t cp_health_session_id(const char *sid);

/* The candidate "model@provider" hash (cp_health_candidate_id) that last served <session>, or 0 when
 * unknown or older than CP_HEALTH_SESSION_TTL. */
uint64_t cp_health_session_candidate(cp_health_t *h, uint64_t session, uint64_t now_ms);

/* The hash that names a candidate: of "<model>@<provider>", never 0. */
uint64_t cp_health_candidate_id(const char *provider, const char *model);

/* <session> was served by <provider>/<model> with key <p->keys[key]> (key < 0: no key): later requests
 * of the session try that candidate first and cp_health_key_pick returns that key while it is usable. */
void cp_health_session_put(cp_health_t *h, uint64_t session, const cp_provider_t *p, const char *model,
                           int key, uint64_t now_ms);

/* ---- what an admin sees ---- */

/* Returns new: {"breakers": [{"provider", "model", "state": "closed"|"open"|"half-open", "failures":
 * consecutive failures, "open_for_ms": until the probe (open only)}...] (only pairs not closed, or with
 * failures > 0), "keys": [{"provider", "key": 1-based position in the pool, "state": "cooling"|"out",
 * "cooling_for_ms" (cooling only)}...] for the providers <provs>[0 .. n-1]}. Never a key or a part of one. */
json_t *cp_health_json(const cp_health_t *h, const cp_provider_t *provs, size_t n, uint64_t now_ms);

/* Appends the Prometheus families (text format 0.0.4, each with # HELP and # TYPE, even when empty):
 *   ccproxy_breaker_state{provider,model} 0 closed, 1 open, 2 half-open (pairs with a breaker entry)
 *   ccproxy_breaker_opened_total{provider,model} times the breaker opened
 *   ccproxy_upstream_key_state{provider,key} 0 usable, 1 cooling, 2 out (every key of <provs>)
 * Label values escaped as the format says (backslash, quote, newline). Returns CP_OK or CP_ERR (<out>
 * full). */
int cp_health_metrics(const cp_health_t *h, const cp_provider_t *provs, size_t n, uint64_t now_ms,
                      cp_buf_t *out);

#endif
