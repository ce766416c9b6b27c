/* lib/team/cp_limits.h: per-key limits and budgets, counted exactly on one instance.
 *
 * The one interface every limit goes through (docs/team.md, "Limits and budgets"): admission before a
 * request is sent upstream, the charge when it ends, and the replay of past rows at start. A shared
 * store for several instances later implements these same calls. Counting only: no I/O, no clock (the
 * caller passes the time), no config parsing.
 *
 *   rpm          requests in the last 60 s (a sliding window of admission times)
 *   tpm          tokens in the last 60 s (input + output + cache read + cache write): the local input
 *                estimate is charged at admission and corrected by the real count at the end; kept in
 *                one-second buckets. A window with nothing in it admits any one request, so a request
 *                larger than the limit is not refused forever.
 *   max_streams  requests of the key in flight at once
 *   budget       USD or tokens spent in the current calendar day, week (from Monday) or month, UTC;
 *                checked at admission (a request that starts under the budget may end over it)
 *
 * Refusals say which limit and how long until it frees (retry-after: whole seconds, at least 1). */
#ifndef CP_LIMITS_H
#define CP_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum cp_per { CP_PER_NONE = 0, CP_PER_DAY, CP_PER_WEEK, CP_PER_MONTH };

/* One key's limits. 0 means "no limit" for every field. */
typedef struct cp_limit_spec {
    unsigned rpm;          /* requests per minute */
    int64_t tpm;           /* tokens per minute */
    unsigned max_streams;  /* requests in flight */
    double budget_usd;     /* USD per <per> */
    int64_t budget_tokens; /* tokens per <per> */
    enum cp_per per;       /* the budget's window (CP_PER_NONE when there is no budget) */
} cp_limit_spec_t;

#define CP_LIMITS_RPM_MAX 100000 /* the largest rpm a spec may hold (the window keeps one slot each) */

typedef struct cp_limits cp_limits_t;

/* Returns new, empty. */
cp_limits_t *cp_limits_new(void);
void cp_limits_free(cp_limits_t *l); /* accepts NULL */

/* Why a request was refused. */
typedef struct cp_limit_refusal {
    unsigned retry_after_s; /* >= 1 */
    int budget;             /* the budget refused (it renews in hours or days), not a rate */
    char msg[240];          /* names the key, the limit, its value and its field, e.g. "key \"alice\" is
                               over its limit of 60 requests per minute (rpm); retry in 12 s" or "key \"alice\"
                               has spent its budget of $50.00 for this month (budget.usd); it renews at
                               2027-01-01T00:00:00Z" (the name cut at 64 bytes, other than [A-Za-z0-9._-] as ?) */
} cp_limit_refusal_t;

/* Times are clamped to [0, 9999-12-31T23:59:59.999Z]. A key's clock never goes back: an earlier
 * <now_ms> than one already seen counts as that one, except that a jump back of more than 60 s starts
 * its rpm and tpm windows over. <name> is any string (NULL counts as ""); its state is kept until
 * cp_limits_free(). Every call costs O(1) amortized (at most 60 one-second buckets are visited). */

/* Admits one request of key <name> under <spec> at <now_ms> (Unix time in ms) with <est_tokens> input
 * tokens estimated (0 when not estimated). On CP_OK it is counted: one request in the rpm window,
 * <est_tokens> in the tpm window, one stream in flight; the caller must call cp_limits_end() once
 * for it. On CP_ERR nothing is counted and <why> is filled. Checks in this order: streams, rpm,
 * tpm, budget. */
int cp_limits_admit(cp_limits_t *l, const char *name, const cp_limit_spec_t *spec, int64_t now_ms,
                    int64_t est_tokens, cp_limit_refusal_t *why);

/* The admitted request ends at <now_ms>: the stream is released (never below 0); the tpm window gets
 * <tokens> - <est_tokens> (the correction: added to the current second, or, when negative, taken off
 * the newest seconds first, no second going below zero); the budget windows get <tokens> and <usd>
 * (<usd> < 0 or not finite: cost unknown, only tokens count). Negative token counts count as 0; counts
 * saturate at INT64_MAX. */
void cp_limits_end(cp_limits_t *l, const char *name, const cp_limit_spec_t *spec, int64_t now_ms,
                   int64_t est_tokens, int64_t tokens, double usd);

/* Rebuilding at start from the ledger (before any admission): a past request of <name> at <ts_ms>
 * that used <tokens> and cost <usd> (< 0: unknown). Requests within 60 s of <now_ms> count toward rpm and
 * tpm; those inside the current window of <spec>'s budget toward the budget. Older ones are ignored.
 * Rows may come in any order; a row later than <now_ms> counts as <now_ms>. */
void cp_limits_replay(cp_limits_t *l, const char *name, const cp_limit_spec_t *spec, int64_t now_ms,
                      int64_t ts_ms, int64_t tokens, double usd);

/* The start (Unix ms, UTC) of the window <per> that holds <now_ms>, and of the next one. For
 * CP_PER_NONE both are 0. Weeks start on Monday 00:00 UTC. */
void cp_limits_window(enum cp_per per, int64_t now_ms, int64_t *start_ms, int64_t *end_ms);

/* Parses "day", "week", "month". Returns CP_OK or CP_ERR. */
int cp_limits_per_parse(const char *s, enum cp_per *out);
const char *cp_limits_per_name(enum cp_per per); /* "day", ...; "" for CP_PER_NONE */

/* Returns new: where key <name> stands at <now_ms>, for GET /ccproxy/key and tests:
 * {"requests_last_minute": n, "tokens_last_minute": n, "streams": n,
 *  "budget": {"per": "month", "window_start": "2026-12-01T00:00:00Z", "window_end": "...",
 *             "spent_usd": x, "spent_tokens": n, "limit_usd": x | null, "limit_tokens": n | null}}
 * ("budget" only when <spec> has one). */
json_t *cp_limits_view(cp_limits_t *l, const char *name, const cp_limit_spec_t *spec, int64_t now_ms);

#endif
