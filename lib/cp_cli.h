/* lib/cp_cli.h: command-line parsing for the ccproxy executable. Pure: no I/O, no exit(). */
#ifndef CP_CLI_H
#define CP_CLI_H

#include "cp_common.h"

enum cp_cmd {
    CP_CMD_LAUNCH = 0, /* no subcommand: start the server if needed and run claude (later issue) */
    CP_CMD_SERVER,
    CP_CMD_CONFIG,
    CP_CMD_VERSION,
    CP_CMD_HELP,
};

typedef struct cp_cli {
    enum cp_cmd cmd;
    int debug;          /* --debug, accepted anywhere */
    int port;           /* --port N; 0 = not given */
    const char *host;   /* --host H; borrowed from argv */
    const char *config; /* --config FILE; borrowed from argv */
    int nrest;          /* CP_CMD_LAUNCH: arguments meant for claude */
    char **rest;        /* borrowed from argv */
} cp_cli_t;

/* Parses <argv>. Returns CP_OK, or CP_ERR with <e->msg> holding one line that names the offending
 * word (the caller prints it, the usage, and exits with CP_EXIT_USAGE). */
int cp_cli_parse(int argc, char **argv, cp_cli_t *out, cp_err_t *e);

/* The usage text (several lines, ends with a newline). */
extern const char cp_cli_usage[];

#endif
