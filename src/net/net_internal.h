/*
 * net/net_internal.h — structures shared by the files of src/net/.
 *
 *   loop.c        the mk_transport object: I/O thread, request queue (post, call),
 *                 timers, start/stop/free, accessors, metrics, addresses
 *   proto.c       the protocol table: register, unregister, lookup, refs
 *   dial.c        dialing, accepting, the pending-handshake limit, keep
 *                 records (reconnection with backoff), forget
 *   conn.c        the connection object and its state machine: references,
 *                 creation, closing, activation and duplicates, accessors,
 *                 the exporter
 *   conn_tls.c    TLS I/O of a connection: reads, the handshake, writes and
 *                 send-queue accounting
 *   conn_frame.c  framing on a connection: the acceptance and keepalive
 *                 frames, delivery, mk_transport_conn_send
 *   conn_timer.c  the per-connection timer: handshake deadline, idle ticks,
 *                 keepalives, the grace period of a graceful close
 *   tls.c, cert.c, frame.c, keyfile.c  the TLS context, certificates, the
 *                 frame codec, key files
 *
 * Ownership: the mk_transport owns its loop, listener, connections (one reference
 * each, dropped when the connection's handles have closed), keep records,
 * timers and the request queue. Protocol records are reference counted:
 * the table holds one reference while registered, and every connection,
 * keep record and queued dial or forget job that names the protocol holds
 * one, so a record outlives its unregistration as long as anything still
 * points at it. Everything below marked "loop" is touched only on the I/O
 * thread; "mu" fields only under net->mu; atomics anywhere.
 */
#ifndef MOSAIK_NET_INTERNAL_H
#define MOSAIK_NET_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "mosaik/bytes.h"
#include "mosaik/net.h"

/* ----- frames (frame.c) ---------------------------------------------- */

#define MK_FRAME_HDR 4
/* Output batching (conn_frame.c): frames are coalesced into records of at
 * most MK_TRANSPORT_CORK plaintext bytes (TLS's maximum record), and a
 * connection's output is written once per loop iteration, or as soon as
 * MK_TRANSPORT_FLUSH_AT bytes wait. */
#define MK_TRANSPORT_CORK 16384
#define MK_TRANSPORT_FLUSH_AT 65536

typedef struct mk_frame_decoder mk_frame_decoder;

/* A byte budget shared by decoders (the node-wide one for partial frames,
 * loop only). `used` is the capacity of every member decoder's body buffer.
 * When a decoder's buffer grew beyond max, reclaim(b, d) is called to free
 * other decoders' buffers (mk_frame_budget_release) or to tell that d
 * itself is the one to give up: it returns true when d must fail (then the
 * decoder frees its buffer and returns MK_EBUSY). */
typedef struct mk_frame_budget {
    size_t used, max;
    uint64_t seq; /* numbers partial frames in the order they began */
    bool (*reclaim)(struct mk_frame_budget *b, mk_frame_decoder *d);
    void *ctx;
} mk_frame_budget;

/* Incremental decoder of u32-big-endian length-prefixed frames. */
struct mk_frame_decoder {
    uint8_t hdr[MK_FRAME_HDR];
    size_t hdr_have;         /* header bytes collected for the current frame */
    size_t need;             /* body length once the header is complete */
    mk_buf body;             /* body bytes collected when a frame spans chunks */
    size_t max;              /* hard cap on a body */
    mk_frame_budget *budget; /* NULL: none */
    uint64_t partial_seq;    /* budget->seq when the buffered body began */
};

/* Called per complete frame. Return 0 to continue, 1 to stop quietly (the
 * consumer closed), or a negative code to fail. */
typedef int (*mk_frame_cb)(void *ctx, const uint8_t *data, size_t len);

void mk_frame_decoder_init(mk_frame_decoder *d, size_t max);
void mk_frame_decoder_free(mk_frame_decoder *d);
/* Feed a chunk. Returns 0 when consumed, 1 when the callback stopped, or a
 * negative code (MK_ETOOBIG for an oversized length) with a reason; after a
 * failure the decoder must not be fed again. */
int mk_frame_decoder_feed(mk_frame_decoder *d, const uint8_t *data, size_t len, mk_frame_cb cb,
                          void *ctx, mk_error *err);
/* True between frames (nothing partial buffered). */
bool mk_frame_decoder_at_boundary(const mk_frame_decoder *d);
/* Bytes of the partial frame held (header included). */
size_t mk_frame_decoder_partial(const mk_frame_decoder *d);
/* Free the body buffer now and give its bytes back to the budget (the
 * decoder must not be fed again; mk_frame_decoder_free is still needed). */
void mk_frame_budget_release(mk_frame_decoder *d);
/* Append the 4-byte header and body to out. */
int mk_frame_encode(mk_buf *out, const void *data, size_t len);
/* Write the 4-byte header and body through w (the one place the frame
 * header is encoded; MK_ETOOBIG when it does not fit). */
int mk_frame_write(mk_writer *w, const void *data, size_t len);

/* ----- certificates (cert.c) ------------------------------------------ */

/* A self-signed Ed25519 certificate for key (EVP_PKEY and X509 returned). */
int mk_transport_cert_make(const mk_ed25519_key *key, EVP_PKEY **pkey_out, X509 **cert_out,
                           mk_error *err);
/* Check a peer certificate (Ed25519 key, valid self-signature) and return
 * its public key as the peer id. */
int mk_transport_cert_peer_id(X509 *cert, mk_id *out, mk_error *err);

/* ----- the network object (loop.c) -------------------------------------- */

typedef struct mk_transport_proto {
    atomic_int refs;  /* the table's while registered, plus every user */
    atomic_bool dead; /* unregistered: no new connections or dials */
    char name[MK_TRANSPORT_PROTOCOL_NAME_MAX + 1];
    mk_transport_protocol ops;
    size_t max_frame;
    /* ALPN wire form: one length byte + "mk1/<name>/<hex network id>". */
    uint8_t alpn[256];
    size_t alpn_len;
} mk_transport_proto;

enum { NET_NEW = 0, NET_RUNNING, NET_STOPPING, NET_STOPPED };

/* Metric helpers over the public struct's layout. */
#define MK_TRANSPORT_NMETRICS (sizeof(mk_transport_metrics) / sizeof(uint64_t))
#define MK_MET_IDX(field) (offsetof(mk_transport_metrics, field) / sizeof(uint64_t))
#define MK_MET_ADD(net, field, n)                                                                  \
    atomic_fetch_add_explicit(&(net)->met[MK_MET_IDX(field)], (uint64_t)(n), memory_order_relaxed)
#define MK_MET_SUB(net, field, n)                                                                  \
    atomic_fetch_sub_explicit(&(net)->met[MK_MET_IDX(field)], (uint64_t)(n), memory_order_relaxed)
#define MK_MET_SET(net, field, v)                                                                  \
    atomic_store_explicit(&(net)->met[MK_MET_IDX(field)], (uint64_t)(v), memory_order_relaxed)

typedef struct mk_transport_req mk_transport_req;
typedef struct mk_transport_keep mk_transport_keep;

struct mk_transport {
    mk_transport_config cfg;
    char listen_str[MK_TRANSPORT_ADDR_MAX];
    mk_ed25519_key key;
    mk_id self;
    char net_hex[MK_ID_HEX_LEN];
    SSL_CTX *ssl_ctx;

    uv_loop_t loop;
    bool loop_inited;
    uv_async_t async;
    uv_check_t flush_check; /* after each poll: writes the corked output (conn_frame.c) */
    uv_idle_t flush_idle;   /* active while connections are corked: poll does not block */
    uv_tcp_t listener;
    bool listening;
    struct sockaddr_storage bound;
    char bound_str[MK_TRANSPORT_ADDR_MAX];
    uv_thread_t thread;
    bool thread_started;
    atomic_int state; /* NET_* ; changed under mu */

    uv_mutex_t mu;
    uv_cond_t cond;
    mk_transport_req *req_head, *req_tail;                  /* mu */
    mk_transport_proto *protos[MK_TRANSPORT_MAX_PROTOCOLS]; /* mu; one reference each */
    size_t n_protos;                                        /* mu */

    /* loop */
    mk_transport_conn *conns; /* every connection whose handles are not closed */
    mk_transport_keep *keeps;
    mk_transport_timer *timers;
    mk_transport_conn *corked; /* connections with output to write, one reference each */
    uint32_t n_conns;          /* in the list */
    uint32_t n_pending_in;     /* inbound, handshaking */
    uint32_t n_active;         /* counted against max_conns: open, or outbound not closed */
    mk_frame_budget budget;    /* partial frames of every connection (conn_frame.c) */
    uint64_t next_serial;
    uint8_t rbuf[65536]; /* read buffer (one read at a time); between callbacks, the
                            staging buffer of direct writes (conn_tls.c) */
    bool stopping;

    _Atomic uint64_t met[MK_TRANSPORT_NMETRICS];
};

/* ----- protocols (proto.c) ------------------------------------------------ */

/* Look up a registered protocol by name and take a reference (locks mu /
 * with mu held). NULL when no such protocol is registered. */
mk_transport_proto *mk_transport_proto_find(mk_transport *net, const char *name, size_t len);
mk_transport_proto *mk_transport_proto_find_locked(mk_transport *net, const char *name, size_t len);
mk_transport_proto *mk_transport_proto_ref(mk_transport_proto *p);
/* Drop a reference (any thread); the record is freed with the last one. */
void mk_transport_proto_unref(mk_transport_proto *p);
/* Drop the table's references (mk_transport_free). */
void mk_transport_protos_release(mk_transport *net);

/* ----- the request queue (loop.c) ------------------------------------------ */

/* Queue a function for the I/O thread (internal form of mk_transport_post). */
int mk_transport_post_internal(mk_transport *net, mk_transport_fn fn, void *ctx);
/* The same with net->mu already held (it stays held). */
int mk_transport_post_locked(mk_transport *net, mk_transport_fn fn, void *ctx);
/* mk_transport_call entered with net->mu held; returns with it released. Lets a
 * caller change state under mu and queue the call in one critical section,
 * so everything queued before it runs first and nothing queued after can
 * have seen the state before the change. */
int mk_transport_call_unlock(mk_transport *net, mk_transport_call_fn fn, void *ctx);
/* Wait (not on the loop) while the network is stopping, i.e. until the I/O
 * thread has been joined. After a failed post, a caller that must touch
 * loop-owned state calls this first: the state check (enqueue refuses once
 * NET_STOPPING is set) and the caller's direct access are then ordered after
 * everything the I/O thread did during shutdown. */
void mk_transport_wait_stopped(mk_transport *net);
/* "ip:port" / "[ip6]:port" of a socket address. */
void mk_transport_addr_format(const struct sockaddr *sa, char *out, size_t n);
/* Parse a numeric "ip:port" / "[ip6]:port". */
int mk_transport_addr_parse(const char *s, struct sockaddr_storage *out, bool allow_port0,
                            mk_error *err);
/* Called by conn.c when a connection's handles have all closed. */
void mk_transport_conn_list_remove(mk_transport *net, mk_transport_conn *c);

/* ----- TLS (tls.c) -------------------------------------------------------- */

int mk_transport_tls_ctx_new(mk_transport *net, mk_error *err);
void mk_transport_tls_ctx_free(mk_transport *net);
/* A new SSL in client or server role with memory BIOs; app data = conn. */
int mk_transport_tls_new(mk_transport *net, mk_transport_conn *c, bool client, mk_error *err);
/* Format the thread's OpenSSL error queue (cleared) into buf. Returns the
 * first error's reason code (0 if none). */
int mk_transport_tls_errors(char *buf, size_t n);

/* ----- connections (conn.c) ------------------------------------------------ */

enum {
    CONN_CONNECTING = 0, /* TCP connect in progress (outbound) */
    CONN_HANDSHAKE,      /* TLS handshake */
    CONN_AWAIT_ACCEPT,   /* client: TLS done, waiting for the acceptance frame */
    CONN_OPEN,           /* application data flows */
    CONN_CLOSING,        /* closed for the user; handles closing */
    CONN_CLOSED          /* handles closed */
};

/* Why a connection was closed by a limit (counted by its close). */
enum {
    CAUSE_NONE = 0,
    CAUSE_PENDING_EVICTED, /* the oldest pending handshake, for a newcomer */
    CAUSE_REFUSED_LIMIT,   /* over max_conns after its handshake */
    CAUSE_REFUSED_ADDR,    /* over max_conns_per_addr after its handshake */
    CAUSE_DISPLACED,       /* made room for a higher-ranked peer */
    CAUSE_BUDGET           /* held the oldest partial frame over the budget */
};

typedef struct mk_transport_waiter {
    struct mk_transport_waiter *next;
    mk_transport_dial_cb cb;
    void *ctx;
} mk_transport_waiter;

struct mk_transport_keep {
    mk_transport_keep *next;
    mk_transport *net;
    mk_id peer;
    mk_transport_proto *proto;
    struct sockaddr_storage addr;
    char addr_str[MK_TRANSPORT_ADDR_MAX];
    uint32_t backoff_ms;
    uv_timer_t timer;
    mk_transport_conn *conn; /* current connection (borrowed) or NULL */
};

struct mk_transport_conn {
    atomic_int refs;
    mk_transport *net;
    mk_transport_conn *prev, *next; /* loop: net->conns */
    uint64_t serial;
    mk_transport_proto *proto; /* set at dial, or by ALPN for inbound */
    mk_id peer;                /* expected (outbound) / learned (after verify) */
    bool peer_known;
    bool inbound;
    atomic_int state;

    uv_tcp_t tcp;
    uv_timer_t timer; /* handshake deadline, then idle/keepalive ticks */
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    int handles_open;
    bool handles_closing;
    bool counted_pending_in;
    bool counted_active;        /* in net->n_active */
    int cause;                  /* CAUSE_*: closed by a limit */
    struct sockaddr_storage sa; /* the remote address (inbound: its source) */

    SSL *ssl;
    mk_frame_decoder dec;
    uint64_t last_rx_ms, last_tx_ms;
    bool activated; /* on_connect delivered */
    mk_transport_waiter *waiters;
    mk_transport_keep *keep;
    /* Output (loop; conn_frame.c): frames wait in cork (MK_TRANSPORT_CORK
     * bytes, allocated on first use) until sealed into one TLS record;
     * `unflushed` send-queue bytes are in the cork or the write BIO and not
     * yet in a uv_write. cork_listed: in net->corked. */
    uint8_t *cork;
    size_t cork_len, unflushed;
    size_t written_plain; /* send-queue bytes written at once, accounted in the check phase */
    bool cork_listed;
    mk_transport_conn *cork_next;

    /* mu */
    size_t out_bytes;
    bool want_drain;

    void *user;
    char remote[MK_TRANSPORT_ADDR_MAX];
    /* Set by TLS callbacks to explain a failed handshake. */
    int fail_code;
    char fail_reason[MK_ERROR_MSG_MAX];
};

/* ----- connection internals shared by conn*.c and dial.c (loop) ------------ */

static inline int mk_transport_conn_state(const mk_transport_conn *c) {
    return atomic_load_explicit(&((mk_transport_conn *)c)->state, memory_order_acquire);
}
static inline void mk_transport_conn_set_state(mk_transport_conn *c, int s) {
    atomic_store_explicit(&c->state, s, memory_order_release);
}
static inline uint64_t mk_transport_now_ms(mk_transport *net) {
    return uv_now(&net->loop);
}

/* conn.c */
/* A new connection in the list (CONNECTING, or HANDSHAKE for inbound),
 * its TCP and timer handles initialised; the list holds the reference. */
mk_transport_conn *mk_transport_conn_new(mk_transport *net, bool inbound);
/* Set c->proto (taking a reference) and its frame limit. */
void mk_transport_conn_set_proto(mk_transport_conn *c, mk_transport_proto *proto);
/* Size the frame decoder to c->proto's limit. */
void mk_transport_conn_set_max_frame(mk_transport_conn *c);
/* Close both handles (once); the last close callback drops the list's
 * reference. */
void mk_transport_conn_close_handles(mk_transport_conn *c);
/* The connection is open (handshake and acceptance done): resolve a
 * duplicate, deliver on_connect and the dial waiters. */
void mk_transport_conn_activate(mk_transport_conn *c);

/* conn_tls.c */
/* Start reading the socket into the TLS engine. */
void mk_transport_conn_read_start(mk_transport_conn *c);
/* Advance the handshake, then read and dispatch what TLS decrypted. */
void mk_transport_conn_drive(mk_transport_conn *c);
/* Move what TLS produced to the socket; `plain` queued bytes are accounted
 * done when that write completes. 0 or a negative code (conn closed). */
int mk_transport_conn_flush(mk_transport_conn *c, size_t plain);
/* SSL_write into the write BIO, no flush; on failure the connection is
 * closed (nothing is accounted). */
int mk_transport_conn_tls_write_only(mk_transport_conn *c, const void *data, size_t len);
/* Seal the cork, SSL_write then flush; on failure the connection is closed. */
int mk_transport_conn_tls_write(mk_transport_conn *c, const void *data, size_t len, size_t plain);
/* conn_frame.c: seal the corked frames into the write BIO (one TLS
 * record); on failure the connection is closed. */
int mk_transport_conn_cork_seal(mk_transport_conn *c);
/* conn_frame.c: list c for the check phase (once, with a reference). */
void mk_transport_conn_cork_schedule(mk_transport_conn *c);
/* conn_frame.c: write the output of every corked connection (the loop's
 * check phase, and the shutdown). */
void mk_transport_flush_corked(mk_transport *net);
/* loop.c: the idle handle's callback (nothing to do: being active keeps
 * the poll from blocking until the check phase flushed). */
void mk_transport_flush_idle_cb(uv_idle_t *h);
/* `plain` bytes of the send queue are done (written or dropped); runs
 * on_drain once the queue fell below half after an MK_EBUSY. */
void mk_transport_conn_account_done(mk_transport_conn *c, size_t plain);

/* conn_frame.c */
/* The frame decoder's callback: acceptance, keepalives, delivery. */
int mk_transport_conn_on_frame(void *ctx, const uint8_t *data, size_t len);
/* The empty frame: acceptance (listener) or keepalive (kept dialer). */
void mk_transport_conn_send_empty_frame(mk_transport_conn *c);

/* conn_timer.c */
void mk_transport_conn_on_timer(uv_timer_t *t);
/* Switch the timer from the handshake deadline to idle ticks. */
void mk_transport_conn_start_ticks(mk_transport_conn *c);
/* Arm the grace period of a graceful close. */
void mk_transport_conn_start_grace(mk_transport_conn *c);

/* dial.c */
/* Schedule the redial of a kept (peer, protocol) after its backoff. */
void mk_transport_keep_schedule(mk_transport_keep *k);

/* Create an outbound connection and start connecting (loop). */
int mk_transport_conn_dial_start(mk_transport *net, const mk_id *peer, mk_transport_proto *proto,
                                 const struct sockaddr *addr, const char *addr_str,
                                 mk_transport_keep *keep, mk_transport_waiter *waiter);
/* Accept an inbound connection on the listener (loop). */
void mk_transport_conn_accept(mk_transport *net);
/* An inbound connection finished its handshake (its peer is known): may it
 * open under max_conns and max_conns_per_addr, possibly by displacing a
 * lower-ranked inbound connection? When not, it is closed (loop). */
bool mk_transport_conn_admit_inbound(mk_transport_conn *c);
/* The budget's reclaim (conn_frame.c): close the connection holding the
 * oldest partial frame unless that is d's own; true when it is d's. */
bool mk_transport_budget_reclaim(mk_frame_budget *b, mk_frame_decoder *d);
/* Close with a code and reason (loop). graceful sends close_notify first. */
void mk_transport_conn_close_internal(mk_transport_conn *c, int code, const char *reason,
                                      bool graceful);
/* Send an already-framed buffer (loop; takes ownership of buf). plain is the
 * number of bytes accounted in out_bytes. */
void mk_transport_conn_send_framed(mk_transport_conn *c, uint8_t *buf, size_t len, size_t plain);
/* Find an open connection for (peer, proto) (loop). */
mk_transport_conn *mk_transport_conn_find_open(mk_transport *net, const mk_id *peer,
                                               const mk_transport_proto *proto);
/* Find a connection being dialed for (peer, proto) (loop). */
mk_transport_conn *mk_transport_conn_find_dialing(mk_transport *net, const mk_id *peer,
                                                  const mk_transport_proto *proto);
/* Keep records (loop). */
mk_transport_keep *mk_transport_keep_find(mk_transport *net, const mk_id *peer,
                                          const mk_transport_proto *proto);
/* Find or create the keep record of (peer, proto), updating its address. */
mk_transport_keep *mk_transport_keep_get(mk_transport *net, const mk_id *peer,
                                         mk_transport_proto *proto, const struct sockaddr *addr,
                                         const char *addr_str);
void mk_transport_keep_remove(mk_transport *net, mk_transport_keep *k);
/* Close everything for shutdown (loop). */
void mk_transport_conn_close_all(mk_transport *net);
/* Close every connection and keep record of proto, which is dead (loop). */
void mk_transport_conn_close_proto(mk_transport *net, mk_transport_proto *proto);
/* Test hook: write raw bytes (not framed) into the TLS stream (loop). */
int mk_transport_conn_send_raw(mk_transport_conn *c, const void *data, size_t len);

#endif
