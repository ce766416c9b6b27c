/* bench/tok/tokcount.c: prints cp_tok's estimate for files, for measure.mjs.
 *
 *   tokcount text FILE...      cp_tok_text() of each file's bytes
 *   tokcount request FILE...   cp_tok_request() of each file parsed as JSON
 *   tokcount bench N FILE      parse FILE once, then time N calls of cp_tok_request()
 *
 * Prints one line per file: "<estimate>\t<path>". Build: see measure.mjs. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cp_tok.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n;

    *len = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (cap - *len < 65536) {
            cap = cap ? cap * 2 : 131072;
            buf = realloc(buf, cap);
            if (buf == NULL)
                abort();
        }
        n = fread(buf + *len, 1, cap - *len, f);
        if (n == 0)
            break;
        *len += n;
    }
    fclose(f);
    return buf;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int i;

    if (argc >= 4 && strcmp(argv[1], "bench") == 0) {
        long n = atol(argv[2]), k;
        json_error_t err;
        json_t *body = json_load_file(argv[3], 0, &err); /* owned */
        volatile int64_t sink = 0;
        double t0, t1;

        if (body == NULL) {
            fprintf(stderr, "%s: %s\n", argv[3], err.text);
            return 1;
        }
        t0 = now_s();
        for (k = 0; k < n; k++)
            sink += cp_tok_request(body);
        t1 = now_s();
        printf("%.2f us/call over %ld calls (estimate %lld)\n", (t1 - t0) * 1e6 / (double)n, n,
               (long long)(sink / n));
        json_decref(body);
        return 0;
    }
    if (argc < 3 || (strcmp(argv[1], "text") != 0 && strcmp(argv[1], "request") != 0)) {
        fprintf(stderr, "usage: tokcount text|request FILE... | tokcount bench N FILE\n");
        return 2;
    }
    for (i = 2; i < argc; i++) {
        size_t len;
        char *buf = slurp(argv[i], &len);
        int64_t n;

        if (buf == NULL) {
            perror(argv[i]);
            return 1;
        }
        if (strcmp(argv[1], "text") == 0) {
            n = cp_tok_text(buf, len);
        } else {
            json_error_t err;
            json_t *body = json_loadb(buf, len, 0, &err); /* owned */

            if (body == NULL) {
                fprintf(stderr, "%s: %s\n", argv[i], err.text);
                return 1;
            }
            n = cp_tok_request(body);
            json_decref(body);
        }
        printf("%lld\t%s\n", (long long)n, argv[i]);
        free(buf);
    }
    return 0;
}
