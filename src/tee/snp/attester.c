/*
 * tee/snp/attester.c — the SEV-SNP attester: the shared attester
 * (tee/attester.c) over an SNP provider, with an endorse hook that puts the
 * host's certificates into every ticket, so a verifier needs no network.
 *
 * mk_snp_endorse_certs: the report (evidence) says which key signed it
 * (VCEK or VLEK); the certificate table (aux, from configfs-tsm's auxblob
 * or the SNP_GET_EXT_REPORT buffer) gives that key's certificate, then the
 * ASK / ASVK and the ARK when present, as PEM (certtable.c). An empty
 * table gives no endorsements: the host supplied no certificates and a
 * verifier needs the KDS or its operator's files. A table lacking the
 * signing key's certificate is refused (MK_ENOTFOUND): a ticket with the
 * wrong leaf would only fail later, on every peer.
 */
#include <string.h>

#include "tee/snp/snp_internal.h"

void mk_snp_attester_config_init(mk_snp_attester_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->lifetime = MK_TEE_TICKET_DEFAULT_LIFETIME;
}

int mk_snp_endorse_certs(void *ctx, const uint8_t *evidence, size_t evidence_len,
                         const uint8_t *aux, size_t aux_len, mk_buf *endorsements, mk_error *err) {
    (void)ctx;
    if (aux_len == 0) return 0;
    mk_snp_report r;
    int rc = mk_snp_report_parse(evidence, evidence_len, &r, err);
    if (rc < 0) return mk_error_prefix(err, rc, "endorsements");
    return mk_snp_cert_table_to_pem(aux, aux_len, r.signing_key, endorsements, err);
}

int mk_snp_attester_new(const mk_snp_attester_config *cfg, mk_snp_attester **out, mk_error *err) {
    if (!out) return mk_error_set(err, MK_EINVAL, "SNP attester: no out");
    *out = NULL;
    if (!cfg || !mk_snp_provider_is_snp(cfg->provider))
        return mk_error_set(err, MK_EINVAL, "SNP attester: no SEV-SNP provider");
    mk_tee_attester_config tc;
    mk_tee_attester_config_init(&tc);
    tc.provider = cfg->provider;
    tc.endorse = mk_snp_endorse_certs;
    tc.lifetime = cfg->lifetime;
    return mk_tee_attester_new(&tc, out, err);
}
