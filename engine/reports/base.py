"""Report building blocks: columns, sections, filters, the registry, medians and periods."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Callable, Iterable, Iterator, Sequence

from sqlalchemy import BigInteger
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from engine.values import UTC, ValueError_, parse_datetime

CENT = Decimal("0.01")


class ReportError(ValueError):
    """Bad input to a report: an unknown report, section or filter, or a bad filter value."""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text, int, money, decimal, pct, hours, time


@dataclass
class Section:
    """One table of a report; `rows` is a list or a generator of dicts keyed by column."""

    name: str
    title: str
    columns: list[Column]
    rows: Iterable[dict]
    chart: dict | None = None  # {"label": column, "values": [columns]}, bar chart
    note: str = ""

    def keys(self) -> list[str]:
        return [c.key for c in self.columns]


@dataclass(frozen=True)
class Filter:
    name: str
    kind: str = "text"  # date, choice, text, int
    choices: tuple[str, ...] = ()
    default: object = None
    help: str = ""


@dataclass(frozen=True)
class Scope:
    """What the viewer may see: None means everything."""

    ib_ids: frozenset[str] | None = None
    queues: frozenset[str] | None = None


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    description: str
    filters: tuple[Filter, ...]
    sections: tuple[str, ...]  # section names, the first is the main one
    build: Callable[..., list[Section]]
    heavy: bool = False
    aliases: tuple[str, ...] = field(default=())


SINCE = Filter("since", "date", help="from this day or time (inclusive), UTC")
UNTIL = Filter("until", "date", help="up to this day or time (exclusive), UTC")

REPORTS: dict[str, Report] = {}


def register(report: Report) -> Report:
    """Add `report` to the registry under its name and aliases."""
    for name in (report.name, *report.aliases):
        REPORTS[name] = report
    return report


def _load() -> None:
    from engine.reports import funnel, ib, operations, payments  # noqa: F401  (they register)


def get_report(name: str) -> Report:
    """Return the report called `name`, or raise ReportError naming the known ones."""
    _load()
    if name not in REPORTS:
        raise ReportError(f"report {name!r}: no such report (known: {', '.join(sorted(REPORTS))})")
    return REPORTS[name]


def names() -> list[str]:
    """Return every report name, aliases included."""
    _load()
    return sorted(REPORTS)


def _parse_time(text: str, name: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        return parse_datetime(text, name)
    except (ValueError, ValueError_):
        raise ReportError(
            f"filter {name}: not a date (YYYY-MM-DD) or an ISO-8601 time with an offset: {text!r}"
        ) from None


def parse_filters(report: Report, raw: dict[str, str | None]) -> dict:
    """Check and convert raw filter values (strings) for `report`; fill in defaults."""
    known = {f.name: f for f in report.filters}
    unknown = sorted(k for k, v in raw.items() if k not in known and v not in (None, ""))
    if unknown:
        raise ReportError(
            f"filter {unknown[0]}: not a filter of report {report.name!r} (its filters: {', '.join(known)})"
        )
    out = {}
    for name, spec in known.items():
        value = raw.get(name)
        value = value.strip() if isinstance(value, str) else value
        if value in (None, ""):
            out[name] = spec.default
        elif spec.kind == "date":
            out[name] = _parse_time(value, name)
        elif spec.kind == "choice":
            if value not in spec.choices:
                raise ReportError(f"filter {name}: {value!r} is not one of {', '.join(spec.choices)}")
            out[name] = value
        elif spec.kind == "int":
            if not value.isdigit() or int(value) > 100000:
                raise ReportError(f"filter {name}: not a whole number of at most 100000: {value!r}")
            out[name] = int(value)
        else:
            out[name] = value
    if out.get("since") and out.get("until") and out["since"] >= out["until"]:
        raise ReportError("filter until: must be after since")
    return out


def run(
    session, name: str, raw_filters: dict | None = None, *, scope: Scope = Scope()
) -> tuple[Report, dict, list[Section]]:
    """Build report `name` with the given raw filters; return (report, filters, sections)."""
    report = get_report(name)
    filters = parse_filters(report, raw_filters or {})
    return report, filters, report.build(session, filters=filters, scope=scope)


def pick(sections: list[Section], name: str | None) -> Section:
    """Return the section called `name` (default: the first), or raise ReportError."""
    if not name:
        return sections[0]
    for section in sections:
        if section.name == name:
            return section
    raise ReportError(f"section {name!r}: no such section (known: {', '.join(s.name for s in sections)})")


def median(values: Sequence) -> Decimal | None:
    """Return the median of `values` (mean of the middle two for an even count), None if empty."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return None
    mid = n // 2
    if n % 2:
        return Decimal(ordered[mid])
    return (Decimal(ordered[mid - 1]) + Decimal(ordered[mid])) / 2


def seconds(delta: timedelta) -> int:
    """Return whole seconds of `delta` (never negative: out-of-order stages count as 0)."""
    return max(0, delta.days * 86400 + delta.seconds)


def hours(secs: Decimal | int | None) -> Decimal | None:
    """Convert seconds to hours, rounded to 0.01."""
    if secs is None:
        return None
    return (Decimal(secs) / 3600).quantize(CENT, ROUND_HALF_UP)


def pct(part: int, whole: int) -> Decimal | None:
    """Return part/whole as a percentage rounded to 0.01 (None when whole is 0)."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(CENT, ROUND_HALF_UP)


def period_key(when: datetime, period: str) -> str:
    """Return the period a UTC time falls in: 2026-11, 2026-W45, 2026-11-03 or all."""
    if period == "month":
        return when.strftime("%Y-%m")
    if period == "week":
        year, week, _ = when.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "day":
        return when.strftime("%Y-%m-%d")
    return "all"


@lru_cache(maxsize=4096)
def _day_period(day: int, period: str) -> str:
    return period_key(datetime.fromtimestamp(day * 86400, UTC), period)


def epoch_period(epoch_seconds: int, period: str) -> str:
    """Return the period of a time given as epoch seconds (cached per day: cheap per row)."""
    return _day_period(epoch_seconds // 86400, period)


def from_epoch(epoch_seconds: int | None) -> datetime | None:
    """Return epoch seconds as an aware UTC datetime."""
    return None if epoch_seconds is None else datetime.fromtimestamp(epoch_seconds, UTC)


class epoch(FunctionElement):
    """Whole seconds since 1970 of a UTC time column, computed by the database.

    Reading plain integers spares parsing a datetime per row per column, which is most
    of a large report's time on SQLite. Both backends floor fractions of a second.
    """

    type = BigInteger()
    inherit_cache = True
    name = "epoch"


@compiles(epoch, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch, "postgresql")
def _epoch_postgresql(element, compiler, **kw):
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


def in_range(column, filters: dict) -> list:
    """Return SQL conditions keeping `column` within the since/until filters."""
    conds = []
    if filters.get("since"):
        conds.append(column >= filters["since"])
    if filters.get("until"):
        conds.append(column < filters["until"])
    return conds


def stream(session, stmt, size: int = 5000) -> Iterator:
    """Execute `stmt` and yield its rows in batches, never holding the whole result.

    Runs on the session's connection (Core), skipping the ORM's per-row work.
    """
    yield from session.connection().execute(stmt.execution_options(yield_per=size))
