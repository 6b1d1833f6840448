/*
 * mosaik/clock.h — time: UTC seconds, monotonic milliseconds, RFC 3339.
 *
 * All of the library reads time through mk_now() and mk_mono_ms(), which
 * consult a process-wide clock that tests can replace (mk_clock_set) to
 * make expiry deterministic.
 */
#ifndef MOSAIK_CLOCK_H
#define MOSAIK_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "mosaik/error.h"
#include "mosaik/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mk_clock {
    int64_t (*now)(void *ctx);      /* UTC seconds since the epoch */
    uint64_t (*mono_ms)(void *ctx); /* monotonic milliseconds */
    void *ctx;
} mk_clock;

/* Replace the clock (NULL restores the system clock). Not thread-safe
 * against concurrent readers: set it before starting threads. */
MK_EXTERN void mk_clock_set(const mk_clock *clock);
MK_EXTERN int64_t mk_now(void);
MK_EXTERN uint64_t mk_mono_ms(void);
/* The system clock, regardless of any replacement. */
MK_EXTERN int64_t mk_system_now(void);

/* A fixed clock for tests: mk_fake_clock_init(&fc, t); mk_clock_set(&fc.clock). */
typedef struct mk_fake_clock {
    mk_clock clock;
    int64_t now;
    uint64_t mono_ms;
} mk_fake_clock;
MK_EXTERN void mk_fake_clock_init(mk_fake_clock *fc, int64_t now);
MK_EXTERN void mk_fake_clock_advance(mk_fake_clock *fc, int64_t seconds);

/* RFC 3339 / ISO 8601 date-times: "2025-07-19T10:00:34Z", with optional
 * fractional seconds (ignored) and "+hh:mm"/"-hh:mm" offsets. */
MK_EXTERN int mk_time_parse_rfc3339(const char *s, size_t len, int64_t *out, mk_error *err);
#define MK_RFC3339_LEN 32
/* Formats as "YYYY-MM-DDThh:mm:ssZ" into out (MK_RFC3339_LEN bytes). */
MK_EXTERN void mk_time_format_rfc3339(int64_t t, char out[MK_RFC3339_LEN]);
/* Days/seconds conversions (proleptic Gregorian, UTC). */
MK_EXTERN int64_t mk_time_from_civil(int year, int month, int day, int hour, int min, int sec);

#ifdef __cplusplus
}
#endif
#endif
