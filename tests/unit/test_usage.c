/* Unit tests for lib/team/cp_usage.c: time arguments (good and hostile), the sums of each grouping,
 * percentiles (nearest rank), the key filter, CSV quoting, the JSON shape, the table, an empty window,
 * a missing and a corrupt ledger, and the last use of each key. Ledgers are written by the real
 * writer (lib/team/cp_ledger.c) into real files. */
#include "cp_unit.h"

#include <time.h>

#include <sqlite3.h>

#include "cp_buf.h"
#include "cp_ledger.h"
#include "cp_usage.h"

#define T0 1764547200000LL /* 2025-12-01T00:00:00Z */
#define H  3600000LL

typedef struct fx {
    char dir[512];
    char path[600];
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));

    unit_test_dir(f->dir, sizeof(f->dir), "usage");
    snprintf(f->path, sizeof(f->path), "%s/usage.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;

    unit_rmtree(f->dir);
    free(f);
    return 0;
}

static int64_t tm_ms(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {0};

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm) * 1000;
}

static void test_parse_time(void **s)
{
    const int64_t now = T0 + 12345;
    int64_t v = 0;
    char msg[256];
    static const char *const bad[] = {"",
                                      "-7d",
                                      "7",
                                      "d",
                                      "7x",
                                      "7d ",
                                      " 7d",
                                      "7dd",
                                      "7.5d",
                                      "+7d",
                                      "0x7d",
                                      "2026-13-01",
                                      "2026-00-10",
                                      "2026-12-32",
                                      "2023-02-29",
                                      "2100-02-29",
                                      "2026-12-01T24:00:00Z",
                                      "2026-12-01T10:60:00Z",
                                      "2026-12-01T10:00:60Z",
                                      "2026-12-01T10:00:00",
                                      "2026-12-01 10:00:00Z",
                                      "2026-12-01T10:00:00Z junk",
                                      "2026-12-01x",
                                      "1969-12-31",
                                      "26-12-01",
                                      "2026-1-01",
                                      "yesterday",
                                      "\x1b[31m"};

    (void)s;
    assert_int_equal(cp_usage_parse_time("7d", now, &v, msg, sizeof(msg)), CP_OK);
    assert_int_equal(v, now - 7 * 24 * H);
    assert_int_equal(cp_usage_parse_time("24h", now, &v, msg, sizeof(msg)), CP_OK);
    assert_int_equal(v, now - 24 * H);
    assert_int_equal(cp_usage_parse_time("30m", now, &v, msg, sizeof(msg)), CP_OK);
    assert_int_equal(v, now - 30 * 60000);
    assert_int_equal(cp_usage_parse_time("0m", now, &v, msg, sizeof(msg)), CP_OK);
    assert_int_equal(v, now);
    assert_int_equal(cp_usage_parse_time("now", now, &v, msg, sizeof(msg)), CP_OK);
    assert_int_equal(v, now);
    assert_int_equal(cp_usage_parse_time("007d", now, &v, msg, sizeof(msg)), CP_OK);
    assert_int_equal(v, now - 7 * 24 * H);
    assert_int_equal(cp_usage_parse_time("36600d", now, &v, msg, sizeof(msg)), CP_OK);
    assert_int_equal(v, 0); /* clamped at 1970 */
    assert_int_equal(cp_usage_parse_time("2026-12-01", now, &v, msg, sizeof(msg)), CP_OK);
    assert_int_equal(v, tm_ms(2026, 12, 1, 0, 0, 0));
    assert_int_equal(cp_usage_parse_time("2026-12-01T10:00:00Z", now, &v, msg, sizeof(msg)), CP_OK);
    assert_int_equal(v, tm_ms(2026, 12, 1, 10, 0, 0));
    assert_int_equal(cp_usage_parse_time("2024-02-29T23:59:59Z", now, &v, msg, sizeof(msg)), CP_OK);
    assert_int_equal(v, tm_ms(2024, 2, 29, 23, 59, 59));
    assert_int_equal(cp_usage_parse_time("2000-02-29", now, &v, msg, sizeof(msg)), CP_OK);
    assert_int_equal(cp_usage_parse_time("1970-01-01", now, &v, msg, sizeof(msg)), CP_OK);
    assert_int_equal(v, 0);
    assert_int_equal(cp_usage_parse_time("9999-12-31T23:59:59Z", now, &v, msg, sizeof(msg)), CP_OK);
    assert_int_equal(v, tm_ms(9999, 12, 31, 23, 59, 59));

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msg[0] = '\0';
        if (cp_usage_parse_time(bad[i], now, &v, msg, sizeof(msg)) != CP_ERR)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(strstr(msg, "expected"));
        for (const char *p = msg; *p; p++)
            assert_true((unsigned char)*p >= 0x20);
    }
    assert_int_equal(cp_usage_parse_time("36601d", now, &v, msg, sizeof(msg)), CP_ERR);
    assert_non_null(strstr(msg, "too far back"));
    assert_int_equal(cp_usage_parse_time("9999999999d", now, &v, msg, sizeof(msg)), CP_ERR);
    assert_int_equal(cp_usage_parse_time("99999999999999999999999h", now, &v, msg, sizeof(msg)), CP_ERR);
    assert_int_equal(cp_usage_parse_time("1000000h", now, &v, msg, sizeof(msg)), CP_ERR);
    assert_int_equal(cp_usage_parse_time(NULL, now, &v, msg, sizeof(msg)), CP_ERR);
    {
        char longs[200];
        memset(longs, 'z', sizeof(longs) - 1);
        longs[sizeof(longs) - 1] = '\0';
        assert_int_equal(cp_usage_parse_time(longs, now, &v, msg, sizeof(msg)), CP_ERR);
        assert_non_null(strstr(msg, "zzz...\""));
        assert_true(strlen(msg) < 200);
    }
}

static void test_fmt_time(void **s)
{
    char out[32];
    enum cp_usage_by by;

    (void)s;
    cp_usage_fmt_time(tm_ms(2026, 12, 1, 10, 0, 0), out);
    assert_string_equal(out, "2026-12-01T10:00:00Z");
    cp_usage_fmt_time(tm_ms(2024, 2, 29, 23, 59, 59) + 7, out);
    assert_string_equal(out, "2024-02-29T23:59:59.007Z");
    cp_usage_fmt_time(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    assert_int_equal(cp_usage_by_parse("session", &by), CP_OK);
    assert_int_equal(by, CP_USAGE_BY_SESSION);
    assert_string_equal(cp_usage_by_name(CP_USAGE_BY_DAY), "day");
    assert_int_equal(cp_usage_by_parse("Key", &by), CP_ERR);
    assert_int_equal(cp_usage_by_parse("", &by), CP_ERR);
}

typedef struct spec {
    int64_t ts;
    const char *key, *model, *provider, *session;
    int status;
    const char *error_type;
    int known;
    int64_t in, out, cr, cw;
    double usd;
    int64_t ttfb;
} spec_t;

static void write_rows(const char *path, const spec_t *rows, size_t n)
{
    cp_ledger_opts_t o = {path, 10, 1000, 100000};
    cp_err_t e = {0};
    cp_ledger_t *l = cp_ledger_open(&o, &e);

    if (l == NULL)
        fail_msg("%s", e.msg);
    for (size_t i = 0; i < n; i++) {
        cp_ledger_row_t r = {0};
        r.ts_ms = rows[i].ts;
        r.key = rows[i].key;
        r.model = rows[i].model;
        r.provider = rows[i].provider;
        r.session = rows[i].session;
        r.endpoint = "messages";
        r.status = rows[i].status;
        r.error_type = rows[i].error_type;
        r.tokens_known = rows[i].known;
        r.tok = (cp_tokens_t){rows[i].in, rows[i].out, rows[i].cr, rows[i].cw};
        r.cost_usd = rows[i].usd;
        r.ttfb_ms = rows[i].ttfb;
        r.duration_ms = 1;
        cp_ledger_add(l, &r);
    }
    cp_ledger_close(l, 5000);
}

static const spec_t rows3[] = {
    /* ts, key, model, provider, session, status, error, known, in, out, cr, cw, usd, ttfb */
    {T0 + 1 * H, "alice", "opus", "openai", "s1", 200, NULL, 1, 100, 10, 1, 2, 1.0, 100},
    {T0 + 2 * H, "alice", "opus", "openai", "s1", 200, "overloaded_error", 1, 100, 10, 0, 0, 1.0, 300},
    {T0 + 3 * H, "alice", "haiku", "groq", "s2", 429, "rate_limit_error", 0, 0, 0, 0, 0, -1, -1},
    {T0 + 26 * H, "bob", "haiku", "groq", "s3", 200, NULL, 1, 50, 5, 0, 0, -1, 200},
    {T0 + 27 * H, NULL, "opus", NULL, NULL, 499, NULL, 0, 0, 0, 0, 0, -1, -1},
    {T0 + 100 * H, "carol", "opus", "openai", "s9", 200, NULL, 1, 1, 1, 1, 1, 9.0, 5}, /* outside */
};

static const cp_usage_group_t *group(const cp_usage_report_t *r, const char *name)
{
    for (size_t i = 0; i < r->ngroups; i++)
        if (name == NULL ? r->groups[i].name == NULL
                         : r->groups[i].name != NULL && strcmp(r->groups[i].name, name) == 0)
            return &r->groups[i];
    fail_msg("no group %s", name != NULL ? name : "(null)");
    return NULL;
}

static void run(const char *path, enum cp_usage_by by, const char *key, cp_usage_report_t *r)
{
    cp_usage_query_t q = {path, T0, T0 + 48 * H, by, key};
    cp_err_t e = {0};

    if (cp_usage_run(&q, r, &e) != CP_OK)
        fail_msg("%s", e.msg);
}

static void test_groups(void **state)
{
    fx_t *f = *state;
    cp_usage_report_t r;
    const cp_usage_group_t *g;

    write_rows(f->path, rows3, sizeof(rows3) / sizeof(rows3[0]));
    run(f->path, CP_USAGE_BY_KEY, NULL, &r);
    assert_int_equal(r.ngroups, 3);
    assert_string_equal(r.groups[0].name, "alice"); /* the largest cost first, no key last */
    assert_string_equal(r.groups[1].name, "bob");
    assert_null(r.groups[2].name);
    g = group(&r, "alice");
    assert_int_equal(g->requests, 3);
    assert_int_equal(g->errors, 2);
    assert_int_equal(g->input, 200);
    assert_int_equal(g->output, 20);
    assert_int_equal(g->cache_read, 1);
    assert_int_equal(g->cache_write, 2);
    assert_true(g->cost_usd == 2.0);
    assert_int_equal(g->unpriced, 0); /* the 429 has no usage: not "unpriced" */
    assert_int_equal(g->ttfb_p50_ms, 100);
    assert_int_equal(g->ttfb_p95_ms, 300);
    g = group(&r, "bob");
    assert_int_equal(g->unpriced, 1);
    assert_int_equal(g->ttfb_p50_ms, 200);
    g = group(&r, NULL);
    assert_int_equal(g->errors, 1);
    assert_int_equal(g->ttfb_p50_ms, -1);
    assert_int_equal(r.total.requests, 5);
    assert_int_equal(r.total.errors, 3);
    assert_int_equal(r.total.input, 250);
    assert_int_equal(r.total.unpriced, 1);
    assert_int_equal(r.total.ttfb_p50_ms, 200);
    assert_int_equal(r.total.ttfb_p95_ms, 300);
    cp_usage_report_free(&r);

    run(f->path, CP_USAGE_BY_MODEL, NULL, &r);
    assert_int_equal(r.ngroups, 2);
    assert_int_equal(group(&r, "opus")->requests, 3);
    assert_int_equal(group(&r, "haiku")->requests, 2);
    cp_usage_report_free(&r);

    run(f->path, CP_USAGE_BY_PROVIDER, NULL, &r);
    assert_int_equal(r.ngroups, 3);
    assert_int_equal(group(&r, "groq")->input, 50);
    assert_int_equal(group(&r, NULL)->requests, 1);
    cp_usage_report_free(&r);

    run(f->path, CP_USAGE_BY_DAY, NULL, &r);
    assert_int_equal(r.ngroups, 2);
    assert_string_equal(r.groups[0].name, "2025-12-01");
    assert_string_equal(r.groups[1].name, "2025-12-02");
    assert_int_equal(r.groups[0].requests, 3);
    assert_int_equal(r.groups[1].requests, 2);
    cp_usage_report_free(&r);

    run(f->path, CP_USAGE_BY_SESSION, "alice", &r);
    assert_int_equal(r.ngroups, 2);
    assert_int_equal(group(&r, "s1")->requests, 2);
    assert_int_equal(group(&r, "s2")->errors, 1);
    assert_int_equal(r.total.requests, 3);
    cp_usage_report_free(&r);

    run(f->path, CP_USAGE_BY_KEY, "nobody", &r);
    assert_int_equal(r.ngroups, 0);
    assert_int_equal(r.total.requests, 0);
    cp_usage_report_free(&r);
}

static void test_percentiles(void **state)
{
    fx_t *f = *state;
    spec_t rows[103];
    cp_usage_report_t r;

    for (int i = 0; i < 100; i++) /* alice: 100 down to 1 */
        rows[i] = (spec_t){T0 + i, "alice", "m", "p", "s", 200, NULL, 1, 1, 1, 0, 0, 0.01, 100 - i};
    for (int i = 0; i < 3; i++) /* bob: 30, 10, 20 */
        rows[100 + i] =
            (spec_t){T0 + H + i, "bob", "m", "p", "s", 200, NULL, 1, 1, 1, 0, 0, 0.01, (i + 1) % 3 * 10 + 10};
    write_rows(f->path, rows, 103);
    run(f->path, CP_USAGE_BY_KEY, NULL, &r);
    assert_int_equal(group(&r, "alice")->ttfb_p50_ms, 50);
    assert_int_equal(group(&r, "alice")->ttfb_p95_ms, 95);
    assert_int_equal(group(&r, "bob")->ttfb_p50_ms, 20); /* rank ceil(1.5) = 2 */
    assert_int_equal(group(&r, "bob")->ttfb_p95_ms, 30); /* rank ceil(2.85) = 3 */
    assert_int_equal(r.total.ttfb_p50_ms, 49);           /* rank 52 of 1,2,...,10,10,...: 52 - 3 */
    cp_usage_report_free(&r);
}

static void test_csv_json_table(void **state)
{
    fx_t *f = *state;
    const spec_t rows[] = {
        {T0 + 1, "a,\"b\"", "m", "p", "s", 200, NULL, 1, 1000000, 2, 0, 0, 12.5, 7},
        {T0 + 2, "=cmd()", "m", "p", "s", 200, NULL, 1, 3, 4, 0, 0, -1, -1},
        {T0 + 3, "esc\x1b[2Jx", "m", "p", "s", 200, NULL, 0, 0, 0, 0, 0, -1, -1},
    };
    cp_usage_report_t r;
    cp_buf_t b = CP_BUF_INIT;
    json_t *j, *want;
    const char *t;

    write_rows(f->path, rows, 3);
    run(f->path, CP_USAGE_BY_KEY, NULL, &r);
    cp_usage_csv(&r, &b);
    t = cp_buf_str(&b);
    assert_true(strncmp(t, "key,requests,errors,input_tokens,", 33) == 0);
    assert_non_null(strstr(t, "\r\n\"a,\"\"b\"\"\",1,0,1000000,2,0,0,12.500000,0,7,7\r\n"));
    assert_non_null(strstr(t, "\r\n'=cmd(),1,0,3,4,0,0,0.000000,1,,\r\n"));
    cp_buf_free(&b);

    j = cp_usage_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "by")), "key");
    assert_string_equal(json_string_value(json_object_get(j, "since")), "2025-12-01T00:00:00Z");
    assert_string_equal(json_string_value(json_object_get(j, "until")), "2025-12-03T00:00:00Z");
    assert_int_equal(json_array_size(json_object_get(j, "groups")), 3);
    want = unit_jq("{'name':'a,\\'b\\'','requests':1,'errors':0,'input_tokens':1000000,'output_tokens':2,"
                   "'cache_read_tokens':0,'cache_write_tokens':0,'cost_usd':12.5,'unpriced':0,"
                   "'ttfb_p50_ms':7,'ttfb_p95_ms':7}");
    json_object_set_new(want, "name", json_string("a,\"b\""));
    assert_true(unit_same_json("group 0", json_array_get(json_object_get(j, "groups"), 0), want));
    json_decref(want);
    assert_true(
        json_is_null(json_object_get(json_array_get(json_object_get(j, "groups"), 2), "ttfb_p95_ms")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "total"), "requests")), 3);
    assert_null(json_object_get(json_object_get(j, "total"), "name"));
    json_decref(j);

    cp_usage_table(&r, &b);
    t = cp_buf_str(&b);
    assert_non_null(strstr(t, "Usage from 2025-12-01T00:00:00Z to 2025-12-03T00:00:00Z, by key"));
    assert_null(strchr(t, '\x1b'));
    assert_non_null(strstr(t, "esc?[2Jx"));
    assert_non_null(strstr(t, "1,000,000"));
    assert_non_null(strstr(t, "12.50"));
    assert_non_null(strstr(t, "1 requests have no price: cost is a lower bound; add `prices` to the config"));
    {
        /* numbers right-aligned: every line of the table ends its REQUESTS column at the same place */
        const char *head = strstr(t, "KEY "), *total = strstr(t, "\nTOTAL ");
        assert_non_null(head);
        assert_non_null(total);
        assert_int_equal(strstr(head, "REQUESTS") + 8 - head, strstr(total + 1, "3") + 1 - (total + 1));
    }
    cp_buf_free(&b);
    cp_usage_report_free(&r);
}

static void test_empty_missing_corrupt(void **state)
{
    fx_t *f = *state;
    cp_usage_query_t q = {f->path, T0, T0 + H, CP_USAGE_BY_DAY, NULL};
    cp_usage_report_t r;
    cp_buf_t b = CP_BUF_INIT;
    cp_err_t e = {0};
    json_t *j;
    char p[700];

    assert_int_equal(cp_usage_run(&q, &r, &e), CP_DECLINED); /* missing */
    assert_int_equal(r.ngroups, 0);
    cp_usage_table(&r, &b);
    assert_non_null(
        strstr(cp_buf_str(&b), "No requests between 2025-12-01T00:00:00Z and 2025-12-01T01:00:00Z"));
    cp_buf_free(&b);
    j = cp_usage_json(&r);
    assert_int_equal(json_array_size(json_object_get(j, "groups")), 0);
    json_decref(j);
    cp_usage_report_free(&r);
    assert_int_equal(cp_usage_last_used(f->path, &j, &e), CP_OK);
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);

    write_rows(f->path, rows3, 1);
    q.since_ms = T0 + 10 * H; /* empty window */
    q.until_ms = T0 + 11 * H;
    assert_int_equal(cp_usage_run(&q, &r, &e), CP_OK);
    assert_int_equal(r.ngroups, 0);
    cp_usage_csv(&r, &b);
    assert_string_equal(cp_buf_str(&b), "day,requests,errors,input_tokens,output_tokens,cache_read_tokens,"
                                        "cache_write_tokens,cost_usd,unpriced,ttfb_p50_ms,ttfb_p95_ms\r\n");
    cp_buf_free(&b);
    cp_usage_report_free(&r);

    unit_write(f->dir, "bad.db",
               "SQLite format 3\nbut not really, just garbage bytes after a fake header.....");
    snprintf(p, sizeof(p), "%s/bad.db", f->dir);
    q.path = p;
    assert_int_equal(cp_usage_run(&q, &r, &e), CP_ERR);
    assert_non_null(strstr(e.msg, "not a database"));
    assert_non_null(strstr(e.msg, p));
    cp_usage_report_free(&r);
    assert_int_equal(cp_usage_last_used(p, &j, &e), CP_ERR);
    assert_null(j);
    q.path = f->dir;
    assert_int_equal(cp_usage_run(&q, &r, &e), CP_ERR);
    assert_non_null(strstr(e.msg, "not a regular file"));
    cp_usage_report_free(&r);
}

/* The report reads while the writer holds the database open and writes (WAL: neither waits). */
static void test_read_while_writing(void **state)
{
    fx_t *f = *state;
    cp_ledger_opts_t o = {f->path, 10, 10, 100000};
    cp_err_t e = {0};
    cp_ledger_t *l = cp_ledger_open(&o, &e);
    cp_usage_query_t q = {f->path, 0, T0 + 1000 * H, CP_USAGE_BY_KEY, NULL};
    cp_usage_report_t r;
    cp_ledger_stats_t st;

    assert_non_null(l);
    for (int i = 0; i < 20; i++) {
        cp_ledger_row_t row = {0};
        row.ts_ms = T0 + i;
        row.key = "k";
        row.cost_usd = -1;
        row.ttfb_ms = -1;
        cp_ledger_add(l, &row);
    }
    for (int t = 0; t < 300; t++) {
        cp_ledger_stats(l, &st);
        if (st.written == 20)
            break;
        usleep(10000);
    }
    assert_int_equal(cp_usage_run(&q, &r, &e), CP_OK);
    assert_int_equal(r.total.requests, 20);
    cp_usage_report_free(&r);
    cp_ledger_close(l, 1000);
}

static void test_last_used(void **state)
{
    fx_t *f = *state;
    const spec_t rows[] = {
        {5000, "a", "m", "p", "s", 200, NULL, 0, 0, 0, 0, 0, -1, -1},
        {1000, "a", "m", "p", "s", 200, NULL, 0, 0, 0, 0, 0, -1, -1},
        {3000, "b", "m", "p", "s", 200, NULL, 0, 0, 0, 0, 0, -1, -1},
        {9000, NULL, "m", "p", "s", 200, NULL, 0, 0, 0, 0, 0, -1, -1},
        {7000, "", "m", "p", "s", 200, NULL, 0, 0, 0, 0, 0, -1, -1},
    };
    cp_err_t e = {0};
    json_t *j, *want;

    write_rows(f->path, rows, 5);
    assert_int_equal(cp_usage_last_used(f->path, &j, &e), CP_OK);
    want = unit_jq("{'a':5000,'b':3000,'':7000}");
    assert_true(unit_same_json("last used", j, want));
    json_decref(want);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_fmt_time),
        cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_percentiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_json_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_missing_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_while_writing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_used, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
