/* lib/base/cp_sse.h: incremental text/event-stream parser (WHATWG HTML "server-sent events"). No I/O.
 *
 * Feed bytes in any split (a line, a CR LF pair or a UTF-8 sequence may be cut anywhere), then pull
 * complete events. Lines end in LF, CRLF or CR; lines starting with ':' are comments; "field: value"
 * loses one space after the colon; data lines are joined with '\n'; a blank line dispatches the event;
 * a UTF-8 BOM at the start of the stream is skipped. An event (its data plus name) larger than the
 * limit given to cp_sse_new() is an error: the stream cannot be resynchronised. */
#ifndef CP_SSE_H
#define CP_SSE_H

#include <stddef.h>

typedef struct cp_sse cp_sse_t;

/* Borrowed views, valid until the next cp_sse_* call on the same parser. */
typedef struct cp_sse_event {
    const char *event; /* "" when the stream sent no "event:" field */
    size_t event_len;
    const char *data; /* data lines joined by '\n' (no final '\n'); "" when none */
    size_t data_len;
} cp_sse_event_t;

/* Returns new. <max_event_bytes>: the largest event accepted (0 = 1 MiB). */
cp_sse_t *cp_sse_new(size_t max_event_bytes);
void cp_sse_free(cp_sse_t *p); /* accepts NULL */

/* Appends <len> bytes. Returns CP_OK, or CP_ERR when an event grows past the limit. */
int cp_sse_feed(cp_sse_t *p, const char *buf, size_t len);

/* Pulls the next complete event into <ev>. Returns CP_OK, CP_AGAIN when more input is needed, or
 * CP_ERR after a failed feed. Events with neither data nor a name (a lone blank line) are skipped. */
int cp_sse_next(cp_sse_t *p, cp_sse_event_t *ev);

/* Bytes buffered that do not yet form a complete event (for "stream ended mid-event" checks). */
size_t cp_sse_pending(const cp_sse_t *p);

#endif
