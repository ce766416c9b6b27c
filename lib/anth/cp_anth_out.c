/* lib/anth/cp_anth_out.c: see cp_anth_out.h.
 *
 * Both forms are written as text straight into the caller's buffer, with no JSON tree per event:
 * SSE frames are "event: X\ndata: {...}\n\n"; the Message is opened by message_start, grows one
 * content block at a time, and is closed by message_delta (which carries stop_reason and usage).
 * The key order matches what the Messages API sends. */
#include "cp_anth_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_anth.h"

void cp_anth_out_init(cp_anth_out_t *o, enum cp_anth_out_mode mode)
{
    memset(o, 0, sizeof(*o));
    o->mode = (unsigned char)mode;
}

static int out_sse(const cp_anth_out_t *o)
{
    return o->mode == CP_ANTH_OUT_SSE;
}

/* Starts "event: <type>\ndata: {"type":"<type>"" (the caller adds fields, out_end closes). No printf:
 * this runs for every event of every stream. */
static int out_begin(cp_buf_t *b, const char *type)
{
    size_t n = strlen(type);

    return CP_BUF_LIT(b, "event: ") | cp_buf_add(b, type, n) | CP_BUF_LIT(b, "\ndata: {\"type\":\"") |
           cp_buf_add(b, type, n) | cp_buf_addc(b, '"');
}

/* Appends ,"index":<i> */
static int out_index(cp_buf_t *b, unsigned i)
{
    return CP_BUF_LIT(b, ",\"index\":") | cp_buf_add_int(b, i);
}

static int out_end(cp_buf_t *b)
{
    return CP_BUF_LIT(b, "}\n\n");
}

static int out_usage(cp_buf_t *b, const cp_anth_usage_t *u, int start)
{
    static const cp_anth_usage_t zero = {0, 0, 0, 0};

    if (u == NULL)
        u = &zero;
    if (start) /* message_start: output not known yet; cache fields in the API's order */
        return cp_buf_addf(
            b,
            "\"usage\":{\"input_tokens\":%lld,\"output_tokens\":0,\"cache_creation_input_tokens\":"
            "%lld,\"cache_read_input_tokens\":%lld}",
            u->input, u->cache_write, u->cache_read);
    return cp_buf_addf(
        b,
        "\"usage\":{\"input_tokens\":%lld,\"output_tokens\":%lld,\"cache_read_input_tokens\":%lld,"
        "\"cache_creation_input_tokens\":%lld}",
        u->input, u->output, u->cache_read, u->cache_write);
}

int cp_anth_out_message_start(cp_anth_out_t *o, cp_buf_t *b, const char *id, const char *model,
                              const cp_anth_usage_t *u)
{
    int rc = CP_OK;

    o->started = 1;
    if (out_sse(o)) {
        rc |= out_begin(b, "message_start");
        rc |= CP_BUF_LIT(b, ",\"message\":{\"id\":\"");
    } else {
        rc |= CP_BUF_LIT(b, "{\"id\":\"");
    }
    rc |= cp_buf_add_jstr(b, id, strlen(id));
    rc |= CP_BUF_LIT(b, "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"");
    rc |= cp_buf_add_jstr(b, model, strlen(model));
    if (!out_sse(o)) {
        rc |= CP_BUF_LIT(b, "\",\"content\":[");
        return rc == CP_OK ? CP_OK : CP_ERR;
    }
    rc |= CP_BUF_LIT(b, "\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,");
    rc |= out_usage(b, u, 1);
    rc |= CP_BUF_LIT(b, "}");
    rc |= out_end(b);
    return rc == CP_OK ? CP_OK : CP_ERR;
}

/* The block as content_block_start announces it, or as the Message's block opens. */
static int out_block_head(cp_buf_t *b, enum cp_anth_blk kind, const char *id, const char *name, int sse)
{
    int rc = CP_OK;

    switch (kind) {
    case CP_ANTH_BLK_THINKING:
        return CP_BUF_LIT(b, "{\"type\":\"thinking\",\"thinking\":\"") |
               (sse ? CP_BUF_LIT(b, "\",\"signature\":\"\"}") : CP_OK);
    case CP_ANTH_BLK_TOOL_USE:
        rc |= CP_BUF_LIT(b, "{\"type\":\"tool_use\",\"id\":\"");
        rc |= cp_buf_add_jstr(b, id != NULL ? id : "", id != NULL ? strlen(id) : 0);
        rc |= CP_BUF_LIT(b, "\",\"name\":\"");
        rc |= cp_buf_add_jstr(b, name != NULL ? name : "", name != NULL ? strlen(name) : 0);
        rc |= sse ? CP_BUF_LIT(b, "\",\"input\":{}}") : CP_BUF_LIT(b, "\",\"input\":");
        return rc;
    default:
        return CP_BUF_LIT(b, "{\"type\":\"text\",\"text\":\"") | (sse ? CP_BUF_LIT(b, "\"}") : CP_OK);
    }
}

int cp_anth_out_block_start(cp_anth_out_t *o, cp_buf_t *b, unsigned index, enum cp_anth_blk kind,
                            const char *id, const char *name)
{
    int rc = CP_OK;

    o->open = 1;
    o->kind = (unsigned char)kind;
    o->wrote_input = o->wrote_sig = 0;
    if (out_sse(o)) {
        rc |= out_begin(b, "content_block_start");
        rc |= out_index(b, index);
        rc |= CP_BUF_LIT(b, ",\"content_block\":");
        rc |= out_block_head(b, kind, id, name, 1);
        rc |= out_end(b);
    } else {
        if (o->blocks > 0)
            rc |= cp_buf_addc(b, ',');
        rc |= out_block_head(b, kind, id, name, 0);
    }
    o->blocks++;
    return rc == CP_OK ? CP_OK : CP_ERR;
}

int cp_anth_out_delta(cp_anth_out_t *o, cp_buf_t *b, unsigned index, enum cp_anth_delta kind, const char *s,
                      size_t n)
{
    static const char *const sse_head[] = {
        [CP_ANTH_D_TEXT] = "\"text_delta\",\"text\":\"",
        [CP_ANTH_D_THINKING] = "\"thinking_delta\",\"thinking\":\"",
        [CP_ANTH_D_SIGNATURE] = "\"signature_delta\",\"signature\":\"",
        [CP_ANTH_D_JSON] = "\"input_json_delta\",\"partial_json\":\"",
    };
    int rc = CP_OK;

    if (s == NULL)
        s = "";
    if (out_sse(o)) {
        rc |= out_begin(b, "content_block_delta");
        rc |= out_index(b, index);
        rc |= CP_BUF_LIT(b, ",\"delta\":{\"type\":");
        rc |= cp_buf_adds(b, sse_head[kind]);
        rc |= cp_buf_add_jstr(b, s, n);
        rc |= CP_BUF_LIT(b, "\"}");
        rc |= out_end(b);
        return rc == CP_OK ? CP_OK : CP_ERR;
    }
    switch (kind) {
    case CP_ANTH_D_JSON: /* the fragments of one JSON object, written as they are */
        o->wrote_input = o->wrote_input || n > 0;
        return cp_buf_add(b, s, n);
    case CP_ANTH_D_SIGNATURE:
        o->wrote_sig = 1;
        rc |= CP_BUF_LIT(b, "\",\"signature\":\"");
        rc |= cp_buf_add_jstr(b, s, n);
        return rc == CP_OK ? CP_OK : CP_ERR;
    default:
        return cp_buf_add_jstr(b, s, n);
    }
}

int cp_anth_out_block_stop(cp_anth_out_t *o, cp_buf_t *b, unsigned index)
{
    int rc = CP_OK;

    o->open = 0;
    if (out_sse(o)) {
        rc |= out_begin(b, "content_block_stop");
        rc |= out_index(b, index);
        rc |= out_end(b);
        return rc == CP_OK ? CP_OK : CP_ERR;
    }
    switch (o->kind) {
    case CP_ANTH_BLK_THINKING:
        rc |= o->wrote_sig ? CP_BUF_LIT(b, "\"}") : CP_BUF_LIT(b, "\",\"signature\":\"\"}");
        break;
    case CP_ANTH_BLK_TOOL_USE:
        rc |= o->wrote_input ? CP_BUF_LIT(b, "}") : CP_BUF_LIT(b, "{}}");
        break;
    default:
        rc |= CP_BUF_LIT(b, "\"}");
        break;
    }
    return rc == CP_OK ? CP_OK : CP_ERR;
}

static int out_stop_fields(cp_buf_t *b, const char *stop_reason, const char *stop_seq)
{
    int rc = CP_OK;

    rc |= cp_buf_addf(b, "\"stop_reason\":\"%s\",\"stop_sequence\":", stop_reason);
    if (stop_seq != NULL) {
        rc |= cp_buf_addc(b, '"');
        rc |= cp_buf_add_jstr(b, stop_seq, strlen(stop_seq));
        rc |= cp_buf_addc(b, '"');
    } else {
        rc |= CP_BUF_LIT(b, "null");
    }
    return rc;
}

int cp_anth_out_message_delta(cp_anth_out_t *o, cp_buf_t *b, const char *stop_reason, const char *stop_seq,
                              const cp_anth_usage_t *u)
{
    int rc = CP_OK;

    if (out_sse(o)) {
        rc |= out_begin(b, "message_delta");
        rc |= CP_BUF_LIT(b, ",\"delta\":{");
        rc |= out_stop_fields(b, stop_reason, stop_seq);
        rc |= CP_BUF_LIT(b, "},");
        rc |= out_usage(b, u, 0);
        rc |= out_end(b);
        return rc == CP_OK ? CP_OK : CP_ERR;
    }
    rc |= CP_BUF_LIT(b, "],");
    rc |= out_stop_fields(b, stop_reason, stop_seq);
    rc |= cp_buf_addf(
        b,
        ",\"usage\":{\"input_tokens\":%lld,\"output_tokens\":%lld,\"cache_creation_input_tokens\":%lld,"
        "\"cache_read_input_tokens\":%lld}}",
        u->input, u->output, u->cache_write, u->cache_read);
    return rc == CP_OK ? CP_OK : CP_ERR;
}

int cp_anth_out_message_stop(cp_anth_out_t *o, cp_buf_t *b)
{
    o->ended = 1;
    if (!out_sse(o))
        return CP_OK;
    return out_begin(b, "message_stop") | out_end(b) ? CP_ERR : CP_OK;
}

int cp_anth_out_error(cp_anth_out_t *o, cp_buf_t *b, const cp_err_t *e)
{
    char *j;
    int rc;

    o->ended = 1;
    if (!out_sse(o))
        return CP_OK;
    j = cp_anth_error_json(e->http_status, e->type, e->msg, NULL);
    rc = cp_buf_addf(b, "event: error\ndata: %s\n\n", j);
    free(j);
    return rc;
}

/* ---- a whole Anthropic Message as its event stream ------------------------------------------------ */

/* Appends "event: <name>\ndata: <json>\n\n". Takes <data>. */
static int msg_event(cp_buf_t *b, const char *name, json_t *data)
{
    char *s = data != NULL ? json_dumps(data, JSON_COMPACT) : NULL;
    int rc;

    json_decref(data);
    if (s == NULL)
        return CP_ERR;
    rc = cp_buf_addf(b, "event: %s\ndata: %s\n\n", name, s);
    free(s);
    return rc;
}

/* The delta event(s) that carry block <blk> (borrowed) at <index>, after its start event. */
static int msg_block_deltas(cp_buf_t *b, size_t index, const json_t *blk)
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
        if (msg_event(b, "content_block_delta",
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
    return msg_event(
        b, "content_block_delta",
        json_pack("{s:s,s:I,s:o}", "type", "content_block_delta", "index", (json_int_t)index, "delta", d));
}

/* The block as announced by content_block_start: text/thinking empty, tool input {}. Returns new. */
static json_t *msg_block_start(const json_t *blk)
{
    const char *type = json_string_value(json_object_get(blk, "type"));
    json_t *s = json_deep_copy(blk); /* owned */

    if (type == NULL || s == NULL)
        return s;
    if (strcmp(type, "text") == 0) {
        json_object_set_new(s, "text", json_string(""));
    } else if (strcmp(type, "thinking") == 0) {
        json_object_set_new(s, "thinking", json_string(""));
        json_object_set_new(s, "signature", json_string(""));
    } else if (strcmp(type, "tool_use") == 0 || strcmp(type, "server_tool_use") == 0) {
        json_object_set_new(s, "input", json_object());
    }
    return s;
}

int cp_anth_out_message_events(cp_buf_t *b, const json_t *msg)
{
    json_t *content = json_object_get(msg, "content"); /* borrowed */
    json_t *usage = json_object_get(msg, "usage");     /* borrowed */
    json_t *head, *blk;                                /* head owned; blk borrowed */
    json_t *start_usage;                               /* owned */
    size_t i;

    head = json_deep_copy(msg);
    json_object_set_new(head, "content", json_array());
    json_object_set_new(head, "stop_reason", json_null());
    json_object_set_new(head, "stop_sequence", json_null());
    start_usage = json_is_object(usage) ? json_deep_copy(usage) : json_object();
    json_object_set_new(start_usage, "output_tokens", json_integer(0));
    json_object_set_new(head, "usage", start_usage);
    if (msg_event(b, "message_start", json_pack("{s:s,s:o}", "type", "message_start", "message", head)) !=
        CP_OK)
        return CP_ERR;
    json_array_foreach(content, i, blk)
    {
        if (msg_event(b, "content_block_start",
                      json_pack("{s:s,s:I,s:o}", "type", "content_block_start", "index", (json_int_t)i,
                                "content_block", msg_block_start(blk))) != CP_OK ||
            msg_block_deltas(b, i, blk) != CP_OK ||
            msg_event(b, "content_block_stop",
                      json_pack("{s:s,s:I}", "type", "content_block_stop", "index", (json_int_t)i)) != CP_OK)
            return CP_ERR;
    }
    if (msg_event(
            b, "message_delta",
            json_pack("{s:s,s:{s:O,s:O},s:o}", "type", "message_delta", "delta", "stop_reason",
                      json_object_get(msg, "stop_reason") ? json_object_get(msg, "stop_reason") : json_null(),
                      "stop_sequence",
                      json_object_get(msg, "stop_sequence") ? json_object_get(msg, "stop_sequence")
                                                            : json_null(),
                      "usage", json_is_object(usage) ? json_incref(usage) : json_object())) != CP_OK)
        return CP_ERR;
    return msg_event(b, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}
