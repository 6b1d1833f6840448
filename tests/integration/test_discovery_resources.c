/*
 * tests/integration/test_discovery_resources.c — a network that cannot be
 * created for lack of file descriptors fails with an error naming the
 * limit, and nothing crashes or leaks.
 *
 * Each case runs in a child process (fork) with a low RLIMIT_NOFILE, so
 * that exhausting descriptors cannot disturb the test runner; the parent
 * only checks that the child exited with status 0 (a crash or an abort is
 * a signal, a failed check a non-zero status, printed by the child).
 *
 *   - every creation step: the child fills its descriptor table, leaving
 *     k free for k = 0..MAX_FREE, so that each step that opens one (the
 *     event queue's eventfd, the event loop, its wakeup handle, the
 *     listening socket) is the one that fails for some k; each attempt
 *     either succeeds or returns MK_EBUSY saying "RLIMIT_NOFILE";
 *   - many nodes: the child creates running nodes, each bootstrapped from
 *     the first (so they dial, accept and sync while descriptors run out),
 *     until a creation fails; that failure must be clean, and every node
 *     is then closed and freed.
 *
 *   - a group's steps: on a running node, a collection (a raft group with
 *     its own loop thread, log files and sockets) is opened with k
 *     descriptors free for k = 0..MAX_FREE: each attempt either succeeds
 *     or fails with a reason (the group's loop naming RLIMIT_NOFILE when
 *     it is the step that lacks one), never a crash or a leak.
 *
 * No timing is asserted: how many nodes fit depends on the machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "discovery_util.h"
#include "test_util.h"

#define MAX_FREE 16
#define NOFILE_LIMIT 256
#define MAX_NODES 256

/* A failed creation must say which limit it hit. */
static int check_failure(int rc, const mk_error *err, const char *what) {
    if (rc != MK_EBUSY || !strstr(err->msg, "RLIMIT_NOFILE")) {
        fprintf(stderr, "%s: rc %d (%s), want MK_EBUSY naming RLIMIT_NOFILE: %s\n", what, rc,
                mk_strerror(rc), err->msg);
        return 1;
    }
    return 0;
}

static int lower_nofile(rlim_t n) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return -1;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n) n = rl.rlim_max;
    rl.rlim_cur = n;
    return setrlimit(RLIMIT_NOFILE, &rl);
}

static mk_network *try_new(mk_network *boot, int *rc, mk_error *err) {
    mk_network_config cfg;
    mk_network_config_init(&cfg);
    cfg.network = "test-resources";
    fast(&cfg);
    char bs[200];
    const char *bl[1] = {bs};
    if (boot) {
        tu_boot_string(boot, bs, sizeof bs);
        cfg.bootstrap = bl;
        cfg.n_bootstrap = 1;
    }
    mk_network *nw = NULL;
    mk_error_clear(err);
    *rc = mk_network_new(&cfg, &nw, err);
    if (*rc < 0 && nw) {
        fprintf(stderr, "a failed mk_network_new left *out set\n");
        *rc = MK_EINVAL;
    }
    return nw;
}

/* Child: fill the table leaving k free, create one network, free it. */
static int child_steps(void) {
    if (lower_nofile(NOFILE_LIMIT) < 0) return 2;
    int fds[NOFILE_LIMIT];
    int fails = 0, oks = 0;
    for (int k = 0; k <= MAX_FREE; k++) {
        int n = 0;
        for (;;) {
            int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd < 0) break;
            if (n == NOFILE_LIMIT) {
                close(fd);
                break;
            }
            fds[n++] = fd;
        }
        for (int i = 0; i < k && n > 0; i++)
            close(fds[--n]);
        int rc;
        mk_error err;
        mk_network *nw = try_new(NULL, &rc, &err);
        char what[32];
        snprintf(what, sizeof what, "%d descriptors free", k);
        if (rc < 0) {
            fails++;
            if (check_failure(rc, &err, what)) return 1;
        } else {
            oks++;
        }
        mk_network_free(nw);
        while (n > 0)
            close(fds[--n]);
    }
    /* With none free it fails; with MAX_FREE free it succeeds. */
    if (!fails || !oks) {
        fprintf(stderr, "%d failures, %d successes: want both\n", fails, oks);
        return 1;
    }
    return 0;
}

/* Fill the descriptor table but for k; returns how many were taken. */
static int fill_fds(int *fds, int k) {
    int n = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) break;
        if (n == NOFILE_LIMIT) {
            close(fd);
            break;
        }
        fds[n++] = fd;
    }
    for (int i = 0; i < k && n > 0; i++)
        close(fds[--n]);
    return n;
}

/* Child: a collection opened with 0..MAX_FREE descriptors free. */
static int child_group_steps(void) {
    if (lower_nofile(NOFILE_LIMIT) < 0) return 2;
    int rc;
    mk_error err;
    mk_network *nw = try_new(NULL, &rc, &err);
    if (rc < 0) return fprintf(stderr, "the node: %s\n", err.msg), 1;
    char dir[] = "/tmp/mosaik-res-XXXXXX";
    if (!mkdtemp(dir)) return 2;
    int fds[NOFILE_LIMIT], fails = 0, oks = 0, status = 0;
    for (int k = 0; k <= MAX_FREE && !status; k++) {
        char sub[64];
        snprintf(sub, sizeof sub, "%s/%d", dir, k);
        mk_collection_config cc;
        mk_collection_config_init(&cc);
        cc.name = "resources", cc.kind = MK_COLL_MAP, cc.data_dir = sub, cc.bootstrap = true;
        int n = fill_fds(fds, k);
        mk_collection *c = NULL;
        mk_error_clear(&err);
        rc = mk_collection_new(nw, &cc, &c, &err);
        while (n > 0)
            close(fds[--n]);
        if (rc < 0) {
            fails++;
            if (!err.msg[0]) status = fprintf(stderr, "%d free: rc %d, no reason\n", k, rc) > 0;
            if (k == 0 && (rc != MK_EBUSY || !strstr(err.msg, "RLIMIT_NOFILE")))
                status = fprintf(stderr, "0 free: %s, want RLIMIT_NOFILE\n", err.msg) > 0;
        } else {
            oks++;
            mk_collection_free(c);
        }
    }
    mk_network_free(nw);
    char cmd[80];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) status = 1;
    if (!status && (!fails || !oks))
        status = fprintf(stderr, "%d failures, %d successes: want both\n", fails, oks) > 0;
    return status;
}

/* Child: running nodes until one cannot be created. */
static int child_many(void) {
    if (lower_nofile(NOFILE_LIMIT) < 0) return 2;
    mk_network **nodes = calloc(MAX_NODES, sizeof *nodes);
    if (!nodes) return 2;
    int n = 0, status = 0;
    for (;;) {
        int rc;
        mk_error err;
        if (n == MAX_NODES) {
            fprintf(stderr, "%d nodes fit under RLIMIT_NOFILE %d\n", n, NOFILE_LIMIT);
            status = 1;
            break;
        }
        nodes[n] = try_new(n ? nodes[0] : NULL, &rc, &err);
        if (rc < 0) {
            status = check_failure(rc, &err, "a node beyond the limit");
            break;
        }
        n++;
    }
    if (n == 0) status = 1; /* not even one node: the limit is too low */
    for (int i = n - 1; i >= 0; i--)
        mk_network_free(nodes[i]);
    free(nodes);
    return status;
}

static void run_child(int (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) exit(fn()); /* exit, not _exit: LeakSanitizer checks the child */
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        assert_int_equal(errno, EINTR);
    if (WIFSIGNALED(st)) fail_msg("the child died of signal %d", WTERMSIG(st));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_each_step(void **state) {
    (void)state;
    run_child(child_steps);
}

static void test_group_steps(void **state) {
    (void)state;
    run_child(child_group_steps);
}

static void test_many_nodes(void **state) {
    (void)state;
    run_child(child_many);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_step),
        cmocka_unit_test(test_group_steps),
        cmocka_unit_test(test_many_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
