/*
 * discovery/catalog.c — the catalog of peer entries: acceptance rules,
 * vouching and eviction, tombstones, purge.
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
 *   7. a new identity beyond its sender's budget is vouched (the caller
 *      says, opts.no_new_unvouched)               else new_ids;
 *   8. it fits: a new peer needs fewer than max_peers records, and the byte
 *      total stays within max_bytes; a vouched entry makes room by
 *      evicting records that are not vouched     else catalog_full.
 * A refused entry changes nothing. mk_catalog_offer_ex runs the rules in
 * steps: decoding (rule 1), check_entry (2-5, the entry alone),
 * check_version (6), vouch and the budget (7), check_room (8, choosing the
 * victims), then store, which makes every allocation it needs before its
 * mutations (the evictions, then one replace or insert), so failing checks
 * and failed allocations return before the catalog is touched. An exact
 * copy of a held record's wire form (the duplicates gossip brings) skips
 * rule 1: those bytes decoded and verified when they were stored, so rules
 * 2-6 run on the held entry and refuse it as they would have (old_version,
 * tombstone, or stale once it aged), at the cost of a binary search and a
 * memcmp instead of a decode and an Ed25519 verification.
 *
 * Vouching. With a judge (the node's ticket validators), a record keeps
 * until when its tickets vouch for its peer. The judge is asked only when
 * an entry arrives with tickets its record did not hold (new peer, or
 * changed tickets); a refresh keeps the verdict, so heartbeats and floods
 * of refreshes cost no validation. A vouched entry that does not fit
 * evicts unvouched records: tombstones first, then live ones drawn at
 * random (under a flood most of them are the flood's), each live one
 * shown to opts.evicted; vouched records are never evicted, and an
 * unvouched entry evicts nothing, so a flood cannot push out a peer whose
 * tickets the node accepts. mk_catalog_rank tells the transport how much a
 * peer counts: 0 not held or departed, 1 held, 2 vouched.
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

/* Rule 6: newer than the held record (idx, if found). */
static int check_version(const mk_catalog *c, const mk_peer_entry *e, const char *pid, size_t idx,
                         bool found, mk_refusal *why, mk_error *err) {
    if (!found) return 0;
    const mk_peer_entry *held = &c->recs[idx].entry;
    if (e->version <= held->version && held->departed)
        return refuse(why, MK_REFUSE_TOMBSTONE,
                      mk_error_set(err, MK_EPOLICY,
                                   "entry of %s (version %llu) is not newer than its "
                                   "departure (version %llu)",
                                   pid, (unsigned long long)e->version,
                                   (unsigned long long)held->version));
    if (e->version <= held->version)
        return refuse(
            why, MK_REFUSE_OLD_VERSION,
            mk_error_set(err, MK_EPOLICY, "entry of %s: version %llu is not newer than %llu", pid,
                         (unsigned long long)e->version, (unsigned long long)held->version));
    return 0;
}

/* Until when the judge vouches for e: the held record's verdict when the
 * tickets did not change (a heartbeat costs no validation), else asked. */
static int64_t vouch(const mk_catalog *c, const mk_peer_entry *e, const mk_catalog_rec *held,
                     int64_t now_s) {
    if (!c->judge || e->departed || !e->n_tickets) return 0;
    if (held && !held->entry.departed && mk_peer_entry_same_tickets(&held->entry, e))
        return held->vouched_until;
    int64_t until = c->judge(e, now_s, c->judge_ctx);
    return until > now_s ? until : 0;
}

/* The offered entry on its way in (mk_catalog_offer_ex). */
typedef struct offer_st {
    mk_peer_entry e;
    size_t idx; /* its record, or where it goes */
    bool found;
    size_t len;
    int64_t vouched_until;
    size_t *victims; /* records to evict for it, ascending */
    size_t nv;
} offer_st;

static bool fits(const mk_catalog *c, const offer_st *o, size_t freed_recs, size_t freed_bytes) {
    size_t old_len = o->found ? c->recs[o->idx].wire_len : 0;
    return (o->found || c->n - freed_recs < c->lim.max_peers) &&
           c->bytes - old_len - freed_bytes + o->len <= c->lim.max_bytes;
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Choose the records a vouched entry evicts to fit: records that are not
 * vouched, tombstones first, then live ones at random. false when even all
 * of them would not make room (nothing is chosen then). */
static bool choose_victims(const mk_catalog *c, offer_st *o, int64_t now_s) {
    size_t *cand = malloc((c->n ? c->n : 1) * sizeof *cand);
    if (!cand) return false;
    size_t n_tomb = 0, n_cand = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < c->n; i++) {
            const mk_catalog_rec *r = &c->recs[i];
            if ((o->found && i == o->idx) || r->vouched_until > now_s) continue;
            if (r->entry.departed == (pass == 0)) cand[n_cand++] = i;
        }
    for (size_t i = 0; i < n_cand; i++)
        n_tomb += c->recs[cand[i]].entry.departed;
    size_t k = 0, freed = 0;
    while (k < n_cand && !fits(c, o, k, freed)) {
        /* Draw at random among what is left of the current group. */
        size_t group_end = k < n_tomb ? n_tomb : n_cand;
        size_t j = k + (size_t)mk_random_below(group_end - k);
        size_t t = cand[k];
        cand[k] = cand[j];
        cand[j] = t;
        freed += c->recs[cand[k]].wire_len;
        k++;
    }
    if (!fits(c, o, k, freed)) {
        free(cand);
        return false;
    }
    qsort(cand, k, sizeof *cand, cmp_size);
    o->victims = cand;
    o->nv = k;
    return true;
}

/* Rule 7: a new peer fits (max_peers records, max_bytes in all); a vouched
 * entry makes room by evicting records that are not vouched. */
static int check_room(const mk_catalog *c, offer_st *o, const char *pid, int64_t now_s,
                      mk_refusal *why, mk_error *err) {
    if (fits(c, o, 0, 0)) return 0;
    if (o->vouched_until > now_s && choose_victims(c, o, now_s)) return 0;
    return refuse(why, MK_REFUSE_CATALOG_FULL,
                  mk_error_set(err, MK_EBUSY,
                               "catalog full (%zu entries, %zu bytes): entry of %s refused%s", c->n,
                               c->bytes, pid,
                               o->vouched_until > now_s ? " (nothing unvouched to evict)" : ""));
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

/* Remove the chosen victims (each live one shown to opts->evicted first),
 * keeping the order; o->idx follows. */
static void evict(mk_catalog *c, offer_st *o, mk_catalog_offer_opts *opts) {
    size_t kept = 0, v = 0, before_idx = 0;
    for (size_t i = 0; i < c->n; i++) {
        mk_catalog_rec *r = &c->recs[i];
        if (v < o->nv && o->victims[v] == i) {
            v++;
            if (i < o->idx) before_idx++;
            if (r->entry.departed)
                c->n_tombstones--;
            else if (opts && opts->evicted)
                opts->evicted(r, opts->ctx);
            c->bytes -= r->wire_len;
            rec_free(r);
            continue;
        }
        if (kept != i) c->recs[kept] = *r;
        kept++;
    }
    c->n = kept;
    o->idx -= before_idx;
}

/* Accept o->e (moved in): every allocation first, then the mutations
 * (evictions, then the one replace or insert). On failure (out of memory)
 * nothing changed and o->e is still the caller's. */
static int store(mk_catalog *c, offer_st *o, const uint8_t *wire, mk_catalog_offer_opts *opts,
                 mk_offer_result *res, mk_peer_entry *out, mk_refusal *why, mk_error *err) {
    uint8_t *copy = malloc(o->len);
    mk_peer_entry out_copy;
    mk_peer_entry_init(&out_copy);
    if (!copy || (out && mk_peer_entry_copy(&out_copy, &o->e) < 0)) {
        free(copy);
        return refuse(why, MK_REFUSE_MALFORMED, mk_error_set(err, MK_ENOMEM, "out of memory"));
    }
    if (!o->found && c->n == c->cap) {
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
    memcpy(copy, wire, o->len);
    mk_offer_result r = offer_result(c, &o->e, o->idx, o->found);
    evict(c, o, opts);
    mk_peer_entry *e = &o->e;
    size_t idx = o->idx;
    if (!o->found) {
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
    c->recs[idx].wire_len = o->len;
    c->recs[idx].vouched_until = o->vouched_until;
    c->bytes += o->len;
    *res = r;
    if (out) *out = out_copy;
    return 0;
}

/* An exact copy of a held record (gossip brings each change from several
 * peers): judged on the held record, without decoding it again or checking
 * its signature. The same bytes decoded and verified when they were
 * stored, so every rule answers as it would for them: 2-5 on the held
 * entry, then 6 (not newer: old version, or tombstone). */
static bool is_held_copy(const mk_catalog *c, const uint8_t *wire, size_t len, size_t *idx) {
    mk_id peer;
    bool found;
    if (!mk_peer_entry_peek_id(wire, len, &peer)) return false;
    *idx = search(c, &peer, &found);
    return found && c->recs[*idx].wire_len == len && memcmp(c->recs[*idx].wire, wire, len) == 0;
}

static int refuse_held_copy(const mk_catalog *c, size_t idx, uint64_t now_ms, mk_refusal *why,
                            mk_error *err) {
    const mk_peer_entry *e = &c->recs[idx].entry;
    char pid[9];
    mk_id_short(&e->peer_id, pid);
    int rc = check_entry(c, e, pid, now_ms, why, err);
    if (rc == 0) rc = check_version(c, e, pid, idx, true, why, err);
    return rc;
}

int mk_catalog_offer_ex(mk_catalog *c, const uint8_t *wire, size_t len, uint64_t now_ms,
                        mk_catalog_offer_opts *opts, mk_offer_result *res, mk_peer_entry *out,
                        mk_refusal *why, mk_error *err) {
    size_t held;
    if (is_held_copy(c, wire, len, &held)) return refuse_held_copy(c, held, now_ms, why, err);
    offer_st o = {.len = len};
    int rc = mk_peer_entry_decode(wire, len, &o.e, err);
    if (rc < 0)
        return refuse(why,
                      rc == MK_ETOOBIG   ? MK_REFUSE_TOO_BIG
                      : rc == MK_EBADSIG ? MK_REFUSE_BAD_SIGNATURE
                                         : MK_REFUSE_MALFORMED,
                      rc);
    char pid[9];
    mk_id_short(&o.e.peer_id, pid);
    int64_t now_s = (int64_t)(now_ms / 1000);
    rc = check_entry(c, &o.e, pid, now_ms, why, err);
    if (rc == 0) {
        o.idx = search(c, &o.e.peer_id, &o.found);
        rc = check_version(c, &o.e, pid, o.idx, o.found, why, err);
    }
    if (rc == 0) {
        o.vouched_until = vouch(c, &o.e, o.found ? &c->recs[o.idx] : NULL, now_s);
        if (!o.found && opts && opts->no_new_unvouched && o.vouched_until <= now_s)
            rc = refuse(why, MK_REFUSE_NEW_IDS,
                        mk_error_set(err, MK_EBUSY,
                                     "entry of %s refused: its sender brought too many new "
                                     "identities",
                                     pid));
    }
    if (rc == 0) rc = check_room(c, &o, pid, now_s, why, err);
    size_t nv = o.nv;
    if (rc == 0) rc = store(c, &o, wire, opts, res, out, why, err);
    free(o.victims);
    if (rc < 0) {
        mk_peer_entry_free(&o.e); /* on success the catalog owns it */
        return rc;
    }
    if (opts) {
        opts->new_identity = !o.found;
        opts->vouched = o.vouched_until > now_s;
        opts->n_evicted = nv;
    }
    return 0;
}

int mk_catalog_offer(mk_catalog *c, const uint8_t *wire, size_t len, uint64_t now_ms,
                     mk_offer_result *res, mk_peer_entry *out, mk_refusal *why, mk_error *err) {
    return mk_catalog_offer_ex(c, wire, len, now_ms, NULL, res, out, why, err);
}

int mk_catalog_rank(const mk_catalog *c, const mk_id *peer, int64_t now_s) {
    const mk_catalog_rec *r = mk_catalog_find(c, peer);
    if (!r || r->entry.departed) return 0;
    return r->vouched_until > now_s ? 2 : 1;
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
