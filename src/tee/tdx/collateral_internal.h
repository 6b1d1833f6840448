/*
 * src/tee/tdx/collateral_internal.h — the parsed form of the collateral
 * documents, shared by the collateral files (collateral_parse.c builds it,
 * see collateral_impl_internal.h) and tcb.c and verify.c (which read it).
 * Not installed.
 *
 * Everything here is immutable once the collateral object is built. TCB
 * levels are stored in Intel's evaluation order (QVL: SGX component vector,
 * then PCESVN, then TDX component vector, all descending); module identity
 * levels by ISVSVN descending; QE identity levels in JSON order.
 */
#ifndef MOSAIK_TDX_COLLATERAL_INTERNAL_H
#define MOSAIK_TDX_COLLATERAL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "mosaik/tdx.h"
#include "tee/tdx/tdx_internal.h"

#define MK_TDX_ADVISORY_LEN 32         /* bytes per advisory id, NUL included */
#define MK_TDX_TCB_LEVELS_MAX 256      /* cap on tcbLevels entries per document */
#define MK_TDX_MODULE_IDS_MAX 32       /* cap on tdxModuleIdentities */
#define MK_TDX_LEVEL_ADVISORIES_MAX 64 /* cap on advisoryIDs per level */

typedef char mk_tdx_advisory[MK_TDX_ADVISORY_LEN];

/* A level graded by one ISVSVN (TDX module identity levels, QE levels). */
typedef struct mk_tdx_isv_level {
    uint16_t isvsvn;
    mk_tdx_tcb_status status;
    int64_t tcb_date;
    size_t n_adv;
    mk_tdx_advisory *adv;
} mk_tdx_isv_level;

/* tdxModule (levels empty) or one entry of tdxModuleIdentities. */
typedef struct mk_tdx_module_identity {
    char id[16]; /* "TDX_01"; empty for the top-level tdxModule */
    uint8_t mrsigner[48];
    uint8_t attributes[8];
    uint8_t attributes_mask[8];
    size_t n_levels;
    mk_tdx_isv_level *levels;
} mk_tdx_module_identity;

/* One platform TCB level. */
typedef struct mk_tdx_tcb_level {
    uint8_t sgx[16];
    uint16_t pcesvn;
    uint8_t tdx[16];
    mk_tdx_tcb_status status;
    int64_t tcb_date;
    size_t n_adv;
    mk_tdx_advisory *adv;
} mk_tdx_tcb_level;

typedef struct mk_tdx_tcb_info {
    bool is_tdx; /* id "TDX" (else "SGX") */
    int version;
    int64_t issue_date, next_update;
    uint8_t fmspc[6];
    uint8_t pce_id[2];
    uint32_t eval_number;
    bool has_module;
    mk_tdx_module_identity module; /* tdxModule */
    size_t n_module_ids;
    mk_tdx_module_identity *module_ids; /* tdxModuleIdentities (may be 0) */
    size_t n_levels;
    mk_tdx_tcb_level *levels;
} mk_tdx_tcb_info;

typedef struct mk_tdx_qe_identity {
    char id[16]; /* "TD_QE" */
    int version;
    int64_t issue_date, next_update;
    uint32_t eval_number;
    uint32_t miscselect, miscselect_mask;
    uint8_t attributes[16], attributes_mask[16];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    size_t n_levels;
    mk_tdx_isv_level *levels;
} mk_tdx_qe_identity;

/* Parsed documents of a collateral object (NULL when absent). */
const mk_tdx_tcb_info *mk_tdx_collateral_tcb_info(const mk_tdx_collateral *c);
const mk_tdx_qe_identity *mk_tdx_collateral_qe_identity(const mk_tdx_collateral *c);

/* Verify one signed JSON document alone: its issuer chain to a root of t,
 * the signature over the exact text, issueDate <= now < nextUpdate, and (if
 * the collateral has a root CA CRL) that the signer is not revoked. For
 * tests and diagnostics; mk_tdx_collateral_verify checks everything. */
typedef enum mk_tdx_doc { MK_TDX_DOC_TCB_INFO = 1, MK_TDX_DOC_QE_IDENTITY = 2 } mk_tdx_doc;
int mk_tdx_collateral_verify_doc(const mk_tdx_collateral *c, mk_tee_trust *t, mk_tdx_doc which,
                                 int64_t now, mk_error *err);

/* Intel's status names: the same as the public mk_tdx_tcb_status_name (which
 * verify.c owns and this calls). Returns "Unknown" for values outside the
 * enum. */
const char *mk_tdx_status_str(mk_tdx_tcb_status s);

#endif
