/*
 * Membership that survives restarts (issue 11, item 4), in one process:
 *   - a member restarts (crash, a fresh network with its key, and its
 *     groups joined once the leader has its first new entry, which so
 *     lacks the group): it keeps its vote; the leader is killed 5 s later and the
 *     group stays writable;
 *   - ONLINE means caught up: a member held behind (its AppendEntries
 *     with entries lost after its bridge saw them) is not online while the
 *     leader's commit index is ahead of it;
 *   - two nodes both told to bootstrap one group (three networks): each
 *     refuses the other with a reason, the third joins exactly one of
 *     them, nothing crashes, both stay writable;
 *   - the install-snapshot timeout follows the election timeout.
 */
#include "groups_util.h"

#include "groups/groups_internal.h"

typedef struct mnode {
    mk_network *nw;
    mk_group *g;
    tg_counter c;
    mk_group_sm sm;
    char *dir;
    mk_id id;
    mk_ed25519_key key;
} mnode;

static mnode N[3]; /* static: they outlive a failed assertion (tg_teardown) */

static void mn_net(mnode *n, mk_network *boot) {
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = "groups-membership";
    cfg.announce_ms = 300;
    cfg.sync_ms = 300;
    cfg.purge_after_ms = 20000;
    cfg.key = &n->key;
    n->nw = tg_net_cfg(&cfg, boot);
    mk_network_peer_id(n->nw, &n->id);
}

static void mn_new(mnode *n, int i, const char *tag, mk_network *boot) {
    memset(n, 0, sizeof *n);
    uint8_t seed[32];
    memset(seed, 0x40 + i, sizeof seed);
    assert_int_equal(mk_ed25519_from_secret(seed, &n->key), 0);
    n->dir = tg_tmpdir(tag);
    mn_net(n, boot);
}

static unsigned snap_threshold; /* 0: the defaults */

static void mn_join(mnode *n, bool boot, uint32_t election_ms) {
    mk_group_config cfg;
    mk_group_config_init(&cfg);
    mk_id_from_name(&cfg.key, "test.membership.key");
    mk_id_from_name(&cfg.sm_signature, "test.counter.v1");
    n->sm = tg_counter_sm(&n->c);
    cfg.sm = &n->sm;
    cfg.data_dir = n->dir;
    cfg.bootstrap = boot;
    cfg.election_ms = election_ms;
    cfg.heartbeat_ms = 50;
    cfg.tick_ms = 50;
    cfg.snapshot_threshold = snap_threshold;
    cfg.snapshot_trailing = snap_threshold ? 2 : 0;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(tg_join(n->nw, &cfg, &n->g, &err), 0, &err);
}

/* As if the process died: no departure, then everything freed. */
static void mn_crash(mnode *n) {
    mk_network_abort(n->nw);
    tg_group_free(n->g);
    tg_net_free(n->nw);
    n->g = NULL;
    n->nw = NULL;
}

static void mn_free(mnode *n) {
    if (n->g) tg_group_free(n->g);
    if (n->nw) tg_net_free(n->nw);
    tg_dir_free(n->dir);
    memset(n, 0, sizeof *n);
}

static mk_group_status st(mnode *n) {
    mk_group_status s;
    mk_group_status_get(n->g, &s);
    return s;
}

/* The version of peer's entry nw holds (0: none). */
static uint64_t entry_version(mk_network *nw, const mk_id *peer) {
    mk_peer_entry e;
    uint64_t v = mk_network_get(nw, peer, &e) == 0 ? e.version : 0;
    mk_peer_entry_free(&e);
    return v;
}

static int leader(void) {
    for (int i = 0; i < 3; i++)
        if (N[i].g && st(&N[i]).is_leader) return i;
    return -1;
}

static void three(uint32_t election_ms) {
    mn_new(&N[0], 0, "ma", NULL);
    mn_join(&N[0], true, election_ms);
    assert_int_equal(mk_group_wait(N[0].g, MK_GROUP_IS_LEADER, 0, 10000), 0);
    for (int i = 1; i < 3; i++) {
        mn_new(&N[i], i, "mx", N[0].nw);
        mn_join(&N[i], false, election_ms);
    }
    TG_WAIT(st(&N[0]).voters == 3, 20000, "three voters");
    for (int i = 0; i < 3; i++)
        assert_int_equal(mk_group_wait(N[i].g, MK_GROUP_ONLINE, 0, 15000), 0);
}

/* ----- a restart, then the leader dies ------------------------------------------ */

static void test_restart_then_leader_killed(void **state) {
    (void)state;
    three(400);
    for (int i = 0; i < 10; i++)
        assert_true(tg_add(N[i % 3].g, 1, 5000) != INT64_MIN);
    int l = leader();
    assert_true(l >= 0);
    int r = (l + 1) % 3; /* a follower restarts */
    uint64_t v_old = entry_version(N[l].nw, &N[r].id);
    assert_true(v_old > 0);
    mn_crash(&N[r]);
    tg_sleep_ms(300); /* down for a moment (not an assertion's wait) */
    mn_net(&N[r], N[l].nw);
    /* Its groups are joined a little later: the leader has its first new
     * entry, which does not list the group, before it joins. */
    TG_WAIT(entry_version(N[l].nw, &N[r].id) > v_old, 10000,
            "the leader to hold the restarted member's new entry");
    mn_join(&N[r], false, 400);
    /* For the next five seconds the leader keeps three voters. */
    uint64_t t0 = tg_now_ms();
    unsigned min_voters = 3;
    while (tg_now_ms() - t0 < 5000) {
        unsigned v = st(&N[l]).voters;
        if (v < min_voters) min_voters = v;
        tg_sleep_ms(20);
    }
    assert_int_equal(mk_group_wait(N[r].g, MK_GROUP_ONLINE, 0, 10000), 0);
    if (min_voters != 3) fail_msg("the restarted member lost its vote (%u voters)", min_voters);
    /* The leader dies five seconds after the restart: still writable. */
    mn_crash(&N[l]);
    int nl = -1;
    TG_WAIT((nl = leader()) >= 0, 15000, "a new leader");
    int other = 3 - l - nl;
    assert_true(tg_add(N[nl].g, 1, 10000) != INT64_MIN);
    assert_true(tg_add(N[other].g, 1, 10000) != INT64_MIN);
    for (int i = 0; i < 3; i++)
        mn_free(&N[i]);
}

/* ----- ONLINE means caught up ------------------------------------------------------ */

/* The held member falls behind the leader's log start: the leader sends
 * it a snapshot (lost) and, while it waits for the answer, heartbeats
 * only, as for a follower that dropped a snapshot while busy (issue 11). */
static void test_online_means_caught_up(void **state) {
    (void)state;
    snap_threshold = 16;
    three(600);
    int l = leader();
    assert_true(l >= 0);
    int f = (l + 1) % 3;
    mk_group_raft_hold(N[f].g, true);
    for (int i = 0; i < 100; i++)
        assert_true(tg_add(N[l].g, 1, 5000) != INT64_MIN);
    uint64_t commit = st(&N[l]).commit;
    /* The follower hears the leader's commit index ... */
    TG_WAIT(st(&N[f]).commit >= commit, 10000, "the held member to learn the leader's commit");
    /* ... and is not online while it lags. */
    assert_true(st(&N[f]).applied < commit);
    assert_int_equal(mk_group_wait(N[f].g, MK_GROUP_ONLINE, 0, 300), MK_ETIMEDOUT);
    mk_group_raft_hold(N[f].g, false);
    assert_int_equal(mk_group_wait(N[f].g, MK_GROUP_ONLINE, 0, 10000), 0);
    assert_true(st(&N[f]).applied >= commit);
    assert_true(st(&N[f]).snapshots_restored >= 1);
    for (int i = 0; i < 3; i++)
        mn_free(&N[i]);
    snap_threshold = 0;
}

/* ----- two bootstraps -------------------------------------------------------------- */

static void test_double_bootstrap(void **state) {
    (void)state;
    mn_new(&N[0], 0, "ba", NULL);
    mn_new(&N[1], 1, "bb", N[0].nw);
    mn_new(&N[2], 2, "bc", N[0].nw);
    mn_join(&N[0], true, 400);
    mn_join(&N[1], true, 400); /* a second bootstrap of the same group */
    mn_join(&N[2], false, 400);
    mk_graft_stats a, b;
    TG_WAIT((mk_group_raft_stats(N[0].g, &a), mk_group_raft_stats(N[1].g, &b),
             a.conflicts > 0 && b.conflicts > 0),
            20000, "both bootstrappers to refuse each other");
    print_message("# %s\n# %s\n", a.last, b.last);
    assert_non_null(strstr(a.last, "conflicting bootstrap"));
    assert_non_null(strstr(b.last, "conflicting bootstrap"));
    /* The third node ends in exactly one of the two. */
    uint64_t t0 = tg_now_ms();
    while (!((st(&N[0]).members == 2 && st(&N[1]).members == 1) ||
             (st(&N[0]).members == 1 && st(&N[1]).members == 2))) {
        if (tg_now_ms() - t0 > 30000) {
            for (int i = 0; i < 3; i++) {
                mk_group_status s = st(&N[i]);
                mk_graft_stats r;
                mk_group_raft_stats(N[i].g, &r);
                print_message("# node %d: members %u voters %u leader %d term %llu conflicts "
                              "%llu last %s\n",
                              i, s.members, s.voters, s.is_leader, (unsigned long long)s.term,
                              (unsigned long long)r.conflicts, r.last);
            }
            fail_msg("the third node is not in exactly one group");
        }
        tg_sleep_ms(5);
    }
    assert_true(st(&N[0]).is_leader);
    assert_true(st(&N[1]).is_leader);
    assert_int_equal(mk_group_wait(N[2].g, MK_GROUP_ONLINE, 0, 10000), 0);
    assert_true(tg_add(N[0].g, 1, 10000) != INT64_MIN);
    assert_true(tg_add(N[1].g, 1, 10000) != INT64_MIN);
    assert_true(tg_add(N[2].g, 1, 10000) != INT64_MIN);
    for (int i = 0; i < 3; i++)
        mn_free(&N[i]);
}

/* ----- timeouts ---------------------------------------------------------------------- */

static void test_install_snapshot_timeout(void **state) {
    (void)state;
    mn_new(&N[0], 0, "ta", NULL);
    mn_join(&N[0], true, 300);
    assert_int_equal(N[0].g->raft.install_snapshot_timeout, 2000);
    tg_group_free(N[0].g);
    N[0].g = NULL;
    mn_join(&N[0], false, 1500);
    assert_int_equal(N[0].g->raft.install_snapshot_timeout, 7500);
    mn_free(&N[0]);
}

static int mb_teardown(void **state) {
    snap_threshold = 0;
    return tg_teardown(state);
}

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_install_snapshot_timeout, tg_teardown),
        cmocka_unit_test_teardown(test_restart_then_leader_killed, tg_teardown),
        cmocka_unit_test_teardown(test_online_means_caught_up, mb_teardown),
        cmocka_unit_test_teardown(test_double_bootstrap, tg_teardown),
    };
    return TG_RUN(tests);
}
