/*
 * tee/snp/certtable.c — the SEV-SNP certificate table: what a host hands a
 * guest beside its report (configfs-tsm's auxblob, the certificate buffer
 * of SNP_GET_EXT_REPORT), as the GHCB specification's MSG_REPORT_REQ
 * defines it:
 *
 *   entry[0] .. entry[n-1], then one all-zero entry (the terminator), then
 *   the certificates; each entry is 24 bytes:
 *     guid[16]     which certificate (RFC 4122 byte order, no swapping)
 *     offset u32le from the start of the table, past the entries
 *     length u32le
 *
 * GUIDs (AMD's; virtee/sev and go-sev-guest use the same):
 *   c0b406a4-a803-4952-9743-3fb6014cd0ae  ARK
 *   4ab7b379-bbac-4fe4-a02f-05aef327c782  ASK (also the ASVK)
 *   63da758d-e664-4564-adc5-f4b93be8accd  VCEK
 *   a8074bc2-a25a-483e-aae6-39c045a0b8a1  VLEK
 *   92f81bc3-5811-4d3d-97ff-d19f88dc67ea  CRL
 * Other GUIDs are kept as MK_SNP_CERT_OTHER and otherwise ignored.
 *
 * Parsing (mk_snp_cert_table_parse) reads every untrusted byte through
 * mk_reader and refuses, with a reason: a table over
 * MK_SNP_CERT_TABLE_MAX bytes or with more than MK_SNP_CERT_TABLE_ENTRIES
 * entries; no terminator inside the buffer; an entry with an all-zero
 * GUID but a non-zero offset or length (a malformed terminator); an entry
 * of no bytes; an offset inside the entries; an entry reaching past the
 * end (computed without overflow); one of AMD's GUIDs twice. Bytes after
 * the last certificate are allowed (the kernel hands over whole pages).
 * An empty buffer is a table of no entries: the host gave no certificates.
 * Entries point into the caller's buffer.
 *
 * Building (mk_snp_cert_table_build, the simulator's and the tests') writes
 * the same layout with mk_writer, the data right after the terminator.
 *
 * To PEM (mk_snp_cert_table_to_pem, the attester's endorse hook): the leaf
 * the report's signing key names (VCEK or VLEK) first, then the ASK and the
 * ARK when present, each exactly one DER certificate (else refused). The
 * ARK is carried as it came: a verifier uses it only if it is byte for byte
 * the pinned one (chain.c).
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tee/snp/snp_internal.h"

#define ENTRY_LEN 24

static const struct {
    mk_snp_cert_type type;
    const char *name;
    uint8_t guid[16];
} GUIDS[] = {
    {MK_SNP_CERT_ARK,
     "ARK",
     {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0,
      0xae}},
    {MK_SNP_CERT_ASK,
     "ASK",
     {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7,
      0x82}},
    {MK_SNP_CERT_VCEK,
     "VCEK",
     {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac,
      0xcd}},
    {MK_SNP_CERT_VLEK,
     "VLEK",
     {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8,
      0xa1}},
    {MK_SNP_CERT_CRL,
     "CRL",
     {0x92, 0xf8, 0x1b, 0xc3, 0x58, 0x11, 0x4d, 0x3d, 0x97, 0xff, 0xd1, 0x9f, 0x88, 0xdc, 0x67,
      0xea}},
};
#define N_GUIDS (sizeof GUIDS / sizeof GUIDS[0])

const uint8_t *mk_snp_cert_guid(mk_snp_cert_type type) {
    for (size_t i = 0; i < N_GUIDS; i++)
        if (GUIDS[i].type == type) return GUIDS[i].guid;
    return NULL;
}

const char *mk_snp_cert_type_name(mk_snp_cert_type type) {
    for (size_t i = 0; i < N_GUIDS; i++)
        if (GUIDS[i].type == type) return GUIDS[i].name;
    return "other";
}

static mk_snp_cert_type type_of(const uint8_t guid[16]) {
    for (size_t i = 0; i < N_GUIDS; i++)
        if (memcmp(GUIDS[i].guid, guid, 16) == 0) return GUIDS[i].type;
    return MK_SNP_CERT_OTHER;
}

static bool zero16(const uint8_t g[16]) {
    uint8_t acc = 0;
    for (int i = 0; i < 16; i++)
        acc |= g[i];
    return acc == 0;
}

/* The entries up to the terminator, without their data. */
static int read_entries(mk_reader *rd, mk_snp_cert_table *t, mk_error *err) {
    for (;;) {
        uint8_t guid[16];
        uint32_t off, len;
        if (mk_reader_remaining(rd) < ENTRY_LEN)
            return mk_error_set(err, MK_ETRUNC,
                                "certificate table: no terminating entry within its %zu bytes",
                                mk_reader_offset(rd) + mk_reader_remaining(rd));
        MK_TRY(mk_read_bytes(rd, guid, 16));
        MK_TRY(mk_read_u32le(rd, &off));
        MK_TRY(mk_read_u32le(rd, &len));
        if (zero16(guid)) {
            if (off || len)
                return mk_error_set(err, MK_EMALFORMED,
                                    "certificate table: entry %zu has a zero GUID but offset %u, "
                                    "length %u",
                                    t->n + 1, off, len);
            return 0;
        }
        if (t->n == MK_SNP_CERT_TABLE_ENTRIES)
            return mk_error_set(err, MK_ETOOBIG, "certificate table: more than %d entries",
                                MK_SNP_CERT_TABLE_ENTRIES);
        mk_snp_cert_entry *e = &t->e[t->n++];
        memcpy(e->guid, guid, 16);
        e->type = type_of(guid);
        e->offset = off;
        e->len = len;
    }
}

int mk_snp_cert_table_parse(const uint8_t *data, size_t len, mk_snp_cert_table *t, mk_error *err) {
    if (!t || (!data && len)) return mk_error_set(err, MK_EINVAL, "certificate table: no data");
    memset(t, 0, sizeof *t);
    if (len == 0) return 0;
    if (len > MK_SNP_CERT_TABLE_MAX)
        return mk_error_set(err, MK_ETOOBIG, "certificate table: %zu bytes (cap %d)", len,
                            MK_SNP_CERT_TABLE_MAX);
    mk_reader rd;
    mk_reader_init(&rd, data, len);
    int rc = read_entries(&rd, t, err);
    size_t header = mk_reader_offset(&rd);
    unsigned seen = 0;
    for (size_t i = 0; rc == 0 && i < t->n; i++) {
        mk_snp_cert_entry *e = &t->e[i];
        const char *nm = mk_snp_cert_type_name(e->type);
        mk_reader sub;
        if (e->len == 0)
            rc = mk_error_set(err, MK_EMALFORMED, "certificate table: entry %zu (%s) is empty",
                              i + 1, nm);
        else if (e->offset < header)
            rc = mk_error_set(err, MK_EMALFORMED,
                              "certificate table: entry %zu (%s) at offset %zu lies inside the "
                              "%zu bytes of entries",
                              i + 1, nm, e->offset, header);
        else if (e->offset > len || e->len > len - e->offset)
            rc = mk_error_set(err, MK_ETRUNC,
                              "certificate table: entry %zu (%s) of %zu bytes at offset %zu "
                              "reaches past the end (%zu bytes)",
                              i + 1, nm, e->len, e->offset, len);
        else if (e->type != MK_SNP_CERT_OTHER && (seen & (1u << e->type)))
            rc = mk_error_set(err, MK_EMALFORMED, "certificate table: a second %s entry", nm);
        if (rc < 0) break;
        seen |= e->type != MK_SNP_CERT_OTHER ? 1u << e->type : 0;
        mk_reader_init(&sub, data, len);
        if ((rc = mk_read_skip(&sub, e->offset)) == 0) rc = mk_read_view(&sub, e->len, &e->data);
    }
    if (rc < 0) memset(t, 0, sizeof *t);
    return rc;
}

const mk_snp_cert_entry *mk_snp_cert_table_find(const mk_snp_cert_table *t, mk_snp_cert_type type) {
    for (size_t i = 0; t && i < t->n; i++)
        if (t->e[i].type == type) return &t->e[i];
    return NULL;
}

int mk_snp_cert_table_build(const mk_snp_cert_type *types, const uint8_t *const *data,
                            const size_t *lens, size_t n, mk_buf *out, mk_error *err) {
    if (n > MK_SNP_CERT_TABLE_ENTRIES || (n && (!types || !data || !lens)))
        return mk_error_set(err, MK_EINVAL, "certificate table: bad entries");
    size_t header = (n + 1) * ENTRY_LEN, total = header;
    for (size_t i = 0; i < n; i++) {
        if (!mk_snp_cert_guid(types[i]) || !data[i] || !lens[i] || lens[i] > MK_SNP_CERT_TABLE_MAX)
            return mk_error_set(err, MK_EINVAL, "certificate table: bad entry %zu", i + 1);
        total += lens[i];
    }
    if (total > MK_SNP_CERT_TABLE_MAX)
        return mk_error_set(err, MK_ETOOBIG, "certificate table: %zu bytes (cap %d)", total,
                            MK_SNP_CERT_TABLE_MAX);
    mk_buf_reset(out);
    mk_writer w;
    if (mk_writer_init_buf(&w, out, total) < 0)
        return mk_error_set(err, MK_ENOMEM, "out of memory");
    size_t off = header;
    for (size_t i = 0; i < n; i++) {
        mk_write_bytes(&w, mk_snp_cert_guid(types[i]), 16);
        mk_write_u32le(&w, (uint32_t)off);
        mk_write_u32le(&w, (uint32_t)lens[i]);
        off += lens[i];
    }
    mk_write_zeros(&w, ENTRY_LEN);
    for (size_t i = 0; i < n; i++)
        mk_write_bytes(&w, data[i], lens[i]);
    if (mk_writer_status(&w) < 0) return mk_error_set(err, MK_ENOMEM, "certificate table: write");
    return 0;
}

/* One entry's DER certificate appended to out as PEM. */
static int append_pem(const mk_snp_cert_entry *e, mk_buf *out, mk_error *err) {
    X509 *x = mk_tee_x509_from_der(e->data, e->len);
    if (!x)
        return mk_error_set(err, MK_EMALFORMED,
                            "certificate table: the %s entry is not one DER certificate",
                            mk_snp_cert_type_name(e->type));
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n = 0;
    int rc = MK_ENOMEM;
    if (bio && PEM_write_bio_X509(bio, x) == 1 && (n = BIO_get_mem_data(bio, &p)) > 0)
        rc = mk_buf_append(out, p, (size_t)n);
    BIO_free(bio);
    X509_free(x);
    return rc < 0 ? mk_error_set(err, rc, "certificate table: PEM encoding") : 0;
}

int mk_snp_cert_table_to_pem(const uint8_t *data, size_t len, mk_snp_signing_key key, mk_buf *out,
                             mk_error *err) {
    mk_snp_cert_table t;
    MK_TRY(mk_snp_cert_table_parse(data, len, &t, err));
    mk_snp_cert_type leaf = key == MK_SNP_KEY_VLEK ? MK_SNP_CERT_VLEK : MK_SNP_CERT_VCEK;
    const mk_snp_cert_entry *e = mk_snp_cert_table_find(&t, leaf);
    if (!e)
        return mk_error_set(err, MK_ENOTFOUND,
                            "certificate table: no %s for a report signed by a %s",
                            mk_snp_cert_type_name(leaf), mk_snp_cert_type_name(leaf));
    size_t start = out->len;
    int rc = append_pem(e, out, err);
    const mk_snp_cert_type rest[2] = {MK_SNP_CERT_ASK, MK_SNP_CERT_ARK};
    for (int i = 0; rc == 0 && i < 2; i++)
        if ((e = mk_snp_cert_table_find(&t, rest[i]))) rc = append_pem(e, out, err);
    if (rc < 0) out->len = start;
    return rc;
}
