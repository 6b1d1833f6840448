/*
 * hist_node — one member of the checked-history test (run_history.py):
 * a process that opens a Map and a Cell on a network of real processes
 * and runs concurrent clients against them, recording every operation
 * (invoke, then ok / fail / info) with CLOCK_MONOTONIC timestamps, which
 * are comparable across the processes of one host.
 *
 *   hist_node --print-id SEED                print the peer id of a seed byte
 *   hist_node --seed S --listen IP:PORT --peer HEX@IP:PORT... --dir DIR
 *             --hist FILE --status FILE --inc N [--bootstrap]
 *             [--map-clients K] [--cell-clients K] [--keys K]
 *
 * History lines (one write(2) each, O_APPEND):
 *   <t_ns> invoke <proc> <obj> <f> <key> <value>
 *   <t_ns> ok|fail|info <proc> <obj> <f> <key> <output> <version>
 * obj map|cell|mapver|cellver; f put|get|remove|set|read; '-' for none;
 * a get's output is the value or "nil", a remove's 0/1 (existed), a
 * version read's output the version. Every written value is unique
 * (n<node>.<incarnation>.<thread>.<n>), so a duplicate application is
 * observable. A write that fails in any way is recorded as info (it may
 * have taken effect); a failed read as fail (it had none). A client whose
 * operation ended in info continues as a new process (proc gets a new
 * generation), as the checker's model of crashed processes requires.
 *
 * Signals (handled on one thread by sigwait; every other thread, mosaik's
 * included, has them blocked): SIGUSR1 stops the clients and runs the
 * final reads (every key, the cell, both versions, strong, retried until
 * they succeed), then writes "final" into the status file; without
 * network namespaces, partitions go through the groups' partition hook,
 * on both sides (a one-sided cut does not model a partition): SIGUSR2
 * toggles this node's cut from every peer, SIGRTMIN + j its cut from the
 * node of seed j; SIGTERM exits. The status file (rewritten every 100 ms)
 * says which groups this node leads: "<map leader> <cell leader> <final>
 * <map duplicates> <cell duplicates>".
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "groups/groups_internal.h"
#include "mosaik/collections.h"
#include "mosaik/mosaik.h"

#define MAX_PEERS 8
#define MAX_CLIENTS 16

static struct {
    int seed, inc, keys, map_clients, cell_clients;
    bool bootstrap;
    const char *listen, *dir, *hist, *status;
    const char *peers[MAX_PEERS];
    int n_peers;
} opt = {.keys = 8, .map_clients = 2, .cell_clients = 1};

static int hist_fd = -1;
static mk_collection *map_c, *cell_c;
static atomic_bool stop_clients, final_done;
static mk_id peer_ids[MAX_PEERS];
static bool isolated, cut_from[MAX_PEERS + 1]; /* signal thread only */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...) {
    char line[512];
    int n = snprintf(line, sizeof line, "%llu ", (unsigned long long)now_ns());
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(hist_fd, line, (size_t)n);
    (void)w;
}

/* ----- clients ----------------------------------------------------------------- */

typedef struct client {
    int t;
    bool cell;
    unsigned gen;
    uint64_t n;
    unsigned rnd;
} client;

static void proc_name(const client *c, char *out, size_t n) {
    snprintf(out, n, "n%di%dt%dg%u", opt.seed, opt.inc, c->t, c->gen);
}

/* One Map operation. */
static void map_op(client *c) {
    char proc[64], key[16], val[64];
    proc_name(c, proc, sizeof proc);
    snprintf(key, sizeof key, "k%u", (unsigned)(rand_r(&c->rnd) % (unsigned)opt.keys));
    unsigned r = rand_r(&c->rnd) % 100;
    mk_error err;
    mk_error_clear(&err);
    uint64_t ver = 0;
    if (r < 45) {
        snprintf(val, sizeof val, "n%d.%d.%d.%llu", opt.seed, opt.inc, c->t,
                 (unsigned long long)++c->n);
        record("invoke %s map put %s %s", proc, key, val);
        int rc = mk_map_put(map_c, key, strlen(key), val, strlen(val), &ver, 10000, &err);
        if (rc == 0) {
            record("ok %s map put %s - %llu", proc, key, (unsigned long long)ver);
        } else {
            record("info %s map put %s - -", proc, key);
            c->gen++;
        }
    } else if (r < 55) {
        bool existed = false;
        record("invoke %s map remove %s -", proc, key);
        int rc = mk_map_remove(map_c, key, strlen(key), &existed, &ver, 10000, &err);
        if (rc == 0) {
            record("ok %s map remove %s %d %llu", proc, key, existed ? 1 : 0,
                   (unsigned long long)ver);
        } else {
            record("info %s map remove %s - -", proc, key);
            c->gen++;
        }
    } else {
        mk_buf v = MK_BUF_INIT;
        record("invoke %s map get %s -", proc, key);
        int rc = mk_map_get(map_c, MK_GROUP_STRONG, key, strlen(key), &v, 10000, &err);
        if (rc == 0)
            record("ok %s map get %s %.*s -", proc, key, (int)v.len, (const char *)v.data);
        else if (rc == MK_ENOTFOUND)
            record("ok %s map get %s nil -", proc, key);
        else
            record("fail %s map get %s - -", proc, key);
        mk_buf_free(&v);
    }
}

/* One Cell operation. */
static void cell_op(client *c) {
    char proc[64], val[64];
    proc_name(c, proc, sizeof proc);
    mk_error err;
    mk_error_clear(&err);
    if (rand_r(&c->rnd) % 2) {
        uint64_t ver = 0;
        snprintf(val, sizeof val, "n%d.%d.%d.%llu", opt.seed, opt.inc, c->t,
                 (unsigned long long)++c->n);
        record("invoke %s cell set - %s", proc, val);
        if (mk_cell_set(cell_c, val, strlen(val), &ver, 10000, &err) == 0) {
            record("ok %s cell set - - %llu", proc, (unsigned long long)ver);
        } else {
            record("info %s cell set - - -", proc);
            c->gen++;
        }
    } else {
        mk_buf v = MK_BUF_INIT;
        record("invoke %s cell get - -", proc);
        int rc = mk_cell_get(cell_c, MK_GROUP_STRONG, &v, 10000, &err);
        if (rc == 0)
            record("ok %s cell get - %.*s -", proc, (int)v.len, (const char *)v.data);
        else if (rc == MK_ENOTFOUND)
            record("ok %s cell get - nil -", proc);
        else
            record("fail %s cell get - - -", proc);
        mk_buf_free(&v);
    }
}

static void *client_main(void *arg) {
    client *c = arg;
    while (!atomic_load(&stop_clients)) {
        if (c->cell)
            cell_op(c);
        else
            map_op(c);
        struct timespec ts = {0, (long)(5 + rand_r(&c->rnd) % 20) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ----- the final reads ------------------------------------------------------------ */

static uint64_t version_of(mk_collection *c, int *rc) {
    uint8_t op = 2; /* MK_CQ_VERSION, strong: through the leader */
    mk_buf q = MK_BUF_INIT;
    uint64_t v = 0;
    *rc = mk_group_query(mk_collection_group(c), MK_GROUP_STRONG, &op, 1, &q, 5000, NULL);
    if (*rc == 0 && q.len == 8)
        for (int i = 0; i < 8; i++)
            v = (v << 8) | q.data[i];
    else if (*rc == 0)
        *rc = MK_EMALFORMED;
    mk_buf_free(&q);
    return v;
}

/* Retry one final read until it succeeds (each attempt recorded). */
static void final_read(const char *proc, const char *obj, const char *key) {
    for (int attempt = 0; attempt < 60; attempt++) {
        mk_buf v = MK_BUF_INIT;
        int rc;
        record("invoke %s %s %s %s -", proc, obj,
               strcmp(obj, "mapver") && strcmp(obj, "cellver") ? "get" : "read", key);
        if (!strcmp(obj, "map")) {
            rc = mk_map_get(map_c, MK_GROUP_STRONG, key, strlen(key), &v, 5000, NULL);
        } else if (!strcmp(obj, "cell")) {
            rc = mk_cell_get(cell_c, MK_GROUP_STRONG, &v, 5000, NULL);
        } else {
            uint64_t ver = version_of(!strcmp(obj, "mapver") ? map_c : cell_c, &rc);
            if (rc == 0) {
                record("ok %s %s read - %llu -", proc, obj, (unsigned long long)ver);
                return;
            }
        }
        const char *f = strcmp(obj, "mapver") && strcmp(obj, "cellver") ? "get" : "read";
        if (rc == 0) {
            record("ok %s %s %s %s %.*s -", proc, obj, f, key, (int)v.len, (const char *)v.data);
        } else if (rc == MK_ENOTFOUND) {
            record("ok %s %s %s %s nil -", proc, obj, f, key);
        } else {
            record("fail %s %s %s %s - -", proc, obj, f, key);
            mk_buf_free(&v);
            sleep(1);
            continue;
        }
        mk_buf_free(&v);
        return;
    }
}

static void final_phase(void) {
    char proc[64], key[16];
    snprintf(proc, sizeof proc, "n%di%dfinal", opt.seed, opt.inc);
    for (int k = 0; k < opt.keys; k++) {
        snprintf(key, sizeof key, "k%d", k);
        final_read(proc, "map", key);
    }
    final_read(proc, "cell", "-");
    final_read(proc, "mapver", "-");
    final_read(proc, "cellver", "-");
}

/* ----- status, signals ------------------------------------------------------------ */

static void write_status(void) {
    mk_group_status ms, cs;
    mk_group_status_get(mk_collection_group(map_c), &ms);
    mk_group_status_get(mk_collection_group(cell_c), &cs);
    char tmp[4200], line[128];
    snprintf(tmp, sizeof tmp, "%s.tmp", opt.status);
    int n = snprintf(line, sizeof line, "%d %d %d %llu %llu\n", ms.is_leader, cs.is_leader,
                     atomic_load(&final_done) ? 1 : 0, (unsigned long long)ms.duplicates,
                     (unsigned long long)cs.duplicates);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    ssize_t w = write(fd, line, (size_t)n);
    (void)w;
    close(fd);
    rename(tmp, opt.status);
}

static void key_of(int seed, mk_ed25519_key *k);

static void cut(const mk_id *peer, bool on) {
    mk_group_partition(mk_collection_group(map_c), peer, on);
    mk_group_partition(mk_collection_group(cell_c), peer, on);
}

static void *signal_main(void *arg) {
    sigset_t *set = arg;
    for (;;) {
        int sig;
        if (sigwait(set, &sig) != 0) continue;
        if (sig == SIGUSR1) {
            atomic_store(&stop_clients, true);
        } else if (sig == SIGUSR2) {
            isolated = !isolated;
            for (int p = 0; p < opt.n_peers; p++)
                cut(&peer_ids[p], isolated);
        } else if (sig >= SIGRTMIN && sig <= SIGRTMIN + MAX_PEERS) {
            int j = sig - SIGRTMIN;
            mk_ed25519_key k;
            key_of(j, &k);
            mk_id id;
            memcpy(id.b, k.public_key, 32);
            cut_from[j] = !cut_from[j];
            cut(&id, cut_from[j]);
        } else if (sig == SIGTERM) {
            _exit(0);
        }
    }
    return NULL;
}

/* ----- setup ------------------------------------------------------------------------ */

static void key_of(int seed, mk_ed25519_key *k) {
    uint8_t s[32];
    memset(s, 0x60 + seed, sizeof s);
    mk_ed25519_from_secret(s, k);
}

static int parse(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--bootstrap")) {
            opt.bootstrap = true;
            continue;
        }
        if (!v) return -1;
        i++;
        if (!strcmp(a, "--seed"))
            opt.seed = atoi(v);
        else if (!strcmp(a, "--inc"))
            opt.inc = atoi(v);
        else if (!strcmp(a, "--keys"))
            opt.keys = atoi(v);
        else if (!strcmp(a, "--map-clients"))
            opt.map_clients = atoi(v);
        else if (!strcmp(a, "--cell-clients"))
            opt.cell_clients = atoi(v);
        else if (!strcmp(a, "--listen"))
            opt.listen = v;
        else if (!strcmp(a, "--dir"))
            opt.dir = v;
        else if (!strcmp(a, "--hist"))
            opt.hist = v;
        else if (!strcmp(a, "--status"))
            opt.status = v;
        else if (!strcmp(a, "--peer") && opt.n_peers < MAX_PEERS)
            opt.peers[opt.n_peers++] = v;
        else
            return -1;
    }
    if (opt.map_clients + opt.cell_clients > MAX_CLIENTS || opt.keys < 1) return -1;
    return opt.listen && opt.dir && opt.hist && opt.status ? 0 : -1;
}

static mk_collection *open_coll(mk_network *nw, const char *name, mk_collection_kind kind,
                                const char *sub) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", opt.dir, sub);
    mk_collection_config cfg;
    mk_collection_config_init(&cfg);
    cfg.name = name;
    cfg.kind = kind;
    cfg.data_dir = dir;
    cfg.bootstrap = opt.bootstrap;
    cfg.election_ms = 400;
    cfg.heartbeat_ms = 50;
    cfg.tick_ms = 50;
    cfg.snapshot_threshold = 256;
    cfg.snapshot_trailing = 32;
    mk_collection *c = NULL;
    mk_error err;
    mk_error_clear(&err);
    if (mk_collection_new(nw, &cfg, &c, &err) < 0) {
        fprintf(stderr, "hist_node: open %s: %s\n", name, err.msg);
        exit(1);
    }
    return c;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--print-id")) {
        mk_ed25519_key k;
        key_of(atoi(argv[2]), &k);
        mk_id id;
        memcpy(id.b, k.public_key, 32);
        char hex[MK_ID_HEX_LEN];
        mk_id_to_hex(&id, hex);
        printf("%s\n", hex);
        return 0;
    }
    if (parse(argc, argv) < 0) {
        fprintf(stderr, "usage: see the top of tests/history/hist_node.c\n");
        return 2;
    }
    /* Die with the driver (a test killed on timeout leaves no node). */
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) return 1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGTERM);
    for (int j = 0; j <= MAX_PEERS; j++)
        sigaddset(&set, SIGRTMIN + j);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread */
    hist_fd = open(opt.hist, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (hist_fd < 0) return 1;
    for (int p = 0; p < opt.n_peers; p++) {
        char hex[MK_ID_HEX_LEN];
        const char *at = strchr(opt.peers[p], '@');
        size_t hl = at ? (size_t)(at - opt.peers[p]) : 0;
        if (hl + 1 > sizeof hex) return 2;
        memcpy(hex, opt.peers[p], hl);
        hex[hl] = 0;
        if (mk_id_from_hex(&peer_ids[p], hex, NULL) < 0) return 2;
    }
    mk_ed25519_key key;
    key_of(opt.seed, &key);
    mk_network_config nc;
    mk_network_config_init(&nc);
    nc.network = "history";
    nc.listen_addr = opt.listen;
    nc.key = &key;
    nc.bootstrap = opt.peers;
    nc.n_bootstrap = (size_t)opt.n_peers;
    nc.announce_ms = 300;
    nc.sync_ms = 300;
    mk_network *nw = NULL;
    mk_error err;
    mk_error_clear(&err);
    if (mk_network_new(&nc, &nw, &err) < 0) {
        fprintf(stderr, "hist_node: network: %s\n", err.msg);
        return 1;
    }
    map_c = open_coll(nw, "hist-map", MK_COLL_MAP, "map");
    cell_c = open_coll(nw, "hist-cell", MK_COLL_CELL, "cell");
    pthread_t sig_th;
    pthread_create(&sig_th, NULL, signal_main, &set);
    (void)mk_group_wait(mk_collection_group(map_c), MK_GROUP_ONLINE, 0, 30000);
    (void)mk_group_wait(mk_collection_group(cell_c), MK_GROUP_ONLINE, 0, 30000);
    client cl[MAX_CLIENTS];
    pthread_t th[MAX_CLIENTS];
    int nc_ = opt.map_clients + opt.cell_clients;
    for (int t = 0; t < nc_; t++) {
        cl[t] = (client){.t = t,
                         .cell = t >= opt.map_clients,
                         .rnd = (unsigned)(opt.seed * 7919 + opt.inc * 104729 + t * 31)};
        pthread_create(&th[t], NULL, client_main, &cl[t]);
    }
    while (!atomic_load(&stop_clients)) {
        write_status();
        usleep(100000);
    }
    for (int t = 0; t < nc_; t++)
        pthread_join(th[t], NULL);
    final_phase();
    atomic_store(&final_done, true);
    for (;;) {
        write_status();
        usleep(100000);
    }
}
