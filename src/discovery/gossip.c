/*
 * discovery/gossip.c — epidemic broadcast: announcing the local entry,
 * receiving announced entries and forwarding what is new, the heartbeat
 * and the first-contact push.
 *
 * Announce. Pushing an entry to k peers (k = fanout) sends [announce,
 * hops = 1, entry] to the peers the node has an open discovery connection
 * with, up to OPEN_SPREAD * k of them drawn at random, and when those are
 * fewer than k, to random live catalog peers with an address to make up k
 * (a partial Fisher-Yates draw under mu), which transport.c dials. So a
 * node gossips over the connections it holds, dialling only while it
 * holds fewer than k, rather than over a new TLS connection to each peer
 * it draws: its connections (and the handshakes) stay near k plus its
 * anti-entropy partners instead of growing towards one per peer, and as
 * a push reaches up to 2k peers, a change reaches n nodes in about
 * log_2k(n) hops with about 2k n messages. Every change of the local entry Every change of the
 * local entry is announced (local.c posts it), and a heartbeat timer (announce_ms,
 * +-25% jitter) re-signs the entry with a new version and announces it, so
 * peers see it refreshed well within purge_after.
 *
 * Receive and forward. An announced entry is offered to the catalog at the
 * wall-clock time (catalog.c decides; a refusal is counted and logged).
 * Each connection may bring max_new_per_conn new identities per
 * purge_after window (its record in transport.c counts them); beyond that
 * a new identity is refused (new_ids) unless its tickets vouch for it,
 * which also lets it evict unvouched entries from a full catalog (their
 * PURGED events follow its own). A
 * node that accepts an entry whose *content* is new (discovered, updated,
 * departed) forwards it, with hops + 1, the same way (to fanout, drawn as
 * above) to peers other than the sender and the entry's owner, unless hops
 * reached max_hops.
 * Duplicates are refused as not newer, which stops the spread. Pure
 * refreshes are not forwarded (that would cost an epidemic per node per
 * period): they spread by sync, as do entries learnt by sync (hops = 0).
 * The event of an accepted change is queued in the critical section that
 * changed the catalog, then the hooks see it (events.c).
 *
 * First contact. When the first live peer is discovered (or rediscovered
 * after the catalog emptied: peers.c clears `kicked`), the node pushes its
 * own entry 30 ms later, so the peers its bootstrap sync revealed learn
 * about it without waiting for the heartbeat.
 */
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "discovery/disc_internal.h"
#include "mosaik/clock.h"
#include "mosaik/log.h"

#define KICK_MS 30
#define OPEN_SPREAD 2 /* a push goes to up to OPEN_SPREAD * k connected peers */

uint64_t mk_disc_jitter(uint64_t ms) {
    if (ms < 4) return ms ? ms : 1;
    return ms - ms / 4 + mk_random_below(ms / 2 + 1);
}

/* True when id is ex1, ex2 or one of the n ids of ex. */
static bool excluded(const mk_id *id, const mk_id *ex1, const mk_id *ex2, const mk_id *ex,
                     size_t n) {
    if ((ex1 && mk_id_eq(id, ex1)) || (ex2 && mk_id_eq(id, ex2))) return true;
    for (size_t i = 0; i < n; i++)
        if (mk_id_eq(id, &ex[i])) return true;
    return false;
}

/* Under mu: up to k random live catalog peers with an address, none of
 * them excluded; *out (free it) holds them. */
static size_t pick_catalog_locked(mk_network *nw, size_t k, const mk_id *ex1, const mk_id *ex2,
                                  const mk_id *ex, size_t n_ex, mk_disc_target **out) {
    *out = NULL;
    mk_catalog *c = &nw->cat;
    size_t *idx = malloc((c->n ? c->n : 1) * sizeof *idx);
    if (!idx) return 0;
    size_t m = 0;
    for (size_t i = 0; i < c->n; i++) {
        const mk_peer_entry *e = &c->recs[i].entry;
        if (e->departed || !e->n_addrs || excluded(&e->peer_id, ex1, ex2, ex, n_ex)) continue;
        idx[m++] = i;
    }
    if (k > m) k = m;
    mk_disc_target *t = k ? calloc(k, sizeof *t) : NULL;
    if (!t) {
        free(idx);
        return 0;
    }
    for (size_t i = 0; i < k; i++) { /* partial Fisher-Yates */
        size_t j = i + (size_t)mk_random_below(m - i);
        size_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
        const mk_peer_entry *e = &c->recs[idx[i]].entry;
        t[i].peer = e->peer_id;
        memcpy(t[i].addr, e->addrs[mk_random_below(e->n_addrs)], sizeof t[i].addr);
    }
    free(idx);
    *out = t;
    return k;
}

size_t mk_disc_pick_locked(mk_network *nw, size_t k, const mk_id *ex1, const mk_id *ex2,
                           mk_disc_target **out) {
    return pick_catalog_locked(nw, k, ex1, ex2, NULL, 0, out);
}

size_t mk_disc_pick_open(mk_network *nw, size_t k, const mk_id *ex1, const mk_id *ex2, mk_id *out) {
    size_t n = 0, seen = 0;
    for (size_t i = 0; i < nw->n_conns; i++) {
        const mk_disc_conn *r = &nw->conns[i];
        if (!mk_transport_conn_is_open(r->conn) || excluded(&r->peer, ex1, ex2, out, n)) continue;
        /* Reservoir sampling over the distinct open peers. */
        seen++;
        if (n < k)
            out[n++] = r->peer;
        else if (mk_random_below(seen) < k)
            out[mk_random_below(k)] = r->peer;
    }
    return n;
}

static void send_frame(mk_network *nw, const mk_id *peer, const char *addr, const mk_buf *frame,
                       bool departure) {
    mk_disc_out *om = mk_disc_out_new(nw);
    if (!om || mk_disc_out_add(om, frame) < 0) {
        if (om) mk_disc_out_free(om);
        if (departure) mk_disc_depart_done(nw, 1);
        return;
    }
    om->departures = departure ? 1 : 0;
    mk_disc_send_to(nw, peer, addr, om);
}

void mk_disc_push_entry(mk_network *nw, const uint8_t *wire, size_t len, unsigned hops, size_t k,
                        const mk_id *ex1, const mk_id *ex2, bool departure) {
    mk_buf frame = MK_BUF_INIT;
    mk_id *open = k ? calloc(OPEN_SPREAD * k, sizeof *open) : NULL;
    if (!open || mk_disc_encode_announce(&frame, hops, wire, len) < 0) {
        free(open);
        mk_buf_free(&frame);
        return;
    }
    size_t n_open = mk_disc_pick_open(nw, OPEN_SPREAD * k, ex1, ex2, open);
    mk_disc_target *t = NULL;
    pthread_mutex_lock(&nw->mu);
    size_t n = n_open < k ? pick_catalog_locked(nw, k - n_open, ex1, ex2, open, n_open, &t) : 0;
    if (departure) nw->depart_pending += (int)(n_open + n);
    nw->met.announces_sent += n_open + n;
    if (hops > 1) nw->met.forwarded += n_open + n;
    pthread_mutex_unlock(&nw->mu);
    for (size_t i = 0; i < n_open; i++)
        send_frame(nw, &open[i], "", &frame, departure); /* open: no dial */
    for (size_t i = 0; i < n; i++)
        send_frame(nw, &t[i].peer, t[i].addr, &frame, departure);
    free(t);
    free(open);
    mk_buf_free(&frame);
}

static void announce_local(mk_network *nw) {
    pthread_mutex_lock(&nw->mu);
    if (nw->state != MK_DISC_RUNNING || !nw->local_wire.len) {
        pthread_mutex_unlock(&nw->mu);
        return;
    }
    mk_buf w = MK_BUF_INIT;
    int rc = mk_buf_append(&w, nw->local_wire.data, nw->local_wire.len);
    pthread_mutex_unlock(&nw->mu);
    if (rc == 0) mk_disc_push_entry(nw, w.data, w.len, 1, nw->fanout, NULL, NULL, false);
    mk_buf_free(&w);
}

void mk_disc_post_announce(mk_transport *net, void *ctx, int status) {
    (void)net;
    if (status == 0) announce_local(ctx);
}

void mk_disc_on_announce_timer(mk_transport_timer *t, void *ctx) {
    mk_network *nw = ctx;
    pthread_mutex_lock(&nw->mu);
    mk_peer_entry next;
    int rc = nw->state == MK_DISC_RUNNING ? mk_peer_entry_copy(&next, &nw->local) : MK_ESTATE;
    if (rc == 0) {
        rc = mk_disc_commit_locked(nw, &next, NULL);
        mk_peer_entry_free(&next);
    }
    pthread_mutex_unlock(&nw->mu);
    if (rc == 0) announce_local(nw);
    mk_transport_timer_start(t, mk_disc_jitter(nw->announce_ms), 0);
}

void mk_disc_on_kick_timer(mk_transport_timer *t, void *ctx) {
    (void)t;
    announce_local(ctx);
}

/* The new-identity budget of the connection an entry came on: true while
 * it may bring another identity that is not vouched (window: purge_after). */
static bool new_ids_left(mk_network *nw, mk_transport_conn *conn) {
    mk_disc_conn *r = conn ? mk_disc_conn_rec(nw, conn) : NULL;
    if (!r) return false;
    uint64_t now = mk_mono_ms();
    if (now - r->window_ms >= nw->purge_ms) {
        r->window_ms = now;
        r->new_ids = 0;
    }
    return r->new_ids < nw->max_new_per_conn;
}

/* Under mu: offer the entry; on acceptance fill ev, count, queue the event
 * (not for a refresh) and those of the peers evicted for it. Sets *first
 * when this made the catalog non-empty. */
static int offer_locked(mk_network *nw, const uint8_t *wire, size_t len, unsigned hops,
                        mk_catalog_offer_opts *opts, mk_network_event *ev, mk_offer_result *res,
                        bool *first, mk_refusal *why, mk_error *err) {
    size_t live_before = mk_catalog_live(&nw->cat);
    int rc =
        mk_catalog_offer_ex(&nw->cat, wire, len, mk_wall_ms(), opts, res, &ev->entry, why, err);
    if (rc < 0) return rc;
    nw->met.entries_accepted++;
    nw->met.evicted += opts->n_evicted;
    mk_disc_gone_queue_locked(nw, opts->ctx);
    ev->peer_id = ev->entry.peer_id;
    ev->version = ev->entry.version;
    ev->hops = hops;
    ev->at_ms = mk_mono_ms();
    if (*res == MK_OFFER_NEW) nw->met.discovered++, ev->type = MK_EVENT_DISCOVERED;
    if (*res == MK_OFFER_UPDATED) nw->met.updated++, ev->type = MK_EVENT_UPDATED;
    if (*res == MK_OFFER_DEPARTED) nw->met.departed++, ev->type = MK_EVENT_DEPARTED;
    if (*res != MK_OFFER_REFRESHED) mk_disc_queue_event_locked(nw, ev);
    *first = live_before == 0 && mk_catalog_live(&nw->cat) > 0;
    return 0;
}

void mk_disc_handle_entry(mk_network *nw, mk_transport_conn *conn, const mk_id *from,
                          const uint8_t *wire, size_t len, unsigned hops) {
    mk_error err;
    mk_error_clear(&err);
    mk_offer_result res = MK_OFFER_REFRESHED;
    mk_refusal why = MK_REFUSE_MALFORMED;
    mk_network_event ev;
    memset(&ev, 0, sizeof ev);
    bool first = false;
    mk_disc_gone gone = {0};
    mk_catalog_offer_opts opts = {
        .no_new_unvouched = !new_ids_left(nw, conn), .evicted = mk_disc_gone_add, .ctx = &gone};
    pthread_mutex_lock(&nw->mu);
    if (nw->state != MK_DISC_RUNNING) {
        pthread_mutex_unlock(&nw->mu);
        return;
    }
    int rc = offer_locked(nw, wire, len, hops, &opts, &ev, &res, &first, &why, &err);
    pthread_mutex_unlock(&nw->mu);
    if (rc < 0) {
        mk_disc_refusal(nw, why, from, err.msg);
        return;
    }
    mk_disc_conn *src = opts.new_identity && !opts.vouched ? mk_disc_conn_rec(nw, conn) : NULL;
    if (src) src->new_ids++;
    mk_disc_gone_finish(nw, &gone, "evicted for a vouched peer:");
    mk_id subject = ev.peer_id;
    /* Forward what is new (content); refreshes travel by sync. */
    if (hops > 0 && hops < nw->max_hops && res != MK_OFFER_REFRESHED)
        mk_disc_push_entry(nw, wire, len, hops + 1, nw->fanout, from, &subject, false);
    if (hops == 0 && res != MK_OFFER_REFRESHED) mk_disc_sync_found(nw);
    if (first && !nw->kicked) {
        nw->kicked = true;
        mk_transport_timer_start(nw->t_kick, KICK_MS, 0);
    }
    if (res != MK_OFFER_REFRESHED) {
        char pid[9];
        mk_id_short(&ev.peer_id, pid);
        mk_log(MK_LOG_INFO, MK_DISC_LOG, "%s %s version %llu (hops %u)",
               mk_network_event_name(ev.type), pid, (unsigned long long)ev.version, hops);
        mk_disc_run_hooks(nw, &ev);
    }
    mk_network_event_free(&ev);
}
