/*
 * Fuzz target: collateral JSON parsing in both forms. The first byte picks
 * the form: bundle (dcap-qvl JSON), PCS TCB info body, PCS QE identity
 * body, or a PCS body used as both (the span scanner and the field parser
 * see the same bytes). Anything that parses must serialise back to a bundle
 * that parses again to the same bundle text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/bytes.h"
#include "mosaik/tdx.h"

static void roundtrip(mk_tdx_collateral *c) {
    mk_buf a = MK_BUF_INIT, b = MK_BUF_INIT;
    if (mk_tdx_collateral_to_bundle(c, &a) == 0) {
        mk_tdx_collateral *c2 = NULL;
        if (mk_tdx_collateral_from_bundle((const char *)a.data, a.len, &c2, NULL) != 0) abort();
        if (mk_tdx_collateral_to_bundle(c2, &b) != 0) abort();
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) abort();
        mk_tdx_collateral_free(c2);
    }
    (void)mk_tdx_collateral_next_update(c);
    uint8_t f[6];
    (void)mk_tdx_collateral_fmspc(c, f);
    mk_buf_free(&a);
    mk_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0] % 4;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    mk_tdx_collateral *c = NULL;
    mk_error err;
    if (mode == 0) {
        if (mk_tdx_collateral_from_bundle(text, len, &c, &err) != 0) c = NULL;
    } else {
        mk_tdx_pcs_responses r;
        memset(&r, 0, sizeof r);
        if (mode & 1) {
            r.tcb_info_body = text;
            r.tcb_info_len = len;
        }
        if (mode & 2) {
            r.qe_identity_body = text;
            r.qe_identity_len = len;
        }
        if (mk_tdx_collateral_from_pcs(&r, &c, &err) != 0) c = NULL;
    }
    if (c) {
        roundtrip(c);
        mk_tdx_collateral_free(c);
    }
    return 0;
}
