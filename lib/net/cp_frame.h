/* lib/net/cp_frame.h: where each request on a client connection begins and ends.
 *
 * evhttp parses requests itself, but tells nobody where a request's head ends, how long its body
 * will be, or that bytes behind it belong to the next request; and it parses chunked bodies loosely
 * (a chunk extension comes out as "413 too large"). The front feeds every byte a client sends through
 * this scanner before evhttp sees it, which gives it the moments its deadlines and the upload budget
 * need, and refuses framing that evhttp would misread, before evhttp acts on it (docs/security.md):
 *   - Content-Length twice, or not plain digits (`+62`, `062`);
 *   - Transfer-Encoding other than exactly `chunked`, or together with Content-Length;
 *   - a body on HEAD or TRACE (evhttp would parse it as the next request);
 *   - obsolete header line folding;
 *   - chunk sizes that are not plain hex, chunk extensions, a chunk not followed by CRLF.
 * It follows evhttp's line rule (a line ends at LF, an optional CR before it is dropped). It does
 * not limit sizes: evhttp does (server.maxHeaderBytes, server.maxBodyBytes). Pure; no I/O. */
#ifndef CP_FRAME_H
#define CP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define CP_FRAME_LINE 128 /* bytes kept of each head line: enough for a Content-Length or TE value */

enum cp_frame_ev {
    CP_FRAME_MORE, /* every byte given was consumed; nothing to report */
    CP_FRAME_HEAD, /* a request's head ended: cp_frame_body_declared() says what follows */
    CP_FRAME_END,  /* a request (head and body) ended; the next byte starts another request */
    CP_FRAME_BAD,  /* refused framing: cp_frame_why(); every later call returns CP_FRAME_BAD */
};

enum cp_frame_phase {
    CP_FRAME_IDLE, /* between requests: no byte of the next one seen */
    CP_FRAME_IN_HEAD,
    CP_FRAME_IN_BODY,
    CP_FRAME_FAILED,
};

typedef struct cp_frame {
    int state;
    size_t line_len;          /* bytes of the current line so far (may exceed what is kept) */
    char line[CP_FRAME_LINE]; /* the start of the current line */
    unsigned lines;           /* lines of this head so far */
    unsigned no_body : 1;     /* HEAD or TRACE: evhttp reads no body */
    unsigned chunked : 1;
    unsigned te : 1; /* Transfer-Encoding seen */
    unsigned lengths;
    uint64_t length; /* Content-Length */
    uint64_t left;   /* bytes of the body (or of the current chunk) still to come */
    uint64_t body;   /* body bytes declared so far (chunked: the sizes announced so far) */
    const char *why; /* CP_FRAME_BAD */
} cp_frame_t;

/* Starts a connection's scanner. */
void cp_frame_init(cp_frame_t *s);

/* Consumes bytes of <p> (<n> bytes) up to and including the first event, and reports it; *<used>
 * says how many were consumed. CP_FRAME_MORE means all <n> were consumed. Call again with the rest
 * (or with n = 0 after CP_FRAME_HEAD: an empty body then gives CP_FRAME_END at once). */
enum cp_frame_ev cp_frame_feed(cp_frame_t *s, const char *p, size_t n, size_t *used);

enum cp_frame_phase cp_frame_phase(const cp_frame_t *s);

/* Body bytes the current request has announced so far: its Content-Length, or for a chunked body the
 * sum of the chunk sizes seen. */
uint64_t cp_frame_body_declared(const cp_frame_t *s);

/* CP_FRAME_BAD: why, as one sentence for the client. */
const char *cp_frame_why(const cp_frame_t *s);

#endif
