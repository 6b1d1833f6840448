/*
 * core/cbor.c — a pull reader over libcbor's streaming decoder, and
 * canonical head writers, for the formats that must have one encoding
 * (discovery entries and messages, TDX tickets).
 *
 * Reading. cbor_stream_decode decodes exactly one data item head (or a
 * whole definite-length string) from a buffer and reports it through
 * callbacks; ours only record what they saw into an mk_cbor_item. The
 * cursor is an mk_reader: we peek at what remains, let libcbor decode, and
 * then advance the reader by the number of bytes libcbor consumed (which
 * it never reports beyond the buffer). Definite strings are returned as
 * views into the input, so nothing is ever allocated from a length read
 * off the wire. Indefinite items, tags, floats, simple values come back as
 * MK_CBOR_OTHER with a name, and callers refuse them.
 *
 * Writing. libcbor's cbor_encode_* functions write the shortest head for a
 * value with definite lengths; we append them into an mk_buf (which has its
 * own hard cap). Canonical form = these heads + fixed key orders chosen by
 * the callers.
 */
#include <string.h>

#include <cbor.h>

#include "core/cbor.h"

/* Integers and container heads: record the kind and the number. */
static void set_num(void *c, mk_cbor_kind kind, uint64_t v) {
    mk_cbor_item *it = c;
    it->kind = kind, it->u = v;
}
#define NUM_CB(name, type, kind)                                                                   \
    static void name(void *c, type v) {                                                            \
        set_num(c, kind, v);                                                                       \
    }
NUM_CB(cb_u8, uint8_t, MK_CBOR_UINT)
NUM_CB(cb_u16, uint16_t, MK_CBOR_UINT)
NUM_CB(cb_u32, uint32_t, MK_CBOR_UINT)
NUM_CB(cb_u64, uint64_t, MK_CBOR_UINT)
NUM_CB(cb_n8, uint8_t, MK_CBOR_NEGINT)
NUM_CB(cb_n16, uint16_t, MK_CBOR_NEGINT)
NUM_CB(cb_n32, uint32_t, MK_CBOR_NEGINT)
NUM_CB(cb_n64, uint64_t, MK_CBOR_NEGINT)
NUM_CB(cb_array, size_t, MK_CBOR_ARRAY)
NUM_CB(cb_map, size_t, MK_CBOR_MAP)
/* Definite strings, whole: a view into the input. */
static void set_str(void *c, mk_cbor_kind kind, cbor_data d, size_t n) {
    mk_cbor_item *it = c;
    it->kind = kind, it->data = d, it->len = n;
}
static void cb_bstr(void *c, cbor_data d, size_t n) {
    set_str(c, MK_CBOR_BSTR, d, n);
}
static void cb_tstr(void *c, cbor_data d, size_t n) {
    set_str(c, MK_CBOR_TSTR, d, n);
}

/* Everything else: only named, so callers can say what they refused. */
static void set_other(void *c, const char *label) {
    mk_cbor_item *it = c;
    it->kind = MK_CBOR_OTHER, it->other = label;
}
#define OTHER_CB(name, label)                                                                      \
    static void name(void *c) {                                                                    \
        set_other(c, label);                                                                       \
    }
#define OTHER_ARG_CB(name, type, label)                                                            \
    static void name(void *c, type v) {                                                            \
        (void)v;                                                                                   \
        set_other(c, label);                                                                       \
    }
OTHER_CB(cb_o_bstr_start, "indefinite byte string")
OTHER_CB(cb_o_str_start, "indefinite text string")
OTHER_CB(cb_o_indef_array, "indefinite array")
OTHER_CB(cb_o_indef_map, "indefinite map")
OTHER_CB(cb_o_null, "null")
OTHER_CB(cb_o_undef, "undefined")
OTHER_CB(cb_o_break, "break")
OTHER_ARG_CB(cb_o_tag, uint64_t, "tag")
OTHER_ARG_CB(cb_o_f4, float, "float")
OTHER_ARG_CB(cb_o_f8, double, "float")
OTHER_ARG_CB(cb_o_bool, bool, "boolean")

static const struct cbor_callbacks callbacks = {
    .uint8 = cb_u8,
    .uint16 = cb_u16,
    .uint32 = cb_u32,
    .uint64 = cb_u64,
    .negint8 = cb_n8,
    .negint16 = cb_n16,
    .negint32 = cb_n32,
    .negint64 = cb_n64,
    .byte_string_start = cb_o_bstr_start,
    .byte_string = cb_bstr,
    .string = cb_tstr,
    .string_start = cb_o_str_start,
    .indef_array_start = cb_o_indef_array,
    .array_start = cb_array,
    .indef_map_start = cb_o_indef_map,
    .map_start = cb_map,
    .tag = cb_o_tag,
    .float2 = cb_o_f4,
    .float4 = cb_o_f4,
    .float8 = cb_o_f8,
    .undefined = cb_o_undef,
    .null = cb_o_null,
    .boolean = cb_o_bool,
    .indef_break = cb_o_break,
};

int mk_cbor_next(mk_reader *r, mk_cbor_item *it, const char *ctx, const char *what, mk_error *err) {
    const uint8_t *p = NULL;
    size_t rem = mk_reader_remaining(r);
    memset(it, 0, sizeof *it);
    if (rem == 0) return mk_error_set(err, MK_ETRUNC, "%s: truncated before %s", ctx, what);
    if (mk_reader_peek(r, rem, &p) < 0) return mk_error_set(err, MK_ETRUNC, "%s: read", ctx);
    struct cbor_decoder_result res = cbor_stream_decode(p, rem, &callbacks, it);
    if (res.status == CBOR_DECODER_NEDATA)
        return mk_error_set(err, MK_ETRUNC, "%s: truncated in %s", ctx, what);
    if (res.status != CBOR_DECODER_FINISHED || res.read == 0 || it->kind == MK_CBOR_NONE)
        return mk_error_set(err, MK_EMALFORMED, "%s: malformed CBOR at %s", ctx, what);
    if (mk_read_skip(r, res.read) < 0)
        return mk_error_set(err, MK_ETRUNC, "%s: truncated in %s", ctx, what);
    return 0;
}

const char *mk_cbor_kind_name(const mk_cbor_item *it) {
    switch (it->kind) {
    case MK_CBOR_UINT:
        return "unsigned integer";
    case MK_CBOR_NEGINT:
        return "negative integer";
    case MK_CBOR_BSTR:
        return "byte string";
    case MK_CBOR_TSTR:
        return "text string";
    case MK_CBOR_ARRAY:
        return "array";
    case MK_CBOR_MAP:
        return "map";
    case MK_CBOR_OTHER:
        return it->other;
    default:
        return "nothing";
    }
}

/* Next item, which must be of kind `kind` (`want` names it in errors). */
static int next_of_kind(mk_reader *r, mk_cbor_kind kind, const char *want, mk_cbor_item *it,
                        const char *ctx, const char *what, mk_error *err) {
    MK_TRY(mk_cbor_next(r, it, ctx, what, err));
    if (it->kind != kind)
        return mk_error_set(err, MK_EMALFORMED, "%s: %s is a %s, want %s", ctx, what,
                            mk_cbor_kind_name(it), want);
    return 0;
}

int mk_cbor_expect_uint(mk_reader *r, const char *ctx, const char *what, uint64_t *out,
                        mk_error *err) {
    mk_cbor_item it;
    MK_TRY(next_of_kind(r, MK_CBOR_UINT, "an unsigned integer", &it, ctx, what, err));
    *out = it.u;
    return 0;
}

int mk_cbor_expect_key(mk_reader *r, uint64_t key, const char *ctx, const char *what,
                       mk_error *err) {
    mk_cbor_item it;
    MK_TRY(mk_cbor_next(r, &it, ctx, what, err));
    if (it.kind != MK_CBOR_UINT || it.u != key)
        return mk_error_set(err, MK_EMALFORMED, "%s: expected key %llu (%s)", ctx,
                            (unsigned long long)key, what);
    return 0;
}

int mk_cbor_expect_int(mk_reader *r, const char *ctx, const char *what, int64_t *out,
                       mk_error *err) {
    mk_cbor_item it;
    MK_TRY(mk_cbor_next(r, &it, ctx, what, err));
    if ((it.kind != MK_CBOR_UINT && it.kind != MK_CBOR_NEGINT))
        return mk_error_set(err, MK_EMALFORMED, "%s: %s is a %s, want an integer", ctx, what,
                            mk_cbor_kind_name(&it));
    if (it.u > (uint64_t)INT64_MAX)
        return mk_error_set(err, MK_EMALFORMED, "%s: %s out of range", ctx, what);
    *out = it.kind == MK_CBOR_UINT ? (int64_t)it.u : -1 - (int64_t)it.u;
    return 0;
}

int mk_cbor_expect_bstr(mk_reader *r, const char *ctx, const char *what, size_t min, size_t max,
                        const uint8_t **data, size_t *len, mk_error *err) {
    mk_cbor_item it;
    MK_TRY(next_of_kind(r, MK_CBOR_BSTR, "a byte string", &it, ctx, what, err));
    if (it.len > max)
        return mk_error_set(err, MK_ETOOBIG, "%s: %s has %zu bytes, cap %zu", ctx, what, it.len,
                            max);
    if (it.len < min)
        return mk_error_set(err, MK_EMALFORMED, "%s: %s has %zu bytes, want at least %zu", ctx,
                            what, it.len, min);
    *data = it.data;
    *len = it.len;
    return 0;
}

int mk_cbor_expect_array(mk_reader *r, const char *ctx, const char *what, size_t max, size_t *n,
                         mk_error *err) {
    mk_cbor_item it;
    MK_TRY(next_of_kind(r, MK_CBOR_ARRAY, "an array", &it, ctx, what, err));
    if (it.u > max)
        return mk_error_set(err, MK_ETOOBIG, "%s: %s has %llu items, cap %zu", ctx, what,
                            (unsigned long long)it.u, max);
    *n = (size_t)it.u;
    return 0;
}

/* Append one head written by a libcbor encoder (at most 9 bytes). */
#define PUT_HEAD(b, call)                                                                          \
    do {                                                                                           \
        uint8_t *h_ = mk_buf_extend((b), 9);                                                       \
        if (!h_) return MK_ETOOBIG;                                                                \
        size_t n_ = call;                                                                          \
        if (n_ == 0) return MK_EINVAL;                                                             \
        (b)->len -= 9 - n_;                                                                        \
    } while (0)

int mk_cbor_put_uint(mk_buf *b, uint64_t v) {
    PUT_HEAD(b, cbor_encode_uint(v, h_, 9));
    return 0;
}

int mk_cbor_put_int(mk_buf *b, int64_t v) {
    if (v >= 0) return mk_cbor_put_uint(b, (uint64_t)v);
    uint64_t n = (uint64_t)(-(v + 1)); /* CBOR negative integers carry -1 - v */
    PUT_HEAD(b, cbor_encode_negint(n, h_, 9));
    return 0;
}

int mk_cbor_put_bstr(mk_buf *b, const void *data, size_t len) {
    PUT_HEAD(b, cbor_encode_bytestring_start(len, h_, 9));
    return len ? mk_buf_append(b, data, len) : 0;
}

int mk_cbor_put_tstr(mk_buf *b, const char *s, size_t len) {
    PUT_HEAD(b, cbor_encode_string_start(len, h_, 9));
    return len ? mk_buf_append(b, s, len) : 0;
}

int mk_cbor_put_array(mk_buf *b, size_t n) {
    PUT_HEAD(b, cbor_encode_array_start(n, h_, 9));
    return 0;
}

int mk_cbor_put_map(mk_buf *b, size_t n) {
    PUT_HEAD(b, cbor_encode_map_start(n, h_, 9));
    return 0;
}
