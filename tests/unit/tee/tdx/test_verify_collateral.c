/*
 * tests/unit/tee/tdx/test_verify_collateral.c — the collateral steps of
 * mk_tdx_verify through the public path, each refusal asserted by its own
 * reason (issue 15, item 1):
 *   - revocation: a revoked PCK certificate (PCK CRL) and a revoked PCK CA
 *     or TCB signer (root CA CRL), with CRLs in the real format signed by
 *     the simulator PKI's keys; a CRL that lists other serials changes
 *     nothing;
 *   - the PCK CRL must come from the CA that issued the PCK certificate: a
 *     CRL of another CA (other name), and of a CA with the same name but
 *     another certificate;
 *   - the collateral's root must be the quote's: simulator documents for an
 *     Intel quote (same FMSPC, so only the root differs) and Intel
 *     documents for a simulator quote;
 *   - unknown or misplaced tcbStatus names are refused, in documents that
 *     are otherwise valid (signed again with the simulated TCB signing key;
 *     the same document without the edit verifies);
 *   - the same refusals through the CLI (`mosaik tdx verify --json`).
 * Every case first shows that the unchanged documents verify, so the
 * refusal comes from the one change.
 */
#include "test_util.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim_docs_util.h"

#define T_PHALA 1752919234LL /* the phala-v4 collateral is valid at exactly this second */
#define NOW T_PHALA

typedef struct fixture {
    mk_tdx_sim *sim;
    mk_buf quote;
    mk_tdx_verifier *v;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    mk_error err;
    mk_error_clear(&err);
    if (!f || mk_tdx_sim_new(&(mk_tdx_sim_config){.now = NOW}, &f->sim, &err) < 0) return -1;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    uint8_t rd[64] = {7};
    mk_buf_init(&f->quote, 0);
    if (mk_tdx_sim_quote(f->sim, &td, rd, &f->quote, &err) < 0) return -1;
    const uint8_t *der;
    size_t len;
    mk_tdx_sim_root_der(f->sim, &der, &len);
    mk_tdx_verifier_config cfg;
    mk_tdx_verifier_config_init(&cfg);
    cfg.simulator_root_der = der;
    cfg.simulator_root_len = len;
    if (mk_tdx_verifier_new(&cfg, &f->v, &err) < 0) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    mk_tdx_verifier_free(f->v);
    mk_buf_free(&f->quote);
    mk_tdx_sim_free(f->sim);
    free(f);
    return 0;
}

/* Verify the fixture's quote with the bundle JSON; returns the code. */
static int verify_bundle(fixture *f, const mk_buf *json, mk_tdx_result *r, mk_error *err) {
    mk_tdx_collateral *c = sd_collateral(json);
    int rc = mk_tdx_verify(f->v, f->quote.data, f->quote.len, c, NOW, r, err);
    mk_tdx_collateral_free(c);
    return rc;
}

static void assert_verifies(fixture *f, const sd_parts *p) {
    mk_buf j = MK_BUF_INIT;
    sd_bundle(f->sim, NOW, p, &j);
    mk_tdx_result r;
    mk_error err;
    TU_ASSERT_RC(verify_bundle(f, &j, &r, &err), 0, &err);
    assert_true(r.collateral_checked);
    assert_int_equal(r.tcb_status, MK_TDX_TCB_UP_TO_DATE);
    mk_buf_free(&j);
}

/* Refused with want and a reason containing each of the NULL-ended
 * substrings; nothing of the collateral step is recorded. */
static void assert_refused(fixture *f, const sd_parts *p, int want, const char *const *reasons) {
    mk_buf j = MK_BUF_INIT;
    sd_bundle(f->sim, NOW, p, &j);
    mk_tdx_result r;
    mk_error err;
    TU_ASSERT_RC(verify_bundle(f, &j, &r, &err), want, &err);
    for (size_t i = 0; reasons[i]; i++)
        TU_ASSERT_REASON(&err, reasons[i]);
    assert_false(r.collateral_checked);
    assert_int_equal(r.tcb_status, MK_TDX_TCB_UNKNOWN);
    mk_buf_free(&j);
}

/* ------------------------------------------------------------------ */
/* Revocation                                                          */
/* ------------------------------------------------------------------ */

static void revoked_pck(void **state) {
    fixture *f = *state;
    mk_tdx_sim *s = f->sim;
    mk_buf crl = MK_BUF_INIT;
    /* A CRL of the Platform CA that lists another certificate: accepted. */
    EVP_PKEY *ok;
    X509 *other = sd_other_ca(s, "some other certificate", NOW, &ok);
    sd_crl(s->pck_ca, s->pck_ca_key, NOW, &other, 1, &crl);
    assert_verifies(f, &(sd_parts){.pck_crl = &crl});
    /* The same CA's CRL listing the PCK certificate (and the other). */
    X509 *both[2] = {other, s->pck};
    sd_crl(s->pck_ca, s->pck_ca_key, NOW, both, 2, &crl);
    assert_refused(f, &(sd_parts){.pck_crl = &crl}, MK_EREVOKED,
                   (const char *const[]){"collateral: PCK certificate: certificate '",
                                         MK_TDX_SIM_CN_PCK,
                                         "is revoked by the CRL of '" MK_TDX_SIM_CN_PCK_CA, NULL});
    X509_free(other);
    EVP_PKEY_free(ok);
    mk_buf_free(&crl);
}

static void revoked_intermediate(void **state) {
    fixture *f = *state;
    mk_tdx_sim *s = f->sim;
    mk_buf crl = MK_BUF_INIT;
    /* The root's CRL lists the PCK CA, the issuer of the PCK certificate and
     * of the PCK CRL: the CRL's issuer is refused first. */
    sd_crl(s->root, s->root_key, NOW, &s->pck_ca, 1, &crl);
    assert_refused(f, &(sd_parts){.root_crl = &crl}, MK_EREVOKED,
                   (const char *const[]){"collateral: PCK CRL issuer '" MK_TDX_SIM_CN_PCK_CA
                                         "': certificate '",
                                         "is revoked by the CRL of '" MK_TDX_SIM_CN_ROOT, NULL});
    /* The root's CRL lists the TCB signing certificate. */
    sd_crl(s->root, s->root_key, NOW, &s->tcb, 1, &crl);
    assert_refused(f, &(sd_parts){.root_crl = &crl}, MK_EREVOKED,
                   (const char *const[]){"collateral: TCB info signer '" MK_TDX_SIM_CN_TCB
                                         "': certificate '",
                                         "is revoked by the CRL of '" MK_TDX_SIM_CN_ROOT, NULL});
    /* A root CRL that lists the PCK certificate itself: not the root's to
     * revoke (its issuer is the PCK CA), so nothing changes. */
    sd_crl(s->root, s->root_key, NOW, &s->pck, 1, &crl);
    assert_verifies(f, &(sd_parts){.root_crl = &crl});
    mk_buf_free(&crl);
}

/* The PCK CRL of another CA under the same root: the collateral verifies
 * on its own, but it does not cover this PCK certificate. */
static void pck_crl_of_another_ca(void **state) {
    fixture *f = *state;
    mk_tdx_sim *s = f->sim;
    EVP_PKEY *k;
    X509 *proc = sd_other_ca(s, "mosaik simulated PCK Processor CA", NOW, &k);
    mk_buf crl = MK_BUF_INIT;
    sd_crl(proc, k, NOW, NULL, 0, &crl);
    char *chain = mk_tee_sim_pem_chain(proc, s->root, NULL, NULL);
    assert_non_null(chain);
    assert_refused(f, &(sd_parts){.pck_crl = &crl, .pck_crl_chain = chain}, MK_EMISMATCH,
                   (const char *const[]){
                       "collateral: PCK CRL is from 'mosaik simulated PCK "
                       "Processor CA' but the PCK certificate is issued by '" MK_TDX_SIM_CN_PCK_CA
                       "'",
                       NULL});
    free(chain);
    X509_free(proc);
    EVP_PKEY_free(k);
    /* A CA with the Platform CA's very name but another key and certificate. */
    X509 *twin = sd_other_ca(s, MK_TDX_SIM_CN_PCK_CA, NOW, &k);
    sd_crl(twin, k, NOW, NULL, 0, &crl);
    chain = mk_tee_sim_pem_chain(twin, s->root, NULL, NULL);
    assert_refused(f, &(sd_parts){.pck_crl = &crl, .pck_crl_chain = chain}, MK_EMISMATCH,
                   (const char *const[]){"collateral: PCK CRL issuer certificate differs from the "
                                         "PCK chain's '" MK_TDX_SIM_CN_PCK_CA "'",
                                         NULL});
    free(chain);
    X509_free(twin);
    EVP_PKEY_free(k);
    mk_buf_free(&crl);
}

/* ------------------------------------------------------------------ */
/* The collateral's root must be the quote's                           */
/* ------------------------------------------------------------------ */

static void root_must_match(void **state) {
    fixture *f = *state;
    mk_error err;
    mk_tdx_result r;
    /* An Intel quote with simulator documents for its own FMSPC (B0C06F000000):
     * signatures, chains, windows and the FMSPC all pass; only the root differs. */
    mk_buf q = MK_BUF_INIT, j = MK_BUF_INIT;
    tu_read_testdata("tdx/phala-v4/quote.bin", &q);
    char *tcb = sd_member(f->sim, NOW, "tcb_info");
    char *tcb2 = sd_replace(tcb, NULL, "\"fmspc\":\"4D4B53494D00\"", "\"fmspc\":\"B0C06F000000\"");
    sd_bundle(f->sim, NOW, &(sd_parts){.tcb_info = tcb2}, &j);
    mk_tdx_collateral *c = sd_collateral(&j);
    TU_ASSERT_RC(mk_tdx_verify(f->v, q.data, q.len, c, NOW, &r, &err), MK_EUNTRUSTED, &err);
    assert_string_equal(err.msg, "collateral: signed under the simulator root but the PCK chain "
                                 "ends in the Intel root");
    assert_false(r.collateral_checked);
    mk_tdx_collateral_free(c);
    /* A simulator quote with Intel's documents. */
    mk_buf cj = MK_BUF_INIT;
    tu_read_testdata("tdx/phala-v4/collateral.json", &cj);
    c = sd_collateral(&cj);
    TU_ASSERT_RC(mk_tdx_verify(f->v, f->quote.data, f->quote.len, c, NOW, &r, &err), MK_EUNTRUSTED,
                 &err);
    assert_string_equal(err.msg,
                        "collateral: signed under the Intel root but the PCK chain ends in "
                        "the simulator root");
    mk_tdx_collateral_free(c);
    /* Each with its own root's documents verifies. */
    c = sd_collateral(&cj);
    mk_tdx_verifier *iv = NULL;
    TU_ASSERT_RC(mk_tdx_verifier_new(NULL, &iv, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_verify(iv, q.data, q.len, c, NOW, &r, &err), 0, &err);
    assert_int_equal(r.tcb_status, MK_TDX_TCB_UP_TO_DATE);
    mk_tdx_verifier_free(iv);
    mk_tdx_collateral_free(c);
    assert_verifies(f, NULL);
    free(tcb);
    free(tcb2);
    mk_buf_free(&cj);
    mk_buf_free(&j);
    mk_buf_free(&q);
}

/* ------------------------------------------------------------------ */
/* tcbStatus names                                                      */
/* ------------------------------------------------------------------ */

/* The bundle with the document `key` edited is refused when loaded, with
 * want_reason; the same document signed again without the edit verifies. */
static void refused_status(fixture *f, const char *key, const char *anchor, const char *from,
                           const char *to, const char *want_reason) {
    char *text = sd_member(f->sim, NOW, key);
    bool tcb = strcmp(key, "tcb_info") == 0;
    assert_verifies(f,
                    &(sd_parts){.tcb_info = tcb ? text : NULL, .qe_identity = tcb ? NULL : text});
    char *edited = sd_replace(text, anchor, from, to);
    mk_buf j = MK_BUF_INIT;
    sd_bundle(f->sim, NOW,
              &(sd_parts){.tcb_info = tcb ? edited : NULL, .qe_identity = tcb ? NULL : edited}, &j);
    mk_tdx_collateral *c = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_collateral_from_bundle((const char *)j.data, j.len, &c, &err),
                 MK_EMALFORMED, &err);
    assert_null(c);
    assert_string_equal(err.msg, want_reason);
    mk_buf_free(&j);
    free(edited);
    free(text);
}

static void unknown_status_refused(void **state) {
    fixture *f = *state;
    /* Platform level: a name Intel does not define. */
    refused_status(f, "tcb_info", "\"tcbLevels\":[{\"tcb\":{\"sgx", "\"tcbStatus\":\"UpToDate\"",
                   "\"tcbStatus\":\"Upgraded\"",
                   "TCB info: tcbLevels[0]: unrecognized tcbStatus \"Upgraded\"");
    /* Platform level: a verifier's result, never a document's status. */
    refused_status(f, "tcb_info", "\"tcbLevels\":[{\"tcb\":{\"sgx", "\"tcbStatus\":\"UpToDate\"",
                   "\"tcbStatus\":\"TDRelaunchAdvised\"",
                   "TCB info: tcbLevels[0]: unrecognized tcbStatus \"TDRelaunchAdvised\"");
    /* Case matters, as in Intel's parser. */
    refused_status(f, "tcb_info", "\"tcbLevels\":[{\"tcb\":{\"sgx", "\"tcbStatus\":\"UpToDate\"",
                   "\"tcbStatus\":\"uptodate\"",
                   "TCB info: tcbLevels[0]: unrecognized tcbStatus \"uptodate\"");
    /* Module level: only UpToDate, OutOfDate, Revoked. */
    refused_status(f, "tcb_info", "\"tdxModuleIdentities\"", "\"tcbStatus\":\"UpToDate\"",
                   "\"tcbStatus\":\"ConfigurationNeeded\"",
                   "TCB info: tdxModuleIdentities[0]: tcbLevels[0]: unrecognized tcbStatus "
                   "\"ConfigurationNeeded\"");
    /* QE level: no SWHardeningNeeded. */
    refused_status(f, "qe_identity", NULL, "\"tcbStatus\":\"UpToDate\"",
                   "\"tcbStatus\":\"SWHardeningNeeded\"",
                   "QE identity: tcbLevels[0]: unrecognized tcbStatus \"SWHardeningNeeded\"");
}

/* ------------------------------------------------------------------ */
/* The same through the CLI                                            */
/* ------------------------------------------------------------------ */

static void write_file(const char *dir, const char *name, const void *d, size_t n) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    mk_error err;
    TU_ASSERT_RC(mk_file_write(p, d, n, 0600, &err), 0, &err);
}

/* Runs `mosaik tdx verify` on dir/quote with dir/bundle.json; returns the
 * exit status and the output in out. */
static int run_cli(const char *dir, mk_buf *out) {
    const char *cli = getenv("MOSAIK_CLI");
    if (!cli) fail_msg("MOSAIK_CLI is not set (CTest sets it)");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s' tdx verify '%s/quote' --collateral '%s/bundle.json' --trust-sim-root "
             "'%s/root.der' --at %lld --json > '%s/out' 2>&1",
             cli, dir, dir, dir, (long long)NOW, dir);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    char p[512];
    snprintf(p, sizeof p, "%s/out", dir);
    mk_buf_reset(out);
    mk_error err;
    TU_ASSERT_RC(mk_file_read(p, 1 << 20, out, &err), 0, &err);
    assert_int_equal(mk_buf_append(out, "", 1), 0);
    return WEXITSTATUS(st);
}

static void through_the_cli(void **state) {
    fixture *f = *state;
    mk_tdx_sim *s = f->sim;
    char dir[] = "/tmp/mosaik-vcoll-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const uint8_t *der;
    size_t len;
    mk_tdx_sim_root_der(s, &der, &len);
    write_file(dir, "root.der", der, len);
    write_file(dir, "quote", f->quote.data, f->quote.len);
    mk_buf j = MK_BUF_INIT, out = MK_BUF_INIT, crl = MK_BUF_INIT;
    /* Unchanged: verified. */
    sd_bundle(s, NOW, NULL, &j);
    write_file(dir, "bundle.json", j.data, j.len);
    assert_int_equal(run_cli(dir, &out), 0);
    /* A revoked PCK certificate: refused (1), with the reason. */
    sd_crl(s->pck_ca, s->pck_ca_key, NOW, &s->pck, 1, &crl);
    sd_bundle(s, NOW, &(sd_parts){.pck_crl = &crl}, &j);
    write_file(dir, "bundle.json", j.data, j.len);
    assert_int_equal(run_cli(dir, &out), 1);
    if (!strstr((const char *)out.data, "collateral: PCK certificate: certificate '"))
        fail_msg("CLI output lacks the revocation reason: %s", (const char *)out.data);
    /* An unknown tcbStatus: the collateral is refused (1) when it is read. */
    char *tcb = sd_member(s, NOW, "tcb_info");
    char *bad = sd_replace(tcb, "\"tcbLevels\":[{\"tcb\":{\"sgx", "\"UpToDate\"", "\"Upgraded\"");
    sd_bundle(s, NOW, &(sd_parts){.tcb_info = bad}, &j);
    write_file(dir, "bundle.json", j.data, j.len);
    assert_int_equal(run_cli(dir, &out), 1);
    if (!strstr((const char *)out.data, "unrecognized tcbStatus \\\"Upgraded\\\"") &&
        !strstr((const char *)out.data, "unrecognized tcbStatus \"Upgraded\""))
        fail_msg("CLI output lacks the status reason: %s", (const char *)out.data);
    free(tcb);
    free(bad);
    mk_buf_free(&crl);
    mk_buf_free(&out);
    mk_buf_free(&j);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(revoked_pck),
        cmocka_unit_test(revoked_intermediate),
        cmocka_unit_test(pck_crl_of_another_ca),
        cmocka_unit_test(root_must_match),
        cmocka_unit_test(unknown_status_refused),
        cmocka_unit_test(through_the_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
