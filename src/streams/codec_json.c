/*
 * streams/codec_json.c — the JSON codec (mk_codec_json): one JSON value as
 * a jansson json_t.
 *
 * Decoding first checks that the text is UTF-8 (RFC 8259 §8.1), then
 * scans it once, outside string literals (a '"' opens one, a backslash
 * escapes the next byte, a '"' closes it), counting the nesting of '[' and
 * '{' against MK_CODEC_MAX_DEPTH and the values (each opening bracket,
 * each ',' and the first value) against MK_CODEC_MAX_ITEMS, so jansson
 * never builds more than the caps allow. The scan decides nothing else:
 * jansson then parses with JSON_DECODE_ANY (any value at the top),
 * JSON_REJECT_DUPLICATES and JSON_ALLOW_NUL ("\u0000" inside strings, so
 * every string jansson can hold round-trips), refuses lone surrogate
 * escapes and anything but whitespace after the value, and we report its
 * reason with the byte position.
 *
 * Encoding is compact with sorted object keys (JSON_COMPACT |
 * JSON_SORT_KEYS | JSON_ENCODE_ANY), so equal values have equal bytes,
 * and 17 significant digits for reals, so they round-trip exactly. The
 * output goes through the UTF-8 check and the scan too (a value built
 * with json_string_nocheck or nested too deep is refused, MK_EINVAL), so
 * what this codec encodes it also decodes.
 */
#include <string.h>

#include <jansson.h>

#include "streams/codec_internal.h"
#include "mosaik/codec.h"

/* The caps, before jansson sees the bytes. */
static int scan(const uint8_t *s, size_t n, mk_error *err) {
    size_t depth = 0, values = 1;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > MK_CODEC_MAX_DEPTH)
                return mk_error_set(err, MK_ETOOBIG, "json: nesting deeper than %d at byte %zu",
                                    MK_CODEC_MAX_DEPTH, i);
            values++;
        } else if (c == ']' || c == '}') {
            if (depth) depth--;
        } else if (c == ',') {
            values++;
        }
        if (values > MK_CODEC_MAX_ITEMS)
            return mk_error_set(err, MK_ETOOBIG, "json: more than %zu values",
                                (size_t)MK_CODEC_MAX_ITEMS);
    }
    return 0;
}

static int json_decode(const uint8_t *data, size_t len, void **value, mk_error *err) {
    size_t ok = mk_codec_utf8_valid(data, len);
    if (ok < len) return mk_error_set(err, MK_EMALFORMED, "json: invalid UTF-8 at byte %zu", ok);
    MK_TRY(scan(data, len, err));
    json_error_t je;
    json_t *j = json_loadb((const char *)data, len,
                           JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!j) return mk_error_set(err, MK_EMALFORMED, "json: %s at byte %d", je.text, je.position);
    *value = j;
    return 0;
}

static int json_encode(const void *value, mk_buf *out, mk_error *err) {
    const size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17);
    size_t n = json_dumpb(value, NULL, 0, flags);
    if (n == 0) return mk_error_set(err, MK_EINVAL, "json: jansson cannot encode the value");
    uint8_t *p = mk_buf_extend(out, n);
    if (!p) return mk_error_set(err, MK_ETOOBIG, "json: %zu bytes do not fit", n);
    int rc = 0;
    size_t ok;
    if (json_dumpb(value, (char *)p, n, flags) != n)
        rc = mk_error_set(err, MK_EINVAL, "json: the value changed while encoding");
    else if ((ok = mk_codec_utf8_valid(p, n)) < n)
        rc = mk_error_set(err, MK_EINVAL, "json: a string is not UTF-8 (byte %zu)", ok);
    else if (scan(p, n, err) < 0)
        rc = mk_error_prefix(err, MK_EINVAL, "json: the value would not decode");
    if (rc < 0) out->len -= n;
    return rc;
}

static void json_free_value(void *value) {
    json_decref(value);
}

const mk_datum_codec mk_codec_json = {"json", json_encode, json_decode, json_free_value};
