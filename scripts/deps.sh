#!/usr/bin/env bash
# Install the Debian packages the build needs, or say which are missing.
#
#   scripts/deps.sh [group ...]   groups: build (default), builder, bench
#
# As root, missing packages are installed with apt-get; otherwise the one
# `apt-get install` line that is missing is printed and the script fails.
set -euo pipefail

build_pkgs=(libssl-dev libuv1-dev libraft-dev libjansson-dev libcbor-dev libzstd-dev
            libcurl4-openssl-dev libcmocka-dev zlib1g-dev pkg-config cmake clang libclang-rt-14-dev
            python3 openssl curl)
# The TDX image builder's tests: QEMU (TCG), Debian's OVMF and kernel, musl for
# the static program, busybox, swtpm for the independent event log, cpio/gzip;
# `mosaik tdx kernel fetch` (apt with Debian's keyring: gpgv verifies the
# InRelease; dpkg-deb unpacks, xz decompresses the modules) and
# `--rootfs debian` (mmdebstrap). Packages named as command:package are
# detected by the command (found in PATH), the others through dpkg.
builder_pkgs=(qemu-system-x86_64:qemu-system-x86 ovmf musl-gcc:musl-tools busybox-static
              swtpm:swtpm swtpm_setup:swtpm-tools cpio:cpio gzip:gzip linux-image-amd64
              mmdebstrap:mmdebstrap gpgv:gpgv xz:xz-utils dpkg-deb:dpkg flock:util-linux
              debian-archive-keyring)
bench_pkgs=(libzmq3-dev nodejs npm)

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(build)
want=()
for g in "${groups[@]}"; do
  case "$g" in
    build) want+=("${build_pkgs[@]}") ;;
    builder) want+=("${builder_pkgs[@]}") ;;
    bench) want+=("${bench_pkgs[@]}") ;;
    *) echo "deps.sh: unknown group '$g'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  case "$p" in
    *:*) command -v "${p%%:*}" >/dev/null 2>&1 || missing+=("${p#*:}") ;;
    *) dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p") ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  stamp=/var/lib/apt/periodic/update-success-stamp
  if [ ! -d /var/lib/apt/lists ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ] \
     || ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  : "$stamp"
else
  echo "deps: missing packages. Run as root:" >&2
  echo "  apt-get install -y ${missing[*]}" >&2
  exit 1
fi
