/*
 * Collateral fetching against a local stand-in for Intel PCS
 * (tests/unit/tee/tdx/pcs_server.py on 127.0.0.1, an ephemeral port), serving
 * the real phala-v4 collateral with URL-encoded issuer-chain headers: fetch,
 * verify at the phala time, disk cache hits (the server counts requests),
 * a corrupted cache file is refetched, https-only, size cap, timeout, 404.
 */
#include "test_util.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <curl/curl.h>

#include "tee/tdx/tdx_internal.h"

#define PHALA_T 1752919234

static const uint8_t FMSPC[6] = {0xb0, 0xc0, 0x6f, 0, 0, 0};

typedef struct server {
    pid_t pid;
    int port;
    char dir[256];
    char base[128];
} server;

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Returns false (and the tests are skipped) when python3 is not installed
 * (the exec fails: status 127); any other early exit of the server fails. */
static bool server_start(server *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/mk-fetch-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    char portfile[300], script[512], coll[512];
    snprintf(portfile, sizeof portfile, "%s/port", s->dir);
    snprintf(script, sizeof script, "%s/tests/unit/tee/tdx/pcs_server.py", MOSAIK_SOURCE_DIR);
    snprintf(coll, sizeof coll, "%s/tdx/phala-v4/collateral.json", MOSAIK_TESTDATA);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        execlp("python3", "python3", script, "--collateral", coll, "--port-file", portfile,
               (char *)NULL);
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
            if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return false; /* no python3 */
            fail_msg("PCS test server exited before it listened (status 0x%x)", status);
        }
        if (!s->port) sleep_ms(50);
    }
    if (!s->port) fail_msg("PCS test server did not start");
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    return true;
}

static void server_stop(server *s) {
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static void rm_dir(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) print_error("could not remove %s\n", dir);
}

/* Collateral requests the server has answered. */
static long server_count(const server *s) {
    char url[200];
    snprintf(url, sizeof url, "%s/__count", s->base);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    FILE *f = tmpfile(); /* libcurl's default writer: fwrite */
    assert_non_null(f);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_cleanup(h);
    rewind(f);
    long n = -1;
    if (fscanf(f, "%ld", &n) != 1) n = -1;
    fclose(f);
    return n;
}

static int fetch(const server *s, const char *base, const char *cache, long timeout_ms,
                 bool http_ok, mk_tdx_pck_ca ca, int64_t now, mk_tdx_collateral **out,
                 mk_error *err) {
    mk_tdx_fetch_opts o;
    memset(&o, 0, sizeof o);
    char b[256];
    snprintf(b, sizeof b, "%s%s", s->base, base ? base : "");
    o.base_url = b;
    o.cache_dir = cache;
    o.timeout_ms = timeout_ms;
    o.insecure_http_ok = http_ok;
    *out = NULL;
    return mk_tdx_collateral_fetch(&o, FMSPC, ca, now, out, err);
}

static void verify_ok(mk_tdx_collateral *c) {
    mk_tee_trust *t = mk_tdx_trust_new();
    mk_error err;
    mk_error_clear(&err);
    int64_t until = 0;
    TU_ASSERT_RC(mk_tdx_collateral_verify(c, t, PHALA_T, &until, NULL, &err), 0, &err);
    assert_int_equal(until, PHALA_T + 1);
    mk_tee_trust_free(t);
}

static server srv;
static bool srv_up;

static int group_setup(void **state) {
    (void)state;
    srv_up = server_start(&srv);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    server_stop(&srv);
    if (srv.dir[0]) rm_dir(srv.dir);
    return 0;
}

/* Runs last: it stops the server. */
static void fetch_and_cache(void **state) {
    (void)state;
    if (!srv_up) TU_SKIP("python3 is not installed (scripts/deps.sh test installs it)");
    server s = srv;
    long base = server_count(&s);
    char cache[300];
    snprintf(cache, sizeof cache, "%s/cache", s.dir); /* created by the fetcher */
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_collateral *c;

    TU_ASSERT_RC(fetch(&s, NULL, cache, 0, true, MK_TDX_CA_PLATFORM, PHALA_T, &c, &err), 0, &err);
    verify_ok(c);
    mk_tdx_collateral_free(c);
    assert_int_equal(server_count(&s), base + 4);

    /* Second fetch: from the cache, no request. */
    TU_ASSERT_RC(fetch(&s, NULL, cache, 0, true, MK_TDX_CA_PLATFORM, PHALA_T, &c, &err), 0, &err);
    verify_ok(c);
    mk_tdx_collateral_free(c);
    assert_int_equal(server_count(&s), base + 4);

    /* A corrupted cache file is ignored and replaced. */
    char path[400];
    snprintf(path, sizeof path, "%s/tdx-collateral-B0C06F000000-platform.json", cache);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(mk_file_write(path, "{\"tcb_info\":", 12, 0644, &err), 0);
    TU_ASSERT_RC(fetch(&s, NULL, cache, 0, true, MK_TDX_CA_PLATFORM, PHALA_T, &c, &err), 0, &err);
    verify_ok(c);
    mk_tdx_collateral_free(c);
    assert_int_equal(server_count(&s), base + 8);

    /* Past its nextUpdate the cache is not used. */
    TU_ASSERT_RC(fetch(&s, NULL, cache, 0, true, MK_TDX_CA_PLATFORM, PHALA_T + 5, &c, &err), 0,
                 &err);
    mk_tdx_collateral_free(c);
    assert_int_equal(server_count(&s), base + 12);

    /* Server gone: the cache still answers inside the window... */
    server_stop(&srv);
    TU_ASSERT_RC(fetch(&s, NULL, cache, 0, true, MK_TDX_CA_PLATFORM, PHALA_T, &c, &err), 0, &err);
    verify_ok(c);
    mk_tdx_collateral_free(c);
    /* ...but without a cache it is a network error. */
    TU_ASSERT_RC(fetch(&s, NULL, NULL, 2000, true, MK_TDX_CA_PLATFORM, PHALA_T, &c, &err),
                 MK_ENETWORK, &err);
    assert_null(c);
}

static void fetch_refusals(void **state) {
    (void)state;
    if (!srv_up) TU_SKIP("python3 is not installed (scripts/deps.sh test installs it)");
    server s = srv;
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_collateral *c;

    /* https only unless told otherwise. */
    TU_ASSERT_RC(fetch(&s, NULL, NULL, 0, false, MK_TDX_CA_PLATFORM, PHALA_T, &c, &err), MK_EPOLICY,
                 &err);
    TU_ASSERT_REASON(&err, "https");
    /* Responses beyond the cap abort the transfer. */
    TU_ASSERT_RC(fetch(&s, "/big", NULL, 0, true, MK_TDX_CA_PLATFORM, PHALA_T, &c, &err),
                 MK_ETOOBIG, &err);
    /* 404: no PCK CRL for the processor CA here. */
    TU_ASSERT_RC(fetch(&s, NULL, NULL, 0, true, MK_TDX_CA_PROCESSOR, PHALA_T, &c, &err),
                 MK_ENOTFOUND, &err);
    TU_ASSERT_REASON(&err, "ca=processor");
    /* Timeout. */
    TU_ASSERT_RC(fetch(&s, "/slow", NULL, 300, true, MK_TDX_CA_PLATFORM, PHALA_T, &c, &err),
                 MK_ETIMEDOUT, &err);
    assert_null(c);
    /* A wrong FMSPC in the TCB info: 404 from the server, nothing cached. */
    mk_tdx_fetch_opts o;
    memset(&o, 0, sizeof o);
    o.base_url = s.base;
    o.insecure_http_ok = true;
    const uint8_t other[6] = {0x90, 0xc0, 0x6f, 0, 0, 0};
    TU_ASSERT_RC(mk_tdx_collateral_fetch(&o, other, MK_TDX_CA_PLATFORM, PHALA_T, &c, &err),
                 MK_ENOTFOUND, &err);
    TU_ASSERT_REASON(&err, "fmspc=90C06F000000");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fetch_refusals),
        cmocka_unit_test(fetch_and_cache),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
