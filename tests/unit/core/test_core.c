/*
 * Unit tests of core/: reader, buffer, hex, base64, time, ids, errors, log.
 */
#include "test_util.h"

#include <sys/stat.h>

#include "core/json.h"

static void reader_bounds(void **state) {
    (void)state;
    const uint8_t data[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    mk_reader r;
    mk_reader_init(&r, data, sizeof data);
    uint16_t u16;
    uint32_t u32;
    assert_int_equal(mk_read_u16le(&r, &u16), 0);
    assert_int_equal(u16, 0x0201);
    assert_int_equal(mk_read_u32be(&r, &u32), 0);
    assert_int_equal(u32, 0x03040506);
    uint64_t u64;
    /* A failed read leaves the cursor where it was. */
    assert_int_equal(mk_read_u64le(&r, &u64), MK_ETRUNC);
    assert_int_equal(mk_reader_offset(&r), 6);
    assert_int_equal(mk_reader_remaining(&r), 3);
    mk_reader sub;
    assert_int_equal(mk_read_sub(&r, 2, &sub), 0);
    assert_int_equal(mk_reader_remaining(&sub), 2);
    assert_int_equal(mk_read_skip(&sub, 3), MK_ETRUNC);
    assert_int_equal(mk_read_skip(&r, 2), MK_ETRUNC);
    assert_int_equal(mk_read_skip(&r, 1), 0);
    assert_true(mk_reader_done(&r));
    /* SIZE_MAX must not wrap. */
    const uint8_t *p;
    assert_int_equal(mk_read_view(&r, SIZE_MAX, &p), MK_ETRUNC);
}

static void reader_lengths(void **state) {
    (void)state;
    const uint8_t ok[] = {3, 0, 0, 0, 'a', 'b', 'c'};
    const uint8_t big[] = {0xff, 0xff, 0xff, 0x7f, 'a'};
    const uint8_t trunc[] = {5, 0, 0, 0, 'a'};
    mk_reader r;
    size_t n;
    mk_reader_init(&r, ok, sizeof ok);
    assert_int_equal(mk_read_len32le(&r, 16, &n), 0);
    assert_int_equal(n, 3);
    mk_reader_init(&r, big, sizeof big);
    assert_int_equal(mk_read_len32le(&r, 1024, &n), MK_ETOOBIG);
    assert_int_equal(mk_reader_offset(&r), 0);
    mk_reader_init(&r, trunc, sizeof trunc);
    assert_int_equal(mk_read_len32le(&r, 1024, &n), MK_ETRUNC);
    assert_int_equal(mk_reader_offset(&r), 0);
    const uint8_t be[] = {0, 0, 0, 1, 'x'};
    mk_reader_init(&r, be, sizeof be);
    assert_int_equal(mk_read_len32be(&r, 1, &n), 0);
    assert_int_equal(n, 1);
}

static void buffer_caps(void **state) {
    (void)state;
    mk_buf b;
    mk_buf_init(&b, 10);
    assert_int_equal(mk_buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(mk_buf_append_u8(&b, 1), MK_ETOOBIG);
    assert_int_equal(b.len, 10);
    assert_int_equal(mk_buf_reserve(&b, SIZE_MAX), MK_ETOOBIG);
    mk_buf_free(&b);
    mk_buf_init(&b, 0);
    assert_int_equal(mk_buf_append_u32be(&b, 0x01020304), 0);
    assert_int_equal(mk_buf_append_u16le(&b, 0x0506), 0);
    assert_int_equal(mk_buf_printf(&b, "%s-%d", "x", 42), 0);
    assert_memory_equal(b.data, "\x01\x02\x03\x04\x06\x05x-42", 10);
    size_t len;
    uint8_t *p = mk_buf_steal(&b, &len);
    assert_int_equal(len, 10);
    assert_null(b.data);
    free(p);
}

static void hex(void **state) {
    (void)state;
    char out[9];
    mk_hex_encode("\x00\xab\xcd\xef", 4, out);
    assert_string_equal(out, "00abcdef");
    mk_buf b = MK_BUF_INIT;
    mk_error err;
    assert_int_equal(mk_hex_decode("0xABcd", 6, &b, &err), 0);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "\xab\xcd", 2);
    mk_buf_reset(&b);
    assert_int_equal(mk_hex_decode("abc", 3, &b, &err), MK_EMALFORMED);
    assert_int_equal(mk_hex_decode("zz", 2, &b, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "invalid character");
    mk_buf_free(&b);
    uint8_t two[2];
    assert_int_equal(mk_hex_decode_exact("0102", two, 2, &err), 0);
    assert_int_equal(mk_hex_decode_exact("010203", two, 2, &err), MK_EMALFORMED);
}

/* RFC 4648 §10 test vectors. */
static void base64_rfc4648(void **state) {
    (void)state;
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        mk_buf e = MK_BUF_INIT, d = MK_BUF_INIT;
        assert_int_equal(mk_base64_encode(in[i], strlen(in[i]), &e), 0);
        assert_int_equal(e.len, strlen(out[i]));
        if (e.len) assert_memory_equal(e.data, out[i], e.len);
        assert_int_equal(mk_base64_decode(out[i], strlen(out[i]), &d, NULL), 0);
        assert_int_equal(d.len, strlen(in[i]));
        if (d.len) assert_memory_equal(d.data, in[i], d.len);
        mk_buf_free(&e);
        mk_buf_free(&d);
    }
}

static void base64url_strict(void **state) {
    (void)state;
    mk_buf b = MK_BUF_INIT;
    mk_error err;
    /* RFC 7515 A.1 header. */
    const char *h = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
    assert_int_equal(mk_base64url_decode(h, strlen(h), &b, &err), 0);
    assert_memory_equal(b.data, "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}", b.len);
    mk_buf_reset(&b);
    assert_int_equal(mk_base64url_decode("Zg==", 4, &b, &err), MK_EMALFORMED); /* padding */
    assert_int_equal(mk_base64url_decode("Z+8", 3, &b, &err), MK_EMALFORMED);  /* std alphabet */
    assert_int_equal(mk_base64url_decode("Zh", 2, &b, &err), MK_EMALFORMED);   /* trailing bits */
    assert_int_equal(mk_base64url_decode("Z", 1, &b, &err), MK_EMALFORMED);
    assert_int_equal(mk_base64url_decode("Zm 9", 4, &b, &err), MK_EMALFORMED);
    assert_int_equal(mk_base64url_decode("Zg", 2, &b, &err), 0);
    assert_int_equal(b.len, 1);
    mk_buf_reset(&b);
    assert_int_equal(mk_base64url_encode("\xfb\xff", 2, &b), 0);
    assert_string_equal((char *)b.data, "-_8");
    mk_buf_free(&b);
    mk_buf s = MK_BUF_INIT;
    assert_int_equal(mk_base64_decode("Zm9v\n", 5, &s, &err), MK_EMALFORMED);
    assert_int_equal(mk_base64_decode("Z=9v", 4, &s, &err), MK_EMALFORMED);
    mk_buf_free(&s);
}

static void time_rfc3339(void **state) {
    (void)state;
    int64_t t;
    mk_error err;
    const char *s = "2025-07-19T10:00:34Z";
    assert_int_equal(mk_time_parse_rfc3339(s, strlen(s), &t, &err), 0);
    assert_int_equal(t, 1752919234);
    char out[MK_RFC3339_LEN];
    mk_time_format_rfc3339(t, out);
    assert_string_equal(out, s);
    s = "2025-07-19T12:00:34.123+02:00";
    assert_int_equal(mk_time_parse_rfc3339(s, strlen(s), &t, &err), 0);
    assert_int_equal(t, 1752919234);
    s = "1970-01-01T00:00:00Z";
    assert_int_equal(mk_time_parse_rfc3339(s, strlen(s), &t, &err), 0);
    assert_int_equal(t, 0);
    s = "2024-02-29T00:00:00Z";
    assert_int_equal(mk_time_parse_rfc3339(s, strlen(s), &t, &err), 0);
    assert_int_equal(t, 1709164800);
    mk_time_format_rfc3339(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59Z");
    const char *bad[] = {"2023-02-29T00:00:00Z",     "2025-13-01T00:00:00Z",
                         "2025-07-19T10:00:34",      "2025-07-19T24:00:00Z",
                         "2025-07-19T10:00:34Zjunk", "2025-7-19T10:00:34Z",
                         "2025-07-19T10:00:34.Z",    ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(mk_time_parse_rfc3339(bad[i], strlen(bad[i]), &t, &err), MK_EMALFORMED);
}

static void fake_clock(void **state) {
    (void)state;
    mk_fake_clock fc;
    mk_fake_clock_init(&fc, 1000);
    mk_clock_set(&fc.clock);
    assert_int_equal(mk_now(), 1000);
    uint64_t m = mk_mono_ms();
    mk_fake_clock_advance(&fc, 5);
    assert_int_equal(mk_now(), 1005);
    assert_int_equal(mk_mono_ms() - m, 5000);
    mk_clock_set(NULL);
    assert_true(mk_now() > 1700000000);
}

static void ids(void **state) {
    (void)state;
    mk_id a, b, c;
    mk_id_from_name(&a, "prices");
    mk_id_from_name(&b, "prices");
    assert_true(mk_id_eq(&a, &b));
    mk_id_from_name(&c, "prices2");
    assert_false(mk_id_eq(&a, &c));
    /* Known answer: SHA-256(u64be(17) "mosaik/id/name/v1" u64be(6) "prices"). */
    char hex[MK_ID_HEX_LEN];
    mk_id_to_hex(&a, hex);
    uint8_t pre[8 + 17 + 8 + 6] = {0, 0, 0, 0, 0, 0, 0, 17};
    memcpy(pre + 8, "mosaik/id/name/v1", 17);
    memcpy(pre + 25, "\0\0\0\0\0\0\0\6prices", 14);
    uint8_t want[32];
    mk_sha256(pre, sizeof pre, want);
    assert_memory_equal(a.b, want, 32);
    /* Derivation is unambiguous: moving a byte between base and data changes the id. */
    mk_id d1, d2;
    mk_id_derive(&d1, &a, "ab", 2);
    mk_id_derive(&d2, &a, "a", 1);
    assert_false(mk_id_eq(&d1, &d2));
    mk_id back;
    mk_error err;
    assert_int_equal(mk_id_from_hex(&back, hex, &err), 0);
    assert_true(mk_id_eq(&back, &a));
    mk_id parsed;
    mk_id_parse(&parsed, hex);
    assert_true(mk_id_eq(&parsed, &a));
    mk_id_parse(&parsed, "prices");
    assert_true(mk_id_eq(&parsed, &a));
    assert_int_equal(mk_id_from_hex(&back, "abcd", &err), MK_EMALFORMED);
    mk_id r1, r2;
    assert_int_equal(mk_id_random(&r1), 0);
    assert_int_equal(mk_id_random(&r2), 0);
    assert_false(mk_id_eq(&r1, &r2));
    assert_false(mk_id_is_zero(&r1));
}

static void errors(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    assert_int_equal(mk_error_set(&err, MK_EEXPIRED, "certificate expired at %s", "2025"),
                     MK_EEXPIRED);
    mk_error_prefix(&err, err.code, "PCK chain");
    assert_string_equal(err.msg, "PCK chain: certificate expired at 2025");
    assert_int_equal(err.code, MK_EEXPIRED);
    assert_string_equal(mk_strerror(MK_EBADSIG), "MK_EBADSIG");
    assert_int_equal(mk_error_set(NULL, MK_EIO, "x"), MK_EIO);
}

/* mk_error_prefix returns the status it is given, so `return
 * mk_error_prefix(err, rc, ...)` keeps the real code when the caller passed
 * no error (it used to return MK_EINVAL then). */
static void error_prefix_keeps_code(void **state) {
    (void)state;
    assert_int_equal(mk_error_prefix(NULL, MK_EBADSIG, "quote signature"), MK_EBADSIG);
    assert_int_equal(mk_error_prefix(NULL, MK_EEXPIRED, "%s", "x"), MK_EEXPIRED);
    mk_error err;
    mk_error_clear(&err);
    mk_error_set(&err, MK_EREVOKED, "serial 01 revoked");
    assert_int_equal(mk_error_prefix(&err, MK_EREVOKED, "PCK chain"), MK_EREVOKED);
    assert_int_equal(err.code, MK_EREVOKED);
    assert_string_equal(err.msg, "PCK chain: serial 01 revoked");
    /* A code given with an error that holds none becomes the error's code. */
    mk_error_clear(&err);
    assert_int_equal(mk_error_prefix(&err, MK_EIO, "read"), MK_EIO);
    assert_int_equal(err.code, MK_EIO);
    assert_string_equal(err.msg, "read");
    /* Through a real failing call with err NULL: the reader's code survives. */
    uint8_t x;
    mk_reader r;
    mk_reader_init(&r, NULL, 0);
    int rc = mk_read_u8(&r, &x);
    assert_int_equal(rc, MK_ETRUNC);
    assert_int_equal(mk_error_prefix(NULL, rc, "header"), MK_ETRUNC);
}

/* The writer: exact bytes in order, nothing past capacity, sticky failure. */
static void writer_bounds(void **state) {
    (void)state;
    uint8_t out[16];
    memset(out, 0xEE, sizeof out);
    mk_writer w;
    mk_writer_init(&w, out, 15);
    assert_int_equal(mk_write_u8(&w, 0x01), 0);
    assert_int_equal(mk_write_u16be(&w, 0x0203), 0);
    assert_int_equal(mk_write_u32le(&w, 0x07060504), 0);
    assert_int_equal(mk_write_u64be(&w, 0x08090a0b0c0d0e0fULL), 0);
    assert_int_equal(mk_writer_len(&w), 15);
    assert_int_equal(mk_writer_room(&w), 0);
    for (int i = 0; i < 15; i++)
        assert_int_equal(out[i], i + 1);
    /* One byte too many: refused, nothing written, cursor unmoved, sticky. */
    assert_int_equal(mk_write_u8(&w, 0xAA), MK_ETOOBIG);
    assert_int_equal(out[15], 0xEE);
    assert_int_equal(mk_writer_len(&w), 15);
    assert_int_equal(mk_writer_status(&w), MK_ETOOBIG);
    mk_writer_init(&w, out, 4);
    assert_int_equal(mk_write_bytes(&w, "abcdef", 6), MK_ETOOBIG);
    assert_int_equal(mk_writer_len(&w), 0);
    assert_int_equal(mk_write_u8(&w, 1), MK_ETOOBIG); /* stays failed */
    assert_null(mk_write_reserve(&w, 0));
    /* Into a buffer: the room is appended to it. */
    mk_buf b = MK_BUF_INIT;
    mk_buf_init(&b, 8);
    assert_int_equal(mk_buf_append_u8(&b, 0x55), 0);
    assert_int_equal(mk_writer_init_buf(&w, &b, 4), 0);
    assert_int_equal(mk_write_u16le(&w, 0x2211), 0);
    assert_int_equal(mk_write_zeros(&w, 2), 0);
    assert_int_equal(mk_writer_status(&w), 0);
    assert_int_equal(b.len, 5);
    assert_int_equal(b.data[1], 0x11);
    assert_int_equal(b.data[2], 0x22);
    assert_int_equal(mk_writer_init_buf(&w, &b, 4), MK_ETOOBIG); /* max 8 */
    assert_int_equal(mk_writer_status(&w), MK_ETOOBIG);
    mk_buf_free(&b);
}

static int captured_level = -1;
static char captured[256];
static void sink(mk_log_level l, const char *sub, const char *msg, void *ctx) {
    (void)ctx;
    captured_level = (int)l;
    snprintf(captured, sizeof captured, "%s:%s", sub, msg);
}

static void logging(void **state) {
    (void)state;
    assert_int_equal(mk_log_parse_level("debug"), MK_LOG_DEBUG);
    assert_int_equal(mk_log_parse_level("nope"), -1);
    mk_log_set_sink(sink, NULL);
    mk_log_set_level(MK_LOG_INFO);
    mk_log(MK_LOG_DEBUG, "t", "hidden");
    assert_int_equal(captured_level, -1);
    mk_log(MK_LOG_INFO, "t", "shown %d", 1);
    assert_int_equal(captured_level, MK_LOG_INFO);
    assert_string_equal(captured, "t:shown 1");
    mk_log_set_sink(NULL, NULL);
    mk_log_set_level(MK_LOG_WARN);
}

static void files(void **state) {
    (void)state;
    char path[] = "/tmp/mosaik-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    mk_error err;
    assert_int_equal(mk_file_write(path, "hello", 5, 0600, &err), 0);
    mk_buf b = MK_BUF_INIT;
    assert_int_equal(mk_file_read(path, 100, &b, &err), 0);
    assert_memory_equal(b.data, "hello", 5);
    mk_buf_reset(&b);
    assert_int_equal(mk_file_read(path, 4, &b, &err), MK_ETOOBIG);
    mk_buf_free(&b);
    unlink(path);
    assert_int_equal(mk_file_read("/nonexistent/x", 4, &b, &err), MK_EIO);
    TU_ASSERT_REASON(&err, "/nonexistent/x");
}

/* L5: a failed read leaves the buffer as it was. */
static void file_read_failure_changes_nothing(void **state) {
    (void)state;
    char path[] = "/tmp/mosaik-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static uint8_t big[40000];
    memset(big, 'x', sizeof big);
    assert_int_equal(write(fd, big, sizeof big), (ssize_t)sizeof big);
    close(fd);
    mk_buf b = MK_BUF_INIT;
    assert_int_equal(mk_buf_append(&b, "abc", 3), 0);
    mk_error err;
    /* Larger than max after a first 16 KiB chunk was read. */
    assert_int_equal(mk_file_read(path, 20000, &b, &err), MK_ETOOBIG);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "abc", 3);
    /* A success appends. */
    assert_int_equal(mk_file_read(path, sizeof big, &b, &err), 0);
    assert_int_equal(b.len, 3 + sizeof big);
    mk_buf_free(&b);
    unlink(path);
}

/* L4: the temporary file is created exclusively: a symlink planted where a
 * predictable temporary name would be is never followed, and nothing is
 * left behind. */
static void file_write_no_symlink_follow(void **state) {
    (void)state;
    char dir[] = "/tmp/mosaik-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], victim[128], planted[160];
    snprintf(path, sizeof path, "%s/target", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    snprintf(planted, sizeof planted, "%s.tmp.%d", path, (int)getpid());
    mk_error err;
    assert_int_equal(mk_file_write(victim, "precious", 8, 0600, &err), 0);
    assert_int_equal(symlink(victim, planted), 0);
    assert_int_equal(mk_file_write(path, "new", 3, 0600, &err), 0);
    mk_buf b = MK_BUF_INIT;
    assert_int_equal(mk_file_read(victim, 100, &b, &err), 0);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "precious", 8);
    mk_buf_reset(&b);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(mk_file_read(path, 100, &b, &err), 0);
    assert_memory_equal(b.data, "new", 3);
    mk_buf_free(&b);
    /* Only target, victim and the planted link remain. */
    unlink(planted);
    unlink(victim);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

/* The JSON depth bound: every value counts, the root at depth 1. */
static bool depth_of(const char *doc, int max) {
    json_error_t e;
    json_t *j = json_loads(doc, JSON_DECODE_ANY, &e);
    if (!j) fail_msg("bad test JSON %s: %s", doc, e.text);
    bool ok = mk_json_depth_ok(j, max);
    json_decref(j);
    return ok;
}

static void json_depth(void **state) {
    (void)state;
    assert_true(depth_of("{\"a\":{\"b\":1}}", 3));
    assert_false(depth_of("{\"a\":{\"b\":1}}", 2));         /* the scalar is at depth 3 */
    assert_false(depth_of("{\"a\":{\"b\":{\"c\":1}}}", 3)); /* 4 */
    assert_true(depth_of("{\"a\":{\"b\":[]}}", 3));
    assert_false(depth_of("[[[[]]]]", 3));
    assert_true(depth_of("[[[[]]]]", 4));
    assert_true(depth_of("[1,{\"x\":[2,3]},4]", 4));
    assert_false(depth_of("[1,{\"x\":[2,3]},4]", 3));   /* 2 and 3 are at depth 4 */
    assert_false(depth_of("[1,{\"x\":[2,[3]]},4]", 4)); /* the inner 3 at depth 5 */
    assert_true(depth_of("7", 1));
    assert_false(depth_of("7", 0));
    assert_true(depth_of("{}", 1));
    assert_false(depth_of("{\"a\":1}", 1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_bounds),
        cmocka_unit_test(reader_lengths),
        cmocka_unit_test(buffer_caps),
        cmocka_unit_test(hex),
        cmocka_unit_test(base64_rfc4648),
        cmocka_unit_test(base64url_strict),
        cmocka_unit_test(time_rfc3339),
        cmocka_unit_test(fake_clock),
        cmocka_unit_test(ids),
        cmocka_unit_test(errors),
        cmocka_unit_test(error_prefix_keeps_code),
        cmocka_unit_test(writer_bounds),
        cmocka_unit_test(logging),
        cmocka_unit_test(files),
        cmocka_unit_test(file_read_failure_changes_nothing),
        cmocka_unit_test(file_write_no_symlink_follow),
        cmocka_unit_test(json_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
