"""Read the IB YAML files and turn their values into exact types, with file:line errors.

The YAML is read by the rules API's one loader (`read_document`: every key knows its
line); a problem is a `Problem` and IbConfigError is a PolicyError listing them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from engine.rules import api as rules_api
from engine.rules.api import PolicyError
from engine.rules.problems import Problem
from engine.values import Money, ValueError_, parse_decimal, parse_duration

_MONEY = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s+([A-Z]{3})\s*$")


class IbConfigError(PolicyError):
    """The IB configuration is invalid; `problems` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        super().__init__(sorted(problems, key=lambda p: (p.file, p.line, p.where)))


class Doc:
    """One parsed YAML file: its data (mappings and lists that know their lines) and the
    problems found in it."""

    def __init__(self, path: Path | str, text: str):
        self.file = str(path)
        try:
            data = rules_api.read_document(self.file, text)
        except PolicyError as exc:
            raise IbConfigError(exc.problems) from None
        self.data = {} if data is None else data
        self.problems: list[Problem] = []

    def line(self, *path) -> int:
        """Return the line of the key path `path` (the deepest part found)."""
        return rules_api.line_at(self.data, path)

    def error(self, path: tuple, message: str) -> None:
        """Record a problem at key path `path`."""
        where = ".".join(str(p) for p in path) or "-"
        self.problems.append(Problem(self.file, self.line(*path), where, message))


def read(path: Path) -> Doc | None:
    """Read one file, or None when it does not exist."""
    return Doc(path, path.read_text(encoding="utf-8")) if path.exists() else None


def decimal(value, what: str) -> Decimal:
    """Read an exact non-negative decimal (a YAML number or a quoted one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError_(f"{what} must be a number")
    # A YAML float is read back from its shortest text, which is what was written.
    result = parse_decimal(str(value), what)
    if result < 0:
        raise ValueError_(f"{what} must not be negative")
    return result


def percent(value, what: str) -> Decimal:
    """Read a percentage from 0 to 100."""
    result = decimal(value, what)
    if result > 100:
        raise ValueError_(f"{what} is a percentage and must be at most 100")
    return result


def money(value, what: str) -> Money:
    """Read money written like `200 USD`."""
    match = _MONEY.match(str(value))
    if not match:
        raise ValueError_(f"{what} must be money like 200 USD, not {value!r}")
    return Money(decimal(match[1], what), match[2])


def duration(value, what: str) -> timedelta:
    """Read a duration like 60s, 30d."""
    try:
        return parse_duration(str(value))
    except ValueError_ as exc:
        raise ValueError_(f"{what}: {exc}") from None


def check_keys(doc: Doc, path: tuple, data, allowed, required=()) -> bool:
    """Report unknown and missing keys of the mapping at `path`; return whether it is one."""
    if not isinstance(data, dict):
        doc.error(path, "must be a mapping of keys to values")
        return False
    for key in data:
        if key not in allowed:
            doc.error(path + (key,), f"unknown key {key!r} (allowed: {', '.join(allowed)})")
    for key in required:
        if key not in data:
            doc.error(path, f"missing {key}")
    return True
