/* lib/team/cp_usage.c: see cp_usage.h.
 *
 * One pass over the window's rows: each row finds its group in an open-addressing hash table (with a
 * one-entry cache, since rows of a day or a session come together) and adds to its sums; the times to
 * first byte are kept per group and sorted at the end for the percentiles. On a 1,000,000-row ledger
 * this is what keeps a report under a second: no SQL GROUP BY, whose sorter would cost more than the
 * scan (bench/ledger-bench.sh measures it). */
#include "cp_usage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cp_ledger.h"

#define USAGE_NAME_SHOW 48     /* bytes of a name the table shows */
#define USAGE_KEYS_MAX  100000 /* keys cp_usage_last_used() reports at most */

static const char *const usage_by_names[] = {"key", "model", "provider", "day", "session"};
/* The column each grouping reads; NULL: computed from ts. Fixed strings, never from input. */
static const char *const usage_by_cols[] = {"key", "model", "provider", NULL, "session"};

int cp_usage_by_parse(const char *s, enum cp_usage_by *out)
{
    for (size_t i = 0; i < sizeof(usage_by_names) / sizeof(usage_by_names[0]); i++) {
        if (s != NULL && strcmp(s, usage_by_names[i]) == 0) {
            *out = (enum cp_usage_by)i;
            return CP_OK;
        }
    }
    return CP_ERR;
}

const char *cp_usage_by_name(enum cp_usage_by by)
{
    return (unsigned)by < sizeof(usage_by_names) / sizeof(usage_by_names[0]) ? usage_by_names[by] : "?";
}

/* ---- time ---- */

static int64_t usage_floordiv(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

void cp_usage_fmt_time(int64_t ms, char out[32])
{
    cp_time_iso(ms, 1, out);
}

static void usage_fmt_day(int64_t ms, char out[16])
{
    int64_t y;
    unsigned m, d;

    cp_civil_from_days(usage_floordiv(ms, 86400000), &y, &m, &d);
    snprintf(out, 16, "%04d-%02u-%02u", (int)(y % 10000), m % 13, d % 32);
}

/* Reads exactly <n> digits at <s>. Returns the value or -1. */
static int usage_digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ". Returns CP_OK or CP_ERR. */
static int usage_parse_date(const char *s, int64_t *out_ms)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t len = strlen(s);
    int y, m, d, hh = 0, mm = 0, ss = 0, leap;

    if (len != 10 && len != 20)
        return CP_ERR;
    if (s[4] != '-' || s[7] != '-' || (y = usage_digits(s, 4)) < 1970 || (m = usage_digits(s + 5, 2)) < 1 ||
        m > 12 || (d = usage_digits(s + 8, 2)) < 1)
        return CP_ERR;
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap))
        return CP_ERR;
    if (len == 20) {
        if (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z')
            return CP_ERR;
        if ((hh = usage_digits(s + 11, 2)) < 0 || hh > 23 || (mm = usage_digits(s + 14, 2)) < 0 || mm > 59 ||
            (ss = usage_digits(s + 17, 2)) < 0 || ss > 59)
            return CP_ERR;
    }
    *out_ms =
        ((cp_days_from_civil(y, (unsigned)m, (unsigned)d) * 24 + hh) * 60 + mm) * 60000 + (int64_t)ss * 1000;
    return CP_OK;
}

/* "<digits>d|h|m". Returns CP_OK, CP_DECLINED (not this form) or CP_ERR (too large). */
static int usage_parse_rel(const char *s, int64_t now_ms, int64_t *out_ms)
{
    static const int64_t unit_ms[] = {86400000, 3600000, 60000};
    static const char units[] = "dhm";
    size_t len = strlen(s), nd = strspn(s, "0123456789");
    const char *u;
    int64_t v = 0;

    if (len < 2 || nd != len - 1 || (u = strchr(units, s[len - 1])) == NULL)
        return CP_DECLINED;
    if (nd > 9)
        return CP_ERR;
    for (size_t i = 0; i < nd; i++)
        v = v * 10 + (s[i] - '0');
    if (v * unit_ms[u - units] > (int64_t)CP_USAGE_SPAN_MAX_DAYS * 86400000)
        return CP_ERR;
    v = now_ms - v * unit_ms[u - units];
    *out_ms = v < 0 ? 0 : v;
    return CP_OK;
}

int cp_usage_parse_time(const char *s, int64_t now_ms, int64_t *out_ms, char *msg, size_t n)
{
    char shown[44];
    size_t i;
    int rc;

    if (s != NULL && strcmp(s, "now") == 0) {
        *out_ms = now_ms;
        return CP_OK;
    }
    if (s != NULL && (rc = usage_parse_rel(s, now_ms, out_ms)) != CP_DECLINED) {
        if (rc == CP_OK)
            return CP_OK;
        snprintf(msg, n, "time \"%s\" is too far back (at most %d days)", s, CP_USAGE_SPAN_MAX_DAYS);
        return CP_ERR;
    }
    if (s != NULL && usage_parse_date(s, out_ms) == CP_OK)
        return CP_OK;
    for (i = 0; s != NULL && s[i] != '\0' && i < 40; i++)
        shown[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '"' ? '?' : s[i];
    shown[i] = '\0';
    snprintf(msg, n,
             "bad time \"%s%s\": expected a span back from now (7d, 24h, 30m), now, a UTC date "
             "(2026-12-01) or a UTC time (2026-12-01T10:00:00Z)",
             shown, s != NULL && strlen(s) > 40 ? "..." : "");
    return CP_ERR;
}

/* ---- the pass over the rows ---- */

typedef struct usage_grp {
    cp_usage_group_t g;
    int64_t *ttfb; /* owned */
    size_t nttfb, cap;
    uint64_t hash;
} usage_grp_t;

typedef struct usage_acc {
    usage_grp_t *v; /* owned */
    size_t n, cap;
    uint32_t *slots; /* owned: index + 1 into v, 0 empty */
    size_t nslots;   /* a power of two */
    size_t null_idx; /* the group of NULL names + 1; 0: none yet */
    size_t last;     /* the group of the previous row + 1; 0: none */
    usage_grp_t total;
} usage_acc_t;

static uint64_t usage_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void usage_rehash(usage_acc_t *a)
{
    size_t ns = a->nslots ? a->nslots * 2 : 1024;

    free(a->slots);
    a->slots = cp_xcalloc(ns, sizeof(*a->slots));
    a->nslots = ns;
    for (size_t i = 0; i < a->n; i++) {
        size_t j;
        if (a->v[i].g.name == NULL)
            continue;
        for (j = a->v[i].hash & (ns - 1); a->slots[j] != 0; j = (j + 1) & (ns - 1))
            ;
        a->slots[j] = (uint32_t)(i + 1);
    }
}

static size_t usage_new_group(usage_acc_t *a, const char *name, size_t len, uint64_t h)
{
    usage_grp_t *g;

    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = cp_xrealloc(a->v, a->cap * sizeof(*a->v));
    }
    g = &a->v[a->n];
    memset(g, 0, sizeof(*g));
    g->g.name = name != NULL ? cp_xstrndup(name, len) : NULL;
    g->hash = h;
    return ++a->n;
}

/* The group of <name> (+1), created when new; 0 past CP_USAGE_GROUPS_MAX. */
static size_t usage_find(usage_acc_t *a, const char *name, size_t len)
{
    uint64_t h;
    size_t j;

    if (a->last != 0) {
        const char *ln = a->v[a->last - 1].g.name;
        if (name == NULL ? ln == NULL : ln != NULL && strlen(ln) == len && memcmp(ln, name, len) == 0)
            return a->last;
    }
    if (name == NULL)
        return a->null_idx != 0              ? a->null_idx
               : a->n >= CP_USAGE_GROUPS_MAX ? 0
                                             : (a->null_idx = usage_new_group(a, NULL, 0, 0));
    if ((a->n + 1) * 2 > a->nslots)
        usage_rehash(a);
    h = usage_hash(name, len);
    for (j = h & (a->nslots - 1); a->slots[j] != 0; j = (j + 1) & (a->nslots - 1)) {
        usage_grp_t *g = &a->v[a->slots[j] - 1];
        if (g->hash == h && strlen(g->g.name) == len && memcmp(g->g.name, name, len) == 0)
            return a->slots[j];
    }
    if (a->n >= CP_USAGE_GROUPS_MAX)
        return 0;
    a->slots[j] = (uint32_t)usage_new_group(a, name, len, h);
    return a->slots[j];
}

/* The numbers of one row, read once (columns as in the query of cp_usage_run). */
typedef struct usage_vals {
    int error, known, priced, timed;
    int64_t tok[4], ttfb;
    double usd;
} usage_vals_t;

static void usage_read(sqlite3_stmt *st, usage_vals_t *v)
{
    v->error = sqlite3_column_int(st, 2) >= 400 || sqlite3_column_type(st, 3) != SQLITE_NULL;
    v->known = sqlite3_column_type(st, 4) != SQLITE_NULL;
    for (int i = 0; i < 4; i++)
        v->tok[i] = v->known ? sqlite3_column_int64(st, 4 + i) : 0;
    v->priced = sqlite3_column_type(st, 8) != SQLITE_NULL;
    v->usd = v->priced ? sqlite3_column_double(st, 8) : 0;
    v->timed = sqlite3_column_type(st, 9) != SQLITE_NULL;
    v->ttfb = v->timed ? sqlite3_column_int64(st, 9) : 0;
}

static void usage_add(usage_grp_t *g, const usage_vals_t *v)
{
    g->g.requests++;
    g->g.errors += (uint64_t)v->error;
    g->g.input += v->tok[0];
    g->g.output += v->tok[1];
    g->g.cache_read += v->tok[2];
    g->g.cache_write += v->tok[3];
    g->g.cost_usd += v->usd;
    g->g.unpriced += (uint64_t)(v->known && !v->priced);
    if (v->timed) {
        if (g->nttfb == g->cap) {
            g->cap = g->cap ? g->cap * 2 : 16;
            g->ttfb = cp_xrealloc(g->ttfb, g->cap * sizeof(*g->ttfb));
        }
        g->ttfb[g->nttfb++] = v->ttfb;
    }
}

/* Moves the <k>-th smallest of <a>[0..n) to a[k], smaller ones before it, larger ones after
 * (Hoare's selection: linear on average, no full sort needed for two ranks). */
static void usage_select(int64_t *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;

    while (lo < hi) {
        int64_t pivot = a[lo + (hi - lo) / 2], t;
        size_t i = lo, j = hi;

        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return;
    }
}

/* Sets the group's percentiles: nearest rank, the value at rank ceil(p/100 * n). */
static void usage_percentiles(usage_grp_t *g)
{
    size_t n = g->nttfb, k50, k95;

    g->g.ttfb_p50_ms = g->g.ttfb_p95_ms = -1;
    if (n == 0)
        return;
    k50 = (50 * n + 99) / 100 - 1;
    k95 = (95 * n + 99) / 100 - 1;
    usage_select(g->ttfb, n, k50);
    g->g.ttfb_p50_ms = g->ttfb[k50];
    usage_select(g->ttfb + k50, n - k50, k95 - k50); /* everything from k50 on is >= it */
    g->g.ttfb_p95_ms = g->ttfb[k95];
}

static int usage_cmp_name(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a == NULL) - (b == NULL); /* the rows without a value last */
    return strcmp(a, b);
}

static int usage_cmp_day(const void *x, const void *y)
{
    return usage_cmp_name(((const cp_usage_group_t *)x)->name, ((const cp_usage_group_t *)y)->name);
}

static int usage_cmp_cost(const void *x, const void *y)
{
    const cp_usage_group_t *a = x, *b = y;

    if (a->cost_usd != b->cost_usd)
        return a->cost_usd < b->cost_usd ? 1 : -1;
    if (a->requests != b->requests)
        return a->requests < b->requests ? 1 : -1;
    return usage_cmp_name(a->name, b->name);
}

/* Moves the groups of <a> into <r> (percentiles computed, sorted) and frees <a>. */
static void usage_finish(usage_acc_t *a, cp_usage_report_t *r)
{
    usage_percentiles(&a->total);
    r->total = a->total.g;
    free(a->total.ttfb);
    r->groups = a->n ? cp_xcalloc(a->n, sizeof(*r->groups)) : NULL;
    for (size_t i = 0; i < a->n; i++) {
        usage_percentiles(&a->v[i]);
        r->groups[i] = a->v[i].g;
        free(a->v[i].ttfb);
    }
    r->ngroups = a->n;
    if (r->ngroups > 1)
        qsort(r->groups, r->ngroups, sizeof(*r->groups),
              r->by == CP_USAGE_BY_DAY ? usage_cmp_day : usage_cmp_cost);
    free(a->v);
    free(a->slots);
    memset(a, 0, sizeof(*a));
}

static void usage_acc_free(usage_acc_t *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].g.name);
        free(a->v[i].ttfb);
    }
    free(a->total.ttfb);
    free(a->v);
    free(a->slots);
    memset(a, 0, sizeof(*a));
}

/* The group (+1) of the current row of <st>; 0 past CP_USAGE_GROUPS_MAX. */
static size_t usage_row_group(usage_acc_t *a, sqlite3_stmt *st, enum cp_usage_by by, int64_t *last_day)
{
    const char *name;
    char day[16];
    int64_t d;

    if (by != CP_USAGE_BY_DAY) {
        name = (const char *)sqlite3_column_text(st, 0); /* before _bytes(), as SQLite asks */
        return usage_find(a, name, (size_t)sqlite3_column_bytes(st, 0));
    }
    d = usage_floordiv(sqlite3_column_int64(st, 1), 86400000);
    if (d == *last_day && a->last != 0) /* rows come about in time order: mostly the day before */
        return a->last;
    *last_day = d;
    usage_fmt_day(d * 86400000, day);
    return usage_find(a, day, strlen(day));
}

/* Steps through <st>, adding each row to its group and to the total. Returns the last sqlite3_step()
 * code (SQLITE_DONE when all went well), or SQLITE_TOOBIG past CP_USAGE_GROUPS_MAX groups. */
static int usage_scan(usage_acc_t *a, sqlite3_stmt *st, enum cp_usage_by by)
{
    int64_t last_day = INT64_MIN;
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        usage_vals_t v;
        size_t gi = usage_row_group(a, st, by, &last_day);

        if (gi == 0)
            return SQLITE_TOOBIG;
        a->last = gi;
        usage_read(st, &v);
        usage_add(&a->v[gi - 1], &v);
        usage_add(&a->total, &v);
    }
    return rc;
}

/* Returns the integer of <sql> (one row, one column), or <dflt> when NULL or on an error. */
static int64_t usage_int(sqlite3 *db, const char *sql, int64_t dflt)
{
    sqlite3_stmt *st = NULL;
    int64_t v = dflt;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* True when the window covers more than a quarter of the ledger's time span: then reading the table
 * in order costs less than the ts index plus a lookup per row (rows are about evenly spread in time;
 * two index seeks tell). */
static int usage_wide(sqlite3 *db, const cp_usage_query_t *q)
{
    int64_t lo = usage_int(db, "SELECT min(ts) FROM requests", 0);
    int64_t hi = usage_int(db, "SELECT max(ts) FROM requests", 0);
    int64_t from = q->since_ms > lo ? q->since_ms : lo, to = q->until_ms < hi + 1 ? q->until_ms : hi + 1;

    return hi >= lo && to > from && (double)(to - from) * 4 > (double)(hi - lo + 1);
}

int cp_usage_run(const cp_usage_query_t *q, cp_usage_report_t *out, cp_err_t *e)
{
    usage_acc_t a;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char sql[512];
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&a, 0, sizeof(a));
    out->since_ms = q->since_ms;
    out->until_ms = q->until_ms;
    out->by = q->by;
    out->path = q->path;
    out->key = q->key;
    out->total.ttfb_p50_ms = out->total.ttfb_p95_ms = -1;
    if ((unsigned)q->by >= sizeof(usage_by_cols) / sizeof(usage_by_cols[0]))
        return cp_err_set(e, 0, NULL, "unknown grouping");
    if ((rc = cp_ledger_open_read(q->path, &db, e)) != CP_OK)
        return rc;
    /* Pages mapped rather than read(2) one by one: a 30-day scan reads the whole file. The writer never
     * shrinks the file (no VACUUM, no auto_vacuum), which is what makes a mapping unsafe. */
    sqlite3_exec(db, "PRAGMA mmap_size = 4294967296", NULL, NULL, NULL);
    snprintf(sql, sizeof(sql),
             "SELECT %s, ts, status, error_type, input_tokens, output_tokens, cache_read_tokens, "
             "cache_write_tokens, cost_usd, ttfb_ms FROM requests%s WHERE ts >= ?1 AND ts < ?2%s",
             usage_by_cols[q->by] != NULL ? usage_by_cols[q->by] : "NULL",
             q->key == NULL && usage_wide(db, q) ? " NOT INDEXED" : "",
             q->key != NULL ? " AND key = ?3" : "");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, q->since_ms);
        sqlite3_bind_int64(st, 2, q->until_ms);
        if (q->key != NULL)
            sqlite3_bind_text(st, 3, q->key, -1, SQLITE_STATIC);
        rc = usage_scan(&a, st, q->by);
    } else {
        rc = sqlite3_errcode(db);
    }
    if (rc == SQLITE_DONE) {
        usage_finish(&a, out);
        rc = CP_OK;
    } else {
        cp_err_set(e, 0, NULL, "ledger %s: %s", q->path,
                   rc == SQLITE_TOOBIG ? "too many groups (more than 1000000)" : sqlite3_errmsg(db));
        usage_acc_free(&a);
        rc = CP_ERR;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

void cp_usage_report_free(cp_usage_report_t *r)
{
    for (size_t i = 0; i < r->ngroups; i++)
        free(r->groups[i].name);
    free(r->groups);
    r->groups = NULL;
    r->ngroups = 0;
}

/* ---- the renderers ---- */

/* "1,234,567" */
static void usage_fmt_count(int64_t v, char out[32])
{
    char raw[24];
    int len = snprintf(raw, sizeof(raw), "%lld", (long long)(v < 0 ? -v : v)), o = 0;

    if (v < 0)
        out[o++] = '-';
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = raw[i];
    }
    out[o] = '\0';
}

static void usage_fmt_cost(double usd, char out[32])
{
    snprintf(out, 32, usd == 0 || usd >= 1 ? "%.2f" : "%.4f", usd);
}

static void usage_fmt_ms(int64_t ms, char out[32])
{
    if (ms < 0)
        snprintf(out, 32, "-");
    else
        snprintf(out, 32, "%lld ms", (long long)ms);
}

#define USAGE_NCOLS 10

/* The cells of one table line: the name (sanitized, cut) then the numbers. */
typedef struct usage_line {
    char name[USAGE_NAME_SHOW + 4];
    char cell[USAGE_NCOLS - 1][32];
} usage_line_t;

/* Display columns of the UTF-8 text <s> (each code point counts one). */
static size_t usage_width(const char *s)
{
    size_t w = 0;

    for (; *s != '\0'; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

static void usage_line_fill(usage_line_t *ln, const cp_usage_group_t *g, const char *name)
{
    size_t i = 0, n = strlen(name);

    for (; i < n && i < USAGE_NAME_SHOW; i++)
        ln->name[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
    if (i < n) {
        while (i > 0 && ((unsigned char)name[i] & 0xc0) == 0x80) /* not inside a character */
            i--;
        memcpy(ln->name + i, "...", 3);
        i += 3;
    }
    ln->name[i] = '\0';
    usage_fmt_count((int64_t)g->requests, ln->cell[0]);
    usage_fmt_count((int64_t)g->errors, ln->cell[1]);
    usage_fmt_count(g->input, ln->cell[2]);
    usage_fmt_count(g->output, ln->cell[3]);
    usage_fmt_count(g->cache_read, ln->cell[4]);
    usage_fmt_count(g->cache_write, ln->cell[5]);
    usage_fmt_cost(g->cost_usd, ln->cell[6]);
    usage_fmt_ms(g->ttfb_p50_ms, ln->cell[7]);
    usage_fmt_ms(g->ttfb_p95_ms, ln->cell[8]);
}

static const char *usage_null_name(enum cp_usage_by by)
{
    return by == CP_USAGE_BY_KEY ? "(no key)" : "(none)";
}

static void usage_table_put(cp_buf_t *b, const usage_line_t *ln, const size_t *w)
{
    cp_buf_adds(b, ln->name);
    for (size_t i = usage_width(ln->name); i < w[0]; i++)
        cp_buf_addc(b, ' ');
    for (int c = 0; c < USAGE_NCOLS - 1; c++)
        cp_buf_addf(b, "  %*s", (int)w[c + 1], ln->cell[c]);
    cp_buf_addc(b, '\n');
}

static void usage_table_title(const cp_usage_report_t *r, cp_buf_t *b)
{
    char since[32], until[32];

    cp_usage_fmt_time(r->since_ms, since);
    cp_usage_fmt_time(r->until_ms, until);
    cp_buf_addf(b, "Usage from %s to %s, by %s", since, until, cp_usage_by_name(r->by));
    if (r->key != NULL) {
        usage_line_t k;
        usage_line_fill(&k, &r->total, r->key);
        cp_buf_addf(b, ", key \"%s\"", k.name);
    }
    cp_buf_addf(b, " (ledger %s)\n", r->path != NULL ? r->path : "?");
    if (r->total.requests == 0)
        cp_buf_addf(b, "No requests between %s and %s.\n", since, until);
}

void cp_usage_table(const cp_usage_report_t *r, cp_buf_t *b)
{
    static const char *const heads[USAGE_NCOLS] = {NULL,       "REQUESTS",   "ERRORS",      "INPUT",
                                                   "OUTPUT",   "CACHE READ", "CACHE WRITE", "COST USD",
                                                   "TTFB P50", "TTFB P95"};
    usage_line_t head, *lines;
    size_t w[USAGE_NCOLS] = {0}, n = r->ngroups + 1;

    usage_table_title(r, b);
    if (r->total.requests == 0)
        return;
    lines = cp_xcalloc(n, sizeof(*lines));
    snprintf(head.name, sizeof(head.name), "%s", cp_usage_by_name(r->by));
    for (char *p = head.name; *p != '\0'; p++)
        *p = (char)(*p - 'a' + 'A');
    for (int c = 1; c < USAGE_NCOLS; c++)
        snprintf(head.cell[c - 1], sizeof(head.cell[c - 1]), "%s", heads[c]);
    for (size_t i = 0; i < r->ngroups; i++)
        usage_line_fill(&lines[i], &r->groups[i],
                        r->groups[i].name != NULL ? r->groups[i].name : usage_null_name(r->by));
    usage_line_fill(&lines[n - 1], &r->total, "TOTAL");
    for (size_t i = 0; i <= n; i++) {
        const usage_line_t *ln = i < n ? &lines[i] : &head;
        w[0] = usage_width(ln->name) > w[0] ? usage_width(ln->name) : w[0];
        for (int c = 1; c < USAGE_NCOLS; c++)
            w[c] = strlen(ln->cell[c - 1]) > w[c] ? strlen(ln->cell[c - 1]) : w[c];
    }
    usage_table_put(b, &head, w);
    for (size_t i = 0; i < n; i++)
        usage_table_put(b, &lines[i], w);
    free(lines);
    if (r->total.unpriced > 0)
        cp_buf_addf(b, "%llu requests have no price: cost is a lower bound; add `prices` to the config\n",
                    (unsigned long long)r->total.unpriced);
}

static void usage_csv_name(cp_buf_t *b, const char *s)
{
    int quote = strpbrk(s, ",\"\r\n") != NULL;

    if (quote)
        cp_buf_addc(b, '"');
    if (strchr("=+-@\t", s[0]) != NULL && s[0] != '\0')
        cp_buf_addc(b, '\'');
    for (; *s != '\0'; s++) {
        if (*s == '"')
            cp_buf_addc(b, '"');
        cp_buf_addc(b, *s);
    }
    if (quote)
        cp_buf_addc(b, '"');
}

void cp_usage_csv(const cp_usage_report_t *r, cp_buf_t *b)
{
    cp_buf_addf(b,
                "%s,requests,errors,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,"
                "cost_usd,unpriced,ttfb_p50_ms,ttfb_p95_ms\r\n",
                cp_usage_by_name(r->by));
    for (size_t i = 0; i < r->ngroups; i++) {
        const cp_usage_group_t *g = &r->groups[i];

        usage_csv_name(b, g->name != NULL ? g->name : "");
        cp_buf_addf(b, ",%llu,%llu,%lld,%lld,%lld,%lld,%.6f,%llu,", (unsigned long long)g->requests,
                    (unsigned long long)g->errors, (long long)g->input, (long long)g->output,
                    (long long)g->cache_read, (long long)g->cache_write, g->cost_usd,
                    (unsigned long long)g->unpriced);
        if (g->ttfb_p50_ms >= 0)
            cp_buf_addf(b, "%lld,%lld", (long long)g->ttfb_p50_ms, (long long)g->ttfb_p95_ms);
        else
            cp_buf_addc(b, ',');
        CP_BUF_LIT(b, "\r\n");
    }
}

static json_t *usage_json_ms(int64_t ms)
{
    return ms >= 0 ? json_integer(ms) : json_null();
}

/* Returns new: the numbers of <g>. */
static json_t *usage_json_group(const cp_usage_group_t *g)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:I,s:o,s:o}", "requests", (json_int_t)g->requests,
                     "errors", (json_int_t)g->errors, "input_tokens", (json_int_t)g->input, "output_tokens",
                     (json_int_t)g->output, "cache_read_tokens", (json_int_t)g->cache_read,
                     "cache_write_tokens", (json_int_t)g->cache_write, "cost_usd", g->cost_usd, "unpriced",
                     (json_int_t)g->unpriced, "ttfb_p50_ms", usage_json_ms(g->ttfb_p50_ms), "ttfb_p95_ms",
                     usage_json_ms(g->ttfb_p95_ms));
}

json_t *cp_usage_json(const cp_usage_report_t *r)
{
    char since[32], until[32];
    json_t *groups = json_array(); /* owned until packed */

    cp_usage_fmt_time(r->since_ms, since);
    cp_usage_fmt_time(r->until_ms, until);
    for (size_t i = 0; i < r->ngroups; i++) {
        json_t *g = json_object(); /* owned; "name" first */
        json_object_set_new(g, "name",
                            r->groups[i].name != NULL ? json_string(r->groups[i].name) : json_null());
        json_object_update_new(g, usage_json_group(&r->groups[i]));
        json_array_append_new(groups, g);
    }
    return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}", "since", since, "until", until, "by",
                     cp_usage_by_name(r->by), "key", r->key != NULL ? json_string(r->key) : json_null(),
                     "groups", groups, "total", usage_json_group(&r->total));
}

/* ---- keys list ---- */

/* Steps <st> once: *<out> (new) is the key it finds, or NULL. Returns SQLITE_ROW, SQLITE_DONE or an
 * error code. */
static int usage_key_step(sqlite3_stmt *st, char **out)
{
    int rc = sqlite3_step(st);

    *out = rc == SQLITE_ROW ? cp_xstrdup((const char *)sqlite3_column_text(st, 0)) : NULL;
    sqlite3_reset(st);
    return rc;
}

/* Walks the distinct keys through the (key, ts) index, one seek each, adding {key: MAX(ts)} to <out>. */
static int usage_keys_walk(sqlite3 *db, json_t *out)
{
    sqlite3_stmt *first = NULL, *next = NULL, *last = NULL;
    char *key = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT key FROM requests WHERE key IS NOT NULL ORDER BY key LIMIT 1", -1,
                                &first, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "SELECT key FROM requests WHERE key > ?1 ORDER BY key LIMIT 1", -1, &next,
                                NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "SELECT MAX(ts) FROM requests WHERE key = ?1", -1, &last, NULL);
    if (rc == SQLITE_OK)
        rc = usage_key_step(first, &key);
    for (size_t n = 0; rc == SQLITE_ROW && n < USAGE_KEYS_MAX; n++) {
        sqlite3_bind_text(last, 1, key, -1, SQLITE_STATIC);
        if ((rc = sqlite3_step(last)) != SQLITE_ROW)
            break;
        json_object_set_new(out, key, json_integer(sqlite3_column_int64(last, 0)));
        sqlite3_reset(last);
        sqlite3_bind_text(next, 1, key, -1, SQLITE_TRANSIENT);
        free(key);
        rc = usage_key_step(next, &key);
    }
    free(key);
    sqlite3_finalize(first);
    sqlite3_finalize(next);
    sqlite3_finalize(last);
    return rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

int cp_usage_last_used(const char *path, json_t **out, cp_err_t *e)
{
    sqlite3 *db = NULL;
    int rc = cp_ledger_open_read(path, &db, e);

    *out = NULL;
    if (rc == CP_DECLINED)
        *out = json_object();
    if (rc != CP_OK)
        return rc == CP_DECLINED ? CP_OK : CP_ERR;
    *out = json_object();
    if (usage_keys_walk(db, *out) != SQLITE_OK) {
        cp_err_set(e, 0, NULL, "ledger %s: %s", path, sqlite3_errmsg(db));
        json_decref(*out);
        *out = NULL;
        rc = CP_ERR;
    }
    sqlite3_close(db);
    return rc;
}
