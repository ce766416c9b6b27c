/* lib/base/cp_sse.c: see cp_sse.h.
 *
 * Parsing is eager: cp_sse_feed() runs new bytes through a small line state machine at once and
 * appends each finished event, as a record, to one buffer (q); cp_sse_next() hands the records out as
 * views into q. Only an event's data (joined by '\n') and name are stored, so every data byte is copied
 * once, feeding one byte at a time is linear, and memory is the events not pulled yet plus the one
 * being read. q holds [record]* [event being read]; a record is a header (data length, name length),
 * the data, NUL, the name, NUL. The layout, and the choices made where the WHATWG text leaves room, are
 * in docs/architecture.md ("The SSE parser"). */
#include "cp_sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cp_buf.h"
#include "cp_common.h"

#define SSE_DEFAULT_MAX ((size_t)1 << 20) /* cp_sse_new(0) */
#define SSE_KEEP        512               /* q capacity kept while no event is buffered */
#define SSE_NAME_KEEP   64                /* <name> capacity kept between events */
#define SSE_FIELD_MAX   8                 /* field-name bytes remembered; longer names are unknown */

enum sse_state {
    SSE_BOL = 0,  /* at the start of a line */
    SSE_FIELD,    /* reading a field name */
    SSE_VALSTART, /* just after "data:" / "event:": one space may follow */
    SSE_VALUE,    /* reading the value of a kept field */
    SSE_SKIP,     /* comment, or a field we ignore: skip to the end of the line */
};

enum sse_field {
    SSE_F_OTHER = 0,
    SSE_F_DATA,
    SSE_F_EVENT,
};

typedef struct sse_rec {
    size_t data_len, name_len;
} sse_rec_t;

#define SSE_HDR sizeof(sse_rec_t)

struct cp_sse {
    cp_buf_t q;                /* records, then the event being read; no allocation while empty and small */
    size_t rd;                 /* offset of the next record to hand out */
    size_t cur;                /* offset of the event being read (its header, once it has a data line) */
    cp_buf_t name;             /* "event:" value of the event being read; len 0: no name */
    size_t max;                /* largest event (data + name) accepted */
    unsigned char st;          /* enum sse_state */
    unsigned char field;       /* enum sse_field of the line being read */
    unsigned char flen;        /* field-name bytes seen, saturating at SSE_FIELD_MAX */
    unsigned char bom;         /* BOM bytes matched so far; 3 once the check is over */
    char fname[SSE_FIELD_MAX]; /* the first bytes of the field name */
    unsigned cr : 1;           /* the last byte was a CR: a following LF belongs to it */
    unsigned has_data : 1;     /* the event being read had a data line (its header is reserved) */
    unsigned failed : 1;       /* an event went past the limit: the stream is lost */
};

static const unsigned char sse_bom[3] = {0xEF, 0xBB, 0xBF};

cp_sse_t *cp_sse_new(size_t max_event_bytes)
{
    cp_sse_t *p = cp_xcalloc(1, sizeof(*p));

    p->max = max_event_bytes != 0 ? max_event_bytes : SSE_DEFAULT_MAX;
    return p;
}

void cp_sse_free(cp_sse_t *p)
{
    if (p == NULL)
        return;
    cp_buf_free(&p->q);
    cp_buf_free(&p->name);
    free(p);
}

static const char sse_zero_hdr[SSE_HDR]; /* the place of a record header, filled at dispatch */

static void sse_put(cp_sse_t *p, const char *s, size_t n)
{
    cp_buf_add(&p->q, s, n); /* cannot fail: the buffer has no cap, the event limit was checked */
}

/* Drops the records already handed out. Called only where no view can still point into q. */
static void sse_compact(cp_sse_t *p)
{
    if (p->rd > 0) {
        memmove(p->q.p, p->q.p + p->rd, p->q.len - p->rd);
        cp_buf_truncate(&p->q, p->q.len - p->rd);
        p->cur -= p->rd;
        p->rd = 0;
    }
    if (p->q.len == 0)
        cp_buf_reset(&p->q, SSE_KEEP);
}

/* The event grew past the limit: forget it and fail for good. */
static int sse_fail(cp_sse_t *p)
{
    p->failed = 1;
    cp_buf_truncate(&p->q, p->cur);
    p->has_data = 0;
    cp_buf_truncate(&p->name, 0);
    return CP_ERR;
}

/* Size of the event being read, as it would be delivered. */
static size_t sse_event_size(const cp_sse_t *p)
{
    return (p->has_data ? p->q.len - p->cur - SSE_HDR : 0) + p->name.len;
}

/* A "data" or "event" field starts (its value, possibly empty, follows). */
static int sse_field_start(cp_sse_t *p)
{
    p->field = SSE_F_OTHER;
    if (p->flen == 4 && memcmp(p->fname, "data", 4) == 0) {
        p->field = SSE_F_DATA;
        if (p->has_data) {
            if (sse_event_size(p) + 1 > p->max)
                return sse_fail(p);
            sse_put(p, "\n", 1);
        } else {
            sse_put(p, sse_zero_hdr, SSE_HDR);
            p->has_data = 1;
        }
    } else if (p->flen == 5 && memcmp(p->fname, "event", 5) == 0) {
        p->field = SSE_F_EVENT;
        cp_buf_truncate(&p->name, 0);
    }
    return CP_OK;
}

/* <n> more bytes of the current field's value. */
static int sse_value(cp_sse_t *p, const char *s, size_t n)
{
    if (p->field == SSE_F_OTHER)
        return CP_OK;
    if (n > p->max || sse_event_size(p) + n > p->max)
        return sse_fail(p);
    if (p->field == SSE_F_DATA) {
        sse_put(p, s, n);
        return CP_OK;
    }
    cp_buf_add(&p->name, s, n);
    return CP_OK;
}

/* A blank line: the event being read becomes a record, unless it has neither data nor name. */
static void sse_dispatch(cp_sse_t *p)
{
    sse_rec_t h;

    if (!p->has_data && p->name.len == 0)
        return;
    if (!p->has_data)
        sse_put(p, sse_zero_hdr, SSE_HDR);
    h.data_len = p->q.len - p->cur - SSE_HDR;
    h.name_len = p->name.len;
    sse_put(p, "", 1); /* the data's NUL, then the name and its NUL */
    sse_put(p, cp_buf_str(&p->name), p->name.len);
    sse_put(p, "", 1);
    memcpy(p->q.p + p->cur, &h, SSE_HDR);
    p->cur = p->q.len;
    p->has_data = 0;
    cp_buf_reset(&p->name, SSE_NAME_KEEP);
}

/* Length of the run before the first CR or LF in <s> (<n> when there is none). */
static size_t sse_eol(const char *s, size_t n)
{
    const char *lf = memchr(s, '\n', n);
    size_t m = lf != NULL ? (size_t)(lf - s) : n;
    const char *cr = memchr(s, '\r', m);

    return cr != NULL ? (size_t)(cr - s) : m;
}

static int sse_run(cp_sse_t *p, const char *b, size_t n)
{
    size_t i = 0, k;

    while (i < n) {
        if (p->cr) {
            p->cr = 0;
            if (b[i] == '\n') { /* the LF of a CR LF pair, maybe split across feeds */
                i++;
                continue;
            }
        }
        switch (p->st) {
        case SSE_BOL:
            if (b[i] == '\n' || b[i] == '\r') {
                p->cr = b[i] == '\r';
                i++;
                sse_dispatch(p);
            } else if (b[i] == ':') {
                p->st = SSE_SKIP;
                i++;
            } else {
                p->st = SSE_FIELD;
                p->flen = 0;
            }
            break;
        case SSE_FIELD:
            while (i < n && b[i] != ':' && b[i] != '\n' && b[i] != '\r') {
                if (p->flen < SSE_FIELD_MAX)
                    p->fname[p->flen++] = b[i];
                i++;
            }
            if (i == n)
                break;
            if (sse_field_start(p) != CP_OK)
                return CP_ERR;
            if (b[i] == ':') {
                p->st = p->field == SSE_F_OTHER ? SSE_SKIP : SSE_VALSTART;
            } else { /* a field without a colon: the whole line is the name, the value is empty */
                p->cr = b[i] == '\r';
                p->st = SSE_BOL;
            }
            i++;
            break;
        case SSE_VALSTART:
            if (b[i] == ' ')
                i++;
            p->st = SSE_VALUE;
            break;
        case SSE_VALUE:
        case SSE_SKIP:
            k = sse_eol(b + i, n - i);
            if (k > 0 && p->st == SSE_VALUE && sse_value(p, b + i, k) != CP_OK)
                return CP_ERR;
            i += k;
            if (i < n) {
                p->cr = b[i] == '\r';
                p->st = SSE_BOL;
                i++;
            }
            break;
        default:
            break;
        }
    }
    return CP_OK;
}

int cp_sse_feed(cp_sse_t *p, const char *buf, size_t len)
{
    size_t i = 0;

    if (p->failed)
        return CP_ERR;
    if (p->rd == p->cur) /* every record was handed out: no view can point into q any more */
        sse_compact(p);
    while (p->bom < 3 && i < len) {
        if ((unsigned char)buf[i] == sse_bom[p->bom]) {
            p->bom++;
            i++;
            continue;
        }
        /* not a BOM after all: the bytes matched so far are ordinary input */
        unsigned char m = p->bom;
        p->bom = 3;
        if (m > 0 && sse_run(p, (const char *)sse_bom, m) != CP_OK)
            return CP_ERR;
    }
    return sse_run(p, buf + i, len - i);
}

int cp_sse_next(cp_sse_t *p, cp_sse_event_t *ev)
{
    sse_rec_t h;
    const char *d;

    if (p->rd == p->cur) {
        sse_compact(p);
        return p->failed ? CP_ERR : CP_AGAIN;
    }
    memcpy(&h, p->q.p + p->rd, SSE_HDR);
    d = p->q.p + p->rd + SSE_HDR;
    ev->data = d;
    ev->data_len = h.data_len;
    ev->event = h.name_len > 0 ? d + h.data_len + 1 : "";
    ev->event_len = h.name_len;
    p->rd += SSE_HDR + h.data_len + 1 + h.name_len + 1;
    return CP_OK;
}

size_t cp_sse_pending(const cp_sse_t *p)
{
    size_t n = sse_event_size(p);

    if (n == 0 && (p->has_data || p->st == SSE_FIELD || p->st == SSE_VALSTART || p->st == SSE_VALUE))
        n = 1; /* a line or an event has begun but holds no bytes yet */
    return n;
}
