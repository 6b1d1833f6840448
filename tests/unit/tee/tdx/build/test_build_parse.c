/*
 * test_build_parse.c — the image builder's readers of foreign formats:
 * ELF dynamic sections and kernel-module .modinfo (elf.c), the shared-library
 * closure (libs.c), tar archives into the CPIO (tar.c), kernel configs
 * (kernel.c) and dpkg status files (rootfs.c). Inputs are built byte by byte
 * here from the formats' descriptions; malformed variants must be refused
 * with a reason and without reading out of bounds (ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tee/tdx/build/build_internal.h"
#include "test_util.h"

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

/* An ELF64 x86-64 ET_DYN with PT_LOAD (vaddr 0x1000 -> offset 0),
 * PT_INTERP and PT_DYNAMIC; strings at 0x200, dynamic at 0x300. */
static size_t make_dyn(uint8_t *b, size_t cap, const char *const *needed, size_t nn,
                       const char *runpath, uint64_t strtab_va) {
    memset(b, 0, cap);
    memcpy(b,
           "\x7f"
           "ELF",
           4);
    b[4] = 2, b[5] = 1, b[6] = 1;
    put16(b + 16, 3);  /* ET_DYN */
    put16(b + 18, 62); /* x86-64 */
    put64(b + 32, 64); /* phoff */
    put16(b + 52, 64);
    put16(b + 54, 56);
    put16(b + 56, 3);
    uint8_t *ph = b + 64;
    put32(ph, 1); /* PT_LOAD */
    put64(ph + 8, 0);
    put64(ph + 16, 0x1000);
    put64(ph + 32, cap);
    ph += 56;
    put32(ph, 3); /* PT_INTERP */
    put64(ph + 8, 0x1c0);
    put64(ph + 32, 28);
    memcpy(b + 0x1c0, "/lib64/ld-linux-x86-64.so.2", 28);
    ph += 56;
    put32(ph, 2); /* PT_DYNAMIC */
    put64(ph + 8, 0x300);
    put64(ph + 32, 16 * (nn + 4));
    size_t so = 1; /* strings start after a NUL */
    uint8_t *dyn = b + 0x300;
    for (size_t i = 0; i < nn; i++) {
        put64(dyn, 1), put64(dyn + 8, so), dyn += 16;
        memcpy(b + 0x200 + so, needed[i], strlen(needed[i]) + 1);
        so += strlen(needed[i]) + 1;
    }
    if (runpath) {
        put64(dyn, 29), put64(dyn + 8, so), dyn += 16;
        memcpy(b + 0x200 + so, runpath, strlen(runpath) + 1);
        so += strlen(runpath) + 1;
    }
    put64(dyn, 5), put64(dyn + 8, strtab_va), dyn += 16;
    put64(dyn, 10), put64(dyn + 8, so), dyn += 16;
    return cap;
}

static void test_elf_dynamic(void **state) {
    (void)state;
    uint8_t b[1024];
    static const char *const need[] = {"libc.so.6", "libfoo.so.1"};
    size_t n = make_dyn(b, sizeof b, need, 2, "$ORIGIN/../lib", 0x1200);
    mk_tdx_elf_info *info = calloc(1, sizeof *info);
    mk_error err;
    /* without allow_dynamic: refused; with it: only has_interp */
    TU_ASSERT_RC(mk_tdx_elf_inspect("--program", "x", b, n, false, info, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "--bundle-libs");
    TU_ASSERT_RC(mk_tdx_elf_inspect("--program", "x", b, n, true, info, &err), 0, &err);
    assert_true(info->has_interp);
    TU_ASSERT_RC(mk_tdx_elf_dynamic("--program", "x", b, n, info, &err), 0, &err);
    assert_string_equal(info->interp, "/lib64/ld-linux-x86-64.so.2");
    assert_int_equal(info->n_needed, 2);
    assert_string_equal(info->needed[0], "libc.so.6");
    assert_string_equal(info->needed[1], "libfoo.so.1");
    assert_string_equal(info->runpath, "$ORIGIN/../lib");
    /* DT_STRTAB outside every PT_LOAD */
    n = make_dyn(b, sizeof b, need, 2, NULL, 0x90000);
    TU_ASSERT_RC(mk_tdx_elf_dynamic("--program", "x", b, n, info, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "string table");
    /* a name running off the end of the file */
    n = make_dyn(b, sizeof b, need, 1, NULL, 0x1200);
    memset(b + 0x201, 'A', 0x300 - 0x201); /* no NUL within DT_STRSZ */
    TU_ASSERT_RC(mk_tdx_elf_dynamic("--program", "x", b, n, info, &err), MK_EMALFORMED, &err);
    /* every truncation is refused without reading beyond it */
    n = make_dyn(b, sizeof b, need, 2, "/opt/lib", 0x1200);
    for (size_t cut = 0; cut < 0x340; cut += 7) {
        uint8_t *t = malloc(cut ? cut : 1);
        memcpy(t, b, cut);
        int rc = mk_tdx_elf_dynamic("--program", "x", t, cut, info, &err);
        assert_true(rc < 0 || cut >= 0x300);
        free(t);
    }
    free(info);
}

/* An ELF64 ET_REL with section headers [null, .shstrtab, .modinfo]. */
static size_t make_module(uint8_t *b, size_t cap, const char *modinfo, size_t milen) {
    memset(b, 0, cap);
    memcpy(b,
           "\x7f"
           "ELF",
           4);
    b[4] = 2, b[5] = 1, b[6] = 1;
    put16(b + 16, 1); /* ET_REL */
    put16(b + 18, 62);
    put64(b + 40, 0x100); /* shoff */
    put16(b + 52, 64);
    put16(b + 58, 64); /* shentsize */
    put16(b + 60, 3);  /* shnum */
    put16(b + 62, 1);  /* shstrndx */
    static const char names[] = "\0.shstrtab\0.modinfo";
    memcpy(b + 0x40, names, sizeof names);
    uint8_t *sh = b + 0x100 + 64;
    put32(sh, 1), put64(sh + 24, 0x40), put64(sh + 32, sizeof names);
    sh += 64;
    put32(sh, 11), put64(sh + 24, 0x80), put64(sh + 32, milen);
    memcpy(b + 0x80, modinfo, milen);
    return 0x100 + 3 * 64;
}

static void test_modinfo(void **state) {
    (void)state;
    uint8_t b[512];
    static const char mi[] = "license=GPL\0depends=tsm,configfs\0name=tdx_guest\0";
    size_t n = make_module(b, sizeof b, mi, sizeof mi);
    char v[64];
    assert_int_equal(mk_tdx_elf_modinfo(b, n, "depends", v, sizeof v), 0);
    assert_string_equal(v, "tsm,configfs");
    assert_int_equal(mk_tdx_elf_modinfo(b, n, "name", v, sizeof v), 0);
    assert_string_equal(v, "tdx_guest");
    assert_int_equal(mk_tdx_elf_modinfo(b, n, "vermagic", v, sizeof v), MK_ENOTFOUND);
    assert_int_equal(mk_tdx_elf_modinfo(b, n, "depends", v, 4), MK_ETOOBIG);
    /* section beyond the file */
    put64(b + 0x100 + 2 * 64 + 32, 100000);
    assert_int_equal(mk_tdx_elf_modinfo(b, n, "depends", v, sizeof v), MK_EMALFORMED);
    /* not a module */
    put16(b + 16, 2);
    assert_int_equal(mk_tdx_elf_modinfo(b, n, "depends", v, sizeof v), MK_EINVAL);
}

static void test_lib_closure(void **state) {
    (void)state;
    /* a dynamic program of this machine: /bin/true (Debian: glibc) */
    if (access("/bin/true", R_OK) != 0 || access("/lib64/ld-linux-x86-64.so.2", R_OK) != 0) {
        TU_SKIP("no /bin/true or /lib64/ld-linux-x86-64.so.2 (an x86-64 glibc system)");
        return;
    }
    mk_buf b = MK_BUF_INIT;
    mk_error err;
    mk_buf_init(&b, 64 << 20);
    TU_ASSERT_RC(mk_file_read("/bin/true", 64 << 20, &b, &err), 0, &err);
    mk_tdx_lib *libs = NULL;
    size_t n = 0;
    TU_ASSERT_RC(mk_tdx_lib_closure("/bin/true", b.data, b.len, &libs, &n, &err), 0, &err);
    bool interp = false, libc = false;
    for (size_t i = 0; i < n; i++) {
        if (i) assert_true(strcmp(libs[i - 1].guest, libs[i].guest) < 0); /* sorted, unique */
        interp |= !strcmp(libs[i].guest, "/lib64/ld-linux-x86-64.so.2");
        libc |= strstr(libs[i].guest, "/libc.so.6") != NULL;
    }
    assert_true(interp && libc);
    free(libs);
    /* a name that exists nowhere */
    uint8_t d[1024];
    static const char *const need[] = {"libmosaik-does-not-exist.so.9"};
    make_dyn(d, sizeof d, need, 1, NULL, 0x1200);
    TU_ASSERT_RC(mk_tdx_lib_closure("prog", d, sizeof d, &libs, &n, &err), MK_ENOTFOUND, &err);
    TU_ASSERT_REASON(&err, "libmosaik-does-not-exist.so.9");
    mk_buf_free(&b);
}

/* ---- tar ------------------------------------------------------------------ */

static size_t tar_hdr(uint8_t *h, const char *name, char type, unsigned mode, unsigned uid,
                      size_t size, const char *link) {
    memset(h, 0, 512);
    snprintf((char *)h, 100, "%s", name);
    snprintf((char *)h + 100, 8, "%07o", mode);
    snprintf((char *)h + 108, 8, "%07o", uid);
    snprintf((char *)h + 116, 8, "%07o", uid);
    snprintf((char *)h + 124, 12, "%011zo", size);
    snprintf((char *)h + 136, 12, "%011o", 0);
    h[156] = (uint8_t)type;
    if (link) snprintf((char *)h + 157, 100, "%s", link);
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    return 512;
}

/* Append one entry (header + data padded). */
static size_t tar_add(uint8_t *t, size_t off, const char *name, char type, unsigned mode,
                      unsigned uid, const void *data, size_t len, const char *link) {
    off += tar_hdr(t + off, name, type, mode, uid, len, link);
    if (len) memcpy(t + off, data, len);
    return off + (len + 511) / 512 * 512;
}

static void test_tar_import(void **state) {
    (void)state;
    size_t cap = 64 * 512;
    uint8_t *t = calloc(1, cap);
    size_t o = 0;
    o = tar_add(t, o, "./", '5', 0755, 0, NULL, 0, NULL);
    o = tar_add(t, o, "./etc/", '5', 0755, 0, NULL, 0, NULL);
    o = tar_add(t, o, "./etc/hostname", '0', 0644, 0, "debian\n", 7, NULL);
    o = tar_add(t, o, "./etc/shadow", '0', 0640, 42, "root:*:\n", 8, NULL);
    o = tar_add(t, o, "./bin", '2', 0777, 0, NULL, 0, "usr/bin");
    o = tar_add(t, o, "./etc/hostname.copy", '1', 0644, 0, NULL, 0, "./etc/hostname");
    o = tar_add(t, o, "./dev/", '5', 0755, 0, NULL, 0, NULL);
    o = tar_add(t, o, "./dev/null", '3', 0666, 0, NULL, 0, NULL);
    /* a pax header renaming the next entry (the long-name mechanism) */
    static const char pax_rec[] = "30 path=./etc/a-long-pax-name\n";
    o = tar_add(t, o, "./PaxHeaders/x", 'x', 0644, 0, pax_rec, sizeof pax_rec - 1, NULL);
    o = tar_add(t, o, "./etc/short", '0', 0600, 0, "p", 1, NULL);
    mk_cpio *c = mk_cpio_new();
    mk_error err;
    TU_ASSERT_RC(mk_tdx_tar_import(c, t, cap, &err), 0, &err);
    mk_cpio_kind k;
    const uint8_t *d;
    size_t n;
    assert_true(mk_cpio_has(c, "etc", &k) && k == MK_CPIO_DIR);
    assert_int_equal(mk_cpio_file_data(c, "etc/hostname", &d, &n), 0);
    assert_int_equal(n, 7);
    assert_memory_equal(d, "debian\n", 7);
    assert_int_equal(mk_cpio_file_data(c, "etc/hostname.copy", &d, &n), 0);
    assert_memory_equal(d, "debian\n", 7);
    assert_int_equal(mk_cpio_link_target(c, "bin", &d, &n), 0);
    assert_memory_equal(d, "usr/bin", 7);
    assert_true(mk_cpio_has(c, "dev", NULL));
    assert_false(mk_cpio_has(c, "dev/null", NULL)); /* devtmpfs is mounted there */
    assert_true(mk_cpio_has(c, "etc/a-long-pax-name", NULL));
    assert_false(mk_cpio_has(c, "etc/short", NULL));
    /* owners survive into the archive (uid 42 -> header field 0000002A) */
    mk_buf out = MK_BUF_INIT;
    TU_ASSERT_RC(mk_cpio_write(c, 0, &out, &err), 0, &err);
    TU_ASSERT_RC(mk_buf_append_u8(&out, 0), 0, &err);
    const char *s = (const char *)out.data;
    const char *sh = NULL;
    for (size_t i = 0; i + 13 < out.len; i++)
        if (!memcmp(out.data + i, "etc/shadow", 11)) sh = s + i;
    assert_non_null(sh);
    assert_memory_equal(sh - 110 + 22, "0000002A0000002A", 16);
    mk_buf_free(&out);
    mk_cpio_free(c);

    /* refusals: a bad checksum, data beyond the end, a missing end block,
     * an unsupported type outside dev/, a hard link to nothing */
    c = mk_cpio_new();
    uint8_t *bad = calloc(1, cap);
    memcpy(bad, t, 512);
    bad[0] ^= 1;
    TU_ASSERT_RC(mk_tdx_tar_import(c, bad, cap, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "checksum");
    memset(bad, 0, cap);
    tar_hdr(bad, "big", '0', 0644, 0, 1 << 20, NULL);
    TU_ASSERT_RC(mk_tdx_tar_import(c, bad, cap, &err), MK_EMALFORMED, &err);
    TU_ASSERT_RC(mk_tdx_tar_import(c, t, 3 * 512, &err), MK_EMALFORMED, &err);
    memset(bad, 0, cap);
    tar_add(bad, 0, "fifo", '6', 0644, 0, NULL, 0, NULL);
    TU_ASSERT_RC(mk_tdx_tar_import(c, bad, cap, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "not supported");
    memset(bad, 0, cap);
    tar_add(bad, 0, "h", '1', 0644, 0, NULL, 0, "nothing");
    TU_ASSERT_RC(mk_tdx_tar_import(c, bad, cap, &err), MK_EMALFORMED, &err);
    /* every truncation of the good archive fails cleanly */
    for (size_t cut = 0; cut < o; cut += 97) {
        mk_cpio *c2 = mk_cpio_new();
        assert_true(mk_tdx_tar_import(c2, t, cut, &err) < 0);
        mk_cpio_free(c2);
    }
    free(bad);
    mk_cpio_free(c);
    free(t);
}

static void test_kernel_config(void **state) {
    (void)state;
    static const char good[] = "CONFIG_INTEL_TDX_GUEST=y\nCONFIG_EFI_STUB=y\n"
                               "CONFIG_TDX_GUEST_DRIVER=m\nCONFIG_TSM_REPORTS=m\n"
                               "CONFIG_CONFIGFS_FS=m\nCONFIG_VSOCKETS=m\nCONFIG_VIRTIO_VSOCKETS=m\n"
                               "CONFIG_VIRTIO_NET=y\nCONFIG_BLK_DEV_INITRD=y\nCONFIG_RD_GZIP=y\n";
    mk_error err;
    TU_ASSERT_RC(mk_tdx_kernel_check_config(good, sizeof good - 1, &err), 0, &err);
    /* Debian 12's 6.1: no TDX guest */
    char bad[sizeof good + 64];
    snprintf(bad, sizeof bad, "# CONFIG_INTEL_TDX_GUEST is not set\n%s", good + 25);
    TU_ASSERT_RC(mk_tdx_kernel_check_config(bad, strlen(bad), &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "CONFIG_INTEL_TDX_GUEST is not set");
    /* TDX guest built, but no TSM reports */
    snprintf(bad, sizeof bad, "%s", good);
    char *t = strstr(bad, "CONFIG_TSM_REPORTS=m");
    t[19] = 'n';
    TU_ASSERT_RC(mk_tdx_kernel_check_config(bad, strlen(bad), &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "CONFIG_TSM_REPORTS is n");
    /* INTEL_TDX_GUEST must be built in */
    snprintf(bad, sizeof bad, "%s", good);
    bad[23] = 'm';
    TU_ASSERT_RC(mk_tdx_kernel_check_config(bad, strlen(bad), &err), MK_EINVAL, &err);
}

static void test_dpkg_manifest(void **state) {
    (void)state;
    static const char st[] = "Package: base-files\nStatus: install ok installed\n"
                             "Architecture: amd64\nVersion: 12.4+deb12u15\nDescription: x\n"
                             " more\n\nPackage: gone\nStatus: deinstall ok config-files\n"
                             "Version: 1\n\nPackage: netbase\nStatus: install ok installed\n"
                             "Architecture: all\nVersion: 6.4\n";
    mk_buf out = MK_BUF_INIT;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_dpkg_manifest((const uint8_t *)st, sizeof st - 1, &out, &err), 0, &err);
    TU_ASSERT_RC(mk_buf_append_u8(&out, 0), 0, &err);
    assert_string_equal((const char *)out.data,
                        "[{\"package\":\"base-files\",\"version\":\"12.4+deb12u15\","
                        "\"arch\":\"amd64\"},{\"package\":\"netbase\",\"version\":\"6.4\","
                        "\"arch\":\"all\"}]");
    mk_buf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elf_dynamic),   cmocka_unit_test(test_modinfo),
        cmocka_unit_test(test_lib_closure),   cmocka_unit_test(test_tar_import),
        cmocka_unit_test(test_kernel_config), cmocka_unit_test(test_dpkg_manifest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
