/*
 * src/tee/tdx/build/build_internal.h — the image builder's archive step
 * (image.c), for the builder's tests: the initramfs as a CPIO object,
 * before it is written and compressed.
 *
 * Not installed; not part of the public API.
 */
#ifndef MOSAIK_TDX_BUILD_INTERNAL_H
#define MOSAIK_TDX_BUILD_INTERNAL_H

#include "mosaik/tdx_build.h"
#include "tee/tdx/build/cpio.h"

/* Assemble the archive (not compressed) for opts: busybox, /init, the
 * program, extras, modules, ssh key, fixed directories. */
int mk_tdx_build_archive(const mk_tdx_build_opts *o, mk_cpio **out, mk_error *err);

#endif
