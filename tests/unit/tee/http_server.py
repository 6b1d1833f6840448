#!/usr/bin/env python3
"""A small HTTP server for tests/unit/tee/test_fetch.c (the shared fetcher).

Routes (127.0.0.1, an ephemeral port written to --port-file atomically):
  /ok                 200 "hello", header X-Test: abc
  /big                200 with a 300 KiB body
  /slow               sleeps 3 s, then 200
  /missing            404
  /redirect           302 to /ok
  /dup                200 with the header X-Test twice
  /limited/N?after=V&code=C
                      the first N requests to this exact URL get status C
                      (default 429) with Retry-After: V (V = "none": no
                      header; V = "date+S": an HTTP-date S seconds ahead),
                      later ones 200 "done"
"""
import argparse
import email.utils
import os
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    seen = {}
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

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            q = urllib.parse.parse_qs(u.query)
            if u.path == "/ok":
                return self.send(200, b"hello", [("X-Test", "abc")])
            if u.path == "/big":
                return self.send(200, b"x" * (300 * 1024))
            if u.path == "/slow":
                time.sleep(3)
                return self.send(200, b"late")
            if u.path == "/redirect":
                return self.send(302, b"", [("Location", "/ok"), ("X-Test", "first")])
            if u.path == "/dup":
                return self.send(200, b"two", [("X-Test", "a"), ("X-Test", "b")])
            if u.path.startswith("/limited/"):
                n = int(u.path.split("/")[2])
                with lock:
                    seen[self.path] = seen.get(self.path, 0) + 1
                    k = seen[self.path]
                if k > n:
                    return self.send(200, b"done")
                after = q.get("after", ["0"])[0]
                code = int(q.get("code", ["429"])[0])
                hdrs = []
                if after.startswith("date+"):
                    when = time.time() + int(after[5:])
                    hdrs.append(("Retry-After", email.utils.formatdate(when, usegmt=True)))
                elif after != "none":
                    hdrs.append(("Retry-After", after))
                return self.send(code, b"slow down", hdrs)
            return self.send(404, b"")

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # clients that give up (caps, time limits) close early

    srv = Server(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
