/*
 * test_sim.c — the TDX simulator: its PKI, its quotes (v4, v5 with TD 1.0
 * and TD 1.5 bodies) through the real parser and verifier, its collateral,
 * persistence, and the simulator provider.
 */
#include "test_util.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "mosaik/tdx_provider.h"
#include "tee/tdx/tdx_internal.h"

/* A fixed "now" for every validity check: 2025-07-19T10:00:00Z. */
#define T0 ((int64_t)1752919200)

static mk_tdx_sim *g_sim; /* generated once per run (key generation is slow-ish) */

static int setup(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    if (mk_tdx_sim_new(&(mk_tdx_sim_config){.now = T0}, &g_sim, &err) != 0) {
        fprintf(stderr, "mk_tdx_sim_new: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    mk_tdx_sim_free(g_sim);
    g_sim = NULL;
    return 0;
}

static void fill(uint8_t *p, size_t n, uint8_t seed) {
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7);
}

static X509 *root_x509(const mk_tdx_sim *sim) {
    const uint8_t *der;
    size_t len;
    mk_tdx_sim_root_der(sim, &der, &len);
    const unsigned char *p = der;
    return d2i_X509(NULL, &p, (long)len);
}

static mk_tdx_verifier *trusting_verifier(const mk_tdx_sim *sim) {
    mk_tdx_verifier *v = NULL;
    assert_int_equal(mk_tdx_verifier_new(NULL, &v, NULL), 0);
    assert_non_null(v);
    const uint8_t *der;
    size_t len;
    mk_tdx_sim_root_der(sim, &der, &len);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_verifier_trust_simulator(v, der, len, &err), 0, &err);
    return v;
}

/* ---- PKI ---- */

static void test_root_is_labelled(void **state) {
    (void)state;
    X509 *root = root_x509(g_sim);
    assert_non_null(root);
    char cn[256];
    assert_true(
        X509_NAME_get_text_by_NID(X509_get_subject_name(root), NID_commonName, cn, sizeof cn) > 0);
    assert_non_null(strstr(cn, "simulated"));
    assert_null(strstr(cn, "Intel"));
    /* Self-signed. */
    assert_int_equal(X509_verify(root, X509_get0_pubkey(root)), 1);
    X509_free(root);

    const char *pem;
    size_t len;
    mk_tdx_sim_pck_chain_pem(g_sim, &pem, &len);
    assert_int_equal(strlen(pem), len);
    /* leaf, PCK CA, root */
    int n = 0;
    for (const char *p = pem; (p = strstr(p, "BEGIN CERTIFICATE")); p++)
        n++;
    assert_int_equal(n, 3);
}

static void test_pck_extension(void **state) {
    (void)state;
    const char *pem;
    size_t len;
    mk_tdx_sim_pck_chain_pem(g_sim, &pem, &len);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    X509 *ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(leaf);
    assert_non_null(ca);
    char cn[256];
    X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof cn);
    assert_non_null(strstr(cn, "SGX PCK Certificate"));
    assert_non_null(strstr(cn, "simulated"));
    X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn, sizeof cn);
    assert_non_null(strstr(cn, "PCK Platform CA"));

    mk_tdx_pck_ext ext;
    mk_tdx_pck_ca which;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_pck_from_cert(leaf, ca, &ext, &which, &err), 0, &err);
    assert_int_equal(which, MK_TDX_CA_PLATFORM);
    static const uint8_t fmspc[6] = {'M', 'K', 'S', 'I', 'M', 0};
    assert_memory_equal(ext.fmspc, fmspc, 6);
    assert_int_equal(ext.pcesvn, 11);
    assert_int_equal(ext.sgx_tcb_comp[0], 3);
    assert_int_equal(ext.sgx_tcb_comp[4], 4);
    assert_int_equal(ext.sgx_tcb_comp[7], 5);
    assert_memory_equal(ext.cpusvn, ext.sgx_tcb_comp, 16);
    assert_int_equal(ext.pce_id[0], 0);
    assert_int_equal(ext.pce_id[1], 0);
    assert_int_equal(ext.sgx_type, 1);
    assert_true(ext.has_platform_instance_id);
    X509_free(leaf);
    X509_free(ca);
}

/* ---- quotes ---- */

static void check_quote(const mk_tdx_sim_td *td, size_t signed_len) {
    uint8_t rd[64];
    fill(rd, sizeof rd, 0x42);
    mk_buf q = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_sim_quote(g_sim, td, rd, &q, &err), 0, &err);

    mk_tdx_quote parsed;
    TU_ASSERT_RC(mk_tdx_quote_parse(q.data, q.len, &parsed, &err), 0, &err);
    assert_int_equal(parsed.version, td->quote_version);
    assert_int_equal(parsed.att_key_type, 2);
    assert_int_equal(parsed.tee_type, 0x81);
    assert_int_equal(parsed.body_type, td->body_type);
    assert_int_equal(parsed.signed_len, signed_len);
    assert_int_equal(parsed.trailing_bytes, 0);
    assert_int_equal(parsed.quote_len, q.len);
    assert_memory_equal(parsed.user_data, "MOSAIK SIMULATED TDX", 20);
    assert_memory_equal(parsed.body.report_data, rd, 64);
    assert_memory_equal(parsed.body.mr_td, td->mr_td, 48);
    assert_memory_equal(parsed.body.rtmr, td->rtmr, sizeof td->rtmr);
    assert_memory_equal(parsed.body.mr_config_id, td->mr_config_id, 48);
    assert_memory_equal(parsed.body.mr_owner, td->mr_owner, 48);
    assert_memory_equal(parsed.body.mr_owner_config, td->mr_owner_config, 48);
    assert_memory_equal(parsed.body.tee_tcb_svn, td->tee_tcb_svn, 16);
    assert_true(parsed.body.td_attributes == td->td_attributes);
    assert_true(parsed.body.xfam == td->xfam);
    if (td->body_type == MK_TDX_BODY_TD15) {
        assert_memory_equal(parsed.body.tee_tcb_svn2, td->tee_tcb_svn2, 16);
        assert_memory_equal(parsed.body.mr_service_td, td->mr_service_td, 48);
    }
    assert_int_equal(parsed.qe_report.isv_prod_id, 2);
    assert_int_equal(parsed.qe_auth_len, 32);

    /* The signatures, checked here independently of verify.c. */
    mk_pubkey *ak = NULL;
    TU_ASSERT_RC(mk_pubkey_from_ec(MK_P256, parsed.attestation_key, 64, &ak, &err), 0, &err);
    TU_ASSERT_RC(mk_ecdsa_verify_raw(ak, MK_SHA256, parsed.signed_data, parsed.signed_len,
                                     parsed.signature, 64, &err),
                 0, &err);
    mk_pubkey_free(ak);
    uint8_t h[96 + 32], digest[32];
    memcpy(h, parsed.attestation_key, 64);
    memcpy(h + 64, parsed.qe_auth_data, parsed.qe_auth_len);
    mk_sha256(h, 64 + parsed.qe_auth_len, digest);
    assert_memory_equal(parsed.qe_report.report_data, digest, 32);

    /* The whole verifier: trusted simulator root + simulator collateral. */
    mk_tdx_verifier *v = trusting_verifier(g_sim);
    mk_tdx_collateral *coll = NULL;
    TU_ASSERT_RC(mk_tdx_sim_collateral(g_sim, T0, &coll, &err), 0, &err);
    mk_tdx_result res;
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, coll, T0 + 60, &res, &err), 0, &err);
    assert_true(res.simulated);
    assert_true(res.collateral_checked);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_UP_TO_DATE);
    assert_int_equal(res.quote_version, td->quote_version);
    assert_memory_equal(res.report.mr_td, td->mr_td, 48);
    assert_memory_equal(res.report.rtmr, td->rtmr, sizeof td->rtmr);
    assert_memory_equal(res.report.report_data, rd, 64);
    mk_tdx_collateral_free(coll);
    mk_tdx_verifier_free(v);
    mk_buf_free(&q);
}

static void test_quote_v4(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    fill(td.rtmr[0], 48, 1);
    fill(td.rtmr[3], 48, 9);
    fill(td.mr_config_id, 48, 3);
    check_quote(&td, 48 + 584);
}

static void test_quote_v5_td10(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    td.quote_version = 5;
    fill(td.mr_owner, 48, 5);
    check_quote(&td, 54 + 584);
}

static void test_quote_v5_td15(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    td.quote_version = 5;
    td.body_type = MK_TDX_BODY_TD15;
    fill(td.rtmr[2], 48, 0x30);
    fill(td.mr_owner_config, 48, 0x11);
    check_quote(&td, 54 + 648);
}

static void test_quote_bad_shape(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    uint8_t rd[64] = {0};
    mk_buf q = MK_BUF_INIT;
    mk_error err;
    td.body_type = MK_TDX_BODY_TD15; /* needs v5 */
    TU_ASSERT_RC(mk_tdx_sim_quote(g_sim, &td, rd, &q, &err), MK_EUNSUPPORTED, &err);
    td.body_type = MK_TDX_BODY_TD10;
    td.quote_version = 3;
    TU_ASSERT_RC(mk_tdx_sim_quote(g_sim, &td, rd, &q, &err), MK_EUNSUPPORTED, &err);
    assert_int_equal(q.len, 0);
    mk_buf_free(&q);
}

/* ---- verification policy around the simulator ---- */

static void test_default_verifier_refuses(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    uint8_t rd[64] = {1};
    mk_buf q = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_sim_quote(g_sim, &td, rd, &q, &err), 0, &err);
    mk_tdx_collateral *coll = NULL;
    TU_ASSERT_RC(mk_tdx_sim_collateral(g_sim, T0, &coll, &err), 0, &err);

    mk_tdx_verifier *v = NULL;

    assert_int_equal(mk_tdx_verifier_new(NULL, &v, NULL), 0);
    mk_tdx_result res;
    /* With the simulator's own collateral. */
    int rc = mk_tdx_verify(v, q.data, q.len, coll, T0 + 60, &res, &err);
    assert_true(rc < 0);
    TU_ASSERT_REASON(&err, "simulator");
    /* Without collateral, chain only. */
    mk_tdx_policy pol;
    mk_tdx_policy_default(&pol);
    pol.chain_only = true;
    mk_tdx_verifier_set_policy(v, &pol);
    mk_error_clear(&err);
    rc = mk_tdx_verify(v, q.data, q.len, NULL, T0 + 60, &res, &err);
    TU_ASSERT_RC(rc, MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "simulator");
    mk_tdx_verifier_free(v);

    /* A verifier trusting a *different* simulator refuses it too. */
    mk_tdx_sim *other = NULL;
    TU_ASSERT_RC(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = T0}, &other, &err), 0, &err);
    v = trusting_verifier(other);
    rc = mk_tdx_verify(v, q.data, q.len, coll, T0 + 60, &res, &err);
    assert_true(rc < 0);
    mk_tdx_verifier_free(v);
    mk_tdx_sim_free(other);
    mk_tdx_collateral_free(coll);
    mk_buf_free(&q);
}

static void test_out_of_date_module(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    td.tee_tcb_svn[0] = 3; /* TDX_01 module level isvsvn 2: OutOfDate */
    uint8_t rd[64] = {2};
    mk_buf q = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_sim_quote(g_sim, &td, rd, &q, &err), 0, &err);
    mk_tdx_collateral *coll = NULL;
    TU_ASSERT_RC(mk_tdx_sim_collateral(g_sim, T0, &coll, &err), 0, &err);
    mk_tdx_verifier *v = trusting_verifier(g_sim);
    mk_tdx_result res;
    int rc = mk_tdx_verify(v, q.data, q.len, coll, T0 + 60, &res, &err);
    TU_ASSERT_RC(rc, MK_EPOLICY, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_OUT_OF_DATE);
    assert_true(res.simulated);
    /* Accepting OutOfDate by policy lets it through. */
    mk_tdx_policy pol;
    mk_tdx_policy_default(&pol);
    pol.accepted_statuses |= MK_TDX_TCB_BIT(MK_TDX_TCB_OUT_OF_DATE);
    mk_tdx_verifier_set_policy(v, &pol);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, coll, T0 + 60, &res, &err), 0, &err);
    assert_int_equal(res.tcb_status, MK_TDX_TCB_OUT_OF_DATE);
    /* Collateral windows: 30 days. */
    rc = mk_tdx_verify(v, q.data, q.len, coll, T0 + 31 * 86400, &res, &err);
    assert_true(rc < 0);
    mk_tdx_verifier_free(v);
    mk_tdx_collateral_free(coll);
    mk_buf_free(&q);
}

static void test_debug_td_refused(void **state) {
    (void)state;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    td.td_attributes |= MK_TDX_ATTR_DEBUG;
    uint8_t rd[64] = {3};
    mk_buf q = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_sim_quote(g_sim, &td, rd, &q, &err), 0, &err);
    mk_tdx_collateral *coll = NULL;
    TU_ASSERT_RC(mk_tdx_sim_collateral(g_sim, T0, &coll, &err), 0, &err);
    mk_tdx_verifier *v = trusting_verifier(g_sim);
    mk_tdx_result res;
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, coll, T0, &res, &err), MK_EPOLICY, &err);
    assert_true(res.debug);
    mk_tdx_verifier_free(v);
    mk_tdx_collateral_free(coll);
    mk_buf_free(&q);
}

/* ---- collateral ---- */

static void test_collateral_json(void **state) {
    (void)state;
    mk_buf js = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_sim_collateral_json(g_sim, T0, &js, &err), 0, &err);
    json_error_t jerr;
    json_t *o = json_loadb((const char *)js.data, js.len, 0, &jerr);
    assert_non_null(o);
    static const char *keys[] = {
        "pck_crl_issuer_chain",     "root_ca_crl", "pck_crl",
        "tcb_info_issuer_chain",    "tcb_info",    "tcb_info_signature",
        "qe_identity_issuer_chain", "qe_identity", "qe_identity_signature"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_true(json_is_string(json_object_get(o, keys[i])));
    assert_int_equal(strlen(json_string_value(json_object_get(o, "tcb_info_signature"))), 128);
    const char *tcb = json_string_value(json_object_get(o, "tcb_info"));
    assert_non_null(strstr(tcb, "\"fmspc\":\"" MK_TDX_SIM_FMSPC "\""));
    assert_non_null(strstr(tcb, "\"id\":\"TDX_01\""));
    assert_non_null(strstr(tcb, "\"tcbStatus\":\"OutOfDate\""));
    assert_non_null(strstr(json_string_value(json_object_get(o, "qe_identity")), "\"TD_QE\""));
    assert_non_null(
        strstr(json_string_value(json_object_get(o, "tcb_info_issuer_chain")), "BEGIN CERT"));
    json_decref(o);

    /* Parsed by the collateral module; FMSPC and nextUpdate as published. */
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_bundle((const char *)js.data, js.len, &c, &err), 0, &err);
    uint8_t fmspc[6];
    assert_true(mk_tdx_collateral_fmspc(c, fmspc));
    assert_memory_equal(fmspc, "MKSIM", 5);
    assert_true(mk_tdx_collateral_next_update(c) == T0 + 30 * 86400);
    mk_tdx_collateral_free(c);

    /* Tampering with the signed text breaks the signature. The change must
     * keep the document parseable (a PCESVN digit), so that only the
     * signature check can refuse it. */
    char *p = strstr((char *)js.data, "pcesvn\\\":");
    assert_non_null(p);
    p += strlen("pcesvn\\\":");
    assert_true(*p >= '0' && *p <= '9');
    *p = *p == '9' ? '8' : (char)(*p + 1);
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    uint8_t rd[64] = {0};
    mk_buf q = MK_BUF_INIT;
    TU_ASSERT_RC(mk_tdx_sim_quote(g_sim, &td, rd, &q, &err), 0, &err);
    c = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_bundle((const char *)js.data, js.len, &c, &err), 0, &err);
    mk_tdx_verifier *v = trusting_verifier(g_sim);
    mk_tdx_result res;
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, T0, &res, &err), MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "collateral: ");
    TU_ASSERT_REASON(&err, "TCB info: signature does not verify");
    mk_tdx_verifier_free(v);
    mk_tdx_collateral_free(c);
    mk_buf_free(&q);
    mk_buf_free(&js);
}

/* ---- persistence ---- */

static void tmp_path(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/mk_sim_test_%d_%s", MOSAIK_BINARY_DIR, (int)getpid(), name);
}

static void test_save_load(void **state) {
    (void)state;
    char path[1024];
    tmp_path(path, sizeof path, "sim.pem");
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_sim_save(g_sim, path, &err), 0, &err);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    mk_tdx_sim *loaded = NULL;
    TU_ASSERT_RC(mk_tdx_sim_load(path, &loaded, &err), 0, &err);
    const uint8_t *d1, *d2;
    size_t l1, l2;
    mk_tdx_sim_root_der(g_sim, &d1, &l1);
    mk_tdx_sim_root_der(loaded, &d2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(d1, d2, l1);

    /* A quote from the loaded simulator, with collateral from the original,
     * verifies under a verifier trusting the original root (and the reverse). */
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    uint8_t rd[64];
    fill(rd, 64, 0x77);
    mk_buf q = MK_BUF_INIT;
    TU_ASSERT_RC(mk_tdx_sim_quote(loaded, &td, rd, &q, &err), 0, &err);
    mk_tdx_collateral *coll = NULL;
    TU_ASSERT_RC(mk_tdx_sim_collateral(g_sim, T0, &coll, &err), 0, &err);
    mk_tdx_verifier *v = trusting_verifier(g_sim);
    mk_tdx_result res;
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, coll, T0 + 5, &res, &err), 0, &err);
    assert_true(res.simulated);
    mk_tdx_verifier_free(v);
    mk_tdx_collateral_free(coll);
    TU_ASSERT_RC(mk_tdx_sim_quote(g_sim, &td, rd, &q, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_sim_collateral(loaded, T0, &coll, &err), 0, &err);
    v = trusting_verifier(loaded);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, coll, T0 + 5, &res, &err), 0, &err);
    mk_tdx_verifier_free(v);
    mk_tdx_collateral_free(coll);
    mk_buf_free(&q);
    mk_tdx_sim_free(loaded);

    /* load_or_create: an existing file is loaded, not replaced. */
    mk_tdx_sim *again = NULL;
    TU_ASSERT_RC(mk_tdx_sim_load_or_create(path, &(mk_tdx_sim_config){.now = T0}, &again, &err), 0,
                 &err);
    mk_tdx_sim_root_der(again, &d2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(d1, d2, l1);
    mk_tdx_sim_free(again);
    unlink(path);

    /* ... and a missing one is created once. */
    mk_tdx_sim *a = NULL, *b = NULL;
    TU_ASSERT_RC(mk_tdx_sim_load_or_create(path, &(mk_tdx_sim_config){.now = T0}, &a, &err), 0,
                 &err);
    TU_ASSERT_RC(mk_tdx_sim_load_or_create(path, &(mk_tdx_sim_config){.now = T0}, &b, &err), 0,
                 &err);
    mk_tdx_sim_root_der(a, &d1, &l1);
    mk_tdx_sim_root_der(b, &d2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(d1, d2, l1);
    mk_tdx_sim_free(a);
    mk_tdx_sim_free(b);
    unlink(path);
}

/* Several processes racing to create the shared simulator agree on one root. */
static void test_load_or_create_processes(void **state) {
    (void)state;
    char path[1024];
    tmp_path(path, sizeof path, "shared.pem");
    unlink(path);
    enum { N = 4 };
    int fds[N][2];
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(pipe(fds[i]), 0);
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            mk_tdx_sim *s = NULL;
            uint8_t h[32] = {0};
            if (mk_tdx_sim_load_or_create(path, &(mk_tdx_sim_config){.now = T0}, &s, NULL) == 0) {
                const uint8_t *der;
                size_t len;
                mk_tdx_sim_root_der(s, &der, &len);
                mk_sha256(der, len, h);
                mk_tdx_sim_free(s);
            }
            ssize_t w = write(fds[i][1], h, sizeof h);
            _exit(w == (ssize_t)sizeof h ? 0 : 1);
        }
        close(fds[i][1]);
    }
    uint8_t first[32], h[32], zero[32] = {0};
    for (int i = 0; i < N; i++) {
        assert_int_equal(read(fds[i][0], h, sizeof h), (ssize_t)sizeof h);
        close(fds[i][0]);
        int status = 0;
        waitpid(pids[i], &status, 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_memory_not_equal(h, zero, 32);
        if (i == 0)
            memcpy(first, h, 32);
        else
            assert_memory_equal(h, first, 32);
    }
    /* No temporary files left behind. */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", MOSAIK_BINARY_DIR);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    char prefix[128];
    snprintf(prefix, sizeof prefix, "mk_sim_test_%d_shared.pem.", (int)getpid());
    while ((e = readdir(d)))
        assert_null(strstr(e->d_name, prefix));
    closedir(d);
    unlink(path);
}

static void test_load_bad(void **state) {
    (void)state;
    char path[1024];
    tmp_path(path, sizeof path, "bad.pem");
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_sim *s = NULL;
    TU_ASSERT_RC(mk_tdx_sim_load(path, &s, &err), MK_EIO, &err); /* missing */
    assert_null(s);
    TU_ASSERT_RC(mk_file_write(path, "not pem\n", 8, 0600, &err), 0, &err);
    assert_true(mk_tdx_sim_load(path, &s, &err) < 0);
    assert_null(s);

    /* Keys swapped between certificates: refused. */
    char good[1024];
    tmp_path(good, sizeof good, "good.pem");
    TU_ASSERT_RC(mk_tdx_sim_save(g_sim, good, &err), 0, &err);
    mk_buf f = MK_BUF_INIT;
    TU_ASSERT_RC(mk_file_read(good, 1 << 20, &f, &err), 0, &err);
    mk_buf_append_u8(&f, 0);
    /* Drop the first private key block: the root cert then pairs with the
     * PCK CA key. */
    char *first = strstr((char *)f.data, "-----BEGIN PRIVATE KEY-----");
    char *end = strstr(first, "-----END PRIVATE KEY-----\n");
    assert_non_null(end);
    end += strlen("-----END PRIVATE KEY-----\n");
    memmove(first, end, strlen(end) + 1);
    TU_ASSERT_RC(mk_file_write(path, f.data, strlen((char *)f.data), 0600, &err), 0, &err);
    assert_true(mk_tdx_sim_load(path, &s, &err) < 0);
    assert_null(s);
    mk_buf_free(&f);
    unlink(good);
    unlink(path);
}

/* ---- the simulator as a provider ---- */

static void test_sim_provider(void **state) {
    (void)state;
    mk_tdx_sim *sim = NULL;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = T0}, &sim, &err), 0, &err);
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_tdx_provider *p = NULL;
    assert_int_equal(mk_tdx_provider_sim_new(sim, &td, &p, NULL), 0);
    assert_non_null(p);
    /* The provider keeps the simulator alive. */
    mk_tdx_sim_free(sim);
    assert_true(mk_tdx_provider_is_simulated(p));
    assert_non_null(strstr(mk_tdx_provider_name(p), "simulator"));
    assert_true(mk_tdx_provider_available(p, &err));

    uint8_t rd[64];
    fill(rd, 64, 0x10);
    mk_tdx_td_report rep;
    TU_ASSERT_RC(mk_tdx_provider_report(p, rd, &rep, &err), 0, &err);
    assert_memory_equal(rep.mr_td, td.mr_td, 48);
    assert_memory_equal(rep.report_data, rd, 64);

    /* RTMR extension: SHA-384(old || digest). */
    uint8_t d[48], expect[48], in[96], got[48];
    fill(d, 48, 0xA0);
    memset(in, 0, 48);
    memcpy(in + 48, d, 48);
    mk_sha384(in, 96, expect);
    TU_ASSERT_RC(mk_tdx_provider_extend_rtmr(p, 2, d, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_provider_read_rtmr(p, 2, got, &err), 0, &err);
    assert_memory_equal(got, expect, 48);
    memcpy(in, expect, 48);
    mk_sha384(in, 96, expect);
    TU_ASSERT_RC(mk_tdx_provider_extend_rtmr(p, 2, d, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_provider_report(p, rd, &rep, &err), 0, &err);
    assert_memory_equal(rep.rtmr[2], expect, 48);
    TU_ASSERT_RC(mk_tdx_provider_extend_rtmr(p, 0, d, &err), MK_EINVAL, &err);
    TU_ASSERT_RC(mk_tdx_provider_extend_rtmr(p, 4, d, &err), MK_EINVAL, &err);

    /* The quote carries the extended RTMR. */
    mk_buf q = MK_BUF_INIT;
    TU_ASSERT_RC(mk_tdx_provider_quote(p, rd, &q, &err), 0, &err);
    mk_tdx_quote parsed;
    TU_ASSERT_RC(mk_tdx_quote_parse(q.data, q.len, &parsed, &err), 0, &err);
    assert_memory_equal(parsed.body.rtmr[2], expect, 48);
    assert_memory_equal(parsed.body.report_data, rd, 64);
    mk_buf_free(&q);
    mk_tdx_provider_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_is_labelled),
        cmocka_unit_test(test_pck_extension),
        cmocka_unit_test(test_quote_v4),
        cmocka_unit_test(test_quote_v5_td10),
        cmocka_unit_test(test_quote_v5_td15),
        cmocka_unit_test(test_quote_bad_shape),
        cmocka_unit_test(test_default_verifier_refuses),
        cmocka_unit_test(test_out_of_date_module),
        cmocka_unit_test(test_debug_td_refused),
        cmocka_unit_test(test_collateral_json),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_load_or_create_processes),
        cmocka_unit_test(test_load_bad),
        cmocka_unit_test(test_sim_provider),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
