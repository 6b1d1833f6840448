/*
 * mosaik/export.h — MK_EXTERN, the mark of the public API.
 *
 * libmosaik is compiled with -fvisibility=hidden: a function is exported
 * from the shared library only when its declaration carries MK_EXTERN, and
 * every function declared in the public headers (include/mosaik/) does.
 * Internal cross-file functions (the layers' _internal.h headers and the other
 * headers under src/) do not, so they stay inside the library; the CLI and
 * the tests link the static library and may use them. The test
 * api_exports (scripts/check_exports.py) checks that the shared library
 * exports exactly the MK_EXTERN functions of the public headers.
 */
#ifndef MOSAIK_EXPORT_H
#define MOSAIK_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define MK_EXTERN __attribute__((visibility("default")))
#else
#define MK_EXTERN
#endif

#endif
