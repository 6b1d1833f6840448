/*
 * tests/builder/hello.c — the tiny program the TDX image smoke test
 * (tests/cli/tdx_build_smoke.sh) packages with `mosaik tdx build`. Built
 * statically with musl-gcc; runs as the image's program, prints a marker the
 * test looks for on the serial console, and exits (the image's /init then
 * powers the guest off). It also echoes its arguments and MOSAIK_HELLO from
 * the environment, so tests/cli/tdx_kernel_smoke.sh can check what --arg
 * and --env baked into /init, and the PRETTY_NAME of /etc/os-release when
 * the image has one (a Debian root filesystem).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

int main(int argc, char **argv) {
    struct utsname u;
    if (uname(&u) == 0) printf("hello: running on %s %s\n", u.sysname, u.release);
    printf("MOSAIK-SMOKE-OK argc=%d argv0=%s\n", argc, argc > 0 ? argv[0] : "?");
    for (int i = 1; i < argc; i++)
        printf("hello: arg %d [%s]\n", i, argv[i]);
    const char *e = getenv("MOSAIK_HELLO");
    if (e) printf("hello: MOSAIK_HELLO [%s]\n", e);
    /* a Debian root filesystem (tests/cli/tdx_rootfs_smoke.sh) shows here */
    FILE *f = fopen("/etc/os-release", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "PRETTY_NAME=", 12)) printf("hello: os-release %s", line);
    if (f) fclose(f);
    fflush(stdout);
    return 0;
}
