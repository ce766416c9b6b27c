/* lib/prov/cp_caps.c: see cp_caps.h. A small array searched linearly: there are few provider/model
 * pairs, and a lookup happens once per request. */
#include "cp_caps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_common.h"

#define CAPS_MAX 128
#define CAPS_KEY 336 /* provider name + '/' + model (CP_ROUTE_MODEL_MAX) */

struct cp_caps {
    struct {
        char key[CAPS_KEY];
        long cap;
    } e[CAPS_MAX];
    unsigned next; /* slot replaced next when the key is new */
};

cp_caps_t *cp_caps_new(void)
{
    return cp_xcalloc(1, sizeof(cp_caps_t));
}

void cp_caps_free(cp_caps_t *c)
{
    free(c);
}

long cp_caps_get(const cp_caps_t *c, const char *provider, const char *model)
{
    char key[CAPS_KEY];

    if (c == NULL)
        return 0;
    snprintf(key, sizeof(key), "%s/%s", provider, model);
    for (unsigned i = 0; i < CAPS_MAX; i++)
        if (c->e[i].cap > 0 && strcmp(c->e[i].key, key) == 0)
            return c->e[i].cap;
    return 0;
}

void cp_caps_put(cp_caps_t *c, const char *provider, const char *model, long cap)
{
    char key[CAPS_KEY];
    unsigned slot;

    if (c == NULL)
        return;
    snprintf(key, sizeof(key), "%s/%s", provider, model);
    slot = c->next % CAPS_MAX;
    for (unsigned i = 0; i < CAPS_MAX; i++)
        if (c->e[i].cap > 0 && strcmp(c->e[i].key, key) == 0) {
            slot = i;
            break;
        }
    if (slot == c->next % CAPS_MAX)
        c->next++;
    snprintf(c->e[slot].key, sizeof(c->e[slot].key), "%s", key);
    c->e[slot].cap = cap;
}
