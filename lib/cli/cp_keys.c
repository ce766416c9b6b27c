/* lib/cli/cp_keys.c: see cp_keys.h.
 *
 * The file edit is the same discipline as `ccproxy init` and `ccproxy trust` (daemon/init.c,
 * lib/base/cp_trust.c): never follow a link, never replace a file before its successor is complete on
 * disk and has been checked, and keep the file's mode and group (the managed file is read by a service
 * user). The lock is on the directory, so two edits at once (two `keys add` in a script) cannot lose
 * one of them, and no lock file is left behind. */
#include "cp_keys.h"

#include "cp_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cp_limits.h"
#include "cp_trust.h"

#define KEYS_MODELS_MAX  256
#define KEYS_PATTERN_MAX 255
#define KEYS_QUOTE_MAX   40
#define KEYS_POLL_MS     50

static const char keys_digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

void cp_keys_base62(const unsigned char raw[CP_KEYS_RAW_BYTES], char out[CP_KEYS_B62_DIGITS + 1])
{
    unsigned char n[CP_KEYS_RAW_BYTES];

    memcpy(n, raw, sizeof(n));
    for (int d = CP_KEYS_B62_DIGITS - 1; d >= 0; d--) { /* long division of the big number by 62 */
        unsigned rem = 0;
        for (size_t i = 0; i < sizeof(n); i++) {
            unsigned cur = rem * 256 + n[i];
            n[i] = (unsigned char)(cur / 62);
            rem = cur % 62;
        }
        out[d] = keys_digits[rem];
    }
    out[CP_KEYS_B62_DIGITS] = '\0';
    memset(n, 0, sizeof(n));
}

void cp_keys_format(const unsigned char raw[CP_KEYS_RAW_BYTES], char out[CP_KEYS_KEY_LEN + 1])
{
    memcpy(out, "ccp_", 4);
    cp_keys_base62(raw, out + 4);
}

int cp_keys_name_ok(const char *s)
{
    return cp_auth_name_ok(s, strlen(s));
}

/* The value as quoted in a message: at most KEYS_QUOTE_MAX bytes, control bytes as '?'. */
static void keys_quote(const char *s, char *out, size_t n)
{
    size_t i = 0;

    for (; s[i] != '\0' && i < KEYS_QUOTE_MAX && i + 4 < n; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (s[i] != '\0' && i + 4 <= n)
        memcpy(out + i, "...", 3), i += 3;
    out[i] = '\0';
}

int cp_keys_parse_int(const char *flag, const char *s, long long lo, long long hi, long long *out,
                      cp_err_t *e)
{
    char q[KEYS_QUOTE_MAX + 8];
    size_t n = strlen(s);
    char *end = NULL;
    long long v;

    keys_quote(s, q, sizeof(q));
    errno = 0;
    if (n == 0 || n > 19 || strspn(s, "0123456789") != n || (v = strtoll(s, &end, 10), errno != 0) ||
        *end != '\0' || v < lo || v > hi)
        return cp_err_set(e, 0, NULL, "invalid %s value '%s': expected a whole number from %lld to %lld",
                          flag, q, lo, hi);
    *out = v;
    return CP_OK;
}

int cp_keys_parse_usd(const char *flag, const char *s, double *out, cp_err_t *e)
{
    char q[KEYS_QUOTE_MAX + 8];
    size_t n = strlen(s), whole = strspn(s, "0123456789"), frac = 0;
    char *end = NULL;
    double v = 0;

    if (s[whole] == '.')
        frac = strspn(s + whole + 1, "0123456789");
    if (n == 0 || n > 24 || whole == 0 ||
        (s[whole] == '.' ? frac == 0 || whole + 1 + frac != n : whole != n) ||
        (v = strtod(s, &end), *end != '\0') || !(v > 0) || v > 1e12) {
        keys_quote(s, q, sizeof(q));
        return cp_err_set(e, 0, NULL, "invalid %s value '%s': expected an amount above 0 such as 50 or 12.50",
                          flag, q);
    }
    *out = v;
    return CP_OK;
}

json_t *cp_keys_parse_models(const char *s, cp_err_t *e)
{
    json_t *arr = json_array(); /* owned until returned */
    const char *p = s;

    for (;;) {
        const char *c = strchr(p, ',');
        size_t len = c != NULL ? (size_t)(c - p) : strlen(p);

        while (len > 0 && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0 || len > KEYS_PATTERN_MAX || json_array_size(arr) == KEYS_MODELS_MAX) {
            json_decref(arr);
            cp_err_set(
                e, 0, NULL,
                len == 0 ? "invalid --models value: an empty pattern (expected patterns separated by commas, "
                           "such as claude-*,gpt-5*@openai)"
                : len > KEYS_PATTERN_MAX ? "invalid --models value: a pattern longer than 255 bytes"
                                         : "invalid --models value: more than 256 patterns");
            return NULL;
        }
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) {
                json_decref(arr);
                cp_err_set(e, 0, NULL, "invalid --models value: a control character in a pattern");
                return NULL;
            }
        json_array_append_new(arr, json_stringn(p, len));
        if (c == NULL)
            return arr;
        p = c + 1;
    }
}

int cp_keys_apply_flags(const cp_cli_t *cli, json_t *entry, cp_err_t *e)
{
    long long rpm = 0, tpm = 0, streams = 0, tokens = 0;
    double usd = 0;
    json_t *models = NULL; /* owned until set */

    if ((cli->rpm != NULL && cp_keys_parse_int("--rpm", cli->rpm, 1, CP_LIMITS_RPM_MAX, &rpm, e) != CP_OK) ||
        (cli->tpm != NULL && cp_keys_parse_int("--tpm", cli->tpm, 1, 1000000000000LL, &tpm, e) != CP_OK) ||
        (cli->max_streams != NULL &&
         cp_keys_parse_int("--max-streams", cli->max_streams, 1, 100000, &streams, e) != CP_OK) ||
        (cli->budget_usd != NULL && cp_keys_parse_usd("--budget-usd", cli->budget_usd, &usd, e) != CP_OK) ||
        (cli->budget_tokens != NULL && cp_keys_parse_int("--budget-tokens", cli->budget_tokens, 1,
                                                         1000000000000000LL, &tokens, e) != CP_OK))
        return CP_ERR;
    if (cli->per != NULL && cli->budget_usd == NULL && cli->budget_tokens == NULL)
        return cp_err_set(e, 0, NULL, "--per goes with --budget-usd or --budget-tokens");
    if (cli->models != NULL && (models = cp_keys_parse_models(cli->models, e)) == NULL)
        return CP_ERR;
    if (models != NULL)
        json_object_set_new(entry, "models", models);
    if (rpm > 0)
        json_object_set_new(entry, "rpm", json_integer(rpm));
    if (tpm > 0)
        json_object_set_new(entry, "tpm", json_integer(tpm));
    if (streams > 0)
        json_object_set_new(entry, "maxStreams", json_integer(streams));
    if (usd > 0 || tokens > 0)
        json_object_set_new(entry, "budget",
                            json_pack("{s:o,s:s}", usd > 0 ? "usd" : "tokens",
                                      usd > 0 ? json_real(usd) : json_integer(tokens), "per",
                                      cli->per != NULL ? cli->per : "month"));
    return CP_OK;
}

/* ---- auth.keys in a settings tree ---------------------------------------------------------------- */

json_t *cp_keys_array(json_t *root, int create, cp_err_t *e)
{
    json_t *auth, *keys; /* borrowed */

    if (!json_is_object(root)) {
        cp_err_set(e, 0, NULL, "the settings are not a JSON object");
        return NULL;
    }
    if ((auth = json_object_get(root, "auth")) == NULL && create)
        json_object_set_new(root, "auth", auth = json_object());
    if (auth != NULL && !json_is_object(auth)) {
        cp_err_set(e, 0, NULL, "\"auth\" is not an object");
        return NULL;
    }
    if ((keys = json_object_get(auth, "keys")) == NULL && create)
        json_object_set_new(auth, "keys", keys = json_array());
    if (keys != NULL && !json_is_array(keys)) {
        cp_err_set(e, 0, NULL, "\"auth.keys\" is not an array");
        return NULL;
    }
    return keys;
}

long cp_keys_find(const json_t *keys, const char *name)
{
    size_t i;
    json_t *k; /* borrowed */

    json_array_foreach(keys, i, k)
    {
        const char *n = json_string_value(json_object_get(k, "name"));
        if (n != NULL && strcmp(n, name) == 0)
            return (long)i;
    }
    return -1;
}

json_t *cp_keys_entry(const char *name, const char *sha256, const char *created)
{
    return json_pack("{s:s,s:s,s:s}", "name", name, "sha256", sha256, "created", created);
}

void cp_keys_time(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- words for limits and usage ------------------------------------------------------------------- */

static void keys_usd(double v, cp_buf_t *b)
{
    cp_buf_addf(b, v == (double)(long long)v && v < 1e15 ? "$%.0f" : "$%.2f", v);
}

void cp_keys_budget_text(const json_t *budget, cp_buf_t *b)
{
    const char *per = json_string_value(json_object_get(budget, "per"));

    if (!json_is_object(budget)) {
        cp_buf_adds(b, "-");
        return;
    }
    if (json_is_number(json_object_get(budget, "usd")))
        keys_usd(json_number_value(json_object_get(budget, "usd")), b);
    else
        cp_buf_addf(b, "%lld tokens", (long long)json_integer_value(json_object_get(budget, "tokens")));
    cp_buf_addf(b, "/%s", per != NULL ? per : "?");
}

void cp_keys_limits_text(const json_t *limits, cp_buf_t *b)
{
    static const char *const fields[] = {"rpm", "tpm", "maxStreams"};
    static const char *const units[] = {"rpm", "tpm", "streams"};
    size_t start = b->len;

    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(limits, fields[i]); /* borrowed */
        if (json_is_integer(v))
            cp_buf_addf(b, "%s%lld %s", b->len > start ? ", " : "", (long long)json_integer_value(v),
                        units[i]);
    }
    if (json_is_object(json_object_get(limits, "budget"))) {
        if (b->len > start)
            cp_buf_adds(b, ", ");
        cp_keys_budget_text(json_object_get(limits, "budget"), b);
    }
    if (b->len == start)
        cp_buf_adds(b, "none");
}

void cp_keys_usage_text(const json_t *usage, cp_buf_t *b)
{
    const json_t *bud = json_object_get(usage, "budget"); /* borrowed */
    const char *per = json_string_value(json_object_get(bud, "per"));
    const char *since = json_string_value(json_object_get(bud, "window_start"));

    cp_buf_addf(b, "%lld requests and %lld tokens in the last minute, %lld streams",
                (long long)json_integer_value(json_object_get(usage, "requests_last_minute")),
                (long long)json_integer_value(json_object_get(usage, "tokens_last_minute")),
                (long long)json_integer_value(json_object_get(usage, "streams")));
    if (!json_is_object(bud))
        return;
    cp_buf_adds(b, "; spent ");
    if (json_is_number(json_object_get(bud, "limit_usd"))) {
        keys_usd(json_number_value(json_object_get(bud, "spent_usd")), b);
        cp_buf_adds(b, " of ");
        keys_usd(json_number_value(json_object_get(bud, "limit_usd")), b);
    } else {
        cp_buf_addf(b, "%lld of %lld tokens",
                    (long long)json_integer_value(json_object_get(bud, "spent_tokens")),
                    (long long)json_integer_value(json_object_get(bud, "limit_tokens")));
    }
    cp_buf_addf(b, " this %s (since %.32s)", per != NULL ? per : "window", since != NULL ? since : "?");
}

void cp_keys_safe_text(const char *s, size_t max, cp_buf_t *b)
{
    size_t n = strlen(s);

    for (size_t i = 0; i < n && i < max; i++)
        cp_buf_addc(b, (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i]);
    if (n > max)
        cp_buf_adds(b, "...");
}

/* ---- editing a settings file -------------------------------------------------------------------- */

static void keys_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* Creates (one level) and locks the directory of f->path. */
static int keys_lock_dir(cp_keys_file_t *f, unsigned dir_mode, cp_err_t *e)
{
    char *slash = strrchr(f->path, '/');
    long waited = 0;

    snprintf(f->dir, sizeof(f->dir), "%.*s",
             slash == NULL      ? 1
             : slash == f->path ? 1
                                : (int)(slash - f->path),
             slash == NULL ? "." : f->path);
    if (mkdir(f->dir, (mode_t)dir_mode) == -1 && errno != EEXIST)
        return cp_err_set(e, 0, NULL, "cannot create %s: %s", f->dir, strerror(errno));
    if ((f->lockfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
        return cp_err_set(e, 0, NULL, "cannot open %s: %s", f->dir, strerror(errno));
    while (flock(f->lockfd, LOCK_EX | LOCK_NB) == -1) {
        if ((errno != EWOULDBLOCK && errno != EINTR) || waited >= CP_KEYS_LOCK_WAIT_MS)
            return cp_err_set(e, 0, NULL, "%s is being edited by another ccproxy (waited %ld s)", f->dir,
                              waited / 1000);
        keys_sleep_ms(KEYS_POLL_MS);
        waited += KEYS_POLL_MS;
    }
    return CP_OK;
}

/* Reads the whole regular file behind <fd> (at most CP_TRUST_FILE_MAX bytes). Returns new, or NULL. */
static char *keys_read_fd(int fd, size_t *len, cp_err_t *e, const char *path)
{
    char *buf = cp_xmalloc(CP_TRUST_FILE_MAX + 1);
    size_t n = 0;
    ssize_t r;

    while (n <= CP_TRUST_FILE_MAX && (r = read(fd, buf + n, CP_TRUST_FILE_MAX + 1 - n)) != 0) {
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            cp_err_set(e, 0, NULL, "cannot read %s: %s", path, strerror(errno));
            free(buf);
            return NULL;
        }
        n += (size_t)r;
    }
    if (n > CP_TRUST_FILE_MAX) {
        cp_err_set(e, 0, NULL, "%s is larger than %u bytes", path, CP_TRUST_FILE_MAX);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int cp_keys_file_open(const char *path, unsigned dir_mode, cp_keys_file_t *f, cp_err_t *e)
{
    struct stat st;
    json_error_t jerr;
    size_t len = 0;
    char *text;
    int fd;

    memset(f, 0, sizeof(*f));
    f->lockfd = -1;
    f->mode = 0600;
    f->gid = getegid();
    if (strlen(path) >= sizeof(f->path) - 32)
        return cp_err_set(e, 0, NULL, "the path %.80s... is too long", path);
    snprintf(f->path, sizeof(f->path), "%s", path);
    if (keys_lock_dir(f, dir_mode, e) != CP_OK)
        return CP_ERR;
    if (lstat(path, &st) == -1) {
        if (errno != ENOENT)
            return cp_err_set(e, 0, NULL, "cannot read %s: %s", path, strerror(errno));
        f->root = json_object();
        return CP_OK;
    }
    if (S_ISLNK(st.st_mode))
        return cp_err_set(e, 0, NULL,
                          "%s is a symbolic link: refusing to replace it (edit the file it points to, "
                          "or replace the link by that file)",
                          path);
    if (!S_ISREG(st.st_mode))
        return cp_err_set(e, 0, NULL, "%s is not a regular file", path);
    if (st.st_uid != geteuid())
        return cp_err_set(e, 0, NULL, "%s belongs to another user (uid %ld): refusing to replace it", path,
                          (long)st.st_uid);
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1)
        return cp_err_set(e, 0, NULL, "cannot read %s: %s", path, strerror(errno));
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) { /* replaced between lstat and open */
        close(fd);
        return cp_err_set(e, 0, NULL, "%s is not a regular file", path);
    }
    text = keys_read_fd(fd, &len, e, path);
    close(fd);
    if (text == NULL)
        return CP_ERR;
    f->existed = 1;
    f->mode = st.st_mode & 0777;
    f->gid = st.st_gid;
    f->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (f->root == NULL) {
        cp_err_set(e, 0, NULL, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        return CP_DECLINED;
    }
    if (!json_is_object(f->root)) {
        cp_err_set(e, 0, NULL, "%s: the settings are not a JSON object", path);
        return CP_DECLINED;
    }
    return CP_OK;
}

/* Writes <text> to a new temporary file <tmp> with f's mode and group. */
static int keys_write_tmp(const cp_keys_file_t *f, const char *tmp, const char *text, cp_err_t *e)
{
    size_t len = strlen(text), off = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (fd == -1)
        return cp_err_set(e, 0, NULL, "cannot create %s: %s", tmp, strerror(errno));
    if ((f->gid != getegid() && fchown(fd, (uid_t)-1, f->gid) == -1) || fchmod(fd, (mode_t)f->mode) == -1) {
        cp_err_set(e, 0, NULL, "cannot give %s the mode and group of %s: %s", tmp, f->path, strerror(errno));
        goto fail;
    }
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1) {
            cp_err_set(e, 0, NULL, "cannot write %s: %s", tmp, strerror(errno));
            goto fail;
        }
        off += (size_t)w;
    }
    if (write(fd, "\n", 1) != 1 || fsync(fd) == -1) {
        cp_err_set(e, 0, NULL, "cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (close(fd) == -1) {
        fd = -1;
        cp_err_set(e, 0, NULL, "cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    return CP_OK;
fail:
    if (fd != -1)
        close(fd);
    unlink(tmp);
    return CP_ERR;
}

int cp_keys_file_commit(cp_keys_file_t *f, cp_keys_check_cb check, void *ud, cp_err_t *e)
{
    char tmp[PATH_MAX + 64];
    char *text = json_dumps(f->root, JSON_INDENT(2) | JSON_PRESERVE_ORDER); /* owned */
    int rc;

    if (text == NULL)
        return cp_err_set(e, 0, NULL, "cannot write the settings as JSON");
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", f->path, (long)getpid());
    (void)unlink(tmp); /* a leftover of a crashed run with the same pid */
    rc = keys_write_tmp(f, tmp, text, e);
    free(text);
    if (rc != CP_OK)
        return CP_ERR;
    if (check != NULL && check(tmp, ud, e) != CP_OK) {
        unlink(tmp);
        return CP_DECLINED;
    }
    if (rename(tmp, f->path) == -1) {
        cp_err_set(e, 0, NULL, "cannot replace %s: %s", f->path, strerror(errno));
        unlink(tmp);
        return CP_ERR;
    }
    (void)fsync(f->lockfd); /* the rename itself on disk: the directory is what lockfd holds open */
    return CP_OK;
}

void cp_keys_file_close(cp_keys_file_t *f)
{
    json_decref(f->root);
    f->root = NULL;
    if (f->lockfd != -1)
        close(f->lockfd); /* releases the flock */
    f->lockfd = -1;
}
