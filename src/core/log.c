/*
 * core/log.c — leveled logging, as text or as JSON lines.
 *
 * The level is read once from MOSAIK_LOG, the format once from
 * MOSAIK_LOG_FORMAT ("text" or "json"; anything else is text). Messages are
 * formatted into a stack buffer and handed to the sink, or written to
 * stderr, under a mutex, so lines from several threads never interleave.
 *
 * JSON lines: {"time","level","subsystem","message"}, the time as RFC 3339
 * in UTC with milliseconds. Strings are escaped here (no allocation, no
 * JSON library): '"', '\\' and control characters get JSON escapes, and a
 * byte that does not start a well-formed UTF-8 sequence (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF) becomes \ufffd, so
 * a reason quoting a peer's bytes cannot break the line. The line buffer
 * holds the worst case (6 bytes per message byte), so nothing is cut.
 */
#include "mosaik/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSG_MAX 1024

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int level = MK_LOG_WARN;
static int format = MK_LOG_FORMAT_TEXT;
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

static void init_env(void) {
    int l = mk_log_parse_level(getenv("MOSAIK_LOG"));
    if (l >= 0) __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    const char *f = getenv("MOSAIK_LOG_FORMAT");
    if (f && !strcmp(f, "json")) __atomic_store_n(&format, MK_LOG_FORMAT_JSON, __ATOMIC_RELAXED);
}

void mk_log_set_level(mk_log_level l) {
    pthread_once(&once, init_env);
    __atomic_store_n(&level, (int)l, __ATOMIC_RELAXED);
}

mk_log_level mk_log_get_level(void) {
    pthread_once(&once, init_env);
    return (mk_log_level)__atomic_load_n(&level, __ATOMIC_RELAXED);
}

void mk_log_set_format(mk_log_format f) {
    pthread_once(&once, init_env);
    __atomic_store_n(&format, f == MK_LOG_FORMAT_JSON ? MK_LOG_FORMAT_JSON : MK_LOG_FORMAT_TEXT,
                     __ATOMIC_RELAXED);
}

mk_log_format mk_log_get_format(void) {
    pthread_once(&once, init_env);
    return (mk_log_format)__atomic_load_n(&format, __ATOMIC_RELAXED);
}

void mk_log_set_sink(mk_log_sink s, void *ctx) {
    pthread_mutex_lock(&lock);
    sink = s;
    sink_ctx = ctx;
    pthread_mutex_unlock(&lock);
}

/* ----- JSON -------------------------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len = c < 0x80             ? 1
                 : (c & 0xe0) == 0xc0 ? 2
                 : (c & 0xf0) == 0xe0 ? 3
                 : (c & 0xf8) == 0xf0 ? 4
                                      : 0;
    if (!len || len > n) return 0;
    unsigned cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* s as a JSON string (with its quotes) at out + off; returns the new
 * offset. The caller's buffer holds 6 bytes per input byte plus 2. */
static size_t json_str(char *out, size_t off, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    out[off++] = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t len = utf8_len(p + i, n - i);
        if (!len) {
            memcpy(out + off, "\\ufffd", 6), off += 6, i++;
        } else if (c == '"' || c == '\\') {
            out[off++] = '\\', out[off++] = (char)c, i++;
        } else if (c < 0x20) {
            off += (size_t)snprintf(out + off, 7, "\\u%04x", c), i++;
        } else {
            memcpy(out + off, p + i, len), off += len, i += len;
        }
    }
    out[off++] = '"';
    return off;
}

static void write_json(mk_log_level l, const char *subsystem, const char *msg,
                       const struct timespec *ts, const struct tm *tm) {
    char line[6 * MSG_MAX + 256];
    size_t off = (size_t)snprintf(line, sizeof line,
                                  "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":"
                                  "\"%s\",\"subsystem\":",
                                  tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday, tm->tm_hour,
                                  tm->tm_min, tm->tm_sec, ts->tv_nsec / 1000000, names[l]);
    char sub[64];
    snprintf(sub, sizeof sub, "%s", subsystem ? subsystem : "mosaik");
    off = json_str(line, off, sub);
    memcpy(line + off, ",\"message\":", 11), off += 11;
    off = json_str(line, off, msg);
    line[off++] = '}';
    line[off++] = '\n';
    fwrite(line, 1, off, stderr);
}

void mk_log(mk_log_level l, const char *subsystem, const char *fmt, ...) {
    if (!MK_LOG_ENABLED(l)) return;
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    bool json = mk_log_get_format() == MK_LOG_FORMAT_JSON;
    pthread_mutex_lock(&lock);
    if (sink) {
        sink(l, subsystem, msg, sink_ctx);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        if (json)
            write_json(l, subsystem, msg, &ts, &tm);
        else
            fprintf(stderr, "%02d:%02d:%02d.%03ld %-5s %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
                    ts.tv_nsec / 1000000, names[l], subsystem ? subsystem : "mosaik", msg);
    }
    pthread_mutex_unlock(&lock);
}
