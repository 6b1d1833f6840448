/*
 * Fuzz target: the incremental frame decoder (net/frame.c).
 *
 * Input layout: byte 0 selects the maximum frame size (0..255, scaled so
 * small and large caps are both exercised); byte 1 seeds the chunking.
 * The rest is fed to the decoder in chunks whose sizes come from a simple
 * PRNG seeded by byte 1, as TLS records would arrive. Each delivered frame
 * is checked against the cap, and the total delivered bytes plus the
 * headers plus the partial frame held must equal the bytes consumed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "net/net_internal.h"

typedef struct acc {
    size_t max;
    size_t frames;
    size_t bytes;
} acc;

static int on_frame(void *ctx, const uint8_t *data, size_t len) {
    acc *a = ctx;
    if (len > a->max) abort();
    if (len && !data) abort();
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < len; i++)
        sink ^= data[i]; /* touch every byte */
    (void)sink;
    a->frames++;
    a->bytes += len + MK_FRAME_HDR;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t max = (size_t)data[0] * 37;
    uint32_t seed = data[1] | 1u;
    data += 2;
    size -= 2;
    mk_frame_decoder d;
    mk_frame_decoder_init(&d, max);
    acc a = {.max = max};
    size_t off = 0;
    int rc = 0;
    while (off < size && rc == 0) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 64;
        if (n > size - off) n = size - off;
        rc = mk_frame_decoder_feed(&d, data + off, n, on_frame, &a, NULL);
        if (rc == 0) off += n;
    }
    if (rc == 0 && a.bytes + mk_frame_decoder_partial(&d) != size) abort();
    if (rc != 0 && rc != MK_ETOOBIG) abort();
    mk_frame_decoder_free(&d);
    return 0;
}
