/* lib/cp_oai.c: see cp_oai.h.
 *
 * Everything here is a pure function of its JSON inputs and the provider options: the same Anthropic
 * request always gives the same upstream body (the shortened tool names too: a short name is a hash
 * of the long one). Nothing is logged here. Information with no OpenAI equivalent is either dropped
 * by rule (protocol.md F.10: cache_control, top_k, service_tier, container, inference_geo,
 * context_management, citations, redacted_thinking, thinking signatures toward OpenAI/Gemini) or,
 * when losing it would change the answer, refused with a 400 naming the feature (server tools,
 * Files API ids, document URLs, PDFs toward non-OpenAI providers, mcp_servers, stop sequences toward
 * OpenAI reasoning models, which reject them).
 *
 * Choices protocol.md leaves open, made here:
 *  - Text that must become one string (system blocks, all-text user turns, assistant text, tool
 *    results, thinking) is joined with "\n\n"; empty pieces are skipped.
 *  - tool_result is_error:true -> the tool message starts with "Error: " ("Error" when empty).
 *  - Images and PDFs inside a tool_result go to a user message right after the tool messages
 *    (tool messages carry text only), introduced by one text part naming the tool call; the tool
 *    message says how many attachments follow.
 *  - stop_sequences: the first 4 toward OpenAI, Gemini and OpenRouter (OpenAI's limit), all toward
 *    generic servers; toward an OpenAI reasoning model a 400 (api.openai.com rejects "stop" there).
 *  - thinking disabled -> reasoning_effort "none" for Gemini and generic servers, OpenRouter
 *    reasoning {effort:"none"}, nothing toward api.openai.com (o-series and gpt-5 reject "none").
 *  - output_config.effort without any thinking object is mapped too: it is Anthropic's
 *    spend-on-this-answer knob whether or not thinking is on.
 *  - metadata.user_id longer than 64 bytes -> its lowercase hex SHA-256 (64 bytes). Gemini gets no
 *    "user" (its strict parser rejects fields it does not know) and no parallel_tool_calls (it has
 *    rejected them, field-study.md 19); its tool messages carry the function "name" it requires.
 *  - max_tokens 0 (Anthropic's cache pre-warm) -> 1, the smallest limit upstreams accept.
 *  - Whitespace-only reply text is dropped: Anthropic rejects such text blocks when Claude Code
 *    sends the history back. Tool-call ids outside [A-Za-z0-9_-] are rewritten with '_' for the
 *    same reason (field-study.md 14); the rewrite is deterministic so results still match.
 *  - A 400 whose upstream message reports a context overflow becomes "prompt is too long: ..."
 *    (protocol.md F.9), the text Claude Code reacts to. */
#include "cp_oai.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#define OAI_BAD        "invalid_request_error"
#define OAI_JOIN       "\n\n"
#define OAI_NAME_MAX   64    /* OpenAI function names: ^[a-zA-Z0-9_-]{1,64}$ */
#define OAI_NAME_KEEP  55    /* kept prefix of a shortened name; + "_" + 8 hex digits = 64 */
#define OAI_MAX_STOP   4     /* OpenAI's limit on "stop" */
#define OAI_REF_DEPTH  8     /* nested $ref expansions in the Gemini schema cleaner */
#define OAI_SCHEMA_MAX 10000 /* schema nodes one Gemini cleaning may produce ($ref can multiply them) */
#define OAI_SAFE_INT   9007199254740991.0 /* 2^53-1: Claude Code's "no bound" bound */
#define OAI_MSG_MAX    400                /* bytes of an upstream error message kept */
#define OAI_EXCERPT    200                /* bytes of a non-JSON error body kept */

static const char *oai_pname(const cp_oai_opts_t *o)
{
    return o != NULL && o->provider != NULL ? o->provider : "upstream";
}

static int oai_streq(const json_t *v, const char *s)
{
    const char *t = json_string_value(v);
    return t != NULL && strcmp(t, s) == 0;
}

/* ---- growable text buffer ---------------------------------------------------------------------- */

typedef struct oai_buf {
    char *p; /* owned; NUL-terminated once anything was added */
    size_t len, cap;
} oai_buf_t;

static void buf_add(oai_buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = cp_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Appends <n> bytes of <s> after OAI_JOIN when <b> already holds text; skips empty pieces. */
static void buf_join(oai_buf_t *b, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (b->len > 0)
        buf_add(b, OAI_JOIN, sizeof(OAI_JOIN) - 1);
    buf_add(b, s, n);
}

static void buf_join_json(oai_buf_t *b, const json_t *str)
{
    if (json_is_string(str))
        buf_join(b, json_string_value(str), json_string_length(str));
}

/* Returns new: the buffer as a JSON string. The pieces came from jansson strings and ASCII
 * literals, so the text is valid UTF-8. */
static json_t *buf_json(const oai_buf_t *b)
{
    return json_stringn_nocheck(b->len > 0 ? b->p : "", b->len);
}

static void buf_free(oai_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static void oai_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Writes the lowercase hex SHA-256 of <n> bytes at <s> (65 bytes with the NUL). */
static void oai_sha256_hex(const char *s, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;

    if (EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        memset(md, 0, sizeof(md)); /* cannot happen with the built-in provider */
    oai_hex(md, 32, out);
}

/* Writes a fresh <prefix> + 24 random hex digits into <out> (<n> bytes). */
static void oai_rand_id(const char *prefix, char *out, size_t n)
{
    char rid[CP_REQ_ID_LEN + 1];

    cp_req_id(rid); /* "req_" + 24 hex from the CSPRNG */
    snprintf(out, n, "%s%s", prefix, rid + 4);
}

/* ---- options ----------------------------------------------------------------------------------- */

/* Returns 1 when the host part of <url> is <host> or a subdomain of it. */
static int oai_host_is(const char *url, const char *host)
{
    const char *h, *at;
    size_t auth, n, hl = strlen(host);

    if (url == NULL)
        return 0;
    h = strstr(url, "://");
    h = h != NULL ? h + 3 : url;
    auth = strcspn(h, "/?#");
    at = memchr(h, '@', auth);
    if (at != NULL) {
        auth -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    n = strcspn(h, ":/?#");
    if (n > auth)
        n = auth;
    if (n > 0 && h[n - 1] == '.')
        n--;
    if (n == hl)
        return strncasecmp(h, host, hl) == 0;
    return n > hl && h[n - hl - 1] == '.' && strncasecmp(h + n - hl, host, hl) == 0;
}

void cp_oai_opts_for(const cp_provider_t *p, const char *model, cp_oai_opts_t *o)
{
    const char *slash = model != NULL ? strrchr(model, '/') : NULL;
    const char *base = slash != NULL ? slash + 1 : model;
    const char *name = p->name != NULL ? p->name : "";
    size_t i;
    json_t *g; /* borrowed from p->reasoning_models */

    memset(o, 0, sizeof(*o));
    o->provider = p->name;
    if (strcasecmp(name, "gemini") == 0 || oai_host_is(p->base_url, "generativelanguage.googleapis.com"))
        o->flavor = CP_OAI_GEMINI;
    else if (strcasecmp(name, "openrouter") == 0 || oai_host_is(p->base_url, "openrouter.ai"))
        o->flavor = CP_OAI_OPENROUTER;
    else if (oai_host_is(p->base_url, "api.openai.com"))
        o->flavor = CP_OAI_OPENAI;
    else
        o->flavor = CP_OAI_GENERIC;

    json_array_foreach(p->reasoning_models, i, g)
    {
        const char *pat = json_string_value(g);

        if (pat != NULL && base != NULL &&
            (fnmatch(pat, base, FNM_CASEFOLD) == 0 || fnmatch(pat, model, FNM_CASEFOLD) == 0)) {
            o->reasoning_model = 1;
            break;
        }
    }
    if (p->max_tokens_field == CP_MAXTOK_MAX_COMPLETION_TOKENS)
        o->max_completion = 1;
    else if (p->max_tokens_field == CP_MAXTOK_MAX_TOKENS)
        o->max_completion = 0;
    else
        o->max_completion = o->flavor == CP_OAI_OPENAI || o->reasoning_model;
    if (p->reasoning_effort == 0 || p->reasoning_effort == 1)
        o->reasoning_effort = p->reasoning_effort == 1;
    else
        o->reasoning_effort =
            o->reasoning_model || o->flavor == CP_OAI_GEMINI || o->flavor == CP_OAI_OPENROUTER;
}

/* ---- tool names -------------------------------------------------------------------------------- */

struct cp_oai_names {
    json_t *to_client; /* owned: sent name -> client's name */
    json_t *to_sent;   /* owned: client's name -> sent name (renamed tools only) */
    json_t *taken;     /* owned: set of every name the upstream sees (keys; values true) */
};

static int oai_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int oai_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > OAI_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!oai_name_char(s[i]))
            return 0;
    return 1;
}

static cp_oai_names_t *oai_names_new(void)
{
    cp_oai_names_t *m = cp_xcalloc(1, sizeof(*m));

    m->to_client = json_object();
    m->to_sent = json_object();
    m->taken = json_object();
    return m;
}

void cp_oai_names_free(cp_oai_names_t *m)
{
    if (m == NULL)
        return;
    json_decref(m->to_client);
    json_decref(m->to_sent);
    json_decref(m->taken);
    free(m);
}

const char *cp_oai_names_original(const cp_oai_names_t *m, const char *sent)
{
    const char *orig;

    if (m == NULL || sent == NULL)
        return sent;
    orig = json_string_value(json_object_get(m->to_client, sent));
    return orig != NULL ? orig : sent;
}

/* Marks the client name <v> as taken when it is sent unchanged, so no shortened name can equal it. */
static void oai_names_reserve_one(cp_oai_names_t *m, const json_t *v)
{
    const char *s = json_string_value(v);

    if (s != NULL && oai_name_ok(s))
        json_object_set_new(m->taken, s, json_true());
}

/* Reserves every tool name of <anth> that needs no renaming (tools, tool_choice, history), before
 * any shortened name is chosen: the result then does not depend on the order names are met. */
static void oai_names_reserve(cp_oai_names_t *m, const json_t *anth)
{
    size_t i, j;
    json_t *t, *msg, *b; /* borrowed from anth */

    json_array_foreach(json_object_get(anth, "tools"), i, t)
    {
        oai_names_reserve_one(m, json_object_get(t, "name"));
    }
    oai_names_reserve_one(m, json_object_get(json_object_get(anth, "tool_choice"), "name"));
    json_array_foreach(json_object_get(anth, "messages"), i, msg)
    {
        if (!oai_streq(json_object_get(msg, "role"), "assistant"))
            continue;
        json_array_foreach(json_object_get(msg, "content"), j, b)
        {
            if (oai_streq(json_object_get(b, "type"), "tool_use"))
                oai_names_reserve_one(m, json_object_get(b, "name"));
        }
    }
}

/* Returns the name to send upstream for the client's tool name <name>: itself when valid, else
 * its sanitized first 55 bytes + "_" + 8 hex digits of SHA-256(name[#salt]), the salt growing only
 * on a collision. Borrowed from <name> or <m>. */
static const char *oai_name_sent(cp_oai_names_t *m, const char *name)
{
    char cand[OAI_NAME_MAX + 1], hex[65];
    const char *prev;
    size_t k = 0;

    if (oai_name_ok(name))
        return name;
    prev = json_string_value(json_object_get(m->to_sent, name));
    if (prev != NULL)
        return prev;
    for (const char *s = name; *s != '\0' && k < OAI_NAME_KEEP; s++)
        cand[k++] = oai_name_char(*s) ? *s : '_';
    for (unsigned salt = 0;; salt++) {
        if (salt == 0) {
            oai_sha256_hex(name, strlen(name), hex);
        } else {
            char *salted = cp_xasprintf("%s#%u", name, salt);
            oai_sha256_hex(salted, strlen(salted), hex);
            free(salted);
        }
        snprintf(cand + k, sizeof(cand) - k, "_%.8s", hex);
        if (json_object_get(m->taken, cand) == NULL)
            break;
    }
    json_object_set_new(m->taken, cand, json_true());
    json_object_set_new(m->to_client, cand, json_string(name));
    json_object_set_new(m->to_sent, name, json_string(cand));
    return json_string_value(json_object_get(m->to_sent, name));
}

/* ---- Gemini schema cleaner ------------------------------------------------------------------------ */

typedef struct gem_ctx {
    const json_t *root; /* borrowed: the whole schema, for local $ref */
    int budget;         /* nodes still allowed */
} gem_ctx_t;

static json_t *gem_clean(gem_ctx_t *c, const json_t *s, int depth);

/* Resolves the local JSON pointer <ref> ("#", "#/$defs/A", "#/definitions/A/properties/b"). */
static const json_t *gem_pointer(const json_t *root, const char *ref)
{
    const json_t *cur = root;
    char tok[256];

    if (ref[0] != '#')
        return NULL;
    ref++;
    while (*ref == '/') {
        size_t n = 0;

        ref++;
        while (*ref != '\0' && *ref != '/' && n + 1 < sizeof(tok)) {
            if (ref[0] == '~' && (ref[1] == '0' || ref[1] == '1')) {
                tok[n++] = ref[1] == '0' ? '~' : '/';
                ref += 2;
            } else {
                tok[n++] = *ref++;
            }
        }
        tok[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long idx = strtoul(tok, &end, 10);
            cur = *end == '\0' && n > 0 ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
        if (cur == NULL)
            return NULL;
    }
    return *ref == '\0' ? cur : NULL;
}

/* Returns 1 when the number <v> is a real bound (Claude Code writes +-(2^53-1) to mean "none"). */
static int gem_bound_ok(const json_t *v)
{
    double d = json_number_value(v);

    return json_is_number(v) && d < OAI_SAFE_INT && d > -OAI_SAFE_INT;
}

static void gem_copy_uint(json_t *out, const json_t *s, const char *k)
{
    json_t *v = json_object_get(s, k); /* borrowed from s */

    if (json_is_integer(v) && json_integer_value(v) >= 0)
        json_object_set_new(out, k, json_integer(json_integer_value(v)));
}

/* Sets <out>.minimum (<k> "minimum") or .maximum from <s>, turning an integer exclusive bound of an
 * integer schema into the equivalent inclusive one; other exclusive bounds are dropped. */
static void gem_bound(json_t *out, const json_t *s, const char *k, const char *xk, int dir)
{
    json_t *v = json_object_get(s, k);   /* borrowed from s */
    json_t *xv = json_object_get(s, xk); /* borrowed from s */

    if (gem_bound_ok(v))
        json_object_set_new(out, k, json_deep_copy(v));
    else if (v == NULL && json_is_integer(xv) && oai_streq(json_object_get(out, "type"), "integer") &&
             gem_bound_ok(xv))
        json_object_set_new(out, k, json_integer(json_integer_value(xv) + dir));
}

/* Adds the cleaned branches of the schema array <arr> to <branches>; a {"type":"null"} branch only
 * marks <out> nullable. */
static void gem_branches(gem_ctx_t *c, const json_t *arr, int depth, json_t *out, json_t *branches)
{
    size_t i;
    json_t *b; /* borrowed from arr */

    json_array_foreach(arr, i, b)
    {
        json_t *cb = gem_clean(c, b, depth); /* owned */

        if (json_object_get(cb, "type") == NULL && json_is_true(json_object_get(cb, "nullable")) &&
            json_object_size(cb) == 1) {
            json_object_set_new(out, "nullable", json_true());
            json_decref(cb);
        } else {
            json_array_append_new(branches, cb);
        }
    }
}

/* Merges the cleaned schema <sub> into <out>: keys <out> lacks are added, properties are united,
 * required lists are concatenated. */
static void gem_merge(json_t *out, json_t *sub)
{
    json_t *op = json_object_get(out, "properties"); /* borrowed from out */
    json_t *sp = json_object_get(sub, "properties"); /* borrowed from sub */
    json_t *oreq = json_object_get(out, "required"); /* borrowed from out */
    json_t *sreq = json_object_get(sub, "required"); /* borrowed from sub */

    if (json_is_object(op) && json_is_object(sp))
        json_object_update_missing(op, sp);
    if (json_is_array(oreq) && json_is_array(sreq))
        json_array_extend(oreq, sreq);
    json_object_update_missing(out, sub);
}

static json_t *gem_clean(gem_ctx_t *c, const json_t *s, int depth)
{
    json_t *out = json_object(); /* owned; returned */
    json_t *v;                   /* borrowed from s */
    json_t *props = NULL;        /* owned */
    json_t *branches = NULL;     /* owned */
    const char *type = NULL;

    if (!json_is_object(s) || --c->budget < 0)
        return out; /* true / false / junk: "anything"; or a runaway $ref expansion */

    v = json_object_get(s, "$ref");
    if (json_is_string(v)) {
        const json_t *t = gem_pointer(c->root, json_string_value(v)); /* borrowed from c->root */

        json_decref(out);
        if (t != NULL && depth >= OAI_REF_DEPTH)
            out = json_pack("{s:s}", "type", "object"); /* recursive schema: stop unrolling */
        else if (t != NULL && t != s)
            out = gem_clean(c, t, depth + 1);
        else
            out = json_object();
        v = json_object_get(s, "description"); /* 2020-12 allows siblings; this one is more specific */
        if (json_is_string(v))
            json_object_set_new(out, "description", json_deep_copy(v));
        return out;
    }

    /* type: one string; ["X","null"] -> X + nullable; several -> anyOf of single types */
    v = json_object_get(s, "type");
    if (json_is_string(v)) {
        if (oai_streq(v, "null"))
            json_object_set_new(out, "nullable", json_true());
        else
            type = json_string_value(v);
    } else if (json_is_array(v)) {
        size_t i, n = 0;
        json_t *t; /* borrowed from v */

        json_array_foreach(v, i, t)
        {
            if (oai_streq(t, "null"))
                json_object_set_new(out, "nullable", json_true());
            else if (json_is_string(t) && n++ == 0)
                type = json_string_value(t);
        }
        if (n > 1) {
            branches = json_array();
            json_array_foreach(v, i, t)
            {
                if (json_is_string(t) && !oai_streq(t, "null"))
                    json_array_append_new(branches, json_pack("{s:O}", "type", t));
            }
            type = NULL;
        }
    }
    if (type != NULL)
        json_object_set_new(out, "type", json_string(type));
    if (json_is_true(json_object_get(s, "nullable")))
        json_object_set_new(out, "nullable", json_true());
    v = json_object_get(s, "description");
    if (json_is_string(v))
        json_object_set_new(out, "description", json_deep_copy(v));

    /* enum: Gemini takes strings only; const "x" is enum ["x"] */
    v = json_object_get(s, "enum");
    if (!json_is_array(v) && json_object_get(s, "const") != NULL) {
        json_t *k = json_object_get(s, "const"); /* borrowed from s */
        if (json_is_null(k))
            json_object_set_new(out, "nullable", json_true());
        else if (json_is_string(k) && (type == NULL || strcmp(type, "string") == 0))
            json_object_set_new(out, "enum", json_pack("[O]", k));
    } else if (json_is_array(v) && (type == NULL || strcmp(type, "string") == 0)) {
        json_t *en = json_array(); /* owned */
        size_t i;
        json_t *x; /* borrowed from v */
        int ok = 1;

        json_array_foreach(v, i, x)
        {
            if (json_is_string(x))
                json_array_append_new(en, json_deep_copy(x));
            else if (json_is_null(x))
                json_object_set_new(out, "nullable", json_true());
            else
                ok = 0;
        }
        if (ok && json_array_size(en) > 0)
            json_object_set(out, "enum", en);
        json_decref(en);
    }
    if (json_object_get(out, "enum") != NULL && type == NULL) {
        type = "string";
        json_object_set_new(out, "type", json_string(type));
    }
    v = json_object_get(s, "format");
    if (type != NULL && strcmp(type, "string") == 0 && (oai_streq(v, "enum") || oai_streq(v, "date-time")))
        json_object_set_new(out, "format", json_deep_copy(v));

    v = json_object_get(s, "properties");
    if (json_is_object(v)) {
        const char *k;
        json_t *ps; /* borrowed from v */

        props = json_object();
        json_object_foreach((json_t *)v, k, ps) /* jansson's iterator API is not const-correct */
        {
            json_object_set_new(props, k, gem_clean(c, ps, depth));
        }
        if (json_object_size(props) > 0) /* Gemini: "properties: should be non-empty for OBJECT type" */
            json_object_set(out, "properties", props);
    }
    v = json_object_get(s, "required");
    if (json_is_array(v) && json_object_size(props) > 0) {
        json_t *req = json_array(); /* owned */
        size_t i;
        json_t *r; /* borrowed from v */

        json_array_foreach(v, i, r)
        {
            if (json_is_string(r) && json_object_get(props, json_string_value(r)) != NULL)
                json_array_append_new(req, json_deep_copy(r));
        }
        if (json_array_size(req) > 0)
            json_object_set(out, "required", req);
        json_decref(req);
    }
    v = json_object_get(s, "items");
    if (json_is_array(v)) /* draft-04 tuple form: the first position describes the rest best */
        v = json_array_get(v, 0);
    if (json_is_object(v))
        json_object_set_new(out, "items", gem_clean(c, v, depth));

    gem_bound(out, s, "minimum", "exclusiveMinimum", 1);
    gem_bound(out, s, "maximum", "exclusiveMaximum", -1);
    gem_copy_uint(out, s, "minItems");
    gem_copy_uint(out, s, "maxItems");
    gem_copy_uint(out, s, "minLength");
    gem_copy_uint(out, s, "maxLength");
    v = json_object_get(s, "pattern");
    if (json_is_string(v))
        json_object_set_new(out, "pattern", json_deep_copy(v));

    /* anyOf / oneOf (Gemini knows anyOf only): null branches -> nullable; one branch left -> inline */
    if (branches == NULL)
        branches = json_array();
    gem_branches(c, json_object_get(s, "anyOf"), depth, out, branches);
    gem_branches(c, json_object_get(s, "oneOf"), depth, out, branches);
    if (json_array_size(branches) == 1)
        gem_merge(out, json_array_get(branches, 0));
    else if (json_array_size(branches) > 1)
        json_object_set(out, "anyOf", branches);

    /* allOf: every part must hold; merging them is the closest the subset can say */
    v = json_object_get(s, "allOf");
    if (json_is_array(v)) {
        size_t i;
        json_t *part; /* borrowed from v */

        json_array_foreach(v, i, part)
        {
            json_t *cp = gem_clean(c, part, depth); /* owned */
            gem_merge(out, cp);
            json_decref(cp);
        }
    }
    json_decref(props);
    json_decref(branches);
    return out;
}

json_t *cp_oai_gemini_schema(const json_t *schema)
{
    gem_ctx_t c = {schema, OAI_SCHEMA_MAX};

    return gem_clean(&c, schema, 0);
}

/* ---- request ----------------------------------------------------------------------------------- */

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

    if (oai_streq(st, "base64") && mt != NULL && data != NULL) {
        char *s = cp_xasprintf("data:%s;base64,%s", mt, data);
        url = json_string(s);
        free(s);
    } else if (oai_streq(st, "url") && json_is_string(json_object_get(src, "url"))) {
        url = json_deep_copy(json_object_get(src, "url"));
    } else if (oai_streq(st, "file")) {
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
    oai_buf_t t = {0};
    int rc = CP_OK;

    buf_join_json(&t, title);
    buf_join_json(&t, json_object_get(b, "context"));
    if (oai_streq(st, "text") || (oai_streq(st, "content") && json_is_string(cont))) {
        buf_join_json(&t, oai_streq(st, "text") ? data : cont);
        oai_text_part(parts, t.p, t.len);
    } else if (oai_streq(st, "content") && json_is_array(cont)) {
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
    } else if (oai_streq(st, "base64") && oai_streq(json_object_get(src, "media_type"), "application/pdf") &&
               json_is_string(data)) {
        const char *tt = json_string_value(title);
        char *fname, *url;

        if (r->o->flavor != CP_OAI_OPENAI) {
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
    } else if (oai_streq(st, "url")) {
        rc = oai_unsupported(r, path, "document URL sources");
    } else if (oai_streq(st, "file")) {
        rc = oai_unsupported(r, path, "document file sources (Files API file_id)");
    } else {
        rc = cp_err_set(r->e, 400, OAI_BAD, "%s.source: unsupported document source", path);
    }
    buf_free(&t);
    return rc;
}

/* Appends to <parts> the Chat Completions content parts for the user-side block <b> (text, image,
 * document, search_result). Other blocks add nothing. Returns CP_OK, or CP_ERR with a 400 in r->e
 * for a source the provider cannot take; <path> names the block in that message. */
static int oai_block_parts(oai_req_t *r, const json_t *b, const char *path, json_t *parts)
{
    const json_t *type = json_object_get(b, "type"); /* borrowed from b */
    const json_t *text = json_object_get(b, "text"); /* borrowed from b */

    if (oai_streq(type, "text") && json_is_string(text)) {
        oai_text_part(parts, json_string_value(text), json_string_length(text));
    } else if (oai_streq(type, "image")) {
        return oai_image_part(r, b, path, parts);
    } else if (oai_streq(type, "document")) {
        return oai_document_parts(r, b, path, parts);
    } else if (oai_streq(type, "search_result")) {
        oai_buf_t t = {0};
        size_t i;
        json_t *cb; /* borrowed from b */

        buf_join_json(&t, json_object_get(b, "title"));
        buf_join_json(&t, json_object_get(b, "source"));
        json_array_foreach(json_object_get(b, "content"), i, cb)
        {
            buf_join_json(&t, json_object_get(cb, "text"));
        }
        oai_text_part(parts, t.p, t.len);
        buf_free(&t);
    }
    return CP_OK;
}

/* Returns new: <parts> as a message content: one string when every part is text, else the array. */
static json_t *oai_content(json_t *parts)
{
    oai_buf_t t = {0};
    size_t i;
    json_t *p, *res; /* borrowed from parts; owned */

    json_array_foreach(parts, i, p)
    {
        if (!oai_streq(json_object_get(p, "type"), "text"))
            return json_incref(parts);
    }
    json_array_foreach(parts, i, p)
    {
        buf_join_json(&t, json_object_get(p, "text"));
    }
    res = buf_json(&t);
    buf_free(&t);
    return res;
}

/* Emits the tool message for the tool_result <b>; its images/PDFs go to <moved>. */
static int oai_tool_result(oai_req_t *r, const json_t *b, const char *path, json_t *moved)
{
    const json_t *id = json_object_get(b, "tool_use_id"); /* borrowed from b */
    const json_t *c = json_object_get(b, "content");      /* borrowed from b */
    json_t *att = json_array();                           /* owned: non-text parts */
    json_t *msg = NULL;                                   /* owned */
    oai_buf_t t = {0}, out = {0};
    int rc = CP_ERR;

    if (!json_is_string(id)) {
        cp_err_set(r->e, 400, OAI_BAD, "%s.tool_use_id: Field required", path);
        goto out;
    }
    if (json_is_string(c)) {
        buf_join_json(&t, c);
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
                if (oai_streq(json_object_get(p, "type"), "text"))
                    buf_join_json(&t, json_object_get(p, "text"));
                else
                    json_array_append(att, p);
            }
            json_decref(parts);
        }
    }
    if (json_is_true(json_object_get(b, "is_error")))
        buf_add(&out, t.len > 0 ? "Error: " : "Error", t.len > 0 ? 7 : 5);
    if (t.len > 0)
        buf_add(&out, t.p, t.len);
    if (json_array_size(att) > 0) {
        char note[96];
        int n = snprintf(
            note, sizeof(note), "(%zu attachment%s of this result follow%s in the next user message)",
            json_array_size(att), json_array_size(att) == 1 ? "" : "s", json_array_size(att) == 1 ? "s" : "");
        buf_join(&out, note, (size_t)n);
    }
    msg = json_pack("{s:s,s:O,s:o}", "role", "tool", "tool_call_id", id, "content", buf_json(&out));
    if (r->o->flavor == CP_OAI_GEMINI) {
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
    buf_free(&t);
    buf_free(&out);
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
        if (oai_streq(json_object_get(b, "type"), "tool_result")) {
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
    oai_buf_t t = {0};
    size_t i;
    json_t *b; /* borrowed from content */

    buf_join_json(&t, content);
    json_array_foreach(content, i, b)
    {
        if (oai_streq(json_object_get(b, "type"), "text"))
            buf_join_json(&t, json_object_get(b, "text"));
    }
    if (t.len > 0)
        json_array_append_new(r->msgs, json_pack("{s:s,s:o}", "role", "system", "content", buf_json(&t)));
    buf_free(&t);
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
    oai_buf_t text = {0}, think = {0};
    json_t *calls = json_array();   /* owned */
    json_t *details = json_array(); /* owned: OpenRouter reasoning_details */
    json_t *msg = NULL;             /* owned */
    size_t i;
    json_t *b; /* borrowed from content */
    char path[96];
    int rc = CP_ERR;

    buf_join_json(&text, content);
    json_array_foreach(content, i, b)
    {
        const json_t *type = json_object_get(b, "type"); /* borrowed from b */

        snprintf(path, sizeof(path), "messages.%zu.content.%zu", mi, i);
        if (oai_streq(type, "text")) {
            buf_join_json(&text, json_object_get(b, "text"));
        } else if (oai_streq(type, "tool_use")) {
            const json_t *id = json_object_get(b, "id"); /* borrowed from b */
            const char *name = json_string_value(json_object_get(b, "name"));
            const char *sent;
            char *args;

            if (!json_is_string(id) || name == NULL) {
                cp_err_set(r->e, 400, OAI_BAD, "%s.%s: Field required", path, name == NULL ? "name" : "id");
                goto out;
            }
            sent = oai_name_sent(r->names, name);
            args = oai_args(json_object_get(b, "input"));
            json_array_append_new(calls, json_pack("{s:O,s:s,s:{s:s,s:s}}", "id", id, "type", "function",
                                                   "function", "name", sent, "arguments", args));
            json_object_set_new(r->call_names, json_string_value(id), json_string(sent));
            free(args);
        } else if (oai_streq(type, "thinking")) {
            const json_t *th = json_object_get(b, "thinking");   /* borrowed from b */
            const json_t *sig = json_object_get(b, "signature"); /* borrowed from b */
            json_t *d;                                           /* owned */

            if (!json_is_string(th) || json_string_length(th) == 0)
                continue;
            buf_join_json(&think, th);
            d = json_pack("{s:s,s:O}", "type", "reasoning.text", "text", th);
            if (json_is_string(sig) && json_string_length(sig) > 0)
                json_object_set_new(d, "signature", json_deep_copy(sig));
            json_array_append_new(details, d);
        }
        /* redacted_thinking, server-tool blocks, anything else: meaningful to Anthropic only */
    }
    if (text.len > 0 || json_array_size(calls) > 0) {
        msg = json_pack("{s:s,s:o}", "role", "assistant", "content",
                        text.len > 0 ? buf_json(&text) : json_null());
        if (json_array_size(calls) > 0)
            json_object_set(msg, "tool_calls", calls);
        if (r->o->flavor == CP_OAI_GENERIC && json_array_size(calls) > 0 && think.len > 0)
            json_object_set_new(msg, "reasoning_content", buf_json(&think));
        if (r->o->flavor == CP_OAI_OPENROUTER && json_array_size(details) > 0)
            json_object_set(msg, "reasoning_details", details);
        json_array_append(r->msgs, msg);
    }
    rc = CP_OK;
out:
    buf_free(&text);
    buf_free(&think);
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
        if (json_is_string(type) && !oai_streq(type, "custom")) {
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
        fn = json_pack("{s:s}", "name", oai_name_sent(r->names, name));
        if (json_is_string(desc) && json_string_length(desc) > 0)
            json_object_set_new(fn, "description", json_deep_copy(desc));
        if (json_is_object(schema) && r->o->flavor == CP_OAI_GEMINI) {
            json_t *clean = cp_oai_gemini_schema(schema);     /* owned */
            if (json_object_get(clean, "properties") != NULL) /* else: a tool without arguments */
                json_object_set(fn, "parameters", clean);
            json_decref(clean);
        } else if (json_is_object(schema)) {
            json_object_set_new(fn, "parameters", json_deep_copy(schema));
        }
        if (json_is_boolean(strict) && r->o->flavor != CP_OAI_GEMINI) /* Gemini rejects "strict" */
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

    if (oai_streq(type, "auto")) {
        json_object_set_new(body, "tool_choice", json_string("auto"));
    } else if (oai_streq(type, "any")) {
        json_object_set_new(body, "tool_choice", json_string("required"));
    } else if (oai_streq(type, "none")) {
        json_object_set_new(body, "tool_choice", json_string("none"));
        return CP_OK;
    } else if (oai_streq(type, "tool")) {
        if (name == NULL)
            return cp_err_set(r->e, 400, OAI_BAD, "tool_choice.name: Field required");
        json_object_set_new(body, "tool_choice",
                            json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name",
                                      oai_name_sent(r->names, name)));
    }
    if (json_is_true(json_object_get(tc, "disable_parallel_tool_use")) && r->o->flavor != CP_OAI_GEMINI)
        json_object_set_new(body, "parallel_tool_calls", json_false());
    return CP_OK;
}

/* Anthropic effort -> the value <f> accepts (NULL: unknown, send nothing). */
static const char *oai_effort(const char *e, enum cp_oai_flavor f)
{
    if (e == NULL)
        return NULL;
    if (strcmp(e, "low") == 0 || strcmp(e, "medium") == 0 || strcmp(e, "high") == 0)
        return strcmp(e, "low") == 0 ? "low" : strcmp(e, "medium") == 0 ? "medium" : "high";
    if (strcmp(e, "xhigh") == 0 || strcmp(e, "max") == 0)
        return f == CP_OAI_OPENROUTER ? "xhigh" : "high";
    return NULL;
}

/* thinking / output_config.effort -> reasoning_effort, or OpenRouter's reasoning object. */
static void oai_reasoning(const json_t *anth, const cp_oai_opts_t *o, json_t *body)
{
    const json_t *th = json_object_get(anth, "thinking");        /* borrowed */
    const json_t *budget = json_object_get(th, "budget_tokens"); /* borrowed */
    const json_t *type = json_object_get(th, "type");            /* borrowed */
    const char *eff = oai_effort(
        json_string_value(json_object_get(json_object_get(anth, "output_config"), "effort")), o->flavor);
    json_t *rs = NULL; /* owned: OpenRouter's reasoning object */
    const char *effort = NULL;

    if (!o->reasoning_effort)
        return;
    if (oai_streq(type, "disabled")) {
        if (o->flavor == CP_OAI_OPENAI)
            return;
        effort = "none";
        if (o->flavor == CP_OAI_OPENROUTER)
            rs = json_pack("{s:s}", "effort", effort);
    } else if (oai_streq(type, "enabled") && json_is_integer(budget)) {
        json_int_t n = json_integer_value(budget);
        effort = n < 4096 ? "low" : n < 16384 ? "medium" : "high";
        if (o->flavor == CP_OAI_OPENROUTER)
            rs = json_pack("{s:I}", "max_tokens", n);
    } else if (eff != NULL) {
        effort = eff;
        if (o->flavor == CP_OAI_OPENROUTER)
            rs = json_pack("{s:s}", "effort", effort);
    } else if (o->flavor == CP_OAI_OPENROUTER &&
               (oai_streq(type, "adaptive") || oai_streq(type, "enabled"))) {
        rs = json_pack("{s:b}", "enabled", 1);
    }
    if (o->flavor == CP_OAI_OPENROUTER) {
        if (rs != NULL && !oai_streq(type, "disabled") &&
            oai_streq(json_object_get(th, "display"), "omitted"))
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
    size_t i, max = r->o->flavor == CP_OAI_GENERIC ? (size_t)-1 : OAI_MAX_STOP;
    json_t *s; /* borrowed from seqs */

    json_array_foreach(seqs, i, s)
    {
        if (json_is_string(s) && json_string_length(s) > 0 && json_array_size(stop) < max)
            json_array_append_new(stop, json_deep_copy(s));
    }
    if (json_array_size(stop) > 0 && r->o->flavor == CP_OAI_OPENAI && r->o->reasoning_model) {
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

json_t *cp_oai_request(const json_t *anth, const char *upstream_model, const cp_oai_opts_t *o,
                       cp_oai_names_t **names, cp_err_t *e)
{
    oai_req_t r = {o, oai_names_new(), json_array(), json_object(), e};
    json_t *body = NULL;  /* owned */
    json_t *tools = NULL; /* owned */
    json_t *res = NULL;   /* owned; returned */
    json_t *v, *m;        /* borrowed from anth */
    const json_t *fmt;    /* borrowed from anth */
    size_t i;

    *names = NULL;
    oai_names_reserve(r.names, anth);
    v = json_object_get(anth, "mcp_servers");
    if (json_array_size(v) > 0 || json_object_size(v) > 0) {
        oai_unsupported(&r, "mcp_servers", "MCP connector servers (mcp_servers)");
        goto out;
    }
    if (oai_tools(&r, json_object_get(anth, "tools"), &tools) != CP_OK)
        goto out;

    oai_system(&r, json_object_get(anth, "system"));
    json_array_foreach(json_object_get(anth, "messages"), i, m)
    {
        const json_t *role = json_object_get(m, "role");       /* borrowed from m */
        const json_t *content = json_object_get(m, "content"); /* borrowed from m */
        int rc = CP_OK;

        if (oai_streq(role, "system"))
            oai_system(&r, content);
        else if (oai_streq(role, "assistant"))
            rc = oai_assistant(&r, content, i);
        else if (oai_streq(role, "user"))
            rc = oai_user(&r, content, i);
        if (rc != CP_OK)
            goto out;
    }
    if (json_array_size(r.msgs) == 0) {
        cp_err_set(e, 400, OAI_BAD, "messages: at least one message with non-empty content is required");
        goto out;
    }

    body = json_object();
    json_object_set_new(body, "model", json_string(upstream_model != NULL ? upstream_model : ""));
    json_object_set(body, "messages", r.msgs);
    if (tools != NULL) {
        json_object_set(body, "tools", tools);
        v = json_object_get(anth, "tool_choice");
        if (json_is_object(v) && oai_tool_choice(&r, v, body) != CP_OK)
            goto out;
    }
    v = json_object_get(anth, "max_tokens");
    if (json_is_integer(v))
        json_object_set_new(body, o->max_completion ? "max_completion_tokens" : "max_tokens",
                            json_integer(json_integer_value(v) > 0 ? json_integer_value(v) : 1));
    v = json_object_get(anth, "temperature");
    if (json_is_number(v) && (!o->reasoning_model || json_number_value(v) == 1.0))
        json_object_set_new(body, "temperature", json_deep_copy(v));
    v = json_object_get(anth, "top_p");
    if (json_is_number(v) && (!o->reasoning_model || json_number_value(v) == 1.0))
        json_object_set_new(body, "top_p", json_deep_copy(v));
    if (oai_stop(&r, json_object_get(anth, "stop_sequences"), body) != CP_OK)
        goto out;
    oai_reasoning(anth, o, body);

    fmt = json_object_get(json_object_get(anth, "output_config"), "format");
    if (oai_streq(json_object_get(fmt, "type"), "json_schema") &&
        json_is_object(json_object_get(fmt, "schema"))) {
        const json_t *sc = json_object_get(fmt, "schema"); /* borrowed from anth */
        json_object_set_new(
            body, "response_format",
            json_pack("{s:s,s:{s:s,s:o,s:b}}", "type", "json_schema", "json_schema", "name", "output",
                      "schema", o->flavor == CP_OAI_GEMINI ? cp_oai_gemini_schema(sc) : json_deep_copy(sc),
                      "strict", 1));
    }

    v = json_object_get(json_object_get(anth, "metadata"), "user_id");
    if (json_is_string(v) && json_string_length(v) > 0 && o->flavor != CP_OAI_GEMINI) {
        if (json_string_length(v) <= 64) {
            json_object_set_new(body, "user", json_deep_copy(v));
        } else {
            char hex[65];
            oai_sha256_hex(json_string_value(v), json_string_length(v), hex);
            json_object_set_new(body, "user", json_string(hex));
        }
    }

    v = json_object_get(anth, "stream");
    if (json_is_boolean(v))
        json_object_set_new(body, "stream", json_boolean(json_is_true(v)));
    if (json_is_true(v))
        json_object_set_new(body, "stream_options", json_pack("{s:b}", "include_usage", 1));

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

/* ---- errors ------------------------------------------------------------------------------------ */

/* Anthropic status and error.type for an upstream HTTP status (protocol.md F.9). */
static int oai_map_status(long st, const char **type)
{
    switch (st) {
    case 400:
    case 422:
        *type = OAI_BAD;
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
        *type = OAI_BAD;
        return 400;
    }
    *type = "api_error";
    return st >= 500 && st < 600 ? 500 : 502;
}

/* HTTP status implied by an error reported inside a 200 body: numeric code, else a code, type or
 * Google status word, else 500. */
static long oai_status_hint(long num, const char *word)
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
typedef struct oai_errinfo {
    const char *msg;  /* human message */
    const char *code; /* string code, else type, else Google status */
    const char *raw;  /* OpenRouter metadata.raw */
    const char *via;  /* OpenRouter metadata.provider_name */
    long num;         /* numeric code, 0 when none */
    int has_n_ctx;    /* llama.cpp reports the numbers as fields */
    long n_prompt, n_ctx;
} oai_errinfo_t;

static void oai_errinfo(const json_t *v, oai_errinfo_t *ei)
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

static int oai_tokch(char c)
{
    return oai_name_char(c) || c == '.' || c == '*' || c == '+' || c == '/' || c == '=' || c == '~';
}

static int oai_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* End of the token starting at <i>; a trailing '.' ends a sentence, it is not part of the token. */
static size_t oai_tokend(const oai_buf_t *b, size_t i)
{
    size_t j = i;

    while (j < b->len && oai_tokch(b->p[j]))
        j++;
    while (j > i && b->p[j - 1] == '.')
        j--;
    return j;
}

/* Replaces in <b> whatever looks like a credential with "[redacted]": the value after "Bearer " or
 * a key=/token= parameter, a word with a known key prefix, a run of 32+ letters and digits mixed.
 * Checked at every word start, so keys inside URLs and quoted JSON are found too. */
static void oai_scrub(oai_buf_t *b)
{
    static const char *const prefixes[] = {"sk-",   "sk_",  "AIza",        "gsk_",   "xai-",
                                           "hf_",   "ghp_", "github_pat_", "pk-",    "rk-",
                                           "sess-", "fw_",  "pplx-",       "nvapi-", "ya29."};
    static const char *const params[] = {
        "bearer ", "key=", "api_key=", "apikey=", "api-key=", "token=", "access_token="};
    oai_buf_t out = {0};
    size_t i = 0;

    while (i < b->len) {
        int start = i == 0 || !oai_alnum(b->p[i - 1]);
        size_t j = i, skip = 0;
        int red = 0;

        for (size_t k = 0; start && k < sizeof(params) / sizeof(params[0]) && skip == 0; k++) {
            size_t pl = strlen(params[k]);
            if (i + pl < b->len && strncasecmp(b->p + i, params[k], pl) == 0 && oai_tokch(b->p[i + pl]))
                skip = pl;
        }
        if (skip > 0) { /* keep the parameter's name, redact its value */
            buf_add(&out, b->p + i, skip);
            i = oai_tokend(b, i + skip);
            buf_add(&out, "[redacted]", 10);
            continue;
        }
        if (start && oai_alnum(b->p[i])) {
            for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]) && !red; k++) {
                size_t pl = strlen(prefixes[k]);
                if (strncmp(b->p + i, prefixes[k], pl) == 0) {
                    j = oai_tokend(b, i);
                    red = j - i >= pl + 8;
                }
            }
            if (!red) {
                size_t digits = 0;
                for (j = i; j < b->len && oai_alnum(b->p[j]); j++)
                    digits += b->p[j] >= '0' && b->p[j] <= '9';
                red = j - i >= 32 && digits > 0 && digits < j - i;
            }
        }
        if (red) {
            buf_add(&out, "[redacted]", 10);
            i = j;
        } else {
            buf_add(&out, b->p + i, 1);
            i++;
        }
    }
    buf_free(b);
    *b = out;
}

/* Appends to <b> the text <s> (<n> bytes) made printable: invalid UTF-8 -> '?', control
 * characters and runs of blanks -> one space. */
static void oai_clean_add(oai_buf_t *b, const char *s, size_t n)
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
            buf_add(b, "?", 1);
            i++;
        } else if (c < 0x20 || c == 0x7f || c == ' ') {
            if (b->len > 0 && b->p[b->len - 1] != ' ')
                buf_add(b, " ", 1);
            i++;
        } else {
            buf_add(b, s + i, len);
            i += len;
        }
    }
}

/* Cuts <b> to at most <max> bytes on a UTF-8 boundary, marking the cut with "...". */
static void oai_cut(oai_buf_t *b, size_t max)
{
    while (b->len > 0 && b->p[b->len - 1] == ' ')
        b->p[--b->len] = '\0';
    if (b->len <= max)
        return;
    b->len = max - 3;
    while (b->len > 0 && ((unsigned char)b->p[b->len] & 0xC0) == 0x80)
        b->len--;
    b->p[b->len] = '\0';
    buf_add(b, "...", 3);
}

/* Appends to <b> a readable excerpt of a non-JSON body: an HTML <title>, else the text without tags. */
static void oai_excerpt(oai_buf_t *b, const char *body, size_t len)
{
    const char *t = len > 0 ? memmem(body, len, "<title>", 7) : NULL;
    const char *te = t != NULL ? memmem(t, len - (size_t)(t - body), "</title>", 8) : NULL;
    oai_buf_t plain = {0};
    int in_tag = 0;

    if (t != NULL && te != NULL && te > t + 7) {
        oai_clean_add(b, t + 7, (size_t)(te - t - 7));
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (body[i] == '<' && i + 1 < len &&
            (body[i + 1] == '/' || body[i + 1] == '!' || oai_alnum(body[i + 1])))
            in_tag = 1;
        else if (in_tag && body[i] == '>') {
            in_tag = 0;
            buf_add(&plain, " ", 1);
        } else if (!in_tag)
            buf_add(&plain, body + i, 1);
    }
    oai_clean_add(b, plain.p != NULL ? plain.p : "", plain.len);
    buf_free(&plain);
}

/* Returns the number right after <key> in <s> (digits, commas allowed), or -1. */
static long oai_num_after(const char *s, const char *key)
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

static int oai_is_overflow(const char *msg, const char *code)
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
static void oai_err_fill(long st, const oai_errinfo_t *ei, const char *body, size_t len, const char *prov,
                         cp_err_t *e)
{
    const char *type;
    int status = oai_map_status(st, &type);
    oai_buf_t m = {0};

    if (ei->msg != NULL && ei->msg[0] != '\0') {
        oai_clean_add(&m, ei->msg, strlen(ei->msg));
        if (ei->raw != NULL && ei->raw[0] != '\0') { /* OpenRouter: the provider's own words */
            json_t *rj = json_loads(ei->raw, JSON_DECODE_ANY, NULL); /* owned */
            oai_errinfo_t inner;
            const char *rm = ei->raw;

            oai_errinfo(rj, &inner);
            if (inner.msg != NULL && inner.msg[0] != '\0')
                rm = inner.msg;
            if (strstr(ei->msg, rm) == NULL) {
                oai_buf_t r = {0};
                oai_clean_add(&r, rm, strlen(rm));
                oai_cut(&r, OAI_EXCERPT);
                buf_add(&m, " (", 2);
                if (ei->via != NULL) {
                    oai_clean_add(&m, ei->via, strlen(ei->via));
                    buf_add(&m, ": ", 2);
                }
                buf_add(&m, r.p != NULL ? r.p : "", r.len);
                buf_add(&m, ")", 1);
                buf_free(&r);
            }
            json_decref(rj);
        }
    } else if (body != NULL && len > 0) {
        oai_excerpt(&m, body, len);
        oai_cut(&m, OAI_EXCERPT);
    }
    oai_scrub(&m);
    oai_cut(&m, OAI_MSG_MAX);
    if (m.len == 0) {
        char s[64];
        int n = snprintf(s, sizeof(s), "HTTP %ld with no error message", st);
        buf_add(&m, s, (size_t)n);
    }

    if (status == 429 && ei->code != NULL && strcmp(ei->code, "insufficient_quota") == 0) {
        cp_err_set(e, 429, type, "%s: quota exhausted (insufficient_quota), retrying will not help: %s", prov,
                   m.p);
    } else if (status == 400 && oai_is_overflow(m.p, ei->code)) {
        long max = ei->has_n_ctx ? ei->n_ctx : oai_num_after(m.p, "maximum context length is");
        long got = ei->has_n_ctx ? ei->n_prompt : oai_num_after(m.p, "resulted in");

        if (max < 0)
            max = oai_num_after(m.p, "maximum number of tokens allowed");
        if (got < 0)
            got = oai_num_after(m.p, "requested about");
        if (got < 0)
            got = oai_num_after(m.p, "requested");
        if (got < 0)
            got = oai_num_after(m.p, "input token count");
        if (max > 0 && got > 0)
            cp_err_set(e, 400, type, "prompt is too long: %ld tokens > %ld maximum (%s: %s)", got, max, prov,
                       m.p);
        else
            cp_err_set(e, 400, type, "prompt is too long: %s: %s", prov, m.p);
    } else {
        cp_err_set(e, status, type, "%s: %s", prov, m.p);
    }
    buf_free(&m);
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

void cp_oai_error(long status, const char *body, size_t len, const char *provider, cp_err_t *e)
{
    json_t *j = NULL; /* owned */
    oai_errinfo_t ei;
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
        j = json_loadb(body + off, len - off, JSON_DECODE_ANY, NULL);
    if (json_is_string(j)) {
        memset(&ei, 0, sizeof(ei));
        ei.msg = json_string_value(j);
    } else {
        oai_errinfo(j, &ei);
    }
    oai_err_fill(status, &ei, body + off, len - off, provider, e);
    json_decref(j);
}

/* ---- response ---------------------------------------------------------------------------------- */

static long long oai_count(const json_t *v)
{
    long long n = json_is_integer(v) ? (long long)json_integer_value(v)
                  : json_is_real(v)  ? (long long)json_real_value(v)
                                     : 0;
    return n > 0 ? n : 0;
}

int cp_oai_usage_map(const json_t *u, cp_oai_usage_t *out)
{
    const json_t *ud = json_object_get(u, "prompt_tokens_details"); /* borrowed from u */
    long long prompt = oai_count(json_object_get(u, "prompt_tokens"));
    long long hit = oai_count(json_object_get(u, "prompt_cache_hit_tokens")); /* DeepSeek */

    out->cache_read = oai_count(json_object_get(ud, "cached_tokens"));
    if (hit > out->cache_read)
        out->cache_read = hit;
    out->cache_write = oai_count(json_object_get(ud, "cache_write_tokens"));
    out->input =
        prompt - out->cache_read - out->cache_write > 0 ? prompt - out->cache_read - out->cache_write : 0;
    out->output = oai_count(json_object_get(u, "completion_tokens"));
    return json_object_get(u, "prompt_tokens") != NULL;
}

static int oai_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return 0;
    return 1;
}

static void oai_thinking_block(json_t *content, const json_t *text, const json_t *sig)
{
    if (json_is_string(text) && json_string_length(text) > 0)
        json_array_append_new(content,
                              json_pack("{s:s,s:O,s:o}", "type", "thinking", "thinking", text, "signature",
                                        json_is_string(sig) ? json_deep_copy(sig) : json_string("")));
}

/* Reasoning -> thinking blocks: OpenRouter reasoning_details (text or summary, keeping a signature),
 * else reasoning_content (DeepSeek, llama.cpp), else reasoning (vLLM, Ollama, OpenRouter). */
static void oai_resp_thinking(const json_t *m, json_t *content)
{
    size_t i, before = json_array_size(content);
    json_t *d;                                                  /* borrowed from m */
    const json_t *rc = json_object_get(m, "reasoning_content"); /* borrowed from m */

    json_array_foreach(json_object_get(m, "reasoning_details"), i, d)
    {
        if (oai_streq(json_object_get(d, "type"), "reasoning.text"))
            oai_thinking_block(content, json_object_get(d, "text"), json_object_get(d, "signature"));
        else if (oai_streq(json_object_get(d, "type"), "reasoning.summary"))
            oai_thinking_block(content, json_object_get(d, "summary"), NULL);
    }
    if (json_array_size(content) > before)
        return;
    if (!json_is_string(rc) || json_string_length(rc) == 0)
        rc = json_object_get(m, "reasoning");
    oai_thinking_block(content, rc, NULL);
}

/* Adds the text block for message.content (a string, or an array of text parts). */
static void oai_resp_text(const json_t *c, json_t *content)
{
    oai_buf_t t = {0};
    size_t i;
    json_t *p; /* borrowed from c */

    if (json_is_string(c))
        buf_add(&t, json_string_value(c), json_string_length(c));
    json_array_foreach(c, i, p)
    {
        if (oai_streq(json_object_get(p, "type"), "text"))
            buf_join_json(&t, json_object_get(p, "text"));
    }
    if (!oai_blank(t.p, t.len))
        json_array_append_new(content, json_pack("{s:s,s:o}", "type", "text", "text", buf_json(&t)));
    buf_free(&t);
}

static int oai_resp_tool(const json_t *tc, const cp_oai_names_t *names, const char *prov, json_t *content,
                         cp_err_t *e)
{
    const json_t *fn = json_object_get(tc, "function");    /* borrowed from tc */
    const json_t *args = json_object_get(fn, "arguments"); /* borrowed from fn */
    const char *name = json_string_value(json_object_get(fn, "name"));
    const char *id = json_string_value(json_object_get(tc, "id"));
    json_t *input = NULL; /* owned */
    char idbuf[256];

    if (name == NULL || name[0] == '\0')
        return cp_err_set(e, 502, "api_error", "provider %s returned a tool call without a function name",
                          prov);
    name = cp_oai_names_original(names, name);
    if (json_is_string(args) && !oai_blank(json_string_value(args), json_string_length(args))) {
        json_error_t jerr;

        input = json_loadb(json_string_value(args), json_string_length(args), JSON_DECODE_ANY, &jerr);
        if (input == NULL)
            return cp_err_set(
                e, 502, "api_error",
                "provider %s returned arguments for tool \"%.100s\" that are not valid JSON: %s", prov, name,
                jerr.text);
        if (!json_is_object(input)) {
            json_decref(input);
            return cp_err_set(e, 502, "api_error",
                              "provider %s returned arguments for tool \"%.100s\" that are not a JSON object",
                              prov, name);
        }
    } else if (json_is_object(args)) { /* some servers send the object itself */
        input = json_deep_copy(args);
    } else if (args == NULL || json_is_null(args) || json_is_string(args)) {
        input = json_object();
    } else {
        return cp_err_set(e, 502, "api_error",
                          "provider %s returned arguments for tool \"%.100s\" that are not a JSON object",
                          prov, name);
    }
    if (id != NULL && id[0] != '\0') {
        size_t k = 0;
        for (; id[k] != '\0' && k + 1 < sizeof(idbuf); k++)
            idbuf[k] = oai_name_char(id[k]) ? id[k] : '_';
        idbuf[k] = '\0';
    } else {
        oai_rand_id("toolu_", idbuf, sizeof(idbuf));
    }
    json_array_append_new(content, json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id", idbuf, "name",
                                             name, "input", input));
    return CP_OK;
}

/* Error reported inside a 200 body (top-level, or OpenRouter's choice-level) -> <e>. */
static void oai_inband_error(const json_t *err, const char *prov, cp_err_t *e)
{
    oai_errinfo_t ei;
    json_t *wrap = json_pack("{s:O}", "error", err); /* owned */

    oai_errinfo(wrap, &ei);
    oai_err_fill(oai_status_hint(ei.num, ei.code), &ei, NULL, 0, prov, e);
    json_decref(wrap);
}

json_t *cp_oai_response(const json_t *oai, const char *client_model, const cp_oai_names_t *names,
                        const cp_oai_opts_t *o, cp_err_t *e)
{
    const char *prov = oai_pname(o);
    const json_t *choices = json_object_get(oai, "choices");  /* borrowed from oai */
    const json_t *ch = json_array_get(choices, 0);            /* borrowed from oai */
    const json_t *m = json_object_get(ch, "message");         /* borrowed from oai */
    const json_t *u = json_object_get(oai, "usage");          /* borrowed from oai */
    const json_t *fr = json_object_get(ch, "finish_reason");  /* borrowed from oai */
    const json_t *vstop = json_object_get(ch, "stop_reason"); /* borrowed from oai: vLLM */
    const json_t *refusal = json_object_get(m, "refusal");    /* borrowed from oai */
    const json_t *err = json_object_get(oai, "error");        /* borrowed from oai */
    json_t *content = NULL;                                   /* owned */
    json_t *res = NULL;                                       /* owned; returned */
    const char *stop = "end_turn";
    json_t *stop_seq = NULL; /* owned */
    size_t i, ntools = 0;
    json_t *tc; /* borrowed from m */
    cp_oai_usage_t us;
    char id[CP_REQ_ID_LEN + 1];

    if (err != NULL && !json_is_null(err) && json_is_object(oai)) {
        oai_inband_error(err, prov, e);
        return NULL;
    }
    if (!json_is_object(ch)) {
        cp_err_set(e, 502, "api_error", "provider %s returned an unexpected response (not a chat completion)",
                   prov);
        return NULL;
    }
    err = json_object_get(ch, "error");
    if ((err != NULL && !json_is_null(err)) || oai_streq(fr, "error")) {
        if (json_is_object(err) || json_is_string(err))
            oai_inband_error(err, prov, e);
        else
            cp_err_set(e, 500, "api_error", "%s: the generation failed (finish_reason \"error\")", prov);
        return NULL;
    }
    if (oai_streq(fr, "insufficient_system_resource")) { /* DeepSeek */
        cp_err_set(e, 529, "overloaded_error",
                   "%s: insufficient system resources, the generation was cut short", prov);
        return NULL;
    }
    if (!json_is_object(m)) {
        cp_err_set(e, 502, "api_error",
                   "provider %s returned an unexpected response (choice without a message)", prov);
        return NULL;
    }

    content = json_array();
    oai_resp_thinking(m, content);
    oai_resp_text(json_object_get(m, "content"), content);
    if (json_is_string(refusal) && json_string_length(refusal) > 0)
        json_array_append_new(content, json_pack("{s:s,s:O}", "type", "text", "text", refusal));
    json_array_foreach(json_object_get(m, "tool_calls"), i, tc)
    {
        if (oai_resp_tool(tc, names, prov, content, e) != CP_OK)
            goto out;
        ntools++;
    }
    if (ntools == 0 && json_is_object(json_object_get(m, "function_call"))) { /* legacy functions API */
        json_t *call = json_pack("{s:O}", "function", json_object_get(m, "function_call")); /* owned */
        int rc = oai_resp_tool(call, names, prov, content, e);

        json_decref(call);
        if (rc != CP_OK)
            goto out;
        ntools++;
    }

    if (json_is_string(refusal) && json_string_length(refusal) > 0)
        stop = "refusal";
    else if (oai_streq(fr, "length"))
        stop = "max_tokens";
    else if (oai_streq(fr, "content_filter"))
        stop = "refusal";
    else if (ntools > 0)
        stop = "tool_use"; /* also when Gemini ends a tool-call turn with "stop" */
    else if (oai_streq(fr, "stop") && json_is_string(vstop) && json_string_length(vstop) > 0) {
        stop = "stop_sequence";
        stop_seq = json_deep_copy(vstop);
    }

    cp_oai_usage_map(u, &us);

    oai_rand_id("msg_", id, sizeof(id));
    res = json_pack(
        "{s:s,s:s,s:s,s:s,s:O,s:s,s:o,s:{s:I,s:I,s:I,s:I}}", "id", id, "type", "message", "role", "assistant",
        "model", client_model != NULL ? client_model : "", "content", content, "stop_reason", stop,
        "stop_sequence", stop_seq != NULL ? json_incref(stop_seq) : json_null(), "usage", "input_tokens",
        (json_int_t)us.input, "output_tokens", (json_int_t)us.output, "cache_creation_input_tokens",
        (json_int_t)us.cache_write, "cache_read_input_tokens", (json_int_t)us.cache_read);
    if (res == NULL) /* client_model was not UTF-8 */
        cp_err_set(e, 500, "api_error", "cannot build the response message");
out:
    json_decref(content);
    json_decref(stop_seq);
    return res;
}
