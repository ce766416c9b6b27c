/* lib/net/cp_up.h: the upstream side: libcurl multi driven by the libevent loop
 * (docs/architecture.md, "The event loop: libcurl and evhttp").
 *
 * One cp_up_t per event_base owns the multi handle. A cp_xfer_t is one upstream HTTP request; its
 * owner gets three callbacks: on_head once the final status and headers are known, on_body for each
 * piece of the body, and on_done exactly once at the end (success, transport failure, timeout). The
 * first two run inside libcurl and may only record facts; on_done runs from the reap, outside any
 * curl callback, and the transfer is freed right after it returns. cp_up_cancel() removes a transfer
 * at once (no on_done follows); call it from libevent callbacks only, never from on_head/on_body.
 *
 * Timeouts: connect (CURLOPT_CONNECTTIMEOUT_MS); first byte (status line + headers) and idle (longest
 * silence between body bytes) by our own timer per transfer. There is no whole-transfer timeout, so
 * a long answer is never cut. */
#ifndef CP_UP_H
#define CP_UP_H

#include <stddef.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "cp_common.h"

typedef struct cp_up cp_up_t;
typedef struct cp_xfer cp_xfer_t;

typedef struct cp_xfer_cbs {
    /* Final status and headers are known. Return CP_OK to go on, CP_ERR to abort the transfer (on_done
     * then reports the cp_err_t given to cp_xfer_fail()). */
    int (*on_head)(void *ud, cp_xfer_t *x, long status);
    /* <n> body bytes. Return CP_OK, CP_AGAIN to pause the transfer (the same bytes come again after
     * cp_xfer_resume), or CP_ERR to abort (as for on_head). */
    int (*on_body)(void *ud, cp_xfer_t *x, const char *p, size_t n);
    /* The transfer ended: <rc> CP_OK after a complete response, else CP_ERR with <e> saying why (a 502
     * api_error / 504 timeout_error naming the provider). <x> is freed when this returns. */
    void (*on_done)(void *ud, cp_xfer_t *x, int rc, const cp_err_t *e);
} cp_xfer_cbs_t;

/* What to send. The strings are borrowed for the duration of cp_up_start(). */
typedef struct cp_up_req {
    const char *provider; /* for error messages */
    const char *url;
    struct curl_slist *headers; /* taken (freed with the transfer) */
    char *body;                 /* taken (freed with the transfer); NUL-terminated */
    size_t body_len;
    long connect_timeout_ms;
    long first_byte_timeout_ms;
    long idle_timeout_ms;
    const char *proxy; /* NULL: libcurl's default (the *_proxy environment variables); "": none; else a URL */
} cp_up_req_t;

/* Returns new, or NULL. Borrows <base> for its lifetime. */
cp_up_t *cp_up_new(struct event_base *base);

/* Cancels every transfer (no callbacks) and frees. Accepts NULL. Call before event_base_free. */
void cp_up_free(cp_up_t *up);

/* Starts a POST. Takes req->headers and req->body in every case. Returns the transfer, or NULL with
 * <e> set (a 502 api_error). Never calls back before returning. */
cp_xfer_t *cp_up_start(cp_up_t *up, cp_up_req_t *req, const cp_xfer_cbs_t *cbs, void *ud, cp_err_t *e);

/* Removes the transfer now; no callback follows. From libevent callbacks only. Accepts NULL. */
void cp_up_cancel(cp_xfer_t *x);

/* Records why on_head/on_body is about to return CP_ERR (copied; on_done reports it). */
void cp_xfer_fail(cp_xfer_t *x, const cp_err_t *e);

/* Resumes a transfer paused by on_body returning CP_AGAIN. May call on_body before returning. */
void cp_xfer_resume(cp_xfer_t *x);

/* The value of response header <name> (case-insensitive) of the final response, or NULL. Only a few
 * headers are kept: content-type, retry-after, retry-after-ms, x-should-retry, request-id. */
const char *cp_xfer_header(const cp_xfer_t *x, const char *name);

/* The loop this multi runs on (borrowed). */
struct event_base *cp_up_base(const cp_up_t *up);

#endif
