#!/usr/bin/env bash
# tests/cli/tdx_kernel_smoke.sh — the TDX guest kernel from Debian, booted.
#
#  1. `mosaik tdx kernel fetch` gets bookworm-backports' 6.12 cloud kernel
#     through apt (private configuration in the cache; signatures checked by
#     apt) into a cache under the build tree, so later runs reuse the .deb
#     (the module set, with qemu_fw_cfg, is the one tdx_image_peer_smoke.sh
#     uses, so both reuse one kernel directory);
#     when the mirror cannot be reached, a cached copy is used (--offline);
#  2. its config enables CONFIG_INTEL_TDX_GUEST and TSM reports (checked by
#     the tool and again here from the kernel directory's config);
#  3. an image with tests/builder/hello.c, --arg and --env is built twice
#     from the kernel directory (byte-identical), and measurements.json
#     records the package name, version and SHA-256;
#  4. the image boots under QEMU TCG (no TDX: a wrapper drops the TDX and
#     vhost-vsock arguments of the launch script); the test requires the
#     program's marker with the baked-in arguments and environment, the
#     module loading of /init, and prints what the guest found under
#     /sys/kernel/config/tsm (no TDX module answers under TCG).
#
# Skips (exit 77) without qemu-system-x86_64, musl-gcc, a static busybox,
# OVMF, apt-get/dpkg-deb/xz, or when neither the mirror nor the cache has
# the kernel. MOSAIK_TDX_CACHE overrides the cache directory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
cli=${MOSAIK_CLI:?MOSAIK_CLI must point at the mosaik binary}
timeout_s=${MOSAIK_SMOKE_TIMEOUT:-240}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "${MOSAIK_FEATURE_BUILDER:-1}" = 1 ] || skip "built without MOSAIK_TDX_BUILDER"
for t in musl-gcc qemu-system-x86_64 apt-get dpkg-deb xz timeout cmp python3; do
  command -v "$t" >/dev/null 2>&1 || skip "$t not installed (scripts/deps.sh builder)"
done
[ -x /bin/busybox ] || skip "no /bin/busybox (apt-get install busybox-static)"
ovmf=${MOSAIK_OVMF:-}
for f in /usr/share/OVMF/OVMF.fd /usr/share/ovmf/OVMF.fd /usr/share/qemu/OVMF.fd; do
  [ -z "$ovmf" ] && [ -r "$f" ] && ovmf=$f
done
[ -n "$ovmf" ] || skip "no OVMF.fd (apt-get install ovmf)"
cache=${MOSAIK_TDX_CACHE:-$(cd "$(dirname "$cli")" && pwd)/tdx-cache}

work=$(mktemp -d /tmp/mosaik-kernel.XXXXXX)
trap 'rm -rf "$work"' EXIT
t_start=$(date +%s)

# 1. the kernel
if ! "$cli" tdx kernel fetch --cache "$cache" --module qemu_fw_cfg --json >"$work/kernel.json" 2>"$work/fetch.err"; then
  cat "$work/fetch.err" >&2
  "$cli" tdx kernel fetch --cache "$cache" --module qemu_fw_cfg --offline --json >"$work/kernel.json" 2>/dev/null \
    || skip "the kernel package is neither reachable through apt nor cached in $cache"
  echo "mirror unreachable: using the cached kernel"
fi
kdir=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dir"])' "$work/kernel.json")
python3 -c 'import json,sys; k=json.load(open(sys.argv[1])); print("kernel:", k["package"], k["version"], "sha256", k["sha256"], "cached" if k["cached"] else "fetched")' "$work/kernel.json"
echo "fetch took $(( $(date +%s) - t_start )) s"

# 2. the configuration, from the kernel directory
for opt in CONFIG_INTEL_TDX_GUEST=y 'CONFIG_TSM_REPORTS=[ym]' 'CONFIG_TDX_GUEST_DRIVER=[ym]'; do
  grep -qx "$opt" "$kdir/config" || fail "kernel config lacks $opt"
  echo "config: $(grep -x "$opt" "$kdir/config")"
done

# 3. the image, twice
musl-gcc -static -O2 -o "$work/hello" "$src/tests/builder/hello.c"
build() {
  "$cli" tdx build --program "$work/hello" --kernel-dir "$kdir" --ovmf "$ovmf" \
    --busybox /bin/busybox --arg "one two" --arg "it's" --env "MOSAIK_HELLO=from /init" \
    --cpus 1 --memory 1024 --cmdline "console=ttyS0 panic=-1" -o "$1"
}
build "$work/img"
build "$work/img2" >/dev/null
for f in initrd.cpio.gz vmlinuz launch-tdx.sh measurements.json mosaik_measurements.h initrd.manifest; do
  cmp "$work/img/$f" "$work/img2/$f" || fail "$f differs between two identical builds"
done
echo "reproducible: two builds are byte-identical"
python3 - "$work/img/measurements.json" "$work/kernel.json" <<'EOF' || fail "measurements.json lacks the kernel package"
import json, sys
m = json.load(open(sys.argv[1]))["image"]
k = json.load(open(sys.argv[2]))
p = m["kernel_package"]
assert p["package"] == k["package"] and p["version"] == k["version"] and p["sha256"] == k["sha256"], p
assert m["args"] == ["one two", "it's"] and m["env"] == ["MOSAIK_HELLO=from /init"], m
print("measurements.json: kernel_package", p["package"], p["version"], p["sha256"][:16] + "...")
EOF
grep -q 'quote-generation-socket.cid=$qgs_cid' "$work/img/launch-tdx.sh" || fail "launch script lacks the QGS"

# 4. boot under TCG
. "$src/tests/builder/tcg.sh"
tcg_wrapper "$work/qemu-tcg"
t0=$(date +%s) rc=0
QEMU="$work/qemu-tcg" tcg_boot "$work/console.log" "$timeout_s" "$work/img/launch-tdx.sh" || rc=$?
echo "boot took $(( $(date +%s) - t0 )) s (QEMU exit $rc)"
[ "$rc" = 0 ] || { tail -n 30 "$work/console.log" >&2; fail "QEMU exited with $rc"; }
grep -q "hello: running on Linux 6.12" "$work/console.log" || { tail -n 30 "$work/console.log" >&2; fail "not the 6.12 kernel"; }
grep -q "MOSAIK-SMOKE-OK argc=3 argv0=/usr/bin/hello" "$work/console.log" || fail "marker/arguments missing"
grep -q "hello: arg 1 \[one two\]" "$work/console.log" && grep -q "hello: arg 2 \[it's\]" "$work/console.log" \
  || fail "--arg not passed through /init"
grep -q "hello: MOSAIK_HELLO \[from /init\]" "$work/console.log" || fail "--env not passed through /init"
for m in configfs tsm vsock vmw_vsock_virtio_transport virtio_net; do
  grep -Eq "loaded module [0-9]+-$m.ko" "$work/console.log" || { grep mosaik-init "$work/console.log" >&2; fail "/init did not load $m"; }
done
grep -q "configfs mounted on /sys/kernel/config" "$work/console.log" || fail "configfs not mounted"
grep -E "module [0-9]+-tdx_guest|mosaik-init: tsm:|mosaik-init: tdx:" "$work/console.log" | sed 's/^/guest: /'
grep -q "mosaik-init: tsm: " "$work/console.log" || fail "the guest did not report /sys/kernel/config/tsm"
grep -q "program exited with status 0; powering off" "$work/console.log" || fail "no power-off"
echo "PASS: kernel smoke test took $(( $(date +%s) - t_start )) s"
