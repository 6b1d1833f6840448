/*
 * libs.c — `--bundle-libs`: the program interpreter and shared-library
 * closure of a dynamic program, found the way the dynamic loader would find
 * them, so the image can run the program without a distribution's libc
 * (docs/tdx-builder.md, "Dynamic programs").
 *
 * Algorithm: a work list of objects, starting with the program. For each
 * object, every DT_NEEDED name is looked up in, in order, the object's
 * DT_RPATH/DT_RUNPATH directories ($ORIGIN replaced by the object's
 * directory) and then the fixed list MK_TDX_LIB_DIRS; the first regular
 * file that is an ELF64 x86-64 shared object wins. A name already resolved
 * is not looked up again (the loader loads one object per soname). Found
 * libraries are read and appended to the work list. The interpreter
 * (PT_INTERP) is bundled at its own absolute path.
 *
 * Determinism: the result depends only on the files on the host at those
 * paths: neither LD_LIBRARY_PATH nor /etc/ld.so.cache nor /usr/local is
 * consulted (the guest has no cache either: its loader searches the same
 * default directories), and the list is sorted by guest path. A library is
 * placed at the path where it was found, which is where the guest's loader
 * looks; its contents are those of the file the path resolves to on the
 * host (symlinks are followed, not reproduced). Caps: MK_TDX_BUILD_MAX_LIBS
 * objects; a name that is not found is an error naming the object that
 * needs it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tee/tdx/build/build_internal.h"

typedef struct closure {
    mk_tdx_lib *libs;
    size_t n;
    char names[MK_TDX_BUILD_MAX_LIBS][MK_TDX_ELF_NAME_MAX + 1]; /* resolved sonames */
    size_t nnames;
} closure;

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static bool known(const closure *cl, const char *name) {
    for (size_t i = 0; i < cl->nnames; i++)
        if (!strcmp(cl->names[i], name)) return true;
    return false;
}

static bool have_path(const closure *cl, const char *guest) {
    for (size_t i = 0; i < cl->n; i++)
        if (!strcmp(cl->libs[i].guest, guest)) return true;
    return false;
}

static int push(closure *cl, const char *guest, mk_error *err) {
    if (have_path(cl, guest)) return 0;
    if (cl->n >= MK_TDX_BUILD_MAX_LIBS)
        return mk_error_set(err, MK_ETOOBIG, "--bundle-libs: more than %d libraries",
                            MK_TDX_BUILD_MAX_LIBS);
    snprintf(cl->libs[cl->n].guest, sizeof cl->libs[cl->n].guest, "%s", guest);
    snprintf(cl->libs[cl->n].host, sizeof cl->libs[cl->n].host, "%s", guest);
    cl->n++;
    return 0;
}

/* The search directories of one object: its run path ($ORIGIN expanded),
 * then the defaults, ':'-separated into buf. */
static void search_path(const mk_tdx_elf_info *info, const char *origin, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = 0;
    for (const char *p = info->runpath; *p && o + 1 < cap;) {
        if (!strncmp(p, "$ORIGIN", 7) || !strncmp(p, "${ORIGIN}", 9)) {
            o += (size_t)snprintf(buf + o, cap - o, "%s", origin);
            p += p[1] == '{' ? 9 : 7;
        } else {
            buf[o++] = *p++;
            buf[o] = 0;
        }
    }
    if (o < cap) snprintf(buf + o, cap - o, "%s%s", o ? ":" : "", MK_TDX_LIB_DIRS);
}

/* Find name for the object at `from` (error names it); the guest path. */
static int find_lib(const char *from, const mk_tdx_elf_info *info, const char *name, char *out,
                    size_t cap, mk_error *err) {
    char origin[1024], dirs[4096];
    snprintf(origin, sizeof origin, "%s", from);
    char *slash = strrchr(origin, '/');
    if (slash) *slash = 0;
    search_path(info, slash ? origin : ".", dirs, sizeof dirs);
    for (char *d = dirs, *next; d && *d; d = next) {
        next = strchr(d, ':');
        if (next) *next++ = 0;
        if (d[0] != '/') continue; /* relative run paths are not followed */
        if ((size_t)snprintf(out, cap, "%s/%s", d, name) < cap && is_file(out)) return 0;
    }
    return mk_error_set(err, MK_ENOTFOUND,
                        "--bundle-libs: %s needs %s, not found in its run path or %s", from, name,
                        MK_TDX_LIB_DIRS);
}

static int cmp_lib(const void *a, const void *b) {
    return strcmp(((const mk_tdx_lib *)a)->guest, ((const mk_tdx_lib *)b)->guest);
}

/* Resolve the DT_NEEDED names of one object, appending new libraries. */
static int resolve_object(closure *cl, const char *path, const mk_tdx_elf_info *info,
                          mk_error *err) {
    for (size_t i = 0; i < info->n_needed; i++) {
        if (known(cl, info->needed[i])) continue;
        if (cl->nnames >= MK_TDX_BUILD_MAX_LIBS)
            return mk_error_set(err, MK_ETOOBIG, "--bundle-libs: more than %d libraries",
                                MK_TDX_BUILD_MAX_LIBS);
        char found[1024];
        MK_TRY(find_lib(path, info, info->needed[i], found, sizeof found, err));
        snprintf(cl->names[cl->nnames++], MK_TDX_ELF_NAME_MAX + 1, "%s", info->needed[i]);
        MK_TRY(push(cl, found, err));
    }
    return 0;
}

int mk_tdx_lib_closure(const char *program, const uint8_t *data, size_t len, mk_tdx_lib **out,
                       size_t *n, mk_error *err) {
    *out = NULL;
    *n = 0;
    closure *cl = calloc(1, sizeof *cl);
    mk_tdx_elf_info *info = calloc(1, sizeof *info);
    int rc = cl && info ? 0 : mk_error_set(err, MK_ENOMEM, "build: out of memory");
    if (rc == 0) cl->libs = calloc(MK_TDX_BUILD_MAX_LIBS, sizeof *cl->libs);
    if (rc == 0 && !cl->libs) rc = mk_error_set(err, MK_ENOMEM, "build: out of memory");
    if (rc == 0) rc = mk_tdx_elf_dynamic("--program", program, data, len, info, err);
    if (rc == 0 && !info->is64)
        rc = mk_error_set(err, MK_EINVAL, "--bundle-libs: %s is not a 64-bit program", program);
    if (rc == 0 && info->has_interp) {
        if (info->interp[0] != '/' || !is_file(info->interp))
            rc = mk_error_set(err, MK_ENOTFOUND, "--bundle-libs: interpreter %s of %s not found",
                              info->interp, program);
        else
            rc = push(cl, info->interp, err);
    }
    if (rc == 0) rc = resolve_object(cl, program, info, err);
    /* the work list: every library found so far, in order of discovery */
    for (size_t i = 0; rc == 0 && i < cl->n; i++) {
        mk_buf b = MK_BUF_INIT;
        char host[1024];
        snprintf(host, sizeof host, "%s", cl->libs[i].host);
        mk_buf_init(&b, MK_TDX_BUILD_MAX_INPUT);
        rc = mk_file_read(host, MK_TDX_BUILD_MAX_INPUT, &b, err);
        if (rc < 0) mk_error_prefix(err, rc, "--bundle-libs");
        if (rc == 0) rc = mk_tdx_elf_dynamic("--bundle-libs", host, b.data, b.len, info, err);
        if (rc == 0) rc = resolve_object(cl, host, info, err);
        mk_buf_free(&b);
    }
    free(info);
    if (rc < 0) {
        if (cl) free(cl->libs);
        free(cl);
        return rc;
    }
    qsort(cl->libs, cl->n, sizeof *cl->libs, cmp_lib);
    *out = cl->libs;
    *n = cl->n;
    free(cl);
    return 0;
}
