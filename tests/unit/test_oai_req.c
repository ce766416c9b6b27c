/* Unit tests for the request side of the OpenAI-style translator (lib/prov/openai): flavors and
 * options (cp_oai_flavor), Anthropic Messages -> Chat Completions (cp_oai_req), tool names
 * (cp_oai_names) and the Gemini schema cleaner (cp_oai_schema). The rules are in docs/providers.md
 * ("Flavors (OpenAI-compatible servers)", "Requests").
 *
 * Most tests are tables. JSON in the tables is written with ' for " (see unit_jq()); a literal apostrophe
 * is \u0027. Golden pairs live in tests/fixtures/oai/, found relative to this file's path:
 *   req-NAME.anthropic.json -> req-NAME.FLAVOR.json        (cp_oai_request)
 *   schema-NAME.input.json  -> schema-NAME.gemini.json     (cp_oai_gemini_schema)
 * Every request the tables produce is also checked against an allow-list of Chat Completions fields
 * and the tool-message ordering rule (check_body). */
#include "cp_unit.h"

#include <ctype.h>

#include "cp_anth.h"
#include "cp_oai_req.h"
#include "cp_oai_resp.h"
#include "cp_oai_schema.h"

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
static int check_body(const json_t *b, enum cp_oai_flavor_id f)
{
    const cp_oai_flavor_t *fl = cp_oai_flavor_get(f);
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
    if (json_object_get(b, "reasoning") != NULL && fl->reasoning != CP_OAI_RS_OBJECT) {
        fprintf(stderr, "body: reasoning object toward a flavor that takes reasoning_effort\n");
        bad++;
    }
    if (json_object_get(b, "reasoning_effort") != NULL && fl->reasoning == CP_OAI_RS_OBJECT) {
        fprintf(stderr, "body: reasoning_effort toward a flavor that takes the reasoning object\n");
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
                           fl->history == CP_OAI_HIST_CONTENT   ? asst_generic
                           : fl->history == CP_OAI_HIST_DETAILS ? asst_or
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

            bad += keys_in(m, fl->tool_name ? tool_keys_gem : tool_keys, "tool message");
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
        enum cp_oai_flavor_id flavor;
        unsigned rm, mc, re;
        const char *flavor_key; /* providers.<name>.flavor, NULL when absent */
    } cases[] = {
        {"openai", "https://api.openai.com/v1", "gpt-4.1", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENAI, 0, 1, 0,
         NULL},
        {"openai", "https://api.openai.com/v1", "gpt-5-mini", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENAI, 1, 1,
         1, NULL},
        {"work", "https://API.OpenAI.com", "o3", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENAI, 1, 1, 1, NULL},
        {"x", "https://user@api.openai.com:443/v1", "o4-mini", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENAI, 1, 1,
         1, NULL},
        {"x", "https://api.openai.com.evil.example/v1", "gpt-4o", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_GENERIC, 0,
         0, 0, NULL},
        {"openrouter", "https://proxy.local/v1", "openai/o3", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENROUTER, 1,
         1, 1, NULL},
        {"OpenRouter", "https://x", "anthropic/claude-sonnet-4", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENROUTER,
         0, 0, 1, NULL},
        {"or", "https://openrouter.ai/api/v1", "qwen/qwen3-coder", NULL, CP_MAXTOK_AUTO, -1,
         CP_OAI_OPENROUTER, 0, 0, 1, NULL},
        {"or", "https://eu.openrouter.ai/api/v1", "m", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENROUTER, 0, 0, 1,
         NULL},
        {"or", "https://notopenrouter.ai/api/v1", "m", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_GENERIC, 0, 0, 0,
         NULL},
        {"gemini", "https://example.com", "gemini-2.5-pro", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_GEMINI, 0, 0, 1,
         NULL},
        {"google", "https://generativelanguage.googleapis.com/v1beta/openai", "gemini-2.5-flash", NULL,
         CP_MAXTOK_AUTO, -1, CP_OAI_GEMINI, 0, 0, 1, NULL},
        {"gemini", "https://generativelanguage.googleapis.com/v1beta/openai", "gemini-3-pro", NULL,
         CP_MAXTOK_AUTO, 0, CP_OAI_GEMINI, 0, 0, 0, NULL},
        /* api.deepseek.com is the deepseek flavor now (it was generic) */
        {"deepseek", "https://api.deepseek.com", "deepseek-chat", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_DEEPSEEK,
         0, 0, 0, NULL},
        {"deepseek", "https://api.deepseek.com", "deepseek-reasoner", "[\"deepseek-r*\",\"*-reasoner\"]",
         CP_MAXTOK_AUTO, -1, CP_OAI_DEEPSEEK, 1, 1, 1, NULL},
        {"ds", "https://api.deepseek.com/v1", "deepseek-chat", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_DEEPSEEK, 0,
         0, 0, NULL},
        {"deepseek", "http://127.0.0.1:9000/v1", "deepseek-chat", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_DEEPSEEK,
         0, 0, 0, NULL},
        {"vllm", "http://127.0.0.1:8000/v1", "Qwen/QwQ-32B", "[\"qwq*\"]", CP_MAXTOK_AUTO, -1, CP_OAI_GENERIC,
         1, 1, 1, NULL},
        {"vllm", "http://127.0.0.1:8000/v1", "org/model", "[\"org/*\"]", CP_MAXTOK_AUTO, -1, CP_OAI_GENERIC,
         1, 1, 1, NULL},
        {"openai", "https://api.openai.com/v1", "gpt-4.1", NULL, CP_MAXTOK_MAX_TOKENS, -1, CP_OAI_OPENAI, 0,
         0, 0, NULL},
        {"openai", "https://api.openai.com/v1", "o3", NULL, CP_MAXTOK_MAX_TOKENS, 0, CP_OAI_OPENAI, 1, 0, 0,
         NULL},
        {"ollama", "http://localhost:11434/v1", "llama3", NULL, CP_MAXTOK_MAX_COMPLETION_TOKENS, 1,
         CP_OAI_GENERIC, 0, 1, 1, NULL},
        {"ollama", "http://localhost:11434/v1", "llama3", "[]", CP_MAXTOK_AUTO, -1, CP_OAI_GENERIC, 0, 0, 0,
         NULL},
        /* a provider named like a flavor is that flavor whatever its host */
        {"openai", "http://relay.corp.example/v1", "gpt-4.1", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENAI, 0, 1,
         0, NULL},
        {"OpenAI", "https://openrouter.ai/api/v1", "gpt-4.1", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENAI, 0, 1,
         0, NULL},
        {"generic", "https://api.openai.com/v1", "gpt-4.1", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_GENERIC, 0, 0, 0,
         NULL},
        /* the flavor key wins over the name and the host */
        {"openai", "https://api.openai.com/v1", "gpt-4.1", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_GENERIC, 0, 0, 0,
         "generic"},
        {"corp", "https://relay.corp.example/v1", "gpt-4.1", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENAI, 0, 1, 0,
         "openai"},
        {"corp", "https://relay.corp.example/v1", "o3", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENAI, 1, 1, 1,
         "OpenAI"},
        {"gemini", "https://generativelanguage.googleapis.com", "gemini-2.5-pro", NULL, CP_MAXTOK_AUTO, -1,
         CP_OAI_OPENROUTER, 0, 0, 1, "openrouter"},
        {"x", "http://127.0.0.1:8000/v1", "m", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_DEEPSEEK, 0, 0, 0,
         "deepseek"},
        /* an unknown flavor key (the loader rejects it) falls back to detection */
        {"x", "https://api.openai.com/v1", "m", NULL, CP_MAXTOK_AUTO, -1, CP_OAI_OPENAI, 0, 1, 0, "bogus"},
    };
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cp_provider_t p = {0};
        cp_oai_opts_t o;

        p.name = (char *)cases[i].name;
        p.base_url = (char *)cases[i].url;
        p.flavor = (char *)cases[i].flavor_key;
        p.reasoning_models = cases[i].globs != NULL
                                 ? json_loads(cases[i].globs, 0, NULL)
                                 : json_pack("[s,s,s,s]", "o1*", "o3*", "o4*", "gpt-5*"); /* the default */
        p.max_tokens_field = cases[i].maxtok;
        p.reasoning_effort = cases[i].reff;
        cp_oai_opts_for(&p, cases[i].model, &o);
        if (o.fl == NULL || o.fl->id != cases[i].flavor || o.reasoning_model != cases[i].rm ||
            o.max_completion != cases[i].mc || o.reasoning_effort != cases[i].re || o.provider != p.name) {
            fprintf(stderr, "opts_for %s %s %s: got flavor=%d rm=%u mc=%u re=%u, want %d %u %u %u\n",
                    cases[i].name, cases[i].url, cases[i].model, o.fl != NULL ? (int)o.fl->id : -1,
                    o.reasoning_model, o.max_completion, o.reasoning_effort, cases[i].flavor, cases[i].rm,
                    cases[i].mc, cases[i].re);
            bad++;
        }
        json_decref(p.reasoning_models);
    }
    assert_int_equal(bad, 0);
}

/* The table itself: ids in order, names unique and findable, every row's fields as documented in
 * docs/providers.md ("Flavors (OpenAI-compatible servers)"). */
static void test_flavor_table(void **s)
{
    char names[256];

    (void)s;
    for (int i = 0; i < CP_OAI_FLAVORS; i++) {
        const cp_oai_flavor_t *f = cp_oai_flavor_get((enum cp_oai_flavor_id)i);
        char upper[32];
        size_t k;

        assert_int_equal(f->id, i);
        assert_ptr_equal(cp_oai_flavor_find(f->name), f);
        for (k = 0; f->name[k] != '\0' && k + 1 < sizeof(upper); k++)
            upper[k] = (char)toupper((unsigned char)f->name[k]);
        upper[k] = '\0';
        assert_ptr_equal(cp_oai_flavor_find(upper), f); /* case-insensitive */
    }
    assert_int_equal(cp_oai_flavor_get((enum cp_oai_flavor_id)99)->id, CP_OAI_GENERIC);
    assert_null(cp_oai_flavor_find(NULL));
    assert_null(cp_oai_flavor_find(""));
    assert_null(cp_oai_flavor_find("openai "));
    cp_oai_flavor_names(names, sizeof(names));
    assert_string_equal(names, "\"generic\", \"openai\", \"gemini\", \"openrouter\" or \"deepseek\"");
    cp_oai_flavor_names(names, 10); /* cut, still terminated */
    assert_string_equal(names, "\"generic\"");
    cp_oai_flavor_names(names, 0); /* writes nothing */

    assert_int_equal(cp_oai_flavor_get(CP_OAI_GENERIC)->stop_max, 0);
    assert_int_equal(cp_oai_flavor_get(CP_OAI_OPENAI)->stop_max, 4);
    assert_int_equal(cp_oai_flavor_get(CP_OAI_DEEPSEEK)->stop_max, 16);
    assert_int_equal(cp_oai_flavor_get(CP_OAI_DEEPSEEK)->history, CP_OAI_HIST_CONTENT);
    assert_int_equal(cp_oai_flavor_get(CP_OAI_OPENAI)->history, CP_OAI_HIST_NONE);
    assert_string_equal(cp_oai_flavor_get(CP_OAI_GEMINI)->root_path, "/v1beta/openai");
    assert_null(cp_oai_flavor_get(CP_OAI_GENERIC)->host);
    assert_false(cp_oai_flavor_get(CP_OAI_GENERIC)->key_required);
    for (int i = CP_OAI_OPENAI; i < CP_OAI_FLAVORS; i++)
        assert_true(cp_oai_flavor_get((enum cp_oai_flavor_id)i)->key_required); /* public APIs */
}

/* ---- cp_oai_request: table ---------------------------------------------------------------------- */

#define GEN CP_OAI_GENERIC
#define OAI CP_OAI_OPENAI
#define GEM CP_OAI_GEMINI
#define ORT CP_OAI_OPENROUTER
#define DSK CP_OAI_DEEPSEEK

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

/* A conversation with thinking before a tool call, and its translations with and without
 * reasoning_content; five stop sequences; a token limit. For the flavor-selection cases. */
#define H_THINK_TOOL                                                                                         \
    "'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'thinking','thinking'" \
    ":"                                                                                                      \
    "'th','signature':'s1'},{'type':'tool_use','id':'t1','name':'f','input':{}}]},{'role':'user','content':" \
    "[{'type':'tool_result','tool_use_id':'t1','content':'r'}]}],'max_tokens':100,'stop_sequences':['a','b'" \
    ","                                                                                                      \
    "'c','d','e']"
#define W_CALL "{'id':'t1','type':'function','function':{'name':'f','arguments':'{}'}}"
#define W_TOOL "{'role':'tool','tool_call_id':'t1','content':'r'}"
#define W_THINK_TOOL_CONTENT                                                                                 \
    "'model':'up','messages':[{'role':'user','content':'q'},{'role':'assistant','content':null,"             \
    "'tool_calls':[" W_CALL "],'reasoning_content':'th'}," W_TOOL "]"
#define W_THINK_TOOL_NONE                                                                                    \
    "'model':'up','messages':[{'role':'user','content':'q'},{'role':'assistant','content':null,"             \
    "'tool_calls':[" W_CALL "]}," W_TOOL "]"

struct req_case {
    const char *name;
    enum cp_oai_flavor_id flavor;
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

    /* DeepSeek */
    {"DeepSeek: stop: first 16, empty strings skipped", DSK, 0, 0, 0,
     "{" U_HI ",'stop_sequences':['1','2','3','4','5','6','7','8','','9','10','11','12','13','14','15','16',"
     "'17']}",
     "{" W_HI ",'stop':['1','2','3','4','5','6','7','8','9','10','11','12','13','14','15','16']}"},
    {"DeepSeek: reasoning_content on tool-call turns, not on plain ones", DSK, 0, 0, 0,
     "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'thinking','thinking'"
     ":'only','signature':''},{'type':'text','text':'plain'}]},{'role':'user','content':'go'},{'role':"
     "'assistant','content':[{'type':'thinking','thinking':'th','signature':'s1'},{'type':'tool_use','id':"
     "'t1','name':'f','input':{}}]},{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1',"
     "'content':'r'}]}]}",
     "{'model':'up','messages':[{'role':'user','content':'q'},{'role':'assistant','content':'plain'},{'role':"
     "'user','content':'go'},{'role':'assistant','content':null,'tool_calls':[" W_CALL "],"
     "'reasoning_content':'th'}," W_TOOL "]}"},
    {"DeepSeek: max_tokens, user, parallel_tool_calls, strict", DSK, 0, 0, 0,
     "{" U_HI ",'max_tokens':8192,'metadata':{'user_id':'u-1'},'tools':[{'name':'get','strict':true}],"
     "'tool_choice':{'type':'auto','disable_parallel_tool_use':true}}",
     "{" W_HI ",'max_tokens':8192,'user':'u-1','tools':[{'type':'function','function':{'name':'get',"
     "'strict':true}}],'tool_choice':'auto','parallel_tool_calls':false}"},
    {"DeepSeek: disabled -> none", DSK, 1, 0, 1, "{" U_HI ",'thinking':{'type':'disabled'}}",
     "{" W_HI ",'reasoning_effort':'none'}"},
    {"DeepSeek: xhigh clipped to high", DSK, 1, 0, 1,
     "{" U_HI ",'thinking':{'type':'adaptive'},'output_config':{'effort':'xhigh'}}",
     "{" W_HI ",'reasoning_effort':'high'}"},
    {"DeepSeek: reasoning model keeps stop", DSK, 1, 1, 1, "{" U_HI ",'stop_sequences':['END']}",
     "{" W_HI ",'stop':['END']}"},
};

/* Flavor selection, end to end: the options come from cp_oai_opts_for() for a provider with this
 * name, baseURL and flavor key (NULL: none), the default reasoning-model globs and the model "up".
 * The flavor key wins, then the provider's name, then the host. */
static const struct prov_case {
    const char *name;
    enum cp_oai_flavor_id flavor; /* what detection must give */
    const char *pname, *url, *pflavor;
    const char *anth, *want;
} prov_cases[] = {
    {"DeepSeek detected by host", DSK, "ds", "https://api.deepseek.com/v1", NULL, "{" H_THINK_TOOL "}",
     "{" W_THINK_TOOL_CONTENT ",'max_tokens':100,'stop':['a','b','c','d','e']}"},
    {"api.openai.com without a flavor key: OpenAI rules", OAI, "work", "https://api.openai.com/v1", NULL,
     "{" H_THINK_TOOL "}", "{" W_THINK_TOOL_NONE ",'max_completion_tokens':100,'stop':['a','b','c','d']}"},
    {"flavor generic on api.openai.com: generic rules", GEN, "openai", "https://api.openai.com/v1", "generic",
     "{" H_THINK_TOOL "}", "{" W_THINK_TOOL_CONTENT ",'max_tokens':100,'stop':['a','b','c','d','e']}"},
    {"flavor openai on a corporate relay: OpenAI rules", OAI, "corp",
     "https://llm-gateway.corp.example/openai/v1", "openai", "{" H_THINK_TOOL "}",
     "{" W_THINK_TOOL_NONE ",'max_completion_tokens':100,'stop':['a','b','c','d']}"},
    {"provider named openai on a relay: OpenAI rules, no reasoning_content", OAI, "openai",
     "http://relay.corp.example/v1", NULL, "{" H_THINK_TOOL "}",
     "{" W_THINK_TOOL_NONE ",'max_completion_tokens':100,'stop':['a','b','c','d']}"},
    {"a relay without a flavor is generic", GEN, "corp", "http://relay.corp.example/v1", NULL,
     "{" H_THINK_TOOL "}", "{" W_THINK_TOOL_CONTENT ",'max_tokens':100,'stop':['a','b','c','d','e']}"},
    {"flavor deepseek on a local server: deepseek rules, reasoning_content", DSK, "local",
     "http://127.0.0.1:8000/v1", "deepseek", "{" H_THINK_TOOL "}",
     "{" W_THINK_TOOL_CONTENT ",'max_tokens':100,'stop':['a','b','c','d','e']}"},
};

/* Translates <anth_text> (without "model") with <o> and compares with <want_text>; <name> labels
 * failures. Returns 1 when the body is as wanted and passes check_body(). */
static int run_request(const char *name, const cp_oai_opts_t *o, const char *anth_text, const char *want_text)
{
    json_t *anth = unit_jq(anth_text), *want = unit_jq(want_text), *got;
    cp_oai_names_t *names = (cp_oai_names_t *)&names; /* must be overwritten */
    cp_err_t e = {0};
    int ok = 1;

    json_object_set_new(anth, "model", json_string("claude-x"));
    got = cp_oai_request(anth, "up", o, &names, &e);
    if (got == NULL) {
        fprintf(stderr, "%s: failed: %d %s\n", name, e.http_status, e.msg);
        ok = 0;
    } else {
        ok = unit_same_json(name, got, want);
        if (names == NULL) {
            fprintf(stderr, "%s: names map NULL on success\n", name);
            ok = 0;
        }
        if (check_body(got, o->fl->id) != 0) {
            fprintf(stderr, "%s: body check failed\n", name);
            ok = 0;
        }
    }
    cp_oai_names_free(names);
    json_decref(anth);
    json_decref(want);
    json_decref(got);
    return ok;
}

static int run_req_case(const struct req_case *c)
{
    cp_oai_opts_t o = opts(c->flavor, c->rm, c->mc, c->re);

    return run_request(c->name, &o, c->anth, c->want);
}

static int run_prov_case(const struct prov_case *c)
{
    cp_provider_t p = {0};
    cp_oai_opts_t o;
    int ok;

    p.name = (char *)c->pname;
    p.base_url = (char *)c->url;
    p.flavor = (char *)c->pflavor;
    p.reasoning_models = json_pack("[s,s,s,s]", "o1*", "o3*", "o4*", "gpt-5*");
    p.reasoning_effort = -1;
    cp_oai_opts_for(&p, "up", &o);
    ok = run_request(c->name, &o, c->anth, c->want);
    if (o.fl->id != c->flavor) {
        fprintf(stderr, "%s: flavor %s, want %s\n", c->name, o.fl->name, cp_oai_flavor_get(c->flavor)->name);
        ok = 0;
    }
    json_decref(p.reasoning_models);
    return ok;
}

static void test_request_table(void **s)
{
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++)
        bad += !run_req_case(&req_cases[i]);
    for (size_t i = 0; i < sizeof(prov_cases) / sizeof(prov_cases[0]); i++)
        bad += !run_prov_case(&prov_cases[i]);
    if (bad)
        fail_msg("%d of %zu request cases failed", bad,
                 sizeof(req_cases) / sizeof(req_cases[0]) + sizeof(prov_cases) / sizeof(prov_cases[0]));
}

/* ---- cp_oai_request: refusals ------------------------------------------------------------------- */

static void test_request_errors(void **s)
{
    static const struct {
        enum cp_oai_flavor_id flavor;
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
        {DSK, 0,
         "{'messages':[{'role':'user','content':[{'type':'document','source':{'type':'base64','media_type':"
         "'application/pdf','data':'JVB'}}]}]}",
         "messages.0.content.0: PDF documents are not supported by provider p"},
        {DSK, 1, "{" U_HI ",'tools':[{'type':'web_search_20250305','name':'web_search'}]}",
         "web_search_20250305"},
    };
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cp_oai_opts_t o = opts(cases[i].flavor, cases[i].rm, 0, 1);
        json_t *anth = unit_jq(cases[i].anth), *got;
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
    anth = unit_jq(body);
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
    anth = unit_jq(
        "{'model':'m','messages':[{'role':'user','content':'x'},{'role':'assistant','content':[{'type':"
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
            unit_jq("{'choices':[{'message':{'role':'assistant','content':null,'tool_calls':[{'id':'c1',"
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

static const struct {
    const char *name, *flavor_file, *model;
    enum cp_oai_flavor_id flavor;
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
        } else if (!unit_same_json(out, got, want) || check_body(got, req_golden[i].flavor) != 0) {
            bad++;
        }
        cp_oai_names_free(names);
        json_decref(anth);
        json_decref(want);
        json_decref(got);
    }
    assert_int_equal(bad, 0);
}

/* The Claude Code-shaped request (tests/fixtures/oai/req-claude-code.anthropic.json) toward every flavor:
 * only allowed keys, tool messages in place, every tool kept, nothing Anthropic-only left over. */
static void test_claude_code_shape(void **s)
{
    static const char *const roles[] = {"system", "user", "system", "assistant", "tool", "assistant",
                                        "tool",   "tool", "user",   "assistant", "user"};
    json_t *anth = fixture("req-claude-code.anthropic.json");

    (void)s;
    for (int f = CP_OAI_GENERIC; f < CP_OAI_FLAVORS; f++) {
        cp_oai_opts_t o = opts((enum cp_oai_flavor_id)f, f == CP_OAI_OPENAI, 1, 1);
        cp_oai_names_t *names = NULL;
        cp_err_t e = {0};
        json_t *b = cp_oai_request(anth, "up", &o, &names, &e);
        json_t *msgs, *t;
        size_t i, j;

        if (b == NULL)
            fail_msg("flavor %d: %s", f, e.msg);
        assert_int_equal(check_body(b, (enum cp_oai_flavor_id)f), 0);
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
        json_t *in = unit_jq(cases[i].in), *want = unit_jq(cases[i].want);
        json_t *before = json_deep_copy(in);
        json_t *got = cp_oai_gemini_schema(in);

        bad += !unit_same_json(cases[i].name, got, want);
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
    json_t *tree =
        unit_jq("{'$ref':'#/$defs/Node','$defs':{'Node':{'type':'object','properties':{'name':{'type':"
                "'string'},'left':{'$ref':'#/$defs/Node'},'right':{'$ref':'#/$defs/Node'}}}}}");
    json_t *self = unit_jq("{'$ref':'#'}");
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
        bad += !unit_same_json(out, got, want);
        json_decref(src);
        json_decref(want);
        json_decref(got);
    }
    assert_int_equal(bad, 0);
}

/* ---- integers beyond 64 bits ------------------------------------------------------------------- */

/* A client body with integers jansson cannot hold as integers is accepted (they are read as reals),
 * and a tool input holding one reaches the upstream as arguments that read back to the same value;
 * ordinary integers stay integers on the way. */
static void test_request_huge_integers(void **s)
{
    static const char body[] =
        "{\"model\":\"m\",\"max_tokens\":1024,\"metadata\":{\"x\":9949578379265081000},"
        "\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":[{\"type\":"
        "\"tool_use\",\"id\":\"t1\",\"name\":\"f\",\"input\":{\"n\":123456789012345678901234567890,"
        "\"neg\":-99999999999999999999,\"k\":1,\"seed\":9949578379265081000}}]},{\"role\":\"user\","
        "\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"content\":\"r\"}]}]}";
    cp_oai_opts_t o = opts(GEN, 0, 0, 0);
    cp_oai_names_t *names = NULL;
    cp_err_t e = {0};
    json_t *anth = cp_anth_parse(body, sizeof(body) - 1, &e), *got, *args, *input;
    const char *a;

    (void)s;
    assert_non_null(anth);
    assert_int_equal(cp_anth_validate(anth, CP_ANTH_MESSAGES, &e), CP_OK);
    got = cp_oai_request(anth, "up", &o, &names, &e);
    assert_non_null(got);
    assert_int_equal(check_body(got, GEN), 0);
    assert_int_equal(json_integer_value(json_object_get(got, "max_tokens")), 1024);
    a = json_string_value(json_object_get(
        json_object_get(
            json_array_get(json_object_get(json_array_get(json_object_get(got, "messages"), 1), "tool_calls"),
                           0),
            "function"),
        "arguments"));
    assert_non_null(a);
    assert_non_null(strstr(a, "\"k\":1,")); /* still an integer */
    args = json_loads(a, 0, NULL);
    input = json_object_get(
        json_array_get(json_object_get(json_array_get(json_object_get(anth, "messages"), 1), "content"), 0),
        "input");
    assert_non_null(args);
    assert_true(json_equal(args, input));
    assert_true(json_is_real(json_object_get(args, "n")));
    assert_true(json_real_value(json_object_get(args, "n")) == 123456789012345678901234567890.0);
    assert_true(json_real_value(json_object_get(args, "seed")) == 9949578379265081000.0);
    assert_true(json_real_value(json_object_get(args, "neg")) == -99999999999999999999.0);
    json_decref(args);
    cp_oai_names_free(names);
    json_decref(got);
    json_decref(anth);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts_for),
        cmocka_unit_test(test_flavor_table),
        cmocka_unit_test(test_request_table),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_request_golden),
        cmocka_unit_test(test_claude_code_shape),
        cmocka_unit_test(test_gemini_schema_table),
        cmocka_unit_test(test_gemini_schema_recursion),
        cmocka_unit_test(test_gemini_schema_fixtures),
        cmocka_unit_test(test_request_huge_integers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
