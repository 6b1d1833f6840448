/*
 * net/tls.c — the TLS 1.3 context: certificates, peer verification, ALPN.
 *
 * One SSL_CTX per mk_transport serves both roles. It allows TLS 1.3 only, carries
 * the node's self-signed Ed25519 certificate, requires a certificate from
 * the peer in both directions (SSL_VERIFY_PEER | FAIL_IF_NO_PEER_CERT), and
 * disables session tickets and the session cache (no resumption: every
 * connection proves the key afresh).
 *
 * Chain verification is replaced (SSL_CTX_set_cert_verify_callback) by
 * verify_cb: the leaf must be an Ed25519 self-signed certificate and its raw
 * public key becomes the connection's peer id. A dialer compares it with
 * the id it expected; a listener records it. Refusing a peer makes OpenSSL
 * abort the handshake with an alert, before any application data.
 *
 * ALPN: the client offers exactly one string "mk1/<protocol>/<hex network
 * id>". The server's select callback parses the offered list through an
 * mk_reader, accepts the first string naming our network and a registered
 * protocol, and otherwise fails the handshake (no_application_protocol).
 * The reason (other network, unknown protocol, malformed) is stored on the
 * connection and counted.
 *
 * Each SSL uses two memory BIOs; conn_tls.c moves bytes between them and
 * the libuv stream, so OpenSSL never touches a socket.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "crypto/ossl.h"
#include "net/net_internal.h"

static int verify_cb(X509_STORE_CTX *xs, void *arg) {
    mk_transport *net = arg;
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    mk_transport_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
    if (!c) return 0;
    mk_error e;
    mk_error_clear(&e);
    mk_id id;
    int rc = mk_transport_cert_peer_id(X509_STORE_CTX_get0_cert(xs), &id, &e);
    if (rc < 0) {
        c->fail_code = MK_EUNTRUSTED;
        snprintf(c->fail_reason, sizeof c->fail_reason, "%s", e.msg);
        MK_MET_ADD(net, refused_peer, 1);
        X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    char want[MK_ID_HEX_LEN], got[MK_ID_HEX_LEN];
    if (!c->inbound) {
        if (!mk_id_eq(&id, &c->peer)) {
            mk_id_to_hex(&c->peer, want);
            mk_id_to_hex(&id, got);
            c->fail_code = MK_EMISMATCH;
            snprintf(c->fail_reason, sizeof c->fail_reason,
                     "peer id mismatch: expected %.16s..., the peer certificate key is %.16s...",
                     want, got);
            MK_MET_ADD(net, refused_peer, 1);
            X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
            return 0;
        }
    } else {
        if (mk_id_eq(&id, &net->self)) {
            c->fail_code = MK_EPOLICY;
            snprintf(c->fail_reason, sizeof c->fail_reason, "connection from our own peer id");
            MK_MET_ADD(net, refused_peer, 1);
            X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
            return 0;
        }
        c->peer = id;
    }
    c->peer_known = true;
    return 1;
}

/* Parse "mk1/<proto>/<hex>"; returns 0 and fills proto span and hex span. */
static int parse_alpn(const uint8_t *s, size_t n, const uint8_t **proto, size_t *plen,
                      const uint8_t **hex, size_t *hlen) {
    mk_reader r;
    mk_reader_init(&r, s, n);
    const uint8_t *pre;
    if (mk_read_view(&r, 4, &pre) < 0 || memcmp(pre, "mk1/", 4) != 0) return -1;
    size_t rest = mk_reader_remaining(&r);
    const uint8_t *body;
    if (mk_read_view(&r, rest, &body) < 0) return -1;
    const uint8_t *slash = memchr(body, '/', rest);
    if (!slash) return -1;
    *proto = body;
    *plen = (size_t)(slash - body);
    *hex = slash + 1;
    *hlen = rest - *plen - 1;
    return 0;
}

static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg) {
    mk_transport *net = arg;
    mk_transport_conn *c = SSL_get_app_data(ssl);
    if (!c) return SSL_TLSEXT_ERR_ALERT_FATAL;
    mk_reader r;
    mk_reader_init(&r, in, inlen);
    bool other_net = false, unknown_proto = false;
    char seen_proto[MK_TRANSPORT_PROTOCOL_NAME_MAX + 1] = "";
    while (!mk_reader_done(&r)) {
        uint8_t len;
        const uint8_t *s;
        if (mk_read_u8(&r, &len) < 0 || mk_read_view(&r, len, &s) < 0) break;
        const uint8_t *p, *h;
        size_t plen, hlen;
        if (parse_alpn(s, len, &p, &plen, &h, &hlen) < 0) continue;
        if (hlen != 64 || memcmp(h, net->net_hex, 64) != 0) {
            other_net = true;
            continue;
        }
        mk_transport_proto *proto = mk_transport_proto_find(net, (const char *)p, plen);
        if (!proto) {
            unknown_proto = true;
            if (plen <= MK_TRANSPORT_PROTOCOL_NAME_MAX) {
                memcpy(seen_proto, p, plen);
                seen_proto[plen] = 0;
            }
            continue;
        }
        mk_transport_proto_unref(c->proto);
        c->proto = proto; /* the lookup's reference */
        *out = s;
        *outlen = len;
        return SSL_TLSEXT_ERR_OK;
    }
    if (other_net) {
        c->fail_code = MK_EMISMATCH;
        snprintf(c->fail_reason, sizeof c->fail_reason,
                 "refused: the dialer belongs to another network id");
        MK_MET_ADD(net, refused_network, 1);
    } else if (unknown_proto) {
        c->fail_code = MK_ENOTFOUND;
        snprintf(c->fail_reason, sizeof c->fail_reason, "refused: protocol \"%s\" not served",
                 seen_proto);
        MK_MET_ADD(net, refused_protocol, 1);
    } else {
        c->fail_code = MK_EMALFORMED;
        snprintf(c->fail_reason, sizeof c->fail_reason, "refused: no mosaik ALPN offered");
        MK_MET_ADD(net, refused_protocol, 1);
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

int mk_transport_tls_ctx_new(mk_transport *net, mk_error *err) {
    EVP_PKEY *pk = NULL;
    X509 *cert = NULL;
    MK_TRY(mk_transport_cert_make(&net->key, &pk, &cert, err));
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (!ctx) goto fail;
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) goto fail;
    if (!SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) goto fail;
    if (SSL_CTX_use_certificate(ctx, cert) != 1) goto fail;
    if (SSL_CTX_use_PrivateKey(ctx, pk) != 1) goto fail;
    if (SSL_CTX_check_private_key(ctx) != 1) goto fail;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, verify_cb, net);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, net);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_num_tickets(ctx, 0);
    X509_free(cert);
    EVP_PKEY_free(pk);
    net->ssl_ctx = ctx;
    return 0;
fail:
    mk_error_openssl(err, MK_ECRYPTO, "TLS context");
    SSL_CTX_free(ctx);
    X509_free(cert);
    EVP_PKEY_free(pk);
    return MK_ECRYPTO;
}

void mk_transport_tls_ctx_free(mk_transport *net) {
    SSL_CTX_free(net->ssl_ctx);
    net->ssl_ctx = NULL;
}

int mk_transport_tls_new(mk_transport *net, mk_transport_conn *c, bool client, mk_error *err) {
    SSL *ssl = SSL_new(net->ssl_ctx);
    if (!ssl) return mk_error_openssl(err, MK_ENOMEM, "TLS session");
    BIO *rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(BIO_s_mem());
    if (!rbio || !wbio) {
        BIO_free(rbio);
        BIO_free(wbio);
        SSL_free(ssl);
        return mk_error_set(err, MK_ENOMEM, "TLS buffers");
    }
    /* An empty read BIO means "wait for more", not end of file. */
    BIO_set_mem_eof_return(rbio, -1);
    BIO_set_mem_eof_return(wbio, -1);
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_app_data(ssl, c);
    if (client) {
        if (SSL_set_alpn_protos(ssl, c->proto->alpn, (unsigned)c->proto->alpn_len) != 0) {
            SSL_free(ssl);
            return mk_error_openssl(err, MK_ECRYPTO, "TLS ALPN");
        }
        SSL_set_connect_state(ssl);
    } else {
        SSL_set_accept_state(ssl);
    }
    c->ssl = ssl;
    return 0;
}

int mk_transport_tls_errors(char *buf, size_t n) {
    unsigned long first = ERR_peek_error();
    int reason = first ? ERR_GET_REASON(first) : 0;
    size_t off = 0;
    if (n) buf[0] = 0;
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        if (off + 2 >= n) continue;
        char one[256];
        ERR_error_string_n(e, one, sizeof one);
        int w = snprintf(buf + off, n - off, "%s%s", off ? "; " : "", one);
        if (w > 0) off += (size_t)w < n - off ? (size_t)w : n - off - 1;
    }
    return reason;
}
