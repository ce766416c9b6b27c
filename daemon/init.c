/* daemon/init.c: `ccproxy init`: the questions (on a terminal) or the flags (otherwise), then the
 * settings file, checked by the same loader as `server` before it replaces anything.
 *
 * What is written, the presets and the defaults are lib/cli/cp_init.c's; this file only talks to the
 * user and the file system. The file is created 0600 in a 0700 directory, written to a temporary
 * name, loaded, and renamed into place; a file it replaces is kept as settings.json.bak. */
#include "cmds.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "cp_ctl.h"
#include "cp_ident.h"
#include "cp_init.h"
#include "cp_keys.h"
#include "cp_trust.h"

#define INIT_ANSWER_MAX 1024
#define INIT_KEY_MAX    4096 /* `--api-key -`: the longest key read from standard input */
#define INIT_NOWHERE    "/nonexistent/ccproxy-init" /* a layer that is never there */

/* The answers' storage: cp_init_answers_t borrows from here. */
typedef struct init_text {
    char scope[16];
    char provider[INIT_ANSWER_MAX];
    char base_url[INIT_ANSWER_MAX];
    char style[16];
    char key[INIT_ANSWER_MAX];
    char key_in[INIT_KEY_MAX + 2]; /* `--api-key -` */
    char big[INIT_ANSWER_MAX];
    char small[INIT_ANSWER_MAX];
} init_text_t;

/* ---- the terminal --------------------------------------------------------------------------- */

static struct termios init_saved_tty;
static volatile sig_atomic_t init_echo_off;

/* A signal while the key is typed must not leave the terminal without echo. */
static void init_on_signal(int sig)
{
    if (init_echo_off)
        tcsetattr(STDIN_FILENO, TCSANOW, &init_saved_tty);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Asks <question> and reads one line into <buf>; an empty answer takes <dflt> (may be NULL).
 * <secret>: the answer is not echoed. Returns CP_OK, or CP_ERR at end of input. */
static int init_ask(const char *question, const char *dflt, int secret, char *buf, size_t n)
{
    struct termios quiet;
    size_t len;
    char *ok;

    for (;;) {
        /* echo goes off before the prompt shows: a key typed or pasted the moment it appears is
         * never echoed */
        if (secret && tcgetattr(STDIN_FILENO, &init_saved_tty) == 0) {
            quiet = init_saved_tty;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            quiet.c_lflag |= ECHONL;
            init_echo_off = 1;
            tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
        }
        if (dflt != NULL && *dflt != '\0')
            printf("%s [%s]: ", question, dflt);
        else
            printf("%s: ", question);
        fflush(stdout);
        ok = fgets(buf, (int)n, stdin);
        if (init_echo_off) {
            tcsetattr(STDIN_FILENO, TCSANOW, &init_saved_tty);
            init_echo_off = 0;
        }
        if (ok == NULL) {
            printf("\n");
            return CP_ERR;
        }
        len = strlen(buf);
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
            buf[--len] = '\0';
        while (buf[0] == ' ')
            memmove(buf, buf + 1, len--);
        if (len == 0 && dflt != NULL && *dflt != '\0')
            snprintf(buf, n, "%s", dflt);
        if (buf[0] != '\0')
            return CP_OK;
        printf("  an answer is needed\n");
    }
}

/* Asks to pick one of <n> <items> by number or by name; <dflt> is an index. Returns the index, or
 * -1 at end of input. */
static int init_choose(const char *question, const char *const *items, const char *const *about, int n,
                       int dflt)
{
    char buf[INIT_ANSWER_MAX], d[16];
    int i;

    printf("%s\n", question);
    for (i = 0; i < n; i++)
        printf("  %d) %-11s %s\n", i + 1, items[i], about[i]);
    snprintf(d, sizeof(d), "%d", dflt + 1);
    for (;;) {
        char *end;
        long k;

        if (init_ask("Choice", d, 0, buf, sizeof(buf)) != CP_OK)
            return -1;
        k = strtol(buf, &end, 10);
        if (*end == '\0' && k >= 1 && k <= n)
            return (int)k - 1;
        for (i = 0; i < n; i++)
            if (strcmp(buf, items[i]) == 0)
                return i;
        printf("  answer 1 to %d, or a name\n", n);
    }
}

/* y/n question; <dflt> 0 or 1. Returns 1 yes, 0 no, -1 end of input. */
static int init_yes_no(const char *question, int dflt)
{
    char buf[64];

    for (;;) {
        if (init_ask(question, dflt ? "Y/n" : "y/N", 0, buf, sizeof(buf)) != CP_OK)
            return -1;
        if (strcmp(buf, "Y/n") == 0 || strcmp(buf, "y/N") == 0)
            return dflt;
        if (strcmp(buf, "y") == 0 || strcmp(buf, "Y") == 0 || strcmp(buf, "yes") == 0)
            return 1;
        if (strcmp(buf, "n") == 0 || strcmp(buf, "N") == 0 || strcmp(buf, "no") == 0)
            return 0;
        printf("  answer y or n\n");
    }
}

/* `--api-key -` and `--key -`: the key from standard input, so that it is in neither argv (`ps`) nor the
 * shell's history. From a terminal it is asked for (<prompt>) without echo; from a pipe or a file it is
 * everything up to the end of input, at most <max> bytes (<max> < <n> - 1), less one trailing newline
 * (LF or CRLF). Refused: empty, longer, or holding a NUL byte or another control character. <flag>
 * names the option in messages. Returns CP_OK, or CP_ERR after saying why. */
static int init_key_stdin(const char *flag, const char *prompt, char *buf, size_t n, size_t max)
{
    size_t len = 0;
    ssize_t r;

    if (isatty(STDIN_FILENO)) {
        signal(SIGINT, init_on_signal); /* the terminal gets its echo back whatever happens */
        signal(SIGTERM, init_on_signal);
        signal(SIGHUP, init_on_signal);
        if (init_ask(prompt, NULL, 1, buf, n) != CP_OK) {
            fprintf(stderr, "ccproxy init: %s: no key was typed\n", flag);
            return CP_ERR;
        }
        len = strlen(buf);
    } else {
        while (len < n - 1 && (r = read(STDIN_FILENO, buf + len, n - 1 - len)) != 0) {
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                fprintf(stderr, "ccproxy init: %s: cannot read standard input: %s\n", flag, strerror(errno));
                return CP_ERR;
            }
            len += (size_t)r;
        }
        if (len > 0 && buf[len - 1] == '\n')
            len--;
        if (len > 0 && buf[len - 1] == '\r')
            len--;
    }
    if (len == 0 || len > max) {
        if (len == 0)
            fprintf(stderr, "ccproxy init: %s: the key on standard input is empty\n", flag);
        else
            fprintf(stderr, "ccproxy init: %s: the key on standard input is longer than %zu bytes\n", flag,
                    max);
        return CP_ERR;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
            fprintf(
                stderr,
                "ccproxy init: %s: the key on standard input holds a NUL byte or a control character (byte "
                "%zu)\n",
                flag, i + 1);
            return CP_ERR;
        }
    buf[len] = '\0';
    return CP_OK;
}

/* ---- the questions -------------------------------------------------------------------------- */

static int init_ask_provider(cp_init_answers_t *a, init_text_t *t)
{
    const char *names[8], *about[8];
    const cp_init_preset_t *p;
    int n = 0, k;

    for (size_t i = 0; i < cp_init_npresets; i++) {
        names[n] = cp_init_presets[i].name;
        about[n++] = cp_init_presets[i].base_url;
    }
    names[n] = "custom";
    about[n++] = "any OpenAI- or Anthropic-compatible server (vLLM, Ollama, DeepSeek, ...)";
    if (a->provider == NULL) {
        if ((k = init_choose("Provider:", names, about, n, 0)) < 0)
            return CP_ERR;
        if (k < n - 1) {
            snprintf(t->provider, sizeof(t->provider), "%s", names[k]);
        } else if (init_ask("Name for this provider (letters, digits, - and _)", "custom", 0, t->provider,
                            sizeof(t->provider)) != CP_OK)
            return CP_ERR;
        a->provider = t->provider;
    }
    p = cp_init_preset(a->provider);
    if (a->base_url == NULL) {
        if (init_ask("Base URL", p ? p->base_url : NULL, 0, t->base_url, sizeof(t->base_url)) != CP_OK)
            return CP_ERR;
        a->base_url = t->base_url;
    }
    if (a->style == NULL && p == NULL) {
        static const char *const styles[] = {"openai", "anthropic"};
        static const char *const sabout[] = {"Chat Completions (/chat/completions)",
                                             "Messages API (/v1/messages)"};
        if ((k = init_choose("API style of that server:", styles, sabout, 2, 0)) < 0)
            return CP_ERR;
        snprintf(t->style, sizeof(t->style), "%s", styles[k]);
        a->style = t->style;
    }
    return CP_OK;
}

/* One hidden answer: the key itself (kept in the file), or the name of the variable holding it
 * (upper case, written as "${VAR}"), or "none" for a custom server. */
static int init_ask_key(cp_init_answers_t *a, init_text_t *t)
{
    int custom = cp_init_preset(a->provider) == NULL;
    cp_err_t e = {0};
    char dflt[128];

    if (a->api_key != NULL || a->api_key_env != NULL)
        return CP_OK;
    cp_init_key_env(a->provider, dflt, sizeof(dflt));
    printf("API key: paste the key (it is kept in the settings file, mode 0600), or give the name of the\n"
           "environment variable that holds it (recommended)%s. Input is hidden.\n",
           custom ? ", or none" : "");
    for (;;) {
        if (init_ask("Key or variable", dflt, 1, t->key, sizeof(t->key)) != CP_OK)
            return CP_ERR;
        a->api_key = a->api_key_env = NULL;
        if (cp_init_key_answer(a, t->key) == CP_OK && cp_init_check(a, &e) == CP_OK)
            break;
        printf("  %s\n", e.msg[0] ? e.msg : "that is not a key");
    }
    if (a->api_key_env != NULL)
        printf("  the key will be read from $%s\n", a->api_key_env);
    else if (a->api_key != NULL)
        printf("  a key of %zu characters, kept in the settings file\n", strlen(a->api_key));
    else
        printf("  no key\n");
    return CP_OK;
}

static int init_ask_rest(cp_init_answers_t *a, init_text_t *t, int port_given)
{
    const cp_init_preset_t *p = cp_init_preset(a->provider);
    char buf[32], d[16];

    if (a->big_model == NULL) {
        if (init_ask("Big model (for sonnet and opus)", p ? p->big_model : NULL, 0, t->big, sizeof(t->big)) !=
            CP_OK)
            return CP_ERR;
        a->big_model = t->big;
    }
    if (a->small_model == NULL) {
        if (init_ask("Small model (for haiku and background tasks)", p ? p->small_model : a->big_model, 0,
                     t->small, sizeof(t->small)) != CP_OK)
            return CP_ERR;
        a->small_model = t->small;
    }
    while (!port_given) {
        char *end;
        long v;

        snprintf(d, sizeof(d), "%d", CP_INIT_PORT);
        if (init_ask("Port for the proxy", d, 0, buf, sizeof(buf)) != CP_OK)
            return CP_ERR;
        v = strtol(buf, &end, 10);
        if (*end == '\0' && v >= 1 && v <= 65535) {
            a->port = (int)v;
            break;
        }
        printf("  a port is 1 to 65535\n");
    }
    return CP_OK;
}

/* ---- the file ------------------------------------------------------------------------------- */

/* Loads <path> alone through the config loader. Returns CP_OK, or CP_ERR with the loader's line. */
static int init_validate(const char *path, cp_err_t *e)
{
    cp_config_opts_t o = {.home = "", .cwd = INIT_NOWHERE, .managed_path = INIT_NOWHERE, .flag_config = path};
    cp_config_t *c = cp_config_load(&o, NULL, NULL, e);

    cp_config_unref(c);
    return c != NULL ? CP_OK : CP_ERR;
}

/* Writes <settings> to <path> (0600, directory 0700) through a checked temporary file; keeps a
 * replaced file as <path>.bak. */
static int init_write(const char *dir, const char *path, json_t *settings)
{
    char tmp[PATH_MAX + 64], bak[PATH_MAX + 64];
    char *text = json_dumps(settings, JSON_INDENT(2)); /* owned */
    size_t len = text ? strlen(text) : 0;
    cp_err_t e = {0};
    int fd, rc = CP_ERR;
    struct stat st;

    if (text == NULL)
        return CP_ERR;
    if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
        fprintf(stderr, "ccproxy: cannot create %s: %s\n", dir, strerror(errno));
        goto out;
    }
    if (chmod(dir, 0700) == -1) {
        fprintf(stderr, "ccproxy: cannot make %s private: %s\n", dir, strerror(errno));
        goto out;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "ccproxy: cannot create %s: %s\n", tmp, strerror(errno));
        goto out;
    }
    if (fchmod(fd, 0600) == -1 || write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
        fsync(fd) == -1) {
        fprintf(stderr, "ccproxy: cannot write %s: %s\n", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (init_validate(tmp, &e) != CP_OK) {
        fprintf(stderr, "ccproxy: the settings do not load, nothing written: %s\n", e.msg);
        unlink(tmp);
        goto out;
    }
    if (lstat(path, &st) == 0) {
        snprintf(bak, sizeof(bak), "%s.bak", path);
        (void)unlink(bak);
        if (link(path, bak) == -1) { /* the old file stays in place until the rename replaces it */
            fprintf(stderr, "ccproxy: cannot keep a copy of %s: %s\n", path, strerror(errno));
            unlink(tmp);
            goto out;
        }
        printf("Kept the previous file as %s\n", bak);
    }
    if (rename(tmp, path) == -1) {
        fprintf(stderr, "ccproxy: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = CP_OK;
out:
    free(text);
    return rc;
}

/* A project file init just wrote is the user's own: trusted at once (lib/base/cp_trust.h), provided the
 * bytes there are still the settings written. */
static void init_trust(const char *path, const json_t *settings)
{
    cp_trust_file_t tf;
    cp_err_t e = {0};
    json_t *now = NULL; /* owned */
    const char *home = getenv("HOME");

    if (cp_trust_read(path, 1, &tf, &e) == CP_OK)
        now = json_loadb(tf.data, tf.len, 0, NULL);
    if (now == NULL || !json_equal(now, settings))
        cp_err_set(&e, 0, NULL, "%s changed after it was written", path);
    else if (cp_trust_add(home, tf.real, tf.sha256, &e) == CP_OK)
        printf("Trusted it for this directory (`ccproxy trust --revoke` undoes that).\n");
    if (e.msg[0] != '\0')
        fprintf(stderr, "ccproxy init: warning: not trusted (%s): check it, then run `ccproxy trust` here\n",
                e.msg);
    json_decref(now);
    cp_trust_file_free(&tf);
}

/* Says what runs at <url> now, if it matters: a proxy of this user started with other settings (the
 * launcher would refuse it), or something that answers as ccproxy but cannot prove it is this user's. */
static void init_running(const cp_config_t *c, const char *url)
{
    char path[PATH_MAX];
    cp_ident_key_t key;
    const cp_ident_key_t *k = NULL;
    cp_err_t e = {0};
    cp_ctl_expect_t x;
    cp_ctl_health_t h;

    if (cp_ident_path(getenv("HOME"), path, sizeof(path)) == CP_OK && cp_ident_load(path, &key, &e) == CP_OK)
        k = &key;
    cp_ctl_expect_init(&x, k, e.msg[0] ? e.msg : "there is no instance key", c->merged);
    cp_ctl_probe(url, 1000, &x, &h);
    if (k != NULL)
        cp_ident_key_wipe(&key);
    if (h.state == CP_CTL_UP && !h.same_config)
        printf("\nA ccproxy (pid %ld) already runs at %s with the settings it started with: run `ccproxy "
               "stop` so that the next `ccproxy` starts one with these.\n",
               h.pid, url);
    else if (h.state == CP_CTL_UNPROVEN)
        printf("\nSomething at %s answers as ccproxy but cannot prove it is yours, so `ccproxy` will not use "
               "it: stop it, or choose another port.\n",
               url);
}

/* After writing: what the effective configuration now is, and what to do next. */
static void init_next_steps(const cp_init_answers_t *a, int project)
{
    cp_config_opts_t o = {0};
    cp_err_t e = {0};
    cp_config_t *c = cp_config_load(&o, NULL, NULL, &e);
    char url[300];
    const char *v;

    if (c == NULL) {
        fprintf(stderr, "ccproxy: warning: another settings layer does not load: %s\n", e.msg);
        return;
    }
    printf("ccproxy will use big model %s, small model %s, and listen on %s:%d.\n", c->big_model,
           c->small_model, c->host, c->port);
    if (a->api_key_env != NULL && ((v = getenv(a->api_key_env)) == NULL || *v == '\0'))
        printf("\n%s is not set in this shell. Set it before starting ccproxy:\n\n    export %s=<your key>\n",
               a->api_key_env, a->api_key_env);
    if (a->api_key != NULL && project)
        printf("\nThe key is in ./.ccproxy/settings.json: keep that file out of version control (for git: "
               "add .ccproxy/ to .gitignore).\n");
    cp_ctl_base_url(c->host, c->port, c->tls_cert, url, sizeof(url));
    if (curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK) {
        init_running(c, url);
        curl_global_cleanup();
    }
    printf("\nNext: run `ccproxy` to open Claude Code through the proxy (`ccproxy -p \"hello\"` for one "
           "answer).\n");
    cp_config_unref(c);
}

/* The directory and file of the scope: ~/.ccproxy or ./.ccproxy. Returns CP_OK or CP_ERR (said). */
static int init_paths(int project, char *dir, size_t dn, char *path, size_t pn)
{
    const char *home = getenv("HOME");
    char cwd[PATH_MAX];

    if (project) {
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            fprintf(stderr, "ccproxy init: cannot read the current directory: %s\n", strerror(errno));
            return CP_ERR;
        }
        snprintf(dir, dn, "%s/.ccproxy", cwd);
    } else if (home == NULL || *home == '\0') {
        fprintf(stderr, "ccproxy init: HOME is not set\n");
        return CP_ERR;
    } else {
        snprintf(dir, dn, "%s/.ccproxy", home);
    }
    snprintf(path, pn, "%s/settings.json", dir);
    return CP_OK;
}

/* ---- init --remote URL / init --key: the launcher as a client ------------------------------------ */

static int init_check_tmp(const char *tmp, void *ud, cp_err_t *e)
{
    (void)ud;
    return init_validate(tmp, e);
}

/* The developer key: --key KEY, --key - (standard input), or asked without echo on a terminal when
 * neither --key nor --key-env is given. <*key> is NULL when there is none. Returns CP_OK or CP_ERR. */
static int init_client_key(const cp_cli_t *cli, init_text_t *t, const char **key)
{
    *key = cli->key;
    if (cli->key != NULL && strcmp(cli->key, "-") == 0) {
        if (init_key_stdin("--key -", "Developer key (input is hidden)", t->key_in, sizeof(t->key_in),
                           CP_INIT_CLIENT_KEY_MAX) != CP_OK)
            return CP_ERR;
        *key = t->key_in;
    } else if (cli->key == NULL && cli->key_env == NULL && isatty(STDIN_FILENO)) {
        printf("Your developer key for %s (from the admin's `ccproxy keys add`); it is kept in the settings "
               "file, mode 0600.\n",
               cli->remote);
        if (init_key_stdin("--key", "Developer key (input is hidden)", t->key_in, sizeof(t->key_in),
                           CP_INIT_CLIENT_KEY_MAX) != CP_OK)
            return CP_ERR;
        *key = t->key_in;
    }
    return CP_OK;
}

/* What the file now makes `ccproxy` do. */
static void init_client_done(const cp_cli_t *cli, const char *url, const char *path)
{
    const char *v;

    printf("Wrote %s (mode 0600).\n", path);
    if (url != NULL)
        printf("`ccproxy` now sends claude to the team server at %s with your developer key, and starts no "
               "local "
               "proxy.\n",
               url);
    else
        printf("`ccproxy` now gives claude this key for the local proxy (which has developer keys).\n");
    if (cli->key_env != NULL && ((v = getenv(cli->key_env)) == NULL || *v == '\0'))
        printf("\n%s is not set in this shell: set it before running ccproxy.\n", cli->key_env);
    printf("\nNext: `ccproxy status` checks the server and your key; `ccproxy` opens Claude Code.\n");
}

/* Writes client.url and the key into the settings file of the scope, keeping what else it holds. */
static int init_client(const cp_cli_t *cli)
{
    init_text_t t;
    cp_err_t e = {0};
    cp_keys_file_t f;
    char url[INIT_ANSWER_MAX], dir[PATH_MAX + 16], path[PATH_MAX + 32];
    const char *key = NULL;
    int project = cli->scope != NULL && strcmp(cli->scope, "project") == 0, rc;

    memset(&t, 0, sizeof(t));
    if (cli->provider || cli->api_key || cli->api_key_env || cli->base_url || cli->style || cli->big_model ||
        cli->small_model || cli->host || cli->port_set || cli->yes) {
        fprintf(stderr, "ccproxy init: --remote and --key write the client settings only; give the provider "
                        "options in another `ccproxy init`\n");
        return CP_EXIT_USAGE;
    }
    if (cli->remote != NULL) {
        size_t n = strnlen(cli->remote, sizeof(url) - 1);
        memcpy(url, cli->remote, n);
        url[n] = '\0';
        while (n > 0 && url[n - 1] == '/') /* the launcher appends /health, /v1/messages... */
            url[--n] = '\0';
    }
    if (cp_init_client_check(cli->remote ? url : NULL, NULL, cli->key_env, &e) != CP_OK ||
        init_client_key(cli, &t, &key) != CP_OK || cp_init_client_check(NULL, key, NULL, &e) != CP_OK) {
        if (e.msg[0] != '\0')
            fprintf(stderr, "ccproxy init: %s\n", e.msg);
        return CP_EXIT_USAGE;
    }
    if (cli->remote != NULL && strncmp(url, "http://", 7) == 0 && !cp_trust_url_loopback(url))
        fprintf(stderr,
                "ccproxy init: warning: %s is plain http: the key crosses the network unencrypted (use "
                "https, or a tunnel)\n",
                url);
    if (init_paths(project, dir, sizeof(dir), path, sizeof(path)) != CP_OK)
        return CP_EXIT_FAIL;
    rc = cp_keys_file_open(path, 0700, &f, &e);
    if (rc == CP_DECLINED && cli->force) {
        json_decref(f.root);
        f.root = json_object();
    } else if (rc != CP_OK) {
        fprintf(stderr, "ccproxy init: %s%s\n", e.msg,
                rc == CP_DECLINED ? "; fix it, or add --force to replace it" : "");
        cp_keys_file_close(&f);
        return CP_EXIT_FAIL;
    }
    rc = CP_EXIT_FAIL;
    if (key == NULL && cli->key_env == NULL &&
        json_object_get(json_object_get(f.root, "client"), "key") == NULL &&
        json_object_get(json_object_get(f.root, "client"), "keyEnv") == NULL) {
        fprintf(stderr,
                "ccproxy init: missing the key: --key - (reads it from standard input), or --key-env VAR\n");
        rc = CP_EXIT_USAGE;
    } else if ((rc = cp_init_client_apply(f.root, cli->remote ? url : NULL, key, cli->key_env, cli->force,
                                          &e)) != CP_OK) {
        fprintf(stderr, "ccproxy init: %s: %s%s\n", path, e.msg,
                rc == CP_DECLINED ? "; add --force to replace it" : "");
        rc = CP_EXIT_FAIL;
    } else {
        f.mode = 0600; /* it holds a key now, whatever it was before */
        if (chmod(dir, 0700) == -1 || cp_keys_file_commit(&f, init_check_tmp, NULL, &e) != CP_OK) {
            fprintf(stderr, "ccproxy init: nothing written: %s\n", e.msg[0] ? e.msg : strerror(errno));
            rc = CP_EXIT_FAIL;
        } else {
            if (project)
                init_trust(path, f.root);
            init_client_done(
                cli, json_string_value(json_object_get(json_object_get(f.root, "client"), "url")), path);
            if (project && key != NULL)
                printf("The key is in ./.ccproxy/settings.json: keep that file out of version control.\n");
            rc = CP_EXIT_OK;
        }
    }
    OPENSSL_cleanse(t.key_in, sizeof(t.key_in));
    cp_keys_file_close(&f);
    return rc;
}

int cp_cmd_init(const cp_cli_t *cli)
{
    init_text_t t;
    cp_init_answers_t a = {0};
    cp_err_t e = {0};
    int ask = isatty(STDIN_FILENO) && !cli->yes;
    int project, rc;
    char dir[PATH_MAX + 16], path[PATH_MAX + 32];
    json_t *settings; /* owned */

    if (cli->remote != NULL || cli->key != NULL || cli->key_env != NULL)
        return init_client(cli);
    memset(&t, 0, sizeof(t));
    a.provider = cli->provider;
    a.base_url = cli->base_url;
    a.style = cli->style;
    a.api_key = cli->api_key;
    if (a.api_key != NULL && strcmp(a.api_key, "-") == 0) {
        if (init_key_stdin("--api-key -", "API key (input is hidden)", t.key_in, sizeof(t.key_in),
                           INIT_KEY_MAX) != CP_OK)
            return CP_EXIT_USAGE;
        a.api_key = t.key_in;
    }
    a.api_key_env = cli->api_key_env;
    a.big_model = cli->big_model;
    a.small_model = cli->small_model;
    a.host = cli->host;
    a.port = cli->port;
    if (cp_init_check(&a, &e) != CP_OK) {
        fprintf(stderr, "ccproxy init: %s\n", e.msg);
        return CP_EXIT_USAGE;
    }
    if (ask) {
        signal(SIGINT, init_on_signal);
        signal(SIGTERM, init_on_signal);
        signal(SIGHUP, init_on_signal);
        printf("ccproxy init: writes the settings ccproxy starts with. Enter takes the [default].\n\n");
    }

    /* where */
    if (cli->scope != NULL) {
        project = strcmp(cli->scope, "project") == 0;
    } else if (ask) {
        static const char *const scopes[] = {"user", "project"};
        static const char *const about[] = {"~/.ccproxy/settings.json, for every directory",
                                            "./.ccproxy/settings.json, for this directory only"};
        if ((project = init_choose("Scope:", scopes, about, 2, 0)) < 0)
            goto cancelled;
    } else {
        project = 0;
    }
    if (init_paths(project, dir, sizeof(dir), path, sizeof(path)) != CP_OK)
        return CP_EXIT_FAIL;
    if (access(path, F_OK) == 0 && !cli->force) {
        int yes =
            ask ? init_yes_no("\nThat file exists. Replace it (a copy is kept as settings.json.bak)?", 0) : 0;
        if (yes < 0)
            goto cancelled;
        if (!yes) {
            fprintf(stderr, "ccproxy init: %s exists and was left unchanged%s\n", path,
                    ask ? "" : "; add --force to replace it");
            return CP_EXIT_FAIL;
        }
    }

    /* what */
    if (ask) {
        printf("\n");
        if (init_ask_provider(&a, &t) != CP_OK || init_ask_key(&a, &t) != CP_OK ||
            init_ask_rest(&a, &t, cli->port != 0) != CP_OK)
            goto cancelled;
    }
    if (cp_init_complete(&a, ask || cli->yes, &e) != CP_OK || cp_init_check(&a, &e) != CP_OK) {
        fprintf(stderr, "ccproxy init: %s\n(without a terminal, init takes flags: see `ccproxy help`)\n",
                e.msg);
        return CP_EXIT_USAGE;
    }
    settings = cp_init_settings(&a);
    rc = init_write(dir, path, settings);
    if (rc == CP_OK && project)
        init_trust(path, settings);
    json_decref(settings);
    if (rc != CP_OK)
        return CP_EXIT_FAIL;
    printf("%sWrote %s (mode 0600).\n", ask ? "\n" : "", path);
    init_next_steps(&a, project);
    return CP_EXIT_OK;

cancelled:
    fprintf(stderr, "ccproxy init: cancelled, nothing written\n");
    return CP_EXIT_FAIL;
}
