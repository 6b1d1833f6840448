/*
 * fuzz_tdvf.c — the TDVF metadata parser (OVMF GUIDed footer table, TDVF
 * descriptor and sections) and, for small accepted images, the MRTD
 * computation in both page orders.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mosaik/tdx_measure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mk_tdx_tdvf t;
    mk_error err;
    if (mk_tdx_tdvf_parse(data, size, &t, &err) != 0) return 0;
    /* Bound the work per input: MRTD hashes 128 bytes per page. */
    uint64_t total = 0;
    for (size_t i = 0; i < t.nsections; i++)
        total += t.sections[i].memory_data_size;
    if (total > ((uint64_t)16 << 20)) return 0;
    uint8_t a[MK_TDX_MEASURE_DIGEST_LEN], b[MK_TDX_MEASURE_DIGEST_LEN];
    if (mk_tdx_mrtd_from_tdvf(&t, data, size, MK_TDX_PAGE_ORDER_INTERLEAVED, a, &err) != 0)
        __builtin_trap(); /* a parsed image must always measure */
    if (mk_tdx_mrtd_from_tdvf(&t, data, size, MK_TDX_PAGE_ORDER_TWO_PASS, b, &err) != 0)
        __builtin_trap();
    return 0;
}
