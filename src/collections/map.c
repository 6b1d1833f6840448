/*
 * map.c — the byte-form calls of Map and Set (mosaik/collections.h).
 *
 * Each encodes one command (formats: state.c) and decodes its result
 * after the version: a flag for put/remove/insert, the compare_exchange
 * result (mk_coll_cas_result), a count for the batches. Batches carry all
 * their entries in one command (mk_coll_put_batch), so they are applied
 * atomically and once, like every command.
 */
#include "collections/coll_internal.h"

/* ----- Map ----------------------------------------------------------------------- */

int mk_map_put(mk_collection *c, const void *key, size_t klen, const void *val, size_t vlen,
               uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    return mk_coll_simple(c, MK_COLL_MAP, MK_COP_MAP_PUT, key, klen, true, val, vlen, true, NULL,
                          version, timeout_ms, err);
}

int mk_map_remove(mk_collection *c, const void *key, size_t klen, bool *existed, uint64_t *version,
                  uint32_t timeout_ms, mk_error *err) {
    uint8_t f = 0;
    int rc = mk_coll_simple(c, MK_COLL_MAP, MK_COP_MAP_REMOVE, key, klen, true, NULL, 0, false, &f,
                            version, timeout_ms, err);
    if (rc == 0 && existed) *existed = f != 0;
    return rc;
}

int mk_map_get(mk_collection *c, mk_group_consistency cons, const void *key, size_t klen,
               mk_buf *val, uint32_t timeout_ms, mk_error *err) {
    return mk_coll_get_bytes(c, MK_COLL_MAP, cons, key, klen, true, NULL, val, timeout_ms, err);
}

int mk_map_compare_exchange(mk_collection *c, const void *key, size_t klen,
                            const mk_bytes *expected, const mk_bytes *desired, mk_buf *current,
                            uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    return mk_coll_cas(c, MK_COLL_MAP, key, klen, expected, desired, current, version, timeout_ms,
                       err);
}

/* A batch command of n keys (and values); *count gets its u64 result. */
static int batch(mk_collection *c, mk_collection_kind kind, uint8_t op, const mk_bytes *keys,
                 const mk_bytes *values, size_t n, uint64_t *count, uint64_t *version,
                 uint32_t timeout_ms, mk_error *err) {
    MK_TRY(mk_coll_need(c, kind, err));
    mk_buf cmd, res = MK_BUF_INIT;
    mk_reader r;
    int rc = mk_coll_cmd_init(&cmd, op);
    if (rc == 0) rc = mk_coll_put_batch(&cmd, keys, values, n, err);
    if (rc == 0) rc = mk_coll_run(c, kind, &cmd, &res, &r, version, timeout_ms, err);
    uint64_t k;
    if (rc == 0 && mk_read_u64be(&r, &k) < 0) rc = mk_error_set(err, MK_EMALFORMED, "short");
    if (rc == 0 && count) *count = k;
    mk_buf_free(&cmd);
    mk_buf_free(&res);
    return rc;
}

int mk_map_remove_many(mk_collection *c, const mk_bytes *keys, size_t n, uint64_t *removed,
                       uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    return batch(c, MK_COLL_MAP, MK_COP_MAP_REMOVE_MANY, keys, NULL, n, removed, version,
                 timeout_ms, err);
}

int mk_map_extend(mk_collection *c, const mk_bytes *keys, const mk_bytes *values, size_t n,
                  uint64_t *added, uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    if (n && !values) return mk_error_set(err, MK_EINVAL, "extend without values");
    return batch(c, MK_COLL_MAP, MK_COP_MAP_EXTEND, keys, values, n, added, version, timeout_ms,
                 err);
}

/* ----- Set ----------------------------------------------------------------------- */

int mk_set_insert(mk_collection *c, const void *val, size_t vlen, bool *added, uint64_t *version,
                  uint32_t timeout_ms, mk_error *err) {
    uint8_t f = 0;
    int rc = mk_coll_simple(c, MK_COLL_SET, MK_COP_SET_INSERT, val, vlen, true, NULL, 0, false, &f,
                            version, timeout_ms, err);
    if (rc == 0 && added) *added = f != 0;
    return rc;
}

int mk_set_remove(mk_collection *c, const void *val, size_t vlen, bool *removed, uint64_t *version,
                  uint32_t timeout_ms, mk_error *err) {
    uint8_t f = 0;
    int rc = mk_coll_simple(c, MK_COLL_SET, MK_COP_SET_REMOVE, val, vlen, true, NULL, 0, false, &f,
                            version, timeout_ms, err);
    if (rc == 0 && removed) *removed = f != 0;
    return rc;
}

int mk_set_contains(mk_collection *c, mk_group_consistency cons, const void *val, size_t vlen,
                    bool *out, uint32_t timeout_ms, mk_error *err) {
    mk_buf res = MK_BUF_INIT;
    int rc = mk_coll_get_bytes(c, MK_COLL_SET, cons, val, vlen, true, NULL, &res, timeout_ms, err);
    mk_buf_free(&res);
    if (rc == MK_ENOTFOUND) {
        *out = false;
        if (err) mk_error_clear(err);
        return 0;
    }
    if (rc == 0) *out = true;
    return rc;
}

int mk_set_remove_many(mk_collection *c, const mk_bytes *elems, size_t n, uint64_t *removed,
                       uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    return batch(c, MK_COLL_SET, MK_COP_SET_REMOVE_MANY, elems, NULL, n, removed, version,
                 timeout_ms, err);
}

int mk_set_extend(mk_collection *c, const mk_bytes *elems, size_t n, uint64_t *added,
                  uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    return batch(c, MK_COLL_SET, MK_COP_SET_EXTEND, elems, NULL, n, added, version, timeout_ms,
                 err);
}
