/*
 * tests/unit/net/tls_flood_util.h — a hostile TLS client for the limit tests:
 * blocking TLS 1.3 connections to a mosaik listener, each with a fresh
 * (throwaway) Ed25519 identity, from a chosen source address (any of
 * 127.0.0.0/8 on loopback), offering ALPN "mk1/<protocol>/<network>".
 *
 * It speaks just enough of the transport to attack it: the handshake, the
 * acceptance frame (4 zero bytes the listener sends once it admitted the
 * connection), raw bytes (e.g. a frame header and most of its body), and
 * telling whether the listener closed the connection. Every wait has a
 * deadline (socket timeouts and poll), so a test never hangs.
 */
#ifndef MOSAIK_TLS_FLOOD_H
#define MOSAIK_TLS_FLOOD_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mosaik/crypto.h"
#include "net/net_internal.h"

typedef struct tf_conn {
    int fd;
    SSL *ssl;
    mk_id id;      /* the throwaway identity */
    bool accepted; /* the acceptance frame arrived */
} tf_conn;

static inline SSL_CTX *tf_ctx_new(void) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
}

/* Connect from src_ip (port 0) to dst "ip:port", handshake with a fresh key
 * (or `key` when not NULL) and offer mk1/<proto>/<network>. 0 when the TLS
 * handshake completed on our side; the listener may still refuse (see
 * tf_wait_accept). timeout_ms bounds every blocking step. */
static inline int tf_open(SSL_CTX *ctx, tf_conn *c, const char *src_ip, const char *dst,
                          const char *proto, const mk_id *network, const mk_ed25519_key *key,
                          int timeout_ms) {
    memset(c, 0, sizeof *c);
    c->fd = -1;
    mk_ed25519_key k;
    if (key)
        k = *key;
    else if (mk_ed25519_generate(&k) < 0)
        return -1;
    memcpy(c->id.b, k.public_key, MK_ID_LEN);
    struct sockaddr_storage ss;
    if (mk_transport_addr_parse(dst, &ss, false, NULL) < 0) return -1;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) return -1;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in src = {.sin_family = AF_INET};
    inet_pton(AF_INET, src_ip, &src.sin_addr);
    if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        connect(c->fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) < 0)
        return -1;
    EVP_PKEY *pkey = NULL;
    X509 *cert = NULL;
    if (mk_transport_cert_make(&k, &pkey, &cert, NULL) < 0) return -1;
    c->ssl = SSL_new(ctx);
    int ok = c->ssl && SSL_use_certificate(c->ssl, cert) == 1 &&
             SSL_use_PrivateKey(c->ssl, pkey) == 1 && SSL_set_fd(c->ssl, c->fd) == 1;
    X509_free(cert);
    EVP_PKEY_free(pkey);
    mk_ed25519_wipe(&k);
    if (!ok) return -1;
    char hex[MK_ID_HEX_LEN];
    mk_id_to_hex(network, hex);
    uint8_t alpn[256];
    int n = snprintf((char *)alpn + 1, sizeof alpn - 1, "mk1/%s/%s", proto, hex);
    alpn[0] = (uint8_t)n;
    SSL_set_alpn_protos(c->ssl, alpn, (unsigned)n + 1);
    ERR_clear_error();
    int r = SSL_connect(c->ssl);
    ERR_clear_error();
    return r == 1 ? 0 : -1;
}

/* Wait for the acceptance frame: true when it came, false when the
 * listener closed the connection (or nothing came within the timeout). */
static inline bool tf_wait_accept(tf_conn *c) {
    uint8_t hdr[4];
    size_t got = 0;
    while (got < sizeof hdr) {
        ERR_clear_error();
        int n = SSL_read(c->ssl, hdr + got, (int)(sizeof hdr - got));
        if (n <= 0) {
            ERR_clear_error();
            return false;
        }
        got += (size_t)n;
    }
    c->accepted = memcmp(hdr, "\0\0\0\0", 4) == 0;
    return c->accepted;
}

/* Write raw bytes into the TLS stream (a frame, or part of one). */
static inline int tf_send(tf_conn *c, const void *data, size_t len) {
    const uint8_t *p = data;
    while (len) {
        ERR_clear_error();
        int n = SSL_write(c->ssl, p, (int)(len > (1 << 20) ? (1 << 20) : len));
        if (n <= 0) {
            ERR_clear_error();
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Write a frame header announcing `len` body bytes, then `have` of them. */
static inline int tf_send_partial(tf_conn *c, size_t len, size_t have) {
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};
    if (tf_send(c, hdr, 4) < 0) return -1;
    uint8_t *body = calloc(1, have ? have : 1);
    int rc = body ? tf_send(c, body, have) : -1;
    free(body);
    return rc;
}

/* Has the listener closed the connection? Waits up to wait_ms for a sign
 * (end of stream, reset, close_notify); data is read and ignored. */
static inline bool tf_closed(tf_conn *c, int wait_ms) {
    if (c->fd < 0) return true;
    for (;;) {
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, wait_ms) <= 0) return false;
        uint8_t b;
        ssize_t k = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
        if (k < 0) continue;
        /* A record: read it without blocking (an alert ends the stream). */
        int fl = fcntl(c->fd, F_GETFL);
        fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
        uint8_t buf[256];
        ERR_clear_error();
        int n = SSL_read(c->ssl, buf, sizeof buf);
        int e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, n);
        ERR_clear_error();
        fcntl(c->fd, F_SETFL, fl);
        if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ) return true;
    }
}

static inline void tf_close(tf_conn *c) {
    if (c->ssl) SSL_free(c->ssl);
    if (c->fd >= 0) close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
}

#endif
