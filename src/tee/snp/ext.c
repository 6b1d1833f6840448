/*
 * tee/snp/ext.c — the AMD extensions of VCEK and VLEK certificates.
 *
 * AMD's key distribution service (KDS spec 57230, tables 11-13; VLEK spec
 * 58369) puts the chip's identity and TCB into X.509 extensions under the
 * arc 1.3.6.1.4.1.3704.1. Each extnValue holds:
 *
 *   .1    structVersion  INTEGER (0 for Milan/Genoa/VLEK, 1 for Turin)
 *   .2    productName    IA5String ("Milan-B0", "Genoa", "Turin", "Milan")
 *   .3.1  blSPL   .3.2 teeSPL   .3.3 snpSPL   .3.8 ucodeSPL   .3.9 fmcSPL
 *   .3.4 … .3.7   reserved SPLs (struct 0 only)          all INTEGER 0..255
 *   .4    hwID           the raw chip id (64 bytes; 8 on Turin) — AMD puts
 *                        no tag around it; an OCTET STRING wrapper
 *                        (04 40 … / 04 08 …) is accepted as well
 *   .5    csp_id         IA5String (VLEK only)
 *
 * Each value is decoded by OpenSSL's DER decoder (d2i_ASN1_TYPE: one value
 * that must fill extnValue exactly, at most 4 KiB) and checked with the
 * shared readers of tee/asn1.c: INTEGERs in 0..255 (OpenSSL refuses
 * non-minimal encodings; negative values are refused), the hwID OCTET
 * STRING of exactly 64 or 8 bytes; strings must be IA5String, printable
 * ASCII within their field's size. A repeated
 * extension is refused (`seen` bit set twice), so a certificate cannot
 * carry two TCB values for one component. What a certificate of each kind
 * needs is checked once all are read (mk_snp_ext_finish): a VCEK has hwID
 * and no csp_id, a VLEK csp_id and no hwID; both have productName and the
 * bl/tee/snp/ucode SPLs; structVersion >= 1 needs fmcSPL.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "tee/snp/snp_internal.h"
#include "tee/tee_internal.h"

#define AMD_ARC "1.3.6.1.4.1.3704.1."

static const char *const EXT_SUFFIX[MK_SNP_EXT_COUNT] = {
    "1", "2", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "3.8", "3.9", "4", "5",
};

static const char *const EXT_NAME[MK_SNP_EXT_COUNT] = {
    "structVersion", "productName", "blSPL",    "teeSPL", "snpSPL", "spl_4",  "spl_5",
    "spl_6",         "spl_7",       "ucodeSPL", "fmcSPL", "hwID",   "csp_id",
};

int mk_snp_ext_lookup(const char *oid) {
    size_t n = strlen(AMD_ARC);
    if (!oid || strncmp(oid, AMD_ARC, n) != 0) return -1;
    for (int i = 0; i < MK_SNP_EXT_COUNT; i++)
        if (!strcmp(oid + n, EXT_SUFFIX[i])) return i;
    return -1;
}

/* One DER value filling v exactly, decoded by OpenSSL (NULL otherwise). */
static ASN1_TYPE *der_one(const uint8_t *v, size_t len) {
    if (!v || len == 0 || len > 4096) return NULL;
    const unsigned char *p = v;
    ASN1_TYPE *t = d2i_ASN1_TYPE(NULL, &p, (long)len);
    if (t && p != v + len) {
        ASN1_TYPE_free(t);
        t = NULL;
    }
    ERR_clear_error();
    return t;
}

static int der_uint8(const uint8_t *v, size_t len, const char *name, uint8_t *out, mk_error *err) {
    ASN1_TYPE *t = der_one(v, len);
    int64_t x = 0;
    int rc = mk_tee_asn1_uint(t, V_ASN1_INTEGER, 255, &x, name, err);
    ASN1_TYPE_free(t);
    if (rc == 0) *out = (uint8_t)x;
    return rc;
}

static int der_ia5(const uint8_t *v, size_t len, const char *name, char *out, size_t cap,
                   mk_error *err) {
    ASN1_TYPE *t = der_one(v, len);
    int rc = 0;
    if (!t || ASN1_TYPE_get(t) != V_ASN1_IA5STRING) {
        rc = MK_EMALFORMED;
    } else {
        const unsigned char *b = ASN1_STRING_get0_data(t->value.ia5string);
        size_t n = (size_t)ASN1_STRING_length(t->value.ia5string);
        if (n == 0 || n >= cap) rc = MK_EMALFORMED;
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (b[i] < 0x20 || b[i] > 0x7e) rc = MK_EMALFORMED;
        if (rc == 0) {
            memcpy(out, b, n);
            out[n] = '\0';
        }
    }
    ASN1_TYPE_free(t);
    if (rc < 0)
        return mk_error_set(err, rc, "%s: want a printable IA5String of 1..%zu characters", name,
                            cap - 1);
    return 0;
}

/* hwID: the raw chip id, as AMD's KDS issues it, or the same bytes in an
 * OCTET STRING. */
static int hwid_decode(const uint8_t *v, size_t len, mk_snp_cert_info *info, mk_error *err) {
    if (len == MK_SNP_CHIP_ID_LEN || len == MK_SNP_TURIN_HWID_LEN) {
        memcpy(info->hwid, v, len);
        info->hwid_len = len;
        return 0;
    }
    ASN1_TYPE *t = der_one(v, len);
    size_t n = len == MK_SNP_CHIP_ID_LEN + 2 ? MK_SNP_CHIP_ID_LEN : MK_SNP_TURIN_HWID_LEN;
    int rc = mk_tee_asn1_octets(t, info->hwid, n, "hwID", err);
    ASN1_TYPE_free(t);
    if (rc == 0) info->hwid_len = n;
    return rc;
}

static uint8_t *spl_slot(mk_snp_ext_id id, mk_snp_cert_info *info) {
    switch (id) {
    case MK_SNP_EXT_BL_SPL:
        return &info->tcb.bootloader;
    case MK_SNP_EXT_TEE_SPL:
        return &info->tcb.tee;
    case MK_SNP_EXT_SNP_SPL:
        return &info->tcb.snp;
    case MK_SNP_EXT_UCODE_SPL:
        return &info->tcb.microcode;
    case MK_SNP_EXT_FMC_SPL:
        return &info->tcb.fmc;
    default:
        return NULL; /* reserved SPLs: decoded, not kept */
    }
}

int mk_snp_ext_decode(mk_snp_ext_id id, const uint8_t *v, size_t len, mk_snp_cert_info *info,
                      unsigned *seen, mk_error *err) {
    if ((int)id < 0 || id >= MK_SNP_EXT_COUNT || !info || !seen || (!v && len))
        return mk_error_set(err, MK_EINVAL, "AMD extension: bad arguments");
    const char *name = EXT_NAME[id];
    if (*seen & (1u << id))
        return mk_error_set(err, MK_EMALFORMED, "AMD extension %s appears twice", name);
    *seen |= 1u << id;
    int rc;
    uint8_t u8 = 0;
    switch (id) {
    case MK_SNP_EXT_STRUCT_VERSION:
        rc = der_uint8(v, len, name, &u8, err);
        info->struct_version = u8;
        break;
    case MK_SNP_EXT_PRODUCT_NAME:
        rc = der_ia5(v, len, name, info->product_name, sizeof info->product_name, err);
        if (rc == 0 && mk_snp_product_parse(info->product_name, &info->product) < 0)
            info->product = MK_SNP_PRODUCT_UNKNOWN;
        break;
    case MK_SNP_EXT_HWID:
        rc = hwid_decode(v, len, info, err);
        break;
    case MK_SNP_EXT_CSP_ID:
        rc = der_ia5(v, len, name, info->csp_id, sizeof info->csp_id, err);
        break;
    default: {
        uint8_t *slot = spl_slot(id, info);
        rc = der_uint8(v, len, name, &u8, err);
        if (rc == 0 && slot) *slot = u8;
        if (id == MK_SNP_EXT_FMC_SPL) info->has_fmc = rc == 0;
        break;
    }
    }
    if (rc < 0)
        return mk_error_prefix(err, MK_EMALFORMED, "AMD extension %s%s (%zu bytes)", AMD_ARC,
                               EXT_SUFFIX[id], len);
    return 0;
}

int mk_snp_ext_finish(unsigned seen, mk_snp_cert_info *info, mk_error *err) {
    bool hw = seen & (1u << MK_SNP_EXT_HWID), csp = seen & (1u << MK_SNP_EXT_CSP_ID);
    if (hw && csp)
        return mk_error_set(err, MK_EMALFORMED,
                            "certificate has both hwID and csp_id (a VCEK or a VLEK, not both)");
    if (!hw && !csp)
        return mk_error_set(err, MK_EMALFORMED,
                            "certificate has neither hwID nor csp_id: not a VCEK or VLEK");
    info->kind = hw ? MK_SNP_KEY_VCEK : MK_SNP_KEY_VLEK;
    static const mk_snp_ext_id need[] = {MK_SNP_EXT_PRODUCT_NAME, MK_SNP_EXT_BL_SPL,
                                         MK_SNP_EXT_TEE_SPL, MK_SNP_EXT_SNP_SPL,
                                         MK_SNP_EXT_UCODE_SPL};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!(seen & (1u << need[i])))
            return mk_error_set(err, MK_EMALFORMED, "%s certificate: %s (%s%s) missing",
                                hw ? "VCEK" : "VLEK", EXT_NAME[need[i]], AMD_ARC,
                                EXT_SUFFIX[need[i]]);
    if (info->struct_version >= 1 && !info->has_fmc)
        return mk_error_set(err, MK_EMALFORMED,
                            "certificate structVersion %d: fmcSPL (%s3.9) missing",
                            info->struct_version, AMD_ARC);
    return 0;
}

int mk_snp_cert_info_from_x509(X509 *x, mk_snp_cert_info *out, mk_error *err) {
    memset(out, 0, sizeof *out);
    if (!x) return mk_error_set(err, MK_EINVAL, "no certificate");
    unsigned seen = 0;
    int n = X509_get_ext_count(x);
    for (int i = 0; i < n; i++) {
        X509_EXTENSION *e = X509_get_ext(x, i);
        char oid[96];
        if (OBJ_obj2txt(oid, sizeof oid, X509_EXTENSION_get_object(e), 1) <= 0) continue;
        int id = mk_snp_ext_lookup(oid);
        if (id < 0) continue;
        const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(e);
        MK_TRY(mk_snp_ext_decode((mk_snp_ext_id)id, ASN1_STRING_get0_data(os),
                                 (size_t)ASN1_STRING_length(os), out, &seen, err));
    }
    MK_TRY(mk_snp_ext_finish(seen, out, err));
    if (mk_tee_x509_window(x, &out->not_before, &out->not_after) < 0)
        return mk_error_set(err, MK_EMALFORMED, "certificate validity is unreadable");
    return 0;
}

int mk_snp_cert_info_read(const uint8_t *data, size_t len, mk_snp_cert_info *out, mk_error *err) {
    if (!out) return MK_EINVAL;
    memset(out, 0, sizeof *out);
    mk_snp_cert_list l = {0};
    int rc = mk_snp_certs_read(data, len, &l, err);
    if (rc == 0 && l.n == 0) rc = mk_error_set(err, MK_EMALFORMED, "no certificate");
    if (rc == 0) rc = mk_snp_cert_info_from_x509(l.cert[0], out, err);
    mk_snp_cert_list_free(&l);
    return rc;
}
