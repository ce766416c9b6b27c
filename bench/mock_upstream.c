/* bench/mock_upstream.c: a fast OpenAI-style upstream for benchmarks (libevent evhttp, one thread).
 *
 *   POST /v1/chat/completions   (any path ending in /chat/completions)
 *     "stream": true  -> text/event-stream: a role chunk at once, then <chunks> content chunks, one
 *                        every <interval-ms> (all at once when 0), a finish_reason "stop" chunk, a
 *                        usage chunk with "choices": [] and "data: [DONE]".
 *     otherwise       -> a chat.completion JSON at once (after chunks * interval-ms with --hold).
 *   GET /health         -> 200 "ok"
 *
 * Per request, the query string (?chunks=N&interval_ms=M) or the headers x-mock-chunks and
 * x-mock-interval-ms override the command-line values. --dump FILE writes the body of each POST to
 * FILE, replacing the previous one (to capture what a proxy sends; not for timed runs). SIGINT/SIGTERM print
 * counters and exit.
 *
 * Build: cc -O2 -o mock_upstream mock_upstream.c $(pkg-config --cflags --libs libevent)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

static struct {
    const char *host;
    int port;
    int chunks;
    int interval_ms;
    int hold;
    int backlog;
    const char *dump;
    int quiet;
} opt = {"127.0.0.1", 9999, 20, 0, 0, 4096, NULL, 0};

static struct {
    unsigned long requests, nonstream, streams, completed, aborted, bad;
    unsigned long live, live_max;
} st;

static struct event_base *base;
static unsigned long next_id;

typedef struct stream {
    struct evhttp_request *req;
    struct event *timer;
    unsigned long id;
    int chunks, sent, interval_ms;
    int is_stream;
    int ended;
} stream_t;

static const char *WORDS[] = {"Hello",      " from", " the",   " mock",  " upstream", ",",
                              " streaming", " one",  " chunk", " at",    " a",        " time",
                              ".",          " The",  " quick", " brown", " fox",      " jumps",
                              " over",      " the",  " lazy",  " dog",   "."};
#define NWORDS (sizeof(WORDS) / sizeof(WORDS[0]))

static void stream_free(stream_t *s)
{
    if (s->timer != NULL)
        event_free(s->timer);
    st.live--;
    free(s);
}

/* The client went away (or evhttp is shutting down). */
static void on_close(struct evhttp_connection *evc, void *arg)
{
    stream_t *s = arg;

    (void)evc;
    if (s->req != NULL) {
        evhttp_request_set_on_complete_cb(s->req, NULL, NULL);
        if (evhttp_request_get_connection(s->req) == NULL)
            evhttp_send_reply_end(s->req); /* detached mid-stream: ours to free */
    }
    s->req = NULL;
    if (!s->ended)
        st.aborted++;
    stream_free(s);
}

static void on_complete(struct evhttp_request *req, void *arg)
{
    stream_t *s = arg;
    struct evhttp_connection *evc = evhttp_request_get_connection(req);

    if (evc != NULL)
        evhttp_connection_set_closecb(evc, NULL, NULL);
    s->req = NULL;
    st.completed++;
    stream_free(s);
}

static void add_chunk(struct evbuffer *b, unsigned long id, const char *delta, const char *finish)
{
    evbuffer_add_printf(b,
                        "data: {\"id\":\"chatcmpl-mock-%lu\",\"object\":\"chat.completion.chunk\","
                        "\"created\":1700000000,\"model\":\"mock-model\",\"choices\":[{\"index\":0,"
                        "\"delta\":%s,\"finish_reason\":%s}]}\n\n",
                        id, delta, finish);
}

static void add_content_chunk(struct evbuffer *b, unsigned long id, int i)
{
    char d[96];

    snprintf(d, sizeof(d), "{\"content\":\"%s\"}", WORDS[i % NWORDS]);
    add_chunk(b, id, d, "null");
}

static void add_tail(struct evbuffer *b, unsigned long id, int chunks)
{
    add_chunk(b, id, "{}", "\"stop\"");
    evbuffer_add_printf(b,
                        "data: {\"id\":\"chatcmpl-mock-%lu\",\"object\":\"chat.completion.chunk\","
                        "\"created\":1700000000,\"model\":\"mock-model\",\"choices\":[],"
                        "\"usage\":{\"prompt_tokens\":25,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n"
                        "data: [DONE]\n\n",
                        id, chunks, 25 + chunks);
}

static void send_nonstream(stream_t *s)
{
    struct evbuffer *b = evbuffer_new();
    struct evhttp_request *req = s->req;

    evbuffer_add_printf(
        b,
        "{\"id\":\"chatcmpl-mock-%lu\",\"object\":\"chat.completion\",\"created\":1700000000,"
        "\"model\":\"mock-model\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":\"",
        s->id);
    for (int i = 0; i < s->chunks; i++)
        evbuffer_add(b, WORDS[i % NWORDS], strlen(WORDS[i % NWORDS]));
    evbuffer_add_printf(b,
                        "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":25,"
                        "\"completion_tokens\":%d,\"total_tokens\":%d}}",
                        s->chunks, 25 + s->chunks);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    s->ended = 1;
    evhttp_send_reply(req, 200, "OK", b); /* on_complete frees s, possibly before this returns */
    evbuffer_free(b);
}

static void stream_tick(evutil_socket_t fd, short what, void *arg)
{
    stream_t *s = arg;
    struct evbuffer *b;

    (void)fd;
    (void)what;
    if (s->req == NULL)
        return;
    if (!s->is_stream) {
        send_nonstream(s);
        return;
    }
    b = evbuffer_new();
    if (s->interval_ms <= 0) {
        for (; s->sent < s->chunks; s->sent++)
            add_content_chunk(b, s->id, s->sent);
    } else if (s->sent < s->chunks) {
        add_content_chunk(b, s->id, s->sent++);
    }
    if (s->sent >= s->chunks)
        add_tail(b, s->id, s->chunks);
    evhttp_send_reply_chunk(s->req, b);
    evbuffer_free(b);
    if (s->sent >= s->chunks) {
        s->ended = 1;
        evhttp_send_reply_end(s->req); /* on_complete frees s, possibly before this returns */
        return;
    }
    struct timeval tv = {s->interval_ms / 1000, (s->interval_ms % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

/* Is there a "stream": true member (not inside a string)? Good enough for bodies a proxy serialises. */
static int body_wants_stream(const char *p, size_t n)
{
    const char *end = p + n, *q = p;

    while ((q = memmem(q, (size_t)(end - q), "\"stream\"", 8)) != NULL) {
        const char *r = q + 8;

        if (q > p && q[-1] == '\\') {
            q = r;
            continue;
        }
        while (r < end && (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r'))
            r++;
        if (r < end && *r == ':') {
            r++;
            while (r < end && (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r'))
                r++;
            return end - r >= 4 && memcmp(r, "true", 4) == 0;
        }
        q = r;
    }
    return 0;
}

static int int_param(struct evhttp_request *req, struct evkeyvalq *q, const char *qname, const char *hname,
                     int dflt)
{
    const char *v = q != NULL ? evhttp_find_header(q, qname) : NULL;

    if (v == NULL)
        v = evhttp_find_header(evhttp_request_get_input_headers(req), hname);
    return v != NULL ? atoi(v) : dflt;
}

static void dump_body(const char *p, size_t n)
{
    FILE *f = fopen(opt.dump, "wb");

    if (f == NULL || fwrite(p, 1, n, f) != n)
        fprintf(stderr, "mock: cannot write %s: %s\n", opt.dump, strerror(errno));
    if (f != NULL)
        fclose(f);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    const char *uri = evhttp_request_get_uri(req);
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = evhttp_uri_get_path(u);
    const char *query = evhttp_uri_get_query(u);
    struct evkeyvalq q;
    int haveq = 0;
    size_t plen;

    (void)arg;
    (void)uri;
    st.requests++;
    if (path == NULL)
        path = "/";
    plen = strlen(path);
    if (evhttp_request_get_command(req) == EVHTTP_REQ_GET && strcmp(path, "/health") == 0) {
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, "ok\n", 3);
        evhttp_send_reply(req, 200, "OK", b);
        evbuffer_free(b);
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST || plen < 17 ||
        strcmp(path + plen - 17, "/chat/completions") != 0) {
        st.bad++;
        evhttp_send_error(req, 404, "not found");
        return;
    }

    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    const char *body = (const char *)evbuffer_pullup(in, -1);
    stream_t *s = calloc(1, sizeof(*s));

    if (body == NULL)
        body = "";
    if (opt.dump != NULL)
        dump_body(body, n);
    if (query != NULL && evhttp_parse_query_str(query, &q) == 0)
        haveq = 1;
    s->req = req;
    s->id = ++next_id;
    s->is_stream = body_wants_stream(body, n);
    s->chunks = int_param(req, haveq ? &q : NULL, "chunks", "x-mock-chunks", opt.chunks);
    s->interval_ms = int_param(req, haveq ? &q : NULL, "interval_ms", "x-mock-interval-ms", opt.interval_ms);
    if (haveq)
        evhttp_clear_headers(&q);
    if (s->chunks < 0)
        s->chunks = 0;
    s->timer = evtimer_new(base, stream_tick, s);
    if (++st.live > st.live_max)
        st.live_max = st.live;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_close, s);
    evhttp_request_set_on_complete_cb(req, on_complete, s);

    if (!s->is_stream) {
        st.nonstream++;
        if (opt.hold && s->interval_ms > 0 && s->chunks > 0) {
            long ms = (long)s->interval_ms * s->chunks;
            struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
            evtimer_add(s->timer, &tv);
        } else {
            send_nonstream(s);
        }
        return;
    }
    st.streams++;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/event-stream");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-cache");
    evhttp_send_reply_start(req, 200, "OK");
    {
        struct evbuffer *b = evbuffer_new();
        add_chunk(b, s->id, "{\"role\":\"assistant\",\"content\":\"\"}", "null");
        evhttp_send_reply_chunk(req, b);
        evbuffer_free(b);
    }
    if (s->interval_ms <= 0) {
        stream_tick(-1, 0, s);
    } else {
        struct timeval tv = {s->interval_ms / 1000, (s->interval_ms % 1000) * 1000};
        evtimer_add(s->timer, &tv);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    event_base_loopbreak(base);
}

static void usage(void)
{
    fprintf(stderr, "usage: mock_upstream [--host H] [--port N] [--chunks N] [--interval-ms MS] [--hold]\n"
                    "                     [--backlog N] [--dump FILE] [--quiet]\n"
                    "  --hold  answer non-stream requests after chunks * interval-ms (a long generation)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    struct evhttp *http;
    struct sockaddr_in sin;
    int fd, one = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--hold") == 0) {
            opt.hold = 1;
            continue;
        }
        if (strcmp(a, "--quiet") == 0) {
            opt.quiet = 1;
            continue;
        }
        if (v == NULL)
            usage();
        if (strcmp(a, "--host") == 0)
            opt.host = v;
        else if (strcmp(a, "--port") == 0)
            opt.port = atoi(v);
        else if (strcmp(a, "--chunks") == 0)
            opt.chunks = atoi(v);
        else if (strcmp(a, "--interval-ms") == 0)
            opt.interval_ms = atoi(v);
        else if (strcmp(a, "--backlog") == 0)
            opt.backlog = atoi(v);
        else if (strcmp(a, "--dump") == 0)
            opt.dump = v;
        else
            usage();
        i++;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    http = evhttp_new(base);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(http, on_request, NULL);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)opt.port);
    if (inet_pton(AF_INET, opt.host, &sin.sin_addr) != 1) {
        fprintf(stderr, "mock: bad --host %s (IPv4 address)\n", opt.host);
        return 2;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, opt.backlog) != 0) {
        fprintf(stderr, "mock: cannot listen on %s:%d: %s\n", opt.host, opt.port, strerror(errno));
        return 1;
    }
    evutil_make_socket_nonblocking(fd);
    if (evhttp_accept_socket(http, fd) != 0) {
        fprintf(stderr, "mock: evhttp_accept_socket failed\n");
        return 1;
    }
    struct event *si = evsignal_new(base, SIGINT, on_signal, NULL);
    struct event *stt = evsignal_new(base, SIGTERM, on_signal, NULL);
    evsignal_add(si, NULL);
    evsignal_add(stt, NULL);
    if (!opt.quiet)
        fprintf(stderr, "mock: listening on %s:%d chunks=%d interval_ms=%d hold=%d nofile=%lu\n", opt.host,
                opt.port, opt.chunks, opt.interval_ms, opt.hold, (unsigned long)rl.rlim_cur);
    event_base_dispatch(base);
    fprintf(stderr,
            "mock: requests=%lu nonstream=%lu streams=%lu completed=%lu aborted=%lu bad=%lu live_max=%lu\n",
            st.requests, st.nonstream, st.streams, st.completed, st.aborted, st.bad, st.live_max);
    evhttp_free(http);
    event_free(si);
    event_free(stt);
    event_base_free(base);
    return 0;
}
