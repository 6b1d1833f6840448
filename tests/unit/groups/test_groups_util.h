/*
 * Shared helpers of the group tests: in-process networks on loopback with
 * short discovery intervals, a counter state machine, temp data dirs.
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

#include "netutil.h"

#include "mosaik/discovery.h"
#include "mosaik/groups.h"

#define tg_sleep_ms tu_sleep_ms

static inline uint64_t tg_now_ms(void) {
    return mk_mono_ms();
}

#define TG_WAIT(pred, timeout_ms, what) ((void)TU_WAIT_UNTIL(pred, timeout_ms, what))

static inline mk_network *tg_net(const char *network, mk_network *boot) {
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = network;
    cfg.announce_ms = 300;
    cfg.sync_ms = 300;
    cfg.purge_after_ms = 20000;
    return tu_network_new(&cfg, boot);
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

/* A fresh temp dir; caller frees the string. */
static inline char *tg_tmpdir(const char *tag) {
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "/tmp/mk-groups-%s-XXXXXX", tag);
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
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

#endif
