/* lib/anth/cp_tok.h: local input-token estimate for POST /v1/messages/count_tokens. Pure, no I/O.
 *
 * Counts what the model reads: system (string or blocks), every message's content blocks (text,
 * tool_use input, tool_result content, thinking, images), and tool definitions (name,
 * description, input_schema); images are sized from their PNG/GIF/JPEG/WebP header. The estimate is meant to
 * stay within +-15% of a real BPE tokenizer on English prose, code and JSON, and to be cheap: Claude Code
 * fires dozens of counts at once. */
#ifndef CP_TOK_H
#define CP_TOK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Estimated tokens of <len> bytes of UTF-8 text. */
int64_t cp_tok_text(const char *s, size_t len);

/* Estimated input tokens of a validated Messages / count_tokens body <body> (borrowed). */
int64_t cp_tok_request(const json_t *body);

#endif
