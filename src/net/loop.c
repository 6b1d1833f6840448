/*
 * net/loop.c — the network object: I/O thread, request queue (post and
 * call), timers, start/stop/free, accessors, metrics, address parsing.
 * Protocols are in proto.c, dialing and accepting in dial.c, connections
 * in conn*.c.
 *
 * Threading: each mk_transport has one libuv loop, run by one thread created in
 * mk_transport_start. Other threads never touch libuv handles; they append a
 * request to net->req_head under net->mu and wake the loop with
 * uv_async_send (coalescing is fine: the async callback drains the whole
 * queue, in order). A request is either a posted function (run once, with
 * status 0, or MK_ESTATE if the network stopped first so it can free its
 * context) or a synchronous call (mk_transport_call) whose issuer waits on
 * net->cond until the loop ran it. Code already on the loop thread
 * (detected by a thread-local pointer set by the thread that runs the
 * loop) calls directly.
 *
 * mk_transport_call while the network closes: a call refused (STOPPING or
 * STOPPED) or cancelled by the shutdown returns MK_ESTATE only once the I/O
 * thread has been joined, so the caller may then do on its own thread what
 * the call would have done: nothing of the network runs any more, and
 * everything the I/O thread did is ordered before (net->mu, the state
 * change after the join). Only the thread running mk_transport_stop waits for
 * the join; a never-started network shuts down on the stopping thread,
 * which counts as the loop thread meanwhile.
 *
 * States: NEW (created; requests may be queued) -> RUNNING (thread runs) ->
 * STOPPING (no new requests; the loop cancels queued ones, closes every
 * connection, keep timer, user timer, the listener and the async handle) ->
 * STOPPED (uv_run returned because no handle is left; thread joined). The
 * state changes under net->mu, and enqueuers check it under the same lock,
 * so no request can arrive after the loop drained the queue.
 *
 * Before start, the creating thread owns the loop: timers created then are
 * initialised directly, and a network freed without being started runs its
 * loop once on the freeing thread to complete the handle closes.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "core/resource.h"
#include "mosaik/encoding.h"
#include "mosaik/log.h"
#include "net/net_internal.h"

static _Thread_local mk_transport *tls_loop_net;

enum { REQ_POST = 1, REQ_CALL = 2 };

struct mk_transport_req {
    mk_transport_req *next;
    int kind;
    mk_transport_fn fn;                        /* POST */
    void (*cfn)(mk_transport *net, void *ctx); /* CALL */
    void *ctx;
    bool done; /* CALL: set under mu */
    int status;
};

struct mk_transport_timer {
    mk_transport *net;
    mk_transport_timer *prev, *next; /* net->timers, loop */
    uv_timer_t h;
    mk_transport_timer_cb cb;
    void *ctx;
    bool closed; /* handle closed by shutdown */
    uint64_t delay, repeat;
};

/* ----- addresses ------------------------------------------------------------ */

void mk_transport_addr_format(const struct sockaddr *sa, char *out, size_t n) {
    char ip[64] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(out, n, "%s:%d", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(out, n, "[%s]:%d", ip, port);
    } else {
        snprintf(out, n, "?");
    }
}

int mk_transport_addr_parse(const char *s, struct sockaddr_storage *out, bool allow_port0,
                            mk_error *err) {
    if (!s) return mk_error_set(err, MK_EINVAL, "address missing");
    size_t len = strnlen(s, MK_TRANSPORT_ADDR_MAX + 1);
    if (len == 0 || len > MK_TRANSPORT_ADDR_MAX)
        return mk_error_set(err, MK_EINVAL, "address: empty or longer than %d",
                            MK_TRANSPORT_ADDR_MAX);
    char host[MK_TRANSPORT_ADDR_MAX + 1];
    const char *port_s;
    bool v6 = false;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return mk_error_set(err, MK_EINVAL, "address \"%s\": expected [ipv6]:port", s);
        size_t hl = (size_t)(rb - s - 1);
        memcpy(host, s + 1, hl);
        host[hl] = 0;
        port_s = rb + 2;
        v6 = true;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon) return mk_error_set(err, MK_EINVAL, "address \"%s\": expected ip:port", s);
        size_t hl = (size_t)(colon - s);
        memcpy(host, s, hl);
        host[hl] = 0;
        port_s = colon + 1;
    }
    if (!*port_s || strlen(port_s) > 5 || strspn(port_s, "0123456789") != strlen(port_s))
        return mk_error_set(err, MK_EINVAL, "address \"%s\": bad port", s);
    unsigned long port = strtoul(port_s, NULL, 10);
    if (port > 65535 || (port == 0 && !allow_port0))
        return mk_error_set(err, MK_EINVAL, "address \"%s\": port out of range", s);
    memset(out, 0, sizeof *out);
    int rc = v6 ? uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out)
                : uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out);
    if (rc != 0) return mk_error_set(err, MK_EINVAL, "address \"%s\": not a numeric IP address", s);
    return 0;
}

/* ----- request queue --------------------------------------------------------- */

bool mk_transport_on_loop(const mk_transport *net) {
    return net && tls_loop_net == net;
}

/* Under mu, the state checked by the caller. */
static void enqueue_locked(mk_transport *net, mk_transport_req *r) {
    r->next = NULL;
    if (net->req_tail)
        net->req_tail->next = r;
    else
        net->req_head = r;
    net->req_tail = r;
    uv_async_send(&net->async);
}

int mk_transport_post_locked(mk_transport *net, mk_transport_fn fn, void *ctx) {
    int st = atomic_load(&net->state);
    if (st != NET_NEW && st != NET_RUNNING) return MK_ESTATE;
    mk_transport_req *r = calloc(1, sizeof *r);
    if (!r) return MK_ENOMEM;
    r->kind = REQ_POST;
    r->fn = fn;
    r->ctx = ctx;
    enqueue_locked(net, r);
    return 0;
}

int mk_transport_post_internal(mk_transport *net, mk_transport_fn fn, void *ctx) {
    uv_mutex_lock(&net->mu);
    int rc = mk_transport_post_locked(net, fn, ctx);
    uv_mutex_unlock(&net->mu);
    return rc;
}

int mk_transport_post(mk_transport *net, mk_transport_fn fn, void *ctx) {
    if (!net || !fn) return MK_EINVAL;
    return mk_transport_post_internal(net, fn, ctx);
}

int mk_transport_call_unlock(mk_transport *net, mk_transport_call_fn fn, void *ctx) {
    int st = atomic_load(&net->state);
    if (mk_transport_on_loop(net) || st == NET_NEW) {
        /* On the loop, or no loop thread yet: the caller owns the loop. */
        uv_mutex_unlock(&net->mu);
        fn(net, ctx);
        return 0;
    }
    if (st != NET_RUNNING) {
        uv_mutex_unlock(&net->mu);
        mk_transport_wait_stopped(net);
        return MK_ESTATE;
    }
    mk_transport_req r;
    memset(&r, 0, sizeof r);
    r.kind = REQ_CALL;
    r.cfn = fn;
    r.ctx = ctx;
    enqueue_locked(net, &r);
    while (!r.done)
        uv_cond_wait(&net->cond, &net->mu);
    uv_mutex_unlock(&net->mu);
    /* Cancelled by the shutdown: wait until the I/O thread is gone. */
    if (r.status < 0) mk_transport_wait_stopped(net);
    return r.status;
}

int mk_transport_call(mk_transport *net, mk_transport_call_fn fn, void *ctx) {
    if (!net || !fn) return MK_EINVAL;
    uv_mutex_lock(&net->mu);
    return mk_transport_call_unlock(net, fn, ctx);
}

static void run_req(mk_transport *net, mk_transport_req *r, int status) {
    if (r->kind == REQ_POST) {
        r->fn(net, r->ctx, status);
        free(r);
        return;
    }
    if (status == 0) r->cfn(net, r->ctx);
    uv_mutex_lock(&net->mu);
    r->status = status;
    r->done = true;
    uv_cond_broadcast(&net->cond);
    uv_mutex_unlock(&net->mu);
}

static void shutdown_loop(mk_transport *net);

static void on_async(uv_async_t *a) {
    mk_transport *net = a->data;
    for (;;) {
        uv_mutex_lock(&net->mu);
        mk_transport_req *r = net->req_head;
        net->req_head = net->req_tail = NULL;
        bool stop = atomic_load(&net->state) == NET_STOPPING && !net->stopping;
        uv_mutex_unlock(&net->mu);
        if (!r && !stop) break;
        if (stop) shutdown_loop(net);
        while (r) {
            mk_transport_req *next = r->next;
            run_req(net, r, net->stopping ? MK_ESTATE : 0);
            r = next;
        }
    }
}

/* ----- timers ------------------------------------------------------------------------ */

static void timer_fire(uv_timer_t *h) {
    mk_transport_timer *t = h->data;
    t->cb(t, t->ctx);
}

static void timer_init_run(mk_transport *net, void *ctx) {
    mk_transport_timer *t = ctx;
    uv_timer_init(&net->loop, &t->h);
    t->h.data = t;
    t->next = net->timers;
    if (net->timers) net->timers->prev = t;
    net->timers = t;
}

int mk_transport_timer_new(mk_transport *net, mk_transport_timer_cb cb, void *ctx,
                           mk_transport_timer **out) {
    if (!net || !cb || !out) return MK_EINVAL;
    mk_transport_timer *t = calloc(1, sizeof *t);
    if (!t) return MK_ENOMEM;
    t->net = net;
    t->cb = cb;
    t->ctx = ctx;
    int rc = mk_transport_call(net, timer_init_run, t);
    if (rc < 0) {
        free(t);
        return rc;
    }
    *out = t;
    return 0;
}

static void timer_start_run(mk_transport *net, void *ctx) {
    (void)net;
    mk_transport_timer *t = ctx;
    if (!t->closed) uv_timer_start(&t->h, timer_fire, t->delay, t->repeat);
}

int mk_transport_timer_start(mk_transport_timer *t, uint64_t delay_ms, uint64_t repeat_ms) {
    if (!t) return MK_EINVAL;
    /* delay/repeat are read by the loop within the call (the call
     * serialises with it). */
    uv_mutex_lock(&t->net->mu);
    t->delay = delay_ms;
    t->repeat = repeat_ms;
    uv_mutex_unlock(&t->net->mu);
    return mk_transport_call(t->net, timer_start_run, t);
}

static void timer_stop_run(mk_transport *net, void *ctx) {
    (void)net;
    mk_transport_timer *t = ctx;
    if (!t->closed) uv_timer_stop(&t->h);
}

int mk_transport_timer_stop(mk_transport_timer *t) {
    if (!t) return MK_EINVAL;
    return mk_transport_call(t->net, timer_stop_run, t);
}

static void timer_free_cb(uv_handle_t *h) {
    free(h->data);
}

static void timer_unlink(mk_transport *net, mk_transport_timer *t) {
    if (t->prev)
        t->prev->next = t->next;
    else
        net->timers = t->next;
    if (t->next) t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void timer_free_run(mk_transport *net, void *ctx) {
    mk_transport_timer *t = ctx;
    timer_unlink(net, t);
    if (t->closed)
        free(t);
    else
        uv_close((uv_handle_t *)&t->h, timer_free_cb);
}

void mk_transport_timer_free(mk_transport_timer *t) {
    if (!t) return;
    mk_transport *net = t->net;
    if (mk_transport_call(net, timer_free_run, t) < 0) {
        /* Stopped: the loop closed the handle already and is gone. */
        timer_unlink(net, t);
        free(t);
    }
}

/* ----- lifecycle ------------------------------------------------------------------------ */

void mk_transport_config_init(mk_transport_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->listen_addr = MK_TRANSPORT_DEFAULT_LISTEN;
    cfg->idle_timeout_ms = MK_TRANSPORT_DEFAULT_IDLE_MS;
    cfg->handshake_timeout_ms = MK_TRANSPORT_DEFAULT_HANDSHAKE_MS;
    cfg->max_frame = MK_TRANSPORT_DEFAULT_MAX_FRAME;
    cfg->max_send_queue = MK_TRANSPORT_DEFAULT_SEND_QUEUE;
    cfg->max_conns = MK_TRANSPORT_DEFAULT_MAX_CONNS;
    cfg->max_pending = MK_TRANSPORT_DEFAULT_MAX_PENDING;
    cfg->max_conns_per_addr = MK_TRANSPORT_DEFAULT_MAX_CONNS_PER_ADDR;
    cfg->max_partial_bytes = MK_TRANSPORT_DEFAULT_MAX_PARTIAL_BYTES;
    cfg->reconnect_min_ms = MK_TRANSPORT_DEFAULT_RECONNECT_MIN_MS;
    cfg->reconnect_max_ms = MK_TRANSPORT_DEFAULT_RECONNECT_MAX_MS;
}

static void on_flush_check(uv_check_t *h) {
    mk_transport_flush_corked(h->data);
}

void mk_transport_flush_idle_cb(uv_idle_t *h) {
    (void)h;
}

/* The libuv loop and its async handle. Descriptors are checked first:
 * libuv aborts the process when the pipe of its process-wide signal
 * handling (made on the first loop) cannot be created. Needed: that pipe
 * (2), the loop's epoll instance (1) and signal pipe (2), the async
 * handle's eventfd (1) and, at start, the listening socket with the spare
 * descriptor libuv keeps for refusing connections at the limit (2). */
static int loop_open(mk_transport *net, mk_error *err) {
    MK_TRY(mk_resource_fds_available(net->cfg.no_listen ? 6 : 8, "net: the event loop", err));
    int rc = uv_loop_init(&net->loop);
    if (rc < 0) return mk_resource_error(err, rc, "net: the event loop");
    rc = uv_async_init(&net->loop, &net->async, on_async);
    if (rc < 0) {
        uv_loop_close(&net->loop);
        return mk_resource_error(err, rc, "net: the event loop's wakeup handle");
    }
    net->async.data = net;
    /* Neither handle keeps the loop alive by itself: the check handle is
     * unreferenced, the idle one runs only while connections are corked. */
    uv_check_init(&net->loop, &net->flush_check);
    uv_idle_init(&net->loop, &net->flush_idle);
    net->flush_check.data = net->flush_idle.data = net;
    uv_check_start(&net->flush_check, on_flush_check);
    uv_unref((uv_handle_t *)&net->flush_check);
    net->loop_inited = true;
    return 0;
}

int mk_transport_new(const mk_transport_config *cfg_in, mk_transport **out, mk_error *err) {
    if (!out) return mk_error_set(err, MK_EINVAL, "net: missing output");
    mk_transport_config cfg;
    if (cfg_in)
        cfg = *cfg_in;
    else
        mk_transport_config_init(&cfg);
    if (!cfg.listen_addr) cfg.listen_addr = MK_TRANSPORT_DEFAULT_LISTEN;
    if (!cfg.idle_timeout_ms) cfg.idle_timeout_ms = MK_TRANSPORT_DEFAULT_IDLE_MS;
    if (!cfg.handshake_timeout_ms) cfg.handshake_timeout_ms = MK_TRANSPORT_DEFAULT_HANDSHAKE_MS;
    if (!cfg.max_frame) cfg.max_frame = MK_TRANSPORT_DEFAULT_MAX_FRAME;
    if (!cfg.max_send_queue) cfg.max_send_queue = MK_TRANSPORT_DEFAULT_SEND_QUEUE;
    if (!cfg.max_conns) cfg.max_conns = MK_TRANSPORT_DEFAULT_MAX_CONNS;
    if (!cfg.max_pending) cfg.max_pending = MK_TRANSPORT_DEFAULT_MAX_PENDING;
    if (!cfg.max_conns_per_addr) cfg.max_conns_per_addr = MK_TRANSPORT_DEFAULT_MAX_CONNS_PER_ADDR;
    if (!cfg.max_partial_bytes) cfg.max_partial_bytes = MK_TRANSPORT_DEFAULT_MAX_PARTIAL_BYTES;
    if (!cfg.reconnect_min_ms) cfg.reconnect_min_ms = MK_TRANSPORT_DEFAULT_RECONNECT_MIN_MS;
    if (!cfg.reconnect_max_ms) cfg.reconnect_max_ms = MK_TRANSPORT_DEFAULT_RECONNECT_MAX_MS;
    if (cfg.reconnect_max_ms < cfg.reconnect_min_ms) cfg.reconnect_max_ms = cfg.reconnect_min_ms;
    if (cfg.max_frame > MK_TRANSPORT_MAX_FRAME_CAP)
        return mk_error_set(err, MK_EINVAL, "net: max_frame %zu exceeds %zu", cfg.max_frame,
                            (size_t)MK_TRANSPORT_MAX_FRAME_CAP);
    mk_transport *net = calloc(1, sizeof *net);
    if (!net) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int rc = 0;
    if (!cfg.no_listen) {
        rc = mk_transport_addr_parse(cfg.listen_addr, &net->bound, true, err);
        if (rc < 0) {
            free(net);
            return mk_error_prefix(err, rc, "net: listen");
        }
        snprintf(net->listen_str, sizeof net->listen_str, "%s", cfg.listen_addr);
    }
    cfg.listen_addr = net->listen_str;
    if (cfg.key) {
        net->key = *cfg.key;
        cfg.key = NULL;
    } else if (mk_ed25519_generate(&net->key) < 0) {
        free(net);
        return mk_error_set(err, MK_ECRYPTO, "net: key generation failed");
    }
    net->cfg = cfg;
    net->budget.max = cfg.max_partial_bytes;
    net->budget.reclaim = mk_transport_budget_reclaim;
    net->budget.ctx = net;
    memcpy(net->self.b, net->key.public_key, MK_ID_LEN);
    mk_id_to_hex(&cfg.network_id, net->net_hex);
    atomic_init(&net->state, NET_NEW);
    for (size_t i = 0; i < MK_TRANSPORT_NMETRICS; i++)
        atomic_init(&net->met[i], 0);
    rc = mk_transport_tls_ctx_new(net, err);
    if (rc < 0) {
        mk_ed25519_wipe(&net->key);
        free(net);
        return mk_error_prefix(err, rc, "net");
    }
    rc = loop_open(net, err);
    if (rc < 0) {
        mk_transport_tls_ctx_free(net);
        mk_ed25519_wipe(&net->key);
        free(net);
        return rc;
    }
    uv_mutex_init(&net->mu);
    uv_cond_init(&net->cond);
    *out = net;
    return 0;
}

static void on_connection(uv_stream_t *s, int status) {
    mk_transport *net = s->data;
    if (status < 0 || net->stopping) return;
    mk_transport_conn_accept(net);
}

static void thread_main(void *arg) {
    mk_transport *net = arg;
    /* Every socket write happens on this thread (libuv uses write(2)): with
     * SIGPIPE blocked here, a write to a reset connection fails with EPIPE
     * instead of killing the process. */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    tls_loop_net = net;
    uv_run(&net->loop, UV_RUN_DEFAULT);
    tls_loop_net = NULL;
    OPENSSL_thread_stop();
}

int mk_transport_start(mk_transport *net, mk_error *err) {
    if (!net) return mk_error_set(err, MK_EINVAL, "net: NULL");
    if (atomic_load(&net->state) != NET_NEW)
        return mk_error_set(err, MK_ESTATE, "net: already started or stopped");
    if (!net->cfg.no_listen) {
        uv_tcp_init(&net->loop, &net->listener);
        net->listener.data = net;
        net->listening = true;
        int rc = uv_tcp_bind(&net->listener, (const struct sockaddr *)&net->bound, 0);
        if (rc == 0) rc = uv_listen((uv_stream_t *)&net->listener, 128, on_connection);
        if (rc < 0) {
            uv_close((uv_handle_t *)&net->listener, NULL);
            net->listening = false;
            if (rc == UV_EMFILE || rc == UV_ENFILE || rc == UV_ENOMEM) {
                char what[MK_TRANSPORT_ADDR_MAX + 32];
                snprintf(what, sizeof what, "net: listen on %s", net->listen_str);
                return mk_resource_error(err, rc, what);
            }
            return mk_error_set(err, MK_ENETWORK, "net: listen on %s: %s", net->listen_str,
                                uv_strerror(rc));
        }
        int len = sizeof net->bound;
        uv_tcp_getsockname(&net->listener, (struct sockaddr *)&net->bound, &len);
        mk_transport_addr_format((const struct sockaddr *)&net->bound, net->bound_str,
                                 sizeof net->bound_str);
    }
    uv_mutex_lock(&net->mu);
    atomic_store(&net->state, NET_RUNNING);
    uv_mutex_unlock(&net->mu);
    int trc = uv_thread_create(&net->thread, thread_main, net);
    if (trc != 0) {
        uv_mutex_lock(&net->mu);
        atomic_store(&net->state, NET_NEW);
        uv_mutex_unlock(&net->mu);
        return mk_resource_error(err, trc, "net: the I/O thread");
    }
    net->thread_started = true;
    char pid[9];
    mk_id_short(&net->self, pid);
    mk_log(MK_LOG_INFO, "net", "node %s listening on %s", pid,
           net->cfg.no_listen ? "(nothing)" : net->bound_str);
    return 0;
}

/* On the loop thread (or the freeing thread of a never-started net). */
static void shutdown_loop(mk_transport *net) {
    net->stopping = true;
    while (net->keeps)
        mk_transport_keep_remove(net, net->keeps);
    mk_transport_conn_close_all(net);
    for (mk_transport_timer *t = net->timers; t; t = t->next) {
        if (!t->closed) {
            uv_close((uv_handle_t *)&t->h, NULL);
            t->closed = true;
        }
    }
    if (net->listening) {
        uv_close((uv_handle_t *)&net->listener, NULL);
        net->listening = false;
    }
    mk_transport_flush_corked(net); /* the closed connections' output is dropped */
    uv_close((uv_handle_t *)&net->flush_check, NULL);
    uv_close((uv_handle_t *)&net->flush_idle, NULL);
    uv_close((uv_handle_t *)&net->async, NULL);
}

int mk_transport_stop(mk_transport *net) {
    if (!net) return MK_EINVAL;
    if (mk_transport_on_loop(net)) return MK_ESTATE;
    uv_mutex_lock(&net->mu);
    int st = atomic_load(&net->state);
    if (st == NET_RUNNING || st == NET_NEW) atomic_store(&net->state, NET_STOPPING);
    uv_mutex_unlock(&net->mu);
    if (st == NET_RUNNING) {
        uv_async_send(&net->async);
        uv_thread_join(&net->thread);
    } else if (st == NET_NEW) {
        /* Never started: shut down on this thread, which owns the loop
         * meanwhile (callbacks calling back in run directly), cancelling
         * queued work. */
        mk_transport *outer = tls_loop_net;
        tls_loop_net = net;
        on_async(&net->async);
        if (!net->stopping) shutdown_loop(net);
        uv_run(&net->loop, UV_RUN_DEFAULT);
        tls_loop_net = outer;
    }
    uv_mutex_lock(&net->mu);
    atomic_store(&net->state, NET_STOPPED);
    uv_cond_broadcast(&net->cond); /* mk_transport_wait_stopped */
    uv_mutex_unlock(&net->mu);
    return 0;
}

void mk_transport_wait_stopped(mk_transport *net) {
    if (!net || mk_transport_on_loop(net)) return;
    uv_mutex_lock(&net->mu);
    while (atomic_load(&net->state) == NET_STOPPING)
        uv_cond_wait(&net->cond, &net->mu);
    uv_mutex_unlock(&net->mu);
}

void mk_transport_free(mk_transport *net) {
    if (!net) return;
    mk_transport_stop(net);
    if (net->loop_inited) {
        if (uv_loop_close(&net->loop) != 0)
            mk_log(MK_LOG_ERROR, "net", "libuv loop still has handles at free (bug)");
    }
    while (net->timers) {
        mk_transport_timer *t = net->timers;
        timer_unlink(net, t);
        free(t);
    }
    mk_transport_protos_release(net);
    mk_transport_tls_ctx_free(net);
    uv_cond_destroy(&net->cond);
    uv_mutex_destroy(&net->mu);
    mk_ed25519_wipe(&net->key);
    free(net);
}

/* ----- accessors ---------------------------------------------------------------------------- */

void mk_transport_peer_id(const mk_transport *net, mk_id *out) {
    *out = net->self;
}

const mk_id *mk_transport_network_id(const mk_transport *net) {
    return &net->cfg.network_id;
}

int mk_transport_listen_addr(const mk_transport *net, char *out, size_t n) {
    if (!net || !out || n == 0) return MK_EINVAL;
    if (!net->bound_str[0]) return MK_ESTATE;
    if ((size_t)snprintf(out, n, "%s", net->bound_str) >= n) return MK_ETOOBIG;
    return 0;
}

uint16_t mk_transport_listen_port(const mk_transport *net) {
    if (!net || !net->bound_str[0]) return 0;
    const struct sockaddr *sa = (const struct sockaddr *)&net->bound;
    if (sa->sa_family == AF_INET) return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}

void mk_transport_metrics_get(const mk_transport *net, mk_transport_metrics *out) {
    uint64_t v[MK_TRANSPORT_NMETRICS];
    for (size_t i = 0; i < MK_TRANSPORT_NMETRICS; i++)
        v[i] = atomic_load_explicit(&((mk_transport *)net)->met[i], memory_order_relaxed);
    memcpy(out, v, sizeof *out);
}
