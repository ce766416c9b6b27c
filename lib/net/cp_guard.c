/* lib/net/cp_guard.c: see cp_guard.h. */
#include "cp_guard.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int cp_guard_length_ok(const char *v)
{
    return v != NULL && v[0] != '\0' && strspn(v, "0123456789") == strlen(v) &&
           !(v[0] == '0' && v[1] != '\0');
}

int cp_guard_json_type(const char *ct)
{
    size_t n;

    if (ct == NULL)
        return 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    n = strcspn(ct, "; \t");
    return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

/* True when <name> (<n> bytes) is listed in <list> ("*", an exact name, or ".domain"). */
static int guard_listed(const json_t *list, const char *name, size_t n)
{
    size_t i;
    json_t *v; /* borrowed from list */

    json_array_foreach(list, i, v)
    {
        const char *a = json_string_value(v);
        size_t al = a != NULL ? strlen(a) : 0;

        if (a == NULL)
            continue;
        if (strcmp(a, "*") == 0 || (al == n && strncasecmp(a, name, n) == 0))
            return 1;
        if (a[0] == '.' && ((n > al && strncasecmp(name + n - al, a, al) == 0) ||
                            (n == al - 1 && strncasecmp(name, a + 1, n) == 0)))
            return 1;
    }
    return 0;
}

int cp_guard_host_ok(const cp_config_t *cfg, const char *h)
{
    char name[256];
    size_t n;
    unsigned char addr[16];

    if (h == NULL)
        return 1;
    if (h[0] == '[') { /* [v6]:port */
        const char *end = strchr(h, ']');
        n = end != NULL ? (size_t)(end - h - 1) : 0;
        if (end == NULL || n >= sizeof(name) || (end[1] != '\0' && end[1] != ':'))
            return 0;
        memcpy(name, h + 1, n);
        name[n] = '\0';
        return inet_pton(AF_INET6, name, addr) == 1;
    }
    n = strcspn(h, ":");
    if (n == 0 || n >= sizeof(name))
        return 0;
    memcpy(name, h, n);
    name[n] = '\0';
    if (inet_pton(AF_INET, name, addr) == 1 || strcasecmp(name, "localhost") == 0 ||
        (n > 10 && strcasecmp(name + n - 10, ".localhost") == 0) ||
        (cfg->host != NULL && strcasecmp(name, cfg->host) == 0))
        return 1;
    return guard_listed(cfg->allowed_hosts, name, n);
}

int cp_guard_origin_ok(const cp_config_t *cfg, const char *origin)
{
    size_t i;
    json_t *v; /* borrowed from cfg */

    if (origin == NULL)
        return 1;
    json_array_foreach(cfg->allowed_origins, i, v) /* exact origins only, or "*" */
    {
        const char *a = json_string_value(v);
        if (a != NULL && (strcmp(a, "*") == 0 || strcasecmp(a, origin) == 0))
            return 1;
    }
    return 0;
}

const char *cp_guard_browser(const cp_config_t *cfg, const char *host, const char *origin, char *msg,
                             size_t n)
{
    if (!cp_guard_host_ok(cfg, host)) {
        snprintf(msg, n,
                 "Host \"%.100s\" is not accepted: use an IP address or localhost, or add the name to "
                 "server.allowedHosts (a defence against DNS rebinding)",
                 host);
        return msg;
    }
    if (!cp_guard_origin_ok(cfg, origin)) {
        snprintf(msg, n,
                 "requests from web pages (Origin \"%.100s\") are refused; add the origin to "
                 "server.allowedOrigins to allow it",
                 origin);
        return msg;
    }
    return NULL;
}
