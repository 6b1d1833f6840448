/*
 * tests/test_util.h — helpers shared by the unit tests (cmocka): test data,
 * assertions with the error's reason, and skips that CTest sees.
 *
 * Skips. cmocka's skip() marks one test SKIPPED, but the program still
 * exits 0 when nothing failed, so CTest would report a test that could not
 * run as passed. Every test program includes this header, which redefines
 * two cmocka macros:
 *   - skip() also counts the skip (tu_skips_);
 *   - cmocka_run_group_tests() returns 1 when a test failed, else 77 when
 *     a test was skipped, else 0.
 * tests/CMakeLists.txt declares 77 as every test's SKIP_RETURN_CODE, so
 * CTest reports such a program as skipped (scripts/test.sh lists the
 * skipped tests, and on CI fails when a test labelled "required" is among
 * them). TU_SKIP("reason", ...) prints why, then skips. A program that
 * skips part of its tests is reported skipped as a whole: the passing
 * part still ran (its output says which), but what is missing is visible.
 */
#ifndef MOSAIK_TESTUTIL_H
#define MOSAIK_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mosaik/mosaik.h"

/* ----- skips ----------------------------------------------------------------- */

/* The number of skip() calls in this program (one test per program file). */
static inline int *tu_skips_(void) {
    static int n;
    return &n;
}

#undef skip
#define skip() (++*tu_skips_(), _skip(__FILE__, __LINE__))

/* Skip the running test, saying why (a format and its arguments). */
#define TU_SKIP(...)                                                                               \
    do {                                                                                           \
        print_message("# skipped: " __VA_ARGS__);                                                  \
        print_message("\n");                                                                       \
        skip();                                                                                    \
    } while (0)

/* cmocka's count of failed tests -> the program's exit status. */
static inline int tu_exit_status_(int failed) {
    if (failed != 0) return 1;
    if (*tu_skips_() > 0) {
        print_message("# %d test(s) skipped: exit status 77 (reported to CTest as skipped)\n",
                      *tu_skips_());
        return 77;
    }
    return 0;
}

#undef cmocka_run_group_tests
#define cmocka_run_group_tests(group_tests, group_setup, group_teardown)                           \
    tu_exit_status_(_cmocka_run_group_tests(#group_tests, group_tests,                             \
                                            sizeof(group_tests) / sizeof((group_tests)[0]),        \
                                            group_setup, group_teardown))

/* ----- test data and assertions --------------------------------------------- */

/* Read a file under ../shared/testdata (fails the test if missing). */
static inline void tu_read_testdata(const char *rel, mk_buf *out) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", MOSAIK_TESTDATA, rel);
    mk_error err;
    mk_error_clear(&err);
    int rc = mk_file_read(path, 16 << 20, out, &err);
    if (rc != 0) fail_msg("cannot read test data %s: %s", path, err.msg);
}

/* Assert rc == want, printing the error reason otherwise. */
#define TU_ASSERT_RC(rc, want, err)                                                                \
    do {                                                                                           \
        int tu_rc_ = (rc);                                                                         \
        if (tu_rc_ != (want))                                                                      \
            fail_msg("got %s (%d), want %s: %s", mk_strerror(tu_rc_), tu_rc_, mk_strerror(want),   \
                     (err)->msg);                                                                  \
    } while (0)

/* Assert the error message contains a substring. */
#define TU_ASSERT_REASON(err, substr)                                                              \
    do {                                                                                           \
        if (!strstr((err)->msg, (substr)))                                                         \
            fail_msg("reason \"%s\" does not contain \"%s\"", (err)->msg, (substr));               \
    } while (0)

#endif
