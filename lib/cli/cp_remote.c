/* lib/cli/cp_remote.c: see cp_remote.h. */
#include "cp_remote.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "cp_buf.h"
#include "cp_common.h"
#include "cp_init.h"

static size_t remote_body(char *p, size_t size, size_t n, void *ud)
{
    return cp_buf_add(ud, p, size * n) == CP_OK ? size * n : 0; /* 0: curl stops, the answer is too big */
}

/* GET <base><path> with <key> as a bearer token (none when NULL); no redirect is followed, so the key
 * goes nowhere else. Returns the HTTP status, or 0 with <why> when nothing answered. */
static long remote_get(const char *base, const char *path, const char *key, cp_buf_t *body, char *why,
                       size_t n)
{
    char url[1200], hdr[CP_INIT_CLIENT_KEY_MAX + 32], err[CURL_ERROR_SIZE] = "";
    struct curl_slist *h = NULL;
    CURL *c = curl_easy_init();
    const char *extra;
    long status = 0;
    CURLcode rc;

    if (c == NULL) {
        snprintf(why, n, "cannot start libcurl");
        return 0;
    }
    snprintf(url, sizeof(url), "%s%s", base, path);
    h = curl_slist_append(h, "Accept: application/json");
    if (key != NULL) {
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", key);
        h = curl_slist_append(h, hdr);
        OPENSSL_cleanse(hdr, sizeof(hdr));
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)CP_REMOTE_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CP_REMOTE_CONNECT_MS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, remote_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ccproxy/" CP_VERSION);
    if ((extra = getenv("NODE_EXTRA_CA_CERTS")) != NULL && *extra != '\0') {
        /* the CA claude is told to trust (a team server on a private CA): trusted here too, with the
         * system's (the directory stays: the file named replaces only the default bundle) */
        curl_easy_setopt(c, CURLOPT_CAINFO, extra);
        curl_easy_setopt(c, CURLOPT_CAPATH, "/etc/ssl/certs");
    }
    if ((rc = curl_easy_perform(c)) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(why, n, "%s", err[0] ? err : curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return status;
}

void cp_remote_check(const char *base, const char *key, cp_remote_view_t *v)
{
    cp_buf_t b;
    json_t *j; /* owned */
    long st;

    memset(v, 0, sizeof(*v));
    cp_buf_init(&b, CP_REMOTE_BODY_MAX);
    if ((st = remote_get(base, "/health", NULL, &b, v->why, sizeof(v->why))) == 0) {
        v->state = CP_REMOTE_DOWN;
        goto out;
    }
    j = json_loadb(cp_buf_str(&b), b.len, 0, NULL);
    if (st != 200 || !json_is_string(json_object_get(j, "service")) ||
        strcmp(json_string_value(json_object_get(j, "service")), "ccproxy") != 0) {
        v->state = CP_REMOTE_OTHER;
        snprintf(v->why, sizeof(v->why), "GET /health answered HTTP %ld, not as a ccproxy", st);
    }
    json_decref(j);
    if (v->state == CP_REMOTE_OTHER)
        goto out;
    if (key == NULL) {
        v->state = CP_REMOTE_NO_KEY;
        goto out;
    }
    cp_buf_reset(&b, 0);
    st = remote_get(base, "/ccproxy/key", key, &b, v->why, sizeof(v->why));
    j = json_loadb(cp_buf_str(&b), b.len, 0, NULL);
    v->state = st == 200 && json_is_object(j) ? CP_REMOTE_ACCEPTED
               : st == 401                    ? CP_REMOTE_REFUSED
               : st == 0                      ? CP_REMOTE_DOWN
                                              : CP_REMOTE_OTHER;
    if (v->state == CP_REMOTE_ACCEPTED)
        v->key = json_incref(j);
    else if (v->state == CP_REMOTE_OTHER)
        snprintf(v->why, sizeof(v->why), "GET /ccproxy/key answered HTTP %ld (an older ccproxy?)", st);
    json_decref(j);
out:
    cp_buf_free(&b);
}
