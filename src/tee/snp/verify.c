/*
 * tee/snp/verify.c — the SEV-SNP verifier: runs the trust model's steps
 * (mosaik/snp.h, docs/snp-verification.md) in order and stops at the first
 * failure, whose reason starts with the step's name:
 *
 *   report:       structure (report.c)
 *   certificate:  the leaf (given, or fetched from the KDS), its AMD
 *                 extensions (ext.c), its kind equal to the report's
 *                 signing key (VCEK / VLEK)
 *   product:      the report's CPUID product (v3+) and the certificate's
 *                 productName must name the same known product; a v2 report
 *                 takes the certificate's
 *   chain:        leaf <- built-in ASK (VCEK) or ASVK (VLEK) <- the
 *                 product's pinned ARK at `now` (chain.c, on the shared
 *                 trust store the verifier owns)
 *   CRL:          when one is given or fetched: signed by that ARK, current,
 *                 not listing the intermediate
 *   TCB:          the certificate's SPLs equal reported_tcb, decoded with the
 *                 product's layout (fmcSPL on Turin)
 *   hwID:         a VCEK's hwID equals chip_id (64 bytes; the first 8 on Turin)
 *   signature:    ECDSA P-384 over [0, 0x2A0) by the leaf key (sig.c)
 *   policy:       policy.c
 *
 * Simulator: only after mk_snp_verifier_trust_simulator (or the config's
 * simulator_root_der) does the verifier own a second store holding that
 * root alone (chain.c, "the simulator's way"); a report verified through
 * it has res->simulated set, is never checked against AMD's CRLs or
 * fetched from the KDS, and otherwise goes through every step above.
 *
 * A VCEK for a v2 report without a certificate is fetched for Milan, then
 * Genoa (a v2 report does not name its product; a chip_id whose bytes 8..63
 * are zero is a Turin's), the first the KDS knows. The verifier's mutable
 * state (policy, fetch options) is guarded by a mutex and copied at the
 * start of each verification, so a verification sees one consistent
 * configuration; everything else a verification uses is its own,
 * read-only (amd_certs.c) or thread-safe (the trust store).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mosaik/encoding.h"
#include "tee/snp/snp_internal.h"

struct mk_snp_verifier {
    mk_tee_trust *trust; /* AMD's pinned ARKs; thread-safe, warm intermediates */
    pthread_mutex_t mu;
    mk_tee_trust *sim_trust; /* the simulator root, once trusted (set once, under mu) */
    uint8_t sim_hash[32];
    mk_snp_policy policy;
    bool have_fetch;
    mk_snp_fetch_opts fetch; /* strings point into base_url / cache_dir */
    char *base_url, *cache_dir;
};

/* One verification's working state. */
typedef struct run {
    mk_tee_trust *trust, *sim_trust;
    mk_snp_policy pol;
    bool have_fetch;
    mk_snp_fetch_opts fetch;
    char base_url[512], cache_dir[512];
    mk_snp_cert_list leaf, offered;
    mk_buf fetched, crl;
    mk_snp_result *res;
    int64_t now;
} run;

void mk_snp_verifier_config_init(mk_snp_verifier_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    mk_snp_policy_default(&cfg->policy);
}

static int copy_fetch(mk_snp_verifier *v, const mk_snp_fetch_opts *o) {
    char *b = NULL, *c = NULL;
    if (o && o->base_url && !(b = strdup(o->base_url))) return MK_ENOMEM;
    if (o && o->cache_dir && !(c = strdup(o->cache_dir))) {
        free(b);
        return MK_ENOMEM;
    }
    free(v->base_url);
    free(v->cache_dir);
    v->base_url = b;
    v->cache_dir = c;
    v->have_fetch = o != NULL;
    if (o) v->fetch = *o;
    v->fetch.base_url = b;
    v->fetch.cache_dir = c;
    return 0;
}

int mk_snp_verifier_new(const mk_snp_verifier_config *cfg, mk_snp_verifier **out, mk_error *err) {
    if (!out) return mk_error_set(err, MK_EINVAL, "verifier: no out");
    *out = NULL;
    mk_snp_verifier_config def;
    if (!cfg) {
        mk_snp_verifier_config_init(&def);
        cfg = &def;
    }
    mk_snp_verifier *v = calloc(1, sizeof *v);
    if (!v) return mk_error_set(err, MK_ENOMEM, "out of memory");
    pthread_mutex_init(&v->mu, NULL);
    v->policy = cfg->policy;
    int rc = mk_snp_trust_new(&v->trust, err);
    if (rc < 0) {
        mk_snp_verifier_free(v);
        return mk_error_prefix(err, rc, "verifier: AMD's trust store");
    }
    if (copy_fetch(v, cfg->fetch) < 0) {
        mk_snp_verifier_free(v);
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    if (cfg->simulator_root_der &&
        (rc = mk_snp_verifier_trust_simulator(v, cfg->simulator_root_der, cfg->simulator_root_len,
                                              err)) < 0) {
        mk_snp_verifier_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

void mk_snp_verifier_free(mk_snp_verifier *v) {
    if (!v) return;
    mk_tee_trust_free(v->trust);
    mk_tee_trust_free(v->sim_trust);
    pthread_mutex_destroy(&v->mu);
    free(v->base_url);
    free(v->cache_dir);
    free(v);
}

void mk_snp_verifier_set_policy(mk_snp_verifier *v, const mk_snp_policy *p) {
    pthread_mutex_lock(&v->mu);
    v->policy = *p;
    pthread_mutex_unlock(&v->mu);
}

void mk_snp_verifier_get_policy(const mk_snp_verifier *v, mk_snp_policy *p) {
    pthread_mutex_lock((pthread_mutex_t *)&v->mu);
    *p = v->policy;
    pthread_mutex_unlock((pthread_mutex_t *)&v->mu);
}

int mk_snp_verifier_set_fetch(mk_snp_verifier *v, const mk_snp_fetch_opts *o) {
    pthread_mutex_lock(&v->mu);
    int rc = copy_fetch(v, o);
    pthread_mutex_unlock(&v->mu);
    return rc;
}

int mk_snp_verifier_trust_simulator(mk_snp_verifier *v, const uint8_t *root_der, size_t len,
                                    mk_error *err) {
    if (!v || !root_der || len == 0)
        return mk_error_set(err, MK_EINVAL, "simulator root: no certificate");
    uint8_t h[32];
    mk_sha256(root_der, len, h);
    pthread_mutex_lock(&v->mu);
    int rc = 0;
    if (v->sim_trust) {
        if (memcmp(h, v->sim_hash, 32) != 0)
            rc = mk_error_set(err, MK_ESTATE, "a different simulator root is already trusted");
    } else if ((rc = mk_snp_sim_trust_new(root_der, len, &v->sim_trust, err)) == 0) {
        memcpy(v->sim_hash, h, 32);
    }
    pthread_mutex_unlock(&v->mu);
    return rc < 0 ? mk_error_prefix(err, rc, "verifier") : 0;
}

static void run_init(mk_snp_verifier *v, run *r) {
    pthread_mutex_lock(&v->mu);
    r->sim_trust = v->sim_trust;
    r->pol = v->policy;
    r->have_fetch = v->have_fetch;
    r->fetch = v->fetch;
    snprintf(r->base_url, sizeof r->base_url, "%s", v->base_url ? v->base_url : "");
    snprintf(r->cache_dir, sizeof r->cache_dir, "%s", v->cache_dir ? v->cache_dir : "");
    pthread_mutex_unlock(&v->mu);
    r->fetch.base_url = r->base_url[0] ? r->base_url : NULL;
    r->fetch.cache_dir = r->cache_dir[0] ? r->cache_dir : NULL;
    r->trust = v->trust;
    mk_buf_init(&r->fetched, MK_SNP_CERT_MAX);
    mk_buf_init(&r->crl, MK_SNP_CRL_MAX);
}

static void run_free(run *r) {
    mk_snp_cert_list_free(&r->leaf);
    mk_snp_cert_list_free(&r->offered);
    mk_buf_free(&r->fetched);
    mk_buf_free(&r->crl);
}

/* ------------------------------------------------------------------ */
/* Steps                                                               */
/* ------------------------------------------------------------------ */

/* The product a v2 report might be from, for fetching its VCEK. */
static size_t candidates(const mk_snp_report *rep, mk_snp_product out[2]) {
    if (rep->has_cpuid) {
        out[0] = rep->cpuid_product;
        return rep->cpuid_product != MK_SNP_PRODUCT_UNKNOWN;
    }
    bool tail_zero = true, head_zero = true;
    for (int i = 0; i < MK_SNP_CHIP_ID_LEN; i++)
        if (rep->chip_id[i]) *(i < 8 ? &head_zero : &tail_zero) = false;
    if (tail_zero && !head_zero) {
        out[0] = MK_SNP_TURIN;
        return 1;
    }
    out[0] = MK_SNP_MILAN;
    out[1] = MK_SNP_GENOA;
    return 2;
}

static int fetch_leaf(run *r, const mk_snp_report *rep, mk_error *err) {
    if (rep->signing_key == MK_SNP_KEY_VLEK)
        return mk_error_set(err, MK_ENOTFOUND,
                            "the report is signed by a VLEK, which the KDS does not serve: give "
                            "the VLEK (from the report's certificate table or a file)");
    if (!r->have_fetch)
        return mk_error_set(err, MK_ENOTFOUND, "no VCEK given and no KDS fetcher configured");
    mk_snp_product cand[2];
    size_t n = candidates(rep, cand);
    if (n == 0)
        return mk_error_set(err, MK_EUNSUPPORTED,
                            "CPUID family 0x%02x model 0x%02x is not Milan, Genoa or Turin",
                            rep->cpuid_fam_id, rep->cpuid_mod_id);
    int rc = MK_ENOTFOUND;
    for (size_t i = 0; i < n; i++) {
        mk_snp_tcb t;
        mk_snp_tcb_decode(rep->reported_tcb, cand[i], &t);
        rc = mk_snp_fetch_vcek(&r->fetch, cand[i], rep->chip_id, &t, &r->fetched, err);
        if (rc != MK_ENOTFOUND) break;
    }
    if (rc < 0) return mk_error_prefix(err, rc, "VCEK fetch");
    return mk_snp_certs_read(r->fetched.data, r->fetched.len, &r->leaf, err);
}

static int step_certificate(run *r, const mk_snp_certs *c, const mk_snp_report *rep,
                            mk_error *err) {
    int rc = 0;
    if (c && c->leaf) rc = mk_snp_certs_read(c->leaf, c->leaf_len, &r->leaf, err);
    if (rc == 0 && c && c->chain) rc = mk_snp_certs_read(c->chain, c->chain_len, &r->offered, err);
    /* A PEM leaf file may carry the chain after the leaf. */
    while (rc == 0 && r->leaf.n > 1) {
        if (r->offered.n == MK_SNP_CHAIN_MAX_CERTS) {
            rc = mk_error_set(err, MK_ETOOBIG, "more than %d certificates", MK_SNP_CHAIN_MAX_CERTS);
            break;
        }
        r->offered.cert[r->offered.n++] = r->leaf.cert[--r->leaf.n];
    }
    if (rc == 0 && r->leaf.n == 0) rc = fetch_leaf(r, rep, err);
    if (rc < 0) return rc;
    mk_snp_result *res = r->res;
    MK_TRY(mk_snp_cert_info_from_x509(r->leaf.cert[0], &res->cert, err));
    res->have_cert = true;
    if (res->cert.kind != rep->signing_key)
        return mk_error_set(err, MK_EMISMATCH,
                            "the report is signed by a %s, the certificate is a %s",
                            rep->signing_key == MK_SNP_KEY_VLEK ? "VLEK" : "VCEK",
                            res->cert.kind == MK_SNP_KEY_VLEK ? "VLEK" : "VCEK");
    return 0;
}

static int step_product(run *r, const mk_snp_report *rep, mk_error *err) {
    const mk_snp_cert_info *ci = &r->res->cert;
    if (ci->product == MK_SNP_PRODUCT_UNKNOWN)
        return mk_error_set(err, MK_EUNSUPPORTED,
                            "certificate productName '%s' is not Milan, Genoa or Turin",
                            ci->product_name);
    if (rep->has_cpuid && rep->cpuid_product == MK_SNP_PRODUCT_UNKNOWN)
        return mk_error_set(err, MK_EUNSUPPORTED,
                            "report CPUID family 0x%02x model 0x%02x is not Milan, Genoa or "
                            "Turin",
                            rep->cpuid_fam_id, rep->cpuid_mod_id);
    if (rep->has_cpuid && rep->cpuid_product != ci->product)
        return mk_error_set(err, MK_EMISMATCH,
                            "the certificate is for %s (productName '%s'), the report is from %s "
                            "(CPUID %02x/%02x/%02x)",
                            mk_snp_product_name(ci->product), ci->product_name,
                            mk_snp_product_name(rep->cpuid_product), rep->cpuid_fam_id,
                            rep->cpuid_mod_id, rep->cpuid_step);
    r->res->product = ci->product;
    mk_snp_tcb_decode(rep->reported_tcb, ci->product, &r->res->reported_tcb);
    mk_snp_tcb_decode(rep->current_tcb, ci->product, &r->res->current_tcb);
    return 0;
}

/* A leaf refused as untrusted that a simulator issued: say so (a hint
 * only; trust is the store's decision). */
static void hint_simulator(X509 *leaf, mk_error *err) {
    char iss[256] = "";
    X509_NAME_oneline(X509_get_issuer_name(leaf), iss, sizeof iss);
    if (err && strstr(iss, "SIMULATED") && !strstr(err->msg, "simulator"))
        mk_error_prefix(err, err->code,
                        "simulator root not trusted (a report from the mosaik SEV-SNP simulator: "
                        "NOT real SEV-SNP; trust its root explicitly to accept it)");
}

static int step_chain_crl(run *r, const mk_snp_certs *c, mk_tee_chain *ch, mk_error *err) {
    mk_snp_result *res = r->res;
    mk_snp_chain_in in = {r->trust,
                          res->product,
                          res->cert.kind == MK_SNP_KEY_VLEK ? MK_SNP_CA_ASVK : MK_SNP_CA_ASK,
                          r->leaf.cert[0],
                          &r->offered,
                          r->sim_trust};
    int rc = mk_snp_chain_verify(&in, r->now, ch, err);
    if (rc == MK_EUNTRUSTED && !r->sim_trust) hint_simulator(r->leaf.cert[0], err);
    if (rc < 0) return mk_error_prefix(err, rc, "chain");
    res->chain_verified = true;
    res->simulated = ch->simulated;
    res->valid_until = ch->not_after;
    const uint8_t *crl = c && c->crl ? c->crl : NULL;
    size_t crl_len = crl ? c->crl_len : 0;
    if (!crl && r->have_fetch && r->fetch.fetch_crl && !ch->simulated) {
        rc = mk_snp_fetch_crl(&r->fetch, res->product, res->cert.kind, r->now, &r->crl, err);
        if (rc < 0) return mk_error_prefix(err, rc, "CRL: fetch");
        crl = r->crl.data;
        crl_len = r->crl.len;
    }
    if (!crl) {
        if (r->pol.require_crl)
            return mk_error_set(err, MK_EPOLICY, "policy: a CRL is required and none was given");
        return 0;
    }
    int64_t nu = 0;
    rc = (ch->simulated ? mk_snp_crl_check_sim : mk_snp_crl_check)(
        crl, crl_len, ch->root, ch->intermediate, r->now, &nu, err);
    if (rc < 0) return mk_error_prefix(err, rc, "CRL");
    res->crl_checked = true;
    if (nu < res->valid_until) res->valid_until = nu;
    return 0;
}

static int step_binding(run *r, const mk_snp_report *rep, mk_error *err) {
    const mk_snp_cert_info *ci = &r->res->cert;
    const mk_snp_tcb *t = &r->res->reported_tcb;
    bool turin = r->res->product == MK_SNP_TURIN;
    const struct {
        const char *ext, *comp;
        uint8_t cert, rep;
        bool used;
    } c[] = {{"fmcSPL", "fmc", ci->tcb.fmc, t->fmc, turin},
             {"blSPL", "bootloader", ci->tcb.bootloader, t->bootloader, true},
             {"teeSPL", "tee", ci->tcb.tee, t->tee, true},
             {"snpSPL", "snp", ci->tcb.snp, t->snp, true},
             {"ucodeSPL", "microcode", ci->tcb.microcode, t->microcode, true}};
    if (turin && !ci->has_fmc)
        return mk_error_set(err, MK_EMISMATCH, "TCB: a Turin certificate without fmcSPL");
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        if (c[i].used && c[i].cert != c[i].rep)
            return mk_error_set(err, MK_EMISMATCH,
                                "TCB: the certificate's %s %u differs from the report's "
                                "reported_tcb %s %u",
                                c[i].ext, c[i].cert, c[i].comp, c[i].rep);
    if (ci->kind != MK_SNP_KEY_VCEK) return 0;
    size_t want = turin ? MK_SNP_TURIN_HWID_LEN : MK_SNP_CHIP_ID_LEN;
    if (ci->hwid_len != want)
        return mk_error_set(err, MK_EMISMATCH, "hwID: %zu bytes; a %s VCEK's hwID has %zu",
                            ci->hwid_len, mk_snp_product_name(r->res->product), want);
    if (memcmp(ci->hwid, rep->chip_id, want)) {
        char a[17], b[17];
        mk_hex_encode(ci->hwid, 8, a);
        mk_hex_encode(rep->chip_id, 8, b);
        return mk_error_set(err, MK_EMISMATCH,
                            "hwID: the VCEK's hwID %s… is not the report's chip_id %s… (a VCEK "
                            "of another chip)",
                            a, b);
    }
    return 0;
}

int mk_snp_verify(mk_snp_verifier *v, const uint8_t *report, size_t len, const mk_snp_certs *certs,
                  int64_t now, mk_snp_result *res, mk_error *err) {
    mk_snp_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    if (!v) return mk_error_set(err, MK_EINVAL, "verifier: none");
    run r = {.res = res, .now = now};
    run_init(v, &r);
    mk_snp_report *rep = &res->report;
    mk_tee_chain ch;
    memset(&ch, 0, sizeof ch);
    int rc;
    MK_GUARD(rc, mk_snp_report_parse(report, len, rep, err), out);
    res->signing_key = rep->signing_key;
    res->debug = rep->policy & MK_SNP_POLICY_DEBUG;
    res->migration_agent = rep->policy & MK_SNP_POLICY_MIGRATE_MA;
    if ((rc = step_certificate(&r, certs, rep, err)) < 0) {
        rc = mk_error_prefix(err, rc, "certificate");
        goto out;
    }
    if ((rc = step_product(&r, rep, err)) < 0) {
        rc = mk_error_prefix(err, rc, "product");
        goto out;
    }
    MK_GUARD(rc, step_chain_crl(&r, certs, &ch, err), out);
    MK_GUARD(rc, step_binding(&r, rep, err), out);
    if ((rc = mk_snp_report_verify_sig(rep, ch.leaf_key, err)) < 0) {
        rc = mk_error_prefix(err, rc, "signature");
        goto out;
    }
    if ((rc = mk_snp_policy_check(&r.pol, rep, res->product, err)) < 0)
        rc = mk_error_prefix(err, rc, "policy");
out:
    if (rc < 0) res->valid_until = 0;
    mk_tee_chain_free(&ch);
    run_free(&r);
    return rc;
}
