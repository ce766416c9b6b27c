/* tests/fuzz/fuzz_oai_req.c: libFuzzer target for lib/prov/openai/cp_oai_req.c.
 *
 * The input is parsed as JSON (json_loadb); when it is an object it is translated by cp_oai_request()
 * for every flavor (with model options picked from a hash of the input). It must never crash or leak;
 * a success must be a JSON object with the upstream "model" and a "messages" array, and a names map;
 * a failure a 400 with a type and a message. The same request translated twice gives the same body.
 *
 * Run: `make fuzz` (all targets), or after it:
 *   build-fuzz/fuzz_oai_req -max_len=20000 build-fuzz/corpus/fuzz_oai_req */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cp_common.h"
#include "cp_oai_flavor.h"
#include "cp_oai_names.h"
#include "cp_oai_req.h"

static json_t *request(const json_t *anth, const cp_oai_opts_t *o)
{
    cp_oai_names_t *names = NULL;
    cp_err_t e;
    json_t *body;
    const char *model;

    memset(&e, 0, sizeof(e));
    body = cp_oai_request(anth, "up", o, &names, &e);
    if (body == NULL) {
        if (names != NULL || e.http_status != 400 || e.type == NULL || e.msg[0] == '\0')
            abort();
        return NULL;
    }
    model = json_string_value(json_object_get(body, "model"));
    if (names == NULL || !json_is_object(body) || !json_is_array(json_object_get(body, "messages")) ||
        model == NULL || strcmp(model, "up") != 0)
        abort();
    cp_oai_names_free(names);
    return body;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    json_t *anth = json_loadb((const char *)d, n, 0, NULL);
    uint32_t h = 2166136261u;
    char dropped[256];

    if (!json_is_object(anth)) {
        json_decref(anth);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 16777619u;
    cp_oai_request_dropped(anth, dropped, sizeof(dropped));
    for (int f = 0; f < CP_OAI_FLAVORS; f++) {
        cp_oai_opts_t o;
        unsigned bits = (h >> (3 * f)) & 7u;
        json_t *a, *b;

        memset(&o, 0, sizeof(o));
        o.provider = "fuzz";
        o.fl = cp_oai_flavor_get((enum cp_oai_flavor_id)f);
        o.reasoning_model = bits & 1u;
        o.max_completion = (bits >> 1) & 1u;
        o.reasoning_effort = (bits >> 2) & 1u;
        a = request(anth, &o);
        if (f == 0) { /* pure: the same body again */
            b = request(anth, &o);
            if ((a == NULL) != (b == NULL) || (a != NULL && !json_equal(a, b)))
                abort();
            json_decref(b);
        }
        if (a != NULL) {
            char *text = json_dumps(a, JSON_COMPACT);
            free(text);
            (void)cp_oai_request_cap(a, 16);
        }
        json_decref(a);
    }
    json_decref(anth);
    return 0;
}
