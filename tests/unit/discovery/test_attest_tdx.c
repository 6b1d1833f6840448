/*
 * tests/unit/discovery/test_attest_tdx.c — the node's own attestation, renewed
 * (mosaik/attest.h, src/discovery/attest.c), with the TDX simulator behind
 * a test provider that fails on demand, two networks on loopback and a
 * test clock.
 *
 *   - one call installs the ticket: in the local entry, and at a peer,
 *     whose TDX validator (trusting the simulator root, requiring the
 *     simulated TD's MRTD) accepts it; nothing is left behind when the
 *     first ticket cannot be made; bad options;
 *   - renewal across four lifetimes: each one between 75 % and 85 % of the
 *     lifetime (+ one clock step), and at every step of the clock the
 *     peer's copy of the entry carries a ticket its validator accepts;
 *   - a failing provider: FAILED events with the reason, backoff doubling
 *     from retry_min_ms to retry_max_ms (and the attempts at least half a
 *     backoff apart), EXPIRED once the ticket lapsed, a failing collateral
 *     hook likewise, then recovery (RENEWED, counters reset);
 *   - stop: no attempt after it, start again installs a fresh ticket, a
 *     stop from the event callback; the network freed before the
 *     attestation;
 *   - another platform (a test format of platform SEV-SNP, endorsements
 *     made per evidence by a hook) through the same call.
 *
 * The clock. The library reads time through mk_now() / mk_mono_ms()
 * (mosaik/clock.h); the test replaces them with the system clock shifted by
 * an offset the test moves (a clock that also runs, so the networks'
 * timers behave). After moving it the test waits until the attestation's
 * loop has looked at the clock again (status.checked_ms) and no attempt is
 * outstanding, so each step is a deterministic point of the schedule.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "net_util.h"
#include "tee/tee_internal.h"

#define LIFETIME 600 /* s */
#define STEP 20      /* s per clock step */
#define WAIT_MS 20000

/* ----- the shifted clock --------------------------------------------------- */

static _Atomic int64_t clock_offset_s;

static int64_t shifted_now(void *ctx) {
    (void)ctx;
    return mk_system_now() + atomic_load(&clock_offset_s);
}

static uint64_t shifted_mono(void *ctx) {
    (void)ctx;
    return tu_mono_ms() + (uint64_t)atomic_load(&clock_offset_s) * 1000u;
}

static const mk_clock SHIFTED = {shifted_now, shifted_mono, NULL};

/* ----- a TDX simulator that fails on demand ---------------------------------- */

typedef struct flaky {
    mk_tee_provider *sim_prov;
    atomic_bool fail;
    atomic_int calls;
    uint64_t call_ms[64]; /* tu_mono_ms() of each evidence request */
    /* the collateral hook */
    mk_tdx_sim *sim;
    atomic_bool fail_collateral;
    atomic_int fetches;
} flaky;

static int flaky_evidence(mk_tee_provider *p, const uint8_t rd[64], mk_buf *ev, mk_buf *aux,
                          mk_error *err) {
    flaky *f = p->state;
    int i = atomic_fetch_add(&f->calls, 1);
    if (i < 64) f->call_ms[i] = tu_mono_ms();
    if (atomic_load(&f->fail)) return mk_error_set(err, MK_EIO, "flaky provider: no quote today");
    return mk_tee_provider_evidence(f->sim_prov, rd, ev, aux, err);
}

static bool flaky_available(const mk_tee_provider *p, mk_error *err) {
    (void)p, (void)err;
    return true;
}

static int flaky_measurements(mk_tee_provider *p, mk_tee_measurements *out, mk_error *err) {
    flaky *f = p->state;
    return mk_tee_provider_measurements(f->sim_prov, out, err);
}

static mk_tee_provider_ops flaky_ops;

static int fetch_collateral(void *ctx, mk_buf *out, mk_error *err) {
    flaky *f = ctx;
    atomic_fetch_add(&f->fetches, 1);
    if (atomic_load(&f->fail_collateral))
        return mk_error_set(err, MK_ENETWORK, "PCS unreachable (test)");
    return mk_tdx_sim_collateral_json(f->sim, mk_now(), out, err);
}

/* ----- fixture ----------------------------------------------------------------- */

typedef struct events {
    pthread_mutex_t mu;
    int n[4];              /* by type */
    uint32_t retry_ms[16]; /* of the FAILED events, in order */
    int n_retry;
    int64_t renewed_at[16]; /* mk_now() at each RENEWED event */
    mk_expiration prev_expires[16], new_expires[16];
    mk_expiration expires; /* of the ticket installed, as the events tell */
    char reason[MK_ERROR_MSG_MAX];
    int code;
    unsigned recovered_after; /* RENEWED: failures before it */
    bool stop_on_renewal;
} events;

typedef struct fx {
    mk_tdx_sim *sim;
    mk_tee_provider *sim_prov, *prov;
    flaky fl;
    mk_network *a, *b;
    mk_validator *v;
    mk_attestation *at;
    events ev;
} fx;

static fx F;

static void on_event(mk_attestation *at, const mk_attestation_event *ev, void *ctx) {
    events *e = ctx;
    pthread_mutex_lock(&e->mu);
    e->n[ev->type]++;
    if (ev->type == MK_ATTEST_FAILED && e->n_retry < 16) e->retry_ms[e->n_retry++] = ev->retry_ms;
    if (ev->type == MK_ATTEST_RENEWED) {
        int i = e->n[MK_ATTEST_RENEWED] - 1;
        if (i < 16) {
            e->renewed_at[i] = mk_now();
            e->prev_expires[i] = e->expires;
            e->new_expires[i] = ev->expires;
        }
        e->expires = ev->expires;
        e->recovered_after = ev->failures;
    } else {
        snprintf(e->reason, sizeof e->reason, "%s", ev->reason);
        e->code = ev->code;
    }
    bool stop = e->stop_on_renewal && ev->type == MK_ATTEST_RENEWED;
    pthread_mutex_unlock(&e->mu);
    if (stop) assert_int_equal(mk_attestation_stop(at), 0); /* on the loop: does not wait */
}

static int n_events(mk_attestation_event_type t) {
    pthread_mutex_lock(&F.ev.mu);
    int n = F.ev.n[t];
    pthread_mutex_unlock(&F.ev.mu);
    return n;
}

static int setup(void **state) {
    (void)state;
    memset(&F, 0, sizeof F);
    atomic_store(&clock_offset_s, 0);
    mk_clock_set(&SHIFTED);
    pthread_mutex_init(&F.ev.mu, NULL);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_tdx_sim_new(NULL, &F.sim, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_provider_sim_new(F.sim, NULL, &F.sim_prov, &err), 0, &err);
    flaky_ops = *F.sim_prov->ops;
    flaky_ops.name = "flaky simulator (NOT real TDX)";
    flaky_ops.available = flaky_available;
    flaky_ops.evidence = flaky_evidence;
    flaky_ops.measurements = flaky_measurements;
    flaky_ops.destroy = NULL;
    F.fl.sim_prov = F.sim_prov;
    F.fl.sim = F.sim;
    F.prov = mk_tee_provider_alloc(&flaky_ops, &F.fl);
    assert_non_null(F.prov);

    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = "attest-test";
    cfg.sync_ms = 200;
    cfg.announce_ms = 500;
    F.a = tu_network_new(&cfg, NULL);
    F.b = tu_network_new(&cfg, F.a);

    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    assert_non_null(o);
    const uint8_t *der;
    size_t len;
    mk_tdx_sim_root_der(F.sim, &der, &len);
    TU_ASSERT_RC(mk_tdx_validator_opts_trust_simulator(o, der, len, &err), 0, &err);
    TU_ASSERT_RC(mk_tdx_validator_opts_require_own_mrtd(o, F.sim_prov, &err), 0, &err);
    F.v = mk_tdx_validator_new(o, &err);
    mk_tdx_validator_opts_free(o);
    assert_non_null(F.v);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    mk_attestation_free(F.at);
    mk_network_free(F.b);
    mk_network_free(F.a);
    mk_validator_free(F.v);
    mk_tee_provider_free(F.prov);
    mk_tee_provider_free(F.sim_prov);
    mk_tdx_sim_free(F.sim);
    pthread_mutex_destroy(&F.ev.mu);
    mk_clock_set(NULL);
    return 0;
}

static void opts_for_test(mk_attestation_opts *o) {
    mk_attestation_opts_init(o);
    o->lifetime = LIFETIME;
    o->check_ms = 5;
    o->retry_min_ms = 40;
    o->retry_max_ms = 160;
    o->fetch_endorsements = fetch_collateral;
    o->fetch_ctx = &F.fl;
    o->on_event = on_event;
    o->event_ctx = &F.ev;
}

/* ----- helpers ----------------------------------------------------------------- */

static void status(mk_attestation_status *st) {
    mk_attestation_status_get(F.at, st);
}

static bool settled_since(uint64_t mono) {
    mk_attestation_status st;
    status(&st);
    return st.checked_ms >= mono && !st.attempting;
}

/* Move the clock by s seconds, then wait until the attestation's loop has
 * looked at it and no attempt is outstanding. */
static void advance(int64_t s) {
    atomic_fetch_add(&clock_offset_s, s);
    uint64_t mono = mk_mono_ms();
    TU_WAIT_UNTIL(settled_since(mono), WAIT_MS, "the attestation to look at the clock");
}

/* The tickets of class cls in e: the first one (or NULL). */
static const mk_ticket *ticket_of(const mk_peer_entry *e, const mk_id *cls, size_t *n) {
    const mk_ticket *t = NULL;
    *n = 0;
    for (size_t i = 0; i < e->n_tickets; i++) {
        if (!mk_id_eq(&e->tickets[i].class_id, cls)) continue;
        if (!t) t = &e->tickets[i];
        ++*n;
    }
    return t;
}

/* Does b hold a's entry with the same ticket of class cls as a's local
 * entry? */
static bool peer_has_local_ticket(const mk_id *cls) {
    mk_peer_entry local, seen;
    mk_id pa;
    mk_network_peer_id(F.a, &pa);
    if (mk_network_local_entry(F.a, &local) < 0) return false;
    bool same = false;
    if (mk_network_get(F.b, &pa, &seen) == 0) {
        size_t n1, n2;
        const mk_ticket *t1 = ticket_of(&local, cls, &n1), *t2 = ticket_of(&seen, cls, &n2);
        same =
            t1 && t2 && n2 == 1 && t1->len == t2->len && memcmp(t1->data, t2->data, t1->len) == 0;
        mk_peer_entry_free(&seen);
    }
    mk_peer_entry_free(&local);
    return same;
}

/* b's validator on b's copy of a's entry, now: 0 and *exp, or the code. */
static int peer_verdict(mk_expiration *exp, mk_error *err) {
    mk_id pa;
    mk_network_peer_id(F.a, &pa);
    mk_peer_entry seen;
    int rc = mk_network_get(F.b, &pa, &seen);
    if (rc < 0) return mk_error_set(err, rc, "b does not know a");
    mk_peer_view pv;
    mk_peer_entry_view(&seen, &pv);
    rc = mk_validator_check(F.v, &pv, mk_now(), exp, err);
    mk_peer_entry_free(&seen);
    return rc;
}

static void assert_peer_accepts(void) {
    mk_attestation_status st;
    status(&st);
    TU_WAIT_UNTIL(peer_has_local_ticket(&st.class_id), WAIT_MS, "b to hold a's ticket");
    mk_error err;
    mk_error_clear(&err);
    mk_expiration exp = 0;
    TU_ASSERT_RC(peer_verdict(&exp, &err), 0, &err);
    assert_true(exp > mk_now());
}

static void attest(void) {
    mk_attestation_opts o;
    opts_for_test(&o);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_network_attest(F.a, F.prov, &o, &F.at, &err), 0, &err);
    assert_non_null(F.at);
}

/* ----- tests ------------------------------------------------------------------- */

static void test_install(void **state) {
    (void)state;
    int64_t t0 = mk_now();
    attest();
    mk_attestation_status st;
    status(&st);
    assert_true(st.running);
    mk_id cls;
    mk_tdx_ticket_class(&cls);
    assert_true(mk_id_eq(&st.class_id, &cls));
    assert_true(st.expires >= t0 + LIFETIME && st.expires <= mk_now() + LIFETIME);
    assert_true(st.next_at >= t0 + LIFETIME * 75 / 100 &&
                st.next_at <= mk_now() + LIFETIME * 85 / 100);
    assert_int_equal(st.renewals, 0);
    assert_int_equal(atomic_load(&F.fl.fetches), 1); /* the collateral, once per ticket */

    /* In the local entry, with a valid ticket of the TDX class. */
    mk_peer_entry local;
    assert_int_equal(mk_network_local_entry(F.a, &local), 0);
    size_t n;
    assert_non_null(ticket_of(&local, &cls, &n));
    assert_int_equal(n, 1);
    mk_peer_view pv;
    mk_peer_entry_view(&local, &pv);
    mk_error err;
    mk_error_clear(&err);
    mk_expiration exp;
    TU_ASSERT_RC(mk_validator_check(F.v, &pv, mk_now(), &exp, &err), 0, &err);
    assert_int_equal(exp, st.expires);
    mk_peer_entry_free(&local);
    /* And at the peer. */
    assert_peer_accepts();

    /* Started already. */
    TU_ASSERT_RC(mk_attestation_start(F.at, &err), MK_ESTATE, &err);
    assert_string_equal(mk_attestation_event_name(MK_ATTEST_RENEWED), "renewed");
    assert_string_equal(mk_attestation_event_name(MK_ATTEST_FAILED), "failed");
    assert_string_equal(mk_attestation_event_name(MK_ATTEST_EXPIRED), "expired");
    assert_string_equal(mk_attestation_event_name((mk_attestation_event_type)9), "unknown");
}

static void test_first_ticket_fails(void **state) {
    (void)state;
    mk_attestation_opts o;
    opts_for_test(&o);
    mk_error err;
    mk_error_clear(&err);
    atomic_store(&F.fl.fail, true);
    static char dummy;
    mk_attestation *at = (mk_attestation *)&dummy; /* reset to NULL on failure */
    TU_ASSERT_RC(mk_network_attest(F.a, F.prov, &o, &at, &err), MK_EIO, &err);
    TU_ASSERT_REASON(&err, "no quote today");
    assert_null(at);
    atomic_store(&F.fl.fail, false);
    atomic_store(&F.fl.fail_collateral, true);
    TU_ASSERT_RC(mk_network_attest(F.a, F.prov, &o, &at, &err), MK_ENETWORK, &err);
    TU_ASSERT_REASON(&err, "attest: endorsements: PCS unreachable");
    atomic_store(&F.fl.fail_collateral, false);
    mk_peer_entry local;
    assert_int_equal(mk_network_local_entry(F.a, &local), 0);
    assert_int_equal(local.n_tickets, 0);
    mk_peer_entry_free(&local);

    /* Bad options. */
    mk_attestation_opts bad;
    const struct {
        unsigned renew, jitter;
        uint32_t rmin, rmax, check;
    } cases[] = {{0, 0, 1, 1, 1},  {100, 0, 1, 1, 1}, {80, 20, 1, 1, 1}, {10, 10, 1, 1, 1},
                 {80, 5, 0, 1, 1}, {80, 5, 2, 1, 1},  {80, 5, 1, 1, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mk_attestation_opts_init(&bad);
        bad.renew_percent = cases[i].renew;
        bad.jitter_percent = cases[i].jitter;
        bad.retry_min_ms = cases[i].rmin;
        bad.retry_max_ms = cases[i].rmax;
        bad.check_ms = cases[i].check;
        TU_ASSERT_RC(mk_attestation_new(F.a, F.prov, &bad, &at, &err), MK_EINVAL, &err);
        assert_null(at);
    }
    mk_attestation_opts_init(&bad);
    bad.endorsements = (const uint8_t *)"{}";
    bad.endorsements_len = 2;
    bad.fetch_endorsements = fetch_collateral;
    TU_ASSERT_RC(mk_attestation_new(F.a, F.prov, &bad, &at, &err), MK_EINVAL, &err);
    TU_ASSERT_RC(mk_attestation_new(F.a, NULL, NULL, &at, &err), MK_EINVAL, &err);
    /* new without start: nothing made, freed cleanly. */
    TU_ASSERT_RC(mk_attestation_new(F.a, F.prov, NULL, &at, &err), 0, &err);
    mk_attestation_status st;
    mk_attestation_status_get(at, &st);
    assert_false(st.running);
    assert_int_equal(st.expires, 0);
    mk_attestation_free(at);
    assert_int_equal(atomic_load(&F.fl.calls), 1); /* only the first failing attempt */
}

static void test_renewal_across_lifetimes(void **state) {
    (void)state;
    attest();
    assert_peer_accepts();
    mk_attestation_status st0;
    status(&st0);
    pthread_mutex_lock(&F.ev.mu);
    F.ev.expires = st0.expires;
    pthread_mutex_unlock(&F.ev.mu);
    int renewals = 0;
    for (int64_t moved = 0; moved < 4 * LIFETIME; moved += STEP) {
        advance(STEP);
        assert_peer_accepts(); /* the peer never sees the ticket lapse */
        mk_attestation_status st;
        status(&st);
        assert_int_equal(st.failing, 0);
        assert_false(st.expired);
        if ((int)st.renewals > renewals) {
            assert_int_equal(st.renewals, renewals + 1);
            renewals++;
        }
    }
    assert_true(renewals >= 4);
    assert_int_equal(n_events(MK_ATTEST_RENEWED), renewals);
    assert_int_equal(n_events(MK_ATTEST_FAILED), 0);
    assert_int_equal(n_events(MK_ATTEST_EXPIRED), 0);
    /* Each renewal happened between 75 % and 85 % of the previous ticket's
     * lifetime (one clock step late at most), the new ticket for a full
     * lifetime. */
    pthread_mutex_lock(&F.ev.mu);
    for (int i = 0; i < renewals && i < 16; i++) {
        int64_t quoted = F.ev.prev_expires[i] - LIFETIME;
        int64_t age = F.ev.renewed_at[i] - quoted;
        if (age < LIFETIME * 75 / 100 || age > LIFETIME * 85 / 100 + STEP + 1)
            fail_msg("renewal %d at %lld s of a %d s lifetime", i, (long long)age, LIFETIME);
        assert_true(F.ev.new_expires[i] >= F.ev.renewed_at[i] + LIFETIME - 1);
        assert_true(F.ev.renewed_at[i] < F.ev.prev_expires[i]);
    }
    pthread_mutex_unlock(&F.ev.mu);
    assert_int_equal(atomic_load(&F.fl.calls), renewals + 1);
    assert_int_equal(atomic_load(&F.fl.fetches), renewals + 1);
}

/* Wait for the k-th FAILED event. */
static void wait_failures(int k) {
    TU_WAIT_UNTIL(n_events(MK_ATTEST_FAILED) >= k, WAIT_MS, "failed events");
}

static void test_failures_backoff_recovery(void **state) {
    (void)state;
    attest();
    mk_attestation_status st0;
    status(&st0);
    atomic_store(&F.fl.fail, true);
    /* To the renewal: the attempts fail, retried with a doubling backoff. */
    atomic_fetch_add(&clock_offset_s, st0.next_at - mk_now());
    wait_failures(6);
    pthread_mutex_lock(&F.ev.mu);
    const uint32_t want[] = {40, 80, 160, 160, 160, 160};
    for (int i = 0; i < 6; i++)
        assert_int_equal(F.ev.retry_ms[i], want[i]);
    /* Call 0 made the first ticket; call k (k >= 1) failed with FAILED
     * event k, whose backoff retry_ms[k - 1] came before call k + 1. */
    for (int k = 1; k < 6; k++) {
        uint64_t gap = F.fl.call_ms[k + 1] - F.fl.call_ms[k];
        if (gap < F.ev.retry_ms[k - 1] / 2)
            fail_msg("attempt %d only %llu ms after the one before (backoff %u)", k + 1,
                     (unsigned long long)gap, F.ev.retry_ms[k - 1]);
    }
    assert_int_equal(F.ev.code, MK_EIO);
    if (!strstr(F.ev.reason, "flaky provider: no quote today")) fail_msg("reason: %s", F.ev.reason);
    pthread_mutex_unlock(&F.ev.mu);
    mk_attestation_status st;
    status(&st);
    assert_true(st.running);
    assert_true(st.failing >= 6);
    assert_int_equal(st.failures, st.failing);
    assert_int_equal(st.last_code, MK_EIO);
    assert_non_null(strstr(st.last_reason, "no quote today"));
    assert_int_equal(st.expires, st0.expires); /* the old ticket stays */
    assert_int_equal(st.renewals, 0);
    assert_peer_accepts();

    /* Past its expiration: EXPIRED, with the reason; the peer refuses it. */
    atomic_fetch_add(&clock_offset_s, st0.expires - mk_now() + 1);
    TU_WAIT_UNTIL(n_events(MK_ATTEST_EXPIRED) == 1, WAIT_MS, "the expired event");
    status(&st);
    assert_true(st.expired);
    mk_error err;
    mk_error_clear(&err);
    mk_expiration exp;
    assert_true(peer_verdict(&exp, &err) < 0);

    /* The collateral fails next: its own reason. */
    int failed = n_events(MK_ATTEST_FAILED);
    atomic_store(&F.fl.fail_collateral, true);
    atomic_store(&F.fl.fail, false);
    TU_WAIT_UNTIL(n_events(MK_ATTEST_FAILED) >= failed + 2, WAIT_MS, "collateral failures");
    pthread_mutex_lock(&F.ev.mu);
    assert_int_equal(F.ev.code, MK_ENETWORK);
    if (!strstr(F.ev.reason, "endorsements: PCS unreachable")) fail_msg("reason: %s", F.ev.reason);
    pthread_mutex_unlock(&F.ev.mu);

    /* Recovery. */
    atomic_store(&F.fl.fail_collateral, false);
    TU_WAIT_UNTIL(n_events(MK_ATTEST_RENEWED) == 1, WAIT_MS, "the renewal after the failures");
    status(&st);
    assert_int_equal(st.failing, 0);
    assert_int_equal(st.retry_ms, 0);
    assert_false(st.expired);
    assert_int_equal(st.renewals, 1);
    assert_true(st.expires > mk_now());
    pthread_mutex_lock(&F.ev.mu);
    assert_true(F.ev.recovered_after >= 8);
    pthread_mutex_unlock(&F.ev.mu);
    assert_int_equal(n_events(MK_ATTEST_EXPIRED), 1);
    assert_peer_accepts();
    /* And the schedule is back to normal: the next renewal in 75..85 %. */
    assert_true(st.next_at >= st.expires - LIFETIME + LIFETIME * 75 / 100);
    assert_true(st.next_at <= st.expires - LIFETIME + LIFETIME * 85 / 100);
}

static void test_stop_and_restart(void **state) {
    (void)state;
    attest();
    mk_attestation_status st0, st;
    assert_int_equal(mk_attestation_stop(F.at), 0);
    assert_int_equal(mk_attestation_stop(F.at), 0); /* idempotent */
    status(&st0);
    assert_false(st0.running);
    assert_int_equal(st0.next_at, 0);
    int calls = atomic_load(&F.fl.calls);
    /* Past the renewal and the expiry: nothing happens. */
    atomic_fetch_add(&clock_offset_s, LIFETIME + STEP);
    tu_wait_loop_after(mk_network_transport(F.a), 100); /* 20 check periods */
    status(&st);
    assert_int_equal(atomic_load(&F.fl.calls), calls);
    assert_int_equal(st.renewals, 0);
    assert_false(st.expired);                        /* nobody looked */
    assert_int_equal(st.checked_ms, st0.checked_ms); /* the loop did not look again */
    assert_int_equal(n_events(MK_ATTEST_RENEWED) + n_events(MK_ATTEST_FAILED), 0);
    /* The stale ticket is still in the entry, and the peer refuses it. */
    mk_error err;
    mk_error_clear(&err);
    mk_expiration exp;
    assert_true(peer_verdict(&exp, &err) < 0);

    /* Start again: a fresh ticket, at the peer too. */
    TU_ASSERT_RC(mk_attestation_start(F.at, &err), 0, &err);
    status(&st);
    assert_true(st.running);
    assert_true(st.expires >= mk_now() + LIFETIME - 1);
    assert_peer_accepts();

    /* A stop from the event callback (on the I/O thread). */
    pthread_mutex_lock(&F.ev.mu);
    F.ev.stop_on_renewal = true;
    pthread_mutex_unlock(&F.ev.mu);
    atomic_fetch_add(&clock_offset_s, st.next_at - mk_now());
    TU_WAIT_UNTIL(n_events(MK_ATTEST_RENEWED) == 1, WAIT_MS, "the renewal");
    TU_WAIT_UNTIL(({
                      mk_attestation_status s;
                      status(&s);
                      !s.running;
                  }),
                  WAIT_MS, "the stop from the callback");
    calls = atomic_load(&F.fl.calls);
    atomic_fetch_add(&clock_offset_s, LIFETIME);
    tu_wait_loop_after(mk_network_transport(F.a), 100);
    assert_int_equal(atomic_load(&F.fl.calls), calls);
    assert_int_equal(n_events(MK_ATTEST_RENEWED), 1);
}

/* Another platform through the same call: a provider of a test format
 * (platform SEV-SNP, evidence "EV:" || report data, endorsements per
 * evidence by a hook), as tests/unit/tee/test_attester.c plugs one in. */
static const mk_tee_ticket_format OTHER_FMT = {
    .platform = MK_TEE_SNP,
    .label = "test ticket",
    .class_name = "mosaik.ticket.attest-test.v1",
    .domain = "mosaik.attest-test.report-data.v1",
    .evidence_name = "report",
    .endorsements_name = "certificates",
    .version = 1,
    .evidence_max = 1024,
    .endorsements_max = 4096,
    .endorsements_text = false,
};

static int other_evidence(mk_tee_provider *p, const uint8_t rd[64], mk_buf *ev, mk_buf *aux,
                          mk_error *err) {
    (void)p, (void)err;
    mk_buf_reset(ev);
    mk_buf_append(ev, "EV:", 3);
    mk_buf_append(ev, rd, 64);
    if (aux) {
        mk_buf_reset(aux);
        mk_buf_append(aux, "TABLE", 5);
    }
    return 0;
}

static int other_measurements(mk_tee_provider *p, mk_tee_measurements *out, mk_error *err) {
    (void)p, (void)out, (void)err;
    return 0;
}

static int other_endorse(void *ctx, const uint8_t *ev, size_t ev_len, const uint8_t *aux,
                         size_t aux_len, mk_buf *out, mk_error *err) {
    (void)ctx, (void)ev, (void)ev_len, (void)err;
    return mk_buf_append(out, aux, aux_len);
}

static const mk_tee_provider_ops OTHER_OPS = {
    .name = "test platform (simulated)",
    .platform = MK_TEE_SNP,
    .is_simulated = true,
    .ticket = &OTHER_FMT,
    .available = flaky_available,
    .evidence = other_evidence,
    .measurements = other_measurements,
};

static void test_other_platform(void **state) {
    (void)state;
    mk_tee_provider *p = mk_tee_provider_alloc(&OTHER_OPS, NULL);
    assert_non_null(p);
    mk_attestation_opts o;
    mk_attestation_opts_init(&o);
    o.endorse = other_endorse;
    o.check_ms = 5;
    mk_error err;
    mk_error_clear(&err);
    int64_t t0 = mk_now();
    TU_ASSERT_RC(mk_network_attest(F.a, p, &o, &F.at, &err), 0, &err);
    mk_attestation_status st;
    status(&st);
    mk_id cls;
    mk_id_from_name(&cls, OTHER_FMT.class_name);
    assert_true(mk_id_eq(&st.class_id, &cls));
    assert_true(st.expires >= t0 + MK_TEE_TICKET_DEFAULT_LIFETIME);
    assert_true(st.expires <= mk_now() + MK_TEE_TICKET_DEFAULT_LIFETIME);
    TU_WAIT_UNTIL(peer_has_local_ticket(&cls), WAIT_MS, "b to hold a's ticket");
    /* Renewed like any other. */
    atomic_fetch_add(&clock_offset_s, st.next_at - mk_now());
    TU_WAIT_UNTIL(({
                      mk_attestation_status s;
                      status(&s);
                      s.renewals == 1 && !s.attempting;
                  }),
                  WAIT_MS, "the renewal");
    TU_WAIT_UNTIL(peer_has_local_ticket(&cls), WAIT_MS, "b to hold the renewed ticket");
    mk_attestation_free(F.at);
    F.at = NULL;
    mk_tee_provider_free(p);
}

static void test_network_freed_first(void **state) {
    (void)state;
    attest();
    mk_network_free(F.b);
    F.b = NULL;
    mk_network_free(F.a); /* stops the attestation */
    F.a = NULL;
    mk_attestation_status st;
    status(&st);
    assert_false(st.running);
    assert_int_equal(mk_attestation_stop(F.at), 0);
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_attestation_start(F.at, &err), MK_ESTATE, &err);
    mk_attestation_free(F.at);
    F.at = NULL;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_install, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_ticket_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renewal_across_lifetimes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures_backoff_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_platform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_network_freed_first, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
