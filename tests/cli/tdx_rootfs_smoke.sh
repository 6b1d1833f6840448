#!/usr/bin/env bash
# tests/cli/tdx_rootfs_smoke.sh — `mosaik tdx build --rootfs debian`.
#
#  1. builds an image on a minimal Debian userland (mmdebstrap, Essential set
#     plus netbase, from the host's apt sources) twice with the same
#     SOURCE_DATE_EPOCH, with a .deb cache under the build tree (apt checks
#     every cached package against the signed index), and requires
#     byte-identical outputs;
#  2. requires the package manifest in measurements.json (base-files,
#     netbase, with versions) and the suite;
#  3. boots the image under QEMU TCG and requires tests/builder/hello.c to
#     see Debian's /etc/os-release and the /init of the Debian layout to run
#     it (busybox kept out of the way under /usr/lib/mosaik).
#
# Needs the Debian mirror (mmdebstrap always updates its package lists):
# skips (exit 77) when it cannot be reached, and without mmdebstrap,
# qemu-system-x86_64, musl-gcc, busybox or OVMF (scripts/deps.sh builder).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
cli=${MOSAIK_CLI:?MOSAIK_CLI must point at the mosaik binary}
cli=$(cd "$(dirname "$cli")" && pwd)/$(basename "$cli")
timeout_s=${MOSAIK_SMOKE_TIMEOUT:-240}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "${MOSAIK_FEATURE_BUILDER:-1}" = 1 ] || skip "built without MOSAIK_TDX_BUILDER"
for t in mmdebstrap musl-gcc qemu-system-x86_64 apt-get dpkg-deb xz timeout cmp python3; do
  command -v "$t" >/dev/null 2>&1 || skip "$t not installed (scripts/deps.sh builder)"
done
[ -x /bin/busybox ] || skip "no /bin/busybox (apt-get install busybox-static)"
ovmf=${MOSAIK_OVMF:-}
for f in /usr/share/OVMF/OVMF.fd /usr/share/ovmf/OVMF.fd /usr/share/qemu/OVMF.fd; do
  [ -z "$ovmf" ] && [ -r "$f" ] && ovmf=$f
done
[ -n "$ovmf" ] || skip "no OVMF.fd (apt-get install ovmf)"
cache=${MOSAIK_TDX_CACHE:-$(dirname "$cli")/tdx-cache}

work=$(mktemp -d /tmp/mosaik-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
t_start=$(date +%s)

if ! "$cli" tdx kernel fetch --cache "$cache" --module qemu_fw_cfg --json >"$work/kernel.json" 2>"$work/fetch.err"; then
  "$cli" tdx kernel fetch --cache "$cache" --module qemu_fw_cfg --offline --json >"$work/kernel.json" 2>/dev/null \
    || skip "the kernel package is neither reachable through apt nor cached in $cache"
fi
kdir=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dir"])' "$work/kernel.json")
musl-gcc -static -O2 -o "$work/hello" "$src/tests/builder/hello.c"

# 1. twice
build() {
  SOURCE_DATE_EPOCH=1700000000 "$cli" tdx build --program "$work/hello" --kernel-dir "$kdir" \
    --ovmf "$ovmf" --busybox /bin/busybox --rootfs debian --package netbase \
    --rootfs-cache "$cache/rootfs-debs" --cpus 1 --memory 1024 -o "$1" >"$1.out" 2>"$1.err"
}
t0=$(date +%s)
if ! build "$work/a"; then
  cat "$work/a.err" >&2
  if grep -qiE "fetch|resolv|connect|network|unreachable|timed out" "$work/a.err"; then
    skip "the Debian mirror cannot be reached"
  fi
  fail "the Debian rootfs image did not build"
fi
t1=$(date +%s)
build "$work/b" || { cat "$work/b.err" >&2; fail "the second build failed"; }
echo "builds took $(( t1 - t0 )) s and $(( $(date +%s) - t1 )) s"
for f in initrd.cpio.gz vmlinuz launch-tdx.sh measurements.json mosaik_measurements.h initrd.manifest; do
  cmp "$work/a/$f" "$work/b/$f" || fail "$f differs between two identical builds"
done
echo "reproducible: two Debian rootfs builds are byte-identical ($(stat -c %s "$work/a/initrd.cpio.gz") bytes)"

# 2. the package manifest
python3 - "$work/a/measurements.json" <<'EOF' || fail "measurements.json lacks the package manifest"
import json, sys
m = json.load(open(sys.argv[1]))["image"]
r = m["rootfs"]
pk = {p["package"]: p["version"] for p in r["packages"]}
assert r["kind"] == "debian" and r["suite"], r
assert "base-files" in pk and "netbase" in pk and "dpkg" in pk, sorted(pk)
print("rootfs: debian %s, %d packages (base-files %s, netbase %s), %d entries" %
      (r["suite"], len(pk), pk["base-files"], pk["netbase"], m["entries"]))
EOF
grep -q " usr/lib/mosaik/busybox$" "$work/a/initrd.manifest" || fail "busybox is not under /usr/lib/mosaik"
grep -q " etc/debian_version$" "$work/a/initrd.manifest" || fail "no etc/debian_version in the image"

# 3. boot
. "$src/tests/builder/tcg.sh"
tcg_wrapper "$work/qemu-tcg"
t0=$(date +%s) rc=0
QEMU="$work/qemu-tcg" tcg_boot "$work/console.log" "$timeout_s" "$work/a/launch-tdx.sh" || rc=$?
echo "boot took $(( $(date +%s) - t0 )) s (QEMU exit $rc)"
[ "$rc" = 0 ] || { tail -n 30 "$work/console.log" >&2; fail "QEMU exited with $rc"; }
grep -q 'hello: os-release PRETTY_NAME="Debian GNU/Linux' "$work/console.log" \
  || { tail -n 30 "$work/console.log" >&2; fail "the program did not see the Debian userland"; }
grep 'hello: os-release' "$work/console.log" | sed 's/^/guest: /'
grep -q "program exited with status 0; powering off" "$work/console.log" || fail "no power-off"
echo "PASS: Debian rootfs test took $(( $(date +%s) - t_start )) s"
