/*
 * bench/bench_discovery.c — how fast discovery converges and applies entries.
 *
 * 1. Convergence versus node count: N nodes (8, 16, 32, 64) in one process,
 *    each on its own I/O thread on loopback, bootstrapped in a chain with
 *    shortcuts (every 4th node boots from node 0). Reported: the time until
 *    every node holds every other's entry, then the time for one node's
 *    entry change (a new tag) to reach all others, with the most gossip hops
 *    it travelled.
 * 2. Entries applied per second: signed entries offered to a catalog
 *    (decode, canonical-form check, Ed25519 signature, network, drift and
 *    version rules, insert), beside the named peer: the bare Ed25519
 *    verifications of the same entries with OpenSSL, which no catalog can
 *    skip.
 *
 * usage: bench_discovery [MAX_NODES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <mosaik/mosaik.h>

#include "discovery/disc_internal.h"

static void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static mk_network *node_new(mk_network *boot) {
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = "bench-discovery";
    cfg.announce_ms = 2000;
    cfg.sync_ms = 1000;
    cfg.purge_after_ms = 60000;
    char bs[200];
    const char *bl[1] = {bs};
    if (boot) {
        mk_id id;
        mk_network_peer_id(boot, &id);
        char hex[MK_ID_HEX_LEN], addr[MK_TRANSPORT_ADDR_MAX + 1];
        mk_id_to_hex(&id, hex);
        mk_network_listen_addr(boot, addr, sizeof addr);
        snprintf(bs, sizeof bs, "%s@%s", hex, addr);
        cfg.bootstrap = bl;
        cfg.n_bootstrap = 1;
    }
    mk_network *nw = NULL;
    mk_error err;
    mk_error_clear(&err);
    if (mk_network_new(&cfg, &nw, &err) < 0) {
        printf("discovery: cannot create a node: %s\n", err.msg);
        return NULL;
    }
    return nw;
}

/* Raise the soft descriptor limit to the hard one (each node holds a few
 * descriptors, and one per connection): say what it is. */
static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (was != rl.rlim_max && setrlimit(RLIMIT_NOFILE, &rl) < 0) rl.rlim_cur = was;
    printf("discovery_fd_limit: %llu descriptors (RLIMIT_NOFILE soft, was %llu; hard %llu)\n",
           (unsigned long long)rl.rlim_cur, (unsigned long long)was,
           (unsigned long long)rl.rlim_max);
}

static void drain(mk_network *nw) {
    mk_network_event ev;
    while (mk_network_next_event(nw, 0, &ev) == 0)
        mk_network_event_free(&ev);
}

static void free_nodes(mk_network **nodes, int n) {
    for (int i = 0; i < n; i++)
        mk_network_free(nodes[i]);
    free(nodes);
}

/* false when the nodes could not be created (said why). */
static bool convergence(int n) {
    mk_network **nodes = calloc((size_t)n, sizeof *nodes);
    nodes[0] = node_new(NULL);
    uint64_t t0 = mk_mono_ms();
    for (int i = 1; i < n && nodes[i - 1]; i++)
        nodes[i] = node_new(nodes[i % 4 == 0 ? 0 : i - 1]);
    for (int i = 0; i < n; i++) {
        if (nodes[i]) continue;
        printf("discovery_%d_nodes: skipped, node %d of %d could not be created\n", n, i + 1, n);
        free_nodes(nodes, i);
        return false;
    }
    bool done = false;
    while (!done && mk_mono_ms() - t0 < 120000) {
        done = true;
        for (int i = 0; i < n && done; i++)
            if (mk_network_peer_count(nodes[i]) != (size_t)n - 1) done = false;
        if (!done) sleep_ms(5);
    }
    uint64_t conv = mk_mono_ms() - t0;
    for (int i = 0; i < n; i++)
        drain(nodes[i]);

    mk_id tag, src;
    mk_id_from_name(&tag, "bench-changed");
    mk_network_peer_id(nodes[0], &src);
    mk_error err;
    uint64_t t1 = mk_mono_ms(), last = t1;
    mk_network_add_tag(nodes[0], &tag, &err);
    int remaining = n - 1;
    unsigned hops = 0;
    bool *got = calloc((size_t)n, sizeof *got);
    while (remaining > 0 && mk_mono_ms() - t1 < 60000) {
        for (int i = 1; i < n; i++) {
            if (got[i]) continue;
            mk_network_event ev;
            while (mk_network_next_event(nodes[i], 0, &ev) == 0) {
                if (!got[i] && ev.type == MK_EVENT_UPDATED && mk_id_eq(&ev.peer_id, &src) &&
                    mk_peer_entry_has_tag(&ev.entry, &tag)) {
                    got[i] = true;
                    remaining--;
                    if (ev.hops > hops) hops = ev.hops;
                    if (ev.at_ms > last) last = ev.at_ms;
                }
                mk_network_event_free(&ev);
            }
        }
        sleep_ms(1);
    }
    if (done && remaining == 0) {
        printf("discovery_converge_%d_nodes: %llu ms\n", n, (unsigned long long)conv);
        printf("discovery_change_%d_nodes: %llu ms\n", n, (unsigned long long)(last - t1));
        printf("discovery_change_%d_nodes_max_hops: %u hops\n", n, hops);
    } else {
        printf("discovery_%d_nodes: did not converge (%d nodes missing the change)\n", n,
               remaining);
    }
    free(got);
    free_nodes(nodes, n);
    return true;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void apply_rate(void) {
    enum { N = 4000 };
    mk_id network;
    mk_id_from_name(&network, "bench-discovery");
    mk_buf *wire = calloc(N, sizeof *wire);
    uint8_t(*sig)[64] = calloc(N, 64);
    mk_buf *body = calloc(N, sizeof *body);
    uint8_t(*pk)[32] = calloc(N, 32);
    mk_error err;
    uint64_t now_ms = (uint64_t)mk_now() * 1000;
    for (int i = 0; i < N; i++) {
        mk_ed25519_key k;
        mk_ed25519_generate(&k);
        mk_peer_entry e;
        mk_peer_entry_init(&e);
        memcpy(e.peer_id.b, k.public_key, 32);
        e.network_id = network;
        e.version = now_ms;
        e.started_at = mk_now();
        mk_peer_entry_add_addr(&e, "127.0.0.1:4000", &err);
        mk_peer_entry_sign(&e, &k, &err);
        mk_peer_entry_encode(&e, &wire[i], &err);
        /* The same signature check, done directly, for the floor. */
        mk_buf b = MK_BUF_INIT;
        mk_peer_entry_encode_body(&e, &b, &err);
        mk_peer_entry_signed_bytes(b.data, b.len, &body[i]);
        mk_buf_free(&b);
        mk_ed25519_sign(&k, body[i].data, body[i].len, sig[i]);
        memcpy(pk[i], k.public_key, 32);
        mk_peer_entry_free(&e);
    }
    mk_catalog cat;
    mk_catalog_limits lim = {0};
    mk_id self;
    mk_id_random(&self);
    lim.max_peers = N + 1;
    lim.max_bytes = (size_t)64 << 20;
    lim.max_drift_ms = 60000;
    lim.purge_after_ms = 600000;
    lim.tombstone_ms = 1200000;
    mk_catalog_init(&cat, &network, &self, &lim);
    double t0 = now_s();
    int ok = 0;
    for (int i = 0; i < N; i++) {
        mk_offer_result res;
        mk_refusal why;
        if (mk_catalog_offer(&cat, wire[i].data, wire[i].len, now_ms, &res, NULL, &why, &err) == 0)
            ok++;
    }
    double t_cat = now_s() - t0;
    t0 = now_s();
    int vok = 0;
    for (int i = 0; i < N; i++)
        if (mk_ed25519_verify(pk[i], body[i].data, body[i].len, sig[i]) == 0) vok++;
    double t_sig = now_s() - t0;
    if (ok != N || vok != N)
        printf("discovery_apply: only %d/%d accepted, %d verified\n", ok, N, vok);
    printf("discovery_entries_applied: %.0f entries/s\n", N / t_cat);
    printf("ed25519_verify_floor: %.0f verifications/s\n", N / t_sig);
    printf("apply_over_floor: %.2f x\n", t_cat / t_sig);
    mk_catalog_free(&cat);
    for (int i = 0; i < N; i++) {
        mk_buf_free(&wire[i]);
        mk_buf_free(&body[i]);
    }
    free(wire);
    free(body);
    free(sig);
    free(pk);
}

int main(int argc, char **argv) {
    int max = argc > 1 ? atoi(argv[1]) : 64;
    raise_nofile();
    apply_rate();
    for (int n = 8; n <= max; n *= 2)
        if (!convergence(n)) break;
    return 0;
}
