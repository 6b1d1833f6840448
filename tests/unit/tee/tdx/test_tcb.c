/*
 * TCB evaluation by Intel's QVL rules against the real sample quotes and
 * collateral, plus what-if variants derived from the rules (the status
 * merging and the TD 1.5 relaunch check of docs/tdx-collateral.md, "TCB
 * evaluation"): module OutOfDate, TD 1.5 relaunch, no matching level,
 * FMSPC / module / QE identity mismatches.
 */
#include "test_util.h"

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

static mk_tdx_collateral *phala_coll(void) {
    mk_buf b = MK_BUF_INIT;
    tu_read_testdata("tdx/phala-v4/collateral.json", &b);
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_bundle((const char *)b.data, b.len, &c, &err), 0, &err);
    mk_buf_free(&b);
    return c;
}

static mk_tdx_collateral *pcs_coll(const char *tcb_rel, const char *qe_rel) {
    mk_buf tcb = MK_BUF_INIT, qe = MK_BUF_INIT;
    tu_read_testdata(tcb_rel, &tcb);
    mk_tdx_pcs_responses r;
    memset(&r, 0, sizeof r);
    r.tcb_info_body = (const char *)tcb.data;
    r.tcb_info_len = tcb.len;
    if (qe_rel) {
        tu_read_testdata(qe_rel, &qe);
        r.qe_identity_body = (const char *)qe.data;
        r.qe_identity_len = qe.len;
    }
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_pcs(&r, &c, &err), 0, &err);
    mk_buf_free(&tcb);
    mk_buf_free(&qe);
    return c;
}

static int eval(const mk_tdx_collateral *c, const sample *s, mk_tdx_result *res, mk_error *err) {
    memset(res, 0, sizeof *res);
    res->tcb_status = MK_TDX_TCB_UNKNOWN;
    return mk_tdx_tcb_evaluate(c, &s->q, &s->ext, res, err);
}

static void phala_uptodate(void **state) {
    (void)state;
    sample s;
    load_sample("tdx/phala-v4/quote.bin", PHALA_T, &s);
    /* Facts from the notes. */
    assert_int_equal(s.q.body.tee_tcb_svn[0], 6);
    assert_int_equal(s.q.body.tee_tcb_svn[1], 1);
    assert_int_equal(s.ext.pcesvn, 11);
    assert_int_equal(s.q.qe_report.isv_svn, 6);
    mk_tdx_collateral *c = phala_coll();
    mk_tdx_result res;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(eval(c, &s, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_UP_TO_DATE);
    assert_int_equal(res.platform_status, MK_TDX_TCB_UP_TO_DATE);
    assert_int_equal(res.qe_status, MK_TDX_TCB_UP_TO_DATE);
    assert_int_equal(res.n_advisories, 0);
    assert_string_equal(mk_tdx_status_str(res.tcb_status), "UpToDate");

    /* Module minor SVN 3: TDX_01 level isvsvn 2 is OutOfDate. */
    sample v = s;
    v.q.body.tee_tcb_svn[0] = 3;
    TU_ASSERT_RC(eval(c, &v, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_OUT_OF_DATE);
    assert_int_equal(res.platform_status, MK_TDX_TCB_UP_TO_DATE);

    /* Module minor SVN 1: below every module level. */
    v = s;
    v.q.body.tee_tcb_svn[0] = 1;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "no TCB level matches");
    TU_ASSERT_REASON(&err, "TDX_01");

    /* Late microcode SVN 1 < 2: no TDX level. */
    v = s;
    v.q.body.tee_tcb_svn[2] = 1;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "no TCB level matches");

    /* PCESVN 7: level[1], OutOfDate with its 14 advisories. */
    v = s;
    v.ext.pcesvn = 7;
    TU_ASSERT_RC(eval(c, &v, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_OUT_OF_DATE);
    assert_int_equal(res.platform_status, MK_TDX_TCB_OUT_OF_DATE);
    assert_int_equal(res.n_advisories, 14);
    assert_string_equal(res.advisory_ids[0], "INTEL-SA-00106");
    assert_string_equal(res.advisory_ids[13], "INTEL-SA-00837");

    /* Also module OutOfDate: advisories stay deduplicated, still OutOfDate. */
    v.q.body.tee_tcb_svn[0] = 2;
    TU_ASSERT_RC(eval(c, &v, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_OUT_OF_DATE);
    assert_int_equal(res.n_advisories, 14);

    /* Wrong FMSPC. */
    v = s;
    v.ext.fmspc[0] ^= 1;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "FMSPC mismatch: PCK certificate b1c06f000000, TCB info b0c06f000000");
    v = s;
    v.ext.pce_id[1] = 1;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "PCE-ID");

    /* Module identities: unknown major version, MRSIGNERSEAM, attributes. */
    v = s;
    v.q.body.tee_tcb_svn[1] = 2;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "TDX_02");
    v = s;
    v.q.body.mr_signer_seam[5] = 1;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "MRSIGNERSEAM");
    v = s;
    v.q.body.seam_attributes = 1;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "SEAM attributes");

    /* Major version 0: tdxModule is used, TDX components compared from 0
     * (tdx[0] 0 < 5 fails every level). */
    v = s;
    v.q.body.tee_tcb_svn[1] = 0;
    v.q.body.tee_tcb_svn[0] = 0;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "compared from index 0");
    v.q.body.tee_tcb_svn[0] = 6;
    TU_ASSERT_RC(eval(c, &v, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_UP_TO_DATE);

    /* QE identity. */
    v = s;
    v.q.qe_report.mr_signer[0] ^= 1;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "MRSIGNER");
    v = s;
    v.q.qe_report.isv_prod_id = 1;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "ISVPRODID");
    v = s;
    v.q.qe_report.attributes[0] = 0x05; /* bit 4 required by the identity */
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "ATTRIBUTES");
    v = s;
    v.q.qe_report.attributes[0] |= 0x04; /* masked out: fine */
    TU_ASSERT_RC(eval(c, &v, &res, &err), 0, &err);
    v = s;
    v.q.qe_report.miscselect = 1;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "MISCSELECT");
    v = s;
    v.q.qe_report.isv_svn = 3;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "no TCB level matches (QE ISVSVN 3");

    /* An SGX TCB info (phala-sgx bundle) parses but cannot grade a TD. */
    mk_buf sb = MK_BUF_INIT;
    tu_read_testdata("tdx/phala-sgx/collateral.json", &sb);
    mk_tdx_collateral *sgx = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_bundle((const char *)sb.data, sb.len, &sgx, &err), 0, &err);
    assert_false(mk_tdx_collateral_tcb_info(sgx)->is_tdx);
    TU_ASSERT_RC(eval(sgx, &s, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "not a TDX");
    mk_tdx_collateral_free(sgx);
    mk_buf_free(&sb);

    /* Not a TDX quote. */
    v = s;
    v.q.tee_type = 0;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);

    mk_tdx_collateral_free(c);
    mk_buf_free(&s.raw);
}

static void google_v5_uptodate_and_relaunch(void **state) {
    (void)state;
    sample s;
    load_sample("tdx/google-v5/quote.bin", mk_time_from_civil(2026, 2, 3, 0, 0, 0), &s);
    assert_int_equal(s.q.body_type, MK_TDX_BODY_TD15);
    assert_int_equal(s.ext.pcesvn, 13);
    mk_tdx_collateral *c =
        pcs_coll("tdx/google-v5/tcb_info_response.json", "tdx/google-v5/qe_identity_response.json");
    mk_tdx_result res;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(eval(c, &s, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_UP_TO_DATE);
    assert_int_equal(res.qe_status, MK_TDX_TCB_UP_TO_DATE);
    assert_int_equal(res.n_advisories, 0);

    /* Module SVN 5 at launch (TDX_01: 6 UpToDate, 4 OutOfDate) but the
     * current svn2 (13) is up to date: TD relaunch advised. */
    sample v = s;
    v.q.body.tee_tcb_svn[0] = 5;
    TU_ASSERT_RC(eval(c, &v, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_TD_RELAUNCH_ADVISED);
    /* svn2 also old: stays OutOfDate. */
    v.q.body.tee_tcb_svn2[0] = 5;
    TU_ASSERT_RC(eval(c, &v, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_OUT_OF_DATE);
    /* svn2 names an unknown module: mismatch. */
    v.q.body.tee_tcb_svn2[0] = 13;
    v.q.body.tee_tcb_svn2[1] = 7;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "TDX_07");
    /* The same body as TD 1.0: no relaunch logic. */
    v = s;
    v.q.body.tee_tcb_svn[0] = 5;
    v.q.body_type = MK_TDX_BODY_TD10;
    TU_ASSERT_RC(eval(c, &v, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_OUT_OF_DATE);
    /* QE ISVSVN below every QE identity level. */
    v = s;
    v.q.body.tee_tcb_svn[0] = 5;
    v.q.qe_report.isv_svn = 3;
    TU_ASSERT_RC(eval(c, &v, &res, &err), MK_EMISMATCH, &err); /* below level 4 */

    /* FMSPC with another case in the JSON (90c06f000000 lower case) matched by bytes. */
    const mk_tdx_tcb_info *ti = mk_tdx_collateral_tcb_info(c);
    assert_int_equal(ti->fmspc[0], 0x90);
    mk_tdx_collateral_free(c);

    /* The phala collateral is for another FMSPC. */
    c = phala_coll();
    TU_ASSERT_RC(eval(c, &s, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "FMSPC mismatch");
    mk_tdx_collateral_free(c);
    mk_buf_free(&s.raw);
}

static void google_spr_no_level(void **state) {
    (void)state;
    sample s;
    load_sample("tdx/google-spr-v4/quote.bin", mk_time_from_civil(2023, 7, 1, 0, 0, 0), &s);
    assert_int_equal(s.q.body.tee_tcb_svn[1], 0);
    mk_tdx_collateral *c = pcs_coll("tdx/google-spr-v4/tcb_info_response.json", NULL);
    mk_tdx_result res;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(eval(c, &s, &res, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "no TCB level matches");
    TU_ASSERT_REASON(&err, "PCK SGX components");
    /* res untouched on failure. */
    assert_int_equal(res.tcb_status, MK_TDX_TCB_UNKNOWN);
    mk_tdx_collateral_free(c);
    mk_buf_free(&s.raw);
}

/* Synthetic TCB info to exercise status merging and level order. */
static mk_tdx_collateral *synthetic(const char *levels, const char *module_levels) {
    char text[8192];
    static const char z96[] = "000000000000000000000000000000000000000000000000"
                              "000000000000000000000000000000000000000000000000";
    snprintf(text, sizeof text,
             "{\"tcbInfo\":{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"2025-01-01T00:00:00Z\","
             "\"nextUpdate\":\"2025-02-01T00:00:00Z\",\"fmspc\":\"b0c06f000000\",\"pceId\":"
             "\"0000\",\"tcbType\":0,\"tcbEvaluationDataNumber\":1,\"tdxModule\":{\"mrsigner\":"
             "\"%s\",\"attributes\":\"0000000000000000\",\"attributesMask\":\"FFFFFFFFFFFFFFFF\"},"
             "\"tdxModuleIdentities\":[{\"id\":\"tdx_01\",\"mrsigner\":\"%s\",\"attributes\":"
             "\"0000000000000000\",\"attributesMask\":\"FFFFFFFFFFFFFFFF\",\"tcbLevels\":[%s]}],"
             "\"tcbLevels\":[%s]},\"signature\":\"%0128d\"}",
             z96, z96, module_levels, levels, 0);
    mk_tdx_pcs_responses r;
    memset(&r, 0, sizeof r);
    r.tcb_info_body = text;
    r.tcb_info_len = strlen(text);
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_pcs(&r, &c, &err), 0, &err);
    return c;
}

#define COMP16(a, b, c)                                                                            \
    "[{\"svn\":" #a "},{\"svn\":" #b "},{\"svn\":" #c "},{\"svn\":0},{\"svn\":0},{\"svn\":0},"     \
    "{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},{\"svn\":0},"         \
    "{\"svn\":0},{\"svn\":0},{\"svn\":0}]"
#define LEVEL(sgx0, pce, tdx2, status, adv)                                                        \
    "{\"tcb\":{\"sgxtcbcomponents\":" COMP16(                                                      \
        sgx0, 0,                                                                                   \
        0) ",\"pcesvn\":" #pce                                                                     \
           ",\"tdxtcbcomponents\":" COMP16(0, 0, tdx2) "},\"tcbDate\":\"2024-01-01T00:00:00Z\","   \
                                                       "\"tcbStatus\":\"" status "\"" adv "}"

static void merging_and_order(void **state) {
    (void)state;
    sample s;
    load_sample("tdx/phala-v4/quote.bin", PHALA_T, &s); /* sgx[0]=3, pce 11, tdx[2]=3 */
    mk_tdx_result res;
    mk_error err;
    mk_error_clear(&err);

    /* JSON order is not Intel's: the greater level (sgx0=3) must be tried
     * first even though it is listed last. */
    mk_tdx_collateral *c = synthetic(
        LEVEL(1, 1, 0, "OutOfDate", ",\"advisoryIDs\":[\"INTEL-SA-1\"]") "," LEVEL(
            3, 11, 3, "ConfigurationNeeded", ",\"advisoryIDs\":[\"INTEL-SA-2\",\"INTEL-SA-3\"]"),
        "{\"tcb\":{\"isvsvn\":6},\"tcbDate\":\"2024-01-01T00:00:00Z\",\"tcbStatus\":\"UpToDate\"},"
        "{\"tcb\":{\"isvsvn\":2},\"tcbDate\":\"2023-01-01T00:00:00Z\",\"tcbStatus\":\"OutOfDate\","
        "\"advisoryIDs\":[\"INTEL-SA-3\",\"INTEL-SA-4\"]}");
    const mk_tdx_tcb_info *ti = mk_tdx_collateral_tcb_info(c);
    assert_int_equal(ti->levels[0].sgx[0], 3);
    TU_ASSERT_RC(eval(c, &s, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_CONFIGURATION_NEEDED);
    assert_int_equal(res.n_advisories, 2);
    /* Module OutOfDate + ConfigurationNeeded → OutOfDateConfigurationNeeded;
     * advisories: platform then module, deduplicated. */
    sample v = s;
    v.q.body.tee_tcb_svn[0] = 3;
    TU_ASSERT_RC(eval(c, &v, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED);
    assert_int_equal(res.platform_status, MK_TDX_TCB_CONFIGURATION_NEEDED);
    assert_int_equal(res.n_advisories, 3);
    assert_string_equal(res.advisory_ids[0], "INTEL-SA-2");
    assert_string_equal(res.advisory_ids[1], "INTEL-SA-3");
    assert_string_equal(res.advisory_ids[2], "INTEL-SA-4");
    /* As TD 1.5 with a current svn2: relaunch advised, configuration needed. */
    v.q.body_type = MK_TDX_BODY_TD15;
    memcpy(v.q.body.tee_tcb_svn2, s.q.body.tee_tcb_svn, 16);
    TU_ASSERT_RC(eval(c, &v, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED);
    /* The lower level matches when sgx[0] drops to 2. */
    v = s;
    v.ext.sgx_tcb_comp[0] = 2;
    TU_ASSERT_RC(eval(c, &v, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_OUT_OF_DATE);
    assert_int_equal(res.n_advisories, 1);
    mk_tdx_collateral_free(c);

    /* Revoked module level wins. */
    c = synthetic(LEVEL(3, 11, 3, "UpToDate", ""),
                  "{\"tcb\":{\"isvsvn\":6},\"tcbDate\":\"2024-01-01T00:00:00Z\","
                  "\"tcbStatus\":\"Revoked\"}");
    TU_ASSERT_RC(eval(c, &s, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_REVOKED);
    mk_tdx_collateral_free(c);

    /* SWHardeningNeeded + module OutOfDate → OutOfDate. */
    c = synthetic(LEVEL(3, 11, 3, "SWHardeningNeeded", ""),
                  "{\"tcb\":{\"isvsvn\":6},\"tcbDate\":\"2024-01-01T00:00:00Z\","
                  "\"tcbStatus\":\"OutOfDate\"}");
    TU_ASSERT_RC(eval(c, &s, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_OUT_OF_DATE);
    mk_tdx_collateral_free(c);
    mk_buf_free(&s.raw);
}

static void bad_documents(void **state) {
    (void)state;
    const char *bodies[] = {
        /* unknown status */
        "{\"tcbInfo\":{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"2025-01-01T00:00:00Z\","
        "\"nextUpdate\":\"2025-02-01T00:00:00Z\",\"fmspc\":\"b0c06f000000\",\"pceId\":\"0000\","
        "\"tcbType\":0,\"tcbEvaluationDataNumber\":1,\"tdxModule\":{\"mrsigner\":\"00\","
        "\"attributes\":\"00\",\"attributesMask\":\"00\"},\"tcbLevels\":[]},\"signature\":\"00\"}",
        /* version 2 */
        "{\"tcbInfo\":{\"id\":\"TDX\",\"version\":2},\"signature\":\"00\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        mk_tdx_pcs_responses r;
        memset(&r, 0, sizeof r);
        r.tcb_info_body = bodies[i];
        r.tcb_info_len = strlen(bodies[i]);
        mk_tdx_collateral *c = NULL;
        mk_error err;
        if (mk_tdx_collateral_from_pcs(&r, &c, &err) >= 0) fail_msg("accepted body %zu", i);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(phala_uptodate),      cmocka_unit_test(google_v5_uptodate_and_relaunch),
        cmocka_unit_test(google_spr_no_level), cmocka_unit_test(merging_and_order),
        cmocka_unit_test(bad_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
