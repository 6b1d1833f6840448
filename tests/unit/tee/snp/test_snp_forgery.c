/*
 * tests/unit/tee/snp/test_snp_forgery.c — the forgery suite: every way to make
 * the verifier accept a report AMD did not sign is refused, each with its
 * own reason:
 *   a report re-signed by a fresh key with a self-signed VCEK-like
 *   certificate (and one "issued" by SEV-Milan but signed by the forger);
 *   a leaf under a self-made ARK/ASK named like AMD's (with and without the
 *   fake root in the file); a VCEK of another chip; a Milan VCEK for a Genoa
 *   report; one flipped bit in every signed field; zero and out-of-range
 *   signature values; truncated and oversized reports.
 */
#include <openssl/pem.h>

#include "snp_forge_util.h"
#include "tee/snp/snp_internal.h"

#define T_2026_06 1780272000LL

typedef struct fx {
    mk_buf report, vcek;
    mk_snp_verifier *v;
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    mk_buf_init(&f->report, 0);
    mk_buf_init(&f->vcek, 0);
    tu_read_testdata("snp/virtee-milan/report.bin", &f->report);
    tu_read_testdata("snp/virtee-milan/vcek.der", &f->vcek);
    mk_snp_verifier_config cfg;
    mk_snp_verifier_config_init(&cfg);
    cfg.policy.allow_debug = false;
    if (mk_snp_verifier_new(&cfg, &f->v, NULL) < 0) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    mk_buf_free(&f->report);
    mk_buf_free(&f->vcek);
    mk_snp_verifier_free(f->v);
    free(f);
    return 0;
}

static int verify(fx *f, const uint8_t *rep, size_t len, const mk_buf *leaf, mk_error *err) {
    mk_snp_certs c = {leaf->data, leaf->len, NULL, 0, NULL, 0};
    return mk_snp_verify(f->v, rep, len, &c, T_2026_06, NULL, err);
}

/* The genuine pair verifies (so every refusal below is the forgery's). */
static void test_genuine(void **state) {
    fx *f = *state;
    mk_error err;
    TU_ASSERT_RC(verify(f, f->report.data, f->report.len, &f->vcek, &err), 0, &err);
}

static const forge_vcek *milan_vcek_like(const uint8_t *chip_id) {
    static forge_vcek v;
    v = (forge_vcek){"Milan-B0", {.bootloader = 3, .tee = 0, .snp = 8, .microcode = 115}, chip_id};
    return &v;
}

static void test_resigned_self_signed_vcek(void **state) {
    fx *f = *state;
    uint8_t rep[MK_SNP_REPORT_LEN];
    memcpy(rep, f->report.data, sizeof rep);
    rep[0x50] ^= 0xff; /* the forger's own report data */
    EVP_PKEY *k = forge_ec_key();
    forge_resign(rep, k);
    mk_error err;
    mk_buf leaf;
    mk_buf_init(&leaf, 0);
    /* Self-signed, named and extended like a VCEK of this chip. */
    X509 *x = forge_cert("SEV-VCEK", "SEV-VCEK", k, k, false, milan_vcek_like(rep + 0x1a0));
    forge_der(x, &leaf);
    TU_ASSERT_RC(verify(f, rep, sizeof rep, &leaf, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "chain: certificate 'SEV-VCEK' is self-signed; it must be issued under "
                           "AMD's pinned ARK-Milan");
    X509_free(x);
    /* "Issued" by SEV-Milan, but signed (ECDSA) by the forger: AMD's RSA
     * ASK cannot have issued it. */
    mk_buf_reset(&leaf);
    x = forge_cert("SEV-VCEK", "SEV-Milan", k, k, false, milan_vcek_like(rep + 0x1a0));
    forge_der(x, &leaf);
    TU_ASSERT_RC(verify(f, rep, sizeof rep, &leaf, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "chain: chain does not end in AMD's ARK: no trusted issuer 'SEV-Milan' "
                           "for certificate 'SEV-VCEK'");
    X509_free(x);
    mk_buf_free(&leaf);
    EVP_PKEY_free(k);
}

static void test_self_made_ark_ask(void **state) {
    fx *f = *state;
    uint8_t rep[MK_SNP_REPORT_LEN];
    memcpy(rep, f->report.data, sizeof rep);
    EVP_PKEY *ark_k = forge_rsa_key(), *ask_k = forge_rsa_key(), *leaf_k = forge_ec_key();
    X509 *ark = forge_cert("ARK-Milan", "ARK-Milan", ark_k, ark_k, true, NULL);
    X509 *ask = forge_cert("SEV-Milan", "ARK-Milan", ark_k, ask_k, true, NULL);
    X509 *leaf =
        forge_cert("SEV-VCEK", "SEV-Milan", ask_k, leaf_k, false, milan_vcek_like(rep + 0x1a0));
    forge_resign(rep, leaf_k);
    mk_buf pem;
    mk_buf_init(&pem, 0);
    mk_error err;
    /* The whole fake chain in the file: its root is not AMD's. */
    forge_pem(leaf, &pem);
    forge_pem(ask, &pem);
    forge_pem(ark, &pem);
    TU_ASSERT_RC(verify(f, rep, sizeof rep, &pem, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "chain: the certificates offered hold a root 'ARK-Milan' that is not "
                           "AMD's pinned ARK-Milan");
    /* Without the fake root: the fake ASK does not verify under AMD's ARK. */
    mk_buf_reset(&pem);
    forge_pem(leaf, &pem);
    forge_pem(ask, &pem);
    TU_ASSERT_RC(verify(f, rep, sizeof rep, &pem, &err), MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "chain: certificate 'SEV-Milan' offered as the intermediate is not "
                           "AMD's (under AMD's pinned ARK-Milan)");
    TU_ASSERT_REASON(&err, "signature of certificate 'SEV-Milan' does not verify");
    /* The leaf alone: AMD's built-in SEV-Milan did not sign it. */
    mk_buf_reset(&pem);
    forge_pem(leaf, &pem);
    TU_ASSERT_RC(verify(f, rep, sizeof rep, &pem, &err), MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "chain: signature of certificate 'SEV-VCEK' does not verify");
    /* With AMD's real chain added: still the built-in anchor decides. */
    tu_read_testdata("snp/roots/milan_vcek_chain.pem", &pem);
    TU_ASSERT_RC(verify(f, rep, sizeof rep, &pem, &err), MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "chain: signature of certificate 'SEV-VCEK' does not verify");
    mk_buf_free(&pem);
    X509_free(ark);
    X509_free(ask);
    X509_free(leaf);
    EVP_PKEY_free(ark_k);
    EVP_PKEY_free(ask_k);
    EVP_PKEY_free(leaf_k);
}

static void test_vcek_of_another_chip(void **state) {
    fx *f = *state;
    mk_buf other;
    mk_buf_init(&other, 0);
    tu_read_testdata("snp/trustee-milan/vcek.der", &other); /* same TCB, other chip */
    mk_error err;
    TU_ASSERT_RC(verify(f, f->report.data, f->report.len, &other, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "hwID: the VCEK's hwID c38427a3");
    TU_ASSERT_REASON(&err, "is not the report's chip_id d49554ec");
    TU_ASSERT_REASON(&err, "(a VCEK of another chip)");
    mk_buf_free(&other);
}

static void test_milan_vcek_for_genoa_report(void **state) {
    fx *f = *state;
    mk_buf genoa;
    mk_buf_init(&genoa, 0);
    tu_read_testdata("snp/ms-genoa/report.bin", &genoa);
    mk_error err;
    TU_ASSERT_RC(verify(f, genoa.data, genoa.len, &f->vcek, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "product: the certificate is for Milan (productName 'Milan-B0'), the "
                           "report is from Genoa (CPUID 19/11/01)");
    /* And the Genoa VCEK for a v2 (Milan) report: the Genoa chain is used,
     * then the TCB and chip do not match. */
    mk_buf gv;
    mk_buf_init(&gv, 0);
    tu_read_testdata("snp/ms-genoa/vcek.pem", &gv);
    TU_ASSERT_RC(verify(f, f->report.data, f->report.len, &gv, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "TCB: the certificate's blSPL 10 differs from the report's "
                           "reported_tcb bootloader 3");
    mk_buf_free(&gv);
    mk_buf_free(&genoa);
}

/* ------------------------------------------------------------------ */
/* One flipped bit in every signed field                               */
/* ------------------------------------------------------------------ */

typedef struct flip {
    const char *field;
    size_t off;
    uint8_t mask;
    int rc;
    const char *reason;
} flip;

#define SIG MK_EBADSIG, "signature: signature does not verify"
static const flip V2_FLIPS[] = {
    {"version 2->3", 0x000, 0x01, MK_EUNSUPPORTED,
     "product: report CPUID family 0x00 model 0x00 is not Milan, Genoa or Turin"},
    {"version 2->6", 0x000, 0x04, MK_EUNSUPPORTED, "report: report version 6 is not supported"},
    {"guest_svn", 0x004, 0x01, SIG},
    {"policy (ABI minor)", 0x008, 0x01, SIG},
    {"policy (DEBUG)", 0x00a, 0x08, SIG},
    {"family_id", 0x010, 0x01, SIG},
    {"image_id", 0x020, 0x01, SIG},
    {"vmpl", 0x030, 0x01, SIG},
    {"signature_algo", 0x034, 0x01, MK_EUNSUPPORTED,
     "report: signature algorithm 0 is not supported"},
    {"current_tcb", 0x038, 0x01, SIG},
    {"platform_info", 0x040, 0x01, SIG},
    {"flags AUTHOR_KEY_EN", 0x048, 0x01, SIG},
    {"flags MASK_CHIP_KEY", 0x048, 0x02, MK_EUNSUPPORTED, "report: report is not signed"},
    {"flags SIGNING_KEY", 0x048, 0x04, MK_EMISMATCH,
     "certificate: the report is signed by a VLEK, the certificate is a VCEK"},
    {"flags reserved", 0x049, 0x01, SIG},
    {"reserved 0x4C", 0x04c, 0x01, SIG},
    {"report_data", 0x050, 0x01, SIG},
    {"measurement", 0x090, 0x01, SIG},
    {"host_data", 0x0c0, 0x01, SIG},
    {"id_key_digest", 0x0e0, 0x01, SIG},
    {"author_key_digest", 0x110, 0x01, SIG},
    {"report_id", 0x140, 0x01, SIG},
    {"report_id_ma", 0x160, 0x01, SIG},
    {"reported_tcb bootloader", 0x180, 0x01, MK_EMISMATCH,
     "TCB: the certificate's blSPL 3 differs from the report's reported_tcb bootloader 2"},
    {"reported_tcb tee", 0x181, 0x01, MK_EMISMATCH, "TCB: the certificate's teeSPL 0 differs"},
    {"reported_tcb reserved", 0x182, 0x01, SIG},
    {"reported_tcb snp", 0x186, 0x01, MK_EMISMATCH, "TCB: the certificate's snpSPL 8 differs"},
    {"reported_tcb microcode", 0x187, 0x01, MK_EMISMATCH,
     "TCB: the certificate's ucodeSPL 115 differs from the report's reported_tcb microcode 114"},
    {"reserved 0x188 (v2)", 0x188, 0x01, SIG},
    {"chip_id", 0x1a0, 0x01, MK_EMISMATCH, "hwID: the VCEK's hwID d49554ec"},
    {"chip_id (last byte)", 0x1df, 0x80, MK_EMISMATCH, "(a VCEK of another chip)"},
    {"committed_tcb", 0x1e0, 0x01, SIG},
    {"current_build", 0x1e8, 0x01, SIG},
    {"current_minor", 0x1e9, 0x01, SIG},
    {"current_major", 0x1ea, 0x01, SIG},
    {"reserved 0x1EB", 0x1eb, 0x01, SIG},
    {"committed_build", 0x1ec, 0x01, SIG},
    {"committed_minor", 0x1ed, 0x01, SIG},
    {"committed_major", 0x1ee, 0x01, SIG},
    {"reserved 0x1EF", 0x1ef, 0x01, SIG},
    {"launch_tcb", 0x1f0, 0x01, SIG},
    {"reserved 0x1F8", 0x1f8, 0x01, SIG},
    {"reserved (last signed byte)", 0x29f, 0x80, SIG},
};

/* The v3 report's own fields (CPUID) and its version. */
static const flip V3_FLIPS[] = {
    {"version 3->2", 0x000, 0x01, SIG},
    {"cpuid_fam_id", 0x188, 0x01, MK_EUNSUPPORTED,
     "product: report CPUID family 0x18 model 0x11 is not Milan, Genoa or Turin"},
    {"cpuid_mod_id (still Genoa)", 0x189, 0x01, SIG},
    {"cpuid_mod_id (Milan)", 0x189, 0x10, MK_EMISMATCH,
     "product: the certificate is for Genoa (productName 'Genoa'), the report is from Milan"},
    {"cpuid_step", 0x18a, 0x01, SIG},
    {"reserved 0x18B", 0x18b, 0x01, SIG},
    {"measurement", 0x090, 0x80, SIG},
    {"host_data", 0x0df, 0x01, SIG},
};

static void run_flips(fx *f, const mk_buf *report, const mk_buf *leaf, const flip *t, size_t n) {
    uint8_t rep[MK_SNP_REPORT_LEN];
    for (size_t i = 0; i < n; i++) {
        memcpy(rep, report->data, sizeof rep);
        rep[t[i].off] ^= t[i].mask;
        mk_error err;
        mk_error_clear(&err);
        int rc = verify(f, rep, sizeof rep, leaf, &err);
        if (rc != t[i].rc || !strstr(err.msg, t[i].reason))
            fail_msg("flip in %s (offset 0x%zx mask 0x%02x): got %s \"%s\", want %s \"%s\"",
                     t[i].field, t[i].off, t[i].mask, mk_strerror(rc), err.msg,
                     mk_strerror(t[i].rc), t[i].reason);
    }
}

static void test_flip_every_signed_field(void **state) {
    fx *f = *state;
    run_flips(f, &f->report, &f->vcek, V2_FLIPS, sizeof V2_FLIPS / sizeof V2_FLIPS[0]);
    mk_buf genoa, gv;
    mk_buf_init(&genoa, 0);
    mk_buf_init(&gv, 0);
    tu_read_testdata("snp/ms-genoa/report.bin", &genoa);
    tu_read_testdata("snp/ms-genoa/vcek.pem", &gv);
    run_flips(f, &genoa, &gv, V3_FLIPS, sizeof V3_FLIPS / sizeof V3_FLIPS[0]);
    mk_buf_free(&genoa);
    mk_buf_free(&gv);
}

/* ------------------------------------------------------------------ */
/* Signature values and lengths                                        */
/* ------------------------------------------------------------------ */

static const uint8_t P384_N_LE[48] = {
    0x73, 0x29, 0xc5, 0xcc, 0x6a, 0x19, 0xec, 0xec, 0x7a, 0xa7, 0xb0, 0x48, 0xb2, 0x0d, 0x1a, 0x58,
    0xdf, 0x2d, 0x37, 0xf4, 0x81, 0x4d, 0x63, 0xc7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

static void test_signature_values(void **state) {
    fx *f = *state;
    uint8_t rep[MK_SNP_REPORT_LEN];
    mk_error err;
    for (int which = 0; which < 2; which++) {
        size_t off = which ? 0x2e8 : 0x2a0;
        const char *name = which ? "s" : "r";
        char want[96];
        memcpy(rep, f->report.data, sizeof rep);
        memset(rep + off, 0, 72);
        TU_ASSERT_RC(verify(f, rep, sizeof rep, &f->vcek, &err), MK_EMALFORMED, &err);
        snprintf(want, sizeof want, "signature: %s is zero", name);
        TU_ASSERT_REASON(&err, want);
        memcpy(rep + off, P384_N_LE, 48); /* = n */
        TU_ASSERT_RC(verify(f, rep, sizeof rep, &f->vcek, &err), MK_EMALFORMED, &err);
        snprintf(want, sizeof want, "signature: %s is not below the P-384 group order", name);
        TU_ASSERT_REASON(&err, want);
        memset(rep + off, 0xff, 48); /* 2^384 - 1 */
        TU_ASSERT_RC(verify(f, rep, sizeof rep, &f->vcek, &err), MK_EMALFORMED, &err);
        TU_ASSERT_REASON(&err, want);
        memcpy(rep, f->report.data, sizeof rep);
        rep[off + 48] = 1; /* a 49-byte value */
        TU_ASSERT_RC(verify(f, rep, sizeof rep, &f->vcek, &err), MK_EMALFORMED, &err);
        snprintf(want, sizeof want, "signature: %s is out of range (non-zero byte 48", name);
        TU_ASSERT_REASON(&err, want);
        memcpy(rep, f->report.data, sizeof rep);
        rep[off + 71] = 0x80;
        TU_ASSERT_RC(verify(f, rep, sizeof rep, &f->vcek, &err), MK_EMALFORMED, &err);
        TU_ASSERT_REASON(&err, "non-zero byte 71");
        memcpy(rep, f->report.data, sizeof rep);
        rep[off] ^= 1; /* in range, wrong */
        TU_ASSERT_RC(verify(f, rep, sizeof rep, &f->vcek, &err), MK_EBADSIG, &err);
        TU_ASSERT_REASON(&err, "signature: signature does not verify");
    }
    /* r and s swapped. */
    memcpy(rep, f->report.data, sizeof rep);
    memcpy(rep + 0x2a0, f->report.data + 0x2e8, 72);
    memcpy(rep + 0x2e8, f->report.data + 0x2a0, 72);
    TU_ASSERT_RC(verify(f, rep, sizeof rep, &f->vcek, &err), MK_EBADSIG, &err);
    /* Unsigned bytes after r and s must be zero. */
    memcpy(rep, f->report.data, sizeof rep);
    rep[0x330] = 1;
    TU_ASSERT_RC(verify(f, rep, sizeof rep, &f->vcek, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "report: the reserved bytes after the signature (0x330..0x4a0)");
}

static void test_lengths(void **state) {
    fx *f = *state;
    mk_buf big;
    mk_buf_init(&big, 0);
    assert_int_equal(mk_buf_append(&big, f->report.data, f->report.len), 0);
    assert_int_equal(mk_buf_append(&big, f->report.data, f->report.len), 0);
    mk_error err;
    static const size_t lens[] = {0, 1, 0x2a0, 0x2a0 + 144, 1000, 1183};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        TU_ASSERT_RC(verify(f, big.data, lens[i], &f->vcek, &err), MK_ETRUNC, &err);
        TU_ASSERT_REASON(&err, "an SEV-SNP report is exactly 1184 bytes");
    }
    static const size_t over[] = {1185, 1200, 2 * 1184};
    for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
        TU_ASSERT_RC(verify(f, big.data, over[i], &f->vcek, &err), MK_ETOOBIG, &err);
        TU_ASSERT_REASON(&err, "an SEV-SNP report is exactly 1184 bytes");
    }
    mk_buf_free(&big);
}

/* A leaf that is no VCEK or VLEK, and a VLEK for a VCEK report. */
static void test_wrong_leaf_kinds(void **state) {
    fx *f = *state;
    mk_buf b;
    mk_buf_init(&b, 0);
    tu_read_testdata("snp/roots/milan_vcek_chain.pem", &b); /* an ASK first */
    mk_error err;
    TU_ASSERT_RC(verify(f, f->report.data, f->report.len, &b, &err), MK_EMALFORMED, &err);
    TU_ASSERT_REASON(&err, "certificate: certificate has neither hwID nor csp_id");
    mk_buf_reset(&b);
    tu_read_testdata("snp/trustee-vlek/vlek.der", &b);
    TU_ASSERT_RC(verify(f, f->report.data, f->report.len, &b, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err,
                     "certificate: the report is signed by a VCEK, the certificate is a VLEK");
    mk_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_genuine),
        cmocka_unit_test(test_resigned_self_signed_vcek),
        cmocka_unit_test(test_self_made_ark_ask),
        cmocka_unit_test(test_vcek_of_another_chip),
        cmocka_unit_test(test_milan_vcek_for_genoa_report),
        cmocka_unit_test(test_flip_every_signed_field),
        cmocka_unit_test(test_signature_values),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_wrong_leaf_kinds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
