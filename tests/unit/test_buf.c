/* Unit tests for lib/base/cp_buf.c: the capped growable buffer. */
#include "cp_unit.h"

#include <jansson.h>

#include "cp_buf.h"

static void test_empty(void **s)
{
    cp_buf_t b = CP_BUF_INIT;
    char *p;
    size_t n = 99;

    (void)s;
    assert_string_equal(cp_buf_str(&b), "");
    assert_int_equal(b.len, 0);
    assert_int_equal(cp_buf_add(&b, NULL, 0), CP_OK); /* nothing to copy: the pointer is not read */
    assert_string_equal(cp_buf_str(&b), "");
    p = cp_buf_detach(&b, &n);
    assert_string_equal(p, "");
    assert_int_equal(n, 0);
    free(p);
    cp_buf_free(&b);
    cp_buf_free(&b); /* twice is fine */
}

static void test_add_and_grow(void **s)
{
    cp_buf_t b = CP_BUF_INIT;
    char big[5000];

    (void)s;
    memset(big, 'x', sizeof(big));
    assert_int_equal(cp_buf_adds(&b, "ab"), CP_OK);
    assert_int_equal(cp_buf_addc(&b, 'c'), CP_OK);
    assert_int_equal(CP_BUF_LIT(&b, "de"), CP_OK);
    assert_int_equal(cp_buf_add_int(&b, -42), CP_OK);
    assert_string_equal(cp_buf_str(&b), "abcde-42");
    assert_int_equal(b.len, 8);
    assert_int_equal(cp_buf_add(&b, big, sizeof(big)), CP_OK); /* several doublings at once */
    assert_int_equal(b.len, 8 + sizeof(big));
    assert_true(b.cap > b.len);
    assert_int_equal(b.p[b.len], '\0');
    assert_int_equal(cp_buf_add(&b, "\0z", 2), CP_OK); /* bytes, NULs included */
    assert_int_equal(b.len, 8 + sizeof(big) + 2);
    assert_int_equal(b.p[b.len - 1], 'z');
    cp_buf_free(&b);
}

static void test_cap(void **s)
{
    cp_buf_t b;

    (void)s;
    cp_buf_init(&b, 10);
    assert_int_equal(cp_buf_adds(&b, "0123456"), CP_OK);
    assert_int_equal(cp_buf_adds(&b, "7890"), CP_ERR); /* 11 > 10: nothing added */
    assert_string_equal(cp_buf_str(&b), "0123456");
    assert_int_equal(cp_buf_addf(&b, "%s", "abcd"), CP_ERR);
    assert_int_equal(cp_buf_add_jstr(&b, "\n\n", 2), CP_ERR); /* the second escape does not fit */
    assert_int_equal(b.len, 7 + 2);                           /* the first escape went in whole */
    assert_string_equal(cp_buf_str(&b), "0123456\\n");
    assert_int_equal(cp_buf_addc(&b, 'x'), CP_OK); /* exactly at the cap */
    assert_int_equal(b.len, 10);
    assert_int_equal(cp_buf_addc(&b, 'y'), CP_ERR);
    assert_int_equal(cp_buf_add_int(&b, 1), CP_ERR);
    assert_int_equal(cp_buf_join(&b, ",", "q", 1), CP_ERR);
    assert_int_equal(cp_buf_add(&b, "", 0), CP_OK); /* nothing more is fine */
    assert_true(b.cap <= 11);                       /* never allocates past the cap + NUL */
    assert_string_equal(cp_buf_str(&b), "0123456\\nx");
    cp_buf_free(&b);
    assert_int_equal(b.max, 10); /* the cap stays */
    assert_int_equal(cp_buf_add(&b, "0123456789a", 11), CP_ERR);
    assert_null(b.p);
    cp_buf_free(&b);

    cp_buf_init(&b, 0); /* 0: unlimited */
    assert_int_equal(b.max, CP_BUF_UNLIMITED);
    assert_int_equal(cp_buf_add(&b, "x", 1), CP_OK);
    assert_int_equal(cp_buf_add(&b, "x", (size_t)-1), CP_ERR); /* the size check cannot overflow */
    cp_buf_free(&b);
}

static void test_addf(void **s)
{
    cp_buf_t b = CP_BUF_INIT;
    char want[400];

    (void)s;
    assert_int_equal(cp_buf_addf(&b, "%d-%s", 7, "x"), CP_OK);
    assert_int_equal(cp_buf_addf(&b, "%s", ""), CP_OK);
    assert_int_equal(cp_buf_addf(&b, "[%300s]", "pad"), CP_OK); /* longer than the first allocation */
    snprintf(want, sizeof(want), "7-x[%300s]", "pad");
    assert_string_equal(cp_buf_str(&b), want);
    assert_int_equal(b.len, strlen(want));
    cp_buf_free(&b);
}

static void test_add_jstr(void **s)
{
    static const char in[] = "a\"b\\c\n\r\t\b\f\x01\x1f\x7f/\xc3\xa9";
    cp_buf_t b = CP_BUF_INIT;
    json_t *j;
    char *text;

    (void)s;
    assert_int_equal(cp_buf_add_jstr(&b, in, sizeof(in) - 1), CP_OK);
    assert_string_equal(cp_buf_str(&b), "a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001F\x7f/\xc3\xa9");
    /* what it writes is the inside of a JSON string that reads back to the input */
    text = cp_xasprintf("\"%s\"", cp_buf_str(&b));
    j = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    assert_int_equal(json_string_length(j), sizeof(in) - 1);
    assert_memory_equal(json_string_value(j), in, sizeof(in) - 1);
    json_decref(j);
    free(text);
    cp_buf_free(&b);

    assert_int_equal(cp_buf_add_jstr(&b, "\0", 1), CP_OK); /* an embedded NUL */
    assert_string_equal(cp_buf_str(&b), "\\u0000");
    cp_buf_free(&b);
    assert_int_equal(cp_buf_add_jstr(&b, "", 0), CP_OK);
    assert_non_null(b.p); /* terminated even when empty */
    assert_string_equal(cp_buf_str(&b), "");
    cp_buf_free(&b);
}

static void test_join(void **s)
{
    cp_buf_t b = CP_BUF_INIT;

    (void)s;
    assert_int_equal(cp_buf_join(&b, "\n\n", "", 0), CP_OK); /* empty pieces add nothing */
    assert_int_equal(b.len, 0);
    assert_int_equal(cp_buf_join(&b, "\n\n", "a", 1), CP_OK); /* no separator before the first */
    assert_int_equal(cp_buf_join(&b, "\n\n", "", 0), CP_OK);
    assert_int_equal(cp_buf_join(&b, "\n\n", "bc", 1), CP_OK); /* <n> bytes only */
    assert_string_equal(cp_buf_str(&b), "a\n\nb");
    cp_buf_free(&b);
}

static void test_detach_reset(void **s)
{
    cp_buf_t b;
    char *p;
    size_t n = 0, cap;

    (void)s;
    cp_buf_init(&b, 100);
    cp_buf_adds(&b, "hello");
    p = cp_buf_detach(&b, &n);
    assert_string_equal(p, "hello");
    assert_int_equal(n, 5);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 100); /* same cap */
    free(p);
    p = cp_buf_detach(&b, NULL); /* empty: "" */
    assert_string_equal(p, "");
    free(p);

    cp_buf_adds(&b, "abc");
    cap = b.cap;
    cp_buf_reset(&b, 1024); /* keep: the allocation stays, the text goes */
    assert_int_equal(b.len, 0);
    assert_non_null(b.p);
    assert_int_equal(b.cap, cap);
    assert_string_equal(cp_buf_str(&b), "");
    cp_buf_adds(&b, "xy");
    assert_string_equal(cp_buf_str(&b), "xy");
    cp_buf_reset(&b, 8); /* above <keep>: freed */
    assert_null(b.p);
    assert_int_equal(b.cap, 0);
    assert_string_equal(cp_buf_str(&b), "");
    cp_buf_reset(&b, 0); /* on an empty buffer */
    cp_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),        cmocka_unit_test(test_add_and_grow), cmocka_unit_test(test_cap),
        cmocka_unit_test(test_addf),         cmocka_unit_test(test_add_jstr),     cmocka_unit_test(test_join),
        cmocka_unit_test(test_detach_reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
