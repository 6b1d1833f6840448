/*
 * kernel_fetch.c — `mosaik tdx kernel fetch`: a TDX-capable guest kernel
 * from Debian, through apt (docs/tdx-builder.md, "A TDX guest kernel from
 * Debian").
 *
 * Steps:
 *   1. apt, privately: CACHE/apt/sources.list holds one line
 *      "deb [signed-by=KEYRING] MIRROR SUITE main"; apt-get and apt-cache run
 *      with -o Dir::Etc::sourcelist=that file, Dir::Etc::sourceparts and the
 *      preferences pointed at an empty directory, Dir::State::Lists and
 *      Dir::Cache under CACHE/apt. The system's sources and state are not
 *      read or changed. `apt-get update` verifies the suite's InRelease
 *      against Debian's archive keyring; the package index it accepted
 *      carries each package's SHA-256. Offline: no update, the lists cached
 *      by an earlier run are used.
 *   2. resolve: `apt-cache show --no-all-versions PACKAGE`; a metapackage
 *      (no Filename of a linux-image-<release> package, one linux-image
 *      dependency) is followed to the versioned package.
 *   3. the .deb: CACHE/debs/<Filename's base name>; reused when its SHA-256
 *      equals the index's, else downloaded with `apt-get download` (apt
 *      checks the hash) and checked again here. With `deb` the given file is
 *      used as is and its own SHA-256 recorded (no signature: the caller
 *      vouches for it).
 *   4. unpack with `dpkg-deb -x` into a temporary directory, find
 *      boot/vmlinuz-<release> and boot/config-<release>, check the config
 *      (kernel.c), index lib/modules/<release> by module name, and resolve
 *      the wanted modules with their "depends" (.modinfo) depth-first, so
 *      every module comes after its dependencies (ties: the order asked).
 *      Compressed modules are decompressed (xz, zstd), because busybox
 *      insmod hands the bytes to init_module as they are.
 *   5. write CACHE/kernels/<package>_<version>/ (kernel.c describes it) in
 *      a temporary directory and rename it into place. An existing
 *      directory whose kernel.json asked for the same modules is reused.
 * Concurrent fetches into one cache are serialised by flock(2) on
 * CACHE/.lock (held for the whole call).
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "mosaik/crypto.h"
#include "mosaik/encoding.h"
#include "tee/tdx/build/build_internal.h"

#define MAX_WANT 64
#define MAX_INDEX 8192
#define MAX_MODULE ((size_t)64 << 20)

/* snprintf into a fixed buffer; truncation leaves a string that names no
 * file we made, and is reported by the open that follows. */
__attribute__((format(printf, 3, 4))) static void pathf(char *out, size_t cap, const char *fmt,
                                                        ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0) out[0] = 0;
}

typedef struct fetch {
    const mk_tdx_kernel_opts *o;
    char cache[1024], apt[1100], debs[1100];
    char aptopt[8][1300]; /* -o settings */
    char pkg[128], ver[128], filename[512], sha256[65];
} fetch;

static int mkdirs(const char *path, mk_error *err) {
    char buf[1200];
    pathf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return mk_error_set(err, MK_EIO, "cannot create %s: %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)f;
    return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static void rm_tree(const char *dir) {
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- apt ------------------------------------------------------------------ */

static int apt_setup(fetch *f, mk_error *err) {
    const mk_tdx_kernel_opts *o = f->o;
    char p[1300];
    pathf(f->apt, sizeof f->apt, "%s/apt", f->cache);
    pathf(f->debs, sizeof f->debs, "%s/debs", f->cache);
    static const char *const sub[] = {"lists/partial", "archives/partial", "empty", ""};
    for (size_t i = 0; i < 4; i++) {
        pathf(p, sizeof p, "%s/%s", f->apt, sub[i]);
        MK_TRY(mkdirs(p, err));
    }
    MK_TRY(mkdirs(f->debs, err));
    char line[1024];
    int n = snprintf(line, sizeof line, "deb [signed-by=%s] %s %s main\n",
                     o->keyring ? o->keyring : MK_TDX_KERNEL_DEFAULT_KEYRING,
                     o->mirror ? o->mirror : MK_TDX_KERNEL_DEFAULT_MIRROR,
                     o->suite ? o->suite : MK_TDX_KERNEL_DEFAULT_SUITE);
    pathf(p, sizeof p, "%s/sources.list", f->apt);
    if (!o->offline) MK_TRY(mk_file_write(p, line, (size_t)n, 0644, err));
    pathf(f->aptopt[0], sizeof f->aptopt[0], "Dir::Etc::sourcelist=%s/sources.list", f->apt);
    pathf(f->aptopt[1], sizeof f->aptopt[1], "Dir::Etc::sourceparts=%s/empty", f->apt);
    pathf(f->aptopt[2], sizeof f->aptopt[2], "Dir::Etc::preferences=%s/empty/none", f->apt);
    pathf(f->aptopt[3], sizeof f->aptopt[3], "Dir::Etc::preferencesparts=%s/empty", f->apt);
    pathf(f->aptopt[4], sizeof f->aptopt[4], "Dir::State::Lists=%s/lists", f->apt);
    pathf(f->aptopt[5], sizeof f->aptopt[5], "Dir::Cache=%s", f->apt);
    pathf(f->aptopt[6], sizeof f->aptopt[6], "Dir::Cache::Archives=%s/archives", f->apt);
    pathf(f->aptopt[7], sizeof f->aptopt[7], "Debug::NoLocking=1");
    return 0;
}

/* tool, [-o X]..., then the given arguments (at most 4). */
static int apt_run(fetch *f, const char *cwd, const char *tool, const char *const *args,
                   mk_buf *out, mk_error *err) {
    const char *argv[32];
    size_t n = 0;
    argv[n++] = tool;
    argv[n++] = "-q";
    for (size_t i = 0; i < 8; i++) {
        argv[n++] = "-o";
        argv[n++] = f->aptopt[i];
    }
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    static const char *const env[] = {"LC_ALL=C", NULL};
    return mk_tdx_run_in(cwd, argv, env, out, 4 << 20, err);
}

/* "Key: value" of the first stanza of apt-cache show output. */
static void field(const mk_buf *b, const char *key, char *out, size_t cap) {
    size_t kl = strlen(key);
    const char *t = (const char *)b->data;
    out[0] = 0;
    for (size_t i = 0; i < b->len;) {
        const char *line = t + i;
        const char *eol = memchr(line, '\n', b->len - i);
        size_t ll = eol ? (size_t)(eol - line) : b->len - i;
        if (ll == 0) return; /* end of the first stanza */
        if (ll > kl + 1 && !memcmp(line, key, kl) && line[kl] == ':') {
            size_t s = kl + 1;
            while (s < ll && line[s] == ' ')
                s++;
            size_t vl = ll - s < cap - 1 ? ll - s : cap - 1;
            memcpy(out, line + s, vl);
            out[vl] = 0;
            return;
        }
        i += ll + 1;
    }
}

/* Package -> versioned package with its index data (follows one
 * metapackage level). */
static int resolve_package(fetch *f, mk_error *err) {
    char name[128];
    pathf(name, sizeof name, "%s", f->o->package ? f->o->package : MK_TDX_KERNEL_DEFAULT_PACKAGE);
    for (int level = 0; level < 2; level++) {
        mk_buf b = MK_BUF_INIT;
        mk_buf_init(&b, 4 << 20);
        const char *args[] = {"show", "--no-all-versions", name, NULL};
        int rc = apt_run(f, NULL, "apt-cache", args, &b, err);
        if (rc < 0) {
            mk_buf_free(&b);
            return mk_error_prefix(err, rc, "kernel: %s not in %s%s", name,
                                   f->o->suite ? f->o->suite : MK_TDX_KERNEL_DEFAULT_SUITE,
                                   f->o->offline ? " (offline: cached lists)" : "");
        }
        char dep[512], isize[32];
        field(&b, "Package", f->pkg, sizeof f->pkg);
        field(&b, "Installed-Size", isize, sizeof isize);
        field(&b, "Version", f->ver, sizeof f->ver);
        field(&b, "Filename", f->filename, sizeof f->filename);
        field(&b, "SHA256", f->sha256, sizeof f->sha256);
        field(&b, "Depends", dep, sizeof dep);
        mk_buf_free(&b);
        /* a metapackage: tiny, one dependency "linux-image-<release> (= version)" */
        if (level == 0 && !strncmp(dep, "linux-image-", 12) && !strchr(dep, ',') &&
            strtoul(isize, NULL, 10) < 1024) {
            char *sp = strchr(dep, ' ');
            if (sp) *sp = 0;
            pathf(name, sizeof name, "%s", dep);
            continue;
        }
        if (!f->pkg[0] || !f->ver[0] || strlen(f->sha256) != 64 || !f->filename[0])
            return mk_error_set(err, MK_EMALFORMED, "kernel: apt has no complete entry for %s",
                                name);
        return 0;
    }
    return mk_error_set(err, MK_EINVAL, "kernel: %s: metapackage chain too long", name);
}

static int file_sha256(const char *path, char hex[65], mk_error *err) {
    mk_buf b = MK_BUF_INIT;
    mk_buf_init(&b, (size_t)1 << 30);
    int rc = mk_file_read(path, (size_t)1 << 30, &b, err);
    if (rc == 0) {
        uint8_t d[32];
        mk_sha256(b.data, b.len, d);
        mk_hex_encode(d, 32, hex);
    }
    mk_buf_free(&b);
    return rc;
}

/* The .deb in the cache (downloaded when missing or different). */
static int obtain_deb(fetch *f, char *deb, size_t cap, mk_error *err) {
    const char *base = strrchr(f->filename, '/');
    base = base ? base + 1 : f->filename;
    pathf(deb, cap, "%s/%s", f->debs, base);
    char have[65] = "";
    if (access(deb, R_OK) == 0 && file_sha256(deb, have, err) == 0 && !strcmp(have, f->sha256))
        return 0;
    if (f->o->offline)
        return mk_error_set(err, MK_ENOTFOUND, "kernel: offline and %s is not cached", deb);
    char spec[300];
    pathf(spec, sizeof spec, "%s=%s", f->pkg, f->ver);
    const char *args[] = {"download", spec, NULL};
    MK_TRY(apt_run(f, f->debs, "apt-get", args, NULL, err));
    MK_TRY(file_sha256(deb, have, err));
    if (strcmp(have, f->sha256))
        return mk_error_set(err, MK_EMISMATCH, "kernel: %s has SHA-256 %s, the index says %s", deb,
                            have, f->sha256);
    return 0;
}

/* ---- the package's contents ------------------------------------------------ */

typedef struct modindex {
    char name[MAX_INDEX][64]; /* module name, '-' as '_' */
    char *path[MAX_INDEX];
    size_t n;
} modindex;

static void index_free(modindex *ix) {
    for (size_t i = 0; i < ix->n; i++)
        free(ix->path[i]);
    free(ix);
}

/* Every *.ko, *.ko.xz, *.ko.zst under dir, by module name. */
static int index_dir(modindex *ix, const char *dir, int depth, mk_error *err) {
    if (depth > 16) return 0;
    DIR *d = opendir(dir);
    if (!d) return mk_error_set(err, MK_EIO, "kernel: cannot list %s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[2048];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= sizeof p) continue;
        struct stat st;
        if (lstat(p, &st) < 0) continue;
        if (S_ISDIR(st.st_mode)) {
            rc = index_dir(ix, p, depth + 1, err);
            continue;
        }
        const char *ko = strstr(e->d_name, ".ko");
        if (!S_ISREG(st.st_mode) || !ko || (ko[3] && strcmp(ko, ".ko.xz") && strcmp(ko, ".ko.zst")))
            continue;
        if (ix->n == MAX_INDEX || (size_t)(ko - e->d_name) >= 64) continue;
        pathf(ix->name[ix->n], 64, "%.*s", (int)(ko - e->d_name), e->d_name);
        for (char *c = ix->name[ix->n]; *c; c++)
            if (*c == '-') *c = '_';
        ix->path[ix->n] = strdup(p);
        if (!ix->path[ix->n])
            rc = mk_error_set(err, MK_ENOMEM, "out of memory");
        else
            ix->n++;
    }
    closedir(d);
    return rc;
}

static const char *index_find(const modindex *ix, const char *name) {
    char n[64];
    pathf(n, sizeof n, "%s", name);
    for (char *c = n; *c; c++)
        if (*c == '-') *c = '_';
    for (size_t i = 0; i < ix->n; i++)
        if (!strcmp(ix->name[i], n)) return ix->path[i];
    return NULL;
}

/* A module's bytes, decompressed. */
static int read_module(const char *path, mk_buf *b, mk_error *err) {
    mk_buf_init(b, MAX_MODULE);
    size_t l = strlen(path);
    if (l > 3 && !strcmp(path + l - 3, ".xz")) {
        const char *argv[] = {"xz", "-dc", path, NULL};
        return mk_tdx_run(argv, NULL, b, MAX_MODULE, err);
    }
    if (l > 4 && !strcmp(path + l - 4, ".zst")) {
        const char *argv[] = {"zstd", "-dcq", path, NULL};
        return mk_tdx_run(argv, NULL, b, MAX_MODULE, err);
    }
    return mk_file_read(path, MAX_MODULE, b, err);
}

typedef struct plan {
    char name[MK_TDX_BUILD_MAX_MODULES][64];
    mk_buf data[MK_TDX_BUILD_MAX_MODULES];
    size_t n;
} plan;

static bool planned(const plan *p, const char *name) {
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->name[i], name)) return true;
    return false;
}

/* Depth-first: dependencies ("depends=a,b") before the module. */
static int plan_module(plan *p, const modindex *ix, const char *name, int depth, mk_error *err) {
    char n[64];
    pathf(n, sizeof n, "%s", name);
    for (char *c = n; *c; c++)
        if (*c == '-') *c = '_';
    if (planned(p, n)) return 0;
    if (depth > 16) return mk_error_set(err, MK_EINVAL, "kernel: module dependency loop at %s", n);
    const char *path = index_find(ix, n);
    if (!path) return mk_error_set(err, MK_ENOTFOUND, "kernel: no module %s in the package", n);
    mk_buf b = MK_BUF_INIT;
    int rc = read_module(path, &b, err);
    char deps[1024] = "";
    if (rc == 0) {
        int mrc = mk_tdx_elf_modinfo(b.data, b.len, "depends", deps, sizeof deps);
        if (mrc < 0 && mrc != MK_ENOTFOUND)
            rc = mk_error_set(err, MK_EMALFORMED, "kernel: %s: unreadable .modinfo", path);
    }
    for (char *d = deps, *next; rc == 0 && *d; d = next) {
        next = strchr(d, ',');
        if (next)
            *next++ = 0;
        else
            next = d + strlen(d);
        if (*d) rc = plan_module(p, ix, d, depth + 1, err);
    }
    if (rc == 0 && p->n == MK_TDX_BUILD_MAX_MODULES)
        rc =
            mk_error_set(err, MK_ETOOBIG, "kernel: more than %d modules", MK_TDX_BUILD_MAX_MODULES);
    if (rc < 0) {
        mk_buf_free(&b);
        return rc;
    }
    pathf(p->name[p->n], 64, "%s", n);
    p->data[p->n++] = b;
    return 0;
}

static void plan_free(plan *p) {
    for (size_t i = 0; p && i < p->n; i++)
        mk_buf_free(&p->data[i]);
    free(p);
}

/* boot/<prefix><release> of the unpacked package. */
static int find_boot(const char *root, const char *prefix, char *release, size_t cap,
                     mk_error *err) {
    char p[1200];
    pathf(p, sizeof p, "%s/boot", root);
    DIR *d = opendir(p);
    if (!d) return mk_error_set(err, MK_EINVAL, "kernel: the package has no /boot");
    struct dirent *e;
    size_t pl = strlen(prefix);
    int rc = MK_ENOTFOUND;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, pl) && e->d_name[pl] && strlen(e->d_name + pl) < cap) {
            pathf(release, cap, "%s", e->d_name + pl);
            rc = 0;
            break;
        }
    closedir(d);
    if (rc < 0) return mk_error_set(err, MK_EINVAL, "kernel: the package has no /boot/%s*", prefix);
    return 0;
}

static json_t *wanted_json(const mk_tdx_kernel_opts *o) {
    json_t *a = json_array();
    for (size_t i = 0; i < mk_tdx_kernel_n_td_modules; i++)
        json_array_append_new(a, json_string(mk_tdx_kernel_td_modules[i]));
    for (size_t i = 0; i < o->nmodules; i++)
        json_array_append_new(a, json_string(o->modules[i]));
    return a;
}

/* kernel.json of the directory being made. */
static int write_meta(fetch *f, const char *tmp, const char *release, const mk_buf *cfg,
                      const plan *p, mk_error *err) {
    json_t *mods = json_array();
    for (size_t i = 0; i < p->n; i++) {
        uint8_t d[32];
        char hx[65], file[128];
        mk_sha256(p->data[i].data, p->data[i].len, d);
        mk_hex_encode(d, 32, hx);
        pathf(file, sizeof file, "modules/%s.ko", p->name[i]);
        json_array_append_new(
            mods, json_pack("{s:s, s:s, s:s}", "name", p->name[i], "file", file, "sha256", hx));
    }
    const mk_tdx_kernel_opts *o = f->o;
    json_t *root =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:b}, s:o, s:o, s:o}", "package",
                  f->pkg, "version", f->ver, "sha256", f->sha256, "deb", f->filename, "release",
                  release, "source", "suite", o->suite ? o->suite : MK_TDX_KERNEL_DEFAULT_SUITE,
                  "mirror", o->mirror ? o->mirror : MK_TDX_KERNEL_DEFAULT_MIRROR, "keyring",
                  o->keyring ? o->keyring : MK_TDX_KERNEL_DEFAULT_KEYRING, "verified_by_apt",
                  !o->deb, "config", mk_tdx_kernel_config_json((const char *)cfg->data, cfg->len),
                  "modules", mods, "requested", wanted_json(o));
    char *s = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (!s) return mk_error_set(err, MK_ENOMEM, "out of memory");
    char path[1300];
    pathf(path, sizeof path, "%s/%s", tmp, MK_TDX_KERNEL_META);
    int rc = mk_file_write(path, s, strlen(s), 0644, err);
    free(s);
    return rc;
}

/* Unpacked package in x -> kernel directory tmp. */
static int make_kernel_dir(fetch *f, const char *x, const char *tmp, mk_tdx_kernel_result *res,
                           mk_error *err) {
    char release[128], path[1400];
    mk_buf k = MK_BUF_INIT, cfg = MK_BUF_INIT;
    MK_TRY(find_boot(x, "vmlinuz-", release, sizeof release, err));
    pathf(res->release, sizeof res->release, "%s", release);
    pathf(path, sizeof path, "%s/boot/config-%s", x, release);
    mk_buf_init(&cfg, 4 << 20);
    int rc = mk_file_read(path, 4 << 20, &cfg, err);
    if (rc == 0) rc = mk_tdx_kernel_check_config((const char *)cfg.data, cfg.len, err);
    if (rc < 0) mk_error_prefix(err, rc, "%s %s", f->pkg, f->ver);
    modindex *ix = calloc(1, sizeof *ix);
    plan *p = calloc(1, sizeof *p);
    if (rc == 0 && (!ix || !p)) rc = mk_error_set(err, MK_ENOMEM, "out of memory");
    pathf(path, sizeof path, "%s/lib/modules/%s", x, release);
    if (rc == 0) rc = index_dir(ix, path, 0, err);
    for (size_t i = 0; rc == 0 && i < mk_tdx_kernel_n_td_modules + f->o->nmodules; i++)
        rc = plan_module(p, ix,
                         i < mk_tdx_kernel_n_td_modules
                             ? mk_tdx_kernel_td_modules[i]
                             : f->o->modules[i - mk_tdx_kernel_n_td_modules],
                         0, err);
    if (rc == 0) {
        pathf(path, sizeof path, "%s/modules", tmp);
        rc = mkdirs(path, err);
    }
    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        pathf(path, sizeof path, "%s/modules/%s.ko", tmp, p->name[i]);
        rc = mk_file_write(path, p->data[i].data, p->data[i].len, 0644, err);
    }
    if (rc == 0) {
        pathf(path, sizeof path, "%s/boot/vmlinuz-%s", x, release);
        mk_buf_init(&k, MK_TDX_PE_MAX_IMAGE);
        rc = mk_file_read(path, MK_TDX_PE_MAX_IMAGE, &k, err);
    }
    if (rc == 0) {
        pathf(path, sizeof path, "%s/vmlinuz", tmp);
        rc = mk_file_write(path, k.data, k.len, 0644, err);
    }
    if (rc == 0) {
        pathf(path, sizeof path, "%s/config", tmp);
        rc = mk_file_write(path, cfg.data, cfg.len, 0644, err);
    }
    if (rc == 0) rc = write_meta(f, tmp, release, &cfg, p, err);
    if (rc == 0) res->nmodules = p->n;
    if (ix) index_free(ix);
    plan_free(p);
    mk_buf_free(&k);
    mk_buf_free(&cfg);
    return rc;
}

/* Whether dir holds a kernel made from the same .deb for the same modules. */
static bool reusable(const char *dir, const fetch *f, mk_tdx_kernel_result *res) {
    char path[1200];
    pathf(path, sizeof path, "%s/%s", dir, MK_TDX_KERNEL_META);
    json_t *root = json_load_file(path, 0, NULL);
    json_t *want = wanted_json(f->o);
    bool ok = root && json_equal(json_object_get(root, "requested"), want) &&
              !strcmp(json_string_value(json_object_get(root, "sha256")) ?: "", f->sha256);
    if (ok) {
        pathf(res->release, sizeof res->release, "%s",
              json_string_value(json_object_get(root, "release")) ?: "");
        res->nmodules = json_array_size(json_object_get(root, "modules"));
    }
    json_decref(want);
    json_decref(root);
    return ok;
}

/* From the .deb to CACHE/kernels/<package>_<version>. */
static int unpack(fetch *f, const char *deb, mk_tdx_kernel_result *res, mk_error *err) {
    char kdir[1300], x[1400], tmp[1400];
    pathf(kdir, sizeof kdir, "%s/kernels/%s_%s", f->cache, f->pkg, f->ver);
    pathf(res->dir, sizeof res->dir, "%s", kdir);
    if (reusable(kdir, f, res)) {
        res->cached = true;
        return 0;
    }
    pathf(x, sizeof x, "%s/kernels/.unpack-%d", f->cache, (int)getpid());
    pathf(tmp, sizeof tmp, "%s/kernels/.new-%d", f->cache, (int)getpid());
    rm_tree(x);
    rm_tree(tmp);
    MK_TRY(mkdirs(x, err));
    int rc = mkdirs(tmp, err);
    const char *argv[] = {"dpkg-deb", "-x", deb, x, NULL};
    if (rc == 0) rc = mk_tdx_run(argv, NULL, NULL, 0, err);
    if (rc == 0) rc = make_kernel_dir(f, x, tmp, res, err);
    rm_tree(x);
    if (rc == 0) {
        rm_tree(kdir);
        if (rename(tmp, kdir) < 0)
            rc = mk_error_set(err, MK_EIO, "kernel: cannot move %s into place: %s", tmp,
                              strerror(errno));
    }
    if (rc < 0) rm_tree(tmp);
    return rc;
}

/* --deb FILE: its control fields stand in for the index. */
static int deb_fields(fetch *f, mk_error *err) {
    mk_buf b = MK_BUF_INIT;
    mk_buf_init(&b, 1 << 20);
    const char *argv[] = {"dpkg-deb", "-f", f->o->deb, "Package", "Version", NULL};
    int rc = mk_tdx_run(argv, NULL, &b, 1 << 20, err);
    if (rc == 0) {
        field(&b, "Package", f->pkg, sizeof f->pkg);
        field(&b, "Version", f->ver, sizeof f->ver);
        pathf(f->filename, sizeof f->filename, "%s", f->o->deb);
        rc = file_sha256(f->o->deb, f->sha256, err);
    }
    mk_buf_free(&b);
    if (rc == 0 && (!f->pkg[0] || !f->ver[0] || strchr(f->pkg, '/') || strchr(f->ver, '/')))
        rc = mk_error_set(err, MK_EINVAL, "kernel: %s has no usable Package/Version", f->o->deb);
    return rc;
}

int mk_tdx_kernel_fetch(const mk_tdx_kernel_opts *o, mk_tdx_kernel_result *res, mk_error *err) {
    if (!o || !o->cache_dir || !res) return mk_error_set(err, MK_EINVAL, "kernel: NULL argument");
    if (o->nmodules > MAX_WANT)
        return mk_error_set(err, MK_ETOOBIG, "kernel: more than %d modules asked for", MAX_WANT);
    memset(res, 0, sizeof *res);
    fetch *f = calloc(1, sizeof *f);
    if (!f) return mk_error_set(err, MK_ENOMEM, "out of memory");
    f->o = o;
    pathf(f->cache, sizeof f->cache, "%s", o->cache_dir);
    char deb[1700];
    int rc = mkdirs(f->cache, err), lock = -1;
    if (rc == 0) {
        pathf(deb, sizeof deb, "%s/.lock", f->cache);
        lock = open(deb, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock < 0 || flock(lock, LOCK_EX) < 0)
            rc = mk_error_set(err, MK_EIO, "kernel: cannot lock %s: %s", deb, strerror(errno));
    }
    if (rc == 0) {
        pathf(deb, sizeof deb, "%s/kernels", f->cache);
        rc = mkdirs(deb, err);
    }
    if (rc == 0 && o->deb) {
        rc = deb_fields(f, err);
        pathf(deb, sizeof deb, "%s", o->deb);
    } else if (rc == 0) {
        for (const char *t = "apt-get"; rc == 0 && t; t = strcmp(t, "apt-get") ? NULL : "apt-cache")
            if (!mk_tdx_have_program(t))
                rc = mk_error_set(err, MK_EUNAVAILABLE, "kernel: %s not found (Debian apt)", t);
        if (rc == 0) rc = apt_setup(f, err);
        const char *upd[] = {"update", NULL};
        if (rc == 0 && !o->offline) rc = apt_run(f, NULL, "apt-get", upd, NULL, err);
        if (rc == 0) rc = resolve_package(f, err);
        if (rc == 0) rc = obtain_deb(f, deb, sizeof deb, err);
    }
    if (rc == 0) rc = unpack(f, deb, res, err);
    if (rc == 0) {
        pathf(res->package, sizeof res->package, "%s", f->pkg);
        pathf(res->version, sizeof res->version, "%s", f->ver);
        pathf(res->sha256, sizeof res->sha256, "%s", f->sha256);
    }
    if (lock >= 0) close(lock);
    free(f);
    return rc;
}
