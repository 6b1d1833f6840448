/*
 * coll_internal.h — what the collection sources share and the public API
 * does not show: the command and query codes of the state machine (see
 * state.c for their formats) and the state machine itself (state.c; used
 * by collection.c, and by the tests and the fuzzer directly).
 */
#ifndef MK_COLL_INTERNAL_H
#define MK_COLL_INTERNAL_H

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
};

enum {
    MK_CQ_LEN = 1,     /* -> u64 */
    MK_CQ_VERSION = 2, /* -> u64 */
    MK_CQ_GET = 3,     /* Map/Set: key bstr; Vec: index u64; others: - */
};

/* The state machine alone: a fresh state of a kind and capacity (0: the
 * default), and the mk_group_sm that applies encoded commands to it. */
typedef struct mk_coll_state mk_coll_state;
mk_coll_state *mk_coll_state_new(mk_collection_kind kind, size_t capacity);
void mk_coll_state_free(mk_coll_state *s);
mk_group_sm mk_coll_state_sm(mk_coll_state *s);
uint64_t mk_coll_state_version(const mk_coll_state *s);

#endif
