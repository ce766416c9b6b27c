/* Unit tests for whole Chat Completions answers (lib/prov/openai/cp_oai_resp.c through
 * cp_oai_response): table cases, in-band errors, ids, and recorded answers.
 *
 * JSON in the tables is written with ' for " (see unit_jq()). Golden pairs live in tests/fixtures/oai/:
 *   resp-NAME.openai.json -> resp-NAME.anthropic.json (random ids normalized) */
#include "cp_unit.h"

#include <ctype.h>

#include "cp_json.h"
#include "cp_oai_resp.h"

#define GEN CP_OAI_GENERIC
#define ORT CP_OAI_OPENROUTER

static cp_oai_opts_t opts(enum cp_oai_flavor_id f, unsigned rm, unsigned mc, unsigned re)
{
    cp_oai_opts_t o = {0};

    o.provider = "p";
    o.fl = cp_oai_flavor_get(f);
    o.reasoning_model = rm;
    o.max_completion = mc;
    o.reasoning_effort = re;
    return o;
}

static const char *fixdir(void)
{
    return unit_fixdir("oai", "CCPROXY_OAI_FIXTURES");
}

/* Returns new: the bytes of fixture <name> (*<len> set); fails the test when missing. */
static char *fixture_bytes(const char *name, size_t *len)
{
    char *b = unit_slurp(fixdir(), name, len);

    if (b == NULL)
        fail_msg("missing fixture %s/%s", fixdir(), name);
    return b;
}

/* Returns new: fixture <name> parsed (integers beyond 64 bits accepted); fails when missing. */
static json_t *fixture(const char *name)
{
    size_t n;
    char *b = fixture_bytes(name, &n);
    json_error_t err;
    json_t *j = cp_json_loadb(b, n, 0, &err);

    if (j == NULL)
        fail_msg("fixture %s: %s (line %d)", name, err.text, err.line);
    free(b);
    return j;
}

/* Returns new: the Message the adapter's path gives for the whole body <b> (bytes, as received), or
 * NULL with <e> set. */
static json_t *whole_bytes(const char *b, size_t n, const cp_oai_opts_t *o, cp_err_t *e)
{
    cp_oai_resp_t *r = cp_oai_resp_new("claude-sonnet-5", NULL, o, 0, CP_ANTH_OUT_MESSAGE);
    cp_buf_t out = CP_BUF_INIT;
    json_t *msg = NULL;

    if (cp_oai_resp_whole(r, b, n, &out) == CP_OK)
        msg = json_loadb(out.p, out.len, 0, NULL);
    else
        *e = *cp_oai_resp_error(r);
    cp_buf_free(&out);
    cp_oai_resp_free(r);
    return msg;
}

/* Replaces a generated message id by "msg_ID" and generated tool ids by "toolu_GEN", after checking
 * their shape. Returns 0 when an id has the wrong shape. */
static int norm_ids(json_t *msg)
{
    const char *id = json_string_value(json_object_get(msg, "id"));
    size_t i;
    json_t *b;
    int ok = id != NULL && strlen(id) == 28 && strncmp(id, "msg_", 4) == 0 &&
             strspn(id + 4, "0123456789abcdef") == 24;

    json_object_set_new(msg, "id", json_string("msg_ID"));
    json_array_foreach(json_object_get(msg, "content"), i, b)
    {
        const char *t = json_string_value(json_object_get(b, "id"));
        if (t != NULL && strlen(t) == 30 && strncmp(t, "toolu_", 6) == 0 &&
            strspn(t + 6, "0123456789abcdef") == 24)
            json_object_set_new(b, "id", json_string("toolu_GEN"));
    }
    return ok;
}

/* ---- cp_oai_response ---------------------------------------------------------------------------- */

#define CHOICE(msg, fr)                                                                                      \
    "{'id':'chatcmpl-1','object':'chat.completion','choices':[{'index':0,'message':" msg                     \
    ",'finish_reason':" fr "}]"
#define OUSAGE(p, c) ",'usage':{'prompt_tokens':" #p ",'completion_tokens':" #c "}}"
#define AMSG(content, stop)                                                                                  \
    "{'id':'msg_ID','type':'message','role':'assistant','model':'claude-x','content':" content               \
    ",'stop_reason':'" stop "','stop_sequence':null,"
#define AUSAGE(i, o, w, r)                                                                                   \
    "'usage':{'input_tokens':" #i ",'output_tokens':" #o ",'cache_creation_input_tokens':" #w                \
    ",'cache_read_input_tokens':" #r "}}"
#define TC(id, name, args)                                                                                   \
    "{'id':'" id "','type':'function','function':{'name':'" name "','arguments':" args "}}"

static const struct {
    const char *name, *oai, *want;
} resp_cases[] = {
    {"text, stop -> end_turn", CHOICE("{'role':'assistant','content':'Hello'}", "'stop'") OUSAGE(10, 2),
     AMSG("[{'type':'text','text':'Hello'}]", "end_turn") AUSAGE(10, 2, 0, 0)},
    {"tool calls, content null -> tool_use blocks",
     CHOICE("{'role':'assistant','content':null,'refusal':null,'tool_calls':[" TC(
                "call_1", "read_file", "'{\\'path\\':\\'README.md\\'}'") "," TC("call_2", "ls", "'{}'") "]}",
            "'tool_calls'") OUSAGE(60, 15),
     AMSG("[{'type':'tool_use','id':'call_1','name':'read_file','input':{'path':'README.md'}},{'type':'tool_"
          "use',"
          "'id':'call_2','name':'ls','input':{}}]",
          "tool_use") AUSAGE(60, 15, 0, 0)},
    {"text before tool calls",
     CHOICE("{'role':'assistant','content':'Let me look.','tool_calls':[" TC("c1", "ls",
                                                                             "'{\\'a\\':[1,2.5]}'") "]}",
            "'tool_calls'") OUSAGE(1, 1),
     AMSG("[{'type':'text','text':'Let me "
          "look.'},{'type':'tool_use','id':'c1','name':'ls','input':{'a':[1,2.5]}}]",
          "tool_use") AUSAGE(1, 1, 0, 0)},
    {"stop WITH tool calls (Gemini) -> tool_use",
     CHOICE("{'role':'assistant','content':'','tool_calls':[" TC("function-call-1", "ls", "'{}'") "]}",
            "'stop'") OUSAGE(1, 1),
     AMSG("[{'type':'tool_use','id':'function-call-1','name':'ls','input':{}}]", "tool_use")
         AUSAGE(1, 1, 0, 0)},
    {"tool_calls finish without tool calls -> end_turn",
     CHOICE("{'role':'assistant','content':'done','tool_calls':[]}", "'tool_calls'") OUSAGE(1, 1),
     AMSG("[{'type':'text','text':'done'}]", "end_turn") AUSAGE(1, 1, 0, 0)},
    {"length -> max_tokens", CHOICE("{'role':'assistant','content':'Once upon'}", "'length'") OUSAGE(5, 2),
     AMSG("[{'type':'text','text':'Once upon'}]", "max_tokens") AUSAGE(5, 2, 0, 0)},
    {"length WITH complete tool calls -> max_tokens, the calls kept",
     CHOICE("{'role':'assistant','content':null,'tool_calls':[" TC("call_9", "ls", "'{\\'a\\':1}'") "]}",
            "'length'") OUSAGE(7, 64),
     AMSG("[{'type':'tool_use','id':'call_9','name':'ls','input':{'a':1}}]", "max_tokens")
         AUSAGE(7, 64, 0, 0)},
    {"content_filter -> refusal",
     CHOICE("{'role':'assistant','content':null}", "'content_filter'") OUSAGE(5, 0),
     AMSG("[]", "refusal") AUSAGE(5, 0, 0, 0)},
    {"legacy function_call -> tool_use with a generated id",
     CHOICE("{'role':'assistant','content':null,'function_call':{'name':'f','arguments':'{\\'x\\':1}'}}",
            "'function_call'") OUSAGE(1, 1),
     AMSG("[{'type':'tool_use','id':'toolu_GEN','name':'f','input':{'x':1}}]", "tool_use")
         AUSAGE(1, 1, 0, 0)},
    {"message.refusal -> text + refusal",
     CHOICE("{'role':'assistant','content':null,'refusal':'I can not help with that.'}", "'stop'")
         OUSAGE(9, 7),
     AMSG("[{'type':'text','text':'I can not help with that.'}]", "refusal") AUSAGE(9, 7, 0, 0)},
    {"vLLM stop_reason string -> stop_sequence",
     "{'choices':[{'index':0,'message':{'role':'assistant','content':'abc'},'finish_reason':'stop','stop_"
     "reason':"
     "'END'}]" OUSAGE(3, 3),
     "{'id':'msg_ID','type':'message','role':'assistant','model':'claude-x','content':[{'type':'text','text':"
     "'abc'}],'stop_reason':'stop_sequence','stop_sequence':'END'," AUSAGE(3, 3, 0, 0)},
    {"vLLM stop_reason token id ignored",
     "{'choices':[{'index':0,'message':{'role':'assistant','content':'abc'},'finish_reason':'stop','stop_"
     "reason':"
     "128001}]" OUSAGE(3, 3),
     AMSG("[{'type':'text','text':'abc'}]", "end_turn") AUSAGE(3, 3, 0, 0)},
    {"reasoning_content -> thinking first, empty signature",
     CHOICE("{'role':'assistant','content':'42','reasoning_content':'think'}", "'stop'") OUSAGE(1, 9),
     AMSG("[{'type':'thinking','thinking':'think','signature':''},{'type':'text','text':'42'}]", "end_turn")
         AUSAGE(1, 9, 0, 0)},
    {"reasoning (vLLM, Ollama) -> thinking",
     CHOICE("{'role':'assistant','content':'ok','reasoning':'hmm','tool_calls':[" TC("c", "f", "'{}'") "]}",
            "'tool_calls'") OUSAGE(1, 1),
     AMSG("[{'type':'thinking','thinking':'hmm','signature':''},{'type':'text','text':'ok'},{'type':'tool_"
          "use','id':"
          "'c','name':'f','input':{}}]",
          "tool_use") AUSAGE(1, 1, 0, 0)},
    {"empty reasoning_content falls back to reasoning",
     CHOICE("{'role':'assistant','content':'ok','reasoning_content':'','reasoning':'r'}", "'stop'")
         OUSAGE(1, 1),
     AMSG("[{'type':'thinking','thinking':'r','signature':''},{'type':'text','text':'ok'}]", "end_turn")
         AUSAGE(1, 1, 0, 0)},
    /* one source of reasoning per answer, as when streamed: "reasoning" here, with the signature
     * found in reasoning_details (an answer carrying both used to give two thinking blocks) */
    {"OpenRouter reasoning + reasoning_details: one thinking block, signature kept",
     CHOICE("{'role':'assistant','content':'hi','reasoning':'a','reasoning_details':[{'type':'reasoning.text'"
            ",'text':"
            "'a','signature':'sig1','format':'anthropic-claude-v1','index':0},{'type':'reasoning.summary','"
            "summary':"
            "'sum'},{'type':'reasoning.encrypted','data':'xx'}]}",
            "'stop'") OUSAGE(1, 1),
     AMSG("[{'type':'thinking','thinking':'a','signature':'sig1'},{'type':'text','text':'hi'}]", "end_turn")
         AUSAGE(1, 1, 0, 0)},
    {"reasoning_details alone: text and summary, encrypted skipped",
     CHOICE("{'role':'assistant','content':'hi','reasoning_details':[{'type':'reasoning.text','text':'a',"
            "'signature':'sig1'},{'type':'reasoning.summary','summary':'sum'},{'type':'reasoning.encrypted',"
            "'data':'xx'}]}",
            "'stop'") OUSAGE(1, 1),
     AMSG("[{'type':'thinking','thinking':'asum','signature':'sig1'},{'type':'text','text':'hi'}]",
          "end_turn") AUSAGE(1, 1, 0, 0)},
    {"empty content -> content []", CHOICE("{'role':'assistant','content':''}", "'stop'") OUSAGE(1, 0),
     AMSG("[]", "end_turn") AUSAGE(1, 0, 0, 0)},
    {"whitespace-only text dropped next to tool calls",
     CHOICE("{'role':'assistant','content':'\\n\\n ','tool_calls':[" TC("c", "f", "'{}'") "]}",
            "'tool_calls'") OUSAGE(1, 1),
     AMSG("[{'type':'tool_use','id':'c','name':'f','input':{}}]", "tool_use") AUSAGE(1, 1, 0, 0)},
    /* parts are pieces of one text, as when streamed (Mistral sends them so) */
    {"content as an array of text parts",
     CHOICE("{'role':'assistant','content':[{'type':'text','text':'a'},{'type':'text','text':'b'}]}",
            "'stop'") OUSAGE(1, 1),
     AMSG("[{'type':'text','text':'ab'}]", "end_turn") AUSAGE(1, 1, 0, 0)},
    {"arguments empty, blank, null, or an object",
     CHOICE("{'role':'assistant','content':null,'tool_calls':[" TC("c1", "f", "''") "," TC(
                "c2", "f", "' \\n '") "," TC("c3", "f", "null") "," TC("c4", "f", "{'k':'v'}") "]}",
            "'tool_calls'") OUSAGE(1, 1),
     AMSG("[{'type':'tool_use','id':'c1','name':'f','input':{}},{'type':'tool_use','id':'c2','name':'f','"
          "input':{}},"
          "{'type':'tool_use','id':'c3','name':'f','input':{}},{'type':'tool_use','id':'c4','name':'f','"
          "input':{'k':"
          "'v'}}]",
          "tool_use") AUSAGE(1, 1, 0, 0)},
    {"empty id -> toolu_ + random; foreign id characters -> _",
     CHOICE("{'role':'assistant','content':null,'tool_calls':[" TC("", "f", "'{}'") "," TC("functions.Bash:0",
                                                                                           "g", "'{}'") "]}",
            "'tool_calls'") OUSAGE(1, 1),
     AMSG("[{'type':'tool_use','id':'toolu_GEN','name':'f','input':{}},{'type':'tool_use','id':'functions_"
          "Bash_0',"
          "'name':'g','input':{}}]",
          "tool_use") AUSAGE(1, 1, 0, 0)},
    {"usage: cached and cache_write tokens taken out of input_tokens",
     CHOICE("{'role':'assistant','content':'x'}",
            "'stop'") ",'usage':{'prompt_tokens':100,'completion_tokens':7,"
                      "'total_tokens':107,'prompt_tokens_details':{"
                      "'cached_tokens':30,'cache_write_tokens':20}}}",
     AMSG("[{'type':'text','text':'x'}]", "end_turn") AUSAGE(50, 7, 20, 30)},
    {"usage: DeepSeek prompt_cache_hit_tokens",
     CHOICE("{'role':'assistant','content':'x'}",
            "'stop'") ",'usage':{'prompt_tokens':100,'completion_tokens':7,"
                      "'prompt_cache_hit_tokens':60,"
                      "'prompt_cache_miss_tokens':40}}",
     AMSG("[{'type':'text','text':'x'}]", "end_turn") AUSAGE(40, 7, 0, 60)},
    {"usage: negative input clamped to 0, reals accepted",
     CHOICE("{'role':'assistant','content':'x'}",
            "'stop'") ",'usage':{'prompt_tokens':10.0,'completion_tokens':2,"
                      "'prompt_tokens_details':{'cached_tokens':30}}}",
     AMSG("[{'type':'text','text':'x'}]", "end_turn") AUSAGE(0, 2, 0, 30)},
    {"usage missing -> zeros", CHOICE("{'role':'assistant','content':'x'}", "null") "}",
     AMSG("[{'type':'text','text':'x'}]", "end_turn") AUSAGE(0, 0, 0, 0)},
};

static void test_response_table(void **s)
{
    cp_oai_opts_t o = opts(GEN, 0, 0, 0);
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]); i++) {
        json_t *in = unit_jq(resp_cases[i].oai), *want = unit_jq(resp_cases[i].want), *got;
        cp_err_t e = {0};

        got = cp_oai_response(in, "claude-x", NULL, &o, &e);
        if (got == NULL) {
            fprintf(stderr, "%s: failed: %d %s\n", resp_cases[i].name, e.http_status, e.msg);
            bad++;
        } else if (!norm_ids(got)) {
            fprintf(stderr, "%s: bad message id\n", resp_cases[i].name);
            bad++;
        } else {
            bad += !unit_same_json(resp_cases[i].name, got, want);
        }
        json_decref(in);
        json_decref(want);
        json_decref(got);
    }
    assert_int_equal(bad, 0);
}

static void test_response_errors(void **s)
{
    static const struct {
        const char *oai;
        int status;
        const char *type, *want;
    } cases[] = {
        {"{'error':{'message':'Rate limited','code':429}}", 429, "rate_limit_error", "p: Rate limited"},
        {"{'error':{'message':'The server had an error','type':'server_error'}}", 500, "api_error",
         "p: The server had an error"},
        {"{'choices':[{'index':0,'message':{'role':'assistant','content':''},'finish_reason':'error','error':"
         "{'code':"
         "502,'message':'Provider returned error','metadata':{'raw':'high "
         "demand','provider_name':'Google'}}}]}",
         529, "overloaded_error", "p: Provider returned error (Google: high demand)"},
        {"{'choices':[{'index':0,'message':{'role':'assistant','content':'x'},'finish_reason':'error'}]}",
         500, "api_error", "finish_reason"},
        {"{'choices':[{'index':0,'error':{'message':'quota','code':'insufficient_quota'}}]}", 429,
         "rate_limit_error", "quota exhausted"},
        {"{'id':'x','object':'list','data':[]}", 502, "api_error",
         "provider p returned an unexpected response"},
        {"{'choices':[]}", 502, "api_error", "provider p returned an unexpected response"},
        {"[1,2]", 502, "api_error", "provider p returned an unexpected response"},
        {"'OK'", 502, "api_error", "provider p returned an unexpected response"},
        {"{'choices':[{'index':0,'finish_reason':'stop'}]}", 502, "api_error", "unexpected response"},
        {"{'choices':[{'index':0,'message':{'role':'assistant','content':null},'finish_reason':"
         "'insufficient_system_resource'}]}",
         529, "overloaded_error", "insufficient system resources"},
        {CHOICE("{'role':'assistant','content':null,'tool_calls':[" TC("c", "Edit", "'{\\'a\\':'") "]}",
                "'tool_calls'") "}",
         502, "api_error", "provider p returned arguments for tool \"Edit\" that are not valid JSON"},
        {CHOICE("{'role':'assistant','content':null,'tool_calls':[" TC("c", "Edit", "'[1]'") "]}",
                "'tool_calls'") "}",
         502, "api_error", "tool \"Edit\" that are not a JSON object"},
        {CHOICE("{'role':'assistant','content':null,'tool_calls':[" TC("c", "Edit", "'42'") "]}",
                "'tool_calls'") "}",
         502, "api_error", "tool \"Edit\""},
        {CHOICE("{'role':'assistant','content':null,'tool_calls':[" TC("c", "Edit", "'\\'str\\''") "]}",
                "'tool_calls'") "}",
         502, "api_error", "not a JSON object"},
        {CHOICE("{'role':'assistant','content':null,'tool_calls':[" TC("c", "Edit", "'{} x'") "]}",
                "'tool_calls'") "}",
         502, "api_error", "not valid JSON"},
        {CHOICE("{'role':'assistant','content':null,'tool_calls':[" TC("c", "Edit", "7") "]}",
                "'tool_calls'") "}",
         502, "api_error", "not a JSON object"},
        {CHOICE("{'role':'assistant','content':null,'tool_calls':[{'id':'c','type':'function','function':{"
                "'arguments':'{}'}}]}",
                "'tool_calls'") "}",
         502, "api_error", "without a function name"},
    };
    cp_oai_opts_t o = opts(ORT, 0, 0, 0);
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *in = unit_jq(cases[i].oai), *got;
        cp_err_t e = {0};

        got = cp_oai_response(in, "claude-x", NULL, &o, &e);
        if (got != NULL || e.http_status != cases[i].status || e.type == NULL ||
            strcmp(e.type, cases[i].type) != 0 || strstr(e.msg, cases[i].want) == NULL) {
            fprintf(stderr, "response error case %zu: got %p %d %s \"%s\", want %d %s \"%s\"\n", i,
                    (void *)got, e.http_status, e.type ? e.type : "-", e.msg, cases[i].status, cases[i].type,
                    cases[i].want);
            bad++;
        }
        json_decref(got);
        json_decref(in);
    }
    assert_int_equal(bad, 0);
}

static void test_response_ids(void **s)
{
    json_t *in = unit_jq(CHOICE("{'role':'assistant','content':null,'tool_calls':[" TC("", "f", "'{}'") "]}",
                                "'tool_calls'") "}");
    cp_oai_opts_t o = opts(GEN, 0, 0, 0);
    cp_err_t e = {0};
    json_t *a = cp_oai_response(in, "claude-x", NULL, &o, &e);
    json_t *b = cp_oai_response(in, "claude-x", NULL, &o, &e);
    const char *ta, *tb;

    (void)s;
    assert_non_null(a);
    assert_non_null(b);
    assert_string_not_equal(json_string_value(json_object_get(a, "id")),
                            json_string_value(json_object_get(b, "id")));
    ta = json_string_value(json_object_get(json_array_get(json_object_get(a, "content"), 0), "id"));
    tb = json_string_value(json_object_get(json_array_get(json_object_get(b, "content"), 0), "id"));
    assert_string_not_equal(ta, tb);
    assert_true(norm_ids(a));
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(a, "content"), 0), "id")),
        "toolu_GEN");
    json_decref(a);
    json_decref(b);
    json_decref(in);
}

static void test_response_golden(void **s)
{
    static const char *const names[] = {
        "gpt41-tools", "openrouter-reasoning", "deepseek-reasoner", "gemini-tools",
        "vllm-stop",   "together-r1",          "minimax-think",     "magistral"};
    cp_oai_opts_t o = opts(GEN, 0, 0, 0);
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char in[128], out[128];
        cp_err_t e = {0};
        json_t *src, *want, *got, *raw;
        size_t n;
        char *bytes;

        snprintf(in, sizeof(in), "resp-%s.openai.json", names[i]);
        snprintf(out, sizeof(out), "resp-%s.anthropic.json", names[i]);
        src = fixture(in);
        want = fixture(out);
        got = cp_oai_response(src, "claude-sonnet-5", NULL, &o, &e); /* from a parsed body */
        if (got == NULL) {
            fprintf(stderr, "%s: %s\n", in, e.msg);
            bad++;
        } else if (!norm_ids(got) || !unit_same_json(out, got, want)) {
            bad++;
        }
        bytes = fixture_bytes(in, &n); /* from the bytes, as the adapter sees them */
        raw = whole_bytes(bytes, n, &o, &e);
        if (raw == NULL) {
            fprintf(stderr, "%s (bytes): %s\n", in, e.msg);
            bad++;
        } else if (!norm_ids(raw) || !unit_same_json(out, raw, want)) {
            bad++;
        }
        free(bytes);
        json_decref(src);
        json_decref(want);
        json_decref(got);
        json_decref(raw);
    }
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_table),
        cmocka_unit_test(test_response_errors),
        cmocka_unit_test(test_response_ids),
        cmocka_unit_test(test_response_golden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
