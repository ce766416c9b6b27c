/* lib/prov/cp_prov.c: see cp_prov.h. The table of response styles: one row per adapter. */
#include "cp_prov.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cp_prov_openai.h"
#include "cp_prov_anthropic.h"

static const cp_prov_ops_t *const prov_styles[CP_STYLE_COUNT] = {
    [CP_STYLE_OPENAI] = &cp_prov_openai,
    [CP_STYLE_ANTHROPIC] = &cp_prov_anthropic,
};

const cp_prov_ops_t *cp_prov_ops(const cp_provider_t *p)
{
    return (unsigned)p->style < CP_STYLE_COUNT ? prov_styles[p->style] : prov_styles[CP_STYLE_OPENAI];
}

int cp_prov_style_parse(const char *name, enum cp_style *out)
{
    for (unsigned i = 0; name != NULL && i < CP_STYLE_COUNT; i++)
        if (strcmp(prov_styles[i]->name, name) == 0) {
            *out = (enum cp_style)i;
            return CP_OK;
        }
    return CP_ERR;
}

void cp_prov_style_names(char *buf, size_t n)
{
    size_t len = 0;

    if (n == 0)
        return;
    buf[0] = '\0';
    for (unsigned i = 0; i < CP_STYLE_COUNT && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s\"%s\"",
                                i == 0                    ? ""
                                : i + 1 == CP_STYLE_COUNT ? " or "
                                                          : ", ",
                                prov_styles[i]->name);
}

int cp_prov_key_required(const cp_provider_t *p)
{
    return cp_prov_ops(p)->key_required(p);
}

void cp_upreq_header(cp_upreq_t *r, const char *name, const char *value)
{
    r->hdr = cp_xrealloc(r->hdr, (r->nhdr + 1) * sizeof(*r->hdr));
    r->hdr[r->nhdr++] = cp_xasprintf("%s: %s", name, value);
}

static int upreq_dump_cb(const char *p, size_t n, void *ud)
{
    return cp_buf_add(ud, p, n) == CP_OK ? 0 : -1;
}

int cp_upreq_json_body(cp_upreq_t *r, const json_t *j)
{
    cp_buf_reset(&r->body, 0);
    if (json_dump_callback(j, upreq_dump_cb, &r->body, JSON_COMPACT) != 0) {
        cp_buf_free(&r->body);
        return CP_ERR;
    }
    return CP_OK;
}

void cp_upreq_extra_headers(cp_upreq_t *r, const cp_provider_t *p)
{
    const char *k;
    json_t *v; /* borrowed from p->headers */

    json_object_foreach(p->headers, k, v)
    {
        if (json_is_string(v))
            cp_upreq_header(r, k, json_string_value(v));
    }
}

void cp_upreq_free(cp_upreq_t *r)
{
    for (size_t i = 0; i < r->nhdr; i++)
        free(r->hdr[i]);
    free(r->hdr);
    free(r->url);
    cp_buf_free(&r->body);
    free(r->note);
    memset(r, 0, sizeof(*r));
}

int cp_prov_header_secret(const char *name)
{
    static const char *const exact[] = {"authorization", "proxy-authorization", "cookie", "set-cookie"};
    static const char *const parts[] = {"key", "token", "secret", "password", "auth", "session"};

    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (strcasecmp(name, exact[i]) == 0)
            return 1;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        if (strcasestr(name, parts[i]) != NULL)
            return 1;
    return 0;
}

/* Replaces every occurrence of <secret> (at least 4 bytes) in <b> by "[redacted]". */
static void prov_scrub_one(cp_buf_t *b, const char *secret)
{
    size_t sl = secret != NULL ? strlen(secret) : 0;
    cp_buf_t out = CP_BUF_INIT;
    const char *p, *hit;

    if (sl < 4 || b->len == 0 || memmem(b->p, b->len, secret, sl) == NULL)
        return;
    for (p = b->p; (hit = memmem(p, b->len - (size_t)(p - b->p), secret, sl)) != NULL; p = hit + sl) {
        cp_buf_add(&out, p, (size_t)(hit - p));
        CP_BUF_LIT(&out, "[redacted]");
    }
    cp_buf_add(&out, p, b->len - (size_t)(p - b->p));
    cp_buf_free(b);
    *b = out;
}

size_t cp_prov_secrets(const cp_provider_t *p, const char **out, size_t max)
{
    const char *hk;
    json_t *hv; /* borrowed from p->headers */
    size_t n = 0;

    for (size_t i = 0; i < p->nkeys && n < max; i++) /* the pool: any of its keys may be the one in use */
        out[n++] = p->keys[i];
    if (p->nkeys == 0 && p->api_key != NULL && n < max) /* a provider built without a pool (tests) */
        out[n++] = p->api_key;
    json_object_foreach(p->headers, hk, hv)
    {
        const char *v = json_string_value(hv);

        if (v == NULL || !cp_prov_header_secret(hk) || n + 2 > max)
            continue;
        out[n++] = v;
        if (strncasecmp(v, "Bearer ", 7) == 0 || strncasecmp(v, "Basic ", 6) == 0)
            out[n++] = strchr(v, ' ') + 1; /* the credential alone, as an upstream may echo it */
    }
    return n;
}

void cp_prov_scrub(const cp_provider_t *p, cp_buf_t *b)
{
    const char *s[CP_PROV_SECRETS_MAX];
    size_t n = cp_prov_secrets(p, s, CP_PROV_SECRETS_MAX);

    for (size_t i = 0; i < n; i++)
        prov_scrub_one(b, s[i]);
}

void cp_prov_scrub_err(const cp_provider_t *p, cp_err_t *e)
{
    cp_buf_t b = CP_BUF_INIT;

    cp_buf_adds(&b, e->msg);
    cp_prov_scrub(p, &b);
    snprintf(e->msg, sizeof(e->msg), "%s", cp_buf_str(&b));
    cp_buf_free(&b);
}
