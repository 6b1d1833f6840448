/*
 * tests/unit/tee/test_cache_link.c — the collateral cache's atomic write
 * (mk_tee_cache_write -> mk_file_write) never writes through a symlink
 * planted at the temporary name it really uses (issue 15, item 1).
 *
 * The temporary name is "<entry>.tmp.<pid>.<counter>.<16 hex digits from
 * getrandom>" (core/bytes.c). This program defines getrandom, which the
 * statically linked library calls instead of libc's: while armed it
 * returns a known value the first time (the name a symlink is planted at)
 * and another one after that; otherwise it is the system call. The
 * counter is per process and unknown here, so links are planted for every
 * counter value this program can reach, all pointing at a victim file
 * outside the cache.
 *
 * What must hold: the write succeeds (the collision is retried under a new
 * name: O_EXCL refuses the existing link, O_NOFOLLOW would refuse to open
 * through it), the victim keeps its content, and the entry is a regular
 * file with the new content. Without O_EXCL the open fails on the link
 * (O_NOFOLLOW: ELOOP, not EEXIST, so no retry); without O_NOFOLLOW the
 * O_EXCL | O_CREAT open still refuses the link; without both the write goes
 * into the victim.
 */
#include "test_util.h"

#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tee/tee_internal.h"

#define PLANTED_RND 0x1111111111111111ull
#define OTHER_RND 0x2222222222222222ull
#define MAX_COUNTER 64 /* more than the writes this program makes */

static int armed; /* 0 off, 1 next call returns PLANTED_RND, 2 then OTHER_RND */

ssize_t getrandom(void *buf, size_t len, unsigned int flags) {
    if (armed && len == sizeof(uint64_t)) {
        uint64_t v = armed == 1 ? PLANTED_RND : OTHER_RND;
        armed = 2;
        memcpy(buf, &v, sizeof v);
        return (ssize_t)len;
    }
    return (ssize_t)syscall(SYS_getrandom, buf, len, flags);
}

static void plant(const char *entry, const char *victim, bool on) {
    for (unsigned long k = 1; k <= MAX_COUNTER; k++) {
        char p[600];
        snprintf(p, sizeof p, "%s.tmp.%d.%lu.%016llx", entry, (int)getpid(), k,
                 (unsigned long long)PLANTED_RND);
        if (on)
            assert_int_equal(symlink(victim, p), 0);
        else
            assert_int_equal(unlink(p), 0);
    }
}

static void planted_link_at_the_temporary_name(void **state) {
    (void)state;
    char top[] = "/tmp/mosaik-cache-link-XXXXXX";
    assert_non_null(mkdtemp(top));
    char dir[200], victim[200], entry[300];
    snprintf(dir, sizeof dir, "%s/cache", top);
    snprintf(victim, sizeof victim, "%s/victim", top);
    snprintf(entry, sizeof entry, "%s/pcs-bundle-b0c06f000000.json", dir);
    mk_error err;
    TU_ASSERT_RC(mk_file_write(victim, "precious", 8, 0600, &err), 0, &err);
    assert_int_equal(mkdir(dir, 0700), 0);
    for (int round = 0; round < 2; round++) { /* a new entry, then a replacement */
        plant(entry, victim, true);
        armed = 1;
        const char *data = round ? "second" : "first";
        TU_ASSERT_RC(
            mk_tee_cache_write(dir, "pcs-bundle-b0c06f000000.json", data, strlen(data), &err), 0,
            &err);
        /* The first name tried was a planted link: the write went elsewhere. */
        assert_int_equal(armed, 2);
        armed = 0;
        mk_buf b = MK_BUF_INIT;
        TU_ASSERT_RC(mk_file_read(victim, 100, &b, &err), 0, &err);
        assert_int_equal(b.len, 8);
        assert_memory_equal(b.data, "precious", 8);
        mk_buf_reset(&b);
        struct stat st;
        assert_int_equal(lstat(entry, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        TU_ASSERT_RC(mk_tee_cache_read(dir, "pcs-bundle-b0c06f000000.json", 100, &b, &err), 0,
                     &err);
        assert_int_equal(b.len, strlen(data));
        assert_memory_equal(b.data, data, strlen(data));
        mk_buf_free(&b);
        /* Every planted link is still a link to the victim (none was renamed
         * over the entry), and nothing else was left in the directory. */
        plant(entry, victim, false);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
        assert_int_equal(system(cmd), 0);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(planted_link_at_the_temporary_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
