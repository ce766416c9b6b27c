/* lib/prov/openai/cp_oai_names.c: see cp_oai_names.h. A shortened name is the sanitized first 55
 * bytes + "_" + 8 hex digits of SHA-256(name[#salt]): deterministic (the same request always gives the
 * same body, so prompt caches stay warm), with the salt growing only on a collision. */
#include "cp_oai_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_json.h"

#define NAMES_KEEP 55 /* kept prefix of a shortened name; + "_" + 8 hex digits = 64 */

struct cp_oai_names {
    json_t *to_client; /* owned: sent name -> client's name */
    json_t *to_sent;   /* owned: client's name -> sent name (renamed tools only) */
    json_t *taken;     /* owned: set of every name the upstream sees (keys; values true) */
};

int cp_oai_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int oai_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > CP_OAI_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!cp_oai_name_char(s[i]))
            return 0;
    return 1;
}

cp_oai_names_t *cp_oai_names_new(void)
{
    cp_oai_names_t *m = cp_xcalloc(1, sizeof(*m));

    m->to_client = json_object();
    m->to_sent = json_object();
    m->taken = json_object();
    return m;
}

void cp_oai_names_free(cp_oai_names_t *m)
{
    if (m == NULL)
        return;
    json_decref(m->to_client);
    json_decref(m->to_sent);
    json_decref(m->taken);
    free(m);
}

const char *cp_oai_names_original(const cp_oai_names_t *m, const char *sent)
{
    const char *orig;

    if (m == NULL || sent == NULL)
        return sent;
    orig = json_string_value(json_object_get(m->to_client, sent));
    return orig != NULL ? orig : sent;
}

/* Marks the client name <v> as taken when it is sent unchanged, so no shortened name can equal it. */
static void oai_names_reserve_one(cp_oai_names_t *m, const json_t *v)
{
    const char *s = json_string_value(v);

    if (s != NULL && oai_name_ok(s))
        json_object_set_new(m->taken, s, json_true());
}

/* Reserves every tool name of <anth> that needs no renaming (tools, tool_choice, history), before
 * any shortened name is chosen: the result then does not depend on the order names are met. */
void cp_oai_names_reserve(cp_oai_names_t *m, const json_t *anth)
{
    size_t i, j;
    json_t *t, *msg, *b; /* borrowed from anth */

    json_array_foreach(json_object_get(anth, "tools"), i, t)
    {
        oai_names_reserve_one(m, json_object_get(t, "name"));
    }
    oai_names_reserve_one(m, json_object_get(json_object_get(anth, "tool_choice"), "name"));
    json_array_foreach(json_object_get(anth, "messages"), i, msg)
    {
        if (!cp_json_streq(json_object_get(msg, "role"), "assistant"))
            continue;
        json_array_foreach(json_object_get(msg, "content"), j, b)
        {
            if (cp_json_streq(json_object_get(b, "type"), "tool_use"))
                oai_names_reserve_one(m, json_object_get(b, "name"));
        }
    }
}

/* Returns the name to send upstream for the client's tool name <name>: itself when valid, else
 * its sanitized first 55 bytes + "_" + 8 hex digits of SHA-256(name[#salt]), the salt growing only
 * on a collision. Borrowed from <name> or <m>. */
const char *cp_oai_name_sent(cp_oai_names_t *m, const char *name)
{
    char cand[CP_OAI_NAME_MAX + 1], hex[65];
    const char *prev;
    size_t k = 0;

    if (oai_name_ok(name))
        return name;
    prev = json_string_value(json_object_get(m->to_sent, name));
    if (prev != NULL)
        return prev;
    for (const char *s = name; *s != '\0' && k < NAMES_KEEP; s++)
        cand[k++] = cp_oai_name_char(*s) ? *s : '_';
    for (unsigned salt = 0;; salt++) {
        if (salt == 0) {
            cp_sha256_hex(name, strlen(name), hex);
        } else {
            char *salted = cp_xasprintf("%s#%u", name, salt);
            cp_sha256_hex(salted, strlen(salted), hex);
            free(salted);
        }
        snprintf(cand + k, sizeof(cand) - k, "_%.8s", hex);
        if (json_object_get(m->taken, cand) == NULL)
            break;
    }
    json_object_set_new(m->taken, cand, json_true());
    json_object_set_new(m->to_client, cand, json_string(name));
    json_object_set_new(m->to_sent, name, json_string(cand));
    return json_string_value(json_object_get(m->to_sent, name));
}
