/* lib/prov/openai/cp_oai_req.c: see cp_oai_req.h.
 *
 * One oai_req_t carries the state of one translation: the messages being built, the tool-name map,
 * and the sent name of every tool call (Gemini wants it again on the tool message that answers the
 * call). Each Anthropic block kind has its own small function; what differs between servers is read
 * from the flavor row (o->fl), never from its name. Nothing is logged here. */
#include "cp_oai_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cp_buf.h"
#include "cp_json.h"
#include "cp_oai_schema.h"

#define OAI_BAD  "invalid_request_error"
#define OAI_JOIN "\n\n"

static const char *oai_pname(const cp_oai_opts_t *o)
{
    return o != NULL && o->provider != NULL ? o->provider : "upstream";
}

typedef struct oai_req {
    const cp_oai_opts_t *o;
    cp_oai_names_t *names; /* owned until handed to the caller */
    json_t *msgs;          /* owned: the messages being built */
    json_t *call_names;    /* owned: tool_use id -> sent name, for Gemini's tool messages */
    cp_err_t *e;
} oai_req_t;

/* 400 for a feature whose loss would change the answer; <what> is a plural noun phrase. */
static int oai_unsupported(oai_req_t *r, const char *path, const char *what)
{
    return cp_err_set(r->e, 400, OAI_BAD, "%s: %s are not supported by provider %s (OpenAI-compatible API)",
                      path, what, oai_pname(r->o));
}

static void oai_text_part(json_t *parts, const char *s, size_t n)
{
    if (n > 0)
        json_array_append_new(parts,
                              json_pack("{s:s,s:o}", "type", "text", "text", json_stringn_nocheck(s, n)));
}

static int oai_image_part(oai_req_t *r, const json_t *b, const char *path, json_t *parts)
{
    const json_t *src = json_object_get(b, "source"); /* borrowed from b */
    const json_t *st = json_object_get(src, "type");  /* borrowed from src */
    const char *mt = json_string_value(json_object_get(src, "media_type"));
    const char *data = json_string_value(json_object_get(src, "data"));
    json_t *url = NULL; /* owned */

    if (cp_json_streq(st, "base64") && mt != NULL && data != NULL) {
        char *s = cp_xasprintf("data:%s;base64,%s", mt, data);
        url = json_string(s);
        free(s);
    } else if (cp_json_streq(st, "url") && json_is_string(json_object_get(src, "url"))) {
        url = json_deep_copy(json_object_get(src, "url"));
    } else if (cp_json_streq(st, "file")) {
        return oai_unsupported(r, path, "image file sources (Files API file_id)");
    } else {
        return cp_err_set(r->e, 400, OAI_BAD, "%s.source: unsupported image source", path);
    }
    if (url == NULL)
        return cp_err_set(r->e, 400, OAI_BAD, "%s.source: invalid image source", path);
    json_array_append_new(parts, json_pack("{s:s,s:{s:o}}", "type", "image_url", "image_url", "url", url));
    return CP_OK;
}

static int oai_block_parts(oai_req_t *r, const json_t *b, const char *path, json_t *parts);

/* document: text -> one text part (title and context first); content -> its parts; base64 PDF ->
 * a file part toward OpenAI; anything else -> 400. */
static int oai_document_parts(oai_req_t *r, const json_t *b, const char *path, json_t *parts)
{
    const json_t *src = json_object_get(b, "source");     /* borrowed from b */
    const json_t *st = json_object_get(src, "type");      /* borrowed from src */
    const json_t *title = json_object_get(b, "title");    /* borrowed from b */
    const json_t *data = json_object_get(src, "data");    /* borrowed from src */
    const json_t *cont = json_object_get(src, "content"); /* borrowed from src */
    cp_buf_t t = CP_BUF_INIT;
    int rc = CP_OK;

    cp_json_join(&t, OAI_JOIN, title);
    cp_json_join(&t, OAI_JOIN, json_object_get(b, "context"));
    if (cp_json_streq(st, "text") || (cp_json_streq(st, "content") && json_is_string(cont))) {
        cp_json_join(&t, OAI_JOIN, cp_json_streq(st, "text") ? data : cont);
        oai_text_part(parts, t.p, t.len);
    } else if (cp_json_streq(st, "content") && json_is_array(cont)) {
        size_t i;
        json_t *cb; /* borrowed from cont */
        char p[256];

        oai_text_part(parts, t.p, t.len);
        json_array_foreach(cont, i, cb)
        {
            snprintf(p, sizeof(p), "%s.source.content.%zu", path, i);
            if ((rc = oai_block_parts(r, cb, p, parts)) != CP_OK)
                break;
        }
    } else if (cp_json_streq(st, "base64") &&
               cp_json_streq(json_object_get(src, "media_type"), "application/pdf") && json_is_string(data)) {
        const char *tt = json_string_value(title);
        char *fname, *url;

        if (!r->o->fl->pdf) {
            rc = oai_unsupported(r, path, "PDF documents");
        } else {
            size_t tl = tt != NULL ? strlen(tt) : 0;
            fname = tl == 0                                          ? cp_xstrdup("document.pdf")
                    : tl > 4 && strcasecmp(tt + tl - 4, ".pdf") == 0 ? cp_xstrdup(tt)
                                                                     : cp_xasprintf("%s.pdf", tt);
            url = cp_xasprintf("data:application/pdf;base64,%s", json_string_value(data));
            json_array_append_new(parts, json_pack("{s:s,s:{s:s,s:s}}", "type", "file", "file", "filename",
                                                   fname, "file_data", url));
            free(fname);
            free(url);
        }
    } else if (cp_json_streq(st, "url")) {
        rc = oai_unsupported(r, path, "document URL sources");
    } else if (cp_json_streq(st, "file")) {
        rc = oai_unsupported(r, path, "document file sources (Files API file_id)");
    } else {
        rc = cp_err_set(r->e, 400, OAI_BAD, "%s.source: unsupported document source", path);
    }
    cp_buf_free(&t);
    return rc;
}

/* Appends to <parts> the Chat Completions content parts for the user-side block <b> (text, image,
 * document, search_result). Other blocks add nothing. Returns CP_OK, or CP_ERR with a 400 in r->e
 * for a source the provider cannot take; <path> names the block in that message. */
static int oai_block_parts(oai_req_t *r, const json_t *b, const char *path, json_t *parts)
{
    const json_t *type = json_object_get(b, "type"); /* borrowed from b */
    const json_t *text = json_object_get(b, "text"); /* borrowed from b */

    if (cp_json_streq(type, "text") && json_is_string(text)) {
        oai_text_part(parts, json_string_value(text), json_string_length(text));
    } else if (cp_json_streq(type, "image")) {
        return oai_image_part(r, b, path, parts);
    } else if (cp_json_streq(type, "document")) {
        return oai_document_parts(r, b, path, parts);
    } else if (cp_json_streq(type, "search_result")) {
        cp_buf_t t = CP_BUF_INIT;
        size_t i;
        json_t *cb; /* borrowed from b */

        cp_json_join(&t, OAI_JOIN, json_object_get(b, "title"));
        cp_json_join(&t, OAI_JOIN, json_object_get(b, "source"));
        json_array_foreach(json_object_get(b, "content"), i, cb)
        {
            cp_json_join(&t, OAI_JOIN, json_object_get(cb, "text"));
        }
        oai_text_part(parts, t.p, t.len);
        cp_buf_free(&t);
    }
    return CP_OK;
}

/* Returns new: <parts> as a message content: one string when every part is text, else the array. */
static json_t *oai_content(json_t *parts)
{
    cp_buf_t t = CP_BUF_INIT;
    size_t i;
    json_t *p, *res; /* borrowed from parts; owned */

    json_array_foreach(parts, i, p)
    {
        if (!cp_json_streq(json_object_get(p, "type"), "text"))
            return json_incref(parts);
    }
    json_array_foreach(parts, i, p)
    {
        cp_json_join(&t, OAI_JOIN, json_object_get(p, "text"));
    }
    res = cp_json_of_buf(&t);
    cp_buf_free(&t);
    return res;
}

/* Emits the tool message for the tool_result <b>; its images/PDFs go to <moved>. */
static int oai_tool_result(oai_req_t *r, const json_t *b, const char *path, json_t *moved)
{
    const json_t *id = json_object_get(b, "tool_use_id"); /* borrowed from b */
    const json_t *c = json_object_get(b, "content");      /* borrowed from b */
    json_t *att = json_array();                           /* owned: non-text parts */
    json_t *msg = NULL;                                   /* owned */
    cp_buf_t t = CP_BUF_INIT, out = CP_BUF_INIT;
    int rc = CP_ERR;

    if (!json_is_string(id)) {
        cp_err_set(r->e, 400, OAI_BAD, "%s.tool_use_id: Field required", path);
        goto out;
    }
    if (json_is_string(c)) {
        cp_json_join(&t, OAI_JOIN, c);
    } else if (json_is_array(c)) {
        size_t i, j;
        json_t *cb, *p; /* borrowed */
        char pp[256];

        json_array_foreach(c, i, cb)
        {
            json_t *parts = json_array(); /* owned */

            snprintf(pp, sizeof(pp), "%s.content.%zu", path, i);
            if (oai_block_parts(r, cb, pp, parts) != CP_OK) {
                json_decref(parts);
                goto out;
            }
            json_array_foreach(parts, j, p)
            {
                if (cp_json_streq(json_object_get(p, "type"), "text"))
                    cp_json_join(&t, OAI_JOIN, json_object_get(p, "text"));
                else
                    json_array_append(att, p);
            }
            json_decref(parts);
        }
    }
    if (json_is_true(json_object_get(b, "is_error")))
        cp_buf_add(&out, t.len > 0 ? "Error: " : "Error", t.len > 0 ? 7 : 5);
    if (t.len > 0)
        cp_buf_add(&out, t.p, t.len);
    if (json_array_size(att) > 0) {
        char note[96];
        int n = snprintf(
            note, sizeof(note), "(%zu attachment%s of this result follow%s in the next user message)",
            json_array_size(att), json_array_size(att) == 1 ? "" : "s", json_array_size(att) == 1 ? "s" : "");
        cp_buf_join(&out, OAI_JOIN, note, (size_t)n);
    }
    msg = json_pack("{s:s,s:O,s:o}", "role", "tool", "tool_call_id", id, "content", cp_json_of_buf(&out));
    if (r->o->fl->tool_name) {
        json_t *nm = json_object_get(r->call_names, json_string_value(id)); /* borrowed */
        if (nm != NULL)
            json_object_set(msg, "name", nm);
    }
    json_array_append(r->msgs, msg);
    if (json_array_size(att) > 0) {
        char *intro = cp_xasprintf("Attachments from the result of tool call %s:", json_string_value(id));
        oai_text_part(moved, intro, strlen(intro));
        free(intro);
        json_array_extend(moved, att);
    }
    rc = CP_OK;
out:
    cp_buf_free(&t);
    cp_buf_free(&out);
    json_decref(att);
    json_decref(msg);
    return rc;
}

/* A user turn: tool messages first (answering the previous assistant's calls), then one user
 * message with what tool results could not carry followed by the user's own content. */
static int oai_user(oai_req_t *r, const json_t *content, size_t mi)
{
    json_t *parts = json_array(); /* owned: the user's own parts */
    json_t *moved = json_array(); /* owned: attachments out of tool results, then parts */
    size_t i;
    json_t *b; /* borrowed from content */
    char path[96];
    int rc = CP_ERR;

    if (json_is_string(content))
        oai_text_part(parts, json_string_value(content), json_string_length(content));
    json_array_foreach(content, i, b)
    {
        snprintf(path, sizeof(path), "messages.%zu.content.%zu", mi, i);
        if (cp_json_streq(json_object_get(b, "type"), "tool_result")) {
            if (oai_tool_result(r, b, path, moved) != CP_OK)
                goto out;
        } else if (oai_block_parts(r, b, path, parts) != CP_OK) {
            goto out;
        }
    }
    json_array_extend(moved, parts);
    if (json_array_size(moved) > 0)
        json_array_append_new(r->msgs, json_pack("{s:s,s:o}", "role", "user", "content", oai_content(moved)));
    rc = CP_OK;
out:
    json_decref(parts);
    json_decref(moved);
    return rc;
}

/* A system prompt (top-level or a role:"system" message): text blocks joined; empty -> nothing. */
static void oai_system(oai_req_t *r, const json_t *content)
{
    cp_buf_t t = CP_BUF_INIT;
    size_t i;
    json_t *b; /* borrowed from content */

    cp_json_join(&t, OAI_JOIN, content);
    json_array_foreach(content, i, b)
    {
        if (cp_json_streq(json_object_get(b, "type"), "text"))
            cp_json_join(&t, OAI_JOIN, json_object_get(b, "text"));
    }
    if (t.len > 0)
        json_array_append_new(r->msgs,
                              json_pack("{s:s,s:o}", "role", "system", "content", cp_json_of_buf(&t)));
    cp_buf_free(&t);
}

static int oai_has_real(const json_t *v)
{
    size_t i;
    const char *k;
    json_t *x; /* borrowed from v */

    if (json_is_real(v))
        return 1;
    json_array_foreach(v, i, x)
    {
        if (oai_has_real(x))
            return 1;
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x)
        {
            if (oai_has_real(x))
                return 1;
        }
    }
    return 0;
}

/* Returns new: compact JSON text of the tool input <v>. Reals get the shortest of 15 or 17
 * significant digits that reads back to the same value, so 0.1 stays "0.1" in the model's history. */
static char *oai_args(const json_t *v)
{
    char *s;

    if (v == NULL || json_is_null(v))
        return cp_xstrdup("{}");
    if (oai_has_real(v)) {
        json_t *back; /* owned */

        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
        /* not CP_JSON_PARSE: reading every integer as a real would make json_equal() fail */
        back = s != NULL ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
        if (back != NULL && json_equal(back, v)) {
            json_decref(back);
            return s;
        }
        json_decref(back);
        free(s);
    }
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return s != NULL ? s : cp_xstrdup("{}");
}

static int oai_assistant(oai_req_t *r, const json_t *content, size_t mi)
{
    cp_buf_t text = CP_BUF_INIT, think = CP_BUF_INIT;
    json_t *calls = json_array();   /* owned */
    json_t *details = json_array(); /* owned: OpenRouter reasoning_details */
    json_t *msg = NULL;             /* owned */
    size_t i;
    json_t *b; /* borrowed from content */
    char path[96];
    int rc = CP_ERR;

    cp_json_join(&text, OAI_JOIN, content);
    json_array_foreach(content, i, b)
    {
        const json_t *type = json_object_get(b, "type"); /* borrowed from b */

        snprintf(path, sizeof(path), "messages.%zu.content.%zu", mi, i);
        if (cp_json_streq(type, "text")) {
            cp_json_join(&text, OAI_JOIN, json_object_get(b, "text"));
        } else if (cp_json_streq(type, "tool_use")) {
            const json_t *id = json_object_get(b, "id"); /* borrowed from b */
            const char *name = json_string_value(json_object_get(b, "name"));
            const char *sent;
            char *args;

            if (!json_is_string(id) || name == NULL) {
                cp_err_set(r->e, 400, OAI_BAD, "%s.%s: Field required", path, name == NULL ? "name" : "id");
                goto out;
            }
            sent = cp_oai_name_sent(r->names, name);
            args = oai_args(json_object_get(b, "input"));
            json_array_append_new(calls, json_pack("{s:O,s:s,s:{s:s,s:s}}", "id", id, "type", "function",
                                                   "function", "name", sent, "arguments", args));
            json_object_set_new(r->call_names, json_string_value(id), json_string(sent));
            free(args);
        } else if (cp_json_streq(type, "thinking")) {
            const json_t *th = json_object_get(b, "thinking");   /* borrowed from b */
            const json_t *sig = json_object_get(b, "signature"); /* borrowed from b */
            json_t *d;                                           /* owned */

            if (!json_is_string(th) || json_string_length(th) == 0)
                continue;
            cp_json_join(&think, OAI_JOIN, th);
            d = json_pack("{s:s,s:O}", "type", "reasoning.text", "text", th);
            if (json_is_string(sig) && json_string_length(sig) > 0)
                json_object_set_new(d, "signature", json_deep_copy(sig));
            json_array_append_new(details, d);
        }
        /* redacted_thinking, server-tool blocks, anything else: meaningful to Anthropic only */
    }
    if (text.len > 0 || json_array_size(calls) > 0) {
        msg = json_pack("{s:s,s:o}", "role", "assistant", "content",
                        text.len > 0 ? cp_json_of_buf(&text) : json_null());
        if (json_array_size(calls) > 0)
            json_object_set(msg, "tool_calls", calls);
        if (r->o->fl->history == CP_OAI_HIST_CONTENT && json_array_size(calls) > 0 && think.len > 0)
            json_object_set_new(msg, "reasoning_content", cp_json_of_buf(&think));
        if (r->o->fl->history == CP_OAI_HIST_DETAILS && json_array_size(details) > 0)
            json_object_set(msg, "reasoning_details", details);
        json_array_append(r->msgs, msg);
    }
    rc = CP_OK;
out:
    cp_buf_free(&text);
    cp_buf_free(&think);
    json_decref(calls);
    json_decref(details);
    json_decref(msg);
    return rc;
}

/* Sets *out (returns new) to the function tools, or NULL when there are none. */
static int oai_tools(oai_req_t *r, const json_t *tools, json_t **out)
{
    json_t *arr = json_array(); /* owned */
    size_t i;
    json_t *t; /* borrowed from tools */
    char path[64];
    int rc = CP_ERR;

    *out = NULL;
    json_array_foreach(tools, i, t)
    {
        const json_t *type = json_object_get(t, "type");           /* borrowed from t */
        const json_t *desc = json_object_get(t, "description");    /* borrowed from t */
        const json_t *schema = json_object_get(t, "input_schema"); /* borrowed from t */
        const json_t *strict = json_object_get(t, "strict");       /* borrowed from t */
        const char *name = json_string_value(json_object_get(t, "name"));
        json_t *fn; /* owned */

        snprintf(path, sizeof(path), "tools.%zu", i);
        if (json_is_string(type) && !cp_json_streq(type, "custom")) {
            cp_err_set(r->e, 400, OAI_BAD,
                       "%s: Anthropic server tool \"%s\" (type %s) is not supported by provider %s "
                       "(OpenAI-compatible API)",
                       path, name != NULL ? name : "", json_string_value(type), oai_pname(r->o));
            goto out;
        }
        if (name == NULL) {
            cp_err_set(r->e, 400, OAI_BAD, "%s.name: Field required", path);
            goto out;
        }
        fn = json_pack("{s:s}", "name", cp_oai_name_sent(r->names, name));
        if (json_is_string(desc) && json_string_length(desc) > 0)
            json_object_set_new(fn, "description", json_deep_copy(desc));
        if (json_is_object(schema) && r->o->fl->schema_subset) {
            json_t *clean = cp_oai_gemini_schema(schema);     /* owned */
            if (json_object_get(clean, "properties") != NULL) /* else: a tool without arguments */
                json_object_set(fn, "parameters", clean);
            json_decref(clean);
        } else if (json_is_object(schema)) {
            json_object_set_new(fn, "parameters", json_deep_copy(schema));
        }
        if (json_is_boolean(strict) && r->o->fl->strict)
            json_object_set_new(fn, "strict", json_boolean(json_is_true(strict)));
        json_array_append_new(arr, json_pack("{s:s,s:o}", "type", "function", "function", fn));
    }
    if (json_array_size(arr) > 0)
        *out = json_incref(arr);
    rc = CP_OK;
out:
    json_decref(arr);
    return rc;
}

static int oai_tool_choice(oai_req_t *r, const json_t *tc, json_t *body)
{
    const json_t *type = json_object_get(tc, "type"); /* borrowed from tc */
    const char *name = json_string_value(json_object_get(tc, "name"));

    if (cp_json_streq(type, "auto")) {
        json_object_set_new(body, "tool_choice", json_string("auto"));
    } else if (cp_json_streq(type, "any")) {
        json_object_set_new(body, "tool_choice", json_string("required"));
    } else if (cp_json_streq(type, "none")) {
        json_object_set_new(body, "tool_choice", json_string("none"));
        return CP_OK;
    } else if (cp_json_streq(type, "tool")) {
        if (name == NULL)
            return cp_err_set(r->e, 400, OAI_BAD, "tool_choice.name: Field required");
        json_object_set_new(body, "tool_choice",
                            json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name",
                                      cp_oai_name_sent(r->names, name)));
    }
    if (json_is_true(json_object_get(tc, "disable_parallel_tool_use")) && r->o->fl->parallel)
        json_object_set_new(body, "parallel_tool_calls", json_false());
    return CP_OK;
}

/* Anthropic effort -> the value <f> accepts (NULL: unknown, send nothing). */
static const char *oai_effort(const char *e, const cp_oai_flavor_t *f)
{
    if (e == NULL)
        return NULL;
    if (strcmp(e, "low") == 0 || strcmp(e, "medium") == 0 || strcmp(e, "high") == 0)
        return strcmp(e, "low") == 0 ? "low" : strcmp(e, "medium") == 0 ? "medium" : "high";
    if (strcmp(e, "xhigh") == 0 || strcmp(e, "max") == 0)
        return f->effort_xhigh ? "xhigh" : "high";
    return NULL;
}

/* thinking / output_config.effort -> reasoning_effort, or OpenRouter's reasoning object. */
static void oai_reasoning(const json_t *anth, const cp_oai_opts_t *o, json_t *body)
{
    const json_t *th = json_object_get(anth, "thinking");        /* borrowed */
    const json_t *budget = json_object_get(th, "budget_tokens"); /* borrowed */
    const json_t *type = json_object_get(th, "type");            /* borrowed */
    const char *eff = oai_effort(
        json_string_value(json_object_get(json_object_get(anth, "output_config"), "effort")), o->fl);
    json_t *rs = NULL; /* owned: the reasoning object (CP_OAI_RS_OBJECT) */
    const char *effort = NULL;
    int obj = o->fl->reasoning == CP_OAI_RS_OBJECT;

    if (!o->reasoning_effort)
        return;
    if (cp_json_streq(type, "disabled")) {
        if (!o->fl->effort_none)
            return;
        effort = "none";
        if (obj)
            rs = json_pack("{s:s}", "effort", effort);
    } else if (cp_json_streq(type, "enabled") && json_is_integer(budget)) {
        json_int_t n = json_integer_value(budget);
        effort = n < 4096 ? "low" : n < 16384 ? "medium" : "high";
        if (obj)
            rs = json_pack("{s:I}", "max_tokens", n);
    } else if (eff != NULL) {
        effort = eff;
        if (obj)
            rs = json_pack("{s:s}", "effort", effort);
    } else if (obj && (cp_json_streq(type, "adaptive") || cp_json_streq(type, "enabled"))) {
        rs = json_pack("{s:b}", "enabled", 1);
    }
    if (obj) {
        if (rs != NULL && !cp_json_streq(type, "disabled") &&
            cp_json_streq(json_object_get(th, "display"), "omitted"))
            json_object_set_new(rs, "exclude", json_true());
        if (rs != NULL)
            json_object_set_new(body, "reasoning", rs);
    } else if (effort != NULL) {
        json_object_set_new(body, "reasoning_effort", json_string(effort));
    }
}

static int oai_stop(oai_req_t *r, const json_t *seqs, json_t *body)
{
    json_t *stop = json_array(); /* owned */
    size_t i, max = r->o->fl->stop_max > 0 ? r->o->fl->stop_max : (size_t)-1;
    json_t *s; /* borrowed from seqs */

    json_array_foreach(seqs, i, s)
    {
        if (json_is_string(s) && json_string_length(s) > 0 && json_array_size(stop) < max)
            json_array_append_new(stop, json_deep_copy(s));
    }
    if (json_array_size(stop) > 0 && !r->o->fl->stop_reasoning && r->o->reasoning_model) {
        json_decref(stop);
        return cp_err_set(r->e, 400, OAI_BAD,
                          "stop_sequences: provider %s does not accept stop sequences for reasoning models",
                          oai_pname(r->o));
    }
    if (json_array_size(stop) > 0)
        json_object_set_new(body, "stop", stop);
    else
        json_decref(stop);
    return CP_OK;
}

/* The messages: system first, then each turn in order (tool messages right after the assistant
 * turn they answer). Also refuses mcp_servers and builds the tools into *<tools> (returns new, NULL
 * when there are none), since the messages need the tool names settled. */
static int oai_messages(oai_req_t *r, const json_t *anth, json_t **tools)
{
    const json_t *mcp = json_object_get(anth, "mcp_servers"); /* borrowed from anth */
    size_t i;
    json_t *m; /* borrowed from anth */

    if (json_array_size(mcp) > 0 || json_object_size(mcp) > 0)
        return oai_unsupported(r, "mcp_servers", "MCP connector servers (mcp_servers)");
    if (oai_tools(r, json_object_get(anth, "tools"), tools) != CP_OK)
        return CP_ERR;
    oai_system(r, json_object_get(anth, "system"));
    json_array_foreach(json_object_get(anth, "messages"), i, m)
    {
        const json_t *role = json_object_get(m, "role");       /* borrowed from m */
        const json_t *content = json_object_get(m, "content"); /* borrowed from m */
        int rc = CP_OK;

        if (cp_json_streq(role, "system"))
            oai_system(r, content);
        else if (cp_json_streq(role, "assistant"))
            rc = oai_assistant(r, content, i);
        else if (cp_json_streq(role, "user"))
            rc = oai_user(r, content, i);
        if (rc != CP_OK)
            return CP_ERR;
    }
    if (json_array_size(r->msgs) == 0)
        return cp_err_set(r->e, 400, OAI_BAD,
                          "messages: at least one message with non-empty content is required");
    return CP_OK;
}

/* model, messages, tools and tool_choice. <tools> is borrowed (may be NULL). */
static int oai_body_head(oai_req_t *r, const json_t *anth, const char *model, json_t *tools, json_t *body)
{
    const json_t *tc = json_object_get(anth, "tool_choice"); /* borrowed from anth */

    json_object_set_new(body, "model", json_string(model != NULL ? model : ""));
    json_object_set(body, "messages", r->msgs);
    if (tools == NULL) /* tool_choice and parallel_tool_calls without tools are rejected upstream */
        return CP_OK;
    json_object_set(body, "tools", tools);
    return json_is_object(tc) ? oai_tool_choice(r, tc, body) : CP_OK;
}

/* Reasoning models take only the default temperature and top_p (1); others are left out. */
static void oai_sampling_one(const oai_req_t *r, const json_t *anth, const char *key, json_t *body)
{
    const json_t *v = json_object_get(anth, key); /* borrowed from anth */

    if (json_is_number(v) && (!r->o->reasoning_model || json_number_value(v) == 1.0))
        json_object_set_new(body, key, json_deep_copy(v));
}

/* The output-token limit, temperature, top_p, stop and the reasoning request. */
static int oai_sampling(oai_req_t *r, const json_t *anth, json_t *body)
{
    const json_t *v = json_object_get(anth, "max_tokens"); /* borrowed from anth */

    /* max_tokens 0 is Anthropic's cache pre-warm; 1 is the smallest limit upstreams accept */
    if (json_is_integer(v))
        json_object_set_new(body, r->o->max_completion ? "max_completion_tokens" : "max_tokens",
                            json_integer(json_integer_value(v) > 0 ? json_integer_value(v) : 1));
    oai_sampling_one(r, anth, "temperature", body);
    oai_sampling_one(r, anth, "top_p", body);
    if (oai_stop(r, json_object_get(anth, "stop_sequences"), body) != CP_OK)
        return CP_ERR;
    oai_reasoning(anth, r->o, body);
    return CP_OK;
}

/* output_config.format json_schema -> response_format (the schema reduced where the flavor says). */
static void oai_output_format(const oai_req_t *r, const json_t *anth, json_t *body)
{
    const json_t *fmt = json_object_get(json_object_get(anth, "output_config"), "format"); /* borrowed */
    const json_t *sc = json_object_get(fmt, "schema"); /* borrowed from anth */

    if (!cp_json_streq(json_object_get(fmt, "type"), "json_schema") || !json_is_object(sc))
        return;
    json_object_set_new(
        body, "response_format",
        json_pack("{s:s,s:{s:s,s:o,s:b}}", "type", "json_schema", "json_schema", "name", "output", "schema",
                  r->o->fl->schema_subset ? cp_oai_gemini_schema(sc) : json_deep_copy(sc), "strict", 1));
}

/* metadata.user_id -> "user". A longer id than 64 bytes (Claude Code sends a JSON string) becomes
 * its hex SHA-256: 64 characters, and still stable per user, which is what the field is for. */
static void oai_user_field(const oai_req_t *r, const json_t *anth, json_t *body)
{
    const json_t *v = json_object_get(json_object_get(anth, "metadata"), "user_id"); /* borrowed */
    char hex[65];

    if (!json_is_string(v) || json_string_length(v) == 0 || !r->o->fl->user)
        return;
    if (json_string_length(v) <= 64) {
        json_object_set_new(body, "user", json_deep_copy(v));
        return;
    }
    cp_sha256_hex(json_string_value(v), json_string_length(v), hex);
    json_object_set_new(body, "user", json_string(hex));
}

/* stream, and when streaming stream_options.include_usage: without it OpenAI-style servers send no
 * usage in a stream, and the final message_delta must carry it. */
static void oai_stream(const json_t *anth, json_t *body)
{
    const json_t *v = json_object_get(anth, "stream"); /* borrowed from anth */

    if (json_is_boolean(v))
        json_object_set_new(body, "stream", json_boolean(json_is_true(v)));
    if (json_is_true(v))
        json_object_set_new(body, "stream_options", json_pack("{s:b}", "include_usage", 1));
}

json_t *cp_oai_request(const json_t *anth, const char *upstream_model, const cp_oai_opts_t *o,
                       cp_oai_names_t **names, cp_err_t *e)
{
    oai_req_t r = {o, cp_oai_names_new(), json_array(), json_object(), e};
    json_t *body = json_object(); /* owned */
    json_t *tools = NULL;         /* owned */
    json_t *res = NULL;           /* owned; returned */

    *names = NULL;
    cp_oai_names_reserve(r.names, anth);
    if (oai_messages(&r, anth, &tools) != CP_OK ||
        oai_body_head(&r, anth, upstream_model, tools, body) != CP_OK ||
        oai_sampling(&r, anth, body) != CP_OK)
        goto out;
    oai_output_format(&r, anth, body);
    oai_user_field(&r, anth, body);
    oai_stream(anth, body);
    res = body;
    body = NULL;
    *names = r.names;
    r.names = NULL;
out:
    json_decref(body);
    json_decref(tools);
    json_decref(r.msgs);
    json_decref(r.call_names);
    cp_oai_names_free(r.names);
    return res;
}

void cp_oai_request_dropped(const json_t *anth, char *buf, size_t n)
{
    static const char *const mapped[] = {
        "model", "max_tokens", "messages", "system",      "stop_sequences", "stream",       "temperature",
        "top_p", "metadata",   "tools",    "tool_choice", "thinking",       "output_config"};
    size_t len = 0;
    const char *k;
    json_t *v; /* borrowed */

    if (n == 0)
        return;
    buf[0] = '\0';
    json_object_foreach((json_t *)anth, k, v)
    {
        size_t i;
        for (i = 0; i < sizeof(mapped) / sizeof(mapped[0]) && strcmp(k, mapped[i]) != 0; i++)
            ;
        if (i == sizeof(mapped) / sizeof(mapped[0]) && len < n)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? "," : "", k);
    }
}

int cp_oai_request_cap(json_t *body, long cap)
{
    const char *name = "max_completion_tokens";
    json_t *v = json_object_get(body, name); /* borrowed */

    if (v == NULL) {
        name = "max_tokens";
        v = json_object_get(body, name);
    }
    if (!json_is_integer(v) || cap <= 0 || json_integer_value(v) <= cap)
        return 0;
    json_object_set_new(body, name, json_integer(cap));
    return 1;
}

long cp_oai_cap_named(const char *body)
{
    static const char *const after[] = {
        "supports at most ", "valid range of max_tokens is [1, ",  "must be less than or equal to ",
        "must be at most ",  "maximum value for `max_tokens` is ", "max_tokens must be <= "};
    const char *p;

    if (body == NULL ||
        (strstr(body, "max_tokens") == NULL && strstr(body, "max_completion_tokens") == NULL &&
         strstr(body, "completion tokens") == NULL && strstr(body, "output tokens") == NULL))
        return 0;
    for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++)
        if ((p = strstr(body, after[i])) != NULL) {
            long n = strtol(p + strlen(after[i]), NULL, 10);
            if (n > 0)
                return n;
        }
    return 0;
}
