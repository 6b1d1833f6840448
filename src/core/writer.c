/*
 * core/writer.c — the bounds-checked writer, mk_reader's counterpart.
 *
 * Every wire format the library emits is written through an mk_writer
 * (the idea of s2n-tls's "stuffer", writing side): a cursor over memory of
 * fixed capacity — a caller's array, or room taken from an mk_buf with
 * mk_writer_init_buf — that checks the room left before every write.
 *
 * Invariants:
 *   - off <= cap always; nothing is written past cap;
 *   - a write that does not fit writes nothing, leaves the cursor where it
 *     was, and makes the writer failed: status becomes MK_ETOOBIG and every
 *     later write fails too, so a sequence of writes may be checked once at
 *     the end with mk_writer_status();
 *   - integers are written byte by byte in the stated order, never through
 *     a cast pointer, so alignment and host endianness do not matter.
 */
#include <string.h>

#include "mosaik/bytes.h"

void mk_writer_init(mk_writer *w, void *data, size_t cap) {
    w->data = data;
    w->cap = data ? cap : 0;
    w->off = 0;
    w->status = 0;
}

int mk_writer_init_buf(mk_writer *w, mk_buf *b, size_t n) {
    uint8_t *p = mk_buf_extend(b, n);
    if (!p) {
        mk_writer_init(w, NULL, 0);
        w->status = MK_ETOOBIG;
        return MK_ETOOBIG;
    }
    mk_writer_init(w, p, n);
    return 0;
}

size_t mk_writer_len(const mk_writer *w) {
    return w->off;
}

size_t mk_writer_room(const mk_writer *w) {
    return w->status < 0 ? 0 : w->cap - w->off;
}

int mk_writer_status(const mk_writer *w) {
    return w->status;
}

uint8_t *mk_write_reserve(mk_writer *w, size_t n) {
    if (w->status < 0 || n > w->cap - w->off) {
        w->status = MK_ETOOBIG;
        return NULL;
    }
    uint8_t *p = w->data + w->off;
    w->off += n;
    return p;
}

int mk_write_bytes(mk_writer *w, const void *src, size_t n) {
    uint8_t *p = mk_write_reserve(w, n);
    if (!p) return MK_ETOOBIG;
    if (n) memcpy(p, src, n);
    return 0;
}

int mk_write_zeros(mk_writer *w, size_t n) {
    uint8_t *p = mk_write_reserve(w, n);
    if (!p) return MK_ETOOBIG;
    if (n) memset(p, 0, n);
    return 0;
}

static int write_uint(mk_writer *w, uint64_t v, size_t n, int big) {
    uint8_t *p = mk_write_reserve(w, n);
    if (!p) return MK_ETOOBIG;
    for (size_t i = 0; i < n; i++)
        p[big ? n - 1 - i : i] = (uint8_t)(v >> (8 * i));
    return 0;
}

int mk_write_u8(mk_writer *w, uint8_t v) {
    return write_uint(w, v, 1, 0);
}
int mk_write_u16le(mk_writer *w, uint16_t v) {
    return write_uint(w, v, 2, 0);
}
int mk_write_u32le(mk_writer *w, uint32_t v) {
    return write_uint(w, v, 4, 0);
}
int mk_write_u64le(mk_writer *w, uint64_t v) {
    return write_uint(w, v, 8, 0);
}
int mk_write_u16be(mk_writer *w, uint16_t v) {
    return write_uint(w, v, 2, 1);
}
int mk_write_u32be(mk_writer *w, uint32_t v) {
    return write_uint(w, v, 4, 1);
}
int mk_write_u64be(mk_writer *w, uint64_t v) {
    return write_uint(w, v, 8, 1);
}
