# tests/builder/tcg.sh — sourced by the CLI tests that boot images built by
# `mosaik tdx build` under QEMU TCG (tests/cli/tdx_{kernel,image_peer,rootfs}_smoke.sh).
#
# tcg_wrapper FILE   writes a QEMU wrapper that drops the TDX-only arguments of
#                    launch-tdx.sh (the tdx-guest object, -cpu host, -accel kvm,
#                    the confidential machine options) and the vhost-vsock device
#                    (the test host need not have /dev/vhost-vsock), and runs the
#                    rest with -machine q35 -accel tcg -cpu qemu64,-cx16: QEMU 7.2's
#                    TCG leaves garbage in the upper EFLAGS bits after CMPXCHG16B,
#                    which the 6.12 kernel's SLUB uses on every allocation, and the
#                    guest then dies of a stray #DB or a NULL dereference in about
#                    one boot in eight (one in two under load). Without CX16 the
#                    kernel takes its locked path; 10 boots of 10 passed.
# tcg_boot LOG TIMEOUT CMD...
#                    runs CMD (a launch script, with QEMU= set to the wrapper)
#                    with its console in LOG. Debian's 6.12 kernel under QEMU
#                    7.2's TCG could still fault in ways not understood: when the
#                    program did not finish and the console shows a kernel
#                    fault, the boot is reported and retried, at most 4 times. A
#                    fault of the image itself would repeat and still fail.
# tcg_stop LOG       ends the boot writing LOG (SIGTERM to its timeout(1), which
#                    passes it on to QEMU) and keeps it from being retried.

tcg_wrapper() {
  cat > "$1" <<'EOF'
#!/usr/bin/env bash
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -object) case "$2" in tdx-guest*) shift 2; continue ;; esac ;;
    -device) case "$2" in vhost-vsock-pci*) shift 2; continue ;; esac ;;
    -machine) args+=(-machine q35); shift 2; continue ;;
    -accel) args+=(-accel tcg); shift 2; continue ;;
    -cpu) args+=(-cpu qemu64,-cx16); shift 2; continue ;;
  esac
  args+=("$1"); shift
done
exec qemu-system-x86_64 "${args[@]}"
EOF
  chmod +x "$1"
}

tcg_boot() {
  local log=$1 t=$2 try rc=0
  shift 2
  for try in 1 2 3 4; do
    rc=0
    [ -e "$log.stop" ] && return 143
    timeout "$t" "$@" </dev/null >"$log" 2>&1 &
    echo "$!" >"$log.pid"
    wait "$!" || rc=$?
    if [ ! -e "$log.stop" ] && ! grep -q "program exited with status" "$log" &&
       grep -qE 'Oops|BUG: |general protection fault|invalid opcode:|Kernel panic|end trace' "$log"; then
      echo "TCG: the guest kernel faulted ($(grep -m1 -oE 'RIP: [0-9a-f]+:[^ ]+' "$log" || echo '?')); boot $try of 4" >&2
      cp "$log" "$log.fault$try"
      continue
    fi
    return $rc
  done
  return $rc
}

tcg_stop() {
  touch "$1.stop"
  if [ -s "$1.pid" ]; then kill "$(cat "$1.pid")" 2>/dev/null || true; fi
  return 0
}
