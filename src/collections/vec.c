/*
 * vec.c — the byte-form calls of Vec (mosaik/collections.h).
 *
 * Every call is one command (formats: state.c) built by vec_cmd: the op,
 * up to two indices (an index, a second index for swap, a length for
 * truncate) and a value; its result after the version is an index or a
 * count (u64), a removed value (the rest), or nothing.
 */
#include "collections/coll_internal.h"

static int vec_cmd(mk_collection *c, uint8_t op, const uint64_t *a, const uint64_t *b,
                   const void *val, size_t vlen, bool with_v, mk_buf *rest, uint64_t *num,
                   uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    if (with_v && vlen > MK_COLL_MAX_VALUE) return mk_error_set(err, MK_ETOOBIG, "value too big");
    mk_buf cmd, res = MK_BUF_INIT;
    mk_reader r;
    int rc = mk_coll_cmd_init(&cmd, op);
    if (rc == 0 && a) rc = mk_buf_append_u64be(&cmd, *a);
    if (rc == 0 && b) rc = mk_buf_append_u64be(&cmd, *b);
    if (rc == 0 && with_v) rc = mk_coll_put_bstr(&cmd, val, vlen);
    if (rc == 0) rc = mk_coll_run(c, MK_COLL_VEC, &cmd, &res, &r, version, timeout_ms, err);
    uint64_t n;
    if (rc == 0 && num) {
        if (mk_read_u64be(&r, &n) < 0) rc = mk_error_set(err, MK_EMALFORMED, "short result");
        if (rc == 0) *num = n;
    }
    if (rc == 0 && rest) rc = mk_coll_take_rest(&r, rest);
    mk_buf_free(&cmd);
    mk_buf_free(&res);
    return rc;
}

int mk_vec_push(mk_collection *c, const void *val, size_t vlen, uint64_t *index, uint64_t *version,
                uint32_t timeout_ms, mk_error *err) {
    uint64_t i;
    int rc = vec_cmd(c, MK_COP_VEC_PUSH, NULL, NULL, val, vlen, true, NULL, &i, version, timeout_ms,
                     err);
    if (rc == 0 && index) *index = i;
    return rc;
}

int mk_vec_set(mk_collection *c, uint64_t index, const void *val, size_t vlen, uint64_t *version,
               uint32_t timeout_ms, mk_error *err) {
    return vec_cmd(c, MK_COP_VEC_SET, &index, NULL, val, vlen, true, NULL, NULL, version,
                   timeout_ms, err);
}

int mk_vec_pop(mk_collection *c, mk_buf *val, uint64_t *version, uint32_t timeout_ms,
               mk_error *err) {
    return vec_cmd(c, MK_COP_VEC_POP, NULL, NULL, NULL, 0, false, val, NULL, version, timeout_ms,
                   err);
}

int mk_vec_get(mk_collection *c, mk_group_consistency cons, uint64_t index, mk_buf *val,
               uint32_t timeout_ms, mk_error *err) {
    return mk_coll_get_bytes(c, MK_COLL_VEC, cons, NULL, 0, false, &index, val, timeout_ms, err);
}

int mk_vec_insert(mk_collection *c, uint64_t index, const void *val, size_t vlen, uint64_t *version,
                  uint32_t timeout_ms, mk_error *err) {
    return vec_cmd(c, MK_COP_VEC_INSERT, &index, NULL, val, vlen, true, NULL, NULL, version,
                   timeout_ms, err);
}

int mk_vec_remove(mk_collection *c, uint64_t index, mk_buf *val, uint64_t *version,
                  uint32_t timeout_ms, mk_error *err) {
    return vec_cmd(c, MK_COP_VEC_REMOVE, &index, NULL, NULL, 0, false, val, NULL, version,
                   timeout_ms, err);
}

int mk_vec_truncate(mk_collection *c, uint64_t len, uint64_t *removed, uint64_t *version,
                    uint32_t timeout_ms, mk_error *err) {
    uint64_t n;
    int rc = vec_cmd(c, MK_COP_VEC_TRUNCATE, &len, NULL, NULL, 0, false, NULL, &n, version,
                     timeout_ms, err);
    if (rc == 0 && removed) *removed = n;
    return rc;
}

int mk_vec_swap(mk_collection *c, uint64_t i, uint64_t j, uint64_t *version, uint32_t timeout_ms,
                mk_error *err) {
    return vec_cmd(c, MK_COP_VEC_SWAP, &i, &j, NULL, 0, false, NULL, NULL, version, timeout_ms,
                   err);
}
