/*
 * bench_groups — commit throughput and latency of mosaik groups on
 * loopback (3 and 5 nodes; bonds without validators and with simulated-TDX
 * validation), beside canonical raft alone over plain TCP (raft_uv_tcp)
 * in the same program. Prints `name: value unit` lines.
 *
 * Method: one client issues COMMITS sequential commands (8-byte counter
 * increments) on the leader and times each until applied; commits/s is
 * COMMITS over the total. Raft alone runs its N servers on one libuv loop
 * with the same data-directory backend (raft_uv) and the same election
 * and heartbeat timeouts; mosaik runs each node's network and group loop
 * on threads of their own, as deployed. The TDX variant validates
 * simulated quotes at bond time only (steady-state commits are unchanged);
 * its cost shows in the time to form the group.
 *
 * In-flight mode (INFLIGHT = 64): INFLIGHT_SCALE x COMMITS commands (a
 * sequential run's count would be over in milliseconds) with 64 of them
 * outstanding at any time: raft alone keeps 64 raft_apply requests
 * in flight on its loop; mosaik runs 64 client threads, each issuing
 * blocking mk_group_apply calls until all are done. Latency is per
 * command, from its issue to its result.
 *
 * Usage: bench_groups [commits] [which]   (default 500, all)
 *   which: a substring of the runs to do: "raft", "groups", "tdx", "seq",
 *   "inflight", "3", "5" (e.g. "groups_3" or "inflight"); all by default.
 */
#include <ftw.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "mosaik/mosaik.h"
#include "mosaik/groups.h"

static unsigned COMMITS = 500;
#define INFLIGHT 64
#define INFLIGHT_SCALE 10

/* Commands of a run: COMMITS sequential, INFLIGHT_SCALE x as many in flight. */
static unsigned total_of(bool inflight) {
    return inflight ? COMMITS * INFLIGHT_SCALE : COMMITS;
}
static const char *WHICH = "";

/* Whether the run called name is wanted (WHICH empty or a substring). */
static bool wanted(const char *name) {
    return !WHICH[0] || strstr(name, WHICH) != NULL;
}

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, uint64_t *lat, unsigned n, uint64_t total_us) {
    qsort(lat, n, sizeof *lat, cmp_u64);
    printf("%s_commits_per_s: %.0f commits/s\n", name, n * 1e6 / (double)total_us);
    printf("%s_latency_p50: %.3f ms\n", name, lat[n / 2] / 1000.0);
    printf("%s_latency_p99: %.3f ms\n", name, lat[(n * 99) / 100] / 1000.0);
    fflush(stdout);
}

static int rm_cb(const char *p, const struct stat *sb, int f, struct FTW *w) {
    (void)sb;
    (void)f;
    (void)w;
    return remove(p);
}

static char *tmpdir(void) {
    char t[] = "/tmp/mk-bench-groups-XXXXXX";
    char *d = mkdtemp(t);
    return d ? strdup(d) : NULL;
}

/* ----- canonical raft alone over TCP ----------------------------------------------- */

typedef struct rnode {
    struct raft raft;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft_uv_transport tr;
    char *dir;
    char addr[32];
    uint64_t value;
} rnode;

typedef struct rbench rbench;
typedef struct rreq {
    struct raft_apply req;
    rbench *b;
    uint64_t t; /* when it was issued */
} rreq;

struct rbench {
    uv_loop_t loop;
    uv_timer_t timer;
    rnode *nodes;
    unsigned n, done, issued, closed, depth, total;
    rreq reqs[INFLIGHT];
    uint64_t t_start;
    uint64_t *lat;
    int leader;
    bool stopping;
    const char *name;
};

static int r_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result) {
    rnode *n = fsm->data;
    uint64_t d = 0;
    if (buf->len == 8) memcpy(&d, buf->base, 8);
    n->value += d;
    *result = NULL;
    return 0;
}

static int r_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
    rnode *n = fsm->data;
    *bufs = raft_malloc(sizeof **bufs);
    (*bufs)[0].base = raft_malloc(8);
    memcpy((*bufs)[0].base, &n->value, 8);
    (*bufs)[0].len = 8;
    *n_bufs = 1;
    return 0;
}

static int r_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
    rnode *n = fsm->data;
    if (buf->len == 8) memcpy(&n->value, buf->base, 8);
    raft_free(buf->base);
    return 0;
}

static void r_next(rbench *b, rreq *q);
static rbench *g_rb; /* the raft-alone run in progress (one at a time) */

static void r_closed(struct raft *r) {
    rnode *n = r->data;
    rbench *b = g_rb;
    raft_uv_close(&n->io);
    raft_uv_tcp_close(&n->tr);
    if (++b->closed == b->n) uv_close((uv_handle_t *)&b->timer, NULL);
}

static void r_stop(rbench *b) {
    if (b->stopping) return;
    b->stopping = true;
    uv_timer_stop(&b->timer);
    for (unsigned i = 0; i < b->n; i++) {
        b->nodes[i].raft.data = &b->nodes[i];
        raft_close(&b->nodes[i].raft, r_closed);
    }
}

/* raft_close is called from the loop, not from inside raft's own apply
 * callback: closing the nodes from there made libraft 0.15's raft_uv_tcp
 * stop a poll handle it was already closing (an assertion in libuv). */
static void r_stop_cb(uv_timer_t *t) {
    r_stop(t->data);
}

static void r_stop_later(rbench *b) {
    uv_timer_stop(&b->timer);
    uv_timer_start(&b->timer, r_stop_cb, 0, 0);
}

static void r_applied(struct raft_apply *req, int status, void *result) {
    (void)result;
    rreq *q = req->data;
    rbench *b = q->b;
    if (b->stopping) return;
    if (status != 0) {
        fprintf(stderr, "raft apply: %s\n", raft_strerror(status));
        r_stop_later(b);
        return;
    }
    b->lat[b->done++] = now_us() - q->t;
    if (b->done == b->total) {
        report(b->name, b->lat, b->total, now_us() - b->t_start);
        r_stop_later(b);
        return;
    }
    if (b->issued < b->total) r_next(b, q);
}

/* Issue the next command on slot q. */
static void r_next(rbench *b, rreq *q) {
    struct raft_buffer buf = {raft_malloc(8), 8};
    uint64_t one = 1;
    memcpy(buf.base, &one, 8);
    q->b = b;
    q->req.data = q;
    q->t = now_us();
    b->issued++;
    int rc = raft_apply(&b->nodes[b->leader].raft, &q->req, &buf, 1, r_applied);
    if (rc != 0) {
        raft_free(buf.base);
        fprintf(stderr, "raft_apply: %s\n", raft_strerror(rc));
        r_stop_later(b);
    }
}

static void r_poll(uv_timer_t *t) {
    rbench *b = t->data;
    if (b->leader >= 0) return;
    for (unsigned i = 0; i < b->n; i++)
        if (raft_state(&b->nodes[i].raft) == RAFT_LEADER) {
            b->leader = (int)i;
            uv_timer_stop(t);
            b->t_start = now_us();
            for (unsigned k = 0; k < b->depth && !b->stopping; k++)
                r_next(b, &b->reqs[k]);
            return;
        }
}

static int bench_raft_tcp(unsigned n, unsigned depth) {
    char name[64];
    snprintf(name, sizeof name, "raft_tcp_%s%u", depth > 1 ? "inflight_" : "", n);
    if (!wanted(name)) return 0;
    rbench b;
    memset(&b, 0, sizeof b);
    b.n = n;
    b.depth = depth;
    b.name = name;
    b.leader = -1;
    g_rb = &b;
    b.nodes = calloc(n, sizeof *b.nodes);
    b.total = total_of(depth > 1);
    b.lat = calloc(b.total, sizeof *b.lat);
    uv_loop_init(&b.loop);
    uv_timer_init(&b.loop, &b.timer);
    b.timer.data = &b;
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    unsigned base = 20000 + (unsigned)(getpid() % 20000);
    for (unsigned i = 0; i < n; i++) {
        snprintf(b.nodes[i].addr, sizeof b.nodes[i].addr, "127.0.0.1:%u", base + i);
        raft_configuration_add(&conf, i + 1, b.nodes[i].addr, RAFT_VOTER);
    }
    int rc = 0;
    const char *step = "";
    for (unsigned i = 0; i < n && rc == 0; i++) {
        rnode *x = &b.nodes[i];
        x->dir = tmpdir();
        x->fsm = (struct raft_fsm){.version = 1,
                                   .data = x,
                                   .apply = r_apply,
                                   .snapshot = r_snapshot,
                                   .restore = r_restore};
        step = "raft_uv_tcp_init";
        rc = raft_uv_tcp_init(&x->tr, &b.loop);
        if (rc == 0) step = "raft_uv_init", rc = raft_uv_init(&x->io, &b.loop, x->dir, &x->tr);
        if (rc == 0) step = "raft_init", rc = raft_init(&x->raft, &x->io, &x->fsm, i + 1, x->addr);
        if (rc == 0) {
            raft_set_election_timeout(&x->raft, 300);
            raft_set_heartbeat_timeout(&x->raft, 50);
            step = "raft_bootstrap";
            rc = raft_bootstrap(&x->raft, &conf);
        }
        if (rc == 0) step = "raft_start", rc = raft_start(&x->raft);
    }
    raft_configuration_close(&conf);
    if (rc != 0) {
        /* raft_uv_init probes the directory (and kernel AIO: fs.aio-nr
         * against fs.aio-max-nr); raft_start binds 127.0.0.1:base+i. */
        printf("raft_tcp_%u: setup failed in %s: %s (ports from %u)\n", n, step, raft_strerror(rc),
               base);
        return 1;
    }
    uv_timer_start(&b.timer, r_poll, 10, 10);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    uv_loop_close(&b.loop);
    for (unsigned i = 0; i < n; i++) {
        nftw(b.nodes[i].dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        free(b.nodes[i].dir);
    }
    free(b.nodes);
    free(b.lat);
    return b.done == b.total ? 0 : 1;
}

/* ----- mosaik groups ---------------------------------------------------------------- */

static int c_apply(void *st, const uint8_t *cmd, size_t len, mk_buf *res) {
    (void)cmd;
    (void)len;
    (*(uint64_t *)st)++;
    return mk_buf_append_u8(res, 1);
}
static int c_query(void *st, const uint8_t *q, size_t len, mk_buf *res) {
    (void)q;
    (void)len;
    return mk_buf_append_u64be(res, *(uint64_t *)st);
}
static int c_snap(void *st, mk_buf *out) {
    return mk_buf_append_u64be(out, *(uint64_t *)st);
}
static int c_restore(void *st, const uint8_t *d, size_t len) {
    mk_reader r;
    mk_reader_init(&r, d, len);
    return mk_read_u64be(&r, (uint64_t *)st);
}

typedef struct tdx_ctx {
    mk_tdx_sim *sim;
    mk_tdx_collateral *coll;
    mk_tdx_provider *prov;
    mk_tdx_attester *att;
    mk_validator_set vs;
} tdx_ctx;

static int tdx_setup(tdx_ctx *t) {
    mk_error err;
    int64_t now = mk_now();
    if (mk_tdx_sim_new(&(mk_tdx_sim_config){.now = now}, &t->sim, &err) < 0 ||
        mk_tdx_sim_collateral(t->sim, now, &t->coll, &err) < 0)
        return -1;
    mk_tdx_sim_td td;
    mk_tdx_sim_td_default(&td);
    if (mk_tdx_provider_sim_new(t->sim, &td, &t->prov, &err) < 0 ||
        mk_tdx_attester_new(&(mk_tdx_attester_config){.provider = t->prov, .collateral = t->coll},
                            &t->att, &err) < 0)
        return -1;
    const uint8_t *root;
    size_t rl;
    mk_tdx_sim_root_der(t->sim, &root, &rl);
    mk_tdx_validator_opts *o = mk_tdx_validator_opts_new();
    mk_tdx_validator_opts_trust_simulator(o, root, rl, &err);
    mk_tdx_criteria_require_mrtd(mk_tdx_validator_opts_baseline(o), td.mr_td);
    mk_validator *v = mk_tdx_validator_new(o, &err);
    mk_tdx_validator_opts_free(o);
    if (!v) return -1;
    mk_validator_set_init(&t->vs);
    return mk_validator_set_add(&t->vs, v);
}

static void tdx_free(tdx_ctx *t) {
    mk_validator_set_free(&t->vs);
    mk_tdx_attester_free(t->att);
    mk_tdx_provider_free(t->prov);
    mk_tdx_collateral_free(t->coll);
    mk_tdx_sim_free(t->sim);
}

/* The in-flight mode's clients: each takes the next command number until
 * all are taken, and applies it (blocking). */
typedef struct gclients {
    mk_group *g;
    pthread_mutex_t mu;
    unsigned next, total;
    uint64_t *lat;
    int rc;
} gclients;

static void *g_client(void *arg) {
    gclients *c = arg;
    uint8_t cmd[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    for (;;) {
        pthread_mutex_lock(&c->mu);
        unsigned k = c->rc == 0 && c->next < c->total ? c->next++ : c->total;
        pthread_mutex_unlock(&c->mu);
        if (k == c->total) return NULL;
        mk_error err;
        uint64_t t = now_us();
        int rc = mk_group_apply(c->g, cmd, sizeof cmd, NULL, 10000, &err);
        c->lat[k] = now_us() - t;
        if (rc != 0) {
            fprintf(stderr, "mk_group_apply: %s\n", err.msg);
            pthread_mutex_lock(&c->mu);
            c->rc = rc;
            pthread_mutex_unlock(&c->mu);
        }
    }
}

/* total commands on g, INFLIGHT at a time: 0 or the first failure. */
static int run_inflight(mk_group *g, uint64_t *lat, unsigned total) {
    gclients c = {.g = g, .lat = lat, .total = total};
    pthread_mutex_init(&c.mu, NULL);
    pthread_t th[INFLIGHT];
    unsigned started = 0;
    for (; started < INFLIGHT; started++)
        if (pthread_create(&th[started], NULL, g_client, &c) != 0) break;
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&c.mu);
    return started == 0 ? -1 : c.rc;
}

static int bench_groups(unsigned n, tdx_ctx *tdx, bool inflight) {
    char name[64];
    snprintf(name, sizeof name, "groups_%s%s%u", tdx ? "tdx_" : "", inflight ? "inflight_" : "", n);
    if (!wanted(name)) return 0;
    mk_network **nw = calloc(n, sizeof *nw);
    mk_group **g = calloc(n, sizeof *g);
    uint64_t *st = calloc(n, sizeof *st), *lat = calloc(total_of(inflight), sizeof *lat);
    char **dirs = calloc(n, sizeof *dirs);
    mk_error err;
    int rc = 0;
    char bs[200];
    const char *bl[1] = {bs};
    for (unsigned i = 0; i < n && rc == 0; i++) {
        mk_network_config c;
        mk_network_config_init(&c);
        c.network = "bench-groups";
        c.announce_ms = 300;
        c.sync_ms = 300;
        if (i > 0) {
            mk_id id;
            char hex[MK_ID_HEX_LEN], addr[MK_TRANSPORT_ADDR_MAX + 1];
            mk_network_peer_id(nw[0], &id);
            mk_id_to_hex(&id, hex);
            mk_network_listen_addr(nw[0], addr, sizeof addr);
            snprintf(bs, sizeof bs, "%s@%s", hex, addr);
            c.bootstrap = bl;
            c.n_bootstrap = 1;
        }
        rc = mk_network_new(&c, &nw[i], &err);
        if (rc == 0 && tdx) {
            mk_id pid, nid;
            mk_network_peer_id(nw[i], &pid);
            mk_network_id(nw[i], &nid);
            mk_peer_entry e;
            mk_network_local_entry(nw[i], &e);
            mk_ticket_sink sink = {mk_network_sink_add_ticket, nw[i]};
            rc = mk_tdx_attester_install_own_ticket(tdx->att, &pid, &nid, e.started_at, &sink, NULL,
                                                    &err);
            mk_peer_entry_free(&e);
        }
    }
    uint64_t t_form = now_us();
    for (unsigned i = 0; i < n && rc == 0; i++) {
        mk_group_config gc;
        mk_group_config_init(&gc);
        if (tdx) {
            mk_group_key_from_validators(&tdx->vs, &gc.key);
            gc.validators = &tdx->vs;
        } else {
            mk_id_from_name(&gc.key, "bench-key");
        }
        mk_id_from_name(&gc.sm_signature, "bench.counter");
        mk_group_sm sm = {c_apply, c_query, c_snap, c_restore, &st[i]};
        gc.sm = &sm;
        dirs[i] = tmpdir();
        gc.data_dir = dirs[i];
        gc.bootstrap = i == 0;
        gc.election_ms = 300;
        gc.heartbeat_ms = 50;
        gc.tick_ms = 50;
        rc = mk_group_new(nw[i], &gc, &g[i], &err);
    }
    if (rc == 0 && mk_group_wait(g[0], MK_GROUP_MEMBERS, n, 30000) < 0) rc = -1;
    mk_group_status s;
    for (int tries = 0; rc == 0 && tries < 3000; tries++) {
        mk_group_status_get(g[0], &s);
        if (s.voters == n) break;
        usleep(10000);
    }
    if (rc == 0) {
        printf("%s_form_group: %.1f ms\n", name, (now_us() - t_form) / 1000.0);
        uint64_t t0 = now_us();
        uint8_t cmd[8] = {0, 0, 0, 0, 0, 0, 0, 1};
        if (inflight) {
            rc = run_inflight(g[0], lat, total_of(true));
            if (rc != 0) snprintf(err.msg, sizeof err.msg, "a client failed");
        }
        for (unsigned k = 0; !inflight && k < COMMITS && rc == 0; k++) {
            uint64_t t = now_us();
            rc = mk_group_apply(g[0], cmd, sizeof cmd, NULL, 10000, &err);
            lat[k] = now_us() - t;
        }
        if (rc == 0) report(name, lat, total_of(inflight), now_us() - t0);
    }
    if (rc != 0) fprintf(stderr, "%s: failed (%d): %s\n", name, rc, err.msg);
    for (unsigned i = 0; i < n; i++) {
        mk_group_free(g[i]);
        mk_network_free(nw[i]);
        if (dirs[i]) {
            nftw(dirs[i], rm_cb, 16, FTW_DEPTH | FTW_PHYS);
            free(dirs[i]);
        }
    }
    free(nw);
    free(g);
    free(st);
    free(lat);
    free(dirs);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc > 1) COMMITS = (unsigned)atoi(argv[1]);
    if (COMMITS < 10) COMMITS = 10;
    if (argc > 2) WHICH = argv[2];
    printf("commits: %u sequential, %u with %u in flight\n", COMMITS, total_of(true), INFLIGHT);
    int bad = 0;
    for (unsigned depth = 1; depth <= INFLIGHT; depth *= INFLIGHT) {
        bad |= bench_raft_tcp(3, depth);
        bad |= bench_raft_tcp(5, depth);
        bad |= bench_groups(3, NULL, depth > 1);
        bad |= bench_groups(5, NULL, depth > 1);
    }
#if MOSAIK_HAVE_TDX
    if (wanted("groups_tdx_3") || wanted("groups_tdx_5")) {
        tdx_ctx t;
        memset(&t, 0, sizeof t);
        if (tdx_setup(&t) == 0) {
            bad |= bench_groups(3, &t, false);
            bad |= bench_groups(5, &t, false);
        } else {
            fprintf(stderr, "TDX simulator setup failed\n");
            bad = 1;
        }
        tdx_free(&t);
    }
#endif
    return bad;
}
