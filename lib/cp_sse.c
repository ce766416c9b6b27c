/* lib/cp_sse.c: see cp_sse.h. (placeholder: being written) */
#include "cp_sse.h"

#include <stdlib.h>

#include "cp_common.h"

struct cp_sse {
    int unused;
};

cp_sse_t *cp_sse_new(size_t max_event_bytes)
{
    (void)max_event_bytes;
    return cp_xcalloc(1, sizeof(cp_sse_t));
}

void cp_sse_free(cp_sse_t *p)
{
    free(p);
}

int cp_sse_feed(cp_sse_t *p, const char *buf, size_t len)
{
    (void)p;
    (void)buf;
    (void)len;
    return CP_ERR;
}

int cp_sse_next(cp_sse_t *p, cp_sse_event_t *ev)
{
    (void)p;
    (void)ev;
    return CP_ERR;
}

size_t cp_sse_pending(const cp_sse_t *p)
{
    (void)p;
    return 0;
}
