/* lib/base/cp_log.h: leveled logger writing one line per record to stderr, as JSON or text.
 *
 * Records are a message plus optional structured fields (a jansson object). Secrets registered with
 * cp_log_set_secrets() are scrubbed from every line as a last line of defence: the code never logs
 * headers or keys on purpose, and this makes sure a provider key that slipped into an upstream
 * error message cannot reach the log either. Not thread-safe (ccproxy has one thread). */
#ifndef CP_LOG_H
#define CP_LOG_H

#include <jansson.h>

enum cp_log_level {
    CP_LOG_ERROR = 0,
    CP_LOG_WARN,
    CP_LOG_INFO,
    CP_LOG_DEBUG,
};

enum cp_log_format {
    CP_LOG_JSON = 0,
    CP_LOG_TEXT,
};

/* Sets the threshold and the line format. Defaults: info, JSON. */
void cp_log_setup(enum cp_log_level level, enum cp_log_format format);
int cp_log_enabled(enum cp_log_level level);

/* Parses "error|warn|info|debug" (also "warning") / "json|text". Return CP_OK or CP_ERR. */
int cp_log_level_parse(const char *s, enum cp_log_level *out);
int cp_log_format_parse(const char *s, enum cp_log_format *out);

/* Replaces the set of strings scrubbed from log lines (copies them; empty strings are skipped).
 * Strings shorter than 4 bytes are ignored, so that a silly key cannot blank out the log. */
void cp_log_set_secrets(const char *const *secrets, size_t n);

/* Writes one record. Takes <fields> (a JSON object or NULL). */
void cp_log_j(enum cp_log_level level, const char *msg, json_t *fields);

/* Writes one record whose message is printf-formatted, without fields. */
void cp_log(enum cp_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Redirects output (tests); NULL restores stderr. */
void cp_log_set_stream(void *file /* FILE* */);

#endif
