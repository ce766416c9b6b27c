/* Unit tests for lib/cli/cp_keys.c (the key's text, flag values, auth.keys edits, the words for limits,
 * the settings-file edit) and the client part of lib/cli/cp_init.c (`init --remote`). */
#include "cp_unit.h"

#include <errno.h>
#include <fcntl.h>

#include <jansson.h>

#include "cp_auth.h"
#include "cp_cli.h"
#include "cp_init.h"
#include "cp_keys.h"

static void test_base62(void **s)
{
    unsigned char raw[32];
    char out[CP_KEYS_B62_DIGITS + 1], key[CP_KEYS_KEY_LEN + 1];

    (void)s;
    memset(raw, 0, sizeof(raw));
    cp_keys_base62(raw, out);
    assert_string_equal(out, "0000000000000000000000000000000000000000000");
    raw[31] = 61;
    cp_keys_base62(raw, out);
    assert_string_equal(out + 41, "0z");
    raw[31] = 62;
    cp_keys_base62(raw, out);
    assert_string_equal(out + 41, "10");
    memset(raw, 0xff, sizeof(raw)); /* the largest value still fits in 43 digits */
    cp_keys_base62(raw, out);
    assert_string_equal(out, "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1");
    for (int i = 0; i < 32; i++)
        raw[i] = (unsigned char)i;
    cp_keys_format(raw, key);
    assert_string_equal(key, "ccp_003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf");
    assert_int_equal(strlen(key), CP_KEYS_KEY_LEN);
    assert_int_equal(strncmp(key, CP_AUTH_PREFIX, 4), 0);
}

static void test_names(void **s)
{
    char long_name[70];

    (void)s;
    assert_true(cp_keys_name_ok("alice"));
    assert_true(cp_keys_name_ok("ci-bot_2.x"));
    assert_false(cp_keys_name_ok(""));
    assert_false(cp_keys_name_ok("al ice"));
    assert_false(cp_keys_name_ok("alice\n"));
    assert_false(cp_keys_name_ok("ålice"));
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    assert_false(cp_keys_name_ok(long_name));
    long_name[64] = '\0';
    assert_true(cp_keys_name_ok(long_name));
}

static void test_parse_int(void **s)
{
    static const char *const bad[] = {"",    "12abc", "-1",  "+1", " 1",     "1 ",
                                      "1e3", "0x10",  "1.0", "0",  "100001", "99999999999999999999999",
                                      "\t"};
    cp_err_t e = {0};
    long long v = -5;

    (void)s;
    assert_int_equal(cp_keys_parse_int("--rpm", "60", 1, 100000, &v, &e), CP_OK);
    assert_int_equal(v, 60);
    assert_int_equal(cp_keys_parse_int("--rpm", "100000", 1, 100000, &v, &e), CP_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = -5;
        assert_int_equal(cp_keys_parse_int("--rpm", bad[i], 1, 100000, &v, &e), CP_ERR);
        assert_int_equal(v, -5);
        assert_non_null(strstr(e.msg, "--rpm"));
    }
    /* the quoted value is cut and has no control bytes */
    assert_int_equal(
        cp_keys_parse_int("--tpm", "1\x1b[2J000000000000000000000000000000000000000000000000", 1, 10, &v, &e),
        CP_ERR);
    assert_null(strchr(e.msg, '\x1b'));
    assert_non_null(strstr(e.msg, "..."));
}

static void test_parse_usd(void **s)
{
    static const char *const bad[] = {"",    "0",  "0.0", "-1",    "1e3",   "1e999",         "inf",
                                      "nan", ".5", "5.",  "1.2.3", "12abc", "1000000000001", " 5"};
    cp_err_t e = {0};
    double v = 0;

    (void)s;
    assert_int_equal(cp_keys_parse_usd("--budget-usd", "50", &v, &e), CP_OK);
    assert_true(v == 50.0);
    assert_int_equal(cp_keys_parse_usd("--budget-usd", "12.50", &v, &e), CP_OK);
    assert_true(v == 12.5);
    assert_int_equal(cp_keys_parse_usd("--budget-usd", "0.01", &v, &e), CP_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cp_keys_parse_usd("--budget-usd", bad[i], &v, &e), CP_ERR);
        assert_non_null(strstr(e.msg, "--budget-usd"));
    }
}

static void test_parse_models(void **s)
{
    cp_err_t e = {0};
    json_t *m = cp_keys_parse_models(" claude-* ,gpt-5*@openai,\tx ", &e); /* owned */
    char many[600];

    (void)s;
    assert_non_null(m);
    assert_int_equal(json_array_size(m), 3);
    assert_string_equal(json_string_value(json_array_get(m, 0)), "claude-*");
    assert_string_equal(json_string_value(json_array_get(m, 1)), "gpt-5*@openai");
    assert_string_equal(json_string_value(json_array_get(m, 2)), "x");
    json_decref(m);
    assert_null(cp_keys_parse_models("a,,b", &e));
    assert_null(cp_keys_parse_models("a,", &e));
    assert_null(cp_keys_parse_models(" ", &e));
    assert_null(cp_keys_parse_models("a\x01", &e));
    for (int i = 0; i < 257; i++) /* 257 patterns */
        memcpy(many + 2 * i, "a,", 2);
    many[2 * 257 - 1] = '\0';
    assert_null(cp_keys_parse_models(many, &e));
    many[2 * 256 - 1] = '\0';
    m = cp_keys_parse_models(many, &e);
    assert_non_null(m);
    json_decref(m);
}

static void test_apply_flags(void **s)
{
    cp_cli_t cli;
    cp_err_t e = {0};
    json_t *entry = cp_keys_entry("alice", "", "2026-12-05T10:00:00Z"); /* owned */
    json_t *keys;
    char *dump;
    char msg[256];

    (void)s;
    memset(&cli, 0, sizeof(cli));
    cli.models = "claude-*";
    cli.rpm = "60";
    cli.tpm = "400000";
    cli.max_streams = "8";
    cli.budget_usd = "50";
    assert_int_equal(cp_keys_apply_flags(&cli, entry, &e), CP_OK);
    dump = json_dumps(entry, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(dump,
                        "{\"name\":\"alice\",\"sha256\":\"\",\"created\":\"2026-12-05T10:00:00Z\",\"models\":"
                        "[\"claude-*\"],\"rpm\":60,\"tpm\":400000,\"maxStreams\":8,\"budget\":{\"usd\":50.0,"
                        "\"per\":\"month\"}}");
    free(dump);
    /* what it writes passes the server's own check */
    json_object_set_new(entry, "sha256",
                        json_string("ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"));
    keys = json_pack("[O]", entry);
    assert_int_equal(cp_auth_keys_check(keys, msg, sizeof(msg)), CP_OK);
    json_decref(keys);
    json_decref(entry);
    /* a bad value leaves the entry as it was */
    entry = cp_keys_entry("bob", "", "t");
    memset(&cli, 0, sizeof(cli));
    cli.models = "a";
    cli.budget_tokens = "1000";
    cli.per = "week";
    cli.max_streams = "0";
    assert_int_equal(cp_keys_apply_flags(&cli, entry, &e), CP_ERR);
    assert_non_null(strstr(e.msg, "--max-streams"));
    assert_int_equal(json_object_size(entry), 3);
    cli.max_streams = NULL;
    assert_int_equal(cp_keys_apply_flags(&cli, entry, &e), CP_OK);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(entry, "budget"), "tokens")), 1000);
    assert_string_equal(json_string_value(json_object_get(json_object_get(entry, "budget"), "per")), "week");
    json_decref(entry);
}

static void test_tree(void **s)
{
    cp_err_t e = {0};
    json_t *root = unit_jq("{'server': {'port': 9}, 'providers': {}, 'logging': {'level': 'info'}}");
    json_t *keys, *bad;
    char *dump;

    (void)s;
    assert_null(cp_keys_array(root, 0, &e));
    keys = cp_keys_array(root, 1, &e);
    assert_non_null(keys);
    json_array_append_new(keys, cp_keys_entry("alice", "aa", "t1"));
    json_array_append_new(keys, cp_keys_entry("bob", "bb", "t2"));
    assert_int_equal(cp_keys_find(keys, "bob"), 1);
    assert_int_equal(cp_keys_find(keys, "carol"), -1);
    dump = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(
        dump, "{\"server\":{\"port\":9},\"providers\":{},\"logging\":{\"level\":\"info\"},\"auth\":"
              "{\"keys\":[{\"name\":\"alice\",\"sha256\":\"aa\",\"created\":\"t1\"},{\"name\":\"bob\","
              "\"sha256\":\"bb\",\"created\":\"t2\"}]}}");
    free(dump);
    json_decref(root);
    bad = unit_jq("{'auth': []}");
    assert_null(cp_keys_array(bad, 1, &e));
    assert_non_null(strstr(e.msg, "auth"));
    json_decref(bad);
    bad = unit_jq("{'auth': {'keys': {}}}");
    assert_null(cp_keys_array(bad, 1, &e));
    assert_non_null(strstr(e.msg, "auth.keys"));
    json_decref(bad);
}

static void test_words(void **s)
{
    cp_buf_t b = CP_BUF_INIT;
    json_t *lim =
        unit_jq("{'rpm': 60, 'tpm': 400000, 'maxStreams': 8, 'budget': {'usd': 12.5, 'per': 'month'}}");
    json_t *use =
        unit_jq("{'requests_last_minute': 3, 'tokens_last_minute': 1200, 'streams': 1, 'budget': {'per': "
                "'week', 'window_start': '2026-11-30T00:00:00Z', 'spent_tokens': 10, 'limit_tokens': 500, "
                "'limit_usd': null}}");
    json_t *none = json_object();

    (void)s;
    cp_keys_limits_text(lim, &b);
    assert_string_equal(cp_buf_str(&b), "60 rpm, 400000 tpm, 8 streams, $12.50/month");
    cp_buf_reset(&b, 0);
    cp_keys_limits_text(none, &b);
    assert_string_equal(cp_buf_str(&b), "none");
    cp_buf_reset(&b, 0);
    cp_keys_usage_text(use, &b);
    assert_string_equal(cp_buf_str(&b),
                        "3 requests and 1200 tokens in the last minute, 1 streams; spent 10 of 500 "
                        "tokens this week (since 2026-11-30T00:00:00Z)");
    cp_buf_reset(&b, 0);
    cp_keys_safe_text("a\x1b[31mb", 4, &b);
    assert_string_equal(cp_buf_str(&b), "a?[3...");
    cp_buf_free(&b);
    json_decref(lim);
    json_decref(use);
    json_decref(none);
}

static int reject_all(const char *tmp, void *ud, cp_err_t *e)
{
    struct stat st;

    *(int *)ud = stat(tmp, &st) == 0 && (st.st_mode & 0777) == 0640;
    return cp_err_set(e, 0, NULL, "refused by the check");
}

static void test_file_edit(void **s)
{
    char *dir = unit_tmpdir();
    char path[1100], link_path[1100], other[1100];
    cp_keys_file_t f, g;
    cp_err_t e = {0};
    struct stat st;
    int seen = 0;
    json_t *back;

    (void)s;
    snprintf(path, sizeof(path), "%s/sub/settings.json", dir);
    /* no directory, no file: {} */
    assert_int_equal(cp_keys_file_open(path, 0700, &f, &e), CP_OK);
    assert_int_equal(json_object_size(f.root), 0);
    assert_false(f.existed);
    /* a second edit waits for the first (the lock), then gives up */
    assert_int_equal(cp_keys_file_open(path, 0700, &g, &e), CP_ERR);
    assert_non_null(strstr(e.msg, "another ccproxy"));
    cp_keys_file_close(&g);
    json_object_set_new(f.root, "b", json_integer(1));
    json_object_set_new(f.root, "a", json_integer(2));
    assert_int_equal(cp_keys_file_commit(&f, NULL, NULL, &e), CP_OK);
    cp_keys_file_close(&f);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* the mode is kept; a refusing check writes nothing */
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(cp_keys_file_open(path, 0700, &f, &e), CP_OK);
    assert_true(f.existed);
    json_object_set_new(f.root, "c", json_integer(3));
    assert_int_equal(cp_keys_file_commit(&f, reject_all, &seen, &e), CP_DECLINED);
    assert_true(seen);
    assert_int_equal(cp_keys_file_commit(&f, NULL, NULL, &e), CP_OK);
    cp_keys_file_close(&f);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    back = json_load_file(path, 0, NULL);
    assert_non_null(back);
    assert_string_equal(json_object_iter_key(json_object_iter(back)), "b"); /* order kept */
    assert_int_equal(json_object_size(back), 3);
    json_decref(back);
    /* a symbolic link is refused, and so is a file that is not JSON */
    snprintf(link_path, sizeof(link_path), "%s/sub/link.json", dir);
    assert_int_equal(symlink(path, link_path), 0);
    assert_int_equal(cp_keys_file_open(link_path, 0700, &f, &e), CP_ERR);
    assert_non_null(strstr(e.msg, "symbolic link"));
    cp_keys_file_close(&f);
    snprintf(other, sizeof(other), "%s/sub/bad.json", dir);
    unit_write(dir, "sub/bad.json", "{\"a\": ");
    assert_int_equal(cp_keys_file_open(other, 0700, &f, &e), CP_DECLINED);
    cp_keys_file_close(&f);
    unit_write(dir, "sub/bad.json", "[1]");
    assert_int_equal(cp_keys_file_open(other, 0700, &f, &e), CP_DECLINED);
    cp_keys_file_close(&f);
    unit_rmtree(dir);
    free(dir);
}

/* The managed file of a system service is root:ccproxy 0640 (systemd/ccproxy.service): an edit by root
 * keeps its group, not root's, or the service could no longer read it. */
static void test_file_group(void **s)
{
    char *dir = unit_tmpdir();
    char path[1100];
    cp_keys_file_t f;
    cp_err_t e = {0};
    struct stat st;
    gid_t other = (gid_t)-1, groups[64];
    int n = getgroups(64, groups);

    (void)s;
    if (geteuid() == 0)
        other = getegid() == 4242 ? 4243 : 4242; /* root may give a file any group */
    for (int i = 0; i < n && other == (gid_t)-1; i++)
        if (groups[i] != getegid())
            other = groups[i]; /* others may give it one of their own groups */
    if (other == (gid_t)-1) {
        unit_rmtree(dir);
        free(dir);
        skip(); /* no second group to try */
    }
    unit_write(dir, "etc/managed-settings.json", "{\"a\": 1}");
    snprintf(path, sizeof(path), "%s/etc/managed-settings.json", dir);
    assert_int_equal(chown(path, (uid_t)-1, other), 0);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(cp_keys_file_open(path, 0755, &f, &e), CP_OK);
    json_object_set_new(f.root, "b", json_integer(2));
    assert_int_equal(cp_keys_file_commit(&f, NULL, NULL, &e), CP_OK);
    cp_keys_file_close(&f);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_gid, other);
    assert_int_equal(st.st_mode & 0777, 0640);
    unit_rmtree(dir);
    free(dir);
}

static void test_client(void **s)
{
    cp_err_t e = {0};
    json_t *root = unit_jq("{'providers': {'x': {'baseURL': 'http://h'}}, 'client': {'keyEnv': 'K'}}");
    char big[600];
    char *dump;

    (void)s;
    assert_int_equal(cp_init_client_check("https://team:8082", "ccp_abc", "CCPROXY_KEY", &e), CP_OK);
    assert_int_equal(cp_init_client_check("ftp://team", NULL, NULL, &e), CP_ERR);
    assert_int_equal(cp_init_client_check("https://", NULL, NULL, &e), CP_ERR);
    assert_int_equal(cp_init_client_check(NULL, "a b", NULL, &e), CP_ERR);
    assert_int_equal(cp_init_client_check(NULL, "a\"b", NULL, &e), CP_ERR);
    assert_int_equal(cp_init_client_check(NULL, "", NULL, &e), CP_ERR);
    memset(big, 'k', 512);
    big[512] = '\0';
    assert_int_equal(cp_init_client_check(NULL, big, NULL, &e), CP_ERR);
    big[511] = '\0';
    assert_int_equal(cp_init_client_check(NULL, big, NULL, &e), CP_OK);
    assert_int_equal(cp_init_client_check(NULL, NULL, "1BAD", &e), CP_ERR);
    assert_int_equal(cp_init_client_apply(root, "https://team:8082", "ccp_k", NULL, 0, &e), CP_OK);
    dump = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(dump, "{\"providers\":{\"x\":{\"baseURL\":\"http://h\"}},\"client\":{\"url\":"
                              "\"https://team:8082\",\"key\":\"ccp_k\"}}");
    free(dump);
    assert_int_equal(cp_init_client_apply(root, "https://other", NULL, "K2", 0, &e), CP_DECLINED);
    assert_non_null(strstr(e.msg, "https://team:8082"));
    assert_int_equal(cp_init_client_apply(root, "https://other", NULL, "K2", 1, &e), CP_OK);
    assert_null(json_object_get(json_object_get(root, "client"), "key"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(root, "client"), "keyEnv")), "K2");
    json_decref(root);
    root = unit_jq("{'client': 'x'}");
    assert_int_equal(cp_init_client_apply(root, "https://other", NULL, "K2", 1, &e), CP_ERR);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base62),       cmocka_unit_test(test_names),
        cmocka_unit_test(test_parse_int),    cmocka_unit_test(test_parse_usd),
        cmocka_unit_test(test_parse_models), cmocka_unit_test(test_apply_flags),
        cmocka_unit_test(test_tree),         cmocka_unit_test(test_words),
        cmocka_unit_test(test_file_edit),    cmocka_unit_test(test_file_group),
        cmocka_unit_test(test_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
