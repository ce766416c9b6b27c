/* lib/net/cp_metrics.h: the counters and histograms behind GET /metrics, and their text exposition
 * (Prometheus text format 0.0.4: docs/configuration.md, "metrics").
 *
 * Pure counting: no I/O, no clock, no config. The front records each finished request
 * (cp_metrics_request), the server each reload (cp_metrics_reload); the front writes the text at
 * scrape time with the gauges it read itself (cp_metrics_write). One registry per process, owned by
 * lib/net/cp_server.c and kept across reloads, so counters never reset while the process lives.
 *
 * Cardinality is bounded: a client model name beyond the first <max_models> distinct ones is counted
 * as "other" (upstream model names, of ccproxy_upstream_attempts_total, have a budget of their own); error
 * types outside the Anthropic set as "other"; label values are cut to CP_METRICS_VALUE_MAX bytes; and at most
 * CP_METRICS_SERIES_MAX labelled series exist in all (a new one past that is not created;
 * ccproxy_metrics_series_dropped_total counts the samples lost). Loop thread only. */
#ifndef CP_METRICS_H
#define CP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "cp_buf.h"
#include "cp_common.h"

#define CP_METRICS_SERIES_MAX     20000       /* labelled series, every family together */
#define CP_METRICS_VALUE_MAX      256         /* bytes of one label value (cut at a UTF-8 boundary) */
#define CP_METRICS_MODELS_DEFAULT 100         /* metrics.maxModels */
#define CP_METRICS_TEXT_MAX       (16u << 20) /* the exposition text: larger is an error */
#define CP_METRICS_CONTENT_TYPE   "text/plain; version=0.0.4; charset=utf-8"

typedef struct cp_metrics cp_metrics_t;

/* Where an error came from (ccproxy_errors_total{origin}). */
enum cp_metrics_origin {
    CP_METRICS_CLIENT = 0, /* the client's request (400, 404, 405, 413, 415, 505, a client that left) */
    CP_METRICS_POLICY,     /* ccproxy's own auth, limits and overload (401, 403, 429, 503, 529) */
    CP_METRICS_PROVIDER,   /* mapped from the upstream, or a stream that failed after it started */
};

/* One finished request, as the front saw it. Strings are borrowed for the call; NULL or "" is "-". */
typedef struct cp_metrics_req {
    int api;                /* a /v1/messages or count_tokens request: requests, tokens, histograms */
    const char *provider;   /* routed provider */
    const char *model;      /* the client's model string */
    const char *key;        /* developer key name */
    int status;             /* the HTTP status sent (499: the client left) */
    const char *error_type; /* the Anthropic error type when it failed (also after a 200 stream), or NULL */
    enum cp_metrics_origin origin;
    int tokens_known;
    int64_t input, output, cache_read, cache_write; /* as the upstream reported them */
    double duration_s;                              /* the whole request */
    double ttfb_s;     /* upstream request sent -> upstream head received; < 0: none */
    double upstream_s; /* the upstream transfers were in flight, summed over attempts */
    unsigned retries;  /* upstream requests sent again (the exchange's retry path) */
} cp_metrics_req_t;

/* What the scraper reads at scrape time (the front and /proc/self); a value < 0 is left out. */
typedef struct cp_metrics_gauges {
    double active_requests, active_streams, open_connections;
    double open_fds, max_fds, resident_bytes, start_time_s;
    double ledger_dropped, ledger_queued; /* < 0: no ledger */
} cp_metrics_gauges_t;

/* Returns new, with <max_models> (1 .. 10000) distinct model label values. */
cp_metrics_t *cp_metrics_new(unsigned max_models);

/* Changes the model limit (a reload): names already admitted stay; new ones are admitted while fewer
 * than <max_models> are. */
void cp_metrics_set_max_models(cp_metrics_t *m, unsigned max_models);

void cp_metrics_request(cp_metrics_t *m, const cp_metrics_req_t *r);

/* API requests counted since start (the sum of ccproxy_requests_total), for systemd's STATUS=. */
uint64_t cp_metrics_served(const cp_metrics_t *m);

/* One upstream attempt of a request (the exchange's, docs/resilience.md): <model> is the upstream model
 * (admitted as the client models are, metrics.maxModels), <outcome> one of the labels the family's help
 * text lists. */
void cp_metrics_attempt(cp_metrics_t *m, const char *provider, const char *model, const char *outcome);
void cp_metrics_reload(cp_metrics_t *m, int ok);

/* Appends the whole exposition to <out> (whose cap bounds it). Returns CP_OK, or CP_ERR when <out>
 * is full. */
int cp_metrics_write(const cp_metrics_t *m, const cp_metrics_gauges_t *g, cp_buf_t *out);

/* An address range of metrics.allow: "10.0.0.0/8", "fd00::/8", or one address. */
typedef struct cp_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned bits;
} cp_cidr_t;

/* Parses <s>. Returns CP_OK, or CP_ERR (not a CIDR). Host bits set below the prefix are allowed
 * (ignored). */
int cp_cidr_parse(const char *s, cp_cidr_t *out);

/* Whether <addr> (a struct sockaddr_in or sockaddr_in6; an IPv4-mapped IPv6 address counts as IPv4)
 * lies in <c>. */
int cp_cidr_match(const cp_cidr_t *c, const void *sockaddr);

/* Constant-time string equality (the length is not hidden). */
int cp_metrics_token_eq(const char *a, const char *b);

void cp_metrics_free(cp_metrics_t *m); /* accepts NULL */

#endif
