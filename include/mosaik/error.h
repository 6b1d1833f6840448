/*
 * mosaik/error.h — status codes and errors that carry a reason.
 *
 * Every fallible function returns an int: 0 on success, a negative MK_E*
 * code on failure. Functions that can say *why* take an optional
 * `mk_error *` (may be NULL) which receives the code and a human-readable
 * reason, e.g. "PCK chain: certificate expired at 2025-05-21T00:00:00Z".
 * Callers add context with mk_error_prefix() as the error travels up.
 */
#ifndef MOSAIK_ERROR_H
#define MOSAIK_ERROR_H

#include <stddef.h>

#include "mosaik/export.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    MK_OK = 0,
    MK_EINVAL = -1,        /* invalid argument (caller's mistake) */
    MK_ENOMEM = -2,        /* allocation failed */
    MK_ETRUNC = -3,        /* input ended before a field it announced */
    MK_EMALFORMED = -4,    /* input is not well-formed */
    MK_ETOOBIG = -5,       /* input exceeds a hard cap */
    MK_ECRYPTO = -6,       /* a cryptographic operation failed (not a bad signature) */
    MK_EBADSIG = -7,       /* a signature did not verify */
    MK_EEXPIRED = -8,      /* a credential, certificate or collateral has expired */
    MK_ENOTYET = -9,       /* not yet valid */
    MK_EUNTRUSTED = -10,   /* chain does not end in a trusted root */
    MK_EREVOKED = -11,     /* a certificate is revoked */
    MK_EPOLICY = -12,      /* verified, but refused by policy */
    MK_EMISMATCH = -13,    /* a value differs from the one required */
    MK_EUNSUPPORTED = -14, /* a version or algorithm this library does not support */
    MK_EIO = -15,          /* file or device I/O failed */
    MK_ENOTFOUND = -16,    /* no such item */
    MK_ETIMEDOUT = -17,    /* a wait timed out */
    MK_ESTATE = -18,       /* wrong state for this call */
    MK_EUNAVAILABLE = -19, /* a provider or service is not available here */
    MK_EBUSY = -20,        /* resource busy; retry */
    MK_ENETWORK = -21,     /* network failure */
};

#define MK_ERROR_MSG_MAX 512

typedef struct mk_error {
    int code;
    char msg[MK_ERROR_MSG_MAX];
} mk_error;

/* Short stable name of a code, e.g. "MK_EBADSIG". */
MK_EXTERN const char *mk_strerror(int code);

/* Reset to "no error". */
MK_EXTERN void mk_error_clear(mk_error *err);

/* Set code and formatted reason; returns code so it can be `return`ed.
 * err may be NULL. */
MK_EXTERN int mk_error_set(mk_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend "context: " to the reason of a failure with status `code` and
 * return `code`, so `return mk_error_prefix(err, rc, "where");` keeps the
 * real status even when err is NULL. err->code becomes `code` when it is
 * negative (or when err held no error yet). */
MK_EXTERN int mk_error_prefix(mk_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Guard: evaluate an expression returning int; return it if negative. */
#define MK_TRY(expr)                                                                               \
    do {                                                                                           \
        int mk_try_rc_ = (expr);                                                                   \
        if (mk_try_rc_ < 0) return mk_try_rc_;                                                     \
    } while (0)

/* Guard that jumps to a cleanup label, storing the code in `rc`. */
#define MK_GUARD(rc, expr, label)                                                                  \
    do {                                                                                           \
        (rc) = (expr);                                                                             \
        if ((rc) < 0) goto label;                                                                  \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
