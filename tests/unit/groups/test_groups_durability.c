/*
 * Durability with real processes: three forked children each run a member
 * of a Set collection (fixed identities and ports, their own data dirs).
 * The parent drives them over pipes: writes are acknowledged only after
 * commit. We SIGKILL the leader, then a follower, then all three at once,
 * restart them on the same data dirs, and check (with strong reads, and
 * with local reads after recovery) that every acknowledged write is there.
 *
 * The parent never starts a thread before forking.
 */
#include <signal.h>
#include <sys/wait.h>

#include "groups_util.h"

#include "mosaik/collections.h"

#define N 3
#define BATCH 40

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

/* ----- the child --------------------------------------------------------------- */

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
    nc.network = "groups-durability";
    nc.listen_addr = listen;
    nc.key = &keys[i];
    nc.bootstrap = bl;
    nc.n_bootstrap = nb;
    nc.announce_ms = 300;
    nc.sync_ms = 300;
    mk_network *nw = NULL;
    mk_error err;
    mk_error_clear(&err);
    if (mk_network_new(&nc, &nw, &err) < 0) {
        fprintf(out, "fail %s\n", err.msg);
        fflush(out);
        _exit(1);
    }
    mk_collection_config cfg;
    mk_collection_config_init(&cfg);
    cfg.name = "durable";
    cfg.kind = MK_COLL_SET;
    cfg.data_dir = dirs[i];
    cfg.bootstrap = i == 0;
    cfg.election_ms = 400;
    cfg.heartbeat_ms = 50;
    cfg.tick_ms = 50;
    cfg.snapshot_threshold = 32; /* exercise snapshots on disk too */
    cfg.snapshot_trailing = 8;
    mk_collection *c = NULL;
    if (mk_collection_new(nw, &cfg, &c, &err) < 0) {
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
        int a, b;
        char k[32];
        if (sscanf(line, "w %d %d", &a, &b) == 2) {
            for (int x = a; x < b; x++) {
                snprintf(k, sizeof k, "k%d", x);
                if (mk_set_insert(c, k, strlen(k), NULL, NULL, 15000, &err) == 0)
                    fprintf(out, "a %d\n", x);
                else
                    fprintf(out, "e %d %s\n", x, err.msg);
            }
            fprintf(out, "done\n");
        } else if (sscanf(line, "c %d %d", &a, &b) == 2 || sscanf(line, "l %d %d", &a, &b) == 2) {
            bool strong = line[0] == 'c';
            if (!strong) {
                /* local copy: wait until caught up with the leader */
                mk_buf q = MK_BUF_INIT;
                uint8_t op = 2; /* version query, strong: goes to the leader */
                uint64_t v = 0;
                uint64_t tq = tg_now_ms();
                int qrc = mk_group_query(g, MK_GROUP_STRONG, &op, 1, &q, 15000, &err);
                if (qrc == 0 && q.len == 8)
                    for (int y = 0; y < 8; y++)
                        v = (v << 8) | q.data[y];
                if (getenv("TG_DEBUG"))
                    fprintf(stderr, "child %d: strong version query %d (%s) in %llu ms\n", i, qrc,
                            qrc ? err.msg : "", (unsigned long long)(tg_now_ms() - tq));
                mk_buf_free(&q);
                mk_collection_wait_version(c, v, 15000);
            }
            int missing = 0;
            for (int x = a; x < b; x++) {
                snprintf(k, sizeof k, "k%d", x);
                bool f = false;
                if (mk_set_contains(c, strong ? MK_GROUP_STRONG : MK_GROUP_WEAK, k, strlen(k), &f,
                                    15000, &err) < 0 ||
                    !f) {
                    fprintf(out, "m %d\n", x);
                    missing++;
                }
            }
            fprintf(out, "checked %d\n", missing);
        } else if (line[0] == 's') {
            mk_group_status s;
            mk_group_status_get(g, &s);
            fprintf(out, "status %d %u\n", s.is_leader, s.members);
        } else if (line[0] == 'q') {
            break;
        }
        fflush(out);
    }
    mk_collection_free(c);
    mk_network_free(nw);
    _exit(0);
}

/* ----- the parent --------------------------------------------------------------- */

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
    tg_keep_pid(pid); /* killed by the teardown if the test fails */
    c->pid = pid;
    c->to = fdopen(p2c[1], "w");
    c->from = fdopen(c2p[0], "r");
}

static void expect_ready(child *c) {
    char line[256];
    assert_non_null(fgets(line, sizeof line, c->from));
    if (strncmp(line, "ready", 5) != 0) fail_msg("child: %s", line);
}

static void kill9(child *c) {
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    tg_forget_pid(c->pid);
    fclose(c->to);
    fclose(c->from);
    c->pid = 0;
}

static void send_cmd(child *c, const char *cmd) {
    fputs(cmd, c->to);
    fflush(c->to);
}

/* Write [a, b) through child c; mark acknowledged keys. */
static int write_range(child *c, int a, int b, bool *acked) {
    char cmd[64], line[256];
    snprintf(cmd, sizeof cmd, "w %d %d\n", a, b);
    send_cmd(c, cmd);
    int n = 0;
    while (fgets(line, sizeof line, c->from)) {
        int x;
        if (strncmp(line, "done", 4) == 0) break;
        if (sscanf(line, "a %d", &x) == 1) {
            acked[x] = true;
            n++;
        }
    }
    return n;
}

/* Check [a, b) on child c; returns keys acked but missing. */
static int check_range(child *c, char mode, int a, int b, const bool *acked) {
    char cmd[64], line[256];
    snprintf(cmd, sizeof cmd, "%c %d %d\n", mode, a, b);
    send_cmd(c, cmd);
    int lost = 0;
    while (fgets(line, sizeof line, c->from)) {
        int x;
        if (strncmp(line, "checked", 7) == 0) break;
        if (sscanf(line, "m %d", &x) == 1 && acked[x]) lost++;
    }
    return lost;
}

static int find_leader(child *cs) {
    for (int tries = 0; tries < 200; tries++) {
        for (int i = 0; i < N; i++) {
            if (!cs[i].pid) continue;
            char line[128];
            send_cmd(&cs[i], "s\n");
            int l;
            unsigned m;
            if (fgets(line, sizeof line, cs[i].from) && sscanf(line, "status %d %u", &l, &m) == 2 &&
                l)
                return i;
        }
        tg_sleep_ms(50);
    }
    return -1;
}

static void test_kill9(void **state) {
    (void)state;
    for (int i = 0; i < N; i++) {
        uint8_t seed[32];
        memset(seed, 0x30 + i, sizeof seed);
        assert_int_equal(mk_ed25519_from_secret(seed, &keys[i]), 0);
        mk_id id;
        memcpy(id.b, keys[i].public_key, 32);
        mk_id_to_hex(&id, hexes[i]);
        tu_port_reserve(&reserved[i]);
        ports[i] = reserved[i].port;
        dirs[i] = tg_tmpdir("dur");
    }
    uint64_t t0 = tg_now_ms();
    bool acked[4 * BATCH + 1];
    memset(acked, 0, sizeof acked);
    child cs[N];
    for (int i = 0; i < N; i++)
        spawn(&cs[i], i);
    for (int i = 0; i < N; i++)
        expect_ready(&cs[i]);

    print_message("# %llu ms\n", (unsigned long long)(tg_now_ms() - t0));
    /* Batch 1 through a follower. */
    int l = find_leader(cs);
    assert_true(l >= 0);
    int f = (l + 1) % N;
    assert_int_equal(write_range(&cs[f], 0, BATCH, acked), BATCH);

    print_message("# %llu ms\n", (unsigned long long)(tg_now_ms() - t0));
    /* Kill -9 the leader; the others commit batch 2; restart it. */
    kill9(&cs[l]);
    assert_true(write_range(&cs[f], BATCH, 2 * BATCH, acked) >= BATCH - 2);
    spawn(&cs[l], l);
    expect_ready(&cs[l]);
    assert_int_equal(check_range(&cs[l], 'l', 0, 2 * BATCH, acked), 0);

    print_message("# %llu ms\n", (unsigned long long)(tg_now_ms() - t0));
    /* Kill -9 a follower (a minority); batch 3; restart it. */
    l = find_leader(cs);
    assert_true(l >= 0);
    f = (l + 1) % N;
    kill9(&cs[f]);
    assert_true(write_range(&cs[l], 2 * BATCH, 3 * BATCH, acked) >= BATCH - 2);
    spawn(&cs[f], f);
    expect_ready(&cs[f]);

    print_message("# %llu ms\n", (unsigned long long)(tg_now_ms() - t0));
    /* Kill -9 everyone at once; restart all from their disks. */
    for (int i = 0; i < N; i++)
        kill9(&cs[i]);
    for (int i = 0; i < N; i++)
        spawn(&cs[i], i);
    for (int i = 0; i < N; i++)
        expect_ready(&cs[i]);
    l = find_leader(cs);
    assert_true(l >= 0);
    assert_true(write_range(&cs[(l + 2) % N], 3 * BATCH, 4 * BATCH, acked) >= BATCH - 2);
    for (int i = 0; i < N; i++) {
        assert_int_equal(check_range(&cs[i], 'c', 0, 4 * BATCH, acked), 0);
        assert_int_equal(check_range(&cs[i], 'l', 0, 4 * BATCH, acked), 0);
    }
    print_message("# %llu ms\n", (unsigned long long)(tg_now_ms() - t0));
    for (int i = 0; i < N; i++) {
        send_cmd(&cs[i], "q\n");
        int st;
        waitpid(cs[i].pid, &st, 0);
        tg_forget_pid(cs[i].pid);
        fclose(cs[i].to);
        fclose(cs[i].from);
        tg_dir_free(dirs[i]);
        tu_port_release(&reserved[i]);
    }
}

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_kill9, tg_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
