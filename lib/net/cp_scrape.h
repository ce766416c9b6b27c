/* lib/net/cp_scrape.h: GET /metrics for the front: who may scrape (and who sees /health's upstreams), the
 * process gauges read from /proc/self, and one finished request turned into lib/net/cp_metrics.h's counts.
 *
 * Access (docs/configuration.md, "metrics"): a loopback peer always; another peer when its address is
 * in metrics.allow, or with "Authorization: Bearer <metrics.token>" (compared in constant time).
 * Otherwise 401 authentication_error when metrics.token is set (no token, or a wrong one), and 403
 * permission_error when it is not (no way in from that address). Loop thread only. */
#ifndef CP_SCRAPE_H
#define CP_SCRAPE_H

#include <stdint.h>

#include "cp_buf.h"
#include "cp_common.h"
#include "cp_config.h"
#include "cp_health.h"
#include "cp_metrics.h"
#include "cp_team.h"

/* Answers a scrape from <peer> (a struct sockaddr, may be NULL) with the <authorization> header (may be
 * NULL): the exposition of <m> with <g>'s front gauges (active requests, streams, connections; the
 * rest is filled here from <team> and /proc/self), then <health>'s breaker and key families
 * (lib/exchange/cp_health.h), appended to <out>. Returns CP_OK, or CP_ERR with <e> (401, 403; 404
 * without a registry; 500 when the text would exceed <out>'s cap). <team>, <health> may be NULL. */
int cp_scrape(const cp_metrics_t *m, const cp_health_t *health, cp_team_t *team, const cp_config_t *cfg,
              const void *peer, const char *authorization, cp_metrics_gauges_t *g, cp_buf_t *out,
              cp_err_t *e);

/* Whether a caller from any address may see what /health shows insiders about the upstreams (breakers,
 * key states): it presents a developer key of auth.keys (<x_api_key>, or <authorization> as a Bearer
 * token) or the metrics token. Both may be NULL. */
int cp_scrape_insider(const cp_config_t *cfg, const char *x_api_key, const char *authorization);

/* Counts one finished request (called from the front's access log). <provider>, <model>: "" when
 * unknown; <dur_us>: the whole request. <m> may be NULL (nothing counted). */
void cp_scrape_count(cp_metrics_t *m, const cp_team_req_t *tr, const char *provider, const char *model,
                     int status, uint64_t dur_us);

#endif
