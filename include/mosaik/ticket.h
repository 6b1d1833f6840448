/*
 * mosaik/ticket.h — tickets, expirations, validators and validator sets.
 *
 * A ticket is an opaque credential {class, data} carried in a peer's
 * entry. A validator judges the tickets of its class for one peer and
 * returns when its admission expires, or a reason for refusal. A validator
 * set requires every validator to pass and yields the earliest expiration.
 * When a peer carries several tickets of one class, the valid one that
 * expires latest counts. The peer view is the minimal information a
 * validator needs, so this layer does not depend on discovery.
 */
#ifndef MOSAIK_TICKET_H
#define MOSAIK_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/error.h"
#include "mosaik/export.h"
#include "mosaik/id.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An expiration is a UTC time in seconds, or never. */
typedef int64_t mk_expiration;
#define MK_EXPIRES_NEVER INT64_MAX

/* Hard cap on one ticket's data (TDX tickets with collateral fit well). */
#define MK_TICKET_MAX_DATA (64 * 1024)

typedef struct mk_ticket {
    mk_id class_id;
    uint8_t *data;
    size_t len;
} mk_ticket;

/* Copy data into a new ticket. */
MK_EXTERN int mk_ticket_init(mk_ticket *t, const mk_id *class_id, const void *data, size_t len);
MK_EXTERN int mk_ticket_copy(mk_ticket *dst, const mk_ticket *src);
MK_EXTERN void mk_ticket_free(mk_ticket *t);

typedef struct mk_peer_view {
    mk_id peer_id;
    mk_id network_id;
    const mk_ticket *tickets;
    size_t n_tickets;
} mk_peer_view;

typedef struct mk_validator mk_validator;

typedef struct mk_validator_ops {
    /* A short name for logs, e.g. "jwt", "tdx". */
    const char *name;
    /* The ticket class this validator judges. */
    void (*class_id)(const mk_validator *v, mk_id *out);
    /* An id derived from the validator's type and its whole configuration:
     * two validators with the same signature accept the same tickets. */
    void (*signature)(const mk_validator *v, mk_id *out);
    /* Judge one ticket's data for a peer at time `now`. On success set
     * *expires and return 0; otherwise return a negative code with a reason. */
    int (*validate)(const mk_validator *v, const uint8_t *data, size_t len,
                    const mk_peer_view *peer, int64_t now, mk_expiration *expires, mk_error *err);
    /* Release state (may be NULL). */
    void (*destroy)(mk_validator *v);
} mk_validator_ops;

struct mk_validator {
    const mk_validator_ops *ops;
    void *state;
};

/* Construct a user-defined validator (free with mk_validator_free): 0, or
 * MK_EINVAL for incomplete ops (class_id, signature and validate are
 * required), MK_ENOMEM; *out is NULL on failure. */
MK_EXTERN int mk_validator_new(const mk_validator_ops *ops, void *state, mk_validator **out);
MK_EXTERN void mk_validator_free(mk_validator *v);
MK_EXTERN void mk_validator_class(const mk_validator *v, mk_id *out);
MK_EXTERN void mk_validator_signature(const mk_validator *v, mk_id *out);

/* Judge a peer with one validator: every ticket of its class is tried and
 * the valid one that expires latest counts. A ticket already expired at
 * `now` does not count. If none is valid, the reason names the last failure
 * (or that the peer has no ticket of the class). */
MK_EXTERN int mk_validator_check(const mk_validator *v, const mk_peer_view *peer, int64_t now,
                                 mk_expiration *expires, mk_error *err);

/* A set of validators, all required; the earliest expiration wins. An
 * empty set admits every peer, never expiring. */
typedef struct mk_validator_set {
    mk_validator **items;
    size_t n;
    size_t cap;
} mk_validator_set;

MK_EXTERN void mk_validator_set_init(mk_validator_set *s);
/* Takes ownership of v on success; on failure the caller keeps it. */
MK_EXTERN int mk_validator_set_add(mk_validator_set *s, mk_validator *v);
MK_EXTERN void mk_validator_set_free(mk_validator_set *s);
MK_EXTERN int mk_validator_set_check(const mk_validator_set *s, const mk_peer_view *peer,
                                     int64_t now, mk_expiration *expires, mk_error *err);
/* The set's combined signature (order-independent). */
MK_EXTERN void mk_validator_set_signature(const mk_validator_set *s, mk_id *out);

/* A validator factory: makes a fresh validator from a static argument. The
 * declarative forms (MK_STREAM_DEF, MK_COLLECTION_DEF) store factories, not
 * validators, so one const declaration can make validators for every
 * producer, consumer or collection it creates. Each validator module
 * provides its own (mk_validator_factory_jwt, mk_validator_factory_tdx). */
typedef mk_validator *(*mk_validator_factory)(const void *arg, mk_error *err);

typedef struct mk_validator_spec {
    mk_validator_factory make;
    const void *arg;
} mk_validator_spec;

/* Where an attester installs the local node's own ticket: add_ticket
 * replaces the local entry's tickets of t's class with t and announces the
 * entry (it must copy t). Returns 0 or a negative MK_E*. Discovery provides
 * one (mk_network_sink_add_ticket); the attesters only see this interface. */
typedef struct mk_ticket_sink {
    int (*add_ticket)(void *ctx, const mk_ticket *t, mk_error *err);
    void *ctx;
} mk_ticket_sink;

#ifdef __cplusplus
}
#endif
#endif
