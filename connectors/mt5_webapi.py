"""A client of MetaQuotes' MT5 Web API: manager authentication and the deal pages.

The handshake (MetaQuotes, "Web API / Authentication", support.metaquotes.net/en/docs/
mt5/api/webapi_rest_authentication, and the PHP example class CMT5Request of the
"Examples" page):

1. `GET /api/auth/start?version=V&agent=A&login=L&type=manager` -> `{retcode, srv_rand}`
2. password hash = MD5(MD5(password as UTF-16LE) + b"WebAPI") (16 raw bytes);
   `GET /api/auth/answer?srv_rand_answer=hex(MD5(hash + srv_rand bytes))&cli_rand=hex(16
   random bytes)` -> `{retcode, cli_rand_answer}`
3. the server proves it knows the password too: cli_rand_answer must equal
   hex(MD5(hash + cli_rand bytes)); otherwise it is not the trade server and nothing is
   sent to it.

The access server is stateful ("Maintaining Connections", webapi_pings): the session
belongs to the keep-alive connection (and any cookie the server sets), and the server
drops a connection silent for 180 s. So one connection is kept open; a dropped
connection or a 401/403 answer means the session is gone: the client connects and
authenticates again, once, and repeats the request.
The manager password is reduced to its hash at once and never kept or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import ssl
import urllib.parse
from collections.abc import Iterator
from decimal import Decimal
from http.cookies import CookieError, SimpleCookie

VERSION = 3470  # the client version printed in the access server's log (>= 484)
AGENT = "fxcrm"  # the agent name: not empty, no spaces
PAGE_SIZE = 100  # /api/deal/get_page returns at most 100 deals per call
MAX_PAGES = 1000
TIMEOUT = 10.0
MAX_ANSWER = 64 * 1024 * 1024
EXPIRED = (401, 403)


class WebApiError(Exception):
    """The Web API could not be used: network, HTTP status, retcode or answer shape."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class AuthError(WebApiError):
    """The handshake failed: wrong login or password, or a server that is not authentic."""


def password_hash(password: str) -> bytes:
    """Return MD5(MD5(UTF-16LE password) + "WebAPI"), the Web API password hash."""
    return hashlib.md5(hashlib.md5(password.encode("utf-16-le")).digest() + b"WebAPI").digest()


def rand_answer(hashed: bytes, rand: bytes) -> str:
    """Return the lowercase hex MD5 of the password hash followed by a random sequence."""
    return hashlib.md5(hashed + rand).hexdigest()


class WebApi:
    """One manager session on an MT5 Web API (https://host:port)."""

    def __init__(
        self,
        base_url: str,
        *,
        login: str,
        password: str,
        agent: str = AGENT,
        version: int = VERSION,
        timeout: float = TIMEOUT,
        ca_file: str | None = None,
    ):
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise WebApiError(f"MT5 base URL: expected https://host[:port], got {base_url!r}")
        if url.scheme == "http" and not _loopback(url.hostname):
            # Deals and the session cookie would cross the network in clear.
            raise WebApiError(f"MT5 base URL: use https:// (plain http only on loopback), got {base_url!r}")
        if not str(login).isdigit():
            raise WebApiError("MT5 manager login: expected a number")
        if not password:
            raise WebApiError("MT5 manager password: not set")
        self.url, self.login, self.agent, self.version = url, str(login), agent, version
        self.timeout, self.ca_file = timeout, ca_file
        self._hash = password_hash(password)
        self._conn: http.client.HTTPConnection | None = None
        self._cookies: dict[str, str] = {}
        self.authenticated = False
        self.logins = 0  # handshakes done (tests and the poll summary)

    def __repr__(self) -> str:
        return f"WebApi({self.url.netloc!r}, login={self.login!r})"

    def close(self) -> None:
        """Say /api/quit when logged in, and close the connection (the session ends)."""
        quit_first, self.authenticated = self._conn is not None and self.authenticated, False
        if quit_first:
            try:
                self._request("/api/quit", "/api/quit", retry=False)
            except (WebApiError, _SessionGone):
                pass  # closing anyway
        if self._conn is not None:
            self._conn.close()
        self._conn, self._cookies = None, {}

    def authenticate(self) -> None:
        """Run the handshake on a fresh connection; raise AuthError when it fails."""
        self.close()
        start = self._call(
            "/api/auth/start",
            {"version": self.version, "agent": self.agent, "login": self.login, "type": "manager"},
            auth=True,
        )
        srv_rand = _hex16(start.get("srv_rand"), "auth/start: srv_rand")
        cli_rand = secrets.token_bytes(16)
        answer = self._call(
            "/api/auth/answer",
            {"srv_rand_answer": rand_answer(self._hash, srv_rand), "cli_rand": cli_rand.hex()},
            auth=True,
        )
        expected = rand_answer(self._hash, cli_rand)
        given = str(answer.get("cli_rand_answer") or "").lower()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            self.close()
            raise AuthError(
                "auth/answer: the server's cli_rand_answer is wrong: it does not "
                "know the manager password, so it is not the trade server "
                "(nothing was sent to it)"
            )
        self.authenticated = True
        self.logins += 1

    def get(self, path: str, params: dict) -> object:
        """GET a Web API command and return its `answer`; authenticate when needed."""
        if not self.authenticated:
            self.authenticate()
        try:
            return self._call(path, params)
        except _SessionGone:
            self.authenticate()  # expired or dropped: one new session, one more try
            try:
                return self._call(path, params)
            except _SessionGone as exc:
                raise WebApiError(f"{path}: {exc.reason} right after a new login") from None

    def deals(self, login: int, start: int, end: int, page_size: int = PAGE_SIZE) -> Iterator[dict]:
        """Yield the deal records of `login` with Time in [start, end] (server seconds)."""
        for page in range(MAX_PAGES):
            answer = self.get(
                "/api/deal/get_page",
                {"login": login, "from": start, "to": end, "offset": page * page_size, "total": page_size},
            )
            if not isinstance(answer, list):
                raise WebApiError("/api/deal/get_page: the answer is not a list of deals")
            yield from answer
            if len(answer) < page_size:
                return
        raise WebApiError(f"/api/deal/get_page: login {login} has more than {MAX_PAGES * page_size} deals in one range")

    def _call(self, path: str, params: dict, *, auth: bool = False) -> dict | list:
        target = f"{path}?{urllib.parse.urlencode(params)}"
        status, body = self._request(target, path, retry=not auth)
        if status in EXPIRED and not auth:
            raise _SessionGone(f"HTTP {status}")
        value = _json(body, path)
        retcode = str(value.get("retcode", "")) if isinstance(value, dict) else ""
        if status != 200 or not _ok(retcode):
            error = AuthError if auth else WebApiError
            shown = f"retcode {retcode[:60]!r}" if retcode else "no retcode"
            raise error(
                f"{path}: HTTP {status}, {shown}"
                + (
                    " (check FXCRM_MT5_MANAGER_LOGIN and FXCRM_MT5_MANAGER_PASSWORD, and that "
                    "the manager may use the Web API from this address)"
                    if auth
                    else ""
                )
            )
        return value if auth else value.get("answer")

    def _request(self, target: str, path: str, *, retry: bool) -> tuple[int, bytes]:
        headers = {"Accept": "application/json", "Connection": "keep-alive"}
        if self._cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self._cookies.items())
        try:
            conn = self._connection()
            conn.request("GET", self.url.path.rstrip("/") + target, headers=headers)
            response = conn.getresponse()
            body = response.read(MAX_ANSWER + 1)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
            self.close()
            if retry:  # the connection, and the session bound to it, is gone
                raise _SessionGone(type(exc).__name__) from None
            raise WebApiError(f"{path}: the server closed the connection") from None
        except (http.client.HTTPException, OSError, ValueError) as exc:
            self.close()
            raise WebApiError(f"{path}: {type(exc).__name__}: {exc}") from None
        if len(body) > MAX_ANSWER:
            self.close()
            raise WebApiError(f"{path}: the answer is larger than {MAX_ANSWER} bytes")
        self._keep_cookies(response.headers.get_all("Set-Cookie") or [])
        if response.will_close:  # the next request opens a new connection
            self._conn.close()
            self._conn = None
        return response.status, body

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            host, port = self.url.hostname, self.url.port
            if self.url.scheme == "https":
                context = ssl.create_default_context(cafile=self.ca_file)
                self._conn = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=context)
            else:
                self._conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        return self._conn

    def _keep_cookies(self, headers: list[str]) -> None:
        for header in headers:
            try:
                cookie = SimpleCookie(header)
            except CookieError:
                continue
            self._cookies.update({name: morsel.value for name, morsel in cookie.items()})


class _SessionGone(Exception):
    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _ok(retcode: str) -> bool:
    # "0 Done": the code, a space, its description. 0 is success; anything else is not.
    return retcode.split(" ", 1)[0] == "0"


def _json(body: bytes, path: str) -> object:
    try:
        return json.loads(body.decode("utf-8", "replace").lstrip("\ufeff"), parse_float=Decimal)
    except (ValueError, RecursionError):
        raise WebApiError(f"{path}: the answer is not JSON") from None


def _hex16(value: object, where: str) -> bytes:
    try:
        raw = bytes.fromhex(str(value))
    except ValueError:
        raw = b""
    if len(raw) != 16:
        raise AuthError(f"{where}: expected 16 bytes in hex, got {str(value)[:40]!r}")
    return raw
