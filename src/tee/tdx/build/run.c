/*
 * run.c — running the external tools the builder relies on (apt-get,
 * dpkg-deb, xz, mmdebstrap): one child process, no shell.
 *
 * The child is started with posix_spawnp (argv[0] looked up in PATH), the
 * caller's environment plus the given NAME=VALUE entries (an entry replaces
 * one of the same name), stdin from /dev/null, and stdout/stderr on two
 * pipes that the parent drains with poll(2) until both close. stdout is
 * kept up to `max` bytes (more is an error: the tool produced more than a
 * caller can use); stderr is kept in a 4 KiB ring so the error can quote
 * its last line(s). Nothing is interpreted by a shell, so arguments need no
 * quoting.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tee/tdx/build/build_internal.h"

extern char **environ;

#define ERR_TAIL 4096

bool mk_tdx_have_program(const char *name) {
    const char *path = getenv("PATH");
    if (!path || strchr(name, '/')) return access(name, X_OK) == 0;
    char buf[4096];
    for (const char *p = path; *p;) {
        const char *e = strchr(p, ':');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l && (size_t)snprintf(buf, sizeof buf, "%.*s/%s", (int)l, p, name) < sizeof buf) {
            struct stat st;
            if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0) return true;
        }
        p += l + (e ? 1 : 0);
        if (!e) break;
    }
    return false;
}

/* environ with the extra entries (replacing those of the same name). */
static char **make_env(const char *const *extra) {
    size_t ne = 0, nx = 0;
    while (environ[ne])
        ne++;
    while (extra && extra[nx])
        nx++;
    char **env = calloc(ne + nx + 1, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < ne; i++) {
        bool replaced = false;
        for (size_t j = 0; j < nx && !replaced; j++) {
            const char *eq = strchr(extra[j], '=');
            size_t l = eq ? (size_t)(eq - extra[j]) : strlen(extra[j]);
            replaced = !strncmp(environ[i], extra[j], l) && environ[i][l] == '=';
        }
        if (!replaced) env[k++] = environ[i];
    }
    for (size_t j = 0; j < nx; j++)
        env[k++] = (char *)extra[j];
    return env;
}

/* Drain both pipes until they close; false when stdout exceeded max. */
static bool drain(int ofd, int efd, mk_buf *out, size_t max, char *tail, size_t *tlen) {
    bool ok = true;
    struct pollfd p[2] = {{ofd, POLLIN, 0}, {efd, POLLIN, 0}};
    char buf[65536];
    while (p[0].fd >= 0 || p[1].fd >= 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                continue;
            }
            if (i == 0 && out) {
                if (out->len + (size_t)n > max || mk_buf_append(out, buf, (size_t)n) < 0)
                    ok = false;
            } else if (i == 1) {
                size_t k = (size_t)n > ERR_TAIL ? ERR_TAIL : (size_t)n;
                if (*tlen + k > ERR_TAIL) {
                    size_t drop = *tlen + k - ERR_TAIL;
                    memmove(tail, tail + drop, *tlen - drop);
                    *tlen -= drop;
                }
                memcpy(tail + *tlen, buf + (size_t)n - k, k);
                *tlen += k;
            }
        }
    }
    return ok;
}

int mk_tdx_run(const char *const *argv, const char *const *env, mk_buf *out, size_t max,
               mk_error *err) {
    return mk_tdx_run_in(NULL, argv, env, out, max, err);
}

int mk_tdx_run_in(const char *cwd, const char *const *argv, const char *const *env, mk_buf *out,
                  size_t max, mk_error *err) {
    int op[2] = {-1, -1}, ep[2] = {-1, -1};
    char **envp = make_env(env);
    if (!envp) return mk_error_set(err, MK_ENOMEM, "out of memory");
    if (pipe2(op, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
        int e = errno;
        free(envp);
        if (op[0] >= 0) close(op[0]), close(op[1]);
        return mk_error_set(err, MK_EIO, "%s: pipe: %s", argv[0], strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, op[1], 1);
    posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
    if (cwd) posix_spawn_file_actions_addchdir_np(&fa, cwd);
    pid_t pid;
    int src = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    close(op[1]);
    close(ep[1]);
    if (src != 0) {
        close(op[0]);
        close(ep[0]);
        return mk_error_set(err, MK_EUNAVAILABLE, "cannot run %s: %s", argv[0], strerror(src));
    }
    char tail[ERR_TAIL + 1];
    size_t tlen = 0;
    bool ok = drain(op[0], ep[0], out, max, tail, &tlen);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    tail[tlen] = 0;
    while (tlen && (tail[tlen - 1] == '\n' || tail[tlen - 1] == '\r'))
        tail[--tlen] = 0;
    /* the last two lines of stderr */
    const char *last = tail;
    for (int lines = 0, i = (int)tlen - 1; i >= 0; i--)
        if (tail[i] == '\n' && ++lines == 2) {
            last = tail + i + 1;
            break;
        }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return mk_error_set(err, MK_EIO, "%s failed (%s %d): %s", argv[0],
                            WIFEXITED(st) ? "exit" : "signal",
                            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), *last ? last : "-");
    if (!ok) return mk_error_set(err, MK_ETOOBIG, "%s: output larger than %zu bytes", argv[0], max);
    return 0;
}
