/*
 * tools/mosaik/cli_input.c — option values and inputs, the same for every
 * command.
 *
 * Values are parsed strictly: an integer is decimal digits only (no sign,
 * no spaces, no overflow), within the bounds the option documents; a time
 * is UNIX seconds or an RFC 3339 date-time (mk_time_parse_rfc3339); a
 * duration is a finite decimal number of seconds within bounds. Anything
 * else is a usage error naming the option: nothing is clamped or silently
 * replaced by a default.
 *
 * Inputs: "-" is stdin. Stdin is read at most once, into a buffer kept for
 * the run (capped at STDIN_MAX), so every input given as "-" sees the same
 * bytes. Where the library opens a file itself (a key, a firmware image),
 * cli_input_path hands it a private temporary copy of stdin (mkstemp,
 * mode 0600), removed when the process exits.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define STDIN_MAX (64u << 20)

/* ----- values ------------------------------------------------------------ */

static bool all_digits(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

int cli_parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
    errno = 0;
    unsigned long long v = all_digits(s) ? strtoull(s, NULL, 10) : 0;
    if (!all_digits(s) || errno == ERANGE || v < lo || v > hi)
        return cli_usage_error("%s: %s wants an integer in [%llu, %llu], not '%s'",
                               cli_command_path(), opt, (unsigned long long)lo,
                               (unsigned long long)hi, s);
    *out = v;
    return 0;
}

int cli_parse_u32(const char *opt, const char *s, uint32_t lo, uint32_t hi, uint32_t *out) {
    uint64_t v;
    if (cli_parse_u64(opt, s, lo, hi, &v) != 0) return CLI_USAGE;
    *out = (uint32_t)v;
    return 0;
}

int cli_parse_time(const char *opt, const char *s, int64_t *out) {
    errno = 0;
    if (all_digits(s)) {
        unsigned long long v = strtoull(s, NULL, 10);
        if (errno != ERANGE && v <= (unsigned long long)INT64_MAX / 2) {
            *out = (int64_t)v;
            return 0;
        }
    } else if (mk_time_parse_rfc3339(s, strlen(s), out, NULL) == 0) {
        return 0;
    }
    return cli_usage_error("%s: %s wants UNIX seconds (a non-negative integer) or an RFC 3339 "
                           "date-time such as 2025-07-19T09:57:14Z, not '%s'",
                           cli_command_path(), opt, s);
}

int cli_parse_seconds(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = *s && strchr("0123456789.", *s) ? strtod(s, &end) : NAN;
    if (!end || *end || errno == ERANGE || !isfinite(v) || v < lo || v > hi)
        return cli_usage_error("%s: %s wants seconds in [%g, %g], not '%s'", cli_command_path(),
                               opt, lo, hi, s);
    *out = v;
    return 0;
}

/* ----- stdin ------------------------------------------------------------- */

static mk_buf g_stdin;
static bool g_stdin_read;
static int g_stdin_rc;
static mk_error g_stdin_err;
static char g_stdin_path[64];

/* Stdin into g_stdin, the first time; its status every time. */
static int read_stdin(mk_error *err) {
    if (!g_stdin_read) {
        g_stdin_read = true;
        mk_buf_init(&g_stdin, STDIN_MAX);
        mk_error_clear(&g_stdin_err);
        uint8_t chunk[65536];
        for (;;) {
            ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                g_stdin_rc = mk_error_set(&g_stdin_err, MK_EIO, "stdin: %s", strerror(errno));
                break;
            }
            if (n == 0) break;
            if (mk_buf_append(&g_stdin, chunk, (size_t)n) < 0) {
                g_stdin_rc =
                    mk_error_set(&g_stdin_err, MK_ETOOBIG, "stdin: more than %u bytes", STDIN_MAX);
                break;
            }
        }
    }
    if (g_stdin_rc < 0 && err) *err = g_stdin_err;
    return g_stdin_rc;
}

bool cli_is_stdin(const char *path) {
    return path && !strcmp(path, "-");
}

int cli_read_file(const char *path, size_t max, mk_buf *out, mk_error *err) {
    if (!cli_is_stdin(path)) return mk_file_read(path, max, out, err);
    MK_TRY(read_stdin(err));
    if (g_stdin.len > max)
        return mk_error_set(err, MK_ETOOBIG, "stdin: larger than %zu bytes", max);
    int rc = mk_buf_append(out, g_stdin.data, g_stdin.len);
    return rc < 0 ? mk_error_set(err, rc, "stdin: %s", mk_strerror(rc)) : 0;
}

static void remove_stdin_copy(void) {
    if (g_stdin_path[0]) unlink(g_stdin_path);
    mk_buf_free(&g_stdin);
}

const char *cli_input_path(const char *path, mk_error *err) {
    if (!cli_is_stdin(path)) return path;
    if (g_stdin_path[0]) return g_stdin_path;
    if (read_stdin(err) < 0) return NULL;
    const char *dir = getenv("TMPDIR");
    char tmpl[sizeof g_stdin_path];
    int n = snprintf(tmpl, sizeof tmpl, "%s/mosaik-stdin-XXXXXX", dir && *dir ? dir : "/tmp");
    if (n < 0 || (size_t)n >= sizeof tmpl)
        n = snprintf(tmpl, sizeof tmpl, "/tmp/mosaik-stdin-XXXXXX");
    int fd = mkstemp(tmpl); /* mode 0600 */
    if (fd < 0) {
        mk_error_set(err, MK_EIO, "stdin: temporary copy in %s: %s", tmpl, strerror(errno));
        return NULL;
    }
    memcpy(g_stdin_path, tmpl, sizeof tmpl);
    atexit(remove_stdin_copy);
    size_t off = 0;
    while (off < g_stdin.len) {
        ssize_t w = write(fd, g_stdin.data + off, g_stdin.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            mk_error_set(err, MK_EIO, "stdin: temporary copy %s: %s", tmpl, strerror(errno));
            close(fd);
            return NULL;
        }
        off += (size_t)w;
    }
    if (close(fd) < 0) {
        mk_error_set(err, MK_EIO, "stdin: temporary copy %s: %s", tmpl, strerror(errno));
        return NULL;
    }
    return g_stdin_path;
}
