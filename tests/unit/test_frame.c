/* Unit tests for lib/net/cp_frame.c: request boundaries on a client byte stream, fed whole and split
 * at every byte, and every framing the scanner must refuse. */
#include "cp_unit.h"

#include "cp_frame.h"

/* Feeds <in> in pieces of <step> bytes (0: whole) and writes the events as a string: 'H' head (with
 * the declared body in decimal), 'E' end, 'B' bad. Returns the number of bytes consumed. */
static size_t run(const char *in, size_t step, char *out, size_t outn, cp_frame_t *s)
{
    size_t len = strlen(in), off = 0, o = 0;

    cp_frame_init(s);
    out[0] = '\0';
    while (off <= len) {
        size_t n = step == 0 || len - off < step ? len - off : step, used = 0;
        enum cp_frame_ev ev = cp_frame_feed(s, in + off, n, &used);

        off += used;
        if (ev == CP_FRAME_HEAD)
            o += (size_t)snprintf(out + o, outn - o, "H%llu", (unsigned long long)cp_frame_body_declared(s));
        else if (ev == CP_FRAME_END)
            o += (size_t)snprintf(out + o, outn - o, "E");
        else if (ev == CP_FRAME_BAD) {
            o += (size_t)snprintf(out + o, outn - o, "B");
            return off;
        } else if (off == len)
            break;
    }
    return off;
}

/* The same events whatever the split. */
static void expect(const char *in, const char *events)
{
    char out[256];
    cp_frame_t s;

    for (size_t step = 0; step <= strlen(in); step++) {
        run(in, step, out, sizeof(out), &s);
        if (strcmp(out, events) != 0)
            fail_msg("split %zu of %s: got %s, want %s", step, in, out, events);
    }
}

static const char *why(const char *in)
{
    static char msg[200];
    char out[256];
    cp_frame_t s;

    run(in, 0, out, sizeof(out), &s);
    assert_int_equal(cp_frame_phase(&s), CP_FRAME_FAILED);
    snprintf(msg, sizeof(msg), "%s", cp_frame_why(&s));
    return msg;
}

static void test_boundaries(void **st)
{
    (void)st;
    expect("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", "H0E");
    expect("GET / HTTP/1.1\nHost: x\n\n", "H0E"); /* bare LF, as evhttp reads lines */
    expect("POST /v1/messages HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "H5E");
    expect("POST / HTTP/1.1\r\ncontent-length:   3  \r\n\r\nabcGET / HTTP/1.1\r\n\r\n", "H3EH0E");
    expect("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n", "H0E");
    expect("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\na\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n",
           "H0E");
    expect("HEAD / HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\n\r\n", "H0EH0E");
    /* a header that merely contains the names */
    expect("GET / HTTP/1.1\r\nX-Content-Length: 9\r\nContent-Lengthy: x\r\n\r\n", "H0E");
}

static void test_declared(void **st)
{
    char out[256];
    cp_frame_t s;
    const char *in = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nab";
    size_t used = 0;

    (void)st;
    assert_int_equal(run(in, 0, out, sizeof(out), &s), strlen(in));
    assert_string_equal(out, "H0");
    assert_int_equal(cp_frame_body_declared(&s), 8);
    assert_int_equal(cp_frame_phase(&s), CP_FRAME_IN_BODY);
    cp_frame_init(&s);
    assert_int_equal(cp_frame_phase(&s), CP_FRAME_IDLE);
    assert_int_equal(cp_frame_feed(&s, "GE", 2, &used), CP_FRAME_MORE);
    assert_int_equal(used, 2);
    assert_int_equal(cp_frame_phase(&s), CP_FRAME_IN_HEAD);
    /* a huge Content-Length saturates (evhttp refuses it as too large) */
    run("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0, out, sizeof(out), &s);
    assert_string_equal(out, "H18446744073709551615");
}

static void test_refused(void **st)
{
    char longv[400];

    (void)st;
    assert_non_null(
        strstr(why("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"), "more than once"));
    assert_non_null(strstr(why("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\nx"), "plain decimal"));
    assert_non_null(strstr(why("POST / HTTP/1.1\r\nContent-Length: 01\r\n\r\nx"), "plain decimal"));
    assert_non_null(strstr(why("POST / HTTP/1.1\r\nContent-Length: \t1\r\n\r\nx"), "plain decimal"));
    assert_non_null(strstr(why("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), "exactly"));
    assert_non_null(
        strstr(why("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
               "more than once"));
    assert_non_null(
        strstr(why("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), "both"));
    assert_non_null(strstr(why("HEAD / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), "cannot carry a body"));
    assert_non_null(
        strstr(why("TRACE / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), "cannot carry a body"));
    assert_non_null(strstr(why("GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n"), "folding"));
    assert_non_null(strstr(why("GET / HTTP/1.1\r\nno colon here\r\n\r\n"), "no colon"));
    assert_non_null(
        strstr(why("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n"),
               "extensions"));
    assert_non_null(
        strstr(why("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n"),
               "extensions"));
    assert_non_null(
        strstr(why("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"),
               "Malformed chunk size"));
    assert_non_null(
        strstr(why("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n"), "Malformed chunk size"));
    assert_non_null(
        strstr(why("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n"), "Malformed chunk size"));
    assert_non_null(strstr(why("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1234567890abcdef0\r\n"),
                           "too long"));
    assert_non_null(strstr(why("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX"), "CRLF"));
    memset(longv, '1', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    {
        char in[600];
        snprintf(in, sizeof(in), "POST / HTTP/1.1\r\nContent-Length: %s\r\n\r\n", longv);
        assert_non_null(strstr(why(in), "too long"));
        /* a long header of another name is not judged here */
        snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nX-Long: %s\r\n\r\n", longv);
        expect(in, "H0E");
    }
}

static void test_bad_is_sticky(void **st)
{
    cp_frame_t s;
    size_t used = 9;

    (void)st;
    why("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n");
    cp_frame_init(&s);
    assert_int_equal(cp_frame_feed(&s, "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 37, &used),
                     CP_FRAME_BAD);
    assert_int_equal(cp_frame_feed(&s, "GET / HTTP/1.1\r\n\r\n", 18, &used), CP_FRAME_BAD);
    assert_int_equal(used, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_declared),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bad_is_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
