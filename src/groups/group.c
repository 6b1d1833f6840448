/*
 * group.c — groups: bonds, validation, raft lifecycle, proposals.
 *
 * Host. Protocol "groups" and one discovery hook are registered once per
 * mk_network; their context is a host record that lives as long as the
 * process (net offers no unregistration) and holds the table of the groups
 * joined on that network. Frames are dispatched to a group with host->mu
 * held, so once mk_group_free removed the group from the table no callback
 * can reach it.
 *
 * Bonds. One TLS connection per peer carries every group both peers are
 * in. For each group a bond is two HELLO frames, one each way:
 * HELLO = role | reply flag | HMAC(group key, side, role, TLS exporter).
 * A HELLO is accepted only if its MAC verifies and the sender's *signed
 * discovery entry* (from the catalog or the hook's event, never anything a
 * member relays) lists the group and passes every validator now; the bond's
 * expiration is the earliest of the validators' expirations. Every entry
 * update re-judges the bond (it may end it or, with a fresh ticket, extend
 * it); the tick closes bonds whose expiration passed. The peer with the
 * smaller id dials; a HELLO without the reply flag is always answered, so a
 * side that refused an early HELLO (entry not yet known) recovers when the
 * other retries. The role a HELLO claims counts only as a claim: with
 * writer validators a writer claim whose signed entry fails them bonds as a
 * reader (writers_refused); without them any admitted member may write.
 * Verdicts are cached per (peer, entry version) in a bounded table: a full
 * table replaces its least recently used entry, and a departure or purge
 * evicts the peer's entry, so the table never locks new peers out.
 * Nothing is sent while host->mu is held (see the outbox below): a failed
 * synchronous send may run h_on_close, which takes host->mu.
 *
 * Raft. Each group runs canonical raft on a loop thread of its own with the
 * libuv I/O backend (log and snapshots in the data directory) and the
 * transport of bridge.c. The leader reconciles the configuration on every
 * tick, one change at a time: bonded members missing from it are added
 * (raft_add, then raft_assign VOTER for writers, STANDBY for readers);
 * members whose signed entry no longer lists the group or fails a
 * validator, or who departed, are removed. Members that are only
 * unreachable stay (that is what raft tolerates).
 *
 * Proposals. A command is wrapped as [1][proposer raft id u64][seq u64]
 * [len u32][payload][zero padding to a multiple of 8: raft's encoder
 * works in 8-byte words and over-reads unpadded entries]. The leader
 * appends it with raft_apply; every member applies it; the proposer finds its pending record by seq
 * and takes the result (so results never go through raft's result pointer, which followers would
 * leak). A follower forwards commands and strong queries to the leader
 * over the bond (FWD/FWD_RES, an answer counts only from the peer the
 * forward went to); the leader refuses commands arriving on a reader's
 * bond. Strong queries run on the leader after raft_barrier. A
 * command whose leader lost leadership is reported MK_EUNAVAILABLE and the
 * blocking call retries until its deadline (at-least-once on failover).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "groups/groups_internal.h"
#include "mosaik/clock.h"
#include "mosaik/crypto.h"
#include "mosaik/log.h"

#define HOST_MAX_GROUPS 64
#define MAX_GONE 64
#define HELLO_RETRY_MS 500 /* unsolicited HELLO retries on a half-open bond */
#define FWD_MAX_AGE_MS 30000
/* Log entries: [version u8][proposer raft id u64][seq u64][len u32]. */
#define ENTRY_VERSION 1
#define ENTRY_HDR (1 + 8 + 8 + 4)

struct mk_groups_host {
    mk_network *nw;
    mk_net *net;
    mk_id self;
    pthread_mutex_t mu;
    mk_group *groups[HOST_MAX_GROUPS];
    size_t n;
};

struct mk_gpending {
    mk_gpending *next;
    mk_group *g;
    uint64_t seq;
    int kind;
    struct raft_apply req;
    struct raft_barrier breq;
    int status;
    bool applied;
    mk_buf result;
    mk_buf query;
    mk_gwaiter *w;
    mk_net_conn *reply_conn;
    uint64_t reply_seq;
};

struct mk_gfwd {
    mk_gfwd *next;
    mk_id peer; /* the leader it went to */
    uint64_t seq;
    uint64_t at;
    mk_gwaiter *w;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
/* Departed peers, per group (simple fixed table kept in the group). */

/* ----- small helpers ---------------------------------------------------- */

/* Outbox. On the I/O thread a send may write synchronously and, when the
 * write fails, close the connection and run h_on_close at once, which takes
 * host->mu and g->bmu. So nothing is sent while the host dispatches a frame,
 * hook or connection (those hold the locks): mk_group_send queues a copy in
 * the thread's outbox and the dispatcher sends it after unlocking. */
typedef struct gout {
    struct gout *next;
    mk_net_conn *conn; /* referenced */
    size_t n;
    uint8_t data[];
} gout;
typedef struct outbox {
    gout *head, **tail;
    struct outbox *prev;
} outbox;
static _Thread_local outbox *tl_outbox;

static void outbox_begin(outbox *o) {
    o->head = NULL;
    o->tail = &o->head;
    o->prev = tl_outbox;
    tl_outbox = o;
}

/* Call with no lock held. */
static void outbox_flush(outbox *o) {
    tl_outbox = o->prev;
    while (o->head) {
        gout *m = o->head;
        o->head = m->next;
        (void)mk_net_conn_send(m->conn, m->data, m->n);
        mk_net_conn_unref(m->conn);
        free(m);
    }
}

/* Lay out [type][group id][body][tail] in out[0, n). */
static void frame_put(uint8_t *out, size_t n, const mk_id *group, uint8_t type, const void *body,
                      size_t blen, const void *tail, size_t tlen) {
    mk_writer w;
    mk_writer_init(&w, out, n);
    mk_write_u8(&w, type);
    mk_write_bytes(&w, group->b, MK_ID_LEN);
    mk_write_bytes(&w, body, blen);
    mk_write_bytes(&w, tail, tlen);
}

int mk_group_send(mk_net_conn *conn, const mk_id *group, uint8_t type, const void *body,
                  size_t blen, const void *tail, size_t tlen) {
    size_t n = MK_GF_HDR + blen + tlen;
    if (n > MK_GF_MAX_FRAME) return MK_ETOOBIG;
    if (tl_outbox) {
        gout *m = malloc(sizeof *m + n);
        if (!m) return MK_ENOMEM;
        m->next = NULL;
        m->conn = mk_net_conn_ref(conn);
        m->n = n;
        frame_put(m->data, n, group, type, body, blen, tail, tlen);
        *tl_outbox->tail = m;
        tl_outbox->tail = &m->next;
        return 0;
    }
    uint8_t stackbuf[256];
    uint8_t *f = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!f) return MK_ENOMEM;
    frame_put(f, n, group, type, body, blen, tail, tlen);
    int rc = mk_net_conn_send(conn, f, n);
    if (f != stackbuf) free(f);
    return rc;
}

int mk_group_send_frame(mk_net_conn *conn, const mk_group_frame *f) {
    uint8_t body[MK_GF_MAX_BODY];
    mk_writer w;
    mk_writer_init(&w, body, sizeof body);
    int rc = mk_group_frame_write_body(&w, f);
    if (rc < 0) return rc;
    return mk_group_send(conn, &f->group, f->type, body, mk_writer_len(&w), f->payload, f->plen);
}

/* ----- waiters ------------------------------------------------------------ */

static mk_gwaiter *waiter_new(void) {
    mk_gwaiter *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->refs = 2;
    mk_buf_init(&w->result, MK_GROUP_MAX_RESULT);
    return w;
}

static void waiter_release_locked(mk_gwaiter *w) {
    if (--w->refs == 0) {
        mk_buf_free(&w->result);
        free(w);
    }
}

static void waiter_complete(mk_group *g, mk_gwaiter *w, int status, const uint8_t *data, size_t len,
                            const char *msg) {
    pthread_mutex_lock(&g->smu);
    if (!w->done) {
        w->done = true;
        w->status = status;
        if (data && len) (void)mk_buf_append(&w->result, data, len);
        if (msg) snprintf(w->msg, sizeof w->msg, "%s", msg);
    }
    waiter_release_locked(w);
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->smu);
}

/* Complete a target: a local waiter, or a forwarder waiting for FWD_RES. */
static void target_complete(mk_group *g, mk_gwaiter *w, mk_net_conn *conn, uint64_t seq, int status,
                            const uint8_t *data, size_t len, const char *msg) {
    if (w) waiter_complete(g, w, status, data, len, msg);
    if (conn) {
        mk_group_frame f = {.type = MK_GF_FWD_RES, .group = g->id, .seq = seq, .status = status};
        if (len <= MK_GROUP_MAX_RESULT) {
            f.payload = data;
            f.plen = len;
        }
        (void)mk_group_send_frame(conn, &f);
        mk_net_conn_unref(conn);
    }
}

/* ----- jobs --------------------------------------------------------------- */

static void job_free(mk_group *g, mk_gjob *j, int status) {
    if (j->w) waiter_complete(g, j->w, status, NULL, 0, "group stopped");
    if (j->conn) {
        if (j->type == MK_GJ_FWD_IN && status < 0)
            target_complete(g, NULL, mk_net_conn_ref(j->conn), j->seq, status, NULL, 0, NULL);
        mk_net_conn_unref(j->conn);
    }
    mk_buf_free(&j->data);
    free(j);
}

static mk_gjob *job_new(int type) {
    mk_gjob *j = calloc(1, sizeof *j);
    if (j) {
        j->type = type;
        mk_buf_init(&j->data, MK_GF_MAX_FRAME);
    }
    return j;
}

static int job_push(mk_group *g, mk_gjob *j) {
    pthread_mutex_lock(&g->qmu);
    if (g->stopping) {
        pthread_mutex_unlock(&g->qmu);
        job_free(g, j, MK_ESTATE);
        return MK_ESTATE;
    }
    if (g->qtail)
        g->qtail->next = j;
    else
        g->qhead = j;
    g->qtail = j;
    pthread_mutex_unlock(&g->qmu);
    uv_async_send(&g->async);
    return 0;
}

/* ----- validation ---------------------------------------------------------- */

/* The cache slot for peer: its own, else a free one, else the least
 * recently used one (replaced: a full cache never refuses a peer, it only
 * costs a re-validation). NULL only when out of memory. bmu held. */
static mk_gvcache *vc_slot_locked(mk_group *g, const mk_id *peer) {
    size_t max = g->max_vc ? g->max_vc : MK_GVCACHE_MAX;
    mk_gvcache *lru = NULL;
    for (size_t i = 0; i < g->n_vc; i++) {
        if (mk_id_eq(&g->vc[i].peer, peer)) return &g->vc[i];
        if (!lru || g->vc[i].used < lru->used) lru = &g->vc[i];
    }
    if (g->n_vc >= max && lru) {
        memset(lru, 0, sizeof *lru);
        lru->peer = *peer;
        return lru;
    }
    if (g->n_vc == g->cap_vc) {
        size_t nc = g->cap_vc ? g->cap_vc * 2 : 8;
        if (nc > max) nc = max;
        mk_gvcache *nv = realloc(g->vc, nc * sizeof *nv);
        if (!nv) return NULL;
        g->vc = nv;
        g->cap_vc = nc;
    }
    mk_gvcache *c = &g->vc[g->n_vc++];
    memset(c, 0, sizeof *c);
    c->peer = *peer;
    return c;
}

/* Forget peer's cached verdict (departure, purge). bmu held. */
static void vc_evict_locked(mk_group *g, const mk_id *peer) {
    for (size_t i = 0; i < g->n_vc; i++)
        if (mk_id_eq(&g->vc[i].peer, peer)) {
            g->vc[i] = g->vc[--g->n_vc];
            return;
        }
}

/* Judge a signed entry for this group: serves it and passes every
 * validator now. bmu held. Cached per (peer, version): successes until they
 * expire, failures for a second; a departed entry is not cached. With
 * writer validators, *wrc (optional) gets their verdict and *wexp when the
 * writer admission ends (0 and the member expiration without them). */
static int judge_locked(mk_group *g, const mk_peer_entry *e, mk_expiration *exp, int *wrc,
                        mk_expiration *wexp) {
    int64_t now = mk_now();
    if (e->departed) {
        vc_evict_locked(g, &e->peer_id);
        return MK_EPOLICY;
    }
    mk_gvcache *c = NULL;
    for (size_t i = 0; i < g->n_vc && !c; i++)
        if (mk_id_eq(&g->vc[i].peer, &e->peer_id)) c = &g->vc[i];
    if (c && c->version == e->version) {
        bool hit = false;
        if (c->rc == 0 && now < c->expires) hit = true;
        if (c->rc < 0 && mk_mono_ms() < (uint64_t)c->expires) hit = true;
        if (hit) {
            c->used = ++g->vc_clock;
            if (c->rc == 0) *exp = c->expires;
            if (wrc) *wrc = c->wrc == 0 && now >= c->wexpires ? MK_EEXPIRED : c->wrc;
            if (wexp) *wexp = c->wexpires;
            return c->rc;
        }
    }
    if (!c) c = vc_slot_locked(g, &e->peer_id);
    if (!c) return MK_ENOMEM;
    int rc, w = 0;
    mk_expiration e2 = MK_EXPIRES_NEVER, we = MK_EXPIRES_NEVER;
    if (!mk_peer_entry_serves(e, MK_SERVED_GROUP, &g->id)) {
        rc = MK_EPOLICY;
    } else {
        mk_peer_view v;
        mk_peer_entry_view(e, &v);
        rc = 0;
        if (g->vs) {
            rc = mk_validator_set_check(g->vs, &v, now, &e2, NULL);
            if (rc == 0 && e2 <= now) rc = MK_EEXPIRED;
        }
        if (rc == 0 && g->wvs) {
            w = mk_validator_set_check(g->wvs, &v, now, &we, NULL);
            if (w == 0 && we <= now) w = MK_EEXPIRED;
        }
        if (we > e2) we = e2;
    }
    c->version = e->version;
    c->rc = rc;
    c->wrc = rc == 0 ? w : rc;
    c->wexpires = we;
    c->used = ++g->vc_clock;
    c->expires = rc == 0 ? e2 : (mk_expiration)(mk_mono_ms() + 1000);
    if (rc == 0) *exp = e2;
    if (wrc) *wrc = c->wrc;
    if (wexp) *wexp = we;
    return rc;
}

/* Judge the peer's entry as held by discovery. */
static int judge_peer_locked(mk_group *g, const mk_id *peer, mk_expiration *exp, int *wrc,
                             mk_expiration *wexp) {
    mk_peer_entry e;
    int rc = mk_network_get(g->nw, peer, &e);
    if (rc == 0) rc = judge_locked(g, &e, exp, wrc, wexp);
    mk_peer_entry_free(&e);
    return rc;
}

/* ----- bonds --------------------------------------------------------------- */

static mk_gbond *bond_find(mk_group *g, const mk_id *peer) {
    for (mk_gbond *b = g->bonds; b; b = b->next)
        if (mk_id_eq(&b->peer, peer)) return b;
    return NULL;
}

static bool bond_ok(const mk_gbond *b, int64_t now) {
    return b->sent_hello && b->got_hello && now < b->expires && mk_net_conn_is_open(b->conn);
}

bool mk_group_is_cut(mk_group *g, const mk_id *peer) {
    for (size_t i = 0; i < g->n_cut; i++)
        if (mk_id_eq(&g->cut[i], peer)) return true;
    return false;
}

/* Remove the bond with peer (bmu held); returns whether there was one. */
static bool bond_drop_locked(mk_group *g, const mk_id *peer, bool say_bye) {
    for (mk_gbond **pp = &g->bonds; *pp; pp = &(*pp)->next) {
        mk_gbond *b = *pp;
        if (!mk_id_eq(&b->peer, peer)) continue;
        *pp = b->next;
        if (say_bye) {
            mk_group_frame f = {.type = MK_GF_BYE, .group = g->id};
            (void)mk_group_send_frame(b->conn, &f);
        }
        mk_net_conn_unref(b->conn);
        free(b);
        return true;
    }
    return false;
}

static void peer_down(mk_group *g, const mk_id *peer) {
    mk_gjob *j = job_new(MK_GJ_PEER_DOWN);
    if (!j) return;
    j->peer = *peer;
    (void)job_push(g, j);
}

mk_net_conn *mk_group_bond_conn(mk_group *g, const mk_id *peer) {
    mk_net_conn *c = NULL;
    pthread_mutex_lock(&g->bmu);
    mk_gbond *b = bond_find(g, peer);
    if (b && bond_ok(b, mk_now()) && !mk_group_is_cut(g, peer)) c = mk_net_conn_ref(b->conn);
    pthread_mutex_unlock(&g->bmu);
    return c;
}

static int send_hello(mk_group *g, mk_net_conn *conn, bool reply) {
    uint8_t exp[MK_GROUP_EXPORTER_LEN], mac[32];
    int rc = mk_net_conn_export(conn, "groups", g->id.b, MK_ID_LEN, exp, sizeof exp, NULL);
    if (rc < 0) return rc;
    uint8_t side = mk_net_conn_inbound(conn) ? 1 : 0;
    mk_group_frame f = {.type = MK_GF_HELLO,
                        .group = g->id,
                        .role = (uint8_t)g->cfg.role,
                        .reply = reply ? 1 : 0,
                        .mac = mac};
    rc = mk_group_bond_mac(&g->key, &g->id, side, f.role, exp, mac);
    mk_wipe(exp, sizeof exp);
    if (rc < 0) return rc;
    return mk_group_send_frame(conn, &f);
}

/* Bond record for (peer, conn), rebinding it if conn changed. bmu held. */
static mk_gbond *bond_for_conn(mk_group *g, const mk_id *peer, mk_net_conn *conn) {
    mk_gbond *b = bond_find(g, peer);
    if (b && b->conn != conn) {
        mk_net_conn_unref(b->conn);
        b->conn = mk_net_conn_ref(conn);
        b->sent_hello = b->got_hello = false;
    }
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b) return NULL;
        b->peer = *peer;
        b->rid = mk_group_rid_of(peer);
        b->conn = mk_net_conn_ref(conn);
        b->next = g->bonds;
        g->bonds = b;
    }
    return b;
}

/* Offer a bond on conn if the peer is a validated candidate (net thread). */
static void greet(mk_group *g, mk_net_conn *conn) {
    mk_id peer;
    mk_net_conn_peer(conn, &peer);
    pthread_mutex_lock(&g->bmu);
    mk_expiration exp;
    if (!mk_group_is_cut(g, &peer) && judge_peer_locked(g, &peer, &exp, NULL, NULL) == 0) {
        mk_gbond *b = bond_for_conn(g, &peer, conn);
        if (b && !b->sent_hello && send_hello(g, conn, false) == 0) {
            b->sent_hello = true;
            b->expires = exp;
        }
    }
    pthread_mutex_unlock(&g->bmu);
}

static void on_hello(mk_group *g, mk_net_conn *conn, const mk_id *peer, const mk_group_frame *f) {
    uint8_t role = f->role, reply = f->reply;
    const uint8_t *mac = f->mac;
    uint8_t exp[MK_GROUP_EXPORTER_LEN], want[32];
    if (mk_net_conn_export(conn, "groups", g->id.b, MK_ID_LEN, exp, sizeof exp, NULL) < 0) return;
    /* The sender's side: it dialed iff we are inbound. */
    uint8_t side = mk_net_conn_inbound(conn) ? 0 : 1;
    int rc = mk_group_bond_mac(&g->key, &g->id, side, role, exp, want);
    mk_wipe(exp, sizeof exp);
    pthread_mutex_lock(&g->bmu);
    mk_expiration until, wuntil = 0;
    int wrc = 0;
    if (rc < 0 || !mk_ct_equal(want, mac, 32)) {
        char s[9];
        mk_id_short(peer, s);
        mk_log(MK_LOG_WARN, "groups", "bond with %s refused: bad group key proof", s);
        pthread_mutex_lock(&g->smu);
        g->st.bonds_refused++;
        pthread_mutex_unlock(&g->smu);
    } else if (mk_group_is_cut(g, peer)) {
        /* partitioned (tests) */
    } else if (judge_peer_locked(g, peer, &until, &wrc, &wuntil) < 0) {
        char sh[9];
        mk_id_short(peer, sh);
        mk_log(MK_LOG_DEBUG, "groups", "hello from %s refused: entry not admitted", sh);
        pthread_mutex_lock(&g->smu);
        g->st.bonds_refused++;
        pthread_mutex_unlock(&g->smu);
    } else {
        mk_gbond *b = bond_for_conn(g, peer, conn);
        char sh[9];
        mk_id_short(peer, sh);
        mk_log(MK_LOG_DEBUG, "groups", "hello from %s (reply %d) accepted; sent %d", sh, reply,
               b ? b->sent_hello : -1);
        if (b) {
            /* The role is an authorization only with writer validators:
             * a writer claim they refuse bonds as a reader. */
            uint8_t eff = role == MK_GROUP_WRITER ? MK_GROUP_WRITER : MK_GROUP_READER;
            if (eff == MK_GROUP_WRITER && g->wvs) {
                if (wrc < 0) {
                    eff = MK_GROUP_READER;
                    mk_log(MK_LOG_WARN, "groups", "%s claims the writer role: refused (%s)", sh,
                           mk_strerror(wrc));
                    pthread_mutex_lock(&g->smu);
                    g->st.writers_refused++;
                    pthread_mutex_unlock(&g->smu);
                } else {
                    until = wuntil; /* the earlier of member and writer admission */
                }
            }
            b->got_hello = true;
            b->claimed = role;
            b->role = eff;
            b->expires = until;
            if ((!b->sent_hello || !reply) && send_hello(g, conn, true) == 0) b->sent_hello = true;
        }
    }
    pthread_mutex_unlock(&g->bmu);
}

/* ----- the host: protocol and hook -------------------------------------- */

static mk_group *host_find(mk_groups_host *h, const mk_id *gid) {
    for (size_t i = 0; i < h->n; i++)
        if (mk_id_eq(&h->groups[i]->id, gid)) return h->groups[i];
    return NULL;
}

static void h_on_connect(mk_net_conn *conn, bool inbound, void *ctx) {
    (void)inbound;
    mk_groups_host *h = ctx;
    outbox o;
    outbox_begin(&o);
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++)
        greet(h->groups[i], conn);
    pthread_mutex_unlock(&h->mu);
    outbox_flush(&o);
}

static void dial_cb(mk_net_conn *conn, int status, const mk_error *err, void *ctx) {
    (void)err;
    if (status == 0 && conn) h_on_connect(conn, false, ctx);
}

static void h_on_close(mk_net_conn *conn, int code, const char *reason, void *ctx) {
    (void)code;
    (void)reason;
    mk_groups_host *h = ctx;
    mk_id peer;
    mk_net_conn_peer(conn, &peer);
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++) {
        mk_group *g = h->groups[i];
        pthread_mutex_lock(&g->bmu);
        mk_gbond *b = bond_find(g, &peer);
        bool hit = b && b->conn == conn && bond_drop_locked(g, &peer, false);
        pthread_mutex_unlock(&g->bmu);
        if (hit) peer_down(g, &peer);
    }
    pthread_mutex_unlock(&h->mu);
}

/* Is there an established bond over this very connection? bmu not held. */
static bool bonded_on(mk_group *g, const mk_id *peer, mk_net_conn *conn, uint8_t *role) {
    pthread_mutex_lock(&g->bmu);
    mk_gbond *b = bond_find(g, peer);
    bool ok = b && b->conn == conn && bond_ok(b, mk_now()) && !mk_group_is_cut(g, peer);
    if (ok && role) *role = b->role;
    pthread_mutex_unlock(&g->bmu);
    return ok;
}

static void on_group_frame(mk_group *g, mk_net_conn *conn, const mk_id *peer,
                           const mk_group_frame *f) {
    uint8_t role = 0;
    if (f->type == MK_GF_HELLO) {
        on_hello(g, conn, peer, f);
        return;
    }
    if (f->type == MK_GF_BYE) {
        pthread_mutex_lock(&g->bmu);
        mk_gbond *b = bond_find(g, peer);
        bool hit = b && b->conn == conn && bond_drop_locked(g, peer, false);
        pthread_mutex_unlock(&g->bmu);
        if (hit) peer_down(g, peer);
        return;
    }
    if (!bonded_on(g, peer, conn, &role)) {
        if (f->type == MK_GF_OPEN) {
            /* refuse, so the opener's raft sees EOF at once */
            mk_group_frame c = {.type = MK_GF_CLOSE, .group = g->id, .dir = 1, .chan = f->chan};
            (void)mk_group_send_frame(conn, &c);
        }
        return;
    }
    static const int jt[] = {[MK_GF_OPEN] = MK_GJ_OPEN,
                             [MK_GF_DATA] = MK_GJ_DATA,
                             [MK_GF_CLOSE] = MK_GJ_CLOSE,
                             [MK_GF_FWD] = MK_GJ_FWD_IN,
                             [MK_GF_FWD_RES] = MK_GJ_FWD_RES};
    if (f->type >= sizeof jt / sizeof jt[0] || !jt[f->type]) return;
    mk_gjob *j = job_new(jt[f->type]);
    if (!j) return;
    j->dir = f->dir;
    j->chan = f->chan;
    j->seq = f->seq;
    j->kind = f->kind;
    j->status = f->status;
    j->role = role;
    if (f->plen && mk_buf_append(&j->data, f->payload, f->plen) < 0) {
        job_free(g, j, 0);
        return;
    }
    j->peer = *peer;
    j->conn = mk_net_conn_ref(conn);
    (void)job_push(g, j);
}

static void h_on_frame(mk_net_conn *conn, const uint8_t *data, size_t len, void *ctx) {
    mk_groups_host *h = ctx;
    mk_group_frame f;
    mk_id peer;
    if (mk_group_frame_parse(data, len, &f, NULL) < 0) {
        mk_net_conn_close(conn, "groups: malformed frame");
        return;
    }
    mk_net_conn_peer(conn, &peer);
    outbox o;
    outbox_begin(&o);
    pthread_mutex_lock(&h->mu);
    mk_group *g = host_find(h, &f.group);
    if (g) on_group_frame(g, conn, &peer, &f);
    pthread_mutex_unlock(&h->mu);
    outbox_flush(&o);
}

static void remember_gone(mk_group *g, const mk_id *peer, bool gone);

static void h_hook(mk_network *nw, const mk_network_event *ev, void *ctx) {
    (void)nw;
    mk_groups_host *h = ctx;
    outbox o;
    outbox_begin(&o);
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++) {
        mk_group *g = h->groups[i];
        bool down = false;
        pthread_mutex_lock(&g->bmu);
        mk_gbond *b = bond_find(g, &ev->peer_id);
        if (ev->type == MK_EVENT_DEPARTED || ev->type == MK_EVENT_PURGED) {
            remember_gone(g, &ev->peer_id, ev->type == MK_EVENT_DEPARTED);
            vc_evict_locked(g, &ev->peer_id);
            if (b) down = bond_drop_locked(g, &ev->peer_id, false);
        } else {
            remember_gone(g, &ev->peer_id, false);
            mk_expiration exp, wexp = 0;
            int wrc = 0;
            if (b) {
                if (judge_locked(g, &ev->entry, &exp, &wrc, &wexp) == 0) {
                    b->expires = exp; /* a fresh signed entry may extend it */
                    if (b->claimed == MK_GROUP_WRITER && g->wvs) {
                        if (wrc == 0) {
                            b->role = MK_GROUP_WRITER;
                            b->expires = wexp;
                        } else if (b->role == MK_GROUP_WRITER) {
                            b->role = MK_GROUP_READER; /* demoted by the reconcile */
                            pthread_mutex_lock(&g->smu);
                            g->st.writers_refused++;
                            pthread_mutex_unlock(&g->smu);
                        }
                    }
                } else {
                    down = bond_drop_locked(g, &ev->peer_id, true);
                    pthread_mutex_lock(&g->smu);
                    g->st.bonds_expired++;
                    pthread_mutex_unlock(&g->smu);
                }
            }
        }
        pthread_mutex_unlock(&g->bmu);
        if (down) peer_down(g, &ev->peer_id);
    }
    pthread_mutex_unlock(&h->mu);
    outbox_flush(&o);
}

static void host_destroy(void *ptr) {
    mk_groups_host *h = ptr;
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* The host (protocol and hook context) is attached to the network and freed
 * with it, after its I/O thread stopped (mk_network_attach). */
static mk_groups_host *host_get(mk_network *nw, mk_error *err) {
    static const char host_key = 0;
    pthread_mutex_lock(&reg_mu);
    mk_groups_host *h = mk_network_attached(nw, &host_key);
    if (h) {
        pthread_mutex_unlock(&reg_mu);
        return h;
    }
    h = calloc(1, sizeof *h);
    if (!h) {
        pthread_mutex_unlock(&reg_mu);
        mk_error_set(err, MK_ENOMEM, "out of memory");
        return NULL;
    }
    h->nw = nw;
    h->net = mk_network_net(nw);
    mk_network_peer_id(nw, &h->self);
    pthread_mutex_init(&h->mu, NULL);
    if (mk_network_attach(nw, &host_key, h, host_destroy, err) < 0) {
        host_destroy(h);
        pthread_mutex_unlock(&reg_mu);
        return NULL;
    }
    mk_net_protocol p = {.name = MK_GROUPS_PROTOCOL,
                         .max_frame = MK_GF_MAX_FRAME,
                         .on_connect = h_on_connect,
                         .on_frame = h_on_frame,
                         .on_close = h_on_close,
                         .ctx = h};
    if (mk_net_register_protocol(h->net, &p, err) < 0 ||
        mk_network_add_hook(nw, h_hook, h, err) < 0) {
        /* h stays attached (the protocol may hold it) and is freed with the
         * network; it has no groups. */
        pthread_mutex_unlock(&reg_mu);
        return NULL;
    }
    pthread_mutex_unlock(&reg_mu);
    return h;
}

/* ----- departed peers ----------------------------------------------------- */

/* The gone list reuses g->cut's neighbour storage: a small array. */
typedef struct gone_tab {
    mk_id peers[MAX_GONE];
    size_t n;
} gone_tab;

static gone_tab *gone_of(mk_group *g);

static void remember_gone(mk_group *g, const mk_id *peer, bool gone) {
    gone_tab *t = gone_of(g);
    if (!t) return;
    for (size_t i = 0; i < t->n; i++)
        if (mk_id_eq(&t->peers[i], peer)) {
            if (!gone) t->peers[i] = t->peers[--t->n];
            return;
        }
    if (gone && t->n < MAX_GONE) t->peers[t->n++] = *peer;
}

static bool is_gone(mk_group *g, const mk_id *peer) {
    gone_tab *t = gone_of(g);
    for (size_t i = 0; t && i < t->n; i++)
        if (mk_id_eq(&t->peers[i], peer)) return true;
    return false;
}

/* ----- the state machine bridge (loop thread) ------------------------------ */

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
    target_complete(g, p->w, p->reply_conn, p->reply_seq, status, p->result.data, p->result.len,
                    msg);
    mk_buf_free(&p->result);
    mk_buf_free(&p->query);
    free(p);
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result) {
    mk_group *g = fsm->data;
    *result = NULL;
    mk_reader r;
    uint8_t ver;
    uint64_t rid, seq;
    mk_reader_init(&r, buf->base, buf->len);
    uint32_t n32;
    const uint8_t *cmd = NULL;
    if (mk_read_u8(&r, &ver) < 0 || ver != ENTRY_VERSION || mk_read_u64be(&r, &rid) < 0 ||
        mk_read_u64be(&r, &seq) < 0 || mk_read_u32be(&r, &n32) < 0 || n32 > MK_GROUP_MAX_COMMAND ||
        mk_read_view(&r, n32, &cmd) < 0)
        return 0; /* not ours: ignored identically everywhere */
    size_t n = n32;
    mk_buf out;
    mk_buf_init(&out, MK_GROUP_MAX_RESULT);
    pthread_mutex_lock(&g->smu);
    int rc = g->sm.apply(g->sm.state, cmd, n, &out);
    /* raft sets last_applied after this returns: this entry is the next. */
    uint64_t idx = raft_last_applied(&g->raft) + 1;
    if (idx > g->st.applied) g->st.applied = idx;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->smu);
    mk_gpending *p = rid == g->self_rid ? pending_find(g, seq) : NULL;
    if (p) {
        p->applied = true;
        p->status = rc < 0 ? rc : 0;
        mk_buf_free(&p->result);
        p->result = out;
    } else {
        mk_buf_free(&out);
    }
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
    mk_group *g = fsm->data;
    mk_buf b;
    mk_buf_init(&b, MK_GROUP_MAX_SNAPSHOT);
    pthread_mutex_lock(&g->smu);
    int rc = g->sm.snapshot ? g->sm.snapshot(g->sm.state, &b) : MK_EUNSUPPORTED;
    pthread_mutex_unlock(&g->smu);
    if (rc < 0) {
        mk_buf_free(&b);
        return RAFT_IOERR;
    }
    struct raft_buffer *arr = raft_malloc(sizeof *arr);
    void *base = raft_malloc(b.len ? b.len : 1);
    if (!arr || !base) {
        raft_free(arr);
        raft_free(base);
        mk_buf_free(&b);
        return RAFT_NOMEM;
    }
    if (b.len) memcpy(base, b.data, b.len);
    arr[0].base = base;
    arr[0].len = b.len;
    mk_buf_free(&b);
    *bufs = arr;
    *n_bufs = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
    mk_group *g = fsm->data;
    pthread_mutex_lock(&g->smu);
    int rc = g->sm.restore ? g->sm.restore(g->sm.state, buf->base, buf->len) : MK_EUNSUPPORTED;
    if (rc == 0) g->st.snapshots_restored++;
    pthread_mutex_unlock(&g->smu);
    if (rc < 0) return RAFT_CORRUPT;
    raft_free(buf->base);
    return 0;
}

/* ----- proposals (loop thread) --------------------------------------------- */

static void update_status(mk_group *g);

static void apply_cb(struct raft_apply *req, int status, void *result) {
    (void)result;
    mk_gpending *p = req->data;
    mk_group *g = p->g;
    update_status(g);
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

/* Propose on the leader; the target is a local waiter or a forwarder. */
static void lead_propose(mk_group *g, int kind, const mk_buf *payload, mk_gwaiter *w,
                         mk_net_conn *reply_conn, uint64_t reply_seq) {
    mk_gpending *p = calloc(1, sizeof *p);
    if (!p) {
        target_complete(g, w, reply_conn, reply_seq, MK_ENOMEM, NULL, 0, "out of memory");
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
    if (kind == MK_FWD_CMD) {
        /* Entry data padded to a multiple of 8 bytes (raft's encoding
         * works in 8-byte words). */
        size_t n = (ENTRY_HDR + payload->len + 7) & ~(size_t)7;
        uint8_t *base = raft_calloc(1, n);
        if (!base) {
            pending_finish(g, p, MK_ENOMEM, "out of memory");
            return;
        }
        mk_writer ew; /* the padding stays zero (calloc) */
        mk_writer_init(&ew, base, n);
        mk_write_u8(&ew, ENTRY_VERSION);
        mk_write_u64be(&ew, g->self_rid);
        mk_write_u64be(&ew, p->seq);
        mk_write_u32be(&ew, (uint32_t)payload->len);
        mk_write_bytes(&ew, payload->data, payload->len);
        struct raft_buffer b = {base, n};
        p->req.data = p;
        rc = raft_apply(&g->raft, &p->req, &b, 1, apply_cb);
        if (rc != 0) raft_free(base);
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

static bool leader_peer(mk_group *g, mk_id *out) {
    raft_id id;
    const char *addr;
    raft_leader(&g->raft, &id, &addr);
    return id != 0 && addr && mk_id_from_hex(out, addr, NULL) == 0;
}

static void do_propose(mk_group *g, mk_gjob *j) {
    mk_gwaiter *w = j->w;
    j->w = NULL;
    if (raft_state(&g->raft) == RAFT_LEADER) {
        lead_propose(g, j->kind, &j->data, w, NULL, 0);
        return;
    }
    mk_id leader;
    mk_net_conn *conn = NULL;
    if (leader_peer(g, &leader) && !mk_id_eq(&leader, &g->self))
        conn = mk_group_bond_conn(g, &leader);
    if (!conn) {
        waiter_complete(g, w, MK_EUNAVAILABLE, NULL, 0, "no reachable leader");
        return;
    }
    mk_gfwd *f = calloc(1, sizeof *f);
    if (!f) {
        mk_net_conn_unref(conn);
        waiter_complete(g, w, MK_ENOMEM, NULL, 0, "out of memory");
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
    mk_net_conn_unref(conn);
    if (rc < 0) {
        free(f);
        waiter_complete(g, w, MK_EUNAVAILABLE, NULL, 0, "could not forward to the leader");
        return;
    }
    f->next = g->fwds;
    g->fwds = f;
}

static void do_fwd_in(mk_group *g, mk_gjob *j) {
    mk_net_conn *conn = j->conn;
    j->conn = NULL;
    if (j->kind == MK_FWD_CMD && j->role == MK_GROUP_READER) {
        pthread_mutex_lock(&g->smu);
        g->st.refused_readers++;
        pthread_mutex_unlock(&g->smu);
        target_complete(g, NULL, conn, j->seq, MK_EPOLICY, NULL, 0, NULL);
        return;
    }
    if (raft_state(&g->raft) != RAFT_LEADER) {
        target_complete(g, NULL, conn, j->seq, MK_EUNAVAILABLE, NULL, 0, NULL);
        return;
    }
    lead_propose(g, j->kind, &j->data, NULL, conn, j->seq);
}

static void do_fwd_res(mk_group *g, mk_gjob *j) {
    for (mk_gfwd **pp = &g->fwds; *pp; pp = &(*pp)->next) {
        mk_gfwd *f = *pp;
        /* Only the peer it went to may answer (over a bond: checked). */
        if (f->seq != j->seq || !mk_id_eq(&f->peer, &j->peer)) continue;
        *pp = f->next;
        waiter_complete(g, f->w, j->status, j->data.data, j->data.len,
                        j->status == MK_EPOLICY ? "refused by the leader: readers cannot write"
                                                : NULL);
        free(f);
        return;
    }
}

/* ----- membership (loop thread, leader) ------------------------------------ */

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

static void reconcile(mk_group *g) {
    if (raft_state(&g->raft) != RAFT_LEADER || g->changing) return;
    bsnap bs[MK_GROUP_MAX_MEMBERS];
    size_t nb = 0;
    int64_t now = mk_now();
    pthread_mutex_lock(&g->bmu);
    for (mk_gbond *b = g->bonds; b && nb < MK_GROUP_MAX_MEMBERS; b = b->next)
        if (bond_ok(b, now) && !mk_group_is_cut(g, &b->peer))
            bs[nb++] = (bsnap){b->peer, b->rid, b->role};
    pthread_mutex_unlock(&g->bmu);
    g->change.data = g;
    for (size_t i = 0; i < nb; i++) {
        const struct raft_server *s = cfg_find(g, bs[i].rid);
        int want = bs[i].role == MK_GROUP_READER ? RAFT_STANDBY : RAFT_VOTER;
        int rc = 0;
        if (!s) {
            if (g->raft.configuration.n >= MK_GROUP_MAX_MEMBERS) continue;
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
        if (rc != 0) g->changing = false;
        return;
    }
    /* Removals: a lapsed admission (signed entry no longer lists the group
     * or fails a validator) or a signed departure. */
    for (unsigned i = 0; i < g->raft.configuration.n; i++) {
        const struct raft_server *s = &g->raft.configuration.servers[i];
        if (s->id == g->self_rid) continue;
        mk_id peer;
        if (mk_id_from_hex(&peer, s->address, NULL) < 0) continue;
        bool lapsed = false;
        mk_peer_entry e;
        pthread_mutex_lock(&g->bmu);
        if (is_gone(g, &peer)) {
            lapsed = true;
        } else if (mk_network_get(g->nw, &peer, &e) == 0) {
            mk_expiration exp;
            lapsed = judge_locked(g, &e, &exp, NULL, NULL) < 0;
            mk_peer_entry_free(&e);
        }
        pthread_mutex_unlock(&g->bmu);
        if (!lapsed) continue;
        char sh[9];
        mk_id_short(&peer, sh);
        mk_log(MK_LOG_INFO, "groups", "removing lapsed member %s", sh);
        g->changing = true;
        if (raft_remove(&g->raft, &g->change, s->id, change_cb) != 0) g->changing = false;
        return;
    }
}

/* Candidates: peers whose signed entry lists the group and passes. */
static void seek_members(mk_group *g) {
    mk_peer_entry *es;
    size_t n;
    if (mk_network_peers(g->nw, &es, &n) < 0) return;
    int64_t now = mk_now();
    for (size_t i = 0; i < n; i++) {
        mk_peer_entry *e = &es[i];
        if (!mk_peer_entry_serves(e, MK_SERVED_GROUP, &g->id) || e->n_addrs == 0) continue;
        bool dial = false;
        mk_net_conn *resend = NULL;
        pthread_mutex_lock(&g->bmu);
        mk_expiration exp;
        if (!mk_group_is_cut(g, &e->peer_id) && judge_locked(g, e, &exp, NULL, NULL) == 0) {
            mk_gbond *b = bond_find(g, &e->peer_id);
            if (!b || !mk_net_conn_is_open(b->conn)) {
                dial = mk_id_cmp(&g->self, &e->peer_id) < 0;
            } else if (!bond_ok(b, now) && mk_sys_mono_ms() - b->hello_at >= HELLO_RETRY_MS) {
                b->hello_at = mk_sys_mono_ms();
                resend = mk_net_conn_ref(b->conn);
                b->sent_hello = true;
                b->expires = exp;
            }
        }
        pthread_mutex_unlock(&g->bmu);
        if (resend) {
            (void)send_hello(g, resend, false);
            mk_net_conn_unref(resend);
        }
        if (dial)
            (void)mk_net_dial(g->net, &e->peer_id, e->addrs[0], MK_GROUPS_PROTOCOL, NULL, dial_cb,
                              g->host, NULL);
    }
    mk_peer_entries_free(es, n);
}

static void fwd_fail_peer(mk_group *g, const mk_id *peer);

static void expire_bonds(mk_group *g) {
    int64_t now = mk_now();
    mk_id down[MK_GROUP_MAX_MEMBERS];
    size_t nd = 0;
    pthread_mutex_lock(&g->bmu);
    for (mk_gbond *b = g->bonds, *n; b; b = n) {
        n = b->next;
        if (now >= b->expires && nd < MK_GROUP_MAX_MEMBERS) {
            down[nd++] = b->peer;
            bond_drop_locked(g, &b->peer, true);
        }
    }
    pthread_mutex_unlock(&g->bmu);
    if (nd) {
        pthread_mutex_lock(&g->smu);
        g->st.bonds_expired += nd;
        pthread_mutex_unlock(&g->smu);
    }
    for (size_t i = 0; i < nd; i++) {
        mk_gbridge_peer_down(g, &down[i]);
        fwd_fail_peer(g, &down[i]);
    }
}

static void fwd_purge(mk_group *g, bool all) {
    uint64_t now = mk_sys_mono_ms();
    for (mk_gfwd **pp = &g->fwds; *pp;) {
        mk_gfwd *f = *pp;
        if (all || now - f->at > FWD_MAX_AGE_MS) {
            *pp = f->next;
            waiter_complete(g, f->w, all ? MK_ESTATE : MK_EUNAVAILABLE, NULL, 0,
                            "no answer from the leader");
            free(f);
        } else {
            pp = &f->next;
        }
    }
}

/* The bond with a leader we forwarded to ended: its answers will not come;
 * the callers retry (the command may or may not have committed). */
static void fwd_fail_peer(mk_group *g, const mk_id *peer) {
    for (mk_gfwd **pp = &g->fwds; *pp;) {
        mk_gfwd *f = *pp;
        if (mk_id_eq(&f->peer, peer)) {
            *pp = f->next;
            waiter_complete(g, f->w, MK_EUNAVAILABLE, NULL, 0, "lost the bond with the leader");
            free(f);
        } else {
            pp = &f->next;
        }
    }
}

static void on_tick(uv_timer_t *t) {
    mk_group *g = t->data;
    if (g->loop_stopping) return;
    expire_bonds(g);
    seek_members(g);
    reconcile(g);
    fwd_purge(g, false);
}

static void update_status(mk_group *g) {
    unsigned nb = 0;
    int64_t now = mk_now();
    pthread_mutex_lock(&g->bmu);
    for (mk_gbond *b = g->bonds; b; b = b->next)
        if (bond_ok(b, now) && !mk_group_is_cut(g, &b->peer)) nb++;
    unsigned nvc = (unsigned)g->n_vc;
    pthread_mutex_unlock(&g->bmu);
    pthread_mutex_lock(&g->smu);
    mk_group_status *s = &g->st;
    s->is_leader = raft_state(&g->raft) == RAFT_LEADER;
    s->leader_known = leader_peer(g, &s->leader);
    s->term = g->raft.current_term;
    if (raft_last_applied(&g->raft) > s->applied) s->applied = raft_last_applied(&g->raft);
    s->commit = g->raft.commit_index;
    s->members = g->raft.configuration.n;
    s->voters = 0;
    s->in_config = false;
    for (unsigned i = 0; i < g->raft.configuration.n; i++) {
        if (g->raft.configuration.servers[i].role == RAFT_VOTER) s->voters++;
        if (g->raft.configuration.servers[i].id == g->self_rid) s->in_config = true;
    }
    s->bonds = nb;
    s->vcache = nvc;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->smu);
}

static void on_fast(uv_timer_t *t) {
    mk_group *g = t->data;
    if (g->loop_stopping) return;
    mk_gbridge_flush(g);
    update_status(g);
}

/* ----- the loop: jobs and shutdown ----------------------------------------- */

static void handle_closed(uv_handle_t *h) {
    (void)h;
}

static void raft_closed(struct raft *r) {
    mk_group *g = r->data;
    raft_uv_close(&g->io);
    g->raft_closed = true;
    while (g->pending)
        pending_finish(g, g->pending, MK_ESTATE, "group stopped");
    fwd_purge(g, true);
    uv_close((uv_handle_t *)&g->tick, handle_closed);
    uv_close((uv_handle_t *)&g->fast, handle_closed);
    uv_close((uv_handle_t *)&g->async, handle_closed);
}

static void begin_shutdown(mk_group *g) {
    if (g->loop_stopping) return;
    g->loop_stopping = true;
    uv_timer_stop(&g->tick);
    uv_timer_stop(&g->fast);
    g->raft.data = g;
    raft_close(&g->raft, raft_closed);
}

static void do_transfer(mk_group *g, mk_gjob *j);

static void run_job(mk_group *g, mk_gjob *j) {
    switch (j->type) {
    case MK_GJ_PROPOSE:
        do_propose(g, j);
        break;
    case MK_GJ_OPEN:
        mk_gbridge_on_open(g, &j->peer, j->conn, j->chan);
        break;
    case MK_GJ_DATA:
        mk_gbridge_on_data(g, &j->peer, j->dir, j->chan, j->data.data, j->data.len);
        break;
    case MK_GJ_CLOSE:
        mk_gbridge_on_close(g, &j->peer, j->dir, j->chan);
        break;
    case MK_GJ_FWD_IN:
        do_fwd_in(g, j);
        break;
    case MK_GJ_FWD_RES:
        do_fwd_res(g, j);
        break;
    case MK_GJ_PEER_DOWN:
        mk_gbridge_peer_down(g, &j->peer);
        fwd_fail_peer(g, &j->peer);
        break;
    case MK_GJ_TRANSFER:
        do_transfer(g, j);
        break;
    default:
        break;
    }
}

static void on_async(uv_async_t *a) {
    mk_group *g = a->data;
    pthread_mutex_lock(&g->qmu);
    mk_gjob *list = g->qhead;
    g->qhead = g->qtail = NULL;
    bool stop = g->stopping;
    pthread_mutex_unlock(&g->qmu);
    while (list) {
        mk_gjob *j = list;
        list = j->next;
        if (!g->loop_stopping) run_job(g, j);
        job_free(g, j, g->loop_stopping ? MK_ESTATE : 0);
    }
    if (!g->loop_stopping) mk_gbridge_connected(g, NULL);
    if (stop) begin_shutdown(g);
}

static void *loop_main(void *arg) {
    mk_group *g = arg;
    /* Raft's streams and the bridge's pumps are socketpairs written with
     * write(2) on this thread: a write after the other end closed must
     * give EPIPE, not kill the process. Blocked here, for this thread
     * only (it is also blocked from creation: see mk_group_join); the
     * process's disposition is left alone. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    uv_run(&g->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ----- the public API ------------------------------------------------------ */

void mk_group_config_init(mk_group_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->role = MK_GROUP_WRITER;
}

static int mkdir_p(const char *path) {
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
            tmp[i] = c;
        }
    }
    return 0;
}

/* The departed-peer table lives after the group (one allocation). */
typedef struct group_alloc {
    mk_group g;
    gone_tab gone;
} group_alloc;

static gone_tab *gone_of(mk_group *g) {
    return &((group_alloc *)g)->gone;
}

static void host_remove(mk_group *g) {
    mk_groups_host *h = g->host;
    if (!h) return;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++)
        if (h->groups[i] == g) {
            h->groups[i] = h->groups[--h->n];
            break;
        }
    pthread_mutex_unlock(&h->mu);
}

static void group_destroy(mk_group *g) {
    pthread_mutex_lock(&g->qmu);
    mk_gjob *list = g->qhead;
    g->qhead = g->qtail = NULL;
    pthread_mutex_unlock(&g->qmu);
    while (list) {
        mk_gjob *j = list;
        list = j->next;
        job_free(g, j, MK_ESTATE);
    }
    pthread_mutex_lock(&g->bmu);
    while (g->bonds)
        bond_drop_locked(g, &g->bonds->peer, false);
    pthread_mutex_unlock(&g->bmu);
    uv_loop_close(&g->loop);
    free(g->vc);
    free(g->data_dir);
    pthread_mutex_destroy(&g->qmu);
    pthread_mutex_destroy(&g->bmu);
    pthread_mutex_destroy(&g->smu);
    pthread_cond_destroy(&g->cond);
    free(g);
}

int mk_group_join(mk_network *nw, const mk_group_config *cfg, mk_group **out, mk_error *err) {
    *out = NULL;
    if (!nw || !cfg || !cfg->sm || !cfg->sm->apply || !cfg->data_dir)
        return mk_error_set(err, MK_EINVAL, "group config needs a network, sm and data_dir");
    if (cfg->role != MK_GROUP_WRITER && cfg->role != MK_GROUP_READER)
        return mk_error_set(err, MK_EINVAL, "bad role");
    if (mkdir_p(cfg->data_dir) != 0)
        return mk_error_set(err, MK_EIO, "cannot create %s: %s", cfg->data_dir, strerror(errno));
    group_alloc *ga = calloc(1, sizeof *ga);
    if (!ga) return mk_error_set(err, MK_ENOMEM, "out of memory");
    mk_group *g = &ga->g;
    g->nw = nw;
    g->net = mk_network_net(nw);
    g->cfg = *cfg;
    g->sm = *cfg->sm;
    g->vs = cfg->validators;
    g->key = cfg->key;
    g->data_dir = strdup(cfg->data_dir);
    g->cfg.data_dir = g->data_dir;
    if (!g->cfg.election_ms) g->cfg.election_ms = 1000;
    if (!g->cfg.heartbeat_ms) g->cfg.heartbeat_ms = 100;
    if (!g->cfg.tick_ms) g->cfg.tick_ms = 100;
    mk_network_peer_id(nw, &g->self);
    g->self_rid = mk_group_rid_of(&g->self);
    mk_id_to_hex(&g->self, g->self_addr);
    mk_group_id_derive(&g->key, &cfg->sm_signature, g->vs, &g->id);
    if (cfg->writer_validators && cfg->writer_validators->n > 0) {
        /* Members must agree on who may write: the writer set is part of
         * the group's identity. */
        g->wvs = cfg->writer_validators;
        static const char dom[] = "mosaik.groups.writers.v1";
        uint8_t d[sizeof dom - 1 + MK_ID_LEN];
        mk_id ws, id2;
        mk_validator_set_signature(g->wvs, &ws);
        mk_writer w;
        mk_writer_init(&w, d, sizeof d);
        mk_write_bytes(&w, dom, sizeof dom - 1);
        mk_write_bytes(&w, ws.b, MK_ID_LEN);
        mk_id_derive(&id2, &g->id, d, mk_writer_len(&w));
        g->id = id2;
    }
    (void)mk_random_bytes(&g->next_seq, sizeof g->next_seq);
    g->next_seq >>= 1;
    pthread_mutex_init(&g->qmu, NULL);
    pthread_mutex_init(&g->bmu, NULL);
    pthread_mutex_init(&g->smu, NULL);
    mk_cond_init_mono(&g->cond);
    if (!g->data_dir || uv_loop_init(&g->loop) != 0) {
        free(g->data_dir);
        free(ga);
        return mk_error_set(err, MK_ENOMEM, "cannot initialise the group loop");
    }
    uv_async_init(&g->loop, &g->async, on_async);
    g->async.data = g;
    uv_timer_init(&g->loop, &g->tick);
    uv_timer_init(&g->loop, &g->fast);
    g->tick.data = g->fast.data = g;

    g->fsm.version = 1;
    g->fsm.data = g;
    g->fsm.apply = fsm_apply;
    g->fsm.snapshot = fsm_snapshot;
    g->fsm.restore = fsm_restore;
    mk_gbridge_setup(g);
    int rc = raft_uv_init(&g->io, &g->loop, g->data_dir, &g->trans);
    if (rc != 0) {
        mk_error_set(err, MK_EIO, "raft_uv_init(%s): %s", g->data_dir, g->io.errmsg);
        uv_close((uv_handle_t *)&g->async, NULL);
        uv_close((uv_handle_t *)&g->tick, NULL);
        uv_close((uv_handle_t *)&g->fast, NULL);
        uv_run(&g->loop, UV_RUN_DEFAULT);
        group_destroy(g);
        return MK_EIO;
    }
    raft_uv_set_connect_retry_delay(&g->io, 100);
    rc = raft_init(&g->raft, &g->io, &g->fsm, g->self_rid, g->self_addr);
    if (rc != 0) {
        mk_error_set(err, MK_EIO, "raft_init: %s", raft_strerror(rc));
        raft_uv_close(&g->io);
        uv_close((uv_handle_t *)&g->async, NULL);
        uv_close((uv_handle_t *)&g->tick, NULL);
        uv_close((uv_handle_t *)&g->fast, NULL);
        uv_run(&g->loop, UV_RUN_DEFAULT);
        group_destroy(g);
        return MK_EIO;
    }
    raft_set_election_timeout(&g->raft, g->cfg.election_ms);
    raft_set_heartbeat_timeout(&g->raft, g->cfg.heartbeat_ms);
    raft_set_pre_vote(&g->raft, true);
    if (cfg->snapshot_threshold) raft_set_snapshot_threshold(&g->raft, cfg->snapshot_threshold);
    if (cfg->snapshot_trailing) raft_set_snapshot_trailing(&g->raft, cfg->snapshot_trailing);
    if (cfg->bootstrap) {
        struct raft_configuration conf;
        raft_configuration_init(&conf);
        rc = raft_configuration_add(&conf, g->self_rid, g->self_addr, RAFT_VOTER);
        if (rc == 0) rc = raft_bootstrap(&g->raft, &conf);
        raft_configuration_close(&conf);
        if (rc != 0 && rc != RAFT_CANTBOOTSTRAP)
            mk_log(MK_LOG_WARN, "groups", "bootstrap: %s", raft_strerror(rc));
    }
    rc = raft_start(&g->raft);
    if (rc != 0) {
        mk_error_set(err, MK_EIO, "raft_start: %s", raft_errmsg(&g->raft));
        begin_shutdown(g);
        uv_run(&g->loop, UV_RUN_DEFAULT);
        group_destroy(g);
        return MK_EIO;
    }
    uv_timer_start(&g->tick, on_tick, g->cfg.tick_ms, g->cfg.tick_ms);
    uv_timer_start(&g->fast, on_fast, 10, 10);

    mk_groups_host *h = host_get(nw, err);
    int jrc = 0;
    if (!h) {
        jrc = err ? err->code : MK_ESTATE;
    } else {
        pthread_mutex_lock(&h->mu);
        if (host_find(h, &g->id)) {
            jrc = mk_error_set(err, MK_EBUSY, "this node already joined that group");
        } else if (h->n == HOST_MAX_GROUPS) {
            jrc = mk_error_set(err, MK_EBUSY, "too many groups on one network");
        } else {
            g->host = h;
            h->groups[h->n++] = g;
        }
        pthread_mutex_unlock(&h->mu);
    }
    if (jrc == 0) jrc = mk_network_add_served(nw, MK_SERVED_GROUP, &g->id, err);
    if (jrc == 0) {
        /* The loop thread inherits a mask with SIGPIPE blocked. */
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &set, &old);
        if (pthread_create(&g->thread, NULL, loop_main, g) != 0)
            jrc = mk_error_set(err, MK_ENOMEM, "cannot start the group thread");
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (jrc < 0) {
        host_remove(g);
        pthread_mutex_lock(&g->qmu);
        g->stopping = true;
        pthread_mutex_unlock(&g->qmu);
        begin_shutdown(g);
        uv_run(&g->loop, UV_RUN_DEFAULT);
        group_destroy(g);
        return jrc < 0 ? jrc : MK_ESTATE;
    }
    g->thread_started = true;
    *out = g;
    return 0;
}

void mk_group_free(mk_group *g) {
    if (!g) return;
    host_remove(g);
    (void)mk_network_remove_served(g->nw, MK_SERVED_GROUP, &g->id, NULL);
    pthread_mutex_lock(&g->bmu);
    while (g->bonds)
        bond_drop_locked(g, &g->bonds->peer, true);
    pthread_mutex_unlock(&g->bmu);
    pthread_mutex_lock(&g->qmu);
    g->stopping = true;
    pthread_mutex_unlock(&g->qmu);
    uv_async_send(&g->async);
    if (g->thread_started) pthread_join(g->thread, NULL);
    group_destroy(g);
}

void mk_group_id(const mk_group *g, mk_id *out) {
    *out = g->id;
}

static int call(mk_group *g, int kind, bool unchecked, const void *data, size_t len, mk_buf *result,
                uint32_t timeout_ms, mk_error *err) {
    if (len > MK_GROUP_MAX_COMMAND) return mk_error_set(err, MK_ETOOBIG, "command too big");
    if (kind == MK_FWD_CMD && !unchecked && g->cfg.role == MK_GROUP_READER)
        return mk_error_set(err, MK_EPOLICY, "a reader cannot write");
    if (!timeout_ms) timeout_ms = MK_GROUP_DEFAULT_TIMEOUT_MS;
    uint64_t deadline = mk_sys_mono_ms() + timeout_ms;
    for (;;) {
        mk_gwaiter *w = waiter_new();
        mk_gjob *j = job_new(MK_GJ_PROPOSE);
        if (!w || !j || mk_buf_append(&j->data, data, len) < 0) {
            if (w) {
                mk_buf_free(&w->result);
                free(w);
            }
            if (j) job_free(g, j, 0);
            return mk_error_set(err, MK_ENOMEM, "out of memory");
        }
        j->kind = (uint8_t)kind;
        j->unchecked = unchecked;
        j->w = w;
        /* w has two references: ours, and the completer's (job, pending
         * record or forward record), released when it completes w. */
        if (job_push(g, j) < 0) {
            pthread_mutex_lock(&g->smu);
            waiter_release_locked(w);
            pthread_mutex_unlock(&g->smu);
            return mk_error_set(err, MK_ESTATE, "group stopped");
        }
        struct timespec ts;
        uint64_t now = mk_sys_mono_ms();
        mk_deadline_after(&ts, (uint32_t)(deadline > now ? deadline - now : 0));
        pthread_mutex_lock(&g->smu);
        while (!w->done)
            if (pthread_cond_timedwait(&g->cond, &g->smu, &ts) == ETIMEDOUT) break;
        bool done = w->done;
        int st = w->status;
        if (done && result && w->result.len)
            (void)mk_buf_append(result, w->result.data, w->result.len);
        char msg[sizeof w->msg];
        memcpy(msg, w->msg, sizeof msg);
        waiter_release_locked(w);
        pthread_mutex_unlock(&g->smu);
        if (!done) return mk_error_set(err, MK_ETIMEDOUT, "no commit within %u ms", timeout_ms);
        if (st == MK_EUNAVAILABLE && mk_sys_mono_ms() + 30 < deadline) {
            mk_sleep_ms(30);
            continue;
        }
        if (st < 0) return mk_error_set(err, st, "%s", msg[0] ? msg : mk_strerror(st));
        return st;
    }
}

int mk_group_apply(mk_group *g, const void *cmd, size_t len, mk_buf *result, uint32_t timeout_ms,
                   mk_error *err) {
    return call(g, MK_FWD_CMD, false, cmd, len, result, timeout_ms, err);
}

int mk_group_apply_unchecked(mk_group *g, const void *cmd, size_t len, mk_buf *result,
                             uint32_t timeout_ms, mk_error *err) {
    return call(g, MK_FWD_CMD, true, cmd, len, result, timeout_ms, err);
}

int mk_group_query(mk_group *g, mk_group_consistency c, const void *q, size_t len, mk_buf *result,
                   uint32_t timeout_ms, mk_error *err) {
    if (c == MK_GROUP_STRONG) return call(g, MK_FWD_QUERY, false, q, len, result, timeout_ms, err);
    if (!g->sm.query) return mk_error_set(err, MK_EUNSUPPORTED, "no query function");
    pthread_mutex_lock(&g->smu);
    int rc = g->sm.query(g->sm.state, q, len, result);
    pthread_mutex_unlock(&g->smu);
    return rc < 0 ? mk_error_set(err, rc, "query failed") : rc;
}

static bool cond_met(const mk_group_status *s, mk_group_condition c, uint64_t arg) {
    switch (c) {
    case MK_GROUP_LEADER_KNOWN:
        return s->leader_known;
    case MK_GROUP_ONLINE:
        return s->leader_known && s->in_config && s->applied >= s->commit;
    case MK_GROUP_INDEX:
        return s->applied >= arg;
    case MK_GROUP_IS_LEADER:
        return s->is_leader;
    case MK_GROUP_MEMBERS:
        return s->members >= arg;
    }
    return false;
}

int mk_group_wait(mk_group *g, mk_group_condition c, uint64_t arg, uint32_t timeout_ms) {
    struct timespec ts;
    mk_deadline_after(&ts, timeout_ms);
    pthread_mutex_lock(&g->smu);
    int rc = 0;
    while (!cond_met(&g->st, c, arg))
        if (pthread_cond_timedwait(&g->cond, &g->smu, &ts) == ETIMEDOUT) {
            rc = cond_met(&g->st, c, arg) ? 0 : MK_ETIMEDOUT;
            break;
        }
    pthread_mutex_unlock(&g->smu);
    return rc;
}

void mk_group_status_get(mk_group *g, mk_group_status *out) {
    pthread_mutex_lock(&g->smu);
    *out = g->st;
    pthread_mutex_unlock(&g->smu);
}

bool mk_group_bonded(mk_group *g, const mk_id *peer) {
    mk_net_conn *c = mk_group_bond_conn(g, peer);
    if (c) mk_net_conn_unref(c);
    return c != NULL;
}

static void xfer_cb(struct raft_transfer *req) {
    free(req);
}

static void do_transfer(mk_group *g, mk_gjob *j) {
    if (raft_state(&g->raft) != RAFT_LEADER) return;
    struct raft_transfer *req = calloc(1, sizeof *req);
    if (!req) return;
    uint64_t rid = mk_id_is_zero(&j->peer) ? 0 : mk_group_rid_of(&j->peer);
    if (raft_transfer(&g->raft, req, rid, xfer_cb) != 0) free(req);
}

int mk_group_transfer(mk_group *g, const mk_id *to, mk_error *err) {
    mk_gjob *j = job_new(MK_GJ_TRANSFER);
    if (!j) return mk_error_set(err, MK_ENOMEM, "out of memory");
    if (to) j->peer = *to;
    int rc = job_push(g, j);
    return rc < 0 ? mk_error_set(err, rc, "group stopped") : 0;
}

void mk_group_partition(mk_group *g, const mk_id *peer, bool cut) {
    bool down = false;
    pthread_mutex_lock(&g->bmu);
    size_t i;
    for (i = 0; i < g->n_cut; i++)
        if (mk_id_eq(&g->cut[i], peer)) break;
    if (cut && i == g->n_cut && g->n_cut < 8) g->cut[g->n_cut++] = *peer;
    if (!cut && i < g->n_cut) g->cut[i] = g->cut[--g->n_cut];
    if (cut) down = bond_drop_locked(g, peer, false);
    pthread_mutex_unlock(&g->bmu);
    if (down || cut) peer_down(g, peer);
}

void mk_group_vcache_limit(mk_group *g, size_t cap) {
    pthread_mutex_lock(&g->bmu);
    g->max_vc = cap;
    pthread_mutex_unlock(&g->bmu);
}
