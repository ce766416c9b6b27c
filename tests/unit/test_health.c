/* Unit tests for lib/exchange/cp_health.c: the breaker (consecutive failures, the failure rate with its
 * minimum and its window, open -> one probe -> closed or open again, a neutral or lost probe, late
 * reports, breakers off, the table bound with open breakers kept), key pools (round robin, cooling, out
 * until a reload, nothing usable), session affinity (its key, its candidate, the TTL, a reordered pool),
 * and what an admin sees (/health JSON and /metrics text: states, no key bytes, label escapes). */
#include "cp_unit.h"

#include "cp_health.h"

#define T0   1000000ULL /* a monotonic "now" well after 0 */
#define COOL 30000ULL   /* cooldown_s 30 */

/* Keys whose bytes must never show: each holds the marker. */
#define MARK "SEKRETmark"
static char *keys3[] = {"sk-" MARK "-aaaaaaaaaaaaaaaa", "sk-" MARK "-bbbbbbbbbbbbbbbb",
                        "sk-" MARK "-cccccccccccccccc"};

static cp_provider_t prov(char *name, char **keys, size_t n)
{
    cp_provider_t p;

    memset(&p, 0, sizeof(p));
    p.name = name;
    p.keys = keys;
    p.nkeys = n;
    p.api_key = n > 0 ? keys[0] : NULL;
    return p;
}

static const cp_breaker_cfg_t by_count = {3, 0, 60, 10, 30};
static const cp_breaker_cfg_t off = {0, 0, 60, 10, 30};

static int rfail(cp_health_t *h, const cp_breaker_cfg_t *c, uint64_t now)
{
    return cp_health_report(h, "p", "m", 0, CP_HEALTH_FAIL, c, now);
}

static int rok(cp_health_t *h, const cp_breaker_cfg_t *c, uint64_t now)
{
    return cp_health_report(h, "p", "m", 0, CP_HEALTH_OK, c, now);
}

static enum cp_health_gate gate(cp_health_t *h, const cp_breaker_cfg_t *c, uint64_t now, uint64_t *until)
{
    return cp_health_gate(h, "p", "m", c, now, until);
}

/* Opens p/m by count at <now>. */
static void open_it(cp_health_t *h, uint64_t now)
{
    for (unsigned i = 1; i < by_count.failures; i++)
        assert_int_equal(rfail(h, &by_count, now), 0);
    assert_int_equal(rfail(h, &by_count, now), 1);
}

/* Lines of <text> that start with <prefix>. */
static size_t lines_with(const char *text, const char *prefix)
{
    size_t n = 0, len = strlen(prefix);

    for (const char *l = text; l != NULL && *l != '\0'; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        n += strncmp(l, prefix, len) == 0;
    return n;
}

static char *metrics(const cp_health_t *h, const cp_provider_t *provs, size_t n, uint64_t now)
{
    cp_buf_t b = CP_BUF_INIT;

    assert_int_equal(cp_health_metrics(h, provs, n, now, &b), CP_OK);
    return cp_buf_detach(&b, NULL);
}

static size_t breakers_shown(const cp_health_t *h)
{
    json_t *j = cp_health_json(h, NULL, 0, T0);
    size_t n = json_array_size(json_object_get(j, "breakers"));

    json_decref(j);
    return n;
}

/* ---- breaker ---- */

static void test_consecutive(void **s)
{
    cp_health_t *h = cp_health_new();
    uint64_t until = 7;

    (void)s;
    assert_int_equal(gate(h, &by_count, T0, &until), CP_HEALTH_CLOSED);
    assert_int_equal(until, 0);
    assert_int_equal(rfail(h, &by_count, T0), 0);
    assert_int_equal(rfail(h, &by_count, T0), 0);
    assert_int_equal(rok(h, &by_count, T0), 0); /* resets the count */
    assert_int_equal(rfail(h, &by_count, T0), 0);
    assert_int_equal(rfail(h, &by_count, T0), 0); /* N-1 = 2 in a row: still closed */
    assert_int_equal(gate(h, &by_count, T0, &until), CP_HEALTH_CLOSED);
    assert_int_equal(cp_health_report(h, "p", "m", 0, CP_HEALTH_NEUTRAL, &by_count, T0),
                     0);                              /* counts nothing */
    assert_int_equal(rfail(h, &by_count, T0 + 5), 1); /* the Nth opens */
    assert_int_equal(gate(h, &by_count, T0 + 6, &until), CP_HEALTH_OPEN);
    assert_int_equal(until, T0 + 5 + COOL);
    assert_int_equal(gate(h, &by_count, T0 + 6, NULL), CP_HEALTH_OPEN);
    assert_int_equal(rfail(h, &by_count, T0 + 7), 0); /* already open: does not open again */
    /* another model of the same provider, another provider: their own breakers */
    assert_int_equal(cp_health_gate(h, "p", "m2", &by_count, T0 + 6, NULL), CP_HEALTH_CLOSED);
    assert_int_equal(cp_health_gate(h, "p2", "m", &by_count, T0 + 6, NULL), CP_HEALTH_CLOSED);
    cp_health_free(h);
    cp_health_free(NULL);
}

static void test_rate(void **s)
{
    const cp_breaker_cfg_t c = {0, 0.5, 10, 4, 30}; /* buckets of 1 s */
    cp_health_t *h = cp_health_new();

    (void)s;
    /* below min_requests: never, even at 100 % */
    for (int i = 0; i < 3; i++)
        assert_int_equal(rfail(h, &c, T0), 0);
    assert_int_equal(gate(h, &c, T0, NULL), CP_HEALTH_CLOSED);
    /* under the rate: 1 of 4 */
    cp_health_free(h);
    h = cp_health_new();
    assert_int_equal(rok(h, &c, T0), 0);
    assert_int_equal(rok(h, &c, T0), 0);
    assert_int_equal(rok(h, &c, T0), 0);
    assert_int_equal(rfail(h, &c, T0), 0);
    assert_int_equal(rfail(h, &c, T0), 0); /* 2 of 5: 40 % */
    assert_int_equal(gate(h, &c, T0, NULL), CP_HEALTH_CLOSED);
    assert_int_equal(rfail(h, &c, T0 + 1500), 1); /* 3 of 6: at the rate, over two buckets */
    assert_int_equal(gate(h, &c, T0 + 1500, NULL), CP_HEALTH_OPEN);
    cp_health_free(h);

    /* exactly at min_requests, alternating: opens on the 4th (2 of 4); the count rule is off */
    h = cp_health_new();
    assert_int_equal(rok(h, &c, T0), 0);
    assert_int_equal(rfail(h, &c, T0), 0);
    assert_int_equal(rok(h, &c, T0), 0);
    assert_int_equal(rfail(h, &c, T0), 1);
    cp_health_free(h);

    /* old buckets expire: 3 failures, then the 4th a whole window later counts alone */
    h = cp_health_new();
    for (int i = 0; i < 3; i++)
        assert_int_equal(rfail(h, &c, T0), 0);
    assert_int_equal(rfail(h, &c, T0 + 11000), 0); /* another bucket; the first 3 are out of the window */
    assert_int_equal(rfail(h, &c, T0 + 11000), 0);
    assert_int_equal(gate(h, &c, T0 + 11000, NULL), CP_HEALTH_CLOSED);
    assert_int_equal(rfail(h, &c, T0 + 21500), 0); /* the 2 at +11000 are out too */
    assert_int_equal(gate(h, &c, T0 + 21500, NULL), CP_HEALTH_CLOSED);
    /* within the window they add up: 1 (at +21500) + 3 more */
    assert_int_equal(rfail(h, &c, T0 + 25000), 0);
    assert_int_equal(rfail(h, &c, T0 + 29000), 0);
    assert_int_equal(rfail(h, &c, T0 + 30999), 1);
    cp_health_free(h);
}

static void test_probe_ok(void **s)
{
    cp_health_t *h = cp_health_new();
    uint64_t until = 0, t = T0;

    (void)s;
    open_it(h, t);
    assert_int_equal(gate(h, &by_count, t + COOL - 1, &until), CP_HEALTH_OPEN);
    assert_int_equal(until, t + COOL);
    assert_int_equal(gate(h, &by_count, t + COOL, &until), CP_HEALTH_PROBE); /* exactly one */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(gate(h, &by_count, t + COOL + 10, &until), CP_HEALTH_OPEN);
        assert_int_equal(until, t + 2 * COOL); /* until the probe is lost */
    }
    assert_int_equal(cp_health_report(h, "p", "m", 1, CP_HEALTH_OK, &by_count, t + COOL + 20), 0);
    assert_int_equal(gate(h, &by_count, t + COOL + 21, NULL), CP_HEALTH_CLOSED);
    assert_int_equal(gate(h, &by_count, t + COOL + 21, NULL), CP_HEALTH_CLOSED);
    /* counters cleared: N-1 failures again do not open */
    assert_int_equal(rfail(h, &by_count, t + COOL + 30), 0);
    assert_int_equal(rfail(h, &by_count, t + COOL + 30), 0);
    assert_int_equal(gate(h, &by_count, t + COOL + 31, NULL), CP_HEALTH_CLOSED);
    assert_int_equal(rfail(h, &by_count, t + COOL + 32), 1);
    cp_health_free(h);
}

static void test_probe_fail(void **s)
{
    cp_health_t *h = cp_health_new();
    uint64_t until = 0, t = T0 + COOL;

    (void)s;
    open_it(h, T0);
    assert_int_equal(gate(h, &by_count, t, NULL), CP_HEALTH_PROBE);
    assert_int_equal(cp_health_report(h, "p", "m", 1, CP_HEALTH_FAIL, &by_count, t + 100), 1);
    assert_int_equal(gate(h, &by_count, t + 100 + COOL - 1, &until), CP_HEALTH_OPEN);
    assert_int_equal(until, t + 100 + COOL);
    assert_int_equal(gate(h, &by_count, t + 100 + COOL, NULL), CP_HEALTH_PROBE);
    assert_int_equal(gate(h, &by_count, t + 100 + COOL, NULL), CP_HEALTH_OPEN);
    cp_health_free(h);
}

static void test_probe_neutral_and_lost(void **s)
{
    cp_health_t *h = cp_health_new();
    uint64_t until = 0, t = T0 + COOL;

    (void)s;
    open_it(h, T0);
    assert_int_equal(gate(h, &by_count, t, NULL), CP_HEALTH_PROBE);
    assert_int_equal(gate(h, &by_count, t + 1, NULL), CP_HEALTH_OPEN);
    assert_int_equal(cp_health_report(h, "p", "m", 1, CP_HEALTH_NEUTRAL, &by_count, t + 2), 0);
    assert_int_equal(gate(h, &by_count, t + 3, NULL), CP_HEALTH_PROBE); /* the next caller, at once */
    assert_int_equal(gate(h, &by_count, t + 3, NULL), CP_HEALTH_OPEN);
    /* that probe is lost: no report */
    assert_int_equal(gate(h, &by_count, t + 3 + COOL - 1, &until), CP_HEALTH_OPEN);
    assert_int_equal(until, t + 3 + COOL);
    assert_int_equal(gate(h, &by_count, t + 3 + COOL, NULL), CP_HEALTH_PROBE);
    assert_int_equal(gate(h, &by_count, t + 3 + COOL, NULL), CP_HEALTH_OPEN);
    assert_int_equal(cp_health_report(h, "p", "m", 1, CP_HEALTH_OK, &by_count, t + 4 + COOL), 0);
    assert_int_equal(gate(h, &by_count, t + 5 + COOL, NULL), CP_HEALTH_CLOSED);
    cp_health_free(h);
}

static void test_late_reports(void **s)
{
    cp_health_t *h = cp_health_new();
    uint64_t t = T0 + COOL;
    json_t *j;

    (void)s;
    open_it(h, T0);
    /* results of attempts let through before it opened */
    assert_int_equal(rok(h, &by_count, T0 + 1), 0);
    assert_int_equal(rfail(h, &by_count, T0 + 1), 0);
    assert_int_equal(cp_health_report(h, "p", "m", 1, CP_HEALTH_OK, &by_count, T0 + 2), 0); /* not a probe */
    assert_int_equal(gate(h, &by_count, T0 + 3, NULL), CP_HEALTH_OPEN);
    j = cp_health_json(h, NULL, 0, T0 + 3); /* the late OK hid no failure: 3 + 1 */
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(json_object_get(j, "breakers"), 0), "failures")),
        4);
    json_decref(j);
    assert_int_equal(gate(h, &by_count, t, NULL), CP_HEALTH_PROBE);
    assert_int_equal(rok(h, &by_count, t + 1), 0); /* half-open: a late OK does not close it */
    assert_int_equal(gate(h, &by_count, t + 2, NULL), CP_HEALTH_OPEN);
    assert_int_equal(cp_health_report(h, "p", "m", 1, CP_HEALTH_OK, &by_count, t + 3), 0);
    assert_int_equal(gate(h, &by_count, t + 4, NULL), CP_HEALTH_CLOSED);
    cp_health_free(h);
}

static void test_off(void **s)
{
    cp_health_t *h = cp_health_new();
    char *m;

    (void)s;
    for (int i = 0; i < 100; i++)
        assert_int_equal(rfail(h, &off, T0 + (uint64_t)i), 0);
    assert_int_equal(gate(h, &off, T0 + 100, NULL), CP_HEALTH_CLOSED);
    assert_int_equal(gate(h, NULL, T0 + 100, NULL), CP_HEALTH_CLOSED);
    assert_int_equal(cp_health_report(h, "p", "m", 0, CP_HEALTH_FAIL, NULL, T0), 0);
    /* turned off by a reload while open: closed */
    open_it(h, T0);
    assert_int_equal(gate(h, &by_count, T0 + 1, NULL), CP_HEALTH_OPEN);
    assert_int_equal(gate(h, &off, T0 + 2, NULL), CP_HEALTH_CLOSED);
    assert_int_equal(gate(h, &by_count, T0 + 3, NULL), CP_HEALTH_CLOSED);
    /* gates and neutral reports of unknown pairs make no entry */
    for (int i = 0; i < 50; i++) {
        char model[32];
        snprintf(model, sizeof(model), "x%d", i);
        assert_int_equal(cp_health_gate(h, "q", model, &by_count, T0, NULL), CP_HEALTH_CLOSED);
        assert_int_equal(cp_health_report(h, "q", model, 0, CP_HEALTH_NEUTRAL, &by_count, T0), 0);
    }
    m = metrics(h, NULL, 0, T0);
    assert_int_equal(lines_with(m, "ccproxy_breaker_state{"), 1); /* p/m only */
    free(m);
    cp_health_free(h);
}

static void test_bound(void **s)
{
    const cp_breaker_cfg_t one = {1, 0, 60, 10, 30};
    cp_health_t *h = cp_health_new();
    char model[32], *m;

    (void)s;
    /* two open breakers, then 3000 closed pairs with one failure each */
    assert_int_equal(cp_health_report(h, "p", "keep1", 0, CP_HEALTH_FAIL, &one, T0), 1);
    assert_int_equal(cp_health_report(h, "p", "keep2", 0, CP_HEALTH_FAIL, &one, T0), 1);
    for (int i = 0; i < 3000; i++) {
        snprintf(model, sizeof(model), "m%d", i);
        assert_int_equal(cp_health_report(h, "p", model, 0, CP_HEALTH_FAIL, &by_count, T0 + 1), 0);
        if (i % 100 == 0)
            assert_true(breakers_shown(h) <= CP_HEALTH_BREAKERS_MAX);
        if (i % 500 == 0) /* keep1 stays in use; keep2 does not */
            assert_int_equal(cp_health_gate(h, "p", "keep1", &one, T0 + 2, NULL), CP_HEALTH_OPEN);
    }
    assert_int_equal(breakers_shown(h), CP_HEALTH_BREAKERS_MAX);
    m = metrics(h, NULL, 0, T0);
    assert_int_equal(lines_with(m, "ccproxy_breaker_state{"), CP_HEALTH_BREAKERS_MAX);
    assert_int_equal(lines_with(m, "ccproxy_breaker_opened_total{"), CP_HEALTH_BREAKERS_MAX);
    /* open breakers are replaced last: both survived */
    assert_non_null(strstr(m, "ccproxy_breaker_state{provider=\"p\",model=\"keep1\"} 1\n"));
    assert_non_null(strstr(m, "ccproxy_breaker_state{provider=\"p\",model=\"keep2\"} 1\n"));
    free(m);
    assert_int_equal(cp_health_gate(h, "p", "keep2", &one, T0 + 2, NULL), CP_HEALTH_OPEN);
    /* the most recent pairs are there, the oldest closed ones replaced */
    assert_int_equal(rfail(h, &by_count, T0), 0);
    assert_int_equal(cp_health_report(h, "p", "m2999", 0, CP_HEALTH_FAIL, &by_count, T0 + 3), 0);
    assert_int_equal(cp_health_report(h, "p", "m2999", 0, CP_HEALTH_FAIL, &by_count, T0 + 3), 1);
    assert_int_equal(cp_health_report(h, "p", "m0", 0, CP_HEALTH_FAIL, &by_count, T0 + 3), 0); /* anew: */
    assert_int_equal(cp_health_report(h, "p", "m0", 0, CP_HEALTH_FAIL, &by_count, T0 + 3), 0); /* 2 of 3 */
    /* all open: the LRU open one is replaced; still no growth */
    for (int i = 0; i < 2 * CP_HEALTH_BREAKERS_MAX; i++) {
        snprintf(model, sizeof(model), "o%d", i);
        assert_int_equal(cp_health_report(h, "p", model, 0, CP_HEALTH_FAIL, &one, T0 + 4), 1);
    }
    assert_int_equal(breakers_shown(h), CP_HEALTH_BREAKERS_MAX);
    assert_int_equal(cp_health_gate(h, "p", "o0", &one, T0 + 5, NULL), CP_HEALTH_CLOSED); /* replaced */
    assert_int_equal(cp_health_gate(h, "p", "o2047", &one, T0 + 5, NULL), CP_HEALTH_OPEN);
    cp_health_free(h);
}

/* ---- keys ---- */

static void test_round_robin_and_cooling(void **s)
{
    cp_provider_t p = prov("p", keys3, 3);
    cp_health_t *h = cp_health_new();
    uint64_t free_at = 9;

    (void)s;
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0, &free_at), 0);
    assert_int_equal(free_at, 0);
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0, NULL), 1);
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0, NULL), 2);
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0, NULL), 0);
    cp_health_key_cool(h, &p, 1, T0 + 1000);
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0, NULL), 2);
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0 + 999, NULL), 0);
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0 + 999, NULL), 2);
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0 + 1000, NULL), 0);
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0 + 1000, NULL), 1); /* back */
    /* an earlier time does not shorten; a later one extends */
    cp_health_key_cool(h, &p, 1, T0 + 5000);
    cp_health_key_cool(h, &p, 1, T0 + 2000);
    for (int i = 0; i < 6; i++)
        assert_int_not_equal(cp_health_key_pick(h, &p, 0, T0 + 3000, NULL), 1);
    cp_health_key_cool(h, &p, 1, T0 + 8000);
    for (int i = 0; i < 6; i++)
        assert_int_not_equal(cp_health_key_pick(h, &p, 0, T0 + 6000, NULL), 1);
    /* another provider with the same key bytes has its own state and cursor */
    cp_provider_t q = prov("q", keys3, 3);
    assert_int_equal(cp_health_key_pick(h, &q, 0, T0 + 6000, NULL), 0);
    assert_int_equal(cp_health_key_pick(h, &q, 0, T0 + 6000, NULL), 1);
    cp_health_key_cool(h, &p, 7, T0 + 9000); /* out of range: ignored */
    cp_health_free(h);
}

static void test_out_and_none(void **s)
{
    cp_provider_t p = prov("p", keys3, 3), none = prov("n", NULL, 0);
    cp_health_t *h = cp_health_new();
    uint64_t free_at = 9;

    (void)s;
    assert_int_equal(cp_health_key_pick(h, &none, 0, T0, &free_at), -1);
    assert_int_equal(free_at, 0);
    assert_int_equal(cp_health_key_pick(h, NULL, 0, T0, &free_at), -1);
    cp_health_key_out(h, &p, 0);
    for (int i = 0; i < 6; i++)
        assert_int_not_equal(cp_health_key_pick(h, &p, 0, T0 + 1000000, NULL), 0);
    cp_health_key_cool(h, &p, 1, T0 + 700);
    cp_health_key_cool(h, &p, 2, T0 + 500);
    /* all cooling or out: the earliest cooling end */
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0, &free_at), -1);
    assert_int_equal(free_at, T0 + 500);
    cp_health_reload(h); /* key 0 is back; cooling stays */
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0, &free_at), 0);
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0, &free_at), 0);
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0 + 500, &free_at), 2);
    /* all out: -1 and 0 */
    for (size_t i = 0; i < 3; i++)
        cp_health_key_out(h, &p, i);
    free_at = 9;
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0 + 1000000, &free_at), -1);
    assert_int_equal(free_at, 0);
    cp_health_reload(h);
    assert_int_not_equal(cp_health_key_pick(h, &p, 0, T0 + 1000000, &free_at), -1);
    cp_health_free(h);
}

static void test_keys_bound(void **s)
{
    static char kb[3000][24];
    static char *kp[3000];
    cp_health_t *h = cp_health_new();

    (void)s;
    for (int i = 0; i < 3000; i++) {
        snprintf(kb[i], sizeof(kb[i]), "k%d", i);
        kp[i] = kb[i];
    }
    /* 3000 one-key providers, each key cooling for a while: the table keeps CP_HEALTH_KEYS_MAX */
    for (int i = 0; i < 3000; i++) {
        cp_provider_t p = prov(kb[i], &kp[i], 1);
        cp_health_key_cool(h, &p, 0, T0 + 1000);
        assert_int_equal(cp_health_key_pick(h, &p, 0, T0, NULL), -1);
    }
    cp_provider_t last = prov(kb[2999], &kp[2999], 1), first = prov(kb[0], &kp[0], 1);
    assert_int_equal(cp_health_key_pick(h, &last, 0, T0, NULL), -1);
    assert_int_equal(cp_health_key_pick(h, &first, 0, T0, NULL), 0); /* forgotten: usable */
    cp_health_free(h);

    /* a full table replaces an entry that no longer says anything before an out one, older as it is */
    cp_provider_t p = prov("p", keys3, 3);
    h = cp_health_new();
    cp_health_key_out(h, &p, 1);
    for (int i = 0; i < CP_HEALTH_KEYS_MAX + 100; i++) {
        cp_provider_t q = prov(kb[i], &kp[i], 1);
        cp_health_key_cool(h, &q, 0, T0 + 1000);
        if (i == CP_HEALTH_KEYS_MAX - 2) /* full; then a pick tells that those cooling ends are past */
            assert_int_equal(cp_health_key_pick(h, &p, 0, T0 + 2000, NULL), 0);
    }
    for (int i = 0; i < 6; i++)
        assert_int_not_equal(cp_health_key_pick(h, &p, 0, T0 + 2000, NULL), 1);
    cp_health_free(h);
}

/* ---- sessions ---- */

static void test_session_ids(void **s)
{
    (void)s;
    assert_int_equal(cp_health_session_id(NULL), 0);
    assert_int_equal(cp_health_session_id(""), 0);
    assert_int_not_equal(cp_health_session_id("a"), 0);
    assert_int_equal(cp_health_session_id("abc"), cp_health_session_id("abc"));
    assert_int_not_equal(cp_health_session_id("abc"), cp_health_session_id("abd"));
    assert_int_not_equal(cp_health_candidate_id("p", "m"), 0);
    assert_int_not_equal(cp_health_candidate_id("", ""), 0);
    assert_int_equal(cp_health_candidate_id("p", "m"), cp_health_candidate_id("p", "m"));
    assert_int_not_equal(cp_health_candidate_id("p", "m"), cp_health_candidate_id("q", "m"));
    assert_int_not_equal(cp_health_candidate_id("p", "m"), cp_health_candidate_id("p", "n"));
    assert_int_not_equal(cp_health_key_id("k"), 0);
    assert_int_equal(cp_health_key_id("k"), cp_health_key_id("k"));
    assert_int_not_equal(cp_health_key_id("k"), cp_health_key_id("l"));
}

static void test_session_affinity(void **s)
{
    char *reordered[] = {keys3[2], keys3[0], keys3[1]};
    cp_provider_t p = prov("p", keys3, 3), p2 = prov("p", reordered, 3), q = prov("q", keys3, 3);
    cp_health_t *h = cp_health_new();
    uint64_t sid = cp_health_session_id("session-1"), other = cp_health_session_id("session-2");
    uint64_t cand = cp_health_candidate_id("p", "gpt-5");

    (void)s;
    assert_int_equal(cp_health_session_candidate(h, sid, T0), 0);
    assert_int_equal(cp_health_key_pick(h, &p, sid, T0, NULL), 0); /* unknown: round robin */
    cp_health_session_put(h, sid, &p, "gpt-5", 2, T0);
    assert_int_equal(cp_health_session_candidate(h, sid, T0 + 1), cand);
    assert_int_equal(cp_health_session_candidate(h, other, T0 + 1), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(cp_health_key_pick(h, &p, sid, T0 + 1, NULL), 2);
    assert_int_equal(cp_health_key_pick(h, &p, other, T0 + 1, NULL), 0); /* others still rotate */
    assert_int_equal(cp_health_key_pick(h, &p, 0, T0 + 1, NULL), 1);
    assert_int_equal(cp_health_key_pick(h, &p2, sid, T0 + 1, NULL), 0); /* the same key after a reload */
    assert_int_equal(cp_health_key_pick(h, &q, sid, T0 + 1, NULL), 0);  /* not that provider's key */
    assert_int_equal(cp_health_key_pick(h, &q, sid, T0 + 1, NULL), 1);
    cp_health_key_cool(h, &p, 2, T0 + 1000);
    assert_int_not_equal(cp_health_key_pick(h, &p, sid, T0 + 2, NULL), 2);
    assert_int_not_equal(cp_health_key_pick(h, &p, sid, T0 + 2, NULL), 2);
    assert_int_equal(cp_health_session_candidate(h, sid, T0 + 2), cand);  /* keeps its candidate */
    assert_int_equal(cp_health_key_pick(h, &p, sid, T0 + 1000, NULL), 2); /* and its key once free */
    /* a put without a key: the candidate only */
    cp_health_session_put(h, other, &q, "m", -1, T0);
    assert_int_equal(cp_health_session_candidate(h, other, T0), cp_health_candidate_id("q", "m"));
    assert_int_equal(cp_health_key_pick(h, &q, other, T0, NULL), 2);
    assert_int_equal(cp_health_key_pick(h, &q, other, T0, NULL), 0);
    cp_health_session_put(h, 0, &p, "m", 0, T0); /* no session: nothing */
    assert_int_equal(cp_health_session_candidate(h, 0, T0), 0);
    cp_health_free(h);
}

static void test_session_ttl(void **s)
{
    cp_provider_t p = prov("p", keys3, 3);
    cp_health_t *h = cp_health_new();
    uint64_t sid = cp_health_session_id("s");

    (void)s;
    cp_health_session_put(h, sid, &p, "m", 1, T0);
    assert_int_not_equal(cp_health_session_candidate(h, sid, T0 + CP_HEALTH_SESSION_TTL - 1), 0);
    assert_int_equal(cp_health_key_pick(h, &p, sid, T0 + CP_HEALTH_SESSION_TTL - 1, NULL), 1);
    assert_int_equal(cp_health_session_candidate(h, sid, T0 + CP_HEALTH_SESSION_TTL + 1), 0);
    assert_int_equal(cp_health_key_pick(h, &p, sid, T0 + CP_HEALTH_SESSION_TTL + 1, NULL), 2); /* rotation */
    assert_int_equal(cp_health_key_pick(h, &p, sid, T0 + CP_HEALTH_SESSION_TTL + 1, NULL), 0);
    cp_health_session_put(h, sid, &p, "m", 1, T0 + CP_HEALTH_SESSION_TTL + 2); /* a new request renews */
    assert_int_not_equal(cp_health_session_candidate(h, sid, T0 + 2 * CP_HEALTH_SESSION_TTL), 0);
    cp_health_free(h);
}

/* ---- what an admin sees ---- */

static void test_json(void **s)
{
    cp_provider_t provs[2] = {prov("p", keys3, 3), prov("n", NULL, 0)};
    cp_health_t *h = cp_health_new();
    json_t *j, *want;
    char *text;

    (void)s;
    j = cp_health_json(h, provs, 2, T0);
    want = unit_jq("{'breakers': [], 'keys': []}");
    assert_true(unit_same_json("fresh", j, want));
    json_decref(j);
    json_decref(want);
    open_it(h, T0);                                                     /* p/m open */
    cp_health_report(h, "p", "half", 0, CP_HEALTH_FAIL, &by_count, T0); /* closed, 1 failure */
    cp_health_report(h, "p", "fine", 0, CP_HEALTH_OK, &by_count, T0);   /* closed, 0: not shown */
    cp_health_report(h, "q", "h", 0, CP_HEALTH_FAIL, &(cp_breaker_cfg_t){1, 0, 60, 1, 10}, T0 - 10000);
    assert_int_equal(cp_health_gate(h, "q", "h", &by_count, T0, NULL), CP_HEALTH_PROBE); /* half-open */
    cp_health_key_cool(h, &provs[0], 1, T0 + 2500);
    cp_health_key_out(h, &provs[0], 2);
    j = cp_health_json(h, provs, 2, T0 + 500);
    want = unit_jq("{'breakers': ["
                   "{'provider': 'p', 'model': 'm', 'state': 'open', 'failures': 3, 'open_for_ms': 29500},"
                   "{'provider': 'p', 'model': 'half', 'state': 'closed', 'failures': 1},"
                   "{'provider': 'q', 'model': 'h', 'state': 'half-open', 'failures': 1}],"
                   "'keys': [{'provider': 'p', 'key': 2, 'state': 'cooling', 'cooling_for_ms': 2000},"
                   "{'provider': 'p', 'key': 3, 'state': 'out'}]}");
    assert_true(unit_same_json("states", j, want));
    text = json_dumps(j, JSON_COMPACT);
    assert_null(strstr(text, MARK));
    assert_null(strstr(text, "sk-"));
    free(text);
    json_decref(j);
    json_decref(want);
    /* keys shown by position in the pool given now */
    char *reordered[] = {keys3[2], keys3[0], keys3[1]};
    cp_provider_t p2 = prov("p", reordered, 3);
    j = cp_health_json(h, &p2, 1, T0 + 3000);
    want = unit_jq("{'provider': 'p', 'key': 1, 'state': 'out'}");
    assert_int_equal(json_array_size(json_object_get(j, "keys")), 1); /* key 2's cooling is over */
    assert_true(unit_same_json("reordered", json_array_get(json_object_get(j, "keys"), 0), want));
    json_decref(j);
    json_decref(want);
    cp_health_free(h);
}

static void test_metrics(void **s)
{
    cp_provider_t provs[2] = {prov("p", keys3, 3), prov("n", NULL, 0)};
    cp_health_t *h = cp_health_new();
    cp_buf_t small;
    char *m;

    (void)s;
    m = metrics(h, provs, 2, T0);
    assert_string_equal(
        m, "# HELP ccproxy_breaker_state Circuit breaker of a provider and model: 0 closed, 1 "
           "open, 2 half-open.\n"
           "# TYPE ccproxy_breaker_state gauge\n"
           "# HELP ccproxy_breaker_opened_total Times the circuit breaker of a provider and model "
           "opened.\n"
           "# TYPE ccproxy_breaker_opened_total counter\n"
           "# HELP ccproxy_upstream_key_state Key of a provider's pool, by position: 0 usable, 1 "
           "cooling, 2 out (refused until a reload).\n"
           "# TYPE ccproxy_upstream_key_state gauge\n"
           "ccproxy_upstream_key_state{provider=\"p\",key=\"1\"} 0\n"
           "ccproxy_upstream_key_state{provider=\"p\",key=\"2\"} 0\n"
           "ccproxy_upstream_key_state{provider=\"p\",key=\"3\"} 0\n");
    free(m);
    m = metrics(NULL, NULL, 0, T0); /* no object: the families, empty */
    assert_int_equal(lines_with(m, "# TYPE "), 3);
    free(m);
    open_it(h, T0);
    cp_health_report(h, "p", "m2", 0, CP_HEALTH_OK, &by_count, T0);
    assert_int_equal(rfail(h, &by_count, T0 + 1), 0); /* ignored while open: still opened once */
    assert_int_equal(gate(h, &by_count, T0 + COOL, NULL), CP_HEALTH_PROBE);
    cp_health_report(h, "p", "m", 1, CP_HEALTH_FAIL, &by_count, T0 + COOL); /* opened again */
    cp_health_key_cool(h, &provs[0], 1, T0 + 2500);
    cp_health_key_out(h, &provs[0], 2);
    m = metrics(h, provs, 2, T0 + COOL);
    assert_non_null(strstr(m, "\nccproxy_breaker_state{provider=\"p\",model=\"m\"} 1\n"));
    assert_non_null(strstr(m, "\nccproxy_breaker_state{provider=\"p\",model=\"m2\"} 0\n"));
    assert_non_null(strstr(m, "\nccproxy_breaker_opened_total{provider=\"p\",model=\"m\"} 2\n"));
    assert_non_null(strstr(m, "\nccproxy_breaker_opened_total{provider=\"p\",model=\"m2\"} 0\n"));
    assert_non_null(strstr(m, "\nccproxy_upstream_key_state{provider=\"p\",key=\"1\"} 0\n"));
    assert_non_null(strstr(m, "\nccproxy_upstream_key_state{provider=\"p\",key=\"2\"} 0\n")); /* cooled off */
    assert_non_null(strstr(m, "\nccproxy_upstream_key_state{provider=\"p\",key=\"3\"} 2\n"));
    assert_null(strstr(m, "provider=\"n\""));
    assert_null(strstr(m, MARK));
    assert_null(strstr(m, "sk-"));
    free(m);
    m = metrics(h, provs, 2, T0 + 100);
    assert_non_null(strstr(m, "\nccproxy_upstream_key_state{provider=\"p\",key=\"2\"} 1\n"));
    free(m);
    /* a full buffer: CP_ERR */
    for (size_t cap = 1; cap < 400; cap += 37) {
        cp_buf_init(&small, cap);
        assert_int_equal(cp_health_metrics(h, provs, 2, T0, &small), CP_ERR);
        cp_buf_free(&small);
    }
    cp_health_free(h);
}

static void test_metrics_escape(void **s)
{
    cp_provider_t p = prov("we\"ird\\name\nx", keys3, 1);
    cp_health_t *h = cp_health_new();
    json_t *j;
    char *m;

    (void)s;
    assert_int_equal(
        cp_health_report(h, p.name, "a\"b", 0, CP_HEALTH_FAIL, &(cp_breaker_cfg_t){1, 0, 60, 1, 30}, T0), 1);
    m = metrics(h, &p, 1, T0);
    assert_non_null(
        strstr(m, "\nccproxy_breaker_state{provider=\"we\\\"ird\\\\name\\nx\",model=\"a\\\"b\"} 1\n"));
    assert_non_null(
        strstr(m, "\nccproxy_upstream_key_state{provider=\"we\\\"ird\\\\name\\nx\",key=\"1\"} 0\n"));
    assert_int_equal(lines_with(m, "x\""), 0); /* the newline never reaches the output raw */
    free(m);
    j = cp_health_json(h, &p, 1, T0);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "breakers"), 0), "provider")),
        "we\"ird\\name\nx");
    json_decref(j);
    cp_health_free(h);
}

static void test_long_names(void **s)
{
    char name[300], model[600];
    cp_health_t *h = cp_health_new();
    const cp_breaker_cfg_t one = {1, 0, 60, 1, 30};
    json_t *j;

    (void)s;
    memset(name, 'p', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    memcpy(name + 62, "\xc3\xa9", 2); /* an é across the cut */
    memset(model, 'm', sizeof(model) - 1);
    model[sizeof(model) - 1] = '\0';
    assert_int_equal(cp_health_report(h, name, model, 0, CP_HEALTH_FAIL, &one, T0), 1);
    assert_int_equal(cp_health_gate(h, name, model, &one, T0, NULL), CP_HEALTH_OPEN);
    model[590] = 'x'; /* differs past the copy: another pair */
    assert_int_equal(cp_health_gate(h, name, model, &one, T0, NULL), CP_HEALTH_CLOSED);
    j = cp_health_json(h, NULL, 0, T0);
    const char *shown =
        json_string_value(json_object_get(json_array_get(json_object_get(j, "breakers"), 0), "provider"));
    assert_non_null(shown);
    assert_int_equal(strlen(shown), 62); /* cut before the é, never inside it */
    json_decref(j);
    cp_health_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consecutive),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_probe_ok),
        cmocka_unit_test(test_probe_fail),
        cmocka_unit_test(test_probe_neutral_and_lost),
        cmocka_unit_test(test_late_reports),
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_round_robin_and_cooling),
        cmocka_unit_test(test_out_and_none),
        cmocka_unit_test(test_keys_bound),
        cmocka_unit_test(test_session_ids),
        cmocka_unit_test(test_session_affinity),
        cmocka_unit_test(test_session_ttl),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_metrics_escape),
        cmocka_unit_test(test_long_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
