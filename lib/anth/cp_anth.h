/* lib/anth/cp_anth.h: the Anthropic side of the wire: request parsing and validation, the error
 * envelope, and status -> error.type (docs/protocol-notes.md, "Anthropic Messages requests" and
 * "Anthropic errors"). Pure: no I/O. */
#ifndef CP_ANTH_H
#define CP_ANTH_H

#include <stddef.h>

#include <jansson.h>

#include "cp_common.h"

/* Longest "model" accepted, in bytes, plus one: the route and the exchange keep the name in buffers of
 * this size (CP_ROUTE_MODEL_MAX in lib/base/cp_route.h), so a longer one is refused rather than cut. */
#define CP_ANTH_MODEL_MAX 256

enum cp_anth_kind {
    CP_ANTH_MESSAGES = 0, /* POST /v1/messages */
    CP_ANTH_COUNT_TOKENS, /* POST /v1/messages/count_tokens: no max_tokens, no stream */
};

/* Parses a request body. Returns new (a JSON object), or NULL with a 400 invalid_request_error in
 * <e> (invalid JSON with line and column, or not an object). Duplicate keys are rejected. */
json_t *cp_anth_parse(const char *buf, size_t len, cp_err_t *e);

/* Checks the fields a Messages or count_tokens request must have and their types, in the API's own
 * words ("max_tokens: Field required"); "model" may have up to CP_ANTH_MODEL_MAX - 1 bytes. Unknown
 * fields are left alone (they are the adapters' business). Returns CP_OK, or CP_ERR with a 400
 * invalid_request_error in <e>. Borrows <body>. */
int cp_anth_validate(const json_t *body, enum cp_anth_kind kind, cp_err_t *e);

/* The Anthropic error.type for an HTTP status (docs/protocol-notes.md, "Anthropic errors"): 400
 * invalid_request_error, 401 authentication_error, 402 billing_error, 403 permission_error, 404
 * not_found_error, 409 conflict_error, 413 request_too_large, 429 rate_limit_error, 504 timeout_error,
 * 529 and 503 overloaded_error, other 4xx invalid_request_error, other 5xx api_error. */
const char *cp_anth_error_type(int status);

/* Returns new: {"type":"error","error":{"type":T,"message":M},"request_id":R} as compact JSON text.
 * <type> NULL means cp_anth_error_type(<status>); <req_id> may be NULL (null in the body). */
char *cp_anth_error_json(int status, const char *type, const char *msg, const char *req_id);

#endif
