/*
 * streams/receive.c — delivery to the consumer's user: the receive queue,
 * credits and the keepalive.
 *
 * Receive queue. DATA on an active channel (loop) is copied into the
 * consumer's ring of st_ritem under mu; the ring grows by doubling. The
 * first item to enter an empty queue makes the eventfd readable, the last
 * to leave it drains the eventfd, so the fd is readable exactly while items
 * are queued. A datum's seq beyond the last one seen on the channel plus
 * one counts the gap as drops (items this consumer did not get).
 * mk_stream_recv takes items in arrival order, decoding them with the
 * stream's codec when it has one (undecodable data are skipped and
 * counted).
 *
 * Credits. SUBSCRIBE grants `window` items; each DATA uses one of the
 * channel's outstanding credits, and a producer that sends with none left
 * is disconnected ("protocol"). So the queue holds at most `window` items
 * per producer. Items the user takes are counted in the peer's record
 * (consumed), and only while the record is still bound to the channel the
 * item came by (serial): items of an ended subscription return nothing.
 * Once half a window is consumed, recv posts credit_cb to the loop, which
 * returns every consumed count as CREDIT. The tick (attach.c) also runs
 * mk_st_send_credits with keepalive: a channel that sent nothing for
 * ST_KEEPALIVE_MS gets an empty CREDIT, so the transport's idle timeout
 * does not close quiet subscriptions.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mosaik/clock.h"
#include "mosaik/log.h"
#include "streams/streams_internal.h"

/* Append to the receive queue (mu held); false when out of memory. */
static bool rq_push(mk_stream_consumer *c, const st_ritem *r) {
    if (!mk_st_ring_room(&c->rq, 256, SIZE_MAX)) return false;
    mk_st_ring_push(&c->rq, r);
    if (c->rq.n == 1) {
        uint64_t one = 1;
        ssize_t w = write(c->efd, &one, sizeof one);
        (void)w;
    }
    return true;
}

/* Take the oldest item (mu held, queue not empty). */
static st_ritem rq_pop(mk_stream_consumer *c) {
    st_ritem r;
    mk_st_ring_shift(&c->rq, &r);
    if (c->rq.n == 0) {
        uint64_t v;
        ssize_t rd = read(c->efd, &v, sizeof v);
        (void)rd;
    }
    return r;
}

void mk_st_rq_clear(mk_stream_consumer *c) {
    while (c->rq.n) {
        st_ritem r;
        mk_st_ring_shift(&c->rq, &r);
        free(r.data);
    }
    mk_st_ring_free(&c->rq);
}

void mk_st_cons_on_data(st_chan *ch, const mk_stream_msg *m) {
    mk_stream_consumer *c = ch->c;
    if (ch->state != CS_ACTIVE) return;
    if (ch->outstanding == 0) {
        mk_st_cons_reset(ch, true, MK_STREAM_EV_DISCONNECTED, false, MK_STREAM_R_PROTOCOL,
                         "producer sent beyond its credits", 0);
        return;
    }
    ch->outstanding--;
    uint8_t *copy = malloc(m->len ? m->len : 1);
    if (!copy) return;
    if (m->len) memcpy(copy, m->data, m->len);
    uint64_t gap = 0;
    if (ch->got_any && m->seq > ch->last_seq + 1) gap = m->seq - ch->last_seq - 1;
    ch->got_any = true;
    ch->last_seq = m->seq;
    st_ritem r = {.ps = ch->ps,
                  .serial = ch->serial,
                  .producer = ch->peer,
                  .seq = m->seq,
                  .data = copy,
                  .len = m->len};
    pthread_mutex_lock(&c->o.mu);
    if (!rq_push(c, &r)) {
        pthread_mutex_unlock(&c->o.mu);
        free(copy);
        return;
    }
    if (ch->ps) {
        ch->ps->items++;
        ch->ps->bytes += m->len;
        ch->ps->drops += gap;
    }
    c->o.st.items++;
    c->o.st.bytes += m->len;
    c->o.st.drops += gap;
    pthread_cond_broadcast(&c->o.cond);
    pthread_mutex_unlock(&c->o.mu);
}

void mk_st_send_credits(mk_stream_consumer *c, bool keepalive) {
    uint64_t now = mk_mono_ms();
    for (st_chan *ch = c->o.chans; ch; ch = ch->next) {
        if (ch->state != CS_ACTIVE) continue;
        pthread_mutex_lock(&c->o.mu);
        uint32_t n = 0;
        if (ch->ps && ch->ps->cur_serial == ch->serial) {
            n = ch->ps->consumed;
            ch->ps->consumed = 0;
        }
        pthread_mutex_unlock(&c->o.mu);
        if (n == 0 && !(keepalive && now - ch->last_tx >= ST_KEEPALIVE_MS)) continue;
        if (n > MK_STREAM_MAX_WINDOW) n = MK_STREAM_MAX_WINDOW;
        mk_stream_msg m;
        mk_st_msg_init(&m, MK_SMSG_CREDIT, ch->no);
        m.window = n;
        if (mk_st_send_msg(ch->conn, &m) == 0) {
            ch->outstanding += n;
            ch->last_tx = now;
        }
    }
}

static void credit_cb(mk_transport *net, void *arg, int status) {
    (void)net;
    mk_stream_consumer *c = arg;
    pthread_mutex_lock(&c->o.mu);
    c->credit_posted = false;
    pthread_mutex_unlock(&c->o.mu);
    if (status == 0) mk_st_send_credits(c, false);
}

int mk_stream_consumer_fd(const mk_stream_consumer *c) {
    return c->efd;
}

void mk_stream_item_free(mk_stream_item *item) {
    if (!item) return;
    if (item->value && item->codec && item->codec->free_value) item->codec->free_value(item->value);
    free(item->data);
    memset(item, 0, sizeof *item);
}

/* Wait for an item and take it, counting it as consumed; *post: credits
 * are due. MK_ETIMEDOUT when none came. The deadline *dl is computed at
 * the first wait of the call (*have_dl), so taking a queued item reads no
 * clock. */
static int rq_take(mk_stream_consumer *c, uint32_t timeout_ms, struct timespec *dl, bool *have_dl,
                   st_ritem *out, bool *post) {
    pthread_mutex_lock(&c->o.mu);
    while (c->rq.n == 0) {
        if (!*have_dl) mk_st_deadline(dl, timeout_ms);
        *have_dl = true;
        if (mk_st_wait_step(&c->o, timeout_ms, dl) == ETIMEDOUT && c->rq.n == 0) {
            pthread_mutex_unlock(&c->o.mu);
            return MK_ETIMEDOUT;
        }
    }
    st_ritem r = rq_pop(c);
    *post = false;
    if (r.ps && r.ps->cur_serial == r.serial) {
        r.ps->consumed++;
        uint32_t half = c->window / 2 ? c->window / 2 : 1;
        if (r.ps->consumed >= half && !c->credit_posted) *post = c->credit_posted = true;
    }
    pthread_mutex_unlock(&c->o.mu);
    *out = r;
    return 0;
}

int mk_stream_recv(mk_stream_consumer *c, uint32_t timeout_ms, mk_stream_item *item) {
    memset(item, 0, sizeof *item);
    struct timespec dl;
    bool have_dl = false;
    for (;;) {
        st_ritem r;
        bool post;
        MK_TRY(rq_take(c, timeout_ms, &dl, &have_dl, &r, &post));
        if (post && mk_transport_post(mk_network_transport(c->o.nw), credit_cb, c) < 0) {
            pthread_mutex_lock(&c->o.mu);
            c->credit_posted = false;
            pthread_mutex_unlock(&c->o.mu);
        }
        item->producer = r.producer;
        item->seq = r.seq;
        item->data = r.data;
        item->len = r.len;
        const mk_datum_codec *codec = c->o.codec;
        if (!codec) return 0;
        mk_error err;
        mk_error_clear(&err);
        if (mk_datum_decode(codec, r.data, r.len, &item->value, &err) == 0) {
            item->codec = codec;
            return 0;
        }
        char pid[9];
        mk_id_short(&r.producer, pid);
        mk_log(MK_LOG_WARN, ST_LOG, "consumer %s: undecodable datum %llu from %s: %s", c->o.name,
               (unsigned long long)r.seq, pid, err.msg);
        free(r.data);
        memset(item, 0, sizeof *item);
        pthread_mutex_lock(&c->o.mu);
        c->o.st.decode_errors++;
        pthread_mutex_unlock(&c->o.mu);
    }
}
