"""Exact values: decimals, money, UTC times and durations, and an injectable clock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import overload

SCALE = 8
UNITS = Decimal(10) ** SCALE
# Amounts are stored as 64-bit integers of 10^-8 units.
MAX_DECIMAL = Decimal(10) ** 10
UTC = timezone.utc


class ValueError_(ValueError):
    """A value is malformed (message says what and why)."""


def parse_decimal(text: object, what: str = "value") -> Decimal:
    """Parse a decimal string exactly (floats are refused: they are not exact)."""
    if isinstance(text, bool) or isinstance(text, float):
        raise ValueError_(f"{what} must be a decimal string, not a float")
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        raise ValueError_(f"{what} is not a decimal number: {text!r}") from None
    if not value.is_finite():
        raise ValueError_(f"{what} must be finite: {text!r}")
    if abs(value) >= MAX_DECIMAL:
        raise ValueError_(f"{what} is out of range (at most {MAX_DECIMAL - 1}): {text!r}")
    if value.as_tuple().exponent < -SCALE:
        raise ValueError_(f"{what} has more than {SCALE} decimal places: {text!r}")
    return value


def to_units(value: Decimal | int | str) -> int:
    """Convert a decimal to integer units of 10^-8, refusing any loss of precision."""
    dec = value if isinstance(value, Decimal) else parse_decimal(value)
    units = dec * UNITS
    if units != units.to_integral_value():
        raise ValueError_(f"{value} has more than {SCALE} decimal places")
    return int(units)


@dataclass(frozen=True, order=True)
class Money:
    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def percent_of(part: Decimal, whole: Decimal) -> Decimal:
    """`part` in per cent of `whole`, to the hundredth (as facts state ratios: 12.35)."""
    return (part * 100 / whole).quantize(Decimal("0.01"))


def fmt_amount(amount: Decimal | None) -> str | None:
    """Format an amount as a decimal string with at least two places: 1234.50, 0.00012345."""
    if amount is None:
        return None
    cents = amount.quantize(Decimal("0.01"))
    return str(cents) if cents == amount else str(amount.normalize())


def as_utc(value: datetime) -> datetime:
    """Return `value` in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_datetime(text: str, what: str = "time") -> datetime:
    """Parse ISO-8601 with an offset (or Z) into an aware UTC datetime."""
    if not isinstance(text, str):
        raise ValueError_(f"{what} must be an ISO-8601 string")
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError_(f"{what} is not ISO-8601: {text!r}") from None
    if value.tzinfo is None:
        raise ValueError_(f"{what} has no UTC offset: {text!r}")
    return value.astimezone(UTC)


@overload
def iso(value: datetime) -> str: ...


@overload
def iso(value: None) -> None: ...


@overload
def iso(value: datetime | None) -> str | None: ...


def iso(value: datetime | None) -> str | None:
    """Format an aware datetime as ISO-8601 UTC with a Z."""
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse `30s`, `15m`, `48h`, `7d` or `2w`."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError_(f"not a duration (like 30s, 15m, 48h, 7d): {text!r}")
    return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])


class Clock:
    """The current time; tests and `fxcrm timers fire --now` replace it."""

    def __init__(self) -> None:
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        return self._frozen or datetime.now(UTC)

    def freeze(self, when: datetime | None) -> None:
        self._frozen = None if when is None else as_utc(when)


clock = Clock()


def utcnow() -> datetime:
    """Return the current time from the process clock."""
    return clock.now()
