/* lib/cli/cp_keys.h: the pieces of `ccproxy keys` (daemon/keys.c) and `ccproxy init --remote`
 * (daemon/init.c) that are not talking to the user: the key's text, the checks on flag values, the
 * edits of auth.keys in a settings tree, the words for limits and usage, and the one way a settings
 * file is edited in place (read with checks, replaced through a checked temporary file).
 *
 * A developer key is CP_AUTH_PREFIX ("ccp_") and 32 random bytes written in base62 (43 digits); only
 * its SHA-256 is ever stored (lib/team/cp_auth.h). Nothing here logs or prints. */
#ifndef CP_KEYS_H
#define CP_KEYS_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "cp_buf.h"
#include "cp_cli.h"
#include "cp_common.h"

#define CP_KEYS_RAW_BYTES    32                       /* random bytes in a key */
#define CP_KEYS_B62_DIGITS   43                       /* 62^43 > 2^256: every 32-byte value fits */
#define CP_KEYS_KEY_LEN      (4 + CP_KEYS_B62_DIGITS) /* "ccp_" + the digits */
#define CP_KEYS_LOCK_WAIT_MS 5000                     /* how long an edit waits for another one to finish */

/* Writes the 32 bytes <raw> (big-endian) as exactly 43 base62 digits (0-9, A-Z, a-z; leading zeros
 * kept) and a NUL into <out>. */
void cp_keys_base62(const unsigned char raw[CP_KEYS_RAW_BYTES], char out[CP_KEYS_B62_DIGITS + 1]);

/* Writes the key for <raw>: "ccp_" and its base62 digits, and a NUL. */
void cp_keys_format(const unsigned char raw[CP_KEYS_RAW_BYTES], char out[CP_KEYS_KEY_LEN + 1]);

/* 1 when <s> can name a key: 1..64 bytes of A-Z a-z 0-9 . _ - (what cp_auth_keys_check accepts). */
int cp_keys_name_ok(const char *s);

/* Parses the value <s> of flag <flag> as a whole decimal number from <lo> to <hi>: digits only (no
 * sign, space, exponent or other tail). Returns CP_OK with <out>, or CP_ERR with <e->msg> naming the
 * flag, quoting (at most 40 bytes of) the value and saying what was expected. */
int cp_keys_parse_int(const char *flag, const char *s, long long lo, long long hi, long long *out,
                      cp_err_t *e);

/* Parses an amount of USD: digits with at most one '.' and digits after it, above 0, at most 10^12.
 * Returns CP_OK with <out>, or CP_ERR like cp_keys_parse_int. */
int cp_keys_parse_usd(const char *flag, const char *s, double *out, cp_err_t *e);

/* Parses "--models P,P,...": patterns separated by commas, spaces and tabs around each trimmed; an
 * empty pattern, a control character, more than 256 patterns or one over 255 bytes is an error.
 * Returns new (an array of strings), or NULL with <e>. */
json_t *cp_keys_parse_models(const char *s, cp_err_t *e);

/* Adds to <entry> what the flags of `keys add` say (cli->models, rpm, tpm, max_streams, budget_usd,
 * budget_tokens, per; "month" when a budget comes without --per), in the order models, rpm, tpm,
 * maxStreams, budget. Checks every value first: on CP_ERR (<e> names the flag) <entry> is unchanged. */
int cp_keys_apply_flags(const cp_cli_t *cli, json_t *entry, cp_err_t *e);

/* ---- auth.keys in a settings tree ---------------------------------------------------------------- */

/* Borrows: the auth.keys array of the settings object <root>. With <create>, "auth" and "keys" are
 * added (at the end, every other member kept in its place) when missing. Returns NULL when they are
 * missing (without <create>) and, with <e> set, when <root>, "auth" or "keys" is of another type. */
json_t *cp_keys_array(json_t *root, int create, cp_err_t *e);

/* The index of the entry named <name> in <keys>, or -1. */
long cp_keys_find(const json_t *keys, const char *name);

/* Returns new: {"name": <name>, "sha256": <sha256>, "created": <created>}. */
json_t *cp_keys_entry(const char *name, const char *sha256, const char *created);

/* Writes <ms> (Unix time in ms) as "YYYY-MM-DDTHH:MM:SSZ" (UTC) into <out>. */
void cp_keys_time(int64_t ms, char out[32]);

/* ---- words for limits and usage (keys list, status) ------------------------------------------------ */

/* Appends the budget of an auth.keys entry or of /ccproxy/key's "limits" ({"usd": 50, "per": "month"}
 * gives "$50/month", {"tokens": N, "per": P} "N tokens/P"); "-" when <budget> is not an object. */
void cp_keys_budget_text(const json_t *budget, cp_buf_t *b);

/* Appends the limits of an entry (or /ccproxy/key's "limits"): "60 rpm, 400000 tpm, 8 streams,
 * $50/month", "none" when there are none. */
void cp_keys_limits_text(const json_t *limits, cp_buf_t *b);

/* Appends /ccproxy/key's "usage" (cp_limits_view in lib/team/cp_limits.h): "N requests and N tokens in
 * the last minute, N streams" and, with a budget, "; spent $X of $Y this month (since DATE)". */
void cp_keys_usage_text(const json_t *usage, cp_buf_t *b);

/* Appends <s> for a terminal: control bytes as '?', at most <max> bytes (cut with "..."). */
void cp_keys_safe_text(const char *s, size_t max, cp_buf_t *b);

/* ---- editing a settings file -------------------------------------------------------------------- */

typedef struct cp_keys_file {
    char path[PATH_MAX];
    char dir[PATH_MAX];
    json_t *root; /* owned: the settings as read ({} when there was no file) */
    int existed;
    unsigned mode; /* the permission bits the file keeps (0600 for a new one) */
    gid_t gid;     /* its group, kept */
    int lockfd;    /* the directory, flock()ed while the edit lasts; -1 when closed */
} cp_keys_file_t;

/* Opens <path> for an edit: creates its directory with <dir_mode> when missing (one level), takes an
 * exclusive lock on the directory (waiting up to CP_KEYS_LOCK_WAIT_MS for another edit), then reads
 * the file, refusing a symbolic link, anything but a regular file, a file of another user and one over
 * CP_TRUST_FILE_MAX. Returns CP_OK (f->root is the object read, or {} when there is no file), CP_ERR
 * (refused or unreadable; <e> names the file and why) or CP_DECLINED (it is not a JSON object; <e>
 * says where). Always call cp_keys_file_close() afterwards. */
int cp_keys_file_open(const char *path, unsigned dir_mode, cp_keys_file_t *f, cp_err_t *e);

/* Called on the written temporary file before it replaces anything: CP_OK to go on, else CP_ERR with
 * <e> saying why. */
typedef int (*cp_keys_check_cb)(const char *tmp_path, void *ud, cp_err_t *e);

/* Replaces the file with f->root (2-space indent, member order kept): a temporary file in the same
 * directory (O_EXCL, created 0600, then f->mode and f->gid), written and fsync()ed, <check>ed (may be
 * NULL), renamed over the file, and the directory fsync()ed. Returns CP_OK; CP_DECLINED when <check>
 * refused (nothing written; <e> is the check's); CP_ERR on an I/O error (nothing written; <e>). */
int cp_keys_file_commit(cp_keys_file_t *f, cp_keys_check_cb check, void *ud, cp_err_t *e);

/* Releases the lock and the tree. Accepts a file that failed to open. */
void cp_keys_file_close(cp_keys_file_t *f);

#endif
