/*
 * Integration tests of discovery: several mk_networks in one process on
 * loopback, with short intervals. Convergence, gossip of ticket changes
 * (32 nodes, measured), network isolation, departures and tombstones,
 * purge, simulated-TDX tickets validated by peers, and hostile input from a
 * raw transport client (malformed / oversized frames, bad signatures,
 * other networks, the future, replays, floods of fresh ids).
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "discovery_util.h"

/* ------------------------------------------------------------------ */

static void test_three_converge(void **state) {
    (void)state;
    mk_network *n[3];
    n[1] = tn_new("converge", NULL, NULL);
    n[0] = tn_new("converge", n[1], NULL);
    n[2] = tn_new("converge", n[1], NULL);
    uint64_t ms = WAIT_UNTIL(all_see(n, 3, 2), 10000, "3 nodes to converge");
    printf("# 3 nodes converged in %llu ms\n", (unsigned long long)ms);
    /* Events: each node reported two discoveries. */
    for (int i = 0; i < 3; i++) {
        int seen = 0;
        mk_network_event ev;
        while (mk_network_next_event(n[i], 0, &ev) == 0) {
            if (ev.type == MK_EVENT_DISCOVERED) seen++;
            mk_network_event_free(&ev);
        }
        assert_int_equal(seen, 2);
    }
    /* A peers() snapshot holds copies with addresses. */
    mk_peer_entry *ps;
    size_t np;
    assert_int_equal(mk_network_peers(n[0], &ps, &np), 0);
    assert_int_equal(np, 2);
    assert_true(ps[0].n_addrs >= 1);
    mk_peer_entries_free(ps, np);
    /* Tags and served ids propagate. */
    mk_id tag, stream;
    mk_id_from_name(&tag, "role.validator");
    mk_id_from_name(&stream, "prices");
    mk_error err;
    TU_ASSERT_RC(mk_network_add_tag(n[2], &tag, &err), 0, &err);
    TU_ASSERT_RC(mk_network_add_served(n[2], MK_SERVED_STREAM, &stream, &err), 0, &err);
    mk_id id2;
    mk_network_peer_id(n[2], &id2);
    WAIT_UNTIL(({
                   mk_peer_entry e;
                   bool ok = mk_network_get(n[0], &id2, &e) == 0 &&
                             mk_peer_entry_has_tag(&e, &tag) &&
                             mk_peer_entry_serves(&e, MK_SERVED_STREAM, &stream);
                   mk_peer_entry_free(&e);
                   ok;
               }),
               5000, "tag to propagate");
    for (int i = 0; i < 3; i++)
        mk_network_free(n[i]);
}

/* 32 nodes; one node's ticket change reaches all. */
#define BIG 32
static void test_32_nodes_ticket(void **state) {
    (void)state;
    mk_network *n[BIG];
    n[0] = tn_new("thirty-two", NULL, NULL);
    for (int i = 1; i < BIG; i++)
        n[i] = tn_new("thirty-two", n[i % 4 == 0 ? 0 : i - 1], NULL);
    /* Deadlines, not measurements (those are printed): 32 nodes under ASan
     * share 2 cores with other tests in CI, which can stretch the usual
     * ~6 s (ASan, idle machine) several-fold. */
    uint64_t ms = WAIT_UNTIL(all_see(n, BIG, BIG - 1), 90000, "32 nodes to converge");
    printf("# 32 nodes converged in %llu ms\n", (unsigned long long)ms);
    if (getenv("DISC_DEBUG")) {
        mk_network_metrics sum, m;
        memset(&sum, 0, sizeof sum);
        for (int i = 0; i < BIG; i++) {
            mk_network_metrics_get(n[i], &m);
            uint64_t *a = (uint64_t *)&sum, *b = (uint64_t *)&m;
            for (size_t j = 0; j < sizeof m / 8; j++)
                a[j] += b[j];
        }
        mk_buf p = MK_BUF_INIT;
        mk_id z;
        memset(&z, 0, sizeof z);
        mk_metrics_prometheus(&sum, &z, &p);
        fwrite(p.data, 1, p.len, stdout);
        mk_buf_free(&p);
    }
    for (int i = 0; i < BIG; i++) {
        mk_network_event ev;
        while (mk_network_next_event(n[i], 0, &ev) == 0)
            mk_network_event_free(&ev);
    }
    /* A JWT ticket for node 7. */
    const int src = 7;
    mk_id id;
    mk_network_peer_id(n[src], &id);
    uint8_t secret[32];
    memset(secret, 0x42, sizeof secret);
    mk_jwt_key *key;
    mk_error err;
    TU_ASSERT_RC(mk_jwt_key_hs(MK_JWT_HS256, secret, 32, &key, &err), 0, &err);
    mk_jwt_builder *b = mk_jwt_builder_new();
    mk_jwt_builder_set_subject_peer(b, &id);
    mk_jwt_builder_set_expires_in(b, 3600);
    mk_ticket t;
    TU_ASSERT_RC(mk_jwt_builder_ticket(b, key, mk_now(), &t, &err), 0, &err);
    mk_jwt_builder_free(b);

    uint64_t t0 = now_ms();
    TU_ASSERT_RC(mk_network_add_ticket(n[src], &t, &err), 0, &err);
    bool got[BIG] = {false};
    got[src] = true;
    int remaining = BIG - 1;
    unsigned max_hops = 0;
    uint64_t last = 0;
    while (remaining > 0) {
        if (now_ms() - t0 > 60000) fail_msg("%d nodes never saw the ticket", remaining);
        for (int i = 0; i < BIG; i++) {
            if (got[i]) continue;
            mk_network_event ev;
            while (mk_network_next_event(n[i], 0, &ev) == 0) {
                if (ev.type == MK_EVENT_UPDATED && mk_id_eq(&ev.peer_id, &id) &&
                    ev.entry.n_tickets == 1) {
                    got[i] = true;
                    remaining--;
                    if (ev.hops > max_hops) max_hops = ev.hops;
                    if (ev.at_ms > last) last = ev.at_ms;
                }
                mk_network_event_free(&ev);
            }
        }
        sleep_ms(2);
    }
    printf("# ticket change reached %d nodes in %llu ms, at most %u gossip hops\n", BIG - 1,
           (unsigned long long)(last - t0), max_hops);
    /* Every node validates it with a JWT validator. */
    mk_jwt_key *pub;
    TU_ASSERT_RC(mk_jwt_key_public(key, &pub, &err), 0, &err);
    const mk_jwt_key *keys[1] = {pub};
    mk_jwt_validator_config jc;
    mk_jwt_validator_config_init(&jc);
    jc.keys = keys;
    jc.n_keys = 1;
    mk_validator *v = NULL;
    TU_ASSERT_RC(mk_jwt_validator_new(&jc, &v, &err), 0, &err);
    assert_non_null(v);
    for (int i = 0; i < BIG; i++) {
        if (i == src) continue;
        mk_peer_entry e;
        assert_int_equal(mk_network_get(n[i], &id, &e), 0);
        mk_peer_view pv;
        mk_peer_entry_view(&e, &pv);
        mk_expiration exp;
        TU_ASSERT_RC(mk_validator_check(v, &pv, mk_now(), &exp, &err), 0, &err);
        mk_peer_entry_free(&e);
    }
    mk_validator_free(v);
    mk_jwt_key_free(pub);
    mk_jwt_key_free(key);
    mk_ticket_free(&t);
    for (int i = 0; i < BIG; i++)
        mk_network_free(n[i]);
}

static void test_other_network(void **state) {
    (void)state;
    mk_network *a = tn_new("main-net", NULL, NULL);
    mk_network *b = tn_new("main-net", a, NULL);
    mk_network *x = tn_new("other-net", a, NULL); /* bootstraps into the wrong network */
    mk_network *ns[2] = {a, b};
    WAIT_UNTIL(all_see(ns, 2, 1), 5000, "a and b");
    /* Several sync rounds of a and of b, and x refused, before x's absence
     * is asserted. */
    uint64_t sa = syncs_started(a), sb = syncs_started(b);
    mk_network_metrics m;
    WAIT_UNTIL((mk_network_metrics_get(a, &m), m.net.refused_network > 0) &&
                   syncs_started(a) >= sa + 3 && syncs_started(b) >= sb + 3,
               10000, "three sync rounds of a and b, and x refused");
    assert_false(has_peer(a, x));
    assert_false(has_peer(b, x));
    assert_int_equal(mk_network_peer_count(x), 0);
    mk_network_metrics_get(a, &m);
    assert_true(m.net.refused_network > 0);
    mk_network_free(x);
    mk_network_free(b);
    mk_network_free(a);
}

static void test_hostile(void **state) {
    (void)state;
    mk_network *a = tn_new("hostile", NULL, no_sync);
    mk_id nid, other;
    mk_network_id(a, &nid);
    mk_id_from_name(&other, "another network");
    raw r;
    raw_open(&r, a);
    mk_ed25519_key k;
    assert_int_equal(mk_ed25519_generate(&k), 0);
    mk_id kid;
    memcpy(kid.b, k.public_key, 32);
    mk_peer_entry tmp;

    /* Malformed frame: refused, the connection closed, nothing changed. */
    mk_buf junk = MK_BUF_INIT;
    mk_buf_append(&junk, "\x83\x01\x00\x58\x20garbage", 12);
    expect_refusal(a, &r, &junk, MK_REFUSE_MALFORMED);
    WAIT_UNTIL(({
                   pthread_mutex_lock(&r.mu);
                   int c = r.closes;
                   pthread_mutex_unlock(&r.mu);
                   c == 1;
               }),
               5000, "malformed connection to close");
    mk_buf_free(&junk);
    raw_connect(&r, a);

    /* A valid entry is accepted (the control case). */
    mk_buf f;
    uint64_t now = wall_now_ms();
    entry_frame(&k, &nid, now - 1000, false, &f);
    raw_send(&r, &f);
    WAIT_UNTIL(mk_network_peer_count(a) == 1, 5000, "the control entry");
    /* The same again, and an older one: replays. */
    expect_refusal(a, &r, &f, MK_REFUSE_OLD_VERSION);
    mk_buf_free(&f);
    entry_frame(&k, &nid, now - 2000, false, &f);
    expect_refusal(a, &r, &f, MK_REFUSE_OLD_VERSION);
    mk_buf_free(&f);
    /* Bad signature (a newer version, last signature byte flipped). */
    entry_frame(&k, &nid, now, false, &f);
    f.data[f.len - 1] ^= 0x01;
    expect_refusal(a, &r, &f, MK_REFUSE_BAD_SIGNATURE);
    mk_buf_free(&f);
    assert_int_equal(mk_network_get(a, &kid, &tmp), 0);
    assert_int_equal(tmp.version, now - 1000); /* unchanged */
    mk_peer_entry_free(&tmp);
    /* Another network's entry, signed correctly. */
    mk_ed25519_key k2;
    mk_ed25519_generate(&k2);
    entry_frame(&k2, &other, now, false, &f);
    expect_refusal(a, &r, &f, MK_REFUSE_WRONG_NETWORK);
    mk_buf_free(&f);
    /* From the future (10 minutes ahead). */
    entry_frame(&k2, &nid, now + 600000, false, &f);
    expect_refusal(a, &r, &f, MK_REFUSE_FUTURE);
    mk_buf_free(&f);
    /* Our own id (an impostor cannot sign, so: a stale self entry). */
    /* Stale entry (older than purge_after). */
    entry_frame(&k2, &nid, now - 60000, false, &f);
    expect_refusal(a, &r, &f, MK_REFUSE_STALE);
    mk_buf_free(&f);
    /* An unsolicited digest reply. */
    mk_buf d = MK_BUF_INIT;
    mk_disc_encode_digest(&d, false, NULL, 0);
    expect_refusal(a, &r, &d, MK_REFUSE_RATE_LIMITED);
    /* Digest requests: the first answered, an immediate second refused. */
    mk_buf_reset(&d);
    mk_disc_encode_digest(&d, true, NULL, 0);
    mk_network_metrics m0, m1;
    mk_network_metrics_get(a, &m0);
    raw_send(&r, &d);
    WAIT_UNTIL(({
                   mk_network_metrics_get(a, &m1);
                   m1.syncs_answered == m0.syncs_answered + 1;
               }),
               5000, "sync answered");
    expect_refusal(a, &r, &d, MK_REFUSE_RATE_LIMITED);
    mk_buf_free(&d);
    /* Oversized frame: the transport cuts the connection. */
    mk_buf big = MK_BUF_INIT;
    mk_buf_extend(&big, MK_DISC_MAX_FRAME + 16);
    mk_network_metrics_get(a, &m0);
    raw_send(&r, &big);
    WAIT_UNTIL(({
                   mk_network_metrics_get(a, &m1);
                   m1.net.closed_oversize == m0.net.closed_oversize + 1;
               }),
               5000, "oversized frame refused");
    mk_buf_free(&big);
    assert_int_equal(mk_network_peer_count(a), 1);
    raw_free(&r);
    mk_network_free(a);
}

static void small_catalog(mk_network_config *c) {
    no_sync(c);
    c->max_peers = 64;
}

static void test_flood(void **state) {
    (void)state;
    mk_network *a = tn_new("flood", NULL, small_catalog);
    mk_id nid;
    mk_network_id(a, &nid);
    raw r;
    raw_open(&r, a);
    const int N = 400;
    uint64_t now = wall_now_ms();
    mk_buf all = MK_BUF_INIT;
    for (int i = 0; i < N; i++) {
        mk_ed25519_key k;
        mk_ed25519_generate(&k);
        mk_buf f;
        entry_frame(&k, &nid, now, false, &f);
        raw_send(&r, &f);
        mk_buf_free(&f);
    }
    mk_buf_free(&all);
    WAIT_UNTIL(refused(a, MK_REFUSE_CATALOG_FULL) == (uint64_t)(N - 64), 10000, "flood refusals");
    mk_network_metrics m;
    mk_network_metrics_get(a, &m);
    assert_int_equal(m.catalog_size, 64);
    assert_true(m.catalog_bytes < 64 * 1024);
    printf("# flood of %d fresh ids: catalog holds %llu entries, %llu bytes; %llu refused\n", N,
           (unsigned long long)m.catalog_size, (unsigned long long)m.catalog_bytes,
           (unsigned long long)m.refused[MK_REFUSE_CATALOG_FULL]);
    /* The Prometheus text carries the refusal counter. */
    mk_buf p = MK_BUF_INIT;
    assert_int_equal(mk_network_metrics_prometheus(a, &p), 0);
    mk_buf_append_u8(&p, 0);
    assert_non_null(strstr((char *)p.data, "reason=\"catalog_full\"} 336"));
    assert_non_null(strstr((char *)p.data, "mosaik_discovery_catalog_peers{"));
    mk_buf_free(&p);
    raw_free(&r);
    mk_network_free(a);
}

static void test_departure_tombstone(void **state) {
    (void)state;
    mk_network *n[3];
    n[0] = tn_new("depart", NULL, NULL);
    n[1] = tn_new("depart", n[0], NULL);
    n[2] = tn_new("depart", n[0], NULL);
    WAIT_UNTIL(all_see(n, 3, 2), 10000, "3 nodes");
    /* What a lagging peer would still hold: node 2's current entry. */
    mk_id id2;
    mk_network_peer_id(n[2], &id2);
    mk_peer_entry old;
    assert_int_equal(mk_network_get(n[0], &id2, &old), 0);
    mk_buf w = MK_BUF_INIT, f = MK_BUF_INIT;
    mk_error err;
    assert_int_equal(mk_peer_entry_encode(&old, &w, &err), 0);
    assert_int_equal(mk_disc_encode_announce(&f, 0, w.data, w.len), 0);
    mk_peer_entry_free(&old);

    uint64_t t0 = now_ms();
    mk_network_close(n[2]);
    mk_network *rest[2] = {n[0], n[1]};
    WAIT_UNTIL(all_see(rest, 2, 1), 3000, "departure to be seen");
    printf("# departure seen by both peers in %llu ms\n", (unsigned long long)(now_ms() - t0));
    for (int i = 0; i < 2; i++) {
        bool departed = false;
        mk_network_event ev;
        while (mk_network_next_event(rest[i], 0, &ev) == 0) {
            if (ev.type == MK_EVENT_DEPARTED && mk_id_eq(&ev.peer_id, &id2)) departed = true;
            mk_network_event_free(&ev);
        }
        assert_true(departed);
        mk_network_metrics m;
        mk_network_metrics_get(rest[i], &m);
        assert_int_equal(m.tombstones, 1);
    }
    /* The lagging peer replays the old entry: the tombstone refuses it. */
    raw r;
    raw_open(&r, n[0]);
    expect_refusal(n[0], &r, &f, MK_REFUSE_TOMBSTONE);
    assert_false(has_peer(n[0], n[2]));
    /* Sync rounds between 0 and 1 do not bring it back: two rounds of each
     * before the check. */
    uint64_t s0 = syncs_started(n[0]), s1 = syncs_started(n[1]);
    WAIT_UNTIL(syncs_started(n[0]) >= s0 + 2 && syncs_started(n[1]) >= s1 + 2, 10000,
               "two sync rounds of nodes 0 and 1");
    assert_false(has_peer(n[0], n[2]));
    assert_false(has_peer(n[1], n[2]));
    raw_free(&r);
    mk_buf_free(&w);
    mk_buf_free(&f);
    mk_network_free(n[2]);
    mk_network_free(n[1]);
    mk_network_free(n[0]);
}

static void short_purge(mk_network_config *c) {
    c->announce_ms = 250;
    c->sync_ms = 250;
    c->purge_after_ms = 1500;
}

static void test_purge(void **state) {
    (void)state;
    mk_network *a = tn_new("purge", NULL, short_purge);
    mk_network *b = tn_new("purge", a, short_purge);
    mk_network *ns[2] = {a, b};
    WAIT_UNTIL(all_see(ns, 2, 1), 5000, "a and b");
    /* Heartbeats keep b alive beyond purge_after: wait until a holds an
     * entry of b signed more than purge_after (1500 ms) after the first
     * one it held, which would be stale by then. */
    uint64_t v0 = held_version(a, b);
    assert_true(v0 > 0);
    WAIT_UNTIL(held_version(a, b) > v0 + 1500, 10000, "b's entry at a refreshed past purge_after");
    assert_true(tu_wall_ms() > v0 + 1500);
    assert_true(has_peer(a, b));
    uint64_t t0 = now_ms();
    mk_network_abort(b); /* dies without a departure */
    uint64_t ms = WAIT_UNTIL(mk_network_peer_count(a) == 0, 5000, "b to be purged");
    printf("# silent node purged after %llu ms (purge_after 1500)\n", (unsigned long long)ms);
    assert_true(now_ms() - t0 >= 1000);
    bool purged = false;
    mk_network_event ev;
    while (mk_network_next_event(a, 0, &ev) == 0) {
        if (ev.type == MK_EVENT_PURGED) purged = true;
        mk_network_event_free(&ev);
    }
    assert_true(purged);
    mk_network_free(b);
    mk_network_free(a);
}

/* Events: blocking wait, the fd, hooks. */
static int hook_calls;
static void count_hook(mk_network *nw, const mk_network_event *ev, void *ctx) {
    (void)nw, (void)ctx;
    if (ev->type == MK_EVENT_DISCOVERED) __atomic_add_fetch(&hook_calls, 1, __ATOMIC_SEQ_CST);
}

static void test_events(void **state) {
    (void)state;
    mk_network *a = tn_new("events", NULL, NULL);
    mk_error err;
    TU_ASSERT_RC(mk_network_add_hook(a, count_hook, NULL, &err), 0, &err);
    int fd = mk_network_event_fd(a);
    assert_true(fd >= 0);
    mk_network_event ev;
    assert_int_equal(mk_network_next_event(a, 0, &ev), MK_ETIMEDOUT);
    assert_int_equal(mk_network_next_event(a, 50, &ev), MK_ETIMEDOUT);
    mk_network *b = tn_new("events", a, NULL);
    TU_ASSERT_RC(mk_network_next_event(a, 5000, &ev), 0, &err);
    assert_int_equal(ev.type, MK_EVENT_DISCOVERED);
    mk_id bid;
    mk_network_peer_id(b, &bid);
    assert_true(mk_id_eq(&ev.peer_id, &bid));
    mk_network_event_free(&ev);
    WAIT_UNTIL(__atomic_load_n(&hook_calls, __ATOMIC_SEQ_CST) == 1, 5000, "the hook");
    /* The fd is readable exactly while events are queued. */
    mk_id tag;
    mk_id_from_name(&tag, "t");
    TU_ASSERT_RC(mk_network_add_tag(b, &tag, &err), 0, &err);
    struct pollfd pfd = {fd, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    TU_ASSERT_RC(mk_network_next_event(a, 0, &ev), 0, &err);
    assert_int_equal(ev.type, MK_EVENT_UPDATED);
    mk_network_event_free(&ev);
    while (mk_network_next_event(a, 0, &ev) == 0)
        mk_network_event_free(&ev);
    pfd.revents = 0;
    assert_int_equal(poll(&pfd, 1, 0), 0);
    /* Local changes bump the version; failures change nothing. */
    mk_peer_entry e1, e2;
    mk_network_local_entry(b, &e1);
    TU_ASSERT_RC(mk_network_remove_tag(b, &tag, &err), 0, &err);
    TU_ASSERT_RC(mk_network_remove_tag(b, &tag, &err), MK_ENOTFOUND, &err);
    mk_network_local_entry(b, &e2);
    assert_true(e2.version > e1.version);
    assert_int_equal(e2.tags.n, 0);
    mk_peer_entry_free(&e1);
    mk_peer_entry_free(&e2);
    mk_network_free(b);
    mk_network_free(a);
    /* After close, next_event drains then reports the state. */
}

#if MOSAIK_HAVE_TDX
static void test_tdx_sim_ticket(void **state) {
    (void)state;
    mk_error err;
    mk_error_clear(&err);
    mk_tdx_sim *sim;
    int64_t now = mk_now();
    TU_ASSERT_RC(mk_tdx_sim_new(&(mk_tdx_sim_config){.now = now}, &sim, &err), 0, &err);
    mk_tdx_collateral *coll;
    TU_ASSERT_RC(mk_tdx_sim_collateral(sim, now, &coll, &err), 0, &err);
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    memset(td.mr_td, 0xab, 48);
    mk_tdx_provider *p = NULL;
    assert_int_equal(mk_tdx_provider_sim_new(sim, &td, &p, NULL), 0);
    assert_non_null(p);
    mk_tdx_attester *att;
    TU_ASSERT_RC(mk_tdx_attester_new(&(mk_tdx_attester_config){.provider = p, .collateral = coll},
                                     &att, &err),
                 0, &err);

    mk_network *n[4];
    n[0] = tn_new("tdx-net", NULL, NULL);
    for (int i = 1; i < 4; i++)
        n[i] = tn_new("tdx-net", n[0], NULL);
    WAIT_UNTIL(all_see(n, 4, 3), 10000, "4 nodes");

    mk_id id, nid;
    mk_network_peer_id(n[1], &id);
    mk_network_id(n[1], &nid);
    mk_peer_entry local;
    mk_network_local_entry(n[1], &local);
    mk_ticket_sink sink = {mk_network_sink_add_ticket, n[1]};
    mk_expiration exp;
    uint64_t t0 = now_ms();
    TU_ASSERT_RC(
        mk_tdx_attester_install_own_ticket(att, &id, &nid, local.started_at, &sink, &exp, &err), 0,
        &err);
    mk_peer_entry_free(&local);

    /* Validators: the right MRTD passes, another MRTD fails with a reason. */
    const uint8_t *root;
    size_t root_len;
    mk_tdx_sim_root_der(sim, &root, &root_len);
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    TU_ASSERT_RC(mk_tdx_validator_opts_trust_simulator(o, root, root_len, &err), 0, &err);
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), td.mr_td);
    mk_validator *v = mk_tdx_validator_new(o, &err);
    assert_non_null(v);
    uint8_t wrong[48];
    memset(wrong, 0xcd, 48);
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), wrong);
    mk_validator *vbad = mk_tdx_validator_new(o, &err);
    assert_non_null(vbad);
    mk_tdx_validator_opts_free(o);
    mk_id cls;
    mk_tdx_ticket_class(&cls);

    for (int i = 0; i < 4; i++) {
        if (i == 1) continue;
        mk_peer_entry e;
        WAIT_UNTIL(({
                       bool ok = mk_network_get(n[i], &id, &e) == 0 && e.n_tickets == 1;
                       if (!ok) mk_peer_entry_free(&e);
                       ok;
                   }),
                   5000, "the TDX ticket");
        assert_true(mk_id_eq(&e.tickets[0].class_id, &cls));
        mk_peer_view pv;
        mk_peer_entry_view(&e, &pv);
        mk_expiration ex;
        TU_ASSERT_RC(mk_validator_check(v, &pv, mk_now(), &ex, &err), 0, &err);
        assert_int_equal(ex, exp);
        assert_true(mk_validator_check(vbad, &pv, mk_now(), &ex, &err) < 0);
        TU_ASSERT_REASON(&err, "MRTD");
        mk_peer_entry_free(&e);
    }
    printf("# TDX ticket seen and validated by 3 peers in %llu ms\n",
           (unsigned long long)(now_ms() - t0));
    /* Removal is seen too. */
    size_t removed;
    TU_ASSERT_RC(mk_network_remove_tickets_of(n[1], &cls, &removed, &err), 0, &err);
    assert_int_equal(removed, 1);
    for (int i = 0; i < 4; i++) {
        if (i == 1) continue;
        WAIT_UNTIL(({
                       mk_peer_entry e;
                       bool ok = mk_network_get(n[i], &id, &e) == 0 && e.n_tickets == 0;
                       mk_peer_entry_free(&e);
                       ok;
                   }),
                   5000, "the TDX ticket removal");
        mk_peer_entry e;
        mk_network_get(n[i], &id, &e);
        mk_peer_view pv;
        mk_peer_entry_view(&e, &pv);
        mk_expiration ex;
        assert_true(mk_validator_check(v, &pv, mk_now(), &ex, &err) < 0);
        mk_peer_entry_free(&e);
    }
    mk_validator_free(v);
    mk_validator_free(vbad);
    for (int i = 0; i < 4; i++)
        mk_network_free(n[i]);
    mk_tdx_attester_free(att);
    mk_tdx_provider_free(p);
    mk_tdx_collateral_free(coll);
    mk_tdx_sim_free(sim);
}
#endif

int main(void) {
    signal(SIGPIPE, SIG_IGN); /* the raw client's transport (see the report on net) */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_converge),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_other_network),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_flood),
        cmocka_unit_test(test_departure_tombstone),
        cmocka_unit_test(test_purge),
#if MOSAIK_HAVE_TDX
        cmocka_unit_test(test_tdx_sim_ticket),
#endif
        cmocka_unit_test(test_32_nodes_ticket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
