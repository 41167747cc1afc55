"""POST /webhooks/<provider>: verify on the raw body, store, answer fast."""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from typing import Callable

from flask import Blueprint, abort, current_app, jsonify, request

import connectors
from engine.deliveries import fetches, intake
from engine.values import utcnow
from web import database

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024  # provider notifications are a few kilobytes
FAILURE_LIMIT = 20  # signature failures per address and provider ...
FAILURE_WINDOW = 60.0  # ... per this many seconds, then 429 until the window ends
MAX_TRACKED = 10_000  # addresses kept in memory before expired windows are dropped


class FailureLimiter:
    """Count signature failures per (provider, address) in fixed windows, in this process."""

    def __init__(
        self, limit: int = FAILURE_LIMIT, window: float = FAILURE_WINDOW, clock: Callable[[], float] = time.monotonic
    ):
        self.limit, self.window, self.clock = limit, window, clock
        self._windows: dict[tuple[str, str], list] = {}  # key -> [start, failures, logged]
        self._lock = threading.Lock()

    def retry_after(self, provider: str, address: str) -> int | None:
        """Return the seconds to wait if this address is over the limit, else None."""
        with self._lock:
            entry = self._current((provider, address), self.clock())
            if entry is None or entry[1] < self.limit:
                return None
            return max(1, math.ceil(entry[0] + self.window - self.clock()))

    def failed(self, provider: str, address: str) -> None:
        """Count one signature failure; log once per window when the limit is reached."""
        with self._lock:
            now = self.clock()
            if len(self._windows) >= MAX_TRACKED:
                self._drop_expired(now)
            while len(self._windows) >= MAX_TRACKED:  # still full: forget the oldest windows
                del self._windows[next(iter(self._windows))]
            entry = self._current((provider, address), now)
            if entry is None:
                entry = self._windows[(provider, address)] = [now, 0, False]
            entry[1] += 1
            if entry[1] >= self.limit and not entry[2]:
                entry[2] = True
                log.warning(
                    "webhook %s: %d signature failures from %s within %.0f s; answering 429 until the window ends",
                    provider,
                    entry[1],
                    address,
                    self.window,
                )

    def _current(self, key: tuple[str, str], now: float) -> list | None:
        entry = self._windows.get(key)
        if entry is not None and now - entry[0] >= self.window:
            del self._windows[key]
            return None
        return entry

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, e in self._windows.items() if now - e[0] >= self.window]:
            del self._windows[key]


def limiter() -> FailureLimiter:
    """Return this app's limiter (one per process: each web process keeps its own window)."""
    found = current_app.extensions.get("fxcrm_webhook_limiter")
    if found is None:
        found = current_app.extensions["fxcrm_webhook_limiter"] = FailureLimiter(
            limit=current_app.config.get("WEBHOOK_FAILURE_LIMIT", FAILURE_LIMIT),
            window=current_app.config.get("WEBHOOK_FAILURE_WINDOW", FAILURE_WINDOW),
        )
    return found


def _limited_address() -> str | None:
    # Loopback is a local reverse proxy (or the test client): limiting it would throttle
    # every provider at once, so it is not limited (see docs/connectors.md).
    address = request.remote_addr or ""
    try:
        return None if ipaddress.ip_address(address).is_loopback else address
    except ValueError:
        return address or None


@bp.post("/<provider>")
def receive(provider: str):
    """Take one provider delivery; the answer's status code is what the provider acts on."""
    if provider not in connectors.WEBHOOKS:
        abort(404)
    address = _limited_address()
    wait = limiter().retry_after(provider, address) if address else None
    if wait is not None:
        response = jsonify(status="rejected", reason="too many signature failures")
        return response, 429, {"Retry-After": str(wait)}
    if (request.content_length or 0) > MAX_BODY:
        return jsonify(status="rejected", reason="body too large"), 413
    # The raw bytes: signatures are over the body exactly as sent. Read at most one byte
    # past the limit, so a chunked body (no Content-Length) is bounded too.
    body = request.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return jsonify(status="rejected", reason="body too large"), 413
    db = database()
    outcome = intake.receive(
        db, provider=provider, headers=request.headers, body=body, now=utcnow(), on_pending=lambda: fetches.schedule(db)
    )
    if outcome.http_status == 401 and address:
        limiter().failed(provider, address)
    return jsonify(outcome.as_json()), outcome.http_status


@bp.errorhandler(404)
def _not_found(_exc):
    return jsonify(status="rejected", reason="no such webhook"), 404
