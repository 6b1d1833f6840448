/*
 * mosaik/log.h — leveled logging to stderr (or a user sink).
 *
 * The level comes from the environment variable MOSAIK_LOG (error, warn,
 * info, debug, trace; default warn) on first use, or from mk_log_set_level.
 *
 * The format of the lines on stderr comes from MOSAIK_LOG_FORMAT on first
 * use, or from mk_log_set_format:
 *   text (default)  "10:00:34.123 warn  disc: message"
 *   json            one object per line, keys in this order:
 *                   {"time":"2025-07-19T10:00:34.123Z","level":"warn",
 *                    "subsystem":"disc","message":"..."}
 *                   (time RFC 3339 in UTC with milliseconds; the message
 *                   JSON-escaped, invalid UTF-8 replaced by U+FFFD).
 * A sink set with mk_log_set_sink receives the parts instead, whatever the
 * format.
 */
#ifndef MOSAIK_LOG_H
#define MOSAIK_LOG_H

#include "mosaik/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mk_log_level {
    MK_LOG_ERROR = 0,
    MK_LOG_WARN = 1,
    MK_LOG_INFO = 2,
    MK_LOG_DEBUG = 3,
    MK_LOG_TRACE = 4,
} mk_log_level;

typedef enum mk_log_format {
    MK_LOG_FORMAT_TEXT = 0,
    MK_LOG_FORMAT_JSON = 1,
} mk_log_format;

typedef void (*mk_log_sink)(mk_log_level level, const char *subsystem, const char *msg, void *ctx);

MK_EXTERN void mk_log_set_level(mk_log_level level);
MK_EXTERN mk_log_level mk_log_get_level(void);
/* Parse "error", "warn", ... ; returns -1 if unknown. */
MK_EXTERN int mk_log_parse_level(const char *s);
MK_EXTERN void mk_log_set_sink(mk_log_sink sink, void *ctx);
MK_EXTERN void mk_log_set_format(mk_log_format format);
MK_EXTERN mk_log_format mk_log_get_format(void);
MK_EXTERN void mk_log(mk_log_level level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define MK_LOG_ENABLED(lvl) ((lvl) <= mk_log_get_level())

#ifdef __cplusplus
}
#endif
#endif
