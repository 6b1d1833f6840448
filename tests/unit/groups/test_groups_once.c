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

#include "groups_util.h"

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

static void on_join(onode *n, bool boot, unsigned snap_threshold) {
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
    cfg.snapshot_threshold = snap_threshold; /* sessions travel in snapshots too */
    cfg.snapshot_trailing = snap_threshold / 8;
    mk_error err;
    mk_error_clear(&err);
    TU_ASSERT_RC(mk_group_new(n->nw, &cfg, &n->g, &err), 0, &err);
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

#define NN 3 /* members of the fault test; a late joiner is the fourth */
#define NW 6
#define PER_WORKER 10000 /* tags per worker (NW * PER_WORKER < MAXTAG) */
#define FAULTS 24

typedef struct fx {
    onode ns[NN + 1];
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
    for (int i = 0; i < NN + 1; i++)
        if (f->ns[i].nw || f->ns[i].dir || f->ns[i].sm_state) on_free(&f->ns[i]);
    for (int i = 0; i < NW; i++)
        free(f->w[i].acked_tag);
    free(f);
    return 0;
}

static int leader_of_n(onode *ns, int n) {
    for (int i = 0; i < n; i++) {
        if (!ns[i].g) continue;
        mk_group_status s;
        mk_group_status_get(ns[i].g, &s);
        if (s.is_leader) return i;
    }
    return -1;
}

static int leader_of(onode *ns) {
    return leader_of_n(ns, NN);
}

static void form_group(fx *f, unsigned snap_threshold) {
    on_start(&f->ns[0], "once-a", NULL);
    on_start(&f->ns[1], "once-b", f->ns[0].nw);
    on_start(&f->ns[2], "once-c", f->ns[0].nw);
    on_join(&f->ns[0], true, snap_threshold);
    on_join(&f->ns[1], false, snap_threshold);
    on_join(&f->ns[2], false, snap_threshold);
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
    form_group(f, 512);
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

/* ----- the same tagged command twice, snapshots, restarts ----------------- */

/* Propose a command with a chosen tag through g's loop (as call.c does),
 * without waiting: the waiter (two references: ours and the loop's). */
static mk_gwaiter *propose_tagged(mk_group *g, uint64_t cid, uint64_t seq, uint64_t tag) {
    mk_gwaiter *w = mk_gwaiter_new();
    mk_gjob *j = mk_gjob_new(MK_GJ_PROPOSE);
    assert_non_null(w);
    assert_non_null(j);
    j->kind = MK_FWD_ONCE;
    j->w = w;
    uint8_t cmd[8];
    tg_put64(cmd, tag);
    assert_int_equal(mk_buf_append_u64be(&j->data, cid), 0);
    assert_int_equal(mk_buf_append_u64be(&j->data, seq), 0);
    assert_int_equal(mk_buf_append_u64be(&j->data, seq), 0); /* floor */
    assert_int_equal(mk_buf_append(&j->data, cmd, 8), 0);
    assert_int_equal(mk_gjob_push(g, j), 0);
    return w;
}

/* Wait for w, release it: its status; *count the tag count it returned. */
static int waiter_result(mk_group *g, mk_gwaiter *w, uint32_t *count) {
    uint64_t t0 = tg_now_ms();
    pthread_mutex_lock(&g->smu);
    while (!w->done && tg_now_ms() - t0 < 15000) {
        pthread_mutex_unlock(&g->smu);
        tg_sleep_ms(5);
        pthread_mutex_lock(&g->smu);
    }
    bool done = w->done;
    int st = w->status;
    *count = w->result.len == 4 ? get32(w->result.data) : 0;
    mk_gwaiter_release_locked(w);
    pthread_mutex_unlock(&g->smu);
    if (!done) fail_msg("tagged command not answered");
    return st;
}

static mk_group_status status_of(onode *n) {
    mk_group_status s;
    mk_group_status_get(n->g, &s);
    return s;
}

/* Member n's table knows (rid, cid, seq) with result count 1. */
static void knows(onode *n, uint64_t rid, uint64_t cid, uint64_t seq) {
    int st = -1;
    const uint8_t *d = NULL;
    size_t dl = 0;
    pthread_mutex_lock(&n->g->smu);
    int cls = mk_gsess_check(n->g->sessions, rid, cid, seq, &st, &d, &dl);
    bool one = dl == 4 && get32(d) == 1;
    pthread_mutex_unlock(&n->g->smu);
    assert_int_equal(cls, MK_GSESS_DUP);
    assert_int_equal(st, 0);
    assert_true(one);
}

static void test_same_tag_twice_and_snapshot(void **state) {
    fx *f = *state;
    form_group(f, 16);
    int l = leader_of(f->ns);
    assert_true(l >= 0);
    onode *L = &f->ns[l];
    const uint64_t cid = 0xC1D, seq = 7, tag = 42;
    /* Two proposals of one tagged command in one loop turn: both are
     * appended (the first is not applied yet), the second is filtered. */
    mk_gwaiter *w1 = propose_tagged(L->g, cid, seq, tag);
    mk_gwaiter *w2 = propose_tagged(L->g, cid, seq, tag);
    uint32_t c1, c2;
    assert_int_equal(waiter_result(L->g, w1, &c1), 0);
    assert_int_equal(waiter_result(L->g, w2, &c2), 0);
    assert_int_equal(c1, 1);
    assert_int_equal(c2, 1); /* the first application's result */
    /* Enough commands for snapshots (threshold 16), then converge. */
    for (int i = 0; i < 40; i++)
        assert_int_equal(mk_group_apply(f->ns[i % NN].g, (uint8_t[8]){0, 0, 0, 0, 0, 0, 1, i}, 8,
                                        NULL, 10000, NULL),
                         0);
    mk_group_status s = status_of(L);
    for (int i = 0; i < NN; i++) {
        assert_int_equal(mk_group_wait(f->ns[i].g, MK_GROUP_INDEX, s.applied, 10000), 0);
        assert_int_equal(tag_count(&f->ns[i], tag), 1);
        mk_group_status si = status_of(&f->ns[i]);
        assert_int_equal(si.duplicates, 1); /* the same on every member */
        assert_true(si.sessions >= 2);      /* ours, and the callers' */
        knows(&f->ns[i], L->g->self_rid, cid, seq);
    }
    /* A late joiner gets the table with the snapshot. */
    on_start(&f->ns[NN], "once-d", f->ns[0].nw);
    on_join(&f->ns[NN], false, 16);
    onode *D = &f->ns[NN];
    assert_int_equal(mk_group_wait(L->g, MK_GROUP_MEMBERS, 4, 15000), 0);
    s = status_of(L);
    assert_int_equal(mk_group_wait(D->g, MK_GROUP_INDEX, s.applied, 15000), 0);
    assert_true(status_of(D).snapshots_restored >= 1);
    knows(D, L->g->self_rid, cid, seq);
    assert_int_equal(tag_count(D, tag), 1);
    /* Leadership moves to the late joiner; the old leader sends the same
     * command again (a retry, forwarded now): answered from the table. */
    TG_WAIT(status_of(L).voters == 4, 15000, "four voters");
    mk_error err;
    mk_error_clear(&err);
    TG_WAIT((leader_of_n(f->ns, NN + 1) == NN ||
             (leader_of_n(f->ns, NN + 1) == l && (mk_group_transfer(L->g, &D->id, &err), 0)) ||
             (tg_sleep_ms(100), 0)),
            20000, "the late joiner to lead");
    TG_WAIT((s = status_of(L), s.leader_known && mk_id_eq(&s.leader, &D->id)), 10000,
            "the old leader to follow");
    mk_gwaiter *w3 = propose_tagged(L->g, cid, seq, tag);
    uint32_t c3;
    assert_int_equal(waiter_result(L->g, w3, &c3), 0);
    assert_int_equal(c3, 1);
    assert_int_equal(
        mk_group_apply(D->g, (uint8_t[8]){0, 0, 0, 0, 0, 0, 2, 0}, 8, NULL, 10000, NULL), 0);
    s = status_of(D);
    for (int i = 0; i < NN + 1; i++) {
        assert_int_equal(mk_group_wait(f->ns[i].g, MK_GROUP_INDEX, s.applied, 10000), 0);
        assert_int_equal(tag_count(&f->ns[i], tag), 1);
    }
    /* A seq below the session's floor is refused, not run. */
    mk_gwaiter *w4 = propose_tagged(L->g, cid, seq + 5, tag + 1);
    uint32_t c4;
    assert_int_equal(waiter_result(L->g, w4, &c4), 0);
    mk_gwaiter *w5 = propose_tagged(L->g, cid, seq + 1, tag + 2);
    assert_int_equal(waiter_result(L->g, w5, &c4), MK_EEXPIRED);
    s = status_of(D);
    for (int i = 0; i < NN + 1; i++) {
        assert_int_equal(mk_group_wait(f->ns[i].g, MK_GROUP_INDEX, s.applied, 10000), 0);
        assert_int_equal(tag_count(&f->ns[i], tag + 2), 0);
    }
}

/* The client id survives restarts; each start begins a new, persisted seq
 * epoch; an unreadable file means a new client id. */
static void test_client_id_persists(void **state) {
    fx *f = *state;
    onode *n = &f->ns[0];
    on_start(n, "once-cid", NULL);
    on_join(n, true, 0);
    assert_int_equal(mk_group_wait(n->g, MK_GROUP_IS_LEADER, 0, 15000), 0);
    uint64_t cid = n->g->once_cid, epoch = n->g->once_epoch;
    assert_true(cid != 0);
    uint8_t cmd[8] = {0, 0, 0, 0, 0, 0, 0, 9};
    assert_int_equal(mk_group_apply(n->g, cmd, 8, NULL, 10000, NULL), 0);
    mk_group_free(n->g);
    n->g = NULL;
    memset(n->sm_state, 0, sizeof *n->sm_state); /* a restart: the log rebuilds it */
    on_join(n, false, 0);
    assert_int_equal(n->g->once_cid, cid);
    assert_int_equal(n->g->once_epoch, epoch + 1);
    assert_int_equal(mk_group_wait(n->g, MK_GROUP_IS_LEADER, 0, 15000), 0);
    /* The raft log and snapshots do not mind the file: the state is back. */
    assert_int_equal(tag_count(n, 9), 1);
    assert_int_equal(status_of(n).sessions, 1);
    cmd[7] = 10;
    assert_int_equal(mk_group_apply(n->g, cmd, 8, NULL, 10000, NULL), 0);
    assert_int_equal(status_of(n).sessions, 1); /* the same session */
    mk_group_free(n->g);
    n->g = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/mosaik-client", n->dir);
    FILE *fp = fopen(path, "r+");
    assert_non_null(fp);
    fputc('X', fp); /* corrupt the magic */
    fclose(fp);
    memset(n->sm_state, 0, sizeof *n->sm_state);
    on_join(n, false, 0);
    assert_true(n->g->once_cid != cid);
    assert_int_equal(n->g->once_epoch, 1);
    assert_int_equal(mk_group_wait(n->g, MK_GROUP_IS_LEADER, 0, 15000), 0);
    assert_int_equal(tag_count(n, 9), 1);
    assert_int_equal(tag_count(n, 10), 1);
    cmd[7] = 11;
    assert_int_equal(mk_group_apply(n->g, cmd, 8, NULL, 10000, NULL), 0);
    assert_int_equal(status_of(n).sessions, 2); /* a new session */
}

/* The FSM's snapshot is the table then the user's snapshot; an older
 * snapshot without the table restores with an empty table; a snapshot
 * with a malformed table is refused and changes nothing. Called on a quiet
 * one-member group (fsm callbacks take g->smu). */
static void test_fsm_snapshot_compat(void **state) {
    fx *f = *state;
    onode *n = &f->ns[0];
    on_start(n, "once-snap", NULL);
    on_join(n, true, 0);
    assert_int_equal(mk_group_wait(n->g, MK_GROUP_IS_LEADER, 0, 15000), 0);
    uint8_t cmd[8] = {0, 0, 0, 0, 0, 0, 0, 5};
    assert_int_equal(mk_group_apply(n->g, cmd, 8, NULL, 10000, NULL), 0);
    struct raft_fsm *fsm = &n->g->fsm;
    struct raft_buffer *bufs = NULL;
    unsigned nb = 0;
    assert_int_equal(fsm->snapshot(fsm, &bufs, &nb), 0);
    assert_int_equal(nb, 1);
    mk_gsessions *t = NULL;
    size_t used = 0;
    assert_int_equal(mk_gsess_decode(bufs[0].base, bufs[0].len, &t, &used), 0);
    assert_true(used > 0);
    assert_int_equal(mk_gsess_count(t), 1);
    assert_int_equal(bufs[0].len - used, 8 + sizeof n->sm_state->cnt); /* the user's part */
    mk_gsess_free(t);
    /* An older snapshot: the user's bytes alone (tag 6 applied once). */
    tagsm old;
    memset(&old, 0, sizeof old);
    old.cnt[6] = 1;
    old.distinct = 1;
    mk_buf ob = MK_BUF_INIT;
    assert_int_equal(tag_snapshot(&old, &ob), 0);
    struct raft_buffer rb = {raft_malloc(ob.len), ob.len};
    memcpy(rb.base, ob.data, ob.len);
    assert_int_equal(fsm->restore(fsm, &rb), 0);
    assert_int_equal(status_of(n).sessions, 0);
    assert_int_equal(tag_count(n, 6), 1);
    assert_int_equal(tag_count(n, 5), 0);
    /* A malformed table: refused, the state stays. */
    struct raft_buffer bad = {raft_malloc(bufs[0].len), bufs[0].len};
    memcpy(bad.base, bufs[0].base, bufs[0].len);
    ((uint8_t *)bad.base)[8] = 0xff; /* session count */
    assert_int_equal(fsm->restore(fsm, &bad), RAFT_CORRUPT);
    raft_free(bad.base);
    assert_int_equal(tag_count(n, 6), 1);
    /* The new snapshot restores table and state. */
    struct raft_buffer good = {raft_malloc(bufs[0].len), bufs[0].len};
    memcpy(good.base, bufs[0].base, bufs[0].len);
    assert_int_equal(fsm->restore(fsm, &good), 0);
    assert_int_equal(status_of(n).sessions, 1);
    assert_int_equal(tag_count(n, 5), 1);
    assert_int_equal(tag_count(n, 6), 0);
    raft_free(bufs[0].base);
    raft_free(bufs);
    mk_buf_free(&ob);
}

int main(void) {
    if (getenv("TG_DEBUG")) mk_log_set_level(MK_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_id_persists, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fsm_snapshot_compat, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_same_tag_twice_and_snapshot, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_duplicates_under_faults, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
