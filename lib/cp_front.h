/* lib/cp_front.h: the client side: the evhttp listener, connections, routes, replies, access log.
 *
 * One cp_front_t per event_base. It holds a reference to the current configuration; every request
 * takes its own reference when it starts, so a reload (cp_front_reload) never changes the config a
 * request in flight sees. Connections are tracked from accept to close so that a drain can tell
 * idle keep-alive connections (closed at once) from ones with a request under way (left to finish).
 * All functions must be called from the loop's thread, outside evhttp callbacks of this front. */
#ifndef CP_FRONT_H
#define CP_FRONT_H

#include <event2/event.h>

#include "cp_common.h"
#include "cp_config.h"

typedef struct cp_front cp_front_t;

/* Called (from the loop) when a draining front has no connection and no request left. */
typedef void (*cp_front_idle_cb)(cp_front_t *f, void *ud);

/* Creates the HTTP server on <base> and binds <cfg>'s host and port. Borrows <base> for the front's
 * lifetime; takes a new reference on <cfg>. Returns new, or NULL with <e> saying why (bind failed). */
cp_front_t *cp_front_new(struct event_base *base, cp_config_t *cfg, cp_err_t *e);

/* Installs <cfg> (takes a new reference) for requests that start from now on. If the listen
 * address changed, binds the new one first and keeps the old one when that fails. Returns CP_OK, or
 * CP_ERR with <e> set and nothing changed. */
int cp_front_reload(cp_front_t *f, cp_config_t *cfg, cp_err_t *e);

/* Stops accepting, closes idle connections, answers later requests with "Connection: close", and
 * calls <cb> once nothing is left (possibly from the loop right away). */
void cp_front_drain(cp_front_t *f, cp_front_idle_cb cb, void *ud);

/* Requests being handled right now, and open client connections. */
unsigned cp_front_active(const cp_front_t *f);
unsigned cp_front_connections(const cp_front_t *f);

/* Closes every connection and frees the front. Accepts NULL. */
void cp_front_free(cp_front_t *f);

#endif
