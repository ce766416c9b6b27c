/* lib/prov/openai/cp_oai_blocks.c: the response translator's output side: content blocks (thinking,
 * text, tool_use) opened, filled and closed in an order every client accepts, and tool calls
 * reassembled from their fragments (docs/protocol-notes.md, "Answers (OpenAI-style -> Anthropic)").
 * State in cp_oai_resp_int.h; the input side is cp_oai_resp.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_json.h"
#include "cp_oai_resp_int.h"

/* ---- helpers ---- */

const char *cp_oair_prov(const cp_oai_resp_t *s)
{
    return s->o != NULL && s->o->provider != NULL ? s->o->provider : "upstream";
}

int cp_oair_blank(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!cp_jsonck_ws(t[i]))
            return 0;
    return 1;
}

/* Length of the longest prefix of <s> of at most <max> bytes that does not cut a UTF-8 sequence. */
int cp_oair_cut(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n <= max)
        return (int)n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return (int)max;
}

/* The client's name of call <c>, for messages. */
const char *cp_oair_call_name(const cp_oai_resp_t *s, const so_call_t *c)
{
    return c->name != NULL ? cp_oai_names_original(s->names, c->name) : "(unnamed)";
}

/* Records a debug note (the first few only). */
void cp_oair_note(cp_oai_resp_t *s, const char *what)
{
    if (s->notes.len < 512)
        cp_buf_join(&s->notes, "; ", what, strlen(what));
}

/* Ends the answer with the error <e>. Returns CP_ERR. */
int cp_oair_fail_e(cp_oai_resp_t *s, const cp_err_t *e)
{
    if (s->finished)
        return CP_ERR;
    s->finished = 1;
    s->ok = 0;
    s->err = cp_xmalloc(sizeof(*s->err));
    *s->err = *e;
    cp_oair_note(s, e->msg);
    if (s->err->type == NULL)
        s->err->type = "api_error";
    if (s->err->http_status == 0)
        s->err->http_status = 502;
    cp_anth_out_error(&s->w, s->out, s->err);
    return CP_ERR;
}

int cp_oair_fail(cp_oai_resp_t *s, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int cp_oair_fail(cp_oai_resp_t *s, int status, const char *type, const char *fmt, ...)
{
    cp_err_t e = {0};
    va_list ap;

    e.http_status = status;
    e.type = type;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    return cp_oair_fail_e(s, &e);
}

/* ---- blocks ---- */

static enum cp_anth_delta so_delta_kind(unsigned char kind)
{
    return kind == SO_THINK ? CP_ANTH_D_THINKING : kind == SO_TEXT ? CP_ANTH_D_TEXT : CP_ANTH_D_JSON;
}

/* A delta of the open block carrying <a> then <b> (either may be empty). */
static int so_delta(cp_oai_resp_t *s, const char *a, size_t an, const char *b, size_t bn)
{
    enum cp_anth_delta k = so_delta_kind(s->open_kind);

    if (bn == 0)
        return cp_anth_out_delta(&s->w, s->out, s->open_index, k, a, an);
    if (an == 0)
        return cp_anth_out_delta(&s->w, s->out, s->open_index, k, b, bn);
    {
        cp_buf_t j = CP_BUF_INIT;
        int rc;

        cp_buf_add(&j, a, an);
        cp_buf_add(&j, b, bn);
        rc = cp_anth_out_delta(&s->w, s->out, s->open_index, k, j.p, j.len);
        cp_buf_free(&j);
        return rc;
    }
}

int cp_oair_begin(cp_oai_resp_t *s)
{
    if (s->begun)
        return CP_OK;
    if (s->finished)
        return CP_ERR;
    s->begun = 1;
    cp_rand_id("msg_", s->msg_id, sizeof(s->msg_id));
    {
        cp_anth_usage_t u0 = {s->in_est, 0, 0, 0};
        return cp_anth_out_message_start(&s->w, s->out, s->msg_id, s->model, &u0);
    }
}

/* Opens a block of <kind> (tool blocks: for call <c>). */
static int so_start(cp_oai_resp_t *s, enum so_kind kind, so_call_t *c)
{
    s->open_kind = (unsigned char)kind;
    s->open_index = s->next_index++;
    if (s->hold_kind != kind)
        cp_buf_free(&s->hold);
    if (kind == SO_THINK)
        return cp_anth_out_block_start(&s->w, s->out, s->open_index, CP_ANTH_BLK_THINKING, NULL, NULL);
    if (kind == SO_TEXT)
        return cp_anth_out_block_start(&s->w, s->out, s->open_index, CP_ANTH_BLK_TEXT, NULL, NULL);
    if (c->id == NULL) {
        char id[40];
        cp_rand_id("toolu_", id, sizeof(id));
        c->id = cp_xstrdup(id);
    }
    s->tools_sent = 1;
    return cp_anth_out_block_start(&s->w, s->out, s->open_index, CP_ANTH_BLK_TOOL_USE, c->id,
                                   cp_oai_names_original(s->names, c->name));
}

/* The open call's arguments stopped before forming a whole object. */
static int so_tool_incomplete(cp_oai_resp_t *s, const so_call_t *c)
{
    const char *name = cp_oair_call_name(s, c);

    if (s->fin == FIN_LENGTH)
        return cp_oair_fail(
            s, 502, "api_error",
            "provider %s reached its output token limit in the middle of the arguments for tool "
            "\"%.*s\"",
            cp_oair_prov(s), cp_oair_cut(name, 100), name);
    return cp_oair_fail(
        s, 502, "api_error",
        "provider %s returned arguments for tool \"%.*s\" that are not valid JSON (incomplete)",
        cp_oair_prov(s), cp_oair_cut(name, 100), name);
}

/* Closes the open block, if any. A tool block must hold a whole object by now. */
int cp_oair_close(cp_oai_resp_t *s)
{
    so_call_t *c;

    switch (s->open_kind) {
    case SO_NONE:
        return CP_OK;
    case SO_THINK: {
        const char *sig = s->sig != NULL ? s->sig : "";
        int rc = cp_anth_out_delta(&s->w, s->out, s->open_index, CP_ANTH_D_SIGNATURE, sig, strlen(sig));
        free(s->sig);
        s->sig = NULL;
        if (rc != CP_OK)
            return CP_ERR;
        break;
    }
    case SO_TOOL:
        c = &s->calls[s->open_call];
        if (!cp_jsonck_started(&c->tj)) { /* no arguments: {} */
            cp_jsonck_feed(&c->tj, "{}", 2, &c->js);
            if (so_delta(s, c->js.p, c->js.len, NULL, 0) != CP_OK)
                return CP_ERR;
        } else if (!cp_jsonck_done(&c->tj)) {
            return so_tool_incomplete(s, c);
        }
        c->st = CALL_CLOSED;
        cp_buf_free(&c->js);
        break;
    default:
        break;
    }
    s->open_kind = SO_NONE;
    return cp_anth_out_block_stop(&s->w, s->out, s->open_index);
}

/* Text (<kind> SO_TEXT) or reasoning (SO_THINK). */
int cp_oair_text(cp_oai_resp_t *s, enum so_kind kind, const char *t, size_t n)
{
    int rc;

    if (n == 0)
        return CP_OK;
    if (s->open_kind == kind)
        return so_delta(s, t, n, NULL, 0);
    if (cp_oair_blank(t, n)) { /* no block for blank text: keep it in case text follows */
        if (s->hold_kind != kind) {
            cp_buf_free(&s->hold);
            s->hold_kind = (unsigned char)kind;
        }
        if (s->hold.len + n <= SO_HOLD_MAX)
            cp_buf_add(&s->hold, t, n);
        return CP_OK;
    }
    if (s->open_kind == SO_TOOL) {
        const so_call_t *c = &s->calls[s->open_call];

        if (cp_jsonck_started(&c->tj) && !cp_jsonck_done(&c->tj)) {
            const char *name = cp_oair_call_name(s, c);
            return cp_oair_fail(
                s, 502, "api_error", "provider %s sent %s in the middle of the arguments for tool \"%.*s\"",
                cp_oair_prov(s), kind == SO_TEXT ? "text" : "reasoning", cp_oair_cut(name, 100), name);
        }
    }
    if (cp_oair_close(s) != CP_OK || so_start(s, kind, NULL) != CP_OK)
        return CP_ERR;
    rc = so_delta(s, s->hold.p, s->hold.len, t, n);
    cp_buf_free(&s->hold);
    return rc;
}

/* ---- tool calls ---- */

int cp_oair_tag_flush(cp_oai_resp_t *s);

static int so_bad_args(cp_oai_resp_t *s, const so_call_t *c, int why)
{
    const char *name = cp_oair_call_name(s, c);
    const char *what = why == CP_JSONCK_NOT_OBJECT ? "that are not a JSON object"
                       : why == CP_JSONCK_DEEP     ? "nested too deeply"
                                                   : "that are not valid JSON";

    return cp_oair_fail(s, 502, "api_error", "provider %s returned arguments for tool \"%.*s\" %s",
                        cp_oair_prov(s), cp_oair_cut(name, 100), name, what);
}

/* Sends what call <c> has checked but not sent, if its block is open. */
static int so_call_push(cp_oai_resp_t *s, so_call_t *c)
{
    if (c->st != CALL_OPEN || c->js.len == 0)
        return CP_OK;
    c->sent = 1;
    if (so_delta(s, c->js.p, c->js.len, NULL, 0) != CP_OK)
        return CP_ERR;
    c->js.len = 0;
    return CP_OK;
}

/* Appends argument text to call <c>. */
static int so_args(cp_oai_resp_t *s, so_call_t *c, const char *t, size_t n)
{
    size_t before = c->js.len;
    int why = cp_jsonck_feed(&c->tj, t, n, &c->js);

    if (why != CP_JSONCK_OK)
        return so_bad_args(s, c, why);
    if (c->st == CALL_WAIT) {
        s->parked += c->js.len - before;
        if (s->parked > SO_PARKED_MAX)
            return cp_oair_fail(s, 502, "api_error",
                                "provider %s sent more than %zu MiB of tool arguments to hold",
                                cp_oair_prov(s), SO_PARKED_MAX >> 20);
        return CP_OK;
    }
    if (c->st == CALL_CLOSED) { /* only whitespace got through the checker: nothing to send */
        c->js.len = 0;
        return CP_OK;
    }
    return so_call_push(s, c);
}

/* Replaces the arguments of call <c> by the object <obj> (some servers send the object itself). */
static int so_args_object(cp_oai_resp_t *s, so_call_t *c, const json_t *obj)
{
    char *t;
    int rc;

    if (c->sent || c->st == CALL_CLOSED) {
        const char *name = cp_oair_call_name(s, c);
        return cp_oair_fail(s, 502, "api_error",
                            "provider %s sent the arguments for tool \"%.*s\" again after they were streamed",
                            cp_oair_prov(s), cp_oair_cut(name, 100), name);
    }
    if (c->st == CALL_WAIT)
        s->parked -= c->js.len;
    c->js.len = 0;
    memset(&c->tj, 0, sizeof(c->tj));
    t = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (t == NULL)
        return cp_oair_fail(s, 500, "api_error", "cannot encode tool arguments");
    rc = so_args(s, c, t, strlen(t));
    free(t);
    return rc;
}

/* Index of the waiting call to send next: the smallest key, then the oldest. <named>: only calls
 * whose name is known. Returns -1 when there is none. */
static long so_next_waiting(const cp_oai_resp_t *s, int named)
{
    long best = -1;

    for (size_t i = 0; i < s->ncalls; i++) {
        const so_call_t *c = &s->calls[i];
        if (c->st != CALL_WAIT || (named && c->name == NULL))
            continue;
        if (best < 0 || c->key < s->calls[best].key)
            best = (long)i;
    }
    return best;
}

static int so_open_call(cp_oai_resp_t *s, size_t ci)
{
    so_call_t *c = &s->calls[ci];

    if (cp_oair_close(s) != CP_OK)
        return CP_ERR;
    s->parked -= c->js.len;
    c->st = CALL_OPEN;
    s->open_call = ci;
    if (so_start(s, SO_TOOL, c) != CP_OK)
        return CP_ERR;
    return so_call_push(s, c);
}

/* Starts waiting calls while the block slot allows: a tool block stays open until its object is
 * complete (its call might still get arguments: blocks cannot be reopened). */
int cp_oair_advance(cp_oai_resp_t *s)
{
    long w;

    while ((w = so_next_waiting(s, 1)) >= 0) {
        if (s->open_kind == SO_TOOL && !cp_jsonck_done(&s->calls[s->open_call].tj))
            return CP_OK;
        if (so_open_call(s, (size_t)w) != CP_OK)
            return CP_ERR;
    }
    return CP_OK;
}

/* The answer's content is over (for now): close the open block, send every waiting call whole. */
int cp_oair_settle(cp_oai_resp_t *s)
{
    long w;

    if (cp_oair_tag_flush(s) != CP_OK)
        return CP_ERR;
    cp_buf_free(&s->hold);
    if (cp_oair_close(s) != CP_OK)
        return CP_ERR;
    while ((w = so_next_waiting(s, 0)) >= 0) {
        so_call_t *c = &s->calls[w];

        if (c->name == NULL) {
            if (!cp_jsonck_started(&c->tj)) { /* an entry with nothing in it: no call at all */
                c->st = CALL_CLOSED;
                continue;
            }
            return cp_oair_fail(s, 502, "api_error",
                                "provider %s returned a tool call without a function name", cp_oair_prov(s));
        }
        if (so_open_call(s, (size_t)w) != CP_OK || cp_oair_close(s) != CP_OK)
            return CP_ERR;
    }
    return CP_OK;
}

/* Copies the upstream id <id> with characters outside [A-Za-z0-9_-] replaced by '_'. */
static void so_safe_id(const char *id, char out[SO_ID_MAX + 1])
{
    size_t k = 0;

    for (; id[k] != '\0' && k < SO_ID_MAX; k++) {
        char ch = id[k];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '-';
        out[k] = ok ? ch : '_';
    }
    out[k] = '\0';
}

/* Finds the call a tool_calls entry belongs to (see the top of the file). Returns -1 for a new call. */
static long so_find_call(const cp_oai_resp_t *s, const json_t *jidx, const char *id, const char *name,
                         int has_args, size_t pos)
{
    long i;

    if (json_is_integer(jidx)) {
        long long k = (long long)json_integer_value(jidx);

        for (i = (long)s->ncalls - 1; i >= 0; i--)
            if (s->calls[i].indexed && s->calls[i].key == k)
                break;
        if (i >= 0) {
            const so_call_t *c = &s->calls[i];
            if ((id != NULL && c->id_up && strcmp(c->id, id) != 0) ||
                (name != NULL && c->name != NULL && strcmp(c->name, name) != 0) ||
                ((id != NULL || name != NULL) && has_args && cp_jsonck_done(&c->tj)))
                return -1;
        }
        return i;
    }
    if (id != NULL) {
        for (i = (long)s->ncalls - 1; i >= 0; i--)
            if (s->calls[i].id_up && strcmp(s->calls[i].id, id) == 0)
                return i;
        return -1;
    }
    if (name != NULL)
        return -1;
    for (i = (long)s->ncalls - 1; i >= 0; i--)
        if (!s->calls[i].indexed && s->calls[i].pos == pos)
            return i;
    return (long)s->ncalls - 1;
}

/* One entry of delta.tool_calls (<tc>, with <fn> its function object) at position <pos>; <base> is the
 * number of calls before this chunk. */
int cp_oair_tool(cp_oai_resp_t *s, const json_t *tc, const json_t *fn, size_t pos, size_t base)
{
    const json_t *jidx = json_object_get(tc, "index");     /* borrowed from tc */
    const json_t *args = json_object_get(fn, "arguments"); /* borrowed from fn */
    const char *id = cp_json_str(json_object_get(tc, "id"), NULL);
    const char *name = cp_json_str(json_object_get(fn, "name"), NULL);
    char idbuf[SO_ID_MAX + 1];
    int has_args = json_is_object(args) || (json_is_string(args) && !cp_oair_blank(json_string_value(args),
                                                                                   json_string_length(args)));
    long ci;
    so_call_t *c;

    if (id != NULL) {
        so_safe_id(id, idbuf);
        id = idbuf;
    }
    ci = so_find_call(s, jidx, id, name, has_args, pos);
    if (ci < 0) {
        if (s->ncalls >= SO_CALLS_MAX)
            return cp_oair_fail(s, 502, "api_error", "provider %s returned more than %d tool calls",
                                cp_oair_prov(s), SO_CALLS_MAX);
        if (s->ncalls == s->calls_cap) {
            s->calls_cap = s->calls_cap > 0 ? s->calls_cap * 2 : 4;
            s->calls = cp_xrealloc(s->calls, s->calls_cap * sizeof(*s->calls));
        }
        ci = (long)s->ncalls++;
        c = &s->calls[ci];
        memset(c, 0, sizeof(*c));
        c->indexed = json_is_integer(jidx);
        c->key = c->indexed ? (long long)json_integer_value(jidx) : (long long)(base + pos);
        c->pos = pos;
    }
    c = &s->calls[ci];
    if (id != NULL && c->id == NULL) {
        c->id = cp_xstrdup(id);
        c->id_up = 1;
    }
    if (name != NULL && c->name == NULL)
        c->name = cp_xstrdup(name);
    if (json_is_string(args))
        return so_args(s, c, json_string_value(args), json_string_length(args));
    if (json_is_object(args))
        return so_args_object(s, c, args);
    if (args != NULL && !json_is_null(args))
        return so_bad_args(s, c, CP_JSONCK_NOT_OBJECT);
    return CP_OK;
}
