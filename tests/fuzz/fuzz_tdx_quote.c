/*
 * tests/fuzz/fuzz_tdx_quote.c — the TDX quote parser (quote.c), and on
 * inputs that parse, the verifier's steps after it (signatures, PEM chain,
 * PCK extension) with a chain-only policy at a fixed time.
 *
 * Invariants checked on success: every view lies inside the input, the
 * signed region starts at the input, quote_len + trailing_bytes == size,
 * and the caps hold.
 */
#include <stdint.h>
#include <stdlib.h>

#include "mosaik/mosaik.h"
#include "tee/tdx/tdx_internal.h"

static mk_tdx_verifier *verifier;

static int inside(const uint8_t *base, size_t size, const uint8_t *p, size_t n) {
    return p >= base && n <= size && (size_t)(p - base) <= size - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mk_tdx_quote q;
    mk_error err;
    if (mk_tdx_quote_parse(data, size, &q, &err) != 0) return 0;
    if (q.signed_data != data || q.signed_len > size || q.quote_len + q.trailing_bytes != size ||
        !inside(data, size, q.qe_report_raw, 384) ||
        (q.qe_auth_len && !inside(data, size, q.qe_auth_data, q.qe_auth_len)) ||
        q.qe_auth_len > MK_TDX_QE_AUTH_MAX || q.pck_chain_len > MK_TDX_CERT_DATA_MAX ||
        !inside(data, size, q.pck_chain_pem, q.pck_chain_len) ||
        (q.version != 4 && q.version != 5) || q.tee_type != MK_TDX_TEE_TYPE)
        abort();
    if (!verifier) {
        mk_tdx_verifier_config c;
        mk_tdx_verifier_config_init(&c);
        c.policy.chain_only = true;
        if (mk_tdx_verifier_new(&c, &verifier, NULL) < 0) abort();
    }
    mk_tdx_result r;
    mk_tdx_verify(verifier, data, size, NULL, 1752919234, &r, &err);
    return 0;
}
