/* daemon/usage.c: `ccproxy usage`: requests, errors, tokens, cost and time to first byte from the
 * usage ledger, grouped by key, model, provider, day or session (lib/team/cp_usage.h).
 *
 * It reads the database read-only, so it may run while the server writes it. Exit status: 0 the report
 * was printed (also when there is no ledger yet: an empty report), 1 the ledger cannot be read, 2 bad
 * values. */
#include "cmds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cp_buf.h"
#include "cp_usage.h"

#define USAGE_PATH_MAX 4096

/* The database to read: --ledger, else the configured path, else ~/.ccproxy/usage.db. Returns CP_OK or
 * CP_ERR (no HOME, or too long). */
static int usage_path(const cp_cli_t *cli, const cp_config_t *cfg, char *out, size_t n)
{
    const char *home = getenv("HOME");
    int len;

    if (cli->ledger != NULL)
        len = snprintf(out, n, "%s", cli->ledger);
    else if (cfg != NULL && cfg->ledger_path != NULL)
        len = snprintf(out, n, "%s", cfg->ledger_path);
    else if (home != NULL && home[0] != '\0')
        len = snprintf(out, n, "%s/.ccproxy/usage.db", home);
    else
        return CP_ERR;
    return len > 0 && (size_t)len < n ? CP_OK : CP_ERR;
}

/* Fills <q> from the flags. Returns CP_OK, or CP_ERR after printing what is wrong. */
static int usage_query(const cp_cli_t *cli, cp_usage_query_t *q)
{
    int64_t now = (int64_t)cp_wall_ms();
    char msg[256];

    if (cli->json && cli->csv) {
        fprintf(stderr, "ccproxy usage: --json and --csv cannot be used together\n");
        return CP_ERR;
    }
    if (cp_usage_by_parse(cli->by != NULL ? cli->by : "key", &q->by) != CP_OK) {
        fprintf(stderr, "ccproxy usage: --by: expected key, model, provider, day or session\n");
        return CP_ERR;
    }
    if (cp_usage_parse_time(cli->since != NULL ? cli->since : "7d", now, &q->since_ms, msg, sizeof(msg)) !=
        CP_OK) {
        fprintf(stderr, "ccproxy usage: --since: %s\n", msg);
        return CP_ERR;
    }
    if (cp_usage_parse_time(cli->until != NULL ? cli->until : "now", now, &q->until_ms, msg, sizeof(msg)) !=
        CP_OK) {
        fprintf(stderr, "ccproxy usage: --until: %s\n", msg);
        return CP_ERR;
    }
    if (q->since_ms >= q->until_ms) {
        fprintf(stderr, "ccproxy usage: --since must be before --until\n");
        return CP_ERR;
    }
    if (cli->key != NULL && cli->key[0] == '\0') {
        fprintf(stderr, "ccproxy usage: --key: expected a key name\n");
        return CP_ERR;
    }
    q->key = cli->key;
    return CP_OK;
}

static void usage_print(const cp_cli_t *cli, const cp_usage_report_t *r)
{
    cp_buf_t b = CP_BUF_INIT;

    if (cli->json) {
        json_t *j = cp_usage_json(r); /* owned */
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
        fputc('\n', stdout);
        json_decref(j);
        return;
    }
    if (cli->csv)
        cp_usage_csv(r, &b);
    else
        cp_usage_table(r, &b);
    fwrite(cp_buf_str(&b), 1, b.len, stdout);
    cp_buf_free(&b);
}

int cp_cmd_usage(const cp_cli_t *cli, const cp_config_t *cfg)
{
    char path[USAGE_PATH_MAX];
    cp_usage_query_t q = {0};
    cp_usage_report_t r;
    cp_err_t e = {0};
    int rc;

    if (usage_query(cli, &q) != CP_OK)
        return CP_EXIT_USAGE;
    if (usage_path(cli, cfg, path, sizeof(path)) != CP_OK) {
        fprintf(stderr, "ccproxy usage: no ledger path (set ledger.path, or HOME, or pass --ledger FILE)\n");
        return CP_EXIT_USAGE;
    }
    q.path = path;
    rc = cp_usage_run(&q, &r, &e);
    if (rc == CP_ERR) {
        fprintf(stderr, "ccproxy usage: %s\n", e.msg);
        return CP_EXIT_FAIL;
    }
    if (rc == CP_DECLINED)
        fprintf(stderr,
                "ccproxy usage: no ledger yet at %s (the server writes it once it serves requests "
                "with the ledger enabled)\n",
                path);
    usage_print(cli, &r);
    cp_usage_report_free(&r);
    if (fflush(stdout) != 0) {
        perror("ccproxy usage: stdout");
        return CP_EXIT_FAIL;
    }
    return CP_EXIT_OK;
}
