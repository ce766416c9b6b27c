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

/* Asserts that <list> (<n> entries) is exactly "model@provider" names <want>, in order. */
static void expect_list(const cp_route_next_t *list, size_t n, const char *const *want, size_t nwant)
{
    char got[CP_ROUTE_MODEL_MAX + 64];

    if (n != nwant)
        fail_msg("%zu candidates, want %zu", n, nwant);
    for (size_t i = 0; i < n; i++) {
        snprintf(got, sizeof(got), "%s@%s", list[i].model, list[i].provider->name);
        if (strcmp(got, want[i]) != 0)
            fail_msg("candidate %zu is %s, want %s", i, got, want[i]);
    }
}

/* An array in bigModel/smallModel/map: its first is the target, the others (made whole) the candidates
 * in order; then models.fallbacks of the target, repeats of the target or of each other left out. */
static void test_model_chains(void **s)
{
    cp_config_t *c =
        cfg_with("{\"providers\":{\"local\":{\"baseURL\":\"http://127.0.0.1:1/v1\"}},"
                 "\"models\":{\"preferredProvider\":\"openrouter\","
                 "\"bigModel\":[\"big@openai\",\"b2@gemini\",\"b3\",\"big@openai\",\"b2@gemini\"],"
                 "\"smallModel\":[\"small@local\"],"
                 "\"map\":{\"chain-*\":[\"m1@local\",\"m2\",\"m1@local\"],\"one-*\":\"m1@local\","
                 "\"rev-*\":[\"b2@gemini\",\"big@openai\"]},"
                 "\"fallbacks\":{\"big@openai\":[\"b3\",\"b4@local\",\"b2@gemini\",\"big@openai\"],"
                 "\"m1@local\":[\"m3@gemini\",\"m2\"],\"b2@gemini\":[\"b5@local\"]}}}");
    static const char *const big[] = {"b2@gemini", "b3@openrouter", "b4@local"};
    static const char *const direct[] = {"b3@openrouter", "b4@local", "b2@gemini"};
    static const char *const map[] = {"m2@openrouter", "m3@gemini"};
    static const char *const one[] = {"m3@gemini", "m2@openrouter"};
    static const char *const rev[] = {"big@openai", "b5@local"};
    cp_route_t r;
    cp_err_t e = {0};

    (void)s;
    assert_string_equal(c->big_model, "big@openai"); /* the first, for everything else that reads it */
    assert_int_equal(cp_route_resolve(c, "claude-sonnet-4-5", &r, &e), CP_OK);
    assert_string_equal(r.model, "big");
    assert_string_equal(r.provider->name, "openai");
    expect_list(r.next, r.nnext, big, 3);
    assert_int_equal(r.nctx, 0);
    assert_int_equal(cp_route_resolve(c, "big@openai", &r, &e), CP_OK); /* the same target, the chain */
    expect_list(r.next, r.nnext, direct, 3); /* ... without the array's own names: they are the rule's */
    assert_int_equal(cp_route_resolve(c, "claude-haiku-4-5", &r, &e), CP_OK); /* an array of one */
    assert_string_equal(r.model, "small");
    assert_int_equal(r.nnext, 0);
    assert_int_equal(cp_route_resolve(c, "chain-x", &r, &e), CP_OK); /* a map value */
    assert_string_equal(r.model, "m1");
    assert_string_equal(r.provider->name, "local");
    expect_list(r.next, r.nnext, map, 2);
    assert_int_equal(cp_route_resolve(c, "one-x", &r, &e), CP_OK); /* a string: fallbacks only */
    expect_list(r.next, r.nnext, one, 2);
    assert_int_equal(cp_route_resolve(c, "rev-x", &r, &e), CP_OK); /* the chain of the first name */
    assert_string_equal(r.model, "b2");
    expect_list(r.next, r.nnext, rev, 2);
    cp_config_unref(c);
}

/* models.contextFallbacks fills ctx from the resolved target, whatever rule led there, next untouched;
 * the target and repeats left out. */
static void test_context_fallbacks(void **s)
{
    cp_config_t *c = cfg_with(
        "{\"providers\":{\"local\":{\"baseURL\":\"http://127.0.0.1:1/v1\"}},"
        "\"models\":{\"preferredProvider\":\"openrouter\",\"bigModel\":[\"big@openai\",\"b2@gemini\"],"
        "\"contextFallbacks\":{\"big@openai\":[\"long@gemini\",\"big@openai\",\"long@gemini\",\"l2\"],"
        "\"deepseek-chat\":[\"ds-long@local\"]}}}");
    static const char *const ctx[] = {"long@gemini", "l2@openrouter"};
    static const char *const next[] = {"b2@gemini"};
    static const char *const ds[] = {"ds-long@local"};
    cp_route_t r;
    cp_err_t e = {0};

    (void)s;
    assert_int_equal(cp_route_resolve(c, "claude-opus-4-8[1m]", &r, &e), CP_OK);
    expect_list(r.ctx, r.nctx, ctx, 2);
    expect_list(r.next, r.nnext, next, 1);
    assert_int_equal(cp_route_resolve(c, "big@openai", &r, &e), CP_OK);
    expect_list(r.ctx, r.nctx, ctx, 2);
    assert_int_equal(r.nnext, 0);
    assert_int_equal(cp_route_resolve(c, "deepseek-chat", &r, &e), CP_OK); /* key made whole */
    expect_list(r.ctx, r.nctx, ds, 1);
    assert_int_equal(cp_route_resolve(c, "claude-haiku-4-5", &r, &e), CP_OK);
    assert_int_equal(r.nctx, 0);
    cp_config_unref(c);
}

/* Each list stops at CP_CONFIG_FALLBACKS_MAX: an array of 8 gives 7 candidates and leaves no room for
 * models.fallbacks; contextFallbacks of 7 are all kept. */
static void test_chain_cap(void **s)
{
    cp_config_t *c =
        cfg_with("{\"models\":{\"bigModel\":[\"t\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\"],"
                 "\"smallModel\":[\"t2\",\"1\",\"2\",\"3\",\"4\"],"
                 "\"fallbacks\":{\"t\":[\"f1\"],\"t2\":[\"4\",\"f1\",\"f2\",\"f3\",\"f4\"]},"
                 "\"contextFallbacks\":{\"t\":[\"c1\",\"c2\",\"c3\",\"c4\",\"c5\",\"c6\",\"c7\"]}}}");
    static const char *const big[] = {"1@openai", "2@openai", "3@openai", "4@openai",
                                      "5@openai", "6@openai", "7@openai"};
    static const char *const small[] = {"1@openai",  "2@openai",  "3@openai", "4@openai",
                                        "f1@openai", "f2@openai", "f3@openai"};
    cp_route_t r;
    cp_err_t e = {0};

    (void)s;
    assert_int_equal(cp_route_resolve(c, "claude-opus-4", &r, &e), CP_OK);
    expect_list(r.next, r.nnext, big, CP_CONFIG_FALLBACKS_MAX);
    assert_int_equal(r.nctx, CP_CONFIG_FALLBACKS_MAX);
    assert_string_equal(r.ctx[6].model, "c7");
    assert_int_equal(cp_route_resolve(c, "claude-haiku-4", &r, &e), CP_OK);
    expect_list(r.next, r.nnext, small, CP_CONFIG_FALLBACKS_MAX);
    cp_config_unref(c);
}

/* A rule's target that does not resolve still names the config key; cp_route_target refuses no name. */
static void test_chain_errors(void **s)
{
    cp_config_t *c = cfg_with("{\"models\":{\"bigModel\":[\"a@openai\",\"b@gemini\"],"
                              "\"map\":{\"m-*\":[\"a@openai\",\"b@gemini\"]}}}");
    cp_route_t r;
    cp_err_t e = {0};

    (void)s;
    /* the loader refuses such names; a snapshot edited behind its back shows what the messages say */
    json_array_set_new(c->big_models, 0, json_string("x@nosuch"));
    assert_int_equal(cp_route_resolve(c, "claude-sonnet-4", &r, &e), CP_ERR);
    assert_int_equal(e.http_status, 400);
    assert_non_null(strstr(e.msg, "unknown provider \"nosuch\" in \"x@nosuch\" from models.bigModel"));
    json_array_set_new(json_object_get(c->model_map, "m-*"), 0, json_string("y@nosuch"));
    assert_int_equal(cp_route_resolve(c, "m-1", &r, &e), CP_ERR);
    assert_non_null(strstr(e.msg, "from models.map"));
    assert_int_equal(cp_route_target(c, NULL, &r, &e), CP_ERR); /* an array's json_string_value */
    cp_config_unref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_model_map),
        cmocka_unit_test(test_unknown_provider),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_model_chains),
        cmocka_unit_test(test_context_fallbacks),
        cmocka_unit_test(test_chain_cap),
        cmocka_unit_test(test_chain_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
