/* lib/cli/cp_init.h: what `ccproxy init` writes. Pure: the provider presets, the defaults for unanswered
 * questions, the checks on answers, and the settings tree. The questions and the file are
 * daemon/init.c's. */
#ifndef CP_INIT_H
#define CP_INIT_H

#include <stddef.h>

#include <jansson.h>

#include "cp_common.h"

#define CP_INIT_PORT 8082
#define CP_INIT_HOST "127.0.0.1" /* a personal proxy listens on loopback only */

typedef struct cp_init_preset {
    const char *name;
    const char *about; /* one line for the menu */
    const char *base_url;
    const char *style;   /* "openai" or "anthropic" */
    const char *key_env; /* the variable that usually holds the key */
    const char *big_model;
    const char *small_model;
} cp_init_preset_t;

/* openai, gemini, openrouter, anthropic; "custom" (or any other name) has no preset. */
extern const cp_init_preset_t cp_init_presets[];
extern const size_t cp_init_npresets;

/* Borrows: the preset named <name>, or NULL. */
const cp_init_preset_t *cp_init_preset(const char *name);

/* The answers; every string is borrowed and NULL when not (yet) given. */
typedef struct cp_init_answers {
    const char *provider;    /* a preset, or the name of a custom provider ("custom" is one) */
    const char *base_url;    /* NULL: the preset's */
    const char *style;       /* NULL: the preset's, else "openai" */
    const char *api_key;     /* the key itself, written into the file */
    const char *api_key_env; /* or the variable that holds it, written as "${VAR}" */
    const char *big_model;   /* "model" or "model@provider"; NULL: the preset's */
    const char *small_model;
    const char *host; /* NULL: CP_INIT_HOST */
    int port;         /* 0: CP_INIT_PORT */
} cp_init_answers_t;

/* Fills what has a default from the preset (base URL, style, models; with <take_defaults> also the
 * key variable). Returns CP_OK when every required answer is there, else CP_ERR with <e->msg>
 * naming each missing one as its flag ("missing --provider; --api-key-env or --api-key"). */
int cp_init_complete(cp_init_answers_t *a, int take_defaults, cp_err_t *e);

/* Reads one answer to "the key, or the variable that holds it": "none" (any case) means no key; an
 * upper-case shell name (OPENAI_API_KEY) is a variable; anything else is the key. Sets a->api_key or
 * a->api_key_env (borrowing <answer>). Returns CP_ERR for an empty answer. */
int cp_init_key_answer(cp_init_answers_t *a, const char *answer);

/* Checks the form of the answers (provider name, variable name, URL, models, port). */
int cp_init_check(const cp_init_answers_t *a, cp_err_t *e);

/* The settings file for complete, checked answers. Returns new. */
json_t *cp_init_settings(const cp_init_answers_t *a);

/* Writes into <buf> the key variable proposed for <provider>: the preset's, else <NAME>_API_KEY. */
void cp_init_key_env(const char *provider, char *buf, size_t n);

/* ---- `init --remote URL [--key KEY | --key-env VAR]` and `init --key KEY` ----------------------- */

/* Checks the client answers (each may be NULL): <url> an http(s) URL with a host (cp_config_url_ok);
 * <key> 1 to CP_INIT_CLIENT_KEY_MAX bytes without spaces, quotes or control characters (it travels in an
 * HTTP header); <key_env> a shell variable name. Returns CP_OK, or CP_ERR with <e> naming the flag. */
#define CP_INIT_CLIENT_KEY_MAX 511 /* the server refuses longer keys unhashed (CP_AUTH_PRESENTED_MAX) */
int cp_init_client_check(const char *url, const char *key, const char *key_env, cp_err_t *e);

/* Sets "client" in the settings object <root>, keeping every other member and their order: "url" when
 * <url> is given, and "key" or "keyEnv" when given (the other one removed, so the file says one thing).
 * Returns CP_OK; CP_DECLINED when <root> already names another client.url and not <force> (<e> names
 * it); CP_ERR when <root> or its "client" is not an object. */
int cp_init_client_apply(json_t *root, const char *url, const char *key, const char *key_env, int force,
                         cp_err_t *e);

#endif
