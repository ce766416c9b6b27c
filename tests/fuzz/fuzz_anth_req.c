/* tests/fuzz/fuzz_anth_req.c: libFuzzer target for a client request body on its way upstream, the
 * way the server takes it (docs/architecture.md, "One request, end to end"): parsed by
 * cp_anth_parse(), validated by cp_anth_validate() for its kind, then given to the provider's adapter
 * (lib/prov/cp_prov.h, start) as lib/exchange/cp_exchange.c does: the Chat Completions translator
 * (lib/prov/openai/cp_oai_req.c) for every flavor of lib/prov/openai/cp_oai_flavor.c, the local
 * count_tokens estimate (lib/anth/cp_tok.c), or the Anthropic relay
 * (lib/prov/anthropic/cp_prov_anthropic.c).
 *
 * The first byte picks the setting, unless it is '{' (then the whole input is the body and the setting
 * is 0, so raw fixture files are good seeds):
 *   bits 0-2  the provider: 0-4 an OpenAI-style provider of flavor 0-4 (enum cp_oai_flavor_id), 5 the
 *             Anthropic relay, 6 and 7 flavors 1 and 2 again;
 *   bit 3     count_tokens instead of Messages;
 *   bits 4-5  the upstream model: a plain name, "o3-mini", "vendor/gpt-5-x" (reasoning models), or the
 *             client's own model name as a name@provider route passes it;
 *   bit 6     the provider's options: maxTokensField, reasoningEffort and maxOutputTokens set, a cap
 *             learned for this model, a baseURL ending in /v1, anthropic-version/-beta headers sent;
 *   bit 7     no API key.
 *
 * Checks: a refused body is a 400 invalid_request_error with a message, and its error envelope
 * (cp_anth_error_json) is a JSON object; a body that passes validation is estimated at >= 0 tokens;
 * the adapter either refuses with an HTTP error status, answers count_tokens locally with
 * {"input_tokens": N} (the estimate), or builds an upstream request: an http(s) URL under the baseURL
 * (/count_tokens for count_tokens), header lines without CR or LF, the provider's key only in its
 * own header, and a JSON object body with the upstream model ("messages" an array toward Chat
 * Completions). Nothing may crash, leak or trip ASan/UBSan.
 *
 * Run: `make fuzz` (all targets), or after it:
 *   build-fuzz/fuzz_anth_req -max_len=20000 build-fuzz/corpus/fuzz_anth_req */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cp_anth.h"
#include "cp_caps.h"
#include "cp_common.h"
#include "cp_json.h"
#include "cp_oai_flavor.h"
#include "cp_prov.h"
#include "cp_tok.h"
#include "cp_url.h"

#define FZ_KEY       "sk-fuzz-0123456789abcdefghij"
#define FZ_MODEL_MAX 256 /* CP_ROUTE_MODEL_MAX (lib/base/cp_route.h): the exchange's model buffers */

typedef struct setting {
    cp_provider_t prov;
    char url[128];
    char name[32];
    char model[FZ_MODEL_MAX]; /* the client's model as the front and the exchange keep it */
    const char *upstream;
    enum cp_anth_kind kind;
    unsigned extras : 1;
} setting_t;

static void fz_setting(unsigned sel, const char *client_model, setting_t *s)
{
    unsigned p = sel & 7u;
    static const char *const models[3] = {"fuzz-model", "o3-mini", "vendor/gpt-5-x"};

    memset(s, 0, sizeof(*s));
    snprintf(s->model, sizeof(s->model), "%s", client_model);
    s->kind = (sel & 8u) ? CP_ANTH_COUNT_TOKENS : CP_ANTH_MESSAGES;
    s->upstream = ((sel >> 4) & 3u) == 3u ? s->model : models[(sel >> 4) & 3u];
    s->extras = (sel >> 6) & 1u;
    if (p == 5) {
        s->prov.style = CP_STYLE_ANTHROPIC;
        snprintf(s->name, sizeof(s->name), "relay");
        snprintf(s->url, sizeof(s->url), "%s",
                 s->extras ? "https://api.anthropic.com/v1" : "http://127.0.0.1:9");
    } else {
        const cp_oai_flavor_t *fl = cp_oai_flavor_get((enum cp_oai_flavor_id)(p % CP_OAI_FLAVORS));
        s->prov.style = CP_STYLE_OPENAI;
        s->prov.flavor = (char *)fl->name;
        snprintf(s->name, sizeof(s->name), "fz-%s", fl->name);
        if (fl->host != NULL)
            snprintf(s->url, sizeof(s->url), "https://%s%s", fl->host, s->extras ? "/v1" : "");
        else
            snprintf(s->url, sizeof(s->url), "http://127.0.0.1:9%s", s->extras ? "/v1" : "");
    }
    s->prov.name = s->name;
    s->prov.base_url = s->url;
    s->prov.api_key = (sel & 128u) ? NULL : FZ_KEY;
    s->prov.api_key_env = "FZ_API_KEY";
    s->prov.headers = json_pack("{s:s}", "X-Fuzz", "1");
    s->prov.reasoning_models = json_pack("[s,s,s,s]", "o1*", "o3*", "o4*", "gpt-5*");
    s->prov.reasoning_effort = s->extras ? (int)(sel & 1u) : -1;
    s->prov.max_tokens_field = s->extras ? CP_MAXTOK_MAX_TOKENS + (int)((sel >> 1) & 1u) : CP_MAXTOK_AUTO;
    s->prov.max_output_tokens = s->extras ? 1000 : 0;
}

/* A refusal: an HTTP error status with a type and a message, whose envelope is a JSON object. */
static void fz_refusal(const cp_err_t *e, int want_status)
{
    char *env;
    json_t *j;

    if ((want_status != 0 && e->http_status != want_status) || e->http_status < 400 || e->http_status > 599 ||
        e->type == NULL || e->msg[0] == '\0')
        abort();
    env = cp_anth_error_json(e->http_status, e->type, e->msg, "req_fuzz");
    j = env != NULL ? json_loads(env, 0, NULL) : NULL;
    if (!json_is_object(j) || !cp_json_streq(json_object_get(j, "type"), "error"))
        abort();
    json_decref(j);
    free(env);
}

/* The upstream request <r> built for setting <s>. */
static void fz_upreq(const setting_t *s, const cp_upreq_t *r)
{
    json_t *b = cp_json_loadb(r->body.p, r->body.len, 0, NULL);
    int keyed = 0;

    if (r->url == NULL || strncmp(r->url, s->url, strlen(s->url)) != 0)
        abort();
    if (s->kind == CP_ANTH_COUNT_TOKENS && !cp_url_path_ends_with(r->url, "/count_tokens"))
        abort();
    for (size_t i = 0; i < r->nhdr; i++) {
        const char *h = r->hdr[i], *colon = strchr(h, ':');
        if (colon == NULL || colon == h || strpbrk(h, "\r\n") != NULL)
            abort();
        if (strstr(h, FZ_KEY) != NULL) {
            keyed++;
            if (strncmp(h, s->prov.style == CP_STYLE_ANTHROPIC ? "x-api-key: " : "Authorization: Bearer ",
                        s->prov.style == CP_STYLE_ANTHROPIC ? 11 : 22) != 0)
                abort();
        }
    }
    if (keyed != (s->prov.api_key != NULL))
        abort();
    if (!json_is_object(b) || !cp_json_streq(json_object_get(b, "model"), s->upstream))
        abort();
    if (s->prov.style == CP_STYLE_OPENAI && !json_is_array(json_object_get(b, "messages")))
        abort();
    json_decref(b);
}

/* Runs the adapter of <s> on <body> (taken) as cp_exchange_start() does, for a body that passed
 * validation; <est> is its token estimate. */
static void fz_start(const setting_t *s, json_t *body, int64_t est, cp_caps_t *caps)
{
    const cp_prov_ops_t *ops = cp_prov_ops(&s->prov);
    cp_prov_args_t a;
    cp_prov_reply_t reply;
    cp_upreq_t req;
    cp_err_t e;
    void *st = NULL;
    int rc;

    memset(&a, 0, sizeof(a));
    memset(&reply, 0, sizeof(reply));
    memset(&req, 0, sizeof(req));
    memset(&e, 0, sizeof(e));
    a.prov = &s->prov;
    a.client_model = s->model;
    a.upstream_model = s->upstream;
    a.api_key = s->prov.api_key; /* the exchange's pick from the pool (cp_health.h) */
    a.anthropic_version = s->extras ? "2023-06-01" : NULL;
    a.anthropic_beta = s->extras ? "fine-grained-tool-streaming-2025-05-14" : NULL;
    a.caps = caps;
    a.kind = s->kind;
    a.client_stream = s->kind == CP_ANTH_MESSAGES && json_is_true(json_object_get(body, "stream"));
    rc = ops->start(&a, body, &st, &req, &reply, &e);
    if (rc == CP_OK) {
        fz_upreq(s, &req);
        (void)ops->head(st, 200, a.client_stream ? "text/event-stream" : "application/json");
    } else if (rc == CP_DECLINED) {
        json_t *j = cp_json_loadb(reply.body.p, reply.body.len, 0, NULL);
        if (s->kind != CP_ANTH_COUNT_TOKENS || reply.status != 200 ||
            json_integer_value(json_object_get(j, "input_tokens")) != est)
            abort();
        json_decref(j);
    } else if (rc == CP_ERR) {
        fz_refusal(&e, 0);
    } else {
        abort();
    }
    ops->free(st);
    cp_upreq_free(&req);
    cp_buf_free(&reply.body);
    json_decref(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    unsigned sel = 0;
    enum cp_anth_kind kind;
    setting_t s;
    json_t *body;
    cp_err_t e;
    cp_caps_t *caps;
    int64_t est;

    if (n > 0 && d[0] != '{') {
        sel = d[0];
        d++;
        n--;
    }
    kind = (sel & 8u) ? CP_ANTH_COUNT_TOKENS : CP_ANTH_MESSAGES;
    memset(&e, 0, sizeof(e));
    body = cp_anth_parse((const char *)d, n, &e);
    if (body == NULL) {
        fz_refusal(&e, 400);
        return 0;
    }
    if (cp_anth_validate(body, kind, &e) != CP_OK) {
        fz_refusal(&e, 400);
        json_decref(body);
        return 0;
    }
    est = cp_tok_request(body);
    if (est < 0)
        abort();
    fz_setting(sel, json_string_value(json_object_get(body, "model")), &s);
    caps = cp_caps_new();
    if (s.extras)
        cp_caps_put(caps, s.name, s.upstream, 512);
    fz_start(&s, body, est, caps); /* takes body */
    cp_caps_free(caps);
    json_decref(s.prov.headers);
    json_decref(s.prov.reasoning_models);
    return 0;
}
