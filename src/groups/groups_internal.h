/*
 * groups_internal.h — shared structures of the src/groups sources (not public).
 *
 * Files, one job each (docs/groups.md has the picture):
 *   host.c     the per-network host: protocol "groups", the discovery hook,
 *              dials, and sending (the only file that attaches to net and
 *              discovery);
 *   frame.c    the frame formats: parsing and body encoding (pure);
 *   ident.c    group id, key from validators, raft ids, the bond MAC (pure);
 *   admit.c    admission: judging signed entries, the validation cache;
 *   bond.c     bonds: the table, the HELLO/MAC handshake, bonded frames and
 *              entry events into the group, seeking and expiry;
 *   fsm.c      the raft FSM, proposals and forwarding to the leader;
 *   member.c   membership reconciliation by the leader, departed peers;
 *   bridge.c   raft's transport over the bonds;
 *   loop.c     the group's loop thread: jobs, timers, status, shutdown;
 *   group.c    lifecycle: join, free;
 *   specs.c    the group's validators and key from its configuration;
 *   call.c     the blocking user calls and their waiters.
 *
 * Threads: the network's I/O thread (frames, hooks, dial completions) and
 * the group's own loop thread (raft, the bridge, proposals). Locks:
 *   host->mu  the host's group table; held while a frame or hook is being
 *             dispatched to a group, so removal from the table is a barrier;
 *   g->bmu    bonds, the validation cache, the cut and departed lists;
 *   g->qmu    the job queue into the loop;
 *   g->smu    the state machine, the status snapshot and waiters.
 * Order: host->mu, then g->bmu, then g->qmu / g->smu. The loop thread never
 * takes host->mu.
 */
#ifndef MK_GROUPS_INTERNAL_H
#define MK_GROUPS_INTERNAL_H

#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "mosaik/discovery.h"
#include "mosaik/groups.h"

/* Frame types of protocol "groups": [type u8][group id 32][body]. */
enum {
    MK_GF_HELLO = 1,   /* role u8, mac 32 */
    MK_GF_OPEN = 2,    /* chan u32 (opener's number) */
    MK_GF_DATA = 3,    /* dir u8, chan u32, bytes */
    MK_GF_CLOSE = 4,   /* dir u8, chan u32 */
    MK_GF_FWD = 5,     /* seq u64, kind u8, payload */
    MK_GF_FWD_RES = 6, /* seq u64, status u32 (two's complement), payload */
    MK_GF_BYE = 7,     /* the sender ended its bond */
    MK_GF_REFUSE = 8,  /* the sender refused our HELLO: reason (1..MK_GF_MAX_REASON bytes) */
};
#define MK_GF_MAX_REASON MK_REFUSAL_REASON_MAX
#define MK_GF_HDR (1 + MK_ID_LEN)
#define MK_GF_CHUNK ((size_t)64 << 10)
#define MK_GF_MAX_FRAME (MK_GROUP_MAX_COMMAND + 256)
#define MK_GF_MAX_PUMP_QUEUE ((size_t)64 << 20)
#define MK_GF_MAX_CHANS 2 /* raft channels per peer and direction */

/* Forward kinds. MK_FWD_ONCE is a command with its exactly-once tag in
 * front of it: [client id u64][seq u64][floor u64][command] (call.c);
 * MK_FWD_CMD (untagged, at-least-once) is still accepted from peers. */
enum { MK_FWD_CMD = 0, MK_FWD_QUERY = 1, MK_FWD_ONCE = 2 };
#define MK_FWD_ONCE_HDR 24

#define MK_GROUP_MAX_CUT 8   /* partitioned peers (tests) */
#define MK_GROUP_MAX_GONE 64 /* remembered departures */

typedef struct mk_groups_host mk_groups_host;

typedef struct mk_gbond {
    struct mk_gbond *next;
    mk_id peer;
    uint64_t rid;
    mk_transport_conn *conn; /* referenced */
    bool sent_hello, got_hello;
    uint8_t claimed; /* the role the remote's HELLO claims */
    uint8_t role;    /* its effective role: a writer claim refused by the
                        writer validators makes it a reader */
    mk_expiration expires;
    uint64_t hello_at; /* monotonic ms of our last unsolicited HELLO */
} mk_gbond;

typedef struct mk_gvcache {
    mk_id peer;
    uint64_t version;
    int rc;
    mk_expiration expires;
    int wrc;                        /* writer validators' verdict (0 when there are none) */
    mk_expiration wexpires;         /* when the writer admission ends */
    uint64_t used;                  /* LRU stamp */
    bool listed;                    /* the entry lists the group (a refusal is worth telling) */
    uint64_t told;                  /* the entry version whose refusal we dialed to tell */
    char why[MK_GF_MAX_REASON + 1]; /* the validators' reason of a refusal */
} mk_gvcache;
#define MK_GVCACHE_MAX 4096

/* A waiter of a user call (shared by the caller and the loop). */
typedef struct mk_gwaiter {
    int refs;            /* under g->smu */
    pthread_cond_t cond; /* signalled (under g->smu) when done */
    bool done;
    int status;
    mk_buf result;
    char msg[320]; /* room for "not admitted: <peer>: <reason>" */
} mk_gwaiter;

typedef struct mk_gjob mk_gjob;
struct mk_gjob {
    mk_gjob *next;
    int type;
    mk_id peer;
    mk_transport_conn *conn; /* referenced, may be NULL */
    uint8_t dir, kind, role;
    uint32_t chan;
    uint64_t seq;
    int status;
    mk_gwaiter *w;
    mk_buf data;
};
enum {
    MK_GJ_PROPOSE = 1, /* kind: cmd or query; w */
    MK_GJ_OPEN,        /* remote opened a raft channel */
    MK_GJ_DATA,
    MK_GJ_CLOSE,
    MK_GJ_FWD_IN,    /* a forwarded command/query arrived (role of the bond) */
    MK_GJ_FWD_RES,   /* an answer to our forward */
    MK_GJ_PEER_DOWN, /* the bond with peer ended: drop its channels */
    MK_GJ_TRANSFER,  /* hand leadership to peer (zero: any voter) */
};

/* ----- raftwire.c: the raft wire on a channel (pure) ---------------------- */

/* The channel hello: magic "mkraft\0\1", then the cluster identity. */
#define MK_GRAFT_HELLO_LEN 32
/* Caps that do not depend on settings (see mk_graft_limits_init). */
#define MK_GRAFT_MAX_ADDR 255 /* bytes of a raft address (ours: 64 hex digits) */
#define MK_GRAFT_MAX_CONF                                                                          \
    ((1 + 8 + MK_GROUP_MAX_MEMBERS * (8 + MK_GRAFT_MAX_ADDR + 1 + 1) + 7) & ~(size_t)7)
/* One entry's data: a command (MK_GROUP_MAX_COMMAND) and fsm.c's header,
 * with room for that header to grow. */
#define MK_GRAFT_MAX_ENTRY (MK_GROUP_MAX_COMMAND + 4096)

/* libraft's message and entry types. */
enum {
    MK_GRAFT_AE = 1,  /* AppendEntries (and heartbeats) */
    MK_GRAFT_AER = 2, /* AppendEntriesResult */
    MK_GRAFT_RV = 3,  /* RequestVote */
    MK_GRAFT_RVR = 4, /* RequestVoteResult */
    MK_GRAFT_IS = 5,  /* InstallSnapshot */
    MK_GRAFT_TN = 6,  /* TimeoutNow */
};
enum { MK_GRAFT_COMMAND = 1, MK_GRAFT_BARRIER = 2, MK_GRAFT_CHANGE = 3 };

/* The identity of a raft cluster: who bootstrapped it and a random nonce
 * (rid 0: not known yet). */
typedef struct mk_gcluster {
    uint64_t rid;
    uint8_t nonce[16];
} mk_gcluster;
bool mk_gcluster_known(const mk_gcluster *c);
bool mk_gcluster_eq(const mk_gcluster *a, const mk_gcluster *b);
void mk_graft_hello_write(uint8_t out[MK_GRAFT_HELLO_LEN], const mk_gcluster *c);

typedef struct mk_graft_limits {
    bool trusted; /* our own raft's stream: framing only */
    uint64_t max_entries, max_entry, max_payload, max_snapshot, max_header;
} mk_graft_limits;
/* Caps for a group with these snapshot settings (0: libraft's defaults)
 * and whether its state machine takes snapshots. */
void mk_graft_limits_init(mk_graft_limits *l, unsigned threshold, unsigned trailing,
                          bool snapshots);
void mk_graft_limits_trusted(mk_graft_limits *l);
bool mk_graft_conf_valid(const uint8_t *b, size_t len);

/* A decoded header (fields by type; payload: bytes after the header). */
typedef struct mk_graft_msg {
    uint64_t type, hlen, term;
    uint64_t prev_index, prev_term, commit, n_entries; /* AE */
    uint64_t last_index, last_term, conf_index;        /* IS, RV, TN; AER: last index */
    uint64_t candidate, flags, granted, rejected;      /* RV, RVR, AER */
    uint64_t payload;
} mk_graft_msg;

enum { MK_GRAFT_FORWARD = 0, MK_GRAFT_DROP = 1, MK_GRAFT_REFUSE = 2 };
typedef struct mk_graft_ops {
    /* The peer's hello: < 0 refuses it (*why: the reason). */
    int (*on_hello)(void *ctx, const mk_gcluster *c, const char **why);
    /* A verdict on one message (*why: the reason of a refusal). */
    int (*on_msg)(void *ctx, const mk_graft_msg *m, const char **why);
    /* Bytes to pass on (NULL: observe only); < 0 fails the stream. */
    int (*out)(void *ctx, const uint8_t *p, size_t n);
    void *ctx;
} mk_graft_ops;

/* Modes: a peer's channel (hello, then messages), our raft's outgoing
 * stream (messages), the reverse direction of a channel we opened (one
 * hello, nothing after). */
enum { MK_GRAFT_IN = 0, MK_GRAFT_OUT = 1, MK_GRAFT_REPLY = 2 };
typedef struct mk_graft_parser {
    uint8_t mode, state, etype;
    int verdict, rc;
    const mk_graft_limits *lim; /* borrowed */
    uint8_t head[MK_GRAFT_HELLO_LEN];
    size_t have;
    uint8_t *buf; /* preamble + header of the current message */
    size_t blen, bhave;
    mk_graft_msg m;
    uint64_t left, entry, eleft;
    uint8_t *cbuf; /* a configuration entry being collected */
    size_t chave;
    const char *why; /* why the stream failed */
} mk_graft_parser;
void mk_graft_parser_init(mk_graft_parser *p, int mode, const mk_graft_limits *lim);
void mk_graft_parser_free(mk_graft_parser *p);
bool mk_graft_parser_failed(const mk_graft_parser *p);
/* Feed bytes: 0, or the failure (MK_EMALFORMED, MK_ETOOBIG, MK_EPOLICY,
 * an error of out; p->why says why), which is final. */
int mk_graft_feed(mk_graft_parser *p, const uint8_t *d, size_t n, const mk_graft_ops *ops);

/* ----- raftgate.c: who may send which raft message (loop thread) ---------- */

typedef struct mk_graft_view {
    uint8_t role;                  /* the sender's bond role */
    uint64_t sender;               /* its raft id */
    uint64_t term;                 /* our raft term */
    bool leader;                   /* we lead */
    uint64_t lt_term, lt_rid;      /* the leader accepted last, and its term */
    uint32_t ae_credit, rv_credit; /* requests we sent it and it did not answer */
} mk_graft_view;
/* The role rules (pure): MK_GRAFT_FORWARD, _DROP or _REFUSE (*why set). */
int mk_graft_judge(const mk_graft_msg *m, const mk_graft_view *v, const char **why);

/* What we know of a peer's cluster. */
enum { MK_GCOMPAT_UNKNOWN = 0, MK_GCOMPAT_OK = 1, MK_GCOMPAT_FOREIGN = 2 };
/* Counters of mk_graft_stats. */
enum { MK_GC_MALFORMED, MK_GC_REFUSED, MK_GC_DROPPED, MK_GC_CONFLICT, MK_GC_EVICTED };
typedef struct mk_graft_stats {
    uint64_t malformed; /* channels closed: malformed raft stream or over a cap */
    uint64_t refused;   /* channels closed: a message the sender's role may not send */
    uint64_t dropped;   /* messages dropped: unsolicited results, a second leader */
    uint64_t conflicts; /* channels refused: a conflicting bootstrap */
    uint64_t evicted;   /* channels closed by the per-peer cap */
    char last[192];     /* "peer: reason" of the latest one */
} mk_graft_stats;

/* A peer's hello: 0, or MK_EPOLICY when its cluster conflicts with ours. */
int mk_ggate_hello(mk_group *g, const mk_id *peer, const mk_gcluster *theirs, const char **why);
/* A message from peer (bond role, the cluster its channel announced). */
int mk_ggate_judge_in(mk_group *g, const mk_id *peer, uint8_t role, const mk_gcluster *cl,
                      const mk_graft_msg *m, const char **why);
/* A message our raft sends peer (gives it credit for a result). */
void mk_ggate_observe(mk_group *g, const mk_id *peer, const mk_graft_msg *m);
void mk_ggate_count(mk_group *g, int which, const mk_id *peer, const char *why);
int mk_ggate_compat(mk_group *g, const mk_id *peer); /* MK_GCOMPAT_* */
/* Whether a probe of peer is due (at most one per every_ms); marks it. */
bool mk_ggate_probe_due(mk_group *g, const mk_id *peer, uint64_t every_ms);
/* The commit index of the leader we follow in the current term (0: none). */
uint64_t mk_ggate_leader_commit(mk_group *g);
void mk_ggate_peer_down(mk_group *g, const mk_id *peer);
void mk_ggate_free_all(mk_group *g);

typedef struct mk_gpeer mk_gpeer;
typedef struct mk_gabsent {
    uint64_t rid, since; /* a member whose entry left the group, since (mono ms) */
} mk_gabsent;
typedef struct mk_gchan mk_gchan;
typedef struct mk_gpending mk_gpending;
typedef struct mk_gfwd mk_gfwd;
typedef struct mk_gsessions mk_gsessions;

/* A logical call in flight on this node (call.c; on the caller's stack,
 * linked under g->smu): the lowest seq in the list is the floor. */
typedef struct mk_gcall {
    struct mk_gcall *next;
    uint64_t seq;
} mk_gcall;

struct mk_group {
    mk_groups_host *host;
    mk_network *nw;
    mk_transport *net;
    mk_id id, key, self;
    char name[MK_REFUSAL_WHERE_MAX + 1]; /* in refusal records and logs */
    uint64_t self_rid;
    char self_addr[MK_ID_HEX_LEN];
    mk_group_config cfg;
    char *data_dir;
    mk_group_sm sm;
    const mk_validator_set *vs;  /* the borrowed set, or own_vs; NULL: none */
    const mk_validator_set *wvs; /* writer validators; NULL: none */
    /* With specs: the validators made from them and the borrowed sets'
     * validators (borrowed into them), so that one set holds all (specs.c). */
    mk_validator_set own_vs, own_wvs;

    /* loop thread */
    uv_loop_t loop;
    pthread_t thread;
    bool thread_started;
    uv_poll_t wake; /* readable: g->wake_fd (loop.c) */
    int wake_fd;
    uv_timer_t tick, fast;
    struct raft raft;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft_uv_transport trans;
    raft_uv_accept_cb accept_cb;
    bool trans_closed;
    /* bridge and gate (loop thread) */
    mk_gchan *chans;
    void *pconns;      /* bridge: raft connects awaiting their deferred callback */
    uint8_t *pump_buf; /* bridge: the pumps' read buffer (MK_GF_CHUNK bytes) */
    uint32_t next_chan;
    uint64_t chan_seq;           /* opening order of channels */
    mk_gpeer *gpeers;            /* per-peer credits, clusters, probes */
    mk_graft_limits rlim, tlim;  /* caps on peers' streams; our own (trusted) */
    mk_gcluster cluster;         /* this node's cluster (rid 0: not known yet) */
    uint64_t lt_term, lt_rid;    /* the leader accepted last, and its term */
    uint64_t lc_term, lc_commit; /* that leader's commit index as it said */
    mk_gpending *pending;
    mk_gfwd *fwds;
    uint64_t next_seq;
    bool changing; /* a configuration change is in flight */
    struct raft_change change;
    mk_gabsent absent[MK_GROUP_MAX_MEMBERS]; /* member.c: absences and since when */
    size_t n_absent;
    bool raft_closed;
    bool loop_stopping;

    /* job queue */
    pthread_mutex_t qmu;
    mk_gjob *qhead, *qtail;
    bool stopping;
    bool wake_pending; /* the eventfd was written since the loop took the queue */

    /* bonds (bmu) */
    pthread_mutex_t bmu;
    mk_gbond *bonds;
    mk_gvcache *vc;
    size_t n_vc, cap_vc, max_vc;
    uint64_t vc_clock;
    mk_id cut[MK_GROUP_MAX_CUT];
    size_t n_cut;
    mk_id gone[MK_GROUP_MAX_GONE]; /* peers whose signed departure we saw */
    size_t n_gone;

    /* state and status */
    pthread_mutex_t smu;
    pthread_cond_t cond;
    mk_group_status st;
    mk_group_member members[MK_GROUP_MAX_MEMBERS]; /* the configuration (bonded unset) */
    size_t n_members;

    /* exactly-once (call.c: the caller's side, fsm.c + session.c: the
     * replicated table); all under smu */
    uint64_t once_cid;      /* this node's client id (persisted in data_dir) */
    uint64_t once_epoch;    /* persisted before use; seq = epoch << 32 | counter */
    uint32_t once_counter;  /* calls numbered in this epoch */
    mk_gcall *calls;        /* logical calls in flight */
    mk_gsessions *sessions; /* the FSM's session table (made on first use) */

    mk_graft_stats rstats; /* the gate's counters */
    uint64_t rlog_at;      /* when the gate logged last */
    bool rhold;            /* test hook: drop AppendEntries with entries, snapshots */
};

/* ----- frame.c ------------------------------------------------------------ */

/* A parsed frame (payload and mac borrowed from the input), or one to send. */
typedef struct mk_group_frame {
    uint8_t type;
    mk_id group;
    uint8_t role, reply; /* HELLO */
    const uint8_t *mac;  /* HELLO: 32 bytes */
    uint8_t dir;         /* DATA, CLOSE */
    uint32_t chan;       /* OPEN, DATA, CLOSE */
    uint64_t seq;        /* FWD, FWD_RES */
    uint8_t kind;        /* FWD */
    int32_t status;      /* FWD_RES */
    const uint8_t *payload;
    size_t plen;
} mk_group_frame;
int mk_group_frame_parse(const uint8_t *data, size_t len, mk_group_frame *f, mk_error *err);
/* Encode f's body without header and payload (at most MK_GF_MAX_BODY
 * bytes): 0, MK_ETOOBIG when w has no room, MK_EINVAL for an unknown type. */
#define MK_GF_MAX_BODY (2 + 32)
int mk_group_frame_write_body(mk_writer *w, const mk_group_frame *f);

/* ----- specs.c ------------------------------------------------------------ */

/* Set g->vs, g->wvs and g->key from cfg: the borrowed sets as they are, or
 * with specs the group's own sets (own_vs, own_wvs) holding the specs'
 * validators and the borrowed ones. On failure nothing is left allocated. */
int mk_gspecs_make(mk_group *g, const mk_group_config *cfg, mk_error *err);
void mk_gspecs_free(mk_group *g);

/* ----- ident.c ------------------------------------------------------------ */

/* The raft server id of a peer (nonzero; derived from the peer id). */
uint64_t mk_group_rid_of(const mk_id *peer);
/* The bond proof one side sends: HMAC-SHA256(key, domain | group id |
 * side (0 dialer, 1 listener) | role | exporter). */
#define MK_GROUP_EXPORTER_LEN 32
int mk_group_bond_mac(const mk_id *key, const mk_id *group_id, uint8_t side, uint8_t role,
                      const uint8_t exporter[MK_GROUP_EXPORTER_LEN], uint8_t out[32]);
/* The id of a group with writer validators: id further derived with
 * "mosaik.groups.writers.v1" | writer-set signature. */
void mk_group_id_with_writers(const mk_id *id, const mk_validator_set *wvs, mk_id *out);

/* ----- host.c (network I/O thread, except join/leave/dial/send) ----------- */

/* Enter g into its network's host (made and attached on first use):
 * MK_EBUSY when the group is joined already or the host is full, or the
 * error of attaching (e.g. "groups" registered by someone else). */
int mk_ghost_join(mk_group *g, mk_error *err);
/* Take g out of the host's table; no callback reaches it afterwards. The
 * last group detaches the host (waits for the I/O thread: not from it). */
void mk_ghost_leave(mk_group *g);
/* Dial peer at addr for protocol "groups"; the bond forms on connect. */
void mk_ghost_dial(mk_group *g, const mk_id *peer, const char *addr);
/* Send [type][group][body][tail] on conn; during a host dispatch queued
 * until the host unlocks. */
int mk_group_send(mk_transport_conn *conn, const mk_id *group, uint8_t type, const void *body,
                  size_t blen, const void *tail, size_t tlen);
/* Send the frame f describes (f->group, f->type, its fields and payload). */
int mk_group_send_frame(mk_transport_conn *conn, const mk_group_frame *f);

/* ----- admit.c (bmu held) ------------------------------------------------- */

/* Judge a signed entry for this group: 0 when it serves the group and
 * passes every validator now (*exp: until when); with writer validators
 * *wrc (optional) gets their verdict and *wexp the end of the writer
 * admission. */
int mk_gadmit_judge_locked(mk_group *g, const mk_peer_entry *e, mk_expiration *exp, int *wrc,
                           mk_expiration *wexp);
/* The same for the entry discovery holds for peer. */
int mk_gadmit_judge_peer_locked(mk_group *g, const mk_id *peer, mk_expiration *exp, int *wrc,
                                mk_expiration *wexp);
/* Forget peer's cached verdict. */
void mk_gadmit_evict_locked(mk_group *g, const mk_id *peer);
/* The cached refusal of peer's entry that is worth telling it (its entry
 * lists the group and the validators refused it): the reason (valid while
 * bmu is held), else NULL. */
const char *mk_gadmit_refusal_locked(mk_group *g, const mk_id *peer);
/* Should this node dial peer (entry version) to tell it its refusal? Once
 * per entry version, and only the side that dials (the smaller id). */
bool mk_gadmit_tell_locked(mk_group *g, const mk_peer_entry *e);

/* ----- bond.c ------------------------------------------------------------- */

mk_gbond *mk_gbond_find(mk_group *g, const mk_id *peer); /* bmu held */
bool mk_gbond_ok(const mk_gbond *b, int64_t now);        /* established, unexpired */
bool mk_gbond_drop_locked(mk_group *g, const mk_id *peer, bool say_bye); /* bmu held */
/* The referenced connection of an established, unexpired, uncut bond with
 * peer (NULL if none); the caller unrefs. */
mk_transport_conn *mk_group_bond_conn(mk_group *g, const mk_id *peer);
bool mk_group_is_cut(mk_group *g, const mk_id *peer); /* bmu held */
/* From the host, on the I/O thread, with host->mu held. */
void mk_gbond_greet(mk_group *g, mk_transport_conn *conn);
void mk_gbond_on_conn_close(mk_group *g, mk_transport_conn *conn, const mk_id *peer);
void mk_gbond_on_frame(mk_group *g, mk_transport_conn *conn, const mk_id *peer,
                       const mk_group_frame *f);
void mk_gbond_on_event(mk_group *g, const mk_network_event *ev);
/* From the tick (loop thread). */
void mk_gbond_seek(mk_group *g);
void mk_gbond_expire(mk_group *g);

/* ----- fsm.c (loop thread) ------------------------------------------------ */

/* The raft FSM callbacks, and this node's client id (mk_gcall_setup). */
void mk_gfsm_setup(mk_group *g);
void mk_gprop_propose(mk_group *g, mk_gjob *j);
void mk_gprop_fwd_in(mk_group *g, mk_gjob *j);
void mk_gprop_fwd_res(mk_group *g, mk_gjob *j);
void mk_gprop_transfer(mk_group *g, mk_gjob *j);
/* Fail forwards older than their age limit (all of them: stopping). */
void mk_gprop_fwd_purge(mk_group *g, bool all);
/* The bond with peer ended: fail the forwards that went to it. */
void mk_gprop_fwd_fail_peer(mk_group *g, const mk_id *peer);
/* Raft closed: fail every pending proposal and forward, free the session
 * table (no FSM callback runs after raft closed). */
void mk_gprop_stop(mk_group *g);
bool mk_gprop_leader_peer(mk_group *g, mk_id *out);
/* Complete a local waiter and/or answer a forwarder (FWD_RES on conn,
 * whose reference this consumes). */
void mk_gtarget_complete(mk_group *g, mk_gwaiter *w, mk_transport_conn *conn, uint64_t seq,
                         int status, const uint8_t *data, size_t len, const char *msg);

/* ----- session.c: the exactly-once table (g->smu held) -------------------- */

#define MK_GSESS_MAX 4096                 /* sessions in all */
#define MK_GSESS_PER_RID 16               /* sessions per member (raft id) */
#define MK_GSESS_PER_SESSION 256          /* results kept per session */
#define MK_GSESS_BYTES ((size_t)16 << 20) /* result bytes kept in all */
/* An upper bound of the encoded table (the snapshot prefix). */
#define MK_GSESS_SNAPSHOT_MAX                                                                      \
    (12 + (size_t)MK_GSESS_MAX * 36 + (size_t)MK_GSESS_MAX * MK_GSESS_PER_SESSION * 16 +           \
     MK_GSESS_BYTES)
enum { MK_GSESS_NEW = 0, MK_GSESS_DUP = 1, MK_GSESS_STALE = 2 };

mk_gsessions *mk_gsess_new(void);
void mk_gsess_free(mk_gsessions *t);
size_t mk_gsess_count(const mk_gsessions *t);
/* Classify a command of session (rid, cid) with seq (t may be NULL): NEW,
 * DUP (*status, *data, *len: the first application's, borrowed until the
 * table changes) or STALE. */
int mk_gsess_check(const mk_gsessions *t, uint64_t rid, uint64_t cid, uint64_t seq, int *status,
                   const uint8_t **data, size_t *len);
/* Record the first application of seq at log index idx, raise the floor,
 * and evict as the bounds require: 0 or MK_ENOMEM. */
int mk_gsess_record(mk_gsessions *t, uint64_t rid, uint64_t cid, uint64_t seq, uint64_t floor,
                    uint64_t idx, int status, const uint8_t *data, size_t len);
/* A DUP or STALE command at idx: refresh the session, raise its floor. */
void mk_gsess_touch(mk_gsessions *t, uint64_t rid, uint64_t cid, uint64_t floor, uint64_t idx);
/* Snapshot prefix (t may be NULL: an empty table). */
int mk_gsess_encode(const mk_gsessions *t, mk_buf *out);
/* Decode the prefix of a snapshot: *out a new table, *consumed its bytes
 * (0 and an empty table when data has no table: an older snapshot);
 * MK_EMALFORMED or MK_ENOMEM. */
int mk_gsess_decode(const uint8_t *data, size_t len, mk_gsessions **out, size_t *consumed);

/* ----- member.c ----------------------------------------------------------- */

void mk_gmember_reconcile(mk_group *g); /* loop thread, on the leader */
/* Record (gone) or forget a signed departure of peer (bmu held). */
void mk_gmember_gone_locked(mk_group *g, const mk_id *peer, bool gone);

/* ----- bridge.c: the raft_uv_transport over bonds (loop thread) ----------- */

void mk_gbridge_setup(mk_group *g);
void mk_gbridge_on_open(mk_group *g, const mk_id *peer, mk_transport_conn *conn, uint32_t chan);
void mk_gbridge_on_data(mk_group *g, const mk_id *peer, uint8_t role, uint8_t dir, uint32_t chan,
                        const uint8_t *data, size_t len);
void mk_gbridge_on_close(mk_group *g, const mk_id *peer, uint8_t dir, uint32_t chan);
void mk_gbridge_peer_down(mk_group *g, const mk_id *peer);
void mk_gbridge_connected(mk_group *g, void *req_ptr);
void mk_gbridge_flush(mk_group *g);
void mk_gbridge_close_all(mk_group *g);
/* Ask peer's bridge for its cluster (a channel with a hello and no raft
 * stream); the answer shows in mk_ggate_compat. */
void mk_gbridge_probe(mk_group *g, const mk_id *peer);

/* ----- group.c -------------------------------------------------------------- */

/* Save g->cluster beside the data (atomically): 0 or MK_EIO. */
int mk_group_cluster_save(mk_group *g);

/* ----- loop.c ------------------------------------------------------------- */

mk_gjob *mk_gjob_new(int type);
/* Queue j for the loop (it owns j then); MK_ESTATE once stopping. */
int mk_gjob_push(mk_group *g, mk_gjob *j);
/* Free j, completing its waiter / forwarder with status. */
void mk_gjob_free(mk_group *g, mk_gjob *j, int status);
/* Wake the loop (from any thread): it takes the job queue and fires the
 * bridge's deferred connects. */
void mk_gloop_wake(mk_group *g);
/* The loop, its wake-up handle and timers (not started): 0 or an error. */
int mk_gloop_init(mk_group *g, mk_error *err);
void mk_gloop_start_timers(mk_group *g);
/* Start the loop thread (SIGPIPE blocked in it). */
int mk_gloop_spawn(mk_group *g, mk_error *err);
/* Stop the timers and close raft; the loop then ends by itself. */
void mk_gloop_begin_shutdown(mk_group *g);
/* Refresh g->st from raft and the bonds (loop thread). */
void mk_gloop_update_status(mk_group *g);

/* ----- call.c ------------------------------------------------------------- */

/* Load (or draw and persist) this node's client id and start a new seq
 * epoch, persisted before any seq of it is used. */
void mk_gcall_setup(mk_group *g);

/* A waiter with two references: the caller's and the completer's. */
mk_gwaiter *mk_gwaiter_new(void);
void mk_gwaiter_release_locked(mk_gwaiter *w); /* smu held */
/* Complete w once (later completions only release) and drop a reference. */
void mk_gwaiter_complete(mk_group *g, mk_gwaiter *w, int status, const uint8_t *data, size_t len,
                         const char *msg);

/* ----- test hooks (not public API; tests include this header) ------------- */

/* call.c: send a command to the leader as forwarded by this node,
 * bypassing the local reader check (to prove the leader refuses it). */
int mk_group_apply_unchecked(mk_group *g, const void *cmd, size_t len, mk_buf *result,
                             uint32_t timeout_ms, mk_error *err);
/* bond.c: stop exchanging raft traffic with peer (both directions of its
 * bond channels are dropped) to simulate a partition; false heals. */
void mk_group_partition(mk_group *g, const mk_id *peer, bool cut);
/* host.c: is a groups host attached to nw? */
bool mk_ghost_attached(mk_network *nw);
/* host.c: when set, called before every frame leaves (also from the
 * outbox); < 0 fails the send (a test closes the connection there, as a
 * failed TLS write does on the I/O thread). */
extern int (*mk_ghost_send_hook)(mk_transport_conn *conn);
/* raftgate.c: the gate's counters and latest reason. */
void mk_group_raft_stats(mk_group *g, mk_graft_stats *out);
/* raftgate.c: lose AppendEntries carrying entries, and InstallSnapshot,
 * arriving here after the gate saw them (so the leader's commit index is
 * known; heartbeats pass) to hold a member behind; false lets them
 * through again. */
void mk_group_raft_hold(mk_group *g, bool hold);
/* admit.c: cap the validation cache (default MK_GVCACHE_MAX entries; least
 * recently used entries are replaced when it is full). */
void mk_group_vcache_limit(mk_group *g, size_t cap);

#endif
