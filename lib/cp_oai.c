/* lib/cp_oai.c: see cp_oai.h. (placeholder: being written) */
#include "cp_oai.h"

struct cp_oai_names {
    int unused;
};

void cp_oai_opts_for(const cp_provider_t *p, const char *model, cp_oai_opts_t *o)
{
    (void)model;
    o->provider = p->name;
    o->flavor = CP_OAI_GENERIC;
    o->reasoning_model = 0;
    o->max_completion = 0;
    o->reasoning_effort = 0;
}

const char *cp_oai_names_original(const cp_oai_names_t *m, const char *sent)
{
    (void)m;
    return sent;
}

void cp_oai_names_free(cp_oai_names_t *m)
{
    (void)m;
}

json_t *cp_oai_request(const json_t *anth, const char *upstream_model, const cp_oai_opts_t *o,
                       cp_oai_names_t **names, cp_err_t *e)
{
    (void)anth;
    (void)upstream_model;
    (void)o;
    *names = NULL;
    cp_err_set(e, 501, "api_error", "not implemented");
    return NULL;
}

json_t *cp_oai_response(const json_t *oai, const char *client_model, const cp_oai_names_t *names,
                        const cp_oai_opts_t *o, cp_err_t *e)
{
    (void)oai;
    (void)client_model;
    (void)names;
    (void)o;
    cp_err_set(e, 501, "api_error", "not implemented");
    return NULL;
}

void cp_oai_error(long status, const char *body, size_t len, const char *provider, cp_err_t *e)
{
    (void)body;
    (void)len;
    cp_err_set(e, (int)status, "api_error", "%s: error", provider);
}

json_t *cp_oai_gemini_schema(const json_t *schema)
{
    return json_deep_copy(schema);
}
