#!/bin/sh
# Seeds for fuzz_tee_chain: AMD's real chains as PEM (VCEK/VLEK, ASK/ASVK,
# ARK: mode 0), Intel's real CRLs (mode 1) and the VCEK/VLEK certificates
# as DER (mode 2), each prefixed with the mode byte fuzz_tee_chain.c
# expects. Run from the repository root: seed_fuzz_tee_chain.sh DIR
set -e
out=${1:?usage: $0 DIR}
snp=../shared/testdata/snp
tdx=../shared/testdata/tdx
mkdir -p "$out"
seed() { { printf "$1"; cat "$2"; } > "$out/$3"; }
pem() { openssl x509 -inform der -in "$1" 2>/dev/null || cat "$1"; }
chain() { { printf '\000'; pem "$1"; cat "$2"; } > "$out/$3"; }
chain "$snp/virtee-milan/vcek.der" "$snp/roots/milan_vcek_chain.pem" chain-milan.pem
chain "$snp/ms-genoa/vcek.pem" "$snp/roots/genoa_vcek_chain.pem" chain-genoa.pem
chain "$snp/virtee-turin-chain/vcek.der" "$snp/roots/turin_vcek_chain.pem" chain-turin.pem
chain "$snp/trustee-vlek/vlek.der" "$snp/roots/milan_vlek_chain.pem" chain-vlek.pem
seed '\001' "$tdx/intel/pck_platform_crl.der" crl-pck-platform.der
seed '\001' "$tdx/intel/root_ca_crl.der" crl-root.der
seed '\002' "$snp/virtee-milan/vcek.der" cert-vcek-milan.der
seed '\002' "$snp/virtee-turin-chain/vcek.der" cert-vcek-turin.der
seed '\002' "$snp/trustee-vlek/vlek.der" cert-vlek.der
seed '\002' "$snp/trustee-milan/vcek-invalid-new.der" cert-vcek-invalid.der
