#!/usr/bin/env python3
"""A stand-in for the SIOMS gateway, so that scripts/check-ansible.sh can run the smoke check
of the sioms_deploy role without a cluster.

    stub_gateway.py PORT_FILE LOG_FILE SECONDS

Listens on 127.0.0.1 on a free port (written to PORT_FILE), logs "METHOD PATH STATUS" per
request to LOG_FILE, and stops by itself after SECONDS. Answers GET /healthz, GET and POST
/items, PUT /price/<id> and POST /orders like the real gateway (admin routes need
"Authorization: Bearer $STUB_ADMIN_TOKEN").
"""
import json
import os
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

ITEMS = {}
TOKEN = os.environ.get("STUB_ADMIN_TOKEN", "stub-admin-token")


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        with open(sys.argv[2], "a", encoding="utf-8") as log:
            log.write(f"{self.command} {self.path} {status}\n")

    def _body(self):
        length = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(length) or b"{}")

    def _admin(self):
        return self.headers.get("Authorization") == f"Bearer {TOKEN}"

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path == "/healthz":
            self._send(200, {"status": "ok"})
        elif self.path == "/items":
            self._send(200, {"items": list(ITEMS.values()), "next_cursor": None})
        else:
            self._send(404, {"title": "Not Found"})

    def do_POST(self):  # noqa: N802
        body = self._body()
        if self.path == "/items":
            if not self._admin():
                self._send(401, {"title": "Unauthorized"})
            elif body.get("id") in ITEMS:
                self._send(409, {"title": "Conflict"})
            else:
                ITEMS[body["id"]] = dict(body)
                self._send(201, ITEMS[body["id"]])
        elif self.path == "/orders":
            item = ITEMS.get(body.get("item"))
            if item is None or item.get("price_cents") is None:
                self._send(404, {"title": "Not Found"})
            else:
                self._send(201, {"id": str(uuid.uuid4()), "item_id": item["id"], "quantity": body.get("quantity")})
        else:
            self._send(404, {"title": "Not Found"})

    def do_PUT(self):  # noqa: N802
        body = self._body()
        item_id = self.path.removeprefix("/price/")
        if not self.path.startswith("/price/") or item_id not in ITEMS:
            self._send(404, {"title": "Not Found"})
        elif not self._admin():
            self._send(401, {"title": "Unauthorized"})
        else:
            ITEMS[item_id]["price_cents"] = body.get("price_cents")
            self._send(200, {"item": item_id, "price_cents": body.get("price_cents")})

    def log_message(self, *_args):
        pass


def main():
    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 0.5
    with open(sys.argv[1] + ".tmp", "w", encoding="utf-8") as port_file:
        port_file.write(str(server.server_address[1]))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    deadline = time.monotonic() + float(sys.argv[3])
    while time.monotonic() < deadline:
        server.handle_request()


if __name__ == "__main__":
    main()
