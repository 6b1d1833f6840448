/*
 * ops.c — the mutations of the collection state machine: one function per
 * command, run by state.c with the command decoded and checked
 * (mk_coll_cmd) and s->mu held.
 *
 * Each returns 0 or the command's status and must then leave the state as
 * it was (everything that can fail — allocation, capacity, a missing
 * index — is decided before the first change); *changed is false when it
 * left the state as it was on success too, and the version does not move.
 * The result after the version (extra), per op:
 *   Map put/remove, Set insert/remove, PQ push/insert: a u8 flag
 *   Vec push: index u64; pop, remove: the value; PQ pop, remove: prio i64,
 *   value; remove_many, extend, truncate: a count u64
 *   compare_exchange: swapped u8 (1: it swapped, nothing more); else 0,
 *   then present u8 and the value found (when present)
 *
 * Batches (remove_many, extend) are sorted by (key, position) and reduced
 * to one entry per key, the last one (so an extend acts as its puts in
 * order), then merged with the sorted items in one pass: O(n + m log m),
 * not one array shift per entry. An extend is all or nothing: it is
 * refused (MK_ETOOBIG) when its new keys would pass the capacity.
 *
 * PQ: an item is ranked by (prio, seq) (mk_coll_pq_below). Keyed items
 * (insert) are found by a scan; insert of a present key replaces the item
 * as a fresh push, update changes the priority and keeps the push number,
 * so among equal priorities the item keeps its place in push order.
 */
#include <stdlib.h>
#include <string.h>

#include "collections/coll_internal.h"

bool mk_coll_pq_below(int64_t ap, uint64_t as, int64_t bp, uint64_t bs) {
    if (ap != bp) return ap < bp;
    return as > bs; /* later pushes rank lower */
}

/* ----- batches ----------------------------------------------------------------- */

typedef struct bentry {
    const uint8_t *k, *v;
    size_t kl, vl;
    uint32_t pos;
    bool fresh;            /* extend: a key the items do not have */
    mk_coll_blob *bk, *bv; /* extend: its strings, made */
} bentry;

static int bentry_cmp(const void *a, const void *b) {
    const bentry *x = a, *y = b;
    int c = mk_coll_keycmp(x->k, x->kl, y->k, y->kl);
    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

static void read_bstr(mk_reader *r, const uint8_t **p, size_t *n) {
    /* The batch was checked when the command was decoded. */
    if (mk_read_len32be(r, MK_COLL_MAX_VALUE, n) < 0 || mk_read_view(r, *n, p) < 0)
        *p = NULL, *n = 0;
}

/* The batch's entries, sorted, one per key (the last); *m of them. */
static int batch_entries(const mk_coll_cmd *c, bool pairs, bentry **out, size_t *m) {
    bentry *e = malloc((c->n ? c->n : 1) * sizeof *e);
    if (!e) return MK_ENOMEM;
    mk_reader r;
    mk_reader_init(&r, c->batch, c->batch_len);
    for (uint32_t i = 0; i < c->n; i++) {
        e[i] = (bentry){.pos = i};
        read_bstr(&r, &e[i].k, &e[i].kl);
        if (pairs) read_bstr(&r, &e[i].v, &e[i].vl);
    }
    qsort(e, c->n, sizeof *e, bentry_cmp);
    size_t w = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (w && mk_coll_keycmp(e[w - 1].k, e[w - 1].kl, e[i].k, e[i].kl) == 0)
            e[w - 1] = e[i]; /* a later entry of the same key */
        else
            e[w++] = e[i];
    }
    *out = e;
    *m = w;
    return 0;
}

static int item_vs_entry(const mk_coll_item *it, const bentry *e) {
    return mk_coll_keycmp(mk_coll_bdata(it->k), mk_coll_blen(it->k), e->k, e->kl);
}

/* Map and Set remove_many: one pass keeps the items not named. */
static int do_remove_many(mk_coll_state *s, const mk_coll_cmd *c, mk_buf *extra, bool *changed) {
    bentry *e;
    size_t m;
    MK_TRY(batch_entries(c, false, &e, &m));
    mk_coll_items *it = &s->items;
    size_t w = 0, j = 0;
    for (size_t i = 0; i < it->n; i++) {
        while (j < m && item_vs_entry(&it->a[i], &e[j]) > 0)
            j++;
        if (j < m && item_vs_entry(&it->a[i], &e[j]) == 0) {
            mk_coll_blob_unref(it->a[i].k);
            mk_coll_blob_unref(it->a[i].v);
        } else {
            it->a[w++] = it->a[i];
        }
    }
    uint64_t removed = it->n - w;
    it->n = w;
    free(e);
    *changed = removed > 0;
    return mk_buf_append_u64be(extra, removed);
}

/* Map and Set extend: all or nothing within the capacity. The strings of
 * new keys and values are made first, then the items and the batch are
 * merged into a new array, which cannot fail any more. */
static int do_extend(mk_coll_state *s, const mk_coll_cmd *c, bool pairs, mk_buf *extra,
                     bool *changed) {
    bentry *e;
    size_t m, added = 0;
    MK_TRY(batch_entries(c, pairs, &e, &m));
    mk_coll_items *it = &s->items, out = {NULL, 0, 0};
    for (size_t i = 0, j = 0; j < m;) { /* new keys: in the batch, not in the items */
        int cmp = i == it->n ? 1 : item_vs_entry(&it->a[i], &e[j]);
        if (cmp > 0) {
            e[j].fresh = true;
            added++;
        }
        i += cmp <= 0, j += cmp >= 0;
    }
    int rc = it->n + added > s->capacity ? MK_ETOOBIG : 0;
    bool work = rc == 0 && (pairs ? m > 0 : added > 0);
    if (work) rc = mk_coll_items_reserve(&out, it->n + added);
    for (size_t j = 0; work && rc == 0 && j < m; j++) {
        if (e[j].fresh) rc = mk_coll_blob_make(&e[j].bk, e[j].k, e[j].kl);
        if (rc == 0 && pairs) rc = mk_coll_blob_make(&e[j].bv, e[j].v, e[j].vl);
    }
    if (work && rc == 0) {
        for (size_t i = 0, j = 0; i < it->n || j < m;) {
            int cmp = i == it->n ? 1 : j == m ? -1 : item_vs_entry(&it->a[i], &e[j]);
            mk_coll_item n = cmp <= 0 ? it->a[i] : (mk_coll_item){0, 0, e[j].bk, e[j].bv};
            if (cmp == 0 && pairs) {
                mk_coll_blob_unref(n.v);
                n.v = e[j].bv;
            }
            out.a[out.n++] = n;
            i += cmp <= 0, j += cmp >= 0;
        }
        free(it->a);
        *it = out;
    } else if (work) { /* drop what was made */
        for (size_t j = 0; j < m; j++)
            mk_coll_blob_unref(e[j].bk), mk_coll_blob_unref(e[j].bv);
        free(out.a);
    }
    free(e);
    if (rc < 0) return rc;
    *changed = pairs ? m > 0 : added > 0;
    return mk_buf_append_u64be(extra, (uint64_t)added);
}

/* ----- compare_exchange (Map entries, Cell) ------------------------------------- */

/* Item i (found or not) is the entry; swap it as the command says. */
static int do_cas(mk_coll_state *s, const mk_coll_cmd *c, size_t i, bool found, mk_buf *extra,
                  bool *changed) {
    mk_coll_items *it = &s->items;
    const mk_coll_blob *cur = found ? it->a[i].v : NULL;
    bool match = c->has_exp ? found && mk_coll_blob_is(cur, c->exp, c->el) : !found;
    *changed = false;
    if (!match) {
        int rc = mk_buf_append_u8(extra, 0);
        if (rc == 0) rc = mk_buf_append_u8(extra, found ? 1 : 0);
        if (rc == 0 && found) rc = mk_buf_append(extra, mk_coll_bdata(cur), mk_coll_blen(cur));
        return rc;
    }
    int rc = 0;
    if (c->has_des && found)
        rc = mk_coll_items_set_value(it, i, c->des, c->dl);
    else if (c->has_des)
        rc = it->n >= s->capacity ? MK_ETOOBIG
                                  : mk_coll_items_insert(it, i, 0, 0, c->key, c->kl, c->des, c->dl);
    else if (found)
        rc = mk_coll_items_remove(it, i, NULL);
    if (rc < 0) return rc;
    *changed = c->has_des || found;
    return mk_buf_append_u8(extra, 1);
}

/* ----- Map, Set ---------------------------------------------------------------------- */

/* Map put: replace or insert (within capacity); extra: existed u8. */
static int do_map_put(mk_coll_state *s, const mk_coll_cmd *c, mk_buf *extra) {
    bool found;
    size_t i = mk_coll_items_find(&s->items, c->key, c->kl, &found);
    int rc;
    if (found)
        rc = mk_coll_items_set_value(&s->items, i, c->val, c->vl);
    else if (s->items.n >= s->capacity)
        rc = MK_ETOOBIG;
    else
        rc = mk_coll_items_insert(&s->items, i, 0, 0, c->key, c->kl, c->val, c->vl);
    return rc == 0 ? mk_buf_append_u8(extra, found ? 1 : 0) : rc;
}

/* Set insert; extra: added u8; no change when present. */
static int do_set_insert(mk_coll_state *s, const mk_coll_cmd *c, mk_buf *extra, bool *changed) {
    bool found;
    size_t i = mk_coll_items_find(&s->items, c->key, c->kl, &found);
    int rc = 0;
    *changed = !found;
    if (!found)
        rc = s->items.n >= s->capacity
                 ? MK_ETOOBIG
                 : mk_coll_items_insert(&s->items, i, 0, 0, c->key, c->kl, NULL, 0);
    return rc == 0 ? mk_buf_append_u8(extra, found ? 0 : 1) : rc;
}

static int do_key_remove(mk_coll_state *s, const mk_coll_cmd *c, mk_buf *extra, bool *changed) {
    bool found;
    size_t i = mk_coll_items_find(&s->items, c->key, c->kl, &found);
    if (found) MK_TRY(mk_coll_items_remove(&s->items, i, NULL));
    *changed = found;
    return mk_buf_append_u8(extra, found ? 1 : 0);
}

/* ----- Vec ---------------------------------------------------------------------------- */

static int do_vec(mk_coll_state *s, const mk_coll_cmd *c, mk_buf *extra, bool *changed) {
    mk_coll_items *it = &s->items;
    switch (c->op) {
    case MK_COP_VEC_PUSH: {
        if (it->n >= s->capacity) return MK_ETOOBIG;
        MK_TRY(mk_coll_items_insert(it, it->n, 0, 0, NULL, 0, c->val, c->vl));
        return mk_buf_append_u64be(extra, (uint64_t)(it->n - 1));
    }
    case MK_COP_VEC_SET:
        return c->idx >= it->n ? MK_ENOTFOUND
                               : mk_coll_items_set_value(it, (size_t)c->idx, c->val, c->vl);
    case MK_COP_VEC_POP:
        return it->n ? mk_coll_items_remove(it, it->n - 1, extra) : MK_ENOTFOUND;
    case MK_COP_VEC_INSERT:
        if (c->idx > it->n) return MK_ENOTFOUND;
        if (it->n >= s->capacity) return MK_ETOOBIG;
        return mk_coll_items_insert(it, (size_t)c->idx, 0, 0, NULL, 0, c->val, c->vl);
    case MK_COP_VEC_REMOVE:
        return c->idx < it->n ? mk_coll_items_remove(it, (size_t)c->idx, extra) : MK_ENOTFOUND;
    case MK_COP_VEC_TRUNCATE: {
        uint64_t removed = c->idx < it->n ? it->n - c->idx : 0;
        mk_coll_items_truncate(it, removed ? (size_t)c->idx : it->n);
        *changed = removed > 0;
        return mk_buf_append_u64be(extra, removed);
    }
    case MK_COP_VEC_SWAP: {
        if (c->idx >= it->n || c->idx2 >= it->n) return MK_ENOTFOUND;
        mk_coll_item t = it->a[c->idx];
        it->a[c->idx] = it->a[c->idx2];
        it->a[c->idx2] = t;
        *changed = c->idx != c->idx2;
        return 0;
    }
    default:
        return MK_EMALFORMED;
    }
}

/* ----- PriorityQueue ----------------------------------------------------------------- */

/* Where an item of rank (prio, seq) goes. */
static size_t pq_slot(const mk_coll_items *it, int64_t prio, uint64_t seq) {
    size_t i = 0;
    while (i < it->n && mk_coll_pq_below(it->a[i].prio, it->a[i].seq, prio, seq))
        i++;
    return i;
}

/* Push (key NULL) or insert (a key): at capacity the newcomer must
 * outrank the lowest (a[0]), which it evicts; extra: inserted u8. An
 * insert of a present key replaces that item. The push counter always
 * advances. */
static int do_pq_push(mk_coll_state *s, const mk_coll_cmd *c, mk_buf *extra, bool *changed) {
    mk_coll_items *it = &s->items;
    size_t old = c->key ? mk_coll_items_scan(it, c->key, c->kl) : it->n;
    mk_coll_item n = {c->prio, s->seq + 1, NULL, NULL};
    bool full = old == it->n && it->n >= s->capacity;
    if (full && !mk_coll_pq_below(it->a[0].prio, it->a[0].seq, n.prio, n.seq)) {
        s->seq++;
        *changed = false;
        return mk_buf_append_u8(extra, 0);
    }
    if (mk_coll_items_reserve(it, 1) < 0 || mk_coll_blob_make(&n.k, c->key, c->kl) < 0 ||
        mk_coll_blob_make(&n.v, c->val, c->vl) < 0 || mk_buf_append_u8(extra, 1) < 0) {
        mk_coll_blob_unref(n.k);
        mk_coll_blob_unref(n.v);
        return MK_ENOMEM;
    }
    s->seq++;
    if (old < it->n || full) MK_TRY(mk_coll_items_remove(it, full ? 0 : old, NULL));
    mk_coll_items_put(it, pq_slot(it, n.prio, n.seq), n);
    return 0;
}

static int do_pq(mk_coll_state *s, const mk_coll_cmd *c, mk_buf *extra, bool *changed) {
    mk_coll_items *it = &s->items;
    size_t i = c->key ? mk_coll_items_scan(it, c->key, c->kl) : it->n;
    switch (c->op) {
    case MK_COP_PQ_PUSH:
    case MK_COP_PQ_INSERT:
        return do_pq_push(s, c, extra, changed);
    case MK_COP_PQ_POP:
        if (!it->n) return MK_ENOTFOUND;
        MK_TRY(mk_buf_append_u64be(extra, (uint64_t)it->a[it->n - 1].prio));
        return mk_coll_items_remove(it, it->n - 1, extra);
    case MK_COP_PQ_REMOVE:
        if (i == it->n) return MK_ENOTFOUND;
        MK_TRY(mk_buf_append_u64be(extra, (uint64_t)it->a[i].prio));
        return mk_coll_items_remove(it, i, extra);
    default: { /* MK_COP_PQ_UPDATE */
        if (i == it->n) return MK_ENOTFOUND;
        *changed = it->a[i].prio != c->prio;
        mk_coll_item t = mk_coll_items_take(it, i);
        t.prio = c->prio;
        mk_coll_items_put(it, pq_slot(it, t.prio, t.seq), t);
        return 0;
    }
    }
}

/* ----- dispatch ---------------------------------------------------------------------- */

int mk_coll_exec(mk_coll_state *s, const mk_coll_cmd *c, mk_buf *extra, bool *changed) {
    mk_coll_items *it = &s->items;
    bool found;
    switch (c->op) {
    case MK_COP_MAP_PUT:
        return do_map_put(s, c, extra);
    case MK_COP_MAP_REMOVE:
    case MK_COP_SET_REMOVE:
        return do_key_remove(s, c, extra, changed);
    case MK_COP_SET_INSERT:
        return do_set_insert(s, c, extra, changed);
    case MK_COP_MAP_CAS: {
        size_t i = mk_coll_items_find(it, c->key, c->kl, &found);
        return do_cas(s, c, i, found, extra, changed);
    }
    case MK_COP_MAP_REMOVE_MANY:
    case MK_COP_SET_REMOVE_MANY:
        return do_remove_many(s, c, extra, changed);
    case MK_COP_MAP_EXTEND:
    case MK_COP_SET_EXTEND:
        return do_extend(s, c, c->op == MK_COP_MAP_EXTEND, extra, changed);
    case MK_COP_CELL_SET:
        return it->n ? mk_coll_items_set_value(it, 0, c->val, c->vl)
                     : mk_coll_items_insert(it, 0, 0, 0, NULL, 0, c->val, c->vl);
    case MK_COP_CELL_CAS:
        return do_cas(s, c, 0, it->n > 0, extra, changed);
    case MK_COP_ONCE_SET:
        return it->n ? MK_ESTATE : mk_coll_items_insert(it, 0, 0, 0, NULL, 0, c->val, c->vl);
    case MK_COP_CLEAR:
        mk_coll_items_truncate(it, 0);
        return 0;
    case MK_COP_PQ_PUSH:
    case MK_COP_PQ_POP:
    case MK_COP_PQ_INSERT:
    case MK_COP_PQ_UPDATE:
    case MK_COP_PQ_REMOVE:
        return do_pq(s, c, extra, changed);
    default:
        return do_vec(s, c, extra, changed);
    }
}
