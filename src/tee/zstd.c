/*
 * tee/zstd.c — zstd decompression with a hard cap, for ticket envelopes
 * (and anything else that arrives compressed from a peer).
 *
 * One frame is decompressed into a buffer of at most `max` bytes, never
 * allocating beyond that: a frame that declares a larger content size is
 * refused before any allocation; otherwise the streaming decoder writes into
 * a buffer of exactly the declared size or the cap, plus one byte whose
 * filling proves the content is larger (a "bomb", declared size or not),
 * with the decoder's window limited to 2^17 bytes so its own memory is
 * bounded too. A truncated frame, bytes after the frame and anything zstd
 * refuses are errors; on any error nothing is appended to the output.
 */
#include <stdlib.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "tee/tee_internal.h"

int mk_tee_zstd_decompress_capped(const uint8_t *data, size_t len, size_t max, mk_buf *out,
                                  mk_error *err) {
    if (!data || len == 0) return mk_error_set(err, MK_ETRUNC, "zstd: empty input");
    unsigned long long declared = ZSTD_getFrameContentSize(data, len);
    if (declared == ZSTD_CONTENTSIZE_ERROR)
        return mk_error_set(err, MK_EMALFORMED, "zstd: not a zstd frame");
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > max)
        return mk_error_set(err, MK_ETOOBIG,
                            "zstd: frame declares %llu decompressed bytes, cap is %zu "
                            "(decompression bomb?)",
                            declared, max);
    size_t cap = declared != ZSTD_CONTENTSIZE_UNKNOWN ? (size_t)declared : max;
    /* One extra byte of room: filling it proves the content exceeds cap. */
    uint8_t *buf = malloc(cap + 1);
    if (!buf) return mk_error_set(err, MK_ENOMEM, "out of memory");
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    if (!dctx) {
        free(buf);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    /* Window at most 2^17 = 128 KiB: bounds the decoder's own memory. */
    ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 17);
    ZSTD_inBuffer in = {data, len, 0};
    ZSTD_outBuffer ob = {buf, cap + 1, 0};
    int rc = 0;
    size_t ret;
    for (;;) {
        ret = ZSTD_decompressStream(dctx, &ob, &in);
        if (ZSTD_isError(ret)) {
            if (ZSTD_getErrorCode(ret) == ZSTD_error_frameParameter_windowTooLarge)
                rc = mk_error_set(err, MK_ETOOBIG,
                                  "zstd: frame window exceeds the cap of %zu bytes "
                                  "(decompression bomb?)",
                                  max);
            else
                rc = mk_error_set(err, MK_EMALFORMED, "zstd: %s", ZSTD_getErrorName(ret));
            goto done;
        }
        if (ob.pos > cap || ob.pos > max) {
            rc = mk_error_set(err, MK_ETOOBIG,
                              "zstd: decompressed data exceeds the cap of %zu bytes "
                              "(decompression bomb?)",
                              max);
            goto done;
        }
        if (ret == 0) break; /* frame complete */
        if (in.pos == in.size && ob.pos < ob.size) {
            rc = mk_error_set(err, MK_ETRUNC, "zstd: truncated frame");
            goto done;
        }
    }
    if (in.pos != in.size) {
        rc = mk_error_set(err, MK_EMALFORMED, "zstd: %zu trailing bytes after the frame",
                          in.size - in.pos);
        goto done;
    }
    rc = mk_buf_append(out, buf, ob.pos);
    if (rc < 0) rc = mk_error_set(err, rc, "zstd: output buffer full");
done:
    ZSTD_freeDCtx(dctx);
    free(buf);
    return rc;
}
