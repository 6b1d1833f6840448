/*
 * iter.c — iteration over a collection as a consistent snapshot at one
 * version (mk_collection_iter_*).
 *
 * An iterator holds a clone of the local state's item array
 * (mk_coll_state_clone): the array is copied under the state's mutex, the
 * keys and values are shared by reference (items.c), so the snapshot is
 * exactly the items of one version, costs one array copy, and stays valid
 * and unchanged while the collection moves on. A STRONG snapshot first
 * asks the leader for its version through a barrier (a STRONG version
 * query) and waits until the local copy has reached it, so it holds every
 * write that completed before the call.
 *
 * Order: the array's (Map and Set by key, Vec by index, Cell and Once
 * their item), except the PQ, whose array is in ascending rank: it is
 * walked from the end, highest first, so an entry's index is its rank.
 * Decoded keys and values (mk_collection_iter_next_value) belong to the
 * iterator until its next call; the codecs are the collection's, copied
 * (codecs are static objects), so an iterator may outlive its handle.
 */
#include <stdlib.h>
#include <string.h>

#include "collections/coll_internal.h"

struct mk_collection_iter {
    mk_collection_kind kind;
    const mk_datum_codec *key_codec, *value_codec;
    mk_coll_items items;
    uint64_t version;
    size_t pos;
    void *dkey, *dval; /* decoded for the entry last returned */
};

/* The leader's version, then the local copy at least as far. */
static int strong_point(mk_collection *c, uint32_t timeout_ms, mk_error *err) {
    uint32_t t = timeout_ms ? timeout_ms : MK_GROUP_DEFAULT_TIMEOUT_MS;
    uint8_t op = MK_CQ_VERSION;
    mk_buf res = MK_BUF_INIT;
    int rc = mk_group_query(c->group, MK_GROUP_STRONG, &op, 1, &res, t, err);
    mk_reader r;
    mk_reader_init(&r, res.data, res.len);
    uint64_t v = 0;
    if (rc == 0 && mk_read_u64be(&r, &v) < 0) rc = mk_error_set(err, MK_EMALFORMED, "short");
    mk_buf_free(&res);
    if (rc == 0 && mk_collection_wait_version(c, v, t) < 0)
        rc = mk_error_set(err, MK_ETIMEDOUT, "the local copy did not reach version %llu",
                          (unsigned long long)v);
    return rc;
}

int mk_collection_iter_new(mk_collection *c, mk_group_consistency cons, mk_collection_iter **out,
                           uint32_t timeout_ms, mk_error *err) {
    *out = NULL;
    if (cons == MK_GROUP_STRONG) MK_TRY(strong_point(c, timeout_ms, err));
    mk_collection_iter *it = calloc(1, sizeof *it);
    if (!it) return mk_error_set(err, MK_ENOMEM, "out of memory");
    it->kind = c->kind;
    it->key_codec = c->key_codec;
    it->value_codec = c->value_codec;
    if (mk_coll_state_clone(c->state, &it->items, &it->version) < 0) {
        free(it);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    *out = it;
    return 0;
}

uint64_t mk_collection_iter_version(const mk_collection_iter *it) {
    return it->version;
}

uint64_t mk_collection_iter_len(const mk_collection_iter *it) {
    return it->items.n;
}

static void drop_decoded(mk_collection_iter *it) {
    mk_datum_free(it->key_codec, it->dkey);
    mk_datum_free(it->value_codec, it->dval);
    it->dkey = it->dval = NULL;
}

int mk_collection_iter_next(mk_collection_iter *it, mk_collection_entry *e) {
    drop_decoded(it);
    memset(e, 0, sizeof *e);
    if (it->pos >= it->items.n) return 0;
    size_t i = it->kind == MK_COLL_PQ ? it->items.n - 1 - it->pos : it->pos;
    const mk_coll_item *x = &it->items.a[i];
    e->index = it->pos++;
    e->prio = x->prio;
    e->key = mk_coll_bdata(x->k);
    e->klen = mk_coll_blen(x->k);
    e->val = mk_coll_bdata(x->v);
    e->vlen = mk_coll_blen(x->v);
    return 1;
}

int mk_collection_iter_next_value(mk_collection_iter *it, mk_collection_entry *e, mk_error *err) {
    int more = mk_collection_iter_next(it, e);
    if (more <= 0) return more;
    bool has_key = it->kind == MK_COLL_MAP || it->kind == MK_COLL_SET || e->klen > 0;
    int rc = has_key ? mk_datum_decode(it->key_codec, e->key, e->klen, &it->dkey, err) : 0;
    if (rc == 0 && it->kind != MK_COLL_SET)
        rc = mk_datum_decode(it->value_codec, e->val, e->vlen, &it->dval, err);
    if (rc < 0) {
        drop_decoded(it);
        return mk_error_prefix(err, rc, "entry %llu", (unsigned long long)e->index);
    }
    e->decoded_key = it->dkey;
    e->decoded_val = it->dval;
    return 1;
}

void mk_collection_iter_rewind(mk_collection_iter *it) {
    drop_decoded(it);
    it->pos = 0;
}

void mk_collection_iter_free(mk_collection_iter *it) {
    if (!it) return;
    drop_decoded(it);
    mk_coll_items_free(&it->items);
    free(it);
}
