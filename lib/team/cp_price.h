/* lib/team/cp_price.h: what a request costs.
 *
 * Prices are USD per million tokens of each kind, per upstream model. `prices` in the config maps
 * glob patterns (fnmatch, case-insensitive) to prices; a pattern with "@provider" matches only that
 * provider's models. The config's patterns are tried first, in file order, then the built-in table
 * of common models (docs/team.md lists it). No I/O. */
#ifndef CP_PRICE_H
#define CP_PRICE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* USD per million tokens. */
typedef struct cp_price {
    double input;       /* uncached input */
    double output;      /* output (reasoning included) */
    double cache_read;  /* input read from the prompt cache */
    double cache_write; /* input written to the prompt cache */
} cp_price_t;

/* Token counts of one request, in the Anthropic sense: <input> excludes cached input. */
typedef struct cp_tokens {
    int64_t input, output, cache_read, cache_write;
} cp_tokens_t;

typedef struct cp_prices cp_prices_t;

/* Checks the value of `prices`: an object of non-empty patterns (under 256 bytes, at most 4096 of
 * them) to objects with the numeric fields "input", "output" (both required), "cacheRead",
 * "cacheWrite" (default: input's price x 0.1 and x 1.25), each from 0 to 100000, and nothing else.
 * Returns CP_OK, or CP_ERR with <msg> holding what is wrong, starting with the sub-path
 * (e.g. ".gpt-5*.output: expected a number from 0 to 100000, got \"x\""). */
int cp_prices_check(const json_t *v, char *msg, size_t n);

/* Returns new: the config's prices (<v> checked by cp_prices_check, or NULL) before the built-in ones. */
cp_prices_t *cp_prices_new(const json_t *v);
void cp_prices_free(cp_prices_t *p); /* accepts NULL */

/* The price of <model> at <provider>. Returns CP_OK, or CP_ERR when no pattern matches (unknown). */
int cp_prices_lookup(const cp_prices_t *p, const char *model, const char *provider, cp_price_t *out);

/* USD for <t> at <price>. */
double cp_price_cost(const cp_price_t *price, const cp_tokens_t *t);

#endif
