/*
 * tee/snp/sim.c — the SEV-SNP simulator's object: its test PKI, made with
 * the shared simulator PKI (tee/sim_pki.c; EC P-384, ECDSA-SHA384), and
 * its persistence. Reports and the certificate table are sim_report.c's.
 *
 *   "mosaik simulated ARK-Milan"        self-signed, CA, pathlen 1
 *     └─ "mosaik simulated SEV-Milan"   CA, pathlen 0 (the ASK's place)
 *          └─ "mosaik simulated SEV-VCEK"  leaf with AMD's VCEK
 *             extensions (arc 1.3.6.1.4.1.3704.1): structVersion 0,
 *             productName "Milan-B0", blSPL / teeSPL / snpSPL / spl_4..7 /
 *             ucodeSPL of the simulated TCB (DER INTEGERs), hwID = the
 *             simulated chip id (64 raw bytes, as AMD's KDS writes it)
 *
 * Every subject carries O = "mosaik SIMULATED SEV-SNP, not AMD". The chain
 * is ECDSA, AMD's is RSA-PSS: AMD's trust store (RSA-PSS only, pinned ARKs)
 * can never accept it, and a verifier trusts its root only after an
 * explicit call (mk_snp_verifier_trust_simulator), in a store of its own.
 * The chip id is 64 random bytes made at creation; a loaded simulator
 * reads it back from its VCEK's hwID.
 *
 * Invariants: immutable after construction (concurrent reports are safe),
 * reference counted (providers hold references). Persisted as unencrypted
 * PEM in a 0600 file — ARK key, ARK, ASK key, ASK, VCEK key, VCEK — written
 * atomically; a loaded file must chain (ARK self-signed, ASK by the ARK,
 * VCEK by the ASK) with every certificate matching its key.
 * load_or_create writes a private file and link()s it into place, so of
 * several processes exactly one creates the simulator and the others load
 * it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "crypto/ossl.h"
#include "mosaik/clock.h"
#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "tee/snp/snp_internal.h"

#define SIM_ORG "mosaik SIMULATED SEV-SNP, not AMD"
#define SIM_FILE_MAX (64 * 1024)
#define AMD_ARC "1.3.6.1.4.1.3704.1."

void mk_snp_sim_config_init(mk_snp_sim_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
}

void mk_snp_sim_tcb(mk_snp_tcb *out) {
    *out = (mk_snp_tcb){.fmc = 0,
                        .bootloader = MK_SNP_SIM_TCB_BOOTLOADER,
                        .tee = MK_SNP_SIM_TCB_TEE,
                        .snp = MK_SNP_SIM_TCB_SNP,
                        .microcode = MK_SNP_SIM_TCB_MICROCODE};
}

mk_snp_sim *mk_snp_sim_ref(mk_snp_sim *sim) {
    if (sim) atomic_fetch_add(&sim->refs, 1);
    return sim;
}

static void sim_destroy(mk_snp_sim *s) {
    EVP_PKEY_free(s->ark_key);
    EVP_PKEY_free(s->ask_key);
    EVP_PKEY_free(s->vcek_key);
    X509_free(s->ark);
    X509_free(s->ask);
    X509_free(s->vcek);
    free(s->ark_der);
    free(s->chain_pem);
    free(s);
}

void mk_snp_sim_free(mk_snp_sim *sim) {
    if (sim && atomic_fetch_sub(&sim->refs, 1) == 1) sim_destroy(sim);
}

static mk_snp_sim *sim_alloc(void) {
    mk_snp_sim *s = calloc(1, sizeof *s);
    if (s) atomic_init(&s->refs, 1);
    return s;
}

/* ---------------------------------------------------------------- */
/* The PKI                                                           */
/* ---------------------------------------------------------------- */

/* A DER INTEGER 0..255 into out (3 or 4 bytes); its length. */
static size_t der_uint8(uint8_t v, uint8_t out[4]) {
    out[0] = 0x02;
    if (v < 0x80) {
        out[1] = 1;
        out[2] = v;
        return 3;
    }
    out[1] = 2;
    out[2] = 0;
    out[3] = v;
    return 4;
}

X509 *mk_snp_sim_make_vcek(EVP_PKEY *key, const uint8_t chip_id[64], X509 *ask, EVP_PKEY *ask_key,
                           int64_t now) {
    static const uint8_t name[] = {0x16, 8, 'M', 'i', 'l', 'a', 'n', '-', 'B', '0'};
    mk_snp_tcb t;
    mk_snp_sim_tcb(&t);
    const struct {
        const char *arc;
        uint8_t v;
    } spl[] = {{"3.1", t.bootloader},
               {"3.2", t.tee},
               {"3.3", t.snp},
               {"3.4", 0},
               {"3.5", 0},
               {"3.6", 0},
               {"3.7", 0},
               {"3.8", t.microcode}};
    enum { N_SPL = sizeof spl / sizeof spl[0] };
    uint8_t ints[N_SPL + 1][4];
    char oids[N_SPL + 3][40];
    mk_tee_sim_ext ext[N_SPL + 3];
    size_t n = 0;
    snprintf(oids[n], sizeof oids[n], AMD_ARC "1");
    ext[n] = (mk_tee_sim_ext){oids[n], ints[N_SPL], der_uint8(0, ints[N_SPL])};
    n++;
    snprintf(oids[n], sizeof oids[n], AMD_ARC "2");
    ext[n] = (mk_tee_sim_ext){oids[n], name, sizeof name};
    n++;
    for (size_t i = 0; i < N_SPL; i++, n++) {
        snprintf(oids[n], sizeof oids[n], AMD_ARC "%s", spl[i].arc);
        ext[n] = (mk_tee_sim_ext){oids[n], ints[i], der_uint8(spl[i].v, ints[i])};
    }
    snprintf(oids[n], sizeof oids[n], AMD_ARC "4");
    ext[n] = (mk_tee_sim_ext){oids[n], chip_id, MK_SNP_CHIP_ID_LEN};
    n++;
    mk_tee_sim_cert_spec spec = {.kind = MK_TEE_SIM_LEAF,
                                 .cn = "mosaik simulated SEV-VCEK",
                                 .org = SIM_ORG,
                                 .now = now,
                                 .ext = ext,
                                 .n_ext = n};
    return mk_tee_sim_cert(&spec, key, ask, ask_key);
}

/* The derived state: the ARK's DER and the PEM chain. */
static int sim_finish(mk_snp_sim *s, mk_error *err) {
    int n = i2d_X509(s->ark, &s->ark_der);
    if (n <= 0) return mk_error_openssl(err, MK_ECRYPTO, "simulator: ARK encoding");
    s->ark_der_len = (size_t)n;
    s->chain_pem = mk_tee_sim_pem_chain(s->vcek, s->ask, s->ark, &s->chain_pem_len);
    if (!s->chain_pem) return mk_error_set(err, MK_ENOMEM, "simulator: PEM chain");
    return 0;
}

int mk_snp_sim_new(const mk_snp_sim_config *cfg, mk_snp_sim **out, mk_error *err) {
    if (!out) return mk_error_set(err, MK_EINVAL, "simulator: NULL output");
    *out = NULL;
    int64_t now = cfg && cfg->now ? cfg->now : mk_now();
    mk_snp_sim *s = sim_alloc();
    if (!s) return mk_error_set(err, MK_ENOMEM, "simulator: out of memory");
    s->ark_key = mk_tee_sim_keygen("P-384");
    s->ask_key = mk_tee_sim_keygen("P-384");
    s->vcek_key = mk_tee_sim_keygen("P-384");
    int rc;
    if (!s->ark_key || !s->ask_key || !s->vcek_key) {
        rc = mk_error_openssl(err, MK_ECRYPTO, "simulator: key generation");
        goto fail;
    }
    mk_random_bytes(s->chip_id, sizeof s->chip_id);
    mk_tee_sim_cert_spec root = {.kind = MK_TEE_SIM_ROOT,
                                 .cn = "mosaik simulated ARK-Milan",
                                 .org = SIM_ORG,
                                 .pathlen = 1,
                                 .now = now};
    mk_tee_sim_cert_spec ca = {.kind = MK_TEE_SIM_CA,
                               .cn = "mosaik simulated SEV-Milan",
                               .org = SIM_ORG,
                               .pathlen = 0,
                               .now = now};
    s->ark = mk_tee_sim_cert(&root, s->ark_key, NULL, s->ark_key);
    if (s->ark) s->ask = mk_tee_sim_cert(&ca, s->ask_key, s->ark, s->ark_key);
    if (s->ask) s->vcek = mk_snp_sim_make_vcek(s->vcek_key, s->chip_id, s->ask, s->ask_key, now);
    if (!s->vcek) {
        rc = mk_error_openssl(err, MK_ECRYPTO, "simulator: certificate creation");
        goto fail;
    }
    if ((rc = sim_finish(s, err)) < 0) goto fail;
    *out = s;
    return 0;
fail:
    sim_destroy(s);
    return rc;
}

void mk_snp_sim_root_der(const mk_snp_sim *sim, const uint8_t **der, size_t *len) {
    *der = sim->ark_der;
    *len = sim->ark_der_len;
}

void mk_snp_sim_chain_pem(const mk_snp_sim *sim, const char **pem, size_t *len) {
    *pem = sim->chain_pem;
    *len = sim->chain_pem_len;
}

const uint8_t *mk_snp_sim_chip_id(const mk_snp_sim *sim) {
    return sim->chip_id;
}

/* ---------------------------------------------------------------- */
/* Persistence                                                       */
/* ---------------------------------------------------------------- */

int mk_snp_sim_save(const mk_snp_sim *sim, const char *path, mk_error *err) {
    if (!sim || !path) return mk_error_set(err, MK_EINVAL, "simulator save: NULL argument");
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return mk_error_set(err, MK_ENOMEM, "out of memory");
    static const char banner[] =
        "# mosaik SEV-SNP SIMULATOR key material. NOT AMD, NOT real SEV-SNP: test PKI only.\n"
        "# Order: ARK key, ARK, ASK key, ASK, VCEK key, VCEK.\n";
    EVP_PKEY *keys[3] = {sim->ark_key, sim->ask_key, sim->vcek_key};
    X509 *certs[3] = {sim->ark, sim->ask, sim->vcek};
    int ok = BIO_write(bio, banner, (int)sizeof banner - 1) > 0;
    for (int i = 0; ok && i < 3; i++)
        ok = PEM_write_bio_PrivateKey(bio, keys[i], NULL, NULL, 0, NULL, NULL) == 1 &&
             PEM_write_bio_X509(bio, certs[i]) == 1;
    int rc;
    char *data = NULL;
    long n = ok ? BIO_get_mem_data(bio, &data) : 0;
    if (!ok || n <= 0)
        rc = mk_error_openssl(err, MK_ECRYPTO, "simulator save: PEM encoding");
    else
        rc = mk_file_write(path, data, (size_t)n, 0600, err);
    BIO_free_all(bio);
    if (rc < 0) mk_error_prefix(err, rc, "simulator save");
    return rc;
}

/* The keys and certificates of a file, matched and chained. */
static int load_pem(mk_snp_sim *s, const mk_buf *file, const char *path, mk_error *err) {
    BIO *bio = BIO_new_mem_buf(file->data, (int)file->len);
    if (!bio) return mk_error_set(err, MK_ENOMEM, "out of memory");
    EVP_PKEY **keys[3] = {&s->ark_key, &s->ask_key, &s->vcek_key};
    X509 **certs[3] = {&s->ark, &s->ask, &s->vcek};
    static const char *names[3] = {"ARK", "ASK", "VCEK"};
    int rc = 0;
    for (int i = 0; rc == 0 && i < 3; i++) {
        *keys[i] = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        if (!*keys[i] || !EVP_PKEY_is_a(*keys[i], "EC"))
            rc = mk_error_set(err, MK_EMALFORMED, "simulator load: %s: %s key missing", path,
                              names[i]);
        else if (!(*certs[i] = PEM_read_bio_X509(bio, NULL, NULL, NULL)) ||
                 X509_check_private_key(*certs[i], *keys[i]) != 1)
            rc = mk_error_set(err, MK_EMALFORMED,
                              "simulator load: %s: %s certificate missing or not matching its key",
                              path, names[i]);
    }
    BIO_free(bio);
    if (rc == 0 && (X509_verify(s->ark, s->ark_key) != 1 || X509_verify(s->ask, s->ark_key) != 1 ||
                    X509_verify(s->vcek, s->ask_key) != 1))
        rc =
            mk_error_set(err, MK_EMALFORMED, "simulator load: %s: certificates do not chain", path);
    mk_snp_cert_info ci;
    if (rc == 0 &&
        (mk_snp_cert_info_from_x509(s->vcek, &ci, err) < 0 || ci.hwid_len != MK_SNP_CHIP_ID_LEN))
        rc = mk_error_set(err, MK_EMALFORMED, "simulator load: %s: the VCEK has no 64-byte hwID",
                          path);
    if (rc == 0) memcpy(s->chip_id, ci.hwid, MK_SNP_CHIP_ID_LEN);
    return rc;
}

int mk_snp_sim_load(const char *path, mk_snp_sim **out, mk_error *err) {
    if (!path || !out) return mk_error_set(err, MK_EINVAL, "simulator load: NULL argument");
    *out = NULL;
    mk_buf file = MK_BUF_INIT;
    int rc = mk_file_read(path, SIM_FILE_MAX, &file, err);
    if (rc < 0) {
        mk_buf_free(&file);
        return mk_error_prefix(err, rc, "simulator load");
    }
    mk_snp_sim *s = sim_alloc();
    if (!s)
        rc = mk_error_set(err, MK_ENOMEM, "out of memory");
    else if ((rc = load_pem(s, &file, path, err)) == 0)
        rc = sim_finish(s, err);
    mk_buf_wipe_free(&file);
    if (rc < 0) {
        if (s) sim_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int save_state(const void *ctx, const char *tmp, mk_error *err) {
    return mk_snp_sim_save(ctx, tmp, err);
}

int mk_snp_sim_load_or_create(const char *path, const mk_snp_sim_config *cfg, mk_snp_sim **out,
                              mk_error *err) {
    if (!path || !out) return mk_error_set(err, MK_EINVAL, "simulator: NULL argument");
    if (access(path, F_OK) == 0) return mk_snp_sim_load(path, out, err);
    mk_snp_sim *s = NULL;
    MK_TRY(mk_snp_sim_new(cfg, &s, err));
    /* Exactly one racing process creates `path`; the others load it. */
    int rc = mk_tee_sim_publish(path, save_state, s, err);
    if (rc == 0) {
        *out = s;
        return 0;
    }
    mk_snp_sim_free(s);
    return rc == 1 ? mk_snp_sim_load(path, out, err) : rc;
}
