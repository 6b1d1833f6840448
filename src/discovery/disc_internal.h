/*
 * discovery/disc_internal.h — shared by the files of src/discovery/.
 *
 *   entry.c      peer entries: builders, canonical encoding, signing, decoding
 *   catalog.c    the catalog: acceptance rules, tombstones, purge, digests
 *   wire.c       discovery protocol messages (announce, digest)
 *   network.c    the mk_network's lifecycle: new (in named steps), close
 *                with the departure, abort, free, accessors
 *   local.c      changes of the local entry (version, sign, commit, announce)
 *   transport.c  discovery on the mk_transport: protocol callbacks, the connection
 *                table, outgoing messages riding on dials
 *   gossip.c     announce and forward (epidemic push), heartbeat, first
 *                contact, receiving entries
 *   sync.c       anti-entropy (digests) and its per-peer rate limit
 *   events.c     the event queue, its eventfd, hooks
 *   attach.c     per-network slots of the layers built on discovery
 *   peers.c      catalog queries and the purge timer
 *   metrics.c    refusals (counted, logged), counters, the Prometheus text
 *
 * The CBOR pull reader and canonical head writers the formats use are in
 * core/cbor.h (included here for all of them).
 *
 * Threads and locks (the rules every file follows). The mk_transport's I/O thread
 * ("the loop") runs every protocol callback, timer and dial completion;
 * user threads call the public API. Shared state (the catalog, the local
 * entry and its wire form, the event queue, hooks, slots, counters, the
 * lifecycle state) is guarded by nw->mu; fields marked "loop" are touched
 * only on the loop. The loop never holds mu while calling into net or into
 * hooks; user threads never wait for the loop while holding mu (net's
 * timer, call and stop functions wait for the loop, which may itself be
 * waiting for mu).
 */
#ifndef MOSAIK_DISC_INTERNAL_H
#define MOSAIK_DISC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include "core/cbor.h"
#include "mosaik/bytes.h"
#include "mosaik/discovery.h"
#include "mosaik/error.h"

/* ----- entries (entry.c) ---------------------------------------------- */

/* True when a and b differ only in version and signature. */
bool mk_peer_entry_same_content(const mk_peer_entry *a, const mk_peer_entry *b);
/* True when a and b carry the same tickets, in the same order. */
bool mk_peer_entry_same_tickets(const mk_peer_entry *a, const mk_peer_entry *b);
/* The peer id of an entry in wire form, read from where the canonical
 * encoding puts it, without decoding or verifying anything: false when it
 * is not there (mk_peer_entry_decode then says why). */
bool mk_peer_entry_peek_id(const uint8_t *data, size_t len, mk_id *out);
/* The bytes that are signed: domain || 0x00 || body. */
int mk_peer_entry_signed_bytes(const uint8_t *body, size_t len, mk_buf *out);

/* ----- the catalog (catalog.c) ---------------------------------------- */

typedef struct mk_catalog_rec {
    mk_peer_entry entry;
    uint8_t *wire; /* the signed encoding, as received */
    size_t wire_len;
    /* Until when (seconds) the judge accepts its tickets ("vouched"); 0:
     * not vouched (no judge, no tickets, refused, or a departure). */
    int64_t vouched_until;
} mk_catalog_rec;

/* What vouches for a peer: 0 when its entry's tickets do not satisfy the
 * node's ticket validators at now_s, else until when they do (seconds). */
typedef int64_t (*mk_catalog_judge)(const mk_peer_entry *e, int64_t now_s, void *ctx);

typedef struct mk_catalog_limits {
    uint32_t max_peers;
    size_t max_bytes;
    uint64_t purge_after_ms;
    uint64_t tombstone_ms;
    uint64_t max_drift_ms;
} mk_catalog_limits;

typedef struct mk_catalog {
    mk_id network_id;
    mk_id self;
    mk_catalog_limits lim;
    mk_catalog_rec *recs; /* sorted by peer id */
    size_t n, cap;
    size_t bytes; /* sum of wire_len */
    size_t n_tombstones;
    mk_catalog_judge judge; /* NULL: nobody is vouched */
    void *judge_ctx;
} mk_catalog;

/* Per-offer policy and outcome (mk_catalog_offer_ex). */
typedef struct mk_catalog_offer_opts {
    /* in: refuse a new identity that is not vouched (new_ids) */
    bool no_new_unvouched;
    /* in: told of each live record evicted for the offered entry, before
     * it is freed (may be NULL) */
    void (*evicted)(const mk_catalog_rec *rec, void *ctx);
    void *ctx;
    /* out, on acceptance */
    bool new_identity; /* a record was added for a peer not held */
    bool vouched;      /* the judge accepts the entry's tickets now */
    size_t n_evicted;  /* records evicted for it (tombstones included) */
} mk_catalog_offer_opts;

typedef enum mk_offer_result {
    MK_OFFER_NEW = 1,       /* first entry of the peer */
    MK_OFFER_UPDATED = 2,   /* newer, content changed */
    MK_OFFER_REFRESHED = 3, /* newer, same content (heartbeat) */
    MK_OFFER_DEPARTED = 4,  /* newer, a departure */
} mk_offer_result;

/* Binary search of key in n records of `stride` bytes sorted by an mk_id
 * at their start (catalog records, digest items): the index of key
 * (*found), or where it would be inserted. */
size_t mk_disc_id_search(const void *base, size_t n, size_t stride, const mk_id *key, bool *found);

void mk_catalog_init(mk_catalog *c, const mk_id *network_id, const mk_id *self,
                     const mk_catalog_limits *lim);
void mk_catalog_free(mk_catalog *c);
/* Judge an entry in wire form at now_ms (wall clock, ms). On acceptance
 * returns 0, sets *res and (if out not NULL) copies the accepted entry
 * into *out. On refusal returns a negative code, sets *why and the reason;
 * the catalog is unchanged. A departure of a peer not held is stored as a
 * tombstone with result MK_OFFER_DEPARTED. */
int mk_catalog_offer(mk_catalog *c, const uint8_t *wire, size_t len, uint64_t now_ms,
                     mk_offer_result *res, mk_peer_entry *out, mk_refusal *why, mk_error *err);
/* The same with a policy (opts may be NULL: as mk_catalog_offer). When the
 * offered entry is vouched and does not fit (rule 7), records that are not
 * vouched are evicted for it, tombstones first, then live ones at random. */
int mk_catalog_offer_ex(mk_catalog *c, const uint8_t *wire, size_t len, uint64_t now_ms,
                        mk_catalog_offer_opts *opts, mk_offer_result *res, mk_peer_entry *out,
                        mk_refusal *why, mk_error *err);
/* 0: peer not held or departed; 1: held; 2: held and vouched at now_s. */
int mk_catalog_rank(const mk_catalog *c, const mk_id *peer, int64_t now_s);
const mk_catalog_rec *mk_catalog_find(const mk_catalog *c, const mk_id *peer);
/* Drop live entries older than purge_after (cb per purged peer, with the
 * record before it is freed) and tombstones older than tombstone_ms.
 * Returns the number of live entries purged. */
size_t mk_catalog_expire(mk_catalog *c, uint64_t now_ms,
                         void (*cb)(const mk_catalog_rec *rec, void *ctx), void *ctx);
size_t mk_catalog_live(const mk_catalog *c);

/* ----- protocol messages (wire.c) ------------------------------------- */

enum { MK_MSG_ANNOUNCE = 1, MK_MSG_DIGEST = 2 };
#define MK_DIGEST_MAX_ITEMS 8192
#define MK_DISC_MAX_FRAME (MK_ENTRY_MAX_BYTES + 1024)

typedef struct mk_digest_item {
    mk_id peer;
    uint64_t version;
} mk_digest_item;

typedef struct mk_disc_msg {
    unsigned type;
    /* announce */
    unsigned hops;
    const uint8_t *entry; /* view into the frame */
    size_t entry_len;
    /* digest */
    bool want_reply;
    mk_digest_item *items; /* owned; sorted by peer after decoding */
    size_t n_items;
} mk_disc_msg;

int mk_disc_encode_announce(mk_buf *out, unsigned hops, const uint8_t *entry, size_t len);
int mk_disc_encode_digest(mk_buf *out, bool want_reply, const mk_digest_item *items, size_t n);
/* Decode one frame. On failure nothing is allocated; *why says which
 * refusal to count (malformed or too big). */
int mk_disc_decode(const uint8_t *data, size_t len, mk_disc_msg *m, mk_refusal *why, mk_error *err);
void mk_disc_msg_free(mk_disc_msg *m);
/* Version held in a decoded (sorted) digest for peer, or false. */
bool mk_digest_lookup(const mk_disc_msg *m, const mk_id *peer, uint64_t *version);

/* ----- the network object ----------------------------------------------- */

#define MK_DISC_LOG "discovery"
#define MK_DISC_MAX_HOOKS 16
#define MK_DISC_MAX_SLOTS 8
#define MK_DISC_RATE_SLOTS 256
#define MK_DISC_RATE_WAYS 4 /* slots per bucket (sync.c) */

enum { MK_DISC_RUNNING = 1, MK_DISC_CLOSING, MK_DISC_CLOSED };

typedef struct mk_disc_boot {
    mk_id peer;
    char addr[MK_TRANSPORT_ADDR_MAX + 1];
} mk_disc_boot;

typedef struct mk_disc_rate_slot {
    mk_id peer;
    uint64_t last_request_ms; /* last digest request answered */
    uint64_t await_until_ms;  /* we asked this peer; accept its reply until then */
} mk_disc_rate_slot;

typedef struct mk_disc_conn {
    mk_id peer;
    mk_transport_conn *conn;
    uint32_t new_ids;   /* new identities it brought in the current window */
    uint64_t window_ms; /* mk_mono_ms() when that window began */
} mk_disc_conn;

/* Per-network state of a later layer (attach.c): key is the slot type. */
typedef struct mk_disc_slot {
    const void *key;
    void *ptr;
    void (*destroy)(void *ptr);
} mk_disc_slot;

typedef struct mk_disc_hook {
    mk_network_hook fn;
    void *ctx;
} mk_disc_hook;

typedef struct mk_disc_out mk_disc_out;

struct mk_network {
    mk_transport *net;
    mk_ed25519_key key;
    mk_id self, network_id;
    unsigned fanout, max_hops;
    uint32_t announce_ms, sync_ms, purge_ms, min_sync_gap_ms, max_dials, event_cap;
    uint32_t max_new_per_conn;
    mk_validator_set vouch; /* ticket_validators; fixed after creation */
    mk_disc_boot boot[MK_NETWORK_MAX_BOOTSTRAP];
    size_t n_boot;
    mk_transport_timer *t_announce, *t_sync, *t_purge, *t_kick;

    pthread_mutex_t mu;
    pthread_cond_t cond; /* events queued, departure progress, state (monotonic) */
    int state;           /* MK_DISC_* */
    mk_catalog cat;
    mk_peer_entry local;
    mk_buf local_wire;
    mk_network_event *evq;
    size_t ev_head, ev_n;
    int efd;
    mk_disc_hook hooks[MK_DISC_MAX_HOOKS];
    size_t n_hooks;
    mk_disc_slot slots[MK_DISC_MAX_SLOTS]; /* later layers' per-network state */
    size_t n_slots;
    mk_network_metrics met; /* counters; catalog and net fields filled on read */
    int depart_pending;     /* departure dials not yet completed */
    bool depart_posted;

    /* loop only */
    mk_disc_conn *conns; /* open discovery connections (one ref each) */
    size_t n_conns, cap_conns;
    mk_disc_out *pending; /* dials in progress, with their frames */
    mk_disc_rate_slot rate[MK_DISC_RATE_SLOTS];
    uint32_t dials_out;
    bool kicked;
    bool sync_soon; /* a sync brought new content: the next round comes early */
    uint64_t log_window_ms;
    unsigned log_count, log_suppressed;

    /* recent refusals (refusals.c), under rmu (a leaf lock) */
    pthread_mutex_t rmu;
    mk_refusal_record refusals[MK_NETWORK_REFUSALS];
    uint64_t refusal_seen[MK_NETWORK_REFUSALS]; /* refusal_clock when last seen */
    uint64_t refusal_clock;
    size_t n_refusals;
};

/* ms +-25% (random), at least 1. */
uint64_t mk_disc_jitter(uint64_t ms);

/* ----- local entry (local.c) ------------------------------------------- */

/* Under mu: give next a new version, sign and encode it; on success it
 * replaces the local entry (next is left empty), else nothing changes. */
int mk_disc_commit_locked(mk_network *nw, mk_peer_entry *next, mk_error *err);

/* ----- transport (transport.c) ----------------------------------------- */

/* Frames for one peer, sent on an open connection or riding on a dial. */
struct mk_disc_out {
    mk_network *nw;
    mk_id peer;
    mk_buf frames;     /* u32be length + bytes, repeated (our own data) */
    int departures;    /* departure frames inside (close waits for them) */
    mk_disc_out *next; /* pending-dial list */
};

/* The protocol record discovery registers ("discovery", ctx = nw). */
void mk_disc_protocol_init(mk_network *nw, mk_transport_protocol *p);
mk_disc_out *mk_disc_out_new(mk_network *nw);
void mk_disc_out_free(mk_disc_out *om);
/* Append one frame (length-prefixed) to a frame list. */
int mk_disc_frames_add(mk_buf *frames, const mk_buf *frame);
int mk_disc_out_add(mk_disc_out *om, const mk_buf *frame);
/* Send each frame on conn; stops at the first refusal. Returns how many. */
size_t mk_disc_out_send(const mk_buf *frames, mk_transport_conn *conn);
/* Loop only. Takes ownership of om: an open connection is used directly,
 * frames for a peer being dialed ride along with that dial, otherwise a new
 * dial, unless max_dials are outstanding (then dropped and counted). */
void mk_disc_send_to(mk_network *nw, const mk_id *peer, const char *addr, mk_disc_out *om);
/* n departure frames are done (sent or dropped): wakes mk_network_close. */
void mk_disc_depart_done(mk_network *nw, int n);

/* ----- gossip (gossip.c) ------------------------------------------------- */

typedef struct mk_disc_target {
    mk_id peer;
    char addr[MK_TRANSPORT_ADDR_MAX + 1];
} mk_disc_target;

/* Under mu: up to k random live peers with an address, excluding ex1/ex2;
 * *out (free it) holds them. */
size_t mk_disc_pick_locked(mk_network *nw, size_t k, const mk_id *ex1, const mk_id *ex2,
                           mk_disc_target **out);
/* Loop only: up to k random distinct peers with an open discovery
 * connection, excluding ex1/ex2, into out (room for k). */
size_t mk_disc_pick_open(mk_network *nw, size_t k, const mk_id *ex1, const mk_id *ex2, mk_id *out);
/* Loop only: push an entry (wire form) as an announce to k peers: those
 * connected first (up to 2k of them), then random catalog peers
 * (gossip.c). */
void mk_disc_push_entry(mk_network *nw, const uint8_t *wire, size_t len, unsigned hops, size_t k,
                        const mk_id *ex1, const mk_id *ex2, bool departure);
/* Loop only: an announce frame arrived on conn (hops 0: by sync). */
void mk_disc_handle_entry(mk_network *nw, mk_transport_conn *conn, const mk_id *from,
                          const uint8_t *wire, size_t len, unsigned hops);
void mk_disc_on_announce_timer(mk_transport_timer *t, void *ctx);
void mk_disc_on_kick_timer(mk_transport_timer *t, void *ctx);
/* mk_transport_post function: announce the local entry. */
void mk_disc_post_announce(mk_transport *net, void *ctx, int status);

/* ----- sync (sync.c) ----------------------------------------------------- */

/* Loop only: a sync brought an entry with new content; the next round
 * comes after min_sync_gap_ms instead of sync_ms. */
void mk_disc_sync_found(mk_network *nw);
/* Loop only: a digest arrived on conn. */
void mk_disc_handle_digest(mk_network *nw, mk_transport_conn *conn, const mk_id *from,
                           const mk_disc_msg *m);
void mk_disc_on_sync_timer(mk_transport_timer *t, void *ctx);
/* mk_transport_post function: sync with every bootstrap peer. */
void mk_disc_post_bootstrap(mk_transport *net, void *ctx, int status);

/* ----- events and hooks (events.c) -------------------------------------- */

/* Under mu: queue a copy of ev (in the same critical section as the catalog
 * change, so a user who sees the change finds the event queued). */
void mk_disc_queue_event_locked(mk_network *nw, const mk_network_event *ev);
/* Loop only, without mu: the hooks see the event (borrowed). */
void mk_disc_run_hooks(mk_network *nw, const mk_network_event *ev);
/* Free what is still queued (network.c, at free). */
void mk_disc_events_free(mk_network *nw);

/* ----- slots (attach.c) -------------------------------------------------- */

/* Destroy every slot, newest first (the I/O thread has stopped). */
void mk_disc_slots_destroy(mk_network *nw);

/* ----- peers (peers.c) ---------------------------------------------------- */

void mk_disc_on_purge_timer(mk_transport_timer *t, void *ctx);
/* Peers that left the catalog (purged or evicted): their PURGED events,
 * collected under mu (mk_disc_gone_add is a catalog callback), queued in
 * the same critical section, then logged and shown to the hooks without mu
 * (mk_disc_gone_finish frees them). */
typedef struct mk_disc_gone {
    mk_network_event *evs;
    size_t n, cap;
} mk_disc_gone;
void mk_disc_gone_add(const mk_catalog_rec *rec, void *ctx);
void mk_disc_gone_queue_locked(mk_network *nw, const mk_disc_gone *g);
void mk_disc_gone_finish(mk_network *nw, mk_disc_gone *g, const char *what);
/* The catalog's judge (ctx = nw): the ticket validators at now_s. */
int64_t mk_disc_judge(const mk_peer_entry *e, int64_t now_s, void *ctx);
/* The transport's peer rank (ctx = nw): mk_catalog_rank under mu. */
int mk_disc_peer_rank(const mk_id *peer, void *ctx);

/* ----- transport's per-connection records (transport.c) ---------------- */

/* Loop only: the record of an open connection, or NULL. Valid until the
 * next call into net (which may close connections). */
mk_disc_conn *mk_disc_conn_rec(mk_network *nw, mk_transport_conn *conn);

/* ----- metrics (metrics.c) -------------------------------------------- */

/* Count a refusal and log it (warnings rate-limited; routine duplicates at
 * debug level). Loop or user thread; takes mu. */
void mk_disc_refusal(mk_network *nw, mk_refusal why, const mk_id *from, const char *reason);
int mk_metrics_prometheus(const mk_network_metrics *m, const mk_id *peer, mk_buf *out);

#endif
