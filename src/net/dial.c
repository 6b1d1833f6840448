/*
 * net/dial.c — how connections come to be and come back: mk_transport_dial,
 * starting an outbound connection, accepting inbound ones under the
 * pending-handshake limit, keep records (reconnection with backoff) and
 * mk_transport_forget.
 *
 * Dialing. mk_transport_dial parses the address and, under net->mu in one
 * critical section, looks the protocol up (taking a reference) and queues
 * the dial for the I/O thread; mk_transport_protocol_unregister removes the
 * protocol and queues its own work the same way, so a dial either was
 * queued before the unregistration (and completes before it returns) or
 * fails at once with MK_ENOTFOUND. On the loop, a dial reuses an open
 * connection to (peer, protocol), else waits for one being dialed, else
 * starts a new one; a dial of a protocol unregistered meanwhile completes
 * with MK_ESTATE.
 *
 * Inbound limits: at most max_pending inbound handshakes at a time. When
 * the table is full, the *oldest* pending handshake is closed to admit the
 * newcomer (evict_oldest_pending), so idle sockets cannot lock real peers
 * out; each still dies at the handshake deadline. max_conns refuses.
 *
 * Keep records (reconnection): a kept (peer, protocol) redials after its
 * connection closed for a reason other than a local close or stop, after
 * backoff/2 + random(backoff/2) ms; backoff doubles up to reconnect_max_ms
 * and resets when a connection opens (conn.c). A record holds a reference
 * on its protocol and is removed by mk_transport_conn_close, mk_transport_forget, the
 * protocol's unregistration or the network's stop.
 */
#include <stdlib.h>
#include <string.h>

#include "mosaik/log.h"
#include "net/net_internal.h"

/* ----- starting and accepting connections ------------------------------------ */

static void on_connected(uv_connect_t *req, int status) {
    mk_transport_conn *c = req->data;
    if (status == UV_ECANCELED || mk_transport_conn_state(c) != CONN_CONNECTING) return;
    char why[200];
    if (status < 0) {
        snprintf(why, sizeof why, "connect to %s: %s", c->remote, uv_strerror(status));
        mk_transport_conn_close_internal(c, MK_ENETWORK, why, false);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    mk_error e;
    mk_error_clear(&e);
    if (mk_transport_tls_new(c->net, c, true, &e) < 0) {
        mk_transport_conn_close_internal(c, e.code, e.msg, false);
        return;
    }
    mk_transport_conn_set_state(c, CONN_HANDSHAKE);
    mk_transport_conn_read_start(c);
    mk_transport_conn_drive(c);
}

int mk_transport_conn_dial_start(mk_transport *net, const mk_id *peer, mk_transport_proto *proto,
                                 const struct sockaddr *addr, const char *addr_str,
                                 mk_transport_keep *keep, mk_transport_waiter *waiter) {
    if (net->n_conns >= net->cfg.max_conns) return MK_EBUSY;
    mk_transport_conn *c = mk_transport_conn_new(net, false);
    if (!c) return MK_ENOMEM;
    c->peer = *peer;
    mk_transport_conn_set_proto(c, proto);
    snprintf(c->remote, sizeof c->remote, "%s", addr_str);
    if (keep) {
        c->keep = keep;
        keep->conn = c;
    }
    if (waiter) {
        waiter->next = c->waiters;
        c->waiters = waiter;
    }
    uv_timer_start(&c->timer, mk_transport_conn_on_timer, net->cfg.handshake_timeout_ms, 0);
    int rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, on_connected);
    if (rc < 0) {
        char why[200];
        snprintf(why, sizeof why, "connect to %s: %s", addr_str, uv_strerror(rc));
        mk_transport_conn_close_internal(c, MK_ENETWORK, why, false);
    }
    return 0;
}

static void free_handle(uv_handle_t *h) {
    free(h);
}

/* The pending-handshake table is full: close the oldest inbound handshake
 * (smallest serial) so a newcomer always gets a slot. Idle sockets that
 * never speak TLS therefore cannot lock real peers out; they only shorten
 * each other's lives. Returns false if there is nothing to evict. */
static bool evict_oldest_pending(mk_transport *net) {
    mk_transport_conn *old = NULL;
    for (mk_transport_conn *c = net->conns; c; c = c->next)
        if (c->counted_pending_in && mk_transport_conn_state(c) < CONN_CLOSING &&
            (!old || c->serial < old->serial))
            old = c;
    if (!old) return false;
    old->evicted = true;
    mk_log(MK_LOG_WARN, "net", "dropped the oldest pending handshake (%s): %u pending", old->remote,
           (unsigned)net->n_pending_in);
    mk_transport_conn_close_internal(old, MK_EBUSY, "too many pending handshakes (oldest dropped)",
                                     false);
    return true;
}

/* Over a limit: accept the socket and close it at once. */
static void refuse_inbound(mk_transport *net) {
    uv_tcp_t *tmp = malloc(sizeof *tmp);
    if (!tmp) return;
    uv_tcp_init(&net->loop, tmp);
    uv_accept((uv_stream_t *)&net->listener, (uv_stream_t *)tmp);
    uv_close((uv_handle_t *)tmp, free_handle);
    MK_MET_ADD(net, refused_limit, 1);
    mk_log(MK_LOG_WARN, "net", "refused an inbound connection: %s",
           net->n_pending_in >= net->cfg.max_pending ? "too many pending handshakes"
                                                     : "too many connections");
}

void mk_transport_conn_accept(mk_transport *net) {
    if (net->n_pending_in >= net->cfg.max_pending && net->n_conns < net->cfg.max_conns)
        evict_oldest_pending(net);
    if (net->n_pending_in >= net->cfg.max_pending || net->n_conns >= net->cfg.max_conns) {
        refuse_inbound(net);
        return;
    }
    mk_transport_conn *c = mk_transport_conn_new(net, true);
    if (!c) return;
    if (uv_accept((uv_stream_t *)&net->listener, (uv_stream_t *)&c->tcp) != 0) {
        mk_transport_conn_close_internal(c, MK_ENETWORK, "accept failed", false);
        mk_transport_conn_close_handles(c);
        return;
    }
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
        mk_transport_addr_format((const struct sockaddr *)&ss, c->remote, sizeof c->remote);
    c->counted_pending_in = true;
    net->n_pending_in++;
    uv_tcp_nodelay(&c->tcp, 1);
    mk_error e;
    mk_error_clear(&e);
    if (mk_transport_tls_new(net, c, false, &e) < 0) {
        mk_transport_conn_close_internal(c, e.code, e.msg, false);
        return;
    }
    uv_timer_start(&c->timer, mk_transport_conn_on_timer, net->cfg.handshake_timeout_ms, 0);
    mk_transport_conn_read_start(c);
}

/* ----- keep records ------------------------------------------------------------ */

static void on_keep_timer(uv_timer_t *t) {
    mk_transport_keep *k = t->data;
    mk_transport *net = k->net;
    if (k->conn || net->stopping || atomic_load(&k->proto->dead)) return;
    MK_MET_ADD(net, reconnects, 1);
    mk_transport_conn *o = mk_transport_conn_find_open(net, &k->peer, k->proto);
    if (!o) o = mk_transport_conn_find_dialing(net, &k->peer, k->proto);
    if (o) {
        if (!o->keep) {
            o->keep = k;
            k->conn = o;
        }
        return;
    }
    if (mk_transport_conn_dial_start(net, &k->peer, k->proto, (const struct sockaddr *)&k->addr,
                                     k->addr_str, k, NULL) < 0)
        mk_transport_keep_schedule(k);
}

void mk_transport_keep_schedule(mk_transport_keep *k) {
    mk_transport *net = k->net;
    uint32_t b = k->backoff_ms ? k->backoff_ms : 1;
    uint64_t delay = b / 2 + mk_random_below((uint64_t)b / 2 + 1);
    uint64_t next = (uint64_t)b * 2;
    k->backoff_ms = next > net->cfg.reconnect_max_ms ? net->cfg.reconnect_max_ms : (uint32_t)next;
    uv_timer_start(&k->timer, on_keep_timer, delay, 0);
}

mk_transport_keep *mk_transport_keep_find(mk_transport *net, const mk_id *peer,
                                          const mk_transport_proto *proto) {
    for (mk_transport_keep *k = net->keeps; k; k = k->next)
        if (k->proto == proto && mk_id_eq(&k->peer, peer)) return k;
    return NULL;
}

mk_transport_keep *mk_transport_keep_get(mk_transport *net, const mk_id *peer,
                                         mk_transport_proto *proto, const struct sockaddr *addr,
                                         const char *addr_str) {
    mk_transport_keep *k = mk_transport_keep_find(net, peer, proto);
    if (!k) {
        k = calloc(1, sizeof *k);
        if (!k) return NULL;
        k->net = net;
        k->peer = *peer;
        k->proto = mk_transport_proto_ref(proto);
        k->backoff_ms = net->cfg.reconnect_min_ms;
        uv_timer_init(&net->loop, &k->timer);
        k->timer.data = k;
        k->next = net->keeps;
        net->keeps = k;
    }
    size_t alen =
        addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    memcpy(&k->addr, addr, alen);
    snprintf(k->addr_str, sizeof k->addr_str, "%s", addr_str);
    return k;
}

static void free_keep(uv_handle_t *h) {
    mk_transport_keep *k = h->data;
    mk_transport_proto_unref(k->proto);
    free(k);
}

void mk_transport_keep_remove(mk_transport *net, mk_transport_keep *k) {
    for (mk_transport_keep **pp = &net->keeps; *pp; pp = &(*pp)->next) {
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    }
    if (k->conn) k->conn->keep = NULL;
    k->conn = NULL;
    uv_close((uv_handle_t *)&k->timer, free_keep);
}

/* ----- mk_transport_dial ------------------------------------------------------------ */

typedef struct dial_job {
    mk_id peer;
    mk_transport_proto *proto; /* a reference */
    struct sockaddr_storage addr;
    char addr_str[MK_TRANSPORT_ADDR_MAX];
    bool keep;
    mk_transport_dial_cb cb;
    void *ctx;
} dial_job;

static void dial_job_free(dial_job *j) {
    mk_transport_proto_unref(j->proto);
    free(j);
}

/* Complete the dial with an error (cb may be NULL) and free the job. */
static void dial_fail(dial_job *j, int code, const char *why) {
    if (j->cb) {
        mk_error e;
        mk_error_set(&e, code, "dial %s: %s", j->addr_str, why);
        j->cb(NULL, code, &e, j->ctx);
    }
    dial_job_free(j);
}

/* Attach keep record k (may be NULL) to c unless either is taken. */
static void keep_attach(mk_transport_keep *k, mk_transport_conn *c) {
    if (k && !k->conn && !c->keep) {
        k->conn = c;
        c->keep = k;
    }
}

/* The dial on the loop: reuse an open connection, wait for one being
 * dialed, or start one. 0, or a negative code with *why. */
static int dial_proceed(mk_transport *net, dial_job *j, const char **why) {
    *why = "out of memory";
    mk_transport_keep *k = NULL;
    if (j->keep) {
        k = mk_transport_keep_get(net, &j->peer, j->proto, (const struct sockaddr *)&j->addr,
                                  j->addr_str);
        if (!k) return MK_ENOMEM;
    }
    mk_transport_conn *c = mk_transport_conn_find_open(net, &j->peer, j->proto);
    if (c) {
        keep_attach(k, c);
        if (j->cb) j->cb(c, 0, NULL, j->ctx);
        return 0;
    }
    mk_transport_waiter *w = NULL;
    if (j->cb) {
        w = calloc(1, sizeof *w);
        if (!w) return MK_ENOMEM;
        w->cb = j->cb;
        w->ctx = j->ctx;
    }
    c = mk_transport_conn_find_dialing(net, &j->peer, j->proto);
    if (c) {
        if (w) {
            w->next = c->waiters;
            c->waiters = w;
        }
        keep_attach(k, c);
        return 0;
    }
    if (k) {
        uv_timer_stop(&k->timer); /* dialing now instead of after the backoff */
        if (k->conn) k = NULL;    /* attached elsewhere already */
    }
    int rc = mk_transport_conn_dial_start(net, &j->peer, j->proto,
                                          (const struct sockaddr *)&j->addr, j->addr_str, k, w);
    if (rc < 0) {
        free(w);
        if (rc == MK_EBUSY) *why = "too many connections";
    }
    return rc;
}

static void dial_run(mk_transport *net, void *ctx, int status) {
    dial_job *j = ctx;
    const char *why = "network stopped";
    int rc = MK_ESTATE;
    if (status == 0 && atomic_load(&j->proto->dead))
        why = "protocol unregistered";
    else if (status == 0)
        rc = dial_proceed(net, j, &why);
    if (rc < 0)
        dial_fail(j, rc, why);
    else
        dial_job_free(j);
}

/* Under mu: find the protocol and queue fn(job) in one critical section
 * (see the top comment); *proto receives the reference. */
static int post_for_proto(mk_transport *net, const char *protocol, mk_transport_proto **proto,
                          mk_transport_fn fn, void *job) {
    uv_mutex_lock(&net->mu);
    *proto = mk_transport_proto_find_locked(net, protocol, strlen(protocol));
    int rc = *proto ? mk_transport_post_locked(net, fn, job) : MK_ENOTFOUND;
    uv_mutex_unlock(&net->mu);
    if (rc < 0) {
        mk_transport_proto_unref(*proto);
        *proto = NULL;
    }
    return rc;
}

int mk_transport_dial(mk_transport *net, const mk_id *peer, const char *addr, const char *protocol,
                      const mk_transport_dial_opts *opts, mk_transport_dial_cb cb, void *ctx,
                      mk_error *err) {
    if (!net || !peer || !protocol) return mk_error_set(err, MK_EINVAL, "dial: missing argument");
    if (mk_id_eq(peer, &net->self)) return mk_error_set(err, MK_EINVAL, "dial: that is our own id");
    dial_job *j = calloc(1, sizeof *j);
    if (!j) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int rc = mk_transport_addr_parse(addr, &j->addr, false, err);
    if (rc < 0) {
        free(j);
        return mk_error_prefix(err, rc, "dial");
    }
    mk_transport_addr_format((const struct sockaddr *)&j->addr, j->addr_str, sizeof j->addr_str);
    j->peer = *peer;
    j->keep = opts && opts->keep;
    j->cb = cb;
    j->ctx = ctx;
    rc = post_for_proto(net, protocol, &j->proto, dial_run, j);
    if (rc < 0) free(j);
    if (rc == MK_ENOTFOUND)
        return mk_error_set(err, rc, "dial: protocol \"%s\" is not registered", protocol);
    if (rc < 0) return mk_error_set(err, rc, "dial: network not running");
    return 0;
}

/* ----- mk_transport_forget ------------------------------------------------------------ */

typedef struct forget_job {
    mk_id peer;
    mk_transport_proto *proto; /* a reference */
} forget_job;

static void forget_run(mk_transport *net, void *ctx, int status) {
    forget_job *j = ctx;
    if (status == 0) {
        mk_transport_keep *k = mk_transport_keep_find(net, &j->peer, j->proto);
        if (k) mk_transport_keep_remove(net, k);
        mk_transport_conn *c = mk_transport_conn_find_open(net, &j->peer, j->proto);
        if (!c) c = mk_transport_conn_find_dialing(net, &j->peer, j->proto);
        if (c) mk_transport_conn_close_internal(c, MK_ESTATE, "forgotten", true);
    }
    mk_transport_proto_unref(j->proto);
    free(j);
}

int mk_transport_forget(mk_transport *net, const mk_id *peer, const char *protocol) {
    if (!net || !peer || !protocol) return MK_EINVAL;
    forget_job *j = calloc(1, sizeof *j);
    if (!j) return MK_ENOMEM;
    j->peer = *peer;
    int rc = post_for_proto(net, protocol, &j->proto, forget_run, j);
    if (rc < 0) free(j);
    return rc;
}
