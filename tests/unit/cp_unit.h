/* tests/unit/cp_unit.h: shared helpers for the cmocka unit tests. */
#ifndef CP_UNIT_H
#define CP_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

/* Returns new: a fresh temporary directory. */
static inline char *unit_tmpdir(void)
{
    char *t = strdup("/tmp/cp_unit_XXXXXX");
    assert_non_null(mkdtemp(t));
    return t;
}

/* Writes <text> to <dir>/<rel>, creating one level of directory in <rel>. */
static inline void unit_write(const char *dir, const char *rel, const char *text)
{
    char path[1024];
    const char *slash = strrchr(rel, '/');
    FILE *f;

    if (slash != NULL) {
        snprintf(path, sizeof(path), "%s/%.*s", dir, (int)(slash - rel), rel);
        mkdir(path, 0700);
    }
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Makes a fresh directory "<$CCPROXY_TEST_TMP or /tmp>/<name>_XXXXXX" into <dir> (<n> bytes). */
static inline void unit_test_dir(char *dir, size_t n, const char *name)
{
    const char *base = getenv("CCPROXY_TEST_TMP");

    if (base == NULL)
        base = "/tmp";
    mkdir(base, 0700);
    snprintf(dir, n, "%s/%s_XXXXXX", base, name);
    assert_non_null(mkdtemp(dir));
}

static inline void unit_rmtree(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Returns new: <s> parsed as JSON after turning every ' into ". Fails the test on a syntax error. */
static inline json_t *unit_jq(const char *s)
{
    char *t = strdup(s);
    json_error_t err;
    json_t *j;

    for (char *p = t; *p != '\0'; p++)
        if (*p == '\'')
            *p = '"';
    j = json_loads(t, JSON_DECODE_ANY, &err);
    if (j == NULL)
        fail_msg("bad test JSON (%s at %d): %s", err.text, err.position, t);
    free(t);
    return j;
}

/* Returns 1 when equal; otherwise prints both sides (keys sorted) under <what> and returns 0. */
static inline int unit_same_json(const char *what, const json_t *got, const json_t *want)
{
    char *g, *w;

    if (got != NULL && json_equal(got, want))
        return 1;
    g = got != NULL ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : strdup("(null)");
    w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    fprintf(stderr, "%s:\n  got:  %s\n  want: %s\n", what, g, w);
    free(g);
    free(w);
    return 0;
}

/* The directory tests/fixtures/<sub>, or $<env> when set. Borrowed until the next call. */
static inline const char *unit_fixdir(const char *sub, const char *env)
{
    static char dir[1024];
    const char *e = env != NULL ? getenv(env) : NULL;
    const char *f = __FILE__, *slash = strrchr(f, '/');

    if (e != NULL)
        return e;
    if (slash != NULL)
        snprintf(dir, sizeof(dir), "%.*s/../fixtures/%s", (int)(slash - f), f, sub);
    else
        snprintf(dir, sizeof(dir), "../fixtures/%s", sub);
    return dir;
}

/* Returns new: the bytes of <dir>/<name> (NUL-terminated, length in *<len>), or NULL when missing. */
static inline char *unit_slurp(const char *dir, const char *name, size_t *len)
{
    char path[2400];
    FILE *f;
    char *b;
    long n;

    *len = 0;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n)
        fail_msg("short read %s", path);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

#endif
