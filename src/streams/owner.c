/*
 * streams/owner.c — what a producer and a consumer have in common (their
 * st_owner): per-peer records, events, conditions and the waits on them,
 * statistics.
 *
 * Per-peer records (st_pstat) hold what user threads read about each peer
 * ever seen — statistics, whether a subscription with it is active, its
 * tags at its last admission — under the owner's mutex `mu`. A channel is
 * bound to its peer's record for its life (cur_serial names the bound
 * channel); at most ST_MAX_PSTATS records exist, beyond that an inactive
 * unbound one is recycled, and when none is, no new channel is made.
 *
 * Conditions (mk_stream_when) are evaluated over the active records under
 * mu. Every change a waiter could be waiting for — a record turning active
 * or inactive, a datum queued for the user, room in the producer's inbox,
 * a handle closing — is made under mu followed by a broadcast of the
 * owner's condition variable, which uses CLOCK_MONOTONIC
 * (mk_cond_init_mono) so wall-clock steps neither cut a wait short nor
 * stretch it. Every blocking call (mk_stream_*_wait, mk_stream_send,
 * mk_stream_recv) waits in steps of mk_st_wait_step under one convention:
 * timeout 0 polls, MK_NO_TIMEOUT waits forever, anything else up to an
 * absolute monotonic deadline taken once at the start.
 *
 * Events are counted and logged, then handed to the observer on the loop
 * with mu released (an observer may call the stats functions). A refusal
 * in either direction is also recorded in the network's ring of recent
 * refusals (mk_network_note_refusal) and logged as a warning the first
 * time for that peer and reason, at debug when repeated; other events are
 * routine (info).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "mosaik/log.h"
#include "streams/streams_internal.h"

static const char *const reason_names[MK_STREAM_R_COUNT] = {
    "none",   "unknown-stream", "ticket",  "expired",  "requirement", "full",    "lagging",
    "closed", "bad-entry",      "revoked", "departed", "protocol",    "network",
};

const char *mk_stream_reason_name(unsigned reason) {
    return reason < MK_STREAM_R_COUNT ? reason_names[reason] : "unknown";
}

const char *mk_stream_event_name(mk_stream_event_type t) {
    switch (t) {
    case MK_STREAM_EV_ADMITTED:
        return "admitted";
    case MK_STREAM_EV_REFUSED:
        return "refused";
    case MK_STREAM_EV_REJECTED:
        return "rejected";
    case MK_STREAM_EV_DISCONNECTED:
        return "disconnected";
    }
    return "unknown";
}

/* ----- life ------------------------------------------------------------ */

int mk_st_owner_check(mk_network *nw, const char *name, mk_error *err) {
    if (!name || !*name || strlen(name) >= ST_MAX_NAME)
        return mk_error_set(err, MK_EINVAL, "stream name must be 1..127 bytes");
    if (!nw) return mk_error_set(err, MK_EINVAL, "no network");
    return 0;
}

void mk_st_owner_init(st_owner *o, mk_network *nw, const char *name, const mk_datum_codec *codec,
                      mk_stream_observer cb, void *ctx) {
    pthread_mutex_init(&o->mu, NULL);
    mk_cond_init_mono(&o->cond);
    o->on_event = cb;
    o->event_ctx = ctx;
    o->nw = nw;
    snprintf(o->name, sizeof o->name, "%s", name);
    mk_id_from_name(&o->stream_id, name);
    o->codec = codec;
}

void mk_st_owner_fini(st_owner *o) {
    mk_require_rt_free(&o->req);
    mk_st_verdicts_clear(o);
    for (size_t i = 0; i < o->n_ps; i++) {
        free(o->ps[i]->tags.items);
        free(o->ps[i]);
    }
    free(o->ps);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cond);
}

typedef struct add_v_req {
    st_owner *o;
    mk_validator *v;
    int rc;
} add_v_req;

static void add_v_run(void *arg) {
    add_v_req *r = arg;
    r->rc = mk_require_rt_add_validator(&r->o->req, r->v);
    mk_st_verdicts_clear(r->o); /* judged by other requirements */
}

int mk_st_owner_require(st_owner *o, mk_validator *v, mk_error *err) {
    add_v_req r = {o, v, 0};
    mk_st_run_on_loop(o->nw, add_v_run, &r);
    if (r.rc < 0) mk_validator_free(v);
    return r.rc < 0 ? mk_error_set(err, r.rc, "cannot add the validator") : 0;
}

int mk_stream_producer_require(mk_stream_producer *p, mk_validator *v, mk_error *err) {
    if (!p || !v) return mk_error_set(err, MK_EINVAL, "no producer or validator");
    return mk_st_owner_require(&p->o, v, err);
}

int mk_stream_consumer_require(mk_stream_consumer *c, mk_validator *v, mk_error *err) {
    if (!c || !v) return mk_error_set(err, MK_EINVAL, "no consumer or validator");
    return mk_st_owner_require(&c->o, v, err);
}

/* ----- per-peer records -------------------------------------------------- */

st_pstat *mk_st_pstat_get(st_owner *o, const mk_id *peer) {
    for (size_t i = 0; i < o->n_ps; i++)
        if (mk_id_eq(&o->ps[i]->peer, peer)) return o->ps[i];
    if (o->n_ps >= ST_MAX_PSTATS) {
        /* Recycle an inactive record with no channel bound. */
        for (size_t i = 0; i < o->n_ps; i++) {
            st_pstat *ps = o->ps[i];
            if (!ps->active && ps->cur_serial == 0) {
                free(ps->tags.items);
                memset(ps, 0, sizeof *ps);
                ps->peer = *peer;
                return ps;
            }
        }
        return NULL;
    }
    st_pstat **n = realloc(o->ps, (o->n_ps + 1) * sizeof *n);
    if (!n) return NULL;
    o->ps = n;
    st_pstat *ps = calloc(1, sizeof *ps);
    if (!ps) return NULL;
    ps->peer = *peer;
    o->ps[o->n_ps++] = ps;
    return ps;
}

/* ----- conditions and waits ---------------------------------------------- */

mk_stream_when mk_when_subscribed(void) {
    return (mk_stream_when){.min_peers = 1};
}
mk_stream_when mk_when_minimum_of(unsigned n) {
    return (mk_stream_when){.min_peers = n};
}
mk_stream_when mk_when_offline(void) {
    return (mk_stream_when){.min_peers = 1, .offline = true};
}

void mk_st_deadline(struct timespec *dl, uint32_t timeout_ms) {
    mk_deadline_after(dl, timeout_ms == MK_NO_TIMEOUT ? 0 : timeout_ms);
}

int mk_st_wait_step(st_owner *o, uint32_t timeout_ms, const struct timespec *dl) {
    if (timeout_ms == 0) return ETIMEDOUT;
    if (timeout_ms == MK_NO_TIMEOUT) {
        pthread_cond_wait(&o->cond, &o->mu);
        return 0;
    }
    return pthread_cond_timedwait(&o->cond, &o->mu, dl) == ETIMEDOUT ? ETIMEDOUT : 0;
}

/* mu held */
static bool when_holds(st_owner *o, const mk_stream_when *w) {
    unsigned need = w->min_peers ? w->min_peers : 1;
    unsigned n = 0;
    for (size_t i = 0; i < o->n_ps; i++) {
        st_pstat *ps = o->ps[i];
        if (!ps->active) continue;
        bool ok = true;
        for (size_t t = 0; t < w->n_tags && ok; t++) {
            bool has = false;
            for (size_t k = 0; k < ps->tags.n; k++)
                if (mk_id_eq(&ps->tags.items[k], &w->tags[t])) has = true;
            ok = has;
        }
        if (ok) n++;
    }
    return w->offline ? n < need : n >= need;
}

static int owner_wait(st_owner *o, const mk_stream_when *w, uint32_t timeout_ms) {
    struct timespec dl;
    mk_st_deadline(&dl, timeout_ms);
    pthread_mutex_lock(&o->mu);
    int rc = 0;
    while (!when_holds(o, w)) {
        if (mk_st_wait_step(o, timeout_ms, &dl) == ETIMEDOUT) {
            if (!when_holds(o, w)) rc = MK_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&o->mu);
    return rc;
}

int mk_stream_producer_wait(mk_stream_producer *p, const mk_stream_when *w, uint32_t timeout_ms) {
    return owner_wait(&p->o, w, timeout_ms);
}

int mk_stream_consumer_wait(mk_stream_consumer *c, const mk_stream_when *w, uint32_t timeout_ms) {
    return owner_wait(&c->o, w, timeout_ms);
}

/* ----- statistics -------------------------------------------------------- */

static void owner_stats(st_owner *o, mk_stream_stats *out) {
    pthread_mutex_lock(&o->mu);
    *out = o->st;
    pthread_mutex_unlock(&o->mu);
}

static int owner_channels(st_owner *o, mk_stream_channel_stats **out, size_t *n) {
    pthread_mutex_lock(&o->mu);
    size_t k = o->n_ps;
    mk_stream_channel_stats *a = calloc(k ? k : 1, sizeof *a);
    if (!a) {
        pthread_mutex_unlock(&o->mu);
        return MK_ENOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        st_pstat *ps = o->ps[i];
        a[i] = (mk_stream_channel_stats){.peer = ps->peer,
                                         .active = ps->active,
                                         .items = ps->items,
                                         .bytes = ps->bytes,
                                         .drops = ps->drops,
                                         .queued = ps->queued,
                                         .expires = ps->expires,
                                         .last_reason = ps->last_reason};
    }
    pthread_mutex_unlock(&o->mu);
    *out = a;
    *n = k;
    return 0;
}

void mk_stream_producer_stats(mk_stream_producer *p, mk_stream_stats *out) {
    owner_stats(&p->o, out);
}

void mk_stream_consumer_stats(mk_stream_consumer *c, mk_stream_stats *out) {
    owner_stats(&c->o, out);
}

int mk_stream_producer_channels(mk_stream_producer *p, mk_stream_channel_stats **out, size_t *n) {
    return owner_channels(&p->o, out, n);
}

int mk_stream_consumer_channels(mk_stream_consumer *c, mk_stream_channel_stats **out, size_t *n) {
    return owner_channels(&c->o, out, n);
}

/* ----- events ------------------------------------------------------------ */

/* The statistic that counts events of a type. */
static uint64_t *event_counter(mk_stream_stats *st, mk_stream_event_type type) {
    switch (type) {
    case MK_STREAM_EV_ADMITTED:
        return &st->admitted;
    case MK_STREAM_EV_REFUSED:
        return &st->refused;
    case MK_STREAM_EV_REJECTED:
        return &st->rejected;
    case MK_STREAM_EV_DISCONNECTED:
        return &st->disconnected;
    }
    return NULL;
}

static void count_event(st_owner *o, st_chan *ch, mk_stream_event_type type, unsigned reason) {
    pthread_mutex_lock(&o->mu);
    uint64_t *n = event_counter(&o->st, type);
    if (n) (*n)++;
    if (type != MK_STREAM_EV_ADMITTED && ch->ps) ch->ps->last_reason = reason;
    pthread_mutex_unlock(&o->mu);
}

/* The log level of an event; a refusal (ours, or the peer's with a
 * reason other than the network) goes into the network's ring of recent
 * refusals: a new one is a warning, its repeats (retries) debug. The
 * rest is routine (an admission, a close, a failed or lost connection that
 * is retried): info. */
static mk_log_level event_level(st_owner *o, st_chan *ch, mk_stream_event_type type, bool by_peer,
                                unsigned reason, const char *text) {
    bool refusal = type == MK_STREAM_EV_REFUSED ||
                   (type == MK_STREAM_EV_REJECTED && by_peer && reason != MK_STREAM_R_NETWORK);
    if (!refusal) return MK_LOG_INFO;
    char why[MK_REFUSAL_REASON_MAX + 1];
    snprintf(why, sizeof why, "%s%s%s", mk_stream_reason_name(reason), text && *text ? ": " : "",
             text && *text ? text : "");
    return mk_network_note_refusal(o->nw, &ch->peer, MK_REFUSAL_STREAM,
                                   type == MK_STREAM_EV_REJECTED, o->name, why)
               ? MK_LOG_WARN
               : MK_LOG_DEBUG;
}

void mk_st_emit(st_chan *ch, mk_stream_event_type type, bool by_peer, unsigned reason,
                const char *text, mk_expiration expires) {
    st_owner *o = ch->o;
    mk_stream_event ev = {.type = type,
                          .stream_id = o->stream_id,
                          .peer = ch->peer,
                          .producer_side = ch->p != NULL,
                          .by_peer = by_peer,
                          .reason = reason,
                          .text = text ? text : "",
                          .expires = expires};
    if (reason == MK_STREAM_R_EXPIRED && expires != MK_EXPIRES_NEVER && expires > 0)
        ev.late_ms = (int64_t)mk_wall_ms() - st_exp_to_ms(expires); /* expires > 0: no overflow */
    count_event(o, ch, type, reason);
    char pid[9];
    mk_id_short(&ch->peer, pid);
    mk_log(event_level(o, ch, type, by_peer, reason, text), ST_LOG, "%s %s: %s %s%s%s%s%s",
           ch->p ? "producer" : "consumer", o->name, mk_stream_event_name(type), pid,
           reason ? " reason=" : "", reason ? mk_stream_reason_name(reason) : "",
           text && *text ? ": " : "", text && *text ? text : "");
    if (o->on_event) o->on_event(&ev, o->event_ctx);
}
