/* lib/net/cp_guard.h: what a request's head must satisfy before ccproxy answers it.
 *
 * Strict framing (one Content-Length, plain digits: no request smuggling) and the browser guards: a
 * web page can POST to http://127.0.0.1:8082 without a CORS preflight only with a "simple" content
 * type, and with DNS rebinding it can read the answer through a name of its own. So POST bodies must
 * be application/json; the Host must be an IP literal, localhost, the configured host or an entry of
 * server.allowedHosts; a request carrying Origin must come from server.allowedOrigins
 * (docs/security.md). Pure functions of header values; no I/O. */
#ifndef CP_GUARD_H
#define CP_GUARD_H

#include <stddef.h>

#include "cp_config.h"

/* True when <v> is a Content-Length value: decimal digits, no sign, no leading zero, not empty. */
int cp_guard_length_ok(const char *v);

/* True when <content_type> (NULL: absent) declares application/json (parameters allowed). */
int cp_guard_json_type(const char *content_type);

/* True when the Host value <host> (NULL: absent, accepted) names this server as a web page cannot
 * make it: an IP literal, localhost or *.localhost, cfg->host, or an entry of server.allowedHosts
 * ("*": any; ".example.com": that domain and its subdomains). */
int cp_guard_host_ok(const cp_config_t *cfg, const char *host);

/* True when <origin> is NULL (no Origin header) or listed in server.allowedOrigins ("*": any). */
int cp_guard_origin_ok(const cp_config_t *cfg, const char *origin);

/* The browser guards on <host> and <origin>: NULL when both pass, else <msg> (<n> bytes) holding why,
 * naming the configuration key that would allow it. */
const char *cp_guard_browser(const cp_config_t *cfg, const char *host, const char *origin, char *msg,
                             size_t n);

#endif
