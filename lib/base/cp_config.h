/* lib/base/cp_config.h: the layered configuration.
 *
 * Layers, later overriding earlier, objects merged key by key (docs/configuration.md):
 *   built-in defaults < $HOME/.ccproxy/settings.json < $CWD/.ccproxy/settings.json
 *   < managed file (/etc/ccproxy/managed-settings.json, or $CCPROXY_MANAGED_PATH)
 *   < environment ($CCPROXY_CONFIG file, then CCPROXY_PORT/HOST/LOG_LEVEL/LOG_FORMAT)
 *   < command line (--config file, then --port/--host/--debug).
 * `${VAR}` and `${VAR:-default}` in file strings are expanded from the environment; a provider
 * without `apiKey` takes `<NAME>_API_KEY`. Every leaf value remembers where it came from.
 * The $CWD layer is applied only when the user trusted that file (`ccproxy trust`, lib/base/cp_trust.h),
 * and even then expands `${VAR}` in `providers.*.apiKey` and `providers.*.apiKeys` only.
 *
 * A loaded cp_config_t is immutable and reference counted: requests in flight keep the snapshot
 * they started with while SIGHUP installs a new one. No I/O besides reading the files. */
#ifndef CP_CONFIG_H
#define CP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cp_common.h"
#include "cp_log.h"
#include "cp_provider.h"

/* What became of ./.ccproxy/settings.json (docs/configuration.md, "Project settings and `ccproxy trust`"). */
enum cp_project {
    CP_PROJECT_NONE = 0, /* no such file, or the working directory is $HOME */
    CP_PROJECT_UNUSABLE, /* it exists but is not read (not a regular file, too large, ...): ignored */
    CP_PROJECT_IGNORED,  /* not trusted, or changed since it was: ignored, with a warning */
    CP_PROJECT_APPLIED,  /* trusted (or opts.trust_project): applied as layer 3 */
};

typedef struct cp_config {
    int refs;
    /* server */
    char *host;
    int port;
    size_t max_body_bytes;
    size_t max_header_bytes;
    unsigned client_timeout_s; /* server.clientTimeoutSeconds: inactivity while reading or writing */
    unsigned head_timeout_s;   /* server.headTimeoutSeconds: a request head, from its first byte */
    unsigned body_timeout_s;   /* server.bodyTimeoutSeconds: a request body, from the end of its head */
    unsigned keepalive_s;      /* server.keepAliveSeconds: an idle connection between requests */
    unsigned max_connections;  /* server.maxConnections: 503 above; 0 = from the open-file limit */
    unsigned max_per_peer;     /* server.maxConnectionsPerPeer: 429 above; 0 = no limit */
    size_t upload_budget;      /* server.uploadBudgetBytes: body bytes announced by uploads in progress */
    size_t max_json_values;    /* server.maxJsonValues: JSON values in a request body (a pre-scan) */
    unsigned drain_timeout_s;
    unsigned ping_interval_s;   /* server.pingIntervalSeconds: SSE ping while the upstream is silent */
    size_t stream_buffer_bytes; /* server.streamBufferBytes: unsent client output that pauses the upstream */
    size_t max_answer_bytes;    /* server.maxAnswerBytes: largest whole upstream answer kept (502 above) */
    unsigned max_concurrent;    /* server.maxConcurrentRequests: 529 above; 0 = from the open-file limit */
    json_t
        *allowed_hosts; /* server.allowedHosts: Host names accepted besides loopback and IP literals; owned */
    json_t *allowed_origins; /* server.allowedOrigins: Origin values accepted ("*": any); owned, [] = none */
    char *tls_cert;          /* server.tls.cert: PEM certificate chain; NULL: plain HTTP; owned */
    char *tls_key;           /* server.tls.key: PEM private key; set with tls_cert; owned */
    int tls_min_version;     /* server.tls.minVersion: 12 (TLS 1.2, the default) or 13 */
    /* providers, sorted by name */
    cp_provider_t *providers;
    size_t nproviders;
    /* models */
    char *big_model;
    char *small_model;
    char *preferred_provider;
    json_t *big_models;   /* models.bigModel as an array of 1..CP_CONFIG_FALLBACKS_MAX+1 names (a string is
                             an array of one); big_model is its first; owned */
    json_t *small_models; /* models.smallModel, the same */
    json_t *model_map;    /* models.map: {glob pattern: "model" | "model@provider" | [such names, 1..8]}, file
                             order; owned */
    unsigned retry_max_wait_s;   /* retry.maxWaitSeconds: the longest Retry-After waited for */
    unsigned retry_max_attempts; /* retry.maxAttempts: how often one candidate is asked at most */
    json_t *fallbacks;           /* models.fallbacks: {"model@provider": ["model@provider", ...]}, keys and
                                    values made whole with models.preferredProvider; owned, never NULL */
    json_t *context_fallbacks;   /* models.contextFallbacks: the same shape: tried on a context-length error;
                                    owned, never NULL */
    uint64_t failover[4];        /* retry.failoverStatuses: bit (status - 400) set for each status that
                                    hands a request to the next candidate (cp_config_failover) */
    unsigned breaker_failures;   /* breaker.failures: consecutive failures that open it; 0: off */
    double breaker_rate;         /* breaker.failureRate: 0 (off) .. 1 */
    unsigned breaker_window_s;   /* breaker.windowSeconds */
    unsigned breaker_min_requests; /* breaker.minRequests */
    unsigned breaker_cooldown_s;   /* breaker.cooldownSeconds */
    /* team access (docs/team.md) */
    struct cp_auth *auth;       /* auth: developer keys and the unauthenticated mode; owned, never NULL */
    struct cp_prices *prices;   /* prices: the config's before the built-in table; owned, never NULL */
    int ledger_enabled;         /* ledger.enabled */
    char *ledger_path;          /* ledger.path, else $STATE_DIRECTORY/usage.db, else ~/.ccproxy/usage.db */
    unsigned ledger_flush_ms;   /* ledger.flushMs */
    unsigned ledger_batch_rows; /* ledger.batchRows */
    size_t ledger_queue_rows;   /* ledger.queueRows */
    char *metrics_token;        /* metrics.token: Bearer token for /metrics from other addresses; or NULL */
    struct cp_cidr *metrics_allow; /* metrics.allow: address ranges /metrics admits; owned */
    size_t metrics_nallow;
    unsigned metrics_max_models; /* metrics.maxModels: distinct client model label values */
    char *client_url;     /* client.url: the team server the launcher uses (no local server); or NULL */
    char *client_key;     /* client.key, else $<client.keyEnv>: the developer key sent; or NULL */
    char *client_key_env; /* client.keyEnv, or NULL */
    /* logging */
    enum cp_log_level log_level;
    enum cp_log_format log_format;
    /* the effective merged tree (keys NOT redacted) and {dotted path: origin} */
    json_t *merged;
    json_t *sources;
    json_t *layers; /* {file path (an origin in sources): "user" | "project" | "managed" | "CCPROXY_CONFIG" |
                       "--config"}; owned */
    /* the working-directory layer, ./.ccproxy/settings.json (lib/base/cp_trust.h) */
    enum cp_project project_state;
    char *project_path;      /* its realpath when it was read, else NULL; owned */
    char project_sha256[65]; /* the SHA-256 of the bytes read, "" when none */
} cp_config_t;

/* The most candidates a models.fallbacks entry names (after its own target). */
#define CP_CONFIG_FALLBACKS_MAX 7

/* Whether upstream HTTP <status> hands the request to the next candidate (retry.failoverStatuses). */
static inline int cp_config_failover(const cp_config_t *c, long status)
{
    return status >= 400 && status < 656 && (c->failover[(status - 400) / 64] >> ((status - 400) % 64) & 1u);
}

/* The managed layer when $CCPROXY_MANAGED_PATH is not set: what the system service reads. */
#define CP_CONFIG_MANAGED_DEFAULT "/etc/ccproxy/managed-settings.json"

/* Where to look. Every field may be NULL/0, meaning "the real thing" (getenv, getcwd, /etc). */
typedef struct cp_config_opts {
    const char *home;         /* directory holding .ccproxy/settings.json; NULL: $HOME */
    const char *cwd;          /* NULL: the process's working directory */
    const char *managed_path; /* NULL: $CCPROXY_MANAGED_PATH, else /etc/ccproxy/managed-settings.json */
    const char *flag_config;  /* --config FILE */
    int flag_port;            /* --port (0: any free port) */
    int flag_port_set;        /* --port was given (else flag_port 0 = not given) */
    const char *flag_host;    /* --host */
    int flag_debug;           /* --debug: logging.level = debug */
    int trust_project;        /* `ccproxy trust` only: apply ./.ccproxy/settings.json whatever the trust store
                                 says, so that the bytes it records are the bytes that loaded */
} cp_config_opts_t;

/* Receives each warning (unknown keys, unset ${VAR}, an ignored project file, a readable file holding a
 * key, a key sent over plain http) as one line without a trailing newline. */
typedef void (*cp_config_warn_cb)(const char *line, void *ud);

/* Loads and validates every layer. Returns new (refs = 1), or NULL with <e->msg> holding one line
 * that names the file (with line:column for JSON syntax errors) or the environment variable or flag,
 * the JSON path, and what was expected. Never returns a half-valid config. <warn> may be NULL. */
cp_config_t *cp_config_load(const cp_config_opts_t *o, cp_config_warn_cb warn, void *ud, cp_err_t *e);

/* The files whose change can change what cp_config_load(<o>) returns (they may not exist): the user's
 * settings, the trust store, the project's settings, the managed file, $CCPROXY_CONFIG, --config.
 * Writes up to <max> new strings to <out>; returns how many. The server watches them (cp_server.h). */
size_t cp_config_watch_paths(const cp_config_opts_t *o, char **out, size_t max);

cp_config_t *cp_config_ref(cp_config_t *c);
void cp_config_unref(cp_config_t *c); /* accepts NULL; frees at zero */

/* Returns new: {"config": <merged, every apiKey and apiKeys element and every secret-looking header value
 * (see cp_prov_header_secret) replaced by "<redacted>", the user and password of a proxy URL too>, "sources":
 * {...}, "keys": <cp_trust_key_origins: per provider, the layers that set its baseURL and its key, and a
 * "warning" when they differ>}. */
json_t *cp_config_dump(const cp_config_t *c);

/* Borrows: the provider named <name> (<len> bytes, not NUL-terminated), or NULL. */
const cp_provider_t *cp_config_provider(const cp_config_t *c, const char *name, size_t len);

/* Writes "a, b, c" (configured provider names) into <buf>. */
void cp_config_provider_list(const cp_config_t *c, char *buf, size_t n);

/* Checks used by the loader, shared with `ccproxy init`: an http(s) URL with a host; "model" or
 * "model@provider" with both parts non-empty. */
int cp_config_url_ok(const char *s);
int cp_config_model_ok(const char *s);

/* The variable a provider without `apiKey` reads, "<NAME>_API_KEY" (upper case, anything not
 * [A-Z0-9] becomes '_'). Returns new. */
char *cp_config_key_env_name(const char *provider);

/* The default settings as JSON text (also what `ccproxy init` starts from). */
extern const char cp_config_defaults_json[];

#endif
