/*
 * test_measure_pe.c — the Authenticode digest of PE images (tdx_measure.h).
 *
 * Expected values never come from the code under test: a PE built byte by
 * byte here; the expected digest hashes, with OpenSSL directly, exactly the
 * byte ranges the PE/COFF spec (appendix A) lists for that layout, written
 * out as literals. Malformed images are refused with their reason.
 */
#include "measure_util.h"

static void test_authenticode_pe64(void **state) {
    (void)state;
    uint8_t pe[PE_LEN], want[48], got[48];
    build_pe64(pe);
    /* Spec ranges: headers minus CheckSum and the Security entry, sections
     * by file offset (s1 then s0; s2 empty), trailing data minus the cert. */
    static const size_t r[][2] = {{0, 0xD8},      {0xDC, 0x128},  {0x130, 0x200},
                                  {0x200, 0x400}, {0x400, 0x600}, {0x600, 0x680}};
    mk_error err;
    expect_ranges(pe, EVP_sha256(), r, 6, want);
    TU_ASSERT_RC(mk_tdx_pe_authenticode(pe, PE_LEN, MK_SHA256, got, &err), 0, &err);
    assert_memory_equal(got, want, 32);
    expect_ranges(pe, EVP_sha384(), r, 6, want);
    TU_ASSERT_RC(mk_tdx_pe_authenticode(pe, PE_LEN, MK_SHA384, got, &err), 0, &err);
    assert_memory_equal(got, want, 48);
    /* The excluded fields do not matter; any other byte does. */
    pe[0xD8] ^= 0xFF;
    pe[0x128] ^= 0xFF;
    pe[0x6FF] ^= 0xFF;
    TU_ASSERT_RC(mk_tdx_pe_authenticode(pe, PE_LEN, MK_SHA384, got, &err), 0, &err);
    assert_memory_equal(got, want, 48);
    pe[0x5FF] ^= 0xFF;
    TU_ASSERT_RC(mk_tdx_pe_authenticode(pe, PE_LEN, MK_SHA384, got, &err), 0, &err);
    assert_memory_not_equal(got, want, 48);
    /* Without the cert and trailing data the file ends at the sections. */
    build_pe64(pe);
    put32(pe + 0x12C, 0);
    static const size_t r2[][2] = {
        {0, 0xD8}, {0xDC, 0x128}, {0x130, 0x200}, {0x200, 0x400}, {0x400, 0x600}};
    expect_ranges(pe, EVP_sha384(), r2, 5, want);
    TU_ASSERT_RC(mk_tdx_pe_authenticode(pe, 0x600, MK_SHA384, got, &err), 0, &err);
    assert_memory_equal(got, want, 48);
}

static void test_authenticode_pe32(void **state) {
    (void)state;
    uint8_t pe[PE32_LEN], want[48], got[48];
    build_pe32(pe);
    static const size_t r[][2] = {{0, 0x58}, {0x5C, 0x100}, {0x100, 0x200}, {0x200, 0x250}};
    mk_error err;
    expect_ranges(pe, EVP_sha256(), r, 4, want);
    TU_ASSERT_RC(mk_tdx_pe_authenticode(pe, PE32_LEN, MK_SHA256, got, &err), 0, &err);
    assert_memory_equal(got, want, 32);
}

static void expect_pe_refused(uint8_t *pe, size_t len, const char *reason) {
    uint8_t got[48];
    mk_error err;
    mk_error_clear(&err);
    int rc = mk_tdx_pe_authenticode(pe, len, MK_SHA384, got, &err);
    if (rc >= 0) fail_msg("malformed PE accepted (want \"%s\")", reason);
    TU_ASSERT_REASON(&err, reason);
}

static void test_authenticode_malformed(void **state) {
    (void)state;
    uint8_t pe[PE_LEN];
    build_pe64(pe);
    pe[0x80] = 'X'; /* bad signature */
    expect_pe_refused(pe, PE_LEN, "PE\\0\\0");
    build_pe64(pe);
    pe[0] = 'X'; /* no MZ: PE header expected at 0 */
    expect_pe_refused(pe, PE_LEN, "signature at 0x0");
    build_pe64(pe);
    put32(pe + 0x3C, 0xFFFFFF00u); /* e_lfanew out of range */
    expect_pe_refused(pe, PE_LEN, "e_lfanew");
    build_pe64(pe);
    expect_pe_refused(pe, 0x30, "DOS header truncated");
    build_pe64(pe);
    put16(pe + 0x86, 90); /* section table beyond the file */
    expect_pe_refused(pe, 0x600, "section table");
    build_pe64(pe);
    put16(pe + 0x86, 1000); /* count over the cap */
    expect_pe_refused(pe, PE_LEN, "cap");
    build_pe64(pe);
    put32(pe + 0x188 + 20, 0x300); /* s0 now overlaps s1 */
    expect_pe_refused(pe, PE_LEN, "overlap");
    build_pe64(pe);
    put32(pe + 0x188 + 16, 0x7FFFFFFFu); /* oversized section */
    expect_pe_refused(pe, PE_LEN, "outside");
    build_pe64(pe);
    put32(pe + 0x188 + 20, 0xFFFFFF00u); /* section pointer wraps */
    expect_pe_refused(pe, PE_LEN, "outside");
    build_pe64(pe);
    put32(pe + 0x12C, 0x1000); /* certificate larger than the tail */
    expect_pe_refused(pe, PE_LEN, "certificate");
    build_pe64(pe);
    put32(pe + 0x98 + 60, 0x10000); /* SizeOfHeaders beyond the file */
    expect_pe_refused(pe, PE_LEN, "SizeOfHeaders");
    build_pe64(pe);
    put32(pe + 0x98 + 60, 0x40); /* SizeOfHeaders before CheckSum */
    expect_pe_refused(pe, PE_LEN, "CheckSum");
    build_pe64(pe);
    put16(pe + 0x98, 0x10C); /* unknown magic */
    expect_pe_refused(pe, PE_LEN, "magic");
    build_pe64(pe);
    put32(pe + 0x98 + 108, 200); /* too many data directories */
    expect_pe_refused(pe, PE_LEN, "NumberOfRvaAndSizes");
    build_pe64(pe);
    put16(pe + 0x94, 0xFFFF); /* optional header past the file */
    expect_pe_refused(pe, PE_LEN, "optional header");
    build_pe64(pe);
    expect_pe_refused(pe, 0x90, "COFF header truncated");
    expect_pe_refused(pe, 0, "outside the 0-byte file");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authenticode_pe64),
        cmocka_unit_test(test_authenticode_pe32),
        cmocka_unit_test(test_authenticode_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
