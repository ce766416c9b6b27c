/* lib/net/cp_frame.c: see cp_frame.h. */
#include "cp_frame.h"

#include <string.h>
#include <strings.h>

#include "cp_guard.h"

enum {
    S_START,   /* between requests */
    S_LINE,    /* a head line (request line or header) */
    S_BODY,    /* Content-Length body: <left> to go */
    S_CSIZE,   /* a chunk-size line */
    S_CDATA,   /* chunk data: <left> to go */
    S_CCR,     /* the CRLF after chunk data */
    S_CLF,     /* the LF of that CRLF */
    S_TRAILER, /* trailer lines, up to an empty one */
    S_BAD,
};

void cp_frame_init(cp_frame_t *s)
{
    memset(s, 0, sizeof(*s));
    s->state = S_START;
}

static enum cp_frame_ev frame_bad(cp_frame_t *s, const char *why)
{
    s->state = S_BAD;
    s->why = why;
    return CP_FRAME_BAD;
}

/* Header <name> is <want> (evhttp compares the whole name before ':', without trimming). */
static int frame_name_is(const char *line, size_t name_len, const char *want)
{
    return name_len == strlen(want) && strncasecmp(line, want, name_len) == 0;
}

/* Content-Length's value: plain digits (cp_guard_length_ok); saturates at UINT64_MAX, which evhttp
 * then refuses as too large. */
static uint64_t frame_length(const char *v)
{
    uint64_t n = 0;

    for (; *v; v++) {
        unsigned d = (unsigned)(*v - '0');
        if (n > (UINT64_MAX - d) / 10)
            return UINT64_MAX;
        n = n * 10 + d;
    }
    return n;
}

/* One header line of a head (not the request line, not the empty line). */
static enum cp_frame_ev frame_header(cp_frame_t *s, int truncated)
{
    char *colon = strchr(s->line, ':');
    size_t name_len;
    char *v, *end;
    int is_cl, is_te;

    if (s->line[0] == ' ' || s->line[0] == '\t')
        return frame_bad(s, "Obsolete header line folding is not accepted");
    if (colon == NULL)
        return truncated ? CP_FRAME_MORE : frame_bad(s, "Malformed header line (no colon)");
    name_len = (size_t)(colon - s->line);
    is_cl = frame_name_is(s->line, name_len, "Content-Length");
    is_te = frame_name_is(s->line, name_len, "Transfer-Encoding");
    if (!is_cl && !is_te)
        return CP_FRAME_MORE;
    if (truncated)
        return frame_bad(s, is_cl ? "Content-Length value too long" : "Transfer-Encoding value too long");
    v = colon + 1 + strspn(colon + 1, " "); /* evhttp skips spaces and trims trailing blanks */
    end = v + strlen(v);
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    if (is_te) {
        if (s->te)
            return frame_bad(s, "Transfer-Encoding appears more than once");
        s->te = 1;
        s->chunked = strcasecmp(v, "chunked") == 0;
        return s->chunked ? CP_FRAME_MORE : frame_bad(s, "Transfer-Encoding must be exactly \"chunked\"");
    }
    if (s->lengths++ > 0)
        return frame_bad(s, "Content-Length appears more than once");
    if (!cp_guard_length_ok(v))
        return frame_bad(s, "Content-Length must be plain decimal digits");
    s->length = frame_length(v);
    return CP_FRAME_MORE;
}

/* The empty line: decides what the body is. */
static enum cp_frame_ev frame_head_end(cp_frame_t *s)
{
    if (s->te && s->lengths > 0)
        return frame_bad(s, "A request may not carry both Transfer-Encoding and Content-Length");
    if (s->no_body && (s->te || s->length > 0))
        return frame_bad(s, "A HEAD or TRACE request cannot carry a body");
    s->body = s->chunked ? 0 : s->length;
    s->left = s->chunked ? 0 : s->length;
    s->state = s->chunked ? S_CSIZE : S_BODY;
    return CP_FRAME_HEAD;
}

static enum cp_frame_ev frame_chunk_size(cp_frame_t *s, int truncated)
{
    size_t digits = strspn(s->line, "0123456789abcdefABCDEF");
    const char *rest = s->line + digits;
    uint64_t n = 0;

    if (truncated || digits > 15)
        return frame_bad(s, "Chunk size too long");
    if (*(rest + strspn(rest, " \t")) == ';')
        return frame_bad(s, "Chunk extensions are not supported");
    if (digits == 0 || *rest != '\0')
        return frame_bad(s, "Malformed chunk size (plain hexadecimal digits expected)");
    for (size_t i = 0; i < digits; i++) {
        char c = s->line[i];
        n = n * 16 + (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    if (n == 0) {
        s->state = S_TRAILER;
        return CP_FRAME_MORE;
    }
    s->body += n;
    s->left = n;
    s->state = S_CDATA;
    return CP_FRAME_MORE;
}

/* A whole line (CR dropped) in <line>; <truncated> when it was longer than what is kept. */
static enum cp_frame_ev frame_line(cp_frame_t *s, int truncated)
{
    switch (s->state) {
    case S_LINE:
        if (s->lines++ == 0) {
            size_t m = strcspn(s->line, " ");
            s->no_body = frame_name_is(s->line, m, "HEAD") || frame_name_is(s->line, m, "TRACE");
            return CP_FRAME_MORE; /* the request line itself is evhttp's to judge */
        }
        if (s->line_len == 0)
            return frame_head_end(s);
        return frame_header(s, truncated);
    case S_CSIZE:
        return frame_chunk_size(s, truncated);
    default: /* S_TRAILER */
        if (s->line_len == 0) {
            s->state = S_BODY; /* left = 0: CP_FRAME_END next */
            s->left = 0;
        }
        return CP_FRAME_MORE;
    }
}

/* Collects one line; returns the event of a completed line, else CP_FRAME_MORE with all consumed. */
static enum cp_frame_ev frame_collect(cp_frame_t *s, const char *p, size_t n, size_t *used)
{
    const char *lf = memchr(p, '\n', n);
    size_t take = lf ? (size_t)(lf - p) : n;
    size_t keep;
    int truncated;

    keep = s->line_len < CP_FRAME_LINE - 1 ? CP_FRAME_LINE - 1 - s->line_len : 0;
    if (keep > 0)
        memcpy(s->line + s->line_len, p, take < keep ? take : keep);
    s->line_len += take;
    *used = take + (lf != NULL);
    if (lf == NULL)
        return CP_FRAME_MORE;
    truncated = s->line_len > CP_FRAME_LINE - 1;
    keep = truncated ? CP_FRAME_LINE - 1 : s->line_len;
    if (!truncated && keep > 0 && s->line[keep - 1] == '\r')
        keep--;
    s->line[keep] = '\0';
    s->line_len = keep;
    {
        enum cp_frame_ev ev = frame_line(s, truncated);
        s->line_len = 0;
        return ev;
    }
}

static enum cp_frame_ev frame_end(cp_frame_t *s)
{
    cp_frame_init(s);
    return CP_FRAME_END;
}

enum cp_frame_ev cp_frame_feed(cp_frame_t *s, const char *p, size_t n, size_t *used)
{
    size_t off = 0;

    for (;;) {
        enum cp_frame_ev ev = CP_FRAME_MORE;
        size_t u = 0;

        if (s->state == S_BAD) {
            *used = off;
            return CP_FRAME_BAD;
        }
        if (s->state == S_BODY && s->left == 0) {
            *used = off;
            return frame_end(s);
        }
        if (off == n) {
            *used = off;
            return CP_FRAME_MORE;
        }
        switch (s->state) {
        case S_START:
            s->state = S_LINE;
            continue;
        case S_BODY:
        case S_CDATA:
            u = n - off < s->left ? n - off : (size_t)s->left;
            s->left -= u;
            if (s->state == S_CDATA && s->left == 0)
                s->state = S_CCR;
            break;
        case S_CCR:
        case S_CLF:
            u = 1;
            if (p[off] == '\r' && s->state == S_CCR)
                s->state = S_CLF;
            else if (p[off] == '\n')
                s->state = S_CSIZE;
            else
                ev = frame_bad(s, "Chunk data must be followed by CRLF");
            break;
        default: /* S_LINE, S_CSIZE, S_TRAILER */
            ev = frame_collect(s, p + off, n - off, &u);
            break;
        }
        off += u;
        if (ev != CP_FRAME_MORE) {
            *used = off;
            return ev;
        }
    }
}

enum cp_frame_phase cp_frame_phase(const cp_frame_t *s)
{
    switch (s->state) {
    case S_START:
        return CP_FRAME_IDLE;
    case S_LINE:
        return CP_FRAME_IN_HEAD;
    case S_BAD:
        return CP_FRAME_FAILED;
    default:
        return CP_FRAME_IN_BODY;
    }
}

uint64_t cp_frame_body_declared(const cp_frame_t *s)
{
    return s->body;
}

const char *cp_frame_why(const cp_frame_t *s)
{
    return s->why != NULL ? s->why : "Malformed request framing";
}
