/* lib/net/cp_conn.c: see cp_conn.h.
 *
 * Finding the connection. evhttp 2.1.12 gives no hook when a server connection opens, so the set
 * supplies each connection's bufferevent itself (evhttp_set_bevcb) and, on the next pass of the
 * loop, finds the evhttp_connection that took it (the bufferevent's callback argument) and installs
 * a close callback whose argument is our record. The record therefore lives exactly as long as the
 * connection: it is freed in conn_on_close, which evhttp calls from evhttp_connection_free (client
 * EOF, timeout, "Connection: close" after a reply, evhttp_free).
 *
 * Seeing the bytes. An input-buffer callback runs when bytes are added, before evhttp's read
 * callback parses them: it feeds the framing scanner, arms the deadlines, reserves the upload
 * budget and caps pipelined bytes. An output-buffer callback recognises evhttp's own HTML error
 * page while it is still in the buffer and rewrites it into the Anthropic error envelope.
 *
 * Taking over. To refuse a connection the set replaces evhttp's bufferevent callbacks with its own
 * (evhttp's write callback would otherwise take our reply for the end of one of its own), writes
 * the reply, shuts the sending side once it is out, drops what the client still sends, and frees
 * the connection through evhttp on EOF or after CONN_LINGER_S. Every free happens from the
 * connection's own deferred event, never from inside a bufferevent callback. */
#include "cp_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "cp_anth.h"
#include "cp_frame.h"
#include "cp_log.h"
#include "cp_peers.h"
#include "cp_tls.h"

#define CONN_HTML_TAIL     "</BODY></HTML>\n"
#define CONN_HTML_TAIL_LEN (sizeof(CONN_HTML_TAIL) - 1)
#define CONN_LINGER_S      2 /* a refused connection: time for the reply to leave and the client to close */

enum conn_deadline { DL_NONE, DL_IDLE, DL_HEAD, DL_BODY, DL_LINGER };
enum conn_task { TASK_NONE, TASK_CLOSE, TASK_REFUSE };

struct cp_conn {
    cp_conns_t *set;
    struct bufferevent *bev;       /* ours until evhttp takes it; freed by evhttp */
    struct evhttp_connection *evc; /* known once associated */
    evutil_socket_t fd;            /* known once associated */
    struct event *task_ev;         /* one-shot: associates on the first pass, then runs <task> */
    struct event *timer;           /* the deadline of <deadline> */
    struct evbuffer_cb_entry *in_cb, *out_cb;
    LIST_ENTRY(cp_conn) link;
    cp_peer_key_t peer;
    cp_frame_t frame;
    uint64_t reserved; /* upload budget held by the request being received */
    void *pending;     /* the front's request in flight */
    enum conn_deadline deadline;
    enum conn_task task;
    unsigned associated : 1;
    unsigned counted : 1;    /* in set->peers */
    unsigned in_request : 1; /* a request of ours is between the front and its completion */
    unsigned taken : 1;      /* refused: our callbacks, not evhttp's */
    unsigned closing : 1;    /* TASK_CLOSE scheduled */
    unsigned refusing : 1;   /* TASK_REFUSE scheduled: what arrives meanwhile is dropped */
    unsigned line_done : 1;  /* <line> holds the whole request line */
    unsigned tls : 1;        /* an OpenSSL bufferevent: its buffers are never frozen */
    int refuse_status;       /* framing refused while a request was in flight: refused after it */
    const char *refuse_why;
    char line[160]; /* start of the current request line, for logging evhttp's own errors */
};

struct cp_conns {
    struct event_base *base;
    struct evhttp *http;
    const cp_config_t *cfg; /* borrowed */
    cp_conns_closed_fn closed;
    void *ud;
    unsigned n;
    LIST_HEAD(, cp_conn) all;
    cp_conn_t **by_fd; /* associated connections indexed by socket, for O(1) lookup */
    size_t nby_fd;
    cp_peers_t *peers;
    cp_tls_t *tls;      /* server.tls: new connections speak TLS; NULL: plain HTTP; owned */
    uint64_t uploading; /* sum of every connection's <reserved> */
    uint64_t warned_us; /* when the last "connections refused" warning was logged */
    unsigned refused;   /* connections refused at accept since then */
    unsigned draining : 1;
};

static void conn_arm(cp_conn_t *c);

/* ---- small pieces --------------------------------------------------------------------------- */

static void conn_schedule(cp_conn_t *c, enum conn_task t)
{
    if (c->task == TASK_CLOSE)
        return;
    c->task = t;
    if (t == TASK_CLOSE)
        c->closing = 1;
    event_active(c->task_ev, EV_TIMEOUT, 0); /* never free a connection inside its own callbacks */
}

static void conn_release(cp_conn_t *c)
{
    c->set->uploading -= c->reserved;
    c->reserved = 0;
}

/* Splits the saved request line into method and path (query string dropped) for the access log. */
static void conn_line(const cp_conn_t *c, char *method, size_t mn, char *path, size_t pn)
{
    const char *sp = strchr(c->line, ' ');
    size_t ml = sp ? (size_t)(sp - c->line) : 0;
    size_t pl = sp ? strcspn(sp + 1, " ?") : 0;

    snprintf(method, mn, "%.*s", ml ? (int)ml : 1, ml ? c->line : "-");
    snprintf(path, pn, "%.*s", pl ? (int)pl : 1, pl ? sp + 1 : "-");
}

static void conn_access(const cp_conn_t *c, const char *rid, int status, size_t bytes_out)
{
    char method[24], path[140];

    conn_line(c, method, sizeof(method), path, sizeof(path));
    cp_log_j(CP_LOG_INFO, "request",
             json_pack("{s:s,s:s,s:s,s:i,s:f,s:n,s:n,s:i,s:I}", "rid", rid, "method", method, "path", path,
                       "status", status, "dur_ms", 0.0, "model", "provider", "bytes_in", 0, "bytes_out",
                       (json_int_t)bytes_out));
}

const char *cp_conn_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Request Entity Too Large";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    case 529:
        return "Overloaded";
    default:
        return "Status";
    }
}

/* Appends a whole error reply that closes the connection to <out>. */
static void conn_write_error(cp_conn_t *c, struct evbuffer *out, const char *version, int status,
                             const char *type, const char *msg, int retry_after)
{
    char rid[CP_REQ_ID_LEN + 1];
    char *json;

    cp_req_id(rid);
    json = cp_anth_error_json(status, type, msg, rid);
    evbuffer_add_printf(out,
                        "%s %d %s\r\nContent-Type: application/json\r\nrequest-id: %s\r\n"
                        "Connection: close\r\n",
                        version, status, cp_conn_phrase(status), rid);
    if (retry_after > 0)
        evbuffer_add_printf(out, "retry-after: %d\r\n", retry_after);
    evbuffer_add_printf(out, "Content-Length: %zu\r\n\r\n%s", strlen(json), json);
    if (c->line[0] != '\0') /* a request was seen; refusals at accept are counted, not logged one by one */
        conn_access(c, rid, status, strlen(json));
    free(json);
}

/* ---- taking a connection over ----------------------------------------------------------------- */

static void conn_taken_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

static void conn_taken_write(struct bufferevent *bev, void *arg)
{
    cp_conn_t *c = arg;

    if (c->tls && bufferevent_openssl_get_ssl(bev) != NULL)
        SSL_shutdown(bufferevent_openssl_get_ssl(bev)); /* close_notify, then the TCP end */
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_WR); /* the reply is out: the client sees it, then EOF */
}

static void conn_taken_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return;                     /* TLS: the handshake is done, so the reply can now go out */
    conn_schedule(arg, TASK_CLOSE); /* EOF, error or evhttp's timeout: done */
}

/* Refuses <c> now: writes the error reply and lingers (see the top of the file). */
static void conn_refuse(cp_conn_t *c, int status, const char *type, const char *msg, int retry_after)
{
    struct timeval tv = {CONN_LINGER_S, 0};

    if (c->taken || c->closing)
        return;
    c->taken = 1;
    conn_release(c);
    bufferevent_setcb(c->bev, conn_taken_read, conn_taken_write, conn_taken_event, c);
    evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(bufferevent_get_input(c->bev)));
    conn_write_error(c, bufferevent_get_output(c->bev), "HTTP/1.1", status, type, msg, retry_after);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->deadline = DL_LINGER;
    evtimer_add(c->timer, &tv);
    cp_log(CP_LOG_DEBUG, "connection refused with %d: %s", status, msg);
}

static void conn_refuse_budget(cp_conn_t *c)
{
    char msg[200];

    snprintf(msg, sizeof(msg),
             "ccproxy is receiving too many request bodies at once (server.uploadBudgetBytes = %zu); retry "
             "shortly",
             c->set->cfg->upload_budget);
    conn_refuse(c, 503, "overloaded_error", msg, 2);
}

/* ---- bytes in --------------------------------------------------------------------------------- */

/* Holds the budget for what the request being received has announced; 0 when it does not fit. */
static int conn_reserve(cp_conn_t *c)
{
    uint64_t want = cp_frame_body_declared(&c->frame);
    cp_conns_t *s = c->set;

    if (want <= c->reserved || want > s->cfg->max_body_bytes)
        return 1; /* over maxBodyBytes: evhttp answers 413 and reads no more of it */
    if (s->uploading - c->reserved + want > s->cfg->upload_budget)
        return 0;
    s->uploading += want - c->reserved;
    c->reserved = want;
    return 1;
}

/* Framing refused: a 400 now, or after the request in flight. */
static void conn_bad_framing(cp_conn_t *c)
{
    if (c->in_request) {
        c->refuse_status = 400;
        c->refuse_why = cp_frame_why(&c->frame);
        return;
    }
    conn_refuse(c, 400, "invalid_request_error", cp_frame_why(&c->frame), 0);
}

/* Runs the scanner over the <n> bytes just added at the end of <buf>. */
static void conn_scan(cp_conn_t *c, struct evbuffer *buf, size_t n)
{
    struct evbuffer_ptr pos;
    struct evbuffer_iovec v[8];

    if (evbuffer_ptr_set(buf, &pos, evbuffer_get_length(buf) - n, EVBUFFER_PTR_SET) != 0)
        return;
    while (n > 0 && !c->taken) {
        int k = evbuffer_peek(buf, (ev_ssize_t)n, &pos, v, 8);
        size_t done = 0;

        for (int i = 0; i < k && i < 8 && done < n && !c->taken; i++) {
            size_t len = v[i].iov_len < n - done ? v[i].iov_len : n - done, off = 0;
            while (off < len || cp_frame_phase(&c->frame) == CP_FRAME_IN_BODY) {
                size_t used = 0;
                enum cp_frame_ev ev =
                    cp_frame_feed(&c->frame, (const char *)v[i].iov_base + off, len - off, &used);
                off += used;
                if (ev == CP_FRAME_BAD) {
                    conn_bad_framing(c);
                    return;
                }
                if (ev == CP_FRAME_END)
                    conn_release(c);
                else if (!conn_reserve(c)) {
                    if (c->in_request)
                        conn_schedule(c, TASK_CLOSE);
                    else
                        conn_refuse_budget(c);
                    return;
                }
                if (ev == CP_FRAME_MORE)
                    break;
            }
            done += len;
        }
        if (k <= 0 || done == 0 || evbuffer_ptr_set(buf, &pos, done, EVBUFFER_PTR_ADD) != 0)
            return;
        n -= done;
    }
}

static void conn_input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    cp_conn_t *c = arg;
    const cp_config_t *cfg = c->set->cfg;
    ev_ssize_t n;
    char *eol;

    if (info->n_added == 0)
        return;
    if (c->taken || c->closing || c->refusing) {
        evbuffer_drain(buf, evbuffer_get_length(buf));
        return;
    }
    if (cp_frame_phase(&c->frame) == CP_FRAME_IDLE && !c->in_request)
        c->line_done = 0;
    if (!c->line_done) { /* the request line is at the start: evhttp consumes only whole lines */
        n = evbuffer_copyout(buf, c->line, sizeof(c->line) - 1);
        c->line[n > 0 ? n : 0] = '\0';
        if ((eol = strpbrk(c->line, "\r\n")) != NULL || n == (ev_ssize_t)sizeof(c->line) - 1) {
            if (eol != NULL)
                *eol = '\0';
            c->line_done = 1;
        }
    }
    conn_scan(c, buf, info->n_added);
    if (c->in_request && !c->closing && evbuffer_get_length(buf) > cfg->max_header_bytes) {
        cp_log(CP_LOG_WARN,
               "closing a connection: over %zu bytes pipelined behind a request in flight "
               "(server.maxHeaderBytes)",
               cfg->max_header_bytes);
        conn_schedule(c, TASK_CLOSE);
    }
    conn_arm(c);
}

/* Rewrites the HTML error page <buf> holds (<len> bytes, start unfrozen), if it is one. */
static void conn_rewrite_html(cp_conn_t *c, struct evbuffer *buf, size_t len)
{
    char head[32], tail[CONN_HTML_TAIL_LEN];
    struct evbuffer_ptr pos;
    char msgbuf[300];
    const char *msg, *sp;
    ev_ssize_t hn = evbuffer_copyout(buf, head, sizeof(head) - 1);
    int status;

    /* evhttp echoes whatever version the client wrote ("HTTP/-1.2", "HTTP/1.10"): the status is what
     * follows the first space, and our answer says HTTP/1.1 (or 1.0) */
    head[hn > 0 ? hn : 0] = '\0';
    if (hn < 12 || memcmp(head, "HTTP/", 5) != 0 || (sp = strchr(head, ' ')) == NULL)
        return;
    if (evbuffer_ptr_set(buf, &pos, len - CONN_HTML_TAIL_LEN, EVBUFFER_PTR_SET) != 0 ||
        evbuffer_copyout_from(buf, &pos, tail, CONN_HTML_TAIL_LEN) != (ev_ssize_t)CONN_HTML_TAIL_LEN ||
        memcmp(tail, CONN_HTML_TAIL, CONN_HTML_TAIL_LEN) != 0)
        return;
    status = atoi(sp + 1);
    if (status < 400 || status > 599)
        status = 400;
    if (status == 413) {
        snprintf(
            msgbuf, sizeof(msgbuf),
            "Request too large: the body may be at most %zu bytes (server.maxBodyBytes) and the headers at "
            "most %zu bytes (server.maxHeaderBytes)",
            c->set->cfg->max_body_bytes, c->set->cfg->max_header_bytes);
        msg = msgbuf;
    } else if (status == 400) {
        snprintf(msgbuf, sizeof(msgbuf),
                 "Malformed HTTP request, or request headers over %zu bytes (server.maxHeaderBytes)",
                 c->set->cfg->max_header_bytes);
        msg = msgbuf;
    } else {
        msg = "The request could not be processed";
    }
    evbuffer_drain(buf, len);
    conn_write_error(c, buf, memcmp(head, "HTTP/1.0 ", 9) == 0 ? "HTTP/1.0" : "HTTP/1.1", status, NULL, msg,
                     0);
}

/* Rewrites an evhttp-generated HTML error page, once complete in the output buffer, into the
 * Anthropic error envelope (see the top of the file). */
static void conn_output_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    cp_conn_t *c = arg;
    size_t len = evbuffer_get_length(buf);

    if (info->n_added == 0 || c->in_request || c->taken || len < 64 || len > 2048)
        return; /* our own replies are never evhttp's HTML pages */
    /* the socket bufferevent freezes the start of its output between its own writes, and a frozen
     * start refuses copyout and drain: after the first reply on a connection, evhttp's pages went out
     * as HTML. Its write callback unfreezes the start before each write, so freezing it again is safe. */
    if (c->tls) { /* the OpenSSL bufferevent never freezes its buffers */
        conn_rewrite_html(c, buf, len);
        return;
    }
    evbuffer_unfreeze(buf, 1);
    conn_rewrite_html(c, buf, len);
    evbuffer_freeze(buf, 1);
}

/* ---- deadlines -------------------------------------------------------------------------------- */

/* Sets the deadline that fits <c>'s state; a deadline already running for the same phase keeps
 * running (total deadlines: bytes do not re-arm them). */
static void conn_arm(cp_conn_t *c)
{
    const cp_config_t *cfg = c->set->cfg;
    enum conn_deadline want = DL_NONE;
    struct timeval tv = {0, 0};

    if (c->taken || c->closing || !c->associated)
        return;
    if (!c->in_request) {
        switch (cp_frame_phase(&c->frame)) {
        case CP_FRAME_IDLE:
            want = DL_IDLE;
            tv.tv_sec = (time_t)cfg->keepalive_s;
            break;
        case CP_FRAME_IN_HEAD:
            want = DL_HEAD;
            tv.tv_sec = (time_t)cfg->head_timeout_s;
            break;
        case CP_FRAME_IN_BODY:
            want = DL_BODY;
            tv.tv_sec = (time_t)cfg->body_timeout_s;
            break;
        default:
            break;
        }
    }
    if (want == c->deadline)
        return;
    c->deadline = want;
    if (want == DL_NONE)
        evtimer_del(c->timer);
    else
        evtimer_add(c->timer, &tv);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    cp_conn_t *c = arg;
    const cp_config_t *cfg = c->set->cfg;
    char msg[200];

    (void)fd;
    (void)what;
    switch (c->deadline) {
    case DL_HEAD:
    case DL_BODY:
        snprintf(msg, sizeof(msg), "The request %s did not arrive within %u s (server.%s)",
                 c->deadline == DL_HEAD ? "head" : "body",
                 c->deadline == DL_HEAD ? cfg->head_timeout_s : cfg->body_timeout_s,
                 c->deadline == DL_HEAD ? "headTimeoutSeconds" : "bodyTimeoutSeconds");
        c->deadline = DL_NONE;
        conn_refuse(c, 408, "invalid_request_error", msg, 0);
        break;
    default: /* idle keep-alive, or the linger of a refused connection */
        c->deadline = DL_NONE;
        conn_schedule(c, TASK_CLOSE);
        break;
    }
}

/* ---- accept and close --------------------------------------------------------------------------- */

/* Plain HTTP sent to a TLS port: OpenSSL saw "GET ", "POST ", "HEAD " or "PUT " where a handshake
 * belongs and sent no alert, so the client can read a plain answer. As nginx does, it gets a 400 that
 * says to use https:// instead of a bare close. What it sent is read first (bounded), so the close does
 * not reset the connection under the reply. */
static void conn_plain_on_tls(cp_conn_t *c)
{
    struct evbuffer *out;
    unsigned long err;
    int plain = 0;
    char junk[4096];

    while ((err = bufferevent_get_openssl_error(c->bev)) != 0)
        plain |= ERR_GET_REASON(err) == SSL_R_HTTP_REQUEST;
    if (!plain || c->fd < 0 || (out = evbuffer_new()) == NULL)
        return;
    for (int i = 0; i < 16 && recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
        ;
    conn_write_error(c, out, "HTTP/1.1", 400, "invalid_request_error",
                     "this port speaks HTTPS (server.tls): use an https:// URL", 0);
    (void)evbuffer_write(out, c->fd); /* a few hundred bytes into an empty socket buffer */
    shutdown(c->fd, SHUT_WR);
    evbuffer_free(out);
    cp_log(CP_LOG_DEBUG, "plain HTTP on the TLS port: answered 400");
}

/* evhttp_connection_free is tearing the connection down; the bufferevent is freed right after. */
static void conn_on_close(struct evhttp_connection *evc, void *arg)
{
    cp_conn_t *c = arg;
    cp_conns_t *s = c->set;

    (void)evc;
    if (c->tls)
        conn_plain_on_tls(c);
    if (c->pending != NULL || c->in_request)
        s->closed(s->ud, c->pending, c->in_request); /* evhttp frees the request after we return */
    conn_release(c);
    if (c->counted)
        cp_peers_del(s->peers, &c->peer);
    evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
    evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
    if (c->fd >= 0 && (size_t)c->fd < s->nby_fd && s->by_fd[c->fd] == c)
        s->by_fd[c->fd] = NULL;
    LIST_REMOVE(c, link);
    s->n--;
    event_free(c->task_ev);
    event_free(c->timer);
    free(c);
    s->closed(s->ud, NULL, 0); /* the front may be idle now */
}

/* The limits at accept: NULL, or why <c> is refused (with the status and type). */
static const char *conn_over_limits(cp_conn_t *c, char *msg, size_t n, int *status, const char **type)
{
    cp_conns_t *s = c->set;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    unsigned from_peer;
    char addr[64];

    memset(&ss, 0, sizeof(ss));
    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) != 0)
        len = 0;
    c->peer = cp_peer_key((struct sockaddr *)&ss, len);
    from_peer = cp_peers_add(s->peers, &c->peer);
    c->counted = 1;
    if (s->cfg->max_connections > 0 && s->n > s->cfg->max_connections) {
        snprintf(msg, n, "ccproxy has too many connections open (server.maxConnections = %u); retry shortly",
                 s->cfg->max_connections);
        *status = 503;
        *type = "overloaded_error";
        return msg;
    }
    if (s->cfg->max_per_peer > 0 && from_peer > s->cfg->max_per_peer) {
        cp_peer_key_str(&c->peer, addr, sizeof(addr));
        snprintf(msg, n, "Too many connections from %s (server.maxConnectionsPerPeer = %u)", addr,
                 s->cfg->max_per_peer);
        *status = 429;
        *type = "rate_limit_error";
        return msg;
    }
    return NULL;
}

/* One warning per CONN_WARN_US at most, with how many connections were refused since the last one:
 * a flood of connections must not become a flood of log lines. */
#define CONN_WARN_US 5000000u
static void conn_warn_refused(cp_conns_t *s, const char *why)
{
    uint64_t now = cp_mono_us();

    s->refused++;
    if (s->warned_us != 0 && now - s->warned_us < CONN_WARN_US)
        return;
    cp_log_j(CP_LOG_WARN, "connections refused",
             json_pack("{s:s,s:I}", "why", why, "refused", (json_int_t)s->refused));
    s->warned_us = now;
    s->refused = 0;
}

static void conn_associate(cp_conn_t *c)
{
    cp_conns_t *s = c->set;
    bufferevent_data_cb rcb, wcb;
    bufferevent_event_cb ecb;
    void *cbarg = NULL;
    char msg[200];
    const char *why, *type = NULL;
    int status = 0;

    bufferevent_getcb(c->bev, &rcb, &wcb, &ecb, &cbarg);
    c->evc = cbarg; /* evhttp_connection_base_bufferevent_new passes the evcon as the argument */
    c->associated = 1;
    c->fd = bufferevent_getfd(c->bev);
    if (c->fd >= 0) {
        int one = 1;
        /* no Nagle: an answer often leaves in two writes (TLS writes the head and the body as two
         * records) and an SSE stream in many small ones; Nagle held each second write until the client's
         * delayed ACK, 40 ms later (bench/tls.sh measured it) */
        (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if ((size_t)c->fd >= s->nby_fd) {
            size_t n = (size_t)c->fd * 2 + 64;
            s->by_fd = cp_xrealloc(s->by_fd, n * sizeof(*s->by_fd));
            memset(s->by_fd + s->nby_fd, 0, (n - s->nby_fd) * sizeof(*s->by_fd));
            s->nby_fd = n;
        }
        s->by_fd[c->fd] = c;
    }
    evhttp_connection_set_closecb(c->evc, conn_on_close, c);
    if (s->draining && cp_frame_phase(&c->frame) == CP_FRAME_IDLE) {
        conn_schedule(c, TASK_CLOSE); /* accepted in the same pass as the drain began */
        return;
    }
    if ((why = conn_over_limits(c, msg, sizeof(msg), &status, &type)) != NULL) {
        conn_warn_refused(s, why);
        conn_refuse(c, status, type, why, 1);
        return;
    }
    conn_arm(c);
}

static void conn_task_cb(evutil_socket_t fd, short what, void *arg)
{
    cp_conn_t *c = arg;
    enum conn_task t = c->task;

    (void)fd;
    (void)what;
    if (!c->associated) {
        conn_associate(c);
        return;
    }
    c->task = TASK_NONE;
    if (t == TASK_CLOSE)
        evhttp_connection_free(c->evc); /* conn_on_close frees c */
    else if (t == TASK_REFUSE)
        conn_refuse(c, c->refuse_status, "invalid_request_error", c->refuse_why, 0);
}

/* A TLS connection's bufferevent: the SSL is freed with it (BEV_OPT_CLOSE_ON_FREE). Never NULL: evhttp
 * would make a plain one instead, and a TLS port must never speak plain HTTP. */
static struct bufferevent *conn_tls_bev(struct event_base *base, cp_tls_t *tls)
{
    SSL *ssl = cp_tls_ssl(tls);
    struct bufferevent *bev =
        ssl == NULL
            ? NULL
            : bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);

    if (bev == NULL) {
        cp_log(CP_LOG_ERROR, "out of memory setting up a TLS connection");
        abort();
    }
    /* a client that closes without close_notify has simply gone (EOF), as almost all of them do */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

static struct bufferevent *conn_bevcb(struct event_base *base, void *arg)
{
    cp_conns_t *s = arg;
    struct bufferevent *bev =
        s->tls != NULL ? conn_tls_bev(base, s->tls) : bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    cp_conn_t *c;

    if (bev == NULL)
        return NULL; /* evhttp then makes its own; that connection is simply not tracked */
    c = cp_xcalloc(1, sizeof(*c));
    c->set = s;
    c->bev = bev;
    c->tls = s->tls != NULL;
    c->fd = -1;
    cp_frame_init(&c->frame);
    c->task_ev = event_new(base, -1, 0, conn_task_cb, c);
    c->timer = evtimer_new(base, conn_timer_cb, c);
    c->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), conn_input_cb, c);
    c->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), conn_output_cb, c);
    if (c->task_ev == NULL || c->timer == NULL || c->in_cb == NULL || c->out_cb == NULL) {
        cp_log(CP_LOG_ERROR, "out of memory setting up a client connection");
        abort();
    }
    LIST_INSERT_HEAD(&s->all, c, link);
    s->n++;
    event_active(c->task_ev, EV_TIMEOUT, 0); /* runs before the loop next polls: before any read */
    return bev;
}

/* ---- the set ------------------------------------------------------------------------------------ */

cp_conns_t *cp_conns_new(struct event_base *base, struct evhttp *http, const cp_config_t *cfg,
                         cp_conns_closed_fn closed, void *ud)
{
    cp_conns_t *s = cp_xcalloc(1, sizeof(*s));

    s->base = base;
    s->http = http;
    s->cfg = cfg;
    s->closed = closed;
    s->ud = ud;
    s->peers = cp_peers_new();
    LIST_INIT(&s->all);
    evhttp_set_bevcb(http, conn_bevcb, s);
    return s;
}

void cp_conns_free(cp_conns_t *s)
{
    if (s == NULL)
        return;
    while (!LIST_EMPTY(&s->all)) { /* never associated: evhttp freed them without telling us */
        cp_conn_t *c = LIST_FIRST(&s->all);
        LIST_REMOVE(c, link);
        event_free(c->task_ev);
        event_free(c->timer);
        free(c);
    }
    cp_peers_free(s->peers);
    cp_tls_free(s->tls);
    free(s->by_fd);
    free(s);
}

void cp_conns_config(cp_conns_t *s, const cp_config_t *cfg, cp_tls_t *tls)
{
    s->cfg = cfg;
    cp_tls_free(s->tls); /* its connections keep their own reference */
    s->tls = tls;
    if (tls != NULL)
        cp_log_j(CP_LOG_INFO, "TLS on",
                 json_pack("{s:s,s:s,s:s}", "certificate", cp_tls_describe(tls), "file", cfg->tls_cert,
                           "minVersion", cfg->tls_min_version == 13 ? "1.3" : "1.2"));
}

void cp_conns_drain(cp_conns_t *s)
{
    cp_conn_t *c;

    s->draining = 1;
    LIST_FOREACH(c, &s->all, link)
    {
        if (c->associated && !c->in_request && cp_frame_phase(&c->frame) == CP_FRAME_IDLE)
            conn_schedule(c, TASK_CLOSE);
    }
}

unsigned cp_conns_count(const cp_conns_t *s)
{
    return s->n;
}

void cp_conns_each_pending(cp_conns_t *s, void (*fn)(void *pending, void *ud), void *ud)
{
    void **list = cp_xcalloc(s->n + 1, sizeof(*list));
    size_t n = 0;
    cp_conn_t *c;

    LIST_FOREACH(c, &s->all, link)
    {
        if (c->pending != NULL && n < s->n)
            list[n++] = c->pending;
    }
    for (size_t i = 0; i < n; i++)
        fn(list[i], ud);
    free(list);
}

cp_conn_t *cp_conns_find(cp_conns_t *s, struct evhttp_connection *evc)
{
    evutil_socket_t fd = evc ? bufferevent_getfd(evhttp_connection_get_bufferevent(evc)) : -1;

    if (fd < 0 || (size_t)fd >= s->nby_fd || s->by_fd[fd] == NULL || s->by_fd[fd]->evc != evc)
        return NULL;
    return s->by_fd[fd];
}

/* ---- one connection ---------------------------------------------------------------------------- */

void cp_conn_request(cp_conn_t *c, int begin)
{
    c->in_request = begin != 0;
    if (begin) {
        conn_arm(c);
        return;
    }
    c->pending = NULL;
    if (c->refuse_status != 0) {
        /* evhttp reads the next request as soon as we return: leave it nothing to read */
        c->refusing = 1;
        evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(bufferevent_get_input(c->bev)));
        conn_schedule(c, TASK_REFUSE);
        return;
    }
    if (c->set->draining && cp_frame_phase(&c->frame) == CP_FRAME_IDLE &&
        evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
        conn_schedule(c, TASK_CLOSE);
        return;
    }
    conn_arm(c);
}

void cp_conn_set_pending(cp_conn_t *c, void *pending)
{
    c->pending = pending;
}

void *cp_conn_pending(const cp_conn_t *c)
{
    return c->pending;
}

evutil_socket_t cp_conn_fd(const cp_conn_t *c)
{
    return c->fd;
}

void *cp_conn_owner(const cp_conn_t *c)
{
    return c->set->ud;
}

size_t cp_conn_unsent(const cp_conn_t *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* cp_conn_absorb on TLS: the bytes go through the connection's SSL, never raw into the buffer. */
static int conn_absorb_tls(cp_conn_t *c, struct evbuffer *in, size_t want)
{
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    char buf[4096];

    while (ssl != NULL && want > 0) {
        int n = SSL_read(ssl, buf, (int)(want < sizeof(buf) ? want : sizeof(buf)));
        if (n <= 0) {
            int err = SSL_get_error(ssl, n);
            ERR_clear_error();
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
                break;
            return -1; /* close_notify, EOF, reset or a broken record: the client has gone */
        }
        evbuffer_add(in, buf, (size_t)n); /* through the input callback: the cap applies */
        want -= (size_t)n;
    }
    return c->closing || c->taken ? 1 : 0;
}

int cp_conn_absorb(cp_conn_t *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t cap = c->set->cfg->max_header_bytes + 1;
    size_t have = evbuffer_get_length(in);
    int n, saved;

    if (c->closing || c->taken)
        return 1;
    if (c->tls)
        return conn_absorb_tls(c, in, have < cap ? cap - have : 1);
    evbuffer_unfreeze(in, 0); /* the socket bufferevent freezes its input's end between its reads */
    n = evbuffer_read(in, c->fd, (int)(have < cap ? cap - have : 1));
    saved = errno;
    evbuffer_freeze(in, 0);
    errno = saved;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        return -1;
    return c->closing || c->taken ? 1 : 0;
}
