/* lib/cp_cli.c: see cp_cli.h. */
#include "cp_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char cp_cli_usage[] =
    "usage: ccproxy [--debug] <command> [options]\n"
    "\n"
    "commands:\n"
    "  server [--port N] [--host H] [--config FILE]\n"
    "                   run the proxy in the foreground\n"
    "  config [--port N] [--host H] [--config FILE]\n"
    "                   print the effective configuration as JSON, with where each value came from\n"
    "  version          print versions of ccproxy and its libraries (also --version)\n"
    "  help             print this help (also --help, -h)\n"
    "\n"
    "global options:\n"
    "  --debug          log at debug level\n"
    "\n"
    "configuration, later overriding earlier: built-in defaults, ~/.ccproxy/settings.json,\n"
    "./.ccproxy/settings.json, /etc/ccproxy/managed-settings.json, environment (CCPROXY_CONFIG,\n"
    "CCPROXY_PORT, CCPROXY_HOST, CCPROXY_LOG_LEVEL, CCPROXY_LOG_FORMAT), command line.\n"
    "Provider keys come from the config or from <PROVIDER>_API_KEY, e.g. OPENAI_API_KEY.\n";

/* Matches "--name VALUE" and "--name=VALUE". Returns 1 and sets *val (NULL when the value is
 * missing), or 0 when argv[*i] is not this option. Advances *i past a separate value. */
static int cli_opt(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    const char *a = argv[*i];

    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    *val = (*i + 1 < argc) ? argv[++*i] : NULL;
    return 1;
}

static int cli_port(const char *v, int *out, cp_err_t *e)
{
    char *end = NULL;
    long n;

    if (v == NULL || *v == '\0')
        return cp_err_set(e, 0, NULL, "option --port needs a value");
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < 1 || n > 65535)
        return cp_err_set(e, 0, NULL, "invalid --port value '%s': expected an integer from 1 to 65535", v);
    *out = (int)n;
    return CP_OK;
}

int cp_cli_parse(int argc, char **argv, cp_cli_t *out, cp_err_t *e)
{
    int i;
    int have_cmd = 0;

    memset(out, 0, sizeof(*out));
    out->cmd = CP_CMD_LAUNCH;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;

        if (strcmp(a, "--debug") == 0) {
            out->debug = 1;
        } else if (!have_cmd &&
                   (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0)) {
            out->cmd = CP_CMD_HELP;
            have_cmd = 1;
        } else if (!have_cmd && (strcmp(a, "--version") == 0 || strcmp(a, "version") == 0)) {
            out->cmd = CP_CMD_VERSION;
            have_cmd = 1;
        } else if (!have_cmd && strcmp(a, "server") == 0) {
            out->cmd = CP_CMD_SERVER;
            have_cmd = 1;
        } else if (!have_cmd && strcmp(a, "config") == 0) {
            out->cmd = CP_CMD_CONFIG;
            have_cmd = 1;
        } else if (out->cmd == CP_CMD_SERVER || out->cmd == CP_CMD_CONFIG) {
            if (cli_opt(argc, argv, &i, "--port", &v)) {
                if (cli_port(v, &out->port, e) != CP_OK)
                    return CP_ERR;
            } else if (cli_opt(argc, argv, &i, "--host", &v)) {
                if (v == NULL || *v == '\0')
                    return cp_err_set(e, 0, NULL, "option --host needs a value");
                out->host = v;
            } else if (cli_opt(argc, argv, &i, "--config", &v)) {
                if (v == NULL || *v == '\0')
                    return cp_err_set(e, 0, NULL, "option --config needs a file name");
                out->config = v;
            } else if (a[0] == '-') {
                return cp_err_set(e, 0, NULL, "unknown option '%s' for '%s'", a,
                                  out->cmd == CP_CMD_SERVER ? "server" : "config");
            } else {
                return cp_err_set(e, 0, NULL, "unexpected argument '%s' for '%s'", a,
                                  out->cmd == CP_CMD_SERVER ? "server" : "config");
            }
        } else if (have_cmd) {
            return cp_err_set(e, 0, NULL, "unexpected argument '%s'", a);
        } else if (a[0] == '-') {
            return cp_err_set(e, 0, NULL, "unknown option '%s'", a);
        } else {
            return cp_err_set(e, 0, NULL, "unknown command '%s'", a);
        }
    }
    return CP_OK;
}
