/* lib/net/cp_tls.h: TLS on the listener (server.tls, docs/deployment.md).
 *
 * One server context per configuration: the certificate chain and the private key of server.tls,
 * TLS 1.2 or 1.3 at least (server.tls.minVersion), OpenSSL's default ciphers, no renegotiation, no
 * compression, ALPN "http/1.1" when the client offers it. Each accepted connection gets its own SSL
 * from the context current at accept (lib/net/cp_conn.c); an SSL holds a reference to its context,
 * so a reload (SIGHUP) swaps in a new context for new connections while the open ones finish on the
 * old one.
 *
 * The files are read by this module, not by OpenSSL's file loaders: each must be a regular file of at
 * most CP_TLS_FILE_MAX bytes (a FIFO or a device would block the loop), and an encrypted key is refused
 * with a message instead of a passphrase prompt on the terminal. A key file that other users can read
 * gets a warning (readable by the file's group is fine when this process is in that group: the
 * root:ccproxy 0640 pattern). Start and reload only: reading files blocks. */
#ifndef CP_TLS_H
#define CP_TLS_H

#include <openssl/ssl.h>

#include "cp_common.h"
#include "cp_config.h"

#define CP_TLS_FILE_MAX (1u << 20) /* a certificate chain or key file, bytes */

typedef struct cp_tls cp_tls_t;

/* Loads the context of <cfg>'s server.tls into <*out>: NULL when TLS is off. Returns CP_OK, or CP_ERR
 * with <e> naming the file and what is wrong with it (nothing is logged then). Warnings (a readable
 * key, a certificate out of its validity period) are logged. */
int cp_tls_load(const cp_config_t *cfg, cp_tls_t **out, cp_err_t *e);

/* Drops the context; connections that use it keep it until they close. NULL is fine. */
void cp_tls_free(cp_tls_t *t);

/* A new SSL in the accepting state for one connection, owned by the caller (its bufferevent frees
 * it); NULL when out of memory. */
SSL *cp_tls_ssl(cp_tls_t *t);

/* One line for the log: the certificate's subject, expiry and the minimum version. */
const char *cp_tls_describe(const cp_tls_t *t);

#endif
