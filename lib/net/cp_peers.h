/* lib/net/cp_peers.h: open client connections counted per peer address, for
 * server.maxConnectionsPerPeer. An IPv4-mapped IPv6 address counts as its IPv4 address; a Unix
 * socket or an unknown family counts as one peer. A hash table that grows; pure, no I/O. */
#ifndef CP_PEERS_H
#define CP_PEERS_H

#include <stddef.h>
#include <sys/socket.h>

typedef struct cp_peers cp_peers_t;

/* The key of an address: 16 bytes (IPv4 as IPv4-mapped IPv6). */
typedef struct cp_peer_key {
    unsigned char b[16];
} cp_peer_key_t;

cp_peers_t *cp_peers_new(void);
void cp_peers_free(cp_peers_t *p); /* accepts NULL */

/* The key of <sa> (<len> bytes; NULL or too short: the all-zero key). */
cp_peer_key_t cp_peer_key(const struct sockaddr *sa, socklen_t len);

/* Counts one more connection from <k>; returns the count including it. */
unsigned cp_peers_add(cp_peers_t *p, const cp_peer_key_t *k);

/* Counts one connection from <k> less (a key not counted is ignored). */
void cp_peers_del(cp_peers_t *p, const cp_peer_key_t *k);

/* Peers with at least one connection. */
size_t cp_peers_count(const cp_peers_t *p);

/* Writes <k> as text (IPv4 dotted, else IPv6) into <buf>. */
void cp_peer_key_str(const cp_peer_key_t *k, char *buf, size_t n);

#endif
