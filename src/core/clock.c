/*
 * core/clock.c — UTC seconds, monotonic milliseconds, RFC 3339.
 *
 * The civil-date conversion is the standard days-from-civil algorithm
 * (proleptic Gregorian, eras of 400 years), so it needs no timegm() and no
 * time zone state. Parsing is strict: fixed field widths, ranges checked,
 * "Z" or a numeric offset required.
 */
#include "mosaik/clock.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t sys_now(void *ctx) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

static uint64_t sys_mono(void *ctx) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const mk_clock system_clock = {sys_now, sys_mono, NULL};
static const mk_clock *current = &system_clock;

void mk_clock_set(const mk_clock *clock) {
    current = clock ? clock : &system_clock;
}

int64_t mk_now(void) {
    return current->now(current->ctx);
}

uint64_t mk_mono_ms(void) {
    return current->mono_ms(current->ctx);
}

int64_t mk_system_now(void) {
    return sys_now(NULL);
}

static int64_t fake_now(void *ctx) {
    return ((mk_fake_clock *)ctx)->now;
}

static uint64_t fake_mono(void *ctx) {
    return ((mk_fake_clock *)ctx)->mono_ms;
}

void mk_fake_clock_init(mk_fake_clock *fc, int64_t now) {
    fc->clock.now = fake_now;
    fc->clock.mono_ms = fake_mono;
    fc->clock.ctx = fc;
    fc->now = now;
    fc->mono_ms = 1000000;
}

void mk_fake_clock_advance(mk_fake_clock *fc, int64_t seconds) {
    fc->now += seconds;
    fc->mono_ms += (uint64_t)seconds * 1000u;
}

int64_t mk_time_from_civil(int year, int month, int day, int hour, int min, int sec) {
    int64_t y = year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = (month + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    return days * 86400 + hour * 3600 + min * 60 + sec;
}

static void civil_from_days(int64_t z, int *year, int *month, int *day) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)(y + (m <= 2));
    *month = (int)m;
    *day = (int)d;
}

void mk_time_format_rfc3339(int64_t t, char out[MK_RFC3339_LEN]) {
    int64_t days = t / 86400, rem = t % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, MK_RFC3339_LEN, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60));
}

static int digits(const char *s, size_t len, size_t at, size_t n, int *out) {
    if (at + n > len) return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[at + i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}

static bool is_leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int mk_time_parse_rfc3339(const char *s, size_t len, int64_t *out, mk_error *err) {
    int Y, M, D, h, m, sec;
    if (len < 20 || len > 64 || digits(s, len, 0, 4, &Y) || s[4] != '-' ||
        digits(s, len, 5, 2, &M) || s[7] != '-' || digits(s, len, 8, 2, &D) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || digits(s, len, 11, 2, &h) ||
        s[13] != ':' || digits(s, len, 14, 2, &m) || s[16] != ':' || digits(s, len, 17, 2, &sec))
        return mk_error_set(err, MK_EMALFORMED, "time: not an RFC 3339 date-time");
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] + (M == 2 && is_leap(Y)) || h > 23 ||
        m > 59 || sec > 60)
        return mk_error_set(err, MK_EMALFORMED, "time: field out of range");
    if (sec == 60) sec = 59; /* leap second: clamp */
    size_t i = 19;
    if (i < len && s[i] == '.') {
        i++;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
        if (i == start) return mk_error_set(err, MK_EMALFORMED, "time: empty fraction");
    }
    int64_t offset = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (digits(s, len, i + 1, 2, &oh) || i + 3 >= len || s[i + 3] != ':' ||
            digits(s, len, i + 4, 2, &om) || oh > 23 || om > 59)
            return mk_error_set(err, MK_EMALFORMED, "time: bad offset");
        offset = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return mk_error_set(err, MK_EMALFORMED, "time: missing time zone");
    }
    if (i != len) return mk_error_set(err, MK_EMALFORMED, "time: trailing characters");
    *out = mk_time_from_civil(Y, M, D, h, m, sec) - offset;
    return 0;
}
