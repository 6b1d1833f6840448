/*
 * tee/tdx/sim.c — the TDX simulator: a software "TD" with its own test PKI,
 * for machines without TDX (docs/tdx-simulator.md). Its quotes are
 * structurally identical to real DCAP quotes but chain to a root generated
 * here, so no verifier accepts them unless told to trust that root
 * (mk_tdx_verifier_trust_simulator). Every certificate's subject says
 * "SIMULATED TDX, not Intel" and quotes carry "MOSAIK SIMULATED TDX" in the
 * header's user data.
 *
 * This file holds the simulator object: its five keys and four certificates
 * (made in sim_pki.c), the state derived from them (root DER, PEM chains,
 * the attestation key's raw point) and the simulated quoting enclave's
 * report, then persistence. Quotes are built in sim_quote.c, collateral in
 * sim_collateral.c (sim_internal.h).
 *
 * The QE report is an SGX report body (384 bytes, little-endian), written
 * field by field through mk_writer:
 *   cpusvn 16 (the PCK certificate's SGX components) | miscselect u32 = 0 |
 *   reserved 28 | attributes: flags u64 = 0x15 (INIT | MODE64BIT |
 *   PROVISIONKEY), xfrm u64 = 0xe7 | mrenclave 32 = SHA-256("mosaik simulated
 *   TD quoting enclave") | reserved 32 | mrsigner 32 = SHA-256("mosaik
 *   simulated TD quoting enclave signer") | reserved 96 | isvprodid u16 = 2 |
 *   isvsvn u16 = 6 | reserved 60 | report data 64 = SHA-256(attestation key
 *   x||y || QE auth data) || 32 zero bytes
 * and is signed by the PCK leaf key, as Intel's QE report is; mrsigner and
 * isvprodid are what the simulated QE identity publishes.
 *
 * Invariants: a mk_tdx_sim is immutable after construction (so concurrent
 * quoting is safe; OpenSSL signing with a shared EVP_PKEY is thread-safe)
 * and reference counted (providers hold references). Keys are persisted as
 * unencrypted PKCS#8 PEM in a 0600 file (root key, root certificate, PCK CA
 * key and certificate, PCK key and certificate, TCB signing key and
 * certificate, attestation key): the simulator's keys protect nothing real.
 * A loaded file must chain (root self-signed, CA and TCB signer by the
 * root, PCK by the CA) and every certificate must match its key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "crypto/ossl.h"
#include "mosaik/clock.h"
#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "tee/tdx/sim_internal.h"
#include "tee/tee_internal.h"
#include "tee/tdx/tdx_provider_internal.h"

#define SIM_FILE_MAX (64 * 1024)

const uint8_t mk_tdx_sim_sgx_comps[16] = {3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0};
const uint8_t mk_tdx_sim_old_sgx_comps[16] = {2, 2, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0};
const uint8_t mk_tdx_sim_tdx_comps[16] = {6, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
const uint8_t mk_tdx_sim_old_tdx_comps[16] = {2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
const uint8_t mk_tdx_sim_fmspc[6] = {'M', 'K', 'S', 'I', 'M', 0};

int mk_tdx_sim_qe_auth(mk_writer *w) {
    for (int i = 0; i < MK_TDX_SIM_QE_AUTH_LEN; i++)
        mk_write_u8(w, (uint8_t)i);
    return mk_writer_status(w);
}

/* ---------------------------------------------------------------- */
/* Construction                                                      */
/* ---------------------------------------------------------------- */

static mk_tdx_sim *sim_alloc(void) {
    mk_tdx_sim *s = calloc(1, sizeof *s);
    if (s) atomic_init(&s->refs, 1);
    return s;
}

static void sim_destroy(mk_tdx_sim *s) {
    EVP_PKEY_free(s->root_key);
    EVP_PKEY_free(s->pck_ca_key);
    EVP_PKEY_free(s->pck_key);
    EVP_PKEY_free(s->tcb_key);
    EVP_PKEY_free(s->att_key);
    X509_free(s->root);
    X509_free(s->pck_ca);
    X509_free(s->pck);
    X509_free(s->tcb);
    OPENSSL_free(s->root_der);
    free(s->pck_chain);
    free(s->tcb_chain);
    free(s->pck_ca_chain);
    free(s);
}

mk_tdx_sim *mk_tdx_sim_ref(mk_tdx_sim *sim) {
    if (sim) atomic_fetch_add(&sim->refs, 1);
    return sim;
}

void mk_tdx_sim_free(mk_tdx_sim *sim) {
    if (sim && atomic_fetch_sub(&sim->refs, 1) == 1) sim_destroy(sim);
}

/* The simulated QE's report (layout in the top comment) and its signature
 * by the PCK key. */
static int make_qe_report(mk_tdx_sim *s, mk_error *err) {
    static const char signer_label[] = "mosaik simulated TD quoting enclave signer";
    static const char enclave_label[] = "mosaik simulated TD quoting enclave";
    uint8_t mr_enclave[32], bound[32], hashed[64 + MK_TDX_SIM_QE_AUTH_LEN];
    mk_writer w;
    mk_writer_init(&w, hashed, sizeof hashed);
    mk_write_bytes(&w, s->att_pub, 64);
    mk_tdx_sim_qe_auth(&w);
    if (mk_writer_status(&w) < 0) return mk_error_set(err, MK_EINVAL, "simulator: QE binding");
    mk_sha256(hashed, sizeof hashed, bound);
    mk_sha256(enclave_label, sizeof enclave_label - 1, mr_enclave);
    mk_sha256(signer_label, sizeof signer_label - 1, s->qe_mrsigner);

    mk_writer_init(&w, s->qe_report, sizeof s->qe_report);
    mk_write_bytes(&w, mk_tdx_sim_sgx_comps, 16); /* cpusvn */
    mk_write_u32le(&w, 0);                        /* miscselect */
    mk_write_zeros(&w, 28);
    mk_write_u64le(&w, 0x15); /* attributes.flags: INIT | MODE64BIT | PROVISIONKEY */
    mk_write_u64le(&w, 0xe7); /* attributes.xfrm */
    mk_write_bytes(&w, mr_enclave, 32);
    mk_write_zeros(&w, 32);
    mk_write_bytes(&w, s->qe_mrsigner, 32);
    mk_write_zeros(&w, 96);
    mk_write_u16le(&w, MK_TDX_SIM_QE_ISVPRODID);
    mk_write_u16le(&w, MK_TDX_SIM_QE_ISVSVN);
    mk_write_zeros(&w, 60);
    mk_write_bytes(&w, bound, 32); /* report data */
    mk_write_zeros(&w, 32);
    if (mk_writer_status(&w) < 0 || mk_writer_room(&w) != 0)
        return mk_error_set(err, MK_EINVAL, "simulator: QE report layout");
    return mk_tdx_sim_sign(s->pck_key, s->qe_report, sizeof s->qe_report, s->qe_report_sig, err);
}

/* Derived state: root DER, PEM chains, the signed QE report. */
static int sim_finish(mk_tdx_sim *s, mk_error *err) {
    int n = i2d_X509(s->root, &s->root_der);
    if (n <= 0) return mk_error_openssl(err, MK_ECRYPTO, "simulator: encoding the root");
    s->root_der_len = (size_t)n;
    s->pck_chain = mk_tee_sim_pem_chain(s->pck, s->pck_ca, s->root, &s->pck_chain_len);
    s->tcb_chain = mk_tee_sim_pem_chain(s->tcb, s->root, NULL, NULL);
    s->pck_ca_chain = mk_tee_sim_pem_chain(s->pck_ca, s->root, NULL, NULL);
    if (!s->pck_chain || !s->tcb_chain || !s->pck_ca_chain)
        return mk_error_set(err, MK_ENOMEM, "simulator: out of memory");
    MK_TRY(mk_tdx_sim_pub_raw(s->att_key, s->att_pub, err));
    return make_qe_report(s, err);
}

void mk_tdx_sim_config_init(mk_tdx_sim_config *cfg) {
    *cfg = (mk_tdx_sim_config){0};
}

int mk_tdx_sim_new(const mk_tdx_sim_config *cfg, mk_tdx_sim **out, mk_error *err) {
    if (!out) return mk_error_set(err, MK_EINVAL, "simulator: NULL output");
    *out = NULL;
    int64_t now = cfg && cfg->now ? cfg->now : mk_now();
    mk_tdx_sim *s = sim_alloc();
    if (!s) return mk_error_set(err, MK_ENOMEM, "simulator: out of memory");
    s->root_key = mk_tdx_sim_keygen();
    s->pck_ca_key = mk_tdx_sim_keygen();
    s->pck_key = mk_tdx_sim_keygen();
    s->tcb_key = mk_tdx_sim_keygen();
    s->att_key = mk_tdx_sim_keygen();
    int rc = MK_ECRYPTO;
    if (!s->root_key || !s->pck_ca_key || !s->pck_key || !s->tcb_key || !s->att_key) {
        rc = mk_error_openssl(err, MK_ECRYPTO, "simulator: key generation");
        goto fail;
    }
    s->root = mk_tdx_sim_make_cert(MK_TDX_SIM_CERT_ROOT, MK_TDX_SIM_CN_ROOT, s->root_key, NULL,
                                   s->root_key, now);
    if (s->root)
        s->pck_ca = mk_tdx_sim_make_cert(MK_TDX_SIM_CERT_CA, MK_TDX_SIM_CN_PCK_CA, s->pck_ca_key,
                                         s->root, s->root_key, now);
    if (s->pck_ca)
        s->pck = mk_tdx_sim_make_cert(MK_TDX_SIM_CERT_PCK, MK_TDX_SIM_CN_PCK, s->pck_key, s->pck_ca,
                                      s->pck_ca_key, now);
    if (s->pck)
        s->tcb = mk_tdx_sim_make_cert(MK_TDX_SIM_CERT_TCB, MK_TDX_SIM_CN_TCB, s->tcb_key, s->root,
                                      s->root_key, now);
    if (!s->tcb) {
        rc = mk_error_openssl(err, MK_ECRYPTO, "simulator: certificate creation");
        goto fail;
    }
    rc = sim_finish(s, err);
    if (rc < 0) goto fail;
    *out = s;
    return 0;
fail:
    sim_destroy(s);
    return rc;
}

/* ---------------------------------------------------------------- */
/* Persistence                                                       */
/* ---------------------------------------------------------------- */

int mk_tdx_sim_save(const mk_tdx_sim *sim, const char *path, mk_error *err) {
    if (!sim || !path) return mk_error_set(err, MK_EINVAL, "simulator save: NULL argument");
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return mk_error_set(err, MK_ENOMEM, "out of memory");
    static const char banner[] =
        "# mosaik TDX SIMULATOR key material. NOT Intel, NOT real TDX: test PKI only.\n"
        "# Order: root key, root cert, PCK CA key, PCK CA cert, PCK key, PCK cert,\n"
        "# TCB signing key, TCB signing cert, attestation key.\n";
    EVP_PKEY *keys[5] = {sim->root_key, sim->pck_ca_key, sim->pck_key, sim->tcb_key, sim->att_key};
    X509 *certs[4] = {sim->root, sim->pck_ca, sim->pck, sim->tcb};
    int ok = BIO_write(bio, banner, (int)sizeof banner - 1) > 0;
    for (int i = 0; ok && i < 5; i++) {
        ok = PEM_write_bio_PrivateKey(bio, keys[i], NULL, NULL, 0, NULL, NULL) == 1;
        if (ok && i < 4) ok = PEM_write_bio_X509(bio, certs[i]) == 1;
    }
    int rc;
    char *data = NULL;
    long n = ok ? BIO_get_mem_data(bio, &data) : 0;
    if (!ok || n <= 0)
        rc = mk_error_openssl(err, MK_ECRYPTO, "simulator save: PEM encoding");
    else
        rc = mk_file_write(path, data, (size_t)n, 0600, err);
    BIO_free_all(bio);
    if (rc < 0) mk_error_prefix(err, rc, "simulator save");
    return rc;
}

int mk_tdx_sim_load(const char *path, mk_tdx_sim **out, mk_error *err) {
    if (!path || !out) return mk_error_set(err, MK_EINVAL, "simulator load: NULL argument");
    *out = NULL;
    mk_buf file = MK_BUF_INIT;
    int rc = mk_file_read(path, SIM_FILE_MAX, &file, err);
    if (rc < 0) {
        mk_buf_free(&file);
        return mk_error_prefix(err, rc, "simulator load");
    }
    mk_tdx_sim *s = sim_alloc();
    BIO *bio = s ? BIO_new_mem_buf(file.data, (int)file.len) : NULL;
    if (!bio) {
        rc = mk_error_set(err, MK_ENOMEM, "out of memory");
        goto done;
    }
    EVP_PKEY **keys[5] = {&s->root_key, &s->pck_ca_key, &s->pck_key, &s->tcb_key, &s->att_key};
    X509 **certs[4] = {&s->root, &s->pck_ca, &s->pck, &s->tcb};
    static const char *names[5] = {"root", "PCK CA", "PCK", "TCB signing", "attestation"};
    for (int i = 0; i < 5; i++) {
        *keys[i] = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        if (!*keys[i] || !EVP_PKEY_is_a(*keys[i], "EC")) {
            rc = mk_error_openssl(err, MK_EMALFORMED, "missing EC key");
            mk_error_prefix(err, rc, "simulator load: %s: %s key", path, names[i]);
            goto done;
        }
        if (i == 4) break;
        *certs[i] = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!*certs[i] || X509_check_private_key(*certs[i], *keys[i]) != 1) {
            rc =
                mk_error_openssl(err, MK_EMALFORMED, "certificate missing or not matching its key");
            mk_error_prefix(err, rc, "simulator load: %s: %s", path, names[i]);
            goto done;
        }
    }
    /* The chain must link: root self-signed, CA and TCB by root, PCK by CA. */
    if (X509_verify(s->root, s->root_key) != 1 || X509_verify(s->pck_ca, s->root_key) != 1 ||
        X509_verify(s->tcb, s->root_key) != 1 || X509_verify(s->pck, s->pck_ca_key) != 1) {
        rc =
            mk_error_set(err, MK_EMALFORMED, "simulator load: %s: certificates do not chain", path);
        goto done;
    }
    rc = sim_finish(s, err);
done:
    BIO_free(bio);
    mk_buf_wipe_free(&file);
    if (rc < 0) {
        if (s) sim_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int save_state(const void *ctx, const char *tmp, mk_error *err) {
    return mk_tdx_sim_save(ctx, tmp, err);
}

int mk_tdx_sim_load_or_create(const char *path, const mk_tdx_sim_config *cfg, mk_tdx_sim **out,
                              mk_error *err) {
    if (!path || !out) return mk_error_set(err, MK_EINVAL, "simulator: NULL argument");
    if (access(path, F_OK) == 0) return mk_tdx_sim_load(path, out, err);
    mk_tdx_sim *s = NULL;
    MK_TRY(mk_tdx_sim_new(cfg, &s, err));
    /* Exactly one racing process creates `path`; the others load it. */
    int rc = mk_tee_sim_publish(path, save_state, s, err);
    if (rc == 0) {
        *out = s;
        return 0;
    }
    mk_tdx_sim_free(s);
    return rc == 1 ? mk_tdx_sim_load(path, out, err) : rc;
}

void mk_tdx_sim_root_der(const mk_tdx_sim *sim, const uint8_t **der, size_t *len) {
    *der = sim->root_der;
    *len = sim->root_der_len;
}

void mk_tdx_sim_pck_chain_pem(const mk_tdx_sim *sim, const char **pem, size_t *len) {
    *pem = sim->pck_chain;
    *len = sim->pck_chain_len;
}
