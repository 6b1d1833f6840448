/*
 * elf.c — the little the image builder reads from ELF files
 * (docs/tdx-builder.md): whether a program is an x86 executable, whether it
 * is dynamically linked (PT_INTERP), and for a dynamic ELF64 program or
 * library its interpreter, DT_NEEDED names and DT_RUNPATH/DT_RPATH; for a
 * kernel module (ET_REL) one key of its .modinfo section ("depends",
 * "name", "vermagic").
 *
 * Every byte goes through mk_reader. Dynamic-section strings are located by
 * translating DT_STRTAB (a virtual address) to a file offset through the
 * PT_LOAD segment that contains it; a string must end inside the file and
 * inside DT_STRSZ. Names are limited to MK_TDX_ELF_NAME_MAX bytes of
 * printable ASCII; more than MK_TDX_ELF_MAX_NEEDED DT_NEEDED entries, a
 * table or string outside the file, and 32-bit dynamic programs are
 * refused with a reason naming the file.
 */
#include <stdio.h>
#include <string.h>

#include "tee/tdx/build/build_internal.h"

typedef struct ehdr {
    bool is64;
    uint16_t type, machine, phentsize, phnum, shentsize, shnum, shstrndx;
    uint64_t phoff, shoff;
} ehdr;

static int read_word(mk_reader *r, bool is64, uint64_t *v) {
    if (is64) return mk_read_u64le(r, v);
    uint32_t x = 0;
    int rc = mk_read_u32le(r, &x);
    *v = x;
    return rc;
}

static int read_ehdr(const char *what, const char *path, const uint8_t *d, size_t n, ehdr *h,
                     mk_error *err) {
    mk_reader r;
    mk_reader_init(&r, d, n);
    const uint8_t *ident;
    if (mk_read_view(&r, 16, &ident) < 0 || memcmp(ident,
                                                   "\x7f"
                                                   "ELF",
                                                   4) != 0)
        return mk_error_set(err, MK_EINVAL, "%s %s: not an ELF file", what, path);
    if ((ident[4] != 1 && ident[4] != 2) || ident[5] != 1)
        return mk_error_set(err, MK_EINVAL, "%s %s: not a little-endian 32/64-bit ELF file", what,
                            path);
    h->is64 = ident[4] == 2;
    uint64_t entry;
    uint32_t version, flags;
    uint16_t ehsize;
    int rc = mk_read_u16le(&r, &h->type);
    if (rc == 0) rc = mk_read_u16le(&r, &h->machine);
    if (rc == 0) rc = mk_read_u32le(&r, &version);
    if (rc == 0) rc = read_word(&r, h->is64, &entry);
    if (rc == 0) rc = read_word(&r, h->is64, &h->phoff);
    if (rc == 0) rc = read_word(&r, h->is64, &h->shoff);
    if (rc == 0) rc = mk_read_u32le(&r, &flags);
    if (rc == 0) rc = mk_read_u16le(&r, &ehsize);
    if (rc == 0) rc = mk_read_u16le(&r, &h->phentsize);
    if (rc == 0) rc = mk_read_u16le(&r, &h->phnum);
    if (rc == 0) rc = mk_read_u16le(&r, &h->shentsize);
    if (rc == 0) rc = mk_read_u16le(&r, &h->shnum);
    if (rc == 0) rc = mk_read_u16le(&r, &h->shstrndx);
    if (rc < 0) return mk_error_set(err, MK_EMALFORMED, "%s %s: truncated ELF header", what, path);
    return 0;
}

/* A reader over [off, off + len) of the file, or an error. */
static int sub_at(const uint8_t *d, size_t n, uint64_t off, uint64_t len, mk_reader *out) {
    if (off > n || len > n - off) return MK_EMALFORMED;
    mk_reader_init(out, d + off, (size_t)len);
    return 0;
}

typedef struct phdr {
    uint32_t type;
    uint64_t offset, vaddr, filesz;
} phdr;

static int read_phdr(const uint8_t *d, size_t n, const ehdr *h, unsigned i, phdr *p) {
    mk_reader e;
    MK_TRY(sub_at(d, n, h->phoff + (uint64_t)i * h->phentsize, h->phentsize, &e));
    uint32_t flags32 = 0;
    uint64_t paddr, memsz;
    int rc = mk_read_u32le(&e, &p->type);
    if (h->is64) {
        if (rc == 0) rc = mk_read_u32le(&e, &flags32);
        if (rc == 0) rc = mk_read_u64le(&e, &p->offset);
        if (rc == 0) rc = mk_read_u64le(&e, &p->vaddr);
        if (rc == 0) rc = mk_read_u64le(&e, &paddr);
        if (rc == 0) rc = mk_read_u64le(&e, &p->filesz);
        if (rc == 0) rc = mk_read_u64le(&e, &memsz);
    } else {
        if (rc == 0) rc = read_word(&e, false, &p->offset);
        if (rc == 0) rc = read_word(&e, false, &p->vaddr);
        if (rc == 0) rc = read_word(&e, false, &paddr);
        if (rc == 0) rc = read_word(&e, false, &p->filesz);
    }
    return rc;
}

/* A NUL-terminated printable name at [off, limit) of the file. */
static int copy_name(const uint8_t *d, size_t n, uint64_t off, uint64_t limit, char *out,
                     size_t cap) {
    if (limit > n) limit = n;
    for (size_t i = 0; off + i < limit; i++) {
        unsigned char ch = d[off + i];
        if (ch == 0) {
            out[i] = 0;
            return i ? 0 : MK_EMALFORMED;
        }
        if (i + 1 >= cap || ch < 0x21 || ch > 0x7e) return MK_EMALFORMED;
        out[i] = (char)ch;
    }
    return MK_EMALFORMED;
}

/* File offset of a virtual address, through the PT_LOAD that holds it. */
static int vaddr_to_off(const uint8_t *d, size_t n, const ehdr *h, uint64_t va, uint64_t *off) {
    for (unsigned i = 0; i < h->phnum; i++) {
        phdr p;
        MK_TRY(read_phdr(d, n, h, i, &p));
        if (p.type == 1 && va >= p.vaddr && va - p.vaddr < p.filesz) {
            *off = p.offset + (va - p.vaddr);
            return 0;
        }
    }
    return MK_EMALFORMED;
}

/* DT_NEEDED, DT_RUNPATH/DT_RPATH of the PT_DYNAMIC segment p. */
static int read_dynamic(const char *what, const char *path, const uint8_t *d, size_t n,
                        const ehdr *h, const phdr *p, mk_tdx_elf_info *info, mk_error *err) {
    mk_reader dyn;
    if (sub_at(d, n, p->offset, p->filesz, &dyn) < 0)
        return mk_error_set(err, MK_EMALFORMED, "%s %s: dynamic section beyond the file", what,
                            path);
    uint64_t strtab = 0, strsz = 0, needed[MK_TDX_ELF_MAX_NEEDED], runpath = 0;
    bool have_strtab = false, have_runpath = false;
    size_t nneeded = 0;
    while (mk_reader_remaining(&dyn) >= 16) {
        uint64_t tag, val;
        if (mk_read_u64le(&dyn, &tag) < 0 || mk_read_u64le(&dyn, &val) < 0) break;
        if (tag == 0) break; /* DT_NULL */
        if (tag == 1) {      /* DT_NEEDED */
            if (nneeded == MK_TDX_ELF_MAX_NEEDED)
                return mk_error_set(err, MK_ETOOBIG, "%s %s: more than %d DT_NEEDED entries", what,
                                    path, MK_TDX_ELF_MAX_NEEDED);
            needed[nneeded++] = val;
        } else if (tag == 5) { /* DT_STRTAB */
            strtab = val;
            have_strtab = true;
        } else if (tag == 10) { /* DT_STRSZ */
            strsz = val;
        } else if (tag == 29 || (tag == 15 && !have_runpath)) { /* DT_RUNPATH wins over DT_RPATH */
            runpath = val;
            have_runpath = true;
        }
    }
    if (!nneeded && !have_runpath) return 0;
    uint64_t soff;
    if (!have_strtab || vaddr_to_off(d, n, h, strtab, &soff) < 0 || soff > n)
        return mk_error_set(err, MK_EMALFORMED, "%s %s: dynamic string table outside the file",
                            what, path);
    uint64_t end = strsz && strsz <= n - soff ? soff + strsz : n;
    for (size_t i = 0; i < nneeded; i++) {
        if (needed[i] >= end - soff ||
            copy_name(d, n, soff + needed[i], end, info->needed[i], MK_TDX_ELF_NAME_MAX + 1) < 0)
            return mk_error_set(err, MK_EMALFORMED, "%s %s: bad DT_NEEDED name", what, path);
    }
    info->n_needed = nneeded;
    if (have_runpath &&
        (runpath >= end - soff ||
         copy_name(d, n, soff + runpath, end, info->runpath, sizeof info->runpath) < 0))
        return mk_error_set(err, MK_EMALFORMED, "%s %s: bad DT_RUNPATH", what, path);
    return 0;
}

static int inspect_header(const char *what, const char *path, const uint8_t *d, size_t n, ehdr *h,
                          mk_error *err) {
    MK_TRY(read_ehdr(what, path, d, n, h, err));
    if (h->type != 2 && h->type != 3) /* ET_EXEC, ET_DYN (PIE, static-pie, library) */
        return mk_error_set(err, MK_EINVAL, "%s %s: ELF type %u is not an executable", what, path,
                            h->type);
    if (h->machine != 62 && h->machine != 3)
        return mk_error_set(err, MK_EINVAL, "%s %s: ELF machine %u is not x86-64", what, path,
                            h->machine);
    if (h->phnum > 256 || h->phentsize < (h->is64 ? 56 : 32))
        return mk_error_set(err, MK_EMALFORMED, "%s %s: bad ELF program header table", what, path);
    return 0;
}

int mk_tdx_elf_inspect(const char *what, const char *path, const uint8_t *d, size_t n,
                       bool allow_dynamic, mk_tdx_elf_info *info, mk_error *err) {
    memset(info, 0, sizeof *info);
    ehdr h;
    MK_TRY(inspect_header(what, path, d, n, &h, err));
    info->is64 = h.is64;
    for (unsigned i = 0; i < h.phnum; i++) {
        phdr p;
        if (read_phdr(d, n, &h, i, &p) < 0)
            return mk_error_set(err, MK_EMALFORMED, "%s %s: truncated program headers", what, path);
        if (p.type == 3) { /* PT_INTERP */
            if (!allow_dynamic)
                return mk_error_set(err, MK_EINVAL,
                                    "%s %s: dynamically linked (has a program interpreter); the "
                                    "image has no libc: link it statically (e.g. musl-gcc "
                                    "-static) or use --bundle-libs",
                                    what, path);
            info->has_interp = true;
        }
    }
    return 0;
}

int mk_tdx_elf_dynamic(const char *what, const char *path, const uint8_t *d, size_t n,
                       mk_tdx_elf_info *info, mk_error *err) {
    memset(info, 0, sizeof *info);
    ehdr h;
    MK_TRY(inspect_header(what, path, d, n, &h, err));
    info->is64 = h.is64;
    for (unsigned i = 0; i < h.phnum; i++) {
        phdr p;
        if (read_phdr(d, n, &h, i, &p) < 0)
            return mk_error_set(err, MK_EMALFORMED, "%s %s: truncated program headers", what, path);
        if (p.type == 3) { /* PT_INTERP */
            if (p.offset > n || copy_name(d, n, p.offset, p.offset + p.filesz, info->interp,
                                          sizeof info->interp) < 0)
                return mk_error_set(err, MK_EMALFORMED, "%s %s: bad PT_INTERP", what, path);
            info->has_interp = true;
        }
        if (p.type == 2 && h.is64) MK_TRY(read_dynamic(what, path, d, n, &h, &p, info, err));
    }
    return 0;
}

/* The section at index i: type, offset, size. */
static int read_shdr(const uint8_t *d, size_t n, const ehdr *h, unsigned i, uint32_t *name,
                     uint64_t *off, uint64_t *size) {
    mk_reader e;
    MK_TRY(sub_at(d, n, h->shoff + (uint64_t)i * h->shentsize, h->shentsize, &e));
    uint32_t type;
    uint64_t flags, addr;
    int rc = mk_read_u32le(&e, name);
    if (rc == 0) rc = mk_read_u32le(&e, &type);
    if (rc == 0) rc = read_word(&e, h->is64, &flags);
    if (rc == 0) rc = read_word(&e, h->is64, &addr);
    if (rc == 0) rc = read_word(&e, h->is64, off);
    if (rc == 0) rc = read_word(&e, h->is64, size);
    return rc;
}

int mk_tdx_elf_modinfo(const uint8_t *d, size_t n, const char *key, char *out, size_t cap) {
    mk_error err;
    ehdr h;
    if (read_ehdr("module", "", d, n, &h, &err) < 0 || h.type != 1) return MK_EINVAL;
    if (h.shentsize < (h.is64 ? 64 : 40) || h.shstrndx >= h.shnum) return MK_EMALFORMED;
    uint32_t nm;
    uint64_t stroff, strsize;
    MK_TRY(read_shdr(d, n, &h, h.shstrndx, &nm, &stroff, &strsize));
    if (stroff > n || strsize > n - stroff) return MK_EMALFORMED;
    size_t klen = strlen(key);
    for (unsigned i = 0; i < h.shnum; i++) {
        uint64_t off, size;
        MK_TRY(read_shdr(d, n, &h, i, &nm, &off, &size));
        if (nm >= strsize || strsize - nm < 9 || memcmp(d + stroff + nm, ".modinfo", 9) != 0)
            continue;
        if (off > n || size > n - off) return MK_EMALFORMED;
        /* NUL-separated "key=value" strings */
        for (uint64_t p = off; p < off + size;) {
            const uint8_t *s = d + p;
            const uint8_t *z = memchr(s, 0, (size_t)(off + size - p));
            size_t len = z ? (size_t)(z - s) : (size_t)(off + size - p);
            if (len > klen && memcmp(s, key, klen) == 0 && s[klen] == '=') {
                size_t vl = len - klen - 1;
                if (vl >= cap) return MK_ETOOBIG;
                memcpy(out, s + klen + 1, vl);
                out[vl] = 0;
                return 0;
            }
            p += len + 1;
        }
        return MK_ENOTFOUND;
    }
    return MK_ENOTFOUND;
}
