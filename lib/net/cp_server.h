/* lib/net/cp_server.h: `ccproxy server`: the event loop, signals, reload and drain.
 *
 * SIGTERM/SIGINT: stop accepting, let requests in flight finish for up to
 * server.drainTimeoutSeconds, exit 0; a second signal exits at once (status 1).
 * SIGHUP: re-read every config layer with the same options; a bad config is logged and the running
 * one kept; requests in flight keep the snapshot they started with. */
#ifndef CP_SERVER_H
#define CP_SERVER_H

#include "cp_config.h"

/* Runs the server until it is stopped. Takes <cfg>; borrows <opts> (kept for reloads). When
 * <pid_file> is not NULL, the process id is written there once the address is bound (failing to
 * write it stops the server) and the file is removed at exit if it still names this process.
 * Returns the process exit status. */
int cp_server_run(const cp_config_opts_t *opts, cp_config_t *cfg, const char *pid_file);

/* Applies a config's logging settings, and registers its provider keys as log secrets. */
void cp_server_apply_logging(const cp_config_t *cfg);

#endif
