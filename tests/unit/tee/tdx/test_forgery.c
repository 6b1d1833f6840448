/*
 * test_forgery.c — forged quotes and tickets, each refused with the right
 * reason.
 *
 * Quote forgeries start from a real quote (phala-v4, verified at
 * t = 1752919234 with its collateral) and rebuild the signature data with a
 * small writer following the documented layout (header || body, signature,
 * attestation key, type 6 certification data: QE report, its signature, QE
 * auth data, type 5 PEM chain). Ticket forgeries use the simulator.
 */
#include "test_util.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <zstd.h>

#include "crypto/ossl.h"
#include "mosaik/tdx_provider.h"
#include "mosaik/tdx_ticket.h"

#define PHALA_AT 1752919234

typedef struct parts {
    mk_buf signed_part; /* header || body */
    uint8_t signature[64];
    uint8_t att_key[64];
    uint8_t qe_report[384];
    uint8_t qe_sig[64];
    mk_buf auth;
    mk_buf pem;
} parts;

static mk_buf G_QUOTE;
static mk_tdx_collateral *G_COLL;

static int setup(void **state) {
    (void)state;
    mk_buf_init(&G_QUOTE, 0);
    tu_read_testdata("tdx/phala-v4/quote.bin", &G_QUOTE);
    mk_buf c = MK_BUF_INIT;
    tu_read_testdata("tdx/phala-v4/collateral.json", &c);
    mk_error err;
    int rc = mk_tdx_collateral_from_bundle((const char *)c.data, c.len, &G_COLL, &err);
    mk_buf_free(&c);
    if (rc < 0) fprintf(stderr, "collateral: %s\n", err.msg);
    return rc;
}

static int teardown(void **state) {
    (void)state;
    mk_buf_free(&G_QUOTE);
    mk_tdx_collateral_free(G_COLL);
    return 0;
}

static void split(const uint8_t *quote, size_t len, parts *p) {
    mk_tdx_quote q;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_quote_parse(quote, len, &q, &err), 0, &err);
    mk_buf_init(&p->signed_part, 0);
    mk_buf_init(&p->auth, 0);
    mk_buf_init(&p->pem, 0);
    mk_buf_append(&p->signed_part, q.signed_data, q.signed_len);
    memcpy(p->signature, q.signature, 64);
    memcpy(p->att_key, q.attestation_key, 64);
    memcpy(p->qe_report, q.qe_report_raw, 384);
    memcpy(p->qe_sig, q.qe_report_signature, 64);
    mk_buf_append(&p->auth, q.qe_auth_data, q.qe_auth_len);
    mk_buf_append(&p->pem, q.pck_chain_pem, q.pck_chain_len);
}

static void parts_free(parts *p) {
    mk_buf_free(&p->signed_part);
    mk_buf_free(&p->auth);
    mk_buf_free(&p->pem);
}

/* v4 layout writer. */
static void assemble(const parts *p, mk_buf *out) {
    mk_buf_reset(out);
    size_t m = p->pem.len;
    size_t n = 384 + 64 + 2 + p->auth.len + 2 + 4 + m;
    mk_buf_append(out, p->signed_part.data, p->signed_part.len);
    mk_buf_append_u32le(out, (uint32_t)(64 + 64 + 2 + 4 + n));
    mk_buf_append(out, p->signature, 64);
    mk_buf_append(out, p->att_key, 64);
    mk_buf_append_u16le(out, 6);
    mk_buf_append_u32le(out, (uint32_t)n);
    mk_buf_append(out, p->qe_report, 384);
    mk_buf_append(out, p->qe_sig, 64);
    mk_buf_append_u16le(out, (uint16_t)p->auth.len);
    mk_buf_append(out, p->auth.data, p->auth.len);
    mk_buf_append_u16le(out, 5);
    mk_buf_append_u32le(out, (uint32_t)m);
    mk_buf_append(out, p->pem.data, m);
}

static int verify_at(const mk_buf *q, int64_t t, mk_error *err) {
    mk_tdx_verifier *v = NULL;
    assert_int_equal(mk_tdx_verifier_new(NULL, &v, NULL), 0);
    assert_non_null(v);
    mk_error_clear(err);
    int rc = mk_tdx_verify(v, q->data, q->len, G_COLL, t, NULL, err);
    mk_tdx_verifier_free(v);
    return rc;
}

/* Replace the attestation key with a fresh one and re-sign header || body. */
static mk_privkey *resign(parts *p) {
    mk_privkey *k = NULL;
    assert_int_equal(mk_ec_generate(MK_P256, &k), 0);
    size_t n = 64;
    assert_int_equal(mk_privkey_public_raw(k, p->att_key, &n), 0);
    assert_int_equal(n, 64);
    size_t sl = 64;
    assert_int_equal(
        mk_ecdsa_sign_raw(k, MK_SHA256, p->signed_part.data, p->signed_part.len, p->signature, &sl),
        0);
    assert_int_equal(sl, 64);
    return k;
}

static void rebind_qe_report(parts *p) {
    uint8_t h[32];
    mk_hash_ctx *c = NULL;
    mk_hash_new(MK_SHA256, &c);
    mk_hash_update(c, p->att_key, 64);
    mk_hash_update(c, p->auth.data, p->auth.len);
    mk_hash_final(c, h);
    mk_hash_free(c);
    memcpy(p->qe_report + 320, h, 32); /* report_data at 320 */
    memset(p->qe_report + 352, 0, 32);
}

/* ---------------------------------------------------------------- */

static void test_baseline_verifies(void **state) {
    (void)state;
    parts p;
    split(G_QUOTE.data, G_QUOTE.len, &p);
    mk_buf q = MK_BUF_INIT;
    mk_buf_append_u8(&p.pem, 0); /* phala-v4's chain ends with a NUL */
    assemble(&p, &q);            /* the writer reproduces the quote exactly */
    assert_int_equal(q.len, 4936);
    assert_memory_equal(q.data, G_QUOTE.data, q.len);
    mk_error err;
    TU_ASSERT_RC(verify_at(&q, PHALA_AT, &err), 0, &err);
    mk_buf_free(&q);
    parts_free(&p);
}

static void test_mrtd_changed_resigned(void **state) {
    (void)state;
    parts p;
    split(G_QUOTE.data, G_QUOTE.len, &p);
    memset(p.signed_part.data + 48 + 136, 0x42, 48); /* MRTD */
    mk_privkey *k = resign(&p);
    mk_buf q = MK_BUF_INIT;
    assemble(&p, &q);
    mk_error err;
    /* The quote signature now verifies; the QE never vouched for this key. */
    TU_ASSERT_RC(verify_at(&q, PHALA_AT, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "QE report: report data");
    TU_ASSERT_REASON(&err, "attestation key");

    /* Rebind the QE report data to the new key: the PCK signature breaks. */
    rebind_qe_report(&p);
    assemble(&p, &q);
    TU_ASSERT_RC(verify_at(&q, PHALA_AT, &err), MK_EBADSIG, &err);
    TU_ASSERT_REASON(&err, "QE report: signature");
    mk_privkey_free(k);
    mk_buf_free(&q);
    parts_free(&p);
}

/* A certificate signed by `issuer_key` (self-signed when issuer is NULL). */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca) {
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    X509_gmtime_adj(X509_getm_notBefore(x), -(long)(10 * 365 * 86400L));
    X509_gmtime_adj(X509_getm_notAfter(x), (long)(20 * 365 * 86400L));
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"Intel Corporation", -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(n, "L", MBSTRING_ASC, (const unsigned char *)"Santa Clara", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(n, "ST", MBSTRING_ASC, (const unsigned char *)"CA", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *)"US", -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509_set_pubkey(x, key);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                                            ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage,
                            ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static void append_pem(mk_buf *b, X509 *x) {
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    char *d;
    long n = BIO_get_mem_data(bio, &d);
    mk_buf_append(b, d, (size_t)n);
    BIO_free(bio);
}

static void test_fake_intel_root(void **state) {
    (void)state;
    mk_privkey *rk, *ik, *lk;
    assert_int_equal(mk_ec_generate(MK_P256, &rk), 0);
    assert_int_equal(mk_ec_generate(MK_P256, &ik), 0);
    assert_int_equal(mk_ec_generate(MK_P256, &lk), 0);
    EVP_PKEY *r = mk_privkey_evp(rk), *i = mk_privkey_evp(ik), *l = mk_privkey_evp(lk);
    X509 *root = make_cert("Intel SGX Root CA", r, NULL, NULL, true);
    X509 *inter = make_cert("Intel SGX PCK Platform CA", i, root, r, true);
    X509 *leaf = make_cert("Intel SGX PCK Certificate", l, inter, i, false);

    parts p;
    split(G_QUOTE.data, G_QUOTE.len, &p);
    memset(p.signed_part.data + 48 + 136, 0x42, 48);
    mk_privkey *ak = resign(&p);
    rebind_qe_report(&p);
    size_t sl = 64;
    assert_int_equal(mk_ecdsa_sign_raw(lk, MK_SHA256, p.qe_report, 384, p.qe_sig, &sl), 0);
    mk_buf_reset(&p.pem);
    append_pem(&p.pem, leaf);
    append_pem(&p.pem, inter);
    append_pem(&p.pem, root);
    mk_buf q = MK_BUF_INIT;
    assemble(&p, &q);
    mk_error err;
    /* Every quote-level signature checks out; only the chain gives it away:
     * the "Intel SGX Root CA" it names is not the pinned one, so the
     * intermediate's signature does not verify under the trusted root
     * (MK_EBADSIG) or the chain is reported untrusted. */
    int rc = verify_at(&q, PHALA_AT, &err);
    if (rc != MK_EUNTRUSTED && rc != MK_EBADSIG)
        fail_msg("fake root: got %s: %s", mk_strerror(rc), err.msg);
    TU_ASSERT_REASON(&err, "PCK chain");
    /* Without the root copy in the PEM: the same. */
    mk_buf_reset(&p.pem);
    append_pem(&p.pem, leaf);
    append_pem(&p.pem, inter);
    assemble(&p, &q);
    rc = verify_at(&q, PHALA_AT, &err);
    if (rc != MK_EUNTRUSTED && rc != MK_EBADSIG)
        fail_msg("fake root: got %s: %s", mk_strerror(rc), err.msg);
    TU_ASSERT_REASON(&err, "PCK chain");
    /* A leaf signed directly by the fake root (no intermediate). */
    X509 *leaf2 = make_cert("Intel SGX PCK Certificate", l, root, r, false);
    mk_buf_reset(&p.pem);
    append_pem(&p.pem, leaf2);
    append_pem(&p.pem, root);
    assemble(&p, &q);
    assert_true(verify_at(&q, PHALA_AT, &err) < 0);
    TU_ASSERT_REASON(&err, "PCK chain");
    X509_free(leaf2);

    X509_free(root), X509_free(inter), X509_free(leaf);
    mk_privkey_free(rk), mk_privkey_free(ik), mk_privkey_free(lk), mk_privkey_free(ak);
    mk_buf_free(&q);
    parts_free(&p);
}

/* Flip one bit at `off` of the 4936-byte quote and expect a refusal. */
static void flip_refused(size_t off, int want_rc, const char *reason) {
    mk_buf q = MK_BUF_INIT;
    mk_buf_append(&q, G_QUOTE.data, G_QUOTE.len);
    q.data[off] ^= 0x01;
    mk_error err;
    int rc = verify_at(&q, PHALA_AT, &err);
    if (rc >= 0) fail_msg("bit flip at %zu was accepted", off);
    if (want_rc && rc != want_rc)
        fail_msg("bit flip at %zu: got %s (%s), want %s", off, mk_strerror(rc), err.msg,
                 mk_strerror(want_rc));
    if (reason && !strstr(err.msg, reason))
        fail_msg("bit flip at %zu: reason \"%s\" lacks \"%s\"", off, err.msg, reason);
    mk_buf_free(&q);
}

static void test_bit_flips(void **state) {
    (void)state;
    mk_tdx_quote q;
    assert_int_equal(mk_tdx_quote_parse(G_QUOTE.data, G_QUOTE.len, &q, NULL), 0);
    const uint8_t *b = G_QUOTE.data;
    size_t sig = q.signed_len + 4, key = sig + 64;
    size_t qer = (size_t)(q.qe_report_raw - b), qes = qer + 384;
    size_t auth = (size_t)(q.qe_auth_data - b);
    /* Header: version / key type / tee type fields break parsing; the rest
     * (reserved, vendor id, user data) is signed. */
    flip_refused(0, 0, NULL);
    flip_refused(2, 0, NULL);
    flip_refused(4, 0, NULL);
    for (size_t off = 8; off < 48; off += 5)
        flip_refused(off, 0, NULL);
    flip_refused(47, MK_EBADSIG, "quote signature");
    /* Body: signed by the attestation key. */
    for (size_t off = 48; off < q.signed_len; off += 37)
        flip_refused(off, MK_EBADSIG, "quote signature");
    flip_refused(48 + 136, MK_EBADSIG, "quote signature"); /* MRTD */
    flip_refused(q.signed_len - 1, MK_EBADSIG, "quote signature");
    /* Quote signature. */
    for (size_t off = sig; off < sig + 64; off += 9)
        flip_refused(off, 0, "quote signature");
    /* Attestation key: off the curve, or a key that did not sign. */
    for (size_t off = key; off < key + 64; off += 11)
        flip_refused(off, 0, "quote signature");
    /* QE report (signed by the PCK key). */
    for (size_t off = qer; off < qer + 384; off += 29)
        flip_refused(off, MK_EBADSIG, "QE report: signature");
    flip_refused(qer + 320, MK_EBADSIG, "QE report: signature"); /* its report data */
    /* QE report signature. */
    for (size_t off = qes; off < qes + 64; off += 13)
        flip_refused(off, 0, "QE report");
    /* QE auth data: hashed into the QE report data. */
    for (size_t off = auth; off < auth + q.qe_auth_len; off += 7)
        flip_refused(off, MK_EMISMATCH, "QE report: report data");
}

/* ---------------------------------------------------------------- */
/* Tickets                                                            */
/* ---------------------------------------------------------------- */

#define NOW 1750000000

typedef struct simfx {
    mk_tdx_sim *sim;
    mk_tdx_collateral *coll;
    mk_validator *val;
    mk_tdx_sim_td td;
} simfx;

static void sim_setup(simfx *s) {
    mk_error err;
    TU_ASSERT_RC(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = NOW - 86400}, &s->sim, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_sim_collateral(s->sim, NOW - 60, &s->coll, &err), 0, &err);
    mk_tdx_sim_td_default(&s->td);
    const uint8_t *r;
    size_t rl;
    mk_tdx_sim_root_der(s->sim, &r, &rl);
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    TU_ASSERT_RC(mk_tdx_validator_opts_trust_simulator(o, r, rl, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_validator_opts_static_collateral(o, s->coll, &err), 0, &err);
    s->val = mk_tdx_validator_new(o, &err);
    assert_non_null(s->val);
    mk_tdx_validator_opts_free(o);
}

static void sim_teardown(simfx *s) {
    mk_validator_free(s->val);
    mk_tdx_collateral_free(s->coll);
    mk_tdx_sim_free(s->sim);
}

/* A ticket with extra data `claimed` around a quote made for `quoted`. */
static void forged_ticket(simfx *s, const mk_tdx_extra_data *quoted,
                          const mk_tdx_extra_data *claimed, mk_buf *out) {
    uint8_t rd[64];
    mk_tdx_report_data(quoted, rd);
    mk_buf q = MK_BUF_INIT;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_sim_quote(s->sim, &s->td, rd, &q, &err), 0, &err);
    mk_tdx_ticket t;
    TU_ASSERT_RC(mk_tdx_ticket_init(&t, claimed, q.data, q.len, NULL, 0, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_ticket_encode(&t, out, &err), 0, &err);
    mk_tdx_ticket_free(&t);
    mk_buf_free(&q);
}

static void extra_for(mk_tdx_extra_data *x, const char *peer, const char *net) {
    memset(x, 0, sizeof *x);
    mk_id_from_name(&x->peer_id, peer);
    mk_id_from_name(&x->network_id, net);
    x->started_at = NOW - 100;
    x->quoted_at = NOW;
    x->expiration = NOW + 3600;
}

static int judge(simfx *s, const mk_buf *ticket, const char *peer, const char *net, mk_error *err) {
    mk_peer_view pv;
    memset(&pv, 0, sizeof pv);
    mk_id_from_name(&pv.peer_id, peer);
    mk_id_from_name(&pv.network_id, net);
    mk_expiration e;
    mk_error_clear(err);
    return s->val->ops->validate(s->val, ticket->data, ticket->len, &pv, NOW + 10, &e, err);
}

static void test_ticket_binds_other_peer_or_network(void **state) {
    (void)state;
    simfx s;
    sim_setup(&s);
    mk_tdx_extra_data a, b;
    mk_error err;
    mk_buf t = MK_BUF_INIT;

    /* Honest ticket: admitted. */
    extra_for(&a, "A", "net");
    forged_ticket(&s, &a, &a, &t);
    TU_ASSERT_RC(judge(&s, &t, "A", "net", &err), 0, &err);

    /* Quote made for peer A, ticket claims peer B (and B presents it). */
    extra_for(&b, "B", "net");
    mk_buf_reset(&t);
    forged_ticket(&s, &a, &b, &t);
    TU_ASSERT_RC(judge(&s, &t, "B", "net", &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "report data does not bind");

    /* Quote made for another network. */
    mk_tdx_extra_data other_net;
    extra_for(&other_net, "A", "other");
    mk_buf_reset(&t);
    forged_ticket(&s, &other_net, &a, &t);
    TU_ASSERT_RC(judge(&s, &t, "A", "net", &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "report data does not bind");

    /* Extended expiration on an honest quote. */
    mk_tdx_extra_data longer = a;
    longer.expiration = NOW + 365 * 86400;
    mk_buf_reset(&t);
    forged_ticket(&s, &a, &longer, &t);
    TU_ASSERT_RC(judge(&s, &t, "A", "net", &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "report data does not bind");

    /* A real Intel quote wrapped as a ticket binds nothing of ours. */
    mk_tdx_ticket rt;
    TU_ASSERT_RC(mk_tdx_ticket_init(&rt, &a, G_QUOTE.data, G_QUOTE.len, NULL, 0, &err), 0, &err);
    mk_buf_reset(&t);
    TU_ASSERT_RC(mk_tdx_ticket_encode(&rt, &t, &err), 0, &err);
    mk_tdx_ticket_free(&rt);
    assert_true(judge(&s, &t, "A", "net", &err) < 0);

    mk_buf_free(&t);
    sim_teardown(&s);
}

static void test_replayed_ticket(void **state) {
    (void)state;
    simfx s;
    sim_setup(&s);
    mk_tdx_extra_data a;
    extra_for(&a, "A", "net");
    mk_buf t = MK_BUF_INIT;
    forged_ticket(&s, &a, &a, &t);
    mk_error err;
    /* Peer B copies A's valid ticket into its own entry. */
    TU_ASSERT_RC(judge(&s, &t, "B", "net", &err), MK_EMISMATCH, &err);
    char ah[MK_ID_HEX_LEN], bh[MK_ID_HEX_LEN];
    mk_id ida, idb;
    mk_id_from_name(&ida, "A");
    mk_id_from_name(&idb, "B");
    mk_id_to_hex(&ida, ah);
    mk_id_to_hex(&idb, bh);
    char want[128];
    snprintf(want, sizeof want, "ticket binds peer %.16s, entry is peer %.16s", ah, bh);
    TU_ASSERT_REASON(&err, want);
    /* The same ticket in another network. */
    TU_ASSERT_RC(judge(&s, &t, "A", "elsewhere", &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "ticket binds network");
    /* Through mk_validator_check with the generic ticket too. */
    mk_ticket g;
    mk_id cls;
    mk_tdx_ticket_class(&cls);
    assert_int_equal(mk_ticket_init(&g, &cls, t.data, t.len), 0);
    mk_peer_view pv = {idb, ida, &g, 1};
    mk_id_from_name(&pv.network_id, "net");
    mk_expiration e;
    TU_ASSERT_RC(mk_validator_check(s.val, &pv, NOW + 10, &e, &err), MK_EMISMATCH, &err);
    TU_ASSERT_REASON(&err, "entry is peer");
    mk_ticket_free(&g);
    mk_buf_free(&t);
    sim_teardown(&s);
}

static void test_bomb_ticket(void **state) {
    (void)state;
    simfx s;
    sim_setup(&s);
    size_t n = 8u << 20; /* 8 MiB of zeros in a few hundred bytes */
    uint8_t *zeros = calloc(1, n);
    assert_non_null(zeros);
    size_t bound = ZSTD_compressBound(n);
    mk_buf t = MK_BUF_INIT;
    uint8_t *z = mk_buf_extend(&t, bound);
    size_t zn = ZSTD_compress(z, bound, zeros, n, 3);
    assert_false(ZSTD_isError(zn));
    t.len = zn;
    assert_true(zn < 4096);
    mk_error err;
    TU_ASSERT_RC(judge(&s, &t, "A", "net", &err), MK_ETOOBIG, &err);
    TU_ASSERT_REASON(&err, "decompression bomb");
    free(zeros);
    mk_buf_free(&t);
    sim_teardown(&s);
}

static void test_sim_quote_with_intel_collateral(void **state) {
    (void)state;
    /* A simulator quote is never accepted by a verifier that trusts only
     * Intel, whatever collateral comes with it. */
    simfx s;
    sim_setup(&s);
    mk_tdx_extra_data a;
    extra_for(&a, "A", "net");
    uint8_t rd[64];
    mk_tdx_report_data(&a, rd);
    mk_buf q = MK_BUF_INIT;
    mk_error err;
    TU_ASSERT_RC(mk_tdx_sim_quote(s.sim, &s.td, rd, &q, &err), 0, &err);
    mk_tdx_verifier *v = NULL;
    assert_int_equal(mk_tdx_verifier_new(NULL, &v, NULL), 0);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, G_COLL, PHALA_AT, NULL, &err), MK_EUNTRUSTED,
                 &err);
    TU_ASSERT_RC(mk_tdx_verify(v, q.data, q.len, s.coll, NOW, NULL, &err), MK_EUNTRUSTED, &err);
    TU_ASSERT_REASON(&err, "simulator root is not trusted");
    mk_tdx_verifier_free(v);
    mk_buf_free(&q);
    sim_teardown(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_verifies),
        cmocka_unit_test(test_mrtd_changed_resigned),
        cmocka_unit_test(test_fake_intel_root),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_ticket_binds_other_peer_or_network),
        cmocka_unit_test(test_replayed_ticket),
        cmocka_unit_test(test_bomb_ticket),
        cmocka_unit_test(test_sim_quote_with_intel_collateral),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
