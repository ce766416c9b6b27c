/* lib/prov/openai/cp_oai_resp.h: OpenAI Chat Completions answer -> Anthropic answer, incrementally.
 *
 * One set of rules for streamed and whole answers: upstream bytes go in (an SSE stream of chunks in any
 * split, or one whole chat.completion JSON body), and the Anthropic answer comes out through the one
 * writer (cp_anth_out.h): as events for a streaming client, or as one Message for a non-streaming one.
 * A whole body fed in one piece, or split anywhere, gives the same Message as the same answer streamed
 * (tests/unit/test_oai_resp.c holds that parity). The rules are in docs/protocol-notes.md
 * ("Answers (OpenAI-style -> Anthropic)"): message_start first (with usage); block indices contiguous
 * from 0; thinking / text / tool_use in arrival order; tool calls keyed by index; arguments checked as
 * one JSON object (cp_jsonck.h) and never sent invalid; reasoning -> thinking (one source per delta:
 * OpenRouter sends the same text in two fields); finish_reason held until usage or [DONE] so the final
 * message_delta carries stop_reason and full usage; a mid-stream upstream error or an end without finishing
 * -> an Anthropic error, never an answer that looks complete. Pure: no I/O. */
#ifndef CP_OAI_RESP_H
#define CP_OAI_RESP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cp_anth_out.h"
#include "cp_buf.h"
#include "cp_common.h"
#include "cp_oai_flavor.h"
#include "cp_oai_names.h"

typedef struct cp_oai_resp cp_oai_resp_t;

/* Returns new. Borrows <names> (may be NULL) and <o> for its lifetime; copies <client_model>.
 * <input_tokens> is the estimate put in message_start until the upstream reports usage. <mode>:
 * CP_ANTH_OUT_SSE for a streaming client, CP_ANTH_OUT_MESSAGE for a whole Message. */
cp_oai_resp_t *cp_oai_resp_new(const char *client_model, const cp_oai_names_t *names, const cp_oai_opts_t *o,
                               int64_t input_tokens, enum cp_anth_out_mode mode);
void cp_oai_resp_free(cp_oai_resp_t *s); /* accepts NULL */

/* Writes message_start (SSE mode) to <out>. Call once, when the upstream answered 2xx. Returns CP_OK
 * or CP_ERR. (Message mode: writes the head of the Message; called by feed/end when not yet done.) */
int cp_oai_resp_begin(cp_oai_resp_t *s, cp_buf_t *out);

/* Feeds upstream body bytes; what the client is to receive is appended to <out>. Returns CP_OK (also
 * after the answer finished: later bytes are ignored), or CP_ERR when the answer failed: in SSE mode
 * an "event: error" has been written, in Message mode cp_oai_resp_error() says what to answer. */
int cp_oai_resp_feed(cp_oai_resp_t *s, const char *p, size_t n, cp_buf_t *out);

/* The upstream body ended cleanly. Finishes the answer (message_delta + message_stop; the Message's
 * tail) if a finish_reason or [DONE] was seen or the body was one whole chat.completion, else fails it
 * (the upstream stopped mid-answer). Returns CP_OK when the answer is complete, CP_ERR when it failed. */
int cp_oai_resp_end(cp_oai_resp_t *s, cp_buf_t *out);

/* Translates the whole body <body> (<len> bytes: one chat.completion, or an error reported in a 2xx)
 * and finishes. Returns as cp_oai_resp_end(). */
int cp_oai_resp_whole(cp_oai_resp_t *s, const char *body, size_t len, cp_buf_t *out);

/* The transfer failed (reset, timeout, ...): fails the answer with <e> unless it already finished. */
void cp_oai_resp_fail(cp_oai_resp_t *s, const cp_err_t *e, cp_buf_t *out);

/* True once the answer is complete or failed. */
int cp_oai_resp_finished(const cp_oai_resp_t *s);

/* The error that failed the answer (status, Anthropic type, message), or NULL. */
const cp_err_t *cp_oai_resp_error(const cp_oai_resp_t *s);

/* Debug notes about what was repaired (usage clamped, ...), or NULL. Borrowed until free. */
const char *cp_oai_resp_notes(const cp_oai_resp_t *s);

/* The usage seen so far, as Anthropic counts it, in <out>. Returns 1 when the upstream reported it
 * (prompt_tokens present), 0 when <out> holds only the estimate. */
int cp_oai_resp_usage(const cp_oai_resp_t *s, cp_anth_usage_t *out);

/* Convenience for tests and callers holding a parsed body: translates the whole 2xx chat.completion
 * <oai> (borrowed) into an Anthropic Message. Returns new, or NULL with <e> set (502 api_error for a
 * body that is not a chat completion; an error reported inside a 200 mapped by cp_prov_error()). */
json_t *cp_oai_response(const json_t *oai, const char *client_model, const cp_oai_names_t *names,
                        const cp_oai_opts_t *o, cp_err_t *e);

/* Anthropic usage from an OpenAI "usage" object: input excludes cached reads and cache writes
 * (clamped at 0); cached reads come from prompt_tokens_details.cached_tokens or DeepSeek's
 * prompt_cache_hit_tokens. Every count is clamped to [0, 2^53]: huge, negative, fractional or
 * non-numeric values never reach undefined behaviour. Returns 1 when <u> reported prompt_tokens, else
 * 0 (input is then 0); sets *<clamped> (may be NULL) when a value had to be repaired. */
int cp_oai_usage_map(const json_t *u, cp_anth_usage_t *out, int *clamped);

#endif
