/*
 * streams/attach.c — the network attachment: the per-network ctx and its
 * shim, the protocol and discovery hook, the timers, and running user
 * calls on the network's I/O thread. The only file of streams that
 * attaches to net and discovery (docs/net.md, "Attaching a layer").
 *
 * Per network. The first producer or consumer created on an mk_network
 * registers the "streams" protocol on its transport and a discovery hook,
 * both with a *shim* as context: a small record attached to the network
 * (a typed slot, freed with it after its I/O thread stopped, so no
 * callback can still see it) pointing to the network's current engine
 * state (st_ctx), or NULL when no producer or consumer exists. The ctx —
 * the owner lists, channel numbering, the expiry timer and the 100 ms tick
 * — is created with the first and freed with the last producer/consumer;
 * the protocol and hook stay registered while the network lives, and
 * callbacks that find no ctx close what they see (a SUBSCRIBE is refused
 * as "unknown-stream"). A later ctx of the same network finds the protocol
 * registered (MK_EBUSY) and reuses it with its hook.
 *
 * Connections. Each streams connection carries a small record (its user
 * pointer, from on_connect to on_close) counting the SUBSCRIBEs refused on
 * it per ST_REFUSAL_WINDOW_MS; beyond the producer's max_refusals the
 * connection is closed (mk_st_conn_refused).
 *
 * Dispatch. A frame is decoded (msg.c; a malformed one closes the
 * connection) and routed by its type to the producer side (SUBSCRIBE,
 * UNSUBSCRIBE, CREDIT) or the consumer side (ACCEPT, CLOSE, DATA) of this
 * node, the channel found by (connection, number). A closed connection ends
 * every channel on it; on_drain resumes the paused producer channels;
 * discovery events go to both engines.
 *
 * Run on the loop. User calls that touch engine state (attach, detach,
 * adding a validator, connect) run on the loop through mk_st_run_on_loop,
 * which posts the function and waits for it — or runs it directly when
 * already on the loop. Freeing a producer/consumer while the network is
 * closing is safe: mk_transport_call then returns MK_ESTATE only once the I/O
 * thread has been joined, and run-on-loop runs the function on the user
 * thread, alone. (Handles must still be freed before the
 * network itself is freed.)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "mosaik/clock.h"
#include "mosaik/log.h"
#include "streams/streams_internal.h"

/* ------------------------------------------------------------------ */
/* Running on the loop                                                 */
/* ------------------------------------------------------------------ */

/* mk_transport_call runs fn on the I/O thread and waits; MK_ESTATE means the
 * network's I/O thread has stopped and been joined, so fn may run here,
 * alone (no callback of the network can run any more). */
typedef struct st_call {
    void (*fn)(void *);
    void *arg;
} st_call;

static void call_cb(mk_transport *net, void *ctx) {
    (void)net;
    st_call *c = ctx;
    c->fn(c->arg);
}

void mk_st_run_on_loop(mk_network *nw, void (*fn)(void *), void *arg) {
    st_call c = {.fn = fn, .arg = arg};
    if (mk_transport_call(mk_network_transport(nw), call_cb, &c) == MK_ESTATE) fn(arg);
}

/* ------------------------------------------------------------------ */
/* Protocol callbacks (loop)                                           */
/* ------------------------------------------------------------------ */

static void on_connect(mk_transport_conn *conn, bool inbound, void *arg) {
    (void)inbound, (void)arg;
    st_conn *sc = calloc(1, sizeof *sc);
    if (sc) sc->window_ms = mk_mono_ms();
    mk_transport_conn_set_user(conn, sc); /* NULL (no memory): refusals not counted */
}

bool mk_st_conn_refused(mk_transport_conn *conn, uint32_t max) {
    st_conn *sc = mk_transport_conn_get_user(conn);
    if (!sc) return false;
    uint64_t now = mk_mono_ms();
    if (now - sc->window_ms >= ST_REFUSAL_WINDOW_MS) {
        sc->window_ms = now;
        sc->refusals = 0;
    }
    if (++sc->refusals <= max) return false;
    char pid[9], why[96];
    mk_id peer;
    mk_transport_conn_peer(conn, &peer);
    mk_id_short(&peer, pid);
    snprintf(why, sizeof why, "more than %u refused subscriptions in %u s", (unsigned)max,
             ST_REFUSAL_WINDOW_MS / 1000);
    mk_log(MK_LOG_WARN, ST_LOG, "closing the connection of %s: %s", pid, why);
    mk_transport_conn_close(conn, why);
    return true;
}

static void dispatch(st_ctx *ctx, mk_transport_conn *conn, const mk_id *peer,
                     const mk_stream_msg *m) {
    st_chan *ch;
    switch (m->type) {
    case MK_SMSG_SUBSCRIBE:
        mk_st_prod_on_subscribe(ctx, conn, peer, m);
        break;
    case MK_SMSG_UNSUBSCRIBE:
        if ((ch = mk_st_chan_find(ctx->producers, conn, m->channel, CS_IDLE)))
            mk_st_prod_end(ch, false, true, m->reason, m->text, m->expires);
        break;
    case MK_SMSG_CREDIT:
        if ((ch = mk_st_chan_find(ctx->producers, conn, m->channel, CS_IDLE)) && m->window)
            mk_st_prod_on_credit(ch, m->window);
        break;
    case MK_SMSG_ACCEPT:
        if ((ch = mk_st_chan_find(ctx->consumers, conn, m->channel, CS_SUBSCRIBING)))
            mk_st_cons_on_accept(ch, peer, m);
        break;
    case MK_SMSG_CLOSE:
        if ((ch = mk_st_chan_find(ctx->consumers, conn, m->channel, CS_SUBSCRIBING)))
            mk_st_cons_on_close(ch, m);
        break;
    case MK_SMSG_DATA:
        if ((ch = mk_st_chan_find(ctx->consumers, conn, m->channel, CS_SUBSCRIBING)))
            mk_st_cons_on_data(ch, m);
        break;
    }
}

static void on_frame(mk_transport_conn *conn, const uint8_t *data, size_t len, void *arg) {
    st_ctx *ctx = ((st_shim *)arg)->ctx;
    mk_id peer;
    mk_transport_conn_peer(conn, &peer);
    mk_stream_msg m;
    mk_error err;
    mk_error_clear(&err);
    if (mk_stream_msg_decode(data, len, &m, &err) < 0) {
        char pid[9];
        mk_id_short(&peer, pid);
        mk_log(MK_LOG_WARN, ST_LOG, "malformed message from %s: %s", pid, err.msg);
        mk_transport_conn_close(conn, "malformed stream message");
        return;
    }
    if (ctx) {
        dispatch(ctx, conn, &peer, &m);
    } else if (m.type == MK_SMSG_SUBSCRIBE) {
        mk_st_send_end_on(conn, m.channel, MK_SMSG_CLOSE, MK_STREAM_R_UNKNOWN_STREAM,
                          "this peer does not produce the stream", 0);
    }
}

static void on_close(mk_transport_conn *conn, int code, const char *reason, void *arg) {
    (void)code;
    free(mk_transport_conn_get_user(conn));
    mk_transport_conn_set_user(conn, NULL);
    st_ctx *ctx = ((st_shim *)arg)->ctx;
    if (!ctx) return;
    char t[MK_STREAM_MAX_REASON];
    snprintf(t, sizeof t, "connection closed: %s", reason && *reason ? reason : "?");
    for (st_owner *o = ctx->producers; o; o = o->next) {
        st_chan *ch, *next;
        for (ch = o->chans; ch; ch = next) {
            next = ch->next;
            if (ch->conn == conn) mk_st_prod_end(ch, false, true, MK_STREAM_R_NETWORK, t, 0);
        }
    }
    for (st_owner *o = ctx->consumers; o; o = o->next)
        for (st_chan *ch = o->chans; ch; ch = ch->next)
            if (ch->conn == conn)
                mk_st_cons_reset(ch, false,
                                 ch->state == CS_ACTIVE ? MK_STREAM_EV_DISCONNECTED
                                                        : MK_STREAM_EV_REJECTED,
                                 true, MK_STREAM_R_NETWORK, t, 0);
    mk_st_arm_expiry(ctx);
}

static void on_drain(mk_transport_conn *conn, void *arg) {
    st_ctx *ctx = ((st_shim *)arg)->ctx;
    if (ctx) mk_st_prod_on_drain(ctx, conn);
}

static void on_hook(mk_network *nw, const mk_network_event *ev, void *arg) {
    (void)nw;
    st_ctx *ctx = ((st_shim *)arg)->ctx;
    if (!ctx) return;
    mk_st_prod_on_entry(ctx, ev); /* producers: re-judge their consumers */
    mk_st_cons_on_entry(ctx, ev); /* consumers: new producers, changed producers */
}

static void on_expiry(mk_transport_timer *t, void *arg) {
    (void)t;
    st_ctx *ctx = ((st_shim *)arg)->ctx;
    if (ctx) mk_st_expire(ctx);
}

static void on_tick(mk_transport_timer *t, void *arg) {
    (void)t;
    st_ctx *ctx = ((st_shim *)arg)->ctx;
    if (!ctx) return;
    uint64_t now = mk_mono_ms();
    for (st_owner *o = ctx->consumers; o; o = o->next) {
        mk_st_cons_pump(o->c, now);
        mk_st_send_credits(o->c, true);
    }
}

/* ------------------------------------------------------------------ */
/* The shim and the ctx                                                */
/* ------------------------------------------------------------------ */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static const mk_network_slot_type shim_slot = {.name = "streams", .destroy = free};

static st_shim *shim_for(mk_network *nw) {
    pthread_mutex_lock(&g_mu);
    st_shim *s = mk_network_slot_get(nw, &shim_slot);
    if (!s && (s = calloc(1, sizeof *s))) {
        s->nw = nw;
        if (mk_network_slot_attach(nw, &shim_slot, s, NULL) < 0) {
            free(s);
            s = NULL;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return s;
}

static void ctx_maybe_free(st_ctx *ctx) {
    if (ctx->producers || ctx->consumers) return;
    mk_transport_timer_free(ctx->t_expiry);
    mk_transport_timer_free(ctx->t_tick);
    ctx->shim->ctx = NULL;
    free(ctx);
}

/* Register the protocol (once per network: MK_EBUSY means an earlier ctx
 * did, with its hook) and the hook, make the timers. */
static int ctx_start(st_ctx *ctx, mk_error *err) {
    mk_transport_protocol proto = {.name = MK_STREAMS_PROTOCOL,
                                   .max_frame = MK_STREAM_MAX_ITEM + 64,
                                   .on_connect = on_connect,
                                   .on_frame = on_frame,
                                   .on_close = on_close,
                                   .on_drain = on_drain,
                                   .ctx = ctx->shim};
    mk_error e;
    mk_error_clear(&e);
    int rc = mk_transport_protocol_register(ctx->net, &proto, &e);
    if (rc == 0) {
        rc = mk_network_add_hook(ctx->nw, on_hook, ctx->shim, err);
    } else if (rc == MK_EBUSY) {
        rc = 0;
    } else if (err) {
        *err = e;
    }
    if (rc == 0) rc = mk_transport_timer_new(ctx->net, on_expiry, ctx->shim, &ctx->t_expiry);
    if (rc == 0) rc = mk_transport_timer_new(ctx->net, on_tick, ctx->shim, &ctx->t_tick);
    if (rc == 0) rc = mk_transport_timer_start(ctx->t_tick, ST_TICK_MS, ST_TICK_MS);
    return rc;
}

/* The shim's ctx, made when there is none. */
static st_ctx *ctx_get(st_shim *shim, int *rc, mk_error *err) {
    if (shim->ctx) return shim->ctx;
    st_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        *rc = mk_error_set(err, MK_ENOMEM, "out of memory");
        return NULL;
    }
    ctx->shim = shim;
    ctx->nw = shim->nw;
    ctx->net = mk_network_transport(shim->nw);
    mk_network_id(shim->nw, &ctx->network_id);
    int r = ctx_start(ctx, err);
    if (r < 0) {
        mk_transport_timer_free(ctx->t_expiry);
        mk_transport_timer_free(ctx->t_tick);
        free(ctx);
        if (!err || !err->code) mk_error_set(err, r, "streams: cannot attach");
        *rc = r;
        return NULL;
    }
    shim->ctx = ctx;
    return ctx;
}

/* ------------------------------------------------------------------ */
/* Attaching and detaching owners                                      */
/* ------------------------------------------------------------------ */

typedef struct attach_req {
    st_owner *o;
    int rc;
    mk_error *err;
} attach_req;

static void attach_run(void *arg) {
    attach_req *a = arg;
    st_owner *o = a->o;
    st_ctx *ctx = ctx_get(o->shim, &a->rc, a->err);
    if (!ctx) return;
    st_owner **list = o->p ? &ctx->producers : &ctx->consumers;
    if (mk_st_owner_find(*list, &o->stream_id)) {
        a->rc = mk_error_set(a->err, MK_EBUSY, "stream %s already has a %s on this node", o->name,
                             o->p ? "producer" : "consumer");
        ctx_maybe_free(ctx);
        return;
    }
    o->next = *list;
    *list = o;
    if (o->c) mk_st_cons_scan(ctx, o->c);
    a->rc = 0;
}

int mk_st_owner_attach(st_owner *o, const mk_requirements *req, const mk_requirements *inst,
                       mk_error *err) {
    MK_TRY(mk_require_rt_build(&o->req, req, inst, err));
    o->shim = shim_for(o->nw);
    if (!o->shim) return mk_error_set(err, MK_ENOMEM, "out of memory");
    attach_req a = {.o = o, .err = err, .rc = MK_ESTATE};
    mk_st_run_on_loop(o->nw, attach_run, &a);
    return a.rc;
}

static void detach_run(void *arg) {
    st_owner *o = arg;
    st_ctx *ctx = o->shim->ctx;
    o->closing = true;
    while (o->chans) {
        if (o->p)
            mk_st_prod_end(o->chans, true, false, MK_STREAM_R_CLOSED, "producer closed", 0);
        else
            mk_st_cons_close(o->chans);
    }
    if (!ctx) return;
    for (st_owner **pp = o->p ? &ctx->producers : &ctx->consumers; *pp; pp = &(*pp)->next)
        if (*pp == o) {
            *pp = o->next;
            break;
        }
    ctx_maybe_free(ctx);
}

void mk_st_owner_detach(st_owner *o) {
    mk_st_run_on_loop(o->nw, detach_run, o);
}
