/*
 * mosaik/bytes.h — the bounds-checked reader and the growable buffer.
 *
 * mk_reader is the one cursor through which every untrusted byte is read
 * (the idea of s2n-tls's "stuffer"): each read checks the remaining length
 * first and fails with MK_ETRUNC without moving the cursor; length-prefixed
 * fields are checked against a caller-given cap (MK_ETOOBIG). Nothing else
 * in the library does pointer arithmetic on untrusted lengths.
 *
 * mk_writer is its counterpart for output: every wire format is written
 * through it. It writes into memory of fixed capacity and fails with
 * MK_ETOOBIG, writing nothing, when a field does not fit; once failed it
 * stays failed, so a run of writes can be checked once (mk_writer_status).
 *
 * mk_buf is a growable byte buffer with a hard maximum size.
 */
#ifndef MOSAIK_BYTES_H
#define MOSAIK_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/error.h"
#include "mosaik/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mk_reader {
    const uint8_t *data;
    size_t len;
    size_t off;
} mk_reader;

MK_EXTERN void mk_reader_init(mk_reader *r, const void *data, size_t len);
MK_EXTERN size_t mk_reader_remaining(const mk_reader *r);
MK_EXTERN size_t mk_reader_offset(const mk_reader *r);
MK_EXTERN bool mk_reader_done(const mk_reader *r);

MK_EXTERN int mk_read_u8(mk_reader *r, uint8_t *out);
MK_EXTERN int mk_read_u16le(mk_reader *r, uint16_t *out);
MK_EXTERN int mk_read_u32le(mk_reader *r, uint32_t *out);
MK_EXTERN int mk_read_u64le(mk_reader *r, uint64_t *out);
MK_EXTERN int mk_read_u16be(mk_reader *r, uint16_t *out);
MK_EXTERN int mk_read_u32be(mk_reader *r, uint32_t *out);
MK_EXTERN int mk_read_u64be(mk_reader *r, uint64_t *out);
/* Copy n bytes out. */
MK_EXTERN int mk_read_bytes(mk_reader *r, void *dst, size_t n);
/* Borrow n bytes in place (valid as long as the underlying data). */
MK_EXTERN int mk_read_view(mk_reader *r, size_t n, const uint8_t **out);
MK_EXTERN int mk_read_skip(mk_reader *r, size_t n);
/* A sub-reader over the next n bytes; the parent advances past them. */
MK_EXTERN int mk_read_sub(mk_reader *r, size_t n, mk_reader *sub);
/* Peek without consuming. */
MK_EXTERN int mk_reader_peek(const mk_reader *r, size_t n, const uint8_t **out);
/* Read a length of the given width (2 or 4 bytes, little-endian) and check
 * it against max (MK_ETOOBIG) and against what remains (MK_ETRUNC). */
MK_EXTERN int mk_read_len16le(mk_reader *r, size_t max, size_t *out);
MK_EXTERN int mk_read_len32le(mk_reader *r, size_t max, size_t *out);
/* Same for big-endian u32 length prefixes (our own wire formats). */
MK_EXTERN int mk_read_len32be(mk_reader *r, size_t max, size_t *out);

typedef struct mk_writer {
    uint8_t *data;
    size_t cap;
    size_t off;
    int status; /* 0, or MK_ETOOBIG after a write that did not fit */
} mk_writer;

struct mk_buf;
/* Write into data[0, cap). */
MK_EXTERN void mk_writer_init(mk_writer *w, void *data, size_t cap);
/* Write into n new bytes appended to b (zeroed first); fails like
 * mk_buf_extend when b cannot grow by n. */
MK_EXTERN int mk_writer_init_buf(mk_writer *w, struct mk_buf *b, size_t n);
MK_EXTERN size_t mk_writer_len(const mk_writer *w);
MK_EXTERN size_t mk_writer_room(const mk_writer *w);
/* 0 while every write fitted, else MK_ETOOBIG. */
MK_EXTERN int mk_writer_status(const mk_writer *w);

MK_EXTERN int mk_write_u8(mk_writer *w, uint8_t v);
MK_EXTERN int mk_write_u16le(mk_writer *w, uint16_t v);
MK_EXTERN int mk_write_u32le(mk_writer *w, uint32_t v);
MK_EXTERN int mk_write_u64le(mk_writer *w, uint64_t v);
MK_EXTERN int mk_write_u16be(mk_writer *w, uint16_t v);
MK_EXTERN int mk_write_u32be(mk_writer *w, uint32_t v);
MK_EXTERN int mk_write_u64be(mk_writer *w, uint64_t v);
MK_EXTERN int mk_write_bytes(mk_writer *w, const void *src, size_t n);
MK_EXTERN int mk_write_zeros(mk_writer *w, size_t n);
/* Take the next n bytes to fill in place (e.g. a length known later);
 * NULL, and the writer failed, when they do not fit. */
MK_EXTERN uint8_t *mk_write_reserve(mk_writer *w, size_t n);

/* Default hard cap of an mk_buf whose max is 0: 64 MiB. */
#define MK_BUF_DEFAULT_MAX ((size_t)64 << 20)

typedef struct mk_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* 0 = MK_BUF_DEFAULT_MAX */
} mk_buf;

#define MK_BUF_INIT                                                                                \
    { NULL, 0, 0, 0 }

MK_EXTERN void mk_buf_init(mk_buf *b, size_t max);
MK_EXTERN void mk_buf_free(mk_buf *b);
/* Like free, but wipes the contents first (secrets). */
MK_EXTERN void mk_buf_wipe_free(mk_buf *b);
MK_EXTERN void mk_buf_reset(mk_buf *b);
MK_EXTERN int mk_buf_reserve(mk_buf *b, size_t extra);
MK_EXTERN int mk_buf_append(mk_buf *b, const void *data, size_t n);
MK_EXTERN int mk_buf_append_u8(mk_buf *b, uint8_t v);
MK_EXTERN int mk_buf_append_u16le(mk_buf *b, uint16_t v);
MK_EXTERN int mk_buf_append_u32le(mk_buf *b, uint32_t v);
MK_EXTERN int mk_buf_append_u64le(mk_buf *b, uint64_t v);
MK_EXTERN int mk_buf_append_u16be(mk_buf *b, uint16_t v);
MK_EXTERN int mk_buf_append_u32be(mk_buf *b, uint32_t v);
MK_EXTERN int mk_buf_append_u64be(mk_buf *b, uint64_t v);
MK_EXTERN int mk_buf_append_str(mk_buf *b, const char *s);
MK_EXTERN int mk_buf_printf(mk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append n zero bytes, returning a pointer to them (NULL on failure). */
MK_EXTERN uint8_t *mk_buf_extend(mk_buf *b, size_t n);
/* Take ownership of the data; the buffer becomes empty. */
MK_EXTERN uint8_t *mk_buf_steal(mk_buf *b, size_t *len);

/* Read a whole file into b, failing with MK_ETOOBIG beyond max bytes. */
MK_EXTERN int mk_file_read(const char *path, size_t max, mk_buf *b, mk_error *err);
/* Write atomically (temp file + rename) with the given mode. */
MK_EXTERN int mk_file_write(const char *path, const void *data, size_t len, unsigned mode,
                            mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
