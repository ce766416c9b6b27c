/* Unit tests for lib/cli/cp_ctl.c: the client address of a bound host; reading /health answers and
 * their proof of identity (an impostor's answers: no proof, a wrong one, one replayed from another
 * probe, a pid that is not the signed one); and the pid-file checks before `stop` signals anything,
 * against real processes: one that holds the file's lock, `sleep` holding it, another user's process,
 * a non-dumpable holder checked by an ordinary user (whose /proc/PID/exe is hidden), stale and
 * hostile pid files. */
#include "cp_unit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "cp_ctl.h"

#define NOBODY 65534

static void test_client_address(void **s)
{
    char url[128];

    (void)s;
    assert_string_equal(cp_ctl_client_host("0.0.0.0"), "127.0.0.1");
    assert_string_equal(cp_ctl_client_host(""), "127.0.0.1");
    assert_string_equal(cp_ctl_client_host("::"), "::1");
    assert_string_equal(cp_ctl_client_host("10.1.2.3"), "10.1.2.3");
    cp_ctl_base_url("0.0.0.0", 8082, NULL, url, sizeof(url));
    assert_string_equal(url, "http://127.0.0.1:8082");
    cp_ctl_base_url("::", 9000, NULL, url, sizeof(url));
    assert_string_equal(url, "http://[::1]:9000");
    cp_ctl_base_url("fe80::1", 9000, NULL, url, sizeof(url));
    assert_string_equal(url, "http://[fe80::1]:9000");
    cp_ctl_base_url("localhost", 1, NULL, url, sizeof(url));
    assert_string_equal(url, "http://localhost:1");
    cp_ctl_base_url("192.168.1.5", 8082, NULL, url, sizeof(url));
    assert_string_equal(url, "http://192.168.1.5:8082");
}

/* A self-signed certificate in <dir>/<name>.pem naming <san> (openssl req; the key is thrown away). */
static void make_cert(const char *dir, const char *name, const char *san, char *path, size_t n)
{
    char cmd[1024];

    snprintf(path, n, "%s/%s.pem", dir, name);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s/%s.key "
             "-out %s -days 2 -subj /CN=%s -addext subjectAltName=%s >/dev/null 2>&1",
             dir, name, path, name, san);
    assert_int_equal(system(cmd), 0);
}

/* server.tls: https, and "localhost" when the certificate names it but not the address. */
static void test_tls_url(void **s)
{
    char dir[256], ip[320], lh[320], other[320], fifo[320], url[128];

    (void)s;
    unit_test_dir(dir, sizeof(dir), "ctl_tls");
    make_cert(dir, "ip", "IP:127.0.0.1,DNS:localhost", ip, sizeof(ip));
    make_cert(dir, "lh", "DNS:localhost", lh, sizeof(lh));
    make_cert(dir, "other", "DNS:team.example.com", other, sizeof(other));
    cp_ctl_base_url("0.0.0.0", 8443, ip, url, sizeof(url));
    assert_string_equal(url, "https://127.0.0.1:8443");
    cp_ctl_base_url("127.0.0.1", 8443, lh, url, sizeof(url));
    assert_string_equal(url, "https://localhost:8443");
    cp_ctl_base_url("::", 8443, lh, url, sizeof(url));
    assert_string_equal(url, "https://localhost:8443");
    cp_ctl_base_url("0.0.0.0", 8443, other, url, sizeof(url)); /* claude will refuse it; status still works */
    assert_string_equal(url, "https://127.0.0.1:8443");
    cp_ctl_base_url("::", 8443, "/nonexistent/cert.pem", url, sizeof(url));
    assert_string_equal(url, "https://[::1]:8443");
    snprintf(fifo, sizeof(fifo), "%s/fifo.pem", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    cp_ctl_base_url("0.0.0.0", 8443, fifo, url, sizeof(url)); /* never blocks on a FIFO */
    assert_string_equal(url, "https://127.0.0.1:8443");
    cp_ctl_base_url("0.0.0.0", 8443, dir, url, sizeof(url));
    assert_string_equal(url, "https://127.0.0.1:8443");
    unit_rmtree(dir);
}

/* The /health body a server holding <k> gives for <nonce>, claiming <pid> and signing <signed_pid>. */
static char *health_body(const cp_ident_key_t *k, const char *nonce, long pid, long signed_pid,
                         const char *digest)
{
    char proof[CP_IDENT_HEX + 1];

    cp_ident_proof(k, nonce, signed_pid, digest, proof);
    return cp_xasprintf(
        "{\"status\":\"ok\",\"service\":\"ccproxy\",\"version\":\"0.1.0\",\"pid\":%ld,"
        "\"uptime_s\":3725,\"active\":3,\"streams\":2,\"config_digest\":\"%s\",\"proof\":\"%s\"}",
        pid, digest, proof);
}

static void parse(const char *body, const cp_ctl_expect_t *x, cp_ctl_health_t *h)
{
    cp_ctl_parse_health(200, body, strlen(body), x, h);
}

static void test_parse_health(void **s)
{
    json_t *mine = unit_jq("{'server':{'port':8082},'models':{'bigModel':'a@p'}}");
    json_t *theirs = unit_jq("{'server':{'port':8082},'models':{'bigModel':'b@p'}}");
    cp_ident_key_t k, other;
    cp_ctl_expect_t x, x2;
    cp_ctl_health_t h;
    char other_digest[CP_IDENT_HEX + 1];
    char *b;

    (void)s;
    for (int i = 0; i < CP_IDENT_KEY_BYTES; i++)
        k.b[i] = (unsigned char)(i * 7);
    other = k;
    other.b[3] ^= 1;
    cp_ctl_expect_init(&x, &k, NULL, mine);
    assert_true(cp_ident_nonce_ok(x.nonce));
    assert_int_equal(strlen(x.digest), CP_IDENT_HEX);

    /* ours, with our settings: UP, and the detail is believed */
    b = health_body(&k, x.nonce, 4242, 4242, x.digest);
    parse(b, &x, &h);
    free(b);
    assert_int_equal(h.state, CP_CTL_UP);
    assert_true(h.same_config);
    assert_int_equal(h.pid, 4242);
    assert_string_equal(h.version, "0.1.0");
    assert_int_equal(h.uptime_s, 3725);
    assert_int_equal(h.active, 3);
    assert_int_equal(h.streams, 2);

    /* ours, started with other settings: UP, not the same configuration */
    assert_int_equal(cp_ident_config_digest(&k, theirs, other_digest), CP_OK);
    b = health_body(&k, x.nonce, 4242, 4242, other_digest);
    parse(b, &x, &h);
    free(b);
    assert_int_equal(h.state, CP_CTL_UP);
    assert_false(h.same_config);

    /* impostors: no proof; a proof under another key; a proof for another probe's nonce (replayed);
     * a pid other than the signed one; a pid of the wrong type, zero, negative, huge */
    parse("{\"status\":\"ok\",\"service\":\"ccproxy\",\"version\":\"9\",\"pid\":1,\"active\":7}", &x, &h);
    assert_int_equal(h.state, CP_CTL_UNPROVEN);
    assert_non_null(strstr(h.why, "no proof"));
    assert_int_equal(h.pid, 0); /* nothing an unproven server says is kept */
    assert_string_equal(h.version, "");
    assert_int_equal(h.active, 0);
    b = health_body(&other, x.nonce, 4242, 4242, x.digest);
    parse(b, &x, &h);
    free(b);
    assert_int_equal(h.state, CP_CTL_UNPROVEN);
    assert_non_null(strstr(h.why, "wrong"));
    cp_ctl_expect_init(&x2, &k, NULL, mine);
    b = health_body(&k, x2.nonce, 4242, 4242, x.digest);
    parse(b, &x, &h);
    free(b);
    assert_int_equal(h.state, CP_CTL_UNPROVEN);
    b = health_body(&k, x.nonce, 1, 4242, x.digest);
    parse(b, &x, &h);
    free(b);
    assert_int_equal(h.state, CP_CTL_UNPROVEN);
    {
        char proof[CP_IDENT_HEX + 1];
        const long bad[] = {0, -4242, 4294967296L + 4242};
        cp_ident_proof(&k, x.nonce, 4242, x.digest, proof);
        b = cp_xasprintf(
            "{\"service\":\"ccproxy\",\"pid\":\"4242\",\"config_digest\":\"%s\",\"proof\":\"%s\"}", x.digest,
            proof);
        parse(b, &x, &h);
        free(b);
        assert_int_equal(h.state, CP_CTL_UNPROVEN);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            b = health_body(&k, x.nonce, bad[i], bad[i], x.digest);
            parse(b, &x, &h);
            free(b);
            assert_int_equal(h.state, CP_CTL_UNPROVEN);
        }
        b = cp_xasprintf("{\"service\":\"ccproxy\",\"pid\":4242,\"config_digest\":7,\"proof\":\"%s\"}",
                         proof);
        parse(b, &x, &h);
        free(b);
        assert_int_equal(h.state, CP_CTL_UNPROVEN);
    }

    /* no key here: nothing can be proven, and the message says why */
    cp_ctl_expect_init(&x2, NULL, "the key file is open to other users", mine);
    b = health_body(&k, x.nonce, 4242, 4242, x.digest);
    parse(b, &x2, &h);
    free(b);
    assert_int_equal(h.state, CP_CTL_UNPROVEN);
    assert_string_equal(h.why, "the key file is open to other users");

    /* someone else's server: another JSON service, HTML, a 404, ours under a non-200, a look-alike */
    parse("{\"status\":\"ok\"}", &x, &h);
    assert_int_equal(h.state, CP_CTL_OTHER);
    assert_non_null(strstr(h.why, "not ccproxy"));
    parse("<html>hi</html>", &x, &h);
    assert_int_equal(h.state, CP_CTL_OTHER);
    cp_ctl_parse_health(404, "not found", 9, &x, &h);
    assert_int_equal(h.state, CP_CTL_OTHER);
    assert_non_null(strstr(h.why, "HTTP 404"));
    b = health_body(&k, x.nonce, 4242, 4242, x.digest);
    cp_ctl_parse_health(503, b, strlen(b), &x, &h);
    free(b);
    assert_int_equal(h.state, CP_CTL_OTHER);
    parse("{\"service\":\"ccproxy-fake\"}", &x, &h);
    assert_int_equal(h.state, CP_CTL_OTHER);
    parse("{\"service\":[\"ccproxy\"]}", &x, &h);
    assert_int_equal(h.state, CP_CTL_OTHER);
    json_decref(mine);
    json_decref(theirs);
}

/* ---- the pid file ------------------------------------------------------------------------------------ */

enum holder_kind {
    HOLD_SELF = 0,     /* this test program, pausing */
    HOLD_SLEEP,        /* /bin/sleep, the lock kept across exec */
    HOLD_NOBODY,       /* this program, then setuid(nobody) */
    HOLD_NONDUMPABLE,  /* as nobody and non-dumpable, like the server */
    HOLD_SLEEP_NOBODY, /* /bin/sleep as nobody */
    HOLD_WRONG_PID,    /* this program, writing its parent's pid */
    HOLD_GARBAGE,      /* this program, writing no pid at all */
};

/* Starts a process that writes a pid to <path> and holds a write lock on it, as the server does.
 * Returns its pid once the lock is held. */
static pid_t holder(const char *path, enum holder_kind kind)
{
    int ready[2];
    char c;
    pid_t pid;

    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        int as_nobody = kind == HOLD_NOBODY || kind == HOLD_NONDUMPABLE || kind == HOLD_SLEEP_NOBODY;
        char buf[32];
        int fd, n;

        if (as_nobody && (setgid(NOBODY) != 0 || setuid(NOBODY) != 0))
            _exit(2);
        /* dies with the test, even when an assertion ends it early (set after setuid, which clears it) */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() == 1)
            _exit(4);
        if (kind == HOLD_NONDUMPABLE)
            prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600); /* no O_CLOEXEC: kept across exec */
        n = kind == HOLD_GARBAGE ? snprintf(buf, sizeof(buf), "server\n")
                                 : snprintf(buf, sizeof(buf), "%ld\n",
                                            kind == HOLD_WRONG_PID ? (long)getppid() : (long)getpid());
        if (fd < 0 || write(fd, buf, (size_t)n) != n || fcntl(fd, F_SETLK, &fl) != 0)
            _exit(3);
        (void)!write(ready[1], "r", 1);
        if (kind == HOLD_SLEEP || kind == HOLD_SLEEP_NOBODY)
            execl("/bin/sleep", "sleep", "60", (char *)NULL);
        for (;;)
            pause();
    }
    close(ready[1]);
    assert_int_equal(read(ready[0], &c, 1), 1); /* the lock is held */
    if (kind == HOLD_SLEEP || kind == HOLD_SLEEP_NOBODY)
        assert_int_equal(read(ready[0], &c, 1), 0); /* end of file: the close-on-exec end went, sleep runs */
    close(ready[0]);
    return pid;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void check(const char *path, enum cp_ctl_pid_verdict want, const char *words)
{
    cp_ctl_pidfile_t p;

    cp_ctl_pidfile_check(path, &p);
    if (p.verdict != want || (words != NULL && strstr(p.why, words) == NULL))
        fail_msg("%s: verdict %d, want %d; why: %s (want \"%s\")", path, p.verdict, want, p.why,
                 words ? words : "");
    if (want != CP_CTL_PID_OURS)
        assert_int_equal(p.pidfd, -1);
    cp_ctl_pidfile_close(&p);
}

static void test_pidfile_ours(void **s)
{
    char *dir = unit_tmpdir();
    char path[1024];
    cp_ctl_pidfile_t p;
    pid_t pid;
    int st = 0;

    (void)s;
    snprintf(path, sizeof(path), "%s/ccproxy.pid", dir);
    check(path, CP_CTL_PID_NONE, NULL);
    pid = holder(path, HOLD_SELF);
    cp_ctl_pidfile_check(path, &p);
    assert_int_equal(p.verdict, CP_CTL_PID_OURS);
    assert_int_equal(p.pid, pid);
    assert_true(p.pidfd >= 0);
    assert_int_equal(cp_ctl_pidfile_wait(&p, 50), 0); /* still running */
    assert_int_equal(cp_ctl_pidfile_signal(&p, SIGTERM), 0);
    assert_int_equal(cp_ctl_pidfile_wait(&p, 5000), 1);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    assert_int_equal(cp_ctl_pidfile_signal(&p, SIGTERM), -1); /* the pidfd still names the dead one */
    cp_ctl_pidfile_close(&p);
    /* its lock died with it: the file left behind is stale, whatever pid it names */
    check(path, CP_CTL_PID_STALE, "left by one that exited");
    unit_rmtree(dir);
    free(dir);
}

static void test_pidfile_refused(void **s)
{
    char *dir = unit_tmpdir();
    char path[1024];
    pid_t pid;

    (void)s;
    snprintf(path, sizeof(path), "%s/ccproxy.pid", dir);
    pid = holder(path, HOLD_SLEEP); /* another executable holds it */
    check(path, CP_CTL_PID_REFUSED, "sleep, not this ccproxy");
    assert_int_equal(kill(pid, 0), 0);
    reap(pid);
    pid = holder(path, HOLD_WRONG_PID); /* the file names a pid other than its holder */
    check(path, CP_CTL_PID_REFUSED, "but pid");
    reap(pid);
    pid = holder(path, HOLD_GARBAGE);
    check(path, CP_CTL_PID_REFUSED, "holds no valid pid");
    reap(pid);
    if (geteuid() == 0) { /* another user's process (only root can start one here) */
        assert_int_equal(chmod(dir, 0777), 0);
        unlink(path); /* root's file: nobody could not open it */
        pid = holder(path, HOLD_NOBODY);
        check(path, CP_CTL_PID_REFUSED, "belongs to uid 65534");
        assert_int_equal(kill(pid, 0), 0);
        reap(pid);
    }
    unit_rmtree(dir);
    free(dir);
}

/* As an ordinary user, /proc/PID/exe of a non-dumpable process (the server makes itself one) cannot be
 * read: the lock is what proves it. A dumpable `sleep` holding the lock is still refused. The checker
 * runs as nobody in a child; its exit status is the verdict. */
static int check_as_nobody(const char *path)
{
    pid_t pid = fork();
    int st = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        cp_ctl_pidfile_t p;
        if (setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
            _exit(100);
        cp_ctl_pidfile_check(path, &p);
        if (p.verdict == CP_CTL_PID_REFUSED)
            fprintf(stderr, "  (as nobody: %s)\n", p.why);
        _exit(p.verdict);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_pidfile_as_user(void **s)
{
    char *dir = unit_tmpdir();
    char path[1024], exe[64];
    struct stat st;
    pid_t pid;

    (void)s;
    if (geteuid() != 0) {
        unit_rmtree(dir);
        free(dir);
        skip(); /* needs root to become nobody; as a user, the e2e launch tests run this path */
    }
    assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
    snprintf(path, sizeof(path), "%s/ccproxy.pid", dir);
    pid = holder(path, HOLD_NONDUMPABLE);
    snprintf(exe, sizeof(exe), "/proc/%ld/exe", (long)pid);
    assert_int_equal(stat(exe, &st), 0); /* root sees it ... */
    assert_int_equal(check_as_nobody(path), CP_CTL_PID_OURS);
    reap(pid);
    pid = holder(path, HOLD_SLEEP_NOBODY);
    assert_int_equal(check_as_nobody(path), CP_CTL_PID_REFUSED);
    reap(pid);
    assert_int_equal(check_as_nobody(path), CP_CTL_PID_STALE);
    unit_rmtree(dir);
    free(dir);
}

static void write_pidfile(const char *path, const char *text, size_t n)
{
    FILE *f;

    unlink(path);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    fclose(f);
}

static void test_pidfile_hostile(void **s)
{
    static const char *const texts[] = {"",      "\n",     "0\n",          "-1\n",  "99999999\n", "12a\n",
                                        " 12\n", "12\n\n", "4294967297\n", "1e3\n", "0x10\n"};
    char *dir = unit_tmpdir();
    char path[1024], mine[32], big[200000];
    cp_ctl_pidfile_t p;

    (void)s;
    snprintf(path, sizeof(path), "%s/ccproxy.pid", dir);
    /* a live pid that holds no lock (this test): stale, and it is not signalled */
    snprintf(mine, sizeof(mine), "%ld\n", (long)getpid());
    write_pidfile(path, mine, strlen(mine));
    check(path, CP_CTL_PID_STALE, NULL);
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        write_pidfile(path, texts[i], strlen(texts[i]));
        cp_ctl_pidfile_check(path, &p);
        assert_int_equal(p.verdict, CP_CTL_PID_STALE);
        assert_int_equal(p.pid, 0);
        cp_ctl_pidfile_close(&p);
    }
    memset(big, '7', sizeof(big)); /* huge */
    write_pidfile(path, big, sizeof(big));
    cp_ctl_pidfile_check(path, &p);
    assert_int_equal(p.pid, 0);
    cp_ctl_pidfile_close(&p);
    assert_int_equal(cp_ctl_pidfile_signal(&p, SIGTERM), -1); /* never for a verdict other than OURS */
    /* not a file: a symbolic link (even to a good pid file), a directory, a FIFO (no blocking) */
    {
        char target[1100];
        snprintf(target, sizeof(target), "%s/real.pid", dir);
        write_pidfile(target, mine, strlen(mine));
        unlink(path);
        assert_int_equal(symlink(target, path), 0);
        check(path, CP_CTL_PID_REFUSED, "cannot read");
        unlink(path);
    }
    assert_int_equal(mkdir(path, 0700), 0);
    check(path, CP_CTL_PID_REFUSED, "not a regular file");
    rmdir(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    check(path, CP_CTL_PID_REFUSED, "not a regular file");
    unit_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_address),  cmocka_unit_test(test_tls_url),
        cmocka_unit_test(test_parse_health),    cmocka_unit_test(test_pidfile_ours),
        cmocka_unit_test(test_pidfile_refused), cmocka_unit_test(test_pidfile_as_user),
        cmocka_unit_test(test_pidfile_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
