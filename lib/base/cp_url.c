/* lib/base/cp_url.c: see cp_url.h. */
#include "cp_url.h"

#include <string.h>
#include <strings.h>

#include "cp_common.h"

/* Start of the authority (after "scheme://"), or <url> itself when there is no scheme. */
static const char *url_authority(const char *url)
{
    const char *h = strstr(url, "://");

    return h != NULL ? h + 3 : url;
}

/* The path of <url> ("/..." up to any query or fragment; its length in *<n>), or NULL. */
static const char *url_path(const char *url, size_t *n)
{
    const char *a = url_authority(url);
    const char *p = a + strcspn(a, "/?#");

    if (*p != '/')
        return NULL;
    *n = strcspn(p, "?#");
    return p;
}

int cp_url_host_is(const char *url, const char *host)
{
    const char *h;
    size_t auth, n, hl = strlen(host);

    if (url == NULL)
        return 0;
    h = url_authority(url);
    auth = strcspn(h, "/?#");
    for (size_t i = auth; i > 0; i--) /* the last '@' ends the userinfo, which may hold '@' itself */
        if (h[i - 1] == '@') {
            h += i;
            auth -= i;
            break;
        }
    if (h[0] == '[') { /* an IPv6 literal: its colons are not a port */
        const char *close = memchr(h, ']', auth);
        n = close != NULL ? (size_t)(close - h) + 1 : auth;
    } else {
        n = strcspn(h, ":");
        if (n > auth)
            n = auth;
    }
    if (n > 0 && h[n - 1] == '.')
        n--;
    if (n == hl)
        return strncasecmp(h, host, hl) == 0;
    return n > hl && h[n - hl - 1] == '.' && strncasecmp(h + n - hl, host, hl) == 0;
}

int cp_url_has_path(const char *url)
{
    size_t n = 0;
    const char *p = url_path(url, &n);

    return p != NULL && n > 1;
}

int cp_url_path_ends_with(const char *url, const char *suffix)
{
    size_t n = 0, m = strlen(suffix);
    const char *p = url_path(url, &n);

    return p != NULL && n >= m && strncmp(p + n - m, suffix, m) == 0;
}

char *cp_url_join(const char *base, const char *a, const char *b)
{
    size_t n = strlen(base);

    while (n > 0 && base[n - 1] == '/' && a[0] == '/')
        n--;
    return cp_xasprintf("%.*s%s%s", (int)n, base, a, b != NULL ? b : "");
}
