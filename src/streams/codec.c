/*
 * streams/codec.c — the bytes and string codecs, UTF-8 validation, and the
 * mk_datum_* calls every codec goes through (mosaik/codec.h).
 *
 * bytes: the datum is the bytes. A decoded value is one allocation: the
 * mk_bytes header followed by a copy of the data, so free() frees both.
 *
 * string: a C string of valid UTF-8 without its terminator. Validation
 * walks the bytes once by the table of RFC 3629 §4: a lead byte fixes the
 * sequence length and the range of the first continuation byte (which is
 * what excludes overlong forms, the surrogates D800–DFFF and code points
 * above U+10FFFF); every further continuation byte is 80–BF. Decoding also
 * refuses NUL bytes, which a C string cannot hold, and copies into a fresh
 * NUL-terminated buffer. Encoding refuses what decoding would.
 *
 * mk_datum_encode / _decode check their arguments, run the codec and name
 * it in the reason of a failure; a failed decode leaves *value NULL.
 */
#include <stdlib.h>
#include <string.h>

#include "streams/codec_internal.h"
#include "mosaik/codec.h"

size_t mk_codec_utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint8_t lo = 0x80, hi = 0xBF; /* range of the first continuation byte */
        if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0; /* overlong below U+0800 */
            if (c == 0xED) hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90; /* overlong below U+10000 */
            if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
        } else
            return i; /* continuation byte as lead, C0, C1, F5–FF */
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
        i += len;
    }
    return n;
}

/* ----- bytes ------------------------------------------------------------------- */

static int bytes_encode(const void *value, mk_buf *out, mk_error *err) {
    const mk_bytes *b = value;
    if (b->len && !b->data) return mk_error_set(err, MK_EINVAL, "bytes: no data");
    int rc = mk_buf_append(out, b->data, b->len);
    return rc < 0 ? mk_error_set(err, rc, "bytes: %zu bytes do not fit", b->len) : 0;
}

static int bytes_decode(const uint8_t *data, size_t len, void **value, mk_error *err) {
    mk_bytes *b = malloc(sizeof *b + len + 1);
    if (!b) return mk_error_set(err, MK_ENOMEM, "out of memory");
    uint8_t *copy = (uint8_t *)(b + 1);
    if (len) memcpy(copy, data, len);
    copy[len] = 0; /* not part of the value; lets text be printed as is */
    b->data = copy;
    b->len = len;
    *value = b;
    return 0;
}

const mk_datum_codec mk_codec_bytes = {"bytes", bytes_encode, bytes_decode, free};

/* ----- string ------------------------------------------------------------------ */

/* Where s[0, n) stops being a valid string: n when it is one. */
static size_t string_check(const uint8_t *s, size_t n, const char **why) {
    size_t ok = mk_codec_utf8_valid(s, n);
    const uint8_t *nul = memchr(s, 0, ok);
    if (nul) {
        *why = "NUL byte";
        return (size_t)(nul - s);
    }
    *why = "invalid UTF-8";
    return ok;
}

static int string_encode(const void *value, mk_buf *out, mk_error *err) {
    const char *s = value;
    size_t n = strlen(s);
    const char *why;
    size_t at = string_check((const uint8_t *)s, n, &why);
    if (at < n) return mk_error_set(err, MK_EINVAL, "string: %s at byte %zu", why, at);
    int rc = mk_buf_append(out, s, n);
    return rc < 0 ? mk_error_set(err, rc, "string: %zu bytes do not fit", n) : 0;
}

static int string_decode(const uint8_t *data, size_t len, void **value, mk_error *err) {
    const char *why;
    size_t at = len ? string_check(data, len, &why) : 0;
    if (at < len) return mk_error_set(err, MK_EMALFORMED, "string: %s at byte %zu", why, at);
    char *s = malloc(len + 1);
    if (!s) return mk_error_set(err, MK_ENOMEM, "out of memory");
    if (len) memcpy(s, data, len);
    s[len] = 0;
    *value = s;
    return 0;
}

const mk_datum_codec mk_codec_string = {"string", string_encode, string_decode, free};

/* ----- the calls ------------------------------------------------------------------ */

static const char *name_of(const mk_datum_codec *codec) {
    return codec->name ? codec->name : "codec";
}

int mk_datum_encode(const mk_datum_codec *codec, const void *value, mk_buf *out, mk_error *err) {
    if (!codec || !codec->encode) return mk_error_set(err, MK_EINVAL, "no codec");
    if (!value) return mk_error_set(err, MK_EINVAL, "%s: no value", name_of(codec));
    size_t before = out->len;
    int rc = codec->encode(value, out, err);
    if (rc < 0) {
        out->len = before; /* nothing half-written stays */
        if (!err || !err->msg[0]) mk_error_set(err, rc, "%s: cannot encode", name_of(codec));
    }
    return rc;
}

int mk_datum_decode(const mk_datum_codec *codec, const uint8_t *data, size_t len, void **value,
                    mk_error *err) {
    *value = NULL;
    if (!codec || !codec->decode) return mk_error_set(err, MK_EINVAL, "no codec");
    if (len && !data) return mk_error_set(err, MK_EINVAL, "%s: no data", name_of(codec));
    int rc = codec->decode(data, len, value, err);
    if (rc < 0 && *value) {
        mk_datum_free(codec, *value);
        *value = NULL;
    }
    if (rc < 0 && (!err || !err->msg[0]))
        mk_error_set(err, rc, "%s: cannot decode", name_of(codec));
    return rc;
}

void mk_datum_free(const mk_datum_codec *codec, void *value) {
    if (value && codec && codec->free_value) codec->free_value(value);
}
