/* lib/prov/cp_prov_err.h: an upstream error -> the Anthropic error the client sees.
 *
 * Shared by every adapter: the error bodies of OpenAI, OpenRouter, Gemini, Anthropic, vLLM, Ollama,
 * llama.cpp and FastAPI servers, JSON or not (an HTML page from a gateway), are mapped to the status
 * and error.type of docs/protocol-notes.md ("Errors"), with the upstream's own message kept (made
 * printable, cut to 400 bytes, key-like strings replaced by "[redacted]") and the provider named. A
 * context overflow becomes "prompt is too long: N tokens > M maximum", the text Claude Code reacts
 * to. Pure. */
#ifndef CP_PROV_ERR_H
#define CP_PROV_ERR_H

#include <stddef.h>

#include <jansson.h>

#include "cp_common.h"

/* Maps a non-2xx upstream answer: HTTP <status>, <body> (<len> bytes; may be empty, JSON of any of
 * the shapes above, or not JSON at all). <provider> NULL reads "upstream". Never fails. */
void cp_prov_error(long status, const char *body, size_t len, const char *provider, cp_err_t *e);

/* Whether the non-2xx answer <status>/<body> says the prompt does not fit the model's context window
 * (what cp_prov_error maps to "prompt is too long"), whatever the provider's style. */
int cp_prov_error_overflow(long status, const char *body, size_t len);

/* Maps an error reported inside a 2xx answer or a stream: <err> (borrowed) is the value of an
 * "error" member (object or string); the status comes from its numeric code / status_code, else its
 * code, type or Google status word, else 500. */
void cp_prov_error_value(const json_t *err, const char *provider, cp_err_t *e);

#endif
