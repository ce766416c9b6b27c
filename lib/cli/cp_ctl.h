/* lib/cli/cp_ctl.h: reaching a running ccproxy from the command line (launch, status, stop): the
 * address a local client uses, and what GET /health says about whoever listens there. */
#ifndef CP_CTL_H
#define CP_CTL_H

#include <stddef.h>

enum cp_ctl_state {
    CP_CTL_DOWN = 0, /* nothing listens (connection refused, unreachable) */
    CP_CTL_UP,       /* a ccproxy answered */
    CP_CTL_OTHER,    /* something else listens there */
};

typedef struct cp_ctl_health {
    enum cp_ctl_state state;
    long pid; /* 0 when not reported */
    char version[32];
    long long uptime_s;
    long long active;  /* requests in flight, this one excluded */
    long long streams; /* of those, streamed replies */
    char why[192];     /* DOWN / OTHER: what happened, for the message */
} cp_ctl_health_t;

/* The host a client on this machine connects to for a server bound to <host>: 127.0.0.1 for
 * 0.0.0.0 (and empty), ::1 for ::, <host> otherwise. Borrows or returns a literal. */
const char *cp_ctl_client_host(const char *host);

/* "http://HOST:PORT" for a server bound to <host>:<port> (client host, IPv6 in brackets). */
void cp_ctl_base_url(const char *host, int port, char *buf, size_t n);

/* Reads a /health answer (<status>, body) into <h>: CP_CTL_UP only when it is JSON naming
 * service "ccproxy". Pure. */
void cp_ctl_parse_health(long status, const char *body, size_t len, cp_ctl_health_t *h);

/* GET <base_url>/health, bounded by <timeout_ms>, bypassing any HTTP proxy from the environment.
 * Needs curl_global_init. */
void cp_ctl_probe(const char *base_url, long timeout_ms, cp_ctl_health_t *h);

#endif
