/* lib/anth/cp_anth_out.h: the one writer of Anthropic answers, as an event stream or as one Message.
 *
 * A translator says what the answer is made of, in order (message_start, then for each content block
 * a start, deltas and a stop, then message_delta and message_stop, or an error), and the writer puts
 * it into a cp_buf_t in one of two forms:
 *   CP_ANTH_OUT_SSE      "event: X\ndata: {compact JSON}\n\n" per event, exactly as the Messages API
 *                        streams them (what a streaming client is sent);
 *   CP_ANTH_OUT_MESSAGE  the complete Message object as compact JSON (what a non-streaming client is
 *                        sent), built incrementally without a JSON tree.
 * So a streamed answer and a whole answer come from the same rules by construction. The writer
 * checks nothing the caller promises (block order, valid JSON fragments for tool input); it only
 * formats. Pure, no I/O. */
#ifndef CP_ANTH_OUT_H
#define CP_ANTH_OUT_H

#include <stddef.h>

#include <jansson.h>

#include "cp_buf.h"
#include "cp_common.h"

enum cp_anth_out_mode { CP_ANTH_OUT_SSE = 0, CP_ANTH_OUT_MESSAGE };

enum cp_anth_blk {
    CP_ANTH_BLK_TEXT = 0,
    CP_ANTH_BLK_THINKING,
    CP_ANTH_BLK_TOOL_USE,
};

enum cp_anth_delta {
    CP_ANTH_D_TEXT = 0,  /* text_delta: appended to a text block */
    CP_ANTH_D_THINKING,  /* thinking_delta */
    CP_ANTH_D_SIGNATURE, /* signature_delta: a thinking block's signature (after its thinking) */
    CP_ANTH_D_JSON,      /* input_json_delta: the next fragment of a tool_use block's input */
};

/* Token counts as Anthropic reports them. */
typedef struct cp_anth_usage {
    long long input, output, cache_read, cache_write;
} cp_anth_usage_t;

/* Writer state: cp_anth_out_init() it; nothing to free. */
typedef struct cp_anth_out {
    unsigned char mode;       /* enum cp_anth_out_mode */
    unsigned char kind;       /* enum cp_anth_blk of the open block */
    unsigned blocks;          /* blocks started (Message mode: for the commas) */
    unsigned open : 1;        /* a block is open */
    unsigned wrote_input : 1; /* Message mode: the open tool_use block got input */
    unsigned wrote_sig : 1;   /* Message mode: the open thinking block got its signature */
    unsigned started : 1;     /* message_start written */
    unsigned ended : 1;       /* message_stop or an error written */
} cp_anth_out_t;

void cp_anth_out_init(cp_anth_out_t *o, enum cp_anth_out_mode mode);

/* Each writes to <b> and returns CP_OK, or CP_ERR when <b> is full (its cap). Strings are UTF-8 of
 * the given length; NULL <s> with length 0 is allowed. */
int cp_anth_out_message_start(cp_anth_out_t *o, cp_buf_t *b, const char *id, const char *model,
                              const cp_anth_usage_t *u);
/* <id> and <name> only for tool_use (the client's tool name). */
int cp_anth_out_block_start(cp_anth_out_t *o, cp_buf_t *b, unsigned index, enum cp_anth_blk kind,
                            const char *id, const char *name);
int cp_anth_out_delta(cp_anth_out_t *o, cp_buf_t *b, unsigned index, enum cp_anth_delta kind, const char *s,
                      size_t n);
int cp_anth_out_block_stop(cp_anth_out_t *o, cp_buf_t *b, unsigned index);
/* <stop_seq> NULL unless <stop_reason> is "stop_sequence". */
int cp_anth_out_message_delta(cp_anth_out_t *o, cp_buf_t *b, const char *stop_reason, const char *stop_seq,
                              const cp_anth_usage_t *u);
int cp_anth_out_message_stop(cp_anth_out_t *o, cp_buf_t *b);

/* SSE mode: an "event: error" for <e> (what ends a stream that cannot finish). Message mode: writes
 * nothing (the caller answers with the error instead). */
int cp_anth_out_error(cp_anth_out_t *o, cp_buf_t *b, const cp_err_t *e);

/* Writes the complete Message <msg> (borrowed; an upstream Anthropic answer) as the event stream that
 * carries it: message_start, one start/delta(s)/stop group per content block, message_delta with
 * stop_reason and full usage, message_stop. Returns CP_OK or CP_ERR (<b> full). */
int cp_anth_out_message_events(cp_buf_t *b, const json_t *msg);

#endif
