/* lib/cli/cp_ident.c: see cp_ident.h. */
#include "cp_ident.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "cp_log.h"

#define IDENT_PROOF_LABEL  "ccproxy-health-v1\n"
#define IDENT_CLIENT_LABEL "ccproxy-health-client-v1\n"
#define IDENT_FILE_MAX     (CP_IDENT_KEY_BYTES * 2 + 1) /* 64 hex digits and a newline */

static const char ident_hexd[] = "0123456789abcdef";

static void ident_hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = ident_hexd[b[i] >> 4];
        out[2 * i + 1] = ident_hexd[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int ident_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* HMAC-SHA256 under <k> of the <n> parts, as 64 lowercase hex digits in <out> ("" if OpenSSL fails,
 * which never verifies). */
static void ident_hmac(const cp_ident_key_t *k, const char *const *parts, size_t n,
                       char out[CP_IDENT_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t got = 0;
    int ok = ctx != NULL && EVP_MAC_init(ctx, k->b, sizeof(k->b), params) == 1;

    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_MAC_update(ctx, (const unsigned char *)parts[i], strlen(parts[i])) == 1;
    ok = ok && EVP_MAC_final(ctx, md, &got, sizeof(md)) == 1 && got == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    out[0] = '\0';
    if (ok)
        ident_hex(md, 32, out);
    OPENSSL_cleanse(md, sizeof(md));
}

/* 1 when <got> (any string) equals <want> (64 hex digits, or "" meaning "nothing verifies"). */
static int ident_same(const char *want, const char *got)
{
    if (got == NULL || want[0] == '\0' || strnlen(got, CP_IDENT_HEX + 1) != CP_IDENT_HEX)
        return 0;
    return CRYPTO_memcmp(want, got, CP_IDENT_HEX) == 0;
}

int cp_ident_nonce_ok(const char *s)
{
    size_t n = s ? strnlen(s, CP_IDENT_NONCE_MAX + 1) : 0;

    if (n < CP_IDENT_NONCE_MIN || n > CP_IDENT_NONCE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (ident_hexval(s[i]) < 0)
            return 0;
    return 1;
}

int cp_ident_nonce_new(char out[CP_IDENT_NONCE_MAX + 1])
{
    unsigned char b[CP_IDENT_NONCE_MAX / 2];

    out[0] = '\0';
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return CP_ERR;
    ident_hex(b, sizeof(b), out);
    return CP_OK;
}

int cp_ident_config_digest(const cp_ident_key_t *k, const json_t *merged, char out[CP_IDENT_HEX + 1])
{
    json_t *c; /* owned: a shallow copy, so that "logging" can be left out */
    char *text;

    out[0] = '\0';
    if (!json_is_object(merged))
        return CP_ERR;
    c = json_copy((json_t *)merged);
    json_object_del(c, "logging");
    text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(c);
    if (text == NULL)
        return CP_ERR;
    {
        const char *parts[] = {text};
        ident_hmac(k, parts, 1, out);
    }
    OPENSSL_cleanse(text, strlen(text)); /* it holds the provider keys */
    free(text);
    return out[0] != '\0' ? CP_OK : CP_ERR;
}

void cp_ident_proof(const cp_ident_key_t *k, const char *nonce, long pid, const char *digest,
                    char out[CP_IDENT_HEX + 1])
{
    char p[24];
    const char *parts[] = {IDENT_PROOF_LABEL, nonce, "\n", p, "\n", digest};

    snprintf(p, sizeof(p), "%ld", pid);
    ident_hmac(k, parts, sizeof(parts) / sizeof(parts[0]), out);
}

int cp_ident_proof_ok(const cp_ident_key_t *k, const char *nonce, long pid, const char *digest,
                      const char *proof)
{
    char want[CP_IDENT_HEX + 1];

    if (!cp_ident_nonce_ok(nonce) || digest == NULL)
        return 0;
    cp_ident_proof(k, nonce, pid, digest, want);
    return ident_same(want, proof);
}

void cp_ident_client_auth(const cp_ident_key_t *k, const char *nonce, char out[CP_IDENT_HEX + 1])
{
    const char *parts[] = {IDENT_CLIENT_LABEL, nonce};

    ident_hmac(k, parts, 2, out);
}

int cp_ident_client_ok(const cp_ident_key_t *k, const char *nonce, const char *auth)
{
    char want[CP_IDENT_HEX + 1];

    if (!cp_ident_nonce_ok(nonce))
        return 0;
    cp_ident_client_auth(k, nonce, want);
    return ident_same(want, auth);
}

int cp_ident_peer_loopback(const struct sockaddr *sa)
{
    if (sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
}

int cp_ident_path(const char *home, char *buf, size_t n)
{
    int w;

    if (home == NULL || home[0] == '\0')
        return CP_ERR;
    w = snprintf(buf, n, "%s/.ccproxy/" CP_IDENT_FILE, home);
    return (w > 0 && (size_t)w < n) ? CP_OK : CP_ERR;
}

void cp_ident_key_wipe(cp_ident_key_t *k)
{
    OPENSSL_cleanse(k, sizeof(*k));
}

/* ---- the key file ------------------------------------------------------------------------------ */

/* Checks what fstat says of the open key file. */
static int ident_file_safe(const char *path, const struct stat *st, cp_err_t *e)
{
    if (!S_ISREG(st->st_mode))
        return cp_err_set(e, 0, NULL, "%s is not a regular file; remove it (a new key is made)", path);
    if (st->st_uid != geteuid())
        return cp_err_set(e, 0, NULL,
                          "%s belongs to uid %lu, not to you (uid %lu): it cannot prove anything is yours; "
                          "remove it (a new key is made)",
                          path, (unsigned long)st->st_uid, (unsigned long)geteuid());
    if ((st->st_mode & 077) != 0)
        return cp_err_set(e, 0, NULL,
                          "%s is open to other users (mode %04o), so it no longer proves anything is yours; "
                          "run `chmod 600 %s`, or remove it (a new key is made)",
                          path, (unsigned)(st->st_mode & 07777), path);
    return CP_OK;
}

int cp_ident_load(const char *path, cp_ident_key_t *k, cp_err_t *e)
{
    char buf[IDENT_FILE_MAX + 2];
    struct stat st;
    ssize_t n = 0, r;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    if (fd < 0 && errno == ENOENT)
        return CP_DECLINED;
    if (fd < 0 && errno == ELOOP)
        return cp_err_set(e, 0, NULL, "%s is a symbolic link; the instance key must be a file of its own",
                          path);
    if (fd < 0)
        return cp_err_set(e, 0, NULL, "cannot read %s: %s", path, strerror(errno));
    if (fstat(fd, &st) == -1) {
        int err = errno;
        close(fd);
        return cp_err_set(e, 0, NULL, "cannot read %s: %s", path, strerror(err));
    }
    if (ident_file_safe(path, &st, e) != CP_OK) {
        close(fd);
        return CP_ERR;
    }
    while (n < (ssize_t)sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - (size_t)n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        n += r;
    }
    close(fd);
    if (n == IDENT_FILE_MAX && buf[n - 1] == '\n')
        n--;
    for (ssize_t i = 0; n == CP_IDENT_HEX && i < n; i++)
        if (ident_hexval(buf[i]) < 0)
            n = -1;
    if (n != CP_IDENT_HEX) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return cp_err_set(e, 0, NULL,
                          "%s is not an instance key (64 hex digits); remove it (a new key is made)", path);
    }
    for (size_t i = 0; i < CP_IDENT_KEY_BYTES; i++)
        k->b[i] = (unsigned char)(ident_hexval(buf[2 * i]) << 4 | ident_hexval(buf[2 * i + 1]));
    OPENSSL_cleanse(buf, sizeof(buf));
    return CP_OK;
}

/* Writes a new random key to a fresh temporary file next to <path> and links it into place; when
 * another process linked its own first, that one stays. Returns CP_OK (the caller loads the file) or
 * CP_ERR. */
static int ident_create(const char *path, cp_err_t *e)
{
    unsigned char b[CP_IDENT_KEY_BYTES];
    char text[IDENT_FILE_MAX + 1], tmp[PATH_MAX];
    int fd = -1, rc = CP_ERR, w;

    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return cp_err_set(e, 0, NULL, "cannot make an instance key: no random bytes from the kernel");
    ident_hex(b, sizeof(b), text);
    OPENSSL_cleanse(b, sizeof(b));
    text[CP_IDENT_HEX] = '\n';
    w = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    if (w <= 0 || (size_t)w >= sizeof(tmp)) {
        cp_err_set(e, 0, NULL, "the path %s is too long", path);
        goto out;
    }
    for (int tries = 0; fd < 0 && tries < 2; tries++) {
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST)
            (void)unlink(tmp); /* left by a process of the same pid that died: ours to replace */
        else if (fd < 0)
            break;
    }
    if (fd < 0 || write(fd, text, IDENT_FILE_MAX) != IDENT_FILE_MAX || fsync(fd) == -1) {
        cp_err_set(e, 0, NULL, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (link(tmp, path) == 0 || errno == EEXIST)
        rc = CP_OK; /* EEXIST: another process made one first; everyone uses that one */
    else if ((errno == EPERM || errno == EOPNOTSUPP) && rename(tmp, path) == 0)
        rc = CP_OK; /* a file system without hard links */
    else
        cp_err_set(e, 0, NULL, "cannot create %s: %s", path, strerror(errno));
out:
    if (fd >= 0) {
        close(fd);
        (void)unlink(tmp);
    }
    OPENSSL_cleanse(text, sizeof(text));
    return rc;
}

int cp_ident_load_or_create(const char *path, cp_ident_key_t *k, cp_err_t *e)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int rc = cp_ident_load(path, k, e);

    if (rc != CP_DECLINED)
        return rc;
    if (slash != NULL && slash != path && (size_t)(slash - path) < sizeof(dir)) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
        if (mkdir(dir, 0700) == -1 && errno != EEXIST)
            return cp_err_set(e, 0, NULL, "cannot create %s: %s", dir, strerror(errno));
    }
    if (ident_create(path, e) != CP_OK)
        return CP_ERR;
    rc = cp_ident_load(path, k, e);
    return rc == CP_DECLINED ? cp_err_set(e, 0, NULL, "%s vanished while it was made", path) : rc;
}

/* ---- the server's key -------------------------------------------------------------------------- */

static cp_ident_key_t ident_server;
static int ident_server_have;

void cp_ident_server_load(void)
{
    char path[PATH_MAX];
    cp_err_t e = {0};

    if (cp_ident_path(getenv("HOME"), path, sizeof(path)) != CP_OK) {
        cp_log(CP_LOG_INFO, "no HOME, so no instance key: /health offers no proof of identity (launchers "
                            "will not send claude here)");
        return;
    }
    if (cp_ident_load_or_create(path, &ident_server, &e) != CP_OK) {
        cp_ident_key_wipe(&ident_server);
        cp_log(CP_LOG_WARN,
               "instance key refused: %s. /health offers no proof of identity, so launchers will not send "
               "claude here",
               e.msg);
        return;
    }
    ident_server_have = 1;
}

const cp_ident_key_t *cp_ident_server_key(void)
{
    return ident_server_have ? &ident_server : NULL;
}
