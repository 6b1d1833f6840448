/*
 * Fuzz target: the JSON codec's decoder (mk_codec_json): the UTF-8 check
 * and the depth and item scan, then jansson. What decodes must encode, the
 * encoding must decode to an equal value (json_equal) and encode to the
 * same bytes again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mosaik/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    void *v = NULL, *v2 = NULL;
    if (mk_datum_decode(&mk_codec_json, data, size, &v, NULL) < 0) return 0;
    mk_buf a, b;
    mk_buf_init(&a, 0);
    mk_buf_init(&b, 0);
    if (mk_datum_encode(&mk_codec_json, v, &a, NULL) != 0) abort();
    if (mk_datum_decode(&mk_codec_json, a.data, a.len, &v2, NULL) != 0) abort();
    if (!json_equal(v, v2)) abort();
    if (mk_datum_encode(&mk_codec_json, v2, &b, NULL) != 0) abort();
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) abort();
    mk_datum_free(&mk_codec_json, v);
    mk_datum_free(&mk_codec_json, v2);
    mk_buf_free(&a);
    mk_buf_free(&b);
    return 0;
}
