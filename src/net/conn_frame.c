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
 * The partial-frame budget (net->budget, mk_transport_config.max_partial_bytes)
 * counts what every connection's frame decoder holds of frames received in
 * part (frame.c). When a decoder's growth takes it over the budget, the
 * connection holding the oldest partial frame (the one that began first)
 * is closed with MK_EBUSY and its buffer freed at once, until the total
 * fits; when the oldest is the growing frame itself, that connection is
 * the one closed (closed_budget counts both). Frames in flight from honest
 * peers complete in milliseconds; frames held back on purpose are the old
 * ones, so a node cannot be made to hold more than the budget plus one
 * growth step, and live traffic keeps flowing.
 *
 * Sending. mk_transport_conn_send checks the frame against the protocol's
 * maximum and reserves its bytes in the send queue (header included, under
 * net->mu; MK_EBUSY beyond max_send_queue unless the queue is empty). On
 * the I/O thread, header and body are encoded through an mk_writer straight
 * into the connection's cork; from another thread into one buffer posted
 * there, which then joins the cork. Whatever happens to a frame afterwards
 * (written, connection closed, network stopped), its bytes are accounted
 * done exactly once.
 *
 * Batching. The cork holds whole frames, up to MK_TRANSPORT_CORK bytes (one
 * full TLS record); a frame that does not fit seals it first (one
 * SSL_write), a frame larger than the cork is sealed on its own. A corked
 * connection is listed in net->corked (holding a reference) and its output
 * is written by mk_transport_flush_corked in the loop's check phase, i.e.
 * once per loop iteration after every callback of that iteration ran (an
 * idle handle keeps the poll from blocking meanwhile), so many frames cost
 * one record and one uv_write; the output goes out earlier once
 * MK_TRANSPORT_FLUSH_AT bytes wait. Order is kept: every other write into
 * TLS (raw bytes, keepalives, close_notify) and every flush of the write
 * BIO seals the cork first (conn_tls.c). Invariant: a connection with a
 * non-empty cork or unflushed bytes is listed, or being flushed.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/log.h"
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

/* ----- the partial-frame budget -------------------------------------------- */

bool mk_transport_budget_reclaim(mk_frame_budget *b, mk_frame_decoder *d) {
    mk_transport *net = b->ctx;
    mk_transport_conn *self =
        (mk_transport_conn *)(void *)((uint8_t *)d - offsetof(mk_transport_conn, dec));
    bool give_up = false;
    while (b->used > b->max && !give_up) {
        mk_transport_conn *old = NULL;
        for (mk_transport_conn *c = net->conns; c; c = c->next)
            if (c->dec.body.cap && (!old || c->dec.partial_seq < old->dec.partial_seq)) old = c;
        if (!old) break;
        char why[160];
        snprintf(why, sizeof why,
                 "partial-frame budget of %zu bytes exhausted (oldest partial frame "
                 "dropped, %zu of %zu bytes)",
                 b->max, old->dec.body.len, old->dec.need);
        old->cause = CAUSE_BUDGET;
        if (old == self) {
            give_up = true; /* the decoder frees its buffer; the caller closes */
        } else {
            mk_log(MK_LOG_WARN, "net", "%s: %s", old->remote, why);
            mk_frame_budget_release(&old->dec);
            mk_transport_conn_close_internal(old, MK_EBUSY, why, false);
        }
    }
    MK_MET_SET(net, partial_bytes, b->used);
    return give_up;
}

/* ----- sending on the loop: the cork --------------------------------------- */

void mk_transport_conn_cork_schedule(mk_transport_conn *c) {
    mk_transport *net = c->net;
    if (c->cork_listed) return;
    if (uv_is_closing((uv_handle_t *)&net->flush_idle)) {
        /* After the shutdown's last pass: nothing is listed any more. */
        size_t written = c->written_plain;
        c->written_plain = 0;
        c->cork_len = 0;
        mk_transport_conn_account_done(c, written + c->unflushed);
        c->unflushed = 0;
        return;
    }
    c->cork_listed = true;
    c->cork_next = net->corked;
    net->corked = mk_transport_conn_ref(c);
    if (!uv_is_active((uv_handle_t *)&net->flush_idle))
        uv_idle_start(&net->flush_idle, mk_transport_flush_idle_cb);
}

int mk_transport_conn_cork_seal(mk_transport_conn *c) {
    size_t n = c->cork_len;
    if (n == 0) return 0;
    c->cork_len = 0; /* SSL_write copies; a close from here finds it empty */
    return mk_transport_conn_tls_write_only(c, c->cork, n);
}

/* Ensure the cork has room for `need` bytes (need <= MK_TRANSPORT_CORK). */
static int cork_room(mk_transport_conn *c, size_t need) {
    if (!c->cork && !(c->cork = malloc(MK_TRANSPORT_CORK))) {
        mk_transport_conn_close_internal(c, MK_ENOMEM, "out of memory", false);
        return MK_ENOMEM;
    }
    if (c->cork_len + need > MK_TRANSPORT_CORK) return mk_transport_conn_cork_seal(c);
    return 0;
}

/* The frame's `plain` bytes wait in the cork or the BIO; list or flush. */
static void cork_queued(mk_transport_conn *c, size_t plain) {
    c->unflushed += plain;
    c->last_tx_ms = mk_transport_now_ms(c->net);
    if (c->unflushed + c->cork_len >= MK_TRANSPORT_FLUSH_AT)
        mk_transport_conn_flush(c, 0);
    else
        mk_transport_conn_cork_schedule(c);
}

/* A framed buffer (len bytes, `plain` of them reserved) joins the output. */
static int cork_put(mk_transport_conn *c, const uint8_t *buf, size_t len, size_t plain) {
    int rc = cork_room(c, len <= MK_TRANSPORT_CORK ? len : MK_TRANSPORT_CORK);
    if (rc == 0 && len > MK_TRANSPORT_CORK) rc = mk_transport_conn_tls_write_only(c, buf, len);
    if (rc < 0) {
        mk_transport_conn_account_done(c, plain);
        return rc;
    }
    if (len <= MK_TRANSPORT_CORK) {
        memcpy(c->cork + c->cork_len, buf, len);
        c->cork_len += len;
    }
    cork_queued(c, plain);
    return 0;
}

void mk_transport_flush_corked(mk_transport *net) {
    while (net->corked) {
        mk_transport_conn *c = net->corked;
        net->corked = c->cork_next;
        c->cork_next = NULL;
        c->cork_listed = false;
        if (c->cork_len || c->unflushed) mk_transport_conn_flush(c, 0);
        size_t written = c->written_plain;
        c->written_plain = 0;
        mk_transport_conn_account_done(c, written);
        mk_transport_conn_unref(c);
    }
    uv_idle_stop(&net->flush_idle);
}

void mk_transport_conn_send_framed(mk_transport_conn *c, uint8_t *buf, size_t len, size_t plain) {
    if (mk_transport_conn_state(c) != CONN_OPEN) {
        free(buf);
        mk_transport_conn_account_done(c, plain);
        return;
    }
    /* Counted before the bytes can reach the peer (a peer that saw the
     * frame finds it counted here), taken back if TLS refused it. */
    MK_MET_ADD(c->net, frames_out, 1);
    int rc = cork_put(c, buf, len, plain);
    free(buf);
    if (rc < 0) MK_MET_SUB(c->net, frames_out, 1);
}

/* On the loop: encode the frame straight into the cork. */
static int send_corked(mk_transport_conn *c, const void *data, size_t len, size_t plain) {
    if (mk_transport_conn_state(c) != CONN_OPEN) {
        mk_transport_conn_account_done(c, plain);
        return 0;
    }
    int rc = cork_room(c, plain);
    if (rc < 0) {
        mk_transport_conn_account_done(c, plain);
        return 0; /* the connection closed, as after a failed TLS write */
    }
    mk_writer w;
    mk_writer_init(&w, c->cork + c->cork_len, MK_TRANSPORT_CORK - c->cork_len);
    rc = mk_frame_write(&w, data, len);
    if (rc < 0) {
        mk_transport_conn_account_done(c, plain);
        return rc;
    }
    MK_MET_ADD(c->net, frames_out, 1);
    c->cork_len += plain;
    cork_queued(c, plain);
    return 0;
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
    if (on_loop && plain <= MK_TRANSPORT_CORK) return send_corked(c, data, len, plain);
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
