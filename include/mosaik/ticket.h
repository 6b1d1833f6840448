/*
 * mosaik/ticket.h — tickets, expirations, validators and validator sets.
 *
 * A ticket is an opaque credential {class, data} carried in a peer's
 * entry. A validator judges the tickets of its class for one peer and
 * returns when its admission expires, or a reason for refusal. A validator
 * set requires every validator to pass and yields the earliest expiration.
 * When a peer carries several tickets of one class, the valid one that
 * expires latest counts. Combinators make one validator of several: any-of
 * admits a peer that one member admits (a fleet of TDX or SNP machines),
 * all-of one that every member admits. The peer view is the minimal
 * information a validator needs, so this layer does not depend on
 * discovery.
 *
 * Specs. Streams, collections, groups, discovery and the declarations take validator
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
    /* Judge the whole peer rather than one ticket (may be NULL; the
     * combinators and MK_BORROW's wrapper set it): when set,
     * mk_validator_check calls it instead of trying the peer's tickets of
     * the class with validate (which may then be NULL) and passes its
     * reason on as it is; an admission ending at or before `now` is still
     * refused ("admission expired"). */
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

/* ----- combinators ------------------------------------------------------ */

/* Most members of one any-of or all-of validator. */
#define MK_VALIDATOR_COMBINE_MAX 16
/* Longest refusal text of an any-of validator: the members' reasons share
 * it, so the whole text fits a stream's refusal (MK_STREAM_MAX_REASON). */
#define MK_VALIDATOR_ANY_OF_REASON_MAX 255

/* Any-of: admits a peer that any one of its n members admits (1 <= n <=
 * MK_VALIDATOR_COMBINE_MAX, else MK_EINVAL / MK_ETOOBIG; NULL members
 * MK_EINVAL). Every member is judged; of those that accept, the one whose
 * admission lasts longest counts (its expiry is the admission's). A peer
 * none accepts is refused with each member's reason, in the members'
 * order, shortened fairly to fit MK_VALIDATOR_ANY_OF_REASON_MAX:
 *   "no validator accepts (tdx: MRTD mismatch: want 4f3c…, got 9a01…;
 *    jwt: peer has no ticket of class 5d0e1b2c)"
 * with the members' code when they all agree, else MK_EPOLICY.
 *
 * All-of: admits a peer that every one of its members admits, until the
 * earliest of their expiries (a validator set as one validator: the
 * member of an any-of that needs several tickets, e.g. TDX and a JWT).
 * Its refusal is the first failing member's.
 *
 * Signatures are order-independent: mk_id_derive(mk_id_from_name(D), the
 * members' signatures sorted, duplicates dropped) with D
 * "mosaik/validator-any-of/v1" or "mosaik/validator-all-of/v1"; so any-of
 * (A, B) is any-of (B, A), and neither is A, B or the set {A, B}. The
 * class is mk_id_from_name(D), which no ticket has: a combinator judges
 * the whole peer (mk_validator_ops.check), its members the tickets.
 *
 * On success the combinator owns the members (the array stays the
 * caller's); on failure the caller keeps them. Members may be any
 * validators, built-in (JWT, TDX, SNP), user-defined or combinators. */
MK_EXTERN int mk_validator_any_of_new(mk_validator *const *members, size_t n, mk_validator **out,
                                      mk_error *err);
MK_EXTERN int mk_validator_all_of_new(mk_validator *const *members, size_t n, mk_validator **out,
                                      mk_error *err);

/* ----- specs ------------------------------------------------------------- */

/* A validator factory: makes a fresh validator from its argument, reading
 * the argument only during the call and copying whatever the validator
 * keeps; NULL (with a reason) on failure. Each validator module provides
 * its own (mk_validator_factory_jwt in mosaik/jwt.h, mk_tdx_spec_factory
 * with MK_TDX in mosaik/tdx_ticket.h), and any function of this type will
 * do: a new platform's validator plugs into specs, declarations and
 * MK_ANY_OF with nothing here changed. */
typedef mk_validator *(*mk_validator_factory)(const void *arg, mk_error *err);

/* A validator spec: how to make one validator. Held by value in
 * configurations and declarations; every object created from one makes
 * its own validator, and frees it. */
typedef struct mk_validator_spec {
    mk_validator_factory make;
    const void *arg;
} mk_validator_spec;

/* A list of specs: the argument of the any-of and all-of factories. */
typedef struct mk_validator_specs {
    const mk_validator_spec *specs;
    size_t n;
} mk_validator_specs;

/* arg: a const mk_validator_specs *; each spec makes a member, then
 * mk_validator_any_of_new / mk_validator_all_of_new. A member's failure
 * is the whole spec's ("any-of member 2: …"). */
MK_EXTERN mk_validator *mk_validator_factory_any_of(const void *arg, mk_error *err);
MK_EXTERN mk_validator *mk_validator_factory_all_of(const void *arg, mk_error *err);
/* arg: a const mk_validator * that the caller made and keeps: the object
 * created from the spec judges with it (same class, signature and
 * verdicts) and never frees it, so it must outlive every such object, and
 * it is called from each one's I/O thread (share one between networks
 * only when it may be called concurrently). */
MK_EXTERN mk_validator *mk_validator_factory_borrow(const void *arg, mk_error *err);

/* Make a validator from each of n specs and add them to s, all or none:
 * on failure nothing is added and the reason names the failing spec
 * ("validator 1: …", counting from 0). MK_EINVAL for a spec without a
 * factory or a count without an array. */
MK_EXTERN int mk_validator_set_add_specs(mk_validator_set *s, const mk_validator_spec *specs,
                                         size_t n, mk_error *err);

/* Initializers. A list of specs in a configuration or declaration (its
 * fields `validators` and `n_validators`):
 *
 *   MK_VALIDATORS(MK_TDX(.mrtd = "4f3c…"), {mk_validator_factory_jwt, &jwt_cfg})
 *   MK_NO_VALIDATORS
 *
 * specs that combine others, and a borrowed validator:
 *
 *   MK_ANY_OF(MK_TDX(.mrtd = A), MK_ALL_OF(SNP_SPEC, {mk_validator_factory_jwt, &j}))
 *   MK_BORROW(v)
 *
 * At file scope the compound literals these expand to are static, so a
 * const declaration may hold them; in a function they live until the end
 * of the enclosing block, which is enough: the specs are read only while
 * the object is created. */
#define MK_SPEC_COUNT(...)                                                                         \
    (sizeof((const mk_validator_spec[]){__VA_ARGS__}) / sizeof(mk_validator_spec))
#define MK_VALIDATORS(...)                                                                         \
    .validators = (const mk_validator_spec[]){__VA_ARGS__},                                        \
    .n_validators = MK_SPEC_COUNT(__VA_ARGS__)
#define MK_NO_VALIDATORS .validators = NULL, .n_validators = 0
#define MK_SPEC_LIST(...)                                                                          \
    (&(const mk_validator_specs){(const mk_validator_spec[]){__VA_ARGS__},                         \
                                 MK_SPEC_COUNT(__VA_ARGS__)})
#define MK_ANY_OF(...)                                                                             \
    { mk_validator_factory_any_of, MK_SPEC_LIST(__VA_ARGS__) }
#define MK_ALL_OF(...)                                                                             \
    { mk_validator_factory_all_of, MK_SPEC_LIST(__VA_ARGS__) }
#define MK_BORROW(v)                                                                               \
    { mk_validator_factory_borrow, (const mk_validator *)(v) }

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
