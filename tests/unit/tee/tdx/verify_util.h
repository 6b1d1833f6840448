/*
 * verify_util.h — what the tests split out of test_verify.c share: the helpers and
 * fixtures below, and the top comment of the original file:
 *
 * tests/unit/tee/tdx/test_verify.c — the verifier (verify.c): outcomes on the
 * real quotes, forgery-style mutations, a forged Intel-named root, the
 * simulator's chain, policy checks, full collateral, warm verification.
 */
#ifndef MOSAIK_TESTS_VERIFY_UTIL_H
#define MOSAIK_TESTS_VERIFY_UTIL_H
#include "test_util.h"

#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/ossl.h"
#include "mosaik/tdx_provider.h"
#include "tee/tdx/tdx_internal.h"

#define T_PHALA 1752919234LL     /* 2025-07-19T10:00:34Z */
#define T_GOOGLE_V5 1770076800LL /* 2026-02-03 */
#define T_SPR 1688169600LL       /* 2023-07-01 */
#define T_2053 2634940800LL      /* 2053-07-01 */

static inline void load(const char *rel, mk_buf *b) {
    mk_buf_init(b, 0);
    tu_read_testdata(rel, b);
}

static inline mk_tdx_verifier *chain_only_verifier(void) {
    mk_tdx_verifier *v = NULL;
    assert_int_equal(mk_tdx_verifier_new(NULL, &v, NULL), 0);
    assert_non_null(v);
    mk_tdx_policy p;
    mk_tdx_policy_default(&p);
    p.chain_only = true;
    mk_tdx_verifier_set_policy(v, &p);
    return v;
}

/* ------------------------------------------------------------------ */
/* Outcomes on the real quotes                                         */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* Forgery-style mutations                                             */
/* ------------------------------------------------------------------ */

/* phala-v4 offsets: signature data at 636, QE report certification data at
 * 770: QE report [770,1154), QE signature [1154,1218), auth size 1218, auth
 * data [1220,1252). */
static inline void flip_region(mk_tdx_verifier *v, const mk_buf *b, size_t from, size_t to,
                               const char *want, const char *alt) {
    uint8_t *c = malloc(b->len);
    assert_non_null(c);
    for (size_t i = from; i < to; i++) {
        memcpy(c, b->data, b->len);
        c[i] ^= (uint8_t)(1u << (i % 8));
        mk_error err;
        mk_tdx_result r;
        int rc = mk_tdx_verify(v, c, b->len, NULL, T_PHALA, &r, &err);
        if (rc == 0) fail_msg("bit flip at byte %zu accepted", i);
        if (strncmp(err.msg, want, strlen(want)) != 0 &&
            !(alt && strncmp(err.msg, alt, strlen(alt)) == 0))
            fail_msg("bit flip at byte %zu: reason \"%s\" does not start with \"%s\"", i, err.msg,
                     want);
    }
    free(c);
}

/* ---- a forged PKI with Intel's names, spliced into phala-v4 ---- */

static inline X509 *chain_cert(const mk_buf *b, int n) {
    const char *tag = "-----BEGIN CERTIFICATE-----";
    const uint8_t *p = NULL;
    for (size_t i = 0; i + 27 < b->len && !p; i++)
        if (memcmp(b->data + i, tag, 27) == 0) p = b->data + i;
    assert_non_null(p);
    BIO *bio = BIO_new_mem_buf(p, (int)(b->data + b->len - p));
    X509 *x = NULL;
    for (int i = 0; i <= n; i++) {
        X509_free(x);
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        assert_non_null(x);
    }
    BIO_free(bio);
    return x;
}

static inline X509 *make_cert(const X509_NAME *subject, EVP_PKEY *key, X509 *issuer,
                              EVP_PKEY *issuer_key, bool ca, long serial, X509_EXTENSION *extra) {
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_set_subject_name(x, subject);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject);
    ASN1_TIME_set(X509_getm_notBefore(x), 1600000000);
    ASN1_TIME_set(X509_getm_notAfter(x), 2500000000LL);
    X509_set_pubkey(x, key);
    X509V3_CTX c;
    X509V3_set_ctx(&c, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &c, NID_basic_constraints,
                                             ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    X509_add_ext(x, bc, -1);
    X509_EXTENSION_free(bc);
    if (extra) X509_add_ext(x, extra, -1);
    assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
    return x;
}

typedef struct forged {
    EVP_PKEY *root_key, *ca_key, *leaf_key;
    X509 *root, *ca, *leaf;
    mk_buf quote;
} forged;

/* Forge root "Intel SGX Root CA" (same subject), "Intel SGX PCK Platform CA"
 * and a PCK leaf with the real SGX extension; re-sign the QE report with the
 * forged leaf key and splice the chain into a copy of phala-v4, fixing the
 * three enclosing sizes. Everything but the chain's root is then valid. */
static inline void forge(forged *f) {
    memset(f, 0, sizeof *f);
    mk_buf b;
    load("tdx/phala-v4/quote.bin", &b);
    X509 *real_leaf = chain_cert(&b, 0), *real_ca = chain_cert(&b, 1),
         *real_root = chain_cert(&b, 2);
    f->root_key = EVP_EC_gen("P-256");
    f->ca_key = EVP_EC_gen("P-256");
    f->leaf_key = EVP_EC_gen("P-256");
    f->root =
        make_cert(X509_get_subject_name(real_root), f->root_key, NULL, f->root_key, true, 1, NULL);
    f->ca =
        make_cert(X509_get_subject_name(real_ca), f->ca_key, f->root, f->root_key, true, 2, NULL);
    ASN1_OBJECT *sgx = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    int idx = X509_get_ext_by_OBJ(real_leaf, sgx, -1);
    ASN1_OBJECT_free(sgx);
    assert_true(idx >= 0);
    f->leaf = make_cert(X509_get_subject_name(real_leaf), f->leaf_key, f->ca, f->ca_key, false, 3,
                        X509_get_ext(real_leaf, idx));
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, f->leaf);
    PEM_write_bio_X509(bio, f->ca);
    PEM_write_bio_X509(bio, f->root);
    char *pem = NULL;
    long pl = BIO_get_mem_data(bio, &pem);

    /* QE report signature by the forged leaf key. */
    uint8_t sig_der[80];
    size_t sl = sizeof sig_der;
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(mc, NULL, EVP_sha256(), NULL, f->leaf_key), 1);
    assert_int_equal(EVP_DigestSign(mc, sig_der, &sl, b.data + 770, 384), 1);
    EVP_MD_CTX_free(mc);
    uint8_t raw[64];
    assert_int_equal(mk_ecdsa_sig_der_to_raw(sig_der, sl, 32, raw), 0);

    size_t m = (size_t)pl + 1; /* with a NUL */
    size_t n = 384 + 64 + 2 + 32 + 6 + m;
    mk_buf_init(&f->quote, 0);
    mk_buf_append(&f->quote, b.data, 632);
    mk_buf_append_u32le(&f->quote, (uint32_t)(134 + n));
    mk_buf_append(&f->quote, b.data + 636, 128 + 2);
    mk_buf_append_u32le(&f->quote, (uint32_t)n);
    mk_buf_append(&f->quote, b.data + 770, 384);
    mk_buf_append(&f->quote, raw, 64);
    mk_buf_append(&f->quote, b.data + 1218, 2 + 32 + 2);
    mk_buf_append_u32le(&f->quote, (uint32_t)m);
    mk_buf_append(&f->quote, pem, (size_t)pl);
    mk_buf_append_u8(&f->quote, 0);
    BIO_free(bio);
    X509_free(real_leaf);
    X509_free(real_ca);
    X509_free(real_root);
    mk_buf_free(&b);
}

static inline void forged_free(forged *f) {
    X509_free(f->root);
    X509_free(f->ca);
    X509_free(f->leaf);
    EVP_PKEY_free(f->root_key);
    EVP_PKEY_free(f->ca_key);
    EVP_PKEY_free(f->leaf_key);
    mk_buf_free(&f->quote);
}

/* ------------------------------------------------------------------ */
/* The simulator and the TD policy                                     */
/* ------------------------------------------------------------------ */

static inline int64_t sim_now(void) {
    return T_PHALA;
}

static inline void sim_quote(mk_tdx_sim *sim, const mk_tdx_sim_td *td, mk_buf *out) {
    uint8_t rd[64] = {1, 2, 3};
    mk_error err;
    mk_buf_init(out, 0);
    TU_ASSERT_RC(mk_tdx_sim_quote(sim, td, rd, out, &err), 0, &err);
}

/* ------------------------------------------------------------------ */
/* Full collateral on real data                                        */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* Names, warm cost                                                    */
/* ------------------------------------------------------------------ */

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Concurrent warm and cold verifications on one verifier (run under
 * ASan/TSan to catch races in the caches). */
typedef struct thr_arg {
    mk_tdx_verifier *v;
    const mk_buf *quotes[2];
    int64_t times[2];
    int failures;
} thr_arg;

static inline void *thr_main(void *p) {
    thr_arg *a = p;
    for (int i = 0; i < 60; i++) {
        int k = i % 2;
        mk_error err;
        if (mk_tdx_verify(a->v, a->quotes[k]->data, a->quotes[k]->len, NULL, a->times[k], NULL,
                          &err) != 0)
            a->failures++;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Fetched collateral is verified before it is cached (M4)             */
/* ------------------------------------------------------------------ */

typedef struct pcs {
    pid_t pid;
    int port;
    char base[128];
} pcs;

static inline void nap_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* tests/unit/tee/tdx/pcs_server.py serving `coll`; false when python3 is not installed (the exec
 * fails: status 127); any other early exit of the server fails the test. */
static inline bool pcs_start(pcs *s, const char *coll, const char *dir) {
    memset(s, 0, sizeof *s);
    char portfile[400], script[512];
    snprintf(portfile, sizeof portfile, "%s/port", dir);
    unlink(portfile);
    snprintf(script, sizeof script, "%s/tests/unit/tee/tdx/pcs_server.py", MOSAIK_SOURCE_DIR);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        /* Dies with the test (also when an assertion fails before
         * pcs_stop), and does not hold the test's output open. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 1), dup2(null, 2);
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
        if (!s->port) nap_ms(50);
    }
    if (!s->port) fail_msg("PCS test server did not start");
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    return true;
}

static inline void pcs_stop(pcs *s) {
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static inline long pcs_count(const pcs *s) {
    char url[200];
    snprintf(url, sizeof url, "%s/__count", s->base);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    FILE *f = tmpfile();
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

static inline mk_tdx_verifier *fetching_verifier(const pcs *s, const char *cache) {
    mk_tdx_verifier *v = NULL;
    assert_int_equal(mk_tdx_verifier_new(NULL, &v, NULL), 0);
    assert_non_null(v);
    mk_tdx_fetch_opts o = {.base_url = s->base, .cache_dir = cache, .insecure_http_ok = true};
    assert_int_equal(mk_tdx_verifier_set_fetch(v, &o), 0);
    return v;
}

#endif
