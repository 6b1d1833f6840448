/*
 * mosaik/net.h — the authenticated transport: TCP + TLS 1.3, framed.
 *
 * The layer is "net"; its objects are named mk_transport* so that they are
 * not confused with mk_network, the node of mosaik/discovery.h (which owns
 * one transport). An mk_transport owns one I/O thread running a libuv loop.
 * Every function here is safe to call from any thread; work is queued to
 * the I/O thread. Callbacks (protocol handlers, dial completions, posted
 * functions, timers) run on the I/O thread and must not block.
 *
 * Identity: the node's Ed25519 key; its public key is the peer id. Each
 * connection is mutually authenticated with self-signed Ed25519 certificates
 * whose public key *is* the peer id: a dialer names the peer it expects and
 * the handshake fails if another key answers; a listener learns who dialed.
 * The network id and the protocol name travel in the ALPN string
 * "mk1/<protocol>/<hex network id>", so nodes of different networks fail the
 * handshake and never exchange application data. See docs/net.md.
 *
 * Connections: at most one open connection per (peer, protocol); dialing an
 * existing one returns it. Frames are a u32 big-endian length followed by
 * that many bytes, with a hard per-protocol maximum; an oversized or
 * malformed frame closes that connection only.
 *
 * Lifetime: connections are reference counted. Callbacks receive borrowed
 * pointers valid for the duration of the callback; take a reference with
 * mk_transport_conn_ref to keep one. All references must be dropped before
 * mk_transport_free.
 *
 * Layers (discovery, streams, groups) attach to a network by registering a
 * protocol and hopping onto the I/O thread with mk_transport_call; they
 * detach with mk_transport_protocol_unregister, after which none of their
 * callbacks runs. docs/net.md, "Attaching a layer".
 */
#ifndef MOSAIK_NET_H
#define MOSAIK_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/crypto.h"
#include "mosaik/error.h"
#include "mosaik/export.h"
#include "mosaik/id.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mk_transport mk_transport;
typedef struct mk_transport_conn mk_transport_conn;
typedef struct mk_transport_timer mk_transport_timer;

/* Defaults and hard caps. */
#define MK_TRANSPORT_DEFAULT_LISTEN "127.0.0.1:0"
#define MK_TRANSPORT_DEFAULT_MAX_FRAME ((size_t)1 << 20)  /* 1 MiB */
#define MK_TRANSPORT_MAX_FRAME_CAP ((size_t)16 << 20)     /* 16 MiB: no protocol may exceed */
#define MK_TRANSPORT_DEFAULT_SEND_QUEUE ((size_t)4 << 20) /* 4 MiB per connection */
#define MK_TRANSPORT_DEFAULT_IDLE_MS 30000u
#define MK_TRANSPORT_DEFAULT_HANDSHAKE_MS 5000u
#define MK_TRANSPORT_DEFAULT_MAX_CONNS 1024u
#define MK_TRANSPORT_DEFAULT_MAX_PENDING 64u
#define MK_TRANSPORT_DEFAULT_MAX_CONNS_PER_ADDR 256u              /* inbound, per source IP */
#define MK_TRANSPORT_DEFAULT_MAX_PARTIAL_BYTES ((size_t)64 << 20) /* all partial frames */
#define MK_TRANSPORT_DEFAULT_RECONNECT_MIN_MS 100u
#define MK_TRANSPORT_DEFAULT_RECONNECT_MAX_MS 30000u
#define MK_TRANSPORT_MAX_PROTOCOLS 32
#define MK_TRANSPORT_PROTOCOL_NAME_MAX 32 /* [a-z0-9._-]{1,32} */
#define MK_TRANSPORT_ADDR_MAX 64          /* "[v6]:port" fits */
#define MK_NO_TIMEOUT UINT32_MAX

/* How much the node values a peer, for the connection limits: 0 = unknown,
 * higher is better (discovery answers 1 for a peer in its catalog, 2 for one
 * whose tickets the catalog's validators accept). Called on the I/O thread,
 * without any lock of the network held; must not block. */
typedef int (*mk_transport_rank_fn)(const mk_id *peer, void *ctx);

typedef struct mk_transport_config {
    /* "ip:port" or "[ipv6]:port" (numeric); NULL = MK_TRANSPORT_DEFAULT_LISTEN.
     * Port 0 picks an ephemeral port (see mk_transport_listen_addr). */
    const char *listen_addr;
    bool no_listen;                /* dial-only node */
    mk_id network_id;              /* nodes with different ids never talk */
    const mk_ed25519_key *key;     /* NULL: a fresh random identity */
    uint32_t idle_timeout_ms;      /* close after this long without frames; NO_TIMEOUT = never */
    uint32_t handshake_timeout_ms; /* TCP connect + TLS + acceptance */
    size_t max_frame;              /* default max frame for protocols that give 0 */
    size_t max_send_queue;         /* bytes queued per connection before MK_EBUSY */
    uint32_t max_conns;            /* open connections, and outbound ones dialing */
    uint32_t max_pending;          /* inbound connections still handshaking (besides) */
    uint32_t max_conns_per_addr;   /* inbound connections from one source IP address */
    size_t max_partial_bytes;      /* node-wide bytes of frames received in part */
    /* Optional: ranks peers when a limit is reached (see docs/net.md,
     * "Limits"): a connection of a peer ranked higher displaces an inbound
     * one ranked lower. NULL: every peer ranks 0 (no displacement). */
    mk_transport_rank_fn peer_rank;
    void *peer_rank_ctx;
    uint32_t reconnect_min_ms; /* first backoff of kept connections */
    uint32_t reconnect_max_ms; /* backoff ceiling */
} mk_transport_config;

/* Fill with defaults (listen on 127.0.0.1:0, random key, zero network id). */
MK_EXTERN void mk_transport_config_init(mk_transport_config *cfg);

/* Create (does not start). The key and the TLS certificate are made here. */
MK_EXTERN int mk_transport_new(const mk_transport_config *cfg, mk_transport **out, mk_error *err);
/* Bind the listener (synchronously: the port is known when this returns)
 * and start the I/O thread. */
MK_EXTERN int mk_transport_start(mk_transport *net, mk_error *err);
/* Close every connection (on_close runs for each open one), cancel pending
 * dials, posts and timers (their callbacks run with MK_ESTATE), close every
 * handle and join the I/O thread. Idempotent. Must not be called on the I/O
 * thread (MK_ESTATE). */
MK_EXTERN int mk_transport_stop(mk_transport *net);
/* Stop if needed and free everything. NULL is fine. */
MK_EXTERN void mk_transport_free(mk_transport *net);

MK_EXTERN void mk_transport_peer_id(const mk_transport *net, mk_id *out);
MK_EXTERN const mk_id *mk_transport_network_id(const mk_transport *net);
/* The bound address, e.g. "127.0.0.1:38211" (after start). */
MK_EXTERN int mk_transport_listen_addr(const mk_transport *net, char *out, size_t n);
MK_EXTERN uint16_t mk_transport_listen_port(const mk_transport *net);
/* True on the I/O thread of this net. */
MK_EXTERN bool mk_transport_on_loop(const mk_transport *net);

/* ----- protocols ----------------------------------------------------- */

/* Close codes given to on_close (negative MK_E* with a reason string):
 *   MK_ESTATE     local close (mk_transport_conn_close) or network stopping
 *   MK_ENETWORK   TCP/TLS failure or the peer closed
 *   MK_ETOOBIG    oversized frame
 *   MK_EMALFORMED malformed stream (truncated frame, protocol violation)
 *   MK_ETIMEDOUT  idle timeout
 *   MK_EBUSY      replaced by a duplicate connection to the same peer */
typedef struct mk_transport_protocol {
    const char *name; /* [a-z0-9._-]{1,32}, copied */
    size_t max_frame; /* 0 = config default; <= MK_TRANSPORT_MAX_FRAME_CAP */
    /* A connection is open (after handshake and acceptance). */
    void (*on_connect)(mk_transport_conn *conn, bool inbound, void *ctx);
    /* One frame (len >= 1); data is valid during the call only. */
    void (*on_frame)(mk_transport_conn *conn, const uint8_t *data, size_t len, void *ctx);
    /* The connection closed; called once for each on_connect. */
    void (*on_close)(mk_transport_conn *conn, int code, const char *reason, void *ctx);
    /* Optional: the send queue drained below half after a send got MK_EBUSY. */
    void (*on_drain)(mk_transport_conn *conn, void *ctx);
    void *ctx;
} mk_transport_protocol;

/* Register a protocol (before or after start). Fails with MK_EINVAL on a
 * bad name or limit, MK_EBUSY if the name is taken or the table full. */
MK_EXTERN int mk_transport_protocol_register(mk_transport *net, const mk_transport_protocol *proto,
                                             mk_error *err);

/* Unregister a protocol, so a layer built on the network can detach from it
 * while the network runs. In order: the name leaves the table (inbound
 * handshakes offering it are refused as "not served", mk_transport_dial and
 * mk_transport_forget return MK_ENOTFOUND); on the I/O thread, its kept peers are
 * forgotten and every connection of it is closed (graceful; on_close runs
 * with MK_ESTATE for each one on_connect was delivered for, dials waiting
 * on them complete with MK_ESTATE), and dials of it queued before complete
 * with MK_ESTATE; then it returns. Once it returned, none of the protocol's
 * callbacks (on_connect, on_frame, on_close, on_drain) runs again, nor the
 * completion of a dial of it (except dials queued before mk_transport_start: they
 * complete with MK_ESTATE when it starts), so its ctx may be freed. The
 * name may be
 * registered again at once. Connections the caller still references stay
 * valid objects (closed) until unreferenced. If the network is stopping or
 * stopped, its stop closes everything and this returns after the I/O
 * thread is gone. Waits for the I/O thread: not from it (MK_ESTATE), and
 * not while holding a lock the protocol's callbacks take. MK_ENOTFOUND if
 * the name is not registered. */
MK_EXTERN int mk_transport_protocol_unregister(mk_transport *net, const char *name, mk_error *err);

/* ----- dialing ------------------------------------------------------- */

/* Completion of a dial, on the I/O thread, exactly once. On success conn is
 * the open connection (borrowed) and status 0; otherwise conn is NULL and
 * err says why (MK_EMISMATCH: the peer's key differs from the expected peer
 * id, or the peer refused our network/protocol; MK_ENETWORK; MK_ETIMEDOUT;
 * MK_EBUSY: limits; MK_ESTATE: the network stopped). */
typedef void (*mk_transport_dial_cb)(mk_transport_conn *conn, int status, const mk_error *err,
                                     void *ctx);

typedef struct mk_transport_dial_opts {
    /* Keep the connection: when it closes for any reason other than a local
     * close or stop, redial with exponential backoff and jitter until
     * mk_transport_conn_close or mk_transport_forget. */
    bool keep;
} mk_transport_dial_opts;

/* Dial peer at addr ("ip:port", numeric) for a registered protocol. If a
 * connection to (peer, protocol) is open, cb gets it; if one is being
 * dialed, cb waits for it. Returns 0 when cb will be called (cb may be NULL),
 * or an error now (bad address, unknown protocol, peer == self, stopped). */
MK_EXTERN int mk_transport_dial(mk_transport *net, const mk_id *peer, const char *addr,
                                const char *protocol, const mk_transport_dial_opts *opts,
                                mk_transport_dial_cb cb, void *ctx, mk_error *err);

/* Stop keeping (peer, protocol) and close its connection if open. */
MK_EXTERN int mk_transport_forget(mk_transport *net, const mk_id *peer, const char *protocol);

/* ----- connections --------------------------------------------------- */

MK_EXTERN mk_transport_conn *mk_transport_conn_ref(mk_transport_conn *conn);
MK_EXTERN void mk_transport_conn_unref(mk_transport_conn *conn);

/* Queue one frame (copied). 0 when queued; MK_EBUSY when the send queue is
 * full (on_drain follows); MK_ETOOBIG over the protocol's max; MK_EINVAL for
 * an empty frame; MK_ESTATE when the connection is not open. */
MK_EXTERN int mk_transport_conn_send(mk_transport_conn *conn, const void *data, size_t len);
/* Close (graceful TLS close_notify). A kept connection is forgotten. */
MK_EXTERN void mk_transport_conn_close(mk_transport_conn *conn, const char *reason);

MK_EXTERN void mk_transport_conn_peer(const mk_transport_conn *conn, mk_id *out);
MK_EXTERN const char *mk_transport_conn_protocol(const mk_transport_conn *conn);
MK_EXTERN bool mk_transport_conn_inbound(const mk_transport_conn *conn);
MK_EXTERN bool mk_transport_conn_is_open(const mk_transport_conn *conn);
/* Remote "ip:port". */
MK_EXTERN const char *mk_transport_conn_remote_addr(const mk_transport_conn *conn);
MK_EXTERN mk_transport *mk_transport_conn_transport(const mk_transport_conn *conn);
/* Bytes currently queued for sending. */
MK_EXTERN size_t mk_transport_conn_queued(const mk_transport_conn *conn);
/* An opaque pointer for the protocol handler. */
MK_EXTERN void mk_transport_conn_set_user(mk_transport_conn *conn, void *user);
MK_EXTERN void *mk_transport_conn_get_user(const mk_transport_conn *conn);

/* TLS exporter (RFC 8446 §7.5) for channel binding: label becomes
 * "EXPORTER-mosaik-<label>"; both ends of one connection get equal bytes,
 * other connections different ones. context may be NULL. len <= 1024. */
MK_EXTERN int mk_transport_conn_export(mk_transport_conn *conn, const char *label,
                                       const void *context, size_t context_len, uint8_t *out,
                                       size_t len, mk_error *err);

/* ----- running code on the I/O thread --------------------------------- */

/* fn(net, ctx, status) runs once on the I/O thread: status 0 normally,
 * MK_ESTATE when the network stopped first (to let it free ctx). */
typedef void (*mk_transport_fn)(mk_transport *net, void *ctx, int status);
MK_EXTERN int mk_transport_post(mk_transport *net, mk_transport_fn fn, void *ctx);

/* Run fn(net, ctx) on the I/O thread and wait until it returned: the way a
 * layer built on the network touches its loop-owned state from a user
 * thread. On the I/O thread itself, and before mk_transport_start (the caller
 * owns the loop then), fn runs directly. Returns 0 when fn ran. When the
 * network is stopping or stopped, fn does not run and MK_ESTATE is
 * returned, but only once the I/O thread is gone (joined), so the caller
 * may then do fn's work on its own thread: no callback of the network runs
 * any more, and everything the I/O thread did happened before. So
 *
 *     if (mk_transport_call(net, fn, ctx) == MK_ESTATE) fn(net, ctx);
 *
 * runs fn exactly once, never concurrently with the network's callbacks,
 * also while the network closes. Do not call it while holding a lock that
 * callbacks on the I/O thread take (the loop could wait for it). */
typedef void (*mk_transport_call_fn)(mk_transport *net, void *ctx);
MK_EXTERN int mk_transport_call(mk_transport *net, mk_transport_call_fn fn, void *ctx);

/* Timers on the I/O thread. Operations from another thread wait until the
 * I/O thread performed them, so after mk_transport_timer_stop/free returns the
 * callback does not run again. */
typedef void (*mk_transport_timer_cb)(mk_transport_timer *t, void *ctx);
MK_EXTERN int mk_transport_timer_new(mk_transport *net, mk_transport_timer_cb cb, void *ctx,
                                     mk_transport_timer **out);
/* (Re)arm: first after delay_ms, then every repeat_ms (0 = once). */
MK_EXTERN int mk_transport_timer_start(mk_transport_timer *t, uint64_t delay_ms,
                                       uint64_t repeat_ms);
MK_EXTERN int mk_transport_timer_stop(mk_transport_timer *t);
MK_EXTERN void mk_transport_timer_free(mk_transport_timer *t);

/* ----- metrics -------------------------------------------------------- */

typedef struct mk_transport_metrics {
    uint64_t conns_open;        /* open now (on_connect delivered) */
    uint64_t conns_pending;     /* connecting or handshaking now */
    uint64_t conns_inbound;     /* opened inbound, total */
    uint64_t conns_outbound;    /* opened outbound, total */
    uint64_t handshakes_failed; /* total */
    uint64_t bytes_in;          /* TCP bytes */
    uint64_t bytes_out;
    uint64_t frames_in; /* application frames */
    uint64_t frames_out;
    uint64_t refused_limit;    /* inbound over max_conns / max_pending (also: oldest
                                  pending handshakes dropped for a newcomer) */
    uint64_t refused_network;  /* ALPN with another network id */
    uint64_t refused_protocol; /* ALPN with an unknown protocol */
    uint64_t refused_peer;     /* bad certificate or unexpected peer id */
    uint64_t closed_oversize;
    uint64_t closed_malformed;
    uint64_t closed_idle;
    uint64_t closed_duplicate;
    uint64_t reconnects;    /* redial attempts of kept connections */
    uint64_t send_busy;     /* sends refused by backpressure */
    uint64_t refused_addr;  /* inbound over max_conns_per_addr */
    uint64_t displaced;     /* inbound closed to make room for a higher-ranked peer */
    uint64_t closed_budget; /* closed holding the oldest partial frame, over the budget */
    uint64_t partial_bytes; /* gauge: bytes held by partial frames now */
} mk_transport_metrics;

MK_EXTERN void mk_transport_metrics_get(const mk_transport *net, mk_transport_metrics *out);

/* ----- identity files -------------------------------------------------- */

/* Key file: the 32-byte Ed25519 secret (seed) as 64 lowercase hex digits and
 * a newline, mode 0600. Loading refuses files readable or writable by group
 * or others (MK_EPOLICY), non-regular files, and anything but 64 hex digits
 * with optional trailing whitespace (MK_EMALFORMED). */
MK_EXTERN int mk_transport_key_save(const char *path, const mk_ed25519_key *key, mk_error *err);
MK_EXTERN int mk_transport_key_load(const char *path, mk_ed25519_key *key, mk_error *err);
/* Load, or generate and save if the file does not exist. */
MK_EXTERN int mk_transport_key_load_or_create(const char *path, mk_ed25519_key *key, mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
