/* Unit tests for lib/base/cp_sse.c: the incremental text/event-stream parser (WHATWG rules, cp_sse.h).
 *
 * Every case of the table is parsed whole, split in two at every offset, split in three at every
 * pair of offsets (short inputs), one byte at a time, and with all bytes fed before anything is
 * pulled; each run must give the same events. Events are compared in a printable form:
 * "[name|data]" per event, with \n, \r and NUL in data written as \n, \r and \0.
 *
 * The parser source is included so the memory tests can look at its buffers. */
#include "cp_unit.h"

#include "../../lib/base/cp_sse.c"

/* ---- running the parser ----------------------------------------------------------------------- */

typedef struct res {
    char ev[8192]; /* the events, printable */
    size_t len;
    int err; /* a feed or a pull returned CP_ERR */
} res_t;

static void res_add(res_t *r, const char *s, size_t n)
{
    assert_true(r->len + n < sizeof(r->ev));
    memcpy(r->ev + r->len, s, n);
    r->len += n;
    r->ev[r->len] = '\0';
}

static void res_text(res_t *r, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\n')
            res_add(r, "\\n", 2);
        else if (c == '\r')
            res_add(r, "\\r", 2);
        else if (c == '\0')
            res_add(r, "\\0", 2);
        else
            res_add(r, &c, 1);
    }
}

static void res_event(res_t *r, const cp_sse_event_t *e)
{
    res_add(r, "[", 1);
    res_text(r, e->event, e->event_len);
    res_add(r, "|", 1);
    res_text(r, e->data, e->data_len);
    res_add(r, "]", 1);
}

static void pull(cp_sse_t *p, res_t *r)
{
    cp_sse_event_t e;
    int rc;

    while ((rc = cp_sse_next(p, &e)) == CP_OK)
        res_event(r, &e);
    if (rc == CP_ERR)
        r->err = 1;
    else
        assert_int_equal(rc, CP_AGAIN);
}

/* Feeds <in> cut at <cuts>; pulls after each feed (<pull_each>) or only at the end. */
static void run(const char *in, size_t n, const size_t *cuts, size_t ncuts, size_t max, int pull_each,
                res_t *r)
{
    cp_sse_t *p = cp_sse_new(max);
    size_t at = 0;

    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        if (cp_sse_feed(p, in + at, to - at) != CP_OK)
            r->err = 1;
        if (pull_each)
            pull(p, r);
        at = to;
    }
    pull(p, r);
    cp_sse_free(p);
}

static void expect(const char *what, const char *in, size_t n, size_t cut, const res_t *got, const char *want,
                   int err)
{
    if (strcmp(got->ev, want) != 0 || got->err != err)
        fail_msg("input %.60s (%zu bytes), %s (cut %zu):\n got: %s%s\nwant: %s%s", in, n, what, cut, got->ev,
                 got->err ? " +ERR" : "", want, err ? " +ERR" : "");
}

static size_t runs;

/* Runs <in> in every split and checks the events. */
static void check_all_splits(const char *in, size_t n, size_t max, const char *want, int err)
{
    res_t r;
    size_t *cuts = malloc((n + 1) * sizeof(size_t));

    run(in, n, NULL, 0, max, 1, &r);
    expect("whole", in, n, 0, &r, want, err);
    run(in, n, NULL, 0, max, 0, &r);
    expect("whole, pulled at the end", in, n, 0, &r, want, err);
    for (size_t c = 0; c <= n; c++) {
        run(in, n, &c, 1, max, 1, &r);
        expect("two pieces", in, n, c, &r, want, err);
        runs++;
    }
    if (n <= 48) {
        for (size_t a = 0; a <= n; a++)
            for (size_t b = a; b <= n; b++) {
                size_t ab[2] = {a, b};
                run(in, n, ab, 2, max, 1, &r);
                expect("three pieces", in, n, a * 1000 + b, &r, want, err);
                runs++;
            }
    }
    for (size_t k = 0; k + 1 < n; k++)
        cuts[k] = k + 1;
    run(in, n, cuts, n > 0 ? n - 1 : 0, max, 1, &r);
    expect("byte by byte", in, n, 1, &r, want, err);
    run(in, n, cuts, n > 0 ? n - 1 : 0, max, 0, &r);
    expect("byte by byte, pulled at the end", in, n, 1, &r, want, err);
    runs += 4;
    free(cuts);
}

/* ---- the rules ------------------------------------------------------------------------------------ */

#define S(lit) lit, sizeof(lit) - 1

static const struct {
    const char *in;
    size_t n;
    size_t max;
    const char *want;
    int err;
} cases[] = {
    /* framing and the one optional space */
    {S("data: hello\n\n"), 0, "[|hello]", 0},
    {S("data:hello\n\n"), 0, "[|hello]", 0},
    {S("data:  two\n\n"), 0, "[| two]", 0},
    {S("data: a: b:c\n\n"), 0, "[|a: b:c]", 0},
    {S("data:\n\n"), 0, "[|]", 0},
    {S("data: \n\n"), 0, "[|]", 0},
    /* line endings: LF, CRLF, CR, mixed */
    {S("data: a\r\n\r\n"), 0, "[|a]", 0},
    {S("data: a\r\rdata: b\r\r"), 0, "[|a][|b]", 0},
    {S("data: a\r\ndata: b\n\r\n"), 0, "[|a\\nb]", 0},
    {S("data: a\n\rdata: b\r\n\n"), 0, "[|a][|b]", 0},
    {S("data: a\r\n\ndata: b\r\r\n"), 0, "[|a][|b]", 0},
    /* multi-line data joined with \n; empty data lines count */
    {S("data: a\ndata: b\ndata: c\n\n"), 0, "[|a\\nb\\nc]", 0},
    {S("data: a\ndata:\ndata: c\n\n"), 0, "[|a\\n\\nc]", 0},
    {S("data\n\n"), 0, "[|]", 0},
    {S("data\ndata\n\n"), 0, "[|\\n]", 0},
    /* event names: the last one wins, also after data; a name alone is an event */
    {S("event: message_start\ndata: {}\n\n"), 0, "[message_start|{}]", 0},
    {S("data: x\nevent: a\nevent: b\n\n"), 0, "[b|x]", 0},
    {S("event: ping\n\n"), 0, "[ping|]", 0},
    {S("event\ndata: x\n\n"), 0, "[|x]", 0},
    {S("event: a\nevent:\ndata: x\n\n"), 0, "[|x]", 0},
    {S("event: a\n\ndata: b\n\n"), 0, "[a|][|b]", 0},
    /* comments, id, retry and unknown fields are skipped */
    {S(": ping\n\n: OPENROUTER PROCESSING\n\ndata: x\n\n"), 0, "[|x]", 0},
    {S("data: a\n: c\ndata: b\n\n"), 0, "[|a\\nb]", 0},
    {S(":\n:\r\n: keep-alive\r\rdata: x\n\n"), 0, "[|x]", 0},
    {S("id: 5\nretry: 100\ndata: x\n\n"), 0, "[|x]", 0},
    {S("id\nretry\n\n"), 0, "", 0},
    {S("foo: bar\ndata: x\n\n"), 0, "[|x]", 0},
    {S("dataX: y\nDATA: z\n data: w\neventlongername: q\n\n"), 0, "", 0},
    {S("averyveryverylongfieldname: v\ndata: x\n\n"), 0, "[|x]", 0},
    /* blank lines alone dispatch nothing */
    {S("\n\n\r\n\r\r\n"), 0, "", 0},
    {S(""), 0, "", 0},
    /* BOM: skipped once at the very start only */
    {S("\xEF\xBB\xBF"
       "data: x\n\n"),
     0, "[|x]", 0},
    {S("\xEF\xBB\xBF\xEF\xBB\xBF"
       "data: x\n\n"),
     0, "", 0},
    {S("\xEF\xBB"
       "data: x\n\n"),
     0, "", 0},
    {S("\xEF"
       "\n"
       "data: x\n\n"),
     0, "[|x]", 0},
    {S("data: a\n\n\xEF\xBB\xBF"
       "data: b\n\n"),
     0, "[|a]", 0},
    {S("data: \xEF\xBB\xBF\n\n"), 0, "[|\xEF\xBB\xBF]", 0},
    /* bytes: UTF-8 (split anywhere by the runs) and NUL pass unchanged */
    {S("data: Gr\xC3\xBC\xC3\x9F"
       "e \xE4\xB8\x96 \xF0\x9F\x8E\x89\n\n"),
     0,
     "[|Gr\xC3\xBC\xC3\x9F"
     "e \xE4\xB8\x96 \xF0\x9F\x8E\x89]",
     0},
    {S("data: a\0b\n\n"), 0, "[|a\\0b]", 0},
    {S("event: e\0f\ndata: x\n\n"), 0, "[e\\0f|x]", 0},
    /* an unfinished event at the end is not delivered */
    {S("data: a\n\ndata: b"), 0, "[|a]", 0},
    {S("data: a\n\ndata: b\n"), 0, "[|a]", 0},
    /* OpenAI-style stream */
    {S("data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n"), 0, "[|{\"a\":1}][|{\"b\":2}][|[DONE]]", 0},
    /* the size limit: data (with its joiners) plus name */
    {S("data: 0123456789abcdef\n\n"), 16, "[|0123456789abcdef]", 0},
    {S("data: 0123456789abcdefg\n\n"), 16, "", 1},
    {S("data: 01234567\ndata: 0123456\n\n"), 16, "[|01234567\\n0123456]", 0},
    {S("data: 01234567\ndata: 01234567\n\n"), 16, "", 1},
    {S("event: abc\ndata: 0123456789abc\n\n"), 16, "[abc|0123456789abc]", 0},
    {S("event: abcd\ndata: 0123456789abc\n\n"), 16, "", 1},
    {S("data: 0123456789abcdef0123456789abcdef\n\n"), 16, "", 1},
    {S("data: ok\n\ndata: 0123456789abcdefXYZ\n\ndata: lost\n\n"), 16, "[|ok]", 1},
    {S(": a comment longer than the limit is fine, it is never kept\ndata: x\n\n"), 16, "[|x]", 0},
    {S("id: an id longer than the limit is fine too, it is ignored\ndata: x\n\n"), 16, "[|x]", 0},
    {S("data\ndata\ndata\ndata\ndata\ndata\ndata\ndata\ndata\ndata\ndata\ndata\ndata\ndata\ndata\ndata\ndata"
       "\ndata\n\n"),
     16, "", 1},
};

static void test_rules(void **st)
{
    (void)st;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_all_splits(cases[i].in, cases[i].n, cases[i].max, cases[i].want, cases[i].err);
    printf("[ sse ] %zu inputs, %zu split runs\n", sizeof(cases) / sizeof(cases[0]), runs);
}

/* A CR ending one feed takes the LF starting the next: "a\r" + "\n" + "\n" is one line end then a blank
 * line, not two line ends. */
static void test_split_crlf(void **st)
{
    cp_sse_t *p = cp_sse_new(0);
    cp_sse_event_t e;

    (void)st;
    assert_int_equal(cp_sse_feed(p, "data: a\r", 8), CP_OK);
    assert_int_equal(cp_sse_next(p, &e), CP_AGAIN);
    assert_int_equal(cp_sse_feed(p, "\n", 1), CP_OK);
    assert_int_equal(cp_sse_next(p, &e), CP_AGAIN);
    assert_int_equal(cp_sse_feed(p, "\r", 1), CP_OK);
    assert_int_equal(cp_sse_next(p, &e), CP_OK);
    assert_int_equal(e.data_len, 1);
    assert_memory_equal(e.data, "a", 1);
    assert_int_equal(e.event_len, 0);
    assert_string_equal(e.event, "");
    assert_int_equal(cp_sse_next(p, &e), CP_AGAIN);
    /* the CR above may swallow this LF: it must not dispatch an empty event */
    assert_int_equal(cp_sse_feed(p, "\n", 1), CP_OK);
    assert_int_equal(cp_sse_next(p, &e), CP_AGAIN);
    assert_int_equal(cp_sse_feed(p, "data: b\n\n", 9), CP_OK);
    assert_int_equal(cp_sse_next(p, &e), CP_OK);
    assert_memory_equal(e.data, "b", 1);
    cp_sse_free(p);
}

static void test_pending(void **st)
{
    static const struct {
        const char *in;
        size_t pending; /* 0, or 1 for "some" */
    } t[] = {
        {"", 0},
        {"data: a\n\n", 0},
        {": comment\n\n", 0},
        {": partial comm", 0},
        {"\n\n\n", 0},
        {"d", 1},
        {"data", 1},
        {"data:", 1},
        {"data: a", 1},
        {"data: a\n", 1},
        {"data:\n", 1},
        {"event: x\n", 1},
        {"data: a\n\ndata: b\r", 1},
        {"id: 1\n", 0},
    };

    (void)st;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        cp_sse_t *p = cp_sse_new(0);
        cp_sse_event_t e;

        assert_int_equal(cp_sse_feed(p, t[i].in, strlen(t[i].in)), CP_OK);
        while (cp_sse_next(p, &e) == CP_OK)
            ;
        if ((cp_sse_pending(p) > 0) != (t[i].pending > 0))
            fail_msg("pending after \"%s\": %zu", t[i].in, cp_sse_pending(p));
        cp_sse_free(p);
    }
    {
        cp_sse_t *p = cp_sse_new(0);
        assert_int_equal(cp_sse_feed(p, "data: abc", 9), CP_OK);
        assert_int_equal(cp_sse_pending(p), 3);
        cp_sse_free(p);
    }
}

/* Many events in one feed, pulled one at a time, each view intact; views stay valid until the next
 * call even when that call is a feed that follows a pull. */
static void test_many_events(void **st)
{
    size_t n = 5000, len = 0;
    char *in = malloc(n * 32);
    cp_sse_t *p = cp_sse_new(0);
    cp_sse_event_t e;
    size_t k = 0;

    (void)st;
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(in + len, i % 3 == 0 ? "event: e%zu\ndata: %zu\n\n" : "data: %zu\n\n", i, i);
    assert_int_equal(cp_sse_feed(p, in, len), CP_OK);
    while (cp_sse_next(p, &e) == CP_OK) {
        char want[32];
        int wl = snprintf(want, sizeof(want), "%zu", k);
        assert_int_equal(e.data_len, (size_t)wl);
        assert_memory_equal(e.data, want, (size_t)wl);
        assert_int_equal(e.data[e.data_len], '\0');
        if (k % 3 == 0) {
            snprintf(want, sizeof(want), "e%zu", k);
            assert_int_equal(e.event_len, strlen(want));
            assert_memory_equal(e.event, want, e.event_len);
        } else {
            assert_int_equal(e.event_len, 0);
        }
        k++;
    }
    assert_int_equal(k, n);
    cp_sse_free(p);
    cp_sse_free(NULL);
    free(in);
}

/* After a failure the parser stays failed. */
static void test_failed_for_good(void **st)
{
    const char *in = "data: ok\n\ndata: too long for it\n\n";
    cp_sse_t *p = cp_sse_new(8);
    cp_sse_event_t e;

    (void)st;
    assert_int_equal(cp_sse_feed(p, in, strlen(in)), CP_ERR);
    assert_int_equal(cp_sse_next(p, &e), CP_OK);
    assert_memory_equal(e.data, "ok", 2);
    assert_int_equal(cp_sse_next(p, &e), CP_ERR);
    assert_int_equal(cp_sse_feed(p, "data: x\n\n", 9), CP_ERR);
    assert_int_equal(cp_sse_next(p, &e), CP_ERR);
    cp_sse_free(p);
}

/* The default limit is 1 MiB; an event of exactly the limit passes, one byte more fails. */
static void test_default_limit(void **st)
{
    size_t max = (size_t)1 << 20;
    char *in = malloc(max + 16);
    cp_sse_t *p;
    cp_sse_event_t e;

    (void)st;
    memcpy(in, "data: ", 6);
    memset(in + 6, 'x', max);
    memcpy(in + 6 + max, "\n\n", 2);
    p = cp_sse_new(0);
    assert_int_equal(cp_sse_feed(p, in, max + 8), CP_OK);
    assert_int_equal(cp_sse_next(p, &e), CP_OK);
    assert_int_equal(e.data_len, max);
    cp_sse_free(p);
    in[6 + max] = 'x';
    memcpy(in + 7 + max, "\n\n", 2);
    p = cp_sse_new(0);
    assert_int_equal(cp_sse_feed(p, in, max + 9), CP_ERR);
    assert_int_equal(cp_sse_next(p, &e), CP_ERR);
    cp_sse_free(p);
    free(in);
}

/* Memory: the parser is small, buffers shrink back after events, nothing big is kept idle; feeding a
 * large event one byte at a time stays linear (a quadratic parser would not finish this test). */
static void test_memory(void **st)
{
    cp_sse_t *p = cp_sse_new(0);
    cp_sse_event_t e;
    char chunk[600];
    size_t big = 900 * 1024;
    char *in = malloc(big + 16);
    int n;

    (void)st;
    assert_true(sizeof(struct cp_sse) <= 128);
    assert_null(p->q.p);
    /* typical chunks: the buffer stays at most SSE_KEEP between events */
    memset(chunk, 'c', sizeof(chunk));
    for (int i = 0; i < 1000; i++) {
        n = snprintf(chunk, sizeof(chunk), "data: {\"choices\":[{\"delta\":{\"content\":\"%0*d\"}}]}\n\n",
                     20 + i % 300, i);
        assert_int_equal(cp_sse_feed(p, chunk, (size_t)n), CP_OK);
        assert_int_equal(cp_sse_next(p, &e), CP_OK);
        assert_int_equal(cp_sse_next(p, &e), CP_AGAIN);
        assert_true(p->q.cap <= SSE_KEEP);
    }
    /* a big event, one byte at a time: then the buffer is released */
    memcpy(in, "event: big\ndata: ", 17);
    memset(in + 17, 'b', big - 17);
    memcpy(in + big, "\n\n", 2);
    for (size_t i = 0; i < big + 2; i++)
        assert_int_equal(cp_sse_feed(p, in + i, 1), CP_OK);
    assert_int_equal(cp_sse_next(p, &e), CP_OK);
    assert_int_equal(e.data_len, big - 17);
    assert_int_equal(e.event_len, 3);
    assert_int_equal(cp_sse_next(p, &e), CP_AGAIN);
    assert_null(p->q.p);
    assert_int_equal(p->q.cap, 0);
    assert_true(p->name.cap <= SSE_NAME_KEEP);
    /* comments and ignored fields are never stored */
    for (size_t i = 0; i < big; i++)
        in[i] = i == 0 ? ':' : 'k';
    assert_int_equal(cp_sse_feed(p, in, big), CP_OK);
    assert_null(p->q.p);
    cp_sse_free(p);
    free(in);
}

int main(void)
{
    const struct CMUnitTest ts[] = {
        cmocka_unit_test(test_rules),           cmocka_unit_test(test_split_crlf),
        cmocka_unit_test(test_pending),         cmocka_unit_test(test_many_events),
        cmocka_unit_test(test_failed_for_good), cmocka_unit_test(test_default_limit),
        cmocka_unit_test(test_memory),
    };
    return cmocka_run_group_tests(ts, NULL, NULL);
}
