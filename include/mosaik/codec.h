/*
 * mosaik/codec.h — datum codecs: how a typed value becomes bytes and back.
 *
 * A codec turns a value a program holds into the bytes a stream carries or
 * a collection stores, and untrusted bytes back into a value. A stream has
 * one (its declaration's or its configuration's, mosaik/streams.h); a
 * collection one for keys and one for values (mosaik/collections.h).
 *
 * Built-in codecs and the C types of their values (encode takes the first,
 * decode hands back the second, freed with mk_datum_free):
 *
 *   mk_codec_bytes   const mk_bytes *      mk_bytes *      any bytes
 *   mk_codec_string  const char *          char *          UTF-8 text
 *   mk_codec_cbor    const cbor_item_t *   cbor_item_t *   one CBOR data item (libcbor)
 *   mk_codec_json    const json_t *        json_t *        one JSON value (jansson)
 *
 * Decoding treats the bytes as hostile and refuses, with a reason naming
 * the codec and the byte offset, anything but exactly one well-formed
 * value:
 *   - string: valid UTF-8 (RFC 3629: no overlong forms, no surrogates,
 *     nothing above U+10FFFF) without NUL bytes (the value is a C string);
 *   - CBOR: one well-formed data item (RFC 8949) and nothing after it,
 *     text strings valid UTF-8, nesting at most MK_CODEC_MAX_DEPTH, at
 *     most MK_CODEC_MAX_ITEMS data items; checked by our own bounds-checked
 *     walk before libcbor builds anything, so a hostile length never makes
 *     it allocate. Tags 6–20 and simple values other than false, true,
 *     null and undefined are refused (MK_EUNSUPPORTED): libcbor cannot
 *     read back what it writes for them;
 *   - JSON: one value (any type at the top) and only whitespace after it,
 *     no duplicate object keys, valid UTF-8, the same depth and item caps
 *     (checked by a scan before jansson parses); "\u0000" is allowed
 *     (json_string_length tells the length).
 * Encoding refuses what decoding would refuse (invalid UTF-8 in a string)
 * and NULL values (MK_EINVAL). The size caps are the caller's: a stream's
 * datum is at most MK_STREAM_MAX_ITEM bytes, a collection's key and value
 * MK_COLL_MAX_KEY and MK_COLL_MAX_VALUE.
 *
 * Equal values, equal bytes: collections compare keys by their encoded
 * bytes. bytes, string and JSON (compact, object keys sorted) encode equal
 * values identically; CBOR encodes a map's pairs in the order the item
 * holds them, so build CBOR keys the same way on every node.
 *
 * Every function here is thread-safe; the codecs keep no state.
 */
#ifndef MOSAIK_CODEC_H
#define MOSAIK_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/error.h"
#include "mosaik/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caps of the CBOR and JSON decoders. */
#define MK_CODEC_MAX_DEPTH 64                /* nested arrays, maps, objects, tags */
#define MK_CODEC_MAX_ITEMS ((size_t)1 << 18) /* data items (values) of one datum */

/* How a datum is encoded. A codec's decode runs in the consumer's
 * receiving thread (mk_stream_recv) and in the caller's thread for
 * collections; encode in the caller's thread. */
typedef struct mk_datum_codec {
    const char *name;
    int (*encode)(const void *value, mk_buf *out, mk_error *err);
    /* Must treat data as untrusted (read it through mk_reader). */
    int (*decode)(const uint8_t *data, size_t len, void **value, mk_error *err);
    void (*free_value)(void *value);
} mk_datum_codec;

/* The value type of mk_codec_bytes, and a byte string wherever the API
 * takes several (mk_map_extend) or an optional one (NULL: none). */
typedef struct mk_bytes {
    const void *data;
    size_t len;
} mk_bytes;

MK_EXTERN extern const mk_datum_codec mk_codec_bytes;
MK_EXTERN extern const mk_datum_codec mk_codec_string;
MK_EXTERN extern const mk_datum_codec mk_codec_cbor;
MK_EXTERN extern const mk_datum_codec mk_codec_json;

/* Encode value with codec, appending to out (its cap applies: MK_ETOOBIG);
 * the reason names the codec. */
MK_EXTERN int mk_datum_encode(const mk_datum_codec *codec, const void *value, mk_buf *out,
                              mk_error *err);
/* Decode untrusted bytes into *value (NULL on failure): 0, MK_EMALFORMED,
 * MK_ETOOBIG (a cap), MK_EUNSUPPORTED (CBOR: see above), MK_ENOMEM. */
MK_EXTERN int mk_datum_decode(const mk_datum_codec *codec, const uint8_t *data, size_t len,
                              void **value, mk_error *err);
/* Free a value the codec decoded. NULL is fine. */
MK_EXTERN void mk_datum_free(const mk_datum_codec *codec, void *value);

#ifdef __cplusplus
}
#endif
#endif
