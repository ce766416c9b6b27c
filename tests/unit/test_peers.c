/* Unit tests for lib/net/cp_peers.c: per-peer connection counts through growth and deletion. */
#include "cp_unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "cp_peers.h"

static cp_peer_key_t v4(uint32_t a)
{
    struct sockaddr_in sin;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(a);
    return cp_peer_key((struct sockaddr *)&sin, sizeof(sin));
}

static void test_counts(void **st)
{
    cp_peers_t *p = cp_peers_new();
    cp_peer_key_t a = v4(0x7f000001), b = v4(0x0a000001);
    char s[64];

    (void)st;
    assert_int_equal(cp_peers_add(p, &a), 1);
    assert_int_equal(cp_peers_add(p, &a), 2);
    assert_int_equal(cp_peers_add(p, &b), 1);
    assert_int_equal(cp_peers_count(p), 2);
    cp_peers_del(p, &a);
    assert_int_equal(cp_peers_add(p, &a), 2);
    cp_peers_del(p, &a);
    cp_peers_del(p, &a);
    assert_int_equal(cp_peers_count(p), 1);
    cp_peers_del(p, &a); /* not counted: ignored */
    assert_int_equal(cp_peers_count(p), 1);
    cp_peer_key_str(&b, s, sizeof(s));
    assert_string_equal(s, "10.0.0.1");
    cp_peers_free(p);
}

static void test_mapped_and_v6(void **st)
{
    struct sockaddr_in6 s6;
    cp_peer_key_t m, a = v4(0xc0a80001), k6;
    char s[64];
    cp_peers_t *p = cp_peers_new();

    (void)st;
    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:192.168.0.1", &s6.sin6_addr);
    m = cp_peer_key((struct sockaddr *)&s6, sizeof(s6));
    assert_int_equal(cp_peers_add(p, &a), 1);
    assert_int_equal(cp_peers_add(p, &m), 2); /* the same peer */
    inet_pton(AF_INET6, "2001:db8::7", &s6.sin6_addr);
    k6 = cp_peer_key((struct sockaddr *)&s6, sizeof(s6));
    assert_int_equal(cp_peers_add(p, &k6), 1);
    cp_peer_key_str(&k6, s, sizeof(s));
    assert_string_equal(s, "2001:db8::7");
    /* short or missing addresses count as one unknown peer, never crash */
    k6 = cp_peer_key(NULL, 0);
    assert_int_equal(cp_peers_add(p, &k6), 1);
    k6 = cp_peer_key((struct sockaddr *)&s6, 4);
    assert_int_equal(cp_peers_add(p, &k6), 2);
    cp_peers_free(p);
}

/* Thousands of peers in, every second one out, then all out: counts stay exact (a lost entry after
 * a backward shift would show as a count of 1 instead of 2). */
static void test_growth_and_shift(void **st)
{
    cp_peers_t *p = cp_peers_new();
    enum { N = 5000 };

    (void)st;
    for (uint32_t i = 0; i < N; i++) {
        cp_peer_key_t k = v4(i);
        assert_int_equal(cp_peers_add(p, &k), 1);
        assert_int_equal(cp_peers_add(p, &k), 2);
    }
    assert_int_equal(cp_peers_count(p), N);
    for (uint32_t i = 0; i < N; i += 2) {
        cp_peer_key_t k = v4(i);
        cp_peers_del(p, &k);
        cp_peers_del(p, &k);
    }
    assert_int_equal(cp_peers_count(p), N / 2);
    for (uint32_t i = 1; i < N; i += 2) {
        cp_peer_key_t k = v4(i);
        assert_int_equal(cp_peers_add(p, &k), 3);
    }
    for (uint32_t i = 0; i < N; i += 2) {
        cp_peer_key_t k = v4(i);
        assert_int_equal(cp_peers_add(p, &k), 1);
    }
    cp_peers_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_mapped_and_v6),
        cmocka_unit_test(test_growth_and_shift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
