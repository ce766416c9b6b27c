/* tests/fuzz/fuzz_http_head.c: libFuzzer target for the HTTP side of the server: evhttp (libevent
 * 2.1.12, as the daemon uses it) with ccproxy's front on top (lib/net/cp_front.c: connection tracking,
 * the guards of lib/net/cp_guard.c, the routes, parsing, validation and routing of Messages
 * requests, replies whole and streamed, the rewrite of evhttp's HTML error pages).
 *
 * Once per process: a configuration is loaded from a private temporary directory (127.0.0.1 on a free
 * port, maxHeaderBytes 1024 and maxBodyBytes 4096 so that inputs reach both limits, allowedHosts and
 * allowedOrigins set), and a front is created on an event_base exactly as lib/net/cp_server.c does,
 * with a stand-in for the exchange as its handler: count_tokens is answered with the local estimate;
 * a Messages request, by its max_tokens modulo 5, with a whole 200, an error (502), a stream, or, later
 * from the loop, a stream or a whole 200 (watching the client as the exchange does).
 *
 * Each input is raw bytes on a fresh loopback TCP connection: any number of pipelined requests, any
 * framing. The client writes it all, lets the loop run until nothing moves, half-closes, and reads
 * until the server closes. Checks, besides no crash, no leak and no ASan/UBSan report (in ccproxy's
 * code; libevent is the system's, not instrumented):
 * - everything the server wrote is a sequence of whole HTTP/1.x responses (Content-Length, chunked
 *   or close-delimited bodies; a HEAD reply carries no body), the last one possibly cut short only
 *   when the server reset the connection;
 * - every error status (>= 400) carries Content-Type application/json and, when it has a body, the
 *   Anthropic error envelope, never evhttp's HTML page. The one exception is 499, which the front
 *   writes with no body after the client half-closed before an answer made later from the loop (the
 *   client counts as gone: lib/net/cp_front.c, front_req_gone);
 * - the connection always ends, within a few seconds (a guard timer; evhttp's own timeout is 2 s).
 *
 * Run: `make fuzz` (all targets), or after it:
 *   build-fuzz/fuzz_http_head -max_len=8192 build-fuzz/corpus/fuzz_http_head
 * FUZZ_HTTP_DUMP=1 in the environment prints what the server wrote (to read a reproducer's answers). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <jansson.h>

#include "cp_accept.h"
#include "cp_buf.h"
#include "cp_config.h"
#include "cp_front.h"
#include "cp_json.h"
#include "cp_log.h"
#include "cp_tok.h"

#define FZ_GUARD_S 5 /* a connection still open this long after the client half-closed is a hang */

static struct {
    struct event_base *base;
    cp_front_t *front;
    cp_config_t *cfg;
    int port;
    unsigned pending; /* answers scheduled from the loop */
} fz;

/* ---- the stand-in for the exchange ------------------------------------------------------------ */

typedef struct fz_later {
    cp_front_req_t *r;
    struct event *ev;
    int stream, step;
} fz_later_t;

static const char fz_message[] =
    "{\"id\":\"msg_fz\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\","
    "\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],\"stop_reason\":\"end_turn\","
    "\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}";
static const char fz_event[] = "event: ping\ndata: {\"type\": \"ping\"}\n\n";

static void fz_later_free(fz_later_t *l)
{
    event_free(l->ev);
    free(l);
    fz.pending--;
}

static void fz_gone(void *ud)
{
    fz_later_free(ud);
}

static void fz_drained(void *ud)
{
    fz_later_t *l = ud;
    if (l->r == NULL || cp_front_req_pending(l->r) > (size_t)1 << 20)
        abort();
}

static void fz_later_cb(evutil_socket_t fd, short what, void *arg)
{
    fz_later_t *l = arg;

    (void)fd;
    (void)what;
    if (!l->stream) {
        cp_front_req_reply(l->r, 200, "application/json", fz_message, sizeof(fz_message) - 1, NULL);
        fz_later_free(l);
    } else if (l->step++ == 0) {
        cp_front_req_stream_start(l->r, "text/event-stream", fz_drained, l);
        cp_front_req_stream_write(l->r, fz_event, sizeof(fz_event) - 1);
        event_active(l->ev, EV_TIMEOUT, 0);
    } else {
        cp_front_req_stream_write(l->r, fz_event, sizeof(fz_event) - 1);
        cp_front_req_stream_end(l->r);
        fz_later_free(l);
    }
}

static void fz_handler(void *ud, cp_front_req_t *r, enum cp_anth_kind kind, json_t *body,
                       const cp_route_t *route)
{
    json_int_t mode = json_integer_value(json_object_get(body, "max_tokens")) % 5;
    char buf[64];

    (void)ud;
    if (route == NULL || route->provider == NULL || cp_front_req_id(r)[0] == '\0' ||
        cp_front_req_config(r) != fz.cfg)
        abort();
    (void)cp_front_req_header(r, "anthropic-version");
    if (kind == CP_ANTH_COUNT_TOKENS) {
        snprintf(buf, sizeof(buf), "{\"input_tokens\":%lld}", (long long)cp_tok_request(body));
        cp_front_req_reply(r, 200, "application/json", buf, strlen(buf), NULL);
    } else if (mode == 0) {
        cp_front_req_reply(r, 200, "application/json", fz_message, sizeof(fz_message) - 1, NULL);
    } else if (mode == 1) {
        const char *const extra[] = {"retry-after", "1", NULL};
        cp_err_t e = {0};
        cp_err_set(&e, 502, "api_error", "provider fz failed");
        cp_front_req_error(r, &e, extra);
    } else if (mode == 2) {
        cp_front_req_stream_start(r, "text/event-stream", NULL, NULL);
        cp_front_req_stream_write(r, fz_event, sizeof(fz_event) - 1);
        cp_front_req_stream_end(r);
    } else {
        fz_later_t *l = cp_xcalloc(1, sizeof(*l));
        l->r = r;
        l->stream = mode == 3;
        l->ev = event_new(fz.base, -1, 0, fz_later_cb, l);
        fz.pending++;
        cp_front_req_watch(r, fz_gone, l);
        event_active(l->ev, EV_TIMEOUT, 0);
    }
    json_decref(body);
}

/* ---- once per process --------------------------------------------------------------------------- */

static int fz_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Loads the configuration from a temporary directory removed right after. */
static cp_config_t *fz_config(int port)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256], sub[300], file[350], managed[300];
    cp_config_opts_t o = {0};
    cp_err_t e = {0};
    cp_config_t *c;
    FILE *f;

    snprintf(dir, sizeof(dir), "%s/ccproxy-fuzz-http-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(sub, sizeof(sub), "%s/.ccproxy", dir);
    snprintf(file, sizeof(file), "%s/settings.json", sub);
    if (mkdir(sub, 0700) != 0 || (f = fopen(file, "w")) == NULL)
        abort();
    fprintf(
        f,
        "{\"server\": {\"host\": \"127.0.0.1\", \"port\": %d, \"maxBodyBytes\": 4096,"
        " \"maxHeaderBytes\": 1024, \"clientTimeoutSeconds\": 2,"
        " \"allowedHosts\": [\"proxy.example\", \".corp.example\"],"
        " \"allowedOrigins\": [\"https://ok.example\"]},"
        " \"providers\": {\"mock\": {\"baseURL\": \"http://127.0.0.1:9\", \"responseStyle\": \"anthropic\"}},"
        " \"models\": {\"bigModel\": \"big@mock\", \"smallModel\": \"small@mock\","
        " \"map\": {\"fz-*\": \"mapped@mock\"}}, \"logging\": {\"level\": \"debug\"}}",
        port);
    fclose(f);
    o.home = dir;
    o.cwd = dir;
    snprintf(managed, sizeof(managed), "%s/managed.json", dir);
    o.managed_path = managed;
    c = cp_config_load(&o, NULL, NULL, &e);
    unlink(file);
    rmdir(sub);
    rmdir(dir);
    if (c == NULL) {
        fprintf(stderr, "fuzz_http_head: %s\n", e.msg);
        abort();
    }
    return c;
}

static void fz_init(void)
{
    static const char *const unset[] = {"CCPROXY_CONFIG",    "CCPROXY_PORT",       "CCPROXY_HOST",
                                        "CCPROXY_LOG_LEVEL", "CCPROXY_LOG_FORMAT", "CCPROXY_MANAGED_PATH"};
    FILE *null = fopen("/dev/null", "w");

    for (size_t i = 0; i < sizeof(unset) / sizeof(unset[0]); i++)
        unsetenv(unset[i]);
    signal(SIGPIPE, SIG_IGN); /* as lib/net/cp_server.c: evbuffer writes use writev() */
    cp_log_set_stream(null);
    cp_accept_route_libevent_log();
    fz.base = event_base_new();
    for (int tries = 0; tries < 20 && fz.front == NULL; tries++) {
        cp_err_t e = {0};
        fz.port = fz_free_port();
        cp_config_unref(fz.cfg);
        fz.cfg = fz_config(fz.port);
        cp_log_setup(fz.cfg->log_level, fz.cfg->log_format);
        fz.front = cp_front_new(fz.base, fz_handler, NULL, fz.cfg, &e);
    }
    if (fz.base == NULL || fz.front == NULL)
        abort();
}

/* ---- what the client sees ----------------------------------------------------------------------- */

typedef struct fz_resp {
    int status;
    int chunked, has_len, json;
    long long len;
} fz_resp_t;

/* The value of header line <line> (<n> bytes) named <name>, or NULL. */
static const char *fz_header(const char *line, size_t n, const char *name, size_t *vlen)
{
    size_t k = strlen(name);

    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return NULL;
    line += k + 1;
    n -= k + 1;
    while (n > 0 && (*line == ' ' || *line == '\t')) {
        line++;
        n--;
    }
    *vlen = n;
    return line;
}

/* Parses the head <p>/<n> (status line and header lines, without the blank line). */
static void fz_parse_head(const char *p, size_t n, fz_resp_t *r)
{
    const char *line = memmem(p, n, "\r\n", 2), *end = p + n;

    memset(r, 0, sizeof(*r));
    if (n < 13 || (memcmp(p, "HTTP/1.1 ", 9) != 0 && memcmp(p, "HTTP/1.0 ", 9) != 0) || p[12] != ' ' ||
        p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
        abort();
    r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    while (line != NULL && line < end) {
        const char *s = line + 2, *e = memmem(s, (size_t)(end - s), "\r\n", 2), *v;
        size_t ln = (size_t)((e != NULL ? e : end) - s), vl;

        if ((v = fz_header(s, ln, "Content-Length", &vl)) != NULL) {
            if (r->has_len++ || vl == 0 || vl > 12 || strspn(v, "0123456789") < vl)
                abort();
            r->len = strtoll(v, NULL, 10);
        } else if ((v = fz_header(s, ln, "Transfer-Encoding", &vl)) != NULL) {
            r->chunked = vl == 7 && strncasecmp(v, "chunked", 7) == 0;
        } else if ((v = fz_header(s, ln, "Content-Type", &vl)) != NULL) {
            r->json = vl >= 16 && strncasecmp(v, "application/json", 16) == 0;
        }
        line = e;
    }
}

/* The length of the chunked body at <p>/<n>, or -1 when it is cut short. */
static long long fz_chunked(const char *p, size_t n)
{
    size_t at = 0;

    for (;;) {
        const char *eol = memmem(p + at, n - at, "\r\n", 2);
        char *stop;
        unsigned long long k;

        if (eol == NULL)
            return -1;
        k = strtoull(p + at, &stop, 16);
        if (stop == p + at || (stop != eol && *stop != ';') || k > n)
            abort();
        at = (size_t)(eol - p) + 2;
        if (n - at < k + 2)
            return -1;
        if (memcmp(p + at + k, "\r\n", 2) != 0)
            abort();
        at += k + 2;
        if (k == 0)
            return (long long)at;
    }
}

/* An error answer is the Anthropic error envelope. */
static void fz_check_body(const fz_resp_t *r, const char *p, size_t n)
{
    json_t *j = NULL;

    if (r->status >= 400 && r->status != 499 && !r->json)
        abort();
    if (n == 0 || !r->json || r->chunked)
        return;
    j = json_loadb(p, n, 0, NULL);
    if (j == NULL)
        abort();
    if (r->status >= 400) {
        json_t *err = json_object_get(j, "error");
        if (!cp_json_streq(json_object_get(j, "type"), "error") ||
            !json_is_string(json_object_get(err, "type")) || !json_is_string(json_object_get(err, "message")))
            abort();
    }
    json_decref(j);
}

/* Checks the bytes <p>/<n> the server wrote; <cut>: the connection ended with a reset. */
static void fz_check_responses(const char *p, size_t n, int cut)
{
    size_t at = 0;

    while (at < n) {
        const char *s = p + at, *eoh = memmem(s, n - at, "\r\n\r\n", 4);
        size_t left, hl;
        long long bl;
        fz_resp_t r;

        if (eoh == NULL) {
            if (cut || (n - at < 9 && memcmp(s, "HTTP/1.1 ", n - at) == 0))
                return;
            abort();
        }
        hl = (size_t)(eoh - s) + 4;
        fz_parse_head(s, hl - 2, &r);
        left = n - at - hl;
        if (r.status < 200 || r.status == 204 || r.status == 304)
            bl = 0;
        else if (r.chunked)
            bl = fz_chunked(s + hl, left);
        else if (r.has_len && (left == 0 || (left >= 5 && memcmp(s + hl, "HTTP/", 5) == 0)))
            bl = 0; /* the answer to a HEAD request */
        else if (r.has_len)
            bl = r.len <= (long long)left ? r.len : -1;
        else
            bl = (long long)left; /* ends with the connection */
        if (bl < 0) {
            if (cut)
                return;
            abort();
        }
        fz_check_body(&r, s + hl, r.chunked ? 0 : (size_t)bl);
        at += hl + (size_t)bl;
    }
}

/* ---- one connection ----------------------------------------------------------------------------- */

typedef struct fz_conn {
    int fd;
    struct event *rd; /* reads what the server writes */
    cp_buf_t in;      /* what the server wrote */
    int eof, reset;   /* the server closed (reset: with an error) */
    int hung;
} fz_conn_t;

static void fz_read_cb(evutil_socket_t fd, short what, void *arg)
{
    fz_conn_t *c = arg;
    char buf[16384];
    ssize_t k;

    (void)what;
    while ((k = recv(fd, buf, sizeof(buf), 0)) > 0)
        cp_buf_add(&c->in, buf, (size_t)k);
    if (k == 0)
        c->eof = 1;
    else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        c->eof = c->reset = 1;
    if (c->eof)
        event_del(c->rd); /* else the loop would run it forever */
}

static void fz_guard_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ((fz_conn_t *)arg)->hung = 1;
}

/* Waits until the non-blocking connect of <fd> is done (poll retried on EINTR): 0, or -1 with errno. */
static int fz_wait_connected(int fd)
{
    struct pollfd p = {fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof(err);

    while (poll(&p, 1, 5000) < 0)
        if (errno != EINTR)
            return -1;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -1;
    errno = err;
    return err == 0 ? 0 : -1;
}

static int fz_connect(void)
{
    struct sockaddr_in a;
    struct linger lg = {1, 0}; /* close with a reset: no TIME_WAIT left behind */
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)fz.port);
    /* non-blocking first: libFuzzer's timeout alarm (SIGALRM) would interrupt a blocking connect */
    if (fd < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 ||
        (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS && errno != EINTR) ||
        fz_wait_connected(fd) != 0 || setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        perror("fuzz_http_head: connect");
        abort();
    }
    return fd;
}

/* Writes <d>/<n> while running the loop until nothing moves (a pass of EVLOOP_NONBLOCK runs until no
 * event is active; data on loopback arrives within the send), then half-closes and runs the loop until
 * the server closes the connection or the guard fires. */
static void fz_exchange(fz_conn_t *c, const uint8_t *d, size_t n)
{
    struct event *guard = evtimer_new(fz.base, fz_guard_cb, c);
    struct timeval tv = {FZ_GUARD_S, 0};
    size_t sent = 0, seen = 0;
    int idle = 0, passes = 0;

    c->rd = event_new(fz.base, c->fd, EV_READ | EV_PERSIST, fz_read_cb, c);
    event_add(c->rd, NULL);
    while (!c->eof && idle < 2 && passes++ < 10000) { /* a server that stops reading: half-close anyway */
        ssize_t k = sent < n ? send(c->fd, d + sent, n - sent, MSG_NOSIGNAL) : 0;

        if (k > 0)
            sent += (size_t)k;
        else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            sent = n; /* the server is gone: read what it said */
        event_base_loop(fz.base, EVLOOP_NONBLOCK);
        idle = k > 0 || c->in.len != seen || fz.pending > 0 || sent < n ? 0 : idle + 1;
        seen = c->in.len;
    }
    shutdown(c->fd, SHUT_WR);
    evtimer_add(guard, &tv);
    while (!c->eof && !c->hung)
        event_base_loop(fz.base, EVLOOP_ONCE);
    event_free(guard);
    event_free(c->rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    fz_conn_t c;

    if (fz.base == NULL)
        fz_init();
    memset(&c, 0, sizeof(c));
    cp_buf_init(&c.in, 0);
    c.fd = fz_connect();
    fz_exchange(&c, d, n);
    close(c.fd);
    for (int i = 0; i < 2; i++) /* the server notices the close and frees the connection */
        event_base_loop(fz.base, EVLOOP_NONBLOCK);
    if (c.hung) {
        fprintf(stderr, "fuzz_http_head: the connection was still open %d s after the client half-closed\n",
                FZ_GUARD_S);
        abort();
    }
    if (getenv("FUZZ_HTTP_DUMP") != NULL) /* to read what a reproducer got */
        fprintf(stderr, "--- %zu bytes%s:\n%.*s\n---\n", c.in.len, c.reset ? ", then a reset" : "",
                (int)c.in.len, c.in.len ? c.in.p : "");
    fz_check_responses(c.in.p, c.in.len, c.reset);
    if (fz.pending != 0 || cp_front_active(fz.front) != 0 || cp_front_connections(fz.front) != 0)
        abort();
    cp_buf_free(&c.in);
    return 0;
}
