/* Unit tests for lib/cli/cp_ident.c: nonces, the server's proof and the client's credential (pinned by
 * known answers computed with `openssl dgst -sha256 -mac HMAC`), the configuration digest, loopback
 * peers, and the instance key file: its checks (mode, owner, symbolic link, contents) and two
 * processes creating it at once. */
#include "cp_unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "cp_ident.h"

#define NONCE  "0123456789abcdef0123456789abcdef"
#define DIGEST "abababababababababababababababababababababababababababababababab"

static void key_0_31(cp_ident_key_t *k)
{
    for (int i = 0; i < CP_IDENT_KEY_BYTES; i++)
        k->b[i] = (unsigned char)i;
}

static void test_nonce_ok(void **s)
{
    char big[4096];

    (void)s;
    assert_true(cp_ident_nonce_ok(NONCE));
    assert_true(cp_ident_nonce_ok(NONCE NONCE));                              /* 64 */
    assert_true(cp_ident_nonce_ok("0123456789ABCDEF0123456789ABCDEF"));       /* either case */
    assert_false(cp_ident_nonce_ok(NULL));                                    /* missing */
    assert_false(cp_ident_nonce_ok(""));                                      /* empty */
    assert_false(cp_ident_nonce_ok("0123456789abcdef0123456789abcde"));       /* 31 */
    assert_false(cp_ident_nonce_ok(NONCE NONCE "0"));                         /* 65 */
    assert_false(cp_ident_nonce_ok("0123456789abcdef0123456789abcdeg"));      /* not hex */
    assert_false(cp_ident_nonce_ok("0123456789abcdef 0123456789abcdef"));     /* a space */
    assert_false(cp_ident_nonce_ok("0123456789abcdef0123456789abcdef\n"));    /* a newline */
    assert_false(cp_ident_nonce_ok("0123456789abcdef0123456789abcdef\r\nx")); /* header injection */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_false(cp_ident_nonce_ok(big)); /* huge */
}

static void test_nonce_new(void **s)
{
    char a[CP_IDENT_NONCE_MAX + 1], b[CP_IDENT_NONCE_MAX + 1];

    (void)s;
    assert_int_equal(cp_ident_nonce_new(a), CP_OK);
    assert_int_equal(cp_ident_nonce_new(b), CP_OK);
    assert_int_equal(strlen(a), 64);
    assert_true(cp_ident_nonce_ok(a));
    assert_string_not_equal(a, b);
}

static void test_proof(void **s)
{
    cp_ident_key_t k, other;
    char proof[CP_IDENT_HEX + 1], upper[CP_IDENT_HEX + 1];

    (void)s;
    key_0_31(&k);
    cp_ident_proof(&k, NONCE, 4242, DIGEST, proof);
    /* printf 'ccproxy-health-v1\n%s\n4242\n%s' NONCE DIGEST | openssl dgst -sha256 -mac HMAC -macopt
     * hexkey:00..1f */
    assert_string_equal(proof, "30530db2e792abeee08ebb26e75bad4ce745850398da39e6a069a989db75bea6");
    assert_true(cp_ident_proof_ok(&k, NONCE, 4242, DIGEST, proof));
    /* any other value, key or proof does not verify */
    assert_false(cp_ident_proof_ok(&k, NONCE, 4243, DIGEST, proof));
    assert_false(cp_ident_proof_ok(&k, "1123456789abcdef0123456789abcdef", 4242, DIGEST, proof));
    assert_false(cp_ident_proof_ok(&k, NONCE, 4242, "ab" DIGEST, proof));
    assert_false(cp_ident_proof_ok(&k, NONCE, 4242, NULL, proof));
    assert_false(cp_ident_proof_ok(&k, "short", 4242, DIGEST, proof));
    other = k;
    other.b[31] ^= 1;
    assert_false(cp_ident_proof_ok(&other, NONCE, 4242, DIGEST, proof));
    assert_false(cp_ident_proof_ok(&k, NONCE, 4242, DIGEST, NULL));
    assert_false(cp_ident_proof_ok(&k, NONCE, 4242, DIGEST, ""));
    assert_false(cp_ident_proof_ok(&k, NONCE, 4242, DIGEST, "30530db2e792"));
    assert_false(cp_ident_proof_ok(&k, NONCE, 4242, DIGEST, DIGEST));
    {
        char longer[CP_IDENT_HEX + 2];
        snprintf(longer, sizeof(longer), "%s0", proof);
        assert_false(cp_ident_proof_ok(&k, NONCE, 4242, DIGEST, longer));
    }
    for (int i = 0; i <= CP_IDENT_HEX; i++)
        upper[i] = (char)(proof[i] >= 'a' && proof[i] <= 'f' ? proof[i] - 32 : proof[i]);
    assert_false(cp_ident_proof_ok(&k, NONCE, 4242, DIGEST, upper));
}

static void test_client_auth(void **s)
{
    cp_ident_key_t k;
    char auth[CP_IDENT_HEX + 1], proof[CP_IDENT_HEX + 1];

    (void)s;
    key_0_31(&k);
    cp_ident_client_auth(&k, NONCE, auth);
    /* printf 'ccproxy-health-client-v1\n%s' NONCE | openssl dgst -sha256 -mac HMAC -macopt hexkey:00..1f */
    assert_string_equal(auth, "a015d2889ac6a15aa133079518457e2e9b03b6509e2e31b885017fde7a4e68eb");
    assert_true(cp_ident_client_ok(&k, NONCE, auth));
    assert_false(cp_ident_client_ok(&k, NONCE NONCE, auth));
    assert_false(cp_ident_client_ok(&k, NULL, auth));
    assert_false(cp_ident_client_ok(&k, NONCE, NULL));
    assert_false(cp_ident_client_ok(&k, NONCE, "a015"));
    /* a proof is never a credential: different labels */
    cp_ident_proof(&k, NONCE, 1, "", proof);
    assert_false(cp_ident_client_ok(&k, NONCE, proof));
}

static void test_config_digest(void **s)
{
    cp_ident_key_t k, other;
    char a[CP_IDENT_HEX + 1], b[CP_IDENT_HEX + 1];
    json_t *one = unit_jq("{'server':{'port':1},'models':{'bigModel':'b'},'logging':{'level':'info'}}");
    json_t *two = unit_jq("{'logging':{'level':'debug'},'models':{'bigModel':'b'},'server':{'port':1}}");
    json_t *three = unit_jq("{'server':{'port':1},'models':{'bigModel':'c'}}");
    json_t *arr = unit_jq("[1]");

    (void)s;
    key_0_31(&k);
    assert_int_equal(cp_ident_config_digest(&k, one, a), CP_OK);
    /* printf '{"models":{"bigModel":"b"},"server":{"port":1}}' | openssl dgst -sha256 -mac HMAC ... */
    assert_string_equal(a, "4eafdfb451fa03b77afd17fa358e26ec55b1248cbd1476c3413e721b7999be35");
    assert_int_equal(cp_ident_config_digest(&k, two, b), CP_OK);
    assert_string_equal(a, b);                        /* key order and logging do not count */
    assert_non_null(json_object_get(one, "logging")); /* the caller's tree is left whole */
    assert_int_equal(cp_ident_config_digest(&k, three, b), CP_OK);
    assert_string_not_equal(a, b); /* a changed model does */
    other = k;
    other.b[0] ^= 0x80;
    assert_int_equal(cp_ident_config_digest(&other, one, b), CP_OK);
    assert_string_not_equal(a, b); /* another key, another digest */
    assert_int_equal(cp_ident_config_digest(&k, arr, b), CP_ERR);
    assert_string_equal(b, "");
    assert_int_equal(cp_ident_config_digest(&k, NULL, b), CP_ERR);
    json_decref(one);
    json_decref(two);
    json_decref(three);
    json_decref(arr);
}

static int loopback4(const char *ip)
{
    struct sockaddr_in in = {.sin_family = AF_INET};

    assert_int_equal(inet_pton(AF_INET, ip, &in.sin_addr), 1);
    return cp_ident_peer_loopback((struct sockaddr *)&in);
}

static int loopback6(const char *ip)
{
    struct sockaddr_in6 in = {.sin6_family = AF_INET6};

    assert_int_equal(inet_pton(AF_INET6, ip, &in.sin6_addr), 1);
    return cp_ident_peer_loopback((struct sockaddr *)&in);
}

static void test_loopback(void **s)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};

    (void)s;
    assert_true(loopback4("127.0.0.1"));
    assert_true(loopback4("127.255.3.4"));
    assert_false(loopback4("128.0.0.1"));
    assert_false(loopback4("10.0.0.1"));
    assert_false(loopback4("0.0.0.0"));
    assert_false(loopback4("192.0.2.2"));
    assert_true(loopback6("::1"));
    assert_true(loopback6("::ffff:127.0.0.1"));
    assert_false(loopback6("::ffff:10.0.0.1"));
    assert_false(loopback6("::"));
    assert_false(loopback6("fe80::1"));
    assert_false(loopback6("::2"));
    assert_false(cp_ident_peer_loopback(NULL));
    assert_false(cp_ident_peer_loopback((struct sockaddr *)&un));
}

/* ---- the key file ---------------------------------------------------------------------------------- */

static void write_raw(const char *path, const char *bytes, size_t n, mode_t mode)
{
    FILE *f;

    unlink(path);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void expect_refused(const char *path, const char *words)
{
    cp_ident_key_t k;
    cp_err_t e = {0};

    assert_int_equal(cp_ident_load(path, &k, &e), CP_ERR);
    if (strstr(e.msg, words) == NULL)
        fail_msg("expected \"%s\" in: %s", words, e.msg);
    memset(&e, 0, sizeof(e));
    assert_int_equal(cp_ident_load_or_create(path, &k, &e), CP_ERR); /* never replaced behind the user */
}

static void test_key_file(void **s)
{
    char *home = unit_tmpdir();
    char path[1024], dir[1024], text[200], big[100000];
    cp_ident_key_t k, again;
    cp_err_t e = {0};
    struct stat st;
    FILE *f;

    (void)s;
    assert_int_equal(cp_ident_path(NULL, path, sizeof(path)), CP_ERR);
    assert_int_equal(cp_ident_path("", path, sizeof(path)), CP_ERR);
    assert_int_equal(cp_ident_path(home, path, 10), CP_ERR);
    assert_int_equal(cp_ident_path(home, path, sizeof(path)), CP_OK);
    snprintf(dir, sizeof(dir), "%s/.ccproxy", home);
    assert_int_equal(cp_ident_load(path, &k, &e), CP_DECLINED); /* missing */

    /* created: directory 0700, file 0600, 64 hex digits and a newline; loaded back the same */
    assert_int_equal(cp_ident_load_or_create(path, &k, &e), CP_OK);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);
    f = fopen(path, "r");
    assert_non_null(fgets(text, sizeof(text), f));
    fclose(f);
    assert_int_equal(strlen(text), 65);
    assert_int_equal(cp_ident_load(path, &again, &e), CP_OK);
    assert_memory_equal(k.b, again.b, sizeof(k.b));
    assert_int_equal(cp_ident_load_or_create(path, &again, &e), CP_OK); /* an existing one is kept */
    assert_memory_equal(k.b, again.b, sizeof(k.b));

    /* open to group or others: refused, with what to do */
    assert_int_equal(chmod(path, 0640), 0);
    expect_refused(path, "mode 0640");
    expect_refused(path, "chmod 600");
    assert_int_equal(chmod(path, 0604), 0);
    expect_refused(path, "open to other users");
    assert_int_equal(chmod(path, 0602), 0);
    expect_refused(path, "mode 0602");
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(cp_ident_load(path, &again, &e), CP_OK); /* read-only for the owner is fine */
    assert_int_equal(chmod(path, 0600), 0);

    /* another user's file (only root can make one here) */
    if (geteuid() == 0) {
        assert_int_equal(chown(path, 65534, 65534), 0);
        expect_refused(path, "belongs to uid 65534");
        assert_int_equal(chown(path, 0, 0), 0);
    }

    /* what is not a key: a symbolic link to a good key, a directory, a FIFO, wrong contents */
    snprintf(dir, sizeof(dir), "%s/real.key", home);
    write_raw(dir, text, 65, 0600);
    unlink(path);
    assert_int_equal(symlink(dir, path), 0);
    expect_refused(path, "symbolic link");
    unlink(path);
    assert_int_equal(mkdir(path, 0700), 0);
    expect_refused(path, "not a regular file");
    rmdir(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    expect_refused(path, "not a regular file"); /* and it did not block on the FIFO */
    unlink(path);
    write_raw(path, "", 0, 0600);
    expect_refused(path, "not an instance key");
    write_raw(path, text, 63, 0600);
    expect_refused(path, "not an instance key");
    write_raw(path, text, 64, 0600);
    assert_int_equal(cp_ident_load(path, &again, &e), CP_OK); /* without the newline: fine */
    memcpy(big, text, 64);
    memcpy(big + 64, "\n\n", 2);
    write_raw(path, big, 66, 0600);
    expect_refused(path, "not an instance key");
    big[10] = 'g';
    write_raw(path, big, 65, 0600);
    expect_refused(path, "not an instance key");
    big[10] = '\0'; /* a NUL inside */
    write_raw(path, big, 65, 0600);
    expect_refused(path, "not an instance key");
    memset(big, 'a', sizeof(big));
    write_raw(path, big, sizeof(big), 0600); /* huge */
    expect_refused(path, "not an instance key");
    unit_rmtree(home);
    free(home);
}

/* Eight processes create the key at once: one file, every process ends with its contents, and no
 * temporary file is left. */
static void test_key_created_once(void **s)
{
    enum { N = 8 };
    char *home = unit_tmpdir();
    char path[1024], cmd[1200];
    cp_ident_key_t first, got;
    int fds[2];
    pid_t kids[N];
    cp_err_t e = {0};

    (void)s;
    assert_int_equal(cp_ident_path(home, path, sizeof(path)), CP_OK);
    assert_int_equal(pipe(fds), 0);
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            cp_ident_key_t k;
            cp_err_t ce = {0};
            int ok = cp_ident_load_or_create(path, &k, &ce) == CP_OK;
            if (!ok)
                memset(&k, 0xee, sizeof(k));
            _exit(write(fds[1], &k, sizeof(k)) == (ssize_t)sizeof(k) && ok ? 0 : 1);
        }
    }
    close(fds[1]);
    for (int i = 0; i < N; i++) {
        int st = 0;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(cp_ident_load(path, &first, &e), CP_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(read(fds[0], &got, sizeof(got)), sizeof(got));
        assert_memory_equal(got.b, first.b, sizeof(got.b));
    }
    close(fds[0]);
    snprintf(cmd, sizeof(cmd), "test $(ls -A '%s/.ccproxy' | wc -l) -eq 1", home);
    assert_int_equal(system(cmd), 0);
    unit_rmtree(home);
    free(home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonce_ok),      cmocka_unit_test(test_nonce_new),
        cmocka_unit_test(test_proof),         cmocka_unit_test(test_client_auth),
        cmocka_unit_test(test_config_digest), cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_key_file),      cmocka_unit_test(test_key_created_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
