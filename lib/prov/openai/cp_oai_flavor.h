/* lib/prov/openai/cp_oai_flavor.h: the OpenAI-compatible flavors, as data.
 *
 * Every server that speaks Chat Completions differs in small ways: which output-token field it wants,
 * how many stop sequences it takes, whether it knows "user" or "parallel_tool_calls", how reasoning is
 * asked for and given back. Each such difference is one field of cp_oai_flavor_t, and each flavor is
 * one row of the table in cp_oai_flavor.c. Translation code asks the row (o->fl->user), never the
 * flavor's name or id, so adding a flavor is adding a row (docs/providers.md, "Flavors (OpenAI-compatible
 * servers)"). Pure. */
#ifndef CP_OAI_FLAVOR_H
#define CP_OAI_FLAVOR_H

#include "cp_provider.h"

/* Row ids, for tests and the table's order; library code never compares them. (The tag is not
 * cp_oai_flavor: enum and struct tags share one namespace.) */
enum cp_oai_flavor_id {
    CP_OAI_GENERIC = 0, /* any OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio, ...) */
    CP_OAI_OPENAI,      /* OpenAI itself, or a relay in front of it */
    CP_OAI_GEMINI,      /* Google's OpenAI-compatible endpoint */
    CP_OAI_OPENROUTER,  /* OpenRouter */
    CP_OAI_DEEPSEEK,    /* DeepSeek's API */
    CP_OAI_FLAVORS
};

enum cp_oai_reasoning_shape {
    CP_OAI_RS_EFFORT = 0, /* "reasoning_effort": "low" | "medium" | "high" [| "none" | "xhigh"] */
    CP_OAI_RS_OBJECT,     /* OpenRouter's "reasoning": {effort | max_tokens | enabled, exclude} */
};

enum cp_oai_history {
    CP_OAI_HIST_NONE = 0, /* earlier thinking is not sent back */
    CP_OAI_HIST_CONTENT,  /* "reasoning_content" on assistant turns with tool calls (DeepSeek, vLLM) */
    CP_OAI_HIST_DETAILS,  /* OpenRouter's "reasoning_details" (text + signature) */
};

typedef struct cp_oai_flavor {
    enum cp_oai_flavor_id id;
    const char *name;        /* the value of providers.<name>.flavor, and the provider name that selects it */
    const char *host;        /* a baseURL on this host (or a subdomain) selects it; NULL: never by host */
    const char *root_path;   /* inserted before /chat/completions when baseURL has no path; NULL: none */
    unsigned stop_max;       /* most stop sequences sent; 0: all */
    unsigned char reasoning; /* enum cp_oai_reasoning_shape */
    unsigned char history;   /* enum cp_oai_history */
    unsigned key_required : 1;   /* a public API: a request without a key cannot work (400 before sending) */
    unsigned max_completion : 1; /* the output-token field is max_completion_tokens (else max_tokens) */
    unsigned stop_reasoning : 1; /* reasoning models accept "stop" (else: 400 before sending) */
    unsigned parallel : 1;       /* "parallel_tool_calls" accepted */
    unsigned user : 1;           /* "user" accepted */
    unsigned cache_key : 1;      /* "prompt_cache_key" accepted (the session's cache, docs/resilience.md) */
    unsigned strict : 1;         /* function "strict" accepted */
    unsigned tool_name : 1;      /* tool messages must carry the function "name" */
    unsigned schema_subset : 1;  /* JSON schemas reduced to Gemini's subset (cp_oai_schema.h) */
    unsigned pdf : 1;            /* PDF documents as "file" content parts */
    unsigned reason_all : 1;     /* reasoning is asked for on every model, not only reasoning models */
    unsigned effort_none : 1;    /* thinking disabled can be said ("none"); else nothing is sent */
    unsigned effort_xhigh : 1;   /* "xhigh" accepted; else Anthropic's xhigh/max become "high" */
} cp_oai_flavor_t;

/* The row with id <id> (CP_OAI_GENERIC for an unknown id). */
const cp_oai_flavor_t *cp_oai_flavor_get(enum cp_oai_flavor_id id);

/* The row named <name> (case-insensitive), or NULL (also for a NULL <name>). */
const cp_oai_flavor_t *cp_oai_flavor_find(const char *name);

/* Writes every row's name, quoted, into <buf> (<n> bytes, always NUL-terminated when <n> > 0):
 * "\"generic\", \"openai\", ... or \"deepseek\"", for error messages. */
void cp_oai_flavor_names(char *buf, size_t n);

/* The flavor of provider <p>: its "flavor" key when set (and known), else the row named like the
 * provider (a provider named "openai" is OpenAI whatever its host), else the row whose host the baseURL
 * is on (that host or a subdomain), else generic. Never NULL. */
const cp_oai_flavor_t *cp_oai_flavor_of(const cp_provider_t *p);

/* What one provider + upstream model accepts. Filled by cp_oai_opts_for(); tests may fill it by hand. */
typedef struct cp_oai_opts {
    const char *provider;          /* provider name, for error messages; borrowed */
    const cp_oai_flavor_t *fl;     /* never NULL once filled */
    unsigned reasoning_model : 1;  /* o1/o3/o4/gpt-5 style: no non-default temperature/top_p, etc. */
    unsigned max_completion : 1;   /* send the token limit as max_completion_tokens (else max_tokens) */
    unsigned reasoning_effort : 1; /* thinking -> the flavor's reasoning request */
} cp_oai_opts_t;

/* Decides <o> for provider <p> and upstream model <model> (matched against p->reasoning_models globs,
 * also after any "vendor/" prefix), honouring p->max_tokens_field and p->reasoning_effort. Borrows
 * <p> for as long as <o> is used. */
void cp_oai_opts_for(const cp_provider_t *p, const char *model, cp_oai_opts_t *o);

#endif
