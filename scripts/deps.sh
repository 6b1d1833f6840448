#!/usr/bin/env bash
# Install the Debian packages the build and the tests need, or say which are
# missing.
#
#   scripts/deps.sh [group ...]   groups: build (default), builder, test, bench
#
# As root, missing packages are installed with apt-get; otherwise the one
# `apt-get install` line that is missing is printed and the script fails.
#
# How a need is detected: "command:package" by the command (found in PATH,
# wherever it came from), a bare "package" through dpkg, and "@check:package"
# by the check function check_<check> below (a library that has no command,
# or one exact build of a file).
set -euo pipefail

# libmicrohttpd: the HTTP server of `mosaik node --http` (docs/status-page.md).
build_pkgs=(libssl-dev libuv1-dev libraft-dev libjansson-dev libcbor-dev libzstd-dev
            libcurl4-openssl-dev libcmocka-dev zlib1g-dev libmicrohttpd-dev
            pkg-config:pkg-config cmake:cmake clang:clang python3:python3 openssl:openssl
            curl:curl)
# The TDX image builder's tests: QEMU (TCG), Debian's OVMF and kernel, musl for
# the static program, busybox, swtpm for the independent event log, cpio/gzip;
# `mosaik tdx kernel fetch` (apt with Debian's keyring: gpgv verifies the
# InRelease; dpkg-deb unpacks, xz decompresses the modules) and
# `--rootfs debian` (mmdebstrap).
builder_pkgs=(qemu-system-x86_64:qemu-system-x86 ovmf musl-gcc:musl-tools busybox-static
              swtpm:swtpm swtpm_setup:swtpm-tools cpio:cpio gzip:gzip linux-image-amd64
              mmdebstrap:mmdebstrap gpgv:gpgv xz:xz-utils dpkg-deb:dpkg flock:util-linux
              timeout:coreutils cmp:diffutils apt-get:apt debian-archive-keyring)
# What `make test` needs so that no test skips for a missing tool
# (scripts/test.sh): the builder's tools above; python3 (the PCS stand-in of
# the fetch tests and the fetched-collateral test, the history checker);
# ss and ip (the exactly-once test's connection resets, the history test's
# network namespaces); clang with libFuzzer (the fuzz stage); and the one
# OVMF build whose MRTD the real-firmware checks expect; headless Chromium
# (the status page's browser test, tests/cli/status_page_browser.sh).
ovmf_version=2022.11-6+deb12u2
ovmf_sha256=7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773
test_pkgs=("${builder_pkgs[@]}" python3:python3 ss:iproute2 ip:iproute2 clang:clang
           "@libfuzzer:libclang-rt-CLANG-dev" "@ovmf:ovmf=$ovmf_version" "@chromium:chromium"
           node:nodejs "@npm:npm")
# The peers of `make bench`: ZeroMQ (the streams peer) and Node.js with npm
# (the dcap-qvl-web peer), detected by command wherever they came from. The
# tests use node and npm too (the dcap-qvl oracles of tests/cli/tdx_dcap_qvl.sh).
bench_pkgs=(libzmq3-dev node:nodejs "@npm:npm")

# libFuzzer links (its runtime is a library of clang's version).
check_libfuzzer() {
  command -v clang >/dev/null 2>&1 || return 1
  local d
  d=$(mktemp -d)
  printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) '\
'{ (void)d; (void)n; return 0; }\n' >"$d/f.c"
  local rc=0
  clang -fsanitize=fuzzer "$d/f.c" -o "$d/f" >/dev/null 2>&1 || rc=1
  rm -rf "$d"
  return $rc
}

# A headless browser by either of its command names (Debian's is chromium).
check_chromium() {
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
}

# /usr/share/ovmf/OVMF.fd is the build tests/unit/tee/tdx/build/test_measure_mrtd.c
# and test_build.c expect (its sha256).
check_ovmf() {
  [ -r /usr/share/ovmf/OVMF.fd ] &&
    [ "$(sha256sum /usr/share/ovmf/OVMF.fd | cut -d' ' -f1)" = "$ovmf_sha256" ]
}

# npm by its command. A Node.js that is not Debian's (NodeSource, nvm, an
# official tarball) brings its own npm; Debian's npm conflicts with it, so
# when such a node lacks npm the need is reported, not asked of apt.
check_npm() {
  command -v npm >/dev/null 2>&1 && return 0
  command -v node >/dev/null 2>&1 || return 1
  local owner
  owner=$(dpkg-query -S "$(readlink -f "$(command -v node)")" 2>/dev/null | cut -d: -f1)
  if [ "$owner" = nodejs ] &&
     ! dpkg-query -W -f='${Version}' nodejs 2>/dev/null | grep -qi nodesource; then
    return 1 # Debian's node: apt installs Debian's npm beside it
  fi
  echo "deps: npm not found beside $(command -v node) ($(node --version 2>/dev/null)), which is" \
       "not Debian's nodejs: install npm with that Node.js (Debian's npm would conflict);" \
       "the dcap-qvl-web peer of make bench is skipped meanwhile" >&2
  return 0
}

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(build)
want=()
for g in "${groups[@]}"; do
  case "$g" in
    build) want+=("${build_pkgs[@]}") ;;
    builder) want+=("${builder_pkgs[@]}") ;;
    test) want+=("${test_pkgs[@]}") ;;
    bench) want+=("${bench_pkgs[@]}") ;;
    *) echo "deps.sh: unknown group '$g'" >&2; exit 2 ;;
  esac
done

clang_major() {
  { clang --version 2>/dev/null || true; } | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1
}

missing=()
add_missing() {
  local p
  for p in ${missing[@]+"${missing[@]}"}; do [ "$p" = "$1" ] && return 0; done
  missing+=("$1")
}
check_all() {
  missing=()
  local p pkg
  for p in "${want[@]}"; do
    case "$p" in
      @*)
        pkg=${p#*:}
        pkg=${pkg//CLANG/$(clang_major)}
        p=${p%%:*}
        "check_${p#@}" || add_missing "$pkg" ;;
      *:*) command -v "${p%%:*}" >/dev/null 2>&1 || add_missing "${p#*:}" ;;
      *) dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
           add_missing "$p" ;;
    esac
  done
}
check_all
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages. Run as root:" >&2
  echo "  apt-get install -y --allow-downgrades ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# clang first: the libFuzzer runtime's package name follows its version.
install() {
  if [ ! -d /var/lib/apt/lists ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ] \
     || ! apt-get install -y -qq --no-install-recommends --allow-downgrades "$@" >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends --allow-downgrades "$@"
  fi
}
install_each() { # one package at a time, so one that conflicts does not block the others
  local p rc=0
  for p in "$@"; do
    install "$p" || { echo "deps: apt-get could not install $p" >&2; rc=1; }
  done
  return $rc
}
install "${missing[@]//libclang-rt--dev/clang}" || install_each "${missing[@]//libclang-rt--dev/clang}" || true
check_all
if [ ${#missing[@]} -gt 0 ]; then
  install "${missing[@]}" || install_each "${missing[@]}" || true
  check_all
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: still missing after apt-get: ${missing[*]}" >&2
  case " ${missing[*]} " in
    *" ovmf="*) echo "deps: /usr/share/ovmf/OVMF.fd must be ovmf $ovmf_version" \
                     "(sha256 $ovmf_sha256), the build the MRTD checks expect" >&2 ;;
  esac
  exit 1
fi
