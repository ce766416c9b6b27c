/* daemon/cmds.h: the commands of the ccproxy executable besides `server` and `config` (main.c).
 * Each returns the process exit status. */
#ifndef CP_CMDS_H
#define CP_CMDS_H

#include "cp_cli.h"
#include "cp_config.h"

/* `ccproxy [ARGS...]` (launch.c): on success never returns, claude has replaced the process. */
int cp_cmd_launch(const cp_cli_t *cli, const cp_config_t *cfg);

/* `ccproxy status` (launch.c): 0 running, 3 not running, 1 the port is someone else's. */
int cp_cmd_status(const cp_cli_t *cli, const cp_config_t *cfg);

/* `ccproxy stop` (launch.c): 0 stopped or not running. */
int cp_cmd_stop(const cp_cli_t *cli, const cp_config_t *cfg);

/* `ccproxy init` (init.c): 0 written, 1 refused or cancelled, 2 answers missing or invalid. */
int cp_cmd_init(const cp_cli_t *cli);

/* `ccproxy trust [--revoke]` (trust.c): 0 trusted (or revoked, or nothing to revoke), 1 no project file
 * or it cannot be recorded, 78 it (or another layer) does not load. */
int cp_cmd_trust(const cp_cli_t *cli);

/* `ccproxy keys add|list|revoke|rotate` (keys.c): 0 done, 1 refused (no such key, file not writable),
 * 2 bad values, 78 the settings do not load. <opts> says where the layers are (for the file to edit
 * and for `list`'s view of the merged keys). */
int cp_cmd_keys(const cp_cli_t *cli, const cp_config_opts_t *opts);

/* `ccproxy usage` (usage.c): 0 report printed (an empty one, with a note, when there is no ledger yet),
 * 1 the ledger cannot be read, 2 bad values. */
int cp_cmd_usage(const cp_cli_t *cli, const cp_config_t *cfg);

#endif
