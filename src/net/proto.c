/*
 * net/proto.c — the protocol table: registration, unregistration, lookup.
 *
 * A protocol is a name ([a-z0-9._-]{1,32}), a frame limit and the
 * callbacks of mk_transport_protocol. Its record carries the ALPN wire form the
 * dialer offers, one length byte then "mk1/<name>/<hex network id>",
 * written through an mk_writer. The table (net->protos, at most
 * MK_TRANSPORT_MAX_PROTOCOLS, under net->mu) holds one reference on each
 * registered record; lookups (ALPN selection, mk_transport_dial, mk_transport_forget)
 * take their own, as does every connection, keep record and queued job
 * naming the protocol, so a record lives until the last of them is gone.
 *
 * Unregistration, the counterpart that lets a layer detach from a network:
 *
 *   1. under net->mu, in one critical section: the record leaves the table
 *      (new lookups fail: ALPN refuses the protocol, dials get
 *      MK_ENOTFOUND), is marked dead, and the closing work is queued for
 *      the I/O thread behind everything queued before (mk_transport_call_unlock);
 *   2. on the I/O thread: every keep record of the protocol is removed and
 *      every connection of it closed (on_close with MK_ESTATE for those the
 *      user saw open; dials waiting on them complete with MK_ESTATE); dials
 *      queued before step 1 find the record dead and complete with
 *      MK_ESTATE;
 *   3. the caller waits for step 2, then drops the table's reference.
 *
 * After step 2 no callback of the protocol can run: closed connections
 * deliver nothing, no new connection can pick the record (it is not in the
 * table and dead), and every dial that held it has completed. When the
 * network is stopping or stopped, its stop closed everything and
 * mk_transport_call_unlock returns only once the I/O thread is gone. Before
 * mk_transport_start step 2 runs on the caller's thread and finds nothing; dials
 * queued meanwhile find the record dead when the loop starts. The name
 * can be registered again at once, with a new record.
 */
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h"

static bool proto_name_ok(const char *s) {
    size_t n = strnlen(s, MK_TRANSPORT_PROTOCOL_NAME_MAX + 1);
    if (n == 0 || n > MK_TRANSPORT_PROTOCOL_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

mk_transport_proto *mk_transport_proto_ref(mk_transport_proto *p) {
    if (p) atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void mk_transport_proto_unref(mk_transport_proto *p) {
    if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1) free(p);
}

/* The ALPN wire form of pr: one length byte, then the string. */
static int proto_alpn(mk_transport *net, mk_transport_proto *pr) {
    char alpn[sizeof pr->alpn];
    int n = snprintf(alpn, sizeof alpn, "mk1/%s/%s", pr->name, net->net_hex);
    if (n <= 0 || n > UINT8_MAX) return MK_ETOOBIG;
    mk_writer w;
    mk_writer_init(&w, pr->alpn, sizeof pr->alpn);
    mk_write_u8(&w, (uint8_t)n);
    mk_write_bytes(&w, alpn, (size_t)n);
    pr->alpn_len = mk_writer_len(&w);
    return mk_writer_status(&w);
}

/* A new record (one reference) for p in *out. */
static int proto_new(mk_transport *net, const mk_transport_protocol *p, mk_transport_proto **out,
                     mk_error *err) {
    if (!net || !p || !p->name || !proto_name_ok(p->name))
        return mk_error_set(err, MK_EINVAL, "protocol name must match [a-z0-9._-]{1,%d}",
                            MK_TRANSPORT_PROTOCOL_NAME_MAX);
    size_t max = p->max_frame ? p->max_frame : net->cfg.max_frame;
    if (max > MK_TRANSPORT_MAX_FRAME_CAP)
        return mk_error_set(err, MK_EINVAL, "protocol %s: max_frame %zu exceeds %zu", p->name, max,
                            (size_t)MK_TRANSPORT_MAX_FRAME_CAP);
    mk_transport_proto *pr = calloc(1, sizeof *pr);
    if (!pr) return mk_error_set(err, MK_ENOMEM, "out of memory");
    atomic_init(&pr->refs, 1);
    atomic_init(&pr->dead, false);
    snprintf(pr->name, sizeof pr->name, "%s", p->name);
    pr->ops = *p;
    pr->ops.name = pr->name;
    pr->max_frame = max;
    int rc = proto_alpn(net, pr);
    if (rc < 0) {
        free(pr);
        return mk_error_set(err, rc, "protocol %s: ALPN string too long", p->name);
    }
    *out = pr;
    return 0;
}

int mk_transport_protocol_register(mk_transport *net, const mk_transport_protocol *p,
                                   mk_error *err) {
    mk_transport_proto *pr = NULL;
    MK_TRY(proto_new(net, p, &pr, err));
    uv_mutex_lock(&net->mu);
    int rc = 0;
    for (size_t i = 0; i < net->n_protos; i++)
        if (strcmp(net->protos[i]->name, pr->name) == 0) rc = MK_EBUSY;
    if (rc == 0 && net->n_protos >= MK_TRANSPORT_MAX_PROTOCOLS) rc = MK_EBUSY;
    if (rc == 0) net->protos[net->n_protos++] = pr;
    uv_mutex_unlock(&net->mu);
    if (rc < 0) {
        mk_transport_proto_unref(pr);
        return mk_error_set(err, rc, "protocol %s: already registered or table full", p->name);
    }
    return 0;
}

static void unregister_run(mk_transport *net, void *ctx) {
    mk_transport_conn_close_proto(net, ctx);
}

int mk_transport_protocol_unregister(mk_transport *net, const char *name, mk_error *err) {
    if (!net || !name) return mk_error_set(err, MK_EINVAL, "unregister: missing argument");
    if (mk_transport_on_loop(net))
        return mk_error_set(err, MK_ESTATE, "unregister %s: not from the I/O thread", name);
    uv_mutex_lock(&net->mu);
    mk_transport_proto *pr = NULL;
    for (size_t i = 0; i < net->n_protos && !pr; i++) {
        if (strcmp(net->protos[i]->name, name) != 0) continue;
        pr = net->protos[i];
        memmove(&net->protos[i], &net->protos[i + 1],
                (net->n_protos - i - 1) * sizeof net->protos[0]);
        net->n_protos--;
    }
    if (!pr) {
        uv_mutex_unlock(&net->mu);
        return mk_error_set(err, MK_ENOTFOUND, "unregister: protocol \"%s\" is not registered",
                            name);
    }
    atomic_store(&pr->dead, true);
    /* MK_ESTATE: the network stopped, which closed everything already. */
    mk_transport_call_unlock(net, unregister_run, pr);
    mk_transport_proto_unref(pr);
    return 0;
}

mk_transport_proto *mk_transport_proto_find_locked(mk_transport *net, const char *name,
                                                   size_t len) {
    for (size_t i = 0; i < net->n_protos; i++)
        if (strlen(net->protos[i]->name) == len && memcmp(net->protos[i]->name, name, len) == 0)
            return mk_transport_proto_ref(net->protos[i]);
    return NULL;
}

mk_transport_proto *mk_transport_proto_find(mk_transport *net, const char *name, size_t len) {
    uv_mutex_lock(&net->mu);
    mk_transport_proto *found = mk_transport_proto_find_locked(net, name, len);
    uv_mutex_unlock(&net->mu);
    return found;
}

void mk_transport_protos_release(mk_transport *net) {
    for (size_t i = 0; i < net->n_protos; i++)
        mk_transport_proto_unref(net->protos[i]);
    net->n_protos = 0;
}
