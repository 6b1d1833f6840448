#!/usr/bin/env python3
"""A stand-in for AMD's key distribution service, for
tests/unit/tee/snp/test_snp_kds.c (and tests/cli/snp.sh). Tests never reach
the real KDS.

Serves, from the shared test data (--testdata DIR, the snp/ folder):
  /vcek/v1/Milan/{hwid}?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..
        the VCEK (DER) of the virtee-milan or trustee-milan chip when hwid
        and the SPLs are that VCEK's, else 404
  /vcek/v1/Genoa/{hwid}?...       the ms-genoa VCEK (DER) likewise
  /{vcek|vlek}/v1/{Milan|Genoa|Turin}/cert_chain   roots/<p>_<k>_chain.pem
  /{vcek|vlek}/v1/{product}/crl   the file --crl-file (404 without)
Prefixes in front of any of those paths:
  /throttleN/...   the first N requests to each URL get 429 with
                   Retry-After: 0, later ones the answer
  /wrong/...       every VCEK request gets the trustee-milan VCEK, every
                   cert_chain the Genoa VCEK chain (what a lying server sends)
Also /__count: how many VCEK and chain requests were answered 200.
Binds 127.0.0.1 on an ephemeral port, written to --port-file atomically.
"""
import argparse
import base64
import os
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def pem_to_der(text):
    body = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)
    return base64.b64decode("".join(body.group(1).split()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--testdata", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--crl-file")
    args = ap.parse_args()
    td = args.testdata

    def read(rel):
        with open(os.path.join(td, rel), "rb") as f:
            return f.read()

    # (product, hwid, bl, tee, snp, ucode) -> DER
    vceks = {
        ("Milan", "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039"
         "029f0efacfd08e244324884738c72b082e2f87a44d541eb6", 3, 0, 8, 115):
            read("virtee-milan/vcek.der"),
        ("Genoa", "b1e24a27bbc3a4d58090d8b89851dce3b8031544be249b9ac17132bb222b027622347ee4d0fe4f68"
         "9efdfc47a68cefc686cbb448d01436506ee1e28010cab7c0", 10, 0, 23, 84):
            pem_to_der(read("ms-genoa/vcek.pem").decode()),
    }
    wrong_vcek = read("trustee-milan/vcek.der")
    state = {"count": 0, "seen": {}}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def send(self, code, body, headers=()):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def ok(self, body):
            with lock:
                state["count"] += 1
            return self.send(200, body)

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            path = u.path
            if path == "/__count":
                return self.send(200, str(state["count"]).encode())
            m = re.match(r"^/throttle(\d+)(/.*)$", path)
            if m:
                with lock:
                    n = state["seen"].get(self.path, 0)
                    state["seen"][self.path] = n + 1
                if n < int(m.group(1)):
                    return self.send(429, b"slow down", [("Retry-After", "0")])
                path = m.group(2)
            wrong = path.startswith("/wrong/")
            if wrong:
                path = path[len("/wrong"):]
            q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
            m = re.match(r"^/(vcek|vlek)/v1/(Milan|Genoa|Turin)/(cert_chain|crl)$", path)
            if m:
                kind, prod, what = m.groups()
                if what == "crl":
                    if not args.crl_file:
                        return self.send(404, b"")
                    with open(args.crl_file, "rb") as f:
                        return self.send(200, f.read())
                if wrong:
                    return self.ok(read("roots/genoa_vcek_chain.pem"))
                return self.ok(read("roots/%s_%s_chain.pem" % (prod.lower(), kind)))
            m = re.match(r"^/vcek/v1/(Milan|Genoa|Turin)/([0-9a-f]+)$", path)
            if m:
                if wrong:
                    return self.ok(wrong_vcek)
                try:
                    key = (m.group(1), m.group(2), int(q["blSPL"]), int(q["teeSPL"]),
                           int(q["snpSPL"]), int(q["ucodeSPL"]))
                except (KeyError, ValueError):
                    return self.send(400, b"bad query")
                if key in vceks:
                    return self.ok(vceks[key])
            return self.send(404, b"")

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
