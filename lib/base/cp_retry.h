/* lib/base/cp_retry.h: when an upstream says to come back (docs/resilience.md, "Retry-After"). Pure.
 *
 * The headers read, first found wins:
 *   retry-after-ms                      milliseconds (Anthropic and OpenAI send it beside retry-after)
 *   retry-after                         seconds ("7", also "1.5"), or an HTTP date
 *                                       ("Sun, 06 Nov 1994 08:49:37 GMT", IMF-fixdate only)
 *   x-ratelimit-reset-requests,         OpenAI's durations ("1s", "6m0s", "20ms", "1h2m3.5s"): the later
 *   x-ratelimit-reset-tokens            of the two
 * Anything else (negative, not a number, a date in the past, garbage) counts as absent. */
#ifndef CP_RETRY_H
#define CP_RETRY_H

#include <stdint.h>

#define CP_RETRY_MAX_MS (24LL * 3600 * 1000) /* a wait longer than a day is taken as a day */

typedef struct cp_retry_hdrs {
    const char *retry_after_ms;
    const char *retry_after;
    const char *reset_requests;
    const char *reset_tokens;
} cp_retry_hdrs_t;

/* The wait the headers ask for, in milliseconds (0 .. CP_RETRY_MAX_MS), or -1 when none is given.
 * <now_ms> is the wall clock (Unix ms) an HTTP date is compared with. */
int64_t cp_retry_after_ms(const cp_retry_hdrs_t *h, int64_t now_ms);

/* The pause before attempt <attempt> (2, 3, ...) when the upstream named none: 500 ms doubled each
 * time, at most 8 s, with "equal jitter" from <rnd> (any 32 random bits): between half and all of it. */
int64_t cp_retry_backoff_ms(unsigned attempt, uint32_t rnd);

#endif
