/* lib/prov/openai/cp_oai_resp.c: see cp_oai_resp.h.
 *
 * One translator per answer. It owns an SSE parser (or the whole body), a few small strings and one
 * record per tool call; it borrows the names map and the provider options. What it produces goes
 * through the writer (cp_anth_out.h) into the buffer the caller passes to each call; nothing here
 * calls back into anyone, so it can be driven from inside a curl write callback. Upstream bytes are
 * parsed once (cp_sse, then jansson per chunk, or jansson once for a whole body).
 *
 * The rules, with the choices made where the protocols leave room, are in docs/providers.md
 * ("Answers"). The shape of the code:
 *   chunk -> choice -> delta: reasoning (so_reasoning), content (so_content, through the <think>
 *   filter), refusal, tool_calls (so_tool) -> blocks (so_text, so_open_call, so_close) -> the writer;
 *   finish_reason is remembered; usage is remembered from any chunk (the last one wins);
 *   so_finalize writes message_delta + message_stop after the usage chunk, [DONE] or the end.
 * A whole chat.completion is one chunk whose "message" is one big delta: the same rules apply, so a
 * whole answer and the same answer streamed give the same Message.
 *
 * Limits: 1 MiB per upstream SSE event, 32 MiB of plain-JSON body, 8 MiB of tool arguments waiting
 * to be sent, 512 tool calls, nesting 128 deep in tool arguments. Going past one fails the answer. */
#include "cp_oai_resp.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cp_json.h"
#include "cp_jsonck.h"
#include "cp_prov_err.h"
#include "cp_sse.h"

#define SO_EVENT_MAX  ((size_t)1 << 20)  /* largest upstream SSE event */
#define SO_RAW_MAX    ((size_t)32 << 20) /* largest plain-JSON body (a whole answer) */
#define SO_PARKED_MAX ((size_t)8 << 20)  /* tool-argument bytes waiting to be sent, per answer */
#define SO_CALLS_MAX  512                /* tool calls per answer */
#define SO_HOLD_MAX   4096               /* blank text held before a block opens */
#define SO_ID_MAX     128                /* bytes of an upstream tool-call id kept */
#define SO_TAG_MAX    8                  /* bytes of a possible <think> tag held back */
#define SO_COUNT_MAX  9007199254740992.0 /* 2^53: the largest token count believed */

enum so_kind { SO_NONE = 0, SO_THINK, SO_TEXT, SO_TOOL };

enum so_fin {
    FIN_NONE = 0, /* none seen ([DONE] alone: as "stop") */
    FIN_STOP,
    FIN_LENGTH,
    FIN_TOOLS,
    FIN_FILTER,
    FIN_OTHER, /* a value we do not know: end_turn */
};

enum so_mode { MODE_UNKNOWN = 0, MODE_SSE, MODE_RAW };

enum so_call_state { CALL_WAIT = 0, CALL_OPEN, CALL_CLOSED };

/* Where the content channel is with respect to a leading <think>...</think> (DeepSeek-R1 and MiniMax
 * through routers put the reasoning there). */
enum so_tag {
    TAG_START = 0, /* nothing but blanks yet: a "<think>" may still open */
    TAG_IN,        /* inside <think>: content is reasoning */
    TAG_AFTER,     /* just after </think>: leading blanks are dropped */
    TAG_OFF,       /* plain content */
};

typedef struct so_call {
    long long key;        /* upstream index; for index-less calls, their position in the answer */
    char *id;             /* owned: upstream id made safe, or the generated one; NULL until known */
    char *name;           /* owned: the name as the upstream sent it; NULL until known */
    cp_buf_t js;          /* checked argument text not sent yet */
    cp_jsonck_t tj;       /* checker state over all argument text so far */
    size_t pos;           /* position in the tool_calls array of the chunk that started it */
    unsigned char st;     /* enum so_call_state */
    unsigned indexed : 1; /* the upstream gave an index */
    unsigned id_up : 1;   /* <id> came from the upstream */
    unsigned sent : 1;    /* argument bytes were written */
} so_call_t;

struct cp_oai_resp {
    cp_anth_out_t w;             /* the writer */
    cp_buf_t *out;               /* borrowed during each public call: where the writer writes */
    const cp_oai_names_t *names; /* borrowed */
    const cp_oai_opts_t *o;      /* borrowed */
    char *model;                 /* owned: the client's model name */
    int64_t in_est;              /* input-token estimate until usage arrives */
    cp_sse_t *sse;               /* owned */
    cp_buf_t raw;                /* plain-JSON body (MODE_RAW) */
    cp_buf_t hold;               /* blank text of kind <hold_kind> not sent yet */
    cp_buf_t tag;                /* content held while a <think> tag may be forming */
    cp_buf_t notes;              /* debug notes */
    char *stop_seq;              /* owned: vLLM's choices[].stop_reason string */
    char *sig;                   /* owned: reasoning signature (OpenRouter reasoning_details) */
    so_call_t *calls;            /* owned: tool calls in the order they appeared */
    size_t ncalls, calls_cap;
    size_t parked;         /* bytes in the js buffers of waiting calls */
    size_t open_call;      /* index in <calls> of the open tool block */
    unsigned next_index;   /* Anthropic index of the next block */
    unsigned open_index;   /* Anthropic index of the open block */
    cp_anth_usage_t u;     /* usage as Anthropic counts it */
    cp_err_t err;          /* why the answer failed (when !ok && finished) */
    unsigned char open_kind; /* enum so_kind */
    unsigned char hold_kind; /* enum so_kind */
    unsigned char fin;       /* enum so_fin */
    unsigned char mode;      /* enum so_mode */
    unsigned char tagst;     /* enum so_tag */
    unsigned begun : 1;      /* message_start written */
    unsigned finished : 1;   /* message_stop or an error written */
    unsigned ok : 1;         /* ... and it was message_stop */
    unsigned have_fin : 1;   /* a finish_reason was seen */
    unsigned done : 1;       /* [DONE] was seen */
    unsigned eof : 1;        /* cp_oai_resp_end() is running */
    unsigned tools_sent : 1; /* a tool_use block was started */
    unsigned refusal : 1;    /* the answer carried a refusal */
    unsigned reasoned : 1;   /* reasoning came in a reasoning field (then <think> content is a copy) */
    unsigned whole : 1;      /* the body was one whole chat.completion */
    char msg_id[CP_REQ_ID_LEN + 1];
};

/* ---- helpers ---- */

static const char *so_prov(const cp_oai_resp_t *s)
{
    return s->o != NULL && s->o->provider != NULL ? s->o->provider : "upstream";
}

static int so_blank(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!cp_jsonck_ws(t[i]))
            return 0;
    return 1;
}

/* Length of the longest prefix of <s> of at most <max> bytes that does not cut a UTF-8 sequence. */
static int so_cut(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n <= max)
        return (int)n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return (int)max;
}

/* The client's name of call <c>, for messages. */
static const char *so_call_name(const cp_oai_resp_t *s, const so_call_t *c)
{
    return c->name != NULL ? cp_oai_names_original(s->names, c->name) : "(unnamed)";
}

/* Records a debug note (the first few only). */
static void so_note(cp_oai_resp_t *s, const char *what)
{
    if (s->notes.len < 512)
        cp_buf_join(&s->notes, "; ", what, strlen(what));
}

/* Writer result -> CP_OK / CP_ERR (the output buffer is never capped here: cannot fail). */
static int so_w(cp_oai_resp_t *s, int rc)
{
    (void)s;
    return rc == CP_OK ? CP_OK : CP_ERR;
}

/* Ends the answer with the error <e>. Returns CP_ERR. */
static int so_fail_e(cp_oai_resp_t *s, const cp_err_t *e)
{
    if (s->finished)
        return CP_ERR;
    s->finished = 1;
    s->ok = 0;
    s->err = *e;
    if (s->err.type == NULL)
        s->err.type = "api_error";
    if (s->err.http_status == 0)
        s->err.http_status = 502;
    cp_anth_out_error(&s->w, s->out, &s->err);
    return CP_ERR;
}

static int so_fail(cp_oai_resp_t *s, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int so_fail(cp_oai_resp_t *s, int status, const char *type, const char *fmt, ...)
{
    cp_err_t e;
    va_list ap;

    e.http_status = status;
    e.type = type;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    return so_fail_e(s, &e);
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
        return so_w(s, cp_anth_out_delta(&s->w, s->out, s->open_index, k, a, an));
    if (an == 0)
        return so_w(s, cp_anth_out_delta(&s->w, s->out, s->open_index, k, b, bn));
    {
        cp_buf_t j = CP_BUF_INIT;
        int rc;

        cp_buf_add(&j, a, an);
        cp_buf_add(&j, b, bn);
        rc = cp_anth_out_delta(&s->w, s->out, s->open_index, k, j.p, j.len);
        cp_buf_free(&j);
        return so_w(s, rc);
    }
}

static int so_begin(cp_oai_resp_t *s)
{
    if (s->begun)
        return CP_OK;
    if (s->finished)
        return CP_ERR;
    s->begun = 1;
    cp_rand_id("msg_", s->msg_id, sizeof(s->msg_id));
    {
        cp_anth_usage_t u0 = {s->in_est, 0, 0, 0};
        return so_w(s, cp_anth_out_message_start(&s->w, s->out, s->msg_id, s->model, &u0));
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
        return so_w(s, cp_anth_out_block_start(&s->w, s->out, s->open_index, CP_ANTH_BLK_THINKING, NULL, NULL));
    if (kind == SO_TEXT)
        return so_w(s, cp_anth_out_block_start(&s->w, s->out, s->open_index, CP_ANTH_BLK_TEXT, NULL, NULL));
    if (c->id == NULL) {
        char id[40];
        cp_rand_id("toolu_", id, sizeof(id));
        c->id = cp_xstrdup(id);
    }
    s->tools_sent = 1;
    return so_w(s, cp_anth_out_block_start(&s->w, s->out, s->open_index, CP_ANTH_BLK_TOOL_USE, c->id,
                                           cp_oai_names_original(s->names, c->name)));
}

/* The open call's arguments stopped before forming a whole object. */
static int so_tool_incomplete(cp_oai_resp_t *s, const so_call_t *c)
{
    const char *name = so_call_name(s, c);

    if (s->fin == FIN_LENGTH)
        return so_fail(s, 502, "api_error",
                       "provider %s reached its output token limit in the middle of the arguments for tool "
                       "\"%.*s\"",
                       so_prov(s), so_cut(name, 100), name);
    return so_fail(s, 502, "api_error",
                   "provider %s returned arguments for tool \"%.*s\" that are not valid JSON (incomplete)",
                   so_prov(s), so_cut(name, 100), name);
}

/* Closes the open block, if any. A tool block must hold a whole object by now. */
static int so_close(cp_oai_resp_t *s)
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
        if (so_w(s, rc) != CP_OK)
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
    return so_w(s, cp_anth_out_block_stop(&s->w, s->out, s->open_index));
}

/* Text (<kind> SO_TEXT) or reasoning (SO_THINK). */
static int so_text(cp_oai_resp_t *s, enum so_kind kind, const char *t, size_t n)
{
    int rc;

    if (n == 0)
        return CP_OK;
    if (s->open_kind == kind)
        return so_delta(s, t, n, NULL, 0);
    if (so_blank(t, n)) { /* no block for blank text: keep it in case text follows */
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
            const char *name = so_call_name(s, c);
            return so_fail(s, 502, "api_error",
                           "provider %s sent %s in the middle of the arguments for tool \"%.*s\"", so_prov(s),
                           kind == SO_TEXT ? "text" : "reasoning", so_cut(name, 100), name);
        }
    }
    if (so_close(s) != CP_OK || so_start(s, kind, NULL) != CP_OK)
        return CP_ERR;
    rc = so_delta(s, s->hold.p, s->hold.len, t, n);
    cp_buf_free(&s->hold);
    return rc;
}

/* ---- tool calls ---- */

static int so_tag_flush(cp_oai_resp_t *s);


static int so_bad_args(cp_oai_resp_t *s, const so_call_t *c, int why)
{
    const char *name = so_call_name(s, c);
    const char *what = why == CP_JSONCK_NOT_OBJECT ? "that are not a JSON object"
                       : why == CP_JSONCK_DEEP     ? "nested too deeply"
                                            : "that are not valid JSON";

    return so_fail(s, 502, "api_error", "provider %s returned arguments for tool \"%.*s\" %s", so_prov(s),
                   so_cut(name, 100), name, what);
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
            return so_fail(s, 502, "api_error",
                           "provider %s sent more than %zu MiB of tool arguments to hold", so_prov(s),
                           SO_PARKED_MAX >> 20);
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
        const char *name = so_call_name(s, c);
        return so_fail(s, 502, "api_error",
                       "provider %s sent the arguments for tool \"%.*s\" again after they were streamed",
                       so_prov(s), so_cut(name, 100), name);
    }
    if (c->st == CALL_WAIT)
        s->parked -= c->js.len;
    c->js.len = 0;
    memset(&c->tj, 0, sizeof(c->tj));
    t = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (t == NULL)
        return so_fail(s, 500, "api_error", "cannot encode tool arguments");
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

    if (so_close(s) != CP_OK)
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
static int so_advance(cp_oai_resp_t *s)
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
static int so_settle(cp_oai_resp_t *s)
{
    long w;

    if (so_tag_flush(s) != CP_OK)
        return CP_ERR;
    cp_buf_free(&s->hold);
    if (so_close(s) != CP_OK)
        return CP_ERR;
    while ((w = so_next_waiting(s, 0)) >= 0) {
        so_call_t *c = &s->calls[w];

        if (c->name == NULL) {
            if (!cp_jsonck_started(&c->tj)) { /* an entry with nothing in it: no call at all */
                c->st = CALL_CLOSED;
                continue;
            }
            return so_fail(s, 502, "api_error", "provider %s returned a tool call without a function name",
                           so_prov(s));
        }
        if (so_open_call(s, (size_t)w) != CP_OK || so_close(s) != CP_OK)
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
static int so_tool(cp_oai_resp_t *s, const json_t *tc, const json_t *fn, size_t pos, size_t base)
{
    const json_t *jidx = json_object_get(tc, "index");     /* borrowed from tc */
    const json_t *args = json_object_get(fn, "arguments"); /* borrowed from fn */
    const char *id = cp_json_str(json_object_get(tc, "id"), NULL);
    const char *name = cp_json_str(json_object_get(fn, "name"), NULL);
    char idbuf[SO_ID_MAX + 1];
    int has_args = json_is_object(args) ||
                   (json_is_string(args) && !so_blank(json_string_value(args), json_string_length(args)));
    long ci;
    so_call_t *c;

    if (id != NULL) {
        so_safe_id(id, idbuf);
        id = idbuf;
    }
    ci = so_find_call(s, jidx, id, name, has_args, pos);
    if (ci < 0) {
        if (s->ncalls >= SO_CALLS_MAX)
            return so_fail(s, 502, "api_error", "provider %s returned more than %d tool calls", so_prov(s),
                           SO_CALLS_MAX);
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

/* ---- chunks ---- */

static int so_finalize(cp_oai_resp_t *s);

/* An error reported in-band: <err> (borrowed) is the value of an "error" member. */
static int so_inband(cp_oai_resp_t *s, const json_t *err)
{
    cp_err_t e;

    memset(&e, 0, sizeof(e));
    cp_prov_error_value(err, so_prov(s), &e);
    if (strcmp(e.type, "api_error") == 0 && strcasestr(e.msg, "overload") != NULL) {
        e.type = "overloaded_error";
        e.http_status = 529;
    }
    return so_fail_e(s, &e);
}

/* A data event that is JSON but not an object. */
static int so_nonobject(cp_oai_resp_t *s, const json_t *j)
{
    const json_t *err = json_object_get(json_array_get(j, 0), "error"); /* borrowed from j */

    if (err != NULL && !json_is_null(err)) /* Gemini: [{"error":{...}}] */
        return so_inband(s, err);
    if (s->whole)
        return so_fail(s, 502, "api_error", "provider %s returned an unexpected response (not a chat completion)",
                       so_prov(s));
    return so_fail(s, 502, "api_error", "provider %s sent a stream event that is not a chat completion chunk",
                   so_prov(s));
}

/* A data event that is not JSON at all. */
static int so_not_json(cp_oai_resp_t *s, const char *d, size_t n)
{
    cp_err_t x;
    const char *m;
    size_t pl = strlen(so_prov(s));

    if (s->eof)
        return so_fail(s, 502, "api_error", "provider %s stream ended before the answer finished", so_prov(s));
    cp_prov_error(500, d, n, so_prov(s), &x); /* a readable, scrubbed excerpt: "<prov>: <excerpt>" */
    m = strncmp(x.msg, so_prov(s), pl) == 0 && strncmp(x.msg + pl, ": ", 2) == 0 ? x.msg + pl + 2 : x.msg;
    if (s->whole || s->mode == MODE_RAW)
        return so_fail(s, 502, "api_error", "provider %s returned a 200 answer that is not JSON: \"%.*s\"",
                       so_prov(s), so_cut(m, 300), m);
    return so_fail(s, 502, "api_error", "provider %s sent a stream event that is not JSON: %.*s", so_prov(s),
                   so_cut(m, 300), m);
}

/* A token count: a JSON number clamped to [0, 2^53]; anything else is 0. Sets *<bad> when the value
 * had to be repaired (negative, fractional, huge, not a number). */
static long long so_count(const json_t *v, int *bad)
{
    double d;

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n >= 0 && (double)n <= SO_COUNT_MAX)
            return (long long)n;
        *bad = 1;
        return n < 0 ? 0 : (long long)SO_COUNT_MAX;
    }
    if (!json_is_real(v)) {
        *bad = 1;
        return 0;
    }
    d = json_real_value(v);
    if (!(d >= 0)) { /* negative or NaN */
        *bad = 1;
        return 0;
    }
    if (d > SO_COUNT_MAX) {
        *bad = 1;
        return (long long)SO_COUNT_MAX;
    }
    if (d != floor(d))
        *bad = 1;
    return (long long)d;
}

int cp_oai_usage_map(const json_t *u, cp_anth_usage_t *out, int *clamped)
{
    const json_t *ud = json_object_get(u, "prompt_tokens_details"); /* borrowed from u */
    int bad = 0;
    long long prompt = so_count(json_object_get(u, "prompt_tokens"), &bad);
    long long hit = so_count(json_object_get(u, "prompt_cache_hit_tokens"), &bad); /* DeepSeek */

    out->cache_read = so_count(json_object_get(ud, "cached_tokens"), &bad);
    if (hit > out->cache_read)
        out->cache_read = hit;
    out->cache_write = so_count(json_object_get(ud, "cache_write_tokens"), &bad);
    /* every term is within [0, 2^53]: no overflow */
    out->input = prompt - out->cache_read - out->cache_write > 0 ? prompt - out->cache_read - out->cache_write : 0;
    out->output = so_count(json_object_get(u, "completion_tokens"), &bad);
    if (clamped != NULL)
        *clamped = bad;
    return json_object_get(u, "prompt_tokens") != NULL;
}

static void so_usage(cp_oai_resp_t *s, const json_t *u)
{
    cp_anth_usage_t us;
    int bad = 0;

    if (!cp_oai_usage_map(u, &us, &bad))
        us.input = s->in_est;
    s->u = us;
    if (bad)
        so_note(s, "usage values out of range (negative, fractional, huge or not numbers) were clamped");
}

/* The thinking text of a reasoning_details entry (text, or a summary), or NULL. */
static const char *so_detail_text(const json_t *x, size_t *n)
{
    const json_t *type = json_object_get(x, "type"); /* borrowed from x */

    if (cp_json_streq(type, "reasoning.text"))
        return cp_json_str(json_object_get(x, "text"), n);
    if (cp_json_streq(type, "reasoning.summary"))
        return cp_json_str(json_object_get(x, "summary"), n);
    return NULL;
}

/* Reasoning: reasoning_content (DeepSeek, llama.cpp), else reasoning (OpenRouter, Ollama, vLLM), else
 * the text of reasoning_details, never two of them (OpenRouter sends both); a signature in
 * reasoning_details is kept for the thinking block's signature_delta. */
static int so_reasoning(cp_oai_resp_t *s, const json_t *d)
{
    const json_t *det = json_object_get(d, "reasoning_details"); /* borrowed from d */
    const char *t;
    size_t n = 0, i;
    json_t *x; /* borrowed from det */

    json_array_foreach(det, i, x)
    {
        const char *sig = cp_json_str(json_object_get(x, "signature"), NULL);
        if (sig != NULL) {
            free(s->sig);
            s->sig = cp_xstrdup(sig);
        }
    }
    t = cp_json_str(json_object_get(d, "reasoning_content"), &n);
    if (t == NULL)
        t = cp_json_str(json_object_get(d, "reasoning"), &n);
    if (t != NULL) {
        s->reasoned = 1;
        return so_text(s, SO_THINK, t, n);
    }
    json_array_foreach(det, i, x)
    {
        if ((t = so_detail_text(x, &n)) != NULL) {
            s->reasoned = 1;
            if (so_text(s, SO_THINK, t, n) != CP_OK)
                return CP_ERR;
        }
    }
    return CP_OK;
}

/* Content text after the <think> filter: inside the tags it is reasoning, unless the reasoning
 * already came in a reasoning field (MiniMax sends both: the copy is dropped). */
static int so_tag_emit(cp_oai_resp_t *s, int think, const char *t, size_t n)
{
    if (!think)
        return so_text(s, SO_TEXT, t, n);
    if (s->reasoned)
        return CP_OK;
    return so_text(s, SO_THINK, t, n);
}

/* Feeds content text through the <think>...</think> filter (a leading tag only; split anywhere). */
static int so_tagged(cp_oai_resp_t *s, const char *t, size_t n)
{
    static const char open[] = "<think>", close[] = "</think>";

    while (n > 0) {
        if (s->tagst == TAG_OFF)
            return so_text(s, SO_TEXT, t, n);
        if (s->tagst == TAG_AFTER) {
            while (n > 0 && cp_jsonck_ws(*t)) {
                t++;
                n--;
            }
            if (n > 0)
                s->tagst = TAG_OFF;
            continue;
        }
        if (s->tagst == TAG_START) {
            size_t k = 0;
            const char *h;

            cp_buf_add(&s->tag, t, n);
            t += n;
            n = 0;
            h = cp_buf_str(&s->tag);
            while (k < s->tag.len && cp_jsonck_ws(h[k]))
                k++;
            if (s->tag.len - k < sizeof(open) - 1) {
                if (strncmp(h + k, open, s->tag.len - k) == 0 && s->tag.len < SO_HOLD_MAX)
                    return CP_OK; /* could still become "<think>" */
            } else if (strncmp(h + k, open, sizeof(open) - 1) == 0) {
                cp_buf_t rest = CP_BUF_INIT;
                int rc;

                s->tagst = TAG_IN;
                cp_buf_add(&rest, h + k + sizeof(open) - 1, s->tag.len - k - (sizeof(open) - 1));
                cp_buf_free(&s->tag);
                rc = rest.len > 0 ? so_tagged(s, rest.p, rest.len) : CP_OK;
                cp_buf_free(&rest);
                return rc;
            }
            s->tagst = TAG_OFF; /* plain content: send what was held */
            {
                cp_buf_t held = s->tag;
                int rc;

                cp_buf_init(&s->tag, 0);
                rc = so_text(s, SO_TEXT, held.p, held.len);
                cp_buf_free(&held);
                return rc;
            }
        }
        /* TAG_IN: reasoning until "</think>", which may be split: hold a possible partial tag */
        {
            const char *e;
            size_t keep = 0;

            cp_buf_add(&s->tag, t, n);
            t += n;
            n = 0;
            e = memmem(s->tag.p, s->tag.len, close, sizeof(close) - 1);
            if (e != NULL) {
                size_t before = (size_t)(e - s->tag.p), after = s->tag.len - before - (sizeof(close) - 1);
                cp_buf_t rest = CP_BUF_INIT;
                int rc = so_tag_emit(s, 1, s->tag.p, before);

                cp_buf_add(&rest, e + sizeof(close) - 1, after);
                cp_buf_free(&s->tag);
                s->tagst = TAG_AFTER;
                if (rc == CP_OK && rest.len > 0)
                    rc = so_tagged(s, rest.p, rest.len);
                cp_buf_free(&rest);
                return rc;
            }
            for (size_t k = sizeof(close) - 2; k > 0 && keep == 0; k--) /* a partial "</think>" at the end */
                if (k <= s->tag.len && memcmp(s->tag.p + s->tag.len - k, close, k) == 0)
                    keep = k;
            if (s->tag.len > keep) {
                int rc = so_tag_emit(s, 1, s->tag.p, s->tag.len - keep);
                memmove(s->tag.p, s->tag.p + s->tag.len - keep, keep);
                s->tag.len = keep;
                s->tag.p[keep] = '\0';
                return rc;
            }
        }
    }
    return CP_OK;
}

/* Ends the <think> filter at the end of the content: what it held is sent as what it was. */
static int so_tag_flush(cp_oai_resp_t *s)
{
    cp_buf_t held = s->tag;
    int rc = CP_OK;

    cp_buf_init(&s->tag, 0);
    if (s->tagst == TAG_START && !so_blank(cp_buf_str(&held), held.len))
        s->tagst = TAG_OFF;
    if (held.len > 0)
        rc = so_tag_emit(s, s->tagst == TAG_IN, held.p, held.len);
    cp_buf_free(&held);
    return rc;
}

/* The text of a content part's "thinking" (Mistral Magistral: a string, or an array of text parts). */
static int so_part_thinking(cp_oai_resp_t *s, const json_t *th)
{
    const char *t;
    size_t n = 0, i;
    json_t *p; /* borrowed from th */

    if ((t = cp_json_str(th, &n)) != NULL)
        return so_text(s, SO_THINK, t, n);
    json_array_foreach(th, i, p)
    {
        if ((t = cp_json_str(json_object_get(p, "text"), &n)) != NULL && so_text(s, SO_THINK, t, n) != CP_OK)
            return CP_ERR;
    }
    return CP_OK;
}

static int so_content(cp_oai_resp_t *s, const json_t *c)
{
    const char *t;
    size_t n = 0, i;
    json_t *p; /* borrowed from c */

    if ((t = cp_json_str(c, &n)) != NULL)
        return so_tagged(s, t, n);
    json_array_foreach(c, i, p) /* content parts: text, and thinking (Mistral) */
    {
        const json_t *type = json_object_get(p, "type"); /* borrowed from p */

        if (cp_json_streq(type, "text") && (t = cp_json_str(json_object_get(p, "text"), &n)) != NULL) {
            if (so_tagged(s, t, n) != CP_OK)
                return CP_ERR;
        } else if (cp_json_streq(type, "thinking") && so_part_thinking(s, json_object_get(p, "thinking")) != CP_OK) {
            return CP_ERR;
        }
    }
    return CP_OK;
}

static unsigned char so_fin_of(const char *f)
{
    if (strcmp(f, "stop") == 0)
        return FIN_STOP;
    if (strcmp(f, "length") == 0 || strcmp(f, "max_tokens") == 0)
        return FIN_LENGTH;
    if (strcmp(f, "tool_calls") == 0 || strcmp(f, "function_call") == 0)
        return FIN_TOOLS;
    if (strcmp(f, "content_filter") == 0)
        return FIN_FILTER;
    return FIN_OTHER;
}

/* The tool calls of a delta (or message), and the legacy function_call. */
static int so_calls(cp_oai_resp_t *s, const json_t *d)
{
    const json_t *calls = json_object_get(d, "tool_calls"); /* borrowed from d */
    const json_t *fc = json_object_get(d, "function_call"); /* borrowed from d */
    size_t base = s->ncalls, i;
    json_t *tc; /* borrowed from calls */

    if ((json_array_size(calls) > 0 || json_is_object(fc)) && so_tag_flush(s) != CP_OK)
        return CP_ERR; /* content held by the <think> filter comes before the calls */

    json_array_foreach(calls, i, tc)
    {
        if (json_is_object(tc) && so_tool(s, tc, json_object_get(tc, "function"), i, base) != CP_OK)
            return CP_ERR;
    }
    if (json_is_object(fc)) {                          /* the legacy functions API: one call */
        json_t *wrap = json_pack("{s:i}", "index", 0); /* owned */
        int rc = so_tool(s, wrap, fc, 0, base);

        json_decref(wrap);
        if (rc != CP_OK)
            return CP_ERR;
    }
    if ((json_array_size(calls) > 0 || json_is_object(fc)) && so_advance(s) != CP_OK)
        return CP_ERR;
    return CP_OK;
}

/* One delta (or a whole message): reasoning, content, refusal, tool calls, in that order. */
static int so_message(cp_oai_resp_t *s, const json_t *d)
{
    const char *t;
    size_t n = 0;

    if (so_reasoning(s, d) != CP_OK || so_content(s, json_object_get(d, "content")) != CP_OK)
        return CP_ERR;
    if ((t = cp_json_str(json_object_get(d, "refusal"), &n)) != NULL) {
        s->refusal = 1;
        if (so_tag_flush(s) != CP_OK || so_text(s, SO_TEXT, t, n) != CP_OK)
            return CP_ERR;
    }
    return so_calls(s, d);
}

static int so_choice(cp_oai_resp_t *s, const json_t *ch)
{
    const json_t *err = json_object_get(ch, "error"); /* borrowed from ch */
    const json_t *d = json_object_get(ch, "delta");   /* borrowed from ch */
    const char *f = cp_json_str(json_object_get(ch, "finish_reason"), NULL);

    if (json_is_null(err))
        err = NULL;
    if (err != NULL && (json_is_object(err) || json_is_string(err)))
        return so_inband(s, err);
    if (err != NULL || (f != NULL && strcmp(f, "error") == 0))
        return so_fail(s, 500, "api_error", "%s: the generation failed (finish_reason \"error\")", so_prov(s));
    if (f != NULL && strcmp(f, "insufficient_system_resource") == 0) /* DeepSeek */
        return so_fail(s, 529, "overloaded_error",
                       "%s: insufficient system resources, the generation was cut short", so_prov(s));
    if (!json_is_object(d))
        d = json_object_get(ch, "message"); /* a whole chat.completion: one big delta */
    if (json_is_object(d) && so_message(s, d) != CP_OK)
        return CP_ERR;
    if (f != NULL) {
        const char *vstop = cp_json_str(json_object_get(ch, "stop_reason"), NULL); /* vLLM: the stop string */

        s->fin = so_fin_of(f);
        s->have_fin = 1;
        free(s->stop_seq);
        s->stop_seq = vstop != NULL ? cp_xstrdup(vstop) : NULL;
        return so_settle(s);
    }
    return CP_OK;
}

static int so_chunk(cp_oai_resp_t *s, const json_t *j)
{
    const json_t *err = json_object_get(j, "error");       /* borrowed from j */
    const json_t *u = json_object_get(j, "usage");         /* borrowed from j */
    const json_t *choices = json_object_get(j, "choices"); /* borrowed from j */
    size_t i;
    json_t *ch; /* borrowed from choices */

    if (err != NULL && !json_is_null(err))
        return so_inband(s, err);
    if (json_is_object(u))
        so_usage(s, u);
    json_array_foreach(choices, i, ch)
    {
        const json_t *ci = json_object_get(ch, "index"); /* borrowed from ch */
        if (json_is_integer(ci) && json_integer_value(ci) != 0)
            continue; /* n > 1 is never asked for */
        if (so_choice(s, ch) != CP_OK)
            return CP_ERR;
    }
    if (json_is_array(choices) && json_array_size(choices) == 0 && json_is_object(u) && s->have_fin)
        return so_finalize(s); /* the usage chunk that follows the finish (include_usage) */
    return CP_OK;
}

/* An "event: error" (some servers name the event): its data is an error, whatever its shape. */
static int so_error_event(cp_oai_resp_t *s, const char *d, size_t n)
{
    json_t *j = cp_json_loadb(d, n, CP_JSON_PARSE, NULL); /* owned */
    int rc;

    if (json_is_object(j) && json_object_get(j, "error") == NULL) {
        rc = so_inband(s, j);
    } else if (json_is_object(j) || json_is_array(j)) {
        rc = json_is_object(j) ? so_chunk(s, j) : so_nonobject(s, j);
    } else {
        cp_err_t e;
        cp_prov_error(500, d, n, so_prov(s), &e);
        rc = so_fail_e(s, &e);
    }
    json_decref(j);
    return rc;
}

static int so_event(cp_oai_resp_t *s, const cp_sse_event_t *ev)
{
    const char *d = ev->data;
    size_t n = ev->data_len;
    json_t *j; /* owned */
    int rc;

    while (n > 0 && cp_jsonck_ws(d[0])) {
        d++;
        n--;
    }
    while (n > 0 && cp_jsonck_ws(d[n - 1]))
        n--;
    if (ev->event_len == 5 && memcmp(ev->event, "error", 5) == 0)
        return so_error_event(s, d, n);
    if (n == 0)
        return CP_OK; /* keep-alive */
    if (n == 6 && memcmp(d, "[DONE]", 6) == 0) {
        s->done = 1;
        return so_finalize(s);
    }
    j = cp_json_loadb(d, n, JSON_ALLOW_NUL | CP_JSON_PARSE, NULL);
    if (j == NULL)
        return so_not_json(s, d, n);
    rc = json_is_object(j) ? so_chunk(s, j) : so_nonobject(s, j);
    json_decref(j);
    return rc;
}

static const char *so_stop_reason(const cp_oai_resp_t *s)
{
    if (s->refusal)
        return "refusal";
    if (s->fin == FIN_LENGTH)
        return "max_tokens";
    if (s->fin == FIN_FILTER)
        return "refusal";
    if (s->tools_sent)
        return "tool_use"; /* also when Gemini ends a tool-call turn with "stop" */
    if (s->fin == FIN_STOP && s->stop_seq != NULL)
        return "stop_sequence";
    return "end_turn";
}

static int so_finalize(cp_oai_resp_t *s)
{
    const char *stop;

    if (so_begin(s) != CP_OK || so_tag_flush(s) != CP_OK || so_settle(s) != CP_OK)
        return CP_ERR;
    stop = so_stop_reason(s);
    if (cp_anth_out_message_delta(&s->w, s->out, stop, strcmp(stop, "stop_sequence") == 0 ? s->stop_seq : NULL,
                                  &s->u) != CP_OK ||
        cp_anth_out_message_stop(&s->w, s->out) != CP_OK)
        return CP_ERR;
    s->finished = 1;
    s->ok = 1;
    return CP_OK;
}

/* ---- public ---- */

cp_oai_resp_t *cp_oai_resp_new(const char *client_model, const cp_oai_names_t *names, const cp_oai_opts_t *o,
                               int64_t input_tokens, enum cp_anth_out_mode mode)
{
    cp_oai_resp_t *s = cp_xcalloc(1, sizeof(*s));

    cp_anth_out_init(&s->w, mode);
    s->names = names;
    s->o = o;
    s->model = cp_xstrdup(client_model != NULL ? client_model : "");
    s->in_est = input_tokens > 0 ? input_tokens : 0;
    s->u.input = s->in_est;
    cp_buf_init(&s->raw, SO_RAW_MAX);
    return s;
}

void cp_oai_resp_free(cp_oai_resp_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ncalls; i++) {
        free(s->calls[i].id);
        free(s->calls[i].name);
        cp_buf_free(&s->calls[i].js);
    }
    free(s->calls);
    cp_sse_free(s->sse);
    cp_buf_free(&s->raw);
    cp_buf_free(&s->hold);
    cp_buf_free(&s->tag);
    cp_buf_free(&s->notes);
    free(s->stop_seq);
    free(s->sig);
    free(s->model);
    free(s);
}

int cp_oai_resp_begin(cp_oai_resp_t *s, cp_buf_t *out)
{
    s->out = out;
    return so_begin(s);
}

/* Pulls and translates every complete event. */
static int so_drain(cp_oai_resp_t *s, int fed)
{
    cp_sse_event_t ev;
    int rc = CP_OK;

    while (!s->finished && (rc = cp_sse_next(s->sse, &ev)) == CP_OK)
        if (so_event(s, &ev) != CP_OK)
            return CP_ERR;
    if (s->finished)
        return s->ok ? CP_OK : CP_ERR;
    if (fed != CP_OK || rc == CP_ERR)
        return so_fail(s, 502, "api_error", "provider %s sent a stream event larger than %zu MiB", so_prov(s),
                       SO_EVENT_MAX >> 20);
    return CP_OK;
}

int cp_oai_resp_feed(cp_oai_resp_t *s, const char *p, size_t n, cp_buf_t *out)
{
    s->out = out;
    if (s->finished)
        return CP_OK; /* later bytes are ignored */
    if (so_begin(s) != CP_OK)
        return CP_ERR;
    if (s->mode == MODE_UNKNOWN) { /* the first non-blank byte tells an event stream from plain JSON */
        size_t k = 0;
        while (k < n && cp_jsonck_ws(p[k]))
            k++;
        if (k == n)
            return CP_OK; /* blank lines mean nothing in either */
        p += k;
        n -= k;
        s->mode = p[0] == '{' || p[0] == '[' ? MODE_RAW : MODE_SSE;
        if (s->mode == MODE_SSE)
            s->sse = cp_sse_new(SO_EVENT_MAX);
    }
    if (s->mode == MODE_RAW) {
        if (cp_buf_add(&s->raw, p, n) != CP_OK)
            return so_fail(s, 502, "api_error", "provider %s answered with more than %zu MiB of JSON",
                           so_prov(s), SO_RAW_MAX >> 20);
        return CP_OK;
    }
    return so_drain(s, cp_sse_feed(s->sse, p, n));
}

/* A whole body that is a JSON object: a chat.completion, or an error in a 200. */
static int so_whole(cp_oai_resp_t *s, const json_t *j)
{
    const json_t *err = json_object_get(j, "error"); /* borrowed from j */
    const json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    const json_t *cerr = json_object_get(ch, "error"); /* borrowed from j */
    const char *f = cp_json_str(json_object_get(ch, "finish_reason"), NULL);

    s->whole = 1;
    if (err != NULL && !json_is_null(err))
        return so_inband(s, err);
    if (!json_is_object(ch))
        return so_fail(s, 502, "api_error", "provider %s returned an unexpected response (not a chat completion)",
                       so_prov(s));
    if ((cerr == NULL || json_is_null(cerr)) && (f == NULL || strcmp(f, "error") != 0) &&
        (f == NULL || strcmp(f, "insufficient_system_resource") != 0) &&
        !json_is_object(json_object_get(ch, "message")) && !json_is_object(json_object_get(ch, "delta")))
        return so_fail(s, 502, "api_error",
                       "provider %s returned an unexpected response (choice without a message)", so_prov(s));
    return so_chunk(s, j);
}

/* The end of a plain-JSON body: a whole chat.completion (or an error). */
static int so_raw_end(cp_oai_resp_t *s)
{
    json_t *j = cp_json_loadb(s->raw.p, s->raw.len, JSON_ALLOW_NUL | CP_JSON_PARSE, NULL); /* owned */
    int rc;

    if (j == NULL) {
        s->eof = 0; /* the body is all here: report it as what it is */
        rc = so_not_json(s, cp_buf_str(&s->raw), s->raw.len);
    } else if (!json_is_object(j)) {
        s->whole = 1;
        rc = so_nonobject(s, j);
    } else {
        rc = so_whole(s, j);
    }
    json_decref(j);
    cp_buf_free(&s->raw);
    if (rc != CP_OK || s->finished)
        return s->ok ? CP_OK : CP_ERR;
    return so_finalize(s) == CP_OK ? CP_OK : CP_ERR;
}

int cp_oai_resp_end(cp_oai_resp_t *s, cp_buf_t *out)
{
    s->out = out;
    if (s->finished)
        return s->ok ? CP_OK : CP_ERR;
    if (so_begin(s) != CP_OK)
        return CP_ERR;
    s->eof = 1;
    if (s->mode == MODE_RAW)
        return so_raw_end(s);
    if (s->mode == MODE_UNKNOWN && s->w.mode == CP_ANTH_OUT_MESSAGE)
        return so_fail(s, 502, "api_error", "provider %s returned a 200 answer that is not JSON (empty body)",
                       so_prov(s));
    if (s->sse != NULL && cp_sse_pending(s->sse) > 0 && so_drain(s, cp_sse_feed(s->sse, "\n\n", 2)) != CP_OK)
        return CP_ERR; /* the last event lacked its blank line */
    if (s->finished)
        return s->ok ? CP_OK : CP_ERR;
    if (!s->have_fin && !s->done)
        return so_fail(s, 502, "api_error", "provider %s stream ended before the answer finished", so_prov(s));
    return so_finalize(s) == CP_OK ? CP_OK : CP_ERR;
}

int cp_oai_resp_whole(cp_oai_resp_t *s, const char *body, size_t len, cp_buf_t *out)
{
    s->out = out;
    if (s->finished)
        return s->ok ? CP_OK : CP_ERR;
    if (so_begin(s) != CP_OK)
        return CP_ERR;
    s->mode = MODE_RAW;
    s->whole = 1;
    if (len == 0)
        return so_fail(s, 502, "api_error", "provider %s returned a 200 answer that is not JSON (empty body)",
                       so_prov(s));
    if (cp_buf_add(&s->raw, body, len) != CP_OK)
        return so_fail(s, 502, "api_error", "provider %s answered with more than %zu MiB of JSON", so_prov(s),
                       SO_RAW_MAX >> 20);
    return cp_oai_resp_end(s, out);
}

void cp_oai_resp_fail(cp_oai_resp_t *s, const cp_err_t *e, cp_buf_t *out)
{
    s->out = out;
    so_fail_e(s, e);
}

int cp_oai_resp_finished(const cp_oai_resp_t *s)
{
    return s->finished;
}

const cp_err_t *cp_oai_resp_error(const cp_oai_resp_t *s)
{
    return s->finished && !s->ok ? &s->err : NULL;
}

const char *cp_oai_resp_notes(const cp_oai_resp_t *s)
{
    return s->notes.len > 0 ? s->notes.p : NULL;
}

json_t *cp_oai_response(const json_t *oai, const char *client_model, const cp_oai_names_t *names,
                        const cp_oai_opts_t *o, cp_err_t *e)
{
    cp_oai_resp_t *s = cp_oai_resp_new(client_model, names, o, 0, CP_ANTH_OUT_MESSAGE);
    cp_buf_t out = CP_BUF_INIT;
    json_t *msg = NULL; /* owned; returned */

    s->out = &out;
    if (so_begin(s) == CP_OK) {
        s->eof = 1;
        s->whole = 1;
        if (!json_is_object(oai) ? so_nonobject(s, oai) == CP_OK : so_whole(s, oai) == CP_OK)
            if (!s->finished)
                so_finalize(s);
    }
    if (s->ok)
        msg = json_loadb(out.p, out.len, 0, NULL);
    if (msg == NULL && e != NULL) {
        if (s->ok) /* cannot happen: the writer writes valid JSON */
            cp_err_set(e, 500, "api_error", "cannot build the response message");
        else
            *e = s->err;
    }
    cp_buf_free(&out);
    cp_oai_resp_free(s);
    return msg;
}
