/* lib/base/cp_retry.c: see cp_retry.h. */
#include "cp_retry.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cp_common.h"

#define RETRY_BACKOFF_BASE_MS 500
#define RETRY_BACKOFF_MAX_MS  8000

static int64_t retry_cap(double ms)
{
    if (ms >= (double)CP_RETRY_MAX_MS)
        return CP_RETRY_MAX_MS;
    return ms < 0 ? 0 : (int64_t)(ms + 0.5);
}

/* A plain non-negative decimal number ("7", "1.5"; at most 15 digits) times <unit> ms, or -1. */
static int64_t retry_number(const char *s, double unit)
{
    double v = 0, scale = 0;
    size_t digits = 0;

    if (s == NULL)
        return -1;
    while (*s == ' ')
        s++;
    for (; *s != '\0'; s++) {
        if (isdigit((unsigned char)*s) && digits++ < 15) {
            v = v * 10 + (*s - '0');
            if (scale > 0)
                scale *= 10;
        } else if (*s == '.' && scale == 0 && digits > 0) {
            scale = 1;
        } else {
            break;
        }
    }
    while (*s == ' ')
        s++;
    if (digits == 0 || digits > 15 || *s != '\0')
        return -1;
    return retry_cap((scale > 0 ? v / scale : v) * unit);
}

/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") as a wait from <now_ms>, or -1. */
static int64_t retry_date(const char *s, int64_t now_ms)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char wday[4], mon[4], zone[4];
    int day, year, hh, mm, ss, n = 0;
    const char *m;
    int64_t days, t;

    if (s == NULL || strlen(s) > 64 ||
        sscanf(s, "%3[A-Za-z], %d %3[A-Za-z] %d %d:%d:%d %3[A-Z]%n", wday, &day, mon, &year, &hh, &mm, &ss,
               zone, &n) != 8 ||
        s[n] != '\0' || strcmp(zone, "GMT") != 0 || (m = strstr(months, mon)) == NULL ||
        (m - months) % 3 != 0 || day < 1 || day > 31 || year < 1970 || year > 9999 || hh > 23 || mm > 59 ||
        ss > 60 || hh < 0 || mm < 0 || ss < 0)
        return -1;
    days = cp_days_from_civil(year, (unsigned)((m - months) / 3 + 1), (unsigned)day);
    t = ((days * 24 + hh) * 60 + mm) * 60 + ss;
    return t * 1000 > now_ms ? retry_cap((double)(t * 1000 - now_ms)) : -1;
}

/* A Go duration as OpenAI sends it ("1h2m3.5s", "6m0s", "20ms"), or -1. */
static int64_t retry_duration(const char *s)
{
    double total = 0;
    int parts = 0;

    if (s == NULL || strlen(s) > 64)
        return -1;
    while (*s != '\0') {
        double v = 0, scale = 0, unit;
        int digits = 0;
        for (; isdigit((unsigned char)*s) || (*s == '.' && scale == 0); s++) {
            if (*s == '.') {
                scale = 1;
                continue;
            }
            v = v * 10 + (*s - '0');
            scale = scale > 0 ? scale * 10 : 0;
            digits++;
        }
        if (digits == 0 || digits > 15)
            return -1;
        if (strncmp(s, "ms", 2) == 0)
            unit = 1, s += 2;
        else if (*s == 'h')
            unit = 3600000, s++;
        else if (*s == 'm')
            unit = 60000, s++;
        else if (*s == 's')
            unit = 1000, s++;
        else
            return -1;
        total += (scale > 0 ? v / scale : v) * unit;
        parts++;
    }
    return parts > 0 ? retry_cap(total) : -1;
}

int64_t cp_retry_after_ms(const cp_retry_hdrs_t *h, int64_t now_ms)
{
    int64_t v, a, b;

    if ((v = retry_number(h->retry_after_ms, 1)) >= 0)
        return v;
    if ((v = retry_number(h->retry_after, 1000)) >= 0 || (v = retry_date(h->retry_after, now_ms)) >= 0)
        return v;
    a = retry_duration(h->reset_requests);
    b = retry_duration(h->reset_tokens);
    return a > b ? a : b;
}

int64_t cp_retry_backoff_ms(unsigned attempt, uint32_t rnd)
{
    int64_t full = RETRY_BACKOFF_BASE_MS;

    for (unsigned i = 2; i < attempt && full < RETRY_BACKOFF_MAX_MS; i++)
        full *= 2;
    if (full > RETRY_BACKOFF_MAX_MS)
        full = RETRY_BACKOFF_MAX_MS;
    return full / 2 + (int64_t)((uint64_t)rnd * (uint64_t)(full / 2) >> 32);
}
