/*
 * authenticode.c — the PE Authenticode digest of a kernel as the firmware
 * measures it, and QEMU's patch of the Linux setup header.
 *
 * Authenticode (PE/COFF specification, appendix A; EDK2's measured boot
 * computes the same): the image is hashed except the CheckSum field, the
 * Security (certificate) data-directory entry and the certificate table:
 *   1. [0, CheckSum)
 *   2. NumberOfRvaAndSizes <= 4: [CheckSum+4, SizeOfHeaders); otherwise
 *      [CheckSum+4, SecDirEntry) and [SecDirEntry+8, SizeOfHeaders)
 *   3. every section with SizeOfRawData > 0, in ascending PointerToRawData
 *      order (stable), [Ptr, Ptr+SizeOfRawData); sum = SizeOfHeaders + all
 *      SizeOfRawData
 *   4. if the file is longer than sum: cert = SecDir.Size (0 when there is no
 *      Security entry); hash [sum, size - cert) when size > sum + cert; an
 *      image with size < sum + cert is refused (EDK2 does not measure it).
 *      No padding is added.
 * The offsets: "MZ" gives e_lfanew at 0x3C (no "MZ": the PE header is at
 * 0), "PE\0\0", the 20-byte COFF header, the optional header (PE32 0x10B or
 * PE32+ 0x20B) with CheckSum at +64, SizeOfHeaders at +60,
 * NumberOfRvaAndSizes at +92/+108 and the data directory at +96/+112, then
 * the section table (40 bytes per section) after SizeOfOptionalHeader.
 *
 * QEMU's setup-header patch (x86_load_linux, QEMU < 10.0 or without
 * confidential-guest-support) rewrites a few fields of the first
 * (setup_sects+1)*512 bytes: cmd_line_ptr (or the old 0xA33F cmdline magic),
 * vid_mode when the command line has "vga=", type_of_loader 0xB0,
 * loadflags |= CAN_USE_HEAP, heap_end_ptr (u16), and ramdisk_image /
 * ramdisk_size when an initrd is given. The initrd address depends on the
 * initrd size, the header's limits and the guest RAM below 4 GiB (q35:
 * RAM >= 0xB0000000 keeps 2 GiB below 4 GiB) minus the ACPI data size.
 *
 * Invariants: all header fields are read through mk_reader; every range
 * hashed is checked to lie inside the image (no overflow) before any
 * hashing; sections must not overlap one another; counts are capped
 * (MK_TDX_PE_MAX_SECTIONS). The patch writes only inside the setup header and
 * only after every check passed.
 */
#include <stdlib.h>
#include <string.h>

#include "mosaik/crypto.h"
#include "mosaik/tdx_measure.h"

typedef struct pe_range {
    size_t off, len;
} pe_range;

typedef struct pe_layout {
    size_t checksum_off; /* file offset of CheckSum */
    size_t secdir_off;   /* file offset of the Security entry (if nrva > 4) */
    uint32_t nrva;
    uint32_t cert_size; /* SecDir.Size, 0 without a Security entry */
    size_t size_of_headers;
    size_t nsec; /* sections with SizeOfRawData > 0 */
    pe_range sec[MK_TDX_PE_MAX_SECTIONS];
} pe_layout;

static int at(const uint8_t *img, size_t len, size_t off, mk_reader *r) {
    mk_reader_init(r, img, len);
    return mk_read_skip(r, off);
}

static int pe_parse(const uint8_t *img, size_t len, pe_layout *L, mk_error *err) {
    mk_reader r;
    const uint8_t *v;
    size_t pe = 0;
    memset(L, 0, sizeof *L);
    if (len > MK_TDX_PE_MAX_IMAGE)
        return mk_error_set(err, MK_ETOOBIG, "PE image of %zu bytes exceeds %zu bytes", len,
                            MK_TDX_PE_MAX_IMAGE);
    mk_reader_init(&r, img, len);
    if (mk_reader_peek(&r, 2, &v) == 0 && v[0] == 'M' && v[1] == 'Z') {
        uint32_t lfanew;
        if (at(img, len, 0x3C, &r) < 0 || mk_read_u32le(&r, &lfanew) < 0)
            return mk_error_set(err, MK_EMALFORMED, "PE: DOS header truncated");
        pe = lfanew;
    }
    uint16_t nsec, ohs, magic;
    if (at(img, len, pe, &r) < 0 || mk_read_view(&r, 4, &v) < 0)
        return mk_error_set(err, MK_EMALFORMED, "PE: e_lfanew 0x%zx is outside the %zu-byte file",
                            pe, len);
    if (memcmp(v, "PE\0\0", 4) != 0)
        return mk_error_set(err, MK_EMALFORMED, "PE: no \"PE\\0\\0\" signature at 0x%zx", pe);
    /* COFF header: Machine, NumberOfSections, TimeDateStamp,
     * PointerToSymbolTable, NumberOfSymbols, SizeOfOptionalHeader, Chars. */
    if (mk_read_skip(&r, 2) < 0 || mk_read_u16le(&r, &nsec) < 0 || mk_read_skip(&r, 12) < 0 ||
        mk_read_u16le(&r, &ohs) < 0 || mk_read_skip(&r, 2) < 0)
        return mk_error_set(err, MK_EMALFORMED, "PE: COFF header truncated");
    if (nsec > MK_TDX_PE_MAX_SECTIONS)
        return mk_error_set(err, MK_ETOOBIG, "PE: %u sections (cap %d)", nsec,
                            MK_TDX_PE_MAX_SECTIONS);
    size_t opt = pe + 24;
    mk_reader o; /* the optional header, exactly SizeOfOptionalHeader bytes */
    if (mk_read_sub(&r, ohs, &o) < 0)
        return mk_error_set(err, MK_EMALFORMED,
                            "PE: optional header of %u bytes runs past the file", ohs);
    if (mk_reader_peek(&o, 2, &v) < 0)
        return mk_error_set(err, MK_EMALFORMED, "PE: no optional header");
    magic = (uint16_t)(v[0] | (v[1] << 8));
    size_t nrva_at, dd_at;
    if (magic == 0x10B) {
        nrva_at = 92;
        dd_at = 96;
    } else if (magic == 0x20B) {
        nrva_at = 108;
        dd_at = 112;
    } else {
        return mk_error_set(err, MK_EUNSUPPORTED, "PE: optional header magic 0x%x", magic);
    }
    uint32_t soh;
    mk_reader f = o;
    if (mk_read_skip(&f, 60) < 0 || mk_read_u32le(&f, &soh) < 0)
        return mk_error_set(err, MK_EMALFORMED, "PE: optional header too short for SizeOfHeaders");
    f = o;
    if (mk_read_skip(&f, nrva_at) < 0 || mk_read_u32le(&f, &L->nrva) < 0)
        return mk_error_set(err, MK_EMALFORMED,
                            "PE: optional header too short for NumberOfRvaAndSizes");
    if (L->nrva > 16)
        return mk_error_set(err, MK_EMALFORMED, "PE: NumberOfRvaAndSizes %u > 16", L->nrva);
    if ((size_t)ohs < dd_at + 8u * L->nrva)
        return mk_error_set(err, MK_EMALFORMED,
                            "PE: %u data-directory entries do not fit the optional header",
                            L->nrva);
    L->checksum_off = opt + 64;
    L->size_of_headers = soh;
    if (soh > len)
        return mk_error_set(err, MK_EMALFORMED, "PE: SizeOfHeaders 0x%x exceeds the file", soh);
    if (L->checksum_off + 4 > soh)
        return mk_error_set(err, MK_EMALFORMED, "PE: SizeOfHeaders 0x%x ends before CheckSum", soh);
    if (L->nrva > 4) {
        uint32_t cert_off;
        L->secdir_off = opt + dd_at + 32;
        f = o;
        if (mk_read_skip(&f, dd_at + 32) < 0 || mk_read_u32le(&f, &cert_off) < 0 ||
            mk_read_u32le(&f, &L->cert_size) < 0)
            return mk_error_set(err, MK_EMALFORMED, "PE: Security directory truncated");
        if (L->secdir_off + 8 > soh)
            return mk_error_set(err, MK_EMALFORMED,
                                "PE: SizeOfHeaders 0x%x ends before the Security directory", soh);
        (void)cert_off; /* EDK2 locates the certificate by its size only */
    }
    /* Section table. */
    mk_reader st;
    if (at(img, len, opt + ohs, &r) < 0 || mk_read_sub(&r, (size_t)nsec * 40, &st) < 0)
        return mk_error_set(err, MK_EMALFORMED,
                            "PE: section table (%u entries at 0x%zx) runs past the file", nsec,
                            opt + ohs);
    for (size_t i = 0; i < nsec; i++) {
        uint32_t srd, ptr;
        if (mk_read_skip(&st, 16) < 0 || mk_read_u32le(&st, &srd) < 0 ||
            mk_read_u32le(&st, &ptr) < 0 || mk_read_skip(&st, 16) < 0)
            return mk_error_set(err, MK_EMALFORMED, "PE: section %zu truncated", i);
        if (srd == 0) continue;
        if ((uint64_t)ptr + srd > len)
            return mk_error_set(err, MK_EMALFORMED,
                                "PE: section %zu [0x%x, +0x%x) lies outside the %zu-byte file", i,
                                ptr, srd, len);
        /* Stable insertion by PointerToRawData. */
        size_t k = L->nsec;
        while (k > 0 && L->sec[k - 1].off > ptr) {
            L->sec[k] = L->sec[k - 1];
            k--;
        }
        L->sec[k].off = ptr;
        L->sec[k].len = srd;
        L->nsec++;
    }
    for (size_t i = 1; i < L->nsec; i++)
        if (L->sec[i].off < L->sec[i - 1].off + L->sec[i - 1].len)
            return mk_error_set(err, MK_EMALFORMED,
                                "PE: sections at 0x%zx and 0x%zx overlap in the file",
                                L->sec[i - 1].off, L->sec[i].off);
    uint64_t sum = soh;
    for (size_t i = 0; i < L->nsec; i++)
        sum += L->sec[i].len;
    if (len > sum && (uint64_t)len < sum + L->cert_size)
        return mk_error_set(err, MK_EMALFORMED,
                            "PE: certificate table of 0x%x bytes is larger than the 0x%llx bytes "
                            "after the sections",
                            L->cert_size, (unsigned long long)(len - sum));
    return 0;
}

static int hash_range(mk_hash_ctx *h, const uint8_t *img, size_t len, size_t off, size_t n) {
    mk_reader r;
    const uint8_t *v;
    MK_TRY(at(img, len, off, &r));
    MK_TRY(mk_read_view(&r, n, &v));
    return mk_hash_update(h, v, n);
}

int mk_tdx_pe_authenticode(const uint8_t *image, size_t len, mk_hash_alg alg, uint8_t *out,
                           mk_error *err) {
    if (!image || !out) return mk_error_set(err, MK_EINVAL, "authenticode: NULL argument");
    if (mk_hash_len(alg) == 0) return mk_error_set(err, MK_EINVAL, "authenticode: bad hash");
    pe_layout *L = malloc(sizeof *L);
    if (!L) return mk_error_set(err, MK_ENOMEM, "authenticode: out of memory");
    int rc = pe_parse(image, len, L, err);
    if (rc < 0) {
        free(L);
        return rc;
    }
    mk_hash_ctx *h = mk_hash_new(alg);
    if (!h) {
        free(L);
        return mk_error_set(err, MK_ENOMEM, "authenticode: cannot create a hash context");
    }
    size_t cks = L->checksum_off, soh = L->size_of_headers;
    rc = hash_range(h, image, len, 0, cks);
    if (rc == 0 && L->nrva <= 4) {
        rc = hash_range(h, image, len, cks + 4, soh - (cks + 4));
    } else if (rc == 0) {
        /* The Security entry normally follows CheckSum; one placed before it
         * would be malformed (the ranges would run backwards). */
        if (L->secdir_off < cks + 4) rc = MK_EMALFORMED;
        if (rc == 0) rc = hash_range(h, image, len, cks + 4, L->secdir_off - (cks + 4));
        if (rc == 0) rc = hash_range(h, image, len, L->secdir_off + 8, soh - (L->secdir_off + 8));
    }
    uint64_t sum = soh;
    for (size_t i = 0; rc == 0 && i < L->nsec; i++) {
        rc = hash_range(h, image, len, L->sec[i].off, L->sec[i].len);
        sum += L->sec[i].len;
    }
    if (rc == 0 && len > sum && (uint64_t)len > sum + L->cert_size)
        rc = hash_range(h, image, len, (size_t)sum, (size_t)(len - L->cert_size - sum));
    if (rc == 0) rc = mk_hash_final(h, out);
    if (rc < 0) mk_error_set(err, rc, "authenticode: hashing failed (%s)", mk_strerror(rc));
    mk_hash_free(h);
    free(L);
    return rc;
}

/* ---- QEMU setup-header patch ---------------------------------------- */

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* QEMU's reading of "vga=": normal, ext, ask, or a number (strtol base 0). */
static bool vga_mode(const char *cmdline, uint16_t *mode) {
    const char *v = cmdline ? strstr(cmdline, "vga=") : NULL;
    if (!v) return false;
    v += 4;
    if (strncmp(v, "normal", 6) == 0)
        *mode = 0xFFFF;
    else if (strncmp(v, "ext", 3) == 0)
        *mode = 0xFFFE;
    else if (strncmp(v, "ask", 3) == 0)
        *mode = 0xFFFD;
    else
        *mode = (uint16_t)strtol(v, NULL, 0);
    return true;
}

int mk_tdx_qemu_patch_kernel(uint8_t *kernel, size_t len, const mk_tdx_qemu_kernel_load *load,
                             mk_error *err) {
    if (!kernel || !load) return mk_error_set(err, MK_EINVAL, "qemu patch: NULL argument");
    mk_reader r;
    uint8_t setup_sects, loadflags;
    uint32_t hdrs, initrd_addr_max = 0;
    uint16_t protocol = 0, xloadflags = 0;
    if (at(kernel, len, 0x1F1, &r) < 0 || mk_read_u8(&r, &setup_sects) < 0)
        return mk_error_set(err, MK_EMALFORMED, "kernel: file too short for a setup header");
    if (at(kernel, len, 0x202, &r) < 0 || mk_read_u32le(&r, &hdrs) < 0 || hdrs != 0x53726448)
        return mk_error_set(err, MK_EMALFORMED,
                            "kernel: no \"HdrS\" setup header: not a Linux bzImage");
    size_t setup_size = ((size_t)(setup_sects ? setup_sects : 4) + 1) * 512;
    if (setup_size > len)
        return mk_error_set(err, MK_EMALFORMED,
                            "kernel: setup of %zu bytes is larger than the file", setup_size);
    /* From here on every offset below 0x240 is inside the file. */
    MK_TRY(at(kernel, len, 0x206, &r));
    MK_TRY(mk_read_u16le(&r, &protocol));
    MK_TRY(at(kernel, len, 0x211, &r));
    MK_TRY(mk_read_u8(&r, &loadflags));
    MK_TRY(at(kernel, len, 0x22C, &r));
    MK_TRY(mk_read_u32le(&r, &initrd_addr_max));
    MK_TRY(at(kernel, len, 0x236, &r));
    MK_TRY(mk_read_u16le(&r, &xloadflags));

    const char *cmdline = load->cmdline ? load->cmdline : "";
    size_t cmdline_size = (strlen(cmdline) + 16) & ~(size_t)15;
    uint32_t real_addr, cmdline_addr;
    if (protocol < 0x202 || !(loadflags & 0x01)) {
        real_addr = 0x90000;
        if (cmdline_size > 0x9A000 - 0x90000 - 0x200)
            return mk_error_set(err, MK_ETOOBIG, "kernel: command line too long for a low kernel");
        cmdline_addr = 0x9A000 - (uint32_t)cmdline_size;
    } else {
        real_addr = 0x10000;
        cmdline_addr = 0x20000;
    }

    uint64_t initrd_max;
    if (protocol >= 0x20C && (xloadflags & 0x02))
        initrd_max = 0xFFFFFFFFu;
    else if (protocol >= 0x203)
        initrd_max = initrd_addr_max;
    else
        initrd_max = 0x37FFFFFF;
    uint64_t ram = load->memory_bytes;
    uint64_t lowmem = ram >= 0xB0000000u ? 0x80000000u : 0xB0000000u;
    uint64_t below4g = ram < lowmem ? ram : lowmem;
    uint64_t acpi = load->acpi_data_size ? load->acpi_data_size : 0x28000;
    if (below4g <= acpi)
        return mk_error_set(err, MK_EINVAL, "kernel: %llu bytes of RAM is too small",
                            (unsigned long long)ram);
    if (initrd_max >= below4g - acpi) initrd_max = below4g - acpi - 1;
    uint32_t initrd_addr = 0;
    if (load->have_initrd) {
        if (load->initrd_size >= initrd_max)
            return mk_error_set(
                err, MK_ETOOBIG, "kernel: QEMU would refuse an initrd of %llu bytes (max 0x%llx)",
                (unsigned long long)load->initrd_size, (unsigned long long)initrd_max);
        initrd_addr = (uint32_t)((initrd_max - load->initrd_size) & ~(uint64_t)4095);
    }

    /* All checks passed: write. */
    if (protocol >= 0x202) {
        put32(kernel + 0x228, cmdline_addr);
    } else {
        put16(kernel + 0x20, 0xA33F);
        put16(kernel + 0x22, (uint16_t)(cmdline_addr - real_addr));
    }
    uint16_t mode;
    if (vga_mode(cmdline, &mode)) put16(kernel + 0x1FA, mode);
    if (protocol >= 0x200) kernel[0x210] = 0xB0;
    if (protocol >= 0x201) {
        kernel[0x211] = (uint8_t)(loadflags | 0x80);
        put16(kernel + 0x224, (uint16_t)(cmdline_addr - real_addr - 0x200));
    }
    if (load->have_initrd) {
        put32(kernel + 0x218, initrd_addr);
        put32(kernel + 0x21C, (uint32_t)load->initrd_size);
    }
    return 0;
}
