/* lib/prov/openai/cp_oai_req.h: Anthropic Messages request -> OpenAI Chat Completions request.
 *
 * Pure: the same Anthropic request and flavor always give the same upstream body (shortened tool
 * names too). Information with no Chat Completions equivalent is dropped by rule (cache_control,
 * top_k, service_tier, container, citations, redacted_thinking, ...) or, when losing it would change
 * the answer, refused with a 400 naming the feature (server tools, Files API ids, document URLs, PDFs
 * toward flavors that take none, mcp_servers, stop sequences toward reasoning models that reject
 * them). Every rule and the choices made where the protocol leaves room are in docs/providers.md
 * ("Requests"); each has a table-driven test in tests/unit/test_oai_req.c. */
#ifndef CP_OAI_REQ_H
#define CP_OAI_REQ_H

#include <jansson.h>

#include "cp_common.h"
#include "cp_oai_flavor.h"
#include "cp_oai_names.h"

/* Builds the Chat Completions body for the validated Anthropic request <anth> (borrowed), with
 * <upstream_model> as "model". Copies "stream" and, when streaming, asks for
 * stream_options.include_usage. Returns new, with *<names> set (returns new, never NULL on success),
 * or NULL with a 400 invalid_request_error in <e>. */
json_t *cp_oai_request(const json_t *anth, const char *upstream_model, const cp_oai_opts_t *o,
                       cp_oai_names_t **names, cp_err_t *e);

/* The top-level fields of <anth> that have no Chat Completions equivalent, as "a,b,c" in <buf>
 * (empty when none), for a debug log line. */
void cp_oai_request_dropped(const json_t *anth, char *buf, size_t n);

/* Lowers the output-token field of the Chat Completions body <body> to <cap> when it is above.
 * Returns 1 if it changed. */
int cp_oai_request_cap(json_t *body, long cap);

/* The output-token cap an upstream 400 body names ("supports at most 16384 completion tokens"), or
 * 0 when it names none. */
long cp_oai_cap_named(const char *body);

#endif
