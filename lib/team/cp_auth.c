/* lib/team/cp_auth.c: see cp_auth.h. */
#include "cp_auth.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "cp_common.h"
#include "cp_json.h"

#define AUTH_MODELS_MAX  256
#define AUTH_PATTERN_MAX 255

int cp_auth_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > CP_AUTH_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

static int auth_hex_ok(const char *s, size_t len)
{
    if (len != 64)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    return 1;
}

static int auth_int_in(const json_t *v, long long lo, long long hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static int auth_fail(char *msg, size_t n, size_t i, const char *field, const char *expect, const json_t *v)
{
    char got[96];

    if (v != NULL)
        cp_json_describe(v, got, sizeof(got));
    snprintf(msg, n, "[%zu]%s%s: expected %s%s%s", i, field[0] ? "." : "", field, expect, v ? ", got " : "",
             v ? got : "");
    return CP_ERR;
}

static int auth_check_budget(const json_t *b, size_t i, char *msg, size_t n)
{
    const char *k;
    json_t *v; /* borrowed */
    int amounts = 0;

    if (!json_is_object(b))
        return auth_fail(msg, n, i, "budget", "an object such as {\"usd\": 50, \"per\": \"month\"}", b);
    json_object_foreach((json_t *)b, k, v)
    {
        if (strcmp(k, "usd") == 0) {
            amounts++;
            if (!json_is_number(v) || !(json_number_value(v) > 0) || json_number_value(v) > 1e12)
                return auth_fail(msg, n, i, "budget.usd", "a number above 0", v);
        } else if (strcmp(k, "tokens") == 0) {
            amounts++;
            if (!auth_int_in(v, 1, 1000000000000000LL))
                return auth_fail(msg, n, i, "budget.tokens", "an integer from 1 to 10^15", v);
        } else if (strcmp(k, "per") == 0) {
            enum cp_per per;
            if (!json_is_string(v) || cp_limits_per_parse(json_string_value(v), &per) != CP_OK)
                return auth_fail(msg, n, i, "budget.per", "\"day\", \"week\" or \"month\"", v);
        } else {
            snprintf(msg, n, "[%zu].budget.%.64s: unknown field (expected usd or tokens, and per)", i, k);
            return CP_ERR;
        }
    }
    if (amounts != 1)
        return auth_fail(msg, n, i, "budget", "exactly one of \"usd\" and \"tokens\"", NULL);
    if (json_object_get(b, "per") == NULL)
        return auth_fail(msg, n, i, "budget.per", "\"day\", \"week\" or \"month\" (required)", NULL);
    return CP_OK;
}

static int auth_check_models(const json_t *m, size_t i, char *msg, size_t n)
{
    size_t j;
    json_t *p; /* borrowed */

    if (!json_is_array(m) || json_array_size(m) == 0 || json_array_size(m) > AUTH_MODELS_MAX)
        return auth_fail(msg, n, i, "models", "an array of 1 to 256 model patterns", m);
    json_array_foreach(m, j, p)
    {
        if (!json_is_string(p) || json_string_length(p) == 0 || json_string_length(p) > AUTH_PATTERN_MAX ||
            strlen(json_string_value(p)) != json_string_length(p)) {
            char field[40];
            snprintf(field, sizeof(field), "models[%zu]", j);
            return auth_fail(msg, n, i, field, "a model pattern of 1 to 255 bytes", p);
        }
    }
    return CP_OK;
}

/* One entry of auth.keys (at index <i>). */
static int auth_check_key(const json_t *o, size_t i, char *msg, size_t n)
{
    const char *k;
    json_t *v; /* borrowed */

    if (!json_is_object(o))
        return auth_fail(msg, n, i, "", "an object with \"name\" and \"sha256\"", o);
    json_object_foreach((json_t *)o, k, v)
    {
        int rc = CP_OK;
        if (strcmp(k, "name") == 0) {
            if (!json_is_string(v) || !cp_auth_name_ok(json_string_value(v), json_string_length(v)))
                rc = auth_fail(msg, n, i, k, "1 to 64 characters of A-Z a-z 0-9 . _ -", v);
        } else if (strcmp(k, "sha256") == 0) {
            if (!json_is_string(v) || !auth_hex_ok(json_string_value(v), json_string_length(v)))
                rc = auth_fail(msg, n, i, k,
                               "the key's SHA-256 as 64 hex digits (`ccproxy keys add` writes it)", v);
        } else if (strcmp(k, "rpm") == 0) {
            if (!auth_int_in(v, 1, CP_LIMITS_RPM_MAX))
                rc = auth_fail(msg, n, i, k, "an integer from 1 to 100000", v);
        } else if (strcmp(k, "tpm") == 0) {
            if (!auth_int_in(v, 1, 1000000000000LL))
                rc = auth_fail(msg, n, i, k, "an integer from 1 to 10^12", v);
        } else if (strcmp(k, "maxStreams") == 0) {
            if (!auth_int_in(v, 1, 100000))
                rc = auth_fail(msg, n, i, k, "an integer from 1 to 100000", v);
        } else if (strcmp(k, "models") == 0) {
            rc = auth_check_models(v, i, msg, n);
        } else if (strcmp(k, "budget") == 0) {
            rc = auth_check_budget(v, i, msg, n);
        } else if (strcmp(k, "created") == 0) {
            if (!json_is_string(v) || json_string_length(v) > 63)
                rc = auth_fail(msg, n, i, k, "a time string", v);
        } else {
            snprintf(
                msg, n,
                "[%zu].%.64s: unknown field (expected name, sha256, models, rpm, tpm, maxStreams, budget, "
                "created)",
                i, k);
            rc = CP_ERR;
        }
        if (rc != CP_OK)
            return rc;
    }
    if (json_object_get(o, "name") == NULL)
        return auth_fail(msg, n, i, "name", "a key name (required)", NULL);
    if (json_object_get(o, "sha256") == NULL)
        return auth_fail(msg, n, i, "sha256", "the key's SHA-256 (required)", NULL);
    return CP_OK;
}

/* Sorting entries of auth.keys by one field, to find duplicates in O(n log n) (10^4 keys at most). */
typedef struct auth_ent {
    const char *s;
    size_t i;
} auth_ent_t;

static int auth_ent_cmp(const void *a, const void *b)
{
    const auth_ent_t *x = a, *y = b;
    int c = strcasecmp(x->s, y->s); /* case variants together, exact equals adjacent, by index */

    return c != 0 ? c : strcmp(x->s, y->s) != 0 ? strcmp(x->s, y->s) : (x->i > y->i) - (x->i < y->i);
}

/* A duplicate <field> ("name", exactly; "sha256", in any case) among the checked entries of <v>: CP_ERR
 * with <msg> naming the later one and the first. */
static int auth_check_dups(const json_t *v, const char *field, char *msg, size_t n)
{
    size_t count = json_array_size(v), k;
    auth_ent_t *e = cp_xcalloc(count ? count : 1, sizeof(*e));
    int rc = CP_OK, digest = strcmp(field, "sha256") == 0;

    for (k = 0; k < count; k++) {
        e[k].s = json_string_value(json_object_get(json_array_get(v, k), field));
        e[k].i = k;
    }
    qsort(e, count, sizeof(*e), auth_ent_cmp);
    for (k = 1; k < count && rc == CP_OK; k++) {
        if ((digest ? strcasecmp(e[k - 1].s, e[k].s) : strcmp(e[k - 1].s, e[k].s)) != 0)
            continue;
        if (digest)
            snprintf(msg, n, "[%zu].sha256: the same key as [%zu] (\"%s\")", e[k].i, e[k - 1].i,
                     json_string_value(json_object_get(json_array_get(v, e[k - 1].i), "name")));
        else
            snprintf(msg, n, "[%zu].name: \"%s\" is also the name of key [%zu]", e[k].i, e[k].s, e[k - 1].i);
        rc = CP_ERR;
    }
    free(e);
    return rc;
}

int cp_auth_keys_check(const json_t *v, char *msg, size_t n)
{
    size_t i;
    json_t *o; /* borrowed */

    if (!json_is_array(v)) {
        char got[96];
        cp_json_describe(v, got, sizeof(got));
        snprintf(msg, n, ": expected an array of keys, got %s", got);
        return CP_ERR;
    }
    if (json_array_size(v) > CP_AUTH_KEYS_MAX) {
        snprintf(msg, n, ": at most %d keys, got %zu", CP_AUTH_KEYS_MAX, json_array_size(v));
        return CP_ERR;
    }
    json_array_foreach(v, i, o)
    {
        if (auth_check_key(o, i, msg, n) != CP_OK)
            return CP_ERR;
    }
    if (auth_check_dups(v, "name", msg, n) != CP_OK || auth_check_dups(v, "sha256", msg, n) != CP_OK)
        return CP_ERR;
    return CP_OK;
}

static int auth_hexval(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static void auth_key_build(cp_auth_key_t *k, const json_t *o)
{
    const char *hex = json_string_value(json_object_get(o, "sha256"));
    const json_t *m = json_object_get(o, "models");
    const json_t *b = json_object_get(o, "budget");

    snprintf(k->name, sizeof(k->name), "%s", json_string_value(json_object_get(o, "name")));
    for (size_t i = 0; i < 32; i++)
        k->digest[i] = (unsigned char)(auth_hexval(hex[2 * i]) << 4 | auth_hexval(hex[2 * i + 1]));
    k->models = json_is_array(m) ? json_deep_copy(m) : NULL;
    k->lim.rpm = (unsigned)json_integer_value(json_object_get(o, "rpm"));
    k->lim.tpm = (int64_t)json_integer_value(json_object_get(o, "tpm"));
    k->lim.max_streams = (unsigned)json_integer_value(json_object_get(o, "maxStreams"));
    if (json_is_object(b)) {
        k->lim.budget_usd =
            json_is_number(json_object_get(b, "usd")) ? json_number_value(json_object_get(b, "usd")) : 0;
        k->lim.budget_tokens = (int64_t)json_integer_value(json_object_get(b, "tokens"));
        if (cp_limits_per_parse(json_string_value(json_object_get(b, "per")), &k->lim.per) != CP_OK)
            k->lim.per = CP_PER_NONE;
    }
}

/* Where a digest starts its probe: its first 8 bytes (uniformly distributed), masked. */
static size_t auth_slot(const unsigned char d[32], size_t nslots)
{
    uint64_t h;

    memcpy(&h, d, sizeof(h));
    return (size_t)(h & (nslots - 1));
}

cp_auth_t *cp_auth_new(const json_t *auth)
{
    cp_auth_t *a = cp_xcalloc(1, sizeof(*a));
    const json_t *keys = json_object_get(auth, "keys");
    size_t i;
    json_t *o; /* borrowed */

    a->allow_unauthenticated = json_is_true(json_object_get(auth, "allowUnauthenticated"));
    a->n = json_is_array(keys) ? json_array_size(keys) : 0;
    a->keys = cp_xcalloc(a->n ? a->n : 1, sizeof(*a->keys));
    if (a->n > 0)
        json_array_foreach(keys, i, o) auth_key_build(&a->keys[i], o);
    for (a->nslots = 4; a->nslots < 2 * a->n; a->nslots *= 2)
        ;
    a->slots = cp_xcalloc(a->nslots, sizeof(*a->slots));
    for (i = 0; i < a->n; i++) { /* digests are unique (cp_auth_keys_check) */
        size_t s = auth_slot(a->keys[i].digest, a->nslots);
        while (a->slots[s] != 0)
            s = (s + 1) & (a->nslots - 1);
        a->slots[s] = (uint32_t)i + 1;
    }
    return a;
}

void cp_auth_free(cp_auth_t *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++)
        json_decref(a->keys[i].models);
    free(a->keys);
    free(a->slots);
    free(a);
}

enum cp_auth_mode cp_auth_mode(const cp_auth_t *a)
{
    return a->n > 0 ? CP_AUTH_KEYS : a->allow_unauthenticated ? CP_AUTH_OPEN : CP_AUTH_LOOPBACK;
}

const char *cp_auth_mode_name(enum cp_auth_mode m)
{
    return m == CP_AUTH_KEYS ? "keys" : m == CP_AUTH_OPEN ? "open" : "loopback only";
}

const char *cp_auth_presented(const char *x_api_key, const char *authorization, size_t *len)
{
    if (x_api_key != NULL && *x_api_key != '\0') {
        *len = strlen(x_api_key);
        return x_api_key;
    }
    if (authorization != NULL && strncasecmp(authorization, "Bearer ", 7) == 0) {
        const char *t = authorization + 7;
        while (*t == ' ')
            t++;
        if (*t != '\0') {
            *len = strlen(t);
            return t;
        }
    }
    *len = 0;
    return NULL;
}

const cp_auth_key_t *cp_auth_find(const cp_auth_t *a, const char *key, size_t len)
{
    unsigned char d[32];
    const cp_auth_key_t *hit = NULL;

    if (key == NULL || len == 0 || len > CP_AUTH_PRESENTED_MAX || a->n == 0)
        return NULL;
    SHA256((const unsigned char *)key, len, d);
    for (size_t s = auth_slot(d, a->nslots); a->slots[s] != 0; s = (s + 1) & (a->nslots - 1)) {
        const cp_auth_key_t *k = &a->keys[a->slots[s] - 1];
        if (CRYPTO_memcmp(d, k->digest, sizeof(d)) == 0) {
            hit = k;
            break;
        }
    }
    OPENSSL_cleanse(d, sizeof(d));
    return hit;
}

int cp_auth_model_ok(const cp_auth_key_t *k, const char *client_model, const char *upstream_model,
                     const char *provider)
{
    char full[2 * 256 + 2];
    size_t i;
    json_t *p; /* borrowed */

    if (k->models == NULL)
        return 1;
    snprintf(full, sizeof(full), "%s@%s", upstream_model, provider);
    json_array_foreach(k->models, i, p)
    {
        const char *pat = json_string_value(p);
        if (strchr(pat, '@') != NULL) {
            if (fnmatch(pat, full, FNM_CASEFOLD) == 0)
                return 1;
        } else if (fnmatch(pat, client_model, FNM_CASEFOLD) == 0 ||
                   fnmatch(pat, upstream_model, FNM_CASEFOLD) == 0) {
            return 1;
        }
    }
    return 0;
}
