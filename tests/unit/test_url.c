/* Unit tests for lib/base/cp_url.c: host, path and join questions about a baseURL. */
#include "cp_unit.h"

#include "cp_url.h"

static void test_host_is(void **s)
{
    static const struct {
        const char *url, *host;
        int want;
    } cases[] = {
        {"https://api.openai.com/v1", "api.openai.com", 1},
        {"https://API.OpenAI.com", "api.openai.com", 1}, /* case-insensitive */
        {"https://api.openai.com", "API.OPENAI.COM", 1},
        {"https://api.openai.com.", "api.openai.com", 1},       /* trailing dot */
        {"https://api.openai.com./v1", "api.openai.com", 1},    /* trailing dot, then a path */
        {"https://api.openai.com:443/v1", "api.openai.com", 1}, /* port */
        {"https://api.openai.com.:8443", "api.openai.com", 1},
        {"https://user@api.openai.com/v1", "api.openai.com", 1}, /* userinfo */
        {"https://user:pw@api.openai.com:443/v1", "api.openai.com", 1},
        {"https://a@b@api.openai.com/v1", "api.openai.com", 1}, /* the last '@' ends the userinfo */
        {"https://api.openai.com@evil.example/v1", "api.openai.com", 0},
        {"https://eu.openrouter.ai/api/v1", "openrouter.ai", 1}, /* subdomain */
        {"https://a.b.openrouter.ai", "openrouter.ai", 1},
        {"https://notopenrouter.ai/api/v1", "openrouter.ai", 0}, /* a suffix that is not a label */
        {"https://api.openai.com.evil.example/v1", "api.openai.com", 0},
        {"https://evil.example/api.openai.com", "api.openai.com", 0}, /* in the path */
        {"https://evil.example?h=api.openai.com", "api.openai.com", 0},
        {"https://evil.example#api.openai.com", "api.openai.com", 0},
        {"https://evil.example/x@api.openai.com", "api.openai.com", 0}, /* '@' in the path */
        {"https://openai.com", "api.openai.com", 0},                    /* shorter than the host */
        {"api.openai.com/v1", "api.openai.com", 1},                     /* no scheme */
        {"http://[::1]:8000/v1", "[::1]", 1}, /* IPv6 literal: its colons are not a port */
        {"http://[::1]:8000/v1", "1", 0},
        {"https:///v1", "api.openai.com", 0}, /* no host */
        {"", "api.openai.com", 0},
    };
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (cp_url_host_is(cases[i].url, cases[i].host) != cases[i].want) {
            fprintf(stderr, "host_is(%s, %s) != %d\n", cases[i].url, cases[i].host, cases[i].want);
            bad++;
        }
    assert_false(cp_url_host_is(NULL, "api.openai.com"));
    assert_int_equal(bad, 0);
}

static void test_paths(void **s)
{
    (void)s;
    assert_true(cp_url_has_path("https://h/v1"));
    assert_true(cp_url_has_path("https://h:8/a/b/"));
    assert_true(cp_url_has_path("https://u@h/v1?x=1"));
    assert_false(cp_url_has_path("https://h"));
    assert_false(cp_url_has_path("https://h/"));
    assert_false(cp_url_has_path("https://h:8080"));
    assert_false(cp_url_has_path("https://h/?q=1"));
    assert_false(cp_url_has_path("https://h?x=/y")); /* a '/' in the query is no path */
    assert_false(cp_url_has_path("https://h#/frag"));

    assert_true(cp_url_path_ends_with("https://h/v1", "/v1"));
    assert_true(cp_url_path_ends_with("https://api.anthropic.com/x/v1?beta=1", "/v1"));
    assert_true(cp_url_path_ends_with("https://h/v1#f", "/v1"));
    assert_true(cp_url_path_ends_with("https://h/a/v1", "v1"));
    assert_false(cp_url_path_ends_with("https://h/v1/", "/v1"));
    assert_false(cp_url_path_ends_with("https://h/v12", "/v1"));
    assert_false(cp_url_path_ends_with("https://h", "/v1"));
    assert_false(cp_url_path_ends_with("https://v1", "v1")); /* the host is not the path */
    assert_false(cp_url_path_ends_with("https://h?x=/v1", "/v1"));
    assert_false(cp_url_path_ends_with("https://h/", "/v1")); /* shorter than the suffix */
}

static void test_join(void **s)
{
    static const struct {
        const char *base, *a, *b, *want;
    } cases[] = {
        {"https://h/v1", "/chat/completions", NULL, "https://h/v1/chat/completions"},
        {"https://h/v1/", "/chat/completions", NULL, "https://h/v1/chat/completions"},
        {"https://h/v1//", "/chat/completions", NULL, "https://h/v1/chat/completions"},
        {"https://h", "/v1beta/openai", "/chat/completions", "https://h/v1beta/openai/chat/completions"},
        {"https://h/", "x", NULL, "https://h/x"}, /* one '/' already: kept */
        {"https://h", "x", "", "https://hx"},     /* nothing is added */
        {"", "/a", NULL, "/a"},
    };

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = cp_url_join(cases[i].base, cases[i].a, cases[i].b);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_is),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_join),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
