/*
 * tests/testutil.h — helpers shared by the unit tests (cmocka).
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
            fail_msg("got %s (%d), want %s: %s", mk_strerror(tu_rc_), tu_rc_, mk_strerror(want),  \
                     (err)->msg);                                                                  \
    } while (0)

/* Assert the error message contains a substring. */
#define TU_ASSERT_REASON(err, substr)                                                              \
    do {                                                                                           \
        if (!strstr((err)->msg, (substr)))                                                         \
            fail_msg("reason \"%s\" does not contain \"%s\"", (err)->msg, (substr));              \
    } while (0)

#endif
