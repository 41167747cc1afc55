"""A loopback HTTP server that answers like Onfido's and Sumsub's document APIs.

It checks the credentials each provider expects (Onfido's token header, Sumsub's
signed request) and serves the files it was given; every request is recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ONFIDO_TOKEN, SUMSUB_TOKEN, SUMSUB_SECRET = "onfido-api-token", "sumsub-app-token", "sumsub-app-secret"


class KycApi:
    def __init__(self):
        self.onfido: dict[str, list[dict]] = {}  # applicant id -> document records
        self.sumsub: dict[str, dict] = {}  # external user id -> {id, items}
        self.files: dict[str, tuple[bytes, str]] = {}  # file id -> (bytes, content type)
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                api.requests.append(self.path)
                status, body, kind = api.answer(self.path, self.headers)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()

    def answer(self, path: str, headers) -> tuple[int, bytes, str]:
        parsed = urlparse(path)
        if parsed.path.startswith("/v3.6/"):
            if headers.get("Authorization") != f"Token token={ONFIDO_TOKEN}":
                return 401, b'{"error": "bad token"}', "application/json"
            return self._onfido(parsed)
        if parsed.path.startswith("/resources/"):
            stamp, sig = headers.get("X-App-Access-Ts", ""), headers.get("X-App-Access-Sig", "")
            expected = hmac.new(SUMSUB_SECRET.encode(), f"{stamp}GET{path}".encode(), hashlib.sha256).hexdigest()
            if headers.get("X-App-Token") != SUMSUB_TOKEN or not hmac.compare_digest(sig, expected):
                return 401, b'{"description": "bad signature"}', "application/json"
            return self._sumsub(parsed)
        return 404, b"{}", "application/json"

    def _file(self, file_id: str):
        if file_id not in self.files:
            return 404, b"{}", "application/json"
        data, kind = self.files[file_id]
        return 200, data, kind

    def _onfido(self, parsed):
        parts = parsed.path.split("/")
        if parsed.path == "/v3.6/documents":
            applicant = parse_qs(parsed.query).get("applicant_id", [""])[0]
            return 200, json.dumps({"documents": self.onfido.get(applicant, [])}).encode(), "application/json"
        if len(parts) == 5 and parts[4] == "download":
            return self._file(parts[3])
        return 404, b"{}", "application/json"

    def _sumsub(self, parsed):
        path = parsed.path
        if path.startswith("/resources/applicants/-;externalUserId=") and path.endswith("/one"):
            ref = path[len("/resources/applicants/-;externalUserId=") : -len("/one")]
            found = self.sumsub.get(ref)
            return (
                (200, json.dumps({"id": found["id"]}).encode(), "application/json")
                if found
                else (404, b'{"description": "not found"}', "application/json")
            )
        parts = path.split("/")
        if path.endswith("/metadata/resources"):
            items = next((a["items"] for a in self.sumsub.values() if a["id"] == parts[3]), [])
            return 200, json.dumps({"items": items, "totalItems": len(items)}).encode(), "application/json"
        if len(parts) == 6 and parts[4] == "resources":
            return self._file(parts[5])
        return 404, b"{}", "application/json"
