/*
 * discovery/peers.c — the catalog as the user sees it: snapshots and
 * lookups of live peers, and the purge timer that keeps it fresh.
 *
 * Queries copy entries out under nw->mu (callers own the copies); departed
 * entries (tombstones) and the local entry are never returned.
 *
 * Purge. A timer (purge_after / 8, set up by network.c) drops entries whose
 * version (their signing time) is older than purge_after and tombstones
 * older than tombstone_ms (catalog.c); the catalog refuses such entries on
 * arrival too (stale), so purged entries do not come back. This assumes
 * nodes' clocks agree to well within purge_after (docs/discovery.md). Each
 * purged peer yields a PURGED event with its last entry, queued in the
 * critical section that purged it, then shown to the hooks. When the
 * catalog becomes empty, the first-contact push is re-armed (gossip.c).
 * Peers evicted from a full catalog for a vouched newcomer (gossip.c) leave
 * the same way, with a PURGED event each.
 *
 * Vouching. mk_disc_judge is the catalog's judge: an entry is vouched while
 * the node's ticket validators (mk_network_config.ticket_validators, all
 * required) accept its tickets. mk_disc_peer_rank answers the transport's
 * connection limits from the catalog: 0 unknown, 1 known, 2 vouched.
 */
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "discovery/disc_internal.h"
#include "mosaik/clock.h"
#include "mosaik/log.h"

void mk_peer_entries_free(mk_peer_entry *entries, size_t n) {
    for (size_t i = 0; i < n; i++)
        mk_peer_entry_free(&entries[i]);
    free(entries);
}

int mk_network_peers(mk_network *nw, mk_peer_entry **out, size_t *n) {
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&nw->mu);
    size_t live = mk_catalog_live(&nw->cat), k = 0;
    mk_peer_entry *arr = calloc(live ? live : 1, sizeof *arr);
    int rc = arr ? 0 : MK_ENOMEM;
    for (size_t i = 0; rc == 0 && i < nw->cat.n; i++) {
        if (nw->cat.recs[i].entry.departed) continue;
        rc = mk_peer_entry_copy(&arr[k], &nw->cat.recs[i].entry);
        if (rc == 0) k++;
    }
    pthread_mutex_unlock(&nw->mu);
    if (rc < 0) {
        if (arr) mk_peer_entries_free(arr, k);
        return rc;
    }
    *out = arr;
    *n = k;
    return 0;
}

int mk_network_get(mk_network *nw, const mk_id *peer, mk_peer_entry *out) {
    mk_peer_entry_init(out);
    pthread_mutex_lock(&nw->mu);
    const mk_catalog_rec *r = mk_catalog_find(&nw->cat, peer);
    int rc = (!r || r->entry.departed) ? MK_ENOTFOUND : mk_peer_entry_copy(out, &r->entry);
    pthread_mutex_unlock(&nw->mu);
    return rc;
}

size_t mk_network_peer_count(mk_network *nw) {
    pthread_mutex_lock(&nw->mu);
    size_t n = mk_catalog_live(&nw->cat);
    pthread_mutex_unlock(&nw->mu);
    return n;
}

/* ----- peers that left the catalog (purged, evicted) -------------------- */

void mk_disc_gone_add(const mk_catalog_rec *rec, void *ctx) {
    mk_disc_gone *g = ctx;
    if (g->n == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 8;
        mk_network_event *p = realloc(g->evs, ncap * sizeof *p);
        if (!p) return;
        g->evs = p;
        g->cap = ncap;
    }
    mk_network_event *ev = &g->evs[g->n];
    memset(ev, 0, sizeof *ev);
    ev->type = MK_EVENT_PURGED;
    ev->peer_id = rec->entry.peer_id;
    ev->version = rec->entry.version;
    ev->at_ms = mk_mono_ms();
    if (mk_peer_entry_copy(&ev->entry, &rec->entry) < 0) mk_peer_entry_init(&ev->entry);
    g->n++;
}

void mk_disc_gone_queue_locked(mk_network *nw, const mk_disc_gone *g) {
    for (size_t i = 0; i < g->n; i++)
        mk_disc_queue_event_locked(nw, &g->evs[i]);
}

void mk_disc_gone_finish(mk_network *nw, mk_disc_gone *g, const char *what) {
    for (size_t i = 0; i < g->n; i++) {
        char pid[9];
        mk_id_short(&g->evs[i].peer_id, pid);
        mk_log(MK_LOG_INFO, MK_DISC_LOG, "%s %s (version %llu)", what, pid,
               (unsigned long long)g->evs[i].version);
        mk_disc_run_hooks(nw, &g->evs[i]);
        mk_network_event_free(&g->evs[i]);
    }
    free(g->evs);
    memset(g, 0, sizeof *g);
}

void mk_disc_on_purge_timer(mk_transport_timer *t, void *ctx) {
    (void)t;
    mk_network *nw = ctx;
    mk_disc_gone g = {0};
    pthread_mutex_lock(&nw->mu);
    if (nw->state == MK_DISC_RUNNING) {
        size_t n = mk_catalog_expire(&nw->cat, mk_wall_ms(), mk_disc_gone_add, &g);
        nw->met.purged += n;
        if (mk_catalog_live(&nw->cat) == 0) nw->kicked = false;
        mk_disc_gone_queue_locked(nw, &g);
    }
    pthread_mutex_unlock(&nw->mu);
    mk_disc_gone_finish(nw, &g, "purged");
}

/* ----- what vouches for a peer ------------------------------------------------ */

int64_t mk_disc_judge(const mk_peer_entry *e, int64_t now_s, void *ctx) {
    mk_network *nw = ctx;
    mk_peer_view view;
    mk_peer_entry_view(e, &view);
    mk_expiration exp = 0;
    if (mk_validator_set_check(&nw->vouch, &view, now_s, &exp, NULL) < 0) return 0;
    return exp;
}

int mk_disc_peer_rank(const mk_id *peer, void *ctx) {
    mk_network *nw = ctx;
    pthread_mutex_lock(&nw->mu);
    int r = mk_catalog_rank(&nw->cat, peer, (int64_t)(mk_wall_ms() / 1000));
    pthread_mutex_unlock(&nw->mu);
    return r;
}
