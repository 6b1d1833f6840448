/*
 * bench/bench_snp_verify.c — cost of verifying a real SEV-SNP report to
 * AMD's root.
 *
 * Three figures, in microseconds per verification of the same Milan report
 * and VCEK (../shared/testdata/snp/virtee-milan) at 2026-06-01:
 *
 *   cold   a new verifier each time: the pinned ARKs are parsed and
 *          hashed, the VCEK read, and the chain VCEK <- ASK <- ARK checked
 *          (two RSA-4096 PSS verifications), then TCB, hwID, the report's
 *          ECDSA P-384 signature and the policy;
 *   warm   one verifier reused: the ASK was verified once and is cached,
 *          so each call reads the VCEK, verifies it under the ASK (one RSA
 *          verification), and checks TCB, hwID, signature and policy;
 *   floor  the ECDSA P-384 verification of [0, 0x2A0) with the VCEK's key,
 *          done directly with OpenSSL (EVP) on the same bytes: what no
 *          verifier can skip.
 *
 * bench/run.sh prints these beside @lit-protocol/sev-snp-utils-sdk on the
 * same report and VCEK, as a ratio.
 *
 * usage: bench_snp_verify TESTDATA_DIR [ITERATIONS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <mosaik/mosaik.h>
#include <mosaik/snp.h>

#define AT 1780272000LL /* 2026-06-01 */

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what, const mk_error *err) {
    fprintf(stderr, "bench_snp_verify: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

/* r or s: 48 little-endian bytes as a BIGNUM. */
static BIGNUM *le48(const uint8_t *p) {
    uint8_t be[48];
    for (int i = 0; i < 48; i++)
        be[i] = p[47 - i];
    return BN_bin2bn(be, 48, NULL);
}

static double floor_us(const mk_buf *rep, const mk_buf *vcek, int iters) {
    const unsigned char *p = vcek->data;
    X509 *x = d2i_X509(NULL, &p, (long)vcek->len);
    EVP_PKEY *k = x ? X509_get0_pubkey(x) : NULL;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    if (!k || !sig) die("VCEK key", NULL);
    ECDSA_SIG_set0(sig, le48(rep->data + 0x2A0), le48(rep->data + 0x2A0 + 72));
    unsigned char *der = NULL;
    int dlen = i2d_ECDSA_SIG(sig, &der);
    double t0 = now_us();
    for (int i = 0; i < iters; i++) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestVerifyInit(ctx, NULL, EVP_sha384(), NULL, k) != 1 ||
            EVP_DigestVerify(ctx, der, (size_t)dlen, rep->data, 0x2A0) != 1)
            die("ECDSA floor", NULL);
        EVP_MD_CTX_free(ctx);
    }
    double us = (now_us() - t0) / iters;
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    X509_free(x);
    return us;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_snp_verify TESTDATA_DIR [ITERATIONS]\n");
        return 2;
    }
    int iters = argc > 2 ? atoi(argv[2]) : 1000;
    if (iters < 10) iters = 10;
    char path[4096];
    mk_error err;
    mk_buf rep = MK_BUF_INIT, vcek = MK_BUF_INIT;
    snprintf(path, sizeof path, "%s/snp/virtee-milan/report.bin", argv[1]);
    if (mk_file_read(path, 1 << 16, &rep, &err) < 0) die("report", &err);
    snprintf(path, sizeof path, "%s/snp/virtee-milan/vcek.der", argv[1]);
    if (mk_file_read(path, 1 << 16, &vcek, &err) < 0) die("VCEK", &err);
    mk_snp_certs c = {vcek.data, vcek.len, NULL, 0, NULL, 0};
    mk_snp_result res;

    int cold_iters = iters / 5 > 20 ? iters / 5 : 20;
    double t0 = now_us();
    for (int i = 0; i < cold_iters; i++) {
        mk_snp_verifier *v = NULL;
        if (mk_snp_verifier_new(NULL, &v, &err) < 0) die("verifier", &err);
        if (mk_snp_verify(v, rep.data, rep.len, &c, AT, &res, &err) < 0) die("verify", &err);
        mk_snp_verifier_free(v);
    }
    double cold = (now_us() - t0) / cold_iters;

    mk_snp_verifier *v = NULL;
    if (mk_snp_verifier_new(NULL, &v, &err) < 0) die("verifier", &err);
    for (int i = 0; i < 20; i++)
        if (mk_snp_verify(v, rep.data, rep.len, &c, AT, &res, &err) < 0) die("verify", &err);
    t0 = now_us();
    for (int i = 0; i < iters; i++)
        if (mk_snp_verify(v, rep.data, rep.len, &c, AT, &res, &err) < 0) die("verify", &err);
    double warm = (now_us() - t0) / iters;
    mk_snp_verifier_free(v);

    double fl = floor_us(&rep, &vcek, iters);
    printf("snp_verify_cold: %.1f us\n", cold);
    printf("snp_verify_warm: %.1f us\n", warm);
    printf("snp_ecdsa_p384_floor: %.1f us\n", fl);
    printf("snp_warm_over_floor: %.2f x\n", warm / fl);
    mk_buf_free(&rep);
    mk_buf_free(&vcek);
    return 0;
}
