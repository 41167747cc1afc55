"""Literals in rule conditions: `10 USD`, `2.5`, `48h`, `2024-01-31`, `approved`, `"a b"`, `[a, b]`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from engine.values import UTC, ValueError_, parse_decimal, parse_duration, to_units

_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_MONEY = re.compile(r"^([+-]?\d+(?:\.\d+)?)\s+([A-Z]{3})$")
_DURATION = re.compile(r"^\d+\s*[smhdw]$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$")
_WORD = re.compile(r"^[A-Za-z_][\w.\-/@+]*$")


class LiteralError(ValueError):
    """A literal cannot be read."""


@dataclass(frozen=True)
class Literal:
    kind: str  # number, money, text, bool, time, duration, list
    value: object  # Decimal, (Decimal, currency), str, bool, datetime, seconds, tuple[Literal]
    source: str  # as written

    def describe(self) -> str:
        return {
            "number": "a plain number",
            "money": "money",
            "text": "text",
            "bool": "true/false",
            "time": "a date/time",
            "duration": "a duration",
            "list": "a list",
        }[self.kind]


def _split_list(body: str) -> list[str]:
    parts, buf, quote = [], "", ""
    for ch in body:
        if quote:
            buf += ch
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            buf, quote = buf + ch, ch
        elif ch == ",":
            parts.append(buf.strip())
            buf = ""
        else:
            buf += ch
    if buf.strip() or parts:
        parts.append(buf.strip())
    return parts


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_literal(text: str) -> Literal:
    """Read one literal; raise LiteralError saying what is wrong."""
    text = text.strip()
    if not text:
        raise LiteralError("a value is missing")
    if text[0] in "\"'":
        if len(text) < 2 or text[-1] != text[0]:
            raise LiteralError(f"unterminated quoted text {text}")
        return Literal("text", text[1:-1], text)
    if text.startswith("["):
        if not text.endswith("]"):
            raise LiteralError(f"a list must end with ]: {text}")
        items = tuple(parse_literal(p) for p in _split_list(text[1:-1]))
        return Literal("list", items, text)
    if text in ("true", "false"):
        return Literal("bool", text == "true", text)
    try:
        if _NUMBER.match(text):
            return Literal("number", parse_decimal(text), text)
        if m := _MONEY.match(text):
            return Literal("money", (parse_decimal(m[1]), m[2]), text)
    except ValueError_ as exc:
        raise LiteralError(str(exc)) from None
    if _DURATION.match(text):
        return Literal("duration", int(parse_duration(text).total_seconds()), text)
    if _DATE.match(text):
        try:
            return Literal("time", _time(text), text)
        except ValueError:
            raise LiteralError(f"not a valid date/time: {text}") from None
    if _WORD.match(text):
        return Literal("text", text, text)
    raise LiteralError(f"cannot read the value {text!r} (quote text that has spaces or symbols)")


def units(value: Decimal) -> int:
    """Return integer units of 10^-8 of an exact decimal."""
    return to_units(value)


def epoch(value: datetime) -> int:
    """Return whole epoch seconds (times compare at one-second precision)."""
    return int(value.timestamp() // 1)
