/*
 * cell.c — the byte-form calls of Cell and Once (mosaik/collections.h):
 * set and get of their one value, and the Cell's compare_exchange
 * (mk_coll_cas, whose absent entry is an unset cell).
 */
#include "collections/coll_internal.h"

int mk_cell_set(mk_collection *c, const void *val, size_t vlen, uint64_t *version,
                uint32_t timeout_ms, mk_error *err) {
    return mk_coll_simple(c, MK_COLL_CELL, MK_COP_CELL_SET, NULL, 0, false, val, vlen, true, NULL,
                          version, timeout_ms, err);
}

int mk_cell_get(mk_collection *c, mk_group_consistency cons, mk_buf *val, uint32_t timeout_ms,
                mk_error *err) {
    return mk_coll_get_bytes(c, MK_COLL_CELL, cons, NULL, 0, false, NULL, val, timeout_ms, err);
}

int mk_cell_compare_exchange(mk_collection *c, const mk_bytes *expected, const mk_bytes *desired,
                             mk_buf *current, uint64_t *version, uint32_t timeout_ms,
                             mk_error *err) {
    return mk_coll_cas(c, MK_COLL_CELL, NULL, 0, expected, desired, current, version, timeout_ms,
                       err);
}

int mk_once_set(mk_collection *c, const void *val, size_t vlen, uint64_t *version,
                uint32_t timeout_ms, mk_error *err) {
    return mk_coll_simple(c, MK_COLL_ONCE, MK_COP_ONCE_SET, NULL, 0, false, val, vlen, true, NULL,
                          version, timeout_ms, err);
}

int mk_once_get(mk_collection *c, mk_group_consistency cons, mk_buf *val, uint32_t timeout_ms,
                mk_error *err) {
    return mk_coll_get_bytes(c, MK_COLL_ONCE, cons, NULL, 0, false, NULL, val, timeout_ms, err);
}
