/*
 * streams/streams_internal.h — what the files of src/streams/ share: the
 * engine's records and the functions one file calls in another.
 *
 * The files, one job each (docs/streams.md has the map):
 *
 *   msg.c       the wire messages (and the one encoder of the DATA header)
 *   ring.c      the FIFO ring behind every queue
 *   require.c   requirements → validator set + tag ids (mk_require_rt)
 *   owner.c     what producers and consumers share: per-peer records,
 *               events, conditions and waits, statistics
 *   channel.c   channel records, the producer's per-channel queue and its
 *               lag policy, control messages
 *   admit.c     judging a peer's entry, re-validation, the expiry timer
 *   producer.c  the producer engine and the producer handle
 *   consumer.c  the consumer engine (candidates, backoff, subscribing) and
 *               the consumer handle
 *   receive.c   delivery to the consumer: receive queue, credits, keepalive
 *   attach.c    the network attachment: per-network ctx and shim, protocol
 *               and discovery hook, timers, running on the I/O thread
 *
 * Threads. All engine state — the ctx, the channels, the owners' channel
 * lists, connections, timers — is touched only on the network's I/O thread
 * ("the loop"); user calls reach it through mk_st_run_on_loop or by posting.
 * What user threads also read — a producer's inbox, a consumer's receive
 * queue, the per-peer records, statistics and what conditions wait on —
 * sits behind the owner's mutex `mu`; the loop takes it briefly and never
 * calls out (observer, validators, net) while holding it. Fields below are
 * marked "loop" or "mu" accordingly; the rest are fixed at creation.
 *
 * Naming: functions shared between files are mk_st_*; records are st_*.
 */
#ifndef MOSAIK_STREAMS_INTERNAL_H
#define MOSAIK_STREAMS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "mosaik/net.h"
#include "mosaik/streams.h"

#define ST_LOG "streams"
#define ST_DATA_HDR 13  /* DATA header: u8 type | u32be channel | u64be seq */
#define ST_TICK_MS 100u /* the consumer tick: candidates, credits, keepalive */
#define ST_KEEPALIVE_MS 5000u
#define ST_MAX_PSTATS 1024 /* per-peer records per owner */
#define ST_DEFAULT_INBOX 4096u
/* The least per-consumer cap of candidate producers (consumer.c). */
#define ST_MAX_CANDIDATES 256u
#define ST_MAX_NAME 128
#define ST_VERDICTS 64              /* cached judgements per owner (admit.c) */
#define ST_REFUSAL_WINDOW_MS 10000u /* max_refusals counts per this window */

/* Consumer channel states; a producer's channel is ACTIVE once admitted. */
enum { CS_IDLE = 0, CS_DIALING, CS_SUBSCRIBING, CS_ACTIVE };

/* ------------------------------------------------------------------ */
/* Wire messages (msg.c; docs/streams.md; the fuzz target uses them)  */
/* ------------------------------------------------------------------ */

typedef enum mk_stream_msg_type {
    MK_SMSG_SUBSCRIBE = 1,   /* consumer → producer */
    MK_SMSG_ACCEPT = 2,      /* producer → consumer */
    MK_SMSG_CLOSE = 3,       /* producer → consumer: refused or ended */
    MK_SMSG_UNSUBSCRIBE = 4, /* consumer → producer */
    MK_SMSG_DATA = 5,        /* producer → consumer */
    MK_SMSG_CREDIT = 6,      /* consumer → producer (0: keepalive) */
} mk_stream_msg_type;

typedef struct mk_stream_msg {
    mk_stream_msg_type type;
    uint32_t channel;
    mk_id stream_id;      /* SUBSCRIBE */
    uint32_t window;      /* SUBSCRIBE: initial credits; CREDIT: more credits */
    const uint8_t *entry; /* SUBSCRIBE/ACCEPT: signed peer entry (borrowed) */
    size_t entry_len;
    mk_expiration expires; /* ACCEPT: admission expiry; CLOSE/UNSUB: expired credential or 0 */
    uint16_t reason;       /* CLOSE/UNSUBSCRIBE */
    char text[MK_STREAM_MAX_REASON + 1];
    uint64_t seq;        /* DATA */
    const uint8_t *data; /* DATA payload (borrowed) */
    size_t len;
} mk_stream_msg;

/* Decode one frame (borrowing from data). Refuses unknown types, trailing
 * bytes, oversized fields. */
int mk_stream_msg_decode(const uint8_t *data, size_t len, mk_stream_msg *m, mk_error *err);
/* Encode (appends to out). */
int mk_stream_msg_encode(const mk_stream_msg *m, mk_buf *out, mk_error *err);

/* ------------------------------------------------------------------ */
/* Requirements at run time (require.c)                                */
/* ------------------------------------------------------------------ */

/* The resolved form of an mk_requirements: a validator set plus tag ids. */
typedef struct mk_require_rt {
    mk_validator_set validators;
    mk_id *tags;
    size_t n_tags;
    mk_require_fn require;
    void *require_ctx;
} mk_require_rt;

/* Make the validators (calling each factory) and hash the tags; inst (may
 * be NULL) adds an instance's own validators to a declaration's req. */
int mk_require_rt_build(mk_require_rt *rt, const mk_requirements *req, const mk_requirements *inst,
                        mk_error *err);
/* True when the instance requirements of a from_def call give only
 * validators (their tags and predicate come from the declaration). */
bool mk_require_only_validators(const mk_requirements *inst);
/* Add one more validator (takes ownership). */
int mk_require_rt_add_validator(mk_require_rt *rt, mk_validator *v);
void mk_require_rt_free(mk_require_rt *rt);
/* Judge an entry at `now`: tags, custom predicate, validators. On success
 * *expires is the earliest expiration. On failure *reason (may be NULL) is
 * MK_STREAM_R_TICKET or MK_STREAM_R_REQUIREMENT and err says why. */
int mk_require_rt_check(const mk_require_rt *rt, const mk_peer_entry *peer, int64_t now,
                        mk_expiration *expires, unsigned *reason, mk_error *err);

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

/* A FIFO ring of elem-byte elements (ring.c). */
typedef struct st_ring {
    uint8_t *buf;
    size_t elem, head, n, cap;
} st_ring;

/* One datum on its way to consumers, shared by every channel's queue. */
typedef struct st_item {
    atomic_uint refs;
    uint64_t seq;
    size_t len;
    uint8_t buf[]; /* ST_DATA_HDR bytes (written per channel), then the payload */
} st_item;

/* Per-peer statistics and condition data (owner's mu). */
typedef struct st_pstat {
    mk_id peer;
    bool active;
    uint64_t items, bytes, drops, queued;
    mk_expiration expires;
    unsigned last_reason;
    mk_id_list tags;     /* the peer's tags at its last admission */
    uint64_t cur_serial; /* the channel now bound to this record */
    uint32_t consumed;   /* consumer: items received by the user, not yet credited */
} st_pstat;

typedef struct st_ritem { /* an entry of the consumer's receive queue */
    st_pstat *ps;
    uint64_t serial;
    mk_id producer;
    uint64_t seq;
    uint8_t *data;
    size_t len;
} st_ritem;

typedef struct st_ctx st_ctx;
typedef struct st_chan st_chan;
typedef struct st_owner st_owner;

/* A judgement of one version of a peer's entry (admit.c). */
typedef struct st_verdict {
    mk_id peer;
    uint64_t version;
    uint64_t at_ms; /* mk_mono_ms() when made; 0: empty slot */
    int rc;         /* 0: admitted */
    unsigned reason;
    mk_expiration expires;
    char text[MK_STREAM_MAX_REASON];
} st_verdict;

/* Per streams connection (attach.c; its mk_transport_conn user pointer, loop). */
typedef struct st_conn {
    uint32_t refusals;  /* refused SUBSCRIBEs in the current window */
    uint64_t window_ms; /* mk_mono_ms() when that window began */
} st_conn;

/* The network's attachment record (attach.c): lives as long as the network. */
typedef struct st_shim {
    mk_network *nw;
    st_ctx *ctx; /* loop-only; NULL while no producer or consumer exists */
} st_shim;

/* One subscription of one consumer to one producer (channel.c). */
struct st_chan {
    st_chan *next; /* in the owner's list */
    st_ctx *ctx;
    st_owner *o;
    mk_stream_producer *p; /* exactly one of p, c: the side this record is on */
    mk_stream_consumer *c;
    uint64_t serial;
    mk_id peer;
    char addr[MK_TRANSPORT_ADDR_MAX + 1];
    mk_transport_conn *conn; /* referenced while DIALING done .. closed */
    uint32_t no;
    int state;
    mk_peer_entry entry; /* the peer's entry of the last check */
    bool has_entry;
    bool from_discovery, explicit_;
    mk_expiration expires;
    st_pstat *ps;
    /* producer side */
    uint32_t credits;
    st_ring q; /* of st_item *, at most max_lag */
    bool busy;
    uint64_t pend_items, pend_bytes; /* sent, not yet published */
    /* consumer side */
    uint64_t last_seq;
    bool got_any;
    uint32_t outstanding;
    uint64_t retry_at, backoff;
    uint64_t last_tx;
};

/* The engine state of one network (loop). */
struct st_ctx {
    st_shim *shim;
    mk_network *nw;
    mk_transport *net;
    mk_id network_id;
    st_owner *producers, *consumers;
    uint32_t next_no;
    uint64_t next_serial;
    mk_transport_timer *t_expiry, *t_tick;
};

/* What a producer and a consumer share (owner.c). Each handle embeds one
 * as its first member `o`, and o.p / o.c point back to the handle. */
struct st_owner {
    st_owner *next; /* in ctx->producers or ctx->consumers (loop) */
    mk_stream_producer *p;
    mk_stream_consumer *c;
    mk_network *nw;
    st_shim *shim;
    mk_id stream_id;
    char name[ST_MAX_NAME];
    const mk_datum_codec *codec;
    mk_require_rt req;       /* loop once attached */
    st_chan *chans;          /* loop */
    st_verdict *verdicts;    /* loop: ST_VERDICTS slots, made at the first judgement */
    uint32_t verdict_ttl_ms; /* fixed at creation */
    bool closing;            /* producer: set under mu; consumer: loop */
    mk_stream_observer on_event;
    void *event_ctx;
    /* mu */
    pthread_mutex_t mu;
    pthread_cond_t cond; /* monotonic: every change of what waiters test */
    st_pstat **ps;
    size_t n_ps;
    mk_stream_stats st;
};

struct mk_stream_producer {
    st_owner o;
    uint32_t max_consumers, max_lag, max_refusals;
    mk_stream_lag_policy policy;
    st_ring inbox;     /* mu: of st_item *, fixed capacity */
    bool flush_posted; /* mu */
    uint64_t next_seq;
};

struct mk_stream_consumer {
    st_owner o;
    uint32_t window, max_producers, retry_min, retry_max;
    uint64_t warn_full_at; /* loop: rate limit of the "too many candidates" warning */
    st_ring rq;            /* mu: the receive queue, of st_ritem */
    int efd;
    bool credit_posted; /* mu */
};

/* Seconds → milliseconds, saturating: `expires` may come from a peer
 * (CLOSE/UNSUBSCRIBE) or a ticket and take any int64 value. */
static inline int64_t st_exp_to_ms(int64_t s) {
    int64_t ms;
    if (__builtin_mul_overflow(s, (int64_t)1000, &ms)) return s < 0 ? INT64_MIN : INT64_MAX;
    return ms;
}

/* ------------------------------------------------------------------ */
/* msg.c                                                               */
/* ------------------------------------------------------------------ */

/* An empty message of a type on a channel (every other field zero). */
void mk_st_msg_init(mk_stream_msg *m, mk_stream_msg_type type, uint32_t channel);
/* The DATA header of `channel` and `seq` into out[0, ST_DATA_HDR). */
void mk_st_data_header(uint8_t out[ST_DATA_HDR], uint32_t channel, uint64_t seq);

/* ------------------------------------------------------------------ */
/* ring.c                                                              */
/* ------------------------------------------------------------------ */

void mk_st_ring_init(st_ring *r, size_t elem);
/* A ring of exactly cap elements that never grows. false: out of memory. */
bool mk_st_ring_alloc(st_ring *r, size_t cap);
void mk_st_ring_free(st_ring *r);
/* The i-th oldest element (i < n). */
void *mk_st_ring_at(const st_ring *r, size_t i);
/* Room for one more element: when full, grow to twice the capacity (first
 * when empty), at most max. false: full at max, or out of memory. */
bool mk_st_ring_room(st_ring *r, size_t first, size_t max);
/* Append (n < cap). */
void mk_st_ring_push(st_ring *r, const void *e);
/* Take the oldest (n > 0) into out (may be NULL). */
void mk_st_ring_shift(st_ring *r, void *out);

/* ------------------------------------------------------------------ */
/* owner.c                                                             */
/* ------------------------------------------------------------------ */

/* Check what creating a handle needs: a name of 1..127 bytes, a network. */
int mk_st_owner_check(mk_network *nw, const char *name, mk_error *err);
/* Fill o (zeroed by the caller's calloc) for stream `name`. */
void mk_st_owner_init(st_owner *o, mk_network *nw, const char *name, const mk_datum_codec *codec,
                      mk_stream_observer cb, void *ctx);
/* Free the records, the requirements, the mutex and condition. */
void mk_st_owner_fini(st_owner *o);
/* Add a validator on the loop (takes ownership; freed on failure). */
int mk_st_owner_require(st_owner *o, mk_validator *v, mk_error *err);
/* Find or make the record of a peer (mu held). NULL when full. */
st_pstat *mk_st_pstat_get(st_owner *o, const mk_id *peer);
/* The absolute deadline of a wait of timeout_ms (MK_NO_TIMEOUT: none). */
void mk_st_deadline(struct timespec *dl, uint32_t timeout_ms);
/* One wait on o->cond (mu held) under the timeout convention: 0 after a
 * wake-up, ETIMEDOUT at once for a poll (timeout 0) or past the deadline. */
int mk_st_wait_step(st_owner *o, uint32_t timeout_ms, const struct timespec *dl);
/* Count the event, log it and tell the observer (loop, mu not held). */
void mk_st_emit(st_chan *ch, mk_stream_event_type type, bool by_peer, unsigned reason,
                const char *text, mk_expiration expires);

/* ------------------------------------------------------------------ */
/* channel.c                                                           */
/* ------------------------------------------------------------------ */

/* A channel of o with peer, bound to the peer's record; NULL when out of
 * memory or records. Linked first in o->chans. */
st_chan *mk_st_chan_new(st_ctx *ctx, st_owner *o, const mk_id *peer);
/* Unlink and free (deactivates first when ACTIVE). */
void mk_st_chan_free(st_chan *ch);
/* Publish active/inactive, expiry and (when active) the tags to the record. */
void mk_st_chan_set_active(st_chan *ch, bool active);
void mk_st_chan_drop_conn(st_chan *ch);
/* The channel numbered `no` on conn among the owners of list, in state
 * min_state or later. */
st_chan *mk_st_chan_find(st_owner *list, mk_transport_conn *conn, uint32_t no, int min_state);
/* The first owner of list for stream sid that is not closing. */
st_owner *mk_st_owner_find(st_owner *list, const mk_id *sid);

void mk_st_item_unref(st_item *it);
/* Queue one item for a producer channel under the lag policy. false: the
 * channel was closed (disconnect policy) and freed. */
bool mk_st_queue_push(st_chan *ch, st_item *it);
st_item *mk_st_queue_front(const st_chan *ch);
/* Drop (unreference) the oldest queued item. */
void mk_st_queue_pop(st_chan *ch);

/* Encode and send one message; MK_ESTATE without a connection. */
int mk_st_send_msg(mk_transport_conn *conn, const mk_stream_msg *m);
/* CLOSE or UNSUBSCRIBE of channel `no` on conn with a reason. */
void mk_st_send_end_on(mk_transport_conn *conn, uint32_t no, mk_stream_msg_type type,
                       unsigned reason, const char *text, mk_expiration expired);
/* The same on the channel's own connection. */
void mk_st_send_end(st_chan *ch, mk_stream_msg_type type, unsigned reason, const char *text,
                    mk_expiration expired);

/* ------------------------------------------------------------------ */
/* admit.c                                                             */
/* ------------------------------------------------------------------ */

/* Decode a peer's entry from a handshake message and check it belongs to
 * the connection's peer and our network; prefer the catalog's if newer. */
int mk_st_take_entry(st_ctx *ctx, const mk_id *peer, const uint8_t *data, size_t len,
                     mk_peer_entry *out, mk_error *err);
/* Our own signed entry, encoded. */
int mk_st_local_entry_wire(st_ctx *ctx, mk_buf *out);
/* Judge the channel's peer by its entry with the owner's requirements; a
 * judgement of the same (peer, entry version) younger than the owner's
 * verdict_ttl_ms is reused (an admission only before its expiry). */
int mk_st_judge(st_chan *ch, int64_t now, mk_expiration *exp, unsigned *reason, mk_error *err);
/* Forget the owner's judgements (its requirements changed; loop). */
void mk_st_verdicts_clear(st_owner *o);
/* Re-judge an active channel; end it (expired / revoked) when it fails. */
void mk_st_revalidate(st_chan *ch, bool from_timer);
/* Arm the expiry timer at the earliest admission expiry. */
void mk_st_arm_expiry(st_ctx *ctx);
/* The expiry timer fired: re-judge every expired channel, re-arm. */
void mk_st_expire(st_ctx *ctx);

/* ------------------------------------------------------------------ */
/* producer.c (loop)                                                   */
/* ------------------------------------------------------------------ */

/* End a subscription (sends CLOSE when notify) and free the channel. */
void mk_st_prod_end(st_chan *ch, bool notify, bool by_peer, unsigned reason, const char *text,
                    mk_expiration expired);
void mk_st_prod_on_subscribe(st_ctx *ctx, mk_transport_conn *conn, const mk_id *peer,
                             const mk_stream_msg *m);
void mk_st_prod_on_credit(st_chan *ch, uint32_t more);
void mk_st_prod_on_drain(st_ctx *ctx, mk_transport_conn *conn);
/* A discovery event: re-judge the consumers that peer, end departed ones. */
void mk_st_prod_on_entry(st_ctx *ctx, const mk_network_event *ev);

/* ------------------------------------------------------------------ */
/* consumer.c (loop)                                                   */
/* ------------------------------------------------------------------ */

/* Back to IDLE (sends UNSUBSCRIBE when notify and subscribed), retry
 * after the backoff; emits ev unless it is 0. */
void mk_st_cons_reset(st_chan *ch, bool notify, mk_stream_event_type ev, bool by_peer,
                      unsigned reason, const char *text, mk_expiration expired);
/* Fill the free producer slots with due candidates. */
void mk_st_cons_pump(mk_stream_consumer *c, uint64_t now);
/* Make candidates of the catalog's producers of c's stream (at attach). */
void mk_st_cons_scan(st_ctx *ctx, mk_stream_consumer *c);
/* Unsubscribe (when subscribed) and free the channel (the consumer closes). */
void mk_st_cons_close(st_chan *ch);
void mk_st_cons_on_accept(st_chan *ch, const mk_id *peer, const mk_stream_msg *m);
void mk_st_cons_on_close(st_chan *ch, const mk_stream_msg *m);
/* A discovery event: new, changed and departed producers. */
void mk_st_cons_on_entry(st_ctx *ctx, const mk_network_event *ev);

/* ------------------------------------------------------------------ */
/* receive.c (loop, unless said)                                       */
/* ------------------------------------------------------------------ */

void mk_st_cons_on_data(st_chan *ch, const mk_stream_msg *m);
/* Return the credits the user consumed; with keepalive, an empty CREDIT
 * on channels quiet for ST_KEEPALIVE_MS. */
void mk_st_send_credits(mk_stream_consumer *c, bool keepalive);
/* Free what the receive queue holds (any thread, the consumer detached). */
void mk_st_rq_clear(mk_stream_consumer *c);

/* ------------------------------------------------------------------ */
/* attach.c                                                            */
/* ------------------------------------------------------------------ */

/* Run fn(arg) on the network's loop and wait; directly when on the loop,
 * or when the loop is gone (then nothing else runs concurrently). */
void mk_st_run_on_loop(mk_network *nw, void (*fn)(void *), void *arg);
/* Build o's requirements and attach o to its network's ctx (creating the
 * ctx, the protocol and the hook with the first owner). MK_EBUSY when the
 * node already has a live owner of the same side for the stream. */
int mk_st_owner_attach(st_owner *o, const mk_requirements *req, const mk_requirements *inst,
                       mk_error *err);
/* Close o's channels and detach it (the ctx goes with the last owner). */
void mk_st_owner_detach(st_owner *o);
/* A SUBSCRIBE on conn was refused: count it in the connection's window;
 * beyond max refusals close the connection. true when closed (loop). */
bool mk_st_conn_refused(mk_transport_conn *conn, uint32_t max);

#endif
