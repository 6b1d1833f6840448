/*
 * test_build.c — the TDX image builder (src/tee/tdx/build/image.c):
 * reproducibility (two builds, byte-identical outputs), SOURCE_DATE_EPOCH,
 * the archive layout and /init, the launch script's quoting (run with a fake
 * QEMU that prints its arguments), and refusals of bad inputs (missing or
 * unreadable files, dynamic programs, bad names, clashing extras, bad
 * command lines). Inputs are tiny hand-made ELF files, so the test needs no
 * kernel; with Debian's OVMF present it also checks the MRTD wiring.
 */
#include "test_util.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <zlib.h>

#include "mosaik/tdx_build.h"
#include "tee/tdx/build/build_internal.h"

static char tmpdir[256];

static void path_in(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static void write_file(const char *name, const void *data, size_t len, unsigned mode) {
    char p[512];
    path_in(p, sizeof p, name);
    mk_error err;
    TU_ASSERT_RC(mk_file_write(p, data, len, mode, &err), 0, &err);
}

/* A minimal ELF64 x86-64 executable header with one program header of the
 * given type (PT_LOAD = 1, PT_INTERP = 3), plus some payload bytes. */
static void make_elf(const char *name, uint32_t ptype, uint8_t fill) {
    uint8_t b[64 + 56 + 32];
    memset(b, 0, sizeof b);
    memcpy(b,
           "\x7f"
           "ELF",
           4);
    b[4] = 2; /* ELFCLASS64 */
    b[5] = 1; /* little-endian */
    b[6] = 1;
    b[16] = 2;  /* ET_EXEC */
    b[18] = 62; /* EM_X86_64 */
    b[20] = 1;
    b[32] = 64; /* e_phoff */
    b[52] = 64; /* e_ehsize */
    b[54] = 56; /* e_phentsize */
    b[56] = 1;  /* e_phnum */
    b[64] = (uint8_t)ptype;
    memset(b + 120, fill, 32);
    write_file(name, b, sizeof b, 0755);
}

static char *in(const char *name) {
    static char bufs[64][512]; /* rotating: base_opts keeps several alive */
    static int i;
    char *p = bufs[i++ % 64];
    path_in(p, 512, name);
    return p;
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mosaik-test-build.XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    make_elf("app", 1, 0xaa);
    make_elf("busybox", 1, 0xbb);
    make_elf("dynamic", 3, 0xcc);
    write_file("notelf", "#!/bin/sh\n", 10, 0755);
    write_file("conf.txt", "key=value\n", 10, 0644);
    write_file("tool.sh", "#!/bin/sh\necho\n", 15, 0755);
    write_file("a.ko",
               "\x7f"
               "ELFmodA",
               8, 0644);
    write_file("b.ko",
               "\x7f"
               "ELFmodB",
               8, 0644);
    write_file("id.pub", "ssh-ed25519 AAAA test\n", 22, 0644);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void base_opts(mk_tdx_build_opts *o, const char *out) {
    static const char *mods[2];
    static mk_tdx_build_extra extras[2];
    memset(o, 0, sizeof *o);
    o->program = in("app");
    o->busybox = in("busybox");
    mods[0] = in("a.ko");
    mods[1] = in("b.ko");
    o->modules = mods;
    o->nmodules = 2;
    extras[0].src = in("conf.txt");
    extras[0].dest = "/etc/app/conf.txt";
    extras[1].src = in("tool.sh");
    extras[1].dest = "/opt/tools/tool.sh";
    o->extras = extras;
    o->nextras = 2;
    o->ssh_key = in("id.pub");
    o->cmdline = "console=ttyS0 quiet app.opt='a b'";
    o->cpus = 3;
    o->memory_mib = 1536;
    o->mtime = -1;
    o->out_dir = in(out);
}

static void read_out(const char *dir, const char *name, mk_buf *b) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s/%s", tmpdir, dir, name);
    mk_error err;
    mk_buf_init(b, 64 << 20);
    TU_ASSERT_RC(mk_file_read(p, 64 << 20, b, &err), 0, &err);
    /* NUL-terminate for strstr, outside len */
    TU_ASSERT_RC(mk_buf_append_u8(b, 0), 0, &err);
    b->len--;
}

static const char *outputs[] = {MK_TDX_BUILD_INITRD, MK_TDX_BUILD_LAUNCH, MK_TDX_BUILD_MEASUREMENTS,
                                MK_TDX_BUILD_HEADER, MK_TDX_BUILD_MANIFEST};

static void test_reproducible(void **state) {
    (void)state;
    mk_error err;
    mk_tdx_build_opts o;
    unsetenv("SOURCE_DATE_EPOCH");
    base_opts(&o, "r1");
    mk_tdx_build_result r1, r2;
    TU_ASSERT_RC(mk_tdx_build(&o, &r1, &err), 0, &err);
    base_opts(&o, "r2");
    TU_ASSERT_RC(mk_tdx_build(&o, &r2, &err), 0, &err);
    assert_int_equal(r1.mtime, 0);
    assert_int_equal(r1.initrd_len, r2.initrd_len);
    assert_memory_equal(r1.initrd_sha384, r2.initrd_sha384, 48);
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++) {
        mk_buf a, b;
        read_out("r1", outputs[i], &a);
        read_out("r2", outputs[i], &b);
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            fail_msg("%s differs between two builds", outputs[i]);
        mk_buf_free(&a);
        mk_buf_free(&b);
    }
    /* no kernel/firmware given: neither copied, no registers pinned */
    char p[600];
    struct stat st;
    snprintf(p, sizeof p, "%s/r1/%s", tmpdir, MK_TDX_BUILD_KERNEL);
    assert_int_not_equal(stat(p, &st), 0);
    mk_buf h;
    read_out("r1", MK_TDX_BUILD_HEADER, &h);
    assert_null(strstr((char *)h.data, "MOSAIK_EXPECTED_MRTD"));
    assert_non_null(strstr((char *)h.data, "#define MOSAIK_EXPECTED_MEMORY_MIB 1536\n"));
    assert_non_null(strstr(
        (char *)h.data, "#define MOSAIK_EXPECTED_CMDLINE \"console=ttyS0 quiet app.opt='a b'\""));
    mk_buf_free(&h);

    /* the gzip stream holds the archive the library writes for the same opts */
    mk_buf gz, cpio = MK_BUF_INIT, want = MK_BUF_INIT;
    read_out("r1", MK_TDX_BUILD_INITRD, &gz);
    mk_cpio *c = NULL;
    TU_ASSERT_RC(mk_tdx_build_archive(&o, &c, &err), 0, &err);
    assert_int_equal(mk_cpio_count(c), r1.nentries);
    TU_ASSERT_RC(mk_cpio_write(c, 0, &want, &err), 0, &err);
    uLongf dlen = (uLongf)want.len + 16;
    uint8_t *dst = mk_buf_extend(&cpio, dlen);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(inflateInit2(&zs, 31), Z_OK);
    zs.next_in = gz.data;
    zs.avail_in = (uInt)gz.len;
    zs.next_out = dst;
    zs.avail_out = (uInt)dlen;
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.total_out, want.len);
    assert_memory_equal(dst, want.data, want.len);
    inflateEnd(&zs);
    mk_cpio_free(c);
    mk_buf_free(&gz);
    mk_buf_free(&cpio);
    mk_buf_free(&want);
    mk_tdx_build_result_free(&r1);
    mk_tdx_build_result_free(&r2);
}

static void test_source_date_epoch(void **state) {
    (void)state;
    mk_error err;
    mk_tdx_build_opts o;
    base_opts(&o, "sde");
    setenv("SOURCE_DATE_EPOCH", "1234", 1);
    mk_tdx_build_result r;
    TU_ASSERT_RC(mk_tdx_build(&o, &r, &err), 0, &err);
    assert_int_equal(r.mtime, 1234);
    mk_buf gz, a, b;
    read_out("sde", MK_TDX_BUILD_INITRD, &gz);
    read_out("r1", MK_TDX_BUILD_INITRD, &a);
    assert_false(gz.len == a.len && memcmp(gz.data, a.data, a.len) == 0);
    /* the gzip header keeps mtime 0 */
    assert_memory_equal(gz.data + 4, "\0\0\0\0", 4);
    mk_buf_free(&gz);
    mk_buf_free(&a);
    /* an explicit mtime wins over the environment */
    o.mtime = 0;
    o.out_dir = in("sde0");
    mk_tdx_build_result_free(&r);
    TU_ASSERT_RC(mk_tdx_build(&o, &r, &err), 0, &err);
    read_out("sde0", MK_TDX_BUILD_INITRD, &a);
    read_out("r1", MK_TDX_BUILD_INITRD, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    mk_buf_free(&a);
    mk_buf_free(&b);
    mk_tdx_build_result_free(&r);
    /* garbage is refused */
    o.mtime = -1;
    setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "SOURCE_DATE_EPOCH");
    setenv("SOURCE_DATE_EPOCH", "4294967296", 1);
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    unsetenv("SOURCE_DATE_EPOCH");
}

static void test_layout_and_init(void **state) {
    (void)state;
    mk_buf man;
    read_out("r1", MK_TDX_BUILD_MANIFEST, &man);
    const char *m = (const char *)man.data;
    static const char *want[] = {
        "040755 0 - bin\n",
        " bin/busybox\n",
        "120777 7 - bin/sh -> busybox\n",
        "020600 0 - dev/console (char 5:1)\n",
        "100644 10 ",
        " etc/app/conf.txt\n",
        "040755 0 - etc/app\n",
        "100755 2",
        " init\n",
        " lib/modules/mosaik/01-a.ko\n",
        " lib/modules/mosaik/02-b.ko\n",
        "040755 0 - opt/tools\n",
        "100755 15 ",
        " opt/tools/tool.sh\n",
        "040700 0 - root/.ssh\n",
        "100600 22 ",
        " root/.ssh/authorized_keys\n",
        "041777 0 - tmp\n",
        "100755 152 ",
        " usr/bin/app\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(m, want[i])) fail_msg("manifest lacks '%s':\n%s", want[i], m);
    mk_buf_free(&man);

    mk_tdx_build_opts o;
    base_opts(&o, "unused");
    mk_buf s = MK_BUF_INIT;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_build_init_script(&o, &s, &err), 0, &err);
    const char *t = (const char *)s.data;
    static const char *lines[] = {
        "#!/bin/busybox sh\n",
        "mount -t proc proc /proc\n",
        "mount -t sysfs sysfs /sys\n",
        "mount -t devtmpfs devtmpfs /dev",
        "mount -t configfs configfs /sys/kernel/config",
        "for m in /lib/modules/mosaik/*.ko*; do\n",
        "insmod \"$m\"",
        "ip link set lo up",
        "udhcpc -i eth0",
        "mosaik.dumplog=1",
        "/usr/bin/app\nrc=$?\n",
        "poweroff -f\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strstr(t, lines[i])) fail_msg("/init lacks '%s'", lines[i]);
    /* modules load before configfs is mounted (configfs may be a module) */
    assert_true(strstr(t, "insmod") < strstr(t, "mount -t configfs"));
    mk_buf_free(&s);
}

static void test_launch_script(void **state) {
    (void)state;
    /* a fake QEMU printing one argument per line; fake firmware and kernel
     * files satisfy the script's presence check */
    static const char fake[] = "#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done\n";
    write_file("fakeqemu", fake, sizeof fake - 1, 0755);
    write_file("r1/OVMF.fd", "x", 1, 0644);
    write_file("r1/vmlinuz", "x", 1, 0644);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "QEMU='%s/fakeqemu' '%s/r1/%s' -device extra > '%s/args.txt'", tmpdir,
             tmpdir, MK_TDX_BUILD_LAUNCH, tmpdir);
    int st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    mk_buf a;
    char p[600];
    snprintf(p, sizeof p, "%s/args.txt", tmpdir);
    mk_error err;
    mk_buf_init(&a, 1 << 20);
    TU_ASSERT_RC(mk_file_read(p, 1 << 20, &a, &err), 0, &err);
    TU_ASSERT_RC(mk_buf_append_u8(&a, 0), 0, &err);
    const char *t = (const char *)a.data;
    static const char *want[] = {
        ("[-object]\n[tdx-guest,id=tdx0,sept-ve-disable=on,quote-generation-socket.type=vsock,"
         "quote-generation-socket.cid=2,quote-generation-socket.port=4050]\n"),
        "[-device]\n[vhost-vsock-pci,guest-cid=3]\n",
        "[-machine]\n[q35,kernel-irqchip=split,confidential-guest-support=tdx0]\n",
        "/r1/OVMF.fd]\n",
        "[-kernel]\n",
        "/r1/initrd.cpio.gz]\n",
        "[-append]\n[console=ttyS0 quiet app.opt='a b']\n",
        "[-smp]\n[3]\n[-m]\n[1536]\n",
        "[-nographic]\n[-nodefaults]\n[-serial]\n[stdio]\n",
        "[-device]\n[extra]\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(t, want[i])) fail_msg("launch arguments lack '%s':\n%s", want[i], t);
    mk_buf_free(&a);
    /* a missing file is reported */
    snprintf(p, sizeof p, "%s/r1/OVMF.fd", tmpdir);
    unlink(p);
    snprintf(cmd, sizeof cmd, "QEMU=/bin/true '%s/r1/%s' 2>/dev/null", tmpdir, MK_TDX_BUILD_LAUNCH);
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
}

static void test_refusals(void **state) {
    (void)state;
    mk_error err;
    mk_tdx_build_opts o;

    base_opts(&o, "bad");
    o.program = in("missing");
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EIO, &err);
    TU_ASSERT_REASON(&err, "--program");
    TU_ASSERT_REASON(&err, "missing");
    /* nothing was written */
    struct stat st;
    assert_int_not_equal(stat(in("bad"), &st), 0);

    base_opts(&o, "bad");
    o.kernel = in("nokernel");
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EIO, &err);
    TU_ASSERT_REASON(&err, "--kernel");
    base_opts(&o, "bad");
    o.ovmf = in("conf.txt");
    assert_true(mk_tdx_build(&o, NULL, &err) < 0);
    assert_int_not_equal(stat(in("bad"), &st), 0);
    base_opts(&o, "bad");
    o.busybox = in("nobusybox");
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EIO, &err);
    TU_ASSERT_REASON(&err, "--busybox");
    base_opts(&o, "bad");
    o.program = tmpdir; /* a directory */
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EIO, &err);

    base_opts(&o, "bad");
    o.program = in("dynamic");
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "dynamically linked");
    o.allow_dynamic = true;
    o.out_dir = in("dyn");
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), 0, &err);

    base_opts(&o, "bad");
    o.program = in("notelf");
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "not an ELF");
    base_opts(&o, "bad");
    o.program = NULL;
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "--program");
    base_opts(&o, "bad");
    o.out_dir = NULL;
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);

    mk_tdx_build_extra x[1];
    base_opts(&o, "bad");
    x[0].src = in("conf.txt");
    x[0].dest = "/init"; /* clashes with the generated /init */
    o.extras = x;
    o.nextras = 1;
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "duplicate path 'init'");
    x[0].dest = "etc/relative";
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "absolute");
    x[0].dest = "/etc/../x";
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    x[0].dest = "/init/sub"; /* a file as a directory */
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    x[0].src = in("nothere");
    x[0].dest = "/etc/x";
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EIO, &err);
    TU_ASSERT_REASON(&err, "--extra");

    const char *mods[1] = {in("conf.txt")};
    base_opts(&o, "bad");
    o.modules = mods;
    o.nmodules = 1;
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "NAME.ko");

    base_opts(&o, "bad");
    o.cmdline = "console=ttyS0\ninit=/bin/sh";
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "printable ASCII");
    base_opts(&o, "bad");
    o.memory_mib = 16;
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);

    base_opts(&o, "bad");
    write_file("app with space", "x", 1, 0755);
    o.program = in("app with space");
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "program file name");

    base_opts(&o, "bad");
    o.out_dir = in("conf.txt"); /* a file, not a directory */
    TU_ASSERT_RC(mk_tdx_build(&o, NULL, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "not a directory");
}

/* With Debian 12's OVMF (sha256 7b456907…) the default profile's MRTD is the
 * interleaved value of /work/notes' reference computation. */
static void test_mrtd_wiring(void **state) {
    (void)state;
    const char *fw = "/usr/share/ovmf/OVMF.fd";
    mk_buf b = MK_BUF_INIT;
    mk_error err;
    mk_buf_init(&b, 64 << 20);
    if (mk_file_read(fw, 64 << 20, &b, &err) != 0) {
        mk_buf_free(&b);
        TU_SKIP("%s: %s (scripts/deps.sh test installs Debian's ovmf)", fw, err.msg);
    }
    uint8_t d[32];
    char hx[65];
    mk_sha256(b.data, b.len, d);
    mk_hex_encode(d, 32, hx);
    mk_buf_free(&b);
    if (strcmp(hx, "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773") != 0)
        TU_SKIP("%s is not ovmf 2022.11-6+deb12u2 (sha256 %s; scripts/deps.sh test installs it)",
                fw, hx);
    mk_tdx_build_opts o;
    base_opts(&o, "fw");
    o.ovmf = fw;
    mk_tdx_build_result r;
    TU_ASSERT_RC(mk_tdx_build(&o, &r, &err), 0, &err);
    mk_buf h;
    read_out("fw", MK_TDX_BUILD_HEADER, &h);
    assert_non_null(strstr((char *)h.data,
                           "#define MOSAIK_EXPECTED_MRTD \"4c7206f0f483c524f12c366c711e9049030a8d"
                           "47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47\"\n"));
    assert_non_null(strstr((char *)h.data, "MOSAIK_EXPECTED_MRTD_BYTES { \\\n    0x4c, 0x72,"));
    mk_buf_free(&h);
    mk_buf f;
    read_out("fw", MK_TDX_BUILD_FIRMWARE, &f);
    assert_int_equal(f.len, 2097152);
    mk_buf_free(&f);
    mk_tdx_build_result_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reproducible),    cmocka_unit_test(test_source_date_epoch),
        cmocka_unit_test(test_layout_and_init), cmocka_unit_test(test_launch_script),
        cmocka_unit_test(test_refusals),        cmocka_unit_test(test_mrtd_wiring),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
