/*
 * src/tee/tdx/describe.c — what a peer's TDX ticket shows, for the
 * operator's view (mk_tdx_ticket_describe).
 *
 * Algorithm. Decode the ticket (the shared envelope: extra data, quote,
 * optional collateral), parse the quote's structure for the measurements
 * it claims. With a TDX validator, verify the quote alone (step 1 of the
 * validator: chain, signatures, collateral, TCB) — when it passes, the
 * measurements, the TCB status and the simulator flag are facts — and
 * then run the whole validator for the verdict, its reason and the end of
 * the admission. Nothing is cached and nothing changes: describing a
 * ticket twice gives the same answer at the same `now`.
 *
 * Untrusted input: the ticket comes from a peer; it goes only through the
 * bounds-checked decoders (mk_tdx_ticket_decode, mk_tdx_quote_parse).
 */
#include <stdio.h>
#include <string.h>

#include "mosaik/tdx_ticket.h"
#include "tee/tdx/tdx_internal.h"

static void copy_reason(char *dst, size_t cap, const char *src) {
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

int mk_tdx_ticket_describe(const mk_ticket *t, const mk_validator *v, const mk_peer_view *peer,
                           int64_t now, mk_tdx_ticket_info *out, mk_error *err) {
    memset(out, 0, sizeof *out);
    out->tcb_status = MK_TDX_TCB_UNKNOWN;
    mk_id cls;
    mk_tdx_ticket_class(&cls);
    if (!t || !mk_id_eq(&t->class_id, &cls))
        return mk_error_set(err, MK_EINVAL, "not a TDX ticket");
    mk_tdx_ticket tk;
    MK_TRY(mk_tdx_ticket_decode(t->data, t->len, &tk, err));
    out->extra = tk.extra;
    out->has_collateral = tk.collateral != NULL;
    mk_tdx_quote q;
    int rc = mk_tdx_quote_parse(tk.quote, tk.quote_len, &q, err);
    if (rc == 0) out->report = q.body;
    if (rc == 0 && v) {
        mk_error e;
        mk_error_clear(&e);
        mk_tdx_result res;
        memset(&res, 0, sizeof res);
        out->checked = true;
        out->quote_ok = mk_tdx_validator_verify_quote(v, &tk, now, &res, &e) == 0;
        if (out->quote_ok) {
            out->tcb_status = res.tcb_status;
            out->simulated = res.simulated;
        }
        mk_error_clear(&e);
        mk_expiration until = 0;
        out->verdict =
            mk_tdx_validator_validate_ex(v, t->data, t->len, peer, now, &until, NULL, &e);
        if (out->verdict == 0)
            out->valid_until = until;
        else
            copy_reason(out->reason, sizeof out->reason, e.msg);
    }
    mk_tdx_ticket_free(&tk);
    return rc;
}
