/*
 * tee/tdx/tcb.c — TCB evaluation of a TDX quote against verified collateral,
 * by Intel's current QVL rules (QuoteVerifier / TcbLevelCheck /
 * TdxModuleCheck / TDRelaunchCheck, "QVL-2024"; the 2026 refactor gives the
 * same results). The rules, with the merging of statuses, are restated in
 * docs/tdx-collateral.md ("TCB evaluation").
 *
 * Order of checks (each failure is terminal, MK_EMISMATCH):
 *   1. TCB info is a TDX v3 document and the quote is a TDX quote;
 *   2. FMSPC and PCE-ID of the PCK certificate equal the TCB info's (bytes);
 *   3. TDX module identity: the top-level tdxModule, replaced by the
 *      identity "TDX_%02X" of tee_tcb_svn[1] when that byte is > 0; the
 *      quote's MRSIGNERSEAM must equal its mrsigner, and SEAM attributes
 *      must be zero and equal to its attributes (Intel parses the mask but
 *      does not apply it);
 *   4. QE identity: id TD_QE, masked MISCSELECT and ATTRIBUTES, MRSIGNER,
 *      ISVPRODID; the QE level is the first (JSON order) with
 *      isvsvn <= the report's ISVSVN (none: "no TCB level matches");
 *   5. platform level: the first level in Intel's order (collateral_parse.c sorts)
 *      whose 16 SGX components and PCESVN are <= the PCK certificate's and
 *      whose TDX components are <= tee_tcb_svn, compared from index 2 when
 *      tee_tcb_svn[1] > 0 (the module is graded separately), else from 0;
 *   6. module level: the first module level (ISVSVN descending) with
 *      isvsvn <= tee_tcb_svn[0], only when tee_tcb_svn[1] > 0.
 * Status merging is Intel's: module OutOfDate turns UpToDate/SWHardening
 * into OutOfDate and the configuration statuses into
 * OutOfDateConfigurationNeeded; Revoked wins; for TD 1.5 bodies the
 * relaunch check may turn an OutOfDate caused by the module into
 * TDRelaunchAdvised(ConfigurationNeeded) when tee_tcb_svn2 is current; the
 * QE status is merged last the same way. Advisory IDs: the deduplicated
 * union of the platform, module and QE levels' lists, in that order.
 *
 * Pure function of its inputs; writes res only on success.
 */
#include "tee/tdx/collateral_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mosaik/encoding.h"
#include "tee/tdx/tdx_internal.h"

typedef struct adv_acc {
    size_t n;
    char ids[MK_TDX_MAX_ADVISORIES][32];
} adv_acc;

static void adv_add(adv_acc *a, const mk_tdx_advisory *adv, size_t n) {
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t k = 0; k < a->n && !dup; k++)
            dup = strcmp(a->ids[k], adv[i]) == 0;
        if (dup || a->n >= MK_TDX_MAX_ADVISORIES) continue;
        snprintf(a->ids[a->n++], sizeof a->ids[0], "%s", adv[i]);
    }
}

static bool is_config(mk_tdx_tcb_status s) {
    return s == MK_TDX_TCB_CONFIGURATION_NEEDED ||
           s == MK_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED ||
           s == MK_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED ||
           s == MK_TDX_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED;
}

/* Intel's convergeTcbStatusWith{TdxModule,Qe}TcbStatus: `other` is the
 * module or QE level status (UpToDate / OutOfDate-like / Revoked). */
static mk_tdx_tcb_status converge(mk_tdx_tcb_status s, mk_tdx_tcb_status other) {
    if (other == MK_TDX_TCB_REVOKED) return MK_TDX_TCB_REVOKED;
    if (other != MK_TDX_TCB_UP_TO_DATE) {
        if (s == MK_TDX_TCB_UP_TO_DATE || s == MK_TDX_TCB_SW_HARDENING_NEEDED)
            return MK_TDX_TCB_OUT_OF_DATE;
        if (s == MK_TDX_TCB_CONFIGURATION_NEEDED ||
            s == MK_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
            return MK_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED;
    }
    return s;
}

static const mk_tdx_module_identity *find_module(const mk_tdx_tcb_info *t, uint8_t major) {
    char want[16];
    snprintf(want, sizeof want, "TDX_%02X", major);
    for (size_t i = 0; i < t->n_module_ids; i++)
        if (strcasecmp(t->module_ids[i].id, want) == 0) return &t->module_ids[i];
    return NULL;
}

static void hex16(const uint8_t *b, char out[33]) {
    mk_hex_encode(b, 16, out);
}

static int check_module(const mk_tdx_tcb_info *t, const mk_tdx_quote *q,
                        const mk_tdx_module_identity **mod, mk_error *err) {
    const mk_tdx_module_identity *m = &t->module;
    uint8_t major = q->body.tee_tcb_svn[1];
    *mod = NULL;
    if (q->version > 3 && major > 0) {
        if (t->n_module_ids == 0)
            return mk_error_set(err, MK_EMISMATCH,
                                "TCB info has no tdxModuleIdentities for TDX module version %u",
                                major);
        m = find_module(t, major);
        if (!m)
            return mk_error_set(err, MK_EMISMATCH,
                                "TDX module identity TDX_%02X not in the TCB info", major);
        *mod = m;
    }
    if (memcmp(q->body.mr_signer_seam, m->mrsigner, 48) != 0)
        return mk_error_set(err, MK_EMISMATCH, "TDX module MRSIGNERSEAM differs from %s",
                            *mod ? m->id : "tdxModule");
    uint64_t want = 0;
    for (int i = 7; i >= 0; i--)
        want = want << 8 | m->attributes[i];
    if (q->body.seam_attributes != 0 || want != 0)
        return mk_error_set(err, MK_EMISMATCH,
                            "TDX module SEAM attributes %016llx, expected zero (%s: %016llx)",
                            (unsigned long long)q->body.seam_attributes, *mod ? m->id : "tdxModule",
                            (unsigned long long)want);
    return 0;
}

static int check_qe(const mk_tdx_qe_identity *qi, const mk_tdx_sgx_report *r,
                    const mk_tdx_isv_level **lvl, mk_error *err) {
    if (strcmp(qi->id, "TD_QE") != 0)
        return mk_error_set(err, MK_EMISMATCH, "QE identity is for \"%s\", not TD_QE", qi->id);
    if ((r->miscselect & qi->miscselect_mask) != qi->miscselect)
        return mk_error_set(err, MK_EMISMATCH, "QE MISCSELECT %08x does not match %08x/%08x",
                            r->miscselect, qi->miscselect, qi->miscselect_mask);
    for (int i = 0; i < 16; i++)
        if ((r->attributes[i] & qi->attributes_mask[i]) != qi->attributes[i])
            return mk_error_set(err, MK_EMISMATCH,
                                "QE ATTRIBUTES do not match the QE identity (byte %d)", i);
    if (memcmp(r->mr_signer, qi->mrsigner, 32) != 0)
        return mk_error_set(err, MK_EMISMATCH, "QE MRSIGNER does not match the QE identity");
    if (r->isv_prod_id != qi->isvprodid)
        return mk_error_set(err, MK_EMISMATCH, "QE ISVPRODID %u, QE identity wants %u",
                            r->isv_prod_id, qi->isvprodid);
    for (size_t i = 0; i < qi->n_levels; i++) {
        if (qi->levels[i].isvsvn <= r->isv_svn) {
            *lvl = &qi->levels[i];
            return 0;
        }
    }
    return mk_error_set(err, MK_EMISMATCH,
                        "no TCB level matches (QE ISVSVN %u is below every QE identity level)",
                        r->isv_svn);
}

static bool sgx_ok(const mk_tdx_tcb_level *l, const mk_tdx_pck_ext *ext) {
    for (int i = 0; i < 16; i++)
        if (ext->sgx_tcb_comp[i] < l->sgx[i]) return false;
    return ext->pcesvn >= l->pcesvn;
}

static bool tdx_ok(const mk_tdx_tcb_level *l, const uint8_t svn[16], int start) {
    for (int i = start; i < 16; i++)
        if (svn[i] < l->tdx[i]) return false;
    return true;
}

/* The TD 1.5 relaunch check (TDRelaunchCheck.cpp); returns the new
 * status, or MK_EMISMATCH. */
static int relaunch(const mk_tdx_tcb_info *t, const mk_tdx_quote *q, mk_tdx_tcb_status sgx,
                    mk_tdx_tcb_status tdx, mk_tdx_tcb_status module, const mk_tdx_isv_level *qe,
                    mk_tdx_tcb_status *out, mk_error *err) {
    *out = tdx;
    if (q->body_type != MK_TDX_BODY_TD15) return 0;
    if (qe && qe->status != MK_TDX_TCB_UP_TO_DATE) return 0;
    if (!(sgx == MK_TDX_TCB_UP_TO_DATE || sgx == MK_TDX_TCB_SW_HARDENING_NEEDED ||
          sgx == MK_TDX_TCB_CONFIGURATION_NEEDED ||
          sgx == MK_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED))
        return 0;
    if (tdx != MK_TDX_TCB_OUT_OF_DATE && tdx != MK_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED)
        return 0;
    if (module != MK_TDX_TCB_OUT_OF_DATE) return 0;
    const mk_tdx_tcb_level *latest = &t->levels[0];
    const uint8_t *svn2 = q->body.tee_tcb_svn2;
    bool ok;
    if (svn2[1] == 0) {
        ok = svn2[0] >= latest->tdx[0] && svn2[2] >= latest->tdx[2];
    } else {
        const mk_tdx_module_identity *m2 = find_module(t, svn2[1]);
        if (!m2)
            return mk_error_set(err, MK_EMISMATCH,
                                "TDX module identity TDX_%02X (tee_tcb_svn2) not in the TCB info",
                                svn2[1]);
        ok = svn2[0] >= m2->levels[0].isvsvn && svn2[2] >= latest->tdx[2];
    }
    if (ok)
        *out = (is_config(sgx) || is_config(tdx))
                   ? MK_TDX_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED
                   : MK_TDX_TCB_TD_RELAUNCH_ADVISED;
    return 0;
}

int mk_tdx_tcb_evaluate(const mk_tdx_collateral *c, const mk_tdx_quote *q,
                        const mk_tdx_pck_ext *ext, mk_tdx_result *res, mk_error *err) {
    if (!c || !q || !ext || !res) return mk_error_set(err, MK_EINVAL, "TCB: missing argument");
    const mk_tdx_tcb_info *t = mk_tdx_collateral_tcb_info(c);
    const mk_tdx_qe_identity *qi = mk_tdx_collateral_qe_identity(c);
    if (!t) return mk_error_set(err, MK_ENOTFOUND, "TCB: collateral has no TCB info");
    char a[33], b[33];

    /* 1-2. Document kind, FMSPC, PCE-ID. */
    if (!t->is_tdx || t->version < 3)
        return mk_error_set(err, MK_EMISMATCH, "TCB info is not a TDX (v3) TCB info");
    if (q->tee_type != MK_TDX_TEE_TYPE || q->version < 4)
        return mk_error_set(err, MK_EMISMATCH, "TCB: not a TDX v4/v5 quote");
    if (memcmp(t->fmspc, ext->fmspc, 6) != 0) {
        mk_hex_encode(ext->fmspc, 6, a);
        mk_hex_encode(t->fmspc, 6, b);
        return mk_error_set(err, MK_EMISMATCH, "FMSPC mismatch: PCK certificate %s, TCB info %s", a,
                            b);
    }
    if (memcmp(t->pce_id, ext->pce_id, 2) != 0) {
        mk_hex_encode(ext->pce_id, 2, a);
        mk_hex_encode(t->pce_id, 2, b);
        return mk_error_set(err, MK_EMISMATCH, "PCE-ID mismatch: PCK certificate %s, TCB info %s",
                            a, b);
    }

    /* 3. TDX module identity. */
    const mk_tdx_module_identity *mod;
    MK_TRY(check_module(t, q, &mod, err));

    /* 4. QE identity (absent: not graded; verify.c requires it). */
    const mk_tdx_isv_level *qe_lvl = NULL;
    if (qi) MK_TRY(check_qe(qi, &q->qe_report, &qe_lvl, err));

    /* 5. Platform level. */
    const uint8_t *svn = q->body.tee_tcb_svn;
    int start = svn[1] > 0 ? 2 : 0;
    const mk_tdx_tcb_level *sgx_lvl = NULL, *tdx_lvl = NULL;
    for (size_t i = 0; i < t->n_levels && !tdx_lvl; i++) {
        const mk_tdx_tcb_level *l = &t->levels[i];
        if (!sgx_ok(l, ext)) continue;
        if (!sgx_lvl) sgx_lvl = l;
        if (tdx_ok(l, svn, start)) tdx_lvl = l;
    }
    if (!sgx_lvl) {
        hex16(ext->sgx_tcb_comp, a);
        return mk_error_set(err, MK_EMISMATCH,
                            "no TCB level matches (PCK SGX components %s, PCESVN %u are below "
                            "every level of the TCB info)",
                            a, ext->pcesvn);
    }
    if (!tdx_lvl) {
        hex16(svn, a);
        return mk_error_set(err, MK_EMISMATCH,
                            "no TCB level matches (TEE TCB SVN %s, compared from index %d, is "
                            "below every level whose SGX components match)",
                            a, start);
    }

    /* 6. Module level. */
    const mk_tdx_isv_level *mod_lvl = NULL;
    mk_tdx_tcb_status module = MK_TDX_TCB_UP_TO_DATE;
    if (mod) {
        for (size_t i = 0; i < mod->n_levels && !mod_lvl; i++)
            if (svn[0] >= mod->levels[i].isvsvn) mod_lvl = &mod->levels[i];
        if (!mod_lvl)
            return mk_error_set(err, MK_EMISMATCH,
                                "no TCB level matches (TDX module %s ISVSVN %u is below every "
                                "module level)",
                                mod->id, svn[0]);
        module = mod_lvl->status;
    }

    /* Merge. */
    mk_tdx_tcb_status platform = tdx_lvl->status;
    mk_tdx_tcb_status st = converge(platform, module);
    if (st != MK_TDX_TCB_REVOKED)
        MK_TRY(relaunch(t, q, sgx_lvl->status, st, module, qe_lvl, &st, err));
    if (st != MK_TDX_TCB_REVOKED && qe_lvl) st = converge(st, qe_lvl->status);

    adv_acc acc;
    acc.n = 0;
    adv_add(&acc, tdx_lvl->adv, tdx_lvl->n_adv);
    if (mod_lvl) adv_add(&acc, mod_lvl->adv, mod_lvl->n_adv);
    if (qe_lvl) adv_add(&acc, qe_lvl->adv, qe_lvl->n_adv);

    res->tcb_status = st;
    res->platform_status = platform;
    res->qe_status = qe_lvl ? qe_lvl->status : MK_TDX_TCB_UNKNOWN;
    res->n_advisories = acc.n;
    memcpy(res->advisory_ids, acc.ids, sizeof acc.ids);
    return 0;
}
