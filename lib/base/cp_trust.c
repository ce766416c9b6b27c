/* lib/base/cp_trust.c: see cp_trust.h. */
#include "cp_trust.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- reading a file once ------------------------------------------------------------------ */

/* Reads <fd> to its end, at most CP_TRUST_FILE_MAX bytes, into out->data / out->len. Returns CP_OK,
 * or CP_ERR with <e> naming <path>. */
static int trust_read_fd(int fd, const char *path, const struct stat *st, cp_trust_file_t *out, cp_err_t *e)
{
    size_t cap = 4096, len = 0;
    char *buf;

    if (S_ISREG(st->st_mode) && st->st_size > 0 && (unsigned long long)st->st_size <= CP_TRUST_FILE_MAX)
        cap = (size_t)st->st_size + 1; /* one more, to see the end without growing */
    buf = cp_xmalloc(cap + 1);
    for (;;) {
        ssize_t n;

        if (len == cap) {
            if (cap > CP_TRUST_FILE_MAX)
                break;
            cap = cap * 2 > CP_TRUST_FILE_MAX + 1 ? CP_TRUST_FILE_MAX + 1 : cap * 2;
            buf = cp_xrealloc(buf, cap + 1);
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            free(buf);
            return cp_err_set(e, 0, NULL, "%s: cannot read: %s", path, strerror(err));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > CP_TRUST_FILE_MAX) {
        free(buf);
        return cp_err_set(e, 0, NULL, "%s: larger than %u MiB", path, CP_TRUST_FILE_MAX >> 20);
    }
    buf[len] = '\0';
    out->data = buf;
    out->len = len;
    return CP_OK;
}

int cp_trust_read(const char *path, int strict, cp_trust_file_t *out, cp_err_t *e)
{
    char real[PATH_MAX];
    struct stat st;
    int fd, err, rc;

    memset(out, 0, sizeof(*out));
    if (strict && realpath(path, real) == NULL) {
        err = errno;
        return err == ENOENT ? CP_DECLINED
                             : cp_err_set(e, 0, NULL, "%s: cannot read: %s", path, strerror(err));
    }
    /* strict: the resolved path, so a link swapped in since realpath() is refused (ELOOP); no blocking
     * open of a FIFO */
    fd = strict ? open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW)
                : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        err = errno;
        return err == ENOENT ? CP_DECLINED
                             : cp_err_set(e, 0, NULL, "%s: cannot read: %s", path, strerror(err));
    }
    if (fstat(fd, &st) != 0) {
        err = errno;
        close(fd);
        return cp_err_set(e, 0, NULL, "%s: cannot read: %s", path, strerror(err));
    }
    if (strict && !S_ISREG(st.st_mode)) {
        close(fd);
        return cp_err_set(e, 0, NULL, "%s: not a regular file", path);
    }
    rc = trust_read_fd(fd, path, &st, out, e);
    close(fd);
    if (rc != CP_OK)
        return rc;
    out->real = cp_xstrdup(strict || realpath(path, real) != NULL ? real : path);
    out->mode = (unsigned)st.st_mode & 07777;
    cp_sha256_hex(out->data, out->len, out->sha256);
    return CP_OK;
}

void cp_trust_file_free(cp_trust_file_t *f)
{
    free(f->real);
    f->real = NULL;
    free(f->data);
    f->data = NULL;
    f->len = 0;
}

/* ---- the trust store ------------------------------------------------------------------------ */

static void trust_paths(const char *home, char *dir, char *path, size_t n)
{
    snprintf(dir, n, "%s/.ccproxy", home);
    snprintf(path, n, "%s/.ccproxy/trusted.json", home);
}

/* Why <st> (of the store or its directory) cannot be relied on, in <why>; CP_OK when it can. */
static int trust_owner_ok(const struct stat *st, char *why, size_t n)
{
    if (st->st_uid != geteuid()) {
        snprintf(why, n, "it belongs to another user (uid %ld)", (long)st->st_uid);
        return CP_ERR;
    }
    if (st->st_mode & 022) {
        snprintf(why, n, "other users may write to it (mode %04o)", (unsigned)st->st_mode & 07777);
        return CP_ERR;
    }
    return CP_OK;
}

/* Opens and checks the store at <path> in <dir>. Returns the descriptor, -1 when there is no store
 * (ENOENT), or -2 with <why> filled. */
static int trust_store_open(const char *dir, const char *path, struct stat *st, char *why, size_t n)
{
    int fd, err;

    if (stat(dir, st) != 0) {
        err = errno;
        if (err == ENOENT)
            return -1;
        snprintf(why, n, "%s: %s", dir, strerror(err));
        return -2;
    }
    if (trust_owner_ok(st, why, n) != CP_OK) {
        size_t l = strlen(why);
        snprintf(why + l, n - l, " (the directory %s)", dir);
        return -2;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0) {
        err = errno;
        if (err == ENOENT)
            return -1;
        snprintf(why, n, "%s", err == ELOOP ? "it is a symbolic link" : strerror(err));
        return -2;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        snprintf(why, n, "it is not a regular file");
        close(fd);
        return -2;
    }
    if (trust_owner_ok(st, why, n) != CP_OK) {
        close(fd);
        return -2;
    }
    return fd;
}

/* Loads the store of <home> into *<out> (new; an empty store when there is none). Returns CP_OK, or
 * CP_ERR with <why> saying why it cannot be relied on. */
static int trust_store_load(const char *dir, const char *path, json_t **out, char *why, size_t n)
{
    struct stat st;
    cp_trust_file_t f = {0};
    cp_err_t e = {0};
    json_error_t jerr;
    json_t *root; /* owned */
    int fd = trust_store_open(dir, path, &st, why, n);
    int rc;

    *out = NULL;
    if (fd == -1) {
        *out = json_pack("{s:i,s:[]}", "version", 1, "trusted");
        return CP_OK;
    }
    if (fd < 0)
        return CP_ERR;
    rc = trust_read_fd(fd, path, &st, &f, &e);
    close(fd);
    if (rc != CP_OK) {
        snprintf(why, n, "%s", strstr(e.msg, "larger") ? "it is too large" : "it cannot be read");
        return CP_ERR;
    }
    root = json_loadb(f.data, f.len, JSON_REJECT_DUPLICATES, &jerr);
    cp_trust_file_free(&f);
    if (!json_is_object(root) || !json_is_array(json_object_get(root, "trusted"))) {
        snprintf(why, n, "it is not a trust store (a JSON object with a \"trusted\" array)");
        json_decref(root);
        return CP_ERR;
    }
    *out = root;
    return CP_OK;
}

enum cp_trust_state cp_trust_check(const char *home, const cp_trust_file_t *f, cp_trust_warn_cb warn,
                                   void *ud)
{
    char dir[PATH_MAX], path[PATH_MAX], why[PATH_MAX + 128], line[2 * PATH_MAX + 256];
    enum cp_trust_state state = CP_TRUST_UNKNOWN;
    json_t *store; /* owned */
    json_t *ent;   /* borrowed from store */
    size_t i;

    if (home == NULL || *home == '\0' || f->real == NULL)
        return CP_TRUST_UNKNOWN;
    trust_paths(home, dir, path, sizeof(path));
    if (trust_store_load(dir, path, &store, why, sizeof(why)) != CP_OK) {
        snprintf(line, sizeof(line), "ccproxy: warning: ignoring the trust store %s: %s", path, why);
        if (warn != NULL)
            warn(line, ud);
        return CP_TRUST_UNKNOWN;
    }
    json_array_foreach(json_object_get(store, "trusted"), i, ent)
    {
        const char *p = json_string_value(json_object_get(ent, "path"));
        const char *h = json_string_value(json_object_get(ent, "sha256"));

        if (p == NULL || h == NULL || strcmp(p, f->real) != 0)
            continue; /* entries of another shape never match */
        if (strcmp(h, f->sha256) == 0) {
            state = CP_TRUST_TRUSTED;
            break;
        }
        state = CP_TRUST_CHANGED;
    }
    json_decref(store);
    return state;
}

/* Creates <dir> (0700) when missing; refuses one that others may write to. */
static int trust_dir_prepare(const char *dir, cp_err_t *e)
{
    struct stat st;
    char why[160];

    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return cp_err_set(e, 0, NULL, "cannot create %s: %s", dir, strerror(errno));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cp_err_set(e, 0, NULL, "%s is not a directory", dir);
    if (trust_owner_ok(&st, why, sizeof(why)) != CP_OK)
        return cp_err_set(e, 0, NULL, "%s cannot hold the trust store: %s; run: chmod 700 %s", dir, why, dir);
    return CP_OK;
}

/* Writes <store> to <path> through <path>.tmp.PID (0600), fsync and rename. */
static int trust_store_write(const char *path, const json_t *store, cp_err_t *e)
{
    char tmp[PATH_MAX + 32];
    char *text = json_dumps(store, JSON_INDENT(2)); /* owned */
    size_t len = text != NULL ? strlen(text) : 0, off = 0;
    int fd, rc = CP_ERR;

    if (text == NULL)
        return cp_err_set(e, 0, NULL, "cannot encode the trust store");
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    (void)unlink(tmp); /* a leftover of a crashed run with the same pid */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        cp_err_set(e, 0, NULL, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    if (off < len || write(fd, "\n", 1) != 1 || fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
        cp_err_set(e, 0, NULL, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        cp_err_set(e, 0, NULL, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = CP_OK;
out:
    free(text);
    return rc;
}

/* Removes every entry of <list> whose path is <real>. Returns how many. */
static size_t trust_list_drop(json_t *list, const char *real)
{
    size_t n = 0;

    for (size_t i = 0; i < json_array_size(list);) {
        const char *p = json_string_value(json_object_get(json_array_get(list, i), "path"));
        if (p != NULL && strcmp(p, real) == 0) {
            json_array_remove(list, i);
            n++;
        } else {
            i++;
        }
    }
    return n;
}

/* Loads the store of <home> for a change: <dir> prepared, unusable store refused. */
static int trust_store_for_update(const char *home, char *dir, char *path, size_t n, json_t **store,
                                  cp_err_t *e)
{
    char why[PATH_MAX + 128];

    if (home == NULL || *home == '\0')
        return cp_err_set(e, 0, NULL, "HOME is not set, so there is nowhere to keep the trust store");
    trust_paths(home, dir, path, n);
    if (trust_dir_prepare(dir, e) != CP_OK)
        return CP_ERR;
    if (trust_store_load(dir, path, store, why, sizeof(why)) != CP_OK)
        return cp_err_set(e, 0, NULL, "%s cannot be relied on: %s; fix or remove it, then try again", path,
                          why);
    return CP_OK;
}

int cp_trust_add(const char *home, const char *real, const char *sha256, cp_err_t *e)
{
    char dir[PATH_MAX], path[PATH_MAX], when[32];
    json_t *store = NULL; /* owned */
    json_t *list, *ent;   /* borrowed from store / owned until appended */
    time_t now = time(NULL);
    struct tm tm;
    int rc;

    if (trust_store_for_update(home, dir, path, sizeof(path), &store, e) != CP_OK)
        return CP_ERR;
    list = json_object_get(store, "trusted");
    trust_list_drop(list, real);
    while (json_array_size(list) >= CP_TRUST_MAX_ENTRIES)
        json_array_remove(list, 0); /* the oldest */
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    ent = json_pack("{s:s,s:s,s:s}", "path", real, "sha256", sha256, "time", when);
    if (ent == NULL) { /* jansson strings are UTF-8 */
        json_decref(store);
        return cp_err_set(e, 0, NULL, "cannot record %s: its path is not valid UTF-8", real);
    }
    json_array_append_new(list, ent);
    json_object_set_new(store, "version", json_integer(1));
    rc = trust_store_write(path, store, e);
    json_decref(store);
    return rc;
}

int cp_trust_remove(const char *home, const char *real, cp_err_t *e)
{
    char dir[PATH_MAX], path[PATH_MAX];
    json_t *store = NULL; /* owned */
    int rc = CP_DECLINED;

    if (trust_store_for_update(home, dir, path, sizeof(path), &store, e) != CP_OK)
        return CP_ERR;
    if (trust_list_drop(json_object_get(store, "trusted"), real) > 0)
        rc = trust_store_write(path, store, e);
    json_decref(store);
    return rc;
}

/* ---- what settings say about keys -------------------------------------------------------- */

int cp_trust_key_literal(const char *raw)
{
    const char *s = raw;

    while (*s != '\0') {
        const char *end;

        if (s[0] != '$' || s[1] != '{' || (end = strchr(s + 2, '}')) == NULL)
            return 1;
        for (const char *p = s + 2; p < end; p++)
            if (p[0] == ':' && p[1] == '-' && p + 2 < end)
                return 1; /* a fallback written in the file */
        s = end + 1;
    }
    return 0;
}

/* The first of providers.<name>.apiKey and apiKeys (its elements) in <pv> that holds key material
 * (cp_trust_key_literal), or NULL. */
static const char *trust_literal_key(const json_t *pv)
{
    const char *raw = json_string_value(json_object_get(pv, "apiKey"));
    size_t i;
    json_t *it; /* borrowed from pv */

    if (raw != NULL && cp_trust_key_literal(raw))
        return "apiKey";
    json_array_foreach(json_object_get(pv, "apiKeys"), i, it)
    {
        if (json_is_string(it) && cp_trust_key_literal(json_string_value(it)))
            return "apiKeys";
    }
    return NULL;
}

void cp_trust_warn_readable_key(const char *path, unsigned mode, const json_t *root, cp_trust_warn_cb warn,
                                void *ud)
{
    const char *name;
    json_t *pv; /* borrowed from root */

    if ((mode & 044) == 0 || warn == NULL)
        return;
    json_object_foreach(json_object_get(root, "providers"), name, pv)
    {
        const char *which = trust_literal_key(pv);

        if (which != NULL) {
            char *line = cp_xasprintf("ccproxy: warning: %s holds an API key (providers.%s.%s) and other "
                                      "users can read it (mode %04o); run: chmod 600 %s",
                                      path, name, which, mode, path);
            warn(line, ud);
            free(line);
            return;
        }
    }
}

/* Copies the host of <url> ("scheme://[userinfo@]host[:port][/...]", brackets of an IPv6 literal
 * removed) into <out> (<n> bytes). Returns CP_OK, or CP_ERR when there is none or it is too long. */
static int trust_url_host(const char *url, char *out, size_t n)
{
    const char *h = strstr(url, "://");
    const char *end, *stop;
    size_t len;

    if (h == NULL)
        return CP_ERR;
    h += 3;
    end = h + strcspn(h, "/?#");
    for (const char *p = h; p < end; p++)
        if (*p == '@')
            h = p + 1;
    if (*h == '[') {
        stop = memchr(h, ']', (size_t)(end - h));
        if (stop == NULL)
            return CP_ERR;
        h++;
    } else {
        stop = memchr(h, ':', (size_t)(end - h));
        if (stop == NULL)
            stop = end;
    }
    len = (size_t)(stop - h);
    if (len == 0 || len >= n)
        return CP_ERR;
    memcpy(out, h, len);
    out[len] = '\0';
    return CP_OK;
}

int cp_trust_url_loopback(const char *url)
{
    char host[256];
    struct in_addr a4;
    struct in6_addr a6;
    size_t n;

    if (trust_url_host(url, host, sizeof(host)) != CP_OK)
        return 0;
    n = strlen(host);
    if (host[n - 1] == '.')
        host[--n] = '\0';
    if (strcasecmp(host, "localhost") == 0 || (n > 10 && strcasecmp(host + n - 10, ".localhost") == 0))
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return 0;
}

int cp_trust_proxy_ok(const char *s)
{
    static const char *const schemes[] = {"http://",    "https://",  "socks4://",
                                          "socks4a://", "socks5://", "socks5h://"};
    char host[256];
    size_t i;

    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strncasecmp(s, schemes[i], strlen(schemes[i])) == 0)
            break;
    if (i == sizeof(schemes) / sizeof(schemes[0]))
        return 0;
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '"' || *p == '\\' || *p == '<' || *p == '>')
            return 0;
    return trust_url_host(s, host, sizeof(host)) == CP_OK;
}

char *cp_trust_url_redacted(const char *url)
{
    const char *h = strstr(url, "://");
    const char *end, *at = NULL;

    if (h == NULL)
        return cp_xstrdup(url);
    h += 3;
    end = h + strcspn(h, "/?#");
    for (const char *p = h; p < end; p++)
        if (*p == '@')
            at = p;
    if (at == NULL)
        return cp_xstrdup(url);
    return cp_xasprintf("%.*s<redacted>%s", (int)(h - url), url, at);
}

/* The layer an origin of `sources` belongs to (see cp_trust_key_origins). */
static const char *trust_layer_name(const json_t *layers, const char *origin)
{
    const char *k = json_string_value(json_object_get(layers, origin));

    if (k != NULL)
        return k;
    if (strcmp(origin, "default") == 0)
        return "default";
    if (strncmp(origin, "env ", 4) == 0)
        return "environment";
    if (strncmp(origin, "flag ", 5) == 0)
        return "command line";
    return "file";
}

/* The origin recorded for providers.<name>.<key>, "default" when none. */
static const char *trust_origin(const json_t *sources, const char *name, const char *key)
{
    char *path = cp_xasprintf("providers.%s.%s", name, key);
    const char *o = json_string_value(json_object_get(sources, path));

    free(path);
    return o != NULL ? o : "default";
}

/* Whether providers.<name>.apiKeys in <pv> names a key (a non-empty element; "" is an unset variable). */
static int trust_has_pool(const json_t *pv)
{
    size_t i;
    json_t *it; /* borrowed from pv */

    json_array_foreach(json_object_get(pv, "apiKeys"), i, it)
    {
        if (json_string_length(it) > 0)
            return 1;
    }
    return 0;
}

json_t *cp_trust_key_origins(const json_t *merged, const json_t *sources, const json_t *layers)
{
    json_t *out = json_object(); /* returned */
    const char *name;
    json_t *pv; /* borrowed from merged */

    json_object_foreach(json_object_get(merged, "providers"), name, pv)
    {
        const char *key = json_string_value(json_object_get(pv, "apiKey"));
        const char *uo = trust_origin(sources, name, "baseURL");
        const char *ko = key != NULL && *key != '\0' ? trust_origin(sources, name, "apiKey") : NULL;
        const char *po = trust_has_pool(pv) ? trust_origin(sources, name, "apiKeys") : NULL;
        const char *ul = trust_layer_name(layers, uo);
        json_t *ent = json_pack("{s:{s:s,s:s}}", "baseURL", "layer", ul, "source", uo);
        int which = 0; /* 1: apiKey came from another layer than baseURL, 2: apiKeys did */

        if (ent == NULL) /* an origin that is not UTF-8 */
            continue;
        json_object_set_new(ent, "apiKey",
                            ko != NULL
                                ? json_pack("{s:s,s:s}", "layer", trust_layer_name(layers, ko), "source", ko)
                                : json_null());
        if (po != NULL) /* only for a provider with a key pool */
            json_object_set_new(ent, "apiKeys",
                                json_pack("{s:s,s:s}", "layer", trust_layer_name(layers, po), "source", po));
        if (strcmp(uo, "default") != 0)
            which = ko != NULL && strcmp(uo, ko) != 0 ? 1 : po != NULL && strcmp(uo, po) != 0 ? 2 : 0;
        if (which != 0) {
            const char *wo = which == 1 ? ko : po;
            char *w =
                cp_xasprintf("ccproxy: warning: providers.%s: its %s from %s (%s) but its baseURL "
                             "from %s (%s): make sure that server is meant to receive %s",
                             name, which == 1 ? "key comes" : "keys (apiKeys) come", wo,
                             trust_layer_name(layers, wo), uo, ul, which == 1 ? "this key" : "these keys");
            json_object_set_new(ent, "warning", json_string(w));
            free(w);
        }
        json_object_set_new(out, name, ent);
    }
    return out;
}
