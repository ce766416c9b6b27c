/* Unit tests for lib/anth/cp_tok.c: the local token estimate behind count_tokens.
 *
 * The accuracy test reads tests/fixtures/tok/expected.json, the real o200k_base counts written by
 * bench/tok/measure.mjs --write, and requires every fixture to be within TOK_TOLERANCE_PCT. The fixture
 * directory is found relative to this file's path, or from $CCPROXY_TOK_FIXTURES. The other tests pin the
 * request walk (what counts, what does not, the fixed costs) and feed it every wrong shape. */
#include "cp_unit.h"

#include <jansson.h>

#include "cp_tok.h"

#define TOK_TOLERANCE_PCT 15
#define TOK_MIN_FIXTURES  30

/* cp_tok.c's fixed costs, pinned here so that a change to them is a deliberate one. */
#define REQ     3
#define MSG     4
#define USE     8
#define RESULT  4
#define TOOL    8
#define TOOLS   12
#define IMG_MAX 1600

static const char *fixdir(void)
{
    static char dir[1024];
    const char *env = getenv("CCPROXY_TOK_FIXTURES");
    const char *f = __FILE__, *slash = strrchr(f, '/');

    if (env != NULL)
        return env;
    if (slash != NULL)
        snprintf(dir, sizeof(dir), "%.*s/../fixtures/tok", (int)(slash - f), f);
    else
        snprintf(dir, sizeof(dir), "../fixtures/tok");
    return dir;
}

/* Returns new: the bytes of fixture <name> (NUL-terminated), length in *len; fails when missing. */
static char *slurp(const char *name, size_t *len)
{
    char path[1200];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/%s", fixdir(), name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("fixture %s: cannot open", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Returns new: <text> parsed; fails on invalid JSON. */
static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &err);

    if (j == NULL)
        fail_msg("bad test JSON: %s: %s", err.text, text);
    return j;
}

static int64_t count(const char *body)
{
    json_t *j = parse(body); /* owned */
    int64_t n = cp_tok_request(j);

    json_decref(j);
    return n;
}

static int64_t text(const char *s)
{
    return cp_tok_text(s, strlen(s));
}

/* Returns new: standard base64 of <n> bytes. */
static char *b64(const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    size_t i;

    assert_non_null(out);
    for (i = 0; i < n; i += 3) {
        unsigned v =
            (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);

        *o++ = a[v >> 18 & 63];
        *o++ = a[v >> 12 & 63];
        *o++ = i + 1 < n ? a[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? a[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* Tokens of a one-message body whose only content is the block <block> (JSON), overheads removed. */
static int64_t block_cost(const char *block)
{
    char body[8192];

    snprintf(body, sizeof(body), "{\"messages\":[{\"role\":\"user\",\"content\":[%s]}]}", block);
    return count(body) - REQ - MSG;
}

/* Tokens of an image block with base64 <data>. */
static int64_t image_cost(const unsigned char *bytes, size_t n)
{
    char *data = b64(bytes, n);
    char block[4096];
    int64_t c;

    snprintf(
        block, sizeof(block),
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"%s\"}}",
        data);
    c = block_cost(block);
    free(data);
    return c;
}

/* ---- accuracy against the real tokenizer --------------------------------------------------------- */

static void test_fixtures_within_tolerance(void **s)
{
    size_t len, i, bad = 0, ncat[5] = {0};
    static const char *const cats[5] = {"prose-", "code-", "json-", "request-", "intl-"};
    char *raw = slurp("expected.json", &len);
    json_error_t err;
    json_t *exp = json_loadb(raw, len, 0, &err); /* owned */
    json_t *fixtures = json_object_get(exp, "fixtures");

    (void)s;
    if (exp == NULL)
        fail_msg("expected.json: %s (line %d)", err.text, err.line);
    assert_int_equal(json_integer_value(json_object_get(exp, "tolerance_pct")), TOK_TOLERANCE_PCT);
    assert_true(json_array_size(fixtures) >= TOK_MIN_FIXTURES);
    for (i = 0; i < json_array_size(fixtures); i++) {
        const json_t *f = json_array_get(fixtures, i);
        const char *file = json_string_value(json_object_get(f, "file"));
        const char *kind = json_string_value(json_object_get(f, "kind"));
        json_int_t real = json_integer_value(json_object_get(f, "o200k_base"));
        size_t flen, c;
        char *body;
        int64_t est;
        double err_pct;

        assert_non_null(file);
        assert_non_null(kind);
        assert_true(real > 0);
        body = slurp(file, &flen);
        if (strcmp(kind, "request") == 0) {
            json_t *j = json_loadb(body, flen, 0, &err); /* owned */

            if (j == NULL)
                fail_msg("%s: %s", file, err.text);
            est = cp_tok_request(j);
            json_decref(j);
        } else {
            est = cp_tok_text(body, flen);
        }
        free(body);
        for (c = 0; c < 5; c++)
            ncat[c] += strncmp(file, cats[c], strlen(cats[c])) == 0;
        err_pct = 100.0 * (double)(est - real) / (double)real;
        if (err_pct > TOK_TOLERANCE_PCT || err_pct < -TOK_TOLERANCE_PCT) {
            print_error("%s: estimate %lld, o200k_base %lld (%+.1f%%)\n", file, (long long)est,
                        (long long)real, err_pct);
            bad++;
        }
    }
    json_decref(exp);
    free(raw);
    /* prose, code, JSON and whole requests must all be represented */
    for (i = 0; i < 4; i++)
        if (ncat[i] < 4)
            fail_msg("only %zu fixtures named %s*", ncat[i], cats[i]);
    if (bad > 0)
        fail_msg("%zu fixture(s) outside +-%d%% of o200k_base; see bench/tok/measure.mjs", bad,
                 TOK_TOLERANCE_PCT);
}

/* ---- cp_tok_text --------------------------------------------------------------------------------- */

static void test_text_basics(void **s)
{
    static const char invalid[] = "caf\xc3 \xff\xfe ok \\\xc3\xa9t\xc3\xa9 \xe2\x82"; /* cut, invalid UTF-8 */
    static const char nul[] = "a\0b\0c";

    (void)s;
    assert_int_equal(cp_tok_text(NULL, 0), 0);
    assert_int_equal(cp_tok_text(NULL, 5), 0);
    assert_int_equal(cp_tok_text("", 0), 0);
    assert_int_equal(text("hello"), 1);
    assert_int_equal(text("hello world"), 2);
    assert_int_equal(text("The quick brown fox jumps over the lazy dog."), 10);
    /* digits go in threes, and never take the space before them */
    assert_int_equal(text("1234567"), 3);
    assert_int_equal(text("x 123"), 3);
    /* a run of spaces before a word is one token, its last space leading the word */
    assert_int_equal(text("a        b"), 3);
    assert_int_equal(text("\n\n\n\n"), 1);
    assert_int_equal(text("    "), 1);
    /* o200k cuts camelCase, not an upper-case prefix */
    assert_int_equal(text("camelCase"), 2);
    assert_int_equal(text("snake_case_name"), 3);
    /* JSON structure merges */
    assert_int_equal(text("{\"a\":\"b\"}"), 5);
    assert_int_equal(text("--------"), 1);
    /* anything advances, nothing reads past <len> */
    assert_true(cp_tok_text(invalid, sizeof(invalid) - 1) > 0);
    assert_in_range(cp_tok_text(nul, 5), 3, 5);
    assert_int_equal(cp_tok_text("hello world", 5), 1);
    /* CJK is about 0.7 token a character; emoji and symbols about one */
    assert_true(text("这个代理服务器在本地计算") >= 6 && text("这个代理服务器在本地计算") <= 12);
    assert_int_equal(text("\xe2\x86\x92"), 1);
}

/* Random base64 (hashes, keys, JWTs) is costed per character; identifiers and hex are not mistaken for it.
 * The ranges are around the real o200k_base counts (51, 42, 13, 12, 13, 36). */
static void test_text_base64(void **s)
{
    (void)s;
    assert_in_range(text("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6QUJDREVGR0g="), 45,
                    58);
    assert_in_range(text("eyJ1c2VyIjoiYWxpY2UiLCJyb2xlIjoiYWRtaW4iLCJleHAiOjE3NDE5NDkxMDN9"), 37, 48);
    assert_in_range(text("ThisIsAVeryLongJavaClassNameWithNumbers123AndMore"), 11, 16);
    assert_in_range(text("getHTTPResponseCodeFromServer2AndRetryAfter503Status"), 10, 16);
    assert_in_range(text("MyComponent2Renderer3DViewportV2WithTexture4K"), 11, 17);
    assert_in_range(text("3f2a9c1d8b7e6f5a4c3b2a1908f7e6d5c4b3a291"), 31, 41);
    /* a blob inside JSON, after a sign: the rest of the run is still found */
    assert_in_range(text("{\"integrity\":\"sha512-"
                         "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6QUJDREVGR0g=\"}"),
                    52, 68);
}

/* 2 MB texts of every shape: linear by construction, and the count scales with the input. */
static void test_text_large(void **s)
{
    static const char para[] = "Connection pooling looks like a free win until a load balancer drops an idle "
                               "socket; the pool retries once, on {\"status\": 502}, then gives up.\n";
    const size_t big = 2u << 20, plen = sizeof(para) - 1;
    char *buf = malloc(big);
    size_t i, reps = big / plen;
    int64_t one = cp_tok_text(para, plen), many;

    (void)s;
    assert_non_null(buf);
    for (i = 0; i < reps; i++)
        memcpy(buf + i * plen, para, plen);
    many = cp_tok_text(buf, reps * plen);
    assert_true(many >= (int64_t)reps * one - (int64_t)reps && many <= (int64_t)reps * one + (int64_t)reps);

    memset(buf, 'a', big); /* one 2 MB word */
    assert_true(cp_tok_text(buf, big) > (int64_t)(big / 8));
    memset(buf, ' ', big);
    assert_int_equal(cp_tok_text(buf, big), 1);
    memset(buf, '\n', big);
    assert_int_equal(cp_tok_text(buf, big), 1);
    for (i = 0; i < big; i++) /* alternating punctuation: one long run */
        buf[i] = i % 2 ? '{' : '"';
    assert_true(cp_tok_text(buf, big) > (int64_t)(big / 4));
    for (i = 0; i < big; i++) /* random-looking bytes, invalid UTF-8 included */
        buf[i] = (char)((i * 2654435761u) >> 13);
    assert_true(cp_tok_text(buf, big) > 0);
    for (i = 0; i < big; i++) /* one 2 MB base64 blob, then 2 MB of runs that look like one but are not */
        buf[i] = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6QUJDREVGR0g"[i % 75];
    assert_in_range(cp_tok_text(buf, big), (int64_t)(big / 2), (int64_t)big);
    for (i = 0; i < big; i++)
        buf[i] = i % 31 == 30 ? '-' : "aB1c"[i % 4];
    assert_true(cp_tok_text(buf, big) > 0);
    for (i = 0; i + 3 <= big; i += 3) /* 2 MB of Han */
        memcpy(buf + i, "\xe4\xb8\xad", 3);
    assert_true(cp_tok_text(buf, big) > (int64_t)(big / 3 / 2));
    free(buf);
}

/* ---- cp_tok_request ------------------------------------------------------------------------------ */

static void test_request_empty_and_wrong_types(void **s)
{
    static const char *const bodies[] = {
        "{}",
        "{\"system\":5,\"messages\":\"x\",\"tools\":{\"a\":1}}",
        "{\"system\":[5,null,{\"type\":7},{\"text\":\"no type\"}],\"messages\":[]}",
        "{\"messages\":[5,null,\"str\",[],{},{\"content\":7},{\"role\":\"user\",\"content\":null}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[1,null,[],{},{\"type\":5},{\"type\":\"text\"},"
        "{\"type\":\"text\",\"text\":7},{\"type\":\"tool_use\"},{\"type\":\"tool_use\",\"input\":\"s\","
        "\"name\":[]},"
        "{\"type\":\"tool_result\",\"content\":{}},{\"type\":\"tool_result\",\"content\":[7,{\"type\":"
        "\"image\"}]},"
        "{\"type\":\"image\",\"source\":\"x\"},{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"data\":"
        "5}},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"data\":\"!!!!\"}},"
        "{\"type\":\"document\"},{\"type\":\"document\",\"source\":{\"type\":\"base64\",\"data\":[]}},"
        "{\"type\":\"document\",\"source\":{\"type\":\"content\",\"content\":5}},"
        "{\"type\":\"thinking\",\"thinking\":{}},{\"type\":\"redacted_thinking\",\"data\":5}]}]}",
        "{\"tools\":[5,null,[],{},{\"name\":5,\"description\":[],\"input_schema\":\"x\"}]}",
        "{\"output_config\":5}",
        "{\"output_config\":{\"format\":{\"schema\":null}}}",
    };
    size_t i;

    (void)s;
    assert_int_equal(cp_tok_request(NULL), 0);
    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        int64_t n = count(bodies[i]);

        if (n < REQ || n > 100000)
            fail_msg("%s: %lld", bodies[i], (long long)n);
    }
    assert_int_equal(count("{}"), REQ);
    assert_int_equal(count("[1,2]"), 0);
    assert_int_equal(count("\"body\""), 0);
    assert_int_equal(count("{\"system\":\"\",\"messages\":[],\"tools\":[]}"), REQ);
}

static void test_request_system_and_messages(void **s)
{
    const int64_t hi = text("Hello there"), sys = text("You are terse.");

    (void)s;
    assert_int_equal(count("{\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}]}"),
                     REQ + MSG + hi);
    assert_int_equal(
        count("{\"system\":\"You are terse.\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello "
              "there\"}]}"),
        REQ + MSG + sys + MSG + hi);
    /* system as text blocks, each counted; cache_control and other fields are not text */
    assert_int_equal(
        count("{\"system\":[{\"type\":\"text\",\"text\":\"You are terse.\"},{\"type\":\"text\",\"text\":"
              "\"Hello there\",\"cache_control\":{\"type\":\"ephemeral\"}}]}"),
        REQ + MSG + sys + hi);
    /* string and block content count the same; a mid-conversation system message is a message */
    assert_int_equal(
        count("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hello "
              "there\"}]},{\"role\":\"system\",\"content\":\"You are terse.\"}]}"),
        REQ + MSG + hi + MSG + sys);
}

static void test_request_blocks(void **s)
{
    (void)s;
    assert_int_equal(
        block_cost("{\"type\":\"thinking\",\"thinking\":\"Let me check the file.\",\"signature\":"
                   "\"EqQBCkYIBRgCKkBzaWduYXR1cmU=\"}"),
        text("Let me check the file."));
    assert_int_equal(
        block_cost("{\"type\":\"redacted_thinking\",\"data\":\"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xl\"}"), 0);
    /* tool_use: name + compact JSON of the input, whatever order and spacing the client used */
    assert_int_equal(block_cost("{\"type\":\"tool_use\",\"id\":\"toolu_01A\",\"name\":\"Read\",\"input\":{ "
                                "\"file_path\" : \"/tmp/a.c\", \"limit\" : 40 }}"),
                     USE + text("Read") + text("{\"file_path\":\"/tmp/a.c\",\"limit\":40}"));
    /* tool_result: string or blocks, the id is not text */
    assert_int_equal(
        block_cost("{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_01A\",\"content\":\"42 files\"}"),
        RESULT + text("42 files"));
    assert_int_equal(
        block_cost("{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"is_error\":true,\"content\":[{"
                   "\"type\":\"text\",\"text\":\"42 files\"},{\"type\":\"text\",\"text\":\"done\"}]}"),
        RESULT + text("42 files") + text("done"));
    assert_int_equal(block_cost("{\"type\":\"tool_result\",\"tool_use_id\":\"t\"}"), RESULT);
    /* documents: title and context, then the text source, or the blocks of a content source */
    assert_int_equal(
        block_cost("{\"type\":\"document\",\"title\":\"proxy.log\",\"source\":{\"type\":\"text\","
                   "\"media_type\":\"text/plain\",\"data\":\"status 500 at 09:12\"}}"),
        text("proxy.log") + text("status 500 at 09:12"));
    assert_int_equal(
        block_cost("{\"type\":\"document\",\"source\":{\"type\":\"content\",\"content\":[{\"type\":"
                   "\"text\",\"text\":\"status 500 at 09:12\"}]}}"),
        text("status 500 at 09:12"));
    assert_int_equal(
        block_cost("{\"type\":\"document\",\"source\":{\"type\":\"url\",\"url\":\"https://e.com/a.pdf\"}}"),
        1600);
    /* an unknown block counts as its compact JSON */
    assert_int_equal(block_cost("{\"type\":\"search_result\",\"title\":\"Docs\",\"content\":[]}"),
                     text("{\"type\":\"search_result\",\"title\":\"Docs\",\"content\":[]}"));
    /* a bare string inside a content array is read as text */
    assert_int_equal(block_cost("\"Hello there\""), text("Hello there"));
}

/* The compact JSON written for tool inputs and schemas is byte for byte json_dumps(JSON_COMPACT). */
static void test_request_json_form(void **s)
{
    static const char *const inputs[] = {
        "{}",
        "[]",
        "{\"a\":[1,-2,0.5,-2.25,true,false,null],\"b\":{\"c\":{}}}",
        "{\"old_string\":\"if (x) {\\n\\treturn \\\"y\\\";\\n}\\\\\\u0001\\u001f/\\u00e9\\u4e2d\"}",
        "{\"z\":1,\"a\":2,\"m\":{\"y\":[],\"b\":\"\"}}",
        "\"just a string\"",
        "12345678901234",
    };
    size_t i;

    (void)s;
    for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        json_t *in = parse(inputs[i]); /* owned */
        json_t *body =
            json_pack("{s:[{s:s,s:[{s:s,s:s,s:s,s:O}]}]}", "messages", "role", "assistant", "content", "type",
                      "tool_use", "id", "t", "name", "", "input", in); /* owned */
        char *compact = json_dumps(in, JSON_COMPACT | JSON_ENCODE_ANY);

        assert_non_null(body);
        assert_non_null(compact);
        assert_int_equal(cp_tok_request(body), REQ + MSG + USE + text(compact));
        free(compact);
        json_decref(body);
        json_decref(in);
    }
}

static void test_request_tools(void **s)
{
    const int64_t schema = text("{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}}}");

    (void)s;
    assert_int_equal(
        count("{\"tools\":[{\"name\":\"Read\",\"description\":\"Read a file.\",\"input_schema\":{"
              "\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"}}}}]}"),
        REQ + TOOLS + TOOL + text("Read") + text("Read a file.") + schema);
    /* a server tool has no schema; its other fields are configuration, not text */
    assert_int_equal(
        count("{\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\",\"max_uses\":5}]}"),
        REQ + TOOLS + TOOL + text("web_search"));
    /* Claude Code counts tool subsets next to a "foo" message: the difference is the tools' own cost */
    assert_int_equal(
        count("{\"messages\":[{\"role\":\"user\",\"content\":\"foo\"}],\"tools\":[{\"name\":\"A\","
              "\"input_schema\":{}},{\"name\":\"B\",\"input_schema\":{}}]}") -
            count("{\"messages\":[{\"role\":\"user\",\"content\":\"foo\"}]}"),
        TOOLS + 2 * (TOOL + text("A") + text("{}")));
    /* a structured-output schema is read by the model */
    assert_int_equal(count("{\"output_config\":{\"format\":{\"type\":\"json_schema\",\"schema\":{\"type\":"
                           "\"object\"}}}}"),
                     REQ + text("{\"type\":\"object\"}"));
}

static void test_request_images(void **s)
{
    unsigned char png[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    unsigned char gif[16] = {'G', 'I', 'F', '8', '9', 'a', 100, 0, 50, 0};
    /* SOI, an APP0 segment of 16 bytes, a fill byte, then SOF0 with height 480 and width 640 */
    unsigned char jpeg[40] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0};
    unsigned char webp[32] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'X'};
    unsigned char vp8l[32] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'L'};
    unsigned char vp8[32] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', ' '};
    uint32_t bits;

    (void)s;
    /* 400 x 300 = 120000 px / 750 */
    png[18] = 400 >> 8, png[19] = 400 & 255, png[22] = 300 >> 8, png[23] = 300 & 255;
    assert_int_equal(image_cost(png, sizeof(png)), 160);
    /* 4000 x 3000 scales to 1568 x 1176, then to the 1.15 MP cap */
    png[18] = 4000 >> 8, png[19] = 4000 & 255, png[22] = 3000 >> 8, png[23] = 3000 & 255;
    assert_int_equal(image_cost(png, sizeof(png)), 1590);
    /* 100 x 50 = 5000 px -> 6.7 */
    assert_int_equal(image_cost(gif, sizeof(gif)), 7);
    jpeg[20] = 0xFF;
    jpeg[21] = 0xFF, jpeg[22] = 0xC0, jpeg[23] = 0, jpeg[24] = 17, jpeg[25] = 8;
    jpeg[26] = 480 >> 8, jpeg[27] = 480 & 255, jpeg[28] = 640 >> 8, jpeg[29] = 640 & 255;
    assert_int_equal(image_cost(jpeg, sizeof(jpeg)), 410);
    /* VP8X stores width-1 and height-1 in 24 bits: 1024 x 768 */
    webp[24] = (1023) & 255, webp[25] = 1023 >> 8, webp[27] = 767 & 255, webp[28] = 767 >> 8;
    assert_int_equal(image_cost(webp, sizeof(webp)), 1049);
    /* VP8L packs 14-bit width-1 and height-1 after a signature byte: 800 x 600 */
    bits = (800 - 1) | (uint32_t)(600 - 1) << 14;
    vp8l[20] = 0x2F, vp8l[21] = bits & 255, vp8l[22] = bits >> 8 & 255, vp8l[23] = bits >> 16 & 255;
    vp8l[24] = (unsigned char)(bits >> 24);
    assert_int_equal(image_cost(vp8l, sizeof(vp8l)), 640);
    /* lossy VP8: 16-bit little-endian sizes after the start code: 300 x 200 */
    vp8[23] = 0x9D, vp8[24] = 0x01, vp8[25] = 0x2A;
    vp8[26] = 300 & 255, vp8[27] = 300 >> 8, vp8[28] = 200 & 255, vp8[29] = 200 >> 8;
    assert_int_equal(image_cost(vp8, sizeof(vp8)), 80);
    /* unreadable data, a zero size, a truncated header, a URL: the maximum */
    assert_int_equal(image_cost((const unsigned char *)"not an image at all, really", 27), IMG_MAX);
    png[18] = png[19] = 0;
    assert_int_equal(image_cost(png, sizeof(png)), IMG_MAX);
    assert_int_equal(image_cost(gif, 6), IMG_MAX);
    jpeg[4] = 0xFF, jpeg[5] = 0xFF; /* an APP0 length that jumps past the data */
    assert_int_equal(image_cost(jpeg, sizeof(jpeg)), IMG_MAX);
    assert_int_equal(
        block_cost("{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://e.com/a.png\"}}"),
        IMG_MAX);
    assert_int_equal(
        block_cost("{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"data\":\"iVBORw0KGgo\"}}"),
        IMG_MAX);
}

static void test_request_pdf(void **s)
{
    static const char pdf[] = "%PDF-1.7\n1 0 obj\n<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>\nendobj\n"
                              "2 0 obj\n<< /Type /Page /Parent 1 0 R >>\nendobj\n"
                              "3 0 obj\n<</Type/Page/Parent 1 0 R>>\nendobj\n%%EOF\n";
    char *data = b64((const unsigned char *)pdf, sizeof(pdf) - 1);
    char block[2048];

    (void)s;
    snprintf(block, sizeof(block),
             "{\"type\":\"document\",\"source\":{\"type\":\"base64\",\"media_type\":\"application/pdf\","
             "\"data\":\"%s\"}}",
             data);
    assert_int_equal(block_cost(block), 2 * 1500);
    free(data);
    /* no page objects to be seen (compressed object streams): the floor */
    data = b64((const unsigned char *)"%PDF-1.5\n%%EOF\n", 15);
    snprintf(block, sizeof(block), "{\"type\":\"document\",\"source\":{\"type\":\"base64\",\"data\":\"%s\"}}",
             data);
    assert_int_equal(block_cost(block), 1600);
    free(data);
}

/* A Claude Code-sized body and a pathological one: the walk stays linear and bounded. */
static void test_request_large(void **s)
{
    static const char pat[] = "lorem ipsum dolor sit amet, consectetur {\"x\": 1}\n";
    const size_t big = 2u << 20;
    char *str = malloc(big + 1);
    json_t *body, *content, *nest;
    size_t i;
    int64_t n, one;

    (void)s;
    assert_non_null(str);
    for (i = 0; i < big; i++)
        str[i] = pat[i % (sizeof(pat) - 1)];
    str[big] = '\0';
    one = text(str);
    /* 2 MB as a message, as a tool_result, and escaped inside a tool_use input */
    body = json_pack("{s:[{s:s,s:s},{s:s,s:[{s:s,s:s,s:s}]},{s:s,s:[{s:s,s:s,s:s,s:{s:s}}]}]}", "messages",
                     "role", "user", "content", str, "role", "user", "content", "type", "tool_result",
                     "tool_use_id", "t", "content", str, "role", "assistant", "content", "type", "tool_use",
                     "name", "Write", "id", "t", "input", "content", str); /* owned */
    assert_non_null(body);
    n = cp_tok_request(body);
    assert_true(n > 3 * one - 1000 && n < 4 * one);
    json_decref(body);
    free(str);

    /* 10,000 blocks, and tool input nested 3,000 deep (deeper than any parser would hand us) */
    content = json_array(); /* owned */
    for (i = 0; i < 10000; i++)
        json_array_append_new(content, json_pack("{s:s,s:s}", "type", "text", "text", "ok"));
    nest = json_array(); /* owned, then moved into body */
    for (i = 0; i < 3000; i++) {
        json_t *outer = json_array();

        json_array_append_new(outer, nest);
        nest = outer;
    }
    body = json_pack("{s:[{s:s,s:o},{s:s,s:[{s:s,s:s,s:s,s:o}]}]}", "messages", "role", "user", "content",
                     content, "role", "assistant", "content", "type", "tool_use", "name", "x", "id", "t",
                     "input", nest); /* owned */
    assert_non_null(body);
    n = cp_tok_request(body);
    assert_true(n >= REQ + 2 * MSG + 10000 * text("ok") + USE);
    json_decref(body);
}

static void test_request_claude_code_shape(void **s)
{
    size_t len;
    char *raw = slurp("request-01-cc-main.json", &len);
    json_t *body = json_loadb(raw, len, 0, NULL); /* owned */
    json_t *tools;                                /* borrowed from body */
    int64_t all, without;

    (void)s;
    assert_non_null(body);
    all = cp_tok_request(body);
    assert_true(len > 60000 && all > 10000);
    /* the tools are a large, positive share; deleting them removes exactly their cost */
    tools = json_object_get(body, "tools");
    assert_int_equal(json_array_size(tools), 24);
    json_incref(tools);
    json_object_del(body, "tools");
    without = cp_tok_request(body);
    assert_true(all - without > 3000);
    json_object_set_new(body, "tools", json_array());
    assert_int_equal(cp_tok_request(body), without);
    json_decref(tools);
    /* deterministic: the same body, the same answer */
    json_decref(body);
    body = json_loadb(raw, len, 0, NULL);
    assert_int_equal(cp_tok_request(body), all);
    assert_int_equal(cp_tok_request(body), all);
    json_decref(body);
    free(raw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_within_tolerance),
        cmocka_unit_test(test_text_basics),
        cmocka_unit_test(test_text_base64),
        cmocka_unit_test(test_text_large),
        cmocka_unit_test(test_request_empty_and_wrong_types),
        cmocka_unit_test(test_request_system_and_messages),
        cmocka_unit_test(test_request_blocks),
        cmocka_unit_test(test_request_json_form),
        cmocka_unit_test(test_request_tools),
        cmocka_unit_test(test_request_images),
        cmocka_unit_test(test_request_pdf),
        cmocka_unit_test(test_request_large),
        cmocka_unit_test(test_request_claude_code_shape),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
