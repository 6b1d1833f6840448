#!/bin/sh
# Seeds for fuzz_collateral: the real collateral JSON files, each prefixed
# with the mode byte fuzz_collateral.c expects (0 bundle, 1 PCS TCB info,
# 2 PCS QE identity). Run from the repository root: seed_fuzz_collateral.sh DIR
set -e
out=${1:?usage: $0 DIR}
src=../shared/testdata/tdx
mkdir -p "$out"
seed() { { printf "$1"; cat "$2"; } > "$out/$3"; }
seed '\000' "$src/phala-v4/collateral.json" bundle-phala-v4.json
seed '\000' "$src/phala-sgx/collateral.json" bundle-phala-sgx.json
seed '\001' "$src/google-v5/tcb_info_response.json" pcs-tcb-google-v5.json
seed '\001' "$src/google-spr-v4/tcb_info_response.json" pcs-tcb-google-spr-v4.json
seed '\002' "$src/google-v5/qe_identity_response.json" pcs-qe-google-v5.json
