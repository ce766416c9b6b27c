/* lib/prov/openai/cp_oai_resp_int.h: the response translator's state, shared by its two files:
 * cp_oai_resp.c (chunks: what the upstream says) and cp_oai_blocks.c (blocks and tool calls: what the
 * client gets). Private to lib/prov/openai/. */
#ifndef CP_OAI_RESP_INT_H
#define CP_OAI_RESP_INT_H

#include "cp_jsonck.h"
#include "cp_oai_resp.h"
#include "cp_sse.h"

#define SO_EVENT_MAX  ((size_t)1 << 20)  /* largest upstream SSE event */
#define SO_RAW_MAX    ((size_t)32 << 20) /* largest plain-JSON body (a whole answer) */
#define SO_PARKED_MAX ((size_t)8 << 20)  /* tool-argument bytes waiting to be sent, per answer */
#define SO_CALLS_MAX  512                /* tool calls per answer */
#define SO_HOLD_MAX   4096               /* blank text held before a block opens */
#define SO_ID_MAX     128                /* bytes of an upstream tool-call id kept */
#define SO_COUNT_MAX  9007199254740992.0 /* 2^53: the largest token count believed */

enum so_kind { SO_NONE = 0, SO_THINK, SO_TEXT, SO_TOOL };

enum so_fin {
    FIN_NONE = 0, /* none seen ([DONE] alone: as "stop") */
    FIN_STOP,
    FIN_LENGTH,
    FIN_TOOLS,
    FIN_FILTER,
    FIN_OTHER, /* a value we do not know: end_turn */
};

enum so_mode { MODE_UNKNOWN = 0, MODE_SSE, MODE_RAW };

enum so_call_state { CALL_WAIT = 0, CALL_OPEN, CALL_CLOSED };

/* Where the content channel is with respect to a leading <think>...</think> (DeepSeek-R1 and MiniMax
 * through routers put the reasoning there). */
enum so_tag {
    TAG_START = 0, /* nothing but blanks yet: a "<think>" may still open */
    TAG_IN,        /* inside <think>: content is reasoning */
    TAG_AFTER,     /* just after </think>: leading blanks are dropped */
    TAG_OFF,       /* plain content */
};

typedef struct so_call {
    long long key;        /* upstream index; for index-less calls, their position in the answer */
    char *id;             /* owned: upstream id made safe, or the generated one; NULL until known */
    char *name;           /* owned: the name as the upstream sent it; NULL until known */
    cp_buf_t js;          /* checked argument text not sent yet */
    cp_jsonck_t tj;       /* checker state over all argument text so far */
    size_t pos;           /* position in the tool_calls array of the chunk that started it */
    unsigned char st;     /* enum so_call_state */
    unsigned indexed : 1; /* the upstream gave an index */
    unsigned id_up : 1;   /* <id> came from the upstream */
    unsigned sent : 1;    /* argument bytes were written */
} so_call_t;

struct cp_oai_resp {
    cp_anth_out_t w;             /* the writer */
    cp_buf_t *out;               /* borrowed during each public call: where the writer writes */
    const cp_oai_names_t *names; /* borrowed */
    const cp_oai_opts_t *o;      /* borrowed */
    char *model;                 /* owned: the client's model name */
    int64_t in_est;              /* input-token estimate until usage arrives */
    cp_sse_t *sse;               /* owned */
    cp_buf_t raw;                /* plain-JSON body (MODE_RAW) */
    cp_buf_t hold;               /* blank text of kind <hold_kind> not sent yet */
    cp_buf_t tag;                /* content held while a <think> tag may be forming */
    cp_buf_t notes;              /* debug notes */
    char *stop_seq;              /* owned: vLLM's choices[].stop_reason string */
    char *sig;                   /* owned: reasoning signature (OpenRouter reasoning_details) */
    so_call_t *calls;            /* owned: tool calls in the order they appeared */
    size_t ncalls, calls_cap;
    size_t parked;           /* bytes in the js buffers of waiting calls */
    size_t open_call;        /* index in <calls> of the open tool block */
    unsigned next_index;     /* Anthropic index of the next block */
    unsigned open_index;     /* Anthropic index of the open block */
    cp_anth_usage_t u;       /* usage as Anthropic counts it */
    cp_err_t *err;           /* owned: why the answer failed; NULL until it does (most never do) */
    unsigned char open_kind; /* enum so_kind */
    unsigned char hold_kind; /* enum so_kind */
    unsigned char fin;       /* enum so_fin */
    unsigned char mode;      /* enum so_mode */
    unsigned char tagst;     /* enum so_tag */
    unsigned begun : 1;      /* message_start written */
    unsigned finished : 1;   /* message_stop or an error written */
    unsigned ok : 1;         /* ... and it was message_stop */
    unsigned have_fin : 1;   /* a finish_reason was seen */
    unsigned done : 1;       /* [DONE] was seen */
    unsigned eof : 1;        /* cp_oai_resp_end() is running */
    unsigned tools_sent : 1; /* a tool_use block was started */
    unsigned refusal : 1;    /* the answer carried a refusal */
    unsigned reasoned : 1;   /* reasoning came in a reasoning field (then <think> content is a copy) */
    unsigned whole : 1;      /* the body was one whole chat.completion */
    unsigned got_usage : 1;  /* the upstream reported usage (prompt_tokens) */
    char msg_id[CP_REQ_ID_LEN + 1];
};

/* cp_oai_blocks.c */
const char *cp_oair_prov(const cp_oai_resp_t *s);
int cp_oair_blank(const char *t, size_t n);
int cp_oair_cut(const char *s, size_t max);
void cp_oair_note(cp_oai_resp_t *s, const char *what);
int cp_oair_fail_e(cp_oai_resp_t *s, const cp_err_t *e); /* ends the answer with <e>; returns CP_ERR */
int cp_oair_fail(cp_oai_resp_t *s, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int cp_oair_begin(cp_oai_resp_t *s);                                            /* message_start, once */
int cp_oair_text(cp_oai_resp_t *s, enum so_kind kind, const char *t, size_t n); /* text or reasoning */
int cp_oair_close(cp_oai_resp_t *s);                                            /* closes the open block */
const char *cp_oair_call_name(const cp_oai_resp_t *s, const so_call_t *c); /* client name, for messages */
int cp_oair_settle(cp_oai_resp_t *s);  /* content over (for now): close, send waiting calls */
int cp_oair_advance(cp_oai_resp_t *s); /* starts waiting calls while the block slot allows */
/* One entry of delta.tool_calls (<tc>, <fn> its function) at position <pos>; <base>: calls before. */
int cp_oair_tool(cp_oai_resp_t *s, const json_t *tc, const json_t *fn, size_t pos, size_t base);

/* cp_oai_resp.c */
int cp_oair_tag_flush(cp_oai_resp_t *s); /* ends the <think> filter: what it held is sent */

#endif
