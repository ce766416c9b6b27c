/* daemon/main.c: the ccproxy command: argv, then one of launch, server, config, init, trust, status,
 * stop, version, help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "cmds.h"
#include "cp_cli.h"
#include "cp_common.h"
#include "cp_config.h"
#include "cp_log.h"
#include "cp_server.h"

static void main_warn(const char *line, void *ud)
{
    (void)ud;
    fprintf(stderr, "%s\n", line);
}

/* Server mode: warnings wait until the logger is set up from the config, then go out as log lines. */
static void main_warn_later(const char *line, void *ud)
{
    json_array_append_new(ud, json_string(line));
}

static int main_version(void)
{
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

    printf("ccproxy %s (commit %s)\n", CP_VERSION, CP_GIT_COMMIT);
    printf("libevent %s\n", event_get_version());
    printf("libcurl %s (%s)\n", cv->version, cv->ssl_version ? cv->ssl_version : "no TLS");
    printf("jansson %s\n", jansson_version_str());
    printf("OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION_STRING));
    return CP_EXIT_OK;
}

/* Warnings that would only repeat what `ccproxy config` or the server's log say (status, stop). */
static void main_warn_none(const char *line, void *ud)
{
    (void)line;
    (void)ud;
}

/* Loads the layered config; prints the one-line error and returns NULL on failure (the caller exits
 * 78). Warnings go to <warnings> when given (server: logged later), nowhere when <quiet>, else to
 * stderr. */
static void main_opts(const cp_cli_t *cli, cp_config_opts_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->flag_config = cli->config;
    opts->flag_port = cli->port;
    opts->flag_port_set = cli->port_set;
    opts->flag_host = cli->host;
    opts->flag_debug = cli->debug;
}

static cp_config_t *main_load(const cp_cli_t *cli, cp_config_opts_t *opts, json_t *warnings, int quiet)
{
    cp_err_t e = {0};
    cp_config_t *cfg;

    main_opts(cli, opts);
    cfg = cp_config_load(opts, warnings ? main_warn_later : quiet ? main_warn_none : main_warn, warnings, &e);
    if (cfg == NULL)
        fprintf(stderr, "ccproxy: config error: %s\n", e.msg);
    return cfg;
}

int main(int argc, char **argv)
{
    cp_cli_t cli;
    cp_err_t e = {0};
    cp_config_opts_t opts;
    cp_config_t *cfg;
    int rc;

    if (cp_cli_parse(argc, argv, &cli, &e) != CP_OK) {
        fprintf(stderr, "ccproxy: %s\n\n%s", e.msg, cp_cli_usage);
        return CP_EXIT_USAGE;
    }
    switch (cli.cmd) {
    case CP_CMD_HELP:
        fputs(cp_cli_usage, stdout);
        return CP_EXIT_OK;
    case CP_CMD_VERSION:
        return main_version();
    case CP_CMD_CONFIG: {
        json_t *dump; /* owned */
        const char *name;
        json_t *k; /* borrowed from dump */
        if ((cfg = main_load(&cli, &opts, NULL, 0)) == NULL)
            return CP_EXIT_CONFIG;
        dump = cp_config_dump(cfg);
        json_dumpf(dump, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
        json_object_foreach(json_object_get(dump, "keys"), name, k)
        {
            if (json_is_string(json_object_get(k, "warning")))
                main_warn(json_string_value(json_object_get(k, "warning")), NULL);
        }
        json_decref(dump);
        cp_config_unref(cfg);
        return CP_EXIT_OK;
    }
    case CP_CMD_SERVER: {
        json_t *warnings = json_array(); /* owned */
        size_t i;
        json_t *w; /* borrowed */

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fprintf(stderr, "ccproxy: cannot initialise libcurl\n");
            json_decref(warnings);
            return CP_EXIT_FAIL;
        }
        if ((cfg = main_load(&cli, &opts, warnings, 0)) == NULL) {
            json_decref(warnings);
            curl_global_cleanup();
            return CP_EXIT_CONFIG;
        }
        cp_server_apply_logging(cfg);
        json_array_foreach(warnings, i, w) cp_log(CP_LOG_WARN, "%s", json_string_value(w));
        json_decref(warnings);
        rc = cp_server_run(&opts, cfg, cli.pid_file);
        curl_global_cleanup();
        return rc;
    }
    case CP_CMD_INIT:
        return cp_cmd_init(&cli);
    case CP_CMD_TRUST:
        return cp_cmd_trust(&cli);
    case CP_CMD_KEYS:
        main_opts(&cli, &opts);
        return cp_cmd_keys(&cli, &opts);
    case CP_CMD_USAGE:
        if ((cfg = main_load(&cli, &opts, NULL, 1)) == NULL)
            return CP_EXIT_CONFIG;
        rc = cp_cmd_usage(&cli, cfg);
        cp_config_unref(cfg);
        return rc;
    case CP_CMD_LAUNCH:
    case CP_CMD_STATUS:
    case CP_CMD_STOP:
    default:
        if ((cfg = main_load(&cli, &opts, NULL, cli.cmd != CP_CMD_LAUNCH)) == NULL)
            return CP_EXIT_CONFIG;
        if (cfg->port == 0) { /* a server on any free port cannot be found again at a known address */
            fprintf(stderr, "ccproxy: config error: server.port 0 (any free port) is for `ccproxy server` "
                            "only; the launcher, status and stop need a fixed port\n");
            cp_config_unref(cfg);
            return CP_EXIT_CONFIG;
        }
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fprintf(stderr, "ccproxy: cannot initialise libcurl\n");
            cp_config_unref(cfg);
            return CP_EXIT_FAIL;
        }
        rc = cli.cmd == CP_CMD_STATUS ? cp_cmd_status(&cli, cfg)
             : cli.cmd == CP_CMD_STOP ? cp_cmd_stop(&cli, cfg)
                                      : cp_cmd_launch(&cli, cfg);
        cp_config_unref(cfg);
        curl_global_cleanup();
        return rc;
    }
}
