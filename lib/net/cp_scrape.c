/* lib/net/cp_scrape.c: see cp_scrape.h. */
#include "cp_scrape.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cp_auth.h"
#include "cp_ident.h"

/* The Bearer token of <authorization>, or NULL. */
static const char *scrape_bearer(const char *authorization)
{
    if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    authorization += 7;
    while (*authorization == ' ')
        authorization++;
    return authorization;
}

static int scrape_access(const cp_config_t *cfg, const void *peer, const char *authorization, cp_err_t *e)
{
    const char *tok = scrape_bearer(authorization);

    if (cp_ident_peer_loopback(peer))
        return CP_OK;
    for (size_t i = 0; i < cfg->metrics_nallow; i++)
        if (cp_cidr_match(&cfg->metrics_allow[i], peer))
            return CP_OK;
    if (cfg->metrics_token == NULL)
        return cp_err_set(e, 403, "permission_error",
                          "/metrics is served to loopback and to the addresses in metrics.allow; set "
                          "metrics.token or metrics.allow to scrape from this address");
    if (tok != NULL && cp_metrics_token_eq(tok, cfg->metrics_token))
        return CP_OK;
    return cp_err_set(e, 401, "authentication_error",
                      tok == NULL
                          ? "/metrics needs \"Authorization: Bearer <metrics.token>\" from this address"
                          : "invalid metrics token");
}

/* Open descriptors: the entries of /proc/self/fd (less the one reading it); -1 when unreadable. */
static double scrape_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    double n = 0;

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0;
}

/* The process's start in seconds since the epoch: /proc/self/stat's starttime (field 22, clock ticks
 * since boot) plus /proc/stat's btime. Read once: it never changes. -1 when unreadable. */
static double scrape_start_time(void)
{
    static double start = -2;
    char buf[1024];
    FILE *f;
    size_t n;
    const char *p;
    unsigned long long ticks = 0, btime = 0;
    long hz = sysconf(_SC_CLK_TCK);

    if (start > -2)
        return start;
    start = -1;
    if ((f = fopen("/proc/self/stat", "re")) == NULL)
        return start;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    for (int field = 2; p != NULL && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p + 1, "%llu", &ticks) != 1 || hz <= 0 || (f = fopen("/proc/stat", "re")) == NULL)
        return start;
    while (fgets(buf, sizeof(buf), f) != NULL)
        if (sscanf(buf, "btime %llu", &btime) == 1)
            break;
    fclose(f);
    if (btime > 0)
        start = (double)btime + (double)ticks / (double)hz;
    return start;
}

/* Fills the gauges read from the process and the ledger. */
static void scrape_gauges(cp_team_t *team, cp_metrics_gauges_t *g)
{
    struct rlimit rl;
    cp_ledger_stats_t st;
    FILE *f = fopen("/proc/self/statm", "re");
    unsigned long long pages, resident;

    g->open_fds = scrape_open_fds();
    g->max_fds =
        getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (double)rl.rlim_cur : -1;
    g->resident_bytes = -1;
    if (f != NULL) {
        if (fscanf(f, "%llu %llu", &pages, &resident) == 2)
            g->resident_bytes = (double)resident * (double)sysconf(_SC_PAGESIZE);
        fclose(f);
    }
    g->start_time_s = scrape_start_time();
    g->ledger_dropped = g->ledger_queued = -1;
    if (cp_team_ledger_stats(team, &st)) {
        g->ledger_dropped = (double)st.dropped;
        g->ledger_queued = (double)st.queued;
    }
}

int cp_scrape_insider(const cp_config_t *cfg, const char *x_api_key, const char *authorization)
{
    size_t len;
    const char *k = cp_auth_presented(x_api_key, authorization, &len), *tok = scrape_bearer(authorization);

    return (k != NULL && cp_auth_find(cfg->auth, k, len) != NULL) ||
           (cfg->metrics_token != NULL && tok != NULL && cp_metrics_token_eq(tok, cfg->metrics_token));
}

int cp_scrape(const cp_metrics_t *m, const cp_health_t *health, cp_team_t *team, const cp_config_t *cfg,
              const void *peer, const char *authorization, cp_metrics_gauges_t *g, cp_buf_t *out, cp_err_t *e)
{
    if (m == NULL)
        return cp_err_set(e, 404, "not_found_error", "Not found: /metrics");
    if (scrape_access(cfg, peer, authorization, e) != CP_OK)
        return CP_ERR;
    scrape_gauges(team, g);
    if (cp_metrics_write(m, g, out) != CP_OK ||
        (health != NULL &&
         cp_health_metrics(health, cfg->providers, cfg->nproviders, cp_mono_us() / 1000u, out) != CP_OK))
        return cp_err_set(e, 500, "api_error", "the metrics text is larger than %u bytes",
                          CP_METRICS_TEXT_MAX);
    return CP_OK;
}

/* Where a failed request's error came from. */
static enum cp_metrics_origin scrape_origin(const cp_team_req_t *tr, int status)
{
    if (status == 499 || status == 505)
        return CP_METRICS_CLIENT;
    if (tr->upstream)
        return CP_METRICS_PROVIDER; /* mapped from the upstream's answer, or its stream failed */
    if (status == 401 || status == 403 || status == 429 || status == 503 || status == 529)
        return CP_METRICS_POLICY;
    return status >= 500 ? CP_METRICS_PROVIDER : CP_METRICS_CLIENT;
}

void cp_scrape_count(cp_metrics_t *m, const cp_team_req_t *tr, const char *provider, const char *model,
                     int status, uint64_t dur_us)
{
    cp_metrics_req_t q = {0};

    if (m == NULL)
        return;
    q.api = tr->msg_route;
    q.provider = provider;
    q.model = model;
    q.key = tr->key != NULL ? tr->key->name : NULL;
    q.status = status;
    q.error_type = tr->error_type[0] != '\0' ? tr->error_type : NULL;
    q.origin = scrape_origin(tr, status);
    q.tokens_known = tr->tokens_known;
    q.input = tr->tok.input;
    q.output = tr->tok.output;
    q.cache_read = tr->tok.cache_read;
    q.cache_write = tr->tok.cache_write;
    q.duration_s = (double)dur_us / 1e6;
    q.ttfb_s = tr->upstream && tr->up_ttfb_us >= 0 ? (double)tr->up_ttfb_us / 1e6 : -1;
    q.upstream_s = tr->upstream ? (double)tr->up_us / 1e6 : 0;
    q.retries = tr->up_retries;
    cp_metrics_request(m, &q);
}
