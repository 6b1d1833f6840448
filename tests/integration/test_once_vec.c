/*
 * Exactly-once across real processes (issue 11 §3): three forked members
 * of a Vec; four threads in one member (the writer) push uniquely named
 * values while the parent resets every TCP connection of the writer's
 * process twelve times (`ss -K` on each established socket the process
 * owns: the kernel aborts it and the peer gets a RST). Afterwards every
 * member must hold every acknowledged push exactly once, at the index its
 * acknowledgement reported, no value twice, and the acknowledged versions
 * must be pairwise distinct (one version per logical write).
 *
 * Needs root for `ss -K` (skipped otherwise). The parent never starts a
 * thread; the children are driven over pipes, as in
 * tests/unit/groups/test_groups_durability.c.
 */
#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "unit/groups/groups_util.h"

#include "mosaik/collections.h"

#define N 3
#define THREADS 4
#define PER_THREAD 4000 /* at most: the parent stops them */
#define RESETS 12
#define MAXV (THREADS * PER_THREAD)

typedef struct child {
    pid_t pid;
    FILE *to, *from;
} child;

static uint16_t ports[N];
/* Reserved for the whole test (tests/net_util.h, "Ports"): members restart
 * on the same address, and nobody else may take it in between. */
static tu_port reserved[N];
static mk_ed25519_key keys[N];
static char hexes[N][MK_ID_HEX_LEN];
static char *dirs[N];
static child cs[N];

/* ----- the child ------------------------------------------------------------ */

static atomic_bool stop_push;

typedef struct pusher {
    mk_collection *c;
    int t;
    int n;
    atomic_int acked; /* acknowledged pushes so far (the parent's "p") */
    struct ack {
        int ok;
        uint64_t index, version;
        char err[96];
    } acks[PER_THREAD];
} pusher;

static void *push_main(void *arg) {
    pusher *p = arg;
    for (int k = 0; k < PER_THREAD && !atomic_load(&stop_push); k++) {
        p->n++;
        char v[32];
        snprintf(v, sizeof v, "t%d-%d", p->t, k);
        mk_error err;
        mk_error_clear(&err);
        struct ack *a = &p->acks[k];
        a->ok = mk_vec_push(p->c, v, strlen(v), &a->index, &a->version, 20000, &err) == 0;
        if (a->ok) atomic_fetch_add(&p->acked, 1);
        if (!a->ok) snprintf(a->err, sizeof a->err, "%.90s", err.msg);
    }
    return NULL;
}

/* Push until the parent says "x", then report every call; "p" asks how many
 * pushes were acknowledged so far. */
static void child_push(mk_collection *c, FILE *in, FILE *out) {
    pusher *ps = calloc(THREADS, sizeof *ps);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        ps[t].c = c;
        ps[t].t = t;
        pthread_create(&th[t], NULL, push_main, &ps[t]);
    }
    fprintf(out, "pushing\n");
    fflush(out);
    char line[16];
    while (fgets(line, sizeof line, in) && line[0] != 'x') {
        if (line[0] != 'p') continue;
        int acked = 0;
        for (int t = 0; t < THREADS; t++)
            acked += atomic_load(&ps[t].acked);
        fprintf(out, "progress %d\n", acked);
        fflush(out);
    }
    atomic_store(&stop_push, true);
    int ok = 0, bad = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        for (int k = 0; k < ps[t].n; k++) {
            struct ack *a = &ps[t].acks[k];
            if (a->ok) {
                fprintf(out, "a %d %llu %llu\n", t * PER_THREAD + k, (unsigned long long)a->index,
                        (unsigned long long)a->version);
                ok++;
            } else {
                fprintf(out, "e %d %s\n", t * PER_THREAD + k, a->err);
                bad++;
            }
        }
    }
    fprintf(out, "done %d %d\n", ok, bad);
    free(ps);
}

/* Every item of the local copy, after catching up with the leader. */
static void child_read(mk_collection *c, FILE *out) {
    mk_group *g = mk_collection_group(c);
    mk_error err;
    mk_error_clear(&err);
    uint8_t op = 2; /* the version, strong: through the leader */
    mk_buf q = MK_BUF_INIT;
    uint64_t v = 0;
    if (mk_group_query(g, MK_GROUP_STRONG, &op, 1, &q, 20000, &err) == 0 && q.len == 8)
        for (int y = 0; y < 8; y++)
            v = (v << 8) | q.data[y];
    mk_buf_free(&q);
    mk_collection_wait_version(c, v, 20000);
    uint64_t n = 0;
    mk_collection_len(c, MK_GROUP_WEAK, &n, 0, &err);
    for (uint64_t i = 0; i < n; i++) {
        mk_buf val = MK_BUF_INIT;
        if (mk_vec_get(c, MK_GROUP_WEAK, i, &val, 0, &err) == 0) {
            int t, k;
            char s[40];
            snprintf(s, sizeof s, "%.*s", (int)val.len, (const char *)val.data);
            if (sscanf(s, "t%d-%d", &t, &k) == 2)
                fprintf(out, "v %llu %d\n", (unsigned long long)i, t * PER_THREAD + k);
        }
        mk_buf_free(&val);
    }
    fprintf(out, "end %llu %llu\n", (unsigned long long)n, (unsigned long long)v);
}

static void child_main(int i, FILE *in, FILE *out) {
    char listen[64], boots[N][256];
    const char *bl[N];
    size_t nb = 0;
    snprintf(listen, sizeof listen, "127.0.0.1:%u", ports[i]);
    for (int j = 0; j < N; j++) {
        if (j == i) continue;
        snprintf(boots[nb], sizeof boots[nb], "%s@127.0.0.1:%u", hexes[j], ports[j]);
        bl[nb] = boots[nb];
        nb++;
    }
    mk_network_config nc;
    mk_network_config_init(&nc);
    nc.network = "once-vec";
    nc.listen_addr = listen;
    nc.key = &keys[i];
    nc.bootstrap = bl;
    nc.n_bootstrap = nb;
    nc.announce_ms = 300;
    nc.sync_ms = 300;
    mk_network *nw = NULL;
    mk_error err;
    mk_error_clear(&err);
    mk_collection *c = NULL;
    mk_collection_config cfg;
    mk_collection_config_init(&cfg);
    cfg.name = "once-vec";
    cfg.kind = MK_COLL_VEC;
    cfg.data_dir = dirs[i];
    cfg.bootstrap = i == 0;
    cfg.election_ms = 400;
    cfg.heartbeat_ms = 50;
    cfg.tick_ms = 50;
    cfg.snapshot_threshold = 256;
    cfg.snapshot_trailing = 32;
    if (mk_network_new(&nc, &nw, &err) < 0 || mk_collection_new(nw, &cfg, &c, &err) < 0) {
        fprintf(out, "fail %s\n", err.msg);
        fflush(out);
        _exit(1);
    }
    mk_group *g = mk_collection_group(c);
    if (mk_group_wait(g, MK_GROUP_ONLINE, 0, 20000) < 0) {
        fprintf(out, "fail not online\n");
        fflush(out);
        _exit(1);
    }
    fprintf(out, "ready\n");
    fflush(out);
    char line[128];
    while (fgets(line, sizeof line, in)) {
        if (line[0] == 'w') {
            child_push(c, in, out);
        } else if (line[0] == 'r') {
            child_read(c, out);
        } else if (line[0] == 's') {
            mk_group_status s;
            mk_group_status_get(g, &s);
            fprintf(out, "status %d %u %u %llu\n", s.is_leader, s.members, s.voters,
                    (unsigned long long)s.duplicates);
        } else if (line[0] == 'q') {
            break;
        }
        fflush(out);
    }
    mk_collection_free(c);
    mk_network_free(nw);
    _exit(0);
}

/* ----- the parent ----------------------------------------------------------- */

static void spawn(child *c, int i) {
    int p2c[2], c2p[2];
    assert_int_equal(pipe(p2c), 0);
    assert_int_equal(pipe(c2p), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p2c[1]);
        close(c2p[0]);
        child_main(i, fdopen(p2c[0], "r"), fdopen(c2p[1], "w"));
    }
    close(p2c[0]);
    close(c2p[1]);
    c->pid = pid;
    c->to = fdopen(p2c[1], "w");
    c->from = fdopen(c2p[0], "r");
}

static void send_cmd(child *c, const char *cmd) {
    fputs(cmd, c->to);
    fflush(c->to);
}

/* Abort every established TCP connection process pid owns (ss -K on each
 * of its sockets, found through /proc/pid/fd and /proc/pid/net/tcp): how
 * many were aborted. */
static int reset_conns(pid_t pid) {
    char path[64], link[64];
    unsigned long inodes[256];
    int ni = 0, killed = 0;
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d)) && ni < 256;) {
        char fp[320];
        snprintf(fp, sizeof fp, "%s/%.200s", path, e->d_name);
        ssize_t n = readlink(fp, link, sizeof link - 1);
        if (n <= 0) continue;
        link[n] = 0;
        if (sscanf(link, "socket:[%lu]", &inodes[ni]) == 1) ni++;
    }
    closedir(d);
    snprintf(path, sizeof path, "/proc/%d/net/tcp", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned la, lp, ra, rp, st;
        unsigned long inode;
        if (sscanf(line, " %*d: %x:%x %x:%x %x %*s %*s %*s %*d %*d %lu", &la, &lp, &ra, &rp, &st,
                   &inode) != 6 ||
            st != 1 /* ESTABLISHED */)
            continue;
        for (int k = 0; k < ni; k++)
            if (inodes[k] == inode) {
                char cmd[160];
                snprintf(cmd, sizeof cmd,
                         "ss -K -t -n src 127.0.0.1:%u dst 127.0.0.1:%u >/dev/null 2>&1", lp, rp);
                if (system(cmd) == 0) killed++;
            }
    }
    fclose(f);
    return killed;
}

static bool ss_kill_works(void) {
    return geteuid() == 0 && system("ss -K -t -n dst 127.0.0.1:1 >/dev/null 2>&1") == 0;
}

/* The writer's acknowledged pushes so far (while it pushes). */
static int writer_acks(int w) {
    char line[64];
    int n = -1;
    send_cmd(&cs[w], "p\n");
    if (!fgets(line, sizeof line, cs[w].from) || sscanf(line, "progress %d", &n) != 1)
        fail_msg("the writer did not report its progress: %s", line);
    return n;
}

static int leader(void) {
    for (int tries = 0; tries < 200; tries++) {
        for (int i = 0; i < N; i++) {
            char line[128];
            send_cmd(&cs[i], "s\n");
            int l;
            if (fgets(line, sizeof line, cs[i].from) && sscanf(line, "status %d", &l) == 1 && l)
                return i;
        }
        tg_sleep_ms(50);
    }
    return -1;
}

static int setup(void **state) {
    (void)state;
    memset(cs, 0, sizeof cs);
    for (int i = 0; i < N; i++) {
        uint8_t seed[32];
        memset(seed, 0x50 + i, sizeof seed);
        if (mk_ed25519_from_secret(seed, &keys[i]) != 0) return -1;
        mk_id id;
        memcpy(id.b, keys[i].public_key, 32);
        mk_id_to_hex(&id, hexes[i]);
        tu_port_reserve(&reserved[i]);
        ports[i] = reserved[i].port;
        dirs[i] = tg_tmpdir("once-vec");
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int i = 0; i < N; i++) {
        if (cs[i].pid) {
            kill(cs[i].pid, SIGKILL);
            waitpid(cs[i].pid, NULL, 0);
            fclose(cs[i].to);
            fclose(cs[i].from);
            cs[i].pid = 0;
        }
        if (dirs[i]) tg_rmrf(dirs[i]);
        free(dirs[i]);
        dirs[i] = NULL;
        tu_port_release(&reserved[i]);
    }
    return 0;
}

/* Read member i's items: seen[v] counts value v; at_index[v] its index. */
static void read_member(int i, int *seen, int64_t *at_index) {
    char line[256];
    send_cmd(&cs[i], "r\n");
    while (fgets(line, sizeof line, cs[i].from)) {
        unsigned long long idx;
        int v;
        if (strncmp(line, "end", 3) == 0) break;
        if (sscanf(line, "v %llu %d", &idx, &v) == 2 && v >= 0 && v < MAXV) {
            seen[v]++;
            at_index[v] = (int64_t)idx;
        }
    }
}

static void test_resets_no_duplicate(void **state) {
    (void)state;
    if (!ss_kill_works()) {
        TU_SKIP("needs root and ss -K (iproute2; the kernel's INET_DIAG_DESTROY)");
    }
    for (int i = 0; i < N; i++)
        spawn(&cs[i], i);
    for (int i = 0; i < N; i++) {
        char line[256];
        assert_non_null(fgets(line, sizeof line, cs[i].from));
        if (strncmp(line, "ready", 5) != 0) fail_msg("child %d: %s", i, line);
    }
    int l = leader();
    assert_true(l >= 0);
    const int w = (l + 1) % N; /* the writer: a follower, forwarding to the leader */
    send_cmd(&cs[w], "w\n");
    char line[256];
    assert_non_null(fgets(line, sizeof line, cs[w].from));
    assert_int_equal(strncmp(line, "pushing", 7), 0);
    /* Each reset follows progress since the one before: 200 more pushes
     * acknowledged, so the writer has reconnected and calls are in flight
     * (and the resets are spread over the run). */
    int resets = 0, aborted = 0;
    for (int r = 0; r < RESETS; r++) {
        int before = writer_acks(w);
        TG_WAIT(writer_acks(w) >= before + 200, 30000, "the writer's progress before a reset");
        int k = reset_conns(cs[w].pid);
        aborted += k;
        resets += k > 0;
    }
    /* Progress after the last reset too, up to the volume asserted below. */
    int before = writer_acks(w);
    TG_WAIT(writer_acks(w) >= before + 200 && writer_acks(w) >= MAXV / 2, 60000,
            "the writer's progress after the resets");
    send_cmd(&cs[w], "x\n");
    /* The writer's report: acknowledged pushes with index and version. */
    static int64_t ack_index[MAXV], ack_version[MAXV];
    static bool acked[MAXV];
    memset(acked, 0, sizeof acked);
    int ok = 0, failed = 0;
    while (fgets(line, sizeof line, cs[w].from)) {
        int v;
        unsigned long long idx, ver;
        if (sscanf(line, "done %d %d", &ok, &failed) == 2) break;
        if (sscanf(line, "a %d %llu %llu", &v, &idx, &ver) == 3 && v >= 0 && v < MAXV) {
            acked[v] = true;
            ack_index[v] = (int64_t)idx;
            ack_version[v] = (int64_t)ver;
        }
    }
    print_message("# %d resets (%d connections aborted), %d pushes acknowledged, %d failed\n",
                  resets, aborted, ok, failed);
    assert_int_equal(resets, RESETS);
    assert_true(ok >= MAXV / 2); /* waited for above, on a deadline */
    /* One version per logical write. */
    static int64_t by_version[MAXV * 2 + 16];
    memset(by_version, 0, sizeof by_version);
    for (int v = 0; v < MAXV; v++)
        if (acked[v]) {
            assert_true(ack_version[v] > 0 && ack_version[v] < (int64_t)(MAXV * 2 + 16));
            assert_int_equal(by_version[ack_version[v]], 0);
            by_version[ack_version[v]] = v + 1;
        }
    /* Every member: each acknowledged push once, where it was reported;
     * nothing twice. */
    int dups_total = 0;
    for (int i = 0; i < N; i++) {
        static int seen[MAXV];
        static int64_t at_index[MAXV];
        memset(seen, 0, sizeof seen);
        read_member(i, seen, at_index);
        int dups = 0, lost = 0, misplaced = 0;
        for (int v = 0; v < MAXV; v++) {
            if (seen[v] > 1) dups++;
            if (acked[v] && seen[v] == 0) lost++;
            if (acked[v] && seen[v] == 1 && at_index[v] != ack_index[v]) misplaced++;
        }
        print_message("# member %d: %d present twice or more, %d acknowledged missing, %d at "
                      "another index\n",
                      i, dups, lost, misplaced);
        dups_total += dups;
        assert_int_equal(lost, 0);
        assert_int_equal(misplaced, 0);
    }
    assert_int_equal(dups_total, 0);
    for (int i = 0; i < N; i++) {
        unsigned long long filtered = 0;
        int isl;
        unsigned m, vo;
        send_cmd(&cs[i], "s\n");
        if (fgets(line, sizeof line, cs[i].from) &&
            sscanf(line, "status %d %u %u %llu", &isl, &m, &vo, &filtered) == 4)
            print_message("# member %d: %llu duplicate log entries filtered\n", i, filtered);
    }
    for (int i = 0; i < N; i++) {
        send_cmd(&cs[i], "q\n");
        waitpid(cs[i].pid, NULL, 0);
        fclose(cs[i].to);
        fclose(cs[i].from);
        cs[i].pid = 0;
    }
}

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resets_no_duplicate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
