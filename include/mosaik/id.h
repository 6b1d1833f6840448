/*
 * mosaik/id.h — 32-byte identifiers.
 *
 * Network, stream, store, group ids, tags and ticket classes are all mk_id.
 * mk_id_from_name hashes a human-readable intent under a fixed domain;
 * mk_id_derive chains an id with more bytes. Both are SHA-256 over
 * length-prefixed, domain-separated inputs, so no two distinct input
 * sequences collide by concatenation. Peer ids are Ed25519 public keys and
 * use the same type.
 */
#ifndef MOSAIK_ID_H
#define MOSAIK_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mosaik/error.h"
#include "mosaik/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MK_ID_LEN 32
#define MK_ID_HEX_LEN 65

typedef struct mk_id {
    uint8_t b[MK_ID_LEN];
} mk_id;

MK_EXTERN void mk_id_from_name(mk_id *out, const char *name);
MK_EXTERN void mk_id_from_name_n(mk_id *out, const void *name, size_t len);
MK_EXTERN void mk_id_derive(mk_id *out, const mk_id *base, const void *data, size_t len);
MK_EXTERN int mk_id_random(mk_id *out);
MK_EXTERN void mk_id_to_hex(const mk_id *id, char out[MK_ID_HEX_LEN]);
/* Exactly 64 hex digits (optional 0x). */
MK_EXTERN int mk_id_from_hex(mk_id *out, const char *hex, mk_error *err);
/* 64 hex digits parse as an id; anything else is a name. */
MK_EXTERN void mk_id_parse(mk_id *out, const char *name_or_hex);
MK_EXTERN bool mk_id_eq(const mk_id *a, const mk_id *b);
MK_EXTERN bool mk_id_is_zero(const mk_id *id);
MK_EXTERN int mk_id_cmp(const mk_id *a, const mk_id *b);
/* Short form for logs: first 8 hex digits. out must hold 9 bytes. */
MK_EXTERN void mk_id_short(const mk_id *id, char out[9]);

#ifdef __cplusplus
}
#endif
#endif
