/*
 * core/cbor.h — a pull reader over libcbor's streaming decoder and
 * canonical CBOR head writers (core/cbor.c). Internal to the library (not
 * installed), shared by every layer above core.
 *
 * Used by the formats that must have exactly one encoding (discovery
 * entries and messages, TDX tickets): readers pull one item at a time with
 * an mk_reader as cursor and never allocate from a length read off the
 * wire; writers append shortest heads with definite lengths to an mk_buf.
 * Key order, caps and the meaning of each field belong to the callers.
 */
#ifndef MOSAIK_CORE_CBOR_H
#define MOSAIK_CORE_CBOR_H

#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/error.h"

typedef enum mk_cbor_kind {
    MK_CBOR_NONE = 0,
    MK_CBOR_UINT,
    MK_CBOR_NEGINT,
    MK_CBOR_BSTR, /* definite, whole: data/len view into the input */
    MK_CBOR_TSTR, /* definite, whole */
    MK_CBOR_ARRAY,
    MK_CBOR_MAP,
    MK_CBOR_OTHER /* anything else: `other` names it */
} mk_cbor_kind;

typedef struct mk_cbor_item {
    mk_cbor_kind kind;
    uint64_t u; /* UINT value, NEGINT's encoded n, ARRAY/MAP count */
    const uint8_t *data;
    size_t len;
    const char *other;
} mk_cbor_item;

/* Next item (a head, or a whole definite string). `what` names it in errors
 * ("<ctx>: truncated in <what>"). Never allocates. */
int mk_cbor_next(mk_reader *r, mk_cbor_item *it, const char *ctx, const char *what, mk_error *err);
/* What an item is, for error messages ("byte string", "indefinite map"...). */
const char *mk_cbor_kind_name(const mk_cbor_item *it);
int mk_cbor_expect_uint(mk_reader *r, const char *ctx, const char *what, uint64_t *out,
                        mk_error *err);
int mk_cbor_expect_key(mk_reader *r, uint64_t key, const char *ctx, const char *what,
                       mk_error *err);
int mk_cbor_expect_int(mk_reader *r, const char *ctx, const char *what, int64_t *out,
                       mk_error *err);
/* A definite byte string of min..max bytes (over max: MK_ETOOBIG; under
 * min: MK_EMALFORMED), as a view into the input. */
int mk_cbor_expect_bstr(mk_reader *r, const char *ctx, const char *what, size_t min, size_t max,
                        const uint8_t **data, size_t *len, mk_error *err);
int mk_cbor_expect_array(mk_reader *r, const char *ctx, const char *what, size_t max, size_t *n,
                         mk_error *err);

/* Canonical writers (shortest heads, definite lengths). Return 0,
 * MK_ETOOBIG when the buffer's cap is reached. */
int mk_cbor_put_uint(mk_buf *b, uint64_t v);
int mk_cbor_put_int(mk_buf *b, int64_t v);
int mk_cbor_put_bstr(mk_buf *b, const void *data, size_t len);
int mk_cbor_put_tstr(mk_buf *b, const char *s, size_t len);
int mk_cbor_put_array(mk_buf *b, size_t n);
int mk_cbor_put_map(mk_buf *b, size_t n);

#endif
