/*
 * tee/snp/report.c — the SEV-SNP ATTESTATION_REPORT structure, TCB_VERSION
 * layouts and product names.
 *
 * Layout (AMD SEV-SNP Firmware ABI, "ATTESTATION_REPORT Structure"; all
 * integers little-endian; 0x4A0 = 1184 bytes for every version):
 *
 *   0x000 version u32         0x004 guest_svn u32      0x008 policy u64
 *   0x010 family_id 16        0x020 image_id 16        0x030 vmpl u32
 *   0x034 signature_algo u32  0x038 current_tcb u64    0x040 platform_info u64
 *   0x048 signer flags u32 (bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY,
 *         bits 4:2 SIGNING_KEY)                        0x04C reserved 4
 *   0x050 report_data 64      0x090 measurement 48     0x0C0 host_data 32
 *   0x0E0 id_key_digest 48    0x110 author_key_digest 48
 *   0x140 report_id 32        0x160 report_id_ma 32    0x180 reported_tcb u64
 *   0x188 cpuid fam, mod, step (v3+; reserved in v2)   0x18B reserved 21
 *   0x1A0 chip_id 64          0x1E0 committed_tcb u64
 *   0x1E8 current build, minor, major, reserved
 *   0x1EC committed build, minor, major, reserved      0x1F0 launch_tcb u64
 *   0x1F8 launch_mit_vector u64, 0x200 current_mit_vector u64 (v5+; reserved
 *         before)                                     0x208 reserved
 *   0x2A0 signature: r (72 bytes, little-endian), s (72), reserved 368
 *
 * The signature covers [0, 0x2A0). The parser reads every field through
 * the bounds-checked reader, in offset order, after checking the exact
 * length. Version gating follows the firmware's report format, not the
 * product: v2 (Milan firmware before 1.55), v3 (adds CPUID), v5 (adds the
 * mitigation vectors). Version 4 has no public layout and is refused, as
 * are 0, 1 and anything above 5.
 *
 * Reserved bytes inside the signed range are not interpreted (they are
 * signed, so a later firmware's meaning for them cannot be forged), except
 * that reserved platform_info bits are reported as they are. The reserved
 * tail of the signature is unsigned and must be zero, so that one signed
 * report has exactly one encoding.
 */
#include <string.h>
#include <strings.h>

#include "tee/snp/snp_internal.h"

#define SIG_OFFSET MK_SNP_SIGNED_LEN
#define SIG_FIELD 72

const char *mk_snp_product_name(mk_snp_product p) {
    switch (p) {
    case MK_SNP_MILAN:
        return "Milan";
    case MK_SNP_GENOA:
        return "Genoa";
    case MK_SNP_TURIN:
        return "Turin";
    default:
        return "unknown";
    }
}

int mk_snp_product_parse(const char *name, mk_snp_product *out) {
    static const mk_snp_product all[] = {MK_SNP_MILAN, MK_SNP_GENOA, MK_SNP_TURIN};
    if (!name || !out) return MK_EINVAL;
    size_t n = strcspn(name, "-");
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *s = mk_snp_product_name(all[i]);
        if (n == strlen(s) && strncasecmp(name, s, n) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return MK_EINVAL;
}

const char *mk_snp_signing_key_name(mk_snp_signing_key k) {
    switch (k) {
    case MK_SNP_KEY_VCEK:
        return "vcek";
    case MK_SNP_KEY_VLEK:
        return "vlek";
    case MK_SNP_KEY_NONE:
        return "none";
    default:
        return "reserved";
    }
}

mk_snp_product mk_snp_product_from_cpuid(uint8_t family, uint8_t model) {
    if (family == 0x19) {
        if (model <= 0x0f) return MK_SNP_MILAN;
        if ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf))
            return MK_SNP_GENOA;
    } else if (family == 0x1a) {
        if (model <= 0x11) return MK_SNP_TURIN;
    }
    return MK_SNP_PRODUCT_UNKNOWN;
}

void mk_snp_tcb_decode(uint64_t raw, mk_snp_product p, mk_snp_tcb *out) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(raw >> (8 * i));
    memset(out, 0, sizeof *out);
    if (p == MK_SNP_TURIN) {
        out->fmc = b[0];
        out->bootloader = b[1];
        out->tee = b[2];
        out->snp = b[3];
    } else {
        out->bootloader = b[0];
        out->tee = b[1];
        out->snp = b[6];
    }
    out->microcode = b[7];
}

uint64_t mk_snp_tcb_encode(const mk_snp_tcb *t, mk_snp_product p) {
    uint8_t b[8] = {0};
    if (p == MK_SNP_TURIN) {
        b[0] = t->fmc;
        b[1] = t->bootloader;
        b[2] = t->tee;
        b[3] = t->snp;
    } else {
        b[0] = t->bootloader;
        b[1] = t->tee;
        b[6] = t->snp;
    }
    b[7] = t->microcode;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* Fields 0x000 .. 0x180 (every version has them). */
static int read_head(mk_reader *rd, mk_snp_report *r) {
    MK_TRY(mk_read_u32le(rd, &r->version));
    MK_TRY(mk_read_u32le(rd, &r->guest_svn));
    MK_TRY(mk_read_u64le(rd, &r->policy));
    MK_TRY(mk_read_bytes(rd, r->family_id, 16));
    MK_TRY(mk_read_bytes(rd, r->image_id, 16));
    MK_TRY(mk_read_u32le(rd, &r->vmpl));
    MK_TRY(mk_read_u32le(rd, &r->signature_algo));
    MK_TRY(mk_read_u64le(rd, &r->current_tcb));
    MK_TRY(mk_read_u64le(rd, &r->platform_info));
    MK_TRY(mk_read_u32le(rd, &r->flags));
    MK_TRY(mk_read_skip(rd, 4));
    MK_TRY(mk_read_bytes(rd, r->report_data, 64));
    MK_TRY(mk_read_bytes(rd, r->measurement, 48));
    MK_TRY(mk_read_bytes(rd, r->host_data, 32));
    MK_TRY(mk_read_bytes(rd, r->id_key_digest, 48));
    MK_TRY(mk_read_bytes(rd, r->author_key_digest, 48));
    MK_TRY(mk_read_bytes(rd, r->report_id, 32));
    MK_TRY(mk_read_bytes(rd, r->report_id_ma, 32));
    return mk_read_u64le(rd, &r->reported_tcb);
}

static int read_fw(mk_reader *rd, mk_snp_fw_version *v) {
    MK_TRY(mk_read_u8(rd, &v->build));
    MK_TRY(mk_read_u8(rd, &v->minor));
    MK_TRY(mk_read_u8(rd, &v->major));
    return mk_read_skip(rd, 1);
}

/* Fields 0x188 .. 0x2A0, gated by version. */
static int read_tail(mk_reader *rd, mk_snp_report *r) {
    if (r->version >= 3) {
        r->has_cpuid = true;
        MK_TRY(mk_read_u8(rd, &r->cpuid_fam_id));
        MK_TRY(mk_read_u8(rd, &r->cpuid_mod_id));
        MK_TRY(mk_read_u8(rd, &r->cpuid_step));
        MK_TRY(mk_read_skip(rd, 21));
        r->cpuid_product = mk_snp_product_from_cpuid(r->cpuid_fam_id, r->cpuid_mod_id);
    } else {
        MK_TRY(mk_read_skip(rd, 24));
    }
    MK_TRY(mk_read_bytes(rd, r->chip_id, 64));
    MK_TRY(mk_read_u64le(rd, &r->committed_tcb));
    MK_TRY(read_fw(rd, &r->current));
    MK_TRY(read_fw(rd, &r->committed));
    MK_TRY(mk_read_u64le(rd, &r->launch_tcb));
    if (r->version >= 5) {
        r->has_mit_vectors = true;
        MK_TRY(mk_read_u64le(rd, &r->launch_mit_vector));
        MK_TRY(mk_read_u64le(rd, &r->current_mit_vector));
        return mk_read_skip(rd, 152);
    }
    return mk_read_skip(rd, 168);
}

static bool all_zero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* The header fields that decide whether the rest can be read at all. */
static int check_header(const mk_snp_report *r, mk_error *err) {
    if (r->version != 2 && r->version != 3 && r->version != 5)
        return mk_error_set(err, MK_EUNSUPPORTED, "report version %u is not supported (2, 3 or 5)",
                            r->version);
    if (r->signature_algo != MK_SNP_SIG_ALGO_ECDSA_P384_SHA384)
        return mk_error_set(err, MK_EUNSUPPORTED,
                            "signature algorithm %u is not supported (1 = ECDSA P-384 with "
                            "SHA-384)",
                            r->signature_algo);
    if (r->signing_key == MK_SNP_KEY_NONE || r->mask_chip_key)
        return mk_error_set(err, MK_EUNSUPPORTED, "report is not signed (signing key %s%s)",
                            mk_snp_signing_key_name(r->signing_key),
                            r->mask_chip_key ? ", MASK_CHIP_KEY set" : "");
    if (r->signing_key != MK_SNP_KEY_VCEK && r->signing_key != MK_SNP_KEY_VLEK)
        return mk_error_set(err, MK_EUNSUPPORTED, "signing key %u is reserved (0 VCEK, 1 VLEK)",
                            (unsigned)r->signing_key);
    return 0;
}

int mk_snp_report_parse(const uint8_t *data, size_t len, mk_snp_report *r, mk_error *err) {
    if (!r) return MK_EINVAL;
    memset(r, 0, sizeof *r);
    if (!data && len) return mk_error_set(err, MK_EINVAL, "report: no data");
    if (len != MK_SNP_REPORT_LEN)
        return mk_error_set(err, len < MK_SNP_REPORT_LEN ? MK_ETRUNC : MK_ETOOBIG,
                            "report: %zu bytes; an SEV-SNP report is exactly %d bytes", len,
                            MK_SNP_REPORT_LEN);
    mk_reader rd;
    mk_reader_init(&rd, data, len);
    int rc = read_head(&rd, r);
    r->author_key_en = r->flags & 1u;
    r->mask_chip_key = (r->flags >> 1) & 1u;
    r->signing_key = (mk_snp_signing_key)((r->flags >> 2) & 7u);
    /* On a refused header, r keeps the fields read so far (for reports). */
    if (rc == 0 && (rc = check_header(r, err)) < 0) return mk_error_prefix(err, rc, "report");
    if (rc == 0) rc = read_tail(&rd, r);
    if (rc == 0 && mk_reader_offset(&rd) != SIG_OFFSET) rc = MK_EMALFORMED;
    if (rc == 0) rc = mk_read_bytes(&rd, r->signature_r, SIG_FIELD);
    if (rc == 0) rc = mk_read_bytes(&rd, r->signature_s, SIG_FIELD);
    if (rc < 0)
        return mk_error_set(err, rc, "report: cannot read the fields (%s)", mk_strerror(rc));
    const uint8_t *rest = NULL;
    size_t left = mk_reader_remaining(&rd);
    if (mk_read_view(&rd, left, &rest) < 0 || !all_zero(rest, left))
        return mk_error_set(err, MK_EMALFORMED,
                            "report: the reserved bytes after the signature (0x%x..0x%x) are not "
                            "zero",
                            SIG_OFFSET + 2 * SIG_FIELD, MK_SNP_REPORT_LEN);
    r->raw = data;
    return 0;
}
