/*
 * streams/codec_internal.h — what the codec sources share (codec.c,
 * codec_cbor.c, codec_json.c) and the public API does not show.
 */
#ifndef MK_CODEC_INTERNAL_H
#define MK_CODEC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* The length of the longest valid UTF-8 prefix of s[0, n) (RFC 3629):
 * n when all of it is valid, else the offset of the first byte of the
 * first invalid or truncated sequence. */
size_t mk_codec_utf8_valid(const uint8_t *s, size_t n);

#endif
