/*
 * discovery/catalog.c — the catalog of peer entries: acceptance rules,
 * tombstones, purge.
 *
 * The catalog is a plain data structure (the node serialises access with
 * its mutex); time is passed in, so the rules are testable with explicit
 * clocks. Records are kept in an array sorted by peer id (binary search;
 * insertion moves at most max_peers records), each holding the decoded
 * entry and its signed wire form exactly as received, which is what gossip
 * forwards and sync sends.
 *
 * An offered entry (wire form) is accepted only if, in this order:
 *   1. it decodes, is canonical and within every cap, and its signature
 *      verifies (entry.c)                         else malformed / too_big /
 *                                                      bad_signature;
 *   2. its network id is ours                     else wrong_network;
 *   3. it is not about us                         else self;
 *   4. its version (the signing time, ms) and started_at are not beyond
 *      now + max_drift                            else future;
 *   5. its version is within purge_after of now   else stale — the same
 *      predicate that purges, so an entry that was purged (or would be) is
 *      never accepted back from a lagging peer;
 *   6. its version is newer than the held record's; if the held record is a
 *      departure                                  else tombstone, otherwise
 *                                                      old_version (replay);
 *   7. a new peer fits: fewer than max_peers records and the byte total
 *      stays within max_bytes                     else catalog_full.
 * A refused entry changes nothing. mk_catalog_offer runs the rules in
 * steps: decoding (rule 1), check_entry (2-5, the entry alone),
 * check_held (6-7, against the held record and the limits), then store,
 * which makes every allocation it needs before its one mutation (replace
 * or insert), so failing checks and failed allocations return before the
 * catalog is touched.
 *
 * Departures: a signed departure replaces the entry and stays as a
 * tombstone until its version is older than tombstone_ms (>= purge_after).
 * While it is held, rule 6 refuses the departed incarnation's older
 * entries; after it is dropped, rule 5 does (they are older still). A
 * restarted node signs with the current time, which is newer than its
 * tombstone, so it comes back.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/disc_internal.h"

void mk_catalog_init(mk_catalog *c, const mk_id *network_id, const mk_id *self,
                     const mk_catalog_limits *lim) {
    memset(c, 0, sizeof *c);
    c->network_id = *network_id;
    c->self = *self;
    c->lim = *lim;
    if (c->lim.tombstone_ms < c->lim.purge_after_ms) c->lim.tombstone_ms = c->lim.purge_after_ms;
}

static void rec_free(mk_catalog_rec *r) {
    mk_peer_entry_free(&r->entry);
    free(r->wire);
    r->wire = NULL;
    r->wire_len = 0;
}

void mk_catalog_free(mk_catalog *c) {
    for (size_t i = 0; i < c->n; i++)
        rec_free(&c->recs[i]);
    free(c->recs);
    memset(c, 0, sizeof *c);
}

size_t mk_disc_id_search(const void *base, size_t n, size_t stride, const mk_id *key, bool *found) {
    const uint8_t *p = base;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = mk_id_cmp((const mk_id *)(const void *)(p + mid * stride), key);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Index of peer, or of where it would be inserted (*found false). The
 * entry, and so its peer id, is the first member of a record. */
_Static_assert(offsetof(mk_catalog_rec, entry.peer_id) == 0, "the peer id leads a record");
static size_t search(const mk_catalog *c, const mk_id *peer, bool *found) {
    return mk_disc_id_search(c->recs, c->n, sizeof *c->recs, peer, found);
}

const mk_catalog_rec *mk_catalog_find(const mk_catalog *c, const mk_id *peer) {
    bool found;
    size_t i = search(c, peer, &found);
    return found ? &c->recs[i] : NULL;
}

size_t mk_catalog_live(const mk_catalog *c) {
    return c->n - c->n_tombstones;
}

static int refuse(mk_refusal *why, mk_refusal r, int code) {
    *why = r;
    return code;
}

/* Rules 2-5: about the entry alone (network, self, time). */
static int check_entry(const mk_catalog *c, const mk_peer_entry *e, const char *pid,
                       uint64_t now_ms, mk_refusal *why, mk_error *err) {
    if (!mk_id_eq(&e->network_id, &c->network_id))
        return refuse(why, MK_REFUSE_WRONG_NETWORK,
                      mk_error_set(err, MK_EMISMATCH, "entry of %s is for another network", pid));
    if (mk_id_eq(&e->peer_id, &c->self))
        return refuse(why, MK_REFUSE_SELF,
                      mk_error_set(err, MK_EPOLICY, "entry carries our own peer id (version %llu)",
                                   (unsigned long long)e->version));
    uint64_t horizon = now_ms + c->lim.max_drift_ms;
    if (e->version > horizon || (e->started_at > 0 && (uint64_t)e->started_at > horizon / 1000))
        return refuse(why, MK_REFUSE_FUTURE,
                      mk_error_set(err, MK_ENOTYET,
                                   "entry of %s is from the future (version %llu ms, started_at "
                                   "%lld s, now %llu ms, max drift %llu ms)",
                                   pid, (unsigned long long)e->version, (long long)e->started_at,
                                   (unsigned long long)now_ms,
                                   (unsigned long long)c->lim.max_drift_ms));
    if (e->version + c->lim.purge_after_ms < now_ms)
        return refuse(why, MK_REFUSE_STALE,
                      mk_error_set(err, MK_EEXPIRED,
                                   "entry of %s is stale (version %llu ms is older than %llu ms)",
                                   pid, (unsigned long long)e->version,
                                   (unsigned long long)c->lim.purge_after_ms));
    return 0;
}

/* Rules 6-7: against what is held (record idx if found) and the limits. */
static int check_held(const mk_catalog *c, const mk_peer_entry *e, const char *pid, size_t idx,
                      bool found, size_t len, mk_refusal *why, mk_error *err) {
    if (found) {
        const mk_peer_entry *held = &c->recs[idx].entry;
        if (e->version <= held->version && held->departed)
            return refuse(why, MK_REFUSE_TOMBSTONE,
                          mk_error_set(err, MK_EPOLICY,
                                       "entry of %s (version %llu) is not newer than its "
                                       "departure (version %llu)",
                                       pid, (unsigned long long)e->version,
                                       (unsigned long long)held->version));
        if (e->version <= held->version)
            return refuse(why, MK_REFUSE_OLD_VERSION,
                          mk_error_set(err, MK_EPOLICY,
                                       "entry of %s: version %llu is not newer than %llu", pid,
                                       (unsigned long long)e->version,
                                       (unsigned long long)held->version));
    }
    size_t old_len = found ? c->recs[idx].wire_len : 0;
    if ((!found && c->n >= c->lim.max_peers) || c->bytes - old_len + len > c->lim.max_bytes)
        return refuse(why, MK_REFUSE_CATALOG_FULL,
                      mk_error_set(err, MK_EBUSY,
                                   "catalog full (%zu entries, %zu bytes): entry of %s refused",
                                   c->n, c->bytes, pid));
    return 0;
}

/* What accepting e does to the record at idx (found or not). */
static mk_offer_result offer_result(const mk_catalog *c, const mk_peer_entry *e, size_t idx,
                                    bool found) {
    if (!found) return e->departed ? MK_OFFER_DEPARTED : MK_OFFER_NEW;
    const mk_catalog_rec *old = &c->recs[idx];
    if (e->departed) return old->entry.departed ? MK_OFFER_REFRESHED : MK_OFFER_DEPARTED;
    if (old->entry.departed) return MK_OFFER_NEW; /* a restart after a departure */
    return mk_peer_entry_same_content(&old->entry, e) ? MK_OFFER_REFRESHED : MK_OFFER_UPDATED;
}

/* Accept *e (moved in) at idx: every allocation first, then the one
 * mutation. On failure (out of memory) nothing changed and e is still the
 * caller's. */
static int store(mk_catalog *c, mk_peer_entry *e, const uint8_t *wire, size_t len, size_t idx,
                 bool found, mk_offer_result *res, mk_peer_entry *out, mk_refusal *why,
                 mk_error *err) {
    uint8_t *copy = malloc(len);
    mk_peer_entry out_copy;
    mk_peer_entry_init(&out_copy);
    if (!copy || (out && mk_peer_entry_copy(&out_copy, e) < 0)) {
        free(copy);
        return refuse(why, MK_REFUSE_MALFORMED, mk_error_set(err, MK_ENOMEM, "out of memory"));
    }
    if (!found && c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;
        mk_catalog_rec *p = realloc(c->recs, ncap * sizeof *p);
        if (!p) {
            free(copy);
            mk_peer_entry_free(&out_copy);
            return refuse(why, MK_REFUSE_MALFORMED, mk_error_set(err, MK_ENOMEM, "out of memory"));
        }
        c->recs = p;
        c->cap = ncap;
    }
    memcpy(copy, wire, len);
    mk_offer_result r = offer_result(c, e, idx, found);
    if (!found) {
        memmove(&c->recs[idx + 1], &c->recs[idx], (c->n - idx) * sizeof *c->recs);
        c->n++;
        if (e->departed) c->n_tombstones++;
    } else {
        mk_catalog_rec *old = &c->recs[idx];
        if (old->entry.departed) c->n_tombstones--;
        if (e->departed) c->n_tombstones++;
        c->bytes -= old->wire_len;
        rec_free(old);
    }
    c->recs[idx].entry = *e;
    c->recs[idx].wire = copy;
    c->recs[idx].wire_len = len;
    c->bytes += len;
    *res = r;
    if (out) *out = out_copy;
    return 0;
}

int mk_catalog_offer(mk_catalog *c, const uint8_t *wire, size_t len, uint64_t now_ms,
                     mk_offer_result *res, mk_peer_entry *out, mk_refusal *why, mk_error *err) {
    mk_peer_entry e;
    int rc = mk_peer_entry_decode(wire, len, &e, err);
    if (rc < 0)
        return refuse(why,
                      rc == MK_ETOOBIG   ? MK_REFUSE_TOO_BIG
                      : rc == MK_EBADSIG ? MK_REFUSE_BAD_SIGNATURE
                                         : MK_REFUSE_MALFORMED,
                      rc);
    char pid[9];
    mk_id_short(&e.peer_id, pid);
    bool found = false;
    size_t idx = 0;
    rc = check_entry(c, &e, pid, now_ms, why, err);
    if (rc == 0) {
        idx = search(c, &e.peer_id, &found);
        rc = check_held(c, &e, pid, idx, found, len, why, err);
    }
    if (rc == 0) rc = store(c, &e, wire, len, idx, found, res, out, why, err);
    if (rc < 0) mk_peer_entry_free(&e); /* on success the catalog owns it */
    return rc;
}

size_t mk_catalog_expire(mk_catalog *c, uint64_t now_ms,
                         void (*cb)(const mk_catalog_rec *rec, void *ctx), void *ctx) {
    size_t kept = 0, purged = 0;
    for (size_t i = 0; i < c->n; i++) {
        mk_catalog_rec *r = &c->recs[i];
        uint64_t ttl = r->entry.departed ? c->lim.tombstone_ms : c->lim.purge_after_ms;
        if (r->entry.version + ttl < now_ms) {
            if (r->entry.departed) {
                c->n_tombstones--;
            } else {
                purged++;
                if (cb) cb(r, ctx);
            }
            c->bytes -= r->wire_len;
            rec_free(r);
        } else {
            if (kept != i) c->recs[kept] = *r;
            kept++;
        }
    }
    c->n = kept;
    return purged;
}
