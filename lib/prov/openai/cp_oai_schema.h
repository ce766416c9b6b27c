/* lib/prov/openai/cp_oai_schema.h: JSON Schema -> the subset Gemini's function declarations accept.
 *
 * Gemini's OpenAI-compatible endpoint rejects schemas that use keywords outside its OpenAPI 3.0
 * subset ($ref, $defs, additionalProperties, const, exclusiveMinimum, type arrays, ...). The cleaner
 * keeps an allow-list of keywords, turns type arrays with "null" into nullable, inlines local $ref,
 * folds anyOf/oneOf/allOf, and drops what the subset cannot say (docs/providers.md, "Gemini's
 * schema subset"). Pure. */
#ifndef CP_OAI_SCHEMA_H
#define CP_OAI_SCHEMA_H

#include <jansson.h>

/* Returns new: <schema> (borrowed) reduced to the subset. Never NULL. */
json_t *cp_oai_gemini_schema(const json_t *schema);

#endif
