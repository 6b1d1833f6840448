/*
 * Fuzz target: the CBOR codec's decoder (mk_codec_cbor): our
 * well-formedness walk, then libcbor's cbor_load. What decodes must
 * encode, the encoding must decode again, and encoding is a fixed point
 * from there on (decode(encode(x)) encodes to the same bytes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    void *v = NULL, *v2 = NULL;
    if (mk_datum_decode(&mk_codec_cbor, data, size, &v, NULL) < 0) return 0;
    mk_buf a, b;
    mk_buf_init(&a, 0);
    mk_buf_init(&b, 0);
    if (mk_datum_encode(&mk_codec_cbor, v, &a, NULL) != 0) abort();
    if (mk_datum_decode(&mk_codec_cbor, a.data, a.len, &v2, NULL) != 0) abort();
    if (mk_datum_encode(&mk_codec_cbor, v2, &b, NULL) != 0) abort();
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) abort();
    mk_datum_free(&mk_codec_cbor, v);
    mk_datum_free(&mk_codec_cbor, v2);
    mk_buf_free(&a);
    mk_buf_free(&b);
    return 0;
}
