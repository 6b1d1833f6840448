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

/* ----- purge ------------------------------------------------------------------ */

typedef struct purge_ctx {
    mk_network_event *evs;
    size_t n, cap;
} purge_ctx;

static void purge_cb(const mk_catalog_rec *rec, void *ctx) {
    purge_ctx *pc = ctx;
    if (pc->n == pc->cap) {
        size_t ncap = pc->cap ? pc->cap * 2 : 8;
        mk_network_event *p = realloc(pc->evs, ncap * sizeof *p);
        if (!p) return;
        pc->evs = p;
        pc->cap = ncap;
    }
    mk_network_event *ev = &pc->evs[pc->n];
    memset(ev, 0, sizeof *ev);
    ev->type = MK_EVENT_PURGED;
    ev->peer_id = rec->entry.peer_id;
    ev->version = rec->entry.version;
    ev->at_ms = mk_mono_ms();
    if (mk_peer_entry_copy(&ev->entry, &rec->entry) < 0) mk_peer_entry_init(&ev->entry);
    pc->n++;
}

void mk_disc_on_purge_timer(mk_transport_timer *t, void *ctx) {
    (void)t;
    mk_network *nw = ctx;
    purge_ctx pc = {0};
    pthread_mutex_lock(&nw->mu);
    if (nw->state == MK_DISC_RUNNING) {
        size_t n = mk_catalog_expire(&nw->cat, mk_wall_ms(), purge_cb, &pc);
        nw->met.purged += n;
        if (mk_catalog_live(&nw->cat) == 0) nw->kicked = false;
        for (size_t i = 0; i < pc.n; i++)
            mk_disc_queue_event_locked(nw, &pc.evs[i]);
    }
    pthread_mutex_unlock(&nw->mu);
    for (size_t i = 0; i < pc.n; i++) {
        char pid[9];
        mk_id_short(&pc.evs[i].peer_id, pid);
        mk_log(MK_LOG_INFO, MK_DISC_LOG, "purged %s (version %llu)", pid,
               (unsigned long long)pc.evs[i].version);
        mk_disc_run_hooks(nw, &pc.evs[i]);
        mk_network_event_free(&pc.evs[i]);
    }
    free(pc.evs);
}
