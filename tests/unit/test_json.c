/* Unit tests for lib/base/cp_json.c: JSON with integers beyond 64 bits is accepted (they are read as
 * reals); every other value reads exactly as jansson reads it. */
#include "cp_unit.h"

#include "cp_json.h"

static json_t *load(const char *s, json_error_t *err)
{
    return cp_json_loadb(s, strlen(s), JSON_DECODE_ANY, err);
}

static void test_big_integers(void **st)
{
    json_error_t err;
    json_t *j;

    (void)st;
    j = load(
        "{\"seed\":9949578379265081000,\"n\":42,\"max\":9223372036854775807,\"min\":-9223372036854775808}",
        &err);
    assert_non_null(j);
    assert_true(json_is_real(json_object_get(j, "seed")));
    assert_true(json_real_value(json_object_get(j, "seed")) > 9.9e18);
    assert_true(json_is_integer(json_object_get(j, "n"))); /* the others stay integers */
    assert_true(json_is_integer(json_object_get(j, "max")));
    assert_true(json_is_integer(json_object_get(j, "min")));
    json_decref(j);

    j = load("[9223372036854775808,-9223372036854775809,\"99999999999999999999\",1]", &err);
    assert_non_null(j);
    assert_true(json_is_real(json_array_get(j, 0)));
    assert_true(json_is_real(json_array_get(j, 1)));
    assert_true(json_real_value(json_array_get(j, 1)) < 0);
    assert_string_equal(json_string_value(json_array_get(j, 2)),
                        "99999999999999999999"); /* strings untouched */
    assert_true(json_is_integer(json_array_get(j, 3)));
    json_decref(j);

    /* a big integer beside long fractions and exponents (found by tests/fuzz/fuzz_jsonck.c) */
    j = load("{\"seed\":99999999999999999999,\"t\":0.99999999999999999999,\"u\":1e-99999999999999999999,"
             "\"v\":12345678901234567890123e5,\"s\":\"a\\\"1234567890123456789012\"}",
             &err);
    if (j == NULL)
        fail_msg("%s", err.text);
    assert_true(json_is_real(json_object_get(j, "t")));
    assert_true(json_is_real(json_object_get(j, "u")));
    assert_true(json_is_real(json_object_get(j, "v")));
    assert_string_equal(json_string_value(json_object_get(j, "s")), "a\"1234567890123456789012");
    json_decref(j);
}

static void test_errors_unchanged(void **st)
{
    json_error_t err;

    (void)st;
    assert_null(load("{\"a\":1,}", &err)); /* invalid JSON: jansson's own message */
    assert_non_null(strstr(err.text, "string or '}' expected"));
    assert_null(load("{\"a\":99999999999999999999,", &err)); /* invalid after widening too */
    assert_null(load("", &err));
    {
        json_t *j = cp_json_loadb("[1]", 3, JSON_DECODE_ANY, NULL); /* no error record wanted */
        assert_non_null(j);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_big_integers),
        cmocka_unit_test(test_errors_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
