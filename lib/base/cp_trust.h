/* lib/base/cp_trust.h: what ccproxy trusts in its settings.
 *
 * A settings file in the working directory (./.ccproxy/settings.json) comes with whatever repository
 * was cloned there, so the loader applies it only after the user ran `ccproxy trust` in that directory
 * (as `direnv allow` and `mise trust` do). That records the file's real path and the SHA-256 of its
 * bytes in $HOME/.ccproxy/trusted.json (directory 0700, file 0600, replaced through a temporary file
 * and a rename); a file whose bytes changed is not trusted until it is trusted again.
 * docs/configuration.md ("Project settings and `ccproxy trust`") and docs/security.md.
 *
 * Also here, because they are the same question (may this setting see a key?): reading a settings file
 * once, so that the bytes hashed are the bytes parsed; which layer set a provider's baseURL and which
 * its key, for `ccproxy config`; plain-http destinations; proxy URLs.
 *
 * Files: trusted.json is {"version": 1, "trusted": [{"path": REALPATH, "sha256": HEX, "time": ISO}]}.
 * No logging: problems are returned in a cp_err_t or handed to a warn callback. */
#ifndef CP_TRUST_H
#define CP_TRUST_H

#include <stddef.h>

#include <jansson.h>

#include "cp_common.h"

/* Settings files (and the trust store) larger than this are refused rather than read. */
#define CP_TRUST_FILE_MAX (4u << 20)
/* Entries kept in the trust store; trusting one more drops the oldest. */
#define CP_TRUST_MAX_ENTRIES 1000

/* Receives one warning line, without a trailing newline (the loader's cp_config_warn_cb). */
typedef void (*cp_trust_warn_cb)(const char *line, void *ud);

/* One settings file as read: a plain value whose strings it owns (cp_trust_file_free). */
typedef struct cp_trust_file {
    char *real;      /* realpath of the file (the path as given when it has none, e.g. a pipe) */
    char *data;      /* the bytes read, NUL-terminated */
    size_t len;      /* how many */
    char sha256[65]; /* lowercase hex SHA-256 of <data> */
    unsigned mode;   /* its permission bits (st_mode & 07777) */
} cp_trust_file_t;

/* Reads <path> once, at most CP_TRUST_FILE_MAX bytes. <strict> is for a file that came with a
 * directory rather than from the user (the project layer): symbolic links are resolved first, the
 * resolved file is opened without following a link or blocking, and it must be a regular file, so a
 * FIFO or a link to /dev/zero is refused at once. Returns CP_OK with <out> filled, CP_DECLINED when
 * there is no such file (<out> empty), or CP_ERR with <e> naming <path> and the reason (<out> empty).
 * <out> is always safe to pass to cp_trust_file_free. */
int cp_trust_read(const char *path, int strict, cp_trust_file_t *out, cp_err_t *e);

void cp_trust_file_free(cp_trust_file_t *f);

enum cp_trust_state {
    CP_TRUST_UNKNOWN = 0, /* never trusted (or the store is missing or unusable) */
    CP_TRUST_CHANGED,     /* trusted once, with other bytes */
    CP_TRUST_TRUSTED,     /* this path with these bytes */
};

/* Whether <f> (read with <strict>) is trusted by <home>/.ccproxy/trusted.json. A store that cannot be
 * relied on (not a regular file, a symbolic link, not owned by this user, writable by group or others
 * or in such a directory, over CP_TRUST_FILE_MAX, not JSON of the shape above) counts as empty, with
 * one warning naming it and the reason. <home> NULL or "": CP_TRUST_UNKNOWN. <warn> may be NULL. */
enum cp_trust_state cp_trust_check(const char *home, const cp_trust_file_t *f, cp_trust_warn_cb warn,
                                   void *ud);

/* Records <real> with <sha256> (replacing any entry for <real>), creating <home>/.ccproxy (0700) and
 * the store (0600) as needed. A store that cannot be relied on is an error, never overwritten.
 * Returns CP_OK, or CP_ERR with <e>. */
int cp_trust_add(const char *home, const char *real, const char *sha256, cp_err_t *e);

/* Removes the entry for <real>. Returns CP_OK (removed), CP_DECLINED (there was none), CP_ERR. */
int cp_trust_remove(const char *home, const char *real, cp_err_t *e);

/* ---- what settings say about keys ---- */

/* True when the raw (unexpanded) apiKey text <raw> holds key material: anything besides "${NAME}"
 * references ("${A:-sk-...}" holds a fallback, so it does). "" is false. */
int cp_trust_key_literal(const char *raw);

/* Warns once, naming <path> and a provider, when the settings <root> read from a file with permission
 * bits <mode> hold an API key in clear (cp_trust_key_literal) and group or others may read the file.
 * <warn> may be NULL. */
void cp_trust_warn_readable_key(const char *path, unsigned mode, const json_t *root, cp_trust_warn_cb warn,
                                void *ud);

/* True when the host of http(s) URL <url> is this machine: localhost (or a name under .localhost),
 * 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z). */
int cp_trust_url_loopback(const char *url);

/* True when <s> is a proxy URL: http, https, socks4, socks4a, socks5 or socks5h, with a host, no
 * whitespace, quotes or control characters. */
int cp_trust_proxy_ok(const char *s);

/* Returns new: <url> with the user and password before '@' in its authority, if any, replaced by
 * "<redacted>". */
char *cp_trust_url_redacted(const char *url);

/* Returns new, for `ccproxy config`: {"<provider>": {"baseURL": {"layer": L, "source": S},
 * "apiKey": {"layer": L, "source": S} or null (no key), "apiKeys": {"layer": L, "source": S} (a pool
 * only), "warning": "..." when a key and the baseURL
 * were set by different layers and the baseURL is not the built-in one}}. <merged> is the effective
 * tree (only presence of keys is read), <sources> {dotted path: origin}, <layers> {file: layer name}.
 * L is "default", "user", "project", "managed", "CCPROXY_CONFIG", "--config", "environment" or
 * "command line". */
json_t *cp_trust_key_origins(const json_t *merged, const json_t *sources, const json_t *layers);

#endif
