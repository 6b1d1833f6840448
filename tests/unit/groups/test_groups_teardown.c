/*
 * A failing test in a networked suite tears down what it started, so the
 * tests after it run clean (issue 11, item 7; tg_teardown in
 * groups_util.h). An inner suite runs a test that starts two nodes
 * of a group, commits, and then fails on purpose; the next test checks
 * that nothing of it is left (no recorded network, group or directory,
 * file descriptors back to where they were) and that a new group works.
 * This binary passes when exactly the intended failure happened (a clean
 * run first gives the descriptors the process keeps).
 */
#include <dirent.h>

#include "groups_util.h"

typedef struct tnode {
    mk_network *nw;
    mk_group *g;
    tg_counter c;
    mk_group_sm sm;
    char *dir;
} tnode;

static tnode T[2]; /* static: they outlive the failed assertion */
static unsigned fds_before;

static unsigned open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    unsigned n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void pair(const char *tag) {
    T[0].nw = tg_net("groups-teardown", NULL);
    T[1].nw = tg_net("groups-teardown", T[0].nw);
    for (int i = 0; i < 2; i++) {
        T[i].dir = tg_tmpdir(tag);
        mk_group_config cfg;
        mk_group_config_init(&cfg);
        mk_id_from_name(&cfg.key, tag);
        mk_id_from_name(&cfg.sm_signature, "test.counter.v1");
        T[i].sm = tg_counter_sm(&T[i].c);
        cfg.sm = &T[i].sm;
        cfg.data_dir = T[i].dir;
        cfg.bootstrap = i == 0;
        cfg.election_ms = 300;
        cfg.heartbeat_ms = 50;
        cfg.tick_ms = 50;
        mk_error err;
        mk_error_clear(&err);
        TU_ASSERT_RC(tg_join(T[i].nw, &cfg, &T[i].g, &err), 0, &err);
        if (i == 0) assert_int_equal(mk_group_wait(T[0].g, MK_GROUP_IS_LEADER, 0, 10000), 0);
    }
    assert_int_equal(mk_group_wait(T[1].g, MK_GROUP_ONLINE, 0, 15000), 0);
    assert_true(tg_add(T[1].g, 1, 10000) != INT64_MIN);
}

static void pair_free(void) {
    for (int i = 1; i >= 0; i--) {
        tg_group_free(T[i].g);
        tg_net_free(T[i].nw);
        tg_dir_free(T[i].dir);
    }
}

/* A clean run first: what the process keeps open after it (lazily opened
 * by libraries) is the baseline. */
static void test_clean_run(void **state) {
    (void)state;
    pair("teardown-zero");
    pair_free();
    fds_before = open_fds();
}

static void test_fails_on_purpose(void **state) {
    (void)state;
    pair("teardown-one");
    fail_msg("an intended failure, with two nodes running");
}

static void test_after_a_failure(void **state) {
    (void)state;
    assert_int_equal(tg_left(), 0);
    unsigned fds = 0;
    /* closed sockets and the loops' handles go asynchronously */
    TG_WAIT((fds = open_fds()) <= fds_before, 10000, "the failed test's descriptors to be closed");
    pair("teardown-two");
    pair_free();
    assert_int_equal(tg_left(), 0);
}

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    const struct CMUnitTest inner[] = {
        cmocka_unit_test_teardown(test_clean_run, tg_teardown),
        cmocka_unit_test_teardown(test_fails_on_purpose, tg_teardown),
        cmocka_unit_test_teardown(test_after_a_failure, tg_teardown),
    };
    print_message("# the next suite has exactly one intended failure (test_fails_on_purpose)\n");
    int failed = cmocka_run_group_tests_name("teardown after a failure", inner, NULL, NULL);
    if (failed != 1) {
        print_message("# %d failures, want exactly the intended one\n", failed);
        return 1;
    }
    print_message("# as intended: one failure, and the test after it ran clean\n");
    return 0;
}
