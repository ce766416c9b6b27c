/* Unit tests for lib/base/cp_route.c. */
#include "cp_unit.h"

#include "cp_route.h"

static cp_config_t *cfg_with(const char *json)
{
    char *dir = unit_tmpdir();
    char managed[1200];
    cp_config_opts_t o = {0};
    cp_err_t e = {0};
    cp_config_t *c;

    unit_write(dir, ".ccproxy/settings.json", json);
    snprintf(managed, sizeof(managed), "%s/none.json", dir);
    o.home = dir;
    o.cwd = dir;
    o.managed_path = managed;
    unsetenv("CCPROXY_CONFIG");
    unsetenv("CCPROXY_PORT");
    c = cp_config_load(&o, NULL, NULL, &e);
    if (c == NULL)
        fail_msg("config: %s", e.msg);
    unit_rmtree(dir);
    free(dir);
    return c;
}

static void expect(const cp_config_t *c, const char *model, const char *prov, const char *up)
{
    cp_route_t r;
    cp_err_t e = {0};

    if (cp_route_resolve(c, model, &r, &e) != CP_OK)
        fail_msg("%s: %s", model, e.msg);
    if (strcmp(r.provider->name, prov) != 0 || strcmp(r.model, up) != 0)
        fail_msg("%s -> %s@%s, want %s@%s", model, r.model, r.provider->name, up, prov);
}

static void test_rules(void **s)
{
    cp_config_t *c = cfg_with("{\"providers\":{\"local\":{\"baseURL\":\"http://127.0.0.1:1/v1\"}},"
                              "\"models\":{\"bigModel\":\"big-m@gemini\",\"smallModel\":\"small-m\","
                              "\"preferredProvider\":\"openrouter\"}}");

    (void)s;
    expect(c, "gpt-4o@openai", "openai", "gpt-4o");
    expect(c, "qwen@local", "local", "qwen");
    expect(c, "org/model@x@local", "local", "org/model@x"); /* the last '@' splits */
    expect(c, "claude-3-5-haiku-20241022", "openrouter", "small-m");
    expect(c, "claude-HAIKU-4-5", "openrouter", "small-m");
    expect(c, "claude-sonnet-4-5-20250929", "gemini", "big-m");
    expect(c, "claude-opus-4-8", "gemini", "big-m");
    expect(c, "claude-opus-4-8[1m]", "gemini", "big-m");
    expect(c, "claude-sonnet-4-5[1m]", "gemini", "big-m");
    expect(c, "deepseek-chat", "openrouter", "deepseek-chat");
    expect(c, "deepseek-chat[1m]", "openrouter", "deepseek-chat");
    expect(c, "gpt-4o@openai[1m]", "openai", "gpt-4o");
    cp_config_unref(c);
}

static void test_model_map(void **s)
{
    cp_config_t *c = cfg_with("{\"providers\":{\"local\":{\"baseURL\":\"http://127.0.0.1:1/v1\"}},"
                              "\"models\":{\"bigModel\":\"big@openai\",\"smallModel\":\"small@openai\","
                              "\"map\":{\"claude-opus-*\":\"qwen-max@local\",\"*haiku*\":\"tiny\","
                              "\"gpt-?o\":\"gpt-4o@openrouter\",\"*\":\"fallback@gemini\"}}}");
    cp_route_t r;
    cp_err_t e = {0};

    (void)s;
    expect(c, "claude-opus-4-8", "local", "qwen-max");   /* map wins over the opus rule */
    expect(c, "CLAUDE-OPUS-4[1m]", "local", "qwen-max"); /* case-insensitive, suffix stripped */
    expect(c, "claude-3-5-haiku", "openai", "tiny");     /* target without provider: preferred */
    expect(c, "gpt-4o", "openrouter", "gpt-4o");
    expect(c, "claude-sonnet-4", "gemini", "fallback"); /* "*" catches the rest, in file order */
    expect(c, "m@local", "local", "m");                 /* an explicit provider wins over the map */
    assert_int_equal(cp_route_target(c, "claude-haiku-x", &r, &e), CP_OK); /* targets are not re-routed */
    assert_string_equal(r.model, "claude-haiku-x");
    assert_string_equal(r.provider->name, "openai");
    cp_config_unref(c);
}

static void test_unknown_provider(void **s)
{
    cp_config_t *c = cfg_with("{}");
    cp_route_t r;
    cp_err_t e = {0};

    (void)s;
    assert_int_equal(cp_route_resolve(c, "m@nosuch", &r, &e), CP_ERR);
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.type, "invalid_request_error");
    assert_non_null(strstr(e.msg, "unknown provider \"nosuch\""));
    assert_null(strstr(e.msg, "gemini")); /* the configured providers are not listed to clients */
    assert_int_equal(cp_route_resolve(c, "@openai", &r, &e), CP_ERR);
    assert_non_null(strstr(e.msg, "not a valid model name"));
    cp_config_unref(c);
}

/* models.fallbacks: found by the resolved "model@provider" whichever rule led there, bare names made
 * whole with models.preferredProvider, the target itself and repeats left out, at most
 * CP_CONFIG_FALLBACKS_MAX, none for a target without an entry. */
static void test_fallbacks(void **s)
{
    cp_config_t *c = cfg_with(
        "{\"providers\":{\"local\":{\"baseURL\":\"http://127.0.0.1:1/v1\"}},"
        "\"models\":{\"bigModel\":\"big@openai\",\"smallModel\":\"small@local\","
        "\"preferredProvider\":\"openrouter\",\"map\":{\"chain-*\":\"big@openai\"},"
        "\"fallbacks\":{\"big@openai\":[\"b2@gemini\",\"b3\",\"big@openai\",\"b2@gemini\",\"b4@local\"],"
        "\"deepseek-chat\":[\"ds@local\"]}}}");
    const char *models[] = {"claude-opus-4-8[1m]", "chain-x", "big@openai", "BIG@openai"};
    cp_route_t r;
    cp_err_t e = {0};

    (void)s;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(cp_route_resolve(c, models[i], &r, &e), CP_OK);
        assert_int_equal(r.nnext, 3);
        assert_string_equal(r.next[0].provider->name, "gemini");
        assert_string_equal(r.next[0].model, "b2");
        assert_string_equal(r.next[1].provider->name, "openrouter"); /* "b3": the preferred provider */
        assert_string_equal(r.next[1].model, "b3");
        assert_string_equal(r.next[2].provider->name, "local");
        assert_string_equal(r.next[2].model, "b4");
    }
    assert_int_equal(cp_route_resolve(c, models[3], &r, &e), CP_OK); /* a name is matched as written */
    assert_int_equal(r.nnext, 0);
    assert_int_equal(cp_route_resolve(c, "deepseek-chat", &r, &e),
                     CP_OK); /* key "deepseek-chat": preferred */
    assert_int_equal(r.nnext, 1);
    assert_string_equal(r.next[0].model, "ds");
    assert_int_equal(cp_route_resolve(c, "claude-haiku-4-5", &r, &e), CP_OK);
    assert_int_equal(r.nnext, 0);
    cp_config_unref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_model_map),
        cmocka_unit_test(test_unknown_provider),
        cmocka_unit_test(test_fallbacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
