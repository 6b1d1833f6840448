/*
 * src/tee/snp/snp_internal.h — contracts between the SEV-SNP source files.
 *
 *   report.c     report structure, TCB_VERSION layouts, product names
 *   ext.c        the AMD extensions of VCEK / VLEK certificates
 *   amd_certs.c  the built-in ARK / ASK / ASVK certificates and their pins
 *   chain.c      the X.509 step on the shared trust store (tee/trust.c):
 *                AMD's store, certificate files, the path leaf <- ASK or
 *                ASVK <- ARK at an explicit time, AMD's CRLs
 *   sig.c        the report's ECDSA P-384 signature
 *   policy.c     policy defaults and checks, measurement criteria
 *   kds.c        KDS URLs and requests, on the shared fetcher and disk
 *                cache (tee/fetch.c, tee/cache.c)
 *   verify.c     the verifier: runs the trust model's steps in order
 *   certtable.c  the certificate table a host gives with a report (GHCB)
 *   ticket.c     the SNP ticket format on the shared envelope (tee/ticket.c)
 *   validator.c  the SNP validator (an mk_validator)
 *   attester.c   the attester's endorse hook and constructor
 *   provider.c   the SNP providers on the shared interface (tee/provider.c),
 *                the simulator as a provider, "auto"
 *   provider_linux.c  configfs-tsm sev_guest and /dev/sev-guest
 *   sim.c        the simulator: its test PKI (tee/sim_pki.c), persistence
 *   sim_report.c the simulator's reports and certificate table
 *
 * Not installed; not part of the public API.
 */
#ifndef MOSAIK_SNP_INTERNAL_H
#define MOSAIK_SNP_INTERNAL_H

#include <openssl/x509.h>

#include "mosaik/snp.h"
#include "tee/tee_internal.h"

/* ---- ext.c ---- */

/* The AMD extensions, by the last arcs of their OID under
 * 1.3.6.1.4.1.3704.1 (e.g. "3.8" is ucodeSPL). */
typedef enum mk_snp_ext_id {
    MK_SNP_EXT_STRUCT_VERSION = 0, /* .1 INTEGER */
    MK_SNP_EXT_PRODUCT_NAME,       /* .2 IA5String */
    MK_SNP_EXT_BL_SPL,             /* .3.1 INTEGER */
    MK_SNP_EXT_TEE_SPL,            /* .3.2 */
    MK_SNP_EXT_SNP_SPL,            /* .3.3 */
    MK_SNP_EXT_SPL_4,              /* .3.4 reserved */
    MK_SNP_EXT_SPL_5,              /* .3.5 reserved */
    MK_SNP_EXT_SPL_6,              /* .3.6 reserved */
    MK_SNP_EXT_SPL_7,              /* .3.7 reserved */
    MK_SNP_EXT_UCODE_SPL,          /* .3.8 */
    MK_SNP_EXT_FMC_SPL,            /* .3.9 (Turin) */
    MK_SNP_EXT_HWID,               /* .4 raw bytes (or an OCTET STRING) */
    MK_SNP_EXT_CSP_ID,             /* .5 IA5String (VLEK) */
    MK_SNP_EXT_COUNT
} mk_snp_ext_id;

/* The extension an OID in dotted form names; -1 if none of AMD's. */
int mk_snp_ext_lookup(const char *oid);

/* Decode one extension's value (the extnValue OCTET STRING's contents) into
 * info, under the extension's size limits. `seen` tracks which extensions
 * were decoded: a repeated one is MK_EMALFORMED. */
int mk_snp_ext_decode(mk_snp_ext_id id, const uint8_t *v, size_t len, mk_snp_cert_info *info,
                      unsigned *seen, mk_error *err);

/* After every extension was decoded: which kind of certificate it is (hwID
 * ⇒ VCEK, csp_id ⇒ VLEK, never both), and that it has what that kind needs
 * (productName, the four SPLs; fmcSPL when structVersion >= 1). */
int mk_snp_ext_finish(unsigned seen, mk_snp_cert_info *info, mk_error *err);

/* Read every AMD extension of a certificate, plus its validity window. */
int mk_snp_cert_info_from_x509(X509 *x, mk_snp_cert_info *out, mk_error *err);

/* ---- amd_certs.c ---- */

/* The built-in certificate (borrowed; lives as long as the process), or
 * NULL for an unknown product. Parsed once, and only if its DER hashes to
 * its pin. */
X509 *mk_snp_amd_cert_x509(mk_snp_product p, mk_snp_ca which);

/* ---- chain.c ---- */

/* AMD's trust store: the three pinned ARKs (root index = product - 1,
 * MK_SNP_MILAN first), RSASSA-PSS only. */
int mk_snp_trust_new(mk_tee_trust **out, mk_error *err);

#define MK_SNP_CHAIN_MAX_CERTS 8 /* certificates read from one input */
#define MK_SNP_CERTS_MAX (MK_SNP_CERT_MAX * MK_SNP_CHAIN_MAX_CERTS)

/* Certificates read from DER (exactly one) or PEM (at most
 * MK_SNP_CHAIN_MAX_CERTS), owned. */
typedef struct mk_snp_cert_list {
    X509 *cert[MK_SNP_CHAIN_MAX_CERTS];
    size_t n;
} mk_snp_cert_list;

/* Append the certificates of data (DER or PEM, at most MK_SNP_CERTS_MAX
 * bytes) to l; MK_ETOOBIG beyond MK_SNP_CHAIN_MAX_CERTS in total. */
int mk_snp_certs_read(const uint8_t *data, size_t len, mk_snp_cert_list *l, mk_error *err);
void mk_snp_cert_list_free(mk_snp_cert_list *l);

/* What the chain step is given: AMD's store, the product whose ARK is the
 * anchor, which intermediate the leaf needs (ASK for a VCEK, ASVK for a
 * VLEK), the leaf and the other certificates offered with it (may be
 * NULL), and the simulator's store (NULL unless a simulator root is
 * trusted: a store of its own, ECDSA only). */
typedef struct mk_snp_chain_in {
    mk_tee_trust *trust;
    mk_snp_product product;
    mk_snp_ca ca;
    X509 *leaf;
    const mk_snp_cert_list *offered;
    mk_tee_trust *sim_trust;
} mk_snp_chain_in;

/* Verify leaf <- intermediate <- the product's ARK at `now` (chain.c's top
 * comment: the steps); with a simulator store, a leaf issued by another
 * name than the product's intermediate goes the simulator's way instead
 * (out->simulated set). On success out holds the chain (intermediate = the
 * one the path went through, not_after = the earliest notAfter); free it
 * with mk_tee_chain_free. Reasons name the certificate ("certificate
 * 'SEV-VLEK' expired at 2025-12-10T22:14:21Z (now 2026-06-01T00:00:00Z)"). */
int mk_snp_chain_verify(const mk_snp_chain_in *in, int64_t now, mk_tee_chain *out, mk_error *err);

/* An AMD CRL (DER or PEM): issued and RSA-PSS-signed by root, thisUpdate
 * <= now < nextUpdate; then MK_EREVOKED if it lists cert. *next_update gets
 * the CRL's nextUpdate. */
int mk_snp_crl_check(const uint8_t *crl, size_t len, X509 *root, X509 *cert, int64_t now,
                     int64_t *next_update, mk_error *err);
/* The same for a simulator's CRL (ECDSA-signed by its root). */
int mk_snp_crl_check_sim(const uint8_t *crl, size_t len, X509 *root, X509 *cert, int64_t now,
                         int64_t *next_update, mk_error *err);
/* The simulator's store: no pinned root, ECDSA only, root trusted. */
int mk_snp_sim_trust_new(const uint8_t *root_der, size_t len, mk_tee_trust **out, mk_error *err);

/* 1 if cert names issuer as its issuer and its signature verifies under
 * issuer's key (no time, no constraints: the sanity check of what is
 * fetched before it is cached), else 0. */
int mk_snp_cert_signed_by(X509 *cert, X509 *issuer);

/* ---- sig.c ---- */

/* The report's signature: r and s (little-endian, 72 bytes each) must be
 * 48-byte values in [1, n-1] of P-384 (MK_EMALFORMED otherwise); the key
 * must be an EC P-384 key (MK_EUNSUPPORTED otherwise); ECDSA over SHA-384
 * of bytes [0, 0x2A0) (MK_EBADSIG if it does not verify). */
int mk_snp_report_verify_sig(const mk_snp_report *r, EVP_PKEY *key, mk_error *err);

/* ---- policy.c ---- */

/* The policy's checks on a verified report (reasons without the "policy: "
 * prefix the verifier adds). */
int mk_snp_policy_check(const mk_snp_policy *p, const mk_snp_report *r, mk_snp_product prod,
                        mk_error *err);
/* Canonical encodings for a validator's signature: criteria as a fixed
 * 213 bytes (mask, then every field in MK_SNP_REQ_* order, unset ones
 * zero, min_guest_svn u32be), the policy as every field in order. */
#define MK_SNP_CRITERIA_ENC_LEN (1 + 48 + 32 + 48 + 48 + 16 + 16 + 4)
void mk_snp_criteria_encode(const mk_snp_criteria *c, uint8_t out[MK_SNP_CRITERIA_ENC_LEN]);
void mk_snp_policy_encode(const mk_snp_policy *p, mk_buf *b);

/* ---- certtable.c ---- */

#define MK_SNP_CERT_TABLE_MAX (64 * 1024) /* cap on a certificate table */
#define MK_SNP_CERT_TABLE_ENTRIES 16      /* entries before the terminator */

typedef enum mk_snp_cert_type {
    MK_SNP_CERT_OTHER = 0, /* a GUID that is not AMD's */
    MK_SNP_CERT_ARK,
    MK_SNP_CERT_ASK, /* also the ASVK */
    MK_SNP_CERT_VCEK,
    MK_SNP_CERT_VLEK,
    MK_SNP_CERT_CRL,
} mk_snp_cert_type;

typedef struct mk_snp_cert_entry {
    uint8_t guid[16];
    mk_snp_cert_type type;
    size_t offset, len;
    const uint8_t *data; /* into the caller's buffer */
} mk_snp_cert_entry;

typedef struct mk_snp_cert_table {
    size_t n;
    mk_snp_cert_entry e[MK_SNP_CERT_TABLE_ENTRIES];
} mk_snp_cert_table;

/* The GUID (16 bytes) of one of AMD's entry types, NULL for OTHER; and a
 * name ("VCEK"). */
const uint8_t *mk_snp_cert_guid(mk_snp_cert_type type);
const char *mk_snp_cert_type_name(mk_snp_cert_type type);
/* Parse a table (certtable.c's top comment: the rules). An empty buffer is
 * a table of no entries. On failure *t is zeroed. */
int mk_snp_cert_table_parse(const uint8_t *data, size_t len, mk_snp_cert_table *t, mk_error *err);
/* The entry of a type, or NULL. */
const mk_snp_cert_entry *mk_snp_cert_table_find(const mk_snp_cert_table *t, mk_snp_cert_type type);
/* A table of n entries (types other than OTHER, non-empty data),
 * replacing *out. */
int mk_snp_cert_table_build(const mk_snp_cert_type *types, const uint8_t *const *data,
                            const size_t *lens, size_t n, mk_buf *out, mk_error *err);
/* The leaf for `key` (VCEK or VLEK), then ASK and ARK if present, as PEM
 * appended to out (unchanged on failure); MK_ENOTFOUND without the leaf. */
int mk_snp_cert_table_to_pem(const uint8_t *data, size_t len, mk_snp_signing_key key, mk_buf *out,
                             mk_error *err);

/* ---- ticket.c ---- */

extern const mk_tee_ticket_format mk_snp_ticket_format;
/* The decompressed (CBOR) form, for the fuzz target and tests. */
int mk_snp_ticket_encode_cbor(const mk_snp_ticket *t, mk_buf *out, mk_error *err);
int mk_snp_ticket_decode_cbor(const uint8_t *data, size_t len, mk_snp_ticket *t, mk_error *err);

/* ---- sim.c, sim_report.c ---- */

struct mk_snp_sim {
    _Atomic int refs;
    EVP_PKEY *ark_key, *ask_key, *vcek_key;
    X509 *ark, *ask, *vcek;
    uint8_t *ark_der; /* the root, for verifiers told to trust it */
    size_t ark_der_len;
    char *chain_pem; /* VCEK, ASK, ARK */
    size_t chain_pem_len;
    uint8_t chip_id[MK_SNP_CHIP_ID_LEN];
};

/* A reference to sim (released by mk_snp_sim_free); returns sim. */
mk_snp_sim *mk_snp_sim_ref(mk_snp_sim *sim);
/* The simulated TCB (MK_SNP_SIM_TCB_*). */
void mk_snp_sim_tcb(mk_snp_tcb *out);
/* A simulator VCEK for key, with AMD's extensions (sim.c's top comment),
 * issued by ask; NULL on failure. */
X509 *mk_snp_sim_make_vcek(EVP_PKEY *key, const uint8_t chip_id[64], X509 *ask, EVP_PKEY *ask_key,
                           int64_t now);

/* ---- provider.c, provider_linux.c ---- */

/* The state of every SNP provider kind (mk_tee_provider.state). */
typedef struct mk_snp_provider_state {
    char *path;       /* report dir (configfs-tsm) or device (sev-guest) */
    _Atomic int vmpl; /* -1: the kernel's default */
    mk_snp_sim *sim;  /* simulator: a reference */
    mk_snp_sim_guest guest;
} mk_snp_provider_state;

extern const mk_tee_provider_ops mk_snp_provider_configfs_ops;
extern const mk_tee_provider_ops mk_snp_provider_devsev_ops;
/* A provider of an SNP kind (path copied; may be NULL); NULL when out of
 * memory. */
mk_tee_provider *mk_snp_provider_alloc(const mk_tee_provider_ops *ops, const char *path);
/* The shared destroy and measurements of every SNP kind. */
void mk_snp_provider_destroy(mk_tee_provider *p);
int mk_snp_provider_measurements(mk_tee_provider *p, mk_tee_measurements *out, mk_error *err);
/* Whether p is one of SNP's providers. */
bool mk_snp_provider_is_snp(const mk_tee_provider *p);
/* What every kind checks before handing evidence on: the report parses
 * and carries rd; the table parses (trimmed to its last certificate).
 * Reasons start with `who`. */
int mk_snp_provider_check_report(const uint8_t rd[64], const mk_buf *report, const char *who,
                                 mk_error *err);
int mk_snp_provider_check_table(mk_buf *aux, const char *who, mk_error *err);

/* The ioctl /dev/sev-guest is driven through (ioctl(2); the tests replace
 * it with a device of their own). */
extern int (*mk_snp_dev_ioctl)(int fd, unsigned long request, void *arg);

/* The structures of include/uapi/linux/sev-guest.h. */
typedef struct mk_snp_report_req {
    uint8_t user_data[64];
    uint32_t vmpl;
    uint8_t rsvd[28];
} mk_snp_report_req;
typedef struct mk_snp_ext_report_req {
    mk_snp_report_req data;
    uint64_t certs_address;
    uint32_t certs_len;
} mk_snp_ext_report_req;
typedef struct mk_snp_guest_request_ioctl {
    uint8_t msg_version;
    uint64_t req_data;
    uint64_t resp_data;
    uint64_t exitinfo2; /* bits 31:0 firmware error, 63:32 VMM error */
} mk_snp_guest_request_ioctl;
#define MK_SNP_REPORT_RESP_LEN 4000        /* struct snp_report_resp */
#define MK_SNP_GET_EXT_REPORT 0xC0205302ul /* _IOWR('S', 2, snp_guest_request_ioctl) */
#define MK_SNP_VMM_ERR_INVALID_LEN 1u
#define MK_SNP_VMM_ERR_BUSY 2u
#define MK_SNP_CERTS_PAGE 4096u

#endif
