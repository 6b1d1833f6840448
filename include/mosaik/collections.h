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
 * Versions: every successful mutation that changes something increments
 * the collection's version (deterministically, on every member); a
 * mutation returns the version it produced, and any handle can wait until
 * its local copy reached a version (read-your-writes across nodes) or for
 * the next change (mk_collection_wait_updated). Every mutation is one
 * command, applied exactly once (mosaik/groups.h, mk_group_apply).
 *
 * require_ticket: when true, the collection's validators (at least one)
 * gate membership exactly as for groups; when false, giving validators is
 * an error (MK_EINVAL), so a configuration cannot silently drop them.
 * Validators are given as specs, by value (mosaik/ticket.h: MK_VALIDATORS,
 * MK_TDX, MK_ANY_OF, MK_BORROW): each collection makes and owns its own,
 * so several nodes of one process configure the same collection
 * independently.
 *
 * Reads take an mk_group_consistency: WEAK reads the local copy, STRONG
 * goes through the leader after a barrier. All calls block up to
 * timeout_ms (0: MK_GROUP_DEFAULT_TIMEOUT_MS) and may be made from any
 * thread but the network's and the group's own.
 *
 * Typed data: a collection has a key codec (Map keys, Set elements, PQ
 * keys) and a value codec (Map, Vec, Cell, Once and PQ values), bytes
 * (mk_codec_bytes) unless its configuration or declaration names others
 * (mosaik/codec.h). Every call that takes or returns data comes in two
 * forms: the byte form (pointer and length in, mk_buf out; the codecs are
 * not involved) and the typed form, named with _value, which takes values
 * of the codecs' types (const void *), encodes them, and hands back
 * decoded values (void **, freed with mk_collection_value_free): on a
 * Map<string, string>, mk_map_get_value gives a char *. A stored datum the
 * codec refuses makes a typed read fail with MK_EMALFORMED. The codecs are
 * a view: they are not part of the collection's identity, and every
 * member must use the same ones.
 *
 * Iteration: mk_collection_iter_new takes a consistent snapshot of every
 * item at one version (Map and Set in key order, Vec in index order, PQ
 * highest first, Cell and Once their item); it shares the stored bytes,
 * so taking one costs an array copy, and it never changes afterwards.
 *
 * compare_exchange (Map entries, Cell): atomically, if the entry is
 * `expected` (NULL: absent) make it `desired` (NULL: remove it); 0 when it
 * did, MK_ESTATE when the entry held another value (*current gets it) and
 * MK_ENOTFOUND when it was absent (and expected was not NULL). Of two
 * racing calls from the same expected value exactly one swaps; the other
 * sees the winner's value.
 */
#ifndef MOSAIK_COLLECTIONS_H
#define MOSAIK_COLLECTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/codec.h"
#include "mosaik/export.h"
#include "mosaik/groups.h"
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
    /* Member validators, as specs (MK_VALIDATORS(…)); at least one iff
     * require_ticket. The collection makes its own from them. */
    const mk_validator_spec *validators;
    size_t n_validators;
    /* Writer validators, as specs (MK_WRITER_VALIDATORS(…)); none: every
     * member may write (mk_group_config.writer_validators). */
    const mk_validator_spec *writer_validators;
    size_t n_writer_validators;
    const char *data_dir;                        /* raft log + snapshots */
    bool bootstrap;                              /* start the group here (pristine data dir) */
    mk_group_role role;                          /* writer or reader */
    uint32_t election_ms, heartbeat_ms, tick_ms; /* 0: group defaults */
    unsigned snapshot_threshold, snapshot_trailing;
    /* Typed data: the codecs of the _value calls; NULL: mk_codec_bytes. */
    const mk_datum_codec *key_codec;   /* Map keys, Set elements, PQ keys */
    const mk_datum_codec *value_codec; /* Map, Vec, Cell, Once, PQ values */
} mk_collection_config;

MK_EXTERN void mk_collection_config_init(mk_collection_config *cfg);

typedef struct mk_collection mk_collection;

MK_EXTERN int mk_collection_new(mk_network *nw, const mk_collection_config *cfg,
                                mk_collection **out, mk_error *err);
MK_EXTERN void mk_collection_free(mk_collection *c);

/* ----- declarations (in the style of MK_STREAM_DEF) -------------------- */

typedef struct mk_collection_def {
    const char *name;
    mk_collection_kind kind;
    size_t capacity;
    bool require_ticket;
    const mk_validator_spec *validators;
    size_t n_validators;
    const mk_datum_codec *key_codec, *value_codec; /* NULL: bytes */
} mk_collection_def;

/*   MK_COLLECTION_DEF(PRICES, "prices", MK_COLL_MAP, 0,
 *       MK_REQUIRE_TICKET(MK_TDX(.mrtd = "4f3c…")));
 *   MK_COLLECTION_DEF(VAULT, "vault", MK_COLL_MAP, 0, MK_TICKET_PER_INSTANCE);
 *   MK_COLLECTION_DEF(SCORES, "scores", MK_COLL_PQ, 100, MK_NO_TICKET);
 *   MK_COLLECTION_DEF(NAMES, "names", MK_COLL_MAP, 0, MK_NO_TICKET,
 *       MK_CODECS(&mk_codec_string, &mk_codec_string));   // Map<String, String>
 *   ...
 *   mk_collection_new_from_def(nw, &PRICES, &cfg, &c, &err);
 *
 * After the ticket, MK_CODECS(key codec, value codec) optionally types the
 * collection (NULL for either: bytes).
 */
#define MK_COLLECTION_DEF(ident, NAME, KIND, CAPACITY, ...)                                        \
    static const mk_collection_def ident = {                                                       \
        .name = (NAME), .kind = (KIND), .capacity = (CAPACITY), __VA_ARGS__}
#define MK_REQUIRE_TICKET(...) .require_ticket = true, MK_VALIDATORS(__VA_ARGS__)
#define MK_NO_TICKET .require_ticket = false, MK_NO_VALIDATORS
/* Gated, with every validator given by the instance (cfg->validators). */
#define MK_TICKET_PER_INSTANCE .require_ticket = true, MK_NO_VALIDATORS
#define MK_WRITER_VALIDATORS(...)                                                                  \
    .writer_validators = (const mk_validator_spec[]){__VA_ARGS__},                                 \
    .n_writer_validators = MK_SPEC_COUNT(__VA_ARGS__)
#define MK_CODECS(KEY, VALUE) .key_codec = (KEY), .value_codec = (VALUE)

/* Make from a declaration: name, kind, capacity, require_ticket, the
 * declared validators and the codecs come from def; cfg gives the
 * per-node rest (data_dir, bootstrap, role, writer_validators, timings,
 * snapshots) and this instance's own validators, required besides the
 * declared ones (a declaration gated with MK_TICKET_PER_INSTANCE has only
 * these). cfg must leave name, kind, capacity, require_ticket and codecs
 * at their defaults (else MK_EINVAL), and give validators only when the
 * declaration requires a ticket. A designated initializer such as
 * {.data_dir = d, .bootstrap = true} is such a cfg. Each node that opens
 * the declaration makes its own validators: nodes meet in one group when
 * their validators (declared and their own) have the same signatures. */
MK_EXTERN int mk_collection_new_from_def(mk_network *nw, const mk_collection_def *def,
                                         const mk_collection_config *cfg, mk_collection **out,
                                         mk_error *err);

/* ----- common ------------------------------------------------------------ */

MK_EXTERN mk_group *mk_collection_group(mk_collection *c);
MK_EXTERN mk_collection_kind mk_collection_kind_of(const mk_collection *c);
/* Items now (weak or strong). */
MK_EXTERN int mk_collection_len(mk_collection *c, mk_group_consistency cons, uint64_t *out,
                                uint32_t timeout_ms, mk_error *err);
/* The local copy's version (weak). */
MK_EXTERN uint64_t mk_collection_version(mk_collection *c);
/* Wait until the local copy reached version v: 0 or MK_ETIMEDOUT. Unlike
 * the other calls, a timeout_ms of 0 does not wait at all. */
MK_EXTERN int mk_collection_wait_version(mk_collection *c, uint64_t v, uint32_t timeout_ms);
/* Wait for a change: until the local copy's version differs from
 * *version (the one the caller last saw: from mk_collection_version, a
 * mutation, an iterator or the previous wait), then *version gets the new
 * one: 0, or MK_ETIMEDOUT (*version unchanged). Changes made while the
 * caller was not waiting are not missed. timeout_ms 0 only checks. */
MK_EXTERN int mk_collection_wait_updated(mk_collection *c, uint64_t *version, uint32_t timeout_ms);
/* Remove every item. *version (may be NULL) gets the new version. */
MK_EXTERN int mk_collection_clear(mk_collection *c, uint64_t *version, uint32_t timeout_ms,
                                  mk_error *err);
/* Free a value a typed (_value) call handed back. NULL is fine. */
MK_EXTERN void mk_collection_value_free(mk_collection *c, void *value);

/* ----- iteration: a consistent snapshot at one version ------------------ */

typedef struct mk_collection_entry {
    uint64_t index;     /* position: Vec index, PQ rank (0: the highest), Map and Set key order */
    int64_t prio;       /* PQ */
    const uint8_t *key; /* Map key, Set element, PQ key (NULL, klen 0: none) */
    size_t klen;
    const uint8_t *val; /* Map, Vec, Cell, Once, PQ value */
    size_t vlen;
    /* Decoded by the collection's codecs (mk_collection_iter_next_value
     * only; NULL otherwise and where there is no key or value), owned by
     * the iterator until its next call. */
    void *decoded_key, *decoded_val;
} mk_collection_entry;

typedef struct mk_collection_iter mk_collection_iter;

/* Take a snapshot: WEAK of the local copy as it is; STRONG at least as
 * recent as every write completed before the call (the leader's version
 * after a barrier, once the local copy reached it). The bytes an entry
 * points to stay valid until mk_collection_iter_free. */
MK_EXTERN int mk_collection_iter_new(mk_collection *c, mk_group_consistency cons,
                                     mk_collection_iter **out, uint32_t timeout_ms, mk_error *err);
MK_EXTERN uint64_t mk_collection_iter_version(const mk_collection_iter *it);
MK_EXTERN uint64_t mk_collection_iter_len(const mk_collection_iter *it);
/* 1 with *e the next entry, 0 after the last. */
MK_EXTERN int mk_collection_iter_next(mk_collection_iter *it, mk_collection_entry *e);
/* The same, with decoded_key and decoded_val; a key or value its codec
 * refuses is MK_EMALFORMED (the iterator has moved past that entry). */
MK_EXTERN int mk_collection_iter_next_value(mk_collection_iter *it, mk_collection_entry *e,
                                            mk_error *err);
/* Start again from the first entry (same snapshot). */
MK_EXTERN void mk_collection_iter_rewind(mk_collection_iter *it);
MK_EXTERN void mk_collection_iter_free(mk_collection_iter *it);

/* ----- Map: bytes -> bytes ---------------------------------------------- */
MK_EXTERN int mk_map_put(mk_collection *c, const void *key, size_t klen, const void *val,
                         size_t vlen, uint64_t *version, uint32_t timeout_ms, mk_error *err);
/* *existed (may be NULL): whether the key was present. */
MK_EXTERN int mk_map_remove(mk_collection *c, const void *key, size_t klen, bool *existed,
                            uint64_t *version, uint32_t timeout_ms, mk_error *err);
/* MK_ENOTFOUND if absent. */
MK_EXTERN int mk_map_get(mk_collection *c, mk_group_consistency cons, const void *key, size_t klen,
                         mk_buf *val, uint32_t timeout_ms, mk_error *err);
/* See "compare_exchange" above; current may be NULL. */
MK_EXTERN int mk_map_compare_exchange(mk_collection *c, const void *key, size_t klen,
                                      const mk_bytes *expected, const mk_bytes *desired,
                                      mk_buf *current, uint64_t *version, uint32_t timeout_ms,
                                      mk_error *err);
/* Remove n keys at once; *removed (may be NULL) counts those present. The
 * keys and values of a batch travel in one command (MK_ETOOBIG beyond
 * MK_GROUP_MAX_COMMAND bytes, about 8 bytes per entry plus the data). */
MK_EXTERN int mk_map_remove_many(mk_collection *c, const mk_bytes *keys, size_t n,
                                 uint64_t *removed, uint64_t *version, uint32_t timeout_ms,
                                 mk_error *err);
/* Put n entries at once (as n puts in order, so a later entry of the same
 * key wins), all or nothing: MK_ETOOBIG, nothing changed, when the new
 * keys would pass the capacity. *added (may be NULL) counts the new keys. */
MK_EXTERN int mk_map_extend(mk_collection *c, const mk_bytes *keys, const mk_bytes *values,
                            size_t n, uint64_t *added, uint64_t *version, uint32_t timeout_ms,
                            mk_error *err);

/* ----- Vec --------------------------------------------------------------- */
MK_EXTERN int mk_vec_push(mk_collection *c, const void *val, size_t vlen, uint64_t *index,
                          uint64_t *version, uint32_t timeout_ms, mk_error *err);
/* MK_ENOTFOUND beyond the end. */
MK_EXTERN int mk_vec_set(mk_collection *c, uint64_t index, const void *val, size_t vlen,
                         uint64_t *version, uint32_t timeout_ms, mk_error *err);
/* Remove the last; MK_ENOTFOUND when empty. */
MK_EXTERN int mk_vec_pop(mk_collection *c, mk_buf *val, uint64_t *version, uint32_t timeout_ms,
                         mk_error *err);
MK_EXTERN int mk_vec_get(mk_collection *c, mk_group_consistency cons, uint64_t index, mk_buf *val,
                         uint32_t timeout_ms, mk_error *err);
/* Insert before index (index == len appends); later items move up.
 * MK_ENOTFOUND beyond the end, MK_ETOOBIG at capacity. */
MK_EXTERN int mk_vec_insert(mk_collection *c, uint64_t index, const void *val, size_t vlen,
                            uint64_t *version, uint32_t timeout_ms, mk_error *err);
/* Remove the item at index (later items move down), its value appended to
 * *val (may be NULL). MK_ENOTFOUND beyond the end. */
MK_EXTERN int mk_vec_remove(mk_collection *c, uint64_t index, mk_buf *val, uint64_t *version,
                            uint32_t timeout_ms, mk_error *err);
/* Keep the first len items; *removed (may be NULL) counts the others. */
MK_EXTERN int mk_vec_truncate(mk_collection *c, uint64_t len, uint64_t *removed, uint64_t *version,
                              uint32_t timeout_ms, mk_error *err);
/* Exchange two items. MK_ENOTFOUND when either is beyond the end. */
MK_EXTERN int mk_vec_swap(mk_collection *c, uint64_t i, uint64_t j, uint64_t *version,
                          uint32_t timeout_ms, mk_error *err);

/* ----- Set --------------------------------------------------------------- */
MK_EXTERN int mk_set_insert(mk_collection *c, const void *val, size_t vlen, bool *added,
                            uint64_t *version, uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_set_remove(mk_collection *c, const void *val, size_t vlen, bool *removed,
                            uint64_t *version, uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_set_contains(mk_collection *c, mk_group_consistency cons, const void *val,
                              size_t vlen, bool *out, uint32_t timeout_ms, mk_error *err);
/* As mk_map_remove_many and mk_map_extend: *removed / *added (may be
 * NULL) count the elements that were present / new. */
MK_EXTERN int mk_set_remove_many(mk_collection *c, const mk_bytes *elems, size_t n,
                                 uint64_t *removed, uint64_t *version, uint32_t timeout_ms,
                                 mk_error *err);
MK_EXTERN int mk_set_extend(mk_collection *c, const mk_bytes *elems, size_t n, uint64_t *added,
                            uint64_t *version, uint32_t timeout_ms, mk_error *err);

/* ----- Cell: one value, replaceable ------------------------------------- */
MK_EXTERN int mk_cell_set(mk_collection *c, const void *val, size_t vlen, uint64_t *version,
                          uint32_t timeout_ms, mk_error *err);
/* MK_ENOTFOUND when unset. */
MK_EXTERN int mk_cell_get(mk_collection *c, mk_group_consistency cons, mk_buf *val,
                          uint32_t timeout_ms, mk_error *err);
/* See "compare_exchange" above (absent: the cell is unset). */
MK_EXTERN int mk_cell_compare_exchange(mk_collection *c, const mk_bytes *expected,
                                       const mk_bytes *desired, mk_buf *current, uint64_t *version,
                                       uint32_t timeout_ms, mk_error *err);

/* ----- Once: set at most once (first writer wins) ----------------------- */
/* MK_ESTATE if it was already set (the value is unchanged). */
MK_EXTERN int mk_once_set(mk_collection *c, const void *val, size_t vlen, uint64_t *version,
                          uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_once_get(mk_collection *c, mk_group_consistency cons, mk_buf *val,
                          uint32_t timeout_ms, mk_error *err);

/* ----- PriorityQueue (bounded) ------------------------------------------ */
/* When full, the lowest priority item is evicted if the new one ranks
 * higher; otherwise the new one is refused (*inserted false). Among equal
 * priorities the earlier push ranks higher. */
MK_EXTERN int mk_pq_push(mk_collection *c, int64_t prio, const void *val, size_t vlen,
                         bool *inserted, uint64_t *version, uint32_t timeout_ms, mk_error *err);
/* Remove and return the highest; MK_ENOTFOUND when empty. */
MK_EXTERN int mk_pq_pop(mk_collection *c, int64_t *prio, mk_buf *val, uint64_t *version,
                        uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_pq_peek(mk_collection *c, mk_group_consistency cons, int64_t *prio, mk_buf *val,
                         uint32_t timeout_ms, mk_error *err);
/* Items with a key (not empty), unique in the queue: insert pushes one,
 * replacing the item of that key if there is one (it then ranks as pushed
 * now and is never refused); update changes its priority (MK_ENOTFOUND if
 * no item has the key; among equal priorities it keeps its place in push
 * order); remove takes it out, its priority and value to *prio, *val (may
 * be NULL; MK_ENOTFOUND if absent). Items pushed without a key have none. */
MK_EXTERN int mk_pq_insert(mk_collection *c, const void *key, size_t klen, int64_t prio,
                           const void *val, size_t vlen, bool *inserted, uint64_t *version,
                           uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_pq_update(mk_collection *c, const void *key, size_t klen, int64_t prio,
                           uint64_t *version, uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_pq_remove(mk_collection *c, const void *key, size_t klen, int64_t *prio,
                           mk_buf *val, uint64_t *version, uint32_t timeout_ms, mk_error *err);

/* ----- typed forms (the codecs' values; see "Typed data" above) --------- */
/* Each is its byte form with every (pointer, length) replaced by a value
 * of the codec's type and every mk_buf *out by a void **out that receives
 * a decoded value (free with mk_collection_value_free; NULL on failure).
 * Arrays of values are const void *const *. */

MK_EXTERN int mk_map_put_value(mk_collection *c, const void *key, const void *val,
                               uint64_t *version, uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_map_get_value(mk_collection *c, mk_group_consistency cons, const void *key,
                               void **val, uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_map_remove_value(mk_collection *c, const void *key, bool *existed,
                                  uint64_t *version, uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_map_compare_exchange_value(mk_collection *c, const void *key, const void *expected,
                                            const void *desired, void **current, uint64_t *version,
                                            uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_map_remove_many_value(mk_collection *c, const void *const *keys, size_t n,
                                       uint64_t *removed, uint64_t *version, uint32_t timeout_ms,
                                       mk_error *err);
MK_EXTERN int mk_map_extend_value(mk_collection *c, const void *const *keys,
                                  const void *const *values, size_t n, uint64_t *added,
                                  uint64_t *version, uint32_t timeout_ms, mk_error *err);

MK_EXTERN int mk_vec_push_value(mk_collection *c, const void *val, uint64_t *index,
                                uint64_t *version, uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_vec_set_value(mk_collection *c, uint64_t index, const void *val, uint64_t *version,
                               uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_vec_pop_value(mk_collection *c, void **val, uint64_t *version, uint32_t timeout_ms,
                               mk_error *err);
MK_EXTERN int mk_vec_get_value(mk_collection *c, mk_group_consistency cons, uint64_t index,
                               void **val, uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_vec_insert_value(mk_collection *c, uint64_t index, const void *val,
                                  uint64_t *version, uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_vec_remove_value(mk_collection *c, uint64_t index, void **val, uint64_t *version,
                                  uint32_t timeout_ms, mk_error *err);

MK_EXTERN int mk_set_insert_value(mk_collection *c, const void *elem, bool *added,
                                  uint64_t *version, uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_set_remove_value(mk_collection *c, const void *elem, bool *removed,
                                  uint64_t *version, uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_set_contains_value(mk_collection *c, mk_group_consistency cons, const void *elem,
                                    bool *out, uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_set_remove_many_value(mk_collection *c, const void *const *elems, size_t n,
                                       uint64_t *removed, uint64_t *version, uint32_t timeout_ms,
                                       mk_error *err);
MK_EXTERN int mk_set_extend_value(mk_collection *c, const void *const *elems, size_t n,
                                  uint64_t *added, uint64_t *version, uint32_t timeout_ms,
                                  mk_error *err);

MK_EXTERN int mk_cell_set_value(mk_collection *c, const void *val, uint64_t *version,
                                uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_cell_get_value(mk_collection *c, mk_group_consistency cons, void **val,
                                uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_cell_compare_exchange_value(mk_collection *c, const void *expected,
                                             const void *desired, void **current, uint64_t *version,
                                             uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_once_set_value(mk_collection *c, const void *val, uint64_t *version,
                                uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_once_get_value(mk_collection *c, mk_group_consistency cons, void **val,
                                uint32_t timeout_ms, mk_error *err);

MK_EXTERN int mk_pq_push_value(mk_collection *c, int64_t prio, const void *val, bool *inserted,
                               uint64_t *version, uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_pq_pop_value(mk_collection *c, int64_t *prio, void **val, uint64_t *version,
                              uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_pq_peek_value(mk_collection *c, mk_group_consistency cons, int64_t *prio,
                               void **val, uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_pq_insert_value(mk_collection *c, const void *key, int64_t prio, const void *val,
                                 bool *inserted, uint64_t *version, uint32_t timeout_ms,
                                 mk_error *err);
MK_EXTERN int mk_pq_update_value(mk_collection *c, const void *key, int64_t prio, uint64_t *version,
                                 uint32_t timeout_ms, mk_error *err);
MK_EXTERN int mk_pq_remove_value(mk_collection *c, const void *key, int64_t *prio, void **val,
                                 uint64_t *version, uint32_t timeout_ms, mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
