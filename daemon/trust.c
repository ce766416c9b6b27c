/* daemon/trust.c: `ccproxy trust [--revoke]`: record (or forget) ./.ccproxy/settings.json in the
 * user's trust store, so that the loader applies it (lib/base/cp_trust.h; docs/cli.md, "ccproxy trust").
 *
 * The file is validated by the real loader, which reads it once: the path and hash recorded are those
 * of the bytes that loaded, so a file changed while this runs is not trusted by accident. */
#include "cmds.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cp_trust.h"

static void trust_warn(const char *line, void *ud)
{
    (void)ud;
    fprintf(stderr, "%s\n", line);
}

static int trust_same_dir(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];

    if (realpath(a, ra) == NULL || realpath(b, rb) == NULL)
        return strcmp(a, b) == 0;
    return strcmp(ra, rb) == 0;
}

/* True for the settings that decide where requests and keys go. */
static int trust_matters(const char *path)
{
    const char *dot;

    if (strcmp(path, "server.host") == 0 || strcmp(path, "server.allowedHosts") == 0 ||
        strcmp(path, "server.allowedOrigins") == 0)
        return 1;
    if (strncmp(path, "providers.", 10) != 0 || (dot = strchr(path + 10, '.')) == NULL)
        return 0;
    return strcmp(dot, ".baseURL") == 0 || strcmp(dot, ".apiKey") == 0 || strcmp(dot, ".proxy") == 0 ||
           strncmp(dot, ".headers.", 9) == 0;
}

/* Prints "  <name>" (and " = <value>" when <value>), escaping control bytes: the file chose both, and
 * they must not drive the terminal. */
static void trust_put(const char *name, const char *value, const char *note)
{
    const char *parts[2] = {name, value};

    fputs("  ", stdout);
    for (int i = 0; i < 2 && parts[i] != NULL; i++) {
        if (i == 1)
            fputs(" = ", stdout);
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) {
            if (*p < 0x20 || *p == 0x7f)
                printf("\\x%02x", *p);
            else
                putchar(*p);
        }
    }
    printf("%s\n", note);
}

/* Prints one setting <path> of <c> for the user to check: values that may be secret (keys, header
 * values, a proxy's password) are not shown. */
static void trust_print_one(const cp_config_t *c, const char *path)
{
    const char *dot = strchr(path, '.');
    json_t *v = NULL; /* borrowed from c->merged */
    char *text;

    if (strncmp(path, "server.", 7) == 0) {
        v = json_object_get(json_object_get(c->merged, "server"), path + 7);
    } else {
        const char *end = strchr(dot + 1, '.');
        char *name = cp_xstrndup(dot + 1, (size_t)(end - (dot + 1)));
        json_t *pv = json_object_get(json_object_get(c->merged, "providers"), name);

        free(name);
        if (strncmp(end, ".headers.", 9) == 0 || strcmp(end, ".apiKey") == 0) {
            trust_put(path, NULL, end[1] == 'h' ? " (a header; value not shown)" : " (a key; not shown)");
            return;
        }
        v = json_object_get(pv, end + 1);
    }
    if (v == NULL)
        return;
    if (json_is_string(v))
        text = cp_trust_url_redacted(json_string_value(v)); /* a no-op for what is not a URL with a user */
    else
        text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); /* arrays: JSON escapes control bytes */
    if (text != NULL)
        trust_put(path, text, "");
    free(text);
}

/* Prints the settings that came from <origin> (the project file) and decide where requests and keys go. */
static void trust_print_effects(const cp_config_t *c, const char *origin)
{
    const char *path;
    json_t *o; /* borrowed from c->sources */
    int n = 0;

    json_object_foreach(c->sources, path, o)
    {
        if (strcmp(json_string_value(o), origin) != 0 || !trust_matters(path))
            continue;
        if (n++ == 0)
            printf("Settings from it that decide where requests and keys go:\n");
        trust_print_one(c, path);
    }
    if (n == 0)
        printf("It sets none of providers.*.baseURL, apiKey, headers, proxy, server.host, allowedHosts or "
               "allowedOrigins.\n");
}

static int trust_revoke(const char *home, const char *cwd, const char *path)
{
    char real[PATH_MAX + 32], dir[PATH_MAX];
    cp_err_t e = {0};
    int rc;

    if (realpath(path, real) == NULL) { /* the file is gone: the entry has the directory's real path */
        if (realpath(cwd, dir) == NULL)
            snprintf(dir, sizeof(dir), "%s", cwd);
        snprintf(real, sizeof(real), "%s/.ccproxy/settings.json", dir);
    }
    rc = cp_trust_remove(home, real, &e);
    if (rc == CP_ERR) {
        fprintf(stderr, "ccproxy trust: %s\n", e.msg);
        return CP_EXIT_FAIL;
    }
    if (rc == CP_OK)
        printf("No longer trusted: %s (ccproxy ignores it from now on).\n", real);
    else
        printf("%s was not trusted: nothing to revoke.\n", real);
    return CP_EXIT_OK;
}

int cp_cmd_trust(const cp_cli_t *cli)
{
    const char *home = getenv("HOME");
    char cwd[PATH_MAX], origin[PATH_MAX + 32];
    cp_config_opts_t o = {.trust_project = 1};
    cp_err_t e = {0};
    cp_config_t *c;

    if (home == NULL || *home == '\0') {
        fprintf(stderr, "ccproxy trust: HOME is not set, so there is nowhere to keep the trust store\n");
        return CP_EXIT_FAIL;
    }
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        fprintf(stderr, "ccproxy trust: cannot read the current directory: %s\n", strerror(errno));
        return CP_EXIT_FAIL;
    }
    snprintf(origin, sizeof(origin), "%s/.ccproxy/settings.json", cwd);
    if (trust_same_dir(home, cwd)) {
        printf("%s is your own settings file: it is always applied, there is nothing to trust.\n", origin);
        return CP_EXIT_OK;
    }
    if (cli->revoke)
        return trust_revoke(home, cwd, origin);
    if ((c = cp_config_load(&o, trust_warn, NULL, &e)) == NULL) {
        fprintf(stderr, "ccproxy: config error: %s\nccproxy trust: nothing recorded\n", e.msg);
        return CP_EXIT_CONFIG;
    }
    if (c->project_state != CP_PROJECT_APPLIED) {
        if (c->project_state == CP_PROJECT_NONE)
            fprintf(stderr, "ccproxy trust: there is no %s, so nothing to trust\n", origin);
        else
            fprintf(stderr, "ccproxy trust: %s cannot be trusted; nothing recorded\n", origin);
        cp_config_unref(c);
        return CP_EXIT_FAIL;
    }
    if (cp_trust_add(home, c->project_path, c->project_sha256, &e) != CP_OK) {
        fprintf(stderr, "ccproxy trust: %s\n", e.msg);
        cp_config_unref(c);
        return CP_EXIT_FAIL;
    }
    printf("Trusted %s (sha256 %.12s): ccproxy applies it in %s until it changes (`ccproxy trust --revoke` "
           "to stop).\n",
           c->project_path, c->project_sha256, cwd);
    trust_print_effects(c, origin);
    cp_config_unref(c);
    return CP_EXIT_OK;
}
