#!/usr/bin/env bash
# `make install` delivers a usable library and tool: install into a
# temporary prefix, check the files a user expects (the CLI, mosaik(1), the
# bash completion, mosaik.service naming this prefix, etc/mosaik/node.conf,
# the example configuration), then build a small program against it with
# pkg-config (the shared library, whose exports are the public API) and
# with CMake's find_package(mosaik) (the static one), and run both; last,
# uninstall (cmake/uninstall.cmake, what `make uninstall` runs) and require
# that only the node's configuration is left. Under a sanitizer the
# consumer programs are not built (the library needs the sanitizer runtime
# to link against); the rest is checked.
set -euo pipefail
build=$(dirname "$MOSAIK_CLI")
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cp "$build/install_manifest.txt" "$tmp/manifest"
p=$tmp/prefix
for f in bin/mosaik share/man/man1/mosaik.1 share/bash-completion/completions/mosaik \
         lib/systemd/system/mosaik.service etc/mosaik/node.conf \
         share/doc/mosaik/mosaik-node.conf.example include/mosaik/mosaik.h; do
  [ -s "$p/$f" ] || { echo "FAIL: install lacks $f" >&2; exit 1; }
done
grep -qx "ExecStart=$p/bin/mosaik node --config $p/etc/mosaik/node.conf" \
  "$p/lib/systemd/system/mosaik.service" || { echo "FAIL: mosaik.service does not name $p" >&2; exit 1; }
grep -q "lib/systemd/system/mosaik.service" "$tmp/manifest" || { echo "FAIL: unit not in the manifest" >&2; exit 1; }
if grep -q "etc/mosaik/node.conf" "$tmp/manifest"; then
  echo "FAIL: node.conf is in the manifest (uninstall would remove a user's configuration)" >&2; exit 1
fi
"$p/bin/mosaik" node --config "$p/etc/mosaik/node.conf" --print-config >/dev/null
uninstall() {
  cmake -DMANIFEST="$tmp/manifest" -P "$src/cmake/uninstall.cmake" >/dev/null
  left=$(cd "$p" && find . -type f -o -type l | sort)
  if [ "$left" != "./etc/mosaik/node.conf" ]; then
    echo "FAIL: after uninstall, left: $left" >&2; exit 1
  fi
  for d in include/mosaik lib/cmake/mosaik share/doc/mosaik; do
    [ ! -e "$p/$d" ] || { echo "FAIL: uninstall left $d" >&2; exit 1; }
  done
  echo "install: uninstall removed everything but etc/mosaik/node.conf"
}
if [ -n "${MOSAIK_SANITIZED:-}" ]; then
  echo "install: files ok; consumers not built (a sanitizer build's library needs its runtime)"
  uninstall
  exit 0
fi
cat > "$tmp/consumer.c" <<'C'
#include <mosaik/mosaik.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    mk_id id;
    mk_id_from_name(&id, "prices");
    char hex[MK_ID_HEX_LEN];
    mk_id_to_hex(&id, hex);
    printf("%s %s\n", mk_version(), hex);
    return strcmp(hex, "c7e86fc9762ee6591d102f80996acc5fde96ca18e42de32014812babd16a62f8") != 0 ||
           strcmp(mk_version(), MOSAIK_VERSION) != 0;
}
C
pc="$tmp/prefix/lib/pkgconfig"
[ -d "$pc" ] || pc=$(dirname "$(find "$tmp/prefix" -name mosaik.pc | head -1)")
flags=$(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs mosaik)
libdir=$(PKG_CONFIG_PATH="$pc" pkg-config --variable=libdir mosaik)
cc -std=c11 -Wall -Werror "$tmp/consumer.c" -o "$tmp/c1" $flags -Wl,-rpath,"$libdir"
"$tmp/c1"
mkdir -p "$tmp/cm"
cat > "$tmp/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.20)
project(consumer C)
find_package(mosaik REQUIRED)
add_executable(c2 $tmp/consumer.c)
target_link_libraries(c2 mosaik::mosaik_static)
CM
cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm/b" >/dev/null
"$tmp/cm/b/c2"
echo "install: pkg-config and find_package consumers built and ran"
# The design's two examples, built as a user builds them: against the
# installed mosaik.pc, then run on the simulator and their output checked.
if [ "${MOSAIK_FEATURE_TDX:-}" = "ON" ] || [ "${MOSAIK_FEATURE_TDX:-}" = "1" ]; then
  for ex in secure_stream secure_map; do
    cc -std=c11 -Wall -Wextra -Werror "$src/examples/$ex.c" -o "$tmp/$ex" $flags -Wl,-rpath,"$libdir"
  done
  out=$("$tmp/secure_stream")
  [ "$out" = "admitted consumer received: ETH 3412.50" ] || { echo "FAIL: secure_stream printed: $out" >&2; exit 1; }
  mkdir "$tmp/vault"
  out=$("$tmp/secure_map" "$tmp/vault")
  [ "$out" = "a reads what b wrote: owner = alice" ] || { echo "FAIL: secure_map printed: $out" >&2; exit 1; }
  echo "install: examples/secure_stream.c and secure_map.c built with pkg-config and ran"
fi
uninstall
