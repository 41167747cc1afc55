"""Shared pieces of the connectors: headers, HMAC, JSON access, event envelopes."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from connectors.errors import MalformedPayload, SignatureError

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Limits of the canonical envelope (engine.events.schemas): longer values would be
# refused by the event store after the provider already got its 2xx.
MAX_ID, MAX_CLIENT, MAX_TEXT = 200, 100, 500

_INTEGER = re.compile(r"-?[0-9]{1,20}")
_MAX_DIGITS = 30

ClientResolver = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Normalized:
    """What one delivery became: canonical events, or nothing and why."""

    events: list[dict] = field(default_factory=list)
    ignored: str | None = None

    @classmethod
    def ignore(cls, reason: str) -> "Normalized":
        """Return an empty result that records why the delivery is not used."""
        return cls([], reason)


# --- headers and signatures ------------------------------------------------------


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Return header `name` whatever its case, or None."""
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def require_header(headers: Mapping[str, str], name: str) -> str:
    """Return header `name`, or raise SignatureError when it is missing or empty."""
    value = header(headers, name)
    if value is None or not value.strip():
        raise SignatureError(f"missing {name} header")
    return value.strip()


def require_secret(secret: str | None) -> bytes:
    """Return the secret as bytes; an empty key would let anyone sign."""
    if not isinstance(secret, str) or not secret:
        raise SignatureError("no webhook secret is configured for this provider")
    return secret.encode("utf-8")


def hex_matches(expected_hex: str, given: str) -> bool:
    """Compare a computed hex digest with a header value in constant time."""
    given_bytes = given.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected_hex.encode("ascii"), given_bytes)


def hmac_hex(key: bytes, message: bytes, digest: Callable) -> str:
    """Return the lowercase hex HMAC of `message`."""
    return hmac.new(key, message, digest).hexdigest()


def check_hex_hmac(key: bytes, message: bytes, digest: Callable, given: str, name: str) -> None:
    """Raise SignatureError unless `given` (the header `name`) is the hex HMAC of `message`."""
    if not hex_matches(hmac_hex(key, message, digest), given):
        raise SignatureError(f"{name} does not match the body")


# --- JSON ------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise MalformedPayload(f"body: {name} is not valid JSON")


def load_json(body: bytes, *, exact: bool = True) -> Any:
    """Parse a UTF-8 JSON body; numbers with a fraction become Decimal when `exact`."""
    if not isinstance(body, (bytes, bytearray)):
        raise MalformedPayload("body: expected bytes")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayload(f"body: not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_float=Decimal if exact else float, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise MalformedPayload(f"body: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise MalformedPayload("body: JSON nested too deeply") from None


def load_json_object(body: bytes) -> dict:
    """Parse a body that must be one JSON object."""
    value = load_json(body)
    if not isinstance(value, dict):
        raise MalformedPayload(f"body: expected a JSON object, got {kind(value)}")
    return value


def kind(value: Any) -> str:
    """Name the JSON type of `value` for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


class Fields:
    """Typed access to one JSON object; every problem is a MalformedPayload with the path."""

    def __init__(self, obj: Any, path: str = "body"):
        if not isinstance(obj, dict):
            raise MalformedPayload(f"{path}: expected a JSON object, got {kind(obj)}")
        self.obj, self.path = obj, path

    def where(self, key: str) -> str:
        """Return the dotted path of `key`."""
        return key if self.path == "body" else f"{self.path}.{key}"

    def _get(self, key: str, required: bool) -> Any:
        value = self.obj.get(key)
        if value is None and required:
            state = "is null" if key in self.obj else "is missing"
            raise MalformedPayload(f"{self.where(key)}: {state}")
        return value

    def text(self, key: str, required: bool = True) -> str | None:
        """Return a non-empty string field."""
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise MalformedPayload(f"{self.where(key)}: expected a string, got {kind(value)}")
        if not value.strip():
            if required:
                raise MalformedPayload(f"{self.where(key)}: is empty")
            return None
        return value

    def integer(self, key: str, required: bool = True) -> int | None:
        """Return an integer field (a JSON integer or a string of digits)."""
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            return int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise MalformedPayload(f"{self.where(key)}: expected an integer, got {kind(value)}")
        return value

    def number(self, key: str, required: bool = True) -> Decimal | None:
        """Return a numeric field exactly (JSON number or numeric string)."""
        value = self._get(key, required)
        if value is None:
            return None
        return to_decimal(value, self.where(key))

    def child(self, key: str, required: bool = True) -> "Fields | None":
        """Return a nested object field."""
        value = self._get(key, required)
        return None if value is None else Fields(value, self.where(key))

    def strings(self, key: str) -> list[str]:
        """Return a list-of-strings field; null or missing is an empty list."""
        value = self._get(key, False)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise MalformedPayload(f"{self.where(key)}: expected a list of strings")
        return list(value)


# --- values ----------------------------------------------------------------------


def to_decimal(value: Any, where: str) -> Decimal:
    """Convert a JSON number or numeric string to a finite Decimal."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise MalformedPayload(f"{where}: expected a number, got {kind(value)}")
    try:
        # repr() of a float is its shortest round-trip text, so 0.1 stays 0.1.
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise MalformedPayload(f"{where}: not a number: {str(value)[:40]!r}") from None
    if not number.is_finite():
        raise MalformedPayload(f"{where}: must be a finite number")
    # Bound the exponent: formatting 1e999999999 as plain text would exhaust memory.
    if abs(number.as_tuple().exponent) > _MAX_DIGITS or number.adjusted() > _MAX_DIGITS:
        raise MalformedPayload(f"{where}: number out of range: {str(value)[:40]!r}")
    return number


def decimal_text(value: Decimal) -> str:
    """Format a Decimal as a plain decimal string (never scientific notation)."""
    return format(value, "f")


def as_utc(value: datetime) -> datetime:
    """Return `value` in UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime) -> str:
    """Format an aware datetime as ISO-8601 in UTC with an explicit offset."""
    return value.astimezone(UTC).isoformat()


def parse_time(text: str, where: str) -> datetime:
    """Parse an ISO-8601-like time; one without an offset is taken to be UTC."""
    try:
        return as_utc(datetime.fromisoformat(text.strip()))
    except (ValueError, OverflowError):
        raise MalformedPayload(f"{where}: not a time like 2021-05-14 16:00:25.032: {text[:40]!r}") from None


def from_epoch_ms(milliseconds: int, where: str) -> datetime:
    """Convert milliseconds since 1970 (UTC) to an aware datetime."""
    try:
        return EPOCH + timedelta(milliseconds=milliseconds)
    except OverflowError:
        raise MalformedPayload(f"{where}: time out of range: {milliseconds}") from None


def clip(text: str | None, limit: int = MAX_TEXT) -> str | None:
    """Shorten free text to what the event schema accepts."""
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def currency_code(value: str | None, where: str) -> str:
    """Return an upper-case ISO 4217 code, or raise MalformedPayload."""
    if value is None:
        raise MalformedPayload(f"{where}: is missing")
    code = value.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise MalformedPayload(f"{where}: not a 3-letter ISO 4217 currency code: {str(value)[:20]!r}")
    return code


def event(source: str, type_: str, id_: str, occurred_at: datetime, client: str, data: dict) -> dict:
    """Build one canonical event envelope; None data values are left out."""
    if len(id_) > MAX_ID:
        raise MalformedPayload(f"event id longer than {MAX_ID} characters")
    if not client.strip() or len(client) > MAX_CLIENT:
        raise MalformedPayload(f"client reference must be 1 to {MAX_CLIENT} characters")
    for key, value in data.items():
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise MalformedPayload(f"{key}: longer than {MAX_TEXT} characters")
    envelope = {
        "id": id_,
        "type": type_,
        "source": source,
        "occurred_at": iso(occurred_at),
        "client": client,
        "data": {k: v for k, v in data.items() if v is not None},
    }
    return _canonical(envelope)


def _canonical(envelope: dict) -> dict:
    """Refuse, as a malformed payload, an event the input contract would refuse (a control
    character in an id, an unknown currency, an amount finer than its currency allows):
    the provider hears 400 now instead of the event failing later."""
    from engine.events.schemas import InvalidEvent, validate_envelope

    try:
        return validate_envelope(envelope, allow_internal=True)
    except InvalidEvent as exc:
        raise MalformedPayload(f"the event it gives is invalid: {exc}") from None
