"""Run a report on the test database and return one section's rows."""

from __future__ import annotations

from engine.db import unit_of_work
from engine.reports.base import Scope, pick, run


def section_rows(database, name: str, section: str, *, scope: Scope = Scope(), **filters) -> list:
    """Return the rows of `section` of report `name` (filters as strings)."""
    with unit_of_work(database) as s:
        _report, _filters, sections = run(s, name, filters, scope=scope)
        return list(pick(sections, section).rows)


def pick_cols(rows: list[dict], *keys: str) -> list[tuple]:
    """Return the rows as tuples of `keys`."""
    return [tuple(row[k] for k in keys) for row in rows]
