/* Unit tests for lib/cp_oai.c: Anthropic Messages <-> OpenAI Chat Completions (protocol.md D, E, F).
 *
 * Most tests are tables. JSON in the tables is written with ' for " (see jq()); a literal apostrophe
 * is \u0027. Golden pairs live in tests/fixtures/oai/, found relative to this file's path:
 *   req-NAME.anthropic.json -> req-NAME.FLAVOR.json        (cp_oai_request)
 *   resp-NAME.openai.json   -> resp-NAME.anthropic.json    (cp_oai_response; random ids normalized)
 *   schema-NAME.input.json  -> schema-NAME.gemini.json     (cp_oai_gemini_schema)
 * Every request the tables produce is also checked against an allow-list of Chat Completions fields
 * and the tool-message ordering rule (check_body). */
#include "cp_unit.h"

#include <ctype.h>

#include "cp_oai.h"

/* ---- helpers ----------------------------------------------------------------------------------- */

/* Returns new: <s> parsed as JSON after turning every ' into ". Fails the test on a syntax error. */
static json_t *jq(const char *s)
{
    char *t = strdup(s);
    json_error_t err;
    json_t *j;

    for (char *p = t; *p != '\0'; p++)
        if (*p == '\'')
            *p = '"';
    j = json_loads(t, JSON_DECODE_ANY, &err);
    if (j == NULL)
        fail_msg("bad test JSON (%s at %d): %s", err.text, err.position, t);
    free(t);
    return j;
}

static char *dump(const json_t *j)
{
    return j != NULL ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : strdup("(null)");
}

/* Returns 1 when equal; otherwise prints both sides under <what> and returns 0. */
static int same_json(const char *what, const json_t *got, const json_t *want)
{
    char *g, *w;

    if (got != NULL && json_equal(got, want))
        return 1;
    g = dump(got);
    w = dump(want);
    fprintf(stderr, "%s:\n  got:  %s\n  want: %s\n", what, g, w);
    free(g);
    free(w);
    return 0;
}

static cp_oai_opts_t opts(enum cp_oai_flavor f, unsigned rm, unsigned mc, unsigned re)
{
    cp_oai_opts_t o = {0};

    o.provider = "p";
    o.flavor = f;
    o.reasoning_model = rm;
    o.max_completion = mc;
    o.reasoning_effort = re;
    return o;
}

static int has_key(const json_t *j, const char *key)
{
    const char *k;
    json_t *v;
    size_t i;

    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, v)
        {
            if (strcmp(k, key) == 0 || has_key(v, key))
                return 1;
        }
    }
    json_array_foreach(j, i, v)
    {
        if (has_key(v, key))
            return 1;
    }
    return 0;
}

/* Returns 1 when the JSON Schema <sc> uses keyword <kw> anywhere (property names are not keywords). */
static int schema_has_kw(const json_t *sc, const char *kw)
{
    const char *k;
    json_t *v;
    size_t i;

    if (!json_is_object(sc))
        return 0;
    if (json_object_get(sc, kw) != NULL)
        return 1;
    json_object_foreach(json_object_get(sc, "properties"), k, v)
    {
        if (schema_has_kw(v, kw))
            return 1;
    }
    json_array_foreach(json_object_get(sc, "anyOf"), i, v)
    {
        if (schema_has_kw(v, kw))
            return 1;
    }
    return schema_has_kw(json_object_get(sc, "items"), kw);
}

static int keys_in(const json_t *o, const char *const *allowed, const char *where)
{
    const char *k;
    json_t *v;
    int bad = 0;

    json_object_foreach((json_t *)o, k, v)
    {
        size_t i;
        for (i = 0; allowed[i] != NULL && strcmp(allowed[i], k) != 0; i++)
            ;
        if (allowed[i] == NULL) {
            fprintf(stderr, "%s: unexpected key \"%s\"\n", where, k);
            bad++;
        }
    }
    return bad;
}

static int name_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

/* Checks that <b> is a valid Chat Completions request for flavor <f>: only known keys at every
 * level, roles and contents well formed, tool messages right after their assistant's tool_calls
 * (and answering them in order), no tool_choice/parallel_tool_calls without tools. Returns the
 * number of problems (each printed). */
static int check_body(const json_t *b, enum cp_oai_flavor f)
{
    static const char *const top[] = {"model",
                                      "messages",
                                      "max_tokens",
                                      "max_completion_tokens",
                                      "temperature",
                                      "top_p",
                                      "stop",
                                      "stream",
                                      "stream_options",
                                      "tools",
                                      "tool_choice",
                                      "parallel_tool_calls",
                                      "reasoning_effort",
                                      "reasoning",
                                      "response_format",
                                      "user",
                                      NULL};
    static const char *const sys_keys[] = {"role", "content", NULL};
    static const char *const tool_keys[] = {"role", "tool_call_id", "content", NULL};
    static const char *const tool_keys_gem[] = {"role", "tool_call_id", "content", "name", NULL};
    static const char *const asst_generic[] = {"role", "content", "tool_calls", "reasoning_content", NULL};
    static const char *const asst_or[] = {"role", "content", "tool_calls", "reasoning_details", NULL};
    static const char *const asst_plain[] = {"role", "content", "tool_calls", NULL};
    static const char *const call_keys[] = {"id", "type", "function", NULL};
    static const char *const fn_keys[] = {"name", "arguments", NULL};
    static const char *const tdef_keys[] = {"type", "function", NULL};
    static const char *const fdef_keys[] = {"name", "description", "parameters", "strict", NULL};
    static const char *const part_text[] = {"type", "text", NULL};
    static const char *const part_img[] = {"type", "image_url", NULL};
    static const char *const part_file[] = {"type", "file", NULL};
    const json_t *msgs = json_object_get(b, "messages");
    const json_t *tools = json_object_get(b, "tools");
    size_t i, j;
    json_t *m, *x;
    int bad = keys_in(b, top, "body");

    if (!json_is_string(json_object_get(b, "model")) || json_array_size(msgs) == 0) {
        fprintf(stderr, "body: model or messages missing\n");
        bad++;
    }
    if (json_object_get(b, "reasoning") != NULL && f != CP_OAI_OPENROUTER) {
        fprintf(stderr, "body: reasoning object toward a non-OpenRouter provider\n");
        bad++;
    }
    if (json_object_get(b, "reasoning_effort") != NULL && f == CP_OAI_OPENROUTER) {
        fprintf(stderr, "body: reasoning_effort toward OpenRouter\n");
        bad++;
    }
    if (tools == NULL &&
        (json_object_get(b, "tool_choice") != NULL || json_object_get(b, "parallel_tool_calls"))) {
        fprintf(stderr, "body: tool_choice/parallel_tool_calls without tools\n");
        bad++;
    }
    if (tools != NULL && json_array_size(tools) == 0) {
        fprintf(stderr, "body: empty tools array\n");
        bad++;
    }
    if (json_object_get(b, "stream_options") != NULL && !json_is_true(json_object_get(b, "stream"))) {
        fprintf(stderr, "body: stream_options without stream\n");
        bad++;
    }
    json_array_foreach(tools, i, x)
    {
        bad += keys_in(x, tdef_keys, "tools[]");
        bad += keys_in(json_object_get(x, "function"), fdef_keys, "tools[].function");
        if (!name_ok(json_string_value(json_object_get(json_object_get(x, "function"), "name")))) {
            fprintf(stderr, "tools[%zu]: bad function name\n", i);
            bad++;
        }
    }
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *c = json_object_get(m, "content");
        const json_t *calls = json_object_get(m, "tool_calls");

        if (role == NULL) {
            fprintf(stderr, "messages[%zu]: no role\n", i);
            bad++;
        } else if (strcmp(role, "system") == 0) {
            bad += keys_in(m, sys_keys, "system message");
            if (!json_is_string(c) || json_string_length(c) == 0) {
                fprintf(stderr, "messages[%zu]: empty system content\n", i);
                bad++;
            }
        } else if (strcmp(role, "user") == 0) {
            bad += keys_in(m, sys_keys, "user message");
            if (json_is_string(c) ? json_string_length(c) == 0 : json_array_size(c) == 0) {
                fprintf(stderr, "messages[%zu]: empty user content\n", i);
                bad++;
            }
            json_array_foreach(c, j, x)
            {
                const char *t = json_string_value(json_object_get(x, "type"));
                bad += keys_in(x,
                               t && strcmp(t, "text") == 0        ? part_text
                               : t && strcmp(t, "image_url") == 0 ? part_img
                                                                  : part_file,
                               "user part");
                if (t && strcmp(t, "text") == 0 && json_string_length(json_object_get(x, "text")) == 0) {
                    fprintf(stderr, "messages[%zu]: empty text part\n", i);
                    bad++;
                }
            }
        } else if (strcmp(role, "assistant") == 0) {
            bad += keys_in(m,
                           f == CP_OAI_GENERIC      ? asst_generic
                           : f == CP_OAI_OPENROUTER ? asst_or
                                                    : asst_plain,
                           "assistant message");
            if (json_is_null(c) ? json_array_size(calls) == 0
                                : !json_is_string(c) || json_string_length(c) == 0) {
                fprintf(stderr, "messages[%zu]: assistant without content or calls\n", i);
                bad++;
            }
            if (calls != NULL && json_array_size(calls) == 0) {
                fprintf(stderr, "messages[%zu]: empty tool_calls\n", i);
                bad++;
            }
            json_array_foreach(calls, j, x)
            {
                const json_t *tm = json_array_get(msgs, i + 1 + j);
                json_t *args;

                bad += keys_in(x, call_keys, "tool_call");
                bad += keys_in(json_object_get(x, "function"), fn_keys, "tool_call.function");
                args = json_loads(
                    json_string_value(json_object_get(json_object_get(x, "function"), "arguments")), 0, NULL);
                if (!json_is_object(args)) {
                    fprintf(stderr, "messages[%zu]: arguments not a JSON object text\n", i);
                    bad++;
                }
                json_decref(args);
                if (i + 1 == json_array_size(msgs))
                    continue; /* a trailing assistant turn waits for its results */
                if (!json_is_string(json_object_get(x, "id")) ||
                    !json_equal(json_object_get(tm, "tool_call_id"), json_object_get(x, "id")) ||
                    strcmp(json_string_value(json_object_get(tm, "role")), "tool") != 0) {
                    fprintf(stderr, "messages[%zu]: tool_call %zu not answered right after\n", i, j);
                    bad++;
                }
            }
        } else if (strcmp(role, "tool") == 0) {
            const json_t *prev = json_array_get(msgs, i - 1);
            const char *pr = i > 0 ? json_string_value(json_object_get(prev, "role")) : "";

            bad += keys_in(m, f == CP_OAI_GEMINI ? tool_keys_gem : tool_keys, "tool message");
            if (!json_is_string(c)) {
                fprintf(stderr, "messages[%zu]: tool content not a string\n", i);
                bad++;
            }
            if (strcmp(pr, "tool") != 0 &&
                (strcmp(pr, "assistant") != 0 || json_object_get(prev, "tool_calls") == NULL)) {
                fprintf(stderr, "messages[%zu]: tool message not after an assistant tool_calls turn\n", i);
                bad++;
            }
        } else {
            fprintf(stderr, "messages[%zu]: unknown role %s\n", i, role);
            bad++;
        }
    }
    if (has_key(b, "cache_control")) {
        fprintf(stderr, "body: cache_control left in\n");
        bad++;
    }
    return bad;
}

/* ---- cp_oai_opts_for --------------------------------------------------------------------------- */

static void test_opts_for(void **s)
{
    static const struct {
        const char *name, *url, *model, *globs;
        int maxtok, reff;
        enum cp_oai_flavor flavor;
        unsigned rm, mc, re;
    } cases[] = {
        {"openai", "https://api.openai.com/v1", "gpt-4.1", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENAI, 0, 1, 0},
        {"openai", "https://api.openai.com/v1", "gpt-5-mini", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENAI, 1, 1,
         1},
        {"work", "https://API.OpenAI.com", "o3", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENAI, 1, 1, 1},
        {"x", "https://user@api.openai.com:443/v1", "o4-mini", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENAI, 1, 1,
         1},
        {"x", "https://api.openai.com.evil.example/v1", "gpt-4o", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_GENERIC, 0,
         0, 0},
        {"openrouter", "https://proxy.local/v1", "openai/o3", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENROUTER, 1,
         1, 1},
        {"OpenRouter", "https://x", "anthropic/claude-sonnet-4", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENROUTER,
         0, 0, 1},
        {"or", "https://openrouter.ai/api/v1", "qwen/qwen3-coder", NULL, CP_MAXTOK_AUTO, -1,
         CP_OAI_OPENROUTER, 0, 0, 1},
        {"or", "https://eu.openrouter.ai/api/v1", "m", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENROUTER, 0, 0, 1},
        {"or", "https://notopenrouter.ai/api/v1", "m", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_GENERIC, 0, 0, 0},
        {"gemini", "https://example.com", "gemini-2.5-pro", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_GEMINI, 0, 0, 1},
        {"google", "https://generativelanguage.googleapis.com/v1beta/openai", "gemini-2.5-flash", NULL,
         CP_MAXTOK_AUTO, -1, CP_OAI_GEMINI, 0, 0, 1},
        {"gemini", "https://generativelanguage.googleapis.com/v1beta/openai", "gemini-3-pro", NULL,
         CP_MAXTOK_AUTO, 0, CP_OAI_GEMINI, 0, 0, 0},
        {"deepseek", "https://api.deepseek.com", "deepseek-chat", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_GENERIC, 0,
         0, 0},
        {"deepseek", "https://api.deepseek.com", "deepseek-reasoner", "[\"deepseek-r*\",\"*-reasoner\"]",
         CP_MAXTOK_AUTO, -1, CP_OAI_GENERIC, 1, 1, 1},
        {"vllm", "http://127.0.0.1:8000/v1", "Qwen/QwQ-32B", "[\"qwq*\"]", CP_MAXTOK_AUTO, -1, CP_OAI_GENERIC,
         1, 1, 1},
        {"vllm", "http://127.0.0.1:8000/v1", "org/model", "[\"org/*\"]", CP_MAXTOK_AUTO, -1, CP_OAI_GENERIC,
         1, 1, 1},
        {"openai", "https://api.openai.com/v1", "gpt-4.1", NULL, CP_MAXTOK_MAX_TOKENS, -1, CP_OAI_OPENAI, 0,
         0, 0},
        {"openai", "https://api.openai.com/v1", "o3", NULL, CP_MAXTOK_MAX_TOKENS, 0, CP_OAI_OPENAI, 1, 0, 0},
        {"ollama", "http://localhost:11434/v1", "llama3", NULL, CP_MAXTOK_MAX_COMPLETION_TOKENS, 1,
         CP_OAI_GENERIC, 0, 1, 1},
        {"ollama", "http://localhost:11434/v1", "llama3", "[]", CP_MAXTOK_AUTO, -1, CP_OAI_GENERIC, 0, 0, 0},
    };
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cp_provider_t p = {0};
        cp_oai_opts_t o;

        p.name = (char *)cases[i].name;
        p.base_url = (char *)cases[i].url;
        p.reasoning_models = cases[i].globs != NULL
                                 ? json_loads(cases[i].globs, 0, NULL)
                                 : json_pack("[s,s,s,s]", "o1*", "o3*", "o4*", "gpt-5*"); /* the default */
        p.max_tokens_field = cases[i].maxtok;
        p.reasoning_effort = cases[i].reff;
        cp_oai_opts_for(&p, cases[i].model, &o);
        if (o.flavor != cases[i].flavor || o.reasoning_model != cases[i].rm ||
            o.max_completion != cases[i].mc || o.reasoning_effort != cases[i].re || o.provider != p.name) {
            fprintf(stderr, "opts_for %s %s %s: got flavor=%d rm=%u mc=%u re=%u, want %d %u %u %u\n",
                    cases[i].name, cases[i].url, cases[i].model, o.flavor, o.reasoning_model,
                    o.max_completion, o.reasoning_effort, cases[i].flavor, cases[i].rm, cases[i].mc,
                    cases[i].re);
            bad++;
        }
        json_decref(p.reasoning_models);
    }
    assert_int_equal(bad, 0);
}

/* ---- cp_oai_request: table ---------------------------------------------------------------------- */

#define GEN CP_OAI_GENERIC
#define OAI CP_OAI_OPENAI
#define GEM CP_OAI_GEMINI
#define ORT CP_OAI_OPENROUTER

#define U_HI "'messages':[{'role':'user','content':'hi'}]"
#define W_HI "'model':'up','messages':[{'role':'user','content':'hi'}]"
#define TOOL_GET                                                                                             \
    "{'name':'get','description':'Get "                                                                      \
    "it','input_schema':{'type':'object','properties':{'id':{'type':'string'}},"                             \
    "'required':['id']}}"
#define FN_GET                                                                                               \
    "{'type':'function','function':{'name':'get','description':'Get it','parameters':{'type':'object',"      \
    "'properties':{'id':{'type':'string'}},'required':['id']}}}"
#define THINK(budget) "'thinking':{'type':'enabled','budget_tokens':" #budget "}"

struct req_case {
    const char *name;
    enum cp_oai_flavor flavor;
    unsigned rm, mc, re;
    const char *anth; /* without "model" (the runner adds it) */
    const char *want; /* the whole upstream body */
};

static const struct req_case req_cases[] = {
    /* system prompts */
    {"system string -> first system message", GEN, 0, 0, 0, "{'system':'be brief'," U_HI "}",
     "{'model':'up','messages':[{'role':'system','content':'be brief'},{'role':'user','content':'hi'}]}"},
    {"system blocks joined, cache_control dropped, empty blocks skipped", GEN, 0, 0, 0,
     "{'system':[{'type':'text','text':'a','cache_control':{'type':'ephemeral'}},{'type':'text','text':''},"
     "{'type':'text','text':'b'}]," U_HI "}",
     "{'model':'up','messages':[{'role':'system','content':'a\\n\\nb'},{'role':'user','content':'hi'}]}"},
    {"empty system string -> no system message", GEN, 0, 0, 0, "{'system':''," U_HI "}", "{" W_HI "}"},
    {"empty system array -> no system message", GEN, 0, 0, 0, "{'system':[]," U_HI "}", "{" W_HI "}"},
    {"role:system inside messages stays at its position", GEN, 0, 0, 0,
     "{'messages':[{'role':'user','content':'q1'},{'role':'system','content':'agents: x'},"
     "{'role':'assistant','content':'a1'},{'role':'system','content':[{'type':'text','text':'s2',"
     "'cache_control':{'type':'ephemeral'}}]},{'role':'user','content':'q2'}]}",
     "{'model':'up','messages':[{'role':'user','content':'q1'},{'role':'system','content':'agents: x'},"
     "{'role':'assistant','content':'a1'},{'role':'system','content':'s2'},{'role':'user','content':'q2'}]}"},

    /* user content */
    {"user text blocks -> one string", GEN, 0, 0, 0,
     "{'messages':[{'role':'user','content':[{'type':'text','text':'<r>'},{'type':'text','text':'say hi',"
     "'cache_control':{'type':'ephemeral'}}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'<r>\\n\\nsay hi'}]}"},
    {"images: base64 -> data URL, url -> url", OAI, 0, 0, 0,
     "{'messages':[{'role':'user','content':[{'type':'text','text':'what?'},{'type':'image','source':{'type':"
     "'base64','media_type':'image/"
     "png','data':'iVBOR'},'cache_control':{'type':'ephemeral'}},{'type':'image',"
     "'source':{'type':'url','url':'https://x/y.jpg'}}]}]}",
     "{'model':'up','messages':[{'role':'user','content':[{'type':'text','text':'what?'},{'type':'image_url',"
     "'image_url':{'url':'data:image/png;base64,iVBOR'}},{'type':'image_url','image_url':{'url':'https://x/"
     "y.jpg'}"
     "}]}]}"},
    {"document text source -> text part, title and context first", GEN, 0, 0, 0,
     "{'messages':[{'role':'user','content':[{'type':'document','source':{'type':'text','media_type':"
     "'text/plain','data':'body'},'title':'T','context':'C','citations':{'enabled':true}},{'type':'text',"
     "'text':'summarize'}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'T\\n\\nC\\n\\nbody\\n\\nsummarize'}]}"},
    {"document content source -> its parts", GEM, 0, 0, 0,
     "{'messages':[{'role':'user','content':[{'type':'document','title':'D','source':{'type':'content',"
     "'content':[{'type':'text','text':'p1'},{'type':'image','source':{'type':'url','url':'https://"
     "i'}}]}}]}]}",
     "{'model':'up','messages':[{'role':'user','content':[{'type':'text','text':'D'},{'type':'text','text':'"
     "p1'},"
     "{'type':'image_url','image_url':{'url':'https://i'}}]}]}"},
    {"document content source as a string", GEN, 0, 0, 0,
     "{'messages':[{'role':'user','content':[{'type':'document','source':{'type':'content','content':'plain'}"
     "}]}]"
     "}",
     "{'model':'up','messages':[{'role':'user','content':'plain'}]}"},
    {"PDF toward OpenAI -> file part with a data URL", OAI, 0, 0, 0,
     "{'messages':[{'role':'user','content':[{'type':'document','title':'report','source':{'type':'base64',"
     "'media_type':'application/pdf','data':'JVBER'}},{'type':'document','title':'x.PDF','source':{'type':"
     "'base64','media_type':'application/pdf','data':'JVBE2'}},{'type':'document','source':{'type':'base64',"
     "'media_type':'application/pdf','data':'JVBE3'}},{'type':'text','text':'compare'}]}]}",
     "{'model':'up','messages':[{'role':'user','content':[{'type':'file','file':{'filename':'report.pdf',"
     "'file_data':'data:application/"
     "pdf;base64,JVBER'}},{'type':'file','file':{'filename':'x.PDF','file_data':"
     "'data:application/pdf;base64,JVBE2'}},{'type':'file','file':{'filename':'document.pdf','file_data':"
     "'data:application/pdf;base64,JVBE3'}},{'type':'text','text':'compare'}]}]}"},
    {"search_result -> text", GEN, 0, 0, 0,
     "{'messages':[{'role':'user','content':[{'type':'search_result','source':'https://s','title':'S',"
     "'content':[{'type':'text','text':'c1'}]}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'S\\n\\nhttps://s\\n\\nc1'}]}"},
    {"empty user turns are skipped, not sent empty", GEN, 0, 0, 0,
     "{'messages':[{'role':'user','content':''},{'role':'user','content':[]},{'role':'user','content':[{'"
     "type':"
     "'text','text':''}]},{'role':'user','content':'real'}]}",
     "{'model':'up','messages':[{'role':'user','content':'real'}]}"},

    /* tools */
    {"custom tool kept; cache_control, defer_loading, input_examples, eager_input_streaming dropped", GEN, 0,
     0, 0,
     "{" U_HI
     ",'tools':[{'type':'custom','name':'get','description':'Get it','input_schema':{'type':'object',"
     "'properties':{'id':{'type':'string'}},'required':['id']},'strict':true,'cache_control':{'type':"
     "'ephemeral'},'defer_loading':true,'input_examples':[{'id':'1'}],'eager_input_streaming':true},{'name':"
     "'noargs','description':'','input_schema':{'type':'object'}},{'name':'raw'}]}",
     "{" W_HI
     ",'tools':[{'type':'function','function':{'name':'get','description':'Get it','parameters':{'type':"
     "'object','properties':{'id':{'type':'string'}},'required':['id']},'strict':true}},{'type':'function',"
     "'function':{'name':'noargs','parameters':{'type':'object'}}},{'type':'function','function':{'name':'"
     "raw'}}"
     "]}"},
    {"non-Gemini parameters are passed untouched (2020-12 keywords included)", OAI, 0, 0, 0,
     "{" U_HI
     ",'tools':[{'name':'f','input_schema':{'$schema':'https://json-schema.org/draft/2020-12/schema',"
     "'type':'object','properties':{'u':{'type':'string','format':'uri'}},'additionalProperties':false}}]}",
     "{" W_HI ",'tools':[{'type':'function','function':{'name':'f','parameters':{'$schema':"
     "'https://json-schema.org/draft/2020-12/schema','type':'object','properties':{'u':{'type':'string',"
     "'format':'uri'}},'additionalProperties':false}}}]}"},
    {"Gemini: parameters cleaned, strict dropped, argument-less tool without parameters", GEM, 0, 0, 0,
     "{" U_HI
     ",'tools':[{'name':'get','strict':true,'input_schema':{'$schema':'x','type':'object','properties':"
     "{'id':{'type':['string','null'],'format':'uri'}},'required':['id','gone'],'additionalProperties':false}"
     "},"
     "{'name':'list','input_schema':{'type':'object','properties':{},'additionalProperties':false}}]}",
     "{" W_HI
     ",'tools':[{'type':'function','function':{'name':'get','parameters':{'type':'object','properties':"
     "{'id':{'type':'string','nullable':true}},'required':['id']}}},{'type':'function','function':{'name':"
     "'list'}}]}"},
    {"invalid tool names shortened the same way in tools, tool_choice and history", GEN, 0, 0, 0,
     "{'messages':[{'role':'user','content':'go'},{'role':'assistant','content':[{'type':'tool_use','id':'t1'"
     ","
     "'name':'my.tool:v1','input':{}}]},{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1',"
     "'content':'ok'}]}],'tools':[{'name':'my.tool:v1'},{'name':'ok-name_1'}],'tool_choice':{'type':'tool',"
     "'name':'my.tool:v1'}}",
     "{'model':'up','messages':[{'role':'user','content':'go'},{'role':'assistant','content':null,'tool_"
     "calls':"
     "[{'id':'t1','type':'function','function':{'name':'my_tool_v1_664a74fc','arguments':'{}'}}]},{'role':"
     "'tool','tool_call_id':'t1','content':'ok'}],'tools':[{'type':'function','function':{'name':"
     "'my_tool_v1_664a74fc'}},{'type':'function','function':{'name':'ok-name_1'}}],'tool_choice':{'type':"
     "'function','function':{'name':'my_tool_v1_664a74fc'}}}"},

    /* tool_choice */
    {"tool_choice auto", GEN, 0, 0, 0, "{" U_HI ",'tools':[" TOOL_GET "],'tool_choice':{'type':'auto'}}",
     "{" W_HI ",'tools':[" FN_GET "],'tool_choice':'auto'}"},
    {"tool_choice any + disable_parallel_tool_use", GEN, 0, 0, 0,
     "{" U_HI ",'tools':[" TOOL_GET "],'tool_choice':{'type':'any','disable_parallel_tool_use':true}}",
     "{" W_HI ",'tools':[" FN_GET "],'tool_choice':'required','parallel_tool_calls':false}"},
    {"tool_choice tool", OAI, 0, 0, 0,
     "{" U_HI ",'tools':[" TOOL_GET "],'tool_choice':{'type':'tool','name':'get'}}",
     "{" W_HI ",'tools':[" FN_GET "],'tool_choice':{'type':'function','function':{'name':'get'}}}"},
    {"tool_choice none", GEN, 0, 0, 0, "{" U_HI ",'tools':[" TOOL_GET "],'tool_choice':{'type':'none'}}",
     "{" W_HI ",'tools':[" FN_GET "],'tool_choice':'none'}"},
    {"auto with disable_parallel_tool_use:false -> default, nothing sent", GEN, 0, 0, 0,
     "{" U_HI ",'tools':[" TOOL_GET "],'tool_choice':{'type':'auto','disable_parallel_tool_use':false}}",
     "{" W_HI ",'tools':[" FN_GET "],'tool_choice':'auto'}"},
    {"no tool_choice / parallel_tool_calls without tools", OAI, 0, 0, 0,
     "{" U_HI ",'tools':[],'tool_choice':{'type':'any','disable_parallel_tool_use':true}}", "{" W_HI "}"},
    {"no tool_choice / parallel_tool_calls when tools absent", GEN, 0, 0, 0,
     "{" U_HI ",'tool_choice':{'type':'auto','disable_parallel_tool_use':true}}", "{" W_HI "}"},
    {"Gemini: no parallel_tool_calls", GEM, 0, 0, 0,
     "{" U_HI ",'tools':[" TOOL_GET "],'tool_choice':{'type':'any','disable_parallel_tool_use':true}}",
     "{" W_HI ",'tools':[" FN_GET "],'tool_choice':'required'}"},

    /* tool use history */
    {"tool_use -> tool_calls (content null, compact arguments), tool_result -> tool message", GEN, 0, 0, 0,
     "{'messages':[{'role':'user','content':'list'},{'role':'assistant','content':[{'type':'tool_use','id':'"
     "t1',"
     "'name':'ls','input':{'dir':'/','n':0.1,'big':9007199254740991},'cache_control':{'type':'ephemeral'}}]},"
     "{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1','content':'a b','is_error':false,"
     "'cache_control':{'type':'ephemeral'}}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'list'},{'role':'assistant','content':null,"
     "'tool_calls':[{'id':'t1','type':'function','function':{'name':'ls','arguments':"
     "'{\\'dir\\':\\'/\\',\\'n\\':0.1,\\'big\\':9007199254740991}'}}]},{'role':'tool','tool_call_id':'t1',"
     "'content':'a b'}]}"},
    {"assistant text joined next to tool_calls; missing input -> {}", GEN, 0, 0, 0,
     "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'text','text':'x'},"
     "{'type':'text','text':''},{'type':'text','text':'y'},{'type':'tool_use','id':'t1','name':'f'}]},{'role'"
     ":"
     "'user','content':[{'type':'tool_result','tool_use_id':'t1','content':'r'}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'q'},{'role':'assistant','content':'x\\n\\ny',"
     "'tool_calls':[{'id':'t1','type':'function','function':{'name':'f','arguments':'{}'}}]},{'role':'tool',"
     "'tool_call_id':'t1','content':'r'}]}"},
    {"tool_result shapes: text blocks, is_error with and without content, no content; text after", GEN, 0, 0,
     0,
     "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'tool_use','id':'t1',"
     "'name':'f','input':{}},{'type':'tool_use','id':'t2','name':'f','input':{}},{'type':'tool_use','id':'t3'"
     ","
     "'name':'f','input':{}},{'type':'tool_use','id':'t4','name':'f','input':{}}]},{'role':'user','content':["
     "{'type':'tool_result','tool_use_id':'t1','content':[{'type':'text','text':'l1'},{'type':'text','text':"
     "'l2'}]},{'type':'tool_result','tool_use_id':'t2','is_error':true,'content':'boom'},{'type':'tool_"
     "result',"
     "'tool_use_id':'t3','is_error':true},{'type':'tool_result','tool_use_id':'t4'},{'type':'text','text':"
     "'next'}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'q'},{'role':'assistant','content':null,'tool_calls'"
     ":["
     "{'id':'t1','type':'function','function':{'name':'f','arguments':'{}'}},{'id':'t2','type':'function',"
     "'function':{'name':'f','arguments':'{}'}},{'id':'t3','type':'function','function':{'name':'f','"
     "arguments':"
     "'{}'}},{'id':'t4','type':'function','function':{'name':'f','arguments':'{}'}}]},{'role':'tool',"
     "'tool_call_id':'t1','content':'l1\\n\\nl2'},{'role':'tool','tool_call_id':'t2','content':'Error: "
     "boom'},"
     "{'role':'tool','tool_call_id':'t3','content':'Error'},{'role':'tool','tool_call_id':'t4','content':''},"
     "{'role':'user','content':'next'}]}"},
    {"images in a tool_result move to a user message after the tool messages", OAI, 0, 0, 0,
     "{'messages':[{'role':'user','content':'shoot'},{'role':'assistant','content':[{'type':'tool_use','id':"
     "'t1','name':'shot','input':{}}]},{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1',"
     "'content':[{'type':'text','text':'saved'},{'type':'image','source':{'type':'base64','media_type':"
     "'image/png','data':'AAA'}}]},{'type':'text','text':'what is it?'}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'shoot'},{'role':'assistant','content':null,"
     "'tool_calls':[{'id':'t1','type':'function','function':{'name':'shot','arguments':'{}'}}]},{'role':'"
     "tool',"
     "'tool_call_id':'t1','content':'saved\\n\\n(1 attachment of this result follows in the next user "
     "message)'},"
     "{'role':'user','content':[{'type':'text','text':'Attachments from the result of tool call "
     "t1:'},{'type':"
     "'image_url','image_url':{'url':'data:image/png;base64,AAA'}},{'type':'text','text':'what is it?'}]}]}"},
    {"image-only tool_result: tool message still says where the images went", GEN, 0, 0, 0,
     "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'tool_use','id':'t1',"
     "'name':'f','input':{}}]},{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1','content':["
     "{'type':'image','source':{'type':'url','url':'https://"
     "a'}},{'type':'image','source':{'type':'url','url':"
     "'https://b'}}]}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'q'},{'role':'assistant','content':null,'tool_calls'"
     ":["
     "{'id':'t1','type':'function','function':{'name':'f','arguments':'{}'}}]},{'role':'tool','tool_call_id':"
     "'t1','content':'(2 attachments of this result follow in the next user "
     "message)'},{'role':'user','content':"
     "[{'type':'text','text':'Attachments from the result of tool call t1:'},{'type':'image_url','image_url':"
     "{'url':'https://a'}},{'type':'image_url','image_url':{'url':'https://b'}}]}]}"},
    {"user text placed before a tool_result still comes after the tool messages", GEN, 0, 0, 0,
     "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'tool_use','id':'t1',"
     "'name':'f','input':{}}]},{'role':'user','content':[{'type':'text','text':'first'},{'type':'tool_result'"
     ","
     "'tool_use_id':'t1','content':'r'}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'q'},{'role':'assistant','content':null,'tool_calls'"
     ":["
     "{'id':'t1','type':'function','function':{'name':'f','arguments':'{}'}}]},{'role':'tool','tool_call_id':"
     "'t1','content':'r'},{'role':'user','content':'first'}]}"},
    {"Gemini: tool messages carry the function name", GEM, 0, 0, 0,
     "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'tool_use','id':'t1',"
     "'name':'get','input':{'id':'1'}}]},{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1',"
     "'content':'r'}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'q'},{'role':'assistant','content':null,'tool_calls'"
     ":["
     "{'id':'t1','type':'function','function':{'name':'get','arguments':'{\\'id\\':\\'1\\'}'}}]},{'role':'"
     "tool',"
     "'tool_call_id':'t1','content':'r','name':'get'}]}"},
    {"assistant string content; prefill stays the last assistant message", GEN, 0, 0, 0,
     "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':'a'},{'role':'user','content':"
     "'json please'},{'role':'assistant','content':[{'type':'text','text':'{'}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'q'},{'role':'assistant','content':'a'},{'role':'"
     "user',"
     "'content':'json please'},{'role':'assistant','content':'{'}]}"},
    {"empty assistant turns are skipped", OAI, 0, 0, 0,
     "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':''},{'role':'assistant','"
     "content':"
     "[{'type':'thinking','thinking':'t','signature':'s'},{'type':'redacted_thinking','data':'d'}]},{'role':"
     "'user','content':'again'}]}",
     "{'model':'up','messages':[{'role':'user','content':'q'},{'role':'user','content':'again'}]}"},

    /* thinking history */
    {"generic: reasoning_content only on tool-call turns (DeepSeek rule); redacted_thinking dropped", GEN, 0,
     0, 0,
     "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'thinking','thinking'"
     ":"
     "'only','signature':''},{'type':'text','text':'plain'}]},{'role':'user','content':'go'},{'role':"
     "'assistant','content':[{'type':'thinking','thinking':'th','signature':'s1'},{'type':'redacted_thinking'"
     ","
     "'data':'xx'},{'type':'thinking','thinking':'th2','signature':'s2'},{'type':'text','text':'a'},{'type':"
     "'tool_use','id':'t1','name':'f','input':{}}]},{'role':'user','content':[{'type':'tool_result',"
     "'tool_use_id':'t1','content':'r'}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'q'},{'role':'assistant','content':'plain'},{'role':"
     "'user','content':'go'},{'role':'assistant','content':'a','tool_calls':[{'id':'t1','type':'function',"
     "'function':{'name':'f','arguments':'{}'}}],'reasoning_content':'th\\n\\nth2'},{'role':'tool',"
     "'tool_call_id':'t1','content':'r'}]}"},
    {"OpenRouter: reasoning_details keep signatures", ORT, 0, 0, 0,
     "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'thinking','thinking'"
     ":"
     "'only','signature':''},{'type':'text','text':'plain'}]},{'role':'user','content':'go'},{'role':"
     "'assistant','content':[{'type':'thinking','thinking':'th','signature':'s1'},{'type':'redacted_thinking'"
     ","
     "'data':'xx'},{'type':'tool_use','id':'t1','name':'f','input':{}}]},{'role':'user','content':[{'type':"
     "'tool_result','tool_use_id':'t1','content':'r'}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'q'},{'role':'assistant','content':'plain',"
     "'reasoning_details':[{'type':'reasoning.text','text':'only'}]},{'role':'user','content':'go'},{'role':"
     "'assistant','content':null,'tool_calls':[{'id':'t1','type':'function','function':{'name':'f','"
     "arguments':"
     "'{}'}}],'reasoning_details':[{'type':'reasoning.text','text':'th','signature':'s1'}]},{'role':'tool',"
     "'tool_call_id':'t1','content':'r'}]}"},
    {"OpenAI: thinking blocks dropped", OAI, 0, 0, 0,
     "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'thinking','thinking'"
     ":"
     "'th','signature':'s1'},{'type':'tool_use','id':'t1','name':'f','input':{}}]},{'role':'user','content':["
     "{"
     "'type':'tool_result','tool_use_id':'t1','content':'r'}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'q'},{'role':'assistant','content':null,'tool_calls'"
     ":["
     "{'id':'t1','type':'function','function':{'name':'f','arguments':'{}'}}]},{'role':'tool','tool_call_id':"
     "'t1','content':'r'}]}"},
    {"Gemini: thinking blocks dropped", GEM, 0, 0, 0,
     "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'thinking','thinking'"
     ":"
     "'th','signature':'s1'},{'type':'text','text':'a'}]},{'role':'user','content':'b'}]}",
     "{'model':'up','messages':[{'role':'user','content':'q'},{'role':'assistant','content':'a'},{'role':'"
     "user',"
     "'content':'b'}]}"},

    /* sampling and limits */
    {"stop: first 4 toward OpenAI, empty strings skipped", OAI, 0, 0, 0,
     "{" U_HI ",'stop_sequences':['a','b','','c','d','e']}", "{" W_HI ",'stop':['a','b','c','d']}"},
    {"stop: all toward generic servers", GEN, 0, 0, 0, "{" U_HI ",'stop_sequences':['a','b','c','d','e']}",
     "{" W_HI ",'stop':['a','b','c','d','e']}"},
    {"stop: first 4 toward Gemini", GEM, 0, 0, 0, "{" U_HI ",'stop_sequences':['a','b','c','d','e']}",
     "{" W_HI ",'stop':['a','b','c','d']}"},
    {"stop: reasoning model via OpenRouter keeps them", ORT, 1, 0, 0, "{" U_HI ",'stop_sequences':['END']}",
     "{" W_HI ",'stop':['END']}"},
    {"stop: empty list -> nothing", OAI, 1, 0, 0, "{" U_HI ",'stop_sequences':[]}", "{" W_HI "}"},
    {"max_tokens -> max_tokens", GEN, 0, 0, 0, "{" U_HI ",'max_tokens':32000}",
     "{" W_HI ",'max_tokens':32000}"},
    {"max_tokens -> max_completion_tokens", OAI, 0, 1, 0, "{" U_HI ",'max_tokens':64000}",
     "{" W_HI ",'max_completion_tokens':64000}"},
    {"max_tokens 0 (cache pre-warm) -> 1", GEN, 0, 0, 0, "{" U_HI ",'max_tokens':0}",
     "{" W_HI ",'max_tokens':1}"},
    {"temperature and top_p copied, top_k dropped", GEN, 0, 0, 0,
     "{" U_HI ",'temperature':0.5,'top_p':0.9,'top_k':5}", "{" W_HI ",'temperature':0.5,'top_p':0.9}"},
    {"reasoning model: non-default temperature/top_p omitted", OAI, 1, 1, 0,
     "{" U_HI ",'temperature':0.5,'top_p':0.9,'top_k':5}", "{" W_HI "}"},
    {"reasoning model: default temperature/top_p (1) kept", OAI, 1, 1, 0,
     "{" U_HI ",'temperature':1,'top_p':1.0}", "{" W_HI ",'temperature':1,'top_p':1.0}"},

    /* metadata.user_id */
    {"user_id up to 64 bytes -> user", OAI, 0, 0, 0, "{" U_HI ",'metadata':{'user_id':'u-1'}}",
     "{" W_HI ",'user':'u-1'}"},
    {"long user_id (Claude Code JSON string) -> hex SHA-256", GEN, 0, 0, 0,
     "{" U_HI
     ",'metadata':{'user_id':'{\\'device_id\\':\\'5f0c8e0a3b1d4e6f8a9b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4"
     "d5e6f7\\',\\'account_uuid\\':\\'\\',\\'session_id\\':\\'7d1e9a52-3c4b-4f6a-9e8d-1a2b3c4d5e6f\\'}'}}",
     "{" W_HI ",'user':'5d6e66e6308b0fc87d03fb967d3e379f33d0eac3f1d48445330a70a0fa42c1e7'}"},
    {"user_id not sent to Gemini", GEM, 0, 0, 0, "{" U_HI ",'metadata':{'user_id':'u-1'}}", "{" W_HI "}"},
    {"user_id null or empty -> nothing", GEN, 0, 0, 0, "{" U_HI ",'metadata':{'user_id':null}}",
     "{" W_HI "}"},

    /* thinking -> reasoning */
    {"budget 1024 -> low", GEN, 1, 0, 1, "{" U_HI "," THINK(1024) "}", "{" W_HI ",'reasoning_effort':'low'}"},
    {"budget 4095 -> low", GEN, 1, 0, 1, "{" U_HI "," THINK(4095) "}", "{" W_HI ",'reasoning_effort':'low'}"},
    {"budget 4096 -> medium", OAI, 1, 0, 1, "{" U_HI "," THINK(4096) "}",
     "{" W_HI ",'reasoning_effort':'medium'}"},
    {"budget 16383 -> medium", GEM, 0, 0, 1, "{" U_HI "," THINK(16383) "}",
     "{" W_HI ",'reasoning_effort':'medium'}"},
    {"budget 16384 -> high", GEN, 0, 0, 1, "{" U_HI "," THINK(16384) "}",
     "{" W_HI ",'reasoning_effort':'high'}"},
    {"budget 31999 -> high", GEN, 0, 0, 1, "{" U_HI "," THINK(31999) "}",
     "{" W_HI ",'reasoning_effort':'high'}"},
    {"reasoning_effort off -> nothing", GEN, 0, 0, 0,
     "{" U_HI "," THINK(31999) ",'output_config':{'effort':'low'}}", "{" W_HI "}"},
    {"OpenRouter: budget -> reasoning.max_tokens", ORT, 0, 0, 1, "{" U_HI "," THINK(2048) "}",
     "{" W_HI ",'reasoning':{'max_tokens':2048}}"},
    {"OpenRouter: display omitted -> exclude", ORT, 0, 0, 1,
     "{" U_HI ",'thinking':{'type':'enabled','budget_tokens':2048,'display':'omitted'}}",
     "{" W_HI ",'reasoning':{'max_tokens':2048,'exclude':true}}"},
    {"adaptive + effort low", OAI, 1, 0, 1,
     "{" U_HI ",'thinking':{'type':'adaptive'},'output_config':{'effort':'low'}}",
     "{" W_HI ",'reasoning_effort':'low'}"},
    {"adaptive + effort medium", OAI, 1, 0, 1,
     "{" U_HI ",'thinking':{'type':'adaptive'},'output_config':{'effort':'medium'}}",
     "{" W_HI ",'reasoning_effort':'medium'}"},
    {"adaptive + effort high", GEM, 0, 0, 1,
     "{" U_HI ",'thinking':{'type':'adaptive'},'output_config':{'effort':'high'}}",
     "{" W_HI ",'reasoning_effort':'high'}"},
    {"OpenAI: xhigh clipped to high", OAI, 1, 0, 1,
     "{" U_HI ",'thinking':{'type':'adaptive'},'output_config':{'effort':'xhigh'}}",
     "{" W_HI ",'reasoning_effort':'high'}"},
    {"Gemini: max clipped to high", GEM, 0, 0, 1,
     "{" U_HI ",'thinking':{'type':'adaptive'},'output_config':{'effort':'max'}}",
     "{" W_HI ",'reasoning_effort':'high'}"},
    {"generic: xhigh clipped to high", GEN, 1, 0, 1,
     "{" U_HI ",'thinking':{'type':'adaptive'},'output_config':{'effort':'xhigh'}}",
     "{" W_HI ",'reasoning_effort':'high'}"},
    {"OpenRouter: xhigh kept", ORT, 0, 0, 1,
     "{" U_HI ",'thinking':{'type':'adaptive'},'output_config':{'effort':'xhigh'}}",
     "{" W_HI ",'reasoning':{'effort':'xhigh'}}"},
    {"OpenRouter: max -> xhigh, display omitted -> exclude", ORT, 0, 0, 1,
     "{" U_HI ",'thinking':{'type':'adaptive','display':'omitted'},'output_config':{'effort':'max'}}",
     "{" W_HI ",'reasoning':{'effort':'xhigh','exclude':true}}"},
    {"unknown effort -> nothing", OAI, 1, 0, 1,
     "{" U_HI ",'thinking':{'type':'adaptive'},'output_config':{'effort':'ultra'}}", "{" W_HI "}"},
    {"adaptive without effort: nothing toward OpenAI", OAI, 1, 0, 1,
     "{" U_HI ",'thinking':{'type':'adaptive'}}", "{" W_HI "}"},
    {"adaptive without effort: OpenRouter enables reasoning", ORT, 0, 0, 1,
     "{" U_HI ",'thinking':{'type':'adaptive'}}", "{" W_HI ",'reasoning':{'enabled':true}}"},
    {"effort without thinking is mapped too", OAI, 1, 0, 1, "{" U_HI ",'output_config':{'effort':'medium'}}",
     "{" W_HI ",'reasoning_effort':'medium'}"},
    {"disabled -> none (Gemini)", GEM, 0, 0, 1, "{" U_HI ",'thinking':{'type':'disabled'}}",
     "{" W_HI ",'reasoning_effort':'none'}"},
    {"disabled -> none (generic)", GEN, 1, 0, 1,
     "{" U_HI ",'thinking':{'type':'disabled'},'output_config':{'effort':'high'}}",
     "{" W_HI ",'reasoning_effort':'none'}"},
    {"disabled -> nothing toward OpenAI", OAI, 1, 0, 1, "{" U_HI ",'thinking':{'type':'disabled'}}",
     "{" W_HI "}"},
    {"disabled -> OpenRouter effort none", ORT, 0, 0, 1,
     "{" U_HI ",'thinking':{'type':'disabled','display':'omitted'}}",
     "{" W_HI ",'reasoning':{'effort':'none'}}"},

    /* structured output, stream, dropped fields */
    {"output_config.format -> response_format json_schema", OAI, 0, 0, 0,
     "{" U_HI
     ",'output_config':{'format':{'type':'json_schema','schema':{'type':'object','properties':{'title':{"
     "'type':'string'}},'required':['title'],'additionalProperties':false}}}}",
     "{" W_HI
     ",'response_format':{'type':'json_schema','json_schema':{'name':'output','schema':{'type':'object',"
     "'properties':{'title':{'type':'string'}},'required':['title'],'additionalProperties':false},'strict':"
     "true}}"
     "}"},
    {"Gemini: response_format schema cleaned", GEM, 0, 0, 0,
     "{" U_HI
     ",'output_config':{'format':{'type':'json_schema','schema':{'type':'object','properties':{'title':{"
     "'type':'string'}},'required':['title'],'additionalProperties':false}}}}",
     "{" W_HI
     ",'response_format':{'type':'json_schema','json_schema':{'name':'output','schema':{'type':'object',"
     "'properties':{'title':{'type':'string'}},'required':['title']},'strict':true}}}"},
    {"stream:true -> stream + include_usage", GEN, 0, 0, 0, "{" U_HI ",'stream':true}",
     "{" W_HI ",'stream':true,'stream_options':{'include_usage':true}}"},
    {"stream:false copied without stream_options", GEN, 0, 0, 0, "{" U_HI ",'stream':false}",
     "{" W_HI ",'stream':false}"},
    {"fields without equivalent dropped silently", OAI, 0, 0, 1,
     "{" U_HI ",'service_tier':'auto','container':'c1','inference_geo':'us','context_management':{'edits':[{"
     "'type':'clear_thinking_20251015','keep':'all'}]},'top_k':3,'cache_control':{'type':'ephemeral'},"
     "'mcp_servers':[],'betas':['x'],'metadata':{'other':1}}",
     "{" W_HI "}"},
};

static int run_req_case(const struct req_case *c)
{
    cp_oai_opts_t o = opts(c->flavor, c->rm, c->mc, c->re);
    json_t *anth = jq(c->anth), *want = jq(c->want), *got;
    cp_oai_names_t *names = (cp_oai_names_t *)&names; /* must be overwritten */
    cp_err_t e = {0};
    int ok = 1;

    json_object_set_new(anth, "model", json_string("claude-x"));
    got = cp_oai_request(anth, "up", &o, &names, &e);
    if (got == NULL) {
        fprintf(stderr, "%s: failed: %d %s\n", c->name, e.http_status, e.msg);
        ok = 0;
    } else {
        ok = same_json(c->name, got, want);
        if (names == NULL) {
            fprintf(stderr, "%s: names map NULL on success\n", c->name);
            ok = 0;
        }
        if (check_body(got, c->flavor) != 0) {
            fprintf(stderr, "%s: body check failed\n", c->name);
            ok = 0;
        }
    }
    cp_oai_names_free(names);
    json_decref(anth);
    json_decref(want);
    json_decref(got);
    return ok;
}

static void test_request_table(void **s)
{
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++)
        bad += !run_req_case(&req_cases[i]);
    if (bad)
        fail_msg("%d of %zu request cases failed", bad, sizeof(req_cases) / sizeof(req_cases[0]));
}

/* ---- cp_oai_request: refusals ------------------------------------------------------------------- */

static void test_request_errors(void **s)
{
    static const struct {
        enum cp_oai_flavor flavor;
        unsigned rm;
        const char *anth, *want;
    } cases[] = {
        {OAI, 0,
         "{'messages':[{'role':'user','content':[{'type':'image','source':{'type':'file','file_id':'file_1'}}"
         "]}]}",
         "messages.0.content.0: image file sources (Files API file_id) are not supported by provider p"},
        {GEN, 0,
         "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'tool_use','id':'"
         "t1',"
         "'name':'f','input':{}}]},{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1','"
         "content':[{"
         "'type':'image','source':{'type':'file','file_id':'f'}}]}]}]}",
         "messages.2.content.0.content.0: image file sources"},
        {GEN, 0, "{'messages':[{'role':'user','content':[{'type':'image','source':{'type':'s3','x':1}}]}]}",
         "messages.0.content.0.source: unsupported image source"},
        {GEN, 0,
         "{'messages':[{'role':'user','content':[{'type':'image','source':{'type':'base64','data':'x'}}]}]}",
         "messages.0.content.0.source: unsupported image source"},
        {OAI, 0,
         "{'messages':[{'role':'user','content':[{'type':'document','source':{'type':'file','file_id':'f'}}]}"
         "]}",
         "document file sources (Files API file_id) are not supported by provider p"},
        {OAI, 0,
         "{'messages':[{'role':'user','content':[{'type':'document','source':{'type':'url','url':'https://"
         "a.pdf'}}]"
         "}]}",
         "messages.0.content.0: document URL sources are not supported by provider p"},
        {GEN, 0,
         "{'messages':[{'role':'user','content':[{'type':'document','source':{'type':'base64','media_type':"
         "'application/pdf','data':'JVB'}}]}]}",
         "messages.0.content.0: PDF documents are not supported by provider p"},
        {GEM, 0,
         "{'messages':[{'role':'user','content':[{'type':'document','source':{'type':'base64','media_type':"
         "'application/pdf','data':'JVB'}}]}]}",
         "PDF documents are not supported by provider p"},
        {ORT, 0,
         "{'messages':[{'role':'user','content':[{'type':'text','text':'x'},{'type':'document','source':{'"
         "type':"
         "'base64','media_type':'application/pdf','data':'JVB'}}]}]}",
         "messages.0.content.1: PDF documents are not supported"},
        {OAI, 0,
         "{'messages':[{'role':'user','content':[{'type':'document','source':{'type':'base64','media_type':"
         "'text/html','data':'PGg+'}}]}]}",
         "unsupported document source"},
        {GEN, 0,
         "{" U_HI ",'tools':[" TOOL_GET ",{'type':'web_search_20250305','name':'web_search','max_uses':5}]}",
         "tools.1: Anthropic server tool \"web_search\" (type web_search_20250305) is not supported by "
         "provider p"},
        {OAI, 0, "{" U_HI ",'tools':[{'type':'web_fetch_20250910','name':'web_fetch'}]}",
         "web_fetch_20250910"},
        {GEM, 0, "{" U_HI ",'tools':[{'type':'code_execution_20250825','name':'code_execution'}]}",
         "code_execution_20250825"},
        {GEN, 0, "{" U_HI ",'tools':[{'type':'bash_20250124','name':'bash'}]}", "bash_20250124"},
        {GEN, 0, "{" U_HI ",'tools':[{'type':'text_editor_20250728','name':'str_replace_based_edit_tool'}]}",
         "text_editor_20250728"},
        {GEN, 0, "{" U_HI ",'tools':[{'type':'memory_20250818','name':'memory'}]}", "memory_20250818"},
        {ORT, 0,
         "{" U_HI ",'tools':[{'type':'computer_20250124','name':'computer','display_width_px':1024,"
         "'display_height_px':768}]}",
         "computer_20250124"},
        {GEN, 0, "{" U_HI ",'tools':[{'type':'tool_search_tool_bm25_20251119','name':'tool_search'}]}",
         "tool_search_tool_bm25_20251119"},
        {GEN, 0, "{" U_HI ",'mcp_servers':[{'type':'url','url':'https://mcp','name':'m'}]}",
         "mcp_servers: MCP connector servers (mcp_servers) are not supported by provider p"},
        {OAI, 1, "{" U_HI ",'stop_sequences':['END']}",
         "stop_sequences: provider p does not accept stop sequences for reasoning models"},
        {GEN, 0, "{" U_HI ",'tools':[" TOOL_GET "],'tool_choice':{'type':'tool'}}",
         "tool_choice.name: Field required"},
        {GEN, 0, "{" U_HI ",'tools':[{'description':'x'}]}", "tools.0.name: Field required"},
        {GEN, 0,
         "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'tool_use','name'"
         ":'f',"
         "'input':{}}]}]}",
         "messages.1.content.0.id: Field required"},
        {GEN, 0, "{'messages':[{'role':'user','content':[{'type':'tool_result','content':'x'}]}]}",
         "messages.0.content.0.tool_use_id: Field required"},
        {GEN, 0, "{'messages':[]}", "messages: at least one message"},
        {GEN, 0, "{'system':[],'messages':[{'role':'user','content':''},{'role':'assistant','content':[]}]}",
         "messages: at least one message"},
    };
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cp_oai_opts_t o = opts(cases[i].flavor, cases[i].rm, 0, 1);
        json_t *anth = jq(cases[i].anth), *got;
        cp_oai_names_t *names = (cp_oai_names_t *)&names;
        cp_err_t e = {0};

        got = cp_oai_request(anth, "up", &o, &names, &e);
        if (got != NULL || names != NULL || e.http_status != 400 || e.type == NULL ||
            strcmp(e.type, "invalid_request_error") != 0 || strstr(e.msg, cases[i].want) == NULL) {
            fprintf(stderr, "request error case %zu: got %p names %p %d %s \"%s\", want 400 \"%s\"\n", i,
                    (void *)got, (void *)names, e.http_status, e.type ? e.type : "-", e.msg, cases[i].want);
            bad++;
        }
        json_decref(got);
        json_decref(anth);
    }
    assert_int_equal(bad, 0);
}

/* ---- tool names -------------------------------------------------------------------------------- */

static const char *sent_name(const json_t *body, size_t i)
{
    return json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(body, "tools"), i), "function"), "name"));
}

static void test_names(void **s)
{
    static const char long_name[] =
        "mcp__github_enterprise_server__create_or_update_repository_file_contents";
    static const char long_sent[] = "mcp__github_enterprise_server__create_or_update_reposit_c44dd0d6";
    cp_oai_opts_t o = opts(GEN, 0, 0, 0);
    cp_err_t e = {0};
    cp_oai_names_t *n1, *n2, *n3;
    json_t *anth, *b1, *b2, *b3;
    char body[2048];
    const char *cand;

    (void)s;
    snprintf(body, sizeof(body),
             "{'model':'m','messages':[{'role':'user','content':'x'}],'tools':[{'name':'%s'},{'name':'a.b'},"
             "{'name':''},{'name':'mcp__srv__\\u00fcn\\u00ef'},{'name':'Bash'}]}",
             long_name);
    anth = jq(body);
    b1 = cp_oai_request(anth, "up", &o, &n1, &e);
    b2 = cp_oai_request(anth, "up", &o, &n2, &e);
    assert_non_null(b1);
    assert_non_null(b2);
    assert_true(json_equal(b1, b2)); /* deterministic */
    assert_string_equal(sent_name(b1, 0), long_sent);
    assert_int_equal(strlen(sent_name(b1, 0)), 64);
    assert_string_equal(sent_name(b1, 1), "a_b_2e7336dc");
    assert_string_equal(sent_name(b1, 2), "_e3b0c442");
    assert_string_equal(sent_name(b1, 3), "mcp__srv____n___a9c9a09c"); /* each non-ASCII byte -> '_' */
    assert_string_equal(sent_name(b1, 4), "Bash");                     /* valid names are not touched */
    assert_int_equal(check_body(b1, GEN), 0);
    assert_string_equal(cp_oai_names_original(n1, long_sent), long_name);
    assert_string_equal(cp_oai_names_original(n1, "a_b_2e7336dc"), "a.b");
    assert_string_equal(cp_oai_names_original(n1, "_e3b0c442"), "");
    assert_string_equal(cp_oai_names_original(n1, "mcp__srv____n___a9c9a09c"), "mcp__srv__\xc3\xbcn\xc3\xaf");
    assert_string_equal(cp_oai_names_original(n1, "Bash"), "Bash");
    assert_string_equal(cp_oai_names_original(n1, "unknown"), "unknown");
    assert_string_equal(cp_oai_names_original(NULL, "x"), "x");
    cp_oai_names_free(NULL);
    cp_oai_names_free(n2);
    json_decref(b2);
    json_decref(anth);

    /* collision: a client tool literally named like a.b's short name pushes a.b to a salted hash */
    cand = "a_b_2e7336dc";
    anth =
        jq("{'model':'m','messages':[{'role':'user','content':'x'},{'role':'assistant','content':[{'type':"
           "'tool_use','id':'t1','name':'a.b','input':{}}]},{'role':'user','content':[{'type':'tool_result',"
           "'tool_use_id':'t1','content':'r'}]}],'tools':[{'name':'a.b'},{'name':'a_b_2e7336dc'}]}");
    b3 = cp_oai_request(anth, "up", &o, &n3, &e);
    assert_non_null(b3);
    assert_string_equal(sent_name(b3, 0), "a_b_b2c9276d"); /* sha256("a.b#1") */
    assert_string_equal(sent_name(b3, 1), cand);
    assert_string_equal(cp_oai_names_original(n3, "a_b_b2c9276d"), "a.b");
    assert_string_equal(cp_oai_names_original(n3, cand), cand);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(
                json_array_get(
                    json_object_get(json_array_get(json_object_get(b3, "messages"), 1), "tool_calls"), 0),
                "function"),
            "name")),
        "a_b_b2c9276d"); /* the history uses the same mapping */
    cp_oai_names_free(n3);
    json_decref(b3);
    json_decref(anth);

    /* a response naming a shortened tool is answered with the client's name */
    {
        json_t *resp =
            jq("{'choices':[{'message':{'role':'assistant','content':null,'tool_calls':[{'id':'c1',"
               "'type':'function','function':{'name':'mcp__github_enterprise_server__create_or_update_"
               "reposit_c44dd0d6','arguments':'{}'}}]},'finish_reason':'tool_calls'}]}");
        json_t *msg = cp_oai_response(resp, "claude-x", n1, &o, &e);

        assert_non_null(msg);
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(json_object_get(msg, "content"), 0), "name")),
            long_name);
        json_decref(msg);
        json_decref(resp);
    }
    cp_oai_names_free(n1);
    json_decref(b1);
}

/* ---- fixtures ---------------------------------------------------------------------------------- */

static const char *fixdir(void)
{
    static char dir[1024];
    const char *env = getenv("CCPROXY_OAI_FIXTURES");
    const char *f = __FILE__, *slash = strrchr(f, '/');

    if (env != NULL)
        return env;
    if (slash != NULL)
        snprintf(dir, sizeof(dir), "%.*s/../fixtures/oai", (int)(slash - f), f);
    else
        snprintf(dir, sizeof(dir), "../fixtures/oai");
    return dir;
}

/* Returns new: fixture <name> parsed; fails the test when missing. */
static json_t *fixture(const char *name)
{
    char path[1200];
    json_error_t err;
    json_t *j;

    snprintf(path, sizeof(path), "%s/%s", fixdir(), name);
    j = json_load_file(path, 0, &err);
    if (j == NULL)
        fail_msg("fixture %s: %s (line %d)", path, err.text, err.line);
    return j;
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

static const struct {
    const char *name, *flavor_file, *model;
    enum cp_oai_flavor flavor;
    unsigned rm, mc, re;
} req_golden[] = {
    {"claude-code", "openai", "gpt-5", OAI, 1, 1, 1},
    {"claude-code", "gemini", "gemini-2.5-pro", GEM, 0, 0, 1},
    {"claude-code", "openrouter", "anthropic/claude-sonnet-4.5", ORT, 0, 0, 1},
    {"claude-code", "generic", "deepseek-chat", GEN, 0, 0, 0},
    {"title-call", "openai", "gpt-4.1-mini", OAI, 0, 1, 0},
    {"title-call", "gemini", "gemini-2.5-flash", GEM, 0, 0, 1},
    {"attachments", "openai", "gpt-4.1", OAI, 0, 1, 0},
    {"long-tool-names", "generic", "qwen3-coder", GEN, 0, 0, 0},
};

static void test_request_golden(void **s)
{
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(req_golden) / sizeof(req_golden[0]); i++) {
        char in[256], out[256];
        cp_oai_opts_t o = opts(req_golden[i].flavor, req_golden[i].rm, req_golden[i].mc, req_golden[i].re);
        cp_oai_names_t *names = NULL;
        cp_err_t e = {0};
        json_t *anth, *want, *got;

        snprintf(in, sizeof(in), "req-%s.anthropic.json", req_golden[i].name);
        snprintf(out, sizeof(out), "req-%s.%s.json", req_golden[i].name, req_golden[i].flavor_file);
        anth = fixture(in);
        want = fixture(out);
        got = cp_oai_request(anth, req_golden[i].model, &o, &names, &e);
        if (got == NULL) {
            fprintf(stderr, "%s: %s\n", out, e.msg);
            bad++;
        } else if (!same_json(out, got, want) || check_body(got, req_golden[i].flavor) != 0) {
            bad++;
        }
        cp_oai_names_free(names);
        json_decref(anth);
        json_decref(want);
        json_decref(got);
    }
    assert_int_equal(bad, 0);
}

/* The Claude Code-shaped request (real-clients.md 4.2/4.4) toward every flavor: only allowed keys,
 * tool messages in place, every tool kept, nothing Anthropic-only left over. */
static void test_claude_code_shape(void **s)
{
    static const char *const roles[] = {"system", "user", "system", "assistant", "tool", "assistant",
                                        "tool",   "tool", "user",   "assistant", "user"};
    json_t *anth = fixture("req-claude-code.anthropic.json");

    (void)s;
    for (int f = CP_OAI_GENERIC; f <= CP_OAI_OPENROUTER; f++) {
        cp_oai_opts_t o = opts((enum cp_oai_flavor)f, f == CP_OAI_OPENAI, 1, 1);
        cp_oai_names_t *names = NULL;
        cp_err_t e = {0};
        json_t *b = cp_oai_request(anth, "up", &o, &names, &e);
        json_t *msgs, *t;
        size_t i, j;

        if (b == NULL)
            fail_msg("flavor %d: %s", f, e.msg);
        assert_int_equal(check_body(b, (enum cp_oai_flavor)f), 0);
        msgs = json_object_get(b, "messages");
        assert_int_equal(json_array_size(msgs), sizeof(roles) / sizeof(roles[0]));
        for (i = 0; i < json_array_size(msgs); i++)
            assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, i), "role")),
                                roles[i]);
        assert_int_equal(json_array_size(json_object_get(b, "tools")), 24);
        assert_false(has_key(b, "cache_control"));
        assert_false(has_key(msgs, "signature") && f != CP_OAI_OPENROUTER);
        assert_false(has_key(msgs, "data")); /* redacted_thinking */
        assert_null(json_object_get(b, "context_management"));
        assert_null(json_object_get(b, "thinking"));
        assert_null(json_object_get(b, "output_config"));
        assert_null(json_object_get(b, "metadata"));
        assert_true(json_is_true(json_object_get(json_object_get(b, "stream_options"), "include_usage")));
        if (f == CP_OAI_GEMINI) {
            static const char *const banned[] = {"$schema",       "additionalProperties",
                                                 "propertyNames", "exclusiveMinimum",
                                                 "const",         "default",
                                                 "title",         NULL};
            for (i = 0; banned[i] != NULL; i++) {
                json_array_foreach(json_object_get(b, "tools"), j, t)
                {
                    if (schema_has_kw(json_object_get(json_object_get(t, "function"), "parameters"),
                                      banned[i]))
                        fail_msg("Gemini tool %zu still uses %s", j, banned[i]);
                }
            }
            assert_null(json_object_get(b, "user"));
            assert_string_equal(json_string_value(json_object_get(b, "reasoning_effort")), "high");
        } else {
            const char *u = json_string_value(json_object_get(b, "user"));
            assert_non_null(u);
            assert_int_equal(strlen(u), 64);
            assert_int_equal(strspn(u, "0123456789abcdef"), 64);
        }
        json_array_foreach(json_object_get(b, "tools"), i, t)
        {
            assert_true(name_ok(json_string_value(json_object_get(json_object_get(t, "function"), "name"))));
        }
        cp_oai_names_free(names);
        json_decref(b);
    }
    json_decref(anth);
}

/* ---- Gemini schema cleaner --------------------------------------------------------------------- */

static void test_gemini_schema_table(void **s)
{
    static const struct {
        const char *name, *in, *want;
    } cases[] = {
        {"type [X,null] -> X + nullable", "{'type':['string','null']}", "{'type':'string','nullable':true}"},
        {"type [null,X] order does not matter", "{'type':['null','integer'],'minimum':1}",
         "{'type':'integer','nullable':true,'minimum':1}"},
        {"several types -> anyOf", "{'type':['string','integer'],'description':'d'}",
         "{'description':'d','anyOf':[{'type':'string'},{'type':'integer'}]}"},
        {"type null -> nullable", "{'type':'null'}", "{'nullable':true}"},
        {"const string -> enum", "{'type':'string','const':'deleted'}",
         "{'type':'string','enum':['deleted']}"},
        {"const without type -> string enum", "{'const':'x'}", "{'type':'string','enum':['x']}"},
        {"const number dropped", "{'type':'integer','const':3}", "{'type':'integer'}"},
        {"const null -> nullable", "{'const':null}", "{'nullable':true}"},
        {"enum of strings kept, null -> nullable", "{'type':'string','enum':['a','b',null]}",
         "{'type':'string','enum':['a','b'],'nullable':true}"},
        {"enum without type gets type string", "{'enum':['a']}", "{'type':'string','enum':['a']}"},
        {"enum of numbers dropped", "{'type':'integer','enum':[1,2]}", "{'type':'integer'}"},
        {"mixed enum dropped", "{'enum':['a',1]}", "{}"},
        {"format uri dropped", "{'type':'string','format':'uri'}", "{'type':'string'}"},
        {"format date-time and enum kept",
         "{'type':'object','properties':{'a':{'type':'string','format':"
         "'date-time'},'b':{'type':'string','format':'enum','enum':['x']}}}",
         "{'type':'object','properties':{'a':{'type':'string','format':'date-time'},'b':{'type':'string',"
         "'format':'enum','enum':['x']}}}"},
        {"format on a number dropped", "{'type':'integer','format':'int32'}", "{'type':'integer'}"},
        {"dropped keywords",
         "{'$schema':'https://json-schema.org/draft/2020-12/schema','$id':'x','title':'T',"
         "'type':'object','properties':{'a':{'type':'string','default':'d','examples':['e'],"
         "'$comment':'c','readOnly':true}},'additionalProperties':false,'propertyNames':{"
         "'pattern':'^a'},'minProperties':1,'unevaluatedProperties':false}",
         "{'type':'object','properties':{'a':{'type':'string'}}}"},
        {"required entries naming dropped or unknown properties removed",
         "{'type':'object','properties':{'a':{'type':'string'}},'required':['a','b',5]}",
         "{'type':'object','properties':{'a':{'type':'string'}},'required':['a']}"},
        {"required without properties removed", "{'type':'object','required':['a']}", "{'type':'object'}"},
        {"empty properties removed", "{'type':'object','properties':{},'required':[]}", "{'type':'object'}"},
        {"exclusiveMinimum on integer -> minimum + 1", "{'type':'integer','exclusiveMinimum':0}",
         "{'type':'integer','minimum':1}"},
        {"exclusiveMaximum on integer -> maximum - 1", "{'type':'integer','exclusiveMaximum':10,'minimum':2}",
         "{'type':'integer','minimum':2,'maximum':9}"},
        {"exclusive bounds on numbers dropped",
         "{'type':'number','exclusiveMinimum':0.5,'exclusiveMaximum':2}", "{'type':'number'}"},
        {"Claude Code 2^53-1 bounds dropped, real bounds kept",
         "{'type':'object','properties':{'a':{'type':'integer','minimum':-9007199254740991,'maximum':"
         "9007199254740991},'b':{'type':'integer','minimum':0,'maximum':9007199254740990},'c':{'type':'"
         "number',"
         "'maximum':1e300,'minimum':-0.5}}}",
         "{'type':'object','properties':{'a':{'type':'integer'},'b':{'type':'integer','minimum':0,'maximum':"
         "9007199254740990},'c':{'type':'number','minimum':-0.5}}}"},
        {"length and item counts kept, negatives dropped",
         "{'type':'array','items':{'type':'string','minLength':1,'maxLength':9,'pattern':'^a'},'minItems':1,"
         "'maxItems':-1,'uniqueItems':true}",
         "{'type':'array','items':{'type':'string','minLength':1,'maxLength':9,'pattern':'^a'},'minItems':"
         "1}"},
        {"tuple items -> first", "{'type':'array','items':[{'type':'string'},{'type':'integer'}]}",
         "{'type':'array','items':{'type':'string'}}"},
        {"boolean items dropped", "{'type':'array','items':true}", "{'type':'array'}"},
        {"anyOf with a null branch -> merged + nullable",
         "{'anyOf':[{'type':'string','maxLength':3},{'type':'null'}],'description':'d'}",
         "{'type':'string','maxLength':3,'nullable':true,'description':'d'}"},
        {"anyOf kept when several branches", "{'anyOf':[{'type':'string'},{'type':'integer','const':1}]}",
         "{'anyOf':[{'type':'string'},{'type':'integer'}]}"},
        {"oneOf -> anyOf", "{'oneOf':[{'type':'string'},{'type':'boolean'}]}",
         "{'anyOf':[{'type':'string'},{'type':'boolean'}]}"},
        {"allOf merged",
         "{'allOf':[{'type':'object','properties':{'a':{'type':'string'}},'required':['a']},{'properties':{'"
         "b':{"
         "'type':'integer'}},'required':['b']}]}",
         "{'type':'object','properties':{'a':{'type':'string'},'b':{'type':'integer'}},'required':['a','b']"
         "}"},
        {"$ref to $defs inlined, sibling description wins",
         "{'type':'object','properties':{'p':{'$ref':'#/$defs/"
         "Point','description':'where'}},'$defs':{'Point':{"
         "'type':'object','title':'Point','description':'a point','properties':{'x':{'type':'number'}},"
         "'required':['x'],'additionalProperties':false}}}",
         "{'type':'object','properties':{'p':{'type':'object','description':'where','properties':{'x':{'type'"
         ":"
         "'number'}},'required':['x']}}}"},
        {"$ref to definitions (draft-07) inlined",
         "{'type':'object','properties':{'c':{'$ref':'#/definitions/Color'}},'definitions':{'Color':{'enum':["
         "'red','blue']}}}",
         "{'type':'object','properties':{'c':{'type':'string','enum':['red','blue']}}}"},
        {"escaped pointer", "{'properties':{'a':{'$ref':'#/$defs/a~1b'}},'$defs':{'a/b':{'type':'boolean'}}}",
         "{'properties':{'a':{'type':'boolean'}}}"},
        {"unresolvable $ref -> any",
         "{'type':'object','properties':{'a':{'$ref':'https://x/s.json'},'b':{'$ref':"
         "'#/$defs/none'}}}",
         "{'type':'object','properties':{'a':{},'b':{}}}"},
        {"not an object schema -> any", "true", "{}"},
        {"nested arrays of objects cleaned all the way down",
         "{'type':'object','properties':{'l':{'type':'array','items':{'type':'object','properties':{'q':{'"
         "type':["
         "'string','null'],'format':'uri','default':null}},'additionalProperties':false}}}}",
         "{'type':'object','properties':{'l':{'type':'array','items':{'type':'object','properties':{'q':{'"
         "type':"
         "'string','nullable':true}}}}}}"},
    };
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *in = jq(cases[i].in), *want = jq(cases[i].want);
        json_t *before = json_deep_copy(in);
        json_t *got = cp_oai_gemini_schema(in);

        bad += !same_json(cases[i].name, got, want);
        if (!json_equal(in, before)) { /* the input is borrowed, never modified */
            fprintf(stderr, "%s: input modified\n", cases[i].name);
            bad++;
        }
        json_decref(in);
        json_decref(want);
        json_decref(got);
        json_decref(before);
    }
    assert_int_equal(bad, 0);
}

static size_t count_nodes(const json_t *j)
{
    size_t n = 1, i;
    const char *k;
    json_t *v;

    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, v)
        {
            n += count_nodes(v);
        }
    }
    json_array_foreach(j, i, v)
    {
        n += count_nodes(v);
    }
    return n;
}

static void test_gemini_schema_recursion(void **s)
{
    /* A tree whose node refers to itself twice, and a schema that is its own $ref: both finite. */
    json_t *tree = jq("{'$ref':'#/$defs/Node','$defs':{'Node':{'type':'object','properties':{'name':{'type':"
                      "'string'},'left':{'$ref':'#/$defs/Node'},'right':{'$ref':'#/$defs/Node'}}}}}");
    json_t *self = jq("{'$ref':'#'}");
    json_t *g1 = cp_oai_gemini_schema(tree), *g2 = cp_oai_gemini_schema(self);
    json_t *leaf;

    (void)s;
    assert_string_equal(json_string_value(json_object_get(g1, "type")), "object");
    assert_true(count_nodes(g1) < 200000);
    /* the unrolling ends in a plain object */
    leaf = g1;
    while (json_object_get(json_object_get(leaf, "properties"), "left") != NULL)
        leaf = json_object_get(json_object_get(leaf, "properties"), "left");
    assert_string_equal(json_string_value(json_object_get(leaf, "type")), "object");
    assert_true(json_is_object(g2));
    assert_int_equal(json_object_size(g2), 0);
    json_decref(g1);
    json_decref(g2);
    json_decref(tree);
    json_decref(self);
}

static void test_gemini_schema_fixtures(void **s)
{
    static const char *const names[] = {"task-update", "read-webfetch", "mcp-defs"};
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char in[128], out[128];
        json_t *src, *want, *got;

        snprintf(in, sizeof(in), "schema-%s.input.json", names[i]);
        snprintf(out, sizeof(out), "schema-%s.gemini.json", names[i]);
        src = fixture(in);
        want = fixture(out);
        got = cp_oai_gemini_schema(src);
        bad += !same_json(out, got, want);
        json_decref(src);
        json_decref(want);
        json_decref(got);
    }
    assert_int_equal(bad, 0);
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
    {"OpenRouter reasoning_details: signatures kept, summary, encrypted skipped",
     CHOICE("{'role':'assistant','content':'hi','reasoning':'a','reasoning_details':[{'type':'reasoning.text'"
            ",'text':"
            "'a','signature':'sig1','format':'anthropic-claude-v1','index':0},{'type':'reasoning.summary','"
            "summary':"
            "'sum'},{'type':'reasoning.encrypted','data':'xx'}]}",
            "'stop'") OUSAGE(1, 1),
     AMSG("[{'type':'thinking','thinking':'a','signature':'sig1'},{'type':'thinking','thinking':'sum','"
          "signature':"
          "''},{'type':'text','text':'hi'}]",
          "end_turn") AUSAGE(1, 1, 0, 0)},
    {"empty content -> content []", CHOICE("{'role':'assistant','content':''}", "'stop'") OUSAGE(1, 0),
     AMSG("[]", "end_turn") AUSAGE(1, 0, 0, 0)},
    {"whitespace-only text dropped next to tool calls",
     CHOICE("{'role':'assistant','content':'\\n\\n ','tool_calls':[" TC("c", "f", "'{}'") "]}",
            "'tool_calls'") OUSAGE(1, 1),
     AMSG("[{'type':'tool_use','id':'c','name':'f','input':{}}]", "tool_use") AUSAGE(1, 1, 0, 0)},
    {"content as an array of text parts",
     CHOICE("{'role':'assistant','content':[{'type':'text','text':'a'},{'type':'text','text':'b'}]}",
            "'stop'") OUSAGE(1, 1),
     AMSG("[{'type':'text','text':'a\\n\\nb'}]", "end_turn") AUSAGE(1, 1, 0, 0)},
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
        json_t *in = jq(resp_cases[i].oai), *want = jq(resp_cases[i].want), *got;
        cp_err_t e = {0};

        got = cp_oai_response(in, "claude-x", NULL, &o, &e);
        if (got == NULL) {
            fprintf(stderr, "%s: failed: %d %s\n", resp_cases[i].name, e.http_status, e.msg);
            bad++;
        } else if (!norm_ids(got)) {
            fprintf(stderr, "%s: bad message id\n", resp_cases[i].name);
            bad++;
        } else {
            bad += !same_json(resp_cases[i].name, got, want);
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
        json_t *in = jq(cases[i].oai), *got;
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
    json_t *in = jq(CHOICE("{'role':'assistant','content':null,'tool_calls':[" TC("", "f", "'{}'") "]}",
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
    static const char *const names[] = {"gpt41-tools", "openrouter-reasoning", "deepseek-reasoner",
                                        "gemini-tools", "vllm-stop"};
    cp_oai_opts_t o = opts(GEN, 0, 0, 0);
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char in[128], out[128];
        cp_err_t e = {0};
        json_t *src, *want, *got;

        snprintf(in, sizeof(in), "resp-%s.openai.json", names[i]);
        snprintf(out, sizeof(out), "resp-%s.anthropic.json", names[i]);
        src = fixture(in);
        want = fixture(out);
        got = cp_oai_response(src, "claude-sonnet-5", NULL, &o, &e);
        if (got == NULL) {
            fprintf(stderr, "%s: %s\n", in, e.msg);
            bad++;
        } else if (!norm_ids(got) || !same_json(out, got, want)) {
            bad++;
        }
        json_decref(src);
        json_decref(want);
        json_decref(got);
    }
    assert_int_equal(bad, 0);
}

/* ---- cp_oai_error ------------------------------------------------------------------------------ */

static void test_error_status_map(void **s)
{
    static const struct {
        long in;
        int out;
        const char *type;
    } cases[] = {
        {400, 400, "invalid_request_error"},
        {422, 400, "invalid_request_error"},
        {401, 401, "authentication_error"},
        {402, 402, "billing_error"},
        {403, 403, "permission_error"},
        {404, 404, "not_found_error"},
        {408, 504, "timeout_error"},
        {504, 504, "timeout_error"},
        {413, 413, "request_too_large"},
        {429, 429, "rate_limit_error"},
        {500, 500, "api_error"},
        {502, 529, "overloaded_error"},
        {503, 529, "overloaded_error"},
        {529, 529, "overloaded_error"},
        {501, 500, "api_error"},
        {520, 500, "api_error"},
        {599, 500, "api_error"},
        {405, 400, "invalid_request_error"},
        {409, 400, "invalid_request_error"},
        {418, 400, "invalid_request_error"},
        {302, 502, "api_error"},
        {200, 502, "api_error"},
        {0, 502, "api_error"},
    };
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cp_err_t e = {0};
        const char body[] = "{\"error\":{\"message\":\"m\"}}";

        cp_oai_error(cases[i].in, body, sizeof(body) - 1, "prov", &e);
        if (e.http_status != cases[i].out || e.type == NULL || strcmp(e.type, cases[i].type) != 0 ||
            strcmp(e.msg, "prov: m") != 0) {
            fprintf(stderr, "status %ld -> %d %s \"%s\", want %d %s\n", cases[i].in, e.http_status,
                    e.type ? e.type : "-", e.msg, cases[i].out, cases[i].type);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_error_messages(void **s)
{
    static const struct {
        long status;
        const char *body;
        int want_status;
        const char *want, *absent;
    } cases[] = {
        /* OpenAI */
        {400,
         "{\"error\":{\"message\":\"Unsupported parameter: 'max_tokens' is not supported with this model. "
         "Use "
         "'max_completion_tokens' "
         "instead.\",\"type\":\"invalid_request_error\",\"param\":\"max_tokens\",\"code\":"
         "\"unsupported_parameter\"}}",
         400, "openai: Unsupported parameter: 'max_tokens' is not supported with this model.", NULL},
        {429,
         "{\"error\":{\"message\":\"You exceeded your current quota, please check your plan and billing "
         "details.\","
         "\"type\":\"insufficient_quota\",\"param\":null,\"code\":\"insufficient_quota\"}}",
         429, "openai: quota exhausted (insufficient_quota)", NULL},
        {429, "{\"error\":{\"message\":\"Rate limit reached for gpt-4.1\",\"code\":\"rate_limit_exceeded\"}}",
         429, "openai: Rate limit reached for gpt-4.1", "quota"},
        /* context overflow -> "prompt is too long: ..." */
        {400,
         "{\"error\":{\"message\":\"This model's maximum context length is 128000 tokens. However, your "
         "messages "
         "resulted in 130567 tokens. Please reduce the length of the "
         "messages.\",\"type\":\"invalid_request_error\","
         "\"code\":\"context_length_exceeded\"}}",
         400, "prompt is too long: 130567 tokens > 128000 maximum (openai: This model", NULL},
        {400,
         "{\"object\":\"error\",\"message\":\"This model's maximum context length is 32768 tokens. However, "
         "you "
         "requested 40000 tokens (35000 in the messages, 5000 in the "
         "completion).\",\"type\":\"BadRequestError\","
         "\"code\":400}",
         400, "prompt is too long: 40000 tokens > 32768 maximum", NULL},
        {400,
         "[{\"error\":{\"code\":400,\"message\":\"The input token count (1234567) exceeds the maximum number "
         "of "
         "tokens allowed (1048576).\",\"status\":\"INVALID_ARGUMENT\"}}]",
         400, "prompt is too long: 1234567 tokens > 1048576 maximum (openai: The input token count", NULL},
        {400,
         "{\"error\":{\"code\":400,\"message\":\"the request exceeds the available context size, try "
         "increasing it\","
         "\"type\":\"exceed_context_size_error\",\"n_prompt_tokens\":5000,\"n_ctx\":4096}}",
         400, "prompt is too long: 5000 tokens > 4096 maximum", NULL},
        {400, "{\"error\":{\"message\":\"prompt too long for this model\"}}", 400,
         "prompt is too long: openai: prompt too long", NULL},
        /* OpenRouter: numeric code, metadata.raw (itself JSON) and provider_name */
        {402,
         "{\"error\":{\"code\":402,\"message\":\"Insufficient credits. Add more using https://openrouter.ai/"
         "settings/credits\"}}",
         402, "openai: Insufficient credits.", NULL},
        {502,
         "{\"error\":{\"code\":502,\"message\":\"Provider returned "
         "error\",\"metadata\":{\"raw\":\"{\\\"error\\\":{"
         "\\\"message\\\":\\\"upstream connect error\\\"}}\",\"provider_name\":\"Together\"}}}",
         529, "openai: Provider returned error (Together: upstream connect error)", NULL},
        {403,
         "{\"error\":{\"code\":403,\"message\":\"Input "
         "flagged\",\"metadata\":{\"reasons\":[\"x\"],\"flagged_input\":"
         "\"...\"}}}",
         403, "openai: Input flagged", NULL},
        /* Gemini one-element array */
        {429,
         "[{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted (e.g. check "
         "quota).\",\"status\":"
         "\"RESOURCE_EXHAUSTED\"}}]",
         429, "openai: Resource has been exhausted (e.g. check quota).", NULL},
        /* other shapes */
        {404, "{\"error\":\"model 'llama9' not found\"}", 404, "openai: model 'llama9' not found", NULL},
        {422,
         "{\"detail\":[{\"loc\":[\"body\",\"messages\"],\"msg\":\"field required\",\"type\":\"missing\"}]}",
         400, "openai: field required", NULL},
        {500, "{\"detail\":\"Internal failure\"}", 500, "openai: Internal failure", NULL},
        {500, "\"plain json string\"", 500, "openai: plain json string", NULL},
        {500, "{\"unexpected\":true}", 500, "openai: {\"unexpected\":true}", NULL},
        /* not JSON */
        {502,
         "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
         "Gateway</h1></center>"
         "\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
         529, "openai: 502 Bad Gateway", "<"},
        {503, "<html><body><h1>Service\nUnavailable</h1><p>try   later</p></body></html>", 529,
         "openai: Service Unavailable try later", "\n"},
        {500, "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
         500, "openai: upstream connect error or disconnect/reset before headers.", NULL},
        {503, "", 529, "openai: HTTP 503 with no error message", NULL},
        {504, "   \n", 504, "openai: HTTP 504 with no error message", NULL},
        {500, "{\"error\":{\"message\":\"line1\\nline2\\ttab\"}}", 500, "openai: line1 line2 tab", NULL},
        /* never a key */
        {401,
         "{\"error\":{\"message\":\"Incorrect API key provided: sk-proj-AbCdEfGh1234567890abcdefXYZ. You can "
         "find "
         "your API key at https://platform.openai.com/account/api-keys.\",\"type\":\"invalid_request_error\","
         "\"code\":\"invalid_api_key\"}}",
         401, "openai: Incorrect API key provided: [redacted]. You can find your API key at", "sk-proj"},
        {401, "Unauthorized: Authorization: Bearer abcdef0123456789 rejected", 401,
         "Bearer [redacted] rejected", "abcdef0123"},
        {400,
         "[{\"error\":{\"code\":400,\"message\":\"API key not valid. Please pass a valid API "
         "key.\",\"status\":"
         "\"INVALID_ARGUMENT\"}}]",
         400, "openai: API key not valid. Please pass a valid API key.", NULL},
        {403, "forbidden for https://x.example/v1?alt=sse&key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", 403,
         "key=[redacted]", "AIzaSy"},
        {401, "{\"error\":{\"message\":\"invalid key 0123456789abcdef0123456789abcdef0123456789abcdef\"}}",
         401, "openai: invalid key [redacted]", "0123456789abcdef0123"},
        {401, "{\"error\":{\"message\":\"bad token gsk_ABCDEFGH12345678 for org\"}}", 401,
         "bad token [redacted] for org", "gsk_"},
        {401,
         "{\"error\":{\"message\":\"rejected https://h/v1?x=1&k=sk-or-v1-0123456789abcdef and "
         "(xai-ABCDEFGHIJKL)\"}}",
         401, "rejected https://h/v1?x=1&k=[redacted] and ([redacted])", "sk-or"},
        {400,
         "{\"error\":{\"message\":\"request req_0123456789abcdef01234567 uuid "
         "7d1e9a52-3c4b-4f6a-9e8d-1a2b3c4d5e6f\"}}",
         400, "request req_0123456789abcdef01234567 uuid 7d1e9a52-3c4b-4f6a-9e8d-1a2b3c4d5e6f", "redacted"},
    };
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cp_err_t e = {0};

        cp_oai_error(cases[i].status, cases[i].body, strlen(cases[i].body), "openai", &e);
        if (e.http_status != cases[i].want_status || strstr(e.msg, cases[i].want) == NULL ||
            (cases[i].absent != NULL && strstr(e.msg, cases[i].absent) != NULL)) {
            fprintf(stderr, "error case %zu (%ld): %d \"%s\"; want %d containing \"%s\"%s%s\n", i,
                    cases[i].status, e.http_status, e.msg, cases[i].want_status, cases[i].want,
                    cases[i].absent ? " without " : "", cases[i].absent ? cases[i].absent : "");
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* Long, multibyte and invalid-UTF-8 bodies give a bounded, valid UTF-8 message without newlines. */
static void test_error_bounds(void **s)
{
    char body[5000], html[3000];
    cp_err_t e = {0};
    json_t *j;
    size_t n = 0;

    (void)s;
    n += (size_t)snprintf(body, sizeof(body), "{\"error\":{\"message\":\"");
    while (n < 4000)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "\xc3\xa9t\xc3\xa9 ");
    snprintf(body + n, sizeof(body) - n, "\"}}");
    cp_oai_error(500, body, strlen(body), "prov", &e);
    assert_int_equal(e.http_status, 500);
    assert_true(strlen(e.msg) <= 6 + 400);
    assert_true(strncmp(e.msg, "prov: \xc3\xa9t\xc3\xa9", 10) == 0);
    j = json_string(e.msg); /* NULL when not valid UTF-8 */
    assert_non_null(j);
    json_decref(j);

    memset(html, 'x', sizeof(html));
    memcpy(html, "<p>\xff\xfe bad \x80", 11);
    html[sizeof(html) - 1] = '\0';
    cp_oai_error(503, html, strlen(html), "prov", &e);
    assert_int_equal(e.http_status, 529);
    assert_true(strlen(e.msg) <= 6 + 200);
    assert_non_null(strstr(e.msg, "prov: ?? bad ?"));
    j = json_string(e.msg);
    assert_non_null(j);
    json_decref(j);

    cp_oai_error(500, NULL, 0, NULL, &e); /* no body, no provider name */
    assert_int_equal(e.http_status, 500);
    assert_string_equal(e.msg, "upstream: HTTP 500 with no error message");
    cp_oai_error(500, "x", 1, "prov", NULL); /* no error record: nothing to fill, no crash */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts_for),
        cmocka_unit_test(test_request_table),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_request_golden),
        cmocka_unit_test(test_claude_code_shape),
        cmocka_unit_test(test_gemini_schema_table),
        cmocka_unit_test(test_gemini_schema_recursion),
        cmocka_unit_test(test_gemini_schema_fixtures),
        cmocka_unit_test(test_response_table),
        cmocka_unit_test(test_response_errors),
        cmocka_unit_test(test_response_ids),
        cmocka_unit_test(test_response_golden),
        cmocka_unit_test(test_error_status_map),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_error_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
