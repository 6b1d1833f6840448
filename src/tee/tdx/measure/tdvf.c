/*
 * tdvf.c — TDVF metadata of an OVMF image and the MRTD it yields.
 *
 * Locating the metadata. An OVMF image ends with a "GUIDed table" whose last
 * entry (the footer) ends 0x20 bytes before the end of the file:
 *
 *     ... [data][u16 len][GUID] ... [u16 table_len][footer GUID] [32 bytes]
 *
 * Every entry is [data][u16 len][16-byte GUID] with len = data + 18; the
 * footer's u16 is the length of the whole table including the footer entry.
 * Entries are walked backwards from the footer. The entry with the TDX
 * metadata GUID holds a u32: the distance of the TDVF descriptor from the end
 * of the file. The descriptor is "TDVF", u32 Length (= 16 + 32*N), u32
 * Version (1), u32 N, then N sections of 32 bytes (DataOffset, RawDataSize,
 * MemoryAddress, MemoryDataSize, Type, Attributes). GUIDs are stored in EFI
 * mixed-endian form (first three fields little-endian).
 *
 * MRTD. The VMM copies every section into the TD with TDH.MEM.PAGE.ADD (one
 * 4 KiB page at a time; sections with the PAGE.AUG attribute are added later,
 * unmeasured) and, for sections with the MR.EXTEND attribute, measures the
 * contents with TDH.MR.EXTEND (256 bytes at a time). The TDX module feeds
 * MRTD, one running SHA-384, with 128-byte buffers:
 *     PAGE.ADD : "MEM.PAGE.ADD" || 0^4 || GPA(u64 LE) || 0^104
 *     MR.EXTEND: "MR.EXTEND"    || 0^7 || GPA(u64 LE) || 0^104 || 256 bytes
 * Sections are processed in index order; within a section the order is
 * either per page (ADD then its 16 EXTENDs: upstream KVM/QEMU) or two-pass
 * (all ADDs of the section, then all EXTENDs: QEMU 8.2-era TDX). Extended
 * bytes come from the file at DataOffset + page*4096 + chunk*256, for the
 * whole MemoryDataSize.
 *
 * Invariants: every field is read through mk_reader; the image is at most
 * MK_TDX_TDVF_MAX_IMAGE bytes, there are at most MK_TDX_TDVF_MAX_SECTIONS sections,
 * their memory totals at most MK_TDX_TDVF_MAX_MEMORY, every measured byte range
 * lies inside the image (checked without overflow before hashing), and GPA
 * ranges neither wrap nor overlap. A refused image leaves *out untouched.
 */
#include <string.h>

#include "mosaik/crypto.h"
#include "mosaik/tdx_measure.h"

#define PAGE_SIZE 4096u
#define CHUNK_SIZE 256u
#define TABLE_TAIL 0x20u /* bytes after the footer entry (reset vector) */
#define ENTRY_HDR 18u    /* u16 length + GUID */
#define DESC_HDR 16u
#define SECTION_SIZE 32u

/* 96b582de-1fb2-45f7-baea-a366c55a082d, EFI byte order. */
static const uint8_t footer_guid[16] = {0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
                                        0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d};
/* e47a6535-984a-4798-865e-4685a7bf8ec2, EFI byte order. */
static const uint8_t tdx_metadata_guid[16] = {0x35, 0x65, 0x7a, 0xe4, 0x4a, 0x98, 0x98, 0x47,
                                              0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2};

const char *mk_tdx_tdvf_section_type_name(uint32_t type) {
    static const char *names[] = {"BFV",     "CFV",     "TD_HOB",       "TempMem",
                                  "PermMem", "Payload", "PayloadParam", "TD_INFO"};
    return type < sizeof names / sizeof names[0] ? names[type] : "?";
}

/* A reader over image[off, off+n), failing if that range is outside. */
static int range_reader(const uint8_t *image, size_t len, size_t off, size_t n, mk_reader *out) {
    mk_reader r;
    mk_reader_init(&r, image, len);
    MK_TRY(mk_read_skip(&r, off));
    return mk_read_sub(&r, n, out);
}

/* Find the TDX metadata entry in the footer table; *desc_off = file offset
 * of the descriptor. */
static int find_descriptor(const uint8_t *image, size_t len, size_t *desc_off, mk_error *err) {
    if (len < TABLE_TAIL + ENTRY_HDR)
        return mk_error_set(err, MK_EMALFORMED, "image of %zu bytes is too small for OVMF", len);
    size_t end = len - TABLE_TAIL; /* end of the footer entry */
    mk_reader r;
    const uint8_t *guid;
    uint16_t table_len;
    MK_TRY(range_reader(image, len, end - ENTRY_HDR, ENTRY_HDR, &r));
    if (mk_read_u16le(&r, &table_len) < 0 || mk_read_view(&r, 16, &guid) < 0)
        return mk_error_set(err, MK_EMALFORMED, "cannot read the OVMF table footer");
    if (memcmp(guid, footer_guid, 16) != 0)
        return mk_error_set(err, MK_EMALFORMED,
                            "no OVMF GUIDed table footer (GUID 96b582de-…) 0x%zx bytes before "
                            "the end: not an OVMF/TDVF image",
                            (size_t)(TABLE_TAIL + 16));
    if (table_len < ENTRY_HDR || table_len > end)
        return mk_error_set(err, MK_EMALFORMED, "OVMF table length %u is out of range",
                            (unsigned)table_len);
    size_t start = end - table_len;
    size_t p = end - ENTRY_HDR; /* end of the entry before the footer */
    bool found = false;
    uint32_t back = 0;
    /* Each entry is at least ENTRY_HDR bytes, so the loop runs at most
     * 65535/18 times; a remainder shorter than an entry header is ignored,
     * as QEMU does. */
    while (p - start >= ENTRY_HDR) {
        uint16_t elen;
        MK_TRY(range_reader(image, len, p - ENTRY_HDR, ENTRY_HDR, &r));
        if (mk_read_u16le(&r, &elen) < 0 || mk_read_view(&r, 16, &guid) < 0)
            return mk_error_set(err, MK_EMALFORMED, "cannot read an OVMF table entry");
        if (elen < ENTRY_HDR || elen > p - start)
            return mk_error_set(err, MK_EMALFORMED,
                                "OVMF table entry at 0x%zx has length %u outside the table",
                                p - ENTRY_HDR, (unsigned)elen);
        if (!found && memcmp(guid, tdx_metadata_guid, 16) == 0) {
            mk_reader d;
            MK_TRY(range_reader(image, len, p - elen, elen - ENTRY_HDR, &d));
            if (mk_read_u32le(&d, &back) < 0)
                return mk_error_set(err, MK_EMALFORMED,
                                    "TDX metadata entry has %u data bytes, need 4",
                                    (unsigned)(elen - ENTRY_HDR));
            found = true;
        }
        p -= elen;
    }
    if (!found)
        return mk_error_set(err, MK_ENOTFOUND,
                            "no TDX metadata entry (GUID e47a6535-…) in the OVMF table: firmware "
                            "without TDX support");
    if (back < DESC_HDR || back > len)
        return mk_error_set(err, MK_EMALFORMED,
                            "TDX metadata offset 0x%x (from the end) is outside the %zu-byte image",
                            back, len);
    *desc_off = len - back;
    return 0;
}

static int check_section(const mk_tdx_tdvf_section *s, size_t i, size_t len, mk_error *err) {
    const uint64_t pm = PAGE_SIZE - 1;
    if (s->attributes & ~(uint32_t)(MK_TDX_TDVF_ATTR_MR_EXTEND | MK_TDX_TDVF_ATTR_PAGE_AUG))
        return mk_error_set(err, MK_EMALFORMED, "section %zu: reserved attribute bits 0x%x", i,
                            s->attributes);
    if ((s->attributes & MK_TDX_TDVF_ATTR_MR_EXTEND) && (s->attributes & MK_TDX_TDVF_ATTR_PAGE_AUG))
        return mk_error_set(err, MK_EMALFORMED,
                            "section %zu: both MR.EXTEND and PAGE.AUG attributes", i);
    if (s->type > MK_TDX_TDVF_PERM_MEM)
        return mk_error_set(err, MK_EUNSUPPORTED, "section %zu: unsupported TDVF section type %u",
                            i, s->type);
    if ((s->memory_address & pm) || (s->memory_data_size & pm))
        return mk_error_set(err, MK_EMALFORMED,
                            "section %zu: MemoryAddress 0x%llx / MemoryDataSize 0x%llx not 4 KiB "
                            "aligned",
                            i, (unsigned long long)s->memory_address,
                            (unsigned long long)s->memory_data_size);
    if (s->memory_data_size == 0)
        return mk_error_set(err, MK_EMALFORMED, "section %zu: MemoryDataSize is zero", i);
    if (s->memory_data_size > MK_TDX_TDVF_MAX_MEMORY)
        return mk_error_set(err, MK_ETOOBIG, "section %zu: MemoryDataSize 0x%llx exceeds the cap",
                            i, (unsigned long long)s->memory_data_size);
    if (s->memory_address > UINT64_MAX - s->memory_data_size)
        return mk_error_set(err, MK_EMALFORMED, "section %zu: memory range wraps around", i);
    if ((uint64_t)s->raw_data_size > s->memory_data_size)
        return mk_error_set(err, MK_EMALFORMED,
                            "section %zu: RawDataSize 0x%x exceeds MemoryDataSize 0x%llx", i,
                            s->raw_data_size, (unsigned long long)s->memory_data_size);
    bool fv = s->type == MK_TDX_TDVF_BFV || s->type == MK_TDX_TDVF_CFV;
    if (fv && s->raw_data_size == 0)
        return mk_error_set(err, MK_EMALFORMED, "section %zu: %s without data", i,
                            mk_tdx_tdvf_section_type_name(s->type));
    if (!fv && s->raw_data_size != 0)
        return mk_error_set(err, MK_EMALFORMED, "section %zu: %s must not carry file data", i,
                            mk_tdx_tdvf_section_type_name(s->type));
    if (!fv && (s->attributes & MK_TDX_TDVF_ATTR_MR_EXTEND))
        return mk_error_set(err, MK_EMALFORMED, "section %zu: %s cannot be MR.EXTENDed", i,
                            mk_tdx_tdvf_section_type_name(s->type));
    /* Bytes taken from the file: RawDataSize, or the whole MemoryDataSize
     * when the section is measured (QEMU extends from the file). */
    uint64_t need = (s->attributes & MK_TDX_TDVF_ATTR_MR_EXTEND) ? s->memory_data_size
                                                                 : (uint64_t)s->raw_data_size;
    if (need > 0 &&
        ((uint64_t)s->data_offset > (uint64_t)len || need > (uint64_t)len - s->data_offset))
        return mk_error_set(err, MK_EMALFORMED,
                            "section %zu: file range [0x%x, +0x%llx) is outside the %zu-byte "
                            "image",
                            i, s->data_offset, (unsigned long long)need, len);
    return 0;
}

int mk_tdx_tdvf_parse(const uint8_t *image, size_t len, mk_tdx_tdvf *out, mk_error *err) {
    if (!image || !out) return mk_error_set(err, MK_EINVAL, "tdvf: NULL argument");
    if (len > MK_TDX_TDVF_MAX_IMAGE)
        return mk_error_set(err, MK_ETOOBIG, "firmware image of %zu bytes exceeds %zu bytes", len,
                            MK_TDX_TDVF_MAX_IMAGE);
    size_t off = 0;
    int rc = find_descriptor(image, len, &off, err);
    if (rc < 0) return rc;

    mk_reader r;
    uint8_t sig[4];
    uint32_t dlen, version, n;
    if (range_reader(image, len, off, DESC_HDR, &r) < 0)
        return mk_error_set(err, MK_EMALFORMED, "TDVF descriptor at 0x%zx is truncated", off);
    MK_TRY(mk_read_bytes(&r, sig, 4));
    MK_TRY(mk_read_u32le(&r, &dlen));
    MK_TRY(mk_read_u32le(&r, &version));
    MK_TRY(mk_read_u32le(&r, &n));
    if (memcmp(sig, "TDVF", 4) != 0)
        return mk_error_set(err, MK_EMALFORMED, "no \"TDVF\" signature at 0x%zx", off);
    if (version != 1)
        return mk_error_set(err, MK_EUNSUPPORTED, "TDVF descriptor version %u (want 1)", version);
    if (n < 2)
        return mk_error_set(err, MK_EMALFORMED, "TDVF descriptor has %u sections (need >= 2)", n);
    if (n > MK_TDX_TDVF_MAX_SECTIONS)
        return mk_error_set(err, MK_ETOOBIG, "TDVF descriptor has %u sections (cap %d)", n,
                            MK_TDX_TDVF_MAX_SECTIONS);
    if (dlen != DESC_HDR + SECTION_SIZE * n)
        return mk_error_set(err, MK_EMALFORMED,
                            "TDVF descriptor length %u does not match %u sections", dlen, n);
    if (range_reader(image, len, off + DESC_HDR, (size_t)SECTION_SIZE * n, &r) < 0)
        return mk_error_set(err, MK_EMALFORMED, "TDVF section table at 0x%zx runs past the image",
                            off + DESC_HDR);

    mk_tdx_tdvf t;
    memset(&t, 0, sizeof t);
    t.descriptor_offset = (uint32_t)off;
    t.version = version;
    t.nsections = n;
    uint64_t total = 0;
    size_t hobs = 0;
    for (size_t i = 0; i < n; i++) {
        mk_tdx_tdvf_section *s = &t.sections[i];
        MK_TRY(mk_read_u32le(&r, &s->data_offset));
        MK_TRY(mk_read_u32le(&r, &s->raw_data_size));
        MK_TRY(mk_read_u64le(&r, &s->memory_address));
        MK_TRY(mk_read_u64le(&r, &s->memory_data_size));
        MK_TRY(mk_read_u32le(&r, &s->type));
        MK_TRY(mk_read_u32le(&r, &s->attributes));
        rc = check_section(s, i, len, err);
        if (rc < 0) return rc;
        if (s->type == MK_TDX_TDVF_TD_HOB && ++hobs > 1)
            return mk_error_set(err, MK_EMALFORMED, "more than one TD_HOB section");
        total += s->memory_data_size; /* each <= 1 GiB, n <= 32: no overflow */
        if (total > MK_TDX_TDVF_MAX_MEMORY)
            return mk_error_set(err, MK_ETOOBIG, "TDVF sections total more than %llu bytes",
                                (unsigned long long)MK_TDX_TDVF_MAX_MEMORY);
        for (size_t j = 0; j < i; j++) {
            const mk_tdx_tdvf_section *o = &t.sections[j];
            if (s->memory_address < o->memory_address + o->memory_data_size &&
                o->memory_address < s->memory_address + s->memory_data_size)
                return mk_error_set(err, MK_EMALFORMED,
                                    "sections %zu and %zu overlap in guest memory", j, i);
        }
    }
    *out = t;
    return 0;
}

/* ---- MRTD ---------------------------------------------------------- */

static int page_add(mk_hash_ctx *h, uint64_t gpa) {
    uint8_t b[128];
    memset(b, 0, sizeof b);
    memcpy(b, "MEM.PAGE.ADD", 12);
    for (int k = 0; k < 8; k++)
        b[16 + k] = (uint8_t)(gpa >> (8 * k));
    return mk_hash_update(h, b, sizeof b);
}

/* The 16 MR.EXTENDs of one page; src reads the page's 4096 file bytes. */
static int page_extend(mk_hash_ctx *h, uint64_t gpa, mk_reader *src) {
    for (unsigned c = 0; c < PAGE_SIZE / CHUNK_SIZE; c++) {
        uint8_t b[128];
        const uint8_t *chunk;
        uint64_t cg = gpa + (uint64_t)c * CHUNK_SIZE;
        memset(b, 0, sizeof b);
        memcpy(b, "MR.EXTEND", 9);
        for (int k = 0; k < 8; k++)
            b[16 + k] = (uint8_t)(cg >> (8 * k));
        MK_TRY(mk_read_view(src, CHUNK_SIZE, &chunk));
        MK_TRY(mk_hash_update(h, b, sizeof b));
        MK_TRY(mk_hash_update(h, chunk, CHUNK_SIZE));
    }
    return 0;
}

static int measure_section(mk_hash_ctx *h, const mk_tdx_tdvf_section *s, const uint8_t *image,
                           size_t len, mk_tdx_page_order order) {
    uint64_t pages = s->memory_data_size / PAGE_SIZE;
    bool add = !(s->attributes & MK_TDX_TDVF_ATTR_PAGE_AUG);
    bool ext = (s->attributes & MK_TDX_TDVF_ATTR_MR_EXTEND) != 0;
    mk_reader src;
    if (ext) MK_TRY(range_reader(image, len, s->data_offset, (size_t)s->memory_data_size, &src));
    if (order == MK_TDX_PAGE_ORDER_TWO_PASS) {
        for (uint64_t p = 0; add && p < pages; p++)
            MK_TRY(page_add(h, s->memory_address + p * PAGE_SIZE));
        for (uint64_t p = 0; ext && p < pages; p++)
            MK_TRY(page_extend(h, s->memory_address + p * PAGE_SIZE, &src));
    } else {
        for (uint64_t p = 0; p < pages; p++) {
            if (add) MK_TRY(page_add(h, s->memory_address + p * PAGE_SIZE));
            if (ext) MK_TRY(page_extend(h, s->memory_address + p * PAGE_SIZE, &src));
        }
    }
    return 0;
}

int mk_tdx_mrtd_from_tdvf(const mk_tdx_tdvf *tdvf, const uint8_t *image, size_t len,
                          mk_tdx_page_order order, uint8_t mrtd[MK_TDX_MEASURE_DIGEST_LEN],
                          mk_error *err) {
    if (!tdvf || !image || !mrtd) return mk_error_set(err, MK_EINVAL, "mrtd: NULL argument");
    if (order != MK_TDX_PAGE_ORDER_INTERLEAVED && order != MK_TDX_PAGE_ORDER_TWO_PASS)
        return mk_error_set(err, MK_EINVAL, "mrtd: unknown page order %d", (int)order);
    if (tdvf->nsections > MK_TDX_TDVF_MAX_SECTIONS)
        return mk_error_set(err, MK_EINVAL, "mrtd: %zu sections", tdvf->nsections);
    mk_hash_ctx *h = mk_hash_new(MK_SHA384);
    if (!h) return mk_error_set(err, MK_ENOMEM, "mrtd: cannot create a SHA-384 context");
    int rc = 0;
    for (size_t i = 0; i < tdvf->nsections && rc == 0; i++) {
        /* The metadata may come from the caller: re-check against image. */
        rc = check_section(&tdvf->sections[i], i, len, err);
        if (rc == 0) {
            rc = measure_section(h, &tdvf->sections[i], image, len, order);
            if (rc < 0) mk_error_set(err, rc, "mrtd: section %zu: %s", i, mk_strerror(rc));
        }
    }
    uint8_t out[MK_TDX_MEASURE_DIGEST_LEN];
    if (rc == 0) {
        rc = mk_hash_final(h, out);
        if (rc < 0)
            mk_error_set(err, rc, "mrtd: SHA-384 failed");
        else
            memcpy(mrtd, out, sizeof out);
    }
    mk_hash_free(h);
    return rc;
}

int mk_tdx_mrtd(const uint8_t *image, size_t len, mk_tdx_page_order order,
                uint8_t mrtd[MK_TDX_MEASURE_DIGEST_LEN], mk_error *err) {
    mk_tdx_tdvf t;
    int rc = mk_tdx_tdvf_parse(image, len, &t, err);
    if (rc < 0) return rc;
    return mk_tdx_mrtd_from_tdvf(&t, image, len, order, mrtd, err);
}
