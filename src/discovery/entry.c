/*
 * discovery/entry.c — peer entries: builders, the canonical CBOR encoding,
 * Ed25519 signing and the bounds-checked decoder.
 *
 * Body (what is signed): a definite CBOR map with the unsigned keys 0..11,
 * always all present, in increasing order, shortest integer heads:
 *    0 format (1)            1 peer id (bstr 32)      2 network id (bstr 32)
 *    3 version (uint, ms)    4 started_at (int, s)    5 flags (uint; bit 0 =
 *    departed)               6 addresses [tstr]       7 tags [bstr 32]
 *    8 streams [bstr 32]     9 groups [bstr 32]       10 collections [bstr 32]
 *   11 tickets [[class bstr 32, data bstr]]
 * Wire form: the array [body (bstr), signature (bstr 64)], the signature
 * being Ed25519 by the peer id's key over
 *   "mosaik.discovery.entry.v1" || 0x00 || body.
 * Carrying the body as a byte string means a receiver verifies exactly the
 * bytes that were signed, and a forwarder passes them on unchanged.
 *
 * Decoding reads through the CBOR pull reader (core/cbor.c, an mk_reader
 * cursor): every count and length is checked against its cap before
 * anything is allocated (MK_ENTRY_MAX_* and MK_TICKET_MAX_DATA), then the
 * decoded entry is re-encoded and must equal the received body byte for
 * byte, which refuses every non-canonical form (long integer heads,
 * indefinite lengths, reordered keys, trailing bytes). Only then is the
 * signature checked. On any failure the output is left empty.
 *
 * Invariant: an mk_peer_entry obtained from mk_peer_entry_decode has exactly
 * one encoding, and its signature verified over it.
 */
#include <stdlib.h>
#include <string.h>

#include "core/cbor.h"
#include "discovery/disc_internal.h"
#include "mosaik/crypto.h"

#define CTX "peer entry"

enum {
    K_FORMAT = 0,
    K_PEER,
    K_NETWORK,
    K_VERSION,
    K_STARTED,
    K_FLAGS,
    K_ADDRS,
    K_TAGS,
    K_STREAMS,
    K_GROUPS,
    K_COLLECTIONS,
    K_TICKETS,
    K_COUNT
};
#define FLAG_DEPARTED 1u

static const char *served_name[MK_SERVED_KINDS] = {"streams", "groups", "collections"};

void mk_peer_entry_init(mk_peer_entry *e) {
    memset(e, 0, sizeof *e);
}

static void id_list_free(mk_id_list *l) {
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void mk_peer_entry_free(mk_peer_entry *e) {
    if (!e) return;
    free(e->addrs);
    id_list_free(&e->tags);
    for (int k = 0; k < MK_SERVED_KINDS; k++)
        id_list_free(&e->served[k]);
    for (size_t i = 0; i < e->n_tickets; i++)
        mk_ticket_free(&e->tickets[i]);
    free(e->tickets);
    memset(e, 0, sizeof *e);
}

static int id_list_copy(mk_id_list *dst, const mk_id_list *src) {
    dst->items = NULL;
    dst->n = 0;
    if (!src->n) return 0;
    dst->items = malloc(src->n * sizeof(mk_id));
    if (!dst->items) return MK_ENOMEM;
    memcpy(dst->items, src->items, src->n * sizeof(mk_id));
    dst->n = src->n;
    return 0;
}

int mk_peer_entry_copy(mk_peer_entry *dst, const mk_peer_entry *src) {
    mk_peer_entry e = *src;
    e.addrs = NULL;
    e.n_addrs = 0;
    e.tags.items = NULL, e.tags.n = 0;
    for (int k = 0; k < MK_SERVED_KINDS; k++)
        e.served[k].items = NULL, e.served[k].n = 0;
    e.tickets = NULL;
    e.n_tickets = 0;
    int rc = MK_ENOMEM;
    if (src->n_addrs) {
        e.addrs = malloc(src->n_addrs * sizeof *e.addrs);
        if (!e.addrs) goto fail;
        memcpy(e.addrs, src->addrs, src->n_addrs * sizeof *e.addrs);
        e.n_addrs = src->n_addrs;
    }
    if (id_list_copy(&e.tags, &src->tags) < 0) goto fail;
    for (int k = 0; k < MK_SERVED_KINDS; k++)
        if (id_list_copy(&e.served[k], &src->served[k]) < 0) goto fail;
    if (src->n_tickets) {
        e.tickets = calloc(src->n_tickets, sizeof(mk_ticket));
        if (!e.tickets) goto fail;
        for (size_t i = 0; i < src->n_tickets; i++) {
            if (mk_ticket_copy(&e.tickets[i], &src->tickets[i]) < 0) goto fail;
            e.n_tickets = i + 1;
        }
    }
    *dst = e;
    return 0;
fail:
    mk_peer_entry_free(&e);
    memset(dst, 0, sizeof *dst);
    return rc;
}

/* ----- builders ------------------------------------------------------ */

static bool addr_ok(const char *s, size_t len) {
    if (len == 0 || len > MK_ENTRY_ADDR_MAX) return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return false;
    return true;
}

int mk_peer_entry_add_addr(mk_peer_entry *e, const char *addr, mk_error *err) {
    size_t len = addr ? strlen(addr) : 0;
    if (!addr_ok(addr, len))
        return mk_error_set(err, MK_EINVAL, "address must be 1..%d printable characters",
                            MK_ENTRY_ADDR_MAX);
    for (size_t i = 0; i < e->n_addrs; i++)
        if (!strcmp(e->addrs[i], addr)) return 0;
    if (e->n_addrs >= MK_ENTRY_MAX_ADDRS)
        return mk_error_set(err, MK_ETOOBIG, "at most %d addresses", MK_ENTRY_MAX_ADDRS);
    void *p = realloc(e->addrs, (e->n_addrs + 1) * sizeof *e->addrs);
    if (!p) return mk_error_set(err, MK_ENOMEM, "out of memory");
    e->addrs = p;
    memset(e->addrs[e->n_addrs], 0, sizeof e->addrs[0]);
    memcpy(e->addrs[e->n_addrs], addr, len);
    e->n_addrs++;
    return 0;
}

static bool id_list_has(const mk_id_list *l, const mk_id *id) {
    for (size_t i = 0; i < l->n; i++)
        if (mk_id_eq(&l->items[i], id)) return true;
    return false;
}

static int id_list_add(mk_id_list *l, const mk_id *id, size_t cap, const char *what,
                       mk_error *err) {
    if (id_list_has(l, id)) return 0;
    if (l->n >= cap) return mk_error_set(err, MK_ETOOBIG, "at most %zu %s", cap, what);
    mk_id *p = realloc(l->items, (l->n + 1) * sizeof(mk_id));
    if (!p) return mk_error_set(err, MK_ENOMEM, "out of memory");
    l->items = p;
    l->items[l->n++] = *id;
    return 0;
}

static int id_list_remove(mk_id_list *l, const mk_id *id) {
    for (size_t i = 0; i < l->n; i++) {
        if (mk_id_eq(&l->items[i], id)) {
            memmove(&l->items[i], &l->items[i + 1], (l->n - i - 1) * sizeof(mk_id));
            l->n--;
            if (l->n == 0) id_list_free(l);
            return 1;
        }
    }
    return 0;
}

int mk_peer_entry_add_tag(mk_peer_entry *e, const mk_id *tag, mk_error *err) {
    return id_list_add(&e->tags, tag, MK_ENTRY_MAX_TAGS, "tags", err);
}

int mk_peer_entry_remove_tag(mk_peer_entry *e, const mk_id *tag) {
    return id_list_remove(&e->tags, tag);
}

int mk_peer_entry_add_served(mk_peer_entry *e, mk_served_kind kind, const mk_id *id,
                             mk_error *err) {
    if ((unsigned)kind >= MK_SERVED_KINDS) return mk_error_set(err, MK_EINVAL, "bad served kind");
    return id_list_add(&e->served[kind], id, MK_ENTRY_MAX_SERVED, served_name[kind], err);
}

int mk_peer_entry_remove_served(mk_peer_entry *e, mk_served_kind kind, const mk_id *id) {
    if ((unsigned)kind >= MK_SERVED_KINDS) return 0;
    return id_list_remove(&e->served[kind], id);
}

bool mk_peer_entry_has_tag(const mk_peer_entry *e, const mk_id *tag) {
    return id_list_has(&e->tags, tag);
}

bool mk_peer_entry_serves(const mk_peer_entry *e, mk_served_kind kind, const mk_id *id) {
    return (unsigned)kind < MK_SERVED_KINDS && id_list_has(&e->served[kind], id);
}

int mk_peer_entry_add_ticket(mk_peer_entry *e, const mk_ticket *t, mk_error *err) {
    if (!t || (!t->data && t->len)) return mk_error_set(err, MK_EINVAL, "no ticket");
    if (t->len > MK_TICKET_MAX_DATA)
        return mk_error_set(err, MK_ETOOBIG, "ticket of %zu bytes exceeds the cap of %d", t->len,
                            MK_TICKET_MAX_DATA);
    if (e->n_tickets >= MK_ENTRY_MAX_TICKETS)
        return mk_error_set(err, MK_ETOOBIG, "at most %d tickets per entry", MK_ENTRY_MAX_TICKETS);
    mk_ticket *p = realloc(e->tickets, (e->n_tickets + 1) * sizeof(mk_ticket));
    if (!p) return mk_error_set(err, MK_ENOMEM, "out of memory");
    e->tickets = p;
    if (mk_ticket_copy(&e->tickets[e->n_tickets], t) < 0)
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    e->n_tickets++;
    return 0;
}

static size_t remove_tickets_if(mk_peer_entry *e, const mk_id *class_id, const mk_ticket *eq) {
    size_t kept = 0, removed = 0;
    for (size_t i = 0; i < e->n_tickets; i++) {
        mk_ticket *t = &e->tickets[i];
        bool match =
            mk_id_eq(&t->class_id, class_id) &&
            (!eq || (eq->len == t->len && (!t->len || !memcmp(eq->data, t->data, t->len))));
        if (match) {
            mk_ticket_free(t);
            removed++;
        } else {
            e->tickets[kept++] = *t;
        }
    }
    e->n_tickets = kept;
    if (!kept) {
        free(e->tickets);
        e->tickets = NULL;
    }
    return removed;
}

size_t mk_peer_entry_remove_ticket(mk_peer_entry *e, const mk_ticket *t) {
    return remove_tickets_if(e, &t->class_id, t);
}

size_t mk_peer_entry_remove_tickets_of(mk_peer_entry *e, const mk_id *class_id) {
    return remove_tickets_if(e, class_id, NULL);
}

void mk_peer_entry_view(const mk_peer_entry *e, mk_peer_view *out) {
    out->peer_id = e->peer_id;
    out->network_id = e->network_id;
    out->tickets = e->tickets;
    out->n_tickets = e->n_tickets;
}

/* ----- encoding ------------------------------------------------------- */

static int put_id_list(mk_buf *b, const mk_id *items, size_t n) {
    MK_TRY(mk_cbor_put_array(b, n));
    for (size_t i = 0; i < n; i++)
        MK_TRY(mk_cbor_put_bstr(b, items[i].b, MK_ID_LEN));
    return 0;
}

static int encode_body(const mk_peer_entry *e, mk_buf *b) {
    if (e->n_addrs > MK_ENTRY_MAX_ADDRS || e->tags.n > MK_ENTRY_MAX_TAGS ||
        e->n_tickets > MK_ENTRY_MAX_TICKETS)
        return MK_ETOOBIG;
    MK_TRY(mk_cbor_put_map(b, K_COUNT));
    MK_TRY(mk_cbor_put_uint(b, K_FORMAT));
    MK_TRY(mk_cbor_put_uint(b, MK_ENTRY_FORMAT));
    MK_TRY(mk_cbor_put_uint(b, K_PEER));
    MK_TRY(mk_cbor_put_bstr(b, e->peer_id.b, MK_ID_LEN));
    MK_TRY(mk_cbor_put_uint(b, K_NETWORK));
    MK_TRY(mk_cbor_put_bstr(b, e->network_id.b, MK_ID_LEN));
    MK_TRY(mk_cbor_put_uint(b, K_VERSION));
    MK_TRY(mk_cbor_put_uint(b, e->version));
    MK_TRY(mk_cbor_put_uint(b, K_STARTED));
    MK_TRY(mk_cbor_put_int(b, e->started_at));
    MK_TRY(mk_cbor_put_uint(b, K_FLAGS));
    MK_TRY(mk_cbor_put_uint(b, e->departed ? FLAG_DEPARTED : 0));
    MK_TRY(mk_cbor_put_uint(b, K_ADDRS));
    MK_TRY(mk_cbor_put_array(b, e->n_addrs));
    for (size_t i = 0; i < e->n_addrs; i++)
        MK_TRY(mk_cbor_put_tstr(b, e->addrs[i], strnlen(e->addrs[i], MK_ENTRY_ADDR_MAX)));
    MK_TRY(mk_cbor_put_uint(b, K_TAGS));
    MK_TRY(put_id_list(b, e->tags.items, e->tags.n));
    for (int k = 0; k < MK_SERVED_KINDS; k++) {
        if (e->served[k].n > MK_ENTRY_MAX_SERVED) return MK_ETOOBIG;
        MK_TRY(mk_cbor_put_uint(b, (uint64_t)(K_STREAMS + k)));
        MK_TRY(put_id_list(b, e->served[k].items, e->served[k].n));
    }
    MK_TRY(mk_cbor_put_uint(b, K_TICKETS));
    MK_TRY(mk_cbor_put_array(b, e->n_tickets));
    for (size_t i = 0; i < e->n_tickets; i++) {
        if (e->tickets[i].len > MK_TICKET_MAX_DATA) return MK_ETOOBIG;
        MK_TRY(mk_cbor_put_array(b, 2));
        MK_TRY(mk_cbor_put_bstr(b, e->tickets[i].class_id.b, MK_ID_LEN));
        MK_TRY(mk_cbor_put_bstr(b, e->tickets[i].data, e->tickets[i].len));
    }
    return 0;
}

int mk_peer_entry_encode_body(const mk_peer_entry *e, mk_buf *out, mk_error *err) {
    mk_buf b;
    mk_buf_init(&b, MK_ENTRY_MAX_BYTES);
    int rc = encode_body(e, &b);
    if (rc == 0 && b.len + 80 > MK_ENTRY_MAX_BYTES) rc = MK_ETOOBIG;
    if (rc == 0) rc = mk_buf_append(out, b.data, b.len);
    mk_buf_free(&b);
    if (rc == MK_ETOOBIG)
        return mk_error_set(err, rc, CTX ": exceeds a cap (%zu bytes at most)", MK_ENTRY_MAX_BYTES);
    if (rc < 0) return mk_error_set(err, rc, CTX ": encoding failed");
    return 0;
}

int mk_peer_entry_signed_bytes(const uint8_t *body, size_t len, mk_buf *out) {
    static const char dom[] = MK_ENTRY_SIG_DOMAIN;
    MK_TRY(mk_buf_append(out, dom, sizeof dom)); /* includes the 0x00 separator */
    return mk_buf_append(out, body, len);
}

int mk_peer_entry_sign(mk_peer_entry *e, const mk_ed25519_key *key, mk_error *err) {
    if (memcmp(e->peer_id.b, key->public_key, 32) != 0)
        return mk_error_set(err, MK_EINVAL, CTX ": peer id is not the signing key");
    mk_buf body = MK_BUF_INIT, msg = MK_BUF_INIT;
    int rc = mk_peer_entry_encode_body(e, &body, err);
    if (rc == 0) rc = mk_peer_entry_signed_bytes(body.data, body.len, &msg);
    if (rc == 0 && mk_ed25519_sign(key, msg.data, msg.len, e->signature) < 0)
        rc = mk_error_set(err, MK_ECRYPTO, CTX ": signing failed");
    mk_buf_free(&body);
    mk_buf_free(&msg);
    return rc;
}

int mk_peer_entry_encode(const mk_peer_entry *e, mk_buf *out, mk_error *err) {
    mk_buf body = MK_BUF_INIT;
    int rc = mk_peer_entry_encode_body(e, &body, err);
    if (rc == 0) {
        mk_buf w;
        mk_buf_init(&w, MK_ENTRY_MAX_BYTES);
        rc = mk_cbor_put_array(&w, 2);
        if (rc == 0) rc = mk_cbor_put_bstr(&w, body.data, body.len);
        if (rc == 0) rc = mk_cbor_put_bstr(&w, e->signature, 64);
        if (rc == 0) rc = mk_buf_append(out, w.data, w.len);
        if (rc < 0) rc = mk_error_set(err, rc, CTX ": encoding failed");
        mk_buf_free(&w);
    }
    mk_buf_free(&body);
    return rc;
}

/* ----- decoding ------------------------------------------------------- */

static int read_id_list(mk_reader *r, const char *what, size_t cap, mk_id_list *out,
                        mk_error *err) {
    size_t n;
    MK_TRY(mk_cbor_expect_array(r, CTX, what, cap, &n, err));
    if (!n) return 0;
    out->items = calloc(n, sizeof(mk_id));
    if (!out->items) return mk_error_set(err, MK_ENOMEM, CTX ": out of memory");
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p;
        size_t len;
        MK_TRY(mk_cbor_expect_bstr(r, CTX, what, MK_ID_LEN, MK_ID_LEN, &p, &len, err));
        memcpy(out->items[i].b, p, MK_ID_LEN);
        out->n = i + 1;
    }
    return 0;
}

static int decode_body(mk_reader *r, mk_peer_entry *e, mk_error *err) {
    mk_cbor_item it;
    MK_TRY(mk_cbor_next(r, &it, CTX, "the entry map", err));
    if (it.kind != MK_CBOR_MAP || it.u != K_COUNT)
        return mk_error_set(err, MK_EMALFORMED, CTX ": not a map of %d fields", K_COUNT);
    uint64_t u;
    MK_TRY(mk_cbor_expect_key(r, K_FORMAT, CTX, "format", err));
    MK_TRY(mk_cbor_expect_uint(r, CTX, "format", &u, err));
    if (u != MK_ENTRY_FORMAT)
        return mk_error_set(err, MK_EUNSUPPORTED, CTX ": unsupported format %llu",
                            (unsigned long long)u);
    const uint8_t *p;
    size_t len;
    MK_TRY(mk_cbor_expect_key(r, K_PEER, CTX, "peer id", err));
    MK_TRY(mk_cbor_expect_bstr(r, CTX, "peer id", 32, 32, &p, &len, err));
    memcpy(e->peer_id.b, p, 32);
    MK_TRY(mk_cbor_expect_key(r, K_NETWORK, CTX, "network id", err));
    MK_TRY(mk_cbor_expect_bstr(r, CTX, "network id", 32, 32, &p, &len, err));
    memcpy(e->network_id.b, p, 32);
    MK_TRY(mk_cbor_expect_key(r, K_VERSION, CTX, "version", err));
    MK_TRY(mk_cbor_expect_uint(r, CTX, "version", &e->version, err));
    MK_TRY(mk_cbor_expect_key(r, K_STARTED, CTX, "started_at", err));
    MK_TRY(mk_cbor_expect_int(r, CTX, "started_at", &e->started_at, err));
    MK_TRY(mk_cbor_expect_key(r, K_FLAGS, CTX, "flags", err));
    MK_TRY(mk_cbor_expect_uint(r, CTX, "flags", &u, err));
    if (u & ~(uint64_t)FLAG_DEPARTED)
        return mk_error_set(err, MK_EMALFORMED, CTX ": unknown flags 0x%llx",
                            (unsigned long long)u);
    e->departed = (u & FLAG_DEPARTED) != 0;

    size_t n;
    MK_TRY(mk_cbor_expect_key(r, K_ADDRS, CTX, "addresses", err));
    MK_TRY(mk_cbor_expect_array(r, CTX, "addresses", MK_ENTRY_MAX_ADDRS, &n, err));
    if (n) {
        e->addrs = calloc(n, sizeof *e->addrs);
        if (!e->addrs) return mk_error_set(err, MK_ENOMEM, CTX ": out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        MK_TRY(mk_cbor_next(r, &it, CTX, "address", err));
        if (it.kind != MK_CBOR_TSTR || !addr_ok((const char *)it.data, it.len))
            return mk_error_set(err, MK_EMALFORMED,
                                CTX ": address %zu is not 1..%d printable characters", i,
                                MK_ENTRY_ADDR_MAX);
        memcpy(e->addrs[i], it.data, it.len);
        e->n_addrs = i + 1;
    }
    MK_TRY(mk_cbor_expect_key(r, K_TAGS, CTX, "tags", err));
    MK_TRY(read_id_list(r, "tags", MK_ENTRY_MAX_TAGS, &e->tags, err));
    for (int k = 0; k < MK_SERVED_KINDS; k++) {
        MK_TRY(mk_cbor_expect_key(r, (uint64_t)(K_STREAMS + k), CTX, served_name[k], err));
        MK_TRY(read_id_list(r, served_name[k], MK_ENTRY_MAX_SERVED, &e->served[k], err));
    }
    MK_TRY(mk_cbor_expect_key(r, K_TICKETS, CTX, "tickets", err));
    MK_TRY(mk_cbor_expect_array(r, CTX, "tickets", MK_ENTRY_MAX_TICKETS, &n, err));
    if (n) {
        e->tickets = calloc(n, sizeof(mk_ticket));
        if (!e->tickets) return mk_error_set(err, MK_ENOMEM, CTX ": out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t two;
        mk_id cls;
        MK_TRY(mk_cbor_expect_array(r, CTX, "ticket", 2, &two, err));
        if (two != 2) return mk_error_set(err, MK_EMALFORMED, CTX ": ticket is not a pair");
        MK_TRY(mk_cbor_expect_bstr(r, CTX, "ticket class", 32, 32, &p, &len, err));
        memcpy(cls.b, p, 32);
        MK_TRY(mk_cbor_expect_bstr(r, CTX, "ticket data", 0, MK_TICKET_MAX_DATA, &p, &len, err));
        if (mk_ticket_init(&e->tickets[i], &cls, p, len) < 0)
            return mk_error_set(err, MK_ENOMEM, CTX ": out of memory");
        e->n_tickets = i + 1;
    }
    if (!mk_reader_done(r))
        return mk_error_set(err, MK_EMALFORMED, CTX ": %zu bytes after the body",
                            mk_reader_remaining(r));
    return 0;
}

int mk_peer_entry_decode(const uint8_t *data, size_t len, mk_peer_entry *out, mk_error *err) {
    mk_peer_entry_init(out);
    if (!data || !len) return mk_error_set(err, MK_ETRUNC, CTX ": empty");
    if (len > MK_ENTRY_MAX_BYTES)
        return mk_error_set(err, MK_ETOOBIG, CTX ": %zu bytes exceed the cap of %zu", len,
                            MK_ENTRY_MAX_BYTES);
    mk_reader r;
    mk_reader_init(&r, data, len);
    size_t n;
    const uint8_t *body, *sig;
    size_t body_len, sig_len;
    MK_TRY(mk_cbor_expect_array(&r, CTX, "the signed entry", 2, &n, err));
    if (n != 2) return mk_error_set(err, MK_EMALFORMED, CTX ": want [body, signature]");
    MK_TRY(mk_cbor_expect_bstr(&r, CTX, "body", 1, MK_ENTRY_MAX_BYTES, &body, &body_len, err));
    MK_TRY(mk_cbor_expect_bstr(&r, CTX, "signature", 64, 64, &sig, &sig_len, err));
    if (!mk_reader_done(&r))
        return mk_error_set(err, MK_EMALFORMED, CTX ": %zu bytes after the signature",
                            mk_reader_remaining(&r));

    mk_peer_entry e;
    mk_peer_entry_init(&e);
    mk_reader br;
    mk_reader_init(&br, body, body_len);
    int rc = decode_body(&br, &e, err);
    mk_buf re = MK_BUF_INIT, msg = MK_BUF_INIT;
    if (rc == 0) {
        /* Exactly one encoding: what we would write must be what we got. */
        rc = encode_body(&e, &re);
        if (rc < 0 || re.len != body_len || memcmp(re.data, body, body_len) != 0)
            rc = mk_error_set(err, MK_EMALFORMED, CTX ": body is not in canonical form");
    }
    if (rc == 0) {
        rc = mk_peer_entry_signed_bytes(body, body_len, &msg);
        if (rc < 0) rc = mk_error_set(err, MK_ENOMEM, CTX ": out of memory");
    }
    if (rc == 0 && mk_ed25519_verify(e.peer_id.b, msg.data, msg.len, sig) != 0)
        rc = mk_error_set(err, MK_EBADSIG, CTX ": signature does not verify");
    mk_buf_free(&re);
    mk_buf_free(&msg);
    if (rc < 0) {
        mk_peer_entry_free(&e);
        return rc;
    }
    memcpy(e.signature, sig, 64);
    *out = e;
    return 0;
}

bool mk_peer_entry_peek_id(const uint8_t *data, size_t len, mk_id *out) {
    /* The canonical body begins {0: 1, 1: h'<32 bytes>' ...}. */
    static const uint8_t head[] = {0xa0 | K_COUNT, K_FORMAT, 1, K_PEER, 0x58, MK_ID_LEN};
    mk_reader r;
    mk_reader_init(&r, data, len);
    size_t n, body_len;
    const uint8_t *body, *p;
    if (mk_cbor_expect_array(&r, CTX, "the signed entry", 2, &n, NULL) < 0 || n != 2 ||
        mk_cbor_expect_bstr(&r, CTX, "body", 1, MK_ENTRY_MAX_BYTES, &body, &body_len, NULL) < 0)
        return false;
    mk_reader br;
    mk_reader_init(&br, body, body_len);
    if (mk_read_view(&br, sizeof head, &p) < 0 || memcmp(p, head, sizeof head) != 0) return false;
    return mk_read_bytes(&br, out->b, MK_ID_LEN) == 0;
}

/* ----- comparison ----------------------------------------------------- */

static bool id_list_eq(const mk_id_list *a, const mk_id_list *b) {
    return a->n == b->n && (!a->n || !memcmp(a->items, b->items, a->n * sizeof(mk_id)));
}

bool mk_peer_entry_same_tickets(const mk_peer_entry *a, const mk_peer_entry *b) {
    if (a->n_tickets != b->n_tickets) return false;
    for (size_t i = 0; i < a->n_tickets; i++) {
        const mk_ticket *x = &a->tickets[i], *y = &b->tickets[i];
        if (!mk_id_eq(&x->class_id, &y->class_id) || x->len != y->len ||
            (x->len && memcmp(x->data, y->data, x->len)))
            return false;
    }
    return true;
}

bool mk_peer_entry_same_content(const mk_peer_entry *a, const mk_peer_entry *b) {
    if (!mk_id_eq(&a->peer_id, &b->peer_id) || !mk_id_eq(&a->network_id, &b->network_id) ||
        a->started_at != b->started_at || a->departed != b->departed || a->n_addrs != b->n_addrs ||
        !id_list_eq(&a->tags, &b->tags))
        return false;
    for (size_t i = 0; i < a->n_addrs; i++)
        if (strcmp(a->addrs[i], b->addrs[i])) return false;
    for (int k = 0; k < MK_SERVED_KINDS; k++)
        if (!id_list_eq(&a->served[k], &b->served[k])) return false;
    return mk_peer_entry_same_tickets(a, b);
}
