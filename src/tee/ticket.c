/*
 * tee/ticket.c — the ticket envelope every platform shares: report-data
 * binding, canonical CBOR, capped zstd (zstd.c), conversion to generic
 * tickets. A platform describes its tickets with one mk_tee_ticket_format
 * (class name, report-data domain, version, caps, the names of its
 * evidence and endorsements in reasons); the format is its tag: the class
 * says which platform a ticket is for, and the domain makes evidence bound
 * for one platform's ticket mean nothing in another's.
 *
 * Report data. The evidence's 64-byte report data is SHA-512 over a fixed
 * preimage: the length-prefixed domain string (u32 big-endian length),
 * then fixed-width fields (ids 32 bytes each, times as big-endian
 * two's-complement i64). Every field has a fixed width, so two different
 * extra-data values can never share a preimage, and the domain keeps the
 * hash from meaning anything else.
 *
 * Encoding. The ticket is a CBOR map with unsigned keys 0..6 (7 when
 * endorsements are present) in increasing order:
 *   0 version  1 peer id  2 network id  3 started_at  4 quoted_at
 *   5 expiration  6 evidence (bstr)  7 endorsements (bstr, optional)
 * written with the canonical head writers of core/cbor.c (always the
 * shortest integer form and definite lengths), so one ticket has exactly
 * one encoding.
 *
 * Times. Decoding refuses started_at, quoted_at and expiration outside
 * [0, MK_TEE_TIME_MAX] (expiration may also be MK_EXPIRES_NEVER) and an
 * expiration before quoted_at, so that code judging a decoded ticket can
 * subtract its times without overflow. Encoding does not check them (tests
 * build out-of-range tickets to exercise the decoder).
 *
 * Decoding is a schema-driven pull parser over the CBOR pull reader of
 * core/cbor.c: each step yields one data item header (or a whole definite
 * byte string); nothing is allocated from a size read off the wire, and the
 * cursor into the input is an mk_reader. Evidence and endorsements are
 * capped by the format. Endorsements a format declares as text (TDX's
 * collateral JSON) must hold no NUL byte and are kept NUL-terminated.
 * After the map has been read, the decoder re-encodes what it understood
 * and requires the result to equal the input byte for byte: this one
 * comparison refuses non-minimal integers, indefinite lengths, duplicate
 * or reordered keys and trailing bytes. On failure nothing stays allocated
 * and the ticket is zeroed.
 *
 * The wire form is one zstd frame of the CBOR, compressed at level 19 with
 * the content size in the frame header, at most MK_TICKET_MAX_DATA bytes;
 * its decompression is capped at MK_TEE_TICKET_MAX_DECOMPRESSED (zstd.c).
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "core/cbor.h"
#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "tee/tee_internal.h"

/* ------------------------------------------------------------------ */
/* Report data                                                         */
/* ------------------------------------------------------------------ */

size_t mk_tee_extra_data_encoded_len(const char *domain) {
    return 4 + strlen(domain) + 32 + 32 + 8 + 8 + 8;
}

size_t mk_tee_extra_data_encode(const char *domain, const mk_tee_extra_data *x, uint8_t *out,
                                size_t cap) {
    size_t dl = domain ? strlen(domain) : 0;
    size_t n = 4 + dl + 32 + 32 + 24;
    if (!domain || dl > MK_TEE_DOMAIN_MAX || cap < n) return 0;
    mk_writer w;
    mk_writer_init(&w, out, cap);
    mk_write_u32be(&w, (uint32_t)dl);
    mk_write_bytes(&w, domain, dl);
    mk_write_bytes(&w, x->peer_id.b, 32);
    mk_write_bytes(&w, x->network_id.b, 32);
    mk_write_u64be(&w, (uint64_t)x->started_at);
    mk_write_u64be(&w, (uint64_t)x->quoted_at);
    mk_write_u64be(&w, (uint64_t)x->expiration);
    return n;
}

int mk_tee_report_data(const char *domain, const mk_tee_extra_data *x,
                       uint8_t out[MK_TEE_REPORT_DATA_LEN]) {
    uint8_t pre[4 + MK_TEE_DOMAIN_MAX + 88];
    size_t n = x ? mk_tee_extra_data_encode(domain, x, pre, sizeof pre) : 0;
    if (n == 0) return MK_EINVAL;
    mk_sha512(pre, n, out);
    return 0;
}

bool mk_tee_binds(const char *domain, const mk_tee_extra_data *x,
                  const uint8_t report_data[MK_TEE_REPORT_DATA_LEN]) {
    uint8_t want[MK_TEE_REPORT_DATA_LEN];
    return mk_tee_report_data(domain, x, want) == 0 &&
           mk_ct_equal(want, report_data, MK_TEE_REPORT_DATA_LEN);
}

/* ------------------------------------------------------------------ */
/* Construction                                                        */
/* ------------------------------------------------------------------ */

/* A copy of n bytes, NUL-terminated when text (so n + 1 allocated). */
static uint8_t *dup_bytes(const uint8_t *p, size_t n, bool text) {
    uint8_t *d = malloc(n + (text ? 1 : 0) + (n == 0));
    if (!d) return NULL;
    if (n) memcpy(d, p, n);
    if (text) d[n] = 0;
    return d;
}

int mk_tee_ticket_init(const mk_tee_ticket_format *f, mk_tee_ticket *t, const mk_tee_extra_data *x,
                       const uint8_t *evidence, size_t evidence_len, const uint8_t *endorsements,
                       size_t endorsements_len, mk_error *err) {
    memset(t, 0, sizeof *t);
    if (!f) return mk_error_set(err, MK_EINVAL, "ticket: no format");
    if (!x || !evidence || evidence_len == 0)
        return mk_error_set(err, MK_EINVAL, "%s: no %s", f->label, f->evidence_name);
    if (evidence_len > f->evidence_max)
        return mk_error_set(err, MK_ETOOBIG, "%s: %s of %zu bytes exceeds %zu", f->label,
                            f->evidence_name, evidence_len, f->evidence_max);
    if (endorsements && endorsements_len > f->endorsements_max)
        return mk_error_set(err, MK_ETOOBIG, "%s: %s of %zu bytes exceeds %zu", f->label,
                            f->endorsements_name, endorsements_len, f->endorsements_max);
    t->format = f;
    t->evidence = dup_bytes(evidence, evidence_len, false);
    if (!t->evidence) return mk_error_set(err, MK_ENOMEM, "out of memory");
    t->evidence_len = evidence_len;
    if (endorsements) {
        t->endorsements = dup_bytes(endorsements, endorsements_len, f->endorsements_text);
        if (!t->endorsements) {
            mk_tee_ticket_free(t);
            return mk_error_set(err, MK_ENOMEM, "out of memory");
        }
        t->endorsements_len = endorsements_len;
    }
    t->extra = *x;
    return 0;
}

void mk_tee_ticket_free(mk_tee_ticket *t) {
    if (!t) return;
    free(t->evidence);
    free(t->endorsements);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------ */
/* Canonical CBOR encoding                                             */
/* ------------------------------------------------------------------ */

enum {
    K_VERSION = 0,
    K_PEER = 1,
    K_NETWORK = 2,
    K_STARTED = 3,
    K_QUOTED = 4,
    K_EXPIRES = 5,
    K_EVIDENCE = 6,
    K_ENDORSEMENTS = 7,
};

static int encode_cbor(const mk_tee_ticket *t, mk_buf *out) {
    MK_TRY(mk_cbor_put_map(out, t->endorsements ? 8 : 7));
    MK_TRY(mk_cbor_put_uint(out, K_VERSION));
    MK_TRY(mk_cbor_put_uint(out, t->format->version));
    MK_TRY(mk_cbor_put_uint(out, K_PEER));
    MK_TRY(mk_cbor_put_bstr(out, t->extra.peer_id.b, 32));
    MK_TRY(mk_cbor_put_uint(out, K_NETWORK));
    MK_TRY(mk_cbor_put_bstr(out, t->extra.network_id.b, 32));
    MK_TRY(mk_cbor_put_uint(out, K_STARTED));
    MK_TRY(mk_cbor_put_int(out, t->extra.started_at));
    MK_TRY(mk_cbor_put_uint(out, K_QUOTED));
    MK_TRY(mk_cbor_put_int(out, t->extra.quoted_at));
    MK_TRY(mk_cbor_put_uint(out, K_EXPIRES));
    MK_TRY(mk_cbor_put_int(out, t->extra.expiration));
    MK_TRY(mk_cbor_put_uint(out, K_EVIDENCE));
    MK_TRY(mk_cbor_put_bstr(out, t->evidence, t->evidence_len));
    if (t->endorsements) {
        MK_TRY(mk_cbor_put_uint(out, K_ENDORSEMENTS));
        MK_TRY(mk_cbor_put_bstr(out, t->endorsements, t->endorsements_len));
    }
    return 0;
}

int mk_tee_ticket_encode_cbor(const mk_tee_ticket *t, mk_buf *out, mk_error *err) {
    if (!t || !t->format) return mk_error_set(err, MK_EINVAL, "ticket: no format");
    const mk_tee_ticket_format *f = t->format;
    if (!t->evidence || !t->evidence_len)
        return mk_error_set(err, MK_EINVAL, "%s: no %s", f->label, f->evidence_name);
    mk_buf tmp;
    mk_buf_init(&tmp, MK_TEE_TICKET_MAX_DECOMPRESSED);
    int rc = encode_cbor(t, &tmp);
    if (rc < 0) {
        mk_buf_free(&tmp);
        if (rc == MK_ETOOBIG)
            return mk_error_set(err, rc, "%s: encoding exceeds %d bytes", f->label,
                                MK_TEE_TICKET_MAX_DECOMPRESSED);
        return mk_error_set(err, rc, "%s: CBOR encoding failed", f->label);
    }
    rc = mk_buf_append(out, tmp.data, tmp.len);
    mk_buf_free(&tmp);
    if (rc < 0) return mk_error_set(err, rc, "%s: output buffer full", f->label);
    return 0;
}

int mk_tee_ticket_encode(const mk_tee_ticket *t, mk_buf *out, mk_error *err) {
    mk_buf cb;
    mk_buf_init(&cb, MK_TEE_TICKET_MAX_DECOMPRESSED);
    int rc = mk_tee_ticket_encode_cbor(t, &cb, err);
    if (rc < 0) {
        mk_buf_free(&cb);
        return rc;
    }
    const char *label = t->format->label;
    size_t bound = ZSTD_compressBound(cb.len);
    uint8_t *z = malloc(bound);
    if (!z) {
        mk_buf_free(&cb);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    /* Level 19: tickets are made rarely and sent often. Content size is
     * written into the frame header (the decoder checks it first). */
    size_t zn = ZSTD_compress(z, bound, cb.data, cb.len, 19);
    mk_buf_free(&cb);
    if (ZSTD_isError(zn)) {
        free(z);
        return mk_error_set(err, MK_EINVAL, "%s: zstd: %s", label, ZSTD_getErrorName(zn));
    }
    if (zn > MK_TICKET_MAX_DATA) {
        free(z);
        return mk_error_set(err, MK_ETOOBIG, "%s: %zu compressed bytes exceed the ticket cap of %d",
                            label, zn, MK_TICKET_MAX_DATA);
    }
    rc = mk_buf_append(out, z, zn);
    free(z);
    if (rc < 0) return mk_error_set(err, rc, "%s: output buffer full", label);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

static int expect_key(const mk_tee_ticket_format *f, mk_reader *r, uint64_t key, const char *name,
                      mk_error *err) {
    mk_cbor_item it;
    MK_TRY(mk_cbor_next(r, &it, f->label, name, err));
    if (it.kind != MK_CBOR_UINT || it.u != key)
        return mk_error_set(err, MK_EMALFORMED, "%s: expected key %llu (%s)%s", f->label,
                            (unsigned long long)key, name,
                            it.kind == MK_CBOR_UINT ? " in canonical order" : "");
    return 0;
}

/* A 32-byte id; any other length is malformed (not "too big"). */
static int read_id(const mk_tee_ticket_format *f, mk_reader *r, const char *name, mk_id *out,
                   mk_error *err) {
    const uint8_t *p;
    size_t n;
    MK_TRY(mk_cbor_expect_bstr(r, f->label, name, 0, SIZE_MAX, &p, &n, err));
    if (n != sizeof out->b)
        return mk_error_set(err, MK_EMALFORMED, "%s: %s has %zu bytes, want %zu", f->label, name, n,
                            sizeof out->b);
    memcpy(out->b, p, sizeof out->b);
    return 0;
}

/* Times are UTC seconds in [0, MK_TEE_TIME_MAX] (year 9999), and the
 * expiration is not before quoted_at (or is MK_EXPIRES_NEVER). Every later
 * subtraction of two ticket times, or of a ticket time from a sane `now`,
 * then stays far inside int64. */
static int check_time(const mk_tee_ticket_format *f, int64_t v, const char *name, mk_error *err) {
    if (v < 0 || v > MK_TEE_TIME_MAX)
        return mk_error_set(err, MK_EMALFORMED, "%s: %s %lld out of range (0..%lld, year 9999)",
                            f->label, name, (long long)v, (long long)MK_TEE_TIME_MAX);
    return 0;
}

static int read_extra(const mk_tee_ticket_format *f, mk_reader *r, mk_tee_extra_data *x,
                      mk_error *err) {
    memset(x, 0, sizeof *x);
    MK_TRY(expect_key(f, r, K_PEER, "peer id", err));
    MK_TRY(read_id(f, r, "peer id", &x->peer_id, err));
    MK_TRY(expect_key(f, r, K_NETWORK, "network id", err));
    MK_TRY(read_id(f, r, "network id", &x->network_id, err));
    MK_TRY(expect_key(f, r, K_STARTED, "started_at", err));
    MK_TRY(mk_cbor_expect_int(r, f->label, "started_at", &x->started_at, err));
    MK_TRY(expect_key(f, r, K_QUOTED, "quoted_at", err));
    MK_TRY(mk_cbor_expect_int(r, f->label, "quoted_at", &x->quoted_at, err));
    MK_TRY(expect_key(f, r, K_EXPIRES, "expiration", err));
    MK_TRY(mk_cbor_expect_int(r, f->label, "expiration", &x->expiration, err));
    MK_TRY(check_time(f, x->started_at, "started_at", err));
    MK_TRY(check_time(f, x->quoted_at, "quoted_at", err));
    if (x->expiration == MK_EXPIRES_NEVER) return 0;
    MK_TRY(check_time(f, x->expiration, "expiration", err));
    if (x->expiration < x->quoted_at)
        return mk_error_set(err, MK_EMALFORMED, "%s: expires before it was quoted", f->label);
    return 0;
}

/* The map header, then the version first, so a future format gets a clear
 * reason. *has_end: the map has the endorsements entry. */
static int read_head(const mk_tee_ticket_format *f, mk_reader *r, bool *has_end, mk_error *err) {
    mk_cbor_item m;
    MK_TRY(mk_cbor_next(r, &m, f->label, "the ticket map", err));
    if (m.kind != MK_CBOR_MAP)
        return mk_error_set(err, MK_EMALFORMED, "%s: not a CBOR map (%s)", f->label,
                            mk_cbor_kind_name(&m));
    if (m.u != 7 && m.u != 8)
        return mk_error_set(err, MK_EMALFORMED, "%s: map has %llu entries, want 7 or 8", f->label,
                            (unsigned long long)m.u);
    *has_end = m.u == 8;
    int64_t version = 0;
    MK_TRY(expect_key(f, r, K_VERSION, "version", err));
    MK_TRY(mk_cbor_expect_int(r, f->label, "version", &version, err));
    if (version < 0 || (uint64_t)version != f->version)
        return mk_error_set(err, MK_EUNSUPPORTED, "%s: unsupported version %lld", f->label,
                            (long long)version);
    return 0;
}

int mk_tee_ticket_decode_cbor(const mk_tee_ticket_format *f, const uint8_t *data, size_t len,
                              mk_tee_ticket *t, mk_error *err) {
    memset(t, 0, sizeof *t);
    if (!f) return mk_error_set(err, MK_EINVAL, "ticket: no format");
    if (!data && len) return mk_error_set(err, MK_EINVAL, "%s: no data", f->label);
    if (len > MK_TEE_TICKET_MAX_DECOMPRESSED)
        return mk_error_set(err, MK_ETOOBIG, "%s: %zu bytes exceed the cap of %d", f->label, len,
                            MK_TEE_TICKET_MAX_DECOMPRESSED);
    mk_reader r;
    mk_reader_init(&r, data, len);
    bool has_end = false;
    MK_TRY(read_head(f, &r, &has_end, err));
    mk_tee_extra_data x;
    MK_TRY(read_extra(f, &r, &x, err));
    const uint8_t *ev, *end = NULL;
    size_t ev_len, end_len = 0;
    MK_TRY(expect_key(f, &r, K_EVIDENCE, f->evidence_name, err));
    MK_TRY(
        mk_cbor_expect_bstr(&r, f->label, f->evidence_name, 1, f->evidence_max, &ev, &ev_len, err));
    if (has_end) {
        MK_TRY(expect_key(f, &r, K_ENDORSEMENTS, f->endorsements_name, err));
        MK_TRY(mk_cbor_expect_bstr(&r, f->label, f->endorsements_name, 1, f->endorsements_max, &end,
                                   &end_len, err));
        if (f->endorsements_text && memchr(end, 0, end_len))
            return mk_error_set(err, MK_EMALFORMED, "%s: %s contains a NUL byte", f->label,
                                f->endorsements_name);
    }
    if (!mk_reader_done(&r))
        return mk_error_set(err, MK_EMALFORMED, "%s: %zu trailing bytes after the map", f->label,
                            mk_reader_remaining(&r));
    MK_TRY(mk_tee_ticket_init(f, t, &x, ev, ev_len, end, end_len, err));

    /* Canonical form: re-encoding must give the input back. */
    mk_buf again;
    mk_buf_init(&again, MK_TEE_TICKET_MAX_DECOMPRESSED);
    int rc = encode_cbor(t, &again);
    bool same = rc == 0 && again.len == len && memcmp(again.data, data, len) == 0;
    mk_buf_free(&again);
    if (!same) {
        mk_tee_ticket_free(t);
        return mk_error_set(err, MK_EMALFORMED,
                            "%s: CBOR is not in canonical form (non-minimal integer or length)",
                            f->label);
    }
    return 0;
}

int mk_tee_ticket_decode(const mk_tee_ticket_format *f, const uint8_t *data, size_t len,
                         mk_tee_ticket *t, mk_error *err) {
    memset(t, 0, sizeof *t);
    if (!f) return mk_error_set(err, MK_EINVAL, "ticket: no format");
    if (len > MK_TICKET_MAX_DATA)
        return mk_error_set(err, MK_ETOOBIG, "%s: %zu bytes exceed the cap of %d", f->label, len,
                            MK_TICKET_MAX_DATA);
    mk_buf cb;
    mk_buf_init(&cb, MK_TEE_TICKET_MAX_DECOMPRESSED);
    int rc = mk_tee_zstd_decompress_capped(data, len, MK_TEE_TICKET_MAX_DECOMPRESSED, &cb, err);
    if (rc < 0) {
        mk_buf_free(&cb);
        return mk_error_prefix(err, rc, "%s", f->label);
    }
    rc = mk_tee_ticket_decode_cbor(f, cb.data, cb.len, t, err);
    mk_buf_free(&cb);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Generic tickets                                                     */
/* ------------------------------------------------------------------ */

void mk_tee_ticket_class(const mk_tee_ticket_format *f, mk_id *out) {
    mk_id_from_name(out, f->class_name);
}

int mk_tee_ticket_to_generic(const mk_tee_ticket *t, mk_ticket *out, mk_error *err) {
    memset(out, 0, sizeof *out);
    if (!t || !t->format) return mk_error_set(err, MK_EINVAL, "ticket: no format");
    mk_buf b;
    mk_buf_init(&b, MK_TICKET_MAX_DATA);
    int rc = mk_tee_ticket_encode(t, &b, err);
    if (rc == 0) {
        mk_id cls;
        mk_tee_ticket_class(t->format, &cls);
        rc = mk_ticket_init(out, &cls, b.data, b.len);
        if (rc < 0) mk_error_set(err, rc, "%s: cannot make a generic ticket", t->format->label);
    }
    mk_buf_free(&b);
    return rc;
}

int mk_tee_ticket_from_generic(const mk_tee_ticket_format *f, const mk_ticket *in, mk_tee_ticket *t,
                               mk_error *err) {
    memset(t, 0, sizeof *t);
    mk_id cls;
    mk_tee_ticket_class(f, &cls);
    if (!mk_id_eq(&cls, &in->class_id)) {
        char got[9];
        mk_id_short(&in->class_id, got);
        return mk_error_set(err, MK_EMISMATCH, "ticket of class %s is not a %s", got, f->label);
    }
    return mk_tee_ticket_decode(f, in->data, in->len, t, err);
}
