/* lib/base/cp_route.c: see cp_route.h. */
#include "cp_route.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Length of <s> without a trailing "[...]" suffix and surrounding blanks. */
static size_t route_base_len(const char *s)
{
    size_t n = strlen(s);

    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n > 0 && s[n - 1] == ']') {
        const char *open = memchr(s, '[', n);
        if (open != NULL && open > s)
            n = (size_t)(open - s);
    }
    return n;
}

static int route_contains(const char *s, size_t n, const char *word)
{
    size_t w = strlen(word);

    for (size_t i = 0; i + w <= n; i++)
        if (strncasecmp(s + i, word, w) == 0)
            return 1;
    return 0;
}

/* Splits "name@provider" (<n> bytes) and fills <out>. <alias> names the config key that produced
 * <s>, for the error message ("" when <s> is the client's own model). */
static int route_target(const cp_config_t *c, const char *s, size_t n, const char *alias, cp_route_t *out,
                        cp_err_t *e)
{
    const char *at = NULL;
    const char *prov;
    size_t plen, mlen;

    for (size_t i = n; i > 0; i--) {
        if (s[i - 1] == '@') {
            at = s + i - 1;
            break;
        }
    }
    if (at != NULL) {
        prov = at + 1;
        plen = n - (size_t)(prov - s);
        mlen = (size_t)(at - s);
    } else {
        prov = c->preferred_provider;
        plen = strlen(prov);
        mlen = n;
    }
    if (mlen == 0 || mlen >= sizeof(out->model))
        return cp_err_set(e, 400, "invalid_request_error", "model: \"%.*s\" is not a valid model name",
                          (int)n > 200 ? 200 : (int)n, s);
    out->provider = cp_config_provider(c, prov, plen);
    if (out->provider == NULL) /* the configured ones are not listed: a stranger learns nothing */
        return cp_err_set(e, 400, "invalid_request_error",
                          "model: unknown provider \"%.*s\" in \"%.*s\"%s%s (`ccproxy config` on the proxy's "
                          "machine shows the configured ones)",
                          (int)(plen > 100 ? 100 : plen), prov, (int)(n > 200 ? 200 : n), s,
                          alias[0] ? " from " : "", alias);
    memcpy(out->model, s, mlen);
    out->model[mlen] = '\0';
    return CP_OK;
}

/* Fills out->next from models.fallbacks["model@provider"] (names made whole by the config loader). */
static void route_fallbacks(const cp_config_t *c, cp_route_t *out)
{
    char whole[CP_ROUTE_MODEL_MAX + 128];
    const json_t *list, *it; /* borrowed from the config */
    size_t i;

    snprintf(whole, sizeof(whole), "%s@%s", out->model, out->provider->name);
    list = json_object_get(c->fallbacks, whole);
    json_array_foreach(list, i, it)
    {
        cp_route_t t;
        int dup;

        if (out->nnext >= CP_CONFIG_FALLBACKS_MAX ||
            route_target(c, json_string_value(it), json_string_length(it), "models.fallbacks", &t, NULL) !=
                CP_OK)
            continue;
        dup = t.provider == out->provider && strcmp(t.model, out->model) == 0;
        for (size_t k = 0; k < out->nnext && !dup; k++)
            dup = t.provider == out->next[k].provider && strcmp(t.model, out->next[k].model) == 0;
        if (!dup) {
            out->next[out->nnext].provider = t.provider;
            memcpy(out->next[out->nnext++].model, t.model, sizeof(t.model));
        }
    }
}

int cp_route_target(const cp_config_t *c, const char *target, cp_route_t *out, cp_err_t *e)
{
    memset(out, 0, sizeof(*out));
    return route_target(c, target, strlen(target), "", out, e);
}

static int route_resolve(const cp_config_t *c, const char *model, cp_route_t *out, cp_err_t *e)
{
    size_t n = route_base_len(model);

    const char *pat;
    json_t *target; /* borrowed from the config */
    char base[CP_ROUTE_MODEL_MAX];

    memset(out, 0, sizeof(*out));
    if (memchr(model, '@', n) != NULL)
        return route_target(c, model, n, "", out, e);
    snprintf(base, sizeof(base), "%.*s", (int)(n < sizeof(base) ? n : sizeof(base) - 1), model);
    json_object_foreach(c->model_map, pat, target)
    {
        if (fnmatch(pat, base, FNM_CASEFOLD) == 0)
            return route_target(c, json_string_value(target), json_string_length(target), "models.map", out,
                                e);
    }
    if (route_contains(model, n, "haiku"))
        return route_target(c, c->small_model, strlen(c->small_model), "models.smallModel", out, e);
    if (route_contains(model, n, "sonnet") || route_contains(model, n, "opus"))
        return route_target(c, c->big_model, strlen(c->big_model), "models.bigModel", out, e);
    return route_target(c, model, n, "", out, e);
}

int cp_route_resolve(const cp_config_t *c, const char *model, cp_route_t *out, cp_err_t *e)
{
    if (route_resolve(c, model, out, e) != CP_OK)
        return CP_ERR;
    route_fallbacks(c, out);
    return CP_OK;
}
