/*
 * mosaik/encoding.h — hex and base64 (standard and URL-safe).
 *
 * Base64 uses OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock; the URL-safe
 * form (RFC 4648 §5, unpadded, as JWTs use) is translated around them.
 * Decoders are strict: no whitespace, no stray characters, and (for
 * base64url) no padding and no non-zero trailing bits.
 */
#ifndef MOSAIK_ENCODING_H
#define MOSAIK_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "mosaik/bytes.h"
#include "mosaik/error.h"
#include "mosaik/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Lowercase hex; out must hold 2*n+1 bytes (NUL-terminated). */
MK_EXTERN void mk_hex_encode(const void *data, size_t n, char *out);
/* Decode hex (either case; an optional "0x" prefix is accepted). Appends to
 * out. Fails on odd length or non-hex characters. */
MK_EXTERN int mk_hex_decode(const char *s, size_t slen, mk_buf *out, mk_error *err);
/* Decode exactly n bytes of hex into dst. */
MK_EXTERN int mk_hex_decode_exact(const char *s, void *dst, size_t n, mk_error *err);

/* Standard base64 with padding. Appends a NUL-terminated string (len
 * excludes the NUL). */
MK_EXTERN int mk_base64_encode(const void *data, size_t n, mk_buf *out);
MK_EXTERN int mk_base64_decode(const char *s, size_t slen, mk_buf *out, mk_error *err);
/* Unpadded base64url (RFC 4648 §5). */
MK_EXTERN int mk_base64url_encode(const void *data, size_t n, mk_buf *out);
MK_EXTERN int mk_base64url_decode(const char *s, size_t slen, mk_buf *out, mk_error *err);

#ifdef __cplusplus
}
#endif
#endif
