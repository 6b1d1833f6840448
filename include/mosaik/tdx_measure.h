/*
 * mosaik/tdx_measure.h — pre-computing a TD's measurements (MRTD, RTMR1,
 * RTMR2) for QEMU + OVMF (TDVF) + direct kernel boot, without TDX hardware.
 *
 *   MRTD   from the firmware image: its TDVF metadata lists the sections the
 *          VMM copies into the TD; MRTD is the SHA-384 over the 128-byte
 *          buffers TDH.MEM.PAGE.ADD / TDH.MR.EXTEND feed into it, in the
 *          page order of the host's QEMU/KVM (mk_tdx_page_order).
 *   RTMR1  from the kernel: the PE Authenticode SHA-384 of the kernel as the
 *          firmware receives it (raw, or with QEMU's setup-header patch) and
 *          the firmware's fixed boot events.
 *   RTMR2  from the command line and the initrd, measured by the Linux EFI
 *          stub (Linux >= 6.9 only; older stubs leave RTMR2 zero in a TD).
 *   RTMR0  is NOT computed (TD HOB, ACPI tables: depends on QEMU's devices).
 *
 * The host stack's observable differences are the knobs of mk_tdx_profile;
 * built-in profiles name common stacks (mk_tdx_profile_find). See
 * docs/tdx-measure.md for sources and caveats.
 *
 * All parsers take untrusted bytes, read them through mk_reader and refuse
 * malformed input with a reason in err; nothing is written on failure.
 */
#ifndef MOSAIK_TDX_MEASURE_H
#define MOSAIK_TDX_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/crypto.h"
#include "mosaik/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MK_TDX_MEASURE_DIGEST_LEN 48 /* SHA-384 */

/* Hard caps on inputs. */
#define MK_TDX_TDVF_MAX_IMAGE ((size_t)64 << 20)   /* firmware image */
#define MK_TDX_TDVF_MAX_SECTIONS 32                /* TDVF sections */
#define MK_TDX_TDVF_MAX_MEMORY ((uint64_t)1 << 30) /* sum of section MemoryDataSize */
#define MK_TDX_PE_MAX_IMAGE ((size_t)256 << 20)    /* kernel / PE image */
#define MK_TDX_PE_MAX_SECTIONS 96                  /* PE/COFF NumberOfSections */
#define MK_TDX_INITRD_MAX ((uint64_t)4 << 30)      /* initrd file (hashed streaming) */
#define MK_TDX_CMDLINE_MAX 65536                   /* kernel command line bytes */

/* ------------------------------------------------------------------ */
/* TDVF metadata and MRTD (src/tee/tdx/measure/tdvf.c)                 */
/* ------------------------------------------------------------------ */

typedef enum mk_tdx_tdvf_section_type {
    MK_TDX_TDVF_BFV = 0,
    MK_TDX_TDVF_CFV = 1,
    MK_TDX_TDVF_TD_HOB = 2,
    MK_TDX_TDVF_TEMP_MEM = 3,
    MK_TDX_TDVF_PERM_MEM = 4,
    MK_TDX_TDVF_PAYLOAD = 5,
    MK_TDX_TDVF_PAYLOAD_PARAM = 6,
    MK_TDX_TDVF_TD_INFO = 7,
} mk_tdx_tdvf_section_type;

#define MK_TDX_TDVF_ATTR_MR_EXTEND 0x1u /* contents are TDH.MR.EXTENDed */
#define MK_TDX_TDVF_ATTR_PAGE_AUG 0x2u  /* added with PAGE.AUG: not measured */

typedef struct mk_tdx_tdvf_section {
    uint32_t data_offset;      /* offset in the image file */
    uint32_t raw_data_size;    /* bytes in the file */
    uint64_t memory_address;   /* GPA, 4 KiB aligned */
    uint64_t memory_data_size; /* bytes in memory, 4 KiB aligned */
    uint32_t type;             /* mk_tdx_tdvf_section_type */
    uint32_t attributes;       /* MK_TDX_TDVF_ATTR_* */
} mk_tdx_tdvf_section;

typedef struct mk_tdx_tdvf {
    uint32_t descriptor_offset; /* file offset of the "TDVF" descriptor */
    uint32_t version;           /* descriptor version (1) */
    size_t nsections;
    mk_tdx_tdvf_section sections[MK_TDX_TDVF_MAX_SECTIONS];
} mk_tdx_tdvf;

/* Short name of a section type ("BFV", "CFV", "TD_HOB", …, "?"). */
const char *mk_tdx_tdvf_section_type_name(uint32_t type);

/* Parse the OVMF GUIDed footer table, find the TDX metadata entry and the
 * TDVF descriptor and validate every section against the image. */
int mk_tdx_tdvf_parse(const uint8_t *image, size_t len, mk_tdx_tdvf *out, mk_error *err);

typedef enum mk_tdx_page_order {
    /* PAGE.ADD of a page then its 16 MR.EXTENDs (upstream KVM >= 6.16 with
     * QEMU >= 10.1, Canonical QEMU 9.x). */
    MK_TDX_PAGE_ORDER_INTERLEAVED = 0,
    /* Per section: all PAGE.ADDs, then all MR.EXTENDs (QEMU 8.2-era TDX). */
    MK_TDX_PAGE_ORDER_TWO_PASS = 1,
} mk_tdx_page_order;

/* MRTD of a firmware image (parses it with mk_tdx_tdvf_parse). */
int mk_tdx_mrtd(const uint8_t *image, size_t len, mk_tdx_page_order order,
                uint8_t mrtd[MK_TDX_MEASURE_DIGEST_LEN], mk_error *err);
/* MRTD from already-parsed metadata (image must be the same bytes). */
int mk_tdx_mrtd_from_tdvf(const mk_tdx_tdvf *tdvf, const uint8_t *image, size_t len,
                          mk_tdx_page_order order, uint8_t mrtd[MK_TDX_MEASURE_DIGEST_LEN],
                          mk_error *err);

/* ------------------------------------------------------------------ */
/* PE Authenticode and QEMU's setup-header patch (authenticode.c)      */
/* ------------------------------------------------------------------ */

/* Authenticode digest of a PE/COFF image, exactly as EDK2's measured boot
 * computes it (PE/COFF spec appendix A; no padding of trailing data).
 * out holds mk_hash_len(alg) bytes. */
int mk_tdx_pe_authenticode(const uint8_t *image, size_t len, mk_hash_alg alg, uint8_t *out,
                           mk_error *err);

/* What QEMU's x86_load_linux() needs to patch a bzImage's setup header
 * (q35 machine). */
typedef struct mk_tdx_qemu_kernel_load {
    uint64_t memory_bytes;   /* guest RAM (-m), e.g. 2048 MiB */
    bool have_initrd;        /* -initrd given */
    uint64_t initrd_size;    /* its size in bytes */
    const char *cmdline;     /* -append (NULL = empty); matters for vga= */
    uint32_t acpi_data_size; /* 0 = q35 default 0x28000 */
} mk_tdx_qemu_kernel_load;

/* Apply QEMU's setup-header patch to a copy of a bzImage in place (the
 * kernel buffer is modified only on success). Fails on a kernel without a
 * "HdrS" header, with a setup larger than the file, or an initrd QEMU would
 * refuse as too large. */
int mk_tdx_qemu_patch_kernel(uint8_t *kernel, size_t len, const mk_tdx_qemu_kernel_load *load,
                             mk_error *err);

/* ------------------------------------------------------------------ */
/* Profiles, events and registers (rtmr.c)                             */
/* ------------------------------------------------------------------ */

typedef enum mk_tdx_kernel_image {
    MK_TDX_KERNEL_RAW = 0,     /* unpatched file (QEMU >= 10.0 etc/boot/kernel) */
    MK_TDX_KERNEL_PATCHED = 1, /* QEMU-patched setup header */
} mk_tdx_kernel_image;

typedef enum mk_tdx_initrd_arg {
    MK_TDX_INITRD_ARG_SUFFIX = 0, /* "<cmdline> initrd=initrd" (edk2 <= stable202505) */
    MK_TDX_INITRD_ARG_PREFIX = 1, /* "initrd=initrd <cmdline>" (edk2 >= stable202508) */
} mk_tdx_initrd_arg;

/* The observable differences between host stacks. */
typedef struct mk_tdx_profile {
    const char *name;        /* e.g. "qemu-10.1-ovmf-2025.05" */
    const char *description; /* one line */
    mk_tdx_page_order page_order;
    mk_tdx_kernel_image kernel_image;
    bool rtmr1_separator;         /* EV_SEPARATOR in RTMR1 (edk2 >= stable202411) */
    mk_tdx_initrd_arg initrd_arg; /* where OVMF puts "initrd=initrd" */
    bool stub_measures_rtmr2;     /* guest kernel's EFI stub extends RTMR2 (Linux >= 6.9) */
} mk_tdx_profile;

#define MK_TDX_DEFAULT_PROFILE "qemu-10.1-ovmf-2025.05"

size_t mk_tdx_profile_count(void);
const mk_tdx_profile *mk_tdx_profile_at(size_t i);
/* NULL if unknown. */
const mk_tdx_profile *mk_tdx_profile_find(const char *name);

/* Event types (TCG PC Client / UEFI). */
#define MK_TDX_EV_SEPARATOR 0x4u
#define MK_TDX_EV_EVENT_TAG 0x6u
#define MK_TDX_EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define MK_TDX_EV_EFI_ACTION 0x80000007u

#define MK_TDX_MAX_EVENTS 16

typedef struct mk_tdx_event {
    unsigned rtmr;       /* 1 or 2 (CC event log MrIndex = rtmr + 1) */
    uint32_t event_type; /* MK_TDX_EV_* */
    char description[96];
    uint8_t digest[MK_TDX_MEASURE_DIGEST_LEN];
} mk_tdx_event;

/* Inputs of a measurement. Any of firmware / kernel may be absent. */
typedef struct mk_tdx_measure_input {
    const uint8_t *firmware; /* OVMF image (NULL: no MRTD) */
    size_t firmware_len;
    const uint8_t *kernel; /* bzImage (NULL: no RTMR1/RTMR2) */
    size_t kernel_len;
    bool have_initrd;
    const uint8_t *initrd;        /* initrd bytes, or NULL when initrd_sha384 is given */
    uint64_t initrd_len;          /* size (needed for the patched kernel either way) */
    const uint8_t *initrd_sha384; /* optional precomputed SHA-384 of the initrd */
    const char *cmdline;          /* -append (NULL = empty) */
    uint64_t memory_mib;          /* guest RAM; 0 = 2048 */
} mk_tdx_measure_input;

typedef struct mk_tdx_measurement {
    char profile[64];
    uint64_t memory_mib; /* RAM the patched kernel was computed for */
    bool have_initrd;
    uint64_t initrd_len;
    uint8_t initrd_sha384[MK_TDX_MEASURE_DIGEST_LEN];
    bool have_mrtd;
    mk_tdx_tdvf tdvf;
    uint8_t mrtd[MK_TDX_MEASURE_DIGEST_LEN];
    bool have_rtmr; /* RTMR1/RTMR2 computed (a kernel was given) */
    uint8_t rtmr1[MK_TDX_MEASURE_DIGEST_LEN];
    uint8_t rtmr2[MK_TDX_MEASURE_DIGEST_LEN];
    /* The exact LoadOptions string the firmware passes (before UTF-16). */
    char load_options[MK_TDX_CMDLINE_MAX + 32];
    size_t nevents;
    mk_tdx_event events[MK_TDX_MAX_EVENTS];
} mk_tdx_measurement;

/* RTMR extend: reg = SHA-384(reg || digest). */
void mk_tdx_rtmr_extend(uint8_t reg[MK_TDX_MEASURE_DIGEST_LEN],
                        const uint8_t digest[MK_TDX_MEASURE_DIGEST_LEN]);

/* The LoadOptions string OVMF builds from -append and -initrd
 * (load_options = "" when there is neither). */
int mk_tdx_load_options(const char *cmdline, bool have_initrd, mk_tdx_initrd_arg arg, mk_buf *out,
                        mk_error *err);
/* SHA-384 of the UTF-16LE LoadOptions buffer: each byte widened to a CHAR16,
 * plus the terminating NUL CHAR16. */
int mk_tdx_load_options_digest(const char *load_options, uint8_t out[MK_TDX_MEASURE_DIGEST_LEN],
                               mk_error *err);

/* Compute everything the inputs allow under a profile. The measurement
 * struct is large (> 64 KiB): allocate it on the heap. */
int mk_tdx_measure(const mk_tdx_measure_input *in, const mk_tdx_profile *profile,
                   mk_tdx_measurement *out, mk_error *err);

/* Same from files (initrd hashed streaming; any path may be NULL). */
int mk_tdx_measure_files(const char *firmware_path, const char *kernel_path,
                         const char *initrd_path, const char *cmdline, uint64_t memory_mib,
                         const mk_tdx_profile *profile, mk_tdx_measurement *out, mk_error *err);

/* Render as text (event log + registers) or JSON (jansson); appends a
 * NUL-terminated string to out. */
int mk_tdx_measurement_text(const mk_tdx_measurement *m, const mk_tdx_profile *profile,
                            mk_buf *out);
int mk_tdx_measurement_json(const mk_tdx_measurement *m, const mk_tdx_profile *profile,
                            mk_buf *out);

#ifdef __cplusplus
}
#endif
#endif
