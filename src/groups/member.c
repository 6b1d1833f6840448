/*
 * member.c — membership reconciliation: the leader keeps raft's
 * configuration equal to the set of admitted, bonded members.
 *
 * Algorithm. On every tick (loop thread) the leader makes at most one
 * configuration change, and none while one is in flight (g->changing):
 *   1. a bonded member missing from the configuration is added
 *      (raft_add), then assigned its role (raft_assign: RAFT_VOTER for a
 *      writer bond, RAFT_STANDBY for a reader bond; a role that changed is
 *      reassigned the same way). A peer is added only once its bridge told
 *      us its cluster (a probe, bridge.c) and that cluster is ours or not
 *      known yet: a node bootstrapped apart is never added;
 *   2. otherwise one member is removed (raft_remove) when
 *      - its signed entry fails a validator of the group (at once), or
 *      - it was bootstrapped apart (foreign, raftgate.c; at once), or
 *      - it is absent — its signed entry no longer lists the group, or it
 *        signed a departure — and the absence has lasted ABSENT_GRACE
 *        (max(10 s, 10 election timeouts)). A restarted node gossips an
 *        entry without its groups before it joins them again; removing it
 *        then would cost the group a voter until it is promoted again.
 * Members that are only unreachable stay: that is what raft tolerates.
 * The configuration never grows beyond MK_GROUP_MAX_MEMBERS.
 *
 * Departures. The discovery hook reports signed departures (bond.c calls
 * mk_gmember_gone_locked): up to MK_GROUP_MAX_GONE departed peers are
 * remembered so the leader removes them even though discovery no longer
 * holds their entry; a newer entry of the peer, or a purge, forgets it.
 *
 * Invariants: the departed list changes only under g->bmu; the bond
 * snapshot is taken under g->bmu and raft is called without it; the
 * absence table (loop thread) holds only members of the configuration.
 */
#include "groups/groups_internal.h"
#include "mosaik/clock.h"
#include "mosaik/log.h"

/* ----- departed peers (bmu held) ------------------------------------------- */

void mk_gmember_gone_locked(mk_group *g, const mk_id *peer, bool gone) {
    for (size_t i = 0; i < g->n_gone; i++)
        if (mk_id_eq(&g->gone[i], peer)) {
            if (!gone) g->gone[i] = g->gone[--g->n_gone];
            return;
        }
    if (gone && g->n_gone < MK_GROUP_MAX_GONE) g->gone[g->n_gone++] = *peer;
}

static bool is_gone(mk_group *g, const mk_id *peer) {
    for (size_t i = 0; i < g->n_gone; i++)
        if (mk_id_eq(&g->gone[i], peer)) return true;
    return false;
}

/* ----- reconciliation (loop thread, leader) -------------------------------- */

static void change_cb(struct raft_change *req, int status) {
    mk_group *g = req->data;
    if (status != 0)
        mk_log(MK_LOG_DEBUG, "groups", "configuration change failed: %s", raft_strerror(status));
    g->changing = false;
}

static const struct raft_server *cfg_find(mk_group *g, uint64_t rid) {
    for (unsigned i = 0; i < g->raft.configuration.n; i++)
        if (g->raft.configuration.servers[i].id == rid) return &g->raft.configuration.servers[i];
    return NULL;
}

typedef struct bsnap {
    mk_id peer;
    uint64_t rid;
    uint8_t role;
} bsnap;

/* Add or re-role one bonded member; whether a change is now in flight. */
static bool reconcile_bonds(mk_group *g) {
    bsnap bs[MK_GROUP_MAX_MEMBERS];
    size_t nb = 0;
    int64_t now = mk_now();
    pthread_mutex_lock(&g->bmu);
    for (mk_gbond *b = g->bonds; b && nb < MK_GROUP_MAX_MEMBERS; b = b->next)
        if (mk_gbond_ok(b, now) && !mk_group_is_cut(g, &b->peer))
            bs[nb++] = (bsnap){b->peer, b->rid, b->role};
    pthread_mutex_unlock(&g->bmu);
    for (size_t i = 0; i < nb; i++) {
        const struct raft_server *s = cfg_find(g, bs[i].rid);
        int want = bs[i].role == MK_GROUP_READER ? RAFT_STANDBY : RAFT_VOTER;
        int rc = 0, compat = mk_ggate_compat(g, &bs[i].peer);
        if (compat == MK_GCOMPAT_FOREIGN) continue; /* removed below, never promoted */
        if (!s) {
            if (g->raft.configuration.n >= MK_GROUP_MAX_MEMBERS) continue;
            if (compat == MK_GCOMPAT_UNKNOWN) mk_gbridge_probe(g, &bs[i].peer);
            if (compat != MK_GCOMPAT_OK) continue;
            char addr[MK_ID_HEX_LEN];
            mk_id_to_hex(&bs[i].peer, addr);
            g->changing = true;
            rc = raft_add(&g->raft, &g->change, bs[i].rid, addr, change_cb);
        } else if (s->role != want) {
            g->changing = true;
            rc = raft_assign(&g->raft, &g->change, bs[i].rid, want, change_cb);
        } else {
            continue;
        }
        if (rc == 0) return true;
        g->changing = false; /* refused at once: no change is in flight */
    }
    return false;
}

static uint64_t absent_grace(const mk_group *g) {
    uint64_t ms = 10 * (uint64_t)g->cfg.election_ms;
    return ms < 10000 ? 10000 : ms;
}

/* Forget absences of servers no longer in the configuration. */
static void absent_prune(mk_group *g) {
    for (size_t i = 0; i < g->n_absent;)
        if (cfg_find(g, g->absent[i].rid))
            i++;
        else
            g->absent[i] = g->absent[--g->n_absent];
}

/* Record whether rid is absent now; whether its absence lasted the grace. */
static bool absence_lasts(mk_group *g, uint64_t rid, bool absent) {
    uint64_t now = mk_mono_ms();
    for (size_t i = 0; i < g->n_absent; i++) {
        if (g->absent[i].rid != rid) continue;
        if (!absent) {
            g->absent[i] = g->absent[--g->n_absent];
            return false;
        }
        return now - g->absent[i].since >= absent_grace(g);
    }
    if (absent && g->n_absent < MK_GROUP_MAX_MEMBERS)
        g->absent[g->n_absent++] = (mk_gabsent){rid, now};
    return false;
}

/* Why peer should leave the configuration now (NULL: it stays). */
static const char *lapse_of(mk_group *g, const struct raft_server *s, const mk_id *peer) {
    if (mk_ggate_compat(g, peer) == MK_GCOMPAT_FOREIGN) return "bootstrapped apart";
    bool absent = false, failed = false;
    mk_peer_entry e;
    pthread_mutex_lock(&g->bmu);
    if (is_gone(g, peer)) {
        absent = true;
    } else if (mk_network_get(g->nw, peer, &e) == 0) {
        mk_expiration exp;
        if (e.departed || !mk_peer_entry_serves(&e, MK_SERVED_GROUP, &g->id))
            absent = true;
        else
            failed = mk_gadmit_judge_locked(g, &e, &exp, NULL, NULL) < 0;
        mk_peer_entry_free(&e);
    }
    pthread_mutex_unlock(&g->bmu);
    if (failed) return "its signed entry fails a validator";
    return absence_lasts(g, s->id, absent) ? "it left the group" : NULL;
}

/* Remove one member whose admission lapsed (see the top). */
static void reconcile_lapsed(mk_group *g) {
    absent_prune(g);
    for (unsigned i = 0; i < g->raft.configuration.n; i++) {
        const struct raft_server *s = &g->raft.configuration.servers[i];
        if (s->id == g->self_rid) continue;
        mk_id peer;
        if (mk_id_from_hex(&peer, s->address, NULL) < 0) continue;
        const char *why = lapse_of(g, s, &peer);
        if (!why) continue;
        char sh[9];
        mk_id_short(&peer, sh);
        mk_log(MK_LOG_INFO, "groups", "removing member %s: %s", sh, why);
        g->changing = true;
        if (raft_remove(&g->raft, &g->change, s->id, change_cb) != 0) g->changing = false;
        return;
    }
}

void mk_gmember_reconcile(mk_group *g) {
    if (raft_state(&g->raft) != RAFT_LEADER || g->changing) return;
    g->change.data = g;
    if (!reconcile_bonds(g)) reconcile_lapsed(g);
}
