/*
 * fuzz_tee_chain — the shared certificate code (tee/trust.c, tee/x509.c,
 * tee/asn1.c) on untrusted certificates and CRLs.
 *
 * The first input byte selects the target, the rest is the data:
 *   0: a PEM chain (leaf first). A trust store is made per input with no
 *      pinned root; when the input's last certificate is self-issued it is
 *      added as the simulator root, so well-formed chains reach the path
 *      building, the signature-algorithm policy (ECDSA and RSASSA-PSS) and
 *      the result; the chain is then verified twice (cold, then through
 *      the intermediate cache) at a fixed time, with the same outcome;
 *   1: a CRL (DER or PEM): parse, the signature-algorithm policy, issuer
 *      checks and a lookup against a certificate made at start;
 *   2: a DER certificate: parse, names, window, the signature-algorithm
 *      policy, and the extensions SGX (TDX) and AMD (SNP) certificates
 *      carry, read with the ASN.1 readers.
 * Invariants checked: a refusal always has a reason; a verified chain has
 * a leaf, a key and a root, and ends in the root that was added.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "mosaik/mosaik.h"
#include "tee/tee_internal.h"

#define T_FIXED 1780272000 /* 2026-06-01 */

static const mk_tee_trust_config CFG = {
    .anchor = "a fuzz root",
    .pinned = "a pinned fuzz root",
    .sim_hint = "nothing",
    .sigalgs = MK_TEE_SIGALG_ECDSA | MK_TEE_SIGALG_RSA_PSS,
};

static X509 *other; /* a certificate made at start, for CRL lookups */

static void init(void) {
    EVP_PKEY *k = mk_tee_sim_keygen("P-256");
    mk_tee_sim_cert_spec s = {.kind = MK_TEE_SIM_ROOT, .cn = "fuzz", .org = "fuzz", .now = T_FIXED};
    other = k ? mk_tee_sim_cert(&s, k, NULL, k) : NULL;
    EVP_PKEY_free(k);
    if (!other) abort();
}

static void must_have_reason(int rc, const mk_error *err) {
    if (rc < 0 && (err->code != rc || !err->msg[0])) abort();
}

/* The last certificate of a PEM text, if self-issued, as DER. */
static int last_root_der(const uint8_t *d, size_t n, uint8_t **der) {
    BIO *bio = BIO_new_mem_buf(d, (int)n);
    X509 *x, *last = NULL;
    int len = 0;
    for (int i = 0; bio && i < 4 && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)); i++) {
        X509_free(last);
        last = x;
    }
    if (last && mk_tee_self_issued(last)) len = i2d_X509(last, der);
    X509_free(last);
    BIO_free(bio);
    ERR_clear_error();
    return len;
}

static void fuzz_chain(const uint8_t *d, size_t n) {
    if (n > MK_TEE_CERT_DATA_MAX) return;
    mk_tee_trust *t = NULL;
    mk_error err;
    if (mk_tee_trust_new(&CFG, NULL, 0, &t, &err) != 0) abort();
    uint8_t *der = NULL;
    int dl = last_root_der(d, n, &der);
    bool sim = dl > 0 && mk_tee_trust_add_sim_root(t, der, (size_t)dl, &err) == 0;
    OPENSSL_free(der);
    int first = 0;
    for (int round = 0; round < 2; round++) {
        mk_tee_chain ch;
        mk_error_clear(&err);
        int rc = mk_tee_chain_verify_pem(t, (const char *)d, n, T_FIXED, &ch, &err);
        must_have_reason(rc, &err);
        if (round == 0) first = rc;
        if (rc != first) abort(); /* the warm path agrees with the cold one */
        if (rc == 0) {
            if (!sim || !ch.leaf || !ch.leaf_key || !ch.root || !ch.simulated) abort();
            if (ch.root != mk_tee_trust_root(t, -1)) abort();
            mk_tee_chain_free(&ch);
        } else if (ch.leaf || ch.root || ch.leaf_key || ch.intermediate) {
            abort();
        }
    }
    mk_tee_trust_free(t);
}

static void fuzz_crl(const uint8_t *d, size_t n) {
    X509_CRL *crl = NULL;
    mk_error err;
    mk_error_clear(&err);
    int rc = mk_tee_crl_parse(d, n, &crl, &err);
    must_have_reason(rc, &err);
    if (rc < 0) return;
    const X509_ALGOR *alg = NULL;
    X509_CRL_get0_signature(crl, NULL, &alg);
    rc = mk_tee_sigalg_check(alg, MK_TEE_SIGALG_ECDSA | MK_TEE_SIGALG_RSA_PSS, "CRL", &err);
    must_have_reason(rc, &err);
    rc = mk_tee_crl_check(crl, other, MK_TEE_SIGALG_RSA_PSS, T_FIXED, &err);
    must_have_reason(rc, &err);
    rc = mk_tee_crl_lookup(crl, other, &err);
    must_have_reason(rc, &err);
    X509_CRL_free(crl);
}

static void read_ext(X509 *x, const uint8_t *oid, size_t oid_len) {
    const uint8_t *v;
    size_t vl;
    mk_error err;
    if (mk_tee_x509_ext(x, oid, oid_len, "ext", &v, &vl, &err) != 0) return;
    const unsigned char *p = v;
    ASN1_TYPE *t = d2i_ASN1_TYPE(NULL, &p, (long)vl);
    if (t) {
        int64_t i;
        uint8_t buf[64];
        (void)mk_tee_asn1_uint(t, V_ASN1_INTEGER, 255, &i, "INTEGER", &err);
        (void)mk_tee_asn1_octets(t, buf, 64, "OCTETS", &err);
        (void)mk_tee_asn1_octets(t, buf, 8, "OCTETS", &err);
        ASN1_TYPE_free(t);
    }
    ERR_clear_error();
}

static void fuzz_cert(const uint8_t *d, size_t n) {
    X509 *x = mk_tee_x509_from_der(d, n);
    if (!x) return;
    char name[128];
    int64_t nb, na;
    mk_error err;
    mk_tee_cert_name(x, name, sizeof name);
    (void)mk_tee_x509_window(x, &nb, &na);
    int rc = mk_tee_cert_sigalg_check(x, MK_TEE_SIGALG_RSA_PSS, &err);
    must_have_reason(rc, &err);
    static const uint8_t sgx[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};
    static const uint8_t amd_hwid[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x9c, 0x78, 0x01, 0x04};
    static const uint8_t amd_bl[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x9c, 0x78, 0x01, 0x03, 0x01};
    read_ext(x, sgx, sizeof sgx);
    read_ext(x, amd_hwid, sizeof amd_hwid);
    read_ext(x, amd_bl, sizeof amd_bl);
    X509_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!other) init();
    if (size < 1) return 0;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0:
        fuzz_chain(d, n);
        break;
    case 1:
        fuzz_crl(d, n);
        break;
    default:
        fuzz_cert(d, n);
        break;
    }
    ERR_clear_error();
    return 0;
}
