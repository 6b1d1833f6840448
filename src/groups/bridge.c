/*
 * bridge.c — raft's transport (struct raft_uv_transport) over group bonds.
 *
 * Canonical raft's libuv backend wants byte streams (uv_stream_t) to and
 * from other servers. Raft never opens a port here: every raft connection
 * is a *channel* carried in frames of the bond with that peer, and raft
 * gets one end of a Unix socketpair whose other end (the "pump") lives on
 * the same loop:
 *
 *   raft --uv_pipe(fd0)--> socketpair --(fd1) pump--> DATA frames over TLS
 *   raft <--uv_pipe(fd0)-- socketpair <--(fd1) pump-- DATA frames over TLS
 *
 * connect(id, address): address is the peer id in hex; there must be an
 * established bond whose peer maps to that raft id, else RAFT_NOCONNECTION
 * (raft retries). We send OPEN(chan) and our hello (raftwire.c: magic and
 * cluster identity) and hand raft its stream on the next loop iteration (a
 * deferred callback from the loop's wake-up, never from inside connect()). The pump reads raft's
 * bytes through a parser in OUT mode, only to see which requests go to the
 * peer (raftgate.c gives it credit for one answer each).
 *
 * The remote side records the channel on OPEN and answers the opener's
 * hello with its own on the reverse direction. Everything after the hello
 * goes through the parser (raftwire.c: bounded, caps, exact layouts) and
 * the gate (raftgate.c: the role rules); only what they pass reaches raft.
 * The socketpair and raft's accept callback come with the first byte
 * passed, and raft is told the raft id *derived from the bonded peer id*
 * (never anything the peer says). Malformed input, a refused message or a
 * conflicting hello closes that channel only, and is counted. Raft never
 * writes back on a stream it accepted, nor reads one it opened, so the
 * reverse direction carries the reply hello and nothing else.
 *
 * Channel numbers are chosen by the opener; frames carry dir = 0 when the
 * channel was opened by the frame's sender, 1 when by its receiver, so both
 * sides' numbering can coexist. At most MK_GF_MAX_CHANS channels per peer
 * and direction (raft keeps one connection per peer, two while it
 * reconnects): a newer one closes the oldest. EOF or an error on the pump
 * (raft closed its end) sends CLOSE; CLOSE, the end of the bond or a
 * partition closes the pump, which raft sees as EOF. Back-pressure: when
 * the connection's send queue is full the pump stops reading (raft's
 * writes then queue in the socket and in libuv) and a stashed chunk is
 * retried by the fast tick. Bytes queued toward raft are capped
 * (MK_GF_MAX_PUMP_QUEUE): beyond it the channel closes. A probe
 * (mk_gbridge_probe) is a channel with our hello and no raft stream: the
 * reply tells the leader a peer's cluster before it adds the peer.
 *
 * Invariants: every channel is in g->chans until it starts closing; a
 * channel holds a reference to the connection it sends on; all of this
 * runs on the group's loop thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "groups/groups_internal.h"
#include "mosaik/clock.h"
#include "mosaik/log.h"

#define PROBE_EVERY_MS 500

struct mk_gchan {
    mk_gchan *next;
    mk_group *g;
    mk_id peer;
    mk_transport_conn *conn;
    bool mine, probe; /* opened by us; a probe has no raft stream */
    uint32_t id;
    uint64_t seq; /* opening order */
    bool has_pump, closing;
    uv_pipe_t pump;
    uint8_t *stash;
    size_t stash_len;
    uint8_t role;        /* the peer's bond role, from its latest frame */
    bool hello;          /* the peer's hello arrived */
    mk_gcluster cluster; /* the peer's hello */
    mk_graft_parser rx;  /* the peer's bytes: IN, or REPLY on a channel we opened */
    mk_graft_parser tx;  /* our raft's bytes on a channel we opened (OUT) */
    uint64_t opened_ms;
};

typedef struct pconn {
    struct pconn *next;
    struct raft_uv_connect *req;
    raft_uv_connect_cb cb;
    uv_pipe_t *stream;
} pconn;

typedef struct wreq {
    uv_write_t req;
    uv_buf_t buf;
    uint8_t data[];
} wreq;

static void free_raft_stream(uv_handle_t *h) {
    raft_free(h);
}

static void chan_free(mk_gchan *c) {
    if (c->conn) mk_transport_conn_unref(c->conn);
    mk_graft_parser_free(&c->rx);
    mk_graft_parser_free(&c->tx);
    free(c->stash);
    free(c);
}

static void chan_closed_cb(uv_handle_t *h) {
    chan_free(h->data);
}

static void chan_close(mk_gchan *c, bool tell_peer) {
    if (c->closing) return;
    c->closing = true;
    mk_group *g = c->g;
    for (mk_gchan **pp = &g->chans; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    if (tell_peer && c->conn) {
        mk_group_frame f = {
            .type = MK_GF_CLOSE, .group = g->id, .dir = c->mine ? 0 : 1, .chan = c->id};
        (void)mk_group_send_frame(c->conn, &f);
    }
    if (c->has_pump)
        uv_close((uv_handle_t *)&c->pump, chan_closed_cb);
    else
        chan_free(c);
}

/* Send one DATA frame; 0, MK_EBUSY (stash it) or another error. */
static int chan_send(mk_gchan *c, const uint8_t *data, size_t len) {
    mk_group_frame f = {.type = MK_GF_DATA,
                        .group = c->g->id,
                        .dir = c->mine ? 0 : 1,
                        .chan = c->id,
                        .payload = data,
                        .plen = len};
    return mk_group_send_frame(c->conn, &f);
}

static int send_hello(mk_gchan *c) {
    uint8_t h[MK_GRAFT_HELLO_LEN];
    mk_graft_hello_write(h, &c->g->cluster);
    return chan_send(c, h, sizeof h);
}

/* Close c for a stream failure, counting it by its kind. */
static void chan_fail(mk_gchan *c, int rc, const char *why) {
    if (rc == MK_EMALFORMED || rc == MK_ETOOBIG)
        mk_ggate_count(c->g, MK_GC_MALFORMED, &c->peer, why);
    chan_close(c, true);
}

/* ----- our raft's bytes (the pump's read side) ------------------------------ */

static int observe_msg(void *ctx, const mk_graft_msg *m, const char **why) {
    (void)why;
    mk_gchan *c = ctx;
    mk_ggate_observe(c->g, &c->peer, m);
    return MK_GRAFT_FORWARD;
}

/* Every pump of the loop reads into the group's one scratch buffer
 * (g->pump_buf): libuv calls alloc and read back to back on this thread,
 * and pump_read is done with the bytes before it returns (a chunk to keep
 * is copied into the stash). */
static void pump_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    mk_gchan *c = h->data;
    mk_group *g = c->g;
    if (!g->pump_buf) g->pump_buf = malloc(MK_GF_CHUNK);
    buf->base = (char *)g->pump_buf;
    buf->len = g->pump_buf ? MK_GF_CHUNK : 0;
}

static void pump_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    mk_gchan *c = s->data;
    if (nread > 0 && !c->closing && c->mine) {
        mk_graft_ops ops = {.on_msg = observe_msg, .ctx = c};
        if (mk_graft_feed(&c->tx, (const uint8_t *)buf->base, (size_t)nread, &ops) < 0) {
            mk_log(MK_LOG_WARN, "groups", "our raft stream: %s", c->tx.why);
            chan_close(c, true);
            return;
        }
        int rc = chan_send(c, (const uint8_t *)buf->base, (size_t)nread);
        if (rc == MK_EBUSY) {
            c->stash = malloc((size_t)nread); /* keep the chunk */
            if (!c->stash) {
                chan_close(c, true);
                return;
            }
            memcpy(c->stash, buf->base, (size_t)nread);
            c->stash_len = (size_t)nread;
            uv_read_stop(s);
            return;
        }
        if (rc < 0) chan_close(c, false);
    } else if (nread < 0) {
        chan_close(c, true);
    }
    /* Raft never writes on a stream it accepted: such bytes are dropped. */
}

/* ----- channels ------------------------------------------------------------ */

/* Keep at most MK_GF_MAX_CHANS - 1 channels of (peer, direction) before a
 * new one: the oldest go. Probes are not counted. */
static void chan_cap(mk_group *g, const mk_id *peer, bool mine) {
    for (;;) {
        mk_gchan *oldest = NULL;
        unsigned n = 0;
        for (mk_gchan *c = g->chans; c; c = c->next)
            if (c->mine == mine && !c->probe && mk_id_eq(&c->peer, peer)) {
                n++;
                if (!oldest || c->seq < oldest->seq) oldest = c;
            }
        if (n < MK_GF_MAX_CHANS) return;
        mk_ggate_count(g, MK_GC_EVICTED, peer, "a newer raft channel with the peer");
        chan_close(oldest, true);
    }
}

static mk_gchan *chan_new(mk_group *g, const mk_id *peer, mk_transport_conn *conn, bool mine,
                          bool probe, uint32_t id) {
    if (!probe) chan_cap(g, peer, mine);
    mk_gchan *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->g = g;
    c->peer = *peer;
    c->conn = mk_transport_conn_ref(conn);
    c->mine = mine;
    c->probe = probe;
    c->id = id;
    c->seq = ++g->chan_seq;
    c->opened_ms = mk_mono_ms();
    mk_graft_parser_init(&c->rx, mine ? MK_GRAFT_REPLY : MK_GRAFT_IN, &g->rlim);
    mk_graft_parser_init(&c->tx, MK_GRAFT_OUT, &g->tlim);
    c->next = g->chans;
    g->chans = c;
    return c;
}

/* Give c its socketpair: raft's end wrapped in a raft_malloc'ed uv_pipe_t,
 * the pump's end in c->pump (reading). */
static int chan_pump(mk_gchan *c, uv_pipe_t **raft_end) {
    mk_group *g = c->g;
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        return RAFT_IOERR;
    uv_pipe_t *r = raft_malloc(sizeof *r);
    if (!r) {
        close(fds[0]);
        close(fds[1]);
        return RAFT_NOMEM;
    }
    uv_pipe_init(&g->loop, &c->pump, 0);
    uv_pipe_init(&g->loop, r, 0);
    c->pump.data = c;
    c->has_pump = true;
    if (uv_pipe_open(&c->pump, fds[1]) != 0 || uv_pipe_open(r, fds[0]) != 0) {
        close(fds[0]);
        close(fds[1]);
        uv_close((uv_handle_t *)r, free_raft_stream);
        return RAFT_IOERR;
    }
    uv_read_start((uv_stream_t *)&c->pump, pump_alloc, pump_read);
    *raft_end = r;
    return 0;
}

static mk_gchan *chan_find(mk_group *g, const mk_id *peer, bool mine, uint32_t id) {
    for (mk_gchan *c = g->chans; c; c = c->next)
        if (c->mine == mine && c->id == id && mk_id_eq(&c->peer, peer)) return c;
    return NULL;
}

/* ----- the transport interface ----------------------------------------- */

static int tr_init(struct raft_uv_transport *t, raft_id id, const char *address) {
    (void)t;
    (void)id;
    (void)address;
    return 0;
}

static int tr_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb) {
    mk_group *g = t->impl;
    g->accept_cb = cb;
    return 0;
}

/* Open channel chan to peer on conn: OPEN and our hello. */
static mk_gchan *open_chan(mk_group *g, const mk_id *peer, mk_transport_conn *conn, bool probe,
                           uv_pipe_t **raft_end) {
    uint32_t chan = ++g->next_chan;
    mk_gchan *c = chan_new(g, peer, conn, true, probe, chan);
    if (!c) return NULL;
    if (raft_end && chan_pump(c, raft_end) != 0) {
        chan_close(c, false);
        return NULL;
    }
    mk_group_frame f = {.type = MK_GF_OPEN, .group = g->id, .chan = chan};
    if (mk_group_send_frame(conn, &f) < 0 || send_hello(c) < 0) {
        if (raft_end) uv_close((uv_handle_t *)*raft_end, free_raft_stream);
        chan_close(c, false);
        return NULL;
    }
    return c;
}

static int tr_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb) {
    mk_group *g = t->impl;
    mk_id peer;
    if (g->trans_closed) return RAFT_CANCELED;
    if (mk_id_from_hex(&peer, address, NULL) < 0 || mk_group_rid_of(&peer) != id) {
        snprintf(t->errmsg, sizeof t->errmsg, "bad raft address");
        return RAFT_NOCONNECTION;
    }
    mk_transport_conn *conn = mk_group_bond_conn(g, &peer);
    if (!conn) {
        snprintf(t->errmsg, sizeof t->errmsg, "no bond with that peer");
        return RAFT_NOCONNECTION;
    }
    pconn *p = calloc(1, sizeof *p);
    mk_gchan *c = p ? open_chan(g, &peer, conn, false, &p->stream) : NULL;
    mk_transport_conn_unref(conn);
    if (!c) {
        free(p);
        return RAFT_NOCONNECTION;
    }
    mk_log(MK_LOG_DEBUG, "groups", "raft connect to %.8s: chan %u", address, c->id);
    p->req = req;
    p->cb = cb;
    p->next = g->pconns;
    g->pconns = p;
    mk_gloop_wake(g); /* the deferred callback runs from the wake-up */
    return 0;
}

/* Fire the deferred connect callbacks (status 0 unless canceled). */
static void fire_pconns(mk_group *g, int status) {
    pconn *list = g->pconns;
    g->pconns = NULL;
    /* Oldest first. */
    pconn *rev = NULL;
    while (list) {
        pconn *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        pconn *p = rev;
        rev = p->next;
        if (status == 0) {
            p->cb(p->req, (struct uv_stream_s *)p->stream, 0);
        } else {
            uv_close((uv_handle_t *)p->stream, free_raft_stream);
            p->cb(p->req, NULL, status);
        }
        free(p);
    }
}

void mk_gbridge_connected(mk_group *g, void *req_ptr) {
    (void)req_ptr;
    if (g->pconns) fire_pconns(g, g->trans_closed ? RAFT_CANCELED : 0);
}

static void tr_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb) {
    mk_group *g = t->impl;
    g->trans_closed = true;
    g->accept_cb = NULL;
    fire_pconns(g, RAFT_CANCELED);
    mk_gbridge_close_all(g);
    mk_ggate_free_all(g);
    if (cb) cb(t);
}

void mk_gbridge_setup(mk_group *g) {
    memset(&g->trans, 0, sizeof g->trans);
    g->trans.impl = g;
    g->trans.init = tr_init;
    g->trans.listen = tr_listen;
    g->trans.connect = tr_connect;
    g->trans.close = tr_close;
}

/* ----- the peer's bytes ---------------------------------------------------- */

static int in_hello(void *ctx, const mk_gcluster *cl, const char **why) {
    mk_gchan *c = ctx;
    c->cluster = *cl;
    c->hello = true;
    int rc = mk_ggate_hello(c->g, &c->peer, cl, why);
    /* Answered even when refused, so the opener learns why. */
    if (send_hello(c) < 0 && rc == 0) {
        *why = "cannot answer the hello";
        rc = MK_ENETWORK;
    }
    return rc;
}

static int in_msg(void *ctx, const mk_graft_msg *m, const char **why) {
    mk_gchan *c = ctx;
    return mk_ggate_judge_in(c->g, &c->peer, c->role, &c->cluster, m, why);
}

static void write_done(uv_write_t *req, int status) {
    (void)status;
    free(req->data);
}

/* Pass bytes to raft; its stream (and accept) comes with the first ones. */
static int in_out(void *ctx, const uint8_t *d, size_t n) {
    mk_gchan *c = ctx;
    mk_group *g = c->g;
    if (!c->has_pump) {
        uv_pipe_t *r;
        if (!g->accept_cb || g->trans_closed || chan_pump(c, &r) != 0) return MK_ESTATE;
        char addr[MK_ID_HEX_LEN];
        mk_id_to_hex(&c->peer, addr);
        mk_log(MK_LOG_DEBUG, "groups", "raft accept from %.8s: chan %u", addr, c->id);
        g->accept_cb(&g->trans, mk_group_rid_of(&c->peer), addr, (struct uv_stream_s *)r);
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pump) > MK_GF_MAX_PUMP_QUEUE) {
        mk_log(MK_LOG_WARN, "groups", "raft channel backlog over cap: closing");
        return MK_ETOOBIG;
    }
    /* Straight into the socket when nothing is queued before it (libuv
     * refuses a try-write behind queued writes, so order holds); only
     * what does not fit is copied and queued. */
    uv_buf_t tb = uv_buf_init((char *)d, (unsigned)n);
    int tw = uv_try_write((uv_stream_t *)&c->pump, &tb, 1);
    if (tw > 0) {
        d += tw;
        n -= (size_t)tw;
        if (n == 0) return 0;
    } else if (tw != UV_EAGAIN) {
        return MK_ENETWORK;
    }
    wreq *w = malloc(sizeof *w + n);
    if (!w) return MK_ENOMEM;
    memcpy(w->data, d, n);
    w->buf = uv_buf_init((char *)w->data, (unsigned)n);
    w->req.data = w;
    if (uv_write(&w->req, (uv_stream_t *)&c->pump, &w->buf, 1, write_done) != 0) {
        free(w);
        return MK_ENETWORK;
    }
    return 0;
}

static int reply_hello(void *ctx, const mk_gcluster *cl, const char **why) {
    mk_gchan *c = ctx;
    c->cluster = *cl;
    c->hello = true;
    return mk_ggate_hello(c->g, &c->peer, cl, why);
}

void mk_gbridge_on_data(mk_group *g, const mk_id *peer, uint8_t role, uint8_t dir, uint32_t chan,
                        const uint8_t *data, size_t len) {
    /* dir 0: opened by the sender, i.e. not by us. */
    mk_gchan *c = chan_find(g, peer, dir == 1, chan);
    if (!c || c->closing || len == 0) return;
    c->role = role;
    mk_graft_ops ops = {.ctx = c};
    if (c->mine) {
        ops.on_hello = reply_hello;
    } else {
        ops.on_hello = in_hello;
        ops.on_msg = in_msg;
        ops.out = in_out;
    }
    int rc = mk_graft_feed(&c->rx, data, len, &ops);
    if (rc < 0) {
        mk_log(MK_LOG_DEBUG, "groups", "raft channel %u closed: %s", chan, c->rx.why);
        chan_fail(c, rc, c->rx.why);
    } else if (c->probe && c->hello) {
        chan_close(c, true); /* the reply came: the probe is done */
    }
}

/* ----- events from the bond -------------------------------------------- */

void mk_gbridge_on_open(mk_group *g, const mk_id *peer, mk_transport_conn *conn, uint32_t chan) {
    /* The refusal: CLOSE of the channel the sender numbered (dir 1). */
    mk_group_frame refuse = {.type = MK_GF_CLOSE, .group = g->id, .dir = 1, .chan = chan};
    mk_transport_conn *bc = mk_group_bond_conn(g, peer);
    if (!bc || bc != conn || !g->accept_cb || g->trans_closed || chan_find(g, peer, false, chan)) {
        mk_log(MK_LOG_DEBUG, "groups", "refusing raft channel %u (bond %d same %d accept %d)", chan,
               bc != NULL, bc == conn, g->accept_cb != NULL);
        if (bc) mk_transport_conn_unref(bc);
        (void)mk_group_send_frame(conn, &refuse);
        return;
    }
    mk_transport_conn_unref(bc);
    if (!chan_new(g, peer, conn, false, false, chan)) (void)mk_group_send_frame(conn, &refuse);
}

void mk_gbridge_on_close(mk_group *g, const mk_id *peer, uint8_t dir, uint32_t chan) {
    mk_gchan *c = chan_find(g, peer, dir == 1, chan);
    if (c) chan_close(c, false);
}

void mk_gbridge_peer_down(mk_group *g, const mk_id *peer) {
    for (mk_gchan *c = g->chans, *n; c; c = n) {
        n = c->next;
        if (mk_id_eq(&c->peer, peer)) chan_close(c, true);
    }
    mk_ggate_peer_down(g, peer);
}

void mk_gbridge_probe(mk_group *g, const mk_id *peer) {
    for (mk_gchan *c = g->chans; c; c = c->next)
        if (c->probe && mk_id_eq(&c->peer, peer)) {
            if (mk_mono_ms() - c->opened_ms < 4 * PROBE_EVERY_MS) return;
            chan_close(c, true); /* unanswered: try again */
            break;
        }
    if (g->trans_closed || !mk_ggate_probe_due(g, peer, PROBE_EVERY_MS)) return;
    mk_transport_conn *conn = mk_group_bond_conn(g, peer);
    if (!conn) return;
    (void)open_chan(g, peer, conn, true, NULL);
    mk_transport_conn_unref(conn);
}

void mk_gbridge_flush(mk_group *g) {
    for (mk_gchan *c = g->chans, *n; c; c = n) {
        n = c->next;
        if (!c->stash) continue;
        int rc = chan_send(c, c->stash, c->stash_len);
        if (rc == MK_EBUSY) continue;
        free(c->stash);
        c->stash = NULL;
        if (rc < 0)
            chan_close(c, false);
        else
            uv_read_start((uv_stream_t *)&c->pump, pump_alloc, pump_read);
    }
}

void mk_gbridge_close_all(mk_group *g) {
    while (g->chans)
        chan_close(g->chans, true);
}
