/*
 * kernel.c — what a TDX guest kernel must offer, and the kernel directory
 * that `mosaik tdx kernel fetch` leaves for the builder
 * (docs/tdx-builder.md, "A TDX guest kernel from Debian").
 *
 * Configuration check: the kernel's config text ("CONFIG_X=y|m", "# ... is
 * not set") must enable the options in `required` below with one of the
 * listed values; the first one that does not is named with what it is for.
 *
 * Kernel directory (one per package version under the cache):
 *   vmlinuz              the kernel (bzImage with EFI stub)
 *   config               its configuration
 *   modules/NAME.ko      the modules to load, decompressed; their load order
 *                        (dependencies first) is the order in kernel.json
 *   kernel.json          package, version, SHA-256 of the .deb, release,
 *                        the checked options, the modules with their
 *                        SHA-256, and the module names that were asked for
 * mk_tdx_kernel_dir_read reads kernel.json and returns the module files in
 * load order; a module path in kernel.json must be "modules/<safe name>",
 * so the JSON cannot point the builder outside the directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tee/tdx/build/build_internal.h"

const char *const mk_tdx_kernel_td_modules[] = {
    "configfs",                          /* configfs (TSM reports live there) */
    "tsm",                               /* TSM report interface */
    "tdx_guest",                         /* /dev/tdx_guest, TSM provider tdx_guest */
    "vsock",                             /* vsock core */
    "vmw_vsock_virtio_transport_common", /* virtio transport, */
    "vmw_vsock_virtio_transport",        /* for the vhost-vsock-pci device */
    "failover",
    "net_failover",
    "virtio_net", /* eth0 on virtio-net */
};
const size_t mk_tdx_kernel_n_td_modules =
    sizeof mk_tdx_kernel_td_modules / sizeof mk_tdx_kernel_td_modules[0];

static const struct {
    const char *name, *values, *why;
} required[] = {
    {"CONFIG_INTEL_TDX_GUEST", "y", "Intel TDX guest support"},
    {"CONFIG_EFI_STUB", "y", "EFI stub (OVMF boots it; it measures into RTMR2 from 6.9)"},
    {"CONFIG_TDX_GUEST_DRIVER", "ym", "the tdx_guest driver (/dev/tdx_guest, TSM provider)"},
    {"CONFIG_TSM_REPORTS", "ym", "configfs TSM reports (quotes via /sys/kernel/config/tsm)"},
    {"CONFIG_CONFIGFS_FS", "ym", "configfs"},
    {"CONFIG_VSOCKETS", "ym", "vsock"},
    {"CONFIG_VIRTIO_VSOCKETS", "ym", "vsock over virtio"},
    {"CONFIG_VIRTIO_NET", "ym", "virtio-net"},
    {"CONFIG_BLK_DEV_INITRD", "y", "an initramfs"},
    {"CONFIG_RD_GZIP", "y", "a gzip initramfs"},
};

/* The value of name in the config text ("" when unset or absent). */
static void config_value(const char *cfg, size_t len, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    out[0] = 0;
    for (size_t i = 0; i < len;) {
        const char *line = cfg + i;
        const char *eol = memchr(line, '\n', len - i);
        size_t ll = eol ? (size_t)(eol - line) : len - i;
        if (ll > nl && !memcmp(line, name, nl) && line[nl] == '=') {
            size_t vl = ll - nl - 1;
            if (vl >= cap) vl = cap - 1;
            memcpy(out, line + nl + 1, vl);
            out[vl] = 0;
            return;
        }
        i += ll + 1;
    }
}

int mk_tdx_kernel_check_config(const char *config, size_t len, mk_error *err) {
    char v[64];
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        config_value(config, len, required[i].name, v, sizeof v);
        if (strlen(v) != 1 || !strchr(required[i].values, v[0]))
            return mk_error_set(err, MK_EINVAL, "kernel config: %s is %s (%s needs it %s)",
                                required[i].name, v[0] ? v : "not set", required[i].why,
                                required[i].values[1] ? "=y or =m" : "=y");
    }
    return 0;
}

json_t *mk_tdx_kernel_config_json(const char *config, size_t len) {
    json_t *o = json_object();
    char v[64];
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        config_value(config, len, required[i].name, v, sizeof v);
        json_object_set_new(o, required[i].name, json_string(v));
    }
    return o;
}

void mk_tdx_kernel_modules_free(char **m, size_t n) {
    for (size_t i = 0; m && i < n; i++)
        free(m[i]);
    free(m);
}

static bool module_file_ok(const char *f) {
    if (strncmp(f, "modules/", 8) != 0) return false;
    f += 8;
    if (!*f || *f == '.' || strchr(f, '/')) return false;
    for (; *f; f++)
        if (!((*f >= 'a' && *f <= 'z') || (*f >= 'A' && *f <= 'Z') || (*f >= '0' && *f <= '9') ||
              *f == '.' || *f == '_' || *f == '-'))
            return false;
    return true;
}

static int modules_of(const char *dir, json_t *root, char ***modules, size_t *n, mk_error *err) {
    json_t *arr = json_object_get(root, "modules");
    size_t cnt = json_is_array(arr) ? json_array_size(arr) : 0;
    if (cnt > MK_TDX_BUILD_MAX_MODULES)
        return mk_error_set(err, MK_ETOOBIG, "--kernel-dir %s: more than %d modules", dir,
                            MK_TDX_BUILD_MAX_MODULES);
    char **m = calloc(cnt ? cnt : 1, sizeof *m);
    if (!m) return mk_error_set(err, MK_ENOMEM, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        const char *f = json_string_value(json_object_get(json_array_get(arr, i), "file"));
        if (!f || !module_file_ok(f)) {
            mk_tdx_kernel_modules_free(m, i);
            return mk_error_set(err, MK_EMALFORMED, "--kernel-dir %s: bad module entry %zu", dir,
                                i);
        }
        size_t l = strlen(dir) + strlen(f) + 2;
        m[i] = malloc(l);
        if (!m[i]) {
            mk_tdx_kernel_modules_free(m, i);
            return mk_error_set(err, MK_ENOMEM, "out of memory");
        }
        snprintf(m[i], l, "%s/%s", dir, f);
    }
    *modules = m;
    *n = cnt;
    return 0;
}

int mk_tdx_kernel_dir_read(const char *dir, mk_buf *meta, char ***modules, size_t *n,
                           mk_error *err) {
    char path[1200];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, MK_TDX_KERNEL_META) >= sizeof path)
        return mk_error_set(err, MK_EINVAL, "--kernel-dir: path too long");
    mk_buf b = MK_BUF_INIT;
    mk_buf_init(&b, 1 << 20);
    int rc = mk_file_read(path, 1 << 20, &b, err);
    if (rc < 0) {
        mk_buf_free(&b);
        return mk_error_prefix(err, rc, "--kernel-dir %s (made by `mosaik tdx kernel fetch`)", dir);
    }
    json_error_t je;
    json_t *root = json_loadb((const char *)b.data, b.len, 0, &je);
    if (!root || !json_is_string(json_object_get(root, "package")))
        rc = mk_error_set(err, MK_EMALFORMED, "--kernel-dir %s: %s is not a kernel description",
                          dir, MK_TDX_KERNEL_META);
    if (rc == 0 && modules) rc = modules_of(dir, root, modules, n, err);
    json_decref(root);
    if (rc == 0 && meta) {
        mk_buf_free(meta);
        *meta = b;
    } else {
        mk_buf_free(&b);
    }
    return rc;
}
