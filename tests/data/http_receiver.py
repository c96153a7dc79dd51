#!/usr/bin/env python3
"""Loopback HTTP(S) collector for the sink tests: answers like Splunk HEC or
Elasticsearch _bulk and logs every request (headers, gunzipped body) as one JSON line.

  http_receiver.py --log FILE --port-file FILE [--port N] [--fail-file FILE]
                   [--cert PEM --key PEM]

While --fail-file exists every request gets 503 (and is logged with that status).
"""

import argparse
import gzip
import json
import os
import ssl
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fail-file")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()
    log = open(args.log, "a", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = raw
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(raw)
            failing = args.fail_file and os.path.exists(args.fail_file)
            status = 503 if failing else 200
            entry = {
                "path": self.path,
                "status": status,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "wire_bytes": len(raw),
                "body": body.decode("utf-8", "replace"),
            }
            log.write(json.dumps(entry) + "\n")
            log.flush()
            if failing:
                answer = {"text": "Server is busy", "code": 9}
            elif self.path.endswith("/_bulk"):
                items = []
                lines = [l for l in body.decode().split("\n") if l.strip()]
                for action in lines[0::2]:
                    meta = json.loads(action)["create"]
                    items.append({"create": {"_index": meta.get("_index"), "_id": meta.get("_id"), "status": 201}})
                answer = {"took": 1, "errors": False, "items": items}
            else:
                answer = {"text": "Success", "code": 0}
            out = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    HTTPServer.allow_reuse_address = True
    server = HTTPServer(("127.0.0.1", args.port), Handler)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
