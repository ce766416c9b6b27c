/* Unit tests for lib/base/cp_log.c: formats, levels, secret scrubbing. */
#include "cp_unit.h"

#include <ctype.h>

#include "cp_common.h"
#include "cp_log.h"

static char buf[8192];

static FILE *capture(void)
{
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    memset(buf, 0, sizeof(buf));
    cp_log_set_stream(f);
    return f;
}

static void done(FILE *f)
{
    fclose(f);
    cp_log_set_stream(NULL);
}

static void test_json_lines(void **s)
{
    FILE *f = capture();
    json_t *rec;

    (void)s;
    cp_log_setup(CP_LOG_INFO, CP_LOG_JSON);
    cp_log_j(CP_LOG_INFO, "request", json_pack("{s:s,s:i}", "rid", "req_1", "status", 200));
    cp_log(CP_LOG_DEBUG, "hidden %d", 1);
    fflush(f);
    assert_non_null(strchr(buf, '\n'));
    assert_null(strchr(strchr(buf, '\n') + 1, '\n')); /* exactly one line: debug suppressed */
    rec = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_object_get(rec, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(rec, "msg")), "request");
    assert_string_equal(json_string_value(json_object_get(rec, "rid")), "req_1");
    assert_int_equal(json_integer_value(json_object_get(rec, "status")), 200);
    assert_non_null(json_string_value(json_object_get(rec, "ts")));
    json_decref(rec);
    done(f);
}

static void test_text_and_levels(void **s)
{
    FILE *f = capture();

    (void)s;
    cp_log_setup(CP_LOG_DEBUG, CP_LOG_TEXT);
    cp_log_j(CP_LOG_WARN, "drain", json_pack("{s:s,s:i}", "signal", "SIGTERM", "active", 2));
    cp_log(CP_LOG_DEBUG, "dbg %s", "x");
    fflush(f);
    assert_non_null(strstr(buf, " WARN  drain signal=SIGTERM active=2\n"));
    assert_non_null(strstr(buf, " DEBUG dbg x\n"));
    assert_int_not_equal(buf[0], '{');
    /* every line: an ISO 8601 UTC timestamp with milliseconds, one space, the level padded to 5 */
    for (const char *l = buf; *l != '\0'; l = strchr(l, '\n') + 1) {
        static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
        for (size_t i = 0; i < sizeof(shape) - 1; i++) {
            if (shape[i] == 'd' ? !isdigit((unsigned char)l[i]) : l[i] != shape[i])
                fail_msg("text line does not start with a timestamp: %.60s", l);
        }
        assert_true(strncmp(l + 25, "WARN  ", 6) == 0 || strncmp(l + 25, "DEBUG ", 6) == 0);
    }
    done(f);

    /* a value from a client cannot forge a line of its own (issue: safe to share, item 8) */
    f = capture();
    cp_log_j(CP_LOG_INFO, "access",
             json_pack("{s:s}", "model", "m\n2026-01-01T00:00:00.000Z INFO  forged\r\x01\x7f"));
    cp_log(CP_LOG_INFO, "msg with\nnewline\tand tab");
    fflush(f);
    assert_non_null(strstr(buf, " model=m\\n2026-01-01T00:00:00.000Z INFO  forged\\r\\x01\\x7f\n"));
    assert_non_null(strstr(buf, " INFO  msg with\\nnewline\\tand tab\n"));
    {
        int lines = 0;
        for (const char *p = buf; *p != '\0'; p++)
            lines += *p == '\n';
        assert_int_equal(lines, 2);
    }
    done(f);
    cp_log_setup(CP_LOG_INFO, CP_LOG_JSON);
}

static void test_parse(void **s)
{
    enum cp_log_level l;
    enum cp_log_format fm;

    (void)s;
    assert_int_equal(cp_log_level_parse("debug", &l), CP_OK);
    assert_int_equal(l, CP_LOG_DEBUG);
    assert_int_equal(cp_log_level_parse("warning", &l), CP_OK);
    assert_int_equal(l, CP_LOG_WARN);
    assert_int_equal(cp_log_level_parse("loud", &l), CP_ERR);
    assert_int_equal(cp_log_format_parse("text", &fm), CP_OK);
    assert_int_equal(fm, CP_LOG_TEXT);
    assert_int_equal(cp_log_format_parse("xml", &fm), CP_ERR);
}

static void test_secrets_scrubbed(void **s)
{
    const char *secrets[] = {"sk-prov-SECRET3", "abc", ""};
    FILE *f = capture();

    (void)s;
    cp_log_setup(CP_LOG_INFO, CP_LOG_JSON);
    cp_log_set_secrets(secrets, 3);
    cp_log(CP_LOG_INFO, "upstream said: bad key sk-prov-SECRET3 (sk-prov-SECRET3)");
    cp_log_j(CP_LOG_INFO, "x", json_pack("{s:s}", "detail", "Bearer sk-prov-SECRET3"));
    cp_log(CP_LOG_INFO, "abc stays");
    fflush(f);
    assert_null(strstr(buf, "SECRET3"));
    assert_non_null(strstr(buf, "<redacted>"));
    assert_non_null(strstr(buf, "abc stays")); /* too short to be treated as a secret */
    cp_log_set_secrets(NULL, 0);
    done(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_text_and_levels),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_secrets_scrubbed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
