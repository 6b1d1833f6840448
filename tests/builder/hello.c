/*
 * tests/builder/hello.c — the tiny program the TDX image smoke test
 * (tests/cli/tdx_build_smoke.sh) packages with `mosaik tdx build`. Built
 * statically with musl-gcc; runs as the image's program, prints a marker the
 * test looks for on the serial console, and exits (the image's /init then
 * powers the guest off).
 */
#include <stdio.h>
#include <sys/utsname.h>

int main(int argc, char **argv) {
    struct utsname u;
    if (uname(&u) == 0) printf("hello: running on %s %s\n", u.sysname, u.release);
    printf("MOSAIK-SMOKE-OK argc=%d argv0=%s\n", argc, argc > 0 ? argv[0] : "?");
    fflush(stdout);
    return 0;
}
