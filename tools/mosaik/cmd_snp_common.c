/*
 * tools/mosaik/cmd_snp_common.c — what the `mosaik snp` commands share:
 * reading inputs, option values (--at, --min-tcb), failure messages, and
 * reports, certificates and verdicts as JSON.
 *
 * A report file is taken as binary when it has exactly the report's size,
 * else as hex text (optional 0x, whitespace ignored) when it decodes to
 * that size; anything else is handed to the parser as it is, which says
 * why it is not a report. '-' is stdin (cli_read_file). Files are capped (a report file at 64 KiB,
 * a certificate file at MK_SNP_CERT_MAX * 8) so a wrong path cannot make the tool read without
 * bound.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_snp.h"

#define INPUT_MAX (64 * 1024)

int cli_snp_fail(const char *what, const mk_error *err, int code) {
    return cli_fail(code, "%s: %s", what, err->msg[0] ? err->msg : mk_strerror(err->code));
}

/* Hex text (0x, whitespace allowed) decoded into out; false if it is not. */
static bool from_hex(const mk_buf *in, mk_buf *out) {
    mk_buf t;
    mk_buf_init(&t, INPUT_MAX);
    size_t i = 0;
    bool ok = true;
    while (i < in->len && isspace(in->data[i]))
        i++;
    if (i + 1 < in->len && in->data[i] == '0' && (in->data[i + 1] | 0x20) == 'x') i += 2;
    for (; i < in->len && ok; i++)
        if (!isspace(in->data[i]))
            ok = isxdigit(in->data[i]) && mk_buf_append_u8(&t, in->data[i]) == 0;
    ok = ok && t.len > 0 && mk_hex_decode((const char *)t.data, t.len, out, NULL) == 0;
    mk_buf_free(&t);
    return ok;
}

int cli_snp_read(const char *path, bool hex_ok, mk_buf *out, mk_error *err) {
    mk_buf raw;
    mk_buf_init(&raw, INPUT_MAX);
    int rc = cli_read_file(path, hex_ok ? INPUT_MAX : MK_SNP_CERT_MAX * 8, &raw, err);
    if (rc < 0) {
        mk_buf_free(&raw);
        return rc == MK_ETOOBIG ? rc : MK_EIO; /* err: "<path>: <why>" */
    }
    mk_buf dec;
    mk_buf_init(&dec, INPUT_MAX);
    if (hex_ok && raw.len != MK_SNP_REPORT_LEN && from_hex(&raw, &dec) &&
        dec.len == MK_SNP_REPORT_LEN) {
        rc = mk_buf_append(out, dec.data, dec.len);
    } else {
        rc = mk_buf_append(out, raw.data, raw.len);
    }
    mk_buf_free(&dec);
    mk_buf_free(&raw);
    return rc < 0 ? mk_error_set(err, rc, "out of memory") : 0;
}

int cli_snp_parse_time(const char *s, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s && !*end && errno == 0) {
        *out = (int64_t)v;
        return 0;
    }
    if (mk_time_parse_rfc3339(s, strlen(s), out, NULL) == 0) return 0;
    return cli_usage_error("--at wants UNIX seconds or an RFC 3339 time, not '%s'", s);
}

int cli_snp_parse_tcb(const char *s, mk_snp_tcb *out) {
    memset(out, 0, sizeof *out);
    char *copy = strdup(s);
    if (!copy) return cli_usage_error("out of memory");
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '='), *end = NULL;
        long v = eq ? strtol(eq + 1, &end, 10) : -1;
        if (!eq || !eq[1] || *end || v < 0 || v > 255) {
            rc = cli_usage_error("--min-tcb: '%s' is not NAME=0..255", tok);
            break;
        }
        *eq = '\0';
        uint8_t *slot = !strcmp(tok, "bl")      ? &out->bootloader
                        : !strcmp(tok, "tee")   ? &out->tee
                        : !strcmp(tok, "snp")   ? &out->snp
                        : !strcmp(tok, "ucode") ? &out->microcode
                        : !strcmp(tok, "fmc")   ? &out->fmc
                                                : NULL;
        if (!slot)
            rc = cli_usage_error("--min-tcb: unknown component '%s' (bl, tee, snp, ucode, fmc)",
                                 tok);
        else
            *slot = (uint8_t)v;
    }
    free(copy);
    return rc;
}

json_t *cli_snp_jhex(const uint8_t *d, size_t n) {
    char *h = malloc(2 * n + 1);
    if (!h) return json_null();
    mk_hex_encode(d, n, h);
    json_t *s = json_string(h);
    free(h);
    return s ? s : json_null();
}

json_t *cli_snp_jtcb(const mk_snp_tcb *t, mk_snp_product p) {
    json_t *o = json_object();
    if (p == MK_SNP_TURIN) json_object_set_new(o, "fmc", json_integer(t->fmc));
    json_object_set_new(o, "bootloader", json_integer(t->bootloader));
    json_object_set_new(o, "tee", json_integer(t->tee));
    json_object_set_new(o, "snp", json_integer(t->snp));
    json_object_set_new(o, "microcode", json_integer(t->microcode));
    return o;
}

static json_t *jfw(const mk_snp_fw_version *v) {
    char s[16];
    snprintf(s, sizeof s, "%u.%u.%u", v->major, v->minor, v->build);
    return json_string(s);
}

static json_t *jpolicy(uint64_t p, uint32_t vmpl) {
    json_t *o = json_object();
    char h[24];
    snprintf(h, sizeof h, "0x%llx", (unsigned long long)p);
    json_object_set_new(o, "raw", json_string(h));
    snprintf(h, sizeof h, "%u.%u", MK_SNP_POLICY_ABI_MAJOR(p), MK_SNP_POLICY_ABI_MINOR(p));
    json_object_set_new(o, "abi", json_string(h));
    json_object_set_new(o, "smt", json_boolean(p & MK_SNP_POLICY_SMT));
    json_object_set_new(o, "migrate_ma", json_boolean(p & MK_SNP_POLICY_MIGRATE_MA));
    json_object_set_new(o, "debug", json_boolean(p & MK_SNP_POLICY_DEBUG));
    json_object_set_new(o, "single_socket", json_boolean(p & MK_SNP_POLICY_SINGLE_SOCKET));
    json_object_set_new(o, "vmpl", json_integer(vmpl)); /* the report's, beside its policy */
    return o;
}

void cli_snp_describe_report(json_t *o, const mk_snp_report *r, mk_snp_product p) {
    if (p == MK_SNP_PRODUCT_UNKNOWN) p = r->cpuid_product;
    mk_snp_tcb t;
    json_object_set_new(o, "version", json_integer(r->version));
    json_object_set_new(o, "product", p ? json_string(mk_snp_product_name(p)) : json_null());
    json_object_set_new(o, "signing_key", json_string(mk_snp_signing_key_name(r->signing_key)));
    json_object_set_new(o, "measurement", cli_snp_jhex(r->measurement, 48));
    mk_snp_tcb_decode(r->reported_tcb, p, &t);
    json_object_set_new(o, "reported_tcb", cli_snp_jtcb(&t, p));
    mk_snp_tcb_decode(r->current_tcb, p, &t);
    json_object_set_new(o, "current_tcb", cli_snp_jtcb(&t, p));
    json_object_set_new(o, "policy", jpolicy(r->policy, r->vmpl));
    json_object_set_new(o, "vmpl", json_integer(r->vmpl));
    json_object_set_new(o, "guest_svn", json_integer(r->guest_svn));
    json_object_set_new(o, "report_data", cli_snp_jhex(r->report_data, 64));
    json_object_set_new(o, "host_data", cli_snp_jhex(r->host_data, 32));
    json_object_set_new(o, "id_key_digest", cli_snp_jhex(r->id_key_digest, 48));
    json_object_set_new(o, "author_key_digest", cli_snp_jhex(r->author_key_digest, 48));
    json_object_set_new(o, "family_id", cli_snp_jhex(r->family_id, 16));
    json_object_set_new(o, "image_id", cli_snp_jhex(r->image_id, 16));
    char h[24];
    snprintf(h, sizeof h, "0x%llx", (unsigned long long)r->platform_info);
    json_object_set_new(o, "platform_info", json_string(h));
    json_object_set_new(o, "chip_id", cli_snp_jhex(r->chip_id, 64));
    json_object_set_new(o, "firmware", jfw(&r->current));
    json_object_set_new(o, "committed_firmware", jfw(&r->committed));
    if (r->has_cpuid) {
        snprintf(h, sizeof h, "%02x/%02x/%02x", r->cpuid_fam_id, r->cpuid_mod_id, r->cpuid_step);
        json_object_set_new(o, "cpuid", json_string(h));
    }
}

json_t *cli_snp_describe_cert(const mk_snp_cert_info *ci) {
    json_t *o = json_object();
    char a[MK_RFC3339_LEN], b[MK_RFC3339_LEN];
    json_object_set_new(o, "kind", json_string(mk_snp_signing_key_name(ci->kind)));
    json_object_set_new(o, "product_name", json_string(ci->product_name));
    json_object_set_new(o, "struct_version", json_integer(ci->struct_version));
    json_object_set_new(o, "tcb", cli_snp_jtcb(&ci->tcb, ci->has_fmc ? MK_SNP_TURIN : 0));
    if (ci->hwid_len) json_object_set_new(o, "hwid", cli_snp_jhex(ci->hwid, ci->hwid_len));
    if (ci->csp_id[0]) json_object_set_new(o, "csp_id", json_string(ci->csp_id));
    mk_time_format_rfc3339(ci->not_before, a);
    mk_time_format_rfc3339(ci->not_after, b);
    json_object_set_new(o, "not_before", json_string(a));
    json_object_set_new(o, "not_after", json_string(b));
    return o;
}

static void print_value(const char *indent, const char *k, json_t *v) {
    if (json_is_string(v)) {
        printf("%s%s: %s\n", indent, k, json_string_value(v));
        return;
    }
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    printf("%s%s: %s\n", indent, k, s ? s : "?");
    free(s);
}

void cli_snp_emit(json_t *o, bool json) {
    if (json) {
        cli_emit(o); /* the one object of the run (cli.c) */
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!json_is_object(v)) {
            print_value("", k, v);
            continue;
        }
        printf("%s:\n", k);
        const char *k2;
        json_t *v2;
        json_object_foreach(v, k2, v2) print_value("  ", k2, v2);
    }
}
