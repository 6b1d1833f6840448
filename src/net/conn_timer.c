/*
 * net/conn_timer.c — the one timer of each connection, serving in turn as
 *
 *   1. the handshake deadline (handshake_timeout_ms, armed at dial or
 *      accept; CONNECTING, HANDSHAKE and AWAIT_ACCEPT all count, so TCP
 *      connect to acceptance is bounded);
 *   2. once open, a periodic idle tick (idle/4, clamped to 5 ms .. 5 s):
 *      a connection with no frame received or sent for idle_timeout_ms is
 *      closed with MK_ETIMEDOUT; a kept connection on the dialer's side
 *      sends a keepalive (an empty frame) after idle/3 without sending
 *      instead, so the listener keeps it too; MK_NO_TIMEOUT disables
 *      the ticks;
 *   3. after a graceful close, the grace period (1 s) for the queue to
 *      flush after TLS close_notify and the TCP half-close, at whose end the
 *      handles are closed whatever the peer did.
 *
 * The state of the connection tells which role a firing plays. Times are
 * the loop's cached uv_now, updated by libuv once per iteration.
 */
#include "net/net_internal.h"

#define CLOSE_GRACE_MS 1000

void mk_transport_conn_start_ticks(mk_transport_conn *c) {
    uint32_t idle = c->net->cfg.idle_timeout_ms;
    uv_timer_stop(&c->timer);
    if (idle == MK_NO_TIMEOUT) return;
    uint64_t tick = idle / 4;
    if (tick < 5) tick = 5;
    if (tick > 5000) tick = 5000;
    uv_timer_start(&c->timer, mk_transport_conn_on_timer, tick, tick);
}

void mk_transport_conn_start_grace(mk_transport_conn *c) {
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, mk_transport_conn_on_timer, CLOSE_GRACE_MS, 0);
}

static void idle_tick(mk_transport_conn *c) {
    mk_transport *net = c->net;
    uint32_t idle = net->cfg.idle_timeout_ms;
    uint64_t now = mk_transport_now_ms(net);
    if (c->keep && !c->inbound) {
        if (now - c->last_tx_ms >= idle / 3) mk_transport_conn_send_empty_frame(c);
        return;
    }
    uint64_t last = c->last_rx_ms > c->last_tx_ms ? c->last_rx_ms : c->last_tx_ms;
    if (now - last >= idle) {
        char why[128];
        snprintf(why, sizeof why, "idle for %u ms", idle);
        mk_transport_conn_close_internal(c, MK_ETIMEDOUT, why, true);
    }
}

void mk_transport_conn_on_timer(uv_timer_t *t) {
    mk_transport_conn *c = t->data;
    char why[128];
    switch (mk_transport_conn_state(c)) {
    case CONN_CONNECTING:
    case CONN_HANDSHAKE:
    case CONN_AWAIT_ACCEPT:
        snprintf(why, sizeof why, "handshake timed out after %u ms",
                 c->net->cfg.handshake_timeout_ms);
        mk_transport_conn_close_internal(c, MK_ETIMEDOUT, why, false);
        return;
    case CONN_OPEN:
        idle_tick(c);
        return;
    default:
        mk_transport_conn_close_handles(c); /* grace period of a graceful close is over */
        return;
    }
}
