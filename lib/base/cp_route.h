/* lib/base/cp_route.h: model name -> {provider, upstream model} (docs/configuration.md, "`models`").
 * Pure. */
#ifndef CP_ROUTE_H
#define CP_ROUTE_H

#include "cp_common.h"
#include "cp_config.h"

#define CP_ROUTE_MODEL_MAX 256

/* One more candidate for a request: models.fallbacks of the route's target. */
typedef struct cp_route_next {
    const cp_provider_t *provider; /* borrowed, as cp_route_t's */
    char model[CP_ROUTE_MODEL_MAX];
} cp_route_next_t;

typedef struct cp_route {
    const cp_provider_t *provider;  /* borrowed from the config snapshot the request holds */
    char model[CP_ROUTE_MODEL_MAX]; /* the upstream model name */
    size_t nnext;                   /* candidates after this one, in order (docs/resilience.md) */
    cp_route_next_t next[CP_CONFIG_FALLBACKS_MAX];
    size_t nctx; /* candidates for a context-length error (models.contextFallbacks of the target), in order */
    cp_route_next_t ctx[CP_CONFIG_FALLBACKS_MAX];
} cp_route_t;

/* Resolves the client's <model>. A rule whose value is an array of names (models.bigModel, smallModel,
 * a models.map value) gives its first as the target and the others, in order, as <next>; then <next> gets
 * models.fallbacks of the resulting "model@provider", and <ctx> models.contextFallbacks of it; duplicates
 * of the target or of each other are left out of each list, a list is cut at CP_CONFIG_FALLBACKS_MAX:
 *   "name@provider"          -> that provider, upstream model "name"
 *   contains "haiku"         -> models.smallModel (itself "name" or "name@provider")
 *   contains "sonnet"/"opus" -> models.bigModel
 *   anything else            -> models.preferredProvider, under its own name
 *   models.map patterns, in file order, are tried after "name@provider" and before the rules above:
 *   the first glob (fnmatch, case-insensitive) that matches the name gives its target
 * A trailing "[...]" suffix such as "[1m]" is stripped first; matching is case-insensitive.
 * Returns CP_OK, or CP_ERR with a 400 invalid_request_error in <e> naming the unknown provider and
 * listing the configured ones. */
int cp_route_resolve(const cp_config_t *c, const char *model, cp_route_t *out, cp_err_t *e);

/* Resolves a configured target ("model" -> models.preferredProvider, or "model@provider") without
 * applying any rule to the name. Returns CP_OK, or CP_ERR as cp_route_resolve. */
int cp_route_target(const cp_config_t *c, const char *target, cp_route_t *out, cp_err_t *e);

#endif
