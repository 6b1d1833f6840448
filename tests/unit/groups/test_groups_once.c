/*
 * Exactly-once commands (issue 11 §3), in one process: three members and a
 * state machine that counts how often each command tag was applied. Six
 * client threads (two per member: on the leader and forwarded from the
 * followers) push thousands of uniquely tagged commands while a fault
 * thread cuts the bond between the leader and a follower
 * (mk_group_partition) and moves leadership (mk_group_transfer), so calls
 * are in flight when the bond to the leader drops or leadership moves.
 * Then every member must have applied every tag at most once, every
 * acknowledged tag exactly once, and every acknowledgement must carry the
 * first application's result (1).
 *
 * Networked tests keep what they start in a fixture that the teardown
 * frees (workers joined, groups and networks freed, directories removed),
 * so a failed assertion does not leave threads behind for the next test.
 */
#include <stdatomic.h>

#include "test_groups_util.h"

#include "groups/groups_internal.h"

/* ----- the tag-counting state machine ------------------------------------- */

#define MAXTAG 65536

/* cmd = tag u64; result = how often the tag has been applied (u32);
 * query "" = [applied twice or more: u32][distinct tags: u32],
 * query tag u64 = its count (u32). */
typedef struct tagsm {
    uint8_t cnt[MAXTAG];
    uint32_t dups, distinct;
} tagsm;

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int tag_apply(void *st, const uint8_t *cmd, size_t len, mk_buf *result) {
    tagsm *s = st;
    if (len != 8) return MK_EMALFORMED;
    uint64_t t = (uint64_t)tg_get64(cmd);
    if (t >= MAXTAG) return MK_EINVAL;
    if (s->cnt[t] == 0) s->distinct++;
    if (s->cnt[t] == 1) s->dups++;
    if (s->cnt[t] < 255) s->cnt[t]++;
    uint8_t b[4];
    put32(b, s->cnt[t]);
    return mk_buf_append(result, b, 4);
}

static int tag_query(void *st, const uint8_t *q, size_t len, mk_buf *result) {
    tagsm *s = st;
    uint8_t b[8];
    if (len == 8) {
        uint64_t t = (uint64_t)tg_get64(q);
        put32(b, t < MAXTAG ? s->cnt[t] : 0);
        return mk_buf_append(result, b, 4);
    }
    put32(b, s->dups);
    put32(b + 4, s->distinct);
    return mk_buf_append(result, b, 8);
}

static int tag_snapshot(void *st, mk_buf *out) {
    tagsm *s = st;
    uint8_t b[8];
    put32(b, s->dups);
    put32(b + 4, s->distinct);
    int rc = mk_buf_append(out, b, 8);
    return rc < 0 ? rc : mk_buf_append(out, s->cnt, sizeof s->cnt);
}

static int tag_restore(void *st, const uint8_t *data, size_t len) {
    tagsm *s = st;
    if (len != 8 + sizeof s->cnt) return MK_EMALFORMED;
    s->dups = get32(data);
    s->distinct = get32(data + 4);
    memcpy(s->cnt, data + 8, sizeof s->cnt);
    return 0;
}

/* ----- members ------------------------------------------------------------- */

typedef struct onode {
    mk_network *nw;
    mk_group *g;
    tagsm *sm_state;
    mk_group_sm sm;
    char *dir;
    mk_id id;
} onode;

static void on_start(onode *n, const char *tag, mk_network *boot) {
    memset(n, 0, sizeof *n);
    n->nw = tg_net("groups-once", boot);
    mk_network_peer_id(n->nw, &n->id);
    n->dir = tg_tmpdir(tag);
    n->sm_state = calloc(1, sizeof *n->sm_state);
    assert_non_null(n->sm_state);
}

static void on_join(onode *n, bool boot) {
    mk_group_config cfg;
    mk_group_config_init(&cfg);
    mk_id_from_name(&cfg.key, "test.once.key");
    mk_id_from_name(&cfg.sm_signature, "test.tags.v1");
    n->sm = (mk_group_sm){tag_apply, tag_query, tag_snapshot, tag_restore, n->sm_state};
    cfg.sm = &n->sm;
    cfg.data_dir = n->dir;
    cfg.bootstrap = boot;
    cfg.election_ms = 300;
    cfg.heartbeat_ms = 50;
    cfg.tick_ms = 50;
    cfg.snapshot_threshold = 512; /* sessions travel in snapshots too */
    cfg.snapshot_trailing = 64;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_group_join(n->nw, &cfg, &n->g, &err), 0, &err);
}

static void on_free(onode *n) {
    mk_group_free(n->g);
    n->g = NULL;
    mk_network_free(n->nw);
    n->nw = NULL;
    if (n->dir) tg_rmrf(n->dir);
    free(n->dir);
    n->dir = NULL;
    free(n->sm_state);
    n->sm_state = NULL;
}

/* ----- the fixture --------------------------------------------------------- */

#define NN 3
#define NW 6
#define PER_WORKER 10000 /* tags per worker (NW * PER_WORKER < MAXTAG) */
#define FAULTS 24

typedef struct fx {
    onode ns[NN];
    pthread_t th[NW];
    bool started[NW];
    struct worker {
        struct fx *fx;
        int idx;
        uint64_t done, acked, bad_result, failed;
        uint8_t *acked_tag; /* per tag of this worker */
    } w[NW];
    atomic_bool stop;
} fx;

static int fx_setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state) {
    fx *f = *state;
    atomic_store(&f->stop, true);
    for (int i = 0; i < NW; i++)
        if (f->started[i]) pthread_join(f->th[i], NULL);
    for (int i = 0; i < NN; i++)
        if (f->ns[i].nw || f->ns[i].dir) on_free(&f->ns[i]);
    for (int i = 0; i < NW; i++)
        free(f->w[i].acked_tag);
    free(f);
    return 0;
}

static int leader_of(onode *ns) {
    for (int i = 0; i < NN; i++) {
        mk_group_status s;
        mk_group_status_get(ns[i].g, &s);
        if (s.is_leader) return i;
    }
    return -1;
}

static void form_group(fx *f) {
    on_start(&f->ns[0], "once-a", NULL);
    on_start(&f->ns[1], "once-b", f->ns[0].nw);
    on_start(&f->ns[2], "once-c", f->ns[0].nw);
    on_join(&f->ns[0], true);
    on_join(&f->ns[1], false);
    on_join(&f->ns[2], false);
    assert_int_equal(mk_group_wait(f->ns[0].g, MK_GROUP_IS_LEADER, 0, 15000), 0);
    assert_int_equal(mk_group_wait(f->ns[0].g, MK_GROUP_MEMBERS, 3, 15000), 0);
    mk_group_status s;
    TG_WAIT((mk_group_status_get(f->ns[0].g, &s), s.voters == 3), 15000, "three voters");
    for (int i = 0; i < NN; i++)
        assert_int_equal(mk_group_wait(f->ns[i].g, MK_GROUP_ONLINE, 0, 15000), 0);
}

/* A worker: PER_WORKER commands with its own tags through its member. */
static void *worker_main(void *arg) {
    struct worker *w = arg;
    fx *f = w->fx;
    mk_group *g = f->ns[w->idx % NN].g;
    for (uint64_t k = 0; k < PER_WORKER && !atomic_load(&f->stop); k++) {
        uint64_t tag = (uint64_t)w->idx * PER_WORKER + k;
        uint8_t cmd[8];
        tg_put64(cmd, tag);
        mk_buf res = MK_BUF_INIT;
        mk_error err;
        mk_error_clear(&err);
        int rc = mk_group_apply(g, cmd, 8, &res, 10000, &err);
        w->done++;
        if (rc == 0) {
            w->acked++;
            w->acked_tag[k] = 1;
            if (res.len != 4 || get32(res.data) != 1) w->bad_result++;
        } else {
            w->failed++;
        }
        mk_buf_free(&res);
    }
    return NULL;
}

static bool workers_busy(fx *f) {
    for (int i = 0; i < NW; i++)
        if (f->w[i].done < PER_WORKER) return true;
    return false;
}

/* Query member i's tag counts (weak: its own applied state). */
static void tag_totals(onode *n, uint32_t *dups, uint32_t *distinct) {
    mk_buf q = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_group_query(n->g, MK_GROUP_WEAK, "", 0, &q, 0, &err), 0, &err);
    assert_int_equal(q.len, 8);
    *dups = get32(q.data);
    *distinct = get32(q.data + 4);
    mk_buf_free(&q);
}

static uint32_t tag_count(onode *n, uint64_t tag) {
    uint8_t t[8];
    tg_put64(t, tag);
    mk_buf q = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_group_query(n->g, MK_GROUP_WEAK, t, 8, &q, 0, &err), 0, &err);
    uint32_t c = get32(q.data);
    mk_buf_free(&q);
    return c;
}

/* One fault: cut the leader from a follower for a while, or move
 * leadership; calls are in flight all along. */
static void fault(fx *f, unsigned i, uint64_t *cuts, uint64_t *moves) {
    int l = leader_of(f->ns);
    if (l < 0) {
        tg_sleep_ms(100);
        return;
    }
    int o = (l + 1 + (int)(i % 2)) % NN;
    if (i % 3 == 2) {
        mk_error err;
        (void)mk_group_transfer(f->ns[l].g, &f->ns[o].id, &err);
        (*moves)++;
        tg_sleep_ms(400);
        return;
    }
    mk_group_partition(f->ns[l].g, &f->ns[o].id, true);
    mk_group_partition(f->ns[o].g, &f->ns[l].id, true);
    tg_sleep_ms(150 + 50 * (i % 4));
    mk_group_partition(f->ns[l].g, &f->ns[o].id, false);
    mk_group_partition(f->ns[o].g, &f->ns[l].id, false);
    (*cuts)++;
    tg_sleep_ms(250);
}

static void test_no_duplicates_under_faults(void **state) {
    fx *f = *state;
    form_group(f);
    for (int i = 0; i < NW; i++) {
        f->w[i].fx = f;
        f->w[i].idx = i;
        f->w[i].acked_tag = calloc(PER_WORKER, 1);
        assert_non_null(f->w[i].acked_tag);
    }
    for (int i = 0; i < NW; i++) {
        assert_int_equal(pthread_create(&f->th[i], NULL, worker_main, &f->w[i]), 0);
        f->started[i] = true;
    }
    uint64_t t0 = tg_now_ms(), cuts = 0, moves = 0;
    for (unsigned i = 0; i < FAULTS && workers_busy(f); i++)
        fault(f, i, &cuts, &moves);
    atomic_store(&f->stop, true);
    for (int i = 0; i < NW; i++) {
        pthread_join(f->th[i], NULL);
        f->started[i] = false;
    }
    uint64_t acked = 0, failed = 0, bad = 0;
    for (int i = 0; i < NW; i++) {
        acked += f->w[i].acked;
        failed += f->w[i].failed;
        bad += f->w[i].bad_result;
    }
    print_message("# %llu acked, %llu failed, %llu cuts, %llu leader moves in %llu ms\n",
                  (unsigned long long)acked, (unsigned long long)failed, (unsigned long long)cuts,
                  (unsigned long long)moves, (unsigned long long)(tg_now_ms() - t0));
    assert_true(acked >= 3000);
    assert_true(cuts + moves >= FAULTS / 2);

    /* Let every member catch up with the leader, then count. */
    int l = -1;
    TG_WAIT((l = leader_of(f->ns)) >= 0, 15000, "a leader");
    assert_int_equal(mk_group_apply(f->ns[l].g, (uint8_t[8]){0, 0, 0, 0, 0, 0, 0xff, 0xff}, 8, NULL,
                                    10000, NULL),
                     0);
    mk_group_status s;
    mk_group_status_get(f->ns[l].g, &s);
    for (int i = 0; i < NN; i++) {
        assert_int_equal(mk_group_wait(f->ns[i].g, MK_GROUP_INDEX, s.applied, 15000), 0);
        uint32_t dups, distinct;
        tag_totals(&f->ns[i], &dups, &distinct);
        print_message("# member %d: %u distinct tags, %u applied more than once\n", i, distinct,
                      dups);
        assert_int_equal(dups, 0);
        assert_true(distinct >= acked);
    }
    /* Every acknowledged tag applied exactly once on every member, and its
     * acknowledgement carried the first application's result. */
    for (int i = 0; i < NW; i++)
        for (uint64_t k = 0; k < PER_WORKER; k++)
            if (f->w[i].acked_tag[k])
                for (int m = 0; m < NN; m++)
                    assert_int_equal(tag_count(&f->ns[m], (uint64_t)i * PER_WORKER + k), 1);
    assert_int_equal(bad, 0);
}

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_duplicates_under_faults, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
