/* lib/net/cp_metrics.c: see cp_metrics.h.
 *
 * Every labelled series lives in one array (insertion order, which is also the exposition order within
 * a family) and one open-addressing hash table keyed by the family and its label values, each value
 * length-prefixed so that no byte inside a value can make two keys equal. A histogram keeps one count
 * per bucket (not cumulative); the writer adds them up. */
#include "cp_metrics.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MET_LABELS_MAX 4 /* label names of one family */
#define MET_KEY_MAX    (1 + MET_LABELS_MAX * (2 + CP_METRICS_VALUE_MAX))
#define MET_HASH_MIN   64 /* hash slots at first; doubled at half full */

enum met_type { MET_COUNTER, MET_HISTOGRAM };

typedef struct met_family {
    const char *name, *help;
    enum met_type type;
    const char *labels[MET_LABELS_MAX]; /* NULL-terminated */
    const double *le;                   /* histogram buckets, ascending; +Inf is implicit */
    size_t nle;
} met_family_t;

static const double met_le_seconds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                        2.5,   5,    10,    30,   60,  120,  300};
static const double met_le_added[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                      0.01,   0.025,   0.05,   0.1,   0.25,   1};
#define MET_NLE(a) (sizeof(a) / sizeof((a)[0]))

enum {
    F_REQUESTS,
    F_ERRORS,
    F_TOKENS,
    F_RETRIES,
    F_ATTEMPTS,
    F_RELOADS,
    F_TTFB,
    F_DURATION,
    F_ADDED,
    F_COUNT
};

static const met_family_t met_families[F_COUNT] = {
    [F_REQUESTS] = {"ccproxy_requests_total",
                    "API requests (/v1/messages, /v1/messages/count_tokens) by provider, client model, "
                    "HTTP status and developer key.",
                    MET_COUNTER,
                    {"provider", "model", "status", "key"},
                    NULL,
                    0},
    [F_ERRORS] = {"ccproxy_errors_total",
                  "Failed requests by Anthropic error type and origin (client, policy, provider).",
                  MET_COUNTER,
                  {"type", "origin"},
                  NULL,
                  0},
    [F_TOKENS] = {"ccproxy_tokens_total",
                  "Tokens the upstream reported, by direction (input, output, cache_read, cache_write).",
                  MET_COUNTER,
                  {"direction", "provider", "model", "key"},
                  NULL,
                  0},
    [F_RETRIES] = {"ccproxy_upstream_retries_total",
                   "Upstream requests sent again by ccproxy.",
                   MET_COUNTER,
                   {"provider"},
                   NULL,
                   0},
    [F_ATTEMPTS] = {"ccproxy_upstream_attempts_total",
                    "Upstream attempts by provider, upstream model and outcome (ok, rate_limited, refused, "
                    "overloaded, server_error, client_error, no_answer, cancelled).",
                    MET_COUNTER,
                    {"provider", "model", "outcome"},
                    NULL,
                    0},
    [F_RELOADS] = {"ccproxy_config_reloads_total",
                   "Configuration reloads by result (ok, error).",
                   MET_COUNTER,
                   {"result"},
                   NULL,
                   0},
    [F_TTFB] = {"ccproxy_upstream_ttfb_seconds",
                "Upstream request sent to upstream response head received.",
                MET_HISTOGRAM,
                {"provider"},
                met_le_seconds,
                MET_NLE(met_le_seconds)},
    [F_DURATION] = {"ccproxy_request_duration_seconds",
                    "Whole API request, first byte in to last byte out.",
                    MET_HISTOGRAM,
                    {"provider"},
                    met_le_seconds,
                    MET_NLE(met_le_seconds)},
    [F_ADDED] = {"ccproxy_added_seconds",
                 "Time ccproxy added to an API request: its duration minus the time upstream transfers "
                 "were in flight.",
                 MET_HISTOGRAM,
                 {"provider"},
                 met_le_added,
                 MET_NLE(met_le_added)},
};

/* The Anthropic error types (and client_closed): anything else is counted as "other". */
static const char *const met_error_types[] = {
    "invalid_request_error", "authentication_error", "permission_error", "not_found_error",
    "request_too_large",     "rate_limit_error",     "api_error",        "overloaded_error",
    "billing_error",         "timeout_error",        "client_closed"};

static const char *const met_origins[] = {"client", "policy", "provider"};

typedef struct met_series {
    unsigned fam;
    char *key; /* owned: family byte, then per label a 2-byte length and the value */
    size_t klen;
    uint64_t n;  /* the counter; the histogram's count */
    double sum;  /* histogram */
    uint64_t *b; /* owned: histogram bucket counts (nle + 1, the last is +Inf), not cumulative */
} met_series_t;

typedef struct met_set { /* open addressing: slot = index + 1, 0 = empty */
    uint32_t *slot;
    size_t cap, used;
} met_set_t;

typedef struct met_names { /* label values admitted up to max_models, by value */
    char **v;              /* owned, each owned */
    size_t n, cap;
    met_set_t index;
} met_names_t;

struct cp_metrics {
    met_series_t *series; /* owned */
    size_t nseries, capseries;
    met_set_t index;      /* series by key */
    met_names_t models;   /* admitted client model names */
    met_names_t upmodels; /* admitted upstream model names (ccproxy_upstream_attempts_total) */
    unsigned max_models;  /* of each */
    uint64_t dropped;     /* samples lost to CP_METRICS_SERIES_MAX */
    uint64_t served;      /* API requests answered (cp_metrics_served) */
};

/* ---- small helpers ------------------------------------------------------------------------------ */

static uint64_t met_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* The length of <s> cut to CP_METRICS_VALUE_MAX bytes without splitting a UTF-8 sequence. */
static size_t met_cut(const char *s)
{
    size_t n = strlen(s);

    if (n <= CP_METRICS_VALUE_MAX)
        return n;
    n = CP_METRICS_VALUE_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0u) == 0x80u)
        n--;
    return n;
}

static const char *met_or_dash(const char *s)
{
    return s != NULL && *s != '\0' ? s : "-";
}

/* Finds the index of the entry whose key is <k> (<get> gives an entry's key), or -1; <slot_out> gets
 * the slot where it is or would go. */
typedef const char *(*met_key_fn)(const void *ctx, size_t i, size_t *len);

static long met_set_find(const void *m, const met_set_t *s, met_key_fn get, const char *k, size_t n,
                         size_t *slot_out)
{
    size_t i = (size_t)met_hash(k, n) & (s->cap - 1);

    for (;; i = (i + 1) & (s->cap - 1)) {
        size_t len;
        const char *e;
        if (s->slot[i] == 0) {
            *slot_out = i;
            return -1;
        }
        e = get(m, s->slot[i] - 1, &len);
        if (len == n && memcmp(e, k, n) == 0) {
            *slot_out = i;
            return (long)(s->slot[i] - 1);
        }
    }
}

/* Makes room for one more entry (grows at half full, re-inserting every entry). */
static void met_set_grow(const void *m, met_set_t *s, met_key_fn get, size_t count)
{
    met_set_t t;

    if (s->cap != 0 && (s->used + 1) * 2 <= s->cap)
        return;
    t.cap = s->cap ? s->cap * 2 : MET_HASH_MIN;
    t.used = 0;
    t.slot = cp_xcalloc(t.cap, sizeof(*t.slot));
    for (size_t i = 0; i < count; i++) {
        size_t len, at;
        const char *k = get(m, i, &len);
        met_set_find(m, &t, get, k, len, &at);
        t.slot[at] = (uint32_t)(i + 1);
        t.used++;
    }
    free(s->slot);
    *s = t;
}

static const char *met_series_key(const void *ctx, size_t i, size_t *len)
{
    const cp_metrics_t *m = ctx;

    *len = m->series[i].klen;
    return m->series[i].key;
}

static const char *met_name_key(const void *ctx, size_t i, size_t *len)
{
    const met_names_t *t = ctx;

    *len = strlen(t->v[i]);
    return t->v[i];
}

/* ---- series ---------------------------------------------------------------------------------------- */

/* The series of family <fam> with label values <v> (as many as the family has labels), created when
 * new; NULL when the series cap is reached. */
static met_series_t *met_get(cp_metrics_t *m, unsigned fam, const char *const *v)
{
    char key[MET_KEY_MAX];
    size_t n = 0, at;
    long i;
    const met_family_t *f = &met_families[fam];
    met_series_t *s;

    key[n++] = (char)fam;
    for (size_t l = 0; l < MET_LABELS_MAX && f->labels[l] != NULL; l++) {
        size_t len = met_cut(v[l]);
        key[n++] = (char)(len >> 8);
        key[n++] = (char)(len & 0xFF);
        memcpy(key + n, v[l], len);
        n += len;
    }
    met_set_grow(m, &m->index, met_series_key, m->nseries);
    if ((i = met_set_find(m, &m->index, met_series_key, key, n, &at)) >= 0)
        return &m->series[i];
    if (m->nseries >= CP_METRICS_SERIES_MAX) {
        m->dropped++;
        return NULL;
    }
    if (m->nseries == m->capseries) {
        m->capseries = m->capseries ? m->capseries * 2 : 64;
        m->series = cp_xrealloc(m->series, m->capseries * sizeof(*m->series));
    }
    s = &m->series[m->nseries];
    memset(s, 0, sizeof(*s));
    s->fam = fam;
    s->key = cp_xmalloc(n);
    memcpy(s->key, key, n);
    s->klen = n;
    if (f->type == MET_HISTOGRAM)
        s->b = cp_xcalloc(f->nle + 1, sizeof(*s->b));
    m->index.slot[at] = (uint32_t)(m->nseries + 1);
    m->index.used++;
    m->nseries++;
    return s;
}

static void met_add(cp_metrics_t *m, unsigned fam, const char *const *v, uint64_t by)
{
    met_series_t *s = met_get(m, fam, v);

    if (s != NULL)
        s->n += by;
}

static void met_observe(cp_metrics_t *m, unsigned fam, const char *const *v, double x)
{
    met_series_t *s = met_get(m, fam, v);
    const met_family_t *f = &met_families[fam];
    size_t i = 0;

    if (s == NULL)
        return;
    if (!(x >= 0)) /* NaN or negative: a clock cannot go back */
        x = 0;
    while (i < f->nle && x > f->le[i])
        i++;
    s->b[i]++;
    s->n++;
    s->sum += x;
}

/* A model label of table <t>: <model> when admitted (or room is left), else "other". */
static const char *met_model_in(met_names_t *t, unsigned max, const char *model)
{
    size_t n, at;
    long i;

    model = met_or_dash(model);
    if (strcmp(model, "-") == 0)
        return model;
    n = met_cut(model);
    met_set_grow(t, &t->index, met_name_key, t->n);
    {
        char cut[CP_METRICS_VALUE_MAX + 1];
        memcpy(cut, model, n);
        cut[n] = '\0';
        if ((i = met_set_find(t, &t->index, met_name_key, cut, n, &at)) >= 0)
            return t->v[i];
        if (t->n >= max)
            return "other";
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 16;
            t->v = cp_xrealloc(t->v, t->cap * sizeof(*t->v));
        }
        t->v[t->n] = cp_xstrdup(cut);
    }
    t->index.slot[at] = (uint32_t)(t->n + 1);
    t->index.used++;
    return t->v[t->n++];
}

/* The client model label. */
static const char *met_model(cp_metrics_t *m, const char *model)
{
    return met_model_in(&m->models, m->max_models, model);
}

static void met_names_free(met_names_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
    free(t->index.slot);
}

static const char *met_error_type(const char *t)
{
    for (size_t i = 0; i < sizeof(met_error_types) / sizeof(met_error_types[0]); i++)
        if (strcmp(t, met_error_types[i]) == 0)
            return met_error_types[i];
    return "other";
}

/* ---- public: counting -------------------------------------------------------------------------------- */

void cp_metrics_attempt(cp_metrics_t *m, const char *provider, const char *model, const char *outcome)
{
    const char *v[3];

    v[0] = met_or_dash(provider);
    v[1] = met_model_in(&m->upmodels, m->max_models, model);
    v[2] = met_or_dash(outcome);
    met_add(m, F_ATTEMPTS, v, 1);
}

cp_metrics_t *cp_metrics_new(unsigned max_models)
{
    cp_metrics_t *m = cp_xcalloc(1, sizeof(*m));
    const char *ok[] = {"ok"}, *err[] = {"error"};

    m->max_models = max_models ? max_models : CP_METRICS_MODELS_DEFAULT;
    met_add(m, F_RELOADS, ok, 0); /* both results show from the start */
    met_add(m, F_RELOADS, err, 0);
    return m;
}

void cp_metrics_set_max_models(cp_metrics_t *m, unsigned max_models)
{
    m->max_models = max_models ? max_models : CP_METRICS_MODELS_DEFAULT;
}

uint64_t cp_metrics_served(const cp_metrics_t *m)
{
    return m->served;
}

void cp_metrics_reload(cp_metrics_t *m, int ok)
{
    const char *v[] = {ok ? "ok" : "error"};

    met_add(m, F_RELOADS, v, 1);
}

void cp_metrics_request(cp_metrics_t *m, const cp_metrics_req_t *r)
{
    const char *prov = met_or_dash(r->provider), *key = met_or_dash(r->key);
    const char *pv[] = {prov};

    if (r->error_type != NULL || r->status >= 400) {
        const char *ev[] = {met_error_type(r->error_type != NULL ? r->error_type : "api_error"),
                            met_origins[r->origin <= CP_METRICS_PROVIDER ? r->origin : CP_METRICS_PROVIDER]};
        met_add(m, F_ERRORS, ev, 1);
    }
    if (!r->api)
        return;
    m->served++;
    {
        const char *model = met_model(m, r->model);
        char status[16];
        const char *rv[] = {prov, model, status, key};

        snprintf(status, sizeof(status), "%d", r->status);
        met_add(m, F_REQUESTS, rv, 1);
        if (r->tokens_known) {
            const char *dir[] = {"input", "output", "cache_read", "cache_write"};
            int64_t tok[] = {r->input, r->output, r->cache_read, r->cache_write};
            for (size_t i = 0; i < 4; i++) {
                const char *tv[] = {dir[i], prov, model, key};
                met_add(m, F_TOKENS, tv, tok[i] > 0 ? (uint64_t)tok[i] : 0);
            }
        }
    }
    if (r->retries > 0)
        met_add(m, F_RETRIES, pv, r->retries);
    if (r->ttfb_s >= 0)
        met_observe(m, F_TTFB, pv, r->ttfb_s);
    met_observe(m, F_DURATION, pv, r->duration_s);
    met_observe(m, F_ADDED, pv, r->duration_s - (r->upstream_s > 0 ? r->upstream_s : 0));
}

void cp_metrics_free(cp_metrics_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nseries; i++) {
        free(m->series[i].key);
        free(m->series[i].b);
    }
    met_names_free(&m->models);
    met_names_free(&m->upmodels);
    free(m->series);
    free(m->index.slot);
    free(m);
}

/* ---- the exposition ----------------------------------------------------------------------------------- */

/* A sample value: integers exactly, other numbers with the fewest digits that read back the same. */
static int met_num(cp_buf_t *b, double x)
{
    char s[40];

    if (isinf(x))
        return cp_buf_adds(b, x > 0 ? "+Inf" : "-Inf");
    if (isnan(x))
        return cp_buf_adds(b, "NaN");
    if (x > -9e15 && x < 9e15 && x == (double)(long long)x)
        return cp_buf_addf(b, "%.0f", x);
    for (int p = 15; p <= 17; p++) {
        snprintf(s, sizeof(s), "%.*g", p, x);
        if (strtod(s, NULL) == x)
            break;
    }
    return cp_buf_adds(b, s);
}

/* A label value with the format's escapes: backslash, double quote, newline. */
static int met_escape(cp_buf_t *b, const char *p, size_t n)
{
    int rc = CP_OK;

    for (size_t i = 0; i < n && rc == CP_OK; i++)
        rc = p[i] == '\\'   ? CP_BUF_LIT(b, "\\\\")
             : p[i] == '"'  ? CP_BUF_LIT(b, "\\\"")
             : p[i] == '\n' ? CP_BUF_LIT(b, "\\n")
                            : cp_buf_addc(b, p[i]);
    return rc;
}

/* "{a="x",b="y"" from the series key (without the closing brace: a bucket adds le). */
static int met_labels(cp_buf_t *b, const met_series_t *s)
{
    const met_family_t *f = &met_families[s->fam];
    size_t at = 1;
    int rc = cp_buf_addc(b, '{');

    for (size_t l = 0; l < MET_LABELS_MAX && f->labels[l] != NULL && rc == CP_OK; l++) {
        size_t len = ((size_t)(unsigned char)s->key[at] << 8) | (unsigned char)s->key[at + 1];
        rc = cp_buf_addf(b, "%s%s=\"", l ? "," : "", f->labels[l]);
        if (rc == CP_OK)
            rc = met_escape(b, s->key + at + 2, len);
        if (rc == CP_OK)
            rc = cp_buf_addc(b, '"');
        at += 2 + len;
    }
    return rc;
}

static int met_write_series(cp_buf_t *b, const met_series_t *s)
{
    const met_family_t *f = &met_families[s->fam];
    uint64_t cum = 0;
    int rc = CP_OK;

    if (f->type == MET_COUNTER) {
        rc |= cp_buf_adds(b, f->name);
        rc |= met_labels(b, s);
        rc |= cp_buf_addf(b, "} %llu\n", (unsigned long long)s->n);
        return rc ? CP_ERR : CP_OK;
    }
    for (size_t i = 0; i <= f->nle; i++) {
        cum += s->b[i];
        rc |= cp_buf_addf(b, "%s_bucket", f->name);
        rc |= met_labels(b, s);
        rc |= CP_BUF_LIT(b, ",le=\"");
        rc |= met_num(b, i < f->nle ? f->le[i] : INFINITY);
        rc |= cp_buf_addf(b, "\"} %llu\n", (unsigned long long)cum);
    }
    rc |= cp_buf_addf(b, "%s_sum", f->name);
    rc |= met_labels(b, s);
    rc |= CP_BUF_LIT(b, "} ");
    rc |= met_num(b, s->sum);
    rc |= cp_buf_addf(b, "\n%s_count", f->name);
    rc |= met_labels(b, s);
    rc |= cp_buf_addf(b, "} %llu\n", (unsigned long long)s->n);
    return rc ? CP_ERR : CP_OK;
}

/* One unlabelled sample with its HELP and TYPE; nothing when <x> < 0. */
static int met_single(cp_buf_t *b, const char *name, const char *type, const char *help, double x)
{
    int rc = CP_OK;

    if (x < 0)
        return CP_OK;
    rc |= cp_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n%s ", name, help, name, type, name);
    rc |= met_num(b, x);
    rc |= cp_buf_addc(b, '\n');
    return rc ? CP_ERR : CP_OK;
}

static int met_write_gauges(const cp_metrics_t *m, const cp_metrics_gauges_t *g, cp_buf_t *b)
{
    int rc = CP_OK;

    rc |= cp_buf_addf(b,
                      "# HELP ccproxy_build_info The running ccproxy: version and source commit.\n"
                      "# TYPE ccproxy_build_info gauge\nccproxy_build_info{version=\"%s\",commit=\"%s\"} 1\n",
                      CP_VERSION, CP_GIT_COMMIT);
    rc |= met_single(b, "ccproxy_active_requests", "gauge", "Requests being handled.", g->active_requests);
    rc |= met_single(b, "ccproxy_active_streams", "gauge", "Replies being streamed.", g->active_streams);
    rc |= met_single(b, "ccproxy_open_connections", "gauge", "Open client connections.", g->open_connections);
    rc |= met_single(b, "ccproxy_ledger_rows_queued", "gauge", "Usage ledger rows waiting to be written.",
                     g->ledger_queued);
    rc |= met_single(b, "ccproxy_ledger_rows_dropped_total", "counter",
                     "Usage ledger rows lost because its queue was full.", g->ledger_dropped);
    rc |= met_single(b, "ccproxy_metrics_series_dropped_total", "counter",
                     "Samples not counted because the series limit was reached.", (double)m->dropped);
    rc |= met_single(b, "process_open_fds", "gauge", "Open file descriptors.", g->open_fds);
    rc |= met_single(b, "process_max_fds", "gauge", "Limit on open file descriptors.", g->max_fds);
    rc |= met_single(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                     g->resident_bytes);
    rc |= met_single(b, "process_start_time_seconds", "gauge",
                     "Start time of the process since the Unix epoch in seconds.", g->start_time_s);
    return rc ? CP_ERR : CP_OK;
}

int cp_metrics_write(const cp_metrics_t *m, const cp_metrics_gauges_t *g, cp_buf_t *out)
{
    for (unsigned fam = 0; fam < F_COUNT; fam++) {
        const met_family_t *f = &met_families[fam];

        if (cp_buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                        f->type == MET_COUNTER ? "counter" : "histogram") != CP_OK)
            return CP_ERR;
        for (size_t i = 0; i < m->nseries; i++)
            if (m->series[i].fam == fam && met_write_series(out, &m->series[i]) != CP_OK)
                return CP_ERR;
    }
    return met_write_gauges(m, g, out);
}

/* ---- access ---------------------------------------------------------------------------------------------
 */

int cp_cidr_parse(const char *s, cp_cidr_t *out)
{
    char host[64];
    const char *slash = strchr(s, '/');
    size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
    unsigned long bits;
    char *end;

    memset(out, 0, sizeof(*out));
    if (n == 0 || n >= sizeof(host))
        return CP_ERR;
    memcpy(host, s, n);
    host[n] = '\0';
    if (inet_pton(AF_INET, host, out->addr) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, host, out->addr) == 1)
        out->family = AF_INET6;
    else
        return CP_ERR;
    out->bits = out->family == AF_INET ? 32 : 128;
    if (slash == NULL)
        return CP_OK;
    if (slash[1] < '0' || slash[1] > '9')
        return CP_ERR;
    bits = strtoul(slash + 1, &end, 10);
    if (*end != '\0' || bits > out->bits || end - (slash + 1) > 3)
        return CP_ERR;
    out->bits = (unsigned)bits;
    return CP_OK;
}

int cp_cidr_match(const cp_cidr_t *c, const void *sockaddr)
{
    const struct sockaddr *sa = sockaddr;
    const unsigned char *a;
    int fam;

    if (sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        fam = AF_INET;
        a = (const unsigned char *)&((const struct sockaddr_in *)sockaddr)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sockaddr)->sin6_addr;
        fam = IN6_IS_ADDR_V4MAPPED(a6) ? AF_INET : AF_INET6;
        a = fam == AF_INET ? a6->s6_addr + 12 : a6->s6_addr;
    } else {
        return 0;
    }
    if (fam != c->family)
        return 0;
    if (memcmp(a, c->addr, c->bits / 8) != 0)
        return 0;
    if (c->bits % 8 != 0) {
        unsigned char mask = (unsigned char)(0xFFu << (8 - c->bits % 8));
        return (a[c->bits / 8] & mask) == (c->addr[c->bits / 8] & mask);
    }
    return 1;
}

int cp_metrics_token_eq(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d = na == nb ? 0 : 1;

    for (size_t i = 0; i < nb; i++)
        d |= (unsigned char)(a[i < na ? i : 0] ^ b[i]);
    return d == 0 && na > 0;
}
