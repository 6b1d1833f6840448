/*
 * discovery/sync.c — anti-entropy: catalog digests, the answers to them,
 * and the per-peer rate limit that bounds what a peer can make us send.
 *
 * Rounds. At start with each bootstrap peer, then every sync_ms (+-25%
 * jitter) with one random live peer (a bootstrap peer when none is known),
 * a node sends [digest, want_reply = 1, its (peer, version) pairs: every
 * catalog record, tombstones included, and its own entry]. The receiver
 * sends back every entry the digest lacks or holds older (as announces with
 * hops 0, at most SYNC_MAX_BYTES per answer: the rest follows in later
 * rounds, the next digest showing it is still missing) and, first, its own
 * digest with want_reply = 0, which the first node answers the same way.
 * Answers go back on the connection the digest came in on.
 *
 * Timing. While rounds keep finding something (an entry a sync brought had
 * new content: discovered, updated, departed), the next round comes early,
 * after min_sync_gap_ms (+ up to half of it, so the partner's rate limit
 * admits it), not sync_ms: a node that joins, or a network starting cold,
 * converges in a few short rounds, and a quiet network keeps the sync_ms
 * period (a round that finds nothing new restores it). An early round
 * goes to a peer the node already has a discovery connection with (no new
 * TLS handshake; such peers just exchanged entries), a regular round to a
 * random live peer as ever, which keeps anti-entropy mixing across the
 * whole catalog.
 *
 * Rate limit. A table of RATE_SLOTS slots, RATE_WAYS-way set-associative on
 * an FNV-1a hash of the full peer id; each slot is owned by one full id.
 *   - A digest request (want_reply) from a peer is answered at most once
 *     per min_sync_gap_ms; otherwise it is refused as rate limited.
 *   - A reply digest is processed only from a peer we asked within the last
 *     REPLY_WAIT_MS (we mark the slot when asking), once.
 *   - A slot changes owner only once its owner's gap and reply wait have
 *     passed (stale), the stalest first, so a colliding id cannot reset
 *     another's limit: with no reusable slot in the bucket a request is
 *     refused, and we do not ask a peer whose reply we could not accept.
 * The table is bounded whatever the number of peers; it is loop only.
 */
#include <stdlib.h>
#include <string.h>

#include "discovery/disc_internal.h"
#include "mosaik/clock.h"

#define RATE_SLOTS MK_DISC_RATE_SLOTS
#define RATE_WAYS MK_DISC_RATE_WAYS
#define REPLY_WAIT_MS 10000
#define SYNC_MAX_BYTES ((size_t)2 << 20) /* entries per sync answer (send queue: 4 MiB) */

typedef mk_disc_rate_slot rate_slot;

/* ----- the rate table ----------------------------------------------------------- */

static rate_slot *rate_bucket(mk_network *nw, const mk_id *peer) {
    uint32_t h = 2166136261u; /* FNV-1a over the whole id */
    for (size_t i = 0; i < sizeof peer->b; i++)
        h = (h ^ peer->b[i]) * 16777619u;
    return &nw->rate[(h % (RATE_SLOTS / RATE_WAYS)) * RATE_WAYS];
}

/* The slot owned by peer, or NULL. */
static rate_slot *rate_find(mk_network *nw, const mk_id *peer) {
    rate_slot *b = rate_bucket(nw, peer);
    for (int i = 0; i < RATE_WAYS; i++)
        if (mk_id_eq(&b[i].peer, peer)) return &b[i];
    return NULL;
}

/* peer's slot, taking over (reset) a free or stale slot of its bucket if it
 * has none: stale = its owner's request gap and reply wait have passed.
 * NULL when every slot of the bucket is in use by other peers. */
static rate_slot *rate_claim(mk_network *nw, const mk_id *peer, uint64_t now) {
    rate_slot *s = rate_find(nw, peer);
    if (s) return s;
    rate_slot *b = rate_bucket(nw, peer), *best = NULL;
    for (int i = 0; i < RATE_WAYS; i++) {
        rate_slot *x = &b[i];
        bool stale = (!x->last_request_ms || now - x->last_request_ms >= nw->min_sync_gap_ms) &&
                     x->await_until_ms < now;
        if (stale && (!best || x->last_request_ms < best->last_request_ms)) best = x;
    }
    if (!best) return NULL;
    memset(best, 0, sizeof *best);
    best->peer = *peer;
    return best;
}

/* May we process this digest from `from`? Refuses (counted) otherwise. */
static bool rate_admit(mk_network *nw, const mk_id *from, bool want_reply) {
    uint64_t now = mk_mono_ms();
    if (want_reply) {
        rate_slot *s = rate_claim(nw, from, now);
        if (!s || (s->last_request_ms && now - s->last_request_ms < nw->min_sync_gap_ms)) {
            mk_disc_refusal(nw, MK_REFUSE_RATE_LIMITED, from, "sync requested again too soon");
            return false;
        }
        s->last_request_ms = now;
        return true;
    }
    rate_slot *s = rate_find(nw, from);
    if (!s || s->await_until_ms < now) {
        mk_disc_refusal(nw, MK_REFUSE_RATE_LIMITED, from, "digest reply we did not ask for");
        return false;
    }
    s->await_until_ms = 0;
    return true;
}

/* ----- asking ---------------------------------------------------------------------- */

/* Under mu: our digest (catalog records and the local entry). */
static int digest_locked(mk_network *nw, bool want_reply, mk_buf *frame) {
    size_t n = nw->cat.n + 1;
    mk_digest_item *items = calloc(n, sizeof *items);
    if (!items) return MK_ENOMEM;
    for (size_t i = 0; i < nw->cat.n; i++) {
        items[i].peer = nw->cat.recs[i].entry.peer_id;
        items[i].version = nw->cat.recs[i].entry.version;
    }
    items[n - 1].peer = nw->self;
    items[n - 1].version = nw->local.version;
    int rc = mk_disc_encode_digest(frame, want_reply, items, n);
    free(items);
    return rc;
}

/* Loop only: ask peer for a sync. */
static void sync_with(mk_network *nw, const mk_id *peer, const char *addr) {
    mk_disc_out *om = mk_disc_out_new(nw);
    if (!om) return;
    mk_buf frame = MK_BUF_INIT;
    pthread_mutex_lock(&nw->mu);
    int rc = digest_locked(nw, true, &frame);
    if (rc == 0) nw->met.syncs_started++;
    pthread_mutex_unlock(&nw->mu);
    if (rc == 0) rc = mk_disc_out_add(om, &frame);
    mk_buf_free(&frame);
    if (rc < 0) {
        mk_disc_out_free(om);
        return;
    }
    uint64_t now = mk_mono_ms();
    rate_slot *s = rate_claim(nw, peer, now);
    if (!s) {
        /* Its reply could not be accepted: skip this round. */
        mk_disc_out_free(om);
        return;
    }
    s->await_until_ms = now + REPLY_WAIT_MS;
    mk_disc_send_to(nw, peer, addr, om);
}

/* The early round's delay: past the peer's gap, so it is answered. */
static uint64_t early_delay(const mk_network *nw) {
    return nw->min_sync_gap_ms + mk_random_below(nw->min_sync_gap_ms / 2 + 1);
}

void mk_disc_sync_found(mk_network *nw) {
    if (nw->sync_soon || !nw->t_sync) return;
    uint64_t d = early_delay(nw);
    if (d >= nw->sync_ms) return;
    nw->sync_soon = true;
    mk_transport_timer_start(nw->t_sync, d, 0);
}

void mk_disc_on_sync_timer(mk_transport_timer *t, void *ctx) {
    mk_network *nw = ctx;
    bool early = nw->sync_soon;
    nw->sync_soon = false;
    mk_id peer;
    if (early && nw->state == MK_DISC_RUNNING && mk_disc_pick_open(nw, 1, NULL, NULL, &peer) == 1) {
        sync_with(nw, &peer, ""); /* connected: no dial */
        mk_transport_timer_start(t, mk_disc_jitter(nw->sync_ms), 0);
        return;
    }
    mk_disc_target *tg;
    pthread_mutex_lock(&nw->mu);
    size_t n = nw->state == MK_DISC_RUNNING ? mk_disc_pick_locked(nw, 1, NULL, NULL, &tg) : 0;
    pthread_mutex_unlock(&nw->mu);
    if (n) {
        sync_with(nw, &tg[0].peer, tg[0].addr);
        free(tg);
    } else if (nw->n_boot) {
        const mk_disc_boot *b = &nw->boot[mk_random_below(nw->n_boot)];
        sync_with(nw, &b->peer, b->addr);
    }
    mk_transport_timer_start(t, mk_disc_jitter(nw->sync_ms), 0);
}

void mk_disc_post_bootstrap(mk_transport *net, void *ctx, int status) {
    (void)net;
    mk_network *nw = ctx;
    if (status < 0) return;
    for (size_t i = 0; i < nw->n_boot; i++)
        sync_with(nw, &nw->boot[i].peer, nw->boot[i].addr);
}

/* ----- answering ------------------------------------------------------------------- */

/* Append an announce (hops 0) of one entry's wire form to frames. */
static int add_entry(mk_buf *frames, mk_buf *f, const uint8_t *wire, size_t len) {
    mk_buf_reset(f);
    MK_TRY(mk_disc_encode_announce(f, 0, wire, len));
    return mk_disc_frames_add(frames, f);
}

/* Under mu: the frames answering digest m from `from`, counted. */
static void answer_locked(mk_network *nw, const mk_id *from, const mk_disc_msg *m, mk_buf *frames) {
    mk_buf f = MK_BUF_INIT;
    size_t n_entries = 0;
    if (m->want_reply) {
        if (digest_locked(nw, false, &f) == 0) mk_disc_frames_add(frames, &f);
        nw->met.syncs_answered++;
    }
    uint64_t v;
    if (nw->local_wire.len && (!mk_digest_lookup(m, &nw->self, &v) || v < nw->local.version) &&
        add_entry(frames, &f, nw->local_wire.data, nw->local_wire.len) == 0)
        n_entries++;
    for (size_t i = 0; i < nw->cat.n && frames->len < SYNC_MAX_BYTES; i++) {
        const mk_catalog_rec *r = &nw->cat.recs[i];
        if (mk_id_eq(&r->entry.peer_id, from)) continue;
        if (mk_digest_lookup(m, &r->entry.peer_id, &v) && v >= r->entry.version) continue;
        if (add_entry(frames, &f, r->wire, r->wire_len) < 0) break;
        n_entries++;
    }
    nw->met.sync_entries_sent += n_entries;
    mk_buf_free(&f);
}

void mk_disc_handle_digest(mk_network *nw, mk_transport_conn *conn, const mk_id *from,
                           const mk_disc_msg *m) {
    if (!rate_admit(nw, from, m->want_reply)) return;
    /* Frames for what the peer lacks, collected under mu, sent after: our
     * digest first (if asked), then entries up to SYNC_MAX_BYTES. */
    mk_buf frames;
    mk_buf_init(&frames, SYNC_MAX_BYTES + MK_DISC_MAX_FRAME);
    pthread_mutex_lock(&nw->mu);
    answer_locked(nw, from, m, &frames);
    pthread_mutex_unlock(&nw->mu);
    mk_disc_out_send(&frames, conn); /* on the connection the digest came in on */
    mk_buf_free(&frames);
}
