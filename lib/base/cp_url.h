/* lib/base/cp_url.h: the few URL questions ccproxy asks of a configured baseURL. Pure.
 *
 * The URLs are the loader's validated http(s) baseURLs, so this is no general URL parser: enough to
 * find the host (after any userinfo, before any port), and the path (before any query or fragment). */
#ifndef CP_URL_H
#define CP_URL_H

#include <stddef.h>

/* True when the host of <url> ("scheme://[user[:pw]@]host[:port][/path][?q][#f]") is <host> or a
 * subdomain of it, case-insensitively (a trailing dot on the URL's host is ignored).
 * "https://eu.openrouter.ai" is on "openrouter.ai"; "https://api.openai.com.evil.example" and
 * "https://notopenrouter.ai" are not. NULL <url> is false. */
int cp_url_host_is(const char *url, const char *host);

/* True when <url> has a path beyond "/" ("https://h/v1" yes; "https://h", "https://h/" and
 * "https://h?x=/y" no). */
int cp_url_has_path(const char *url);

/* True when the path of <url> (query and fragment excluded) ends with <suffix> (e.g. "/v1"). A URL
 * without a path is false. */
int cp_url_path_ends_with(const char *url, const char *suffix);

/* Returns new: <base> + <a> + <b> (<b> may be NULL), with no doubled '/' between <base> and <a>
 * (nothing is added either: "h" + "x" is "hx"). */
char *cp_url_join(const char *base, const char *a, const char *b);

#endif
