/* lib/cp_anth.c: see cp_anth.h. */
#include "cp_anth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANTH_BAD "invalid_request_error"

json_t *cp_anth_parse(const char *buf, size_t len, cp_err_t *e)
{
    json_error_t jerr;
    json_t *root; /* owned */

    if (len == 0) {
        cp_err_set(e, 400, ANTH_BAD, "Request body is empty; expected a JSON object");
        return NULL;
    }
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
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

/* Appends "event: <name>\ndata: <json>\n\n" to <b>. Takes <data>. Returns CP_OK or CP_ERR. */
static int anth_event(char **b, size_t *len, size_t *cap, const char *name, json_t *data)
{
    char *s = data ? json_dumps(data, JSON_COMPACT) : NULL;
    size_t need;

    json_decref(data);
    if (s == NULL)
        return CP_ERR;
    need = *len + strlen(name) + strlen(s) + 20;
    if (need > *cap) {
        *cap = need * 2;
        *b = cp_xrealloc(*b, *cap);
    }
    *len += (size_t)snprintf(*b + *len, *cap - *len, "event: %s\ndata: %s\n\n", name, s);
    free(s);
    return CP_OK;
}

/* The delta event(s) that carry block <blk> (borrowed) at <index>, after its start event. */
static int anth_block_deltas(char **b, size_t *len, size_t *cap, size_t index, const json_t *blk)
{
    const char *type = json_string_value(json_object_get(blk, "type"));
    json_t *d = NULL; /* owned until emitted */

    if (type == NULL)
        return CP_OK;
    if (strcmp(type, "text") == 0) {
        d = json_pack("{s:s,s:s?}", "type", "text_delta", "text",
                      json_string_value(json_object_get(blk, "text")));
    } else if (strcmp(type, "thinking") == 0) {
        const char *sig = json_string_value(json_object_get(blk, "signature"));
        if (anth_event(b, len, cap, "content_block_delta",
                       json_pack("{s:s,s:I,s:{s:s,s:s?}}", "type", "content_block_delta", "index",
                                 (json_int_t)index, "delta", "type", "thinking_delta", "thinking",
                                 json_string_value(json_object_get(blk, "thinking")))) != CP_OK)
            return CP_ERR;
        d = json_pack("{s:s,s:s}", "type", "signature_delta", "signature", sig ? sig : "");
    } else if (strcmp(type, "tool_use") == 0 || strcmp(type, "server_tool_use") == 0) {
        json_t *in = json_object_get(blk, "input"); /* borrowed */
        char *js = in ? json_dumps(in, JSON_COMPACT) : cp_xstrdup("{}");
        if (js == NULL)
            return CP_ERR;
        d = json_pack("{s:s,s:s}", "type", "input_json_delta", "partial_json", js);
        free(js);
    } else {
        return CP_OK; /* other blocks travel whole in their start event */
    }
    return anth_event(
        b, len, cap, "content_block_delta",
        json_pack("{s:s,s:I,s:o}", "type", "content_block_delta", "index", (json_int_t)index, "delta", d));
}

/* The block as announced by content_block_start: text/thinking empty, tool input {}. Returns new. */
static json_t *anth_block_start(const json_t *blk)
{
    const char *type = json_string_value(json_object_get(blk, "type"));
    json_t *s = json_deep_copy(blk); /* owned */

    if (type == NULL || s == NULL)
        return s;
    if (strcmp(type, "text") == 0)
        json_object_set_new(s, "text", json_string(""));
    else if (strcmp(type, "thinking") == 0) {
        json_object_set_new(s, "thinking", json_string(""));
        json_object_set_new(s, "signature", json_string(""));
    } else if (strcmp(type, "tool_use") == 0 || strcmp(type, "server_tool_use") == 0)
        json_object_set_new(s, "input", json_object());
    return s;
}

char *cp_anth_message_sse(const json_t *msg)
{
    size_t len = 0, cap = 1024, i;
    char *b = cp_xmalloc(cap);
    json_t *content = json_object_get(msg, "content"); /* borrowed */
    json_t *usage = json_object_get(msg, "usage");     /* borrowed */
    json_t *head, *blk;                                /* head owned; blk borrowed */
    json_t *start_usage;                               /* owned */

    b[0] = '\0';
    head = json_deep_copy(msg);
    json_object_set_new(head, "content", json_array());
    json_object_set_new(head, "stop_reason", json_null());
    json_object_set_new(head, "stop_sequence", json_null());
    start_usage = json_is_object(usage) ? json_deep_copy(usage) : json_object();
    json_object_set_new(start_usage, "output_tokens", json_integer(0));
    json_object_set_new(head, "usage", start_usage);
    if (anth_event(&b, &len, &cap, "message_start",
                   json_pack("{s:s,s:o}", "type", "message_start", "message", head)) != CP_OK)
        goto fail;
    json_array_foreach(content, i, blk)
    {
        if (anth_event(&b, &len, &cap, "content_block_start",
                       json_pack("{s:s,s:I,s:o}", "type", "content_block_start", "index", (json_int_t)i,
                                 "content_block", anth_block_start(blk))) != CP_OK ||
            anth_block_deltas(&b, &len, &cap, i, blk) != CP_OK ||
            anth_event(&b, &len, &cap, "content_block_stop",
                       json_pack("{s:s,s:I}", "type", "content_block_stop", "index", (json_int_t)i)) != CP_OK)
            goto fail;
    }
    if (anth_event(
            &b, &len, &cap, "message_delta",
            json_pack("{s:s,s:{s:O,s:O},s:o}", "type", "message_delta", "delta", "stop_reason",
                      json_object_get(msg, "stop_reason") ? json_object_get(msg, "stop_reason") : json_null(),
                      "stop_sequence",
                      json_object_get(msg, "stop_sequence") ? json_object_get(msg, "stop_sequence")
                                                            : json_null(),
                      "usage", json_is_object(usage) ? json_incref(usage) : json_object())) != CP_OK ||
        anth_event(&b, &len, &cap, "message_stop", json_pack("{s:s}", "type", "message_stop")) != CP_OK)
        goto fail;
    return b;
fail:
    free(b);
    return NULL;
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
