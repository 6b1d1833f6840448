/*
 * core/log.c — leveled logging.
 *
 * The level is read once from MOSAIK_LOG. Messages are formatted into a
 * stack buffer and handed to the sink under a mutex, so lines from several
 * threads never interleave.
 */
#include "mosaik/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int level = MK_LOG_WARN;
static mk_log_sink sink;
static void *sink_ctx;

static const char *names[] = {"error", "warn", "info", "debug", "trace"};

int mk_log_parse_level(const char *s) {
    if (!s) return -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) return i;
    if (strcmp(s, "warning") == 0) return MK_LOG_WARN;
    return -1;
}

static void init_level(void) {
    int l = mk_log_parse_level(getenv("MOSAIK_LOG"));
    if (l >= 0) __atomic_store_n(&level, l, __ATOMIC_RELAXED);
}

void mk_log_set_level(mk_log_level l) {
    pthread_once(&once, init_level);
    __atomic_store_n(&level, (int)l, __ATOMIC_RELAXED);
}

mk_log_level mk_log_get_level(void) {
    pthread_once(&once, init_level);
    return (mk_log_level)__atomic_load_n(&level, __ATOMIC_RELAXED);
}

void mk_log_set_sink(mk_log_sink s, void *ctx) {
    pthread_mutex_lock(&lock);
    sink = s;
    sink_ctx = ctx;
    pthread_mutex_unlock(&lock);
}

void mk_log(mk_log_level l, const char *subsystem, const char *fmt, ...) {
    if (!MK_LOG_ENABLED(l)) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&lock);
    if (sink) {
        sink(l, subsystem, msg, sink_ctx);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        fprintf(stderr, "%02d:%02d:%02d.%03ld %-5s %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
                ts.tv_nsec / 1000000, names[l], subsystem ? subsystem : "mosaik", msg);
    }
    pthread_mutex_unlock(&lock);
}
