#!/bin/sh
# Seeds for fuzz_tdx_quote: the four real quotes (v4, v5 TD 1.5, v4 with
# trailing text, and an SGX quote that must be refused).
# Run from the repository root: seed_fuzz_tdx_quote.sh DIR
set -e
out=${1:?usage: $0 DIR}
src=../shared/testdata/tdx
mkdir -p "$out"
for q in phala-v4 google-v5 google-spr-v4 phala-sgx; do
    cp "$src/$q/quote.bin" "$out/$q.bin"
done
