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
#include "mosaik/codec.h"
#include "mosaik/discovery.h"
#include "mosaik/error.h"
#include "mosaik/export.h"
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
#define MK_STREAM_DEFAULT_VERDICT_TTL_MS 10000u /* judgements of one entry version reused */
#define MK_STREAM_DEFAULT_MAX_REFUSALS 8u       /* refused SUBSCRIBEs per connection per 10 s */

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
MK_EXTERN const char *mk_stream_reason_name(unsigned reason);

/* ------------------------------------------------------------------ */
/* Requirements                                                        */
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

/* Specs (mosaik/ticket.h) are held by value: the object made from the
 * requirements makes its own validators from them when it is created and
 * reads nothing of them later, so they may be compound literals or
 * locals. Factories come with each validator module: mk_validator_factory_jwt
 * (mosaik/jwt.h), mk_tdx_spec_factory / MK_TDX (mosaik/tdx_ticket.h), the
 * combinators MK_ANY_OF / MK_ALL_OF, MK_BORROW, or any user function of
 * type mk_validator_factory. */

/* ------------------------------------------------------------------ */
/* Datum codecs                                                        */
/* ------------------------------------------------------------------ */

/* How a datum is encoded on the wire: mk_datum_codec (mosaik/codec.h),
 * built in mk_codec_bytes, _string, _cbor, _json, or the program's own.
 * Raw streams carry bytes as given (codec NULL). A typed stream's producer
 * sends values (mk_stream_send_value encodes them in the sending thread);
 * its consumer receives them decoded (mk_stream_recv, item.value), and
 * skips and counts data its codec refuses (decode_errors). */

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

/* Declarative helpers (MK_VALIDATORS, MK_TDX, MK_ANY_OF: mosaik/ticket.h,
 * mosaik/tdx_ticket.h):
 *
 *   MK_STREAM_DEF(PRICES, "prices", &price_codec,
 *       MK_REQUIRE(MK_VALIDATORS(MK_TDX(.mrtd = "4f3c…")), MK_TAGS("trader")),
 *       MK_REQUIRE_NOTHING);
 *   ...
 *   mk_stream_producer_new_from_def(nw, &PRICES, NULL, &p, &err);
 *
 * What differs between instances (a simulator root, keys, this node's own
 * measurements) goes in the instance's configuration, by value, and is
 * required besides the declaration's:
 *
 *   mk_stream_consumer_config c = {.requirements = {MK_VALIDATORS(
 *       MK_TDX(.opts = my_opts, .mrtd = my_mrtd_hex))}};
 *   mk_stream_consumer_new_from_def(nw, &PRICES, &c, &cons, &err);
 */
#define MK_STREAM_DEF(ident, NAME, CODEC, PRODUCER_REQ, CONSUMER_REQ)                              \
    static const mk_stream_def ident = {                                                           \
        .name = (NAME), .codec = (CODEC), .producer = PRODUCER_REQ, .consumer = CONSUMER_REQ}
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

MK_EXTERN const char *mk_stream_event_name(mk_stream_event_type t);

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
    const char *name;             /* the stream's name (required; its id is mk_id_from_name) */
    const mk_datum_codec *codec;  /* NULL: raw bytes */
    mk_requirements requirements; /* what consumers must satisfy (zero: nothing) */
    uint32_t max_consumers;       /* 0: default */
    uint32_t max_lag;             /* items queued per consumer beyond its credits; 0: default */
    mk_stream_lag_policy lag_policy;
    uint32_t inbox; /* items handed to the I/O thread at once; 0: 4096 */
    /* How long a judgement of one (peer, entry version) is reused instead
     * of running the requirements again (an admission never beyond its
     * expiry); 0: default. */
    uint32_t verdict_ttl_ms;
    /* Refused SUBSCRIBEs one connection may send within 10 s; the next
     * refusal closes the connection (closed_refusals); 0: default. */
    uint32_t max_refusals;
    mk_stream_observer on_event;
    void *event_ctx;
} mk_stream_producer_config;

/* Defaults: no name, no requirements, the MK_STREAM_DEFAULT_* limits,
 * MK_STREAM_LAG_DISCONNECT, no observer. A zero field means its default,
 * so a designated initializer ({.name = "prices"}) is a valid config too. */
MK_EXTERN void mk_stream_producer_config_init(mk_stream_producer_config *cfg);

typedef struct mk_stream_producer mk_stream_producer;

/* Create a producer of stream cfg->name (typed when cfg->codec is set)
 * requiring cfg->requirements of its consumers, and serve it (adds the id
 * to the entry). */
MK_EXTERN int mk_stream_producer_new(mk_network *nw, const mk_stream_producer_config *cfg,
                                     mk_stream_producer **out, mk_error *err);
/* From a declaration: name, codec and def->producer requirements come from
 * def; cfg (NULL: defaults) gives the rest and must leave name and codec
 * unset (else MK_EINVAL). cfg->requirements.validators are this
 * instance's own, required besides the declaration's (several nodes of one
 * process open one declaration with different validator arguments); its
 * tags and predicate must stay unset (else MK_EINVAL). */
MK_EXTERN int mk_stream_producer_new_from_def(mk_network *nw, const mk_stream_def *def,
                                              const mk_stream_producer_config *cfg,
                                              mk_stream_producer **out, mk_error *err);
/* Add a validator after creation (takes ownership); re-checks nothing that
 * is already admitted until the next entry change. */
MK_EXTERN int mk_stream_producer_require(mk_stream_producer *p, mk_validator *v, mk_error *err);
/* Stop serving, close every subscription (reason "closed"), free. */
MK_EXTERN void mk_stream_producer_free(mk_stream_producer *p);

/* Send one datum (copied) to every admitted consumer. Blocks only while
 * the I/O thread is behind (its inbox is full), up to timeout_ms, then
 * MK_EBUSY. MK_ETOOBIG beyond MK_STREAM_MAX_ITEM. */
MK_EXTERN int mk_stream_send(mk_stream_producer *p, const void *data, size_t len,
                             uint32_t timeout_ms, mk_error *err);
/* Encode with the stream's codec (its declaration's or configuration's),
 * then send: MK_EINVAL for a raw stream, the codec's refusal (e.g. a
 * string that is not UTF-8). */
MK_EXTERN int mk_stream_send_value(mk_stream_producer *p, const void *value, uint32_t timeout_ms,
                                   mk_error *err);

MK_EXTERN void mk_stream_producer_id(const mk_stream_producer *p, mk_id *out);

/* ------------------------------------------------------------------ */
/* Consumers                                                           */
/* ------------------------------------------------------------------ */

typedef struct mk_stream_consumer_config {
    const char *name;             /* the stream's name (required) */
    const mk_datum_codec *codec;  /* NULL: raw bytes */
    mk_requirements requirements; /* what producers must satisfy (zero: nothing) */
    uint32_t window;              /* credits granted per producer (queue bound); 0: default */
    uint32_t max_producers;       /* 0: default */
    uint32_t retry_min_ms;        /* backoff after a refusal/disconnect; 0: default */
    uint32_t retry_max_ms;
    uint32_t verdict_ttl_ms; /* as the producer's; 0: default */
    mk_stream_observer on_event;
    void *event_ctx;
} mk_stream_consumer_config;

/* Defaults: no name, no requirements, the MK_STREAM_DEFAULT_* limits, no
 * observer; as for producers, a zero field means its default. */
MK_EXTERN void mk_stream_consumer_config_init(mk_stream_consumer_config *cfg);

typedef struct mk_stream_consumer mk_stream_consumer;

/* Create a consumer of stream cfg->name (typed when cfg->codec is set)
 * requiring cfg->requirements of its producers; it subscribes to every
 * producer discovery finds. */
MK_EXTERN int mk_stream_consumer_new(mk_network *nw, const mk_stream_consumer_config *cfg,
                                     mk_stream_consumer **out, mk_error *err);
/* From a declaration, like mk_stream_producer_new_from_def (def->consumer
 * requirements, and cfg->requirements.validators besides). */
MK_EXTERN int mk_stream_consumer_new_from_def(mk_network *nw, const mk_stream_def *def,
                                              const mk_stream_consumer_config *cfg,
                                              mk_stream_consumer **out, mk_error *err);
MK_EXTERN int mk_stream_consumer_require(mk_stream_consumer *c, mk_validator *v, mk_error *err);
/* Also subscribe to a producer named directly ("PEERID@HOST:PORT"),
 * whether or not discovery knows it. */
MK_EXTERN int mk_stream_consumer_connect(mk_stream_consumer *c, const char *peer_addr,
                                         mk_error *err);
MK_EXTERN void mk_stream_consumer_free(mk_stream_consumer *c);

typedef struct mk_stream_item {
    mk_id producer;
    uint64_t seq; /* the producer's item number (gaps: items not received) */
    uint8_t *data;
    size_t len;
    void *value; /* decoded datum when the stream has a codec (freed with the item) */
    const mk_datum_codec *codec;
} mk_stream_item;

/* Wait up to timeout_ms (0: poll; MK_NO_TIMEOUT: forever) for a datum:
 * 0 with *item filled (free with mk_stream_item_free), MK_ETIMEDOUT. With a
 * codec, item->value is decoded; undecodable data are skipped and counted
 * (decode_errors). */
MK_EXTERN int mk_stream_recv(mk_stream_consumer *c, uint32_t timeout_ms, mk_stream_item *item);
MK_EXTERN void mk_stream_item_free(mk_stream_item *item);
/* Readable while items are queued (an eventfd; do not read it). */
MK_EXTERN int mk_stream_consumer_fd(const mk_stream_consumer *c);

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

MK_EXTERN mk_stream_when mk_when_subscribed(void);       /* >= 1 */
MK_EXTERN mk_stream_when mk_when_minimum_of(unsigned n); /* >= n */
MK_EXTERN mk_stream_when mk_when_offline(void);          /* none */

/* 0 when the condition holds (now or within timeout_ms), else MK_ETIMEDOUT. */
MK_EXTERN int mk_stream_producer_wait(mk_stream_producer *p, const mk_stream_when *w,
                                      uint32_t timeout_ms);
MK_EXTERN int mk_stream_consumer_wait(mk_stream_consumer *c, const mk_stream_when *w,
                                      uint32_t timeout_ms);

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
    uint64_t verdict_hits;    /* judgements answered from the verdict cache */
    uint64_t closed_refusals; /* producer: connections closed after max_refusals */
} mk_stream_stats;

MK_EXTERN void mk_stream_producer_stats(mk_stream_producer *p, mk_stream_stats *out);
MK_EXTERN void mk_stream_consumer_stats(mk_stream_consumer *c, mk_stream_stats *out);
/* Per peer (channels ever seen, active or not): *out is malloc'd (free()). */
MK_EXTERN int mk_stream_producer_channels(mk_stream_producer *p, mk_stream_channel_stats **out,
                                          size_t *n);
MK_EXTERN int mk_stream_consumer_channels(mk_stream_consumer *c, mk_stream_channel_stats **out,
                                          size_t *n);

#ifdef __cplusplus
}
#endif
#endif
