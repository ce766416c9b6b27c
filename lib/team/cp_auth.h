/* lib/team/cp_auth.h: who may use the proxy: developer keys (`auth` in the config, docs/team.md).
 *
 * Three modes, decided by the config alone:
 *   keys      auth.keys lists at least one key: every request to the API needs one of them, from any
 *             address (loopback included), in `x-api-key` or `Authorization: Bearer`;
 *   loopback  no keys (the default): clients on 127.0.0.0/8 and ::1 are served as they always were,
 *             every other address gets 401 saying how to add keys;
 *   open      no keys and auth.allowUnauthenticated: true: anyone who reaches the port (warned about).
 * Keys are stored only as SHA-256 digests (cp_sha256_hex); a presented key is hashed and compared with every
 * digest in constant time. Each key carries its model allow-list and limits (lib/team/cp_limits.h). No I/O.
 */
#ifndef CP_AUTH_H
#define CP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cp_limits.h"

#define CP_AUTH_NAME_MAX      64     /* a key name: 1..64 bytes of [A-Za-z0-9._-] */
#define CP_AUTH_KEYS_MAX      10000  /* keys in auth.keys */
#define CP_AUTH_PRESENTED_MAX 512    /* a presented key longer than this is refused without hashing */
#define CP_AUTH_PREFIX        "ccp_" /* what `ccproxy keys add` puts in front of a generated key */

enum cp_auth_mode { CP_AUTH_LOOPBACK = 0, CP_AUTH_KEYS, CP_AUTH_OPEN };

typedef struct cp_auth_key {
    char name[CP_AUTH_NAME_MAX + 1];
    unsigned char digest[32]; /* SHA-256 of the key */
    json_t *models;           /* array of glob patterns; NULL: every model. Owned */
    cp_limit_spec_t lim;
} cp_auth_key_t;

typedef struct cp_auth {
    cp_auth_key_t *keys; /* owned */
    size_t n;
    int allow_unauthenticated;
    uint32_t *slots; /* owned: an open-addressing index of <keys> by digest (index + 1; 0 = empty) */
    size_t nslots;   /* a power of two, at least twice <n> */
} cp_auth_t;

/* Checks the value of auth.keys: an array (at most CP_AUTH_KEYS_MAX) of objects with "name" (unique,
 * 1..64 bytes of [A-Za-z0-9._-]) and "sha256" (64 hex digits, unique), and optionally "models" (array of
 * 1..256 non-empty patterns under 256 bytes), "rpm" (1..CP_LIMITS_RPM_MAX), "tpm" (1..10^12),
 * "maxStreams" (1..100000), "budget" ({"usd": number > 0 | "tokens": integer > 0, "per":
 * "day"|"week"|"month"}), "created" (a string under 64 bytes) and nothing else: a misspelt limit must
 * not silently mean "unlimited". Returns CP_OK, or CP_ERR with <msg> holding what is wrong, starting
 * with the sub-path ("[2].rpm: expected an integer from 1 to 100000, got \"60\""). */
int cp_auth_keys_check(const json_t *v, char *msg, size_t n);

/* True when <s> (<len> bytes) is a valid key name: 1..CP_AUTH_NAME_MAX bytes of [A-Za-z0-9._-]. */
int cp_auth_name_ok(const char *s, size_t len);

/* Returns new, from the merged `auth` object (checked; may be NULL). */
cp_auth_t *cp_auth_new(const json_t *auth);
void cp_auth_free(cp_auth_t *a); /* accepts NULL */

enum cp_auth_mode cp_auth_mode(const cp_auth_t *a);
const char *cp_auth_mode_name(enum cp_auth_mode m); /* "keys", "loopback only", "open" */

/* The key a client presented: the x-api-key value, else the token after "Bearer " in Authorization
 * (either header may be NULL). Returns a pointer into one of them with its length in <len>, or NULL when
 * neither carries one. */
const char *cp_auth_presented(const char *x_api_key, const char *authorization, size_t *len);

/* The key whose digest is SHA-256(<key>, <len> bytes), or NULL. The digest is looked up in a hash index
 * (by its first bytes, which a client cannot choose: they are a hash of what it sent) and the candidate
 * compared in constant time, so the time says nothing about how close a guess came; it does not grow
 * with the number of keys. */
const cp_auth_key_t *cp_auth_find(const cp_auth_t *a, const char *key, size_t len);

/* True when <k> may use the model: no list, or a pattern matches. A pattern with '@' is matched
 * against "<upstream_model>@<provider>"; one without against the model the client asked for and
 * against the upstream model name (fnmatch, case-insensitive). */
int cp_auth_model_ok(const cp_auth_key_t *k, const char *client_model, const char *upstream_model,
                     const char *provider);

#endif
