/*
 * state.c — the deterministic state machine behind every collection: the
 * state, decoding commands, queries, snapshot and restore, and the
 * consistent copies iterators take. The mutations are in ops.c.
 *
 * One array of items {prio, seq, key, value} (items.c) serves all kinds:
 *   Map   sorted by key (bytewise, shorter first on a common prefix); value
 *   Set   sorted by key; no value
 *   Vec   in index order; value only
 *   Cell  0 or 1 item (value)
 *   Once  0 or 1 item, never replaced
 *   PQ    ascending rank: by prio, then by *descending* seq, so the last
 *         item is the highest priority pushed earliest (popped first) and
 *         the first is the lowest priority pushed latest (evicted first);
 *         an item has a key when it was inserted with one (mk_pq_insert),
 *         and keys are unique among those that have one.
 * The version counts successful mutations (those that changed something);
 * seq numbers pushes. Both are in the snapshot, so every member computes
 * identical results.
 *
 * Commands: op u8, then the op's fields in the order of its format in
 * OPS (all integers big-endian; byte strings u32-length-prefixed):
 *   k key bstr (≤ MK_COLL_MAX_KEY)     n a key that is not empty
 *   v value bstr (≤ MK_COLL_MAX_VALUE) p prio i64
 *   i index or length u64              j a second index u64
 *   e expected, d desired: u8 present (0/1), then a value bstr if 1
 *   K n u32 then n keys                B n u32 then n (key, value) pairs
 *     (n ≤ MK_COLL_MAX_ITEMS; every entry is checked here)
 * An unknown op, a bad or oversized field or trailing bytes fail with
 * MK_EMALFORMED, another kind's op with MK_EINVAL, and change nothing.
 * Results start with the version (u64) after the command; what follows is
 * the op's (ops.c). Ops 13–25 are those of state machine v2 (see the sm
 * signature in collection.c: a v1 member, which would refuse them, never
 * shares a group with a v2 one).
 *
 * Queries: op u8 + fields; results per op.
 * Snapshot: "MKC1" kind u8 capacity u64 version u64 seq u64 n u32, then n
 * items [prio i64][seq u64][key bstr][value bstr] (v2 adds no state: PQ
 * keys fill the key field v1 left empty). Restore reads it through
 * mk_reader with every cap checked, requires what the kind's order and
 * fields promise (sorted unique keys for Map and Set, no values in a Set,
 * no keys in Vec, Cell and Once, rank order and unique keys in a PQ) and
 * replaces the state only on success.
 *
 * Locking: every mk_group_sm callback runs under the group's state lock.
 * Mutations also hold s->mu, which mk_coll_state_clone takes on a caller's
 * thread: a clone shares the strings (items.c), so it costs one array copy
 * and sees the items of exactly one version.
 */
#include <stdlib.h>
#include <string.h>

#include "collections/coll_internal.h"

/* Per op: its kind (0: any) and the format of its fields. */
static const struct {
    uint8_t kind;
    const char *fmt;
} OPS[MK_COP_MAX + 1] = {
    [MK_COP_MAP_PUT] = {MK_COLL_MAP, "kv"},   [MK_COP_MAP_REMOVE] = {MK_COLL_MAP, "k"},
    [MK_COP_VEC_PUSH] = {MK_COLL_VEC, "v"},   [MK_COP_VEC_SET] = {MK_COLL_VEC, "iv"},
    [MK_COP_VEC_POP] = {MK_COLL_VEC, ""},     [MK_COP_SET_INSERT] = {MK_COLL_SET, "k"},
    [MK_COP_SET_REMOVE] = {MK_COLL_SET, "k"}, [MK_COP_CELL_SET] = {MK_COLL_CELL, "v"},
    [MK_COP_ONCE_SET] = {MK_COLL_ONCE, "v"},  [MK_COP_PQ_PUSH] = {MK_COLL_PQ, "pv"},
    [MK_COP_PQ_POP] = {MK_COLL_PQ, ""},       [MK_COP_CLEAR] = {0, ""},
    [MK_COP_MAP_CAS] = {MK_COLL_MAP, "ked"},  [MK_COP_MAP_REMOVE_MANY] = {MK_COLL_MAP, "K"},
    [MK_COP_MAP_EXTEND] = {MK_COLL_MAP, "B"}, [MK_COP_SET_REMOVE_MANY] = {MK_COLL_SET, "K"},
    [MK_COP_SET_EXTEND] = {MK_COLL_SET, "K"}, [MK_COP_VEC_INSERT] = {MK_COLL_VEC, "iv"},
    [MK_COP_VEC_REMOVE] = {MK_COLL_VEC, "i"}, [MK_COP_VEC_TRUNCATE] = {MK_COLL_VEC, "i"},
    [MK_COP_VEC_SWAP] = {MK_COLL_VEC, "ij"},  [MK_COP_CELL_CAS] = {MK_COLL_CELL, "ed"},
    [MK_COP_PQ_INSERT] = {MK_COLL_PQ, "npv"}, [MK_COP_PQ_UPDATE] = {MK_COLL_PQ, "np"},
    [MK_COP_PQ_REMOVE] = {MK_COLL_PQ, "n"},
};

mk_coll_state *mk_coll_state_new(mk_collection_kind kind, size_t capacity) {
    mk_coll_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->kind = kind;
    s->capacity = capacity ? capacity : MK_COLL_DEFAULT_CAPACITY;
    if (s->capacity > MK_COLL_MAX_ITEMS) s->capacity = MK_COLL_MAX_ITEMS;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void mk_coll_state_free(mk_coll_state *s) {
    if (!s) return;
    mk_coll_items_free(&s->items);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

uint64_t mk_coll_state_version(const mk_coll_state *s) {
    return s->version;
}

int mk_coll_state_clone(mk_coll_state *s, mk_coll_items *out, uint64_t *version) {
    pthread_mutex_lock(&s->mu);
    int rc = mk_coll_items_clone(&s->items, out);
    *version = s->version;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int read_bstr(mk_reader *r, size_t max, const uint8_t **p, size_t *n) {
    int rc = mk_read_len32be(r, max, n);
    if (rc < 0) return rc;
    return mk_read_view(r, *n, p);
}

static int read_opt(mk_reader *r, bool *has, const uint8_t **p, size_t *n) {
    uint8_t f;
    if (mk_read_u8(r, &f) < 0 || f > 1) return MK_EMALFORMED;
    *has = f == 1;
    return *has ? read_bstr(r, MK_COLL_MAX_VALUE, p, n) : 0;
}

/* A batch: its count, then every entry checked; c->batch spans them. */
static int read_batch(mk_reader *r, bool pairs, mk_coll_cmd *c) {
    uint32_t n;
    if (mk_read_u32be(r, &n) < 0 || n > MK_COLL_MAX_ITEMS) return MK_EMALFORMED;
    size_t start = mk_reader_offset(r);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p;
        size_t l;
        if (read_bstr(r, MK_COLL_MAX_KEY, &p, &l) < 0) return MK_EMALFORMED;
        if (pairs && read_bstr(r, MK_COLL_MAX_VALUE, &p, &l) < 0) return MK_EMALFORMED;
    }
    c->n = n;
    c->batch = r->data + start;
    c->batch_len = mk_reader_offset(r) - start;
    return 0;
}

/* One field of a command, by its format letter. */
static int read_field(mk_reader *r, char f, mk_coll_cmd *c) {
    uint64_t u;
    switch (f) {
    case 'k':
    case 'n':
        if (read_bstr(r, MK_COLL_MAX_KEY, &c->key, &c->kl) < 0) return MK_EMALFORMED;
        return f == 'n' && c->kl == 0 ? MK_EMALFORMED : 0;
    case 'v':
        return read_bstr(r, MK_COLL_MAX_VALUE, &c->val, &c->vl) < 0 ? MK_EMALFORMED : 0;
    case 'i':
        return mk_read_u64be(r, &c->idx) < 0 ? MK_EMALFORMED : 0;
    case 'j':
        return mk_read_u64be(r, &c->idx2) < 0 ? MK_EMALFORMED : 0;
    case 'p':
        if (mk_read_u64be(r, &u) < 0) return MK_EMALFORMED;
        c->prio = (int64_t)u;
        return 0;
    case 'e':
        return read_opt(r, &c->has_exp, &c->exp, &c->el) < 0 ? MK_EMALFORMED : 0;
    case 'd':
        return read_opt(r, &c->has_des, &c->des, &c->dl) < 0 ? MK_EMALFORMED : 0;
    case 'K':
    case 'B':
        return read_batch(r, f == 'B', c);
    default:
        return MK_EMALFORMED;
    }
}

/* Decode every field first, so nothing changes on malformed input. */
static int parse_cmd(const mk_coll_state *s, const uint8_t *cmd, size_t len, mk_coll_cmd *c) {
    mk_reader r;
    mk_reader_init(&r, cmd, len);
    memset(c, 0, sizeof *c);
    if (mk_read_u8(&r, &c->op) < 0 || c->op > MK_COP_MAX || !OPS[c->op].fmt) return MK_EMALFORMED;
    if (OPS[c->op].kind != 0 && OPS[c->op].kind != (uint8_t)s->kind) return MK_EINVAL;
    for (const char *f = OPS[c->op].fmt; *f; f++)
        MK_TRY(read_field(&r, *f, c));
    return mk_reader_done(&r) ? 0 : MK_EMALFORMED;
}

static int apply_cmd(mk_coll_state *s, const uint8_t *cmd, size_t len, mk_buf *res) {
    mk_coll_cmd c;
    int rc = parse_cmd(s, cmd, len, &c);
    if (rc < 0) return rc;
    mk_buf extra;
    mk_buf_init(&extra, MK_GROUP_MAX_RESULT);
    bool changed = true;
    pthread_mutex_lock(&s->mu);
    rc = mk_coll_exec(s, &c, &extra, &changed);
    if (rc == 0 && changed) s->version++;
    pthread_mutex_unlock(&s->mu);
    if (rc == 0) {
        rc = mk_buf_append_u64be(res, s->version);
        if (rc == 0) rc = mk_buf_append(res, extra.data, extra.len);
    }
    mk_buf_free(&extra);
    return rc;
}

static int append_item_value(mk_buf *res, const mk_coll_item *it) {
    return mk_buf_append(res, mk_coll_bdata(it->v), mk_coll_blen(it->v));
}

static int query_get(mk_coll_state *s, mk_reader *r, mk_buf *res) {
    const mk_coll_items *it = &s->items;
    if (s->kind == MK_COLL_MAP || s->kind == MK_COLL_SET) {
        const uint8_t *key;
        size_t kl;
        bool found;
        if (read_bstr(r, MK_COLL_MAX_KEY, &key, &kl) < 0 || !mk_reader_done(r))
            return MK_EMALFORMED;
        size_t i = mk_coll_items_find(it, key, kl, &found);
        return found ? append_item_value(res, &it->a[i]) : MK_ENOTFOUND;
    }
    if (s->kind == MK_COLL_VEC) {
        uint64_t idx;
        if (mk_read_u64be(r, &idx) < 0 || !mk_reader_done(r)) return MK_EMALFORMED;
        return idx < it->n ? append_item_value(res, &it->a[idx]) : MK_ENOTFOUND;
    }
    if (!mk_reader_done(r)) return MK_EMALFORMED;
    if (!it->n) return MK_ENOTFOUND;
    const mk_coll_item *last = &it->a[it->n - 1]; /* Cell/Once: the item; PQ: the highest */
    if (s->kind == MK_COLL_PQ) MK_TRY(mk_buf_append_u64be(res, (uint64_t)last->prio));
    return append_item_value(res, last);
}

static int query(mk_coll_state *s, const uint8_t *q, size_t len, mk_buf *res) {
    mk_reader r;
    mk_reader_init(&r, q, len);
    uint8_t op;
    if (mk_read_u8(&r, &op) < 0) return MK_EMALFORMED;
    switch (op) {
    case MK_CQ_LEN:
        if (!mk_reader_done(&r)) return MK_EMALFORMED;
        return mk_buf_append_u64be(res, (uint64_t)s->items.n);
    case MK_CQ_VERSION:
        if (!mk_reader_done(&r)) return MK_EMALFORMED;
        return mk_buf_append_u64be(res, s->version);
    case MK_CQ_GET:
        return query_get(s, &r, res);
    default:
        return MK_EMALFORMED;
    }
}

static int snapshot(mk_coll_state *s, mk_buf *out) {
    const mk_coll_items *items = &s->items;
    int rc = mk_buf_append(out, "MKC1", 4);
    if (rc == 0) rc = mk_buf_append_u8(out, (uint8_t)s->kind);
    if (rc == 0) rc = mk_buf_append_u64be(out, (uint64_t)s->capacity);
    if (rc == 0) rc = mk_buf_append_u64be(out, s->version);
    if (rc == 0) rc = mk_buf_append_u64be(out, s->seq);
    if (rc == 0) rc = mk_buf_append_u32be(out, (uint32_t)items->n);
    for (size_t i = 0; rc == 0 && i < items->n; i++) {
        const mk_coll_item *it = &items->a[i];
        rc = mk_buf_append_u64be(out, (uint64_t)it->prio);
        if (rc == 0) rc = mk_buf_append_u64be(out, it->seq);
        if (rc == 0) rc = mk_buf_append_u32be(out, (uint32_t)mk_coll_blen(it->k));
        if (rc == 0) rc = mk_buf_append(out, mk_coll_bdata(it->k), mk_coll_blen(it->k));
        if (rc == 0) rc = mk_buf_append_u32be(out, (uint32_t)mk_coll_blen(it->v));
        if (rc == 0) rc = mk_buf_append(out, mk_coll_bdata(it->v), mk_coll_blen(it->v));
    }
    return rc;
}

static int cmp_blob_ptr(const void *a, const void *b) {
    const mk_coll_blob *x = *(mk_coll_blob *const *)a, *y = *(mk_coll_blob *const *)b;
    return mk_coll_keycmp(x->data, x->len, y->data, y->len);
}

/* PQ keys, where present, are unique. */
static int pq_keys_unique(const mk_coll_items *t) {
    mk_coll_blob **keys = malloc((t->n ? t->n : 1) * sizeof *keys);
    if (!keys) return MK_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->a[i].k) keys[m++] = t->a[i].k;
    qsort(keys, m, sizeof *keys, cmp_blob_ptr);
    int rc = 0;
    for (size_t i = 1; rc == 0 && i < m; i++)
        if (cmp_blob_ptr(&keys[i - 1], &keys[i]) == 0) rc = MK_EMALFORMED;
    free(keys);
    return rc;
}

/* What the kind's order and fields promise. */
static int check_items(mk_collection_kind kind, const mk_coll_items *t) {
    for (size_t i = 0; i < t->n; i++) {
        const mk_coll_item *it = &t->a[i], *prev = i ? &t->a[i - 1] : NULL;
        bool keyed = kind == MK_COLL_MAP || kind == MK_COLL_SET;
        if (!keyed && kind != MK_COLL_PQ && it->k) return MK_EMALFORMED;
        if (kind == MK_COLL_SET && it->v) return MK_EMALFORMED;
        if (keyed && prev &&
            mk_coll_keycmp(mk_coll_bdata(prev->k), mk_coll_blen(prev->k), mk_coll_bdata(it->k),
                           mk_coll_blen(it->k)) >= 0)
            return MK_EMALFORMED;
        if (kind == MK_COLL_PQ && prev &&
            !mk_coll_pq_below(prev->prio, prev->seq, it->prio, it->seq))
            return MK_EMALFORMED;
    }
    if ((kind == MK_COLL_CELL || kind == MK_COLL_ONCE) && t->n > 1) return MK_EMALFORMED;
    return kind == MK_COLL_PQ ? pq_keys_unique(t) : 0;
}

static int restore(mk_coll_state *s, const uint8_t *data, size_t len) {
    mk_reader r;
    mk_reader_init(&r, data, len);
    const uint8_t *magic;
    uint8_t kind;
    uint64_t capacity, version, seq;
    uint32_t n;
    if (mk_read_view(&r, 4, &magic) < 0 || memcmp(magic, "MKC1", 4) != 0 ||
        mk_read_u8(&r, &kind) < 0 || kind != (uint8_t)s->kind || mk_read_u64be(&r, &capacity) < 0 ||
        capacity != s->capacity || mk_read_u64be(&r, &version) < 0 || mk_read_u64be(&r, &seq) < 0 ||
        mk_read_u32be(&r, &n) < 0 || n > s->capacity)
        return MK_EMALFORMED;
    mk_coll_items tmp = {NULL, 0, 0};
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        uint64_t p, sq;
        const uint8_t *k, *v;
        size_t kl, vl;
        if (mk_read_u64be(&r, &p) < 0 || mk_read_u64be(&r, &sq) < 0 ||
            read_bstr(&r, MK_COLL_MAX_KEY, &k, &kl) < 0 ||
            read_bstr(&r, MK_COLL_MAX_VALUE, &v, &vl) < 0) {
            rc = MK_EMALFORMED;
            break;
        }
        rc = mk_coll_items_insert(&tmp, tmp.n, (int64_t)p, sq, k, kl, v, vl);
    }
    if (rc == 0 && !mk_reader_done(&r)) rc = MK_EMALFORMED;
    if (rc == 0) rc = check_items(s->kind, &tmp);
    if (rc < 0) {
        mk_coll_items_free(&tmp);
        return rc;
    }
    pthread_mutex_lock(&s->mu);
    mk_coll_items old = s->items;
    s->items = tmp;
    s->version = version;
    s->seq = seq;
    pthread_mutex_unlock(&s->mu);
    mk_coll_items_free(&old);
    return 0;
}

static int sm_apply(void *st, const uint8_t *cmd, size_t len, mk_buf *result) {
    return apply_cmd(st, cmd, len, result);
}
static int sm_query(void *st, const uint8_t *q, size_t len, mk_buf *result) {
    return query(st, q, len, result);
}
static int sm_snapshot(void *st, mk_buf *out) {
    return snapshot(st, out);
}
static int sm_restore(void *st, const uint8_t *data, size_t len) {
    return restore(st, data, len);
}

mk_group_sm mk_coll_state_sm(mk_coll_state *s) {
    mk_group_sm sm = {sm_apply, sm_query, sm_snapshot, sm_restore, s};
    return sm;
}
