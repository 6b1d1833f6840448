/*
 * tests/fuzz/fuzz_pck_ext.c — the PCK certificate SGX extension parser
 * (pck.c, mk_tdx_pck_ext_parse) on arbitrary DER.
 */
#include <stdint.h>
#include <stdlib.h>

#include "mosaik/mosaik.h"
#include "tee/tdx/tdx_internal.h" /* mk_tdx_pck_ext_parse */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mk_tdx_pck_ext e;
    mk_error err;
    int rc = mk_tdx_pck_ext_parse(data, size, &e, &err);
    if (rc == 0 && (e.sgx_type < 0 || e.sgx_type > 2)) abort();
    if (rc != 0 && err.msg[0] == '\0') abort(); /* every refusal says why */
    return 0;
}
