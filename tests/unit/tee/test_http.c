/*
 * tests/unit/tee/test_http.c — the shared capped HTTPS client (tee/fetch.c)
 * and the disk cache (tee/cache.c), against tests/unit/tee/http_server.py
 * on 127.0.0.1:
 *
 *   - a body and the named headers; https only unless allowed; a body over
 *     the cap; a timeout; 404; a redirect (its headers forgotten); a
 *     repeated header refused;
 *   - HTTP 429 / 503: one attempt reports "HTTP 429"; with more attempts
 *     Retry-After (seconds and HTTP-date) is honoured, backoff without it,
 *     a Retry-After beyond the cap and a wait beyond the budget end the
 *     request at once with MK_EBUSY, as does a 429 on the last attempt;
 *   - Retry-After parsing;
 *   - the cache: names that cannot leave the directory, atomic writes,
 *     capped reads, symlinks neither read nor written through.
 */
#include "test_util.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "tee/tee_internal.h"

typedef struct server {
    pid_t pid;
    int port;
    char dir[256];
    char base[128];
} server;

static server srv;
static bool srv_up;

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Returns false (and the tests are skipped) when python3 cannot run. */
static bool server_start(server *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/mk-http-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    char portfile[300], script[512];
    snprintf(portfile, sizeof portfile, "%s/port", s->dir);
    snprintf(script, sizeof script, "%s/tests/unit/tee/http_server.py", MOSAIK_SOURCE_DIR);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        execlp("python3", "python3", script, "--port-file", portfile, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600 && !s->port; i++) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            if (fscanf(f, "%d", &s->port) != 1) s->port = 0;
            fclose(f);
        }
        int status;
        if (!s->port && waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            return false;
        }
        if (!s->port) sleep_ms(50);
    }
    if (!s->port) fail_msg("HTTP test server did not start");
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    return true;
}

static int group_setup(void **state) {
    (void)state;
    srv_up = server_start(&srv);
    if (!srv_up) print_message("python3 not available: HTTP tests skipped\n");
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    if (srv.pid > 0) {
        kill(srv.pid, SIGTERM);
        waitpid(srv.pid, NULL, 0);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", srv.dir);
    if (srv.dir[0] && system(cmd) != 0) print_error("could not remove %s\n", srv.dir);
    return 0;
}

/* GET base+path with the options; *ms the time it took. */
static int get(const mk_tee_http_opts *o, const char *path, const char *const *names,
               mk_tee_http_response *r, uint64_t *ms, mk_error *err) {
    char url[512];
    snprintf(url, sizeof url, "%s%s", srv.base, path);
    mk_tee_http *h = NULL;
    int rc = mk_tee_http_new(o, &h, err);
    if (rc < 0) return rc;
    uint64_t t0 = now_ms();
    rc = mk_tee_http_get(h, url, names, r, err);
    if (ms) *ms = now_ms() - t0;
    mk_tee_http_free(h);
    return rc;
}

static void test_get(void **state) {
    (void)state;
    if (!srv_up) skip();
    mk_tee_http_opts o = {.insecure_http_ok = true};
    mk_tee_http_response r;
    mk_error err;
    mk_error_clear(&err);
    static const char *const names[] = {"X-Test", "X-Absent", NULL};
    TU_ASSERT_RC(get(&o, "/ok", names, &r, NULL, &err), 0, &err);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(r.body.len, 5);
    assert_memory_equal(r.body.data, "hello", 5);
    assert_string_equal(r.hdr[0], "abc");
    assert_null(r.hdr[1]);
    mk_tee_http_response_free(&r);
    /* A redirect: the final answer's headers only. */
    TU_ASSERT_RC(get(&o, "/redirect", names, &r, NULL, &err), 0, &err);
    assert_string_equal(r.hdr[0], "abc");
    mk_tee_http_response_free(&r);
    /* https only unless told otherwise. */
    mk_tee_http_opts strict = {0};
    TU_ASSERT_RC(get(&strict, "/ok", NULL, &r, NULL, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "https only");
    assert_false(mk_tee_url_scheme_ok("http://x", false));
    assert_true(mk_tee_url_scheme_ok("http://x", true));
    assert_true(mk_tee_url_scheme_ok("HTTPS://x", false));
    assert_false(mk_tee_url_scheme_ok(NULL, true));
    /* Caps, time limit, 404, a repeated header. */
    TU_ASSERT_RC(get(&o, "/big", NULL, &r, NULL, &err), MK_ETOOBIG, &err);
    TU_ASSERT_REASON(&err, "larger than 262144 bytes");
    mk_tee_http_opts small = o;
    small.body_max = 4;
    TU_ASSERT_RC(get(&small, "/ok", NULL, &r, NULL, &err), MK_ETOOBIG, &err);
    mk_tee_http_opts quick = o;
    quick.timeout_ms = 300;
    TU_ASSERT_RC(get(&quick, "/slow", NULL, &r, NULL, &err), MK_ETIMEDOUT, &err);
    TU_ASSERT_REASON(&err, "timed out after 300 ms");
    TU_ASSERT_RC(get(&o, "/missing", NULL, &r, NULL, &err), MK_ENOTFOUND, &err);
    TU_ASSERT_REASON(&err, "HTTP 404");
    TU_ASSERT_RC(get(&o, "/dup", names, &r, NULL, &err), MK_ENETWORK, &err);
    assert_int_equal(r.body.len, 0);
    static const char *const five[] = {"A", "B", "C", "D", "E", NULL};
    TU_ASSERT_RC(get(&o, "/ok", five, &r, NULL, &err), MK_EINVAL, &err);
}

static void test_rate_limited(void **state) {
    (void)state;
    if (!srv_up) skip();
    mk_tee_http_response r;
    mk_error err;
    mk_error_clear(&err);
    uint64_t ms;
    /* One attempt (the default): a 429 is an HTTP error like any other. */
    mk_tee_http_opts one = {.insecure_http_ok = true};
    TU_ASSERT_RC(get(&one, "/limited/1?after=0&t=a", NULL, &r, NULL, &err), MK_ENETWORK, &err);
    TU_ASSERT_REASON(&err, "HTTP 429");
    /* Retry-After: 0, twice: three requests. */
    mk_tee_http_opts o = {.insecure_http_ok = true, .max_attempts = 4, .backoff_ms = 50};
    TU_ASSERT_RC(get(&o, "/limited/2?after=0", NULL, &r, &ms, &err), 0, &err);
    assert_int_equal(r.attempts, 3);
    assert_memory_equal(r.body.data, "done", 4);
    mk_tee_http_response_free(&r);
    /* Retry-After: 1 is waited for. */
    TU_ASSERT_RC(get(&o, "/limited/1?after=1", NULL, &r, &ms, &err), 0, &err);
    assert_int_equal(r.attempts, 2);
    assert_true(ms >= 900);
    mk_tee_http_response_free(&r);
    /* As an HTTP-date, with a 503. */
    TU_ASSERT_RC(get(&o, "/limited/1?after=date%2B1&code=503", NULL, &r, &ms, &err), 0, &err);
    assert_int_equal(r.attempts, 2);
    mk_tee_http_response_free(&r);
    /* No Retry-After: backoff 50 ms, then 100 ms. */
    TU_ASSERT_RC(get(&o, "/limited/2?after=none", NULL, &r, &ms, &err), 0, &err);
    assert_int_equal(r.attempts, 3);
    assert_true(ms >= 150);
    mk_tee_http_response_free(&r);
    /* Still limited on the last attempt. */
    TU_ASSERT_RC(get(&o, "/limited/9?after=0", NULL, &r, NULL, &err), MK_EBUSY, &err);
    TU_ASSERT_REASON(&err, "HTTP 429 (rate limited) after 4 attempts");
    /* A Retry-After beyond what this client waits: at once. */
    TU_ASSERT_RC(get(&o, "/limited/1?after=3600", NULL, &r, &ms, &err), MK_EBUSY, &err);
    TU_ASSERT_REASON(&err, "Retry-After 3600 s is longer than this client waits (30000 ms)");
    assert_true(ms < 2000);
    /* The budget of all waits. */
    mk_tee_http_opts tight = o;
    tight.retry_budget_ms = 1500;
    TU_ASSERT_RC(get(&tight, "/limited/5?after=1", NULL, &r, &ms, &err), MK_EBUSY, &err);
    TU_ASSERT_REASON(&err, "gave up after 2 attempts and 1000 ms of waiting");
    assert_true(ms < 2500);
}

static void test_retry_after_parse(void **state) {
    (void)state;
    int64_t s = -1;
    assert_true(mk_tee_retry_after("120", 0, &s));
    assert_int_equal(s, 120);
    assert_true(mk_tee_retry_after("0", 0, &s));
    assert_int_equal(s, 0);
    /* Wed, 21 Oct 2015 07:28:00 GMT = 1445412480. */
    assert_true(mk_tee_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412400, &s));
    assert_int_equal(s, 80);
    assert_true(mk_tee_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412500, &s));
    assert_int_equal(s, 0);
    assert_false(mk_tee_retry_after("", 0, &s));
    assert_false(mk_tee_retry_after(NULL, 0, &s));
    assert_false(mk_tee_retry_after("soon", 0, &s));
    assert_false(mk_tee_retry_after("-5", 0, &s));
    assert_false(mk_tee_retry_after("12345678901234", 0, &s));
}

/* ------------------------------------------------------------------ */
/* The disk cache                                                      */
/* ------------------------------------------------------------------ */

static void test_cache(void **state) {
    (void)state;
    char top[300], dir[400], path[500], target[500];
    snprintf(top, sizeof top, "%s/mk_cache_XXXXXX", MOSAIK_BINARY_DIR);
    assert_non_null(mkdtemp(top));
    snprintf(dir, sizeof dir, "%s/c", top);
    mk_error err;
    mk_error_clear(&err);
    mk_buf b = MK_BUF_INIT;
    /* Names cannot leave the directory. */
    const char *bad[] = {"", "../x", "a/b", ".hidden", "sp ace", NULL};
    for (int i = 0; bad[i]; i++)
        TU_ASSERT_RC(mk_tee_cache_write(dir, bad[i], "x", 1, &err), MK_EINVAL, &err);
    char longname[300];
    memset(longname, 'a', 201);
    longname[201] = 0;
    TU_ASSERT_RC(mk_tee_cache_path(dir, longname, path, sizeof path, &err), MK_EINVAL, &err);
    TU_ASSERT_RC(mk_tee_cache_path(NULL, "a", path, sizeof path, &err), MK_EINVAL, &err);
    TU_ASSERT_RC(mk_tee_cache_path(dir, "a", path, 4, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "cache path too long");
    /* Absent, then written (the directory made 0700), then read back. */
    TU_ASSERT_RC(mk_tee_cache_read(dir, "vcek-Milan.der", 100, &b, &err), MK_ENOTFOUND, &err);
    TU_ASSERT_RC(mk_tee_cache_write(dir, "vcek-Milan.der", "abcdef", 6, &err), 0, &err);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    TU_ASSERT_RC(mk_tee_cache_read(dir, "vcek-Milan.der", 100, &b, &err), 0, &err);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "abcdef", 6);
    /* Capped; a failed read leaves the buffer as it was. */
    TU_ASSERT_RC(mk_tee_cache_read(dir, "vcek-Milan.der", 5, &b, &err), MK_ETOOBIG, &err);
    assert_int_equal(b.len, 6);
    mk_buf_reset(&b);
    /* Replaced atomically: the new content, and no temporary file left. */
    TU_ASSERT_RC(mk_tee_cache_write(dir, "vcek-Milan.der", "xyz", 3, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_cache_read(dir, "vcek-Milan.der", 100, &b, &err), 0, &err);
    assert_memory_equal(b.data, "xyz", 3);
    mk_buf_reset(&b);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    /* A planted symlink is neither read nor written through. */
    snprintf(target, sizeof target, "%s/target", top);
    assert_int_equal(mk_file_write(target, "secret", 6, 0600, &err), 0);
    snprintf(path, sizeof path, "%s/link", dir);
    assert_int_equal(symlink(target, path), 0);
    TU_ASSERT_RC(mk_tee_cache_read(dir, "link", 100, &b, &err), MK_EIO, &err);
    assert_int_equal(b.len, 0);
    TU_ASSERT_RC(mk_tee_cache_write(dir, "link", "new", 3, &err), 0, &err);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    mk_buf t = MK_BUF_INIT;
    assert_int_equal(mk_file_read(target, 100, &t, &err), 0);
    assert_memory_equal(t.data, "secret", 6);
    mk_buf_free(&t);
    /* Removal. */
    mk_tee_cache_remove(dir, "vcek-Milan.der");
    TU_ASSERT_RC(mk_tee_cache_read(dir, "vcek-Milan.der", 100, &b, &err), MK_ENOTFOUND, &err);
    mk_buf_free(&b);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_rate_limited),
        cmocka_unit_test(test_retry_after_parse),
        cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
