/*
 * tee/tdx/validator.c — the TDX ticket validator (an mk_validator).
 *
 * Configuration is collected in an mk_tdx_validator_opts builder and frozen
 * into the validator's state by mk_tdx_validator_new. The state owns one
 * mk_tdx_verifier for its whole life (so the verifier's warm caches and the
 * fetcher's cache survive between validations), the parsed static
 * collateral, and a one-entry cache of the last collateral a ticket carried
 * (keyed by SHA-256 of its bundle text; peers of one platform send the same
 * bundle, and the parsed object keeps its own verification cache).
 *
 * validate() runs the checks in a fixed order and stops at the first
 * failure, whose reason names the step:
 *   1. decode the ticket (caps, canonical CBOR, zstd bomb refusal);
 *   2. verify the quote fully (mk_tdx_verify: structure, signatures, PCK
 *      chain to a trusted root, collateral, TCB status, TD attributes);
 *   3. report-data binding: the verified quote's report data must equal
 *      SHA-512 of the ticket's extra data;
 *   4. baseline criteria; 5. variants (one must match, when configured);
 *   6. peer id and network id against the peer's entry;
 *   7. freshness (quoted in the future, max_age, not_before, max_lifetime);
 *   8. expiry.
 * Steps 5 to 8 use the shared checks of tee/checks.c (variants, peer,
 * network, freshness, expiry), as every platform does.
 * The admission expires at min(ticket expiration, the quote's valid_until).
 *
 * Collateral precedence (pick_collateral): the operator's static bundle,
 * else the verifier's fetcher, and the ticket's own bundle only when neither
 * is configured; a peer must not be able to substitute an older bundle.
 *
 * signature() is computed once from a canonical byte encoding of every
 * requirement a ticket must meet; variants are sorted and deduplicated
 * first, so the order in which they were added is irrelevant. Where the
 * collateral comes from is not a requirement and is left out (so nodes
 * using different PCCS instances, or refreshing a static bundle, still share
 * group ids); how fresh it must be is a requirement (policy
 * min_tcb_evaluation_data_number / max_collateral_age) and is included.
 * Empty variants (matching every TD) are refused at configuration.
 *
 * mk_tdx_spec_factory (the by-value spec of declarations and
 * configurations) applies the spec's fields over a shallow copy of its base
 * opts on the stack and builds from that, so the spec shares nothing with
 * the validator.
 */
#include "mosaik/tdx_ticket.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "mosaik/clock.h"
#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "tee/tdx/tdx_internal.h"
#include "tee/tee_internal.h"

#define SIG_DOMAIN "mosaik.validator.tdx.v1"
#define MAX_VARIANTS 256

/* ------------------------------------------------------------------ */
/* Criteria                                                            */
/* ------------------------------------------------------------------ */

static const char *reg_name(unsigned bit) {
    static const char *names[] = {"MRTD", "RTMR0", "RTMR1", "RTMR2", "RTMR3"};
    return bit < 5 ? names[bit] : "?";
}

void mk_tdx_criteria_init(mk_tdx_criteria *c) {
    memset(c, 0, sizeof *c);
}

void mk_tdx_criteria_require_mrtd(mk_tdx_criteria *c, const uint8_t v[48]) {
    memcpy(c->mrtd, v, 48);
    c->mask |= MK_TDX_REQ_MRTD;
}

void mk_tdx_criteria_require_rtmr(mk_tdx_criteria *c, unsigned idx, const uint8_t v[48]) {
    if (idx > 3) return;
    memcpy(c->rtmr[idx], v, 48);
    c->mask |= MK_TDX_REQ_RTMR(idx);
}

int mk_tdx_criteria_require_mrtd_hex(mk_tdx_criteria *c, const char *hex, mk_error *err) {
    uint8_t v[48];
    if (!hex) return mk_error_set(err, MK_EINVAL, "MRTD: no value (want 96 hex digits)");
    int rc = mk_hex_decode_exact(hex, v, 48, err);
    if (rc < 0) return mk_error_prefix(err, rc, "MRTD (want 96 hex digits)");
    mk_tdx_criteria_require_mrtd(c, v);
    return 0;
}

int mk_tdx_criteria_require_rtmr_hex(mk_tdx_criteria *c, unsigned idx, const char *hex,
                                     mk_error *err) {
    if (idx > 3) return mk_error_set(err, MK_EINVAL, "no RTMR%u (0..3)", idx);
    uint8_t v[48];
    if (!hex) return mk_error_set(err, MK_EINVAL, "RTMR%u: no value (want 96 hex digits)", idx);
    int rc = mk_hex_decode_exact(hex, v, 48, err);
    if (rc < 0) return mk_error_prefix(err, rc, "RTMR%u (want 96 hex digits)", idx);
    mk_tdx_criteria_require_rtmr(c, idx, v);
    return 0;
}

void mk_tdx_criteria_from_report(mk_tdx_criteria *c, const mk_tdx_td_report *r, unsigned mask) {
    if (mask & MK_TDX_REQ_MRTD) mk_tdx_criteria_require_mrtd(c, r->mr_td);
    for (unsigned i = 0; i < 4; i++)
        if (mask & MK_TDX_REQ_RTMR(i)) mk_tdx_criteria_require_rtmr(c, i, r->rtmr[i]);
}

static const uint8_t *crit_value(const mk_tdx_criteria *c, unsigned bit) {
    return bit == 0 ? c->mrtd : c->rtmr[bit - 1];
}

static const uint8_t *report_value(const mk_tdx_td_report *r, unsigned bit) {
    return bit == 0 ? r->mr_td : r->rtmr[bit - 1];
}

/* "ab12cd34ef56…" — the first 8 bytes, enough to tell values apart. */
static void short_hex(const uint8_t *v, char out[20]) {
    mk_hex_encode(v, 8, out);
    memcpy(out + 16, "\xe2\x80\xa6", 4); /* U+2026 and NUL */
}

int mk_tdx_criteria_match(const mk_tdx_criteria *c, const mk_tdx_td_report *r, mk_error *err) {
    for (unsigned bit = 0; bit < 5; bit++) {
        if (!(c->mask & (1u << bit))) continue;
        const uint8_t *want = crit_value(c, bit), *got = report_value(r, bit);
        if (memcmp(want, got, 48) != 0) {
            char w[20], g[20];
            short_hex(want, w);
            short_hex(got, g);
            return mk_error_set(err, MK_EMISMATCH, "%s mismatch: want %s, got %s", reg_name(bit), w,
                                g);
        }
    }
    return 0;
}

/* Fixed-width canonical form: mask byte, then all five registers (unset
 * ones as zeros). 241 bytes. */
#define CRIT_ENC_LEN (1 + 5 * 48)
static void crit_encode(const mk_tdx_criteria *c, uint8_t out[CRIT_ENC_LEN]) {
    memset(out, 0, CRIT_ENC_LEN);
    out[0] = (uint8_t)(c->mask & MK_TDX_REQ_ALL);
    for (unsigned bit = 0; bit < 5; bit++)
        if (c->mask & (1u << bit)) memcpy(out + 1 + 48 * bit, crit_value(c, bit), 48);
}

static int crit_cmp(const void *a, const void *b) {
    uint8_t ea[CRIT_ENC_LEN], eb[CRIT_ENC_LEN];
    crit_encode(a, ea);
    crit_encode(b, eb);
    return memcmp(ea, eb, CRIT_ENC_LEN);
}

/* ------------------------------------------------------------------ */
/* Options (builder)                                                   */
/* ------------------------------------------------------------------ */

struct mk_tdx_validator_opts {
    mk_tdx_criteria baseline;
    mk_tdx_criteria *variants;
    size_t n_variants;
    int64_t max_age, not_before, max_lifetime;
    mk_tdx_policy policy;
    uint8_t *sim_root;
    size_t sim_root_len;
    bool coll_from_ticket;
    char *static_coll; /* bundle JSON */
    size_t static_coll_len;
    bool has_fetch;
    mk_tdx_fetch_opts fetch; /* strings owned */
};

mk_tdx_validator_opts *mk_tdx_validator_opts_new(void) {
    mk_tdx_validator_opts *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    mk_tdx_policy_default(&o->policy);
    o->coll_from_ticket = true;
    return o;
}

static void fetch_free(mk_tdx_fetch_opts *f) {
    free((char *)f->base_url);
    free((char *)f->root_ca_crl_url);
    free((char *)f->cache_dir);
    memset(f, 0, sizeof *f);
}

void mk_tdx_validator_opts_free(mk_tdx_validator_opts *o) {
    if (!o) return;
    free(o->variants);
    free(o->sim_root);
    free(o->static_coll);
    fetch_free(&o->fetch);
    free(o);
}

mk_tdx_criteria *mk_tdx_validator_opts_baseline(mk_tdx_validator_opts *o) {
    return &o->baseline;
}

int mk_tdx_validator_opts_add_variant(mk_tdx_validator_opts *o, const mk_tdx_criteria *c) {
    /* A variant that pins no register matches every TD and would make "one
     * variant must match" vacuous. */
    if (!c || (c->mask & MK_TDX_REQ_ALL) == 0) return MK_EINVAL;
    if (o->n_variants >= MAX_VARIANTS) return MK_ETOOBIG;
    mk_tdx_criteria *nv = realloc(o->variants, (o->n_variants + 1) * sizeof *nv);
    if (!nv) return MK_ENOMEM;
    o->variants = nv;
    o->variants[o->n_variants++] = *c;
    return 0;
}

int mk_tdx_validator_opts_require_own(mk_tdx_validator_opts *o, mk_tdx_provider *p, unsigned mask,
                                      mk_error *err) {
    if (!p) return mk_error_set(err, MK_EINVAL, "no TDX provider");
    uint8_t rd[MK_TDX_REPORT_DATA_LEN] = {0};
    mk_tdx_td_report rep;
    int rc = mk_tdx_provider_report(p, rd, &rep, err);
    if (rc < 0) return mk_error_prefix(err, rc, "reading the local TD's measurements");
    mk_tdx_criteria_from_report(&o->baseline, &rep, mask & MK_TDX_REQ_ALL);
    return 0;
}

int mk_tdx_validator_opts_from_local(mk_tdx_validator_opts *o, mk_tdx_provider *p, mk_error *err) {
    return mk_tdx_validator_opts_require_own(o, p, MK_TDX_REQ_ALL, err);
}

int mk_tdx_validator_opts_require_own_mrtd(mk_tdx_validator_opts *o, mk_tdx_provider *p,
                                           mk_error *err) {
    return mk_tdx_validator_opts_require_own(o, p, MK_TDX_REQ_MRTD, err);
}

int mk_tdx_validator_opts_require_own_rtmr(mk_tdx_validator_opts *o, mk_tdx_provider *p,
                                           unsigned idx, mk_error *err) {
    if (idx > 3) return mk_error_set(err, MK_EINVAL, "no RTMR%u (0..3)", idx);
    return mk_tdx_validator_opts_require_own(o, p, MK_TDX_REQ_RTMR(idx), err);
}

void mk_tdx_validator_opts_max_age(mk_tdx_validator_opts *o, int64_t seconds) {
    o->max_age = seconds > 0 ? seconds : 0;
}

void mk_tdx_validator_opts_not_before(mk_tdx_validator_opts *o, int64_t t) {
    o->not_before = t;
}

void mk_tdx_validator_opts_max_lifetime(mk_tdx_validator_opts *o, int64_t seconds) {
    o->max_lifetime = seconds > 0 ? seconds : 0;
}

void mk_tdx_validator_opts_policy(mk_tdx_validator_opts *o, const mk_tdx_policy *p) {
    o->policy = *p;
}

int mk_tdx_validator_opts_trust_simulator(mk_tdx_validator_opts *o, const uint8_t *root_der,
                                          size_t len, mk_error *err) {
    if (!root_der || len == 0 || len > MK_TDX_CERT_DATA_MAX)
        return mk_error_set(err, MK_EINVAL, "simulator root: no certificate");
    uint8_t *copy = malloc(len);
    if (!copy) return mk_error_set(err, MK_ENOMEM, "out of memory");
    memcpy(copy, root_der, len);
    free(o->sim_root);
    o->sim_root = copy;
    o->sim_root_len = len;
    return 0;
}

void mk_tdx_validator_opts_collateral_from_ticket(mk_tdx_validator_opts *o, bool allow) {
    o->coll_from_ticket = allow;
}

/* Setters build the new value completely before replacing the old one:
 * a failure leaves the options as they were. */
int mk_tdx_validator_opts_static_collateral(mk_tdx_validator_opts *o, const mk_tdx_collateral *c,
                                            mk_error *err) {
    char *bundle = NULL;
    size_t bundle_len = 0;
    if (c) {
        mk_buf b;
        mk_buf_init(&b, 0);
        int rc = mk_tdx_collateral_to_bundle(c, &b);
        if (rc < 0 || mk_buf_append_u8(&b, 0) < 0) {
            mk_buf_free(&b);
            return mk_error_set(err, rc < 0 ? rc : MK_ENOMEM,
                                "static collateral: cannot serialise");
        }
        bundle_len = b.len - 1;
        bundle = (char *)mk_buf_steal(&b, NULL);
    }
    free(o->static_coll);
    o->static_coll = bundle;
    o->static_coll_len = bundle_len;
    return 0;
}

static char *dup_or_null(const char *s, bool *oom) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = true;
    return d;
}

static int fetch_copy(mk_tdx_fetch_opts *dst, const mk_tdx_fetch_opts *src) {
    bool oom = false;
    memset(dst, 0, sizeof *dst);
    *dst = *src;
    dst->base_url = dup_or_null(src->base_url, &oom);
    dst->root_ca_crl_url = dup_or_null(src->root_ca_crl_url, &oom);
    dst->cache_dir = dup_or_null(src->cache_dir, &oom);
    if (oom) {
        fetch_free(dst);
        return MK_ENOMEM;
    }
    return 0;
}

int mk_tdx_validator_opts_fetch(mk_tdx_validator_opts *o, const mk_tdx_fetch_opts *f,
                                mk_error *err) {
    mk_tdx_fetch_opts copy;
    memset(&copy, 0, sizeof copy);
    if (f) {
        if (!f->base_url || !f->base_url[0])
            return mk_error_set(err, MK_EINVAL, "collateral fetcher: no base URL");
        if (fetch_copy(&copy, f) < 0) return mk_error_set(err, MK_ENOMEM, "out of memory");
    }
    fetch_free(&o->fetch);
    o->fetch = copy;
    o->has_fetch = f != NULL;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The validator's state                                               */
/* ------------------------------------------------------------------ */

typedef struct tdx_state {
    mk_tdx_criteria baseline;
    mk_tdx_criteria *variants;
    size_t n_variants;
    mk_tee_freshness fresh;
    mk_tdx_policy policy;
    bool has_sim_root;
    uint8_t sim_root_hash[32];
    bool coll_from_ticket;
    bool has_fetch; /* the verifier fetches collateral itself */
    mk_tdx_collateral *static_coll;
    mk_tdx_verifier *verifier;
    mk_id class_id;
    mk_id signature;
    pthread_mutex_t lock; /* guards the collateral cache below */
    uint8_t cache_hash[32];
    mk_tdx_collateral *cache_coll;
} tdx_state;

static void put_i64(mk_buf *b, int64_t v) {
    mk_buf_append_u64be(b, (uint64_t)v);
}

static void put_mr(mk_buf *b, bool on, const uint8_t *v) {
    mk_buf_append_u8(b, on ? 1 : 0);
    if (on)
        mk_buf_append(b, v, 48);
    else
        mk_buf_extend(b, 48);
}

static int compute_signature(tdx_state *s) {
    mk_buf b;
    mk_buf_init(&b, 0);
    /* Reserve everything up front: no append below can then fail half-way
     * and leave a shorter (ambiguous) encoding. */
    if (mk_buf_reserve(&b, (s->n_variants + 1) * CRIT_ENC_LEN + 1024) < 0) return MK_ENOMEM;
    uint8_t enc[CRIT_ENC_LEN];
    crit_encode(&s->baseline, enc);
    mk_buf_append(&b, enc, sizeof enc);
    mk_buf_append_u32be(&b, (uint32_t)s->n_variants);
    for (size_t i = 0; i < s->n_variants; i++) {
        crit_encode(&s->variants[i], enc);
        mk_buf_append(&b, enc, sizeof enc);
    }
    mk_tee_freshness_encode(&s->fresh, &b);
    const mk_tdx_policy *p = &s->policy;
    mk_buf_append_u32be(&b, p->accepted_statuses);
    mk_buf_append_u8(&b, p->allow_debug);
    mk_buf_append_u8(&b, p->allow_reserved_attributes);
    mk_buf_append_u8(&b, p->require_sept_ve_disable);
    mk_buf_append_u8(&b, p->chain_only);
    put_mr(&b, p->check_mr_service_td, p->mr_service_td);
    mk_buf_append_u8(&b, p->check_xfam);
    mk_buf_append_u64be(&b, p->check_xfam ? p->xfam : 0);
    put_mr(&b, p->check_mr_config_id, p->mr_config_id);
    put_mr(&b, p->check_mr_owner, p->mr_owner);
    put_mr(&b, p->check_mr_owner_config, p->mr_owner_config);
    mk_buf_append_u8(&b, s->has_sim_root);
    if (s->has_sim_root)
        mk_buf_append(&b, s->sim_root_hash, 32);
    else
        mk_buf_extend(&b, 32);
    /* Collateral freshness, appended only when set so that configurations
     * without it keep the signature (and group ids) they had before. */
    int64_t mca = p->max_collateral_age > 0 ? p->max_collateral_age : 0;
    if (p->min_tcb_evaluation_data_number || mca) {
        mk_buf_append_u8(&b, 1);
        mk_buf_append_u32be(&b, p->min_tcb_evaluation_data_number);
        put_i64(&b, mca);
    }
    if (!b.data) return MK_ENOMEM;
    mk_id base;
    mk_id_from_name(&base, SIG_DOMAIN);
    mk_id_derive(&s->signature, &base, b.data, b.len);
    mk_buf_free(&b);
    return 0;
}

static void state_free(tdx_state *s) {
    if (!s) return;
    free(s->variants);
    mk_tdx_collateral_free(s->static_coll);
    mk_tdx_collateral_free(s->cache_coll);
    mk_tdx_verifier_free(s->verifier);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ------------------------------------------------------------------ */
/* validate                                                            */
/* ------------------------------------------------------------------ */

/* When a chain is refused as untrusted, say so plainly if it is the
 * simulator's (a hint only: trust is decided by the verifier). */
static void hint_simulator(const mk_tdx_ticket *t, mk_error *err) {
    if (!err || strstr(err->msg, "simulat")) return;
    mk_tdx_quote q;
    if (mk_tdx_quote_parse(t->quote, t->quote_len, &q, NULL) < 0 || !q.pck_chain_pem) return;
    BIO *bio = BIO_new_mem_buf(q.pck_chain_pem, (int)q.pck_chain_len);
    if (!bio) return;
    bool sim = false;
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        char cn[256] = "";
        X509_NAME_oneline(X509_get_issuer_name(x), cn, sizeof cn);
        if (strstr(cn, "simulated")) sim = true;
        X509_free(x);
    }
    BIO_free(bio);
    if (sim)
        mk_error_prefix(err, err ? err->code : MK_EUNTRUSTED,
                        "simulator root not trusted (a quote from the mosaik TDX simulator; "
                        "trust its root explicitly to accept it)");
}

/* Collateral precedence: the operator's sources first. Static collateral,
 * then the verifier's fetcher (signalled by *out == NULL); a ticket's own
 * bundle only when the operator configured neither. A peer must never be
 * able to replace the operator's (fresher) collateral with an older
 * Intel-signed bundle of its choosing: one from before a PCK revocation or
 * a TCB recovery. */
static int pick_collateral(tdx_state *s, const mk_tdx_ticket *t, const mk_tdx_collateral **out,
                           bool *locked, mk_error *err) {
    *out = NULL;
    if (s->static_coll) {
        *out = s->static_coll;
        return 0;
    }
    if (s->has_fetch) return 0;
    if (s->coll_from_ticket && t->collateral) {
        uint8_t h[32];
        mk_sha256(t->collateral, t->collateral_len, h);
        pthread_mutex_lock(&s->lock);
        *locked = true;
        if (!s->cache_coll || memcmp(h, s->cache_hash, 32) != 0) {
            mk_tdx_collateral *c = NULL;
            int rc = mk_tdx_ticket_collateral(t, &c, err);
            if (rc < 0) return rc;
            mk_tdx_collateral_free(s->cache_coll);
            s->cache_coll = c;
            memcpy(s->cache_hash, h, 32);
        }
        *out = s->cache_coll;
        return 0;
    }
    return 0; /* none: chain only, if the policy allows it */
}

/* Step 1: the quote, verified with the chosen collateral. */
static int verify_quote(tdx_state *s, const mk_tdx_ticket *t, int64_t now, mk_tdx_result *res,
                        mk_error *err) {
    const mk_tdx_collateral *coll = NULL;
    bool locked = false;
    int rc = pick_collateral(s, t, &coll, &locked, err);
    if (rc == 0) {
        rc = mk_tdx_verify(s->verifier, t->quote, t->quote_len, coll, now, res, err);
        if (rc == MK_EUNTRUSTED) hint_simulator(t, err);
        if (rc < 0) mk_error_prefix(err, rc, "TDX quote");
    }
    if (locked) pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Step 2: the quote's report data binds this ticket's extra data. */
static int check_binding(const mk_tdx_ticket *t, const mk_tdx_result *res, mk_error *err) {
    if (!mk_tee_binds(MK_TDX_REPORT_DATA_DOMAIN, &t->extra, res->report.report_data))
        return mk_error_set(err, MK_EMISMATCH,
                            "report data does not bind the ticket's extra data (peer, network, "
                            "times): the quote was made for another ticket");
    return 0;
}

/* Step 3: the baseline measurements, and one of the variants if any. */
static int variant_match(const void *variant, const void *report, mk_error *err) {
    return mk_tdx_criteria_match(variant, report, err);
}

static int check_measurements(const tdx_state *s, const mk_tdx_td_report *r, mk_error *err) {
    MK_TRY(mk_tdx_criteria_match(&s->baseline, r, err));
    return mk_tee_check_variants(s->variants, s->n_variants, sizeof *s->variants, variant_match, r,
                                 err);
}

static int validate_impl(tdx_state *s, const uint8_t *data, size_t len, const mk_peer_view *peer,
                         int64_t now, mk_expiration *expires, mk_tdx_result *res_out,
                         mk_error *err) {
    mk_tdx_ticket t;
    int rc = mk_tdx_ticket_decode(data, len, &t, err);
    if (rc < 0) return rc;
    mk_tdx_result res;
    memset(&res, 0, sizeof res);
    rc = verify_quote(s, &t, now, &res, err);
    if (res_out) *res_out = res;
    if (rc == 0) rc = check_binding(&t, &res, err);
    if (rc == 0) rc = check_measurements(s, &res.report, err);
    /* Steps 4-6, shared with every platform (tee/checks.c). */
    if (rc == 0) rc = mk_tee_check_peer(&t.extra, peer, err);
    if (rc == 0) rc = mk_tee_check_freshness(&s->fresh, &t.extra, now, err);
    if (rc == 0) rc = mk_tee_check_expiry(&t.extra, res.valid_until, now, expires, err);
    mk_tdx_ticket_free(&t);
    return rc;
}

/* ------------------------------------------------------------------ */
/* mk_validator glue                                                   */
/* ------------------------------------------------------------------ */

static void op_class(const mk_validator *v, mk_id *out) {
    *out = ((const tdx_state *)v->state)->class_id;
}

static void op_signature(const mk_validator *v, mk_id *out) {
    *out = ((const tdx_state *)v->state)->signature;
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

static const mk_validator_ops tdx_ops = {
    .name = "tdx",
    .class_id = op_class,
    .signature = op_signature,
    .validate = op_validate,
    .destroy = op_destroy,
};

int mk_tdx_validator_validate_ex(const mk_validator *v, const uint8_t *data, size_t len,
                                 const mk_peer_view *peer, int64_t now, mk_expiration *expires,
                                 mk_tdx_result *res, mk_error *err) {
    if (!v || v->ops != &tdx_ops) return mk_error_set(err, MK_EINVAL, "not a TDX validator");
    return validate_impl(v->state, data, len, peer, now, expires, res, err);
}

int mk_tdx_validator_verify_quote(const mk_validator *v, const mk_tdx_ticket *t, int64_t now,
                                  mk_tdx_result *res, mk_error *err) {
    if (!v || v->ops != &tdx_ops) return mk_error_set(err, MK_EINVAL, "not a TDX validator");
    return verify_quote(v->state, t, now, res, err);
}

mk_validator *mk_tdx_validator_new(const mk_tdx_validator_opts *o, mk_error *err) {
    if (!o) {
        mk_error_set(err, MK_EINVAL, "no options");
        return NULL;
    }
    tdx_state *s = calloc(1, sizeof *s);
    if (!s) {
        mk_error_set(err, MK_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->baseline = o->baseline;
    s->baseline.mask &= MK_TDX_REQ_ALL;
    if (o->n_variants) {
        s->variants = calloc(o->n_variants, sizeof *s->variants);
        if (!s->variants) goto oom;
        for (size_t i = 0; i < o->n_variants; i++) {
            mk_tdx_criteria c;
            mk_tdx_criteria_init(&c);
            unsigned m = o->variants[i].mask & MK_TDX_REQ_ALL;
            for (unsigned bit = 0; bit < 5; bit++)
                if (m & (1u << bit)) {
                    if (bit == 0)
                        mk_tdx_criteria_require_mrtd(&c, o->variants[i].mrtd);
                    else
                        mk_tdx_criteria_require_rtmr(&c, bit - 1, o->variants[i].rtmr[bit - 1]);
                }
            s->variants[i] = c;
        }
        s->n_variants =
            mk_tee_variants_normalize(s->variants, o->n_variants, sizeof *s->variants, crit_cmp);
    }
    s->fresh = (mk_tee_freshness){o->max_age, o->not_before, o->max_lifetime};
    s->policy = o->policy;
    s->coll_from_ticket = o->coll_from_ticket;
    mk_tdx_ticket_class(&s->class_id);

    if (mk_tdx_verifier_new(NULL, &s->verifier, NULL) < 0) goto oom;
    mk_tdx_verifier_set_policy(s->verifier, &s->policy);
    if (o->sim_root) {
        int rc = mk_tdx_verifier_trust_simulator(s->verifier, o->sim_root, o->sim_root_len, err);
        if (rc < 0) {
            mk_error_prefix(err, rc, "TDX validator");
            goto fail;
        }
        s->has_sim_root = true;
        mk_sha256(o->sim_root, o->sim_root_len, s->sim_root_hash);
    }
    if (o->has_fetch) {
        s->has_fetch = true;
        int rc = mk_tdx_verifier_set_fetch(s->verifier, &o->fetch);
        if (rc < 0) {
            mk_error_set(err, rc, "TDX validator: cannot configure the collateral fetcher");
            goto fail;
        }
    }
    if (o->static_coll) {
        int rc =
            mk_tdx_collateral_from_bundle(o->static_coll, o->static_coll_len, &s->static_coll, err);
        if (rc < 0) {
            mk_error_prefix(err, rc, "TDX validator: static collateral");
            goto fail;
        }
    }
    if (compute_signature(s) < 0) goto oom;
    mk_validator *v = NULL;
    if (mk_validator_new(&tdx_ops, s, &v) < 0) goto oom;
    return v;
oom:
    mk_error_set(err, MK_ENOMEM, "out of memory");
fail:
    state_free(s);
    return NULL;
}

/* The spec's fields over a shallow copy of its base (the copy only lends
 * the base's arrays to mk_tdx_validator_new, which copies them). */
mk_validator *mk_tdx_spec_factory(const void *arg, mk_error *err) {
    const mk_tdx_spec *sp = arg;
    if (!sp) {
        mk_error_set(err, MK_EINVAL, "tdx spec: none");
        return NULL;
    }
    mk_tdx_validator_opts o;
    if (sp->opts) {
        o = *sp->opts;
    } else {
        memset(&o, 0, sizeof o);
        mk_tdx_policy_default(&o.policy);
        o.coll_from_ticket = true;
    }
    if (sp->mrtd && mk_tdx_criteria_require_mrtd_hex(&o.baseline, sp->mrtd, err) < 0) {
        mk_error_prefix(err, MK_EINVAL, "tdx spec: mrtd");
        return NULL;
    }
    for (unsigned i = 0; i < 4; i++)
        if (sp->rtmr[i] && mk_tdx_criteria_require_rtmr_hex(&o.baseline, i, sp->rtmr[i], err) < 0) {
            mk_error_prefix(err, MK_EINVAL, "tdx spec: rtmr%u", i);
            return NULL;
        }
    if (sp->sim_root) {
        o.sim_root = (uint8_t *)sp->sim_root; /* read only */
        o.sim_root_len = sp->sim_root_len;
    }
    if (sp->max_age) mk_tdx_validator_opts_max_age(&o, sp->max_age);
    if (sp->max_lifetime) mk_tdx_validator_opts_max_lifetime(&o, sp->max_lifetime);
    return mk_tdx_validator_new(&o, err);
}
