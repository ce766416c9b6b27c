/* lib/cli/cp_ctl.c: see cp_ctl.h. */
#include "cp_ctl.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#define CTL_BODY_MAX 65536 /* a /health answer is ~150 bytes; anything longer is not ours */

const char *cp_ctl_client_host(const char *host)
{
    if (host == NULL || host[0] == '\0' || strcmp(host, "0.0.0.0") == 0)
        return "127.0.0.1";
    if (strcmp(host, "::") == 0 || strcmp(host, "[::]") == 0)
        return "::1";
    return host;
}

void cp_ctl_base_url(const char *host, int port, char *buf, size_t n)
{
    const char *h = cp_ctl_client_host(host);
    int v6 = strchr(h, ':') != NULL && h[0] != '[';

    snprintf(buf, n, "http://%s%s%s:%d", v6 ? "[" : "", h, v6 ? "]" : "", port);
}

void cp_ctl_parse_health(long status, const char *body, size_t len, cp_ctl_health_t *h)
{
    json_t *j = json_loadb(body, len, 0, NULL); /* owned */
    const char *svc = json_string_value(json_object_get(j, "service"));
    const char *ver;

    memset(h, 0, sizeof(*h));
    if (status != 200 || svc == NULL || strcmp(svc, "ccproxy") != 0) {
        h->state = CP_CTL_OTHER;
        if (status != 200)
            snprintf(h->why, sizeof(h->why), "it answered GET /health with HTTP %ld", status);
        else
            snprintf(h->why, sizeof(h->why), "its answer to GET /health is not ccproxy's");
        json_decref(j);
        return;
    }
    h->state = CP_CTL_UP;
    h->pid = (long)json_integer_value(json_object_get(j, "pid"));
    ver = json_string_value(json_object_get(j, "version"));
    snprintf(h->version, sizeof(h->version), "%s", ver ? ver : "unknown");
    h->uptime_s = json_integer_value(json_object_get(j, "uptime_s"));
    h->active = json_integer_value(json_object_get(j, "active"));
    h->streams = json_integer_value(json_object_get(j, "streams"));
    json_decref(j);
}

typedef struct ctl_buf {
    char data[CTL_BODY_MAX];
    size_t len;
} ctl_buf_t;

static size_t ctl_write(char *p, size_t size, size_t nmemb, void *ud)
{
    ctl_buf_t *b = ud;
    size_t n = size * nmemb;

    if (n > sizeof(b->data) - b->len)
        return 0; /* too long: not ours; aborts the transfer */
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return n;
}

void cp_ctl_probe(const char *base_url, long timeout_ms, cp_ctl_health_t *h)
{
    static ctl_buf_t buf; /* one probe at a time, from the command line */
    char url[512];
    char err[CURL_ERROR_SIZE] = "";
    CURL *c = curl_easy_init();
    CURLcode rc;
    long status = 0;
    curl_off_t connect_us = 0;

    memset(h, 0, sizeof(*h));
    if (c == NULL) {
        h->state = CP_CTL_DOWN;
        snprintf(h->why, sizeof(h->why), "cannot create an HTTP client");
        return;
    }
    buf.len = 0;
    snprintf(url, sizeof(url), "%s/health", base_url);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ctl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us);
    curl_easy_cleanup(c);
    if (rc == CURLE_OK) {
        cp_ctl_parse_health(status, buf.data, buf.len, h);
        return;
    }
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        (rc == CURLE_OPERATION_TIMEDOUT && connect_us == 0)) {
        h->state = CP_CTL_DOWN;
        snprintf(h->why, sizeof(h->why), "%s", err[0] ? err : curl_easy_strerror(rc));
        return;
    }
    /* connected, then no HTTP answer, a broken one, or one too long: someone else's port */
    h->state = CP_CTL_OTHER;
    snprintf(h->why, sizeof(h->why),
             "it accepted the connection but gave no ccproxy answer to GET /health (%s)",
             err[0] ? err : curl_easy_strerror(rc));
}
