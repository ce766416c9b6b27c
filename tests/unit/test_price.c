/* Unit tests for lib/team/cp_price.c: the built-in table, the config's patterns before it, "@provider"
 * scoping, vendor prefixes, case, the cost arithmetic, and cp_prices_check() on hostile values. */
#include "cp_unit.h"

#include "cp_common.h"
#include "cp_price.h"

typedef struct want_price {
    const char *model, *provider;
    double in, out, cr, cw;
} want_price_t;

static void expect_price(const cp_prices_t *p, const want_price_t *w)
{
    cp_price_t got;

    if (cp_prices_lookup(p, w->model, w->provider, &got) != CP_OK)
        fail_msg("%s@%s: no price", w->model, w->provider ? w->provider : "(none)");
    if (got.input != w->in || got.output != w->out || got.cache_read != w->cr || got.cache_write != w->cw)
        fail_msg("%s@%s: got %g/%g/%g/%g, want %g/%g/%g/%g", w->model, w->provider ? w->provider : "(none)",
                 got.input, got.output, got.cache_read, got.cache_write, w->in, w->out, w->cr, w->cw);
}

static void test_builtin(void **st)
{
    static const want_price_t wants[] = {
        {"claude-opus-4-5-20251101", NULL, 5, 25, 0.5, 6.25},
        {"claude-opus-4-6", NULL, 5, 25, 0.5, 6.25},
        {"claude-opus-4-7", NULL, 5, 25, 0.5, 6.25},
        {"claude-opus-4-8", NULL, 5, 25, 0.5, 6.25},
        {"anthropic/claude-opus-4.5", "openrouter", 5, 25, 0.5, 6.25},
        {"claude-opus-4-1-20250805", NULL, 15, 75, 1.5, 18.75},
        {"claude-opus-4-20250514", NULL, 15, 75, 1.5, 18.75},
        {"claude-opus-4-0", NULL, 15, 75, 1.5, 18.75},
        {"anthropic/claude-opus-4.1", NULL, 15, 75, 1.5, 18.75},
        {"claude-sonnet-4-5-20250929", NULL, 3, 15, 0.3, 3.75},
        {"anthropic/claude-sonnet-4", "openrouter", 3, 15, 0.3, 3.75},
        {"claude-sonnet-4@20250514", "vertex", 3, 15, 0.3, 3.75},
        {"claude-3-7-sonnet-latest", NULL, 3, 15, 0.3, 3.75},
        {"claude-haiku-4-5", NULL, 1, 5, 0.1, 1.25},
        {"claude-3-5-haiku-20241022", NULL, 0.8, 4, 0.08, 1},
        {"anthropic/claude-3.5-haiku", NULL, 0.8, 4, 0.08, 1},
        {"gpt-4o-mini", NULL, 0.15, 0.6, 0.075, 0.15},
        {"gpt-4o", NULL, 2.5, 10, 1.25, 2.5},
        {"gpt-4o-2024-08-06", NULL, 2.5, 10, 1.25, 2.5},
        {"openai/gpt-4o", "openrouter", 2.5, 10, 1.25, 2.5},
        {"OpenAI/GPT-4o-Mini", NULL, 0.15, 0.6, 0.075, 0.15},
        {"gpt-4.1", NULL, 2, 8, 0.5, 2},
        {"gpt-4.1-mini", NULL, 0.4, 1.6, 0.1, 0.4},
        {"gpt-4.1-nano-2025-04-14", NULL, 0.1, 0.4, 0.025, 0.1},
        {"gpt-5", NULL, 1.25, 10, 0.125, 1.25},
        {"gpt-5-2025-08-07", NULL, 1.25, 10, 0.125, 1.25},
        {"gpt-5-mini", NULL, 0.25, 2, 0.025, 0.25},
        {"gpt-5-nano", NULL, 0.05, 0.4, 0.005, 0.05},
        {"o3", NULL, 2, 8, 0.5, 2},
        {"o4-mini", NULL, 1.1, 4.4, 0.275, 1.1},
        {"gemini-2.5-pro", NULL, 1.25, 10, 0.125, 1.25},
        {"gemini-2.5-flash", NULL, 0.3, 2.5, 0.03, 0.3},
        {"gemini-2.5-flash-lite", NULL, 0.1, 0.4, 0.01, 0.1},
        {"google/gemini-2.5-flash", "openrouter", 0.3, 2.5, 0.03, 0.3},
        {"deepseek-chat", NULL, 0.28, 0.42, 0.028, 0.28},
        {"deepseek-reasoner", "deepseek", 0.28, 0.42, 0.028, 0.28},
    };
    cp_prices_t *p = cp_prices_new(NULL);
    cp_price_t got;

    (void)st;
    for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
        expect_price(p, &wants[i]);
        expect_price(NULL, &wants[i]); /* no config at all */
    }
    memset(&got, 0x7f, sizeof(got));
    assert_int_equal(cp_prices_lookup(p, "llama-3.3-70b", "groq", &got), CP_ERR);
    assert_true(got.input == 0 && got.output == 0 && got.cache_read == 0 && got.cache_write == 0);
    assert_int_equal(cp_prices_lookup(p, "", NULL, &got), CP_ERR);
    assert_int_equal(cp_prices_lookup(p, NULL, NULL, &got), CP_ERR);
    assert_int_equal(cp_prices_lookup(p, "my-gpt-4o", NULL, &got), CP_ERR); /* anchored */
    assert_int_equal(cp_prices_lookup(p, "openai/", NULL, &got), CP_ERR);
    cp_prices_free(p);
    cp_prices_free(NULL);
}

static void test_config_first(void **st)
{
    json_t *v = unit_jq("{'gpt-4o*': {'input': 1, 'output': 2},"
                        " 'gpt-4o-mini': {'input': 7, 'output': 7},"
                        " 'gpt-5*@azure': {'input': 9, 'output': 90, 'cacheRead': 0, 'cacheWrite': 3},"
                        " 'claude-sonnet-4@20250514@vertex': {'input': 4, 'output': 40},"
                        " 'MyModel-*': {'input': 0.5, 'output': 1.5, 'cacheRead': 0.25}}");
    char msg[256];
    cp_prices_t *p;

    (void)st;
    assert_int_equal(cp_prices_check(v, msg, sizeof(msg)), CP_OK);
    p = cp_prices_new(v);
    json_decref(v); /* the prices keep what they need */
    {
        static const want_price_t wants[] = {
            {"gpt-4o", NULL, 1, 2, 0.1, 1.25},                /* default cache prices: x 0.1, x 1.25 */
            {"gpt-4o-mini", NULL, 1, 2, 0.1, 1.25},           /* file order: the first pattern wins */
            {"openai/gpt-4o", "openrouter", 1, 2, 0.1, 1.25}, /* over the built-in, with a vendor */
            {"gpt-5", "azure", 9, 90, 0, 3},
            {"gpt-5", "Azure", 9, 90, 0, 3},
            {"gpt-5", "openai", 1.25, 10, 0.125, 1.25}, /* another provider: built-in */
            {"gpt-5", NULL, 1.25, 10, 0.125, 1.25},
            {"claude-sonnet-4@20250514", "vertex", 4, 40, 0.4, 5},
            {"claude-sonnet-4@20250514", "anthropic", 3, 15, 0.3, 3.75},
            {"mymodel-x", "local", 0.5, 1.5, 0.25, 0.625},
        };
        for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++)
            expect_price(p, &wants[i]);
    }
    cp_prices_free(p);
}

static void test_cost(void **st)
{
    cp_price_t pr = {3, 15, 0.3, 3.75};
    cp_tokens_t t = {1000000, 2000000, 500000, 100000};
    cp_tokens_t zero = {0, 0, 0, 0}, neg = {-5, -1000000, 0, 1000000};
    cp_tokens_t huge = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
    double c;

    (void)st;
    c = cp_price_cost(&pr, &t); /* 3 + 30 + 0.15 + 0.375 */
    assert_true(c > 33.525 - 1e-9 && c < 33.525 + 1e-9);
    assert_true(cp_price_cost(&pr, &zero) == 0);
    c = cp_price_cost(&pr, &neg); /* negative counts are 0 */
    assert_true(c > 3.75 - 1e-9 && c < 3.75 + 1e-9);
    c = cp_price_cost(&pr, &huge);
    assert_true(c > 0 && c < 1e30);
    t = (cp_tokens_t){123, 0, 0, 0};
    c = cp_price_cost(&pr, &t);
    assert_true(c > 0.000369 - 1e-12 && c < 0.000369 + 1e-12);
}

/* cp_prices_check() on <text>: the return code and, on CP_ERR, the message (when <want> is not NULL)
 * or its start (when <want> ends with '*'). */
static void check_prices(const char *text, int rc, const char *want)
{
    json_t *v = unit_jq(text);
    char msg[256] = "";

    if (cp_prices_check(v, msg, sizeof(msg)) != rc)
        fail_msg("%s: want %d (msg: %s)", text, rc, msg);
    if (want != NULL && want[strlen(want) - 1] == '*') {
        if (strncmp(msg, want, strlen(want) - 1) != 0)
            fail_msg("%s:\n  got:  %s\n  want: %s", text, msg, want);
    } else if (want != NULL && strcmp(msg, want) != 0) {
        fail_msg("%s:\n  got:  %s\n  want: %s", text, msg, want);
    }
    json_decref(v);
}

static void test_check(void **st)
{
    char msg[256];

    (void)st;
    assert_int_equal(cp_prices_check(NULL, msg, sizeof(msg)), CP_OK);
    check_prices("{}", CP_OK, NULL);
    check_prices("{'a': {'input': 0, 'output': 100000, 'cacheRead': 0.5, 'cacheWrite': 100000}}", CP_OK,
                 NULL);
    check_prices("[]", CP_ERR, ": expected an object of model patterns to prices, got an array");
    check_prices("'gpt'", CP_ERR, ": expected an object of model patterns to prices, got \"gpt\"");
    check_prices("null", CP_ERR, "*");
    check_prices("{'gpt-5*': 3}", CP_ERR,
                 ".gpt-5*: expected an object such as {\"input\": 3, \"output\": 15}, got 3");
    check_prices("{'gpt-5*': [1, 2]}", CP_ERR, ".gpt-5*: expected an object*");
    check_prices("{'gpt-5*': {'input': 1, 'output': 'x'}}", CP_ERR,
                 ".gpt-5*.output: expected a number from 0 to 100000, got \"x\"");
    check_prices("{'gpt-5*': {'input': -1, 'output': 1}}", CP_ERR,
                 ".gpt-5*.input: expected a number from 0 to 100000, got -1");
    check_prices("{'gpt-5*': {'input': 1, 'output': 100000.5}}", CP_ERR,
                 ".gpt-5*.output: expected a number*");
    check_prices("{'gpt-5*': {'input': 1, 'output': 1e300}}", CP_ERR, ".gpt-5*.output: expected a number*");
    check_prices("{'gpt-5*': {'input': 1, 'output': 9223372036854775807}}", CP_ERR, ".gpt-5*.output: *");
    check_prices("{'gpt-5*': {'input': true, 'output': 1}}", CP_ERR,
                 ".gpt-5*.input: expected a number from 0 to 100000, got true");
    check_prices("{'gpt-5*': {'input': null, 'output': 1}}", CP_ERR, ".gpt-5*.input: *");
    check_prices("{'gpt-5*': {'input': 1, 'output': 1, 'cacheRead': {}}}", CP_ERR, ".gpt-5*.cacheRead: *");
    check_prices("{'gpt-5*': {'input': 1, 'ouput': 1}}", CP_ERR,
                 ".gpt-5*.ouput: unknown field (expected input, output, cacheRead, cacheWrite)");
    check_prices("{'gpt-5*': {'input': 1, 'output': 1, 'cache_read': 1}}", CP_ERR,
                 ".gpt-5*.cache_read: unknown field*");
    check_prices("{'gpt-5*': {'input': 1}}", CP_ERR,
                 ".gpt-5*.output: required (USD per million output tokens)");
    check_prices("{'gpt-5*': {'output': 1}}", CP_ERR, ".gpt-5*.input: required*");
    check_prices("{'gpt-5*': {}}", CP_ERR, ".gpt-5*.input: required*");
    check_prices("{'': {'input': 1, 'output': 1}}", CP_ERR, ".: expected a non-empty pattern");
    check_prices("{'@azure': {'input': 1, 'output': 1}}", CP_ERR, ".@azure: expected \"model pattern\"*");
    check_prices("{'gpt-5@': {'input': 1, 'output': 1}}", CP_ERR, ".gpt-5@: expected \"model pattern\"*");
    check_prices("{'gpt-5*@azure': {'input': 1, 'output': 1}}", CP_OK, NULL);
}

/* Pattern sizes and counts at and past their caps; a message never overflows a small buffer. */
static void test_check_sizes(void **st)
{
    json_t *v = json_object(), *price = unit_jq("{'input': 1, 'output': 2}");
    char pat[400], msg[256], tiny[8];
    cp_prices_t *p;
    cp_price_t got;

    (void)st;
    memset(pat, 'x', 255);
    pat[255] = '\0';
    json_object_set(v, pat, price);
    assert_int_equal(cp_prices_check(v, msg, sizeof(msg)), CP_OK);
    memset(pat, 'y', 300);
    pat[300] = '\0';
    json_object_set(v, pat, price);
    assert_int_equal(cp_prices_check(v, msg, sizeof(msg)), CP_ERR);
    assert_non_null(strstr(msg, "longer than 255 bytes"));
    assert_true(strncmp(msg, ".yyyy", 5) == 0);
    assert_int_equal(cp_prices_check(v, tiny, sizeof(tiny)), CP_ERR);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
    json_decref(v);
    v = json_object();
    for (int i = 0; i < 4096; i++) {
        snprintf(pat, sizeof(pat), "model-%d", i);
        json_object_set(v, pat, price);
    }
    assert_int_equal(cp_prices_check(v, msg, sizeof(msg)), CP_OK);
    p = cp_prices_new(v);
    assert_int_equal(cp_prices_lookup(p, "model-4095", NULL, &got), CP_OK);
    assert_true(got.input == 1 && got.output == 2);
    assert_int_equal(cp_prices_lookup(p, "gpt-4o", NULL, &got), CP_OK); /* the built-in still follow */
    assert_true(got.input == 2.5);
    cp_prices_free(p);
    for (int i = 4096; i < 5000; i++) {
        snprintf(pat, sizeof(pat), "model-%d", i);
        json_object_set(v, pat, price);
    }
    assert_int_equal(cp_prices_check(v, msg, sizeof(msg)), CP_ERR);
    assert_string_equal(msg, ": at most 4096 patterns, got 5000");
    json_decref(v);
    json_decref(price);
}

/* cp_prices_new() on a value that was not checked skips what it cannot use instead of crashing. */
static void test_new_unchecked(void **st)
{
    json_t *v = unit_jq("{'a*': 3, 'b*': {'input': 'x', 'output': -4}, '': {'input': 1, 'output': 1}}");
    json_t *arr = unit_jq("[1, 2]");
    cp_prices_t *p = cp_prices_new(v);
    cp_price_t got;

    (void)st;
    assert_int_equal(cp_prices_lookup(p, "a1", NULL, &got), CP_ERR);
    assert_int_equal(cp_prices_lookup(p, "b1", NULL, &got), CP_OK);
    assert_true(got.input == 0 && got.output == 0);
    cp_prices_free(p);
    p = cp_prices_new(arr);
    assert_int_equal(cp_prices_lookup(p, "gpt-5", NULL, &got), CP_OK);
    cp_prices_free(p);
    json_decref(v);
    json_decref(arr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin),     cmocka_unit_test(test_config_first),
        cmocka_unit_test(test_cost),        cmocka_unit_test(test_check),
        cmocka_unit_test(test_check_sizes), cmocka_unit_test(test_new_unchecked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
