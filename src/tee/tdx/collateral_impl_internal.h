/*
 * src/tee/tdx/collateral_impl_internal.h — how the collateral object is
 * built and verified, shared by the four files that do it:
 *
 *   collateral_json.c    loading JSON with jansson under the depth cap, and
 *                        the exact byte span of a top-level member (the
 *                        text Intel signed);
 *   collateral_parse.c   the TCB info and QE identity parsers;
 *   collateral.c         the object, its bundle and PCS input forms, the
 *                        bundle output form and the accessors;
 *   collateral_verify.c  signatures, chains, windows, CRLs, revocation and
 *                        the warm verification cache.
 *
 * Users of parsed collateral (tcb.c, verify.c, fetch.c) include
 * collateral_internal.h instead. Not installed; not part of the public API.
 */
#ifndef MOSAIK_TDX_COLLATERAL_IMPL_INTERNAL_H
#define MOSAIK_TDX_COLLATERAL_IMPL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "tee/tdx/collateral_internal.h"

/* Nesting cap of every collateral JSON text (docs/tdx-collateral.md). */
#define MK_TDX_JSON_DEPTH_MAX 16

/* ---- the object (collateral.c builds it, collateral_verify.c checks it) ---- */

struct mk_tdx_collateral {
    /* TCB info: exact signed text, signature, issuer chain, parsed. */
    char *tcb_text;
    size_t tcb_len;
    uint8_t tcb_sig[64];
    char *tcb_chain;
    mk_tdx_tcb_info *tcb;
    /* QE identity. */
    char *qe_text;
    size_t qe_len;
    uint8_t qe_sig[64];
    char *qe_chain;
    mk_tdx_qe_identity *qe;
    /* CRLs (DER kept for the bundle form). */
    uint8_t *pck_crl_der;
    size_t pck_crl_len;
    X509_CRL *pck_crl;
    int64_t pck_crl_this, pck_crl_next;
    char *pck_crl_chain;
    X509 *pck_crl_ca; /* first certificate of pck_crl_chain */
    uint8_t *root_crl_der;
    size_t root_crl_len;
    X509_CRL *root_crl;
    int64_t root_crl_this, root_crl_next;
    /* Warm verification cache (collateral_verify.c), under lock. */
    pthread_mutex_t lock;
    bool cache_ok;
    int64_t cache_from, cache_until;
    bool cache_sim;
    uint8_t cache_sim_root[32];
};

/* ---- collateral_json.c ---- */

/* Parse text as one JSON object with jansson: duplicate names refused
 * (JSON_REJECT_DUPLICATES), nesting at most MK_TDX_JSON_DEPTH_MAX
 * (MK_ETOOBIG), anything else malformed (MK_EMALFORMED, reason "JSON: ...").
 * On success *out is a new reference. */
int mk_tdx_json_load(const char *text, size_t len, json_t **out, mk_error *err);

/* The byte span [*off, *off + *vlen) of the value of the top-level member
 * whose name is spelled exactly `key` in the raw text (no escapes). `text`
 * must already have loaded with mk_tdx_json_load. *found is false when no
 * member is spelled so. These bytes, not any re-serialisation, are what
 * Intel signed. */
int mk_tdx_json_member_span(const char *text, size_t len, const char *key, bool *found, size_t *off,
                            size_t *vlen, mk_error *err);

/* ---- collateral_parse.c ---- */

/* Parse a TCB info / QE identity object (the signed inner value), checking
 * every field the TCB evaluation reads. Reasons name the field. */
int mk_tdx_tcb_info_parse(json_t *o, mk_tdx_tcb_info **out, mk_error *err);
int mk_tdx_qe_identity_parse(json_t *o, mk_tdx_qe_identity **out, mk_error *err);
void mk_tdx_tcb_info_free(mk_tdx_tcb_info *t);
void mk_tdx_qe_identity_free(mk_tdx_qe_identity *q);

#endif
