/* lib/net/cp_tls.c: see cp_tls.h. */
#include "cp_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cp_log.h"
#include "cp_trust.h"

struct cp_tls {
    SSL_CTX *ctx;   /* one reference; each SSL made from it holds another */
    char desc[512]; /* cp_tls_describe */
};

/* An encrypted key is refused, never prompted for (OpenSSL would ask on the terminal). */
static int tls_no_passphrase(char *buf, int size, int rwflag, void *ud)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)ud;
    return -1;
}

/* OpenSSL's oldest queued error as text (the queue is then cleared). */
static const char *tls_openssl_error(char *buf, size_t n)
{
    unsigned long err = ERR_peek_error();

    if (err == 0)
        snprintf(buf, n, "no PEM data found");
    else
        ERR_error_string_n(err, buf, n);
    ERR_clear_error();
    return buf;
}

/* Whether this process is in group <gid>. */
static int tls_in_group(gid_t gid)
{
    gid_t groups[256];
    int n = getgroups(256, groups);

    if (gid == getegid())
        return 1;
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return 1;
    return 0;
}

/* The key file's permission warning (see cp_tls.h). */
static void tls_warn_readable(const cp_trust_file_t *f)
{
    struct stat st;

    if ((f->mode & 044) == 0 || stat(f->real, &st) != 0)
        return;
    if ((f->mode & 004) == 0 && tls_in_group(st.st_gid))
        return;
    cp_log(CP_LOG_WARN,
           "%s holds the TLS private key (server.tls.key) and other users can read it (mode %04o); run: "
           "chmod 600 %s (or 640 with the group of the service)",
           f->real, f->mode, f->real);
}

/* Reads server.tls.<field> at <path> into <f>. Returns CP_OK or CP_ERR with <e> set. */
static int tls_read(const char *field, const char *path, cp_trust_file_t *f, cp_err_t *e)
{
    cp_err_t why = {0};
    int rc = cp_trust_read(path, 1, f, &why);

    if (rc == CP_OK && f->len <= CP_TLS_FILE_MAX)
        return CP_OK;
    if (rc == CP_OK)
        snprintf(why.msg, sizeof(why.msg), "%s: larger than %u bytes", path, CP_TLS_FILE_MAX);
    cp_trust_file_free(f);
    return cp_err_set(e, 0, NULL, "server.tls.%s: %s", field, rc == CP_DECLINED ? "no such file" : why.msg);
}

/* The leaf certificate then the rest of the chain, from PEM text (as
 * SSL_CTX_use_certificate_chain_file does). */
static int tls_use_chain(SSL_CTX *ctx, const cp_trust_file_t *f, cp_err_t *e)
{
    BIO *bio = BIO_new_mem_buf(f->data, (int)f->len);
    X509 *x = bio != NULL ? PEM_read_bio_X509_AUX(bio, NULL, tls_no_passphrase, NULL) : NULL;
    char err[256];
    int rc = CP_ERR;

    if (x == NULL || SSL_CTX_use_certificate(ctx, x) != 1) {
        cp_err_set(e, 0, NULL, "server.tls.cert: %s: not a PEM certificate (%s)", f->real,
                   tls_openssl_error(err, sizeof(err)));
        goto out;
    }
    for (;;) {
        X509 *ca = PEM_read_bio_X509(bio, NULL, tls_no_passphrase, NULL);
        if (ca == NULL)
            break;
        if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) { /* takes <ca> on success */
            X509_free(ca);
            cp_err_set(e, 0, NULL, "server.tls.cert: %s: cannot use a chain certificate (%s)", f->real,
                       tls_openssl_error(err, sizeof(err)));
            goto out;
        }
    }
    ERR_clear_error(); /* the end of the file ends the loop with a "no start line" error */
    rc = CP_OK;
out:
    X509_free(x);
    BIO_free(bio);
    return rc;
}

static int tls_use_key(SSL_CTX *ctx, const cp_trust_file_t *f, cp_err_t *e)
{
    BIO *bio = BIO_new_mem_buf(f->data, (int)f->len);
    EVP_PKEY *k = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, NULL) : NULL;
    char err[256];
    int rc = CP_ERR;

    if (k == NULL) {
        if (strstr(f->data, "ENCRYPTED") != NULL)
            cp_err_set(e, 0, NULL,
                       "server.tls.key: %s: the key is encrypted; ccproxy cannot ask for a passphrase "
                       "(decrypt it: openssl pkey -in KEY -out KEY.plain, then chmod 600)",
                       f->real);
        else
            cp_err_set(e, 0, NULL, "server.tls.key: %s: not a PEM private key (%s)", f->real,
                       tls_openssl_error(err, sizeof(err)));
    } else if (SSL_CTX_use_PrivateKey(ctx, k) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        cp_err_set(e, 0, NULL, "server.tls.key: %s: does not match the certificate in server.tls.cert (%s)",
                   f->real, tls_openssl_error(err, sizeof(err)));
    } else {
        rc = CP_OK;
    }
    EVP_PKEY_free(k);
    BIO_free(bio);
    return rc;
}

/* ALPN: HTTP/1.1 when offered; anything else (h2 alone) goes on without ALPN, as HTTP/1.1. */
static int tls_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                    unsigned inlen, void *ud)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel = NULL;

    (void)ssl;
    (void)ud;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* Logs a certificate outside its validity period, and describes it into t->desc. */
static void tls_check_dates(cp_tls_t *t, const char *path)
{
    X509 *x = SSL_CTX_get0_certificate(t->ctx);
    char subject[256] = "?", until[64] = "?";
    BIO *b = BIO_new(BIO_s_mem());

    if (x == NULL)
        return;
    X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
    if (b != NULL && ASN1_TIME_print(b, X509_get0_notAfter(x)) == 1) {
        int n = BIO_read(b, until, (int)sizeof(until) - 1);
        until[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
    snprintf(t->desc, sizeof(t->desc), "subject %s, valid until %s", subject, until);
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
        cp_log(CP_LOG_WARN, "the TLS certificate %s has expired (%s): clients will refuse it", path, until);
    else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
        cp_log(CP_LOG_WARN, "the TLS certificate %s is not valid yet: clients will refuse it", path);
}

static SSL_CTX *tls_ctx_new(int min_version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx,
                        SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* buffers go back to the allocator while a connection is idle: thousands of quiet streams */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_default_passwd_cb(ctx, tls_no_passphrase);
    SSL_CTX_set_alpn_select_cb(ctx, tls_alpn, NULL);
    return ctx;
}

int cp_tls_load(const cp_config_t *cfg, cp_tls_t **out, cp_err_t *e)
{
    cp_trust_file_t cert = {0}, key = {0};
    cp_tls_t *t = NULL;
    int rc = CP_ERR;

    *out = NULL;
    if (cfg->tls_cert == NULL)
        return CP_OK;
    if (tls_read("cert", cfg->tls_cert, &cert, e) != CP_OK || tls_read("key", cfg->tls_key, &key, e) != CP_OK)
        goto out;
    t = cp_xcalloc(1, sizeof(*t));
    if ((t->ctx = tls_ctx_new(cfg->tls_min_version)) == NULL) {
        cp_err_set(e, 0, NULL, "server.tls: cannot create a TLS context");
        goto out;
    }
    if (tls_use_chain(t->ctx, &cert, e) != CP_OK || tls_use_key(t->ctx, &key, e) != CP_OK)
        goto out;
    tls_warn_readable(&key);
    tls_check_dates(t, cert.real);
    *out = t;
    t = NULL;
    rc = CP_OK;
out:
    if (key.data != NULL)
        OPENSSL_cleanse(key.data, key.len);
    cp_trust_file_free(&cert);
    cp_trust_file_free(&key);
    cp_tls_free(t);
    if (rc != CP_OK && e != NULL)
        e->config = 1;
    return rc;
}

void cp_tls_free(cp_tls_t *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

SSL *cp_tls_ssl(cp_tls_t *t)
{
    return SSL_new(t->ctx);
}

const char *cp_tls_describe(const cp_tls_t *t)
{
    return t->desc;
}
