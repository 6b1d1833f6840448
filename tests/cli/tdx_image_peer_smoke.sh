#!/usr/bin/env bash
# tests/cli/tdx_image_peer_smoke.sh — from image to admitted peer, the path
# a user takes, end to end (no TDX hardware: QEMU TCG, simulated quotes).
#
#  1. the guest kernel: `mosaik tdx kernel fetch` (Debian 6.12, cached under
#     the build tree), with qemu_fw_cfg added to the TD modules;
#  2. image A: the `mosaik` binary itself (--bundle-libs: loader and shared
#     libraries) running `mosaik node` as a consumer of stream image.feed,
#     bootstrapping from the host through QEMU user networking (10.0.2.2),
#     with a simulated TDX quote provider; built twice, byte-identical;
#  3. image B: the same with one measured input changed (the kernel command
#     line), so its RTMR2 differs;
#  4. on the host, `mosaik node --produce image.feed` requires exactly the
#     MRTD/RTMR1/RTMR2 of A's measurements.json (simulator root trusted
#     explicitly);
#  5. both images boot at once (TCG). Each guest's simulator reports the
#     registers its own builder pre-computed, handed in through QEMU fw_cfg
#     (not part of the measured image, as a real TDX module "knows" them);
#     the guest labels them SIMULATED and tags its entry
#     mosaik.tdx.simulated;
#  6. A is admitted and receives items; B is refused with "RTMR2 mismatch",
#     and the reason is shown. The test prints both images' registers and
#     the validator's verdicts.
#
# Skips (exit 77) without qemu-system-x86_64, OVMF, busybox, apt, python3,
# or under sanitizers (the bundled binary would need the sanitizer runtime).
# MOSAIK_TDX_CACHE overrides the cache directory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cli=${MOSAIK_CLI:?MOSAIK_CLI must point at the mosaik binary}
cli=$(cd "$(dirname "$cli")" && pwd)/$(basename "$cli")
timeout_s=${MOSAIK_SMOKE_TIMEOUT:-240}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "${MOSAIK_FEATURE_BUILDER:-1}" = 1 ] || skip "built without MOSAIK_TDX_BUILDER"
[ "${MOSAIK_FEATURE_TDX:-1}" = 1 ] || skip "built without MOSAIK_TDX"
[ -z "${MOSAIK_SANITIZED:-}" ] || skip "sanitizer build (run in the plain build)"
for t in qemu-system-x86_64 apt-get dpkg-deb xz timeout cmp python3 flock; do
  command -v "$t" >/dev/null 2>&1 || skip "$t not installed (scripts/deps.sh builder)"
done
[ -x /bin/busybox ] || skip "no /bin/busybox (apt-get install busybox-static)"
ovmf=${MOSAIK_OVMF:-}
for f in /usr/share/OVMF/OVMF.fd /usr/share/ovmf/OVMF.fd /usr/share/qemu/OVMF.fd; do
  [ -z "$ovmf" ] && [ -r "$f" ] && ovmf=$f
done
[ -n "$ovmf" ] || skip "no OVMF.fd (apt-get install ovmf)"
cache=${MOSAIK_TDX_CACHE:-$(dirname "$cli")/tdx-cache}

work=$(mktemp -d /tmp/mosaik-peer.XXXXXX)
pids=()
cleanup() {
  set +e
  for c in a b; do [ -e "$work/$c.console.pid" ] && tcg_stop "$work/$c.console"; done
  for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
t_start=$(date +%s)

# 1. the kernel (shared with tdx_kernel_smoke.sh: same module set)
if ! "$cli" tdx kernel fetch --cache "$cache" --module qemu_fw_cfg --json >"$work/kernel.json" 2>"$work/fetch.err"; then
  cat "$work/fetch.err" >&2
  "$cli" tdx kernel fetch --cache "$cache" --module qemu_fw_cfg --offline --json >"$work/kernel.json" 2>/dev/null \
    || skip "the kernel package is neither reachable through apt nor cached in $cache"
fi
kdir=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dir"])' "$work/kernel.json")

# 2-3. the images; the guest's node bootstraps from the host node
"$cli" tdx sim-init "$work/sim.pem" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$cli" node --network mosaik-image-test --listen "127.0.0.1:$port" --key "$work/host.key" --run-for 0.1 --json \
  >"$work/host0.log" 2>/dev/null
hid=$(head -n 1 "$work/host0.log" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["peer"])')
fwcfg=/sys/firmware/qemu_fw_cfg/by_name/opt/mosaik
build() { # DIR CMDLINE
  "$cli" tdx build --program "$cli" --bundle-libs --kernel-dir "$kdir" --ovmf "$ovmf" \
    --busybox /bin/busybox --cpus 1 --memory 1024 --cmdline "$2" \
    --arg node --arg --network --arg mosaik-image-test --arg --listen --arg 0.0.0.0:7411 \
    --arg --bootstrap --arg "$hid@10.0.2.2:$port" --arg --consume --arg image.feed \
    --arg --tdx-sim-measurements --arg "$fwcfg/measurements.json/raw" \
    --arg --tdx-sim-state --arg "$fwcfg/sim.pem/raw" \
    --arg --exit-after-items --arg 3 --arg --run-for --arg 120 \
    --env MOSAIK_LOG=warn -o "$1" >"$1.out"
}
t0=$(date +%s)
build "$work/a" "console=ttyS0 panic=-1 quiet"
build "$work/a2" "console=ttyS0 panic=-1 quiet"
build "$work/b" "console=ttyS0 panic=-1 quiet mosaik.variant=b"
echo "three builds took $(( $(date +%s) - t0 )) s ($(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["image"]; print(m["entries"], "entries,", len(m["bundled_libs"]), "bundled libraries,", m["initrd"]["size"], "bytes")' "$work/a/measurements.json"))"
for f in initrd.cpio.gz vmlinuz launch-tdx.sh measurements.json mosaik_measurements.h initrd.manifest; do
  cmp "$work/a/$f" "$work/a2/$f" || fail "$f differs between two identical builds"
done
echo "reproducible: two builds of image A are byte-identical"
cmp -s "$work/a/initrd.cpio.gz" "$work/b/initrd.cpio.gz" || fail "the initrd depends on the command line"
regs() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print("\n".join("  %-5s %s" % (k.upper(), m[k]) for k in ("mrtd","rtmr1","rtmr2")))' "$1"; }
echo "image A (admitted: its values are what the host requires):"; regs "$work/a/measurements.json"
echo "image B (one measured input changed: the kernel command line):"; regs "$work/b/measurements.json"

# 4. the host's producer
"$cli" node --network mosaik-image-test --listen "127.0.0.1:$port" --advertise "10.0.2.2:$port" \
  --key "$work/host.key" --produce image.feed --require-tdx-measurements "$work/a/measurements.json" \
  --trust-sim-root "$work/sim.pem" --json --run-for 300 >"$work/host.log" 2>"$work/host.err" &
pids+=($!)

# 5. both guests; fw_cfg hands each simulator its image's registers
. "$here/../builder/tcg.sh"
tcg_wrapper "$work/qemu-tcg"
boot() { # IMAGE
  QEMU="$work/qemu-tcg" tcg_boot "$work/$1.console" "$timeout_s" "$work/$1/launch-tdx.sh" \
    -netdev user,id=n0 -device virtio-net-pci,netdev=n0 \
    -fw_cfg "name=opt/mosaik/measurements.json,file=$work/$1/measurements.json" \
    -fw_cfg "name=opt/mosaik/sim.pem,file=$work/sim.pem"
}
t0=$(date +%s)
boot a & pa=$!
boot b & pb=$!
pids+=("$pa" "$pb")
guest_id() { sed -n 's/^node \([0-9a-f]\{64\}\).*/\1/p' "$work/$1.console" 2>/dev/null | head -n 1 || true; }
verdict() { # PEER -> the host's stream event for it (JSON), if any
  python3 - "$work/host.log" "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    try: e = json.loads(line)
    except ValueError: continue
    if e.get("event") == "stream" and e.get("peer") == sys.argv[2] and e["what"] in ("admitted", "refused"):
        print(e["what"], e.get("text", "")); break
EOF
}
deadline=$(( $(date +%s) + timeout_s ))
va= vb=
while [ "$(date +%s)" -lt "$deadline" ]; do
  ida=$(guest_id a) idb=$(guest_id b)
  [ -n "$ida" ] && [ -z "$va" ] && va=$(verdict "$ida")
  [ -n "$idb" ] && [ -z "$vb" ] && vb=$(verdict "$idb")
  if [ -n "$vb" ]; then tcg_stop "$work/b.console"; fi
  if [ -n "$va" ] && [ -n "$vb" ] && ! kill -0 "$pa" 2>/dev/null; then break; fi
  sleep 1
done
wait "$pa" || true
echo "boots took $(( $(date +%s) - t0 )) s"
show() { grep -E "mosaik-init: (loaded|cannot|eth0|tsm)|^tdx:|^node |stream image.feed|left|exited" "$work/$1.console" | sed -e 's/\x1b\[[0-9;=]*[A-Za-z]//g' -e "s/^/  guest $1: /"; }
echo "guest A:"; show a
echo "guest B:"; show b

# 6. the verdicts
echo "validator (host producer) on image A: ${va:-none}"
echo "validator (host producer) on image B: ${vb:-none}"
[ -n "$(guest_id a)" ] || { tail -n 40 "$work/a.console" >&2; fail "guest A's node did not start"; }
grep -q "^tdx: SIMULATED quote provider (not real TDX)" "$work/a.console" || fail "guest A does not label its quotes simulated"
case "$va" in admitted*) ;; *) tail -n 20 "$work/host.log" >&2; fail "image A was not admitted";; esac
[ "$(grep -c 'stream image.feed: received' "$work/a.console")" -ge 3 ] || fail "guest A received no data"
grep -q "program exited with status 0; powering off" "$work/a.console" || fail "guest A did not finish cleanly"
case "$vb" in refused*"RTMR2 mismatch"*) ;; *) tail -n 20 "$work/host.log" >&2; fail "image B was not refused with an RTMR2 mismatch";; esac
# the host saw the simulated label in A's entry (tag mosaik.tdx.simulated)
tag=$("$cli" id mosaik.tdx.simulated | tail -n 1 | awk '{print $NF}')
grep -q "$tag" "$work/host.log" || fail "guest A's entry lacks the mosaik.tdx.simulated tag"
echo "PASS: image-to-peer test took $(( $(date +%s) - t_start )) s"
