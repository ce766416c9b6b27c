/* Unit tests for lib/prov/cp_prov_err.c: upstream errors -> Anthropic errors (status, type, message,
 * no secrets). JSON in the tables is written with ' for " (see jq()). */
#include "cp_unit.h"

#include "cp_prov_err.h"

/* ---- cp_prov_error ----------------------------------------------------------------------------- */

static void test_error_status_map(void **s)
{
    static const struct {
        long in;
        int out;
        const char *type;
    } cases[] = {
        {400, 400, "invalid_request_error"},
        {422, 400, "invalid_request_error"},
        {401, 401, "authentication_error"},
        {402, 402, "billing_error"},
        {403, 403, "permission_error"},
        {404, 404, "not_found_error"},
        {408, 504, "timeout_error"},
        {504, 504, "timeout_error"},
        {413, 413, "request_too_large"},
        {429, 429, "rate_limit_error"},
        {500, 500, "api_error"},
        {502, 529, "overloaded_error"},
        {503, 529, "overloaded_error"},
        {529, 529, "overloaded_error"},
        {501, 500, "api_error"},
        {520, 500, "api_error"},
        {599, 500, "api_error"},
        {405, 400, "invalid_request_error"},
        {409, 400, "invalid_request_error"},
        {418, 400, "invalid_request_error"},
        {302, 502, "api_error"},
        {200, 502, "api_error"},
        {0, 502, "api_error"},
    };
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cp_err_t e = {0};
        const char body[] = "{\"error\":{\"message\":\"m\"}}";

        cp_prov_error(cases[i].in, body, sizeof(body) - 1, "prov", &e);
        if (e.http_status != cases[i].out || e.type == NULL || strcmp(e.type, cases[i].type) != 0 ||
            strcmp(e.msg, "prov: m") != 0) {
            fprintf(stderr, "status %ld -> %d %s \"%s\", want %d %s\n", cases[i].in, e.http_status,
                    e.type ? e.type : "-", e.msg, cases[i].out, cases[i].type);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_error_messages(void **s)
{
    static const struct {
        long status;
        const char *body;
        int want_status;
        const char *want, *absent;
    } cases[] = {
        /* OpenAI */
        {400,
         "{\"error\":{\"message\":\"Unsupported parameter: 'max_tokens' is not supported with this model. "
         "Use "
         "'max_completion_tokens' "
         "instead.\",\"type\":\"invalid_request_error\",\"param\":\"max_tokens\",\"code\":"
         "\"unsupported_parameter\"}}",
         400, "openai: Unsupported parameter: 'max_tokens' is not supported with this model.", NULL},
        {429,
         "{\"error\":{\"message\":\"You exceeded your current quota, please check your plan and billing "
         "details.\","
         "\"type\":\"insufficient_quota\",\"param\":null,\"code\":\"insufficient_quota\"}}",
         429, "openai: quota exhausted (insufficient_quota)", NULL},
        {429, "{\"error\":{\"message\":\"Rate limit reached for gpt-4.1\",\"code\":\"rate_limit_exceeded\"}}",
         429, "openai: Rate limit reached for gpt-4.1", "quota"},
        /* context overflow -> "prompt is too long: ..." */
        {400,
         "{\"error\":{\"message\":\"This model's maximum context length is 128000 tokens. However, your "
         "messages "
         "resulted in 130567 tokens. Please reduce the length of the "
         "messages.\",\"type\":\"invalid_request_error\","
         "\"code\":\"context_length_exceeded\"}}",
         400, "prompt is too long: 130567 tokens > 128000 maximum (openai: This model", NULL},
        {400,
         "{\"object\":\"error\",\"message\":\"This model's maximum context length is 32768 tokens. However, "
         "you "
         "requested 40000 tokens (35000 in the messages, 5000 in the "
         "completion).\",\"type\":\"BadRequestError\","
         "\"code\":400}",
         400, "prompt is too long: 40000 tokens > 32768 maximum", NULL},
        {400,
         "[{\"error\":{\"code\":400,\"message\":\"The input token count (1234567) exceeds the maximum number "
         "of "
         "tokens allowed (1048576).\",\"status\":\"INVALID_ARGUMENT\"}}]",
         400, "prompt is too long: 1234567 tokens > 1048576 maximum (openai: The input token count", NULL},
        {400,
         "{\"error\":{\"code\":400,\"message\":\"the request exceeds the available context size, try "
         "increasing it\","
         "\"type\":\"exceed_context_size_error\",\"n_prompt_tokens\":5000,\"n_ctx\":4096}}",
         400, "prompt is too long: 5000 tokens > 4096 maximum", NULL},
        {400, "{\"error\":{\"message\":\"prompt too long for this model\"}}", 400,
         "prompt is too long: openai: prompt too long", NULL},
        /* OpenRouter: numeric code, metadata.raw (itself JSON) and provider_name */
        {402,
         "{\"error\":{\"code\":402,\"message\":\"Insufficient credits. Add more using https://openrouter.ai/"
         "settings/credits\"}}",
         402, "openai: Insufficient credits.", NULL},
        {502,
         "{\"error\":{\"code\":502,\"message\":\"Provider returned "
         "error\",\"metadata\":{\"raw\":\"{\\\"error\\\":{"
         "\\\"message\\\":\\\"upstream connect error\\\"}}\",\"provider_name\":\"Together\"}}}",
         529, "openai: Provider returned error (Together: upstream connect error)", NULL},
        {403,
         "{\"error\":{\"code\":403,\"message\":\"Input "
         "flagged\",\"metadata\":{\"reasons\":[\"x\"],\"flagged_input\":"
         "\"...\"}}}",
         403, "openai: Input flagged", NULL},
        /* Gemini one-element array */
        {429,
         "[{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted (e.g. check "
         "quota).\",\"status\":"
         "\"RESOURCE_EXHAUSTED\"}}]",
         429, "openai: Resource has been exhausted (e.g. check quota).", NULL},
        /* other shapes */
        {404, "{\"error\":\"model 'llama9' not found\"}", 404, "openai: model 'llama9' not found", NULL},
        {422,
         "{\"detail\":[{\"loc\":[\"body\",\"messages\"],\"msg\":\"field required\",\"type\":\"missing\"}]}",
         400, "openai: field required", NULL},
        {500, "{\"detail\":\"Internal failure\"}", 500, "openai: Internal failure", NULL},
        {500, "\"plain json string\"", 500, "openai: plain json string", NULL},
        {500, "{\"unexpected\":true}", 500, "openai: {\"unexpected\":true}", NULL},
        /* not JSON */
        {502,
         "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
         "Gateway</h1></center>"
         "\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
         529, "openai: 502 Bad Gateway", "<"},
        {503, "<html><body><h1>Service\nUnavailable</h1><p>try   later</p></body></html>", 529,
         "openai: Service Unavailable try later", "\n"},
        {500, "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
         500, "openai: upstream connect error or disconnect/reset before headers.", NULL},
        {503, "", 529, "openai: HTTP 503 with no error message", NULL},
        {504, "   \n", 504, "openai: HTTP 504 with no error message", NULL},
        {500, "{\"error\":{\"message\":\"line1\\nline2\\ttab\"}}", 500, "openai: line1 line2 tab", NULL},
        /* never a key */
        {401,
         "{\"error\":{\"message\":\"Incorrect API key provided: sk-proj-AbCdEfGh1234567890abcdefXYZ. You can "
         "find "
         "your API key at https://platform.openai.com/account/api-keys.\",\"type\":\"invalid_request_error\","
         "\"code\":\"invalid_api_key\"}}",
         401, "openai: Incorrect API key provided: [redacted]. You can find your API key at", "sk-proj"},
        {401, "Unauthorized: Authorization: Bearer abcdef0123456789 rejected", 401,
         "Bearer [redacted] rejected", "abcdef0123"},
        {400,
         "[{\"error\":{\"code\":400,\"message\":\"API key not valid. Please pass a valid API "
         "key.\",\"status\":"
         "\"INVALID_ARGUMENT\"}}]",
         400, "openai: API key not valid. Please pass a valid API key.", NULL},
        {403, "forbidden for https://x.example/v1?alt=sse&key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", 403,
         "key=[redacted]", "AIzaSy"},
        {401, "{\"error\":{\"message\":\"invalid key 0123456789abcdef0123456789abcdef0123456789abcdef\"}}",
         401, "openai: invalid key [redacted]", "0123456789abcdef0123"},
        {401, "{\"error\":{\"message\":\"bad token gsk_ABCDEFGH12345678 for org\"}}", 401,
         "bad token [redacted] for org", "gsk_"},
        {401,
         "{\"error\":{\"message\":\"rejected https://h/v1?x=1&k=sk-or-v1-0123456789abcdef and "
         "(xai-ABCDEFGHIJKL)\"}}",
         401, "rejected https://h/v1?x=1&k=[redacted] and ([redacted])", "sk-or"},
        {400,
         "{\"error\":{\"message\":\"request req_0123456789abcdef01234567 uuid "
         "7d1e9a52-3c4b-4f6a-9e8d-1a2b3c4d5e6f\"}}",
         400, "request req_0123456789abcdef01234567 uuid 7d1e9a52-3c4b-4f6a-9e8d-1a2b3c4d5e6f", "redacted"},
    };
    int bad = 0;

    (void)s;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cp_err_t e = {0};

        cp_prov_error(cases[i].status, cases[i].body, strlen(cases[i].body), "openai", &e);
        if (e.http_status != cases[i].want_status || strstr(e.msg, cases[i].want) == NULL ||
            (cases[i].absent != NULL && strstr(e.msg, cases[i].absent) != NULL)) {
            fprintf(stderr, "error case %zu (%ld): %d \"%s\"; want %d containing \"%s\"%s%s\n", i,
                    cases[i].status, e.http_status, e.msg, cases[i].want_status, cases[i].want,
                    cases[i].absent ? " without " : "", cases[i].absent ? cases[i].absent : "");
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* Long, multibyte and invalid-UTF-8 bodies give a bounded, valid UTF-8 message without newlines. */
static void test_error_bounds(void **s)
{
    char body[5000], html[3000];
    cp_err_t e = {0};
    json_t *j;
    size_t n = 0;

    (void)s;
    n += (size_t)snprintf(body, sizeof(body), "{\"error\":{\"message\":\"");
    while (n < 4000)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "\xc3\xa9t\xc3\xa9 ");
    snprintf(body + n, sizeof(body) - n, "\"}}");
    cp_prov_error(500, body, strlen(body), "prov", &e);
    assert_int_equal(e.http_status, 500);
    assert_true(strlen(e.msg) <= 6 + 400);
    assert_true(strncmp(e.msg, "prov: \xc3\xa9t\xc3\xa9", 10) == 0);
    j = json_string(e.msg); /* NULL when not valid UTF-8 */
    assert_non_null(j);
    json_decref(j);

    memset(html, 'x', sizeof(html));
    memcpy(html, "<p>\xff\xfe bad \x80", 11);
    html[sizeof(html) - 1] = '\0';
    cp_prov_error(503, html, strlen(html), "prov", &e);
    assert_int_equal(e.http_status, 529);
    assert_true(strlen(e.msg) <= 6 + 200);
    assert_non_null(strstr(e.msg, "prov: ?? bad ?"));
    j = json_string(e.msg);
    assert_non_null(j);
    json_decref(j);

    cp_prov_error(500, NULL, 0, NULL, &e); /* no body, no provider name */
    assert_int_equal(e.http_status, 500);
    assert_string_equal(e.msg, "upstream: HTTP 500 with no error message");
    cp_prov_error(500, "x", 1, "prov", NULL); /* no error record: nothing to fill, no crash */
}

/* An exhausted quota is a 429 the client must not retry (x-should-retry: false); every other error
 * leaves that to the status. The flag is cleared when the record is reused. */
/* A context-length error of any provider's shape is recognised (contextFallbacks); other 400s, and an
 * overflow wording under another status, are not. */
static void test_error_overflow(void **s)
{
    static const char oai[] =
        "{\"error\":{\"message\":\"This model's maximum context length is 128000 tokens. "
        "However, your messages resulted in 130567 tokens.\",\"code\":\"context_length_exceeded\"}}";
    static const char ant[] = "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
                              "\"prompt is too long: 210000 tokens > 200000 maximum\"}}";
    static const char gem[] =
        "[{\"error\":{\"code\":400,\"message\":\"The input token count (1234567) exceeds the "
        "maximum number of tokens allowed (1048576).\",\"status\":\"INVALID_ARGUMENT\"}}]";
    static const char other[] = "{\"error\":{\"message\":\"messages: field required\"}}";

    (void)s;
    assert_true(cp_prov_error_overflow(400, oai, sizeof(oai) - 1));
    assert_true(cp_prov_error_overflow(400, ant, sizeof(ant) - 1));
    assert_true(cp_prov_error_overflow(400, gem, sizeof(gem) - 1));
    assert_true(cp_prov_error_overflow(400, "prompt is too long", 18)); /* plain text too */
    assert_false(cp_prov_error_overflow(400, other, sizeof(other) - 1));
    assert_false(cp_prov_error_overflow(400, "", 0));
    assert_false(cp_prov_error_overflow(500, oai, sizeof(oai) - 1));
    assert_false(cp_prov_error_overflow(429, ant, sizeof(ant) - 1));
}

static void test_error_no_retry(void **s)
{
    static const char quota[] = "{\"error\":{\"message\":\"You exceeded your current quota\",\"type\":"
                                "\"insufficient_quota\",\"code\":\"insufficient_quota\"}}";
    static const char rate[] = "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\","
                               "\"code\":\"rate_limit_exceeded\"}}";
    json_t *inband = unit_jq("{'message':'quota','code':'insufficient_quota'}");
    json_t *limited = unit_jq("{'message':'slow down','code':'rate_limit_exceeded'}");
    cp_err_t e = {0};

    (void)s;
    cp_prov_error(429, quota, sizeof(quota) - 1, "openai", &e);
    assert_int_equal(e.http_status, 429);
    assert_string_equal(e.type, "rate_limit_error");
    assert_true(e.no_retry);
    cp_prov_error(429, rate, sizeof(rate) - 1, "openai", &e); /* the same record, reused */
    assert_int_equal(e.http_status, 429);
    assert_false(e.no_retry);
    cp_prov_error_value(inband, "openai", &e); /* inside a 200 or a stream */
    assert_int_equal(e.http_status, 429);
    assert_true(e.no_retry);
    cp_prov_error_value(limited, "openai", &e);
    assert_int_equal(e.http_status, 429);
    assert_false(e.no_retry);
    cp_prov_error(400, quota, sizeof(quota) - 1, "openai", &e); /* not a 429: the status decides */
    assert_int_equal(e.http_status, 400);
    assert_false(e.no_retry);
    json_decref(inband);
    json_decref(limited);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_status_map), cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_error_bounds),     cmocka_unit_test(test_error_no_retry),
        cmocka_unit_test(test_error_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
