/*
 * core/error.c — status codes with human-readable reasons.
 *
 * An mk_error is a fixed-size value (no allocation), so setting one can
 * never fail. mk_error_prefix builds context outward: the innermost
 * function states the fact, each caller prepends where it happened.
 */
#include "mosaik/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *mk_strerror(int code) {
    switch (code) {
    case MK_OK:
        return "MK_OK";
    case MK_EINVAL:
        return "MK_EINVAL";
    case MK_ENOMEM:
        return "MK_ENOMEM";
    case MK_ETRUNC:
        return "MK_ETRUNC";
    case MK_EMALFORMED:
        return "MK_EMALFORMED";
    case MK_ETOOBIG:
        return "MK_ETOOBIG";
    case MK_ECRYPTO:
        return "MK_ECRYPTO";
    case MK_EBADSIG:
        return "MK_EBADSIG";
    case MK_EEXPIRED:
        return "MK_EEXPIRED";
    case MK_ENOTYET:
        return "MK_ENOTYET";
    case MK_EUNTRUSTED:
        return "MK_EUNTRUSTED";
    case MK_EREVOKED:
        return "MK_EREVOKED";
    case MK_EPOLICY:
        return "MK_EPOLICY";
    case MK_EMISMATCH:
        return "MK_EMISMATCH";
    case MK_EUNSUPPORTED:
        return "MK_EUNSUPPORTED";
    case MK_EIO:
        return "MK_EIO";
    case MK_ENOTFOUND:
        return "MK_ENOTFOUND";
    case MK_ETIMEDOUT:
        return "MK_ETIMEDOUT";
    case MK_ESTATE:
        return "MK_ESTATE";
    case MK_EUNAVAILABLE:
        return "MK_EUNAVAILABLE";
    case MK_EBUSY:
        return "MK_EBUSY";
    case MK_ENETWORK:
        return "MK_ENETWORK";
    default:
        return "MK_EUNKNOWN";
    }
}

void mk_error_clear(mk_error *err) {
    if (!err) return;
    err->code = 0;
    err->msg[0] = '\0';
}

int mk_error_set(mk_error *err, int code, const char *fmt, ...) {
    if (!err) return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

int mk_error_prefix(mk_error *err, int code, const char *fmt, ...) {
    if (!err) return code;
    if (err->code == 0 || code < 0) err->code = code;
    char prefix[MK_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[MK_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    size_t pl = strnlen(prefix, sizeof prefix - 1), ol = strnlen(old, sizeof old - 1);
    size_t cap = sizeof err->msg - 1, at = 0;
    size_t n = pl < cap ? pl : cap;
    memcpy(err->msg, prefix, n);
    at = n;
    if (ol && at + 2 <= cap) {
        memcpy(err->msg + at, ": ", 2);
        at += 2;
        n = ol < cap - at ? ol : cap - at;
        memcpy(err->msg + at, old, n);
        at += n;
    }
    err->msg[at] = '\0';
    return code;
}
