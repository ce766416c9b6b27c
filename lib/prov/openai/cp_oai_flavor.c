/* lib/prov/openai/cp_oai_flavor.c: see cp_oai_flavor.h. The table is the one place that knows how
 * the OpenAI-compatible servers differ; docs/providers.md ("Flavors (OpenAI-compatible servers)") explains
 * each row and field. */
#include "cp_oai_flavor.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cp_url.h"

/* clang-format off */
static const cp_oai_flavor_t oai_flavors[CP_OAI_FLAVORS] = {
    /* Anything that speaks Chat Completions: be liberal, send what most servers understand. */
    [CP_OAI_GENERIC] = {
        .id = CP_OAI_GENERIC, .name = "generic",
        .stop_max = 0, .reasoning = CP_OAI_RS_EFFORT, .history = CP_OAI_HIST_CONTENT,
        .stop_reasoning = 1, .parallel = 1, .user = 1, .strict = 1, .effort_none = 1,
    },
    /* api.openai.com: strict parser; max_completion_tokens; o-series and gpt-5 reject "stop" and
     * reasoning_effort "none"; no vendor fields such as reasoning_content. */
    [CP_OAI_OPENAI] = {
        .id = CP_OAI_OPENAI, .name = "openai", .host = "api.openai.com",
        .stop_max = 4, .reasoning = CP_OAI_RS_EFFORT, .history = CP_OAI_HIST_NONE,
        .key_required = 1, .max_completion = 1, .parallel = 1, .user = 1, .strict = 1, .pdf = 1,
        .cache_key = 1,
    },
    /* generativelanguage.googleapis.com/v1beta/openai: rejects unknown fields ("user", "strict",
     * "parallel_tool_calls"), takes a subset of JSON Schema, wants the function name on tool messages. */
    [CP_OAI_GEMINI] = {
        .id = CP_OAI_GEMINI, .name = "gemini", .host = "generativelanguage.googleapis.com",
        .root_path = "/v1beta/openai",
        .stop_max = 4, .reasoning = CP_OAI_RS_EFFORT, .history = CP_OAI_HIST_NONE,
        .key_required = 1, .stop_reasoning = 1, .tool_name = 1, .schema_subset = 1, .reason_all = 1,
        .effort_none = 1,
    },
    /* openrouter.ai: its own reasoning object, reasoning_details for the history, xhigh effort. */
    [CP_OAI_OPENROUTER] = {
        .id = CP_OAI_OPENROUTER, .name = "openrouter", .host = "openrouter.ai",
        .stop_max = 4, .reasoning = CP_OAI_RS_OBJECT, .history = CP_OAI_HIST_DETAILS,
        .key_required = 1, .stop_reasoning = 1, .parallel = 1, .user = 1, .strict = 1, .reason_all = 1,
        .effort_none = 1, .effort_xhigh = 1,
    },
    /* api.deepseek.com: reasoning_content must come back on tool-call turns of deepseek-reasoner. */
    [CP_OAI_DEEPSEEK] = {
        .id = CP_OAI_DEEPSEEK, .name = "deepseek", .host = "api.deepseek.com",
        .stop_max = 16, .reasoning = CP_OAI_RS_EFFORT, .history = CP_OAI_HIST_CONTENT,
        .key_required = 1, .stop_reasoning = 1, .parallel = 1, .user = 1, .strict = 1, .effort_none = 1,
    },
};
/* clang-format on */

const cp_oai_flavor_t *cp_oai_flavor_get(enum cp_oai_flavor_id id)
{
    return (unsigned)id < CP_OAI_FLAVORS ? &oai_flavors[id] : &oai_flavors[CP_OAI_GENERIC];
}

const cp_oai_flavor_t *cp_oai_flavor_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < CP_OAI_FLAVORS; i++)
        if (strcasecmp(oai_flavors[i].name, name) == 0)
            return &oai_flavors[i];
    return NULL;
}

void cp_oai_flavor_names(char *buf, size_t n)
{
    size_t len = 0;

    if (n == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < CP_OAI_FLAVORS && len < n; i++) {
        const char *sep = i == 0 ? "" : i + 1 == CP_OAI_FLAVORS ? " or " : ", ";
        int w = snprintf(buf + len, n - len, "%s\"%s\"", sep, oai_flavors[i].name);

        if (w < 0)
            break;
        len += (size_t)w; /* may pass n: the loop then stops, and snprintf has cut and terminated */
    }
}

const cp_oai_flavor_t *cp_oai_flavor_of(const cp_provider_t *p)
{
    const cp_oai_flavor_t *f = cp_oai_flavor_find(p->flavor);

    if (f == NULL)
        f = cp_oai_flavor_find(p->name);
    for (size_t i = 0; f == NULL && i < CP_OAI_FLAVORS; i++)
        if (oai_flavors[i].host != NULL && cp_url_host_is(p->base_url, oai_flavors[i].host))
            f = &oai_flavors[i];
    return f != NULL ? f : &oai_flavors[CP_OAI_GENERIC];
}

void cp_oai_opts_for(const cp_provider_t *p, const char *model, cp_oai_opts_t *o)
{
    const char *slash = model != NULL ? strrchr(model, '/') : NULL;
    const char *base = slash != NULL ? slash + 1 : model;
    size_t i;
    json_t *g; /* borrowed from p->reasoning_models */

    memset(o, 0, sizeof(*o));
    o->provider = p->name;
    o->fl = cp_oai_flavor_of(p);
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
        o->max_completion = o->fl->max_completion || o->reasoning_model;
    if (p->reasoning_effort == 0 || p->reasoning_effort == 1)
        o->reasoning_effort = p->reasoning_effort == 1;
    else
        o->reasoning_effort = o->reasoning_model || o->fl->reason_all;
}
