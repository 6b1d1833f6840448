/*
 * tests/unit/tee/snp/test_snp_ticket.c — the SNP ticket (ticket.c) on the
 * shared envelope, and the certificate table a host gives with a report
 * (certtable.c): round trips, determinism, caps, the report-data binding
 * under SNP's domain only, and every refusal of the table parser with its
 * reason.
 */
#include "test_util.h"

#include "mosaik/tdx_ticket.h"
#include "tee/snp/snp_internal.h"
#include "tee/tee_internal.h"

static mk_tee_extra_data extra(void) {
    mk_tee_extra_data x;
    memset(&x, 0, sizeof x);
    mk_id_from_name(&x.peer_id, "peer");
    mk_id_from_name(&x.network_id, "net");
    x.started_at = 1780000000;
    x.quoted_at = 1780000100;
    x.expiration = 1780003700;
    return x;
}

static void load(const char *rel, mk_buf *b) {
    mk_buf_init(b, 0);
    tu_read_testdata(rel, b);
}

/* ------------------------------------------------------------------ */
/* Tickets                                                             */
/* ------------------------------------------------------------------ */

static void test_roundtrip_deterministic(void **state) {
    (void)state;
    mk_buf rep, pem;
    load("snp/virtee-milan/report.bin", &rep);
    load("snp/roots/milan_vcek_chain.pem", &pem);
    mk_tee_extra_data x = extra();
    mk_snp_ticket t, u;
    mk_error err;
    TU_ASSERT_RC(
        mk_snp_ticket_init(&t, &x, rep.data, rep.len, (const char *)pem.data, pem.len, &err), 0,
        &err);
    mk_buf a, b;
    mk_buf_init(&a, 0);
    mk_buf_init(&b, 0);
    TU_ASSERT_RC(mk_snp_ticket_encode(&t, &a, &err), 0, &err);
    TU_ASSERT_RC(mk_snp_ticket_encode(&t, &b, &err), 0, &err);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    TU_ASSERT_RC(mk_snp_ticket_decode(a.data, a.len, &u, &err), 0, &err);
    assert_int_equal(u.report_len, MK_SNP_REPORT_LEN);
    assert_memory_equal(u.report, rep.data, rep.len);
    assert_int_equal(u.certs_len, pem.len);
    assert_memory_equal(u.certs, pem.data, pem.len);
    assert_int_equal(u.certs[u.certs_len], 0);
    assert_true(mk_id_eq(&u.extra.peer_id, &x.peer_id));
    assert_int_equal(u.extra.quoted_at, x.quoted_at);
    assert_int_equal(u.extra.expiration, x.expiration);

    /* Generic form: SNP's class, and back. */
    mk_ticket g;
    mk_id cls, want;
    TU_ASSERT_RC(mk_snp_ticket_to_generic(&t, &g, &err), 0, &err);
    mk_snp_ticket_class(&cls);
    mk_id_from_name(&want, MK_SNP_TICKET_CLASS_NAME);
    assert_true(mk_id_eq(&cls, &want));
    assert_true(mk_id_eq(&g.class_id, &want));
    mk_snp_ticket w;
    TU_ASSERT_RC(mk_snp_ticket_from_generic(&g, &w, &err), 0, &err);
    assert_memory_equal(w.report, rep.data, rep.len);
    mk_snp_ticket_free(&w);
    /* A TDX-class ticket is not an SNP ticket. */
    mk_tdx_ticket_class(&g.class_id);
    assert_int_equal(mk_snp_ticket_from_generic(&g, &w, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "is not a SNP ticket");
    assert_null(w.report);
    mk_ticket_free(&g);

    /* Without certificates. */
    mk_snp_ticket_free(&u);
    mk_snp_ticket_free(&t);
    TU_ASSERT_RC(mk_snp_ticket_init(&t, &x, rep.data, rep.len, NULL, 0, &err), 0, &err);
    mk_buf_reset(&a);
    TU_ASSERT_RC(mk_snp_ticket_encode(&t, &a, &err), 0, &err);
    TU_ASSERT_RC(mk_snp_ticket_decode(a.data, a.len, &u, &err), 0, &err);
    assert_null(u.certs);
    assert_int_equal(u.certs_len, 0);
    mk_snp_ticket_free(&u);
    mk_snp_ticket_free(&t);
    mk_buf_free(&a);
    mk_buf_free(&b);
    mk_buf_free(&rep);
    mk_buf_free(&pem);
}

static void test_caps_and_garbage(void **state) {
    (void)state;
    uint8_t big[MK_SNP_REPORT_LEN + 1];
    memset(big, 0, sizeof big);
    mk_tee_extra_data x = extra();
    mk_snp_ticket t;
    mk_error err;
    assert_int_equal(mk_snp_ticket_init(&t, &x, big, sizeof big, NULL, 0, &err), MK_ETOOBIG);
    TU_ASSERT_REASON(&err, "SNP ticket: report of 1185 bytes exceeds 1184");
    assert_int_equal(mk_snp_ticket_init(&t, &x, NULL, 0, NULL, 0, &err), MK_EINVAL);
    TU_ASSERT_REASON(&err, "SNP ticket: no report");
    static char certs[MK_SNP_TICKET_CERTS_MAX + 1];
    memset(certs, 'A', sizeof certs);
    assert_int_equal(mk_snp_ticket_init(&t, &x, big, 1184, certs, sizeof certs, &err), MK_ETOOBIG);
    TU_ASSERT_REASON(&err, "certificates of 49153 bytes exceeds 49152");

    const uint8_t junk[] = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x01, 0x02};
    assert_true(mk_snp_ticket_decode(junk, sizeof junk, &t, &err) < 0);
    TU_ASSERT_REASON(&err, "SNP ticket");
    assert_null(t.report);

    /* Certificates holding a NUL byte are refused when decoding. */
    mk_buf cbor;
    mk_buf_init(&cbor, 0);
    const char nul_pem[] = "-----BEGIN\0X";
    TU_ASSERT_RC(mk_snp_ticket_init(&t, &x, big, 1184, nul_pem, sizeof nul_pem - 1, &err), 0, &err);
    TU_ASSERT_RC(mk_snp_ticket_encode_cbor(&t, &cbor, &err), 0, &err);
    mk_snp_ticket u;
    assert_int_equal(mk_snp_ticket_decode_cbor(cbor.data, cbor.len, &u, &err), MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "SNP ticket: certificates contains a NUL byte");
    mk_snp_ticket_free(&t);
    mk_buf_free(&cbor);
}

static void test_binding(void **state) {
    (void)state;
    mk_buf rep;
    load("snp/virtee-milan/report.bin", &rep);
    mk_tee_extra_data x = extra();
    mk_snp_ticket t;
    mk_error err;
    /* A real report made for something else does not bind this ticket. */
    TU_ASSERT_RC(mk_snp_ticket_init(&t, &x, rep.data, rep.len, NULL, 0, &err), 0, &err);
    assert_int_equal(mk_snp_ticket_check_binding(&t, &err), MK_EMISMATCH);
    TU_ASSERT_REASON(&err, "report data does not bind the ticket's extra data");
    mk_snp_ticket_free(&t);

    /* Report data = SHA-512 of the SNP preimage binds (structure only). */
    uint8_t rd[64];
    mk_snp_report_data(&x, rd);
    memcpy(rep.data + 0x50, rd, 64);
    TU_ASSERT_RC(mk_snp_ticket_init(&t, &x, rep.data, rep.len, NULL, 0, &err), 0, &err);
    TU_ASSERT_RC(mk_snp_ticket_check_binding(&t, &err), 0, &err);
    /* Any change of the extra data breaks it. */
    t.extra.expiration++;
    assert_int_equal(mk_snp_ticket_check_binding(&t, &err), MK_EMISMATCH);
    mk_snp_ticket_free(&t);

    /* The same extra data under TDX's domain does not bind an SNP ticket. */
    mk_tdx_report_data(&x, rd);
    memcpy(rep.data + 0x50, rd, 64);
    TU_ASSERT_RC(mk_snp_ticket_init(&t, &x, rep.data, rep.len, NULL, 0, &err), 0, &err);
    assert_int_equal(mk_snp_ticket_check_binding(&t, &err), MK_EMISMATCH);
    mk_snp_ticket_free(&t);

    /* A structurally bad report is refused with the parser's reason. */
    rep.data[0] = 4; /* version 4 */
    TU_ASSERT_RC(mk_snp_ticket_init(&t, &x, rep.data, rep.len, NULL, 0, &err), 0, &err);
    assert_true(mk_snp_ticket_check_binding(&t, &err) < 0);
    TU_ASSERT_REASON(&err, "SNP ticket: ");
    TU_ASSERT_REASON(&err, "version 4");
    mk_snp_ticket_free(&t);
    mk_buf_free(&rep);
}

/* ------------------------------------------------------------------ */
/* The certificate table                                               */
/* ------------------------------------------------------------------ */

typedef struct certs3 {
    mk_buf vcek, ask, ark;
} certs3;

/* The virtee VCEK and the built-in Milan ASK and ARK (DER). */
static void certs3_load(certs3 *c) {
    load("snp/virtee-milan/vcek.der", &c->vcek);
    mk_buf_init(&c->ask, 0);
    mk_buf_init(&c->ark, 0);
    size_t n;
    const uint8_t *d = mk_snp_amd_cert_der(MK_SNP_MILAN, MK_SNP_CA_ASK, &n);
    mk_buf_append(&c->ask, d, n);
    d = mk_snp_amd_cert_der(MK_SNP_MILAN, MK_SNP_CA_ARK, &n);
    mk_buf_append(&c->ark, d, n);
}

static void certs3_free(certs3 *c) {
    mk_buf_free(&c->vcek);
    mk_buf_free(&c->ask);
    mk_buf_free(&c->ark);
}

static void build3(const certs3 *c, mk_buf *out) {
    const mk_snp_cert_type types[3] = {MK_SNP_CERT_VCEK, MK_SNP_CERT_ASK, MK_SNP_CERT_ARK};
    const uint8_t *data[3] = {c->vcek.data, c->ask.data, c->ark.data};
    const size_t lens[3] = {c->vcek.len, c->ask.len, c->ark.len};
    mk_error err;
    TU_ASSERT_RC(mk_snp_cert_table_build(types, data, lens, 3, out, &err), 0, &err);
}

static void test_table_roundtrip(void **state) {
    (void)state;
    certs3 c;
    certs3_load(&c);
    mk_buf tab;
    mk_buf_init(&tab, 0);
    build3(&c, &tab);
    assert_int_equal(tab.len, 4 * 24 + c.vcek.len + c.ask.len + c.ark.len);
    /* GUIDs in RFC 4122 byte order: the VCEK's is 63da758d-e664-... */
    const uint8_t vcek_guid[4] = {0x63, 0xda, 0x75, 0x8d};
    assert_memory_equal(tab.data, vcek_guid, 4);
    mk_snp_cert_table t;
    mk_error err;
    TU_ASSERT_RC(mk_snp_cert_table_parse(tab.data, tab.len, &t, &err), 0, &err);
    assert_int_equal(t.n, 3);
    const mk_snp_cert_entry *e = mk_snp_cert_table_find(&t, MK_SNP_CERT_VCEK);
    assert_non_null(e);
    assert_int_equal(e->offset, 96);
    assert_int_equal(e->len, c.vcek.len);
    assert_memory_equal(e->data, c.vcek.data, c.vcek.len);
    assert_non_null(mk_snp_cert_table_find(&t, MK_SNP_CERT_ARK));
    assert_null(mk_snp_cert_table_find(&t, MK_SNP_CERT_VLEK));
    assert_string_equal(mk_snp_cert_type_name(MK_SNP_CERT_ASK), "ASK");

    /* Trailing bytes (whole pages from the kernel) are allowed. */
    mk_buf_extend(&tab, 4096);
    TU_ASSERT_RC(mk_snp_cert_table_parse(tab.data, tab.len, &t, &err), 0, &err);
    assert_int_equal(t.n, 3);

    /* To PEM: the VCEK first, then ASK and ARK; readable as a chain that
     * verifies the report. */
    mk_buf pem;
    mk_buf_init(&pem, 0);
    TU_ASSERT_RC(mk_snp_cert_table_to_pem(tab.data, tab.len, MK_SNP_KEY_VCEK, &pem, &err), 0, &err);
    mk_snp_cert_list l;
    memset(&l, 0, sizeof l);
    TU_ASSERT_RC(mk_snp_certs_read(pem.data, pem.len, &l, &err), 0, &err);
    assert_int_equal(l.n, 3);
    X509 *vcek = mk_tee_x509_from_der(c.vcek.data, c.vcek.len);
    assert_true(mk_tee_same_der(l.cert[0], vcek));
    X509_free(vcek);
    mk_snp_cert_list_free(&l);
    /* A VLEK-signed report needs the VLEK entry. */
    size_t before = pem.len;
    assert_int_equal(mk_snp_cert_table_to_pem(tab.data, tab.len, MK_SNP_KEY_VLEK, &pem, &err),
                     MK_ENOTFOUND);
    TU_ASSERT_REASON(&err, "no VLEK");
    assert_int_equal(pem.len, before);
    /* An empty table has no entries (the host gave none). */
    TU_ASSERT_RC(mk_snp_cert_table_parse(NULL, 0, &t, &err), 0, &err);
    assert_int_equal(t.n, 0);
    mk_buf_free(&pem);
    mk_buf_free(&tab);
    certs3_free(&c);
}

static void put_u32le(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void expect_bad(const uint8_t *d, size_t n, int code, const char *why) {
    mk_snp_cert_table t;
    mk_error err;
    memset(&t, 0xa5, sizeof t);
    assert_int_equal(mk_snp_cert_table_parse(d, n, &t, &err), code);
    TU_ASSERT_REASON(&err, why);
    assert_int_equal(t.n, 0);
}

static void test_table_refusals(void **state) {
    (void)state;
    certs3 c;
    certs3_load(&c);
    mk_buf tab;
    mk_buf_init(&tab, 0);
    build3(&c, &tab);
    uint8_t *d = tab.data;
    mk_error err;

    /* No terminator within the buffer: only the first entry, cut. */
    expect_bad(d, 24 + 10, MK_ETRUNC, "no terminating entry within its 34 bytes");
    /* An entry reaching past the end. */
    expect_bad(d, tab.len - 1, MK_ETRUNC, "entry 3 (ARK)");
    expect_bad(d, tab.len - 1, MK_ETRUNC, "reaches past the end");
    /* Offset inside the entries. */
    put_u32le(d + 16, 24);
    expect_bad(d, tab.len, MK_EMALFORMED, "entry 1 (VCEK) at offset 24 lies inside the 96");
    /* Huge offset and length: no overflow. */
    put_u32le(d + 16, 0xffffffffu);
    put_u32le(d + 20, 0xffffffffu);
    expect_bad(d, tab.len, MK_ETRUNC, "entry 1 (VCEK) of 4294967295 bytes at offset 4294967295");
    put_u32le(d + 16, 96);
    put_u32le(d + 20, 0);
    expect_bad(d, tab.len, MK_EMALFORMED, "entry 1 (VCEK) is empty");
    put_u32le(d + 20, (uint32_t)c.vcek.len);
    /* A second ASK: copy the ASK GUID over the ARK's. */
    uint8_t ark_guid[16];
    memcpy(ark_guid, d + 48, 16);
    memcpy(d + 48, d + 24, 16);
    expect_bad(d, tab.len, MK_EMALFORMED, "a second ASK entry");
    memcpy(d + 48, ark_guid, 16);
    /* A terminator with a non-zero length. */
    put_u32le(d + 72 + 20, 5);
    expect_bad(d, tab.len, MK_EMALFORMED, "entry 4 has a zero GUID but offset 0, length 5");
    put_u32le(d + 72 + 20, 0);
    mk_snp_cert_table ok;
    TU_ASSERT_RC(mk_snp_cert_table_parse(d, tab.len, &ok, &err), 0, &err);

    /* More entries than the cap, and a table over the cap. */
    uint8_t many[(MK_SNP_CERT_TABLE_ENTRIES + 2) * 24];
    memset(many, 0, sizeof many);
    for (int i = 0; i <= MK_SNP_CERT_TABLE_ENTRIES; i++)
        many[i * 24] = (uint8_t)(i + 1); /* distinct non-AMD GUIDs */
    expect_bad(many, sizeof many, MK_ETOOBIG, "more than 16 entries");
    static uint8_t huge[MK_SNP_CERT_TABLE_MAX + 1];
    expect_bad(huge, sizeof huge, MK_ETOOBIG, "certificate table: 65537 bytes (cap 65536)");

    /* An entry that is not one DER certificate cannot become PEM. */
    mk_buf pem;
    mk_buf_init(&pem, 0);
    d[96] ^= 0xff; /* the VCEK's first byte */
    assert_int_equal(mk_snp_cert_table_to_pem(d, tab.len, MK_SNP_KEY_VCEK, &pem, &err),
                     MK_EMALFORMED);
    TU_ASSERT_REASON(&err, "the VCEK entry is not one DER certificate");
    assert_int_equal(pem.len, 0);
    mk_buf_free(&pem);
    mk_buf_free(&tab);
    certs3_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_deterministic),
        cmocka_unit_test(test_caps_and_garbage),
        cmocka_unit_test(test_binding),
        cmocka_unit_test(test_table_roundtrip),
        cmocka_unit_test(test_table_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
