/*
 * core/timeutil.c — system-clock milliseconds, monotonic deadlines and
 * condition variables, and an interruption-safe sleep (core/timeutil.h).
 *
 * Deadlines are normalised (0 <= tv_nsec < 1e9) as pthread_cond_timedwait
 * requires; mk_sleep_ms continues with the remaining time after EINTR.
 */
#include "core/timeutil.h"

#include <errno.h>

static uint64_t ts_ms(const struct timespec *ts) {
    return (uint64_t)ts->tv_sec * 1000u + (uint64_t)ts->tv_nsec / 1000000u;
}

uint64_t mk_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts_ms(&ts);
}

uint64_t mk_sys_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts_ms(&ts);
}

void mk_deadline_after(struct timespec *ts, uint32_t ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int mk_cond_init_mono(pthread_cond_t *cond) {
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
    return rc == 0 ? 0 : -1;
}

void mk_sleep_ms(uint32_t ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
