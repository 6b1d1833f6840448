/*
 * pq.c — the byte-form calls of the bounded PriorityQueue
 * (mosaik/collections.h).
 *
 * Every call is one command (formats: state.c) built by pq_cmd: the op,
 * an optional key (insert, update, remove: never empty), an optional
 * priority and an optional value. Results after the version: inserted u8
 * (push, insert), prio i64 then the value (pop, remove), nothing (update).
 */
#include "collections/coll_internal.h"

static int pq_cmd(mk_collection *c, uint8_t op, const void *key, size_t klen, bool with_k,
                  const int64_t *prio, const void *val, size_t vlen, bool with_v, mk_reader *r,
                  mk_buf *res, uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    if (with_k && klen == 0) return mk_error_set(err, MK_EINVAL, "a queue key is not empty");
    if (with_k && klen > MK_COLL_MAX_KEY) return mk_error_set(err, MK_ETOOBIG, "key too big");
    if (with_v && vlen > MK_COLL_MAX_VALUE) return mk_error_set(err, MK_ETOOBIG, "value too big");
    mk_buf cmd;
    int rc = mk_coll_cmd_init(&cmd, op);
    if (rc == 0 && with_k) rc = mk_coll_put_bstr(&cmd, key, klen);
    if (rc == 0 && prio) rc = mk_buf_append_u64be(&cmd, (uint64_t)*prio);
    if (rc == 0 && with_v) rc = mk_coll_put_bstr(&cmd, val, vlen);
    if (rc == 0) rc = mk_coll_run(c, MK_COLL_PQ, &cmd, res, r, version, timeout_ms, err);
    mk_buf_free(&cmd);
    return rc;
}

/* A result (or reply) of prio i64 then the value. */
static int split_prio(mk_reader *r, int64_t *prio, mk_buf *val, mk_error *err) {
    uint64_t p;
    if (mk_read_u64be(r, &p) < 0) return mk_error_set(err, MK_EMALFORMED, "short result");
    if (prio) *prio = (int64_t)p;
    return mk_coll_take_rest(r, val);
}

static int flag_result(mk_reader *r, bool *flag, mk_error *err) {
    uint8_t f;
    if (mk_read_u8(r, &f) < 0) return mk_error_set(err, MK_EMALFORMED, "short result");
    if (flag) *flag = f != 0;
    return 0;
}

int mk_pq_push(mk_collection *c, int64_t prio, const void *val, size_t vlen, bool *inserted,
               uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    mk_buf res = MK_BUF_INIT;
    mk_reader r;
    int rc = pq_cmd(c, MK_COP_PQ_PUSH, NULL, 0, false, &prio, val, vlen, true, &r, &res, version,
                    timeout_ms, err);
    if (rc == 0) rc = flag_result(&r, inserted, err);
    mk_buf_free(&res);
    return rc;
}

int mk_pq_pop(mk_collection *c, int64_t *prio, mk_buf *val, uint64_t *version, uint32_t timeout_ms,
              mk_error *err) {
    mk_buf res = MK_BUF_INIT;
    mk_reader r;
    int rc = pq_cmd(c, MK_COP_PQ_POP, NULL, 0, false, NULL, NULL, 0, false, &r, &res, version,
                    timeout_ms, err);
    if (rc == 0) rc = split_prio(&r, prio, val, err);
    mk_buf_free(&res);
    return rc;
}

int mk_pq_peek(mk_collection *c, mk_group_consistency cons, int64_t *prio, mk_buf *val,
               uint32_t timeout_ms, mk_error *err) {
    mk_buf res = MK_BUF_INIT;
    int rc = mk_coll_get_bytes(c, MK_COLL_PQ, cons, NULL, 0, false, NULL, &res, timeout_ms, err);
    mk_reader r;
    mk_reader_init(&r, res.data, res.len);
    if (rc == 0) rc = split_prio(&r, prio, val, err);
    mk_buf_free(&res);
    return rc;
}

int mk_pq_insert(mk_collection *c, const void *key, size_t klen, int64_t prio, const void *val,
                 size_t vlen, bool *inserted, uint64_t *version, uint32_t timeout_ms,
                 mk_error *err) {
    mk_buf res = MK_BUF_INIT;
    mk_reader r;
    int rc = pq_cmd(c, MK_COP_PQ_INSERT, key, klen, true, &prio, val, vlen, true, &r, &res, version,
                    timeout_ms, err);
    if (rc == 0) rc = flag_result(&r, inserted, err);
    mk_buf_free(&res);
    return rc;
}

int mk_pq_update(mk_collection *c, const void *key, size_t klen, int64_t prio, uint64_t *version,
                 uint32_t timeout_ms, mk_error *err) {
    mk_buf res = MK_BUF_INIT;
    mk_reader r;
    int rc = pq_cmd(c, MK_COP_PQ_UPDATE, key, klen, true, &prio, NULL, 0, false, &r, &res, version,
                    timeout_ms, err);
    mk_buf_free(&res);
    return rc;
}

int mk_pq_remove(mk_collection *c, const void *key, size_t klen, int64_t *prio, mk_buf *val,
                 uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    mk_buf res = MK_BUF_INIT;
    mk_reader r;
    int rc = pq_cmd(c, MK_COP_PQ_REMOVE, key, klen, true, NULL, NULL, 0, false, &r, &res, version,
                    timeout_ms, err);
    if (rc == 0) rc = split_prio(&r, prio, val, err);
    mk_buf_free(&res);
    return rc;
}
