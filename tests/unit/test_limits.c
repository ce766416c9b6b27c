/* Unit tests for lib/team/cp_limits.c: rpm, tpm, streams and budgets at their exact edges, calendar
 * windows, replay, the view, spec changes, and hostile inputs. Times are Unix ms (UTC); the constants
 * were computed independently of the module (Python's datetime). */
#include "cp_unit.h"

#include <math.h>

#include "cp_common.h"
#include "cp_limits.h"

#define T_2026_03_15_10H 1773568800000LL /* a Sunday, 10:00:00.000Z */
#define T_2026_04_01     1775001600000LL
#define T_2026_04_30_23H 1777590000000LL
#define T_2026_05_01     1777593600000LL
#define T_2026_06_01     1780272000000LL /* a Monday */
#define T_2026_06_07_END 1780876799999LL /* Sunday 23:59:59.999 */
#define T_2026_06_08     1780876800000LL /* Monday */
#define T_2026_12_01     1796083200000LL
#define T_2026_12_28     1798416000000LL /* Monday */
#define T_2026_12_31_END 1798761599999LL /* Thursday 23:59:59.999 */
#define T_2027_01_01     1798761600000LL
#define T_2027_01_04     1799020800000LL
#define T_2028_02_01     1832976000000LL
#define T_2028_02_28     1835308800000LL /* a Monday */
#define T_2028_02_29_12H 1835438400000LL
#define T_2028_03_01     1835481600000LL
#define DAY              86400000LL

static cp_limit_spec_t spec0(void)
{
    cp_limit_spec_t s;

    memset(&s, 0, sizeof(s));
    return s;
}

static int admit(cp_limits_t *l, const char *name, const cp_limit_spec_t *s, int64_t now, int64_t est,
                 cp_limit_refusal_t *why)
{
    memset(why, 0, sizeof(*why));
    return cp_limits_admit(l, name, s, now, est, why);
}

static int64_t view_int(cp_limits_t *l, const char *name, const cp_limit_spec_t *s, int64_t now,
                        const char *k)
{
    json_t *v = cp_limits_view(l, name, s, now);
    int64_t n;

    assert_true(json_is_integer(json_object_get(v, k)));
    n = json_integer_value(json_object_get(v, k));
    json_decref(v);
    return n;
}

/* 60 requests per minute: the 61st within 60 s is refused, with the exact wait, and admitted again at
 * the exact millisecond the oldest leaves the window. */
static void test_rpm_edges(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;
    const int64_t t0 = T_2026_03_15_10H + 250;

    (void)st;
    s.rpm = 60;
    for (int i = 0; i < 30; i++)
        assert_int_equal(admit(l, "alice", &s, t0, 0, &why), CP_OK);
    for (int i = 0; i < 30; i++)
        assert_int_equal(admit(l, "alice", &s, t0 + 10000, 0, &why), CP_OK);
    assert_int_equal(admit(l, "alice", &s, t0 + 47999, 0, &why), CP_ERR); /* 12.001 s -> 13 */
    assert_int_equal(why.retry_after_s, 13);
    assert_int_equal(admit(l, "alice", &s, t0 + 48000, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 12);
    assert_string_equal(why.msg,
                        "key \"alice\" is over its limit of 60 requests per minute (rpm); retry in 12 s");
    assert_int_equal(why.budget, 0);
    assert_int_equal(admit(l, "alice", &s, t0 + 59999, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 1);
    /* refusals are not counted */
    assert_int_equal(view_int(l, "alice", &s, t0 + 59999, "requests_last_minute"), 60);
    /* at t0 + 60 s the first 30 leave: 30 places */
    for (int i = 0; i < 30; i++)
        assert_int_equal(admit(l, "alice", &s, t0 + 60000, 0, &why), CP_OK);
    assert_int_equal(admit(l, "alice", &s, t0 + 60000, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 10); /* the 30 of t0 + 10 s leave at t0 + 70 s */
    assert_int_equal(admit(l, "alice", &s, t0 + 69999, 0, &why), CP_ERR);
    assert_int_equal(admit(l, "alice", &s, t0 + 70000, 0, &why), CP_OK);
    /* another key is not affected */
    assert_int_equal(admit(l, "bob", &s, t0 + 70000, 0, &why), CP_OK);
    cp_limits_free(l);
}

/* One request a second: the 61st inside a minute is refused; one second later it goes through. */
static void test_rpm_steady(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;
    const int64_t t0 = T_2026_03_15_10H;

    (void)st;
    s.rpm = 60;
    for (int i = 0; i < 60; i++)
        assert_int_equal(admit(l, "k", &s, t0 + i * 1000, 0, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0 + 59500, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 1);
    assert_int_equal(admit(l, "k", &s, t0 + 60000, 0, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0 + 60001, 0, &why), CP_ERR);
    cp_limits_free(l);
}

/* The rpm limit lowered then raised between calls: the window remembers every admission. */
static void test_rpm_spec_change(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;
    const int64_t t0 = T_2026_03_15_10H;

    (void)st;
    s.rpm = 10;
    for (int i = 0; i < 10; i++)
        assert_int_equal(admit(l, "k", &s, t0 + i * 1000, 0, &why), CP_OK);
    s.rpm = 5; /* the 5th newest (t0 + 5 s) decides: 55 s */
    assert_int_equal(admit(l, "k", &s, t0 + 10000, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 55);
    assert_string_equal(why.msg, "key \"k\" is over its limit of 5 requests per minute (rpm); retry in 55 s");
    assert_int_equal(view_int(l, "k", &s, t0 + 10000, "requests_last_minute"), 10);
    s.rpm = 12;
    assert_int_equal(admit(l, "k", &s, t0 + 10000, 0, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0 + 10000, 0, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0 + 10000, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 50); /* the 12th newest is t0 */
    s.rpm = 1;                               /* lowered while the window is full, then drained */
    assert_int_equal(admit(l, "k", &s, t0 + 69999, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 1);
    assert_int_equal(admit(l, "k", &s, t0 + 70000, 0, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0 + 70001, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 60);
    s.rpm = 0; /* no limit */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(admit(l, "k", &s, t0 + 70001, 0, &why), CP_OK);
    assert_int_equal(view_int(l, "k", &s, t0 + 70001, "requests_last_minute"), 1001);
    s.rpm = 2 * CP_LIMITS_RPM_MAX; /* clamped to the maximum */
    assert_int_equal(admit(l, "k", &s, t0 + 80000, 0, &why), CP_OK);
    cp_limits_free(l);
}

/* The largest rpm: the ring grows to it as requests come, refuses the next, frees at the exact ms, and
 * gives its memory back as the window drains (shrinking must keep the newest times, in order). */
static void test_rpm_large(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;
    const int64_t t0 = T_2026_03_15_10H;

    (void)st;
    s.rpm = CP_LIMITS_RPM_MAX;
    for (int i = 0; i < CP_LIMITS_RPM_MAX; i++)
        assert_int_equal(admit(l, "k", &s, t0 + i / 2000, 0, &why), CP_OK); /* over 50 ms */
    assert_int_equal(admit(l, "k", &s, t0 + 100, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 60);
    assert_int_equal(admit(l, "k", &s, t0 + 59999, 0, &why), CP_ERR);
    assert_int_equal(admit(l, "k", &s, t0 + 60000, 0, &why), CP_OK); /* the first 2000 left */
    assert_int_equal(view_int(l, "k", &s, t0 + 60000, "requests_last_minute"), CP_LIMITS_RPM_MAX - 2000 + 1);
    /* the window drains step by step: the count stays exact through every shrink */
    for (int ms = 1; ms < 50; ms++)
        assert_int_equal(view_int(l, "k", &s, t0 + 60000 + ms, "requests_last_minute"),
                         CP_LIMITS_RPM_MAX - 2000 * (ms + 1) + 1);
    s.rpm = 3;
    assert_int_equal(admit(l, "k", &s, t0 + 60049, 0, &why), CP_OK); /* the last 2000 left at 60.049 s */
    assert_int_equal(view_int(l, "k", &s, t0 + 60049, "requests_last_minute"), 2);
    assert_int_equal(admit(l, "k", &s, t0 + 60050, 0, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0 + 60051, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 60); /* the 3rd newest is t0 + 60 s: 59.949 s */
    assert_int_equal(admit(l, "k", &s, t0 + 119999, 0, &why), CP_ERR);
    assert_int_equal(admit(l, "k", &s, t0 + 120000, 0, &why), CP_OK);
    cp_limits_free(l);
}

/* Tokens per minute: the estimate is charged, corrected up and down, never below zero. */
static void test_tpm_correction(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;
    const int64_t t0 = T_2026_03_15_10H;

    (void)st;
    s.tpm = 1000;
    assert_int_equal(admit(l, "k", &s, t0, 600, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0 + 1000, 500, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 59);
    assert_string_equal(why.msg,
                        "key \"k\" is over its limit of 1000 tokens per minute (tpm); retry in 59 s");
    assert_int_equal(view_int(l, "k", &s, t0 + 1000, "tokens_last_minute"), 600);
    cp_limits_end(l, "k", &s, t0 + 2000, 600, 300, -1); /* down: 300 */
    assert_int_equal(view_int(l, "k", &s, t0 + 2000, "tokens_last_minute"), 300);
    assert_int_equal(admit(l, "k", &s, t0 + 3000, 700, &why), CP_OK); /* exactly 1000 */
    assert_int_equal(admit(l, "k", &s, t0 + 3000, 1, &why), CP_ERR);
    cp_limits_end(l, "k", &s, t0 + 4000, 700, 900, -1); /* up: 300 + 900 */
    assert_int_equal(view_int(l, "k", &s, t0 + 4000, "tokens_last_minute"), 1200);
    /* an estimate of 0 is refused too when the window is over */
    assert_int_equal(admit(l, "k", &s, t0 + 4000, 0, &why), CP_ERR);
    /* a correction larger than the window: zero, not negative */
    assert_int_equal(view_int(l, "k", &s, t0 + 61000, "tokens_last_minute"), 900); /* t0's 300 left */
    cp_limits_end(l, "k", &s, t0 + 61000, 5000, 0, -1);
    assert_int_equal(view_int(l, "k", &s, t0 + 61000, "tokens_last_minute"), 0);
    assert_int_equal(admit(l, "k", &s, t0 + 61000, 1000, &why), CP_OK);
    assert_int_equal(view_int(l, "k", &s, t0 + 61000, "tokens_last_minute"), 1000);
    cp_limits_free(l);
}

/* A correction down is taken from the newest seconds first, never from a bucket below zero. */
static void test_tpm_correction_spread(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;
    const int64_t t0 = T_2026_03_15_10H;

    (void)st;
    s.tpm = 10000;
    assert_int_equal(admit(l, "k", &s, t0, 500, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0 + 10000, 500, &why), CP_OK);
    cp_limits_end(l, "k", &s, t0 + 20000, 800, 0, -1); /* 800 off: 500 at 10 s, 300 at 0 s */
    assert_int_equal(view_int(l, "k", &s, t0 + 20000, "tokens_last_minute"), 200);
    assert_int_equal(view_int(l, "k", &s, t0 + 59999, "tokens_last_minute"), 200);
    assert_int_equal(view_int(l, "k", &s, t0 + 60000, "tokens_last_minute"), 0);
    cp_limits_free(l);
}

/* An empty window admits a request larger than the limit; the next one waits until it expires. */
static void test_tpm_oversize_and_wait(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;
    const int64_t b = T_2026_03_15_10H, t0 = b + 250;

    (void)st;
    s.tpm = 100;
    assert_int_equal(admit(l, "k", &s, t0, 5000, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0 + 1, 1, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 60); /* 59.749 s */
    assert_int_equal(admit(l, "k", &s, b + 59999, 1, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 1);
    assert_int_equal(admit(l, "k", &s, b + 60000, 5000, &why), CP_OK); /* empty again */
    cp_limits_free(l);
    /* the wait is until enough seconds leave: 400 at 0 s, 400 at 10 s, 200 at 20 s */
    l = cp_limits_new();
    s.tpm = 1000;
    assert_int_equal(admit(l, "k", &s, t0, 400, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0 + 10000, 400, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0 + 20000, 200, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0 + 30000, 300, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 30); /* second 0 leaves at b + 60 s: 29.75 s */
    assert_int_equal(admit(l, "k", &s, t0 + 30000, 700, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 40);
    assert_int_equal(admit(l, "k", &s, t0 + 30000, 5000, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 50); /* until the window is empty */
    assert_int_equal(admit(l, "k", &s, b + 59999, 300, &why), CP_ERR);
    assert_int_equal(admit(l, "k", &s, b + 60000, 300, &why), CP_OK);
    cp_limits_free(l);
}

/* Requests in flight: refused at the limit, released by end, never below zero. */
static void test_streams(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;
    const int64_t t0 = T_2026_03_15_10H;

    (void)st;
    s.max_streams = 2;
    s.rpm = 2;
    assert_int_equal(admit(l, "k", &s, t0, 0, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0, 0, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0, 0, &why), CP_ERR); /* rpm is over too: streams come first */
    assert_int_equal(why.retry_after_s, 1);
    assert_string_equal(why.msg,
                        "key \"k\" is over its limit of 2 requests in flight (maxStreams); retry in 1 s");
    s.rpm = 0;
    assert_int_equal(view_int(l, "k", &s, t0, "streams"), 2);
    cp_limits_end(l, "k", &s, t0 + 5, 0, 0, 0);
    assert_int_equal(admit(l, "k", &s, t0 + 6, 0, &why), CP_OK);
    for (int i = 0; i < 5; i++)
        cp_limits_end(l, "k", &s, t0 + 7, 0, 0, 0);
    assert_int_equal(view_int(l, "k", &s, t0 + 7, "streams"), 0);
    assert_int_equal(admit(l, "k", &s, t0 + 8, 0, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0 + 8, 0, &why), CP_OK);
    assert_int_equal(admit(l, "k", &s, t0 + 8, 0, &why), CP_ERR); /* 2, not 2 + 4 */
    cp_limits_end(l, "never-admitted", &s, t0, 0, 0, 0);
    assert_int_equal(view_int(l, "never-admitted", &s, t0, "streams"), 0);
    cp_limits_free(l);
}

static void check_window(enum cp_per per, int64_t now, int64_t want_s, int64_t want_e)
{
    int64_t s = -7, e = -7;

    cp_limits_window(per, now, &s, &e);
    if (s != want_s || e != want_e)
        fail_msg("%s window of %lld: got [%lld, %lld), want [%lld, %lld)", cp_limits_per_name(per),
                 (long long)now, (long long)s, (long long)e, (long long)want_s, (long long)want_e);
}

static void test_windows(void **st)
{
    enum cp_per p;

    (void)st;
    check_window(CP_PER_DAY, T_2026_12_31_END, T_2027_01_01 - DAY, T_2027_01_01);
    check_window(CP_PER_DAY, T_2027_01_01, T_2027_01_01, T_2027_01_01 + DAY);
    check_window(CP_PER_WEEK, T_2026_12_31_END, T_2026_12_28, T_2027_01_04);
    check_window(CP_PER_WEEK, T_2026_12_28, T_2026_12_28, T_2027_01_04);
    check_window(CP_PER_WEEK, T_2026_12_28 - 1, T_2026_12_28 - 7 * DAY, T_2026_12_28);
    check_window(CP_PER_WEEK, T_2026_06_07_END, T_2026_06_01, T_2026_06_08);
    check_window(CP_PER_WEEK, T_2026_06_08, T_2026_06_08, T_2026_06_08 + 7 * DAY);
    check_window(CP_PER_WEEK, T_2028_02_29_12H, T_2028_02_28, T_2028_02_28 + 7 * DAY);
    check_window(CP_PER_WEEK, 0, -3 * DAY, 4 * DAY); /* 1970-01-01 was a Thursday */
    check_window(CP_PER_MONTH, T_2026_12_31_END, T_2026_12_01, T_2027_01_01);
    check_window(CP_PER_MONTH, T_2027_01_01, T_2027_01_01, T_2027_01_01 + 31 * DAY);
    check_window(CP_PER_MONTH, T_2028_02_29_12H, T_2028_02_01, T_2028_03_01); /* 29 days */
    check_window(CP_PER_MONTH, T_2028_03_01, T_2028_03_01, T_2028_03_01 + 31 * DAY);
    check_window(CP_PER_MONTH, T_2026_04_30_23H, T_2026_04_01, T_2026_05_01); /* 30 days */
    check_window(CP_PER_MONTH, T_2026_05_01, T_2026_05_01, T_2026_06_01);     /* 31 days */
    check_window(CP_PER_NONE, T_2026_05_01, 0, 0);
    assert_int_equal(cp_limits_per_parse("week", &p), CP_OK);
    assert_int_equal(p, CP_PER_WEEK);
    assert_int_equal(cp_limits_per_parse("day", &p), CP_OK);
    assert_int_equal(p, CP_PER_DAY);
    assert_int_equal(cp_limits_per_parse("month", &p), CP_OK);
    assert_int_equal(p, CP_PER_MONTH);
    assert_int_equal(cp_limits_per_parse("Month", &p), CP_ERR);
    assert_int_equal(cp_limits_per_parse("", &p), CP_ERR);
    assert_int_equal(cp_limits_per_parse(NULL, &p), CP_ERR);
    assert_string_equal(cp_limits_per_name(CP_PER_NONE), "");
    assert_string_equal(cp_limits_per_name(CP_PER_MONTH), "month");
}

/* A USD budget per month: refused at the last millisecond of December, admitted at New Year. */
static void test_budget_month_usd(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;

    (void)st;
    s.budget_usd = 50;
    s.per = CP_PER_MONTH;
    assert_int_equal(admit(l, "alice", &s, T_2026_12_01, 0, &why), CP_OK);
    cp_limits_end(l, "alice", &s, T_2026_12_01 + 1000, 0, 100, 49.99);
    assert_int_equal(admit(l, "alice", &s, T_2026_12_01 + 2000, 0, &why), CP_OK); /* under: may end over */
    cp_limits_end(l, "alice", &s, T_2026_12_01 + 3000, 0, 100, 5);
    cp_limits_end(l, "alice", &s, T_2026_12_01 + 3000, 0, 100, -1); /* unknown cost: not counted */
    assert_int_equal(admit(l, "alice", &s, T_2026_12_31_END - 1000, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 2); /* 1.001 s */
    assert_int_equal(admit(l, "alice", &s, T_2026_12_31_END, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 1);
    assert_string_equal(why.msg,
                        "key \"alice\" has spent its budget of $50.00 for this month (budget.usd); it "
                        "renews at 2027-01-01T00:00:00Z");
    assert_int_equal(why.budget, 1);
    assert_int_equal(admit(l, "alice", &s, T_2027_01_01, 0, &why), CP_OK);
    cp_limits_free(l);
}

/* Exactly at the budget is refused; an unknown cost never counts; NaN and infinity neither. */
static void test_budget_usd_edges(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;
    json_t *v;
    const int64_t t = T_2026_03_15_10H;

    (void)st;
    s.budget_usd = 10;
    s.per = CP_PER_DAY;
    cp_limits_end(l, "k", &s, t, 0, 0, -1);
    cp_limits_end(l, "k", &s, t, 0, 0, NAN);
    cp_limits_end(l, "k", &s, t, 0, 0, INFINITY);
    cp_limits_end(l, "k", &s, t, 0, 0, 9.5);
    assert_int_equal(admit(l, "k", &s, t, 0, &why), CP_OK);
    cp_limits_end(l, "k", &s, t, 0, 0, 0.5);
    assert_int_equal(admit(l, "k", &s, t, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 14 * 3600);
    assert_string_equal(why.msg,
                        "key \"k\" has spent its budget of $10.00 for today (budget.usd); it renews at "
                        "2026-03-16T00:00:00Z");
    v = cp_limits_view(l, "k", &s, t);
    assert_true(json_real_value(json_object_get(json_object_get(v, "budget"), "spent_usd")) == 10.0);
    json_decref(v);
    cp_limits_free(l);
}

/* A week runs from Monday: spend on Monday still counts on Sunday night, not on the next Monday. */
static void test_budget_week_tokens(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;

    (void)st;
    s.budget_tokens = 1000;
    s.per = CP_PER_WEEK;
    cp_limits_end(l, "k", &s, T_2026_06_01 - 1, 0, 5000, 1); /* the previous week */
    assert_int_equal(admit(l, "k", &s, T_2026_06_01, 0, &why), CP_OK);
    cp_limits_end(l, "k", &s, T_2026_06_01, 0, 999, -1);
    assert_int_equal(admit(l, "k", &s, T_2026_06_01 + 1, 0, &why), CP_OK);
    cp_limits_end(l, "k", &s, T_2026_06_01 + 2, 0, 1, -1);
    assert_int_equal(admit(l, "k", &s, T_2026_06_07_END, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 1);
    assert_string_equal(why.msg,
                        "key \"k\" has used its budget of 1000 tokens for this week (budget.tokens); it "
                        "renews at 2026-06-08T00:00:00Z");
    assert_int_equal(admit(l, "k", &s, T_2026_06_08, 0, &why), CP_OK);
    cp_limits_free(l);
}

/* Day budget across New Year; month budget across a leap day and a 30-day month. */
static void test_budget_days_and_months(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;

    (void)st;
    s.budget_usd = 1;
    s.per = CP_PER_DAY;
    cp_limits_end(l, "d", &s, T_2027_01_01 - 3600000, 0, 0, 1);
    assert_int_equal(admit(l, "d", &s, T_2026_12_31_END, 0, &why), CP_ERR);
    assert_int_equal(admit(l, "d", &s, T_2027_01_01, 0, &why), CP_OK);
    s.per = CP_PER_MONTH;
    cp_limits_end(l, "m", &s, T_2028_02_01, 0, 0, 1);
    assert_int_equal(admit(l, "m", &s, T_2028_02_29_12H, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 12 * 3600);
    assert_true(strstr(why.msg, "renews at 2028-03-01T00:00:00Z") != NULL);
    assert_int_equal(admit(l, "m", &s, T_2028_03_01 - 1, 0, &why), CP_ERR);
    assert_int_equal(admit(l, "m", &s, T_2028_03_01, 0, &why), CP_OK);
    cp_limits_end(l, "a", &s, T_2026_04_01, 0, 0, 2);
    assert_int_equal(admit(l, "a", &s, T_2026_04_30_23H, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 3600);
    assert_true(strstr(why.msg, "renews at 2026-05-01T00:00:00Z") != NULL);
    assert_int_equal(admit(l, "a", &s, T_2026_05_01, 0, &why), CP_OK);
    /* the spend of May counts until June 1st (31 days) */
    cp_limits_end(l, "a", &s, T_2026_05_01, 0, 0, 2);
    assert_int_equal(admit(l, "a", &s, T_2026_06_01 - 1, 0, &why), CP_ERR);
    assert_int_equal(admit(l, "a", &s, T_2026_06_01, 0, &why), CP_OK);
    /* a budget's window changed from month to day keeps the count of the day */
    cp_limits_end(l, "c", &s, T_2026_05_01 + 10 * 3600000, 0, 0, 0.6);
    assert_int_equal(admit(l, "c", &s, T_2026_05_01 + 11 * 3600000, 0, &why), CP_OK);
    s.per = CP_PER_DAY;
    cp_limits_end(l, "c", &s, T_2026_05_01 + 12 * 3600000, 0, 0, 0.5);
    assert_int_equal(admit(l, "c", &s, T_2026_05_01 + 13 * 3600000, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 11 * 3600);
    s.per = CP_PER_NONE; /* no window: no budget */
    assert_int_equal(admit(l, "c", &s, T_2026_05_01 + 13 * 3600000, 0, &why), CP_OK);
    cp_limits_free(l);
}

/* Replay at start: rows within 60 s count toward rpm and tpm, rows of the budget's window toward the
 * budget, older rows toward nothing. */
static void test_replay(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;
    const int64_t now = T_2027_01_01 + 30000; /* 00:00:30 on New Year */
    json_t *v, *want;

    (void)st;
    s.rpm = 3;
    s.tpm = 10000;
    s.budget_usd = 5;
    s.per = CP_PER_DAY;
    cp_limits_replay(l, "k", &s, now, T_2027_01_01 - 10000, 100, 4); /* last year: rpm/tpm, not budget */
    cp_limits_replay(l, "k", &s, now, now - 60000, 7000, 1);         /* exactly 60 s: out of rpm */
    cp_limits_replay(l, "k", &s, now, now - 5000, 1000, 1.5);
    cp_limits_replay(l, "k", &s, now, now - 1000, 2000, -1);
    cp_limits_replay(l, "k", &s, now, T_2027_01_01 - 5 * DAY, 999999, 1000); /* long ago */
    v = cp_limits_view(l, "k", &s, now);
    want = unit_jq("{'requests_last_minute': 3, 'tokens_last_minute': 3100, 'streams': 0,"
                   " 'budget': {'per': 'day', 'window_start': '2027-01-01T00:00:00Z',"
                   " 'window_end': '2027-01-02T00:00:00Z', 'spent_usd': 1.5, 'spent_tokens': 3000,"
                   " 'limit_usd': 5.0, 'limit_tokens': null}}");
    assert_true(unit_same_json("replayed view", v, want));
    json_decref(v);
    json_decref(want);
    assert_int_equal(admit(l, "k", &s, now, 0, &why), CP_ERR); /* 3 in the last minute */
    assert_int_equal(why.retry_after_s, 20);                   /* the oldest (-40 s) leaves at +20 s */
    assert_int_equal(admit(l, "k", &s, now + 19999, 0, &why), CP_ERR);
    assert_int_equal(admit(l, "k", &s, now + 20000, 0, &why), CP_OK);
    cp_limits_free(l);
    /* unordered rows, more than the rpm: the newest decide */
    l = cp_limits_new();
    s = spec0();
    s.rpm = 2;
    cp_limits_replay(l, "k", &s, now, now - 1000, 0, -1);
    cp_limits_replay(l, "k", &s, now, now - 30000, 0, -1);
    cp_limits_replay(l, "k", &s, now, now - 2000, 0, -1);
    cp_limits_replay(l, "k", &s, now, now + 999999, 0, -1); /* from the future: as now */
    assert_int_equal(admit(l, "k", &s, now, 0, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 59); /* the 2nd newest is now - 1 s */
    cp_limits_free(l);
}

/* The view's shape: no "budget" without one; limits as null when not set. */
static void test_view(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;
    json_t *v, *want;

    (void)st;
    v = cp_limits_view(l, "nobody", &s, T_2026_12_31_END);
    want = unit_jq("{'requests_last_minute': 0, 'tokens_last_minute': 0, 'streams': 0}");
    assert_true(unit_same_json("empty view", v, want));
    json_decref(v);
    json_decref(want);
    s.budget_tokens = 1000000;
    s.per = CP_PER_MONTH;
    assert_int_equal(admit(l, "alice", &s, T_2026_12_31_END, 42, &why), CP_OK);
    v = cp_limits_view(l, "alice", &s, T_2026_12_31_END);
    want = unit_jq("{'requests_last_minute': 1, 'tokens_last_minute': 42, 'streams': 1,"
                   " 'budget': {'per': 'month', 'window_start': '2026-12-01T00:00:00Z',"
                   " 'window_end': '2027-01-01T00:00:00Z', 'spent_usd': 0.0, 'spent_tokens': 0,"
                   " 'limit_usd': null, 'limit_tokens': 1000000}}");
    assert_true(unit_same_json("budget view", v, want));
    json_decref(v);
    json_decref(want);
    cp_limits_free(l);
}

/* Hostile: odd names, many keys, huge numbers (saturate, never overflow), negative estimates, times
 * out of range, a clock that goes back. */
static void test_hostile(void **st)
{
    cp_limits_t *l = cp_limits_new();
    cp_limit_spec_t s = spec0();
    cp_limit_refusal_t why;
    char name[80], big[100];
    const int64_t t = T_2026_03_15_10H;
    json_t *v;

    (void)st;
    s.rpm = 1;
    assert_int_equal(admit(l, "", &s, t, 0, &why), CP_OK);
    assert_int_equal(admit(l, "", &s, t, 0, &why), CP_ERR);
    assert_string_equal(why.msg, "key \"\" is over its limit of 1 requests per minute (rpm); retry in 60 s");
    memset(big, 'a', 64);
    big[64] = '\0';
    assert_int_equal(admit(l, big, &s, t, 0, &why), CP_OK);
    assert_int_equal(admit(l, big, &s, t, 0, &why), CP_ERR);
    assert_non_null(strstr(why.msg, big));
    memset(big, 'b', 99);
    big[99] = '\0';
    assert_int_equal(admit(l, big, &s, t, 0, &why), CP_OK);
    assert_int_equal(admit(l, big, &s, t, 0, &why), CP_ERR); /* shown cut at 64 bytes */
    assert_true(strlen(why.msg) < sizeof(why.msg));
    assert_int_equal(admit(l, "a\"b\nc", &s, t, 0, &why), CP_OK);
    assert_int_equal(admit(l, "a\"b\nc", &s, t, 0, &why), CP_ERR);
    assert_non_null(strstr(why.msg, "key \"a?b?c\""));
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "key-%05d", i);
        assert_int_equal(admit(l, name, &s, t, 0, &why), CP_OK);
    }
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "key-%05d", i);
        assert_int_equal(admit(l, name, &s, t, 0, &why), CP_ERR);
    }
    /* huge limits and counts */
    s = spec0();
    s.tpm = 1000000000000LL;
    s.budget_tokens = INT64_MAX;
    s.per = CP_PER_DAY;
    assert_int_equal(admit(l, "huge", &s, t, INT64_MAX - 1, &why), CP_OK);
    cp_limits_end(l, "huge", &s, t, -5, INT64_MAX, 1e300);
    cp_limits_end(l, "huge", &s, t, 0, INT64_MAX, 1e300);
    v = cp_limits_view(l, "huge", &s, t);
    assert_true(json_integer_value(json_object_get(v, "tokens_last_minute")) == INT64_MAX);
    assert_true(json_integer_value(json_object_get(json_object_get(v, "budget"), "spent_tokens")) ==
                INT64_MAX);
    json_decref(v);
    assert_int_equal(admit(l, "huge", &s, t, INT64_MAX, &why), CP_ERR);
    assert_int_equal(why.retry_after_s, 60);
    /* a negative estimate counts as 0 */
    s = spec0();
    s.tpm = 10;
    assert_int_equal(admit(l, "neg", &s, t, -1000, &why), CP_OK);
    assert_int_equal(view_int(l, "neg", &s, t, "tokens_last_minute"), 0);
    cp_limits_end(l, "neg", &s, t, -1000, 7, -1);
    assert_int_equal(view_int(l, "neg", &s, t, "tokens_last_minute"), 7);
    cp_limits_end(l, "neg", &s, t, 0, -50, -1); /* negative tokens: 0 */
    assert_int_equal(view_int(l, "neg", &s, t, "tokens_last_minute"), 7);
    /* times out of range, and a clock going back */
    s.rpm = 2;
    assert_int_equal(admit(l, "time", &s, INT64_MIN, 0, &why), CP_OK);
    assert_int_equal(admit(l, "time", &s, INT64_MAX, 0, &why), CP_OK); /* the one at 0 left long ago */
    assert_int_equal(admit(l, "time", &s, INT64_MAX, 0, &why), CP_OK);
    assert_int_equal(admit(l, "time", &s, INT64_MAX, 0, &why), CP_ERR);
    assert_int_equal(admit(l, "time", &s, t, 0, &why), CP_OK); /* far back: windows start over */
    assert_int_equal(admit(l, "time", &s, t - 100, 0, &why), CP_OK);
    assert_int_equal(admit(l, "time", &s, t - 200, 0, &why), CP_ERR); /* a little back: still counted */
    assert_int_equal(why.retry_after_s, 60);
    cp_limits_free(l);
    cp_limits_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rpm_edges),
        cmocka_unit_test(test_rpm_steady),
        cmocka_unit_test(test_rpm_spec_change),
        cmocka_unit_test(test_rpm_large),
        cmocka_unit_test(test_tpm_correction),
        cmocka_unit_test(test_tpm_correction_spread),
        cmocka_unit_test(test_tpm_oversize_and_wait),
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_budget_month_usd),
        cmocka_unit_test(test_budget_usd_edges),
        cmocka_unit_test(test_budget_week_tokens),
        cmocka_unit_test(test_budget_days_and_months),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_view),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
