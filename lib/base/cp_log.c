/* lib/base/cp_log.c: see cp_log.h. Lines are built in memory and written with one fwrite, so that a
 * record is never interleaved with another process writing to the same stderr. */
#include "cp_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cp_buf.h"
#include "cp_common.h"

#define LOG_MAX_SECRETS 256

static struct {
    enum cp_log_level level;
    enum cp_log_format format;
    FILE *out;
    char *secrets[LOG_MAX_SECRETS];
    size_t nsecrets;
} lg = {CP_LOG_INFO, CP_LOG_JSON, NULL, {NULL}, 0};

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void cp_log_setup(enum cp_log_level level, enum cp_log_format format)
{
    lg.level = level;
    lg.format = format;
}

int cp_log_enabled(enum cp_log_level level)
{
    return level <= lg.level;
}

void cp_log_set_stream(void *file)
{
    lg.out = file;
}

int cp_log_level_parse(const char *s, enum cp_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum cp_log_level)i;
            return CP_OK;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = CP_LOG_WARN;
        return CP_OK;
    }
    return CP_ERR;
}

int cp_log_format_parse(const char *s, enum cp_log_format *out)
{
    if (strcmp(s, "json") == 0)
        *out = CP_LOG_JSON;
    else if (strcmp(s, "text") == 0)
        *out = CP_LOG_TEXT;
    else
        return CP_ERR;
    return CP_OK;
}

void cp_log_set_secrets(const char *const *secrets, size_t n)
{
    for (size_t i = 0; i < lg.nsecrets; i++) {
        free(lg.secrets[i]);
        lg.secrets[i] = NULL;
    }
    lg.nsecrets = 0;
    for (size_t i = 0; i < n && lg.nsecrets < LOG_MAX_SECRETS; i++)
        if (secrets[i] != NULL && strlen(secrets[i]) >= 4)
            lg.secrets[lg.nsecrets++] = cp_xstrdup(secrets[i]);
}

/* Replaces every registered secret in <line> (in place, the result is never longer). */
static void log_scrub(char *line)
{
    static const char mark[] = "<redacted>";

    for (size_t i = 0; i < lg.nsecrets; i++) {
        size_t sl = strlen(lg.secrets[i]);
        char *p;

        while ((p = strstr(line, lg.secrets[i])) != NULL) {
            size_t ml = sl < sizeof(mark) - 1 ? sl : sizeof(mark) - 1;
            memcpy(p, mark, ml);
            memmove(p + ml, p + sl, strlen(p + sl) + 1);
        }
    }
}

static void log_ts(char *buf, size_t n)
{
    uint64_t ms = cp_wall_ms();
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    size_t len;

    gmtime_r(&s, &tm);
    len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + len, n - len, ".%03uZ", (unsigned)(ms % 1000));
}

/* Appends <s> with control characters escaped (\n, \r, \t, \xHH): a value that came from a client (a
 * model name, a path) cannot start a line of its own in a text log. */
static void log_text_add(cp_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    for (const char *p = s; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;

        if (c >= 0x20 && c != 0x7f) {
            size_t run = 1;
            while (p[run] != '\0' && (unsigned char)p[run] >= 0x20 && (unsigned char)p[run] != 0x7f)
                run++;
            cp_buf_add(b, p, run);
            p += run - 1;
        } else if (c == '\n') {
            CP_BUF_LIT(b, "\\n");
        } else if (c == '\r') {
            CP_BUF_LIT(b, "\\r");
        } else if (c == '\t') {
            CP_BUF_LIT(b, "\\t");
        } else {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            cp_buf_add(b, e, sizeof(e));
        }
    }
}

static char *log_text_line(const char *ts, enum cp_log_level level, const char *msg, json_t *fields)
{
    cp_buf_t b = CP_BUF_INIT;
    const char *key;
    json_t *v; /* borrowed from fields */
    char lvl[8];
    size_t i;

    for (i = 0; level_names[level][i] && i < sizeof(lvl) - 1; i++)
        lvl[i] = (char)(level_names[level][i] - 'a' + 'A');
    lvl[i] = '\0';
    cp_buf_addf(&b, "%s %-5s ", ts, lvl);
    log_text_add(&b, msg);
    json_object_foreach(fields, key, v)
    {
        char *val = json_is_string(v) ? cp_xstrdup(json_string_value(v))
                                      : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

        cp_buf_addc(&b, ' ');
        log_text_add(&b, key);
        cp_buf_addc(&b, '=');
        log_text_add(&b, val != NULL ? val : "");
        free(val);
    }
    return cp_buf_detach(&b, NULL);
}

void cp_log_j(enum cp_log_level level, const char *msg, json_t *fields)
{
    char ts[40];
    char *line = NULL;
    FILE *out = lg.out ? lg.out : stderr;

    if (!cp_log_enabled(level)) {
        json_decref(fields);
        return;
    }
    if (fields != NULL && !json_is_object(fields)) {
        json_decref(fields);
        fields = NULL;
    }
    log_ts(ts, sizeof(ts));
    if (lg.format == CP_LOG_JSON) {
        json_t *rec =
            json_pack("{s:s,s:s,s:s}", "ts", ts, "level", level_names[level], "msg", msg); /* owned */
        if (rec != NULL && fields != NULL)
            json_object_update_missing(rec, fields);
        line = rec ? json_dumps(rec, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
        json_decref(rec);
    } else {
        json_t *empty = fields ? NULL : json_object(); /* owned */
        line = log_text_line(ts, level, msg, fields ? fields : empty);
        json_decref(empty);
    }
    json_decref(fields);
    if (line == NULL)
        return;
    log_scrub(line);
    {
        size_t n = strlen(line);
        line[n] = '\n'; /* json_dumps/log_text_line leave room: overwrite NUL, write n+1 */
        fwrite(line, 1, n + 1, out);
        fflush(out);
    }
    free(line);
}

void cp_log(enum cp_log_level level, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;

    if (!cp_log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cp_log_j(level, buf, NULL);
}
