/* lib/exchange/cp_failover.c: the choices between attempts (docs/resilience.md), for cp_exchange.c.
 *
 * A request has candidates: the route's target and its fallbacks (cp_route.h), the one that last
 * served the request's Claude Code session first. Each attempt goes to the first candidate from the
 * current one on that may be asked: its style's key present, its breaker not open (cp_health.h), a key
 * of its pool not cooling and not refused. An attempt that fails before the client got a byte is
 *   - a refused key (401, or a 403 about the key) of a pool: that key is taken out, the same candidate
 *     asked again with another;
 *   - a failover status (retry.failoverStatuses): a 429 cools its key; another usable key of the same
 *     provider is asked at once; a Retry-After within retry.maxWaitSeconds and the client's patience is
 *     waited for on a loop timer; else the next candidate; else, without any Retry-After, a backoff;
 *     all within retry.maxAttempts per candidate;
 *   - a context overflow with models.contextFallbacks: those become the candidates;
 *   - no answer at all (connect, TLS, first-byte timeout): the next candidate.
 * Every attempt's outcome goes to its breaker and to ccproxy_upstream_attempts_total. No I/O here
 * besides logging and the wait timer. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cp_exchange_int.h"
#include "cp_log.h"
#include "cp_prov_err.h"
#include "cp_retry.h"

static uint64_t fo_now_ms(void)
{
    return cp_mono_us() / 1000u;
}

static cp_breaker_cfg_t fo_breaker(const cp_config_t *c)
{
    cp_breaker_cfg_t b = {c->breaker_failures, c->breaker_rate, c->breaker_window_s, c->breaker_min_requests,
                          c->breaker_cooldown_s};
    return b;
}

/* A provider of a style that needs a key, without one: it cannot serve anyone. */
static int fo_keyless(const cp_provider_t *p)
{
    return p->nkeys == 0 && cp_prov_key_required(p);
}

/* Keeps the earliest time a candidate frees up, for the client's retry-after (<until>: monotonic ms). */
static void fo_free_at(exchange_t *x, uint64_t until, uint64_t now)
{
    uint64_t wall = cp_wall_ms() + (until > now ? until - now : 0);

    if (until > 0 && (x->free_at_ms == 0 || wall < x->free_at_ms))
        x->free_at_ms = wall;
}

/* ---- choosing a candidate and a key ------------------------------------------------------------ */

typedef struct fo_choice {
    unsigned i; /* index in x->cand */
    int key;    /* index in its provider's pool; -1: none */
    int probe;  /* the breaker's half-open probe */
} fo_choice_t;

/* From candidate <from> on, the first that may be asked now. Returns 1 with <c>, or 0. Candidates
 * passed over are logged, and the time they free up kept. */
static int fo_choose(exchange_t *x, unsigned from, fo_choice_t *c)
{
    cp_breaker_cfg_t bc = fo_breaker(x->cfg);
    uint64_t now = fo_now_ms();

    for (unsigned i = from; i < x->ncand; i++) {
        const cp_route_next_t *k = &x->cand[i];
        uint64_t until = 0;
        enum cp_health_gate g;
        const char *why;

        if (fo_keyless(k->provider))
            continue; /* said at start when it is the target (ex_admit); a fallback is just passed over */
        if (!cp_front_req_model_ok(x->fr, k->provider->name, k->model))
            continue; /* the developer key's "models" list holds for fallbacks too (docs/team.md) */
        g = cp_health_gate(x->xs->health, k->provider->name, k->model, &bc, now, &until);
        c->i = i;
        c->probe = g == CP_HEALTH_PROBE;
        c->key = -1;
        if (g != CP_HEALTH_OPEN &&
            (k->provider->nkeys == 0 ||
             (c->key = cp_health_key_pick(x->xs->health, k->provider, x->session, now, &until)) >= 0))
            return 1;
        if (g == CP_HEALTH_PROBE) /* the probe goes unused: the next caller may probe */
            cp_health_report(x->xs->health, k->provider->name, k->model, 1, CP_HEALTH_NEUTRAL, &bc, now);
        why = g == CP_HEALTH_OPEN ? "circuit open" : until > 0 ? "every key cooling" : "every key refused";
        x->skipped++;
        fo_free_at(x, until, now);
        cp_log_j(CP_LOG_INFO, "candidate skipped",
                 json_pack("{s:s,s:s,s:s,s:s,s:I}", "rid", x->rid, "provider", k->provider->name, "model",
                           k->model, "why", why, "free_in_ms", (json_int_t)(until > now ? until - now : 0)));
    }
    return 0;
}

/* Makes <c> the current candidate and starts its attempt from the kept request. <why>: what made the
 * previous candidate give up, logged when the candidate changes (NULL: x->status). */
static void fo_go(exchange_t *x, const fo_choice_t *c, const char *why)
{
    const cp_route_next_t *k = &x->cand[c->i];
    char reason[64];

    if (x->st != NULL && (c->i != x->cur || k->provider != x->prov)) {
        if (why == NULL)
            snprintf(reason, sizeof(reason), "HTTP %ld", x->status);
        cp_log_j(CP_LOG_WARN, "upstream failed; trying the next candidate",
                 json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "rid", x->rid, "provider", x->prov->name, "model",
                           x->upstream_model, "why", why != NULL ? why : reason, "next", k->provider->name,
                           "next_model", k->model));
    }
    if (x->st != NULL)
        x->ops->free(x->st); /* the old candidate's state goes with its ops */
    x->st = NULL;
    x->tries = c->i == x->cur && x->sent > 0 ? x->tries + 1 : 1;
    x->cur = c->i;
    x->prov = k->provider;
    x->ops = cp_prov_ops(x->prov);
    x->key = c->key;
    x->probe = c->probe != 0;
    snprintf(x->upstream_model, sizeof(x->upstream_model), "%s", k->model);
    cp_front_req_note(x->fr, x->prov->name, x->upstream_model); /* the access line names who serves */
    x->status = 0;
    cp_buf_free(&x->body);
    cp_buf_init(&x->body, x->cfg->max_answer_bytes);
    ex_begin(x, x->request);
}

/* Nothing may be asked now, and no answer stands: every candidate cooling or refused. */
static void fo_unavailable(exchange_t *x)
{
    cp_err_t e = {0};
    const char *hdr[6];
    char buf[48];

    if (x->free_at_ms == 0) {
        cp_err_set(&e, 502, "api_error",
                   "ccproxy: every key of the providers for model \"%s\" was refused by them (401/403); "
                   "the admin must replace them (providers.<name>.apiKeys) and reload",
                   x->model);
        ex_error(x, &e, NULL);
        return;
    }
    x->status = 429; /* so that ex_retry_headers gives the wait until the earliest free time */
    ex_retry_headers(x, NULL, hdr, 6, buf);
    cp_err_set(&e, 429, "rate_limit_error",
               "every provider for this model is busy or cooling down; the first one frees up in %s s "
               "(retry-after)",
               buf);
    ex_error(x, &e, hdr);
}

/* Session affinity: the candidate that last served the session goes first. */
static void fo_session_first(exchange_t *x)
{
    uint64_t want = cp_health_session_candidate(x->xs->health, x->session, fo_now_ms());

    for (unsigned i = 1; want != 0 && i < x->ncand; i++) {
        if (cp_health_candidate_id(x->cand[i].provider->name, x->cand[i].model) == want) {
            cp_route_next_t t = x->cand[i];
            memmove(&x->cand[1], &x->cand[0], i * sizeof(x->cand[0]));
            x->cand[0] = t;
            cp_log_j(
                CP_LOG_DEBUG, "session stays on its candidate",
                json_pack("{s:s,s:s,s:s}", "rid", x->rid, "provider", t.provider->name, "model", t.model));
            return;
        }
    }
}

int ex_cands_start(exchange_t *x, const cp_route_t *route)
{
    const char *sid = cp_front_req_header(x->fr, "x-claude-code-session-id");
    fo_choice_t c;

    x->ncand = 1 + (unsigned)route->nnext;
    x->cand = cp_xcalloc(x->ncand, sizeof(*x->cand));
    x->cand[0].provider = route->provider;
    snprintf(x->cand[0].model, sizeof(x->cand[0].model), "%s", route->model);
    memcpy(&x->cand[1], route->next, route->nnext * sizeof(route->next[0]));
    if (route->nctx > 0) {
        x->nctx = (unsigned)route->nctx;
        x->ctx = cp_xcalloc(x->nctx, sizeof(*x->ctx));
        memcpy(x->ctx, route->ctx, route->nctx * sizeof(route->ctx[0]));
    }
    x->session = cp_health_session_id(sid);
    if (x->session != 0) { /* one session, one OpenAI prompt cache: a hash, never the id itself */
        char hex[65];
        cp_sha256_hex(sid, strlen(sid), hex);
        snprintf(x->cache_key, sizeof(x->cache_key), "%.32s", hex);
        fo_session_first(x);
    }
    x->cur = 0;
    if (!fo_choose(x, 0, &c)) {
        fo_unavailable(x);
        return 0;
    }
    fo_go(x, &c, NULL);
    return 1;
}

long ex_first_byte_timeout(const exchange_t *x)
{
    long fb = x->prov->first_byte_timeout_ms, fbf = x->prov->fallback_first_byte_timeout_ms;
    int more = 0;

    for (unsigned i = x->cur + 1; i < x->ncand && !more; i++)
        more = !fo_keyless(x->cand[i].provider);
    return more && fbf > 0 && fbf < fb ? fbf : fb; /* a stuck provider costs seconds when another waits */
}

/* ---- after an attempt -------------------------------------------------------------------------- */

/* The label of ccproxy_upstream_attempts_total{outcome} for upstream <status>. */
static const char *fo_outcome(long status, int gone)
{
    if (gone)
        return "cancelled";
    if (status == 0)
        return "no_answer";
    if (status >= 200 && status < 300)
        return "ok";
    if (status == 429)
        return "rate_limited";
    if (status == 401 || status == 403)
        return "refused";
    if (status == 503 || status == 529)
        return "overloaded";
    return status >= 500 ? "server_error" : "client_error";
}

void ex_attempt_unsent(exchange_t *x)
{
    cp_breaker_cfg_t bc = fo_breaker(x->cfg);

    if (x->probe) /* answered here (a local count, a request the adapter refused): the next may probe */
        cp_health_report(x->xs->health, x->prov->name, x->upstream_model, 1, CP_HEALTH_NEUTRAL, &bc,
                         fo_now_ms());
    x->probe = 0;
}

void ex_attempt_end(exchange_t *x, long status, int gone)
{
    cp_breaker_cfg_t bc = fo_breaker(x->cfg);
    enum cp_health_outcome o = CP_HEALTH_OK; /* the provider answered: a 4xx is the request's fault */
    const char *outcome = fo_outcome(status, gone);

    if (x->reported || x->sent == 0)
        return;
    x->reported = 1;
    if (gone || status == 429)
        o = CP_HEALTH_NEUTRAL; /* a 429 is one key's quota, cooled below; not the provider's health */
    else if (status == 0 || status == 408 || status >= 500)
        o = CP_HEALTH_FAIL;
    if (cp_health_report(x->xs->health, x->prov->name, x->upstream_model, x->probe, o, &bc, fo_now_ms()))
        cp_log_j(CP_LOG_WARN, "circuit opened",
                 json_pack("{s:s,s:s,s:s,s:I}", "rid", x->rid, "provider", x->prov->name, "model",
                           x->upstream_model, "cooldown_s", (json_int_t)x->cfg->breaker_cooldown_s));
    x->probe = 0;
    if (x->xs->metrics != NULL)
        cp_metrics_attempt(x->xs->metrics, x->prov->name, x->upstream_model, outcome);
    if (status >= 200 && status < 300 && x->session != 0)
        cp_health_session_put(x->xs->health, x->session, x->prov, x->upstream_model, x->key, fo_now_ms());
    if (strcmp(outcome, "ok") != 0 || x->sent > 1)
        cp_log_j(CP_LOG_INFO, "upstream attempt",
                 json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s}", "rid", x->rid, "provider", x->prov->name, "model",
                           x->upstream_model, "key", (json_int_t)x->key + 1, "attempt", (json_int_t)x->sent,
                           "status", (json_int_t)status, "outcome", outcome));
}

int ex_next(exchange_t *x, const char *why)
{
    fo_choice_t c;

    if (x->fr == NULL || x->request == NULL || !fo_choose(x, x->cur + 1, &c))
        return 0;
    fo_go(x, &c, why);
    return 1;
}

/* Asks again from the current candidate on (another key, or the next candidate when it has none left).
 * Returns 1, or 0 when nothing may be asked. */
static int fo_again_now(exchange_t *x, const char *why)
{
    fo_choice_t c;

    if (x->fr == NULL || x->request == NULL || !fo_choose(x, x->cur, &c))
        return 0;
    fo_go(x, &c, why);
    return 1;
}

/* The pause of a Retry-After or a backoff is over: the same candidate is asked again (or, when it may
 * not be asked now, the next one; when none may, the client hears so). */
static void fo_wait_cb(evutil_socket_t fd, short what, void *arg)
{
    exchange_t *x = arg;

    (void)fd;
    (void)what;
    if (x->fr == NULL || x->request == NULL)
        return; /* the client left meanwhile: the exchange is on its way out */
    if (!fo_again_now(x, "waited"))
        fo_unavailable(x);
}

/* Asks the same candidate again in <ms>, on a loop timer. Returns 1, or 0 when no timer could be made. */
static int fo_wait(exchange_t *x, int64_t ms, const char *why)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

    if (x->wait == NULL && (x->wait = evtimer_new(x->xs->base, fo_wait_cb, x)) == NULL)
        return 0;
    cp_log_j(CP_LOG_INFO, "upstream asks to wait; retrying",
             json_pack("{s:s,s:s,s:s,s:I,s:s,s:I,s:I}", "rid", x->rid, "provider", x->prov->name, "model",
                       x->upstream_model, "status", (json_int_t)x->status, "why", why, "wait_ms",
                       (json_int_t)ms, "attempt", (json_int_t)x->tries + 1));
    evtimer_add(x->wait, &tv);
    return 1;
}

/* Whether <ms> more still fits the client's own timeout (x-stainless-timeout, seconds, as the SDKs and
 * Claude Code send it); no header: it fits. */
static int fo_patient(const exchange_t *x, int64_t ms)
{
    const char *t = cp_front_req_header(x->fr, "x-stainless-timeout");
    char *end;
    double s = t != NULL ? strtod(t, &end) : 0;

    if (t == NULL || end == t || s <= 0)
        return 1;
    return (double)(cp_mono_us() - x->start_us) / 1000.0 + (double)ms < s * 1000.0 - 1000.0;
}

/* Whether another key of the current provider may be asked now. */
static int fo_other_key(exchange_t *x)
{
    uint64_t f;

    return x->key >= 0 && x->prov->nkeys > 1 &&
           cp_health_key_pick(x->xs->health, x->prov, 0, fo_now_ms(), &f) >= 0;
}

/* A failover status (docs/resilience.md): another key at once; a short Retry-After waited for; the next
 * candidate; a backoff without Retry-After; all within retry.maxAttempts per candidate. */
static int fo_again(exchange_t *x, cp_xfer_t *xf)
{
    cp_retry_hdrs_t h = {cp_xfer_header(xf, "retry-after-ms"), cp_xfer_header(xf, "retry-after"),
                         cp_xfer_header(xf, "x-ratelimit-reset-requests"),
                         cp_xfer_header(xf, "x-ratelimit-reset-tokens")};
    int64_t wait = x->status == 429 || x->status == 503 || x->status == 529
                       ? cp_retry_after_ms(&h, (int64_t)cp_wall_ms())
                       : -1;
    int budget = x->tries < x->cfg->retry_max_attempts && x->request != NULL && x->fr != NULL;
    uint64_t now = fo_now_ms();

    if (x->status == 429 && x->key >= 0 && x->prov->nkeys > 1) /* a pool's key: cool it for the time named
                                                                    (a lone key: the provider decides) */
        cp_health_key_cool(x->xs->health, x->prov, (size_t)x->key,
                           now + (uint64_t)(wait >= 0 ? wait : EX_COOL_MS));
    if (x->status == 429 && budget && fo_other_key(x))
        return fo_again_now(x, "rate-limited key; another key of the pool");
    if (wait >= 0 && budget && wait <= (int64_t)x->cfg->retry_max_wait_s * 1000 && fo_patient(x, wait))
        return fo_wait(x, wait, "retry-after");
    if (wait >= 0)
        fo_free_at(x, now + (uint64_t)wait, now); /* too long to wait here: the client may */
    if (ex_next(x, NULL))
        return 1;
    if (wait < 0 && budget) {
        int64_t pause = cp_retry_backoff_ms(x->tries + 1, (uint32_t)(cp_mono_us() * 2654435761u));
        if (fo_patient(x, pause))
            return fo_wait(x, pause, "backoff");
    }
    return 0;
}

/* Whether a 401/403 says the key itself was refused (a 403 may also be a refused prompt or model). */
static int fo_key_refused(const exchange_t *x)
{
    const char *b = cp_buf_str(&x->body);

    if (x->status == 401)
        return 1;
    return x->status == 403 && strcasestr(b, "key") != NULL && strcasestr(b, "flagged") == NULL;
}

/* A key of a pool refused: taken out until the next reload, loudly (never the key itself), and the
 * request goes to another key of the pool. A lone apiKey is never taken out: nothing would replace it. */
static int fo_refused(exchange_t *x)
{
    if (x->key < 0 || x->prov->nkeys < 2 || !fo_key_refused(x))
        return 0;
    cp_health_key_out(x->xs->health, x->prov, (size_t)x->key);
    cp_log_j(CP_LOG_ERROR, "provider refused a key of its pool; it is out until the next reload",
             json_pack("{s:s,s:s,s:I,s:I,s:I}", "rid", x->rid, "provider", x->prov->name, "key",
                       (json_int_t)x->key + 1, "keys", (json_int_t)x->prov->nkeys, "status",
                       (json_int_t)x->status));
    return fo_other_key(x) && fo_again_now(x, "key refused; another key of the pool");
}

/* A prompt too long for the current candidate: the context fallbacks, once, replace the candidates. */
static int fo_context(exchange_t *x)
{
    fo_choice_t c;

    if (x->nctx == 0 || x->ctx_used || x->request == NULL || x->fr == NULL ||
        !cp_prov_error_overflow(x->status, cp_buf_str(&x->body), x->body.len))
        return 0;
    x->ctx_used = 1;
    free(x->cand);
    x->cand = x->ctx; /* taken */
    x->ncand = x->nctx;
    x->ctx = NULL;
    x->nctx = 0;
    if (!fo_choose(x, 0, &c))
        return 0;
    x->cur = UINT_MAX; /* a new list: whatever is chosen counts as another candidate */
    fo_go(x, &c, "prompt too long for its context window (models.contextFallbacks)");
    return 1;
}

int ex_recover(exchange_t *x, cp_xfer_t *xf)
{
    if (fo_refused(x))
        return 1;
    if (cp_config_failover(x->cfg, x->status) && fo_again(x, xf))
        return 1;
    return fo_context(x);
}

int ex_all_busy(const exchange_t *x)
{
    return (x->ncand > 1 || x->skipped > 0) && x->free_at_ms > 0 && cp_config_failover(x->cfg, x->status) &&
           x->status != 429;
}

void ex_retry_headers(const exchange_t *x, cp_xfer_t *xf, const char **hdr, size_t cap, char *buf)
{
    static const char *const names[] = {"retry-after", "retry-after-ms"};
    size_t n = 0;

    if (x->free_at_ms > 0 && (cp_config_failover(x->cfg, x->status) || xf == NULL) && cap >= 5) {
        uint64_t now = cp_wall_ms(), ms = x->free_at_ms > now ? x->free_at_ms - now : 1;
        snprintf(buf, 24, "%llu", (unsigned long long)((ms + 999) / 1000));
        snprintf(buf + 24, 24, "%llu", (unsigned long long)ms);
        hdr[n++] = "retry-after";
        hdr[n++] = buf;
        hdr[n++] = "retry-after-ms";
        hdr[n++] = buf + 24;
        hdr[n] = NULL;
        return;
    }
    for (size_t i = 0; xf != NULL && i < 2 && n + 2 < cap; i++) {
        const char *v = cp_xfer_header(xf, names[i]);
        if (v != NULL) {
            hdr[n++] = names[i];
            hdr[n++] = v;
        }
    }
    hdr[n] = NULL;
}
