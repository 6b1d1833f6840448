/*
 * tests/unit/tee/snp/test_snp_certs.c — AMD's built-in certificates (the pins,
 * equality with AMD's published chains, every ASK/ASVK signed by its ARK)
 * and the VCEK/VLEK extension parser (ext.c) on every shared leaf and on
 * malformed values.
 */
#include "test_util.h"

#include <openssl/x509.h>

#include "tee/snp/snp_internal.h"
#include "tee/tee_internal.h"

/* The SHA-256 pins as published (docs/snp-verification.md): typed here,
 * not computed, so a changed certificate or pin table fails this test. */
static const struct {
    mk_snp_product p;
    mk_snp_ca ca;
    const char *sha256;
    const char *cn;
} PINS[] = {
    {MK_SNP_MILAN, MK_SNP_CA_ARK,
     "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd", "ARK-Milan"},
    {MK_SNP_MILAN, MK_SNP_CA_ASK,
     "67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b", "SEV-Milan"},
    {MK_SNP_MILAN, MK_SNP_CA_ASVK,
     "c5e081f59b7efab1fe2f8b505e159704e72f29cab7ef7cf628a05a42439082f5", "SEV-VLEK-Milan"},
    {MK_SNP_GENOA, MK_SNP_CA_ARK,
     "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1", "ARK-Genoa"},
    {MK_SNP_GENOA, MK_SNP_CA_ASK,
     "5464738c1546aed5f2cecf1dc98c5c960a92e8913238a61711bc90ec6e828521", "SEV-Genoa"},
    {MK_SNP_GENOA, MK_SNP_CA_ASVK,
     "197e610743a917d6b9bb982a5a9226ccc0a15b611be0619e626aca9151457372", "SEV-VLEK-Genoa"},
    {MK_SNP_TURIN, MK_SNP_CA_ARK,
     "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a", "ARK-Turin"},
    {MK_SNP_TURIN, MK_SNP_CA_ASK,
     "5b77ef5fe7a7a004fd9032668fba9d0fda22f88c4442069a479636a6ae3b3185", "SEV-Turin"},
    {MK_SNP_TURIN, MK_SNP_CA_ASVK,
     "104e10a8bd060a3c20a434261a57d0588fd65a88915b4f65b08bdecaf8df1a3c", "SEV-VLEK-Turin"},
};

static void test_pins(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof PINS / sizeof PINS[0]; i++) {
        size_t len = 0;
        const uint8_t *der = mk_snp_amd_cert_der(PINS[i].p, PINS[i].ca, &len);
        assert_non_null(der);
        assert_true(len > 1000);
        uint8_t h[32];
        char hex[65];
        mk_sha256(der, len, h);
        mk_hex_encode(h, 32, hex);
        assert_string_equal(hex, PINS[i].sha256);
        mk_hex_encode(mk_snp_amd_cert_pin(PINS[i].p, PINS[i].ca), 32, hex);
        assert_string_equal(hex, PINS[i].sha256);
        char cn[64];
        mk_tee_cert_name(mk_snp_amd_cert_x509(PINS[i].p, PINS[i].ca), cn, sizeof cn);
        assert_string_equal(cn, PINS[i].cn);
    }
    size_t len = 7;
    assert_null(mk_snp_amd_cert_der(MK_SNP_PRODUCT_UNKNOWN, MK_SNP_CA_ARK, &len));
    assert_int_equal(len, 0);
    assert_null(mk_snp_amd_cert_pin((mk_snp_product)9, MK_SNP_CA_ARK));
}

/* The built-in certificates are AMD's published chains (the shared copies),
 * byte for byte, and each intermediate is signed by its ARK. */
static void test_builtin_equal_published(void **state) {
    (void)state;
    static const char *const prod[] = {"milan", "genoa", "turin"};
    for (int p = 0; p < 3; p++) {
        for (int vlek = 0; vlek < 2; vlek++) {
            char rel[128];
            snprintf(rel, sizeof rel, "snp/roots/%s_%s_chain.pem", prod[p], vlek ? "vlek" : "vcek");
            mk_buf b;
            mk_buf_init(&b, 0);
            tu_read_testdata(rel, &b);
            mk_snp_cert_list l = {0};
            mk_error err;
            TU_ASSERT_RC(mk_snp_certs_read(b.data, b.len, &l, &err), 0, &err);
            assert_int_equal(l.n, 2);
            mk_snp_product pr = (mk_snp_product)(MK_SNP_MILAN + p);
            X509 *inter = mk_snp_amd_cert_x509(pr, vlek ? MK_SNP_CA_ASVK : MK_SNP_CA_ASK);
            X509 *ark = mk_snp_amd_cert_x509(pr, MK_SNP_CA_ARK);
            assert_true(mk_tee_same_der(l.cert[0], inter));
            assert_true(mk_tee_same_der(l.cert[1], ark));
            assert_true(mk_snp_cert_signed_by(inter, ark));
            assert_true(mk_snp_cert_signed_by(ark, ark));
            /* Not across products. */
            X509 *other =
                mk_snp_amd_cert_x509((mk_snp_product)(MK_SNP_MILAN + (p + 1) % 3), MK_SNP_CA_ARK);
            assert_false(mk_snp_cert_signed_by(inter, other));
            mk_snp_cert_list_free(&l);
            mk_buf_free(&b);
        }
    }
}

static void info_of(const char *rel, mk_snp_cert_info *ci) {
    mk_buf b;
    mk_buf_init(&b, 0);
    tu_read_testdata(rel, &b);
    mk_error err;
    TU_ASSERT_RC(mk_snp_cert_info_read(b.data, b.len, ci, &err), 0, &err);
    mk_buf_free(&b);
}

static void test_leaf_extensions(void **state) {
    (void)state;
    mk_snp_cert_info ci;
    char hex[129];

    info_of("snp/virtee-milan/vcek.der", &ci);
    assert_int_equal(ci.kind, MK_SNP_KEY_VCEK);
    assert_string_equal(ci.product_name, "Milan-B0");
    assert_int_equal(ci.product, MK_SNP_MILAN);
    assert_int_equal(ci.struct_version, 0);
    assert_int_equal(ci.tcb.bootloader, 3);
    assert_int_equal(ci.tcb.tee, 0);
    assert_int_equal(ci.tcb.snp, 8);
    assert_int_equal(ci.tcb.microcode, 115);
    assert_false(ci.has_fmc);
    assert_int_equal(ci.hwid_len, 64);
    mk_hex_encode(ci.hwid, 4, hex);
    assert_string_equal(hex, "d49554ec");
    assert_int_equal(ci.not_before, 1680549823); /* 2023-04-03T19:23:43Z */

    info_of("snp/ms-genoa/vcek.pem", &ci); /* PEM */
    assert_string_equal(ci.product_name, "Genoa");
    assert_int_equal(ci.product, MK_SNP_GENOA);
    assert_int_equal(ci.tcb.bootloader, 10);
    assert_int_equal(ci.tcb.snp, 23);
    assert_int_equal(ci.tcb.microcode, 84);

    info_of("snp/virtee-turin-chain/vcek.der", &ci);
    assert_int_equal(ci.product, MK_SNP_TURIN);
    assert_int_equal(ci.struct_version, 1);
    assert_true(ci.has_fmc);
    assert_int_equal(ci.tcb.fmc, 0);
    assert_int_equal(ci.tcb.microcode, 9);
    assert_int_equal(ci.hwid_len, 8);
    mk_hex_encode(ci.hwid, 8, hex);
    assert_string_equal(hex, "1e550a8ee5cf9f4d");

    info_of("snp/trustee-vlek/vlek.der", &ci);
    assert_int_equal(ci.kind, MK_SNP_KEY_VLEK);
    assert_string_equal(ci.product_name, "Milan");
    assert_string_equal(ci.csp_id, "CN=cc-us-east-2.amazonaws.com");
    assert_int_equal(ci.hwid_len, 0);
    assert_int_equal(ci.tcb.microcode, 217);
    assert_int_equal(ci.tcb.snp, 24);

    /* hwID raw and wrapped in an OCTET STRING. */
    info_of("snp/trustee-milan/vcek-invalid-legacy.der", &ci);
    assert_int_equal(ci.hwid_len, 64);
    assert_int_equal(ci.hwid[0], 0);
    assert_int_equal(ci.hwid[63], 0x3f);
    assert_int_equal(ci.tcb.microcode, 169);
    info_of("snp/trustee-milan/vcek-invalid-new.der", &ci);
    assert_int_equal(ci.hwid_len, 64);
    assert_int_equal(ci.hwid[63], 0x3f);
    assert_int_equal(ci.tcb.microcode, 30);
}

static void test_ext_values(void **state) {
    (void)state;
    mk_snp_cert_info ci;
    unsigned seen;
    mk_error err;
#define DEC(id, ...)                                                                               \
    mk_snp_ext_decode(id, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}),  \
                      &ci, &seen, &err)
    memset(&ci, 0, sizeof ci);
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_UCODE_SPL, 0x02, 0x02, 0x00, 0xd9), 0);
    assert_int_equal(ci.tcb.microcode, 217);
    assert_int_equal(DEC(MK_SNP_EXT_UCODE_SPL, 0x02, 0x01, 0x01), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "ucodeSPL appears twice");
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_BL_SPL, 0x02, 0x01, 0x80), MK_EMALFORMED); /* negative */
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_BL_SPL, 0x02, 0x02, 0x00, 0x05),
                     MK_EMALFORMED); /* not minimal */
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_BL_SPL, 0x02, 0x02, 0x01, 0x00), MK_EMALFORMED); /* 256 */
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_BL_SPL, 0x04, 0x01, 0x01), MK_EMALFORMED); /* not INTEGER */
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_BL_SPL, 0x02, 0x01, 0x01, 0x00), MK_EMALFORMED); /* trailing */
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_BL_SPL, 0x02, 0x05, 0x01), MK_EMALFORMED); /* truncated */
    TU_ASSERT_REASON(
        &err, "AMD extension 1.3.6.1.4.1.3704.1.3.1 (3 bytes): blSPL: want an INTEGER in 0..255");
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_PRODUCT_NAME, 0x16, 0x05, 'G', 'e', 'n', 'o', 'a'), 0);
    assert_int_equal(ci.product, MK_SNP_GENOA);
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_PRODUCT_NAME, 0x0c, 0x05, 'G', 'e', 'n', 'o', 'a'),
                     MK_EMALFORMED); /* UTF8String */
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_PRODUCT_NAME, 0x16, 0x02, 'A', 0x01), MK_EMALFORMED);
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_PRODUCT_NAME, 0x16, 0x05, 'V', 'e', 'n', 'c', 'e'), 0);
    assert_int_equal(ci.product, MK_SNP_PRODUCT_UNKNOWN); /* read; the verifier refuses it */
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_HWID, 1, 2, 3, 4, 5, 6, 7, 8), 0);
    assert_int_equal(ci.hwid_len, 8);
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_HWID, 0x04, 0x08, 1, 2, 3, 4, 5, 6, 7, 8), 0);
    assert_int_equal(ci.hwid_len, 8);
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_HWID, 1, 2, 3), MK_EMALFORMED);
    seen = 0;
    assert_int_equal(DEC(MK_SNP_EXT_HWID, 0x04, 0x03, 1, 2, 3), MK_EMALFORMED);
#undef DEC
    assert_int_equal(mk_snp_ext_lookup("1.3.6.1.4.1.3704.1.3.8"), MK_SNP_EXT_UCODE_SPL);
    assert_int_equal(mk_snp_ext_lookup("1.3.6.1.4.1.3704.1.3.10"), -1);
    assert_int_equal(mk_snp_ext_lookup("1.3.6.1.4.1.3704.2.1"), -1);
}

static void test_ext_finish(void **state) {
    (void)state;
    mk_snp_cert_info ci;
    mk_error err;
    unsigned base = (1u << MK_SNP_EXT_PRODUCT_NAME) | (1u << MK_SNP_EXT_BL_SPL) |
                    (1u << MK_SNP_EXT_TEE_SPL) | (1u << MK_SNP_EXT_SNP_SPL) |
                    (1u << MK_SNP_EXT_UCODE_SPL);
    memset(&ci, 0, sizeof ci);
    assert_int_equal(mk_snp_ext_finish(base | (1u << MK_SNP_EXT_HWID), &ci, &err), 0);
    assert_int_equal(ci.kind, MK_SNP_KEY_VCEK);
    assert_int_equal(mk_snp_ext_finish(base | (1u << MK_SNP_EXT_CSP_ID), &ci, &err), 0);
    assert_int_equal(ci.kind, MK_SNP_KEY_VLEK);
    assert_int_equal(mk_snp_ext_finish(base, &ci, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "neither hwID nor csp_id");
    assert_int_equal(
        mk_snp_ext_finish(base | (1u << MK_SNP_EXT_HWID) | (1u << MK_SNP_EXT_CSP_ID), &ci, &err),
        MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "both hwID and csp_id");
    assert_int_equal(
        mk_snp_ext_finish((base & ~(1u << MK_SNP_EXT_UCODE_SPL)) | (1u << MK_SNP_EXT_HWID), &ci,
                          &err),
        MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "VCEK certificate: ucodeSPL (1.3.6.1.4.1.3704.1.3.8) missing");
    ci.struct_version = 1;
    ci.has_fmc = false;
    assert_int_equal(mk_snp_ext_finish(base | (1u << MK_SNP_EXT_HWID), &ci, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "fmcSPL");
}

static void test_cert_reading(void **state) {
    (void)state;
    mk_snp_cert_list l = {0};
    mk_error err;
    static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    assert_int_equal(mk_snp_certs_read(junk, sizeof junk, &l, &err), MK_EMALFORMED);
    assert_int_equal(mk_snp_certs_read(junk, 0, &l, &err), MK_EMALFORMED);
    mk_buf b;
    mk_buf_init(&b, 0);
    tu_read_testdata("snp/virtee-milan/vcek.der", &b);
    assert_int_equal(mk_buf_append(&b, "x", 1), 0);
    assert_int_equal(mk_snp_certs_read(b.data, b.len, &l, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "1 bytes after it");
    TU_ASSERT_RC(mk_snp_certs_read(b.data, b.len - 1, &l, &err), 0, &err);
    assert_int_equal(l.n, 1);
    mk_snp_cert_list_free(&l);
    mk_buf_free(&b);
    static const char bad_pem[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert_int_equal(mk_snp_certs_read((const uint8_t *)bad_pem, strlen(bad_pem), &l, &err),
                     MK_EMALFORMED);
    mk_snp_cert_info ci;
    mk_buf_init(&b, 0);
    tu_read_testdata("snp/roots/milan_vcek_chain.pem", &b);
    assert_int_equal(mk_snp_cert_info_read(b.data, b.len, &ci, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "neither hwID nor csp_id"); /* an ASK is no VCEK */
    mk_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pins),
        cmocka_unit_test(test_builtin_equal_published),
        cmocka_unit_test(test_leaf_extensions),
        cmocka_unit_test(test_ext_values),
        cmocka_unit_test(test_ext_finish),
        cmocka_unit_test(test_cert_reading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
