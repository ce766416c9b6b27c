/* lib/cli/cp_init.c: see cp_init.h. */
#include "cp_init.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cp_config.h"

const cp_init_preset_t cp_init_presets[] = {
    {"openai", "OpenAI", "https://api.openai.com/v1", "openai", "OPENAI_API_KEY", "gpt-5", "gpt-5-mini"},
    {"gemini", "Google Gemini", "https://generativelanguage.googleapis.com/v1beta/openai", "openai",
     "GEMINI_API_KEY", "gemini-2.5-pro", "gemini-2.5-flash"},
    {"openrouter", "OpenRouter", "https://openrouter.ai/api/v1", "openai", "OPENROUTER_API_KEY",
     "openai/gpt-5", "openai/gpt-5-mini"},
    {"anthropic", "Anthropic", "https://api.anthropic.com", "anthropic", "ANTHROPIC_API_KEY",
     "claude-sonnet-4-5", "claude-haiku-4-5"},
};
const size_t cp_init_npresets = sizeof(cp_init_presets) / sizeof(cp_init_presets[0]);

const cp_init_preset_t *cp_init_preset(const char *name)
{
    for (size_t i = 0; name != NULL && i < cp_init_npresets; i++)
        if (strcmp(cp_init_presets[i].name, name) == 0)
            return &cp_init_presets[i];
    return NULL;
}

void cp_init_key_env(const char *provider, char *buf, size_t n)
{
    const cp_init_preset_t *p = cp_init_preset(provider);
    char *s;

    if (p != NULL) {
        snprintf(buf, n, "%s", p->key_env);
        return;
    }
    s = cp_config_key_env_name(provider);
    snprintf(buf, n, "%s", s);
    free(s);
}

int cp_init_complete(cp_init_answers_t *a, int take_defaults, cp_err_t *e)
{
    const cp_init_preset_t *p = cp_init_preset(a->provider);
    char missing[256] = "";

#define INIT_MISSING(what)                                                                                   \
    snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s", missing[0] ? "; " : "",   \
             what)
    if (a->provider == NULL) {
        INIT_MISSING("--provider (openai, gemini, openrouter, anthropic or custom)");
    } else if (p != NULL) {
        if (a->base_url == NULL)
            a->base_url = p->base_url;
        if (a->style == NULL)
            a->style = p->style;
        if (a->big_model == NULL)
            a->big_model = p->big_model;
        if (a->small_model == NULL)
            a->small_model = p->small_model;
        if (a->api_key == NULL && a->api_key_env == NULL && take_defaults)
            a->api_key_env = p->key_env;
        if (a->api_key == NULL && a->api_key_env == NULL)
            INIT_MISSING("--api-key-env or --api-key");
    } else {
        /* a custom server: a local one may need no key */
        if (a->style == NULL)
            a->style = "openai";
        if (a->base_url == NULL)
            INIT_MISSING("--base-url");
        if (a->big_model == NULL)
            INIT_MISSING("--big-model");
        if (a->small_model == NULL && a->big_model != NULL && take_defaults)
            a->small_model = a->big_model;
        if (a->small_model == NULL)
            INIT_MISSING("--small-model");
    }
#undef INIT_MISSING
    if (a->host == NULL)
        a->host = CP_INIT_HOST;
    if (a->port == 0)
        a->port = CP_INIT_PORT;
    if (missing[0] != '\0')
        return cp_err_set(e, 0, NULL, "missing %s", missing);
    return CP_OK;
}

/* [A-Za-z0-9_-]{1,64}: usable as a provider name and after '@' in a model. */
static int init_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64)
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* A shell variable name. */
static int init_var_ok(const char *s)
{
    if (*s == '\0' || (*s >= '0' && *s <= '9') || strlen(s) > 128)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s);
}

static int init_model_ok(const char *s)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ')
            return 0;
    return cp_config_model_ok(s);
}

int cp_init_key_answer(cp_init_answers_t *a, const char *answer)
{
    size_t n = strlen(answer);

    if (n == 0)
        return CP_ERR;
    if (strcasecmp(answer, "none") == 0)
        return CP_OK;
    if (!(answer[0] >= '0' && answer[0] <= '9') &&
        strspn(answer, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n)
        a->api_key_env = answer;
    else
        a->api_key = answer;
    return CP_OK;
}

int cp_init_check(const cp_init_answers_t *a, cp_err_t *e)
{
    if (a->provider != NULL && !init_name_ok(a->provider))
        return cp_err_set(e, 0, NULL,
                          "invalid provider name '%s': use letters, digits, '-' and '_' (at most 64)",
                          a->provider);
    if (a->api_key_env != NULL && !init_var_ok(a->api_key_env))
        return cp_err_set(e, 0, NULL,
                          "invalid variable name '%s' for the API key: expected e.g. OPENAI_API_KEY",
                          a->api_key_env);
    if (a->api_key != NULL && (a->api_key[0] == '\0' || strpbrk(a->api_key, " \t\r\n\"\\") != NULL))
        return cp_err_set(e, 0, NULL, "invalid API key: it is empty or holds spaces or quotes");
    if (a->base_url != NULL && !cp_config_url_ok(a->base_url))
        return cp_err_set(e, 0, NULL, "invalid base URL '%s': expected http:// or https:// and a host",
                          a->base_url);
    if (a->big_model != NULL && !init_model_ok(a->big_model))
        return cp_err_set(e, 0, NULL, "invalid big model '%s'", a->big_model);
    if (a->small_model != NULL && !init_model_ok(a->small_model))
        return cp_err_set(e, 0, NULL, "invalid small model '%s'", a->small_model);
    if (a->host != NULL && (a->host[0] == '\0' || strpbrk(a->host, " \t/\"") != NULL))
        return cp_err_set(e, 0, NULL, "invalid host '%s'", a->host);
    if (a->port < 0 || a->port > 65535)
        return cp_err_set(e, 0, NULL, "invalid port %d: expected 1 to 65535", a->port);
    return CP_OK;
}

/* "model@provider" unless <m> already names a provider. Returns new. */
static json_t *init_model(const char *m, const char *provider)
{
    return strchr(m, '@') != NULL ? json_string(m) : json_sprintf("%s@%s", m, provider);
}

json_t *cp_init_settings(const cp_init_answers_t *a)
{
    json_t *prov = json_pack("{s:s,s:s}", "baseURL", a->base_url, "responseStyle", a->style);

    if (a->api_key != NULL)
        json_object_set_new(prov, "apiKey", json_string(a->api_key));
    else if (a->api_key_env != NULL)
        json_object_set_new(prov, "apiKey", json_sprintf("${%s}", a->api_key_env));
    if (strcmp(a->provider, "openrouter") == 0)
        json_object_set_new(prov, "headers", json_pack("{s:s}", "X-Title", "ccproxy"));
    return json_pack("{s:{s:s,s:i},s:{s:o},s:{s:o,s:o,s:s}}", "server", "host", a->host, "port", a->port,
                     "providers", a->provider, prov, "models", "bigModel",
                     init_model(a->big_model, a->provider), "smallModel",
                     init_model(a->small_model, a->provider), "preferredProvider", a->provider);
}

int cp_init_client_check(const char *url, const char *key, const char *key_env, cp_err_t *e)
{
    if (url != NULL && (!cp_config_url_ok(url) || strpbrk(url, " \t\r\n\"\\") != NULL))
        return cp_err_set(e, 0, NULL,
                          "invalid --remote value '%.200s': expected http:// or https:// and a host", url);
    if (key != NULL) {
        size_t n = strlen(key);
        if (n == 0 || n > CP_INIT_CLIENT_KEY_MAX)
            return cp_err_set(e, 0, NULL, "invalid key: it is %s",
                              n == 0 ? "empty" : "longer than 511 bytes");
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)key[i] <= ' ' || key[i] == 0x7f || key[i] == '"' || key[i] == '\\')
                return cp_err_set(e, 0, NULL,
                                  "invalid key: it holds a space, a quote or a control character (byte %zu)",
                                  i + 1);
    }
    if (key_env != NULL && !init_var_ok(key_env))
        return cp_err_set(e, 0, NULL,
                          "invalid --key-env value '%.130s': expected a variable name such as CCPROXY_KEY",
                          key_env);
    return CP_OK;
}

int cp_init_client_apply(json_t *root, const char *url, const char *key, const char *key_env, int force,
                         cp_err_t *e)
{
    json_t *cl = json_object_get(root, "client"); /* borrowed */
    const char *old;

    if (!json_is_object(root))
        return cp_err_set(e, 0, NULL, "the settings are not a JSON object");
    if (cl != NULL && !json_is_object(cl))
        return cp_err_set(e, 0, NULL, "\"client\" is not an object");
    old = json_string_value(json_object_get(cl, "url"));
    if (url != NULL && old != NULL && strcmp(old, url) != 0 && !force) {
        cp_err_set(e, 0, NULL, "it already sends claude to %.200s", old);
        return CP_DECLINED;
    }
    if (cl == NULL)
        json_object_set_new(root, "client", cl = json_object());
    if (url != NULL)
        json_object_set_new(cl, "url", json_string(url));
    if (key != NULL) {
        json_object_set_new(cl, "key", json_string(key));
        json_object_del(cl, "keyEnv");
    } else if (key_env != NULL) {
        json_object_set_new(cl, "keyEnv", json_string(key_env));
        json_object_del(cl, "key");
    }
    return CP_OK;
}
