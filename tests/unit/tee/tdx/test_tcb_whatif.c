/*
 * tests/unit/tee/tdx/test_tcb_whatif.c — the TDX TCB what-if table
 * (tests/data/tdx-tcb-whatif.tsv): every row names the case, the outcome by
 * Intel's rule (docs/tdx-tcb-rules.md), the rule and its source, and what
 * dcap-qvl says. This program holds the input of each row (a function per
 * id: a real quote and collateral, changed in memory, or a synthetic TCB
 * info / QE identity) and checks the row's outcome and advisory IDs
 * against mk_tdx_tcb_evaluate (rows 1 and 2: mk_tdx_verify on the real,
 * unchanged documents, the ones tests/cli/tdx_dcap_qvl.sh gives dcap-qvl).
 * A row without an input here, or an input without a row, fails the test,
 * so the table and the code cannot drift apart.
 *
 * Synthetic documents are parsed, not verified (mk_tdx_collateral_from_pcs
 * accepts unsigned text; the signature path is test_verify_collateral's):
 * FMSPC b0c06f000000 and PCE-ID 0000 as the phala-v4 quote's PCK, whose SGX
 * component 0 is 3, PCESVN 11, TEE TCB SVN 06 01 03.
 */
#include "test_util.h"

#include <stdarg.h>

#include <curl/curl.h>
#include <jansson.h>

#include "tee/tdx/collateral_internal.h"
#include "tee/tdx/tdx_internal.h"

#define PHALA_T 1752919234

typedef struct sample {
    mk_buf raw;
    mk_tdx_quote q;
    mk_tdx_pck_ext ext;
    mk_tdx_pck_ca ca;
} sample;

static void load_sample(const char *rel, int64_t now, sample *s) {
    mk_error err;
    mk_error_clear(&err);
    memset(s, 0, sizeof *s);
    tu_read_testdata(rel, &s->raw);
    TU_ASSERT_RC(mk_tdx_quote_parse(s->raw.data, s->raw.len, &s->q, &err), 0, &err);
    mk_tee_trust *t = mk_tdx_trust_new();
    mk_tee_chain ch;
    TU_ASSERT_RC(mk_tee_chain_verify_pem(t, (const char *)s->q.pck_chain_pem, s->q.pck_chain_len,
                                         now, &ch, &err),
                 0, &err);
    TU_ASSERT_RC(mk_tdx_pck_from_cert(ch.leaf, ch.intermediate, &s->ext, &s->ca, &err), 0, &err);
    mk_tee_chain_free(&ch);
    mk_tee_trust_free(t);
}

static mk_tdx_collateral *bundle_coll(const char *rel) {
    mk_buf b = MK_BUF_INIT;
    tu_read_testdata(rel, &b);
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_bundle((const char *)b.data, b.len, &c, &err), 0, &err);
    mk_buf_free(&b);
    return c;
}

static mk_tdx_collateral *pcs_text(const char *tcb, const char *qe) {
    mk_tdx_pcs_responses r;
    memset(&r, 0, sizeof r);
    r.tcb_info_body = tcb;
    r.tcb_info_len = strlen(tcb);
    if (qe) {
        r.qe_identity_body = qe;
        r.qe_identity_len = strlen(qe);
    }
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_pcs(&r, &c, &err), 0, &err);
    return c;
}

static mk_tdx_collateral *pcs_files(const char *tcb_rel, const char *qe_rel) {
    mk_buf tcb = MK_BUF_INIT, qe = MK_BUF_INIT;
    tu_read_testdata(tcb_rel, &tcb);
    if (qe_rel) tu_read_testdata(qe_rel, &qe);
    assert_int_equal(mk_buf_append(&tcb, "", 1), 0);
    if (qe_rel) assert_int_equal(mk_buf_append(&qe, "", 1), 0);
    mk_tdx_collateral *c = pcs_text((const char *)tcb.data, qe_rel ? (const char *)qe.data : NULL);
    mk_buf_free(&tcb);
    mk_buf_free(&qe);
    return c;
}

/* ------------------------------------------------------------------ */
/* Synthetic documents                                                  */
/* ------------------------------------------------------------------ */

/* "a,b" -> ,"advisoryIDs":["a","b"] (empty for NULL). */
static void adv_json(const char *csv, char *out, size_t n) {
    out[0] = 0;
    if (!csv) return;
    size_t k = (size_t)snprintf(out, n, ",\"advisoryIDs\":[\"");
    for (const char *p = csv; *p && k + 4 < n; p++)
        k += (size_t)snprintf(out + k, n - k, *p == ',' ? "\",\"" : "%c", *p);
    snprintf(out + k, n - k, "\"]");
}

static void comps(char *out, size_t n, const int v[4]) {
    size_t k = (size_t)snprintf(out, n, "[");
    for (int i = 0; i < 16; i++)
        k += (size_t)snprintf(out + k, n - k, "%s{\"svn\":%d}", i ? "," : "", i < 4 ? v[i] : 0);
    snprintf(out + k, n - k, "]");
}

/* A platform level: SGX component 0, PCESVN, TDX components 0..3. */
typedef struct lv {
    int sgx0, pce, tdx[4];
    const char *status, *adv;
} lv;

static void level_json(const lv *l, char *out, size_t n) {
    char sgx[600], tdx[600], adv[256];
    comps(sgx, sizeof sgx, (const int[4]){l->sgx0, 0, 0, 0});
    comps(tdx, sizeof tdx, l->tdx);
    adv_json(l->adv, adv, sizeof adv);
    snprintf(out, n,
             "{\"tcb\":{\"sgxtcbcomponents\":%s,\"pcesvn\":%d,\"tdxtcbcomponents\":%s},"
             "\"tcbDate\":\"2024-01-01T00:00:00Z\",\"tcbStatus\":\"%s\"%s}",
             sgx, l->pce, tdx, l->status, adv);
}

/* An ISV level (module or QE). */
typedef struct iv {
    int isvsvn;
    const char *status, *adv;
} iv;

static void isv_levels(const iv *l, size_t n, char *out, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char adv[256];
        adv_json(l[i].adv, adv, sizeof adv);
        k += (size_t)snprintf(out + k, cap - k,
                              "%s{\"tcb\":{\"isvsvn\":%d},\"tcbDate\":\"2024-01-01T00:00:00Z\","
                              "\"tcbStatus\":\"%s\"%s}",
                              i ? "," : "", l[i].isvsvn, l[i].status, adv);
    }
}

#define Z96                                                                                        \
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" \
    "0000"
#define O96                                                                                        \
    "01010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101" \
    "0101"

typedef struct synth {
    lv levels[4];
    size_t n_levels;
    iv module[3]; /* TDX_01's levels */
    size_t n_module;
    const char *tdx_module_mrsigner, *identity_mrsigner; /* NULL: zeros */
    iv qe[3];                                            /* n_qe 0: no QE identity */
    size_t n_qe;
    const char *qe_attributes; /* NULL: phala's */
} synth;

static mk_tdx_collateral *make(const synth *s) {
    static char tcb[16384], qe[4096];
    char levels[8192] = "", mods[1024], one[1400];
    size_t k = 0;
    for (size_t i = 0; i < s->n_levels; i++) {
        level_json(&s->levels[i], one, sizeof one);
        k += (size_t)snprintf(levels + k, sizeof levels - k, "%s%s", i ? "," : "", one);
    }
    isv_levels(s->module, s->n_module, mods, sizeof mods);
    snprintf(tcb, sizeof tcb,
             "{\"tcbInfo\":{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"2025-01-01T00:00:00Z\","
             "\"nextUpdate\":\"2025-02-01T00:00:00Z\",\"fmspc\":\"b0c06f000000\",\"pceId\":"
             "\"0000\",\"tcbType\":0,\"tcbEvaluationDataNumber\":1,\"tdxModule\":{\"mrsigner\":"
             "\"%s\",\"attributes\":\"0000000000000000\",\"attributesMask\":\"FFFFFFFFFFFFFFFF\"},"
             "\"tdxModuleIdentities\":[{\"id\":\"TDX_01\",\"mrsigner\":\"%s\",\"attributes\":"
             "\"0000000000000000\",\"attributesMask\":\"FFFFFFFFFFFFFFFF\",\"tcbLevels\":[%s]}],"
             "\"tcbLevels\":[%s]},\"signature\":\"%0128d\"}",
             s->tdx_module_mrsigner ? s->tdx_module_mrsigner : Z96,
             s->identity_mrsigner ? s->identity_mrsigner : Z96, mods, levels, 0);
    if (!s->n_qe) return pcs_text(tcb, NULL);
    char ql[1024];
    isv_levels(s->qe, s->n_qe, ql, sizeof ql);
    /* phala-v4's QE identity (TD_QE), with the row's levels. */
    snprintf(qe, sizeof qe,
             "{\"enclaveIdentity\":{\"id\":\"TD_QE\",\"version\":2,\"issueDate\":"
             "\"2025-01-01T00:00:00Z\",\"nextUpdate\":\"2025-02-01T00:00:00Z\","
             "\"tcbEvaluationDataNumber\":1,\"miscselect\":\"00000000\",\"miscselectMask\":"
             "\"FFFFFFFF\",\"attributes\":\"%s\",\"attributesMask\":"
             "\"FBFFFFFFFFFFFFFF0000000000000000\",\"mrsigner\":"
             "\"DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5\","
             "\"isvprodid\":2,\"tcbLevels\":[%s]},\"signature\":\"%0128d\"}",
             s->qe_attributes ? s->qe_attributes : "11000000000000000000000000000000", ql, 0);
    return pcs_text(tcb, qe);
}

/* ------------------------------------------------------------------ */
/* The rows' inputs                                                     */
/* ------------------------------------------------------------------ */

static sample phala, google, spr;

static int eval(const mk_tdx_collateral *c, const sample *s, mk_tdx_result *res, mk_error *err) {
    return mk_tdx_tcb_evaluate(c, &s->q, &s->ext, res, err);
}

/* Row on phala-v4's own collateral with the sample changed by `edit`. */
#define PHALA_ROW(id, edit)                                                                        \
    static int row_##id(mk_tdx_result *res, mk_error *err) {                                       \
        sample v = phala;                                                                          \
        edit;                                                                                      \
        mk_tdx_collateral *c = bundle_coll("tdx/phala-v4/collateral.json");                        \
        int rc = eval(c, &v, res, err);                                                            \
        mk_tdx_collateral_free(c);                                                                 \
        return rc;                                                                                 \
    }
#define GOOGLE_ROW(id, edit)                                                                       \
    static int row_##id(mk_tdx_result *res, mk_error *err) {                                       \
        sample v = google;                                                                         \
        edit;                                                                                      \
        mk_tdx_collateral *c = pcs_files("tdx/google-v5/tcb_info_response.json",                   \
                                         "tdx/google-v5/qe_identity_response.json");               \
        int rc = eval(c, &v, res, err);                                                            \
        mk_tdx_collateral_free(c);                                                                 \
        return rc;                                                                                 \
    }
/* Row on a synthetic document with the phala sample changed by `edit`. */
#define SYNTH_ROW(id, edit, ...)                                                                   \
    static int row_##id(mk_tdx_result *res, mk_error *err) {                                       \
        sample v = phala;                                                                          \
        edit;                                                                                      \
        mk_tdx_collateral *c = make(&(synth){__VA_ARGS__});                                        \
        int rc = eval(c, &v, res, err);                                                            \
        mk_tdx_collateral_free(c);                                                                 \
        return rc;                                                                                 \
    }
#define SVN(a, b, c, d)                                                                            \
    (v.q.body.tee_tcb_svn[0] = a, v.q.body.tee_tcb_svn[1] = b, v.q.body.tee_tcb_svn[2] = c,        \
     v.q.body.tee_tcb_svn[3] = d)
#define SVN2(a, b, c, d)                                                                           \
    (v.q.body_type = MK_TDX_BODY_TD15, v.q.body.tee_tcb_svn2[0] = a, v.q.body.tee_tcb_svn2[1] = b, \
     v.q.body.tee_tcb_svn2[2] = c, v.q.body.tee_tcb_svn2[3] = d)

static int verify_phala(int64_t t, mk_tdx_result *res, mk_error *err) {
    mk_tdx_verifier *vf = NULL;
    TU_ASSERT_RC(mk_tdx_verifier_new(NULL, &vf, err), 0, err);
    mk_tdx_collateral *c = bundle_coll("tdx/phala-v4/collateral.json");
    int rc = mk_tdx_verify(vf, phala.raw.data, phala.raw.len, c, t, res, err);
    mk_tdx_collateral_free(c);
    mk_tdx_verifier_free(vf);
    return rc;
}
static int row_1(mk_tdx_result *res, mk_error *err) {
    return verify_phala(PHALA_T, res, err);
}
static int row_2(mk_tdx_result *res, mk_error *err) {
    return verify_phala(PHALA_T + 1, res, err);
}
PHALA_ROW(3, v.q.body.tee_tcb_svn[0] = 3)
PHALA_ROW(4, v.q.body.tee_tcb_svn[0] = 1)
PHALA_ROW(5, v.q.body.tee_tcb_svn[2] = 1)
PHALA_ROW(6, v.ext.pcesvn = 7)
PHALA_ROW(7, (v.ext.pcesvn = 7, v.q.body.tee_tcb_svn[0] = 2))
PHALA_ROW(8, v.ext.fmspc[0] ^= 1)
PHALA_ROW(8b, v.ext.pce_id[1] = 1)
PHALA_ROW(9, v.q.body.tee_tcb_svn[1] = 2)
PHALA_ROW(10, v.q.body.mr_signer_seam[47] ^= 1)
PHALA_ROW(11, v.q.body.seam_attributes = 1)
PHALA_ROW(12a, (v.q.body.tee_tcb_svn[1] = 0, v.q.body.tee_tcb_svn[0] = 0))
PHALA_ROW(12b, (v.q.body.tee_tcb_svn[1] = 0, v.q.body.tee_tcb_svn[0] = 6))
PHALA_ROW(13a, v.q.qe_report.mr_signer[31] ^= 1)
PHALA_ROW(13b, v.q.qe_report.isv_prod_id = 1)
PHALA_ROW(13c, v.q.qe_report.miscselect = 1)
PHALA_ROW(14a, v.q.qe_report.attributes[0] = 0x05)
PHALA_ROW(14b, v.q.qe_report.attributes[0] |= 0x04)
PHALA_ROW(15, v.q.qe_report.isv_svn = 3)
static int row_16(mk_tdx_result *res, mk_error *err) {
    mk_tdx_collateral *c = bundle_coll("tdx/phala-sgx/collateral.json");
    int rc = eval(c, &phala, res, err);
    mk_tdx_collateral_free(c);
    return rc;
}
PHALA_ROW(17, v.q.tee_type = 0)
GOOGLE_ROW(18, (void)0)
GOOGLE_ROW(19, v.q.body.tee_tcb_svn[0] = 5)
GOOGLE_ROW(20, (v.q.body.tee_tcb_svn[0] = 5, v.q.body.tee_tcb_svn2[0] = 5))
GOOGLE_ROW(21, (v.q.body.tee_tcb_svn[0] = 5, v.q.body.tee_tcb_svn2[1] = 7))
GOOGLE_ROW(22, (v.q.body.tee_tcb_svn[0] = 5, v.q.body_type = MK_TDX_BODY_TD10))
static int row_23(mk_tdx_result *res, mk_error *err) {
    mk_tdx_collateral *c = pcs_files("tdx/google-spr-v4/tcb_info_response.json", NULL);
    int rc = eval(c, &spr, res, err);
    mk_tdx_collateral_free(c);
    return rc;
}

/* The documents of rows 24-29 and P1-P3 (test_tcb.c merging_and_order). */
#define L_OOD1                                                                                     \
    { 1, 1, {0, 0, 0, 0}, "OutOfDate", "INTEL-SA-1" }
#define L_AT(st)                                                                                   \
    { 3, 11, {0, 0, 3, 0}, st, "INTEL-SA-2,INTEL-SA-3" }
#define MOD_6_2 {{6, "UpToDate", NULL}, {2, "OutOfDate", "INTEL-SA-3,INTEL-SA-4"}}, 2
#define DOC(st) {L_OOD1, L_AT(st)}, 2, MOD_6_2
SYNTH_ROW(24, (void)0, DOC("ConfigurationNeeded"))
SYNTH_ROW(25, v.q.body.tee_tcb_svn[0] = 3, DOC("ConfigurationNeeded"))
SYNTH_ROW(26,
          (v.q.body.tee_tcb_svn[0] = 3,
           SVN2(phala.q.body.tee_tcb_svn[0], phala.q.body.tee_tcb_svn[1],
                phala.q.body.tee_tcb_svn[2], phala.q.body.tee_tcb_svn[3])),
          DOC("ConfigurationNeeded"))
SYNTH_ROW(27, v.ext.sgx_tcb_comp[0] = 2, DOC("ConfigurationNeeded"))
SYNTH_ROW(28, (void)0, {{3, 11, {0, 0, 3, 0}, "UpToDate", NULL}}, 1, {{6, "Revoked", NULL}}, 1)
SYNTH_ROW(29, (void)0, {{3, 11, {0, 0, 3, 0}, "SWHardeningNeeded", NULL}}, 1,
          {{6, "OutOfDate", NULL}}, 1)
SYNTH_ROW(P1, (void)0, DOC("Revoked"))
SYNTH_ROW(P2a, (void)0, DOC("SWHardeningNeeded"))
SYNTH_ROW(P2b, (void)0, DOC("ConfigurationAndSWHardeningNeeded"))
SYNTH_ROW(P2c, (void)0, DOC("OutOfDateConfigurationNeeded"))
SYNTH_ROW(P3, v.q.body.tee_tcb_svn[0] = 3, DOC("ConfigurationAndSWHardeningNeeded"))

/* QE rows: the phala QE (ISVSVN 6) against QE levels 8 UpToDate, 0 x. */
#define QE_DOC(plat, qe_st)                                                                        \
    {{3, 11, {0, 0, 3, 0}, plat, plat[0] == 'U' ? NULL : "INTEL-SA-2,INTEL-SA-3"}}, 1,             \
        {{6, "UpToDate", NULL}}, 1, NULL, NULL,                                                    \
        {{8, "UpToDate", NULL}, {0, qe_st, qe_st[0] == 'O' ? "INTEL-SA-QE" : NULL}}, 2, NULL
SYNTH_ROW(P4, (void)0, QE_DOC("UpToDate", "OutOfDate"))
SYNTH_ROW(P5, (void)0, QE_DOC("ConfigurationNeeded", "OutOfDate"))
SYNTH_ROW(Q1, (void)0, QE_DOC("UpToDate", "Revoked"))
SYNTH_ROW(14c, (void)0, {{3, 11, {0, 0, 3, 0}, "UpToDate", NULL}}, 1, {{6, "UpToDate", NULL}}, 1,
          NULL, NULL, {{0, "UpToDate", NULL}}, 1, "15000000000000000000000000000000")

/* Relaunch rows: levels NEW (tdx 6,1,3,1 UpToDate) and OLD (0,0,2,0
 * OutOfDate), module TDX_01 levels 4 UpToDate, 2 OutOfDate. */
#define RL_DOC                                                                                     \
    {{3, 11, {6, 1, 3, 1}, "UpToDate", NULL}, {3, 11, {0, 0, 2, 0}, "OutOfDate", "INTEL-SA-OLD"}}, \
        2, {{4, "UpToDate", NULL}, {2, "OutOfDate", "INTEL-SA-M"}}, 2
SYNTH_ROW(P6, (SVN(3, 1, 3, 1), SVN2(6, 0, 3, 1)), RL_DOC)
SYNTH_ROW(R3, (SVN(6, 1, 2, 1), SVN2(6, 1, 3, 1)), RL_DOC)
SYNTH_ROW(R4, (SVN(3, 1, 3, 1), SVN2(6, 1, 3, 0)), RL_DOC)
SYNTH_ROW(R5, v.q.body.tee_tcb_svn[0] = 3,
          {{3, 12, {0, 0, 3, 0}, "UpToDate", NULL},
           {3, 11, {0, 0, 3, 0}, "OutOfDate", "INTEL-SA-OOD"}},
          2, MOD_6_2)
SYNTH_ROW(M1, (void)0, {{3, 11, {0, 0, 3, 0}, "UpToDate", NULL}}, 1, {{6, "UpToDate", NULL}}, 1,
          O96, NULL)
SYNTH_ROW(M2, (void)0, {{3, 11, {0, 0, 3, 0}, "UpToDate", NULL}}, 1, {{6, "UpToDate", NULL}}, 1,
          NULL, O96)

typedef struct row_fn {
    const char *id;
    int (*fn)(mk_tdx_result *, mk_error *);
} row_fn;

#define R(id)                                                                                      \
    { #id, row_##id }
static const row_fn ROWS[] = {
    R(1),  R(2),  R(3),   R(4),   R(5),   R(6),   R(7),   R(8),   R(8b),  R(9),
    R(10), R(11), R(12a), R(12b), R(13a), R(13b), R(13c), R(14a), R(14b), R(14c),
    R(15), R(16), R(17),  R(18),  R(19),  R(20),  R(21),  R(22),  R(23),  R(24),
    R(25), R(26), R(27),  R(28),  R(29),  R(P1),  R(P2a), R(P2b), R(P2c), R(P3),
    R(P4), R(P5), R(P6),  R(R3),  R(R4),  R(R5),  R(Q1),  R(M1),  R(M2),
};
#define N_ROWS (sizeof ROWS / sizeof ROWS[0])

/* ------------------------------------------------------------------ */
/* The table                                                            */
/* ------------------------------------------------------------------ */

static const struct {
    const char *abbr;
    mk_tdx_tcb_status st;
} ABBR[] = {
    {"UTD", MK_TDX_TCB_UP_TO_DATE},
    {"OOD", MK_TDX_TCB_OUT_OF_DATE},
    {"CN", MK_TDX_TCB_CONFIGURATION_NEEDED},
    {"SWH", MK_TDX_TCB_SW_HARDENING_NEEDED},
    {"CNSWH", MK_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED},
    {"OODCN", MK_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED},
    {"TDRA", MK_TDX_TCB_TD_RELAUNCH_ADVISED},
    {"TDRACN", MK_TDX_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED},
    {"REV", MK_TDX_TCB_REVOKED},
};

/* A row's mismatch is printed; the table goes on, and fails at its end. */
static bool row_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool row_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint_error(fmt, ap);
    va_end(ap);
    print_error("\n");
    return false;
}

static bool check_advisories(const char *id, const mk_tdx_result *r, const char *want) {
    if (strcmp(want, "-") == 0) {
        if (r->n_advisories)
            return row_fail("row %s: %zu advisories, want none", id, r->n_advisories);
        return true;
    }
    if (want[0] == '#') { /* #N:first:last */
        char first[64], last[64];
        unsigned n;
        if (sscanf(want, "#%u:%63[^:]:%63s", &n, first, last) != 3)
            return row_fail("row %s: bad advisories %s", id, want);
        if (r->n_advisories != n || strcmp(r->advisory_ids[0], first) ||
            strcmp(r->advisory_ids[n - 1], last))
            return row_fail("row %s: advisories %zu (%s..%s), want %s", id, r->n_advisories,
                            r->advisory_ids[0],
                            r->n_advisories ? r->advisory_ids[r->n_advisories - 1] : "", want);
        return true;
    }
    char got[1024] = "";
    size_t k = 0;
    for (size_t i = 0; i < r->n_advisories && k < sizeof got; i++)
        k += (size_t)snprintf(got + k, sizeof got - k, "%s%s", i ? "," : "", r->advisory_ids[i]);
    if (strcmp(got, want)) return row_fail("row %s: advisories %s, want %s", id, got, want);
    return true;
}

static bool check_row(const char *id, const char *expect, const char *adv, const row_fn *f) {
    mk_tdx_result res;
    mk_error err;
    mk_error_clear(&err);
    memset(&res, 0, sizeof res);
    int rc = f->fn(&res, &err);
    if (strncmp(expect, "refuse:", 7) == 0) {
        if (rc >= 0)
            return row_fail("row %s: accepted (%s), want refused", id,
                            mk_tdx_tcb_status_name(res.tcb_status));
        if (!strstr(err.msg, expect + 7))
            return row_fail("row %s: reason \"%s\" lacks \"%s\"", id, err.msg, expect + 7);
        return true;
    }
    if (rc < 0) return row_fail("row %s: refused (%s), want %s", id, err.msg, expect);
    size_t i = 0;
    while (i < sizeof ABBR / sizeof ABBR[0] && strcmp(ABBR[i].abbr, expect))
        i++;
    if (i == sizeof ABBR / sizeof ABBR[0])
        return row_fail("row %s: unknown expectation %s", id, expect);
    if (res.tcb_status != ABBR[i].st)
        return row_fail("row %s: %s, want %s", id, mk_tdx_tcb_status_name(res.tcb_status),
                        mk_tdx_tcb_status_name(ABBR[i].st));
    return check_advisories(id, &res, adv);
}

static void table(void **state) {
    (void)state;
    load_sample("tdx/phala-v4/quote.bin", PHALA_T, &phala);
    load_sample("tdx/google-v5/quote.bin", mk_time_from_civil(2026, 2, 3, 0, 0, 0), &google);
    load_sample("tdx/google-spr-v4/quote.bin", mk_time_from_civil(2023, 7, 1, 0, 0, 0), &spr);
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/tdx-tcb-whatif.tsv", MOSAIK_SOURCE_DIR);
    FILE *fh = fopen(path, "r");
    if (!fh) fail_msg("cannot open %s", path);
    char line[4096];
    bool seen[N_ROWS] = {false}, header = false;
    size_t rows = 0, failed = 0;
    while (fgets(line, sizeof line, fh)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#' || !line[0]) continue;
        char *col[7], *save = NULL, *p = line;
        int n = 0;
        for (char *t; n < 7 && (t = strtok_r(p, "\t", &save)); p = NULL)
            col[n++] = t;
        if (n != 7) fail_msg("%s: a row with %d columns: %s", path, n, col[0]);
        if (!header) { /* the column names */
            header = true;
            continue;
        }
        size_t i = 0;
        while (i < N_ROWS && strcmp(ROWS[i].id, col[0]))
            i++;
        if (i == N_ROWS) fail_msg("row %s has no input in this test", col[0]);
        if (seen[i]) fail_msg("row %s twice", col[0]);
        seen[i] = true;
        if (!strstr(col[4], "I") && !strstr(col[4], "F")) fail_msg("row %s cites no rule", col[0]);
        if (!col[5][0] || !col[6][0]) fail_msg("row %s lacks its source or dcap-qvl", col[0]);
        if (!check_row(col[0], col[2], col[3], &ROWS[i])) failed++;
        rows++;
    }
    fclose(fh);
    for (size_t i = 0; i < N_ROWS; i++)
        if (!seen[i]) fail_msg("input %s has no row in the table", ROWS[i].id);
    assert_int_equal(rows, N_ROWS);
    if (failed) fail_msg("%zu of %zu rows differ from the table", failed, rows);
    mk_buf_free(&phala.raw);
    mk_buf_free(&google.raw);
    mk_buf_free(&spr.raw);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(table)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
