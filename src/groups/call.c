/*
 * call.c — the blocking calls of a group's users, and their waiters.
 *
 * Algorithm. A command or strong query (call) becomes a PROPOSE job for
 * the loop with a waiter; the caller then sleeps on g->cond (a monotonic
 * condition variable) until the waiter is completed or the deadline
 * passes. The loop proposes on the leader or forwards to it (fsm.c); when
 * the answer is MK_EUNAVAILABLE (no leader, or the leader lost leadership
 * before committing) the call retries every 30 ms until its deadline, so a
 * command may commit twice across a failover (at-least-once). Weak
 * queries run on the caller's thread under g->smu; mk_group_wait sleeps
 * until the status snapshot (loop.c) meets a condition.
 *
 * Waiters. A waiter has two references: the caller's and the completer's
 * (the job, then the pending or forward record that takes it over). The
 * completer completes it once and drops its reference; the caller reads
 * the result and drops its own; the last one frees it. Both happen under
 * g->smu, so a caller that timed out never reads freed memory and a late
 * completion never writes to a freed waiter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "groups/groups_internal.h"

/* ----- waiters ------------------------------------------------------------- */

mk_gwaiter *mk_gwaiter_new(void) {
    mk_gwaiter *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->refs = 2;
    mk_buf_init(&w->result, MK_GROUP_MAX_RESULT);
    return w;
}

void mk_gwaiter_release_locked(mk_gwaiter *w) {
    if (--w->refs == 0) {
        mk_buf_free(&w->result);
        free(w);
    }
}

void mk_gwaiter_complete(mk_group *g, mk_gwaiter *w, int status, const uint8_t *data, size_t len,
                         const char *msg) {
    pthread_mutex_lock(&g->smu);
    if (!w->done) {
        w->done = true;
        w->status = status;
        if (data && len) (void)mk_buf_append(&w->result, data, len);
        if (msg) snprintf(w->msg, sizeof w->msg, "%s", msg);
    }
    mk_gwaiter_release_locked(w);
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->smu);
}

/* ----- commands and queries ------------------------------------------------ */

static int call(mk_group *g, int kind, bool unchecked, const void *data, size_t len, mk_buf *result,
                uint32_t timeout_ms, mk_error *err) {
    if (len > MK_GROUP_MAX_COMMAND) return mk_error_set(err, MK_ETOOBIG, "command too big");
    if (kind == MK_FWD_CMD && !unchecked && g->cfg.role == MK_GROUP_READER)
        return mk_error_set(err, MK_EPOLICY, "a reader cannot write");
    if (!timeout_ms) timeout_ms = MK_GROUP_DEFAULT_TIMEOUT_MS;
    uint64_t deadline = mk_sys_mono_ms() + timeout_ms;
    for (;;) {
        mk_gwaiter *w = mk_gwaiter_new();
        mk_gjob *j = mk_gjob_new(MK_GJ_PROPOSE);
        if (!w || !j || mk_buf_append(&j->data, data, len) < 0) {
            if (w) {
                mk_buf_free(&w->result);
                free(w);
            }
            if (j) mk_gjob_free(g, j, 0);
            return mk_error_set(err, MK_ENOMEM, "out of memory");
        }
        j->kind = (uint8_t)kind;
        j->w = w;
        /* w has two references: ours, and the completer's (job, pending
         * record or forward record), released when it completes w. */
        if (mk_gjob_push(g, j) < 0) {
            pthread_mutex_lock(&g->smu);
            mk_gwaiter_release_locked(w);
            pthread_mutex_unlock(&g->smu);
            return mk_error_set(err, MK_ESTATE, "group stopped");
        }
        struct timespec ts;
        uint64_t now = mk_sys_mono_ms();
        mk_deadline_after(&ts, (uint32_t)(deadline > now ? deadline - now : 0));
        pthread_mutex_lock(&g->smu);
        while (!w->done)
            if (pthread_cond_timedwait(&g->cond, &g->smu, &ts) == ETIMEDOUT) break;
        bool done = w->done;
        int st = w->status;
        if (done && result && w->result.len)
            (void)mk_buf_append(result, w->result.data, w->result.len);
        char msg[sizeof w->msg];
        memcpy(msg, w->msg, sizeof msg);
        mk_gwaiter_release_locked(w);
        pthread_mutex_unlock(&g->smu);
        if (!done) return mk_error_set(err, MK_ETIMEDOUT, "no commit within %u ms", timeout_ms);
        if (st == MK_EUNAVAILABLE && mk_sys_mono_ms() + 30 < deadline) {
            mk_sleep_ms(30);
            continue;
        }
        if (st < 0) return mk_error_set(err, st, "%s", msg[0] ? msg : mk_strerror(st));
        return st;
    }
}

int mk_group_apply(mk_group *g, const void *cmd, size_t len, mk_buf *result, uint32_t timeout_ms,
                   mk_error *err) {
    return call(g, MK_FWD_CMD, false, cmd, len, result, timeout_ms, err);
}

int mk_group_apply_unchecked(mk_group *g, const void *cmd, size_t len, mk_buf *result,
                             uint32_t timeout_ms, mk_error *err) {
    return call(g, MK_FWD_CMD, true, cmd, len, result, timeout_ms, err);
}

int mk_group_query(mk_group *g, mk_group_consistency c, const void *q, size_t len, mk_buf *result,
                   uint32_t timeout_ms, mk_error *err) {
    if (c == MK_GROUP_STRONG) return call(g, MK_FWD_QUERY, false, q, len, result, timeout_ms, err);
    if (!g->sm.query) return mk_error_set(err, MK_EUNSUPPORTED, "no query function");
    pthread_mutex_lock(&g->smu);
    int rc = g->sm.query(g->sm.state, q, len, result);
    pthread_mutex_unlock(&g->smu);
    return rc < 0 ? mk_error_set(err, rc, "query failed") : rc;
}

/* ----- status -------------------------------------------------------------- */

static bool cond_met(const mk_group_status *s, mk_group_condition c, uint64_t arg) {
    switch (c) {
    case MK_GROUP_LEADER_KNOWN:
        return s->leader_known;
    case MK_GROUP_ONLINE:
        return s->leader_known && s->in_config && s->applied >= s->commit;
    case MK_GROUP_INDEX:
        return s->applied >= arg;
    case MK_GROUP_IS_LEADER:
        return s->is_leader;
    case MK_GROUP_MEMBERS:
        return s->members >= arg;
    }
    return false;
}

int mk_group_wait(mk_group *g, mk_group_condition c, uint64_t arg, uint32_t timeout_ms) {
    struct timespec ts;
    mk_deadline_after(&ts, timeout_ms);
    pthread_mutex_lock(&g->smu);
    int rc = 0;
    while (!cond_met(&g->st, c, arg))
        if (pthread_cond_timedwait(&g->cond, &g->smu, &ts) == ETIMEDOUT) {
            rc = cond_met(&g->st, c, arg) ? 0 : MK_ETIMEDOUT;
            break;
        }
    pthread_mutex_unlock(&g->smu);
    return rc;
}

void mk_group_status_get(mk_group *g, mk_group_status *out) {
    pthread_mutex_lock(&g->smu);
    *out = g->st;
    pthread_mutex_unlock(&g->smu);
}

bool mk_group_bonded(mk_group *g, const mk_id *peer) {
    mk_transport_conn *c = mk_group_bond_conn(g, peer);
    if (c) mk_transport_conn_unref(c);
    return c != NULL;
}

int mk_group_transfer(mk_group *g, const mk_id *to, mk_error *err) {
    mk_gjob *j = mk_gjob_new(MK_GJ_TRANSFER);
    if (!j) return mk_error_set(err, MK_ENOMEM, "out of memory");
    if (to) j->peer = *to;
    int rc = mk_gjob_push(g, j);
    return rc < 0 ? mk_error_set(err, rc, "group stopped") : 0;
}
