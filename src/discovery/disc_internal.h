/*
 * discovery/disc_internal.h — shared by the files of src/discovery/.
 *
 *   entry.c    peer entries: builders, canonical encoding, signing, decoding
 *   catalog.c  the catalog: acceptance rules, tombstones, purge, digests
 *   wire.c     discovery protocol messages (announce, digest)
 *   node.c     the mk_network object: net, timers, events, gossip, sync
 *   metrics.c  counters and the Prometheus text
 *
 * The CBOR pull reader and canonical head writers the formats use are in
 * core/cbor.h (included here for all of them).
 */
#ifndef MOSAIK_DISC_INTERNAL_H
#define MOSAIK_DISC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cbor.h"
#include "mosaik/bytes.h"
#include "mosaik/discovery.h"
#include "mosaik/error.h"

/* ----- entries (entry.c) ---------------------------------------------- */

/* True when a and b differ only in version and signature. */
bool mk_peer_entry_same_content(const mk_peer_entry *a, const mk_peer_entry *b);
/* The bytes that are signed: domain || 0x00 || body. */
int mk_peer_entry_signed_bytes(const uint8_t *body, size_t len, mk_buf *out);

/* ----- the catalog (catalog.c) ---------------------------------------- */

typedef struct mk_catalog_rec {
    mk_peer_entry entry;
    uint8_t *wire; /* the signed encoding, as received */
    size_t wire_len;
} mk_catalog_rec;

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
} mk_catalog;

typedef enum mk_offer_result {
    MK_OFFER_NEW = 1,       /* first entry of the peer */
    MK_OFFER_UPDATED = 2,   /* newer, content changed */
    MK_OFFER_REFRESHED = 3, /* newer, same content (heartbeat) */
    MK_OFFER_DEPARTED = 4,  /* newer, a departure */
} mk_offer_result;

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

/* ----- metrics (metrics.c) -------------------------------------------- */

int mk_metrics_prometheus(const mk_network_metrics *m, const mk_id *peer, mk_buf *out);

#endif
