"""Operations report (`tasks`): created, done, dismissed, backlog, SLA breaches, time to
resolution per queue and rule, and how often each rule's tasks are dismissed.

Source: the tasks table. Created counts by created_at in the period; done and dismissed
by closed_at; SLA breaches by due_at in the period (closed after it, or still open past
it now); the backlog is what is open now among tasks created before `until`.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import and_, func, literal_column, or_, select

from engine.reports.base import (
    SINCE,
    UNTIL,
    Column,
    Filter,
    Report,
    Section,
    epoch,
    hours,
    in_range,
    median,
    pct,
    register,
    stream,
)
from engine.tasks.models import OPEN_STATUSES, Task
from engine.values import utcnow

T = Task
MANUAL = "(manual)"
RULE = func.coalesce(T.rule_id, literal_column(f"'{MANUAL}'"))
FIGURES = ("created", "done", "dismissed", "backlog", "sla_breaches")


def _where(filters: dict, scope) -> list:
    conds = []
    if scope.queues is not None:
        conds.append(T.queue.in_(sorted(scope.queues)))
    if filters.get("queue"):
        conds.append(T.queue == filters["queue"])
    if filters.get("rule"):
        conds.append(RULE == filters["rule"])
    return conds


def _count(session, groups: dict, key: str, *where) -> None:
    stmt = select(T.queue, RULE, func.count()).where(*where).group_by(T.queue, RULE)
    for queue, rule, n in session.execute(stmt):
        groups[(queue, rule)][key] += n


def _tallies(session, filters: dict, scope) -> tuple[dict, dict]:
    now, base = utcnow(), _where(filters, scope)
    groups: dict = defaultdict(lambda: dict.fromkeys(FIGURES, 0))
    _count(session, groups, "created", *base, *in_range(T.created_at, filters))
    closed = in_range(T.closed_at, filters)
    _count(session, groups, "done", *base, T.status == "done", *closed)
    _count(session, groups, "dismissed", *base, T.status == "dismissed", *closed)
    until = [T.created_at < filters["until"]] if filters.get("until") else []
    _count(session, groups, "backlog", *base, T.status.in_(OPEN_STATUSES), *until)
    late = or_(and_(T.closed_at.is_not(None), T.closed_at > T.due_at), and_(T.closed_at.is_(None), T.due_at < now))
    _count(session, groups, "sla_breaches", *base, T.due_at.is_not(None), late, *in_range(T.due_at, filters))
    waits: dict = defaultdict(list)
    took = (epoch(T.closed_at) - epoch(T.created_at)).label("took")
    stmt = select(T.queue, RULE.label("rule"), took).where(*base, T.status == "done", *closed)
    for row in stream(session, stmt):
        waits[(row.queue, row.rule)].append(max(0, row.took))
    return groups, waits


def _row(figures: dict, waits: list) -> dict:
    return {
        **figures,
        "median_resolution_hours": hours(median(waits)),
        "dismissed_pct": pct(figures["dismissed"], figures["done"] + figures["dismissed"]),
    }


def _rollup(groups: dict, waits: dict, index: int) -> dict:
    sums: dict = defaultdict(lambda: dict.fromkeys(FIGURES, 0))
    merged: dict = defaultdict(list)
    for key, figures in groups.items():
        for name, value in figures.items():
            sums[key[index]][name] += value
        merged[key[index]].extend(waits.get(key, ()))
    return {name: _row(figures, merged[name]) for name, figures in sums.items()}


def build(session, *, filters: dict, scope) -> list[Section]:
    """Build the operations report: per queue and rule, per queue, and per rule."""
    groups, waits = _tallies(session, filters, scope)
    figure_cols = [
        Column("created", "Created", "int"),
        Column("done", "Done", "int"),
        Column("dismissed", "Dismissed", "int"),
        Column("backlog", "Open now", "int"),
        Column("sla_breaches", "SLA breaches", "int"),
        Column("median_resolution_hours", "Median hours to done", "hours"),
        Column("dismissed_pct", "Dismissed % of closed", "pct"),
    ]
    by_rule = _rollup(groups, waits, 1)
    noisy = sorted(by_rule.items(), key=lambda kv: (-(kv[1]["dismissed_pct"] or 0), kv[0]))
    return [
        Section(
            "queue_rule",
            "Per queue and rule",
            [Column("queue", "Queue"), Column("rule", "Rule")] + figure_cols,
            [{"queue": q, "rule": r, **_row(f, waits.get((q, r), []))} for (q, r), f in sorted(groups.items())],
        ),
        Section(
            "queues",
            "Per queue",
            [Column("queue", "Queue")] + figure_cols,
            [{"queue": q, **row} for q, row in sorted(_rollup(groups, waits, 0).items())],
            chart={"label": "queue", "values": ["created", "done", "dismissed", "backlog"]},
        ),
        Section(
            "rules",
            "Per rule, noisiest first (most often dismissed)",
            [Column("rule", "Rule")] + figure_cols,
            [{"rule": r, **row} for r, row in noisy],
            chart={"label": "rule", "values": ["dismissed_pct"]},
        ),
    ]


register(
    Report(
        name="tasks",
        title="Operations",
        aliases=("operations",),
        description="Tasks created and done by queue and rule, backlog, SLA breaches, median "
        "time to resolution, and how often each rule's tasks are dismissed.",
        filters=(SINCE, UNTIL, Filter("queue"), Filter("rule", help=f"rule id, or {MANUAL}")),
        sections=("queue_rule", "queues", "rules"),
        build=build,
    )
)
