/*
 * coll_internal.h — what the collection sources share and the public API
 * does not show:
 *   - the command and query codes of the state machine (formats in
 *     state.c), the decoded command (mk_coll_cmd) and the mutations
 *     (ops.c);
 *   - the items (items.c): reference-counted, immutable byte strings
 *     (mk_coll_blob) and the array of items every kind keeps, which an
 *     iterator shares by reference;
 *   - the state machine (state.c; used by the handles, and by the tests
 *     and the fuzzer directly);
 *   - the handle and the plumbing of the calls (collection.c), which the
 *     per-kind files (map.c, vec.c, cell.c, pq.c), iter.c and typed.c use.
 */
#ifndef MK_COLL_INTERNAL_H
#define MK_COLL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "mosaik/collections.h"

enum {
    MK_COP_MAP_PUT = 1,    /* key bstr, value bstr -> existed u8 */
    MK_COP_MAP_REMOVE = 2, /* key bstr -> existed u8 */
    MK_COP_VEC_PUSH = 3,   /* value bstr -> index u64 */
    MK_COP_VEC_SET = 4,    /* index u64, value bstr */
    MK_COP_VEC_POP = 5,    /* -> value */
    MK_COP_SET_INSERT = 6, /* key bstr -> added u8 */
    MK_COP_SET_REMOVE = 7, /* key bstr -> removed u8 */
    MK_COP_CELL_SET = 8,   /* value bstr */
    MK_COP_ONCE_SET = 9,   /* value bstr; MK_ESTATE when set */
    MK_COP_PQ_PUSH = 10,   /* prio i64, value bstr -> inserted u8 */
    MK_COP_PQ_POP = 11,    /* -> prio i64, value */
    MK_COP_CLEAR = 12,
    /* state machine v2 */
    MK_COP_MAP_CAS = 13,         /* key bstr, expected opt, desired opt -> cas result */
    MK_COP_MAP_REMOVE_MANY = 14, /* n u32, n keys bstr -> removed u64 */
    MK_COP_MAP_EXTEND = 15,      /* n u32, n (key bstr, value bstr) -> added u64 */
    MK_COP_SET_REMOVE_MANY = 16, /* n u32, n keys bstr -> removed u64 */
    MK_COP_SET_EXTEND = 17,      /* n u32, n keys bstr -> added u64 */
    MK_COP_VEC_INSERT = 18,      /* index u64, value bstr */
    MK_COP_VEC_REMOVE = 19,      /* index u64 -> value */
    MK_COP_VEC_TRUNCATE = 20,    /* length u64 -> removed u64 */
    MK_COP_VEC_SWAP = 21,        /* index u64, index u64 */
    MK_COP_CELL_CAS = 22,        /* expected opt, desired opt -> cas result */
    MK_COP_PQ_INSERT = 23,       /* key bstr (not empty), prio i64, value bstr -> inserted u8 */
    MK_COP_PQ_UPDATE = 24,       /* key bstr, prio i64 */
    MK_COP_PQ_REMOVE = 25,       /* key bstr -> prio i64, value */
    MK_COP_MAX = 25,
};

enum {
    MK_CQ_LEN = 1,     /* -> u64 */
    MK_CQ_VERSION = 2, /* -> u64 */
    MK_CQ_GET = 3,     /* Map/Set: key bstr; Vec: index u64; others: - */
};

/* ----- items (items.c) ------------------------------------------------------ */

/* An immutable byte string shared by reference (the state and any number
 * of iterators); NULL is the empty string. */
typedef struct mk_coll_blob {
    atomic_size_t refs;
    size_t len;
    uint8_t data[];
} mk_coll_blob;

static inline size_t mk_coll_blen(const mk_coll_blob *b) {
    return b ? b->len : 0;
}
static inline const uint8_t *mk_coll_bdata(const mk_coll_blob *b) {
    return b ? b->data : NULL;
}

/* 0 with *out the new string (NULL when n is 0), or MK_ENOMEM. */
int mk_coll_blob_make(mk_coll_blob **out, const uint8_t *p, size_t n);
mk_coll_blob *mk_coll_blob_ref(mk_coll_blob *b);
void mk_coll_blob_unref(mk_coll_blob *b);
/* Bytewise, a proper prefix first. */
int mk_coll_keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl);
bool mk_coll_blob_is(const mk_coll_blob *b, const uint8_t *p, size_t n);

typedef struct mk_coll_item {
    int64_t prio;    /* PQ */
    uint64_t seq;    /* PQ: push number */
    mk_coll_blob *k; /* Map key, Set element, PQ key (NULL: none) */
    mk_coll_blob *v; /* Map, Vec, Cell, Once, PQ value */
} mk_coll_item;

typedef struct mk_coll_items {
    mk_coll_item *a;
    size_t n, cap;
} mk_coll_items;

/* Room for extra more items (MK_ENOMEM, nothing changed). */
int mk_coll_items_reserve(mk_coll_items *s, size_t extra);
/* Insert a fresh item at i, copying k and v: 0 or MK_ENOMEM (nothing
 * changed). */
int mk_coll_items_insert(mk_coll_items *s, size_t i, int64_t prio, uint64_t seq, const uint8_t *k,
                         size_t kl, const uint8_t *v, size_t vl);
/* Put a made item (its strings owned by the array) at i; room reserved. */
void mk_coll_items_put(mk_coll_items *s, size_t i, mk_coll_item it);
/* Take the item at i out (its strings now the caller's). */
mk_coll_item mk_coll_items_take(mk_coll_items *s, size_t i);
/* Remove the item at i, appending its value to take_value (may be NULL). */
int mk_coll_items_remove(mk_coll_items *s, size_t i, mk_buf *take_value);
/* Replace the value of item i: 0 or MK_ENOMEM (unchanged). */
int mk_coll_items_set_value(mk_coll_items *s, size_t i, const uint8_t *v, size_t vl);
/* Remove items [from, n). */
void mk_coll_items_truncate(mk_coll_items *s, size_t from);
void mk_coll_items_free(mk_coll_items *s);
/* A copy of the array sharing every string. */
int mk_coll_items_clone(const mk_coll_items *s, mk_coll_items *out);
/* Sorted by key: the index of k, or where it would go (*found false). */
size_t mk_coll_items_find(const mk_coll_items *s, const uint8_t *k, size_t kl, bool *found);
/* Any order: the index of the item with key k, or s->n. */
size_t mk_coll_items_scan(const mk_coll_items *s, const uint8_t *k, size_t kl);

/* ----- the state machine (state.c, ops.c) ----------------------------------------- */

/* The state every member keeps. Callbacks run under the group's state
 * lock; mu also guards the items against mk_coll_state_clone, which runs
 * on a caller's thread without the group's lock. */
typedef struct mk_coll_state {
    mk_collection_kind kind;
    size_t capacity;
    uint64_t version; /* successful mutations */
    uint64_t seq;     /* PQ pushes */
    mk_coll_items items;
    pthread_mutex_t mu;
} mk_coll_state;

/* A decoded command. Byte strings borrow from the command; a batch is its
 * validated entries, walked again by the mutation. */
typedef struct mk_coll_cmd {
    uint8_t op;
    const uint8_t *key, *val;
    size_t kl, vl;
    uint64_t idx, idx2; /* Vec: index, second index (swap), length (truncate) */
    int64_t prio;
    bool has_exp, has_des; /* compare_exchange: expected, desired present */
    const uint8_t *exp, *des;
    size_t el, dl;
    uint32_t n; /* batch: entries */
    const uint8_t *batch;
    size_t batch_len;
} mk_coll_cmd;

/* ops.c: run a decoded command of the state's kind: 0 or its status (the
 * state unchanged then); *changed false when it left the state as it was.
 * extra gets the result after the version. */
int mk_coll_exec(mk_coll_state *s, const mk_coll_cmd *c, mk_buf *extra, bool *changed);
/* PQ rank order: does (ap, as) rank below (bp, bs)? */
bool mk_coll_pq_below(int64_t ap, uint64_t as, int64_t bp, uint64_t bs);

/* A fresh state of a kind and capacity (0: the default), and the
 * mk_group_sm that applies encoded commands to it. */
mk_coll_state *mk_coll_state_new(mk_collection_kind kind, size_t capacity);
void mk_coll_state_free(mk_coll_state *s);
mk_group_sm mk_coll_state_sm(mk_coll_state *s);
uint64_t mk_coll_state_version(const mk_coll_state *s);
/* The items as they are now and their version, sharing the strings (on
 * any thread). */
int mk_coll_state_clone(mk_coll_state *s, mk_coll_items *out, uint64_t *version);

/* ----- handles (collection.c) --------------------------------------------------- */

struct mk_collection {
    mk_collection_kind kind;
    mk_coll_state *state;
    mk_group *group;
    /* Made from the specs of the configuration (and declaration); the
     * group borrows them, so they live as long as the handle. */
    mk_validator_set validators, writers;
    mk_group_role role;
    const mk_datum_codec *key_codec, *value_codec; /* never NULL (bytes by default) */
};

/* A command buffer capped at MK_GROUP_MAX_COMMAND, holding op (0 or
 * MK_ENOMEM; free it either way). */
int mk_coll_cmd_init(mk_buf *cmd, uint8_t op);
int mk_coll_put_bstr(mk_buf *b, const void *p, size_t n);
/* An optional byte string: u8 present, then bstr when present. */
int mk_coll_put_opt(mk_buf *b, const mk_bytes *v);
/* Check the kind (MK_EINVAL) and the role (MK_EPOLICY), run a command; on
 * success *version (may be NULL) gets the version and r is positioned
 * after it, over res. need 0: any kind. */
int mk_coll_run(mk_collection *c, mk_collection_kind need, const mk_buf *cmd, mk_buf *res,
                mk_reader *r, uint64_t *version, uint32_t timeout_ms, mk_error *err);
/* The kind check alone. */
int mk_coll_need(const mk_collection *c, mk_collection_kind need, mk_error *err);
/* A command of op with an optional key and value, and an optional u8
 * result flag. */
int mk_coll_simple(mk_collection *c, mk_collection_kind need, uint8_t op, const void *k, size_t kl,
                   bool with_k, const void *v, size_t vl, bool with_v, uint8_t *flag,
                   uint64_t *version, uint32_t timeout_ms, mk_error *err);
/* A query returning bytes: GET with a key (with_k) or an index. */
int mk_coll_get_bytes(mk_collection *c, mk_collection_kind need, mk_group_consistency cons,
                      const void *key, size_t kl, bool with_k, const uint64_t *index, mk_buf *val,
                      uint32_t timeout_ms, mk_error *err);
/* The rest of r appended to out (may be NULL). */
int mk_coll_take_rest(mk_reader *r, mk_buf *out);
/* A compare_exchange result (after the version): 0 swapped, MK_ESTATE
 * with *current the value found, MK_ENOTFOUND when nothing was there. */
int mk_coll_cas_result(mk_reader *r, mk_buf *current, mk_error *err);
/* A compare_exchange of Map (with its key) or Cell (key ignored). */
int mk_coll_cas(mk_collection *c, mk_collection_kind kind, const void *key, size_t klen,
                const mk_bytes *expected, const mk_bytes *desired, mk_buf *current,
                uint64_t *version, uint32_t timeout_ms, mk_error *err);
/* A batch: n u32 then each key (and value) bstr; n ≤ MK_COLL_MAX_ITEMS. */
int mk_coll_put_batch(mk_buf *cmd, const mk_bytes *keys, const mk_bytes *values, size_t n,
                      mk_error *err);

#endif
