#!/usr/bin/env python3
"""A tiny stand-in for Intel PCS v4 / a PCCS, for tests/unit/tee/tdx/test_fetch.c.

Serves the pieces of a dcap-qvl collateral bundle (phala-v4/collateral.json)
under the PCS v4 paths, with the issuer chains URL-encoded in the response
headers, exactly as PCS does:

  /tdx/certification/v4/tcb?fmspc=HEX          {"tcbInfo":<exact text>,"signature":"..."}
                                                header TCB-Info-Issuer-Chain
  /tdx/certification/v4/qe/identity            {"enclaveIdentity":<exact text>,...}
                                                header SGX-Enclave-Identity-Issuer-Chain
  /sgx/certification/v4/pckcrl?ca=platform&encoding=der
                                                DER, header SGX-PCK-CRL-Issuer-Chain
  /sgx/certification/v4/rootcacrl               hex text (as a PCCS serves it)

Test helpers: /big/... answers with a body larger than the client's cap,
/slow/... sleeps before answering, /__count returns the number of
collateral requests served (not counting /slow and /big). Binds 127.0.0.1
on an ephemeral port and writes the port number to --port-file
(atomically) once listening.
"""
import argparse
import json
import os
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--collateral", required=True)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()

    with open(args.collateral, "r", encoding="utf-8") as f:
        bundle = json.load(f)
    tcb_info_text = bundle["tcb_info"]
    fmspc = json.loads(tcb_info_text)["fmspc"].lower()
    tcb_body = ('{"tcbInfo":' + tcb_info_text + ',"signature":"' +
                bundle["tcb_info_signature"] + '"}').encode()
    qe_body = ('{"enclaveIdentity":' + bundle["qe_identity"] + ',"signature":"' +
               bundle["qe_identity_signature"] + '"}').encode()
    pck_crl = bytes.fromhex(bundle["pck_crl"])
    root_crl_hex = bundle["root_ca_crl"].encode()

    def enc(pem):
        return urllib.parse.quote(pem, safe="")

    state = {"count": 0}

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

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            q = urllib.parse.parse_qs(u.query)
            path = u.path
            if path == "/__count":
                return self.send(200, str(state["count"]).encode())
            if path.startswith("/big/"):
                return self.send(200, b"{" + b" " * (300 * 1024) + b"}")
            if path.startswith("/slow/"):
                time.sleep(3)  # the client gives up first; not counted
                path = path[len("/slow"):]
            else:
                state["count"] += 1
            if path == "/tdx/certification/v4/tcb":
                if q.get("fmspc", [""])[0].lower() != fmspc:
                    return self.send(404, b"")
                return self.send(200, tcb_body, [
                    ("Content-Type", "application/json"),
                    ("TCB-Info-Issuer-Chain", enc(bundle["tcb_info_issuer_chain"]))])
            if path == "/tdx/certification/v4/qe/identity":
                return self.send(200, qe_body, [
                    ("Content-Type", "application/json"),
                    ("SGX-Enclave-Identity-Issuer-Chain",
                     enc(bundle["qe_identity_issuer_chain"]))])
            if path == "/sgx/certification/v4/pckcrl":
                if q.get("ca", [""])[0] != "platform" or q.get("encoding", [""])[0] != "der":
                    return self.send(404, b"")
                return self.send(200, pck_crl, [
                    ("Content-Type", "application/pkix-crl"),
                    ("SGX-PCK-CRL-Issuer-Chain", enc(bundle["pck_crl_issuer_chain"]))])
            if path == "/sgx/certification/v4/rootcacrl":
                return self.send(200, root_crl_hex)
            return self.send(404, b"")

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
