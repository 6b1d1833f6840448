/*
 * tests/unit/tee/snp/test_snp_verify.c — the verifier (verify.c) on every shared
 * SNP case at the README's explicit times, with its README outcome; the
 * policy's options; measurement criteria with baseline and variants.
 */
#include "test_util.h"

#include "tee/snp/snp_internal.h"
#include "tee/tee_internal.h"

#define T_2026_06 1780272000LL /* 2026-06-01T00:00:00Z */
#define T_2025_06 1748736000LL /* 2025-06-01T00:00:00Z */
#define T_2026_01 1767225600LL /* 2026-01-01T00:00:00Z */

typedef struct pair {
    mk_buf report, leaf;
} pair;

static void pair_load(pair *p, const char *dir, const char *leaf) {
    char rel[256];
    mk_buf_init(&p->report, 0);
    mk_buf_init(&p->leaf, 0);
    snprintf(rel, sizeof rel, "snp/%s/report.bin", dir);
    tu_read_testdata(rel, &p->report);
    snprintf(rel, sizeof rel, "snp/%s/%s", dir, leaf);
    tu_read_testdata(rel, &p->leaf);
}

static void pair_free(pair *p) {
    mk_buf_free(&p->report);
    mk_buf_free(&p->leaf);
}

static mk_snp_verifier *verifier(const mk_snp_policy *pol) {
    mk_snp_verifier_config cfg;
    mk_snp_verifier_config_init(&cfg);
    if (pol) cfg.policy = *pol;
    mk_snp_verifier *v = NULL;
    mk_error err;
    TU_ASSERT_RC(mk_snp_verifier_new(&cfg, &v, &err), 0, &err);
    return v;
}

static int verify_pair(mk_snp_verifier *v, const pair *p, const mk_buf *chain, int64_t now,
                       mk_snp_result *res, mk_error *err) {
    mk_snp_certs c = {p->leaf.data,           p->leaf.len, chain ? chain->data : NULL,
                      chain ? chain->len : 0, NULL,        0};
    return mk_snp_verify(v, p->report.data, p->report.len, &c, now, res, err);
}

/* ------------------------------------------------------------------ */
/* The README's cases                                                  */
/* ------------------------------------------------------------------ */

static void test_virtee_milan_verified(void **state) {
    (void)state;
    pair p;
    pair_load(&p, "virtee-milan", "vcek.der");
    mk_snp_verifier *v = verifier(NULL);
    mk_snp_result r;
    mk_error err;
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_06, &r, &err), 0, &err);
    assert_int_equal(r.product, MK_SNP_MILAN);
    assert_int_equal(r.signing_key, MK_SNP_KEY_VCEK);
    assert_true(r.chain_verified);
    assert_false(r.crl_checked);
    assert_false(r.debug);
    assert_int_equal(r.reported_tcb.bootloader, 3);
    assert_int_equal(r.reported_tcb.snp, 8);
    assert_int_equal(r.reported_tcb.microcode, 115);
    assert_int_equal(r.cert.tcb.microcode, 115);
    assert_memory_equal(r.cert.hwid, r.report.chip_id, 64);
    char ts[MK_RFC3339_LEN];
    mk_time_format_rfc3339(r.valid_until, ts);
    assert_string_equal(ts, "2030-04-03T19:23:43Z"); /* the VCEK's notAfter */
    mk_snp_verifier_free(v);
    pair_free(&p);
}

static void test_trustee_milan_verified(void **state) {
    (void)state;
    pair p;
    pair_load(&p, "trustee-milan", "vcek.der");
    mk_snp_verifier *v = verifier(NULL);
    mk_snp_result r;
    mk_error err;
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_06, &r, &err), 0, &err);
    assert_int_equal(r.product, MK_SNP_MILAN);
    assert_int_equal(r.current_tcb.microcode, 206);
    assert_int_equal(r.reported_tcb.microcode, 115);
    mk_snp_verifier_free(v);
    pair_free(&p);
}

/* The trustee VCEKs with a replaced hwID: their signature fails. */
static void test_trustee_invalid_vceks_refused(void **state) {
    (void)state;
    static const char *const leaves[] = {"vcek-invalid-legacy.der", "vcek-invalid-new.der"};
    mk_snp_verifier *v = verifier(NULL);
    for (int i = 0; i < 2; i++) {
        pair p;
        pair_load(&p, "trustee-milan", leaves[i]);
        mk_snp_result r;
        mk_error err;
        TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_06, &r, &err), MK_EBADSIG, &err);
        TU_ASSERT_REASON(&err, "chain: signature of certificate 'SEV-VCEK' does not verify");
        assert_false(r.chain_verified);
        assert_int_equal(r.valid_until, 0);
        pair_free(&p);
    }
    mk_snp_verifier_free(v);
}

static void test_vlek_verified_then_expired(void **state) {
    (void)state;
    pair p;
    pair_load(&p, "trustee-vlek", "vlek.der");
    mk_snp_verifier *v = verifier(NULL);
    mk_snp_result r;
    mk_error err;
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2025_06, &r, &err), 0, &err);
    assert_int_equal(r.product, MK_SNP_MILAN);
    assert_int_equal(r.signing_key, MK_SNP_KEY_VLEK);
    assert_int_equal(r.report.vmpl, 1);
    assert_string_equal(r.cert.csp_id, "CN=cc-us-east-2.amazonaws.com");
    assert_int_equal(r.reported_tcb.microcode, 217);
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_06, &r, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "chain: certificate 'SEV-VLEK' expired at 2025-12-10T22:14:21Z (now "
                           "2026-06-01T00:00:00Z)");
    /* A VCEK-only policy, or one that takes VMPL 0 only, refuses it. */
    mk_snp_policy pol;
    mk_snp_policy_default(&pol);
    pol.accepted_keys = MK_SNP_KEY_BIT(MK_SNP_KEY_VCEK);
    mk_snp_verifier_set_policy(v, &pol);
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2025_06, &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "policy: reports signed by a VLEK are not accepted");
    mk_snp_policy_default(&pol);
    pol.max_vmpl = 0;
    mk_snp_verifier_set_policy(v, &pol);
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2025_06, &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "policy: report from VMPL 1; at most VMPL 0 is accepted");
    mk_snp_verifier_free(v);
    pair_free(&p);
}

static void test_debug_refused_by_default(void **state) {
    (void)state;
    pair p;
    pair_load(&p, "gsg-milan-debug", "vcek.der");
    mk_snp_verifier *v = verifier(NULL);
    mk_snp_result r;
    mk_error err;
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_06, &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "policy: debug guest refused (guest policy 0xb0000 has DEBUG");
    assert_true(r.chain_verified); /* signature and chain were fine */
    assert_true(r.debug);
    mk_snp_policy pol;
    mk_snp_policy_default(&pol);
    pol.allow_debug = true;
    mk_snp_verifier_set_policy(v, &pol);
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_06, &r, &err), 0, &err);
    assert_true(r.debug);
    assert_int_equal(r.reported_tcb.microcode, 68);
    mk_snp_verifier_free(v);
    pair_free(&p);
}

static void test_genoa_verified_then_not_yet(void **state) {
    (void)state;
    pair p;
    pair_load(&p, "ms-genoa", "vcek.pem");
    mk_snp_verifier *v = verifier(NULL);
    mk_snp_result r;
    mk_error err;
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_06, &r, &err), 0, &err);
    assert_int_equal(r.product, MK_SNP_GENOA);
    assert_int_equal(r.reported_tcb.bootloader, 10);
    assert_int_equal(r.reported_tcb.snp, 23);
    assert_int_equal(r.reported_tcb.microcode, 84);
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_01, &r, &err), MK_ENOTYET, &err);
    TU_ASSERT_REASON(&err, "chain: certificate 'SEV-VCEK' is not valid before "
                           "2026-02-05T02:05:07Z (now 2026-01-01T00:00:00Z)");
    mk_snp_verifier_free(v);
    pair_free(&p);
}

/* "with a Milan chain: refused": the built-in Genoa ARK stays the anchor,
 * so the offered Milan ASK/ARK cannot help, and they are not for this leaf. */
static void test_genoa_with_milan_chain_refused(void **state) {
    (void)state;
    pair p;
    pair_load(&p, "ms-genoa", "vcek.pem");
    mk_buf chain;
    mk_buf_init(&chain, 0);
    tu_read_testdata("snp/roots/milan_vcek_chain.pem", &chain);
    mk_snp_verifier *v = verifier(NULL);
    mk_snp_result r;
    mk_error err;
    TU_ASSERT_RC(verify_pair(v, &p, &chain, T_2026_06, &r, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "chain: the certificates offered hold a root 'ARK-Milan' that is not "
                           "AMD's pinned ARK-Genoa");
    /* The matching chain is accepted (and changes nothing). */
    mk_buf_reset(&chain);
    tu_read_testdata("snp/roots/genoa_vcek_chain.pem", &chain);
    TU_ASSERT_RC(verify_pair(v, &p, &chain, T_2026_06, &r, &err), 0, &err);
    mk_snp_verifier_free(v);
    mk_buf_free(&chain);
    pair_free(&p);
}

/* A PEM file may carry the chain after the leaf. */
static void test_pem_leaf_with_chain(void **state) {
    (void)state;
    pair p;
    pair_load(&p, "ms-genoa", "vcek.pem");
    tu_read_testdata("snp/roots/genoa_vcek_chain.pem", &p.leaf);
    mk_snp_verifier *v = verifier(NULL);
    mk_snp_result r;
    mk_error err;
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_06, &r, &err), 0, &err);
    mk_snp_verifier_free(v);
    pair_free(&p);
}

/* The Turin VCEK (no report): its chain verifies to the built-in Turin ARK. */
static void test_turin_chain(void **state) {
    (void)state;
    mk_buf b;
    mk_buf_init(&b, 0);
    tu_read_testdata("snp/virtee-turin-chain/vcek.der", &b);
    mk_snp_cert_list l = {0};
    mk_error err;
    TU_ASSERT_RC(mk_snp_certs_read(b.data, b.len, &l, &err), 0, &err);
    mk_tee_trust *t = NULL;
    TU_ASSERT_RC(mk_snp_trust_new(&t, &err), 0, &err);
    mk_snp_chain_in in = {t, MK_SNP_TURIN, MK_SNP_CA_ASK, l.cert[0], NULL};
    mk_tee_chain out;
    TU_ASSERT_RC(mk_snp_chain_verify(&in, T_2026_06, &out, &err), 0, &err);
    char ts[MK_RFC3339_LEN];
    mk_time_format_rfc3339(out.not_after, ts);
    assert_string_equal(ts, "2031-11-06T21:14:00Z");
    assert_int_equal(out.root_index, 2);
    mk_tee_chain_free(&out);
    /* Not under Milan's. */
    in.product = MK_SNP_MILAN;
    TU_ASSERT_RC(mk_snp_chain_verify(&in, T_2026_06, &out, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "is issued by 'SEV-Turin', not by 'SEV-Milan'");
    mk_tee_trust_free(t);
    mk_snp_cert_list_free(&l);
    mk_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Policy and criteria                                                 */
/* ------------------------------------------------------------------ */

static void test_policy_options(void **state) {
    (void)state;
    pair p;
    pair_load(&p, "virtee-milan", "vcek.der");
    mk_snp_policy pol;
    mk_snp_policy_default(&pol);
    assert_false(pol.allow_debug);
    assert_false(pol.allow_migration_agent);
    assert_true(pol.allow_smt);
    assert_int_equal(pol.max_vmpl, 3);
    assert_int_equal(pol.accepted_keys, 3);
    mk_snp_verifier *v = verifier(&pol);
    mk_snp_result r;
    mk_error err;
    pol.allow_smt = false; /* platform_info 0x1: SMT enabled */
    mk_snp_verifier_set_policy(v, &pol);
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_06, &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "policy: SMT is enabled on the host");
    mk_snp_policy_default(&pol);
    pol.min_tcb.microcode = 116;
    mk_snp_verifier_set_policy(v, &pol);
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_06, &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "policy: reported TCB microcode SVN 115 is below the minimum 116");
    pol.min_tcb = (mk_snp_tcb){.bootloader = 3, .snp = 8, .microcode = 115, .fmc = 9};
    mk_snp_verifier_set_policy(v, &pol); /* fmc is Turin's: not applied to Milan */
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_06, &r, &err), 0, &err);
    mk_snp_policy_default(&pol);
    pol.min_firmware = (mk_snp_fw_version){1, 55, 0};
    mk_snp_verifier_set_policy(v, &pol);
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_06, &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "policy: firmware 1.52.4 is below the minimum 1.55.0");
    pol.min_firmware = (mk_snp_fw_version){1, 52, 4};
    pol.min_policy_abi_minor = 1;
    mk_snp_verifier_set_policy(v, &pol);
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_06, &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "the guest policy demands ABI 0.0, below the minimum 0.1");
    pol.min_policy_abi_minor = 0;
    pol.require_crl = true;
    mk_snp_verifier_set_policy(v, &pol);
    TU_ASSERT_RC(verify_pair(v, &p, NULL, T_2026_06, &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "a CRL is required");
    mk_snp_policy got;
    mk_snp_verifier_get_policy(v, &got);
    assert_true(got.require_crl);
    mk_snp_verifier_free(v);
    pair_free(&p);
}

/* A migration agent allowed by the guest policy (bit 18) is refused by the
 * default policy; tested on the policy check alone (no real report has it). */
static void test_policy_migration_agent(void **state) {
    (void)state;
    mk_snp_report rep;
    memset(&rep, 0, sizeof rep);
    rep.policy = MK_SNP_POLICY_RESERVED_1 | MK_SNP_POLICY_MIGRATE_MA;
    mk_snp_policy pol;
    mk_snp_policy_default(&pol);
    mk_error err;
    assert_int_equal(mk_snp_policy_check(&pol, &rep, MK_SNP_MILAN, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "allows a migration agent (MIGRATE_MA)");
    pol.allow_migration_agent = true;
    TU_ASSERT_RC(mk_snp_policy_check(&pol, &rep, MK_SNP_MILAN, &err), 0, &err);
    rep.reported_tcb = mk_snp_tcb_encode(&(mk_snp_tcb){.fmc = 2}, MK_SNP_TURIN);
    pol.min_tcb.fmc = 3;
    assert_int_equal(mk_snp_policy_check(&pol, &rep, MK_SNP_TURIN, &err), MK_EPOLICY);
    TU_ASSERT_REASON(&err, "reported TCB fmc SVN 2 is below the minimum 3");
}

static void test_criteria(void **state) {
    (void)state;
    mk_buf b;
    mk_buf_init(&b, 0);
    tu_read_testdata("snp/ms-genoa/report.bin", &b);
    mk_snp_report rep;
    mk_error err;
    TU_ASSERT_RC(mk_snp_report_parse(b.data, b.len, &rep, &err), 0, &err);
    mk_snp_criteria base, var[2];
    mk_snp_criteria_init(&base);
    TU_ASSERT_RC(mk_snp_criteria_match(&base, &rep, &err), 0, &err); /* empty: anything */
    TU_ASSERT_RC(mk_snp_criteria_require_hex(
                     &base, MK_SNP_REQ_HOST_DATA,
                     "0x4f4448c67f3c8dfc8de8a5e37125d807dadcc41f06cf23f615dbd52eec777d10", &err),
                 0, &err);
    mk_snp_criteria_require_min_guest_svn(&base, 2);
    TU_ASSERT_RC(mk_snp_criteria_match(&base, &rep, &err), 0, &err);
    mk_snp_criteria_require_min_guest_svn(&base, 3);
    assert_int_equal(mk_snp_criteria_match(&base, &rep, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "guest_svn 2 is below the minimum 3");
    mk_snp_criteria_require_min_guest_svn(&base, 2);
    assert_int_equal(mk_snp_criteria_require_hex(&base, MK_SNP_REQ_MEASUREMENT, "abcd", &err),
                     MK_EINVAL);
    assert_int_equal(mk_snp_criteria_require_hex(&base, MK_SNP_REQ_MIN_GUEST_SVN, "00", &err),
                     MK_EINVAL);
    /* Variants: one must match. */
    mk_snp_criteria_init(&var[0]);
    mk_snp_criteria_init(&var[1]);
    TU_ASSERT_RC(mk_snp_criteria_require_hex(&var[0], MK_SNP_REQ_MEASUREMENT,
                                             "00000000000000000000000000000000000000000000000000000"
                                             "0000000000000000000000000000000000000000000",
                                             &err),
                 0, &err);
    mk_snp_criteria_from_report(&var[1], &rep, MK_SNP_REQ_MEASUREMENT | MK_SNP_REQ_ID_KEY_DIGEST);
    assert_int_equal(var[1].mask, MK_SNP_REQ_MEASUREMENT | MK_SNP_REQ_ID_KEY_DIGEST);
    TU_ASSERT_RC(mk_snp_criteria_match_set(&base, var, 2, &rep, &err), 0, &err);
    assert_int_equal(mk_snp_criteria_match_set(&base, var, 1, &rep, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "no variant matches (1: measurement mismatch: want 000000");
    TU_ASSERT_REASON(&err, "got 5feee30d");
    mk_snp_criteria empty;
    mk_snp_criteria_init(&empty);
    assert_int_equal(mk_snp_criteria_match_set(&base, &empty, 1, &rep, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "variant 1 pins nothing");
    /* The baseline is checked first. */
    mk_snp_criteria_from_report(&base, &rep, MK_SNP_REQ_ALL);
    base.family_id[0] ^= 1;
    assert_int_equal(mk_snp_criteria_match_set(&base, var, 2, &rep, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "family_id mismatch");
    mk_buf_free(&b);
}

static void test_no_certificate(void **state) {
    (void)state;
    pair p;
    pair_load(&p, "virtee-milan", "vcek.der");
    mk_snp_verifier *v = verifier(NULL);
    mk_snp_result r;
    mk_error err;
    assert_int_equal(mk_snp_verify(v, p.report.data, p.report.len, NULL, T_2026_06, &r, &err),
                     MK_ENOTFOUND);
    TU_ASSERT_REASON(&err, "certificate: no VCEK given and no KDS fetcher configured");
    pair_free(&p);
    pair_load(&p, "trustee-vlek", "vlek.der");
    assert_int_equal(mk_snp_verify(v, p.report.data, p.report.len, NULL, T_2025_06, &r, &err),
                     MK_ENOTFOUND);
    TU_ASSERT_REASON(&err, "signed by a VLEK, which the KDS does not serve");
    mk_snp_verifier_free(v);
    pair_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_virtee_milan_verified),
        cmocka_unit_test(test_trustee_milan_verified),
        cmocka_unit_test(test_trustee_invalid_vceks_refused),
        cmocka_unit_test(test_vlek_verified_then_expired),
        cmocka_unit_test(test_debug_refused_by_default),
        cmocka_unit_test(test_genoa_verified_then_not_yet),
        cmocka_unit_test(test_genoa_with_milan_chain_refused),
        cmocka_unit_test(test_pem_leaf_with_chain),
        cmocka_unit_test(test_turin_chain),
        cmocka_unit_test(test_policy_options),
        cmocka_unit_test(test_policy_migration_agent),
        cmocka_unit_test(test_criteria),
        cmocka_unit_test(test_no_certificate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
