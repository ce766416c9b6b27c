/* Unit tests for lib/team/cp_auth.c: auth.keys validation (hostile values), key lookup by digest,
 * the presented key, model allow-lists, modes. */
#include "cp_unit.h"

#include "cp_auth.h"
#include "cp_common.h"

/* Any 64 hex digits: a well-formed digest for the shape checks. */
#define ALICE_HEX "6b1e9f5b6ebd1c35d3c0b0a4f9b6f9d5b0d4c9b4a1f0e3d2c1b0a9f8e7d6c5b4"

static char alice[65], bob[65];

static int setup(void **st)
{
    (void)st;
    cp_sha256_hex("ccp_alice", 9, alice);
    cp_sha256_hex("ccp_bob", 7, bob);
    return 0;
}

static json_t *keys_of(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    json_error_t err;
    json_t *j;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    j = json_loads(buf, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (j == NULL)
        fail_msg("bad test JSON: %s: %s", err.text, buf);
    return j;
}

static void check_bad(const char *json, const char *want)
{
    json_t *v = keys_of("%s", json);
    char msg[400];

    assert_int_equal(cp_auth_keys_check(v, msg, sizeof(msg)), CP_ERR);
    if (strstr(msg, want) == NULL)
        fail_msg("for %s: message \"%s\" lacks \"%s\"", json, msg, want);
    json_decref(v);
}

static void test_digest(void **st)
{
    char hex[65];

    (void)st;
    cp_sha256_hex("abc", 3, hex); /* FIPS 180-2 test vector */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(strlen(alice), 64);
}

static void test_check_good(void **st)
{
    char msg[400] = "";
    json_t *v;

    (void)st;
    v = keys_of(
        "[{\"name\":\"alice\",\"sha256\":\"%s\",\"models\":[\"claude-*\",\"gpt-5*@openai\"],\"rpm\":60,"
        "\"tpm\":400000,\"maxStreams\":8,\"budget\":{\"usd\":50,\"per\":\"month\"},\"created\":\"2026-12-"
        "05\"},"
        "{\"name\":\"bob.ci-1\",\"sha256\":\"%s\",\"budget\":{\"tokens\":1000000,\"per\":\"day\"}}]",
        alice, bob);
    assert_int_equal(cp_auth_keys_check(v, msg, sizeof(msg)), CP_OK);
    json_decref(v);
    v = json_array();
    assert_int_equal(cp_auth_keys_check(v, msg, sizeof(msg)), CP_OK); /* no keys: loopback mode */
    json_decref(v);
}

static void test_check_hostile(void **st)
{
    char big[300];

    (void)st;
    check_bad("{}", "expected an array of keys");
    check_bad("\"ccp_x\"", "expected an array");
    check_bad("[1]", "[0]: expected an object");
    check_bad("[{\"name\":\"a\"}]", "[0].sha256: expected the key's SHA-256 (required)");
    check_bad("[{\"sha256\":\"" ALICE_HEX "\"}]", "[0].name: expected a key name (required)");
    check_bad("[{\"name\":\"a b\",\"sha256\":\"" ALICE_HEX "\"}]", "[0].name: expected 1 to 64");
    check_bad("[{\"name\":\"\",\"sha256\":\"" ALICE_HEX "\"}]", "[0].name");
    check_bad("[{\"name\":\"a\\u0000b\",\"sha256\":\"" ALICE_HEX "\"}]", "[0].name");
    check_bad("[{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"sha256\":"
              "\"" ALICE_HEX "\"}]",
              "[0].name"); /* 65 bytes */
    check_bad("[{\"name\":\"a\",\"sha256\":\"abc\"}]", "[0].sha256: expected the key's SHA-256 as 64 hex");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "z\"}]", "[0].sha256");
    check_bad("[{\"name\":\"a\",\"sha256\":\"zz" ALICE_HEX "\"}]", "[0].sha256");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"rpm\":\"60\"}]",
              "[0].rpm: expected an integer from 1 to 100000, got \"60\"");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"rpm\":0}]", "[0].rpm");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"rpm\":100001}]", "[0].rpm");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"rpm\":-5}]", "[0].rpm");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"rpm\":1.5}]", "[0].rpm");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"tpm\":1000000000001}]", "[0].tpm");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"maxStreams\":null}]", "[0].maxStreams");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"rmp\":60}]", "[0].rmp: unknown field");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"key\":\"ccp_plain\"}]",
              "[0].key: unknown field");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"models\":[]}]",
              "[0].models: expected an array of 1 to 256");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"models\":\"claude-*\"}]", "[0].models");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"models\":[\"\"]}]", "[0].models[0]");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"models\":[\"x\",7]}]", "[0].models[1]");
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    {
        char json[600];
        snprintf(json, sizeof(json), "[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"models\":[\"%s\"]}]",
                 big);
        check_bad(json, "[0].models[0]");
    }
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"budget\":50}]",
              "[0].budget: expected an object");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"budget\":{\"usd\":50}}]", "[0].budget.per");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"budget\":{\"per\":\"day\"}}]",
              "exactly one of");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX
              "\",\"budget\":{\"usd\":5,\"tokens\":5,\"per\":\"day\"}}]",
              "exactly one of");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"budget\":{\"usd\":-1,\"per\":\"day\"}}]",
              "[0].budget.usd");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"budget\":{\"usd\":0,\"per\":\"day\"}}]",
              "[0].budget.usd");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"budget\":{\"usd\":\"5\",\"per\":\"day\"}}]",
              "[0].budget.usd");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\",\"budget\":{\"usd\":5,\"per\":\"year\"}}]",
              "[0].budget.per");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX
              "\",\"budget\":{\"usd\":5,\"per\":\"day\",\"x\":1}}]",
              "[0].budget.x: unknown field");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\"},{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\"}]",
              "[1].name: \"a\" is also the name of key [0]");
    check_bad("[{\"name\":\"a\",\"sha256\":\"" ALICE_HEX "\"},{\"name\":\"b\",\"sha256\":\"" ALICE_HEX "\"}]",
              "[1].sha256: the same key as [0]");
}

static void test_too_many(void **st)
{
    json_t *v = json_array();
    char msg[400], hex[65];

    (void)st;
    for (int i = 0; i <= CP_AUTH_KEYS_MAX; i++) {
        char name[16];
        snprintf(name, sizeof(name), "k%d", i);
        cp_sha256_hex(name, strlen(name), hex);
        json_array_append_new(v, json_pack("{s:s,s:s}", "name", name, "sha256", hex));
    }
    assert_int_equal(cp_auth_keys_check(v, msg, sizeof(msg)), CP_ERR);
    assert_non_null(strstr(msg, "at most 10000 keys"));
    json_decref(v);
}

/* The digest index: every one of many keys is found (probe chains cross each other), others are not. */
static void test_many_found(void **st)
{
    json_t *keys = json_array(), *a;
    cp_auth_t *au;
    char hex[65], name[16], key[32];

    (void)st;
    for (int i = 0; i < CP_AUTH_KEYS_MAX; i++) {
        snprintf(name, sizeof(name), "k%d", i);
        snprintf(key, sizeof(key), "ccp_key_%d", i);
        cp_sha256_hex(key, strlen(key), hex);
        json_array_append_new(keys, json_pack("{s:s,s:s}", "name", name, "sha256", hex));
    }
    a = json_pack("{s:o}", "keys", keys);
    au = cp_auth_new(a);
    assert_true(au->nslots >= 2 * au->n);
    for (int i = 0; i < CP_AUTH_KEYS_MAX; i++) {
        const cp_auth_key_t *k;
        snprintf(key, sizeof(key), "ccp_key_%d", i);
        snprintf(name, sizeof(name), "k%d", i);
        k = cp_auth_find(au, key, strlen(key));
        assert_non_null(k);
        assert_string_equal(k->name, name);
        snprintf(key, sizeof(key), "ccp_key_%d!", i);
        assert_null(cp_auth_find(au, key, strlen(key)));
    }
    cp_auth_free(au);
    json_decref(a);
}

static cp_auth_t *two_keys(void)
{
    json_t *a = keys_of(
        "{\"keys\":[{\"name\":\"alice\",\"sha256\":\"%s\",\"models\":[\"claude-*\",\"gpt-5*@openai\"],"
        "\"rpm\":60,\"budget\":{\"usd\":50,\"per\":\"month\"}},{\"name\":\"bob\",\"sha256\":\"%s\","
        "\"tpm\":1000,\"maxStreams\":2,\"budget\":{\"tokens\":99,\"per\":\"week\"}}]}",
        alice, bob);
    char msg[400];
    cp_auth_t *au;

    assert_int_equal(cp_auth_keys_check(json_object_get(a, "keys"), msg, sizeof(msg)), CP_OK);
    au = cp_auth_new(a);
    json_decref(a);
    return au;
}

static void test_find(void **st)
{
    cp_auth_t *a = two_keys();
    const cp_auth_key_t *k;
    char huge[CP_AUTH_PRESENTED_MAX + 2];

    (void)st;
    assert_int_equal(cp_auth_mode(a), CP_AUTH_KEYS);
    k = cp_auth_find(a, "ccp_alice", 9);
    assert_non_null(k);
    assert_string_equal(k->name, "alice");
    assert_int_equal(k->lim.rpm, 60);
    assert_int_equal(k->lim.per, CP_PER_MONTH);
    assert_true(k->lim.budget_usd == 50.0);
    k = cp_auth_find(a, "ccp_bob", 7);
    assert_non_null(k);
    assert_string_equal(k->name, "bob");
    assert_int_equal(k->lim.tpm, 1000);
    assert_int_equal(k->lim.max_streams, 2);
    assert_int_equal(k->lim.budget_tokens, 99);
    assert_int_equal(k->lim.per, CP_PER_WEEK);
    assert_null(cp_auth_find(a, "ccp_alic", 8));     /* a prefix of a key */
    assert_null(cp_auth_find(a, "ccp_alicE", 9));    /* case matters */
    assert_null(cp_auth_find(a, "ccp_alice\n", 10)); /* trailing bytes */
    assert_null(cp_auth_find(a, "", 0));
    assert_null(cp_auth_find(a, NULL, 0));
    assert_null(cp_auth_find(a, alice, 64)); /* the digest itself is not the key */
    memset(huge, 'x', sizeof(huge));
    assert_null(cp_auth_find(a, huge, sizeof(huge)));
    cp_auth_free(a);
}

static void test_presented(void **st)
{
    size_t n;
    const char *k;

    (void)st;
    k = cp_auth_presented("ccp_x", "Bearer ccp_y", &n);
    assert_int_equal(n, 5);
    assert_memory_equal(k, "ccp_x", 5); /* x-api-key first */
    k = cp_auth_presented(NULL, "Bearer ccp_y", &n);
    assert_int_equal(n, 5);
    assert_memory_equal(k, "ccp_y", 5);
    k = cp_auth_presented("", "bearer   ccp_z", &n); /* case-insensitive scheme, extra spaces */
    assert_memory_equal(k, "ccp_z", 5);
    assert_null(cp_auth_presented(NULL, "Basic dXNlcjpwYXNz", &n));
    assert_null(cp_auth_presented(NULL, "Bearer ", &n));
    assert_null(cp_auth_presented(NULL, "Bearer", &n));
    assert_null(cp_auth_presented(NULL, NULL, &n));
    assert_int_equal(n, 0);
}

static void test_models(void **st)
{
    cp_auth_t *a = two_keys();
    const cp_auth_key_t *al = cp_auth_find(a, "ccp_alice", 9), *b = cp_auth_find(a, "ccp_bob", 7);

    (void)st;
    assert_true(cp_auth_model_ok(al, "claude-sonnet-4-5", "gpt-4o", "openai")); /* the client's name */
    assert_true(cp_auth_model_ok(al, "CLAUDE-haiku", "x", "y"));                /* case-insensitive */
    assert_true(cp_auth_model_ok(al, "gpt-5-mini@openai", "gpt-5-mini", "openai"));
    assert_true(cp_auth_model_ok(al, "big", "claude-opus-4-8", "anthropic")); /* the upstream name */
    assert_false(cp_auth_model_ok(al, "gpt-5", "gpt-5", "openrouter"));       /* @openai only */
    assert_false(cp_auth_model_ok(al, "gpt-4o@openai", "gpt-4o", "openai"));
    assert_false(cp_auth_model_ok(al, "o3", "o3", "openai"));
    assert_true(cp_auth_model_ok(b, "anything", "at-all", "p")); /* no list: every model */
    cp_auth_free(a);
}

static void test_modes(void **st)
{
    json_t *j = json_pack("{s:b}", "allowUnauthenticated", 1);
    cp_auth_t *a;

    (void)st;
    a = cp_auth_new(NULL);
    assert_int_equal(cp_auth_mode(a), CP_AUTH_LOOPBACK);
    assert_string_equal(cp_auth_mode_name(cp_auth_mode(a)), "loopback only");
    cp_auth_free(a);
    a = cp_auth_new(j);
    assert_int_equal(cp_auth_mode(a), CP_AUTH_OPEN);
    cp_auth_free(a);
    json_decref(j);
    a = two_keys();
    assert_int_equal(cp_auth_mode(a), CP_AUTH_KEYS); /* keys win over allowUnauthenticated */
    cp_auth_free(a);
    cp_auth_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest),        cmocka_unit_test(test_check_good),
        cmocka_unit_test(test_check_hostile), cmocka_unit_test(test_too_many),
        cmocka_unit_test(test_find),          cmocka_unit_test(test_presented),
        cmocka_unit_test(test_models),        cmocka_unit_test(test_many_found),
        cmocka_unit_test(test_modes),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
