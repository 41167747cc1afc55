"""Scheduled rules: once a day, every client a rule may concern is looked at; it acts on those it holds for.

`schedule: daily at 06:00 Europe/London` (UTC when no zone is named). The rules domain's
sweep (`run_due`, run by the ticker or the sweep job each round) finds the scheduled rules
whose latest slot (today's 06:00, or yesterday's before 06:00) has not run under the active
version and runs it: the candidate clients are selected in SQL by the conditions on
columns of the clients table (`client.status in [...]`, `client.kyc.status == approved`:
facts registered with `column=`), then `if:` is decided on each candidate's facts at the
slot, in batches under the clients' row locks, and the actions run.

Idempotent: an action is keyed by rule, client and the slot's day, so a sweep run twice,
on two workers, or again after a new version is activated the same day, acts once per
client and day. A slot done is recorded as a fired `rule_timers` row of kind `schedule`
(one indexed lookup per scheduled rule and round). Nothing runs per event.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from engine.clients.models import Client
from engine.db import Database, unit_of_work
from engine.facts import load_domain_facts
from engine.rules import activation, ir, py_evaluator
from engine.rules.actions_run import Run, execute
from engine.rules.evaluation import FACT_OVERRIDES, FactLoader, explanation
from engine.rules.models import SCHEDULE, TIMER_FIRED, RuleTimer
from engine.values import as_utc, iso, utcnow

BATCH = 100  # clients per transaction


def latest_slot(schedule: ir.Schedule, now: datetime) -> datetime:
    """Return the latest moment at or before `now` the schedule names (aware UTC)."""
    zone = ZoneInfo(schedule.zone)
    hour, minute = map(int, schedule.at.split(":"))
    day = now.astimezone(zone).date()
    slot = datetime.combine(day, time(hour, minute), tzinfo=zone)
    if slot > now:
        slot = datetime.combine(day - timedelta(days=1), time(hour, minute), tzinfo=zone)
    return slot.astimezone(timezone.utc)


def _marker_key(version: str, rule: ir.Rule, slot: datetime) -> str:
    return f"schedule:{rule.id}:{iso(slot)}:{version}"[:300]


def run_due(database: Database, now: datetime | None = None) -> int:
    """The rules domain's sweep: run every scheduled rule whose latest slot has not run; return how many clients it acted for."""
    now = as_utc(now) if now is not None else utcnow()
    with unit_of_work(database) as session:
        loaded = activation.current(session)
        if loaded is None:
            return 0
        due = []
        for rule in loaded.ruleset.rules:
            if rule.schedule is None:
                continue
            slot = latest_slot(rule.schedule, now)
            key = _marker_key(loaded.ruleset.version, rule, slot)
            if session.scalar(select(RuleTimer.id).where(RuleTimer.key == key)) is None:
                due.append((rule, slot, key))
    return sum(_run_slot(database, loaded.ruleset, rule, slot, key) for rule, slot, key in due)


def _run_slot(database: Database, ruleset: ir.Ruleset, rule: ir.Rule, slot: datetime, key: str) -> int:
    from engine.processing.ingest import schedule_touched

    with unit_of_work(database) as session:
        refs = list(session.scalars(candidates(rule)))
    acted = 0
    for start in range(0, len(refs), BATCH):
        with unit_of_work(database) as session:
            # The clients' row locks serialise the sweep with their event processing.
            clients = session.scalars(
                select(Client).where(Client.ref.in_(refs[start : start + BATCH])).order_by(Client.ref).with_for_update()
            )
            acted += sum(_one(session, ruleset, rule, client, slot) for client in clients)
            schedule_touched(session, database)
    with unit_of_work(database) as session:
        _mark_done(session, ruleset, rule, slot, key, f"acted for {acted} of {len(refs)} candidate clients")
    return acted


def _mark_done(session: Session, ruleset: ir.Ruleset, rule: ir.Rule, slot: datetime, key: str, outcome: str) -> None:
    at = utcnow()
    try:
        with session.begin_nested():  # another worker may have finished the same slot first
            session.add(
                RuleTimer(
                    key=key,
                    kind=SCHEDULE,
                    client_ref="*",
                    rule_id=rule.id,
                    ruleset_version=ruleset.version,
                    due_at=slot,
                    status=TIMER_FIRED,
                    created_at=at,
                    closed_at=at,
                    outcome=outcome,
                )
            )
    except IntegrityError:
        pass


def _one(session: Session, ruleset: ir.Ruleset, rule: ir.Rule, client: Client, slot: datetime) -> int:
    """Decide `if:` for one client at the slot and act; return 1 if it acted."""
    from engine.rules.runtime import read_values

    assert rule.schedule is not None
    facts = FactLoader(session, client, slot)
    values = read_values(rule.reads, None, facts)
    if not py_evaluator.holds(rule.condition, values):
        return 0
    day = slot.astimezone(ZoneInfo(rule.schedule.zone)).date().isoformat()
    why = explanation(
        ruleset,
        rule,
        [],
        values,
        facts.raw,
        schedule={"slot": iso(slot), "day": day, "every": f"daily at {rule.schedule.at} {rule.schedule.zone}"},
    )
    done = execute(Run(session, ruleset, rule, client, [], slot, facts, f"schedule:{day}:{client.ref}", why))
    return 1 if done else 0


def candidates(rule: ir.Rule) -> Select[tuple[str]]:
    """Return the SELECT of the refs of the clients `rule` may hold for, narrowed in SQL where it can be."""
    return select(Client.ref).where(*prefilter(rule.condition)).order_by(Client.ref)


def prefilter(cond: ir.Cond) -> list[ColumnElement[bool]]:
    """Return SQL tests every client the condition holds for passes (from its top-level `and`)."""
    if isinstance(cond, ir.All):
        return [test for item in cond.items for test in prefilter(item)]
    test = _column_test(cond)
    return [] if test is None else [test]


def _column(value: ir.Value) -> InstrumentedAttribute[object] | None:
    if value.source != "client" or value.derive or value.params or value.key in FACT_OVERRIDES.get():
        return None  # rule tests give facts as values: the row does not hold them
    spec = load_domain_facts().get(value.path)
    if spec is None or not spec.column:
        return None
    column: InstrumentedAttribute[object] = getattr(Client, spec.column)
    return column


def _column_test(item: ir.Cond) -> ColumnElement[bool] | None:
    """Return the SQL form of `client.<column fact> ==, !=, in, not in` (missing: as the evaluators)."""
    negated = isinstance(item, ir.Not)
    inner = item.item if isinstance(item, ir.Not) else item
    if isinstance(inner, ir.Compare) and inner.op in ("==", "!=") and inner.value.kind in ("text", "bool"):
        column = _column(inner.value)
        if column is None:
            return None
        equal = (inner.op == "==") != negated
        return column == inner.operand if equal else or_(column.is_(None), column != inner.operand)
    if isinstance(inner, ir.OneOf) and inner.value.kind == "text":
        column = _column(inner.value)
        if column is None:
            return None
        inside = column.in_(list(inner.options))
        return or_(column.is_(None), ~inside) if negated else inside
    return None
