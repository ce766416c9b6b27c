/* Unit tests for lib/anth/cp_anth.c: request validation messages and the error envelope. */
#include "cp_unit.h"

#include "cp_anth.h"

static void bad(const char *body, enum cp_anth_kind kind, const char *want)
{
    cp_err_t e = {0};
    json_t *j = cp_anth_parse(body, strlen(body), &e);

    if (j != NULL) {
        if (cp_anth_validate(j, kind, &e) == CP_OK)
            fail_msg("accepted: %s", body);
        json_decref(j);
    }
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.type, "invalid_request_error");
    if (strstr(e.msg, want) == NULL)
        fail_msg("%s: \"%s\" lacks \"%s\"", body, e.msg, want);
}

static void good(const char *body, enum cp_anth_kind kind)
{
    cp_err_t e = {0};
    json_t *j = cp_anth_parse(body, strlen(body), &e);

    if (j == NULL || cp_anth_validate(j, kind, &e) != CP_OK)
        fail_msg("rejected: %s: %s", body, e.msg);
    json_decref(j);
}

static void test_validation(void **s)
{
    (void)s;
    bad("", CP_ANTH_MESSAGES, "empty");
    bad("{\"model\":", CP_ANTH_MESSAGES, "not valid JSON");
    bad("[1]", CP_ANTH_MESSAGES, "must be a JSON object");
    bad("{\"model\":\"m\",\"model\":\"n\"}", CP_ANTH_MESSAGES, "duplicate");
    bad("{\"max_tokens\":1,\"messages\":[]}", CP_ANTH_MESSAGES, "model: Field required");
    bad("{\"model\":5,\"max_tokens\":1,\"messages\":[]}", CP_ANTH_MESSAGES, "model: Input should be");
    bad("{\"model\":\"m\",\"messages\":[]}", CP_ANTH_MESSAGES, "max_tokens: Field required");
    bad("{\"model\":\"m\",\"max_tokens\":\"5\",\"messages\":[]}", CP_ANTH_MESSAGES,
        "max_tokens: Input should be a valid integer");
    bad("{\"model\":\"m\",\"max_tokens\":1.5,\"messages\":[]}", CP_ANTH_MESSAGES, "max_tokens");
    bad("{\"model\":\"m\",\"max_tokens\":-1,\"messages\":[]}", CP_ANTH_MESSAGES,
        "greater than or equal to 0");
    bad("{\"model\":\"m\",\"max_tokens\":1}", CP_ANTH_MESSAGES, "messages: Field required");
    bad("{\"model\":\"m\",\"max_tokens\":1,\"messages\":{}}", CP_ANTH_MESSAGES,
        "messages: Input should be a valid list");
    bad("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[5]}", CP_ANTH_MESSAGES, "messages.0");
    bad("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"content\":\"x\"}]}", CP_ANTH_MESSAGES,
        "messages.0.role: Field required");
    bad("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":"
        "\"bot\","
        "\"content\":\"x\"}]}",
        CP_ANTH_MESSAGES, "messages.1.role: Input should be 'user', 'assistant' or 'system'");
    bad("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\"}]}", CP_ANTH_MESSAGES,
        "messages.0.content: Field required");
    bad("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":7}]}",
        CP_ANTH_MESSAGES, "messages.0.content");
    bad("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]"
        "}",
        CP_ANTH_MESSAGES, "messages.0.content.0.type: Field required");
    bad("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[],\"stream\":\"yes\"}", CP_ANTH_MESSAGES, "stream");
    bad("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[],\"system\":5}", CP_ANTH_MESSAGES, "system");
    bad("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[],\"tools\":[{}]}", CP_ANTH_MESSAGES,
        "tools.0.name: Field required");
    bad("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[],\"stop_sequences\":[1]}", CP_ANTH_MESSAGES,
        "stop_sequences");
    bad("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[],\"temperature\":\"hot\"}", CP_ANTH_MESSAGES,
        "temperature");
    bad("{\"model\":\"m\",\"messages\":\"x\"}", CP_ANTH_COUNT_TOKENS,
        "messages: Input should be a valid list");

    good("{\"model\":\"m\",\"max_tokens\":0,\"messages\":[]}", CP_ANTH_MESSAGES);
    good("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", CP_ANTH_COUNT_TOKENS);
    good(
        "{\"model\":\"claude-opus-4-8\",\"max_tokens\":32000,\"stream\":true,\"system\":[{\"type\":\"text\","
        "\"text\":\"s\",\"cache_control\":{\"type\":\"ephemeral\"}}],\"messages\":[{\"role\":\"user\","
        "\"content\":"
        "[{\"type\":\"text\",\"text\":\"hi\"}]},{\"role\":\"system\",\"content\":\"mid\"}],\"tools\":[{"
        "\"name\":"
        "\"Read\",\"input_schema\":{\"type\":\"object\"}}],\"thinking\":{\"type\":\"adaptive\"},\"metadata\":"
        "{\"user_id\":\"{\\\"a\\\":1}\"},\"context_management\":{\"edits\":[]},\"output_config\":{\"effort\":"
        "\"high\"},\"temperature\":1,\"unknown_future_field\":true}",
        CP_ANTH_MESSAGES);
}

/* Integers beyond 64 bits (routers send "seed": 9949578379265081000) must not fail the request: they
 * are read as reals, while every ordinary integer stays an integer (max_tokens must be one). */
static void test_huge_integers(void **s)
{
    static const char body[] =
        "{\"model\":\"m\",\"max_tokens\":1024,\"metadata\":{\"x\":9949578379265081000},\"messages\":[{"
        "\"role\":"
        "\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":"
        "\"t1\","
        "\"name\":\"f\",\"input\":{\"big\":123456789012345678901234567890,\"s\":\"99999999999999999999\","
        "\"small\":7,\"r\":1.5}}]}]}";
    cp_err_t e = {0};
    json_t *j = cp_anth_parse(body, sizeof(body) - 1, &e), *input;

    (void)s;
    if (j == NULL)
        fail_msg("rejected: %s", e.msg);
    assert_int_equal(cp_anth_validate(j, CP_ANTH_MESSAGES, &e), CP_OK);
    assert_true(json_is_integer(json_object_get(j, "max_tokens")));
    assert_int_equal(json_integer_value(json_object_get(j, "max_tokens")), 1024);
    assert_true(json_is_real(json_object_get(json_object_get(j, "metadata"), "x")));
    assert_true(json_real_value(json_object_get(json_object_get(j, "metadata"), "x")) ==
                9949578379265081000.0);
    input = json_object_get(
        json_array_get(json_object_get(json_array_get(json_object_get(j, "messages"), 1), "content"), 0),
        "input");
    assert_true(json_real_value(json_object_get(input, "big")) == 123456789012345678901234567890.0);
    assert_string_equal(json_string_value(json_object_get(input, "s")),
                        "99999999999999999999"); /* untouched */
    assert_true(json_is_integer(json_object_get(input, "small")));
    assert_true(json_real_value(json_object_get(input, "r")) == 1.5);
    json_decref(j);

    /* the second parse still rejects what the first would have: duplicates, syntax, a huge real */
    bad("{\"model\":\"m\",\"seed\":99999999999999999999,\"model\":\"n\"}", CP_ANTH_MESSAGES, "duplicate");
    bad("{\"seed\":99999999999999999999,\"model\":", CP_ANTH_MESSAGES, "not valid JSON");
    bad("{\"model\":\"m\",\"max_tokens\":1e400,\"messages\":[]}", CP_ANTH_MESSAGES, "not valid JSON");
    /* a huge max_tokens is a real: reported as not an integer, not as invalid JSON */
    bad("{\"model\":\"m\",\"max_tokens\":99999999999999999999,\"messages\":[]}", CP_ANTH_MESSAGES,
        "max_tokens: Input should be a valid integer");
}

static void test_error_types(void **s)
{
    (void)s;
    assert_string_equal(cp_anth_error_type(400), "invalid_request_error");
    assert_string_equal(cp_anth_error_type(401), "authentication_error");
    assert_string_equal(cp_anth_error_type(402), "billing_error");
    assert_string_equal(cp_anth_error_type(403), "permission_error");
    assert_string_equal(cp_anth_error_type(404), "not_found_error");
    assert_string_equal(cp_anth_error_type(405), "invalid_request_error");
    assert_string_equal(cp_anth_error_type(413), "request_too_large");
    assert_string_equal(cp_anth_error_type(429), "rate_limit_error");
    assert_string_equal(cp_anth_error_type(500), "api_error");
    assert_string_equal(cp_anth_error_type(502), "api_error");
    assert_string_equal(cp_anth_error_type(503), "overloaded_error");
    assert_string_equal(cp_anth_error_type(504), "timeout_error");
    assert_string_equal(cp_anth_error_type(529), "overloaded_error");
}

static void test_envelope(void **s)
{
    char *j;
    json_t *o;

    (void)s;
    j = cp_anth_error_json(404, NULL, "Not found: \"x\"", "req_0123456789abcdef01234567");
    o = json_loads(j, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "type")), "error");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "type")),
                        "not_found_error");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "message")),
                        "Not found: \"x\"");
    assert_string_equal(json_string_value(json_object_get(o, "request_id")), "req_0123456789abcdef01234567");
    json_decref(o);
    free(j);
    j = cp_anth_error_json(500, "api_error", "bad \xff utf8", NULL);
    o = json_loads(j, 0, NULL);
    assert_non_null(o); /* still a valid envelope */
    assert_true(json_is_null(json_object_get(o, "request_id")));
    json_decref(o);
    free(j);
}

static void test_request_ids(void **s)
{
    char a[CP_REQ_ID_LEN + 1], b[CP_REQ_ID_LEN + 1];

    (void)s;
    cp_req_id(a);
    cp_req_id(b);
    assert_int_equal(strlen(a), 28);
    assert_memory_equal(a, "req_", 4);
    assert_int_equal(strspn(a + 4, "0123456789abcdef"), 24);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation),  cmocka_unit_test(test_huge_integers),
        cmocka_unit_test(test_error_types), cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_request_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
