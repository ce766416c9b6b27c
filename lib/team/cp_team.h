/* lib/team/cp_team.h: team access for one server: who is asking, whether they may go on, and what
 * the request used, at the three points where the front asks (docs/team.md).
 *
 *   1. cp_team_auth    every API route: the developer key, or the address (loopback / open mode);
 *                      401 authentication_error otherwise
 *   2. cp_team_admit   a routed Messages request: the key's model list (403 permission_error) and its
 *                      limits (429 rate_limit_error with retry-after)
 *   3. cp_team_end     every request that passed 1: one ledger row, and the limits charged
 *
 * The team object owns the limit counters (lib/team/cp_limits.h, rebuilt from the ledger at start) and
 * the ledger writer (lib/team/cp_ledger.h). Keys, prices and limits come from the request's config
 * snapshot, so a reload (a key revoked, a limit changed) applies to requests that start afterwards.
 * Loop thread only. */
#ifndef CP_TEAM_H
#define CP_TEAM_H

#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "cp_anth.h"
#include "cp_auth.h"
#include "cp_common.h"
#include "cp_config.h"
#include "cp_ledger.h"
#include "cp_price.h"
#include "cp_route.h"

#define CP_TEAM_HDR_MAX 128 /* a session or agent id kept for the ledger (longer ones are cut) */

/* One request's part, embedded in the front's request record (zeroed at its start). */
typedef struct cp_team_req {
    const cp_auth_key_t *key; /* borrowed from the request's config snapshot; NULL without keys */
    char session[CP_TEAM_HDR_MAX + 1];
    char agent[CP_TEAM_HDR_MAX + 1];
    char error_type[40];   /* set when the request failed */
    int64_t t0_ms;         /* wall clock at the start */
    int64_t ttfb_ms;       /* the first byte of the reply, from t0; -1 until then */
    int64_t est_tokens;    /* the input estimate charged at admission */
    cp_tokens_t tok;       /* what the upstream reported */
    int64_t up_ttfb_us;    /* upstream request sent -> its head, the last attempt; -1: no head */
    uint64_t up_us;        /* upstream transfers in flight, summed over attempts */
    unsigned up_retries;   /* upstream requests sent again */
    unsigned api : 1;      /* a Messages or count_tokens request that passed auth (set by the front): it
                              gets a ledger row, also when it is refused as malformed */
    unsigned admitted : 1; /* counted by the limits: cp_team_end releases it */
    unsigned stream : 1;   /* the client asked for a stream */
    unsigned count : 1;    /* count_tokens */
    unsigned tokens_known : 1;
    unsigned upstream : 1;  /* the exchange sent an upstream request (up_* are set) */
    unsigned msg_route : 1; /* a Messages route, counted by the metrics even when auth refused it */
} cp_team_req_t;

typedef struct cp_team cp_team_t;

/* Opens the ledger of <cfg> (when enabled) and rebuilds the limit counters from it. Borrows <base>
 * (a 1 s timer reports the ledger's news). Returns new, or NULL with <e> (the ledger cannot be opened:
 * the server does not start). */
cp_team_t *cp_team_new(struct event_base *base, const cp_config_t *cfg, cp_err_t *e);

/* A new configuration is in force: logs the access mode again (a warning when open), and moves the
 * ledger when ledger.path or ledger.enabled changed (if the new one cannot be opened, the old one is
 * kept and the error logged). */
void cp_team_reload(cp_team_t *t, const cp_config_t *cfg);

/* Logs which access mode is in force (and how many keys). */
void cp_team_log_mode(const cp_config_t *cfg, int port);

/* Writes every queued ledger row (waiting at most <wait_ms> for a database that cannot be written),
 * closes, frees. Accepts NULL. */
void cp_team_free(cp_team_t *t, unsigned wait_ms);

/* Step 1. <peer_loopback>: the client's address is loopback. Fills tr->key. Returns CP_OK, or CP_ERR
 * with <e> (401). Never logs or echoes the presented key. */
int cp_team_auth(const cp_config_t *cfg, int peer_loopback, const char *x_api_key, const char *authorization,
                 cp_team_req_t *tr, cp_err_t *e);

/* Step 2. <body> is the validated request, <body_bytes> its size (the tpm estimate: 4 bytes a token),
 * <model> the client's model, <route> where it goes. Returns CP_OK (admitted), or CP_ERR with <e> (403, 429;
 * a spent budget sets e->no_retry) and <hdr> filled with the reply's extra headers (retry-after for a 429), a
 * NULL-terminated name/value list pointing into <hdr_buf> (24 bytes). */
int cp_team_admit(cp_team_t *t, cp_team_req_t *tr, enum cp_anth_kind kind, const json_t *body,
                  size_t body_bytes, const char *model, const cp_route_t *route, cp_err_t *e,
                  const char *hdr[3], char hdr_buf[24]);

/* Step 3. <row> holds what the front knows (rid, models, status, times); the team adds the key, the
 * session, the tokens, the cost, writes the row and charges the limits. <cfg> is the request's
 * snapshot (prices, the key's limits). */
void cp_team_end(cp_team_t *t, cp_team_req_t *tr, const cp_config_t *cfg, cp_ledger_row_t *row);

/* The ledger's counters (lib/team/cp_ledger.h). Returns 1, or 0 when there is no ledger. */
int cp_team_ledger_stats(cp_team_t *t, cp_ledger_stats_t *out);

/* GET /ccproxy/key: the caller's key, its limits and where it stands. Returns new. */
json_t *cp_team_key_view(cp_team_t *t, const cp_team_req_t *tr, const cp_config_t *cfg);

#endif
