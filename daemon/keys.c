/* daemon/keys.c: `ccproxy keys add|rotate|revoke|list`: developer keys of a shared proxy.
 *
 * add and rotate draw 32 bytes from the kernel (getrandom), print the key "ccp_" + base62 once, on
 * stdout and alone on its line (`KEY=$(ccproxy keys add alice)`), and store only its SHA-256 in
 * auth.keys of the settings file they edit: ~/.ccproxy/settings.json (--scope user) or the managed file
 * (--scope system: $CCPROXY_MANAGED_PATH, else /etc/ccproxy/managed-settings.json, which the systemd
 * service reads). The key is in no argv, no file and no log; everything else goes to stderr.
 *
 * The edit keeps every other setting and their order (lib/cli/cp_keys.c does the file), is checked by
 * cp_auth_keys_check and then by loading every layer with the edited file in place of the old one, and
 * only then renamed over it: settings that would not load are never written. A running server watches
 * its files and reloads by itself; when the user's own background proxy runs, this waits (up to
 * KEYS_CONFIRM_MS) until its /health proves it runs with the new settings (lib/cli/cp_ctl.h). */
#include "cmds.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "cp_auth.h"
#include "cp_buf.h"
#include "cp_ctl.h"
#include "cp_ident.h"
#include "cp_keys.h"
#include "cp_usage.h"

#define KEYS_CONFIRM_MS 4000 /* the server checks its files every second, reloads a second later */
#define KEYS_PROBE_MS   500
#define KEYS_POLL_MS    100

/* One edit: where, and what the check of the written file needs. */
typedef struct keys_edit {
    const cp_config_opts_t *opts;
    const char *home; /* $HOME (or opts->home); NULL for the system scope */
    int system;
    char path[PATH_MAX];
} keys_edit_t;

static void keys_warn(const char *line, void *ud)
{
    (void)ud;
    fprintf(stderr, "%s\n", line);
}

static void keys_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* The file the scope edits. Returns CP_OK, or CP_ERR after saying why. */
static int keys_target(const cp_cli_t *cli, const cp_config_opts_t *opts, keys_edit_t *k)
{
    const char *managed = opts->managed_path ? opts->managed_path : getenv("CCPROXY_MANAGED_PATH");

    memset(k, 0, sizeof(*k));
    k->opts = opts;
    k->system = cli->scope != NULL && strcmp(cli->scope, "system") == 0;
    if (k->system) {
        snprintf(k->path, sizeof(k->path), "%s",
                 managed != NULL && *managed != '\0' ? managed : CP_CONFIG_MANAGED_DEFAULT);
        return CP_OK;
    }
    k->home = opts->home ? opts->home : getenv("HOME");
    if (k->home == NULL || *k->home == '\0') {
        fprintf(stderr, "ccproxy keys: HOME is not set (the user scope edits ~/.ccproxy/settings.json)\n");
        return CP_ERR;
    }
    snprintf(k->path, sizeof(k->path), "%s/.ccproxy/settings.json", k->home);
    return CP_OK;
}

/* ---- checking the written file --------------------------------------------------------------------- */

/* 1 when <a> and <b> are the same directory. */
static int keys_same_dir(const char *a, const char *b)
{
    struct stat sa, sb;

    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Loads every layer as the server would, with <tmp> as the user's file: a home of its own
 * (~/.ccproxy/.keys-check.PID/.ccproxy/settings.json, a hard link to <tmp>) that shares the trust store
 * (another hard link), so that a trusted project file still applies. */
static int keys_check_user(const keys_edit_t *k, const char *tmp, cp_err_t *e)
{
    char fake[PATH_MAX], dot[PATH_MAX + 16], set[PATH_MAX + 32], trust[PATH_MAX + 32],
        real_trust[PATH_MAX + 32];
    char cwd[PATH_MAX];
    cp_config_opts_t o = *k->opts;
    cp_config_t *c = NULL;

    snprintf(fake, sizeof(fake), "%s/.ccproxy/.keys-check.%ld", k->home, (long)getpid());
    snprintf(dot, sizeof(dot), "%s/.ccproxy", fake);
    snprintf(set, sizeof(set), "%s/settings.json", dot);
    snprintf(trust, sizeof(trust), "%s/trusted.json", dot);
    snprintf(real_trust, sizeof(real_trust), "%s/.ccproxy/trusted.json", k->home);
    if ((mkdir(fake, 0700) == -1 && errno != EEXIST) || (mkdir(dot, 0700) == -1 && errno != EEXIST) ||
        (unlink(set), link(tmp, set) == -1)) {
        cp_err_set(e, 0, NULL, "cannot check the new settings in %s: %s", fake, strerror(errno));
        goto out;
    }
    (void)unlink(trust);
    if (link(real_trust, trust) == -1)
        errno = 0; /* no trust store (or none to share): the check runs without one, as the server would */
    o.home = fake;
    if (getcwd(cwd, sizeof(cwd)) != NULL && keys_same_dir(cwd, k->home))
        o.cwd = fake; /* in $HOME the user's file is not also a project file */
    c = cp_config_load(&o, NULL, NULL, e);
out:
    (void)unlink(set);
    (void)unlink(trust);
    (void)rmdir(dot);
    (void)rmdir(fake);
    cp_config_unref(c);
    return c != NULL ? CP_OK : CP_ERR;
}

static int keys_check(const char *tmp, void *ud, cp_err_t *e)
{
    const keys_edit_t *k = ud;
    cp_config_opts_t o;
    cp_config_t *c;

    if (!k->system)
        return keys_check_user(k, tmp, e);
    o = *k->opts;
    o.managed_path = tmp;
    c = cp_config_load(&o, NULL, NULL, e);
    cp_config_unref(c);
    return c != NULL ? CP_OK : CP_ERR;
}

/* ---- after the edit ------------------------------------------------------------------------------- */

/* Waits until the user's own running proxy (if one answers at the configured address) proves it runs
 * with <cfg>, and says so. Silent when none of theirs runs there. */
static void keys_confirm(const cp_config_t *cfg)
{
    char url[300], kpath[PATH_MAX];
    cp_ident_key_t key;
    cp_err_t e = {0};
    cp_ctl_expect_t x;
    cp_ctl_health_t h;
    uint64_t t0 = cp_mono_us();

    if (cp_ident_path(getenv("HOME"), kpath, sizeof(kpath)) != CP_OK ||
        cp_ident_load(kpath, &key, &e) != CP_OK)
        return; /* no instance key: no proxy of this user can prove itself */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cp_ident_key_wipe(&key);
        return;
    }
    cp_ctl_base_url(cfg->host, cfg->port, cfg->tls_cert, url, sizeof(url));
    for (;;) {
        cp_ctl_expect_init(&x, &key, NULL, cfg->merged);
        cp_ctl_probe(url, KEYS_PROBE_MS, &x, &h);
        if (h.state != CP_CTL_UP)
            break;
        if (h.same_config) {
            fprintf(stderr, "ccproxy keys: the running proxy (pid %ld) has reloaded: %zu keys\n", h.pid,
                    cfg->auth->n);
            break;
        }
        if (cp_mono_us() - t0 >= (uint64_t)KEYS_CONFIRM_MS * 1000) {
            fprintf(stderr,
                    "ccproxy keys: warning: the running proxy at %s (pid %ld) has not taken these settings "
                    "within "
                    "%d s; it may run with other settings (started from another directory or with flags): "
                    "`ccproxy status` says more\n",
                    url, h.pid, KEYS_CONFIRM_MS / 1000);
            break;
        }
        keys_sleep_ms(KEYS_POLL_MS);
    }
    cp_ident_key_wipe(&key);
    curl_global_cleanup();
}

/* What a developer points their launcher at: this machine, on the configured port. */
static void keys_server_url(const cp_config_t *c, char *buf, size_t n)
{
    char host[256] = "THIS-HOST";

    if (strcmp(c->host, "0.0.0.0") != 0 && strcmp(c->host, "::") != 0 && c->host[0] != '\0')
        snprintf(host, sizeof(host), "%s", c->host);
    else if (gethostname(host, sizeof(host)) == -1)
        snprintf(host, sizeof(host), "THIS-HOST");
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, n, "http://%s:%d", host, c->port);
}

/* The settings as they load now: checks that the edited file decides auth.keys, then waits for the
 * running proxy. */
static void keys_after(const keys_edit_t *k, const char *sub)
{
    cp_err_t e = {0};
    cp_config_t *c = cp_config_load(k->opts, NULL, NULL, &e);
    const char *src;
    char url[300];

    if (c == NULL) { /* another process changed a layer meanwhile */
        fprintf(stderr, "ccproxy keys: warning: the settings do not load now: %s\n", e.msg);
        return;
    }
    src = json_string_value(json_object_get(c->sources, "auth.keys"));
    if (src != NULL && strcmp(src, k->path) != 0)
        fprintf(stderr,
                "ccproxy keys: warning: auth.keys in %s overrides %s (a later layer), so this change has no "
                "effect "
                "while that file sets it\n",
                src, k->path);
    if (strcmp(sub, "revoke") != 0) {
        keys_server_url(c, url, sizeof(url));
        fprintf(stderr,
                "ccproxy keys: the key above is shown once and stored nowhere: give it to its owner now. On "
                "their "
                "machine:\n"
                "    ccproxy init --remote %s --key -     (then paste the key)\n"
                "or, for claude alone: ANTHROPIC_BASE_URL=%s ANTHROPIC_AUTH_TOKEN=<the key> claude\n",
                url, url);
    }
    fprintf(stderr,
            "ccproxy keys: a running ccproxy that reads %s takes the change within about 2 seconds (it "
            "watches the file)%s\n",
            k->path,
            strcmp(sub, "add") == 0 ? "" : "; requests in flight finish, new ones with the old key get 401");
    keys_confirm(c);
    cp_config_unref(c);
}

/* ---- add, rotate, revoke ---------------------------------------------------------------------------- */

/* A fresh key into <key>, its digest into <hex>. Returns CP_OK or CP_ERR (no randomness). */
static int keys_new_key(char key[CP_KEYS_KEY_LEN + 1], char hex[65])
{
    unsigned char raw[CP_KEYS_RAW_BYTES];
    size_t got = 0;

    while (got < sizeof(raw)) {
        ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            fprintf(stderr, "ccproxy keys: the kernel gives no random bytes: %s\n", strerror(errno));
            return CP_ERR;
        }
        got += (size_t)r;
    }
    cp_keys_format(raw, key);
    OPENSSL_cleanse(raw, sizeof(raw));
    cp_sha256_hex(key, strlen(key), hex);
    return CP_OK;
}

/* Changes auth.keys of <root> for <cli>; <hex> is the new digest (add, rotate). Returns an exit code. */
static int keys_change(const cp_cli_t *cli, const keys_edit_t *k, json_t *root, json_t *entry,
                       const char *hex, const char *now)
{
    const char *sub = cli->keys_sub, *name = cli->keys_name;
    int add = strcmp(sub, "add") == 0;
    cp_err_t e = {0};
    json_t *keys = cp_keys_array(root, add, &e); /* borrowed */
    long at = keys != NULL ? cp_keys_find(keys, name) : -1;
    char msg[512];

    if (keys == NULL && e.msg[0] != '\0') {
        fprintf(stderr, "ccproxy keys: the settings do not load: %s: %s\n", k->path, e.msg);
        return CP_EXIT_CONFIG;
    }
    if (add && at >= 0) {
        fprintf(stderr, "ccproxy keys: key %s exists in %s: use `ccproxy keys rotate %s`\n", name, k->path,
                name);
        return CP_EXIT_FAIL;
    }
    if (!add && at < 0) {
        fprintf(stderr, "ccproxy keys: there is no key %s in %s\n", name, k->path);
        return CP_EXIT_FAIL;
    }
    if (add) {
        json_object_set_new(entry, "sha256", json_string(hex));
        json_array_append(keys, entry);
    } else if (strcmp(sub, "rotate") == 0) {
        json_object_set_new(json_array_get(keys, (size_t)at), "sha256", json_string(hex));
        json_object_set_new(json_array_get(keys, (size_t)at), "created", json_string(now));
    } else {
        json_array_remove(keys, (size_t)at);
    }
    if (cp_auth_keys_check(keys, msg, sizeof(msg)) != CP_OK) {
        fprintf(stderr, "ccproxy keys: the settings would not load, nothing written: %s: auth.keys%s\n",
                k->path, msg);
        return CP_EXIT_CONFIG;
    }
    return CP_EXIT_OK;
}

/* add, rotate, revoke. */
static int keys_edit(const cp_cli_t *cli, const cp_config_opts_t *opts)
{
    const char *sub = cli->keys_sub, *name = cli->keys_name;
    int fresh = strcmp(sub, "revoke") != 0;
    char key[CP_KEYS_KEY_LEN + 1] = "", hex[65] = "", now[32];
    keys_edit_t k;
    cp_keys_file_t f;
    cp_err_t e = {0};
    json_t *entry = NULL; /* owned */
    int rc;

    if (!cp_keys_name_ok(name)) {
        fprintf(stderr, "ccproxy keys: invalid key name '%.64s': use 1 to 64 of A-Z a-z 0-9 . _ -\n", name);
        return CP_EXIT_USAGE;
    }
    cp_keys_time((int64_t)cp_wall_ms(), now);
    if (strcmp(sub, "add") == 0) {
        entry = cp_keys_entry(name, "", now);
        if (cp_keys_apply_flags(cli, entry, &e) != CP_OK) {
            fprintf(stderr, "ccproxy keys: %s\n", e.msg);
            json_decref(entry);
            return CP_EXIT_USAGE;
        }
    }
    if (keys_target(cli, opts, &k) != CP_OK) {
        json_decref(entry);
        return CP_EXIT_FAIL;
    }
    rc = cp_keys_file_open(k.path, k.system ? 0755 : 0700, &f, &e);
    if (rc != CP_OK) {
        fprintf(stderr,
                rc == CP_DECLINED ? "ccproxy keys: the settings do not load: %s\n" : "ccproxy keys: %s\n",
                e.msg);
        rc = rc == CP_DECLINED ? CP_EXIT_CONFIG : CP_EXIT_FAIL;
        goto out;
    }
    if (fresh && keys_new_key(key, hex) != CP_OK) {
        rc = CP_EXIT_FAIL;
        goto out;
    }
    if ((rc = keys_change(cli, &k, f.root, entry, hex, now)) != CP_EXIT_OK)
        goto out;
    rc = cp_keys_file_commit(&f, keys_check, &k, &e);
    if (rc != CP_OK) {
        fprintf(stderr,
                rc == CP_DECLINED ? "ccproxy keys: the settings would not load, nothing written: %s\n"
                                  : "ccproxy keys: nothing written: %s\n",
                e.msg);
        rc = rc == CP_DECLINED ? CP_EXIT_CONFIG : CP_EXIT_FAIL;
        goto out;
    }
    cp_keys_file_close(&f); /* the lock: the server may read the file now */
    if (fresh) {
        printf("%s\n", key);
        fflush(stdout);
    }
    OPENSSL_cleanse(key, sizeof(key));
    if (fresh)
        fprintf(stderr, "ccproxy keys: %s key %s in %s (id %.12s; only its SHA-256 is stored)\n",
                strcmp(sub, "add") == 0 ? "added" : "rotated", name, k.path, hex);
    else
        fprintf(stderr, "ccproxy keys: revoked key %s in %s\n", name, k.path);
    keys_after(&k, sub);
    rc = CP_EXIT_OK;
out:
    OPENSSL_cleanse(key, sizeof(key));
    cp_keys_file_close(&f);
    json_decref(entry);
    return rc;
}

/* ---- list ----------------------------------------------------------------------------------------- */

/* Returns new: one object per key of the merged settings, as `keys list --json` prints them. */
static json_t *keys_rows(const cp_config_t *c, const json_t *last)
{
    const json_t *keys = json_object_get(json_object_get(c->merged, "auth"), "keys"); /* borrowed */
    const char *src = json_string_value(json_object_get(c->sources, "auth.keys"));
    json_t *rows = json_array(), *k; /* rows owned */
    size_t i;

    json_array_foreach(keys, i, k)
    {
        const char *name = json_string_value(json_object_get(k, "name"));
        const char *sha = json_string_value(json_object_get(k, "sha256"));
        json_t *used = last != NULL ? json_object_get(last, name) : NULL; /* borrowed */
        char id[13], when[32] = "";

        snprintf(id, sizeof(id), "%.12s", sha != NULL ? sha : "");
        for (char *p = id; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        if (json_is_integer(used))
            cp_usage_fmt_time((int64_t)json_integer_value(used), when);
        json_array_append_new(rows, json_pack("{s:s,s:s,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:o,s:s?}", "name",
                                              name, "id", id, "models", json_object_get(k, "models"), "rpm",
                                              json_object_get(k, "rpm"), "tpm", json_object_get(k, "tpm"),
                                              "maxStreams", json_object_get(k, "maxStreams"), "budget",
                                              json_object_get(k, "budget"), "created",
                                              json_object_get(k, "created"), "lastUsed",
                                              last == NULL ? json_null()
                                              : when[0]    ? json_string(when)
                                                           : json_string("never"),
                                              "source", src));
    }
    return rows;
}

#define KEYS_COLS 9

/* The text of column <col> of <row> into <b>. */
static void keys_cell(const json_t *row, int col, cp_buf_t *b)
{
    static const char *const ints[] = {"rpm", "tpm", "maxStreams"};
    json_t *v, *m; /* borrowed */
    size_t i;

    switch (col) {
    case 0:
    case 1:
        cp_buf_adds(b, json_string_value(json_object_get(row, col == 0 ? "name" : "id")));
        return;
    case 2:
        if (!json_is_array(v = json_object_get(row, "models")))
            cp_buf_adds(b, "*");
        json_array_foreach(v, i, m) if (json_is_string(m))
        {
            if (b->len > 0)
                cp_buf_addc(b, ',');
            cp_keys_safe_text(json_string_value(m), 40, b);
            if (b->len > 48) {
                cp_buf_adds(b, "...");
                break;
            }
        }
        return;
    case 3:
    case 4:
    case 5:
        v = json_object_get(row, ints[col - 3]);
        if (json_is_integer(v))
            cp_buf_add_int(b, (long long)json_integer_value(v));
        else
            cp_buf_adds(b, "-");
        return;
    case 6:
        cp_keys_budget_text(json_object_get(row, "budget"), b);
        return;
    case 7:
        v = json_object_get(row, "created");
        cp_keys_safe_text(json_is_string(v) ? json_string_value(v) : "-", 32, b);
        return;
    default:
        v = json_object_get(row, "lastUsed");
        cp_buf_adds(b, json_is_string(v) ? json_string_value(v) : "unknown");
        return;
    }
}

static void keys_table(const json_t *rows, const char *src)
{
    static const char *const head[KEYS_COLS] = {"NAME",    "ID",     "MODELS",  "RPM",      "TPM",
                                                "STREAMS", "BUDGET", "CREATED", "LAST USED"};
    size_t w[KEYS_COLS], i, n = json_array_size(rows);
    cp_buf_t *cells = cp_xcalloc((n + 1) * KEYS_COLS, sizeof(*cells));

    for (int c = 0; c < KEYS_COLS; c++) {
        cp_buf_adds(&cells[c], head[c]);
        w[c] = strlen(head[c]);
    }
    for (i = 0; i < n; i++)
        for (int c = 0; c < KEYS_COLS; c++) {
            cp_buf_t *b = &cells[(i + 1) * KEYS_COLS + (size_t)c];
            keys_cell(json_array_get(rows, i), c, b);
            if (b->len > w[c])
                w[c] = b->len;
        }
    printf("%zu key%s in %s\n", n, n == 1 ? "" : "s", src);
    for (i = 0; i <= n; i++) {
        for (int c = 0; c < KEYS_COLS; c++) {
            const char *t = cp_buf_str(&cells[i * KEYS_COLS + (size_t)c]);
            int right = c >= 3 && c <= 5 && i > 0;
            if (c + 1 < KEYS_COLS)
                printf(right ? "%*s  " : "%-*s  ", (int)w[c], t);
            else
                printf("%s\n", t);
        }
    }
    for (i = 0; i < (n + 1) * KEYS_COLS; i++)
        cp_buf_free(&cells[i]);
    free(cells);
}

static int keys_list(const cp_cli_t *cli, const cp_config_opts_t *opts)
{
    cp_err_t e = {0};
    cp_config_t *c = cp_config_load(opts, keys_warn, NULL, &e);
    json_t *last = NULL, *rows; /* owned */
    const char *src;

    if (c == NULL) {
        fprintf(stderr, "ccproxy: config error: %s\n", e.msg);
        return CP_EXIT_CONFIG;
    }
    if (c->ledger_path != NULL && cp_usage_last_used(c->ledger_path, &last, &e) != CP_OK)
        fprintf(stderr, "ccproxy keys: warning: the last use of each key is unknown: %s\n", e.msg);
    rows = keys_rows(c, last);
    src = json_string_value(json_object_get(c->sources, "auth.keys"));
    if (cli->json) {
        json_dumpf(rows, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    } else if (json_array_size(rows) == 0) {
        printf(
            "no developer keys%s%s: clients on this machine are served without one; `ccproxy keys add NAME` "
            "creates one\n",
            src != NULL ? " in " : "", src != NULL ? src : "");
    } else {
        keys_table(rows, src != NULL ? src : "the settings");
    }
    json_decref(rows);
    json_decref(last);
    cp_config_unref(c);
    return CP_EXIT_OK;
}

int cp_cmd_keys(const cp_cli_t *cli, const cp_config_opts_t *opts)
{
    if (strcmp(cli->keys_sub, "list") == 0)
        return keys_list(cli, opts);
    return keys_edit(cli, opts);
}
