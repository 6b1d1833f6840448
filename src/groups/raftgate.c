/*
 * raftgate.c — which raft messages a peer may send this member, decided
 * after raftwire.c parsed them and before libraft sees them (loop thread).
 *
 * The role rules (mk_graft_judge, pure). P is the channel's peer (the bond
 * decides who it is and its role; raft ids are derived from it), T our
 * raft term:
 *   - readers never send AppendEntries, InstallSnapshot, RequestVote or
 *     TimeoutNow: refused, the channel closes;
 *   - AppendEntries / InstallSnapshot from a writer: a term above
 *     max(T, the term of the leader we accepted last) is a new leader and
 *     passes (it becomes that term's leader); a lower term passes (raft
 *     answers a stale leader with its term); the same term is dropped while
 *     we lead it, or when another peer already led it; else P becomes its
 *     leader. raft_leader() is not used: it is not qualified by term;
 *   - RequestVote from a writer must name P as its candidate (raft records
 *     the vote for the named candidate), else refused;
 *   - results answer requests: AppendEntriesResult only while P has credit
 *     (one per AppendEntries or InstallSnapshot our raft sent P: the
 *     outgoing streams are parsed too, mk_ggate_observe), RequestVoteResult
 *     only against a RequestVote we sent; a reader's result never carries a
 *     term above ours. Otherwise the message is dropped.
 * Dropping loses one message, which raft tolerates; refusing closes the
 * channel. Neither needs the configuration: a new member must accept a
 * leader it has no configuration for yet, and votes are granted to
 * candidates outside one's own configuration (diss. §4.1).
 *
 * Cluster identity. A node that bootstraps writes a cluster identity
 * (its raft id and a random nonce) beside its data (group.c); each channel
 * starts with a hello carrying it (raftwire.c). A peer whose identity is
 * known and differs from ours was bootstrapped apart: its channels are
 * refused with that reason, it is marked foreign (the leader neither adds
 * it nor keeps it, member.c), and counted. A node that does not know its
 * cluster yet adopts the one of the first leader whose AppendEntries or
 * InstallSnapshot it accepts, and saves it.
 *
 * Per-peer records (credits, the cluster it announced, its compatibility,
 * the last probe) live until the bond with the peer ends. Counters and the
 * latest reason are under g->smu (mk_group_raft_stats).
 */
#include <stdlib.h>
#include <string.h>

#include "groups/groups_internal.h"
#include "mosaik/clock.h"
#include "mosaik/log.h"

#define CREDIT_MAX (1u << 20)
#define LOG_EVERY_MS 1000

/* ----- the pure rules ------------------------------------------------------ */

int mk_graft_judge(const mk_graft_msg *m, const mk_graft_view *v, const char **why) {
    bool reader = v->role != MK_GROUP_WRITER;
    switch (m->type) {
    case MK_GRAFT_AE:
    case MK_GRAFT_IS: {
        if (reader) {
            *why = "a reader sent AppendEntries or InstallSnapshot";
            return MK_GRAFT_REFUSE;
        }
        uint64_t eff = v->term > v->lt_term ? v->term : v->lt_term;
        if (m->term != eff) return MK_GRAFT_FORWARD;
        if (v->leader && v->term == m->term) {
            *why = "AppendEntries of the term this node leads";
            return MK_GRAFT_DROP;
        }
        if (v->lt_term == m->term && v->lt_rid != v->sender) {
            *why = "AppendEntries from a second leader of one term";
            return MK_GRAFT_DROP;
        }
        return MK_GRAFT_FORWARD;
    }
    case MK_GRAFT_RV:
    case MK_GRAFT_TN:
        if (reader) {
            *why = "a reader sent RequestVote or TimeoutNow";
            return MK_GRAFT_REFUSE;
        }
        if (m->type == MK_GRAFT_RV && m->candidate != v->sender) {
            *why = "RequestVote naming another candidate";
            return MK_GRAFT_REFUSE;
        }
        return MK_GRAFT_FORWARD;
    case MK_GRAFT_AER:
        if (v->ae_credit == 0) {
            *why = "AppendEntriesResult without a request";
            return MK_GRAFT_DROP;
        }
        if (reader && m->term > v->term) {
            *why = "a reader's result with a higher term";
            return MK_GRAFT_DROP;
        }
        return MK_GRAFT_FORWARD;
    case MK_GRAFT_RVR:
        if (v->rv_credit == 0) {
            *why = "RequestVoteResult without a request";
            return MK_GRAFT_DROP;
        }
        return MK_GRAFT_FORWARD;
    }
    *why = "unknown message type";
    return MK_GRAFT_REFUSE;
}

/* ----- per-peer records ---------------------------------------------------- */

struct mk_gpeer {
    mk_gpeer *next;
    mk_id peer;
    uint64_t rid;
    uint32_t ae_credit, rv_credit;
    int compat;
    mk_gcluster cluster;
    uint64_t probe_at;
};

static mk_gpeer *peer_get(mk_group *g, const mk_id *peer, bool create) {
    for (mk_gpeer *p = g->gpeers; p; p = p->next)
        if (mk_id_eq(&p->peer, peer)) return p;
    if (!create) return NULL;
    mk_gpeer *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->peer = *peer;
    p->rid = mk_group_rid_of(peer);
    p->compat = MK_GCOMPAT_UNKNOWN;
    p->next = g->gpeers;
    g->gpeers = p;
    return p;
}

void mk_ggate_peer_down(mk_group *g, const mk_id *peer) {
    for (mk_gpeer **pp = &g->gpeers; *pp; pp = &(*pp)->next)
        if (mk_id_eq(&(*pp)->peer, peer)) {
            mk_gpeer *p = *pp;
            *pp = p->next;
            free(p);
            return;
        }
}

void mk_ggate_free_all(mk_group *g) {
    while (g->gpeers) {
        mk_gpeer *p = g->gpeers;
        g->gpeers = p->next;
        free(p);
    }
}

int mk_ggate_compat(mk_group *g, const mk_id *peer) {
    if (!mk_gcluster_known(&g->cluster)) return MK_GCOMPAT_OK;
    mk_gpeer *p = peer_get(g, peer, false);
    return p ? p->compat : MK_GCOMPAT_UNKNOWN;
}

bool mk_ggate_probe_due(mk_group *g, const mk_id *peer, uint64_t every_ms) {
    mk_gpeer *p = peer_get(g, peer, true);
    uint64_t now = mk_mono_ms();
    if (!p || (p->probe_at && now - p->probe_at < every_ms)) return false;
    p->probe_at = now;
    return true;
}

/* ----- counters -------------------------------------------------------------- */

void mk_ggate_count(mk_group *g, int which, const mk_id *peer, const char *why) {
    char sh[9];
    mk_id_short(peer, sh);
    uint64_t now = mk_mono_ms();
    bool log;
    pthread_mutex_lock(&g->smu);
    mk_graft_stats *s = &g->rstats;
    uint64_t *c = which == MK_GC_MALFORMED  ? &s->malformed
                  : which == MK_GC_REFUSED  ? &s->refused
                  : which == MK_GC_DROPPED  ? &s->dropped
                  : which == MK_GC_CONFLICT ? &s->conflicts
                                            : &s->evicted;
    (*c)++;
    snprintf(s->last, sizeof s->last, "%s: %s", sh, why ? why : "refused");
    log = now - g->rlog_at >= LOG_EVERY_MS;
    if (log) g->rlog_at = now;
    pthread_mutex_unlock(&g->smu);
    if (log)
        mk_log(which == MK_GC_DROPPED || which == MK_GC_EVICTED ? MK_LOG_INFO : MK_LOG_WARN,
               "groups", "raft from %s %s: %s", sh,
               which == MK_GC_DROPPED   ? "dropped"
               : which == MK_GC_EVICTED ? "channel evicted"
                                        : "refused, channel closed",
               why ? why : "");
}

void mk_group_raft_stats(mk_group *g, mk_graft_stats *out) {
    pthread_mutex_lock(&g->smu);
    *out = g->rstats;
    pthread_mutex_unlock(&g->smu);
}

/* ----- the cluster identity ---------------------------------------------------- */

int mk_ggate_hello(mk_group *g, const mk_id *peer, const mk_gcluster *theirs, const char **why) {
    mk_gpeer *p = peer_get(g, peer, true);
    if (p) p->cluster = *theirs;
    bool clash = mk_gcluster_known(&g->cluster) && mk_gcluster_known(theirs) &&
                 !mk_gcluster_eq(&g->cluster, theirs);
    if (p) p->compat = clash ? MK_GCOMPAT_FOREIGN : MK_GCOMPAT_OK;
    if (!clash) return 0;
    static _Thread_local char msg[160];
    snprintf(msg, sizeof msg,
             "conflicting bootstrap: the peer's group was bootstrapped by raft id %016llx, this "
             "node's by %016llx",
             (unsigned long long)theirs->rid, (unsigned long long)g->cluster.rid);
    *why = msg;
    mk_ggate_count(g, MK_GC_CONFLICT, peer, msg);
    return MK_EPOLICY;
}

/* Adopt the cluster of the first leader we follow. */
static void adopt(mk_group *g, const mk_gcluster *c) {
    if (mk_gcluster_known(&g->cluster) || !mk_gcluster_known(c)) return;
    g->cluster = *c;
    mk_log(MK_LOG_INFO, "groups", "joined the group bootstrapped by raft id %016llx",
           (unsigned long long)c->rid);
    mk_group_cluster_save(g);
}

/* ----- messages ---------------------------------------------------------------- */

/* The test hook: entries held back (heartbeats still pass). */
static bool held(mk_group *g) {
    pthread_mutex_lock(&g->smu);
    bool h = g->rhold;
    pthread_mutex_unlock(&g->smu);
    return h;
}

void mk_group_raft_hold(mk_group *g, bool hold) {
    pthread_mutex_lock(&g->smu);
    g->rhold = hold;
    pthread_mutex_unlock(&g->smu);
}

int mk_ggate_judge_in(mk_group *g, const mk_id *peer, uint8_t role, const mk_gcluster *cl,
                      const mk_graft_msg *m, const char **why) {
    mk_gpeer *p = peer_get(g, peer, true);
    if (!p) {
        *why = "out of memory";
        return MK_GRAFT_REFUSE;
    }
    bool lead = m->type == MK_GRAFT_AE || m->type == MK_GRAFT_IS;
    if (lead && mk_gcluster_known(&g->cluster) && mk_gcluster_known(cl) &&
        !mk_gcluster_eq(&g->cluster, cl)) {
        *why = "conflicting bootstrap: a leader of another cluster";
        p->compat = MK_GCOMPAT_FOREIGN;
        mk_ggate_count(g, MK_GC_CONFLICT, peer, *why);
        return MK_GRAFT_REFUSE;
    }
    mk_graft_view v = {.role = role,
                       .sender = p->rid,
                       .term = g->raft.current_term,
                       .leader = raft_state(&g->raft) == RAFT_LEADER,
                       .lt_term = g->lt_term,
                       .lt_rid = g->lt_rid,
                       .ae_credit = p->ae_credit,
                       .rv_credit = p->rv_credit};
    const char *reason = NULL;
    int verdict = mk_graft_judge(m, &v, &reason);
    if (verdict == MK_GRAFT_REFUSE) {
        *why = reason;
        mk_ggate_count(g, MK_GC_REFUSED, peer, reason);
        return verdict;
    }
    if (verdict == MK_GRAFT_DROP) {
        mk_ggate_count(g, MK_GC_DROPPED, peer, reason);
        return verdict;
    }
    if (lead && m->term >= v.term && m->term >= g->lt_term) {
        g->lt_term = m->term;
        g->lt_rid = p->rid;
        if (m->type == MK_GRAFT_AE) {
            g->lc_term = m->term;
            g->lc_commit = m->commit;
        }
        adopt(g, cl);
    }
    /* The test hook loses held messages after the gate saw them. */
    if (lead && held(g) && (m->type == MK_GRAFT_IS || m->n_entries > 0)) return MK_GRAFT_DROP;
    if (m->type == MK_GRAFT_AER) p->ae_credit--;
    if (m->type == MK_GRAFT_RVR) p->rv_credit--;
    return verdict;
}

void mk_ggate_observe(mk_group *g, const mk_id *peer, const mk_graft_msg *m) {
    mk_gpeer *p = peer_get(g, peer, true);
    if (!p) return;
    if ((m->type == MK_GRAFT_AE || m->type == MK_GRAFT_IS) && p->ae_credit < CREDIT_MAX)
        p->ae_credit++;
    if (m->type == MK_GRAFT_RV && p->rv_credit < CREDIT_MAX) p->rv_credit++;
}

uint64_t mk_ggate_leader_commit(mk_group *g) {
    return g->lc_term == g->raft.current_term ? g->lc_commit : 0;
}
