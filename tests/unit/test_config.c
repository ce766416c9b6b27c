/* Unit tests for lib/base/cp_config.c: layering, sources, validation messages, env and ${VAR} rules. */
#include "cp_unit.h"

#include "cp_auth.h"
#include "cp_config.h"
#include "cp_prov.h"
#include "cp_trust.h"

typedef struct fx {
    char *home, *cwd, *etc;
    char managed[1200];
    cp_config_opts_t o;
    char warnings[4096];
    cp_err_t e;
} fx_t;

static const char *const env_vars[] = {
    "CCPROXY_CONFIG",       "CCPROXY_PORT",   "CCPROXY_HOST",   "CCPROXY_LOG_LEVEL",  "CCPROXY_LOG_FORMAT",
    "CCPROXY_MANAGED_PATH", "OPENAI_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY",
    "MY_LOCAL_API_KEY",     "CP_TEST_VAR",    "CP_UNSET_VAR"};

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));

    for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
        unsetenv(env_vars[i]);
    f->home = unit_tmpdir();
    f->cwd = unit_tmpdir();
    f->etc = unit_tmpdir();
    snprintf(f->managed, sizeof(f->managed), "%s/managed-settings.json", f->etc);
    f->o.home = f->home;
    f->o.cwd = f->cwd;
    f->o.managed_path = f->managed;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;

    unit_rmtree(f->home);
    unit_rmtree(f->cwd);
    unit_rmtree(f->etc);
    free(f->home);
    free(f->cwd);
    free(f->etc);
    free(f);
    return 0;
}

static void collect_warn(const char *line, void *ud)
{
    fx_t *f = ud;
    strncat(f->warnings, line, sizeof(f->warnings) - strlen(f->warnings) - 2);
    strcat(f->warnings, "\n");
}

static cp_config_t *load(fx_t *f)
{
    memset(&f->e, 0, sizeof(f->e));
    f->warnings[0] = '\0';
    return cp_config_load(&f->o, collect_warn, f, &f->e);
}

static const char *src(const cp_config_t *c, const char *path)
{
    return json_string_value(json_object_get(c->sources, path));
}

/* Writes ./.ccproxy/settings.json and trusts these bytes as `ccproxy trust` would: the tests here are
 * about what the project layer says; whether it is applied at all is tests/unit/test_trust.c's. */
static void write_trusted_cwd(fx_t *f, const char *text)
{
    char path[1200];
    cp_trust_file_t tf;
    cp_err_t e = {0};

    unit_write(f->cwd, ".ccproxy/settings.json", text);
    snprintf(path, sizeof(path), "%s/.ccproxy/settings.json", f->cwd);
    assert_int_equal(cp_trust_read(path, 1, &tf, &e), CP_OK);
    assert_int_equal(cp_trust_add(f->home, tf.real, tf.sha256, &e), CP_OK);
    cp_trust_file_free(&tf);
}

static void test_defaults(void **state)
{
    fx_t *f = *state;
    cp_config_t *c = load(f);

    assert_non_null(c);
    assert_int_equal(c->port, 8082);
    assert_string_equal(c->host, "0.0.0.0");
    assert_string_equal(c->big_model, "gpt-4@openai");
    assert_string_equal(c->small_model, "gpt-4-mini@openai");
    assert_string_equal(c->preferred_provider, "openai");
    assert_int_equal(c->max_body_bytes, 16u << 20);
    assert_int_equal(c->head_timeout_s, 30);
    assert_int_equal(c->body_timeout_s, 300);
    assert_int_equal(c->keepalive_s, 30);
    assert_int_equal(c->max_connections, 0); /* from the open-file limit, at start */
    assert_int_equal(c->max_per_peer, 256);
    assert_int_equal(c->upload_budget, 128u << 20);
    assert_int_equal(c->max_json_values, 200000);
    assert_int_equal(c->max_answer_bytes, 32u << 20); /* whole upstream answers: 32 MiB by default */
    assert_int_equal(c->log_level, CP_LOG_INFO);
    assert_int_equal(c->log_format, CP_LOG_JSON);
    assert_int_equal(cp_config_provider(c, "openai", 6)->style, CP_STYLE_OPENAI);
    assert_int_equal(cp_config_provider(c, "anthropic", 9)->style, CP_STYLE_ANTHROPIC);
    assert_null(cp_config_provider(c, "openai", 6)->api_key);
    assert_string_equal(cp_config_provider(c, "openai", 6)->api_key_env, "OPENAI_API_KEY");
    assert_string_equal(src(c, "server.port"), "default");
    assert_string_equal(src(c, "providers.gemini.baseURL"), "default");
    {
        const cp_provider_t *p = cp_config_provider(c, "openai", 6);
        assert_int_equal(json_array_size(p->reasoning_models), 4);
        assert_string_equal(json_string_value(json_array_get(p->reasoning_models, 3)), "gpt-5*");
        assert_int_equal(p->max_tokens_field, CP_MAXTOK_AUTO);
        assert_int_equal(p->reasoning_effort, -1);
        assert_int_equal(p->max_output_tokens, 0);
        assert_int_equal(p->connect_timeout_ms, 10000);
        assert_int_equal(p->first_byte_timeout_ms, 600000);
        assert_int_equal(p->idle_timeout_ms, 300000);
    }
    assert_int_equal(json_object_size(c->model_map), 0);
    cp_config_unref(c);
}

static void test_provider_options(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;
    const cp_provider_t *p;

    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"ds\":{\"baseURL\":\"https://api.deepseek.com\",\"reasoningModels\":"
               "[\"deepseek-reasoner\"],\"maxTokensField\":\"max_tokens\",\"reasoningEffort\":true,"
               "\"maxOutputTokens\":8192,\"connectTimeoutMs\":1500}},"
               "\"models\":{\"map\":{\"claude-*\":\"deepseek-chat@ds\"}}}");
    c = load(f);
    assert_non_null(c);
    p = cp_config_provider(c, "ds", 2);
    assert_int_equal(json_array_size(p->reasoning_models), 1);
    assert_int_equal(p->max_tokens_field, CP_MAXTOK_MAX_TOKENS);
    assert_int_equal(p->reasoning_effort, 1);
    assert_int_equal(p->max_output_tokens, 8192);
    assert_int_equal(p->connect_timeout_ms, 1500);
    assert_string_equal(json_string_value(json_object_get(c->model_map, "claude-*")), "deepseek-chat@ds");
    cp_config_unref(c);
}

static void test_layer_order(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;
    char path[1200], extra[1200];

    unit_write(f->home, ".ccproxy/settings.json",
               "{\"server\":{\"port\":1001,\"host\":\"10.0.0.1\",\"drainTimeoutSeconds\":5},"
               "\"models\":{\"smallModel\":\"h@openai\"},\"logging\":{\"level\":\"warn\"}}");
    write_trusted_cwd(f, "{\"server\":{\"port\":1002},\"logging\":{\"format\":\"text\"}}");
    c = load(f);
    assert_non_null(c);
    assert_int_equal(c->port, 1002);          /* cwd beats home */
    assert_string_equal(c->host, "10.0.0.1"); /* objects merge key by key */
    assert_int_equal(c->drain_timeout_s, 5);
    assert_string_equal(c->small_model, "h@openai");
    assert_int_equal(c->log_level, CP_LOG_WARN);
    assert_int_equal(c->log_format, CP_LOG_TEXT);
    snprintf(path, sizeof(path), "%s/.ccproxy/settings.json", f->cwd);
    assert_string_equal(src(c, "server.port"), path);
    snprintf(path, sizeof(path), "%s/.ccproxy/settings.json", f->home);
    assert_string_equal(src(c, "server.host"), path);
    assert_string_equal(src(c, "server.maxBodyBytes"), "default");
    cp_config_unref(c);

    /* managed beats cwd */
    unit_write(f->etc, "managed-settings.json", "{\"server\":{\"port\":1003}}");
    c = load(f);
    assert_int_equal(c->port, 1003);
    assert_string_equal(src(c, "server.port"), f->managed);
    cp_config_unref(c);

    /* env beats managed; CCPROXY_CONFIG file sits below the other env vars */
    snprintf(extra, sizeof(extra), "%s/extra.json", f->etc);
    unit_write(f->etc, "extra.json", "{\"server\":{\"port\":1004,\"host\":\"10.0.0.4\"}}");
    setenv("CCPROXY_CONFIG", extra, 1);
    c = load(f);
    assert_int_equal(c->port, 1004);
    assert_string_equal(c->host, "10.0.0.4");
    assert_string_equal(src(c, "server.port"), extra);
    cp_config_unref(c);
    setenv("CCPROXY_PORT", "1005", 1);
    setenv("CCPROXY_LOG_LEVEL", "debug", 1);
    c = load(f);
    assert_int_equal(c->port, 1005);
    assert_string_equal(src(c, "server.port"), "env CCPROXY_PORT");
    assert_int_equal(c->log_level, CP_LOG_DEBUG);
    cp_config_unref(c);

    /* flags beat env */
    f->o.flag_port = 1006;
    f->o.flag_host = "127.0.0.9";
    c = load(f);
    assert_int_equal(c->port, 1006);
    assert_string_equal(c->host, "127.0.0.9");
    assert_string_equal(src(c, "server.port"), "flag --port");
    assert_string_equal(src(c, "server.host"), "flag --host");
    cp_config_unref(c);
    /* --port 0 (any free port) given is a value, not "not given" */
    f->o.flag_port = 0;
    f->o.flag_port_set = 1;
    c = load(f);
    assert_int_equal(c->port, 0);
    assert_string_equal(src(c, "server.port"), "flag --port");
    cp_config_unref(c);
    f->o.flag_port_set = 0;
}

static void test_flag_config_and_debug(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;
    char path[1200];

    snprintf(path, sizeof(path), "%s/flag.json", f->etc);
    unit_write(f->etc, "flag.json", "{\"logging\":{\"level\":\"error\"},\"server\":{\"port\":2000}}");
    setenv("CCPROXY_PORT", "1999", 1);
    f->o.flag_config = path;
    c = load(f);
    assert_int_equal(c->port, 2000); /* --config is a command-line layer: above env */
    assert_int_equal(c->log_level, CP_LOG_ERROR);
    cp_config_unref(c);
    f->o.flag_debug = 1;
    c = load(f);
    assert_int_equal(c->log_level, CP_LOG_DEBUG);
    assert_string_equal(src(c, "logging.level"), "flag --debug");
    cp_config_unref(c);

    /* a --config file that does not exist is an error, unlike the optional layers */
    f->o.flag_config = "/nonexistent/ccproxy.json";
    assert_null(load(f));
    assert_non_null(strstr(f->e.msg, "/nonexistent/ccproxy.json: cannot read"));
}

static void test_invalid_json_names_line_and_column(void **state)
{
    fx_t *f = *state;
    char want[1300];

    unit_write(f->home, ".ccproxy/settings.json", "{\n  \"server\": {\n    \"port\": 8082,,\n  }\n}\n");
    assert_null(load(f));
    snprintf(want, sizeof(want), "%s/.ccproxy/settings.json:3:", f->home);
    assert_non_null(strstr(f->e.msg, want));
    assert_non_null(strstr(f->e.msg, "invalid JSON"));

    unit_write(f->home, ".ccproxy/settings.json", "[1,2]");
    assert_null(load(f));
    assert_non_null(strstr(f->e.msg, "expected a JSON object"));

    unit_write(f->home, ".ccproxy/settings.json", "{\"server\":{\"port\":1},\"server\":{}}");
    assert_null(load(f));
    assert_non_null(strstr(f->e.msg, "duplicate"));
}

/* A model name no route can hold (256 bytes or more) is refused when loading, not on every request. */
static void test_long_model_names_refused(void **state)
{
    fx_t *f = *state;
    char json[1200], m[300];
    cp_config_t *c;

    memset(m, 'm', 255);
    m[255] = '\0';
    snprintf(json, sizeof(json), "{\"models\":{\"bigModel\":\"%s@openai\"}}", m);
    unit_write(f->home, ".ccproxy/settings.json", json);
    c = load(f);
    assert_non_null(c); /* 255 bytes: fits */
    cp_config_unref(c);
    strcat(m, "m");
    snprintf(json, sizeof(json), "{\"models\":{\"map\":{\"x*\":\"%s@openai\"}}}", m);
    unit_write(f->home, ".ccproxy/settings.json", json);
    assert_null(load(f));
    assert_non_null(strstr(f->e.msg, "models.map"));
    assert_non_null(strstr(f->e.msg, "model name"));
    snprintf(json, sizeof(json), "{\"models\":{\"smallModel\":\"%s\"}}", m);
    unit_write(f->home, ".ccproxy/settings.json", json);
    assert_null(load(f));
    assert_non_null(strstr(f->e.msg, "models.smallModel"));
}

/* Each case: file text, expected substrings of the error. */
static void test_type_errors_name_path_and_expectation(void **state)
{
    fx_t *f = *state;
    static const struct {
        const char *json;
        const char *want1, *want2;
    } cases[] = {
        {"{\"server\":{\"port\":\"abc\"}}", "server.port: expected an integer from 0 to 65535",
         "got \"abc\""},
        {"{\"server\":{\"port\":70000}}", "server.port: expected an integer from 0 to 65535", "got 70000"},
        {"{\"server\":{\"port\":-1}}", "server.port: expected an integer from 0 to 65535", "got -1"},
        {"{\"server\":{\"port\":80.5}}", "server.port", "got 80.5"},
        {"{\"server\":[]}", "server: expected an object", "got an array"},
        {"{\"server\":{\"maxBodyBytes\":0}}", "server.maxBodyBytes: expected an integer from 1 ", "got 0"},
        {"{\"server\":{\"maxAnswerBytes\":1000}}", "server.maxAnswerBytes: expected an integer from 65536 ",
         "got 1000"},
        {"{\"server\":{\"maxAnswerBytes\":\"32M\"}}", "server.maxAnswerBytes", "got \"32M\""},
        {"{\"server\":{\"maxAnswerBytes\":99999999999999}}", "server.maxAnswerBytes", "got 99999999999999"},
        {"{\"server\":{\"maxAnswerBytes\":-1}}", "server.maxAnswerBytes", "got -1"},
        {"{\"providers\":{\"x\":{\"baseURL\":\"ftp://h\"}}}",
         "providers.x.baseURL: expected an http:// or https:// URL", "got \"ftp://h\""},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://\"}}}", "providers.x.baseURL", "http://"},
        {"{\"providers\":{\"x\":{\"baseURL\":\"https://a b\"}}}", "providers.x.baseURL", "a b"},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"responseStyle\":\"bogus\"}}}",
         "providers.x.responseStyle: expected \"openai\" or \"anthropic\"", "got \"bogus\""},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"headers\":{\"X-A\":5}}}}",
         "providers.x.headers.X-A", "got 5"},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"headers\":{\"X-A\":\"a\\r\\nB: c\"}}}}",
         "providers.x.headers.X-A", "line breaks"},
        {"{\"providers\":{\"x\":{\"responseStyle\":\"openai\"}}}", "providers.x.baseURL", "got nothing"},
        {"{\"providers\":{\"a@b\":{\"baseURL\":\"http://h\"}}}", "providers.a@b", "provider names"},
        {"{\"providers\":{\"x\":5}}", "providers.x: expected an object", "got 5"},
        {"{\"models\":{\"bigModel\":\"m@nosuch\"}}", "models.bigModel: provider \"nosuch\"",
         "configured: anthropic, gemini, openai, openrouter"},
        {"{\"models\":{\"smallModel\":\"\"}}", "models.smallModel: expected a model name", "got \"\""},
        {"{\"models\":{\"smallModel\":\"m@\"}}", "models.smallModel", "got \"m@\""},
        {"{\"models\":{\"preferredProvider\":\"nosuch\"}}", "models.preferredProvider: provider \"nosuch\"",
         "not configured"},
        {"{\"logging\":{\"level\":\"loud\"}}", "logging.level: expected one of", "got \"loud\""},
        {"{\"models\":{\"map\":[]}}", "models.map: expected an object", "got an array"},
        {"{\"models\":{\"map\":{\"claude-*\":5}}}", "models.map.claude-*: expected a model name", "got 5"},
        {"{\"models\":{\"map\":{\"claude-*\":\"m@nosuch\"}}}", "models.map.claude-*: provider \"nosuch\"",
         "not configured"},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"reasoningModels\":[\"\"]}}}",
         "providers.x.reasoningModels", "non-empty strings"},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"maxTokensField\":\"tokens\"}}}",
         "providers.x.maxTokensField", "got \"tokens\""},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"reasoningEffort\":\"yes\"}}}",
         "providers.x.reasoningEffort", "got \"yes\""},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"maxOutputTokens\":0}}}",
         "providers.x.maxOutputTokens", "got 0"},
        {"{\"logging\":{\"format\":\"xml\"}}", "logging.format: expected \"json\" or \"text\"",
         "got \"xml\""},
    };
    char file[1200];

    snprintf(file, sizeof(file), "%s/.ccproxy/settings.json: ", f->cwd);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_trusted_cwd(f, cases[i].json);
        if (load(f) != NULL)
            fail_msg("case %zu (%s) loaded", i, cases[i].json);
        if (strstr(f->e.msg, file) == NULL || strstr(f->e.msg, cases[i].want1) == NULL ||
            strstr(f->e.msg, cases[i].want2) == NULL)
            fail_msg("case %zu: message \"%s\" lacks \"%s\" / \"%s\" / \"%s\"", i, f->e.msg, file,
                     cases[i].want1, cases[i].want2);
    }
}

static void test_env_errors_name_the_variable(void **state)
{
    fx_t *f = *state;

    setenv("CCPROXY_PORT", "abc", 1);
    assert_null(load(f));
    assert_non_null(strstr(f->e.msg, "env CCPROXY_PORT: server.port: expected an integer from 0 to 65535"));
    assert_non_null(strstr(f->e.msg, "got \"abc\""));
    setenv("CCPROXY_PORT", "65536", 1);
    assert_null(load(f));
    unsetenv("CCPROXY_PORT");
    setenv("CCPROXY_LOG_LEVEL", "chatty", 1);
    assert_null(load(f));
    assert_non_null(strstr(f->e.msg, "env CCPROXY_LOG_LEVEL: logging.level"));
    unsetenv("CCPROXY_LOG_LEVEL");
    setenv("CCPROXY_CONFIG", "/nonexistent/x.json", 1);
    assert_null(load(f));
    assert_non_null(strstr(f->e.msg, "/nonexistent/x.json"));
}

static void test_unknown_keys_warn(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;

    unit_write(f->home, ".ccproxy/settings.json",
               "{\"$schema\":\"x\",\"server\":{\"colour\":\"red\"},\"extra\":1,"
               "\"providers\":{\"openai\":{\"region\":\"eu\"}}}");
    c = load(f);
    assert_non_null(c);
    assert_non_null(strstr(f->warnings, "unknown key server.colour"));
    assert_non_null(strstr(f->warnings, "unknown key extra"));
    assert_non_null(strstr(f->warnings, "unknown key providers.openai.region"));
    assert_null(strstr(f->warnings, "$schema"));
    cp_config_unref(c);
}

static void test_var_expansion(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;
    const cp_provider_t *p;

    setenv("CP_TEST_VAR", "sk-from-var", 1);
    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"local\":{\"baseURL\":\"${CP_UNSET_VAR:-http://127.0.0.1:11434}/v1\","
               "\"apiKey\":\"${CP_TEST_VAR}\",\"headers\":{\"X-Lit\":\"$${CP_TEST_VAR} $5\"}},"
               "\"openai\":{\"apiKey\":\"${CP_UNSET_VAR}\"}}}");
    c = load(f);
    assert_non_null(c);
    p = cp_config_provider(c, "local", 5);
    assert_string_equal(p->base_url, "http://127.0.0.1:11434/v1");
    assert_string_equal(p->api_key, "sk-from-var");
    assert_string_equal(json_string_value(json_object_get(p->headers, "X-Lit")), "${CP_TEST_VAR} $5");
    /* unset variable without default: empty, with a warning naming it */
    assert_null(cp_config_provider(c, "openai", 6)->api_key);
    assert_non_null(strstr(f->warnings, "CP_UNSET_VAR is not set"));
    assert_non_null(strstr(f->warnings, "providers.openai.apiKey"));
    cp_config_unref(c);

    /* expansion happens before validation */
    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"l\":{\"baseURL\":\"${CP_UNSET_VAR}\"}}}");
    assert_null(load(f));
    assert_non_null(strstr(f->e.msg, "providers.l.baseURL"));
}

static void test_api_key_from_env_and_redaction(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;
    json_t *dump;
    char *text;

    setenv("OPENAI_API_KEY", "sk-openai-secret", 1);
    setenv("MY_LOCAL_API_KEY", "sk-local-secret", 1);
    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"my-local\":{\"baseURL\":\"http://h/v1\"},"
               "\"anthropic\":{\"apiKey\":\"sk-file-secret\"}}}");
    c = load(f);
    assert_non_null(c);
    assert_string_equal(cp_config_provider(c, "openai", 6)->api_key, "sk-openai-secret");
    assert_string_equal(src(c, "providers.openai.apiKey"), "env OPENAI_API_KEY");
    assert_string_equal(cp_config_provider(c, "my-local", 8)->api_key, "sk-local-secret");
    assert_string_equal(cp_config_provider(c, "my-local", 8)->api_key_env, "MY_LOCAL_API_KEY");
    assert_string_equal(cp_config_provider(c, "anthropic", 9)->api_key, "sk-file-secret");
    assert_null(cp_config_provider(c, "gemini", 6)->api_key);
    dump = cp_config_dump(c);
    text = json_dumps(dump, JSON_COMPACT);
    assert_null(strstr(text, "secret"));
    assert_non_null(strstr(text, "\"apiKey\":\"<redacted>\""));
    assert_non_null(strstr(text, "\"providers.openai.apiKey\":\"env OPENAI_API_KEY\""));
    free(text);
    json_decref(dump);
    cp_config_unref(c);
}

/* Header values that look like credentials are redacted in `ccproxy config` and never quoted in a
 * config error (the hardening issue, item 7). */
static void test_secret_headers(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;
    json_t *dump;
    char *text;

    unit_write(
        f->home, ".ccproxy/settings.json",
        "{\"providers\":{\"relay\":{\"baseURL\":\"http://h/v1\",\"headers\":{"
        "\"Authorization\":\"Bearer hdr-secret-1\",\"X-Api-Key\":\"hdr-secret-2\","
        "\"x-org-token\":\"hdr-secret-3\",\"Cookie\":\"s=hdr-secret-4\",\"X-Title\":\"ccproxy e2e\"}}}}");
    c = load(f);
    assert_non_null(c);
    dump = cp_config_dump(c);
    text = json_dumps(dump, JSON_COMPACT);
    assert_null(strstr(text, "hdr-secret"));
    assert_non_null(strstr(text, "\"X-Title\":\"ccproxy e2e\"")); /* not a secret: shown */
    assert_non_null(strstr(text, "\"Authorization\":\"<redacted>\""));
    free(text);
    json_decref(dump);
    cp_config_unref(c);
    assert_true(cp_prov_header_secret("AUTHORIZATION"));
    assert_true(cp_prov_header_secret("x-goog-api-key"));
    assert_true(cp_prov_header_secret("X-Session-Id"));
    assert_false(cp_prov_header_secret("X-Title"));
    assert_false(cp_prov_header_secret("HTTP-Referer"));

    /* a bad header value: the error names the header and its length, never its text */
    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"relay\":{\"baseURL\":\"http://h/v1\",\"headers\":{"
               "\"Authorization\":\"Bearer hdr-secret-5\\r\\nX-Evil: 1\"}}}}");
    c = load(f);
    assert_null(c);
    assert_non_null(strstr(f->e.msg, "providers.relay.headers.Authorization"));
    assert_non_null(strstr(f->e.msg, "a string of 30 bytes"));
    assert_null(strstr(f->e.msg, "hdr-secret"));
}

/* providers.<name>.flavor: the OpenAI-style flavor (docs/configuration.md). Valid values load and
 * are kept as given; NULL when absent. */
static void test_flavor_valid(void **state)
{
    fx_t *f = *state;
    static const char *const values[] = {"generic", "openai", "gemini", "openrouter", "deepseek", "OpenAI"};
    cp_config_t *c;
    char text[512];

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        snprintf(
            text, sizeof(text),
            "{\"providers\":{\"corp\":{\"baseURL\":\"https://relay.corp.example/v1\",\"flavor\":\"%s\"}}}",
            values[i]);
        unit_write(f->home, ".ccproxy/settings.json", text);
        c = load(f);
        if (c == NULL)
            fail_msg("flavor %s: %s", values[i], f->e.msg);
        assert_string_equal(cp_config_provider(c, "corp", 4)->flavor, values[i]);
        assert_non_null(strstr(src(c, "providers.corp.flavor"), ".ccproxy/settings.json"));
        assert_null(cp_config_provider(c, "openai", 6)->flavor); /* not set: detect */
        assert_null(cp_config_provider(c, "anthropic", 9)->flavor);
        cp_config_unref(c);
    }

    /* a later layer may set it on a built-in provider; responseStyle may come from another layer */
    unit_write(f->home, ".ccproxy/settings.json", "{\"providers\":{\"openai\":{\"flavor\":\"generic\"}}}");
    write_trusted_cwd(f, "{\"providers\":{\"openai\":{\"baseURL\":\"http://127.0.0.1:8000/v1\"}}}");
    c = load(f);
    assert_non_null(c);
    assert_string_equal(cp_config_provider(c, "openai", 6)->flavor, "generic");
    assert_string_equal(cp_config_provider(c, "openai", 6)->base_url, "http://127.0.0.1:8000/v1");
    cp_config_unref(c);
}

/* Each case: file text, expected substrings of the error (which also names the file). */
static void test_flavor_errors(void **state)
{
    fx_t *f = *state;
    static const struct {
        const char *json;
        const char *want1, *want2;
    } cases[] = {
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"flavor\":\"azure\"}}}",
         "providers.x.flavor: expected one of \"generic\", \"openai\", \"gemini\", \"openrouter\" or "
         "\"deepseek\"",
         "got \"azure\""},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"flavor\":\"\"}}}",
         "providers.x.flavor: expected one of", "got \"\""},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"flavor\":\"openai \"}}}", "providers.x.flavor",
         "got \"openai \""},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"flavor\":5}}}",
         "providers.x.flavor: expected one of", "got 5"},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"flavor\":{\"name\":\"openai\"}}}}",
         "providers.x.flavor: expected one of", "got an object"},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"flavor\":[\"openai\"]}}}",
         "providers.x.flavor: expected one of", "got an array"},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"flavor\":null}}}", "providers.x.flavor",
         "got null"},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"flavor\":true}}}", "providers.x.flavor",
         "got true"},
        {"{\"providers\":{\"x\":{\"baseURL\":\"http://"
         "h\",\"responseStyle\":\"anthropic\",\"flavor\":\"openai\"}}}",
         "providers.x.flavor: applies to responseStyle \"openai\" only", ""},
        {"{\"providers\":{\"anthropic\":{\"flavor\":\"generic\"}}}",
         "providers.anthropic.flavor: applies to responseStyle \"openai\" only", ""},
    };
    char file[1200];

    snprintf(file, sizeof(file), "%s/.ccproxy/settings.json: ", f->cwd);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_trusted_cwd(f, cases[i].json);
        if (load(f) != NULL)
            fail_msg("case %zu (%s) loaded", i, cases[i].json);
        if (strstr(f->e.msg, file) == NULL || strstr(f->e.msg, cases[i].want1) == NULL ||
            strstr(f->e.msg, cases[i].want2) == NULL)
            fail_msg("case %zu: message \"%s\" lacks \"%s\" / \"%s\" / \"%s\"", i, f->e.msg, file,
                     cases[i].want1, cases[i].want2);
    }
}

/* A 100 KB flavor string is refused with a bounded message. */
static void test_flavor_huge(void **state)
{
    fx_t *f = *state;
    size_t n = 100 * 1024;
    char *text = malloc(n + 128), *p;

    p = text + sprintf(text, "{\"providers\":{\"x\":{\"baseURL\":\"http://h\",\"flavor\":\"");
    memset(p, 'o', n);
    strcpy(p + n, "\"}}}");
    write_trusted_cwd(f, text);
    assert_null(load(f));
    assert_non_null(strstr(f->e.msg, "providers.x.flavor: expected one of"));
    assert_non_null(strstr(f->e.msg, "got \"oooo"));
    assert_non_null(strstr(f->e.msg, "...\"")); /* cut */
    assert_true(strlen(f->e.msg) < 400);
    free(text);
}

static void test_refcount_snapshot(void **state)
{
    fx_t *f = *state;
    cp_config_t *c = load(f);
    cp_config_t *held = cp_config_ref(c);

    assert_int_equal(c->refs, 2);
    cp_config_unref(c);
    assert_string_equal(held->big_model, "gpt-4@openai"); /* still valid for the holder */
    cp_config_unref(held);
    cp_config_unref(NULL);
}

static void test_base_url_trailing_slash_trimmed(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;

    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"openai\":{\"baseURL\":\"https://h/v1//\"}}}");
    c = load(f);
    assert_string_equal(cp_config_provider(c, "openai", 6)->base_url, "https://h/v1");
    cp_config_unref(c);
}

/* The shell's rules (the hardening issue, item 11): ${VAR:-fallback} takes the fallback when VAR is
 * set but empty, not only when unset; two references in one string are both expanded. */
static void test_var_expansion_edges(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;
    const cp_provider_t *p;

    setenv("CP_TEST_VAR", "", 1);
    setenv("MY_LOCAL_API_KEY", "sk-a", 1);
    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"local\":{\"baseURL\":\"${CP_TEST_VAR:-http://127.0.0.1:9}/v1\","
               "\"headers\":{\"X-Two\":\"${MY_LOCAL_API_KEY}-${CP_UNSET_VAR:-b}-${MY_LOCAL_API_KEY}\","
               "\"X-Empty\":\"[${CP_TEST_VAR}]\"}}}}");
    c = load(f);
    assert_non_null(c);
    p = cp_config_provider(c, "local", 5);
    assert_string_equal(p->base_url, "http://127.0.0.1:9/v1"); /* set but empty: the fallback */
    assert_string_equal(json_string_value(json_object_get(p->headers, "X-Two")), "sk-a-b-sk-a");
    assert_string_equal(json_string_value(json_object_get(p->headers, "X-Empty")), "[]");
    assert_non_null(strstr(f->warnings, "CP_TEST_VAR is not set")); /* empty without a fallback: warned */
    cp_config_unref(c);
}

/* In $HOME, ./.ccproxy/settings.json is the user's own file: read once, as layer 2, with no warning
 * about trust (the hardening issue, item 11). */
static void test_cwd_is_home(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;
    char path[1200];

    unit_write(f->home, ".ccproxy/settings.json", "{\"server\":{\"port\":1201}}");
    f->o.cwd = f->home;
    c = load(f);
    assert_non_null(c);
    assert_int_equal(c->port, 1201);
    snprintf(path, sizeof(path), "%s/.ccproxy/settings.json", f->home);
    assert_string_equal(src(c, "server.port"), path);
    assert_string_equal(json_string_value(json_object_get(c->layers, path)), "user");
    assert_int_equal(c->project_state, CP_PROJECT_NONE);
    assert_string_equal(f->warnings, "");
    cp_config_unref(c);
}

/* providers.<name>.proxy: a URL, "" (no proxy), or absent (libcurl's default); hostile values are
 * refused without quoting them (a proxy URL may carry a password); `ccproxy config` hides the password. */
static void test_proxy_key(void **state)
{
    fx_t *f = *state;
    static const char *const bad[] = {
        "{\"providers\":{\"openai\":{\"proxy\":5}}}",
        "{\"providers\":{\"openai\":{\"proxy\":\"ftp://u:pw-SECRET@h:21\"}}}",
        "{\"providers\":{\"openai\":{\"proxy\":\"http://u:pw-SECRET@\"}}}",
        "{\"providers\":{\"openai\":{\"proxy\":\"http://u:pw-SECRET@h x\"}}}",
        "{\"providers\":{\"openai\":{\"proxy\":\"h:3128\"}}}",
        "{\"providers\":{\"openai\":{\"proxy\":null}}}",
    };
    cp_config_t *c;
    json_t *dump;
    char *text;

    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"openai\":{\"proxy\":\"http://user:pw-SECRET@127.0.0.1:3128\"},"
               "\"gemini\":{\"proxy\":\"\"},\"openrouter\":{\"proxy\":\"socks5h://[::1]:1080\"}}}");
    c = load(f);
    assert_non_null(c);
    assert_string_equal(cp_config_provider(c, "openai", 6)->proxy, "http://user:pw-SECRET@127.0.0.1:3128");
    assert_string_equal(cp_config_provider(c, "gemini", 6)->proxy, "");
    assert_string_equal(cp_config_provider(c, "openrouter", 10)->proxy, "socks5h://[::1]:1080");
    assert_null(cp_config_provider(c, "anthropic", 9)->proxy);
    dump = cp_config_dump(c);
    text = json_dumps(dump, JSON_COMPACT);
    assert_null(strstr(text, "pw-SECRET"));
    assert_non_null(strstr(text, "\"proxy\":\"http://<redacted>@127.0.0.1:3128\""));
    free(text);
    json_decref(dump);
    cp_config_unref(c);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unit_write(f->home, ".ccproxy/settings.json", bad[i]);
        if (load(f) != NULL)
            fail_msg("case %zu (%s) loaded", i, bad[i]);
        if (strstr(f->e.msg, "providers.openai.proxy: expected \"\" (no proxy) or a proxy URL") == NULL ||
            strstr(f->e.msg, "pw-SECRET") != NULL)
            fail_msg("case %zu: message \"%s\"", i, f->e.msg);
    }
}

/* A key sent over http:// to another machine: one warning naming the provider, never the key. */
static void test_plain_http_key_warning(void **state)
{
    fx_t *f = *state;
    static const struct {
        const char *url;
        int warns;
    } cases[] = {
        {"http://10.1.2.3:8000/v1", 1},          {"http://llm.corp.example/v1", 1},
        {"http://127.0.0.1:8000/v1", 0},         {"http://127.9.9.9/v1", 0},
        {"http://localhost:11434/v1", 0},        {"http://[::1]:8000/v1", 0},
        {"http://u:p@localhost/v1", 0},          {"https://10.1.2.3/v1", 0},
        {"http://localhost.evil.example/v1", 1}, {"http://127.0.0.1.nip.io/v1", 1},
    };
    char text[512];
    cp_config_t *c;

    setenv("MY_LOCAL_API_KEY", "sk-plain-SECRET", 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "{\"providers\":{\"my-local\":{\"baseURL\":\"%s\"}}}", cases[i].url);
        unit_write(f->home, ".ccproxy/settings.json", text);
        c = load(f);
        assert_non_null(c);
        if ((strstr(f->warnings, "providers.my-local: its API key would cross the network unencrypted") !=
             NULL) != cases[i].warns)
            fail_msg("case %zu (%s): warnings \"%s\"", i, cases[i].url, f->warnings);
        assert_null(strstr(f->warnings, "sk-plain-SECRET"));
        cp_config_unref(c);
    }
    unsetenv("MY_LOCAL_API_KEY"); /* no key: nothing to protect, no warning */
    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"my-local\":{\"baseURL\":\"http://10.1.2.3\"}}}");
    c = load(f);
    assert_non_null(c);
    assert_string_equal(f->warnings, "");
    cp_config_unref(c);
}

/* A file holding a key in clear that group or others may read: a warning naming it and chmod 600. A
 * file that only names a variable holds no secret and gets none. */
static void test_readable_key_file_warning(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;
    char path[1200];

    snprintf(path, sizeof(path), "%s/.ccproxy/settings.json", f->home);
    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"openai\":{\"apiKey\":\"sk-file-SECRET\"}}}");
    assert_int_equal(chmod(path, 0644), 0);
    c = load(f);
    assert_non_null(c);
    assert_non_null(strstr(f->warnings, path));
    assert_non_null(
        strstr(f->warnings, "holds an API key (providers.openai.apiKey) and other users can read it"));
    assert_non_null(strstr(f->warnings, "(mode 0644); run: chmod 600"));
    assert_null(strstr(f->warnings, "sk-file-SECRET"));
    cp_config_unref(c);

    assert_int_equal(chmod(path, 0640), 0); /* group only: still readable by others than you */
    c = load(f);
    assert_non_null(strstr(f->warnings, "(mode 0640)"));
    cp_config_unref(c);

    assert_int_equal(chmod(path, 0600), 0);
    c = load(f);
    assert_string_equal(f->warnings, "");
    cp_config_unref(c);

    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"openai\":{\"apiKey\":\"${CP_TEST_VAR}\"}}}");
    setenv("CP_TEST_VAR", "sk-env", 1);
    assert_int_equal(chmod(path, 0644), 0);
    c = load(f);
    assert_string_equal(f->warnings, "");
    cp_config_unref(c);

    /* a fallback written in the file is a key in the file */
    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"openai\":{\"apiKey\":\"${CP_UNSET_VAR:-sk-fallback}\"}}}");
    assert_int_equal(chmod(path, 0604), 0);
    c = load(f);
    assert_non_null(strstr(f->warnings, "(mode 0604)"));
    cp_config_unref(c);
}

/* auth, prices, ledger and client (docs/team.md): typed, and every bad value named with its file. */
static void test_team_sections(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;
    char path[1200];
    json_t *dump; /* owned */

    unsetenv("STATE_DIRECTORY");
    unit_write(f->home, ".ccproxy/settings.json",
               "{\"auth\": {\"keys\": [{\"name\": \"alice\", \"sha256\": "
               "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\", \"rpm\": 5}]},"
               " \"prices\": {\"my-model@local\": {\"input\": 1, \"output\": 2}},"
               " \"ledger\": {\"flushMs\": 100, \"queueRows\": 1000},"
               " \"client\": {\"url\": \"https://team.example:8082\", \"key\": \"ccp_secret_value\"}}");
    c = load(f);
    assert_non_null(c);
    assert_int_equal(c->auth->n, 1);
    assert_string_equal(c->auth->keys[0].name, "alice");
    assert_int_equal(c->auth->keys[0].lim.rpm, 5);
    assert_true(c->ledger_enabled);
    assert_int_equal(c->ledger_flush_ms, 100);
    assert_int_equal(c->ledger_batch_rows, 500);
    assert_int_equal(c->ledger_queue_rows, 1000);
    snprintf(path, sizeof(path), "%s/.ccproxy/usage.db", f->home);
    assert_string_equal(c->ledger_path, path);
    assert_string_equal(c->client_url, "https://team.example:8082");
    assert_string_equal(c->client_key, "ccp_secret_value");
    dump = cp_config_dump(c);
    {
        char *text = json_dumps(dump, 0);
        assert_null(strstr(text, "ccp_secret_value")); /* `ccproxy config` never shows the client key */
        free(text);
    }
    json_decref(dump);
    cp_config_unref(c);

    /* the service: systemd's StateDirectory (the first of a list); the key from keyEnv */
    setenv("STATE_DIRECTORY", "/var/lib/ccproxy:/var/lib/other", 1);
    setenv("CP_TEST_VAR", "ccp_from_env", 1);
    unit_write(f->home, ".ccproxy/settings.json", "{\"client\": {\"keyEnv\": \"CP_TEST_VAR\"}}");
    c = load(f);
    assert_non_null(c);
    assert_string_equal(c->ledger_path, "/var/lib/ccproxy/usage.db");
    assert_string_equal(c->client_key, "ccp_from_env");
    assert_null(c->client_url);
    assert_int_equal(cp_auth_mode(c->auth), CP_AUTH_LOOPBACK);
    cp_config_unref(c);
    unsetenv("STATE_DIRECTORY");
    unsetenv("CP_TEST_VAR");
}

static void test_team_errors(void **state)
{
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{\"auth\": {\"keys\": {}}}", "auth.keys: expected an array of keys"},
        {"{\"auth\": {\"keys\": [{\"name\": \"a\", \"sha256\": \"00\"}]}}", "auth.keys[0].sha256"},
        {"{\"auth\": {\"keys\": [{\"name\": \"a\", \"sha256\": "
         "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\", \"rpm\": \"lots\"}]}}",
         "auth.keys[0].rpm: expected an integer"},
        {"{\"auth\": {\"allowUnauthenticated\": \"yes\"}}",
         "auth.allowUnauthenticated: expected true or false"},
        {"{\"auth\": []}", "auth: expected an object"},
        {"{\"prices\": []}", "prices"},
        {"{\"prices\": {\"gpt-x\": {\"input\": 1, \"ouput\": 2}}}", "prices.gpt-x"},
        {"{\"ledger\": {\"enabled\": 1}}", "ledger.enabled: expected true or false"},
        {"{\"ledger\": {\"path\": \"\"}}", "ledger.path: expected a non-empty string"},
        {"{\"ledger\": {\"flushMs\": 0}}", "ledger.flushMs: expected an integer from 10 to 60000"},
        {"{\"ledger\": {\"queueRows\": 99999999999}}", "ledger.queueRows"},
        {"{\"client\": {\"url\": \"ftp://x\"}}", "client.url: expected an http:// or https:// URL"},
        {"{\"client\": {\"key\": 42}}", "client.key: expected a non-empty string"},
        {"{\"client\": {\"keyEnv\": \"\"}}", "client.keyEnv"},
    };
    fx_t *f = *state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cp_config_t *c;
        unit_write(f->home, ".ccproxy/settings.json", bad[i].json);
        c = load(f);
        if (c != NULL)
            fail_msg("loaded %s", bad[i].json);
        if (strstr(f->e.msg, bad[i].want) == NULL || strstr(f->e.msg, "settings.json") == NULL)
            fail_msg("for %s: \"%s\" lacks \"%s\" or the file", bad[i].json, f->e.msg, bad[i].want);
    }
}

/* The settings of docs/resilience.md when none are given: one candidate per rule, no key pool, the
 * default failover statuses, the breaker's defaults. */
static void test_resilience_defaults(void **state)
{
    static const long on[] = {408, 409, 429, 500, 502, 503, 504, 529};
    static const long off[] = {399, 400, 401, 403, 404, 413, 422, 501, 505, 528, 530, 599, 600, 655, 656};
    fx_t *f = *state;
    cp_config_t *c = load(f);

    assert_non_null(c);
    assert_int_equal(json_array_size(c->big_models), 1);
    assert_string_equal(json_string_value(json_array_get(c->big_models, 0)), "gpt-4@openai");
    assert_int_equal(json_array_size(c->small_models), 1);
    assert_string_equal(json_string_value(json_array_get(c->small_models, 0)), "gpt-4-mini@openai");
    assert_non_null(c->context_fallbacks);
    assert_int_equal(json_object_size(c->context_fallbacks), 0);
    assert_int_equal(json_object_size(c->fallbacks), 0);
    for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++)
        if (!cp_config_failover(c, on[i]))
            fail_msg("status %ld should hand over by default", on[i]);
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
        if (cp_config_failover(c, off[i]))
            fail_msg("status %ld should not hand over by default", off[i]);
    assert_int_equal(c->breaker_failures, 5);
    assert_true(c->breaker_rate == 0.5);
    assert_int_equal(c->breaker_window_s, 60);
    assert_int_equal(c->breaker_min_requests, 10);
    assert_int_equal(c->breaker_cooldown_s, 30);
    assert_int_equal(c->retry_max_wait_s, 10);
    assert_int_equal(c->retry_max_attempts, 3);
    for (size_t i = 0; i < c->nproviders; i++) {
        assert_int_equal(c->providers[i].fallback_first_byte_timeout_ms, 30000);
        assert_int_equal(c->providers[i].nkeys, 0);
        assert_null(c->providers[i].api_key);
    }
    cp_config_unref(c);
}

/* Good values of every resilience key land in their fields; arrays stay in file order. */
static void test_resilience_values(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;
    const json_t *v;

    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"openai\":{\"fallbackFirstByteTimeoutMs\":5000},"
               "\"local\":{\"baseURL\":\"http://127.0.0.1:1/v1\",\"fallbackFirstByteTimeoutMs\":3600000}},"
               "\"models\":{\"bigModel\":[\"a@openai\",\"b\",\"c@local\",\"a@openai\"],"
               "\"smallModel\":[\"s@local\"],"
               "\"map\":{\"x-*\":[\"m1@local\",\"m2\"],\"y-*\":\"m3@gemini\"},"
               "\"contextFallbacks\":{\"a@openai\":[\"long@gemini\",\"l2\"],\"b\":[\"l3@local\"]}},"
               "\"retry\":{\"failoverStatuses\":[429,503,599,400]},"
               "\"breaker\":{\"failures\":0,\"failureRate\":0.25,\"windowSeconds\":3600,\"minRequests\":1,"
               "\"cooldownSeconds\":1}}");
    c = load(f);
    if (c == NULL)
        fail_msg("%s", f->e.msg);
    assert_int_equal(cp_config_provider(c, "openai", 6)->fallback_first_byte_timeout_ms, 5000);
    assert_int_equal(cp_config_provider(c, "local", 5)->fallback_first_byte_timeout_ms, 3600000);
    assert_int_equal(cp_config_provider(c, "gemini", 6)->fallback_first_byte_timeout_ms, 30000);
    assert_int_equal(json_array_size(c->big_models), 4); /* as given: repeats are the route's business */
    assert_string_equal(c->big_model, "a@openai");       /* the first, for every other user of it */
    assert_string_equal(json_string_value(json_array_get(c->big_models, 1)), "b");
    assert_string_equal(json_string_value(json_array_get(c->big_models, 2)), "c@local");
    assert_string_equal(c->small_model, "s@local");
    assert_int_equal(json_array_size(c->small_models), 1);
    v = json_object_get(c->model_map, "x-*"); /* a map value is kept as given */
    assert_true(json_is_array(v));
    assert_int_equal(json_array_size(v), 2);
    assert_string_equal(json_string_value(json_array_get(v, 1)), "m2");
    assert_string_equal(json_string_value(json_object_get(c->model_map, "y-*")), "m3@gemini");
    v = json_object_get(c->context_fallbacks, "a@openai"); /* made whole, as models.fallbacks */
    assert_int_equal(json_array_size(v), 2);
    assert_string_equal(json_string_value(json_array_get(v, 0)), "long@gemini");
    assert_string_equal(json_string_value(json_array_get(v, 1)), "l2@openai");
    v = json_object_get(c->context_fallbacks, "b@openai"); /* the key too */
    assert_string_equal(json_string_value(json_array_get(v, 0)), "l3@local");
    assert_true(cp_config_failover(c, 429) && cp_config_failover(c, 503) && cp_config_failover(c, 599) &&
                cp_config_failover(c, 400));
    assert_false(cp_config_failover(c, 500) || cp_config_failover(c, 529) || cp_config_failover(c, 408));
    assert_int_equal(c->breaker_failures, 0);
    assert_true(c->breaker_rate == 0.25);
    assert_int_equal(c->breaker_window_s, 3600);
    assert_int_equal(c->breaker_min_requests, 1);
    assert_int_equal(c->breaker_cooldown_s, 1);
    cp_config_unref(c);

    /* failureRate: an integer is a number too, at both ends of the range */
    unit_write(f->home, ".ccproxy/settings.json", "{\"breaker\":{\"failureRate\":1}}");
    c = load(f);
    assert_non_null(c);
    assert_true(c->breaker_rate == 1.0);
    cp_config_unref(c);
    unit_write(f->home, ".ccproxy/settings.json", "{\"breaker\":{\"failureRate\":0}}");
    c = load(f);
    assert_non_null(c);
    assert_true(c->breaker_rate == 0.0);
    cp_config_unref(c);
}

/* Hostile values of every resilience key: refused, the message naming the file, the path and what was
 * expected, never quoting a key. */
static void test_resilience_errors(void **state)
{
    static const struct {
        const char *json, *want1, *want2;
    } bad[] = {
        {"{\"providers\":{\"openai\":{\"apiKeys\":\"sk-SECRET\"}}}",
         "providers.openai.apiKeys: expected an array of 1 to 16 API keys", "got a string"},
        {"{\"providers\":{\"openai\":{\"apiKeys\":[]}}}", "providers.openai.apiKeys: expected an array",
         "got an array of 0"},
        {"{\"providers\":{\"openai\":{\"apiKeys\":{}}}}", "providers.openai.apiKeys: expected an array",
         "got an object"},
        {"{\"providers\":{\"openai\":{\"apiKeys\":[\"sk-SECRET\",\"\"]}}}", "providers.openai.apiKeys[1]",
         "expected an API key (a non-empty string), got \"\""},
        {"{\"providers\":{\"openai\":{\"apiKeys\":[\"sk-SECRET\",5]}}}",
         "providers.openai.apiKeys[1]: expected an API key", "got 5"},
        {"{\"providers\":{\"openai\":{\"apiKeys\":[null]}}}", "providers.openai.apiKeys[0]", "got null"},
        {"{\"providers\":{\"openai\":{\"apiKeys\":[[\"sk-SECRET\"]]}}}", "providers.openai.apiKeys[0]",
         "got an array"},
        {"{\"providers\":{\"openai\":{\"fallbackFirstByteTimeoutMs\":0}}}",
         "providers.openai.fallbackFirstByteTimeoutMs: expected an integer from 1 to 3600000", "got 0"},
        {"{\"providers\":{\"openai\":{\"fallbackFirstByteTimeoutMs\":3600001}}}",
         "providers.openai.fallbackFirstByteTimeoutMs", "got 3600001"},
        {"{\"providers\":{\"openai\":{\"fallbackFirstByteTimeoutMs\":\"30000\"}}}",
         "providers.openai.fallbackFirstByteTimeoutMs", "got \"30000\""},
        {"{\"models\":{\"bigModel\":[]}}", "models.bigModel: expected a model name", "got an array of 0"},
        {"{\"models\":{\"bigModel\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}}",
         "models.bigModel: expected a model name", "or an array of 1 to 8 of them, got an array of 9"},
        {"{\"models\":{\"bigModel\":[\"a@openai\",\"\"]}}", "models.bigModel: expected a model name",
         "got an array of 2"},
        {"{\"models\":{\"bigModel\":[\"a@openai\",5]}}", "models.bigModel: expected", "got an array"},
        {"{\"models\":{\"bigModel\":[\"a@openai\",\"m@\"]}}", "models.bigModel: expected", "got an array"},
        {"{\"models\":{\"bigModel\":[\"a@openai\",\"b@nosuch\"]}}",
         "models.bigModel: provider \"nosuch\" in \"b@nosuch\"", "not configured"},
        {"{\"models\":{\"smallModel\":[\"x@nosuch\"]}}", "models.smallModel: provider \"nosuch\"",
         "not configured"},
        {"{\"models\":{\"smallModel\":{}}}", "models.smallModel: expected a model name", "got an object"},
        {"{\"models\":{\"smallModel\":true}}", "models.smallModel: expected a model name", "got true"},
        {"{\"models\":{\"map\":{\"x*\":[]}}}", "models.map.x*: expected a model name", "got an array"},
        {"{\"models\":{\"map\":{\"x*\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}}}",
         "models.map.x*: expected a model name", "or an array of 1 to 8 of them"},
        {"{\"models\":{\"map\":{\"x*\":[\"a@openai\",\"b@nosuch\"]}}}", "models.map.x*: provider \"nosuch\"",
         "not configured"},
        {"{\"models\":{\"contextFallbacks\":[]}}", "models.contextFallbacks: expected an object",
         "got an array"},
        {"{\"models\":{\"contextFallbacks\":{\"a@openai\":[]}}}",
         "models.contextFallbacks.a@openai: expected a model name as the key and an array of 1 to 7",
         "got an array"},
        {"{\"models\":{\"contextFallbacks\":{\"a@openai\":\"b@gemini\"}}}",
         "models.contextFallbacks.a@openai", "got \"b@gemini\""},
        {"{\"models\":{\"contextFallbacks\":{\"a@openai\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\"]}}"
         "}",
         "models.contextFallbacks.a@openai", "array of 1 to 7"},
        {"{\"models\":{\"contextFallbacks\":{\"a@openai\":[\"b@gemini\",\"\"]}}}",
         "models.contextFallbacks.a@openai", "array of 1 to 7"},
        {"{\"models\":{\"contextFallbacks\":{\"a@openai\":[\"b@nosuch\"]}}}",
         "models.contextFallbacks.a@openai: provider \"nosuch\"", "not configured"},
        {"{\"models\":{\"contextFallbacks\":{\"a@nosuch\":[\"b\"]}}}",
         "models.contextFallbacks.a@nosuch: provider \"nosuch\"", "not configured"},
        {"{\"retry\":{\"failoverStatuses\":429}}",
         "retry.failoverStatuses: expected an array of 1 to 32 HTTP statuses", "got 429"},
        {"{\"retry\":{\"failoverStatuses\":[]}}", "retry.failoverStatuses: expected an array",
         "got an array of 0"},
        {"{\"retry\":{\"failoverStatuses\":[399]}}",
         "retry.failoverStatuses[0]: expected an HTTP status, an integer from 400 to 599", "got 399"},
        {"{\"retry\":{\"failoverStatuses\":[429,600]}}", "retry.failoverStatuses[1]", "got 600"},
        {"{\"retry\":{\"failoverStatuses\":[\"429\"]}}", "retry.failoverStatuses[0]", "got \"429\""},
        {"{\"retry\":{\"failoverStatuses\":[4.5]}}", "retry.failoverStatuses[0]", "got 4.5"},
        {"{\"retry\":{\"failoverStatuses\":[429.0]}}", "retry.failoverStatuses[0]", "got 429"},
        {"{\"retry\":{\"failoverStatuses\":[true]}}", "retry.failoverStatuses[0]", "got true"},
        {"{\"retry\":{\"failoverStatuses\":[-429]}}", "retry.failoverStatuses[0]", "got -429"},
        {"{\"retry\":{\"failoverStatuses\":[429,503,429]}}", "retry.failoverStatuses[2]: 429 is listed twice",
         "settings.json"},
        {"{\"breaker\":[]}", "breaker: expected an object", "got an array"},
        {"{\"breaker\":{\"failureRate\":1.5}}", "breaker.failureRate: expected a number from 0 to 1",
         "got 1.5"},
        {"{\"breaker\":{\"failureRate\":-0.1}}", "breaker.failureRate", "got -0.1"},
        {"{\"breaker\":{\"failureRate\":\"0.5\"}}", "breaker.failureRate", "got \"0.5\""},
        {"{\"breaker\":{\"failureRate\":true}}", "breaker.failureRate", "got true"},
        {"{\"breaker\":{\"failureRate\":null}}", "breaker.failureRate", "got null"},
        {"{\"breaker\":{\"failureRate\":1e308}}", "breaker.failureRate", "got 1e+308"},
        {"{\"breaker\":{\"failures\":1001}}", "breaker.failures: expected an integer from 0 to 1000",
         "got 1001"},
        {"{\"breaker\":{\"failures\":-1}}", "breaker.failures", "got -1"},
        {"{\"breaker\":{\"failures\":0.5}}", "breaker.failures", "got 0.5"},
        {"{\"breaker\":{\"windowSeconds\":0}}", "breaker.windowSeconds: expected an integer from 1 to 3600",
         "got 0"},
        {"{\"breaker\":{\"windowSeconds\":3601}}", "breaker.windowSeconds", "got 3601"},
        {"{\"breaker\":{\"minRequests\":0}}", "breaker.minRequests: expected an integer from 1 to 100000",
         "got 0"},
        {"{\"breaker\":{\"minRequests\":100001}}", "breaker.minRequests", "got 100001"},
        {"{\"breaker\":{\"cooldownSeconds\":0}}",
         "breaker.cooldownSeconds: expected an integer from 1 to 3600", "got 0"},
        {"{\"breaker\":{\"cooldownSeconds\":\"30\"}}", "breaker.cooldownSeconds", "got \"30\""},
    };
    fx_t *f = *state;
    char file[1200];

    snprintf(file, sizeof(file), "%s/.ccproxy/settings.json: ", f->home);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unit_write(f->home, ".ccproxy/settings.json", bad[i].json);
        if (load(f) != NULL)
            fail_msg("case %zu (%s) loaded", i, bad[i].json);
        if (strstr(f->e.msg, file) == NULL || strstr(f->e.msg, bad[i].want1) == NULL ||
            strstr(f->e.msg, bad[i].want2) == NULL || strstr(f->e.msg, "SECRET") != NULL)
            fail_msg("case %zu (%s): message \"%s\" lacks \"%s\" / \"%s\"", i, bad[i].json, f->e.msg,
                     bad[i].want1, bad[i].want2);
    }
}

/* Arrays at their largest: 16 keys, 8 names, 7 context fallbacks, 32 statuses; one more is refused. */
static void test_resilience_limits(void **state)
{
    fx_t *f = *state;
    char json[4096];
    size_t len;
    cp_config_t *c;

    len = (size_t)snprintf(json, sizeof(json), "{\"providers\":{\"openai\":{\"apiKeys\":[");
    for (int i = 0; i < 16; i++)
        len += (size_t)snprintf(json + len, sizeof(json) - len, "%s\"sk-%02d\"", i ? "," : "", i);
    len += (size_t)snprintf(json + len, sizeof(json) - len, "]}},\"retry\":{\"failoverStatuses\":[");
    for (int i = 0; i < 32; i++)
        len += (size_t)snprintf(json + len, sizeof(json) - len, "%s%d", i ? "," : "", 568 + i);
    snprintf(json + len, sizeof(json) - len,
             "]},\"models\":{\"bigModel\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\"],"
             "\"contextFallbacks\":{\"1\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\"]}}}");
    unit_write(f->home, ".ccproxy/settings.json", json);
    c = load(f);
    if (c == NULL)
        fail_msg("%s", f->e.msg);
    assert_int_equal(cp_config_provider(c, "openai", 6)->nkeys, 16);
    assert_string_equal(cp_config_provider(c, "openai", 6)->keys[15], "sk-15");
    assert_int_equal(json_array_size(c->big_models), 8);
    assert_true(cp_config_failover(c, 599) && cp_config_failover(c, 568));
    assert_false(cp_config_failover(c, 567));
    cp_config_unref(c);

    /* 17 keys */
    json[0] = '\0';
    len = (size_t)snprintf(json, sizeof(json), "{\"providers\":{\"openai\":{\"apiKeys\":[");
    for (int i = 0; i < 17; i++)
        len += (size_t)snprintf(json + len, sizeof(json) - len, "%s\"sk-SECRET-%02d\"", i ? "," : "", i);
    snprintf(json + len, sizeof(json) - len, "]}}}");
    unit_write(f->home, ".ccproxy/settings.json", json);
    assert_null(load(f));
    assert_non_null(strstr(f->e.msg, "providers.openai.apiKeys: expected an array of 1 to 16 API keys"));
    assert_non_null(strstr(f->e.msg, "got an array of 17"));
    assert_null(strstr(f->e.msg, "SECRET"));

    /* 33 statuses, all distinct and in range */
    len = (size_t)snprintf(json, sizeof(json), "{\"retry\":{\"failoverStatuses\":[");
    for (int i = 0; i < 33; i++)
        len += (size_t)snprintf(json + len, sizeof(json) - len, "%s%d", i ? "," : "", 500 + i);
    snprintf(json + len, sizeof(json) - len, "]}}");
    unit_write(f->home, ".ccproxy/settings.json", json);
    assert_null(load(f));
    assert_non_null(strstr(f->e.msg, "retry.failoverStatuses: expected an array of 1 to 32"));
    assert_non_null(strstr(f->e.msg, "got an array of 33"));

    /* a huge array of names */
    len = (size_t)snprintf(json, sizeof(json), "{\"models\":{\"smallModel\":[");
    for (int i = 0; i < 500; i++)
        len += (size_t)snprintf(json + len, sizeof(json) - len, "%s\"m\"", i ? "," : "");
    snprintf(json + len, sizeof(json) - len, "]}}");
    unit_write(f->home, ".ccproxy/settings.json", json);
    assert_null(load(f));
    assert_non_null(strstr(f->e.msg, "models.smallModel: expected a model name"));
    assert_non_null(strstr(f->e.msg, "got an array of 500"));
}

/* providers.<name>.apiKeys: the pool is apiKey (or <NAME>_API_KEY), then apiKeys in order, repeats and
 * unset variables left out (the latter with apiKey's warning); api_key is the first. */
static void test_key_pool(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;
    const cp_provider_t *p;
    const char *sec[CP_PROV_SECRETS_MAX];
    size_t n;

    setenv("CP_TEST_VAR", "sk-pool-a", 1);
    setenv("MY_LOCAL_API_KEY", "sk-pool-env", 1);
    unit_write(
        f->home, ".ccproxy/settings.json",
        "{\"providers\":{\"openai\":{\"apiKey\":\"${CP_TEST_VAR}\",\"apiKeys\":[\"sk-pool-b\","
        "\"${CP_TEST_VAR}\",\"sk-pool-c\",\"sk-pool-b\",\"${CP_UNSET_VAR}\",\"${CP_UNSET_VAR:-}\"]},"
        "\"my-local\":{\"baseURL\":\"http://127.0.0.1:1/v1\",\"apiKeys\":[\"sk-pool-d\",\"sk-pool-env\"]},"
        "\"gemini\":{\"apiKeys\":[\"sk-pool-e\"]},"
        "\"openrouter\":{\"apiKeys\":[\"${CP_UNSET_VAR}\"]}}}");
    c = load(f);
    if (c == NULL)
        fail_msg("%s", f->e.msg);
    p = cp_config_provider(c, "openai", 6);
    assert_int_equal(p->nkeys, 3);
    assert_string_equal(p->keys[0], "sk-pool-a");
    assert_string_equal(p->keys[1], "sk-pool-b");
    assert_string_equal(p->keys[2], "sk-pool-c");
    assert_ptr_equal(p->api_key, p->keys[0]);
    /* an unset variable in one element: apiKey's warning, with the element's index */
    assert_non_null(
        strstr(f->warnings, "providers.openai.apiKeys[4]: environment variable CP_UNSET_VAR is not set"));
    assert_null(strstr(f->warnings, "apiKeys[5]")); /* "${VAR:-}" asked for "" */
    p = cp_config_provider(c, "my-local", 8);       /* no apiKey: the variable first, then the pool */
    assert_int_equal(p->nkeys, 2);
    assert_string_equal(p->api_key, "sk-pool-env");
    assert_string_equal(p->keys[1], "sk-pool-d");
    p = cp_config_provider(c, "gemini", 6); /* apiKeys alone */
    assert_int_equal(p->nkeys, 1);
    assert_string_equal(p->api_key, "sk-pool-e");
    p = cp_config_provider(c, "openrouter", 10); /* every element unset: no key, as an unset apiKey */
    assert_int_equal(p->nkeys, 0);
    assert_null(p->api_key);
    assert_non_null(strstr(f->warnings, "providers.openrouter.apiKeys[0]"));
    /* every key of a pool is scrubbed from logs and upstream echoes */
    n = cp_prov_secrets(cp_config_provider(c, "openai", 6), sec, CP_PROV_SECRETS_MAX);
    assert_int_equal(n, 3);
    assert_string_equal(sec[2], "sk-pool-c");
    assert_int_equal(cp_prov_secrets(cp_config_provider(c, "openai", 6), sec, 2), 2); /* bounded */
    assert_null(strstr(f->warnings, "sk-pool"));
    cp_config_unref(c);

    /* apiKey and 16 others: the pool keeps 16, says how many it left out, never which */
    {
        char json[2048];
        size_t len = (size_t)snprintf(
            json, sizeof(json), "{\"providers\":{\"openai\":{\"apiKey\":\"sk-pool-first\",\"apiKeys\":[");
        for (int i = 0; i < 16; i++)
            len += (size_t)snprintf(json + len, sizeof(json) - len, "%s\"sk-pool-%02d\"", i ? "," : "", i);
        snprintf(json + len, sizeof(json) - len, "]}}}");
        unit_write(f->home, ".ccproxy/settings.json", json);
    }
    c = load(f);
    assert_non_null(c);
    p = cp_config_provider(c, "openai", 6);
    assert_int_equal(p->nkeys, 16);
    assert_string_equal(p->keys[0], "sk-pool-first");
    assert_string_equal(p->keys[15], "sk-pool-14");
    assert_non_null(
        strstr(f->warnings, "providers.openai: apiKey and apiKeys name more than 16 keys; the last 1"));
    assert_null(strstr(f->warnings, "sk-pool"));
    cp_config_unref(c);
}

/* apiKeys is as secret as apiKey: redacted by `ccproxy config`, a clear one in a readable file warned
 * about, ${VAR} allowed in a project file, and its layer shown (and warned about) next to baseURL's. */
static void test_key_pool_secrecy(void **state)
{
    fx_t *f = *state;
    cp_config_t *c;
    json_t *dump, *o;
    char *text;
    char path[1200];

    setenv("CP_TEST_VAR", "sk-var-SECRET", 1);
    snprintf(path, sizeof(path), "%s/.ccproxy/settings.json", f->home);
    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"openai\":{\"apiKeys\":[\"sk-lit-SECRET\",\"${CP_TEST_VAR}\",\"${CP_UNSET_"
               "VAR}\"]}}}");
    assert_int_equal(chmod(path, 0644), 0);
    c = load(f);
    assert_non_null(c);
    assert_non_null(
        strstr(f->warnings, "holds an API key (providers.openai.apiKeys) and other users can read it"));
    assert_null(strstr(f->warnings, "SECRET"));
    dump = cp_config_dump(c);
    text = json_dumps(dump, JSON_COMPACT);
    assert_null(strstr(text, "SECRET"));
    assert_non_null(strstr(text, "\"apiKeys\":[\"<redacted>\",\"<redacted>\",\"\"]"));
    free(text);
    o = json_object_get(json_object_get(dump, "keys"), "openai");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "apiKeys"), "layer")), "user");
    assert_true(json_is_null(json_object_get(o, "apiKey")));
    assert_null(json_object_get(o, "warning")); /* the built-in baseURL */
    assert_null(json_object_get(json_object_get(json_object_get(dump, "keys"), "gemini"), "apiKeys"));
    json_decref(dump);
    cp_config_unref(c);

    /* only references: nothing to warn about */
    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"openai\":{\"apiKeys\":[\"${CP_TEST_VAR}\"]}}}");
    assert_int_equal(chmod(path, 0644), 0);
    c = load(f);
    assert_string_equal(f->warnings, "");
    cp_config_unref(c);

    /* a trusted project may name the variables of its pool, not refer to one anywhere else; its
     * baseURL with the user's pool is worth a warning */
    unit_write(f->home, ".ccproxy/settings.json",
               "{\"providers\":{\"corp\":{\"baseURL\":\"https://corp.example/v1\","
               "\"apiKeys\":[\"sk-user-SECRET\"]}}}");
    assert_int_equal(chmod(path, 0600), 0);
    write_trusted_cwd(f,
                      "{\"providers\":{\"corp\":{\"baseURL\":\"https://gw.example/v1\"},"
                      "\"proj\":{\"baseURL\":\"https://p.example/v1\",\"apiKeys\":[\"${CP_TEST_VAR}\"]}}}");
    c = load(f);
    if (c == NULL)
        fail_msg("%s", f->e.msg);
    assert_string_equal(cp_config_provider(c, "proj", 4)->api_key, "sk-var-SECRET");
    dump = cp_config_dump(c);
    o = json_object_get(json_object_get(dump, "keys"), "corp");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "apiKeys"), "layer")), "user");
    assert_non_null(strstr(json_string_value(json_object_get(o, "warning")),
                           "providers.corp: its keys (apiKeys) come from "));
    assert_null(json_object_get(json_object_get(json_object_get(dump, "keys"), "proj"), "warning"));
    text = json_dumps(dump, JSON_COMPACT);
    assert_null(strstr(text, "SECRET"));
    free(text);
    json_decref(dump);
    cp_config_unref(c);
    write_trusted_cwd(f, "{\"providers\":{\"proj\":{\"baseURL\":\"https://p.example/v1\",\"apiKeys\":[\"k\"],"
                         "\"headers\":{\"X-A\":\"${CP_TEST_VAR}\"}}}}");
    assert_null(load(f));
    assert_non_null(strstr(f->e.msg, "providers.proj.headers.X-A: ${CP_TEST_VAR} is not expanded in project "
                                     "settings (only in providers.<name>.apiKey and apiKeys)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layer_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provider_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_config_and_debug, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_json_names_line_and_column, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_errors_name_path_and_expectation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_model_names_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_errors_name_the_variable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_keys_warn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_var_expansion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_key_from_env_and_redaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refcount_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_base_url_trailing_slash_trimmed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flavor_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flavor_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flavor_huge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_var_expansion_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cwd_is_home, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_http_key_warning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readable_key_file_warning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_team_sections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_team_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resilience_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resilience_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resilience_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resilience_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_pool_secrecy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
