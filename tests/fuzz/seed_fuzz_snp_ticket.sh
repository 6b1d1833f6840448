#!/bin/sh
# Seeds for fuzz_snp_ticket: the five real SEV-SNP reports as mode 3 (the
# report wrapped into a ticket, with and without the simulator's chain).
# Run from the repository root: seed_fuzz_snp_ticket.sh DIR
set -e
out=${1:?usage: $0 DIR}
src=../shared/testdata/snp
mkdir -p "$out"
for r in virtee-milan trustee-milan trustee-vlek gsg-milan-debug ms-genoa; do
    { printf '\003\000'; cat "$src/$r/report.bin"; } > "$out/$r-plain"
    { printf '\003\001'; cat "$src/$r/report.bin"; } > "$out/$r-simchain"
done
