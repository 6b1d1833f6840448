/*
 * fuzz_snp_certtable — the SEV-SNP certificate table parser (certtable.c):
 * the GHCB table of {GUID, offset, length} entries a host hands a guest
 * (configfs-tsm's auxblob, the SNP_GET_EXT_REPORT buffer), and its
 * conversion to the PEM a ticket carries.
 *
 * Invariants checked: a parsed table has at most MK_SNP_CERT_TABLE_ENTRIES
 * entries, each non-empty, lying past the entries and inside the input,
 * and no AMD type twice; a refusal has a reason and leaves the table
 * zeroed; building a table of the parsed entries and parsing it again gives
 * the same entries; to-PEM for either key either succeeds with PEM text or
 * refuses with a reason, leaving the output as it was.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tee/snp/snp_internal.h"

static void check_pem(const uint8_t *d, size_t n, mk_snp_signing_key key) {
    mk_buf out = MK_BUF_INIT;
    mk_error err;
    mk_error_clear(&err);
    if (mk_snp_cert_table_to_pem(d, n, key, &out, &err) == 0) {
        if (out.len < 10 || memcmp(out.data, "-----BEGIN", 10) != 0) abort();
    } else if (out.len != 0 || err.code >= 0 || !err.msg[0]) {
        abort();
    }
    mk_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mk_snp_cert_table t;
    mk_error err;
    mk_error_clear(&err);
    if (mk_snp_cert_table_parse(data, size, &t, &err) != 0) {
        if (t.n != 0 || err.code >= 0 || !err.msg[0]) abort();
        return 0;
    }
    if (t.n > MK_SNP_CERT_TABLE_ENTRIES) abort();
    size_t header = (t.n + 1) * 24;
    unsigned seen = 0;
    mk_snp_cert_type types[MK_SNP_CERT_TABLE_ENTRIES];
    const uint8_t *ptrs[MK_SNP_CERT_TABLE_ENTRIES];
    size_t lens[MK_SNP_CERT_TABLE_ENTRIES];
    size_t nb = 0;
    for (size_t i = 0; i < t.n; i++) {
        const mk_snp_cert_entry *e = &t.e[i];
        if (e->len == 0 || e->offset < header || e->offset > size || e->len > size - e->offset)
            abort();
        if (e->data != data + e->offset) abort();
        if (e->type != MK_SNP_CERT_OTHER) {
            if (seen & (1u << e->type)) abort();
            seen |= 1u << e->type;
            types[nb] = e->type;
            ptrs[nb] = e->data;
            lens[nb++] = e->len;
        }
    }
    mk_buf b = MK_BUF_INIT;
    if (mk_snp_cert_table_build(types, ptrs, lens, nb, &b, NULL) == 0) {
        mk_snp_cert_table u;
        if (mk_snp_cert_table_parse(b.data, b.len, &u, NULL) != 0 || u.n != nb) abort();
        for (size_t i = 0; i < nb; i++)
            if (u.e[i].type != types[i] || u.e[i].len != lens[i] ||
                memcmp(u.e[i].data, ptrs[i], lens[i]) != 0)
                abort();
    }
    mk_buf_free(&b);
    check_pem(data, size, MK_SNP_KEY_VCEK);
    check_pem(data, size, MK_SNP_KEY_VLEK);
    return 0;
}
