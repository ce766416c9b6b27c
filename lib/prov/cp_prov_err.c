/* lib/prov/cp_prov_err.c: see cp_prov_err.h. What the upstream said is kept (its message, the
 * provider named), made printable and short, and scrubbed of anything that looks like a credential. */
#include "cp_prov_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cp_buf.h"
#include "cp_json.h"

#define ERR_MSG_MAX 400 /* bytes of an upstream error message kept */
#define ERR_EXCERPT 200 /* bytes of a non-JSON error body kept */

/* Anthropic status and error.type for an upstream HTTP status (docs/protocol-notes.md, "Errors"). */
static int err_map_status(long st, const char **type)
{
    switch (st) {
    case 400:
    case 422:
        *type = "invalid_request_error";
        return 400;
    case 401:
        *type = "authentication_error";
        return 401;
    case 402:
        *type = "billing_error";
        return 402;
    case 403:
        *type = "permission_error";
        return 403;
    case 404:
        *type = "not_found_error";
        return 404;
    case 408:
    case 504:
        *type = "timeout_error";
        return 504;
    case 413:
        *type = "request_too_large";
        return 413;
    case 429:
        *type = "rate_limit_error";
        return 429;
    case 502:
    case 503:
    case 529:
        *type = "overloaded_error";
        return 529;
    default:
        break;
    }
    if (st >= 400 && st < 500) {
        *type = "invalid_request_error";
        return 400;
    }
    *type = "api_error";
    return st >= 500 && st < 600 ? 500 : 502;
}

/* HTTP status implied by an error reported inside a 200 body: numeric code, else a code, type or
 * Google status word, else 500. */
static long err_status_hint(long num, const char *word)
{
    static const struct {
        const char *word;
        long status;
    } hints[] = {
        {"insufficient_quota", 429}, {"rate_limit_exceeded", 429},   {"rate_limit_error", 429},
        {"RESOURCE_EXHAUSTED", 429}, {"invalid_request_error", 400}, {"context_length_exceeded", 400},
        {"INVALID_ARGUMENT", 400},   {"UNAUTHENTICATED", 401},       {"PERMISSION_DENIED", 403},
        {"NOT_FOUND", 404},          {"DEADLINE_EXCEEDED", 504},     {"UNAVAILABLE", 503},
        {"overloaded_error", 529},
    };

    if (num >= 400 && num < 600)
        return num;
    for (size_t i = 0; word != NULL && i < sizeof(hints) / sizeof(hints[0]); i++)
        if (strcmp(word, hints[i].word) == 0)
            return hints[i].status;
    return 500;
}

/* What an upstream error value says. Every pointer is borrowed from the parsed body. */
typedef struct err_errinfo {
    const char *msg;  /* human message */
    const char *code; /* string code, else type, else Google status */
    const char *raw;  /* OpenRouter metadata.raw */
    const char *via;  /* OpenRouter metadata.provider_name */
    long num;         /* numeric code, 0 when none */
    int has_n_ctx;    /* llama.cpp reports the numbers as fields */
    long n_prompt, n_ctx;
} err_errinfo_t;

/* Members that carry the HTTP status of an error reported inside a body or a stream (TGI and the
 * Hugging Face router: status_code; others: http_status_code, or a numeric status). */
static const char *const err_status_keys[] = {"status_code", "http_status_code", "status"};

static void err_errinfo(const json_t *v, err_errinfo_t *ei)
{
    const json_t *x, *meta; /* borrowed from v */

    memset(ei, 0, sizeof(*ei));
    if (json_is_array(v)) /* Gemini: [{"error":{...}}] */
        v = json_array_get(v, 0);
    x = json_object_get(v, "error");
    if (json_is_string(x)) { /* Ollama and others: {"error":"..."} */
        ei->msg = json_string_value(x);
        return;
    }
    if (json_is_object(x))
        v = x;
    if (!json_is_object(v))
        return;
    ei->msg = json_string_value(json_object_get(v, "message"));
    x = json_object_get(v, "detail"); /* FastAPI: string, or [{"msg":...}] for 422 */
    if (ei->msg == NULL)
        ei->msg = json_is_string(x) ? json_string_value(x)
                                    : json_string_value(json_object_get(json_array_get(x, 0), "msg"));
    x = json_object_get(v, "code");
    if (json_is_integer(x))
        ei->num = (long)json_integer_value(x);
    ei->code = json_string_value(x);
    for (size_t i = 0; i < sizeof(err_status_keys) / sizeof(err_status_keys[0]) && ei->num == 0; i++) {
        const json_t *st = json_object_get(v, err_status_keys[i]); /* borrowed from v */
        if (json_is_integer(st) && json_integer_value(st) >= 100 && json_integer_value(st) < 600)
            ei->num = (long)json_integer_value(st);
    }
    if (ei->code == NULL)
        ei->code = json_string_value(json_object_get(v, "status"));
    if (ei->code == NULL)
        ei->code = json_string_value(json_object_get(v, "type"));
    meta = json_object_get(v, "metadata");
    ei->raw = json_string_value(json_object_get(meta, "raw"));
    ei->via = json_string_value(json_object_get(meta, "provider_name"));
    if (json_is_integer(json_object_get(v, "n_ctx"))) {
        ei->has_n_ctx = 1;
        ei->n_ctx = (long)json_integer_value(json_object_get(v, "n_ctx"));
        ei->n_prompt = (long)json_integer_value(json_object_get(v, "n_prompt_tokens"));
    }
}

static int err_tokch(char c)
{
    return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
            c == '-') ||
           c == '.' || c == '*' || c == '+' || c == '/' || c == '=' || c == '~';
}

static int err_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* End of the token starting at <i>; a trailing '.' ends a sentence, it is not part of the token. */
static size_t err_tokend(const cp_buf_t *b, size_t i)
{
    size_t j = i;

    while (j < b->len && err_tokch(b->p[j]))
        j++;
    while (j > i && b->p[j - 1] == '.')
        j--;
    return j;
}

/* Replaces in <b> whatever looks like a credential with "[redacted]": the value after "Bearer " or
 * a key=/token= parameter, a word with a known key prefix, a run of 32+ letters and digits mixed.
 * Checked at every word start, so keys inside URLs and quoted JSON are found too. */
static void err_scrub(cp_buf_t *b)
{
    static const char *const prefixes[] = {"sk-",   "sk_",  "AIza",        "gsk_",   "xai-",
                                           "hf_",   "ghp_", "github_pat_", "pk-",    "rk-",
                                           "sess-", "fw_",  "pplx-",       "nvapi-", "ya29."};
    static const char *const params[] = {
        "bearer ", "key=", "api_key=", "apikey=", "api-key=", "token=", "access_token="};
    cp_buf_t out = CP_BUF_INIT;
    size_t i = 0;

    while (i < b->len) {
        int start = i == 0 || !err_alnum(b->p[i - 1]);
        size_t j = i, skip = 0;
        int red = 0;

        for (size_t k = 0; start && k < sizeof(params) / sizeof(params[0]) && skip == 0; k++) {
            size_t pl = strlen(params[k]);
            if (i + pl < b->len && strncasecmp(b->p + i, params[k], pl) == 0 && err_tokch(b->p[i + pl]))
                skip = pl;
        }
        if (skip > 0) { /* keep the parameter's name, redact its value */
            cp_buf_add(&out, b->p + i, skip);
            i = err_tokend(b, i + skip);
            cp_buf_add(&out, "[redacted]", 10);
            continue;
        }
        if (start && err_alnum(b->p[i])) {
            for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]) && !red; k++) {
                size_t pl = strlen(prefixes[k]);
                if (strncmp(b->p + i, prefixes[k], pl) == 0) {
                    j = err_tokend(b, i);
                    red = j - i >= pl + 8;
                }
            }
            if (!red) {
                size_t digits = 0;
                for (j = i; j < b->len && err_alnum(b->p[j]); j++)
                    digits += b->p[j] >= '0' && b->p[j] <= '9';
                red = j - i >= 32 && digits > 0 && digits < j - i;
            }
        }
        if (red) {
            cp_buf_add(&out, "[redacted]", 10);
            i = j;
        } else {
            cp_buf_add(&out, b->p + i, 1);
            i++;
        }
    }
    cp_buf_free(b);
    *b = out;
}

/* Appends to <b> the text <s> (<n> bytes) made printable: invalid UTF-8 -> '?', control
 * characters and runs of blanks -> one space. */
static void err_clean_add(cp_buf_t *b, const char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        int ok = len > 0 && i + len <= n && !(len == 2 && c < 0xC2) && !(c > 0xF4);

        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
        if (ok && len == 3)
            ok = !(c == 0xE0 && (unsigned char)s[i + 1] < 0xA0) &&
                 !(c == 0xED && (unsigned char)s[i + 1] >= 0xA0);
        if (ok && len == 4)
            ok = !(c == 0xF0 && (unsigned char)s[i + 1] < 0x90) &&
                 !(c == 0xF4 && (unsigned char)s[i + 1] >= 0x90);
        if (!ok) {
            cp_buf_add(b, "?", 1);
            i++;
        } else if (c < 0x20 || c == 0x7f || c == ' ') {
            if (b->len > 0 && b->p[b->len - 1] != ' ')
                cp_buf_add(b, " ", 1);
            i++;
        } else {
            cp_buf_add(b, s + i, len);
            i += len;
        }
    }
}

/* Cuts <b> to at most <max> bytes on a UTF-8 boundary, marking the cut with "...". */
static void err_cut(cp_buf_t *b, size_t max)
{
    while (b->len > 0 && b->p[b->len - 1] == ' ')
        b->p[--b->len] = '\0';
    if (b->len <= max)
        return;
    b->len = max - 3;
    while (b->len > 0 && ((unsigned char)b->p[b->len] & 0xC0) == 0x80)
        b->len--;
    b->p[b->len] = '\0';
    cp_buf_add(b, "...", 3);
}

/* Appends to <b> a readable excerpt of a non-JSON body: an HTML <title>, else the text without tags. */
static void err_excerpt(cp_buf_t *b, const char *body, size_t len)
{
    const char *t = len > 0 ? memmem(body, len, "<title>", 7) : NULL;
    const char *te = t != NULL ? memmem(t, len - (size_t)(t - body), "</title>", 8) : NULL;
    cp_buf_t plain = CP_BUF_INIT;
    int in_tag = 0;

    if (t != NULL && te != NULL && te > t + 7) {
        err_clean_add(b, t + 7, (size_t)(te - t - 7));
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (body[i] == '<' && i + 1 < len &&
            (body[i + 1] == '/' || body[i + 1] == '!' || err_alnum(body[i + 1])))
            in_tag = 1;
        else if (in_tag && body[i] == '>') {
            in_tag = 0;
            cp_buf_add(&plain, " ", 1);
        } else if (!in_tag)
            cp_buf_add(&plain, body + i, 1);
    }
    err_clean_add(b, plain.p != NULL ? plain.p : "", plain.len);
    cp_buf_free(&plain);
}

/* Returns the number right after <key> in <s> (digits, commas allowed), or -1. */
static long err_num_after(const char *s, const char *key)
{
    const char *p = strcasestr(s, key);
    long n = -1;

    if (p == NULL)
        return -1;
    for (p += strlen(key); *p == ' ' || *p == '(' || *p == '~'; p++)
        ;
    for (; (*p >= '0' && *p <= '9') || (*p == ',' && p[1] >= '0' && p[1] <= '9'); p++)
        if (*p != ',')
            n = (n < 0 ? 0 : n * 10) + (*p - '0');
    return n;
}

static int err_is_overflow(const char *msg, const char *code)
{
    static const char *const words[] = {
        "context length",           "context_length",      "context window",    "context size",
        "maximum context",          "too many tokens",     "input token count", "prompt is too long",
        "maximum number of tokens", "exceed_context_size", "prompt too long"};

    if (code != NULL &&
        (strcmp(code, "context_length_exceeded") == 0 || strcmp(code, "exceed_context_size_error") == 0))
        return 1;
    for (size_t i = 0; msg != NULL && i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(msg, words[i]) != NULL)
            return 1;
    return 0;
}

/* Fills <e> for upstream HTTP status <st> and what <ei> says (or the plain-text <body>). */
static void err_fill(long st, const err_errinfo_t *ei, const char *body, size_t len, const char *prov,
                     cp_err_t *e)
{
    const char *type;
    int status = err_map_status(st, &type);
    cp_buf_t m = CP_BUF_INIT;

    if (ei->msg != NULL && ei->msg[0] != '\0') {
        err_clean_add(&m, ei->msg, strlen(ei->msg));
        if (ei->raw != NULL && ei->raw[0] != '\0') { /* OpenRouter: the provider's own words */
            json_t *rj = cp_json_loadb(ei->raw, strlen(ei->raw), CP_JSON_PARSE, NULL); /* owned */
            err_errinfo_t inner;
            const char *rm = ei->raw;

            err_errinfo(rj, &inner);
            if (inner.msg != NULL && inner.msg[0] != '\0')
                rm = inner.msg;
            if (strstr(ei->msg, rm) == NULL) {
                cp_buf_t r = CP_BUF_INIT;
                err_clean_add(&r, rm, strlen(rm));
                err_cut(&r, ERR_EXCERPT);
                cp_buf_add(&m, " (", 2);
                if (ei->via != NULL) {
                    err_clean_add(&m, ei->via, strlen(ei->via));
                    cp_buf_add(&m, ": ", 2);
                }
                cp_buf_add(&m, r.p != NULL ? r.p : "", r.len);
                cp_buf_add(&m, ")", 1);
                cp_buf_free(&r);
            }
            json_decref(rj);
        }
    } else if (body != NULL && len > 0) {
        err_excerpt(&m, body, len);
        err_cut(&m, ERR_EXCERPT);
    }
    err_scrub(&m);
    err_cut(&m, ERR_MSG_MAX);
    if (m.len == 0) {
        char s[64];
        int n = snprintf(s, sizeof(s), "HTTP %ld with no error message", st);
        cp_buf_add(&m, s, (size_t)n);
    }

    if (status == 429 && ei->code != NULL && strcmp(ei->code, "insufficient_quota") == 0) {
        cp_err_set(e, 429, type, "%s: quota exhausted (insufficient_quota), retrying will not help: %s", prov,
                   m.p);
        if (e != NULL)
            e->no_retry = 1; /* the client gets x-should-retry: false, so the SDKs do not retry */
    } else if (status == 400 && err_is_overflow(m.p, ei->code)) {
        long max = ei->has_n_ctx ? ei->n_ctx : err_num_after(m.p, "maximum context length is");
        long got = ei->has_n_ctx ? ei->n_prompt : err_num_after(m.p, "resulted in");

        if (max < 0)
            max = err_num_after(m.p, "maximum number of tokens allowed");
        if (got < 0)
            got = err_num_after(m.p, "requested about");
        if (got < 0)
            got = err_num_after(m.p, "requested");
        if (got < 0)
            got = err_num_after(m.p, "input token count");
        if (max > 0 && got > 0)
            cp_err_set(e, 400, type, "prompt is too long: %ld tokens > %ld maximum (%s: %s)", got, max, prov,
                       m.p);
        else
            cp_err_set(e, 400, type, "prompt is too long: %s: %s", prov, m.p);
    } else {
        cp_err_set(e, status, type, "%s: %s", prov, m.p);
    }
    cp_buf_free(&m);
    if (e != NULL) { /* vsnprintf may have cut a UTF-8 sequence at the end of msg[] */
        size_t n = strlen(e->msg), k = n;
        while (k > 0 && ((unsigned char)e->msg[k - 1] & 0xC0) == 0x80)
            k--;
        if (k > 0 && ((unsigned char)e->msg[k - 1] & 0x80) != 0) {
            unsigned char c = (unsigned char)e->msg[k - 1];
            size_t want = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
            if (n - (k - 1) < want)
                e->msg[k - 1] = '\0';
        }
    }
}

void cp_prov_error(long status, const char *body, size_t len, const char *provider, cp_err_t *e)
{
    json_t *j = NULL; /* owned */
    err_errinfo_t ei;
    size_t off = 0;

    if (provider == NULL)
        provider = "upstream";
    if (body == NULL) {
        body = "";
        len = 0;
    }
    while (off < len && (body[off] == ' ' || body[off] == '\n' || body[off] == '\r' || body[off] == '\t'))
        off++;
    if (off < len && (body[off] == '{' || body[off] == '[' || body[off] == '"'))
        j = cp_json_loadb(body + off, len - off, CP_JSON_PARSE, NULL);
    if (json_is_string(j)) {
        memset(&ei, 0, sizeof(ei));
        ei.msg = json_string_value(j);
    } else {
        err_errinfo(j, &ei);
    }
    err_fill(status, &ei, body + off, len - off, provider, e);
    json_decref(j);
}

void cp_prov_error_value(const json_t *err, const char *provider, cp_err_t *e)
{
    err_errinfo_t ei;
    json_t *wrap = json_pack("{s:O}", "error", err); /* owned */

    if (provider == NULL)
        provider = "upstream";
    err_errinfo(wrap, &ei);
    err_fill(err_status_hint(ei.num, ei.code), &ei, NULL, 0, provider, e);
    json_decref(wrap);
}

int cp_prov_error_overflow(long status, const char *body, size_t len)
{
    cp_err_t e = {0};

    if (status != 400)
        return 0;
    cp_prov_error(status, body, len, NULL, &e);
    return e.http_status == 400 && strncmp(e.msg, "prompt is too long", 18) == 0;
}
