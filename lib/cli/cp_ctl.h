/* lib/cli/cp_ctl.h: reaching a running ccproxy from the command line (launch, status, stop, init): the
 * address a local client uses, what GET /health says about whoever listens there and whether it proves
 * it is the user's own (lib/cli/cp_ident.h), and the server named by the pid file, checked before it
 * is ever signalled. */
#ifndef CP_CTL_H
#define CP_CTL_H

#include <stddef.h>

#include <jansson.h>

#include "cp_ident.h"

enum cp_ctl_state {
    CP_CTL_DOWN = 0, /* nothing listens (connection refused, unreachable) */
    CP_CTL_UP,       /* a ccproxy that proved it holds this user's instance key */
    CP_CTL_OTHER,    /* something else listens there */
    CP_CTL_UNPROVEN, /* it answers as ccproxy but proves nothing: another user's, keyless, or an impostor */
};

typedef struct cp_ctl_health {
    enum cp_ctl_state state;
    int same_config; /* UP: its configuration digest is the one expected (the caller's configuration) */
    long pid;        /* UP: the pid it signed; 0 otherwise. Never a reason to signal anything. */
    char version[32];
    long long uptime_s;
    long long active;  /* requests in flight, this one excluded */
    long long streams; /* of those, streamed replies */
    char why[512];     /* DOWN / OTHER / UNPROVEN: what happened, for the message */
} cp_ctl_health_t;

/* What one probe expects. Fill with cp_ctl_expect_init(). */
typedef struct cp_ctl_expect {
    const cp_ident_key_t *key;          /* borrowed; NULL: nothing can be proven */
    char nonce[CP_IDENT_NONCE_MAX + 1]; /* fresh for this probe */
    char auth[CP_IDENT_HEX + 1];        /* our credential for that nonce */
    char digest[CP_IDENT_HEX + 1];      /* the caller's configuration digest; "" when unknown */
    char no_key_why[512];               /* key == NULL: why there is none (for the message) */
    char cafile[1024]; /* server.tls.cert of the caller's configuration: trusted as is over HTTPS; "" when
                          none */
} cp_ctl_expect_t;

/* The host a client on this machine connects to for a server bound to <host>: 127.0.0.1 for
 * 0.0.0.0 (and empty), ::1 for ::, <host> otherwise. Borrows or returns a literal. */
const char *cp_ctl_client_host(const char *host);

/* "http://HOST:PORT" for a server bound to <host>:<port> (client host, IPv6 in brackets); "https://"
 * when <tls_cert> (server.tls.cert) is not NULL, with "localhost" as the host when that certificate
 * names localhost but not the address (what a client checking names, like claude, needs). */
void cp_ctl_base_url(const char *host, int port, const char *tls_cert, char *buf, size_t n);

/* Prepares <x> for one probe: borrows <key> (NULL allowed: <no_key_why> then says why there is none),
 * draws a fresh nonce, and computes the digest of <merged> (NULL: no digest, so same_config stays 0)
 * and takes its server.tls.cert as the certificate to trust. */
void cp_ctl_expect_init(cp_ctl_expect_t *x, const cp_ident_key_t *key, const char *no_key_why,
                        const json_t *merged);

/* Reads a /health answer (<status>, body) into <h>: OTHER unless it is JSON naming service "ccproxy";
 * then UP only when its "proof" verifies under x->key for x->nonce, its "pid" and its "config_digest",
 * else UNPROVEN. Pure. */
void cp_ctl_parse_health(long status, const char *body, size_t len, const cp_ctl_expect_t *x,
                         cp_ctl_health_t *h);

/* GET <base_url>/health with the nonce and our credential (when x->key is set), bounded by
 * <timeout_ms>, bypassing any HTTP proxy from the environment. Over HTTPS the certificate must be
 * x->cafile's (its name is not checked: the instance key's proof says whose server it is). Needs
 * curl_global_init. */
void cp_ctl_probe(const char *base_url, long timeout_ms, const cp_ctl_expect_t *x, cp_ctl_health_t *h);

/* ---- the pid file --------------------------------------------------------------------------------- */

enum cp_ctl_pid_verdict {
    CP_CTL_PID_NONE = 0, /* no pid file */
    CP_CTL_PID_STALE,    /* no live process holds it: left by a server that exited; safe to remove */
    CP_CTL_PID_OURS,     /* a live process of this user, running this executable, holding the file */
    CP_CTL_PID_REFUSED,  /* it names a process that must not be signalled (why says which check failed) */
};

typedef struct cp_ctl_pidfile {
    enum cp_ctl_pid_verdict verdict;
    long pid;  /* what the file says (0: nothing usable) */
    int pidfd; /* OURS: opened before the checks, so the pid cannot be recycled behind them; -1 when the
                  kernel has no pidfd_open (then plain kill() is used) */
    char why[320];
} cp_ctl_pidfile_t;

/* Reads the pid file <path> (a server's `--pid-file`) and decides whether its pid may be signalled. A
 * pidfd for the pid is opened first; then the pid must be the process that holds the file's write lock
 * (the server takes it when it writes the file and keeps it until it exits: lib/net/cp_server.c), be
 * owned by this user (every uid in /proc/PID/status), and run this executable (/proc/PID/exe and
 * /proc/self/exe are the same file; the same path marked " (deleted)" after an upgrade counts; when the
 * kernel hides the executable of a non-dumpable process, the lock is the proof). A pid learned any
 * other way is never signalled. Call cp_ctl_pidfile_close() afterwards. */
void cp_ctl_pidfile_check(const char *path, cp_ctl_pidfile_t *p);

/* Sends <sig> to an OURS process (through the pidfd when there is one). Returns 0, or -1 with errno
 * (ESRCH: it has exited). */
int cp_ctl_pidfile_signal(const cp_ctl_pidfile_t *p, int sig);

/* Waits up to <ms> for an OURS process to exit. Returns 1 once it has, 0 at the timeout. */
int cp_ctl_pidfile_wait(const cp_ctl_pidfile_t *p, long ms);

/* Closes the pidfd, if any. */
void cp_ctl_pidfile_close(cp_ctl_pidfile_t *p);

/* 1 when <pid> exists and is not a zombie waiting for its parent (0 for pid <= 0). */
int cp_ctl_alive(long pid);

#endif
