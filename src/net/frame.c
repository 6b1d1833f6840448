/*
 * net/frame.c — length-prefixed framing and its incremental decoder.
 *
 * Wire form: u32 big-endian body length, then the body. The decoder is a
 * two-phase state machine fed arbitrary chunks (as TLS records arrive):
 *
 *   header phase: collect 4 header bytes (they may arrive one at a time);
 *                 then parse the length through an mk_reader and check it
 *                 against the hard cap *before* any allocation.
 *   body phase:   if the whole body is in the current chunk and nothing is
 *                 buffered, hand out a view into the chunk (no copy);
 *                 otherwise append to `body` (never beyond `need`, which is
 *                 <= max) until complete.
 *
 * Invariants: hdr_have <= 4; body.len <= need <= max when hdr_have == 4;
 * every byte of the input is read through an mk_reader. A zero length is
 * delivered as an empty frame (callers give it a meaning: acceptance and
 * keepalive markers in conn_frame.c).
 *
 * Encoding: mk_frame_write is the one place the header is written (through
 * an mk_writer, header and body or nothing); mk_frame_encode appends a
 * frame to an mk_buf with it, and mk_transport_conn_send writes its buffer with it.
 */
#include <string.h>

#include "net/net_internal.h"

void mk_frame_decoder_init(mk_frame_decoder *d, size_t max) {
    memset(d, 0, sizeof *d);
    d->max = max;
    /* mk_buf's max 0 means its own default; a body never exceeds d->max. */
    mk_buf_init(&d->body, max ? max : 1);
}

void mk_frame_decoder_free(mk_frame_decoder *d) {
    mk_buf_free(&d->body);
    d->hdr_have = 0;
    d->need = 0;
}

bool mk_frame_decoder_at_boundary(const mk_frame_decoder *d) {
    return d->hdr_have == 0;
}

size_t mk_frame_decoder_partial(const mk_frame_decoder *d) {
    return d->hdr_have + d->body.len;
}

static void reset_frame(mk_frame_decoder *d) {
    d->hdr_have = 0;
    d->need = 0;
    d->body.len = 0;
}

int mk_frame_decoder_feed(mk_frame_decoder *d, const uint8_t *data, size_t len, mk_frame_cb cb,
                          void *ctx, mk_error *err) {
    mk_reader r;
    mk_reader_init(&r, data, len);
    while (!mk_reader_done(&r)) {
        if (d->hdr_have < MK_FRAME_HDR) {
            size_t take = MK_FRAME_HDR - d->hdr_have;
            if (take > mk_reader_remaining(&r)) take = mk_reader_remaining(&r);
            MK_TRY(mk_read_bytes(&r, d->hdr + d->hdr_have, take));
            d->hdr_have += take;
            if (d->hdr_have < MK_FRAME_HDR) return 0;
            mk_reader hr;
            uint32_t n;
            mk_reader_init(&hr, d->hdr, MK_FRAME_HDR);
            MK_TRY(mk_read_u32be(&hr, &n));
            if ((size_t)n > d->max)
                return mk_error_set(err, MK_ETOOBIG, "frame length %u exceeds the maximum %zu",
                                    (unsigned)n, d->max);
            d->need = n;
            d->body.len = 0;
        }
        /* Body phase. */
        size_t missing = d->need - d->body.len;
        size_t avail = mk_reader_remaining(&r);
        const uint8_t *p = NULL;
        int rc;
        if (d->body.len == 0 && avail >= missing) {
            /* Whole body in this chunk: deliver in place. */
            MK_TRY(mk_read_view(&r, missing, &p));
            size_t n = missing;
            reset_frame(d);
            rc = cb(ctx, p, n);
        } else {
            size_t take = avail < missing ? avail : missing;
            MK_TRY(mk_read_view(&r, take, &p));
            int arc = mk_buf_append(&d->body, p, take);
            if (arc < 0) return mk_error_set(err, arc, "frame buffer: %s", mk_strerror(arc));
            if (d->body.len < d->need) return 0;
            size_t n = d->body.len;
            reset_frame(d);
            /* The callback sees the buffered body; it is not touched until
             * the next frame's body is appended. */
            rc = cb(ctx, d->body.data, n);
        }
        if (rc < 0) return rc;
        if (rc > 0) return 1;
    }
    return 0;
}

int mk_frame_write(mk_writer *w, const void *data, size_t len) {
    if (len > UINT32_MAX || mk_writer_room(w) < MK_FRAME_HDR + len) {
        mk_write_reserve(w, SIZE_MAX); /* fails the writer, writes nothing */
        return MK_ETOOBIG;
    }
    MK_TRY(mk_write_u32be(w, (uint32_t)len));
    return mk_write_bytes(w, data, len);
}

int mk_frame_encode(mk_buf *out, const void *data, size_t len) {
    if (len > UINT32_MAX) return MK_ETOOBIG;
    mk_writer w;
    MK_TRY(mk_writer_init_buf(&w, out, MK_FRAME_HDR + len));
    return mk_frame_write(&w, data, len);
}
