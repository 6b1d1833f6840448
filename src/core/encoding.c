/*
 * core/encoding.c — hex and base64.
 *
 * Base64 is OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock. EVP_DecodeBlock
 * accepts and ignores some whitespace and returns the length without
 * subtracting padding, so we validate the alphabet strictly first, then
 * subtract the padding ourselves. For base64url we translate '-' and '_',
 * re-add padding, decode, and require canonical trailing bits (re-encoding
 * must give the input back), so each byte string has exactly one encoding.
 */
#include "mosaik/encoding.h"

#include <string.h>

#include <openssl/evp.h>

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void mk_hex_encode(const void *data, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static void strip_0x(const char **s, size_t *slen) {
    if (*slen >= 2 && (*s)[0] == '0' && ((*s)[1] == 'x' || (*s)[1] == 'X')) {
        *s += 2;
        *slen -= 2;
    }
}

int mk_hex_decode(const char *s, size_t slen, mk_buf *out, mk_error *err) {
    strip_0x(&s, &slen);
    if (slen % 2) return mk_error_set(err, MK_EMALFORMED, "hex: odd number of digits");
    for (size_t i = 0; i < slen; i++)
        if (hexval(s[i]) < 0)
            return mk_error_set(err, MK_EMALFORMED, "hex: invalid character at %zu", i);
    uint8_t *p = mk_buf_extend(out, slen / 2);
    if (!p) return mk_error_set(err, MK_ETOOBIG, "hex: output too large");
    for (size_t i = 0; i < slen / 2; i++)
        p[i] = (uint8_t)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
    return 0;
}

int mk_hex_decode_exact(const char *s, void *dst, size_t n, mk_error *err) {
    size_t slen = strlen(s);
    strip_0x(&s, &slen);
    if (slen != 2 * n)
        return mk_error_set(err, MK_EMALFORMED, "hex: expected %zu digits, got %zu", 2 * n, slen);
    uint8_t *p = dst;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return mk_error_set(err, MK_EMALFORMED, "hex: invalid character at %zu", 2 * i);
        p[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int mk_base64_encode(const void *data, size_t n, mk_buf *out) {
    if (n > (size_t)1 << 30) return MK_ETOOBIG;
    size_t enc = 4 * ((n + 2) / 3);
    MK_TRY(mk_buf_reserve(out, enc + 1));
    int w = EVP_EncodeBlock(out->data + out->len, data, (int)n);
    if (w < 0) return MK_ECRYPTO;
    out->len += (size_t)w;
    out->data[out->len] = '\0';
    return 0;
}

static bool is_b64(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* Decode padded standard base64 that has already been checked for form. */
static int decode_std(const char *s, size_t slen, mk_buf *out, mk_error *err) {
    size_t pad = 0;
    if (slen >= 1 && s[slen - 1] == '=') pad++;
    if (slen >= 2 && s[slen - 2] == '=') pad++;
    if (slen > (size_t)1 << 30) return mk_error_set(err, MK_ETOOBIG, "base64: input too large");
    size_t n = slen / 4 * 3;
    MK_TRY(mk_buf_reserve(out, n + 1));
    int w = EVP_DecodeBlock(out->data + out->len, (const unsigned char *)s, (int)slen);
    if (w < 0 || (size_t)w != n) return mk_error_set(err, MK_EMALFORMED, "base64: invalid input");
    out->len += n - pad;
    return 0;
}

int mk_base64_decode(const char *s, size_t slen, mk_buf *out, mk_error *err) {
    if (slen % 4) return mk_error_set(err, MK_EMALFORMED, "base64: length not a multiple of 4");
    for (size_t i = 0; i < slen; i++) {
        if (is_b64(s[i])) continue;
        if (s[i] == '=' && (i == slen - 1 || (i == slen - 2 && s[slen - 1] == '='))) continue;
        return mk_error_set(err, MK_EMALFORMED, "base64: invalid character at %zu", i);
    }
    return decode_std(s, slen, out, err);
}

int mk_base64url_encode(const void *data, size_t n, mk_buf *out) {
    size_t start = out->len;
    MK_TRY(mk_base64_encode(data, n, out));
    while (out->len > start && out->data[out->len - 1] == '=') out->len--;
    for (size_t i = start; i < out->len; i++) {
        if (out->data[i] == '+') out->data[i] = '-';
        else if (out->data[i] == '/') out->data[i] = '_';
    }
    out->data[out->len] = '\0';
    return 0;
}

int mk_base64url_decode(const char *s, size_t slen, mk_buf *out, mk_error *err) {
    if (slen % 4 == 1) return mk_error_set(err, MK_EMALFORMED, "base64url: invalid length");
    if (slen > (size_t)1 << 30) return mk_error_set(err, MK_ETOOBIG, "base64url: too large");
    mk_buf tmp = MK_BUF_INIT;
    int rc = mk_buf_reserve(&tmp, slen + 4);
    if (rc < 0) return mk_error_set(err, rc, "base64url: out of memory");
    for (size_t i = 0; i < slen; i++) {
        char c = s[i];
        if (c == '-') c = '+';
        else if (c == '_') c = '/';
        else if (c == '+' || c == '/' || !is_b64(c)) {
            mk_buf_free(&tmp);
            return mk_error_set(err, MK_EMALFORMED, "base64url: invalid character at %zu", i);
        }
        tmp.data[tmp.len++] = (uint8_t)c;
    }
    while (tmp.len % 4) tmp.data[tmp.len++] = '=';
    size_t start = out->len;
    rc = decode_std((const char *)tmp.data, tmp.len, out, err);
    mk_buf_free(&tmp);
    if (rc < 0) return rc;
    /* Canonical form: re-encoding gives back exactly the input. */
    mk_buf chk = MK_BUF_INIT;
    rc = mk_base64url_encode(out->data + start, out->len - start, &chk);
    bool same = rc == 0 && chk.len == slen && memcmp(chk.data, s, slen) == 0;
    mk_buf_free(&chk);
    if (!same) {
        out->len = start;
        return mk_error_set(err, MK_EMALFORMED, "base64url: non-canonical encoding");
    }
    return 0;
}
