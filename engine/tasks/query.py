"""Inbox queries: filters, sorts, keyset pagination and queue counts.

Open tasks are a small share of all tasks, so every query on them carries the
literal predicate of the partial indexes (`OPEN_SQL`): SQLite and PostgreSQL only
use a partial index when the query repeats its predicate, and bound parameters
would hide it from both.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, case, false, func, literal, select, text, tuple_, union_all
from sqlalchemy.orm import Session

from engine.tasks import counters
from engine.tasks.models import OPEN_STATUSES, PRIORITIES, STATUSES, Task, TaskCount, TaskDueCount, _OPEN_SQL
from engine.values import as_utc, iso, parse_datetime, utcnow

OPEN_SQL = _OPEN_SQL
SORTS = ("newest", "oldest", "due", "priority")
DUE = ("overdue", "today", "week", "none")
ANY_OPEN = "open_any"
UNASSIGNED = "none"


class QueryError(ValueError):
    """An inbox filter or cursor is malformed (the message names it)."""


@dataclass(frozen=True)
class Filters:
    """What an inbox list shows; `queues` limits it to the queues the viewer may see."""

    queues: tuple[str, ...] | None = None
    queue: str | None = None
    status: str = ANY_OPEN
    priority: str | None = None
    rule: str | None = None
    client: str | None = None
    assignee: str | None = None
    due: str | None = None
    sort: str = "newest"
    now: datetime = field(default_factory=utcnow)

    def check(self) -> "Filters":
        """Return self, or raise QueryError naming the bad filter."""
        _one_of("status", self.status, STATUSES + (ANY_OPEN, "any"))
        _one_of("sort", self.sort, SORTS)
        _one_of("due", self.due, DUE)
        _one_of("priority", self.priority, tuple(PRIORITIES))
        return self

    def public(self) -> dict:
        """Return the filters a user chose (for links and saved views)."""
        keys = ("queue", "status", "priority", "rule", "client", "assignee", "due", "sort")
        return {k: getattr(self, k) for k in keys if getattr(self, k)}


def _one_of(name: str, value, allowed) -> None:
    if value is not None and value not in allowed:
        raise QueryError(f"{name}: unknown value {value!r}; use one of {', '.join(allowed)}")


def _only_open(f: Filters) -> bool:
    return f.status == ANY_OPEN or f.status in OPEN_STATUSES


def _where(f: Filters) -> list:
    clauses = []
    if _only_open(f):
        clauses.append(text(OPEN_SQL))
    if f.status not in (ANY_OPEN, "any"):
        clauses.append(Task.status == f.status)
    if f.queues is not None:
        clauses.append(Task.queue.in_(f.queues) if f.queues else false())
    for column, value in ((Task.queue, f.queue), (Task.rule_id, f.rule), (Task.client_ref, f.client)):
        if value:
            clauses.append(column == value)
    if f.priority:  # by rank: the open-task indexes hold (queue, priority_rank, id)
        clauses.append(Task.priority_rank == PRIORITIES[f.priority])
    if f.assignee == UNASSIGNED:
        clauses.append(Task.assignee.is_(None))
    elif f.assignee:
        clauses.append(Task.assignee == f.assignee)
    clauses.extend(_due_clauses(f))
    return clauses


def _due_clauses(f: Filters) -> list:
    if f.due == "none":
        return [Task.due_at.is_(None)]
    if f.due == "overdue":
        return [Task.due_at < f.now]
    if f.due in ("today", "week"):
        start = as_utc(f.now).replace(hour=0, minute=0, second=0, microsecond=0)
        return [Task.due_at < start + timedelta(days=1 if f.due == "today" else 7)]
    return []


# sort -> (columns, directions); the last column is always id, so keys are unique.
_ORDER = {
    "newest": ((Task.id,), (-1,)),
    "oldest": ((Task.id,), (1,)),
    "due": ((Task.due_at, Task.id), (1, 1)),
    "priority": ((Task.priority_rank, Task.id), (-1, -1)),
}


def encode_cursor(task: Task, sort: str) -> str:
    """Return an opaque cursor that resumes a list after `task`."""
    key = (
        [iso(task.due_at) if sort == "due" else task.priority_rank, task.id]
        if sort in ("due", "priority")
        else [task.id]
    )
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _row_number(value) -> bool:
    """Whether a cursor part is a whole number a BIGINT column can hold (not a bool)."""
    return type(value) is int and 0 <= value < 2**63


def _decode(cursor: str, sort: str) -> list:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, list) or len(key) != len(_ORDER[sort][0]) or not _row_number(key[-1]):
            raise ValueError
        if sort == "due" and key[0] is not None:
            key[0] = parse_datetime(key[0])
        if sort == "priority" and not (type(key[0]) is int and abs(key[0]) < 100):
            raise ValueError
        return key
    except Exception:
        raise QueryError(f"after: not a cursor of a list sorted by {sort}") from None


def _after(sort: str, key: list):
    # Every sort runs one way over all its columns, so a row-value comparison
    # (which both databases turn into an index range) resumes after the cursor.
    columns, dirs = _ORDER[sort]
    if sort == "due" and key[0] is None:
        return and_(Task.due_at.is_(None), Task.id > key[1])
    row, after = tuple_(*columns), tuple_(*(literal(v, c.type) for c, v in zip(columns, key)))
    return row > after if dirs[0] > 0 else row < after


def _ordered(stmt, sort: str):
    columns, dirs = _ORDER[sort]
    return stmt.order_by(*(c.asc() if d > 0 else c.desc() for c, d in zip(columns, dirs)))


def list_page(
    session: Session, filters: Filters, *, limit: int = 50, after: str | None = None
) -> tuple[list[Task], str | None]:
    """Return one page of tasks and the cursor of the next page (None at the end)."""
    f = filters.check()
    key = _decode(after, f.sort) if after else None
    if f.sort == "due":
        rows = _due_page(session, _where(f), limit + 1, key)
    else:
        where = _where(f) + ([_after(f.sort, key)] if key else [])
        rows = list(session.scalars(_ordered(select(Task).where(*where), f.sort).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1], f.sort) if more and rows else None


def _due_page(session: Session, where: list, limit: int, key: list | None) -> list[Task]:
    # Dated tasks first (by due time), then undated ones by id: two index-ordered scans.
    dated: list[Task] = []
    if key is None or key[0] is not None:
        resume = [_after("due", key)] if key else []
        stmt = select(Task).where(*where, *resume, Task.due_at.is_not(None))
        dated = list(session.scalars(_ordered(stmt, "due").limit(limit)))
        if len(dated) >= limit:
            return dated
    resume = [Task.id > key[1]] if key and key[0] is None else []
    undated = select(Task).where(*where, *resume, Task.due_at.is_(None)).order_by(Task.id)
    return dated + list(session.scalars(undated.limit(limit - len(dated))))


def counts(session: Session, queues: tuple[str, ...], *, user: str | None = None, now: datetime | None = None) -> dict:
    """Return open-task counts per queue, plus mine, unassigned and overdue over `queues`.

    Read from the counters (engine.tasks.counters), not by counting tasks: the only
    tasks counted are the open ones of `queues` due earlier in the current hour, the one
    hour bucket only partly past `now`.
    """
    now = now or utcnow()
    if not queues:
        return {"queues": {}, "overdue_by_queue": {}, "mine": 0, "unassigned": 0, "overdue": 0}
    queues, hour = tuple(queues), counters.due_hour(now)
    c = _Counts()
    for part, queue, n, free in session.execute(_counts_stmt(queues, user, hour, now)):
        c.add_row(part, queue, int(n), int(free))
    c.add_pending(counters.pending(session), queues, user, hour)
    return {
        "queues": {q: c.by_queue[q] for q in queues},
        "overdue_by_queue": {q: c.overdue[q] for q in queues},
        "mine": c.mine,
        "unassigned": c.unassigned,
        "overdue": sum(c.overdue[q] for q in queues),
    }


def _counts_stmt(queues: tuple[str, ...], user: str | None, hour: int, now: datetime):
    # One statement (one round trip); each part reads a small index range.
    c, d = TaskCount, TaskDueCount
    parts = [
        select(literal("queue"), c.queue, func.sum(c.n), func.sum(case((c.assignee == "", c.n), else_=0)))
        .where(c.queue.in_(queues))
        .group_by(c.queue),
        select(literal("due"), d.queue, func.sum(d.n), literal(0))
        .where(d.queue.in_(queues), d.due_hour < hour)
        .group_by(d.queue),
        # The current hour is only partly past: count its tasks.
        select(literal("due"), Task.queue, func.count(), literal(0))
        .where(text(OPEN_SQL), Task.queue.in_(queues), Task.due_at >= counters.hour_start(hour), Task.due_at < now)
        .group_by(Task.queue),
    ]
    if user:
        parts.append(
            select(literal("mine"), literal(""), func.coalesce(func.sum(c.n), 0), literal(0)).where(c.assignee == user)
        )
    return union_all(*parts)


@dataclass
class _Counts:
    by_queue: Counter = field(default_factory=Counter)
    overdue: Counter = field(default_factory=Counter)
    unassigned: int = 0
    mine: int = 0

    def add_row(self, part: str, queue: str, n: int, free: int) -> None:
        if part == "queue":
            self.by_queue[queue] += n
            self.unassigned += free
        elif part == "due":
            self.overdue[queue] += n
        else:
            self.mine += n

    def add_pending(self, extra: counters.Deltas, queues: tuple[str, ...], user: str | None, hour: int) -> None:
        """Add the session's own uncommitted changes (not in the counters until commit)."""
        for (queue, who), d in extra.by_assignee.items():
            if queue in queues:
                self.add_row("queue", queue, d, d if who == "" else 0)
            if user and who == user:
                self.add_row("mine", "", d, 0)
        for (queue, bucket), d in extra.by_due.items():
            if queue in queues and bucket < hour:
                self.add_row("due", queue, d, 0)


def with_changes(filters: Filters, **changes) -> Filters:
    """Return a copy of `filters` with some fields changed."""
    return replace(filters, **changes)
