/* lib/net/cp_accept.c: see cp_accept.h. */
#include "cp_accept.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/util.h>

#include "cp_common.h"
#include "cp_log.h"

#define ACC_PAUSE_MS     100     /* accepting is paused this long after a failure */
#define ACC_LOG_EVERY_US 5000000 /* one warning per 5 s at most */
#define ACC_LIBEVENT_MAX 10      /* libevent log lines per second at most */

struct cp_accept {
    struct evconnlistener *lev; /* borrowed: the current listener */
    struct event *resume;       /* re-enables accepting */
    uint64_t last_log_us;
    unsigned long refused; /* failures since the last warning */
    int spare;             /* a descriptor kept to give up at the limit (-1 when none) */
};

/* libevent hands the error callback the listener's own argument (evhttp's), not ours: the guard of
 * the one listener is found here. */
static cp_accept_t *acc_current;

static void acc_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    cp_accept_t *a = arg;

    (void)fd;
    (void)what;
    if (a->lev != NULL)
        evconnlistener_enable(a->lev);
}

static void acc_error_cb(struct evconnlistener *lev, void *ud)
{
    cp_accept_t *a = acc_current;
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval tv = {0, ACC_PAUSE_MS * 1000};
    uint64_t now = cp_mono_us();

    (void)ud;
    if (a == NULL || a->lev != lev || (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM))
        return;           /* a per-connection failure (the peer reset): the next accept is fine */
    if (a->spare != -1) { /* free one descriptor to close one waiting client cleanly */
        int fd;
        close(a->spare);
        fd = accept(evconnlistener_get_fd(lev), NULL, NULL);
        if (fd != -1)
            close(fd);
        a->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    evconnlistener_disable(lev);
    evtimer_add(a->resume, &tv);
    a->refused++;
    if (now - a->last_log_us >= ACC_LOG_EVERY_US || a->last_log_us == 0) {
        cp_log_j(CP_LOG_WARN, "open-file limit reached: accepting paused",
                 json_pack("{s:s,s:I,s:i}", "error",
                           err == ENFILE   ? "ENFILE"
                           : err == EMFILE ? "EMFILE"
                                           : "ENOBUFS",
                           "refused", (json_int_t)a->refused, "pause_ms", ACC_PAUSE_MS));
        a->last_log_us = now;
        a->refused = 0;
    }
}

cp_accept_t *cp_accept_new(struct event_base *base)
{
    cp_accept_t *a = cp_xcalloc(1, sizeof(*a));

    a->resume = evtimer_new(base, acc_resume_cb, a);
    if (a->resume == NULL) {
        cp_log(CP_LOG_ERROR, "out of memory creating a timer");
        abort();
    }
    a->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return a;
}

void cp_accept_watch(cp_accept_t *a, struct evconnlistener *lev)
{
    a->lev = lev;
    acc_current = a;
    if (lev != NULL)
        evconnlistener_set_error_cb(lev, acc_error_cb);
}

void cp_accept_free(cp_accept_t *a)
{
    if (a == NULL)
        return;
    if (acc_current == a)
        acc_current = NULL;
    event_free(a->resume);
    if (a->spare != -1)
        close(a->spare);
    free(a);
}

/* A listening socket on <host>:<port> with the largest accept queue the kernel allows: evhttp's own
 * binding listens with a backlog of 128, which drops connections in bursts of thousands of streams.
 * Returns the socket, or -1 with errno set. Runs at start and reload only (getaddrinfo blocks). */
evutil_socket_t cp_accept_listen(const char *host, int port)
{
    struct evutil_addrinfo hints, *ai = NULL;
    char service[16];
    evutil_socket_t fd = -1;
    int one = 1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_PASSIVE;
    snprintf(service, sizeof(service), "%d", port);
    if (evutil_getaddrinfo(host, service, &hints, &ai) != 0 || ai == NULL) {
        errno = EADDRNOTAVAIL;
        return -1;
    }
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        bind(fd, ai->ai_addr, (socklen_t)ai->ai_addrlen) == -1 || listen(fd, 65535) == -1) {
        int saved = errno;
        if (fd != -1)
            evutil_closesocket(fd);
        evutil_freeaddrinfo(ai);
        errno = saved;
        return -1;
    }
    evutil_freeaddrinfo(ai);
    return fd;
}

static void acc_libevent_log(int severity, const char *msg)
{
    static uint64_t window_us;
    static unsigned lines;
    uint64_t now = cp_mono_us();

    if (now - window_us >= 1000000) {
        window_us = now;
        lines = 0;
    }
    if (lines++ >= ACC_LIBEVENT_MAX)
        return;
    cp_log(severity >= EVENT_LOG_WARN ? CP_LOG_WARN : CP_LOG_DEBUG, "libevent: %s", msg);
}

void cp_accept_route_libevent_log(void)
{
    event_set_log_callback(acc_libevent_log);
}
