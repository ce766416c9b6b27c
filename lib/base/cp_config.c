/* lib/base/cp_config.c: see cp_config.h.
 *
 * Loading is three steps. (1) Each layer becomes a JSON object: files are read once (cp_trust_read)
 * and parsed (line:column on syntax errors), `${VAR}` is expanded, and the layer is checked against the
 * schema table below, so a wrong type is reported against the file that holds it. The working
 * directory's file is skipped, with a warning, unless the user trusted its bytes (cp_trust.h).
 * (2) Layers are merged into one tree while `sources` records, per leaf path, which layer set it.
 * (3) The merged tree becomes the typed
 * cp_config_t, with the checks that need the whole picture (a model naming a missing provider),
 * reported against the layer that set the offending value.
 * Why this file is long: every key's schema entry, default, check and error wording live here, in one
 * place, so a reader finds any configuration rule without chasing modules; so does the order of the
 * layers (whether a file may be trusted, and what it says about keys, is lib/base/cp_trust.c's). The
 * one job is still "settings files to a typed, checked snapshot": the entries of auth.keys, prices and
 * metrics.allow are checked by the modules that own their meaning (cp_auth_keys_check,
 * cp_prices_check, cp_cidr_parse), called from the schema check here, so their errors still name the
 * file and the path; the files server.tls names are read by lib/net/cp_tls.c (only the server needs
 * them: `ccproxy usage` on the same box must not fail on a key it may not read); models.fallbacks and
 * contextFallbacks, and the chains in bigModel/smallModel/map, are only checked and made whole here
 * (names, providers) and followed by lib/base/cp_route.c and the exchange; retry.failoverStatuses,
 * breaker.* and the key pools are only loaded here, the exchange acts on them (docs/resilience.md). */
#include "cp_config.h"
#include "cp_route.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cp_auth.h"
#include "cp_buf.h"
#include "cp_json.h"
#include "cp_metrics.h"
#include "cp_oai_flavor.h"
#include "cp_price.h"
#include "cp_prov.h"
#include "cp_trust.h"

#define CFG_REDACTED "<redacted>"

const char cp_config_defaults_json[] =
    "{\n"
    "  \"server\": {\n"
    "    \"port\": 8082,\n"
    "    \"host\": \"0.0.0.0\",\n"
    "    \"maxBodyBytes\": 16777216,\n"
    "    \"maxHeaderBytes\": 65536,\n"
    "    \"clientTimeoutSeconds\": 600,\n"
    "    \"headTimeoutSeconds\": 30,\n"
    "    \"bodyTimeoutSeconds\": 300,\n"
    "    \"keepAliveSeconds\": 30,\n"
    "    \"maxConnections\": 0,\n"
    "    \"maxConnectionsPerPeer\": 256,\n"
    "    \"uploadBudgetBytes\": 134217728,\n"
    "    \"maxJsonValues\": 200000,\n"
    "    \"drainTimeoutSeconds\": 30,\n"
    "    \"pingIntervalSeconds\": 10,\n"
    "    \"streamBufferBytes\": 262144,\n"
    "    \"maxConcurrentRequests\": 0\n"
    "  },\n"
    "  \"providers\": {\n"
    "    \"openai\": {\"baseURL\": \"https://api.openai.com/v1\", \"responseStyle\": \"openai\"},\n"
    "    \"gemini\": {\"baseURL\": \"https://generativelanguage.googleapis.com\", \"responseStyle\": "
    "\"openai\"},\n"
    "    \"openrouter\": {\"baseURL\": \"https://openrouter.ai/api/v1\", \"responseStyle\": \"openai\"},\n"
    "    \"anthropic\": {\"baseURL\": \"https://api.anthropic.com\", \"responseStyle\": \"anthropic\"}\n"
    "  },\n"
    "  \"models\": {\n"
    "    \"bigModel\": \"gpt-4@openai\",\n"
    "    \"smallModel\": \"gpt-4-mini@openai\",\n"
    "    \"preferredProvider\": \"openai\"\n"
    "  },\n"
    "  \"logging\": {\"level\": \"info\", \"format\": \"json\"}\n"
    "}\n";

/* ---- the schema ---------------------------------------------------------------------------- */

enum cfg_kind {
    K_OBJECT = 0, /* a known object: its keys are checked */
    K_MAP,        /* an object whose keys are names (providers): each value is checked as "<path>.*" */
    K_PORT,
    K_UINT,   /* integer in [min, max] */
    K_STRING, /* any string */
    K_NONEMPTY,
    K_URL,
    K_STYLE,
    K_FLAVOR, /* an OpenAI-style flavor name (cp_oai_flavor.h) */
    K_LEVEL,
    K_FORMAT,
    K_MODEL,     /* "name" or "name@provider", or an array of 1..CP_CONFIG_FALLBACKS_MAX+1 of them */
    K_HEADERS,   /* object of strings */
    K_STRLIST,   /* array of non-empty strings */
    K_MAXTOK,    /* "auto", "max_tokens", "max_completion_tokens" */
    K_TRISTATE,  /* true, false or "auto" */
    K_MODELMAP,  /* object of glob pattern -> model name, or an array of them (as K_MODEL) */
    K_FALLBACKS, /* object of model -> array of 1..CP_CONFIG_FALLBACKS_MAX models */
    K_PROXY,     /* "" (no proxy) or a proxy URL (cp_trust_proxy_ok) */
    K_BOOL,
    K_KEYS,     /* auth.keys: checked by lib/team/cp_auth.c */
    K_PRICES,   /* prices: checked by lib/team/cp_price.c */
    K_CIDRS,    /* array of at most CFG_CIDRS_MAX address ranges (lib/net/cp_metrics.h, cp_cidr_parse) */
    K_TLSVER,   /* "1.2" or "1.3" */
    K_ABSPATH,  /* an absolute file path */
    K_KEYPOOL,  /* array of 1..CP_PROVIDER_KEYS_MAX strings (providers.*.apiKeys, cfg_expand_keys) */
    K_STATUSES, /* array of 1..CFG_STATUSES_MAX distinct integers in [min, max] (HTTP statuses) */
    K_RATE,     /* a JSON number, integer or real, in [min, max] */
};

#define CFG_CIDRS_MAX    256 /* metrics.allow entries */
#define CFG_STATUSES_MAX 32  /* retry.failoverStatuses entries */

typedef struct cfg_field {
    const char *path; /* dotted, "*" stands for a provider name */
    enum cfg_kind kind;
    long long min, max;
} cfg_field_t;

static const cfg_field_t cfg_schema[] = {
    {"server", K_OBJECT, 0, 0},
    {"server.port", K_PORT, 0, 65535},
    {"server.host", K_NONEMPTY, 0, 0},
    {"server.maxBodyBytes", K_UINT, 1, 1LL << 31},
    {"server.maxHeaderBytes", K_UINT, 1024, 1LL << 22},
    {"server.clientTimeoutSeconds", K_UINT, 1, 86400},
    {"server.headTimeoutSeconds", K_UINT, 1, 3600},
    {"server.bodyTimeoutSeconds", K_UINT, 1, 86400},
    {"server.keepAliveSeconds", K_UINT, 1, 3600},
    {"server.maxConnections", K_UINT, 0, 10000000},
    {"server.maxConnectionsPerPeer", K_UINT, 0, 10000000},
    {"server.uploadBudgetBytes", K_UINT, 65536, 1LL << 40},
    {"server.maxJsonValues", K_UINT, 1000, 100000000},
    {"server.drainTimeoutSeconds", K_UINT, 0, 86400},
    {"server.pingIntervalSeconds", K_UINT, 1, 3600},
    {"server.streamBufferBytes", K_UINT, 4096, 1LL << 30},
    {"server.maxAnswerBytes", K_UINT, 65536, 1LL << 30},
    {"server.maxConcurrentRequests", K_UINT, 0, 10000000},
    {"server.allowedHosts", K_STRLIST, 0, 0},
    {"server.allowedOrigins", K_STRLIST, 0, 0},
    {"server.tls", K_OBJECT, 0, 0},
    {"server.tls.cert", K_ABSPATH, 0, 0},
    {"server.tls.key", K_ABSPATH, 0, 0},
    {"server.tls.minVersion", K_TLSVER, 0, 0},
    {"providers", K_MAP, 0, 0},
    {"providers.*", K_OBJECT, 0, 0},
    {"providers.*.baseURL", K_URL, 0, 0},
    {"providers.*.apiKey", K_STRING, 0, 0},
    {"providers.*.apiKeys", K_KEYPOOL, 0, 0},
    {"providers.*.responseStyle", K_STYLE, 0, 0},
    {"providers.*.flavor", K_FLAVOR, 0, 0},
    {"providers.*.headers", K_HEADERS, 0, 0},
    {"providers.*.connectTimeoutMs", K_UINT, 1, 600000},
    {"providers.*.firstByteTimeoutMs", K_UINT, 1, 3600000},
    {"providers.*.fallbackFirstByteTimeoutMs", K_UINT, 1, 3600000},
    {"providers.*.idleTimeoutMs", K_UINT, 1, 3600000},
    {"providers.*.reasoningModels", K_STRLIST, 0, 0},
    {"providers.*.maxTokensField", K_MAXTOK, 0, 0},
    {"providers.*.reasoningEffort", K_TRISTATE, 0, 0},
    {"providers.*.maxOutputTokens", K_UINT, 1, 10000000},
    {"providers.*.proxy", K_PROXY, 0, 0},
    {"models", K_OBJECT, 0, 0},
    {"models.bigModel", K_MODEL, 0, 0},
    {"models.smallModel", K_MODEL, 0, 0},
    {"models.preferredProvider", K_NONEMPTY, 0, 0},
    {"models.map", K_MODELMAP, 0, 0},
    {"models.fallbacks", K_FALLBACKS, 0, 0},
    {"models.contextFallbacks", K_FALLBACKS, 0, 0},
    {"retry", K_OBJECT, 0, 0},
    {"retry.maxWaitSeconds", K_UINT, 0, 300},
    {"retry.maxAttempts", K_UINT, 1, 10},
    {"retry.failoverStatuses", K_STATUSES, 400, 599},
    {"breaker", K_OBJECT, 0, 0},
    {"breaker.failures", K_UINT, 0, 1000},
    {"breaker.failureRate", K_RATE, 0, 1},
    {"breaker.windowSeconds", K_UINT, 1, 3600},
    {"breaker.minRequests", K_UINT, 1, 100000},
    {"breaker.cooldownSeconds", K_UINT, 1, 3600},
    {"auth", K_OBJECT, 0, 0},
    {"auth.keys", K_KEYS, 0, 0},
    {"auth.allowUnauthenticated", K_BOOL, 0, 0},
    {"prices", K_PRICES, 0, 0},
    {"ledger", K_OBJECT, 0, 0},
    {"ledger.enabled", K_BOOL, 0, 0},
    {"ledger.path", K_NONEMPTY, 0, 0},
    {"ledger.flushMs", K_UINT, 10, 60000},
    {"ledger.batchRows", K_UINT, 1, 100000},
    {"ledger.queueRows", K_UINT, 100, 10000000},
    {"metrics", K_OBJECT, 0, 0},
    {"metrics.token", K_NONEMPTY, 0, 0},
    {"metrics.allow", K_CIDRS, 0, 0},
    {"metrics.maxModels", K_UINT, 1, 10000},
    {"client", K_OBJECT, 0, 0},
    {"client.url", K_URL, 0, 0},
    {"client.key", K_NONEMPTY, 0, 0},
    {"client.keyEnv", K_NONEMPTY, 0, 0},
    {"logging", K_OBJECT, 0, 0},
    {"logging.level", K_LEVEL, 0, 0},
    {"logging.format", K_FORMAT, 0, 0},
};

static const cfg_field_t *cfg_lookup(const char *pattern)
{
    for (size_t i = 0; i < sizeof(cfg_schema) / sizeof(cfg_schema[0]); i++)
        if (strcmp(cfg_schema[i].path, pattern) == 0)
            return &cfg_schema[i];
    return NULL;
}

/* ---- small helpers ----------------------------------------------------------------------- */

typedef struct cfg_ctx {
    cp_config_warn_cb warn;
    void *ud;
    cp_err_t *e;
    const char *home; /* opts.home or $HOME, may be NULL */
} cfg_ctx_t;

static void cfg_warn(cfg_ctx_t *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cfg_warn(cfg_ctx_t *cx, const char *fmt, ...)
{
    char buf[768];
    va_list ap;

    if (cx->warn == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cx->warn(buf, cx->ud);
}

static char *cfg_join(const char *prefix, const char *key)
{
    return prefix[0] ? cp_xasprintf("%s.%s", prefix, key) : cp_xstrdup(key);
}

/* Describes a JSON value for "got ..." in messages, bounded in length. */
/* True when <s> is an absolute http(s) URL with a host and no whitespace. */
int cp_config_url_ok(const char *s)
{
    const char *h;

    if (strncmp(s, "http://", 7) == 0)
        h = s + 7;
    else if (strncmp(s, "https://", 8) == 0)
        h = s + 8;
    else
        return 0;
    if (*h == '\0' || *h == '/' || *h == ':' || *h == '?' || *h == '#')
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>' || *p == '\\')
            return 0;
    return 1;
}

/* Checks "name" or "name@provider" with both parts non-empty. */
int cp_config_model_ok(const char *s)
{
    const char *at = strrchr(s, '@');

    if (*s == '\0' || *s == '@')
        return 0;
    if ((at != NULL ? (size_t)(at - s) : strlen(s)) >= CP_ROUTE_MODEL_MAX)
        return 0; /* a model name a route cannot hold: every request to it would fail */
    return at == NULL || at[1] != '\0';
}

/* Whether <v> is a model name or an array of 1..CP_CONFIG_FALLBACKS_MAX+1 of them: models.bigModel,
 * smallModel or a models.map value (the first is the target, the others its candidates). */
static int cfg_models_ok(const json_t *v)
{
    size_t i;
    json_t *it; /* borrowed from v */

    if (json_is_string(v))
        return cp_config_model_ok(json_string_value(v));
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > CP_CONFIG_FALLBACKS_MAX + 1)
        return 0;
    json_array_foreach(v, i, it)
    {
        if (!json_is_string(it) || !cp_config_model_ok(json_string_value(it)))
            return 0;
    }
    return 1;
}

/* What providers.*.apiKeys must be, or NULL. A string element is never quoted (it may be a key); an
 * element written as "" was refused before expansion (cfg_expand_keys), so "" here is an unset variable,
 * which the pool leaves out. "[i]: ..." names one bad element. */
static const char *cfg_expect_keypool(const json_t *v, char *buf, size_t n)
{
    size_t i;
    json_t *it; /* borrowed from v */
    char got[96];

    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > CP_PROVIDER_KEYS_MAX) {
        snprintf(buf, n, "an array of 1 to %d API keys (non-empty strings)", CP_PROVIDER_KEYS_MAX);
        return buf;
    }
    json_array_foreach(v, i, it)
    {
        if (!json_is_string(it)) {
            cp_json_describe(it, got, sizeof(got));
            snprintf(buf, n, "[%zu]: expected an API key (a non-empty string), got %s", i, got);
            return buf;
        }
    }
    return NULL;
}

/* What retry.failoverStatuses (<f>: the range of a status) must be, or NULL; "[i]: ..." names one bad
 * element. */
static const char *cfg_expect_statuses(const cfg_field_t *f, const json_t *v, char *buf, size_t n)
{
    uint64_t seen[4] = {0}; /* bit (status - f->min): f->max - f->min is below 256 */
    size_t i;
    json_t *it; /* borrowed from v */
    char got[96];

    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > CFG_STATUSES_MAX) {
        snprintf(buf, n, "an array of 1 to %d HTTP statuses, distinct integers from %lld to %lld",
                 CFG_STATUSES_MAX, f->min, f->max);
        return buf;
    }
    json_array_foreach(v, i, it)
    {
        long long st = json_integer_value(it);

        if (!json_is_integer(it) || st < f->min || st > f->max) {
            cp_json_describe(it, got, sizeof(got));
            snprintf(buf, n, "[%zu]: expected an HTTP status, an integer from %lld to %lld, got %s", i,
                     f->min, f->max, got);
            return buf;
        }
        if (seen[(st - f->min) / 64] >> ((st - f->min) % 64) & 1u) {
            snprintf(buf, n, "[%zu]: %lld is listed twice", i, st);
            return buf;
        }
        seen[(st - f->min) / 64] |= (uint64_t)1 << ((st - f->min) % 64);
    }
    return NULL;
}

/* What a value of the named-choice kind <f> must be, or NULL when <v> is one of the choices. The
 * choices come from the tables that own them (adapters, flavors, log levels), so the message lists
 * exactly what the code accepts. <buf> (<n> bytes) may hold the text returned. */
static const char *cfg_expect_choice(const cfg_field_t *f, const json_t *v, char *buf, size_t n)
{
    const char *s = json_string_value(v);
    char names[200];

    switch (f->kind) {
    case K_STYLE: {
        enum cp_style st;
        if (s != NULL && cp_prov_style_parse(s, &st) == CP_OK)
            return NULL;
        cp_prov_style_names(buf, n);
        return buf;
    }
    case K_FLAVOR:
        if (s != NULL && cp_oai_flavor_find(s) != NULL)
            return NULL;
        cp_oai_flavor_names(names, sizeof(names));
        snprintf(buf, n, "one of %s", names);
        return buf;
    case K_LEVEL: {
        enum cp_log_level l;
        return s != NULL && cp_log_level_parse(s, &l) == CP_OK
                   ? NULL
                   : "one of \"error\", \"warn\", \"info\", \"debug\"";
    }
    case K_TLSVER:
        return s != NULL && (strcmp(s, "1.2") == 0 || strcmp(s, "1.3") == 0) ? NULL : "\"1.2\" or \"1.3\"";
    case K_ABSPATH:
        return s != NULL && s[0] == '/' && strlen(s) < PATH_MAX ? NULL : "an absolute file path";
    case K_FORMAT: {
        enum cp_log_format fm;
        return s != NULL && cp_log_format_parse(s, &fm) == CP_OK ? NULL : "\"json\" or \"text\"";
    }
    case K_MAXTOK:
        if (s != NULL && (strcmp(s, "auto") == 0 || strcmp(s, "max_tokens") == 0 ||
                          strcmp(s, "max_completion_tokens") == 0))
            return NULL;
        return "\"auto\", \"max_tokens\" or \"max_completion_tokens\"";
    default: /* K_TRISTATE */
        return json_is_boolean(v) || (s != NULL && strcmp(s, "auto") == 0) ? NULL : "true, false or \"auto\"";
    }
}

/* What a value of kind <f> must be, or NULL when <v> is fine. K_MODELMAP and K_HEADERS are only
 * checked for being objects here (cfg_check_entries looks inside). <buf> may hold the text. */
static const char *cfg_expect(const cfg_field_t *f, const json_t *v, char *buf, size_t n)
{
    size_t i;
    json_t *it; /* borrowed from v */

    switch (f->kind) {
    case K_OBJECT:
    case K_MAP:
        return json_is_object(v) ? NULL : "an object";
    case K_PORT:
    case K_UINT:
        if (json_is_integer(v) && json_integer_value(v) >= f->min && json_integer_value(v) <= f->max)
            return NULL;
        snprintf(buf, n, "an integer from %lld to %lld", f->min, f->max);
        return buf;
    case K_STRING:
        return json_is_string(v) ? NULL : "a string";
    case K_NONEMPTY:
        return json_is_string(v) && json_string_length(v) > 0 ? NULL : "a non-empty string";
    case K_URL:
        return json_is_string(v) && cp_config_url_ok(json_string_value(v))
                   ? NULL
                   : "an http:// or https:// URL with a host, e.g. \"https://api.openai.com/v1\"";
    case K_MODEL:
        if (cfg_models_ok(v))
            return NULL;
        snprintf(buf, n,
                 "a model name, \"model\" or \"model@provider\" (the model under 256 bytes), or an array of "
                 "1 to %d of them",
                 CP_CONFIG_FALLBACKS_MAX + 1);
        return buf;
    case K_RATE:
        if (json_is_number(v) && json_number_value(v) >= (double)f->min &&
            json_number_value(v) <= (double)f->max)
            return NULL;
        snprintf(buf, n, "a number from %lld to %lld", f->min, f->max);
        return buf;
    case K_KEYPOOL:
        return cfg_expect_keypool(v, buf, n);
    case K_STATUSES:
        return cfg_expect_statuses(f, v, buf, n);
    case K_STRLIST:
        if (!json_is_array(v))
            return "an array of strings";
        json_array_foreach(v, i, it)
        {
            if (!json_is_string(it) || json_string_length(it) == 0)
                return "an array of non-empty strings";
        }
        return NULL;
    case K_MODELMAP:
        return json_is_object(v) ? NULL : "an object of model-name patterns to \"model@provider\"";
    case K_FALLBACKS:
        return json_is_object(v) ? NULL : "an object of \"model@provider\" to an array of \"model@provider\"";
    case K_HEADERS:
        return json_is_object(v) ? NULL : "an object of header names to string values";
    case K_PROXY:
        return json_is_string(v) && (json_string_length(v) == 0 || cp_trust_proxy_ok(json_string_value(v)))
                   ? NULL
                   : "\"\" (no proxy) or a proxy URL such as \"http://proxy.example:3128\"";
    case K_BOOL:
        return json_is_boolean(v) ? NULL : "true or false";
    case K_CIDRS:
        if (!json_is_array(v) || json_array_size(v) > CFG_CIDRS_MAX) {
            snprintf(buf, n, "an array of at most %d address ranges such as \"10.0.0.0/8\" or \"fd00::/8\"",
                     CFG_CIDRS_MAX);
            return buf;
        }
        json_array_foreach(v, i, it)
        {
            cp_cidr_t c;
            if (!json_is_string(it) || cp_cidr_parse(json_string_value(it), &c) != CP_OK) {
                char got[96];
                cp_json_describe(it, got, sizeof(got));
                snprintf(buf, n,
                         "[%zu]: %s is not an address range such as \"10.0.0.0/8\", \"fd00::/8\" or "
                         "\"192.0.2.7\"",
                         i, got);
                return buf;
            }
        }
        return NULL;
    case K_KEYS:
    case K_PRICES:
        return NULL; /* cfg_check_value asks their modules */
    default:
        return cfg_expect_choice(f, v, buf, n);
    }
}

/* Whether a models.fallbacks value is not an array of 1..CP_CONFIG_FALLBACKS_MAX model names. */
static int cfg_fallback_bad(const json_t *v)
{
    size_t i;
    json_t *it; /* borrowed from v */

    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > CP_CONFIG_FALLBACKS_MAX)
        return 1;
    json_array_foreach(v, i, it)
    {
        if (!json_is_string(it) || !cp_config_model_ok(json_string_value(it)))
            return 1;
    }
    return 0;
}

/* The entries of a models.map, models.fallbacks or headers object <v>: each value is checked, and a bad
 * one is reported under its own key. */
static int cfg_check_entries(cfg_ctx_t *cx, const char *where, const char *path, const cfg_field_t *f,
                             const json_t *v)
{
    const char *k;
    json_t *ev; /* borrowed from v */
    char got[96];

    json_object_foreach((json_t *)v, k, ev)
    {
        const char *s = json_string_value(ev);

        if (f->kind == K_MODELMAP && (*k == '\0' || !cfg_models_ok(ev))) {
            cp_json_describe(ev, got, sizeof(got));
            return cp_err_set(
                cx->e, 0, NULL,
                "%s: %s.%s: expected a model name, \"model\" or \"model@provider\", or an array "
                "of 1 to %d of them, got %s",
                where, path, k, CP_CONFIG_FALLBACKS_MAX + 1, got);
        }
        if (f->kind == K_FALLBACKS && (*k == '\0' || !cp_config_model_ok(k) || cfg_fallback_bad(ev))) {
            cp_json_describe(ev, got, sizeof(got));
            return cp_err_set(cx->e, 0, NULL,
                              "%s: %s.%s: expected a model name as the key and an array of 1 to %d of them, "
                              "\"model\" or \"model@provider\", got %s",
                              where, path, k, CP_CONFIG_FALLBACKS_MAX, got);
        }
        if (f->kind == K_HEADERS &&
            (s == NULL || strpbrk(k, " :\r\n") != NULL || *k == '\0' || strpbrk(s, "\r\n") != NULL)) {
            if (s != NULL) /* a header value may be a credential: its length only, never its text */
                snprintf(got, sizeof(got), "a string of %zu bytes", json_string_length(ev));
            else
                cp_json_describe(ev, got, sizeof(got));
            return cp_err_set(cx->e, 0, NULL,
                              "%s: %s.%s: expected a header value string without line breaks, got %s", where,
                              path, k, got);
        }
    }
    return CP_OK;
}

/* Validates one value against its schema entry. <where> names the layer ("FILE", "environment
 * CCPROXY_PORT"); <path> is the dotted path. Returns CP_OK or CP_ERR with <cx->e> set. */
static int cfg_check_value(cfg_ctx_t *cx, const char *where, const char *path, const cfg_field_t *f,
                           const json_t *v)
{
    char got[96], buf[256];
    const char *expect = cfg_expect(f, v, buf, sizeof(buf));

    if (f->kind == K_KEYS || f->kind == K_PRICES) {
        char msg[400];
        if ((f->kind == K_KEYS ? cp_auth_keys_check(v, msg, sizeof(msg))
                               : cp_prices_check(v, msg, sizeof(msg))) != CP_OK)
            return cp_err_set(cx->e, 0, NULL, "%s: %s%s", where, path, msg);
        return CP_OK;
    }
    if (expect != NULL && expect[0] == '[') /* K_CIDRS: one bad entry, named */
        return cp_err_set(cx->e, 0, NULL, "%s: %s%s", where, path, expect);
    if (expect != NULL) {
        if (f->kind == K_PROXY && json_is_string(v)) /* a proxy URL may hold a password: its length only */
            snprintf(got, sizeof(got), "a string of %zu bytes", json_string_length(v));
        else if (f->kind == K_KEYPOOL && json_is_string(v)) /* a key written where the array belongs */
            snprintf(got, sizeof(got), "a string");
        else if (json_is_array(v))
            snprintf(got, sizeof(got), "an array of %zu", json_array_size(v));
        else
            cp_json_describe(v, got, sizeof(got));
        return cp_err_set(cx->e, 0, NULL, "%s: %s: expected %s, got %s", where, path, expect, got);
    }
    if (f->kind == K_MODELMAP || f->kind == K_HEADERS || f->kind == K_FALLBACKS)
        return cfg_check_entries(cx, where, path, f, v);
    return CP_OK;
}

/* Walks one layer: unknown keys warn, known keys are type-checked. <pattern> is <path> with provider
 * names replaced by "*". */
static int cfg_check_object(cfg_ctx_t *cx, const char *where, const char *path, const char *pattern,
                            const json_t *obj, int is_map)
{
    const char *key;
    json_t *v; /* borrowed */

    json_object_foreach((json_t *)obj, key, v)
    {
        char *p = cfg_join(path, key);
        char *pat = is_map ? cfg_join(pattern, "*") : cfg_join(pattern, key);
        const cfg_field_t *f = cfg_lookup(pat);
        int rc = CP_OK;

        if (f == NULL) {
            if (strcmp(key, "$schema") != 0 && strcmp(key, "//") != 0 && key[0] != '_')
                cfg_warn(cx, "ccproxy: warning: %s: unknown key %s (ignored)", where, p);
        } else if ((rc = cfg_check_value(cx, where, p, f, v)) == CP_OK &&
                   (f->kind == K_OBJECT || f->kind == K_MAP)) {
            rc = cfg_check_object(cx, where, p, pat, v, f->kind == K_MAP);
        }
        if (rc == CP_OK && is_map && (key[0] == '\0' || strpbrk(key, "@. /") != NULL))
            rc = cp_err_set(cx->e, 0, NULL,
                            "%s: %s: provider names may not be empty or contain '@', '.', '/' or spaces",
                            where, p);
        free(p);
        free(pat);
        if (rc != CP_OK)
            return rc;
    }
    return CP_OK;
}

/* ---- ${VAR} expansion ----------------------------------------------------------------------- */

/* Returns new: <s> with ${VAR} and ${VAR:-default} replaced; "$${" is a literal "${". Without
 * <vars> (a project file outside providers.*.apiKey and apiKeys) a reference is an error: NULL, <cx->e>
 * set. */
static char *cfg_expand(cfg_ctx_t *cx, const char *where, const char *path, const char *s, int vars)
{
    cp_buf_t out = CP_BUF_INIT;

    while (*s) {
        const char *val = NULL;
        size_t vlen = 0, skip = 1;
        char lit = *s;

        if (s[0] == '$' && s[1] == '$' && s[2] == '{') {
            val = "${";
            vlen = 2;
            skip = 3;
        } else if (s[0] == '$' && s[1] == '{' && strchr(s + 2, '}') != NULL) {
            const char *end = strchr(s + 2, '}');
            const char *dflt = strstr(s + 2, ":-");
            size_t nlen = (dflt != NULL && dflt < end) ? (size_t)(dflt - (s + 2)) : (size_t)(end - (s + 2));
            char *name = cp_xstrndup(s + 2, nlen);
            const char *env = getenv(name);

            if (!vars) {
                for (char *q = name; *q; q++) /* the file chose it: no control bytes in the message */
                    if (!((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9')))
                        *q = '_';
                cp_err_set(cx->e, 0, NULL,
                           "%s: %s: ${%.60s} is not expanded in project settings (only in "
                           "providers.<name>.apiKey and apiKeys); write the value, or set it in "
                           "~/.ccproxy/settings.json",
                           where, path, name);
                free(name);
                cp_buf_free(&out);
                return NULL;
            }
            if (env != NULL && *env != '\0') {
                val = env;
                vlen = strlen(env);
            } else if (dflt != NULL && dflt < end) {
                val = dflt + 2;
                vlen = (size_t)(end - val);
            } else {
                cfg_warn(cx, "ccproxy: warning: %s: %s: environment variable %s is not set; using \"\"",
                         where, path, name);
                val = "";
                vlen = 0;
            }
            free(name);
            skip = (size_t)(end - s) + 1;
        }
        if (val == NULL) {
            val = &lit;
            vlen = 1;
        }
        cp_buf_add(&out, val, vlen);
        s += skip;
    }
    return cp_buf_detach(&out, NULL);
}

/* The elements of providers.<name>.apiKeys (<arr>, at <path>), expanded as apiKey is, in any layer. An
 * element written as "" is refused here, before expansion: after it, "" means a variable that is not
 * set, which cfg_expand has warned about and the pool leaves out (cfg_provider_keys), as apiKey does.
 * Elements that are not strings are left to the schema check. Returns CP_OK, or CP_ERR with <cx->e>. */
static int cfg_expand_keys(cfg_ctx_t *cx, const char *where, const char *path, json_t *arr)
{
    size_t i;
    json_t *it; /* borrowed from arr */

    json_array_foreach(arr, i, it)
    {
        char *p, *x;

        if (!json_is_string(it))
            continue;
        if (json_string_length(it) == 0)
            return cp_err_set(cx->e, 0, NULL,
                              "%s: %s[%zu]: expected an API key (a non-empty string), got \"\"", where, path,
                              i);
        if (strchr(json_string_value(it), '$') == NULL)
            continue;
        p = cp_xasprintf("%s[%zu]", path, i);
        x = cfg_expand(cx, where, p, json_string_value(it), 1); /* with variables: never NULL */
        json_string_set(it, x);
        free(x);
        free(p);
    }
    return CP_OK;
}

/* Expands every string under <v>. <project>: only providers.<name>.apiKey and apiKeys may refer to a
 * variable (a repository chose those strings). Returns CP_OK, or CP_ERR with <cx->e> set. */
static int cfg_expand_tree(cfg_ctx_t *cx, const char *where, const char *path, json_t *v, int project)
{
    const char *key;
    json_t *child; /* borrowed */
    int rc = CP_OK;

    json_object_foreach(v, key, child)
    {
        char *p = cfg_join(path, key);
        const char *dot = strncmp(p, "providers.", 10) == 0 ? strchr(p + 10, '.') : NULL;
        int is_key = dot != NULL && (strcmp(dot, ".apiKey") == 0 || strcmp(dot, ".apiKeys") == 0);

        if (json_is_string(child) && strchr(json_string_value(child), '$') != NULL) {
            char *x = cfg_expand(cx, where, p, json_string_value(child), !project || is_key);
            if (x == NULL)
                rc = CP_ERR;
            else
                json_string_set(child, x);
            free(x);
        } else if (json_is_array(child) && is_key) {
            rc = cfg_expand_keys(cx, where, p, child);
        } else if (json_is_object(child)) {
            rc = cfg_expand_tree(cx, where, p, child, project);
        }
        free(p);
        if (rc != CP_OK)
            return rc;
    }
    return CP_OK;
}

/* ---- layers ------------------------------------------------------------------------------------ */

/* Parses and checks the bytes <tf> read from <path>; <project>: ${VAR} only in providers.*.apiKey.
 * Returns CP_OK with *out (new) set, or CP_ERR. */
static int cfg_parse_file(cfg_ctx_t *cx, const char *path, const cp_trust_file_t *tf, int project,
                          json_t **out)
{
    json_error_t jerr;
    json_t *root = json_loadb(tf->data, tf->len, JSON_REJECT_DUPLICATES, &jerr); /* owned */

    if (root == NULL)
        return cp_err_set(cx->e, 0, NULL, "%s:%d:%d: invalid JSON: %s", path, jerr.line, jerr.column,
                          jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return cp_err_set(cx->e, 0, NULL, "%s: expected a JSON object at the top level", path);
    }
    cp_trust_warn_readable_key(path, tf->mode, root, cx->warn, cx->ud);
    if (cfg_expand_tree(cx, path, "", root, project) != CP_OK ||
        cfg_check_object(cx, path, "", "", root, 0) != CP_OK) {
        json_decref(root);
        return CP_ERR;
    }
    *out = root;
    return CP_OK;
}

/* Reads (once, at most CP_TRUST_FILE_MAX bytes), parses and checks one file. Returns CP_OK with *out
 * (new) set, CP_DECLINED when the file does not exist and <optional>, or CP_ERR. */
static int cfg_load_file(cfg_ctx_t *cx, const char *path, int optional, json_t **out)
{
    cp_trust_file_t tf;
    int rc = cp_trust_read(path, 0, &tf, cx->e);

    if (rc == CP_DECLINED && !optional)
        rc = cp_err_set(cx->e, 0, NULL, "%s: cannot read: %s", path, strerror(ENOENT));
    if (rc == CP_OK)
        rc = cfg_parse_file(cx, path, &tf, 0, out);
    cp_trust_file_free(&tf);
    return rc;
}

/* Records <origin> for every leaf under <v> at <path>. */
static void cfg_mark(json_t *sources, const char *path, const json_t *v, const char *origin)
{
    const char *key;
    json_t *child; /* borrowed */

    if (json_is_object(v) && json_object_size(v) > 0) {
        json_object_foreach((json_t *)v, key, child)
        {
            char *p = cfg_join(path, key);
            cfg_mark(sources, p, child, origin);
            free(p);
        }
        return;
    }
    json_object_set_new(sources, path, json_string(origin));
}

/* Merges <src> into <dst> key by key (objects recurse, anything else replaces). */
static void cfg_merge(json_t *dst, const json_t *src, const char *path, const char *origin, json_t *sources)
{
    const char *key;
    json_t *sv; /* borrowed from src */

    json_object_foreach((json_t *)src, key, sv)
    {
        json_t *dv = json_object_get(dst, key); /* borrowed from dst */
        char *p = cfg_join(path, key);

        if (json_is_object(dv) && json_is_object(sv)) {
            cfg_merge(dv, sv, p, origin, sources);
        } else {
            json_object_set_new(dst, key, json_deep_copy(sv));
            cfg_mark(sources, p, sv, origin);
        }
        free(p);
    }
}

/* Sets <path> (two levels, "a.b") in <layer> to <v> (takes). */
static void cfg_set2(json_t *layer, const char *obj, const char *key, json_t *v)
{
    json_t *o = json_object_get(layer, obj); /* borrowed */

    if (o == NULL) {
        o = json_object();
        json_object_set_new(layer, obj, o);
    }
    json_object_set_new(o, key, v);
}

/* Adds one environment/flag value as its own layer so that its origin is exact. Returns CP_OK or
 * CP_ERR (bad value, named after <origin>). */
static int cfg_apply_scalar(cfg_ctx_t *cx, json_t *merged, json_t *sources, const char *origin,
                            const char *obj, const char *key, json_t *v /* takes */)
{
    char path[64];
    const cfg_field_t *f;
    json_t *layer = json_object(); /* owned */
    int rc;

    snprintf(path, sizeof(path), "%s.%s", obj, key);
    f = cfg_lookup(path);
    rc = cfg_check_value(cx, origin, path, f, v);
    cfg_set2(layer, obj, key, v);
    if (rc == CP_OK)
        cfg_merge(merged, layer, "", origin, sources);
    json_decref(layer);
    return rc;
}

/* An integer from an environment variable or flag, as JSON (a string when it is not a number, so the
 * schema check reports it as given). Returns new. */
static json_t *cfg_int_value(const char *s)
{
    char *end = NULL;
    long long n;

    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return json_string(s);
    return json_integer(n);
}

/* One file layer; <kind> names it in c->layers ("user", "managed", ...). */
static int cfg_layer_file(cfg_ctx_t *cx, cp_config_t *c, const char *path, int optional, const char *kind)
{
    json_t *layer = NULL; /* owned */
    int rc = cfg_load_file(cx, path, optional, &layer);

    if (rc == CP_DECLINED)
        return CP_OK;
    if (rc != CP_OK)
        return CP_ERR;
    cfg_merge(c->merged, layer, "", path, c->sources);
    json_object_set_new(c->layers, path, json_string(kind));
    json_decref(layer);
    return CP_OK;
}

/* Layer 3, ./.ccproxy/settings.json: a repository may ship it, so it is applied only when the user
 * trusted these bytes at this path (lib/base/cp_trust.h), or for `ccproxy trust` (<o->trust_project>),
 * which validates a file before recording it. Otherwise one warning line names the file and the
 * command. Fills c->project_*. */
static int cfg_layer_project(cfg_ctx_t *cx, cp_config_t *c, const cp_config_opts_t *o, const char *home,
                             const char *cwd)
{
    char *path = cp_xasprintf("%s/.ccproxy/settings.json", cwd);
    cp_trust_file_t tf;
    cp_err_t re = {0};
    json_t *layer = NULL; /* owned */
    enum cp_trust_state st;
    int rc = cp_trust_read(path, 1, &tf, &re), ret = CP_OK;

    if (rc == CP_ERR) {
        c->project_state = CP_PROJECT_UNUSABLE;
        cfg_warn(cx, "ccproxy: warning: ignoring project settings: %s", re.msg);
    } else if (rc == CP_OK) {
        c->project_path = cp_xstrdup(tf.real);
        memcpy(c->project_sha256, tf.sha256, sizeof(c->project_sha256));
        st = o->trust_project ? CP_TRUST_TRUSTED : cp_trust_check(home, &tf, cx->warn, cx->ud);
        c->project_state = st == CP_TRUST_TRUSTED ? CP_PROJECT_APPLIED : CP_PROJECT_IGNORED;
        if (st == CP_TRUST_CHANGED)
            cfg_warn(cx,
                     "ccproxy: warning: ignoring %s: it changed since you trusted it; check it, then run "
                     "`ccproxy trust` in %s",
                     path, cwd);
        else if (st == CP_TRUST_UNKNOWN)
            cfg_warn(cx,
                     "ccproxy: warning: ignoring %s: project settings are not trusted; check it, then run "
                     "`ccproxy trust` in %s",
                     path, cwd);
        else if ((ret = cfg_parse_file(cx, path, &tf, 1, &layer)) == CP_OK) {
            cfg_merge(c->merged, layer, "", path, c->sources);
            json_object_set_new(c->layers, path, json_string("project"));
            json_decref(layer);
        }
    }
    cp_trust_file_free(&tf);
    free(path);
    return ret;
}

/* ---- typed config ---------------------------------------------------------------------------- */

static int cfg_provider_cmp(const void *a, const void *b)
{
    return strcmp(((const cp_provider_t *)a)->name, ((const cp_provider_t *)b)->name);
}

static const char *cfg_source(const cp_config_t *c, const char *path)
{
    const char *s = json_string_value(json_object_get(c->sources, path));
    return s ? s : "default";
}

/* The origin of the first leaf under <prefix> (e.g. "providers.x."), for values that are missing. */
static const char *cfg_source_under(const cp_config_t *c, const char *prefix)
{
    const char *key;
    json_t *v; /* borrowed */
    size_t n = strlen(prefix);

    json_object_foreach(c->sources, key, v) if (strncmp(key, prefix, n) == 0) return json_string_value(v);
    return "default";
}

/* The origin of providers.<name>.flavor. */
static const char *cfg_source_flavor(const cp_config_t *c, const char *name)
{
    char path[300];

    snprintf(path, sizeof(path), "providers.%s.flavor", name);
    return cfg_source(c, path);
}

static long long cfg_int(const json_t *o, const char *key, long long dflt)
{
    json_t *v = json_object_get(o, key); /* borrowed */
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static const char *cfg_str(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

/* "<NAME>_API_KEY": upper case, anything not [A-Z0-9] becomes '_'. Returns new. */
char *cp_config_key_env_name(const char *name)
{
    char *s = cp_xasprintf("%s_API_KEY", name);

    for (char *p = s; *p && p < s + strlen(name); p++) {
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
        else if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    }
    return s;
}

/* The reasoning-model rules of one provider (see cp_provider_t). */
static void cfg_provider_reasoning(cp_provider_t *p, const json_t *pv)
{
    json_t *rm = json_object_get(pv, "reasoningModels"); /* borrowed */
    json_t *re = json_object_get(pv, "reasoningEffort"); /* borrowed */
    const char *mt = cfg_str(pv, "maxTokensField", "auto");

    p->reasoning_models = rm ? json_deep_copy(rm) : json_pack("[s,s,s,s]", "o1*", "o3*", "o4*", "gpt-5*");
    if (strcmp(mt, "max_tokens") == 0)
        p->max_tokens_field = CP_MAXTOK_MAX_TOKENS;
    else if (strcmp(mt, "max_completion_tokens") == 0)
        p->max_tokens_field = CP_MAXTOK_MAX_COMPLETION_TOKENS;
    else
        p->max_tokens_field = CP_MAXTOK_AUTO;
    p->reasoning_effort = json_is_boolean(re) ? json_is_true(re) : -1;
}

static int cfg_check_model_provider(cfg_ctx_t *cx, cp_config_t *c, const char *path, const char *model)
{
    const char *at = strrchr(model, '@');
    char list[512];

    if (at == NULL || cp_config_provider(c, at + 1, strlen(at + 1)) != NULL)
        return CP_OK;
    cp_config_provider_list(c, list, sizeof(list));
    return cp_err_set(cx->e, 0, NULL, "%s: %s: provider \"%s\" in \"%s\" is not configured (configured: %s)",
                      cfg_source(c, path), path, at + 1, model, list);
}

static void cfg_build_server(cp_config_t *c, const json_t *srv)
{
    c->host = cp_xstrdup(cfg_str(srv, "host", "0.0.0.0"));
    c->port = (int)cfg_int(srv, "port", 8082);
    c->max_body_bytes = (size_t)cfg_int(srv, "maxBodyBytes", 16LL << 20);
    c->max_header_bytes = (size_t)cfg_int(srv, "maxHeaderBytes", 65536);
    c->client_timeout_s = (unsigned)cfg_int(srv, "clientTimeoutSeconds", 600);
    c->head_timeout_s = (unsigned)cfg_int(srv, "headTimeoutSeconds", 30);
    c->body_timeout_s = (unsigned)cfg_int(srv, "bodyTimeoutSeconds", 300);
    c->keepalive_s = (unsigned)cfg_int(srv, "keepAliveSeconds", 30);
    c->max_connections = (unsigned)cfg_int(srv, "maxConnections", 0);
    c->max_per_peer = (unsigned)cfg_int(srv, "maxConnectionsPerPeer", 256);
    c->upload_budget = (size_t)cfg_int(srv, "uploadBudgetBytes", 128LL << 20);
    if (c->upload_budget < c->max_body_bytes)
        c->upload_budget = c->max_body_bytes; /* one largest upload always fits */
    c->max_json_values = (size_t)cfg_int(srv, "maxJsonValues", 200000);
    c->drain_timeout_s = (unsigned)cfg_int(srv, "drainTimeoutSeconds", 30);
    c->ping_interval_s = (unsigned)cfg_int(srv, "pingIntervalSeconds", 10);
    c->stream_buffer_bytes = (size_t)cfg_int(srv, "streamBufferBytes", 262144);
    c->max_answer_bytes = (size_t)cfg_int(srv, "maxAnswerBytes", 32LL << 20);
    c->max_concurrent = (unsigned)cfg_int(srv, "maxConcurrentRequests", 0);
    c->allowed_hosts = json_object_get(srv, "allowedHosts") != NULL
                           ? json_deep_copy(json_object_get(srv, "allowedHosts"))
                           : json_array();
    c->allowed_origins = json_object_get(srv, "allowedOrigins") != NULL
                             ? json_deep_copy(json_object_get(srv, "allowedOrigins"))
                             : json_array();
}

/* server.tls: both files or neither (lib/net/cp_tls.c reads them). */
static int cfg_build_tls(cfg_ctx_t *cx, cp_config_t *c, const json_t *tls)
{
    const char *cert = cfg_str(tls, "cert", NULL), *key = cfg_str(tls, "key", NULL);

    c->tls_min_version = strcmp(cfg_str(tls, "minVersion", "1.2"), "1.3") == 0 ? 13 : 12;
    if (tls == NULL)
        return CP_OK;
    if (cert == NULL || key == NULL)
        return cp_err_set(cx->e, 0, NULL,
                          "%s: server.tls: needs both \"cert\" (PEM certificate chain) and "
                          "\"key\" (PEM private key)",
                          cfg_source_under(c, "server.tls."));
    c->tls_cert = cp_xstrdup(cert);
    c->tls_key = cp_xstrdup(key);
    return CP_OK;
}

/* Adds <key> to the pool of <p> (p->keys holds CP_PROVIDER_KEYS_MAX) unless it is NULL, empty or already
 * there (the same bytes). Returns 0 when it was left out because the pool is full, else 1. */
static int cfg_pool_add(cp_provider_t *p, const char *key)
{
    if (key == NULL || *key == '\0')
        return 1;
    for (size_t i = 0; i < p->nkeys; i++)
        if (strcmp(p->keys[i], key) == 0)
            return 1;
    if (p->nkeys == CP_PROVIDER_KEYS_MAX)
        return 0;
    p->keys[p->nkeys++] = cp_xstrdup(key);
    return 1;
}

/* The key pool of provider <p>: apiKey, else the <NAME>_API_KEY variable (recorded as the key's source,
 * and put in the merged tree so that `ccproxy config` shows where it came from), then apiKeys in order,
 * empty ones (an unset variable, warned about when expanded) and repeats left out. p->api_key is the
 * first, borrowed from p->keys. apiKeys alone holds at most CP_PROVIDER_KEYS_MAX (the schema); with
 * apiKey one more could be named: it is left out with a warning, not refused, since whether apiKey is
 * set may depend on the environment. Never a key in the warning. */
static void cfg_provider_keys(cfg_ctx_t *cx, cp_config_t *c, cp_provider_t *p, json_t *pv)
{
    const char *key = cfg_str(pv, "apiKey", NULL);
    const json_t *pool = json_object_get(pv, "apiKeys"); /* borrowed */
    json_t *it;                                          /* borrowed from pool */
    size_t i, left = 0;

    if (key == NULL || *key == '\0') {
        const char *env = getenv(p->api_key_env);
        if (env != NULL && *env != '\0') {
            char path[256], origin[300];
            snprintf(path, sizeof(path), "providers.%s.apiKey", p->name);
            snprintf(origin, sizeof(origin), "env %s", p->api_key_env);
            json_object_set_new(pv, "apiKey", json_string(env));
            json_object_set_new(c->sources, path, json_string(origin));
            key = env;
        }
    }
    p->keys = cp_xcalloc(CP_PROVIDER_KEYS_MAX, sizeof(char *));
    cfg_pool_add(p, key);
    json_array_foreach(pool, i, it)
    {
        left += !cfg_pool_add(p, json_string_value(it));
    }
    if (left > 0)
        cfg_warn(cx,
                 "ccproxy: warning: providers.%s: apiKey and apiKeys name more than %d keys; the last %zu of "
                 "apiKeys left out",
                 p->name, CP_PROVIDER_KEYS_MAX, left);
    p->api_key = p->nkeys > 0 ? p->keys[0] : NULL;
}

/* Fills <p> from the merged provider object <pv>. Returns CP_OK, or CP_ERR for what only the whole
 * picture shows (no baseURL in any layer; a flavor on a provider that is not OpenAI-style). */
static int cfg_build_provider(cfg_ctx_t *cx, cp_config_t *c, cp_provider_t *p, const char *name, json_t *pv)
{
    const char *url = cfg_str(pv, "baseURL", NULL);
    const char *flavor = cfg_str(pv, "flavor", NULL);
    const char *proxy = cfg_str(pv, "proxy", NULL);
    json_t *hdr = json_object_get(pv, "headers"); /* borrowed */
    size_t ul;

    p->name = cp_xstrdup(name);
    p->api_key_env = cp_config_key_env_name(name);
    p->headers = hdr ? json_deep_copy(hdr) : json_object();
    if (cp_prov_style_parse(cfg_str(pv, "responseStyle", "openai"), &p->style) != CP_OK)
        p->style = CP_STYLE_OPENAI; /* cannot happen: checked against the schema */
    if (flavor != NULL) {
        /* the flavors are rules of the Chat Completions translation; elsewhere a flavor means nothing */
        if (p->style != CP_STYLE_OPENAI)
            return cp_err_set(cx->e, 0, NULL,
                              "%s: providers.%s.flavor: applies to responseStyle \"openai\" only",
                              cfg_source_flavor(c, name), name);
        p->flavor = cp_xstrdup(flavor);
    }
    p->connect_timeout_ms = (long)cfg_int(pv, "connectTimeoutMs", 10000);
    p->first_byte_timeout_ms = (long)cfg_int(pv, "firstByteTimeoutMs", 600000);
    p->fallback_first_byte_timeout_ms = (long)cfg_int(pv, "fallbackFirstByteTimeoutMs", 30000);
    p->idle_timeout_ms = (long)cfg_int(pv, "idleTimeoutMs", 300000);
    cfg_provider_reasoning(p, pv);
    p->max_output_tokens = (long)cfg_int(pv, "maxOutputTokens", 0);
    p->proxy = proxy != NULL ? cp_xstrdup(proxy) : NULL;
    if (url == NULL) {
        char prefix[256];
        snprintf(prefix, sizeof(prefix), "providers.%s.", name);
        return cp_err_set(cx->e, 0, NULL,
                          "%s: providers.%s.baseURL: expected an http:// or https:// URL, got nothing",
                          cfg_source_under(c, prefix), name);
    }
    ul = strlen(url);
    while (ul > 0 && url[ul - 1] == '/')
        ul--;
    p->base_url = cp_xstrndup(url, ul);
    cfg_provider_keys(cx, c, p, pv);
    if (p->api_key != NULL && strncmp(p->base_url, "http://", 7) == 0 && !cp_trust_url_loopback(p->base_url))
        cfg_warn(
            cx,
            "ccproxy: warning: providers.%s: its API key would cross the network unencrypted (baseURL is "
            "http:// to another machine); use https://",
            name);
    return CP_OK;
}

/* models.*: every "model@provider" must name a configured provider. */
/* A model target made whole: "model@provider" as given, or "model@" models.preferredProvider (new). */
static json_t *cfg_whole_target(const cp_config_t *c, const char *s)
{
    char *t = strrchr(s, '@') != NULL ? cp_xstrdup(s) : cp_xasprintf("%s@%s", s, c->preferred_provider);
    json_t *j = json_string(t);

    free(t);
    return j;
}

/* models.fallbacks or models.contextFallbacks (<fb>, at <name>) into *<out> (new, never NULL), every
 * name made whole and its provider checked. */
static int cfg_build_fallbacks(cfg_ctx_t *cx, cp_config_t *c, const json_t *fb, const char *name,
                               json_t **out)
{
    const char *k;
    json_t *list; /* borrowed from fb */

    *out = json_object();
    json_object_foreach((json_t *)fb, k, list)
    {
        json_t *whole = json_array(), *key = cfg_whole_target(c, k), *it;
        char path[512];
        size_t i;
        int rc = CP_OK;

        snprintf(path, sizeof(path), "%s.%s", name, k);
        rc = cfg_check_model_provider(cx, c, path, k);
        json_array_foreach(list, i, it)
        {
            if (rc == CP_OK && (rc = cfg_check_model_provider(cx, c, path, json_string_value(it))) == CP_OK)
                json_array_append_new(whole, cfg_whole_target(c, json_string_value(it)));
        }
        if (rc == CP_OK)
            json_object_set(*out, json_string_value(key), whole);
        json_decref(whole);
        json_decref(key);
        if (rc != CP_OK)
            return CP_ERR;
    }
    return CP_OK;
}

/* The providers named by <v> (at <path>), a model name or an array of them, are configured. */
static int cfg_check_model_names(cfg_ctx_t *cx, cp_config_t *c, const char *path, const json_t *v)
{
    size_t i;
    json_t *it; /* borrowed from v */

    if (json_is_string(v))
        return cfg_check_model_provider(cx, c, path, json_string_value(v));
    json_array_foreach(v, i, it)
    {
        if (cfg_check_model_provider(cx, c, path, json_string_value(it)) != CP_OK)
            return CP_ERR;
    }
    return CP_OK;
}

/* models.<key> (bigModel or smallModel), a name or an array of names, into *<arr> (new, an array of
 * one for a name) and *<first> (new, its first); <dflt> when absent. */
static int cfg_build_model_list(cfg_ctx_t *cx, cp_config_t *c, const json_t *mod, const char *key,
                                const char *dflt, json_t **arr, char **first)
{
    const json_t *v = json_object_get(mod, key); /* borrowed */
    char path[64];

    snprintf(path, sizeof(path), "models.%s", key);
    *arr = json_is_array(v) ? json_deep_copy(v)
                            : json_pack("[s]", json_is_string(v) ? json_string_value(v) : dflt);
    *first = cp_xstrdup(json_string_value(json_array_get(*arr, 0)));
    return cfg_check_model_names(cx, c, path, *arr);
}

static int cfg_build_models(cfg_ctx_t *cx, cp_config_t *c, const json_t *mod)
{
    const json_t *map = json_object_get(mod, "map"); /* borrowed */
    const char *pat;
    json_t *target; /* borrowed from c->model_map */
    char list[512];

    c->preferred_provider = cp_xstrdup(cfg_str(mod, "preferredProvider", "openai"));
    if (cfg_build_model_list(cx, c, mod, "bigModel", "gpt-4@openai", &c->big_models, &c->big_model) !=
            CP_OK ||
        cfg_build_model_list(cx, c, mod, "smallModel", "gpt-4-mini@openai", &c->small_models,
                             &c->small_model) != CP_OK)
        return CP_ERR;
    c->model_map = json_is_object(map) ? json_deep_copy(map) : json_object();
    json_object_foreach(c->model_map, pat, target)
    {
        char path[512];
        snprintf(path, sizeof(path), "models.map.%s", pat);
        if (cfg_check_model_names(cx, c, path, target) != CP_OK)
            return CP_ERR;
    }
    if (cp_config_provider(c, c->preferred_provider, strlen(c->preferred_provider)) == NULL) {
        cp_config_provider_list(c, list, sizeof(list));
        return cp_err_set(cx->e, 0, NULL,
                          "%s: models.preferredProvider: provider \"%s\" is not configured (configured: %s)",
                          cfg_source(c, "models.preferredProvider"), c->preferred_provider, list);
    }
    if (cfg_build_fallbacks(cx, c, json_object_get(mod, "fallbacks"), "models.fallbacks", &c->fallbacks) !=
        CP_OK)
        return CP_ERR;
    return cfg_build_fallbacks(cx, c, json_object_get(mod, "contextFallbacks"), "models.contextFallbacks",
                               &c->context_fallbacks);
}

/* retry and breaker (docs/resilience.md), checked by the schema: only loaded here. */
static void cfg_build_resilience(cp_config_t *c)
{
    static const int dflt[] = {408, 409, 429, 500, 502, 503, 504, 529}; /* retry.failoverStatuses */
    const json_t *rt = json_object_get(c->merged, "retry");             /* borrowed */
    const json_t *br = json_object_get(c->merged, "breaker");           /* borrowed */
    const json_t *st = json_object_get(rt, "failoverStatuses");         /* borrowed */
    const json_t *rate = json_object_get(br, "failureRate");            /* borrowed */
    json_t *it;                                                         /* borrowed from st */
    size_t i;

    c->retry_max_wait_s = (unsigned)cfg_int(rt, "maxWaitSeconds", 10);
    c->retry_max_attempts = (unsigned)cfg_int(rt, "maxAttempts", 3);
    memset(c->failover, 0, sizeof(c->failover));
    json_array_foreach(st, i, it)
    {
        long long s = json_integer_value(it); /* 400..599 */
        c->failover[(s - 400) / 64] |= (uint64_t)1 << ((s - 400) % 64);
    }
    for (i = 0; st == NULL && i < sizeof(dflt) / sizeof(dflt[0]); i++)
        c->failover[(dflt[i] - 400) / 64] |= (uint64_t)1 << ((dflt[i] - 400) % 64);
    c->breaker_failures = (unsigned)cfg_int(br, "failures", 5);
    c->breaker_rate = json_is_number(rate) ? json_number_value(rate) : 0.5;
    c->breaker_window_s = (unsigned)cfg_int(br, "windowSeconds", 60);
    c->breaker_min_requests = (unsigned)cfg_int(br, "minRequests", 10);
    c->breaker_cooldown_s = (unsigned)cfg_int(br, "cooldownSeconds", 30);
}

/* The default ledger: systemd's StateDirectory for the service, else ~/.ccproxy/usage.db. */
static char *cfg_ledger_default(const cfg_ctx_t *cx)
{
    const char *state = getenv("STATE_DIRECTORY");

    if (state != NULL && state[0] == '/') {
        size_t n = strcspn(state, ":"); /* systemd lists several directories separated by ':' */
        return cp_xasprintf("%.*s/usage.db", (int)n, state);
    }
    return cp_xasprintf("%s/.ccproxy/usage.db", cx->home != NULL ? cx->home : ".");
}

/* metrics (docs/configuration.md, "metrics"); the values were checked by the schema. */
static void cfg_build_metrics(cp_config_t *c, const json_t *met)
{
    const json_t *allow = json_object_get(met, "allow"); /* borrowed */
    const char *token = cfg_str(met, "token", NULL);
    size_t i;
    json_t *it; /* borrowed */

    c->metrics_token = token != NULL ? cp_xstrdup(token) : NULL;
    c->metrics_max_models = (unsigned)cfg_int(met, "maxModels", CP_METRICS_MODELS_DEFAULT);
    c->metrics_allow = cp_xcalloc(json_array_size(allow) + 1, sizeof(cp_cidr_t));
    json_array_foreach(allow, i, it)
    {
        if (cp_cidr_parse(json_string_value(it), &c->metrics_allow[c->metrics_nallow]) == CP_OK)
            c->metrics_nallow++;
    }
}

/* auth, prices, ledger, client (docs/team.md). */
static int cfg_build_team(cfg_ctx_t *cx, cp_config_t *c)
{
    const json_t *led = json_object_get(c->merged, "ledger"); /* borrowed */
    const json_t *cl = json_object_get(c->merged, "client");  /* borrowed */
    const char *url = cfg_str(cl, "url", NULL), *key = cfg_str(cl, "key", NULL);
    const char *key_env = cfg_str(cl, "keyEnv", NULL);

    c->auth = cp_auth_new(json_object_get(c->merged, "auth"));
    c->prices = cp_prices_new(json_object_get(c->merged, "prices"));
    c->ledger_enabled = !json_is_false(json_object_get(led, "enabled"));
    c->ledger_path =
        cfg_str(led, "path", NULL) != NULL ? cp_xstrdup(cfg_str(led, "path", NULL)) : cfg_ledger_default(cx);
    c->ledger_flush_ms = (unsigned)cfg_int(led, "flushMs", 250);
    c->ledger_batch_rows = (unsigned)cfg_int(led, "batchRows", 500);
    c->ledger_queue_rows = (size_t)cfg_int(led, "queueRows", 100000);
    c->client_url = url != NULL ? cp_xstrdup(url) : NULL;
    cfg_build_metrics(c, json_object_get(c->merged, "metrics"));
    c->client_key_env = key_env != NULL ? cp_xstrdup(key_env) : NULL;
    if (key == NULL && key_env != NULL)
        key = getenv(key_env);
    c->client_key = key != NULL && *key != '\0' ? cp_xstrdup(key) : NULL;
    return CP_OK;
}

static int cfg_build(cfg_ctx_t *cx, cp_config_t *c)
{
    json_t *prov = json_object_get(c->merged, "providers"); /* borrowed */
    json_t *lg = json_object_get(c->merged, "logging");     /* borrowed */
    const char *name;
    json_t *pv; /* borrowed */
    size_t i = 0;

    cfg_build_server(c, json_object_get(c->merged, "server"));
    if (cfg_build_tls(cx, c, json_object_get(json_object_get(c->merged, "server"), "tls")) != CP_OK)
        return CP_ERR;
    c->nproviders = json_object_size(prov);
    c->providers = cp_xcalloc(c->nproviders ? c->nproviders : 1, sizeof(cp_provider_t));
    json_object_foreach(prov, name, pv)
    {
        if (cfg_build_provider(cx, c, &c->providers[i++], name, pv) != CP_OK)
            return CP_ERR;
    }
    qsort(c->providers, c->nproviders, sizeof(cp_provider_t), cfg_provider_cmp);
    if (cfg_build_models(cx, c, json_object_get(c->merged, "models")) != CP_OK)
        return CP_ERR;
    cfg_build_resilience(c);
    cp_log_level_parse(cfg_str(lg, "level", "info"), &c->log_level);
    cp_log_format_parse(cfg_str(lg, "format", "json"), &c->log_format);
    return cfg_build_team(cx, c);
}

static int cfg_same_dir(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];

    if (realpath(a, ra) == NULL || realpath(b, rb) == NULL)
        return strcmp(a, b) == 0;
    return strcmp(ra, rb) == 0;
}

/* ---- public ---------------------------------------------------------------------------------- */

/* Layers 2-4: the user's file, the project's file (unless $CWD is $HOME), the managed file. */
static int cfg_layers_files(cfg_ctx_t *cx, cp_config_t *c, const cp_config_opts_t *o)
{
    const char *home = o->home ? o->home : getenv("HOME");
    const char *managed = o->managed_path ? o->managed_path : getenv("CCPROXY_MANAGED_PATH");
    const char *cwd;
    char cwdbuf[PATH_MAX];
    char *path;
    int rc = CP_OK;

    if (home != NULL && *home != '\0') {
        path = cp_xasprintf("%s/.ccproxy/settings.json", home);
        rc = cfg_layer_file(cx, c, path, 1, "user");
        free(path);
        if (rc != CP_OK)
            return rc;
    }
    cwd = o->cwd ? o->cwd : getcwd(cwdbuf, sizeof(cwdbuf));
    /* the same file must not load twice; in $HOME it is the user's own */
    if (cwd != NULL && (home == NULL || !cfg_same_dir(home, cwd)) &&
        cfg_layer_project(cx, c, o, home, cwd) != CP_OK)
        return CP_ERR;
    if (managed == NULL || *managed == '\0')
        managed = CP_CONFIG_MANAGED_DEFAULT;
    return cfg_layer_file(cx, c, managed, 1, "managed");
}

size_t cp_config_watch_paths(const cp_config_opts_t *o, char **out, size_t max)
{
    const char *home = o->home ? o->home : getenv("HOME");
    const char *managed = o->managed_path ? o->managed_path : getenv("CCPROXY_MANAGED_PATH");
    const char *env = getenv("CCPROXY_CONFIG");
    char cwdbuf[PATH_MAX];
    const char *cwd = o->cwd ? o->cwd : getcwd(cwdbuf, sizeof(cwdbuf));
    size_t n = 0;

    if (home != NULL && *home != '\0' && n + 2 <= max) {
        out[n++] = cp_xasprintf("%s/.ccproxy/settings.json", home);
        out[n++] = cp_xasprintf("%s/.ccproxy/trusted.json", home); /* trusting the project file */
    }
    if (cwd != NULL && n < max)
        out[n++] = cp_xasprintf("%s/.ccproxy/settings.json", cwd);
    if (n < max)
        out[n++] = cp_xstrdup(managed != NULL && *managed != '\0' ? managed : CP_CONFIG_MANAGED_DEFAULT);
    if (env != NULL && *env != '\0' && n < max)
        out[n++] = cp_xstrdup(env);
    if (o->flag_config != NULL && n < max)
        out[n++] = cp_xstrdup(o->flag_config);
    return n;
}

/* One environment variable <var> that sets <obj>.<key>; <as_int>: the value is a number. */
static int cfg_layer_env_one(cfg_ctx_t *cx, cp_config_t *c, const char *var, const char *obj, const char *key,
                             int as_int)
{
    const char *env = getenv(var);
    char origin[64];

    if (env == NULL || *env == '\0')
        return CP_OK;
    snprintf(origin, sizeof(origin), "env %s", var);
    return cfg_apply_scalar(cx, c->merged, c->sources, origin, obj, key,
                            as_int ? cfg_int_value(env) : json_string(env));
}

/* Layer 5: CCPROXY_CONFIG (a file that must exist), then the single-value variables. */
static int cfg_layers_env(cfg_ctx_t *cx, cp_config_t *c)
{
    const char *env = getenv("CCPROXY_CONFIG");

    if (env != NULL && *env != '\0' && cfg_layer_file(cx, c, env, 0, "CCPROXY_CONFIG") != CP_OK)
        return CP_ERR;
    if (cfg_layer_env_one(cx, c, "CCPROXY_PORT", "server", "port", 1) != CP_OK ||
        cfg_layer_env_one(cx, c, "CCPROXY_HOST", "server", "host", 0) != CP_OK ||
        cfg_layer_env_one(cx, c, "CCPROXY_LOG_LEVEL", "logging", "level", 0) != CP_OK ||
        cfg_layer_env_one(cx, c, "CCPROXY_LOG_FORMAT", "logging", "format", 0) != CP_OK)
        return CP_ERR;
    return CP_OK;
}

/* Layer 6: --config (a file that must exist), then --port, --host, --debug. */
static int cfg_layers_flags(cfg_ctx_t *cx, cp_config_t *c, const cp_config_opts_t *o)
{
    if (o->flag_config != NULL && cfg_layer_file(cx, c, o->flag_config, 0, "--config") != CP_OK)
        return CP_ERR;
    if ((o->flag_port_set || o->flag_port != 0) &&
        cfg_apply_scalar(cx, c->merged, c->sources, "flag --port", "server", "port",
                         json_integer(o->flag_port)) != CP_OK)
        return CP_ERR;
    if (o->flag_host != NULL && cfg_apply_scalar(cx, c->merged, c->sources, "flag --host", "server", "host",
                                                 json_string(o->flag_host)) != CP_OK)
        return CP_ERR;
    if (o->flag_debug && cfg_apply_scalar(cx, c->merged, c->sources, "flag --debug", "logging", "level",
                                          json_string("debug")) != CP_OK)
        return CP_ERR;
    return CP_OK;
}

cp_config_t *cp_config_load(const cp_config_opts_t *o, cp_config_warn_cb warn, void *ud, cp_err_t *e)
{
    cfg_ctx_t cx = {warn, ud, e, NULL};
    cp_config_t *c = cp_xcalloc(1, sizeof(*c));
    cp_config_opts_t none = {0};
    json_error_t jerr;

    if (o == NULL)
        o = &none;
    cx.home = o->home != NULL ? o->home : getenv("HOME");
    c->refs = 1;
    c->sources = json_object();
    c->layers = json_object();
    c->merged = json_loads(cp_config_defaults_json, 0, &jerr);
    if (c->merged == NULL) { /* cannot happen: the defaults are a constant */
        cp_err_set(e, 0, NULL, "built-in defaults: %s", jerr.text);
        goto fail;
    }
    cfg_mark(c->sources, "", c->merged, "default");
    if (cfg_layers_files(&cx, c, o) != CP_OK || cfg_layers_env(&cx, c) != CP_OK ||
        cfg_layers_flags(&cx, c, o) != CP_OK || cfg_build(&cx, c) != CP_OK)
        goto fail;
    return c;
fail:
    cp_config_unref(c);
    return NULL;
}

cp_config_t *cp_config_ref(cp_config_t *c)
{
    c->refs++;
    return c;
}

void cp_config_unref(cp_config_t *c)
{
    if (c == NULL || --c->refs > 0)
        return;
    for (size_t i = 0; i < c->nproviders; i++) {
        cp_provider_t *p = &c->providers[i];
        free(p->name);
        free(p->base_url);
        for (size_t k = 0; k < p->nkeys; k++)
            free(p->keys[k]); /* p->api_key is keys[0] */
        free(p->keys);
        free(p->api_key_env);
        free(p->flavor);
        free(p->proxy);
        json_decref(p->headers);
        json_decref(p->reasoning_models);
    }
    free(c->providers);
    free(c->host);
    json_decref(c->fallbacks);
    json_decref(c->context_fallbacks);
    json_decref(c->big_models);
    json_decref(c->small_models);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->big_model);
    free(c->small_model);
    free(c->preferred_provider);
    json_decref(c->model_map);
    json_decref(c->allowed_hosts);
    json_decref(c->allowed_origins);
    json_decref(c->merged);
    json_decref(c->sources);
    json_decref(c->layers);
    free(c->project_path);
    cp_auth_free(c->auth);
    cp_prices_free(c->prices);
    free(c->ledger_path);
    free(c->metrics_token);
    free(c->metrics_allow);
    free(c->client_url);
    free(c->client_key);
    free(c->client_key_env);
    free(c);
}

json_t *cp_config_dump(const cp_config_t *c)
{
    json_t *cfg = json_deep_copy(c->merged);          /* owned */
    json_t *prov = json_object_get(cfg, "providers"); /* borrowed from cfg */
    const char *name;
    json_t *pv; /* borrowed */

    json_object_foreach(prov, name, pv)
    {
        const char *k = json_string_value(json_object_get(pv, "apiKey"));
        json_t *hdrs = json_object_get(pv, "headers"); /* borrowed from pv */
        json_t *pool = json_object_get(pv, "apiKeys"); /* borrowed from pv */
        const char *hk;
        json_t *hv; /* borrowed from pool, then hdrs */
        size_t i;

        const char *proxy = json_string_value(json_object_get(pv, "proxy"));

        if (k != NULL && *k != '\0')
            json_object_set_new(pv, "apiKey", json_string(CFG_REDACTED));
        json_array_foreach(pool, i, hv)
        {
            if (json_string_length(hv) > 0) /* "" (an unset variable) says nothing and stays, as apiKey's */
                json_array_set_new(pool, i, json_string(CFG_REDACTED));
        }
        if (proxy != NULL && *proxy != '\0') {
            char *r = cp_trust_url_redacted(proxy);
            json_object_set_new(pv, "proxy", json_string(r));
            free(r);
        }
        json_object_foreach(hdrs, hk, hv)
        {
            if (json_is_string(hv) && json_string_length(hv) > 0 && cp_prov_header_secret(hk))
                json_object_set_new(hdrs, hk, json_string(CFG_REDACTED)); /* replacing keeps the iteration */
        }
    }
    if (json_is_string(json_object_get(json_object_get(cfg, "metrics"), "token")))
        json_object_set_new(json_object_get(cfg, "metrics"), "token", json_string(CFG_REDACTED));
    if (json_is_string(json_object_get(json_object_get(cfg, "client"), "key")))
        json_object_set_new(json_object_get(cfg, "client"), "key", json_string(CFG_REDACTED));
    return json_pack("{s:o,s:O,s:o}", "config", cfg, "sources", c->sources, "keys",
                     cp_trust_key_origins(c->merged, c->sources, c->layers));
}

const cp_provider_t *cp_config_provider(const cp_config_t *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->nproviders; i++)
        if (strlen(c->providers[i].name) == len && memcmp(c->providers[i].name, name, len) == 0)
            return &c->providers[i];
    return NULL;
}

void cp_config_provider_list(const cp_config_t *c, char *buf, size_t n)
{
    size_t len = 0;

    if (n == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < c->nproviders && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", c->providers[i].name);
}
