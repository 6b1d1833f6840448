/*
 * test_verify.c — the verifier (verify.c) on real quotes: chain-only and the collateral required by
 * default, every bit flip refused, a forged Intel root, the full Phala verification, TD-under-debug
 * bits, fetched collateral verified first.
 *
 * Helpers and fixtures are in verify_util.h.
 */
#include "verify_util.h"

static void test_real_chain_only(void **state) {
    (void)state;
    mk_tdx_verifier *v = chain_only_verifier();
    mk_tdx_result r;
    mk_error err;
    mk_buf b;

    load("tdx/phala-v4/quote.bin", &b);
    for (int round = 0; round < 2; round++) { /* cold, warm */
        TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_PHALA, &r, &err), 0, &err);
        assert_int_equal(r.quote_version, 4);
        assert_int_equal(r.body_type, MK_TDX_BODY_TD10);
        static const uint8_t fmspc[6] = {0xb0, 0xc0, 0x6f, 0, 0, 0};
        assert_memory_equal(r.fmspc, fmspc, 6);
        assert_int_equal(r.pck_ca, MK_TDX_CA_PLATFORM);
        assert_false(r.collateral_checked);
        assert_int_equal(r.tcb_status, MK_TDX_TCB_UNKNOWN);
        assert_false(r.simulated);
        assert_false(r.debug);
        assert_int_equal(r.trailing_bytes, 70);
        assert_int_equal(r.report.td_attributes, 0x10000000ull);
        assert_int_equal(r.qe_report.isv_svn, 6);
        char ts[MK_RFC3339_LEN];
        mk_time_format_rfc3339(r.valid_until, ts);
        assert_memory_equal(ts, "2032-02-06", 10); /* PCK leaf notAfter */
    }
    mk_buf_free(&b);

    load("tdx/google-v5/quote.bin", &b);
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_GOOGLE_V5, &r, &err), 0, &err);
    assert_int_equal(r.quote_version, 5);
    assert_int_equal(r.body_type, MK_TDX_BODY_TD15);
    assert_int_equal(r.trailing_bytes, 0);
    mk_buf_free(&b);

    load("tdx/google-spr-v4/quote.bin", &b);
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_SPR, &r, &err), 0, &err);
    assert_int_equal(r.trailing_bytes, 39);
    assert_int_equal(r.report.td_attributes, 0x40000000ull);
    /* Same quote, 30 years on: the certificates have expired. */
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_2053, &r, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "PCK chain: ");
    TU_ASSERT_REASON(&err, "expired at");
    assert_int_equal(r.trailing_bytes, 39); /* what was learnt is kept */
    mk_buf_free(&b);

    load("tdx/phala-sgx/quote.bin", &b);
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_PHALA, &r, &err), MK_EUNSUPPORTED, &err);
    TU_ASSERT_REASON(&err, "not a TDX quote");
    mk_buf_free(&b);
    mk_tdx_verifier_free(v);
}

static void test_collateral_required_by_default(void **state) {
    (void)state;
    mk_tdx_verifier *v = NULL;
    assert_int_equal(mk_tdx_verifier_new(NULL, &v, NULL), 0);
    mk_tdx_policy p;
    mk_tdx_verifier_get_policy(v, &p);
    assert_false(p.chain_only);
    assert_false(p.allow_debug);
    assert_int_equal(p.accepted_statuses, MK_TDX_TCB_BIT(MK_TDX_TCB_UP_TO_DATE) |
                                              MK_TDX_TCB_BIT(MK_TDX_TCB_SW_HARDENING_NEEDED));
    mk_buf b;
    load("tdx/phala-v4/quote.bin", &b);
    mk_error err;
    mk_tdx_result r;
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_PHALA, &r, &err), MK_EPOLICY, &err);
    TU_ASSERT_REASON(&err, "policy: collateral required");
    /* No result pointer, no error pointer: still refused, no crash. */
    assert_int_equal(mk_tdx_verify(v, b.data, b.len, NULL, T_PHALA, NULL, NULL), MK_EPOLICY);
    mk_buf_free(&b);
    mk_tdx_verifier_free(v);
}

static void test_bit_flips(void **state) {
    (void)state;
    mk_tdx_verifier *v = chain_only_verifier();
    mk_buf b;
    load("tdx/phala-v4/quote.bin", &b);
    /* Header: structural fields fail parsing, the rest the signature. */
    flip_region(v, &b, 0, 28, "quote", NULL);
    flip_region(v, &b, 8, 12, "quote signature: ", NULL);
    flip_region(v, &b, 28, 48, "quote signature: ", NULL);
    flip_region(v, &b, 48, 632, "quote signature: ", NULL);  /* body */
    flip_region(v, &b, 636, 700, "quote signature: ", NULL); /* signature */
    flip_region(v, &b, 700, 764, "quote signature: ", NULL); /* attestation key */
    flip_region(v, &b, 770, 1154, "QE report: ", NULL);      /* QE report */
    flip_region(v, &b, 1154, 1218, "QE report: ", NULL);     /* QE report signature */
    flip_region(v, &b, 1220, 1252, "QE report: ", NULL);     /* QE auth data */
    /* Sizes: structure. */
    flip_region(v, &b, 632, 636, "quote: ", NULL);
    flip_region(v, &b, 764, 770, "quote: ", NULL);
    flip_region(v, &b, 1218, 1220, "quote: ", NULL);
    /* The PEM chain: refused (by the chain, or by the QE report check when
     * the leaf's key itself changed). A few positions of each certificate. */
    for (size_t i = 1258 + 100; i < 4936 - 100; i += 97)
        flip_region(v, &b, i, i + 1, "PCK chain: ", "QE report: ");
    /* Trailing bytes are not part of the quote. */
    uint8_t *c = malloc(b.len);
    memcpy(c, b.data, b.len);
    c[b.len - 1] ^= 0xff;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_verify(v, c, b.len, NULL, T_PHALA, NULL, &err), 0, &err);
    /* Truncation anywhere is refused. */
    for (size_t n = 0; n < 4936; n += 7) {
        int rc = mk_tdx_verify(v, c, n, NULL, T_PHALA, NULL, &err);
        if (rc == 0) fail_msg("truncated to %zu accepted", n);
    }
    free(c);
    mk_buf_free(&b);
    mk_tdx_verifier_free(v);
}

static void test_forged_intel_root(void **state) {
    (void)state;
    forged f;
    forge(&f);
    mk_tdx_verifier *v = chain_only_verifier();
    mk_error err;
    mk_tdx_result r;
    TU_ASSERT_RC(mk_tdx_verify(v, f.quote.data, f.quote.len, NULL, T_PHALA, &r, &err),
                 MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "PCK chain: chain does not end in the Intel SGX Root CA");
    /* The structure and both signatures were fine: it is the root. */
    assert_int_equal(r.quote_version, 4);
    /* Told to trust this root as a simulator root, the verifier accepts the
     * quote but flags it. */
    unsigned char *der = NULL;
    int dl = i2d_X509(f.root, &der);
    TU_ASSERT_RC(mk_tdx_verifier_trust_simulator(v, der, (size_t)dl, &err), 0, &err);
    OPENSSL_free(der);
    TU_ASSERT_RC(mk_tdx_verify(v, f.quote.data, f.quote.len, NULL, T_PHALA, &r, &err), 0, &err);
    assert_true(r.simulated);
    /* ... while the real Intel quote is still not "simulated". */
    mk_buf b;
    load("tdx/phala-v4/quote.bin", &b);
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, NULL, T_PHALA, &r, &err), 0, &err);
    assert_false(r.simulated);
    mk_buf_free(&b);
    mk_tdx_verifier_free(v);
    forged_free(&f);
}

static void test_phala_full(void **state) {
    (void)state;
    mk_buf b, cj;
    load("tdx/phala-v4/quote.bin", &b);
    load("tdx/phala-v4/collateral.json", &cj);
    mk_error err;
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_collateral_from_bundle((const char *)cj.data, cj.len, &c, &err), 0, &err);
    mk_tdx_verifier *v = NULL;
    assert_int_equal(mk_tdx_verifier_new(NULL, &v, NULL), 0);
    mk_tdx_result r;
    for (int round = 0; round < 2; round++) {
        TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, c, T_PHALA, &r, &err), 0, &err);
        assert_true(r.collateral_checked);
        assert_int_equal(r.tcb_status, MK_TDX_TCB_UP_TO_DATE);
        assert_int_equal(r.n_advisories, 0);
        assert_false(r.simulated);
        assert_int_equal(r.valid_until, T_PHALA + 1); /* the PCK CRL's nextUpdate */
    }
    /* One second later the PCK CRL has expired. */
    TU_ASSERT_RC(mk_tdx_verify(v, b.data, b.len, c, T_PHALA + 1, &r, &err), MK_EEXPIRED, &err);
    TU_ASSERT_REASON(&err, "collateral: ");
    TU_ASSERT_REASON(&err, "CRL");
    /* The refusal keeps what was learnt before the collateral step. */
    assert_false(r.collateral_checked);
    assert_int_equal(r.tcb_status, MK_TDX_TCB_UNKNOWN);
    assert_int_equal(r.fmspc[0], 0xb0);
    mk_tdx_verifier_free(v);
    mk_tdx_collateral_free(c);
    mk_buf_free(&cj);
    mk_buf_free(&b);
}

/* M2: every TUD bit (0..7: DEBUG, HGS_PLUS_PROF, PERF_PROF, PMT_PROF and the
 * reserved ones) is debug-class: refused without allow_debug, and reported
 * as res.debug. */
static void test_tud_bits(void **state) {
    (void)state;
    static const char *const names[8] = {"DEBUG",         "TUD bit 1", "TUD bit 2", "TUD bit 3",
                                         "HGS_PLUS_PROF", "PERF_PROF", "PMT_PROF",  "TUD bit 7"};
    mk_error err;
    mk_tdx_sim *sim = NULL;
    TU_ASSERT_RC(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = sim_now()}, &sim, &err), 0, &err);
    mk_tdx_verifier *v = NULL;
    assert_int_equal(mk_tdx_verifier_new(NULL, &v, NULL), 0);
    const uint8_t *rder;
    size_t rlen;
    mk_tdx_sim_root_der(sim, &rder, &rlen);
    TU_ASSERT_RC(mk_tdx_verifier_trust_simulator(v, rder, rlen, &err), 0, &err);
    mk_tdx_collateral *c = NULL;
    TU_ASSERT_RC(mk_tdx_sim_collateral(sim, sim_now(), &c, &err), 0, &err);
    for (unsigned bit = 0; bit < 8; bit++) {
        mk_tdx_sim_td td;
        mk_tdx_sim_td_default(&td);
        td.td_attributes |= 1ull << bit;
        mk_buf q;
        sim_quote(sim, &td, &q);
        mk_tdx_policy p;
        mk_tdx_policy_default(&p);
        mk_tdx_verifier_set_policy(v, &p);
        mk_tdx_result r;
        TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), MK_EPOLICY, &err);
        TU_ASSERT_REASON(&err, "policy: debug TD refused");
        TU_ASSERT_REASON(&err, names[bit]);
        assert_true(r.debug);
        /* allow_debug admits the known profiling bits; bits 1-3 and 7 are
         * also reserved and need allow_reserved_attributes too. */
        p.allow_debug = true;
        mk_tdx_verifier_set_policy(v, &p);
        int rc = mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err);
        if (bit == 0 || (bit >= 4 && bit <= 6)) {
            TU_ASSERT_RC(rc, 0, &err);
        } else {
            TU_ASSERT_RC(rc, MK_EPOLICY, &err);
            TU_ASSERT_REASON(&err, "reserved TD attribute bits");
        }
        assert_true(r.debug);
        mk_buf_free(&q);
    }
    /* The default TD (SEPT_VE_DISABLE only) is not debug. */
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    mk_buf q;
    sim_quote(sim, &td, &q);
    mk_tdx_policy p;
    mk_tdx_policy_default(&p);
    mk_tdx_verifier_set_policy(v, &p);
    mk_tdx_result r;
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, c, sim_now(), &r, &err), 0, &err);
    assert_false(r.debug);
    mk_buf_free(&q);
    mk_tdx_collateral_free(c);
    mk_tdx_verifier_free(v);
    mk_tdx_sim_free(sim);
}

static void test_fetched_collateral_verified_first(void **state) {
    (void)state;
    char dir[] = "/tmp/mk-verify-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char good[512], bad[600], cache[600], cfile[700];
    snprintf(good, sizeof good, "%s/tdx/phala-v4/collateral.json", MOSAIK_TESTDATA);
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    snprintf(cfile, sizeof cfile, "%s/tdx-collateral-B0C06F000000-platform.json", cache);

    /* A bundle whose TCB info signature is wrong but which still parses. */
    mk_buf cj;
    load("tdx/phala-v4/collateral.json", &cj);
    assert_int_equal(mk_buf_append_u8(&cj, 0), 0);
    char *p = strstr((char *)cj.data, "\"tcb_info_signature\"");
    assert_non_null(p);
    p = strchr(strchr(p + 20, ':'), '"') + 1;
    *p = *p == '0' ? '1' : '0';
    mk_error err;
    TU_ASSERT_RC(mk_file_write(bad, cj.data, cj.len - 1, 0600, &err), 0, &err);

    pcs s;
    if (!pcs_start(&s, bad, dir)) {
        mk_buf_free(&cj);
        rmdir(dir);
        TU_SKIP("python3 is not installed (scripts/deps.sh test installs it)");
    }
    mk_buf q;
    load("tdx/phala-v4/quote.bin", &q);
    mk_tdx_verifier *v = fetching_verifier(&s, cache);
    mk_tdx_result r;
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, NULL, T_PHALA, &r, &err), MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "signature does not verify");
    struct stat st;
    /* Not written to the disk cache ... */
    assert_true(stat(cfile, &st) < 0);
    /* ... nor kept in memory: the next verification asks the server again. */
    long n1 = pcs_count(&s);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, NULL, T_PHALA, &r, &err), MK_EBADSIG, &err);
    assert_true(pcs_count(&s) > n1);
    mk_tdx_verifier_free(v);
    pcs_stop(&s);

    /* A bad bundle planted in the disk cache (e.g. by an older version) is
     * not reused: the good one is fetched and replaces it. */
    mkdir(cache, 0700);
    TU_ASSERT_RC(mk_file_write(cfile, cj.data, cj.len - 1, 0600, &err), 0, &err);
    assert_true(pcs_start(&s, good, dir));
    v = fetching_verifier(&s, cache);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, NULL, T_PHALA, &r, &err), 0, &err);
    assert_int_equal(r.tcb_status, MK_TDX_TCB_UP_TO_DATE);
    assert_true(r.collateral_checked);
    /* Now cached (verified): a second verifier needs no server. */
    mk_tdx_verifier_free(v);
    long n2 = pcs_count(&s);
    v = fetching_verifier(&s, cache);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, NULL, T_PHALA, &r, &err), 0, &err);
    assert_int_equal(pcs_count(&s), n2);
    mk_tdx_verifier_free(v);
    pcs_stop(&s);

    mk_buf_free(&q);
    mk_buf_free(&cj);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) print_error("could not remove %s\n", dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_chain_only),
        cmocka_unit_test(test_collateral_required_by_default),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_forged_intel_root),
        cmocka_unit_test(test_phala_full),
        cmocka_unit_test(test_tud_bits),
        cmocka_unit_test(test_fetched_collateral_verified_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
