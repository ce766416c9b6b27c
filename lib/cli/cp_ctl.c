/* lib/cli/cp_ctl.c: see cp_ctl.h.
 *
 * The pid file. /proc/PID/exe of a process that made itself non-dumpable (the server does: see
 * server_no_dumps in lib/net/cp_server.c) cannot be read or stat()ed by other processes of the same
 * user (EACCES; only CAP_SYS_PTRACE, e.g. root, may), while /proc/PID/status and /stat stay readable.
 * So an ordinary user cannot compare the server's executable with its own; the server's write lock on
 * its pid file (fcntl F_GETLK names the holder's pid) proves instead that the pid is the process that
 * wrote that file. Root gets both checks. */
#include "cp_ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cp_trust.h"
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

/* Whether the certificate in <path> names the IP address <ip> (0), only "localhost" (1), or neither or
 * cannot be read (-1). */
static int ctl_cert_names(const char *path, const char *ip)
{
    cp_trust_file_t f = {0};
    BIO *b = NULL;
    X509 *x = NULL;
    int r = -1;

    if (cp_trust_read(path, 1, &f, NULL) == CP_OK && (b = BIO_new_mem_buf(f.data, (int)f.len)) != NULL &&
        (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        r = X509_check_ip_asc(x, ip, 0) == 1 ? 0 : X509_check_host(x, "localhost", 9, 0, NULL) == 1 ? 1 : -1;
    X509_free(x);
    BIO_free(b);
    cp_trust_file_free(&f);
    return r;
}

void cp_ctl_base_url(const char *host, int port, const char *tls_cert, char *buf, size_t n)
{
    const char *h = cp_ctl_client_host(host);
    int v6 = strchr(h, ':') != NULL && h[0] != '[';

    if (tls_cert != NULL && ctl_cert_names(tls_cert, h) == 1)
        snprintf(buf, n, "https://localhost:%d", port);
    else
        snprintf(buf, n, "%s://%s%s%s:%d", tls_cert != NULL ? "https" : "http", v6 ? "[" : "", h,
                 v6 ? "]" : "", port);
}

void cp_ctl_expect_init(cp_ctl_expect_t *x, const cp_ident_key_t *key, const char *no_key_why,
                        const json_t *merged)
{
    const char *cafile = json_string_value(
        json_object_get(json_object_get(json_object_get(merged, "server"), "tls"), "cert")); /* borrowed */

    memset(x, 0, sizeof(*x));
    snprintf(x->cafile, sizeof(x->cafile), "%s", cafile != NULL ? cafile : "");
    x->key = key;
    snprintf(x->no_key_why, sizeof(x->no_key_why), "%s", no_key_why ? no_key_why : "no instance key");
    if (key == NULL || cp_ident_nonce_new(x->nonce) != CP_OK) {
        x->key = NULL; /* without a fresh nonce a proof would prove nothing */
        return;
    }
    cp_ident_client_auth(key, x->nonce, x->auth);
    if (merged != NULL)
        (void)cp_ident_config_digest(key, merged, x->digest);
}

/* The fields only a server that proved itself is believed about. */
static void ctl_health_detail(json_t *j, cp_ctl_health_t *h)
{
    const char *ver = json_string_value(json_object_get(j, "version"));

    snprintf(h->version, sizeof(h->version), "%s", ver ? ver : "unknown");
    h->uptime_s = json_integer_value(json_object_get(j, "uptime_s"));
    h->active = json_integer_value(json_object_get(j, "active"));
    h->streams = json_integer_value(json_object_get(j, "streams"));
}

void cp_ctl_parse_health(long status, const char *body, size_t len, const cp_ctl_expect_t *x,
                         cp_ctl_health_t *h)
{
    json_t *j = json_loadb(body, len, 0, NULL); /* owned */
    const char *svc = json_string_value(json_object_get(j, "service"));
    const char *proof = json_string_value(json_object_get(j, "proof"));
    const char *digest = json_string_value(json_object_get(j, "config_digest"));
    json_t *pid = json_object_get(j, "pid"); /* borrowed */

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
    h->state = CP_CTL_UNPROVEN;
    if (x == NULL || x->key == NULL)
        snprintf(h->why, sizeof(h->why), "%s", x ? x->no_key_why : "no instance key to check it with");
    else if (proof == NULL)
        snprintf(h->why, sizeof(h->why),
                 "it gives no proof of identity: not a ccproxy holding your instance key (another user's, a "
                 "service, an older version, or not ccproxy at all)");
    else if (!json_is_integer(pid) || json_integer_value(pid) <= 0 || json_integer_value(pid) > INT_MAX ||
             !cp_ident_proof_ok(x->key, x->nonce, (long)json_integer_value(pid), digest, proof))
        snprintf(h->why, sizeof(h->why),
                 "its proof of identity is wrong: it does not hold your instance key");
    else {
        h->state = CP_CTL_UP;
        h->pid = (long)json_integer_value(pid);
        h->same_config = x->digest[0] != '\0' && strcmp(x->digest, digest) == 0;
        ctl_health_detail(j, h);
    }
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

void cp_ctl_probe(const char *base_url, long timeout_ms, const cp_ctl_expect_t *x, cp_ctl_health_t *h)
{
    static ctl_buf_t buf; /* one probe at a time, from the command line */
    char url[512];
    char err[CURL_ERROR_SIZE] = "";
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char line[128];
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
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, strncmp(base_url, "https:", 6) == 0 ? "https" : "http");
    if (x != NULL && x->cafile[0] != '\0') { /* server.tls: its own certificate, whatever name it bears */
        curl_easy_setopt(c, CURLOPT_CAINFO, x->cafile);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (x != NULL && x->key != NULL) {
        snprintf(line, sizeof(line), "%s: %s", CP_IDENT_NONCE_HEADER, x->nonce);
        hdrs = curl_slist_append(hdrs, line);
        snprintf(line, sizeof(line), "%s: %s", CP_IDENT_AUTH_HEADER, x->auth);
        hdrs = curl_slist_append(hdrs, line);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    if (rc == CURLE_OK) {
        cp_ctl_parse_health(status, buf.data, buf.len, x, h);
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

/* ---- the pid file --------------------------------------------------------------------------------- */

#define CTL_PID_MAX 4194304 /* PID_MAX_LIMIT on 64-bit Linux */

static void ctl_refuse(cp_ctl_pidfile_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ctl_refuse(cp_ctl_pidfile_t *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->why, sizeof(p->why), fmt, ap);
    va_end(ap);
    p->verdict = CP_CTL_PID_REFUSED;
    cp_ctl_pidfile_close(p);
}

/* The pid in the file: decimal digits and at most one newline, 1 to CTL_PID_MAX. 0 for anything else. */
static long ctl_read_pid(int fd)
{
    char buf[16];
    ssize_t n = read(fd, buf, sizeof(buf));
    long pid = 0;

    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n <= 0 || n > 7)
        return 0;
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return 0;
        pid = pid * 10 + (buf[i] - '0');
    }
    return pid >= 1 && pid <= CTL_PID_MAX ? pid : 0;
}

/* The pid holding a write lock on <fd>'s file, 0 when none does, -1 when the kernel does not say. */
static long ctl_lock_holder(int fd)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_RDLCK; /* conflicts with the server's F_WRLCK, and needs only read access */
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_GETLK, &fl) == -1)
        return -1;
    return fl.l_type == F_UNLCK ? 0 : fl.l_pid > 0 ? (long)fl.l_pid : -1;
}

static int ctl_pidfd_open(long pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* 1 when every uid of <pid> (real, effective, saved, file system) is ours. */
static int ctl_same_uid(long pid, char *why, size_t n)
{
    char path[64], line[256];
    unsigned long u[4];
    FILE *f;
    int found = 0;

    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    if ((f = fopen(path, "re")) == NULL) {
        snprintf(why, n, "cannot read %s: %s", path, strerror(errno));
        return 0;
    }
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = sscanf(line, "Uid: %lu %lu %lu %lu", &u[0], &u[1], &u[2], &u[3]) == 4;
    fclose(f);
    if (!found) {
        snprintf(why, n, "%s names no owner", path);
        return 0;
    }
    for (int i = 0; i < 4; i++)
        if (u[i] != (unsigned long)getuid()) {
            snprintf(why, n, "pid %ld belongs to uid %lu, not to you (uid %lu)", pid, u[i],
                     (unsigned long)getuid());
            return 0;
        }
    return 1;
}

/* Strips a trailing " (deleted)" (the file was replaced since it was started). Returns 1 if there was one. */
static int ctl_undeleted(char *path)
{
    size_t n = strlen(path), k = sizeof(" (deleted)") - 1;

    if (n <= k || strcmp(path + n - k, " (deleted)") != 0)
        return 0;
    path[n - k] = '\0';
    return 1;
}

/* 1 when <pid> runs this executable, -1 when the kernel hides its executable (non-dumpable, and we may
 * not ptrace it), 0 otherwise (with <why>). The same path marked " (deleted)" counts: a package upgrade
 * replaced the file under a running server; only whoever may write that path could have put a program
 * there, and that is who installed ccproxy. */
static int ctl_same_exe(long pid, char *why, size_t n)
{
    char path[64], theirs[PATH_MAX] = "", mine[PATH_MAX] = "";
    struct stat a, b;
    ssize_t k;

    snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
    if (stat(path, &a) == -1) {
        if (errno == EACCES || errno == EPERM)
            return -1;
        snprintf(why, n, "cannot see which program pid %ld runs: %s", pid, strerror(errno));
        return 0;
    }
    if (stat("/proc/self/exe", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return 1;
    if ((k = readlink(path, theirs, sizeof(theirs) - 1)) > 0)
        theirs[k] = '\0';
    if ((k = readlink("/proc/self/exe", mine, sizeof(mine) - 1)) > 0)
        mine[k] = '\0';
    snprintf(why, n, "pid %ld runs %s, not this ccproxy (%s)", pid, theirs[0] ? theirs : "another program",
             mine);
    if ((ctl_undeleted(theirs) | ctl_undeleted(mine)) && theirs[0] == '/' && strcmp(theirs, mine) == 0)
        return 1;
    return 0;
}

/* The checks on the pid <p->pid> named by the file, whose pidfd is already open: the lock <holder>, the
 * owner, the executable. Returns CP_OK, or CP_ERR with <why>. */
static int ctl_pid_checks(const cp_ctl_pidfile_t *p, const char *path, long holder, int pidfd_errno,
                          char *why, size_t n)
{
    if (p->pid == 0) {
        snprintf(why, n, "%s holds no valid pid, yet pid %ld holds the file", path, holder);
        return CP_ERR;
    }
    if (holder != p->pid) {
        snprintf(why, n, "%s names pid %ld, but pid %ld holds the file", path, p->pid, holder);
        return CP_ERR;
    }
    if (p->pidfd < 0 && pidfd_errno != ENOSYS) {
        snprintf(why, n, "cannot open pid %ld: %s", p->pid, strerror(pidfd_errno));
        return CP_ERR;
    }
    if (!ctl_same_uid(p->pid, why, n) || ctl_same_exe(p->pid, why, n) == 0)
        return CP_ERR;
    return CP_OK;
}

void cp_ctl_pidfile_check(const char *path, cp_ctl_pidfile_t *p)
{
    char why[sizeof(p->why)];
    struct stat st;
    long holder;
    int fd, pidfd_errno = 0;

    memset(p, 0, sizeof(*p));
    p->pidfd = -1;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno != ENOENT) /* ENOENT: CP_CTL_PID_NONE */
            ctl_refuse(p, "cannot read %s: %s", path, strerror(errno));
        return;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        ctl_refuse(p, "%s is not a regular file", path);
        return;
    }
    p->pid = ctl_read_pid(fd);
    if (p->pid > 0 && (p->pidfd = ctl_pidfd_open(p->pid)) < 0)
        pidfd_errno = errno; /* before any check: the pid cannot be recycled behind them */
    holder = ctl_lock_holder(fd);
    close(fd);
    if (holder < 0) {
        ctl_refuse(p, "cannot tell which process holds %s", path);
    } else if (holder == 0) {
        p->verdict = CP_CTL_PID_STALE;
        snprintf(p->why, sizeof(p->why), "no running server holds %s: it was left by one that exited", path);
        cp_ctl_pidfile_close(p);
    } else if (ctl_pid_checks(p, path, holder, pidfd_errno, why, sizeof(why)) != CP_OK) {
        ctl_refuse(p, "%s", why);
    } else {
        p->verdict = CP_CTL_PID_OURS;
    }
}

int cp_ctl_pidfile_signal(const cp_ctl_pidfile_t *p, int sig)
{
    if (p->verdict != CP_CTL_PID_OURS) {
        errno = EINVAL;
        return -1;
    }
#ifdef SYS_pidfd_send_signal
    if (p->pidfd >= 0)
        return (int)syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0);
#endif
    return kill((pid_t)p->pid, sig);
}

int cp_ctl_alive(long pid)
{
    char path[64], buf[256];
    const char *rp;
    FILE *f;
    size_t n;

    if (pid <= 0 || (kill((pid_t)pid, 0) == -1 && errno != EPERM))
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if ((f = fopen(path, "re")) == NULL)
        return 1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    rp = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return !(rp != NULL && rp[1] == ' ' && rp[2] == 'Z');
}

int cp_ctl_pidfile_wait(const cp_ctl_pidfile_t *p, long ms)
{
    uint64_t end = cp_mono_us() + (uint64_t)(ms > 0 ? ms : 0) * 1000u;

    for (;;) {
        uint64_t now = cp_mono_us();
        long left = now >= end ? 0 : (long)((end - now) / 1000u);

        if (p->pidfd >= 0) { /* readable once the process has exited */
            struct pollfd pfd = {p->pidfd, POLLIN, 0};
            int r = poll(&pfd, 1, (int)(left > INT_MAX ? INT_MAX : left));
            if (r > 0)
                return 1;
            if (r == 0 || errno != EINTR)
                return r == 0 ? 0 : !cp_ctl_alive(p->pid);
            continue;
        }
        if (!cp_ctl_alive(p->pid)) /* no pidfd (old kernel): look every 50 ms */
            return 1;
        if (left == 0)
            return 0;
        {
            struct timespec ts = {0, (left < 50 ? left : 50) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

void cp_ctl_pidfile_close(cp_ctl_pidfile_t *p)
{
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
}
