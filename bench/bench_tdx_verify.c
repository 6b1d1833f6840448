/*
 * bench/bench_tdx_verify.c — cost of verifying a real TDX quote.
 *
 * Three figures, in microseconds per verification of the same v4 quote and
 * collateral (../shared/testdata/tdx/phala-v4) at its verification time:
 *
 *   full   a new verifier and freshly parsed collateral each time: every
 *          certificate chain, collateral signature and CRL is checked;
 *   warm   one verifier and one collateral object reused: the collateral and
 *          the PCK chain were verified once and are cached, so each call
 *          parses the quote, checks its two signatures, the QE binding, the
 *          TCB level and the policy;
 *   floor  the ECDSA work no verifier can skip for a new quote: importing
 *          the quote's attestation key and verifying the quote signature
 *          with it, and verifying the QE report signature with the PCK key,
 *          done directly with OpenSSL (EVP) on the same bytes.
 *
 * bench/run.sh prints these beside @phala/dcap-qvl-web on the same inputs.
 *
 * usage: bench_tdx_verify TESTDATA_DIR [ITERATIONS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <mosaik/mosaik.h>

#include "crypto/ossl.h"

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int die(const char *what, const mk_error *err) {
    fprintf(stderr, "bench_tdx_verify: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_tdx_verify TESTDATA_DIR [ITERATIONS]\n");
        return 2;
    }
    int iters = argc > 2 ? atoi(argv[2]) : 2000;
    char path[4096];
    mk_error err;
    mk_buf quote = MK_BUF_INIT, coll = MK_BUF_INIT;
    snprintf(path, sizeof path, "%s/tdx/phala-v4/quote.bin", argv[1]);
    if (mk_file_read(path, 1 << 20, &quote, &err) < 0) die("quote", &err);
    snprintf(path, sizeof path, "%s/tdx/phala-v4/collateral.json", argv[1]);
    if (mk_file_read(path, 1 << 20, &coll, &err) < 0) die("collateral", &err);
    const int64_t at = 1752919234;

    /* full */
    int full_iters = iters / 10 > 20 ? iters / 10 : 20;
    double t0 = now_us();
    for (int i = 0; i < full_iters; i++) {
        mk_tdx_verifier *v = mk_tdx_verifier_new();
        mk_tdx_collateral *c = NULL;
        if (mk_tdx_collateral_from_bundle((const char *)coll.data, coll.len, &c, &err) < 0)
            die("collateral parse", &err);
        mk_tdx_result res;
        if (mk_tdx_verify(v, quote.data, quote.len, c, at, &res, &err) < 0) die("verify", &err);
        if (res.tcb_status != MK_TDX_TCB_UP_TO_DATE) die("unexpected TCB status", NULL);
        mk_tdx_collateral_free(c);
        mk_tdx_verifier_free(v);
    }
    double full = (now_us() - t0) / full_iters;

    /* warm */
    mk_tdx_verifier *v = mk_tdx_verifier_new();
    mk_tdx_collateral *c = NULL;
    if (mk_tdx_collateral_from_bundle((const char *)coll.data, coll.len, &c, &err) < 0)
        die("collateral parse", &err);
    mk_tdx_result res;
    for (int i = 0; i < 20; i++)
        if (mk_tdx_verify(v, quote.data, quote.len, c, at, &res, &err) < 0) die("verify", &err);
    t0 = now_us();
    for (int i = 0; i < iters; i++)
        if (mk_tdx_verify(v, quote.data, quote.len, c, at, &res, &err) < 0) die("verify", &err);
    double warm = (now_us() - t0) / iters;
    mk_tdx_collateral_free(c);
    mk_tdx_verifier_free(v);

    /* floor: the two ECDSA verifications, straight OpenSSL. */
    mk_tdx_quote q;
    if (mk_tdx_quote_parse(quote.data, quote.len, &q, &err) < 0) die("parse", &err);
    BIO *bio = BIO_new_mem_buf(q.pck_chain_pem, (int)q.pck_chain_len);
    X509 *leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!leaf) die("PCK leaf", NULL);
    EVP_PKEY *pck = X509_get0_pubkey(leaf);
    mk_pubkey *pckk = NULL;
    if (mk_pubkey_from_evp(pck, &pckk) < 0) die("PCK key", NULL);
    t0 = now_us();
    for (int i = 0; i < iters; i++) {
        mk_pubkey *ak = NULL;
        if (mk_pubkey_from_ec(MK_P256, q.attestation_key, 64, &ak, &err) < 0) die("ak", &err);
        if (mk_ecdsa_verify_raw(ak, MK_SHA256, q.signed_data, q.signed_len, q.signature, 64, &err) <
            0)
            die("quote signature", &err);
        if (mk_ecdsa_verify_raw(pckk, MK_SHA256, q.qe_report_raw, 384, q.qe_report_signature, 64,
                                &err) < 0)
            die("QE signature", &err);
        mk_pubkey_free(ak);
    }
    double floor_us = (now_us() - t0) / iters;
    mk_pubkey_free(pckk);
    X509_free(leaf);

    printf("tdx_verify_full: %.1f us\n", full);
    printf("tdx_verify_warm: %.1f us\n", warm);
    printf("ecdsa_floor: %.1f us\n", floor_us);
    printf("warm_over_floor: %.2f x\n", warm / floor_us);
    mk_buf_free(&quote);
    mk_buf_free(&coll);
    return 0;
}
