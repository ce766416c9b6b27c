/* lib/cli/cp_ident.h: proving that a running ccproxy is the user's own (docs/cli.md, "How ccproxy
 * knows the proxy is yours").
 *
 * The instance key is 32 random bytes, written as 64 hex digits and a newline in
 * ~/.ccproxy/instance.key: a regular file owned by the user, mode 0600, in a 0700 directory (the
 * Erlang-cookie model). Whoever needs it first, the launcher or the server, creates it; a file that
 * another user owns, or that group or others may read or write, is refused.
 *
 * The server proves that it knows the key when GET /health carries `x-ccproxy-nonce: N` (32 to 64
 * hex digits, fresh for every probe); its answer then holds
 *   config_digest = HMAC-SHA256(key, the effective configuration, canonical: see below)
 *   proof         = HMAC-SHA256(key, "ccproxy-health-v1\n" N "\n" PID "\n" config_digest)
 * A client proves it knows the key (to see the pid and the load from an address other than loopback)
 * with `x-ccproxy-auth: HMAC-SHA256(key, "ccproxy-health-client-v1\n" N)`. The two labels keep a proof
 * from ever being usable as a client's credential and the other way round. Every HMAC travels as 64
 * lowercase hex digits and is compared in constant time (CRYPTO_memcmp).
 *
 * A relay (something on another port that forwards the launcher's nonce to the real server) gains
 * nothing: the digest covers server.host and server.port, so the real server's digest matches the
 * launcher's only when the launcher asked at the real server's own address.
 *
 * The server's copy of the key is process-wide (like the logger's secrets): cp_server loads it once at
 * start, after the process was made non-dumpable; the front reads it when answering /health. */
#ifndef CP_IDENT_H
#define CP_IDENT_H

#include <stddef.h>

#include <jansson.h>

#include "cp_common.h"

#define CP_IDENT_KEY_BYTES    32
#define CP_IDENT_HEX          64 /* hex digits of an HMAC-SHA256 */
#define CP_IDENT_NONCE_MIN    32
#define CP_IDENT_NONCE_MAX    64
#define CP_IDENT_NONCE_HEADER "x-ccproxy-nonce"
#define CP_IDENT_AUTH_HEADER  "x-ccproxy-auth"
#define CP_IDENT_FILE         "instance.key"

/* The instance key: a plain value. Wipe copies with cp_ident_key_wipe() when done. */
typedef struct cp_ident_key {
    unsigned char b[CP_IDENT_KEY_BYTES];
} cp_ident_key_t;

struct sockaddr;

/* 1 when <s> is 32 to 64 hex digits (either case) and nothing else; 0 otherwise (NULL included). */
int cp_ident_nonce_ok(const char *s);

/* Writes a fresh nonce, 64 lowercase hex digits from the kernel's CSPRNG, into <out>. Returns CP_OK, or
 * CP_ERR when the kernel gives no random bytes (out is then ""). */
int cp_ident_nonce_new(char out[CP_IDENT_NONCE_MAX + 1]);

/* The digest of the configuration tree <merged> (cp_config_t.merged): HMAC-SHA256 under <k> of the
 * tree without its "logging" member (how much the server logs changes nothing a client gets, and
 * `ccproxy --debug` must not make the next plain launch see another configuration), dumped compact with
 * sorted keys. Without the key it tells nothing of the configuration, not even which is which. Returns
 * CP_OK, or CP_ERR when <merged> is not an object (out is then ""). The plain text is wiped after use. */
int cp_ident_config_digest(const cp_ident_key_t *k, const json_t *merged, char out[CP_IDENT_HEX + 1]);

/* The server's proof for <nonce>, <pid> and <digest> (see the top of this file). */
void cp_ident_proof(const cp_ident_key_t *k, const char *nonce, long pid, const char *digest,
                    char out[CP_IDENT_HEX + 1]);

/* 1 when <proof> (any string, NULL included) is the proof for those values; constant time. */
int cp_ident_proof_ok(const cp_ident_key_t *k, const char *nonce, long pid, const char *digest,
                      const char *proof);

/* A client's credential for <nonce>, and its check (1 when <auth>, any string, is right). */
void cp_ident_client_auth(const cp_ident_key_t *k, const char *nonce, char out[CP_IDENT_HEX + 1]);
int cp_ident_client_ok(const cp_ident_key_t *k, const char *nonce, const char *auth);

/* 1 when <sa> is a loopback address: 127.0.0.0/8, ::1, or ::ffff:127.x.y.z. 0 for anything else,
 * NULL and non-IP families included. */
int cp_ident_peer_loopback(const struct sockaddr *sa);

/* Writes "<home>/.ccproxy/instance.key" into <buf>. Returns CP_ERR when <home> is NULL, empty or too
 * long. */
int cp_ident_path(const char *home, char *buf, size_t n);

/* Reads the key at <path>. Returns CP_OK; CP_DECLINED when there is no such file; CP_ERR with <e->msg>
 * saying why and what to do when the file is unsafe (a symbolic link, not a regular file, owned by
 * another user, open to group or others) or is not 64 hex digits. Never follows a symbolic link. */
int cp_ident_load(const char *path, cp_ident_key_t *k, cp_err_t *e);

/* cp_ident_load(), creating the key first when there is none: its directory (one level, 0700) if
 * missing, then a temporary file (O_EXCL, 0600) hard-linked into place, so that of two processes
 * creating it at once one wins and both end with the winner's key. Returns CP_OK or CP_ERR (<e>). */
int cp_ident_load_or_create(const char *path, cp_ident_key_t *k, cp_err_t *e);

/* Overwrites <k> with zeros in a way the compiler keeps. */
void cp_ident_key_wipe(cp_ident_key_t *k);

/* ---- the server's key (process-wide) ---------------------------------------------------------- */

/* Loads (or creates) $HOME/.ccproxy/instance.key for /health. Logs why when there is none (no HOME, as
 * for a service without one; an unsafe file): /health then offers no proof, and launchers do not send
 * claude to this server. Call once, from the server's thread, before the loop runs. */
void cp_ident_server_load(void);

/* Borrows: the server's key, or NULL when it has none. Valid for the process's lifetime. */
const cp_ident_key_t *cp_ident_server_key(void);

#endif
