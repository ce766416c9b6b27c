/* daemon/launch.c: `ccproxy [ARGS...]` (run claude through the proxy, starting the proxy in the
 * background when none answers), `ccproxy status` and `ccproxy stop`.
 *
 * The background proxy is `ccproxy server --pid-file ~/.ccproxy/ccproxy.pid` in its own session,
 * stdin from /dev/null, stdout and stderr appended to ~/.ccproxy/ccproxy.log. Launchers take
 * ~/.ccproxy/launch.lock around "is one running? start one, wait for it", so launchers started
 * together end with one server. claude then replaces the launcher (execv): it gets the terminal,
 * every signal sent to the launcher's pid (SIGINT, SIGTERM, job control), and its exit status is
 * the launcher's. */
#include "cmds.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cp_ctl.h"
#include "cp_init.h"
#include "cp_route.h"

#define LAUNCH_START_WAIT_MS  10000 /* a new server must answer /health within this */
#define LAUNCH_LOCK_WAIT_MS   20000 /* longer than one start: a second launcher waits for the first */
#define LAUNCH_PROBE_MS       1000
#define LAUNCH_POLL_MS        50
#define LAUNCH_LOG_ROTATE     (8L << 20)      /* ccproxy.log over this moves to ccproxy.log.1 at a start */
#define LAUNCH_LOG_TAIL       20              /* lines of the log shown when a start fails */
#define LAUNCH_STOP_GRACE_S   5               /* stop: past the drain timeout, a second SIGTERM */
#define LAUNCH_PLACEHOLDER    "ccproxy-local" /* the token claude sends; the proxy has no client keys */
#define LAUNCH_NPM_INSTALL    "npm install -g @anthropic-ai/claude-code"
#define LAUNCH_EXIT_NOT_FOUND 127
#define LAUNCH_EXIT_CANT_EXEC 126
#define STATUS_EXIT_STOPPED   3 /* LSB: program is not running */

typedef struct launch_paths {
    char dir[PATH_MAX];
    char log[PATH_MAX + 16];
    char pid[PATH_MAX + 16];
    char lock[PATH_MAX + 16];
} launch_paths_t;

/* Fills the state paths under $HOME/.ccproxy, creating the directory (0700) when <create>. */
static int launch_paths(launch_paths_t *p, int create)
{
    const char *home = getenv("HOME");

    if (home == NULL || *home == '\0') {
        fprintf(stderr, "ccproxy: HOME is not set; it holds ~/.ccproxy (log, pid file)\n");
        return CP_ERR;
    }
    snprintf(p->dir, sizeof(p->dir), "%s/.ccproxy", home);
    snprintf(p->log, sizeof(p->log), "%s/ccproxy.log", p->dir);
    snprintf(p->pid, sizeof(p->pid), "%s/ccproxy.pid", p->dir);
    snprintf(p->lock, sizeof(p->lock), "%s/launch.lock", p->dir);
    if (create && mkdir(p->dir, 0700) == -1 && errno != EEXIST) {
        fprintf(stderr, "ccproxy: cannot create %s: %s\n", p->dir, strerror(errno));
        return CP_ERR;
    }
    return CP_OK;
}

static void launch_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* 1 when <pid> exists and is not a zombie waiting for its parent. */
static int launch_alive(pid_t pid)
{
    char path[64], buf[256];
    const char *rp;
    FILE *f;
    size_t n;

    if (pid <= 0 || (kill(pid, 0) == -1 && errno != EPERM))
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((f = fopen(path, "re")) == NULL)
        return 1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    rp = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return !(rp != NULL && rp[1] == ' ' && rp[2] == 'Z');
}

/* 1 when <pid> is alive and runs a program named ccproxy (not a recycled pid). */
static int launch_is_ccproxy(pid_t pid)
{
    char path[64], comm[32] = "";
    FILE *f;

    if (!launch_alive(pid))
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
    if ((f = fopen(path, "re")) == NULL)
        return 0;
    if (fgets(comm, sizeof(comm), f) == NULL)
        comm[0] = '\0';
    fclose(f);
    return strncmp(comm, "ccproxy", 7) == 0;
}

/* The pid in the pid file, or 0 when there is none or it is not a running ccproxy. */
static pid_t launch_pidfile(const launch_paths_t *p)
{
    char buf[32] = "";
    FILE *f = fopen(p->pid, "re");
    long pid = 0;

    if (f == NULL)
        return 0;
    if (fgets(buf, sizeof(buf), f) != NULL)
        pid = strtol(buf, NULL, 10);
    fclose(f);
    return (pid > 0 && pid <= INT_MAX && launch_is_ccproxy((pid_t)pid)) ? (pid_t)pid : 0;
}

/* ---- starting the background server ------------------------------------------------------- */

/* Takes ~/.ccproxy/launch.lock. Returns the descriptor (close it to release), or -1. */
static int launch_lock(const launch_paths_t *p)
{
    int fd = open(p->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    long waited = 0;

    if (fd < 0) {
        fprintf(stderr, "ccproxy: cannot open %s: %s\n", p->lock, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
        if ((errno != EWOULDBLOCK && errno != EINTR) || waited >= LAUNCH_LOCK_WAIT_MS) {
            fprintf(stderr,
                    "ccproxy: another ccproxy has been starting the proxy for %ld s (%s); try again\n",
                    waited / 1000, p->lock);
            close(fd);
            return -1;
        }
        launch_sleep_ms(LAUNCH_POLL_MS);
        waited += LAUNCH_POLL_MS;
    }
    return fd;
}

/* Opens the log for appending, moving a large one to ccproxy.log.1 first. Returns fd or -1. */
static int launch_log_open(const launch_paths_t *p, off_t *start)
{
    char old[sizeof(p->log) + 4];
    struct stat st;
    int fd;

    if (stat(p->log, &st) == 0 && st.st_size > LAUNCH_LOG_ROTATE) {
        snprintf(old, sizeof(old), "%s.1", p->log);
        (void)rename(p->log, old);
    }
    fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "ccproxy: cannot open the log %s: %s\n", p->log, strerror(errno));
        return -1;
    }
    *start = lseek(fd, 0, SEEK_END);
    return fd;
}

/* Starts `ccproxy server` detached: own session (double fork, so init reaps it), stdin /dev/null,
 * output to the log. Returns the server's pid, or -1 after printing why. */
static pid_t launch_spawn(const launch_paths_t *p, int debug, off_t *log_start)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *args[] = {exe, "server", "--pid-file", (char *)p->pid, debug ? "--debug" : NULL, NULL};
    int logfd, nul, pfd[2];
    pid_t mid, server = -1;
    int st;

    if (n <= 0) {
        fprintf(stderr, "ccproxy: cannot find its own executable: %s\n", strerror(errno));
        return -1;
    }
    exe[n] = '\0';
    if ((logfd = launch_log_open(p, log_start)) < 0)
        return -1;
    nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nul < 0 || pipe2(pfd, O_CLOEXEC) == -1) {
        fprintf(stderr, "ccproxy: cannot start the proxy: %s\n", strerror(errno));
        close(logfd);
        if (nul >= 0)
            close(nul);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    mid = fork();
    if (mid == 0) {
        sigset_t none;
        pid_t child;

        setsid();
        child = fork();
        if (child != 0) {
            (void)!write(pfd[1], &child, sizeof(child));
            _exit(child > 0 ? 0 : 1);
        }
        /* moved above 2 first: with a closed stdin, /dev/null itself may be descriptor 0 */
        nul = fcntl(nul, F_DUPFD_CLOEXEC, 3);
        logfd = fcntl(logfd, F_DUPFD_CLOEXEC, 3);
        dup2(nul, STDIN_FILENO); /* dup2 leaves the new descriptors open across exec */
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        close_range(3, ~0U, 0); /* nothing the launcher's parent left open lives on in the daemon */
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(exe, args);
        dprintf(STDERR_FILENO, "ccproxy: cannot run %s: %s\n", exe, strerror(errno));
        _exit(LAUNCH_EXIT_CANT_EXEC);
    }
    close(pfd[1]);
    close(nul);
    close(logfd);
    if (mid > 0) {
        while (waitpid(mid, &st, 0) == -1 && errno == EINTR) {
        }
        if (read(pfd[0], &server, sizeof(server)) != (ssize_t)sizeof(server))
            server = -1;
    }
    close(pfd[0]);
    if (server <= 0)
        fprintf(stderr, "ccproxy: cannot start the proxy: fork failed\n");
    return server;
}

/* Prints up to LAUNCH_LOG_TAIL lines the server wrote to the log since <start>. */
static void launch_log_tail(const launch_paths_t *p, off_t start)
{
    static char buf[64 * 1024];
    FILE *f = fopen(p->log, "re");
    size_t n = 0;
    char *s;
    int lines = 0;

    fprintf(stderr, "ccproxy: the last lines of %s:\n", p->log);
    if (f != NULL) {
        struct stat st;
        if (fstat(fileno(f), &st) == 0 && st.st_size - start > (off_t)sizeof(buf) - 1)
            start = st.st_size - (off_t)sizeof(buf) + 1;
        if (fseeko(f, start, SEEK_SET) == 0)
            n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    for (s = buf + n; s > buf; s--)
        if (s[-1] == '\n' && ++lines == LAUNCH_LOG_TAIL)
            break;
    if (*s == '\0')
        fprintf(stderr, "  (nothing)\n");
    for (char *line = strtok(s, "\n"); line != NULL; line = strtok(NULL, "\n"))
        fprintf(stderr, "  %s\n", line);
}

static void launch_other(const char *url, const cp_ctl_health_t *h)
{
    fprintf(stderr,
            "ccproxy: %s is in use by another program: %s.\n"
            "Choose another port for ccproxy (`ccproxy init`, server.port in ~/.ccproxy/settings.json, or "
            "CCPROXY_PORT), or stop that program.\n",
            url, h->why);
}

/* Warns when the provider behind the big model has no key: the first request would fail with 401. */
static void launch_check_key(const cp_config_t *cfg)
{
    cp_route_t rt;

    if (cp_route_target(cfg, cfg->big_model, &rt, NULL) == CP_OK && rt.provider->api_key == NULL &&
        cp_init_preset(rt.provider->name) != NULL)
        fprintf(stderr,
                "ccproxy: warning: provider %s has no API key, so its answers will be 401 errors; give it "
                "one (providers.%s.apiKey, or %s) and run `ccproxy stop` to restart the proxy\n",
                rt.provider->name, rt.provider->name, rt.provider->api_key_env);
}

/* Makes sure a ccproxy answers at <url>, starting one if none does. Returns CP_OK or CP_ERR. */
static int launch_ensure_server(const cp_cli_t *cli, const cp_config_t *cfg, const char *url)
{
    launch_paths_t p;
    cp_ctl_health_t h;
    off_t log_start = 0;
    pid_t server;
    long waited = 0;
    int lock, rc = CP_ERR;

    cp_ctl_probe(url, LAUNCH_PROBE_MS, &h);
    if (h.state == CP_CTL_UP) {
        if (strcmp(h.version, CP_VERSION) != 0)
            fprintf(stderr,
                    "ccproxy: note: the running proxy is version %s, this is %s; `ccproxy stop` restarts it "
                    "with this one at the next launch\n",
                    h.version, CP_VERSION);
        return CP_OK;
    }
    if (h.state == CP_CTL_OTHER) {
        launch_other(url, &h);
        return CP_ERR;
    }
    if (launch_paths(&p, 1) != CP_OK || (lock = launch_lock(&p)) < 0)
        return CP_ERR;
    cp_ctl_probe(url, LAUNCH_PROBE_MS, &h); /* another launcher may have started it meanwhile */
    if (h.state != CP_CTL_DOWN) {
        if (h.state == CP_CTL_OTHER)
            launch_other(url, &h);
        close(lock);
        return h.state == CP_CTL_UP ? CP_OK : CP_ERR;
    }
    launch_check_key(cfg);
    if ((server = launch_spawn(&p, cli->debug, &log_start)) < 0) {
        close(lock);
        return CP_ERR;
    }
    for (;;) {
        cp_ctl_probe(url, LAUNCH_PROBE_MS, &h);
        if (h.state == CP_CTL_UP) {
            fprintf(stderr, "ccproxy: started the proxy at %s (pid %ld, log %s)\n", url, (long)server, p.log);
            rc = CP_OK;
            break;
        }
        if (h.state == CP_CTL_OTHER) {
            launch_other(url, &h);
            break;
        }
        if (!launch_alive(server)) {
            fprintf(stderr, "ccproxy: the proxy exited while starting\n");
            break;
        }
        if (waited >= LAUNCH_START_WAIT_MS) {
            fprintf(stderr, "ccproxy: the proxy did not answer at %s within %d s; stopping it\n", url,
                    LAUNCH_START_WAIT_MS / 1000);
            kill(server, SIGKILL);
            break;
        }
        launch_sleep_ms(LAUNCH_POLL_MS);
        waited += LAUNCH_POLL_MS;
    }
    if (rc != CP_OK)
        launch_log_tail(&p, log_start);
    close(lock);
    return rc;
}

/* ---- finding and running claude ------------------------------------------------------------ */

static int launch_executable(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Finds claude: $CCPROXY_CLAUDE, then PATH, then ~/.claude/local/claude (Claude Code's own "local"
 * install, reached through a shell alias that a program cannot see). */
static int launch_which_claude(char *out, size_t n)
{
    const char *env = getenv("CCPROXY_CLAUDE");
    const char *path = getenv("PATH");
    const char *home = getenv("HOME");
    const char *s, *e;

    if (env != NULL && *env != '\0') {
        snprintf(out, n, "%s", env);
        return launch_executable(out) ? CP_OK : CP_ERR;
    }
    for (s = path ? path : "/usr/local/bin:/usr/bin:/bin"; s != NULL; s = *e ? e + 1 : NULL) {
        e = strchr(s, ':');
        if (e == NULL)
            e = s + strlen(s);
        snprintf(out, n, "%.*s/claude", e == s ? 1 : (int)(e - s), e == s ? "." : s);
        if (launch_executable(out))
            return CP_OK;
    }
    if (home != NULL) {
        snprintf(out, n, "%s/.claude/local/claude", home);
        if (launch_executable(out))
            return CP_OK;
    }
    return CP_ERR;
}

/* Claude Code applies the `env` of its settings files over the environment it was started with, so a
 * leftover ANTHROPIC_BASE_URL there (from another proxy, say) would send claude around ccproxy. Names
 * in <where> the first of the user and project settings files that sets it; returns 1 if one does.
 * (Only a --settings flag outranks those files; managed settings outrank everything.) */
static int launch_claude_overridden(char *where, size_t n)
{
    const char *cfgdir = getenv("CLAUDE_CONFIG_DIR");
    const char *home = getenv("HOME");
    char files[3][PATH_MAX + 32];
    int k = 0;

    if (cfgdir != NULL && *cfgdir != '\0')
        snprintf(files[k++], sizeof(files[0]), "%s/settings.json", cfgdir);
    else if (home != NULL && *home != '\0')
        snprintf(files[k++], sizeof(files[0]), "%s/.claude/settings.json", home);
    snprintf(files[k++], sizeof(files[0]), ".claude/settings.json");
    snprintf(files[k++], sizeof(files[0]), ".claude/settings.local.json");
    for (int i = 0; i < k; i++) {
        json_t *j = json_load_file(files[i], 0, NULL); /* owned; NULL when absent or unreadable */
        int set = json_object_get(json_object_get(j, "env"), "ANTHROPIC_BASE_URL") != NULL;

        json_decref(j);
        if (set) {
            size_t len = strnlen(files[i], n - 1);
            memcpy(where, files[i], len);
            where[len] = '\0';
            return 1;
        }
    }
    return 0;
}

/* 1 when claude's own arguments include --settings (the last one given wins in claude). */
static int launch_has_settings_arg(const cp_cli_t *cli)
{
    for (int i = 0; i < cli->nrest; i++)
        if (strcmp(cli->rest[i], "--settings") == 0 || strncmp(cli->rest[i], "--settings=", 11) == 0)
            return 1;
    return 0;
}

int cp_cmd_launch(const cp_cli_t *cli, const cp_config_t *cfg)
{
    char url[300], claude[PATH_MAX], where[PATH_MAX + 32], settings[400];
    char **argv;
    int i, k = 0, pin = 0;

    cp_ctl_base_url(cfg->host, cfg->port, url, sizeof(url));
    if (launch_which_claude(claude, sizeof(claude)) != CP_OK) {
        if (getenv("CCPROXY_CLAUDE") != NULL && *getenv("CCPROXY_CLAUDE") != '\0')
            fprintf(stderr, "ccproxy: CCPROXY_CLAUDE=%s is not an executable file\n",
                    getenv("CCPROXY_CLAUDE"));
        else
            fprintf(stderr,
                    "ccproxy: `claude` (Claude Code) was not found on PATH.\n"
                    "Install it with:\n\n    %s\n\n"
                    "or set CCPROXY_CLAUDE to its path. `ccproxy server` runs the proxy alone.\n",
                    LAUNCH_NPM_INSTALL);
        return LAUNCH_EXIT_NOT_FOUND;
    }
    if (launch_ensure_server(cli, cfg, url) != CP_OK)
        return CP_EXIT_FAIL;

    /* claude talks to the proxy, and sends a token rather than an x-api-key: a key in
     * ANTHROPIC_API_KEY makes the interactive CLI ask whether to use it (default: no). */
    setenv("ANTHROPIC_BASE_URL", url, 1);
    setenv("ANTHROPIC_AUTH_TOKEN", LAUNCH_PLACEHOLDER, 1);
    unsetenv("ANTHROPIC_API_KEY");
    if (launch_claude_overridden(where, sizeof(where))) {
        if (launch_has_settings_arg(cli)) {
            fprintf(stderr,
                    "ccproxy: warning: %s sets ANTHROPIC_BASE_URL and your --settings replaces ccproxy's, so "
                    "claude may not use the proxy; remove it from that file\n",
                    where);
        } else {
            /* a --settings flag outranks the files: claude's own arguments follow, untouched */
            snprintf(settings, sizeof(settings), "{\"env\":{\"ANTHROPIC_BASE_URL\":\"%s\"}}", url);
            pin = 1;
            fprintf(stderr,
                    "ccproxy: %s sets ANTHROPIC_BASE_URL; passing --settings so that claude uses %s\n", where,
                    url);
        }
    }
    argv = cp_xcalloc((size_t)cli->nrest + 4, sizeof(*argv));
    argv[k++] = "claude";
    if (pin) {
        argv[k++] = "--settings";
        argv[k++] = settings;
    }
    for (i = 0; i < cli->nrest; i++)
        argv[k++] = cli->rest[i];
    fflush(stdout);
    fflush(stderr);
    execv(claude, argv);
    fprintf(stderr, "ccproxy: cannot run %s: %s\n", claude, strerror(errno));
    free(argv);
    return errno == ENOENT ? LAUNCH_EXIT_NOT_FOUND : LAUNCH_EXIT_CANT_EXEC;
}

/* ---- status and stop ------------------------------------------------------------------------ */

static void status_uptime(long long s, char *buf, size_t n)
{
    if (s >= 86400)
        snprintf(buf, n, "%lldd %lldh %lldm", s / 86400, s % 86400 / 3600, s % 3600 / 60);
    else if (s >= 3600)
        snprintf(buf, n, "%lldh %lldm %llds", s / 3600, s % 3600 / 60, s % 60);
    else if (s >= 60)
        snprintf(buf, n, "%lldm %llds", s / 60, s % 60);
    else
        snprintf(buf, n, "%llds", s);
}

int cp_cmd_status(const cp_cli_t *cli, const cp_config_t *cfg)
{
    char url[300], up[64];
    cp_ctl_health_t h;
    launch_paths_t p;
    pid_t stray;
    int have_paths = launch_paths(&p, 0) == CP_OK;

    cp_ctl_base_url(cfg->host, cfg->port, url, sizeof(url));
    cp_ctl_probe(url, LAUNCH_PROBE_MS * 2, &h);
    stray = (h.state != CP_CTL_UP && have_paths) ? launch_pidfile(&p) : 0;
    if (cli->json) {
        json_t *j = json_pack("{s:b,s:s}", "running", h.state == CP_CTL_UP, "url", url); /* owned */
        if (h.state == CP_CTL_UP)
            json_object_update_new(j, json_pack("{s:I,s:s,s:I,s:I,s:I}", "pid", (json_int_t)h.pid, "version",
                                                h.version, "uptime_s", (json_int_t)h.uptime_s, "active",
                                                (json_int_t)h.active, "streams", (json_int_t)h.streams));
        else
            json_object_set_new(j, "reason",
                                json_string(h.state == CP_CTL_OTHER ? h.why : "nothing answers"));
        if (stray > 0)
            json_object_set_new(j, "unreachable_pid", json_integer(stray));
        if (have_paths)
            json_object_set_new(j, "log", json_string(p.log));
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(j);
    } else if (h.state == CP_CTL_UP) {
        status_uptime(h.uptime_s, up, sizeof(up));
        printf("ccproxy is running\n"
               "  address   %s\n"
               "  pid       %ld\n"
               "  version   %s\n"
               "  uptime    %s\n"
               "  requests  %lld in flight, %lld streaming\n",
               url, h.pid, h.version, up, h.active, h.streams);
        if (have_paths)
            printf("  log       %s\n", p.log);
    } else {
        if (h.state == CP_CTL_OTHER)
            printf("ccproxy is not running: %s is used by another program (%s)\n", url, h.why);
        else
            printf("ccproxy is not running (nothing answers at %s)\n", url);
        if (stray > 0)
            printf("but ccproxy pid %ld from %s is alive: it listens elsewhere or does not answer; `ccproxy "
                   "stop` stops it\n",
                   (long)stray, p.pid);
    }
    return h.state == CP_CTL_UP ? CP_EXIT_OK : h.state == CP_CTL_OTHER ? CP_EXIT_FAIL : STATUS_EXIT_STOPPED;
}

/* Waits up to <ms> for <pid> to go. Returns 1 when it has. */
static int stop_wait(pid_t pid, long ms)
{
    for (long waited = 0; waited < ms; waited += LAUNCH_POLL_MS) {
        if (!launch_alive(pid))
            return 1;
        launch_sleep_ms(LAUNCH_POLL_MS);
    }
    return !launch_alive(pid);
}

int cp_cmd_stop(const cp_cli_t *cli, const cp_config_t *cfg)
{
    char url[300];
    cp_ctl_health_t h;
    launch_paths_t p;
    pid_t pid = 0;
    int have_paths = launch_paths(&p, 0) == CP_OK;

    (void)cli;
    cp_ctl_base_url(cfg->host, cfg->port, url, sizeof(url));
    cp_ctl_probe(url, LAUNCH_PROBE_MS * 2, &h);
    if (h.state == CP_CTL_UP && h.pid > 0 && launch_is_ccproxy((pid_t)h.pid))
        pid = (pid_t)h.pid;
    else if (have_paths)
        pid = launch_pidfile(&p);
    if (pid == 0) {
        if (h.state == CP_CTL_UP) {
            fprintf(stderr,
                    "ccproxy: the ccproxy at %s (pid %ld) is not a process this machine's user can see "
                    "(another container or user?); stop it there\n",
                    url, h.pid);
            return CP_EXIT_FAIL;
        }
        if (have_paths)
            (void)unlink(p.pid); /* stale */
        printf("ccproxy is not running (nothing answers at %s)\n", url);
        return CP_EXIT_OK;
    }
    if (kill(pid, SIGTERM) == -1) {
        fprintf(stderr,
                "ccproxy: cannot stop pid %ld: %s (a system service? `systemctl stop ccproxy`, or run as its "
                "user)\n",
                (long)pid, strerror(errno));
        return CP_EXIT_FAIL;
    }
    if (h.state == CP_CTL_UP && h.active > 0)
        printf("ccproxy (pid %ld): waiting up to %u s for %lld requests in flight\n", (long)pid,
               cfg->drain_timeout_s, h.active);
    fflush(stdout);
    if (!stop_wait(pid, ((long)cfg->drain_timeout_s + LAUNCH_STOP_GRACE_S) * 1000)) {
        fprintf(stderr, "ccproxy: pid %ld still runs after the drain timeout; stopping it now\n", (long)pid);
        kill(pid, SIGTERM); /* a second signal: exit at once */
        if (!stop_wait(pid, 2000)) {
            kill(pid, SIGKILL);
            stop_wait(pid, 2000);
        }
    }
    printf("ccproxy stopped (pid %ld)\n", (long)pid);
    return CP_EXIT_OK;
}
