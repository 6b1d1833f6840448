/*
 * tests/fuzz/fuzz_snp_report.c — the SEV-SNP report parser (report.c,
 * mk_snp_report_parse) and the signature's range checks (sig.c) on
 * arbitrary bytes. Invariants: an accepted report has exactly 1184 bytes,
 * version 2, 3 or 5, a VCEK or VLEK signing key, CPUID fields exactly from
 * v3 on and mitigation vectors exactly from v5 on; every refusal says why.
 */
#include <stdint.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "mosaik/mosaik.h"
#include "tee/snp/snp_internal.h"

static EVP_PKEY *key; /* any P-384 key: the signature checks run up to OpenSSL's verify */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!key && !(key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"))) abort();
    mk_snp_report r;
    mk_error err;
    mk_error_clear(&err);
    int rc = mk_snp_report_parse(data, size, &r, &err);
    if (rc != 0) {
        if (err.msg[0] == '\0') abort();
        return 0;
    }
    if (size != MK_SNP_REPORT_LEN || r.raw != data) abort();
    if (r.version != 2 && r.version != 3 && r.version != 5) abort();
    if (r.signing_key != MK_SNP_KEY_VCEK && r.signing_key != MK_SNP_KEY_VLEK) abort();
    if (r.has_cpuid != (r.version >= 3) || r.has_mit_vectors != (r.version >= 5)) abort();
    mk_snp_tcb t;
    mk_snp_tcb_decode(r.reported_tcb, r.cpuid_product, &t);
    if (mk_snp_tcb_encode(&t, MK_SNP_TURIN) >> 32 & 0xffffff) abort(); /* Turin bytes 4..6 */
    mk_error_clear(&err);
    rc = mk_snp_report_verify_sig(&r, key, &err);
    if (rc == 0) abort(); /* nobody has this key's signatures */
    if (err.msg[0] == '\0') abort();
    return 0;
}
