/* lib/net/cp_notify.c: see cp_notify.h.
 *
 * The protocol is systemd's sd_notify(3): a datagram of "KEY=value" lines to NOTIFY_SOCKET. It is done
 * here by hand (a socket and a sendto) so that the daemon does not link libsystemd for four messages.
 * One socket is opened at start and kept: the watchdog pings for the whole life of the process, and a
 * process that later hits its open-file limit must still be able to ping. */
#include "cp_notify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cp_common.h"
#include "cp_log.h"

#define NOTIFY_MSG_MAX (CP_NOTIFY_STATUS_MAX + 64)

struct cp_notify {
    struct event_base *base; /* borrowed */
    cp_notify_status_fn status;
    void *ud;              /* borrowed, for <status> */
    int fd;                /* owned: the datagram socket; -1: inactive */
    struct sockaddr_un sa; /* NOTIFY_SOCKET */
    socklen_t salen;
    uint64_t ping_us;                /* watchdog interval; 0: no watchdog */
    struct event *ping_ev;           /* owned, persistent: WATCHDOG=1 */
    struct event *status_ev;         /* owned, persistent: STATUS= when it changed */
    char last[CP_NOTIFY_STATUS_MAX]; /* the STATUS= text last sent ("" before the first) */
    int warned;                      /* a send failed and that was logged (once) */
};

int cp_notify_addr(const char *path, struct sockaddr_un *sa, socklen_t *len)
{
    size_t n = path != NULL ? strlen(path) : 0;

    /* sd_notify(3) accepts an absolute path or an abstract name; anything else may be a relative path
     * resolved against a working directory systemd never meant */
    if (n < 2 || (path[0] != '/' && path[0] != '@') || n >= sizeof(sa->sun_path))
        return -1;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n);
    if (sa->sun_path[0] == '@')
        sa->sun_path[0] = '\0'; /* abstract namespace: the name is exactly n bytes, no NUL after it */
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
    return 0;
}

/* A non-negative decimal number with digits only (no sign, no space, no 0x), without overflow. */
static int notify_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (s == NULL || *s == '\0' || strlen(s) > 20)
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

int cp_notify_parse_watchdog(const char *usec, uint64_t *ping_us)
{
    uint64_t v;

    if (notify_parse_u64(usec, &v) != 0 || v < CP_NOTIFY_WATCHDOG_MIN || v >= CP_NOTIFY_WATCHDOG_LIMIT)
        return -1;
    /* half the interval, as sd_watchdog_enabled(3) advises: one late ping is not yet a restart */
    *ping_us = v / 2 < CP_NOTIFY_PING_MAX_US ? v / 2 : CP_NOTIFY_PING_MAX_US;
    return 0;
}

int cp_notify_pid_is(const char *pid, long self)
{
    uint64_t v;

    if (pid == NULL || *pid == '\0')
        return 1;
    if (notify_parse_u64(pid, &v) != 0 || v == 0 || v > (uint64_t)INT32_MAX)
        return -1;
    return (long)v == self;
}

/* Sends <msg> without blocking. The first failure is a warning (the manager will not hear from us:
 * with a watchdog, it will restart the service); later ones are debug lines. */
static void notify_send(cp_notify_t *n, const char *msg)
{
    if (n == NULL || n->fd < 0)
        return;
    if (sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&n->sa, n->salen) >=
        0)
        return;
    if (!n->warned) {
        n->warned = 1;
        cp_log(CP_LOG_WARN, "cannot tell systemd our state (NOTIFY_SOCKET): %s", strerror(errno));
    } else {
        cp_log(CP_LOG_DEBUG, "sd_notify failed: %s", strerror(errno));
    }
}

/* Appends "\nSTATUS=<load>" to <msg> (of NOTIFY_MSG_MAX bytes) when <always> or when the load changed
 * since it was last sent, and remembers it as sent. */
static void notify_add_status(cp_notify_t *n, char *msg, int always)
{
    char now[CP_NOTIFY_STATUS_MAX] = "";
    size_t len = strlen(msg);

    if (n->status == NULL)
        return;
    n->status(n->ud, now, sizeof(now));
    now[sizeof(now) - 1] = '\0';
    for (char *p = now; *p != '\0'; p++)
        if (*p == '\n')
            *p = ' '; /* one line: a newline would start another field */
    if ((!always && strcmp(now, n->last) == 0) || now[0] == '\0')
        return;
    snprintf(msg + len, NOTIFY_MSG_MAX - len, "%sSTATUS=%s", len > 0 ? "\n" : "", now);
    memcpy(n->last, now, sizeof(now));
}

static void notify_on_ping(evutil_socket_t fd, short what, void *arg)
{
    cp_notify_t *n = arg;
    char msg[NOTIFY_MSG_MAX] = "WATCHDOG=1";

    (void)fd;
    (void)what;
    notify_add_status(n, msg, 0);
    notify_send(n, msg);
}

static void notify_on_status(evutil_socket_t fd, short what, void *arg)
{
    cp_notify_t *n = arg;
    char msg[NOTIFY_MSG_MAX] = "";

    (void)fd;
    (void)what;
    notify_add_status(n, msg, 0);
    if (msg[0] != '\0')
        notify_send(n, msg);
}

/* A persistent timer every <us> on the loop. Returns it, or NULL after logging. */
static struct event *notify_timer(cp_notify_t *n, uint64_t us, event_callback_fn cb, const char *what)
{
    struct timeval tv = {(time_t)(us / 1000000u), (suseconds_t)(us % 1000000u)};
    struct event *ev = event_new(n->base, -1, EV_PERSIST, cb, n);

    if (ev == NULL || event_add(ev, &tv) != 0) {
        cp_log(CP_LOG_ERROR, "cannot arm the %s timer: systemd will not hear it", what);
        if (ev != NULL)
            event_free(ev);
        return NULL;
    }
    return ev;
}

/* The watchdog interval from the environment (0: none), with one warning for a value that is not one. */
static uint64_t notify_watchdog_env(void)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    uint64_t ping_us = 0;
    int mine;

    if (usec == NULL)
        return 0;
    if (cp_notify_parse_watchdog(usec, &ping_us) != 0) {
        cp_log(CP_LOG_WARN,
               "WATCHDOG_USEC=%.32s is not a watchdog interval (%llu to %llu microseconds): "
               "no watchdog pings",
               usec, (unsigned long long)CP_NOTIFY_WATCHDOG_MIN,
               (unsigned long long)CP_NOTIFY_WATCHDOG_LIMIT - 1);
        return 0;
    }
    if ((mine = cp_notify_pid_is(pid, (long)getpid())) != 1) { /* the watchdog is another process's */
        if (mine < 0)
            cp_log(CP_LOG_WARN, "WATCHDOG_PID=%.32s is not a process id: no watchdog pings", pid);
        else
            cp_log(CP_LOG_DEBUG, "WATCHDOG_PID names another process: no watchdog pings");
        return 0;
    }
    return ping_us;
}

cp_notify_t *cp_notify_new(struct event_base *base, cp_notify_status_fn status, void *ud)
{
    cp_notify_t *n = cp_xcalloc(1, sizeof(*n));
    const char *path = getenv("NOTIFY_SOCKET");
    uint64_t status_us = (uint64_t)CP_NOTIFY_STATUS_MS * 1000u;

    n->base = base;
    n->status = status;
    n->ud = ud;
    n->fd = -1;
    if (path == NULL)
        return n; /* not started by systemd (or not as Type=notify) */
    if (cp_notify_addr(path, &n->sa, &n->salen) != 0) {
        cp_log(CP_LOG_WARN,
               "NOTIFY_SOCKET (%zu bytes) is neither an absolute path nor an abstract name of "
               "at most %zu bytes: systemd will not hear from ccproxy",
               strlen(path), sizeof(n->sa.sun_path) - 1);
        return n;
    }
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (n->fd < 0) {
        cp_log(CP_LOG_WARN, "cannot open a socket for NOTIFY_SOCKET: %s", strerror(errno));
        return n;
    }
    n->ping_us = notify_watchdog_env();
    if (n->ping_us > 0) {
        n->ping_ev = notify_timer(n, n->ping_us, notify_on_ping, "watchdog");
        cp_log(CP_LOG_INFO, "systemd watchdog: pinging every %llu ms",
               (unsigned long long)(n->ping_us / 1000));
    }
    n->status_ev = notify_timer(n, status_us, notify_on_status, "status");
    return n;
}

void cp_notify_ready(cp_notify_t *n)
{
    char msg[NOTIFY_MSG_MAX] = "READY=1";

    if (n == NULL || n->fd < 0)
        return;
    notify_add_status(n, msg, 1);
    notify_send(n, msg);
}

void cp_notify_reloading(cp_notify_t *n)
{
    char msg[NOTIFY_MSG_MAX];
    struct timespec ts;

    if (n == NULL || n->fd < 0)
        return;
    /* systemd matches the reload it asked for by this time (systemd.service(5), Type=notify-reload) */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000u);
    notify_send(n, msg);
}

void cp_notify_stopping(cp_notify_t *n)
{
    notify_send(n, "STOPPING=1");
}

uint64_t cp_notify_watchdog_us(const cp_notify_t *n)
{
    return n != NULL ? n->ping_us : 0;
}

void cp_notify_free(cp_notify_t *n)
{
    if (n == NULL)
        return;
    if (n->ping_ev != NULL)
        event_free(n->ping_ev);
    if (n->status_ev != NULL)
        event_free(n->status_ev);
    if (n->fd >= 0)
        close(n->fd);
    free(n);
}
