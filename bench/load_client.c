/* bench/load_client.c: N concurrent streaming Anthropic requests against ccproxy (libevent, one thread).
 *
 * Opens N connections (at --rate new connections a second), sends the same POST on each, reads the
 * HTTP/1.1 response (Content-Length, chunked or close-delimited) and parses the SSE in it. A stream
 * counts as complete when the status is 200, the first event is message_start, the last one is
 * message_stop, no "error" event came, and the body ended cleanly. With --pid it samples the proxy's
 * VmRSS/VmHWM (/proc/PID/status) and utime+stime (/proc/PID/stat) every --sample-ms.
 *
 * Times (microseconds, from the connect() of each stream):
 *   ttfb        first byte of the response (status line)
 *   first_event first SSE event (message_start)
 *   first_delta first content_block_delta: with incremental streaming about one upstream interval,
 *               with a buffered answer about the whole generation
 *   total       end of the response
 *
 * With --nonstream the answer must instead be a JSON Message (status 200, "type":"message"): long
 * non-stream requests (a mock started with --hold) exercise the same number of open exchanges.
 *
 * With --tls each connection speaks TLS (OpenSSL through libevent's bufferevent_openssl, a full
 * handshake per connection: no session is reused; the certificate is not verified and no SNI is sent,
 * this is a load tool). The times then include the handshake.
 *
 * Output: a readable report, then one line "RESULT key=value ..." for scripts.
 * Exit status: 0 when every stream completed, 1 otherwise, 2 on usage errors.
 *
 * Build: cc -O2 -o load_client load_client.c \
 *            $(pkg-config --cflags --libs libevent libevent_openssl openssl) -lm
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* connect: the TCP connection never opened; reset: it opened but closed or failed before any answer
 * byte; eof: the answer started but the body did not end cleanly. */
enum { F_NONE, F_CONNECT, F_RESET, F_STATUS, F_GRAMMAR, F_ERROR_EVENT, F_EOF, F_TIMEOUT, F_PROTO, F_NKINDS };
static const char *FAIL_NAMES[F_NKINDS] = {"none",        "connect", "reset",   "status",  "grammar",
                                           "error_event", "eof",     "timeout", "protocol"};

static struct {
    const char *host;
    int port;
    int n;
    double rate;
    double timeout_s;
    const char *body_file;
    const char *path;
    int pid;
    int sample_ms;
    int verbose;
    int nonstream;
    int tls;
} opt = {"127.0.0.1", 8082, 100, 2000.0, 60.0, NULL, "/v1/messages", 0, 100, 0, 0, 0};

typedef struct conn {
    int idx;
    struct bufferevent *bev;
    uint64_t t0, t_first, t_event, t_delta, t_end;
    int state; /* 0 status line, 1 headers, 2 body, 3 done */
    int status;
    int chunked, close_delim;
    long content_left; /* Content-Length body left, or -1 */
    long chunk_left;   /* chunked: bytes left in current chunk; -1 need size line; -2 need CRLF after */
    struct evbuffer *sse;
    char ev_name[40];   /* current event's name from its "event:" line */
    char data_type[40]; /* "type" of its data line, used when there is no event: line */
    int has_data;
    int nevents, ndeltas;
    char first_ev[40], last_ev[40];
    int saw_error;
    int result; /* 0 pending, 1 ok, 2 failed */
    int fail;
    int connected;
    int err;               /* errno of a socket error */
    unsigned long ssl_err; /* --tls: OpenSSL's error of a failed connection */
    long bytes;
} conn_t;

static struct event_base *base;
static struct sockaddr_in addr;
static SSL_CTX *ssl_ctx; /* --tls */
static char *request;
static size_t request_len;
static conn_t *conns;
static int started, finished, ok_count, open_now, open_max;
static int fail_count[F_NKINDS];
#define NERRNO 8
static struct {
    int err, count;
} errnos[NERRNO]; /* socket errors seen on failed connections, by errno */
static uint64_t t_begin;
static struct event *launch_ev, *deadline_ev, *sample_ev;

/* sampler */
static long rss_idle_kb = -1, rss_peak_kb, hwm_kb;
static unsigned long long cpu_start, cpu_end; /* clock ticks */
static uint64_t cpu_t_start, cpu_t_end;
static int nsamples;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int read_status(int pid, long *rss, long *hwm)
{
    char p[64], line[256];
    FILE *f;

    snprintf(p, sizeof(p), "/proc/%d/status", pid);
    if ((f = fopen(p, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss = atol(line + 6);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm = atol(line + 6);
    }
    fclose(f);
    return 0;
}

static int read_cpu(int pid, unsigned long long *ticks)
{
    char p[64], buf[1024];
    FILE *f;
    size_t n;
    char *q;
    unsigned long long ut, stt;

    snprintf(p, sizeof(p), "/proc/%d/stat", pid);
    if ((f = fopen(p, "r")) == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    q = strrchr(buf, ')'); /* comm may contain spaces */
    if (q == NULL)
        return -1;
    /* after ") ": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14)
     * stime(15) */
    if (sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) != 2)
        return -1;
    *ticks = ut + stt;
    return 0;
}

static void sample(void)
{
    long rss = 0, hwm = 0;

    if (opt.pid <= 0 || read_status(opt.pid, &rss, &hwm) != 0)
        return;
    nsamples++;
    if (rss > rss_peak_kb)
        rss_peak_kb = rss;
    if (hwm > hwm_kb)
        hwm_kb = hwm;
}

static void sample_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    sample();
}

static void maybe_finish(void);

static void conn_finish(conn_t *c, int fail)
{
    if (c->result != 0)
        return;
    c->t_end = now_us();
    if (fail == F_NONE) {
        c->result = 1;
        ok_count++;
    } else {
        c->result = 2;
        c->fail = fail;
        fail_count[fail]++;
        if (c->err != 0)
            for (int k = 0; k < NERRNO; k++)
                if (errnos[k].err == c->err || errnos[k].count == 0) {
                    errnos[k].err = c->err;
                    errnos[k].count++;
                    break;
                }
        if (opt.verbose) {
            char tls_why[256] = "";
            if (c->ssl_err != 0 && ERR_GET_LIB(c->ssl_err) == 0) {
                snprintf(tls_why, sizeof(tls_why), ", TLS: SSL_get_error %lu", c->ssl_err);
            } else if (c->ssl_err != 0) {
                strcpy(tls_why, ", TLS: ");
                ERR_error_string_n(c->ssl_err, tls_why + 7, sizeof(tls_why) - 7);
            }
            fprintf(stderr,
                    "stream %d failed after %.3f s: %s (status %d, events %d, first %s, last %s%s%s%s)\n",
                    c->idx, (double)(c->t_end - c->t0) / 1e6, FAIL_NAMES[fail], c->status, c->nevents,
                    c->first_ev, c->last_ev, c->err ? ", " : "", c->err ? strerror(c->err) : "", tls_why);
        }
    }
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
        c->bev = NULL;
        open_now--;
    }
    if (c->sse != NULL) {
        evbuffer_free(c->sse);
        c->sse = NULL;
    }
    finished++;
    maybe_finish();
}

/* One complete SSE event. */
static void sse_dispatch(conn_t *c)
{
    const char *name = c->ev_name[0] ? c->ev_name : c->data_type;

    if (!c->has_data && !c->ev_name[0])
        return;
    if (c->nevents == 0) {
        snprintf(c->first_ev, sizeof(c->first_ev), "%s", name);
        c->t_event = now_us();
    }
    c->nevents++;
    snprintf(c->last_ev, sizeof(c->last_ev), "%s", name);
    if (strcmp(name, "error") == 0)
        c->saw_error = 1;
    if (strcmp(name, "content_block_delta") == 0 && c->ndeltas++ == 0)
        c->t_delta = now_us();
    c->ev_name[0] = 0;
    c->data_type[0] = 0;
    c->has_data = 0;
}

/* Reads whole lines from the decoded body. */
static void sse_feed(conn_t *c)
{
    char *line;
    size_t n;
    char *data_type;

    while ((line = evbuffer_readln(c->sse, &n, EVBUFFER_EOL_LF)) != NULL) {
        if (n > 0 && line[n - 1] == '\r')
            line[--n] = 0;
        if (n == 0) {
            sse_dispatch(c);
        } else if (strncmp(line, "event:", 6) == 0) {
            const char *v = line + 6;
            while (*v == ' ')
                v++;
            snprintf(c->ev_name, sizeof(c->ev_name), "%s", v);
        } else if (strncmp(line, "data:", 5) == 0) {
            const char *t = strstr(line, "\"type\":");
            c->has_data = 1;
            data_type = c->data_type;
            data_type[0] = 0;
            if (t != NULL) {
                t += 7;
                while (*t == ' ')
                    t++;
                if (*t == '"') {
                    size_t k = 0;
                    for (t++; *t && *t != '"' && k + 1 < sizeof(c->data_type); t++)
                        data_type[k++] = *t;
                    data_type[k] = 0;
                }
            }
        }
        free(line);
    }
}

static void body_done(conn_t *c)
{
    if (opt.nonstream) { /* a JSON Message: 200 and "type":"message" */
        struct evbuffer_ptr p = evbuffer_search(c->sse, "\"type\":\"message\"", 16, NULL);
        conn_finish(c, c->status != 200 ? F_STATUS : p.pos < 0 ? F_GRAMMAR : F_NONE);
        return;
    }
    sse_feed(c);
    if (c->status != 200)
        conn_finish(c, F_STATUS);
    else if (c->saw_error)
        conn_finish(c, F_ERROR_EVENT);
    else if (c->nevents == 0 || strcmp(c->first_ev, "message_start") != 0 ||
             strcmp(c->last_ev, "message_stop") != 0)
        conn_finish(c, F_GRAMMAR);
    else
        conn_finish(c, F_NONE);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    conn_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t n;

    if (c->t_first == 0 && evbuffer_get_length(in) > 0)
        c->t_first = now_us();
    c->bytes += (long)evbuffer_get_length(in);
    while (c->result == 0) {
        if (c->state == 0 || c->state == 1) {
            if ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) == NULL)
                return;
            if (c->state == 0) {
                if (sscanf(line, "HTTP/1.%*d %d", &c->status) != 1) {
                    free(line);
                    conn_finish(c, F_PROTO);
                    return;
                }
                c->state = 1;
            } else if (n == 0) {
                c->state = 2;
                if (!c->chunked && c->content_left < 0)
                    c->close_delim = 1;
                if (!c->chunked && c->content_left == 0) {
                    free(line);
                    body_done(c);
                    return;
                }
            } else if (strncasecmp(line, "transfer-encoding:", 18) == 0 && strcasestr(line, "chunked")) {
                c->chunked = 1;
            } else if (strncasecmp(line, "content-length:", 15) == 0) {
                c->content_left = atol(line + 15);
            }
            free(line);
            continue;
        }
        if (!c->chunked) {
            size_t avail = evbuffer_get_length(in);
            if (avail == 0)
                return;
            if (c->content_left >= 0 && (long)avail > c->content_left)
                avail = (size_t)c->content_left;
            evbuffer_remove_buffer(in, c->sse, avail);
            if (c->content_left >= 0) {
                c->content_left -= (long)avail;
                if (c->content_left == 0) {
                    body_done(c);
                    return;
                }
            }
            if (!opt.nonstream)
                sse_feed(c);
            continue;
        }
        if (c->chunk_left == -1) {
            if ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) == NULL)
                return;
            c->chunk_left = strtol(line, NULL, 16);
            free(line);
            if (c->chunk_left == 0) {
                body_done(c); /* trailers, if any, are ignored */
                return;
            }
        } else if (c->chunk_left == -2) {
            if ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) == NULL)
                return;
            free(line);
            c->chunk_left = -1;
        } else {
            size_t avail = evbuffer_get_length(in);
            if (avail == 0)
                return;
            if ((long)avail > c->chunk_left)
                avail = (size_t)c->chunk_left;
            evbuffer_remove_buffer(in, c->sse, avail);
            c->chunk_left -= (long)avail;
            if (c->chunk_left == 0)
                c->chunk_left = -2;
            if (!opt.nonstream)
                sse_feed(c);
        }
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    conn_t *c = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        c->connected = 1;
        return;
    }
    if (c->result != 0)
        return;
    if (what & BEV_EVENT_ERROR) {
        c->err = EVUTIL_SOCKET_ERROR();
        if (opt.tls) {
            unsigned long e;
            /* libevent queues SSL_get_error's code, then OpenSSL's own errors: keep the latter */
            while ((e = bufferevent_get_openssl_error(bev)) != 0)
                if (c->ssl_err == 0 || ERR_GET_LIB(e) != 0)
                    c->ssl_err = e;
        }
    }
    if (c->state == 2 && c->close_delim && (what & BEV_EVENT_EOF)) {
        on_read(c->bev, c); /* drain */
        if (c->result == 0)
            body_done(c);
        return;
    }
    if (!c->connected)
        conn_finish(c, F_CONNECT);
    else if (c->bytes == 0)
        conn_finish(c, F_RESET);
    else
        conn_finish(c, F_EOF);
}

static void launch_one(void)
{
    conn_t *c = &conns[started++];

    c->idx = started - 1;
    c->content_left = -1;
    c->chunk_left = -1;
    c->sse = evbuffer_new();
    if (opt.tls) {
        /* a fresh SSL per connection, no session set: every connection does a full handshake; the
         * request written below waits in the output buffer until the handshake is done */
        SSL *ssl = SSL_new(ssl_ctx);
        c->bev = ssl == NULL ? NULL
                             : bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                              BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL) {
            fprintf(stderr, "load_client: cannot set up a TLS connection\n");
            exit(1);
        }
        /* a server that closes without close_notify ends a close-delimited body, as without TLS */
        bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    } else {
        c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    bufferevent_write(c->bev, request, request_len);
    c->t0 = now_us();
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        open_now++;
        conn_finish(c, F_CONNECT);
        return;
    }
    {
        int one = 1;
        setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (++open_now > open_max)
        open_max = open_now;
}

static void launch_cb(evutil_socket_t fd, short what, void *arg)
{
    double elapsed = (double)(now_us() - t_begin) / 1e6;
    int due = opt.rate > 0 ? (int)(elapsed * opt.rate) + 1 : opt.n;

    (void)fd;
    (void)what;
    (void)arg;
    if (due > opt.n)
        due = opt.n;
    while (started < due)
        launch_one();
    if (started < opt.n) {
        struct timeval tv = {0, 2000};
        event_add(launch_ev, &tv);
    }
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    fprintf(stderr, "load_client: deadline of %.0f s reached, %d streams unfinished\n", opt.timeout_s,
            opt.n - finished);
    for (int i = 0; i < started; i++)
        if (conns[i].result == 0)
            conn_finish(&conns[i], F_TIMEOUT);
    for (int i = started; i < opt.n; i++) {
        conns[i].result = 2;
        conns[i].fail = F_TIMEOUT;
        fail_count[F_TIMEOUT]++;
        finished++;
    }
    event_base_loopbreak(base);
}

static void maybe_finish(void)
{
    if (finished >= opt.n)
        event_base_loopbreak(base);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Percentiles of one timing over the completed streams (microseconds). */
static void pct(size_t off, double *p50, double *p99, double *pmax)
{
    uint64_t *v = malloc(sizeof(uint64_t) * (size_t)(opt.n + 1));
    int k = 0;

    for (int i = 0; i < opt.n; i++) {
        const conn_t *c = &conns[i];
        uint64_t t = *(const uint64_t *)((const char *)c + off);
        if (c->result == 1 && t != 0)
            v[k++] = t - c->t0;
    }
    if (k == 0) {
        *p50 = *p99 = *pmax = 0;
        free(v);
        return;
    }
    qsort(v, (size_t)k, sizeof(uint64_t), cmp_u64);
    *p50 = (double)v[(size_t)((k - 1) * 0.50 + 0.5)];
    *p99 = (double)v[(size_t)((k - 1) * 0.99 + 0.5)];
    *pmax = (double)v[k - 1];
    free(v);
}

static char *read_file(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    char *b;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: load_client --body FILE [--host H] [--port N] [--n N] [--rate CONN_PER_S]\n"
            "                   [--timeout S] [--path P] [--pid PROXY_PID] [--sample-ms MS]\n"
            "                   [--nonstream] [--tls] [-v]\n"
            "  --nonstream  expect a JSON Message (200, \"type\":\"message\") instead of an event stream\n"
            "  --tls        connect with TLS (full handshake per connection, certificate not verified)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    char *body;
    size_t blen;
    long ticks = sysconf(_SC_CLK_TCK);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-v") == 0) {
            opt.verbose = 1;
            continue;
        }
        if (strcmp(a, "--nonstream") == 0) {
            opt.nonstream = 1;
            continue;
        }
        if (strcmp(a, "--tls") == 0) {
            opt.tls = 1;
            continue;
        }
        if (v == NULL)
            usage();
        if (strcmp(a, "--host") == 0)
            opt.host = v;
        else if (strcmp(a, "--port") == 0)
            opt.port = atoi(v);
        else if (strcmp(a, "--n") == 0)
            opt.n = atoi(v);
        else if (strcmp(a, "--rate") == 0)
            opt.rate = atof(v);
        else if (strcmp(a, "--timeout") == 0)
            opt.timeout_s = atof(v);
        else if (strcmp(a, "--body") == 0)
            opt.body_file = v;
        else if (strcmp(a, "--path") == 0)
            opt.path = v;
        else if (strcmp(a, "--pid") == 0)
            opt.pid = atoi(v);
        else if (strcmp(a, "--sample-ms") == 0)
            opt.sample_ms = atoi(v);
        else
            usage();
        i++;
    }
    if (opt.body_file == NULL || opt.n <= 0)
        usage();
    if ((body = read_file(opt.body_file, &blen)) == NULL) {
        fprintf(stderr, "load_client: cannot read %s\n", opt.body_file);
        return 2;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)opt.n + 16 > rl.rlim_cur) {
        fprintf(stderr, "load_client: --n %d needs more file descriptors than the limit %lu\n", opt.n,
                (unsigned long)rl.rlim_cur);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (opt.tls) {
        if ((ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
            fprintf(stderr, "load_client: cannot create a TLS context\n");
            return 2;
        }
        SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL); /* a load tool: any certificate */
        SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_mode(ssl_ctx, SSL_MODE_RELEASE_BUFFERS); /* the client's memory, for 10,000 connections */
    }

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)opt.port);
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) {
        fprintf(stderr, "load_client: bad --host %s (IPv4 address)\n", opt.host);
        return 2;
    }
    request = malloc(blen + 512);
    request_len = (size_t)snprintf(request, 512,
                                   "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                                   "Accept: text/event-stream\r\nanthropic-version: 2023-06-01\r\n"
                                   "x-api-key: bench\r\nContent-Length: %zu\r\n\r\n",
                                   opt.path, opt.host, opt.port, blen);
    memcpy(request + request_len, body, blen);
    request_len += blen;
    free(body);

    conns = calloc((size_t)opt.n, sizeof(conn_t));
    base = event_base_new();
    launch_ev = evtimer_new(base, launch_cb, NULL);
    deadline_ev = evtimer_new(base, deadline_cb, NULL);
    sample_ev = event_new(base, -1, EV_PERSIST, sample_cb, NULL);

    if (opt.pid > 0) {
        long rss = 0, hwm = 0;
        if (read_status(opt.pid, &rss, &hwm) != 0 || read_cpu(opt.pid, &cpu_start) != 0) {
            fprintf(stderr, "load_client: cannot read /proc/%d\n", opt.pid);
            return 2;
        }
        rss_idle_kb = rss;
        cpu_t_start = now_us();
        struct timeval tv = {opt.sample_ms / 1000, (opt.sample_ms % 1000) * 1000};
        event_add(sample_ev, &tv);
    }
    {
        struct timeval tv = {(long)opt.timeout_s, (long)((opt.timeout_s - (long)opt.timeout_s) * 1e6)};
        event_add(deadline_ev, &tv);
    }
    t_begin = now_us();
    launch_cb(-1, 0, NULL);
    event_base_dispatch(base);
    uint64_t t_done = now_us();
    if (opt.pid > 0) {
        sample();
        read_cpu(opt.pid, &cpu_end);
        cpu_t_end = now_us();
    }

    double ttfb50, ttfb99, ttfbmax, ev50, ev99, evmax, d50, d99, dmax, tot50, tot99, totmax;
    pct(offsetof(conn_t, t_first), &ttfb50, &ttfb99, &ttfbmax);
    pct(offsetof(conn_t, t_event), &ev50, &ev99, &evmax);
    pct(offsetof(conn_t, t_delta), &d50, &d99, &dmax);
    pct(offsetof(conn_t, t_end), &tot50, &tot99, &totmax);
    int failed = opt.n - ok_count;
    double wall = (double)(t_done - t_begin) / 1e6;

    printf("streams         %d requested%s, %d complete (%s), %d failed\n", opt.n, opt.tls ? " over TLS" : "",
           ok_count, opt.nonstream ? "JSON Message" : "message_start ... message_stop", failed);
    if (failed > 0) {
        printf("failures       ");
        for (int k = 1; k < F_NKINDS; k++)
            if (fail_count[k] > 0)
                printf(" %s=%d", FAIL_NAMES[k], fail_count[k]);
        for (int k = 0; k < NERRNO && errnos[k].count > 0; k++)
            printf("%s%s: %d", k == 0 ? "; socket errors: " : ", ", strerror(errnos[k].err), errnos[k].count);
        printf("\n");
    }
    printf("concurrency     %d connections open at most\n", open_max);
    printf("ttfb            p50 %.1f ms  p99 %.1f ms  max %.1f ms   (first response byte, from connect)\n",
           ttfb50 / 1e3, ttfb99 / 1e3, ttfbmax / 1e3);
    printf("first event     p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", ev50 / 1e3, ev99 / 1e3, evmax / 1e3);
    printf("first delta     p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", d50 / 1e3, d99 / 1e3, dmax / 1e3);
    printf("stream total    p50 %.2f s   p99 %.2f s   max %.2f s\n", tot50 / 1e6, tot99 / 1e6, totmax / 1e6);
    printf("wall            %.2f s\n", wall);
    double cpu_pct = 0, per_stream_kb = 0;
    if (opt.pid > 0) {
        double secs = (double)(cpu_t_end - cpu_t_start) / 1e6;
        cpu_pct = secs > 0 ? 100.0 * (double)(cpu_end - cpu_start) / (double)ticks / secs : 0;
        per_stream_kb = (double)(rss_peak_kb - rss_idle_kb) / opt.n;
        printf("proxy memory    idle %ld KiB, peak VmRSS %ld KiB, VmHWM %ld KiB, per stream %.1f KiB "
               "((peak - idle) / N), %d samples\n",
               rss_idle_kb, rss_peak_kb, hwm_kb, per_stream_kb, nsamples);
        printf("proxy cpu       %.1f %% of one core over %.2f s (%.2f s of CPU)\n", cpu_pct, secs,
               (double)(cpu_end - cpu_start) / (double)ticks);
    }
    printf("RESULT n=%d tls=%d complete=%d failed=%d", opt.n, opt.tls, ok_count, failed);
    for (int k = 1; k < F_NKINDS; k++)
        printf(" fail_%s=%d", FAIL_NAMES[k], fail_count[k]);
    printf(" open_max=%d ttfb_p50_ms=%.2f ttfb_p99_ms=%.2f event_p50_ms=%.2f event_p99_ms=%.2f "
           "delta_p50_ms=%.2f delta_p99_ms=%.2f total_p50_s=%.3f total_p99_s=%.3f wall_s=%.2f",
           open_max, ttfb50 / 1e3, ttfb99 / 1e3, ev50 / 1e3, ev99 / 1e3, d50 / 1e3, d99 / 1e3, tot50 / 1e6,
           tot99 / 1e6, wall);
    if (opt.pid > 0)
        printf(" rss_idle_kb=%ld rss_peak_kb=%ld hwm_kb=%ld per_stream_kb=%.1f cpu_pct=%.1f", rss_idle_kb,
               rss_peak_kb, hwm_kb, per_stream_kb, cpu_pct);
    printf("\n");
    for (int i = 0; i < opt.n; i++) {
        if (conns[i].bev != NULL)
            bufferevent_free(conns[i].bev);
        if (conns[i].sse != NULL)
            evbuffer_free(conns[i].sse);
    }
    free(conns);
    free(request);
    event_free(launch_ev);
    event_free(deadline_ev);
    event_free(sample_ev);
    event_base_free(base);
    SSL_CTX_free(ssl_ctx);
    return failed == 0 ? 0 : 1;
}
