/* lib/cp_oai_stream.c: see cp_oai_stream.h. (placeholder: being written) */
#include "cp_oai_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_anth.h"

struct cp_oai_stream {
    cp_emit_fn emit;
    void *ud;
    int finished;
};

cp_oai_stream_t *cp_oai_stream_new(const char *client_model, const cp_oai_names_t *names,
                                   const cp_oai_opts_t *o, int64_t input_tokens, cp_emit_fn emit, void *ud)
{
    cp_oai_stream_t *s = cp_xcalloc(1, sizeof(*s));

    (void)client_model;
    (void)names;
    (void)o;
    (void)input_tokens;
    s->emit = emit;
    s->ud = ud;
    return s;
}

void cp_oai_stream_free(cp_oai_stream_t *s)
{
    free(s);
}

int cp_oai_stream_begin(cp_oai_stream_t *s)
{
    (void)s;
    return CP_OK;
}

int cp_oai_stream_feed(cp_oai_stream_t *s, const char *p, size_t n)
{
    (void)p;
    (void)n;
    cp_err_t e;
    cp_err_set(&e, 501, "api_error", "streaming translation not implemented");
    cp_oai_stream_fail(s, &e);
    return CP_ERR;
}

int cp_oai_stream_end(cp_oai_stream_t *s)
{
    (void)s;
    return CP_ERR;
}

char *cp_oai_stream_error_event(const cp_err_t *e)
{
    char *j = cp_anth_error_json(e->http_status, e->type, e->msg, NULL);
    char *s = cp_xasprintf("event: error\ndata: %s\n\n", j);

    free(j);
    return s;
}

void cp_oai_stream_fail(cp_oai_stream_t *s, const cp_err_t *e)
{
    char *ev;

    if (s->finished)
        return;
    s->finished = 1;
    ev = cp_oai_stream_error_event(e);
    s->emit(s->ud, ev, strlen(ev));
    free(ev);
}

int cp_oai_stream_finished(const cp_oai_stream_t *s)
{
    return s->finished;
}
