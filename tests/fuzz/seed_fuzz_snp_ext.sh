#!/bin/sh
# Seeds for fuzz_snp_ext: every shared VCEK/VLEK certificate behind the
# selector byte 0xff (a whole certificate), and a few extension values
# behind their selector (fuzz_snp_ext.c says how the first byte is read).
# Run from the repository root: seed_fuzz_snp_ext.sh DIR
set -e
out=${1:?usage: $0 DIR}
src=../shared/testdata/snp
mkdir -p "$out"
for c in virtee-milan/vcek.der trustee-milan/vcek-invalid-new.der trustee-vlek/vlek.der \
         virtee-turin-chain/vcek.der ms-genoa/vcek.pem; do
    { printf '\377'; cat "$src/$c"; } >"$out/$(echo "$c" | tr / -)"
done
printf '\011\002\002\000\331' >"$out/ucode-217"          # ucodeSPL INTEGER 217
printf '\001\026\005Genoa' >"$out/product-genoa"          # productName IA5String
printf '\013\004\010\036\125\012\216\345\317\237\115' >"$out/hwid-wrapped" # hwID OCTET STRING
