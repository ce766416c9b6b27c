/* lib/prov/cp_prov.h: the provider adapter interface, and the table of adapters.
 *
 * An adapter speaks one upstream response style (Chat Completions, Anthropic Messages, ...). It is a
 * const table of functions (cp_prov_ops_t), in the spirit of nginx's upstream module hooks: the
 * exchange (lib/exchange/) decides *when* to call (request start, response head, body bytes, end) and
 * does all the I/O; the adapter decides *what*: the upstream request, how to read the answer, what
 * the client gets. An adapter returns its results (an upstream request, bytes for the client, a whole
 * reply, an error, "retry with this request") and never calls the front or the exchange. Its
 * per-request state is its own opaque struct. Adapters are pure: no I/O, no globals; what must
 * outlive a request (learned output-token caps) lives in a cp_caps_t the server owns.
 *
 * The exchange's calls, in order:
 *   start                       -> an upstream request, a local reply, or an error
 *   head(status, content type)  -> stream the reply, or collect the body
 *   stream: stream_begin, stream_feed..., stream_end        (bytes for the client each time)
 *   collect: finish(status, body) -> a reply, an error, or another upstream request (retry: head again)
 *   free
 * Adding a style: docs/architecture.md, "How to add a provider". */
#ifndef CP_PROV_H
#define CP_PROV_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cp_anth.h"
#include "cp_anth_out.h"
#include "cp_buf.h"
#include "cp_caps.h"
#include "cp_common.h"
#include "cp_provider.h"

#define CP_PROV_DONE                                                                                         \
    1 /* stream_feed: the answer is complete; the reply ends (later body bytes are dropped) */

enum cp_prov_mode {
    CP_PROV_COLLECT = 0, /* collect the whole body (capped), then finish() */
    CP_PROV_STREAM,      /* start the client's event stream now; body pieces go to stream_feed() */
};

/* What the adapter is told about one request. Borrowed for the adapter state's lifetime (the
 * provider lives in the config snapshot the exchange holds; the strings in the exchange). */
typedef struct cp_prov_args {
    const cp_provider_t *prov;
    const char *client_model;      /* the request's "model", echoed in answers */
    const char *upstream_model;    /* the routed model name */
    const char *anthropic_version; /* the client's anthropic-version header, or NULL; during start only */
    const char *anthropic_beta;    /* the client's anthropic-beta header, or NULL; during start only */
    cp_caps_t *caps;               /* the server's learned output-token caps */
    enum cp_anth_kind kind;
    unsigned client_stream : 1; /* the client asked for an event stream */
    const char *api_key;        /* the key of the provider's pool picked for this attempt, or NULL */
    const char *cache_key;      /* the session's prompt-cache key (a hash of x-claude-code-session-id,
                                   never the id itself), or NULL: sent where the flavor takes one */
} cp_prov_args_t;

/* One upstream HTTP POST, built by an adapter. Embedded; cp_upreq_free() frees what it holds. */
typedef struct cp_upreq {
    char *url;     /* owned */
    char **hdr;    /* owned: "Name: value" lines */
    size_t nhdr;   /* lines in <hdr> */
    cp_buf_t body; /* owned: the body, written by the adapter straight into this buffer */
    char *note;    /* owned, may be NULL: a debug note about the translation (fields dropped, ...) */
} cp_upreq_t;

/* Appends the header line "<name>: <value>" (copied). */
void cp_upreq_header(cp_upreq_t *r, const char *name, const char *value);

/* Writes <j> (borrowed) as compact JSON into r->body (no intermediate string). Returns CP_OK or CP_ERR
 * (not encodable: invalid UTF-8 in a key). */
int cp_upreq_json_body(cp_upreq_t *r, const json_t *j);

/* Appends the provider's configured extra headers. */
void cp_upreq_extra_headers(cp_upreq_t *r, const cp_provider_t *p);

/* Frees what <r> holds and zeroes it. Accepts an all-zero <r>. */
void cp_upreq_free(cp_upreq_t *r);

/* A whole reply for the client. */
typedef struct cp_prov_reply {
    int status;
    const char *ctype; /* borrowed: a static string, or from the adapter state (valid until free) */
    cp_buf_t body;     /* owned by the reply: cp_buf_free() it */
} cp_prov_reply_t;

typedef struct cp_prov_ops {
    const char *name; /* the responseStyle value that selects it */

    /* True when <p> is a public API of this style that cannot work without a key. */
    int (*key_required)(const cp_provider_t *p);

    /* Builds the per-request state into *<st> (returns new; may stay NULL on CP_ERR) from the
     * validated request <anth> (borrowed; the adapter may set its "model" and change nothing else: a
     * Claude Code request is too big to copy, and the exchange hands the same one to the next candidate
     * of a fallback chain). Returns CP_OK with <req> filled (send it), CP_DECLINED with
     * <reply> filled (answer locally; no upstream), or CP_ERR with <e> (answer the error). */
    int (*start)(const cp_prov_args_t *a, json_t *anth, void **st, cp_upreq_t *req, cp_prov_reply_t *reply,
                 cp_err_t *e);

    /* The upstream's final status and content type (NULL when absent) are known. Returns
     * CP_PROV_STREAM or CP_PROV_COLLECT. */
    int (*head)(void *st, long status, const char *ctype);

    /* Stream mode. stream_begin appends what opens the stream (message_start). stream_feed appends the
     * client's bytes for <n> upstream body bytes and returns CP_OK (go on), CP_PROV_DONE, or CP_ERR
     * (an error event was appended; the reply ends). stream_end: the upstream body ended, cleanly
     * (<e> NULL) or with the transport error <e>; appends the end of the stream or an error event;
     * returns CP_OK when the answer is complete, CP_ERR when it ended with an error event.
     * stream_idle says whether a ping may go out now (no event was cut in half). */
    int (*stream_begin)(void *st, cp_buf_t *out);
    int (*stream_feed)(void *st, const char *p, size_t n, cp_buf_t *out);
    int (*stream_end)(void *st, const cp_err_t *e, cp_buf_t *out);
    int (*stream_idle)(const void *st);

    /* Collect mode: the whole body (<len> bytes, NUL-terminated; an error body may be cut). Returns
     * CP_OK with <reply> filled, CP_ERR with <e> (the Anthropic error to answer), or CP_AGAIN with
     * <req> filled: send that instead (a retry), and call head() again for its answer. */
    int (*finish)(void *st, long status, const char *body, size_t len, cp_prov_reply_t *reply,
                  cp_upreq_t *req, cp_err_t *e);

    /* Debug notes about the answer (values repaired, ...), or NULL. Borrowed until free. */
    const char *(*notes)(const void *st);

    /* The tokens the upstream reported for this request so far (Anthropic's sense: input excludes
     * cached input), for the usage ledger and the limits. Returns 1 when it reported them, 0 when not
     * (no answer yet, an error, or an answer without usage). <st> may be NULL (a local answer). */
    int (*usage)(const void *st, cp_anth_usage_t *out);

    void (*free)(void *st); /* accepts NULL */
} cp_prov_ops_t;

/* The adapter of provider <p> (by its style). Never NULL. */
const cp_prov_ops_t *cp_prov_ops(const cp_provider_t *p);

/* Parses a responseStyle value. Returns CP_OK, or CP_ERR for an unknown one. */
int cp_prov_style_parse(const char *name, enum cp_style *out);

/* Writes "\"openai\" or \"anthropic\"" (every style) into <buf>, for error messages. */
void cp_prov_style_names(char *buf, size_t n);

/* True when a header named <name> likely carries a credential: Authorization, Proxy-Authorization,
 * Cookie, or a name containing key, token, secret, password, auth or session (case-insensitive). */
int cp_prov_header_secret(const char *name);

#define CP_PROV_SECRETS_MAX 64 /* secrets of one provider that are scrubbed */

/* The secrets of <p>: every key of its pool, its secret-looking header values and the credential after
 * "Bearer " or "Basic " in them. Writes up to <max> borrowed pointers (valid while <p> lives) to <out>;
 * returns how many. */
size_t cp_prov_secrets(const cp_provider_t *p, const char **out, size_t max);

/* Replaces in <b> every occurrence of <p>'s key and of its secret-looking header values (and the
 * credential after "Bearer "/"Basic ") by "[redacted]": what an upstream echoes back never reaches the
 * client. cp_prov_scrub_err does the same on an error's message. */
void cp_prov_scrub(const cp_provider_t *p, cp_buf_t *b);
void cp_prov_scrub_err(const cp_provider_t *p, cp_err_t *e);

/* True when provider <p> is a public API that cannot work without a key (its host is known). */
int cp_prov_key_required(const cp_provider_t *p);

#endif
