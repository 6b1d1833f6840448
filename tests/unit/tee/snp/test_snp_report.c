/*
 * tests/unit/tee/snp/test_snp_report.c — the report parser (report.c): every
 * field of the shared real reports, version gating (v2, v3, v5), the exact
 * length, refused headers, TCB_VERSION layouts and product identification.
 */
#include "test_util.h"

#include "tee/snp/snp_internal.h"

static void load(const char *rel, mk_buf *b) {
    mk_buf_init(b, 0);
    tu_read_testdata(rel, b);
}

static void hex_eq(const uint8_t *got, size_t n, const char *want) {
    char h[257];
    assert_true(2 * n < sizeof h);
    mk_hex_encode(got, n, h);
    assert_string_equal(h, want);
}

static void test_virtee_milan_fields(void **state) {
    (void)state;
    mk_buf b;
    load("snp/virtee-milan/report.bin", &b);
    mk_snp_report r;
    mk_error err;
    TU_ASSERT_RC(mk_snp_report_parse(b.data, b.len, &r, &err), 0, &err);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.policy, 0x30000);
    assert_int_equal(r.vmpl, 0);
    assert_int_equal(r.signature_algo, 1);
    assert_int_equal(r.platform_info, 0x1);
    assert_int_equal(r.flags, 0);
    assert_int_equal(r.signing_key, MK_SNP_KEY_VCEK);
    assert_false(r.author_key_en);
    assert_false(r.mask_chip_key);
    assert_int_equal(r.reported_tcb, 0x7308000000000003ull);
    assert_false(r.has_cpuid);
    assert_int_equal(r.cpuid_product, MK_SNP_PRODUCT_UNKNOWN);
    assert_false(r.has_mit_vectors);
    hex_eq(r.measurement, 48,
           "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c4"
           "80cd81841f");
    hex_eq(r.chip_id, 4, "d49554ec");
    hex_eq(r.chip_id + 60, 4, "4d541eb6");
    assert_int_equal(r.current.major, 1);
    assert_int_equal(r.current.minor, 52);
    assert_int_equal(r.current.build, 4);
    /* r and s are little-endian: the first byte stored is the value's last. */
    assert_int_equal(r.signature_r[0], 0x61);
    assert_int_equal(r.signature_r[47], 0x72);
    assert_int_equal(r.signature_s[0], 0x20);
    assert_int_equal(r.signature_s[47], 0x49);
    for (int i = 0; i < 32; i++)
        assert_int_equal(r.report_id_ma[i], 0xff);
    assert_ptr_equal(r.raw, b.data);
    mk_snp_tcb t;
    mk_snp_tcb_decode(r.reported_tcb, MK_SNP_MILAN, &t);
    assert_int_equal(t.bootloader, 3);
    assert_int_equal(t.tee, 0);
    assert_int_equal(t.snp, 8);
    assert_int_equal(t.microcode, 115);
    assert_int_equal(t.fmc, 0);
    mk_buf_free(&b);
}

static void test_trustee_milan_fields(void **state) {
    (void)state;
    mk_buf b;
    load("snp/trustee-milan/report.bin", &b);
    mk_snp_report r;
    mk_error err;
    TU_ASSERT_RC(mk_snp_report_parse(b.data, b.len, &r, &err), 0, &err);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.policy, 0x3001f);
    assert_int_equal(MK_SNP_POLICY_ABI_MINOR(r.policy), 31);
    assert_int_equal(MK_SNP_POLICY_ABI_MAJOR(r.policy), 0);
    assert_int_equal(r.guest_svn, 4);
    assert_int_equal(r.family_id[0], 1);
    assert_int_equal(r.image_id[0], 2);
    hex_eq(r.id_key_digest, 4, "03562158");
    mk_snp_tcb cur, rep;
    mk_snp_tcb_decode(r.current_tcb, MK_SNP_MILAN, &cur);
    mk_snp_tcb_decode(r.reported_tcb, MK_SNP_MILAN, &rep);
    assert_int_equal(cur.microcode, 206);
    assert_int_equal(rep.microcode, 115);
    mk_buf_free(&b);
}

static void test_vlek_v3_fields(void **state) {
    (void)state;
    mk_buf b;
    load("snp/trustee-vlek/report.bin", &b);
    mk_snp_report r;
    mk_error err;
    TU_ASSERT_RC(mk_snp_report_parse(b.data, b.len, &r, &err), 0, &err);
    assert_int_equal(r.version, 3);
    assert_true(r.has_cpuid);
    assert_int_equal(r.cpuid_fam_id, 0x19);
    assert_int_equal(r.cpuid_mod_id, 0x01);
    assert_int_equal(r.cpuid_step, 0x01);
    assert_int_equal(r.cpuid_product, MK_SNP_MILAN);
    assert_int_equal(r.signing_key, MK_SNP_KEY_VLEK);
    assert_int_equal(r.flags, 0x4);
    assert_int_equal(r.vmpl, 1);
    assert_int_equal(r.platform_info, 0x27);
    for (int i = 0; i < 64; i++)
        assert_int_equal(r.chip_id[i], 0);
    mk_snp_tcb t;
    mk_snp_tcb_decode(r.reported_tcb, MK_SNP_MILAN, &t);
    assert_int_equal(t.bootloader, 4);
    assert_int_equal(t.tee, 0);
    assert_int_equal(t.snp, 24);
    assert_int_equal(t.microcode, 217);
    assert_int_equal(r.current.major, 1);
    assert_int_equal(r.current.minor, 55);
    assert_int_equal(r.current.build, 29);
    mk_buf_free(&b);
}

static void test_genoa_and_debug_fields(void **state) {
    (void)state;
    mk_buf b;
    mk_snp_report r;
    mk_error err;
    load("snp/ms-genoa/report.bin", &b);
    TU_ASSERT_RC(mk_snp_report_parse(b.data, b.len, &r, &err), 0, &err);
    assert_int_equal(r.version, 3);
    assert_int_equal(r.cpuid_product, MK_SNP_GENOA);
    assert_int_equal(r.cpuid_mod_id, 0x11);
    assert_int_equal(r.guest_svn, 2);
    hex_eq(r.host_data, 4, "4f4448c6");
    assert_int_equal(r.current.major, 1);
    assert_int_equal(r.current.minor, 55);
    assert_int_equal(r.current.build, 40);
    mk_snp_tcb t;
    mk_snp_tcb_decode(r.reported_tcb, MK_SNP_GENOA, &t);
    assert_int_equal(t.bootloader, 10);
    assert_int_equal(t.snp, 23);
    assert_int_equal(t.microcode, 84);
    mk_buf_free(&b);

    load("snp/gsg-milan-debug/report.bin", &b);
    TU_ASSERT_RC(mk_snp_report_parse(b.data, b.len, &r, &err), 0, &err);
    assert_int_equal(r.policy, 0xb0000);
    assert_true(r.policy & MK_SNP_POLICY_DEBUG);
    assert_int_equal(r.current.major, 1);
    assert_int_equal(r.current.minor, 49);
    assert_int_equal(r.current.build, 3);
    assert_int_equal(r.report_data[0], 1);
    assert_int_equal(r.report_data[4], 5);
    mk_buf_free(&b);
}

/* A v5 report: the mitigation vectors appear; the CPUID is Turin's. */
static void test_v5_layout(void **state) {
    (void)state;
    uint8_t d[MK_SNP_REPORT_LEN] = {0};
    d[0] = 5;
    d[0x34] = 1;
    d[0x188] = 0x1a;
    d[0x189] = 0x02;
    d[0x18a] = 0x01;
    d[0x1f8] = 0x11;
    d[0x200] = 0x22;
    d[0x207] = 0x80;
    d[0x40] = 0xc0; /* reserved platform_info bits 6, 7: not an error */
    d[0x47] = 0x80;
    mk_snp_report r;
    mk_error err;
    TU_ASSERT_RC(mk_snp_report_parse(d, sizeof d, &r, &err), 0, &err);
    assert_int_equal(r.version, 5);
    assert_true(r.has_mit_vectors);
    assert_int_equal(r.launch_mit_vector, 0x11);
    assert_int_equal(r.current_mit_vector, 0x8000000000000022ull);
    assert_int_equal(r.cpuid_product, MK_SNP_TURIN);
    assert_int_equal(r.platform_info, 0x80000000000000c0ull);
    /* In v2/v3 the same bytes are reserved. */
    d[0] = 3;
    TU_ASSERT_RC(mk_snp_report_parse(d, sizeof d, &r, &err), 0, &err);
    assert_false(r.has_mit_vectors);
    assert_int_equal(r.launch_mit_vector, 0);
}

static void test_lengths_refused(void **state) {
    (void)state;
    mk_buf b;
    load("snp/virtee-milan/report.bin", &b);
    assert_true(mk_buf_append(&b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0);
    mk_snp_report r;
    mk_error err;
    static const size_t short_lens[] = {0, 1, 672, 1000, 1183};
    for (size_t i = 0; i < sizeof short_lens / sizeof short_lens[0]; i++) {
        TU_ASSERT_RC(mk_snp_report_parse(b.data, short_lens[i], &r, &err), MK_ETRUNC, &err);
        TU_ASSERT_REASON(&err, "exactly 1184 bytes");
    }
    TU_ASSERT_RC(mk_snp_report_parse(b.data, 1185, &r, &err), MK_ETOOBIG, &err);
    TU_ASSERT_REASON(&err, "report: 1185 bytes");
    TU_ASSERT_RC(mk_snp_report_parse(b.data, 1200, &r, &err), MK_ETOOBIG, &err);
    mk_buf_free(&b);
}

static void test_headers_refused(void **state) {
    (void)state;
    mk_buf b;
    load("snp/virtee-milan/report.bin", &b);
    mk_snp_report r;
    mk_error err;
    static const uint8_t bad_versions[] = {0, 1, 4, 6, 255};
    for (size_t i = 0; i < sizeof bad_versions; i++) {
        b.data[0] = bad_versions[i];
        TU_ASSERT_RC(mk_snp_report_parse(b.data, b.len, &r, &err), MK_EUNSUPPORTED, &err);
        TU_ASSERT_REASON(&err, "is not supported (2, 3 or 5)");
        assert_int_equal(r.version, bad_versions[i]); /* what was read is kept */
    }
    b.data[0] = 2;
    b.data[0x34] = 2;
    TU_ASSERT_RC(mk_snp_report_parse(b.data, b.len, &r, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "signature algorithm 2 is not supported");
    b.data[0x34] = 1;
    b.data[0x48] = 7 << 2;
    TU_ASSERT_RC(mk_snp_report_parse(b.data, b.len, &r, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "report is not signed (signing key none");
    b.data[0x48] = 2;
    TU_ASSERT_RC(mk_snp_report_parse(b.data, b.len, &r, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "MASK_CHIP_KEY");
    b.data[0x48] = 3 << 2;
    TU_ASSERT_RC(mk_snp_report_parse(b.data, b.len, &r, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "signing key 3 is reserved");
    b.data[0x48] = 0;
    b.data[MK_SNP_REPORT_LEN - 1] = 1;
    TU_ASSERT_RC(mk_snp_report_parse(b.data, b.len, &r, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "reserved bytes after the signature");
    b.data[MK_SNP_REPORT_LEN - 1] = 0;
    TU_ASSERT_RC(mk_snp_report_parse(b.data, b.len, &r, &err), 0, &err);
    assert_int_equal(mk_snp_report_parse(NULL, 0, &r, NULL), MK_ETRUNC);
    mk_buf_free(&b);
}

static void test_tcb_layouts(void **state) {
    (void)state;
    mk_snp_tcb t = {.fmc = 1, .bootloader = 2, .tee = 3, .snp = 4, .microcode = 5}, u;
    uint64_t turin = mk_snp_tcb_encode(&t, MK_SNP_TURIN);
    assert_int_equal(turin, 0x0500000004030201ull);
    mk_snp_tcb_decode(turin, MK_SNP_TURIN, &u);
    assert_memory_equal(&t, &u, sizeof t);
    uint64_t genoa = mk_snp_tcb_encode(&t, MK_SNP_GENOA); /* no fmc there */
    assert_int_equal(genoa, 0x0504000000000302ull);
    mk_snp_tcb_decode(genoa, MK_SNP_GENOA, &u);
    assert_int_equal(u.fmc, 0);
    assert_int_equal(u.bootloader, 2);
    assert_int_equal(u.snp, 4);
    /* The same bytes read with the other layout mean something else. */
    mk_snp_tcb_decode(genoa, MK_SNP_TURIN, &u);
    assert_int_equal(u.fmc, 2);
    assert_int_equal(u.bootloader, 3);
}

static void test_products(void **state) {
    (void)state;
    assert_int_equal(mk_snp_product_from_cpuid(0x19, 0x01), MK_SNP_MILAN);
    assert_int_equal(mk_snp_product_from_cpuid(0x19, 0x11), MK_SNP_GENOA);
    assert_int_equal(mk_snp_product_from_cpuid(0x19, 0xa0), MK_SNP_GENOA);
    assert_int_equal(mk_snp_product_from_cpuid(0x1a, 0x02), MK_SNP_TURIN);
    assert_int_equal(mk_snp_product_from_cpuid(0x1a, 0x50), MK_SNP_PRODUCT_UNKNOWN);
    assert_int_equal(mk_snp_product_from_cpuid(0x17, 0x01), MK_SNP_PRODUCT_UNKNOWN);
    mk_snp_product p;
    assert_int_equal(mk_snp_product_parse("Milan-B0", &p), 0);
    assert_int_equal(p, MK_SNP_MILAN);
    assert_int_equal(mk_snp_product_parse("genoa", &p), 0);
    assert_int_equal(p, MK_SNP_GENOA);
    assert_int_equal(mk_snp_product_parse("Turin", &p), 0);
    assert_int_equal(p, MK_SNP_TURIN);
    assert_int_equal(mk_snp_product_parse("Venice", &p), MK_EINVAL);
    assert_int_equal(mk_snp_product_parse("Mil", &p), MK_EINVAL);
    assert_string_equal(mk_snp_product_name(MK_SNP_GENOA), "Genoa");
    assert_string_equal(mk_snp_product_name(MK_SNP_PRODUCT_UNKNOWN), "unknown");
    assert_string_equal(mk_snp_signing_key_name(MK_SNP_KEY_VLEK), "vlek");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_virtee_milan_fields),
        cmocka_unit_test(test_trustee_milan_fields),
        cmocka_unit_test(test_vlek_v3_fields),
        cmocka_unit_test(test_genoa_and_debug_fields),
        cmocka_unit_test(test_v5_layout),
        cmocka_unit_test(test_lengths_refused),
        cmocka_unit_test(test_headers_refused),
        cmocka_unit_test(test_tcb_layouts),
        cmocka_unit_test(test_products),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
