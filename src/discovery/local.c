/*
 * discovery/local.c — changes of the local entry: tickets, tags, served
 * ids, and the commit every change (and the heartbeat, and the departure)
 * goes through.
 *
 * A change is applied to a *copy* of the local entry, which then gets
 * version = max(version + 1, wall clock ms), is signed and encoded; only
 * when all of that succeeded does it replace the entry and its wire form
 * (a failed change leaves both untouched). All of it happens under nw->mu,
 * so readers see either the old or the new entry. Then an announce is
 * posted to the loop (gossip.c). The version follows the wall clock, so a
 * restarted node's first entry is newer than anything it signed before
 * (its departure included) without storing a counter.
 */
#include "core/timeutil.h"
#include "discovery/disc_internal.h"

int mk_disc_commit_locked(mk_network *nw, mk_peer_entry *next, mk_error *err) {
    uint64_t now = mk_wall_ms();
    next->version = nw->local.version + 1 > now ? nw->local.version + 1 : now;
    mk_buf w;
    mk_buf_init(&w, MK_ENTRY_MAX_BYTES);
    int rc = mk_peer_entry_sign(next, &nw->key, err);
    if (rc == 0) rc = mk_peer_entry_encode(next, &w, err);
    if (rc < 0) {
        mk_buf_free(&w);
        return rc;
    }
    mk_peer_entry_free(&nw->local);
    nw->local = *next;
    mk_peer_entry_init(next);
    mk_buf_free(&nw->local_wire);
    nw->local_wire = w;
    return 0;
}

typedef int (*change_fn)(mk_peer_entry *e, const void *a, const void *b, mk_error *err);

/* Apply fn to a copy of the local entry; commit and announce if it returns
 * 0, leave everything unchanged otherwise. */
static int change(mk_network *nw, change_fn fn, const void *a, const void *b, mk_error *err) {
    pthread_mutex_lock(&nw->mu);
    if (nw->state != MK_DISC_RUNNING) {
        pthread_mutex_unlock(&nw->mu);
        return mk_error_set(err, MK_ESTATE, "network: closed");
    }
    mk_peer_entry next;
    int rc = mk_peer_entry_copy(&next, &nw->local);
    if (rc < 0) rc = mk_error_set(err, rc, "out of memory");
    if (rc == 0) rc = fn(&next, a, b, err);
    if (rc == 0) rc = mk_disc_commit_locked(nw, &next, err);
    mk_peer_entry_free(&next);
    pthread_mutex_unlock(&nw->mu);
    if (rc == 0) mk_transport_post(nw->net, mk_disc_post_announce, nw);
    return rc;
}

static int ch_add_ticket(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    (void)b;
    return mk_peer_entry_add_ticket(e, a, err);
}

static int ch_remove_ticket(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    (void)b;
    if (!mk_peer_entry_remove_ticket(e, a))
        return mk_error_set(err, MK_ENOTFOUND, "no such ticket in the local entry");
    return 0;
}

static int ch_remove_class(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    (void)err;
    size_t n = mk_peer_entry_remove_tickets_of(e, a);
    if (b) *(size_t *)b = n;
    return 0;
}

static int ch_replace_ticket(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    (void)b;
    const mk_ticket *t = a;
    mk_peer_entry_remove_tickets_of(e, &t->class_id);
    return mk_peer_entry_add_ticket(e, t, err);
}

static int ch_add_tag(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    (void)b;
    return mk_peer_entry_add_tag(e, a, err);
}

static int ch_remove_tag(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    (void)b;
    if (!mk_peer_entry_remove_tag(e, a)) return mk_error_set(err, MK_ENOTFOUND, "no such tag");
    return 0;
}

static int ch_add_served(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    return mk_peer_entry_add_served(e, *(const mk_served_kind *)b, a, err);
}

static int ch_remove_served(mk_peer_entry *e, const void *a, const void *b, mk_error *err) {
    if (!mk_peer_entry_remove_served(e, *(const mk_served_kind *)b, a))
        return mk_error_set(err, MK_ENOTFOUND, "not served");
    return 0;
}

int mk_network_add_ticket(mk_network *nw, const mk_ticket *t, mk_error *err) {
    return change(nw, ch_add_ticket, t, NULL, err);
}

int mk_network_remove_ticket(mk_network *nw, const mk_ticket *t, mk_error *err) {
    return change(nw, ch_remove_ticket, t, NULL, err);
}

int mk_network_remove_tickets_of(mk_network *nw, const mk_id *class_id, size_t *removed,
                                 mk_error *err) {
    size_t n = 0;
    int rc = change(nw, ch_remove_class, class_id, &n, err);
    if (removed) *removed = n;
    return rc;
}

int mk_network_replace_ticket(mk_network *nw, const mk_ticket *t, mk_error *err) {
    return change(nw, ch_replace_ticket, t, NULL, err);
}

int mk_network_sink_add_ticket(void *ctx, const mk_ticket *t, mk_error *err) {
    return mk_network_replace_ticket(ctx, t, err);
}

int mk_network_add_tag(mk_network *nw, const mk_id *tag, mk_error *err) {
    return change(nw, ch_add_tag, tag, NULL, err);
}

int mk_network_remove_tag(mk_network *nw, const mk_id *tag, mk_error *err) {
    return change(nw, ch_remove_tag, tag, NULL, err);
}

int mk_network_add_served(mk_network *nw, mk_served_kind kind, const mk_id *id, mk_error *err) {
    return change(nw, ch_add_served, id, &kind, err);
}

int mk_network_remove_served(mk_network *nw, mk_served_kind kind, const mk_id *id, mk_error *err) {
    return change(nw, ch_remove_served, id, &kind, err);
}

int mk_network_local_entry(mk_network *nw, mk_peer_entry *out) {
    pthread_mutex_lock(&nw->mu);
    int rc = mk_peer_entry_copy(out, &nw->local);
    pthread_mutex_unlock(&nw->mu);
    return rc;
}
