/* Unit tests for lib/net/cp_guard.c: request framing and the browser guards, with hostile values. */
#include "cp_unit.h"

#include "cp_guard.h"

static cp_config_t *cfg(const char *hosts, const char *origins)
{
    static cp_config_t c;

    memset(&c, 0, sizeof(c));
    c.host = "0.0.0.0";
    c.allowed_hosts = json_loads(hosts, 0, NULL);
    c.allowed_origins = json_loads(origins, 0, NULL);
    return &c;
}

static void done(cp_config_t *c)
{
    json_decref(c->allowed_hosts);
    json_decref(c->allowed_origins);
}

static void test_length(void **s)
{
    (void)s;
    assert_true(cp_guard_length_ok("0"));
    assert_true(cp_guard_length_ok("62"));
    assert_true(cp_guard_length_ok("123456789012345678901234567890")); /* digits: evhttp judges the size */
    assert_false(cp_guard_length_ok("+62"));
    assert_false(cp_guard_length_ok("062"));
    assert_false(cp_guard_length_ok("-1"));
    assert_false(cp_guard_length_ok(" 6"));
    assert_false(cp_guard_length_ok("6 "));
    assert_false(cp_guard_length_ok("6,6"));
    assert_false(cp_guard_length_ok("0x10"));
    assert_false(cp_guard_length_ok(""));
    assert_false(cp_guard_length_ok(NULL));
}

static void test_json_type(void **s)
{
    (void)s;
    assert_true(cp_guard_json_type("application/json"));
    assert_true(cp_guard_json_type("Application/JSON; charset=utf-8"));
    assert_true(cp_guard_json_type(" application/json"));
    assert_false(cp_guard_json_type("text/plain"));
    assert_false(cp_guard_json_type("application/jsonx"));
    assert_false(cp_guard_json_type("application/json-seq"));
    assert_false(cp_guard_json_type("multipart/form-data; boundary=application/json"));
    assert_false(cp_guard_json_type(""));
    assert_false(cp_guard_json_type(NULL));
}

static void test_host(void **s)
{
    cp_config_t *c = cfg("[\"ccproxy.corp.example\", \".team.example\"]", "[]");
    char huge[4096];

    (void)s;
    memset(huge, 'a', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    assert_true(cp_guard_host_ok(c, NULL));
    assert_true(cp_guard_host_ok(c, "127.0.0.1"));
    assert_true(cp_guard_host_ok(c, "127.0.0.1:8082"));
    assert_true(cp_guard_host_ok(c, "10.0.0.7:1"));
    assert_true(cp_guard_host_ok(c, "[::1]:8082"));
    assert_true(cp_guard_host_ok(c, "[::1]"));
    assert_true(cp_guard_host_ok(c, "localhost"));
    assert_true(cp_guard_host_ok(c, "LOCALHOST:9"));
    assert_true(cp_guard_host_ok(c, "app.localhost"));
    assert_true(cp_guard_host_ok(c, "ccproxy.corp.example:8082"));
    assert_true(cp_guard_host_ok(c, "a.b.team.example"));
    assert_true(cp_guard_host_ok(c, "team.example"));
    assert_false(cp_guard_host_ok(c, "attacker.example"));
    assert_false(cp_guard_host_ok(c, "localhost.attacker.example"));
    assert_false(cp_guard_host_ok(c, "xteam.example"));
    assert_false(cp_guard_host_ok(c, "corp.example"));
    assert_false(cp_guard_host_ok(c, "1.2.3.4.5"));
    assert_false(cp_guard_host_ok(c, "[::1"));
    assert_false(cp_guard_host_ok(c, "[::1]x"));
    assert_false(cp_guard_host_ok(c, "[evil.example]"));
    assert_false(cp_guard_host_ok(c, ":8082"));
    assert_false(cp_guard_host_ok(c, ""));
    assert_false(cp_guard_host_ok(c, huge));
    done(c);
    c = cfg("[\"*\"]", "[]");
    assert_true(cp_guard_host_ok(c, "anything.example"));
    done(c);
}

static void test_origin(void **s)
{
    cp_config_t *c = cfg("[]", "[\"https://console.corp.example\"]");
    char msg[400];

    (void)s;
    assert_true(cp_guard_origin_ok(c, NULL));
    assert_true(cp_guard_origin_ok(c, "https://console.corp.example"));
    assert_false(cp_guard_origin_ok(c, "https://console.corp.example.evil"));
    assert_false(cp_guard_origin_ok(c, "null"));
    assert_false(cp_guard_origin_ok(c, ""));
    assert_null(cp_guard_browser(c, "127.0.0.1", NULL, msg, sizeof(msg)));
    assert_non_null(cp_guard_browser(c, "evil.example", NULL, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "server.allowedHosts"));
    assert_non_null(cp_guard_browser(c, "127.0.0.1", "https://evil.example", msg, sizeof(msg)));
    assert_non_null(strstr(msg, "server.allowedOrigins"));
    done(c);
    c = cfg("[]", "[\"*\"]");
    assert_true(cp_guard_origin_ok(c, "https://anything.example"));
    done(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_length),
        cmocka_unit_test(test_json_type),
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_origin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
