/*
 * tests/unit/tdx/test_quote.c — quote structure, PCK extension, pinned root,
 * certificate chains and CRLs (quote.c, pck.c, intel_root.c, x509.c).
 */
#include "testutil.h"

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

/* ------------------------------------------------------------------ */
/* Chains                                                              */
/* ------------------------------------------------------------------ */

static void quote_pem(const char *rel, mk_buf *b, const char **pem, size_t *len) {
    load(rel, b);
    mk_tdx_quote q;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_quote_parse(b->data, b->len, &q, &err), 0, &err);
    *pem = (const char *)q.pck_chain_pem;
    *len = q.pck_chain_len;
}

static void test_chain_real(void **state) {
    (void)state;
    mk_tdx_trust *t = mk_tdx_trust_new();
    assert_non_null(t);
    mk_buf b;
    const char *pem;
    size_t len;
    mk_error err;
    mk_tdx_chain ch;
    quote_pem("tdx/phala-v4/quote.bin", &b, &pem, &len);
    for (int round = 0; round < 2; round++) { /* cold, then warm (cached intermediate) */
        TU_ASSERT_RC(mk_tdx_chain_verify_pem(t, pem, len, T_PHALA, &ch, &err), 0, &err);
        assert_non_null(ch.leaf);
        assert_non_null(ch.intermediate);
        assert_non_null(ch.leaf_key);
        assert_false(ch.simulated);
        /* Leaf valid to 2032-02-06; that is the earliest notAfter. */
        char ts[MK_RFC3339_LEN];
        mk_time_format_rfc3339(ch.not_after, ts);
        assert_memory_equal(ts, "2032-02-06", 10);
        mk_tdx_chain_free(&ch);
    }
    /* Before the leaf's notBefore (2025-02-06), after everything's notAfter. */
    TU_ASSERT_RC(mk_tdx_chain_verify_pem(t, pem, len, 1704067200, &ch, &err), MK_ENOTYET, &err);
    TU_ASSERT_REASON(&err, "Intel SGX PCK Certificate");
    TU_ASSERT_REASON(&err, "not valid before 2025-02-06");
    TU_ASSERT_RC(mk_tdx_chain_verify_pem(t, pem, len, T_2053, &ch, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "expired at");
    mk_buf_free(&b);

    quote_pem("tdx/google-v5/quote.bin", &b, &pem, &len);
    TU_ASSERT_RC(mk_tdx_chain_verify_pem(t, pem, len, T_GOOGLE_V5, &ch, &err), 0, &err);
    mk_tdx_chain_free(&ch);
    mk_buf_free(&b);

    quote_pem("tdx/google-spr-v4/quote.bin", &b, &pem, &len);
    TU_ASSERT_RC(mk_tdx_chain_verify_pem(t, pem, len, T_SPR, &ch, &err), 0, &err);
    mk_tdx_chain_free(&ch);
    TU_ASSERT_RC(mk_tdx_chain_verify_pem(t, pem, len, T_2053, &ch, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "expired at");
    /* Only leaf + intermediate (no root copy) still verifies. */
    const char *end = strstr(pem + 1, "-----BEGIN CERTIFICATE-----");
    end = strstr(end + 1, "-----BEGIN CERTIFICATE-----");
    assert_non_null(end);
    TU_ASSERT_RC(mk_tdx_chain_verify_pem(t, pem, (size_t)(end - pem), T_SPR, &ch, &err), 0, &err);
    mk_tdx_chain_free(&ch);
    /* Only the leaf: its issuer is not a trusted root. */
    const char *second = strstr(pem + 1, "-----BEGIN CERTIFICATE-----");
    TU_ASSERT_RC(mk_tdx_chain_verify_pem(t, pem, (size_t)(second - pem), T_SPR, &ch, &err),
                 MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "chain does not end in the Intel SGX Root CA");
    /* Garbage. */
    TU_ASSERT_RC(mk_tdx_chain_verify_pem(t, "hello", 5, T_SPR, &ch, &err), MK_EMALFORMED, &err);
    char broken[4000];
    memcpy(broken, pem, len);
    broken[100] = '*';
    TU_ASSERT_RC(mk_tdx_chain_verify_pem(t, broken, len, T_SPR, &ch, &err), MK_EMALFORMED, &err);
    mk_buf_free(&b);
    mk_tdx_trust_free(t);
}

/* ---- a forged PKI with Intel's names ---- */

static EVP_PKEY *gen_key(void) {
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    return k;
}

static X509 *make_cert(X509_NAME *subject, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                       bool ca, long serial, X509_EXTENSION *extra) {
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_set_subject_name(x, subject);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject);
    ASN1_TIME_set(X509_getm_notBefore(x), 1600000000);
    ASN1_TIME_set(X509_getm_notAfter(x), 2500000000LL);
    X509_set_pubkey(x, key);
    X509V3_CTX c;
    X509V3_set_ctx(&c, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &c, NID_basic_constraints,
                                             ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    X509_add_ext(x, bc, -1);
    X509_EXTENSION_free(bc);
    if (extra) X509_add_ext(x, extra, -1);
    assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
    return x;
}

typedef struct fake_pki {
    EVP_PKEY *root_key, *ca_key, *leaf_key;
    X509 *root, *ca, *leaf;
    char pem[8192];
    size_t pem_len;
} fake_pki;

/* A root with exactly the Intel root's subject, a "Intel SGX PCK Platform
 * CA" and a leaf carrying the real phala-v4 SGX extension. */
static void fake_pki_make(fake_pki *f) {
    memset(f, 0, sizeof *f);
    X509 *real_root = NULL;
    size_t rl;
    const uint8_t *rd = mk_tdx_intel_root_der(&rl);
    real_root = d2i_X509(NULL, &rd, (long)rl);
    X509 *real_leaf = chain_cert("tdx/phala-v4/quote.bin", 0);
    X509 *real_ca = chain_cert("tdx/phala-v4/quote.bin", 1);
    f->root_key = gen_key();
    f->ca_key = gen_key();
    f->leaf_key = gen_key();
    f->root =
        make_cert(X509_get_subject_name(real_root), f->root_key, NULL, f->root_key, true, 1, NULL);
    f->ca =
        make_cert(X509_get_subject_name(real_ca), f->ca_key, f->root, f->root_key, true, 2, NULL);
    ASN1_OBJECT *sgx = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    int idx = X509_get_ext_by_OBJ(real_leaf, sgx, -1);
    ASN1_OBJECT_free(sgx);
    assert_true(idx >= 0);
    f->leaf = make_cert(X509_get_subject_name(real_leaf), f->leaf_key, f->ca, f->ca_key, false, 3,
                        X509_get_ext(real_leaf, idx));
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, f->leaf);
    PEM_write_bio_X509(bio, f->ca);
    PEM_write_bio_X509(bio, f->root);
    f->pem_len = (size_t)BIO_read(bio, f->pem, sizeof f->pem - 1);
    BIO_free(bio);
    X509_free(real_root);
    X509_free(real_leaf);
    X509_free(real_ca);
}

static void fake_pki_free(fake_pki *f) {
    X509_free(f->root);
    X509_free(f->ca);
    X509_free(f->leaf);
    EVP_PKEY_free(f->root_key);
    EVP_PKEY_free(f->ca_key);
    EVP_PKEY_free(f->leaf_key);
}

static void test_chain_forged_root(void **state) {
    (void)state;
    mk_tdx_trust *t = mk_tdx_trust_new();
    fake_pki f;
    fake_pki_make(&f);
    mk_error err;
    mk_tdx_chain ch;
    TU_ASSERT_RC(mk_tdx_chain_verify_pem(t, f.pem, f.pem_len, T_PHALA, &ch, &err), MK_EUNTRUSTED,
                 &err);
    TU_ASSERT_REASON(&err, "chain does not end in the Intel SGX Root CA");
    TU_ASSERT_REASON(&err, "'Intel SGX Root CA'");
    /* Without the root copy: the forged CA is not issued by the real root. */
    const char *third = strstr(strstr(f.pem + 1, "-----BEGIN") + 1, "-----BEGIN");
    int rc = mk_tdx_chain_verify_pem(t, f.pem, (size_t)(third - f.pem), T_PHALA, &ch, &err);
    assert_true(rc == MK_EUNTRUSTED || rc == MK_EBADSIG);
    /* Trusting the forged root as a simulator root makes it verify, flagged. */
    unsigned char *der = NULL;
    int dl = i2d_X509(f.root, &der);
    TU_ASSERT_RC(mk_tdx_trust_add_sim_root(t, der, (size_t)dl, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_chain_verify_pem(t, f.pem, f.pem_len, T_PHALA, &ch, &err), 0, &err);
    assert_true(ch.simulated);
    assert_non_null(mk_tdx_trust_root(t, true));
    mk_tdx_chain_free(&ch);
    /* Again through the intermediate cache. */
    TU_ASSERT_RC(mk_tdx_chain_verify_pem(t, f.pem, f.pem_len, T_PHALA, &ch, &err), 0, &err);
    assert_true(ch.simulated);
    mk_tdx_chain_free(&ch);
    /* A second, different simulator root is refused. */
    fake_pki g;
    fake_pki_make(&g);
    unsigned char *der2 = NULL;
    int dl2 = i2d_X509(g.root, &der2);
    TU_ASSERT_RC(mk_tdx_trust_add_sim_root(t, der2, (size_t)dl2, &err), MK_ESTATE, &err);
    /* Garbage simulator root. */
    TU_ASSERT_RC(mk_tdx_trust_add_sim_root(t, der2, 10, &err), MK_EMALFORMED, &err);
    OPENSSL_free(der);
    OPENSSL_free(der2);
    fake_pki_free(&f);
    fake_pki_free(&g);
    mk_tdx_trust_free(t);
}

/* ------------------------------------------------------------------ */
/* CRLs                                                                */
/* ------------------------------------------------------------------ */

static void test_crl(void **state) {
    (void)state;
    mk_tdx_trust *t = mk_tdx_trust_new();
    mk_error err;
    mk_buf b;
    const char *pem;
    size_t len;
    mk_tdx_chain ch;
    quote_pem("tdx/google-spr-v4/quote.bin", &b, &pem, &len);
    TU_ASSERT_RC(mk_tdx_chain_verify_pem(t, pem, len, T_SPR, &ch, &err), 0, &err);

    mk_buf c;
    load("tdx/intel/pck_platform_crl.der", &c);
    X509_CRL *crl = NULL;
    TU_ASSERT_RC(mk_tdx_crl_parse(c.data, c.len, &crl, &err), 0, &err);
    /* 2023-06-08 -> 2023-07-08 */
    TU_ASSERT_RC(mk_tdx_crl_check(crl, ch.intermediate, T_SPR, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_crl_check(crl, ch.intermediate, 1686000000, &err), MK_ENOTYET, &err);
    TU_ASSERT_RC(mk_tdx_crl_check(crl, ch.intermediate, 1690000000, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "expired at 2023-07-08");
    X509 *root = mk_tdx_trust_root(t, false);
    TU_ASSERT_RC(mk_tdx_crl_check(crl, root, T_SPR, &err), MK_EMISMATCH, &err);
    TU_ASSERT_RC(mk_tdx_crl_lookup(crl, ch.leaf, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_crl_lookup(crl, ch.intermediate, &err), MK_EMISMATCH, &err);

    /* A certificate with a revoked serial and the Platform CA as issuer. */
    const STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
    assert_int_equal(sk_X509_REVOKED_num(revs), 44);
    X509_REVOKED *r0 = sk_X509_REVOKED_value(revs, 0);
    X509 *victim = X509_dup(ch.leaf);
    X509_set_serialNumber(victim, (ASN1_INTEGER *)X509_REVOKED_get0_serialNumber(r0));
    TU_ASSERT_RC(mk_tdx_crl_lookup(crl, victim, &err), MK_EREVOKED, &err);
    TU_ASSERT_REASON(&err, "revoked");
    X509_free(victim);

    /* A tampered CRL does not verify. */
    uint8_t *bad = malloc(c.len);
    memcpy(bad, c.data, c.len);
    bad[c.len - 10] ^= 1;
    X509_CRL *crl2 = NULL;
    TU_ASSERT_RC(mk_tdx_crl_parse(bad, c.len, &crl2, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_crl_check(crl2, ch.intermediate, T_SPR, &err), MK_EBADSIG, &err);
    X509_CRL_free(crl2);
    /* Trailing bytes, truncation. */
    uint8_t *longer = malloc(c.len + 1);
    memcpy(longer, c.data, c.len);
    longer[c.len] = 0;
    TU_ASSERT_RC(mk_tdx_crl_parse(longer, c.len + 1, &crl2, &err), MK_EMALFORMED, &err);
    TU_ASSERT_RC(mk_tdx_crl_parse(c.data, c.len - 1, &crl2, &err), MK_EMALFORMED, &err);
    free(longer);
    free(bad);
    /* PEM form. */
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_CRL(bio, crl);
    char *p = NULL;
    long pl = BIO_get_mem_data(bio, &p);
    TU_ASSERT_RC(mk_tdx_crl_parse((const uint8_t *)p, (size_t)pl, &crl2, &err), 0, &err);
    X509_CRL_free(crl2);
    BIO_free(bio);
    X509_CRL_free(crl);
    mk_buf_free(&c);

    /* Root CA CRL: 2023-04-03 -> 2024-04-02, signed by the root. */
    load("tdx/intel/root_ca_crl.der", &c);
    TU_ASSERT_RC(mk_tdx_crl_parse(c.data, c.len, &crl, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_crl_check(crl, root, T_SPR, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_crl_lookup(crl, ch.intermediate, &err), 0, &err);
    X509_CRL_free(crl);
    mk_buf_free(&c);

    mk_tdx_chain_free(&ch);
    mk_buf_free(&b);
    mk_tdx_trust_free(t);
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
        cmocka_unit_test(test_chain_real),
        cmocka_unit_test(test_chain_forged_root),
        cmocka_unit_test(test_crl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
