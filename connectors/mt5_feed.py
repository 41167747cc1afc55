"""How MT5 deals reach fxcrm: a poll cursor and a parser for exported deal files."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from connectors.errors import MalformedPayload
from connectors.mt5 import Deal, parse_deal

# Deal Time has one-second resolution and a deal may be written late, so each poll
# reaches back this far and the cursor drops what was already seen.
OVERLAP_SECONDS = 60


@dataclass(frozen=True, order=True)
class Cursor:
    """The last deal handed on: (TimeMsc, Deal ticket), compared in that order."""

    time_msc: int = 0
    deal: int = 0

    def __str__(self) -> str:
        return f"{self.time_msc}:{self.deal}"

    @classmethod
    def parse(cls, text: str) -> "Cursor":
        """Read a cursor saved with str()."""
        time_msc, sep, deal = text.partition(":")
        if not sep or not time_msc.isdigit() or not deal.isdigit():
            raise MalformedPayload(f"not an MT5 cursor (TIME_MSC:DEAL): {text[:40]!r}")
        return cls(int(time_msc), int(deal))


def deals_after(cursor: Cursor, deals: Iterable[Deal]) -> list[Deal]:
    """Return the deals newer than `cursor`, oldest first, each once."""
    unique = {d.deal: d for d in deals if d.key > (cursor.time_msc, cursor.deal)}
    return sorted(unique.values(), key=lambda d: d.key)


def advance(cursor: Cursor, deals: Iterable[Deal]) -> Cursor:
    """Return the cursor after `deals` have been handed on."""
    keys = [d.key for d in deals]
    return max([cursor, *(Cursor(*k) for k in keys)])


def poll_range(cursor: Cursor, server_now: int, overlap: int = OVERLAP_SECONDS) -> tuple[int, int]:
    """Return the `from`/`to` seconds (server time) for /api/deal/get_page."""
    start = max(0, cursor.time_msc // 1000 - overlap)
    return start, max(start, server_now)


@dataclass
class Export:
    """The deals read from an export file, and the records that could not be read."""

    deals: list[Deal] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_export(data: bytes) -> Export:
    """Read deals from a JSON array, a Web API answer, or JSON lines."""
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    try:
        value = _load(text)
    except (ValueError, RecursionError):
        return _lines(text)  # not one JSON document: JSON lines, read one by one
    return _records(_answer(value) if isinstance(value, dict) else value, "item")


def _load(text: str) -> object:
    # Decimal keeps Profit exact; float would turn 0.1 into 0.1000000000000000055...
    return json.loads(text, parse_float=Decimal)


def _answer(value: object) -> list:
    # A Web API response wraps the deals: {"retcode": "0 Done", "answer": [...]}.
    if isinstance(value, dict) and "answer" in value:
        retcode = str(value.get("retcode", ""))
        if not retcode.startswith("0 "):
            raise MalformedPayload(f"retcode: the Web API answered {retcode[:40]!r}")
        answer = value["answer"]
        return answer if isinstance(answer, list) else [answer]
    return [value]


def _records(value: object, label: str) -> Export:
    if not isinstance(value, list):
        raise MalformedPayload("expected a JSON array of deals")
    export = Export()
    for number, record in enumerate(value, 1):
        try:
            export.deals.append(parse_deal(record, f"{label} {number}"))
        except MalformedPayload as exc:
            export.errors.append(exc.reason)
    return export


def _lines(text: str) -> Export:
    export = Export()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = _load(line)
            export.deals.append(parse_deal(record, f"line {number}"))
        except (ValueError, RecursionError):
            export.errors.append(f"line {number}: not JSON")
        except MalformedPayload as exc:
            export.errors.append(exc.reason)
    return export
