/*
 * test_ticket.c — the TDX ticket format: report-data hash, canonical CBOR,
 * zstd with a cap, decoding of hostile input, generic ticket conversion.
 * (The capped zstd decoder's own assertions are in
 * tests/unit/tee/test_envelope.c, with the shared envelope.)
 */
#include "test_util.h"

#include <openssl/sha.h>
#include <zstd.h>

#include "mosaik/tdx_ticket.h"
#include "tee/tdx/tdx_internal.h" /* preimage, CBOR layer */

static void sample_extra(mk_tdx_extra_data *x) {
    memset(x, 0, sizeof *x);
    for (int i = 0; i < 32; i++) {
        x->peer_id.b[i] = (uint8_t)i;
        x->network_id.b[i] = (uint8_t)(32 + i);
    }
    x->started_at = 1700000000;
    x->quoted_at = 1700000100;
    x->expiration = 1700003700;
}

static const char *COLL = "{\"tcb_info\":\"{}\",\"x\":1}";

static void sample_ticket(mk_tdx_ticket *t, bool with_coll) {
    mk_tdx_extra_data x;
    sample_extra(&x);
    uint8_t quote[700];
    for (size_t i = 0; i < sizeof quote; i++)
        quote[i] = (uint8_t)(i * 7 + 3);
    mk_error err;
    mk_error_clear(&err);
    int rc = mk_tdx_ticket_init(t, &x, quote, sizeof quote, with_coll ? COLL : NULL,
                                with_coll ? strlen(COLL) : 0, &err);
    TU_ASSERT_RC(rc, 0, &err);
}

/* ---- small CBOR writer for hand-made (hostile) inputs ---- */
static void cb_head(mk_buf *b, uint8_t major, uint64_t v) {
    major <<= 5;
    if (v < 24) {
        mk_buf_append_u8(b, major | (uint8_t)v);
    } else if (v <= 0xff) {
        mk_buf_append_u8(b, major | 24);
        mk_buf_append_u8(b, (uint8_t)v);
    } else if (v <= 0xffff) {
        mk_buf_append_u8(b, major | 25);
        mk_buf_append_u16be(b, (uint16_t)v);
    } else if (v <= 0xffffffffu) {
        mk_buf_append_u8(b, major | 26);
        mk_buf_append_u32be(b, (uint32_t)v);
    } else {
        mk_buf_append_u8(b, major | 27);
        mk_buf_append_u64be(b, v);
    }
}

/* The sample ticket, written by hand following docs/tdx-tickets.md, with
 * a chosen version and optionally an extra key. */
static void hand_cbor(mk_buf *b, uint64_t version, bool extra_key) {
    mk_tdx_ticket t;
    sample_ticket(&t, false);
    cb_head(b, 5, extra_key ? 8 : 7);
    cb_head(b, 0, 0);
    cb_head(b, 0, version);
    cb_head(b, 0, 1);
    cb_head(b, 2, 32);
    mk_buf_append(b, t.extra.peer_id.b, 32);
    cb_head(b, 0, 2);
    cb_head(b, 2, 32);
    mk_buf_append(b, t.extra.network_id.b, 32);
    cb_head(b, 0, 3);
    cb_head(b, 0, (uint64_t)t.extra.started_at);
    cb_head(b, 0, 4);
    cb_head(b, 0, (uint64_t)t.extra.quoted_at);
    cb_head(b, 0, 5);
    cb_head(b, 0, (uint64_t)t.extra.expiration);
    cb_head(b, 0, 6);
    cb_head(b, 2, t.quote_len);
    mk_buf_append(b, t.quote, t.quote_len);
    if (extra_key) {
        cb_head(b, 0, 9);
        cb_head(b, 0, 1);
    }
    mk_tdx_ticket_free(&t);
}

static void zstd_wrap(const uint8_t *d, size_t n, mk_buf *out, bool content_size) {
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, content_size ? 1 : 0);
    size_t bound = ZSTD_compressBound(n);
    uint8_t *z = mk_buf_extend(out, bound);
    assert_non_null(z);
    size_t zn = ZSTD_compress2(c, z, bound, d, n);
    assert_false(ZSTD_isError(zn));
    out->len -= bound - zn;
    ZSTD_freeCCtx(c);
}

/* ---------------------------------------------------------------- */

static void test_report_data_kat(void **state) {
    (void)state;
    mk_tdx_extra_data x;
    sample_extra(&x);
    x.expiration = -5; /* exercise two's complement */
    /* Independent construction of the documented preimage. */
    uint8_t pre[200];
    size_t n = 0;
    const char *dom = "mosaik.tdx.ticket.report-data.v1";
    size_t dl = strlen(dom);
    pre[n++] = 0, pre[n++] = 0, pre[n++] = 0, pre[n++] = (uint8_t)dl;
    memcpy(pre + n, dom, dl), n += dl;
    for (int i = 0; i < 32; i++)
        pre[n++] = (uint8_t)i;
    for (int i = 0; i < 32; i++)
        pre[n++] = (uint8_t)(32 + i);
    int64_t times[3] = {1700000000, 1700000100, -5};
    for (int k = 0; k < 3; k++)
        for (int i = 7; i >= 0; i--)
            pre[n++] = (uint8_t)((uint64_t)times[k] >> (8 * i));
    assert_int_equal(n, MK_TDX_EXTRA_ENCODED_LEN);
    uint8_t enc[MK_TDX_EXTRA_ENCODED_LEN];
    mk_tdx_extra_data_encode(&x, enc);
    assert_memory_equal(enc, pre, n);
    uint8_t want[64], got[64];
    SHA512(pre, n, want);
    mk_tdx_report_data(&x, got);
    assert_memory_equal(want, got, 64);
    /* And a constant computed with Python's hashlib over the same bytes. */
    mk_buf k = MK_BUF_INIT;
    assert_int_equal(mk_hex_decode("de4e5489af5edac195aa62e8c9845803af70a29f0f5d89aae3156daec093065"
                                   "2e48b0b98f4b6a0e3cc29c09e666ef3d6614921d0b6d379f091e1e11f2a6faa"
                                   "4b",
                                   128, &k, NULL),
                     0);
    assert_memory_equal(k.data, got, 64);
    mk_buf_free(&k);
    /* Any field change changes the hash. */
    mk_tdx_extra_data y = x;
    y.quoted_at++;
    uint8_t other[64];
    mk_tdx_report_data(&y, other);
    assert_memory_not_equal(other, got, 64);
}

static void test_round_trip(void **state) {
    (void)state;
    for (int wc = 0; wc < 2; wc++) {
        mk_tdx_ticket t, u;
        sample_ticket(&t, wc);
        mk_buf b = MK_BUF_INIT;
        mk_error err;
        mk_error_clear(&err);
        TU_ASSERT_RC(mk_tdx_ticket_encode(&t, &b, &err), 0, &err);
        TU_ASSERT_RC(mk_tdx_ticket_decode(b.data, b.len, &u, &err), 0, &err);
        assert_memory_equal(&t.extra, &u.extra, sizeof t.extra);
        assert_int_equal(t.quote_len, u.quote_len);
        assert_memory_equal(t.quote, u.quote, t.quote_len);
        if (wc) {
            assert_non_null(u.collateral);
            assert_string_equal(u.collateral, COLL);
            assert_int_equal(u.collateral_len, strlen(COLL));
        } else {
            assert_null(u.collateral);
        }
        mk_tdx_ticket_free(&t);
        mk_tdx_ticket_free(&u);
        mk_buf_free(&b);
    }
}

/* Times out of [0, year 9999] encode (the encoder does not judge them) but
 * never decode, so code judging a decoded ticket can subtract its times
 * without overflow (review finding M1). The bounds and "never" round-trip. */
static void decode_times(int64_t started, int64_t quoted, int64_t expires, int want_rc,
                         const char *reason) {
    mk_tdx_ticket t, u;
    sample_ticket(&t, false);
    t.extra.started_at = started;
    t.extra.quoted_at = quoted;
    t.extra.expiration = expires;
    mk_buf b = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_ticket_encode(&t, &b, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_ticket_decode(b.data, b.len, &u, &err), want_rc, &err);
    if (want_rc == 0) {
        assert_memory_equal(&t.extra, &u.extra, sizeof t.extra);
        mk_tdx_ticket_free(&u);
    } else {
        TU_ASSERT_REASON(&err, reason);
        assert_null(u.quote);
    }
    mk_tdx_ticket_free(&t);
    mk_buf_free(&b);
}

static void test_negative_times_and_never(void **state) {
    (void)state;
    const int64_t MAX = MK_TDX_TIME_MAX;
    assert_int_equal(MAX, 253402300799); /* 9999-12-31T23:59:59Z */
    decode_times(0, 0, 0, 0, NULL);
    decode_times(MAX, MAX, MAX, 0, NULL);
    decode_times(0, MAX, MK_EXPIRES_NEVER, 0, NULL);
    decode_times(-1234567, 100, 200, MK_EMALFORMED, "started_at -1234567 out of range");
    decode_times(0, INT64_MIN, MK_EXPIRES_NEVER, MK_EMALFORMED, "quoted_at");
    decode_times(0, INT64_MIN + 1, INT64_MAX - 1, MK_EMALFORMED, "quoted_at");
    decode_times(0, -1, 5, MK_EMALFORMED, "quoted_at -1 out of range");
    decode_times(MAX + 1, 0, 5, MK_EMALFORMED, "started_at");
    decode_times(0, MAX + 1, MK_EXPIRES_NEVER, MK_EMALFORMED, "quoted_at");
    decode_times(0, 10, MAX + 1, MK_EMALFORMED, "expiration");
    decode_times(0, 10, INT64_MAX - 1, MK_EMALFORMED, "expiration");
    decode_times(0, 10, -5, MK_EMALFORMED, "expiration");
    decode_times(0, 10, 9, MK_EMALFORMED, "expires before it was quoted");
}

static void test_deterministic(void **state) {
    (void)state;
    mk_tdx_ticket t1, t2;
    sample_ticket(&t1, true);
    sample_ticket(&t2, true);
    mk_buf a = MK_BUF_INIT, b = MK_BUF_INIT, c = MK_BUF_INIT, d = MK_BUF_INIT;
    assert_int_equal(mk_tdx_ticket_encode_cbor(&t1, &a, NULL), 0);
    assert_int_equal(mk_tdx_ticket_encode_cbor(&t2, &b, NULL), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_int_equal(mk_tdx_ticket_encode(&t1, &c, NULL), 0);
    assert_int_equal(mk_tdx_ticket_encode(&t2, &d, NULL), 0);
    assert_int_equal(c.len, d.len);
    assert_memory_equal(c.data, d.data, c.len);
    /* The encoder's output equals the documented layout written by hand. */
    mk_tdx_ticket t3;
    sample_ticket(&t3, false);
    mk_buf e = MK_BUF_INIT, h = MK_BUF_INIT;
    assert_int_equal(mk_tdx_ticket_encode_cbor(&t3, &e, NULL), 0);
    hand_cbor(&h, 1, false);
    assert_int_equal(e.len, h.len);
    assert_memory_equal(e.data, h.data, e.len);
    /* Canonical first byte: a map of 7 / 8 entries. */
    assert_int_equal(e.data[0], 0xa7);
    assert_int_equal(a.data[0], 0xa8);
    mk_tdx_ticket_free(&t1);
    mk_tdx_ticket_free(&t2);
    mk_tdx_ticket_free(&t3);
    mk_buf_free(&a), mk_buf_free(&b), mk_buf_free(&c), mk_buf_free(&d);
    mk_buf_free(&e), mk_buf_free(&h);
}

static void test_caps(void **state) {
    (void)state;
    mk_tdx_extra_data x;
    sample_extra(&x);
    mk_tdx_ticket t;
    mk_error err;
    uint8_t *big = calloc(1, MK_TDX_QUOTE_MAX + 1);
    assert_non_null(big);
    TU_ASSERT_RC(mk_tdx_ticket_init(&t, &x, big, MK_TDX_QUOTE_MAX + 1, NULL, 0, &err), MK_ETOOBIG,
                 &err);
    /* A CBOR ticket whose quote is over the cap is refused by the decoder. */
    mk_buf h = MK_BUF_INIT;
    cb_head(&h, 5, 7);
    cb_head(&h, 0, 0), cb_head(&h, 0, 1);
    cb_head(&h, 0, 1), cb_head(&h, 2, 32), mk_buf_extend(&h, 32);
    cb_head(&h, 0, 2), cb_head(&h, 2, 32), mk_buf_extend(&h, 32);
    cb_head(&h, 0, 3), cb_head(&h, 0, 1);
    cb_head(&h, 0, 4), cb_head(&h, 0, 2);
    cb_head(&h, 0, 5), cb_head(&h, 0, 3);
    cb_head(&h, 0, 6), cb_head(&h, 2, MK_TDX_QUOTE_MAX + 1);
    mk_buf_append(&h, big, MK_TDX_QUOTE_MAX + 1);
    TU_ASSERT_RC(mk_tdx_ticket_decode_cbor(h.data, h.len, &t, &err), MK_ETOOBIG, &err);
    TU_ASSERT_REASON(&err, "quote");
    /* Compressed input beyond the ticket cap is refused before decompression. */
    uint8_t *huge = calloc(1, MK_TDX_TICKET_MAX_COMPRESSED + 1);
    TU_ASSERT_RC(mk_tdx_ticket_decode(huge, MK_TDX_TICKET_MAX_COMPRESSED + 1, &t, &err), MK_ETOOBIG,
                 &err);
    /* Uncompressed CBOR beyond its cap. */
    uint8_t *over = calloc(1, MK_TDX_TICKET_MAX_DECOMPRESSED + 1);
    TU_ASSERT_RC(mk_tdx_ticket_decode_cbor(over, MK_TDX_TICKET_MAX_DECOMPRESSED + 1, &t, &err),
                 MK_ETOOBIG, &err);
    free(over);
    free(huge);
    free(big);
    mk_buf_free(&h);
}

static void test_decompression_bomb(void **state) {
    (void)state;
    size_t n = 4 * MK_TDX_TICKET_MAX_DECOMPRESSED; /* 512 KiB of zeros */
    uint8_t *zeros = calloc(1, n);
    assert_non_null(zeros);
    for (int cs = 0; cs < 2; cs++) {
        mk_buf z = MK_BUF_INIT;
        zstd_wrap(zeros, n, &z, cs);
        assert_true(z.len < 1024); /* small on the wire */
        mk_tdx_ticket t;
        mk_error err;
        mk_error_clear(&err);
        TU_ASSERT_RC(mk_tdx_ticket_decode(z.data, z.len, &t, &err), MK_ETOOBIG, &err);
        TU_ASSERT_REASON(&err, "decompression bomb");
        mk_buf_free(&z);
    }
    free(zeros);
}

static void test_trailing_garbage(void **state) {
    (void)state;
    mk_tdx_ticket t, u;
    sample_ticket(&t, false);
    mk_error err;
    /* After the zstd frame. */
    mk_buf b = MK_BUF_INIT;
    assert_int_equal(mk_tdx_ticket_encode(&t, &b, NULL), 0);
    mk_buf_append_u8(&b, 0);
    TU_ASSERT_RC(mk_tdx_ticket_decode(b.data, b.len, &u, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "trailing");
    /* Inside: after the CBOR map. */
    mk_buf c = MK_BUF_INIT, z = MK_BUF_INIT;
    assert_int_equal(mk_tdx_ticket_encode_cbor(&t, &c, NULL), 0);
    mk_buf_append_u8(&c, 0x00);
    TU_ASSERT_RC(mk_tdx_ticket_decode_cbor(c.data, c.len, &u, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "trailing");
    zstd_wrap(c.data, c.len, &z, true);
    TU_ASSERT_RC(mk_tdx_ticket_decode(z.data, z.len, &u, &err), MK_EMALFORMED, &err);
    /* A second zstd frame after the first. */
    mk_buf two = MK_BUF_INIT;
    assert_int_equal(mk_tdx_ticket_encode(&t, &two, NULL), 0);
    assert_int_equal(mk_tdx_ticket_encode(&t, &two, NULL), 0);
    TU_ASSERT_RC(mk_tdx_ticket_decode(two.data, two.len, &u, &err), MK_EMALFORMED, &err);
    mk_tdx_ticket_free(&t);
    mk_buf_free(&b), mk_buf_free(&c), mk_buf_free(&z), mk_buf_free(&two);
}

static void test_truncated_and_garbage(void **state) {
    (void)state;
    mk_tdx_ticket t, u;
    sample_ticket(&t, true);
    mk_buf c = MK_BUF_INIT, b = MK_BUF_INIT;
    assert_int_equal(mk_tdx_ticket_encode_cbor(&t, &c, NULL), 0);
    assert_int_equal(mk_tdx_ticket_encode(&t, &b, NULL), 0);
    mk_error err;
    for (size_t n = 0; n < c.len; n++) {
        int rc = mk_tdx_ticket_decode_cbor(c.data, n, &u, &err);
        assert_true(rc < 0);
        assert_null(u.quote);
    }
    for (size_t n = 0; n < b.len; n++)
        assert_true(mk_tdx_ticket_decode(b.data, n, &u, &err) < 0);
    /* Bit flips in the CBOR either fail or decode to something different
     * but canonical; never crash. Flips in the zstd frame are caught by its
     * checks or by the CBOR layer. */
    for (size_t i = 0; i < c.len; i += 7) {
        c.data[i] ^= 0x01;
        if (mk_tdx_ticket_decode_cbor(c.data, c.len, &u, &err) == 0) mk_tdx_ticket_free(&u);
        c.data[i] ^= 0x01;
    }
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 131 + 17);
    TU_ASSERT_RC(mk_tdx_ticket_decode(junk, sizeof junk, &u, &err), MK_EMALFORMED, &err);
    TU_ASSERT_RC(mk_tdx_ticket_decode_cbor(junk, sizeof junk, &u, &err), MK_EMALFORMED, &err);
    mk_tdx_ticket_free(&t);
    mk_buf_free(&c), mk_buf_free(&b);
}

static void test_non_canonical(void **state) {
    (void)state;
    mk_tdx_ticket u;
    mk_error err;
    /* The hand-made encoding is accepted ... */
    mk_buf h = MK_BUF_INIT;
    hand_cbor(&h, 1, false);
    TU_ASSERT_RC(mk_tdx_ticket_decode_cbor(h.data, h.len, &u, &err), 0, &err);
    mk_tdx_ticket_free(&u);
    /* ... unknown version refused ... */
    mk_buf v = MK_BUF_INIT;
    hand_cbor(&v, 2, false);
    TU_ASSERT_RC(mk_tdx_ticket_decode_cbor(v.data, v.len, &u, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "version 2");
    /* ... unknown key refused ... */
    mk_buf k = MK_BUF_INIT;
    hand_cbor(&k, 1, true);
    TU_ASSERT_RC(mk_tdx_ticket_decode_cbor(k.data, k.len, &u, &err), MK_EMALFORMED, &err);
    /* ... a non-minimal integer (version as 0x18 0x01) refused ... */
    mk_buf nm = MK_BUF_INIT;
    mk_buf_append_u8(&nm, h.data[0]);
    mk_buf_append_u8(&nm, h.data[1]);
    mk_buf_append_u8(&nm, 0x18);
    mk_buf_append_u8(&nm, 0x01);
    mk_buf_append(&nm, h.data + 3, h.len - 3);
    TU_ASSERT_RC(mk_tdx_ticket_decode_cbor(nm.data, nm.len, &u, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "canonical");
    /* ... an indefinite-length map refused. */
    mk_buf im = MK_BUF_INIT;
    mk_buf_append_u8(&im, 0xbf);
    mk_buf_append(&im, h.data + 1, h.len - 1);
    mk_buf_append_u8(&im, 0xff);
    TU_ASSERT_RC(mk_tdx_ticket_decode_cbor(im.data, im.len, &u, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "indefinite");
    /* Swapped keys (peer <-> network order) refused. */
    mk_buf sw = MK_BUF_INIT;
    mk_buf_append(&sw, h.data, h.len);
    /* key 1 at offset 3, key 2 at offset 3+1+2+32 */
    sw.data[3] = 2;
    sw.data[3 + 35] = 1;
    TU_ASSERT_RC(mk_tdx_ticket_decode_cbor(sw.data, sw.len, &u, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "expected key");
    /* A map of 9 entries (the hand-made 8-entry one, its header changed). */
    mk_buf m9 = MK_BUF_INIT;
    mk_buf_append(&m9, k.data, k.len);
    assert_int_equal(m9.data[0], 0xa8);
    m9.data[0] = 0xa9;
    TU_ASSERT_RC(mk_tdx_ticket_decode_cbor(m9.data, m9.len, &u, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "map has 9 entries, want 7 or 8");
    mk_buf_free(&h), mk_buf_free(&v), mk_buf_free(&k), mk_buf_free(&nm), mk_buf_free(&im);
    mk_buf_free(&sw), mk_buf_free(&m9);
}

static void test_generic(void **state) {
    (void)state;
    mk_tdx_ticket t, u;
    sample_ticket(&t, true);
    mk_ticket g;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_ticket_to_generic(&t, &g, &err), 0, &err);
    mk_id cls, want;
    mk_tdx_ticket_class(&cls);
    mk_id_from_name(&want, "mosaik.ticket.tdx.v1");
    assert_true(mk_id_eq(&cls, &want));
    assert_true(mk_id_eq(&g.class_id, &want));
    TU_ASSERT_RC(mk_tdx_ticket_from_generic(&g, &u, &err), 0, &err);
    assert_memory_equal(&t.extra, &u.extra, sizeof t.extra);
    assert_string_equal(u.collateral, COLL);
    mk_tdx_ticket_free(&u);
    /* Another class is refused. */
    mk_id_from_name(&g.class_id, "jwt");
    TU_ASSERT_RC(mk_tdx_ticket_from_generic(&g, &u, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "not a TDX ticket");
    mk_ticket_free(&g);
    mk_tdx_ticket_free(&t);
}

static void test_binding_real_quote(void **state) {
    (void)state;
    /* A real quote's report data binds nothing of ours. */
    mk_buf q = MK_BUF_INIT;
    tu_read_testdata("tdx/phala-v4/quote.bin", &q);
    mk_tdx_extra_data x;
    sample_extra(&x);
    mk_tdx_ticket t;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_ticket_init(&t, &x, q.data, q.len, NULL, 0, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_ticket_check_binding(&t, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "report data");
    mk_tdx_ticket_free(&t);
    mk_buf_free(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_data_kat),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_negative_times_and_never),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_decompression_bomb),
        cmocka_unit_test(test_trailing_garbage),
        cmocka_unit_test(test_truncated_and_garbage),
        cmocka_unit_test(test_non_canonical),
        cmocka_unit_test(test_generic),
        cmocka_unit_test(test_binding_real_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
