/* lib/exchange/cp_health.c: see cp_health.h.
 *
 * Four fixed tables in one cp_health_t, each searched linearly over its used entries (a handful in
 * practice; the bounds keep the worst case to a scan of a few thousand words):
 *   - breakers: up to CP_HEALTH_BREAKERS_MAX (provider, model) entries, appended until full, then the
 *     least recently used closed one is replaced (an open or half-open one only when none is closed).
 *     Their ids sit in a separate compact array (h->bid) so that a lookup reads 8 KB, not the entries.
 *     The failure rate is counted in HB_BUCKETS fixed buckets of window_s / HB_BUCKETS each: a bucket
 *     holds the ok/fail counts of one period (its epoch, now_ms / width) and is reused, emptied, when
 *     its slot comes round again; the rate is over the buckets of the last HB_BUCKETS periods.
 *   - keys: up to CP_HEALTH_KEYS_MAX (provider, key fingerprint) entries: cooling until, out.
 *     A key with no entry is usable; entries are made by cp_health_key_cool/_out only.
 *   - provs: up to HP_PROVS_MAX round-robin cursors (the index last picked), per provider.
 *   - sessions: CP_HEALTH_SESSIONS_MAX direct-mapped slots (slot = session hash % size), allocated on
 *     the first cp_health_session_put so that a process without sessions does not pay for them.
 * The other tables are one calloc'ed block: its pages cost memory only once written.
 *
 * Identity is a keyed 64-bit hash of the whole names (provider, model) or of the key bytes; the names
 * are also copied, cut at a UTF-8 boundary to H_PROV_NAME / CP_ROUTE_MODEL_MAX bytes, so that entries
 * outlive the config snapshot they came from and can be shown. Key bytes are never copied.
 * The hash is SipHash-2-4 keyed with 16 bytes from getrandom(2) drawn once per process (h_key): a client
 * cannot choose session ids that collide. cp_health_new draws that key, so that later calls only read it.
 * "Least recently used" counts uses (h->tick), not time, since some calls (cp_health_key_cool,
 * cp_health_key_out) take no clock.
 *
 * Ownership: the cp_health_t and its session slots belong to its creator (cp_health_new/_free); every
 * provider and name passed in is borrowed for the call only. */
#include "cp_health.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include "cp_common.h"
#include "cp_route.h"

#define HB_BUCKETS   10  /* the rate's window is cut into this many buckets */
#define H_PROV_NAME  64  /* bytes of a provider name kept for display, the NUL included */
#define HP_PROVS_MAX 256 /* providers with a round-robin cursor */
#define HP_NONE      SIZE_MAX

/* Breaker states; the values are those of ccproxy_breaker_state. */
enum hb_state {
    HB_CLOSED = 0,
    HB_OPEN = 1,
    HB_HALF = 2,
};

/* Domain tags, hashed first, so that the hash of a key never equals that of a name with the same bytes. */
enum h_tag {
    H_TAG_KEY = 'k',
    H_TAG_SESSION = 's',
    H_TAG_CANDIDATE = 'c',
    H_TAG_PROVIDER = 'p',
    H_TAG_PAIR = 'b',
};

typedef struct hb_entry {
    char provider[H_PROV_NAME];     /* copy, maybe cut; for display */
    char model[CP_ROUTE_MODEL_MAX]; /* copy, maybe cut; for display */
    enum hb_state state;
    unsigned consecutive;  /* failures since the last OK */
    int probing;           /* half-open: a probe was let through at probe_ms and is not reported yet */
    uint64_t open_until;   /* open: when the next caller may probe */
    uint64_t probe_ms;     /* half-open: when the probe in flight was let through */
    uint64_t opened_total; /* times it opened (a failed probe included) */
    uint64_t width_ms;     /* bucket width the window was counted with */
    uint64_t epoch[HB_BUCKETS];
    uint32_t ok[HB_BUCKETS], fail[HB_BUCKETS];
    uint64_t used; /* h->tick of the last use */
} hb_entry_t;

typedef struct hk_entry {
    uint64_t prov;          /* hash of the provider name */
    uint64_t fp;            /* cp_health_key_id of the key */
    uint64_t cooling_until; /* monotonic ms; 0: not cooling */
    int out;                /* refused until cp_health_reload */
    uint64_t used;
} hk_entry_t;

typedef struct hp_entry {
    uint64_t prov;
    size_t last; /* index last picked; HP_NONE: none yet */
    uint64_t used;
} hp_entry_t;

typedef struct hs_slot {
    uint64_t sid;     /* session hash; 0: empty */
    uint64_t cand;    /* cp_health_candidate_id that served it */
    uint64_t prov;    /* hash of that provider's name */
    uint64_t fp;      /* fingerprint of the key used; 0: none */
    uint64_t last_ms; /* its last request */
    size_t hint;      /* the key's index then (checked against fp: pools change on reload) */
} hs_slot_t;

struct cp_health {
    uint64_t tick;     /* counts uses, for LRU */
    uint64_t now_seen; /* the latest now_ms given to a key call */
    size_t nb, nk, np; /* entries used in b, k, p */
    uint64_t bid[CP_HEALTH_BREAKERS_MAX];
    hb_entry_t b[CP_HEALTH_BREAKERS_MAX];
    hk_entry_t k[CP_HEALTH_KEYS_MAX];
    hp_entry_t p[HP_PROVS_MAX];
    hs_slot_t *s; /* owned; CP_HEALTH_SESSIONS_MAX slots, NULL until the first put */
};

/* ---- hashing: SipHash-2-4, streamed ---- */

static uint64_t h_k0, h_k1;
static int h_keyed;

static void h_key(void)
{
    uint64_t k[2];

    if (h_keyed)
        return;
    if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
        /* No entropy yet: a fixed key still names everything consistently; only the defence against
         * chosen session-id collisions is lost. */
        k[0] = 0x63637072786b6579ULL;
        k[1] = 0x6865616c74682d31ULL;
    }
    h_k0 = k[0];
    h_k1 = k[1];
    h_keyed = 1;
}

typedef struct sip {
    uint64_t v0, v1, v2, v3;
    uint64_t m; /* bytes not compressed yet, little-endian */
    uint64_t n; /* bytes added */
} sip_t;

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(sip_t *s)
{
    s->v0 += s->v1;
    s->v1 = ROTL(s->v1, 13) ^ s->v0;
    s->v0 = ROTL(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = ROTL(s->v3, 16) ^ s->v2;
    s->v0 += s->v3;
    s->v3 = ROTL(s->v3, 21) ^ s->v0;
    s->v2 += s->v1;
    s->v1 = ROTL(s->v1, 17) ^ s->v2;
    s->v2 = ROTL(s->v2, 32);
}

static void sip_compress(sip_t *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

static void sip_init(sip_t *s, enum h_tag tag)
{
    h_key();
    s->v0 = h_k0 ^ 0x736f6d6570736575ULL;
    s->v1 = h_k1 ^ 0x646f72616e646f6dULL;
    s->v2 = h_k0 ^ 0x6c7967656e657261ULL;
    s->v3 = h_k1 ^ 0x7465646279746573ULL;
    s->m = s->n = 0;
    if (tag != 0) {
        unsigned char t = (unsigned char)tag;
        s->m = t;
        s->n = 1;
    }
}

static void sip_add(sip_t *s, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++) {
        s->m |= (uint64_t)b[i] << (8 * (s->n & 7));
        if ((++s->n & 7) == 0) {
            sip_compress(s, s->m);
            s->m = 0;
        }
    }
}

static void sip_adds(sip_t *s, const char *str)
{
    sip_add(s, str != NULL ? str : "", str != NULL ? strlen(str) : 0);
}

/* The hash, never 0 (0 means "none" in the tables). */
static uint64_t sip_end(sip_t *s)
{
    uint64_t r;

    sip_compress(s, s->m | (s->n << 56));
    s->v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(s);
    r = s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
    return r != 0 ? r : 1;
}

static uint64_t h_hash(enum h_tag tag, const char *a, const char *sep, const char *b)
{
    sip_t s;

    sip_init(&s, tag);
    sip_adds(&s, a);
    if (sep != NULL) {
        sip_add(&s, sep, strlen(sep) + (*sep == '\0')); /* "" separates with a NUL byte */
        sip_adds(&s, b);
    }
    return sip_end(&s);
}

static uint64_t h_prov(const char *name)
{
    return h_hash(H_TAG_PROVIDER, name, NULL, NULL);
}

uint64_t cp_health_key_id(const char *key)
{
    return h_hash(H_TAG_KEY, key, NULL, NULL);
}

uint64_t cp_health_session_id(const char *sid)
{
    if (sid == NULL || *sid == '\0')
        return 0;
    return h_hash(H_TAG_SESSION, sid, NULL, NULL);
}

uint64_t cp_health_candidate_id(const char *provider, const char *model)
{
    return h_hash(H_TAG_CANDIDATE, model, "@", provider);
}

/* ---- the object ---- */

cp_health_t *cp_health_new(void)
{
    h_key(); /* drawn before any request can need it */
    return cp_xcalloc(1, sizeof(cp_health_t));
}

void cp_health_free(cp_health_t *h)
{
    if (h == NULL)
        return;
    free(h->s);
    free(h);
}

void cp_health_reload(cp_health_t *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->nk; i++)
        h->k[i].out = 0;
}

/* Copies <src> into <dst> (<n> bytes), cut at a UTF-8 character boundary when too long. */
static void h_copy(char *dst, size_t n, const char *src)
{
    size_t len = src != NULL ? strlen(src) : 0;

    if (len >= n) {
        len = n - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xc0) == 0x80)
            len--;
    }
    if (len > 0)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Whether <s> starts with <copy> (a copy of it, maybe cut): the names' check after their hash matched. */
static int h_prefix(const char *copy, const char *s)
{
    return strncmp(copy, s, strlen(copy)) == 0;
}

static const char *h_str(const char *s)
{
    return s != NULL ? s : "";
}

/* ---- breakers ---- */

static int hb_enabled(const cp_breaker_cfg_t *cfg)
{
    return cfg != NULL && (cfg->failures > 0 || cfg->rate > 0);
}

static uint64_t hb_cooldown_ms(const cp_breaker_cfg_t *cfg)
{
    return (uint64_t)cfg->cooldown_s * 1000u;
}

/* The bucket width: window_s / HB_BUCKETS, a window of 0 counting as 1 s. */
static uint64_t hb_width_ms(const cp_breaker_cfg_t *cfg)
{
    uint64_t w = (uint64_t)(cfg->window_s > 0 ? cfg->window_s : 1) * 1000u / HB_BUCKETS;

    return w > 0 ? w : 1;
}

static hb_entry_t *hb_find(cp_health_t *h, const char *provider, const char *model, uint64_t id)
{
    for (size_t i = 0; i < h->nb; i++) {
        const hb_entry_t *e = &h->b[i];

        if (h->bid[i] == id && h_prefix(e->provider, provider) && h_prefix(e->model, model))
            return &h->b[i];
    }
    return NULL;
}

/* The slot a new breaker takes when the table is full: the least recently used closed one, else the least
 * recently used one. */
static size_t hb_victim(const cp_health_t *h)
{
    size_t closed = SIZE_MAX, any = 0;

    for (size_t i = 0; i < h->nb; i++) {
        if (h->b[i].used < h->b[any].used)
            any = i;
        if (h->b[i].state == HB_CLOSED && (closed == SIZE_MAX || h->b[i].used < h->b[closed].used))
            closed = i;
    }
    return closed != SIZE_MAX ? closed : any;
}

static hb_entry_t *hb_add(cp_health_t *h, const char *provider, const char *model, uint64_t id)
{
    size_t i = h->nb < CP_HEALTH_BREAKERS_MAX ? h->nb++ : hb_victim(h);
    hb_entry_t *e = &h->b[i];

    memset(e, 0, sizeof(*e));
    h->bid[i] = id;
    h_copy(e->provider, sizeof(e->provider), provider);
    h_copy(e->model, sizeof(e->model), model);
    return e;
}

static void hb_clear_window(hb_entry_t *e)
{
    memset(e->epoch, 0, sizeof(e->epoch));
    memset(e->ok, 0, sizeof(e->ok));
    memset(e->fail, 0, sizeof(e->fail));
}

static void hb_close(hb_entry_t *e)
{
    e->state = HB_CLOSED;
    e->consecutive = 0;
    e->probing = 0;
    e->open_until = 0;
    hb_clear_window(e);
}

static int hb_open(hb_entry_t *e, const cp_breaker_cfg_t *cfg, uint64_t now_ms)
{
    e->state = HB_OPEN;
    e->probing = 0;
    e->open_until = now_ms + hb_cooldown_ms(cfg);
    e->opened_total++;
    return 1;
}

/* Counts one attempt in the bucket of <now_ms>. */
static void hb_count(hb_entry_t *e, const cp_breaker_cfg_t *cfg, uint64_t now_ms, int fail)
{
    uint64_t w = hb_width_ms(cfg), ep = now_ms / w;
    unsigned i = (unsigned)(ep % HB_BUCKETS);

    if (e->width_ms != w) { /* the window changed (a reload): start again */
        hb_clear_window(e);
        e->width_ms = w;
    }
    if (e->epoch[i] != ep) {
        e->epoch[i] = ep;
        e->ok[i] = e->fail[i] = 0;
    }
    if (fail && e->fail[i] < UINT32_MAX)
        e->fail[i]++;
    else if (!fail && e->ok[i] < UINT32_MAX)
        e->ok[i]++;
}

/* Whether the failure share over the window reaches cfg->rate, with at least cfg->min_requests attempts. */
static int hb_rate_hit(const hb_entry_t *e, const cp_breaker_cfg_t *cfg, uint64_t now_ms)
{
    uint64_t ep = now_ms / hb_width_ms(cfg), ok = 0, fail = 0;

    if (!(cfg->rate > 0))
        return 0;
    for (unsigned i = 0; i < HB_BUCKETS; i++)
        if (e->epoch[i] <= ep && e->epoch[i] + HB_BUCKETS > ep) {
            ok += e->ok[i];
            fail += e->fail[i];
        }
    if (ok + fail == 0 || ok + fail < (cfg->min_requests > 0 ? cfg->min_requests : 1))
        return 0;
    return (double)fail >= cfg->rate * (double)(ok + fail);
}

/* Breakers off: the pair's entry, if any, is closed (a reload turned them off: its candidate is free). */
static void hb_disable(cp_health_t *h, const char *provider, const char *model)
{
    hb_entry_t *e;

    if (h->nb == 0)
        return;
    e = hb_find(h, provider, model, h_hash(H_TAG_PAIR, provider, "", model));
    if (e != NULL && e->state != HB_CLOSED)
        hb_close(e);
}

enum cp_health_gate cp_health_gate(cp_health_t *h, const char *provider, const char *model,
                                   const cp_breaker_cfg_t *cfg, uint64_t now_ms, uint64_t *until_ms)
{
    hb_entry_t *e;

    if (until_ms != NULL)
        *until_ms = 0;
    if (h == NULL || h->nb == 0)
        return CP_HEALTH_CLOSED;
    provider = h_str(provider);
    model = h_str(model);
    if (!hb_enabled(cfg)) {
        hb_disable(h, provider, model);
        return CP_HEALTH_CLOSED;
    }
    e = hb_find(h, provider, model, h_hash(H_TAG_PAIR, provider, "", model));
    if (e == NULL)
        return CP_HEALTH_CLOSED;
    e->used = ++h->tick;
    if (e->state == HB_CLOSED)
        return CP_HEALTH_CLOSED;
    if ((e->state == HB_OPEN && now_ms >= e->open_until) ||
        (e->state == HB_HALF && (!e->probing || now_ms >= e->probe_ms + hb_cooldown_ms(cfg)))) {
        e->state = HB_HALF; /* this caller probes (again, when the last probe was lost) */
        e->probing = 1;
        e->probe_ms = now_ms;
        return CP_HEALTH_PROBE;
    }
    if (until_ms != NULL)
        *until_ms = e->state == HB_OPEN ? e->open_until : e->probe_ms + hb_cooldown_ms(cfg);
    return CP_HEALTH_OPEN;
}

/* The reported outcome of the half-open probe. */
static int hb_probe_done(hb_entry_t *e, enum cp_health_outcome outcome, const cp_breaker_cfg_t *cfg,
                         uint64_t now_ms)
{
    if (outcome == CP_HEALTH_OK) {
        hb_close(e);
        return 0;
    }
    if (outcome == CP_HEALTH_FAIL) {
        if (e->consecutive < UINT_MAX)
            e->consecutive++;
        return hb_open(e, cfg, now_ms);
    }
    e->probing = 0; /* NEUTRAL: the next caller probes */
    return 0;
}

int cp_health_report(cp_health_t *h, const char *provider, const char *model, int probe,
                     enum cp_health_outcome outcome, const cp_breaker_cfg_t *cfg, uint64_t now_ms)
{
    hb_entry_t *e;
    uint64_t id;

    if (h == NULL)
        return 0;
    provider = h_str(provider);
    model = h_str(model);
    if (!hb_enabled(cfg)) {
        hb_disable(h, provider, model);
        return 0;
    }
    id = h_hash(H_TAG_PAIR, provider, "", model);
    e = hb_find(h, provider, model, id);
    if (e == NULL && outcome == CP_HEALTH_NEUTRAL)
        return 0;
    if (e == NULL)
        e = hb_add(h, provider, model, id);
    e->used = ++h->tick;
    if (probe && e->state == HB_HALF)
        return hb_probe_done(e, outcome, cfg, now_ms);
    if (outcome == CP_HEALTH_NEUTRAL)
        return 0;
    hb_count(e, cfg, now_ms, outcome == CP_HEALTH_FAIL);
    if (outcome == CP_HEALTH_OK) {
        if (e->state == HB_CLOSED) /* a late OK does not close an open breaker, nor hide its count */
            e->consecutive = 0;
        return 0;
    }
    if (e->consecutive < UINT_MAX)
        e->consecutive++;
    if (e->state != HB_CLOSED) /* a late failure of an attempt started before it opened */
        return 0;
    if ((cfg->failures > 0 && e->consecutive >= cfg->failures) || hb_rate_hit(e, cfg, now_ms))
        return hb_open(e, cfg, now_ms);
    return 0;
}

/* ---- keys ---- */

static const hk_entry_t *hk_find(const cp_health_t *h, uint64_t prov, uint64_t fp)
{
    for (size_t i = 0; i < h->nk; i++)
        if (h->k[i].fp == fp && h->k[i].prov == prov)
            return &h->k[i];
    return NULL;
}

/* The state of key <i> of <p> (NULL: usable); fingerprints only when some key has a state. */
static const hk_entry_t *hk_of(const cp_health_t *h, const cp_provider_t *p, uint64_t prov, size_t i)
{
    if (h->nk == 0)
        return NULL;
    return hk_find(h, prov, cp_health_key_id(p->keys[i]));
}

static int hk_usable(const hk_entry_t *e, uint64_t now_ms)
{
    return e == NULL || (!e->out && e->cooling_until <= now_ms);
}

/* The entry of (<prov>, <fp>), made when missing: appended, or in place of the least recently used one
 * that is neither out nor cooling (as far as the latest clock seen tells), else the least recently used. */
static hk_entry_t *hk_get(cp_health_t *h, uint64_t prov, uint64_t fp)
{
    size_t i, idle = SIZE_MAX, any = 0;
    hk_entry_t *e = (hk_entry_t *)hk_find(h, prov, fp);

    if (e == NULL && h->nk < CP_HEALTH_KEYS_MAX) {
        e = &h->k[h->nk++];
    } else if (e == NULL) {
        for (i = 0; i < h->nk; i++) {
            if (h->k[i].used < h->k[any].used)
                any = i;
            if (hk_usable(&h->k[i], h->now_seen) && (idle == SIZE_MAX || h->k[i].used < h->k[idle].used))
                idle = i;
        }
        e = &h->k[idle != SIZE_MAX ? idle : any];
    }
    if (e->fp != fp || e->prov != prov) {
        memset(e, 0, sizeof(*e));
        e->prov = prov;
        e->fp = fp;
    }
    e->used = ++h->tick;
    return e;
}

/* The round-robin cursor of <prov>, made when missing (in place of the least recently used one). */
static hp_entry_t *hp_get(cp_health_t *h, uint64_t prov)
{
    size_t i, lru = 0;
    hp_entry_t *e = NULL;

    for (i = 0; i < h->np && e == NULL; i++)
        if (h->p[i].prov == prov)
            e = &h->p[i];
    if (e == NULL) {
        if (h->np < HP_PROVS_MAX) {
            lru = h->np++;
        } else {
            for (i = 1; i < h->np; i++)
                if (h->p[i].used < h->p[lru].used)
                    lru = i;
        }
        e = &h->p[lru];
        e->prov = prov;
        e->last = HP_NONE;
    }
    e->used = ++h->tick;
    return e;
}

/* The live slot of <session>, or NULL (none, another session's, or older than the TTL). */
static const hs_slot_t *hs_live(const cp_health_t *h, uint64_t session, uint64_t now_ms)
{
    const hs_slot_t *s;

    if (h->s == NULL || session == 0)
        return NULL;
    s = &h->s[session % CP_HEALTH_SESSIONS_MAX];
    if (s->sid != session || (now_ms > s->last_ms && now_ms - s->last_ms > CP_HEALTH_SESSION_TTL))
        return NULL;
    return s;
}

/* The index of <session>'s key in <p> when it has one there and it is usable, else -1. */
static int hk_session_key(const cp_health_t *h, const cp_provider_t *p, uint64_t prov, uint64_t session,
                          uint64_t now_ms)
{
    const hs_slot_t *s = hs_live(h, session, now_ms);
    size_t i;

    if (s == NULL || s->prov != prov || s->fp == 0)
        return -1;
    if (s->hint < p->nkeys && cp_health_key_id(p->keys[s->hint]) == s->fp)
        i = s->hint;
    else
        for (i = 0; i < p->nkeys && cp_health_key_id(p->keys[i]) != s->fp; i++)
            ;
    if (i >= p->nkeys || !hk_usable(hk_find(h, prov, s->fp), now_ms))
        return -1;
    return (int)i;
}

/* The first usable key after <last> (round robin), or -1 with the earliest a cooling one frees in *<free>. */
static int hk_next(const cp_health_t *h, const cp_provider_t *p, uint64_t prov, size_t last, uint64_t now_ms,
                   uint64_t *free_ms)
{
    size_t start = last == HP_NONE ? 0 : (last + 1) % p->nkeys;

    *free_ms = 0;
    for (size_t n = 0; n < p->nkeys; n++) {
        size_t i = (start + n) % p->nkeys;
        const hk_entry_t *e = hk_of(h, p, prov, i);

        if (hk_usable(e, now_ms))
            return (int)i;
        if (!e->out && (*free_ms == 0 || e->cooling_until < *free_ms))
            *free_ms = e->cooling_until;
    }
    return -1;
}

int cp_health_key_pick(cp_health_t *h, const cp_provider_t *p, uint64_t session, uint64_t now_ms,
                       uint64_t *free_at_ms)
{
    uint64_t prov, free_ms = 0;
    hp_entry_t *cur;
    int i;

    if (free_at_ms != NULL)
        *free_at_ms = 0;
    if (h == NULL || p == NULL || p->keys == NULL || p->nkeys == 0)
        return -1;
    if (now_ms > h->now_seen)
        h->now_seen = now_ms;
    prov = h_prov(p->name);
    cur = hp_get(h, prov);
    i = hk_session_key(h, p, prov, session, now_ms);
    if (i < 0)
        i = hk_next(h, p, prov, cur->last, now_ms, &free_ms);
    if (i < 0) {
        if (free_at_ms != NULL)
            *free_at_ms = free_ms;
        return -1;
    }
    cur->last = (size_t)i;
    return i;
}

void cp_health_key_cool(cp_health_t *h, const cp_provider_t *p, size_t i, uint64_t until_ms)
{
    hk_entry_t *e;

    if (h == NULL || p == NULL || p->keys == NULL || i >= p->nkeys)
        return;
    e = hk_get(h, h_prov(p->name), cp_health_key_id(p->keys[i]));
    if (until_ms > e->cooling_until)
        e->cooling_until = until_ms;
}

void cp_health_key_out(cp_health_t *h, const cp_provider_t *p, size_t i)
{
    if (h == NULL || p == NULL || p->keys == NULL || i >= p->nkeys)
        return;
    hk_get(h, h_prov(p->name), cp_health_key_id(p->keys[i]))->out = 1;
}

/* ---- sessions ---- */

uint64_t cp_health_session_candidate(cp_health_t *h, uint64_t session, uint64_t now_ms)
{
    const hs_slot_t *s = h != NULL ? hs_live(h, session, now_ms) : NULL;

    return s != NULL ? s->cand : 0;
}

void cp_health_session_put(cp_health_t *h, uint64_t session, const cp_provider_t *p, const char *model,
                           int key, uint64_t now_ms)
{
    hs_slot_t *s;

    if (h == NULL || p == NULL || session == 0)
        return;
    if (h->s == NULL)
        h->s = cp_xcalloc(CP_HEALTH_SESSIONS_MAX, sizeof(*h->s));
    s = &h->s[session % CP_HEALTH_SESSIONS_MAX];
    s->sid = session;
    s->cand = cp_health_candidate_id(p->name, model);
    s->prov = h_prov(p->name);
    s->fp = key >= 0 && p->keys != NULL && (size_t)key < p->nkeys ? cp_health_key_id(p->keys[key]) : 0;
    s->hint = s->fp != 0 ? (size_t)key : 0;
    s->last_ms = now_ms;
}

/* ---- what an admin sees ---- */

/* 0 usable, 1 cooling, 2 out (the values of ccproxy_upstream_key_state); *<cool_ms> while cooling. */
static int hk_state(const cp_health_t *h, const cp_provider_t *p, size_t i, uint64_t now_ms,
                    uint64_t *cool_ms)
{
    const hk_entry_t *e = hk_of(h, p, h_prov(p->name), i);

    *cool_ms = 0;
    if (e == NULL)
        return 0;
    if (e->out)
        return 2;
    if (e->cooling_until > now_ms) {
        *cool_ms = e->cooling_until - now_ms;
        return 1;
    }
    return 0;
}

/* A JSON string of <s> (valid UTF-8: it came from JSON, and copies are cut at a boundary); "" if not. */
static json_t *h_jstr(const char *s)
{
    json_t *j = json_string(h_str(s));

    return j != NULL ? j : json_string("");
}

static json_t *hb_json(const hb_entry_t *e, uint64_t now_ms)
{
    static const char *const names[] = {"closed", "open", "half-open"};
    json_t *o = json_object();

    json_object_set_new(o, "provider", h_jstr(e->provider));
    json_object_set_new(o, "model", h_jstr(e->model));
    json_object_set_new(o, "state", json_string(names[e->state]));
    json_object_set_new(o, "failures", json_integer((json_int_t)e->consecutive));
    if (e->state == HB_OPEN)
        json_object_set_new(o, "open_for_ms",
                            json_integer(e->open_until > now_ms ? (json_int_t)(e->open_until - now_ms) : 0));
    return o;
}

json_t *cp_health_json(const cp_health_t *h, const cp_provider_t *provs, size_t n, uint64_t now_ms)
{
    json_t *o = json_object(), *b = json_array(), *k = json_array();

    json_object_set_new(o, "breakers", b);
    json_object_set_new(o, "keys", k);
    if (h == NULL)
        return o;
    for (size_t i = 0; i < h->nb; i++)
        if (h->b[i].state != HB_CLOSED || h->b[i].consecutive > 0)
            json_array_append_new(b, hb_json(&h->b[i], now_ms));
    for (size_t j = 0; provs != NULL && j < n; j++)
        for (size_t i = 0; provs[j].keys != NULL && i < provs[j].nkeys; i++) {
            uint64_t cool_ms;
            int st = hk_state(h, &provs[j], i, now_ms, &cool_ms);
            json_t *e;

            if (st == 0)
                continue;
            e = json_object();
            json_object_set_new(e, "provider", h_jstr(provs[j].name));
            json_object_set_new(e, "key", json_integer((json_int_t)i + 1));
            json_object_set_new(e, "state", json_string(st == 2 ? "out" : "cooling"));
            if (st == 1)
                json_object_set_new(e, "cooling_for_ms", json_integer((json_int_t)cool_ms));
            json_array_append_new(k, e);
        }
    return o;
}

/* A label value with the text format's escapes: backslash, double quote, newline. */
static int h_label(cp_buf_t *b, const char *s)
{
    int rc = CP_OK;

    for (s = h_str(s); *s != '\0' && rc == CP_OK; s++)
        rc = *s == '\\'   ? CP_BUF_LIT(b, "\\\\")
             : *s == '"'  ? CP_BUF_LIT(b, "\\\"")
             : *s == '\n' ? CP_BUF_LIT(b, "\\n")
                          : cp_buf_addc(b, *s);
    return rc;
}

/* <name>{provider="..",<label>="<value>"} <v> */
static int h_sample(cp_buf_t *b, const char *name, const char *provider, const char *label, const char *value,
                    unsigned long long v)
{
    if (cp_buf_adds(b, name) != CP_OK || CP_BUF_LIT(b, "{provider=\"") != CP_OK ||
        h_label(b, provider) != CP_OK || cp_buf_addf(b, "\",%s=\"", label) != CP_OK ||
        h_label(b, value) != CP_OK || cp_buf_addf(b, "\"} %llu\n", v) != CP_OK)
        return CP_ERR;
    return CP_OK;
}

static int h_family(cp_buf_t *b, const char *name, const char *type, const char *help)
{
    return cp_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int cp_health_metrics(const cp_health_t *h, const cp_provider_t *provs, size_t n, uint64_t now_ms,
                      cp_buf_t *out)
{
    size_t nb = h != NULL ? h->nb : 0;

    if (h_family(out, "ccproxy_breaker_state", "gauge",
                 "Circuit breaker of a provider and model: 0 closed, 1 open, 2 half-open.") != CP_OK)
        return CP_ERR;
    for (size_t i = 0; i < nb; i++)
        if (h_sample(out, "ccproxy_breaker_state", h->b[i].provider, "model", h->b[i].model,
                     (unsigned long long)h->b[i].state) != CP_OK)
            return CP_ERR;
    if (h_family(out, "ccproxy_breaker_opened_total", "counter",
                 "Times the circuit breaker of a provider and model opened.") != CP_OK)
        return CP_ERR;
    for (size_t i = 0; i < nb; i++)
        if (h_sample(out, "ccproxy_breaker_opened_total", h->b[i].provider, "model", h->b[i].model,
                     (unsigned long long)h->b[i].opened_total) != CP_OK)
            return CP_ERR;
    if (h_family(out, "ccproxy_upstream_key_state", "gauge",
                 "Key of a provider's pool, by position: 0 usable, 1 cooling, 2 out (refused until a "
                 "reload).") != CP_OK)
        return CP_ERR;
    for (size_t j = 0; provs != NULL && j < n; j++)
        for (size_t i = 0; provs[j].keys != NULL && i < provs[j].nkeys; i++) {
            char pos[24];
            uint64_t cool_ms;
            int st = h != NULL ? hk_state(h, &provs[j], i, now_ms, &cool_ms) : 0;

            snprintf(pos, sizeof(pos), "%zu", i + 1);
            if (h_sample(out, "ccproxy_upstream_key_state", provs[j].name, "key", pos,
                         (unsigned long long)st) != CP_OK)
                return CP_ERR;
        }
    return CP_OK;
}
