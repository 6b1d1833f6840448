/*
 * rtmr.c — host-stack profiles, the RTMR1/RTMR2 event logs of a direct
 * kernel boot, the registers they give, and their text/JSON rendering.
 *
 * RTMR1 (written by OVMF's TdTcg2Dxe, PCR 4/5 mapped to MrIndex 2):
 *   1. EV_EFI_BOOT_SERVICES_APPLICATION: Authenticode SHA-384 of the kernel
 *      as the firmware receives it (raw, or with QEMU's setup-header patch);
 *   2. EV_EFI_ACTION "Calling EFI Application from Boot Option";
 *   3. EV_SEPARATOR over 00000000, only with edk2 >= stable202411 (before,
 *      that separator went to RTMR0);
 *   4. EV_EFI_ACTION "Exit Boot Services Invocation";
 *   5. EV_EFI_ACTION "Exit Boot Services Returned with Success".
 * Action digests are SHA-384 of the ASCII string without NUL.
 *
 * RTMR2 (written by the Linux EFI stub, PCR 9 → MrIndex 3; Linux >= 6.9):
 *   1. LoadOptions: SHA-384 of the UTF-16LE string OVMF builds from -append
 *      ("initrd=initrd" appended or prepended when an initrd is given; each
 *      byte widened to a CHAR16, plus the terminating NUL CHAR16), only when
 *      the string is non-empty;
 *   2. the initrd bytes (SHA-384), only when an initrd of size > 0 is given.
 *
 * Registers start at 48 zero bytes; extend is reg = SHA-384(reg || digest).
 * MRTD comes from tdvf.c. RTMR0 is not computed.
 *
 * Invariants: inputs are capped (command line MK_TDX_CMDLINE_MAX, kernel
 * MK_TDX_PE_MAX_IMAGE, initrd MK_TDX_INITRD_MAX); *out is written only on success;
 * the event array never exceeds MK_TDX_MAX_EVENTS.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "mosaik/tdx_measure.h"

/* ---- profiles ------------------------------------------------------- */

static const mk_tdx_profile profiles[] = {
    {"qemu-8.2-ovmf-2024.02",
     "Canonical TDX (Ubuntu 24.04 tdx-noble): QEMU 8.2, edk2 2024.02; two-pass MRTD, patched "
     "kernel, no RTMR1 separator",
     MK_TDX_PAGE_ORDER_TWO_PASS, MK_TDX_KERNEL_PATCHED, false, MK_TDX_INITRD_ARG_SUFFIX, true},
    {"qemu-9.2-ovmf-2025.02",
     "Ubuntu 25.04: QEMU 9.2, edk2 2025.02; interleaved MRTD, patched kernel (QEMU < 10.0)",
     MK_TDX_PAGE_ORDER_INTERLEAVED, MK_TDX_KERNEL_PATCHED, true, MK_TDX_INITRD_ARG_SUFFIX, true},
    {"qemu-10.1-ovmf-2024.11",
     "upstream QEMU 10.1 + edk2-stable202411 (no named fw_cfg blobs: patched kernel)",
     MK_TDX_PAGE_ORDER_INTERLEAVED, MK_TDX_KERNEL_PATCHED, true, MK_TDX_INITRD_ARG_SUFFIX, true},
    {"qemu-10.1-ovmf-2025.05",
     "upstream QEMU 10.1 + edk2-stable202505: raw kernel via etc/boot/kernel, suffix "
     "initrd=initrd",
     MK_TDX_PAGE_ORDER_INTERLEAVED, MK_TDX_KERNEL_RAW, true, MK_TDX_INITRD_ARG_SUFFIX, true},
    {"qemu-10.2-ovmf-2025.05",
     "QEMU >= 10.2 (no header patch for confidential guests) + edk2-stable202505",
     MK_TDX_PAGE_ORDER_INTERLEAVED, MK_TDX_KERNEL_RAW, true, MK_TDX_INITRD_ARG_SUFFIX, true},
    {"qemu-10.2-ovmf-2025.08",
     "QEMU >= 10.2 + edk2 >= stable202508 (prefix initrd=initrd, e.g. Ubuntu 26.04)",
     MK_TDX_PAGE_ORDER_INTERLEAVED, MK_TDX_KERNEL_RAW, true, MK_TDX_INITRD_ARG_PREFIX, true},
};

size_t mk_tdx_profile_count(void) {
    return sizeof profiles / sizeof profiles[0];
}

const mk_tdx_profile *mk_tdx_profile_at(size_t i) {
    return i < mk_tdx_profile_count() ? &profiles[i] : NULL;
}

const mk_tdx_profile *mk_tdx_profile_find(const char *name) {
    for (size_t i = 0; name && i < mk_tdx_profile_count(); i++)
        if (strcmp(profiles[i].name, name) == 0) return &profiles[i];
    return NULL;
}

/* ---- registers and events ----------------------------------------- */

void mk_tdx_rtmr_extend(uint8_t reg[MK_TDX_MEASURE_DIGEST_LEN],
                        const uint8_t digest[MK_TDX_MEASURE_DIGEST_LEN]) {
    uint8_t in[2 * MK_TDX_MEASURE_DIGEST_LEN];
    memcpy(in, reg, MK_TDX_MEASURE_DIGEST_LEN);
    memcpy(in + MK_TDX_MEASURE_DIGEST_LEN, digest, MK_TDX_MEASURE_DIGEST_LEN);
    mk_sha384(in, sizeof in, reg);
}

int mk_tdx_load_options(const char *cmdline, bool have_initrd, mk_tdx_initrd_arg arg, mk_buf *out,
                        mk_error *err) {
    const char *c = cmdline ? cmdline : "";
    if (strlen(c) > MK_TDX_CMDLINE_MAX)
        return mk_error_set(err, MK_ETOOBIG, "command line longer than %d bytes",
                            MK_TDX_CMDLINE_MAX);
    int rc;
    if (!have_initrd)
        rc = mk_buf_printf(out, "%s", c);
    else if (arg == MK_TDX_INITRD_ARG_PREFIX)
        rc = mk_buf_printf(out, "initrd=initrd %s", c);
    else if (arg == MK_TDX_INITRD_ARG_SUFFIX)
        rc = mk_buf_printf(out, "%s initrd=initrd", c);
    else
        return mk_error_set(err, MK_EINVAL, "unknown initrd argument placement %d", (int)arg);
    if (rc < 0) return mk_error_set(err, rc, "load options: %s", mk_strerror(rc));
    return 0;
}

int mk_tdx_load_options_digest(const char *load_options, uint8_t out[MK_TDX_MEASURE_DIGEST_LEN],
                               mk_error *err) {
    if (!load_options || !out) return mk_error_set(err, MK_EINVAL, "load options: NULL argument");
    size_t n = strlen(load_options);
    if (n > MK_TDX_CMDLINE_MAX + 32)
        return mk_error_set(err, MK_ETOOBIG, "load options longer than %d bytes",
                            MK_TDX_CMDLINE_MAX + 32);
    mk_hash_ctx *h = mk_hash_new(MK_SHA384);
    if (!h) return mk_error_set(err, MK_ENOMEM, "load options: no hash context");
    int rc = 0;
    uint8_t blk[512];
    size_t fill = 0;
    for (size_t i = 0; i <= n && rc == 0; i++) { /* i == n: the NUL CHAR16 */
        blk[fill++] = i < n ? (uint8_t)load_options[i] : 0;
        blk[fill++] = 0;
        if (fill == sizeof blk || i == n) {
            rc = mk_hash_update(h, blk, fill);
            fill = 0;
        }
    }
    if (rc == 0) rc = mk_hash_final(h, out);
    mk_hash_free(h);
    if (rc < 0) return mk_error_set(err, rc, "load options: hashing failed");
    return 0;
}

static const char ev_calling[] = "Calling EFI Application from Boot Option";
static const char ev_ebs_inv[] = "Exit Boot Services Invocation";
static const char ev_ebs_ok[] = "Exit Boot Services Returned with Success";

static mk_tdx_event *add_event(mk_tdx_measurement *m, unsigned rtmr, uint32_t type,
                               const char *desc) {
    if (m->nevents >= MK_TDX_MAX_EVENTS) return NULL;
    mk_tdx_event *e = &m->events[m->nevents++];
    memset(e, 0, sizeof *e);
    e->rtmr = rtmr;
    e->event_type = type;
    snprintf(e->description, sizeof e->description, "%s", desc);
    return e;
}

static void action_event(mk_tdx_measurement *m, const char *s) {
    mk_tdx_event *e = add_event(m, 1, MK_TDX_EV_EFI_ACTION, s);
    if (e) mk_sha384(s, strlen(s), e->digest);
}

static int kernel_digest(const mk_tdx_measure_input *in, const mk_tdx_profile *p, uint64_t mem_mib,
                         uint8_t out[MK_TDX_MEASURE_DIGEST_LEN], mk_error *err) {
    int rc;
    if (p->kernel_image == MK_TDX_KERNEL_RAW) {
        rc = mk_tdx_pe_authenticode(in->kernel, in->kernel_len, MK_SHA384, out, err);
    } else {
        if (in->kernel_len > MK_TDX_PE_MAX_IMAGE)
            return mk_error_set(err, MK_ETOOBIG, "kernel of %zu bytes exceeds %zu bytes",
                                in->kernel_len, MK_TDX_PE_MAX_IMAGE);
        uint8_t *copy = malloc(in->kernel_len ? in->kernel_len : 1);
        if (!copy) return mk_error_set(err, MK_ENOMEM, "kernel: out of memory");
        memcpy(copy, in->kernel, in->kernel_len);
        mk_tdx_qemu_kernel_load load = {mem_mib << 20, in->have_initrd, in->initrd_len, in->cmdline,
                                        0};
        rc = mk_tdx_qemu_patch_kernel(copy, in->kernel_len, &load, err);
        if (rc == 0) rc = mk_tdx_pe_authenticode(copy, in->kernel_len, MK_SHA384, out, err);
        free(copy);
    }
    if (rc < 0)
        mk_error_prefix(err, rc,
                        "kernel (OVMF boots a kernel without a valid EFI/PE stub with its "
                        "legacy loader, which measures nothing)");
    return rc;
}

static int measure_kernel(const mk_tdx_measure_input *in, const mk_tdx_profile *p,
                          mk_tdx_measurement *m, mk_error *err) {
    uint8_t d[MK_TDX_MEASURE_DIGEST_LEN];
    int rc = kernel_digest(in, p, m->memory_mib, d, err);
    if (rc < 0) return rc;
    mk_tdx_event *e = add_event(m, 1, MK_TDX_EV_EFI_BOOT_SERVICES_APPLICATION,
                                p->kernel_image == MK_TDX_KERNEL_RAW
                                    ? "kernel Authenticode (raw file)"
                                    : "kernel Authenticode (QEMU-patched setup header)");
    memcpy(e->digest, d, sizeof d);
    action_event(m, ev_calling);
    if (p->rtmr1_separator) {
        static const uint8_t zero4[4] = {0};
        e = add_event(m, 1, MK_TDX_EV_SEPARATOR, "separator 00000000");
        mk_sha384(zero4, sizeof zero4, e->digest);
    }
    action_event(m, ev_ebs_inv);
    action_event(m, ev_ebs_ok);

    mk_buf lo = MK_BUF_INIT;
    /* OVMF (X86QemuLoadImageLib) adds initrd=initrd only when the initrd
     * size it reads from fw_cfg is > 0. */
    rc = mk_tdx_load_options(in->cmdline, in->have_initrd && in->initrd_len > 0, p->initrd_arg, &lo,
                             err);
    if (rc < 0) return rc;
    snprintf(m->load_options, sizeof m->load_options, "%s", lo.len ? (const char *)lo.data : "");
    mk_buf_free(&lo);
    if (p->stub_measures_rtmr2) {
        if (m->load_options[0]) {
            e = add_event(m, 2, MK_TDX_EV_EVENT_TAG, "LoadOptions (UTF-16LE, NUL-terminated)");
            rc = mk_tdx_load_options_digest(m->load_options, e->digest, err);
            if (rc < 0) return rc;
        }
        if (in->have_initrd && in->initrd_len > 0) {
            e = add_event(m, 2, MK_TDX_EV_EVENT_TAG, "Linux initrd");
            memcpy(e->digest, m->initrd_sha384, MK_TDX_MEASURE_DIGEST_LEN);
        }
    }
    for (size_t i = 0; i < m->nevents; i++)
        mk_tdx_rtmr_extend(m->events[i].rtmr == 1 ? m->rtmr1 : m->rtmr2, m->events[i].digest);
    m->have_rtmr = true;
    return 0;
}

int mk_tdx_measure(const mk_tdx_measure_input *in, const mk_tdx_profile *profile,
                   mk_tdx_measurement *out, mk_error *err) {
    if (!in || !profile || !out) return mk_error_set(err, MK_EINVAL, "measure: NULL argument");
    if (!in->firmware && !in->kernel)
        return mk_error_set(err, MK_EINVAL, "measure: neither firmware nor kernel given");
    if (!in->kernel && (in->have_initrd || (in->cmdline && in->cmdline[0])))
        return mk_error_set(err, MK_EINVAL, "measure: an initrd or command line needs a kernel");
    if (in->have_initrd && !in->initrd && !in->initrd_sha384 && in->initrd_len > 0)
        return mk_error_set(err, MK_EINVAL, "measure: initrd bytes or digest missing");
    if (in->have_initrd && in->initrd_len > MK_TDX_INITRD_MAX)
        return mk_error_set(err, MK_ETOOBIG, "initrd larger than %llu bytes",
                            (unsigned long long)MK_TDX_INITRD_MAX);
    uint64_t mem = in->memory_mib ? in->memory_mib : 2048;
    if (mem < 64 || mem > ((uint64_t)1 << 24))
        return mk_error_set(err, MK_EINVAL, "measure: memory of %llu MiB is out of range",
                            (unsigned long long)mem);
    mk_tdx_measurement *m = calloc(1, sizeof *m);
    if (!m) return mk_error_set(err, MK_ENOMEM, "measure: out of memory");
    snprintf(m->profile, sizeof m->profile, "%s", profile->name ? profile->name : "custom");
    m->memory_mib = mem;
    int rc = 0;
    if (in->firmware) {
        rc = mk_tdx_tdvf_parse(in->firmware, in->firmware_len, &m->tdvf, err);
        if (rc == 0)
            rc = mk_tdx_mrtd_from_tdvf(&m->tdvf, in->firmware, in->firmware_len,
                                       profile->page_order, m->mrtd, err);
        if (rc < 0) mk_error_prefix(err, rc, "firmware");
        m->have_mrtd = rc == 0;
    }
    if (rc == 0 && in->kernel) {
        m->have_initrd = in->have_initrd;
        m->initrd_len = in->have_initrd ? in->initrd_len : 0;
        if (in->have_initrd && in->initrd_sha384)
            memcpy(m->initrd_sha384, in->initrd_sha384, MK_TDX_MEASURE_DIGEST_LEN);
        else if (in->have_initrd && in->initrd_len > (uint64_t)SIZE_MAX)
            rc = mk_error_set(err, MK_ETOOBIG, "initrd too large for this machine");
        else if (in->have_initrd)
            mk_sha384(in->initrd ? in->initrd : (const uint8_t *)"", (size_t)in->initrd_len,
                      m->initrd_sha384);
        if (rc == 0) rc = measure_kernel(in, profile, m, err);
    }
    if (rc == 0) memcpy(out, m, sizeof *m);
    free(m);
    return rc;
}

/* SHA-384 of a file, streamed; *size receives its length. */
static int hash_file(const char *path, uint8_t out[MK_TDX_MEASURE_DIGEST_LEN], uint64_t *size,
                     mk_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return mk_error_set(err, MK_EIO, "%s: %s", path, strerror(errno));
    mk_hash_ctx *h = mk_hash_new(MK_SHA384);
    uint8_t *buf = malloc(1 << 16);
    int rc = (h && buf) ? 0 : mk_error_set(err, MK_ENOMEM, "%s: out of memory", path);
    uint64_t total = 0;
    while (rc == 0) {
        size_t n = fread(buf, 1, 1 << 16, f);
        if (n == 0) {
            if (ferror(f)) rc = mk_error_set(err, MK_EIO, "%s: read error", path);
            break;
        }
        total += n;
        if (total > MK_TDX_INITRD_MAX)
            rc = mk_error_set(err, MK_ETOOBIG, "%s: larger than %llu bytes", path,
                              (unsigned long long)MK_TDX_INITRD_MAX);
        else
            rc = mk_hash_update(h, buf, n);
    }
    if (rc == 0) rc = mk_hash_final(h, out);
    if (rc == 0) *size = total;
    free(buf);
    mk_hash_free(h);
    fclose(f);
    return rc;
}

int mk_tdx_measure_files(const char *firmware_path, const char *kernel_path,
                         const char *initrd_path, const char *cmdline, uint64_t memory_mib,
                         const mk_tdx_profile *profile, mk_tdx_measurement *out, mk_error *err) {
    mk_buf fw, k;
    mk_buf_init(&fw, MK_TDX_TDVF_MAX_IMAGE);
    mk_buf_init(&k, MK_TDX_PE_MAX_IMAGE);
    uint8_t initrd_digest[MK_TDX_MEASURE_DIGEST_LEN];
    mk_tdx_measure_input in;
    memset(&in, 0, sizeof in);
    int rc = 0;
    if (firmware_path) {
        rc = mk_file_read(firmware_path, MK_TDX_TDVF_MAX_IMAGE, &fw, err);
        in.firmware = fw.data ? fw.data : (const uint8_t *)"";
        in.firmware_len = fw.len;
    }
    if (rc == 0 && kernel_path) {
        rc = mk_file_read(kernel_path, MK_TDX_PE_MAX_IMAGE, &k, err);
        in.kernel = k.data ? k.data : (const uint8_t *)"";
        in.kernel_len = k.len;
    }
    if (rc == 0 && initrd_path) {
        rc = hash_file(initrd_path, initrd_digest, &in.initrd_len, err);
        in.have_initrd = true;
        in.initrd_sha384 = initrd_digest;
    }
    in.cmdline = cmdline;
    in.memory_mib = memory_mib;
    if (rc == 0) rc = mk_tdx_measure(&in, profile, out, err);
    mk_buf_free(&fw);
    mk_buf_free(&k);
    return rc;
}

/* ---- rendering ------------------------------------------------------ */

static const char *event_type_name(uint32_t t) {
    switch (t) {
    case MK_TDX_EV_SEPARATOR:
        return "EV_SEPARATOR";
    case MK_TDX_EV_EVENT_TAG:
        return "EV_EVENT_TAG";
    case MK_TDX_EV_EFI_BOOT_SERVICES_APPLICATION:
        return "EV_EFI_BOOT_SERVICES_APPLICATION";
    case MK_TDX_EV_EFI_ACTION:
        return "EV_EFI_ACTION";
    default:
        return "?";
    }
}

static const char *page_order_name(mk_tdx_page_order o) {
    return o == MK_TDX_PAGE_ORDER_TWO_PASS ? "two-pass" : "interleaved";
}

static void hex48(const uint8_t *d, char out[2 * MK_TDX_MEASURE_DIGEST_LEN + 1]) {
    mk_hex_encode(d, MK_TDX_MEASURE_DIGEST_LEN, out);
}

int mk_tdx_measurement_text(const mk_tdx_measurement *m, const mk_tdx_profile *p, mk_buf *out) {
    if (!m || !p || !out) return MK_EINVAL;
    char hx[2 * MK_TDX_MEASURE_DIGEST_LEN + 1];
    int rc = 0;
#define P(...)                                                                                     \
    do {                                                                                           \
        if (rc == 0) rc = mk_buf_printf(out, __VA_ARGS__);                                         \
    } while (0)
    P("profile: %s\n", m->profile);
    P("  page order %s, kernel %s, RTMR1 separator %s, initrd=initrd %s, RTMR2 by kernel stub %s\n",
      page_order_name(p->page_order), p->kernel_image == MK_TDX_KERNEL_RAW ? "raw" : "patched",
      p->rtmr1_separator ? "yes" : "no",
      p->initrd_arg == MK_TDX_INITRD_ARG_PREFIX ? "prefix" : "suffix",
      p->stub_measures_rtmr2 ? "yes" : "no");
    if (m->have_mrtd) {
        P("firmware: TDVF descriptor at 0x%x, %zu sections\n", m->tdvf.descriptor_offset,
          m->tdvf.nsections);
        for (size_t i = 0; i < m->tdvf.nsections; i++) {
            const mk_tdx_tdvf_section *s = &m->tdvf.sections[i];
            P("  [%zu] %-8s gpa 0x%09llx size 0x%08llx file 0x%08x+0x%08x attr 0x%x%s%s\n", i,
              mk_tdx_tdvf_section_type_name(s->type), (unsigned long long)s->memory_address,
              (unsigned long long)s->memory_data_size, s->data_offset, s->raw_data_size,
              s->attributes, (s->attributes & MK_TDX_TDVF_ATTR_MR_EXTEND) ? " MR.EXTEND" : "",
              (s->attributes & MK_TDX_TDVF_ATTR_PAGE_AUG) ? " PAGE.AUG" : "");
        }
    }
    if (m->have_rtmr) {
        P("memory: %llu MiB\n", (unsigned long long)m->memory_mib);
        P("load options: \"%s\"\n", m->load_options);
        P("events:\n");
        for (size_t i = 0; i < m->nevents; i++) {
            const mk_tdx_event *e = &m->events[i];
            hex48(e->digest, hx);
            P("  RTMR%u %-32s %s\n        %s\n", e->rtmr, event_type_name(e->event_type),
              e->description, hx);
        }
    }
    P("registers:\n");
    if (m->have_mrtd) {
        hex48(m->mrtd, hx);
        P("  MRTD  %s\n", hx);
    }
    P("  RTMR0 (not computed: TD HOB and ACPI tables depend on the VMM)\n");
    if (m->have_rtmr) {
        hex48(m->rtmr1, hx);
        P("  RTMR1 %s\n", hx);
        hex48(m->rtmr2, hx);
        P("  RTMR2 %s%s\n", hx, p->stub_measures_rtmr2 ? "" : " (kernel stub does not measure)");
    }
#undef P
    return rc;
}

static json_t *hex_json(const uint8_t *d) {
    char hx[2 * MK_TDX_MEASURE_DIGEST_LEN + 1];
    hex48(d, hx);
    return json_string(hx);
}

int mk_tdx_measurement_json(const mk_tdx_measurement *m, const mk_tdx_profile *p, mk_buf *out) {
    if (!m || !p || !out) return MK_EINVAL;
    json_t *root = json_object();
    json_t *prof = json_pack("{s:s, s:s, s:s, s:b, s:s, s:b}", "name", m->profile, "page_order",
                             page_order_name(p->page_order), "kernel_image",
                             p->kernel_image == MK_TDX_KERNEL_RAW ? "raw" : "patched",
                             "rtmr1_separator", (int)p->rtmr1_separator, "initrd_arg",
                             p->initrd_arg == MK_TDX_INITRD_ARG_PREFIX ? "prefix" : "suffix",
                             "stub_measures_rtmr2", (int)p->stub_measures_rtmr2);
    if (!root || !prof) {
        json_decref(root);
        json_decref(prof);
        return MK_ENOMEM;
    }
    json_object_set_new(root, "profile", prof);
    if (m->have_mrtd) {
        json_t *secs = json_array();
        for (size_t i = 0; secs && i < m->tdvf.nsections; i++) {
            const mk_tdx_tdvf_section *s = &m->tdvf.sections[i];
            json_array_append_new(secs, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "type",
                                                  mk_tdx_tdvf_section_type_name(s->type), "type_id",
                                                  (json_int_t)s->type, "data_offset",
                                                  (json_int_t)s->data_offset, "raw_data_size",
                                                  (json_int_t)s->raw_data_size, "memory_address",
                                                  (json_int_t)s->memory_address, "memory_data_size",
                                                  (json_int_t)s->memory_data_size, "attributes",
                                                  (json_int_t)s->attributes));
        }
        json_object_set_new(root, "tdvf_sections", secs ? secs : json_null());
        json_object_set_new(root, "mrtd", hex_json(m->mrtd));
    }
    if (m->have_rtmr) {
        json_object_set_new(root, "memory_mib", json_integer((json_int_t)m->memory_mib));
        json_t *lo = json_string(m->load_options);
        if (lo) {
            json_object_set_new(root, "load_options", lo);
        } else { /* not UTF-8: give the bytes in hex */
            char *hx = malloc(2 * strlen(m->load_options) + 1);
            if (hx) mk_hex_encode(m->load_options, strlen(m->load_options), hx);
            json_object_set_new(root, "load_options_hex", hx ? json_string(hx) : json_null());
            free(hx);
        }
        if (m->have_initrd) {
            json_object_set_new(root, "initrd_size", json_integer((json_int_t)m->initrd_len));
            json_object_set_new(root, "initrd_sha384", hex_json(m->initrd_sha384));
        }
        json_t *evs = json_array();
        for (size_t i = 0; evs && i < m->nevents; i++) {
            const mk_tdx_event *e = &m->events[i];
            json_t *ev = json_pack("{s:i, s:i, s:s, s:I, s:s}", "rtmr", (int)e->rtmr, "mr_index",
                                   (int)e->rtmr + 1, "event_type", event_type_name(e->event_type),
                                   "event_type_id", (json_int_t)e->event_type, "description",
                                   e->description);
            if (ev) json_object_set_new(ev, "digest", hex_json(e->digest));
            json_array_append_new(evs, ev);
        }
        json_object_set_new(root, "events", evs ? evs : json_null());
        json_object_set_new(root, "rtmr1", hex_json(m->rtmr1));
        json_object_set_new(root, "rtmr2", hex_json(m->rtmr2));
    }
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s) return MK_ENOMEM;
    int rc = mk_buf_printf(out, "%s\n", s);
    free(s);
    return rc;
}
