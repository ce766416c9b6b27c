/* lib/anth/cp_anth.c: see cp_anth.h. */
#include "cp_anth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_json.h"

#define ANTH_BAD "invalid_request_error"

json_t *cp_anth_parse(const char *buf, size_t len, cp_err_t *e)
{
    json_error_t jerr;
    json_t *root; /* owned */

    if (len == 0) {
        cp_err_set(e, 400, ANTH_BAD, "Request body is empty; expected a JSON object");
        return NULL;
    }
    /* an integer beyond 64 bits (a router's "seed") is read as a real rather than failing the body;
     * every other integer stays one (max_tokens must be) */
    root = cp_json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        cp_err_set(e, 400, ANTH_BAD, "Request body is not valid JSON: %s (line %d, column %d)", jerr.text,
                   jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        cp_err_set(e, 400, ANTH_BAD, "Request body must be a JSON object");
        return NULL;
    }
    return root;
}

static int anth_bad(cp_err_t *e, const char *path, const char *what)
{
    return cp_err_set(e, 400, ANTH_BAD, "%s: %s", path, what);
}

/* Checks one content block list (<arr>) at <path>. */
static int anth_check_blocks(const json_t *arr, const char *path, cp_err_t *e)
{
    size_t i;
    json_t *b; /* borrowed */
    char p[160];

    json_array_foreach(arr, i, b)
    {
        snprintf(p, sizeof(p), "%s.%zu", path, i);
        if (!json_is_object(b))
            return anth_bad(e, p, "Input should be a valid content block object");
        if (!json_is_string(json_object_get(b, "type"))) {
            snprintf(p, sizeof(p), "%s.%zu.type", path, i);
            return anth_bad(e, p,
                            json_object_get(b, "type") ? "Input should be a valid string" : "Field required");
        }
    }
    return CP_OK;
}

static int anth_check_messages(const json_t *msgs, cp_err_t *e)
{
    size_t i;
    json_t *m; /* borrowed */
    char p[96];

    if (msgs == NULL)
        return anth_bad(e, "messages", "Field required");
    if (!json_is_array(msgs))
        return anth_bad(e, "messages", "Input should be a valid list");
    json_array_foreach(msgs, i, m)
    {
        json_t *role, *content; /* borrowed from m */
        const char *r;

        snprintf(p, sizeof(p), "messages.%zu", i);
        if (!json_is_object(m))
            return anth_bad(e, p, "Input should be a valid message object with role and content");
        role = json_object_get(m, "role");
        content = json_object_get(m, "content");
        r = json_string_value(role);
        snprintf(p, sizeof(p), "messages.%zu.role", i);
        if (role == NULL)
            return anth_bad(e, p, "Field required");
        if (r == NULL || (strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0 && strcmp(r, "system") != 0))
            return anth_bad(e, p, "Input should be 'user', 'assistant' or 'system'");
        snprintf(p, sizeof(p), "messages.%zu.content", i);
        if (content == NULL)
            return anth_bad(e, p, "Field required");
        if (json_is_array(content)) {
            if (anth_check_blocks(content, p, e) != CP_OK)
                return CP_ERR;
        } else if (!json_is_string(content)) {
            return anth_bad(e, p, "Input should be a valid string or list of content blocks");
        }
    }
    return CP_OK;
}

int cp_anth_validate(const json_t *body, enum cp_anth_kind kind, cp_err_t *e)
{
    json_t *v; /* borrowed from body */

    if (!json_is_object(body))
        return cp_err_set(e, 400, ANTH_BAD, "Request body must be a JSON object");
    v = json_object_get(body, "model");
    if (v == NULL)
        return anth_bad(e, "model", "Field required");
    if (!json_is_string(v) || json_string_length(v) == 0)
        return anth_bad(e, "model", "Input should be a non-empty string");
    if (json_string_length(v) >= CP_ANTH_MODEL_MAX) /* cut, it could end inside a UTF-8 character */
        return anth_bad(e, "model", "String should have at most 255 bytes");
    if (kind == CP_ANTH_MESSAGES) {
        v = json_object_get(body, "max_tokens");
        if (v == NULL)
            return anth_bad(e, "max_tokens", "Field required");
        if (!json_is_integer(v))
            return anth_bad(e, "max_tokens", "Input should be a valid integer");
        if (json_integer_value(v) < 0)
            return anth_bad(e, "max_tokens", "Input should be greater than or equal to 0");
        v = json_object_get(body, "stream");
        if (v != NULL && !json_is_boolean(v))
            return anth_bad(e, "stream", "Input should be a valid boolean");
    }
    if (anth_check_messages(json_object_get(body, "messages"), e) != CP_OK)
        return CP_ERR;
    v = json_object_get(body, "system");
    if (v != NULL && !json_is_null(v)) {
        if (json_is_array(v)) {
            if (anth_check_blocks(v, "system", e) != CP_OK)
                return CP_ERR;
        } else if (!json_is_string(v)) {
            return anth_bad(e, "system", "Input should be a valid string or list of text blocks");
        }
    }
    v = json_object_get(body, "tools");
    if (v != NULL && !json_is_null(v)) {
        size_t i;
        json_t *t; /* borrowed */
        char p[64];

        if (!json_is_array(v))
            return anth_bad(e, "tools", "Input should be a valid list");
        json_array_foreach(v, i, t)
        {
            snprintf(p, sizeof(p), "tools.%zu", i);
            if (!json_is_object(t))
                return anth_bad(e, p, "Input should be a valid tool object");
            snprintf(p, sizeof(p), "tools.%zu.name", i);
            if (!json_is_string(json_object_get(t, "name")))
                return anth_bad(
                    e, p, json_object_get(t, "name") ? "Input should be a valid string" : "Field required");
        }
    }
    v = json_object_get(body, "stop_sequences");
    if (v != NULL && !json_is_null(v)) {
        size_t i;
        json_t *s; /* borrowed */

        if (!json_is_array(v))
            return anth_bad(e, "stop_sequences", "Input should be a valid list");
        json_array_foreach(v, i, s) if (!json_is_string(s)) return anth_bad(
            e, "stop_sequences", "Input should be a list of strings");
    }
    if ((v = json_object_get(body, "temperature")) != NULL && !json_is_null(v) && !json_is_number(v))
        return anth_bad(e, "temperature", "Input should be a valid number");
    if ((v = json_object_get(body, "top_p")) != NULL && !json_is_null(v) && !json_is_number(v))
        return anth_bad(e, "top_p", "Input should be a valid number");
    if ((v = json_object_get(body, "top_k")) != NULL && !json_is_null(v) && !json_is_integer(v))
        return anth_bad(e, "top_k", "Input should be a valid integer");
    if ((v = json_object_get(body, "metadata")) != NULL && !json_is_null(v) && !json_is_object(v))
        return anth_bad(e, "metadata", "Input should be a valid object");
    if ((v = json_object_get(body, "tool_choice")) != NULL && !json_is_null(v) && !json_is_object(v))
        return anth_bad(e, "tool_choice", "Input should be a valid object");
    if ((v = json_object_get(body, "thinking")) != NULL && !json_is_null(v) && !json_is_object(v))
        return anth_bad(e, "thinking", "Input should be a valid object");
    return CP_OK;
}

const char *cp_anth_error_type(int status)
{
    switch (status) {
    case 400:
        return ANTH_BAD;
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 409:
        return "conflict_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
    case 529:
        return "overloaded_error";
    case 504:
        return "timeout_error";
    default:
        return status >= 400 && status < 500 ? ANTH_BAD : "api_error";
    }
}

char *cp_anth_error_json(int status, const char *type, const char *msg, const char *req_id)
{
    json_t *o = json_pack("{s:s,s:{s:s,s:s},s:o}", "type", "error", "error", "type",
                          type ? type : cp_anth_error_type(status), "message", msg ? msg : "", "request_id",
                          req_id ? json_string(req_id) : json_null()); /* owned */
    char *s;

    if (o == NULL) /* msg was not valid UTF-8: say so rather than send nothing */
        o = json_pack("{s:s,s:{s:s,s:s},s:n}", "type", "error", "error", "type",
                      type ? type : cp_anth_error_type(status), "message",
                      "(error message was not valid UTF-8)", "request_id");
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}
