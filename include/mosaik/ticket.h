/*
 * mosaik/ticket.h — tickets, expirations, validators and validator sets.
 *
 * A ticket is an opaque credential {class, data} carried in a peer's
 * entry. A validator judges the tickets of its class for one peer and
 * returns when its admission expires, or a reason for refusal. A validator
 * set requires every validator to pass and yields the earliest expiration.
 * When a peer carries several tickets of one class, the valid one that
 * expires latest counts. An any-of validator admits a peer that satisfies
 * one of several sets (a fleet of TDX or SNP machines). The peer view is
 * the minimal information a validator needs, so this layer does not depend
 * on discovery.
 *
 * Specs. Streams, collections and their declarations take validator
 * *specs* (mk_validator_spec: a factory and its argument) by value: each
 * object makes its own validators from them when it is created, the
 * factory reads the argument only during that call and copies what it
 * keeps. So a spec's argument may be a compound literal or a local
 * variable, and several nodes of one process configure their objects
 * independently (docs/decisions.md, "Validator specs").
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
    /* A combinator judges the whole peer rather than one ticket (may be
     * NULL): when set, mk_validator_check calls it instead of trying the
     * peer's tickets of the class with validate (which may then be NULL),
     * and its reason is passed on as it is. */
    int (*check)(const mk_validator *v, const mk_peer_view *peer, int64_t now,
                 mk_expiration *expires, mk_error *err);
} mk_validator_ops;

struct mk_validator {
    const mk_validator_ops *ops;
    void *state;
};

/* Construct a user-defined validator (free with mk_validator_free): 0, or
 * MK_EINVAL for incomplete ops (class_id, signature and validate or check
 * are required), MK_ENOMEM; *out is NULL on failure. */
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

/* ----- any-of ---------------------------------------------------------- */

/* A validator that admits a peer satisfying every validator of at least
 * one of n alternative sets (n >= 1, none empty: an empty set would admit
 * everyone; else MK_EINVAL). Of the alternatives the peer satisfies, the
 * one whose admission (its earliest expiration) lasts longest counts. A
 * peer satisfying none is refused with every alternative's reason:
 * "no alternative admits the peer: (1) tdx: MRTD mismatch: …; (2) snp: …"
 * (each cut to fit the reason's 512 bytes), with the alternatives' code
 * when they agree, else MK_EPOLICY.
 *
 * Signature: mk_id_derive(mk_id_from_name("mosaik/validator-any-of/v1"),
 * the alternatives' set signatures sorted and deduplicated), so the order
 * of the alternatives does not matter, and an any-of of one set differs
 * from that set (whose domain is "mosaik/validator-set/v1"). Its class is
 * mk_id_from_name("mosaik/validator-any-of/v1"), which no ticket has.
 *
 * On success it owns the alternatives' validators (the sets are left
 * empty, the array stays the caller's); on failure the caller keeps them. */
MK_EXTERN int mk_validator_any_of_new(mk_validator_set *alts, size_t n, mk_validator **out,
                                      mk_error *err);

/* ----- specs ------------------------------------------------------------- */

/* A validator factory: makes a fresh validator from its argument, reading
 * the argument only during the call and copying whatever the validator
 * keeps; NULL (with a reason) on failure. Each validator module provides
 * its own (mk_validator_factory_jwt with MK_JWT, mk_tdx_spec_factory with
 * MK_TDX), and any function of this type will do. */
typedef mk_validator *(*mk_validator_factory)(const void *arg, mk_error *err);

/* A validator spec: how to make one validator. Held by value in
 * configurations and declarations; every object created from one makes
 * its own validator, and frees it. */
typedef struct mk_validator_spec {
    mk_validator_factory make;
    const void *arg;
} mk_validator_spec;

/* Specs all required (one alternative of MK_ANY_OF). */
typedef struct mk_validator_specs {
    const mk_validator_spec *specs;
    size_t n;
} mk_validator_specs;

/* The argument of mk_validator_factory_any_of: n alternatives. */
typedef struct mk_validator_alternatives {
    const mk_validator_specs *alts;
    size_t n;
} mk_validator_alternatives;

/* arg: a const mk_validator_alternatives * (each alternative's specs are
 * made into a set, then mk_validator_any_of_new). */
MK_EXTERN mk_validator *mk_validator_factory_any_of(const void *arg, mk_error *err);
/* arg: a const mk_validator * the caller made and keeps: the object
 * created from the spec judges with it (a thin wrapper: same class,
 * signature, verdicts) and does not free it, so it must outlive every
 * object made from the spec. */
MK_EXTERN mk_validator *mk_validator_factory_borrow(const void *arg, mk_error *err);

/* Make a validator from each of n specs and add them to s, all or none:
 * on failure nothing is added and the reason names the failing spec
 * ("validator 1: …"). MK_EINVAL for a spec without a factory. */
MK_EXTERN int mk_validator_set_add_specs(mk_validator_set *s, const mk_validator_spec *specs,
                                         size_t n, mk_error *err);

/* Initializers. A list of specs in a configuration or declaration (the
 * fields `validators` and `n_validators`):
 *
 *   MK_VALIDATORS(MK_TDX(.mrtd = "4f3c…"), MK_JWT(.key_bytes = &key, .n_key_bytes = 1))
 *
 * one alternative of an any-of, an any-of spec, and a borrowed validator:
 *
 *   MK_ANY_OF(MK_ALL_OF(MK_TDX(.mrtd = A)), MK_ALL_OF(MK_SNP(.measurement = B)))
 *   MK_BORROW(v)
 *
 * At file scope the compound literals these expand to are static, so a
 * const declaration may hold them. */
#define MK_SPEC_COUNT(...)                                                                         \
    (sizeof((const mk_validator_spec[]){__VA_ARGS__}) / sizeof(mk_validator_spec))
#define MK_VALIDATORS(...)                                                                         \
    .validators = (const mk_validator_spec[]){__VA_ARGS__}, .n_validators = MK_SPEC_COUNT(__VA_ARGS__)
#define MK_NO_VALIDATORS .validators = NULL, .n_validators = 0
#define MK_ALL_OF(...) {(const mk_validator_spec[]){__VA_ARGS__}, MK_SPEC_COUNT(__VA_ARGS__)}
#define MK_ANY_OF(...)                                                                             \
    {mk_validator_factory_any_of,                                                                  \
     &(const mk_validator_alternatives){                                                           \
         (const mk_validator_specs[]){__VA_ARGS__},                                                \
         sizeof((const mk_validator_specs[]){__VA_ARGS__}) / sizeof(mk_validator_specs)}}
#define MK_BORROW(v) {mk_validator_factory_borrow, (const mk_validator *)(v)}

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
