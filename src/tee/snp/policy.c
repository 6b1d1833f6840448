/*
 * tee/snp/policy.c — what a verifier accepts of a report whose signature
 * and chain verified: the policy (mk_snp_policy) and the measurement
 * criteria (mk_snp_criteria).
 *
 * Policy checks, in this order, each with its own reason:
 *   signing key accepted (VCEK / VLEK); guest policy DEBUG (refused unless
 *   allow_debug: the host may decrypt and alter the guest); MIGRATE_MA
 *   (refused unless allow_migration_agent: a migration agent can export
 *   the guest); platform SMT_EN (refused only if !allow_smt); VMPL at most
 *   max_vmpl; reported_tcb at least min_tcb per component (fmc on Turin
 *   only), decoded with the product's layout; current firmware at least
 *   min_firmware (major, minor, then build); the guest policy's ABI
 *   minimum at least min_policy_abi.
 * reported_tcb is the TCB the certificate was checked against (the VCEK's
 * TCB extensions equal it), so the minimum applies to the TCB that AMD's
 * certificate vouches for.
 *
 * Criteria: each field in the mask must be equal (guest_svn: at least);
 * a set is a baseline that must match plus variants of which one must
 * match when any are given (the shared mk_tee_check_variants, whose
 * refusal lists every variant's reason). A variant pinning nothing would
 * make "one must match" vacuous and is refused (MK_EINVAL).
 */
#include <stdio.h>
#include <string.h>

#include "mosaik/encoding.h"
#include "tee/snp/snp_internal.h"
#include "tee/tee_internal.h"

void mk_snp_policy_default(mk_snp_policy *p) {
    memset(p, 0, sizeof *p);
    p->allow_smt = true;
    p->max_vmpl = 3;
    p->accepted_keys = MK_SNP_KEY_BIT(MK_SNP_KEY_VCEK) | MK_SNP_KEY_BIT(MK_SNP_KEY_VLEK);
}

static int check_tcb(const mk_snp_policy *p, const mk_snp_report *r, mk_snp_product prod,
                     mk_error *err) {
    mk_snp_tcb t;
    mk_snp_tcb_decode(r->reported_tcb, prod, &t);
    const struct {
        const char *name;
        uint8_t have, min;
    } c[] = {{"bootloader", t.bootloader, p->min_tcb.bootloader},
             {"tee", t.tee, p->min_tcb.tee},
             {"snp", t.snp, p->min_tcb.snp},
             {"microcode", t.microcode, p->min_tcb.microcode},
             {"fmc", t.fmc, prod == MK_SNP_TURIN ? p->min_tcb.fmc : 0}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        if (c[i].have < c[i].min)
            return mk_error_set(err, MK_EPOLICY, "reported TCB %s SVN %u is below the minimum %u",
                                c[i].name, c[i].have, c[i].min);
    return 0;
}

static int fw_cmp(const mk_snp_fw_version *a, const mk_snp_fw_version *b) {
    if (a->major != b->major) return a->major < b->major ? -1 : 1;
    if (a->minor != b->minor) return a->minor < b->minor ? -1 : 1;
    if (a->build != b->build) return a->build < b->build ? -1 : 1;
    return 0;
}

int mk_snp_policy_check(const mk_snp_policy *p, const mk_snp_report *r, mk_snp_product prod,
                        mk_error *err) {
    if (!(p->accepted_keys & MK_SNP_KEY_BIT(r->signing_key)))
        return mk_error_set(err, MK_EPOLICY, "reports signed by a %s are not accepted",
                            r->signing_key == MK_SNP_KEY_VLEK ? "VLEK" : "VCEK");
    if ((r->policy & MK_SNP_POLICY_DEBUG) && !p->allow_debug)
        return mk_error_set(err, MK_EPOLICY,
                            "debug guest refused (guest policy 0x%llx has DEBUG: the host may "
                            "read and alter its memory); allow_debug / --allow-debug accepts it",
                            (unsigned long long)r->policy);
    if ((r->policy & MK_SNP_POLICY_MIGRATE_MA) && !p->allow_migration_agent)
        return mk_error_set(err, MK_EPOLICY,
                            "guest policy 0x%llx allows a migration agent (MIGRATE_MA)",
                            (unsigned long long)r->policy);
    if ((r->platform_info & MK_SNP_PLATFORM_SMT_EN) && !p->allow_smt)
        return mk_error_set(err, MK_EPOLICY, "SMT is enabled on the host (platform_info 0x%llx)",
                            (unsigned long long)r->platform_info);
    if (r->vmpl > p->max_vmpl)
        return mk_error_set(err, MK_EPOLICY, "report from VMPL %u; at most VMPL %u is accepted",
                            r->vmpl, p->max_vmpl);
    MK_TRY(check_tcb(p, r, prod, err));
    if (fw_cmp(&r->current, &p->min_firmware) < 0)
        return mk_error_set(err, MK_EPOLICY, "firmware %u.%u.%u is below the minimum %u.%u.%u",
                            r->current.major, r->current.minor, r->current.build,
                            p->min_firmware.major, p->min_firmware.minor, p->min_firmware.build);
    unsigned maj = MK_SNP_POLICY_ABI_MAJOR(r->policy), min = MK_SNP_POLICY_ABI_MINOR(r->policy);
    if (maj < p->min_policy_abi_major ||
        (maj == p->min_policy_abi_major && min < p->min_policy_abi_minor))
        return mk_error_set(err, MK_EPOLICY,
                            "the guest policy demands ABI %u.%u, below the minimum %u.%u", maj, min,
                            p->min_policy_abi_major, p->min_policy_abi_minor);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Criteria                                                            */
/* ------------------------------------------------------------------ */

typedef struct field {
    unsigned bit;
    const char *name;
    size_t off_c, off_r, len;
} field;

#define F(bit, name, member)                                                                       \
    {                                                                                              \
        bit, name, offsetof(mk_snp_criteria, member), offsetof(mk_snp_report, member),             \
            sizeof(((mk_snp_report *)0)->member)                                                   \
    }
static const field FIELDS[] = {
    F(MK_SNP_REQ_MEASUREMENT, "measurement", measurement),
    F(MK_SNP_REQ_HOST_DATA, "host_data", host_data),
    F(MK_SNP_REQ_ID_KEY_DIGEST, "id_key_digest", id_key_digest),
    F(MK_SNP_REQ_AUTHOR_KEY_DIGEST, "author_key_digest", author_key_digest),
    F(MK_SNP_REQ_FAMILY_ID, "family_id", family_id),
    F(MK_SNP_REQ_IMAGE_ID, "image_id", image_id),
};
#undef F
#define N_FIELDS (sizeof FIELDS / sizeof FIELDS[0])

static const field *field_of(unsigned bit) {
    for (size_t i = 0; i < N_FIELDS; i++)
        if (FIELDS[i].bit == bit) return &FIELDS[i];
    return NULL;
}

void mk_snp_criteria_init(mk_snp_criteria *c) {
    memset(c, 0, sizeof *c);
}

int mk_snp_criteria_require_hex(mk_snp_criteria *c, unsigned bit, const char *hex, mk_error *err) {
    const field *f = field_of(bit);
    if (!c || !f || !hex) return mk_error_set(err, MK_EINVAL, "criteria: unknown field");
    if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex += 2;
    uint8_t v[48];
    if (strlen(hex) != 2 * f->len || mk_hex_decode_exact(hex, v, f->len, NULL) < 0)
        return mk_error_set(err, MK_EINVAL, "%s: want %zu hex digits", f->name, 2 * f->len);
    memcpy((uint8_t *)c + f->off_c, v, f->len);
    c->mask |= bit;
    return 0;
}

int mk_snp_criteria_require(mk_snp_criteria *c, unsigned bit, const uint8_t *value, size_t len,
                            mk_error *err) {
    const field *f = field_of(bit);
    if (!c || !f || !value) return mk_error_set(err, MK_EINVAL, "criteria: unknown field");
    if (len != f->len)
        return mk_error_set(err, MK_EINVAL, "%s: want %zu bytes, got %zu", f->name, f->len, len);
    memcpy((uint8_t *)c + f->off_c, value, f->len);
    c->mask |= bit;
    return 0;
}

void mk_snp_criteria_require_measurement(mk_snp_criteria *c, const uint8_t v[48]) {
    mk_snp_criteria_require(c, MK_SNP_REQ_MEASUREMENT, v, 48, NULL);
}

void mk_snp_criteria_require_host_data(mk_snp_criteria *c, const uint8_t v[32]) {
    mk_snp_criteria_require(c, MK_SNP_REQ_HOST_DATA, v, 32, NULL);
}

void mk_snp_criteria_require_id_key_digest(mk_snp_criteria *c, const uint8_t v[48]) {
    mk_snp_criteria_require(c, MK_SNP_REQ_ID_KEY_DIGEST, v, 48, NULL);
}

void mk_snp_criteria_require_author_key_digest(mk_snp_criteria *c, const uint8_t v[48]) {
    mk_snp_criteria_require(c, MK_SNP_REQ_AUTHOR_KEY_DIGEST, v, 48, NULL);
}

void mk_snp_criteria_require_family_id(mk_snp_criteria *c, const uint8_t v[16]) {
    mk_snp_criteria_require(c, MK_SNP_REQ_FAMILY_ID, v, 16, NULL);
}

void mk_snp_criteria_require_image_id(mk_snp_criteria *c, const uint8_t v[16]) {
    mk_snp_criteria_require(c, MK_SNP_REQ_IMAGE_ID, v, 16, NULL);
}

void mk_snp_criteria_require_min_guest_svn(mk_snp_criteria *c, uint32_t svn) {
    c->min_guest_svn = svn;
    c->mask |= MK_SNP_REQ_MIN_GUEST_SVN;
}

void mk_snp_criteria_from_report(mk_snp_criteria *c, const mk_snp_report *r, unsigned mask) {
    for (size_t i = 0; i < N_FIELDS; i++) {
        if (!(mask & FIELDS[i].bit)) continue;
        memcpy((uint8_t *)c + FIELDS[i].off_c, (const uint8_t *)r + FIELDS[i].off_r, FIELDS[i].len);
        c->mask |= FIELDS[i].bit;
    }
    if (mask & MK_SNP_REQ_MIN_GUEST_SVN) mk_snp_criteria_require_min_guest_svn(c, r->guest_svn);
}

int mk_snp_criteria_match(const mk_snp_criteria *c, const mk_snp_report *r, mk_error *err) {
    for (size_t i = 0; i < N_FIELDS; i++) {
        const field *f = &FIELDS[i];
        const uint8_t *want = (const uint8_t *)c + f->off_c, *got = (const uint8_t *)r + f->off_r;
        if (!(c->mask & f->bit) || memcmp(want, got, f->len) == 0) continue;
        char w[97], g[97];
        mk_hex_encode(want, f->len, w);
        mk_hex_encode(got, f->len, g);
        return mk_error_set(err, MK_EMISMATCH, "%s mismatch: want %s, got %s", f->name, w, g);
    }
    if ((c->mask & MK_SNP_REQ_MIN_GUEST_SVN) && r->guest_svn < c->min_guest_svn)
        return mk_error_set(err, MK_EMISMATCH, "guest_svn %u is below the minimum %u", r->guest_svn,
                            c->min_guest_svn);
    return 0;
}

static int match_variant(const void *variant, const void *report, mk_error *err) {
    return mk_snp_criteria_match(variant, report, err);
}

int mk_snp_criteria_match_set(const mk_snp_criteria *baseline, const mk_snp_criteria *variants,
                              size_t n, const mk_snp_report *r, mk_error *err) {
    if (baseline) MK_TRY(mk_snp_criteria_match(baseline, r, err));
    if (n == 0) return 0;
    if (!variants) return mk_error_set(err, MK_EINVAL, "criteria: no variants");
    for (size_t i = 0; i < n; i++)
        if (!(variants[i].mask & MK_SNP_REQ_ALL))
            return mk_error_set(err, MK_EINVAL, "criteria: variant %zu pins nothing", i + 1);
    return mk_tee_check_variants(variants, n, sizeof *variants, match_variant, r, err);
}

void mk_snp_criteria_encode(const mk_snp_criteria *c, uint8_t out[MK_SNP_CRITERIA_ENC_LEN]) {
    memset(out, 0, MK_SNP_CRITERIA_ENC_LEN);
    unsigned m = c->mask & MK_SNP_REQ_ALL;
    out[0] = (uint8_t)m;
    size_t at = 1;
    for (size_t i = 0; i < N_FIELDS; i++) {
        if (m & FIELDS[i].bit)
            memcpy(out + at, (const uint8_t *)c + FIELDS[i].off_c, FIELDS[i].len);
        at += FIELDS[i].len;
    }
    uint32_t svn = (m & MK_SNP_REQ_MIN_GUEST_SVN) ? c->min_guest_svn : 0;
    for (int i = 0; i < 4; i++)
        out[at + (size_t)i] = (uint8_t)(svn >> (24 - 8 * i));
}

void mk_snp_policy_encode(const mk_snp_policy *p, mk_buf *b) {
    mk_buf_append_u8(b, p->allow_debug);
    mk_buf_append_u8(b, p->allow_migration_agent);
    mk_buf_append_u8(b, p->allow_smt);
    const uint8_t tcb[5] = {p->min_tcb.fmc, p->min_tcb.bootloader, p->min_tcb.tee, p->min_tcb.snp,
                            p->min_tcb.microcode};
    mk_buf_append(b, tcb, sizeof tcb);
    mk_buf_append_u32be(b, p->max_vmpl);
    const uint8_t fw[5] = {p->min_firmware.major, p->min_firmware.minor, p->min_firmware.build,
                           p->min_policy_abi_major, p->min_policy_abi_minor};
    mk_buf_append(b, fw, sizeof fw);
    mk_buf_append_u32be(b, p->accepted_keys);
    mk_buf_append_u8(b, p->require_crl);
}
