/* lib/net/cp_notify.h: telling systemd how the server is doing (Type=notify), without libsystemd.
 *
 * The sd_notify protocol by hand: one datagram per message on the unix socket named by NOTIFY_SOCKET
 * (a path, or "@name" for the abstract namespace), "KEY=value" lines. What the server says:
 *   READY=1 + STATUS=<load>            serving (at start, and after every reload, good or bad)
 *   RELOADING=1 + MONOTONIC_USEC=<us>  a reload begins (CLOCK_MONOTONIC, as systemd wants it)
 *   STOPPING=1                         the drain begins
 *   WATCHDOG=1                         every WATCHDOG_USEC / 2, from a timer on the loop: a loop that is
 *                                      stuck stops pinging, and systemd (WatchdogSec=) restarts it
 *   STATUS=<load>                      every CP_NOTIFY_STATUS_MS and with each ping, when it changed
 * The watchdog is on when WATCHDOG_USEC is a usable interval and WATCHDOG_PID is unset or this process.
 * Without NOTIFY_SOCKET every call is a no-op. A bad NOTIFY_SOCKET or WATCHDOG_USEC, or a socket that
 * cannot be reached, costs one warning each, never the server. Sends never block the loop (a message
 * the manager has no room for is dropped). Knows nothing of the config or the front: the load comes
 * from the caller's status function. Loop thread only. */
#ifndef CP_NOTIFY_H
#define CP_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/event.h>

#define CP_NOTIFY_STATUS_MS      5000                     /* how often the load is looked at */
#define CP_NOTIFY_STATUS_MAX     256                      /* bytes of the STATUS= text, cut beyond */
#define CP_NOTIFY_WATCHDOG_MIN   10000ULL                 /* WATCHDOG_USEC below 10 ms is refused */
#define CP_NOTIFY_WATCHDOG_LIMIT (1ULL << 62)             /* and from here on (not an interval) */
#define CP_NOTIFY_PING_MAX_US    (12ULL * 3600 * 1000000) /* a longer watchdog is pinged every 12 h */

typedef struct cp_notify cp_notify_t;

/* Writes the current load, one line without "\n" (e.g. "3 requests in flight, 14 connections"), into
 * <buf> of <cap> bytes, NUL-terminated. */
typedef void (*cp_notify_status_fn)(void *ud, char *buf, size_t cap);

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID once, and arms the watchdog and status timers on
 * <base> when they apply. Borrows <base> and <ud> (passed to <status>, which may be NULL) for its
 * lifetime. Returns new (inactive without a usable NOTIFY_SOCKET). */
cp_notify_t *cp_notify_new(struct event_base *base, cp_notify_status_fn status, void *ud);

void cp_notify_ready(cp_notify_t *n);     /* READY=1 + STATUS= */
void cp_notify_reloading(cp_notify_t *n); /* RELOADING=1 + MONOTONIC_USEC= */
void cp_notify_stopping(cp_notify_t *n);  /* STOPPING=1 */

/* The watchdog ping interval in microseconds (0: no watchdog), for the logs and the tests. */
uint64_t cp_notify_watchdog_us(const cp_notify_t *n);

void cp_notify_free(cp_notify_t *n); /* accepts NULL */

/* ---- pure parts, for the unit tests ------------------------------------------------------------ */

/* NOTIFY_SOCKET -> the address to send to. Returns 0, or -1 (NULL, empty, relative, too long). */
int cp_notify_addr(const char *path, struct sockaddr_un *sa, socklen_t *len);

/* WATCHDOG_USEC -> the ping interval (half of it, at most CP_NOTIFY_PING_MAX_US). Decimal digits only.
 * Returns 0, or -1 (garbage, a sign, zero, below CP_NOTIFY_WATCHDOG_MIN, from CP_NOTIFY_WATCHDOG_LIMIT). */
int cp_notify_parse_watchdog(const char *usec, uint64_t *ping_us);

/* WATCHDOG_PID: whether the watchdog is meant for process <self>. Returns 1 (unset, or <self>), 0 (another
 * process), or -1 (not a pid). */
int cp_notify_pid_is(const char *pid, long self);

#endif
