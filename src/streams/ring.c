/*
 * streams/ring.c — the FIFO ring behind every queue of streams: a
 * producer's inbox, each producer channel's queue of items, a consumer's
 * receive queue.
 *
 * A ring holds n elements of `elem` bytes in buf[0, cap), the oldest at
 * index head, element i at (head + i) % cap. It grows only when full and
 * asked for room: to twice its capacity (a first capacity when empty), at
 * most a given maximum, copying the elements in order to the start of the
 * new buffer. A ring made with mk_st_ring_alloc never grows (room is then
 * simply n < cap).
 *
 * Invariants: n <= cap; head < cap whenever cap > 0; elements are copied
 * with memcpy, so any element type works. No locking: each ring's owner
 * says which thread or mutex guards it (streams_internal.h).
 */
#include <stdlib.h>
#include <string.h>

#include "streams/streams_internal.h"

void mk_st_ring_init(st_ring *r, size_t elem) {
    memset(r, 0, sizeof *r);
    r->elem = elem;
}

bool mk_st_ring_alloc(st_ring *r, size_t cap) {
    r->buf = calloc(cap ? cap : 1, r->elem);
    r->cap = r->buf ? cap : 0;
    return r->buf != NULL;
}

void mk_st_ring_free(st_ring *r) {
    free(r->buf);
    r->buf = NULL;
    r->head = r->n = r->cap = 0;
}

void *mk_st_ring_at(const st_ring *r, size_t i) {
    return r->buf + ((r->head + i) % r->cap) * r->elem;
}

bool mk_st_ring_room(st_ring *r, size_t first, size_t max) {
    if (r->n < r->cap) return true;
    size_t ncap = r->cap ? r->cap * 2 : first;
    if (ncap > max) ncap = max;
    if (ncap <= r->cap) return false;
    uint8_t *nb = malloc(ncap * r->elem);
    if (!nb) return false;
    for (size_t i = 0; i < r->n; i++)
        memcpy(nb + i * r->elem, mk_st_ring_at(r, i), r->elem);
    free(r->buf);
    r->buf = nb;
    r->cap = ncap;
    r->head = 0;
    return true;
}

void mk_st_ring_push(st_ring *r, const void *e) {
    memcpy(r->buf + ((r->head + r->n) % r->cap) * r->elem, e, r->elem);
    r->n++;
}

void mk_st_ring_shift(st_ring *r, void *out) {
    if (out) memcpy(out, mk_st_ring_at(r, 0), r->elem);
    r->head = (r->head + 1) % r->cap;
    r->n--;
}
