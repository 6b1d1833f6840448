/*
 * items.c — the storage under every collection: one array of items
 * {prio, seq, key, value} whose keys and values are immutable,
 * reference-counted byte strings (mk_coll_blob).
 *
 * A string is never changed once made: replacing a value makes a new one
 * and drops a reference to the old. So a copy of the array that takes a
 * reference to each string (mk_coll_items_clone) is a snapshot that stays
 * valid and unchanged however the state moves on, at the cost of the array
 * alone; the last reference frees a string, on whichever thread drops it
 * (the counts are atomic: the state's loop thread and an iterator's thread
 * drop references concurrently). The empty string is NULL.
 *
 * The array keeps the order of its kind (state.c says which): lookups by
 * key are a binary search over key order (Map, Set) or a scan (PQ keys).
 * Every insertion allocates first and changes the array only when nothing
 * can fail any more, so a failed call leaves it as it was.
 */
#include <stdlib.h>
#include <string.h>

#include "collections/coll_internal.h"

int mk_coll_blob_make(mk_coll_blob **out, const uint8_t *p, size_t n) {
    *out = NULL;
    if (!n) return 0;
    mk_coll_blob *b = malloc(sizeof *b + n);
    if (!b) return MK_ENOMEM;
    atomic_init(&b->refs, 1);
    b->len = n;
    memcpy(b->data, p, n);
    *out = b;
    return 0;
}

mk_coll_blob *mk_coll_blob_ref(mk_coll_blob *b) {
    if (b) atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void mk_coll_blob_unref(mk_coll_blob *b) {
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) free(b);
}

int mk_coll_keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
    size_t m = al < bl ? al : bl;
    int c = m ? memcmp(a, b, m) : 0;
    if (c) return c;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

bool mk_coll_blob_is(const mk_coll_blob *b, const uint8_t *p, size_t n) {
    return mk_coll_blen(b) == n && (n == 0 || memcmp(b->data, p, n) == 0);
}

int mk_coll_items_reserve(mk_coll_items *s, size_t extra) {
    if (s->cap - s->n >= extra) return 0;
    size_t nc = s->cap ? s->cap : 16;
    while (nc - s->n < extra)
        nc *= 2;
    mk_coll_item *na = realloc(s->a, nc * sizeof *na);
    if (!na) return MK_ENOMEM;
    s->a = na;
    s->cap = nc;
    return 0;
}

void mk_coll_items_put(mk_coll_items *s, size_t i, mk_coll_item it) {
    memmove(&s->a[i + 1], &s->a[i], (s->n - i) * sizeof *s->a);
    s->a[i] = it;
    s->n++;
}

int mk_coll_items_insert(mk_coll_items *s, size_t i, int64_t prio, uint64_t seq, const uint8_t *k,
                         size_t kl, const uint8_t *v, size_t vl) {
    mk_coll_item it = {prio, seq, NULL, NULL};
    if (mk_coll_items_reserve(s, 1) < 0 || mk_coll_blob_make(&it.k, k, kl) < 0 ||
        mk_coll_blob_make(&it.v, v, vl) < 0) {
        mk_coll_blob_unref(it.k);
        return MK_ENOMEM;
    }
    mk_coll_items_put(s, i, it);
    return 0;
}

mk_coll_item mk_coll_items_take(mk_coll_items *s, size_t i) {
    mk_coll_item it = s->a[i];
    memmove(&s->a[i], &s->a[i + 1], (s->n - i - 1) * sizeof *s->a);
    s->n--;
    return it;
}

int mk_coll_items_remove(mk_coll_items *s, size_t i, mk_buf *take_value) {
    const mk_coll_item *it = &s->a[i];
    int rc = take_value ? mk_buf_append(take_value, mk_coll_bdata(it->v), mk_coll_blen(it->v)) : 0;
    if (rc < 0) return rc;
    mk_coll_item gone = mk_coll_items_take(s, i);
    mk_coll_blob_unref(gone.k);
    mk_coll_blob_unref(gone.v);
    return 0;
}

int mk_coll_items_set_value(mk_coll_items *s, size_t i, const uint8_t *v, size_t vl) {
    mk_coll_blob *nv;
    if (mk_coll_blob_make(&nv, v, vl) < 0) return MK_ENOMEM;
    mk_coll_blob_unref(s->a[i].v);
    s->a[i].v = nv;
    return 0;
}

void mk_coll_items_truncate(mk_coll_items *s, size_t from) {
    for (size_t i = from; i < s->n; i++) {
        mk_coll_blob_unref(s->a[i].k);
        mk_coll_blob_unref(s->a[i].v);
    }
    if (from < s->n) s->n = from;
}

void mk_coll_items_free(mk_coll_items *s) {
    mk_coll_items_truncate(s, 0);
    free(s->a);
    memset(s, 0, sizeof *s);
}

int mk_coll_items_clone(const mk_coll_items *s, mk_coll_items *out) {
    memset(out, 0, sizeof *out);
    if (mk_coll_items_reserve(out, s->n ? s->n : 1) < 0) return MK_ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        out->a[i] = s->a[i];
        mk_coll_blob_ref(s->a[i].k);
        mk_coll_blob_ref(s->a[i].v);
    }
    out->n = s->n;
    return 0;
}

size_t mk_coll_items_find(const mk_coll_items *s, const uint8_t *k, size_t kl, bool *found) {
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const mk_coll_blob *mk = s->a[mid].k;
        int c = mk_coll_keycmp(mk_coll_bdata(mk), mk_coll_blen(mk), k, kl);
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

size_t mk_coll_items_scan(const mk_coll_items *s, const uint8_t *k, size_t kl) {
    for (size_t i = 0; i < s->n; i++)
        if (mk_coll_blob_is(s->a[i].k, k, kl)) return i;
    return s->n;
}
