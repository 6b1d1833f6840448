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
};
#define MK_GF_HDR (1 + MK_ID_LEN)
#define MK_GF_CHUNK ((size_t)64 << 10)
#define MK_GF_MAX_FRAME (MK_GROUP_MAX_COMMAND + 256)
#define MK_GF_MAX_PUMP_QUEUE ((size_t)64 << 20)

/* Forward kinds. */
enum { MK_FWD_CMD = 0, MK_FWD_QUERY = 1 };

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
    int wrc;                /* writer validators' verdict (0 when there are none) */
    mk_expiration wexpires; /* when the writer admission ends */
    uint64_t used;          /* LRU stamp */
} mk_gvcache;
#define MK_GVCACHE_MAX 4096

/* A waiter of a user call (shared by the caller and the loop). */
typedef struct mk_gwaiter {
    int refs; /* under g->smu */
    bool done;
    int status;
    mk_buf result;
    char msg[160];
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

typedef struct mk_gchan mk_gchan;
typedef struct mk_gpending mk_gpending;
typedef struct mk_gfwd mk_gfwd;

struct mk_group {
    mk_groups_host *host;
    mk_network *nw;
    mk_transport *net;
    mk_id id, key, self;
    uint64_t self_rid;
    char self_addr[MK_ID_HEX_LEN];
    mk_group_config cfg;
    char *data_dir;
    mk_group_sm sm;
    const mk_validator_set *vs;
    const mk_validator_set *wvs; /* writer validators; NULL: none */

    /* loop thread */
    uv_loop_t loop;
    pthread_t thread;
    bool thread_started;
    uv_async_t async;
    uv_timer_t tick, fast;
    struct raft raft;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft_uv_transport trans;
    raft_uv_accept_cb accept_cb;
    bool trans_closed;
    mk_gchan *chans;
    void *pconns; /* bridge: raft connects awaiting their deferred callback */
    uint32_t next_chan;
    mk_gpending *pending;
    mk_gfwd *fwds;
    uint64_t next_seq;
    bool changing; /* a configuration change is in flight */
    struct raft_change change;
    bool raft_closed;
    bool loop_stopping;

    /* job queue */
    pthread_mutex_t qmu;
    mk_gjob *qhead, *qtail;
    bool stopping;

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

/* ----- ident.c ------------------------------------------------------------ */

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

/* Enter g into its network's host (made on first use): MK_EBUSY when the
 * group is joined already or the host is full. */
int mk_ghost_join(mk_group *g, mk_error *err);
/* Take g out of the host's table; no callback reaches it afterwards. */
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

void mk_gfsm_setup(mk_group *g);
void mk_gprop_propose(mk_group *g, mk_gjob *j);
void mk_gprop_fwd_in(mk_group *g, mk_gjob *j);
void mk_gprop_fwd_res(mk_group *g, mk_gjob *j);
void mk_gprop_transfer(mk_group *g, mk_gjob *j);
/* Fail forwards older than their age limit (all of them: stopping). */
void mk_gprop_fwd_purge(mk_group *g, bool all);
/* The bond with peer ended: fail the forwards that went to it. */
void mk_gprop_fwd_fail_peer(mk_group *g, const mk_id *peer);
/* Raft closed: fail every pending proposal and forward. */
void mk_gprop_stop(mk_group *g);
bool mk_gprop_leader_peer(mk_group *g, mk_id *out);
/* Complete a local waiter and/or answer a forwarder (FWD_RES on conn,
 * whose reference this consumes). */
void mk_gtarget_complete(mk_group *g, mk_gwaiter *w, mk_transport_conn *conn, uint64_t seq,
                         int status, const uint8_t *data, size_t len, const char *msg);

/* ----- member.c ----------------------------------------------------------- */

void mk_gmember_reconcile(mk_group *g); /* loop thread, on the leader */
/* Record (gone) or forget a signed departure of peer (bmu held). */
void mk_gmember_gone_locked(mk_group *g, const mk_id *peer, bool gone);

/* ----- bridge.c: the raft_uv_transport over bonds (loop thread) ----------- */

void mk_gbridge_setup(mk_group *g);
void mk_gbridge_on_open(mk_group *g, const mk_id *peer, mk_transport_conn *conn, uint32_t chan);
void mk_gbridge_on_data(mk_group *g, const mk_id *peer, uint8_t dir, uint32_t chan,
                        const uint8_t *data, size_t len);
void mk_gbridge_on_close(mk_group *g, const mk_id *peer, uint8_t dir, uint32_t chan);
void mk_gbridge_peer_down(mk_group *g, const mk_id *peer);
void mk_gbridge_connected(mk_group *g, void *req_ptr);
void mk_gbridge_flush(mk_group *g);
void mk_gbridge_close_all(mk_group *g);

/* ----- loop.c ------------------------------------------------------------- */

mk_gjob *mk_gjob_new(int type);
/* Queue j for the loop (it owns j then); MK_ESTATE once stopping. */
int mk_gjob_push(mk_group *g, mk_gjob *j);
/* Free j, completing its waiter / forwarder with status. */
void mk_gjob_free(mk_group *g, mk_gjob *j, int status);
/* The loop, its async and timers (not started): 0 or MK_ENOMEM. */
int mk_gloop_init(mk_group *g);
void mk_gloop_start_timers(mk_group *g);
/* Start the loop thread (SIGPIPE blocked in it). */
int mk_gloop_spawn(mk_group *g, mk_error *err);
/* Stop the timers and close raft; the loop then ends by itself. */
void mk_gloop_begin_shutdown(mk_group *g);
/* Refresh g->st from raft and the bonds (loop thread). */
void mk_gloop_update_status(mk_group *g);

/* ----- call.c ------------------------------------------------------------- */

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
/* admit.c: cap the validation cache (default MK_GVCACHE_MAX entries; least
 * recently used entries are replaced when it is full). */
void mk_group_vcache_limit(mk_group *g, size_t cap);

#endif
