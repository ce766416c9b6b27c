/* Unit tests for lib/base/cp_jsonck.c: the incremental one-object checker, fed whole, byte by byte and
 * split at every position. */
#include "cp_unit.h"

#include "cp_jsonck.h"

/* Feeds <in> in pieces cut at <cut> (0: whole; 1: byte by byte; k: at offset k, then the rest).
 * Returns the result code; what was passed on is in <out>. */
static int feed_split(const char *in, size_t n, size_t cut, cp_buf_t *out, cp_jsonck_t *t)
{
    int rc = CP_JSONCK_OK;

    memset(t, 0, sizeof(*t));
    if (cut == 0 || cut >= n)
        return cp_jsonck_feed(t, in, n, out);
    if (cut == 1) {
        for (size_t i = 0; i < n && rc == CP_JSONCK_OK; i++)
            rc = cp_jsonck_feed(t, in + i, 1, out);
        return rc;
    }
    rc = cp_jsonck_feed(t, in, cut, out);
    return rc == CP_JSONCK_OK ? cp_jsonck_feed(t, in + cut, n - cut, out) : rc;
}

/* <in> must be accepted in every split, be complete, and give exactly <want>. */
static void check_ok(const char *in, const char *want)
{
    size_t n = strlen(in);

    for (size_t cut = 0; cut <= n; cut++) {
        cp_buf_t out = CP_BUF_INIT;
        cp_jsonck_t t;
        int rc = feed_split(in, n, cut, &out, &t);

        if (rc != CP_JSONCK_OK || !cp_jsonck_done(&t) || !cp_jsonck_started(&t) ||
            strcmp(cp_buf_str(&out), want) != 0)
            fail_msg("%s (cut %zu): rc %d done %d out \"%s\", want \"%s\"", in, cut, rc, cp_jsonck_done(&t),
                     cp_buf_str(&out), want);
        cp_buf_free(&out);
    }
}

/* <in> must fail with <want_rc> in every split, having passed on only a prefix of <in> (the bytes
 * before the bad one: nothing invalid ever goes out). */
static void check_bad(const char *in, int want_rc)
{
    size_t n = strlen(in);

    for (size_t cut = 0; cut <= n; cut++) {
        cp_buf_t out = CP_BUF_INIT;
        cp_jsonck_t t;
        int rc = feed_split(in, n, cut, &out, &t);

        if (rc != want_rc)
            fail_msg("%s (cut %zu): rc %d, want %d", in, cut, rc, want_rc);
        if (strncmp(cp_buf_str(&out), in, out.len) != 0)
            fail_msg("%s (cut %zu): passed on \"%s\", not a prefix", in, cut, cp_buf_str(&out));
        cp_buf_free(&out);
    }
}

static void test_valid(void **s)
{
    (void)s;
    check_ok("{}", "{}");
    check_ok("  \r\n\t{ }\n ", "{ }"); /* whitespace around the object is dropped, inside kept */
    check_ok("{\"a\":1}", "{\"a\":1}");
    check_ok("{\"a\":[1,-2.5e+3,0,0.1,1E9,-0],\"b\":{\"c\":null,\"d\":true,\"e\":false},\"f\":[]}",
             "{\"a\":[1,-2.5e+3,0,0.1,1E9,-0],\"b\":{\"c\":null,\"d\":true,\"e\":false},\"f\":[]}");
    check_ok("{\"s\":\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00 \xc3\xa9\"}",
             "{\"s\":\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00 \xc3\xa9\"}");
    check_ok("{\"k\" : [ [ [ ] ] , { } ] }", "{\"k\" : [ [ [ ] ] , { } ] }");
    check_ok("{\"n\":123456789012345678901234567890}", "{\"n\":123456789012345678901234567890}");
    check_ok("{\"n\":1 }", "{\"n\":1 }"); /* a number ended by whitespace */
}

static void test_control_chars_escaped(void **s)
{
    (void)s;
    /* raw control characters inside strings are invalid JSON that models write: sent escaped */
    check_ok("{\"a\":\"x\ty\nz\x01\x1f\"}", "{\"a\":\"x\\ty\\nz\\u0001\\u001F\"}");
    check_ok("{\"k\x02\":1}", "{\"k\\u0002\":1}"); /* in a key too */
}

static void test_not_object(void **s)
{
    (void)s;
    check_bad("[1]", CP_JSONCK_NOT_OBJECT);
    check_bad("  \"x\"", CP_JSONCK_NOT_OBJECT);
    check_bad("1", CP_JSONCK_NOT_OBJECT);
    check_bad("null", CP_JSONCK_NOT_OBJECT);
}

static void test_syntax(void **s)
{
    static const char *const bad[] = {
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":1e}",
        "{\"a\":-}",
        "{\"a\":+1}",
        "{\"a\":.5}",
        "{\"a\":tru}",
        "{\"a\":nul0}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12G4\"}",
        "{\"a\":[1 2]}",
        "{\"a\":[1,]}",
        "{\"a\":1]",
        "{\"a\":[}",
        "{,}",
        "{} {}",
        "{}x",
        "{\"a\":1}}",
        "{\"a\"::1}",
        "{\"a\":1 \"b\":2}",
    };

    (void)s;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_bad(bad[i], CP_JSONCK_SYNTAX);
}

static void test_prefix_state(void **s)
{
    cp_jsonck_t t = {0};
    cp_buf_t out = CP_BUF_INIT;

    (void)s;
    assert_int_equal(cp_jsonck_feed(&t, "  ", 2, &out), CP_JSONCK_OK);
    assert_false(cp_jsonck_started(&t));
    assert_int_equal(cp_jsonck_feed(&t, "{\"a\":[1", 7, &out), CP_JSONCK_OK);
    assert_true(cp_jsonck_started(&t));
    assert_false(cp_jsonck_done(&t));
    assert_string_equal(cp_buf_str(&out), "{\"a\":[1");
    assert_int_equal(cp_jsonck_feed(&t, "]}", 2, &out), CP_JSONCK_OK);
    assert_true(cp_jsonck_done(&t));
    assert_int_equal(cp_jsonck_feed(&t, " \n", 2, &out), CP_JSONCK_OK); /* whitespace after: fine */
    assert_string_equal(cp_buf_str(&out), "{\"a\":[1]}");
    cp_buf_free(&out);
    assert_true(cp_jsonck_ws(' ') && cp_jsonck_ws('\t') && cp_jsonck_ws('\n') && cp_jsonck_ws('\r'));
    assert_false(cp_jsonck_ws('\v') || cp_jsonck_ws('\f') || cp_jsonck_ws('x'));
}

/* Returns new: <depth> nested arrays inside one object, {"a":[[...]]}. */
static char *nested(int depth)
{
    char *p = malloc((size_t)depth * 2 + 16);
    size_t n = 0;

    n += (size_t)sprintf(p, "{\"a\":");
    for (int i = 1; i < depth; i++)
        p[n++] = '[';
    for (int i = 1; i < depth; i++)
        p[n++] = ']';
    strcpy(p + n, "}");
    return p;
}

static void test_depth(void **s)
{
    char *ok = nested(CP_JSONCK_DEPTH_MAX), *deep = nested(CP_JSONCK_DEPTH_MAX + 1);
    cp_buf_t out = CP_BUF_INIT;
    cp_jsonck_t t = {0};

    (void)s;
    check_ok(ok, ok); /* 128 levels: the object and 127 arrays */
    assert_int_equal(cp_jsonck_feed(&t, deep, strlen(deep), &out), CP_JSONCK_DEEP); /* 129 */
    assert_int_equal(out.len, 5 + CP_JSONCK_DEPTH_MAX - 1); /* {"a": and 127 '[' went out, not the 128th */
    cp_buf_free(&out);
    free(ok);
    free(deep);
}

static void test_full(void **s)
{
    cp_jsonck_t t = {0};
    cp_buf_t out;

    (void)s;
    cp_buf_init(&out, 8);
    assert_int_equal(cp_jsonck_feed(&t, "{\"a\":\"bcdefgh\"}", 15, &out), CP_JSONCK_FULL);
    assert_true(out.len <= 8);
    assert_int_equal(strncmp(cp_buf_str(&out), "{\"a\":\"bcdefgh\"}", out.len), 0); /* still a prefix */
    cp_buf_free(&out);
    memset(&t, 0, sizeof(t));
    cp_buf_init(&out, 3);
    assert_int_equal(cp_jsonck_feed(&t, "{ }", 3, &out), CP_JSONCK_OK); /* exactly the cap */
    assert_int_equal(cp_jsonck_feed(&t, " \n", 2, &out), CP_JSONCK_OK); /* whitespace after: not passed on */
    assert_int_equal(cp_jsonck_feed(&t, "", 0, &out), CP_JSONCK_OK);
    assert_string_equal(cp_buf_str(&out), "{ }");
    cp_buf_free(&out);
    memset(&t, 0, sizeof(t));
    cp_buf_init(&out, 2);
    assert_int_equal(cp_jsonck_feed(&t, "{\"", 2, &out), CP_JSONCK_OK);
    assert_int_equal(cp_jsonck_feed(&t, "\x01", 1, &out), CP_JSONCK_FULL); /* the escape does not fit */
    assert_string_equal(cp_buf_str(&out), "{\"");
    cp_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),        cmocka_unit_test(test_control_chars_escaped),
        cmocka_unit_test(test_not_object),   cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_prefix_state), cmocka_unit_test(test_depth),
        cmocka_unit_test(test_full),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
