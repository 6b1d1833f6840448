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
# Mode 4: described tickets — one that is admitted, one bound to other data,
# one from a debug guest, one presented by another peer.
python3 - "$out" <<'PY'
import struct, sys
out = sys.argv[1]
NOW = 1780272000
def seed(name, policy=0x30000, flags=0, qoff=0, life=600):
    d = bytes([4]) + b"P" * 32 + b"N" * 32 + struct.pack(">q", NOW - 10)
    d += struct.pack(">i", qoff) + struct.pack(">I", life) + struct.pack(">Q", policy)
    d += bytes([0, 0, flags])
    open(f"{out}/described-{name}", "wb").write(d)
seed("ok")
seed("other-rd", flags=1)
seed("debug", policy=0xb0000)
seed("other-peer", flags=2)
seed("never", life=0xffffffff)
PY
