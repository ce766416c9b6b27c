/* lib/team/cp_ledger.c: see cp_ledger.h.
 *
 * Threads. The loop thread calls cp_ledger_add/stats/poll/close; one writer thread owns the write
 * connection. They share only the fields marked "under mu". The writer takes rows off the queue into
 * its own batch under the mutex and writes that batch with the mutex released, so the loop waits at
 * most for a few pointer moves, never for the disk. A batch that fails stays the writer's and is
 * retried (250 ms doubling to 5 s) before any newer row, so rows are written in the order added.
 * The writer never logs (lib/base/cp_log.c keeps unlocked global state): it records what happened
 * under the mutex and cp_ledger_poll() reports it from the loop thread.
 *
 * Files. The database file is created by open(2) with mode 0600 before SQLite opens it (SQLite gives
 * the -wal and -shm files the mode of the database file), its directory with 0700. Before each batch
 * the path is stat()ed: when the file is gone or is another inode, the connection is closed and the
 * file created again, so rows never go into an unlinked inode (SQLite itself also refuses to write to
 * a database whose file was unlinked or moved: SQLITE_READONLY_DBMOVED, which is retried the same
 * way). Any failure other than "busy" closes the connection, so the next attempt starts afresh. */
#include "cp_ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cp_log.h"

#define LEDGER_NSTR        9      /* string fields of a row */
#define LEDGER_NULL_OFF    0xffff /* string offset meaning NULL */
#define LEDGER_BACKOFF_MIN 250    /* ms before the first retry */
#define LEDGER_BACKOFF_MAX 5000   /* ms between retries at most */
#define LEDGER_BUSY_MS     1000   /* the writer's busy timeout */
#define LEDGER_TXN_MIN     1000   /* rows one transaction may take when more wait (catching up) */
#define LEDGER_FAIL_LOG_MS 60000  /* a failure that lasts is logged again this often */
#define LEDGER_DROP_LOG_MS 10000  /* drops are logged at most this often */
#define LEDGER_PATH_MAX    4096

/* One queued row: fixed fields, then its strings packed in <data> (offsets into it). */
typedef struct ledger_item {
    struct ledger_item *next;
    int64_t ts_ms, ttfb_ms, duration_ms, added_ms;
    cp_tokens_t tok;
    double cost_usd;
    int stream, status, tokens_known, admitted;
    uint16_t off[LEDGER_NSTR]; /* LEDGER_NULL_OFF: NULL */
    char data[];
} ledger_item_t;

struct cp_ledger {
    char *path;
    unsigned flush_ms, batch_rows;
    size_t queue_rows, txn_rows;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    ledger_item_t *head, *tail; /* the queue, oldest first */
    size_t qn;                  /* rows in the queue */
    size_t inflight;            /* rows in the writer's batch */
    int stopping;
    int64_t stop_deadline; /* monotonic ms: give up retrying after this once stopping */
    int64_t retry_at;      /* monotonic ms of the next attempt after a failure; 0: not failing */
    unsigned backoff_ms;
    uint64_t written, dropped, failures;
    int failing, fail_news, recover_news;
    uint64_t written_at_fail;
    size_t fail_rows; /* rows waiting at the last failure */
    char fail_msg[256];
    /* the writer thread only (the closer after the join) */
    sqlite3 *db;
    sqlite3_stmt *ins;
    dev_t dev;
    ino_t ino;
    ledger_item_t *batch; /* taken from the queue, not yet committed */
    size_t nbatch;
    /* the loop thread only */
    uint64_t max_add_ns;
    int64_t fail_logged_ms, drop_logged_ms;
    uint64_t dropped_logged;
};

static const char ledger_schema[] =
    "CREATE TABLE IF NOT EXISTS requests ("
    "id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, rid TEXT, key TEXT, session TEXT, agent TEXT, "
    "model TEXT, provider TEXT, upstream_model TEXT, endpoint TEXT, stream INTEGER, status INTEGER, "
    "error_type TEXT, input_tokens INTEGER, output_tokens INTEGER, cache_read_tokens INTEGER, "
    "cache_write_tokens INTEGER, cost_usd REAL, ttfb_ms INTEGER, duration_ms INTEGER, admitted INTEGER);"
    "CREATE INDEX IF NOT EXISTS requests_ts ON requests(ts);"
    "CREATE INDEX IF NOT EXISTS requests_key_ts ON requests(key, ts);"
    "PRAGMA user_version = 1;";

static const char ledger_insert[] =
    "INSERT INTO requests (ts, rid, key, session, agent, model, provider, upstream_model, endpoint, "
    "stream, status, error_type, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
    "cost_usd, ttfb_ms, duration_ms, admitted) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

static int64_t ledger_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t ledger_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- rows ---- */

/* The bytes of <s> kept: at most CP_LEDGER_STR_MAX, cut before a UTF-8 continuation byte. */
static size_t ledger_str_len(const char *s)
{
    size_t n = strnlen(s, CP_LEDGER_STR_MAX + 1);

    if (n <= CP_LEDGER_STR_MAX)
        return n;
    n = CP_LEDGER_STR_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

/* Returns new: <row> copied into one allocation. */
static ledger_item_t *ledger_item_new(const cp_ledger_row_t *row, int64_t now_ms)
{
    const char *s[LEDGER_NSTR] = {row->rid,       row->key,      row->session,        row->agent,
                                  row->model,     row->provider, row->upstream_model, row->endpoint,
                                  row->error_type};
    size_t len[LEDGER_NSTR], total = 0;
    ledger_item_t *it;

    for (int i = 0; i < LEDGER_NSTR; i++) {
        len[i] = s[i] != NULL ? ledger_str_len(s[i]) : 0;
        total += s[i] != NULL ? len[i] + 1 : 0;
    }
    it = cp_xmalloc(sizeof(*it) + total);
    it->next = NULL;
    it->ts_ms = row->ts_ms;
    it->ttfb_ms = row->ttfb_ms;
    it->duration_ms = row->duration_ms;
    it->added_ms = now_ms;
    it->tok = row->tok;
    it->cost_usd = row->cost_usd;
    it->stream = row->stream;
    it->status = row->status;
    it->tokens_known = row->tokens_known;
    it->admitted = row->admitted;
    total = 0;
    for (int i = 0; i < LEDGER_NSTR; i++) {
        if (s[i] == NULL) {
            it->off[i] = LEDGER_NULL_OFF;
            continue;
        }
        it->off[i] = (uint16_t)total; /* < LEDGER_NSTR * (CP_LEDGER_STR_MAX + 1) */
        memcpy(it->data + total, s[i], len[i]);
        it->data[total + len[i]] = '\0';
        total += len[i] + 1;
    }
    return it;
}

static void ledger_items_free(ledger_item_t *it)
{
    while (it != NULL) {
        ledger_item_t *next = it->next;
        free(it);
        it = next;
    }
}

/* ---- opening ---- */

/* Creates the directories above <path> (0700) that are missing. Returns CP_OK or CP_ERR (errno). */
static int ledger_mkdirs(const char *path)
{
    char dir[LEDGER_PATH_MAX];
    size_t n = strlen(path);

    if (n >= sizeof(dir)) {
        errno = ENAMETOOLONG;
        return CP_ERR;
    }
    memcpy(dir, path, n + 1);
    for (char *p = dir + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return CP_ERR;
        *p = '/';
    }
    return CP_OK;
}

/* Returns the integer of the one-row, one-column <sql>, or -1 with <msg> on an error. */
static int64_t ledger_int_query(sqlite3 *db, const char *sql, char *msg, size_t n)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    if (v < 0)
        snprintf(msg, n, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return v;
}

/* Checks the schema version and what the file holds. Returns CP_OK (a ledger of this version),
 * CP_DECLINED (an empty database) or CP_ERR with <msg>. */
static int ledger_check(sqlite3 *db, char *msg, size_t n)
{
    int64_t ver = ledger_int_query(db, "PRAGMA user_version", msg, n), objects;

    if (ver < 0)
        return CP_ERR;
    if (ver > CP_LEDGER_VERSION) {
        snprintf(msg, n, "written by a newer ccproxy (schema version %lld; this one reads version %d)",
                 (long long)ver, CP_LEDGER_VERSION);
        return CP_ERR;
    }
    if (ver == CP_LEDGER_VERSION)
        return CP_OK;
    if ((objects = ledger_int_query(db, "SELECT count(*) FROM sqlite_master", msg, n)) < 0)
        return CP_ERR;
    if (objects > 0) {
        snprintf(msg, n,
                 "an SQLite database, but not a ccproxy ledger (schema version 0, and it holds "
                 "other tables)");
        return CP_ERR;
    }
    return CP_DECLINED;
}

/* Creates <path> (0600) unless it exists, and checks that it is a regular file. */
static int ledger_create_file(const char *path, char *msg, size_t n)
{
    struct stat st;
    int fd;

    if (ledger_mkdirs(path) != CP_OK) {
        snprintf(msg, n, "cannot create its directory: %s", strerror(errno));
        return CP_ERR;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
    if (fd < 0) {
        snprintf(msg, n, "cannot open: %s", strerror(errno));
        return CP_ERR;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, n, "not a regular file");
        close(fd);
        return CP_ERR;
    }
    close(fd);
    return CP_OK;
}

static void ledger_db_close(cp_ledger_t *l)
{
    sqlite3_finalize(l->ins);
    l->ins = NULL;
    sqlite3_close(l->db);
    l->db = NULL;
}

/* Opens the write connection, creating the file, its schema and indexes. Returns CP_OK or CP_ERR
 * with <msg>. */
static int ledger_db_open(cp_ledger_t *l, char *msg, size_t n)
{
    struct stat st;
    char *err = NULL;
    int rc;

    if (ledger_create_file(l->path, msg, n) != CP_OK)
        return CP_ERR;
    if (sqlite3_open_v2(l->path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_extended_result_codes(l->db, 1);
    sqlite3_busy_timeout(l->db, LEDGER_BUSY_MS);
    if ((rc = ledger_check(l->db, msg, n)) == CP_ERR) {
        ledger_db_close(l);
        return CP_ERR;
    }
    if (sqlite3_exec(l->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", NULL, NULL, &err) !=
        SQLITE_OK)
        goto fail;
    if (rc == CP_DECLINED) { /* new: the schema, in one transaction */
        if (sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK)
            goto fail;
        if (sqlite3_exec(l->db, ledger_schema, NULL, NULL, &err) != SQLITE_OK ||
            sqlite3_exec(l->db, "COMMIT", NULL, NULL, &err) != SQLITE_OK) {
            sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
    }
    if (sqlite3_prepare_v3(l->db, ledger_insert, -1, SQLITE_PREPARE_PERSISTENT, &l->ins, NULL) != SQLITE_OK)
        goto fail;
    if (stat(l->path, &st) != 0) {
        snprintf(msg, n, "vanished while being opened");
        ledger_db_close(l);
        return CP_ERR;
    }
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    return CP_OK;
fail:
    snprintf(msg, n, "%s", err != NULL ? err : l->db != NULL ? sqlite3_errmsg(l->db) : "out of memory");
    sqlite3_free(err);
    ledger_db_close(l);
    return CP_ERR;
}

/* True when the file at the path is no longer the one the connection has open. */
static int ledger_moved(const cp_ledger_t *l)
{
    struct stat st;

    return stat(l->path, &st) != 0 || st.st_dev != l->dev || st.st_ino != l->ino;
}

/* ---- writing ---- */

static void ledger_bind_text(sqlite3_stmt *st, int col, const ledger_item_t *it, int i)
{
    if (it->off[i] == LEDGER_NULL_OFF)
        sqlite3_bind_null(st, col);
    else
        sqlite3_bind_text(st, col, it->data + it->off[i], -1, SQLITE_STATIC);
}

static void ledger_bind(sqlite3_stmt *st, const ledger_item_t *it)
{
    const int64_t tok[4] = {it->tok.input, it->tok.output, it->tok.cache_read, it->tok.cache_write};

    sqlite3_bind_int64(st, 1, it->ts_ms);
    for (int i = 0; i < 8; i++) /* rid .. endpoint */
        ledger_bind_text(st, 2 + i, it, i);
    sqlite3_bind_int(st, 10, it->stream != 0);
    sqlite3_bind_int(st, 11, it->status);
    ledger_bind_text(st, 12, it, 8); /* error_type */
    for (int i = 0; i < 4; i++) {
        if (it->tokens_known)
            sqlite3_bind_int64(st, 13 + i, tok[i]);
        else
            sqlite3_bind_null(st, 13 + i);
    }
    if (it->cost_usd >= 0 && isfinite(it->cost_usd))
        sqlite3_bind_double(st, 17, it->cost_usd);
    else
        sqlite3_bind_null(st, 17);
    if (it->ttfb_ms >= 0)
        sqlite3_bind_int64(st, 18, it->ttfb_ms);
    else
        sqlite3_bind_null(st, 18);
    sqlite3_bind_int64(st, 19, it->duration_ms);
    sqlite3_bind_int(st, 20, it->admitted != 0);
}

/* Writes the writer's batch in one transaction. Returns CP_OK, or CP_ERR with <msg> (the batch is
 * kept; a connection that failed other than by being busy is closed, to be opened again). */
static int ledger_write(cp_ledger_t *l, char *msg, size_t n)
{
    int rc;

    if (l->db != NULL && ledger_moved(l))
        ledger_db_close(l);
    if (l->db == NULL && ledger_db_open(l, msg, n) != CP_OK)
        return CP_ERR;
    rc = sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (ledger_item_t *it = l->batch; it != NULL && rc == SQLITE_OK; it = it->next) {
        ledger_bind(l->ins, it);
        rc = sqlite3_step(l->ins);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_reset(l->ins);
        sqlite3_clear_bindings(l->ins);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return CP_OK;
    snprintf(msg, n, "%s", sqlite3_errmsg(l->db));
    if (!sqlite3_get_autocommit(l->db))
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
        ledger_db_close(l);
    return CP_ERR;
}

/* Under mu: when the writer should write next (monotonic ms). */
static int64_t ledger_due(const cp_ledger_t *l, int64_t now)
{
    if (l->retry_at != 0)
        return l->retry_at;
    if (l->stopping || l->qn >= l->batch_rows || l->head == NULL)
        return now;
    return l->head->added_ms + l->flush_ms;
}

/* Under mu: moves up to txn_rows rows from the queue into the writer's batch. */
static void ledger_take(cp_ledger_t *l)
{
    ledger_item_t **tail = &l->batch;
    size_t k = 0;

    if (l->qn <= l->txn_rows) { /* the usual case: the whole queue, without walking it */
        l->batch = l->head;
        l->nbatch = l->inflight = l->qn;
        l->head = l->tail = NULL;
        l->qn = 0;
        return;
    }
    while (l->head != NULL && k < l->txn_rows) {
        *tail = l->head;
        tail = &l->head->next;
        l->head = l->head->next;
        k++;
    }
    *tail = NULL;
    if (l->head == NULL)
        l->tail = NULL;
    l->qn -= k;
    l->nbatch = k;
    l->inflight = k;
}

/* Under mu: records the outcome of one attempt. Returns 1 when the writer must give up (stopping and
 * past the deadline). */
static int ledger_outcome(cp_ledger_t *l, int ok, size_t nrows, const char *msg)
{
    int64_t now = ledger_now_ms();

    if (ok) {
        l->written += nrows;
        l->inflight = 0;
        if (l->failing)
            l->recover_news = 1;
        l->failing = 0;
        l->retry_at = 0;
        l->backoff_ms = 0;
        return 0;
    }
    l->failures++;
    if (!l->failing) {
        l->failing = 1;
        l->fail_news = 1;
        l->written_at_fail = l->written;
    }
    snprintf(l->fail_msg, sizeof(l->fail_msg), "%s", msg);
    l->fail_rows = l->qn + l->inflight;
    l->backoff_ms = l->backoff_ms == 0                        ? LEDGER_BACKOFF_MIN
                    : l->backoff_ms >= LEDGER_BACKOFF_MAX / 2 ? LEDGER_BACKOFF_MAX
                                                              : l->backoff_ms * 2;
    l->retry_at = now + l->backoff_ms;
    if (l->stopping) {
        if (now >= l->stop_deadline)
            return 1;
        if (l->retry_at > l->stop_deadline)
            l->retry_at = l->stop_deadline;
    }
    return 0;
}

static void ledger_wait_until(cp_ledger_t *l, int64_t due_ms)
{
    struct timespec ts = {(time_t)(due_ms / 1000), (long)(due_ms % 1000) * 1000000L};

    pthread_cond_timedwait(&l->cv, &l->mu, &ts);
}

static void *ledger_main(void *arg)
{
    cp_ledger_t *l = arg;
    char msg[256];

    pthread_mutex_lock(&l->mu);
    for (;;) {
        int64_t now = ledger_now_ms(), due;
        size_t n;
        int ok;

        if (l->batch == NULL && l->head == NULL) {
            if (l->stopping)
                break;
            pthread_cond_wait(&l->cv, &l->mu);
            continue;
        }
        if (now < (due = ledger_due(l, now))) {
            ledger_wait_until(l, due);
            continue;
        }
        if (l->batch == NULL)
            ledger_take(l);
        n = l->nbatch;
        pthread_mutex_unlock(&l->mu);
        ok = ledger_write(l, msg, sizeof(msg)) == CP_OK;
        if (ok) {
            ledger_items_free(l->batch); /* outside the mutex: the loop never waits for this */
            l->batch = NULL;
            l->nbatch = 0;
        }
        pthread_mutex_lock(&l->mu);
        if (ledger_outcome(l, ok, n, msg))
            break;
    }
    pthread_mutex_unlock(&l->mu);
    ledger_db_close(l);
    return NULL;
}

/* ---- the API ---- */

static void ledger_free(cp_ledger_t *l)
{
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l->path);
    free(l);
}

/* Starts the writer with every signal blocked: signals belong to the loop thread. */
static int ledger_start(cp_ledger_t *l)
{
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&l->thread, NULL, ledger_main, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? CP_OK : CP_ERR;
}

cp_ledger_t *cp_ledger_open(const cp_ledger_opts_t *o, cp_err_t *e)
{
    cp_ledger_t *l;
    pthread_condattr_t ca;
    char msg[256];

    if (o->path == NULL || o->path[0] == '\0' || strlen(o->path) >= LEDGER_PATH_MAX) {
        cp_err_set(e, 0, NULL, "ledger: the path is empty or too long");
        return NULL;
    }
    l = cp_xcalloc(1, sizeof(*l));
    l->path = cp_xstrdup(o->path);
    l->flush_ms = o->flush_ms;
    l->batch_rows = o->batch_rows > 0 ? o->batch_rows : 1;
    l->queue_rows = o->queue_rows > 0 ? o->queue_rows : 1;
    l->txn_rows = l->batch_rows > LEDGER_TXN_MIN ? l->batch_rows : LEDGER_TXN_MIN;
    l->fail_logged_ms = l->drop_logged_ms = INT64_MIN / 2;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (ledger_db_open(l, msg, sizeof(msg)) != CP_OK) {
        cp_err_set(e, 0, NULL, "ledger %s: %s", l->path, msg);
        ledger_free(l);
        return NULL;
    }
    if (ledger_start(l) != CP_OK) { /* the connection passes to the writer thread here */
        cp_err_set(e, 0, NULL, "ledger %s: cannot start the writer thread", l->path);
        ledger_db_close(l);
        ledger_free(l);
        return NULL;
    }
    return l;
}

void cp_ledger_add(cp_ledger_t *l, const cp_ledger_row_t *row)
{
    uint64_t t0 = ledger_now_ns(), dt;
    ledger_item_t *it;
    int full;

    if (l == NULL || row == NULL)
        return;
    it = ledger_item_new(row, (int64_t)(t0 / 1000000u));
    pthread_mutex_lock(&l->mu);
    full = l->qn + l->inflight >= l->queue_rows;
    if (full) {
        l->dropped++;
    } else {
        if (l->tail != NULL)
            l->tail->next = it;
        else
            l->head = it;
        l->tail = it;
        l->qn++;
        if (l->qn == 1 || l->qn == l->batch_rows) /* the writer sleeps untimed on an empty queue */
            pthread_cond_signal(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    if (full)
        free(it);
    dt = ledger_now_ns() - t0;
    if (dt > l->max_add_ns)
        l->max_add_ns = dt;
}

void cp_ledger_stats(cp_ledger_t *l, cp_ledger_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    out->written = l->written;
    out->dropped = l->dropped;
    out->queued = l->qn + l->inflight;
    out->failures = l->failures;
    pthread_mutex_unlock(&l->mu);
    out->max_add_ns = l->max_add_ns;
}

/* Logs "<fmt with one count>" with the path as a field. */
static void ledger_log(enum cp_log_level level, const cp_ledger_t *l, const char *fmt, uint64_t count)
{
    char m[256];

    snprintf(m, sizeof(m), fmt, (unsigned long long)count);
    cp_log_j(level, m, json_pack("{s:s}", "path", l->path));
}

void cp_ledger_poll(cp_ledger_t *l)
{
    int failing, fail_news, recover_news;
    uint64_t since_fail, dropped;
    size_t queued;
    char reason[sizeof(l->fail_msg)];
    int64_t now = ledger_now_ms();

    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    failing = l->failing;
    fail_news = l->fail_news;
    recover_news = l->recover_news;
    l->fail_news = l->recover_news = 0;
    since_fail = l->written - l->written_at_fail;
    dropped = l->dropped;
    queued = l->fail_rows;
    memcpy(reason, l->fail_msg, sizeof(reason));
    pthread_mutex_unlock(&l->mu);
    if (fail_news || (failing && now - l->fail_logged_ms >= LEDGER_FAIL_LOG_MS)) {
        char m[512];
        snprintf(m, sizeof(m), "ledger write failed (retrying; %zu rows waiting): %s", queued, reason);
        cp_log_j(CP_LOG_WARN, m, json_pack("{s:s}", "path", l->path));
        l->fail_logged_ms = now;
    }
    if (recover_news && !failing)
        ledger_log(CP_LOG_INFO, l, "ledger writes again (%llu rows written)", since_fail);
    if (dropped > l->dropped_logged && now - l->drop_logged_ms >= LEDGER_DROP_LOG_MS) {
        ledger_log(CP_LOG_WARN, l, "ledger queue full: %llu rows dropped so far", dropped);
        l->dropped_logged = dropped;
        l->drop_logged_ms = now;
    }
}

void cp_ledger_close(cp_ledger_t *l, unsigned wait_ms)
{
    size_t lost;

    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    l->stopping = 1;
    l->stop_deadline = ledger_now_ms() + wait_ms;
    if (l->retry_at != 0)
        l->retry_at = ledger_now_ms(); /* one more attempt now */
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    lost = l->nbatch + l->qn;
    ledger_items_free(l->batch);
    ledger_items_free(l->head);
    l->batch = l->head = l->tail = NULL;
    l->nbatch = l->qn = l->inflight = 0;
    cp_ledger_poll(l);
    if (lost > 0) {
        char m[512];
        l->dropped += lost;
        snprintf(m, sizeof(m), "ledger: %zu rows could not be written before exit: %s", lost, l->fail_msg);
        cp_log_j(CP_LOG_WARN, m, json_pack("{s:s}", "path", l->path));
    }
    ledger_free(l);
}

/* ---- reading ---- */

int cp_ledger_open_read(const char *path, struct sqlite3 **out, cp_err_t *e)
{
    struct stat st;
    sqlite3 *db = NULL;
    char msg[256];
    int rc;

    *out = NULL;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return CP_DECLINED;
        return cp_err_set(e, 0, NULL, "ledger %s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return cp_err_set(e, 0, NULL, "ledger %s: not a regular file", path);
    if (st.st_size == 0)
        return CP_DECLINED;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        cp_err_set(e, 0, NULL, "ledger %s: %s", path, db != NULL ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return CP_ERR;
    }
    sqlite3_busy_timeout(db, LEDGER_BUSY_MS);
    if ((rc = ledger_check(db, msg, sizeof(msg))) != CP_OK) {
        sqlite3_close(db);
        return rc == CP_DECLINED ? CP_DECLINED : cp_err_set(e, 0, NULL, "ledger %s: %s", path, msg);
    }
    *out = db;
    return CP_OK;
}

static int64_t ledger_col_i64(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, col);
}

int cp_ledger_replay(const char *path, int64_t since_ms, cp_ledger_replay_cb cb, void *ud, cp_err_t *e)
{
    static const char sql[] =
        "SELECT key, ts, input_tokens, output_tokens, cache_read_tokens, "
        "cache_write_tokens, cost_usd FROM requests WHERE ts >= ?1 AND key IS NOT NULL AND admitted = 1 "
        "ORDER BY ts";
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    int rc = cp_ledger_open_read(path, &db, e);

    if (rc != CP_OK)
        return rc == CP_DECLINED ? CP_OK : CP_ERR;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, since_ms);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t tokens = 0;
            for (int i = 2; i <= 5; i++)
                tokens += ledger_col_i64(st, i);
            cb(ud, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1), tokens,
               sqlite3_column_type(st, 6) == SQLITE_NULL ? -1.0 : sqlite3_column_double(st, 6));
        }
        rc = rc == SQLITE_DONE ? CP_OK : CP_ERR;
    } else {
        rc = CP_ERR;
    }
    if (rc != CP_OK)
        cp_err_set(e, 0, NULL, "ledger %s: %s", path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}
