/* Unit tests for lib/cli/cp_cli.c. */
#include "cp_unit.h"

#include "cp_cli.h"

static int parse(cp_cli_t *c, cp_err_t *e, char **argv)
{
    int argc = 0;

    while (argv[argc] != NULL)
        argc++;
    memset(e, 0, sizeof(*e));
    return cp_cli_parse(argc, argv, c, e);
}

#define ARGV(...) ((char *[]){"ccproxy", __VA_ARGS__, NULL})

static void test_commands(void **s)
{
    cp_cli_t c;
    cp_err_t e;

    (void)s;
    assert_int_equal(parse(&c, &e, (char *[]){"ccproxy", NULL}), CP_OK);
    assert_int_equal(c.cmd, CP_CMD_LAUNCH);
    assert_int_equal(parse(&c, &e, ARGV("server")), CP_OK);
    assert_int_equal(c.cmd, CP_CMD_SERVER);
    assert_int_equal(parse(&c, &e, ARGV("config")), CP_OK);
    assert_int_equal(c.cmd, CP_CMD_CONFIG);
    assert_int_equal(parse(&c, &e, ARGV("version")), CP_OK);
    assert_int_equal(c.cmd, CP_CMD_VERSION);
    assert_int_equal(parse(&c, &e, ARGV("--version")), CP_OK);
    assert_int_equal(c.cmd, CP_CMD_VERSION);
    assert_int_equal(parse(&c, &e, ARGV("help")), CP_OK);
    assert_int_equal(c.cmd, CP_CMD_HELP);
    assert_int_equal(parse(&c, &e, ARGV("--help")), CP_OK);
    assert_int_equal(c.cmd, CP_CMD_HELP);
    assert_int_equal(parse(&c, &e, ARGV("-h")), CP_OK);
    assert_int_equal(c.cmd, CP_CMD_HELP);
    assert_int_equal(parse(&c, &e, ARGV("init")), CP_OK);
    assert_int_equal(c.cmd, CP_CMD_INIT);
    assert_int_equal(parse(&c, &e, ARGV("status")), CP_OK);
    assert_int_equal(c.cmd, CP_CMD_STATUS);
    assert_int_equal(parse(&c, &e, ARGV("stop")), CP_OK);
    assert_int_equal(c.cmd, CP_CMD_STOP);
}

/* Everything that is not a command goes to claude untouched, in order. */
static void test_launch_args_verbatim(void **s)
{
    static const struct {
        char *argv[7];
        int debug;
        int nrest;
        int first; /* index in argv of rest[0] */
    } cases[] = {
        {{"ccproxy", NULL}, 0, 0, 1},
        {{"ccproxy", "-p", "say hi", "--output-format", "json", NULL}, 0, 4, 1},
        {{"ccproxy", "--debug", "-p", "x", NULL}, 1, 2, 2},
        {{"ccproxy", "-p", "x", "--debug", NULL}, 0, 3, 1}, /* claude's own --debug */
        {{"ccproxy", "--", "status", NULL}, 0, 1, 2},
        {{"ccproxy", "--debug", "--", "--help", NULL}, 1, 1, 3},
        {{"ccproxy", "fix the tests", NULL}, 0, 1, 1},
        {{"ccproxy", "serve", "--bogus", "", NULL}, 0, 3, 1},
        {{"ccproxy", "--continue", "--", "x", NULL}, 0, 3, 1}, /* a later -- is claude's */
    };
    cp_cli_t c;
    cp_err_t e;

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char **argv = (char **)cases[i].argv;
        assert_int_equal(parse(&c, &e, argv), CP_OK);
        assert_int_equal(c.cmd, CP_CMD_LAUNCH);
        assert_int_equal(c.debug, cases[i].debug);
        assert_int_equal(c.nrest, cases[i].nrest);
        for (int k = 0; k < c.nrest; k++)
            assert_ptr_equal(c.rest[k], argv[cases[i].first + k]);
    }
}

static void test_init_options(void **s)
{
    cp_cli_t c;
    cp_err_t e;

    (void)s;
    assert_int_equal(
        parse(&c, &e,
              ARGV("init", "--scope", "project", "--provider=custom", "--api-key-env", "MY_KEY", "--base-url",
                   "http://127.0.0.1:11434/v1", "--style", "anthropic", "--big-model", "qwen",
                   "--small-model=qwen-small", "--port", "9001", "--host", "0.0.0.0", "-y", "--force")),
        CP_OK);
    assert_int_equal(c.cmd, CP_CMD_INIT);
    assert_string_equal(c.scope, "project");
    assert_string_equal(c.provider, "custom");
    assert_string_equal(c.api_key_env, "MY_KEY");
    assert_null(c.api_key);
    assert_string_equal(c.base_url, "http://127.0.0.1:11434/v1");
    assert_string_equal(c.style, "anthropic");
    assert_string_equal(c.big_model, "qwen");
    assert_string_equal(c.small_model, "qwen-small");
    assert_int_equal(c.port, 9001);
    assert_string_equal(c.host, "0.0.0.0");
    assert_int_equal(c.yes, 1);
    assert_int_equal(c.force, 1);
    assert_int_equal(parse(&c, &e, ARGV("init", "--api-key", "sk-1", "--yes")), CP_OK);
    assert_string_equal(c.api_key, "sk-1");
    assert_int_equal(c.force, 0);
    assert_int_equal(parse(&c, &e, ARGV("status", "--json", "--port", "9002")), CP_OK);
    assert_int_equal(c.json, 1);
    assert_int_equal(c.port, 9002);
    assert_int_equal(parse(&c, &e, ARGV("server", "--pid-file", "/run/x.pid")), CP_OK);
    assert_string_equal(c.pid_file, "/run/x.pid");
}

static void test_server_options(void **s)
{
    cp_cli_t c;
    cp_err_t e;

    (void)s;
    assert_int_equal(
        parse(&c, &e,
              ARGV("--debug", "server", "--port", "9000", "--host", "127.0.0.1", "--config", "/x.json")),
        CP_OK);
    assert_int_equal(c.cmd, CP_CMD_SERVER);
    assert_int_equal(c.debug, 1);
    assert_int_equal(c.port, 9000);
    assert_string_equal(c.host, "127.0.0.1");
    assert_string_equal(c.config, "/x.json");
    assert_int_equal(parse(&c, &e, ARGV("server", "--port=9001", "--debug", "--host=::1")), CP_OK);
    assert_int_equal(c.port, 9001);
    assert_int_equal(c.port_set, 1);
    assert_int_equal(c.debug, 1);
    assert_string_equal(c.host, "::1");
    assert_int_equal(parse(&c, &e, ARGV("server", "--port", "0")), CP_OK); /* any free port */
    assert_int_equal(c.port, 0);
    assert_int_equal(c.port_set, 1);
    assert_int_equal(parse(&c, &e, ARGV("server")), CP_OK);
    assert_int_equal(c.port_set, 0);
    assert_int_equal(parse(&c, &e, ARGV("config", "--config=/y.json")), CP_OK);
    assert_string_equal(c.config, "/y.json");
}

static void test_errors_name_the_word(void **s)
{
    static const struct {
        char *argv[7];
        const char *want;
    } cases[] = {
        {{"ccproxy", "server", "--bogus", NULL}, "unknown option '--bogus' for 'server'"},
        {{"ccproxy", "server", "extra", NULL}, "unexpected argument 'extra' for 'server'"},
        {{"ccproxy", "server", "--port", NULL}, "--port needs a value"},
        {{"ccproxy", "server", "--port", "abc", NULL}, "invalid --port value 'abc'"},
        {{"ccproxy", "server", "--port", "-1", NULL}, "invalid --port value '-1'"},
        {{"ccproxy", "status", "--port", "0", NULL}, "--port 0 (any free port) is for `ccproxy server` only"},
        {{"ccproxy", "stop", "--port=0", NULL}, "--port 0 (any free port) is for `ccproxy server` only"},
        {{"ccproxy", "init", "--port", "0", "--yes", NULL},
         "--port 0 (any free port) is for `ccproxy server` only"},
        {{"ccproxy", "server", "--port", "65536", NULL}, "invalid --port value '65536'"},
        {{"ccproxy", "server", "--port=12x", NULL}, "invalid --port value '12x'"},
        {{"ccproxy", "server", "--host", NULL}, "--host needs a value"},
        {{"ccproxy", "server", "--config=", NULL}, "--config needs a value"},
        {{"ccproxy", "version", "now", NULL}, "unexpected argument 'now'"},
        {{"ccproxy", "help", "--port", "1", NULL}, "unknown option '--port' for 'help'"},
        {{"ccproxy", "init", "--scope", "team", NULL}, "invalid --scope value 'team'"},
        {{"ccproxy", "init", "--style", "gemini", NULL}, "invalid --style value 'gemini'"},
        {{"ccproxy", "init", "--api-key", "k", "--api-key-env", "V", NULL},
         "either --api-key or --api-key-env"},
        {{"ccproxy", "init", "--provider", NULL}, "--provider needs a value"},
        {{"ccproxy", "init", "--yes=1", NULL}, "--yes takes no value"},
        {{"ccproxy", "init", "--config", "x", NULL}, "unknown option '--config' for 'init'"},
        {{"ccproxy", "status", "--pid-file", "x", NULL}, "unknown option '--pid-file' for 'status'"},
        {{"ccproxy", "config", "--json", NULL}, "unknown option '--json' for 'config'"},
        {{"ccproxy", "stop", "now", NULL}, "unexpected argument 'now' for 'stop'"},
        {{"ccproxy", "server", "--port-x", NULL}, "unknown option '--port-x' for 'server'"},
    };
    cp_cli_t c;
    cp_err_t e;

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (parse(&c, &e, (char **)cases[i].argv) != CP_ERR)
            fail_msg("case %zu parsed", i);
        if (strstr(e.msg, cases[i].want) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].want);
    }
}

static void test_usage_lists_commands(void **s)
{
    (void)s;
    assert_non_null(strstr(cp_cli_usage, "server [--port N] [--host H] [--config FILE]"));
    assert_non_null(strstr(cp_cli_usage, "config"));
    assert_non_null(strstr(cp_cli_usage, "--debug"));
    assert_non_null(strstr(cp_cli_usage, "version"));
    assert_non_null(strstr(cp_cli_usage, "init [--scope user|project]"));
    assert_non_null(strstr(cp_cli_usage, "status [--json]"));
    assert_non_null(strstr(cp_cli_usage, "stop"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_server_options),
        cmocka_unit_test(test_launch_args_verbatim),
        cmocka_unit_test(test_init_options),
        cmocka_unit_test(test_errors_name_the_word),
        cmocka_unit_test(test_usage_lists_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
