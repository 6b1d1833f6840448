#!/usr/bin/env bash
# `make install` delivers a usable library: install into a temporary prefix,
# then build a small program against it with pkg-config (the shared
# library, whose exports are the public API) and with CMake's
# find_package(mosaik) (the static one), and run both.
set -euo pipefail
if [ -n "${MOSAIK_SANITIZED:-}" ]; then
  echo "skip: a sanitizer build's library needs the sanitizer runtime to link against"; exit 77
fi
build=$(dirname "$MOSAIK_CLI")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
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
