/* lib/prov/openai/cp_oai_schema.c: see cp_oai_schema.h.
 *
 * gem_clean() builds the cleaned copy of one schema node by handing it to one small function per
 * keyword group, in an order that matters: the type is settled first (enum may still make it
 * "string", format depends on it, integer exclusive bounds need it), properties before required,
 * and the branches of a type array before those of anyOf/oneOf, which they join. Only local $ref is
 * followed; GEM_REF_DEPTH and GEM_NODES_MAX keep recursive or exploding schemas finite. */
#include "cp_oai_schema.h"

#include <stdlib.h>
#include <string.h>

#include "cp_json.h"

#define GEM_REF_DEPTH 8                  /* nested $ref expansions */
#define GEM_NODES_MAX 10000              /* schema nodes one cleaning may produce ($ref can multiply them) */
#define GEM_SAFE_INT  9007199254740991.0 /* 2^53-1: Claude Code's "no bound" bound */

typedef struct gem_ctx {
    const json_t *root; /* borrowed: the whole schema, for local $ref */
    int budget;         /* nodes still allowed */
} gem_ctx_t;

/* One node being cleaned. */
typedef struct gem_node {
    gem_ctx_t *c;
    const json_t *s;  /* borrowed: the input node */
    int depth;        /* $ref expansions above this node */
    json_t *out;      /* owned: the cleaned node */
    json_t *props;    /* owned: the cleaned properties, or NULL */
    json_t *branches; /* owned: anyOf branches gathered so far (type arrays, anyOf, oneOf) */
    const char *type; /* the one type kept, or NULL; borrowed from <s> or static */
} gem_node_t;

static json_t *gem_clean(gem_ctx_t *c, const json_t *s, int depth);

static int gem_is_string_type(const gem_node_t *n)
{
    return n->type == NULL || strcmp(n->type, "string") == 0;
}

static void gem_nullable(gem_node_t *n)
{
    json_object_set_new(n->out, "nullable", json_true());
}

/* Resolves the local JSON pointer <ref> ("#", "#/$defs/A", "#/definitions/A/properties/b"). */
static const json_t *gem_pointer(const json_t *root, const char *ref)
{
    const json_t *cur = root;
    char tok[256];

    if (ref[0] != '#')
        return NULL;
    ref++;
    while (*ref == '/') {
        size_t n = 0;

        ref++;
        while (*ref != '\0' && *ref != '/' && n + 1 < sizeof(tok)) {
            if (ref[0] == '~' && (ref[1] == '0' || ref[1] == '1')) {
                tok[n++] = ref[1] == '0' ? '~' : '/';
                ref += 2;
            } else {
                tok[n++] = *ref++;
            }
        }
        tok[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long idx = strtoul(tok, &end, 10);
            cur = *end == '\0' && n > 0 ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
        if (cur == NULL)
            return NULL;
    }
    return *ref == '\0' ? cur : NULL;
}

/* $ref: the target cleaned in place of the node (its other keywords ignored but the description).
 * Returns new. */
static json_t *gem_ref(gem_ctx_t *c, const json_t *s, const json_t *ref, int depth)
{
    const json_t *t = gem_pointer(c->root, json_string_value(ref)); /* borrowed from c->root */
    const json_t *d = json_object_get(s, "description");            /* borrowed from s */
    json_t *out;                                                    /* owned; returned */

    if (t != NULL && depth >= GEM_REF_DEPTH)
        out = json_pack("{s:s}", "type", "object"); /* recursive schema: stop unrolling */
    else if (t != NULL && t != s)
        out = gem_clean(c, t, depth + 1);
    else
        out = json_object(); /* unresolvable (or itself): "anything" */
    if (json_is_string(d))   /* 2020-12 allows siblings; this one is more specific */
        json_object_set_new(out, "description", json_deep_copy(d));
    return out;
}

/* type: one string; ["X","null"] -> X + nullable; several -> anyOf of single types. */
static void gem_type(gem_node_t *n)
{
    const json_t *v = json_object_get(n->s, "type"); /* borrowed from s */
    size_t i, count = 0;
    json_t *t; /* borrowed from v */

    if (cp_json_streq(v, "null"))
        gem_nullable(n);
    else if (json_is_string(v))
        n->type = json_string_value(v);
    json_array_foreach(v, i, t)
    {
        if (cp_json_streq(t, "null"))
            gem_nullable(n);
        else if (json_is_string(t) && count++ == 0)
            n->type = json_string_value(t);
    }
    if (count > 1) {
        json_array_foreach(v, i, t)
        {
            if (json_is_string(t) && !cp_json_streq(t, "null"))
                json_array_append_new(n->branches, json_pack("{s:O}", "type", t));
        }
        n->type = NULL;
    }
    if (n->type != NULL)
        json_object_set_new(n->out, "type", json_string(n->type));
}

static void gem_nullable_description(gem_node_t *n)
{
    const json_t *v = json_object_get(n->s, "description"); /* borrowed from s */

    if (json_is_true(json_object_get(n->s, "nullable")))
        gem_nullable(n);
    if (json_is_string(v))
        json_object_set_new(n->out, "description", json_deep_copy(v));
}

/* enum: Gemini takes strings only (null -> nullable); const "x" is enum ["x"]. An enum makes an
 * untyped node a string. */
static void gem_enum(gem_node_t *n)
{
    const json_t *v = json_object_get(n->s, "enum");  /* borrowed from s */
    const json_t *k = json_object_get(n->s, "const"); /* borrowed from s */

    if (!json_is_array(v) && k != NULL) {
        if (json_is_null(k))
            gem_nullable(n);
        else if (json_is_string(k) && gem_is_string_type(n))
            json_object_set_new(n->out, "enum", json_pack("[O]", k));
    } else if (json_is_array(v) && gem_is_string_type(n)) {
        json_t *en = json_array(); /* owned */
        size_t i;
        json_t *x; /* borrowed from v */
        int ok = 1;

        json_array_foreach(v, i, x)
        {
            if (json_is_string(x))
                json_array_append_new(en, json_deep_copy(x));
            else if (json_is_null(x))
                gem_nullable(n);
            else
                ok = 0;
        }
        if (ok && json_array_size(en) > 0)
            json_object_set(n->out, "enum", en);
        json_decref(en);
    }
    if (json_object_get(n->out, "enum") != NULL && n->type == NULL) {
        n->type = "string";
        json_object_set_new(n->out, "type", json_string(n->type));
    }
}

/* format: only "enum" and "date-time" on strings. */
static void gem_format(gem_node_t *n)
{
    const json_t *v = json_object_get(n->s, "format"); /* borrowed from s */

    if (n->type != NULL && strcmp(n->type, "string") == 0 &&
        (cp_json_streq(v, "enum") || cp_json_streq(v, "date-time")))
        json_object_set_new(n->out, "format", json_deep_copy(v));
}

/* properties (each cleaned; none -> left out) and required (only names of kept properties). */
static void gem_properties(gem_node_t *n)
{
    const json_t *v = json_object_get(n->s, "properties"); /* borrowed from s */
    const json_t *req = json_object_get(n->s, "required"); /* borrowed from s */
    json_t *kept;                                          /* owned */
    const char *k;
    json_t *ps, *r; /* borrowed from v, req */
    size_t i;

    if (!json_is_object(v))
        return;
    n->props = json_object();
    json_object_foreach((json_t *)v, k, ps) /* jansson's iterator API is not const-correct */
    {
        json_object_set_new(n->props, k, gem_clean(n->c, ps, n->depth));
    }
    if (json_object_size(n->props) == 0) /* Gemini: "properties: should be non-empty for OBJECT type" */
        return;
    json_object_set(n->out, "properties", n->props);
    if (!json_is_array(req))
        return;
    kept = json_array();
    json_array_foreach(req, i, r)
    {
        if (json_is_string(r) && json_object_get(n->props, json_string_value(r)) != NULL)
            json_array_append_new(kept, json_deep_copy(r));
    }
    if (json_array_size(kept) > 0)
        json_object_set(n->out, "required", kept);
    json_decref(kept);
}

static void gem_copy_uint(json_t *out, const json_t *s, const char *k)
{
    json_t *v = json_object_get(s, k); /* borrowed from s */

    if (json_is_integer(v) && json_integer_value(v) >= 0)
        json_object_set_new(out, k, json_integer(json_integer_value(v)));
}

/* items: a schema (draft-04 tuple form: the first position describes the rest best). */
static void gem_items(gem_node_t *n)
{
    const json_t *v = json_object_get(n->s, "items"); /* borrowed from s */

    if (json_is_array(v))
        v = json_array_get(v, 0);
    if (json_is_object(v))
        json_object_set_new(n->out, "items", gem_clean(n->c, v, n->depth));
}

/* Returns 1 when the number <v> is a real bound (Claude Code writes +-(2^53-1) to mean "none"). */
static int gem_bound_ok(const json_t *v)
{
    double d = json_number_value(v);

    return json_is_number(v) && d < GEM_SAFE_INT && d > -GEM_SAFE_INT;
}

/* Sets out.<k> ("minimum" or "maximum") from <s>, turning an integer exclusive bound <xk> of an
 * integer schema into the equivalent inclusive one (<dir> +1 or -1); other exclusive bounds are
 * dropped. */
static void gem_bound(json_t *out, const json_t *s, const char *k, const char *xk, int dir)
{
    json_t *v = json_object_get(s, k);   /* borrowed from s */
    json_t *xv = json_object_get(s, xk); /* borrowed from s */

    if (gem_bound_ok(v))
        json_object_set_new(out, k, json_deep_copy(v));
    else if (v == NULL && json_is_integer(xv) && cp_json_streq(json_object_get(out, "type"), "integer") &&
             gem_bound_ok(xv))
        json_object_set_new(out, k, json_integer(json_integer_value(xv) + dir));
}

/* minimum / maximum, and the item counts (non-negative integers only). */
static void gem_numeric_bounds(gem_node_t *n)
{
    gem_bound(n->out, n->s, "minimum", "exclusiveMinimum", 1);
    gem_bound(n->out, n->s, "maximum", "exclusiveMaximum", -1);
    gem_copy_uint(n->out, n->s, "minItems");
    gem_copy_uint(n->out, n->s, "maxItems");
}

static void gem_lengths_pattern(gem_node_t *n)
{
    const json_t *v = json_object_get(n->s, "pattern"); /* borrowed from s */

    gem_copy_uint(n->out, n->s, "minLength");
    gem_copy_uint(n->out, n->s, "maxLength");
    if (json_is_string(v))
        json_object_set_new(n->out, "pattern", json_deep_copy(v));
}

/* Adds the cleaned branches of the schema array <arr> to n->branches; a {"type":"null"} branch only
 * marks the node nullable. */
static void gem_branches(gem_node_t *n, const json_t *arr)
{
    size_t i;
    json_t *b; /* borrowed from arr */

    json_array_foreach(arr, i, b)
    {
        json_t *cb = gem_clean(n->c, b, n->depth); /* owned */

        if (json_object_get(cb, "type") == NULL && json_is_true(json_object_get(cb, "nullable")) &&
            json_object_size(cb) == 1) {
            gem_nullable(n);
            json_decref(cb);
        } else {
            json_array_append_new(n->branches, cb);
        }
    }
}

/* Merges the cleaned schema <sub> into <out>: keys <out> lacks are added, properties are united,
 * required lists are concatenated. */
static void gem_merge(json_t *out, json_t *sub)
{
    json_t *op = json_object_get(out, "properties"); /* borrowed from out */
    json_t *sp = json_object_get(sub, "properties"); /* borrowed from sub */
    json_t *oreq = json_object_get(out, "required"); /* borrowed from out */
    json_t *sreq = json_object_get(sub, "required"); /* borrowed from sub */

    if (json_is_object(op) && json_is_object(sp))
        json_object_update_missing(op, sp);
    if (json_is_array(oreq) && json_is_array(sreq))
        json_array_extend(oreq, sreq);
    json_object_update_missing(out, sub);
}

/* anyOf / oneOf (Gemini knows anyOf only), with the type array's branches: null branches ->
 * nullable; one branch left -> merged into the node; several -> anyOf. */
static void gem_any_of(gem_node_t *n)
{
    gem_branches(n, json_object_get(n->s, "anyOf"));
    gem_branches(n, json_object_get(n->s, "oneOf"));
    if (json_array_size(n->branches) == 1)
        gem_merge(n->out, json_array_get(n->branches, 0));
    else if (json_array_size(n->branches) > 1)
        json_object_set(n->out, "anyOf", n->branches);
}

/* allOf: every part must hold; merging them is the closest the subset can say. */
static void gem_all_of(gem_node_t *n)
{
    size_t i;
    json_t *part; /* borrowed from s */

    json_array_foreach(json_object_get(n->s, "allOf"), i, part)
    {
        json_t *cp = gem_clean(n->c, part, n->depth); /* owned */
        gem_merge(n->out, cp);
        json_decref(cp);
    }
}

/* Returns new: the cleaned copy of the node <s>. Anything that is not an object (true, false, junk)
 * means "anything", and so does a node past the budget (a runaway $ref expansion). */
static json_t *gem_clean(gem_ctx_t *c, const json_t *s, int depth)
{
    gem_node_t n = {c, s, depth, NULL, NULL, NULL, NULL};
    const json_t *ref = json_object_get(s, "$ref"); /* borrowed from s */

    if (!json_is_object(s) || --c->budget < 0)
        return json_object();
    if (json_is_string(ref))
        return gem_ref(c, s, ref, depth);
    n.out = json_object();
    n.branches = json_array();
    gem_type(&n);
    gem_nullable_description(&n);
    gem_enum(&n);
    gem_format(&n);
    gem_properties(&n);
    gem_items(&n);
    gem_numeric_bounds(&n);
    gem_lengths_pattern(&n);
    gem_any_of(&n);
    gem_all_of(&n);
    json_decref(n.props);
    json_decref(n.branches);
    return n.out;
}

json_t *cp_oai_gemini_schema(const json_t *schema)
{
    gem_ctx_t c = {schema, GEM_NODES_MAX};

    return gem_clean(&c, schema, 0);
}
