/*
 * bench/bench_tdx_verify.c — cost of verifying a TDX quote, each figure
 * beside the ECDSA floor of the same work, measured in the same run.
 *
 * On the real v4 quote and collateral (../shared/testdata/tdx/phala-v4) at
 * its verification time, in microseconds per verification:
 *
 *   full (cold)  a new verifier and freshly parsed collateral each time:
 *                every certificate, CRL and JSON document is parsed and
 *                every chain, collateral signature, CRL and TCB level is
 *                checked (only the pinned Intel root is parsed once per
 *                process);
 *   warm         one verifier and one collateral object reused: the
 *                collateral and the PCK chain were verified once and are
 *                cached, so each call parses the quote, checks its two
 *                signatures, the QE binding, the TCB level and the policy;
 *   ecdsa_floor  the ECDSA work no verifier can skip for a known peer:
 *                importing the quote's attestation key and verifying the
 *                quote signature with it, and verifying the QE report
 *                signature with the PCK key, directly with OpenSSL (EVP);
 *   cold_floor   the ECDSA work of a cold check, directly with OpenSSL on
 *                the same bytes and pre-parsed objects: the attestation key
 *                import, the quote and QE report signatures, the PCK leaf's
 *                and the PCK CA's certificate signatures, the TCB signing
 *                certificate's, the TCB info and QE identity signatures, and
 *                the PCK and root CA CRLs' signatures (9 verifications).
 *
 * A new peer on a known platform (simulator PKI, since only a CA key can
 * make new PCK certificates): one verifier whose collateral and PCK CA are
 * already verified and cached verifies quotes that each carry a PCK
 * certificate (a new key) it has not seen, under the same PCK CA:
 *
 *   new_peer        per such quote;
 *   new_peer_floor  its ECDSA work directly with OpenSSL: the attestation key
 *                   import, the quote signature, the PCK key import (raw
 *                   point), the QE report signature, and the PCK
 *                   certificate's signature by the CA key (3 verifications).
 *
 * Each figure and its floor are measured in turns, ROUNDS rounds, and the
 * medians are printed (of each and of the per-round ratios), so that load
 * from other jobs on the machine moves both alike.
 *
 * bench/run.sh prints these beside @phala/dcap-qvl-web on the same inputs.
 *
 * usage: bench_tdx_verify TESTDATA_DIR [ITERATIONS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <mosaik/mosaik.h>

#include "crypto/ossl.h"
#include "mosaik/clock.h"
#include "tee/tdx/collateral_impl_internal.h"
#include "tee/tdx/sim_internal.h"

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what, const mk_error *err) {
    fprintf(stderr, "bench_tdx_verify: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

/* The certificates of PEM text, leaf first (at most 3). */
static size_t read_chain(const char *pem, size_t len, X509 **out) {
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    size_t n = 0;
    while (n < 3 && (out[n] = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        n++;
    BIO_free(bio);
    return n;
}

/* The quote's two signatures (and the attestation key import), the floor
 * every verification pays. */
static void quote_ecdsa(const mk_tdx_quote *q, EVP_PKEY *pck) {
    mk_error err;
    mk_pubkey *ak = NULL, *pk = NULL;
    if (mk_pubkey_from_ec(MK_P256, q->attestation_key, 64, &ak, &err) < 0) die("ak", &err);
    if (mk_ecdsa_verify_raw(ak, MK_SHA256, q->signed_data, q->signed_len, q->signature, 64, &err) <
        0)
        die("quote signature", &err);
    if (mk_pubkey_from_evp(pck, &pk) < 0) die("PCK key", NULL);
    if (mk_ecdsa_verify_raw(pk, MK_SHA256, q->qe_report_raw, 384, q->qe_report_signature, 64,
                            &err) < 0)
        die("QE signature", &err);
    mk_pubkey_free(pk);
    mk_pubkey_free(ak);
}

static void verify_doc_sig(EVP_PKEY *key, const char *text, size_t len, const uint8_t sig[64]) {
    mk_error err;
    mk_pubkey *k = NULL;
    if (mk_pubkey_from_evp(key, &k) < 0) die("signer key", NULL);
    if (mk_ecdsa_verify_raw(k, MK_SHA256, text, len, sig, 64, &err) < 0) die("doc", &err);
    mk_pubkey_free(k);
}

/* The real quote and collateral, parsed once for the floors. */
typedef struct real {
    mk_tdx_quote q;
    X509 *pck[3], *tcb[3];
    mk_tdx_collateral *c;
} real;

static void real_load(const mk_buf *quote, const mk_buf *coll, real *r) {
    mk_error err;
    memset(r, 0, sizeof *r);
    if (mk_tdx_quote_parse(quote->data, quote->len, &r->q, &err) < 0) die("parse", &err);
    if (read_chain((const char *)r->q.pck_chain_pem, r->q.pck_chain_len, r->pck) != 3)
        die("chain", NULL);
    if (mk_tdx_collateral_from_bundle((const char *)coll->data, coll->len, &r->c, &err) < 0)
        die("collateral parse", &err);
    if (read_chain(r->c->tcb_chain, strlen(r->c->tcb_chain), r->tcb) < 1) die("TCB chain", NULL);
}

static void real_free(real *r) {
    for (int i = 0; i < 3; i++) {
        X509_free(r->pck[i]);
        X509_free(r->tcb[i]);
    }
    mk_tdx_collateral_free(r->c);
}

/* The known-peer floor, per verification. */
static double floor_block(const real *r, int n) {
    double t0 = now_us();
    for (int i = 0; i < n; i++)
        quote_ecdsa(&r->q, X509_get0_pubkey(r->pck[0]));
    return (now_us() - t0) / n;
}

/* The cold floor, per verification. */
static double cold_floor_block(const real *r, int n) {
    EVP_PKEY *leaf_key = X509_get0_pubkey(r->pck[0]), *ca_key = X509_get0_pubkey(r->pck[1]),
             *root_key = X509_get0_pubkey(r->pck[2]), *tcb_key = X509_get0_pubkey(r->tcb[0]);
    const mk_tdx_collateral *c = r->c;
    double t0 = now_us();
    for (int i = 0; i < n; i++) {
        quote_ecdsa(&r->q, leaf_key);
        if (X509_verify(r->pck[0], ca_key) != 1 || X509_verify(r->pck[1], root_key) != 1 ||
            X509_verify(r->tcb[0], root_key) != 1)
            die("certificate signature", NULL);
        verify_doc_sig(tcb_key, c->tcb_text, c->tcb_len, c->tcb_sig);
        verify_doc_sig(tcb_key, c->qe_text, c->qe_len, c->qe_sig);
        if (X509_CRL_verify(c->pck_crl, ca_key) != 1 || X509_CRL_verify(c->root_crl, root_key) != 1)
            die("CRL signature", NULL);
    }
    return (now_us() - t0) / n;
}

/* Medians of ours, the floor and ours/floor over rounds. */
#define ROUNDS 7

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

typedef struct pair {
    double ours[ROUNDS], floor[ROUNDS], ratio[ROUNDS];
} pair;

static void pair_set(pair *p, int i, double ours, double floor_us) {
    p->ours[i] = ours;
    p->floor[i] = floor_us;
    p->ratio[i] = ours / floor_us;
}

static void pair_print(pair *p, const char *ours, const char *floor_name, const char *ratio) {
    printf("%s: %.1f us\n", ours, median(p->ours, ROUNDS));
    printf("%s: %.1f us\n", floor_name, median(p->floor, ROUNDS));
    printf("%s: %.2f x\n", ratio, median(p->ratio, ROUNDS));
}

/* A new PCK certificate (new key) under the simulator's PCK CA, and a quote
 * carrying it (the QE report re-signed with the new key). */
typedef struct peer {
    mk_buf quote;
    X509 *leaf;
    EVP_PKEY *key;
    uint8_t point[64];
} peer;

static void make_peer(mk_tdx_sim *sim, int64_t now, peer *p) {
    mk_error err;
    p->key = mk_tdx_sim_keygen();
    p->leaf = p->key ? mk_tdx_sim_make_cert(MK_TDX_SIM_CERT_PCK, MK_TDX_SIM_CN_PCK, p->key,
                                            sim->pck_ca, sim->pck_ca_key, now)
                     : NULL;
    if (!p->leaf || mk_tdx_sim_pub_raw(p->key, p->point, &err) < 0) die("new PCK", NULL);
    char *chain0 = sim->pck_chain;
    size_t len0 = sim->pck_chain_len;
    uint8_t sig0[64];
    memcpy(sig0, sim->qe_report_sig, 64);
    sim->pck_chain = mk_tee_sim_pem_chain(p->leaf, sim->pck_ca, sim->root, &sim->pck_chain_len);
    if (!sim->pck_chain || mk_tdx_sim_sign(p->key, sim->qe_report, sizeof sim->qe_report,
                                           sim->qe_report_sig, &err) < 0)
        die("new PCK chain", &err);
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    uint8_t rd[MK_TDX_REPORT_DATA_LEN] = {1};
    mk_buf_init(&p->quote, MK_TDX_QUOTE_MAX);
    if (mk_tdx_sim_quote(sim, &td, rd, &p->quote, &err) < 0) die("sim quote", &err);
    free(sim->pck_chain);
    sim->pck_chain = chain0;
    sim->pck_chain_len = len0;
    memcpy(sim->qe_report_sig, sig0, 64);
}

/* One round of new peers: a fresh verifier to which the platform becomes
 * known (collateral and PCK CA verified with peers[n]), then peers[0..n)
 * each once, then their floor. */
static void peer_round(mk_tdx_sim *sim, mk_tdx_collateral *c, int64_t now, peer *peers, int n,
                       double *us, double *floor_us) {
    mk_error err;
    mk_tdx_verifier *v = NULL;
    if (mk_tdx_verifier_new(NULL, &v, &err) < 0 ||
        mk_tdx_verifier_trust_simulator(v, sim->root_der, sim->root_der_len, &err) < 0)
        die("verifier", &err);
    mk_tdx_result res;
    if (mk_tdx_verify(v, peers[n].quote.data, peers[n].quote.len, c, now, &res, &err) < 0)
        die("verify (sim)", &err);
    double t0 = now_us();
    for (int i = 0; i < n; i++)
        if (mk_tdx_verify(v, peers[i].quote.data, peers[i].quote.len, c, now, &res, &err) < 0)
            die("verify (new peer)", &err);
    *us = (now_us() - t0) / n;
    mk_tdx_verifier_free(v);

    EVP_PKEY *ca_key = X509_get0_pubkey(sim->pck_ca);
    t0 = now_us();
    for (int i = 0; i < n; i++) {
        mk_tdx_quote q;
        if (mk_tdx_quote_parse(peers[i].quote.data, peers[i].quote.len, &q, &err) < 0)
            die("parse", &err);
        mk_pubkey *pk = NULL;
        if (mk_pubkey_from_ec(MK_P256, peers[i].point, 64, &pk, &err) < 0) die("PCK key", &err);
        quote_ecdsa(&q, mk_pubkey_evp(pk));
        if (X509_verify(peers[i].leaf, ca_key) != 1) die("PCK signature", NULL);
        mk_pubkey_free(pk);
    }
    *floor_us = (now_us() - t0) / n;
}

/* New peers on a known platform, ROUNDS rounds of n. */
static void new_peers(int n, pair *out) {
    mk_error err;
    int64_t now = mk_now();
    mk_tdx_sim_config cfg;
    mk_tdx_sim_config_init(&cfg);
    cfg.now = now;
    mk_tdx_sim *sim = NULL;
    if (mk_tdx_sim_new(&cfg, &sim, &err) < 0) die("simulator", &err);
    mk_tdx_collateral *c = NULL;
    if (mk_tdx_sim_collateral(sim, now, &c, &err) < 0) die("sim collateral", &err);
    size_t total = (size_t)ROUNDS * ((size_t)n + 1);
    peer *peers = calloc(total, sizeof *peers);
    if (!peers) die("out of memory", NULL);
    for (size_t i = 0; i < total; i++)
        make_peer(sim, now, &peers[i]);
    for (int r = 0; r < ROUNDS; r++) {
        double us, fl;
        peer_round(sim, c, now, peers + (size_t)r * ((size_t)n + 1), n, &us, &fl);
        pair_set(out, r, us, fl);
    }
    for (size_t i = 0; i < total; i++) {
        mk_buf_free(&peers[i].quote);
        X509_free(peers[i].leaf);
        EVP_PKEY_free(peers[i].key);
    }
    free(peers);
    mk_tdx_collateral_free(c);
    mk_tdx_sim_free(sim);
}

static double cold(const mk_buf *quote, const mk_buf *coll, int64_t at, int n) {
    mk_error err;
    double t0 = now_us();
    for (int i = 0; i < n; i++) {
        mk_tdx_verifier *v = NULL;
        if (mk_tdx_verifier_new(NULL, &v, &err) < 0) die("verifier", &err);
        mk_tdx_collateral *c = NULL;
        if (mk_tdx_collateral_from_bundle((const char *)coll->data, coll->len, &c, &err) < 0)
            die("collateral parse", &err);
        mk_tdx_result res;
        if (mk_tdx_verify(v, quote->data, quote->len, c, at, &res, &err) < 0) die("verify", &err);
        if (res.tcb_status != MK_TDX_TCB_UP_TO_DATE) die("unexpected TCB status", NULL);
        mk_tdx_collateral_free(c);
        mk_tdx_verifier_free(v);
    }
    return (now_us() - t0) / n;
}

static double warm(const mk_buf *quote, const mk_buf *coll, int64_t at, int n) {
    mk_error err;
    mk_tdx_verifier *v = NULL;
    if (mk_tdx_verifier_new(NULL, &v, &err) < 0) die("verifier", &err);
    mk_tdx_collateral *c = NULL;
    if (mk_tdx_collateral_from_bundle((const char *)coll->data, coll->len, &c, &err) < 0)
        die("collateral parse", &err);
    mk_tdx_result res;
    for (int i = 0; i < 20; i++)
        if (mk_tdx_verify(v, quote->data, quote->len, c, at, &res, &err) < 0) die("verify", &err);
    double t0 = now_us();
    for (int i = 0; i < n; i++)
        if (mk_tdx_verify(v, quote->data, quote->len, c, at, &res, &err) < 0) die("verify", &err);
    double us = (now_us() - t0) / n;
    mk_tdx_collateral_free(c);
    mk_tdx_verifier_free(v);
    return us;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_tdx_verify TESTDATA_DIR [ITERATIONS]\n");
        return 2;
    }
    int iters = argc > 2 ? atoi(argv[2]) : 2000;
    if (iters < 10) iters = 10;
    char path[4096];
    mk_error err;
    mk_buf quote = MK_BUF_INIT, coll = MK_BUF_INIT;
    snprintf(path, sizeof path, "%s/tdx/phala-v4/quote.bin", argv[1]);
    if (mk_file_read(path, 1 << 20, &quote, &err) < 0) die("quote", &err);
    snprintf(path, sizeof path, "%s/tdx/phala-v4/collateral.json", argv[1]);
    if (mk_file_read(path, 1 << 20, &coll, &err) < 0) die("collateral", &err);
    const int64_t at = 1752919234;

    /* Each figure beside its floor, round by round (medians), so a busy
     * machine moves both alike. */
    int n = iters / (10 * ROUNDS) > 3 ? iters / (10 * ROUNDS) : 3;
    real r;
    real_load(&quote, &coll, &r);
    cold(&quote, &coll, at, 2); /* the process-wide pinned root is parsed once */
    pair pc, pw, pn;
    for (int i = 0; i < ROUNDS; i++) {
        double us = cold(&quote, &coll, at, n);
        pair_set(&pc, i, us, cold_floor_block(&r, n));
        us = warm(&quote, &coll, at, iters / ROUNDS);
        pair_set(&pw, i, us, floor_block(&r, iters / ROUNDS));
    }
    new_peers(n > 10 ? n : 10, &pn);
    real_free(&r);

    pair_print(&pc, "tdx_verify_full", "tdx_cold_ecdsa_floor", "cold_over_floor");
    pair_print(&pw, "tdx_verify_warm", "ecdsa_floor", "warm_over_floor");
    pair_print(&pn, "tdx_verify_new_peer", "tdx_new_peer_ecdsa_floor", "new_peer_over_floor");
    mk_buf_free(&quote);
    mk_buf_free(&coll);
    return 0;
}
