#!/bin/sh
# Seeds for fuzz_tee_ticket: the TDX ticket seeds (the shared envelope's
# wire and CBOR forms, the same mode bytes 0 and 1), and Retry-After values
# (mode 2). Run from the repository root: seed_fuzz_tee_ticket.sh DIR
set -e
out=${1:?usage: $0 DIR}
mkdir -p "$out"
for f in tests/fuzz/corpus/fuzz_tdx_ticket/wire-* tests/fuzz/corpus/fuzz_tdx_ticket/cbor-*; do
  [ -f "$f" ] && cp "$f" "$out/tdx-$(basename "$f")"
done
printf '\002120' > "$out/retry-seconds"
printf '\002Wed, 21 Oct 2015 07:28:00 GMT' > "$out/retry-date"
