/* Unit tests for lib/cli/cp_ctl.c: the client address of a bound host, and reading /health answers. */
#include "cp_unit.h"

#include "cp_ctl.h"

static void test_client_address(void **s)
{
    char url[128];

    (void)s;
    assert_string_equal(cp_ctl_client_host("0.0.0.0"), "127.0.0.1");
    assert_string_equal(cp_ctl_client_host(""), "127.0.0.1");
    assert_string_equal(cp_ctl_client_host("::"), "::1");
    assert_string_equal(cp_ctl_client_host("10.1.2.3"), "10.1.2.3");
    cp_ctl_base_url("0.0.0.0", 8082, url, sizeof(url));
    assert_string_equal(url, "http://127.0.0.1:8082");
    cp_ctl_base_url("::", 9000, url, sizeof(url));
    assert_string_equal(url, "http://[::1]:9000");
    cp_ctl_base_url("fe80::1", 9000, url, sizeof(url));
    assert_string_equal(url, "http://[fe80::1]:9000");
    cp_ctl_base_url("localhost", 1, url, sizeof(url));
    assert_string_equal(url, "http://localhost:1");
    cp_ctl_base_url("192.168.1.5", 8082, url, sizeof(url));
    assert_string_equal(url, "http://192.168.1.5:8082");
}

static void test_parse_health(void **s)
{
    static const char ours[] =
        "{\"status\":\"ok\",\"service\":\"ccproxy\",\"version\":\"0.1.0\",\"pid\":4242,"
        "\"uptime_s\":3725,\"active\":3,\"streams\":2}";
    cp_ctl_health_t h;

    (void)s;
    cp_ctl_parse_health(200, ours, strlen(ours), &h);
    assert_int_equal(h.state, CP_CTL_UP);
    assert_int_equal(h.pid, 4242);
    assert_string_equal(h.version, "0.1.0");
    assert_int_equal(h.uptime_s, 3725);
    assert_int_equal(h.active, 3);
    assert_int_equal(h.streams, 2);

    /* someone else's server: another JSON service, HTML, a 404, ours under a non-200 */
    cp_ctl_parse_health(200, "{\"status\":\"ok\"}", 15, &h);
    assert_int_equal(h.state, CP_CTL_OTHER);
    assert_non_null(strstr(h.why, "not ccproxy"));
    cp_ctl_parse_health(200, "<html>hi</html>", 15, &h);
    assert_int_equal(h.state, CP_CTL_OTHER);
    cp_ctl_parse_health(404, "not found", 9, &h);
    assert_int_equal(h.state, CP_CTL_OTHER);
    assert_non_null(strstr(h.why, "HTTP 404"));
    cp_ctl_parse_health(503, ours, strlen(ours), &h);
    assert_int_equal(h.state, CP_CTL_OTHER);
    cp_ctl_parse_health(200, "{\"service\":\"ccproxy-fake\"}", 26, &h);
    assert_int_equal(h.state, CP_CTL_OTHER);
    /* an older ccproxy without pid/streams is still ours */
    cp_ctl_parse_health(200, "{\"service\":\"ccproxy\"}", 21, &h);
    assert_int_equal(h.state, CP_CTL_UP);
    assert_int_equal(h.pid, 0);
    assert_string_equal(h.version, "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_address),
        cmocka_unit_test(test_parse_health),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
