/* lib/prov/cp_caps.h: output-token caps learned from upstream answers, per provider and model.
 *
 * Claude Code asks for 32k-64k output tokens; many upstream models allow less and answer 400 ("This
 * model supports at most 16384 completion tokens"). The adapter retries once with the cap named and
 * records it here, so later requests to the same provider and model are sent capped from the start.
 * One cp_caps_t is owned by the server and shared by every request on its loop; it holds a bounded
 * number of entries (the oldest is replaced). Pure data; no I/O. */
#ifndef CP_CAPS_H
#define CP_CAPS_H

typedef struct cp_caps cp_caps_t;

cp_caps_t *cp_caps_new(void);    /* returns new */
void cp_caps_free(cp_caps_t *c); /* accepts NULL */

/* The cap learned for <provider>/<model>, or 0. <c> may be NULL (nothing learned). */
long cp_caps_get(const cp_caps_t *c, const char *provider, const char *model);

/* Records <cap> for <provider>/<model>. <c> may be NULL (nothing recorded). */
void cp_caps_put(cp_caps_t *c, const char *provider, const char *model, long cap);

#endif
