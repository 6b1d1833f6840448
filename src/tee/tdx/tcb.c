/*
 * tee/tdx/tcb.c — TCB evaluation of a TDX quote against verified collateral,
 * by Intel's QVL v1.27 (the newest: QuoteVerifier, EvaluateTcb,
 * TcbLevelCheck, TdxModuleCheck, TDRelaunchCheck). The rules, each with its
 * source, the what-if cases and the reasons for following v1.27 rather than
 * the older relaunch rule are in docs/tdx-tcb-rules.md.
 *
 * Order of checks (each failure is terminal, MK_EMISMATCH):
 *   1. TCB info is a TDX v3 document and the quote is a TDX quote (I1);
 *   2. FMSPC and PCE-ID of the PCK certificate equal the TCB info's (I2);
 *   3. TDX module identity (I3): the top-level tdxModule, replaced by the
 *      identity "TDX_%02X" of tee_tcb_svn[1] when that byte is > 0; the
 *      quote's MRSIGNERSEAM must equal its mrsigner, and SEAM attributes
 *      must be zero and equal to its attributes (Intel parses the mask but
 *      does not apply it);
 *   4. QE identity (I4): id TD_QE, masked MISCSELECT and ATTRIBUTES,
 *      MRSIGNER, ISVPRODID; the QE level is the first (JSON order) with
 *      isvsvn <= the report's ISVSVN (none: "no TCB level matches");
 *   5. the launch evaluation of tee_tcb_svn (I6-I9): the platform level is
 *      the first level in Intel's order (collateral_parse.c sorts) whose 16
 *      SGX components and PCESVN are <= the PCK certificate's and whose TDX
 *      components are <= the SVNs, compared from index 2 when SVN[1] > 0
 *      (the module is graded separately), else from 0; the module level is
 *      the first level (ISVSVN descending) of the identity TDX_<SVN[1]> with
 *      isvsvn <= SVN[0], only when SVN[1] > 0; the platform status is
 *      converged with the module's and the QE's (a component OutOfDate turns
 *      UpToDate/SWHardeningNeeded into OutOfDate and the configuration
 *      statuses into OutOfDateConfigurationNeeded; a component Revoked makes
 *      it Revoked);
 *   6. for TD 1.5 bodies, the same evaluation of tee_tcb_svn2 (the current
 *      module), whose failure is final; then the relaunch rule (I10'): a
 *      launch status OutOfDate(ConfigurationNeeded) with a current status
 *      UpToDate, SWHardeningNeeded or a configuration status becomes
 *      TDRelaunchAdvised(ConfigurationNeeded).
 * Advisory IDs (I11): the launch evaluation's platform, QE and module
 * levels' IDs, deduplicated and sorted bytewise (Intel's std::set).
 *
 * Pure function of its inputs; writes res only on success. The statuses'
 * names (Intel's, as in the collateral: "UpToDate", ...) are here too.
 */
#include "tee/tdx/collateral_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mosaik/encoding.h"
#include "tee/tdx/tdx_internal.h"

static const char *const status_names[MK_TDX_TCB_STATUS_COUNT] = {
    [MK_TDX_TCB_UP_TO_DATE] = "UpToDate",
    [MK_TDX_TCB_SW_HARDENING_NEEDED] = "SWHardeningNeeded",
    [MK_TDX_TCB_CONFIGURATION_NEEDED] = "ConfigurationNeeded",
    [MK_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED] = "ConfigurationAndSWHardeningNeeded",
    [MK_TDX_TCB_OUT_OF_DATE] = "OutOfDate",
    [MK_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED] = "OutOfDateConfigurationNeeded",
    [MK_TDX_TCB_TD_RELAUNCH_ADVISED] = "TDRelaunchAdvised",
    [MK_TDX_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED] = "TDRelaunchAdvisedConfigurationNeeded",
    [MK_TDX_TCB_REVOKED] = "Revoked",
};

const char *mk_tdx_tcb_status_name(mk_tdx_tcb_status s) {
    if ((int)s < 0 || s >= MK_TDX_TCB_STATUS_COUNT) return "Unknown";
    return status_names[s];
}

int mk_tdx_tcb_status_parse(const char *name, mk_tdx_tcb_status *out) {
    if (!name || !out) return MK_EINVAL;
    for (int i = 0; i < MK_TDX_TCB_STATUS_COUNT; i++) {
        if (strcasecmp(name, status_names[i]) == 0) {
            *out = (mk_tdx_tcb_status)i;
            return 0;
        }
    }
    return MK_ENOTFOUND;
}

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

/* Advisory IDs sort as Intel's std::set<std::string> does (bytes). */
static int adv_cmp(const void *x, const void *y) {
    return strcmp((const char *)x, (const char *)y);
}

static bool is_config(mk_tdx_tcb_status s) {
    return s == MK_TDX_TCB_CONFIGURATION_NEEDED ||
           s == MK_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED ||
           s == MK_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED ||
           s == MK_TDX_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED;
}

/* Intel's convergeTcbStatuses (QVL v1.27 EvaluateTcb.cpp): a module or QE
 * level OutOfDate turns UpToDate/SWHardeningNeeded into OutOfDate and the
 * configuration statuses into OutOfDateConfigurationNeeded; a Revoked one
 * makes the result Revoked. Other component statuses change nothing. */
static mk_tdx_tcb_status converge(mk_tdx_tcb_status s, mk_tdx_tcb_status module,
                                  mk_tdx_tcb_status qe) {
    if (module == MK_TDX_TCB_OUT_OF_DATE || qe == MK_TDX_TCB_OUT_OF_DATE) {
        if (s == MK_TDX_TCB_UP_TO_DATE || s == MK_TDX_TCB_SW_HARDENING_NEEDED)
            s = MK_TDX_TCB_OUT_OF_DATE;
        else if (s == MK_TDX_TCB_CONFIGURATION_NEEDED ||
                 s == MK_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
            s = MK_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED;
    }
    if (module == MK_TDX_TCB_REVOKED || qe == MK_TDX_TCB_REVOKED) s = MK_TDX_TCB_REVOKED;
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

/* One TDX evaluation (QVL v1.27 EvaluateTcb.cpp tdxEvaluateTCB) of one TEE
 * TCB SVN vector: its platform level, its module level, the QE level, the
 * converged status and the advisory IDs. `which` names the vector in
 * reasons ("" for tee_tcb_svn, " (tee_tcb_svn2)"). */
typedef struct eval {
    mk_tdx_tcb_status status, platform;
    adv_acc adv;
} eval;

/* Platform level: the first level (Intel's order) whose SGX components and
 * PCESVN are <= the PCK certificate's and whose TDX components are <= svn,
 * compared from index 2 when svn[1] > 0, else from 0. */
static int platform_level(const mk_tdx_tcb_info *t, const mk_tdx_pck_ext *ext,
                          const uint8_t svn[16], const char *which, const mk_tdx_tcb_level **out,
                          mk_error *err) {
    int start = svn[1] > 0 ? 2 : 0;
    bool any_sgx = false;
    char a[33];
    *out = NULL;
    for (size_t i = 0; i < t->n_levels; i++) {
        const mk_tdx_tcb_level *l = &t->levels[i];
        if (!sgx_ok(l, ext)) continue;
        any_sgx = true;
        if (tdx_ok(l, svn, start)) {
            *out = l;
            return 0;
        }
    }
    if (!any_sgx) {
        hex16(ext->sgx_tcb_comp, a);
        return mk_error_set(err, MK_EMISMATCH,
                            "no TCB level matches (PCK SGX components %s, PCESVN %u are below "
                            "every level of the TCB info)",
                            a, ext->pcesvn);
    }
    hex16(svn, a);
    return mk_error_set(err, MK_EMISMATCH,
                        "no TCB level matches (TEE TCB SVN%s %s, compared from index %d, is "
                        "below every level whose SGX components match)",
                        which, a, start);
}

/* Module level: only when svn[1] > 0, the first level (ISVSVN descending)
 * of the identity TDX_<svn[1]> with isvsvn <= svn[0]; NULL otherwise. */
static int module_level(const mk_tdx_tcb_info *t, const uint8_t svn[16], const char *which,
                        const mk_tdx_isv_level **out, mk_error *err) {
    *out = NULL;
    if (svn[1] == 0) return 0;
    const mk_tdx_module_identity *m = find_module(t, svn[1]);
    if (!m)
        return mk_error_set(err, MK_EMISMATCH, "TDX module identity TDX_%02X%s not in the TCB info",
                            svn[1], which);
    for (size_t i = 0; i < m->n_levels; i++) {
        if (svn[0] >= m->levels[i].isvsvn) {
            *out = &m->levels[i];
            return 0;
        }
    }
    return mk_error_set(err, MK_EMISMATCH,
                        "no TCB level matches (TDX module %s ISVSVN %u%s is below every module "
                        "level)",
                        m->id, svn[0], which);
}

static int evaluate(const mk_tdx_tcb_info *t, const mk_tdx_pck_ext *ext, const uint8_t svn[16],
                    const mk_tdx_isv_level *qe_lvl, const char *which, eval *out, mk_error *err) {
    const mk_tdx_tcb_level *lvl;
    const mk_tdx_isv_level *mod_lvl;
    MK_TRY(platform_level(t, ext, svn, which, &lvl, err));
    MK_TRY(module_level(t, svn, which, &mod_lvl, err));
    out->platform = lvl->status;
    out->status = converge(lvl->status, mod_lvl ? mod_lvl->status : MK_TDX_TCB_UP_TO_DATE,
                           qe_lvl ? qe_lvl->status : MK_TDX_TCB_UP_TO_DATE);
    out->adv.n = 0;
    adv_add(&out->adv, lvl->adv, lvl->n_adv);
    if (qe_lvl) adv_add(&out->adv, qe_lvl->adv, qe_lvl->n_adv);
    if (mod_lvl) adv_add(&out->adv, mod_lvl->adv, mod_lvl->n_adv);
    qsort(out->adv.ids, out->adv.n, sizeof out->adv.ids[0], adv_cmp);
    return 0;
}

/* QVL v1.27 TDRelaunchCheck.cpp checkForRelaunch(launch, current). */
static mk_tdx_tcb_status relaunch(mk_tdx_tcb_status launch, mk_tdx_tcb_status current) {
    if (launch != MK_TDX_TCB_OUT_OF_DATE && launch != MK_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED)
        return launch;
    if (current != MK_TDX_TCB_UP_TO_DATE && current != MK_TDX_TCB_SW_HARDENING_NEEDED &&
        current != MK_TDX_TCB_CONFIGURATION_NEEDED &&
        current != MK_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
        return launch;
    return is_config(launch) || is_config(current)
               ? MK_TDX_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED
               : MK_TDX_TCB_TD_RELAUNCH_ADVISED;
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

    /* 5-6. The launch evaluation (tee_tcb_svn); for TD 1.5 bodies also the
     * current one (tee_tcb_svn2), whose failure is final, then the
     * relaunch rule. */
    eval launch, current;
    MK_TRY(evaluate(t, ext, q->body.tee_tcb_svn, qe_lvl, "", &launch, err));
    mk_tdx_tcb_status st = launch.status;
    if (q->body_type == MK_TDX_BODY_TD15) {
        MK_TRY(evaluate(t, ext, q->body.tee_tcb_svn2, qe_lvl, " (tee_tcb_svn2)", &current, err));
        st = relaunch(launch.status, current.status);
    }

    res->tcb_status = st;
    res->platform_status = launch.platform;
    res->qe_status = qe_lvl ? qe_lvl->status : MK_TDX_TCB_UNKNOWN;
    res->n_advisories = launch.adv.n;
    memcpy(res->advisory_ids, launch.adv.ids, sizeof launch.adv.ids);
    return 0;
}
