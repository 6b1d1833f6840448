/*
 * Shared helpers of the group tests: in-process networks on loopback with
 * short discovery intervals, a counter state machine, temp data dirs.
 *
 * Teardown. A failing cmocka assertion jumps out of the test; what the
 * test started would keep running (loop threads applying to freed state,
 * networks holding ports) and crash later tests. So everything made with
 * the tg_ helpers — networks, groups, collections, threads, child
 * processes, temp dirs — is recorded, the matching tg_ free forgets it,
 * and tg_teardown (every networked test's teardown) stops what is left:
 * threads joined, children killed, collections and groups freed, then
 * networks, then dirs removed.
 */
#ifndef TEST_GROUPS_UTIL_H
#define TEST_GROUPS_UTIL_H

#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net_util.h"

#include <signal.h>
#include <sys/wait.h>

#include "mosaik/collections.h"
#include "mosaik/discovery.h"
#include "mosaik/groups.h"
#include "groups/groups_internal.h"

#define tg_sleep_ms tu_sleep_ms

static inline uint64_t tg_now_ms(void) {
    return tu_mono_ms(); /* the test's clock */
}

#define TG_WAIT(pred, timeout_ms, what) ((void)TU_WAIT_UNTIL(pred, timeout_ms, what))

/* Run a suite; TG_FILTER=<pattern> runs only the matching tests. */
#define TG_RUN(tests)                                                                              \
    (getenv("TG_FILTER") ? cmocka_set_test_filter(getenv("TG_FILTER")) : (void)0,                  \
     cmocka_run_group_tests(tests, NULL, NULL))

/* ----- what a test started --------------------------------------------------- */

#define TG_LIVE 64
static struct {
    mk_network *nets[TG_LIVE];
    mk_group *groups[TG_LIVE];
    mk_collection *colls[TG_LIVE];
    char *dirs[TG_LIVE];
    pthread_t threads[TG_LIVE];
    bool thread_on[TG_LIVE];
    pid_t pids[TG_LIVE];
} tg_live;

static inline void tg_keep(void **set, void *p) {
    for (int i = 0; i < TG_LIVE; i++)
        if (!set[i]) {
            set[i] = p;
            return;
        }
    fail_msg("tg_live: more than %d at once", TG_LIVE);
}

static inline void tg_forget(void **set, const void *p) {
    for (int i = 0; p && i < TG_LIVE; i++)
        if (set[i] == p) set[i] = NULL;
}

static inline void tg_net_free(mk_network *nw) {
    tg_forget((void **)tg_live.nets, nw);
    mk_network_free(nw);
}

/* A network the test's teardown frees if the test fails (tu_network_new). */
static inline mk_network *tg_net_cfg(mk_network_config *cfg, mk_network *boot) {
    mk_network *nw = tu_network_new(cfg, boot);
    tg_keep((void **)tg_live.nets, nw);
    return nw;
}

static inline mk_network *tg_net(const char *network, mk_network *boot) {
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = network;
    cfg.announce_ms = 300;
    cfg.sync_ms = 300;
    cfg.purge_after_ms = 20000;
    return tg_net_cfg(&cfg, boot);
}

static inline int tg_join(mk_network *nw, const mk_group_config *cfg, mk_group **out,
                          mk_error *err) {
    int rc = mk_group_new(nw, cfg, out, err);
    if (rc == 0) tg_keep((void **)tg_live.groups, *out);
    return rc;
}

static inline void tg_group_free(mk_group *g) {
    tg_forget((void **)tg_live.groups, g);
    mk_group_free(g);
}

static inline int tg_coll_open(mk_network *nw, const mk_collection_config *cfg, mk_collection **out,
                               mk_error *err) {
    int rc = mk_collection_new(nw, cfg, out, err);
    if (rc == 0) tg_keep((void **)tg_live.colls, *out);
    return rc;
}

static inline int tg_coll_open_def(mk_network *nw, const mk_collection_def *def,
                                   const mk_collection_config *o, mk_collection **out,
                                   mk_error *err) {
    int rc = mk_collection_new_from_def(nw, def, o, out, err);
    if (rc == 0) tg_keep((void **)tg_live.colls, *out);
    return rc;
}

static inline void tg_coll_close(mk_collection *c) {
    tg_forget((void **)tg_live.colls, c);
    mk_collection_free(c);
}

static inline void tg_thread(pthread_t *th, void *(*fn)(void *), void *arg) {
    for (int i = 0; i < TG_LIVE; i++)
        if (!tg_live.thread_on[i]) {
            assert_int_equal(pthread_create(th, NULL, fn, arg), 0);
            tg_live.threads[i] = *th;
            tg_live.thread_on[i] = true;
            return;
        }
    fail_msg("tg_live: too many threads");
}

static inline void tg_thread_join(pthread_t th) {
    for (int i = 0; i < TG_LIVE; i++)
        if (tg_live.thread_on[i] && pthread_equal(tg_live.threads[i], th))
            tg_live.thread_on[i] = false;
    pthread_join(th, NULL);
}

static inline void tg_keep_pid(pid_t pid) {
    for (int i = 0; i < TG_LIVE; i++)
        if (!tg_live.pids[i]) {
            tg_live.pids[i] = pid;
            return;
        }
}

static inline void tg_forget_pid(pid_t pid) {
    for (int i = 0; i < TG_LIVE; i++)
        if (tg_live.pids[i] == pid) tg_live.pids[i] = 0;
}

/* A counter: command = i64 big-endian delta; result and query = the value. */
typedef struct tg_counter {
    int64_t value;
    uint64_t applied;
} tg_counter;

static inline void tg_put64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static inline int64_t tg_get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

static inline int tg_counter_apply(void *st, const uint8_t *cmd, size_t len, mk_buf *result) {
    tg_counter *c = st;
    if (len != 8) return MK_EMALFORMED;
    c->value += tg_get64(cmd);
    c->applied++;
    uint8_t b[8];
    tg_put64(b, (uint64_t)c->value);
    return mk_buf_append(result, b, 8);
}

static inline int tg_counter_query(void *st, const uint8_t *q, size_t len, mk_buf *result) {
    (void)q;
    (void)len;
    tg_counter *c = st;
    uint8_t b[8];
    tg_put64(b, (uint64_t)c->value);
    return mk_buf_append(result, b, 8);
}

static inline int tg_counter_snapshot(void *st, mk_buf *out) {
    tg_counter *c = st;
    uint8_t b[8];
    tg_put64(b, (uint64_t)c->value);
    return mk_buf_append(out, b, 8);
}

static inline int tg_counter_restore(void *st, const uint8_t *data, size_t len) {
    if (len != 8) return MK_EMALFORMED;
    ((tg_counter *)st)->value = tg_get64(data);
    return 0;
}

static inline mk_group_sm tg_counter_sm(tg_counter *c) {
    mk_group_sm sm = {tg_counter_apply, tg_counter_query, tg_counter_snapshot, tg_counter_restore,
                      c};
    return sm;
}

static inline int tg_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline void tg_rmrf(const char *dir) {
    nftw(dir, tg_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh temp dir; tg_dir_free removes it and frees the string. */
static inline char *tg_tmpdir(const char *tag) {
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "/tmp/mk-groups-%s-XXXXXX", tag);
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    d = strdup(d);
    tg_keep((void **)tg_live.dirs, d);
    return d;
}

static inline void tg_dir_free(char *dir) {
    if (!dir) return;
    tg_forget((void **)tg_live.dirs, dir);
    tg_rmrf(dir);
    free(dir);
}

/* The teardown of every networked test: stop what the test left running. */
static inline int tg_teardown(void **state) {
    (void)state;
    for (int i = 0; i < TG_LIVE; i++)
        if (tg_live.thread_on[i]) {
            pthread_join(tg_live.threads[i], NULL);
            tg_live.thread_on[i] = false;
        }
    for (int i = 0; i < TG_LIVE; i++)
        if (tg_live.pids[i]) {
            kill(tg_live.pids[i], SIGKILL);
            waitpid(tg_live.pids[i], NULL, 0);
            tg_live.pids[i] = 0;
        }
    for (int i = 0; i < TG_LIVE; i++)
        if (tg_live.colls[i]) mk_collection_free(tg_live.colls[i]), tg_live.colls[i] = NULL;
    for (int i = 0; i < TG_LIVE; i++)
        if (tg_live.groups[i]) mk_group_free(tg_live.groups[i]), tg_live.groups[i] = NULL;
    for (int i = 0; i < TG_LIVE; i++)
        if (tg_live.nets[i]) mk_network_free(tg_live.nets[i]), tg_live.nets[i] = NULL;
    for (int i = 0; i < TG_LIVE; i++)
        if (tg_live.dirs[i]) {
            tg_rmrf(tg_live.dirs[i]);
            free(tg_live.dirs[i]);
            tg_live.dirs[i] = NULL;
        }
    return 0;
}

/* How many things a test left behind (0 after a clean run). */
static inline int tg_left(void) {
    int n = 0;
    for (int i = 0; i < TG_LIVE; i++)
        n += !!tg_live.nets[i] + !!tg_live.groups[i] + !!tg_live.colls[i] + !!tg_live.dirs[i] +
             tg_live.thread_on[i] + !!tg_live.pids[i];
    return n;
}

static inline int64_t tg_add(mk_group *g, int64_t delta, uint32_t timeout_ms) {
    uint8_t cmd[8];
    tg_put64(cmd, (uint64_t)delta);
    mk_buf res = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    int rc = mk_group_apply(g, cmd, 8, &res, timeout_ms, &err);
    if (rc != 0) {
        print_message("apply: %s (%s)\n", mk_strerror(rc), err.msg);
        mk_buf_free(&res);
        return INT64_MIN;
    }
    assert_int_equal(res.len, 8);
    int64_t v = tg_get64(res.data);
    mk_buf_free(&res);
    return v;
}

/* Whether g has judged peer's entry (any verdict), and whether it refused
 * it: a verdict in its validation cache (admit.c), the evidence that a peer
 * which must never bond had its chance. */
static inline bool tg_judged_as(mk_group *g, const mk_id *peer, bool want_refused) {
    bool found = false;
    pthread_mutex_lock(&g->bmu);
    for (size_t i = 0; i < g->n_vc; i++)
        if (mk_id_eq(&g->vc[i].peer, peer) && (!want_refused || g->vc[i].rc < 0)) found = true;
    pthread_mutex_unlock(&g->bmu);
    return found;
}
static inline bool tg_judged_refused(mk_group *g, const mk_id *peer) {
    return tg_judged_as(g, peer, true);
}

#endif
