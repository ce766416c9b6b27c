/* lib/net/cp_accept.h: keeping the listener sane at the open-file limit.
 *
 * When accept() fails with EMFILE/ENFILE (or ENOBUFS/ENOMEM), libevent's listener would retry at once,
 * forever: one core at 100 % and a log line per attempt, while /health goes unanswered. The guard
 * pauses accepting for 100 ms instead, gives one waiting client a clean close through a spare
 * descriptor (so it does not hang in the backlog), and logs once per 5 s with a count. libevent's own
 * log lines go through ccproxy's logger, at most 10 a second. Loop thread only. */
#ifndef CP_ACCEPT_H
#define CP_ACCEPT_H

#include <event2/event.h>
#include <event2/listener.h>

typedef struct cp_accept cp_accept_t;

/* A listening socket on <host>:<port> with the largest accept queue the kernel allows (evhttp's own
 * binding uses 128). Returns it, or -1 with errno set. Start and reload only (getaddrinfo blocks). */
evutil_socket_t cp_accept_listen(const char *host, int port);

/* Returns new. Borrows <base> for its lifetime. */
cp_accept_t *cp_accept_new(struct event_base *base);

/* Watches <lev> (the current listener; NULL when there is none). Borrowed until the next call. */
void cp_accept_watch(cp_accept_t *a, struct evconnlistener *lev);

void cp_accept_free(cp_accept_t *a); /* accepts NULL */

/* Routes libevent's log messages to ccproxy's logger, rate limited. Call once, before the loop. */
void cp_accept_route_libevent_log(void);

#endif
