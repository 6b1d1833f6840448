/*
 * mosaik/streams.h — typed streams between producers and consumers, gated
 * by tickets (require_ticket on both sides), and their declarative form.
 *
 * A stream is named by an id (mk_id_from_name("prices")). A *producer* adds
 * the id to its peer entry's served streams; a *consumer* finds producers in
 * the discovery catalog (entries serving the id), dials each on the
 * "streams" protocol and subscribes. Each side judges the other:
 *
 *   - a producer validates every consumer: the consumer's signed peer entry
 *     (sent in the subscribe handshake, or the newer one from the catalog)
 *     must satisfy all of the producer's validators (mk_validator_set_check)
 *     and its `require` predicates (tags, a custom callback);
 *   - a consumer validates every producer the same way against its own
 *     requirements.
 *
 * Admission is re-checked whenever the peer's entry changes (a ticket
 * removed or replaced: discovery hook), and a timer closes the subscription
 * the moment the earliest credential expires. A refusal or disconnection
 * carries a reason code and a text that the other side receives.
 *
 * Flow: credit based. A consumer grants each producer a window of items; a
 * producer sends only within it and queues the rest per consumer, up to
 * max_lag items; beyond that its lag policy applies (disconnect the
 * consumer, or drop items and count the drops). So a slow consumer never
 * makes the producer or the I/O thread block, and memory stays bounded.
 *
 * Threading: every function is safe to call from any thread. Delivery is a
 * blocking receive with a timeout plus a pollable fd. Observer callbacks,
 * validators and predicates run on the network's I/O thread and must not
 * block. Free every producer and consumer before freeing the network.
 *
 * See docs/streams.md for the wire protocol and the rules.
 */
#ifndef MOSAIK_STREAMS_H
#define MOSAIK_STREAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/discovery.h"
#include "mosaik/error.h"
#include "mosaik/id.h"
#include "mosaik/ticket.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MK_STREAMS_PROTOCOL "streams"
/* Hard caps. */
#define MK_STREAM_MAX_ITEM ((size_t)4 << 20) /* bytes of one datum */
#define MK_STREAM_MAX_REASON 256             /* bytes of a refusal text */
#define MK_STREAM_MAX_WINDOW 65536u          /* credits a consumer may grant */
#define MK_STREAM_MAX_LAG 1048576u           /* items queued per consumer */
/* Defaults. */
#define MK_STREAM_DEFAULT_WINDOW 512u
#define MK_STREAM_DEFAULT_MAX_LAG 1024u
#define MK_STREAM_DEFAULT_MAX_CONSUMERS 256u
#define MK_STREAM_DEFAULT_MAX_PRODUCERS 16u
#define MK_STREAM_DEFAULT_RETRY_MIN_MS 250u
#define MK_STREAM_DEFAULT_RETRY_MAX_MS 4000u

/* ------------------------------------------------------------------ */
/* Reasons (on the wire: u16)                                          */
/* ------------------------------------------------------------------ */

typedef enum mk_stream_reason {
    MK_STREAM_R_NONE = 0,
    MK_STREAM_R_UNKNOWN_STREAM = 1, /* the peer does not produce this stream */
    MK_STREAM_R_TICKET = 2,         /* a validator refused the peer's tickets */
    MK_STREAM_R_EXPIRED = 3,        /* the admitting credential expired */
    MK_STREAM_R_REQUIREMENT = 4,    /* a tag or custom requirement failed */
    MK_STREAM_R_FULL = 5,           /* max_consumers reached */
    MK_STREAM_R_LAGGING = 6,        /* the consumer fell behind (policy: disconnect) */
    MK_STREAM_R_CLOSED = 7,         /* the other side closed the stream */
    MK_STREAM_R_BAD_ENTRY = 8,      /* the peer entry is invalid or of another network */
    MK_STREAM_R_REVOKED = 9,        /* re-validation after an entry change failed */
    MK_STREAM_R_DEPARTED = 10,      /* the peer departed or was purged */
    MK_STREAM_R_PROTOCOL = 11,      /* protocol violation */
    MK_STREAM_R_NETWORK = 12,       /* connection failed or closed */
    MK_STREAM_R_COUNT
} mk_stream_reason;

/* A stable short name ("ticket", "expired", …); "unknown" beyond the enum. */
const char *mk_stream_reason_name(unsigned reason);

/* ------------------------------------------------------------------ */
/* Requirements (MK_VALIDATORS is also used by mosaik/collections.h)   */
/* ------------------------------------------------------------------ */

/* A custom requirement on the peer's entry (I/O thread; must not block).
 * Return 0 to accept, or a negative code with a reason. */
typedef int (*mk_require_fn)(const mk_peer_entry *peer, void *ctx, mk_error *err);

/* What one side requires of the other. All of it must hold. */
typedef struct mk_requirements {
    const mk_validator_spec *validators; /* all required (ANDed) */
    size_t n_validators;
    const char *const *tags; /* tag names (or hex ids), all required */
    size_t n_tags;
    mk_require_fn require; /* optional */
    void *require_ctx;
} mk_requirements;

/* Factories come with each validator module: mk_validator_factory_jwt
 * (mosaik/jwt.h), mk_validator_factory_tdx (mosaik/tdx_ticket.h), or any
 * user function of type mk_validator_factory (mosaik/ticket.h). */

/* ------------------------------------------------------------------ */
/* Datum codecs                                                        */
/* ------------------------------------------------------------------ */

/* How a datum is encoded on the wire. Raw streams carry bytes as given
 * (codec NULL). A codec's decode runs in the consumer's receiving thread
 * (mk_stream_recv), encode in the producer's sending thread. */
typedef struct mk_datum_codec {
    const char *name;
    int (*encode)(const void *value, mk_buf *out, mk_error *err);
    /* Must treat data as untrusted (read it through mk_reader). */
    int (*decode)(const uint8_t *data, size_t len, void **value, mk_error *err);
    void (*free_value)(void *value);
} mk_datum_codec;

/* ------------------------------------------------------------------ */
/* Declarations                                                        */
/* ------------------------------------------------------------------ */

/* One static declaration of a stream: its name, datum codec and each
 * side's requirements. `producer` is what producers require of their
 * consumers; `consumer` what consumers require of their producers. */
typedef struct mk_stream_def {
    const char *name;
    const mk_datum_codec *codec; /* NULL: raw bytes */
    mk_requirements producer;
    mk_requirements consumer;
} mk_stream_def;

/* Declarative helpers:
 *
 *   static mk_tdx_validator_opts *g_tdx;   // filled in main()
 *   MK_STREAM_DEF(PRICES, "prices", &price_codec,
 *       MK_REQUIRE(MK_VALIDATORS({mk_validator_factory_tdx, &g_tdx}), MK_NO_TAGS),
 *       MK_REQUIRE_NOTHING);
 *   ...
 *   mk_stream_producer_new_from_def(nw, &PRICES, NULL, &p, &err);
 */
#define MK_STREAM_DEF(ident, NAME, CODEC, PRODUCER_REQ, CONSUMER_REQ)                              \
    static const mk_stream_def ident = {                                                           \
        .name = (NAME), .codec = (CODEC), .producer = PRODUCER_REQ, .consumer = CONSUMER_REQ}
#define MK_VALIDATORS(...)                                                                         \
    .validators = (const mk_validator_spec[]){__VA_ARGS__},                                        \
    .n_validators = sizeof((const mk_validator_spec[]){__VA_ARGS__}) / sizeof(mk_validator_spec)
#define MK_NO_VALIDATORS .validators = NULL, .n_validators = 0
#define MK_TAGS(...)                                                                               \
    .tags = (const char *const[]){__VA_ARGS__},                                                    \
    .n_tags = sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)
#define MK_NO_TAGS .tags = NULL, .n_tags = 0
#define MK_REQUIRE(...)                                                                            \
    { __VA_ARGS__ }
#define MK_REQUIRE_NOTHING                                                                         \
    { MK_NO_VALIDATORS, MK_NO_TAGS }

/* ------------------------------------------------------------------ */
/* Events (observer callback, on the I/O thread)                       */
/* ------------------------------------------------------------------ */

typedef enum mk_stream_event_type {
    MK_STREAM_EV_ADMITTED = 1,     /* a subscription became active */
    MK_STREAM_EV_REFUSED = 2,      /* we refused the peer (at subscribe) */
    MK_STREAM_EV_REJECTED = 3,     /* the peer refused us (at subscribe) */
    MK_STREAM_EV_DISCONNECTED = 4, /* an active subscription ended */
} mk_stream_event_type;

const char *mk_stream_event_name(mk_stream_event_type t);

typedef struct mk_stream_event {
    mk_stream_event_type type;
    mk_id stream_id;
    mk_id peer;
    bool producer_side;    /* the local object is a producer */
    bool by_peer;          /* DISCONNECTED/REJECTED: the peer decided */
    unsigned reason;       /* mk_stream_reason */
    const char *text;      /* reason text ("" when none) */
    mk_expiration expires; /* ADMITTED: admission expiry; EXPIRED: the credential's expiry */
    int64_t late_ms;       /* EXPIRED: wall ms between the expiry and this event */
} mk_stream_event;

typedef void (*mk_stream_observer)(const mk_stream_event *ev, void *ctx);

/* ------------------------------------------------------------------ */
/* Producers                                                           */
/* ------------------------------------------------------------------ */

typedef enum mk_stream_lag_policy {
    MK_STREAM_LAG_DISCONNECT = 0,  /* close the lagging consumer (reason "lagging") */
    MK_STREAM_LAG_DROP_NEWEST = 1, /* drop the new item for that consumer, count it */
    MK_STREAM_LAG_DROP_OLDEST = 2, /* drop the oldest queued item, count it */
} mk_stream_lag_policy;

typedef struct mk_stream_producer_config {
    uint32_t max_consumers; /* 0: default */
    uint32_t max_lag;       /* items queued per consumer beyond its credits; 0: default */
    mk_stream_lag_policy lag_policy;
    uint32_t inbox; /* items handed to the I/O thread at once; 0: 4096 */
    mk_stream_observer on_event;
    void *event_ctx;
} mk_stream_producer_config;

void mk_stream_producer_config_init(mk_stream_producer_config *o);

typedef struct mk_stream_producer mk_stream_producer;

/* Create a raw producer of stream `name` requiring `req` of its consumers
 * (NULL: nothing), and serve it (adds the id to the entry). */
int mk_stream_producer_new(mk_network *nw, const char *name, const mk_requirements *req,
                           const mk_stream_producer_config *opts, mk_stream_producer **out,
                           mk_error *err);
/* From a declaration: name, codec and def->producer requirements. */
int mk_stream_producer_new_from_def(mk_network *nw, const mk_stream_def *def,
                                    const mk_stream_producer_config *opts, mk_stream_producer **out,
                                    mk_error *err);
/* Add a validator after creation (takes ownership); re-checks nothing that
 * is already admitted until the next entry change. */
int mk_stream_producer_require(mk_stream_producer *p, mk_validator *v, mk_error *err);
/* Stop serving, close every subscription (reason "closed"), free. */
void mk_stream_producer_free(mk_stream_producer *p);

/* Send one datum (copied) to every admitted consumer. Blocks only while
 * the I/O thread is behind (its inbox is full), up to timeout_ms, then
 * MK_EBUSY. MK_ETOOBIG beyond MK_STREAM_MAX_ITEM. */
int mk_stream_send(mk_stream_producer *p, const void *data, size_t len, uint32_t timeout_ms,
                   mk_error *err);
/* Encode with the declaration's codec, then send. */
int mk_stream_send_value(mk_stream_producer *p, const void *value, uint32_t timeout_ms,
                         mk_error *err);

void mk_stream_producer_id(const mk_stream_producer *p, mk_id *out);

/* ------------------------------------------------------------------ */
/* Consumers                                                           */
/* ------------------------------------------------------------------ */

typedef struct mk_stream_consumer_config {
    uint32_t window;        /* credits granted per producer (queue bound); 0: default */
    uint32_t max_producers; /* 0: default */
    uint32_t retry_min_ms;  /* backoff after a refusal/disconnect; 0: default */
    uint32_t retry_max_ms;
    mk_stream_observer on_event;
    void *event_ctx;
} mk_stream_consumer_config;

void mk_stream_consumer_config_init(mk_stream_consumer_config *o);

typedef struct mk_stream_consumer mk_stream_consumer;

int mk_stream_consumer_new(mk_network *nw, const char *name, const mk_requirements *req,
                           const mk_stream_consumer_config *opts, mk_stream_consumer **out,
                           mk_error *err);
int mk_stream_consumer_new_from_def(mk_network *nw, const mk_stream_def *def,
                                    const mk_stream_consumer_config *opts, mk_stream_consumer **out,
                                    mk_error *err);
int mk_stream_consumer_require(mk_stream_consumer *c, mk_validator *v, mk_error *err);
/* Also subscribe to a producer named directly ("PEERID@HOST:PORT"),
 * whether or not discovery knows it. */
int mk_stream_consumer_connect(mk_stream_consumer *c, const char *peer_addr, mk_error *err);
void mk_stream_consumer_free(mk_stream_consumer *c);

typedef struct mk_stream_item {
    mk_id producer;
    uint64_t seq; /* the producer's item number (gaps: items not received) */
    uint8_t *data;
    size_t len;
    void *value; /* decoded datum when the stream has a codec */
    const mk_datum_codec *codec;
} mk_stream_item;

/* Wait up to timeout_ms (0: poll; MK_NO_TIMEOUT: forever) for a datum:
 * 0 with *item filled (free with mk_stream_item_free), MK_ETIMEDOUT. With a
 * codec, item->value is decoded; undecodable data are skipped and counted
 * (decode_errors). */
int mk_stream_recv(mk_stream_consumer *c, uint32_t timeout_ms, mk_stream_item *item);
void mk_stream_item_free(mk_stream_item *item);
/* Readable while items are queued (an eventfd; do not read it). */
int mk_stream_consumer_fd(const mk_stream_consumer *c);

/* ------------------------------------------------------------------ */
/* Conditions                                                          */
/* ------------------------------------------------------------------ */

/* A condition on the active subscriptions of a producer (its consumers) or
 * a consumer (its producers): at least min_peers active, counting only
 * peers whose entries carry every tag; or, with offline, fewer than
 * min_peers (min_peers 0 means 1: online = one or more). */
typedef struct mk_stream_when {
    unsigned min_peers;
    const mk_id *tags;
    size_t n_tags;
    bool offline;
} mk_stream_when;

mk_stream_when mk_when_subscribed(void);       /* >= 1 */
mk_stream_when mk_when_minimum_of(unsigned n); /* >= n */
mk_stream_when mk_when_offline(void);          /* none */

/* 0 when the condition holds (now or within timeout_ms), else MK_ETIMEDOUT. */
int mk_stream_producer_wait(mk_stream_producer *p, const mk_stream_when *w, uint32_t timeout_ms);
int mk_stream_consumer_wait(mk_stream_consumer *c, const mk_stream_when *w, uint32_t timeout_ms);

/* ------------------------------------------------------------------ */
/* Statistics                                                          */
/* ------------------------------------------------------------------ */

typedef struct mk_stream_channel_stats {
    mk_id peer;
    bool active;
    uint64_t items; /* sent (producer) / received (consumer) */
    uint64_t bytes;
    uint64_t drops; /* dropped by the lag policy (producer) / seq gaps (consumer) */
    uint64_t queued;
    mk_expiration expires;
    unsigned last_reason; /* why it last ended or was refused (0: never) */
} mk_stream_channel_stats;

typedef struct mk_stream_stats {
    uint64_t items, bytes, drops;
    uint64_t admitted, refused, rejected, disconnected;
    uint64_t decode_errors;
    uint32_t active;
} mk_stream_stats;

void mk_stream_producer_stats(mk_stream_producer *p, mk_stream_stats *out);
void mk_stream_consumer_stats(mk_stream_consumer *c, mk_stream_stats *out);
/* Per peer (channels ever seen, active or not): *out is malloc'd (free()). */
int mk_stream_producer_channels(mk_stream_producer *p, mk_stream_channel_stats **out, size_t *n);
int mk_stream_consumer_channels(mk_stream_consumer *c, mk_stream_channel_stats **out, size_t *n);

/* ------------------------------------------------------------------ */
/* Wire messages (exposed for the fuzz target and tests)               */
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

#ifdef __cplusplus
}
#endif
#endif
