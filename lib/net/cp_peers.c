/* lib/net/cp_peers.c: see cp_peers.h. Open addressing with linear probing and backward-shift
 * deletion (no tombstones), resized at 50 % load; the hash is keyed per table so that a client
 * cannot choose addresses that collide. */
#include "cp_peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cp_common.h"

typedef struct peer_slot {
    cp_peer_key_t key;
    unsigned n; /* 0: empty */
} peer_slot_t;

struct cp_peers {
    peer_slot_t *slots;
    size_t cap; /* a power of two */
    size_t used;
    uint64_t seed;
};

cp_peers_t *cp_peers_new(void)
{
    cp_peers_t *p = cp_xcalloc(1, sizeof(*p));

    p->cap = 64;
    p->slots = cp_xcalloc(p->cap, sizeof(*p->slots));
    if (getrandom(&p->seed, sizeof(p->seed), GRND_NONBLOCK) != (ssize_t)sizeof(p->seed))
        p->seed = cp_mono_us() ^ (uint64_t)(uintptr_t)p;
    return p;
}

void cp_peers_free(cp_peers_t *p)
{
    if (p == NULL)
        return;
    free(p->slots);
    free(p);
}

cp_peer_key_t cp_peer_key(const struct sockaddr *sa, socklen_t len)
{
    cp_peer_key_t k;

    memset(&k, 0, sizeof(k));
    if (sa != NULL && sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        k.b[10] = k.b[11] = 0xff;
        memcpy(k.b + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa != NULL && sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        memcpy(k.b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
    return k;
}

/* FNV-1a over the key, mixed with the table's seed. */
static size_t peers_hash(const cp_peers_t *p, const cp_peer_key_t *k)
{
    uint64_t h = 1469598103934665603ULL ^ p->seed;

    for (size_t i = 0; i < sizeof(k->b); i++)
        h = (h ^ k->b[i]) * 1099511628211ULL;
    h ^= h >> 29;
    return (size_t)h;
}

static size_t peers_find(const cp_peers_t *p, const cp_peer_key_t *k)
{
    size_t i = peers_hash(p, k) & (p->cap - 1);

    while (p->slots[i].n != 0 && memcmp(&p->slots[i].key, k, sizeof(*k)) != 0)
        i = (i + 1) & (p->cap - 1);
    return i;
}

static void peers_grow(cp_peers_t *p)
{
    peer_slot_t *old = p->slots;
    size_t oldcap = p->cap;

    p->cap *= 2;
    p->slots = cp_xcalloc(p->cap, sizeof(*p->slots));
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].n != 0)
            p->slots[peers_find(p, &old[i].key)] = old[i];
    free(old);
}

unsigned cp_peers_add(cp_peers_t *p, const cp_peer_key_t *k)
{
    size_t i;

    if ((p->used + 1) * 2 > p->cap)
        peers_grow(p);
    i = peers_find(p, k);
    if (p->slots[i].n == 0) {
        p->slots[i].key = *k;
        p->used++;
    }
    return ++p->slots[i].n;
}

void cp_peers_del(cp_peers_t *p, const cp_peer_key_t *k)
{
    size_t i = peers_find(p, k), j;

    if (p->slots[i].n == 0 || --p->slots[i].n > 0)
        return;
    p->used--;
    /* backward shift: move later entries of the run into the hole when their home allows it */
    for (j = (i + 1) & (p->cap - 1); p->slots[j].n != 0; j = (j + 1) & (p->cap - 1)) {
        size_t home = peers_hash(p, &p->slots[j].key) & (p->cap - 1);
        if (((j - home) & (p->cap - 1)) >= ((j - i) & (p->cap - 1))) {
            p->slots[i] = p->slots[j];
            p->slots[j].n = 0;
            i = j;
        }
    }
}

size_t cp_peers_count(const cp_peers_t *p)
{
    return p->used;
}

void cp_peer_key_str(const cp_peer_key_t *k, char *buf, size_t n)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (n == 0)
        return;
    if (memcmp(k->b, mapped, 12) == 0) {
        if (inet_ntop(AF_INET, k->b + 12, buf, (socklen_t)n) == NULL)
            buf[0] = '\0';
    } else if (inet_ntop(AF_INET6, k->b, buf, (socklen_t)n) == NULL) {
        buf[0] = '\0';
    }
}
