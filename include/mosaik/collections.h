/*
 * mosaik/collections.h — replicated collections on groups.
 *
 * A collection is a group (mosaik/groups.h) whose state machine is one of
 * Map, Vec, Set, Cell, Once or a bounded PriorityQueue. Its group key is
 * derived from the collection's name, so every node that opens the same
 * name, kind, capacity and validators meets in the same group; its state
 * machine signature covers kind and capacity.
 *
 * Handles: a writer is a voting member and may mutate; a reader replicates
 * as a raft standby (never votes) and its calls fail locally with
 * MK_EPOLICY. The role a peer claims is an authorization only when the
 * configuration has writer_validators: the leader then treats a peer whose
 * signed entry fails them as a reader whatever it claims, and refuses its
 * commands. Without writer_validators every admitted member may write (a
 * modified node can claim the writer role): the reader role is then a
 * self-restriction, and the leader refuses commands only from bonds that
 * declared themselves readers. See docs/groups.md for what a hostile
 * member can still do at the raft level.
 *
 * Versions: every successful mutation increments the collection's version
 * (deterministically, on every member); a mutation returns the version it
 * produced, and any handle can wait until its local copy reached a version
 * (read-your-writes across nodes).
 *
 * require_ticket: when true, the collection's validators (at least one)
 * gate membership exactly as for groups; when false, giving validators is
 * an error (MK_EINVAL), so a configuration cannot silently drop them.
 *
 * Reads take an mk_group_consistency: WEAK reads the local copy, STRONG
 * goes through the leader after a barrier. All calls block up to
 * timeout_ms (0: MK_GROUP_DEFAULT_TIMEOUT_MS) and may be made from any
 * thread but the network's and the group's own.
 */
#ifndef MOSAIK_COLLECTIONS_H
#define MOSAIK_COLLECTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/groups.h"
#include "mosaik/streams.h" /* MK_VALIDATORS (mk_validator_spec is in ticket.h) */
#include "mosaik/ticket.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mk_collection_kind {
    MK_COLL_MAP = 1,
    MK_COLL_VEC = 2,
    MK_COLL_SET = 3,
    MK_COLL_CELL = 4,
    MK_COLL_ONCE = 5,
    MK_COLL_PQ = 6, /* bounded priority queue: evicts the lowest priority */
} mk_collection_kind;

/* Hard caps. */
#define MK_COLL_MAX_KEY ((size_t)64 << 10)
#define MK_COLL_MAX_VALUE ((size_t)512 << 10)
#define MK_COLL_MAX_ITEMS ((size_t)1 << 20)
#define MK_COLL_DEFAULT_CAPACITY ((size_t)1 << 16) /* items, any kind */

typedef struct mk_collection_config {
    const char *name; /* the collection's name (required) */
    mk_collection_kind kind;
    size_t capacity; /* max items; 0: default; a PQ evicts beyond it */
    bool require_ticket;
    const mk_validator_set *validators; /* borrowed; required iff require_ticket */
    /* borrowed; NULL or empty: every member may write (mk_group_config) */
    const mk_validator_set *writer_validators;
    const char *data_dir;                        /* raft log + snapshots */
    bool bootstrap;                              /* start the group here (pristine data dir) */
    mk_group_role role;                          /* writer or reader */
    uint32_t election_ms, heartbeat_ms, tick_ms; /* 0: group defaults */
    unsigned snapshot_threshold, snapshot_trailing;
} mk_collection_config;

void mk_collection_config_init(mk_collection_config *cfg);

typedef struct mk_collection mk_collection;

int mk_collection_new(mk_network *nw, const mk_collection_config *cfg, mk_collection **out,
                      mk_error *err);
void mk_collection_free(mk_collection *c);

/* ----- declarations (in the style of MK_STREAM_DEF) -------------------- */

typedef struct mk_collection_def {
    const char *name;
    mk_collection_kind kind;
    size_t capacity;
    bool require_ticket;
    const mk_validator_spec *validators;
    size_t n_validators;
} mk_collection_def;

/*   MK_COLLECTION_DEF(PRICES, "prices", MK_COLL_MAP, 0,
 *       MK_REQUIRE_TICKET({mk_validator_factory_jwt, &g_jwt}));
 *   MK_COLLECTION_DEF(SCORES, "scores", MK_COLL_PQ, 100, MK_NO_TICKET);
 *   ...
 *   mk_collection_new_from_def(nw, &PRICES, &opts, &c, &err);
 */
#define MK_COLLECTION_DEF(ident, NAME, KIND, CAPACITY, TICKET)                                     \
    static const mk_collection_def ident = {                                                       \
        .name = (NAME), .kind = (KIND), .capacity = (CAPACITY), TICKET}
#define MK_REQUIRE_TICKET(...) .require_ticket = true, MK_VALIDATORS(__VA_ARGS__)
#define MK_NO_TICKET .require_ticket = false, MK_NO_VALIDATORS

/* Per-node options of a declared collection. */
typedef struct mk_collection_opts {
    const char *data_dir;
    bool bootstrap;
    mk_group_role role;
    uint32_t election_ms, heartbeat_ms, tick_ms;
} mk_collection_opts;

/* Open from a declaration: the validators are made by their factories and
 * owned by the collection. */
int mk_collection_new_from_def(mk_network *nw, const mk_collection_def *def,
                               const mk_collection_opts *opts, mk_collection **out, mk_error *err);

/* ----- common ------------------------------------------------------------ */

mk_group *mk_collection_group(mk_collection *c);
mk_collection_kind mk_collection_kind_of(const mk_collection *c);
/* Items now (weak or strong). */
int mk_collection_len(mk_collection *c, mk_group_consistency cons, uint64_t *out,
                      uint32_t timeout_ms, mk_error *err);
/* The local copy's version (weak). */
uint64_t mk_collection_version(mk_collection *c);
/* Wait until the local copy reached version v: 0 or MK_ETIMEDOUT. Unlike
 * the other calls, a timeout_ms of 0 does not wait at all. */
int mk_collection_wait_version(mk_collection *c, uint64_t v, uint32_t timeout_ms);
/* Remove every item. *version (may be NULL) gets the new version. */
int mk_collection_clear(mk_collection *c, uint64_t *version, uint32_t timeout_ms, mk_error *err);

/* ----- Map: bytes -> bytes ---------------------------------------------- */
int mk_map_put(mk_collection *c, const void *key, size_t klen, const void *val, size_t vlen,
               uint64_t *version, uint32_t timeout_ms, mk_error *err);
/* *existed (may be NULL): whether the key was present. */
int mk_map_remove(mk_collection *c, const void *key, size_t klen, bool *existed, uint64_t *version,
                  uint32_t timeout_ms, mk_error *err);
/* MK_ENOTFOUND if absent. */
int mk_map_get(mk_collection *c, mk_group_consistency cons, const void *key, size_t klen,
               mk_buf *val, uint32_t timeout_ms, mk_error *err);

/* ----- Vec --------------------------------------------------------------- */
int mk_vec_push(mk_collection *c, const void *val, size_t vlen, uint64_t *index, uint64_t *version,
                uint32_t timeout_ms, mk_error *err);
/* MK_ENOTFOUND beyond the end. */
int mk_vec_set(mk_collection *c, uint64_t index, const void *val, size_t vlen, uint64_t *version,
               uint32_t timeout_ms, mk_error *err);
/* Remove the last; MK_ENOTFOUND when empty. */
int mk_vec_pop(mk_collection *c, mk_buf *val, uint64_t *version, uint32_t timeout_ms,
               mk_error *err);
int mk_vec_get(mk_collection *c, mk_group_consistency cons, uint64_t index, mk_buf *val,
               uint32_t timeout_ms, mk_error *err);

/* ----- Set --------------------------------------------------------------- */
int mk_set_insert(mk_collection *c, const void *val, size_t vlen, bool *added, uint64_t *version,
                  uint32_t timeout_ms, mk_error *err);
int mk_set_remove(mk_collection *c, const void *val, size_t vlen, bool *removed, uint64_t *version,
                  uint32_t timeout_ms, mk_error *err);
int mk_set_contains(mk_collection *c, mk_group_consistency cons, const void *val, size_t vlen,
                    bool *out, uint32_t timeout_ms, mk_error *err);

/* ----- Cell: one value, replaceable ------------------------------------- */
int mk_cell_set(mk_collection *c, const void *val, size_t vlen, uint64_t *version,
                uint32_t timeout_ms, mk_error *err);
/* MK_ENOTFOUND when unset. */
int mk_cell_get(mk_collection *c, mk_group_consistency cons, mk_buf *val, uint32_t timeout_ms,
                mk_error *err);

/* ----- Once: set at most once (first writer wins) ----------------------- */
/* MK_ESTATE if it was already set (the value is unchanged). */
int mk_once_set(mk_collection *c, const void *val, size_t vlen, uint64_t *version,
                uint32_t timeout_ms, mk_error *err);
int mk_once_get(mk_collection *c, mk_group_consistency cons, mk_buf *val, uint32_t timeout_ms,
                mk_error *err);

/* ----- PriorityQueue (bounded) ------------------------------------------ */
/* When full, the lowest priority item is evicted if the new one ranks
 * higher; otherwise the new one is refused (*inserted false). Among equal
 * priorities the earlier push ranks higher. */
int mk_pq_push(mk_collection *c, int64_t prio, const void *val, size_t vlen, bool *inserted,
               uint64_t *version, uint32_t timeout_ms, mk_error *err);
/* Remove and return the highest; MK_ENOTFOUND when empty. */
int mk_pq_pop(mk_collection *c, int64_t *prio, mk_buf *val, uint64_t *version, uint32_t timeout_ms,
              mk_error *err);
int mk_pq_peek(mk_collection *c, mk_group_consistency cons, int64_t *prio, mk_buf *val,
               uint32_t timeout_ms, mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
