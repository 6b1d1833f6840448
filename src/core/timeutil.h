/*
 * core/timeutil.h — the small time helpers every threaded layer needs:
 * wall-clock and monotonic milliseconds, absolute deadlines for
 * pthread_cond_timedwait on a monotonic condition variable, and a sleep
 * that resumes after signals. Internal to the library (not installed), but
 * shared by every layer, so it has no `_internal` suffix.
 *
 * These read the system clocks directly. Policy decisions that tests must
 * control (ticket expiry, freshness) use mk_now() from mosaik/clock.h,
 * which a test can replace; these helpers time waits, retries and entry
 * versions, which follow real time.
 */
#ifndef MOSAIK_CORE_TIMEUTIL_H
#define MOSAIK_CORE_TIMEUTIL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_REALTIME in milliseconds since the epoch. */
uint64_t mk_wall_ms(void);
/* CLOCK_MONOTONIC in milliseconds (not replaceable, unlike mk_mono_ms). */
uint64_t mk_sys_mono_ms(void);
/* The CLOCK_MONOTONIC time `ms` from now, for pthread_cond_timedwait on a
 * condition variable made by mk_cond_init_mono. */
void mk_deadline_after(struct timespec *ts, uint32_t ms);
/* A condition variable whose timed waits use CLOCK_MONOTONIC, so a wall
 * clock step neither cuts a wait short nor stretches it. */
int mk_cond_init_mono(pthread_cond_t *cond);
/* Sleep ms milliseconds, resuming after signal interruptions. */
void mk_sleep_ms(uint32_t ms);

#endif
