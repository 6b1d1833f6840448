/*
 * tee/snp/sim_report.c — what the SEV-SNP simulator (sim.c) hands a guest:
 * attestation reports and the certificate table.
 *
 * A report is the ATTESTATION_REPORT structure of a real version-3 report
 * (offsets in report.c's table), every integer little-endian:
 *   version 3, guest_svn, policy, family_id, image_id, vmpl from the guest;
 *   signature_algo 1 (ECDSA P-384 / SHA-384); flags: signing key VCEK,
 *   AUTHOR_KEY_EN when the author key digest is not all zero;
 *   platform_info SMT_EN; report_data as asked; measurement, host_data,
 *   id_key_digest, author_key_digest from the guest; a random report_id,
 *   report_id_ma all 0xFF (no migration agent); current, reported,
 *   committed and launch TCB the simulated TCB in Milan's layout; CPUID
 *   19/01/01 (Milan B1); chip_id the simulator's; firmware 1.55.0 current
 *   and committed; the rest zero.
 * It is signed with the VCEK's key: ECDSA P-384 over SHA-384 of bytes
 * [0, 0x2A0), r and s written as 48-byte little-endian values in their
 * 72-byte fields, as AMD's firmware does. Nothing marks a report itself as
 * simulated: what does is its chain, which ends in the simulator's root.
 *
 * The certificate table is the GHCB layout (certtable.c) with the VCEK,
 * the ASK and the ARK (DER), as a host gives it.
 */
#include <string.h>

#include "crypto/ossl.h"
#include "mosaik/crypto.h"
#include "tee/snp/snp_internal.h"

void mk_snp_sim_guest_default(mk_snp_sim_guest *g) {
    static const char m[] = "mosaik simulated SNP guest";
    memset(g, 0, sizeof *g);
    mk_sha384(m, sizeof m - 1, g->measurement);
    g->policy = MK_SNP_POLICY_SMT | MK_SNP_POLICY_RESERVED_1;
}

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static bool all_zero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* The unsigned report body for g into r[0, 0x2A0). */
static void fill(const mk_snp_sim *sim, const mk_snp_sim_guest *g, const uint8_t rd[64],
                 uint8_t r[MK_SNP_REPORT_LEN]) {
    mk_snp_tcb t;
    mk_snp_sim_tcb(&t);
    uint64_t tcb = mk_snp_tcb_encode(&t, MK_SNP_MILAN);
    bool author = !all_zero(g->author_key_digest, 48);
    memset(r, 0, MK_SNP_REPORT_LEN);
    put_le(r + 0x000, 3, 4);
    put_le(r + 0x004, g->guest_svn, 4);
    put_le(r + 0x008, g->policy, 8);
    memcpy(r + 0x010, g->family_id, 16);
    memcpy(r + 0x020, g->image_id, 16);
    put_le(r + 0x030, g->vmpl, 4);
    put_le(r + 0x034, MK_SNP_SIG_ALGO_ECDSA_P384_SHA384, 4);
    put_le(r + 0x038, tcb, 8);
    put_le(r + 0x040, MK_SNP_PLATFORM_SMT_EN, 8);
    put_le(r + 0x048, author ? 1u : 0u, 4); /* signing key 0: VCEK */
    memcpy(r + 0x050, rd, 64);
    memcpy(r + 0x090, g->measurement, 48);
    memcpy(r + 0x0C0, g->host_data, 32);
    memcpy(r + 0x0E0, g->id_key_digest, 48);
    memcpy(r + 0x110, g->author_key_digest, 48);
    mk_random_bytes(r + 0x140, 32);
    memset(r + 0x160, 0xff, 32);
    put_le(r + 0x180, tcb, 8);
    r[0x188] = 0x19; /* family: Zen 3 */
    r[0x189] = 0x01; /* model: Milan */
    r[0x18A] = 0x01; /* stepping */
    memcpy(r + 0x1A0, sim->chip_id, MK_SNP_CHIP_ID_LEN);
    put_le(r + 0x1E0, tcb, 8);
    r[0x1E8] = 0, r[0x1E9] = 55, r[0x1EA] = 1; /* current build, minor, major */
    r[0x1EC] = 0, r[0x1ED] = 55, r[0x1EE] = 1; /* committed */
    put_le(r + 0x1F0, tcb, 8);
}

int mk_snp_sim_report(const mk_snp_sim *sim, const mk_snp_sim_guest *g,
                      const uint8_t report_data[64], mk_buf *out, mk_error *err) {
    if (!sim || !report_data || !out)
        return mk_error_set(err, MK_EINVAL, "simulator report: NULL argument");
    mk_snp_sim_guest def;
    if (!g) {
        mk_snp_sim_guest_default(&def);
        g = &def;
    }
    if (g->vmpl > 3)
        return mk_error_set(err, MK_EINVAL, "simulator report: VMPL %u (0..3)", g->vmpl);
    uint8_t r[MK_SNP_REPORT_LEN], sig[96];
    fill(sim, g, report_data, r);
    MK_TRY(mk_tee_sim_sign(sim->vcek_key, MK_SHA384, r, MK_SNP_SIGNED_LEN, sig, 48, err));
    for (int i = 0; i < 48; i++) {
        r[MK_SNP_SIGNED_LEN + i] = sig[47 - i];      /* r, little-endian */
        r[MK_SNP_SIGNED_LEN + 72 + i] = sig[95 - i]; /* s */
    }
    mk_buf_reset(out);
    if (mk_buf_append(out, r, sizeof r) < 0) return mk_error_set(err, MK_ENOMEM, "out of memory");
    return 0;
}

int mk_snp_sim_cert_table(const mk_snp_sim *sim, mk_buf *out, mk_error *err) {
    if (!sim || !out) return mk_error_set(err, MK_EINVAL, "simulator: NULL argument");
    uint8_t *der[3] = {NULL, NULL, NULL};
    X509 *certs[3] = {sim->vcek, sim->ask, sim->ark};
    size_t lens[3];
    int rc = 0;
    for (int i = 0; rc == 0 && i < 3; i++) {
        int n = i2d_X509(certs[i], &der[i]);
        if (n <= 0)
            rc = mk_error_openssl(err, MK_ECRYPTO, "simulator: certificate encoding");
        else
            lens[i] = (size_t)n;
    }
    static const mk_snp_cert_type types[3] = {MK_SNP_CERT_VCEK, MK_SNP_CERT_ASK, MK_SNP_CERT_ARK};
    const uint8_t *data[3] = {der[0], der[1], der[2]};
    if (rc == 0) rc = mk_snp_cert_table_build(types, data, lens, 3, out, err);
    for (int i = 0; i < 3; i++)
        OPENSSL_free(der[i]);
    return rc;
}
