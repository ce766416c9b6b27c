/* lib/team/cp_ledger.h: the usage ledger: one SQLite row per finished request.
 *
 * The loop hands finished requests to cp_ledger_add(), which copies the row into a bounded queue
 * under a mutex and returns: the loop never touches the disk. A writer thread owns the database
 * connection (WAL mode, synchronous=NORMAL) and writes the queue in batches, one transaction each,
 * every <flush_ms> or as soon as <batch_rows> rows wait. When the database is locked, read-only, full
 * or deleted, rows stay queued and the write is retried (a deleted or replaced file is opened again,
 * and its schema created); only when the queue is full is a row dropped, and every dropped row is
 * counted and reported in the log. cp_ledger_close() writes everything still queued, so a SIGTERM
 * drain loses nothing; a kill -9 loses at most the rows of the last <flush_ms>.
 *
 * The schema (table `requests`, docs/team.md "The ledger") is also read by `ccproxy usage`
 * (lib/team/cp_usage.h) and by cp_ledger_replay() at start, which rebuilds the limit counters. */
#ifndef CP_LEDGER_H
#define CP_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "cp_common.h"
#include "cp_price.h"

/* One finished request. Strings are borrowed during cp_ledger_add() (copied) and may be NULL. */
typedef struct cp_ledger_row {
    int64_t ts_ms;              /* when the request started, Unix ms */
    const char *rid;            /* request id */
    const char *key;            /* the developer key's name; NULL without keys */
    const char *session;        /* x-claude-code-session-id, when sent */
    const char *agent;          /* x-claude-code-agent-id, when sent */
    const char *model;          /* the client's model */
    const char *provider;       /* NULL when the request never got that far */
    const char *upstream_model; /* idem */
    const char *endpoint;       /* "messages" or "count_tokens" */
    int stream;                 /* the client asked for a stream */
    int status;                 /* the HTTP status the client got (499: it left first) */
    const char *error_type;     /* the Anthropic error type when the request failed (also for an error
                                   event in a stream that had started with 200), else NULL */
    int tokens_known;           /* the upstream reported usage: <tok> holds it */
    cp_tokens_t tok;            /* input (uncached), output, cache read, cache write */
    double cost_usd;            /* < 0: unknown (no price, or no usage) */
    int64_t ttfb_ms;            /* time to the first byte sent to the client; < 0: none was sent */
    int64_t duration_ms;        /* time to the end of the reply */
    int admitted;               /* it counted against its key's limits (refusals and count_tokens do not):
                                   only these rows rebuild the counters at start */
} cp_ledger_row_t;

typedef struct cp_ledger_opts {
    const char *path;    /* the database file; its directory is created (0700) when missing */
    unsigned flush_ms;   /* write at least this often (e.g. 250) */
    unsigned batch_rows; /* write as soon as this many rows wait (e.g. 500) */
    size_t queue_rows;   /* rows kept while the database cannot be written; more are dropped (counted) */
} cp_ledger_opts_t;

/* Counters, for the log, /health and metrics. */
typedef struct cp_ledger_stats {
    uint64_t written;    /* rows committed */
    uint64_t dropped;    /* rows lost because the queue was full */
    size_t queued;       /* rows waiting now */
    uint64_t failures;   /* batches that could not be written (each retried) */
    uint64_t max_add_ns; /* the longest cp_ledger_add() call so far: what the loop waited */
} cp_ledger_stats_t;

typedef struct cp_ledger cp_ledger_t;

/* Opens (creating the file 0600, its schema and indexes) and starts the writer thread. Returns new,
 * or NULL with <e> naming the file and the reason (then the server does not start: cp_team_new; it runs
 * without a ledger only when the admin turned it off). */
cp_ledger_t *cp_ledger_open(const cp_ledger_opts_t *o, cp_err_t *e);

/* Queues one row (copied; each string cut to CP_LEDGER_STR_MAX bytes). Never blocks on the disk: it
 * holds a mutex the writer thread takes only to move rows, never while writing. Safe from the loop
 * thread only; accepts NULL (no ledger: nothing is recorded). */
#define CP_LEDGER_STR_MAX 512
void cp_ledger_add(cp_ledger_t *l, const cp_ledger_row_t *row);

/* Fills <out> (all zero for a NULL <l>). Safe from the loop thread only. */
void cp_ledger_stats(cp_ledger_t *l, cp_ledger_stats_t *out);

/* Logs what happened on the writer's side since the last call (the writer thread never logs:
 * lib/base/cp_log.h is not thread-safe): "ledger write failed (retrying; N rows waiting): <reason>"
 * when writes start failing and again every 60 s while they keep failing, "ledger writes again
 * (N rows written)" when they recover, and "ledger queue full: N rows dropped so far" at most every
 * 10 s while rows are being dropped. The server calls it from a timer, about once a second. Loop
 * thread only; accepts NULL. */
void cp_ledger_poll(cp_ledger_t *l);

/* Writes every queued row (retrying for at most <wait_ms> when the database cannot be written: the
 * rows still unwritten then are counted as dropped and logged), stops the thread, closes, frees.
 * Accepts NULL. */
void cp_ledger_close(cp_ledger_t *l, unsigned wait_ms);

/* Reads the admitted rows with ts >= <since_ms> from the database at <path> (read-only; a missing file
 * is no rows) and calls <cb> for each with its key name (rows without a key are skipped), time, total tokens
 * (input + output + cache read + cache write; 0 when unknown) and cost (< 0 when unknown). Returns
 * CP_OK, or CP_ERR with <e>. Used at start, before the writer opens the file. */
typedef void (*cp_ledger_replay_cb)(void *ud, const char *key, int64_t ts_ms, int64_t tokens, double usd);
int cp_ledger_replay(const char *path, int64_t since_ms, cp_ledger_replay_cb cb, void *ud, cp_err_t *e);

/* The schema version this ccproxy writes and reads (PRAGMA user_version); a newer file is refused. */
#define CP_LEDGER_VERSION 1

/* For the readers (cp_ledger_replay, lib/team/cp_usage.c): opens the database at <path> read-only
 * (SQLITE_OPEN_READONLY, a 1 s busy timeout; in WAL mode a reader never blocks the writer) and checks
 * that it is a ledger this version can read. Returns CP_OK with *<out> (new: sqlite3_close() it),
 * CP_DECLINED when there is no ledger yet (no file, or an empty one), or CP_ERR with <e> naming the
 * file and the reason (not a regular file, not a database, not a ledger, a newer schema). */
struct sqlite3;
int cp_ledger_open_read(const char *path, struct sqlite3 **out, cp_err_t *e);

#endif
