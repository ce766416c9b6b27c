/* lib/prov/cp_provider.h: one configured upstream provider, as a plain value type.
 *
 * Filled by the config loader (lib/base/cp_config.c), read-only afterwards, and read by the adapters
 * (lib/prov/). It lives in a config snapshot: a request borrows it for as long as it holds its
 * reference to that snapshot. Types only. */
#ifndef CP_PROVIDER_H
#define CP_PROVIDER_H

#include <jansson.h>

/* The response style: which adapter speaks to the provider (the table in lib/prov/cp_prov.c). */
enum cp_style {
    CP_STYLE_OPENAI = 0, /* OpenAI Chat Completions */
    CP_STYLE_ANTHROPIC,  /* Anthropic Messages passthrough */
    CP_STYLE_COUNT
};

enum cp_maxtok {
    CP_MAXTOK_AUTO = 0,              /* the flavor's field; max_completion_tokens for reasoning models */
    CP_MAXTOK_MAX_TOKENS,            /* always "max_tokens" */
    CP_MAXTOK_MAX_COMPLETION_TOKENS, /* always "max_completion_tokens" */
};

#define CP_PROVIDER_KEYS_MAX 16 /* keys in one provider's pool */

typedef struct cp_provider {
    char *name;                 /* the key under "providers" */
    char *base_url;             /* validated http(s) URL, no trailing slash */
    char *api_key;              /* NULL when the provider has no key (unconfigured); else keys[0] */
    char **keys;                /* the key pool: apiKey, then apiKeys, duplicates left out; owned */
    size_t nkeys;               /* 0 when no key; at most CP_PROVIDER_KEYS_MAX */
    char *api_key_env;          /* the fallback variable name, e.g. "OPENAI_API_KEY" */
    enum cp_style style;        /* responseStyle */
    char *flavor;               /* flavor: an OpenAI-style flavor name, NULL = detect (cp_oai_flavor.h) */
    json_t *headers;            /* extra upstream headers, object of strings; owned, never NULL */
    long connect_timeout_ms;    /* connectTimeoutMs */
    long first_byte_timeout_ms; /* firstByteTimeoutMs: status line + headers */
    long fallback_first_byte_timeout_ms; /* fallbackFirstByteTimeoutMs: the same when another candidate
                                            follows this one (the shorter of the two applies) */
    long idle_timeout_ms;                /* idleTimeoutMs: longest silence inside a body */
    json_t *reasoning_models; /* reasoningModels: array of glob patterns naming reasoning models; owned */
    int max_tokens_field;     /* maxTokensField: enum cp_maxtok */
    int reasoning_effort;     /* reasoningEffort: -1 auto, 0 never send, 1 always send */
    long max_output_tokens;   /* maxOutputTokens: cap on the output-token field; 0 = none */
    char *proxy;              /* proxy: a URL; "" = none even if the environment names one; NULL =
                                 libcurl's default (the *_proxy environment variables) */
} cp_provider_t;

#endif
