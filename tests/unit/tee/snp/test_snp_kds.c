/*
 * tests/unit/tee/snp/test_snp_kds.c — the KDS client (kds.c) against a local
 * stand-in (kds_server.py; the real KDS is never contacted): URLs (the
 * published test vectors), VCEK / chain / CRL fetches, HTTP 429 with
 * Retry-After, the disk cache (hits, a corrupted entry, nothing cached
 * that fails its check), and a verifier that fetches what it was not given.
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "snp_forge_util.h"
#include "tee/snp/snp_internal.h"

#define T_2026_06 1780272000LL

static struct {
    pid_t pid;
    int port;
    char dir[256], base[128];
    bool up;
} srv;

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A CRL named like AMD's Milan ARK but signed by a key of the test's. */
static void write_forged_crl(const char *path) {
    EVP_PKEY *k = forge_rsa_key();
    X509 *ark = forge_cert("ARK-Milan", "ARK-Milan", k, k, true, NULL);
    mk_buf b;
    mk_buf_init(&b, 0);
    forge_crl(ark, k, NULL, 0, T_2026_06 - 86400, T_2026_06 + 86400, &b);
    assert_int_equal(mk_file_write(path, b.data, b.len, 0644, NULL), 0);
    mk_buf_free(&b);
    X509_free(ark);
    EVP_PKEY_free(k);
}

static int group_setup(void **state) {
    (void)state;
    snprintf(srv.dir, sizeof srv.dir, "/tmp/mk-kds-XXXXXX");
    assert_non_null(mkdtemp(srv.dir));
    char portfile[300], crl[300], script[512], td[512];
    snprintf(portfile, sizeof portfile, "%s/port", srv.dir);
    snprintf(crl, sizeof crl, "%s/forged.crl", srv.dir);
    snprintf(script, sizeof script, "%s/tests/unit/tee/snp/kds_server.py", MOSAIK_SOURCE_DIR);
    snprintf(td, sizeof td, "%s/snp", MOSAIK_TESTDATA);
    write_forged_crl(crl);
    srv.pid = fork();
    assert_true(srv.pid >= 0);
    if (srv.pid == 0) {
        execlp("python3", "python3", script, "--testdata", td, "--port-file", portfile,
               "--crl-file", crl, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600 && !srv.port; i++) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            if (fscanf(f, "%d", &srv.port) != 1) srv.port = 0;
            fclose(f);
        }
        int st;
        if (!srv.port && waitpid(srv.pid, &st, WNOHANG) == srv.pid) {
            srv.pid = 0;
            print_message("python3 not available: KDS tests skipped\n");
            return 0;
        }
        if (!srv.port) sleep_ms(50);
    }
    if (!srv.port) fail_msg("KDS stand-in did not start");
    snprintf(srv.base, sizeof srv.base, "http://127.0.0.1:%d", srv.port);
    srv.up = true;
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

#define NEED_SERVER()                                                                              \
    do {                                                                                           \
        if (!srv.up) skip();                                                                       \
    } while (0)

static mk_snp_fetch_opts opts(const char *prefix, const char *cache) {
    static char base[256];
    snprintf(base, sizeof base, "%s%s", srv.base, prefix);
    return (mk_snp_fetch_opts){.base_url = base,
                               .cache_dir = cache,
                               .timeout_ms = 5000,
                               .backoff_ms = 10,
                               .max_backoff_ms = 100,
                               .insecure_http_ok = true};
}

static long served(void) {
    mk_snp_fetch_opts o = opts("", NULL);
    mk_tee_http_opts ho = {.insecure_http_ok = true};
    mk_tee_http *h = NULL;
    assert_int_equal(mk_tee_http_new(&ho, &h, NULL), 0);
    char url[300];
    snprintf(url, sizeof url, "%s/__count", o.base_url);
    mk_tee_http_response r;
    memset(&r, 0, sizeof r);
    assert_int_equal(mk_tee_http_get(h, url, NULL, &r, NULL), 0);
    assert_int_equal(mk_buf_append_u8(&r.body, 0), 0);
    long n = strtol((const char *)r.body.data, NULL, 10);
    mk_tee_http_response_free(&r);
    mk_tee_http_free(h);
    return n;
}

static void report_of(const char *rel, mk_snp_report *rep, mk_buf *b) {
    mk_buf_init(b, 0);
    tu_read_testdata(rel, b);
    mk_error err;
    TU_ASSERT_RC(mk_snp_report_parse(b->data, b->len, rep, &err), 0, &err);
}

static void test_urls(void **state) {
    (void)state;
    mk_buf b;
    mk_snp_report rep;
    report_of("snp/virtee-milan/report.bin", &rep, &b);
    mk_snp_tcb t;
    mk_snp_tcb_decode(rep.reported_tcb, MK_SNP_MILAN, &t);
    char url[512];
    assert_int_equal(mk_snp_vcek_url(NULL, MK_SNP_MILAN, rep.chip_id, &t, url, sizeof url), 0);
    assert_string_equal(url, "https://kdsintf.amd.com/vcek/v1/Milan/"
                             "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7"
                             "af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6"
                             "?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115");
    mk_buf_free(&b);
    report_of("snp/ms-genoa/report.bin", &rep, &b);
    mk_snp_tcb_decode(rep.reported_tcb, MK_SNP_GENOA, &t);
    assert_int_equal(
        mk_snp_vcek_url("https://kds.example/", MK_SNP_GENOA, rep.chip_id, &t, url, sizeof url), 0);
    assert_string_equal(url, "https://kds.example/vcek/v1/Genoa/"
                             "b1e24a27bbc3a4d58090d8b89851dce3b8031544be249b9ac17132bb222b0276223"
                             "47ee4d0fe4f689efdfc47a68cefc686cbb448d01436506ee1e28010cab7c0"
                             "?blSPL=10&teeSPL=00&snpSPL=23&ucodeSPL=84");
    mk_buf_free(&b);
    /* Turin: 8-byte hwid, fmcSPL first (the Turin VCEK's own values). */
    uint8_t chip[64] = {0x1e, 0x55, 0x0a, 0x8e, 0xe5, 0xcf, 0x9f, 0x4d};
    mk_snp_tcb tt = {.fmc = 0, .bootloader = 0, .tee = 0, .snp = 0, .microcode = 9};
    assert_int_equal(mk_snp_vcek_url(NULL, MK_SNP_TURIN, chip, &tt, url, sizeof url), 0);
    assert_string_equal(url, "https://kdsintf.amd.com/vcek/v1/Turin/1e550a8ee5cf9f4d"
                             "?fmcSPL=00&blSPL=00&teeSPL=00&snpSPL=00&ucodeSPL=09");
    assert_int_equal(mk_snp_vcek_url(NULL, MK_SNP_TURIN, chip, &tt, url, 20), MK_ETOOBIG);
    assert_int_equal(mk_snp_vcek_url(NULL, MK_SNP_PRODUCT_UNKNOWN, chip, &tt, url, sizeof url),
                     MK_EINVAL);
}

static void test_fetch_and_cache(void **state) {
    (void)state;
    NEED_SERVER();
    char cache[300];
    snprintf(cache, sizeof cache, "%s/cache1", srv.dir);
    mk_snp_fetch_opts o = opts("", cache);
    mk_buf b, got, want;
    mk_snp_report rep;
    report_of("snp/virtee-milan/report.bin", &rep, &b);
    mk_buf_init(&want, 0);
    tu_read_testdata("snp/virtee-milan/vcek.der", &want);
    mk_snp_tcb t;
    mk_snp_tcb_decode(rep.reported_tcb, MK_SNP_MILAN, &t);
    mk_buf_init(&got, 0);
    mk_error err;
    long n0 = served();
    TU_ASSERT_RC(mk_snp_fetch_vcek(&o, MK_SNP_MILAN, rep.chip_id, &t, &got, &err), 0, &err);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, want.len);
    assert_int_equal(served(), n0 + 1);
    /* From the cache: no request. */
    TU_ASSERT_RC(mk_snp_fetch_vcek(&o, MK_SNP_MILAN, rep.chip_id, &t, &got, &err), 0, &err);
    assert_int_equal(got.len, want.len);
    assert_int_equal(served(), n0 + 1);
    /* A corrupted entry is removed and fetched again. */
    char name[400], path[800];
    char hex[129];
    mk_hex_encode(rep.chip_id, 64, hex);
    snprintf(name, sizeof name, "snp-vcek-Milan-%s-%016llx.der", hex,
             (unsigned long long)rep.reported_tcb);
    snprintf(path, sizeof path, "%s/%s", cache, name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(mk_file_write(path, "junk", 4, 0644, NULL), 0);
    TU_ASSERT_RC(mk_snp_fetch_vcek(&o, MK_SNP_MILAN, rep.chip_id, &t, &got, &err), 0, &err);
    assert_memory_equal(got.data, want.data, want.len);
    assert_int_equal(served(), n0 + 2);
    /* Another TCB: the KDS knows none. */
    mk_snp_tcb t2 = t;
    t2.microcode = 116;
    assert_int_equal(mk_snp_fetch_vcek(&o, MK_SNP_MILAN, rep.chip_id, &t2, &got, &err),
                     MK_ENOTFOUND);
    TU_ASSERT_REASON(&err, "HTTP 404");
    mk_buf_free(&got);
    mk_buf_free(&want);
    mk_buf_free(&b);
}

static void test_throttled(void **state) {
    (void)state;
    NEED_SERVER();
    mk_snp_fetch_opts o = opts("/throttle2", NULL);
    mk_buf b, got;
    mk_snp_report rep;
    report_of("snp/ms-genoa/report.bin", &rep, &b);
    mk_snp_tcb t;
    mk_snp_tcb_decode(rep.reported_tcb, MK_SNP_GENOA, &t);
    mk_buf_init(&got, 0);
    mk_error err;
    TU_ASSERT_RC(mk_snp_fetch_vcek(&o, MK_SNP_GENOA, rep.chip_id, &t, &got, &err), 0, &err);
    mk_snp_cert_info ci;
    TU_ASSERT_RC(mk_snp_cert_info_read(got.data, got.len, &ci, &err), 0, &err);
    assert_int_equal(ci.product, MK_SNP_GENOA);
    /* Fewer attempts than the server throttles: refused as busy. */
    o = opts("/throttle5", NULL);
    o.max_attempts = 2;
    assert_int_equal(mk_snp_fetch_vcek(&o, MK_SNP_GENOA, rep.chip_id, &t, &got, &err), MK_EBUSY);
    TU_ASSERT_REASON(&err, "429");
    mk_buf_free(&got);
    mk_buf_free(&b);
}

static void test_lying_server(void **state) {
    (void)state;
    NEED_SERVER();
    char cache[300];
    snprintf(cache, sizeof cache, "%s/cache2", srv.dir);
    mk_snp_fetch_opts o = opts("/wrong", cache);
    mk_buf b, got;
    mk_snp_report rep;
    report_of("snp/virtee-milan/report.bin", &rep, &b);
    mk_snp_tcb t;
    mk_snp_tcb_decode(rep.reported_tcb, MK_SNP_MILAN, &t);
    mk_buf_init(&got, 0);
    mk_error err;
    assert_int_equal(mk_snp_fetch_vcek(&o, MK_SNP_MILAN, rep.chip_id, &t, &got, &err),
                     MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "not the VCEK of the chip asked for");
    assert_int_equal(mk_snp_fetch_chain(&o, MK_SNP_MILAN, MK_SNP_KEY_VCEK, &got, &err),
                     MK_EUNTRUSTED);
    TU_ASSERT_REASON(&err, "chain does not end in AMD's pinned ARK-Milan");
    /* Nothing was cached. */
    struct stat st;
    assert_true(stat(cache, &st) != 0 || st.st_nlink == 2);
    /* The honest chain and the CRL (forged: refused before it is used). */
    o = opts("", cache);
    TU_ASSERT_RC(mk_snp_fetch_chain(&o, MK_SNP_MILAN, MK_SNP_KEY_VLEK, &got, &err), 0, &err);
    mk_snp_cert_list l = {0};
    TU_ASSERT_RC(mk_snp_certs_read(got.data, got.len, &l, &err), 0, &err);
    assert_int_equal(l.n, 2);
    assert_true(mk_tee_same_der(l.cert[0], mk_snp_amd_cert_x509(MK_SNP_MILAN, MK_SNP_CA_ASVK)));
    mk_snp_cert_list_free(&l);
    assert_int_equal(mk_snp_fetch_crl(&o, MK_SNP_MILAN, MK_SNP_KEY_VCEK, T_2026_06, &got, &err),
                     MK_EBADSIG);
    TU_ASSERT_REASON(&err, "/vcek/v1/Milan/crl: ");
    mk_buf_free(&got);
    mk_buf_free(&b);
}

/* A verifier with a fetcher and no certificates: it fetches the VCEK (for
 * a v2 report Milan first, then Genoa), and the CRL when asked to. */
static void test_verifier_fetches(void **state) {
    (void)state;
    NEED_SERVER();
    mk_snp_fetch_opts o = opts("", NULL);
    mk_snp_verifier_config cfg;
    mk_snp_verifier_config_init(&cfg);
    cfg.fetch = &o;
    mk_snp_verifier *v = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_snp_verifier_new(&cfg, &v, &err), 0, &err);
    static const char *const reports[] = {"snp/virtee-milan/report.bin", "snp/ms-genoa/report.bin"};
    for (int i = 0; i < 2; i++) {
        mk_buf b;
        mk_buf_init(&b, 0);
        tu_read_testdata(reports[i], &b);
        mk_snp_result r;
        TU_ASSERT_RC(mk_snp_verify(v, b.data, b.len, NULL, T_2026_06, &r, &err), 0, &err);
        assert_int_equal(r.product, i ? MK_SNP_GENOA : MK_SNP_MILAN);
        assert_false(r.crl_checked);
        /* With the CRL: the stand-in's is forged (named like ARK-Milan's),
         * so the report is refused. */
        o.fetch_crl = true;
        assert_int_equal(mk_snp_verifier_set_fetch(v, &o), 0);
        TU_ASSERT_RC(mk_snp_verify(v, b.data, b.len, NULL, T_2026_06, &r, &err),
                     i ? MK_EMISMATCH : MK_EBADSIG, &err);
        TU_ASSERT_REASON(&err, "CRL: fetch: GET ");
        TU_ASSERT_REASON(&err, i ? "CRL issued by 'ARK-Milan' is not from 'ARK-Genoa'"
                                 : "signature of the CRL of 'ARK-Milan' does not verify");
        o.fetch_crl = false;
        assert_int_equal(mk_snp_verifier_set_fetch(v, &o), 0);
        mk_buf_free(&b);
    }
    /* A chip the KDS does not know. */
    mk_buf b;
    mk_buf_init(&b, 0);
    tu_read_testdata("snp/gsg-milan-debug/report.bin", &b);
    assert_int_equal(mk_snp_verify(v, b.data, b.len, NULL, T_2026_06, NULL, &err), MK_ENOTFOUND);
    TU_ASSERT_REASON(&err, "certificate: VCEK fetch: GET ");
    TU_ASSERT_REASON(&err, "/vcek/v1/Genoa/3ac3fe21");
    mk_buf_free(&b);
    assert_int_equal(mk_snp_verifier_set_fetch(v, NULL), 0);
    mk_snp_verifier_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_fetch_and_cache),
        cmocka_unit_test(test_throttled),
        cmocka_unit_test(test_lying_server),
        cmocka_unit_test(test_verifier_fetches),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
