"""A local MT5 Web API on loopback: the server side of MetaQuotes' handshake and deal pages.

It checks what the MetaQuotes documentation and PHP example expect (webapi_rest_
authentication): /api/auth/start (version >= 484, agent without spaces, type=manager)
answers a 16-byte srv_rand; /api/auth/answer must come on the same connection within
10 s with srv_rand_answer = MD5(password hash + srv_rand) and gets cli_rand_answer =
MD5(password hash + cli_rand) and a session cookie. Other commands need both the
authenticated connection and the cookie, else 403.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from connectors.mt5_webapi import password_hash, rand_answer

MANAGER, PASSWORD = "1000", "Manager-pässword-1"
COOKIE = "MT5WEBAPI"


class Mt5Server:
    """A thread serving the Web API; flags make it misbehave in the ways tests need."""

    def __init__(self, login: str = MANAGER, password: str = PASSWORD):
        self.login, self.hash = login, password_hash(password)
        self.deals: list[dict] = []
        self.sessions: set[str] = set()
        self.requests: list[tuple[str, dict]] = []
        self.fail_retcode: str | None = None  # answer data commands with this retcode
        self.fail_status: int | None = None  # answer data commands with this HTTP status
        self.bad_cli_answer = False  # an impostor: does not know the password
        self.close_next = False  # close the connection after the next answer
        self.refuse_all = False  # every data command: 403
        self.sockets: list = []  # open client connections
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def expire(self) -> None:
        """Forget every session, as a server does after its idle timeout."""
        self.sessions.clear()

    def drop_connections(self) -> None:
        """Close every client connection silently, as after 180 s without a packet."""
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sockets.clear()

    def paths(self) -> list[str]:
        return [path for path, _query in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(mt5: Mt5Server):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the session belongs to the connection
        challenge: tuple[bytes, float] | None = None
        authed = False

        def setup(self):
            super().setup()
            mt5.sockets.append(self.connection)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
            mt5.requests.append((url.path, query))
            routes = {
                "/api/auth/start": self._start,
                "/api/auth/answer": self._answer,
                "/api/deal/get_page": self._page,
                "/api/quit": self._quit,
            }
            route = routes.get(url.path)
            if route is None:
                return self._send(404, {"retcode": "13 Not found"})
            if url.path.startswith("/api/auth/"):
                return route(query)
            return self._data(route, query)

        def _start(self, q):
            self.authed = False
            if (
                not q.get("version", "").isdigit()
                or int(q["version"]) < 484
                or not q.get("agent")
                or " " in q["agent"]
                or q.get("type") != "manager"
            ):
                return self._send(200, {"retcode": "3 Invalid parameters"})
            if q.get("login") != mt5.login:
                return self._send(200, {"retcode": "1001 Invalid account"})
            srv_rand = secrets.token_bytes(16)
            self.challenge = (srv_rand, time.monotonic())
            self._send(200, {"retcode": "0 Done", "version_access": "1290", "srv_rand": srv_rand.hex()})

        def _answer(self, q):
            challenge, self.challenge = self.challenge, None
            if challenge is None or time.monotonic() - challenge[1] > 10:
                return self._send(200, {"retcode": "3 Invalid parameters"})
            if q.get("srv_rand_answer") != rand_answer(mt5.hash, challenge[0]):
                return self._send(200, {"retcode": "1001 Invalid account"})
            try:
                cli_rand = bytes.fromhex(q.get("cli_rand", ""))
            except ValueError:
                cli_rand = b""
            if len(cli_rand) != 16:
                return self._send(200, {"retcode": "3 Invalid parameters"})
            known = password_hash("not the password") if mt5.bad_cli_answer else mt5.hash
            token = secrets.token_hex(16)
            mt5.sessions.add(token)
            self.authed = True
            self._send(
                200,
                {
                    "retcode": "0 Done",
                    "version_access": "1290",
                    "version_trade": "1290",
                    "cli_rand_answer": rand_answer(known, cli_rand),
                },
                {"Set-Cookie": f"{COOKIE}={token}; Path=/; HttpOnly"},
            )

        def _data(self, route, q):
            cookies = dict(p.strip().split("=", 1) for p in (self.headers.get("Cookie") or "").split(";") if "=" in p)
            if mt5.refuse_all or not self.authed or cookies.get(COOKIE) not in mt5.sessions:
                return self._send(403, {"retcode": "8 Not enough permissions"})
            if mt5.fail_status:
                return self._send(mt5.fail_status, {"retcode": "2 Common error"})
            if mt5.fail_retcode:
                return self._send(200, {"retcode": mt5.fail_retcode})
            route(q)

        def _quit(self, _q):
            self.authed = False
            self.close_connection = True
            self._send(200, {"retcode": "0 Done"})

        def _page(self, q):
            try:
                login, start, end, offset, total = (int(q[k]) for k in ("login", "from", "to", "offset", "total"))
            except (KeyError, ValueError):
                return self._send(200, {"retcode": "3 Invalid parameters"})
            if not 0 < total <= 100:
                return self._send(200, {"retcode": "3 Invalid parameters"})
            found = sorted(
                (d for d in mt5.deals if int(d["Login"]) == login and start <= int(d["Time"]) <= end),
                key=lambda d: (int(d["Time"]), int(d["Deal"])),
            )
            self._send(200, {"retcode": "0 Done", "answer": found[offset : offset + total]})

        def _send(self, status, value, headers=None):
            body = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if mt5.close_next:
                mt5.close_next = False
                self.send_header("Connection", "close")
                self.close_connection = True
            for name, text in (headers or {}).items():
                self.send_header(name, text)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler
