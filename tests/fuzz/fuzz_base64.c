/*
 * fuzz_base64 — the core decoders of untrusted text and bytes: hex, base64,
 * base64url (strict), and the mk_reader integer and length functions.
 *
 * Invariants checked (abort on violation):
 *  - a base64url string that decodes re-encodes to exactly itself
 *    (canonical: one encoding per byte string);
 *  - decoded hex has half the digits; a failed decode appends nothing;
 *  - the reader never moves past its end, and a failed read leaves the
 *    cursor where it was; a length read never exceeds its cap or what
 *    remains.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/mosaik.h"

static void check_decoders(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    mk_buf out;
    mk_buf_init(&out, 1 << 20);
    /* hex */
    if (mk_hex_decode(s, size, &out, NULL) == 0) {
        size_t digits = size;
        if (size >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) digits -= 2;
        if (out.len != digits / 2) abort();
    } else if (out.len != 0) {
        abort();
    }
    mk_buf_reset(&out);
    char *z = malloc(size + 1);
    if (!z) abort();
    memcpy(z, data, size);
    z[size] = 0;
    uint8_t id[32];
    (void)mk_hex_decode_exact(z, id, sizeof id, NULL);
    mk_id mid;
    (void)mk_id_from_hex(&mid, z, NULL);
    free(z);
    /* base64 */
    (void)mk_base64_decode(s, size, &out, NULL);
    mk_buf_reset(&out);
    /* base64url: canonical round trip */
    if (mk_base64url_decode(s, size, &out, NULL) == 0) {
        mk_buf enc;
        mk_buf_init(&enc, 0);
        if (mk_base64url_encode(out.data, out.len, &enc) != 0) abort();
        if (enc.len != size || (size && memcmp(enc.data, s, size) != 0)) abort();
        mk_buf_free(&enc);
    }
    mk_buf_free(&out);
}

/* Interpret the input as reader operations on itself. */
static void check_reader(const uint8_t *data, size_t size) {
    mk_reader r, prog;
    mk_reader_init(&r, data, size);
    mk_reader_init(&prog, data, size);
    uint8_t op;
    int steps = 0;
    while (mk_read_u8(&prog, &op) == 0 && steps++ < 256) {
        size_t before = mk_reader_offset(&r), rem = mk_reader_remaining(&r);
        uint8_t u8;
        uint16_t u16;
        uint32_t u32;
        uint64_t u64;
        size_t n = 0, cap = 0;
        const uint8_t *p;
        mk_reader sub;
        uint8_t arg = 0;
        (void)mk_read_u8(&prog, &arg);
        cap = (size_t)arg * 3;
        int rc;
        switch (op % 14) {
        case 0:
            rc = mk_read_u8(&r, &u8);
            break;
        case 1:
            rc = mk_read_u16le(&r, &u16);
            break;
        case 2:
            rc = mk_read_u32le(&r, &u32);
            break;
        case 3:
            rc = mk_read_u64le(&r, &u64);
            break;
        case 4:
            rc = mk_read_u16be(&r, &u16);
            break;
        case 5:
            rc = mk_read_u32be(&r, &u32);
            break;
        case 6:
            rc = mk_read_u64be(&r, &u64);
            break;
        case 7:
            rc = mk_read_len16le(&r, cap, &n);
            break;
        case 8:
            rc = mk_read_len32le(&r, cap, &n);
            break;
        case 9:
            rc = mk_read_len32be(&r, cap, &n);
            break;
        case 10:
            rc = mk_read_skip(&r, arg);
            break;
        case 11:
            rc = mk_read_view(&r, op & 0x80 ? SIZE_MAX - arg : arg, &p);
            break;
        case 12:
            rc = mk_read_sub(&r, arg, &sub);
            if (rc == 0 && mk_reader_remaining(&sub) != arg) abort();
            break;
        default:
            rc = mk_reader_peek(&r, arg, &p);
            break;
        }
        size_t after = mk_reader_offset(&r);
        if (after > size || mk_reader_remaining(&r) != size - after) abort();
        if (rc != 0 && after != before) abort();
        if (rc == 0 && op % 14 >= 7 && op % 14 <= 9) {
            if (n > cap) abort();
            if (n > mk_reader_remaining(&r)) abort();
        }
        (void)rem;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 64 * 1024) return 0;
    check_decoders(data, size);
    check_reader(data, size);
    return 0;
}
