/*
 * tests/unit/streams/test_streams_attest_tdx.c — a consumer whose TDX
 * ticket the library renews (mk_network_attest, mosaik/attest.h) keeps its
 * subscription to a producer that requires the ticket, across several
 * ticket lifetimes: never cut off, never refused, and data still flow
 * after the last renewal.
 *
 * Real time (the producer cuts a consumer off on its own clock within
 * milliseconds of the expiry): tickets of 4 s renewed at 50 % (no jitter),
 * so four renewals take about 8 s and the first three tickets have expired
 * by then — the moments a missed renewal would have cut the consumer off.
 * Then the renewal stops and the consumer is cut off at the expiry (the
 * control). The simulator root is trusted explicitly.
 */
#include <pthread.h>

#include "streams_util.h"

#if MOSAIK_HAVE_TDX

#define LIFETIME 4

static void test_subscription_across_renewals(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_sim *sim = NULL;
    mk_tee_provider *prov = NULL;
    TU_ASSERT_RC(mk_tdx_sim_new(NULL, &sim, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_provider_sim_new(sim, NULL, &prov, &err), 0, &err);

    /* The producer requires the simulated TD's MRTD. */
    mk_network *a = st_net("attest-stream", NULL);
    mk_tdx_validator_opts *vo = mk_tdx_validator_opts_new();
    assert_non_null(vo);
    const uint8_t *der;
    size_t len;
    mk_tdx_sim_root_der(sim, &der, &len);
    TU_ASSERT_RC(mk_tdx_validator_opts_trust_simulator(vo, der, len, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_validator_opts_require_own_mrtd(vo, prov, &err), 0, &err);
    mk_validator *v = mk_tdx_validator_new(vo, &err);
    mk_tdx_validator_opts_free(vo);
    assert_non_null(v);
    mk_stream_producer_config pc;
    mk_stream_producer_config_init(&pc);
    pc.name = "attested";
    mk_stream_producer *p = NULL;
    TU_ASSERT_RC(mk_stream_producer_new(a, &pc, &p, &err), 0, &err);
    TU_ASSERT_RC(mk_stream_producer_require(p, v, &err), 0, &err);

    /* The consumer attests in one call, the collateral embedded. */
    mk_network *b = st_net("attest-stream", a);
    mk_buf coll = MK_BUF_INIT;
    TU_ASSERT_RC(mk_tdx_sim_collateral_json(sim, mk_now(), &coll, &err), 0, &err);
    mk_attestation_opts o;
    mk_attestation_opts_init(&o);
    o.endorsements = coll.data;
    o.endorsements_len = coll.len;
    o.lifetime = LIFETIME;
    o.renew_percent = 50;
    o.jitter_percent = 0;
    o.check_ms = 20;
    mk_attestation *at = NULL;
    TU_ASSERT_RC(mk_network_attest(b, prov, &o, &at, &err), 0, &err);
    mk_attestation_status st;
    mk_attestation_status_get(at, &st);
    int64_t first_expiry = st.expires;

    st_log log;
    st_log_init(&log);
    mk_stream_consumer_config cc;
    mk_stream_consumer_config_init(&cc);
    cc.name = "attested";
    cc.on_event = st_on_event;
    cc.event_ctx = &log;
    mk_stream_consumer *c = NULL;
    TU_ASSERT_RC(mk_stream_consumer_new(b, &cc, &c, &err), 0, &err);
    mk_stream_when w = mk_when_subscribed();
    TU_ASSERT_RC(mk_stream_consumer_wait(c, &w, 10000), 0, &err);

    /* Four renewals: the first three tickets expire meanwhile. */
    ST_WAIT_UNTIL(({
                      mk_attestation_status_get(at, &st);
                      st.renewals >= 4;
                  }),
                  30000, "four renewals");
    assert_true(mk_now() >= first_expiry + LIFETIME); /* the third ticket's expiry */
    assert_int_equal(st.failures, 0);
    assert_true(st.expires > mk_now());
    printf("# %llu renewals; consumer events: %d admitted, %d disconnected, %d rejected\n",
           (unsigned long long)st.renewals, st_count(&log, MK_STREAM_EV_ADMITTED),
           st_count(&log, MK_STREAM_EV_DISCONNECTED), st_count(&log, MK_STREAM_EV_REJECTED));
    assert_int_equal(st_count(&log, MK_STREAM_EV_DISCONNECTED), 0);
    assert_int_equal(st_count(&log, MK_STREAM_EV_REJECTED), 0);
    assert_int_equal(st_count(&log, MK_STREAM_EV_ADMITTED), 1);

    /* Still subscribed: an item sent now arrives. */
    TU_ASSERT_RC(mk_stream_send(p, "after", 5, 1000, &err), 0, &err);
    mk_stream_item item;
    TU_ASSERT_RC(mk_stream_recv(c, 10000, &item), 0, &err);
    assert_int_equal(item.len, 5);
    assert_memory_equal(item.data, "after", 5);
    mk_stream_item_free(&item);

    /* The control: once the library stops renewing, the consumer is cut
     * off when its ticket expires. */
    assert_int_equal(mk_attestation_stop(at), 0);
    mk_attestation_status_get(at, &st);
    ST_WAIT_UNTIL(st_count(&log, MK_STREAM_EV_DISCONNECTED) > 0, 15000, "the cut-off");
    assert_int_equal(st_reason(&log, MK_STREAM_EV_DISCONNECTED), MK_STREAM_R_EXPIRED);
    int64_t late = st_expired_late(&log, st.expires);
    assert_true(late >= 0);

    mk_stream_consumer_free(c);
    mk_attestation_free(at);
    mk_network_free(b);
    mk_stream_producer_free(p);
    mk_network_free(a);
    mk_buf_free(&coll);
    mk_tee_provider_free(prov);
    mk_tdx_sim_free(sim);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subscription_across_renewals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else
int main(void) {
    printf("streams attestation test: built without TDX support, skipped\n");
    return 77; /* CTest: skipped (tests/test_util.h, "Skips") */
}
#endif
