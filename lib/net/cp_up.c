/* lib/net/cp_up.c: see cp_up.h. libcurl multi on the libevent loop, with the pitfalls of
 * docs/architecture.md ("The event loop: libcurl and evhttp"): one non-repeating curl timer (never
 * calling curl from it), CURL_POLL_REMOVE frees our socket event at once, curl_multi_info_read drained
 * after every socket_action, no remove_handle inside curl callbacks (aborts return CURL_WRITEFUNC_ERROR
 * and come back through the reap). */
#include "cp_up.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "cp_log.h"

#define UP_KEPT_HEADERS  7
#define UP_READ_BODY_MIN (64u * 1024u) /* curl 7.88 uses its upload buffer from here on anyway */

static const char *const up_kept[UP_KEPT_HEADERS] = {"content-type",
                                                     "retry-after",
                                                     "retry-after-ms",
                                                     "x-should-retry",
                                                     "request-id",
                                                     "x-ratelimit-reset-requests", /* lib/base/cp_retry.h */
                                                     "x-ratelimit-reset-tokens"};

struct cp_up {
    struct event_base *base;
    CURLM *multi;
    struct event *timer; /* the one curl timeout */
    int running;
    LIST_HEAD(, cp_xfer) xfers; /* every transfer on the multi, for cp_up_free */
};

struct cp_xfer {
    cp_up_t *up;
    CURL *easy;
    struct curl_slist *headers;
    char *body; /* the request body; a large one is freed once the answer starts (see up_read) */
    size_t body_len, body_off;
    char *provider;
    char *host; /* "host:port" of the URL, for messages */
    const cp_xfer_cbs_t *cbs;
    void *ud;
    struct event *timer; /* first-byte, then idle timeout */
    long first_byte_ms, idle_ms;
    long status;
    char *kept[UP_KEPT_HEADERS]; /* values of the final response's headers we care about */
    cp_err_t err;                /* why we aborted, when we did */
    char curl_err[CURL_ERROR_SIZE];
    LIST_ENTRY(cp_xfer) link; /* in cp_up.xfers while on the multi */
    unsigned linked : 1;
    unsigned head_done : 1;
    unsigned failed : 1;    /* err holds the reason */
    unsigned timed_out : 1; /* our timer fired */
    unsigned paused : 1;
    unsigned sends; /* times curl was about to send the request (see xfer_prereq_cb) */
};

typedef struct up_sock {
    struct event *ev;
} up_sock_t;

static void up_reap(cp_up_t *up);

/* ---- the multi on the loop ------------------------------------------------------------------ */

static void up_io_cb(evutil_socket_t fd, short what, void *arg)
{
    cp_up_t *up = arg;
    int bits = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    CURLMcode rc = curl_multi_socket_action(up->multi, fd, bits, &up->running);

    if (rc != CURLM_OK && rc != CURLM_BAD_SOCKET)
        cp_log(CP_LOG_ERROR, "curl_multi_socket_action: %s", curl_multi_strerror(rc));
    up_reap(up);
}

static void up_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    cp_up_t *up = arg;
    CURLMcode rc;

    (void)fd;
    (void)what;
    rc = curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &up->running);
    if (rc != CURLM_OK)
        cp_log(CP_LOG_ERROR, "curl_multi_socket_action(timeout): %s", curl_multi_strerror(rc));
    up_reap(up);
}

static int up_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
    cp_up_t *up = userp;
    up_sock_t *us = sockp;
    short kind =
        (short)(EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0));

    (void)easy; /* may be an internal handle: never treat it as ours */
    if (what == CURL_POLL_REMOVE) {
        if (us != NULL) { /* told before curl closes the fd: drop our event now */
            event_free(us->ev);
            free(us);
        }
        return 0;
    }
    if (us == NULL) {
        us = cp_xcalloc(1, sizeof(*us));
        us->ev = event_new(up->base, fd, kind, up_io_cb, up);
        if (us->ev == NULL) {
            free(us);
            return -1;
        }
        curl_multi_assign(up->multi, fd, us);
    } else {
        event_del(us->ev); /* event_assign on a pending event is not allowed */
        event_assign(us->ev, up->base, fd, kind, up_io_cb, up);
    }
    return event_add(us->ev, NULL) == 0 ? 0 : -1;
}

static int up_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    cp_up_t *up = userp;
    struct timeval tv;

    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(up->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(up->timer, &tv); /* replaces a pending one; 0 = next loop pass. Never call curl here. */
    return 0;
}

/* ---- transfers ------------------------------------------------------------------------------ */

static void xfer_unlink(cp_xfer_t *x)
{
    if (x->linked)
        LIST_REMOVE(x, link);
    x->linked = 0;
}

/* Detaches from the multi and frees. Must not run inside a curl callback. */
static void xfer_free(cp_xfer_t *x)
{
    if (x == NULL)
        return;
    if (x->easy != NULL) {
        curl_multi_remove_handle(x->up->multi, x->easy);
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
    }
    xfer_unlink(x);
    if (x->timer != NULL)
        event_free(x->timer);
    x->timer = NULL;
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    free(x->body);
    x->body = NULL;
    free(x->provider);
    x->provider = NULL;
    free(x->host);
    x->host = NULL;
    for (int i = 0; i < UP_KEPT_HEADERS; i++) {
        free(x->kept[i]);
        x->kept[i] = NULL;
    }
    free(x);
}

static void xfer_arm(cp_xfer_t *x, long ms)
{
    struct timeval tv;

    if (ms <= 0)
        return;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(x->timer, &tv);
}

/* Our first-byte / idle timer fired: remove the transfer and report the timeout. */
static void xfer_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    cp_xfer_t *x = arg;
    cp_up_t *up = x->up;

    (void)fd;
    (void)what;
    x->timed_out = 1;
    if (x->head_done)
        cp_err_set(&x->err, 504, "timeout_error",
                   "provider %s sent nothing for %ld s in the middle of its answer", x->provider,
                   x->idle_ms / 1000);
    else
        cp_err_set(&x->err, 504, "timeout_error", "provider %s did not answer within %ld s", x->provider,
                   x->first_byte_ms / 1000);
    x->failed = 1;
    /* deliver on_done now, as the reap would (a libevent callback: removing the handle is allowed) */
    curl_multi_remove_handle(up->multi, x->easy);
    curl_easy_cleanup(x->easy);
    x->easy = NULL;
    xfer_unlink(x);
    x->cbs->on_done(x->ud, x, CP_ERR, &x->err);
    xfer_free(x);
}

/* Once the answer has started and the whole body was handed to curl, it is never sent again: drop a
 * large one now (an early answer, e.g. a 413 during the upload, keeps it until the upload ends). */
static void xfer_drop_body(cp_xfer_t *x)
{
    if (x->body_len >= UP_READ_BODY_MIN && x->body_off == x->body_len) { /* all handed to curl */
        free(x->body);
        x->body = NULL;
    }
}

static void xfer_keep_header(cp_xfer_t *x, const char *line, size_t n)
{
    const char *colon = memchr(line, ':', n);
    size_t nl, vl;
    const char *v;

    if (colon == NULL)
        return;
    nl = (size_t)(colon - line);
    for (int i = 0; i < UP_KEPT_HEADERS; i++) {
        if (strlen(up_kept[i]) != nl || strncasecmp(line, up_kept[i], nl) != 0)
            continue;
        v = colon + 1;
        vl = n - (size_t)(v - line);
        while (vl > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        free(x->kept[i]);
        x->kept[i] = cp_xstrndup(v, vl > 512 ? 512 : vl);
        return;
    }
}

static size_t xfer_header_cb(char *p, size_t sz, size_t n, void *ud)
{
    cp_xfer_t *x = ud;
    size_t len = sz * n;

    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (after 1xx or a redirect) */
        for (int i = 0; i < UP_KEPT_HEADERS; i++) {
            free(x->kept[i]);
            x->kept[i] = NULL;
        }
        return len;
    }
    if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) { /* end of a header block */
        long status = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && !x->head_done) {
            x->head_done = 1;
            x->status = status;
            xfer_drop_body(x);
            evtimer_del(x->timer);
            xfer_arm(x, x->idle_ms);
            if (x->cbs->on_head(x->ud, x, status) != CP_OK) {
                x->failed = 1;
                return 0; /* aborts: CURLE_WRITE_ERROR in the reap */
            }
        }
        return len;
    }
    xfer_keep_header(x, p, len);
    return len;
}

/* Large bodies (Claude Code's first turn is ~70 KB of tool schemas) go through a read callback, so
 * that the body can be freed as soon as the answer starts instead of living as long as a long stream.
 * Small ones stay on CURLOPT_POSTFIELDS, which needs no upload buffer at all. */
static size_t xfer_read_cb(char *p, size_t sz, size_t n, void *ud)
{
    cp_xfer_t *x = ud;
    size_t left, take;

    if (x->body == NULL)
        return 0;
    left = x->body_len - x->body_off;
    take = left < sz * n ? left : sz * n;
    memcpy(p, x->body + x->body_off, take);
    x->body_off += take;
    return take;
}

/* curl rewinds when it resends on a fresh connection (a reused one had died before any answer). */
static int xfer_seek_cb(void *ud, curl_off_t off, int origin)
{
    cp_xfer_t *x = ud;

    if (x->body == NULL || origin != SEEK_SET || off < 0 || (size_t)off > x->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->body_off = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

/* curl is about to send the request on a connection. When a reused keep-alive connection dies before
 * any answer, curl resends on another one, and again on each further dead one (up to five times with
 * 7.88): each copy of a POST may start a billed generation upstream. One resend covers the ordinary
 * stale-connection race; a third attempt is refused. */
#define UP_MAX_SENDS 2
static int xfer_prereq_cb(void *ud, char *ip, char *local_ip, int port, int local_port)
{
    cp_xfer_t *x = ud;

    (void)ip;
    (void)local_ip;
    (void)port;
    (void)local_port;
    if (++x->sends <= UP_MAX_SENDS)
        return CURL_PREREQFUNC_OK;
    cp_err_set(&x->err, 502, "api_error",
               "provider %s unreachable (its connections closed before an answer, %u times)", x->provider,
               x->sends - 1);
    x->failed = 1;
    return CURL_PREREQFUNC_ABORT;
}

static size_t xfer_write_cb(char *p, size_t sz, size_t n, void *ud)
{
    cp_xfer_t *x = ud;
    int rc;

    if (!x->head_done) { /* no blank line seen (HTTP/0.9-ish): treat the head as done now */
        long status = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        x->head_done = 1;
        x->status = status;
        if (x->cbs->on_head(x->ud, x, status) != CP_OK) {
            x->failed = 1;
            return CURL_WRITEFUNC_ERROR;
        }
    }
    evtimer_del(x->timer);
    xfer_arm(x, x->idle_ms);
    rc = x->cbs->on_body(x->ud, x, p, sz * n);
    if (rc == CP_AGAIN) {
        x->paused = 1;
        evtimer_del(x->timer); /* a paused transfer is waiting for our client, not for the upstream */
        return CURL_WRITEFUNC_PAUSE;
    }
    if (rc != CP_OK) {
        x->failed = 1;
        return CURL_WRITEFUNC_ERROR;
    }
    return sz * n;
}

/* Turns a curl result into the client-facing error: the provider and what kind of failure, never its
 * host, port or curl's text (those go to the log only: a client learns nothing of the network). */
static void xfer_curl_error(cp_xfer_t *x, CURLcode res, cp_err_t *e)
{
    const char *detail = x->curl_err[0] ? x->curl_err : curl_easy_strerror(res);
    const char *what;
    int status = 502;

    switch (res) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        what = "its host name does not resolve";
        break;
    case CURLE_COULDNT_CONNECT:
        what = "connection refused";
        break;
    case CURLE_OPERATION_TIMEDOUT:
        what = "timed out";
        status = 504;
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_USE_SSL_FAILED:
        what = "TLS failed";
        break;
    default:
        what = "the transfer failed";
        break;
    }
    cp_log_j(CP_LOG_WARN, "upstream transfer failed",
             json_pack("{s:s,s:s,s:i,s:s}", "provider", x->provider, "host", x->host != NULL ? x->host : "",
                       "curl", (int)res, "detail", detail));
    cp_err_set(e, status, status == 504 ? "timeout_error" : "api_error", "provider %s unreachable (%s)",
               x->provider, what);
}

static void up_reap(cp_up_t *up)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(up->multi, &left)) != NULL) {
        CURL *easy = m->easy_handle;
        CURLcode res = m->data.result; /* copy now: *m dies in remove_handle */
        cp_xfer_t *x = NULL;
        cp_err_t e = {0};

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(up->multi, easy);
        curl_easy_cleanup(easy);
        x->easy = NULL;
        xfer_unlink(x);
        if (res == CURLE_OK && !x->failed) {
            x->cbs->on_done(x->ud, x, CP_OK, NULL);
        } else {
            if (x->failed)
                e = x->err;
            else
                xfer_curl_error(x, res, &e);
            x->cbs->on_done(x->ud, x, CP_ERR, &e);
        }
        xfer_free(x);
    }
}

/* "host:port" of <url>, for messages. Returns new. */
static char *up_hostport(const char *url)
{
    const char *h = strstr(url, "://");
    size_t n;

    h = h ? h + 3 : url;
    n = strcspn(h, "/?#");
    return cp_xstrndup(h, n);
}

cp_xfer_t *cp_up_start(cp_up_t *up, cp_up_req_t *req, const cp_xfer_cbs_t *cbs, void *ud, cp_err_t *e)
{
    cp_xfer_t *x = cp_xcalloc(1, sizeof(*x));
    CURLMcode mrc;

    x->up = up;
    x->headers = req->headers;
    x->body = req->body;
    req->headers = NULL;
    req->body = NULL;
    x->provider = cp_xstrdup(req->provider);
    x->host = up_hostport(req->url);
    x->cbs = cbs;
    x->ud = ud;
    x->first_byte_ms = req->first_byte_timeout_ms;
    x->idle_ms = req->idle_timeout_ms;
    x->timer = evtimer_new(up->base, xfer_timeout_cb, x);
    x->easy = curl_easy_init();
    if (x->timer == NULL || x->easy == NULL) {
        cp_err_set(e, 502, "api_error", "cannot start a transfer to provider %s", x->provider);
        if (x->easy != NULL)
            curl_easy_cleanup(x->easy);
        x->easy = NULL;
        xfer_free(x);
        return NULL;
    }
    curl_easy_setopt(x->easy, CURLOPT_URL, req->url);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
    x->body_len = req->body_len;
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    if (req->body_len < UP_READ_BODY_MIN) {
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body); /* sent without an upload buffer */
    } else {
        curl_easy_setopt(x->easy, CURLOPT_READFUNCTION, xfer_read_cb);
        curl_easy_setopt(x->easy, CURLOPT_READDATA, x);
        curl_easy_setopt(x->easy, CURLOPT_SEEKFUNCTION, xfer_seek_cb);
        curl_easy_setopt(x->easy, CURLOPT_SEEKDATA, x);
        curl_easy_setopt(x->easy, CURLOPT_UPLOAD_BUFFERSIZE, 16384L); /* its minimum; default 64 KiB */
    }
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->easy, CURLOPT_PREREQFUNCTION, xfer_prereq_cb);
    curl_easy_setopt(x->easy, CURLOPT_PREREQDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, xfer_write_cb);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, xfer_header_cb);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->curl_err);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
    if (req->proxy != NULL) /* providers.<name>.proxy; "" turns off the environment's proxy too */
        curl_easy_setopt(x->easy, CURLOPT_PROXY, req->proxy);
    curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    /* the receive buffer is allocated per transfer: 8 KiB keeps thousands of streams small */
    curl_easy_setopt(x->easy, CURLOPT_BUFFERSIZE, 8192L);
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
    /* "Expect: 100-continue" would cost a round trip (or a 1 s stall) on every large body */
    x->headers = curl_slist_append(x->headers, "Expect:");
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    LIST_INSERT_HEAD(&up->xfers, x, link);
    x->linked = 1;
    mrc = curl_multi_add_handle(up->multi, x->easy);
    if (mrc != CURLM_OK) {
        cp_err_set(e, 502, "api_error", "cannot start a transfer to provider %s: %s", x->provider,
                   curl_multi_strerror(mrc));
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
        xfer_free(x);
        return NULL;
    }
    xfer_arm(x, x->first_byte_ms);
    return x;
}

void cp_up_cancel(cp_xfer_t *x)
{
    xfer_free(x);
}

void cp_xfer_fail(cp_xfer_t *x, const cp_err_t *e)
{
    x->err = *e;
    x->failed = 1;
}

void cp_xfer_resume(cp_xfer_t *x)
{
    if (!x->paused || x->easy == NULL)
        return;
    x->paused = 0;
    xfer_arm(x, x->idle_ms);
    curl_easy_pause(x->easy, CURLPAUSE_CONT); /* may call xfer_write_cb before returning */
}

const char *cp_xfer_header(const cp_xfer_t *x, const char *name)
{
    for (int i = 0; i < UP_KEPT_HEADERS; i++)
        if (strcasecmp(name, up_kept[i]) == 0)
            return x->kept[i];
    return NULL;
}

struct event_base *cp_up_base(const cp_up_t *up)
{
    return up->base;
}

cp_up_t *cp_up_new(struct event_base *base)
{
    cp_up_t *up = cp_xcalloc(1, sizeof(*up));

    up->base = base;
    up->multi = curl_multi_init();
    up->timer = evtimer_new(base, up_tick_cb, up);
    if (up->multi == NULL || up->timer == NULL) {
        cp_up_free(up);
        return NULL;
    }
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, up_socket_cb);
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, up_timer_cb);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, 256L);
    return up;
}

void cp_up_free(cp_up_t *up)
{
    if (up == NULL)
        return;
    while (!LIST_EMPTY(&up->xfers))
        xfer_free(LIST_FIRST(&up->xfers));
    if (up->multi != NULL)
        curl_multi_cleanup(up->multi); /* the socket callback still fires: our events must exist */
    up->multi = NULL;
    if (up->timer != NULL)
        event_free(up->timer);
    up->timer = NULL;
    free(up);
}
