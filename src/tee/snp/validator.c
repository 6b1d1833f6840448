/*
 * tee/snp/validator.c — the SEV-SNP ticket validator (an mk_validator),
 * and its factory for declarations (mk_validator_factory_snp, beside
 * mk_validator_factory_tdx).
 *
 * The configuration (mk_snp_validator_config, by value) is copied into the
 * validator's state at construction: criteria, freshness, policy, the
 * operator's certificates (leaf, chain, CRL bytes), the fetch options.
 * The state owns one mk_snp_verifier for its whole life (AMD's trust store
 * with its warm intermediates; the simulator root only when configured).
 * Nothing in the state changes after construction, so validations run
 * concurrently (the verifier is thread-safe).
 *
 * validate() runs the checks in a fixed order and stops at the first
 * failure, whose reason names the step:
 *   1. decode the ticket (the shared envelope's caps, canonical CBOR, zstd
 *      bomb refusal);
 *   2. verify the report to AMD's root (mk_snp_verify: structure, product,
 *      chain, CRL, TCB, hwID, signature, policy) with the certificates
 *      chosen below, prefixed "SNP report: ";
 *   3. report-data binding: the verified report's report data must equal
 *      SHA-512 of the ticket's extra data under SNP's domain;
 *   4. baseline criteria, then one of the variants (when configured);
 *   5. peer id and network id against the peer's entry;
 *   6. freshness (quoted in the future, max_age, not_before, max_lifetime);
 *   7. expiry.
 * Steps 4 to 7 use the shared checks of tee/checks.c, as TDX does. The
 * admission expires at min(ticket expiration, the chain's validity).
 *
 * Certificate precedence (pick_certs): the operator's leaf, else the KDS
 * (the verifier fetches the VCEK), and the ticket's certificates only when
 * neither is configured and certs_from_ticket is set — or, with the KDS,
 * for a VLEK-signed report, since the KDS serves no VLEK; the operator's
 * chain and CRL always replace what a ticket carries. A peer can thus
 * never substitute a certificate for one the operator chose; what a ticket
 * carries can never replace the anchor either (chain.c).
 *
 * Simulated tickets: their chain ends in a simulator root, which no
 * verifier trusts unless simulator_root_der is set; the refusal says it is
 * the simulator's. With it set, simulated tickets pass like real ones.
 *
 * signature() is computed once from a canonical encoding of every
 * requirement: the baseline, the variants (sorted and deduplicated, so the
 * order they were given in does not matter), the freshness limits, every
 * policy field and the SHA-256 of the trusted simulator root. Where the
 * certificates come from is not a requirement and is left out.
 */
#include <stdlib.h>
#include <string.h>

#include "mosaik/crypto.h"
#include "tee/snp/snp_internal.h"

#define SIG_DOMAIN "mosaik.validator.snp.v1"
#define MAX_VARIANTS 256

typedef struct snp_state {
    mk_snp_criteria baseline;
    mk_snp_criteria *variants;
    size_t n_variants;
    mk_tee_freshness fresh;
    mk_snp_policy policy;
    bool has_sim_root;
    uint8_t sim_root_hash[32];
    mk_buf leaf, chain, crl; /* the operator's certificates (empty: none) */
    bool has_fetch, certs_from_ticket;
    mk_snp_verifier *verifier;
    mk_id class_id, signature;
} snp_state;

void mk_snp_validator_config_init(mk_snp_validator_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    mk_snp_criteria_init(&cfg->baseline);
    mk_snp_policy_default(&cfg->policy);
    cfg->certs_from_ticket = true;
}

static int crit_cmp(const void *a, const void *b) {
    uint8_t ea[MK_SNP_CRITERIA_ENC_LEN], eb[MK_SNP_CRITERIA_ENC_LEN];
    mk_snp_criteria_encode(a, ea);
    mk_snp_criteria_encode(b, eb);
    return memcmp(ea, eb, sizeof ea);
}

static int compute_signature(snp_state *s) {
    mk_buf b;
    mk_buf_init(&b, 0);
    if (mk_buf_reserve(&b, (s->n_variants + 1) * MK_SNP_CRITERIA_ENC_LEN + 256) < 0)
        return MK_ENOMEM;
    uint8_t enc[MK_SNP_CRITERIA_ENC_LEN];
    mk_snp_criteria_encode(&s->baseline, enc);
    mk_buf_append(&b, enc, sizeof enc);
    mk_buf_append_u32be(&b, (uint32_t)s->n_variants);
    for (size_t i = 0; i < s->n_variants; i++) {
        mk_snp_criteria_encode(&s->variants[i], enc);
        mk_buf_append(&b, enc, sizeof enc);
    }
    mk_tee_freshness_encode(&s->fresh, &b);
    mk_snp_policy_encode(&s->policy, &b);
    mk_buf_append_u8(&b, s->has_sim_root);
    if (s->has_sim_root)
        mk_buf_append(&b, s->sim_root_hash, 32);
    else
        mk_buf_extend(&b, 32);
    mk_id base;
    mk_id_from_name(&base, SIG_DOMAIN);
    mk_id_derive(&s->signature, &base, b.data, b.len);
    mk_buf_free(&b);
    return 0;
}

static void state_free(snp_state *s) {
    if (!s) return;
    free(s->variants);
    mk_buf_free(&s->leaf);
    mk_buf_free(&s->chain);
    mk_buf_free(&s->crl);
    mk_snp_verifier_free(s->verifier);
    free(s);
}

/* ------------------------------------------------------------------ */
/* validate                                                            */
/* ------------------------------------------------------------------ */

/* Whether the ticket's report says it is VLEK-signed (the KDS serves no
 * VLEK). */
static bool vlek_signed(const mk_snp_ticket *t) {
    mk_snp_report r;
    return mk_snp_report_parse(t->report, t->report_len, &r, NULL) == 0 &&
           r.signing_key == MK_SNP_KEY_VLEK;
}

static void pick_certs(const snp_state *s, const mk_snp_ticket *t, mk_snp_certs *c) {
    memset(c, 0, sizeof *c);
    if (s->leaf.len) {
        c->leaf = s->leaf.data;
        c->leaf_len = s->leaf.len;
    } else if (s->certs_from_ticket && t->certs && (!s->has_fetch || vlek_signed(t))) {
        c->leaf = (const uint8_t *)t->certs;
        c->leaf_len = t->certs_len;
    }
    if (s->chain.len) {
        c->chain = s->chain.data;
        c->chain_len = s->chain.len;
    }
    if (s->crl.len) {
        c->crl = s->crl.data;
        c->crl_len = s->crl.len;
    }
}

static int variant_match(const void *variant, const void *report, mk_error *err) {
    return mk_snp_criteria_match(variant, report, err);
}

static int validate_impl(const snp_state *s, const uint8_t *data, size_t len,
                         const mk_peer_view *peer, int64_t now, mk_expiration *expires,
                         mk_snp_result *res_out, mk_error *err) {
    mk_snp_ticket t;
    int rc = mk_snp_ticket_decode(data, len, &t, err);
    if (rc < 0) return rc;
    mk_snp_result *res = malloc(sizeof *res);
    if (!res) {
        mk_snp_ticket_free(&t);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    mk_snp_certs c;
    pick_certs(s, &t, &c);
    rc = mk_snp_verify(s->verifier, t.report, t.report_len, &c, now, res, err);
    if (rc < 0) mk_error_prefix(err, rc, "SNP report");
    if (rc == 0 && !mk_tee_binds(MK_SNP_REPORT_DATA_DOMAIN, &t.extra, res->report.report_data))
        rc = mk_error_set(err, MK_EMISMATCH,
                          "report data does not bind the ticket's extra data (peer, network, "
                          "times): the report was made for another ticket");
    if (rc == 0) rc = mk_snp_criteria_match(&s->baseline, &res->report, err);
    if (rc == 0)
        rc = mk_tee_check_variants(s->variants, s->n_variants, sizeof *s->variants, variant_match,
                                   &res->report, err);
    if (rc == 0) rc = mk_tee_check_peer(&t.extra, peer, err);
    if (rc == 0) rc = mk_tee_check_freshness(&s->fresh, &t.extra, now, err);
    if (rc == 0) rc = mk_tee_check_expiry(&t.extra, res->valid_until, now, expires, err);
    if (res_out) {
        *res_out = *res;
        res_out->report.raw = NULL; /* it pointed into the ticket */
    }
    free(res);
    mk_snp_ticket_free(&t);
    return rc;
}

/* ------------------------------------------------------------------ */
/* mk_validator glue                                                   */
/* ------------------------------------------------------------------ */

static void op_class(const mk_validator *v, mk_id *out) {
    *out = ((const snp_state *)v->state)->class_id;
}

static void op_signature(const mk_validator *v, mk_id *out) {
    *out = ((const snp_state *)v->state)->signature;
}

static int op_validate(const mk_validator *v, const uint8_t *data, size_t len,
                       const mk_peer_view *peer, int64_t now, mk_expiration *expires,
                       mk_error *err) {
    return validate_impl(v->state, data, len, peer, now, expires, NULL, err);
}

static void op_destroy(mk_validator *v) {
    state_free(v->state);
    v->state = NULL;
}

static const mk_validator_ops snp_ops = {
    .name = "snp",
    .class_id = op_class,
    .signature = op_signature,
    .validate = op_validate,
    .destroy = op_destroy,
};

int mk_snp_validator_validate_ex(const mk_validator *v, const uint8_t *data, size_t len,
                                 const mk_peer_view *peer, int64_t now, mk_expiration *expires,
                                 mk_snp_result *res, mk_error *err) {
    if (!v || v->ops != &snp_ops) return mk_error_set(err, MK_EINVAL, "not an SNP validator");
    return validate_impl(v->state, data, len, peer, now, expires, res, err);
}

/* ------------------------------------------------------------------ */
/* Construction                                                        */
/* ------------------------------------------------------------------ */

/* require_own / from_local: the local guest's values, from one report of
 * own_provider, added to the baseline. */
static int add_own(snp_state *s, const mk_snp_validator_config *cfg, mk_error *err) {
    if (!(cfg->require_own & MK_SNP_REQ_ALL)) return 0;
    if (!cfg->own_provider || mk_tee_provider_platform(cfg->own_provider) != MK_TEE_SNP)
        return mk_error_set(err, MK_EINVAL, "require_own: no SEV-SNP provider");
    uint8_t rd[MK_TEE_REPORT_DATA_LEN] = {0};
    mk_buf ev;
    mk_buf_init(&ev, 0);
    mk_snp_report r;
    int rc = mk_tee_provider_evidence(cfg->own_provider, rd, &ev, NULL, err);
    if (rc == 0) rc = mk_snp_report_parse(ev.data, ev.len, &r, err);
    if (rc == 0) mk_snp_criteria_from_report(&s->baseline, &r, cfg->require_own & MK_SNP_REQ_ALL);
    mk_buf_free(&ev);
    return rc < 0 ? mk_error_prefix(err, rc, "reading the local guest's measurements") : 0;
}

static int copy_bytes(mk_buf *dst, const uint8_t *src, size_t len, size_t cap, const char *what,
                      mk_error *err) {
    if (!src) return 0;
    if (len == 0 || len > cap) return mk_error_set(err, MK_EINVAL, "%s: %zu bytes", what, len);
    return mk_buf_append(dst, src, len) < 0 ? mk_error_set(err, MK_ENOMEM, "out of memory") : 0;
}

static int configure(snp_state *s, const mk_snp_validator_config *cfg, mk_error *err) {
    s->baseline = cfg->baseline;
    s->baseline.mask &= MK_SNP_REQ_ALL;
    if (cfg->n_variants > MAX_VARIANTS || (cfg->n_variants && !cfg->variants))
        return mk_error_set(err, MK_EINVAL, "%zu variants (at most %d)", cfg->n_variants,
                            MAX_VARIANTS);
    if (cfg->n_variants) {
        s->variants = calloc(cfg->n_variants, sizeof *s->variants);
        if (!s->variants) return mk_error_set(err, MK_ENOMEM, "out of memory");
        for (size_t i = 0; i < cfg->n_variants; i++) {
            s->variants[i] = cfg->variants[i];
            s->variants[i].mask &= MK_SNP_REQ_ALL;
            if (!s->variants[i].mask)
                return mk_error_set(err, MK_EINVAL, "variant %zu pins nothing", i + 1);
        }
        s->n_variants =
            mk_tee_variants_normalize(s->variants, cfg->n_variants, sizeof *s->variants, crit_cmp);
    }
    MK_TRY(add_own(s, cfg, err));
    s->fresh = (mk_tee_freshness){cfg->max_age > 0 ? cfg->max_age : 0, cfg->not_before,
                                  cfg->max_lifetime > 0 ? cfg->max_lifetime : 0};
    s->policy = cfg->policy;
    s->certs_from_ticket = cfg->certs_from_ticket;
    s->has_fetch = cfg->fetch != NULL;
    MK_TRY(copy_bytes(&s->leaf, cfg->certs.leaf, cfg->certs.leaf_len, MK_SNP_CERTS_MAX,
                      "certificate", err));
    MK_TRY(copy_bytes(&s->chain, cfg->certs.chain, cfg->certs.chain_len, MK_SNP_CERTS_MAX, "chain",
                      err));
    MK_TRY(copy_bytes(&s->crl, cfg->certs.crl, cfg->certs.crl_len, MK_SNP_CRL_MAX, "CRL", err));
    mk_snp_verifier_config vc;
    mk_snp_verifier_config_init(&vc);
    vc.policy = cfg->policy;
    vc.fetch = cfg->fetch;
    vc.simulator_root_der = cfg->simulator_root_der;
    vc.simulator_root_len = cfg->simulator_root_len;
    MK_TRY(mk_snp_verifier_new(&vc, &s->verifier, err));
    if (cfg->simulator_root_der) {
        s->has_sim_root = true;
        mk_sha256(cfg->simulator_root_der, cfg->simulator_root_len, s->sim_root_hash);
    }
    mk_snp_ticket_class(&s->class_id);
    return compute_signature(s) < 0 ? mk_error_set(err, MK_ENOMEM, "out of memory") : 0;
}

int mk_snp_validator_new(const mk_snp_validator_config *cfg, mk_validator **out, mk_error *err) {
    if (!out) return mk_error_set(err, MK_EINVAL, "SNP validator: no out");
    *out = NULL;
    if (!cfg) return mk_error_set(err, MK_EINVAL, "SNP validator: no configuration");
    snp_state *s = calloc(1, sizeof *s);
    if (!s) return mk_error_set(err, MK_ENOMEM, "out of memory");
    mk_buf_init(&s->leaf, 0);
    mk_buf_init(&s->chain, 0);
    mk_buf_init(&s->crl, 0);
    int rc = configure(s, cfg, err);
    if (rc == 0 && (rc = mk_validator_new(&snp_ops, s, out)) < 0)
        mk_error_set(err, rc, "out of memory");
    if (rc < 0) {
        state_free(s);
        return mk_error_prefix(err, rc, "SNP validator");
    }
    return 0;
}

mk_validator *mk_validator_factory_snp(const void *arg, mk_error *err) {
    const mk_snp_validator_config *cfg = arg;
    if (!cfg) {
        mk_error_set(err, MK_EINVAL, "snp factory: no validator configuration");
        return NULL;
    }
    mk_validator *v = NULL;
    return mk_snp_validator_new(cfg, &v, err) == 0 ? v : NULL;
}
