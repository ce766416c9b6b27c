/* lib/cli/cp_cli.c: see cp_cli.h. Commands and their options are the two tables below. */
#include "cp_cli.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cp_prov.h"

const char cp_cli_usage[] =
    "usage: ccproxy [--debug] [--] [CLAUDE ARGS...]\n"
    "       ccproxy [--debug] <command> [options]\n"
    "\n"
    "With no command, ccproxy starts the proxy in the background if it is not running (log in\n"
    "~/.ccproxy/ccproxy.log) and runs `claude` through it with every argument passed on verbatim;\n"
    "`ccproxy -- ARGS` passes ARGS even when the first one is a command name.\n"
    "\n"
    "commands:\n"
    "  init [--scope user|project] [--provider NAME] [--api-key-env VAR | --api-key - | --api-key KEY]\n"
    "       [--base-url URL] [--style openai|anthropic] [--big-model M] [--small-model M]\n"
    "       [--port N] [--host H] [--yes] [--force]\n"
    "                   write a settings file: asks on a terminal, takes the flags otherwise;\n"
    "                   --api-key - reads the key from stdin (hidden on a terminal): a KEY given\n"
    "                   on the command line shows in `ps` and in the shell's history\n"
    "  init --remote URL [--key - | --key KEY | --key-env VAR] [--scope user|project] [--force]\n"
    "                   make `ccproxy` send claude to the team server at URL with your developer\n"
    "                   key, starting no local proxy (--key without --remote: the key for a local\n"
    "                   proxy that has keys)\n"
    "  keys add NAME [--models P,P...] [--rpm N] [--tpm N] [--max-streams N]\n"
    "       [--budget-usd X | --budget-tokens N] [--per day|week|month] [--scope S]\n"
    "  keys rotate NAME [--scope S] | keys revoke NAME [--scope S] | keys list [--json]\n"
    "                   developer keys of a shared proxy: add and rotate print the new key once\n"
    "                   and store only its SHA-256; S is user (default) or system\n"
    "                   (/etc/ccproxy/managed-settings.json); a running proxy reloads by itself\n"
    "  usage [--since 7d|DATE] [--until DATE] [--by key|model|provider|day|session] [--key NAME]\n"
    "       [--json | --csv] [--ledger FILE]\n"
    "                   requests, errors, tokens, cost and time to first byte from the usage ledger\n"
    "  trust [--revoke]\n"
    "                   apply ./.ccproxy/settings.json from now on (read it first), until it\n"
    "                   changes; --revoke: stop applying it\n"
    "  status [--json] [--port N] [--host H] [--config FILE]\n"
    "                   show whether the proxy runs, its pid, address, version, uptime, load\n"
    "  stop [--port N] [--host H] [--config FILE]\n"
    "                   stop the background proxy gracefully (exit 0 also when none runs)\n"
    "  server [--port N] [--host H] [--config FILE] [--pid-file FILE]\n"
    "                   run the proxy in the foreground (--port 0: any free port, printed)\n"
    "  config [--port N] [--host H] [--config FILE]\n"
    "                   print the effective configuration as JSON, with where each value came from\n"
    "  version          print versions of ccproxy and its libraries (also --version)\n"
    "  help             print this help (also --help, -h)\n"
    "\n"
    "global options:\n"
    "  --debug          log at debug level\n"
    "\n"
    "configuration, later overriding earlier: built-in defaults, ~/.ccproxy/settings.json,\n"
    "./.ccproxy/settings.json (only once trusted), /etc/ccproxy/managed-settings.json, environment\n"
    "(CCPROXY_CONFIG, CCPROXY_PORT, CCPROXY_HOST, CCPROXY_LOG_LEVEL, CCPROXY_LOG_FORMAT), command line.\n"
    "Provider keys come from the config or from <PROVIDER>_API_KEY, e.g. OPENAI_API_KEY.\n";

/* Which commands take an option: bits of (1 << enum cp_cmd). */
#define CLI_ON(c) (1u << (c))
#define CLI_ADDR  (CLI_ON(CP_CMD_SERVER) | CLI_ON(CP_CMD_CONFIG) | CLI_ON(CP_CMD_STATUS) | CLI_ON(CP_CMD_STOP))
#define CLI_INIT  CLI_ON(CP_CMD_INIT)
#define CLI_KEYS  CLI_ON(CP_CMD_KEYS)
#define CLI_USAGE CLI_ON(CP_CMD_USAGE)

static const struct {
    const char *name;
    const char *word;
    enum cp_cmd cmd;
} cli_cmds[] = {
    {"server", "server", CP_CMD_SERVER},
    {"config", "config", CP_CMD_CONFIG},
    {"init", "init", CP_CMD_INIT},
    {"trust", "trust", CP_CMD_TRUST},
    {"keys", "keys", CP_CMD_KEYS},
    {"usage", "usage", CP_CMD_USAGE},
    {"status", "status", CP_CMD_STATUS},
    {"stop", "stop", CP_CMD_STOP},
    {"version", "version", CP_CMD_VERSION},
    {"version", "--version", CP_CMD_VERSION},
    {"help", "help", CP_CMD_HELP},
    {"help", "--help", CP_CMD_HELP},
    {"help", "-h", CP_CMD_HELP},
};

enum cli_kind { CLI_STR, CLI_FLAG, CLI_PORT };

/* Each option writes the field at <off>: a string value (borrowed), 1 for a flag, or the port. */
static const struct {
    const char *name;
    const char *alias;
    unsigned cmds;
    enum cli_kind kind;
    size_t off;
} cli_opts[] = {
    {"--port", NULL, CLI_ADDR | CLI_INIT, CLI_PORT, offsetof(cp_cli_t, port)},
    {"--host", NULL, CLI_ADDR | CLI_INIT, CLI_STR, offsetof(cp_cli_t, host)},
    {"--config", NULL, CLI_ADDR | CLI_KEYS | CLI_USAGE, CLI_STR, offsetof(cp_cli_t, config)},
    {"--pid-file", NULL, CLI_ON(CP_CMD_SERVER), CLI_STR, offsetof(cp_cli_t, pid_file)},
    {"--json", NULL, CLI_ON(CP_CMD_STATUS) | CLI_KEYS | CLI_USAGE, CLI_FLAG, offsetof(cp_cli_t, json)},
    {"--scope", NULL, CLI_INIT | CLI_KEYS, CLI_STR, offsetof(cp_cli_t, scope)},
    {"--provider", NULL, CLI_INIT, CLI_STR, offsetof(cp_cli_t, provider)},
    {"--api-key", NULL, CLI_INIT, CLI_STR, offsetof(cp_cli_t, api_key)},
    {"--api-key-env", NULL, CLI_INIT, CLI_STR, offsetof(cp_cli_t, api_key_env)},
    {"--base-url", NULL, CLI_INIT, CLI_STR, offsetof(cp_cli_t, base_url)},
    {"--style", NULL, CLI_INIT, CLI_STR, offsetof(cp_cli_t, style)},
    {"--big-model", NULL, CLI_INIT, CLI_STR, offsetof(cp_cli_t, big_model)},
    {"--small-model", NULL, CLI_INIT, CLI_STR, offsetof(cp_cli_t, small_model)},
    {"--yes", "-y", CLI_INIT, CLI_FLAG, offsetof(cp_cli_t, yes)},
    {"--force", NULL, CLI_INIT, CLI_FLAG, offsetof(cp_cli_t, force)},
    {"--revoke", NULL, CLI_ON(CP_CMD_TRUST), CLI_FLAG, offsetof(cp_cli_t, revoke)},
    {"--remote", NULL, CLI_INIT, CLI_STR, offsetof(cp_cli_t, remote)},
    {"--key", NULL, CLI_INIT | CLI_USAGE, CLI_STR, offsetof(cp_cli_t, key)},
    {"--key-env", NULL, CLI_INIT, CLI_STR, offsetof(cp_cli_t, key_env)},
    {"--models", NULL, CLI_KEYS, CLI_STR, offsetof(cp_cli_t, models)},
    {"--rpm", NULL, CLI_KEYS, CLI_STR, offsetof(cp_cli_t, rpm)},
    {"--tpm", NULL, CLI_KEYS, CLI_STR, offsetof(cp_cli_t, tpm)},
    {"--max-streams", NULL, CLI_KEYS, CLI_STR, offsetof(cp_cli_t, max_streams)},
    {"--budget-usd", NULL, CLI_KEYS, CLI_STR, offsetof(cp_cli_t, budget_usd)},
    {"--budget-tokens", NULL, CLI_KEYS, CLI_STR, offsetof(cp_cli_t, budget_tokens)},
    {"--per", NULL, CLI_KEYS, CLI_STR, offsetof(cp_cli_t, per)},
    {"--since", NULL, CLI_USAGE, CLI_STR, offsetof(cp_cli_t, since)},
    {"--until", NULL, CLI_USAGE, CLI_STR, offsetof(cp_cli_t, until)},
    {"--by", NULL, CLI_USAGE, CLI_STR, offsetof(cp_cli_t, by)},
    {"--ledger", NULL, CLI_USAGE, CLI_STR, offsetof(cp_cli_t, ledger)},
    {"--csv", NULL, CLI_USAGE, CLI_FLAG, offsetof(cp_cli_t, csv)},
};

static int cli_port(const char *v, int *out, cp_err_t *e)
{
    char *end = NULL;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < 0 || n > 65535)
        return cp_err_set(e, 0, NULL, "invalid --port value '%s': expected an integer from 0 to 65535", v);
    *out = (int)n;
    return CP_OK;
}

static const char *cli_cmd_name(enum cp_cmd cmd)
{
    for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
        if (cli_cmds[i].cmd == cmd)
            return cli_cmds[i].name;
    return "ccproxy";
}

/* Parses the option at argv[*i] for out->cmd ("--name VALUE" or "--name=VALUE"). */
static int cli_option(int argc, char **argv, int *i, cp_cli_t *out, cp_err_t *e)
{
    const char *a = argv[*i];
    const char *v = NULL;
    const char *tail = "";
    char *field;
    size_t k, n;

    for (k = 0; k < sizeof(cli_opts) / sizeof(cli_opts[0]); k++) {
        n = strlen(cli_opts[k].name);
        if (cli_opts[k].alias != NULL && strcmp(a, cli_opts[k].alias) == 0) {
            tail = "";
            break;
        }
        if (strncmp(a, cli_opts[k].name, n) == 0 && (a[n] == '\0' || a[n] == '=')) {
            tail = a + n; /* "" or "=VALUE" */
            break;
        }
    }
    if (k == sizeof(cli_opts) / sizeof(cli_opts[0]) || !(cli_opts[k].cmds & CLI_ON(out->cmd)))
        return cp_err_set(e, 0, NULL, "unknown option '%s' for '%s'", a, cli_cmd_name(out->cmd));
    field = (char *)out + cli_opts[k].off;
    if (cli_opts[k].kind == CLI_FLAG) {
        if (*tail == '=')
            return cp_err_set(e, 0, NULL, "option %s takes no value", cli_opts[k].name);
        *(int *)(void *)field = 1;
        return CP_OK;
    }
    if (*tail == '=')
        v = tail + 1;
    else if (*i + 1 < argc)
        v = argv[++*i];
    if (v == NULL || *v == '\0')
        return cp_err_set(e, 0, NULL, "option %s needs a value", cli_opts[k].name);
    if (cli_opts[k].kind == CLI_PORT) {
        out->port_set = 1; /* the only CLI_PORT option is --port */
        return cli_port(v, (int *)(void *)field, e);
    }
    *(const char **)(void *)field = v;
    return CP_OK;
}

static const char *const cli_by_words[] = {"key", "model", "provider", "day", "session", NULL};
static const char *const cli_keys_words[] = {"add", "list", "revoke", "rotate", NULL};
static const char *const cli_per_words[] = {"day", "week", "month", NULL};

static int cli_word_in(const char *w, const char *const *words)
{
    for (; *words != NULL; words++)
        if (strcmp(w, *words) == 0)
            return 1;
    return 0;
}

/* `keys SUB [NAME]`: the words and which options go with which subcommand. */
static int cli_check_keys(const cp_cli_t *c, cp_err_t *e)
{
    int add = c->keys_sub != NULL && strcmp(c->keys_sub, "add") == 0;
    int list = c->keys_sub != NULL && strcmp(c->keys_sub, "list") == 0;

    if (c->keys_sub == NULL || !cli_word_in(c->keys_sub, cli_keys_words))
        return cp_err_set(e, 0, NULL, "keys needs a subcommand: add, list, revoke or rotate");
    if (!list && c->keys_name == NULL)
        return cp_err_set(e, 0, NULL, "keys %s needs a NAME", c->keys_sub);
    if (list && c->keys_name != NULL)
        return cp_err_set(e, 0, NULL, "unexpected argument '%s' for 'keys list'", c->keys_name);
    if (!add &&
        (c->models || c->rpm || c->tpm || c->max_streams || c->budget_usd || c->budget_tokens || c->per))
        return cp_err_set(e, 0, NULL,
                          "limits (--models, --rpm, --tpm, --max-streams, --budget-*, --per) go with "
                          "keys add");
    if (c->json && !list)
        return cp_err_set(e, 0, NULL, "--json goes with keys list");
    if (c->scope != NULL && strcmp(c->scope, "user") != 0 && strcmp(c->scope, "system") != 0)
        return cp_err_set(e, 0, NULL, "invalid --scope value '%s': expected user or system", c->scope);
    if (c->budget_usd != NULL && c->budget_tokens != NULL)
        return cp_err_set(e, 0, NULL, "give either --budget-usd or --budget-tokens, not both");
    if (c->per != NULL && !cli_word_in(c->per, cli_per_words))
        return cp_err_set(e, 0, NULL, "invalid --per value '%s': expected day, week or month", c->per);
    if (c->per != NULL && c->budget_usd == NULL && c->budget_tokens == NULL)
        return cp_err_set(e, 0, NULL, "--per goes with --budget-usd or --budget-tokens");
    return CP_OK;
}

/* Cross-option checks once every word is read. */
static int cli_check(const cp_cli_t *c, cp_err_t *e)
{
    enum cp_style st;

    if (c->port_set && c->port == 0 && c->cmd != CP_CMD_SERVER && c->cmd != CP_CMD_CONFIG)
        return cp_err_set(e, 0, NULL, "--port 0 (any free port) is for `ccproxy server` only");
    if (c->cmd == CP_CMD_KEYS)
        return cli_check_keys(c, e);
    if (c->scope != NULL && strcmp(c->scope, "user") != 0 && strcmp(c->scope, "project") != 0)
        return cp_err_set(e, 0, NULL, "invalid --scope value '%s': expected user or project", c->scope);
    if (c->by != NULL && !cli_word_in(c->by, cli_by_words))
        return cp_err_set(e, 0, NULL,
                          "invalid --by value '%s': expected key, model, provider, day or session", c->by);
    if (c->json && c->csv)
        return cp_err_set(e, 0, NULL, "give either --json or --csv, not both");
    if (c->key != NULL && c->key_env != NULL)
        return cp_err_set(e, 0, NULL, "give either --key or --key-env, not both");
    if (c->key_env != NULL && c->remote == NULL)
        return cp_err_set(e, 0, NULL, "--key-env goes with --remote URL");
    if (c->style != NULL && cp_prov_style_parse(c->style, &st) != CP_OK) {
        char names[160];
        cp_prov_style_names(names, sizeof(names));
        return cp_err_set(e, 0, NULL, "invalid --style value '%s': expected %s", c->style, names);
    }
    if (c->api_key != NULL && c->api_key_env != NULL)
        return cp_err_set(e, 0, NULL, "give either --api-key or --api-key-env, not both");
    return CP_OK;
}

int cp_cli_parse(int argc, char **argv, cp_cli_t *out, cp_err_t *e)
{
    int i = 1;
    size_t k;

    memset(out, 0, sizeof(*out));
    out->cmd = CP_CMD_LAUNCH;
    while (i < argc && strcmp(argv[i], "--debug") == 0) {
        out->debug = 1;
        i++;
    }
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    else if (i < argc)
        for (k = 0; k < sizeof(cli_cmds) / sizeof(cli_cmds[0]); k++)
            if (strcmp(argv[i], cli_cmds[k].word) == 0) {
                out->cmd = cli_cmds[k].cmd;
                i++;
                break;
            }
    if (out->cmd == CP_CMD_LAUNCH) {
        out->rest = argv + i;
        out->nrest = argc - i;
        return CP_OK;
    }
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--debug") == 0)
            out->debug = 1;
        else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            if (cli_option(argc, argv, &i, out, e) != CP_OK)
                return CP_ERR;
        } else if (out->cmd == CP_CMD_KEYS && out->keys_sub == NULL) {
            out->keys_sub = argv[i];
        } else if (out->cmd == CP_CMD_KEYS && out->keys_name == NULL) {
            out->keys_name = argv[i];
        } else
            return cp_err_set(e, 0, NULL, "unexpected argument '%s' for '%s'", argv[i],
                              cli_cmd_name(out->cmd));
    }
    return cli_check(out, e);
}
