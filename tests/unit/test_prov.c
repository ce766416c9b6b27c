/* Unit tests for lib/prov/: the table of adapters (cp_prov.c), the learned caps (cp_caps.c), and the
 * two adapters driven as the exchange drives them, with no I/O: start -> head -> stream or finish. */
#include "cp_unit.h"

#include "cp_caps.h"
#include "cp_prov.h"

static cp_provider_t prov(const char *name, const char *url, enum cp_style st, const char *key)
{
    cp_provider_t p;

    memset(&p, 0, sizeof(p));
    p.name = (char *)name;
    p.base_url = (char *)url;
    p.style = st;
    p.api_key = (char *)key;
    p.headers = json_object();
    p.reasoning_models = json_pack("[s]", "o*");
    p.reasoning_effort = -1;
    return p;
}

static void prov_done(cp_provider_t *p)
{
    json_decref(p->headers);
    json_decref(p->reasoning_models);
}

static int has_header(const cp_upreq_t *r, const char *line)
{
    for (size_t i = 0; i < r->nhdr; i++)
        if (strcmp(r->hdr[i], line) == 0)
            return 1;
    return 0;
}

static void test_table(void **s)
{
    enum cp_style st = CP_STYLE_COUNT;
    char names[64];

    (void)s;
    assert_int_equal(cp_prov_style_parse("openai", &st), CP_OK);
    assert_int_equal(st, CP_STYLE_OPENAI);
    assert_int_equal(cp_prov_style_parse("anthropic", &st), CP_OK);
    assert_int_equal(st, CP_STYLE_ANTHROPIC);
    assert_int_equal(cp_prov_style_parse("Anthropic", &st), CP_ERR);
    assert_int_equal(cp_prov_style_parse("", &st), CP_ERR);
    assert_int_equal(cp_prov_style_parse(NULL, &st), CP_ERR);
    cp_prov_style_names(names, sizeof(names));
    assert_string_equal(names, "\"openai\" or \"anthropic\"");
    cp_prov_style_names(names, 4); /* truncated, still terminated */
    assert_int_equal(strlen(names), 3);
}

static void test_key_required(void **s)
{
    static const struct {
        const char *name, *url;
        enum cp_style st;
        int want;
    } cases[] = {
        {"openai", "https://api.openai.com/v1", CP_STYLE_OPENAI, 1},
        {"work", "https://api.openai.com/v1", CP_STYLE_OPENAI, 1},
        {"openai", "https://relay.corp.example/v1", CP_STYLE_OPENAI,
         0}, /* OpenAI's rules, the relay's auth */
        {"gemini", "https://generativelanguage.googleapis.com", CP_STYLE_OPENAI, 1},
        {"openrouter", "https://openrouter.ai/api/v1", CP_STYLE_OPENAI, 1},
        {"deepseek", "https://api.deepseek.com", CP_STYLE_OPENAI, 1},
        {"local", "http://127.0.0.1:11434/v1", CP_STYLE_OPENAI, 0},
        {"x", "https://api.openai.com.evil.example/v1", CP_STYLE_OPENAI, 0},
        {"anthropic", "https://api.anthropic.com", CP_STYLE_ANTHROPIC, 1},
        {"anthropic", "http://127.0.0.1:9/anth", CP_STYLE_ANTHROPIC, 0},
    };

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cp_provider_t p = prov(cases[i].name, cases[i].url, cases[i].st, NULL);
        if (cp_prov_key_required(&p) != cases[i].want)
            fail_msg("case %zu (%s %s): want %d", i, cases[i].name, cases[i].url, cases[i].want);
        prov_done(&p);
    }
}

static void test_caps(void **s)
{
    cp_caps_t *c = cp_caps_new();
    char m[32];

    (void)s;
    assert_int_equal(cp_caps_get(c, "p", "m"), 0);
    cp_caps_put(c, "p", "m", 4096);
    cp_caps_put(c, "q", "m", 100);
    assert_int_equal(cp_caps_get(c, "p", "m"), 4096);
    cp_caps_put(c, "p", "m", 2048); /* updated in place */
    assert_int_equal(cp_caps_get(c, "p", "m"), 2048);
    for (int i = 0; i < 300; i++) { /* bounded: the oldest entries go */
        snprintf(m, sizeof(m), "model-%d", i);
        cp_caps_put(c, "p", m, i + 1);
    }
    assert_int_equal(cp_caps_get(c, "p", "model-299"), 300);
    assert_int_equal(cp_caps_get(c, "p", "model-0"), 0);
    assert_int_equal(cp_caps_get(NULL, "p", "m"), 0);
    cp_caps_put(NULL, "p", "m", 1); /* no store: nothing, no crash */
    cp_caps_free(c);
    cp_caps_free(NULL);
}

static json_t *req_json(const char *model, int stream)
{
    return json_pack("{s:s,s:i,s:b,s:[{s:s,s:s}],s:{s:s}}", "model", model, "max_tokens", 32000, "stream",
                     stream, "messages", "role", "user", "content", "Hello", "metadata", "user_id", "u1");
}

/* The OpenAI adapter: request, local count_tokens, capped retry, whole answers in both forms. */
static void test_openai_adapter(void **s)
{
    cp_provider_t p = prov("gemini", "https://generativelanguage.googleapis.com", CP_STYLE_OPENAI, "g-key");
    const cp_prov_ops_t *ops = cp_prov_ops(&p);
    cp_caps_t *caps = cp_caps_new();
    cp_prov_args_t a = {&p,      "claude-x", "gemini-2.5-pro", NULL, NULL, caps, CP_ANTH_MESSAGES, 0,
                        "g-key", "ck1"};
    cp_prov_reply_t reply = {0};
    cp_upreq_t req = {0};
    cp_err_t e = {0};
    void *st = NULL;
    json_t *anth = req_json("claude-x", 0), *body;
    const char *cap400 =
        "{\"error\":{\"message\":\"max_tokens is too large: 32000. This model supports at most "
        "8192 completion tokens\"}}";
    const char *ok =
        "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}";

    (void)s;
    assert_string_equal(ops->name, "openai");
    assert_int_equal(ops->start(&a, anth, &st, &req, &reply, &e), CP_OK);
    assert_string_equal(req.url, "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions");
    assert_true(has_header(&req, "Authorization: Bearer g-key"));
    body = json_loadb(req.body.p, req.body.len, 0, NULL);
    assert_non_null(body);
    assert_null(json_object_get(body, "user"));             /* the gemini flavor takes no "user" */
    assert_null(json_object_get(body, "prompt_cache_key")); /* nor a prompt_cache_key */
    assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 32000);
    json_decref(body);
    cp_upreq_free(&req);

    /* a 400 naming the cap: the same request again with it, once, and the cap is remembered */
    assert_int_equal(ops->head(st, 400, "application/json"), CP_PROV_COLLECT);
    assert_int_equal(ops->finish(st, 400, cap400, strlen(cap400), &reply, &req, &e), CP_AGAIN);
    body = json_loadb(req.body.p, req.body.len, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 8192);
    assert_non_null(req.note);
    json_decref(body);
    cp_upreq_free(&req);
    assert_int_equal(cp_caps_get(caps, "gemini", "gemini-2.5-pro"), 8192);
    assert_int_equal(ops->head(st, 400, "application/json"), CP_PROV_COLLECT);
    assert_int_equal(ops->finish(st, 400, cap400, strlen(cap400), &reply, &req, &e), CP_ERR); /* only once */
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.type, "invalid_request_error");

    /* a 2xx whole answer: a Message */
    assert_int_equal(ops->head(st, 200, "application/json"), CP_PROV_COLLECT);
    assert_int_equal(ops->finish(st, 200, ok, strlen(ok), &reply, &req, &e), CP_OK);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.ctype, "application/json");
    body = json_loadb(reply.body.p, reply.body.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "type")), "message");
    assert_string_equal(json_string_value(json_object_get(body, "model")), "claude-x");
    json_decref(body);
    cp_buf_free(&reply.body);
    ops->free(st);
    st = NULL;

    /* the next request is capped from the start */
    assert_int_equal(ops->start(&a, anth, &st, &req, &reply, &e), CP_OK);
    body = json_loadb(req.body.p, req.body.len, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 8192);
    json_decref(body);
    cp_upreq_free(&req);
    /* a 2xx that is not JSON: an error, not a Message */
    assert_int_equal(ops->head(st, 200, "text/html"), CP_PROV_COLLECT);
    assert_int_equal(ops->finish(st, 200, "<html>oops</html>", 17, &reply, &req, &e), CP_ERR);
    assert_int_equal(e.http_status, 502);
    assert_non_null(strstr(e.msg, "not JSON"));
    ops->free(st);
    st = NULL;

    /* count_tokens is answered locally */
    a.kind = CP_ANTH_COUNT_TOKENS;
    assert_int_equal(ops->start(&a, anth, &st, &req, &reply, &e), CP_DECLINED);
    assert_null(st);
    assert_int_equal(reply.status, 200);
    assert_non_null(strstr(cp_buf_str(&reply.body), "{\"input_tokens\":"));
    cp_buf_free(&reply.body);
    cp_upreq_free(&req);

    /* a streaming client answered with a whole body still gets an event stream */
    a.kind = CP_ANTH_MESSAGES;
    a.client_stream = 1;
    assert_int_equal(ops->start(&a, anth, &st, &req, &reply, &e), CP_OK);
    cp_upreq_free(&req);
    assert_int_equal(ops->head(st, 200, "application/json"), CP_PROV_COLLECT);
    assert_int_equal(ops->finish(st, 200, ok, strlen(ok), &reply, &req, &e), CP_OK);
    assert_string_equal(reply.ctype, "text/event-stream");
    assert_true(strncmp(cp_buf_str(&reply.body), "event: message_start\n", 21) == 0);
    assert_non_null(strstr(cp_buf_str(&reply.body), "event: message_stop\n"));
    cp_buf_free(&reply.body);
    ops->free(st);
    ops->free(NULL);
    json_decref(anth);
    cp_caps_free(caps);
    prov_done(&p);
}

/* The Anthropic adapter: URL, headers, the relay (message_stop ends it; a cut ends with an error event
 * after the cut event is closed), error bodies. */
static void test_anthropic_adapter(void **s)
{
    cp_provider_t p = prov("anth", "http://127.0.0.1:9/v1", CP_STYLE_ANTHROPIC, "sk-ant-KEY");
    const cp_prov_ops_t *ops = cp_prov_ops(&p);
    cp_prov_args_t a = {&p,   "claude-x",       "claude-up", "2023-06-01", "beta-a,beta-b",
                        NULL, CP_ANTH_MESSAGES, 1,           "sk-ant-KEY", "ck1"};
    cp_prov_reply_t reply = {0};
    cp_upreq_t req = {0};
    cp_err_t e = {0};
    cp_buf_t out = CP_BUF_INIT;
    void *st = NULL;
    json_t *anth = req_json("claude-x", 1), *body;
    static const char ev1[] = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n";
    static const char stop[] = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    (void)s;
    json_object_set_new(p.headers, "X-Extra", json_string("1"));
    assert_int_equal(ops->start(&a, anth, &st, &req, &reply, &e), CP_OK);
    assert_string_equal(req.url, "http://127.0.0.1:9/v1/messages"); /* "/v1" not doubled */
    assert_true(has_header(&req, "x-api-key: sk-ant-KEY"));
    assert_true(has_header(&req, "anthropic-beta: beta-a,beta-b"));
    assert_true(has_header(&req, "X-Extra: 1"));
    body = json_loadb(req.body.p, req.body.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "model")), "claude-up");
    assert_null(json_object_get(body, "prompt_cache_key")); /* the client's body, untouched */
    json_decref(body);
    cp_upreq_free(&req);

    assert_int_equal(ops->head(st, 200, "text/event-stream; charset=utf-8"), CP_PROV_STREAM);
    assert_int_equal(ops->stream_begin(st, &out), CP_OK);
    assert_int_equal(ops->stream_feed(st, ev1, sizeof(ev1) - 1, &out), CP_OK);
    assert_true(ops->stream_idle(st));
    assert_int_equal(ops->stream_feed(st, stop, 30, &out), CP_OK); /* message_stop split in two */
    assert_false(ops->stream_idle(st));
    assert_int_equal(ops->stream_feed(st, stop + 30, sizeof(stop) - 1 - 30, &out), CP_PROV_DONE);
    assert_int_equal(out.len, sizeof(ev1) - 1 + sizeof(stop) - 1); /* byte for byte */
    assert_true(ops->stream_idle(st));
    assert_int_equal(ops->stream_end(st, NULL, &out), CP_OK);
    ops->free(st);
    st = NULL;
    cp_buf_reset(&out, 0);

    /* CRLF framing, the blank line split across pieces: still an event boundary */
    assert_int_equal(ops->start(&a, anth, &st, &req, &reply, &e), CP_OK);
    cp_upreq_free(&req);
    assert_int_equal(ops->head(st, 200, "text/event-stream"), CP_PROV_STREAM);
    assert_int_equal(
        ops->stream_feed(st, "event: ping\r\ndata: {}\r\n\r", strlen("event: ping\r\ndata: {}\r\n\r"), &out),
        CP_OK);
    assert_false(ops->stream_idle(st));
    assert_int_equal(ops->stream_feed(st, "\n", 1, &out), CP_OK);
    assert_true(ops->stream_idle(st));
    {
        const char *ms = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n";
        assert_int_equal(ops->stream_feed(st, ms, strlen(ms), &out), CP_OK);
    }
    assert_int_equal(ops->stream_feed(st, "\n", 1, &out), CP_PROV_DONE);
    ops->free(st);
    st = NULL;
    cp_buf_reset(&out, 0);

    /* cut in the middle of an event: the event is closed, then an error event */
    assert_int_equal(ops->start(&a, anth, &st, &req, &reply, &e), CP_OK);
    cp_upreq_free(&req);
    assert_int_equal(ops->head(st, 200, "text/event-stream"), CP_PROV_STREAM);
    assert_int_equal(ops->stream_feed(st, ev1, 20, &out), CP_OK);
    assert_int_equal(ops->stream_end(st, NULL, &out), CP_ERR);
    assert_non_null(strstr(cp_buf_str(&out),
                           "\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\""));
    assert_non_null(strstr(cp_buf_str(&out), "before message_stop"));
    ops->free(st);
    st = NULL;
    cp_buf_free(&out);

    /* error bodies: an Anthropic envelope is relayed with its status; anything else is mapped */
    a.client_stream = 0;
    assert_int_equal(ops->start(&a, anth, &st, &req, &reply, &e), CP_OK);
    cp_upreq_free(&req);
    assert_int_equal(ops->head(st, 429, "application/json"), CP_PROV_COLLECT);
    {
        static const char env[] =
            "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow\"}}";
        assert_int_equal(ops->finish(st, 429, env, sizeof(env) - 1, &reply, &req, &e), CP_OK);
        assert_int_equal(reply.status, 429);
        assert_memory_equal(reply.body.p, env, sizeof(env) - 1);
        cp_buf_free(&reply.body);
    }
    assert_int_equal(ops->finish(st, 503, "<html><title>Bad gateway</title></html>", 39, &reply, &req, &e),
                     CP_ERR);
    assert_int_equal(e.http_status, 529);
    assert_non_null(strstr(e.msg, "Bad gateway"));
    /* a 2xx that is no Message (HTML, a cut body, other JSON) is a 502, never relayed; invalid UTF-8
     * inside a whole Message is relayed as it is (docs/protocol-notes.md) */
    {
        static const char *const bad[] = {"<html>hi</html>",
                                          "{\"id\":\"msg_1\",\"type\":\"message\",\"content\":[{\"ty",
                                          "{\"foo\":1}", "[]"};
        static const char raw[] =
            "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"a\xff\"}]}";
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            assert_int_equal(ops->finish(st, 200, bad[i], strlen(bad[i]), &reply, &req, &e), CP_ERR);
            assert_int_equal(e.http_status, 502);
            assert_non_null(strstr(e.msg, "not an Anthropic Message"));
        }
        assert_int_equal(ops->finish(st, 200, raw, sizeof(raw) - 1, &reply, &req, &e), CP_OK);
        assert_memory_equal(reply.body.p, raw, sizeof(raw) - 1);
        cp_buf_free(&reply.body);
    }
    ops->free(st);
    st = NULL;

    /* count_tokens goes upstream; its answer must be a token count */
    a.kind = CP_ANTH_COUNT_TOKENS;
    assert_int_equal(ops->start(&a, anth, &st, &req, &reply, &e), CP_OK);
    assert_string_equal(req.url, "http://127.0.0.1:9/v1/messages/count_tokens");
    cp_upreq_free(&req);
    assert_int_equal(ops->finish(st, 200, "{\"input_tokens\":12}", 19, &reply, &req, &e), CP_OK);
    cp_buf_free(&reply.body);
    assert_int_equal(ops->finish(st, 200, "{\"input_tokens\":\"12\"}", 21, &reply, &req, &e), CP_ERR);
    assert_non_null(strstr(e.msg, "not a token count"));
    ops->free(st);
    json_decref(anth);
    prov_done(&p);
}

/* What an upstream echoes back is scrubbed of the provider's key and secret header values. */
/* The picked key of a pool, not the provider's first, goes upstream; the session's cache key reaches the
 * OpenAI flavor as prompt_cache_key, and nothing of it without a session. */
static void test_pool_key_and_cache_key(void **s)
{
    cp_provider_t p = prov("openai", "https://api.openai.com/v1", CP_STYLE_OPENAI, "sk-first");
    const cp_prov_ops_t *ops = cp_prov_ops(&p);
    cp_prov_args_t a = {&p,   "claude-x",       "gpt-5", NULL,        NULL,
                        NULL, CP_ANTH_MESSAGES, 0,       "sk-second", "c0ffee"};
    cp_prov_reply_t reply = {0};
    cp_upreq_t req = {0};
    cp_err_t e = {0};
    void *st = NULL;
    json_t *anth = req_json("claude-x", 0), *body;

    (void)s;
    assert_int_equal(ops->start(&a, anth, &st, &req, &reply, &e), CP_OK);
    assert_true(has_header(&req, "Authorization: Bearer sk-second"));
    assert_false(has_header(&req, "Authorization: Bearer sk-first"));
    body = json_loadb(req.body.p, req.body.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "prompt_cache_key")), "c0ffee");
    json_decref(body);
    cp_upreq_free(&req);
    ops->free(st);
    st = NULL;
    a.cache_key = NULL;
    a.api_key = NULL; /* a keyless attempt sends no Authorization at all */
    assert_int_equal(ops->start(&a, anth, &st, &req, &reply, &e), CP_OK);
    body = json_loadb(req.body.p, req.body.len, 0, NULL);
    assert_null(json_object_get(body, "prompt_cache_key"));
    for (size_t i = 0; i < req.nhdr; i++)
        assert_null(strstr(req.hdr[i], "Authorization"));
    json_decref(body);
    cp_upreq_free(&req);
    ops->free(st);
    json_decref(anth);
    prov_done(&p);
}

static void test_scrub(void **s)
{
    cp_provider_t p = prov("relay", "http://h/v1", CP_STYLE_OPENAI, "sk-relay-KEY1");
    cp_buf_t b = CP_BUF_INIT;
    cp_err_t e = {.http_status = 401,
                  .type = "authentication_error",
                  .msg = "bad key sk-relay-KEY1; token abc-XYZ-9 and Bearer abc-XYZ-9"};

    (void)s;
    json_object_set_new(p.headers, "Authorization", json_string("Bearer abc-XYZ-9"));
    json_object_set_new(p.headers, "X-Title", json_string("sk-relay")); /* not a secret header: kept */
    cp_buf_adds(&b, "{\"error\":{\"message\":\"sk-relay-KEY1 sk-relay-KEY1 x\"}}");
    cp_prov_scrub(&p, &b);
    assert_string_equal(cp_buf_str(&b), "{\"error\":{\"message\":\"[redacted] [redacted] x\"}}");
    cp_prov_scrub_err(&p, &e);
    assert_string_equal(e.msg, "bad key [redacted]; token [redacted] and [redacted]");
    cp_buf_free(&b);
    prov_done(&p);
    p = prov("nokey", "http://h/v1", CP_STYLE_OPENAI, "abc"); /* too short to scrub: nothing changes */
    cp_buf_adds(&b, "abc abc");
    cp_prov_scrub(&p, &b);
    assert_string_equal(cp_buf_str(&b), "abc abc");
    cp_buf_free(&b);
    prov_done(&p);
}

/* ops.usage: what the upstream reported, for the ledger and the limits, from every answer shape. */
static void test_usage(void **s)
{
    static const char stream[] =
        "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":"
        "{\"input_tokens\":100,\"cache_read_input_tokens\":300,\"cache_creation_input_tokens\":40,"
        "\"output_tokens\":1}}}\r\n\r\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
        "{\"type\":\"text_delta\",\"text\":\"\\\"usage\\\": {\\\"output_tokens\\\": 999}\"}}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
        "\"usage\":{\"output_tokens\":20}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    static const char oai_ok[] = "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},"
                                 "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":25,"
                                 "\"completion_tokens\":7,\"prompt_tokens_details\":{\"cached_tokens\":5}}}";
    cp_provider_t pa = prov("anth", "http://127.0.0.1:9", CP_STYLE_ANTHROPIC, "k");
    cp_provider_t po = prov("oai", "http://127.0.0.1:9/v1", CP_STYLE_OPENAI, "k");
    cp_prov_args_t a = {&pa, "claude-x", "claude-up", NULL, NULL, NULL, CP_ANTH_MESSAGES, 1, "k", NULL};
    cp_caps_t *caps = cp_caps_new();
    cp_prov_reply_t reply = {0};
    cp_upreq_t req = {0};
    cp_err_t e = {0};
    cp_anth_usage_t u;
    const cp_prov_ops_t *ops = cp_prov_ops(&pa);

    (void)s;
    assert_int_equal(ops->usage(NULL, &u), 0);
    /* a relayed stream, split at every byte: the counts of message_start, then message_delta's output;
     * text that merely looks like usage is not read */
    for (size_t cut = 0; cut <= sizeof(stream) - 1; cut++) {
        cp_buf_t out = CP_BUF_INIT;
        void *st = NULL;
        json_t *anth = req_json("claude-x", 1);
        assert_int_equal(ops->start(&a, anth, &st, &req, &reply, &e), CP_OK);
        json_decref(anth);
        cp_upreq_free(&req);
        assert_int_equal(ops->usage(st, &u), 0); /* nothing reported yet */
        assert_int_equal(ops->head(st, 200, "text/event-stream"), CP_PROV_STREAM);
        ops->stream_begin(st, &out);
        ops->stream_feed(st, stream, cut, &out);
        ops->stream_feed(st, stream + cut, sizeof(stream) - 1 - cut, &out);
        assert_int_equal(ops->usage(st, &u), 1);
        assert_int_equal(u.input, 100);
        assert_int_equal(u.cache_read, 300);
        assert_int_equal(u.cache_write, 40);
        assert_int_equal(u.output, 20);
        cp_buf_free(&out);
        ops->free(st);
    }
    /* a whole Anthropic Message */
    {
        static const char msg[] =
            "{\"type\":\"message\",\"content\":[],\"usage\":{\"input_tokens\":7,\"output_tokens\":3}}";
        void *st = NULL;
        json_t *anth = req_json("claude-x", 0);
        a.client_stream = 0;
        assert_int_equal(ops->start(&a, anth, &st, &req, &reply, &e), CP_OK);
        json_decref(anth);
        cp_upreq_free(&req);
        assert_int_equal(ops->head(st, 200, "application/json"), CP_PROV_COLLECT);
        assert_int_equal(ops->finish(st, 200, msg, sizeof(msg) - 1, &reply, &req, &e), CP_OK);
        cp_buf_free(&reply.body);
        assert_int_equal(ops->usage(st, &u), 1);
        assert_int_equal(u.input, 7);
        assert_int_equal(u.output, 3);
        ops->free(st);
    }
    /* OpenAI style: Anthropic's sense (input excludes cached input); an error reports nothing */
    ops = cp_prov_ops(&po);
    a.prov = &po;
    a.upstream_model = "gpt-4o";
    a.caps = caps;
    for (int err = 0; err < 2; err++) {
        void *st = NULL;
        json_t *anth = req_json("claude-x", 0);
        assert_int_equal(ops->start(&a, anth, &st, &req, &reply, &e), CP_OK);
        json_decref(anth);
        cp_upreq_free(&req);
        assert_int_equal(ops->head(st, err ? 500 : 200, "application/json"), CP_PROV_COLLECT);
        ops->finish(st, err ? 500 : 200, oai_ok, sizeof(oai_ok) - 1, &reply, &req, &e);
        cp_buf_free(&reply.body);
        if (err) {
            assert_int_equal(ops->usage(st, &u), 0);
        } else {
            assert_int_equal(ops->usage(st, &u), 1);
            assert_int_equal(u.input, 20);
            assert_int_equal(u.cache_read, 5);
            assert_int_equal(u.output, 7);
        }
        ops->free(st);
    }
    cp_caps_free(caps);
    prov_done(&pa);
    prov_done(&po);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_key_required),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_openai_adapter),
        cmocka_unit_test(test_anthropic_adapter),
        cmocka_unit_test(test_pool_key_and_cache_key),
        cmocka_unit_test(test_scrub),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
