/* lib/cp_oai.h: Anthropic Messages <-> OpenAI Chat Completions translation, non-streaming parts.
 *
 * Pure: takes JSON in, gives JSON out; no libevent, no libcurl, no I/O. The rules are protocol.md
 * sections D, E and F; every rule has a table-driven test in tests/unit/test_oai.c.
 *
 * One request goes: cp_oai_opts_for() (what this provider/model accepts) -> cp_oai_request() (the
 * upstream body, plus the map of tool names that had to be shortened) -> upstream ->
 * cp_oai_response() on 2xx, or cp_oai_error() otherwise. */
#ifndef CP_OAI_H
#define CP_OAI_H

#include <stddef.h>

#include <jansson.h>

#include "cp_common.h"
#include "cp_config.h"

enum cp_oai_flavor {
    CP_OAI_GENERIC = 0, /* any OpenAI-compatible server (DeepSeek, vLLM, Ollama, llama.cpp, ...) */
    CP_OAI_OPENAI,      /* api.openai.com */
    CP_OAI_GEMINI,      /* Google's OpenAI-compatible endpoint */
    CP_OAI_OPENROUTER,  /* openrouter.ai */
};

/* What one provider + upstream model accepts. Filled by cp_oai_opts_for(); tests may fill it by hand. */
typedef struct cp_oai_opts {
    const char *provider; /* provider name, for error messages; borrowed */
    enum cp_oai_flavor flavor;
    unsigned reasoning_model : 1;  /* o1/o3/o4/gpt-5 style: no non-default temperature/top_p, etc. */
    unsigned max_completion : 1;   /* send the token limit as max_completion_tokens (else max_tokens) */
    unsigned reasoning_effort : 1; /* thinking -> reasoning_effort (OpenRouter: its reasoning object) */
} cp_oai_opts_t;

/* Decides <o> for provider <p> (its name/baseURL give the flavor: "gemini" or Google's host, "openrouter"
 * or openrouter.ai, api.openai.com, else generic) and upstream model <model> (matched against
 * p->reasoning_models globs, after any "vendor/" prefix), honouring p->max_tokens_field and
 * p->reasoning_effort. Borrows <p> for as long as <o> is used. */
void cp_oai_opts_for(const cp_provider_t *p, const char *model, cp_oai_opts_t *o);

/* Tool names as sent upstream -> the client's original names (names longer than 64 characters or with
 * characters outside [a-zA-Z0-9_-] are shortened reversibly). */
typedef struct cp_oai_names cp_oai_names_t;

/* Returns the client's name for <sent>, or <sent> itself when it was not renamed. Accepts map NULL. */
const char *cp_oai_names_original(const cp_oai_names_t *m, const char *sent);
void cp_oai_names_free(cp_oai_names_t *m); /* accepts NULL */

/* Builds the Chat Completions body for the validated Anthropic request <anth> (borrowed), with
 * <upstream_model> as "model". Copies "stream" and, when streaming, asks for
 * stream_options.include_usage. Returns new, with *names set (returns new, never NULL on success), or
 * NULL with a 400 invalid_request_error in <e> for a feature whose loss would change the answer
 * (server tools such as web_search, image/document file ids, PDFs toward non-OpenAI providers, ...). */
json_t *cp_oai_request(const json_t *anth, const char *upstream_model, const cp_oai_opts_t *o,
                       cp_oai_names_t **names, cp_err_t *e);

/* Translates a 2xx Chat Completions body <oai> (borrowed) into an Anthropic Message whose "model" is
 * <client_model>. Returns new, or NULL with <e> set: 502 api_error when the body is not a chat
 * completion or a tool call's arguments are not JSON; an error reported inside a 200 (OpenRouter
 * choice error) is mapped like cp_oai_error(). */
json_t *cp_oai_response(const json_t *oai, const char *client_model, const cp_oai_names_t *names,
                        const cp_oai_opts_t *o, cp_err_t *e);

/* Anthropic usage from an OpenAI "usage" object (protocol.md F.8): input excludes cached reads and cache
 * writes (clamped at 0); cached reads come from prompt_tokens_details.cached_tokens or DeepSeek's
 * prompt_cache_hit_tokens. Returns 1 when <u> reported prompt_tokens, else 0 (input is then 0). */
typedef struct cp_oai_usage {
    long long input, output, cache_read, cache_write;
} cp_oai_usage_t;
int cp_oai_usage_map(const json_t *u, cp_oai_usage_t *out);

/* Maps a non-2xx upstream answer (<body> may be empty, JSON of any of the OpenAI / OpenRouter /
 * Gemini shapes, or not JSON at all) to the Anthropic status and type of protocol.md F.9, with the
 * upstream's message kept and the provider named. Never copies anything that looks like a key. */
void cp_oai_error(long status, const char *body, size_t len, const char *provider, cp_err_t *e);

/* Returns new: <schema> (borrowed) reduced to the JSON Schema subset Gemini's function declarations
 * accept (protocol.md E.1): an allow-list of keywords, type arrays with "null" -> nullable, local
 * $ref inlined. */
json_t *cp_oai_gemini_schema(const json_t *schema);

#endif
