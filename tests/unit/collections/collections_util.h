/*
 * tests/unit/collections/collections_util.h — helpers of the replicated
 * collection tests: a few in-process nodes on loopback (the group tests'
 * helpers, so a failing test's teardown stops what it started), one
 * collection opened on each with its own data directory (node 0
 * bootstraps; with three nodes the last is a reader unless all_writers),
 * and waiting until every handle is online.
 */
#ifndef COLL_UTIL_H
#define COLL_UTIL_H

#include "unit/groups/groups_util.h"

#include "mosaik/collections.h"

#define CU_MAX 3
#define CU_MAX_COLLS 8

typedef struct cu_cluster {
    int n;
    bool all_writers; /* else, of three, the last is a reader */
    mk_network *nw[CU_MAX];
    char *dirs[CU_MAX * CU_MAX_COLLS];
    int n_dirs;
} cu_cluster;

static inline void cu_start(cu_cluster *cu, const char *network, int n) {
    memset(cu, 0, sizeof *cu);
    cu->n = n;
    cu->nw[0] = tg_net(network, NULL);
    for (int i = 1; i < n; i++)
        cu->nw[i] = tg_net(network, cu->nw[0]);
}

/* Fast raft timings, a fresh data dir, bootstrap on node 0, the reader
 * role on node 2 of three. */
static inline void cu_node_cfg(cu_cluster *cu, int i, mk_collection_config *cfg) {
    assert_true(cu->n_dirs < CU_MAX * CU_MAX_COLLS);
    cfg->data_dir = cu->dirs[cu->n_dirs++] = tg_tmpdir("coll");
    cfg->bootstrap = i == 0;
    cfg->role = cu->n == 3 && i == 2 && !cu->all_writers ? MK_GROUP_READER : MK_GROUP_WRITER;
    cfg->election_ms = 300;
    cfg->heartbeat_ms = 50;
    cfg->tick_ms = 50;
}

/* Wait until node 0 leads, every node is a member and online. */
static inline void cu_ready(cu_cluster *cu, mk_collection **c) {
    mk_group *g0 = mk_collection_group(c[0]);
    assert_int_equal(mk_group_wait(g0, MK_GROUP_IS_LEADER, 0, 15000), 0);
    assert_int_equal(mk_group_wait(g0, MK_GROUP_MEMBERS, (uint64_t)cu->n, 15000), 0);
    for (int i = 0; i < cu->n; i++)
        assert_int_equal(mk_group_wait(mk_collection_group(c[i]), MK_GROUP_ONLINE, 0, 10000), 0);
}

/* The same collection (base: name, kind, capacity, codecs) on every node. */
static inline void cu_open(cu_cluster *cu, const mk_collection_config *base, mk_collection **c) {
    for (int i = 0; i < cu->n; i++) {
        mk_collection_config cfg = *base;
        cu_node_cfg(cu, i, &cfg);
        mk_error err;
        mk_error_clear(&err);
        TU_ASSERT_RC(tg_coll_open(cu->nw[i], &cfg, &c[i], &err), 0, &err);
    }
    cu_ready(cu, c);
}

/* The same declared collection on every node. */
static inline void cu_open_def(cu_cluster *cu, const mk_collection_def *def, mk_collection **c) {
    for (int i = 0; i < cu->n; i++) {
        mk_collection_config cfg = {0};
        cu_node_cfg(cu, i, &cfg);
        mk_error err;
        mk_error_clear(&err);
        TU_ASSERT_RC(tg_coll_open_def(cu->nw[i], def, &cfg, &c[i], &err), 0, &err);
    }
    cu_ready(cu, c);
}

static inline void cu_close(mk_collection **c, int n) {
    for (int i = n - 1; i >= 0; i--)
        tg_coll_close(c[i]);
}

static inline void cu_stop(cu_cluster *cu) {
    for (int i = cu->n - 1; i >= 0; i--)
        tg_net_free(cu->nw[i]);
    for (int i = 0; i < cu->n_dirs; i++)
        tg_dir_free(cu->dirs[i]);
}

#define CU_BUF_IS(b, str)                                                                          \
    (assert_int_equal((b).len, strlen(str)), assert_memory_equal((b).data, str, strlen(str)))

/* A byte string of a C string (without its terminator). */
#define CU_B(s) ((mk_bytes){(s), strlen(s)})

#endif
