/*
 * state.c — the deterministic state machine behind every collection.
 *
 * One array of items {prio, seq, key, value} serves all kinds:
 *   Map   sorted by key (bytewise, shorter first on a common prefix); value
 *   Set   sorted by key; no value
 *   Vec   in index order; value only
 *   Cell  0 or 1 item (value)
 *   Once  0 or 1 item, never replaced
 *   PQ    ascending rank: by prio, then by *descending* seq, so the last
 *         item is the highest priority pushed earliest (popped first) and
 *         the first is the lowest priority pushed latest (evicted first).
 * The version counts successful mutations; seq numbers pushes. Both are in
 * the snapshot, so every member computes identical results.
 *
 * Commands (all integers big-endian, byte strings u32-length-prefixed):
 *   op u8, then per op (see the enum). A command of another kind's op, an
 *   oversized field or trailing bytes fail with a status and change
 *   nothing. Results start with the version (u64) after the command.
 * Queries: op u8 + fields; results per op.
 * Snapshot: "MKC1" kind u8 capacity u64 version u64 seq u64 n u32, then n
 * items [prio i64][seq u64][key bstr][value bstr]; restore reads it through
 * mk_reader with every cap checked and replaces the state only on success.
 */
#include <stdlib.h>
#include <string.h>

#include "collections/coll_internal.h"

typedef struct citem {
    int64_t prio;
    uint64_t seq;
    uint8_t *k;
    size_t kl;
    uint8_t *v;
    size_t vl;
} citem;

struct mk_coll_state {
    mk_collection_kind kind;
    size_t capacity;
    uint64_t version;
    uint64_t seq;
    citem *items;
    size_t n, cap;
};

static void item_free(citem *it) {
    free(it->k);
    free(it->v);
}

static void items_clear(mk_coll_state *s) {
    for (size_t i = 0; i < s->n; i++)
        item_free(&s->items[i]);
    s->n = 0;
}

mk_coll_state *mk_coll_state_new(mk_collection_kind kind, size_t capacity) {
    mk_coll_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->kind = kind;
    s->capacity = capacity ? capacity : MK_COLL_DEFAULT_CAPACITY;
    if (s->capacity > MK_COLL_MAX_ITEMS) s->capacity = MK_COLL_MAX_ITEMS;
    return s;
}

void mk_coll_state_free(mk_coll_state *s) {
    if (!s) return;
    items_clear(s);
    free(s->items);
    free(s);
}

uint64_t mk_coll_state_version(const mk_coll_state *s) {
    return s->version;
}

static int keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
    size_t m = al < bl ? al : bl;
    int c = m ? memcmp(a, b, m) : 0;
    if (c) return c;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

/* Binary search by key: index of the match, or where it would go. */
static size_t key_find(const mk_coll_state *s, const uint8_t *k, size_t kl, bool *found) {
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = keycmp(s->items[mid].k, s->items[mid].kl, k, kl);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static int dup(uint8_t **dst, const uint8_t *src, size_t n) {
    *dst = NULL;
    if (!n) return 0;
    *dst = malloc(n);
    if (!*dst) return MK_ENOMEM;
    memcpy(*dst, src, n);
    return 0;
}

/* Insert a fresh item at position i (copies k and v). */
static int insert_at(mk_coll_state *s, size_t i, int64_t prio, const uint8_t *k, size_t kl,
                     const uint8_t *v, size_t vl) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        citem *ni = realloc(s->items, nc * sizeof *ni);
        if (!ni) return MK_ENOMEM;
        s->items = ni;
        s->cap = nc;
    }
    citem it = {prio, s->seq, NULL, kl, NULL, vl};
    if (dup(&it.k, k, kl) < 0 || dup(&it.v, v, vl) < 0) {
        item_free(&it);
        return MK_ENOMEM;
    }
    memmove(&s->items[i + 1], &s->items[i], (s->n - i) * sizeof *s->items);
    s->items[i] = it;
    s->n++;
    return 0;
}

static void remove_at(mk_coll_state *s, size_t i, mk_buf *take_value) {
    if (take_value && s->items[i].vl)
        (void)mk_buf_append(take_value, s->items[i].v, s->items[i].vl);
    item_free(&s->items[i]);
    memmove(&s->items[i], &s->items[i + 1], (s->n - i - 1) * sizeof *s->items);
    s->n--;
}

static int replace_value(citem *it, const uint8_t *v, size_t vl) {
    uint8_t *nv;
    if (dup(&nv, v, vl) < 0) return MK_ENOMEM;
    free(it->v);
    it->v = nv;
    it->vl = vl;
    return 0;
}

static int read_bstr(mk_reader *r, size_t max, const uint8_t **p, size_t *n) {
    int rc = mk_read_len32be(r, max, n);
    if (rc < 0) return rc;
    return mk_read_view(r, *n, p);
}

static int op_kind(uint8_t op) {
    switch (op) {
    case MK_COP_MAP_PUT:
    case MK_COP_MAP_REMOVE:
        return MK_COLL_MAP;
    case MK_COP_VEC_PUSH:
    case MK_COP_VEC_SET:
    case MK_COP_VEC_POP:
        return MK_COLL_VEC;
    case MK_COP_SET_INSERT:
    case MK_COP_SET_REMOVE:
        return MK_COLL_SET;
    case MK_COP_CELL_SET:
        return MK_COLL_CELL;
    case MK_COP_ONCE_SET:
        return MK_COLL_ONCE;
    case MK_COP_PQ_PUSH:
    case MK_COP_PQ_POP:
        return MK_COLL_PQ;
    case MK_COP_CLEAR:
        return 0; /* any */
    default:
        return -1;
    }
}

/* PQ rank order: a ranks below b? */
static bool pq_below(int64_t ap, uint64_t as, int64_t bp, uint64_t bs) {
    if (ap != bp) return ap < bp;
    return as > bs; /* later pushes rank lower */
}

/* A decoded command; key and val borrow from the command bytes. */
typedef struct ccmd {
    uint8_t op;
    const uint8_t *key, *val;
    size_t kl, vl;
    uint64_t idx;
    int64_t prio;
} ccmd;

/* Decode every field first, so nothing changes on malformed input: an
 * unknown op or bad field is MK_EMALFORMED, another kind's op MK_EINVAL. */
static int parse_cmd(const mk_coll_state *s, const uint8_t *cmd, size_t len, ccmd *c) {
    mk_reader r;
    mk_reader_init(&r, cmd, len);
    memset(c, 0, sizeof *c);
    if (mk_read_u8(&r, &c->op) < 0) return MK_EMALFORMED;
    int k = op_kind(c->op);
    if (k < 0) return MK_EMALFORMED;
    if (k != 0 && k != (int)s->kind) return MK_EINVAL;
    switch (c->op) {
    case MK_COP_MAP_PUT:
        if (read_bstr(&r, MK_COLL_MAX_KEY, &c->key, &c->kl) < 0 ||
            read_bstr(&r, MK_COLL_MAX_VALUE, &c->val, &c->vl) < 0)
            return MK_EMALFORMED;
        break;
    case MK_COP_MAP_REMOVE:
    case MK_COP_SET_INSERT:
    case MK_COP_SET_REMOVE:
        if (read_bstr(&r, MK_COLL_MAX_KEY, &c->key, &c->kl) < 0) return MK_EMALFORMED;
        break;
    case MK_COP_VEC_PUSH:
    case MK_COP_CELL_SET:
    case MK_COP_ONCE_SET:
        if (read_bstr(&r, MK_COLL_MAX_VALUE, &c->val, &c->vl) < 0) return MK_EMALFORMED;
        break;
    case MK_COP_VEC_SET:
        if (mk_read_u64be(&r, &c->idx) < 0 || read_bstr(&r, MK_COLL_MAX_VALUE, &c->val, &c->vl) < 0)
            return MK_EMALFORMED;
        break;
    case MK_COP_PQ_PUSH: {
        uint64_t p;
        if (mk_read_u64be(&r, &p) < 0 || read_bstr(&r, MK_COLL_MAX_VALUE, &c->val, &c->vl) < 0)
            return MK_EMALFORMED;
        c->prio = (int64_t)p;
        break;
    }
    default:
        break;
    }
    return mk_reader_done(&r) ? 0 : MK_EMALFORMED;
}

/* Map put: replace or insert (within capacity); extra: existed u8. */
static int do_map_put(mk_coll_state *s, const ccmd *c, mk_buf *extra) {
    bool found;
    size_t i = key_find(s, c->key, c->kl, &found);
    int rc;
    if (found)
        rc = replace_value(&s->items[i], c->val, c->vl);
    else if (s->n >= s->capacity)
        rc = MK_ETOOBIG;
    else
        rc = insert_at(s, i, 0, c->key, c->kl, c->val, c->vl);
    return rc == 0 ? mk_buf_append_u8(extra, found ? 1 : 0) : rc;
}

/* Set insert; extra: added u8; no change when present. */
static int do_set_insert(mk_coll_state *s, const ccmd *c, mk_buf *extra, bool *changed) {
    bool found;
    size_t i = key_find(s, c->key, c->kl, &found);
    int rc = 0;
    *changed = !found;
    if (!found) rc = s->n >= s->capacity ? MK_ETOOBIG : insert_at(s, i, 0, c->key, c->kl, NULL, 0);
    return rc == 0 ? mk_buf_append_u8(extra, found ? 0 : 1) : rc;
}

/* PQ push: at capacity the newcomer must outrank the lowest (items[0]),
 * which it evicts; extra: inserted u8. The push counter always advances. */
static int do_pq_push(mk_coll_state *s, const ccmd *c, mk_buf *extra, bool *changed) {
    s->seq++;
    uint64_t sq = s->seq;
    if (s->n >= s->capacity) {
        if (!pq_below(s->items[0].prio, s->items[0].seq, c->prio, sq)) {
            *changed = false;
            return mk_buf_append_u8(extra, 0);
        }
        remove_at(s, 0, NULL);
    }
    size_t i = 0;
    while (i < s->n && pq_below(s->items[i].prio, s->items[i].seq, c->prio, sq))
        i++;
    int rc = insert_at(s, i, c->prio, NULL, 0, c->val, c->vl);
    return rc == 0 ? mk_buf_append_u8(extra, 1) : rc;
}

/* Run a decoded command: 0 or its status; *changed false when it left the
 * state as it was (the version does not move then). */
static int exec_cmd(mk_coll_state *s, const ccmd *c, mk_buf *extra, bool *changed) {
    bool found;
    size_t i;
    switch (c->op) {
    case MK_COP_MAP_PUT:
        return do_map_put(s, c, extra);
    case MK_COP_MAP_REMOVE:
    case MK_COP_SET_REMOVE:
        i = key_find(s, c->key, c->kl, &found);
        if (found) remove_at(s, i, NULL);
        *changed = found;
        return mk_buf_append_u8(extra, found ? 1 : 0);
    case MK_COP_SET_INSERT:
        return do_set_insert(s, c, extra, changed);
    case MK_COP_VEC_PUSH: {
        if (s->n >= s->capacity) return MK_ETOOBIG;
        int rc = insert_at(s, s->n, 0, NULL, 0, c->val, c->vl);
        return rc == 0 ? mk_buf_append_u64be(extra, (uint64_t)(s->n - 1)) : rc;
    }
    case MK_COP_VEC_SET:
        return c->idx >= s->n ? MK_ENOTFOUND : replace_value(&s->items[c->idx], c->val, c->vl);
    case MK_COP_VEC_POP:
        if (!s->n) return MK_ENOTFOUND;
        remove_at(s, s->n - 1, extra);
        return 0;
    case MK_COP_CELL_SET:
        return s->n ? replace_value(&s->items[0], c->val, c->vl)
                    : insert_at(s, 0, 0, NULL, 0, c->val, c->vl);
    case MK_COP_ONCE_SET:
        return s->n ? MK_ESTATE : insert_at(s, 0, 0, NULL, 0, c->val, c->vl);
    case MK_COP_PQ_PUSH:
        return do_pq_push(s, c, extra, changed);
    case MK_COP_PQ_POP: {
        if (!s->n) return MK_ENOTFOUND;
        int rc = mk_buf_append_u64be(extra, (uint64_t)s->items[s->n - 1].prio);
        if (rc == 0) remove_at(s, s->n - 1, extra);
        return rc;
    }
    case MK_COP_CLEAR:
        items_clear(s);
        return 0;
    }
    return 0;
}

static int apply_cmd(mk_coll_state *s, const uint8_t *cmd, size_t len, mk_buf *res) {
    ccmd c;
    int rc = parse_cmd(s, cmd, len, &c);
    if (rc < 0) return rc;
    mk_buf extra;
    mk_buf_init(&extra, MK_GROUP_MAX_RESULT);
    bool changed = true;
    rc = exec_cmd(s, &c, &extra, &changed);
    if (rc == 0 && changed) s->version++;
    if (rc == 0) {
        rc = mk_buf_append_u64be(res, s->version);
        if (rc == 0) rc = mk_buf_append(res, extra.data, extra.len);
    }
    mk_buf_free(&extra);
    return rc;
}

static int query(mk_coll_state *s, const uint8_t *q, size_t len, mk_buf *res) {
    mk_reader r;
    mk_reader_init(&r, q, len);
    uint8_t op;
    if (mk_read_u8(&r, &op) < 0) return MK_EMALFORMED;
    switch (op) {
    case MK_CQ_LEN:
        if (!mk_reader_done(&r)) return MK_EMALFORMED;
        return mk_buf_append_u64be(res, (uint64_t)s->n);
    case MK_CQ_VERSION:
        if (!mk_reader_done(&r)) return MK_EMALFORMED;
        return mk_buf_append_u64be(res, s->version);
    case MK_CQ_GET: {
        if (s->kind == MK_COLL_MAP || s->kind == MK_COLL_SET) {
            const uint8_t *key;
            size_t kl;
            bool found;
            if (read_bstr(&r, MK_COLL_MAX_KEY, &key, &kl) < 0 || !mk_reader_done(&r))
                return MK_EMALFORMED;
            size_t i = key_find(s, key, kl, &found);
            if (!found) return MK_ENOTFOUND;
            return mk_buf_append(res, s->items[i].v, s->items[i].vl);
        }
        if (s->kind == MK_COLL_VEC) {
            uint64_t idx;
            if (mk_read_u64be(&r, &idx) < 0 || !mk_reader_done(&r)) return MK_EMALFORMED;
            if (idx >= s->n) return MK_ENOTFOUND;
            return mk_buf_append(res, s->items[idx].v, s->items[idx].vl);
        }
        if (!mk_reader_done(&r)) return MK_EMALFORMED;
        if (!s->n) return MK_ENOTFOUND;
        size_t i = s->n - 1; /* Cell/Once: the item; PQ: the highest */
        if (s->kind == MK_COLL_PQ) {
            int rc = mk_buf_append_u64be(res, (uint64_t)s->items[i].prio);
            if (rc < 0) return rc;
        }
        return mk_buf_append(res, s->items[i].v, s->items[i].vl);
    }
    default:
        return MK_EMALFORMED;
    }
}

static int snapshot(mk_coll_state *s, mk_buf *out) {
    int rc = mk_buf_append(out, "MKC1", 4);
    if (rc == 0) rc = mk_buf_append_u8(out, (uint8_t)s->kind);
    if (rc == 0) rc = mk_buf_append_u64be(out, (uint64_t)s->capacity);
    if (rc == 0) rc = mk_buf_append_u64be(out, s->version);
    if (rc == 0) rc = mk_buf_append_u64be(out, s->seq);
    if (rc == 0) rc = mk_buf_append_u32be(out, (uint32_t)s->n);
    for (size_t i = 0; rc == 0 && i < s->n; i++) {
        const citem *it = &s->items[i];
        rc = mk_buf_append_u64be(out, (uint64_t)it->prio);
        if (rc == 0) rc = mk_buf_append_u64be(out, it->seq);
        if (rc == 0) rc = mk_buf_append_u32be(out, (uint32_t)it->kl);
        if (rc == 0) rc = mk_buf_append(out, it->k, it->kl);
        if (rc == 0) rc = mk_buf_append_u32be(out, (uint32_t)it->vl);
        if (rc == 0) rc = mk_buf_append(out, it->v, it->vl);
    }
    return rc;
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
    mk_coll_state tmp = {s->kind, s->capacity, version, seq, NULL, 0, 0};
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
        tmp.seq = sq;
        rc = insert_at(&tmp, tmp.n, (int64_t)p, k, kl, v, vl);
    }
    if (rc == 0 && !mk_reader_done(&r)) rc = MK_EMALFORMED;
    /* Map and Set need sorted, unique keys. */
    if (rc == 0 && (s->kind == MK_COLL_MAP || s->kind == MK_COLL_SET))
        for (size_t i = 1; i < tmp.n; i++)
            if (keycmp(tmp.items[i - 1].k, tmp.items[i - 1].kl, tmp.items[i].k, tmp.items[i].kl) >=
                0)
                rc = MK_EMALFORMED;
    if (rc == 0 && s->kind == MK_COLL_PQ)
        for (size_t i = 1; i < tmp.n; i++)
            if (!pq_below(tmp.items[i - 1].prio, tmp.items[i - 1].seq, tmp.items[i].prio,
                          tmp.items[i].seq))
                rc = MK_EMALFORMED;
    if (rc == 0 && (s->kind == MK_COLL_CELL || s->kind == MK_COLL_ONCE) && tmp.n > 1)
        rc = MK_EMALFORMED;
    if (rc < 0) {
        items_clear(&tmp);
        free(tmp.items);
        return rc;
    }
    items_clear(s);
    free(s->items);
    s->items = tmp.items;
    s->n = tmp.n;
    s->cap = tmp.cap;
    s->version = version;
    s->seq = seq;
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
