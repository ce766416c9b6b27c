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
#include <openssl/crypto.h>

#include "cp_auth.h"
#include "cp_buf.h"
#include "cp_ctl.h"
#include "cp_ident.h"
#include "cp_init.h"
#include "cp_keys.h"
#include "cp_remote.h"
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
    char key[PATH_MAX + 16]; /* the instance key (lib/cli/cp_ident.h) */
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
    snprintf(p->key, sizeof(p->key), "%s/" CP_IDENT_FILE, p->dir);
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

/* The instance key in ~/.ccproxy, created first when <create>. Returns <k>, or NULL with <why> saying
 * why there is none (for the messages). */
static const cp_ident_key_t *launch_key(const launch_paths_t *p, int create, cp_ident_key_t *k, char *why,
                                        size_t n)
{
    cp_err_t e = {0};
    int rc = create ? cp_ident_load_or_create(p->key, k, &e) : cp_ident_load(p->key, k, &e);

    if (rc == CP_OK)
        return k;
    if (rc == CP_DECLINED)
        snprintf(why, n, "there is no instance key (%.300s) to check it with", p->key);
    else
        snprintf(why, n, "%s", e.msg);
    return NULL;
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

/* What the launcher makes of what answers at <url>: CP_OK use it, CP_AGAIN nothing listens (start one),
 * CP_ERR refuse it (after saying why). Only a ccproxy that proves it holds this user's instance key, and
 * runs with the configuration loaded here, gets claude's traffic. */
static int launch_judge(const char *url, const cp_ctl_health_t *h)
{
    switch (h->state) {
    case CP_CTL_DOWN:
        return CP_AGAIN;
    case CP_CTL_OTHER:
        launch_other(url, h);
        return CP_ERR;
    case CP_CTL_UNPROVEN:
        fprintf(stderr,
                "ccproxy: something at %s answers as ccproxy but cannot prove it is yours: %s.\n"
                "claude was not started. Stop it, or choose another port for ccproxy (CCPROXY_PORT, or "
                "server.port in ~/.ccproxy/settings.json).\n",
                url, h->why);
        return CP_ERR;
    case CP_CTL_UP:
    default:
        break;
    }
    if (!h->same_config) {
        fprintf(stderr,
                "ccproxy: the proxy at %s (pid %ld) runs with other settings than the ones here (it was "
                "started from another directory, or the settings changed since).\n"
                "claude was not started. Run `ccproxy stop`, then `ccproxy` again, to start one with these "
                "settings.\n",
                url, h->pid);
        return CP_ERR;
    }
    if (strcmp(h->version, CP_VERSION) != 0)
        fprintf(stderr,
                "ccproxy: note: the running proxy is version %s, this is %s; `ccproxy stop` restarts it "
                "with this one at the next launch\n",
                h->version, CP_VERSION);
    return CP_OK;
}

/* One probe of <url> with a fresh nonce, judged. */
static int launch_probe(const cp_config_t *cfg, const cp_ident_key_t *key, const char *url,
                        cp_ctl_health_t *h)
{
    cp_ctl_expect_t x;

    cp_ctl_expect_init(&x, key, NULL, cfg->merged);
    cp_ctl_probe(url, LAUNCH_PROBE_MS, &x, h);
    return launch_judge(url, h);
}

/* Starts the server (the caller holds the launch lock) and waits until it proves itself at <url>. */
static int launch_start(const cp_cli_t *cli, const cp_config_t *cfg, const launch_paths_t *p, const char *url,
                        const cp_ident_key_t *key)
{
    cp_ctl_health_t h;
    off_t log_start = 0;
    pid_t server;
    long waited = 0;
    int rc;

    launch_check_key(cfg);
    if ((server = launch_spawn(p, cli->debug, &log_start)) < 0)
        return CP_ERR;
    for (;;) {
        if ((rc = launch_probe(cfg, key, url, &h)) == CP_OK) {
            fprintf(stderr, "ccproxy: started the proxy at %s (pid %ld, log %s)\n", url, (long)server,
                    p->log);
            return CP_OK;
        }
        if (rc == CP_ERR)
            break;
        if (!cp_ctl_alive((long)server)) {
            fprintf(stderr, "ccproxy: the proxy exited while starting\n");
            break;
        }
        if (waited >= LAUNCH_START_WAIT_MS) {
            fprintf(stderr, "ccproxy: the proxy did not answer at %s within %d s; stopping it\n", url,
                    LAUNCH_START_WAIT_MS / 1000);
            kill(server, SIGKILL); /* our own child's child, never a pid learned over HTTP */
            break;
        }
        launch_sleep_ms(LAUNCH_POLL_MS);
        waited += LAUNCH_POLL_MS;
    }
    launch_log_tail(p, log_start);
    return CP_ERR;
}

/* Makes sure a ccproxy of this user, with this configuration, answers at <url>, starting one if
 * nothing listens there. Returns CP_OK or CP_ERR (after saying why). */
static int launch_ensure_server(const cp_cli_t *cli, const cp_config_t *cfg, const char *url)
{
    launch_paths_t p;
    cp_ident_key_t key;
    cp_ctl_health_t h;
    char why[512];
    int lock, rc;

    if (launch_paths(&p, 1) != CP_OK)
        return CP_ERR;
    if (launch_key(&p, 1, &key, why, sizeof(why)) == NULL) {
        fprintf(stderr, "ccproxy: %s\n", why);
        return CP_ERR;
    }
    if ((rc = launch_probe(cfg, &key, url, &h)) == CP_AGAIN) {
        if ((lock = launch_lock(&p)) < 0) {
            rc = CP_ERR;
        } else {
            /* another launcher may have started it meanwhile */
            if ((rc = launch_probe(cfg, &key, url, &h)) == CP_AGAIN)
                rc = launch_start(cli, cfg, &p, url, &key);
            close(lock);
        }
    }
    cp_ident_key_wipe(&key);
    return rc;
}

/* ---- the team server (client.url) ----------------------------------------------------------- */

/* Says why the launcher cannot use the server at <url> (state other than ACCEPTED). */
static void remote_refusal(const cp_config_t *cfg, const char *url, const cp_remote_view_t *v, int local)
{
    const char *what = local ? "the proxy" : "the team server";

    if (v->state == CP_REMOTE_DOWN)
        fprintf(stderr, "ccproxy: %s at %s does not answer: %s\n", what, url, v->why);
    else if (v->state == CP_REMOTE_OTHER)
        fprintf(stderr, "ccproxy: %s at %s: %s\n", what, url, v->why);
    else if (v->state == CP_REMOTE_REFUSED)
        fprintf(
            stderr,
            "ccproxy: %s at %s refused the key (unknown, revoked or rotated): ask its admin for a new one, "
            "then `ccproxy init %s%s --key -`\n",
            what, url, local ? "" : "--remote ", local ? "" : url);
    else if (cfg->client_key_env != NULL)
        fprintf(stderr, "ccproxy: no developer key: client.keyEnv names %s, which is not set here\n",
                cfg->client_key_env);
    else
        fprintf(stderr,
                "ccproxy: no developer key for %s: store yours with `ccproxy init %s%s --key -` (the admin "
                "creates it with `ccproxy keys add NAME`)\n",
                url, local ? "" : "--remote ", local ? "" : url);
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

/* Replaces the launcher with claude, sent to <url> with <token>. Returns only on failure (the exit code). */
static int launch_exec(const cp_cli_t *cli, const char *claude, const char *url, const char *token)
{
    char where[PATH_MAX + 32], settings[1300];
    char **argv;
    int i, k = 0, pin = 0;

    /* claude talks to the proxy, and sends a token rather than an x-api-key: a key in
     * ANTHROPIC_API_KEY makes the interactive CLI ask whether to use it (default: no), and would be sent
     * instead of the token. */
    setenv("ANTHROPIC_BASE_URL", url, 1);
    setenv("ANTHROPIC_AUTH_TOKEN", token, 1);
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

/* The key claude presents at <url> (the team server, or the local proxy when it has developer keys):
 * checked first with /ccproxy/key, so that a wrong key stops here rather than in claude. */
static int launch_check_client(const cp_config_t *cfg, const char *url, int local)
{
    cp_remote_view_t v;

    cp_remote_check(url, cfg->client_key, &v);
    json_decref(v.key);
    if (v.state == CP_REMOTE_ACCEPTED)
        return CP_OK;
    remote_refusal(cfg, url, &v, local);
    return CP_ERR;
}

int cp_cmd_launch(const cp_cli_t *cli, const cp_config_t *cfg)
{
    char url[300], claude[PATH_MAX];
    int keys = cfg->auth->n > 0;

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
    if (cfg->client_url != NULL) { /* remote mode: no local server */
        if (launch_check_client(cfg, cfg->client_url, 0) != CP_OK)
            return CP_EXIT_FAIL;
        return launch_exec(cli, claude, cfg->client_url, cfg->client_key);
    }
    cp_ctl_base_url(cfg->host, cfg->port, cfg->tls_cert, url, sizeof(url));
    if (cfg->tls_cert != NULL && getenv("NODE_EXTRA_CA_CERTS") == NULL)
        setenv("NODE_EXTRA_CA_CERTS", cfg->tls_cert,
               1); /* server.tls: claude trusts the proxy's certificate */
    if (keys && cfg->client_key == NULL) {
        fprintf(stderr,
                "ccproxy: this proxy has developer keys (auth.keys), so claude needs yours: store it with "
                "`ccproxy init --key -`%s (the admin creates it with `ccproxy keys add NAME`)\n",
                cfg->client_key_env != NULL ? ", or set the variable client.keyEnv names" : "");
        return CP_EXIT_FAIL;
    }
    if (launch_ensure_server(cli, cfg, url) != CP_OK || (keys && launch_check_client(cfg, url, 1) != CP_OK))
        return CP_EXIT_FAIL;
    return launch_exec(cli, claude, url, keys ? cfg->client_key : LAUNCH_PLACEHOLDER);
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

/* What status and stop know: the address, whoever answers there (with proof when we have the key),
 * and the pid file's verdict. */
typedef struct ctl_view {
    char url[300];
    launch_paths_t p;
    int have_paths;
    cp_ctl_health_t h;
    cp_ctl_pidfile_t pf; /* CP_CTL_PID_NONE without paths */
} ctl_view_t;

static void ctl_view(const cp_config_t *cfg, long timeout_ms, ctl_view_t *v)
{
    char why[512] = "HOME is not set, so there is no instance key to check it with";
    cp_ident_key_t key;
    const cp_ident_key_t *k = NULL;
    cp_ctl_expect_t x;

    memset(v, 0, sizeof(*v));
    v->pf.pidfd = -1;
    v->have_paths = launch_paths(&v->p, 0) == CP_OK;
    if (v->have_paths)
        k = launch_key(&v->p, 0, &key, why, sizeof(why));
    cp_ctl_base_url(cfg->host, cfg->port, cfg->tls_cert, v->url, sizeof(v->url));
    cp_ctl_expect_init(&x, k, why, cfg->merged);
    cp_ctl_probe(v->url, timeout_ms, &x, &v->h);
    if (k != NULL)
        cp_ident_key_wipe(&key);
    if (v->have_paths)
        cp_ctl_pidfile_check(v->p.pid, &v->pf);
}

static void status_json(const ctl_view_t *v)
{
    static const char *const ids[] = {"none", "yours", "other", "unproven"};
    const cp_ctl_health_t *h = &v->h;
    json_t *j = json_pack("{s:b,s:s,s:s}", "running", h->state == CP_CTL_UP, "url", v->url, "identity",
                          ids[h->state]); /* owned */

    if (h->state == CP_CTL_UP)
        json_object_update_new(j, json_pack("{s:I,s:s,s:I,s:I,s:I,s:b}", "pid", (json_int_t)h->pid, "version",
                                            h->version, "uptime_s", (json_int_t)h->uptime_s, "active",
                                            (json_int_t)h->active, "streams", (json_int_t)h->streams,
                                            "same_settings", h->same_config));
    else
        json_object_set_new(j, "reason", json_string(h->state == CP_CTL_DOWN ? "nothing answers" : h->why));
    if (h->state != CP_CTL_UP && v->pf.verdict == CP_CTL_PID_OURS)
        json_object_set_new(j, "unreachable_pid", json_integer(v->pf.pid));
    if (v->have_paths)
        json_object_set_new(j, "log", json_string(v->p.log));
    json_dumpf(j, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(j);
}

static void status_text(const ctl_view_t *v)
{
    const cp_ctl_health_t *h = &v->h;
    char up[64];

    if (h->state == CP_CTL_UP) {
        status_uptime(h->uptime_s, up, sizeof(up));
        printf("ccproxy is running (yours)\n"
               "  address   %s\n"
               "  pid       %ld\n"
               "  version   %s\n"
               "  uptime    %s\n"
               "  requests  %lld in flight, %lld streaming\n",
               v->url, h->pid, h->version, up, h->active, h->streams);
        if (!h->same_config)
            printf("  settings  not the ones here: `ccproxy stop`, then `ccproxy`, to use these\n");
        if (v->have_paths)
            printf("  log       %s\n", v->p.log);
        return;
    }
    if (h->state == CP_CTL_UNPROVEN)
        printf(
            "ccproxy is not running: something at %s answers as ccproxy but cannot prove it is yours (%s)\n",
            v->url, h->why);
    else if (h->state == CP_CTL_OTHER)
        printf("ccproxy is not running: %s is used by another program (%s)\n", v->url, h->why);
    else
        printf("ccproxy is not running (nothing answers at %s)\n", v->url);
    if (v->pf.verdict == CP_CTL_PID_OURS)
        printf("but ccproxy pid %ld from %s is alive: it listens elsewhere or does not answer; `ccproxy "
               "stop` stops it\n",
               v->pf.pid, v->p.pid);
}

/* `status` in remote mode: the team server, whether it answers and whether it takes the key. */
static int status_remote(const cp_cli_t *cli, const cp_config_t *cfg)
{
    static const char *const states[] = {"unreachable", "not ccproxy", "no key", "key refused",
                                         "key accepted"};
    cp_remote_view_t v;
    const json_t *k; /* borrowed from v.key */
    json_t *m;       /* borrowed from v.key */
    size_t i;
    cp_buf_t b = CP_BUF_INIT;
    json_t *j; /* owned */

    cp_remote_check(cfg->client_url, cfg->client_key, &v);
    k = v.key;
    if (cli->json) {
        j = json_pack("{s:s,s:s,s:b,s:s,s:O?,s:O?,s:O?,s:O?,s:O?}", "mode", "remote", "url", cfg->client_url,
                      "reachable", v.state != CP_REMOTE_DOWN, "state", states[v.state], "server_mode",
                      json_object_get(k, "mode"), "key", json_object_get(k, "key"), "models",
                      json_object_get(k, "models"), "limits", json_object_get(k, "limits"), "usage",
                      json_object_get(k, "usage"));
        json_object_set_new(j, "key_accepted",
                            v.state == CP_REMOTE_ACCEPTED  ? json_true()
                            : v.state == CP_REMOTE_REFUSED ? json_false()
                                                           : json_null());
        if (v.state != CP_REMOTE_ACCEPTED)
            json_object_set_new(j, "reason",
                                json_string(v.state == CP_REMOTE_NO_KEY    ? "no developer key configured"
                                            : v.state == CP_REMOTE_REFUSED ? "unknown, revoked or rotated"
                                                                           : v.why));
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(j);
    } else {
        printf("ccproxy uses the team server at %s (client.url; no local proxy)\n", cfg->client_url);
        printf("  server    %s\n", v.state == CP_REMOTE_DOWN ? "does not answer"
                                   : v.state == CP_REMOTE_OTHER
                                       ? "answers, but not as a ccproxy with team access"
                                       : "answers");
        if (v.state == CP_REMOTE_DOWN || v.state == CP_REMOTE_OTHER)
            printf("  reason    %s\n", v.why);
        else if (v.state != CP_REMOTE_ACCEPTED)
            printf("  key       %s\n", v.state == CP_REMOTE_NO_KEY
                                           ? "none configured (`ccproxy init --remote URL --key -`)"
                                           : "refused (unknown, revoked or rotated)");
        else if (!json_is_string(json_object_get(k, "key")))
            printf("  key       not needed (the server is in %s mode)\n",
                   json_string_value(json_object_get(k, "mode")));
        else {
            cp_keys_safe_text(json_string_value(json_object_get(k, "key")), 64, &b);
            printf("  key       accepted: %s\n", cp_buf_str(&b));
            cp_buf_reset(&b, 0);
            if (json_is_array(json_object_get(k, "models")))
                json_array_foreach(json_object_get(k, "models"), i, m) if (json_is_string(m))
                {
                    cp_buf_adds(&b, i > 0 ? ", " : "");
                    cp_keys_safe_text(json_string_value(m), 80, &b);
                }
            printf("  models    %s\n", b.len > 0 ? cp_buf_str(&b) : "any");
            cp_buf_reset(&b, 0);
            cp_keys_limits_text(json_object_get(k, "limits"), &b);
            printf("  limits    %s\n", cp_buf_str(&b));
            cp_buf_reset(&b, 0);
            cp_keys_usage_text(json_object_get(k, "usage"), &b);
            printf("  usage     %s\n", cp_buf_str(&b));
        }
        cp_buf_free(&b);
    }
    json_decref(v.key);
    return v.state == CP_REMOTE_ACCEPTED ? CP_EXIT_OK
           : v.state == CP_REMOTE_DOWN   ? STATUS_EXIT_STOPPED
                                         : CP_EXIT_FAIL;
}

int cp_cmd_status(const cp_cli_t *cli, const cp_config_t *cfg)
{
    ctl_view_t v;

    if (cfg->client_url != NULL)
        return status_remote(cli, cfg);

    ctl_view(cfg, LAUNCH_PROBE_MS * 2, &v);
    if (cli->json)
        status_json(&v);
    else
        status_text(&v);
    cp_ctl_pidfile_close(&v.pf);
    return v.h.state == CP_CTL_UP     ? CP_EXIT_OK
           : v.h.state == CP_CTL_DOWN ? STATUS_EXIT_STOPPED
                                      : CP_EXIT_FAIL; /* another program, or a ccproxy that is not yours */
}

/* Nothing to signal: no pid file, or a stale one (already removed). */
static int stop_nothing(const ctl_view_t *v)
{
    const char *pidfile = v->have_paths ? v->p.pid : "~/.ccproxy/ccproxy.pid";

    if (v->h.state == CP_CTL_UP) {
        fprintf(
            stderr,
            "ccproxy: the ccproxy at %s (pid %ld) is yours but has no pid file (%s): it was not started by "
            "`ccproxy`, so stop does not signal it. Stop it where it runs (Ctrl-C in its terminal, or its "
            "service manager).\n",
            v->url, v->h.pid, pidfile);
        return CP_EXIT_FAIL;
    }
    if (v->h.state == CP_CTL_UNPROVEN) {
        fprintf(stderr,
                "ccproxy: something at %s answers as ccproxy but cannot prove it is yours (%s); stop signals "
                "only the server named in %s, and there is none.\n",
                v->url, v->h.why, pidfile);
        return CP_EXIT_FAIL;
    }
    if (v->h.state == CP_CTL_OTHER)
        printf("ccproxy is not running (%s is used by another program)\n", v->url);
    else
        printf("ccproxy is not running (nothing answers at %s)\n", v->url);
    return CP_EXIT_OK;
}

/* SIGTERM to the server of the pid file (checked), then waits for its drain; escalates if it hangs. */
static int stop_server(ctl_view_t *v, const cp_config_t *cfg)
{
    cp_ctl_pidfile_t after;
    long pid = v->pf.pid;

    if (cp_ctl_pidfile_signal(&v->pf, SIGTERM) == -1) {
        if (errno == ESRCH) {
            printf("ccproxy is not running (pid %ld has just exited)\n", pid);
            return CP_EXIT_OK;
        }
        fprintf(stderr, "ccproxy: cannot stop pid %ld: %s\n", pid, strerror(errno));
        return CP_EXIT_FAIL;
    }
    if (v->h.state == CP_CTL_UP && v->h.pid == pid && v->h.active > 0)
        printf("ccproxy (pid %ld): waiting up to %u s for %lld requests in flight\n", pid,
               cfg->drain_timeout_s, v->h.active);
    fflush(stdout);
    if (!cp_ctl_pidfile_wait(&v->pf, ((long)cfg->drain_timeout_s + LAUNCH_STOP_GRACE_S) * 1000)) {
        fprintf(stderr, "ccproxy: pid %ld still runs after the drain timeout; stopping it now\n", pid);
        cp_ctl_pidfile_signal(&v->pf, SIGTERM); /* a second signal: exit at once */
        if (!cp_ctl_pidfile_wait(&v->pf, 2000)) {
            cp_ctl_pidfile_signal(&v->pf, SIGKILL);
            cp_ctl_pidfile_wait(&v->pf, 2000);
        }
    }
    cp_ctl_pidfile_check(v->p.pid, &after); /* one killed outright leaves its file behind */
    if (after.verdict == CP_CTL_PID_STALE)
        (void)unlink(v->p.pid);
    cp_ctl_pidfile_close(&after);
    printf("ccproxy stopped (pid %ld)\n", pid);
    return CP_EXIT_OK;
}

/* Signals only the pid of ~/.ccproxy/ccproxy.pid, after cp_ctl_pidfile_check; never a pid learned over
 * HTTP. */
int cp_cmd_stop(const cp_cli_t *cli, const cp_config_t *cfg)
{
    ctl_view_t v;
    int rc;

    (void)cli;
    ctl_view(cfg, LAUNCH_PROBE_MS * 2, &v);
    switch (v.pf.verdict) {
    case CP_CTL_PID_OURS:
        rc = stop_server(&v, cfg);
        break;
    case CP_CTL_PID_REFUSED:
        fprintf(stderr, "ccproxy: not stopping anything: %s\n", v.pf.why);
        rc = CP_EXIT_FAIL;
        break;
    case CP_CTL_PID_STALE:
        (void)unlink(v.p.pid);
        /* fall through */
    case CP_CTL_PID_NONE:
    default:
        rc = stop_nothing(&v);
        break;
    }
    cp_ctl_pidfile_close(&v.pf);
    return rc;
}
