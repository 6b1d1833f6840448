/*
 * net/conn_frame.c — framing on a connection: what a frame means once the
 * decoder (frame.c) delivered it, and the sending side, mk_transport_conn_send.
 *
 * Receiving. The listener sends an empty frame (length 0) as soon as its
 * side of the handshake completed, i.e. after it verified the dialer's
 * certificate and the ALPN (network id, protocol). The dialer only reports
 * the connection open when that frame arrives (AWAIT_ACCEPT -> OPEN), and
 * any other first frame is a protocol violation, so a dialer the listener
 * refused never believes it is connected. Later empty frames are
 * keepalives: they count as received traffic but are not delivered. Other
 * frames go to the protocol's on_frame; the decoder is told to stop as soon
 * as the connection is no longer open (a callback may close it).
 *
 * Sending. mk_transport_conn_send checks the frame against the protocol's
 * maximum, reserves its bytes in the send queue (header included, under
 * net->mu; MK_EBUSY beyond max_send_queue unless the queue is empty), and
 * encodes header and body through an mk_writer into one buffer. On the I/O
 * thread the buffer goes straight to TLS; from another thread it is posted
 * there. Whatever happens to it afterwards (written, connection closed,
 * network stopped), its bytes are accounted done exactly once.
 */
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h"

/* ----- receiving ----------------------------------------------------------- */

int mk_transport_conn_on_frame(void *ctx, const uint8_t *data, size_t len) {
    mk_transport_conn *c = ctx;
    c->last_rx_ms = mk_transport_now_ms(c->net);
    int st = mk_transport_conn_state(c);
    if (st == CONN_AWAIT_ACCEPT) {
        if (len != 0) {
            mk_transport_conn_close_internal(
                c, MK_EMALFORMED, "protocol violation: expected the acceptance frame", false);
            return 1;
        }
        mk_transport_conn_set_state(c, CONN_OPEN);
        mk_transport_conn_activate(c);
        return mk_transport_conn_state(c) == CONN_OPEN ? 0 : 1;
    }
    if (st != CONN_OPEN) return 1;
    if (len == 0) return 0; /* keepalive */
    MK_MET_ADD(c->net, frames_in, 1);
    if (c->proto->ops.on_frame) c->proto->ops.on_frame(c, data, len, c->proto->ops.ctx);
    return mk_transport_conn_state(c) == CONN_OPEN ? 0 : 1;
}

/* ----- sending on the loop ------------------------------------------------- */

void mk_transport_conn_send_framed(mk_transport_conn *c, uint8_t *buf, size_t len, size_t plain) {
    if (mk_transport_conn_state(c) != CONN_OPEN) {
        free(buf);
        mk_transport_conn_account_done(c, plain);
        return;
    }
    int rc = mk_transport_conn_tls_write(c, buf, len, plain);
    free(buf);
    if (rc == 0) MK_MET_ADD(c->net, frames_out, 1);
}

int mk_transport_conn_send_raw(mk_transport_conn *c, const void *data, size_t len) {
    if (mk_transport_conn_state(c) != CONN_OPEN) return MK_ESTATE;
    return mk_transport_conn_tls_write(c, data, len, 0);
}

void mk_transport_conn_send_empty_frame(mk_transport_conn *c) {
    uint8_t hdr[MK_FRAME_HDR];
    mk_writer w;
    mk_writer_init(&w, hdr, sizeof hdr);
    if (mk_frame_write(&w, NULL, 0) == 0) mk_transport_conn_tls_write(c, hdr, mk_writer_len(&w), 0);
}

/* ----- mk_transport_conn_send ------------------------------------------------------ */

typedef struct send_job {
    mk_transport_conn *c;
    uint8_t *buf;
    size_t len;
} send_job;

static void send_job_run(mk_transport *net, void *ctx, int status) {
    (void)net;
    send_job *j = ctx;
    if (status == 0) {
        mk_transport_conn_send_framed(j->c, j->buf, j->len, j->len);
    } else {
        free(j->buf);
        mk_transport_conn_account_done(j->c, j->len);
    }
    mk_transport_conn_unref(j->c);
    free(j);
}

/* Reserve `plain` bytes of c's send queue. */
static int queue_reserve(mk_transport_conn *c, size_t plain) {
    mk_transport *net = c->net;
    uv_mutex_lock(&net->mu);
    if (mk_transport_conn_state(c) != CONN_OPEN || atomic_load(&net->state) != NET_RUNNING) {
        uv_mutex_unlock(&net->mu);
        return MK_ESTATE;
    }
    if (c->out_bytes && c->out_bytes + plain > net->cfg.max_send_queue) {
        c->want_drain = true;
        uv_mutex_unlock(&net->mu);
        MK_MET_ADD(net, send_busy, 1);
        return MK_EBUSY;
    }
    c->out_bytes += plain;
    uv_mutex_unlock(&net->mu);
    return 0;
}

int mk_transport_conn_send(mk_transport_conn *c, const void *data, size_t len) {
    if (!c || !data || len == 0) return MK_EINVAL;
    if (len > c->proto->max_frame) return MK_ETOOBIG;
    mk_transport *net = c->net;
    size_t plain = len + MK_FRAME_HDR;
    MK_TRY(queue_reserve(c, plain));
    bool on_loop = mk_transport_on_loop(net);
    uint8_t *buf = malloc(plain);
    send_job *j = on_loop ? NULL : malloc(sizeof *j);
    mk_writer w;
    mk_writer_init(&w, buf, plain);
    int rc = !buf || (!j && !on_loop) ? MK_ENOMEM : mk_frame_write(&w, data, len);
    if (rc < 0) {
        free(buf);
        free(j);
        mk_transport_conn_account_done(c, plain);
        return rc;
    }
    if (!j) {
        mk_transport_conn_send_framed(c, buf, plain, plain);
        return 0;
    }
    j->c = mk_transport_conn_ref(c);
    j->buf = buf;
    j->len = plain;
    rc = mk_transport_post_internal(net, send_job_run, j);
    if (rc < 0) {
        free(buf);
        mk_transport_conn_unref(c);
        free(j);
        mk_transport_conn_account_done(c, plain);
    }
    return rc;
}
