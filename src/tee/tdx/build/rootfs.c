/*
 * rootfs.c — `--rootfs debian`: a minimal Debian userland made with
 * mmdebstrap from the configured apt sources, as the base of the image
 * (docs/tdx-builder.md, "A Debian root filesystem").
 *
 * mmdebstrap runs with --variant=essential (the Essential:yes set, no apt),
 * the requested packages as --include, --format=tar into a temporary file in
 * the output directory, SOURCE_DATE_EPOCH = the image's mtime (mmdebstrap
 * then makes the same bytes from the same packages: timestamps, shadow
 * dates and machine-id are fixed by it), and dpkg path filters that drop
 * documentation, manual pages and translations but keep
 * /usr/share/doc/<package>/copyright, and with mmdebstrap's merged-usr hook
 * (the /usr merge without the usrmerge package and its perl). Its mirrors are the given apt source
 * files (mmdebstrap pastes a MIRROR that is a file into the chroot's
 * sources), by default the host's: /etc/apt/sources.list and
 * /etc/apt/sources.list.d/{*.list,*.sources}, in name order. The suite is
 * the given one or the host's VERSION_CODENAME.
 *
 * With a cache directory, downloaded packages are kept there between builds
 * (mmdebstrap's sync-in/sync-out hooks; apt still checks every cached .deb
 * against the signed index, so a stale or altered file is not used) and
 * removed from the image.
 *
 * The tar is imported (tar.c) and deleted; var/lib/dpkg/status is kept for
 * the package manifest in measurements.json.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tee/tdx/build/build_internal.h"

#define MAX_ROOTFS ((size_t)1 << 30)
#define MAX_SOURCES 32
#define MERGED_USR_HOOKS "/usr/share/mmdebstrap/hooks/merged-usr"

static int host_suite(char *out, size_t cap, mk_error *err) {
    mk_buf b = MK_BUF_INIT;
    mk_buf_init(&b, 1 << 16);
    int rc = mk_file_read("/etc/os-release", 1 << 16, &b, err);
    const char *key = "VERSION_CODENAME=";
    out[0] = 0;
    for (size_t i = 0; rc == 0 && i < b.len;) {
        const char *line = (const char *)b.data + i;
        const char *eol = memchr(line, '\n', b.len - i);
        size_t ll = eol ? (size_t)(eol - line) : b.len - i;
        if (ll > strlen(key) && !strncmp(line, key, strlen(key))) {
            size_t vl = ll - strlen(key);
            const char *v = line + strlen(key);
            if (vl >= 2 && v[0] == '"') v++, vl -= 2;
            if (vl < cap) memcpy(out, v, vl), out[vl] = 0;
        }
        i += ll + 1;
    }
    mk_buf_free(&b);
    if (rc == 0 && !out[0])
        rc = mk_error_set(err, MK_EINVAL,
                          "--rootfs debian: no VERSION_CODENAME in "
                          "/etc/os-release; give --rootfs-suite");
    return rc;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The host's apt source files, in name order. */
static size_t host_sources(char list[MAX_SOURCES][512]) {
    size_t n = 0;
    if (access("/etc/apt/sources.list", R_OK) == 0) {
        mk_buf b = MK_BUF_INIT;
        mk_buf_init(&b, 1 << 20);
        bool used = false;
        if (mk_file_read("/etc/apt/sources.list", 1 << 20, &b, NULL) == 0)
            for (size_t i = 0; i < b.len && !used; i++)
                used = (i == 0 || b.data[i - 1] == '\n') && !memcmp(b.data + i, "deb", 3);
        mk_buf_free(&b);
        if (used) snprintf(list[n++], 512, "/etc/apt/sources.list");
    }
    DIR *d = opendir("/etc/apt/sources.list.d");
    char *names[MAX_SOURCES];
    size_t k = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && k < MAX_SOURCES - n) {
        size_t l = strlen(e->d_name);
        if ((l > 5 && !strcmp(e->d_name + l - 5, ".list")) ||
            (l > 8 && !strcmp(e->d_name + l - 8, ".sources")))
            if ((names[k] = strdup(e->d_name))) k++;
    }
    if (d) closedir(d);
    qsort(names, k, sizeof *names, cmp_str);
    for (size_t i = 0; i < k; i++) {
        snprintf(list[n++], 512, "/etc/apt/sources.list.d/%s", names[i]);
        free(names[i]);
    }
    return n;
}

/* mmdebstrap's command line (strings in s). */
typedef struct cmd {
    const char *argv[64 + MAX_SOURCES];
    size_t n;
    char include[4096], inc[4200], hooks[4][1400], tar[1200], suite[64], env[64];
    char sources[MAX_SOURCES][512];
} cmd;

static int make_cmd(const mk_tdx_build_opts *o, const mk_tdx_resolved *r, cmd *c, mk_error *err) {
    if (o->rootfs_suite)
        snprintf(c->suite, sizeof c->suite, "%s", o->rootfs_suite);
    else
        MK_TRY(host_suite(c->suite, sizeof c->suite, err));
    size_t ns = 0;
    if (o->nrootfs_sources) {
        for (; ns < o->nrootfs_sources && ns < MAX_SOURCES; ns++)
            snprintf(c->sources[ns], sizeof c->sources[ns], "%s", o->rootfs_sources[ns]);
    } else {
        ns = host_sources(c->sources);
    }
    if (!ns) return mk_error_set(err, MK_EINVAL, "--rootfs debian: no apt sources configured");
    size_t il = 0;
    for (size_t i = 0; i < o->npackages; i++) {
        const char *p = o->packages[i];
        for (const char *q = p; *q; q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || strchr("+-.:=", *q)))
                return mk_error_set(err, MK_EINVAL, "--package '%.64s': not a Debian package name",
                                    p);
        il += (size_t)snprintf(c->include + il, sizeof c->include - il, "%s%s", il ? "," : "", p);
        if (il >= sizeof c->include) return mk_error_set(err, MK_ETOOBIG, "--package: too long");
    }
    snprintf(c->tar, sizeof c->tar, "%s/.rootfs-%d.tar", o->out_dir, (int)getpid());
    snprintf(c->env, sizeof c->env, "SOURCE_DATE_EPOCH=%u", r->mtime);
    const char **a = c->argv;
    size_t n = 0;
    a[n++] = "mmdebstrap";
    a[n++] = "--quiet";
    a[n++] = "--variant=essential";
    a[n++] = "--mode=auto";
    a[n++] = "--format=tar";
    a[n++] = "--dpkgopt=path-exclude=/usr/share/doc/*";
    a[n++] = "--dpkgopt=path-include=/usr/share/doc/*/copyright";
    a[n++] = "--dpkgopt=path-exclude=/usr/share/man/*";
    a[n++] = "--dpkgopt=path-exclude=/usr/share/locale/*";
    a[n++] = "--dpkgopt=path-exclude=/usr/share/info/*";
    /* merged /usr by mmdebstrap's hook, not by the usrmerge package (which
     * would pull in perl) */
    if (access(MERGED_USR_HOOKS, R_OK) == 0) a[n++] = "--hook-dir=" MERGED_USR_HOOKS;
    if (il) {
        snprintf(c->inc, sizeof c->inc, "--include=%s", c->include);
        a[n++] = c->inc;
    }
    if (o->rootfs_cache) {
        /* sync-in/sync-out are special hooks (mmdebstrap copies the files) */
        snprintf(c->hooks[0], sizeof c->hooks[0], "%s",
                 "--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives");
        snprintf(c->hooks[3], sizeof c->hooks[3],
                 "--setup-hook=sync-in %s /var/cache/apt/archives/", o->rootfs_cache);
        snprintf(c->hooks[1], sizeof c->hooks[1],
                 "--customize-hook=sync-out /var/cache/apt/archives %s", o->rootfs_cache);
        snprintf(c->hooks[2], sizeof c->hooks[2], "%s",
                 "--customize-hook=rm -f \"$1\"/var/cache/apt/archives/*.deb");
        a[n++] = "--skip=download/empty";
        a[n++] = "--skip=essential/unlink"; /* keep the Essential set's .debs for sync-out */
        a[n++] = c->hooks[0];
        a[n++] = c->hooks[3];
        a[n++] = c->hooks[1];
        a[n++] = c->hooks[2];
    }
    a[n++] = c->suite;
    a[n++] = c->tar;
    for (size_t i = 0; i < ns; i++)
        a[n++] = c->sources[i];
    a[n] = NULL;
    c->n = n;
    return 0;
}

int mk_tdx_rootfs_debian(const mk_tdx_build_opts *o, const mk_tdx_resolved *r, mk_cpio *c,
                         mk_buf *status, char suite[64], mk_error *err) {
    if (!mk_tdx_have_program("mmdebstrap"))
        return mk_error_set(err, MK_EUNAVAILABLE,
                            "--rootfs debian: mmdebstrap not found (apt-get install mmdebstrap)");
    if (o->rootfs_cache && (strchr(o->rootfs_cache, ' ') || strchr(o->rootfs_cache, '\'')))
        return mk_error_set(err, MK_EINVAL, "--rootfs-cache: no spaces or quotes in the path");
    cmd *k = calloc(1, sizeof *k);
    if (!k) return mk_error_set(err, MK_ENOMEM, "out of memory");
    int rc = make_cmd(o, r, k, err);
    if (rc == 0) snprintf(suite, 64, "%s", k->suite);
    if (rc == 0 && o->rootfs_cache) {
        const char *mk[] = {"mkdir", "-p", o->rootfs_cache, NULL};
        rc = mk_tdx_run(mk, NULL, NULL, 0, err);
    }
    const char *env[] = {k->env, "LC_ALL=C", NULL};
    if (rc == 0) rc = mk_tdx_run(k->argv, env, NULL, 0, err);
    if (rc < 0) mk_error_prefix(err, rc, "--rootfs debian");
    mk_buf tar = MK_BUF_INIT;
    mk_buf_init(&tar, MAX_ROOTFS);
    if (rc == 0) rc = mk_file_read(k->tar, MAX_ROOTFS, &tar, err);
    unlink(k->tar);
    if (rc == 0) rc = mk_tdx_tar_import(c, tar.data, tar.len, err);
    mk_buf_free(&tar);
    const uint8_t *st;
    size_t sl;
    if (rc == 0 && mk_cpio_file_data(c, "var/lib/dpkg/status", &st, &sl) == 0) {
        mk_buf_init(status, sl + 1);
        rc = mk_buf_append(status, st, sl);
        if (rc < 0) mk_error_set(err, rc, "out of memory");
    }
    free(k);
    return rc;
}

/* One stanza's field value (up to the line end). */
static void stanza_field(const char *s, size_t n, const char *key, char *out, size_t cap) {
    size_t kl = strlen(key);
    out[0] = 0;
    for (size_t i = 0; i < n;) {
        const char *line = s + i;
        const char *eol = memchr(line, '\n', n - i);
        size_t ll = eol ? (size_t)(eol - line) : n - i;
        if (ll > kl + 1 && !memcmp(line, key, kl) && line[kl] == ':') {
            size_t v = kl + 1;
            while (v < ll && line[v] == ' ')
                v++;
            size_t vl = ll - v < cap - 1 ? ll - v : cap - 1;
            memcpy(out, line + v, vl);
            out[vl] = 0;
            return;
        }
        i += ll + 1;
    }
}

int mk_tdx_dpkg_manifest(const uint8_t *status, size_t len, mk_buf *out, mk_error *err) {
    json_t *arr = json_array();
    const char *s = (const char *)status;
    for (size_t i = 0; i < len;) {
        /* a stanza ends at an empty line */
        size_t end = i;
        while (end < len && !(s[end] == '\n' && (end + 1 == len || s[end + 1] == '\n')))
            end++;
        char pkg[128], ver[128], arch[32], st[64];
        stanza_field(s + i, end - i, "Package", pkg, sizeof pkg);
        stanza_field(s + i, end - i, "Version", ver, sizeof ver);
        stanza_field(s + i, end - i, "Architecture", arch, sizeof arch);
        stanza_field(s + i, end - i, "Status", st, sizeof st);
        if (pkg[0] && !strcmp(st, "install ok installed"))
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:s}", "package", pkg, "version", ver, "arch", arch));
        i = end + 2;
    }
    char *txt = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    int rc = txt ? mk_buf_append_str(out, txt) : MK_ENOMEM;
    free(txt);
    return rc < 0 ? mk_error_set(err, rc, "out of memory") : 0;
}
