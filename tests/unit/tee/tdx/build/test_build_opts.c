/*
 * test_build_opts.c — the image builder's newer options: --arg/--env in
 * /init (quoting, refusals), the Debian layout of /init, the launch script
 * per profile family with the QGS/vsock defaults and their environment
 * overrides (run against a fake QEMU), a kernel directory (its modules
 * first, its package in measurements.json, a kernel.json that points
 * outside refused), --bundle-libs of a dynamic host program, and the option
 * refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tee/tdx/build/build_internal.h"
#include "test_util.h"

static char tmpdir[256];

static char *in(const char *name) {
    static char bufs[32][512];
    static int i;
    char *p = bufs[i++ % 32];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *name, const void *data, size_t len, unsigned mode) {
    mk_error err;
    TU_ASSERT_RC(mk_file_write(in(name), data, len, mode, &err), 0, &err);
}

static void make_elf(const char *name) {
    uint8_t b[64 + 56 + 32];
    memset(b, 0, sizeof b);
    memcpy(b,
           "\x7f"
           "ELF",
           4);
    b[4] = 2, b[5] = 1, b[6] = 1;
    b[16] = 2, b[18] = 62, b[20] = 1, b[32] = 64, b[52] = 64, b[54] = 56, b[56] = 1;
    b[64] = 1; /* PT_LOAD */
    write_file(name, b, sizeof b, 0755);
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mosaik-test-opts.XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    make_elf("app");
    make_elf("busybox");
    mkdir(in("kdir"), 0755);
    mkdir(in("kdir/modules"), 0755);
    write_file("kdir/vmlinuz", "not a kernel", 12, 0644);
    write_file("kdir/modules/tsm.ko",
               "\x7f"
               "ELFtsm",
               7, 0644);
    write_file("kdir/modules/configfs.ko",
               "\x7f"
               "ELFcfs",
               7, 0644);
    static const char kj[] = "{\"package\": \"linux-image-x\", \"version\": \"1.0\", \"sha256\": "
                             "\"00ff\", \"release\": \"6.12-x\", \"modules\": ["
                             "{\"name\": \"configfs\", \"file\": \"modules/configfs.ko\"},"
                             "{\"name\": \"tsm\", \"file\": \"modules/tsm.ko\"}]}";
    write_file("kdir/kernel.json", kj, sizeof kj - 1, 0644);
    write_file("m.ko",
               "\x7f"
               "ELFm",
               5, 0644);
    static const char fake[] = "#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done\n";
    write_file("fakeqemu", fake, sizeof fake - 1, 0755);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void base(mk_tdx_build_opts *o, const char *out) {
    memset(o, 0, sizeof *o);
    o->program = in("app");
    o->busybox = in("busybox");
    o->mtime = -1;
    o->out_dir = in(out);
}

static void read_text(const char *path, mk_buf *b) {
    mk_error err;
    mk_buf_init(b, 8 << 20);
    TU_ASSERT_RC(mk_file_read(path, 8 << 20, b, &err), 0, &err);
    TU_ASSERT_RC(mk_buf_append_u8(b, 0), 0, &err);
}

static void test_args_env(void **state) {
    (void)state;
    mk_tdx_build_opts o;
    base(&o, "unused");
    static const char *args[] = {"node", "--name", "it's a b", "$HOME"};
    static const char *env[] = {"MOSAIK_LOG=warn", "A_1=x y"};
    o.args = args, o.nargs = 4, o.env = env, o.nenv = 2;
    mk_buf s = MK_BUF_INIT;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_build_init_script(&o, &s, &err), 0, &err);
    const char *t = (const char *)s.data;
    assert_non_null(strstr(t, "export MOSAIK_LOG='warn'\nexport A_1='x y'\n"));
    assert_non_null(strstr(t, "/usr/bin/app 'node' '--name' 'it'\\''s a b' '$HOME'\nrc=$?\n"));
    /* the environment comes before the program */
    assert_true(strstr(t, "export MOSAIK_LOG") < strstr(t, "/usr/bin/app 'node'"));
    assert_non_null(strstr(t, "/sys/kernel/config/tsm"));
    mk_buf_free(&s);
    /* refusals, before anything is built */
    static const char *badenv[] = {"1X=y"}, *noeq[] = {"NAME"}, *ctl[] = {"a\tb"};
    o.env = badenv, o.nenv = 1;
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "--env");
    o.env = noeq;
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    o.nenv = 0, o.args = ctl, o.nargs = 1;
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "--arg 1");
    struct stat st;
    assert_int_not_equal(stat(in("unused"), &st), 0);
    /* the Debian layout keeps busybox out of Debian's /bin */
    base(&o, "unused");
    o.rootfs = "debian";
    mk_buf_init(&s, 0);
    TU_ASSERT_RC(mk_tdx_build_init_script(&o, &s, &err), 0, &err);
    assert_non_null(strstr((const char *)s.data, "#!/usr/lib/mosaik/busybox sh\n"));
    assert_non_null(strstr((const char *)s.data, "--install -s /usr/lib/mosaik/bin\n"));
    mk_buf_free(&s);
    o.rootfs = "alpine";
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "--rootfs");
    static const char *pk[] = {"curl"};
    o.rootfs = NULL, o.packages = pk, o.npackages = 1;
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "--rootfs debian");
}

/* Run DIR/launch-tdx.sh with the fake QEMU and an environment prefix. */
static void run_launch(const char *dir, const char *envs, int want_status, mk_buf *args) {
    char cmd[1500];
    snprintf(cmd, sizeof cmd, "%s QEMU='%s' '%s/%s' > '%s/args.txt' 2>/dev/null", envs,
             in("fakeqemu"), in(dir), MK_TDX_BUILD_LAUNCH, tmpdir);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), want_status);
    if (args) read_text(in("args.txt"), args);
}

static void test_launch_profiles(void **state) {
    (void)state;
    mk_tdx_build_opts o;
    mk_error err;
    base(&o, "l1");
    o.kernel_dir = in("kdir");
    o.ovmf = NULL;
    /* Canonical's QEMU 8.2 family */
    o.profile = mk_tdx_profile_find("qemu-8.2-ovmf-2024.02");
    assert_non_null(o.profile);
    o.qgs_port = 4051;
    o.guest_cid = 7;
    /* the fake kernel cannot be measured: write the script alone from the
     * resolved options, and files it checks for (presence only) */
    mkdir(in("l1"), 0755);
    write_file("l1/OVMF.fd", "x", 1, 0644);
    mk_tdx_resolved r;
    TU_ASSERT_RC(mk_tdx_build_resolve(&o, &r, &err), 0, &err);
    mk_buf sc = MK_BUF_INIT;
    TU_ASSERT_RC(mk_tdx_launch_script(&r, &sc), 0, &err);
    write_file("l1/launch-tdx.sh", sc.data, sc.len, 0755);
    write_file("l1/vmlinuz", "x", 1, 0644);
    write_file("l1/initrd.cpio.gz", "x", 1, 0644);
    mk_buf_free(&sc);
    mk_buf a;
    run_launch("l1", "", 0, &a);
    const char *t = (const char *)a.data;
    assert_non_null(strstr(t, "[-object]\n[tdx-guest,id=tdx0,sept-ve-disable=on,"
                              "quote-generation-socket.type=vsock,quote-generation-socket.cid=2,"
                              "quote-generation-socket.port=4051]\n"));
    assert_non_null(strstr(t,
                           "[-machine]\n[q35,kernel_irqchip=split,confidential-guest-support=tdx0,"
                           "hpet=off]\n"));
    assert_non_null(strstr(t, "[-device]\n[vhost-vsock-pci,guest-cid=7]\n"));
    mk_buf_free(&a);
    /* the environment overrides what is not measured */
    run_launch("l1", "MOSAIK_QGS_CID=9 MOSAIK_QGS_PORT=5000 MOSAIK_GUEST_CID=11", 0, &a);
    t = (const char *)a.data;
    assert_non_null(strstr(t, "quote-generation-socket.cid=9,quote-generation-socket.port=5000]"));
    assert_non_null(strstr(t, "[vhost-vsock-pci,guest-cid=11]"));
    mk_buf_free(&a);
    run_launch("l1", "MOSAIK_QGS_PORT='1;x'", 2, NULL);
    /* upstream QEMU >= 10.1 */
    o.profile = mk_tdx_profile_find("qemu-10.2-ovmf-2025.08");
    TU_ASSERT_RC(mk_tdx_build_resolve(&o, &r, &err), 0, &err);
    mk_buf_init(&sc, 0);
    TU_ASSERT_RC(mk_tdx_launch_script(&r, &sc), 0, &err);
    TU_ASSERT_RC(mk_buf_append_u8(&sc, 0), 0, &err);
    assert_non_null(strstr((const char *)sc.data,
                           "-machine q35,kernel-irqchip=split,confidential-guest-support=tdx0 "));
    mk_buf_free(&sc);
}

static void test_kernel_dir(void **state) {
    (void)state;
    mk_tdx_build_opts o;
    mk_error err;
    base(&o, "k1");
    o.kernel_dir = in("kdir");
    static const char *mods[] = {NULL};
    mods[0] = in("m.ko");
    o.modules = mods, o.nmodules = 1;
    /* the directory's vmlinuz is no PE image: the measuring step names it */
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "measuring");
    /* with another kernel given, only the modules and the package come from
     * the directory: measure MRTD-less (no ovmf) with a kernel of our own is
     * not possible either, so check the archive step */
    mk_cpio *c = NULL;
    TU_ASSERT_RC(mk_tdx_build_archive(&o, &c, &err), 0, &err);
    mk_buf man = MK_BUF_INIT;
    TU_ASSERT_RC(mk_cpio_manifest(c, &man, &err), 0, &err);
    const char *m = (const char *)man.data;
    const char *a = strstr(m, " lib/modules/mosaik/01-configfs.ko\n");
    const char *b = strstr(m, " lib/modules/mosaik/02-tsm.ko\n");
    const char *x = strstr(m, " lib/modules/mosaik/03-m.ko\n");
    assert_true(a && b && x && a < b && b < x);
    mk_buf_free(&man);
    mk_cpio_free(c);
    /* kernel.json may not point outside the directory */
    static const char evil[] =
        "{\"package\": \"p\", \"modules\": [{\"file\": \"../../etc/passwd\"}]}";
    write_file("kdir/kernel.json.good", "", 0, 0644);
    rename(in("kdir/kernel.json"), in("kdir/kernel.json.good"));
    write_file("kdir/kernel.json", evil, sizeof evil - 1, 0644);
    TU_ASSERT_RC(mk_tdx_build_archive(&o, &c, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "bad module entry");
    rename(in("kdir/kernel.json.good"), in("kdir/kernel.json"));
    o.kernel_dir = in("nodir");
    TU_ASSERT_RC(mk_tdx_build_archive(&o, &c, &err), MK_EIO, &err);
    TU_ASSERT_REASON(&err, "mosaik tdx kernel fetch");
}

static void test_bundle_libs(void **state) {
    (void)state;
    if (access("/bin/true", R_OK) != 0 || access("/lib64/ld-linux-x86-64.so.2", R_OK) != 0) {
        TU_SKIP("no /bin/true or /lib64/ld-linux-x86-64.so.2 (an x86-64 glibc system)");
        return;
    }
    mk_tdx_build_opts o;
    mk_error err;
    base(&o, "b1");
    o.program = "/bin/true";
    /* dynamic without --bundle-libs: refused, naming the option */
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "--bundle-libs");
    o.bundle_libs = true;
    mk_tdx_build_result res;
    TU_ASSERT_RC(mk_tdx_build(&o, &res, &err), 0, &err);
    mk_tdx_build_result_free(&res);
    mk_buf t;
    read_text(in("b1/initrd.manifest"), &t);
    assert_non_null(strstr((const char *)t.data, " lib64/ld-linux-x86-64.so.2\n"));
    assert_non_null(strstr((const char *)t.data, "/libc.so.6\n"));
    assert_non_null(strstr((const char *)t.data, " usr/bin/true\n"));
    mk_buf_free(&t);
    read_text(in("b1/measurements.json"), &t);
    assert_non_null(strstr((const char *)t.data, "\"bundled_libs\""));
    mk_buf_free(&t);
    /* twice: byte-identical */
    o.out_dir = in("b2");
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), 0, &err);
    mk_buf t2;
    read_text(in("b1/initrd.cpio.gz"), &t);
    read_text(in("b2/initrd.cpio.gz"), &t2);
    assert_int_equal(t.len, t2.len);
    assert_memory_equal(t.data, t2.data, t.len);
    mk_buf_free(&t);
    mk_buf_free(&t2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_env),
        cmocka_unit_test(test_launch_profiles),
        cmocka_unit_test(test_kernel_dir),
        cmocka_unit_test(test_bundle_libs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
