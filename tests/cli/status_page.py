#!/usr/bin/env python3
"""The status page's JSON API and its hostile-input behaviour, against a
running node (tests/cli/tdx_status_page.sh starts the network of
status_net.bash and calls this).

  status_page.py json ADDR ID_A ID_B ID_C A_OUT ADDR_C
      /api/status.json and /api/peers.json against what the network did:
      b admitted (verdict, its stream channel active, its ticket's expiry
      as a printed when it judged b), c refused with the validator's reason
      (verdict, and the ring of recent refusals: stream "feed"), the
      simulated label, ?peer= filtering, /metrics, HEAD, 404/400/405; c's
      own page shows that a refused it, with the same reason.
  status_page.py hostile ADDR PID
      oversized request, too many headers, malformed request lines, a slow
      client, more connections than the cap: each gets an error or a close,
      and the node keeps serving (every step ends with a good request).

Every wait is bounded (a deadline), every socket has a timeout; all
traffic goes to the node's loopback address.
"""
import json
import os
import socket
import sys
import time

TIMEOUT_S = 10  # tools/mosaik/http.h HTTP_TIMEOUT_S
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL: " + what, file=sys.stderr)
    return cond


def split_addr(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def raw(addr, data, read=True, timeout=5.0):
    """Send bytes, return everything read until the server closes."""
    s = socket.create_connection(split_addr(addr), timeout=timeout)
    try:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed early (an oversized request): read its answer
        if not read:
            return b""
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:  # reset, timeout
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def get(addr, path, method="GET", extra=b""):
    """(status, headers dict, body) of one HTTP/1.1 request."""
    req = ("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" % (method, path, addr)).encode()
    resp = raw(addr, req + extra + b"\r\n")
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        hdrs[k.strip().lower().decode()] = v.strip().decode()
    return status, hdrs, body


def get_json(addr, path):
    st, _, body = get(addr, path)
    check(st == 200, "%s: status %d" % (path, st))
    return json.loads(body) if st == 200 else {}


def wait_status(addr, pred, secs, what):
    deadline = time.monotonic() + secs
    while True:
        doc = get_json(addr, "/api/status.json")
        if pred(doc):
            return doc
        if time.monotonic() > deadline:
            check(False, "timed out waiting for " + what)
            return doc
        time.sleep(0.2)


def peer_of(doc, pid):
    for p in doc.get("peers", []):
        if p.get("peer") == pid:
            return p
    return None


def b_and_c_judged(doc, ida, idb, idc):
    b, c = peer_of(doc, idb), peer_of(doc, idc)
    streams = doc.get("streams", [])
    active = any(ch.get("peer") == idb and ch.get("state") == "active"
                 for s in streams for ch in s.get("channels", []))
    refused = any(r.get("peer") == idc and r.get("where") == "feed"
                  for r in doc.get("refusals", []))
    return b is not None and c is not None and active and refused


def a_judged_b(a_out, idb):
    """The expiry a printed when it validated b's ticket (its JSON event)."""
    for line in open(a_out):
        ev = json.loads(line)
        if ev.get("peer") == idb and ev.get("tdx", {}).get("valid"):
            return ev["tdx"]["expires"]
    return None


def refused_by_a(doc, ida):
    return [r for r in doc.get("refusals", [])
            if r.get("peer") == ida and r.get("direction") == "refused us"]


def test_json(addr, ida, idb, idc, a_out, addr_c):
    doc = wait_status(addr, lambda d: b_and_c_judged(d, ida, idb, idc), 30,
                      "b admitted on the stream and c refused")
    check(doc.get("node", {}).get("peer") == ida, "status: node.peer is not a's id")
    check(doc["node"].get("listen", "").startswith("127.0.0.1:"), "status: no listen address")
    now = doc.get("time", 0)
    b, c = peer_of(doc, idb), peer_of(doc, idc)
    # b: admitted, simulated, its ticket's expiry as a saw it.
    check(b["verdict"]["admitted"] is True, "b not admitted: %r" % b.get("verdict"))
    check(b["simulated"] is True, "b not labelled simulated")
    t = b["tickets"][0]
    check(t["platform"] == "tdx" and t["verified"] and t["simulated"], "b's ticket: %r" % t)
    check(t["measurements"]["MRTD"] == "aa" * 48, "b's MRTD")
    want = a_judged_b(a_out, idb)
    check(want is not None, "a printed no verdict on b")
    check(b["verdict"]["until"] == want, "b's admission ends at %r, a printed %r"
          % (b["verdict"]["until"], want))
    check(t["expires"] == want and t["expires_in"] == want - now, "b's ticket expiry %r"
          % t["expires"])
    check(0 < t["expires_in"] <= 3600, "b's ticket expires in %r s" % t["expires_in"])
    # c: refused with the validator's reason, in the verdict and the ring.
    check(c["verdict"]["admitted"] is False, "c admitted")
    check("MRTD mismatch" in c["verdict"].get("reason", ""), "c's reason: %r" % c["verdict"])
    check(c["tickets"][0]["measurements"]["MRTD"] == "bb" * 48, "c's MRTD")
    rec = [r for r in doc["refusals"] if r["peer"] == idc][0]
    check(rec["layer"] == "stream" and rec["direction"] == "we refused", "c's record %r" % rec)
    check("MRTD mismatch" in rec["reason"], "c's refusal reason: %r" % rec["reason"])
    check(rec["count"] >= 1 and rec["last_at"] <= now, "c's refusal count/time")
    # peers.json: the same peers; ?peer= filters by prefix.
    pj = get_json(addr, "/api/peers.json")
    check(sorted(p["peer"] for p in pj["peers"]) == sorted([idb, idc]), "peers.json peers")
    check(pj["peers_total"] == 2 and pj["peers_truncated"] is False, "peers.json counts")
    pj = get_json(addr, "/api/peers.json?peer=" + idc[:10].upper())
    check([p["peer"] for p in pj["peers"]] == [idc], "?peer= filter: %r" % pj)
    # The page, the metrics, HEAD, errors.
    st, hdrs, body = get(addr, "/?refresh=0")
    check(st == 200 and hdrs.get("content-type", "").startswith("text/html"), "page: %d" % st)
    page = body.decode()
    check(idb in page and idc in page and "MRTD mismatch" in page and "SIMULATED" in page,
          "page lacks a peer, the reason or the simulated label")
    check("default-src 'none'" in hdrs.get("content-security-policy", ""), "page: no CSP")
    st, _, body = get(addr, "/metrics")
    check(st == 200 and b"mosaik_discovery_catalog_peers" in body
          and b"mosaik_stream_items_total" in body, "metrics")
    st, _, body = get(addr, "/", method="HEAD")
    check(st == 200 and body == b"", "HEAD: %d, %d bytes" % (st, len(body)))
    for path, want_st in [("/nope", 404), ("/api/../metrics", 404), ("/?refresh=9999", 400),
                          ("/api/peers.json?peer=xyz", 400), ("/?peer=%zz", 400),
                          ("/?refresh=1&refresh=2", 400)]:
        st, _, _ = get(addr, path)
        check(st == want_st, "%s: %d, want %d" % (path, st, want_st))
    # c's own page: a refused it (the stream's CLOSE carried the reason).
    dc = wait_status(addr_c, lambda d: refused_by_a(d, ida), 20, "c to record a's refusal")
    rc_ = refused_by_a(dc, ida)
    check(rc_ and rc_[0]["layer"] == "stream" and rc_[0]["where"] == "feed"
          and "MRTD mismatch" in rc_[0]["reason"], "c's record of a's refusal: %r" % rc_)
    for m in ["POST", "PUT", "DELETE", "PATCH"]:
        st, hdrs, _ = get(addr, "/api/status.json", method=m,
                          extra=b"Content-Length: 5\r\n\r\nhello" if m != "DELETE" else b"")
        check(st == 405 and hdrs.get("allow") == "GET, HEAD", "%s: %d" % (m, st))


def serving(addr):
    st, _, _ = get(addr, "/api/status.json")
    return st == 200


def test_hostile(addr, pid):
    # Oversized: a header block beyond the per-connection memory limit.
    resp = raw(addr, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
    check(resp == b"" or resp.split(b" ")[1] in (b"431", b"413", b"400"),
          "oversized request: %r" % resp[:60])
    check(serving(addr), "not serving after an oversized request")
    # A long target (URI) and many header lines.
    st, _, _ = get(addr, "/?" + "a" * 3000)
    check(st in (414, 431), "long target: %d" % st)
    st, _, _ = get(addr, "/", extra=b"".join(b"X-H%d: v\r\n" % i for i in range(100)))
    check(st == 431, "100 header lines: %d" % st)
    # Malformed request lines: an error or a close.
    for bad in [b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00\xff\xfe\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n"]:
        resp = raw(addr, bad)
        code = resp.split(b" ")[1] if resp.startswith(b"HTTP/") else b""
        check(resp == b"" or code.startswith(b"4") or code.startswith(b"5"),
              "malformed %r answered %r" % (bad, resp[:40]))
    check(serving(addr), "not serving after malformed requests")
    # A slow client: half a request, then nothing. Others are served
    # meanwhile; the slow one is closed after the idle timeout.
    slow = socket.create_connection(split_addr(addr), timeout=TIMEOUT_S + 10)
    slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    check(serving(addr), "not serving while a slow client holds a connection")
    check(time.monotonic() - t0 < 3, "a request waited on the slow client")
    try:
        slow.recv(100)  # EOF, or an error answer (408): the server ended it
        closed = True
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        closed = False
    waited = time.monotonic() - t0
    slow.close()
    check(closed and waited <= TIMEOUT_S + 5, "slow client not closed (%.1f s)" % waited)
    print("# slow client closed after %.1f s (timeout %d s)" % (waited, TIMEOUT_S))
    # More connections than the caps (per address and in all): the extra
    # ones are closed, nothing crashes, and once they go the node serves.
    conns = []
    for _ in range(80):
        try:
            conns.append(socket.create_connection(split_addr(addr), timeout=2))
        except OSError:
            break
    shut = 0
    for s in conns:
        s.settimeout(0.5)
        try:
            if s.recv(1) == b"":
                shut += 1
        except socket.timeout:
            pass
        except OSError:
            shut += 1
    for s in conns:
        s.close()
    check(shut >= len(conns) - 32, "of %d connections only %d were closed" % (len(conns), shut))
    print("# %d connections opened, %d closed by the server at once" % (len(conns), shut))
    deadline = time.monotonic() + 10
    while not serving(addr) and time.monotonic() < deadline:
        time.sleep(0.1)
    check(serving(addr), "not serving after the connection flood")
    try:
        os.kill(pid, 0)
        alive = True
    except OSError:
        alive = False
    check(alive, "the node died")


def main():
    if sys.argv[1] == "json":
        test_json(*sys.argv[2:8])
    else:
        test_hostile(sys.argv[2], int(sys.argv[3]))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
