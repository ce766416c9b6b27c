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

static inline void unit_rmtree(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

#endif
