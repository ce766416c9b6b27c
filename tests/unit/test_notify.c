/* Unit tests for the pure parts of lib/net/cp_notify.c: NOTIFY_SOCKET to an address, WATCHDOG_USEC to a
 * ping interval, WATCHDOG_PID. What the daemon sends is tested end to end in
 * tests/e2e/96-systemd.test.mjs. */
#include "cp_unit.h"

#include "cp_notify.h"

static void test_addr(void **s)
{
    struct sockaddr_un sa;
    socklen_t len = 0;
    char big[200];

    (void)s;
    assert_int_equal(cp_notify_addr("/run/systemd/notify", &sa, &len), 0);
    assert_string_equal(sa.sun_path, "/run/systemd/notify");
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/systemd/notify") + 1);
    /* abstract: a leading NUL, and the length says where the name ends (no NUL counted) */
    assert_int_equal(cp_notify_addr("@sd-notify", &sa, &len), 0);
    assert_int_equal(sa.sun_path[0], '\0');
    assert_memory_equal(sa.sun_path + 1, "sd-notify", 9);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 10);
    /* refused: unset, empty, relative, a bare "/" or "@", too long for sun_path */
    assert_int_equal(cp_notify_addr(NULL, &sa, &len), -1);
    assert_int_equal(cp_notify_addr("", &sa, &len), -1);
    assert_int_equal(cp_notify_addr("notify.sock", &sa, &len), -1);
    assert_int_equal(cp_notify_addr("./notify.sock", &sa, &len), -1);
    assert_int_equal(cp_notify_addr("/", &sa, &len), -1);
    assert_int_equal(cp_notify_addr("@", &sa, &len), -1);
    memset(big, 'a', sizeof(big));
    big[0] = '/';
    big[sizeof(sa.sun_path)] = '\0'; /* 108 bytes: no room for the NUL */
    assert_int_equal(cp_notify_addr(big, &sa, &len), -1);
    big[sizeof(sa.sun_path) - 1] = '\0';
    assert_int_equal(cp_notify_addr(big, &sa, &len), 0);
}

static void test_watchdog(void **s)
{
    const char *bad[] = {NULL,
                         "",
                         "abc",
                         "0",
                         "-5",
                         "+5",
                         " 200000",
                         "200000 ",
                         "2e5",
                         "0x30000",
                         "9999",
                         "99999999999999999999",
                         "18446744073709551615",
                         "4611686018427387904",
                         "200000\n"};
    uint64_t us = 7;

    (void)s;
    assert_int_equal(cp_notify_parse_watchdog("200000", &us), 0);
    assert_int_equal(us, 100000);
    assert_int_equal(cp_notify_parse_watchdog("30000000", &us), 0);
    assert_int_equal(us, 15000000);
    assert_int_equal(cp_notify_parse_watchdog("10000", &us), 0); /* the smallest accepted */
    assert_int_equal(us, 5000);
    /* a very long watchdog is pinged every 12 h: more often than needed is always safe */
    assert_int_equal(cp_notify_parse_watchdog("864000000000", &us), 0);
    assert_int_equal(us, CP_NOTIFY_PING_MAX_US);
    us = 7;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cp_notify_parse_watchdog(bad[i], &us), -1);
        assert_int_equal(us, 7); /* untouched */
    }
}

static void test_pid(void **s)
{
    (void)s;
    assert_int_equal(cp_notify_pid_is(NULL, 42), 1);
    assert_int_equal(cp_notify_pid_is("", 42), 1);
    assert_int_equal(cp_notify_pid_is("42", 42), 1);
    assert_int_equal(cp_notify_pid_is("43", 42), 0);
    assert_int_equal(cp_notify_pid_is("1", 42), 0);
    assert_int_equal(cp_notify_pid_is("0", 42), -1);
    assert_int_equal(cp_notify_pid_is("-42", 42), -1);
    assert_int_equal(cp_notify_pid_is("42x", 42), -1);
    assert_int_equal(cp_notify_pid_is("99999999999", 42), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_watchdog),
        cmocka_unit_test(test_pid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
