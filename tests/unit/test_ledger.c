/* Unit tests for lib/team/cp_ledger.c, against the real SQLite library and real files: every field
 * lands as added (NULL for unknowns), batching by time and by count, close flushes, rows wait while
 * the database cannot be written and are written once it can (locked, full, its directory gone), a
 * deleted file is created again, overflow drops are counted exactly, replay sums, hostile paths.
 *
 * How "cannot be written" is made real, as root as well as not (root ignores file modes, and chmod
 * does not affect a file already open):
 *  - locked: a second connection holds BEGIN EXCLUSIVE, so the writer gets SQLITE_BUSY;
 *  - full: setrlimit(RLIMIT_FSIZE) below the WAL's size (SIGXFSZ ignored), so writes fail with EFBIG,
 *    as on a full disk; the limit applies to root too;
 *  - cannot be opened: the database's directory is moved away and a regular file put in its place,
 *    so the writer (which notices that its file moved) cannot create it again (ENOTDIR).
 * Logs are captured with cp_log_set_stream() and read from the test thread, which plays the loop. */
#include "cp_unit.h"

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include <sqlite3.h>

#include "cp_ledger.h"
#include "cp_log.h"

static char logbuf[65536];
static FILE *logf_;

static void log_capture(void)
{
    memset(logbuf, 0, sizeof(logbuf));
    logf_ = fmemopen(logbuf, sizeof(logbuf) - 1, "w");
    cp_log_setup(CP_LOG_INFO, CP_LOG_TEXT);
    cp_log_set_stream(logf_);
}

static void log_done(void)
{
    fflush(logf_);
    cp_log_set_stream(NULL);
    fclose(logf_);
    logf_ = NULL;
}

static int log_has(const char *s)
{
    fflush(logf_);
    return strstr(logbuf, s) != NULL;
}

typedef struct fx {
    char dir[512];
    char path[600];
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));

    unit_test_dir(f->dir, sizeof(f->dir), "ledger");
    snprintf(f->path, sizeof(f->path), "%s/usage.db", f->dir);
    log_capture();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;

    log_done();
    unit_rmtree(f->dir);
    free(f);
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static cp_ledger_t *open_l(const char *path, unsigned flush_ms, unsigned batch, size_t queue)
{
    cp_ledger_opts_t o = {path, flush_ms, batch, queue};
    cp_err_t e = {0};
    cp_ledger_t *l = cp_ledger_open(&o, &e);

    if (l == NULL)
        fail_msg("open %s: %s", path, e.msg);
    return l;
}

static cp_ledger_row_t row_n(int i)
{
    cp_ledger_row_t r = {0};

    r.ts_ms = 1700000000000LL + i;
    r.rid = "req_x";
    r.key = i % 2 ? "alice" : "bob";
    r.model = "claude-sonnet-4-5";
    r.provider = "openai";
    r.endpoint = "messages";
    r.status = 200;
    r.tokens_known = 1;
    r.tok.input = 10;
    r.tok.output = 20;
    r.cost_usd = 0.5;
    r.ttfb_ms = 100;
    r.duration_ms = 300;
    r.admitted = 1;
    return r;
}

static void add_n(cp_ledger_t *l, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        cp_ledger_row_t r = row_n(i);
        cp_ledger_add(l, &r);
    }
}

/* Waits until the ledger has written <n> rows (fails after <ms>). */
static void wait_written(cp_ledger_t *l, uint64_t n, int ms)
{
    cp_ledger_stats_t st;

    for (int t = 0; t < ms; t += 10) {
        cp_ledger_stats(l, &st);
        if (st.written >= n)
            return;
        sleep_ms(10);
    }
    cp_ledger_stats(l, &st);
    fail_msg("written %llu, wanted %llu (queued %zu, failures %llu)", (unsigned long long)st.written,
             (unsigned long long)n, st.queued, (unsigned long long)st.failures);
}

static void wait_failures(cp_ledger_t *l, uint64_t n, int ms)
{
    cp_ledger_stats_t st;

    for (int t = 0; t < ms; t += 10) {
        cp_ledger_stats(l, &st);
        if (st.failures >= n)
            return;
        sleep_ms(10);
    }
    fail_msg("no failure after %d ms", ms);
}

static int64_t q_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t v = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
}

/* Every field written as given, NULL for the unknowns; file 0600 in a created 0700 directory. */
static void test_fields(void **state)
{
    fx_t *f = *state;
    char deep[1000], dir[900];
    cp_ledger_row_t full = {0}, bare = {0};
    cp_ledger_t *l;
    sqlite3 *db;
    sqlite3_stmt *st;
    struct stat sb;
    char longs[2000];

    snprintf(dir, sizeof(dir), "%s/a/b/c", f->dir);
    snprintf(deep, sizeof(deep), "%s/usage.db", dir);
    memset(longs, 'x', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';
    full = (cp_ledger_row_t){1750000000123LL,
                             "req_1",
                             "alice",
                             "sess-1",
                             "agent-1",
                             "claude-opus-4-1",
                             "openai",
                             "gpt-5",
                             "messages",
                             1,
                             429,
                             "rate_limit_error",
                             1,
                             {11, 22, 33, 44},
                             0.125,
                             87,
                             1234,
                             1};
    bare.ts_ms = 5;
    bare.session = longs; /* cut to CP_LEDGER_STR_MAX */
    bare.cost_usd = -1;
    bare.ttfb_ms = -1;
    bare.status = 499;
    bare.duration_ms = 9;
    l = open_l(deep, 50, 100, 1000);
    cp_ledger_add(l, &full);
    cp_ledger_add(l, &bare);
    cp_ledger_close(l, 2000);

    assert_int_equal(stat(deep, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(q_int(deep, "PRAGMA user_version"), 1);
    assert_int_equal(sqlite3_open_v2(deep, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT ts, rid, key, session, agent, model, provider, upstream_model, "
                           "endpoint, stream, status, error_type, input_tokens, output_tokens, "
                           "cache_read_tokens, cache_write_tokens, cost_usd, ttfb_ms, duration_ms, admitted "
                           "FROM requests ORDER BY id",
                           -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 1750000000123LL);
    {
        const char *want[] = {"req_1",           "alice",  "sess-1", "agent-1",
                              "claude-opus-4-1", "openai", "gpt-5",  "messages"};
        for (int i = 0; i < 8; i++)
            assert_string_equal((const char *)sqlite3_column_text(st, 1 + i), want[i]);
    }
    assert_int_equal(sqlite3_column_int(st, 9), 1);
    assert_int_equal(sqlite3_column_int(st, 10), 429);
    assert_string_equal((const char *)sqlite3_column_text(st, 11), "rate_limit_error");
    for (int i = 0; i < 4; i++)
        assert_int_equal(sqlite3_column_int64(st, 12 + i), 11 * (i + 1));
    assert_true(sqlite3_column_double(st, 16) == 0.125);
    assert_int_equal(sqlite3_column_int64(st, 17), 87);
    assert_int_equal(sqlite3_column_int64(st, 18), 1234);
    assert_int_equal(sqlite3_column_int(st, 19), 1);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 5);
    for (int c = 1; c <= 18; c++) {
        if (c == 3) /* session: cut */
            assert_int_equal(sqlite3_column_bytes(st, c), CP_LEDGER_STR_MAX);
        else if (c == 9 || c == 10 || c == 18) /* stream, status, duration: always there (admitted too) */
            assert_int_equal(sqlite3_column_type(st, c), SQLITE_INTEGER);
        else
            assert_int_equal(sqlite3_column_type(st, c), SQLITE_NULL);
    }
    assert_int_equal(sqlite3_column_int(st, 10), 499);
    assert_int_equal(sqlite3_column_int(st, 19), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* A row appears within flush_ms (and not at once); a burst of batch_rows is written long before. */
static void test_batching(void **state)
{
    fx_t *f = *state;
    cp_ledger_t *l = open_l(f->path, 300, 1000, 10000);
    cp_ledger_stats_t st;

    add_n(l, 0, 1);
    cp_ledger_stats(l, &st);
    assert_int_equal(st.written, 0);
    assert_int_equal(st.queued, 1);
    wait_written(l, 1, 3000);
    assert_int_equal(q_int(f->path, "SELECT count(*) FROM requests"), 1);
    cp_ledger_close(l, 1000);

    l = open_l(f->path, 60000, 100, 10000); /* the timer alone would wait a minute */
    add_n(l, 1, 99);
    sleep_ms(100);
    cp_ledger_stats(l, &st);
    assert_int_equal(st.written, 0);
    add_n(l, 100, 1);
    wait_written(l, 100, 3000);
    cp_ledger_stats(l, &st);
    assert_true(st.max_add_ns > 0);
    assert_int_equal(st.dropped, 0);
    cp_ledger_close(l, 1000);
    assert_int_equal(q_int(f->path, "SELECT count(*) FROM requests"), 101);
}

/* close() writes everything queued, however many batches it takes. */
static void test_close_flushes(void **state)
{
    fx_t *f = *state;
    cp_ledger_t *l = open_l(f->path, 60000, 1000000, 100000);

    add_n(l, 0, 5000);
    cp_ledger_close(l, 5000);
    assert_int_equal(q_int(f->path, "SELECT count(*) FROM requests"), 5000);
    assert_int_equal(q_int(f->path, "SELECT count(DISTINCT ts) FROM requests"), 5000);
    assert_false(log_has("could not be written"));
}

/* Locked by another connection: rows wait, the failure is logged once, then all are written. */
static void test_locked(void **state)
{
    fx_t *f = *state;
    cp_ledger_t *l = open_l(f->path, 20, 10, 1000);
    cp_ledger_stats_t st;
    sqlite3 *other;

    add_n(l, 0, 1);
    wait_written(l, 1, 3000);
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    exec_sql(other, "BEGIN EXCLUSIVE");
    add_n(l, 1, 50);
    wait_failures(l, 1, 5000);
    cp_ledger_poll(l);
    cp_ledger_poll(l); /* rate limited: logged once */
    cp_ledger_stats(l, &st);
    assert_int_equal(st.written, 1);
    assert_int_equal(st.queued, 50);
    assert_true(log_has("ledger write failed (retrying; 50 rows waiting): database is locked"));
    assert_null(strstr(strstr(logbuf, "ledger write failed") + 1, "ledger write failed"));
    exec_sql(other, "ROLLBACK");
    sqlite3_close(other);
    wait_written(l, 51, 10000);
    cp_ledger_poll(l);
    assert_true(log_has("ledger writes again (50 rows written)"));
    cp_ledger_close(l, 1000);
    assert_int_equal(q_int(f->path, "SELECT count(*) FROM requests"), 51);
}

/* Disk full (the file size limit): rows wait and are all written once there is room again. */
static void test_full(void **state)
{
    fx_t *f = *state;
    cp_ledger_t *l = open_l(f->path, 20, 10, 1000);
    struct rlimit old, lim;
    void (*oldsig)(int);
    cp_ledger_stats_t st;

    add_n(l, 0, 1);
    wait_written(l, 1, 3000);
    oldsig = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1024; /* below one WAL frame: any new frame fails with EFBIG */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    add_n(l, 1, 30);
    wait_failures(l, 2, 10000);
    cp_ledger_stats(l, &st);
    assert_int_equal(st.written, 1);
    assert_int_equal(st.queued, 30);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, oldsig);
    wait_written(l, 31, 15000);
    cp_ledger_poll(l);
    assert_true(log_has("ledger write failed (retrying; 30 rows waiting)"));
    assert_true(log_has("ledger writes again"));
    cp_ledger_close(l, 1000);
    assert_int_equal(q_int(f->path, "SELECT count(*) FROM requests"), 31);
    assert_int_equal(q_int(f->path, "SELECT count(DISTINCT ts) FROM requests"), 31);
}

/* The directory is replaced by a file: the database cannot be opened; rows wait until it is back. */
static void test_cannot_open(void **state)
{
    fx_t *f = *state;
    char sub[700], path[800], moved[800];
    cp_ledger_t *l;
    cp_ledger_stats_t st;

    snprintf(sub, sizeof(sub), "%s/d", f->dir);
    snprintf(path, sizeof(path), "%s/usage.db", sub);
    snprintf(moved, sizeof(moved), "%s/d.old", f->dir);
    l = open_l(path, 20, 10, 1000);
    add_n(l, 0, 3);
    wait_written(l, 3, 3000);
    assert_int_equal(rename(sub, moved), 0);
    unit_write(f->dir, "d", "not a directory");
    add_n(l, 3, 7);
    wait_failures(l, 1, 5000);
    cp_ledger_poll(l);
    assert_true(log_has("rows waiting): cannot open: Not a directory"));
    cp_ledger_stats(l, &st);
    assert_int_equal(st.written, 3);
    assert_int_equal(unlink(sub), 0);
    assert_int_equal(rename(moved, sub), 0);
    wait_written(l, 10, 10000);
    cp_ledger_close(l, 1000);
    assert_int_equal(q_int(path, "SELECT count(*) FROM requests"), 10);
}

/* Without write permission on the directory (not as root: root ignores modes). */
static void test_no_permission(void **state)
{
    fx_t *f = *state;
    cp_ledger_t *l;

    if (geteuid() == 0) {
        skip();
        return;
    }
    l = open_l(f->path, 20, 10, 1000);
    add_n(l, 0, 1);
    wait_written(l, 1, 3000);
    unlink(f->path);
    chmod(f->dir, 0500);
    add_n(l, 1, 4);
    wait_failures(l, 1, 5000);
    chmod(f->dir, 0700);
    wait_written(l, 5, 10000);
    cp_ledger_close(l, 1000);
    assert_int_equal(q_int(f->path, "SELECT count(*) FROM requests"), 4);
}

/* A deleted database is created again: the next rows land in the new file, not in the unlinked one. */
static void test_deleted(void **state)
{
    fx_t *f = *state;
    cp_ledger_t *l = open_l(f->path, 20, 10, 1000);
    char side[1300];
    struct stat sb;

    add_n(l, 0, 5);
    wait_written(l, 5, 3000);
    assert_int_equal(unlink(f->path), 0);
    snprintf(side, sizeof(side), "%s-wal", f->path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", f->path);
    unlink(side);
    add_n(l, 5, 8);
    wait_written(l, 13, 5000);
    cp_ledger_close(l, 1000);
    assert_int_equal(q_int(f->path, "SELECT count(*) FROM requests"), 8);
    assert_int_equal(q_int(f->path, "SELECT min(ts) FROM requests"), 1700000000005LL);
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

/* A full queue drops the new rows, counted exactly; the queued ones are still written. */
static void test_overflow(void **state)
{
    fx_t *f = *state;
    cp_ledger_t *l = open_l(f->path, 60000, 1000000, 10);
    cp_ledger_stats_t st;

    add_n(l, 0, 25);
    cp_ledger_stats(l, &st);
    assert_int_equal(st.dropped, 15);
    assert_int_equal(st.queued, 10);
    cp_ledger_poll(l);
    assert_true(log_has("ledger queue full: 15 rows dropped so far"));
    add_n(l, 25, 1);
    cp_ledger_poll(l); /* rate limited */
    assert_false(log_has("16 rows dropped"));
    cp_ledger_close(l, 1000);
    assert_int_equal(q_int(f->path, "SELECT count(*) FROM requests"), 10);
    assert_int_equal(q_int(f->path, "SELECT max(ts) FROM requests"), 1700000000009LL);
}

/* close() gives up after wait_ms when the database stays locked, and says how many rows were lost. */
static void test_close_gives_up(void **state)
{
    fx_t *f = *state;
    cp_ledger_t *l = open_l(f->path, 20, 10, 1000);
    sqlite3 *other;

    add_n(l, 0, 1);
    wait_written(l, 1, 3000);
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    exec_sql(other, "BEGIN EXCLUSIVE");
    add_n(l, 1, 5);
    cp_ledger_close(l, 300);
    assert_true(log_has("ledger: 5 rows could not be written before exit: database is locked"));
    exec_sql(other, "ROLLBACK");
    sqlite3_close(other);
    assert_int_equal(q_int(f->path, "SELECT count(*) FROM requests"), 1);
}

typedef struct sums {
    int64_t alice_tok, bob_tok, n;
    double alice_usd, bob_usd;
    int unknown_cost;
} sums_t;

static void replay_cb(void *ud, const char *key, int64_t ts_ms, int64_t tokens, double usd)
{
    sums_t *s = ud;

    (void)ts_ms;
    s->n++;
    if (strcmp(key, "alice") == 0) {
        s->alice_tok += tokens;
        s->alice_usd += usd >= 0 ? usd : 0;
    } else {
        s->bob_tok += tokens;
        s->bob_usd += usd >= 0 ? usd : 0;
    }
    s->unknown_cost += usd < 0;
}

static void test_replay(void **state)
{
    fx_t *f = *state;
    cp_ledger_t *l = open_l(f->path, 20, 10, 1000);
    cp_ledger_row_t r = row_n(1);
    sums_t s = {0};
    cp_err_t e = {0};
    char missing[1300];

    add_n(l, 0, 10); /* ts +0..+9: bob even, alice odd; 30 tokens and 0.5 USD each */
    r.ts_ms += 100;
    r.key = NULL; /* skipped */
    cp_ledger_add(l, &r);
    r = row_n(200);
    r.key = "alice";
    r.cost_usd = -1;
    r.tok.cache_read = 5;
    r.tok.cache_write = 7;
    cp_ledger_add(l, &r);
    r = row_n(300);
    r.admitted = 0; /* refused by the limits (or count_tokens): counted by no window */
    r.status = 429;
    cp_ledger_add(l, &r);
    cp_ledger_close(l, 1000);
    assert_int_equal(cp_ledger_replay(f->path, 1700000000004LL, replay_cb, &s, &e), CP_OK);
    assert_int_equal(s.n, 7); /* 4..9, and the one at 200 */
    assert_int_equal(s.alice_tok, 3 * 30 + 42);
    assert_int_equal(s.bob_tok, 3 * 30);
    assert_true(s.alice_usd == 1.5 && s.bob_usd == 1.5);
    assert_int_equal(s.unknown_cost, 1);
    snprintf(missing, sizeof(missing), "%s/none/usage.db", f->dir);
    memset(&s, 0, sizeof(s));
    assert_int_equal(cp_ledger_replay(missing, 0, replay_cb, &s, &e), CP_OK);
    assert_int_equal(s.n, 0);
}

/* A directory, garbage bytes, another SQLite database, a newer schema: refused with a clear error. */
static void test_hostile(void **state)
{
    fx_t *f = *state;
    cp_ledger_opts_t o = {f->dir, 50, 10, 100};
    cp_err_t e = {0};
    sqlite3 *db;
    sums_t s = {0};
    char p[1300];

    assert_null(cp_ledger_open(&o, &e));
    assert_non_null(strstr(e.msg, "Is a directory"));
    assert_int_equal(cp_ledger_replay(f->dir, 0, replay_cb, &s, &e), CP_ERR);
    assert_non_null(strstr(e.msg, "not a regular file"));

    unit_write(f->dir, "garbage.db",
               "this is not an SQLite database, just some bytes............"
               "...................................................................");
    snprintf(p, sizeof(p), "%s/garbage.db", f->dir);
    o.path = p;
    assert_null(cp_ledger_open(&o, &e));
    assert_non_null(strstr(e.msg, "file is not a database"));
    assert_non_null(strstr(e.msg, p));
    assert_int_equal(cp_ledger_replay(p, 0, replay_cb, &s, &e), CP_ERR);
    assert_non_null(strstr(e.msg, "file is not a database"));

    snprintf(p, sizeof(p), "%s/newer.db", f->dir);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    exec_sql(db, "CREATE TABLE requests (id INTEGER PRIMARY KEY, ts INTEGER); PRAGMA user_version = 2");
    sqlite3_close(db);
    assert_null(cp_ledger_open(&o, &e));
    assert_non_null(strstr(e.msg, "newer ccproxy (schema version 2"));
    assert_int_equal(cp_ledger_replay(p, 0, replay_cb, &s, &e), CP_ERR);
    assert_non_null(strstr(e.msg, "newer ccproxy"));

    snprintf(p, sizeof(p), "%s/other.db", f->dir);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    exec_sql(db, "CREATE TABLE t (x)");
    sqlite3_close(db);
    assert_null(cp_ledger_open(&o, &e));
    assert_non_null(strstr(e.msg, "not a ccproxy ledger"));
    assert_int_equal(q_int(p, "SELECT count(*) FROM sqlite_master WHERE name = 'requests'"), 0);

    snprintf(p, sizeof(p), "%s/usage.db/x", f->dir); /* under a file */
    unit_write(f->dir, "usage.db", "");
    assert_null(cp_ledger_open(&o, &e));
    assert_non_null(strstr(e.msg, "Not a directory"));

    /* an empty file (a crash before the schema) is a new ledger */
    o.path = f->path;
    cp_ledger_close(cp_ledger_open(&o, &e), 100);
    assert_int_equal(q_int(f->path, "PRAGMA user_version"), 1);

    cp_ledger_add(NULL, NULL); /* no ledger: nothing happens */
    cp_ledger_poll(NULL);
    cp_ledger_close(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_flushes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cannot_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_permission, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_gives_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
