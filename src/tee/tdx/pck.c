/*
 * tee/tdx/pck.c — the SGX extension of a PCK certificate.
 *
 * The extension (OID 1.2.840.113741.1.13.1, Intel's "SGX PCK Certificate
 * and CRL profile") is SEQUENCE OF SEQUENCE { OID, value }:
 *   .1 PPID OCTET STRING(16)         .2 TCB: SEQUENCE OF SEQUENCE { OID, value }
 *        .2.1 .. .2.16 component SVNs INTEGER 0..255
 *        .2.17 PCESVN INTEGER 0..65535,  .2.18 CPUSVN OCTET STRING(16)
 *   .3 PCE-ID OCTET STRING(2)        .4 FMSPC OCTET STRING(6)
 *   .5 SGX type ENUMERATED 0..2      .6 platform instance id OCTET STRING(16)
 *   .7 configuration SEQUENCE (optional, not interpreted)
 *
 * Parsing uses OpenSSL's ASN.1 decoder: d2i_ASN1_SEQUENCE_ANY splits one
 * SEQUENCE level into ASN1_TYPEs (a nested SEQUENCE stays an undecoded
 * string), and we descend explicitly, so the depth is bounded by the code
 * (extension -> entry -> TCB -> TCB entry, four levels). Sizes are capped
 * (PCK_EXT_MAX bytes, PCK_MAX_ENTRIES entries per level); each level must
 * consume its bytes exactly. INTEGERs are decoded as integers (255 is the
 * two content bytes 00 FF) and range-checked. Duplicate fields are refused;
 * unknown OIDs under the SGX arc are ignored (forward compatibility). A
 * missing mandatory field is MK_EMALFORMED naming the field.
 *
 * The field readers (an OCTET STRING of a fixed size, a ranged INTEGER or
 * ENUMERATED) and the lookup of the extension in the leaf (refusing it
 * twice) are tee/asn1.c's.
 *
 * OIDs are compared by their DER content bytes: the arc prefix
 * 1.2.840.113741.1.13.1 is 2A 86 48 86 F8 4D 01 0D 01, followed by one byte
 * per sub-identifier (all are < 128).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "tee/tdx/tdx_internal.h"

#define PCK_EXT_MAX 4096
#define PCK_MAX_ENTRIES 32

static const uint8_t sgx_arc[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};
#define SGX_ARC_LEN sizeof sgx_arc

/* Fields, as bit positions in a "seen" mask. */
enum {
    F_PPID = 1,
    F_TCB = 2,
    F_PCEID = 3,
    F_FMSPC = 4,
    F_SGXTYPE = 5,
    F_PIID = 6,
    F_CONFIG = 7,
};

static const char *top_name(int f) {
    switch (f) {
    case F_PPID:
        return "PPID";
    case F_TCB:
        return "TCB";
    case F_PCEID:
        return "PCE-ID";
    case F_FMSPC:
        return "FMSPC";
    case F_SGXTYPE:
        return "SGX type";
    case F_PIID:
        return "platform instance id";
    case F_CONFIG:
        return "configuration";
    }
    return "?";
}

/* Split one DER SEQUENCE into its elements; exact consumption required. */
static int split_seq(const uint8_t *der, size_t len, STACK_OF(ASN1_TYPE) * *out, const char *what,
                     mk_error *err) {
    *out = NULL;
    if (len == 0 || len > PCK_EXT_MAX)
        return mk_error_set(err, len ? MK_ETOOBIG : MK_EMALFORMED, "%s: bad size %zu", what, len);
    const unsigned char *p = der;
    STACK_OF(ASN1_TYPE) *s = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)len);
    if (!s) {
        ERR_clear_error();
        return mk_error_set(err, MK_EMALFORMED, "%s: not a DER SEQUENCE", what);
    }
    if (p != der + len) {
        sk_ASN1_TYPE_pop_free(s, ASN1_TYPE_free);
        return mk_error_set(err, MK_EMALFORMED, "%s: bytes after the SEQUENCE", what);
    }
    if (sk_ASN1_TYPE_num(s) > PCK_MAX_ENTRIES) {
        sk_ASN1_TYPE_pop_free(s, ASN1_TYPE_free);
        return mk_error_set(err, MK_ETOOBIG, "%s: too many entries", what);
    }
    *out = s;
    return 0;
}

/* An entry SEQUENCE { OID, value }: returns the OID's sub-identifiers after
 * the SGX arc (1 or 2 of them in *sub, count in *nsub; 0 if not under the
 * arc) and the value. The returned pointers live in *entry. */
static int split_entry(const ASN1_TYPE *t, STACK_OF(ASN1_TYPE) * *entry, int sub[2], int *nsub,
                       const ASN1_TYPE **value, const char *what, mk_error *err) {
    *entry = NULL;
    *nsub = 0;
    if (ASN1_TYPE_get(t) != V_ASN1_SEQUENCE)
        return mk_error_set(err, MK_EMALFORMED, "%s: entry is not a SEQUENCE", what);
    const ASN1_STRING *s = t->value.sequence;
    MK_TRY(split_seq(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s), entry, what, err));
    if (sk_ASN1_TYPE_num(*entry) != 2 ||
        ASN1_TYPE_get(sk_ASN1_TYPE_value(*entry, 0)) != V_ASN1_OBJECT) {
        sk_ASN1_TYPE_pop_free(*entry, ASN1_TYPE_free);
        *entry = NULL;
        return mk_error_set(err, MK_EMALFORMED, "%s: entry is not { OID, value }", what);
    }
    const ASN1_OBJECT *oid = sk_ASN1_TYPE_value(*entry, 0)->value.object;
    const unsigned char *od = OBJ_get0_data(oid);
    size_t ol = OBJ_length(oid);
    if (od && ol > SGX_ARC_LEN && ol <= SGX_ARC_LEN + 2 && memcmp(od, sgx_arc, SGX_ARC_LEN) == 0) {
        for (size_t i = SGX_ARC_LEN; i < ol; i++) {
            if (od[i] & 0x80) { /* a multi-byte sub-identifier: not one of ours */
                *nsub = 0;
                break;
            }
            sub[(*nsub)++] = od[i];
        }
    }
    *value = sk_ASN1_TYPE_value(*entry, 1);
    return 0;
}

static int parse_tcb(const ASN1_TYPE *v, mk_tdx_pck_ext *out, mk_error *err) {
    if (!v || ASN1_TYPE_get(v) != V_ASN1_SEQUENCE)
        return mk_error_set(err, MK_EMALFORMED, "TCB: not a SEQUENCE");
    STACK_OF(ASN1_TYPE) *seq = NULL;
    const ASN1_STRING *s = v->value.sequence;
    MK_TRY(split_seq(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s), &seq, "TCB", err));
    uint32_t seen = 0;
    int rc = 0;
    for (int i = 0; i < sk_ASN1_TYPE_num(seq) && rc == 0; i++) {
        STACK_OF(ASN1_TYPE) *e = NULL;
        int sub[2], nsub;
        const ASN1_TYPE *val;
        rc = split_entry(sk_ASN1_TYPE_value(seq, i), &e, sub, &nsub, &val, "TCB", err);
        if (rc < 0) break;
        if (nsub == 2 && sub[0] == 2 && sub[1] >= 1 && sub[1] <= 18) {
            int f = sub[1];
            char name[32];
            if (f <= 16)
                snprintf(name, sizeof name, "TCB component %d", f);
            else
                snprintf(name, sizeof name, "%s", f == 17 ? "PCESVN" : "CPUSVN");
            int64_t x;
            if (seen & (1u << f)) {
                rc = mk_error_set(err, MK_EMALFORMED, "%s: duplicate", name);
            } else if (f <= 16) {
                rc = mk_tee_asn1_uint(val, V_ASN1_INTEGER, 255, &x, name, err);
                if (rc == 0) out->sgx_tcb_comp[f - 1] = (uint8_t)x;
            } else if (f == 17) {
                rc = mk_tee_asn1_uint(val, V_ASN1_INTEGER, 65535, &x, name, err);
                if (rc == 0) out->pcesvn = (uint16_t)x;
            } else {
                rc = mk_tee_asn1_octets(val, out->cpusvn, 16, name, err);
            }
            seen |= 1u << f;
        }
        sk_ASN1_TYPE_pop_free(e, ASN1_TYPE_free);
    }
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    if (rc < 0) return rc;
    for (int f = 1; f <= 18; f++) {
        if (seen & (1u << f)) continue;
        if (f <= 16) return mk_error_set(err, MK_EMALFORMED, "TCB component %d: missing", f);
        return mk_error_set(err, MK_EMALFORMED, "%s: missing", f == 17 ? "PCESVN" : "CPUSVN");
    }
    return 0;
}

int mk_tdx_pck_ext_parse(const uint8_t *der, size_t len, mk_tdx_pck_ext *out, mk_error *err) {
    if (!out) return mk_error_set(err, MK_EINVAL, "no output");
    memset(out, 0, sizeof *out);
    if (!der && len) return mk_error_set(err, MK_EINVAL, "no input");
    mk_tdx_pck_ext x;
    memset(&x, 0, sizeof x);
    STACK_OF(ASN1_TYPE) *top = NULL;
    int rc = split_seq(der, len, &top, "SGX extension", err);
    if (rc < 0) return mk_error_prefix(err, rc, "PCK extension");
    uint32_t seen = 0;
    for (int i = 0; i < sk_ASN1_TYPE_num(top) && rc == 0; i++) {
        STACK_OF(ASN1_TYPE) *e = NULL;
        int sub[2], nsub;
        const ASN1_TYPE *val;
        rc = split_entry(sk_ASN1_TYPE_value(top, i), &e, sub, &nsub, &val, "SGX extension", err);
        if (rc < 0) break;
        if (nsub == 1 && sub[0] >= F_PPID && sub[0] <= F_CONFIG) {
            int f = sub[0];
            int64_t n;
            if (seen & (1u << f)) {
                rc = mk_error_set(err, MK_EMALFORMED, "%s: duplicate", top_name(f));
            } else {
                switch (f) {
                case F_PPID:
                    rc = mk_tee_asn1_octets(val, x.ppid, 16, "PPID", err);
                    break;
                case F_TCB:
                    rc = parse_tcb(val, &x, err);
                    break;
                case F_PCEID:
                    rc = mk_tee_asn1_octets(val, x.pce_id, 2, "PCE-ID", err);
                    break;
                case F_FMSPC:
                    rc = mk_tee_asn1_octets(val, x.fmspc, 6, "FMSPC", err);
                    break;
                case F_SGXTYPE:
                    rc = mk_tee_asn1_uint(val, V_ASN1_ENUMERATED, 2, &n, "SGX type", err);
                    x.sgx_type = (int)n;
                    break;
                case F_PIID:
                    rc = mk_tee_asn1_octets(val, x.platform_instance_id, 16, "platform instance id",
                                            err);
                    x.has_platform_instance_id = rc == 0;
                    break;
                case F_CONFIG:
                    if (!val || ASN1_TYPE_get(val) != V_ASN1_SEQUENCE)
                        rc = mk_error_set(err, MK_EMALFORMED, "configuration: not a SEQUENCE");
                    break;
                }
            }
            seen |= 1u << f;
        }
        sk_ASN1_TYPE_pop_free(e, ASN1_TYPE_free);
    }
    sk_ASN1_TYPE_pop_free(top, ASN1_TYPE_free);
    if (rc == 0) {
        for (int f = F_PPID; f <= F_SGXTYPE; f++)
            if (!(seen & (1u << f))) {
                rc = mk_error_set(err, MK_EMALFORMED, "%s: missing", top_name(f));
                break;
            }
    }
    if (rc < 0) return mk_error_prefix(err, rc, "PCK extension");
    *out = x;
    return 0;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The CA type from the issuer's common name: "Intel SGX PCK Platform CA" or
 * "Intel SGX PCK Processor CA" (the simulator's "mosaik simulated PCK
 * Platform CA" has the same ending). Only the suffix is compared: trust comes
 * from the verified chain, never from this name. */
static int ca_of(const X509_NAME *nm, mk_tdx_pck_ca *ca, mk_error *err) {
    char cn[128] = "";
    int i = nm ? X509_NAME_get_index_by_NID(nm, NID_commonName, -1) : -1;
    if (i >= 0) {
        const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i));
        int l = ASN1_STRING_length(s);
        if (l > 0 && (size_t)l < sizeof cn) memcpy(cn, ASN1_STRING_get0_data(s), (size_t)l);
    }
    if (ends_with(cn, "PCK Platform CA")) {
        *ca = MK_TDX_CA_PLATFORM;
    } else if (ends_with(cn, "PCK Processor CA")) {
        *ca = MK_TDX_CA_PROCESSOR;
    } else {
        for (char *p = cn; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) *p = '?';
        return mk_error_set(err, MK_EUNSUPPORTED,
                            "PCK issuer '%s' is neither the Platform nor the Processor CA", cn);
    }
    return 0;
}

int mk_tdx_pck_from_cert(X509 *leaf, X509 *issuer, mk_tdx_pck_ext *ext, mk_tdx_pck_ca *ca,
                         mk_error *err) {
    if (!leaf || !ext || !ca) return mk_error_set(err, MK_EINVAL, "no PCK certificate");
    const uint8_t *v;
    size_t vl;
    MK_TRY(mk_tee_x509_ext(leaf, sgx_arc, SGX_ARC_LEN, "PCK extension", &v, &vl, err));
    MK_TRY(mk_tdx_pck_ext_parse(v, vl, ext, err));
    const X509_NAME *in = issuer ? X509_get_subject_name(issuer) : X509_get_issuer_name(leaf);
    return ca_of(in, ca, err);
}
