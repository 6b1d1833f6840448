/*
 * streams/codec_cbor.c — the CBOR codec (mk_codec_cbor): one data item as
 * a libcbor cbor_item_t.
 *
 * Decoding is two passes. The first is our own well-formedness walk over
 * an mk_reader (RFC 8949 §3 and Appendix C): an initial byte gives the
 * major type and the additional information (0–23 the argument itself,
 * 24–27 a 1/2/4/8-byte big-endian argument, 28–30 reserved: refused, 31
 * indefinite length, or "break" for major type 7). Strings must fit in
 * what remains (text strings must be valid UTF-8; the chunks of an
 * indefinite string are definite strings of its own major type); arrays
 * and maps announce a count that must not exceed the bytes left (every
 * item takes at least one), so the walk never trusts a length it has not
 * seen bytes for; tags wrap one item; a two-byte simple value below 32 and
 * a break outside an indefinite container are refused. So is, with
 * MK_EUNSUPPORTED, what libcbor (0.8) cannot read back: tags 6–20 (it
 * reads them only in forms longer than the one-byte form it writes) and
 * simple values other than false, true, null and undefined. Nesting is
 * capped at MK_CODEC_MAX_DEPTH (the recursion depth of the walk too) and
 * the data items at MK_CODEC_MAX_ITEMS; after the one item nothing may
 * follow.
 * Only then does libcbor's cbor_load build the item: it allocates from the
 * counts it reads, which the walk has bounded by the input size.
 *
 * Encoding serialises with cbor_serialize_alloc and runs the same walk over
 * the result, so what this codec encodes it also decodes (a user-built item
 * with invalid UTF-8, deeper nesting or an unsupported tag is refused
 * with MK_EINVAL).
 */
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "streams/codec_internal.h"
#include "mosaik/codec.h"

typedef struct walk {
    mk_reader r;
    size_t items;
    mk_error *err;
} walk;

static int bad(walk *w, int code, const char *what, size_t at) {
    return mk_error_set(w->err, code, "cbor: %s at byte %zu", what, at);
}

/* An initial byte and its argument. */
static int head(walk *w, uint8_t *mt, uint8_t *ai, uint64_t *arg) {
    size_t at = mk_reader_offset(&w->r);
    uint8_t ib;
    if (mk_read_u8(&w->r, &ib) < 0) return bad(w, MK_EMALFORMED, "truncated", at);
    *mt = ib >> 5, *ai = ib & 0x1F, *arg = *ai;
    int rc = 0;
    if (*ai == 24) {
        uint8_t v;
        rc = mk_read_u8(&w->r, &v), *arg = v;
    } else if (*ai == 25) {
        uint16_t v;
        rc = mk_read_u16be(&w->r, &v), *arg = v;
    } else if (*ai == 26) {
        uint32_t v;
        rc = mk_read_u32be(&w->r, &v), *arg = v;
    } else if (*ai == 27) {
        rc = mk_read_u64be(&w->r, arg);
    } else if (*ai >= 28 && *ai <= 30) {
        return bad(w, MK_EMALFORMED, "reserved additional information", at);
    }
    return rc < 0 ? bad(w, MK_EMALFORMED, "truncated argument", at) : 0;
}

/* A definite string of major type mt (2 bytes, 3 text) with n bytes. */
static int string_body(walk *w, uint8_t mt, uint64_t n, size_t at) {
    const uint8_t *p;
    size_t start = mk_reader_offset(&w->r);
    if (n > mk_reader_remaining(&w->r) || mk_read_view(&w->r, (size_t)n, &p) < 0)
        return bad(w, MK_EMALFORMED, "string longer than the input", at);
    if (mt == 3) {
        size_t ok = mk_codec_utf8_valid(p, (size_t)n);
        if (ok < n) return bad(w, MK_EMALFORMED, "invalid UTF-8 in a text string", start + ok);
    }
    return 0;
}

static bool at_break(walk *w) {
    const uint8_t *p;
    if (mk_reader_peek(&w->r, 1, &p) < 0 || *p != 0xFF) return false;
    (void)mk_read_skip(&w->r, 1);
    return true;
}

static int item(walk *w, unsigned depth);

/* The chunks of an indefinite string, up to its break. */
static int chunks(walk *w, uint8_t mt) {
    for (;;) {
        size_t at = mk_reader_offset(&w->r);
        if (mk_reader_remaining(&w->r) == 0) return bad(w, MK_EMALFORMED, "truncated", at);
        if (at_break(w)) return 0;
        if (++w->items > MK_CODEC_MAX_ITEMS)
            return mk_error_set(w->err, MK_ETOOBIG, "cbor: more than %zu data items",
                                (size_t)MK_CODEC_MAX_ITEMS);
        uint8_t cmt, cai;
        uint64_t n;
        MK_TRY(head(w, &cmt, &cai, &n));
        if (cmt != mt || cai == 31)
            return bad(w, MK_EMALFORMED, "indefinite string chunk of another kind", at);
        MK_TRY(string_body(w, mt, n, at));
    }
}

/* The items of an array (per 1) or a map (per 2): count of them, or up to
 * a break when indefinite. */
static int members(walk *w, unsigned depth, bool indefinite, uint64_t count, unsigned per,
                   size_t at) {
    if (depth + 1 > MK_CODEC_MAX_DEPTH)
        return mk_error_set(w->err, MK_ETOOBIG, "cbor: nesting deeper than %d at byte %zu",
                            MK_CODEC_MAX_DEPTH, at);
    if (!indefinite) {
        if (count > mk_reader_remaining(&w->r) / per)
            return bad(w, MK_EMALFORMED, "more items announced than bytes left", at);
        for (uint64_t i = 0; i < count * per; i++)
            MK_TRY(item(w, depth + 1));
        return 0;
    }
    for (;;) {
        if (mk_reader_remaining(&w->r) == 0)
            return bad(w, MK_EMALFORMED, "truncated", mk_reader_offset(&w->r));
        if (at_break(w)) return 0;
        for (unsigned k = 0; k < per; k++)
            MK_TRY(item(w, depth + 1));
    }
}

static int item(walk *w, unsigned depth) {
    size_t at = mk_reader_offset(&w->r);
    if (++w->items > MK_CODEC_MAX_ITEMS)
        return mk_error_set(w->err, MK_ETOOBIG, "cbor: more than %zu data items",
                            (size_t)MK_CODEC_MAX_ITEMS);
    uint8_t mt, ai;
    uint64_t arg;
    MK_TRY(head(w, &mt, &ai, &arg));
    switch (mt) {
    case 0: /* unsigned, negative integer */
    case 1:
        return ai == 31 ? bad(w, MK_EMALFORMED, "indefinite integer", at) : 0;
    case 2: /* byte, text string */
    case 3:
        return ai == 31 ? chunks(w, mt) : string_body(w, mt, arg, at);
    case 4:
        return members(w, depth, ai == 31, arg, 1, at);
    case 5:
        return members(w, depth, ai == 31, arg, 2, at);
    case 6:
        if (ai == 31) return bad(w, MK_EMALFORMED, "indefinite tag", at);
        if (arg >= 6 && arg <= 20) return bad(w, MK_EUNSUPPORTED, "tag 6-20 (unsupported)", at);
        if (depth + 1 > MK_CODEC_MAX_DEPTH)
            return mk_error_set(w->err, MK_ETOOBIG, "cbor: nesting deeper than %d at byte %zu",
                                MK_CODEC_MAX_DEPTH, at);
        return item(w, depth + 1);
    default: /* 7: simple values, floats, break */
        if (ai == 31) return bad(w, MK_EMALFORMED, "break outside an indefinite item", at);
        if (ai == 24 && arg < 32)
            return bad(w, MK_EMALFORMED, "two-byte simple value below 32", at);
        if (ai < 20 || ai == 24) return bad(w, MK_EUNSUPPORTED, "unassigned simple value", at);
        return 0;
    }
}

/* Exactly one well-formed item in data[0, len). */
static int well_formed(const uint8_t *data, size_t len, mk_error *err) {
    walk w = {.err = err};
    mk_reader_init(&w.r, data, len);
    if (len == 0) return mk_error_set(err, MK_EMALFORMED, "cbor: empty input");
    MK_TRY(item(&w, 0));
    if (!mk_reader_done(&w.r))
        return mk_error_set(err, MK_EMALFORMED, "cbor: %zu bytes after the data item",
                            mk_reader_remaining(&w.r));
    return 0;
}

static int cbor_decode(const uint8_t *data, size_t len, void **value, mk_error *err) {
    MK_TRY(well_formed(data, len, err));
    struct cbor_load_result res;
    cbor_item_t *it = cbor_load(data, len, &res);
    if (!it)
        return res.error.code == CBOR_ERR_MEMERROR
                   ? mk_error_set(err, MK_ENOMEM, "out of memory")
                   : mk_error_set(err, MK_EMALFORMED, "cbor: refused by libcbor at byte %zu",
                                  res.error.position);
    if (res.read != len) {
        cbor_decref(&it);
        return mk_error_set(err, MK_EMALFORMED, "cbor: libcbor read %zu of %zu bytes", res.read,
                            len);
    }
    *value = it;
    return 0;
}

static int cbor_encode(const void *value, mk_buf *out, mk_error *err) {
    unsigned char *buf = NULL;
    size_t cap = 0;
    size_t n = cbor_serialize_alloc(value, &buf, &cap);
    if (n == 0) {
        free(buf);
        return mk_error_set(err, MK_EINVAL, "cbor: libcbor cannot serialise the item");
    }
    int rc = well_formed(buf, n, err);
    if (rc < 0) {
        mk_error_prefix(err, MK_EINVAL, "cbor: the item would not decode");
        rc = MK_EINVAL;
    } else if ((rc = mk_buf_append(out, buf, n)) < 0) {
        mk_error_set(err, rc, "cbor: %zu bytes do not fit", n);
    }
    free(buf);
    return rc;
}

static void cbor_free_value(void *value) {
    cbor_item_t *it = value;
    cbor_decref(&it);
}

const mk_datum_codec mk_codec_cbor = {"cbor", cbor_encode, cbor_decode, cbor_free_value};
