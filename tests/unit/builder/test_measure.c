/*
 * test_measure.c — MRTD / RTMR pre-computation (mosaik/tdx_measure.h).
 *
 * Expected values never come from the code under test:
 *  - Authenticode: a PE built byte by byte here; the expected digest hashes,
 *    with OpenSSL directly, exactly the byte ranges the PE/COFF spec
 *    (appendix A) lists for that layout, written out as literals.
 *  - MRTD: a TDVF image built here; the expected MRTD hashes the 128-byte
 *    TDH.MEM.PAGE.ADD / TDH.MR.EXTEND buffers assembled by hand, page by
 *    page, in the order each variant prescribes.
 *  - Event digests and registers: values observed in the swtpm TPM event
 *    log of a QEMU 7.2 TCG boot of Debian 12's kernel 6.1.0-56 with OVMF
 *    2022.11 (research notes on this project's TDX measurement, §4.4, §8).
 *  - Debian's OVMF.fd MRTDs: computed by tests/builder/mrtd_reference.py
 *    (Python written from Intel's TDVF design guide and TDX module ABI,
 *    not from this code) on ovmf 2022.11-6+deb12u2's /usr/share/ovmf/OVMF.fd;
 *    the values and their provenance are in tests/data/ovmf-mrtd.tsv,
 *    rechecked by tests/cli/tdx_build_mrtd_reference.sh; skipped if absent.
 */
#include "testutil.h"

#include <jansson.h>
#include <openssl/evp.h>

#include "mosaik/tdx_measure.h"

/* ---- helpers ------------------------------------------------------- */

static void unhex(const char *s, uint8_t *out, size_t n) {
    mk_error err;
    if (mk_hex_decode_exact(s, out, n, &err) != 0) fail_msg("bad hex in test: %s", s);
}

static void assert_hex(const uint8_t *got, const char *want_hex, size_t n) {
    char hx[2 * 64 + 1];
    mk_hex_encode(got, n, hx);
    if (strcmp(hx, want_hex) != 0) fail_msg("got %s\nwant %s", hx, want_hex);
}

/* Independent hasher: OpenSSL EVP, not the library's wrappers. */
typedef struct {
    EVP_MD_CTX *c;
} th;
static void th_init(th *h, const EVP_MD *md) {
    h->c = EVP_MD_CTX_new();
    assert_non_null(h->c);
    assert_int_equal(EVP_DigestInit_ex(h->c, md, NULL), 1);
}
static void th_up(th *h, const void *p, size_t n) {
    assert_int_equal(EVP_DigestUpdate(h->c, p, n), 1);
}
static void th_final(th *h, uint8_t *out) {
    unsigned int l;
    assert_int_equal(EVP_DigestFinal_ex(h->c, out, &l), 1);
    EVP_MD_CTX_free(h->c);
}
static void sha384_of(const void *p, size_t n, uint8_t out[48]) {
    th h;
    th_init(&h, EVP_sha384());
    th_up(&h, p, n);
    th_final(&h, out);
}
static void extend(uint8_t reg[48], const uint8_t d[48]) {
    uint8_t in[96];
    memcpy(in, reg, 48);
    memcpy(in + 48, d, 48);
    sha384_of(in, 96, reg);
}

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void fill(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* ---- swtpm-observed vectors (QEMU 7.2 TCG + swtpm, Debian 12 kernel
 * 6.1.0-56, OVMF 2022.11; sha384 bank of the TPM event log) ---------- */

#define EV_CALLING                                                                                 \
    "77a0dab2312b4e1e57a84d865a21e5b2ee8d677a21012ada819d0a98988078d3d740f6346bfe0abaa938ca20439a" \
    "8d71"
#define EV_SEPARATOR                                                                               \
    "394341b7182cd227c5c6b07ef8000cdfd86136c4292b8e576573ad7ed9ae41019f5818b4b971c9effc60e1ad9f12" \
    "89f0"
#define EV_EBS_INV                                                                                 \
    "214b0bef1379756011344877743fdc2a5382bac6e70362d624ccf3f654407c1b4badf7d8f9295dd3dabdef65b276" \
    "77e0"
#define EV_EBS_OK                                                                                  \
    "0a2e01c85deae718a530ad8c6d20a84009babe6c8989269e950d8cf440c6e997695e64d455c4174a652cd080f623" \
    "0b74"
/* PCR4 EV_EFI_BOOT_SERVICES_APPLICATION: the QEMU-patched Debian kernel
 * (-m 2048, initrd of 1 984 000 bytes). */
#define EV_KERNEL_PATCHED_2048                                                                     \
    "292a838b5c6d6f7ba0467c944be9e23f12dc6f10e39d97c18eca0fa41843306f4e23d939f81f726017f5cddaf7b6" \
    "679f"
/* PCR9 "LoadOptions" for -append "console=ttyS0 quiet" with an initrd. */
#define EV_LOADOPTS                                                                                \
    "84d8bb0cdce30e79de0d21467e3ded56bd08e8486e8d907178e8c8fadb3a8b08c5ddc0bab090b78b814fc71fbcc1" \
    "dcc6"
/* PCR9 "LoadOptions" for "console=ttyS0 quiet foo=bär" (UTF-8 bytes). */
#define EV_LOADOPTS_LATIN                                                                          \
    "d6bbef420eede47997412486df242267b758cbeb830d12c4a22101fe8232dd57f85c312a02511eacaec39eba3977" \
    "5518"
/* PCR9 "Linux initrd": SHA-384 of the busybox initrd used (not reproducible). */
#define EV_INITRD                                                                                  \
    "2774510751ca0d1bea7dc050fe79ce5455bb3f7522a695b505b5e5c162670193e398748c9170144cf6eb09bfd1e0" \
    "004d"
/* Replayed PCR9 (sha384 bank) of that boot = RTMR2 with the suffix layout. */
#define PCR9_REPLAY                                                                                \
    "ebb60acf02bb6c2dd3dad519f9b75f3bdaab765638647ef0c3aaff965a2d982117fa7df967a31dc01b48b7d20525" \
    "c653"
/* Computed in the notes from the verified digests above. */
#define RTMR2_PREFIX                                                                               \
    "9192d6b406ef04b4defc89df316afdf2a1d73bb32192ab5a8dd1ec7c143f3f6c6d13c37ebae35883334c29a662ad" \
    "2cb3"
#define RTMR1_PATCHED_SEP                                                                          \
    "d9b43fd1da19300b83a973d48ec871cbdf4465bcf08f2fcd69d43dc029a5e929249441335d27000b0584e43380fa" \
    "7d56"
#define RTMR1_PATCHED_NOSEP                                                                        \
    "db7195de736109380f766c63bd8922d78e086062a4099902fd72c42fd410f621b72fb987ab7e0e19b95c9ede4d58" \
    "77c6"
#define EXTEND_EMPTY                                                                               \
    "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc" \
    "500a"

/* ---- synthetic PE ---------------------------------------------------- */

/* PE32+ layout (all offsets fixed, see the expected ranges below):
 *   0x000 "MZ", e_lfanew (0x3C) = 0x80
 *   0x080 "PE\0\0", COFF (nsec 3, SizeOfOptionalHeader 0xF0)
 *   0x098 optional header (0x20B): CheckSum @0x0D8, SizeOfHeaders 0x200,
 *         NumberOfRvaAndSizes 16, Security entry @0x128 = {0x680, 0x80}
 *   0x188 section table: s0 {raw 0x200 @0x400}, s1 {raw 0x200 @0x200},
 *         s2 {raw 0 @0}
 *   0x600..0x680 trailing data, 0x680..0x700 certificate */
#define PE_LEN 0x700
static void build_pe64(uint8_t *pe) {
    fill(pe, PE_LEN, 7);
    pe[0] = 'M';
    pe[1] = 'Z';
    put32(pe + 0x3C, 0x80);
    memcpy(pe + 0x80, "PE\0\0", 4);
    put16(pe + 0x84, 0x8664);
    put16(pe + 0x86, 3);
    put16(pe + 0x94, 0xF0);
    put16(pe + 0x98, 0x20B);
    put32(pe + 0x98 + 60, 0x200); /* SizeOfHeaders */
    put32(pe + 0x98 + 108, 16);   /* NumberOfRvaAndSizes */
    put32(pe + 0x128, 0x680);     /* Security: offset */
    put32(pe + 0x12C, 0x80);      /* Security: size */
    uint8_t *st = pe + 0x188;
    put32(st + 16, 0x200);
    put32(st + 20, 0x400);
    put32(st + 40 + 16, 0x200);
    put32(st + 40 + 20, 0x200);
    put32(st + 80 + 16, 0);
    put32(st + 80 + 20, 0);
}

/* PE32 without "MZ" (PE header at 0), 4 data directories (no Security):
 *   0x000 "PE\0\0", COFF (nsec 1, SizeOfOptionalHeader 0x80)
 *   0x018 optional header (0x10B): CheckSum @0x058, SizeOfHeaders 0x100,
 *         NumberOfRvaAndSizes 4
 *   0x098 section table: s0 {raw 0x100 @0x100}; 0x200..0x250 trailing */
#define PE32_LEN 0x250
static void build_pe32(uint8_t *pe) {
    fill(pe, PE32_LEN, 99);
    memcpy(pe, "PE\0\0", 4);
    put16(pe + 4, 0x14C);
    put16(pe + 6, 1);
    put16(pe + 20, 0x80);
    put16(pe + 0x18, 0x10B);
    put32(pe + 0x18 + 60, 0x100);
    put32(pe + 0x18 + 92, 4);
    put32(pe + 0x98 + 16, 0x100);
    put32(pe + 0x98 + 20, 0x100);
}

static void expect_ranges(const uint8_t *img, const EVP_MD *md, const size_t (*r)[2], size_t n,
                          uint8_t *out) {
    th h;
    th_init(&h, md);
    for (size_t i = 0; i < n; i++)
        th_up(&h, img + r[i][0], r[i][1] - r[i][0]);
    th_final(&h, out);
}

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

/* ---- synthetic TDVF image -------------------------------------------- */

#define FW_LEN 0x10000
#define FW_DESC 0xE000
#define FW_NSEC 5
/* Sections: BFV (2 pages, measured), CFV (1 page), TD_HOB, PermMem
 * (PAGE.AUG), TempMem (2 pages). */
static const uint8_t guid_footer[16] = {0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
                                        0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d};
static const uint8_t guid_tdx[16] = {0x35, 0x65, 0x7a, 0xe4, 0x4a, 0x98, 0x98, 0x47,
                                     0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2};
/* Some other table entry (SEV-ES reset block GUID 00f771de-…). */
static const uint8_t guid_other[16] = {0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f,
                                       0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e};

static void put_section(uint8_t *p, uint32_t off, uint32_t raw, uint64_t gpa, uint64_t size,
                        uint32_t type, uint32_t attr) {
    put32(p, off);
    put32(p + 4, raw);
    put64(p + 8, gpa);
    put64(p + 16, size);
    put32(p + 24, type);
    put32(p + 28, attr);
}

static uint8_t *sec_at(uint8_t *fw, int i) {
    return fw + FW_DESC + 16 + 32 * i;
}

static void build_fw(uint8_t *fw) {
    fill(fw, FW_LEN, 1234);
    /* Descriptor. */
    memcpy(fw + FW_DESC, "TDVF", 4);
    put32(fw + FW_DESC + 4, 16 + 32 * FW_NSEC);
    put32(fw + FW_DESC + 8, 1);
    put32(fw + FW_DESC + 12, FW_NSEC);
    put_section(sec_at(fw, 0), 0x8000, 0x2000, 0xFFC00000, 0x2000, 0, 1);
    put_section(sec_at(fw, 1), 0x1000, 0x1000, 0xFFB00000, 0x1000, 1, 0);
    put_section(sec_at(fw, 2), 0, 0, 0x809000, 0x1000, 2, 0);
    put_section(sec_at(fw, 3), 0, 0, 0x900000, 0x2000, 4, 2);
    put_section(sec_at(fw, 4), 0, 0, 0x800000, 0x2000, 3, 0);
    /* GUIDed table, ending 0x20 bytes before EOF:
     *   [other: u32 data][u16 22][GUID] [tdx: u32 back][u16 22][GUID]
     *   [u16 62][footer GUID] [0x20 bytes] */
    size_t end = FW_LEN - 0x20;
    memcpy(fw + end - 16, guid_footer, 16);
    put16(fw + end - 18, 18 + 22 + 22);
    size_t p = end - 18;
    memcpy(fw + p - 16, guid_tdx, 16);
    put16(fw + p - 18, 22);
    put32(fw + p - 22, FW_LEN - FW_DESC);
    p -= 22;
    memcpy(fw + p - 16, guid_other, 16);
    put16(fw + p - 18, 22);
    put32(fw + p - 22, 0xDEADBEEF);
}

static void exp_page_add(th *h, uint64_t gpa) {
    uint8_t b[128] = {0};
    memcpy(b, "MEM.PAGE.ADD", 12);
    put64(b + 16, gpa);
    th_up(h, b, 128);
}

static void exp_page_extend(th *h, const uint8_t *fw, uint64_t gpa, size_t file_off) {
    for (int c = 0; c < 16; c++) {
        uint8_t b[128] = {0};
        memcpy(b, "MR.EXTEND", 9);
        put64(b + 16, gpa + 256u * c);
        th_up(h, b, 128);
        th_up(h, fw + file_off + 256u * c, 256);
    }
}

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
        cmocka_unit_test(test_authenticode_pe64),      cmocka_unit_test(test_authenticode_pe32),
        cmocka_unit_test(test_authenticode_malformed), cmocka_unit_test(test_mrtd_synthetic),
        cmocka_unit_test(test_firmware_malformed),     cmocka_unit_test(test_mrtd_debian_ovmf),
        cmocka_unit_test(test_rtmr_extend_vectors),    cmocka_unit_test(test_load_options),
        cmocka_unit_test(test_measure_swtpm_rtmr2),    cmocka_unit_test(test_qemu_patch),
        cmocka_unit_test(test_measure_errors),         cmocka_unit_test(test_profiles_and_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
