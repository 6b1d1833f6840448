/*
 * test_cpio.c — the deterministic newc CPIO writer and gzip wrapper
 * (src/tee/tdx/build/cpio.c): a tiny archive compared with bytes written by
 * hand from the format description, header fields and padding of a larger
 * archive parsed back by an independent reader, sorting, refusals, gzip
 * header/trailer and round trip through zlib's inflate.
 */
#include "test_util.h"

#include <zlib.h>

#include "tee/tdx/build/cpio.h"

/* Written by hand: dir "d" (0755), file "d/f" = "hi\n" (0644), symlink
 * "l" -> "d/f", all with mtime 0x2A, then the trailer. Entries were added
 * in the order l, d/f, d; the archive must be sorted. */
static const char tiny_expected[] =
    /* ino 1, 040755, uid 0, gid 0, nlink 2, mtime 2A, size 0, dev 0:0,
       rdev 0:0, namesize 2, check 0; "d\0" -> 112 bytes, no padding */
    "070701"
    "00000001"
    "000041ED"
    "00000000"
    "00000000"
    "00000002"
    "0000002A"
    "00000000"
    "00000000"
    "00000000"
    "00000000"
    "00000000"
    "00000002"
    "00000000"
    "d\0"
    /* ino 2, 0100644, nlink 1, size 3, namesize 4: 114 -> pad 2;
       data "hi\n" -> pad 1 */
    "070701"
    "00000002"
    "000081A4"
    "00000000"
    "00000000"
    "00000001"
    "0000002A"
    "00000003"
    "00000000"
    "00000000"
    "00000000"
    "00000000"
    "00000004"
    "00000000"
    "d/f\0"
    "\0\0"
    "hi\n\0"
    /* ino 3, 0120777, size 3 ("d/f"), namesize 2 */
    "070701"
    "00000003"
    "0000A1FF"
    "00000000"
    "00000000"
    "00000001"
    "0000002A"
    "00000003"
    "00000000"
    "00000000"
    "00000000"
    "00000000"
    "00000002"
    "00000000"
    "l\0"
    "d/f\0"
    /* trailer: ino 0, mode 0, nlink 1, mtime 0, namesize 11: 121 -> pad 3 */
    "070701"
    "00000000"
    "00000000"
    "00000000"
    "00000000"
    "00000001"
    "00000000"
    "00000000"
    "00000000"
    "00000000"
    "00000000"
    "00000000"
    "0000000B"
    "00000000"
    "TRAILER!!!\0"
    "\0\0\0";

static void test_tiny_archive_bytes(void **state) {
    (void)state;
    mk_error err;
    mk_cpio *c = mk_cpio_new();
    assert_non_null(c);
    TU_ASSERT_RC(mk_cpio_add_symlink(c, "l", "d/f", &err), 0, &err);
    TU_ASSERT_RC(mk_cpio_add_file(c, "d/f", 0644, "hi\n", 3, &err), 0, &err);
    TU_ASSERT_RC(mk_cpio_add_dir(c, "d", 0755, &err), 0, &err);
    assert_int_equal(mk_cpio_count(c), 3);
    mk_buf out = MK_BUF_INIT;
    TU_ASSERT_RC(mk_cpio_write(c, 0x2A, &out, &err), 0, &err);
    size_t want = sizeof tiny_expected - 1;
    assert_int_equal(want % 4, 0);
    assert_int_equal(out.len, want);
    assert_memory_equal(out.data, tiny_expected, want);
    /* writing again appends the same bytes (no hidden state) */
    TU_ASSERT_RC(mk_cpio_write(c, 0x2A, &out, &err), 0, &err);
    assert_int_equal(out.len, 2 * want);
    assert_memory_equal(out.data + want, tiny_expected, want);
    mk_buf_free(&out);
    mk_cpio_free(c);
}

/* Independent newc reader for the checks below. */
typedef struct parsed {
    uint32_t f[13];
    char name[MK_CPIO_PATH_MAX + 1];
    const uint8_t *data;
} parsed;

static uint32_t hex8(const uint8_t *p) {
    char tmp[9];
    memcpy(tmp, p, 8);
    tmp[8] = 0;
    for (int i = 0; i < 8; i++)
        if (!((tmp[i] >= '0' && tmp[i] <= '9') || (tmp[i] >= 'A' && tmp[i] <= 'F')))
            fail_msg("field %s is not 8 uppercase hex digits", tmp);
    return (uint32_t)strtoul(tmp, NULL, 16);
}

static size_t parse_entry(const mk_buf *b, size_t off, parsed *e) {
    assert_true(off % 4 == 0);
    assert_true(off + 110 <= b->len);
    assert_memory_equal(b->data + off, "070701", 6);
    for (int i = 0; i < 13; i++)
        e->f[i] = hex8(b->data + off + 6 + 8 * i);
    uint32_t namesize = e->f[11];
    assert_true(namesize >= 2 && off + 110 + namesize <= b->len);
    assert_int_equal(b->data[off + 110 + namesize - 1], 0);
    memcpy(e->name, b->data + off + 110, namesize);
    size_t p = off + 110 + namesize;
    while (p % 4)
        assert_int_equal(b->data[p++], 0); /* name padding is zero */
    e->data = b->data + p;
    p += e->f[6];
    assert_true(p <= b->len);
    while (p % 4)
        assert_int_equal(b->data[p++], 0); /* data padding is zero */
    return p;
}

static void test_header_fields_and_padding(void **state) {
    (void)state;
    mk_error err;
    mk_cpio *c = mk_cpio_new();
    char name[32], data[16];
    /* every name length 1..8 and data length 0..7, added in reverse order */
    for (int i = 7; i >= 0; i--) {
        snprintf(name, sizeof name, "%.*s", i + 1, "zyxwvuts");
        for (int j = 0; j < i; j++)
            data[j] = (char)('a' + j);
        TU_ASSERT_RC(mk_cpio_add_file(c, name, 0600 + (unsigned)i, data, (size_t)i, &err), 0, &err);
    }
    TU_ASSERT_RC(mk_cpio_add_dir(c, "dir", 01777, &err), 0, &err);
    TU_ASSERT_RC(mk_cpio_add_chardev(c, "dir/console", 0600, 5, 1, &err), 0, &err);
    mk_buf out = MK_BUF_INIT;
    TU_ASSERT_RC(mk_cpio_write(c, 1700000000u, &out, &err), 0, &err);
    size_t off = 0;
    char prev[MK_CPIO_PATH_MAX + 1] = "";
    uint32_t n = 0;
    parsed e;
    for (;;) {
        off = parse_entry(&out, off, &e);
        if (strcmp(e.name, "TRAILER!!!") == 0) break;
        n++;
        assert_int_equal(e.f[0], n);           /* ino 1..n in archive order */
        assert_int_equal(e.f[2], 0);           /* uid */
        assert_int_equal(e.f[3], 0);           /* gid */
        assert_int_equal(e.f[5], 1700000000u); /* mtime */
        assert_int_equal(e.f[7], 0);           /* devmajor */
        assert_int_equal(e.f[8], 0);           /* devminor */
        assert_int_equal(e.f[12], 0);          /* check */
        assert_true(strcmp(prev, e.name) < 0); /* sorted, unique */
        snprintf(prev, sizeof prev, "%s", e.name);
        if (strcmp(e.name, "dir") == 0) {
            assert_int_equal(e.f[1], 041777);
            assert_int_equal(e.f[4], 2);
        } else if (strcmp(e.name, "dir/console") == 0) {
            assert_int_equal(e.f[1], 020600);
            assert_int_equal(e.f[9], 5);
            assert_int_equal(e.f[10], 1);
            assert_int_equal(e.f[6], 0);
        } else {
            size_t len = strlen(e.name) - 1;
            assert_int_equal(e.f[1], 0100600 + len);
            assert_int_equal(e.f[4], 1);
            assert_int_equal(e.f[6], len);
            for (size_t j = 0; j < len; j++)
                assert_int_equal(e.data[j], 'a' + j);
        }
    }
    assert_int_equal(n, 10);
    assert_int_equal(e.f[0], 0);
    assert_int_equal(e.f[4], 1);
    assert_int_equal(off, out.len); /* nothing after the trailer's padding */
    assert_int_equal(out.len % 4, 0);

    mk_buf man = MK_BUF_INIT;
    TU_ASSERT_RC(mk_cpio_manifest(c, &man, &err), 0, &err);
    assert_non_null(
        strstr((char *)man.data, "041777 0 - dir\n020600 0 - dir/console (char 5:1)\n"));
    /* sha256("") for the empty file "z" */
    assert_non_null(strstr((char *)man.data, "100600 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b"
                                             "934ca495991b7852b855 z\n"));
    mk_buf_free(&man);
    mk_buf_free(&out);
    mk_cpio_free(c);
}

static void test_refusals(void **state) {
    (void)state;
    mk_error err;
    mk_cpio *c = mk_cpio_new();
    static const char *bad[] = {"",   "/abs",   "trail/", "a//b", "./a",     "a/./b",     "a/..",
                                "..", "sp ace", "tab\t",  "nl\n", "del\x7f", "hi\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TU_ASSERT_RC(mk_cpio_add_dir(c, bad[i], 0755, &err), MK_EINVAL, &err);
        TU_ASSERT_RC(mk_cpio_add_file(c, bad[i], 0644, "x", 1, &err), MK_EINVAL, &err);
    }
    TU_ASSERT_RC(mk_cpio_add_file(c, NULL, 0644, "x", 1, &err), MK_EINVAL, &err);
    /* names too long: whole path and one component */
    char longp[MK_CPIO_PATH_MAX + 2];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    for (size_t i = 100; i < sizeof longp - 1; i += 101)
        longp[i] = '/';
    TU_ASSERT_RC(mk_cpio_add_file(c, longp, 0644, "x", 1, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "longer than 1023");
    longp[MK_CPIO_PATH_MAX] = 0; /* exactly at the cap: accepted */
    TU_ASSERT_RC(mk_cpio_add_file(c, longp, 0644, "x", 1, &err), 0, &err);
    char comp[MK_CPIO_COMPONENT_MAX + 2];
    memset(comp, 'b', sizeof comp - 1);
    comp[sizeof comp - 1] = 0;
    TU_ASSERT_RC(mk_cpio_add_dir(c, comp, 0755, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "longer than 255");
    comp[MK_CPIO_COMPONENT_MAX] = 0;
    TU_ASSERT_RC(mk_cpio_add_dir(c, comp, 0755, &err), 0, &err);
    /* modes, duplicates, devices, symlinks */
    TU_ASSERT_RC(mk_cpio_add_dir(c, "m", 010000, &err), MK_EINVAL, &err);
    TU_ASSERT_RC(mk_cpio_add_dir(c, "m", 0755, &err), 0, &err);
    TU_ASSERT_RC(mk_cpio_add_file(c, "m", 0644, "", 0, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "duplicate path 'm'");
    TU_ASSERT_RC(mk_cpio_add_chardev(c, "m/dev", 0600, 0x1000, 0, &err), MK_EINVAL, &err);
    TU_ASSERT_RC(mk_cpio_add_symlink(c, "m/l", "", &err), MK_EINVAL, &err);
    mk_cpio_free(c);
    /* a missing parent directory is refused at write time, output untouched */
    c = mk_cpio_new();
    TU_ASSERT_RC(mk_cpio_add_dir(c, "m", 0755, &err), 0, &err);
    size_t before = mk_cpio_count(c);
    TU_ASSERT_RC(mk_cpio_add_file(c, "nodir/f", 0644, "x", 1, &err), 0, &err);
    mk_buf out = MK_BUF_INIT;
    TU_ASSERT_RC(mk_buf_append(&out, "keep", 4), 0, &err);
    TU_ASSERT_RC(mk_cpio_write(c, 0, &out, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "parent directory 'nodir'");
    assert_int_equal(out.len, 4);
    assert_int_equal(mk_cpio_count(c), before + 1);
    mk_buf_free(&out);
    mk_cpio_free(c);

    /* a parent that is a file */
    c = mk_cpio_new();
    TU_ASSERT_RC(mk_cpio_add_file(c, "f", 0644, "x", 1, &err), 0, &err);
    TU_ASSERT_RC(mk_cpio_add_file(c, "f/g", 0644, "x", 1, &err), 0, &err);
    TU_ASSERT_RC(mk_cpio_write(c, 0, &out, &err), MK_EINVAL, &err);
    TU_ASSERT_RC(mk_cpio_add_parents(c, "f/g/h", 0755, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "needed as a directory");
    mk_cpio_free(c);

    /* the entry cap */
    c = mk_cpio_new();
    char name[16];
    for (int i = 0; i < MK_CPIO_MAX_ENTRIES; i++) {
        snprintf(name, sizeof name, "f%d", i);
        TU_ASSERT_RC(mk_cpio_add_file(c, name, 0644, NULL, 0, &err), 0, &err);
    }
    TU_ASSERT_RC(mk_cpio_add_file(c, "one-more", 0644, NULL, 0, &err), MK_ETOOBIG, &err);
    mk_cpio_free(c);
}

static void test_add_parents(void **state) {
    (void)state;
    mk_error err;
    mk_cpio *c = mk_cpio_new();
    TU_ASSERT_RC(mk_cpio_add_dir(c, "a", 0700, &err), 0, &err);
    TU_ASSERT_RC(mk_cpio_add_parents(c, "a/b/c/file", 0755, &err), 0, &err);
    TU_ASSERT_RC(mk_cpio_add_file(c, "a/b/c/file", 0644, "x", 1, &err), 0, &err);
    assert_int_equal(mk_cpio_count(c), 4);
    mk_buf man = MK_BUF_INIT;
    TU_ASSERT_RC(mk_cpio_manifest(c, &man, &err), 0, &err);
    assert_non_null(strstr((char *)man.data, "040700 0 - a\n040755 0 - a/b\n040755 0 - a/b/c\n"));
    mk_buf out = MK_BUF_INIT;
    TU_ASSERT_RC(mk_cpio_write(c, 0, &out, &err), 0, &err);
    mk_buf_free(&out);
    mk_buf_free(&man);
    mk_cpio_free(c);
}

static void inflate_all(const mk_buf *gz, mk_buf *out) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(inflateInit2(&zs, 16 + 15), Z_OK);
    zs.next_in = gz->data;
    zs.avail_in = (uInt)gz->len;
    int zr;
    do {
        uint8_t *dst = mk_buf_extend(out, 4096);
        assert_non_null(dst);
        zs.next_out = dst;
        zs.avail_out = 4096;
        zr = inflate(&zs, Z_NO_FLUSH);
        out->len -= zs.avail_out;
        assert_true(zr == Z_OK || zr == Z_STREAM_END);
    } while (zr != Z_STREAM_END);
    assert_int_equal(zs.avail_in, 0); /* nothing after the member */
    inflateEnd(&zs);
}

static void test_gzip(void **state) {
    (void)state;
    mk_error err;
    /* 300 KiB of mildly compressible data */
    size_t n = 300 * 1024;
    uint8_t *data = malloc(n);
    assert_non_null(data);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)((x >> 16) % 16 + 'a');
    }
    mk_buf a = MK_BUF_INIT, b = MK_BUF_INIT, back = MK_BUF_INIT;
    TU_ASSERT_RC(mk_gzip(data, n, &a, &err), 0, &err);
    TU_ASSERT_RC(mk_gzip(data, n, &b, &err), 0, &err);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    static const uint8_t hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3};
    assert_memory_equal(a.data, hdr, 10);
    assert_true(a.len < n); /* it did compress */
    uint32_t crc = (uint32_t)crc32(0, data, (uInt)n);
    const uint8_t *t = a.data + a.len - 8;
    assert_int_equal(t[0] | t[1] << 8 | t[2] << 16 | (uint32_t)t[3] << 24, crc);
    assert_int_equal(t[4] | t[5] << 8 | t[6] << 16 | (uint32_t)t[7] << 24, n);
    inflate_all(&a, &back);
    assert_int_equal(back.len, n);
    assert_memory_equal(back.data, data, n);

    /* empty input */
    mk_buf e = MK_BUF_INIT, eb = MK_BUF_INIT;
    TU_ASSERT_RC(mk_gzip(NULL, 0, &e, &err), 0, &err);
    assert_memory_equal(e.data, hdr, 10);
    inflate_all(&e, &eb);
    assert_int_equal(eb.len, 0);
    /* NULL data with a length is refused */
    TU_ASSERT_RC(mk_gzip(NULL, 5, &e, &err), MK_EINVAL, &err);
    /* a capped output buffer: refused, output unchanged */
    mk_buf small;
    mk_buf_init(&small, 64);
    TU_ASSERT_RC(mk_gzip(data, n, &small, &err), MK_ETOOBIG, &err);
    assert_int_equal(small.len, 0);
    mk_buf_free(&small);
    mk_buf_free(&e);
    mk_buf_free(&eb);
    mk_buf_free(&a);
    mk_buf_free(&b);
    mk_buf_free(&back);
    free(data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_archive_bytes),
        cmocka_unit_test(test_header_fields_and_padding),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_add_parents),
        cmocka_unit_test(test_gzip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
