/*
 * test_measure_mrtd.c — MRTD pre-computation from a TDVF image (tdx_measure.h).
 *
 * The synthetic TDVF image of measure_util.h; the expected MRTD hashes the
 * 128-byte TDH.MEM.PAGE.ADD / TDH.MR.EXTEND buffers assembled by hand, page
 * by page, in the order each variant prescribes. Debian's OVMF.fd MRTDs:
 * computed by tests/builder/mrtd_reference.py (Python written from Intel's
 * TDVF design guide and TDX module ABI, not from this code) on ovmf
 * 2022.11-6+deb12u2's /usr/share/ovmf/OVMF.fd; the values and their
 * provenance are in tests/data/ovmf-mrtd.tsv, rechecked by
 * tests/cli/tdx_build_mrtd_reference.sh; skipped (exit 77) if absent.
 */
#include "measure_util.h"

static void test_mrtd_synthetic(void **state) {
    (void)state;
    uint8_t *fw = malloc(FW_LEN);
    assert_non_null(fw);
    build_fw(fw);
    mk_error err;
    mk_tdx_tdvf t;
    TU_ASSERT_RC(mk_tdx_tdvf_parse(fw, FW_LEN, &t, &err), 0, &err);
    assert_int_equal(t.nsections, FW_NSEC);
    assert_int_equal(t.descriptor_offset, FW_DESC);
    assert_int_equal(t.sections[0].memory_address, 0xFFC00000);
    assert_int_equal(t.sections[3].attributes, MK_TDX_TDVF_ATTR_PAGE_AUG);
    assert_int_equal(t.sections[4].type, MK_TDX_TDVF_TEMP_MEM);

    uint8_t want[48], got[48];
    th h;
    /* Interleaved: ADD then 16 EXTENDs per page. */
    th_init(&h, EVP_sha384());
    exp_page_add(&h, 0xFFC00000);
    exp_page_extend(&h, fw, 0xFFC00000, 0x8000);
    exp_page_add(&h, 0xFFC01000);
    exp_page_extend(&h, fw, 0xFFC01000, 0x9000);
    exp_page_add(&h, 0xFFB00000); /* CFV: added, not extended */
    exp_page_add(&h, 0x809000);   /* TD_HOB */
    /* PermMem: PAGE.AUG, nothing */
    exp_page_add(&h, 0x800000); /* TempMem */
    exp_page_add(&h, 0x801000);
    th_final(&h, want);
    TU_ASSERT_RC(mk_tdx_mrtd(fw, FW_LEN, MK_TDX_PAGE_ORDER_INTERLEAVED, got, &err), 0, &err);
    assert_memory_equal(got, want, 48);

    /* Two-pass: all ADDs of a section, then its EXTENDs. */
    th_init(&h, EVP_sha384());
    exp_page_add(&h, 0xFFC00000);
    exp_page_add(&h, 0xFFC01000);
    exp_page_extend(&h, fw, 0xFFC00000, 0x8000);
    exp_page_extend(&h, fw, 0xFFC01000, 0x9000);
    exp_page_add(&h, 0xFFB00000);
    exp_page_add(&h, 0x809000);
    exp_page_add(&h, 0x800000);
    exp_page_add(&h, 0x801000);
    th_final(&h, want);
    TU_ASSERT_RC(mk_tdx_mrtd(fw, FW_LEN, MK_TDX_PAGE_ORDER_TWO_PASS, got, &err), 0, &err);
    assert_memory_equal(got, want, 48);

    /* Bytes outside measured sections do not matter; BFV bytes do. */
    fw[0x1000] ^= 1; /* CFV is added but not extended */
    TU_ASSERT_RC(mk_tdx_mrtd(fw, FW_LEN, MK_TDX_PAGE_ORDER_TWO_PASS, got, &err), 0, &err);
    assert_memory_equal(got, want, 48);
    fw[0x9FFF] ^= 1;
    TU_ASSERT_RC(mk_tdx_mrtd(fw, FW_LEN, MK_TDX_PAGE_ORDER_TWO_PASS, got, &err), 0, &err);
    assert_memory_not_equal(got, want, 48);
    free(fw);
}

static void expect_fw_refused(const uint8_t *fw, size_t len, int code, const char *reason) {
    mk_tdx_tdvf t;
    memset(&t, 0xAB, sizeof t);
    mk_error err;
    mk_error_clear(&err);
    int rc = mk_tdx_tdvf_parse(fw, len, &t, &err);
    if (rc >= 0) fail_msg("malformed firmware accepted (want \"%s\")", reason);
    if (code) TU_ASSERT_RC(rc, code, &err);
    TU_ASSERT_REASON(&err, reason);
    uint8_t m[48];
    assert_true(mk_tdx_mrtd(fw, len, MK_TDX_PAGE_ORDER_INTERLEAVED, m, &err) < 0);
    /* Nothing written on failure. */
    assert_int_equal(((uint8_t *)&t)[0], 0xAB);
}

static void test_firmware_malformed(void **state) {
    (void)state;
    uint8_t *fw = malloc(FW_LEN);
    assert_non_null(fw);
    build_fw(fw);
    expect_fw_refused(fw, 40, MK_EMALFORMED, "too small");
    expect_fw_refused(fw, FW_LEN - 1, MK_EMALFORMED, "footer"); /* truncated */
    expect_fw_refused(fw, 0x8000, MK_EMALFORMED, "footer");     /* truncated */

    size_t end = FW_LEN - 0x20;
    fw[end - 1] ^= 1; /* footer GUID missing */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "footer");
    build_fw(fw);
    put16(fw + end - 18, 0xFFFF); /* table longer than the file */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "table length");
    build_fw(fw);
    put16(fw + end - 18 - 18, 5); /* entry shorter than its header */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "length 5");
    build_fw(fw);
    fw[end - 18 - 1] ^= 1; /* no TDX entry */
    expect_fw_refused(fw, FW_LEN, MK_ENOTFOUND, "no TDX metadata");
    build_fw(fw);
    put32(fw + end - 18 - 22, FW_LEN + 16); /* metadata offset before the file start */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "outside");
    build_fw(fw);
    put32(fw + end - 18 - 22, 8); /* descriptor would run past the end */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "outside");
    build_fw(fw);
    put32(fw + end - 18 - 22, 0x20); /* descriptor at len-0x20: table runs off the end */
    memcpy(fw + FW_LEN - 0x20, fw + FW_DESC, 16);
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "past the image");

    build_fw(fw);
    fw[FW_DESC] = 'X';
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "TDVF");
    build_fw(fw);
    put32(fw + FW_DESC + 8, 2);
    expect_fw_refused(fw, FW_LEN, MK_EUNSUPPORTED, "version");
    build_fw(fw);
    put32(fw + FW_DESC + 12, 0); /* zero sections */
    put32(fw + FW_DESC + 4, 16);
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "0 sections");
    build_fw(fw);
    put32(fw + FW_DESC + 12, 0xFFFFFFFFu); /* huge count */
    expect_fw_refused(fw, FW_LEN, MK_ETOOBIG, "sections");
    build_fw(fw);
    put32(fw + FW_DESC + 4, 16 + 32 * 4); /* length does not match */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "does not match");

    build_fw(fw);
    put32(sec_at(fw, 0), 0xF000); /* BFV beyond the image */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "outside");
    build_fw(fw);
    put32(sec_at(fw, 0), 0xFFFFF000u); /* offset wraps */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "outside");
    build_fw(fw);
    put64(sec_at(fw, 0) + 16, 0x4000); /* measured size beyond the file data */
    put32(sec_at(fw, 0), 0xD000);
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "outside");
    build_fw(fw);
    put64(sec_at(fw, 2) + 8, 0x809800); /* unaligned GPA */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "aligned");
    build_fw(fw);
    put64(sec_at(fw, 4) + 8, 0x808000); /* TempMem overlaps the TD_HOB */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "overlap");
    build_fw(fw);
    put64(sec_at(fw, 4) + 8, 0xFFFFFFFFFFFFF000ull); /* wraps */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "wraps");
    build_fw(fw);
    put64(sec_at(fw, 4) + 16, (uint64_t)1 << 40); /* huge memory */
    expect_fw_refused(fw, FW_LEN, MK_ETOOBIG, "cap");
    build_fw(fw);
    put32(sec_at(fw, 1) + 28, 0x8); /* reserved attribute */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "reserved");
    build_fw(fw);
    put32(sec_at(fw, 2) + 24, 7); /* TD_INFO: not for QEMU */
    expect_fw_refused(fw, FW_LEN, MK_EUNSUPPORTED, "type");
    build_fw(fw);
    put32(sec_at(fw, 4) + 24, 2); /* second TD_HOB */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "TD_HOB");
    build_fw(fw);
    put32(sec_at(fw, 0) + 4, 0x3000); /* RawDataSize > MemoryDataSize */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "exceeds MemoryDataSize");
    build_fw(fw);
    put32(sec_at(fw, 1) + 4, 0); /* CFV without data */
    expect_fw_refused(fw, FW_LEN, MK_EMALFORMED, "without data");
    free(fw);

    /* Size cap. */
    uint8_t *big = calloc(1, MK_TDX_TDVF_MAX_IMAGE + 1);
    assert_non_null(big);
    expect_fw_refused(big, MK_TDX_TDVF_MAX_IMAGE + 1, MK_ETOOBIG, "exceeds");
    free(big);
}

static void test_mrtd_debian_ovmf(void **state) {
    (void)state;
    const char *path = "/usr/share/ovmf/OVMF.fd";
    if (access(path, R_OK) != 0) {
        TU_SKIP("%s not installed (scripts/deps.sh test installs Debian's ovmf)", path);
    }
    mk_buf fw = MK_BUF_INIT;
    mk_error err;
    TU_ASSERT_RC(mk_file_read(path, MK_TDX_TDVF_MAX_IMAGE, &fw, &err), 0, &err);
    /* The notes' values are for ovmf 2022.11-6+deb12u2 (2 MiB image). */
    uint8_t digest[32];
    char hx[65];
    mk_sha256(fw.data, fw.len, digest);
    mk_hex_encode(digest, 32, hx);
    if (fw.len != 2 << 20 || strncmp(hx, "7b456907", 8) != 0) {
        mk_buf_free(&fw);
        TU_SKIP("%s is not ovmf 2022.11-6+deb12u2 (sha256 %s; scripts/deps.sh test installs it)",
                path, hx);
    }
    mk_tdx_tdvf t;
    TU_ASSERT_RC(mk_tdx_tdvf_parse(fw.data, fw.len, &t, &err), 0, &err);
    assert_int_equal(t.descriptor_offset, 0x1ff7c0);
    assert_int_equal(t.nsections, 6);
    assert_int_equal(t.sections[0].data_offset, 0x20000);
    assert_int_equal(t.sections[0].memory_address, 0xffe20000);
    assert_int_equal(t.sections[0].attributes, 1);
    assert_int_equal(t.sections[4].type, MK_TDX_TDVF_TD_HOB);
    assert_int_equal(t.sections[4].memory_address, 0x809000);
    uint8_t m[48];
    /* tests/data/ovmf-mrtd.tsv: by tests/builder/mrtd_reference.py on this
     * image (sha256 7b456907dd0786d4...e574dd773), per page order. */
    TU_ASSERT_RC(mk_tdx_mrtd(fw.data, fw.len, MK_TDX_PAGE_ORDER_INTERLEAVED, m, &err), 0, &err);
    assert_hex(m,
               "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a"
               "212967fb231c47",
               48);
    TU_ASSERT_RC(mk_tdx_mrtd(fw.data, fw.len, MK_TDX_PAGE_ORDER_TWO_PASS, m, &err), 0, &err);
    assert_hex(m,
               "acccbcc870a381adab0d3919d90a7f268ac3b0364771f202ed4bb4e892d045b33db3b32e6924cba830"
               "a724eed443f7e1",
               48);
    mk_buf_free(&fw);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mrtd_synthetic),
        cmocka_unit_test(test_firmware_malformed),
        cmocka_unit_test(test_mrtd_debian_ovmf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
