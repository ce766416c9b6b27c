/* tests/fuzz/fuzz_config.c: libFuzzer target for the configuration loader (lib/base/cp_config.c) and
 * what reads a loaded configuration first (lib/base/cp_route.c).
 *
 * The input is up to four files separated by NUL bytes: the user's settings
 * (HOME/.ccproxy/settings.json), the project's (CWD/.ccproxy/settings.json), the managed file and the
 * file named by $CCPROXY_CONFIG; a part that is absent is a file that does not exist. They are written
 * in a private temporary directory made once per process (removed at exit) and loaded with
 * cp_config_load(), every other layer fixed: the CCPROXY_* variables unset, a few variables set for
 * `${VAR}` expansion (FZ_VAR, FZ_URL, FZ_SECRET, FZ_EMPTY, CORP_LLM_TOKEN) and OPENAI_API_KEY for a
 * provider without apiKey.
 *
 * Checks, besides no crash, no leak and no ASan/UBSan report on any input:
 * - a refusal has a message. (That a bad header value is never quoted in it is checked by
 *   tests/unit/test_config.c, not here: messages quote key names from the input, and a key can spell
 *   anything, JSON escapes included, so a text search here flags keys that merely look like a value.)
 * - a loaded config holds what the loader promises: ranges of server values, providers sorted by
 *   unique name with an http(s) baseURL without a trailing '/', a known flavor only on OpenAI-style
 *   providers, bigModel/smallModel/models.map targets and preferredProvider naming configured
 *   providers, so that routing any model name without '@' succeeds (docs/configuration.md,
 *   "`models`"; see the one exception in route_ok below);
 * - cp_config_dump() shows every apiKey, secret-looking header value and client.key as "<redacted>";
 * - auth.keys holds valid, unique names and digests and consistent limits; prices look up.
 *
 * Run: `make fuzz` (all targets), or after it:
 *   build-fuzz/fuzz_config -max_len=4096 build-fuzz/corpus/fuzz_config */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cp_auth.h"
#include "cp_config.h"
#include "cp_oai_flavor.h"
#include "cp_price.h"
#include "cp_prov.h"
#include "cp_route.h"

#define FZ_SECRET "s3cr3t-FUZZ-9f8e7d6c5b4a"
#define FZ_PARTS  4

static char fz_root[256];
static char fz_dir[4][300];         /* home, home/.ccproxy, proj, proj/.ccproxy */
static char fz_file[FZ_PARTS][400]; /* home settings, project settings, managed, $CCPROXY_CONFIG */

static void fz_cleanup(void)
{
    for (int i = 0; i < FZ_PARTS; i++)
        unlink(fz_file[i]);
    for (int i = 3; i >= 0; i--)
        rmdir(fz_dir[i]);
    rmdir(fz_root);
}

static void fz_init(void)
{
    static const char *const unset[] = {
        "CCPROXY_CONFIG",     "CCPROXY_PORT",         "CCPROXY_HOST",   "CCPROXY_LOG_LEVEL",
        "CCPROXY_LOG_FORMAT", "CCPROXY_MANAGED_PATH", "GEMINI_API_KEY", "OPENROUTER_API_KEY",
        "ANTHROPIC_API_KEY",  "LOCAL_LLM_URL",        "FZ_UNSET"};
    const char *tmp = getenv("TMPDIR");

    snprintf(fz_root, sizeof(fz_root), "%s/ccproxy-fuzz-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(fz_root) == NULL) {
        perror("fuzz_config: mkdtemp");
        abort();
    }
    snprintf(fz_dir[0], sizeof(fz_dir[0]), "%s/home", fz_root);
    snprintf(fz_dir[1], sizeof(fz_dir[1]), "%s/home/.ccproxy", fz_root);
    snprintf(fz_dir[2], sizeof(fz_dir[2]), "%s/proj", fz_root);
    snprintf(fz_dir[3], sizeof(fz_dir[3]), "%s/proj/.ccproxy", fz_root);
    for (int i = 0; i < 4; i++)
        if (mkdir(fz_dir[i], 0700) != 0)
            abort();
    snprintf(fz_file[0], sizeof(fz_file[0]), "%s/settings.json", fz_dir[1]);
    snprintf(fz_file[1], sizeof(fz_file[1]), "%s/settings.json", fz_dir[3]);
    snprintf(fz_file[2], sizeof(fz_file[2]), "%s/managed-settings.json", fz_root);
    snprintf(fz_file[3], sizeof(fz_file[3]), "%s/env-config.json", fz_root);
    atexit(fz_cleanup);
    for (size_t i = 0; i < sizeof(unset) / sizeof(unset[0]); i++)
        unsetenv(unset[i]);
    setenv("FZ_VAR", "value", 1);
    setenv("FZ_URL", "https://llm.example.test/v1", 1);
    setenv("FZ_SECRET", FZ_SECRET, 1);
    setenv("FZ_EMPTY", "", 1);
    setenv("CORP_LLM_TOKEN", "corp-token-0123456789", 1);
    setenv("OPENAI_API_KEY", "sk-env-0123456789abcdef", 1);
}

/* Writes the parts of <d>/<n> to the files (absent parts: no file). */
static void fz_write(const uint8_t *d, size_t n)
{
    size_t at = 0;
    int more = 1;

    for (int i = 0; i < FZ_PARTS; i++) {
        const uint8_t *end = more && at < n ? memchr(d + at, '\0', n - at) : NULL;
        size_t len = end != NULL ? (size_t)(end - (d + at)) : n - at;
        FILE *f;

        unlink(fz_file[i]);
        if (!more)
            continue;
        if ((f = fopen(fz_file[i], "wb")) == NULL || fwrite(d + at, 1, len, f) != len || fclose(f) != 0)
            abort();
        more = end != NULL;
        at += len + 1;
    }
    if (access(fz_file[3], F_OK) == 0)
        setenv("CCPROXY_CONFIG", fz_file[3], 1);
    else
        unsetenv("CCPROXY_CONFIG");
}

/* A configured target must route (the loader refuses model parts too long for cp_route_t). */
static void route_ok(const cp_config_t *c, const char *target)
{
    cp_route_t rt;
    cp_err_t e = {0};

    if (cp_route_target(c, target, &rt, &e) != CP_OK)
        abort();
}

/* A configured rule's value, a name or a chain of names (bigModel, smallModel, a models.map value): every
 * name routes, a chain has 1..CP_CONFIG_FALLBACKS_MAX+1 of them. */
static void chain_ok(const cp_config_t *c, const json_t *v)
{
    size_t i;
    json_t *it; /* borrowed from v */

    if (json_is_string(v)) {
        route_ok(c, json_string_value(v));
        return;
    }
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > CP_CONFIG_FALLBACKS_MAX + 1)
        abort();
    json_array_foreach(v, i, it) route_ok(c, json_string_value(it));
}

/* Routing any name: CP_OK, or a 400 with a message (for names with '@' or too long). */
static void route_any(const cp_config_t *c, const char *model)
{
    cp_route_t rt;
    cp_err_t e = {0};

    if (cp_route_resolve(c, model, &rt, &e) == CP_OK) {
        if (rt.provider == NULL || rt.model[0] == '\0' || rt.nnext > CP_CONFIG_FALLBACKS_MAX ||
            rt.nctx > CP_CONFIG_FALLBACKS_MAX)
            abort();
        for (size_t i = 0; i < rt.nnext; i++)
            if (rt.next[i].provider == NULL || rt.next[i].model[0] == '\0')
                abort();
    } else if (e.http_status != 400 || e.msg[0] == '\0') {
        abort();
    }
}

static void fz_check_providers(const cp_config_t *c)
{
    for (size_t i = 0; i < c->nproviders; i++) {
        const cp_provider_t *p = &c->providers[i];
        size_t ul = strlen(p->base_url);

        if (i > 0 && strcmp(c->providers[i - 1].name, p->name) >= 0)
            abort();
        if (!cp_config_url_ok(p->base_url) || p->base_url[ul - 1] == '/' || !json_is_object(p->headers) ||
            !json_is_array(p->reasoning_models) || (p->api_key != NULL && p->api_key[0] == '\0') ||
            (unsigned)p->style >= CP_STYLE_COUNT || p->api_key_env == NULL)
            abort();
        if (p->flavor != NULL && (p->style != CP_STYLE_OPENAI || cp_oai_flavor_find(p->flavor) == NULL))
            abort();
        if (cp_config_provider(c, p->name, strlen(p->name)) != p)
            abort();
        /* the key pool: 0..CP_PROVIDER_KEYS_MAX non-empty distinct keys, apiKey its first */
        if (p->nkeys > CP_PROVIDER_KEYS_MAX || p->api_key != (p->nkeys > 0 ? p->keys[0] : NULL))
            abort();
        for (size_t k = 0; k < p->nkeys; k++) {
            if (p->keys[k] == NULL || p->keys[k][0] == '\0')
                abort();
            for (size_t j = 0; j < k; j++)
                if (strcmp(p->keys[j], p->keys[k]) == 0)
                    abort();
        }
    }
}

static void fz_check_loaded(const cp_config_t *c)
{
    const char *pat;
    json_t *target; /* borrowed from the config */
    static const char *const names[] = {"claude-3-5-haiku-20241022",
                                        "claude-sonnet-4-5[1m]",
                                        "claude-opus-4-1",
                                        "gpt-4o",
                                        "o3@openai",
                                        "x@nowhere",
                                        ""};

    if (c->refs != 1 || c->port < 0 || c->port > 65535 || c->host[0] == '\0' || c->max_body_bytes < 1 ||
        c->max_header_bytes < 1024 || c->client_timeout_s < 1 || c->ping_interval_s < 1 ||
        c->stream_buffer_bytes < 4096 || c->max_answer_bytes < 65536 || !json_is_array(c->allowed_hosts) ||
        !json_is_array(c->allowed_origins) || !json_is_object(c->model_map) || c->nproviders < 1)
        abort();
    fz_check_providers(c);
    if (!cp_config_model_ok(c->big_model) || !cp_config_model_ok(c->small_model) ||
        cp_config_provider(c, c->preferred_provider, strlen(c->preferred_provider)) == NULL)
        abort();
    route_ok(c, c->big_model);
    route_ok(c, c->small_model);
    chain_ok(c, c->big_models);
    chain_ok(c, c->small_models);
    if (strcmp(json_string_value(json_array_get(c->big_models, 0)), c->big_model) != 0 ||
        strcmp(json_string_value(json_array_get(c->small_models, 0)), c->small_model) != 0)
        abort();
    json_object_foreach(c->model_map, pat, target) chain_ok(c, target);
    if (!json_is_object(c->context_fallbacks) || c->breaker_rate < 0 || c->breaker_rate > 1 ||
        c->breaker_cooldown_s < 1 || c->breaker_window_s < 1 || cp_config_failover(c, 200) ||
        cp_config_failover(c, 399) || cp_config_failover(c, 600) || (c->failover[3] >> 8) != 0)
        abort();
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        route_any(c, names[i]);
}

/* cp_config_dump(): every apiKey and secret-looking header value is redacted. */
static void fz_check_dump(const cp_config_t *c)
{
    json_t *dump = cp_config_dump(c);
    json_t *prov = json_object_get(json_object_get(dump, "config"), "providers");
    const char *name, *hk;
    json_t *pv, *hv; /* borrowed */
    char *text;

    if (!json_is_object(dump) || !json_is_object(json_object_get(dump, "sources")))
        abort();
    json_object_foreach(prov, name, pv)
    {
        const char *k = json_string_value(json_object_get(pv, "apiKey"));
        size_t ki;
        json_t *kv; /* borrowed from the dump */

        if (k != NULL && k[0] != '\0' && strcmp(k, "<redacted>") != 0)
            abort();
        json_array_foreach(json_object_get(pv, "apiKeys"), ki, kv)
        {
            if (json_is_string(kv) && json_string_length(kv) > 0 &&
                strcmp(json_string_value(kv), "<redacted>") != 0)
                abort();
        }
        json_object_foreach(json_object_get(pv, "headers"), hk, hv)
        {
            if (json_is_string(hv) && json_string_length(hv) > 0 && cp_prov_header_secret(hk) &&
                strcmp(json_string_value(hv), "<redacted>") != 0)
                abort();
        }
    }
    {
        const char *ck = json_string_value(
            json_object_get(json_object_get(json_object_get(dump, "config"), "client"), "key"));
        if (ck != NULL && strcmp(ck, "<redacted>") != 0)
            abort(); /* the developer key of client.key */
    }
    text = json_dumps(dump, JSON_COMPACT);
    free(text);
    json_decref(dump);
}

/* The team sections (docs/team.md): what the loader promises of a loaded auth table and ledger. */
static void fz_check_team(const cp_config_t *c)
{
    if (c->auth == NULL || c->prices == NULL || c->ledger_path == NULL || c->auth->n > CP_AUTH_KEYS_MAX)
        abort();
    for (size_t i = 0; i < c->auth->n; i++) {
        const cp_auth_key_t *k = &c->auth->keys[i];
        size_t len = strlen(k->name);
        if (len == 0 || len > CP_AUTH_NAME_MAX ||
            strspn(k->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                            "0123456789._-") != len)
            abort();
        if (k->lim.rpm > CP_LIMITS_RPM_MAX || k->lim.tpm < 0 || k->lim.budget_tokens < 0 ||
            k->lim.budget_usd < 0 ||
            ((k->lim.budget_usd > 0 || k->lim.budget_tokens > 0) != (k->lim.per != CP_PER_NONE)))
            abort();
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->auth->keys[j].name, k->name) == 0 ||
                memcmp(c->auth->keys[j].digest, k->digest, 32) == 0)
                abort();
        cp_auth_model_ok(k, "claude-sonnet-4-5", "gpt-5", "openai");
    }
    if (c->ledger_flush_ms < 10 || c->ledger_queue_rows < 100)
        abort();
    {
        cp_price_t pr;
        if (cp_prices_lookup(c->prices, "gpt-4o", "openai", &pr) == CP_OK &&
            !(pr.input >= 0 && pr.output >= 0))
            abort();
    }
}

static void fz_warn(const char *line, void *ud)
{
    (void)ud;
    if (line == NULL || line[0] == '\0')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    cp_config_opts_t o;
    cp_config_t *c;
    cp_err_t e;

    if (fz_root[0] == '\0')
        fz_init();
    fz_write(d, n);
    memset(&o, 0, sizeof(o));
    o.home = fz_dir[0];
    o.cwd = fz_dir[2];
    o.managed_path = fz_file[2];
    memset(&e, 0, sizeof(e));
    c = cp_config_load(&o, fz_warn, NULL, &e);
    if (c == NULL) {
        if (e.msg[0] == '\0')
            abort();
        return 0;
    }
    fz_check_loaded(c);
    fz_check_dump(c);
    fz_check_team(c);
    cp_config_unref(cp_config_ref(c));
    cp_config_unref(c);
    return 0;
}
