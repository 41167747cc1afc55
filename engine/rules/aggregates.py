"""Aggregates over a client's events (`sum(trade.closed.volume_lots within 48h)`): one SQL query.

The window is anchored on the moment the rule is evaluated (the triggering event's
`occurred_at`, or a delay's due time), never on the wall clock, and includes both ends:
an event exactly D before counts, and so does the triggering event itself. The query
reads the client's events of one type by `ix_events_client_time` (client_ref,
occurred_at), so its cost follows the events in the window, not the client's history.

Numbers stay exact on both databases: fields are read as integer units of 10^-8
(PostgreSQL: `numeric`; SQLite: the `decimal_units` function of engine.db) and summed
with `exact_sum` on SQLite, which cannot overflow.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import Numeric, Select, and_, cast, func, not_, or_, select
from sqlalchemy.orm import Session

from engine.events.models import Event
from engine.rules import ir
from engine.values import Money

_SCALE = 100_000_000
_OPS = {"==": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}


def compute(session: Session, client_ref: str, spec: ir.Aggregate, at: datetime):
    """Return the aggregate at `at`: an int (count), a Decimal or Money, or None (no events)."""
    stmt = statement(session, client_ref, spec, at)
    if spec.fn == "count":
        return session.scalar(stmt)
    result, how_many = session.execute(stmt).one()
    return _answer(spec, result, how_many)


def statement(session: Session, client_ref: str, spec: ir.Aggregate, at: datetime) -> Select:
    """Return the one SQL query that computes the aggregate (count: one column; else two)."""
    where = [Event.client_ref == client_ref, Event.type == spec.event_type, Event.occurred_at <= at]
    if spec.window is not None:
        where.append(Event.occurred_at >= at - timedelta(seconds=spec.window))
    where += [_filter(session, f) for f in spec.filters]
    if spec.currency:
        where.append(Event.data["currency"].as_string() == spec.currency)
    if spec.fn == "count":
        return select(func.count()).select_from(Event).where(*where)
    units = _units_of(session, spec.field)
    total = (func.exact_sum if _sqlite(session) else func.sum)(units)
    first = {"sum": total, "avg": total, "min": func.min(units), "max": func.max(units)}[spec.fn]
    return select(first, func.count(units)).where(*where)


def _answer(spec: ir.Aggregate, result, how_many: int):
    if not how_many:
        result = 0 if spec.fn == "sum" else None  # a sum of nothing is 0; a min of nothing is missing
        if result is None:
            return None
    amount = Decimal(int(Decimal(result))).scaleb(-8)
    if spec.fn == "avg":  # rounded to the 8 decimal places every value is compared at
        amount = (amount / how_many).quantize(Decimal("1e-8"), rounding=ROUND_HALF_EVEN)
    amount = amount.normalize()
    amount = amount.quantize(Decimal(1)) if amount.as_tuple().exponent > 0 else amount  # 1E+3 -> 1000
    return Money(amount, spec.currency) if spec.currency else amount


def _sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _units_of(session: Session, field: str):
    """Return the SQL expression of a decimal field of `data` in integer units of 10^-8."""
    if _sqlite(session):
        return func.decimal_units(func.json_extract(Event.data, f"$.{field}"))
    return cast(Event.data[field].as_string(), Numeric) * _SCALE


def _filter(session: Session, flt: ir.Filter):
    column = _units_of(session, flt.field) if flt.kind == "number" else Event.data[flt.field].as_string()
    if flt.op in ("in", "not in"):
        inside = column.in_(list(flt.operand))  # type: ignore[arg-type]
        return inside if flt.op == "in" else or_(column.is_(None), not_(inside))
    test = getattr(column, _OPS[flt.op])(flt.operand)
    if flt.currency:
        test = and_(Event.data["currency"].as_string() == flt.currency, test)
    if flt.op == "!=":  # "is not": true for an event without the field, as in conditions
        return or_(column.is_(None), test)
    return test
