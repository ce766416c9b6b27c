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

/* Appends the target <s> (<n> bytes, "model" or "model@provider"; bare names take
 * models.preferredProvider) to <list> (*<len> entries) unless it is <out>'s own target, already listed,
 * or the list is full (CP_CONFIG_FALLBACKS_MAX). A name that does not resolve is skipped: the loader
 * checked every configured name's provider. */
static void route_add(const cp_config_t *c, const cp_route_t *out, cp_route_next_t *list, size_t *len,
                      const char *s, size_t n)
{
    cp_route_t t;
    int dup;

    if (s == NULL || *len >= CP_CONFIG_FALLBACKS_MAX || route_target(c, s, n, "", &t, NULL) != CP_OK)
        return;
    dup = t.provider == out->provider && strcmp(t.model, out->model) == 0;
    for (size_t k = 0; k < *len && !dup; k++)
        dup = t.provider == list[k].provider && strcmp(t.model, list[k].model) == 0;
    if (!dup) {
        list[*len].provider = t.provider;
        memcpy(list[(*len)++].model, t.model, sizeof(t.model));
    }
}

/* route_add for each name of the array <names>, from its <from>th on. */
static void route_add_all(const cp_config_t *c, const cp_route_t *out, cp_route_next_t *list, size_t *len,
                          const json_t *names, size_t from)
{
    for (size_t i = from; i < json_array_size(names); i++) {
        const json_t *it = json_array_get(names, i); /* borrowed from the config */
        route_add(c, out, list, len, json_string_value(it), json_string_length(it));
    }
}

int cp_route_target(const cp_config_t *c, const char *target, cp_route_t *out, cp_err_t *e)
{
    memset(out, 0, sizeof(*out));
    if (target == NULL) /* e.g. a models.map value that is an array: the caller meant a name */
        return cp_err_set(e, 400, "invalid_request_error", "model: no model name");
    return route_target(c, target, strlen(target), "", out, e);
}

/* The target of a configured rule <rule> (from the config key <alias>): a name, or an array whose first
 * name is the target and whose others go to out->next, in order. */
static int route_rule(const cp_config_t *c, const json_t *rule, const char *alias, cp_route_t *out,
                      cp_err_t *e)
{
    const json_t *first = json_is_array(rule) ? json_array_get(rule, 0) : rule; /* borrowed */

    if (!json_is_string(first)) /* cannot happen: the loader checked it */
        return cp_err_set(e, 500, "api_error", "%s: not a model name", alias);
    if (route_target(c, json_string_value(first), json_string_length(first), alias, out, e) != CP_OK)
        return CP_ERR;
    if (json_is_array(rule))
        route_add_all(c, out, out->next, &out->nnext, rule, 1);
    return CP_OK;
}

/* models.bigModel or smallModel: the array (<arr>) when the config has one, else the name <name>. */
static int route_model(const cp_config_t *c, const json_t *arr, const char *name, const char *alias,
                       cp_route_t *out, cp_err_t *e)
{
    if (arr != NULL)
        return route_rule(c, arr, alias, out, e);
    return route_target(c, name, strlen(name), alias, out, e);
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
            return route_rule(c, target, "models.map", out, e);
    }
    if (route_contains(model, n, "haiku"))
        return route_model(c, c->small_models, c->small_model, "models.smallModel", out, e);
    if (route_contains(model, n, "sonnet") || route_contains(model, n, "opus"))
        return route_model(c, c->big_models, c->big_model, "models.bigModel", out, e);
    return route_target(c, model, n, "", out, e);
}

int cp_route_resolve(const cp_config_t *c, const char *model, cp_route_t *out, cp_err_t *e)
{
    char whole[CP_ROUTE_MODEL_MAX + 128];

    if (route_resolve(c, model, out, e) != CP_OK)
        return CP_ERR;
    /* the chains belong to the resulting "model@provider" (names made whole by the config loader) */
    snprintf(whole, sizeof(whole), "%s@%s", out->model, out->provider->name);
    route_add_all(c, out, out->next, &out->nnext, json_object_get(c->fallbacks, whole), 0);
    route_add_all(c, out, out->ctx, &out->nctx, json_object_get(c->context_fallbacks, whole), 0);
    return CP_OK;
}
