/* lib/cli/cp_cli.h: command-line parsing for the ccproxy executable. Pure: no I/O, no exit().
 *
 * `ccproxy [--debug] [--] [ARGS...]` launches claude with ARGS verbatim; a first word that names a
 * command (server, config, init, trust, keys, usage, status, stop, version, help) selects that command
 * instead, and
 * `--` forces the launch (`ccproxy -- status` runs `claude status`). */
#ifndef CP_CLI_H
#define CP_CLI_H

#include "cp_common.h"

enum cp_cmd {
    CP_CMD_LAUNCH = 0, /* no subcommand: start the server if needed and run claude */
    CP_CMD_SERVER,
    CP_CMD_CONFIG,
    CP_CMD_INIT,
    CP_CMD_STATUS,
    CP_CMD_STOP,
    CP_CMD_VERSION,
    CP_CMD_HELP,
    CP_CMD_TRUST, /* trust ./.ccproxy/settings.json (daemon/trust.c) */
    CP_CMD_KEYS,  /* developer keys: add, list, revoke, rotate (daemon/keys.c) */
    CP_CMD_USAGE, /* the usage report from the ledger (daemon/usage.c) */
};

/* Every string is borrowed from argv. */
typedef struct cp_cli {
    enum cp_cmd cmd;
    int debug;            /* --debug: before a launch's arguments, anywhere for the other commands */
    int port;             /* --port N (0: any free port, `server` and `config` only) */
    int port_set;         /* --port was given */
    const char *host;     /* --host H */
    const char *config;   /* --config FILE */
    const char *pid_file; /* server --pid-file FILE */
    int json;             /* --json: status, keys list, usage */
    int nrest;            /* CP_CMD_LAUNCH: arguments meant for claude */
    char **rest;
    /* init */
    const char *scope; /* "user" or "project" (checked here) */
    const char *provider;
    const char *api_key;
    const char *api_key_env;
    const char *base_url;
    const char *style; /* "openai" or "anthropic" (checked here) */
    const char *big_model;
    const char *small_model;
    int yes;   /* --yes, -y: take the defaults, ask nothing */
    int force; /* --force: replace an existing settings file */
    /* trust */
    int revoke; /* --revoke: stop trusting ./.ccproxy/settings.json */
    /* init --remote: the launcher sends claude to a team server */
    const char *remote;  /* --remote URL */
    const char *key;     /* init: --key KEY ("-": read from stdin); usage: --key NAME (a key's name) */
    const char *key_env; /* --key-env VAR */
    /* keys */
    const char *keys_sub;      /* "add", "list", "revoke" or "rotate" (checked here) */
    const char *keys_name;     /* NAME (add, revoke, rotate) */
    const char *models;        /* --models "pattern,pattern" */
    const char *rpm;           /* --rpm N (checked by daemon/keys.c) */
    const char *tpm;           /* --tpm N */
    const char *max_streams;   /* --max-streams N */
    const char *budget_usd;    /* --budget-usd X */
    const char *budget_tokens; /* --budget-tokens N */
    const char *per;           /* --per day|week|month */
    /* usage */
    const char *since;  /* --since 7d | 2026-12-01 | 2026-12-01T10:00:00Z */
    const char *until;  /* --until (same forms) */
    const char *by;     /* --by key|model|provider|day|session (checked here) */
    const char *ledger; /* --ledger FILE: the database to read (default: the configured one) */
    int csv;            /* --csv */
} cp_cli_t;

/* Parses <argv>. Returns CP_OK, or CP_ERR with <e->msg> holding one line that names the offending
 * word (the caller prints it, the usage, and exits with CP_EXIT_USAGE). */
int cp_cli_parse(int argc, char **argv, cp_cli_t *out, cp_err_t *e);

/* The usage text (several lines, ends with a newline). */
extern const char cp_cli_usage[];

#endif
