#!/usr/bin/env bash
# tests/cli/tdx_build_smoke.sh — end-to-end test of `mosaik tdx build`.
#
#  1. build tests/builder/hello.c statically with musl-gcc;
#  2. build the image twice (same inputs) and require byte-identical outputs;
#  3. boot it with the generated launch-tdx.sh under QEMU TCG (a wrapper
#     swaps the TDX-only arguments for `-machine q35 -accel tcg`; Debian's
#     QEMU 7.2 has no TDX) and require the program's marker, the /init module
#     loading and a clean power-off within a time bound;
#  4. boot it again with an swtpm TPM 2.0 attached and `mosaik.dumplog=1` on
#     the (measured) command line, and cross-check the vTPM event log against
#     measurements.json with tests/builder/eventlog_check.py: the kernel
#     Authenticode, EFI action and separator digests (RTMR1), and the
#     LoadOptions and initrd events plus the PCR 9 replay (RTMR2);
#  5. require the check to FAIL against measurements made for another RAM
#     size (the QEMU-patched kernel digest depends on it);
#  6. compile the generated C header against the mosaik headers.
# The profile is qemu-10.1-ovmf-2024.11: QEMU-patched kernel (what non-CGS
# QEMU < 10.0 hands OVMF, as in the swtpm boot) and "initrd=initrd" suffix.
#
# Skips (exit 77) when a tool is missing: musl-gcc, qemu-system-x86_64,
# swtpm, swtpm_setup, python3, a static busybox, a kernel in /boot, OVMF.fd
# (scripts/deps.sh builder installs them). Environment overrides:
# MOSAIK_KERNEL, MOSAIK_OVMF, MOSAIK_SMOKE_TIMEOUT (seconds per boot, 240).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
cli=${MOSAIK_CLI:?MOSAIK_CLI must point at the mosaik binary}
timeout_s=${MOSAIK_SMOKE_TIMEOUT:-240}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "${MOSAIK_FEATURE_BUILDER:-1}" = 1 ] || skip "built without MOSAIK_TDX_BUILDER"
for t in musl-gcc qemu-system-x86_64 swtpm swtpm_setup python3 timeout cmp; do
  command -v "$t" >/dev/null 2>&1 || skip "$t not installed (scripts/deps.sh builder)"
done
busybox=/bin/busybox
[ -x "$busybox" ] || skip "no $busybox (apt-get install busybox-static)"
kernel=${MOSAIK_KERNEL:-$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)}
[ -n "$kernel" ] && [ -r "$kernel" ] || skip "no readable kernel in /boot (apt-get install linux-image-amd64)"
ovmf=${MOSAIK_OVMF:-}
if [ -z "$ovmf" ]; then
  for f in /usr/share/OVMF/OVMF.fd /usr/share/ovmf/OVMF.fd /usr/share/qemu/OVMF.fd; do
    [ -r "$f" ] && { ovmf=$f; break; }
  done
fi
[ -n "$ovmf" ] || skip "no OVMF.fd (apt-get install ovmf)"
kver=${kernel##*/vmlinuz-}
echo "kernel $kernel, firmware $ovmf"

work=$(mktemp -d /tmp/mosaik-smoke.XXXXXX)
swtpm_pid=
cleanup() {
  if [ -n "$swtpm_pid" ] && kill -0 "$swtpm_pid" 2>/dev/null; then kill "$swtpm_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
t_start=$(date +%s)

# 1. the program
musl-gcc -static -O2 -o "$work/hello" "$src/tests/builder/hello.c"

# 2. the image, twice
cmdline="console=ttyS0 panic=-1 quiet mosaik.dumplog=1"
mem=1024
# Kernel modules of the booted kernel, dependencies first (modinfo -F depends).
mods=() modnames=()
moddir=/lib/modules/$kver/kernel
for m in fs/configfs/configfs.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko \
         net/vmw_vsock/vsock.ko net/vmw_vsock/vmw_vsock_virtio_transport_common.ko \
         net/vmw_vsock/vmw_vsock_virtio_transport.ko; do
  if [ -r "$moddir/$m" ]; then mods+=(--module "$moddir/$m"); modnames+=("${m##*/}"); fi
done
echo "bundling ${#modnames[@]} of 6 kernel modules: ${modnames[*]:-none}"
build() { # DIR MEMORY
  "$cli" tdx build --program "$work/hello" --kernel "$kernel" --ovmf "$ovmf" \
    --busybox "$busybox" ${mods[@]+"${mods[@]}"} --cpus 1 --memory "$2" --cmdline "$cmdline" \
    --profile qemu-10.1-ovmf-2024.11 -o "$1"
}
build "$work/img" $mem
build "$work/img2" $mem >/dev/null
for f in initrd.cpio.gz vmlinuz OVMF.fd launch-tdx.sh measurements.json mosaik_measurements.h \
         initrd.manifest; do
  [ -s "$work/img/$f" ] || fail "output $f missing"
  cmp "$work/img/$f" "$work/img2/$f" || fail "$f differs between two identical builds"
done
echo "reproducible: two builds are byte-identical"
# the launch script carries the TDX arguments
grep -q -- "-object \"tdx-guest,id=tdx0," "$work/img/launch-tdx.sh" || fail "launch script lacks tdx-guest"
grep -q -- "confidential-guest-support=tdx0" "$work/img/launch-tdx.sh" || fail "launch script lacks CGS"

# QEMU wrapper: TDX arguments -> TCG (and no vhost-vsock: the test host need not
# have /dev/vhost-vsock), everything else as the launch script gives it.
cat > "$work/qemu-tcg" <<'EOF'
#!/usr/bin/env bash
printf '%s\n' "$@" > "$(dirname "$0")/qemu-args.txt"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -object) case "$2" in tdx-guest*) shift 2; continue ;; esac ;;
    -device) case "$2" in vhost-vsock-pci*) shift 2; continue ;; esac ;;
    -machine) args+=(-machine q35); shift 2; continue ;;
    -accel) args+=(-accel tcg); shift 2; continue ;;
    -cpu) shift 2; continue ;;
  esac
  args+=("$1"); shift
done
exec qemu-system-x86_64 "${args[@]}"
EOF
chmod +x "$work/qemu-tcg"

boot() { # LOG [extra QEMU args]
  local log=$1; shift
  local t0 rc=0
  t0=$(date +%s)
  QEMU="$work/qemu-tcg" timeout "$timeout_s" "$work/img/launch-tdx.sh" "$@" </dev/null >"$log" 2>&1 || rc=$?
  echo "boot took $(( $(date +%s) - t0 )) s (QEMU exit $rc)"
  if [ "$rc" = 124 ]; then tail -n 20 "$log" >&2; fail "no power-off within ${timeout_s} s"; fi
  [ "$rc" = 0 ] || { tail -n 20 "$log" >&2; fail "QEMU exited with $rc"; }
}

# 3. plain boot
boot "$work/console1.log"
grep -q "MOSAIK-SMOKE-OK argc=1 argv0=/usr/bin/hello" "$work/console1.log" \
  || { tail -n 30 "$work/console1.log" >&2; fail "marker not printed"; }
grep -q "program exited with status 0; powering off" "$work/console1.log" || fail "no power-off message"
grep -q "^-append$" "$work/qemu-args.txt" && grep -qx -- "$cmdline" "$work/qemu-args.txt" \
  || fail "launch script did not pass the command line as one argument"
grep -q -- "^tdx-guest,id=tdx0,sept-ve-disable=on,quote-generation-socket.type=vsock,quote-generation-socket.cid=2,quote-generation-socket.port=4050$" "$work/qemu-args.txt" \
  || fail "launch script args lack tdx-guest with the QGS"
grep -qx -- "vhost-vsock-pci,guest-cid=3" "$work/qemu-args.txt" || fail "launch script args lack the vsock device"
for m in ${modnames[@]+"${modnames[@]}"}; do
  grep -q "loaded module [0-9][0-9]-$m" "$work/console1.log" \
    || { grep mosaik-init "$work/console1.log" >&2; fail "/init did not load $m"; }
done
if printf '%s\n' ${modnames[@]+"${modnames[@]}"} | grep -qx configfs.ko; then
  grep -q "configfs mounted on /sys/kernel/config" "$work/console1.log" || fail "configfs not mounted"
fi
echo "plain boot: marker seen, modules loaded, powered off"

# 4. boot with swtpm, cross-check the event log
mkdir -p "$work/tpm"
swtpm_setup --tpm2 --tpmstate "$work/tpm" --pcr-banks sha256,sha384 --overwrite >"$work/swtpm_setup.log" 2>&1 \
  || { cat "$work/swtpm_setup.log" >&2; fail "swtpm_setup failed"; }
# swtpm daemonizes and changes directory: every path must be absolute.
swtpm socket --tpmstate dir="$work/tpm" --ctrl type=unixio,path="$work/swtpm.sock" --tpm2 \
  --daemon --pid file="$work/swtpm.pid" --log file="$work/swtpm.log"
for _ in $(seq 50); do [ -S "$work/swtpm.sock" ] && break; sleep 0.1; done
swtpm_pid=$(cat "$work/swtpm.pid" 2>/dev/null || true)
boot "$work/console2.log" -chardev socket,id=chrtpm,path="$work/swtpm.sock" \
  -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0
grep -q "MOSAIK-SMOKE-OK" "$work/console2.log" || fail "marker not printed in the TPM boot"
python3 "$src/tests/builder/eventlog_check.py" "$work/console2.log" "$work/img/measurements.json" \
  || fail "vTPM event log does not match measurements.json"

# 5. the check can fail: measurements for -m 2048 give another patched-kernel digest
build "$work/img3" 2048 >/dev/null
cmp -s "$work/img/initrd.cpio.gz" "$work/img3/initrd.cpio.gz" || fail "initrd depends on --memory"
if python3 "$src/tests/builder/eventlog_check.py" "$work/console2.log" "$work/img3/measurements.json" \
     >/dev/null 2>&1; then
  fail "event-log check accepted measurements made for another RAM size"
fi
echo "negative check: measurements for -m 2048 are refused"

# 6. the generated header compiles with the TDX validator API
bindir=$(cd "$(dirname "$cli")" && pwd)
cat > "$work/pin.c" <<EOF
#include "mosaik/mosaik.h"
#include "mosaik_measurements.h"
int pin(mk_tdx_validator_opts *o);
int pin(mk_tdx_validator_opts *o) {
    mosaik_expected_criteria(mk_tdx_validator_opts_baseline(o));
    return MOSAIK_EXPECTED_MEMORY_MIB == $mem ? 0 : 1;
}
EOF
if command -v cc >/dev/null 2>&1 && [ -r "$bindir/include/mosaik/version.h" ]; then
  cc -std=c11 -Wall -Wextra -Werror -fsyntax-only -I "$src/include" -I "$bindir/include" \
    -I "$work/img" "$work/pin.c" || fail "generated header does not compile"
  echo "generated header compiles"
else
  skip "no cc or no $bindir/include/mosaik/version.h: the generated header was not compiled"
fi

echo "PASS: smoke test took $(( $(date +%s) - t_start )) s"
