/*
 * loop.c — the group's loop thread: the job queue into it, its timers, the
 * status snapshot, and shutdown.
 *
 * Algorithm. Each group runs a libuv loop on a thread of its own; raft
 * (raft_uv), the bridge and the proposals live there. Other threads talk
 * to it through jobs: mk_gjob_push appends under g->qmu and wakes the loop
 * (mk_gloop_wake); on_wake takes the whole queue and runs each job in
 * order (run_job).
 *
 * Wake-ups. The loop watches an eventfd of its own (g->wake_fd, a uv_poll
 * handle), not a uv_async: libuv's async handler spins (and then yields)
 * while a sender sits between its two steps, which on a busy machine
 * costs whole time slices per wake-up. g->wake_pending (under g->qmu) is
 * set by the first push after the loop took the queue, and only that push
 * writes the eventfd; on_wake drains the eventfd *before* it takes the
 * queue and clears the flag, so a job is either taken by this pass or its
 * push writes the eventfd again. A burst of jobs costs one write and one
 * read. Two timers: the tick (tick_ms: bond expiry, seeking
 * members, reconciliation, stale forwards) and the fast tick (10 ms: the
 * bridge's stashed chunks, the status snapshot that waiters watch).
 *
 * Shutdown. mk_group_free sets g->stopping (no job is accepted after) and
 * wakes the loop; on_wake then begins the shutdown: the timers stop,
 * raft closes, and raft's close callback closes raft_uv, completes every
 * pending proposal and forward with MK_ESTATE and closes the loop's
 * handles, after which uv_run returns and the thread ends.
 *
 * SIGPIPE. Raft's streams and the bridge's pumps are socketpairs written
 * with write(2) on this thread: a write after the other end closed must
 * give EPIPE, not kill the process. The thread is created with SIGPIPE
 * blocked (mk_gloop_spawn) and blocks it again at its start; the process's
 * disposition is left alone.
 *
 * Invariants: a job is owned by the queue, then by the loop, and freed
 * exactly once (mk_gjob_free completes its waiter or forwarder if it still
 * has one); jobs dequeued while stopping are freed with MK_ESTATE unrun.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/resource.h"
#include "groups/groups_internal.h"
#include "mosaik/clock.h"

/* ----- jobs ---------------------------------------------------------------- */

void mk_gjob_free(mk_group *g, mk_gjob *j, int status) {
    if (j->w) mk_gwaiter_complete(g, j->w, status, NULL, 0, "group stopped");
    if (j->conn) {
        if (j->type == MK_GJ_FWD_IN && status < 0)
            mk_gtarget_complete(g, NULL, mk_transport_conn_ref(j->conn), j->seq, status, NULL, 0,
                                NULL);
        mk_transport_conn_unref(j->conn);
    }
    mk_buf_free(&j->data);
    free(j);
}

mk_gjob *mk_gjob_new(int type) {
    mk_gjob *j = calloc(1, sizeof *j);
    if (j) {
        j->type = type;
        mk_buf_init(&j->data, MK_GF_MAX_FRAME);
    }
    return j;
}

/* Write the eventfd (after the flag was raised under qmu). */
static void wake_write(mk_group *g) {
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(g->wake_fd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
    /* EAGAIN: the counter is at its maximum, so the loop wakes anyway. */
}

void mk_gloop_wake(mk_group *g) {
    pthread_mutex_lock(&g->qmu);
    bool first = !g->wake_pending;
    g->wake_pending = true;
    pthread_mutex_unlock(&g->qmu);
    if (first) wake_write(g);
}

int mk_gjob_push(mk_group *g, mk_gjob *j) {
    pthread_mutex_lock(&g->qmu);
    if (g->stopping) {
        pthread_mutex_unlock(&g->qmu);
        mk_gjob_free(g, j, MK_ESTATE);
        return MK_ESTATE;
    }
    if (g->qtail)
        g->qtail->next = j;
    else
        g->qhead = j;
    g->qtail = j;
    bool first = !g->wake_pending;
    g->wake_pending = true;
    pthread_mutex_unlock(&g->qmu);
    if (first) wake_write(g);
    return 0;
}

/* ----- timers and status --------------------------------------------------- */

static void on_tick(uv_timer_t *t) {
    mk_group *g = t->data;
    if (g->loop_stopping) return;
    mk_gbond_expire(g);
    mk_gbond_seek(g);
    mk_gmember_reconcile(g);
    mk_gprop_fwd_purge(g, false);
}

void mk_gloop_update_status(mk_group *g) {
    unsigned nb = 0;
    int64_t now = mk_now();
    pthread_mutex_lock(&g->bmu);
    for (mk_gbond *b = g->bonds; b; b = b->next)
        if (mk_gbond_ok(b, now) && !mk_group_is_cut(g, &b->peer)) nb++;
    unsigned nvc = (unsigned)g->n_vc;
    pthread_mutex_unlock(&g->bmu);
    pthread_mutex_lock(&g->smu);
    mk_group_status *s = &g->st;
    s->is_leader = raft_state(&g->raft) == RAFT_LEADER;
    s->leader_known = mk_gprop_leader_peer(g, &s->leader);
    s->term = g->raft.current_term;
    if (raft_last_applied(&g->raft) > s->applied) s->applied = raft_last_applied(&g->raft);
    /* Online means caught up with the leader: a follower's own commit index
     * stops at what it stored, so the leader's (from its AppendEntries in
     * this term, raftgate.c) counts. */
    s->commit = g->raft.commit_index;
    if (!s->is_leader && mk_ggate_leader_commit(g) > s->commit)
        s->commit = mk_ggate_leader_commit(g);
    s->members = g->raft.configuration.n;
    s->voters = 0;
    s->in_config = false;
    g->n_members = 0;
    for (unsigned i = 0; i < g->raft.configuration.n; i++) {
        const struct raft_server *sv = &g->raft.configuration.servers[i];
        if (sv->role == RAFT_VOTER) s->voters++;
        if (sv->id == g->self_rid) s->in_config = true;
        mk_group_member *m = &g->members[g->n_members];
        if (g->n_members == MK_GROUP_MAX_MEMBERS || !sv->address ||
            mk_id_from_hex(&m->peer, sv->address, NULL) < 0)
            continue;
        m->voter = sv->role == RAFT_VOTER;
        m->self = sv->id == g->self_rid;
        m->leader = s->leader_known && mk_id_eq(&m->peer, &s->leader);
        m->bonded = false;
        g->n_members++;
    }
    s->bonds = nb;
    s->vcache = nvc;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->smu);
}

static void on_fast(uv_timer_t *t) {
    mk_group *g = t->data;
    if (g->loop_stopping) return;
    mk_gbridge_flush(g);
    mk_gloop_update_status(g);
}

/* ----- shutdown ------------------------------------------------------------ */

static void handle_closed(uv_handle_t *h) {
    (void)h;
}

static void raft_closed(struct raft *r) {
    mk_group *g = r->data;
    raft_uv_close(&g->io);
    g->raft_closed = true;
    mk_gprop_stop(g);
    uv_close((uv_handle_t *)&g->tick, handle_closed);
    uv_close((uv_handle_t *)&g->fast, handle_closed);
    uv_close((uv_handle_t *)&g->wake, handle_closed);
}

void mk_gloop_begin_shutdown(mk_group *g) {
    if (g->loop_stopping) return;
    g->loop_stopping = true;
    uv_timer_stop(&g->tick);
    uv_timer_stop(&g->fast);
    g->raft.data = g;
    raft_close(&g->raft, raft_closed);
}

/* ----- the loop ------------------------------------------------------------ */

static void run_job(mk_group *g, mk_gjob *j) {
    switch (j->type) {
    case MK_GJ_PROPOSE:
        mk_gprop_propose(g, j);
        break;
    case MK_GJ_OPEN:
        mk_gbridge_on_open(g, &j->peer, j->conn, j->chan);
        break;
    case MK_GJ_DATA:
        mk_gbridge_on_data(g, &j->peer, j->role, j->dir, j->chan, j->data.data, j->data.len);
        break;
    case MK_GJ_CLOSE:
        mk_gbridge_on_close(g, &j->peer, j->dir, j->chan);
        break;
    case MK_GJ_FWD_IN:
        mk_gprop_fwd_in(g, j);
        break;
    case MK_GJ_FWD_RES:
        mk_gprop_fwd_res(g, j);
        break;
    case MK_GJ_PEER_DOWN:
        mk_gbridge_peer_down(g, &j->peer);
        mk_gprop_fwd_fail_peer(g, &j->peer);
        break;
    case MK_GJ_TRANSFER:
        mk_gprop_transfer(g, j);
        break;
    default:
        break;
    }
}

static void on_wake(uv_poll_t *h, int status, int events) {
    (void)status;
    (void)events;
    mk_group *g = h->data;
    uint64_t n;
    while (read(g->wake_fd, &n, sizeof n) < 0 && errno == EINTR) {
    }
    pthread_mutex_lock(&g->qmu);
    mk_gjob *list = g->qhead;
    g->qhead = g->qtail = NULL;
    g->wake_pending = false;
    bool stop = g->stopping;
    pthread_mutex_unlock(&g->qmu);
    while (list) {
        mk_gjob *j = list;
        list = j->next;
        if (!g->loop_stopping) run_job(g, j);
        mk_gjob_free(g, j, g->loop_stopping ? MK_ESTATE : 0);
    }
    if (!g->loop_stopping) mk_gbridge_connected(g, NULL);
    if (stop) mk_gloop_begin_shutdown(g);
}

static void *loop_main(void *arg) {
    mk_group *g = arg;
    /* Raft's streams and the bridge's pumps are socketpairs written with
     * write(2) on this thread: a write after the other end closed must
     * give EPIPE, not kill the process. Blocked here, for this thread
     * only (it is also blocked from creation: see mk_gloop_spawn); the
     * process's disposition is left alone. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    uv_run(&g->loop, UV_RUN_DEFAULT);
    return NULL;
}

int mk_gloop_init(mk_group *g, mk_error *err) {
    /* The loop's epoll fd and its own wake-up eventfd, and ours: without
     * them libuv's failure paths are not clean, so look first, then check
     * each step. */
    int rc = mk_resource_fds_available(3, "group: the event loop", err);
    if (rc < 0) return rc;
    g->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (g->wake_fd < 0) return mk_resource_error(err, -errno, "group: the loop's wake-up handle");
    if ((rc = uv_loop_init(&g->loop)) != 0) {
        close(g->wake_fd);
        g->wake_fd = -1;
        return mk_resource_error(err, rc, "group: the event loop");
    }
    bool inited = (rc = uv_poll_init(&g->loop, &g->wake, g->wake_fd)) == 0;
    if (inited) rc = uv_poll_start(&g->wake, UV_READABLE, on_wake);
    if (rc != 0) {
        if (inited) uv_close((uv_handle_t *)&g->wake, NULL);
        uv_run(&g->loop, UV_RUN_DEFAULT);
        uv_loop_close(&g->loop);
        close(g->wake_fd);
        g->wake_fd = -1;
        return mk_resource_error(err, rc, "group: the loop's wake-up handle");
    }
    g->wake.data = g;
    uv_timer_init(&g->loop, &g->tick);
    uv_timer_init(&g->loop, &g->fast);
    g->tick.data = g->fast.data = g;
    return 0;
}

void mk_gloop_start_timers(mk_group *g) {
    uv_timer_start(&g->tick, on_tick, g->cfg.tick_ms, g->cfg.tick_ms);
    uv_timer_start(&g->fast, on_fast, 10, 10);
}

int mk_gloop_spawn(mk_group *g, mk_error *err) {
    /* The loop thread inherits a mask with SIGPIPE blocked. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int rc = 0;
    if (pthread_create(&g->thread, NULL, loop_main, g) != 0)
        rc = mk_error_set(err, MK_ENOMEM, "cannot start the group thread");
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
