/* lib/team/cp_limits.c: see cp_limits.h.
 *
 * One state per key name, in an open-addressing hash table (linear probing, grown at 50 % load, never
 * shrunk: the state of a key no longer configured simply stays). Each state holds:
 *   - the rpm window: a ring of the admission times still inside the last 60 s, oldest at the head,
 *     growing up to the spec's rpm as requests come (a request is refused while it holds rpm times; the
 *     rpm-th newest says when a slot frees);
 *   - 60 one-second buckets of tokens and of requests (bucket i holds the second s with s % 60 == i),
 *     advanced lazily, so every call costs at most 60 steps whatever the traffic;
 *   - the requests in flight;
 *   - the spend of the current day, week and month (all three always, so a spec that changes its
 *     window keeps an exact count).
 * Token counts saturate at INT64_MAX instead of overflowing. Times are clamped to
 * [0, 9999-12-31T23:59:59.999Z]; a key's clock never goes backwards (an earlier time is taken as the
 * latest one seen), except that a jump back of more than a minute clears its rpm and tpm windows. */
#include "cp_limits.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_common.h"

#define LIM_WIN_MS    60000LL
#define LIM_SECS      60
#define LIM_DAY_MS    86400000LL
#define LIM_TIME_MAX  253402300799999LL /* 9999-12-31T23:59:59.999Z */
#define LIM_PERS      3                 /* day, week, month */
#define LIM_NAME_SHOW 64                /* bytes of a key name shown in a message */

typedef struct lim_spend {
    int64_t start_ms; /* the window this spend belongs to; -1: none yet */
    double usd;
    int64_t tokens;
} lim_spend_t;

typedef struct lim_key {
    char *name;      /* owned */
    int64_t last_ms; /* the latest time seen (the key's clock) */
    int64_t *ring;   /* owned: admission times in order, oldest at <head> */
    unsigned cap, head, len;
    int64_t sec; /* the second the buckets were last advanced to */
    int64_t tok[LIM_SECS];
    uint32_t req[LIM_SECS];
    unsigned streams;
    lim_spend_t spend[LIM_PERS]; /* index: enum cp_per - 1 */
} lim_key_t;

struct cp_limits {
    lim_key_t **slots; /* owned, each owned; NULL: empty */
    size_t cap;        /* a power of two */
    size_t used;
};

static int64_t lim_sat_add(int64_t a, int64_t b) /* a, b >= 0 */
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t lim_clamp_time(int64_t t)
{
    return t < 0 ? 0 : t > LIM_TIME_MAX ? LIM_TIME_MAX : t;
}

static int64_t lim_nonneg(int64_t v)
{
    return v < 0 ? 0 : v;
}

/* Milliseconds -> whole seconds, rounded up, at least 1. */
static unsigned lim_ceil_s(int64_t ms)
{
    int64_t s = (ms + 999) / 1000;
    return s < 1 ? 1 : s > (int64_t)UINT32_MAX ? UINT32_MAX : (unsigned)s;
}

/* ---- calendar (UTC; cp_days_from_civil in lib/base/cp_common.h) ---- */

void cp_limits_window(enum cp_per per, int64_t now_ms, int64_t *start_ms, int64_t *end_ms)
{
    int64_t days = lim_clamp_time(now_ms) / LIM_DAY_MS, y, s = 0, e = 0;
    unsigned m, d;

    switch (per) {
    case CP_PER_DAY:
        s = days;
        e = days + 1;
        break;
    case CP_PER_WEEK: /* 1970-01-01 was a Thursday: (days + 3) % 7 is 0 on Mondays */
        s = days - (days + 3) % 7;
        e = s + 7;
        break;
    case CP_PER_MONTH:
        cp_civil_from_days(days, &y, &m, &d);
        s = cp_days_from_civil(y, m, 1);
        e = m == 12 ? cp_days_from_civil(y + 1, 1, 1) : cp_days_from_civil(y, m + 1, 1);
        break;
    default:
        break;
    }
    *start_ms = s * LIM_DAY_MS;
    *end_ms = e * LIM_DAY_MS;
}

/* <ms> as "YYYY-MM-DDTHH:MM:SSZ" (clamped to the years 1970 to 9999). */
static void lim_iso(int64_t ms, char out[32])
{
    cp_time_iso(lim_clamp_time(ms) / 1000 * 1000, 0, out);
}

int cp_limits_per_parse(const char *s, enum cp_per *out)
{
    for (int p = CP_PER_DAY; p <= CP_PER_MONTH; p++) {
        if (s != NULL && strcmp(s, cp_limits_per_name((enum cp_per)p)) == 0) {
            *out = (enum cp_per)p;
            return CP_OK;
        }
    }
    return CP_ERR;
}

const char *cp_limits_per_name(enum cp_per per)
{
    switch (per) {
    case CP_PER_DAY:
        return "day";
    case CP_PER_WEEK:
        return "week";
    case CP_PER_MONTH:
        return "month";
    default:
        return "";
    }
}

/* ---- the table of keys ---- */

cp_limits_t *cp_limits_new(void)
{
    cp_limits_t *l = cp_xcalloc(1, sizeof(*l));

    l->cap = 64;
    l->slots = cp_xcalloc(l->cap, sizeof(*l->slots));
    return l;
}

void cp_limits_free(cp_limits_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->cap; i++) {
        if (l->slots[i] != NULL) {
            free(l->slots[i]->ring);
            free(l->slots[i]->name);
            free(l->slots[i]);
        }
    }
    free(l->slots);
    free(l);
}

/* FNV-1a. Key names come from the configuration, not from clients, so no seed is needed. */
static size_t lim_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    h ^= h >> 29;
    return (size_t)h;
}

static size_t lim_slot(const cp_limits_t *l, const char *name)
{
    size_t i = lim_hash(name) & (l->cap - 1);

    while (l->slots[i] != NULL && strcmp(l->slots[i]->name, name) != 0)
        i = (i + 1) & (l->cap - 1);
    return i;
}

static void lim_grow(cp_limits_t *l)
{
    lim_key_t **old = l->slots;
    size_t oldcap = l->cap;

    l->cap *= 2;
    l->slots = cp_xcalloc(l->cap, sizeof(*l->slots));
    for (size_t i = 0; i < oldcap; i++)
        if (old[i] != NULL)
            l->slots[lim_slot(l, old[i]->name)] = old[i];
    free(old);
}

/* The state of <name>, or NULL when it has none. Borrowed. */
static lim_key_t *lim_find(const cp_limits_t *l, const char *name)
{
    return l->slots[lim_slot(l, name != NULL ? name : "")];
}

/* The state of <name>, created when missing. Borrowed. */
static lim_key_t *lim_get(cp_limits_t *l, const char *name)
{
    size_t i;
    lim_key_t *k;

    if (name == NULL)
        name = "";
    if ((l->used + 1) * 2 > l->cap)
        lim_grow(l);
    i = lim_slot(l, name);
    if (l->slots[i] != NULL)
        return l->slots[i];
    k = cp_xcalloc(1, sizeof(*k));
    k->name = cp_xstrdup(name);
    k->sec = -LIM_SECS;
    for (int p = 0; p < LIM_PERS; p++)
        k->spend[p].start_ms = -1;
    l->slots[i] = k;
    l->used++;
    return k;
}

/* ---- the windows of one key ---- */

/* The bucket of second <s> (s >= 0). */
static size_t lim_bucket(int64_t s)
{
    return (size_t)(s % LIM_SECS);
}

/* Moves the buckets forward to second <sec>, emptying those of the seconds that left the window. */
static void lim_advance(lim_key_t *k, int64_t sec)
{
    if (sec <= k->sec)
        return;
    if (sec - k->sec >= LIM_SECS) {
        memset(k->tok, 0, sizeof(k->tok));
        memset(k->req, 0, sizeof(k->req));
    } else {
        for (int64_t s = k->sec + 1; s <= sec; s++) {
            k->tok[lim_bucket(s)] = 0;
            k->req[lim_bucket(s)] = 0;
        }
    }
    k->sec = sec;
}

/* Drops the admission times that are not newer than <t> - 60 s. */
static void lim_expire(lim_key_t *k, int64_t t)
{
    while (k->len > 0 && k->ring[k->head] <= t - LIM_WIN_MS) {
        k->head = (k->head + 1) % k->cap;
        k->len--;
    }
}

/* The key's clock at <now_ms>, with its windows moved to it. Returns the time to count at. */
static int64_t lim_touch(lim_key_t *k, int64_t now_ms)
{
    int64_t t = lim_clamp_time(now_ms);

    if (t < k->last_ms - LIM_WIN_MS) { /* the clock jumped back: the windows mean nothing now */
        k->len = 0;
        k->head = 0;
        k->sec = -LIM_SECS;
    } else if (t < k->last_ms) {
        t = k->last_ms;
    }
    k->last_ms = t;
    lim_advance(k, t / 1000);
    lim_expire(k, t);
    for (int p = 0; p < LIM_PERS; p++) {
        int64_t s, e;
        cp_limits_window((enum cp_per)(p + 1), t, &s, &e);
        if (k->spend[p].start_ms != s) {
            k->spend[p].start_ms = s;
            k->spend[p].usd = 0;
            k->spend[p].tokens = 0;
        }
    }
    return t;
}

/* The rpm limit of <spec>, at most CP_LIMITS_RPM_MAX (0: none). */
static unsigned lim_rpm(const cp_limit_spec_t *spec)
{
    return spec->rpm > CP_LIMITS_RPM_MAX ? CP_LIMITS_RPM_MAX : spec->rpm;
}

/* Gives the ring <cap> slots, keeping the newest times that fit. */
static void lim_ring_resize(lim_key_t *k, unsigned cap)
{
    unsigned keep = k->len < cap ? k->len : cap;
    int64_t *r = cap > 0 ? cp_xcalloc(cap, sizeof(*r)) : NULL;

    for (unsigned i = 0; i < keep; i++)
        r[i] = k->ring[(k->head + (k->len - keep) + i) % k->cap];
    free(k->ring);
    k->ring = r;
    k->cap = cap;
    k->head = 0;
    k->len = keep;
}

/* Sizes the ring for a limit of <rpm> (0: no limit, no ring), after the expired times went. The ring
 * grows as times come (lim_ring_add) and gives memory back once it is mostly empty. It keeps every
 * time it holds while they outnumber a lowered limit, so that lowering then raising the limit forgets
 * no admission. */
static void lim_ring_fit(lim_key_t *k, unsigned rpm)
{
    if (rpm == 0) {
        if (k->cap > 0)
            lim_ring_resize(k, 0);
    } else if (k->cap > 16 && k->len < k->cap / 4) {
        lim_ring_resize(k, k->cap / 2);
    } else if (k->cap > rpm && k->len <= rpm) {
        lim_ring_resize(k, rpm);
    }
}

/* Adds the admission time <ts> to the ring in time order, growing it (doubling) up to <rpm> slots;
 * when it cannot grow, the oldest time goes. */
static void lim_ring_add(lim_key_t *k, int64_t ts, unsigned rpm)
{
    unsigned i;

    if (rpm == 0)
        return;
    if (k->len == k->cap && k->cap < rpm) {
        unsigned grow = k->cap < 4 ? 8 : 2 * k->cap;
        lim_ring_resize(k, grow < rpm ? grow : rpm);
    }
    if (k->len == k->cap) {
        if (ts <= k->ring[k->head])
            return; /* older than every time kept: it can never decide a refusal */
        k->head = (k->head + 1) % k->cap;
        k->len--;
    }
    for (i = k->len; i > 0 && k->ring[(k->head + i - 1) % k->cap] > ts; i--)
        k->ring[(k->head + i) % k->cap] = k->ring[(k->head + i - 1) % k->cap];
    k->ring[(k->head + i) % k->cap] = ts;
    k->len++;
}

/* The tokens in the tpm window (the buckets must have been advanced). */
static int64_t lim_tok_sum(const lim_key_t *k)
{
    int64_t sum = 0;

    for (int i = 0; i < LIM_SECS; i++)
        sum = lim_sat_add(sum, k->tok[i]);
    return sum;
}

static uint64_t lim_req_sum(const lim_key_t *k)
{
    uint64_t sum = 0;

    for (int i = 0; i < LIM_SECS; i++)
        sum += k->req[i];
    return sum;
}

/* Counts one request of <tokens> at second <sec> of the window. */
static void lim_charge(lim_key_t *k, int64_t sec, int64_t tokens)
{
    size_t b = lim_bucket(sec);

    k->tok[b] = lim_sat_add(k->tok[b], tokens);
    if (k->req[b] < UINT32_MAX)
        k->req[b]++;
}

/* Takes <n> tokens off the window, from the newest second back, no bucket going below zero. */
static void lim_uncharge(lim_key_t *k, int64_t n)
{
    for (int64_t i = 0; i < LIM_SECS && i <= k->sec && n > 0; i++) {
        size_t b = lim_bucket(k->sec - i);
        int64_t take = k->tok[b] < n ? k->tok[b] : n;
        k->tok[b] -= take;
        n -= take;
    }
}

/* Milliseconds from <t> until the tpm window has room for <est> under <tpm>, or is empty. */
static int64_t lim_tpm_wait(const lim_key_t *k, int64_t t, int64_t est, int64_t tpm)
{
    int64_t after[LIM_SECS + 1]; /* after[i]: the tokens of seconds sec-59+i .. sec */
    int64_t first = k->sec - (LIM_SECS - 1);

    after[LIM_SECS] = 0;
    for (int i = LIM_SECS - 1; i >= 0; i--)
        after[i] = first + i < 0 ? after[i + 1] : lim_sat_add(after[i + 1], k->tok[lim_bucket(first + i)]);
    for (int i = 0; i < LIM_SECS; i++) {
        /* second first+i leaves the window at (first + i + 60) s */
        int64_t left = after[i + 1];
        if (left == 0 || lim_sat_add(left, est) <= tpm)
            return (first + i + LIM_SECS - k->sec) * 1000 - t % 1000;
    }
    return LIM_WIN_MS;
}

static void lim_budget_add(lim_key_t *k, int64_t ts, int64_t tokens, double usd)
{
    for (int p = 0; p < LIM_PERS; p++) {
        lim_spend_t *s = &k->spend[p];
        int64_t ws, we;

        cp_limits_window((enum cp_per)(p + 1), ts, &ws, &we);
        if (ws != s->start_ms)
            continue; /* an older window */
        s->tokens = lim_sat_add(s->tokens, tokens);
        if (isfinite(usd) && usd >= 0)
            s->usd += usd;
    }
}

/* ---- refusals ---- */

/* <name> as shown in a message: at most 64 bytes, anything but [A-Za-z0-9._-] as '?'. */
static void lim_show_name(const char *name, char out[LIM_NAME_SHOW + 1])
{
    size_t i = 0;

    for (; name != NULL && name[i] != '\0' && i < LIM_NAME_SHOW; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '_' || c == '-';
        out[i] = ok ? c : '?';
    }
    out[i] = '\0';
}

static int lim_refuse_rate(cp_limit_refusal_t *why, const char *name, const char *limit, const char *field,
                           unsigned retry)
{
    char n[LIM_NAME_SHOW + 1];

    lim_show_name(name, n);
    why->retry_after_s = retry;
    why->budget = 0;
    snprintf(why->msg, sizeof(why->msg), "key \"%s\" is over its limit of %s (%s); retry in %u s", n, limit,
             field, retry);
    return CP_ERR;
}

static int lim_refuse_budget(cp_limit_refusal_t *why, const char *name, const cp_limit_spec_t *spec,
                             int64_t t, int usd)
{
    static const char *const when[] = {"today", "this week", "this month"};
    char n[LIM_NAME_SHOW + 1], iso[32], amount[48];
    int64_t ws, we;

    lim_show_name(name, n);
    cp_limits_window(spec->per, t, &ws, &we);
    lim_iso(we, iso);
    why->retry_after_s = lim_ceil_s(we - t);
    why->budget = 1;
    if (usd)
        snprintf(amount, sizeof(amount), spec->budget_usd < 1e15 ? "$%.2f" : "$%.3g", spec->budget_usd);
    else
        snprintf(amount, sizeof(amount), "%lld tokens", (long long)spec->budget_tokens);
    snprintf(why->msg, sizeof(why->msg), "key \"%s\" has %s its budget of %s for %s (%s); it renews at %s", n,
             usd ? "spent" : "used", amount, when[spec->per - 1], usd ? "budget.usd" : "budget.tokens", iso);
    return CP_ERR;
}

static int lim_has_budget(const cp_limit_spec_t *spec)
{
    return spec->per >= CP_PER_DAY && spec->per <= CP_PER_MONTH &&
           (spec->budget_usd > 0 || spec->budget_tokens > 0);
}

/* Checks every limit of <spec> for one more request of <est> tokens at <t>. */
static int lim_check(const lim_key_t *k, const char *name, const cp_limit_spec_t *spec, int64_t t,
                     int64_t est, cp_limit_refusal_t *why)
{
    char what[64];

    if (spec->max_streams > 0 && k->streams >= spec->max_streams) {
        snprintf(what, sizeof(what), "%u requests in flight", spec->max_streams);
        return lim_refuse_rate(why, name, what, "maxStreams", 1);
    }
    if (lim_rpm(spec) > 0 && k->len >= lim_rpm(spec)) { /* the rpm-th newest time decides */
        int64_t decisive = k->ring[(k->head + (k->len - lim_rpm(spec))) % k->cap];
        snprintf(what, sizeof(what), "%u requests per minute", lim_rpm(spec));
        return lim_refuse_rate(why, name, what, "rpm", lim_ceil_s(decisive + LIM_WIN_MS - t));
    }
    if (spec->tpm > 0) {
        int64_t sum = lim_tok_sum(k);
        if (sum > 0 && lim_sat_add(sum, est) > spec->tpm) {
            snprintf(what, sizeof(what), "%lld tokens per minute", (long long)spec->tpm);
            return lim_refuse_rate(why, name, what, "tpm", lim_ceil_s(lim_tpm_wait(k, t, est, spec->tpm)));
        }
    }
    if (lim_has_budget(spec)) {
        const lim_spend_t *s = &k->spend[spec->per - 1];
        if (spec->budget_usd > 0 && s->usd >= spec->budget_usd)
            return lim_refuse_budget(why, name, spec, t, 1);
        if (spec->budget_tokens > 0 && s->tokens >= spec->budget_tokens)
            return lim_refuse_budget(why, name, spec, t, 0);
    }
    return CP_OK;
}

/* ---- the interface ---- */

int cp_limits_admit(cp_limits_t *l, const char *name, const cp_limit_spec_t *spec, int64_t now_ms,
                    int64_t est_tokens, cp_limit_refusal_t *why)
{
    lim_key_t *k = lim_get(l, name);
    int64_t t, est = lim_nonneg(est_tokens);

    t = lim_touch(k, now_ms);
    lim_ring_fit(k, lim_rpm(spec));
    if (lim_check(k, name, spec, t, est, why) != CP_OK)
        return CP_ERR;
    lim_ring_add(k, t, lim_rpm(spec));
    lim_charge(k, k->sec, est);
    if (k->streams < UINT32_MAX)
        k->streams++;
    return CP_OK;
}

void cp_limits_end(cp_limits_t *l, const char *name, const cp_limit_spec_t *spec, int64_t now_ms,
                   int64_t est_tokens, int64_t tokens, double usd)
{
    lim_key_t *k = lim_get(l, name);
    int64_t t, est = lim_nonneg(est_tokens), real = lim_nonneg(tokens);
    size_t b;

    t = lim_touch(k, now_ms);
    lim_ring_fit(k, lim_rpm(spec));
    if (k->streams > 0)
        k->streams--;
    b = lim_bucket(k->sec);
    if (real >= est)
        k->tok[b] = lim_sat_add(k->tok[b], real - est);
    else
        lim_uncharge(k, est - real);
    lim_budget_add(k, t, real, usd);
}

void cp_limits_replay(cp_limits_t *l, const char *name, const cp_limit_spec_t *spec, int64_t now_ms,
                      int64_t ts_ms, int64_t tokens, double usd)
{
    lim_key_t *k = lim_get(l, name);
    int64_t t, ts, real = lim_nonneg(tokens);

    t = lim_touch(k, now_ms);
    lim_ring_fit(k, lim_rpm(spec));
    ts = lim_clamp_time(ts_ms);
    if (ts > t)
        ts = t; /* a row from the future counts as now */
    if (ts > t - LIM_WIN_MS)
        lim_ring_add(k, ts, lim_rpm(spec));
    if (ts / 1000 > k->sec - LIM_SECS)
        lim_charge(k, ts / 1000, real);
    lim_budget_add(k, ts, real, usd);
}

static void lim_view_budget(json_t *o, const lim_key_t *k, const cp_limit_spec_t *spec, int64_t t)
{
    json_t *b = json_object();
    char iso[32];
    int64_t ws, we;

    cp_limits_window(spec->per, t, &ws, &we);
    json_object_set_new(b, "per", json_string(cp_limits_per_name(spec->per)));
    lim_iso(ws, iso);
    json_object_set_new(b, "window_start", json_string(iso));
    lim_iso(we, iso);
    json_object_set_new(b, "window_end", json_string(iso));
    json_object_set_new(b, "spent_usd", json_real(k != NULL ? k->spend[spec->per - 1].usd : 0));
    json_object_set_new(b, "spent_tokens", json_integer(k != NULL ? k->spend[spec->per - 1].tokens : 0));
    json_object_set_new(b, "limit_usd", spec->budget_usd > 0 ? json_real(spec->budget_usd) : json_null());
    json_object_set_new(b, "limit_tokens",
                        spec->budget_tokens > 0 ? json_integer(spec->budget_tokens) : json_null());
    json_object_set_new(o, "budget", b);
}

json_t *cp_limits_view(cp_limits_t *l, const char *name, const cp_limit_spec_t *spec, int64_t now_ms)
{
    lim_key_t *k = lim_find(l, name);
    json_t *o = json_object();
    int64_t t = lim_clamp_time(now_ms);
    uint64_t reqs = 0;

    if (k != NULL) {
        t = lim_touch(k, now_ms);
        lim_ring_fit(k, lim_rpm(spec));
        reqs = lim_rpm(spec) > 0 ? k->len : lim_req_sum(k);
    }
    json_object_set_new(o, "requests_last_minute", json_integer((json_int_t)reqs));
    json_object_set_new(o, "tokens_last_minute", json_integer(k != NULL ? lim_tok_sum(k) : 0));
    json_object_set_new(o, "streams", json_integer(k != NULL ? k->streams : 0));
    if (lim_has_budget(spec))
        lim_view_budget(o, k, spec, t);
    return o;
}
