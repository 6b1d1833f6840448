/*
 * typed.c — the typed (_value) calls: each encodes its values with the
 * collection's codecs (keys, Set elements and PQ keys with the key codec;
 * values with the value codec), runs the byte-form call, and decodes
 * what it hands back with the value codec.
 *
 * Encodings are capped where the byte form caps them (MK_COLL_MAX_KEY,
 * MK_COLL_MAX_VALUE: MK_ETOOBIG, with the codec and "key"/"value" in the
 * reason); a stored datum the codec refuses fails the read with its
 * status (MK_EMALFORMED), prefixed "stored value". Batches encode every
 * entry into one buffer and pass views into it. Outputs are NULL unless
 * the call succeeded (compare_exchange: *current is set when it returns
 * MK_ESTATE).
 */
#include <stdlib.h>

#include "collections/coll_internal.h"

static int enc(const mk_collection *c, bool key, const void *v, mk_buf *b, mk_error *err) {
    mk_buf_init(b, key ? MK_COLL_MAX_KEY : MK_COLL_MAX_VALUE);
    int rc = mk_datum_encode(key ? c->key_codec : c->value_codec, v, b, err);
    return rc < 0 ? mk_error_prefix(err, rc, key ? "key" : "value") : 0;
}

/* *out decoded from b when rc is 0 (else NULL); the status. */
static int dec(const mk_collection *c, int rc, const mk_buf *b, void **out, mk_error *err) {
    *out = NULL;
    if (rc < 0) return rc;
    rc = mk_datum_decode(c->value_codec, b->data, b->len, out, err);
    return rc < 0 ? mk_error_prefix(err, rc, "stored value") : 0;
}

/* n values encoded into all, *views their bytes (free()). */
static int enc_many(const mk_collection *c, bool key, const void *const *vals, size_t n,
                    mk_buf *all, mk_bytes **views, mk_error *err) {
    *views = NULL;
    mk_buf_init(all, MK_GROUP_MAX_COMMAND);
    if (n > MK_COLL_MAX_ITEMS) return mk_error_set(err, MK_ETOOBIG, "batch too big");
    if (n && !vals) return mk_error_set(err, MK_EINVAL, "no batch");
    size_t *ends = malloc((n + 1) * sizeof *ends);
    if (!ends) return mk_error_set(err, MK_ENOMEM, "out of memory");
    const mk_datum_codec *codec = key ? c->key_codec : c->value_codec;
    size_t max = key ? MK_COLL_MAX_KEY : MK_COLL_MAX_VALUE;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t before = all->len;
        rc = mk_datum_encode(codec, vals[i], all, err);
        if (rc == 0 && all->len - before > max)
            rc = mk_error_set(err, MK_ETOOBIG, "%s %zu: over %zu bytes", key ? "key" : "value", i,
                              max);
        ends[i] = all->len;
    }
    if (rc == 0 && !(*views = malloc((n ? n : 1) * sizeof **views)))
        rc = mk_error_set(err, MK_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t start = i ? ends[i - 1] : 0;
        (*views)[i] = (mk_bytes){all->data + start, ends[i] - start};
    }
    free(ends);
    return rc;
}

/* ----- Map ------------------------------------------------------------------------ */

int mk_map_put_value(mk_collection *c, const void *key, const void *val, uint64_t *version,
                     uint32_t timeout_ms, mk_error *err) {
    mk_buf k = MK_BUF_INIT, v = MK_BUF_INIT;
    int rc = enc(c, true, key, &k, err);
    if (rc == 0) rc = enc(c, false, val, &v, err);
    if (rc == 0) rc = mk_map_put(c, k.data, k.len, v.data, v.len, version, timeout_ms, err);
    mk_buf_free(&k);
    mk_buf_free(&v);
    return rc;
}

int mk_map_get_value(mk_collection *c, mk_group_consistency cons, const void *key, void **val,
                     uint32_t timeout_ms, mk_error *err) {
    mk_buf k = MK_BUF_INIT, v = MK_BUF_INIT;
    int rc = enc(c, true, key, &k, err);
    if (rc == 0) rc = mk_map_get(c, cons, k.data, k.len, &v, timeout_ms, err);
    rc = dec(c, rc, &v, val, err);
    mk_buf_free(&k);
    mk_buf_free(&v);
    return rc;
}

int mk_map_remove_value(mk_collection *c, const void *key, bool *existed, uint64_t *version,
                        uint32_t timeout_ms, mk_error *err) {
    mk_buf k = MK_BUF_INIT;
    int rc = enc(c, true, key, &k, err);
    if (rc == 0) rc = mk_map_remove(c, k.data, k.len, existed, version, timeout_ms, err);
    mk_buf_free(&k);
    return rc;
}

/* compare_exchange of a Map entry (key not NULL) or the Cell. */
static int cas_value(mk_collection *c, mk_collection_kind kind, const void *key,
                     const void *expected, const void *desired, void **current, uint64_t *version,
                     uint32_t timeout_ms, mk_error *err) {
    mk_buf k = MK_BUF_INIT, e = MK_BUF_INIT, d = MK_BUF_INIT, cur = MK_BUF_INIT;
    if (current) *current = NULL;
    int rc = kind == MK_COLL_MAP ? enc(c, true, key, &k, err) : 0;
    if (rc == 0 && expected) rc = enc(c, false, expected, &e, err);
    if (rc == 0 && desired) rc = enc(c, false, desired, &d, err);
    mk_bytes eb = {e.data, e.len}, db = {d.data, d.len};
    if (rc == 0)
        rc = mk_coll_cas(c, kind, k.data, k.len, expected ? &eb : NULL, desired ? &db : NULL, &cur,
                         version, timeout_ms, err);
    if (rc == MK_ESTATE && current) {
        int drc = dec(c, 0, &cur, current, err);
        if (drc < 0) rc = drc;
    }
    mk_buf_free(&k);
    mk_buf_free(&e);
    mk_buf_free(&d);
    mk_buf_free(&cur);
    return rc;
}

int mk_map_compare_exchange_value(mk_collection *c, const void *key, const void *expected,
                                  const void *desired, void **current, uint64_t *version,
                                  uint32_t timeout_ms, mk_error *err) {
    if (!key) return mk_error_set(err, MK_EINVAL, "no key");
    return cas_value(c, MK_COLL_MAP, key, expected, desired, current, version, timeout_ms, err);
}

int mk_map_remove_many_value(mk_collection *c, const void *const *keys, size_t n, uint64_t *removed,
                             uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    mk_buf all;
    mk_bytes *kb;
    int rc = enc_many(c, true, keys, n, &all, &kb, err);
    if (rc == 0) rc = mk_map_remove_many(c, kb, n, removed, version, timeout_ms, err);
    free(kb);
    mk_buf_free(&all);
    return rc;
}

int mk_map_extend_value(mk_collection *c, const void *const *keys, const void *const *values,
                        size_t n, uint64_t *added, uint64_t *version, uint32_t timeout_ms,
                        mk_error *err) {
    mk_buf ka, va = MK_BUF_INIT;
    mk_bytes *kb, *vb = NULL;
    int rc = enc_many(c, true, keys, n, &ka, &kb, err);
    if (rc == 0) rc = enc_many(c, false, values, n, &va, &vb, err);
    if (rc == 0) rc = mk_map_extend(c, kb, vb, n, added, version, timeout_ms, err);
    free(kb);
    free(vb);
    mk_buf_free(&ka);
    mk_buf_free(&va);
    return rc;
}

/* ----- Vec ------------------------------------------------------------------------- */

int mk_vec_push_value(mk_collection *c, const void *val, uint64_t *index, uint64_t *version,
                      uint32_t timeout_ms, mk_error *err) {
    mk_buf v = MK_BUF_INIT;
    int rc = enc(c, false, val, &v, err);
    if (rc == 0) rc = mk_vec_push(c, v.data, v.len, index, version, timeout_ms, err);
    mk_buf_free(&v);
    return rc;
}

int mk_vec_set_value(mk_collection *c, uint64_t index, const void *val, uint64_t *version,
                     uint32_t timeout_ms, mk_error *err) {
    mk_buf v = MK_BUF_INIT;
    int rc = enc(c, false, val, &v, err);
    if (rc == 0) rc = mk_vec_set(c, index, v.data, v.len, version, timeout_ms, err);
    mk_buf_free(&v);
    return rc;
}

int mk_vec_pop_value(mk_collection *c, void **val, uint64_t *version, uint32_t timeout_ms,
                     mk_error *err) {
    mk_buf v = MK_BUF_INIT;
    int rc = dec(c, mk_vec_pop(c, &v, version, timeout_ms, err), &v, val, err);
    mk_buf_free(&v);
    return rc;
}

int mk_vec_get_value(mk_collection *c, mk_group_consistency cons, uint64_t index, void **val,
                     uint32_t timeout_ms, mk_error *err) {
    mk_buf v = MK_BUF_INIT;
    int rc = dec(c, mk_vec_get(c, cons, index, &v, timeout_ms, err), &v, val, err);
    mk_buf_free(&v);
    return rc;
}

int mk_vec_insert_value(mk_collection *c, uint64_t index, const void *val, uint64_t *version,
                        uint32_t timeout_ms, mk_error *err) {
    mk_buf v = MK_BUF_INIT;
    int rc = enc(c, false, val, &v, err);
    if (rc == 0) rc = mk_vec_insert(c, index, v.data, v.len, version, timeout_ms, err);
    mk_buf_free(&v);
    return rc;
}

int mk_vec_remove_value(mk_collection *c, uint64_t index, void **val, uint64_t *version,
                        uint32_t timeout_ms, mk_error *err) {
    mk_buf v = MK_BUF_INIT;
    int rc = dec(c, mk_vec_remove(c, index, &v, version, timeout_ms, err), &v, val, err);
    mk_buf_free(&v);
    return rc;
}

/* ----- Set --------------------------------------------------------------------------- */

int mk_set_insert_value(mk_collection *c, const void *elem, bool *added, uint64_t *version,
                        uint32_t timeout_ms, mk_error *err) {
    mk_buf k = MK_BUF_INIT;
    int rc = enc(c, true, elem, &k, err);
    if (rc == 0) rc = mk_set_insert(c, k.data, k.len, added, version, timeout_ms, err);
    mk_buf_free(&k);
    return rc;
}

int mk_set_remove_value(mk_collection *c, const void *elem, bool *removed, uint64_t *version,
                        uint32_t timeout_ms, mk_error *err) {
    mk_buf k = MK_BUF_INIT;
    int rc = enc(c, true, elem, &k, err);
    if (rc == 0) rc = mk_set_remove(c, k.data, k.len, removed, version, timeout_ms, err);
    mk_buf_free(&k);
    return rc;
}

int mk_set_contains_value(mk_collection *c, mk_group_consistency cons, const void *elem, bool *out,
                          uint32_t timeout_ms, mk_error *err) {
    mk_buf k = MK_BUF_INIT;
    int rc = enc(c, true, elem, &k, err);
    if (rc == 0) rc = mk_set_contains(c, cons, k.data, k.len, out, timeout_ms, err);
    mk_buf_free(&k);
    return rc;
}

int mk_set_remove_many_value(mk_collection *c, const void *const *elems, size_t n,
                             uint64_t *removed, uint64_t *version, uint32_t timeout_ms,
                             mk_error *err) {
    mk_buf all;
    mk_bytes *kb;
    int rc = enc_many(c, true, elems, n, &all, &kb, err);
    if (rc == 0) rc = mk_set_remove_many(c, kb, n, removed, version, timeout_ms, err);
    free(kb);
    mk_buf_free(&all);
    return rc;
}

int mk_set_extend_value(mk_collection *c, const void *const *elems, size_t n, uint64_t *added,
                        uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    mk_buf all;
    mk_bytes *kb;
    int rc = enc_many(c, true, elems, n, &all, &kb, err);
    if (rc == 0) rc = mk_set_extend(c, kb, n, added, version, timeout_ms, err);
    free(kb);
    mk_buf_free(&all);
    return rc;
}

/* ----- Cell and Once ----------------------------------------------------------------- */

int mk_cell_set_value(mk_collection *c, const void *val, uint64_t *version, uint32_t timeout_ms,
                      mk_error *err) {
    mk_buf v = MK_BUF_INIT;
    int rc = enc(c, false, val, &v, err);
    if (rc == 0) rc = mk_cell_set(c, v.data, v.len, version, timeout_ms, err);
    mk_buf_free(&v);
    return rc;
}

int mk_cell_get_value(mk_collection *c, mk_group_consistency cons, void **val, uint32_t timeout_ms,
                      mk_error *err) {
    mk_buf v = MK_BUF_INIT;
    int rc = dec(c, mk_cell_get(c, cons, &v, timeout_ms, err), &v, val, err);
    mk_buf_free(&v);
    return rc;
}

int mk_cell_compare_exchange_value(mk_collection *c, const void *expected, const void *desired,
                                   void **current, uint64_t *version, uint32_t timeout_ms,
                                   mk_error *err) {
    return cas_value(c, MK_COLL_CELL, NULL, expected, desired, current, version, timeout_ms, err);
}

int mk_once_set_value(mk_collection *c, const void *val, uint64_t *version, uint32_t timeout_ms,
                      mk_error *err) {
    mk_buf v = MK_BUF_INIT;
    int rc = enc(c, false, val, &v, err);
    if (rc == 0) rc = mk_once_set(c, v.data, v.len, version, timeout_ms, err);
    mk_buf_free(&v);
    return rc;
}

int mk_once_get_value(mk_collection *c, mk_group_consistency cons, void **val, uint32_t timeout_ms,
                      mk_error *err) {
    mk_buf v = MK_BUF_INIT;
    int rc = dec(c, mk_once_get(c, cons, &v, timeout_ms, err), &v, val, err);
    mk_buf_free(&v);
    return rc;
}

/* ----- PriorityQueue ----------------------------------------------------------------- */

int mk_pq_push_value(mk_collection *c, int64_t prio, const void *val, bool *inserted,
                     uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    mk_buf v = MK_BUF_INIT;
    int rc = enc(c, false, val, &v, err);
    if (rc == 0) rc = mk_pq_push(c, prio, v.data, v.len, inserted, version, timeout_ms, err);
    mk_buf_free(&v);
    return rc;
}

int mk_pq_pop_value(mk_collection *c, int64_t *prio, void **val, uint64_t *version,
                    uint32_t timeout_ms, mk_error *err) {
    mk_buf v = MK_BUF_INIT;
    int rc = dec(c, mk_pq_pop(c, prio, &v, version, timeout_ms, err), &v, val, err);
    mk_buf_free(&v);
    return rc;
}

int mk_pq_peek_value(mk_collection *c, mk_group_consistency cons, int64_t *prio, void **val,
                     uint32_t timeout_ms, mk_error *err) {
    mk_buf v = MK_BUF_INIT;
    int rc = dec(c, mk_pq_peek(c, cons, prio, &v, timeout_ms, err), &v, val, err);
    mk_buf_free(&v);
    return rc;
}

int mk_pq_insert_value(mk_collection *c, const void *key, int64_t prio, const void *val,
                       bool *inserted, uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    mk_buf k = MK_BUF_INIT, v = MK_BUF_INIT;
    int rc = enc(c, true, key, &k, err);
    if (rc == 0) rc = enc(c, false, val, &v, err);
    if (rc == 0)
        rc =
            mk_pq_insert(c, k.data, k.len, prio, v.data, v.len, inserted, version, timeout_ms, err);
    mk_buf_free(&k);
    mk_buf_free(&v);
    return rc;
}

int mk_pq_update_value(mk_collection *c, const void *key, int64_t prio, uint64_t *version,
                       uint32_t timeout_ms, mk_error *err) {
    mk_buf k = MK_BUF_INIT;
    int rc = enc(c, true, key, &k, err);
    if (rc == 0) rc = mk_pq_update(c, k.data, k.len, prio, version, timeout_ms, err);
    mk_buf_free(&k);
    return rc;
}

int mk_pq_remove_value(mk_collection *c, const void *key, int64_t *prio, void **val,
                       uint64_t *version, uint32_t timeout_ms, mk_error *err) {
    mk_buf k = MK_BUF_INIT, v = MK_BUF_INIT;
    *val = NULL;
    int rc = enc(c, true, key, &k, err);
    if (rc == 0)
        rc = dec(c, mk_pq_remove(c, k.data, k.len, prio, &v, version, timeout_ms, err), &v, val,
                 err);
    mk_buf_free(&k);
    mk_buf_free(&v);
    return rc;
}
