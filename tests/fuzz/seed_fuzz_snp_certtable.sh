#!/bin/sh
# Seeds for fuzz_snp_certtable: certificate tables (GHCB layout) built from
# the shared VCEK / VLEK and AMD's Milan chain, one with page padding, and
# an empty one. Run from the repository root: seed_fuzz_snp_certtable.sh DIR
set -e
out=${1:?usage: $0 DIR}
mkdir -p "$out"
python3 - "$out" ../shared/testdata/snp <<'PY'
import struct, sys, subprocess
out, src = sys.argv[1], sys.argv[2]
G = {"ark": "c0b406a4a803495297433fb6014cd0ae", "ask": "4ab7b379bbac4fe4a02f05aef327c782",
     "vcek": "63da758de6644564adc5f4b93be8accd", "vlek": "a8074bc2a25a483eaae639c045a0b8a1"}
def der_chain(pem):
    d = subprocess.run(["openssl", "crl2pkcs7", "-nocrl", "-certfile", pem], capture_output=True,
                       check=True).stdout
    certs = subprocess.run(["openssl", "pkcs7", "-print_certs"], input=d, capture_output=True,
                           check=True).stdout.decode().split("-----END CERTIFICATE-----")
    res = []
    for c in certs:
        if "BEGIN" in c:
            p = c[c.index("-----BEGIN"):] + "-----END CERTIFICATE-----\n"
            res.append(subprocess.run(["openssl", "x509", "-outform", "DER"], input=p.encode(),
                                      capture_output=True, check=True).stdout)
    return res
def table(entries, pad=0):
    hdr = (len(entries) + 1) * 24
    off, body, head = hdr, b"", b""
    for g, d in entries:
        head += bytes.fromhex(G[g]) + struct.pack("<II", off, len(d))
        off += len(d); body += d
    t = head + bytes(24) + body
    return t + bytes(pad)
ask, ark = der_chain(src + "/roots/milan_vcek_chain.pem")
asvk, _ = der_chain(src + "/roots/milan_vlek_chain.pem")
vcek = open(src + "/virtee-milan/vcek.der", "rb").read()
vlek = open(src + "/trustee-vlek/vlek.der", "rb").read()
open(out + "/vcek-ask-ark", "wb").write(table([("vcek", vcek), ("ask", ask), ("ark", ark)]))
open(out + "/vlek-asvk-ark-padded", "wb").write(table([("vlek", vlek), ("ask", asvk), ("ark", ark)], 3000))
open(out + "/vcek-only", "wb").write(table([("vcek", vcek)]))
open(out + "/empty", "wb").write(bytes(24))
PY
