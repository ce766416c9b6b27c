/* lib/cp_oai_stream.h: OpenAI Chat Completions stream -> Anthropic Messages stream, incrementally.
 *
 * Pure: no libevent, no libcurl. Upstream body bytes go in (any split); Anthropic SSE text comes out,
 * one whole event per call of the emit function (so the caller may interleave its own "ping" events
 * between calls). The rules are protocol.md F.6-F.8 and field-study.md (b) 1-18:
 * message_start first (with usage); block indices contiguous from 0 in start order; no empty and no
 * overlapping blocks; thinking / text / tool_use in arrival order; tool calls keyed by index (position
 * when missing), id and name from the first delta (ids generated when missing), arguments as fragments
 * or whole, empty -> {}, names restored through cp_oai_names; reasoning_content / reasoning ->
 * thinking_delta then signature_delta ""; finish_reason held until usage or [DONE]/EOF so the final
 * message_delta carries stop_reason and full usage (input repeated); message_stop last. A mid-stream
 * upstream error ({"error":...} chunk, finish_reason "error") or an end without finishing -> an Anthropic
 * "event: error", never a stream that looks complete. */
#ifndef CP_OAI_STREAM_H
#define CP_OAI_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "cp_common.h"
#include "cp_oai.h"

typedef struct cp_oai_stream cp_oai_stream_t;

/* Receives <n> bytes holding one or more whole SSE events. Returns CP_OK or CP_ERR (stops the stream). */
typedef int (*cp_emit_fn)(void *ud, const char *p, size_t n);

/* Returns new. Borrows <names> and <o> for the stream's lifetime; copies <client_model>.
 * <input_tokens> is the estimate put in message_start until the upstream reports usage. */
cp_oai_stream_t *cp_oai_stream_new(const char *client_model, const cp_oai_names_t *names,
                                   const cp_oai_opts_t *o, int64_t input_tokens, cp_emit_fn emit, void *ud);
void cp_oai_stream_free(cp_oai_stream_t *s); /* accepts NULL */

/* Emits message_start. Call once, when the upstream answered 2xx. Returns CP_OK or CP_ERR. */
int cp_oai_stream_begin(cp_oai_stream_t *s);

/* Feeds upstream body bytes. Returns CP_OK (also after the stream finished: later bytes are ignored),
 * or CP_ERR when the stream failed: an "event: error" has been emitted and the reply should end. */
int cp_oai_stream_feed(cp_oai_stream_t *s, const char *p, size_t n);

/* The upstream body ended cleanly. Finishes the stream (message_delta + message_stop) if a
 * finish_reason or [DONE] was seen, else emits an "event: error" (the upstream stopped mid-answer).
 * Returns CP_OK when the stream ended complete, CP_ERR when it ended with an error event. */
int cp_oai_stream_end(cp_oai_stream_t *s);

/* The transfer failed (reset, timeout, ...): emits an "event: error" of <e>'s type and message unless
 * the stream already finished. */
void cp_oai_stream_fail(cp_oai_stream_t *s, const cp_err_t *e);

/* True once message_stop or an error event was emitted. */
int cp_oai_stream_finished(const cp_oai_stream_t *s);

/* Returns new: "event: error\ndata: {...}\n\n" for <e> (also used for the Anthropic relay). */
char *cp_oai_stream_error_event(const cp_err_t *e);

#endif
