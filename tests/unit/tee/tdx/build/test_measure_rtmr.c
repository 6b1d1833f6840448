/*
 * test_measure_rtmr.c — RTMR pre-computation, QEMU's kernel patching, profiles and the JSON output
 * (tdx_measure.h).
 *
 * Event digests and registers are values observed in the swtpm TPM event
 * log of a QEMU 7.2 TCG boot of Debian 12's kernel 6.1.0-56 with OVMF
 * 2022.11 (sha384 bank), listed with their provenance in measure_util.h.
 */
#include "measure_util.h"

/* ---- RTMR vectors ---------------------------------------------------- */

static void test_rtmr_extend_vectors(void **state) {
    (void)state;
    uint8_t reg[48] = {0}, d[48];
    sha384_of("", 0, d);
    mk_tdx_rtmr_extend(reg, d);
    assert_hex(reg, EXTEND_EMPTY, 48);

    /* RTMR1 from the swtpm-verified digests, with and without separator. */
    const char *seq_sep[] = {EV_KERNEL_PATCHED_2048, EV_CALLING, EV_SEPARATOR, EV_EBS_INV,
                             EV_EBS_OK};
    memset(reg, 0, 48);
    for (size_t i = 0; i < 5; i++) {
        unhex(seq_sep[i], d, 48);
        mk_tdx_rtmr_extend(reg, d);
    }
    assert_hex(reg, RTMR1_PATCHED_SEP, 48);
    const char *seq_nosep[] = {EV_KERNEL_PATCHED_2048, EV_CALLING, EV_EBS_INV, EV_EBS_OK};
    memset(reg, 0, 48);
    for (size_t i = 0; i < 4; i++) {
        unhex(seq_nosep[i], d, 48);
        mk_tdx_rtmr_extend(reg, d);
    }
    assert_hex(reg, RTMR1_PATCHED_NOSEP, 48);
}

static void test_load_options(void **state) {
    (void)state;
    mk_error err;
    mk_buf b = MK_BUF_INIT;
    TU_ASSERT_RC(
        mk_tdx_load_options("console=ttyS0 quiet", true, MK_TDX_INITRD_ARG_SUFFIX, &b, &err), 0,
        &err);
    assert_string_equal((const char *)b.data, "console=ttyS0 quiet initrd=initrd");
    uint8_t d[48];
    TU_ASSERT_RC(mk_tdx_load_options_digest((const char *)b.data, d, &err), 0, &err);
    assert_hex(d, EV_LOADOPTS, 48);
    mk_buf_reset(&b);
    TU_ASSERT_RC(
        mk_tdx_load_options("console=ttyS0 quiet", true, MK_TDX_INITRD_ARG_PREFIX, &b, &err), 0,
        &err);
    assert_string_equal((const char *)b.data, "initrd=initrd console=ttyS0 quiet");
    mk_buf_reset(&b);
    TU_ASSERT_RC(mk_tdx_load_options("", true, MK_TDX_INITRD_ARG_SUFFIX, &b, &err), 0, &err);
    assert_string_equal((const char *)b.data, " initrd=initrd");
    mk_buf_reset(&b);
    TU_ASSERT_RC(mk_tdx_load_options(NULL, true, MK_TDX_INITRD_ARG_PREFIX, &b, &err), 0, &err);
    assert_string_equal((const char *)b.data, "initrd=initrd ");
    mk_buf_reset(&b);
    TU_ASSERT_RC(mk_tdx_load_options("a b", false, MK_TDX_INITRD_ARG_PREFIX, &b, &err), 0, &err);
    assert_string_equal((const char *)b.data, "a b");
    mk_buf_free(&b);
    /* Byte-wise widening of UTF-8 "ä" (c3 a4), as OVMF does. */
    TU_ASSERT_RC(
        mk_tdx_load_options_digest("console=ttyS0 quiet foo=b\xc3\xa4r initrd=initrd", d, &err), 0,
        &err);
    assert_hex(d, EV_LOADOPTS_LATIN, 48);
    /* Independent check of the encoding: UTF-16LE "ab" + NUL. */
    static const uint8_t u16[] = {'a', 0, 'b', 0, 0, 0};
    uint8_t want[48];
    sha384_of(u16, sizeof u16, want);
    TU_ASSERT_RC(mk_tdx_load_options_digest("ab", d, &err), 0, &err);
    assert_memory_equal(d, want, 48);
}

static const mk_tdx_event *find_event(const mk_tdx_measurement *m, unsigned rtmr, size_t k) {
    for (size_t i = 0; i < m->nevents; i++)
        if (m->events[i].rtmr == rtmr && k-- == 0) return &m->events[i];
    return NULL;
}

/* A whole measurement: synthetic PE kernel, the swtpm boot's command line
 * and initrd digest; RTMR2 must equal the swtpm PCR9 replay. */
static void test_measure_swtpm_rtmr2(void **state) {
    (void)state;
    uint8_t pe[PE_LEN], initrd_digest[48], kdig[48];
    build_pe64(pe);
    unhex(EV_INITRD, initrd_digest, 48);
    mk_tdx_measure_input in;
    memset(&in, 0, sizeof in);
    in.kernel = pe;
    in.kernel_len = PE_LEN;
    in.have_initrd = true;
    in.initrd_len = 1984000;
    in.initrd_sha384 = initrd_digest;
    in.cmdline = "console=ttyS0 quiet";
    in.memory_mib = 2048;
    mk_tdx_measurement *m = calloc(1, sizeof *m);
    assert_non_null(m);
    mk_error err;
    const mk_tdx_profile *p = mk_tdx_profile_find("qemu-10.1-ovmf-2025.05");
    assert_non_null(p);
    TU_ASSERT_RC(mk_tdx_measure(&in, p, m, &err), 0, &err);
    assert_true(m->have_rtmr);
    assert_false(m->have_mrtd);
    assert_string_equal(m->load_options, "console=ttyS0 quiet initrd=initrd");
    assert_hex(m->rtmr2, PCR9_REPLAY, 48);
    assert_hex(find_event(m, 2, 0)->digest, EV_LOADOPTS, 48);
    assert_hex(find_event(m, 2, 1)->digest, EV_INITRD, 48);
    /* RTMR1: kernel (raw Authenticode), calling, separator, EBS x2. */
    static const size_t r[][2] = {{0, 0xD8},      {0xDC, 0x128},  {0x130, 0x200},
                                  {0x200, 0x400}, {0x400, 0x600}, {0x600, 0x680}};
    expect_ranges(pe, EVP_sha384(), r, 6, kdig);
    assert_memory_equal(find_event(m, 1, 0)->digest, kdig, 48);
    assert_int_equal(find_event(m, 1, 0)->event_type, MK_TDX_EV_EFI_BOOT_SERVICES_APPLICATION);
    assert_hex(find_event(m, 1, 1)->digest, EV_CALLING, 48);
    assert_hex(find_event(m, 1, 2)->digest, EV_SEPARATOR, 48);
    assert_int_equal(find_event(m, 1, 2)->event_type, MK_TDX_EV_SEPARATOR);
    assert_hex(find_event(m, 1, 3)->digest, EV_EBS_INV, 48);
    assert_hex(find_event(m, 1, 4)->digest, EV_EBS_OK, 48);
    assert_null(find_event(m, 1, 5));
    uint8_t reg[48] = {0}, d[48];
    extend(reg, kdig);
    const char *rest[] = {EV_CALLING, EV_SEPARATOR, EV_EBS_INV, EV_EBS_OK};
    for (size_t i = 0; i < 4; i++) {
        unhex(rest[i], d, 48);
        extend(reg, d);
    }
    assert_memory_equal(m->rtmr1, reg, 48);

    /* Prefix layout (edk2 >= 202508). */
    p = mk_tdx_profile_find("qemu-10.2-ovmf-2025.08");
    assert_non_null(p);
    TU_ASSERT_RC(mk_tdx_measure(&in, p, m, &err), 0, &err);
    assert_string_equal(m->load_options, "initrd=initrd console=ttyS0 quiet");
    assert_hex(m->rtmr2, RTMR2_PREFIX, 48);

    /* 8.2 profile: no RTMR1 separator. */
    p = mk_tdx_profile_find("qemu-8.2-ovmf-2024.02");
    assert_non_null(p);
    mk_tdx_profile raw82 = *p;
    raw82.kernel_image = MK_TDX_KERNEL_RAW; /* the synthetic PE has no setup header */
    TU_ASSERT_RC(mk_tdx_measure(&in, &raw82, m, &err), 0, &err);
    assert_null(find_event(m, 1, 4));
    assert_hex(find_event(m, 1, 2)->digest, EV_EBS_INV, 48);
    assert_hex(m->rtmr2, PCR9_REPLAY, 48);

    /* A kernel stub without CC measurement leaves RTMR2 zero. */
    raw82.stub_measures_rtmr2 = false;
    TU_ASSERT_RC(mk_tdx_measure(&in, &raw82, m, &err), 0, &err);
    static const uint8_t zero[48] = {0};
    assert_memory_equal(m->rtmr2, zero, 48);
    assert_null(find_event(m, 2, 0));

    /* No initrd, no command line: no RTMR2 events at all. */
    in.have_initrd = false;
    in.cmdline = NULL;
    raw82.stub_measures_rtmr2 = true;
    TU_ASSERT_RC(mk_tdx_measure(&in, &raw82, m, &err), 0, &err);
    assert_string_equal(m->load_options, "");
    assert_null(find_event(m, 2, 0));
    assert_memory_equal(m->rtmr2, zero, 48);
    /* An empty initrd file: OVMF adds no initrd=initrd, the stub no event. */
    in.have_initrd = true;
    in.initrd_len = 0;
    in.initrd_sha384 = NULL;
    in.cmdline = "x";
    TU_ASSERT_RC(mk_tdx_measure(&in, &raw82, m, &err), 0, &err);
    assert_string_equal(m->load_options, "x");
    assert_non_null(find_event(m, 2, 0));
    assert_null(find_event(m, 2, 1));
    free(m);
}

/* QEMU's setup-header patch on a synthetic bzImage header. */
static void build_bzimage(uint8_t *k, size_t len, uint16_t protocol, uint8_t loadflags,
                          uint16_t xloadflags, uint32_t initrd_addr_max) {
    fill(k, len, 5);
    k[0x1F1] = 3; /* setup_sects: setup = 4*512 */
    put32(k + 0x202, 0x53726448);
    put16(k + 0x206, protocol);
    k[0x211] = loadflags;
    put32(k + 0x22C, initrd_addr_max);
    put16(k + 0x236, xloadflags);
}

static void test_qemu_patch(void **state) {
    (void)state;
    enum { K = 0x1000 };
    uint8_t k[K], orig[K];
    mk_error err;
    /* Modern kernel (like Debian's: protocol 0x20F, LOADED_HIGH, xloadflags
     * with CAN_BE_LOADED_ABOVE_4G): q35 with 2 GiB keeps 2 GiB below 4 GiB,
     * initrd_max = 0x80000000 - 0x28000 - 1, address rounded down to 4 KiB. */
    build_bzimage(k, K, 0x20F, 0x01, 0x7F, 0x7FFFFFFF);
    memcpy(orig, k, K);
    mk_tdx_qemu_kernel_load ld = {2048ull << 20, true, 1984000, "console=ttyS0 quiet", 0};
    TU_ASSERT_RC(mk_tdx_qemu_patch_kernel(k, K, &ld, &err), 0, &err);
    uint8_t want[K];
    memcpy(want, orig, K);
    put32(want + 0x228, 0x20000);    /* cmd_line_ptr */
    want[0x210] = 0xB0;              /* type_of_loader */
    want[0x211] = 0x81;              /* loadflags | CAN_USE_HEAP */
    put16(want + 0x224, 0xFE00);     /* heap_end_ptr */
    put32(want + 0x218, 0x7fdf3000); /* ramdisk_image */
    put32(want + 0x21C, 1984000);    /* ramdisk_size */
    assert_memory_equal(k, want, K);

    /* 1536 MiB: below_4g = RAM. */
    memcpy(k, orig, K);
    ld.memory_bytes = 1536ull << 20;
    TU_ASSERT_RC(mk_tdx_qemu_patch_kernel(k, K, &ld, &err), 0, &err);
    put32(want + 0x218, 0x5fdf3000);
    assert_memory_equal(k, want, K);

    /* Older header limit (protocol 0x20A: no xloadflags rule), 3 GiB RAM,
     * vga=ext, no initrd fields when there is no initrd. */
    build_bzimage(k, K, 0x20A, 0x01, 0x00, 0x37FFFFFF);
    memcpy(want, k, K);
    mk_tdx_qemu_kernel_load ld2 = {3072ull << 20, true, 100000, "vga=ext quiet", 0};
    TU_ASSERT_RC(mk_tdx_qemu_patch_kernel(k, K, &ld2, &err), 0, &err);
    put32(want + 0x228, 0x20000);
    put16(want + 0x1FA, 0xFFFE);
    want[0x210] = 0xB0;
    want[0x211] = 0x81;
    put16(want + 0x224, 0xFE00);
    put32(want + 0x218, 0x37fe7000);
    put32(want + 0x21C, 100000);
    assert_memory_equal(k, want, K);

    /* Low kernel (protocol 0x201): old cmdline protocol at 0x20. */
    build_bzimage(k, K, 0x201, 0x00, 0x00, 0);
    memcpy(want, k, K);
    mk_tdx_qemu_kernel_load ld3 = {1024ull << 20, false, 0, "vga=0x317", 0};
    TU_ASSERT_RC(mk_tdx_qemu_patch_kernel(k, K, &ld3, &err), 0, &err);
    /* cmdline_size = (9 + 16) & ~15 = 16; cmdline_addr = 0x9A000 - 16. */
    put16(want + 0x20, 0xA33F);
    put16(want + 0x22, 0x9A000 - 16 - 0x90000);
    put16(want + 0x1FA, 0x317);
    want[0x210] = 0xB0;
    want[0x211] = 0x80;
    put16(want + 0x224, (uint16_t)(0x9A000 - 16 - 0x90000 - 0x200));
    assert_memory_equal(k, want, K);

    /* Refusals leave the buffer alone. */
    build_bzimage(k, K, 0x20F, 0x01, 0x7F, 0x7FFFFFFF);
    memcpy(orig, k, K);
    mk_tdx_qemu_kernel_load big = {2048ull << 20, true, 0x7FFD7FFF, NULL, 0};
    assert_int_equal(mk_tdx_qemu_patch_kernel(k, K, &big, &err), MK_ETOOBIG);
    TU_ASSERT_REASON(&err, "initrd");
    assert_memory_equal(k, orig, K);
    k[0x202] = 'X';
    assert_int_equal(mk_tdx_qemu_patch_kernel(k, K, &ld, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "HdrS");
    build_bzimage(k, K, 0x20F, 0x01, 0x7F, 0x7FFFFFFF);
    k[0x1F1] = 200; /* setup larger than the file */
    assert_int_equal(mk_tdx_qemu_patch_kernel(k, K, &ld, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "setup");
    assert_int_equal(mk_tdx_qemu_patch_kernel(k, 0x100, &ld, &err), MK_EMALFORMED);
}

static void test_measure_errors(void **state) {
    (void)state;
    mk_tdx_measurement *m = calloc(1, sizeof *m);
    assert_non_null(m);
    mk_error err;
    const mk_tdx_profile *p = mk_tdx_profile_find(MK_TDX_DEFAULT_PROFILE);
    assert_non_null(p);
    mk_tdx_measure_input in;
    memset(&in, 0, sizeof in);
    assert_int_equal(mk_tdx_measure(&in, p, m, &err), MK_EINVAL);
    in.cmdline = "quiet";
    uint8_t fw[64] = {0};
    in.firmware = fw;
    in.firmware_len = sizeof fw;
    assert_int_equal(mk_tdx_measure(&in, p, m, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "needs a kernel");
    in.cmdline = NULL;
    assert_int_equal(mk_tdx_measure(&in, p, m, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "firmware");
    /* A kernel that is not a PE (no EFI stub) is refused. */
    uint8_t k[0x1000];
    build_bzimage(k, sizeof k, 0x20F, 0x01, 0x7F, 0x7FFFFFFF);
    memset(&in, 0, sizeof in);
    in.kernel = k;
    in.kernel_len = sizeof k;
    assert_true(mk_tdx_measure(&in, p, m, &err) < 0);
    TU_ASSERT_REASON(&err, "legacy loader");
    free(m);
}

static void test_profiles_and_json(void **state) {
    (void)state;
    assert_true(mk_tdx_profile_count() >= 4);
    assert_null(mk_tdx_profile_find("no-such-profile"));
    assert_null(mk_tdx_profile_at(mk_tdx_profile_count()));
    const mk_tdx_profile *p = mk_tdx_profile_find("qemu-8.2-ovmf-2024.02");
    assert_non_null(p);
    assert_int_equal(p->page_order, MK_TDX_PAGE_ORDER_TWO_PASS);
    assert_int_equal(p->kernel_image, MK_TDX_KERNEL_PATCHED);
    assert_false(p->rtmr1_separator);
    assert_int_equal(p->initrd_arg, MK_TDX_INITRD_ARG_SUFFIX);
    p = mk_tdx_profile_find("qemu-10.1-ovmf-2025.05");
    assert_non_null(p);
    assert_int_equal(p->page_order, MK_TDX_PAGE_ORDER_INTERLEAVED);
    assert_int_equal(p->kernel_image, MK_TDX_KERNEL_RAW);
    assert_true(p->rtmr1_separator);
    for (size_t i = 0; i < mk_tdx_profile_count(); i++)
        assert_ptr_equal(mk_tdx_profile_find(mk_tdx_profile_at(i)->name), mk_tdx_profile_at(i));

    /* JSON of a full measurement parses and carries the registers. */
    uint8_t *fw = malloc(FW_LEN);
    uint8_t pe[PE_LEN], mrtd[48];
    assert_non_null(fw);
    build_fw(fw);
    build_pe64(pe);
    mk_tdx_measure_input in;
    memset(&in, 0, sizeof in);
    in.firmware = fw;
    in.firmware_len = FW_LEN;
    in.kernel = pe;
    in.kernel_len = PE_LEN;
    in.cmdline = "console=ttyS0";
    mk_tdx_measurement *m = calloc(1, sizeof *m);
    assert_non_null(m);
    mk_error err;
    TU_ASSERT_RC(mk_tdx_measure(&in, p, m, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_mrtd(fw, FW_LEN, p->page_order, mrtd, &err), 0, &err);
    assert_memory_equal(m->mrtd, mrtd, 48);
    mk_buf b = MK_BUF_INIT;
    assert_int_equal(mk_tdx_measurement_json(m, p, &b), 0);
    json_error_t je;
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &je);
    if (!j) fail_msg("JSON does not parse: %s", je.text);
    char hx[97];
    mk_hex_encode(m->mrtd, 48, hx);
    assert_string_equal(json_string_value(json_object_get(j, "mrtd")), hx);
    mk_hex_encode(m->rtmr1, 48, hx);
    assert_string_equal(json_string_value(json_object_get(j, "rtmr1")), hx);
    assert_int_equal(json_array_size(json_object_get(j, "events")), m->nevents);
    assert_int_equal(json_array_size(json_object_get(j, "tdvf_sections")), FW_NSEC);
    assert_string_equal(json_string_value(json_object_get(j, "load_options")), "console=ttyS0");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "profile"), "page_order")),
        "interleaved");
    json_decref(j);
    mk_buf_reset(&b);
    assert_int_equal(mk_tdx_measurement_text(m, p, &b), 0);
    assert_non_null(strstr((const char *)b.data, "MRTD  "));
    assert_non_null(strstr((const char *)b.data, EV_CALLING));
    mk_buf_free(&b);
    free(m);
    free(fw);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rtmr_extend_vectors), cmocka_unit_test(test_load_options),
        cmocka_unit_test(test_measure_swtpm_rtmr2), cmocka_unit_test(test_qemu_patch),
        cmocka_unit_test(test_measure_errors),      cmocka_unit_test(test_profiles_and_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
