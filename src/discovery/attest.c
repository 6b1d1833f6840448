/*
 * discovery/attest.c — the node's own attestation, renewed
 * (mosaik/attest.h): a TEE attester bound to one network, a timer on the
 * network's loop that says when to renew, a worker thread that makes the
 * tickets.
 *
 * Built on the public API only: the local entry (peer id, network id,
 * started_at, read once at creation), mk_network_replace_ticket to install,
 * a transport timer (mosaik/net.h), and a network slot holding the
 * attestations of the network so that mk_network_free can stop those still
 * running (the slot's destructor runs after the I/O thread has stopped).
 *
 * Schedule. After a ticket quoted at t0 (mk_now()) for lifetime L, the next
 * attempt is due at t0 + L * renew% / 100 + u (wall seconds), u uniform in
 * [-L * jitter% / 100, +L * jitter% / 100]; the checks on the options keep
 * that before the expiration (and it is at least t0 + 1: a lifetime of a
 * few seconds renews every second). After the n-th consecutive failure the next
 * attempt is due after a delay drawn from [b/2, b], b = min(retry_min *
 * 2^(n-1), retry_max) (mk_mono_ms()). The timer is one-shot, re-armed at
 * each tick for the time left to the due attempt but never more than
 * check_ms, so a replaced clock (tests) or a jump of the wall clock is seen
 * within check_ms.
 *
 * An attempt. The tick that finds an attempt due sets `want` and wakes the
 * worker, which fetches fresh endorsements (if a hook is set) and makes the
 * ticket through the attester (the provider may block), stores the result
 * and restarts the timer at 0 ms. The next tick takes the result and, on
 * the loop, installs it, updates the schedule and tells on_event. The
 * first ticket is made on the thread calling mk_attestation_start.
 *
 * Invariants. Everything shared between the loop, the worker and user
 * threads is under a->mu, which is never held while calling into the
 * network or the provider, nor while waiting for the loop. `gen` counts
 * starts and stops: a result made for an older generation is dropped, so
 * after stop nothing is installed. At most one attempt is outstanding
 * (`pending` from the request until its result is taken or dropped).
 * mk_attestation_stop from a user thread returns once the worker is idle
 * and the timer stopped: nothing re-arms it until the next start.
 */
#include "mosaik/version.h"

#if MOSAIK_HAVE_TEE

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/attest.h"
#include "mosaik/clock.h"
#include "mosaik/crypto.h"
#include "mosaik/log.h"

#define LOG "attest"

/* The attestations of one network (its slot). */
typedef struct attest_reg {
    pthread_mutex_t mu;
    mk_attestation *head;
} attest_reg;

struct mk_attestation {
    mk_network *nw; /* NULL once the network was freed */
    mk_transport_timer *timer;
    attest_reg *reg;
    mk_attestation *reg_next;
    mk_tee_attester *att;
    mk_attestation_opts o; /* endorsements: the attester's copy */
    mk_id peer_id, network_id;
    int64_t started_at, lifetime;
    pthread_t worker;
    bool worker_started;

    pthread_mutex_t mu;
    pthread_cond_t cond; /* want / quit for the worker; working for stop */
    bool running, pending, want, working, quit;
    uint64_t gen;
    /* the worker's result */
    bool have_result;
    uint64_t res_gen;
    int res_code;
    mk_error res_err;
    mk_ticket res_ticket;
    int64_t res_t0;
    /* the schedule */
    int64_t renew_at;     /* wall seconds, when not retrying */
    uint64_t retry_at_ms; /* mk_mono_ms(), when retrying (failing > 0) */
    mk_attestation_status st;
};

/* ----- options ---------------------------------------------------------- */

void mk_attestation_opts_init(mk_attestation_opts *o) {
    *o = (mk_attestation_opts){
        .renew_percent = MK_ATTEST_DEFAULT_RENEW_PERCENT,
        .jitter_percent = MK_ATTEST_DEFAULT_JITTER_PERCENT,
        .retry_min_ms = MK_ATTEST_DEFAULT_RETRY_MIN_MS,
        .retry_max_ms = MK_ATTEST_DEFAULT_RETRY_MAX_MS,
        .check_ms = MK_ATTEST_DEFAULT_CHECK_MS,
    };
}

static int opts_check(const mk_attestation_opts *o, mk_error *err) {
    int sources =
        (o->endorsements != NULL) + (o->fetch_endorsements != NULL) + (o->endorse != NULL);
    if (sources > 1)
        return mk_error_set(err, MK_EINVAL,
                            "attest: at most one of endorsements, fetch_endorsements, endorse");
    if (o->renew_percent < 1 || o->renew_percent > 99)
        return mk_error_set(err, MK_EINVAL, "attest: renew_percent %u not in 1..99",
                            o->renew_percent);
    if (o->jitter_percent >= o->renew_percent || o->jitter_percent >= 100 - o->renew_percent)
        return mk_error_set(err, MK_EINVAL,
                            "attest: jitter_percent %u must be below renew_percent and "
                            "100 - renew_percent",
                            o->jitter_percent);
    if (o->retry_min_ms < 1 || o->retry_min_ms > o->retry_max_ms)
        return mk_error_set(err, MK_EINVAL, "attest: want 1 <= retry_min_ms <= retry_max_ms");
    if (o->check_ms < 1) return mk_error_set(err, MK_EINVAL, "attest: check_ms must be >= 1");
    if (o->lifetime < 0) return mk_error_set(err, MK_EINVAL, "attest: negative lifetime");
    return 0;
}

const char *mk_attestation_event_name(mk_attestation_event_type t) {
    switch (t) {
    case MK_ATTEST_RENEWED:
        return "renewed";
    case MK_ATTEST_FAILED:
        return "failed";
    case MK_ATTEST_EXPIRED:
        return "expired";
    }
    return "unknown";
}

/* ----- making a ticket (the worker, or the thread of start) ------------- */

/* Fresh endorsements (if hooked), then a ticket quoted now for the
 * lifetime; *t0 = mk_now() before it. */
static int make_ticket(mk_attestation *a, mk_ticket *t, int64_t *t0, mk_error *err) {
    memset(t, 0, sizeof *t);
    if (a->o.fetch_endorsements) {
        mk_buf b = MK_BUF_INIT;
        int rc = a->o.fetch_endorsements(a->o.fetch_ctx, &b, err);
        if (rc < 0) {
            mk_buf_free(&b);
            return mk_error_prefix(err, rc, "attest: endorsements");
        }
        rc = mk_tee_attester_set_endorsements(a->att, b.len ? b.data : NULL, b.len, err);
        mk_buf_free(&b);
        MK_TRY(rc);
    }
    *t0 = mk_now();
    return mk_tee_attester_ticket_with_expiration(a->att, &a->peer_id, &a->network_id,
                                                  a->started_at, *t0 + a->lifetime, t, err);
}

static void *worker_main(void *arg) {
    mk_attestation *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->want && !a->quit)
            pthread_cond_wait(&a->cond, &a->mu);
        if (a->quit) break;
        a->want = false;
        a->working = true;
        uint64_t gen = a->gen;
        pthread_mutex_unlock(&a->mu);

        mk_ticket t;
        int64_t t0 = 0;
        mk_error err;
        mk_error_clear(&err);
        int rc = make_ticket(a, &t, &t0, &err);

        pthread_mutex_lock(&a->mu);
        bool current = gen == a->gen && !a->quit;
        if (current) {
            a->have_result = true;
            a->res_gen = gen;
            a->res_code = rc;
            a->res_err = err;
            a->res_ticket = t;
            a->res_t0 = t0;
        } else {
            mk_ticket_free(&t);
        }
        pthread_mutex_unlock(&a->mu);
        if (current) mk_transport_timer_start(a->timer, 0, 0); /* the loop takes it */
        pthread_mutex_lock(&a->mu);
        a->working = false;
        pthread_cond_broadcast(&a->cond);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ----- the schedule (under mu) ------------------------------------------ */

static void schedule_renewal_locked(mk_attestation *a, int64_t t0) {
    int64_t l = a->lifetime;
    int64_t base = t0 + l * (int64_t)a->o.renew_percent / 100;
    int64_t j = l * (int64_t)a->o.jitter_percent / 100;
    a->renew_at = base - j + (int64_t)mk_random_below((uint64_t)(2 * j + 1));
    if (a->renew_at <= t0) a->renew_at = t0 + 1; /* lifetimes of a few seconds */
    a->retry_at_ms = 0;
    a->st.failing = 0;
    a->st.retry_ms = 0;
    a->st.next_at = a->renew_at;
}

static void schedule_retry_locked(mk_attestation *a, uint64_t now_ms) {
    uint64_t b = a->st.retry_ms ? (uint64_t)a->st.retry_ms * 2 : a->o.retry_min_ms;
    if (b > a->o.retry_max_ms) b = a->o.retry_max_ms;
    a->st.retry_ms = (uint32_t)b;
    uint64_t d = b / 2 + mk_random_below(b - b / 2 + 1);
    a->retry_at_ms = now_ms + d;
    a->st.next_at = mk_now() + (int64_t)((d + 999) / 1000);
}

/* Is an attempt due now? */
static bool due_locked(const mk_attestation *a, int64_t now, uint64_t now_ms) {
    return a->st.failing ? now_ms >= a->retry_at_ms : now >= a->renew_at;
}

/* How long the timer may wait (ms): to the due attempt, at most check_ms. */
static uint64_t delay_locked(const mk_attestation *a, int64_t now, uint64_t now_ms) {
    uint64_t d = a->o.check_ms;
    if (a->pending) return d;
    uint64_t left;
    if (a->st.failing)
        left = a->retry_at_ms > now_ms ? a->retry_at_ms - now_ms : 0;
    else
        left = a->renew_at > now ? (uint64_t)(a->renew_at - now) * 1000u : 0;
    return left < d ? left : d;
}

/* ----- the loop ---------------------------------------------------------- */

typedef struct tick_events {
    mk_attestation_event ev[2];
    char reason[2][MK_ERROR_MSG_MAX];
    int n;
} tick_events;

static void event_add(tick_events *te, const mk_attestation *a, mk_attestation_event_type type,
                      unsigned failures, int code, const char *reason) {
    int i = te->n++;
    snprintf(te->reason[i], sizeof te->reason[i], "%s", reason ? reason : "");
    te->ev[i] = (mk_attestation_event){
        .type = type,
        .expires = a->st.expires,
        .next_at = a->st.next_at,
        .retry_ms = type == MK_ATTEST_FAILED ? a->st.retry_ms : 0,
        .failures = failures,
        .code = code,
        .reason = te->reason[i],
    };
}

/* The worker's result of generation gen: install it (without mu), then
 * the schedule and the event. */
static void take_result(mk_attestation *a, uint64_t gen, int rc, mk_error *err, mk_ticket *t,
                        int64_t t0, tick_events *te) {
    pthread_mutex_lock(&a->mu);
    bool current = gen == a->gen && a->running;
    pthread_mutex_unlock(&a->mu);
    if (!current) {
        mk_ticket_free(t);
        return;
    }
    if (rc == 0) {
        rc = mk_network_replace_ticket(a->nw, t, err);
        if (rc < 0) mk_error_prefix(err, rc, "attest: installing the ticket");
    }
    pthread_mutex_lock(&a->mu);
    if (gen == a->gen && a->running) {
        a->pending = false;
        unsigned before = a->st.failing;
        if (rc == 0) {
            a->st.class_id = t->class_id;
            a->st.expires = t0 + a->lifetime;
            a->st.expired = false;
            a->st.renewals++;
            schedule_renewal_locked(a, t0);
            event_add(te, a, MK_ATTEST_RENEWED, before, 0, "");
        } else {
            a->st.failures++;
            a->st.failing++;
            a->st.last_code = rc;
            snprintf(a->st.last_reason, sizeof a->st.last_reason, "%s", err->msg);
            schedule_retry_locked(a, mk_mono_ms());
            event_add(te, a, MK_ATTEST_FAILED, a->st.failing, rc, err->msg);
        }
    }
    pthread_mutex_unlock(&a->mu);
    mk_ticket_free(t);
}

/* A failed attempt is a warning when it starts a run of failures (and
 * the expiry always is); the retries after it are routine (info). */
static void log_event(const mk_attestation_event *ev) {
    char when[MK_RFC3339_LEN];
    mk_time_format_rfc3339(ev->expires, when);
    if (ev->type == MK_ATTEST_RENEWED && ev->failures)
        mk_log(MK_LOG_INFO, LOG, "ticket renewed after %u failed attempts, valid until %s",
               ev->failures, when);
    else if (ev->type == MK_ATTEST_RENEWED)
        mk_log(MK_LOG_INFO, LOG, "ticket renewed, valid until %s", when);
    else if (ev->type == MK_ATTEST_FAILED)
        mk_log(ev->failures == 1 ? MK_LOG_WARN : MK_LOG_INFO, LOG,
               "renewal failed (%u in a row; retrying within %u ms): %s", ev->failures,
               ev->retry_ms, ev->reason);
    else
        mk_log(MK_LOG_WARN, LOG, "ticket expired at %s before a renewal succeeded: %s", when,
               ev->reason);
}

static void on_tick(mk_transport_timer *timer, void *ctx) {
    mk_attestation *a = ctx;
    tick_events te = {.n = 0};
    pthread_mutex_lock(&a->mu);
    bool got = a->have_result;
    uint64_t gen = a->res_gen;
    int rc = a->res_code;
    mk_error err = a->res_err;
    mk_ticket t = a->res_ticket;
    int64_t t0 = a->res_t0;
    a->have_result = false;
    memset(&a->res_ticket, 0, sizeof a->res_ticket);
    pthread_mutex_unlock(&a->mu);
    if (got) take_result(a, gen, rc, &err, &t, t0, &te);

    pthread_mutex_lock(&a->mu);
    int64_t now = mk_now();
    uint64_t now_ms = mk_mono_ms();
    a->st.checked_ms = now_ms;
    if (a->running && a->st.expires && !a->st.expired && now >= a->st.expires) {
        a->st.expired = true;
        event_add(&te, a, MK_ATTEST_EXPIRED, a->st.failing, a->st.last_code, a->st.last_reason);
    }
    if (a->running && !a->pending && due_locked(a, now, now_ms)) {
        a->pending = true;
        a->want = true;
        pthread_cond_broadcast(&a->cond);
    }
    pthread_mutex_unlock(&a->mu);

    for (int i = 0; i < te.n; i++) {
        log_event(&te.ev[i]);
        if (a->o.on_event) a->o.on_event(a, &te.ev[i], a->o.event_ctx);
    }
    /* on_event may have stopped it. */
    pthread_mutex_lock(&a->mu);
    bool arm = a->running;
    uint64_t d = delay_locked(a, mk_now(), mk_mono_ms());
    pthread_mutex_unlock(&a->mu);
    if (arm) mk_transport_timer_start(timer, d, 0);
}

/* ----- the network's slot ------------------------------------------------ */

static void detach(mk_attestation *a);

/* mk_network_free, after the I/O thread stopped: stop every attestation
 * still registered and cut it loose from the network. */
static void reg_destroy(void *ptr) {
    attest_reg *r = ptr;
    pthread_mutex_lock(&r->mu);
    mk_attestation *a = r->head;
    r->head = NULL;
    pthread_mutex_unlock(&r->mu);
    while (a) {
        mk_attestation *next = a->reg_next;
        a->reg = NULL;
        detach(a);
        a = next;
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static const mk_network_slot_type ATTEST_SLOT = {"attestations", reg_destroy};

static attest_reg *reg_of(mk_network *nw, mk_error *err) {
    for (int i = 0; i < 2; i++) {
        attest_reg *r = mk_network_slot_get(nw, &ATTEST_SLOT);
        if (r) return r;
        r = calloc(1, sizeof *r);
        if (!r) {
            mk_error_set(err, MK_ENOMEM, "out of memory");
            return NULL;
        }
        pthread_mutex_init(&r->mu, NULL);
        mk_error e;
        mk_error_clear(&e);
        if (mk_network_slot_attach(nw, &ATTEST_SLOT, r, &e) == 0) return r;
        pthread_mutex_destroy(&r->mu);
        free(r);
        if (e.code != MK_EBUSY || i == 1) {
            mk_error_set(err, e.code, "attest: %s", e.msg);
            return NULL;
        }
    }
    return NULL;
}

static void reg_remove(mk_attestation *a) {
    attest_reg *r = a->reg;
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    for (mk_attestation **p = &r->head; *p; p = &(*p)->reg_next) {
        if (*p == a) {
            *p = a->reg_next;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    a->reg = NULL;
}

/* ----- lifecycle ------------------------------------------------------------ */

static void attestation_destroy(mk_attestation *a) {
    mk_tee_attester_free(a->att);
    mk_ticket_free(&a->res_ticket);
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

static int attestation_setup(mk_attestation *a, mk_tee_provider *provider, mk_error *err) {
    mk_peer_entry e;
    if (mk_network_local_entry(a->nw, &e) < 0)
        return mk_error_set(err, MK_ENOMEM, "attest: no local entry");
    a->peer_id = e.peer_id;
    a->network_id = e.network_id;
    a->started_at = e.started_at;
    mk_peer_entry_free(&e);
    mk_tee_attester_config tc;
    mk_tee_attester_config_init(&tc);
    tc.provider = provider;
    tc.endorsements = a->o.endorsements;
    tc.endorsements_len = a->o.endorsements_len;
    tc.endorse = a->o.endorse;
    tc.endorse_ctx = a->o.endorse_ctx;
    tc.lifetime = a->lifetime;
    MK_TRY(mk_tee_attester_new(&tc, &a->att, err));
    a->o.endorsements = NULL; /* the attester holds the copy */
    a->o.endorsements_len = 0;
    if (mk_transport_timer_new(mk_network_transport(a->nw), on_tick, a, &a->timer) < 0)
        return mk_error_set(err, MK_ESTATE, "attest: the network is closed");
    if (pthread_create(&a->worker, NULL, worker_main, a) != 0)
        return mk_error_set(err, MK_ENOMEM, "attest: cannot start the worker thread");
    a->worker_started = true;
    return 0;
}

int mk_attestation_new(mk_network *nw, mk_tee_provider *provider, const mk_attestation_opts *opts,
                       mk_attestation **out, mk_error *err) {
    if (out) *out = NULL;
    if (!nw || !provider || !out) return mk_error_set(err, MK_EINVAL, "attest: bad call");
    mk_attestation_opts o;
    if (opts)
        o = *opts;
    else
        mk_attestation_opts_init(&o);
    MK_TRY(opts_check(&o, err));
    attest_reg *r = reg_of(nw, err);
    if (!r) return err ? err->code : MK_ENOMEM;
    mk_attestation *a = calloc(1, sizeof *a);
    if (!a) return mk_error_set(err, MK_ENOMEM, "out of memory");
    a->nw = nw;
    a->o = o;
    a->lifetime = o.lifetime > 0 ? o.lifetime : MK_TEE_TICKET_DEFAULT_LIFETIME;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cond, NULL);
    int rc = attestation_setup(a, provider, err);
    if (rc < 0) {
        detach(a);
        attestation_destroy(a);
        return rc;
    }
    pthread_mutex_lock(&r->mu);
    a->reg = r;
    a->reg_next = r->head;
    r->head = a;
    pthread_mutex_unlock(&r->mu);
    *out = a;
    return 0;
}

int mk_attestation_start(mk_attestation *a, mk_error *err) {
    if (!a) return mk_error_set(err, MK_EINVAL, "attest: bad call");
    if (!a->nw) return mk_error_set(err, MK_ESTATE, "attest: the network was freed");
    if (mk_transport_on_loop(mk_network_transport(a->nw)))
        return mk_error_set(err, MK_ESTATE, "attest: start not on the network's I/O thread");
    pthread_mutex_lock(&a->mu);
    bool running = a->running;
    pthread_mutex_unlock(&a->mu);
    if (running) return mk_error_set(err, MK_ESTATE, "attest: already running");
    mk_ticket t;
    int64_t t0 = 0;
    int rc = make_ticket(a, &t, &t0, err);
    if (rc == 0) {
        rc = mk_network_replace_ticket(a->nw, &t, err);
        if (rc < 0) mk_error_prefix(err, rc, "attest: installing the ticket");
    }
    if (rc < 0) {
        mk_ticket_free(&t);
        return rc;
    }
    pthread_mutex_lock(&a->mu);
    a->running = true;
    a->pending = false;
    a->gen++;
    a->st.class_id = t.class_id;
    a->st.expires = t0 + a->lifetime;
    a->st.expired = false;
    schedule_renewal_locked(a, t0);
    uint64_t d = delay_locked(a, mk_now(), mk_mono_ms());
    pthread_mutex_unlock(&a->mu);
    mk_ticket_free(&t);
    if (mk_transport_timer_start(a->timer, d, 0) < 0) {
        mk_attestation_stop(a);
        return mk_error_set(err, MK_ESTATE, "attest: the network is closed");
    }
    return 0;
}

int mk_attestation_stop(mk_attestation *a) {
    if (!a) return MK_EINVAL;
    if (!a->nw) return 0;
    bool on_loop = mk_transport_on_loop(mk_network_transport(a->nw));
    pthread_mutex_lock(&a->mu);
    a->running = false;
    a->pending = a->want = false;
    a->gen++;
    a->st.next_at = 0;
    while (!on_loop && a->working)
        pthread_cond_wait(&a->cond, &a->mu);
    pthread_mutex_unlock(&a->mu);
    mk_transport_timer_stop(a->timer);
    return 0;
}

/* Stop for good: the worker joined, the timer freed (before the network
 * is freed, or by its slot's destructor once the I/O thread stopped). */
static void detach(mk_attestation *a) {
    if (!a->nw) return;
    pthread_mutex_lock(&a->mu);
    a->running = false;
    a->quit = true;
    a->gen++;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
    if (a->worker_started) pthread_join(a->worker, NULL);
    a->worker_started = false;
    mk_transport_timer_free(a->timer);
    a->timer = NULL;
    a->nw = NULL;
}

void mk_attestation_free(mk_attestation *a) {
    if (!a) return;
    if (a->nw && mk_transport_on_loop(mk_network_transport(a->nw))) {
        mk_log(MK_LOG_ERROR, LOG, "mk_attestation_free on the I/O thread: refused (leaked)");
        return;
    }
    mk_attestation_stop(a);
    reg_remove(a);
    detach(a);
    attestation_destroy(a);
}

int mk_network_attest(mk_network *nw, mk_tee_provider *provider, const mk_attestation_opts *opts,
                      mk_attestation **out, mk_error *err) {
    MK_TRY(mk_attestation_new(nw, provider, opts, out, err));
    int rc = mk_attestation_start(*out, err);
    if (rc < 0) {
        mk_attestation_free(*out);
        *out = NULL;
    }
    return rc;
}

void mk_attestation_status_get(mk_attestation *a, mk_attestation_status *out) {
    memset(out, 0, sizeof *out);
    if (!a) return;
    pthread_mutex_lock(&a->mu);
    *out = a->st;
    out->running = a->running;
    out->attempting = a->pending || a->working;
    pthread_mutex_unlock(&a->mu);
}

#endif /* MOSAIK_HAVE_TEE */
