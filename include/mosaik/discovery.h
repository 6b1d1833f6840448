/*
 * mosaik/discovery.h — the network: peer entries, the catalog, gossip
 * announce and catalog sync on top of the transport (mosaik/net.h).
 *
 * An mk_network is what a user creates to join a mosaik network: it owns one
 * mk_transport (one I/O thread), the node's signed *peer entry* and a *catalog* of
 * the other peers' entries. Nodes learn about each other by epidemic gossip
 * (a changed entry is pushed to a few random peers, who forward what is new
 * to them) and by periodic anti-entropy (two nodes exchange digests of their
 * catalogs and then only the entries the other lacks). See docs/discovery.md
 * for the formats, rules and limits.
 *
 * Threading: every function here is safe to call from any thread. Events are
 * delivered through a bounded queue the user drains with
 * mk_network_next_event (blocking with a timeout) or by polling
 * mk_network_event_fd. Entry hooks (mk_network_add_hook) run on the I/O
 * thread and must not block.
 */
#ifndef MOSAIK_DISCOVERY_H
#define MOSAIK_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/crypto.h"
#include "mosaik/error.h"
#include "mosaik/export.h"
#include "mosaik/id.h"
#include "mosaik/net.h"
#include "mosaik/ticket.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Peer entries                                                        */
/* ------------------------------------------------------------------ */

/* Hard caps of one entry (refused beyond them). */
#define MK_ENTRY_MAX_BYTES ((size_t)384 * 1024) /* the whole signed wire form */
#define MK_ENTRY_MAX_TICKETS 8
#define MK_ENTRY_MAX_ADDRS 8
#define MK_ENTRY_MAX_TAGS 32
#define MK_ENTRY_MAX_SERVED 64 /* per list: streams, groups, collections */
#define MK_ENTRY_ADDR_MAX MK_TRANSPORT_ADDR_MAX
#define MK_ENTRY_FORMAT 1
#define MK_ENTRY_SIG_DOMAIN "mosaik.discovery.entry.v1"

/* What a peer serves, by kind. */
typedef enum mk_served_kind {
    MK_SERVED_STREAM = 0,
    MK_SERVED_GROUP = 1,
    MK_SERVED_COLLECTION = 2,
} mk_served_kind;
#define MK_SERVED_KINDS 3

typedef struct mk_id_list {
    mk_id *items;
    size_t n;
} mk_id_list;

/* A peer entry. All arrays are owned (free with mk_peer_entry_free).
 *
 * version: the signing time in milliseconds since the epoch, made strictly
 * increasing (each change takes max(previous + 1, now_ms)). Because it
 * follows the wall clock, a restarted node's first entry is newer than
 * anything it signed before (including its departure), without storing a
 * counter. It doubles as the entry's timestamp for freshness checks. */
typedef struct mk_peer_entry {
    mk_id peer_id;
    mk_id network_id;
    uint64_t version;
    int64_t started_at; /* seconds since the epoch (as TDX tickets bind it) */
    bool departed;      /* a signed departure (tombstone) */
    char (*addrs)[MK_ENTRY_ADDR_MAX + 1];
    size_t n_addrs;
    mk_id_list tags;
    mk_id_list served[MK_SERVED_KINDS];
    mk_ticket *tickets;
    size_t n_tickets;
    uint8_t signature[64];
} mk_peer_entry;

MK_EXTERN void mk_peer_entry_init(mk_peer_entry *e);
MK_EXTERN void mk_peer_entry_free(mk_peer_entry *e);
MK_EXTERN int mk_peer_entry_copy(mk_peer_entry *dst, const mk_peer_entry *src);

/* Builders (check the caps; duplicates are ignored for ids). */
MK_EXTERN int mk_peer_entry_add_addr(mk_peer_entry *e, const char *addr, mk_error *err);
MK_EXTERN int mk_peer_entry_add_tag(mk_peer_entry *e, const mk_id *tag, mk_error *err);
MK_EXTERN int mk_peer_entry_remove_tag(mk_peer_entry *e, const mk_id *tag);
MK_EXTERN int mk_peer_entry_add_served(mk_peer_entry *e, mk_served_kind kind, const mk_id *id,
                                       mk_error *err);
MK_EXTERN int mk_peer_entry_remove_served(mk_peer_entry *e, mk_served_kind kind, const mk_id *id);
/* Tickets are copied. */
MK_EXTERN int mk_peer_entry_add_ticket(mk_peer_entry *e, const mk_ticket *t, mk_error *err);
/* Remove tickets equal to t (class and data); returns how many. */
MK_EXTERN size_t mk_peer_entry_remove_ticket(mk_peer_entry *e, const mk_ticket *t);
MK_EXTERN size_t mk_peer_entry_remove_tickets_of(mk_peer_entry *e, const mk_id *class_id);
MK_EXTERN bool mk_peer_entry_has_tag(const mk_peer_entry *e, const mk_id *tag);
MK_EXTERN bool mk_peer_entry_serves(const mk_peer_entry *e, mk_served_kind kind, const mk_id *id);
/* A view for validators (borrows e's tickets). */
MK_EXTERN void mk_peer_entry_view(const mk_peer_entry *e, mk_peer_view *out);

/* The canonical CBOR body (unsigned): a definite map with keys 0..11 in
 * order, minimal integers (docs/discovery.md). */
MK_EXTERN int mk_peer_entry_encode_body(const mk_peer_entry *e, mk_buf *out, mk_error *err);
/* Sign: e->peer_id must be key's public key; fills e->signature. */
MK_EXTERN int mk_peer_entry_sign(mk_peer_entry *e, const mk_ed25519_key *key, mk_error *err);
/* The signed wire form: CBOR array [body (bstr), signature (bstr 64)]. */
MK_EXTERN int mk_peer_entry_encode(const mk_peer_entry *e, mk_buf *out, mk_error *err);
/* Decode and verify the signature (but no policy: network, version, time).
 * On failure *e is left empty and nothing is allocated. Refuses
 * non-canonical bodies, unknown formats, anything over a cap. */
MK_EXTERN int mk_peer_entry_decode(const uint8_t *data, size_t len, mk_peer_entry *e,
                                   mk_error *err);

/* ------------------------------------------------------------------ */
/* The network                                                         */
/* ------------------------------------------------------------------ */

typedef struct mk_network mk_network;

/* Defaults. */
#define MK_NETWORK_DEFAULT_FANOUT 4
#define MK_NETWORK_DEFAULT_HOPS 8
#define MK_NETWORK_DEFAULT_ANNOUNCE_MS 20000u /* re-announce (heartbeat) period */
#define MK_NETWORK_DEFAULT_SYNC_MS 10000u
#define MK_NETWORK_DEFAULT_PURGE_MS 90000u
#define MK_NETWORK_DEFAULT_MAX_DRIFT_MS 60000u
#define MK_NETWORK_DEFAULT_MAX_PEERS 4096u
#define MK_NETWORK_DEFAULT_MAX_CATALOG_BYTES ((size_t)64 << 20)
#define MK_NETWORK_DEFAULT_MAX_DIALS 32u
#define MK_NETWORK_DEFAULT_EVENT_QUEUE 1024u
#define MK_NETWORK_DEFAULT_MAX_NEW_PER_CONN 1024u /* new identities per connection and window */
#define MK_NETWORK_MAX_BOOTSTRAP 64
#define MK_NETWORK_PROTOCOL "discovery"

typedef struct mk_network_config {
    /* A name (hashed with mk_id_from_name) or 64 hex digits; a bad string
     * fails (mk_name_or_id_parse), as does a bad tag below. */
    const char *network;
    /* NULL: MK_TRANSPORT_DEFAULT_LISTEN ("127.0.0.1:0"). */
    const char *listen_addr;
    /* Addresses put in the entry; none: the bound listen address. */
    const char *const *advertise;
    size_t n_advertise;
    /* Secret key: key if set; else key_file (loaded, or created and saved);
     * else random. */
    const mk_ed25519_key *key;
    const char *key_file;
    /* "PEERID@HOST:PORT" (PEERID 64 hex digits). */
    const char *const *bootstrap;
    size_t n_bootstrap;
    /* Tags (names or hex ids, like network). */
    const char *const *tags;
    size_t n_tags;
    unsigned fanout;          /* peers an announcement is pushed to */
    unsigned max_hops;        /* hop limit of an announcement */
    uint32_t announce_ms;     /* periodic re-announce, +-25% jitter */
    uint32_t sync_ms;         /* periodic anti-entropy, +-25% jitter */
    uint32_t purge_after_ms;  /* entries older than this are dropped */
    uint32_t tombstone_ms;    /* departures kept this long (0: 2 * purge) */
    uint32_t max_drift_ms;    /* entries from further in the future refused */
    uint32_t min_sync_gap_ms; /* per-peer sync rate limit (0: sync_ms / 4) */
    uint32_t max_peers;       /* catalog entries (tombstones included) */
    size_t max_catalog_bytes; /* sum of encoded entries held */
    uint32_t max_dials;       /* outstanding outbound dials */
    uint32_t event_queue;     /* events held; the oldest are dropped beyond */
    uint32_t idle_timeout_ms; /* passed to net (0: net's default) */
    /* New identities (peers not in the catalog) one connection may bring
     * per purge_after window, unless their tickets pass ticket_validators
     * (0: MK_NETWORK_DEFAULT_MAX_NEW_PER_CONN). */
    uint32_t max_new_per_conn;
    /* Validators of the tickets that vouch for a peer (all required). A
     * vouched peer's entry evicts entries that are not vouched from a full
     * catalog, is not held to max_new_per_conn, and its connections are
     * preferred by the transport's connection limits (docs/discovery.md,
     * "Bounded resources"). They run on the I/O thread under the catalog's
     * lock, only when a peer's tickets change: they must not block nor
     * call back into the network. None: nobody is vouched. */
    const mk_validator_spec *ticket_validators;
    size_t n_ticket_validators;
    /* Connection limits passed to net (0: net's defaults). */
    uint32_t max_conns;
    uint32_t max_conns_per_addr;
    size_t max_partial_bytes;
} mk_network_config;

MK_EXTERN void mk_network_config_init(mk_network_config *cfg);

/* Create and start: binds the listener, starts the I/O thread, signs the
 * first entry and contacts the bootstrap peers. */
MK_EXTERN int mk_network_new(const mk_network_config *cfg, mk_network **out, mk_error *err);
/* Graceful shutdown: sign a departure and push it to up to 16 live peers,
 * wait up to 500 ms for those sends to be done, stop the transport.
 * Idempotent. */
MK_EXTERN int mk_network_close(mk_network *nw);
/* Close without a departure (as if the process died; tests). */
MK_EXTERN int mk_network_abort(mk_network *nw);
/* Close (gracefully if not yet closed) and free everything. NULL is fine. */
MK_EXTERN void mk_network_free(mk_network *nw);

MK_EXTERN void mk_network_peer_id(const mk_network *nw, mk_id *out);
MK_EXTERN void mk_network_id(const mk_network *nw, mk_id *out);
MK_EXTERN int mk_network_listen_addr(const mk_network *nw, char *out, size_t n);
/* How another node reaches this one: "<peer id hex>@<listen address>", the
 * form mk_network_config.bootstrap and `mosaik node --bootstrap` take.
 * MK_ETOOBIG if out (n bytes; MK_NETWORK_CONTACT_MAX always holds it) is too small. */
#define MK_NETWORK_CONTACT_MAX (MK_ID_HEX_LEN + MK_TRANSPORT_ADDR_MAX + 2)
MK_EXTERN int mk_network_contact(const mk_network *nw, char *out, size_t n);
/* The underlying transport (for protocols of later layers). */
MK_EXTERN mk_transport *mk_network_transport(mk_network *nw);

/* ----- the local entry: each change bumps the version and announces --- */

MK_EXTERN int mk_network_add_ticket(mk_network *nw, const mk_ticket *t, mk_error *err);
/* MK_ENOTFOUND if no equal ticket was present. */
MK_EXTERN int mk_network_remove_ticket(mk_network *nw, const mk_ticket *t, mk_error *err);
/* Removes every ticket of the class; *removed (may be NULL) gets the count. */
MK_EXTERN int mk_network_remove_tickets_of(mk_network *nw, const mk_id *class_id, size_t *removed,
                                           mk_error *err);
/* Replace all tickets of t's class by t (one version bump). */
MK_EXTERN int mk_network_replace_ticket(mk_network *nw, const mk_ticket *t, mk_error *err);
MK_EXTERN int mk_network_add_tag(mk_network *nw, const mk_id *tag, mk_error *err);
MK_EXTERN int mk_network_remove_tag(mk_network *nw, const mk_id *tag, mk_error *err);
MK_EXTERN int mk_network_add_served(mk_network *nw, mk_served_kind kind, const mk_id *id,
                                    mk_error *err);
MK_EXTERN int mk_network_remove_served(mk_network *nw, mk_served_kind kind, const mk_id *id,
                                       mk_error *err);
/* A ticket sink (mosaik/ticket.h: mk_ticket_sink) for
 * mk_tdx_attester_install_own_ticket: replaces the local entry's tickets of
 * t's class with t and announces. Use as
 *   mk_ticket_sink sink = {mk_network_sink_add_ticket, nw};
 * ctx is the mk_network. */
MK_EXTERN int mk_network_sink_add_ticket(void *ctx, const mk_ticket *t, mk_error *err);
/* A copy of the local entry. */
MK_EXTERN int mk_network_local_entry(mk_network *nw, mk_peer_entry *out);

/* ----- the catalog --------------------------------------------------- */

/* Snapshot of the live (not departed) peers other than self: *out is an
 * array of *n copies; free with mk_peer_entries_free. */
MK_EXTERN int mk_network_peers(mk_network *nw, mk_peer_entry **out, size_t *n);
MK_EXTERN void mk_peer_entries_free(mk_peer_entry *entries, size_t n);
/* A copy of one live peer's entry; MK_ENOTFOUND if unknown or departed. */
MK_EXTERN int mk_network_get(mk_network *nw, const mk_id *peer, mk_peer_entry *out);
/* Number of live peers (self excluded). */
MK_EXTERN size_t mk_network_peer_count(mk_network *nw);

/* ----- events -------------------------------------------------------- */

typedef enum mk_network_event_type {
    MK_EVENT_DISCOVERED = 1, /* a peer's first accepted entry */
    MK_EVENT_UPDATED = 2,    /* a newer entry with different content */
    MK_EVENT_DEPARTED = 3,   /* a signed departure */
    MK_EVENT_PURGED = 4,     /* not refreshed within purge_after, or evicted for a vouched peer */
} mk_network_event_type;

MK_EXTERN const char *mk_network_event_name(mk_network_event_type t);

typedef struct mk_network_event {
    mk_network_event_type type;
    mk_id peer_id;
    uint64_t version;
    unsigned hops;       /* gossip hops the entry travelled (0: sync/direct) */
    uint64_t at_ms;      /* mk_mono_ms() when the node accepted it */
    mk_peer_entry entry; /* copy of the new entry (the last one for purged) */
} mk_network_event;

/* Wait up to timeout_ms (0: poll, MK_NO_TIMEOUT: forever) for an event.
 * 0 with *ev filled (free with mk_network_event_free), MK_ETIMEDOUT, or
 * MK_ESTATE once the network is closed and the queue drained. */
MK_EXTERN int mk_network_next_event(mk_network *nw, uint32_t timeout_ms, mk_network_event *ev);
MK_EXTERN void mk_network_event_free(mk_network_event *ev);
/* Readable while events are queued (an eventfd); do not read it yourself. */
MK_EXTERN int mk_network_event_fd(const mk_network *nw);

/* ----- attaching a layer (streams, groups) ---------------------------- */

/* A layer built on discovery attaches to a network in one way (docs/net.md,
 * "Attaching a layer"): its per-network state lives in a typed slot
 * (below), it registers its protocol on mk_network_transport(nw) with
 * mk_transport_protocol_register and adds a hook here, both with that state as
 * ctx, and it reaches the I/O thread with mk_transport_call. To detach while the
 * network runs it calls mk_transport_protocol_unregister, mk_network_remove_hook
 * and mk_network_slot_detach, after which none of its callbacks runs and
 * it may free its state; or it stays until mk_network_free destroys the
 * slot. */

/* Hooks: called on the I/O thread after an entry changed, with the event
 * (borrowed; queued for the user just before). At most 16 hooks. */
typedef void (*mk_network_hook)(mk_network *nw, const mk_network_event *ev, void *ctx);
MK_EXTERN int mk_network_add_hook(mk_network *nw, mk_network_hook fn, void *ctx, mk_error *err);
/* Remove the hook added with (fn, ctx). Once it returned the hook is not
 * called again (from another thread it waits until a run of the hooks in
 * progress on the I/O thread finished, so do not hold a lock the hook
 * takes; from a hook, the hooks after it in the same run skip it).
 * MK_ENOTFOUND if no such hook is registered. */
MK_EXTERN int mk_network_remove_hook(mk_network *nw, mk_network_hook fn, void *ctx);

/* A kind of per-network state: one static const instance per layer, whose
 * address is the slot's key. */
typedef struct mk_network_slot_type {
    const char *name; /* for errors, e.g. "streams" */
    /* Run by mk_network_free after the I/O thread has stopped (so no
     * callback can still see ptr), newest slot first; NULL: nothing. */
    void (*destroy)(void *ptr);
} mk_network_slot_type;

/* Store ptr in the slot of type. MK_EBUSY if that slot is taken (another
 * thread may have won a race: use mk_network_slot_get) or all 8 are. */
MK_EXTERN int mk_network_slot_attach(mk_network *nw, const mk_network_slot_type *type, void *ptr,
                                     mk_error *err);
/* The pointer in the slot of type, or NULL. */
MK_EXTERN void *mk_network_slot_get(mk_network *nw, const mk_network_slot_type *type);
/* Empty the slot of type without destroying: returns its pointer (NULL if
 * none), which the caller now owns. Detach only after unregistering the
 * protocol and removing the hooks that use the pointer. */
MK_EXTERN void *mk_network_slot_detach(mk_network *nw, const mk_network_slot_type *type);

/* ----- metrics -------------------------------------------------------- */

/* Why an entry or message was refused. */
typedef enum mk_refusal {
    MK_REFUSE_MALFORMED = 0, /* undecodable message or entry */
    MK_REFUSE_TOO_BIG,       /* over a cap */
    MK_REFUSE_BAD_SIGNATURE,
    MK_REFUSE_WRONG_NETWORK,
    MK_REFUSE_FUTURE,       /* timestamp beyond max drift */
    MK_REFUSE_STALE,        /* older than purge_after */
    MK_REFUSE_OLD_VERSION,  /* not newer than the held version (replay) */
    MK_REFUSE_TOMBSTONE,    /* not newer than a held departure */
    MK_REFUSE_CATALOG_FULL, /* max_peers / max_catalog_bytes reached */
    MK_REFUSE_RATE_LIMITED, /* sync too often from one peer */
    MK_REFUSE_SELF,         /* an entry carrying our own id */
    MK_REFUSE_NEW_IDS,      /* a new identity beyond max_new_per_conn on its connection */
    MK_REFUSE_COUNT
} mk_refusal;

MK_EXTERN const char *mk_refusal_name(mk_refusal r);

typedef struct mk_network_metrics {
    uint64_t catalog_size; /* live entries, self excluded */
    uint64_t tombstones;
    uint64_t catalog_bytes;
    uint64_t local_version;
    uint64_t announces_sent; /* frames carrying an entry, gossip */
    uint64_t forwarded;      /* entries forwarded */
    uint64_t entries_accepted;
    uint64_t syncs_started;
    uint64_t syncs_answered;
    uint64_t sync_entries_sent;
    uint64_t discovered, updated, departed, purged;
    uint64_t evicted; /* records dropped from a full catalog for a vouched newcomer */
    uint64_t dials_failed;
    uint64_t dials_dropped;  /* over max_dials */
    uint64_t events_dropped; /* queue overflow */
    uint64_t refused[MK_REFUSE_COUNT];
    mk_transport_metrics net;
} mk_network_metrics;

MK_EXTERN void mk_network_metrics_get(mk_network *nw, mk_network_metrics *out);
/* Prometheus text exposition format (appended to out). */
MK_EXTERN int mk_network_metrics_prometheus(mk_network *nw, mk_buf *out);

/* ----- recent refusals ------------------------------------------------ */

/* A bounded ring of the node's recent refusals, in either direction: a
 * peer this node refused (a stream subscription, a group or collection
 * bond, a discovery entry) or one that refused this node, with the
 * validator's reason. Repeats of the same (peer, layer, direction, where,
 * reason) are merged into one record (count, last_at), so a peer retrying
 * does not push others out; beyond MK_NETWORK_REFUSALS records the least
 * recently seen one is replaced. Safe from any thread, the I/O thread and
 * hooks included (the ring has a lock of its own, taken last). */
#define MK_NETWORK_REFUSALS 64
#define MK_REFUSAL_WHERE_MAX 64   /* bytes of a name, without the NUL */
#define MK_REFUSAL_REASON_MAX 255 /* bytes of a reason, without the NUL */

typedef enum mk_refusal_layer {
    MK_REFUSAL_GROUP = 0, /* a group bond (HELLO) */
    MK_REFUSAL_COLLECTION = 1,
    MK_REFUSAL_STREAM = 2,    /* a subscription */
    MK_REFUSAL_DISCOVERY = 3, /* an entry or message of the catalog */
} mk_refusal_layer;

typedef struct mk_refusal_record {
    mk_id peer;
    mk_refusal_layer layer;
    bool by_peer;                           /* the peer refused us (false: we refused it) */
    char where[MK_REFUSAL_WHERE_MAX + 1];   /* stream, group or collection name ("" if none) */
    char reason[MK_REFUSAL_REASON_MAX + 1]; /* e.g. "tdx: MRTD mismatch: ..." */
    int64_t first_at, last_at;              /* seconds since the epoch (mk_now) */
    uint64_t count;                         /* times seen (merged repeats) */
} mk_refusal_record;

/* "group", "collection", "stream", "discovery". */
MK_EXTERN const char *mk_refusal_layer_name(mk_refusal_layer l);
/* Record a refusal (layers call it at each refusal point; an application
 * may record its own). where and reason are truncated to their caps and
 * control bytes replaced by '?'. Returns true when the record is new (not
 * a merged repeat): the caller logs a new one at warning level, repeats at
 * debug, so the log says each reason once per peer. */
MK_EXTERN bool mk_network_note_refusal(mk_network *nw, const mk_id *peer, mk_refusal_layer layer,
                                       bool by_peer, const char *where, const char *reason);
/* Copy up to cap records, the most recently seen first; returns how many
 * were copied. out may be NULL with cap 0 (then: how many are held). */
MK_EXTERN size_t mk_network_refusals(mk_network *nw, mk_refusal_record *out, size_t cap);

/* ----- helpers ------------------------------------------------------- */

/* A network name or tag as configured: a name (hashed with mk_id_from_name)
 * or an id as 64 hex digits (optionally 0x-prefixed). Unlike mk_id_parse,
 * a bad string is an error (MK_EINVAL with the reason), never some id: NULL,
 * empty, longer than MK_NAME_MAX, control characters, something meant as a
 * hex id (0x-prefixed, or 64 hex digits) that is not exactly 64 hex
 * digits, and anything giving the all-zero id. */
#define MK_NAME_MAX 255
MK_EXTERN int mk_name_or_id_parse(const char *s, mk_id *out, mk_error *err);

/* Parse "PEERID@HOST:PORT" (PEERID 64 hex digits; the address numeric). */
MK_EXTERN int mk_parse_peer_addr(const char *s, mk_id *peer, char addr[MK_TRANSPORT_ADDR_MAX + 1],
                                 mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
