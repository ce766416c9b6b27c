/* lib/team/cp_team.c: see cp_team.h. */
#include "cp_team.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_limits.h"
#include "cp_log.h"

/* models named in "no price" warnings; later ones are counted only */
#define TEAM_UNPRICED_WARN_MAX 64
/* the tpm estimate at admission: request body bytes per token */
#define TEAM_BYTES_PER_TOKEN 4

struct cp_team {
    struct event_base *base;              /* borrowed */
    cp_limits_t *limits;                  /* owned */
    cp_ledger_t *ledger;                  /* owned; NULL when ledger.enabled is false */
    char *ledger_path;                    /* owned: the file <ledger> writes */
    struct event *poll;                   /* 1 s: the ledger's news */
    uint64_t unpriced;                    /* rows with tokens but no price */
    char *warned[TEAM_UNPRICED_WARN_MAX]; /* owned: models already warned about */
    size_t nwarned;
};

/* ---- the ledger ------------------------------------------------------------------------------ */

static cp_ledger_t *team_ledger_open(const cp_config_t *cfg, cp_err_t *e)
{
    cp_ledger_opts_t o = {cfg->ledger_path, cfg->ledger_flush_ms, cfg->ledger_batch_rows,
                          cfg->ledger_queue_rows};

    return cp_ledger_open(&o, e);
}

typedef struct team_replay {
    cp_limits_t *limits;
    const cp_auth_t *auth;
    const cp_auth_key_t **sorted; /* keys by name */
    int64_t now_ms;
    uint64_t rows;
} team_replay_t;

static int team_key_cmp(const void *a, const void *b)
{
    return strcmp((*(const cp_auth_key_t *const *)a)->name, (*(const cp_auth_key_t *const *)b)->name);
}

static void team_replay_row(void *ud, const char *key, int64_t ts_ms, int64_t tokens, double usd)
{
    team_replay_t *r = ud;
    cp_auth_key_t probe;
    const cp_auth_key_t *pp = &probe, *const * hit;

    snprintf(probe.name, sizeof(probe.name), "%s", key);
    hit = bsearch(&pp, r->sorted, r->auth->n, sizeof(*r->sorted), team_key_cmp);
    if (hit == NULL)
        return; /* a key no longer configured */
    cp_limits_replay(r->limits, key, &(*hit)->lim, r->now_ms, ts_ms, tokens, usd);
    r->rows++;
}

/* Rebuilds the counters of the current windows (the last minute, each key's budget window) from the
 * ledger, so that a restart resets nothing. */
static int team_replay(cp_team_t *t, const cp_config_t *cfg, cp_err_t *e)
{
    const cp_auth_t *a = cfg->auth;
    team_replay_t r = {t->limits, a, NULL, (int64_t)cp_wall_ms(), 0};
    int64_t since = r.now_ms - 60000;
    int rc;

    if (a->n == 0)
        return CP_OK;
    r.sorted = cp_xcalloc(a->n, sizeof(*r.sorted));
    for (size_t i = 0; i < a->n; i++) {
        int64_t start, end;
        r.sorted[i] = &a->keys[i];
        cp_limits_window(a->keys[i].lim.per, r.now_ms, &start, &end);
        if (a->keys[i].lim.per != CP_PER_NONE && start < since)
            since = start;
    }
    qsort(r.sorted, a->n, sizeof(*r.sorted), team_key_cmp);
    rc = cp_ledger_replay(cfg->ledger_path, since, team_replay_row, &r, e);
    free(r.sorted);
    if (rc == CP_OK)
        cp_log_j(CP_LOG_INFO, "limits rebuilt from the ledger",
                 json_pack("{s:s,s:I}", "ledger", cfg->ledger_path, "rows", (json_int_t)r.rows));
    return rc;
}

static void team_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    cp_team_t *t = arg;

    (void)fd;
    (void)what;
    if (t->ledger != NULL)
        cp_ledger_poll(t->ledger);
}

cp_team_t *cp_team_new(struct event_base *base, const cp_config_t *cfg, cp_err_t *e)
{
    cp_team_t *t = cp_xcalloc(1, sizeof(*t));
    struct timeval tv = {1, 0};

    t->base = base;
    t->limits = cp_limits_new();
    if (cfg->ledger_enabled) {
        if (team_replay(t, cfg, e) != CP_OK || (t->ledger = team_ledger_open(cfg, e)) == NULL) {
            cp_team_free(t, 0);
            return NULL;
        }
        t->ledger_path = cp_xstrdup(cfg->ledger_path);
        cp_log_j(CP_LOG_INFO, "usage ledger", json_pack("{s:s}", "path", cfg->ledger_path));
    } else {
        cp_log(CP_LOG_WARN, "usage ledger off (ledger.enabled: false): no record of who used what, and "
                            "budgets restart at every start");
    }
    t->poll = event_new(base, -1, EV_PERSIST, team_poll_cb, t);
    if (t->poll == NULL || event_add(t->poll, &tv) != 0) {
        cp_log(CP_LOG_ERROR, "out of memory arming a timer");
        abort();
    }
    return t;
}

void cp_team_log_mode(const cp_config_t *cfg, int port)
{
    enum cp_auth_mode m = cp_auth_mode(cfg->auth);

    if (m == CP_AUTH_KEYS)
        cp_log_j(CP_LOG_INFO, "access: developer keys",
                 json_pack("{s:s,s:I}", "mode", "keys", "keys", (json_int_t)cfg->auth->n));
    else if (m == CP_AUTH_LOOPBACK)
        cp_log_j(CP_LOG_INFO,
                 "access: loopback only (no developer keys): clients on other addresses get 401 until keys "
                 "are added with `ccproxy keys add NAME`",
                 json_pack("{s:s}", "mode", "loopback only"));
    else
        cp_log_j(CP_LOG_WARN,
                 "access: OPEN (auth.allowUnauthenticated): anyone who reaches this port spends the provider "
                 "keys; add developer keys with `ccproxy keys add NAME`",
                 json_pack("{s:s,s:s,s:i}", "mode", "open", "host", cfg->host, "port", port));
}

void cp_team_reload(cp_team_t *t, const cp_config_t *cfg)
{
    cp_err_t e = {0};
    int same = t->ledger != NULL && cfg->ledger_enabled && strcmp(t->ledger_path, cfg->ledger_path) == 0;
    cp_ledger_t *next;

    if (same || (t->ledger == NULL && !cfg->ledger_enabled))
        return;
    if (!cfg->ledger_enabled) {
        cp_ledger_close(t->ledger, 5000);
        t->ledger = NULL;
        cp_log(CP_LOG_WARN, "usage ledger turned off by the reload (ledger.enabled: false)");
        return;
    }
    if ((next = team_ledger_open(cfg, &e)) == NULL) {
        cp_log_j(CP_LOG_ERROR, "the reloaded ledger cannot be opened; keeping the previous one",
                 json_pack("{s:s,s:s?}", "error", e.msg, "kept", t->ledger_path));
        return;
    }
    cp_ledger_close(t->ledger, 5000);
    t->ledger = next;
    free(t->ledger_path);
    t->ledger_path = cp_xstrdup(cfg->ledger_path);
    cp_log_j(CP_LOG_INFO, "usage ledger", json_pack("{s:s}", "path", cfg->ledger_path));
}

void cp_team_free(cp_team_t *t, unsigned wait_ms)
{
    if (t == NULL)
        return;
    if (t->poll != NULL)
        event_free(t->poll);
    cp_ledger_close(t->ledger, wait_ms);
    cp_limits_free(t->limits);
    free(t->ledger_path);
    for (size_t i = 0; i < t->nwarned; i++)
        free(t->warned[i]);
    free(t);
}

/* ---- the three steps ------------------------------------------------------------------------- */

int cp_team_auth(const cp_config_t *cfg, int peer_loopback, const char *x_api_key, const char *authorization,
                 cp_team_req_t *tr, cp_err_t *e)
{
    enum cp_auth_mode m = cp_auth_mode(cfg->auth);
    size_t len;
    const char *key;

    tr->key = NULL;
    tr->ttfb_ms = -1;
    tr->t0_ms = (int64_t)cp_wall_ms();
    if (m == CP_AUTH_OPEN || (m == CP_AUTH_LOOPBACK && peer_loopback))
        return CP_OK;
    if (m == CP_AUTH_LOOPBACK)
        return cp_err_set(
            e, 401, "authentication_error",
            "ccproxy serves only clients on its own machine until developer keys are set up: on "
            "the server run `ccproxy keys add NAME` and give each developer their key (docs/team.md)");
    key = cp_auth_presented(x_api_key, authorization, &len);
    if (key == NULL)
        return cp_err_set(
            e, 401, "authentication_error",
            "ccproxy needs a developer key: send it in x-api-key or Authorization: Bearer (with "
            "Claude Code: ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN, or `ccproxy init --remote URL "
            "--key -`); the admin creates keys with `ccproxy keys add NAME`");
    tr->key = cp_auth_find(cfg->auth, key, len);
    if (tr->key == NULL)
        return cp_err_set(e, 401, "authentication_error",
                          "ccproxy: invalid developer key (unknown, revoked or rotated); ask the admin for a "
                          "current one");
    return CP_OK;
}

int cp_team_admit(cp_team_t *t, cp_team_req_t *tr, enum cp_anth_kind kind, const json_t *body,
                  size_t body_bytes, const char *model, const cp_route_t *route, cp_err_t *e,
                  const char *hdr[3], char hdr_buf[24])
{
    const cp_auth_key_t *k = tr->key;
    cp_limit_refusal_t why;

    hdr[0] = NULL;
    tr->count = kind == CP_ANTH_COUNT_TOKENS;
    tr->stream = kind == CP_ANTH_MESSAGES && json_is_true(json_object_get(body, "stream"));
    if (k == NULL)
        return CP_OK;
    if (!cp_auth_model_ok(k, model, route->model, route->provider->name))
        return cp_err_set(e, 403, "permission_error",
                          "key \"%s\" may not use model \"%s\" (%s@%s); its models: auth.keys \"models\"",
                          k->name, model, route->model, route->provider->name);
    if (tr->count)
        return CP_OK; /* counting tokens spends nothing upstream: no limit applies */
    /* the body's size, 4 bytes a token: O(1) and on the high side for JSON; the upstream's count
     * replaces it when the request ends (cp_tok_request would cost the loop ~2 us per KB) */
    tr->est_tokens = k->lim.tpm > 0 ? (int64_t)(body_bytes / TEAM_BYTES_PER_TOKEN) : 0;
    if (cp_limits_admit(t->limits, k->name, &k->lim, tr->t0_ms, tr->est_tokens, &why) != CP_OK) {
        snprintf(hdr_buf, 24, "%u", why.retry_after_s);
        hdr[0] = "retry-after";
        hdr[1] = hdr_buf;
        hdr[2] = NULL;
        cp_err_set(e, 429, "rate_limit_error", "%s", why.msg);
        /* a spent budget renews in hours or days: the SDKs' short retries cannot help */
        e->no_retry = why.budget != 0;
        return CP_ERR;
    }
    tr->admitted = 1;
    return CP_OK;
}

/* Warns once per model (up to TEAM_UNPRICED_WARN_MAX models) that it has no price. */
static void team_unpriced(cp_team_t *t, const char *model, const char *provider)
{
    t->unpriced++;
    for (size_t i = 0; i < t->nwarned; i++)
        if (strcmp(t->warned[i], model) == 0)
            return;
    if (t->nwarned == TEAM_UNPRICED_WARN_MAX)
        return;
    t->warned[t->nwarned++] = cp_xstrdup(model);
    cp_log_j(CP_LOG_WARN, "no price for this model: its cost is unknown (add it under \"prices\")",
             json_pack("{s:s,s:s}", "upstream_model", model, "provider", provider));
}

void cp_team_end(cp_team_t *t, cp_team_req_t *tr, const cp_config_t *cfg, cp_ledger_row_t *row)
{
    int64_t total = 0;
    cp_price_t price;

    row->cost_usd = -1;
    row->admitted = tr->admitted;
    if (tr->tokens_known) {
        total = tr->tok.input + tr->tok.output + tr->tok.cache_read + tr->tok.cache_write;
        if (row->provider != NULL && row->upstream_model != NULL) {
            if (cp_prices_lookup(cfg->prices, row->upstream_model, row->provider, &price) == CP_OK)
                row->cost_usd = cp_price_cost(&price, &tr->tok);
            else
                team_unpriced(t, row->upstream_model, row->provider);
        }
    }
    if (tr->admitted) {
        int64_t now = (int64_t)cp_wall_ms();
        /* an estimate charged over a minute ago has left the tpm window: the whole count is new */
        int64_t est = now - tr->t0_ms < 60000 ? tr->est_tokens : 0;
        cp_limits_end(t->limits, tr->key->name, &tr->key->lim, now, est, tr->tokens_known ? total : est,
                      row->cost_usd);
        tr->admitted = 0;
    }
    if (t->ledger == NULL || !tr->api)
        return;
    row->ts_ms = tr->t0_ms;
    row->key = tr->key != NULL ? tr->key->name : NULL;
    row->session = tr->session[0] ? tr->session : NULL;
    row->agent = tr->agent[0] ? tr->agent : NULL;
    row->endpoint = tr->count ? "count_tokens" : "messages";
    row->stream = tr->stream;
    row->error_type = tr->error_type[0] ? tr->error_type : NULL;
    row->tokens_known = tr->tokens_known;
    row->tok = tr->tok;
    row->ttfb_ms = tr->ttfb_ms;
    cp_ledger_add(t->ledger, row);
}

json_t *cp_team_key_view(cp_team_t *t, const cp_team_req_t *tr, const cp_config_t *cfg)
{
    const cp_auth_key_t *k = tr->key;
    json_t *lim; /* owned until packed */

    if (k == NULL)
        return json_pack("{s:s,s:n}", "mode", cp_auth_mode_name(cp_auth_mode(cfg->auth)), "key");
    lim = json_object();
    if (k->lim.rpm)
        json_object_set_new(lim, "rpm", json_integer(k->lim.rpm));
    if (k->lim.tpm)
        json_object_set_new(lim, "tpm", json_integer(k->lim.tpm));
    if (k->lim.max_streams)
        json_object_set_new(lim, "maxStreams", json_integer(k->lim.max_streams));
    if (k->lim.per != CP_PER_NONE)
        json_object_set_new(
            lim, "budget",
            k->lim.budget_tokens > 0
                ? json_pack("{s:I,s:s}", "tokens", (json_int_t)k->lim.budget_tokens, "per",
                            cp_limits_per_name(k->lim.per))
                : json_pack("{s:f,s:s}", "usd", k->lim.budget_usd, "per", cp_limits_per_name(k->lim.per)));
    return json_pack("{s:s,s:s,s:O?,s:o,s:o}", "mode", "keys", "key", k->name, "models", k->models, "limits",
                     lim, "usage", cp_limits_view(t->limits, k->name, &k->lim, (int64_t)cp_wall_ms()));
}

int cp_team_ledger_stats(cp_team_t *t, cp_ledger_stats_t *out)
{
    if (t == NULL || t->ledger == NULL)
        return 0;
    cp_ledger_stats(t->ledger, out);
    return 1;
}
