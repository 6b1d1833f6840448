/*
 * bench/bench_discovery.c — how fast discovery converges, pushes a change
 * and applies entries, and what a node and a known peer cost in memory.
 *
 * 1. Entries applied per second: signed entries offered to a catalog
 *    (decode, canonical-form check, Ed25519 signature, network, drift and
 *    version rules, insert), beside the named peer: the bare Ed25519
 *    verifications of the same entries with OpenSSL, which no catalog can
 *    skip.
 * 2. Memory of an idle node: the resident set (/proc/self/statm) grown by
 *    IDLE_NODES nodes that know nobody, per node.
 * 3. Convergence versus node count: N nodes (8, 16, ... MAX_NODES) in one
 *    process, each on its own I/O thread on loopback, bootstrapped in a
 *    chain with shortcuts (every 4th node boots from node 0). Reported: the
 *    time from the first node's creation until every node holds every
 *    other's entry (and the CPU time that took, beside the floor: the
 *    n(n-1) entry signatures checked at the rate measured in 1.); then,
 *    SETTLE_MS after convergence, the time for one node's entry
 *    change (a new tag) to reach all others (the latest acceptance, seen by
 *    a hook on each node), the most gossip hops it travelled, how many
 *    reached it by push (hops > 0) rather than by an anti-entropy round,
 *    and the announce frames sent meanwhile by all nodes (messages per
 *    change, and per node; the heartbeat is 30 s so that it stays out of
 *    the window). At 16, 64 and 256 nodes also the resident set per known
 *    peer: (the growth of RSS since before the nodes - N idle nodes) /
 *    (N (N - 1)), i.e. a catalog record, its connection share and the
 *    rest, per peer known by each node.
 *
 * The soft RLIMIT_NOFILE is raised to the hard limit first (each node holds
 * a few descriptors, two more per connection); a node that cannot be
 * created ends the series with the reason (the limit it hit).
 *
 * usage: bench_discovery [MAX_NODES] [--only N]
 * BENCH_TRACE=1 also prints, every 250 ms while converging, how many
 * (node, peer) pairs are still missing.
 */
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <mosaik/mosaik.h>

#include "discovery/disc_internal.h"

#define IDLE_NODES 16
#define CHANGE_WAIT_MS 30000
#define SETTLE_MS 1000

static double idle_node_kib; /* RSS of one idle node (2.) */
static double verify_per_s;  /* bare Ed25519 verifications per second (1.) */

static void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Resident set, KiB, after handing freed memory back. */
static double rss_kib(void) {
    malloc_trim(0);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return (double)res * (double)sysconf(_SC_PAGESIZE) / 1024.0;
}

/* CPU time of the process (all threads), ms. */
static double cpu_ms(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static mk_network *node_new(mk_network *boot) {
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = "bench-discovery";
    cfg.announce_ms = 30000;
    cfg.sync_ms = 1000;
    cfg.purge_after_ms = 120000;
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

/* Raise the soft descriptor limit to the hard one: say what it is. */
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

static void free_nodes(mk_network **nodes, int n) {
    for (int i = 0; i < n; i++)
        mk_network_free(nodes[i]);
    free(nodes);
}

static void drain(mk_network *nw) {
    mk_network_event ev;
    while (mk_network_next_event(nw, 0, &ev) == 0)
        mk_network_event_free(&ev);
}

/* ----- the change, seen by a hook on every node --------------------------------- */

typedef struct change_watch {
    mk_id src, tag;
    atomic_int remaining, by_push;
    atomic_uint max_hops;
    atomic_ullong last_ms;
    atomic_bool *got;       /* per node */
    atomic_int per_hops[9]; /* nodes reached at 0..7 hops, and beyond */
} change_watch;

typedef struct watch_slot {
    change_watch *w;
    int i;
} watch_slot;

static void on_change(mk_network *nw, const mk_network_event *ev, void *ctx) {
    (void)nw;
    watch_slot *s = ctx;
    change_watch *w = s->w;
    if (ev->type != MK_EVENT_UPDATED || !mk_id_eq(&ev->peer_id, &w->src) ||
        !mk_peer_entry_has_tag(&ev->entry, &w->tag) || atomic_exchange(&w->got[s->i], true))
        return;
    unsigned h = atomic_load(&w->max_hops);
    while (ev->hops > h && !atomic_compare_exchange_weak(&w->max_hops, &h, ev->hops)) {
    }
    unsigned long long t = atomic_load(&w->last_ms);
    while (ev->at_ms > t && !atomic_compare_exchange_weak(&w->last_ms, &t, ev->at_ms)) {
    }
    if (ev->hops > 0) atomic_fetch_add(&w->by_push, 1);
    atomic_fetch_add(&w->per_hops[ev->hops < 8 ? ev->hops : 8], 1);
    atomic_fetch_sub(&w->remaining, 1);
}

static uint64_t sum_announces(mk_network **nodes, int n) {
    uint64_t s = 0;
    for (int i = 0; i < n; i++) {
        mk_network_metrics m;
        mk_network_metrics_get(nodes[i], &m);
        s += m.announces_sent;
    }
    return s;
}

/* One tag added on node 0; false when it did not reach everyone. */
static bool change(mk_network **nodes, int n) {
    change_watch w;
    memset(&w, 0, sizeof w);
    mk_id_from_name(&w.tag, "bench-changed");
    mk_network_peer_id(nodes[0], &w.src);
    atomic_init(&w.remaining, n - 1);
    w.got = calloc((size_t)n, sizeof *w.got);
    watch_slot *slots = calloc((size_t)n, sizeof *slots);
    mk_error err;
    for (int i = 1; i < n; i++) {
        slots[i] = (watch_slot){&w, i};
        mk_network_add_hook(nodes[i], on_change, &slots[i], &err);
    }
    uint64_t sent0 = sum_announces(nodes, n);
    uint64_t t1 = mk_mono_ms();
    mk_network_add_tag(nodes[0], &w.tag, &err);
    while (atomic_load(&w.remaining) > 0 && mk_mono_ms() - t1 < CHANGE_WAIT_MS)
        sleep_ms(1);
    sleep_ms(200); /* the last forwards still under way are counted */
    uint64_t msgs = sum_announces(nodes, n) - sent0;
    for (int i = 1; i < n; i++)
        mk_network_remove_hook(nodes[i], on_change, &slots[i]);
    int remaining = atomic_load(&w.remaining);
    if (remaining == 0) {
        unsigned long long last = atomic_load(&w.last_ms);
        printf("discovery_change_%d_nodes: %llu ms\n", n, last > t1 ? last - t1 : 0);
        printf("discovery_change_%d_nodes_max_hops: %u hops\n", n, atomic_load(&w.max_hops));
        printf("discovery_change_%d_nodes_by_push: %d nodes (of %d)\n", n, atomic_load(&w.by_push),
               n - 1);
        printf("discovery_change_%d_nodes_hops: nodes reached at 1, 2, ... hops:", n);
        for (int h = 1; h < 9; h++)
            printf(" %d", atomic_load(&w.per_hops[h]));
        printf("\n");
        printf("discovery_change_%d_nodes_msgs: %llu announces\n", n, (unsigned long long)msgs);
        printf("discovery_change_%d_nodes_msgs_per_node: %.1f announces\n", n,
               (double)msgs / (double)n);
    } else {
        printf("discovery_change_%d_nodes: %d nodes missing the change after %d ms\n", n, remaining,
               CHANGE_WAIT_MS);
    }
    free(slots);
    free(w.got);
    return remaining == 0;
}

/* ----- convergence ------------------------------------------------------------------ */

/* What converging cost, summed over the nodes. */
static void cost(mk_network **nodes, int n) {
    mk_network_metrics t, m;
    memset(&t, 0, sizeof t);
    for (int i = 0; i < n; i++) {
        mk_network_metrics_get(nodes[i], &m);
        t.announces_sent += m.announces_sent;
        t.entries_accepted += m.entries_accepted;
        t.refused[MK_REFUSE_OLD_VERSION] += m.refused[MK_REFUSE_OLD_VERSION];
        t.syncs_started += m.syncs_started;
        t.sync_entries_sent += m.sync_entries_sent;
        t.dials_failed += m.dials_failed;
        t.dials_dropped += m.dials_dropped;
        t.net.conns_outbound += m.net.conns_outbound;
        t.net.conns_open += m.net.conns_open;
        t.net.frames_in += m.net.frames_in;
    }
    printf("discovery_converge_%d_nodes_conns: %llu connections made (%llu ends open), "
           "%llu dials failed, %llu dropped\n",
           n, (unsigned long long)t.net.conns_outbound, (unsigned long long)t.net.conns_open,
           (unsigned long long)t.dials_failed, (unsigned long long)t.dials_dropped);
    printf("discovery_converge_%d_nodes_frames: %llu frames received: %llu announces, %llu syncs "
           "(%llu entries), %llu accepted, %llu duplicates\n",
           n, (unsigned long long)t.net.frames_in, (unsigned long long)t.announces_sent,
           (unsigned long long)t.syncs_started, (unsigned long long)t.sync_entries_sent,
           (unsigned long long)t.entries_accepted,
           (unsigned long long)t.refused[MK_REFUSE_OLD_VERSION]);
}

/* false when the nodes could not be created (said why). */
static bool convergence(int n) {
    double rss0 = rss_kib(), cpu0 = cpu_ms();
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
    printf("discovery_create_%d_nodes: %llu ms (creating them, within the convergence time)\n", n,
           (unsigned long long)(mk_mono_ms() - t0));
    bool done = false;
    while (!done && mk_mono_ms() - t0 < 120000) {
        done = true;
        for (int i = 0; i < n && done; i++)
            if (mk_network_peer_count(nodes[i]) != (size_t)n - 1) done = false;
        if (!done) sleep_ms(5);
        if (getenv("BENCH_TRACE") && (mk_mono_ms() - t0) % 250 < 6) {
            size_t miss = 0;
            for (int i = 0; i < n; i++)
                miss += (size_t)n - 1 - mk_network_peer_count(nodes[i]);
            printf("trace %llu ms: %zu pairs missing\n", (unsigned long long)(mk_mono_ms() - t0),
                   miss);
        }
    }
    uint64_t conv = mk_mono_ms() - t0;
    double cpu = cpu_ms() - cpu0;
    for (int i = 0; i < n; i++)
        drain(nodes[i]);
    if (done) {
        printf("discovery_converge_%d_nodes: %llu ms\n", n, (unsigned long long)conv);
        printf("discovery_converge_%d_nodes_cpu: %.0f ms (CPU time of all nodes, creation "
               "included)\n",
               n, cpu);
        if (verify_per_s > 0)
            printf("discovery_converge_%d_nodes_verify_floor: %.0f ms (CPU: the n(n-1) entry "
                   "signatures every node must check, at the measured rate)\n",
                   n, (double)n * (n - 1) / verify_per_s * 1e3);
    } else
        printf("discovery_converge_%d_nodes: not converged after %llu ms\n", n,
               (unsigned long long)conv);
    cost(nodes, n);
    if (done && (n == 16 || n == 64 || n == 256)) {
        double per = (rss_kib() - rss0 - n * idle_node_kib) / ((double)n * (n - 1));
        printf("discovery_rss_per_peer_%d: %.1f KiB (each of %d nodes knowing %d peers)\n", n, per,
               n, n - 1);
    }
    if (done) {
        sleep_ms(SETTLE_MS); /* the change goes through a network at rest */
        change(nodes, n);
    }
    fflush(stdout);
    free_nodes(nodes, n);
    return true;
}

/* ----- memory of an idle node -------------------------------------------------------- */

static void idle_rss(void) {
    mk_network *nodes[IDLE_NODES];
    double rss0 = rss_kib();
    for (int i = 0; i < IDLE_NODES; i++)
        if (!(nodes[i] = node_new(NULL))) {
            for (int j = 0; j < i; j++)
                mk_network_free(nodes[j]);
            return;
        }
    sleep_ms(100);
    idle_node_kib = (rss_kib() - rss0) / IDLE_NODES;
    printf("discovery_rss_idle_node: %.1f KiB (resident, per node, %d nodes knowing nobody)\n",
           idle_node_kib, IDLE_NODES);
    for (int i = 0; i < IDLE_NODES; i++)
        mk_network_free(nodes[i]);
}

/* ----- entries applied ----------------------------------------------------------------- */

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
    verify_per_s = N / t_sig;
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
    int max = argc > 1 ? atoi(argv[1]) : 64, only = 0;
    if (argc > 3 && !strcmp(argv[2], "--only")) only = atoi(argv[3]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    raise_nofile();
    apply_rate();
    idle_rss();
    for (int n = only ? only : 8; n <= (only ? only : max); n *= 2)
        if (!convergence(n)) break;
    return 0;
}
