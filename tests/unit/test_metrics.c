/* Unit tests for lib/net/cp_metrics.c: counters, histograms, label escaping, the cardinality bounds,
 * the exposition text, and the address ranges of metrics.allow. */
#include "cp_unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "cp_metrics.h"

static const cp_metrics_gauges_t no_gauges = {-1, -1, -1, -1, -1, -1, -1, -1, -1};

/* Returns new: the exposition of <m> without gauges. */
static char *text_of(const cp_metrics_t *m)
{
    cp_buf_t b = CP_BUF_INIT;

    assert_int_equal(cp_metrics_write(m, &no_gauges, &b), CP_OK);
    return cp_buf_detach(&b, NULL);
}

static size_t count_lines(const char *text, const char *prefix)
{
    size_t n = 0, len = strlen(prefix);

    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += strncmp(p, prefix, len) == 0;
    return n;
}

static cp_metrics_req_t api_req(const char *provider, const char *model, const char *key, int status)
{
    cp_metrics_req_t r = {0};

    r.api = 1;
    r.provider = provider;
    r.model = model;
    r.key = key;
    r.status = status;
    r.ttfb_s = -1;
    return r;
}

static void test_counters(void **s)
{
    cp_metrics_t *m = cp_metrics_new(100);
    cp_metrics_req_t r = api_req("oai", "gpt-4o", "alice", 200);
    char *t;

    (void)s;
    r.tokens_known = 1;
    r.input = 20;
    r.output = 7;
    r.cache_read = 5;
    cp_metrics_request(m, &r);
    cp_metrics_request(m, &r);
    r = api_req(NULL, "", NULL, 401);
    r.error_type = "authentication_error";
    r.origin = CP_METRICS_POLICY;
    cp_metrics_request(m, &r);
    r = api_req("oai", "gpt-4o", "alice", 200); /* a stream that failed after it started */
    r.error_type = "weird_type";
    r.origin = CP_METRICS_PROVIDER;
    cp_metrics_request(m, &r);
    r = api_req(NULL, NULL, NULL, 404); /* not an API route: errors only */
    r.api = 0;
    cp_metrics_request(m, &r);
    cp_metrics_reload(m, 1);
    cp_metrics_reload(m, 0);
    cp_metrics_reload(m, 1);
    t = text_of(m);
    assert_non_null(strstr(
        t, "\nccproxy_requests_total{provider=\"oai\",model=\"gpt-4o\",status=\"200\",key=\"alice\"} 3\n"));
    assert_non_null(
        strstr(t, "\nccproxy_requests_total{provider=\"-\",model=\"-\",status=\"401\",key=\"-\"} 1\n"));
    assert_int_equal(count_lines(t, "ccproxy_requests_total{"), 2);
    assert_non_null(strstr(t, "\nccproxy_errors_total{type=\"authentication_error\",origin=\"policy\"} 1\n"));
    assert_non_null(strstr(t, "\nccproxy_errors_total{type=\"other\",origin=\"provider\"} 1\n"));
    assert_non_null(strstr(t, "\nccproxy_errors_total{type=\"api_error\",origin=\"client\"} 1\n"));
    assert_non_null(strstr(
        t,
        "\nccproxy_tokens_total{direction=\"input\",provider=\"oai\",model=\"gpt-4o\",key=\"alice\"} 40\n"));
    assert_non_null(strstr(
        t,
        "\nccproxy_tokens_total{direction=\"output\",provider=\"oai\",model=\"gpt-4o\",key=\"alice\"} 14\n"));
    assert_non_null(strstr(t, "\nccproxy_tokens_total{direction=\"cache_read\",provider=\"oai\",model=\"gpt-"
                              "4o\",key=\"alice\"} 10\n"));
    assert_non_null(strstr(t, "\nccproxy_tokens_total{direction=\"cache_write\",provider=\"oai\",model=\"gpt-"
                              "4o\",key=\"alice\"} 0\n"));
    assert_non_null(strstr(t, "\nccproxy_config_reloads_total{result=\"ok\"} 2\n"));
    assert_non_null(strstr(t, "\nccproxy_config_reloads_total{result=\"error\"} 1\n"));
    assert_non_null(strstr(t, "\nccproxy_request_duration_seconds_count{provider=\"oai\"} 3\n"));
    assert_non_null(strstr(t, "\nccproxy_request_duration_seconds_count{provider=\"-\"} 1\n"));
    assert_null(strstr(t, "ccproxy_upstream_ttfb_seconds_count")); /* no upstream head was seen */
    free(t);
    cp_metrics_free(m);
}

static void test_histogram(void **s)
{
    cp_metrics_t *m = cp_metrics_new(100);
    const double durs[] = {0.001, 0.005, 0.0051, 0.75, 1000};
    char *t;

    (void)s;
    for (size_t i = 0; i < 5; i++) {
        cp_metrics_req_t r = api_req("p", "m", NULL, 200);
        r.duration_s = durs[i];
        r.ttfb_s = 0.125;
        r.upstream_s = durs[i] / 2;
        r.retries = i == 4 ? 2 : 0;
        cp_metrics_request(m, &r);
    }
    t = text_of(m);
    /* le is inclusive; cumulative; what is above the last bound only counts in +Inf */
    assert_non_null(strstr(t, "\nccproxy_request_duration_seconds_bucket{provider=\"p\",le=\"0.005\"} 2\n"));
    assert_non_null(strstr(t, "\nccproxy_request_duration_seconds_bucket{provider=\"p\",le=\"0.01\"} 3\n"));
    assert_non_null(strstr(t, "\nccproxy_request_duration_seconds_bucket{provider=\"p\",le=\"0.5\"} 3\n"));
    assert_non_null(strstr(t, "\nccproxy_request_duration_seconds_bucket{provider=\"p\",le=\"1\"} 4\n"));
    assert_non_null(strstr(t, "\nccproxy_request_duration_seconds_bucket{provider=\"p\",le=\"300\"} 4\n"));
    assert_non_null(strstr(t, "\nccproxy_request_duration_seconds_bucket{provider=\"p\",le=\"+Inf\"} 5\n"));
    assert_non_null(strstr(t, "\nccproxy_request_duration_seconds_sum{provider=\"p\"} 1000.7611\n"));
    assert_non_null(strstr(t, "\nccproxy_request_duration_seconds_count{provider=\"p\"} 5\n"));
    assert_int_equal(count_lines(t, "ccproxy_request_duration_seconds_bucket{"), 16);
    assert_int_equal(count_lines(t, "ccproxy_added_seconds_bucket{"), 13);
    assert_non_null(strstr(t, "\nccproxy_added_seconds_bucket{provider=\"p\",le=\"0.0001\"} 0\n"));
    assert_non_null(strstr(t, "\nccproxy_added_seconds_bucket{provider=\"p\",le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(t, "\nccproxy_added_seconds_sum{provider=\"p\"} 500.38055\n"));
    assert_non_null(strstr(t, "\nccproxy_upstream_ttfb_seconds_bucket{provider=\"p\",le=\"0.1\"} 0\n"));
    assert_non_null(strstr(t, "\nccproxy_upstream_ttfb_seconds_bucket{provider=\"p\",le=\"0.25\"} 5\n"));
    assert_non_null(strstr(t, "\nccproxy_upstream_ttfb_seconds_sum{provider=\"p\"} 0.625\n"));
    assert_non_null(strstr(t, "\nccproxy_upstream_retries_total{provider=\"p\"} 2\n"));
    free(t);
    cp_metrics_free(m);
}

static void test_escape(void **s)
{
    cp_metrics_t *m = cp_metrics_new(100);
    cp_metrics_req_t r = api_req("p", "a\"b\\c\nd{}=,", "k", 200);
    char *t;

    (void)s;
    cp_metrics_request(m, &r);
    t = text_of(m);
    assert_non_null(strstr(t, "model=\"a\\\"b\\\\c\\nd{}=,\""));
    free(t);
    cp_metrics_free(m);
}

static void test_long_value_cut(void **s)
{
    cp_metrics_t *m = cp_metrics_new(100);
    char model[400], expect[300];
    cp_metrics_req_t r;
    char *t;

    (void)s;
    memset(model, 'x', sizeof(model));
    memcpy(model + CP_METRICS_VALUE_MAX - 1, "\xc3\xa9", 2); /* é across the cut: dropped whole */
    model[sizeof(model) - 1] = '\0';
    r = api_req("p", model, NULL, 200);
    cp_metrics_request(m, &r);
    t = text_of(m);
    snprintf(expect, sizeof(expect), "model=\"%.*s\"", CP_METRICS_VALUE_MAX - 1, model);
    assert_non_null(strstr(t, expect));
    free(t);
    cp_metrics_free(m);
}

static void test_model_cap(void **s)
{
    cp_metrics_t *m = cp_metrics_new(3);
    char *t;

    (void)s;
    for (int i = 0; i < 6; i++) {
        char name[16];
        cp_metrics_req_t r;
        snprintf(name, sizeof(name), "m-%d", i % 5);
        r = api_req("p", name, NULL, 200);
        cp_metrics_request(m, &r);
    }
    t = text_of(m);
    assert_non_null(strstr(t, "model=\"m-0\",status=\"200\",key=\"-\"} 2\n")); /* m-0 twice */
    assert_non_null(strstr(t, "model=\"m-2\",status=\"200\",key=\"-\"} 1\n"));
    assert_non_null(strstr(t, "model=\"other\",status=\"200\",key=\"-\"} 2\n")); /* m-3, m-4 */
    assert_null(strstr(t, "m-3"));
    assert_int_equal(count_lines(t, "ccproxy_requests_total{"), 4);
    free(t);
    /* upstream model names have a budget of their own: the client's full one takes none of it */
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "up-%d", i);
        cp_metrics_attempt(m, "p", name, "ok");
    }
    t = text_of(m);
    assert_non_null(
        strstr(t, "ccproxy_upstream_attempts_total{provider=\"p\",model=\"up-2\",outcome=\"ok\"} 1\n"));
    assert_non_null(
        strstr(t, "ccproxy_upstream_attempts_total{provider=\"p\",model=\"other\",outcome=\"ok\"} 2\n"));
    assert_null(strstr(t, "up-3"));
    free(t);
    cp_metrics_set_max_models(m, 4); /* a reload raising the limit: one more name gets in */
    {
        cp_metrics_req_t r = api_req("p", "m-4", NULL, 200);
        cp_metrics_request(m, &r);
        r.model = "m-9";
        cp_metrics_request(m, &r);
    }
    t = text_of(m);
    assert_non_null(strstr(t, "model=\"m-4\""));
    assert_null(strstr(t, "m-9"));
    free(t);
    cp_metrics_free(m);
}

static void test_series_cap(void **s)
{
    cp_metrics_t *m = cp_metrics_new(100);
    char *t;
    size_t n;

    (void)s;
    for (int i = 0; i < CP_METRICS_SERIES_MAX + 10; i++) {
        char key[16];
        cp_metrics_req_t r;
        snprintf(key, sizeof(key), "k%d", i);
        r = api_req("p", "m", key, 200);
        cp_metrics_request(m, &r);
    }
    t = text_of(m);
    n = count_lines(t, "ccproxy_requests_total{") + count_lines(t, "ccproxy_config_reloads_total{") +
        count_lines(t, "ccproxy_request_duration_seconds_count{") +
        count_lines(t, "ccproxy_added_seconds_count{");
    assert_int_equal(n, CP_METRICS_SERIES_MAX);
    assert_non_null(strstr(t, "\nccproxy_metrics_series_dropped_total 14\n")); /* 20010 - (20000 - 4) */
    assert_null(strstr(t, "key=\"k20000\""));
    free(t);
    cp_metrics_free(m);
}

/* The whole text of a small registry, byte for byte. */
static void test_exact(void **s)
{
    static const char *const le_s[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
                                       "2.5",   "5",    "10",    "30",   "60",  "120",  "300", "+Inf"};
    static const char *const le_a[] = {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
                                       "0.025",  "0.05",    "0.1",    "0.25",  "1",      "+Inf"};
    cp_metrics_t *m = cp_metrics_new(100);
    cp_metrics_req_t r = api_req("p", "m", "k", 200);
    cp_metrics_gauges_t g = {2, 1, 3, 10, 1024, 4096, 1700000000.5, 0, -1};
    cp_buf_t want = CP_BUF_INIT, got = CP_BUF_INIT;

    (void)s;
    r.duration_s = 0.5;
    r.ttfb_s = 0.125;
    r.upstream_s = 0.25;
    cp_metrics_request(m, &r);
    cp_metrics_attempt(m, "p", "up-m", "rate_limited");
    cp_metrics_attempt(m, "p", "up-m", "ok");
    cp_metrics_attempt(m, "p", "up-m", "ok");
    cp_buf_adds(&want,
                "# HELP ccproxy_requests_total API requests (/v1/messages, /v1/messages/count_tokens) by "
                "provider, client model, HTTP status and developer key.\n"
                "# TYPE ccproxy_requests_total counter\n"
                "ccproxy_requests_total{provider=\"p\",model=\"m\",status=\"200\",key=\"k\"} 1\n"
                "# HELP ccproxy_errors_total Failed requests by Anthropic error type and origin (client, "
                "policy, provider).\n# TYPE ccproxy_errors_total counter\n"
                "# HELP ccproxy_tokens_total Tokens the upstream reported, by direction (input, output, "
                "cache_read, cache_write).\n# TYPE ccproxy_tokens_total counter\n"
                "# HELP ccproxy_upstream_retries_total Upstream requests sent again by ccproxy.\n"
                "# TYPE ccproxy_upstream_retries_total counter\n"
                "# HELP ccproxy_upstream_attempts_total Upstream attempts by provider, upstream model and "
                "outcome (ok, rate_limited, refused, overloaded, server_error, client_error, no_answer, "
                "cancelled).\n# TYPE ccproxy_upstream_attempts_total counter\n"
                "ccproxy_upstream_attempts_total{provider=\"p\",model=\"up-m\",outcome=\"rate_limited\"} 1\n"
                "ccproxy_upstream_attempts_total{provider=\"p\",model=\"up-m\",outcome=\"ok\"} 2\n"
                "# HELP ccproxy_config_reloads_total Configuration reloads by result (ok, error).\n"
                "# TYPE ccproxy_config_reloads_total counter\n"
                "ccproxy_config_reloads_total{result=\"ok\"} 0\n"
                "ccproxy_config_reloads_total{result=\"error\"} 0\n"
                "# HELP ccproxy_upstream_ttfb_seconds Upstream request sent to upstream response head "
                "received.\n# TYPE ccproxy_upstream_ttfb_seconds histogram\n");
    for (int i = 0; i < 16; i++)
        cp_buf_addf(&want, "ccproxy_upstream_ttfb_seconds_bucket{provider=\"p\",le=\"%s\"} %d\n", le_s[i],
                    i >= 5);
    cp_buf_adds(&want,
                "ccproxy_upstream_ttfb_seconds_sum{provider=\"p\"} 0.125\n"
                "ccproxy_upstream_ttfb_seconds_count{provider=\"p\"} 1\n"
                "# HELP ccproxy_request_duration_seconds Whole API request, first byte in to last byte "
                "out.\n# TYPE ccproxy_request_duration_seconds histogram\n");
    for (int i = 0; i < 16; i++)
        cp_buf_addf(&want, "ccproxy_request_duration_seconds_bucket{provider=\"p\",le=\"%s\"} %d\n", le_s[i],
                    i >= 6);
    cp_buf_adds(&want,
                "ccproxy_request_duration_seconds_sum{provider=\"p\"} 0.5\n"
                "ccproxy_request_duration_seconds_count{provider=\"p\"} 1\n"
                "# HELP ccproxy_added_seconds Time ccproxy added to an API request: its duration minus the "
                "time upstream transfers were in flight.\n# TYPE ccproxy_added_seconds histogram\n");
    for (int i = 0; i < 13; i++)
        cp_buf_addf(&want, "ccproxy_added_seconds_bucket{provider=\"p\",le=\"%s\"} %d\n", le_a[i], i >= 10);
    cp_buf_adds(
        &want,
        "ccproxy_added_seconds_sum{provider=\"p\"} 0.25\nccproxy_added_seconds_count{provider=\"p\"} 1\n");
    cp_buf_addf(&want,
                "# HELP ccproxy_build_info The running ccproxy: version and source commit.\n"
                "# TYPE ccproxy_build_info gauge\nccproxy_build_info{version=\"%s\",commit=\"%s\"} 1\n",
                CP_VERSION, CP_GIT_COMMIT);
    cp_buf_adds(&want,
                "# HELP ccproxy_active_requests Requests being handled.\n"
                "# TYPE ccproxy_active_requests gauge\nccproxy_active_requests 2\n"
                "# HELP ccproxy_active_streams Replies being streamed.\n"
                "# TYPE ccproxy_active_streams gauge\nccproxy_active_streams 1\n"
                "# HELP ccproxy_open_connections Open client connections.\n"
                "# TYPE ccproxy_open_connections gauge\nccproxy_open_connections 3\n"
                "# HELP ccproxy_ledger_rows_dropped_total Usage ledger rows lost because its queue was "
                "full.\n# TYPE ccproxy_ledger_rows_dropped_total counter\n"
                "ccproxy_ledger_rows_dropped_total 0\n"
                "# HELP ccproxy_metrics_series_dropped_total Samples not counted because the series "
                "limit was reached.\n# TYPE ccproxy_metrics_series_dropped_total counter\n"
                "ccproxy_metrics_series_dropped_total 0\n"
                "# HELP process_open_fds Open file descriptors.\n# TYPE process_open_fds gauge\n"
                "process_open_fds 10\n"
                "# HELP process_max_fds Limit on open file descriptors.\n# TYPE process_max_fds gauge\n"
                "process_max_fds 1024\n"
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 4096\n"
                "# HELP process_start_time_seconds Start time of the process since the Unix epoch in "
                "seconds.\n# TYPE process_start_time_seconds gauge\n"
                "process_start_time_seconds 1700000000.5\n");
    assert_int_equal(cp_metrics_write(m, &g, &got), CP_OK);
    assert_string_equal(cp_buf_str(&got), cp_buf_str(&want));
    cp_buf_free(&got);
    cp_buf_init(&got, 100); /* a capped buffer: an error, never a cut text */
    assert_int_equal(cp_metrics_write(m, &g, &got), CP_ERR);
    cp_buf_free(&got);
    cp_buf_free(&want);
    cp_metrics_free(m);
}

static int in_range(const char *cidr, const char *ip)
{
    cp_cidr_t c;
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    assert_int_equal(cp_cidr_parse(cidr, &c), CP_OK);
    if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    else
        fail();
    return cp_cidr_match(&c, &ss);
}

static void test_cidr(void **s)
{
    cp_cidr_t c;
    static const char *const bad[] = {
        "",  "/8",          "10.0.0.0/",   "10.0.0.0/33", "10.0.0/8",    "fd00::/129",
        "x", "10.0.0.0/8x", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0 /8", "fd00::/0008"};

    (void)s;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cp_cidr_parse(bad[i], &c), CP_ERR);
    assert_true(in_range("10.0.0.0/8", "10.200.3.4"));
    assert_false(in_range("10.0.0.0/8", "11.0.0.1"));
    assert_true(in_range("192.168.1.128/25", "192.168.1.200"));
    assert_false(in_range("192.168.1.128/25", "192.168.1.127"));
    assert_true(in_range("192.0.2.7", "192.0.2.7"));
    assert_false(in_range("192.0.2.7", "192.0.2.8"));
    assert_true(in_range("0.0.0.0/0", "8.8.8.8"));
    assert_false(in_range("0.0.0.0/0", "fd00::1"));
    assert_true(in_range("fd00::/8", "fdab::1"));
    assert_false(in_range("fd00::/8", "fe80::1"));
    assert_true(in_range("10.0.0.0/8", "::ffff:10.1.2.3")); /* IPv4-mapped: counts as IPv4 */
    assert_false(in_range("::/0", "::ffff:10.1.2.3"));
    assert_false(cp_cidr_match(&c, NULL));
}

static void test_token_eq(void **s)
{
    (void)s;
    assert_true(cp_metrics_token_eq("secret", "secret"));
    assert_false(cp_metrics_token_eq("secret", "secreT"));
    assert_false(cp_metrics_token_eq("secret", "secret2"));
    assert_false(cp_metrics_token_eq("secret2", "secret"));
    assert_false(cp_metrics_token_eq("", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters),  cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_escape),    cmocka_unit_test(test_long_value_cut),
        cmocka_unit_test(test_model_cap), cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_exact),     cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_token_eq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
