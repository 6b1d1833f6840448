/*
 * tests/unit/tee/test_attester.c — the provider interface (tee/provider.c,
 * platform.c) and the shared attester (tee/attester.c) with a test
 * platform's provider kind, as a new platform would plug in: an ops table
 * whose evidence is "EV:" || report data and whose auxiliary data is a
 * certificate-table stand-in.
 *
 *   - the generic functions on a provider; incomplete tables refused;
 *     timeouts; measurement registers;
 *   - tickets: the report data binds the extra data under the format's
 *     domain, the class is the format's, the lifetime and explicit
 *     expirations, fixed endorsements, an endorse hook fed the auxiliary
 *     data, every failure with its step;
 *   - install_own_ticket through a sink.
 */
#include "test_util.h"

#include "mosaik/clock.h"
#include "tee/tee_internal.h"

static const mk_tee_ticket_format FMT = {
    .platform = MK_TEE_SNP,
    .label = "test ticket",
    .class_name = "mosaik.ticket.test.v1",
    .domain = "mosaik.test.ticket.report-data.v1",
    .evidence_name = "report",
    .endorsements_name = "certificates",
    .version = 1,
    .evidence_max = 1024,
    .endorsements_max = 4096,
    .endorsements_text = false,
};

typedef struct fake_state {
    int evidence_calls;
    bool fail;
    bool destroyed;
} fake_state;

static bool fake_available(const mk_tee_provider *p, mk_error *err) {
    (void)err;
    return !((fake_state *)p->state)->fail;
}

static int fake_evidence(mk_tee_provider *p, const uint8_t rd[64], mk_buf *ev, mk_buf *aux,
                         mk_error *err) {
    fake_state *s = p->state;
    s->evidence_calls++;
    if (s->fail) return mk_error_set(err, MK_EIO, "test provider: no evidence today");
    mk_buf_reset(ev);
    mk_buf_append(ev, "EV:", 3);
    mk_buf_append(ev, rd, 64);
    if (aux) {
        mk_buf_reset(aux);
        mk_buf_append(aux, "TABLE", 5);
    }
    return 0;
}

static int fake_measurements(mk_tee_provider *p, mk_tee_measurements *out, mk_error *err) {
    (void)err;
    if (((fake_state *)p->state)->fail) return mk_error_set(err, MK_EIO, "test provider: no");
    uint8_t m[48];
    memset(m, 0x4d, sizeof m);
    return mk_tee_measurements_add(out, "MEASUREMENT", m, sizeof m);
}

static void fake_destroy(mk_tee_provider *p) {
    ((fake_state *)p->state)->destroyed = true;
}

static const mk_tee_provider_ops FAKE = {
    .name = "test provider (simulated)",
    .platform = MK_TEE_SNP,
    .is_simulated = true,
    .ticket = &FMT,
    .available = fake_available,
    .evidence = fake_evidence,
    .measurements = fake_measurements,
    .destroy = fake_destroy,
};

static void test_provider_interface(void **state) {
    (void)state;
    fake_state st = {0};
    mk_tee_provider *p = mk_tee_provider_alloc(&FAKE, &st);
    assert_non_null(p);
    mk_error err;
    mk_error_clear(&err);
    assert_string_equal(mk_tee_provider_name(p), "test provider (simulated)");
    assert_int_equal(mk_tee_provider_platform(p), MK_TEE_SNP);
    assert_string_equal(mk_tee_platform_name(mk_tee_provider_platform(p)), "SEV-SNP");
    assert_string_equal(mk_tee_platform_name(MK_TEE_TDX), "TDX");
    assert_string_equal(mk_tee_platform_name((mk_tee_platform)9), "none");
    assert_true(mk_tee_provider_is_simulated(p));
    assert_true(mk_tee_provider_available(p, &err));
    /* NULL providers. */
    assert_string_equal(mk_tee_provider_name(NULL), "(none)");
    assert_int_equal(mk_tee_provider_platform(NULL), MK_TEE_NONE);
    assert_false(mk_tee_provider_is_simulated(NULL));
    assert_false(mk_tee_provider_available(NULL, &err));
    assert_int_equal(err.code, MK_EINVAL);
    /* Timeouts. */
    assert_int_equal(mk_tee_provider_timeout_ms(p), MK_TEE_PROVIDER_DEFAULT_TIMEOUT_MS);
    mk_tee_provider_set_timeout_ms(p, 1234);
    assert_int_equal(mk_tee_provider_timeout_ms(p), 1234);
    mk_tee_provider_set_timeout_ms(p, 0);
    assert_int_equal(mk_tee_provider_timeout_ms(p), MK_TEE_PROVIDER_DEFAULT_TIMEOUT_MS);
    /* Evidence and measurements. */
    uint8_t rd[64];
    memset(rd, 0x11, sizeof rd);
    mk_buf ev = MK_BUF_INIT, aux = MK_BUF_INIT;
    TU_ASSERT_RC(mk_tee_provider_evidence(p, rd, &ev, &aux, &err), 0, &err);
    assert_int_equal(ev.len, 67);
    assert_memory_equal(ev.data + 3, rd, 64);
    assert_int_equal(aux.len, 5);
    TU_ASSERT_RC(mk_tee_provider_evidence(p, NULL, &ev, NULL, &err), MK_EINVAL, &err);
    mk_tee_measurements m;
    TU_ASSERT_RC(mk_tee_provider_measurements(p, &m, &err), 0, &err);
    assert_int_equal(m.platform, MK_TEE_SNP);
    assert_int_equal(m.n, 1);
    const mk_tee_register *r = mk_tee_measurements_find(&m, "MEASUREMENT");
    assert_non_null(r);
    assert_int_equal(r->len, 48);
    assert_null(mk_tee_measurements_find(&m, "MRTD"));
    assert_null(mk_tee_measurements_find(NULL, "MRTD"));
    st.fail = true;
    assert_false(mk_tee_provider_available(p, &err));
    TU_ASSERT_RC(mk_tee_provider_measurements(p, &m, &err), MK_EIO, &err);
    assert_int_equal(m.n, 0);
    st.fail = false;
    mk_tee_provider_free(p);
    assert_true(st.destroyed);
    mk_tee_provider_free(NULL);
    mk_buf_free(&ev), mk_buf_free(&aux);

    /* Incomplete tables, a format of another platform. */
    mk_tee_provider_ops bad = FAKE;
    bad.evidence = NULL;
    assert_null(mk_tee_provider_alloc(&bad, &st));
    bad = FAKE;
    bad.platform = MK_TEE_TDX;
    assert_null(mk_tee_provider_alloc(&bad, &st));
    assert_null(mk_tee_provider_alloc(NULL, &st));

    /* Measurement registers: caps. */
    memset(&m, 0, sizeof m);
    uint8_t v[65] = {0};
    assert_int_equal(mk_tee_measurements_add(&m, "TOO_LONG_A_NAME!", v, 1), MK_EINVAL);
    assert_int_equal(mk_tee_measurements_add(&m, "BIG", v, 65), MK_EINVAL);
    for (int i = 0; i < MK_TEE_REGISTERS_MAX; i++)
        assert_int_equal(mk_tee_measurements_add(&m, "R", v, 64), 0);
    assert_int_equal(mk_tee_measurements_add(&m, "R", v, 64), MK_ETOOBIG);
}

/* Decode a generic ticket of the test format and check its binding. */
static void check_ticket(const mk_ticket *g, const mk_id *peer, const mk_id *net,
                         mk_tee_ticket *t) {
    mk_error err;
    mk_error_clear(&err);
    mk_id cls;
    mk_tee_ticket_class(&FMT, &cls);
    assert_true(mk_id_eq(&cls, &g->class_id));
    TU_ASSERT_RC(mk_tee_ticket_from_generic(&FMT, g, t, &err), 0, &err);
    assert_true(mk_id_eq(&t->extra.peer_id, peer));
    assert_true(mk_id_eq(&t->extra.network_id, net));
    assert_int_equal(t->evidence_len, 67);
    assert_true(mk_tee_binds(FMT.domain, &t->extra, t->evidence + 3));
}

typedef struct sink_rec {
    int calls;
    bool fail;
    mk_ticket last;
} sink_rec;

static int sink_add(void *ctx, const mk_ticket *t, mk_error *err) {
    sink_rec *s = ctx;
    s->calls++;
    if (s->fail) return mk_error_set(err, MK_ESTATE, "sink: closed");
    mk_ticket_free(&s->last);
    return mk_ticket_copy(&s->last, t);
}

static int endorse_ok(void *ctx, const uint8_t *ev, size_t ev_len, const uint8_t *aux,
                      size_t aux_len, mk_buf *out, mk_error *err) {
    (void)ctx, (void)err;
    assert_int_equal(ev_len, 67);
    assert_memory_equal(ev, "EV:", 3);
    assert_int_equal(aux_len, 5);
    mk_buf_append(out, "VCEK-FROM-", 10);
    return mk_buf_append(out, aux, aux_len);
}

static int endorse_fail(void *ctx, const uint8_t *ev, size_t ev_len, const uint8_t *aux,
                        size_t aux_len, mk_buf *out, mk_error *err) {
    (void)ctx, (void)ev, (void)ev_len, (void)aux, (void)aux_len, (void)out;
    return mk_error_set(err, MK_ENOTFOUND, "no VCEK in the table");
}

static void test_attester(void **state) {
    (void)state;
    fake_state st = {0};
    mk_tee_provider *p = mk_tee_provider_alloc(&FAKE, &st);
    mk_error err;
    mk_error_clear(&err);
    mk_id peer, net;
    mk_id_from_name(&peer, "peer");
    mk_id_from_name(&net, "network");
    mk_tee_attester_config cfg;
    mk_tee_attester_config_init(&cfg);
    assert_int_equal(cfg.lifetime, MK_TEE_TICKET_DEFAULT_LIFETIME);
    mk_tee_attester *a = NULL;
    TU_ASSERT_RC(mk_tee_attester_new(&cfg, &a, &err), MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "attester: no provider");
    cfg.provider = p;
    cfg.endorsements = (const uint8_t *)"FIXED\0BYTES";
    cfg.endorsements_len = 11;
    cfg.lifetime = 600;
    TU_ASSERT_RC(mk_tee_attester_new(&cfg, &a, &err), 0, &err);
    assert_ptr_equal(mk_tee_attester_provider(a), p);

    mk_ticket g;
    mk_tee_ticket t;
    int64_t before = mk_now();
    TU_ASSERT_RC(mk_tee_attester_ticket(a, &peer, &net, 1700000000, &g, &err), 0, &err);
    check_ticket(&g, &peer, &net, &t);
    assert_int_equal(t.extra.started_at, 1700000000);
    assert_true(t.extra.quoted_at >= before && t.extra.quoted_at <= mk_now());
    assert_int_equal(t.extra.expiration - t.extra.quoted_at, 600);
    assert_int_equal(t.endorsements_len, 11);
    assert_memory_equal(t.endorsements, "FIXED\0BYTES", 11);
    mk_tee_ticket_free(&t), mk_ticket_free(&g);

    /* Explicit expirations; one not after now is refused. */
    TU_ASSERT_RC(
        mk_tee_attester_ticket_with_expiration(a, &peer, &net, 1, MK_EXPIRES_NEVER, &g, &err), 0,
        &err);
    check_ticket(&g, &peer, &net, &t);
    assert_int_equal(t.extra.expiration, MK_EXPIRES_NEVER);
    mk_tee_ticket_free(&t), mk_ticket_free(&g);
    TU_ASSERT_RC(mk_tee_attester_ticket_with_expiration(a, &peer, &net, 1, mk_now(), &g, &err),
                 MK_EINVAL, &err);
    TU_ASSERT_REASON(&err, "attester: expiration is not after now");
    TU_ASSERT_RC(mk_tee_attester_ticket(a, NULL, &net, 1, &g, &err), MK_EINVAL, &err);
    TU_ASSERT_RC(mk_tee_attester_ticket(NULL, &peer, &net, 1, &g, &err), MK_EINVAL, &err);

    /* Settings in use: lifetime back to the default, no endorsements. */
    mk_tee_attester_set_lifetime(a, 0);
    TU_ASSERT_RC(mk_tee_attester_set_endorsements(a, NULL, 0, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_attester_ticket(a, &peer, &net, 1, &g, &err), 0, &err);
    check_ticket(&g, &peer, &net, &t);
    assert_int_equal(t.extra.expiration - t.extra.quoted_at, MK_TEE_TICKET_DEFAULT_LIFETIME);
    assert_null(t.endorsements);
    mk_tee_ticket_free(&t), mk_ticket_free(&g);

    /* A provider failure names the step and the provider's reason. */
    st.fail = true;
    TU_ASSERT_RC(mk_tee_attester_ticket(a, &peer, &net, 1, &g, &err), MK_EIO, &err);
    TU_ASSERT_REASON(&err, "attester: report: test provider: no evidence today");
    mk_tee_measurements m;
    TU_ASSERT_RC(mk_tee_attester_measurements(a, &m, &err), MK_EIO, &err);
    TU_ASSERT_REASON(&err, "attester: measurements");
    st.fail = false;
    TU_ASSERT_RC(mk_tee_attester_measurements(a, &m, &err), 0, &err);
    assert_non_null(mk_tee_measurements_find(&m, "MEASUREMENT"));

    /* install_own_ticket: the sink gets it, *expires says when it ends. */
    sink_rec rec = {0};
    mk_ticket_sink sink = {sink_add, &rec};
    mk_expiration exp = 0;
    TU_ASSERT_RC(mk_tee_attester_install_own_ticket(a, &peer, &net, 5, &sink, &exp, &err), 0, &err);
    assert_int_equal(rec.calls, 1);
    check_ticket(&rec.last, &peer, &net, &t);
    assert_int_equal(exp, t.extra.expiration);
    mk_tee_ticket_free(&t);
    rec.fail = true;
    exp = 0;
    TU_ASSERT_RC(mk_tee_attester_install_own_ticket(a, &peer, &net, 5, &sink, &exp, &err),
                 MK_ESTATE, &err);
    TU_ASSERT_REASON(&err, "attester: installing the ticket: sink: closed");
    assert_int_equal(exp, 0);
    TU_ASSERT_RC(mk_tee_attester_install_own_ticket(a, &peer, &net, 5, NULL, &exp, &err), MK_EINVAL,
                 &err);
    mk_ticket_free(&rec.last);
    mk_tee_attester_free(a);

    /* An endorse hook: the endorsements are made from each evidence. */
    cfg.endorse = endorse_ok;
    TU_ASSERT_RC(mk_tee_attester_new(&cfg, &a, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_attester_ticket(a, &peer, &net, 1, &g, &err), 0, &err);
    check_ticket(&g, &peer, &net, &t);
    assert_int_equal(t.endorsements_len, 15);
    assert_memory_equal(t.endorsements, "VCEK-FROM-TABLE", 15);
    mk_tee_ticket_free(&t), mk_ticket_free(&g);
    mk_tee_attester_free(a);
    cfg.endorse = endorse_fail;
    TU_ASSERT_RC(mk_tee_attester_new(&cfg, &a, &err), 0, &err);
    TU_ASSERT_RC(mk_tee_attester_ticket(a, &peer, &net, 1, &g, &err), MK_ENOTFOUND, &err);
    TU_ASSERT_REASON(&err, "attester: certificates: no VCEK in the table");
    mk_tee_attester_free(a);
    mk_tee_attester_free(NULL);
    mk_tee_provider_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_provider_interface),
        cmocka_unit_test(test_attester),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
