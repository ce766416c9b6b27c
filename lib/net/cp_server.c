/* lib/net/cp_server.c: see cp_server.h. */
#include "cp_server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "cp_accept.h"
#include "cp_exchange.h"
#include "cp_health.h"
#include "cp_front.h"
#include "cp_ident.h"
#include "cp_log.h"
#include "cp_metrics.h"
#include "cp_notify.h"
#include "cp_prov.h"
#include "cp_team.h"
#include "cp_up.h"

#define SERVER_WATCH_MAX      8    /* settings files watched */
#define SERVER_WATCH_MS       1000 /* how often they are looked at */
#define SERVER_LEDGER_WAIT_MS 5000 /* at exit, how long a ledger that cannot be written is waited for */

/* Open-file limit after raise_nofile(); each stream uses two descriptors (client + upstream). */
static rlim_t server_nofile = 1024;

/* Raises the soft open-file limit to the hard one, as redis and nginx do, and logs what it allows. */
static void server_raise_nofile(void)
{
    struct rlimit rl;
    rlim_t before;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return;
    before = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
            rl.rlim_cur = before;
    }
    server_nofile = rl.rlim_cur;
    cp_log_j(CP_LOG_INFO, "open-file limit",
             json_pack("{s:I,s:I,s:I}", "before", (json_int_t)before, "now", (json_int_t)rl.rlim_cur,
                       "concurrent_streams", (json_int_t)(rl.rlim_cur > 64 ? (rl.rlim_cur - 64) / 2 : 0)));
}

/* The process holds provider keys (in memory and in its environment): no core file of it, and no
 * reading of its memory or environment by other processes of the same user (ptrace, /proc/PID/mem,
 * /proc/PID/environ, and /proc/PID/exe too). /proc/PID/stat and /status stay readable; `ccproxy stop`
 * needs those and the lock on the pid file (cp_ctl_pidfile_check in lib/cli/cp_ctl.c). */
static void server_no_dumps(void)
{
    struct rlimit rl = {0, 0};

    if (setrlimit(RLIMIT_CORE, &rl) == -1)
        cp_log(CP_LOG_WARN, "cannot disable core dumps (setrlimit: %s)", strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
        cp_log(CP_LOG_WARN, "cannot mark the process non-dumpable (prctl: %s)", strerror(errno));
}

/* Fills the values that default to "auto" from this machine. */
static void server_effective_limits(cp_config_t *cfg)
{
    if (cfg->max_concurrent == 0)
        cfg->max_concurrent = server_nofile > 64 ? (unsigned)((server_nofile - 64) / 2) : 1;
    if (cfg->max_connections == 0) /* below the limit: the listener, logs, upstreams keep theirs */
        cfg->max_connections =
            server_nofile > 64 + 16 * 4 / 3 ? (unsigned)((server_nofile - 64) * 3 / 4) : 16;
}

typedef struct server {
    struct event_base *base;
    cp_up_t *up;
    cp_exchanges_t *xs; /* every exchange, and what they share (learned output caps) */
    cp_front_t *front;
    cp_metrics_t *metrics; /* owned: GET /metrics; kept across reloads, so counters never reset */
    cp_team_t *team;       /* developer keys' limits and the ledger */
    const cp_config_opts_t *opts;
    char *watch[SERVER_WATCH_MAX]; /* the settings files (cp_config_watch_paths) */
    size_t nwatch;
    uint64_t watch_sig;     /* their state when the running config was loaded */
    uint64_t watch_seen;    /* their state at the last look */
    struct event *watch_ev; /* SERVER_WATCH_MS */
    cp_config_t *cfg;       /* owned reference to the current snapshot */
    struct event *sig_term, *sig_int, *sig_hup, *drain_timer;
    cp_notify_t *notify; /* owned: what systemd is told (READY, RELOADING, STOPPING, STATUS, WATCHDOG) */
    int stopping;
    int aborted; /* the drain timeout passed: requests were ended with errors */
    int exit_code;
} server_t;

void cp_server_apply_logging(const cp_config_t *cfg)
{
    size_t cap = cfg->nproviders * CP_PROV_SECRETS_MAX, n = 0; /* every key of every pool, and headers */
    const char **keys = cp_xcalloc(cap + 1, sizeof(*keys));

    cp_log_setup(cfg->log_level, cfg->log_format);
    for (size_t i = 0; i < cfg->nproviders; i++)
        n += cp_prov_secrets(&cfg->providers[i], keys + n, CP_PROV_SECRETS_MAX);
    cp_log_set_secrets(keys, n); /* cp_log copies them */
    free(keys);
}

static void server_status(void *ud, char *buf, size_t cap)
{
    const server_t *s = ud;
    unsigned active = s->front != NULL ? cp_front_active(s->front) : 0;
    unsigned streams = s->front != NULL ? cp_front_streams(s->front) : 0;
    unsigned conns = s->front != NULL ? cp_front_connections(s->front) : 0;

    snprintf(buf, cap, "%s%u request%s in flight (%u streaming), %u connection%s, %llu served",
             s->stopping ? "Draining: " : "", active, active == 1 ? "" : "s", streams, conns,
             conns == 1 ? "" : "s",
             (unsigned long long)(s->metrics != NULL ? cp_metrics_served(s->metrics) : 0));
}

static void server_on_drained(cp_front_t *f, void *ud)
{
    server_t *s = ud;

    (void)f;
    cp_log(CP_LOG_INFO, "drained; exiting");
    event_base_loopbreak(s->base);
}

static void server_on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    server_t *s = arg;
    struct timeval tv = {1, 0};

    (void)fd;
    (void)what;
    if (s->aborted) { /* the last second for error events to leave is over too */
        event_base_loopbreak(s->base);
        return;
    }
    cp_log_j(CP_LOG_WARN, "drain timeout reached; ending remaining requests",
             json_pack("{s:I,s:I}", "active", (json_int_t)cp_front_active(s->front), "connections",
                       (json_int_t)cp_front_connections(s->front)));
    s->aborted = 1;
    cp_front_abort(s->front, "ccproxy is shutting down");
    evtimer_add(s->drain_timer, &tv); /* then the loop ends, whatever is left */
}

static void server_on_stop(evutil_socket_t sig, short what, void *arg)
{
    server_t *s = arg;
    struct timeval tv = {0, 0};

    (void)what;
    if (s->stopping) {
        cp_log(CP_LOG_WARN, "second signal (%s): exiting now", sig == SIGINT ? "SIGINT" : "SIGTERM");
        s->exit_code = CP_EXIT_FAIL;
        event_base_loopbreak(s->base);
        return;
    }
    s->stopping = 1;
    cp_notify_stopping(s->notify);
    cp_log_j(CP_LOG_INFO, "draining",
             json_pack("{s:s,s:I,s:I,s:I}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", "active",
                       (json_int_t)cp_front_active(s->front), "connections",
                       (json_int_t)cp_front_connections(s->front), "timeout_s",
                       (json_int_t)s->cfg->drain_timeout_s));
    tv.tv_sec = (time_t)s->cfg->drain_timeout_s;
    evtimer_add(s->drain_timer, &tv);
    cp_front_drain(s->front, server_on_drained, s);
}

static void server_warn(const char *line, void *ud)
{
    (void)ud;
    cp_log(CP_LOG_WARN, "%s", line);
}

/* A fingerprint of the watched files' state (each: exists, inode, size, change and modify times). */
static uint64_t server_watch_sig(const server_t *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over the stat fields */

    for (size_t i = 0; i < s->nwatch; i++) {
        struct stat st;
        uint64_t v[6] = {0};
        if (stat(s->watch[i], &st) == 0) {
            v[0] = 1;
            v[1] = (uint64_t)st.st_ino;
            v[2] = (uint64_t)st.st_size;
            v[3] = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
            v[4] = (uint64_t)st.st_ctim.tv_sec * 1000000000u + (uint64_t)st.st_ctim.tv_nsec;
            v[5] = (uint64_t)st.st_dev;
        }
        for (size_t k = 0; k < 6; k++)
            for (int b = 0; b < 8; b++)
                h = (h ^ ((v[k] >> (8 * b)) & 0xff)) * 1099511628211ULL;
    }
    return h;
}

static void server_reload(server_t *s, const char *why);

/* Every SERVER_WATCH_MS: a settings file that changed, and then stayed the same for one more look (an
 * editor may write in steps), is reloaded as SIGHUP would: `ccproxy keys add` needs no restart. */
static void server_on_watch(evutil_socket_t fd, short what, void *arg)
{
    server_t *s = arg;
    uint64_t now = server_watch_sig(s);

    (void)fd;
    (void)what;
    if (now != s->watch_sig && now == s->watch_seen && !s->stopping)
        server_reload(s, "a settings file changed");
    s->watch_seen = now;
}

/* Starts watching the settings files. Returns CP_OK, or CP_ERR after logging. */
static int server_watch_start(server_t *s)
{
    struct timeval tv = {SERVER_WATCH_MS / 1000, (SERVER_WATCH_MS % 1000) * 1000};

    s->nwatch = cp_config_watch_paths(s->opts, s->watch, SERVER_WATCH_MAX);
    s->watch_sig = s->watch_seen = server_watch_sig(s);
    s->watch_ev = event_new(s->base, -1, EV_PERSIST, server_on_watch, s);
    if (s->watch_ev == NULL || event_add(s->watch_ev, &tv) != 0) {
        cp_log(CP_LOG_ERROR, "cannot arm the settings watch");
        return CP_ERR;
    }
    return CP_OK;
}

static void server_on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    server_reload(arg, "SIGHUP");
}

static void server_reload(server_t *s, const char *why)
{
    cp_err_t e = {0};
    cp_config_t *next;

    if (s->stopping)
        return;
    s->watch_sig = s->watch_seen = server_watch_sig(s); /* before loading: a change while loading is seen */
    cp_notify_reloading(s->notify);
    next = cp_config_load(s->opts, server_warn, NULL, &e);
    if (next != NULL)
        server_effective_limits(next);
    if (next == NULL || cp_front_reload(s->front, next, &e) != CP_OK) {
        cp_log_j(CP_LOG_ERROR, "config reload failed; keeping the running configuration",
                 json_pack("{s:s}", "error", e.msg));
        cp_config_unref(next);
        cp_metrics_reload(s->metrics, 0);
        cp_notify_ready(s->notify);
        return;
    }
    cp_metrics_reload(s->metrics, 1);
    cp_metrics_set_max_models(s->metrics, next->metrics_max_models);
    cp_health_reload(cp_exchanges_health(s->xs)); /* keys refused until a reload are usable again */
    cp_config_unref(s->cfg);
    s->cfg = next;
    cp_server_apply_logging(next);
    cp_team_reload(s->team, next);
    cp_log_j(CP_LOG_INFO, "config reloaded",
             json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:I}", "why", why, "host", next->host, "port",
                       cp_front_port(s->front), "bigModel", next->big_model, "smallModel", next->small_model,
                       "access", cp_auth_mode_name(cp_auth_mode(next->auth)), "keys",
                       (json_int_t)next->auth->n));
    cp_team_log_mode(next, cp_front_port(s->front));
    cp_notify_ready(s->notify);
}

/* Writes our pid to <path>: into a new file next to it (O_EXCL, 0600) that we write-lock, rename into
 * place and keep open, so the lock lasts exactly as long as this process. `ccproxy stop` signals the
 * pid only when the kernel names it as the lock's holder (cp_ctl_pidfile_check in lib/cli/cp_ctl.c):
 * a file left behind never gets a recycled pid signalled, and the rename leaves an older server's file
 * and lock to that server. Returns CP_OK, or CP_ERR after logging why. */
static int server_pid_write(const char *path)
{
    char buf[32], tmp[4096];
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET}; /* the whole file */
    int fd = -1;

    if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) < (int)sizeof(tmp)) {
        (void)unlink(tmp); /* left by a process of our pid that died */
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    } else {
        errno = ENAMETOOLONG;
    }
    if (fd < 0 || fcntl(fd, F_SETLK, &fl) == -1 || write(fd, buf, (size_t)n) != n ||
        rename(tmp, path) == -1) {
        cp_log(CP_LOG_ERROR, "cannot write the pid file %s: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return CP_ERR;
    }
    return CP_OK; /* <fd> stays open, and locked, until the process exits */
}

/* Removes <path> if it still holds our pid (a newer server may have replaced it). */
static void server_pid_remove(const char *path)
{
    char buf[32] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    ssize_t n;

    if (fd < 0)
        return;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n > 0 && strtol(buf, NULL, 10) == (long)getpid())
        unlink(path);
}

/* The "listening" line and the access mode (and, for any free port, the port on stdout). */
static void server_announce(const server_t *s, const cp_config_t *cfg)
{
    cp_log_j(CP_LOG_INFO, "listening",
             json_pack("{s:s,s:i,s:s,s:i,s:s,s:s}", "host", cfg->host, "port", cp_front_port(s->front),
                       "version", CP_VERSION, "pid", (int)getpid(), "bigModel", cfg->big_model, "smallModel",
                       cfg->small_model));
    cp_team_log_mode(cfg, cp_front_port(s->front));
    if (cfg->port == 0) { /* any free port: say which on stdout too, whatever the log level */
        printf("ccproxy listening on %s port %d\n", cfg->host, cp_front_port(s->front));
        fflush(stdout);
    }
}

int cp_server_run(const cp_config_opts_t *opts, cp_config_t *cfg, const char *pid_file)
{
    server_t s;
    cp_err_t e = {0};
    int rc = CP_EXIT_FAIL;
    int pid_written = 0;

    memset(&s, 0, sizeof(s));
    s.opts = opts;
    s.cfg = cfg;
    s.exit_code = CP_EXIT_OK;
    signal(SIGPIPE, SIG_IGN); /* evbuffer writes use writev(): EPIPE must not kill us */
    signal(SIGXFSZ,
           SIG_IGN); /* a file-size limit makes a ledger write fail (and wait), not the process die */
    cp_server_apply_logging(cfg);
    server_raise_nofile();
    server_no_dumps();
    cp_ident_server_load(); /* after server_no_dumps: the key never sits in a dumpable process */
    cp_accept_route_libevent_log();
    server_effective_limits(cfg);
    s.base = event_base_new();
    if (s.base == NULL) {
        cp_log(CP_LOG_ERROR, "cannot create the event loop");
        goto out;
    }
    s.up = cp_up_new(s.base);
    if (s.up == NULL) {
        cp_log(CP_LOG_ERROR, "cannot create the upstream client");
        goto out;
    }
    s.xs = cp_exchanges_new(s.base, s.up);
    s.team = cp_team_new(s.base, cfg, &e);
    if (s.team == NULL) {
        cp_log_j(CP_LOG_ERROR, "cannot open the usage ledger (ledger.enabled: false runs without one)",
                 json_pack("{s:s}", "error", e.msg));
        rc = CP_EXIT_CONFIG;
        goto out;
    }
    s.front = cp_front_new(s.base, cp_exchange_start, s.xs, cfg, &e);
    if (s.front == NULL) {
        cp_log(CP_LOG_ERROR, "%s", e.msg);
        rc = e.config ? CP_EXIT_CONFIG : CP_EXIT_FAIL; /* a file the config names (server.tls) is wrong */
        goto out;
    }
    cp_front_set_team(s.front, s.team);
    s.metrics = cp_metrics_new(cfg->metrics_max_models);
    cp_front_set_metrics(s.front, s.metrics);
    cp_exchanges_set_metrics(s.xs, s.metrics);
    cp_front_set_health(s.front, cp_exchanges_health(s.xs));
    s.notify = cp_notify_new(s.base, server_status, &s);
    if (server_watch_start(&s) != CP_OK)
        goto out;
    s.sig_term = evsignal_new(s.base, SIGTERM, server_on_stop, &s);
    s.sig_int = evsignal_new(s.base, SIGINT, server_on_stop, &s);
    s.sig_hup = evsignal_new(s.base, SIGHUP, server_on_hup, &s);
    s.drain_timer = evtimer_new(s.base, server_on_drain_timeout, &s);
    if (s.sig_term == NULL || s.sig_int == NULL || s.sig_hup == NULL || s.drain_timer == NULL ||
        evsignal_add(s.sig_term, NULL) != 0 || evsignal_add(s.sig_int, NULL) != 0 ||
        evsignal_add(s.sig_hup, NULL) != 0) {
        cp_log(CP_LOG_ERROR, "cannot install signal handlers");
        goto out;
    }
    if (pid_file != NULL) {
        if (server_pid_write(pid_file) != CP_OK)
            goto out;
        pid_written = 1;
    }
    server_announce(&s, cfg);
    cp_notify_ready(s.notify);
    event_base_dispatch(s.base);
    rc = s.exit_code;
out:
    cp_notify_free(s.notify); /* first: its timers read the front, and must not run in the last loop pass */
    cp_front_free(s.front);   /* clients gone: their exchanges cancel their transfers */
    if (s.xs != NULL)
        cp_exchange_cancel_all(s.xs); /* and those whose reply had already ended */
    if (s.base)
        event_base_loop(s.base, EVLOOP_NONBLOCK); /* run the deferred frees those queued */
    cp_exchanges_free(s.xs);
    cp_team_free(s.team, SERVER_LEDGER_WAIT_MS); /* after the last request ended: every row is queued */
    cp_metrics_free(s.metrics);                  /* after the front: it counted into it till the end */
    cp_up_free(s.up);
    if (s.watch_ev)
        event_free(s.watch_ev);
    for (size_t i = 0; i < s.nwatch; i++)
        free(s.watch[i]);
    if (s.sig_term)
        event_free(s.sig_term);
    if (s.sig_int)
        event_free(s.sig_int);
    if (s.sig_hup)
        event_free(s.sig_hup);
    if (s.drain_timer)
        event_free(s.drain_timer);
    if (s.base)
        event_base_free(s.base);
    cp_config_unref(s.cfg);
    if (pid_written)
        server_pid_remove(pid_file);
    return rc;
}
