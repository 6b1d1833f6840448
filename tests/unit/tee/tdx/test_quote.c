/*
 * tests/unit/tee/tdx/test_quote.c — quote structure, PCK extension, pinned root
 * (quote.c, pck.c, intel_root.c). The chain and CRL tests on Intel's data
 * are tests/unit/tee/test_trust_tdx.c (the shared trust store, tee/trust.c).
 */
#include "test_util.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tee/tdx/tdx_internal.h"

#define T_PHALA 1752919234LL     /* 2025-07-19T10:00:34Z */
#define T_GOOGLE_V5 1770076800LL /* 2026-02-03 */
#define T_SPR 1688169600LL       /* 2023-07-01 */
#define T_2053 2634940800LL      /* 2053-07-01 */

static void load(const char *rel, mk_buf *b) {
    mk_buf_init(b, 0);
    tu_read_testdata(rel, b);
}

/* ------------------------------------------------------------------ */
/* Pinned root                                                         */
/* ------------------------------------------------------------------ */

static void test_root_pinned(void **state) {
    (void)state;
    size_t len = 0;
    const uint8_t *der = mk_tdx_intel_root_der(&len);
    uint8_t h[32];
    mk_sha256(der, len, h);
    char hex[65];
    mk_hex_encode(h, 32, hex);
    assert_string_equal(hex, "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
    mk_buf f;
    load("tdx/intel/sgx_root_ca.der", &f);
    assert_int_equal(f.len, len);
    assert_memory_equal(f.data, der, len);
    mk_buf_free(&f);
}

/* ------------------------------------------------------------------ */
/* Quote parsing                                                       */
/* ------------------------------------------------------------------ */

static void test_parse_phala_v4(void **state) {
    (void)state;
    mk_buf b;
    load("tdx/phala-v4/quote.bin", &b);
    mk_tdx_quote q;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_quote_parse(b.data, b.len, &q, &err), 0, &err);
    assert_int_equal(q.version, 4);
    assert_int_equal(q.att_key_type, 2);
    assert_int_equal(q.tee_type, 0x81);
    assert_int_equal(q.body_type, MK_TDX_BODY_TD10);
    assert_ptr_equal(q.signed_data, b.data);
    assert_int_equal(q.signed_len, 632);
    assert_int_equal(q.quote_len, 4936);
    assert_int_equal(q.trailing_bytes, 70);
    assert_int_equal(q.qe_auth_len, 32);
    for (int i = 0; i < 32; i++)
        assert_int_equal(q.qe_auth_data[i], i);
    assert_int_equal(q.pck_chain_len, 3677); /* 3678 minus the NUL */
    assert_memory_equal(q.pck_chain_pem, "-----BEGIN CERTIFICATE-----", 27);
    assert_ptr_equal(q.qe_report_raw, b.data + 636 + 134);
    assert_int_equal(q.body.td_attributes, 0x10000000ull);
    assert_int_equal(q.body.xfam, 0x602e7ull);
    assert_int_equal(q.body.tee_tcb_svn[0], 6);
    assert_int_equal(q.body.tee_tcb_svn[1], 1);
    assert_int_equal(q.body.tee_tcb_svn[2], 3);
    assert_int_equal(q.body.seam_attributes, 0);
    assert_int_equal(q.qe_report.isv_svn, 6);
    assert_int_equal(q.qe_report.isv_prod_id, 2);
    assert_int_equal(q.qe_report.miscselect, 0);
    assert_int_equal(q.qe_report.mr_signer[0], 0xdc);
    assert_int_equal(q.qe_report.mr_signer[1], 0x9e);
    mk_buf_free(&b);
}

static void test_parse_google_v5(void **state) {
    (void)state;
    mk_buf b;
    load("tdx/google-v5/quote.bin", &b);
    mk_tdx_quote q;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_quote_parse(b.data, b.len, &q, &err), 0, &err);
    assert_int_equal(q.version, 5);
    assert_int_equal(q.body_type, MK_TDX_BODY_TD15);
    assert_int_equal(q.signed_len, 702);
    assert_int_equal(q.quote_len, 5006);
    assert_int_equal(q.trailing_bytes, 0);
    assert_int_equal(q.body.tee_tcb_svn[0], 0x0b);
    assert_int_equal(q.body.tee_tcb_svn2[0], 0x0d);
    assert_int_equal(q.body.tee_tcb_svn2[1], 0x01);
    assert_int_equal(q.body.tee_tcb_svn2[2], 0x04);
    assert_int_equal(q.qe_report.isv_svn, 7);
    assert_int_equal(q.pck_chain_len, 3677);
    mk_buf_free(&b);
}

static void test_parse_spr_trailing(void **state) {
    (void)state;
    mk_buf b;
    load("tdx/google-spr-v4/quote.bin", &b);
    mk_tdx_quote q;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_quote_parse(b.data, b.len, &q, &err), 0, &err);
    assert_int_equal(q.version, 4);
    assert_int_equal(q.quote_len, 4935);
    assert_int_equal(q.trailing_bytes, 39);
    assert_int_equal(q.pck_chain_len, 3677); /* no NUL to strip */
    assert_int_equal(q.body.td_attributes, 0x40000000ull);
    assert_int_equal(q.body.tee_tcb_svn[1], 0);
    assert_int_equal(q.qe_report.isv_svn, 4);
    mk_buf_free(&b);
}

static void test_parse_sgx_refused(void **state) {
    (void)state;
    mk_buf b;
    load("tdx/phala-sgx/quote.bin", &b);
    mk_tdx_quote q;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_quote_parse(b.data, b.len, &q, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "not a TDX quote");
    assert_int_equal(q.version, 0); /* zeroed on failure */
    mk_buf_free(&b);
}

static void test_parse_truncation(void **state) {
    (void)state;
    const char *files[] = {"tdx/phala-v4/quote.bin", "tdx/google-v5/quote.bin",
                           "tdx/google-spr-v4/quote.bin"};
    for (size_t f = 0; f < 3; f++) {
        mk_buf b;
        load(files[f], &b);
        mk_tdx_quote q;
        mk_error err;
        TU_ASSERT_RC(mk_tdx_quote_parse(b.data, b.len, &q, &err), 0, &err);
        size_t ql = q.quote_len;
        for (size_t n = 0; n < ql; n++) {
            /* A heap copy of exactly n bytes so ASan catches any over-read. */
            uint8_t *c = malloc(n ? n : 1);
            assert_non_null(c);
            memcpy(c, b.data, n);
            int rc = mk_tdx_quote_parse(c, n, &q, &err);
            if (rc == 0) fail_msg("%s truncated to %zu bytes was accepted", files[f], n);
            free(c);
        }
        mk_buf_free(&b);
    }
}

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Parse a mutated copy of phala-v4; returns rc, reason in err. */
static int parse_mutated(const mk_buf *b, size_t off, const uint8_t *bytes, size_t n,
                         mk_error *err) {
    uint8_t *c = malloc(b->len);
    memcpy(c, b->data, b->len);
    memcpy(c + off, bytes, n);
    mk_tdx_quote q;
    int rc = mk_tdx_quote_parse(c, b->len, &q, err);
    free(c);
    return rc;
}

static void test_parse_structure_errors(void **state) {
    (void)state;
    mk_buf b;
    load("tdx/phala-v4/quote.bin", &b);
    mk_error err;
    uint8_t v[4];

    put_u16(v, 3);
    TU_ASSERT_RC(parse_mutated(&b, 0, v, 2, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "version 3");
    put_u16(v, 3);
    TU_ASSERT_RC(parse_mutated(&b, 2, v, 2, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "attestation key type 3");
    put_u32(v, 0);
    TU_ASSERT_RC(parse_mutated(&b, 4, v, 4, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "not a TDX quote");
    v[0] = 0;
    TU_ASSERT_RC(parse_mutated(&b, 12, v, 1, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "vendor");
    /* Outer certification data type. */
    put_u16(v, 7);
    TU_ASSERT_RC(parse_mutated(&b, 636 + 128, v, 2, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "certification data type 7");
    /* Outer size one too large / small: inconsistent with sig_data_len. */
    put_u32(v, 4166 + 1);
    TU_ASSERT_RC(parse_mutated(&b, 636 + 130, v, 4, &err), MK_ETRUNC, &err);
    put_u32(v, 4166 - 1);
    TU_ASSERT_RC(parse_mutated(&b, 636 + 130, v, 4, &err), MK_EMALFORMED, &err);
    /* Huge sizes hit the caps. */
    put_u32(v, 0x7fffffff);
    TU_ASSERT_RC(parse_mutated(&b, 632, v, 4, &err), MK_ETOOBIG, &err);
    TU_ASSERT_RC(parse_mutated(&b, 636 + 130, v, 4, &err), MK_ETOOBIG, &err);
    put_u16(v, 0xffff);
    TU_ASSERT_RC(parse_mutated(&b, 770 + 448, v, 2, &err), MK_ETOOBIG, &err);
    /* sig_data_len grown into the trailing zeros: the nested size no longer
     * fills it. */
    put_u32(v, 4300 + 8);
    TU_ASSERT_RC(parse_mutated(&b, 632, v, 4, &err), MK_EMALFORMED, &err);
    /* Inner type. */
    put_u16(v, 4);
    TU_ASSERT_RC(parse_mutated(&b, 770 + 450 + 32, v, 2, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "PCK certification data type 4");
    /* Inner size inconsistent. */
    put_u32(v, 3678 - 1);
    TU_ASSERT_RC(parse_mutated(&b, 770 + 452 + 32, v, 4, &err), MK_EMALFORMED, &err);
    put_u32(v, 3678 + 1);
    TU_ASSERT_RC(parse_mutated(&b, 770 + 452 + 32, v, 4, &err), MK_ETRUNC, &err);
    /* QE auth size inconsistent. */
    put_u16(v, 33);
    TU_ASSERT_RC(parse_mutated(&b, 770 + 448, v, 2, &err), MK_EUNSUPPORTED, &err);
    mk_buf_free(&b);

    /* v5 body descriptor. */
    load("tdx/google-v5/quote.bin", &b);
    put_u16(v, 1);
    TU_ASSERT_RC(parse_mutated(&b, 48, v, 2, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "body type 1");
    put_u16(v, 2); /* TD 1.0 type with the 648-byte size */
    TU_ASSERT_RC(parse_mutated(&b, 48, v, 2, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "size 648");
    put_u32(v, 584);
    TU_ASSERT_RC(parse_mutated(&b, 50, v, 4, &err), MK_EMALFORMED, &err);
    mk_buf_free(&b);

    /* Cap on the whole input. */
    uint8_t *big = calloc(1, MK_TDX_QUOTE_MAX + 1);
    mk_tdx_quote q;
    TU_ASSERT_RC(mk_tdx_quote_parse(big, MK_TDX_QUOTE_MAX + 1, &q, &err), MK_ETOOBIG, &err);
    free(big);
    TU_ASSERT_RC(mk_tdx_quote_parse(NULL, 0, &q, &err), MK_ETRUNC, &err);
}

/* ------------------------------------------------------------------ */
/* PCK extension                                                       */
/* ------------------------------------------------------------------ */

/* The n-th certificate of a quote's PEM chain. */
static X509 *chain_cert(const char *rel, int n) {
    mk_buf b;
    load(rel, &b);
    const char *tag = "-----BEGIN CERTIFICATE-----";
    const uint8_t *p = NULL;
    for (size_t i = 0; i + 27 < b.len; i++)
        if (memcmp(b.data + i, tag, 27) == 0) {
            p = b.data + i;
            break;
        }
    assert_non_null(p);
    BIO *bio = BIO_new_mem_buf(p, (int)(b.data + b.len - p));
    X509 *x = NULL;
    for (int i = 0; i <= n; i++) {
        X509_free(x);
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        assert_non_null(x);
    }
    BIO_free(bio);
    mk_buf_free(&b);
    return x;
}

static void test_pck_from_cert(void **state) {
    (void)state;
    mk_error err;
    mk_tdx_pck_ext e;
    mk_tdx_pck_ca ca;

    X509 *leaf = chain_cert("tdx/phala-v4/quote.bin", 0);
    X509 *inter = chain_cert("tdx/phala-v4/quote.bin", 1);
    TU_ASSERT_RC(mk_tdx_pck_from_cert(leaf, inter, &e, &ca, &err), 0, &err);
    static const uint8_t comps[16] = {3, 3, 2, 2, 4, 1, 0, 5};
    assert_memory_equal(e.sgx_tcb_comp, comps, 16);
    assert_int_equal(e.pcesvn, 11);
    static const uint8_t fmspc[6] = {0xb0, 0xc0, 0x6f, 0, 0, 0};
    assert_memory_equal(e.fmspc, fmspc, 6);
    assert_int_equal(e.pce_id[0], 0);
    assert_int_equal(e.pce_id[1], 0);
    assert_int_equal(e.sgx_type, 1);
    assert_true(e.has_platform_instance_id);
    assert_int_equal(e.ppid[0], 0x81);
    assert_int_equal(e.ppid[1], 0x1d);
    static const uint8_t cpusvn[16] = {3, 3, 2, 2, 4, 1, 0, 5};
    assert_memory_equal(e.cpusvn, cpusvn, 16);
    assert_int_equal(ca, MK_TDX_CA_PLATFORM);
    /* Without the issuer certificate, the leaf's issuer name is used. */
    TU_ASSERT_RC(mk_tdx_pck_from_cert(leaf, NULL, &e, &ca, &err), 0, &err);
    assert_int_equal(ca, MK_TDX_CA_PLATFORM);
    /* An issuer that is not a PCK CA. */
    TU_ASSERT_RC(mk_tdx_pck_from_cert(leaf, leaf, &e, &ca, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "neither the Platform nor the Processor CA");
    /* A certificate without the extension. */
    TU_ASSERT_RC(mk_tdx_pck_from_cert(inter, NULL, &e, &ca, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "missing");
    X509_free(leaf);
    X509_free(inter);

    leaf = chain_cert("tdx/google-v5/quote.bin", 0);
    TU_ASSERT_RC(mk_tdx_pck_from_cert(leaf, NULL, &e, &ca, &err), 0, &err);
    assert_int_equal(e.pcesvn, 13);
    static const uint8_t fmspc5[6] = {0x90, 0xc0, 0x6f, 0, 0, 0};
    assert_memory_equal(e.fmspc, fmspc5, 6);
    X509_free(leaf);

    /* Processor CA, no platform instance id, component 5 = 255 (02 02 00 FF). */
    leaf = chain_cert("tdx/phala-sgx/quote.bin", 0);
    TU_ASSERT_RC(mk_tdx_pck_from_cert(leaf, NULL, &e, &ca, &err), 0, &err);
    assert_int_equal(ca, MK_TDX_CA_PROCESSOR);
    assert_false(e.has_platform_instance_id);
    assert_int_equal(e.sgx_type, 0);
    assert_int_equal(e.sgx_tcb_comp[4], 255);
    X509_free(leaf);
}

/* A small DER writer for hand-made extensions. */
typedef struct derbuf {
    uint8_t b[2048];
    size_t n;
} derbuf;

static void d_raw(derbuf *d, const void *p, size_t n) {
    assert_true(d->n + n <= sizeof d->b);
    if (n) memcpy(d->b + d->n, p, n);
    d->n += n;
}
static void d_tlv(derbuf *d, uint8_t tag, const void *v, size_t n) {
    uint8_t h[4];
    size_t hl;
    h[0] = tag;
    if (n < 128) {
        h[1] = (uint8_t)n;
        hl = 2;
    } else {
        h[1] = 0x82;
        h[2] = (uint8_t)(n >> 8);
        h[3] = (uint8_t)n;
        hl = 4;
    }
    d_raw(d, h, hl);
    d_raw(d, v, n);
}
static void d_oid(derbuf *d, int a, int b) {
    uint8_t o[11] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, (uint8_t)a, (uint8_t)b};
    d_tlv(d, 0x06, o, b ? 11 : 10);
}

typedef struct ext_opts {
    int omit;      /* top-level field number to omit (0: none) */
    int omit_tcb;  /* TCB field number to omit */
    int dup;       /* top-level field to duplicate */
    int comp5_len; /* content length of component 5 (1 or 2) */
    uint8_t comp5[2];
    int sgx_type;
    int fmspc_len;
} ext_opts;

static void build_ext(derbuf *out, const ext_opts *o) {
    derbuf tcb = {.n = 0};
    for (int f = 1; f <= 18; f++) {
        if (f == o->omit_tcb) continue;
        derbuf e = {.n = 0};
        d_oid(&e, 2, f);
        if (f <= 16) {
            if (f == 5)
                d_tlv(&e, 0x02, o->comp5, (size_t)o->comp5_len);
            else {
                uint8_t v = (uint8_t)f;
                d_tlv(&e, 0x02, &v, 1);
            }
        } else if (f == 17) {
            uint8_t v[2] = {0x01, 0x00}; /* 256 */
            d_tlv(&e, 0x02, v, 2);
        } else {
            uint8_t v[16] = {9};
            d_tlv(&e, 0x04, v, 16);
        }
        d_tlv(&tcb, 0x30, e.b, e.n);
    }
    derbuf top = {.n = 0};
    for (int f = 1; f <= 6; f++) {
        if (f == o->omit) continue;
        for (int rep = 0; rep < (f == o->dup ? 2 : 1); rep++) {
            derbuf e = {.n = 0};
            d_oid(&e, f, 0);
            uint8_t z[16] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66};
            switch (f) {
            case 1:
                d_tlv(&e, 0x04, z, 16);
                break;
            case 2:
                d_tlv(&e, 0x30, tcb.b, tcb.n);
                break;
            case 3:
                d_tlv(&e, 0x04, z, 2);
                break;
            case 4:
                d_tlv(&e, 0x04, z, (size_t)o->fmspc_len);
                break;
            case 5: {
                uint8_t t = (uint8_t)o->sgx_type;
                d_tlv(&e, 0x0a, &t, 1);
                break;
            }
            case 6:
                d_tlv(&e, 0x04, z, 16);
                break;
            }
            d_tlv(&top, 0x30, e.b, e.n);
        }
    }
    /* An unknown OID outside the SGX arc is ignored. */
    derbuf u = {.n = 0};
    static const uint8_t other[] = {0x2a, 0x03};
    d_tlv(&u, 0x06, other, 2);
    d_tlv(&u, 0x05, NULL, 0);
    d_tlv(&top, 0x30, u.b, u.n);
    out->n = 0;
    d_tlv(out, 0x30, top.b, top.n);
}

static void ext_defaults(ext_opts *o) {
    memset(o, 0, sizeof *o);
    o->comp5_len = 2;
    o->comp5[0] = 0x00;
    o->comp5[1] = 0xff;
    o->sgx_type = 1;
    o->fmspc_len = 6;
}

static void test_pck_ext_handmade(void **state) {
    (void)state;
    mk_error err;
    mk_tdx_pck_ext e;
    derbuf d;
    ext_opts o;

    ext_defaults(&o);
    build_ext(&d, &o);
    TU_ASSERT_RC(mk_tdx_pck_ext_parse(d.b, d.n, &e, &err), 0, &err);
    assert_int_equal(e.sgx_tcb_comp[4], 255);
    assert_int_equal(e.sgx_tcb_comp[0], 1);
    assert_int_equal(e.sgx_tcb_comp[15], 16);
    assert_int_equal(e.pcesvn, 256);
    assert_int_equal(e.cpusvn[0], 9);
    assert_int_equal(e.fmspc[0], 0x11);
    assert_true(e.has_platform_instance_id);

    /* Trailing garbage and truncation. */
    uint8_t buf[2100];
    memcpy(buf, d.b, d.n);
    buf[d.n] = 0;
    TU_ASSERT_RC(mk_tdx_pck_ext_parse(buf, d.n + 1, &e, &err), MK_EMALFORMED, &err);
    for (size_t n = 0; n < d.n; n++)
        assert_true(mk_tdx_pck_ext_parse(d.b, n, &e, &err) < 0);

    /* Missing mandatory fields name the field. */
    const struct {
        int omit, omit_tcb;
        const char *name;
    } miss[] = {{1, 0, "PPID"},    {2, 0, "TCB"},      {3, 0, "PCE-ID"},
                {4, 0, "FMSPC"},   {5, 0, "SGX type"}, {0, 7, "TCB component 7"},
                {0, 17, "PCESVN"}, {0, 18, "CPUSVN"}};
    for (size_t i = 0; i < sizeof miss / sizeof miss[0]; i++) {
        ext_defaults(&o);
        o.omit = miss[i].omit;
        o.omit_tcb = miss[i].omit_tcb;
        build_ext(&d, &o);
        TU_ASSERT_RC(mk_tdx_pck_ext_parse(d.b, d.n, &e, &err), MK_EMALFORMED, &err);
        TU_ASSERT_REASON(&err, miss[i].name);
        TU_ASSERT_REASON(&err, "missing");
    }
    /* Optional platform instance id. */
    ext_defaults(&o);
    o.omit = 6;
    build_ext(&d, &o);
    TU_ASSERT_RC(mk_tdx_pck_ext_parse(d.b, d.n, &e, &err), 0, &err);
    assert_false(e.has_platform_instance_id);
    /* Out of range values. */
    ext_defaults(&o);
    o.comp5[0] = 0x01;
    o.comp5[1] = 0x00; /* 256 */
    build_ext(&d, &o);
    TU_ASSERT_RC(mk_tdx_pck_ext_parse(d.b, d.n, &e, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "TCB component 5");
    ext_defaults(&o);
    o.comp5_len = 1;
    o.comp5[0] = 0xff; /* -1 */
    build_ext(&d, &o);
    TU_ASSERT_RC(mk_tdx_pck_ext_parse(d.b, d.n, &e, &err), MK_EMALFORMED, &err);
    ext_defaults(&o);
    o.sgx_type = 3;
    build_ext(&d, &o);
    TU_ASSERT_RC(mk_tdx_pck_ext_parse(d.b, d.n, &e, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "SGX type");
    ext_defaults(&o);
    o.fmspc_len = 5;
    build_ext(&d, &o);
    TU_ASSERT_RC(mk_tdx_pck_ext_parse(d.b, d.n, &e, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "FMSPC");
    ext_defaults(&o);
    o.dup = 4;
    build_ext(&d, &o);
    TU_ASSERT_RC(mk_tdx_pck_ext_parse(d.b, d.n, &e, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "duplicate");
    /* Not a sequence; too big. */
    static const uint8_t notseq[] = {0x04, 0x00};
    TU_ASSERT_RC(mk_tdx_pck_ext_parse(notseq, 2, &e, &err), MK_EMALFORMED, &err);
    static uint8_t big[8192];
    TU_ASSERT_RC(mk_tdx_pck_ext_parse(big, sizeof big, &e, &err), MK_ETOOBIG, &err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_pinned),
        cmocka_unit_test(test_parse_phala_v4),
        cmocka_unit_test(test_parse_google_v5),
        cmocka_unit_test(test_parse_spr_trailing),
        cmocka_unit_test(test_parse_sgx_refused),
        cmocka_unit_test(test_parse_truncation),
        cmocka_unit_test(test_parse_structure_errors),
        cmocka_unit_test(test_pck_from_cert),
        cmocka_unit_test(test_pck_ext_handmade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
