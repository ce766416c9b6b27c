/* bench/ledger-bench.c: the usage ledger's two costs (lib/team/cp_ledger.h), driven by
 * bench/ledger-bench.sh.
 *
 *   ledger-bench gen PATH ROWS DAYS   writes ROWS made-up requests spread over the last DAYS days
 *                                     (200 keys, 12 models, 5 providers, 300-row sessions, 3% errors,
 *                                     10% without a price, 3% without usage) through cp_ledger_add
 *   ledger-bench add PATH ROWS        a burst of ROWS cp_ledger_add() calls as the loop would make them
 *                                     (flush 250 ms, batch 500, queue ROWS): each call timed, then the
 *                                     time close() takes to write them all
 *
 * Deterministic: the same arguments give the same rows (a fixed-seed generator, times from "now"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp_ledger.h"

static uint64_t bench_seed = 0x9e3779b97f4a7c15ull;

static uint32_t bench_rand(void)
{
    bench_seed ^= bench_seed << 13;
    bench_seed ^= bench_seed >> 7;
    bench_seed ^= bench_seed << 17;
    return (uint32_t)(bench_seed >> 16);
}

static uint64_t bench_ns(int clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int bench_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Fills <r> as request <i> of <n> spread over <days> days before <now_ms>; strings in <buf>. */
static void bench_row(cp_ledger_row_t *r, long i, long n, int days, int64_t now_ms, char buf[4][64])
{
    static const char *const models[] = {
        "claude-sonnet-4-5", "claude-opus-4-1",  "claude-haiku-4-5", "gpt-5",       "gpt-5-mini", "o3",
        "gemini-2.5-pro",    "gemini-2.5-flash", "deepseek-chat",    "qwen3-coder", "kimi-k2",    "glm-4.6"};
    static const char *const providers[] = {"openai", "anthropic", "gemini", "openrouter", "groq"};
    uint32_t x = bench_rand();

    memset(r, 0, sizeof(*r));
    r->ts_ms = now_ms - (int64_t)days * 86400000 + (int64_t)((double)i * days * 86400000.0 / (double)n);
    snprintf(buf[0], 64, "req_%024lx", i);
    snprintf(buf[1], 64, "dev-%03u", x % 200);
    snprintf(buf[2], 64, "sess-%08lx", i / 300 + (long)(x % 3) * 1000000);
    r->rid = buf[0];
    r->key = buf[1];
    r->session = buf[2];
    r->agent = x % 4 == 0 ? "agent-1" : NULL;
    r->model = models[(x >> 8) % 12];
    r->provider = providers[(x >> 12) % 5];
    r->upstream_model = r->model;
    r->endpoint = (x >> 16) % 20 == 0 ? "count_tokens" : "messages";
    r->stream = (x >> 17) & 1;
    r->status = (x >> 18) % 33 == 0 ? 529 : 200;
    r->error_type = r->status != 200 ? "overloaded_error" : NULL;
    r->tokens_known = (x >> 20) % 33 != 0 && r->status == 200;
    r->tok.input = bench_rand() % 20000;
    r->tok.output = bench_rand() % 4000;
    r->tok.cache_read = bench_rand() % 80000;
    r->tok.cache_write = bench_rand() % 5000;
    r->cost_usd = r->tokens_known && (x >> 25) % 10 != 0 ? (double)(bench_rand() % 100000) / 1e6 : -1;
    r->ttfb_ms = r->status == 200 ? (int64_t)(150 + bench_rand() % 3000) : -1;
    r->duration_ms = 500 + bench_rand() % 60000;
}

static int bench_gen(const char *path, long rows, int days)
{
    cp_ledger_opts_t o = {path, 1000, 5000, (size_t)rows + 1};
    cp_err_t e = {0};
    cp_ledger_t *l = cp_ledger_open(&o, &e);
    cp_ledger_stats_t st;
    int64_t now_ms = (int64_t)(bench_ns(CLOCK_REALTIME) / 1000000u);
    uint64_t t0 = bench_ns(CLOCK_MONOTONIC), t1;
    char buf[4][64];

    if (l == NULL) {
        fprintf(stderr, "ledger-bench: %s\n", e.msg);
        return 1;
    }
    for (long i = 0; i < rows; i++) {
        cp_ledger_row_t r;
        bench_row(&r, i, rows, days, now_ms, buf);
        cp_ledger_add(l, &r);
    }
    cp_ledger_stats(l, &st);
    cp_ledger_close(l, 60000);
    t1 = bench_ns(CLOCK_MONOTONIC);
    printf("gen: %ld rows over %d days in %.2f s (max add %.1f us, %llu dropped)\n", rows, days,
           (double)(t1 - t0) / 1e9, (double)st.max_add_ns / 1e3, (unsigned long long)st.dropped);
    return st.dropped != 0;
}

static int bench_add(const char *path, long rows)
{
    cp_ledger_opts_t o = {path, 250, 500, (size_t)rows};
    cp_err_t e = {0};
    cp_ledger_t *l = cp_ledger_open(&o, &e);
    cp_ledger_stats_t st;
    uint64_t *ns = calloc((size_t)rows, sizeof(*ns)), sum = 0, t0, t1;
    int64_t now_ms = (int64_t)(bench_ns(CLOCK_REALTIME) / 1000000u);
    char buf[4][64];

    if (l == NULL || ns == NULL) {
        fprintf(stderr, "ledger-bench: %s\n", l == NULL ? e.msg : "out of memory");
        return 1;
    }
    for (long i = 0; i < rows; i++) {
        cp_ledger_row_t r;
        uint64_t a;
        bench_row(&r, i, rows, 1, now_ms, buf);
        a = bench_ns(CLOCK_MONOTONIC);
        cp_ledger_add(l, &r);
        ns[i] = bench_ns(CLOCK_MONOTONIC) - a;
        sum += ns[i];
    }
    cp_ledger_stats(l, &st);
    t0 = bench_ns(CLOCK_MONOTONIC);
    cp_ledger_close(l, 60000);
    t1 = bench_ns(CLOCK_MONOTONIC);
    qsort(ns, (size_t)rows, sizeof(*ns), bench_cmp);
    printf("add: %ld rows: mean %.0f ns, p50 %llu ns, p99 %llu ns, p99.9 %llu ns, max %llu ns "
           "(stats max_add_ns %llu); %llu written during the burst, close wrote the rest in %.0f ms\n",
           rows, (double)sum / (double)rows, (unsigned long long)ns[rows / 2],
           (unsigned long long)ns[rows * 99 / 100], (unsigned long long)ns[rows * 999 / 1000],
           (unsigned long long)ns[rows - 1], (unsigned long long)st.max_add_ns,
           (unsigned long long)st.written, (double)(t1 - t0) / 1e6);
    free(ns);
    return st.dropped != 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "gen") == 0 && atol(argv[3]) > 0 && atoi(argv[4]) > 0)
        return bench_gen(argv[2], atol(argv[3]), atoi(argv[4]));
    if (argc == 4 && strcmp(argv[1], "add") == 0 && atol(argv[3]) > 0)
        return bench_add(argv[2], atol(argv[3]));
    fprintf(stderr, "usage: ledger-bench gen PATH ROWS DAYS | ledger-bench add PATH ROWS\n");
    return 2;
}
