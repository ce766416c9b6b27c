/* lib/cp_oai_stream.c: see cp_oai_stream.h.
 *
 * One translator per streamed answer. It owns an SSE parser, the event being written (<ob>), a few
 * small strings and one record per tool call; it borrows the names map and the provider options.
 * Nothing here calls back into the caller except <emit>, once per Anthropic event; the translator is
 * never freed from inside <emit>, so it can be driven from a curl write callback (style.md 2.8).
 * Upstream bytes are parsed once (cp_sse, then jansson per chunk); the output is written straight
 * into <ob> as JSON text (no json_t per event on the hot path), so a chunk costs one parse and one
 * small write.
 *
 * Flow (protocol.md F.6): message_start on cp_oai_stream_begin(); for each chunk, in Anthropic order,
 * reasoning -> thinking block, content/refusal -> text block, tool_calls -> tool_use blocks, then
 * finish_reason (remembered; the open block is closed and waiting tool calls are sent); usage is
 * remembered from any chunk (the last one wins, never a sum). message_delta + message_stop follow a
 * usage-only chunk (choices: []) after the finish, or [DONE], or the clean end of the body after a
 * finish_reason. A mid-stream error ends the stream with one "event: error" and nothing after it.
 *
 * Decisions:
 *  - Tool arguments are streamed, validated. Each fragment goes through an incremental JSON checker
 *    (tj_* below) before it is sent as input_json_delta, so the client only ever sees a valid prefix
 *    of one JSON object, and a tool block is closed only when that object is complete; empty
 *    arguments become "{}". This keeps Claude Code's progressive display and keeps bytes flowing
 *    during long tool inputs (a fully buffered Write of a big file would look like a stalled stream
 *    to idle watchdogs), while still guaranteeing what buffering guarantees (protocol.md F.6, B.4 #6):
 *    the Python SDK, which re-parses on every delta, never sees an invalid prefix, and arguments that
 *    are not a JSON object end the stream with an api_error naming the tool, never a silent {}.
 *    The only repair made: raw control characters inside JSON strings (invalid JSON that models do
 *    write) are sent escaped. Whitespace before the object and after it is not sent.
 *  - A tool block opens once its name is known (arguments arriving before are kept). Calls that cannot
 *    be streamed now wait with their checked arguments: while another tool block is open and its
 *    object is not complete (interleaved indices: blocks are never reopened), or while they have no
 *    name. A waiting call is started as soon as the open call's object is complete, and at the finish
 *    every waiting call is sent whole, in index order. A fragment for a call whose block is already
 *    closed must be whitespace (else its arguments are invalid JSON: error).
 *  - Text or reasoning arriving while an open tool block's object is incomplete cannot be represented
 *    (that block can be neither closed with invalid JSON nor reopened later): error event. If the open
 *    call has no arguments yet it is closed with "{}".
 *  - Blank text: an empty string never opens a block. Whitespace-only text or reasoning is held back
 *    until non-blank text of the same kind follows (then it is sent in front of it, unchanged), and
 *    dropped otherwise: Anthropic rejects whitespace-only text blocks when Claude Code sends the history
 *    back (field-study.md (b) 3; cp_oai.c drops them too). Inside an open block whitespace is sent.
 *  - [DONE] without a finish_reason ends the answer as if finish_reason were "stop" (end_turn, or
 *    tool_use after tool calls): [DONE] is the server's explicit end of a complete answer. Only an end
 *    of body with neither a finish_reason nor [DONE] is a truncation (error event).
 *  - A finish_reason followed by more content is not an error: the content gets new blocks and the
 *    last finish_reason wins (the stream is not over before message_delta is sent).
 *  - A body whose first non-blank byte is '{' or '[' is a plain JSON answer from a server that ignored
 *    stream:true; a data event holding a whole chat.completion (choices[].message) is handled too. The
 *    message is translated as one big delta.
 *  - Reasoning: reasoning_content (DeepSeek, llama.cpp), else reasoning (OpenRouter, Ollama, vLLM),
 *    else the text of reasoning_details (never two of them: OpenRouter sends both). A signature found in
 *    reasoning_details is sent as the signature_delta, else "" (as cp_oai_response does).
 *  - Tool calls without an index: an entry with a name or an unseen id is a new call; an entry with
 *    neither continues the call started at the same array position, else the last call. With an index:
 *    the call of that index, unless the entry carries a different id or name, or a name/id plus new
 *    arguments for a call whose object is already complete (Gemini repeating index 0): a new call.
 *  - Ids: upstream ids are kept with characters outside [A-Za-z0-9_-] replaced by '_' (as cp_oai.c
 *    does); missing or empty ids become "toolu_" + 24 hex digits.
 *  - Errors reported in-band are mapped by cp_oai_response() (the numeric or string code, the provider
 *    named, key-like strings scrubbed); "overload" in an api_error's message makes it overloaded_error.
 *
 * Limits: 1 MiB per upstream SSE event, 32 MiB of plain-JSON body, 8 MiB of tool arguments waiting
 * to be sent, 512 tool calls, nesting 128 deep in tool arguments. Going past one is an error event. */
#include "cp_oai_stream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "cp_anth.h"
#include "cp_sse.h"

#define SO_EVENT_MAX  ((size_t)1 << 20)  /* largest upstream SSE event */
#define SO_RAW_MAX    ((size_t)32 << 20) /* largest plain-JSON body (server ignored stream:true) */
#define SO_PARKED_MAX ((size_t)8 << 20)  /* tool-argument bytes waiting to be sent, per stream */
#define SO_CALLS_MAX  512                /* tool calls per answer */
#define SO_HOLD_MAX   4096               /* blank text held before a block opens */
#define SO_KEEP       1024               /* capacity of the event buffer kept between events */
#define SO_ID_MAX     128                /* bytes of an upstream tool-call id kept */
#define SO_DEPTH_MAX  128                /* nesting of tool arguments */

/* ---- small growable buffer ------------------------------------------------------------------- */

typedef struct so_buf {
    char *p; /* owned */
    size_t len, cap;
} so_buf_t;

static void sb_grow(so_buf_t *b, size_t n)
{
    size_t cap;

    if (b->len + n <= b->cap)
        return;
    cap = b->cap > 0 ? b->cap : 64;
    while (cap < b->len + n)
        cap *= 2;
    b->p = cp_xrealloc(b->p, cap);
    b->cap = cap;
}

static void sb_add(so_buf_t *b, const char *s, size_t n)
{
    if (n == 0)
        return;
    sb_grow(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

#define SB_LIT(b, lit) sb_add((b), (lit), sizeof(lit) - 1)

static void sb_addc(so_buf_t *b, char c)
{
    sb_grow(b, 1);
    b->p[b->len++] = c;
}

static void sb_free(so_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static void sb_int(so_buf_t *b, long long v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%lld", v);

    sb_add(b, t, (size_t)n);
}

/* Appends <s> as the inside of a JSON string literal (jansson's escapes; UTF-8 passes unchanged). */
static void sb_esc(so_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0, run;

    sb_grow(b, n);
    while (i < n) {
        unsigned char c;

        for (run = i; run < n && (unsigned char)s[run] >= 0x20 && s[run] != '"' && s[run] != '\\'; run++)
            ;
        sb_add(b, s + i, run - i);
        if (run == n)
            break;
        c = (unsigned char)s[run];
        i = run + 1;
        switch (c) {
        case '"':
            SB_LIT(b, "\\\"");
            break;
        case '\\':
            SB_LIT(b, "\\\\");
            break;
        case '\n':
            SB_LIT(b, "\\n");
            break;
        case '\r':
            SB_LIT(b, "\\r");
            break;
        case '\t':
            SB_LIT(b, "\\t");
            break;
        case '\b':
            SB_LIT(b, "\\b");
            break;
        case '\f':
            SB_LIT(b, "\\f");
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sb_add(b, u, sizeof(u));
            break;
        }
        }
    }
}

/* ---- incremental JSON checker for tool arguments ----------------------------------------------
 * Accepts exactly the prefixes of one JSON object (RFC 8259), byte by byte and across any split, and
 * appends what may be sent to <out>: the input, minus whitespace outside the object, with raw control
 * characters inside strings escaped. UTF-8 is not checked: the text comes out of a jansson string. */

enum tj_state {
    TJ_START = 0,  /* nothing but whitespace yet */
    TJ_VALUE,      /* a value must follow (after ':' or an array's ',') */
    TJ_FIRST,      /* after '[': a value or ']' */
    TJ_KEY_OR_END, /* after '{': a key or '}' */
    TJ_KEY,        /* after an object's ',' */
    TJ_COLON,      /* after a key */
    TJ_NEXT,       /* after a value inside a container: ',' or the closing bracket */
    TJ_STR,        /* inside a string */
    TJ_ESC,        /* after a backslash */
    TJ_HEX,        /* inside a \\u escape (<sub> of its 4 hex digits seen) */
    TJ_NUM,        /* inside a number (<sub> is enum tj_num) */
    TJ_LIT,        /* inside true/false/null (<lit>, <sub> bytes matched) */
    TJ_DONE,       /* the object is complete: only whitespace may follow */
};

enum tj_num { TJN_MINUS = 0, TJN_ZERO, TJN_INT, TJN_DOT, TJN_FRAC, TJN_E, TJN_ESIGN, TJN_EXP };

enum tj_rc { TJ_OK = 0, TJ_SYNTAX, TJ_NOT_OBJECT, TJ_DEEP };

typedef struct tj {
    unsigned char st;  /* enum tj_state */
    unsigned char sub; /* see enum tj_state */
    unsigned char lit; /* index into tj_lits */
    unsigned char key; /* the string being read is an object key */
    unsigned short depth;
    uint64_t arr[SO_DEPTH_MAX / 64]; /* bit d: nesting level d is an array */
} tj_t;

static const char *const tj_lits[] = {"true", "false", "null"};

static int tj_push(tj_t *t, int is_arr)
{
    uint64_t bit = (uint64_t)1 << (t->depth % 64);

    if (t->depth >= SO_DEPTH_MAX)
        return TJ_DEEP;
    if (is_arr)
        t->arr[t->depth / 64] |= bit;
    else
        t->arr[t->depth / 64] &= ~bit;
    t->depth++;
    return TJ_OK;
}

static int tj_top_is_arr(const tj_t *t)
{
    unsigned d = t->depth - 1u;

    return (int)((t->arr[d / 64] >> (d % 64)) & 1);
}

static void tj_after_value(tj_t *t)
{
    t->st = t->depth == 0 ? TJ_DONE : TJ_NEXT;
}

static int tj_value(tj_t *t, char c)
{
    switch (c) {
    case '{':
        t->st = TJ_KEY_OR_END;
        return tj_push(t, 0);
    case '[':
        t->st = TJ_FIRST;
        return tj_push(t, 1);
    case '"':
        t->st = TJ_STR;
        t->key = 0;
        return TJ_OK;
    case 't':
    case 'f':
    case 'n':
        t->st = TJ_LIT;
        t->lit = c == 't' ? 0 : c == 'f' ? 1 : 2;
        t->sub = 1;
        return TJ_OK;
    case '-':
        t->st = TJ_NUM;
        t->sub = TJN_MINUS;
        return TJ_OK;
    case '0':
        t->st = TJ_NUM;
        t->sub = TJN_ZERO;
        return TJ_OK;
    default:
        if (c >= '1' && c <= '9') {
            t->st = TJ_NUM;
            t->sub = TJN_INT;
            return TJ_OK;
        }
        return TJ_SYNTAX;
    }
}

/* One byte of a number. Returns 1 when <c> belongs to it, 0 when the number ended before <c>, -1 on
 * a syntax error. */
static int tj_num(tj_t *t, char c)
{
    int digit = c >= '0' && c <= '9';

    switch (t->sub) {
    case TJN_MINUS:
        if (!digit)
            return -1;
        t->sub = c == '0' ? TJN_ZERO : TJN_INT;
        return 1;
    case TJN_ZERO:
    case TJN_INT:
    case TJN_FRAC:
        if (digit && t->sub != TJN_ZERO)
            return 1;
        if (c == '.' && t->sub != TJN_FRAC) {
            t->sub = TJN_DOT;
            return 1;
        }
        if (c == 'e' || c == 'E') {
            t->sub = TJN_E;
            return 1;
        }
        return digit ? -1 : 0; /* a digit after a leading 0 */
    case TJN_DOT:
        if (!digit)
            return -1;
        t->sub = TJN_FRAC;
        return 1;
    case TJN_E:
        if (c == '+' || c == '-') {
            t->sub = TJN_ESIGN;
            return 1;
        }
        /* fall through */
    case TJN_ESIGN:
        if (!digit)
            return -1;
        t->sub = TJN_EXP;
        return 1;
    default: /* TJN_EXP */
        return digit ? 1 : 0;
    }
}

static int tj_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int tj_feed(tj_t *t, const char *s, size_t n, so_buf_t *out)
{
    size_t i = 0, run;
    int rc = TJ_OK, r;

    while (i < n) {
        char c = s[i];

        if (t->st == TJ_STR) {
            for (run = i; run < n && s[run] != '"' && s[run] != '\\' && (unsigned char)s[run] >= 0x20; run++)
                ;
            sb_add(out, s + i, run - i);
            i = run;
            if (i == n)
                break;
            c = s[i++];
            if (c == '"') {
                sb_addc(out, c);
                if (t->key)
                    t->st = TJ_COLON;
                else
                    tj_after_value(t);
            } else if (c == '\\') {
                sb_addc(out, c);
                t->st = TJ_ESC;
            } else { /* a raw control character: invalid JSON, sent escaped */
                sb_esc(out, &c, 1);
            }
            continue;
        }
        if (tj_ws(c) && t->st != TJ_ESC && t->st != TJ_HEX && t->st != TJ_LIT && t->st != TJ_NUM) {
            if (t->st != TJ_START && t->st != TJ_DONE)
                sb_addc(out, c);
            i++;
            continue;
        }
        switch (t->st) {
        case TJ_START:
            if (c != '{')
                return TJ_NOT_OBJECT;
            rc = tj_value(t, c);
            break;
        case TJ_VALUE:
            rc = tj_value(t, c);
            break;
        case TJ_FIRST:
            if (c == ']') {
                t->depth--;
                tj_after_value(t);
            } else {
                rc = tj_value(t, c);
            }
            break;
        case TJ_KEY_OR_END:
        case TJ_KEY:
            if (c == '"') {
                t->st = TJ_STR;
                t->key = 1;
            } else if (c == '}' && t->st == TJ_KEY_OR_END) {
                t->depth--;
                tj_after_value(t);
            } else {
                rc = TJ_SYNTAX;
            }
            break;
        case TJ_COLON:
            if (c == ':')
                t->st = TJ_VALUE;
            else
                rc = TJ_SYNTAX;
            break;
        case TJ_NEXT:
            if (c == ',') {
                t->st = tj_top_is_arr(t) ? TJ_VALUE : TJ_KEY;
            } else if (c == (tj_top_is_arr(t) ? ']' : '}')) {
                t->depth--;
                tj_after_value(t);
            } else {
                rc = TJ_SYNTAX;
            }
            break;
        case TJ_ESC:
            if (c == 'u') {
                t->st = TJ_HEX;
                t->sub = 0;
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
                       c == 't') {
                t->st = TJ_STR;
            } else {
                rc = TJ_SYNTAX;
            }
            break;
        case TJ_HEX:
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
                rc = TJ_SYNTAX;
            else if (++t->sub == 4)
                t->st = TJ_STR;
            break;
        case TJ_LIT:
            if (c != tj_lits[t->lit][t->sub])
                rc = TJ_SYNTAX;
            else if (tj_lits[t->lit][++t->sub] == '\0')
                tj_after_value(t);
            break;
        case TJ_NUM:
            r = tj_num(t, c);
            if (r < 0) {
                rc = TJ_SYNTAX;
            } else if (r == 0) { /* the number ended: <c> is read again in the next state */
                tj_after_value(t);
                continue;
            }
            break;
        default: /* TJ_DONE: something after the object */
            rc = TJ_SYNTAX;
            break;
        }
        if (rc != TJ_OK)
            return rc;
        sb_addc(out, c);
        i++;
    }
    return TJ_OK;
}

/* ---- the translator ----------------------------------------------------------------------------- */

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

typedef struct so_call {
    long long key;        /* upstream index; for index-less calls, their position in the answer */
    char *id;             /* owned: upstream id made safe, or the generated one; NULL until known */
    char *name;           /* owned: the name as the upstream sent it; NULL until known */
    so_buf_t js;          /* checked argument text not sent yet */
    tj_t tj;              /* checker state over all argument text so far */
    size_t pos;           /* position in the tool_calls array of the chunk that started it */
    unsigned char st;     /* enum so_call_state */
    unsigned indexed : 1; /* the upstream gave an index */
    unsigned id_up : 1;   /* <id> came from the upstream */
    unsigned sent : 1;    /* argument bytes were emitted */
} so_call_t;

struct cp_oai_stream {
    cp_emit_fn emit;
    void *ud;
    const cp_oai_names_t *names; /* borrowed */
    const cp_oai_opts_t *o;      /* borrowed */
    char *model;                 /* owned: the client's model name */
    int64_t in_est;              /* input-token estimate until usage arrives */
    cp_sse_t *sse;               /* owned; NULL once finished */
    so_buf_t raw;                /* plain-JSON body (MODE_RAW) */
    so_buf_t ob;                 /* the event being written */
    so_buf_t hold;               /* blank text of kind <hold_kind> not sent yet */
    char *stop_seq;              /* owned: vLLM's choices[].stop_reason string */
    char *sig;                   /* owned: reasoning signature (OpenRouter reasoning_details) */
    so_call_t *calls;            /* owned: tool calls in the order they appeared */
    size_t ncalls, calls_cap;
    size_t parked;                          /* bytes in the js buffers of waiting calls */
    size_t open_call;                       /* index in <calls> of the open tool block */
    unsigned next_index;                    /* Anthropic index of the next block */
    unsigned open_index;                    /* Anthropic index of the open block */
    long long u_in, u_out, u_read, u_write; /* usage as Anthropic counts it */
    unsigned char open_kind;                /* enum so_kind */
    unsigned char hold_kind;                /* enum so_kind */
    unsigned char fin;                      /* enum so_fin */
    unsigned char mode;                     /* enum so_mode */
    unsigned begun : 1;                     /* message_start sent */
    unsigned finished : 1;                  /* message_stop or an error event sent (or the client left) */
    unsigned ok : 1;                        /* ... and it was message_stop */
    unsigned have_fin : 1;                  /* a finish_reason was seen */
    unsigned done : 1;                      /* [DONE] was seen */
    unsigned eof : 1;                       /* cp_oai_stream_end() is running */
    unsigned tools_sent : 1;                /* a tool_use block was started */
    unsigned refusal : 1;                   /* the answer carried a refusal */
    char msg_id[CP_REQ_ID_LEN + 1];
};

/* ---- ids (deterministic under test) ---- */

static uint64_t so_seed; /* 0: ids from the CSPRNG */

/* Test hook, declared here only: makes generated ids a function of <seed> (0: random again). */
void cp_oai_stream_set_id_seed(uint64_t seed);
void cp_oai_stream_set_id_seed(uint64_t seed)
{
    so_seed = seed;
}

static uint64_t so_splitmix(void)
{
    uint64_t z = (so_seed += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Writes <prefix> + 24 lowercase hex digits into <out> (<n> bytes). */
static void so_new_id(const char *prefix, char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char rid[CP_REQ_ID_LEN + 1];
    uint64_t z = 0;

    if (so_seed == 0) {
        cp_req_id(rid); /* "req_" + 24 hex from the CSPRNG */
    } else {
        for (int k = 0; k < 24; k++) {
            if (k % 16 == 0)
                z = so_splitmix();
            rid[4 + k] = hex[z & 15];
            z >>= 4;
        }
        rid[CP_REQ_ID_LEN] = '\0';
    }
    snprintf(out, n, "%s%s", prefix, rid + 4);
}

/* ---- helpers ---- */

static const char *so_prov(const cp_oai_stream_t *s)
{
    return s->o != NULL && s->o->provider != NULL ? s->o->provider : "upstream";
}

static int so_blank(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!tj_ws(t[i]))
            return 0;
    return 1;
}

/* Non-empty string value of <v>, else NULL. */
static const char *so_str(const json_t *v, size_t *len)
{
    if (!json_is_string(v) || json_string_length(v) == 0)
        return NULL;
    if (len != NULL)
        *len = json_string_length(v);
    return json_string_value(v);
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
static const char *so_call_name(const cp_oai_stream_t *s, const so_call_t *c)
{
    return c->name != NULL ? cp_oai_names_original(s->names, c->name) : "(unnamed)";
}

/* Ends the stream with an error event for <e>. Returns CP_ERR. */
static int so_fail_e(cp_oai_stream_t *s, cp_err_t *e)
{
    cp_oai_stream_fail(s, e);
    return CP_ERR;
}

static int so_fail(cp_oai_stream_t *s, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int so_fail(cp_oai_stream_t *s, int status, const char *type, const char *fmt, ...)
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

/* ---- writing events ---- */

static int so_emit(cp_oai_stream_t *s)
{
    int rc = s->emit(s->ud, s->ob.p, s->ob.len);

    s->ob.len = 0;
    if (s->ob.cap > SO_KEEP)
        sb_free(&s->ob);
    if (rc != CP_OK) { /* the client is gone: nothing more can be sent */
        s->finished = 1;
        s->ok = 0;
        return CP_ERR;
    }
    return CP_OK;
}

/* Starts "event: <type>\ndata: {"type":"<type>"" in <ob>; the caller adds fields, ev_end() closes. */
static void ev_begin(cp_oai_stream_t *s, const char *type)
{
    size_t n = strlen(type);

    s->ob.len = 0;
    SB_LIT(&s->ob, "event: ");
    sb_add(&s->ob, type, n);
    SB_LIT(&s->ob, "\ndata: {\"type\":\"");
    sb_add(&s->ob, type, n);
    sb_addc(&s->ob, '"');
}

static int ev_end(cp_oai_stream_t *s)
{
    SB_LIT(&s->ob, "}\n\n");
    return so_emit(s);
}

static void ev_index(cp_oai_stream_t *s)
{
    SB_LIT(&s->ob, ",\"index\":");
    sb_int(&s->ob, s->open_index);
}

/* A delta of the open block carrying <a> then <b> (either may be empty). */
static int so_delta(cp_oai_stream_t *s, const char *a, size_t an, const char *b, size_t bn)
{
    ev_begin(s, "content_block_delta");
    ev_index(s);
    switch (s->open_kind) {
    case SO_THINK:
        SB_LIT(&s->ob, ",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"");
        break;
    case SO_TEXT:
        SB_LIT(&s->ob, ",\"delta\":{\"type\":\"text_delta\",\"text\":\"");
        break;
    default:
        SB_LIT(&s->ob, ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"");
        break;
    }
    sb_esc(&s->ob, a, an);
    sb_esc(&s->ob, b, bn);
    SB_LIT(&s->ob, "\"}");
    return ev_end(s);
}

static int so_begin(cp_oai_stream_t *s)
{
    if (s->begun)
        return CP_OK;
    if (s->finished)
        return CP_ERR;
    s->begun = 1;
    so_new_id("msg_", s->msg_id, sizeof(s->msg_id));
    ev_begin(s, "message_start");
    SB_LIT(&s->ob, ",\"message\":{\"id\":\"");
    sb_add(&s->ob, s->msg_id, strlen(s->msg_id));
    SB_LIT(&s->ob, "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"");
    sb_esc(&s->ob, s->model, strlen(s->model));
    SB_LIT(&s->ob,
           "\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":");
    sb_int(&s->ob, s->in_est);
    SB_LIT(&s->ob, ",\"output_tokens\":0,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0}}");
    return ev_end(s);
}

/* ---- blocks ---- */

/* Opens a block of <kind> (tool blocks: for call <c>). */
static int so_start(cp_oai_stream_t *s, enum so_kind kind, so_call_t *c)
{
    s->open_kind = (unsigned char)kind;
    s->open_index = s->next_index++;
    if (s->hold_kind != kind)
        sb_free(&s->hold);
    ev_begin(s, "content_block_start");
    ev_index(s);
    if (kind == SO_THINK) {
        SB_LIT(&s->ob, ",\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}");
    } else if (kind == SO_TEXT) {
        SB_LIT(&s->ob, ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}");
    } else {
        const char *name = cp_oai_names_original(s->names, c->name);

        if (c->id == NULL) {
            char id[40];
            so_new_id("toolu_", id, sizeof(id));
            c->id = cp_xstrdup(id);
        }
        s->tools_sent = 1;
        SB_LIT(&s->ob, ",\"content_block\":{\"type\":\"tool_use\",\"id\":\"");
        sb_esc(&s->ob, c->id, strlen(c->id));
        SB_LIT(&s->ob, "\",\"name\":\"");
        sb_esc(&s->ob, name, strlen(name));
        SB_LIT(&s->ob, "\",\"input\":{}}");
    }
    return ev_end(s);
}

/* The open call's arguments stopped before forming a whole object. */
static int so_tool_incomplete(cp_oai_stream_t *s, const so_call_t *c)
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
static int so_close(cp_oai_stream_t *s)
{
    so_call_t *c;

    switch (s->open_kind) {
    case SO_NONE:
        return CP_OK;
    case SO_THINK:
        ev_begin(s, "content_block_delta");
        ev_index(s);
        SB_LIT(&s->ob, ",\"delta\":{\"type\":\"signature_delta\",\"signature\":\"");
        if (s->sig != NULL)
            sb_esc(&s->ob, s->sig, strlen(s->sig));
        SB_LIT(&s->ob, "\"}");
        free(s->sig);
        s->sig = NULL;
        if (ev_end(s) != CP_OK)
            return CP_ERR;
        break;
    case SO_TOOL:
        c = &s->calls[s->open_call];
        if (c->tj.st == TJ_START) { /* no arguments: {} */
            tj_feed(&c->tj, "{}", 2, &c->js);
            if (so_delta(s, c->js.p, c->js.len, NULL, 0) != CP_OK)
                return CP_ERR;
        } else if (c->tj.st != TJ_DONE) {
            return so_tool_incomplete(s, c);
        }
        c->st = CALL_CLOSED;
        sb_free(&c->js);
        break;
    default:
        break;
    }
    s->open_kind = SO_NONE;
    ev_begin(s, "content_block_stop");
    ev_index(s);
    return ev_end(s);
}

/* Text (<kind> SO_TEXT) or reasoning (SO_THINK). */
static int so_text(cp_oai_stream_t *s, enum so_kind kind, const char *t, size_t n)
{
    int rc;

    if (n == 0)
        return CP_OK;
    if (s->open_kind == kind)
        return so_delta(s, t, n, NULL, 0);
    if (so_blank(t, n)) { /* no block for blank text: keep it in case text follows */
        if (s->hold_kind != kind) {
            sb_free(&s->hold);
            s->hold_kind = (unsigned char)kind;
        }
        if (s->hold.len + n <= SO_HOLD_MAX)
            sb_add(&s->hold, t, n);
        return CP_OK;
    }
    if (s->open_kind == SO_TOOL) {
        const so_call_t *c = &s->calls[s->open_call];

        if (c->tj.st != TJ_START && c->tj.st != TJ_DONE) {
            const char *name = so_call_name(s, c);
            return so_fail(s, 502, "api_error",
                           "provider %s sent %s in the middle of the arguments for tool \"%.*s\"", so_prov(s),
                           kind == SO_TEXT ? "text" : "reasoning", so_cut(name, 100), name);
        }
    }
    if (so_close(s) != CP_OK || so_start(s, kind, NULL) != CP_OK)
        return CP_ERR;
    rc = so_delta(s, s->hold.p, s->hold.len, t, n);
    sb_free(&s->hold);
    return rc;
}

/* ---- tool calls ---- */

static int so_bad_args(cp_oai_stream_t *s, const so_call_t *c, int why)
{
    const char *name = so_call_name(s, c);
    const char *what = why == TJ_NOT_OBJECT ? "that are not a JSON object"
                       : why == TJ_DEEP     ? "nested too deeply"
                                            : "that are not valid JSON";

    return so_fail(s, 502, "api_error", "provider %s returned arguments for tool \"%.*s\" %s", so_prov(s),
                   so_cut(name, 100), name, what);
}

/* Sends what call <c> has checked but not sent, if its block is open. */
static int so_call_push(cp_oai_stream_t *s, so_call_t *c)
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
static int so_args(cp_oai_stream_t *s, so_call_t *c, const char *t, size_t n)
{
    size_t before = c->js.len;
    int why = tj_feed(&c->tj, t, n, &c->js);

    if (why != TJ_OK)
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
static int so_args_object(cp_oai_stream_t *s, so_call_t *c, const json_t *obj)
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
static long so_next_waiting(const cp_oai_stream_t *s, int named)
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

static int so_open_call(cp_oai_stream_t *s, size_t ci)
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
static int so_advance(cp_oai_stream_t *s)
{
    long w;

    while ((w = so_next_waiting(s, 1)) >= 0) {
        if (s->open_kind == SO_TOOL && s->calls[s->open_call].tj.st != TJ_DONE)
            return CP_OK;
        if (so_open_call(s, (size_t)w) != CP_OK)
            return CP_ERR;
    }
    return CP_OK;
}

/* The answer's content is over (for now): close the open block, send every waiting call whole. */
static int so_settle(cp_oai_stream_t *s)
{
    long w;

    sb_free(&s->hold);
    if (so_close(s) != CP_OK)
        return CP_ERR;
    while ((w = so_next_waiting(s, 0)) >= 0) {
        so_call_t *c = &s->calls[w];

        if (c->name == NULL) {
            if (c->tj.st == TJ_START) { /* an entry with nothing in it: no call at all */
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
static long so_find_call(const cp_oai_stream_t *s, const json_t *jidx, const char *id, const char *name,
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
                ((id != NULL || name != NULL) && has_args && c->tj.st == TJ_DONE))
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
static int so_tool(cp_oai_stream_t *s, const json_t *tc, const json_t *fn, size_t pos, size_t base)
{
    const json_t *jidx = json_object_get(tc, "index");     /* borrowed from tc */
    const json_t *args = json_object_get(fn, "arguments"); /* borrowed from fn */
    const char *id = so_str(json_object_get(tc, "id"), NULL);
    const char *name = so_str(json_object_get(fn, "name"), NULL);
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
        return so_bad_args(s, c, TJ_NOT_OBJECT);
    return CP_OK;
}

/* ---- chunks ---- */

static int so_finalize(cp_oai_stream_t *s);

/* An error reported in-band: <wrap> (taken) is a body cp_oai_response() maps to an error. */
static int so_inband(cp_oai_stream_t *s, json_t *wrap)
{
    cp_err_t e;
    json_t *r; /* owned */

    memset(&e, 0, sizeof(e));
    r = wrap != NULL ? cp_oai_response(wrap, s->model, s->names, s->o, &e) : NULL;
    json_decref(wrap);
    if (r != NULL || e.type == NULL) { /* cannot happen: every wrapper given is an error */
        json_decref(r);
        cp_err_set(&e, 500, "api_error", "%s: the generation failed", so_prov(s));
    }
    if (strcmp(e.type, "api_error") == 0 && strcasestr(e.msg, "overload") != NULL) {
        e.type = "overloaded_error";
        e.http_status = 529;
    }
    return so_fail_e(s, &e);
}

/* A data event that is JSON but not an object. */
static int so_nonobject(cp_oai_stream_t *s, const json_t *j)
{
    const json_t *err = json_object_get(json_array_get(j, 0), "error"); /* borrowed from j */

    if (err != NULL && !json_is_null(err)) /* Gemini: [{"error":{...}}] */
        return so_inband(s, json_pack("{s:O}", "error", err));
    return so_fail(s, 502, "api_error", "provider %s sent a stream event that is not a chat completion chunk",
                   so_prov(s));
}

/* A data event that is not JSON at all. */
static int so_not_json(cp_oai_stream_t *s, const char *d, size_t n)
{
    cp_err_t x;
    const char *m;
    size_t pl = strlen(so_prov(s));

    if (s->eof)
        return so_fail(s, 502, "api_error", "provider %s stream ended before the answer finished",
                       so_prov(s));
    cp_oai_error(500, d, n, so_prov(s), &x); /* a readable, scrubbed excerpt: "<prov>: <excerpt>" */
    m = strncmp(x.msg, so_prov(s), pl) == 0 && strncmp(x.msg + pl, ": ", 2) == 0 ? x.msg + pl + 2 : x.msg;
    return so_fail(s, 502, "api_error", "provider %s sent a stream event that is not JSON: %.*s", so_prov(s),
                   so_cut(m, 300), m);
}

static void so_usage(cp_oai_stream_t *s, const json_t *u)
{
    cp_oai_usage_t us;

    s->u_in = cp_oai_usage_map(u, &us) ? us.input : s->in_est;
    s->u_read = us.cache_read;
    s->u_write = us.cache_write;
    s->u_out = us.output;
}

static int so_reasoning(cp_oai_stream_t *s, const json_t *d)
{
    const json_t *det = json_object_get(d, "reasoning_details"); /* borrowed from d */
    const char *t;
    size_t n = 0, i;
    json_t *x; /* borrowed from det */

    json_array_foreach(det, i, x)
    {
        const char *sig = so_str(json_object_get(x, "signature"), NULL);
        if (sig != NULL) {
            free(s->sig);
            s->sig = cp_xstrdup(sig);
        }
    }
    t = so_str(json_object_get(d, "reasoning_content"), &n);
    if (t == NULL)
        t = so_str(json_object_get(d, "reasoning"), &n);
    if (t != NULL)
        return so_text(s, SO_THINK, t, n);
    json_array_foreach(det, i, x)
    {
        const json_t *type = json_object_get(x, "type"); /* borrowed from x */
        const json_t *v = NULL;                          /* borrowed from x */

        if (json_is_string(type) && strcmp(json_string_value(type), "reasoning.text") == 0)
            v = json_object_get(x, "text");
        else if (json_is_string(type) && strcmp(json_string_value(type), "reasoning.summary") == 0)
            v = json_object_get(x, "summary");
        if ((t = so_str(v, &n)) != NULL && so_text(s, SO_THINK, t, n) != CP_OK)
            return CP_ERR;
    }
    return CP_OK;
}

static int so_content(cp_oai_stream_t *s, const json_t *c)
{
    const char *t;
    size_t n = 0, i;
    json_t *p; /* borrowed from c */

    if ((t = so_str(c, &n)) != NULL)
        return so_text(s, SO_TEXT, t, n);
    json_array_foreach(c, i, p) /* some servers send content parts */
    {
        const json_t *type = json_object_get(p, "type"); /* borrowed from p */
        if (json_is_string(type) && strcmp(json_string_value(type), "text") == 0 &&
            (t = so_str(json_object_get(p, "text"), &n)) != NULL && so_text(s, SO_TEXT, t, n) != CP_OK)
            return CP_ERR;
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

static int so_choice(cp_oai_stream_t *s, const json_t *ch)
{
    const json_t *fr = json_object_get(ch, "finish_reason"); /* borrowed from ch */
    const json_t *err = json_object_get(ch, "error");        /* borrowed from ch */
    const json_t *d = json_object_get(ch, "delta");          /* borrowed from ch */
    const char *f = so_str(fr, NULL);
    const char *t;
    size_t n = 0, i;
    json_t *tc; /* borrowed from d */

    if (json_is_null(err))
        err = NULL;
    if (err != NULL || (f != NULL && strcmp(f, "error") == 0))
        return so_inband(s, json_pack("{s:[{s:O?,s:s}]}", "choices", "error", err, "finish_reason", "error"));
    if (f != NULL && strcmp(f, "insufficient_system_resource") == 0) /* DeepSeek */
        return so_inband(s, json_pack("{s:[{s:s}]}", "choices", "finish_reason", f));
    if (!json_is_object(d))
        d = json_object_get(ch, "message"); /* a whole chat.completion: one big delta */
    if (json_is_object(d)) {
        const json_t *calls = json_object_get(d, "tool_calls"); /* borrowed from d */
        const json_t *fc = json_object_get(d, "function_call"); /* borrowed from d */
        size_t base = s->ncalls;

        if (so_reasoning(s, d) != CP_OK || so_content(s, json_object_get(d, "content")) != CP_OK)
            return CP_ERR;
        if ((t = so_str(json_object_get(d, "refusal"), &n)) != NULL) {
            s->refusal = 1;
            if (so_text(s, SO_TEXT, t, n) != CP_OK)
                return CP_ERR;
        }
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
    }
    if (f != NULL) {
        const char *vstop = so_str(json_object_get(ch, "stop_reason"), NULL); /* vLLM: the stop string */

        s->fin = so_fin_of(f);
        s->have_fin = 1;
        free(s->stop_seq);
        s->stop_seq = vstop != NULL ? cp_xstrdup(vstop) : NULL;
        return so_settle(s);
    }
    return CP_OK;
}

static int so_chunk(cp_oai_stream_t *s, const json_t *j)
{
    const json_t *err = json_object_get(j, "error");       /* borrowed from j */
    const json_t *u = json_object_get(j, "usage");         /* borrowed from j */
    const json_t *choices = json_object_get(j, "choices"); /* borrowed from j */
    size_t i;
    json_t *ch; /* borrowed from choices */

    if (err != NULL && !json_is_null(err))
        return so_inband(s, json_pack("{s:O}", "error", err));
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

static int so_event(cp_oai_stream_t *s, const cp_sse_event_t *ev)
{
    const char *d = ev->data;
    size_t n = ev->data_len;
    json_t *j; /* owned */
    int rc;

    while (n > 0 && tj_ws(d[0])) {
        d++;
        n--;
    }
    while (n > 0 && tj_ws(d[n - 1]))
        n--;
    if (ev->event_len == 5 && memcmp(ev->event, "error", 5) == 0) {
        cp_err_t e;
        j = json_loadb(d, n, JSON_DECODE_ANY, NULL);
        if (json_is_object(j) && json_object_get(j, "error") == NULL)
            return so_inband(s, json_pack("{s:o}", "error", j));
        if (json_is_object(j) || json_is_array(j)) {
            rc = json_is_object(j) ? so_chunk(s, j) : so_nonobject(s, j);
            json_decref(j);
            return rc;
        }
        json_decref(j);
        cp_oai_error(500, d, n, so_prov(s), &e);
        return so_fail_e(s, &e);
    }
    if (n == 0)
        return CP_OK; /* keep-alive */
    if (n == 6 && memcmp(d, "[DONE]", 6) == 0) {
        s->done = 1;
        return so_finalize(s);
    }
    j = json_loadb(d, n, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
    if (j == NULL)
        return so_not_json(s, d, n);
    rc = json_is_object(j) ? so_chunk(s, j) : so_nonobject(s, j);
    json_decref(j);
    return rc;
}

static int so_finalize(cp_oai_stream_t *s)
{
    const char *stop = "end_turn";
    long long in = s->u_in;

    if (so_begin(s) != CP_OK || so_settle(s) != CP_OK)
        return CP_ERR;
    if (s->refusal)
        stop = "refusal";
    else if (s->fin == FIN_LENGTH)
        stop = "max_tokens";
    else if (s->fin == FIN_FILTER)
        stop = "refusal";
    else if (s->tools_sent)
        stop = "tool_use"; /* also when Gemini ends a tool-call turn with "stop" */
    else if (s->fin == FIN_STOP && s->stop_seq != NULL)
        stop = "stop_sequence";
    ev_begin(s, "message_delta");
    SB_LIT(&s->ob, ",\"delta\":{\"stop_reason\":\"");
    sb_add(&s->ob, stop, strlen(stop));
    SB_LIT(&s->ob, "\",\"stop_sequence\":");
    if (strcmp(stop, "stop_sequence") == 0) {
        sb_addc(&s->ob, '"');
        sb_esc(&s->ob, s->stop_seq, strlen(s->stop_seq));
        sb_addc(&s->ob, '"');
    } else {
        SB_LIT(&s->ob, "null");
    }
    SB_LIT(&s->ob, "},\"usage\":{\"input_tokens\":");
    sb_int(&s->ob, in);
    SB_LIT(&s->ob, ",\"output_tokens\":");
    sb_int(&s->ob, s->u_out);
    SB_LIT(&s->ob, ",\"cache_read_input_tokens\":");
    sb_int(&s->ob, s->u_read);
    SB_LIT(&s->ob, ",\"cache_creation_input_tokens\":");
    sb_int(&s->ob, s->u_write);
    SB_LIT(&s->ob, "}");
    if (ev_end(s) != CP_OK)
        return CP_ERR;
    ev_begin(s, "message_stop");
    if (ev_end(s) != CP_OK)
        return CP_ERR;
    s->finished = 1;
    s->ok = 1;
    return CP_OK;
}

/* ---- public ---- */

cp_oai_stream_t *cp_oai_stream_new(const char *client_model, const cp_oai_names_t *names,
                                   const cp_oai_opts_t *o, int64_t input_tokens, cp_emit_fn emit, void *ud)
{
    cp_oai_stream_t *s = cp_xcalloc(1, sizeof(*s));

    s->emit = emit;
    s->ud = ud;
    s->names = names;
    s->o = o;
    s->model = cp_xstrdup(client_model != NULL ? client_model : "");
    s->in_est = input_tokens > 0 ? input_tokens : 0;
    s->u_in = s->in_est;
    return s;
}

void cp_oai_stream_free(cp_oai_stream_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ncalls; i++) {
        free(s->calls[i].id);
        free(s->calls[i].name);
        sb_free(&s->calls[i].js);
    }
    free(s->calls);
    cp_sse_free(s->sse);
    sb_free(&s->raw);
    sb_free(&s->ob);
    sb_free(&s->hold);
    free(s->stop_seq);
    free(s->sig);
    free(s->model);
    free(s);
}

int cp_oai_stream_begin(cp_oai_stream_t *s)
{
    return so_begin(s);
}

/* Pulls and translates every complete event. */
static int so_drain(cp_oai_stream_t *s, int fed)
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

int cp_oai_stream_feed(cp_oai_stream_t *s, const char *p, size_t n)
{
    if (s->finished)
        return CP_OK;
    if (so_begin(s) != CP_OK)
        return CP_ERR;
    if (s->mode == MODE_UNKNOWN) { /* the first non-blank byte tells an event stream from plain JSON */
        size_t k = 0;
        while (k < n && tj_ws(p[k]))
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
        if (s->raw.len + n > SO_RAW_MAX)
            return so_fail(s, 502, "api_error", "provider %s answered with more than %zu MiB of JSON",
                           so_prov(s), SO_RAW_MAX >> 20);
        sb_add(&s->raw, p, n);
        return CP_OK;
    }
    return so_drain(s, cp_sse_feed(s->sse, p, n));
}

/* The end of a plain-JSON body: a whole chat.completion (or an error). */
static int so_raw_end(cp_oai_stream_t *s)
{
    json_t *j = json_loadb(s->raw.p, s->raw.len, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL); /* owned */
    int rc;

    if (j == NULL) {
        s->eof = 0; /* the body is all here: report it as what it is */
        return so_not_json(s, s->raw.p, s->raw.len);
    }
    if (!json_is_object(j))
        rc = so_nonobject(s, j);
    else if (json_object_get(j, "error") == NULL && json_array_size(json_object_get(j, "choices")) == 0)
        rc = so_fail(s, 502, "api_error",
                     "provider %s returned an unexpected response (not a chat completion)", so_prov(s));
    else
        rc = so_chunk(s, j);
    json_decref(j);
    sb_free(&s->raw);
    if (rc != CP_OK || s->finished)
        return s->ok ? CP_OK : CP_ERR;
    return so_finalize(s) == CP_OK ? CP_OK : CP_ERR;
}

int cp_oai_stream_end(cp_oai_stream_t *s)
{
    if (s->finished)
        return s->ok ? CP_OK : CP_ERR;
    if (so_begin(s) != CP_OK)
        return CP_ERR;
    s->eof = 1;
    if (s->mode == MODE_RAW)
        return so_raw_end(s);
    if (s->sse != NULL && cp_sse_pending(s->sse) > 0 && so_drain(s, cp_sse_feed(s->sse, "\n\n", 2)) != CP_OK)
        return CP_ERR; /* the last event lacked its blank line */
    if (s->finished)
        return s->ok ? CP_OK : CP_ERR;
    if (!s->have_fin && !s->done)
        return so_fail(s, 502, "api_error", "provider %s stream ended before the answer finished",
                       so_prov(s));
    return so_finalize(s) == CP_OK ? CP_OK : CP_ERR;
}

char *cp_oai_stream_error_event(const cp_err_t *e)
{
    char *j = cp_anth_error_json(e->http_status, e->type, e->msg, NULL);
    char *s = cp_xasprintf("event: error\ndata: %s\n\n", j);

    free(j);
    return s;
}

void cp_oai_stream_fail(cp_oai_stream_t *s, const cp_err_t *e)
{
    char *ev;

    if (s->finished)
        return;
    s->finished = 1;
    s->ok = 0;
    ev = cp_oai_stream_error_event(e);
    s->emit(s->ud, ev, strlen(ev));
    free(ev);
}

int cp_oai_stream_finished(const cp_oai_stream_t *s)
{
    return s->finished;
}
