/*
 * call.c — the blocking calls of a group's users, their waiters, and the
 * caller's half of exactly-once.
 *
 * Algorithm. A command or strong query (call) becomes a PROPOSE job for
 * the loop with a waiter; the caller then sleeps on the waiter's own
 * monotonic condition variable (a completion wakes only its caller; the
 * status changes that wake g->cond wake no caller) until the waiter is
 * completed or the attempt's time is up. The loop proposes on the leader or forwards to it (fsm.c);
 * when the answer is MK_EUNAVAILABLE (no leader, the bond to it ended, or the leader lost
 * leadership before committing), or an attempt got no answer within ATTEMPT_MS (a paused or cut-off
 * leader), the call tries again every 30 ms until its deadline. Weak queries run on the caller's
 * thread under g->smu; mk_group_wait sleeps until the status snapshot (loop.c) meets a condition.
 *
 * Exactly-once, the caller's side (docs/groups.md). Every command gets
 * its tag once per logical call, before the first attempt, and every
 * attempt sends the same tag: [client id][seq][floor]. The client id is
 * drawn at random the first time a data directory is used and kept in
 * it (CLIENT_FILE); seq = epoch << 32 | counter, where the epoch is
 * raised and persisted (written, fsynced, renamed, directory fsynced) at
 * every join before any seq of it is used, so no seq repeats across
 * restarts. The floor is the lowest seq of this node's calls still in
 * flight (g->calls): the state machine forgets results below it. When
 * the file cannot be read or written, a fresh client id is drawn (and
 * logged): a new session, equally safe.
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

#include <fcntl.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "groups/groups_internal.h"
#include "mosaik/crypto.h"
#include "mosaik/log.h"

#define CLIENT_FILE "mosaik-client"
#define CLIENT_MAGIC "MKCL"
#define CLIENT_LEN (4 + 1 + 8 + 8 + 8) /* magic, version, cid, epoch, check */
#define RETRY_MS 30

/* ----- waiters ------------------------------------------------------------- */

mk_gwaiter *mk_gwaiter_new(void) {
    mk_gwaiter *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    if (mk_cond_init_mono(&w->cond) != 0) {
        free(w);
        return NULL;
    }
    w->refs = 2;
    mk_buf_init(&w->result, MK_GROUP_MAX_RESULT);
    return w;
}

static void waiter_destroy(mk_gwaiter *w) {
    mk_buf_free(&w->result);
    pthread_cond_destroy(&w->cond);
    free(w);
}

void mk_gwaiter_release_locked(mk_gwaiter *w) {
    if (--w->refs == 0) waiter_destroy(w);
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
    /* Only its caller waits on w->cond (signalled before the release:
     * the caller's reference keeps w alive until it has woken). */
    pthread_cond_signal(&w->cond);
    mk_gwaiter_release_locked(w);
    pthread_mutex_unlock(&g->smu);
}

/* ----- the client id and seq numbers -------------------------------------- */

static void client_check(const uint8_t *p, size_t n, uint8_t out[8]) {
    uint8_t h[MK_SHA256_LEN];
    mk_sha256(p, n, h);
    memcpy(out, h, 8);
}

/* Read (cid, epoch) from the client file: 0, or <0 (missing or bad). */
static int client_read(const char *path, uint64_t *cid, uint64_t *epoch) {
    mk_buf b = MK_BUF_INIT;
    int rc = mk_file_read(path, 64, &b, NULL);
    mk_reader r;
    mk_reader_init(&r, b.data, b.len);
    const uint8_t *m, *sum;
    uint8_t ver, want[8];
    if (rc == 0 &&
        (b.len != CLIENT_LEN || mk_read_view(&r, 4, &m) < 0 || memcmp(m, CLIENT_MAGIC, 4) != 0 ||
         mk_read_u8(&r, &ver) < 0 || ver != 1 || mk_read_u64be(&r, cid) < 0 ||
         mk_read_u64be(&r, epoch) < 0 || mk_read_view(&r, 8, &sum) < 0))
        rc = MK_EMALFORMED;
    if (rc == 0) {
        client_check(b.data, CLIENT_LEN - 8, want);
        if (memcmp(want, sum, 8) != 0 || *cid == 0) rc = MK_EMALFORMED;
    }
    mk_buf_free(&b);
    return rc;
}

/* Persist (cid, epoch): written to a temporary file, fsynced, renamed over
 * the file, and the directory fsynced. */
static int client_write(mk_group *g, const char *path) {
    uint8_t b[CLIENT_LEN];
    mk_writer w;
    mk_writer_init(&w, b, sizeof b);
    mk_write_bytes(&w, CLIENT_MAGIC, 4);
    mk_write_u8(&w, 1);
    mk_write_u64be(&w, g->once_cid);
    mk_write_u64be(&w, g->once_epoch);
    client_check(b, CLIENT_LEN - 8, b + CLIENT_LEN - 8);
    int rc = mk_file_write(path, b, sizeof b, 0600, NULL);
    if (rc < 0) return rc;
    int fd = open(g->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return MK_EIO;
    rc = fsync(fd) < 0 ? MK_EIO : 0;
    close(fd);
    return rc;
}

static void client_fresh(mk_group *g) {
    do
        (void)mk_random_bytes(&g->once_cid, sizeof g->once_cid);
    while (g->once_cid == 0);
    g->once_epoch = 1;
}

/* Start the next epoch (persisted first): at join, and when an epoch's
 * 2^32 seqs are used up (smu held then). */
static void client_next_epoch(mk_group *g, bool first) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g->data_dir, CLIENT_FILE);
    uint64_t cid, epoch;
    if (!first) {
        g->once_epoch++;
    } else if (client_read(path, &cid, &epoch) == 0) {
        g->once_cid = cid;
        g->once_epoch = epoch + 1;
    } else {
        if (access(path, F_OK) == 0)
            mk_log(MK_LOG_WARN, "groups", "%s unreadable: a new client id", path);
        client_fresh(g);
    }
    if (g->once_epoch >= UINT32_MAX) client_fresh(g);
    g->once_counter = 0;
    if (client_write(g, path) < 0) {
        mk_log(MK_LOG_WARN, "groups", "cannot persist %s: a new client id for this run", path);
        client_fresh(g);
    }
}

void mk_gcall_setup(mk_group *g) {
    client_next_epoch(g, true);
}

/* A new logical call: its seq, in g->calls (smu held). */
static void call_begin_locked(mk_group *g, mk_gcall *c) {
    if (g->once_counter == UINT32_MAX) client_next_epoch(g, false);
    c->seq = g->once_epoch << 32 | ++g->once_counter;
    c->next = g->calls;
    g->calls = c;
}

static void call_end(mk_group *g, mk_gcall *c) {
    pthread_mutex_lock(&g->smu);
    for (mk_gcall **pp = &g->calls; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    pthread_mutex_unlock(&g->smu);
}

/* The job data of a tagged command: [cid][seq][floor][cmd]. */
static int tag_command(mk_group *g, const mk_gcall *c, mk_buf *data) {
    pthread_mutex_lock(&g->smu);
    uint64_t floor = c->seq, cid = g->once_cid;
    for (const mk_gcall *o = g->calls; o; o = o->next)
        if (o->seq < floor) floor = o->seq;
    pthread_mutex_unlock(&g->smu);
    int rc = mk_buf_append_u64be(data, cid);
    if (rc == 0) rc = mk_buf_append_u64be(data, c->seq);
    if (rc == 0) rc = mk_buf_append_u64be(data, floor);
    return rc;
}

/* ----- commands and queries ------------------------------------------------ */

/* One attempt: 1 when answered (*st, result appended), 0 when its time
 * ran out, or a negative error before anything was sent. */
static int attempt(mk_group *g, int kind, const mk_gcall *c, const void *data, size_t len,
                   uint64_t until, mk_buf *result, int *st, char *msg, size_t msz) {
    mk_gwaiter *w = mk_gwaiter_new();
    mk_gjob *j = mk_gjob_new(MK_GJ_PROPOSE);
    int rc = w && j ? 0 : MK_ENOMEM;
    if (rc == 0 && kind == MK_FWD_ONCE) rc = tag_command(g, c, &j->data);
    if (rc == 0) rc = mk_buf_append(&j->data, data, len);
    if (rc < 0) {
        if (w) waiter_destroy(w);
        if (j) mk_gjob_free(g, j, 0);
        return MK_ENOMEM;
    }
    j->kind = (uint8_t)kind;
    j->w = w;
    /* w has two references: ours, and the completer's (job, pending
     * record or forward record), released when it completes w. */
    if (mk_gjob_push(g, j) < 0) {
        pthread_mutex_lock(&g->smu);
        mk_gwaiter_release_locked(w);
        pthread_mutex_unlock(&g->smu);
        return MK_ESTATE;
    }
    struct timespec ts;
    uint64_t now = mk_sys_mono_ms();
    mk_deadline_after(&ts, (uint32_t)(until > now ? until - now : 0));
    pthread_mutex_lock(&g->smu);
    while (!w->done)
        if (pthread_cond_timedwait(&w->cond, &g->smu, &ts) == ETIMEDOUT) break;
    bool done = w->done;
    *st = w->status;
    if (done && result && w->result.len) (void)mk_buf_append(result, w->result.data, w->result.len);
    snprintf(msg, msz, "%s", w->msg);
    mk_gwaiter_release_locked(w);
    pthread_mutex_unlock(&g->smu);
    return done ? 1 : 0;
}

static int call(mk_group *g, int kind, bool unchecked, const void *data, size_t len, mk_buf *result,
                uint32_t timeout_ms, mk_error *err) {
    if (len > MK_GROUP_MAX_COMMAND) return mk_error_set(err, MK_ETOOBIG, "command too big");
    if (kind == MK_FWD_CMD && !unchecked && g->cfg.role == MK_GROUP_READER)
        return mk_error_set(err, MK_EPOLICY, "a reader cannot write");
    if (!timeout_ms) timeout_ms = MK_GROUP_DEFAULT_TIMEOUT_MS;
    uint64_t deadline = mk_sys_mono_ms() + timeout_ms;
    /* A retry may go to another leader: an attempt gets a few election
     * timeouts, the tag makes the retry safe. */
    uint64_t attempt_ms = 3 * (uint64_t)g->cfg.election_ms;
    if (attempt_ms < 1000) attempt_ms = 1000;
    mk_gcall c = {0};
    if (kind == MK_FWD_CMD) {
        kind = MK_FWD_ONCE;
        pthread_mutex_lock(&g->smu);
        call_begin_locked(g, &c);
        pthread_mutex_unlock(&g->smu);
    }
    int rc;
    for (;;) {
        uint64_t now = mk_sys_mono_ms();
        uint64_t until = now + attempt_ms < deadline ? now + attempt_ms : deadline;
        int st = 0;
        char msg[sizeof((mk_gwaiter *)0)->msg];
        int a = attempt(g, kind, &c, data, len, until, result, &st, msg, sizeof msg);
        if (a < 0) {
            rc = mk_error_set(err, a, a == MK_ESTATE ? "group stopped" : "out of memory");
            break;
        }
        bool again = a == 0 || st == MK_EUNAVAILABLE;
        if (again && mk_sys_mono_ms() + RETRY_MS < deadline) {
            if (a) mk_sleep_ms(RETRY_MS);
            continue;
        }
        if (a == 0)
            rc = mk_error_set(err, MK_ETIMEDOUT, "no commit within %u ms", timeout_ms);
        else if (st < 0)
            rc = mk_error_set(err, st, "%s", msg[0] ? msg : mk_strerror(st));
        else
            rc = st;
        break;
    }
    if (c.seq) call_end(g, &c);
    return rc;
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

size_t mk_group_members(mk_group *g, mk_group_member *out, size_t cap) {
    mk_group_member m[MK_GROUP_MAX_MEMBERS];
    pthread_mutex_lock(&g->smu);
    size_t n = g->n_members;
    memcpy(m, g->members, n * sizeof m[0]);
    pthread_mutex_unlock(&g->smu);
    for (size_t i = 0; i < n && i < cap; i++) {
        out[i] = m[i];
        out[i].bonded = !m[i].self && mk_group_bonded(g, &m[i].peer); /* takes bmu: smu released */
    }
    return n;
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
