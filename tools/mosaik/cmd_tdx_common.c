/*
 * tools/mosaik/cmd_tdx_common.c — reading the inputs of the `mosaik tdx`
 * commands (and of `mosaik node --trust-sim-root`).
 *
 * Every file may be '-' (stdin, cli_input.c).
 * A quote or ticket file is binary, or hex text: it is taken as hex when,
 * after leading whitespace and an optional 0x, every byte is a hex digit or
 * whitespace; otherwise its bytes are used as they are. Collateral is a
 * bundle JSON file, or a directory holding the PCS responses under fixed
 * names (a missing file is passed to the library as absent, which decides
 * what it needs). A trusted simulator root is a simulator state file or a
 * certificate (PEM or DER); either way the caller gets the root's DER.
 * Every file is read with a cap on its size. Also here: the option loop of
 * the commands that take one FILE and no option with logic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cmd_tdx.h"

#define INPUT_MAX (1u << 20)

bool cli_tdx_is_zstd(const uint8_t *d, size_t n) {
    return n >= 4 && d[0] == 0x28 && d[1] == 0xb5 && d[2] == 0x2f && d[3] == 0xfd;
}

/* path into b (initialised here, capped at max); b is freed on failure. */
static int read_capped(const char *path, size_t max, mk_buf *b, mk_error *err) {
    mk_buf_init(b, max);
    int rc = cli_read_file(path, max, b, err);
    if (rc < 0) mk_buf_free(b);
    return rc;
}

/* A quote file: binary, or hex text (optional 0x, whitespace tolerated). */
int cli_tdx_read_input(const char *path, mk_buf *out, mk_error *err) {
    mk_buf raw;
    int rc = read_capped(path, INPUT_MAX, &raw, err);
    if (rc < 0) return rc;
    /* Hex if every byte is a hex digit or whitespace (after a 0x). */
    mk_buf compact;
    mk_buf_init(&compact, INPUT_MAX);
    bool hex = raw.len > 0;
    size_t i = 0;
    while (i < raw.len && raw.data[i] && strchr(" \t\r\n", raw.data[i]))
        i++;
    if (i + 1 < raw.len && raw.data[i] == '0' && (raw.data[i + 1] == 'x' || raw.data[i + 1] == 'X'))
        i += 2;
    for (; hex && i < raw.len; i++) {
        uint8_t c = raw.data[i];
        if (strchr(" \t\r\n", c) && c) continue;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            hex = false;
        else
            mk_buf_append_u8(&compact, c);
    }
    if (hex && compact.len > 0) {
        rc = mk_hex_decode((const char *)compact.data, compact.len, out, err);
        if (rc < 0) mk_error_prefix(err, rc, "%s: hex", path);
    } else {
        rc = mk_buf_append(out, raw.data, raw.len);
    }
    mk_buf_free(&compact);
    mk_buf_free(&raw);
    return rc;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int read_opt_file(const char *dir, const char *name, size_t max, mk_buf *b, bool *found,
                         mk_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    *found = stat(path, &st) == 0;
    if (!*found) return 0;
    int rc = mk_file_read(path, max, b, err);
    if (rc == 0) rc = mk_buf_append_u8(b, 0) < 0 ? MK_ENOMEM : 0;
    if (rc == 0) b->len--; /* keep the NUL outside len */
    return rc;
}

/* Collateral: a bundle JSON file, or a directory of PCS responses (see
 * docs/tdx-tickets.md: tcb_info.json, tcb_info_issuer_chain.pem,
 * qe_identity.json, qe_identity_issuer_chain.pem, pck_crl.der,
 * pck_crl_issuer_chain.pem, root_ca_crl.der). */
int cli_tdx_load_collateral(const char *path, mk_tdx_collateral **out, mk_error *err) {
    if (cli_is_stdin(path) || !is_dir(path)) {
        mk_buf b;
        int rc = read_capped(path, MK_TDX_COLLATERAL_MAX * 4, &b, err);
        if (rc == 0) {
            rc = mk_tdx_collateral_from_bundle((const char *)b.data, b.len, out, err);
            mk_buf_free(&b);
        }
        if (rc < 0) mk_error_prefix(err, rc, "%s", path);
        return rc;
    }
    static const char *names[7] = {"tcb_info.json",    "tcb_info_issuer_chain.pem",
                                   "qe_identity.json", "qe_identity_issuer_chain.pem",
                                   "pck_crl.der",      "pck_crl_issuer_chain.pem",
                                   "root_ca_crl.der"};
    mk_buf f[7];
    bool found[7];
    int rc = 0;
    for (int i = 0; i < 7; i++)
        mk_buf_init(&f[i], MK_TDX_COLLATERAL_MAX);
    for (int i = 0; i < 7 && rc == 0; i++)
        rc = read_opt_file(path, names[i], MK_TDX_COLLATERAL_MAX, &f[i], &found[i], err);
    if (rc == 0) {
        mk_tdx_pcs_responses r;
        memset(&r, 0, sizeof r);
#define S(i) (found[i] ? (const char *)f[i].data : NULL)
        r.tcb_info_body = S(0);
        r.tcb_info_len = f[0].len;
        r.tcb_info_issuer_chain = S(1);
        r.qe_identity_body = S(2);
        r.qe_identity_len = f[2].len;
        r.qe_identity_issuer_chain = S(3);
        r.pck_crl = found[4] ? f[4].data : NULL;
        r.pck_crl_len = f[4].len;
        r.pck_crl_issuer_chain = S(5);
        r.root_ca_crl = found[6] ? f[6].data : NULL;
        r.root_ca_crl_len = f[6].len;
#undef S
        rc = mk_tdx_collateral_from_pcs(&r, out, err);
    }
    for (int i = 0; i < 7; i++)
        mk_buf_free(&f[i]);
    if (rc < 0) mk_error_prefix(err, rc, "%s", path);
    return rc;
}

/* --trust-sim-root of `tdx verify` and `node` (cli.h): first as a simulator
 * state file; failing that, as a certificate, PEM when it has a PEM header,
 * else DER, re-encoded as DER. */
int cli_tdx_load_sim_root(const char *path, mk_buf *out, mk_error *err) {
    mk_tdx_sim *sim = NULL;
    mk_error e2;
    mk_error_clear(&e2);
    const char *file = cli_input_path(path, err);
    if (!file) return err->code;
    if (mk_tdx_sim_load(file, &sim, &e2) == 0) {
        const uint8_t *der;
        size_t len;
        mk_tdx_sim_root_der(sim, &der, &len);
        int rc = mk_buf_append(out, der, len);
        mk_tdx_sim_free(sim);
        return rc;
    }
    mk_buf b;
    int rc = read_capped(path, MK_TDX_CERT_DATA_MAX, &b, err);
    if (rc < 0) return rc;
    X509 *x = NULL;
    if (b.len > 10 && memmem(b.data, b.len, "-----BEGIN", 10)) {
        BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
        if (bio) x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else {
        const unsigned char *p = b.data;
        x = d2i_X509(NULL, &p, (long)b.len);
    }
    mk_buf_free(&b);
    if (!x)
        return mk_error_set(err, MK_EMALFORMED,
                            "%s: neither a simulator state file (%s) nor a certificate", path,
                            e2.msg);
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    X509_free(x);
    if (n <= 0) return mk_error_set(err, MK_ECRYPTO, "%s: cannot encode the certificate", path);
    rc = mk_buf_append(out, der, (size_t)n);
    OPENSSL_free(der);
    return rc;
}

int cli_tdx_one_file(int argc, char **argv, const cli_opt *opts, void (*usage)(FILE *f),
                     const char *what) {
    char expect[128];
    snprintf(expect, sizeof expect, "%s: expected one FILE", what);
    return cli_args(argc, argv, opts, usage, 1, expect);
}
