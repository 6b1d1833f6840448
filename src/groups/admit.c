/*
 * admit.c — admission: does a peer's signed entry make it a member, and
 * until when; the cache of those verdicts.
 *
 * Algorithm. A peer is admitted when its signed discovery entry (from the
 * catalog or the hook's event, never anything a member relays) lists the
 * group (served kind MK_SERVED_GROUP) and passes every member validator
 * now; the admission ends at the earliest expiration the validators give.
 * With writer validators the same entry is also judged against them: their
 * verdict and its end decide whether a writer claim counts (bond.c).
 * A departed entry is never admitted.
 *
 * Cache. Verdicts are kept per (peer, entry version): successes until they
 * expire, failures for a second (mk_mono_ms), so a TDX quote is not
 * verified again on every HELLO and tick. The table is bounded (max_vc,
 * default MK_GVCACHE_MAX): when full, the least recently used entry is
 * replaced, so a full table never refuses a new peer, it only costs a
 * re-validation; a departure or purge evicts the peer's entry.
 *
 * Refusals. A failure keeps the validators' reason (why) and whether the
 * entry lists the group at all: only a listed peer is told why it was
 * refused (bond.c sends REFUSE), and the side that would dial it (the
 * smaller id) dials once per entry version just to tell it, since the
 * refused peer, not admitted, is never dialed for a bond.
 *
 * Invariants: the cache is read and changed only with g->bmu held;
 * n_vc <= cap_vc, and n_vc grows only while below the limit; at most one
 * entry per peer.
 */
#include <stdlib.h>
#include <string.h>

#include "groups/groups_internal.h"
#include "mosaik/clock.h"

/* The cache slot for peer: its own, else a free one, else the least
 * recently used one (replaced: a full cache never refuses a peer, it only
 * costs a re-validation). NULL only when out of memory. bmu held. */
static mk_gvcache *vc_slot_locked(mk_group *g, const mk_id *peer) {
    size_t max = g->max_vc ? g->max_vc : MK_GVCACHE_MAX;
    mk_gvcache *lru = NULL;
    for (size_t i = 0; i < g->n_vc; i++) {
        if (mk_id_eq(&g->vc[i].peer, peer)) return &g->vc[i];
        if (!lru || g->vc[i].used < lru->used) lru = &g->vc[i];
    }
    if (g->n_vc >= max && lru) {
        memset(lru, 0, sizeof *lru);
        lru->peer = *peer;
        return lru;
    }
    if (g->n_vc == g->cap_vc) {
        size_t nc = g->cap_vc ? g->cap_vc * 2 : 8;
        if (nc > max) nc = max;
        mk_gvcache *nv = realloc(g->vc, nc * sizeof *nv);
        if (!nv) return NULL;
        g->vc = nv;
        g->cap_vc = nc;
    }
    mk_gvcache *c = &g->vc[g->n_vc++];
    memset(c, 0, sizeof *c);
    c->peer = *peer;
    return c;
}

/* Forget peer's cached verdict (departure, purge). bmu held. */
void mk_gadmit_evict_locked(mk_group *g, const mk_id *peer) {
    for (size_t i = 0; i < g->n_vc; i++)
        if (mk_id_eq(&g->vc[i].peer, peer)) {
            g->vc[i] = g->vc[--g->n_vc];
            return;
        }
}

/* Judge a signed entry for this group: serves it and passes every
 * validator now. bmu held. Cached per (peer, version): successes until they
 * expire, failures for a second; a departed entry is not cached. With
 * writer validators, *wrc (optional) gets their verdict and *wexp when the
 * writer admission ends (0 and the member expiration without them). */
int mk_gadmit_judge_locked(mk_group *g, const mk_peer_entry *e, mk_expiration *exp, int *wrc,
                           mk_expiration *wexp) {
    int64_t now = mk_now();
    if (e->departed) {
        mk_gadmit_evict_locked(g, &e->peer_id);
        return MK_EPOLICY;
    }
    mk_gvcache *c = NULL;
    for (size_t i = 0; i < g->n_vc && !c; i++)
        if (mk_id_eq(&g->vc[i].peer, &e->peer_id)) c = &g->vc[i];
    if (c && c->version == e->version) {
        bool hit = false;
        if (c->rc == 0 && now < c->expires) hit = true;
        if (c->rc < 0 && mk_mono_ms() < (uint64_t)c->expires) hit = true;
        if (hit) {
            c->used = ++g->vc_clock;
            if (c->rc == 0) *exp = c->expires;
            if (wrc) *wrc = c->wrc == 0 && now >= c->wexpires ? MK_EEXPIRED : c->wrc;
            if (wexp) *wexp = c->wexpires;
            return c->rc;
        }
    }
    if (!c) c = vc_slot_locked(g, &e->peer_id);
    if (!c) return MK_ENOMEM;
    int rc, w = 0;
    mk_expiration e2 = MK_EXPIRES_NEVER, we = MK_EXPIRES_NEVER;
    mk_error verr;
    mk_error_clear(&verr);
    c->listed = mk_peer_entry_serves(e, MK_SERVED_GROUP, &g->id);
    if (!c->listed) {
        rc = MK_EPOLICY;
        mk_error_set(&verr, rc, "the entry does not list the group");
    } else {
        mk_peer_view v;
        mk_peer_entry_view(e, &v);
        rc = 0;
        if (g->vs) {
            rc = mk_validator_set_check(g->vs, &v, now, &e2, &verr);
            if (rc == 0 && e2 <= now) rc = mk_error_set(&verr, MK_EEXPIRED, "admission expired");
            if (rc < 0 && !verr.msg[0]) mk_error_set(&verr, rc, "%s", mk_strerror(rc));
        }
        if (rc == 0 && g->wvs) {
            w = mk_validator_set_check(g->wvs, &v, now, &we, NULL);
            if (w == 0 && we <= now) w = MK_EEXPIRED;
        }
        if (we > e2) we = e2;
    }
    if (c->version != e->version) c->told = 0;
    c->version = e->version;
    c->rc = rc;
    size_t wl = rc < 0 ? strnlen(verr.msg, sizeof c->why - 1) : 0;
    memcpy(c->why, verr.msg, wl);
    c->why[wl] = 0;
    c->wrc = rc == 0 ? w : rc;
    c->wexpires = we;
    c->used = ++g->vc_clock;
    c->expires = rc == 0 ? e2 : (mk_expiration)(mk_mono_ms() + 1000);
    if (rc == 0) *exp = e2;
    if (wrc) *wrc = c->wrc;
    if (wexp) *wexp = we;
    return rc;
}

/* Judge the peer's entry as held by discovery. */
int mk_gadmit_judge_peer_locked(mk_group *g, const mk_id *peer, mk_expiration *exp, int *wrc,
                                mk_expiration *wexp) {
    mk_peer_entry e;
    int rc = mk_network_get(g->nw, peer, &e);
    if (rc == 0) rc = mk_gadmit_judge_locked(g, &e, exp, wrc, wexp);
    mk_peer_entry_free(&e);
    return rc;
}

const char *mk_gadmit_refusal_locked(mk_group *g, const mk_id *peer) {
    for (size_t i = 0; i < g->n_vc; i++)
        if (mk_id_eq(&g->vc[i].peer, peer))
            return g->vc[i].rc < 0 && g->vc[i].listed && g->vc[i].why[0] ? g->vc[i].why : NULL;
    return NULL;
}

bool mk_gadmit_tell_locked(mk_group *g, const mk_peer_entry *e) {
    if (mk_id_cmp(&g->self, &e->peer_id) >= 0) return false; /* it dials us, or its HELLO does */
    for (size_t i = 0; i < g->n_vc; i++) {
        mk_gvcache *c = &g->vc[i];
        if (!mk_id_eq(&c->peer, &e->peer_id)) continue;
        if (c->rc == 0 || !c->listed || c->version != e->version || c->told == e->version)
            return false;
        c->told = e->version;
        return true;
    }
    return false;
}

void mk_group_vcache_limit(mk_group *g, size_t cap) {
    pthread_mutex_lock(&g->bmu);
    g->max_vc = cap;
    pthread_mutex_unlock(&g->bmu);
}
