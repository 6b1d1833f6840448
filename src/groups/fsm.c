/*
 * fsm.c — the raft state machine of a group, proposals and forwarding
 * (all on the group's loop thread).
 *
 * FSM. Raft's fsm callbacks wrap the user's mk_group_sm: apply, snapshot
 * and restore run under g->smu (the lock weak queries take too). A log
 * entry is one of
 *   v1 [1][proposer raft id u64][seq u64][len u32][payload]
 *   v2 [2][proposer raft id u64][seq u64]
 *      [session raft id u64][client id u64][client seq u64][floor u64]
 *      [len u32][payload]
 * then zero padding to a multiple of 8 (raft's encoder works in 8-byte
 * words and over-reads unpadded entries), written with mk_writer and read
 * back with mk_reader; an entry that is not of either form is ignored,
 * identically on every member. (proposer, seq) is the leader's own tag:
 * every member applies every entry, and the proposer finds its pending
 * record by seq and takes the result, so results never go through raft's
 * result pointer (which followers would leak).
 *
 * Exactly-once (v2; session.c has the table, call.c the caller's side).
 * The (client id, client seq, floor) of a v2 entry were fixed by the
 * calling node once per logical call; the session raft id is the member
 * the leader got the command from (itself, or the forwarding bond's peer:
 * never a value the peer chose). Before running a v2 command the FSM asks
 * the replicated session table: a duplicate is not run again and gets the
 * first application's status and result; a seq below its session's floor
 * is not run (MK_EEXPIRED); a new one runs and its result is recorded.
 * The table is part of the snapshot: the snapshot is the encoded table
 * followed by the user's snapshot; one without the table's magic (taken
 * before sessions existed) restores with an empty table. The leader also
 * answers a retry whose result is already in its table without
 * proposing it again. v1 entries (untagged forwards from older peers) run
 * as before: at least once.
 *
 * Proposals. On the leader a command is appended with raft_apply, a strong
 * query runs after raft_barrier. A follower forwards commands and strong
 * queries to the leader over the bond (FWD; the answer is FWD_RES and
 * counts only from the peer the forward went to); the leader refuses
 * commands arriving on a reader's bond (MK_EPOLICY, refused_readers). A
 * forward without an answer fails after FWD_MAX_AGE_MS, or at once when
 * the bond with that leader ends; a command whose leader lost leadership
 * is reported MK_EUNAVAILABLE, and the blocking call retries the same
 * tagged command until its deadline (call.c).
 *
 * Invariants: every pending record is in g->pending until it completes
 * its target exactly once (a local waiter, or a FWD_RES to the
 * forwarder); every forward record is in g->fwds until answered or
 * failed; when raft closes, mk_gprop_stop completes all of them and frees
 * the session table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "groups/groups_internal.h"

#include "mosaik/log.h"

#define FWD_MAX_AGE_MS 30000
/* Log entries: [version u8][proposer raft id u64][seq u64], v2: [session
 * raft id u64][client id u64][client seq u64][floor u64], then [len u32]. */
#define ENTRY_V1 1
#define ENTRY_V2 2
#define ENTRY_HDR(v) ((size_t)1 + 8 + 8 + ((v) == ENTRY_V2 ? 32 : 0) + 4)

/* The exactly-once tag of a command. */
typedef struct once_tag {
    uint64_t srid, cid, seq, floor;
} once_tag;

/* A decoded log entry (cmd borrowed from the entry). */
typedef struct gentry {
    uint8_t ver;
    uint64_t prid, pseq;
    once_tag t;
    const uint8_t *cmd;
    size_t n;
} gentry;

struct mk_gpending {
    mk_gpending *next;
    mk_group *g;
    uint64_t seq;
    int kind;
    struct raft_apply req;
    struct raft_barrier breq;
    int status;
    mk_buf result;
    mk_buf query;
    mk_gwaiter *w;
    mk_transport_conn *reply_conn;
    uint64_t reply_seq;
};

struct mk_gfwd {
    mk_gfwd *next;
    mk_id peer; /* the leader it went to */
    uint64_t seq;
    uint64_t at;
    mk_gwaiter *w;
};

/* Complete a target: a local waiter, or a forwarder waiting for FWD_RES. */
void mk_gtarget_complete(mk_group *g, mk_gwaiter *w, mk_transport_conn *conn, uint64_t seq,
                         int status, const uint8_t *data, size_t len, const char *msg) {
    if (w) mk_gwaiter_complete(g, w, status, data, len, msg);
    if (conn) {
        mk_group_frame f = {.type = MK_GF_FWD_RES, .group = g->id, .seq = seq, .status = status};
        if (len <= MK_GROUP_MAX_RESULT) {
            f.payload = data;
            f.plen = len;
        }
        (void)mk_group_send_frame(conn, &f);
        mk_transport_conn_unref(conn);
    }
}

/* ----- the state machine --------------------------------------------------- */

static mk_gpending *pending_find(mk_group *g, uint64_t seq) {
    for (mk_gpending *p = g->pending; p; p = p->next)
        if (p->seq == seq) return p;
    return NULL;
}

static void pending_unlink(mk_group *g, mk_gpending *p) {
    for (mk_gpending **pp = &g->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

static void pending_finish(mk_group *g, mk_gpending *p, int status, const char *msg) {
    pending_unlink(g, p);
    mk_gtarget_complete(g, p->w, p->reply_conn, p->reply_seq, status, p->result.data, p->result.len,
                        msg);
    mk_buf_free(&p->result);
    mk_buf_free(&p->query);
    free(p);
}

static int entry_parse(const struct raft_buffer *buf, gentry *e) {
    mk_reader r;
    uint32_t n32;
    mk_reader_init(&r, buf->base, buf->len);
    memset(e, 0, sizeof *e);
    if (mk_read_u8(&r, &e->ver) < 0 || (e->ver != ENTRY_V1 && e->ver != ENTRY_V2) ||
        mk_read_u64be(&r, &e->prid) < 0 || mk_read_u64be(&r, &e->pseq) < 0)
        return -1;
    if (e->ver == ENTRY_V2 &&
        (mk_read_u64be(&r, &e->t.srid) < 0 || mk_read_u64be(&r, &e->t.cid) < 0 ||
         mk_read_u64be(&r, &e->t.seq) < 0 || mk_read_u64be(&r, &e->t.floor) < 0))
        return -1;
    if (mk_read_u32be(&r, &n32) < 0 || n32 > MK_GROUP_MAX_COMMAND ||
        mk_read_view(&r, n32, &e->cmd) < 0)
        return -1;
    e->n = n32;
    return 0;
}

/* Run a v2 command at log index idx through the session table (smu held):
 * the status, the result in *out. */
static int apply_once(mk_group *g, const gentry *e, uint64_t idx, mk_buf *out) {
    if (!g->sessions && !(g->sessions = mk_gsess_new())) return MK_ENOMEM;
    const once_tag *t = &e->t;
    int st = 0;
    const uint8_t *d = NULL;
    size_t dl = 0;
    int cls = mk_gsess_check(g->sessions, t->srid, t->cid, t->seq, &st, &d, &dl);
    if (cls == MK_GSESS_DUP) {
        (void)mk_buf_append(out, d, dl); /* before touch: it may drop d */
        mk_gsess_touch(g->sessions, t->srid, t->cid, t->floor, idx);
        g->st.duplicates++;
        return st;
    }
    if (cls == MK_GSESS_STALE) {
        mk_gsess_touch(g->sessions, t->srid, t->cid, t->floor, idx);
        g->st.stale_commands++;
        return MK_EEXPIRED;
    }
    int rc = g->sm.apply(g->sm.state, e->cmd, e->n, out);
    rc = rc < 0 ? rc : 0;
    if (mk_gsess_record(g->sessions, t->srid, t->cid, t->seq, t->floor, idx, rc, out->data,
                        out->len) < 0)
        mk_log(MK_LOG_ERROR, "groups", "session table: out of memory at index %llu",
               (unsigned long long)idx);
    g->st.sessions = (unsigned)mk_gsess_count(g->sessions);
    return rc;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result) {
    mk_group *g = fsm->data;
    *result = NULL;
    gentry e;
    if (entry_parse(buf, &e) < 0) return 0; /* not ours: ignored identically everywhere */
    mk_buf out;
    mk_buf_init(&out, MK_GROUP_MAX_RESULT);
    pthread_mutex_lock(&g->smu);
    /* raft sets last_applied after this returns: this entry is the next. */
    uint64_t idx = raft_last_applied(&g->raft) + 1;
    int rc = e.ver == ENTRY_V2 ? apply_once(g, &e, idx, &out)
                               : g->sm.apply(g->sm.state, e.cmd, e.n, &out);
    if (idx > g->st.applied) g->st.applied = idx;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->smu);
    mk_gpending *p = e.prid == g->self_rid ? pending_find(g, e.pseq) : NULL;
    if (p) {
        p->status = rc < 0 ? rc : 0;
        mk_buf_free(&p->result);
        p->result = out;
    } else {
        mk_buf_free(&out);
    }
    return 0;
}

/* The snapshot: the session table, then the user's snapshot. */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
    mk_group *g = fsm->data;
    mk_buf tb, b;
    mk_buf_init(&tb, MK_GSESS_SNAPSHOT_MAX);
    mk_buf_init(&b, MK_GROUP_MAX_SNAPSHOT);
    pthread_mutex_lock(&g->smu);
    int rc = mk_gsess_encode(g->sessions, &tb);
    if (rc == 0) rc = g->sm.snapshot ? g->sm.snapshot(g->sm.state, &b) : MK_EUNSUPPORTED;
    pthread_mutex_unlock(&g->smu);
    struct raft_buffer *arr = rc == 0 ? raft_malloc(sizeof *arr) : NULL;
    void *base = rc == 0 ? raft_malloc(tb.len + b.len) : NULL;
    if (!arr || !base) {
        raft_free(arr);
        raft_free(base);
        mk_buf_free(&tb);
        mk_buf_free(&b);
        return rc < 0 ? RAFT_IOERR : RAFT_NOMEM;
    }
    memcpy(base, tb.data, tb.len);
    if (b.len) memcpy((uint8_t *)base + tb.len, b.data, b.len);
    arr[0].base = base;
    arr[0].len = tb.len + b.len;
    mk_buf_free(&tb);
    mk_buf_free(&b);
    *bufs = arr;
    *n_bufs = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
    mk_group *g = fsm->data;
    mk_gsessions *t = NULL;
    size_t used = 0;
    int rc = mk_gsess_decode(buf->base, buf->len, &t, &used);
    if (rc < 0) {
        mk_log(MK_LOG_ERROR, "groups", "snapshot refused: bad session table (%s)", mk_strerror(rc));
        return RAFT_CORRUPT;
    }
    const uint8_t *user = (const uint8_t *)buf->base + used;
    pthread_mutex_lock(&g->smu);
    rc = g->sm.restore ? g->sm.restore(g->sm.state, user, buf->len - used) : MK_EUNSUPPORTED;
    if (rc == 0) {
        mk_gsess_free(g->sessions);
        g->sessions = t;
        t = NULL;
        g->st.sessions = (unsigned)mk_gsess_count(g->sessions);
        g->st.snapshots_restored++;
    }
    pthread_mutex_unlock(&g->smu);
    mk_gsess_free(t);
    if (rc < 0) return RAFT_CORRUPT;
    raft_free(buf->base);
    return 0;
}

void mk_gfsm_setup(mk_group *g) {
    mk_gcall_setup(g);
    g->fsm.version = 1;
    g->fsm.data = g;
    g->fsm.apply = fsm_apply;
    g->fsm.snapshot = fsm_snapshot;
    g->fsm.restore = fsm_restore;
}

/* ----- proposals ----------------------------------------------------------- */

static void apply_cb(struct raft_apply *req, int status, void *result) {
    (void)result;
    mk_gpending *p = req->data;
    mk_group *g = p->g;
    mk_gloop_update_status(g);
    if (status != 0)
        pending_finish(g, p, MK_EUNAVAILABLE, raft_strerror(status));
    else
        pending_finish(g, p, p->status, NULL);
}

static void barrier_cb(struct raft_barrier *req, int status) {
    mk_gpending *p = req->data;
    mk_group *g = p->g;
    if (status != 0) {
        pending_finish(g, p, MK_EUNAVAILABLE, raft_strerror(status));
        return;
    }
    mk_buf_reset(&p->result);
    pthread_mutex_lock(&g->smu);
    int rc = g->sm.query ? g->sm.query(g->sm.state, p->query.data, p->query.len, &p->result)
                         : MK_EUNSUPPORTED;
    pthread_mutex_unlock(&g->smu);
    pending_finish(g, p, rc < 0 ? rc : 0, NULL);
}

/* Append a command entry (v1 without a tag, else v2) for p: raft's rc. */
static int append_entry(mk_group *g, mk_gpending *p, const once_tag *t, const uint8_t *cmd,
                        size_t len) {
    uint8_t ver = t ? ENTRY_V2 : ENTRY_V1;
    /* Entry data padded to a multiple of 8 bytes (raft's encoding works
     * in 8-byte words). */
    size_t n = (ENTRY_HDR(ver) + len + 7) & ~(size_t)7;
    uint8_t *base = raft_calloc(1, n);
    if (!base) return RAFT_NOMEM;
    mk_writer ew; /* the padding stays zero (calloc) */
    mk_writer_init(&ew, base, n);
    mk_write_u8(&ew, ver);
    mk_write_u64be(&ew, g->self_rid);
    mk_write_u64be(&ew, p->seq);
    if (t) {
        mk_write_u64be(&ew, t->srid);
        mk_write_u64be(&ew, t->cid);
        mk_write_u64be(&ew, t->seq);
        mk_write_u64be(&ew, t->floor);
    }
    mk_write_u32be(&ew, (uint32_t)len);
    mk_write_bytes(&ew, cmd, len);
    struct raft_buffer b = {base, n};
    p->req.data = p;
    int rc = raft_apply(&g->raft, &p->req, &b, 1, apply_cb);
    if (rc != 0) raft_free(base);
    return rc;
}

/* A tagged command whose seq the table already knows (a retry): answer it
 * from the table without proposing it again. Whether it did. */
static bool answer_known(mk_group *g, const once_tag *t, mk_gwaiter *w,
                         mk_transport_conn *reply_conn, uint64_t reply_seq) {
    mk_buf res;
    mk_buf_init(&res, MK_GROUP_MAX_RESULT);
    int st = 0;
    const uint8_t *d;
    size_t dl;
    pthread_mutex_lock(&g->smu);
    int cls = mk_gsess_check(g->sessions, t->srid, t->cid, t->seq, &st, &d, &dl);
    if (cls == MK_GSESS_DUP) (void)mk_buf_append(&res, d, dl);
    pthread_mutex_unlock(&g->smu);
    if (cls == MK_GSESS_NEW) {
        mk_buf_free(&res);
        return false;
    }
    if (cls == MK_GSESS_STALE) st = MK_EEXPIRED;
    mk_gtarget_complete(g, w, reply_conn, reply_seq, st, res.data, res.len,
                        cls == MK_GSESS_STALE ? "the caller's session moved past this command"
                                              : NULL);
    mk_buf_free(&res);
    return true;
}

/* Propose on the leader; the target is a local waiter or a forwarder.
 * srid: the member the command came from (the session's raft id). */
static void lead_propose(mk_group *g, int kind, const mk_buf *payload, mk_gwaiter *w,
                         mk_transport_conn *reply_conn, uint64_t reply_seq, uint64_t srid) {
    once_tag t = {.srid = srid};
    const uint8_t *cmd = payload->data;
    size_t len = payload->len;
    if (kind == MK_FWD_ONCE) {
        mk_reader r;
        mk_reader_init(&r, payload->data, payload->len);
        if (mk_read_u64be(&r, &t.cid) < 0 || mk_read_u64be(&r, &t.seq) < 0 ||
            mk_read_u64be(&r, &t.floor) < 0) {
            mk_gtarget_complete(g, w, reply_conn, reply_seq, MK_EMALFORMED, NULL, 0,
                                "malformed command tag");
            return;
        }
        cmd += MK_FWD_ONCE_HDR;
        len -= MK_FWD_ONCE_HDR;
        if (answer_known(g, &t, w, reply_conn, reply_seq)) return;
    }
    mk_gpending *p = calloc(1, sizeof *p);
    if (!p) {
        mk_gtarget_complete(g, w, reply_conn, reply_seq, MK_ENOMEM, NULL, 0, "out of memory");
        return;
    }
    p->g = g;
    p->seq = ++g->next_seq;
    p->kind = kind;
    p->w = w;
    p->reply_conn = reply_conn;
    p->reply_seq = reply_seq;
    mk_buf_init(&p->result, MK_GROUP_MAX_RESULT);
    mk_buf_init(&p->query, MK_GROUP_MAX_COMMAND);
    p->next = g->pending;
    g->pending = p;
    int rc;
    if (kind != MK_FWD_QUERY) {
        rc = append_entry(g, p, kind == MK_FWD_ONCE ? &t : NULL, cmd, len);
    } else {
        if (mk_buf_append(&p->query, payload->data, payload->len) < 0) {
            pending_finish(g, p, MK_ENOMEM, "out of memory");
            return;
        }
        p->breq.data = p;
        rc = raft_barrier(&g->raft, &p->breq, barrier_cb);
    }
    if (rc != 0) pending_finish(g, p, MK_EUNAVAILABLE, raft_strerror(rc));
}

bool mk_gprop_leader_peer(mk_group *g, mk_id *out) {
    raft_id id;
    const char *addr;
    raft_leader(&g->raft, &id, &addr);
    return id != 0 && addr && mk_id_from_hex(out, addr, NULL) == 0;
}

void mk_gprop_propose(mk_group *g, mk_gjob *j) {
    mk_gwaiter *w = j->w;
    j->w = NULL;
    if (raft_state(&g->raft) == RAFT_LEADER) {
        lead_propose(g, j->kind, &j->data, w, NULL, 0, g->self_rid);
        return;
    }
    mk_id leader;
    mk_transport_conn *conn = NULL;
    if (mk_gprop_leader_peer(g, &leader) && !mk_id_eq(&leader, &g->self))
        conn = mk_group_bond_conn(g, &leader);
    if (!conn) {
        /* A member that refused us said why (bond.c): that is the reason. */
        char msg[sizeof w->msg] = "no reachable leader";
        pthread_mutex_lock(&g->smu);
        if (g->st.refused) {
            char sh[9];
            mk_id_short(&g->st.refused_by, sh);
            snprintf(msg, sizeof msg, "not admitted: %s: %s", sh, g->st.refusal);
        }
        pthread_mutex_unlock(&g->smu);
        mk_gwaiter_complete(g, w, MK_EUNAVAILABLE, NULL, 0, msg);
        return;
    }
    mk_gfwd *f = calloc(1, sizeof *f);
    if (!f) {
        mk_transport_conn_unref(conn);
        mk_gwaiter_complete(g, w, MK_ENOMEM, NULL, 0, "out of memory");
        return;
    }
    f->seq = ++g->next_seq;
    f->peer = leader;
    f->at = mk_sys_mono_ms();
    f->w = w;
    mk_group_frame fr = {.type = MK_GF_FWD,
                         .group = g->id,
                         .seq = f->seq,
                         .kind = j->kind,
                         .payload = j->data.data,
                         .plen = j->data.len};
    int rc = mk_group_send_frame(conn, &fr);
    mk_transport_conn_unref(conn);
    if (rc < 0) {
        free(f);
        mk_gwaiter_complete(g, w, MK_EUNAVAILABLE, NULL, 0, "could not forward to the leader");
        return;
    }
    f->next = g->fwds;
    g->fwds = f;
}

void mk_gprop_fwd_in(mk_group *g, mk_gjob *j) {
    mk_transport_conn *conn = j->conn;
    j->conn = NULL;
    if (j->kind != MK_FWD_QUERY && j->role == MK_GROUP_READER) {
        pthread_mutex_lock(&g->smu);
        g->st.refused_readers++;
        pthread_mutex_unlock(&g->smu);
        mk_gtarget_complete(g, NULL, conn, j->seq, MK_EPOLICY, NULL, 0, NULL);
        return;
    }
    if (raft_state(&g->raft) != RAFT_LEADER) {
        mk_gtarget_complete(g, NULL, conn, j->seq, MK_EUNAVAILABLE, NULL, 0, NULL);
        return;
    }
    /* The session is the forwarding member's: its raft id comes from the
     * bond, never from the frame. */
    lead_propose(g, j->kind, &j->data, NULL, conn, j->seq, mk_group_rid_of(&j->peer));
}

void mk_gprop_fwd_res(mk_group *g, mk_gjob *j) {
    for (mk_gfwd **pp = &g->fwds; *pp; pp = &(*pp)->next) {
        mk_gfwd *f = *pp;
        /* Only the peer it went to may answer (over a bond: checked). */
        if (f->seq != j->seq || !mk_id_eq(&f->peer, &j->peer)) continue;
        *pp = f->next;
        mk_gwaiter_complete(g, f->w, j->status, j->data.data, j->data.len,
                            j->status == MK_EPOLICY ? "refused by the leader: readers cannot write"
                                                    : NULL);
        free(f);
        return;
    }
}

void mk_gprop_fwd_purge(mk_group *g, bool all) {
    uint64_t now = mk_sys_mono_ms();
    for (mk_gfwd **pp = &g->fwds; *pp;) {
        mk_gfwd *f = *pp;
        if (all || now - f->at > FWD_MAX_AGE_MS) {
            *pp = f->next;
            mk_gwaiter_complete(g, f->w, all ? MK_ESTATE : MK_EUNAVAILABLE, NULL, 0,
                                "no answer from the leader");
            free(f);
        } else {
            pp = &f->next;
        }
    }
}

/* The bond with a leader we forwarded to ended: its answers will not come;
 * the callers retry (the command may or may not have committed). */
void mk_gprop_fwd_fail_peer(mk_group *g, const mk_id *peer) {
    for (mk_gfwd **pp = &g->fwds; *pp;) {
        mk_gfwd *f = *pp;
        if (mk_id_eq(&f->peer, peer)) {
            *pp = f->next;
            mk_gwaiter_complete(g, f->w, MK_EUNAVAILABLE, NULL, 0, "lost the bond with the leader");
            free(f);
        } else {
            pp = &f->next;
        }
    }
}

void mk_gprop_stop(mk_group *g) {
    while (g->pending)
        pending_finish(g, g->pending, MK_ESTATE, "group stopped");
    mk_gprop_fwd_purge(g, true);
    pthread_mutex_lock(&g->smu);
    mk_gsess_free(g->sessions);
    g->sessions = NULL;
    pthread_mutex_unlock(&g->smu);
}

/* ----- leadership transfer ------------------------------------------------- */

static void xfer_cb(struct raft_transfer *req) {
    free(req);
}

void mk_gprop_transfer(mk_group *g, mk_gjob *j) {
    if (raft_state(&g->raft) != RAFT_LEADER) return;
    struct raft_transfer *req = calloc(1, sizeof *req);
    if (!req) return;
    uint64_t rid = mk_id_is_zero(&j->peer) ? 0 : mk_group_rid_of(&j->peer);
    if (raft_transfer(&g->raft, req, rid, xfer_cb) != 0) free(req);
}
