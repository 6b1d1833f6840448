/*
 * tests/unit/tee/test_envelope.c — the shared ticket envelope
 * (tee/ticket.c), capped zstd (tee/zstd.c) and the shared checks
 * (tee/checks.c), with a test platform's format (binary endorsements, its
 * own class and domain) so that nothing here needs TDX:
 *
 *   - the report-data preimage against an independent construction, and
 *     domain separation; a domain that is too long;
 *   - round trips with and without endorsements (NUL bytes allowed in
 *     binary ones, refused in text ones); the format's caps and version;
 *     non-canonical input; the class as the platform's tag;
 *   - the capped zstd decoder (its assertions moved here from
 *     tests/unit/tee/tdx/test_tdx_ticket.c);
 *   - peer / network, freshness and expiry checks, also at extreme times.
 */
#include "test_util.h"

#include <openssl/sha.h>
#include <zstd.h>

#include "tee/tee_internal.h"

static const mk_tee_ticket_format FMT = {
    .platform = MK_TEE_SNP,
    .label = "test ticket",
    .class_name = "mosaik.ticket.test.v1",
    .domain = "mosaik.test.ticket.report-data.v1",
    .evidence_name = "report",
    .endorsements_name = "certificates",
    .version = 1,
    .evidence_max = 2048,
    .endorsements_max = 4096,
    .endorsements_text = false,
};

static const mk_tee_ticket_format TEXT = {
    .platform = MK_TEE_TDX,
    .label = "text ticket",
    .class_name = "mosaik.ticket.text.v1",
    .domain = "mosaik.text.ticket.report-data.v1",
    .evidence_name = "quote",
    .endorsements_name = "collateral",
    .version = 3,
    .evidence_max = 2048,
    .endorsements_max = 4096,
    .endorsements_text = true,
};

static void sample_extra(mk_tee_extra_data *x) {
    memset(x, 0, sizeof *x);
    for (int i = 0; i < 32; i++) {
        x->peer_id.b[i] = (uint8_t)(100 + i);
        x->network_id.b[i] = (uint8_t)(200 + i);
    }
    x->started_at = 1700000000;
    x->quoted_at = 1700000100;
    x->expiration = 1700003700;
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

/* ------------------------------------------------------------------ */
/* Report data                                                         */
/* ------------------------------------------------------------------ */

static void test_report_data(void **state) {
    (void)state;
    mk_tee_extra_data x;
    sample_extra(&x);
    uint8_t pre[256];
    size_t n = 0;
    size_t dl = strlen(FMT.domain);
    pre[n++] = 0, pre[n++] = 0, pre[n++] = 0, pre[n++] = (uint8_t)dl;
    memcpy(pre + n, FMT.domain, dl), n += dl;
    memcpy(pre + n, x.peer_id.b, 32), n += 32;
    memcpy(pre + n, x.network_id.b, 32), n += 32;
    int64_t times[3] = {x.started_at, x.quoted_at, x.expiration};
    for (int k = 0; k < 3; k++)
        for (int i = 7; i >= 0; i--)
            pre[n++] = (uint8_t)((uint64_t)times[k] >> (8 * i));
    assert_int_equal(mk_tee_extra_data_encoded_len(FMT.domain), n);
    uint8_t enc[256];
    assert_int_equal(mk_tee_extra_data_encode(FMT.domain, &x, enc, sizeof enc), n);
    assert_memory_equal(enc, pre, n);
    assert_int_equal(mk_tee_extra_data_encode(FMT.domain, &x, enc, n - 1), 0);
    uint8_t want[64], got[64], other[64];
    SHA512(pre, n, want);
    assert_int_equal(mk_tee_report_data(FMT.domain, &x, got), 0);
    assert_memory_equal(want, got, 64);
    assert_true(mk_tee_binds(FMT.domain, &x, got));
    /* Another platform's domain gives another binding. */
    assert_int_equal(mk_tee_report_data(TEXT.domain, &x, other), 0);
    assert_memory_not_equal(other, got, 64);
    assert_false(mk_tee_binds(TEXT.domain, &x, got));
    /* Domains: missing, too long. */
    char longd[MK_TEE_DOMAIN_MAX + 2];
    memset(longd, 'd', sizeof longd - 1);
    longd[sizeof longd - 1] = 0;
    assert_int_equal(mk_tee_report_data(longd, &x, got), MK_EINVAL);
    assert_int_equal(mk_tee_report_data(NULL, &x, got), MK_EINVAL);
    assert_int_equal(mk_tee_report_data(FMT.domain, NULL, got), MK_EINVAL);
    longd[MK_TEE_DOMAIN_MAX] = 0;
    assert_int_equal(mk_tee_report_data(longd, &x, got), 0);
}

/* ------------------------------------------------------------------ */
/* The envelope                                                        */
/* ------------------------------------------------------------------ */

static void test_round_trip(void **state) {
    (void)state;
    mk_tee_extra_data x;
    sample_extra(&x);
    uint8_t ev[1184], certs[600];
    for (size_t i = 0; i < sizeof ev; i++)
        ev[i] = (uint8_t)(i * 5 + 1);
    memset(certs, 0, sizeof certs); /* NUL bytes: fine in binary endorsements */
    certs[1] = 0x30;
    mk_error err;
    mk_error_clear(&err);
    for (int with = 0; with < 2; with++) {
        mk_tee_ticket t, u;
        TU_ASSERT_RC(mk_tee_ticket_init(&FMT, &t, &x, ev, sizeof ev, with ? certs : NULL,
                                        with ? sizeof certs : 0, &err),
                     0, &err);
        assert_ptr_equal(t.format, &FMT);
        mk_buf w = MK_BUF_INIT, w2 = MK_BUF_INIT;
        TU_ASSERT_RC(mk_tee_ticket_encode(&t, &w, &err), 0, &err);
        TU_ASSERT_RC(mk_tee_ticket_encode(&t, &w2, &err), 0, &err);
        assert_int_equal(w.len, w2.len); /* deterministic */
        assert_memory_equal(w.data, w2.data, w.len);
        TU_ASSERT_RC(mk_tee_ticket_decode(&FMT, w.data, w.len, &u, &err), 0, &err);
        assert_memory_equal(&u.extra, &x, sizeof x);
        assert_int_equal(u.evidence_len, sizeof ev);
        assert_memory_equal(u.evidence, ev, sizeof ev);
        if (with) {
            assert_int_equal(u.endorsements_len, sizeof certs);
            assert_memory_equal(u.endorsements, certs, sizeof certs);
        } else {
            assert_null(u.endorsements);
        }
        /* Generic tickets carry the format's class: the platform tag. */
        mk_ticket g;
        TU_ASSERT_RC(mk_tee_ticket_to_generic(&t, &g, &err), 0, &err);
        mk_id cls;
        mk_id_from_name(&cls, "mosaik.ticket.test.v1");
        assert_true(mk_id_eq(&cls, &g.class_id));
        mk_tee_ticket_free(&u);
        TU_ASSERT_RC(mk_tee_ticket_from_generic(&FMT, &g, &u, &err), 0, &err);
        mk_tee_ticket_free(&u);
        TU_ASSERT_RC(mk_tee_ticket_from_generic(&TEXT, &g, &u, &err), MK_EMISMATCH, &err);
        TU_ASSERT_REASON(&err, "is not a text ticket");
        assert_null(u.evidence);
        /* The other format's decoder: another version. */
        TU_ASSERT_RC(mk_tee_ticket_decode(&TEXT, w.data, w.len, &u, &err), MK_EUNSUPPORTED, &err);
        TU_ASSERT_REASON(&err, "text ticket: unsupported version 1");
        mk_ticket_free(&g);
        mk_buf_free(&w), mk_buf_free(&w2);
        mk_tee_ticket_free(&t);
    }
}

static void test_caps_and_text(void **state) {
    (void)state;
    mk_tee_extra_data x;
    sample_extra(&x);
    mk_error err;
    mk_tee_ticket t, u;
    uint8_t big[5000] = {1};
    TU_ASSERT_RC(mk_tee_ticket_init(&FMT, &t, &x, big, 2049, NULL, 0, &err), MK_ETOOBIG, &err);
    TU_ASSERT_REASON(&err, "test ticket: report of 2049 bytes exceeds 2048");
    TU_ASSERT_RC(mk_tee_ticket_init(&FMT, &t, &x, big, 10, big, 4097, &err), MK_ETOOBIG, &err);
    TU_ASSERT_REASON(&err, "test ticket: certificates of 4097 bytes exceeds 4096");
    TU_ASSERT_RC(mk_tee_ticket_init(&FMT, &t, &x, NULL, 0, NULL, 0, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "test ticket: no report");
    TU_ASSERT_RC(mk_tee_ticket_init(NULL, &t, &x, big, 1, NULL, 0, &err), MK_EINVAL, &err);
    /* A decoder with a smaller cap refuses what the encoder made. */
    TU_ASSERT_RC(mk_tee_ticket_init(&FMT, &t, &x, big, 2048, NULL, 0, &err), 0, &err);
    mk_buf c = MK_BUF_INIT;
    TU_ASSERT_RC(mk_tee_ticket_encode_cbor(&t, &c, &err), 0, &err);
    mk_tee_ticket_format small = FMT;
    small.evidence_max = 100;
    TU_ASSERT_RC(mk_tee_ticket_decode_cbor(&small, c.data, c.len, &u, &err), MK_ETOOBIG, &err);
    TU_ASSERT_REASON(&err, "report");
    assert_null(u.evidence);
    /* Trailing bytes and non-canonical forms. */
    mk_buf_append_u8(&c, 0);
    TU_ASSERT_RC(mk_tee_ticket_decode_cbor(&FMT, c.data, c.len, &u, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "trailing");
    mk_buf_free(&c);
    mk_tee_ticket_free(&t);
    /* Text endorsements: a NUL byte is refused, the copy NUL-terminated. */
    const uint8_t nul[4] = {'a', 0, 'b', 'c'};
    TU_ASSERT_RC(mk_tee_ticket_init(&TEXT, &t, &x, big, 10, nul, sizeof nul, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_ticket_encode_cbor(&t, &c, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_ticket_decode_cbor(&TEXT, c.data, c.len, &u, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "text ticket: collateral contains a NUL byte");
    mk_tee_ticket_free(&t);
    mk_buf_reset(&c);
    TU_ASSERT_RC(mk_tee_ticket_init(&TEXT, &t, &x, big, 10, (const uint8_t *)"{}", 2, &err), 0,
                 &err);
    assert_int_equal(t.endorsements[2], 0);
    TU_ASSERT_RC(mk_tee_ticket_encode_cbor(&t, &c, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_ticket_decode_cbor(&TEXT, c.data, c.len, &u, &err), 0, &err);
    assert_string_equal((const char *)u.endorsements, "{}");
    mk_tee_ticket_free(&u);
    mk_tee_ticket_free(&t);
    mk_buf_free(&c);
    /* Over the wire-form cap before decompression. */
    uint8_t *huge = calloc(1, MK_TICKET_MAX_DATA + 1);
    TU_ASSERT_RC(mk_tee_ticket_decode(&FMT, huge, MK_TICKET_MAX_DATA + 1, &u, &err), MK_ETOOBIG,
                 &err);
    TU_ASSERT_RC(mk_tee_ticket_decode(&FMT, huge, 100, &u, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "test ticket: zstd");
    free(huge);
}

static void test_zstd_capped(void **state) {
    (void)state;
    size_t n = 4 * MK_TEE_TICKET_MAX_DECOMPRESSED; /* 512 KiB of zeros */
    uint8_t *zeros = calloc(1, n);
    assert_non_null(zeros);
    /* Exactly the cap plus one byte, without a declared size. */
    mk_buf z = MK_BUF_INIT;
    zstd_wrap(zeros, MK_TEE_TICKET_MAX_DECOMPRESSED + 1, &z, false);
    mk_buf out = MK_BUF_INIT;
    mk_error err;
    TU_ASSERT_RC(
        mk_tee_zstd_decompress_capped(z.data, z.len, MK_TEE_TICKET_MAX_DECOMPRESSED, &out, &err),
        MK_ETOOBIG, &err);
    assert_int_equal(out.len, 0);
    mk_buf_free(&z);
    /* Output limit (not the window) stops a frame without declared size. */
    zstd_wrap(zeros, 2000, &z, false);
    TU_ASSERT_RC(mk_tee_zstd_decompress_capped(z.data, z.len, 1000, &out, &err), MK_ETOOBIG, &err);
    TU_ASSERT_REASON(&err, "exceeds the cap of 1000");
    TU_ASSERT_RC(mk_tee_zstd_decompress_capped(z.data, z.len, 2000, &out, &err), 0, &err);
    assert_int_equal(out.len, 2000);
    mk_buf_reset(&out);
    mk_buf_free(&z);
    /* At the cap it decompresses. */
    zstd_wrap(zeros, MK_TEE_TICKET_MAX_DECOMPRESSED, &z, false);
    TU_ASSERT_RC(
        mk_tee_zstd_decompress_capped(z.data, z.len, MK_TEE_TICKET_MAX_DECOMPRESSED, &out, &err), 0,
        &err);
    assert_int_equal(out.len, MK_TEE_TICKET_MAX_DECOMPRESSED);
    mk_buf_free(&z);
    mk_buf_free(&out);
    /* A second frame after the first, an empty input. */
    mk_error err2;
    mk_buf two = MK_BUF_INIT, o2 = MK_BUF_INIT;
    zstd_wrap(zeros, 10, &two, true);
    zstd_wrap(zeros, 10, &two, true);
    TU_ASSERT_RC(mk_tee_zstd_decompress_capped(two.data, two.len, 100, &o2, &err2), MK_EMALFORMED,
                 &err2);
    TU_ASSERT_REASON(&err2, "trailing bytes after the frame");
    TU_ASSERT_RC(mk_tee_zstd_decompress_capped(two.data, 0, 100, &o2, &err2), MK_ETRUNC, &err2);
    assert_int_equal(o2.len, 0);
    mk_buf_free(&two), mk_buf_free(&o2);
    free(zeros);
}

/* ------------------------------------------------------------------ */
/* The shared checks                                                   */
/* ------------------------------------------------------------------ */

static void test_checks(void **state) {
    (void)state;
    mk_tee_extra_data x;
    sample_extra(&x);
    mk_peer_view pv;
    memset(&pv, 0, sizeof pv);
    pv.peer_id = x.peer_id;
    pv.network_id = x.network_id;
    mk_error err;
    TU_ASSERT_RC(mk_tee_check_peer(&x, &pv, &err), 0, &err);
    pv.peer_id.b[0] ^= 1;
    TU_ASSERT_RC(mk_tee_check_peer(&x, &pv, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "ticket binds peer 6465666768696a6b, entry is peer 6565666768696a6b");
    pv.peer_id = x.peer_id;
    pv.network_id.b[0] ^= 1;
    TU_ASSERT_RC(mk_tee_check_peer(&x, &pv, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "ticket binds network");
    TU_ASSERT_RC(mk_tee_check_peer(&x, NULL, &err), MK_EINVAL, &err);

    mk_tee_freshness none = {0},
                     f = {.max_age = 600, .not_before = 1700000050, .max_lifetime = 7200};
    int64_t q = x.quoted_at;
    TU_ASSERT_RC(mk_tee_check_freshness(&f, &x, q + 10, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_check_freshness(&f, &x, q - MK_TEE_CLOCK_SKEW, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_check_freshness(&f, &x, q - MK_TEE_CLOCK_SKEW - 1, &err), MK_ENOTYET, &err);
    TU_ASSERT_REASON(&err, "in the future");
    TU_ASSERT_RC(mk_tee_check_freshness(&f, &x, q + 601, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "is 601 s old, max_age is 600 s");
    TU_ASSERT_RC(mk_tee_check_freshness(&none, &x, q + 100000, &err), 0, &err);
    f.not_before = q + 1;
    TU_ASSERT_RC(mk_tee_check_freshness(&f, &x, q, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "before not_before");
    f.not_before = 0;
    f.max_lifetime = 3599;
    TU_ASSERT_RC(mk_tee_check_freshness(&f, &x, q, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "lifetime 3600 s exceeds max_lifetime 3599 s");
    mk_tee_extra_data never = x;
    never.expiration = MK_EXPIRES_NEVER;
    TU_ASSERT_RC(mk_tee_check_freshness(&f, &never, q, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "never expires");
    /* Extreme nows do not overflow. */
    TU_ASSERT_RC(mk_tee_check_freshness(&f, &x, INT64_MIN, &err), MK_ENOTYET, &err);
    f.max_lifetime = 0;
    TU_ASSERT_RC(mk_tee_check_freshness(&f, &x, INT64_MAX, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "s old, max_age is 600 s");
    mk_tee_extra_data neg = x; /* not from a decoder: the difference overflows */
    neg.quoted_at = -5;
    TU_ASSERT_RC(mk_tee_check_freshness(&f, &neg, INT64_MAX, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "is too old");

    mk_expiration e = 0;
    TU_ASSERT_RC(mk_tee_check_expiry(&x, 0, q, &e, &err), 0, &err);
    assert_int_equal(e, x.expiration);
    TU_ASSERT_RC(mk_tee_check_expiry(&x, q + 50, q, &e, &err), 0, &err);
    assert_int_equal(e, q + 50);
    TU_ASSERT_RC(mk_tee_check_expiry(&x, 0, x.expiration, &e, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "ticket expired at 2023-11-14T23:15:00Z");
    TU_ASSERT_RC(mk_tee_check_expiry(&never, 0, INT64_MAX - 1, &e, &err), 0, &err);
    assert_int_equal(e, MK_EXPIRES_NEVER);

    mk_buf b = MK_BUF_INIT;
    mk_tee_freshness g = {1, -2, 3};
    mk_tee_freshness_encode(&g, &b);
    assert_int_equal(b.len, 24);
    assert_int_equal(b.data[7], 1);
    assert_int_equal(b.data[8], 0xff);
    assert_int_equal(b.data[15], 0xfe);
    assert_int_equal(b.data[23], 3);
    mk_buf_free(&b);
}

static int int_cmp(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int int_match(const void *variant, const void *ctx, mk_error *err) {
    int v = *(const int *)variant, want = *(const int *)ctx;
    if (v == want) return 0;
    return mk_error_set(err, MK_EMISMATCH, "want %d, got %d", v, want);
}

static void test_variants(void **state) {
    (void)state;
    int v[] = {7, 3, 7, 1, 3, 3};
    size_t n = mk_tee_variants_normalize(v, 6, sizeof v[0], int_cmp);
    assert_int_equal(n, 3);
    assert_int_equal(v[0], 1), assert_int_equal(v[1], 3), assert_int_equal(v[2], 7);
    assert_int_equal(mk_tee_variants_normalize(v, 0, sizeof v[0], int_cmp), 0);
    mk_error err;
    mk_error_clear(&err);
    int got = 3;
    TU_ASSERT_RC(mk_tee_check_variants(v, n, sizeof v[0], int_match, &got, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_check_variants(v, 0, sizeof v[0], int_match, &got, &err), 0, &err);
    got = 5;
    TU_ASSERT_RC(mk_tee_check_variants(v, n, sizeof v[0], int_match, &got, &err), MK_EMISMATCH,
                 &err);
    assert_string_equal(
        err.msg, "no variant matches (1: want 1, got 5; 2: want 3, got 5; 3: want 7, got 5)");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_data),   cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_caps_and_text), cmocka_unit_test(test_zstd_capped),
        cmocka_unit_test(test_checks),        cmocka_unit_test(test_variants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
