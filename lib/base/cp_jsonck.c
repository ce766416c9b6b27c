/* lib/base/cp_jsonck.c: see cp_jsonck.h. A byte-driven state machine; containers are tracked in a
 * bit stack (object or array per level), so the state is a few bytes whatever the input. Strings,
 * by far the bulk of tool arguments, are passed on in runs rather than byte by byte. */
#include "cp_jsonck.h"

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

#define TJ_REREAD (-1) /* tj_step: the number ended before this byte; read it again in the new state */

static const char *const tj_lits[] = {"true", "false", "null"};

static int tj_push(cp_jsonck_t *t, int is_arr)
{
    uint64_t bit = (uint64_t)1 << (t->depth % 64);

    if (t->depth >= CP_JSONCK_DEPTH_MAX)
        return CP_JSONCK_DEEP;
    if (is_arr)
        t->arr[t->depth / 64] |= bit;
    else
        t->arr[t->depth / 64] &= ~bit;
    t->depth++;
    return CP_JSONCK_OK;
}

static int tj_top_is_arr(const cp_jsonck_t *t)
{
    unsigned d = t->depth - 1u;

    return (int)((t->arr[d / 64] >> (d % 64)) & 1);
}

static void tj_after_value(cp_jsonck_t *t)
{
    t->st = t->depth == 0 ? TJ_DONE : TJ_NEXT;
}

/* The first byte <c> of a value. */
static int tj_value(cp_jsonck_t *t, char c)
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
        return CP_JSONCK_OK;
    case 't':
    case 'f':
    case 'n':
        t->st = TJ_LIT;
        t->lit = c == 't' ? 0 : c == 'f' ? 1 : 2;
        t->sub = 1;
        return CP_JSONCK_OK;
    case '-':
        t->st = TJ_NUM;
        t->sub = TJN_MINUS;
        return CP_JSONCK_OK;
    case '0':
        t->st = TJ_NUM;
        t->sub = TJN_ZERO;
        return CP_JSONCK_OK;
    default:
        if (c >= '1' && c <= '9') {
            t->st = TJ_NUM;
            t->sub = TJN_INT;
            return CP_JSONCK_OK;
        }
        return CP_JSONCK_SYNTAX;
    }
}

/* One byte of a number. Returns 1 when <c> belongs to it, 0 when the number ended before <c>, -1 on
 * a syntax error. */
static int tj_num(cp_jsonck_t *t, char c)
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

int cp_jsonck_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Inside a string: passes on the run of plain bytes from s[*i], then the byte that ended it (the
 * closing quote, a backslash, or a raw control character, which goes out escaped). Advances *i. */
static int tj_string(cp_jsonck_t *t, const char *s, size_t n, size_t *i, cp_buf_t *out)
{
    size_t run = *i;
    char c;

    while (run < n && s[run] != '"' && s[run] != '\\' && (unsigned char)s[run] >= 0x20)
        run++;
    if (cp_buf_add(out, s + *i, run - *i) != CP_OK)
        return CP_JSONCK_FULL;
    *i = run;
    if (run == n)
        return CP_JSONCK_OK;
    c = s[(*i)++];
    if (c != '"' && c != '\\') /* a raw control character: invalid JSON, sent escaped */
        return cp_buf_add_jstr(out, &c, 1) == CP_OK ? CP_JSONCK_OK : CP_JSONCK_FULL;
    if (c == '\\')
        t->st = TJ_ESC;
    else if (t->key)
        t->st = TJ_COLON;
    else
        tj_after_value(t);
    return cp_buf_addc(out, c) == CP_OK ? CP_JSONCK_OK : CP_JSONCK_FULL;
}

/* Structure outside values: '[' and '{' just opened, a key expected, ':' or ',' expected. */
static int tj_step_structure(cp_jsonck_t *t, char c)
{
    switch (t->st) {
    case TJ_FIRST:
        if (c != ']')
            return tj_value(t, c);
        t->depth--;
        tj_after_value(t);
        return CP_JSONCK_OK;
    case TJ_KEY_OR_END:
    case TJ_KEY:
        if (c == '"') {
            t->st = TJ_STR;
            t->key = 1;
        } else if (c == '}' && t->st == TJ_KEY_OR_END) {
            t->depth--;
            tj_after_value(t);
        } else {
            return CP_JSONCK_SYNTAX;
        }
        return CP_JSONCK_OK;
    case TJ_COLON:
        if (c != ':')
            return CP_JSONCK_SYNTAX;
        t->st = TJ_VALUE;
        return CP_JSONCK_OK;
    default: /* TJ_NEXT */
        if (c == ',') {
            t->st = tj_top_is_arr(t) ? TJ_VALUE : TJ_KEY;
        } else if (c == (tj_top_is_arr(t) ? ']' : '}')) {
            t->depth--;
            tj_after_value(t);
        } else {
            return CP_JSONCK_SYNTAX;
        }
        return CP_JSONCK_OK;
    }
}

/* Inside a token: an escape, a \u escape, a literal, a number. */
static int tj_step_token(cp_jsonck_t *t, char c)
{
    int r;

    switch (t->st) {
    case TJ_ESC:
        if (c == 'u') {
            t->st = TJ_HEX;
            t->sub = 0;
        } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
                   c == 't') {
            t->st = TJ_STR;
        } else {
            return CP_JSONCK_SYNTAX;
        }
        return CP_JSONCK_OK;
    case TJ_HEX:
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return CP_JSONCK_SYNTAX;
        if (++t->sub == 4)
            t->st = TJ_STR;
        return CP_JSONCK_OK;
    case TJ_LIT:
        if (c != tj_lits[t->lit][t->sub])
            return CP_JSONCK_SYNTAX;
        if (tj_lits[t->lit][++t->sub] == '\0')
            tj_after_value(t);
        return CP_JSONCK_OK;
    default: /* TJ_NUM */
        r = tj_num(t, c);
        if (r < 0)
            return CP_JSONCK_SYNTAX;
        if (r == 0) {
            tj_after_value(t);
            return TJ_REREAD;
        }
        return CP_JSONCK_OK;
    }
}

/* One byte <c> outside a string's plain run. Returns a cp_jsonck_rc, or TJ_REREAD. */
static int tj_step(cp_jsonck_t *t, char c)
{
    switch (t->st) {
    case TJ_START:
        return c == '{' ? tj_value(t, c) : CP_JSONCK_NOT_OBJECT;
    case TJ_VALUE:
        return tj_value(t, c);
    case TJ_FIRST:
    case TJ_KEY_OR_END:
    case TJ_KEY:
    case TJ_COLON:
    case TJ_NEXT:
        return tj_step_structure(t, c);
    case TJ_ESC:
    case TJ_HEX:
    case TJ_LIT:
    case TJ_NUM:
        return tj_step_token(t, c);
    default: /* TJ_DONE: something after the object */
        return CP_JSONCK_SYNTAX;
    }
}

/* True when whitespace is between tokens in state <st> (inside a token it ends or breaks it). */
static int tj_between_tokens(unsigned char st)
{
    return st != TJ_ESC && st != TJ_HEX && st != TJ_LIT && st != TJ_NUM;
}

int cp_jsonck_feed(cp_jsonck_t *t, const char *s, size_t n, cp_buf_t *out)
{
    size_t i = 0;
    int rc;

    while (i < n) {
        char c = s[i];

        if (t->st == TJ_STR) {
            if ((rc = tj_string(t, s, n, &i, out)) != CP_JSONCK_OK)
                return rc;
            continue;
        }
        if (cp_jsonck_ws(c) && tj_between_tokens(t->st)) {
            /* whitespace around the object is not part of it; inside it, it is kept as sent */
            if (t->st != TJ_START && t->st != TJ_DONE && cp_buf_addc(out, c) != CP_OK)
                return CP_JSONCK_FULL;
            i++;
            continue;
        }
        rc = tj_step(t, c);
        if (rc == TJ_REREAD)
            continue;
        if (rc != CP_JSONCK_OK)
            return rc;
        if (cp_buf_addc(out, c) != CP_OK)
            return CP_JSONCK_FULL;
        i++;
    }
    return CP_JSONCK_OK;
}

int cp_jsonck_started(const cp_jsonck_t *t)
{
    return t->st != TJ_START;
}

int cp_jsonck_done(const cp_jsonck_t *t)
{
    return t->st == TJ_DONE;
}
