/*
 * src/tee/tdx/sim_internal.h — the TDX simulator's parts, shared by its
 * files (docs/tdx-simulator.md):
 *
 *   sim.c             the simulator object: construction, the signed QE
 *                     report, persistence, reference counting;
 *   sim_pki.c         the test PKI on the shared one (tee/sim_pki.c): the
 *                     chain's names and shape, the SGX extension;
 *   sim_quote.c       the simulated TD and its quotes;
 *   sim_collateral.c  TCB info and QE identity texts, signed, as a bundle.
 *
 * provider.c reaches the simulator through tdx_provider_internal.h only.
 * Not installed; not part of the public API.
 */
#ifndef MOSAIK_TDX_SIM_INTERNAL_H
#define MOSAIK_TDX_SIM_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mosaik/bytes.h"
#include "mosaik/error.h"
#include "mosaik/tdx_provider.h"

#define MK_TDX_SIM_QE_REPORT_LEN 384 /* an SGX report body */
#define MK_TDX_SIM_QE_AUTH_LEN 32    /* QE auth data: bytes 0, 1, ..., 31 */
#define MK_TDX_SIM_QE_ISVSVN 6
#define MK_TDX_SIM_QE_ISVPRODID 2
#define MK_TDX_SIM_PCESVN 11    /* PCESVN of the PCK certificate = the UpToDate level */
#define MK_TDX_SIM_OLD_PCESVN 5 /* the OutOfDate level */

/* SGX TCB components 1..16 of the PCK certificate (= the UpToDate level),
 * those of the OutOfDate level, the TDX components of the two levels
 * (module svn 6, major 1, microcode 3 for UpToDate), and the FMSPC. */
extern const uint8_t mk_tdx_sim_sgx_comps[16];
extern const uint8_t mk_tdx_sim_old_sgx_comps[16];
extern const uint8_t mk_tdx_sim_tdx_comps[16];
extern const uint8_t mk_tdx_sim_old_tdx_comps[16];
extern const uint8_t mk_tdx_sim_fmspc[6];

struct mk_tdx_sim {
    atomic_int refs;
    EVP_PKEY *root_key, *pck_ca_key, *pck_key, *tcb_key, *att_key;
    X509 *root, *pck_ca, *pck, *tcb;
    uint8_t *root_der;
    size_t root_der_len;
    char *pck_chain; /* leaf, CA, root */
    size_t pck_chain_len;
    char *tcb_chain;    /* TCB signing, root */
    char *pck_ca_chain; /* PCK CA, root */
    uint8_t att_pub[64];
    uint8_t qe_report[MK_TDX_SIM_QE_REPORT_LEN];
    uint8_t qe_report_sig[64];
    uint8_t qe_mrsigner[32];
};

/* ---- sim.c ---- */

/* Write the simulated QE's auth data (the bytes 0, 1, ..., 31) to w;
 * returns the writer's status. */
int mk_tdx_sim_qe_auth(mk_writer *w);

/* ---- sim_pki.c ---- */

typedef enum mk_tdx_sim_cert_kind {
    MK_TDX_SIM_CERT_ROOT, /* self-signed CA, pathlen 1 */
    MK_TDX_SIM_CERT_CA,   /* CA, pathlen 0 */
    MK_TDX_SIM_CERT_PCK,  /* leaf with the SGX extension */
    MK_TDX_SIM_CERT_TCB,  /* leaf: TCB signing */
} mk_tdx_sim_cert_kind;

/* Certificate subject names (each also carries O = MK_TDX_SIM_ORG). */
#define MK_TDX_SIM_ORG "mosaik (SIMULATED TDX, not Intel)"
#define MK_TDX_SIM_CN_ROOT "mosaik simulated SGX Root CA"
#define MK_TDX_SIM_CN_PCK_CA "mosaik simulated PCK Platform CA"
#define MK_TDX_SIM_CN_PCK "mosaik simulated SGX PCK Certificate"
#define MK_TDX_SIM_CN_TCB "mosaik simulated SGX TCB Signing"

/* A new P-256 key (NULL on failure). */
EVP_PKEY *mk_tdx_sim_keygen(void);
/* ECDSA-P256-SHA256 over msg, raw r||s. */
int mk_tdx_sim_sign(EVP_PKEY *key, const void *msg, size_t len, uint8_t sig[64], mk_error *err);
/* Raw x||y of a P-256 key. */
int mk_tdx_sim_pub_raw(EVP_PKEY *key, uint8_t out[64], mk_error *err);
/* A certificate of `kind` for `key`, issued by issuer/issuer_key (the
 * certificate itself for a root), valid [now - 1 day, now + 10 years),
 * with a random positive 128-bit serial. NULL on failure. */
X509 *mk_tdx_sim_make_cert(mk_tdx_sim_cert_kind kind, const char *cn, EVP_PKEY *key, X509 *issuer,
                           EVP_PKEY *issuer_key, int64_t now);
/* CRLs and PEM chains are the shared simulator PKI's (tee/tee_internal.h:
 * mk_tee_sim_crl, mk_tee_sim_pem_chain). */

#endif
