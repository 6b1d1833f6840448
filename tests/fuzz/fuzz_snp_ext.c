/*
 * tests/fuzz/fuzz_snp_ext.c — the VCEK / VLEK extension parser (ext.c) on
 * arbitrary bytes. The first byte chooses what the rest is: below
 * MK_SNP_EXT_COUNT, the value of that AMD extension (mk_snp_ext_decode,
 * then mk_snp_ext_finish on what was seen); otherwise a whole certificate,
 * DER or PEM (mk_snp_cert_info_read). Invariants: strings are terminated
 * and printable, a hwID has 8 or 64 bytes (none on a VLEK), a certificate
 * read is a VCEK or a VLEK; every refusal says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/mosaik.h"
#include "tee/snp/snp_internal.h"

static void check_str(const char *s, size_t cap) {
    size_t n = strnlen(s, cap);
    if (n == cap) abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) abort();
}

static void check_info(const mk_snp_cert_info *ci) {
    check_str(ci->product_name, sizeof ci->product_name);
    check_str(ci->csp_id, sizeof ci->csp_id);
    if (ci->hwid_len != 0 && ci->hwid_len != 8 && ci->hwid_len != 64) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    mk_snp_cert_info ci;
    mk_error err;
    mk_error_clear(&err);
    memset(&ci, 0, sizeof ci);
    int rc;
    if (data[0] < MK_SNP_EXT_COUNT) {
        unsigned seen = 0;
        rc = mk_snp_ext_decode((mk_snp_ext_id)data[0], data + 1, size - 1, &ci, &seen, &err);
        if (rc == 0 && seen != 1u << data[0]) abort();
        check_info(&ci);
        if (rc == 0) {
            /* The same extension twice is always refused. */
            if (mk_snp_ext_decode((mk_snp_ext_id)data[0], data + 1, size - 1, &ci, &seen, NULL) !=
                MK_EMALFORMED)
                abort();
            mk_error_clear(&err);
            rc = mk_snp_ext_finish(seen, &ci, &err);
            if (rc == 0) abort(); /* one extension is never a whole VCEK */
        }
    } else {
        rc = mk_snp_cert_info_read(data + 1, size - 1, &ci, &err);
        if (rc == 0) {
            check_info(&ci);
            if (ci.kind == MK_SNP_KEY_VCEK && ci.hwid_len == 0) abort();
            if (ci.kind == MK_SNP_KEY_VLEK && ci.hwid_len != 0) abort();
        }
    }
    if (rc != 0 && err.msg[0] == '\0') abort();
    return 0;
}
