/*
 * discovery/events.c — what the network tells its users and the layers on
 * it: the event queue with its eventfd, and the entry hooks.
 *
 * Events. Discovered / updated / departed / purged events (each with a copy
 * of the entry) are queued in the same critical section that changed the
 * catalog (gossip.c, sync through gossip.c, peers.c), so whoever sees the
 * change finds its event queued. The queue is a ring of event_queue slots;
 * beyond it the oldest event is dropped and counted. An eventfd is readable
 * exactly while the queue is non-empty: written when it becomes non-empty,
 * drained when it becomes empty, both under mu. mk_network_next_event waits
 * on nw->cond (monotonic clock) and reports MK_ESTATE once the network is
 * closed and the queue drained.
 *
 * Hooks. After queueing, the loop runs the hooks (at most 16) with the
 * event, borrowed, without holding mu: the list is copied under mu, and
 * each hook is checked again under mu just before its call, so a hook
 * removed by an earlier hook of the same event is not called.
 * mk_network_remove_hook, from another thread, then waits for the loop
 * (mk_transport_call with an empty function): a run of the hooks in progress has
 * finished when it returns, so the removed hook runs no more.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "discovery/disc_internal.h"

const char *mk_network_event_name(mk_network_event_type t) {
    switch (t) {
    case MK_EVENT_DISCOVERED:
        return "discovered";
    case MK_EVENT_UPDATED:
        return "updated";
    case MK_EVENT_DEPARTED:
        return "departed";
    case MK_EVENT_PURGED:
        return "purged";
    }
    return "unknown";
}

/* ----- the queue ------------------------------------------------------------- */

/* Under mu. Takes ownership of ev's entry. */
static void ev_push_locked(mk_network *nw, mk_network_event *ev) {
    if (nw->ev_n == nw->event_cap) {
        mk_network_event_free(&nw->evq[nw->ev_head]);
        nw->ev_head = (nw->ev_head + 1) % nw->event_cap;
        nw->ev_n--;
        nw->met.events_dropped++;
    }
    size_t slot = (nw->ev_head + nw->ev_n) % nw->event_cap;
    nw->evq[slot] = *ev;
    if (nw->ev_n++ == 0) {
        uint64_t one = 1;
        ssize_t w = write(nw->efd, &one, sizeof one);
        (void)w;
    }
    pthread_cond_broadcast(&nw->cond);
}

void mk_disc_queue_event_locked(mk_network *nw, const mk_network_event *ev) {
    mk_network_event q = *ev;
    if (mk_peer_entry_copy(&q.entry, &ev->entry) < 0) mk_peer_entry_init(&q.entry);
    ev_push_locked(nw, &q);
}

void mk_disc_events_free(mk_network *nw) {
    for (size_t i = 0; i < nw->ev_n; i++)
        mk_network_event_free(&nw->evq[(nw->ev_head + i) % nw->event_cap]);
    nw->ev_n = 0;
}

void mk_network_event_free(mk_network_event *ev) {
    if (!ev) return;
    mk_peer_entry_free(&ev->entry);
}

int mk_network_event_fd(const mk_network *nw) {
    return nw->efd;
}

/* Under mu: take the oldest event. */
static void ev_pop_locked(mk_network *nw, mk_network_event *ev) {
    *ev = nw->evq[nw->ev_head];
    memset(&nw->evq[nw->ev_head], 0, sizeof *ev);
    nw->ev_head = (nw->ev_head + 1) % nw->event_cap;
    if (--nw->ev_n == 0) {
        uint64_t v;
        ssize_t r = read(nw->efd, &v, sizeof v);
        (void)r;
    }
}

int mk_network_next_event(mk_network *nw, uint32_t timeout_ms, mk_network_event *ev) {
    memset(ev, 0, sizeof *ev);
    struct timespec deadline;
    mk_deadline_after(&deadline, timeout_ms == MK_NO_TIMEOUT ? 0 : timeout_ms);
    pthread_mutex_lock(&nw->mu);
    int rc = 0;
    while (nw->ev_n == 0) {
        if (nw->state == MK_DISC_CLOSED) {
            rc = MK_ESTATE;
            break;
        }
        if (timeout_ms == 0) {
            rc = MK_ETIMEDOUT;
            break;
        }
        if (timeout_ms == MK_NO_TIMEOUT) {
            pthread_cond_wait(&nw->cond, &nw->mu);
        } else if (pthread_cond_timedwait(&nw->cond, &nw->mu, &deadline) == ETIMEDOUT &&
                   nw->ev_n == 0) {
            rc = MK_ETIMEDOUT;
            break;
        }
    }
    if (rc == 0) ev_pop_locked(nw, ev);
    pthread_mutex_unlock(&nw->mu);
    return rc;
}

/* ----- hooks ------------------------------------------------------------------ */

static bool hook_registered_locked(const mk_network *nw, mk_network_hook fn, void *ctx) {
    for (size_t i = 0; i < nw->n_hooks; i++)
        if (nw->hooks[i].fn == fn && nw->hooks[i].ctx == ctx) return true;
    return false;
}

void mk_disc_run_hooks(mk_network *nw, const mk_network_event *ev) {
    mk_disc_hook hs[MK_DISC_MAX_HOOKS];
    pthread_mutex_lock(&nw->mu);
    size_t nh = nw->n_hooks;
    memcpy(hs, nw->hooks, nh * sizeof *hs);
    pthread_mutex_unlock(&nw->mu);
    for (size_t i = 0; i < nh; i++) {
        pthread_mutex_lock(&nw->mu);
        bool still = hook_registered_locked(nw, hs[i].fn, hs[i].ctx);
        pthread_mutex_unlock(&nw->mu);
        if (still) hs[i].fn(nw, ev, hs[i].ctx);
    }
}

int mk_network_add_hook(mk_network *nw, mk_network_hook fn, void *ctx, mk_error *err) {
    if (!fn) return mk_error_set(err, MK_EINVAL, "no hook function");
    pthread_mutex_lock(&nw->mu);
    int rc = 0;
    if (nw->n_hooks >= MK_DISC_MAX_HOOKS)
        rc = mk_error_set(err, MK_EBUSY, "at most %d hooks", MK_DISC_MAX_HOOKS);
    else
        nw->hooks[nw->n_hooks++] = (mk_disc_hook){fn, ctx};
    pthread_mutex_unlock(&nw->mu);
    return rc;
}

static void hooks_barrier(mk_transport *net, void *ctx) {
    (void)net, (void)ctx;
}

int mk_network_remove_hook(mk_network *nw, mk_network_hook fn, void *ctx) {
    if (!nw || !fn) return MK_EINVAL;
    pthread_mutex_lock(&nw->mu);
    int rc = MK_ENOTFOUND;
    for (size_t i = 0; i < nw->n_hooks && rc < 0; i++) {
        if (nw->hooks[i].fn != fn || nw->hooks[i].ctx != ctx) continue;
        memmove(&nw->hooks[i], &nw->hooks[i + 1], (nw->n_hooks - i - 1) * sizeof nw->hooks[0]);
        nw->n_hooks--;
        rc = 0;
    }
    pthread_mutex_unlock(&nw->mu);
    /* From another thread: let a run of the hooks in progress finish (when
     * the network is closing, mk_transport_call returns once its I/O thread is
     * gone, which serves as well). */
    if (rc == 0 && !mk_transport_on_loop(nw->net)) mk_transport_call(nw->net, hooks_barrier, NULL);
    return rc;
}
