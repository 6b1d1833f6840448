/*
 * tee/tdx/ticket.c — the TDX attestation ticket: report-data binding,
 * canonical CBOR, zstd with a hard cap, conversion to generic tickets.
 *
 * Report data. The quote's 64-byte report data is SHA-512 over a fixed
 * preimage: a length-prefixed domain string, then fixed-width fields
 * (ids 32 bytes each, times as big-endian two's-complement i64). Every
 * field has a fixed width, so two different extra-data values can never
 * share a preimage, and the domain keeps the hash from meaning anything
 * else.
 *
 * Encoding. The ticket is a CBOR map with unsigned keys 0..6 (7 when the
 * collateral is present) in increasing order, written with the canonical
 * head writers of core/cbor.c (libcbor's encoders: always the shortest
 * integer form and definite lengths). So one ticket has exactly one
 * encoding.
 *
 * Times. Decoding refuses started_at, quoted_at and expiration outside
 * [0, MK_TDX_TIME_MAX] (expiration may also be MK_EXPIRES_NEVER) and an
 * expiration before quoted_at, so that code judging a decoded ticket can
 * subtract its times without overflow. Encoding does not check them (tests
 * build out-of-range tickets to exercise the decoder).
 *
 * Decoding is a schema-driven pull parser over the CBOR pull reader of
 * core/cbor.c (libcbor's streaming decoder): each step yields one data item
 * header (or a whole definite byte string); nothing is allocated from a
 * size read off the wire, and the cursor into the input is an mk_reader.
 * After the map has been read, the decoder
 * re-encodes what it understood and requires the result to equal the
 * input byte for byte: this one comparison refuses non-minimal integers,
 * indefinite lengths, duplicate or reordered keys and trailing bytes.
 *
 * Compression. The wire form is a single zstd frame. Decompression never
 * produces more than MK_TDX_TICKET_MAX_DECOMPRESSED bytes: a frame that
 * declares a larger content size is refused before any allocation, and the
 * streaming decoder writes into a buffer of exactly the cap (window size
 * limited too), so a frame that would expand further (a "bomb", declared
 * size or not) is refused once the buffer is full. Bytes after the frame
 * are refused.
 */
#include "mosaik/tdx_ticket.h"

#include <stdlib.h>
#include <string.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "core/cbor.h"
#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "tee/tdx/tdx_internal.h"

/* ------------------------------------------------------------------ */
/* Report data                                                         */
/* ------------------------------------------------------------------ */

void mk_tdx_extra_data_encode(const mk_tdx_extra_data *x, uint8_t out[MK_TDX_EXTRA_ENCODED_LEN]) {
    static const char dom[] = MK_TDX_REPORT_DATA_DOMAIN;
    mk_writer w;
    mk_writer_init(&w, out, MK_TDX_EXTRA_ENCODED_LEN);
    mk_write_u32be(&w, (uint32_t)(sizeof dom - 1));
    mk_write_bytes(&w, dom, sizeof dom - 1);
    mk_write_bytes(&w, x->peer_id.b, 32);
    mk_write_bytes(&w, x->network_id.b, 32);
    mk_write_u64be(&w, (uint64_t)x->started_at);
    mk_write_u64be(&w, (uint64_t)x->quoted_at);
    mk_write_u64be(&w, (uint64_t)x->expiration);
}

void mk_tdx_report_data(const mk_tdx_extra_data *x, uint8_t out[64]) {
    uint8_t pre[MK_TDX_EXTRA_ENCODED_LEN];
    mk_tdx_extra_data_encode(x, pre);
    mk_sha512(pre, sizeof pre, out);
}

/* ------------------------------------------------------------------ */
/* Construction                                                        */
/* ------------------------------------------------------------------ */

int mk_tdx_ticket_init(mk_tdx_ticket *t, const mk_tdx_extra_data *x, const uint8_t *quote,
                       size_t quote_len, const char *collateral, size_t collateral_len,
                       mk_error *err) {
    memset(t, 0, sizeof *t);
    if (!x || !quote || quote_len == 0) return mk_error_set(err, MK_EINVAL, "TDX ticket: no quote");
    if (quote_len > MK_TDX_QUOTE_MAX)
        return mk_error_set(err, MK_ETOOBIG, "TDX ticket: quote of %zu bytes exceeds %d", quote_len,
                            MK_TDX_QUOTE_MAX);
    if (collateral && collateral_len > MK_TDX_TICKET_MAX_DECOMPRESSED)
        return mk_error_set(err, MK_ETOOBIG, "TDX ticket: collateral of %zu bytes exceeds %d",
                            collateral_len, MK_TDX_TICKET_MAX_DECOMPRESSED);
    t->quote = malloc(quote_len);
    if (!t->quote) return mk_error_set(err, MK_ENOMEM, "out of memory");
    memcpy(t->quote, quote, quote_len);
    t->quote_len = quote_len;
    if (collateral) {
        t->collateral = malloc(collateral_len + 1);
        if (!t->collateral) {
            mk_tdx_ticket_free(t);
            return mk_error_set(err, MK_ENOMEM, "out of memory");
        }
        memcpy(t->collateral, collateral, collateral_len);
        t->collateral[collateral_len] = 0;
        t->collateral_len = collateral_len;
    }
    t->extra = *x;
    return 0;
}

void mk_tdx_ticket_free(mk_tdx_ticket *t) {
    if (!t) return;
    free(t->quote);
    free(t->collateral);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------ */
/* Canonical CBOR encoding                                             */
/* ------------------------------------------------------------------ */

enum {
    K_VERSION = 0,
    K_PEER = 1,
    K_NETWORK = 2,
    K_STARTED = 3,
    K_QUOTED = 4,
    K_EXPIRES = 5,
    K_QUOTE = 6,
    K_COLLATERAL = 7,
};

static int encode_cbor(const mk_tdx_ticket *t, mk_buf *out) {
    MK_TRY(mk_cbor_put_map(out, t->collateral ? 8 : 7));
    MK_TRY(mk_cbor_put_uint(out, K_VERSION));
    MK_TRY(mk_cbor_put_uint(out, MK_TDX_TICKET_VERSION));
    MK_TRY(mk_cbor_put_uint(out, K_PEER));
    MK_TRY(mk_cbor_put_bstr(out, t->extra.peer_id.b, 32));
    MK_TRY(mk_cbor_put_uint(out, K_NETWORK));
    MK_TRY(mk_cbor_put_bstr(out, t->extra.network_id.b, 32));
    MK_TRY(mk_cbor_put_uint(out, K_STARTED));
    MK_TRY(mk_cbor_put_int(out, t->extra.started_at));
    MK_TRY(mk_cbor_put_uint(out, K_QUOTED));
    MK_TRY(mk_cbor_put_int(out, t->extra.quoted_at));
    MK_TRY(mk_cbor_put_uint(out, K_EXPIRES));
    MK_TRY(mk_cbor_put_int(out, t->extra.expiration));
    MK_TRY(mk_cbor_put_uint(out, K_QUOTE));
    MK_TRY(mk_cbor_put_bstr(out, t->quote, t->quote_len));
    if (t->collateral) {
        MK_TRY(mk_cbor_put_uint(out, K_COLLATERAL));
        MK_TRY(mk_cbor_put_bstr(out, t->collateral, t->collateral_len));
    }
    return 0;
}

int mk_tdx_ticket_encode_cbor(const mk_tdx_ticket *t, mk_buf *out, mk_error *err) {
    if (!t || !t->quote || !t->quote_len)
        return mk_error_set(err, MK_EINVAL, "TDX ticket: no quote");
    mk_buf tmp;
    mk_buf_init(&tmp, MK_TDX_TICKET_MAX_DECOMPRESSED);
    int rc = encode_cbor(t, &tmp);
    if (rc < 0) {
        mk_buf_free(&tmp);
        if (rc == MK_ETOOBIG)
            return mk_error_set(err, rc, "TDX ticket: encoding exceeds %d bytes",
                                MK_TDX_TICKET_MAX_DECOMPRESSED);
        return mk_error_set(err, rc, "TDX ticket: CBOR encoding failed");
    }
    rc = mk_buf_append(out, tmp.data, tmp.len);
    mk_buf_free(&tmp);
    if (rc < 0) return mk_error_set(err, rc, "TDX ticket: output buffer full");
    return 0;
}

int mk_tdx_ticket_encode(const mk_tdx_ticket *t, mk_buf *out, mk_error *err) {
    mk_buf cb;
    mk_buf_init(&cb, MK_TDX_TICKET_MAX_DECOMPRESSED);
    int rc = mk_tdx_ticket_encode_cbor(t, &cb, err);
    if (rc < 0) {
        mk_buf_free(&cb);
        return rc;
    }
    size_t bound = ZSTD_compressBound(cb.len);
    uint8_t *z = malloc(bound);
    if (!z) {
        mk_buf_free(&cb);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    /* Level 19: tickets are made rarely and sent often. Content size is
     * written into the frame header (the decoder checks it first). */
    size_t zn = ZSTD_compress(z, bound, cb.data, cb.len, 19);
    mk_buf_free(&cb);
    if (ZSTD_isError(zn)) {
        free(z);
        return mk_error_set(err, MK_EINVAL, "TDX ticket: zstd: %s", ZSTD_getErrorName(zn));
    }
    if (zn > MK_TDX_TICKET_MAX_COMPRESSED) {
        free(z);
        return mk_error_set(err, MK_ETOOBIG,
                            "TDX ticket: %zu compressed bytes exceed the ticket cap of %d", zn,
                            MK_TDX_TICKET_MAX_COMPRESSED);
    }
    rc = mk_buf_append(out, z, zn);
    free(z);
    if (rc < 0) return mk_error_set(err, rc, "TDX ticket: output buffer full");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

#define CTX "TDX ticket"

static int expect_key(mk_reader *r, uint64_t key, const char *name, mk_error *err) {
    mk_cbor_item it;
    MK_TRY(mk_cbor_next(r, &it, CTX, name, err));
    if (it.kind != MK_CBOR_UINT || it.u != key)
        return mk_error_set(err, MK_EMALFORMED, CTX ": expected key %llu (%s)%s",
                            (unsigned long long)key, name,
                            it.kind == MK_CBOR_UINT ? " in canonical order" : "");
    return 0;
}

/* A 32-byte id; any other length is malformed (not "too big"). */
static int read_id(mk_reader *r, const char *name, mk_id *out, mk_error *err) {
    const uint8_t *p;
    size_t n;
    MK_TRY(mk_cbor_expect_bstr(r, CTX, name, 0, SIZE_MAX, &p, &n, err));
    if (n != sizeof out->b)
        return mk_error_set(err, MK_EMALFORMED, CTX ": %s has %zu bytes, want %zu", name, n,
                            sizeof out->b);
    memcpy(out->b, p, sizeof out->b);
    return 0;
}

/* Times are UTC seconds in [0, MK_TDX_TIME_MAX] (year 9999), and the
 * expiration is not before quoted_at (or is MK_EXPIRES_NEVER). Every later
 * subtraction of two ticket times, or of a ticket time from a sane `now`,
 * then stays far inside int64. */
static int check_time(int64_t v, const char *name, mk_error *err) {
    if (v < 0 || v > MK_TDX_TIME_MAX)
        return mk_error_set(err, MK_EMALFORMED,
                            "TDX ticket: %s %lld out of range (0..%lld, year 9999)", name,
                            (long long)v, (long long)MK_TDX_TIME_MAX);
    return 0;
}

static int check_times(const mk_tdx_extra_data *x, mk_error *err) {
    MK_TRY(check_time(x->started_at, "started_at", err));
    MK_TRY(check_time(x->quoted_at, "quoted_at", err));
    if (x->expiration == MK_EXPIRES_NEVER) return 0;
    MK_TRY(check_time(x->expiration, "expiration", err));
    if (x->expiration < x->quoted_at)
        return mk_error_set(err, MK_EMALFORMED, "TDX ticket: expires before it was quoted");
    return 0;
}

int mk_tdx_ticket_decode_cbor(const uint8_t *data, size_t len, mk_tdx_ticket *t, mk_error *err) {
    memset(t, 0, sizeof *t);
    if (!data && len) return mk_error_set(err, MK_EINVAL, "TDX ticket: no data");
    if (len > MK_TDX_TICKET_MAX_DECOMPRESSED)
        return mk_error_set(err, MK_ETOOBIG, "TDX ticket: %zu bytes exceed the cap of %d", len,
                            MK_TDX_TICKET_MAX_DECOMPRESSED);
    mk_reader r;
    mk_reader_init(&r, data, len);
    mk_cbor_item m;
    MK_TRY(mk_cbor_next(&r, &m, CTX, "the ticket map", err));
    if (m.kind != MK_CBOR_MAP)
        return mk_error_set(err, MK_EMALFORMED, CTX ": not a CBOR map (%s)", mk_cbor_kind_name(&m));
    if (m.u != 7 && m.u != 8)
        return mk_error_set(err, MK_EMALFORMED, CTX ": map has %llu entries, want 7 or 8",
                            (unsigned long long)m.u);
    bool has_coll = m.u == 8;

    /* Version first, so a future format gets a clear reason. */
    int64_t version = 0;
    MK_TRY(expect_key(&r, K_VERSION, "version", err));
    MK_TRY(mk_cbor_expect_int(&r, CTX, "version", &version, err));
    if (version != MK_TDX_TICKET_VERSION)
        return mk_error_set(err, MK_EUNSUPPORTED, "TDX ticket: unsupported version %lld",
                            (long long)version);

    mk_tdx_extra_data x;
    memset(&x, 0, sizeof x);
    MK_TRY(expect_key(&r, K_PEER, "peer id", err));
    MK_TRY(read_id(&r, "peer id", &x.peer_id, err));
    MK_TRY(expect_key(&r, K_NETWORK, "network id", err));
    MK_TRY(read_id(&r, "network id", &x.network_id, err));
    MK_TRY(expect_key(&r, K_STARTED, "started_at", err));
    MK_TRY(mk_cbor_expect_int(&r, CTX, "started_at", &x.started_at, err));
    MK_TRY(expect_key(&r, K_QUOTED, "quoted_at", err));
    MK_TRY(mk_cbor_expect_int(&r, CTX, "quoted_at", &x.quoted_at, err));
    MK_TRY(expect_key(&r, K_EXPIRES, "expiration", err));
    MK_TRY(mk_cbor_expect_int(&r, CTX, "expiration", &x.expiration, err));
    MK_TRY(check_times(&x, err));
    const uint8_t *quote;
    size_t quote_len;
    MK_TRY(expect_key(&r, K_QUOTE, "quote", err));
    MK_TRY(mk_cbor_expect_bstr(&r, CTX, "quote", 1, MK_TDX_QUOTE_MAX, &quote, &quote_len, err));
    const uint8_t *coll = NULL;
    size_t coll_len = 0;
    if (has_coll) {
        MK_TRY(expect_key(&r, K_COLLATERAL, "collateral", err));
        MK_TRY(mk_cbor_expect_bstr(&r, CTX, "collateral", 1, MK_TDX_TICKET_MAX_DECOMPRESSED, &coll,
                                   &coll_len, err));
        if (memchr(coll, 0, coll_len))
            return mk_error_set(err, MK_EMALFORMED, "TDX ticket: collateral contains a NUL byte");
    }
    if (!mk_reader_done(&r))
        return mk_error_set(err, MK_EMALFORMED, "TDX ticket: %zu trailing bytes after the map",
                            mk_reader_remaining(&r));

    int rc = mk_tdx_ticket_init(t, &x, quote, quote_len, (const char *)coll, coll_len, err);
    if (rc < 0) return rc;

    /* Canonical form: re-encoding must give the input back. */
    mk_buf again;
    mk_buf_init(&again, MK_TDX_TICKET_MAX_DECOMPRESSED);
    rc = encode_cbor(t, &again);
    bool same = rc == 0 && again.len == len && memcmp(again.data, data, len) == 0;
    mk_buf_free(&again);
    if (!same) {
        mk_tdx_ticket_free(t);
        return mk_error_set(err, MK_EMALFORMED,
                            "TDX ticket: CBOR is not in canonical form (non-minimal integer or "
                            "length)");
    }
    return 0;
}

int mk_tdx_zstd_decompress_capped(const uint8_t *data, size_t len, size_t max, mk_buf *out,
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

int mk_tdx_ticket_decode(const uint8_t *data, size_t len, mk_tdx_ticket *t, mk_error *err) {
    memset(t, 0, sizeof *t);
    if (len > MK_TDX_TICKET_MAX_COMPRESSED)
        return mk_error_set(err, MK_ETOOBIG, "TDX ticket: %zu bytes exceed the cap of %d", len,
                            MK_TDX_TICKET_MAX_COMPRESSED);
    mk_buf cb;
    mk_buf_init(&cb, MK_TDX_TICKET_MAX_DECOMPRESSED);
    int rc = mk_tdx_zstd_decompress_capped(data, len, MK_TDX_TICKET_MAX_DECOMPRESSED, &cb, err);
    if (rc < 0) {
        mk_buf_free(&cb);
        return mk_error_prefix(err, rc, "TDX ticket");
    }
    rc = mk_tdx_ticket_decode_cbor(cb.data, cb.len, t, err);
    mk_buf_free(&cb);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Generic tickets, collateral, binding                                */
/* ------------------------------------------------------------------ */

void mk_tdx_ticket_class(mk_id *out) {
    mk_id_from_name(out, MK_TDX_TICKET_CLASS_NAME);
}

int mk_tdx_ticket_to_generic(const mk_tdx_ticket *t, mk_ticket *out, mk_error *err) {
    memset(out, 0, sizeof *out);
    mk_buf b;
    mk_buf_init(&b, MK_TDX_TICKET_MAX_COMPRESSED);
    int rc = mk_tdx_ticket_encode(t, &b, err);
    if (rc == 0) {
        mk_id cls;
        mk_tdx_ticket_class(&cls);
        rc = mk_ticket_init(out, &cls, b.data, b.len);
        if (rc < 0) mk_error_set(err, rc, "TDX ticket: cannot make a generic ticket");
    }
    mk_buf_free(&b);
    return rc;
}

int mk_tdx_ticket_from_generic(const mk_ticket *in, mk_tdx_ticket *t, mk_error *err) {
    memset(t, 0, sizeof *t);
    mk_id cls;
    mk_tdx_ticket_class(&cls);
    if (!mk_id_eq(&cls, &in->class_id)) {
        char got[9];
        mk_id_short(&in->class_id, got);
        return mk_error_set(err, MK_EMISMATCH, "ticket of class %s is not a TDX ticket", got);
    }
    return mk_tdx_ticket_decode(in->data, in->len, t, err);
}

int mk_tdx_ticket_collateral(const mk_tdx_ticket *t, mk_tdx_collateral **out, mk_error *err) {
    *out = NULL;
    if (!t->collateral) return mk_error_set(err, MK_ENOTFOUND, "TDX ticket carries no collateral");
    int rc = mk_tdx_collateral_from_bundle(t->collateral, t->collateral_len, out, err);
    if (rc < 0) return mk_error_prefix(err, rc, "ticket collateral");
    return 0;
}

int mk_tdx_ticket_check_binding(const mk_tdx_ticket *t, mk_error *err) {
    mk_tdx_quote q;
    int rc = mk_tdx_quote_parse(t->quote, t->quote_len, &q, err);
    if (rc < 0) return mk_error_prefix(err, rc, "TDX ticket quote");
    uint8_t want[64];
    mk_tdx_report_data(&t->extra, want);
    if (!mk_ct_equal(want, q.body.report_data, 64))
        return mk_error_set(err, MK_EMISMATCH,
                            "report data does not bind the ticket's extra data (peer, network, "
                            "times)");
    return 0;
}
