/* Unit tests for lib/base/cp_retry.c: every header form, their order, and hostile values (negative,
 * fractional, huge, garbage, dates in the past, malformed dates and durations); the backoff's range. */
#include "cp_unit.h"

#include "cp_retry.h"

#define NOW_MS 1764929377000LL /* Fri, 05 Dec 2025 10:09:37 GMT */

static int64_t ra(const char *ms, const char *after, const char *req, const char *tok)
{
    cp_retry_hdrs_t h = {ms, after, req, tok};
    return cp_retry_after_ms(&h, NOW_MS);
}

static void test_seconds_and_ms(void **s)
{
    (void)s;
    assert_int_equal(ra(NULL, NULL, NULL, NULL), -1);
    assert_int_equal(ra(NULL, "7", NULL, NULL), 7000);
    assert_int_equal(ra(NULL, "0", NULL, NULL), 0);
    assert_int_equal(ra(NULL, " 12 ", NULL, NULL), 12000);
    assert_int_equal(ra(NULL, "1.5", NULL, NULL), 1500);
    assert_int_equal(ra("250", "7", NULL, NULL), 250);                          /* retry-after-ms first */
    assert_int_equal(ra("abc", "7", NULL, NULL), 7000);                         /* a bad one is skipped */
    assert_int_equal(ra(NULL, "999999999999999", NULL, NULL), CP_RETRY_MAX_MS); /* capped at a day */
    /* hostile: absent */
    const char *bad[] = {"",     "-5",  "+5", "5s", "1e3", "0x10", "1.2.3", ".", "7 7", "9999999999999999",
                         "\xff", "NaN", "inf"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ra(NULL, bad[i], NULL, NULL) != -1)
            fail_msg("retry-after \"%s\" read as %lld", bad[i], (long long)ra(NULL, bad[i], NULL, NULL));
}

static void test_dates(void **s)
{
    (void)s;
    assert_int_equal(ra(NULL, "Fri, 05 Dec 2025 10:09:47 GMT", NULL, NULL), 10000);
    assert_int_equal(ra(NULL, "Fri, 05 Dec 2025 11:09:37 GMT", NULL, NULL), 3600000);
    assert_int_equal(ra(NULL, "Fri, 05 Dec 2025 10:09:37 GMT", NULL, NULL), -1); /* now: nothing to wait */
    assert_int_equal(ra(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", NULL, NULL), -1); /* the past */
    assert_int_equal(ra(NULL, "Fri, 05 Dec 2125 10:09:37 GMT", NULL, NULL), CP_RETRY_MAX_MS);
    const char *bad[] = {"Fri, 05 Dec 2025 10:09:47 PST",          "Fri, 05 Foo 2025 10:09:47 GMT",
                         "Fri, 32 Dec 2025 10:09:47 GMT",          "Fri, 05 Dec 2025 25:09:47 GMT",
                         "Fri, 05 Dec 2025 10:09:47 GMT trailing", "Friday, 05-Dec-25 10:09:47 GMT",
                         "Fri, 05 ecD 2025 10:09:47 GMT"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ra(NULL, bad[i], NULL, NULL) != -1)
            fail_msg("retry-after \"%s\" read as %lld", bad[i], (long long)ra(NULL, bad[i], NULL, NULL));
}

static void test_openai_resets(void **s)
{
    (void)s;
    assert_int_equal(ra(NULL, NULL, "1s", NULL), 1000);
    assert_int_equal(ra(NULL, NULL, "6m0s", NULL), 360000);
    assert_int_equal(ra(NULL, NULL, "20ms", NULL), 20);
    assert_int_equal(ra(NULL, NULL, "1h2m3.5s", NULL), 3723500);
    assert_int_equal(ra(NULL, NULL, "1s", "6m0s"), 360000); /* the later of the two */
    assert_int_equal(ra(NULL, NULL, "bad", "2s"), 2000);
    assert_int_equal(ra(NULL, "3", "6m0s", NULL), 3000); /* retry-after first */
    const char *bad[] = {"", "s", "1", "1x", "-1s", "1.2.3s", "1s ", "99999999999999999s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ra(NULL, NULL, bad[i], NULL) != -1 && i != 7)
            fail_msg("reset \"%s\" read as %lld", bad[i], (long long)ra(NULL, NULL, bad[i], NULL));
    assert_int_equal(ra(NULL, NULL, "99999999999999999s", NULL), -1); /* over 15 digits */
    assert_int_equal(ra(NULL, NULL, "999999999s", NULL), CP_RETRY_MAX_MS);
}

static void test_backoff(void **s)
{
    (void)s;
    assert_int_equal(cp_retry_backoff_ms(2, 0), 250); /* half of 500 ms */
    assert_int_equal(cp_retry_backoff_ms(2, UINT32_MAX), 499);
    assert_int_equal(cp_retry_backoff_ms(3, 0), 500); /* 1 s */
    assert_int_equal(cp_retry_backoff_ms(4, 0), 1000);
    for (unsigned a = 2; a < 40; a++) {
        int64_t lo = cp_retry_backoff_ms(a, 0), hi = cp_retry_backoff_ms(a, UINT32_MAX);
        assert_true(lo >= 250 && hi <= 8000 && lo <= hi);
    }
    assert_int_equal(cp_retry_backoff_ms(30, 0), 4000); /* capped at 8 s */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seconds_and_ms),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_openai_resets),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
