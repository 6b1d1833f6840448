/*
 * measure_util.h — what the MRTD / RTMR tests share: an independent hasher
 * (OpenSSL EVP directly, never the library's wrappers), byte writers, the
 * swtpm-observed event digests with their provenance, and the synthetic
 * TDVF image the MRTD and the profile tests measure.
 *
 * Where expected values come from is said in test_measure_pe.c,
 * test_measure_mrtd.c and test_measure_rtmr.c.
 */
#ifndef MOSAIK_TESTS_MEASURE_UTIL_H
#define MOSAIK_TESTS_MEASURE_UTIL_H

#include "test_util.h"

#include <jansson.h>
#include <openssl/evp.h>

#include "mosaik/tdx_measure.h"

/* ---- helpers ------------------------------------------------------- */

static inline void unhex(const char *s, uint8_t *out, size_t n) {
    mk_error err;
    if (mk_hex_decode_exact(s, out, n, &err) != 0) fail_msg("bad hex in test: %s", s);
}

static inline void assert_hex(const uint8_t *got, const char *want_hex, size_t n) {
    char hx[2 * 64 + 1];
    mk_hex_encode(got, n, hx);
    if (strcmp(hx, want_hex) != 0) fail_msg("got %s\nwant %s", hx, want_hex);
}

/* Independent hasher: OpenSSL EVP, not the library's wrappers. */
typedef struct {
    EVP_MD_CTX *c;
} th;
static inline void th_init(th *h, const EVP_MD *md) {
    h->c = EVP_MD_CTX_new();
    assert_non_null(h->c);
    assert_int_equal(EVP_DigestInit_ex(h->c, md, NULL), 1);
}
static inline void th_up(th *h, const void *p, size_t n) {
    assert_int_equal(EVP_DigestUpdate(h->c, p, n), 1);
}
static inline void th_final(th *h, uint8_t *out) {
    unsigned int l;
    assert_int_equal(EVP_DigestFinal_ex(h->c, out, &l), 1);
    EVP_MD_CTX_free(h->c);
}
static inline void sha384_of(const void *p, size_t n, uint8_t out[48]) {
    th h;
    th_init(&h, EVP_sha384());
    th_up(&h, p, n);
    th_final(&h, out);
}
static inline void extend(uint8_t reg[48], const uint8_t d[48]) {
    uint8_t in[96];
    memcpy(in, reg, 48);
    memcpy(in + 48, d, 48);
    sha384_of(in, 96, reg);
}

static inline void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void fill(uint8_t *p, size_t n, uint32_t seed) {
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
/* Computed from the verified digests above (extend = SHA-384(reg || d)). */
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

static inline void put_section(uint8_t *p, uint32_t off, uint32_t raw, uint64_t gpa, uint64_t size,
                               uint32_t type, uint32_t attr) {
    put32(p, off);
    put32(p + 4, raw);
    put64(p + 8, gpa);
    put64(p + 16, size);
    put32(p + 24, type);
    put32(p + 28, attr);
}

static inline uint8_t *sec_at(uint8_t *fw, int i) {
    return fw + FW_DESC + 16 + 32 * i;
}

static inline void build_fw(uint8_t *fw) {
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

static inline void exp_page_add(th *h, uint64_t gpa) {
    uint8_t b[128] = {0};
    memcpy(b, "MEM.PAGE.ADD", 12);
    put64(b + 16, gpa);
    th_up(h, b, 128);
}

static inline void exp_page_extend(th *h, const uint8_t *fw, uint64_t gpa, size_t file_off) {
    for (int c = 0; c < 16; c++) {
        uint8_t b[128] = {0};
        memcpy(b, "MR.EXTEND", 9);
        put64(b + 16, gpa + 256u * c);
        th_up(h, b, 128);
        th_up(h, fw + file_off + 256u * c, 256);
    }
}

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
static inline void build_pe64(uint8_t *pe) {
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
static inline void build_pe32(uint8_t *pe) {
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

static inline void expect_ranges(const uint8_t *img, const EVP_MD *md, const size_t (*r)[2],
                                 size_t n, uint8_t *out) {
    th h;
    th_init(&h, md);
    for (size_t i = 0; i < n; i++)
        th_up(&h, img + r[i][0], r[i][1] - r[i][0]);
    th_final(&h, out);
}

#endif
