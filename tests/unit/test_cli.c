/* Unit tests for lib/cp_cli.c. */
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
    assert_int_equal(c.debug, 1);
    assert_string_equal(c.host, "::1");
    assert_int_equal(parse(&c, &e, ARGV("config", "--config=/y.json")), CP_OK);
    assert_string_equal(c.config, "/y.json");
}

static void test_errors_name_the_word(void **s)
{
    static const struct {
        char *argv[6];
        const char *want;
    } cases[] = {
        {{"ccproxy", "serve", NULL}, "unknown command 'serve'"},
        {{"ccproxy", "--bogus", NULL}, "unknown option '--bogus'"},
        {{"ccproxy", "server", "--bogus", NULL}, "unknown option '--bogus' for 'server'"},
        {{"ccproxy", "server", "extra", NULL}, "unexpected argument 'extra' for 'server'"},
        {{"ccproxy", "server", "--port", NULL}, "--port needs a value"},
        {{"ccproxy", "server", "--port", "abc", NULL}, "invalid --port value 'abc'"},
        {{"ccproxy", "server", "--port", "0", NULL}, "invalid --port value '0'"},
        {{"ccproxy", "server", "--port", "65536", NULL}, "invalid --port value '65536'"},
        {{"ccproxy", "server", "--port=12x", NULL}, "invalid --port value '12x'"},
        {{"ccproxy", "server", "--host", NULL}, "--host needs a value"},
        {{"ccproxy", "server", "--config=", NULL}, "--config needs a file name"},
        {{"ccproxy", "version", "now", NULL}, "unexpected argument 'now'"},
        {{"ccproxy", "help", "--port", "1", NULL}, "unexpected argument '--port'"},
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
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_server_options),
        cmocka_unit_test(test_errors_name_the_word),
        cmocka_unit_test(test_usage_lists_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
