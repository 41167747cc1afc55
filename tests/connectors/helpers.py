"""Shared helpers of the connector tests: fixtures on disk and canonical-event checks."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from engine.events.schemas import validate_envelope

FIXTURES = Path(__file__).parent / "fixtures"


def raw(name: str) -> bytes:
    """Return a fixture file's exact bytes."""
    return (FIXTURES / name).read_bytes()


def load(name: str) -> dict:
    """Return a JSON fixture as a dict."""
    return json.loads(raw(name))


def compact(payload: object) -> bytes:
    """Serialise a payload the way a provider would send it (compact JSON)."""
    return json.dumps(payload, separators=(",", ":")).encode()


def hex_hmac(secret: str, body: bytes, digest=hashlib.sha256) -> str:
    """Return the hex HMAC a provider would send."""
    return hmac.new(secret.encode(), body, digest).hexdigest()


def canonical(events: list[dict]) -> list[dict]:
    """Validate every event against the catalogue's schemas and return them."""
    for event in events:
        validate_envelope(event)
    return events


def one_event(normalized) -> dict:
    """Return the single canonical event of a Normalized, validated."""
    assert normalized.ignored is None, normalized.ignored
    assert len(normalized.events) == 1, normalized.events
    return canonical(normalized.events)[0]
