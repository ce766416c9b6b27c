/* lib/team/cp_price.c: see cp_price.h.
 *
 * A pattern matches a model when fnmatch (case-insensitive) accepts the whole name or, for a name with
 * a vendor prefix such as OpenRouter's "openai/gpt-4o", the part after the last '/'. A pattern
 * "X@P" matches when X matches the model that way and the glob P matches the provider's name. */
#include "cp_price.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_common.h"
#include "cp_json.h"

#define PRICE_PATTERNS_MAX 4096
#define PRICE_PATTERN_MAX  255    /* bytes */
#define PRICE_VALUE_MAX    100000 /* USD per million tokens */
#define PRICE_SHOW         60     /* bytes of a pattern shown in a message */

typedef struct price_rule {
    const char *model;    /* glob over the model name */
    const char *provider; /* glob over the provider name, or NULL: any provider */
    cp_price_t price;
} price_rule_t;

struct cp_prices {
    price_rule_t *rules; /* owned; the config's rules, in file order */
    char **texts;        /* owned: the strings the rules point into */
    size_t n;
};

/* List prices in USD per million tokens as of 2026 (input, output, cache read, cache write); the
 * `prices` setting of the configuration overrides any of them. Most specific patterns first: the
 * first match wins. Providers that bill no cache writes carry the input price there; those with no
 * cache discount carry it as the cache read price. */
static const price_rule_t price_builtin[] = {
    /* Anthropic: cache read = 0.1 x input, cache write (5 minutes) = 1.25 x input */
    {"claude-opus-4[-.][5-9]*", NULL, {5, 25, 0.5, 6.25}},
    {"claude-opus-4*", NULL, {15, 75, 1.5, 18.75}}, /* 4, 4.0, 4.1 and dated ids */
    {"claude-3-opus*", NULL, {15, 75, 1.5, 18.75}},
    {"claude-sonnet-4*", NULL, {3, 15, 0.3, 3.75}},
    {"claude-3[-.][57]-sonnet*", NULL, {3, 15, 0.3, 3.75}},
    {"claude-haiku-4*", NULL, {1, 5, 0.1, 1.25}},
    {"claude-3[-.]5-haiku*", NULL, {0.8, 4, 0.08, 1}},
    {"claude-3-haiku*", NULL, {0.25, 1.25, 0.03, 0.3}},
    /* OpenAI: cached input is the cache read price; no cache write charge */
    {"gpt-4o-mini*", NULL, {0.15, 0.6, 0.075, 0.15}},
    {"gpt-4o*", NULL, {2.5, 10, 1.25, 2.5}},
    {"gpt-4.1-nano*", NULL, {0.1, 0.4, 0.025, 0.1}},
    {"gpt-4.1-mini*", NULL, {0.4, 1.6, 0.1, 0.4}},
    {"gpt-4.1*", NULL, {2, 8, 0.5, 2}},
    {"gpt-5-nano*", NULL, {0.05, 0.4, 0.005, 0.05}},
    {"gpt-5-mini*", NULL, {0.25, 2, 0.025, 0.25}},
    {"gpt-5.1-codex-mini*", NULL, {0.25, 2, 0.025, 0.25}},
    {"gpt-5-pro*", NULL, {15, 120, 15, 15}},
    {"gpt-5.2-pro*", NULL, {21, 168, 21, 21}},
    {"gpt-5.2*", NULL, {1.75, 14, 0.175, 1.75}},
    {"gpt-5*", NULL, {1.25, 10, 0.125, 1.25}}, /* gpt-5, gpt-5.1, their -codex and -chat variants */
    {"o4-mini*", NULL, {1.1, 4.4, 0.275, 1.1}},
    {"o3-mini*", NULL, {1.1, 4.4, 0.55, 1.1}},
    {"o3-pro*", NULL, {20, 80, 20, 20}},
    {"o3*", NULL, {2, 8, 0.5, 2}},
    {"o1-mini*", NULL, {1.1, 4.4, 0.55, 1.1}},
    {"o1-pro*", NULL, {150, 600, 150, 150}},
    {"o1*", NULL, {15, 60, 7.5, 15}},
    /* Google Gemini (prompts up to 200k tokens; cache storage is billed apart) */
    {"gemini-3-pro*", NULL, {2, 12, 0.2, 2}},
    {"gemini-3-flash*", NULL, {0.5, 3, 0.05, 0.5}},
    {"gemini-2.5-pro*", NULL, {1.25, 10, 0.125, 1.25}},
    {"gemini-2.5-flash-lite*", NULL, {0.1, 0.4, 0.01, 0.1}},
    {"gemini-2.5-flash*", NULL, {0.3, 2.5, 0.03, 0.3}},
    {"gemini-2.0-flash-lite*", NULL, {0.075, 0.3, 0.075, 0.075}},
    {"gemini-2.0-flash*", NULL, {0.1, 0.4, 0.025, 0.1}},
    /* DeepSeek (V3.2: one price for both modes; cache hit = cache read) */
    {"deepseek-chat*", NULL, {0.28, 0.42, 0.028, 0.28}},
    {"deepseek-reasoner*", NULL, {0.28, 0.42, 0.028, 0.28}},
};

/* ---- checking ---- */

static int price_field_known(const char *k)
{
    return strcmp(k, "input") == 0 || strcmp(k, "output") == 0 || strcmp(k, "cacheRead") == 0 ||
           strcmp(k, "cacheWrite") == 0;
}

/* Checks one price object <o> of pattern <pat>. */
static int price_check_one(const char *pat, const json_t *o, char *msg, size_t n)
{
    char got[64];
    const char *k;
    json_t *f; /* borrowed */

    if (!json_is_object(o)) {
        cp_json_describe(o, got, sizeof(got));
        snprintf(msg, n, ".%.*s: expected an object such as {\"input\": 3, \"output\": 15}, got %s",
                 PRICE_SHOW, pat, got);
        return CP_ERR;
    }
    json_object_foreach((json_t *)o, k, f)
    {
        double d = json_number_value(f);
        if (!price_field_known(k)) {
            snprintf(msg, n, ".%.*s.%.64s: unknown field (expected input, output, cacheRead, cacheWrite)",
                     PRICE_SHOW, pat, k);
            return CP_ERR;
        }
        if (!json_is_number(f) || !(d >= 0 && d <= PRICE_VALUE_MAX)) {
            cp_json_describe(f, got, sizeof(got));
            snprintf(msg, n, ".%.*s.%s: expected a number from 0 to %d, got %s", PRICE_SHOW, pat, k,
                     PRICE_VALUE_MAX, got);
            return CP_ERR;
        }
    }
    for (int i = 0; i < 2; i++) {
        const char *req = i == 0 ? "input" : "output";
        if (json_object_get(o, req) == NULL) {
            snprintf(msg, n, ".%.*s.%s: required (USD per million %s tokens)", PRICE_SHOW, pat, req, req);
            return CP_ERR;
        }
    }
    return CP_OK;
}

/* Checks the pattern <pat> itself. */
static int price_check_pattern(const char *pat, char *msg, size_t n)
{
    size_t len = strlen(pat);
    const char *at = strrchr(pat, '@');

    if (len == 0) {
        snprintf(msg, n, ".: expected a non-empty pattern");
        return CP_ERR;
    }
    if (len > PRICE_PATTERN_MAX) {
        snprintf(msg, n, ".%.*s...: the pattern is longer than %d bytes", PRICE_SHOW, pat, PRICE_PATTERN_MAX);
        return CP_ERR;
    }
    if (at != NULL && (at == pat || at[1] == '\0')) {
        snprintf(msg, n, ".%.*s: expected \"model pattern\" or \"model pattern@provider\"", PRICE_SHOW, pat);
        return CP_ERR;
    }
    return CP_OK;
}

int cp_prices_check(const json_t *v, char *msg, size_t n)
{
    char got[64];
    const char *pat;
    json_t *o; /* borrowed */

    if (v == NULL)
        return CP_OK;
    if (!json_is_object(v)) {
        cp_json_describe(v, got, sizeof(got));
        snprintf(msg, n, ": expected an object of model patterns to prices, got %s", got);
        return CP_ERR;
    }
    if (json_object_size(v) > PRICE_PATTERNS_MAX) {
        snprintf(msg, n, ": at most %d patterns, got %zu", PRICE_PATTERNS_MAX, json_object_size(v));
        return CP_ERR;
    }
    json_object_foreach((json_t *)v, pat, o)
    {
        if (price_check_pattern(pat, msg, n) != CP_OK || price_check_one(pat, o, msg, n) != CP_OK)
            return CP_ERR;
    }
    return CP_OK;
}

/* ---- building and lookup ---- */

static double price_num(const json_t *o, const char *k, double dflt)
{
    const json_t *f = json_object_get(o, k);
    double d = json_number_value(f);

    return json_is_number(f) && d >= 0 && d <= PRICE_VALUE_MAX ? d : dflt;
}

cp_prices_t *cp_prices_new(const json_t *v)
{
    cp_prices_t *p = cp_xcalloc(1, sizeof(*p));
    size_t cap = json_is_object(v) ? json_object_size(v) : 0;
    const char *pat;
    json_t *o; /* borrowed */

    p->rules = cp_xcalloc(cap ? cap : 1, sizeof(*p->rules));
    p->texts = cp_xcalloc(cap ? cap : 1, sizeof(*p->texts));
    if (cap == 0)
        return p;
    json_object_foreach((json_t *)v, pat, o)
    {
        price_rule_t *r = &p->rules[p->n];
        char *text, *at;

        if (!json_is_object(o) || pat[0] == '\0')
            continue; /* not checked: skipped */
        text = cp_xstrdup(pat);
        at = strrchr(text, '@');
        if (at != NULL)
            *at = '\0';
        r->model = text;
        r->provider = at != NULL ? at + 1 : NULL;
        r->price.input = price_num(o, "input", 0);
        r->price.output = price_num(o, "output", 0);
        r->price.cache_read = price_num(o, "cacheRead", r->price.input * 0.1);
        r->price.cache_write = price_num(o, "cacheWrite", r->price.input * 1.25);
        p->texts[p->n++] = text;
    }
    return p;
}

void cp_prices_free(cp_prices_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->texts[i]);
    free(p->texts);
    free(p->rules);
    free(p);
}

static int price_matches(const price_rule_t *r, const char *model, const char *base, const char *provider)
{
    if (r->provider != NULL && (provider == NULL || fnmatch(r->provider, provider, FNM_CASEFOLD) != 0))
        return 0;
    return fnmatch(r->model, model, FNM_CASEFOLD) == 0 ||
           (base != model && fnmatch(r->model, base, FNM_CASEFOLD) == 0);
}

int cp_prices_lookup(const cp_prices_t *p, const char *model, const char *provider, cp_price_t *out)
{
    const char *slash, *base;

    memset(out, 0, sizeof(*out));
    if (model == NULL || model[0] == '\0')
        return CP_ERR;
    slash = strrchr(model, '/');
    base = slash != NULL ? slash + 1 : model;
    for (size_t i = 0; p != NULL && i < p->n; i++) {
        if (price_matches(&p->rules[i], model, base, provider)) {
            *out = p->rules[i].price;
            return CP_OK;
        }
    }
    for (size_t i = 0; i < sizeof(price_builtin) / sizeof(price_builtin[0]); i++) {
        if (price_matches(&price_builtin[i], model, base, provider)) {
            *out = price_builtin[i].price;
            return CP_OK;
        }
    }
    return CP_ERR;
}

double cp_price_cost(const cp_price_t *price, const cp_tokens_t *t)
{
    double in = t->input > 0 ? (double)t->input : 0, out = t->output > 0 ? (double)t->output : 0;
    double cr = t->cache_read > 0 ? (double)t->cache_read : 0,
           cw = t->cache_write > 0 ? (double)t->cache_write : 0;

    return (in * price->input + out * price->output + cr * price->cache_read + cw * price->cache_write) / 1e6;
}
