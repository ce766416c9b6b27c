/* lib/cli/cp_remote.h: asking a ccproxy team server (client.url, docs/team.md) whether it answers and
 * whether it takes a developer key: `GET /health`, then `GET /ccproxy/key` with the key as a bearer
 * token, each bounded in time, no redirect followed (the key goes nowhere else). The launcher and
 * `ccproxy status` use it (daemon/launch.c). */
#ifndef CP_REMOTE_H
#define CP_REMOTE_H

#include <jansson.h>

#define CP_REMOTE_TIMEOUT_MS 5000 /* each request, all told */
#define CP_REMOTE_CONNECT_MS 3000
#define CP_REMOTE_BODY_MAX   (64 * 1024) /* the most read of an answer */

enum cp_remote_state {
    CP_REMOTE_DOWN = 0, /* no answer: refused, timed out, TLS failed */
    CP_REMOTE_OTHER,    /* something answers, but not as a ccproxy with team access */
    CP_REMOTE_NO_KEY,   /* it answers; there is no key here to present */
    CP_REMOTE_REFUSED,  /* 401 from /ccproxy/key: unknown, revoked or rotated */
    CP_REMOTE_ACCEPTED, /* 200 from /ccproxy/key */
};

typedef struct cp_remote_view {
    enum cp_remote_state state;
    char why[512];
    json_t *key; /* owned: /ccproxy/key's answer when ACCEPTED */
} cp_remote_view_t;

/* Asks the server at <base>: /health, then /ccproxy/key with <key> (NULL: none configured). Fills <v>;
 * the caller json_decref()s v->key. Needs curl_global_init(). */
void cp_remote_check(const char *base, const char *key, cp_remote_view_t *v);

#endif
