/* lib/net/cp_conn.h: client connections, from accept to close, for lib/net/cp_front.c.
 *
 * evhttp owns each connection's parsing; this module owns everything evhttp does not do and a
 * shared server needs (docs/security.md):
 *   - tracking: every connection is known from accept to close, with its request in flight if any;
 *   - limits at accept: server.maxConnections (503) and server.maxConnectionsPerPeer (429);
 *   - framing: every byte goes through lib/net/cp_frame.c before evhttp reads it, and framing it
 *     refuses gets our 400 before evhttp acts on it;
 *   - deadlines that are not re-armed by each byte: the head (server.headTimeoutSeconds, from its
 *     first byte), the body (server.bodyTimeoutSeconds, from the end of the head), and the idle
 *     keep-alive connection (server.keepAliveSeconds, closed without a word);
 *   - the upload budget: body bytes announced by uploads in progress, over all connections
 *     (server.uploadBudgetBytes; beyond it 503 overloaded_error with retry-after);
 *   - bytes pipelined behind a request in flight: at most server.maxHeaderBytes, then the connection
 *     is closed;
 *   - evhttp's own HTML error pages rewritten into the Anthropic error envelope.
 * A refused connection is taken over from evhttp: the reply is written, the sending side shut, and
 * what the client still sends is read and dropped for a short while before the close (a close with
 * unread input would reset the connection and lose the reply). Loop thread only. */
#ifndef CP_CONN_H
#define CP_CONN_H

#include <event2/event.h>
#include <event2/http.h>

#include "cp_config.h"

typedef struct cp_conns cp_conns_t; /* every client connection of one front */
typedef struct cp_conn cp_conn_t;
struct cp_tls; /* lib/net/cp_tls.h */

/* The front's side of a connection's close: <pending> is the request it had in flight (NULL: none);
 * <in_request> says whether a request had been handed to the front and not completed. Called from
 * evhttp's close callback; the connection is freed right after. */
typedef void (*cp_conns_closed_fn)(void *ud, void *pending, int in_request);

/* Creates the set for <http> (installs its bufferevent callback): borrows <base>, <http> and <cfg>
 * (the front keeps them alive; cp_conns_config replaces <cfg>). */
cp_conns_t *cp_conns_new(struct event_base *base, struct evhttp *http, const cp_config_t *cfg,
                         cp_conns_closed_fn closed, void *ud);

/* Call after evhttp_free (which closes every associated connection): frees what is left. */
void cp_conns_free(cp_conns_t *s);

/* The current configuration (borrowed until the next call or cp_conns_free), and the TLS context new
 * connections use (taken; NULL: plain HTTP): lib/net/cp_tls.h. */
void cp_conns_config(cp_conns_t *s, const cp_config_t *cfg, struct cp_tls *tls);

/* Drain: closes the connections with nothing under way, and each one that becomes so. */
void cp_conns_drain(cp_conns_t *s);

unsigned cp_conns_count(const cp_conns_t *s);

/* Calls <fn>(pending, <ud>) for every request in flight (collected first: <fn> may end them). */
void cp_conns_each_pending(cp_conns_t *s, void (*fn)(void *pending, void *ud), void *ud);

/* The record of <evc>, or NULL when it is not one of ours. */
cp_conn_t *cp_conns_find(cp_conns_t *s, struct evhttp_connection *evc);

/* The reason phrase of an HTTP status line ("Status" for one not listed). */
const char *cp_conn_phrase(int status);

/* A request on <c> reached the front (1) / its reply completed (0). */
void cp_conn_request(cp_conn_t *c, int begin);

/* The front's request in flight on <c> (passed back to the closed callback), or NULL. */
void cp_conn_set_pending(cp_conn_t *c, void *pending);
void *cp_conn_pending(const cp_conn_t *c);

evutil_socket_t cp_conn_fd(const cp_conn_t *c);

/* The <ud> given to cp_conns_new (the front). */
void *cp_conn_owner(const cp_conn_t *c);

/* Bytes written to <c> and not yet sent. */
size_t cp_conn_unsent(const cp_conn_t *c);

/* While a request waits for its reply, evhttp does not read the socket: reads what the client sent
 * meanwhile (pipelined bytes, within their cap) into the connection's input, where evhttp finds it
 * later. Returns 0; 1 when the connection is being closed (over the cap: its close callback follows
 * from the loop); -1 when the client closed its side or the socket failed. */
int cp_conn_absorb(cp_conn_t *c);

#endif
