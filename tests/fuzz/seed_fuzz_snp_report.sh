#!/bin/sh
# Seeds for fuzz_snp_report: the five real SEV-SNP reports (v2, v3, a VLEK
# report, a debug report). Run from the repository root: seed_fuzz_snp_report.sh DIR
set -e
out=${1:?usage: $0 DIR}
src=../shared/testdata/snp
mkdir -p "$out"
for r in virtee-milan trustee-milan trustee-vlek gsg-milan-debug ms-genoa; do
    cp "$src/$r/report.bin" "$out/$r.bin"
done
