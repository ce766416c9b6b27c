/* Unit tests for lib/cli/cp_init.c: presets, defaults, missing answers, checks, the settings tree (and
 * that the tree loads through the config loader). */
#include "cp_unit.h"

#include <jansson.h>

#include "cp_config.h"
#include "cp_init.h"

static void test_presets(void **s)
{
    static const char *const want[] = {"openai", "gemini", "openrouter", "anthropic"};

    (void)s;
    assert_int_equal(cp_init_npresets, 4);
    for (size_t i = 0; i < 4; i++) {
        const cp_init_preset_t *p = cp_init_preset(want[i]);
        assert_non_null(p);
        assert_true(cp_config_url_ok(p->base_url));
        assert_non_null(p->big_model);
        assert_non_null(p->small_model);
    }
    assert_string_equal(cp_init_preset("anthropic")->style, "anthropic");
    assert_string_equal(cp_init_preset("gemini")->style, "openai");
    assert_null(cp_init_preset("custom"));
    assert_null(cp_init_preset(NULL));
}

static void test_key_env(void **s)
{
    char buf[64];

    (void)s;
    cp_init_key_env("openrouter", buf, sizeof(buf));
    assert_string_equal(buf, "OPENROUTER_API_KEY");
    cp_init_key_env("my-vllm", buf, sizeof(buf));
    assert_string_equal(buf, "MY_VLLM_API_KEY"); /* what the loader falls back to */
}

static void test_complete_missing(void **s)
{
    cp_init_answers_t a;
    cp_err_t e;

    (void)s;
    /* nothing: the provider is missing */
    memset(&a, 0, sizeof(a));
    memset(&e, 0, sizeof(e));
    assert_int_equal(cp_init_complete(&a, 0, &e), CP_ERR);
    assert_non_null(strstr(e.msg, "--provider"));
    /* a preset without a key source, and without --yes */
    memset(&a, 0, sizeof(a));
    a.provider = "openai";
    assert_int_equal(cp_init_complete(&a, 0, &e), CP_ERR);
    assert_non_null(strstr(e.msg, "--api-key-env or --api-key"));
    assert_null(strstr(e.msg, "--provider"));
    /* with --yes the preset's variable is taken, and everything else defaults */
    memset(&a, 0, sizeof(a));
    a.provider = "gemini";
    assert_int_equal(cp_init_complete(&a, 1, &e), CP_OK);
    assert_string_equal(a.api_key_env, "GEMINI_API_KEY");
    assert_string_equal(a.base_url, cp_init_preset("gemini")->base_url);
    assert_string_equal(a.big_model, cp_init_preset("gemini")->big_model);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 8082);
    /* a custom server lists each missing answer */
    memset(&a, 0, sizeof(a));
    a.provider = "custom";
    assert_int_equal(cp_init_complete(&a, 0, &e), CP_ERR);
    assert_non_null(strstr(e.msg, "--base-url"));
    assert_non_null(strstr(e.msg, "--big-model"));
    assert_non_null(strstr(e.msg, "--small-model"));
    assert_null(strstr(e.msg, "--api-key")); /* a local server may need no key */
    /* custom with --yes: the small model defaults to the big one; style to openai */
    memset(&a, 0, sizeof(a));
    a.provider = "local";
    a.base_url = "http://127.0.0.1:11434/v1";
    a.big_model = "qwen3";
    assert_int_equal(cp_init_complete(&a, 1, &e), CP_OK);
    assert_string_equal(a.small_model, "qwen3");
    assert_string_equal(a.style, "openai");
    assert_null(a.api_key_env);
}

static void test_key_answer(void **s)
{
    static const struct {
        const char *answer;
        int rc;
        const char *key, *env; /* what is set */
    } cases[] = {
        {"sk-proj-abc123", CP_OK, "sk-proj-abc123", NULL},
        {"AIzaSyD-example", CP_OK, "AIzaSyD-example", NULL},
        {"OPENAI_API_KEY", CP_OK, NULL, "OPENAI_API_KEY"},
        {"MY_KEY_2", CP_OK, NULL, "MY_KEY_2"},
        {"_X", CP_OK, NULL, "_X"},
        {"2KEY", CP_OK, "2KEY", NULL},     /* not a shell name */
        {"my_key", CP_OK, "my_key", NULL}, /* lower case: a key (e.g. "ollama") */
        {"none", CP_OK, NULL, NULL},
        {"NONE", CP_OK, NULL, NULL},
        {"", CP_ERR, NULL, NULL},
    };

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cp_init_answers_t a = {0};
        assert_int_equal(cp_init_key_answer(&a, cases[i].answer), cases[i].rc);
        if (cases[i].key)
            assert_string_equal(a.api_key, cases[i].key);
        else
            assert_null(a.api_key);
        if (cases[i].env)
            assert_string_equal(a.api_key_env, cases[i].env);
        else
            assert_null(a.api_key_env);
    }
}

static void test_check(void **s)
{
    static const struct {
        cp_init_answers_t a;
        const char *want; /* NULL: valid */
    } cases[] = {
        {{.provider = "openai"}, NULL},
        {{.provider = "my_vllm-2"}, NULL},
        {{.provider = "a@b"}, "invalid provider name"},
        {{.provider = "a.b"}, "invalid provider name"},
        {{.provider = ""}, "invalid provider name"},
        {{.api_key_env = "OPENAI_API_KEY"}, NULL},
        {{.api_key_env = "1KEY"}, "invalid variable name"},
        {{.api_key_env = "MY-KEY"}, "invalid variable name"},
        {{.api_key = "sk-abc"}, NULL},
        {{.api_key = "sk abc"}, "invalid API key"},
        {{.api_key = "sk\"abc"}, "invalid API key"},
        {{.base_url = "https://api.example.com/v1"}, NULL},
        {{.base_url = "ftp://x"}, "invalid base URL"},
        {{.base_url = "api.openai.com"}, "invalid base URL"},
        {{.big_model = "gpt-5"}, NULL},
        {{.big_model = "gpt 5"}, "invalid big model"},
        {{.small_model = "x@"}, "invalid small model"},
        {{.host = "0.0.0.0"}, NULL},
        {{.host = "a b"}, "invalid host"},
        {{.port = 70000}, "invalid port"},
    };
    cp_err_t e;

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;
        memset(&e, 0, sizeof(e));
        rc = cp_init_check(&cases[i].a, &e);
        if (cases[i].want == NULL && rc != CP_OK)
            fail_msg("case %zu rejected: %s", i, e.msg);
        if (cases[i].want != NULL && (rc != CP_ERR || strstr(e.msg, cases[i].want) == NULL))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].want);
    }
}

/* Writes <j> as the only settings layer and loads it. Returns new, or NULL with <e>. */
static cp_config_t *load_tree(json_t *j, cp_err_t *e)
{
    char *dir = unit_tmpdir();
    char *text = json_dumps(j, JSON_INDENT(2));
    char path[1100];
    cp_config_opts_t o = {.home = "", .cwd = dir, .managed_path = "/nonexistent/m.json", .flag_config = path};
    cp_config_t *c;

    unit_write(dir, "s.json", text);
    snprintf(path, sizeof(path), "%s/s.json", dir);
    c = cp_config_load(&o, NULL, NULL, e);
    unit_rmtree(dir);
    free(dir);
    free(text);
    return c;
}

static void test_settings_tree_loads(void **s)
{
    cp_init_answers_t a;
    cp_err_t e = {0};
    json_t *j;
    cp_config_t *c;
    const cp_provider_t *p;

    (void)s;
    /* a preset with a variable */
    memset(&a, 0, sizeof(a));
    a.provider = "openrouter";
    a.api_key_env = "OR_TEST_KEY_UNSET";
    a.big_model = "anthropic/claude-sonnet-4.5";
    a.port = 9123;
    assert_int_equal(cp_init_complete(&a, 0, &e), CP_OK);
    j = cp_init_settings(&a);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(j, "providers"), "openrouter"), "apiKey")),
                        "${OR_TEST_KEY_UNSET}");
    c = load_tree(j, &e);
    if (c == NULL)
        fail_msg("does not load: %s", e.msg);
    assert_string_equal(c->host, "127.0.0.1");
    assert_int_equal(c->port, 9123);
    assert_string_equal(c->big_model, "anthropic/claude-sonnet-4.5@openrouter");
    assert_string_equal(c->small_model, "openai/gpt-5-mini@openrouter");
    assert_string_equal(c->preferred_provider, "openrouter");
    p = cp_config_provider(c, "openrouter", 10);
    assert_non_null(p);
    assert_string_equal(p->base_url, "https://openrouter.ai/api/v1");
    assert_string_equal(json_string_value(json_object_get(p->headers, "X-Title")), "ccproxy");
    cp_config_unref(c);
    json_decref(j);

    /* a custom Anthropic-style server with the key in the file and a model already naming a provider */
    memset(&a, 0, sizeof(a));
    a.provider = "corp";
    a.base_url = "https://llm.corp.example";
    a.style = "anthropic";
    a.api_key = "sk-corp-123";
    a.big_model = "big-1";
    a.small_model = "tiny@corp";
    assert_int_equal(cp_init_complete(&a, 0, &e), CP_OK);
    j = cp_init_settings(&a);
    c = load_tree(j, &e);
    if (c == NULL)
        fail_msg("does not load: %s", e.msg);
    p = cp_config_provider(c, "corp", 4);
    assert_non_null(p);
    assert_int_equal(p->style, CP_STYLE_ANTHROPIC);
    assert_string_equal(p->api_key, "sk-corp-123");
    assert_string_equal(c->big_model, "big-1@corp");
    assert_string_equal(c->small_model, "tiny@corp");
    cp_config_unref(c);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_key_env),
        cmocka_unit_test(test_complete_missing),
        cmocka_unit_test(test_key_answer),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_settings_tree_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
