/*
 * Fuzz target: the string codec's decoder (mk_codec_string). It accepts
 * exactly the inputs an independent, slow UTF-8 check accepts (each
 * sequence decoded to a code point, which must be in range, not a
 * surrogate, not overlong and not NUL), and a decoded string re-encodes
 * to exactly the input bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The oracle: decode every code point by its bit pattern. */
static bool valid_text(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len;
        uint8_t c = s[i];
        if (c < 0x80)
            cp = c, len = 1;
        else if ((c & 0xE0) == 0xC0)
            cp = c & 0x1F, len = 2;
        else if ((c & 0xF0) == 0xE0)
            cp = c & 0x0F, len = 3;
        else if ((c & 0xF8) == 0xF0)
            cp = c & 0x07, len = 4;
        else
            return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp == 0 || cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    void *v = NULL;
    int rc = mk_datum_decode(&mk_codec_string, data, size, &v, NULL);
    if ((rc == 0) != valid_text(data, size)) abort();
    if (rc < 0) return 0;
    mk_buf b;
    mk_buf_init(&b, 0);
    if (mk_datum_encode(&mk_codec_string, v, &b, NULL) != 0) abort();
    if (b.len != size || (size && memcmp(b.data, data, size) != 0)) abort();
    mk_buf_free(&b);
    mk_datum_free(&mk_codec_string, v);
    return 0;
}
