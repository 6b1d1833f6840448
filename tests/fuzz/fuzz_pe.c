/*
 * fuzz_pe.c — the PE/COFF Authenticode parser, and QEMU's setup-header
 * patch followed by Authenticode of the patched copy (the path a kernel
 * takes through `mosaik tdx measure`).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/tdx_measure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t d[MK_TDX_MEASURE_DIGEST_LEN];
    mk_error err;
    (void)mk_tdx_pe_authenticode(data, size, MK_SHA256, d, &err);
    if (size == 0 || size > (1u << 20)) return 0;
    uint8_t *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    /* Derive load parameters from the last byte so both branches run. */
    uint8_t knob = data[size - 1];
    mk_tdx_qemu_kernel_load ld = {(uint64_t)(256 + 256 * (knob & 15)) << 20, (knob & 16) != 0,
                                  (uint64_t)knob * 4099u, (knob & 32) ? "vga=ask quiet" : "quiet",
                                  0};
    if (mk_tdx_qemu_patch_kernel(copy, size, &ld, &err) == 0)
        (void)mk_tdx_pe_authenticode(copy, size, MK_SHA384, d, &err);
    free(copy);
    return 0;
}
