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

/* Cold and known-peer floors on the real quote and collateral. */
static void floors(const mk_buf *quote, const mk_buf *coll, int iters, double *floor_us,
                   double *cold_floor_us) {
    mk_error err;
    mk_tdx_quote q;
    if (mk_tdx_quote_parse(quote->data, quote->len, &q, &err) < 0) die("parse", &err);
    X509 *pck[3] = {NULL};
    if (read_chain((const char *)q.pck_chain_pem, q.pck_chain_len, pck) != 3) die("chain", NULL);
    mk_tdx_collateral *c = NULL;
    if (mk_tdx_collateral_from_bundle((const char *)coll->data, coll->len, &c, &err) < 0)
        die("collateral parse", &err);
    X509 *tcb[3] = {NULL};
    if (read_chain(c->tcb_chain, strlen(c->tcb_chain), tcb) < 1) die("TCB chain", NULL);
    EVP_PKEY *leaf_key = X509_get0_pubkey(pck[0]), *ca_key = X509_get0_pubkey(pck[1]),
             *root_key = X509_get0_pubkey(pck[2]), *tcb_key = X509_get0_pubkey(tcb[0]);

    double t0 = now_us();
    for (int i = 0; i < iters; i++)
        quote_ecdsa(&q, leaf_key);
    *floor_us = (now_us() - t0) / iters;

    int n = iters / 4 > 20 ? iters / 4 : 20;
    t0 = now_us();
    for (int i = 0; i < n; i++) {
        quote_ecdsa(&q, leaf_key);
        if (X509_verify(pck[0], ca_key) != 1 || X509_verify(pck[1], root_key) != 1 ||
            X509_verify(tcb[0], root_key) != 1)
            die("certificate signature", NULL);
        verify_doc_sig(tcb_key, c->tcb_text, c->tcb_len, c->tcb_sig);
        verify_doc_sig(tcb_key, c->qe_text, c->qe_len, c->qe_sig);
        if (X509_CRL_verify(c->pck_crl, ca_key) != 1 || X509_CRL_verify(c->root_crl, root_key) != 1)
            die("CRL signature", NULL);
    }
    *cold_floor_us = (now_us() - t0) / n;
    for (int i = 0; i < 3; i++) {
        X509_free(pck[i]);
        X509_free(tcb[i]);
    }
    mk_tdx_collateral_free(c);
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

/* New peers on a known platform: per quote, and its floor. */
static void new_peers(int n, double *us, double *floor_us) {
    mk_error err;
    int64_t now = mk_now();
    mk_tdx_sim_config cfg;
    mk_tdx_sim_config_init(&cfg);
    cfg.now = now;
    mk_tdx_sim *sim = NULL;
    if (mk_tdx_sim_new(&cfg, &sim, &err) < 0) die("simulator", &err);
    mk_tdx_collateral *c = NULL;
    if (mk_tdx_sim_collateral(sim, now, &c, &err) < 0) die("sim collateral", &err);
    peer *peers = calloc((size_t)n + 1, sizeof *peers);
    if (!peers) die("out of memory", NULL);
    for (int i = 0; i <= n; i++)
        make_peer(sim, now, &peers[i]);
    mk_tdx_verifier *v = NULL;
    if (mk_tdx_verifier_new(NULL, &v, &err) < 0 ||
        mk_tdx_verifier_trust_simulator(v, sim->root_der, sim->root_der_len, &err) < 0)
        die("verifier", &err);
    mk_tdx_result res;
    /* The platform becomes known: collateral and PCK CA verified. */
    if (mk_tdx_verify(v, peers[n].quote.data, peers[n].quote.len, c, now, &res, &err) < 0)
        die("verify (sim)", &err);
    double t0 = now_us();
    for (int i = 0; i < n; i++)
        if (mk_tdx_verify(v, peers[i].quote.data, peers[i].quote.len, c, now, &res, &err) < 0)
            die("verify (new peer)", &err);
    *us = (now_us() - t0) / n;

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
    for (int i = 0; i <= n; i++) {
        mk_buf_free(&peers[i].quote);
        X509_free(peers[i].leaf);
        EVP_PKEY_free(peers[i].key);
    }
    free(peers);
    mk_tdx_verifier_free(v);
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

    int cold_iters = iters / 10 > 20 ? iters / 10 : 20;
    cold(&quote, &coll, at, 2); /* the process-wide pinned root is parsed once */
    double full = cold(&quote, &coll, at, cold_iters);
    double warm_us = warm(&quote, &coll, at, iters);
    double floor_us, cold_floor_us, peer_us, peer_floor_us;
    floors(&quote, &coll, iters, &floor_us, &cold_floor_us);
    new_peers(cold_iters, &peer_us, &peer_floor_us);

    printf("tdx_verify_full: %.1f us\n", full);
    printf("tdx_verify_warm: %.1f us\n", warm_us);
    printf("ecdsa_floor: %.1f us\n", floor_us);
    printf("warm_over_floor: %.2f x\n", warm_us / floor_us);
    printf("tdx_cold_ecdsa_floor: %.1f us\n", cold_floor_us);
    printf("cold_over_floor: %.2f x\n", full / cold_floor_us);
    printf("tdx_verify_new_peer: %.1f us\n", peer_us);
    printf("tdx_new_peer_ecdsa_floor: %.1f us\n", peer_floor_us);
    printf("new_peer_over_floor: %.2f x\n", peer_us / peer_floor_us);
    mk_buf_free(&quote);
    mk_buf_free(&coll);
    return 0;
}
