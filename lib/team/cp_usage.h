/* lib/team/cp_usage.h: the usage report (`ccproxy usage`, daemon/usage.c) and the last use of each
 * key (`ccproxy keys list`), read from the ledger (lib/team/cp_ledger.h).
 *
 * The database is opened read-only: in WAL mode a reader never blocks the server's writer, so a
 * report can run while the server does. The rows of the window are read in one pass (through the
 * index on ts, or on (key, ts) for one key) and summed in C; time-to-first-byte percentiles are exact
 * (nearest rank) over the rows that have one. No output here besides the renderers' buffers. */
#ifndef CP_USAGE_H
#define CP_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cp_buf.h"
#include "cp_common.h"

#define CP_USAGE_SPAN_MAX_DAYS 36600   /* the longest relative time accepted ("36600d", 100 years) */
#define CP_USAGE_GROUPS_MAX    1000000 /* distinct groups one report may hold (more: CP_ERR) */

enum cp_usage_by {
    CP_USAGE_BY_KEY = 0, /* the developer key's name */
    CP_USAGE_BY_MODEL,   /* the client's model */
    CP_USAGE_BY_PROVIDER,
    CP_USAGE_BY_DAY, /* the UTC date of the request's start, YYYY-MM-DD */
    CP_USAGE_BY_SESSION,
};

/* Parses "key", "model", "provider", "day", "session". Returns CP_OK or CP_ERR. */
int cp_usage_by_parse(const char *s, enum cp_usage_by *out);
const char *cp_usage_by_name(enum cp_usage_by by);

/* Parses a time argument into Unix ms: "7d", "24h", "30m" (that long before <now_ms>; whole numbers
 * only, up to CP_USAGE_SPAN_MAX_DAYS days), "now", "YYYY-MM-DD" (00:00 UTC) or "YYYY-MM-DDTHH:MM:SSZ"
 * (UTC; years 1970 to 9999). Returns CP_OK, or CP_ERR with <msg> (<n> bytes) saying what was
 * expected and quoting at most the first 40 bytes of <s>. */
int cp_usage_parse_time(const char *s, int64_t now_ms, int64_t *out_ms, char *msg, size_t n);

/* Writes <ms> as "YYYY-MM-DDTHH:MM:SSZ" (".mmm" before the Z when not a whole second) into <out>. */
void cp_usage_fmt_time(int64_t ms, char out[32]);

/* One group of rows, or the totals. */
typedef struct cp_usage_group {
    char *name; /* owned; NULL: the rows without a value (no key, no provider...); unused in totals */
    uint64_t requests;
    uint64_t errors; /* status >= 400, or an error type (an error event in a 200 stream) */
    int64_t input, output, cache_read, cache_write; /* tokens, over the rows that reported usage */
    double cost_usd;                                /* the sum of the known costs */
    uint64_t unpriced;                /* rows that reported usage but have no cost (no price for the model) */
    int64_t ttfb_p50_ms, ttfb_p95_ms; /* nearest rank over the rows with a first byte; -1: none */
} cp_usage_group_t;

typedef struct cp_usage_query {
    const char *path; /* the ledger database */
    int64_t since_ms; /* the window [since, until), Unix ms */
    int64_t until_ms;
    enum cp_usage_by by;
    const char *key; /* only the rows of this key name; NULL: all */
} cp_usage_query_t;

typedef struct cp_usage_report {
    int64_t since_ms, until_ms;
    enum cp_usage_by by;
    const char *path;         /* borrowed from the query */
    const char *key;          /* borrowed from the query */
    cp_usage_group_t *groups; /* owned; ordered by day for CP_USAGE_BY_DAY, else by cost, requests,
                                 then name */
    size_t ngroups;
    cp_usage_group_t total;
} cp_usage_report_t;

/* Runs <q>. Returns CP_OK with <out> filled (free with cp_usage_report_free), CP_DECLINED when there
 * is no ledger at q->path yet (<out> is then an empty report, still to be freed), or CP_ERR with <e>
 * (the file is not a ledger, is corrupt, is newer, cannot be read). */
int cp_usage_run(const cp_usage_query_t *q, cp_usage_report_t *out, cp_err_t *e);
void cp_usage_report_free(cp_usage_report_t *r); /* accepts a zeroed report */

/* Renderers, appending to <b>:
 *  - the terminal table: a title line, one line per group and a TOTAL line, numbers right-aligned
 *    (control bytes in names shown as '?', names longer than 48 bytes cut with "..."), then the notes:
 *    "no requests between ... and ..." for an empty window, and "N requests have no price: ..." when
 *    some rows are unpriced;
 *  - CSV (RFC 4180: CRLF line ends, names quoted when they hold a comma, a quote, CR or LF; a name
 *    starting with = + - @ or a tab gets a leading ' so that a spreadsheet does not run it as a
 *    formula: session ids come from clients): a header line, then one line per group; an empty name
 *    is a group without a value. No totals line (percentiles do not add up; sum the columns);
 *  - JSON: returns new {"since","until","by","groups":[{"name",...}],"total":{...}}, times as in
 *    cp_usage_fmt_time, a NULL name as null, a missing percentile as null. */
void cp_usage_table(const cp_usage_report_t *r, cp_buf_t *b);
void cp_usage_csv(const cp_usage_report_t *r, cp_buf_t *b);
json_t *cp_usage_json(const cp_usage_report_t *r);

/* For `ccproxy keys list`: *<out> is set to a new object {key name: Unix ms of its last request}
 * (empty when there is no ledger yet). One index seek per key (the (key, ts) index), so it stays
 * fast on a large ledger. Returns CP_OK, or CP_ERR with <e> (*<out> NULL). */
int cp_usage_last_used(const char *path, json_t **out, cp_err_t *e);

#endif
