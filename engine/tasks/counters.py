"""Open-task counters: what the inbox's queue counts read instead of counting tasks.

`task_counts` holds open tasks per (queue, assignee or ''), `task_due_counts` open
tasks per (queue, hour of due_at). Every open task counts once in each (an undated
one only in the first); a closed task in neither.

Every session keeps them right by itself: before a task's queue, status, assignee or
due time first changes in a transaction, its counted row is read (and locked, on
PostgreSQL), and at commit the tasks it touched are read back and the difference is
added with one `INSERT .. ON CONFLICT DO UPDATE SET n = n + d` per table, rows in key
order. Reading the rows from the database rather than from the objects keeps the
counters exact when another transaction changed a task this one loaded earlier, and
applying at commit keeps the counter rows locked only for the instant before commit,
always in the same order (no deadlock between two transactions). A savepoint that
rolls back forgets what it touched. Code that writes tasks with Core statements adds
its own difference with `apply` in the same transaction; `rebuild` recounts from the
tasks (`fxcrm tasks recount`, and the migration that made the tables).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Iterable

from sqlalchemy import delete, event, inspect, select, text, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction

from engine.tasks.models import OPEN_STATUSES, Task, TaskCount, TaskDueCount, _OPEN_SQL
from engine.values import UTC, as_utc

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
KEY_FIELDS = ("queue", "status", "assignee", "due_at")
CHUNK = 300  # ids or rows per statement (old SQLite builds allow 999 parameters)
_INFO = "task_counters"

# What one task counts as: (queue, assignee or '', due hour or None), or None if closed.
Key = tuple[str, str, int | None]


def due_hour(at: datetime) -> int:
    """Return the hour bucket of `at`: whole hours since 1970-01-01 UTC, floored."""
    return (as_utc(at) - EPOCH) // HOUR


def hour_start(hour: int) -> datetime:
    """Return the first instant of an hour bucket."""
    return EPOCH + hour * HOUR


def key_of(queue: str, status: str, assignee: str | None, due_at: datetime | None) -> Key | None:
    """Return what a task with these values counts as (None: it is not open)."""
    if status not in OPEN_STATUSES:
        return None
    return queue, assignee or "", None if due_at is None else due_hour(due_at)


@dataclass
class Deltas:
    """Changes to the counters: (queue, assignee) -> d and (queue, due hour) -> d."""

    by_assignee: Counter = field(default_factory=Counter)
    by_due: Counter = field(default_factory=Counter)

    def add(self, key: Key | None, d: int) -> None:
        if key is None:
            return
        queue, assignee, hour = key
        self.by_assignee[(queue, assignee)] += d
        if hour is not None:
            self.by_due[(queue, hour)] += d

    def move(self, old: Key | None, new: Key | None) -> None:
        """Count a task that counted as `old` as `new` instead."""
        if old != new:
            self.add(old, -1)
            self.add(new, 1)

    def nonzero(self) -> "Deltas":
        return Deltas(
            Counter({k: d for k, d in self.by_assignee.items() if d}),
            Counter({k: d for k, d in self.by_due.items() if d}),
        )


def deltas_for_rows(rows: Iterable[dict]) -> Deltas:
    """Return what inserting these task rows (dicts of column values) adds."""
    deltas = Deltas()
    for row in rows:
        deltas.add(key_of(row["queue"], row.get("status", "open"), row.get("assignee"), row.get("due_at")), 1)
    return deltas


@lru_cache(maxsize=128)
def _upsert_sql(table: str, keys: tuple[str, str], rows: int):
    # Plain SQL that SQLite and PostgreSQL both take, cached per row count: SQLAlchemy
    # does not cache its ON CONFLICT constructs and would compile one on every commit.
    k0, k1 = keys
    values = ", ".join(f"(:a{i}, :b{i}, :n{i})" for i in range(rows))
    return text(
        f"INSERT INTO {table} ({k0}, {k1}, n) VALUES {values} "
        f"ON CONFLICT ({k0}, {k1}) DO UPDATE SET n = {table}.n + excluded.n "
        f"RETURNING {k0}, {k1}, n"
    )


def _upsert(conn: Connection, table, keys: tuple[str, str], changes: Counter) -> None:
    items = sorted(changes.items())  # key order: the order row locks are taken in
    cols = tuple_(table.c[keys[0]], table.c[keys[1]])
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        params = {}
        for i, ((a, b), d) in enumerate(chunk):
            params.update({f"a{i}": a, f"b{i}": b, f"n{i}": d})
        result = conn.execute(_upsert_sql(table.name, keys, len(chunk)), params)
        emptied = [(a, b) for a, b, n in result if n == 0]
        if emptied:  # rows at zero would pile up hour after hour
            conn.execute(delete(table).where(cols.in_(emptied), table.c.n == 0))


def apply(conn: Connection, deltas: Deltas) -> None:
    """Add `deltas` to the counter rows, in key order, inside the caller's transaction."""
    deltas = deltas.nonzero()
    _upsert(conn, TaskCount.__table__, ("queue", "assignee"), deltas.by_assignee)
    _upsert(conn, TaskDueCount.__table__, ("queue", "due_hour"), deltas.by_due)


def read_keys(conn: Connection, ids: list[int], *, lock: bool = False) -> dict[int, Key | None]:
    """Return what each of these tasks counts as now (missing ids are not returned)."""
    found: dict[int, Key | None] = {}
    for start in range(0, len(ids), CHUNK):
        stmt = (
            select(Task.id, Task.queue, Task.status, Task.assignee, Task.due_at)
            .where(Task.id.in_(ids[start : start + CHUNK]))
            .order_by(Task.id)
        )
        for row in conn.execute(stmt.with_for_update() if lock else stmt):
            found[row.id] = key_of(row.queue, row.status, row.assignee, row.due_at)
    return found


# --- the session hooks -------------------------------------------------------------


class _Tracker:
    """The tasks a session's transaction touched and what each counted as before it.

    One frame per open transaction (the root and each savepoint): a savepoint that
    rolls back drops its frame (the database forgot those changes, and on PostgreSQL
    the row locks taken in it); one that is released hands its frame to its parent.
    """

    def __init__(self) -> None:
        self.frames: dict[SessionTransaction, dict[int, Key | None]] = {}
        self.rolled_back: set[SessionTransaction] = set()

    def before(self) -> dict[int, Key | None]:
        merged: dict[int, Key | None] = {}
        for frame in self.frames.values():
            for task_id, key in frame.items():
                merged.setdefault(task_id, key)
        return merged


def _tracker(session: Session) -> _Tracker:
    return session.info.setdefault(_INFO, _Tracker())


def _innermost(session: Session) -> SessionTransaction:
    return session.get_nested_transaction() or session.get_transaction()


def _key_changed(task: Task) -> bool:
    attrs = inspect(task).attrs
    return any(attrs[name].history.has_changes() for name in KEY_FIELDS)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context, _instances) -> None:
    changed = [t for t in session.dirty if isinstance(t, Task) and _key_changed(t)]
    changed += [t for t in session.deleted if isinstance(t, Task)]
    if not changed:
        return
    tracker = _tracker(session)
    known = tracker.before()
    ids = sorted({t.id for t in changed if t.id not in known})
    if ids:
        # The row as the database has it (locked until commit), not as this session
        # loaded it: another transaction may have changed it since.
        found = read_keys(session.connection(), ids, lock=True)
        frame = tracker.frames.setdefault(_innermost(session), {})
        frame.update({task_id: found.get(task_id) for task_id in ids})


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:
    created = [t.id for t in session.new if isinstance(t, Task)]
    if created:
        frame = _tracker(session).frames.setdefault(_innermost(session), {})
        frame.update(dict.fromkeys(created))


def pending(session: Session) -> Deltas:
    """Return what this session's uncommitted task changes add to the counters."""
    session.flush()  # first: flushing is what finds the changed tasks
    tracker = session.info.get(_INFO)
    deltas = Deltas()
    if tracker is None or not tracker.frames:
        return deltas
    before = tracker.before()
    after = read_keys(session.connection(), sorted(before))
    for task_id, old in before.items():
        deltas.move(old, after.get(task_id))
    return deltas


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its changes are counted when the root commits
    deltas = pending(session)
    tracker = session.info.get(_INFO)
    if tracker is not None:
        apply(session.connection(), deltas)
        tracker.frames.clear()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    tracker = session.info.get(_INFO)
    if tracker is None or session.get_nested_transaction() is not None:
        return
    missed = tracker.before()
    if missed:  # the root committed while a savepoint was open: before_commit skipped it
        log.error(
            "task counters missed %d changed tasks (a commit with a savepoint still open); run `fxcrm tasks recount`",
            len(missed),
        )


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    tracker = session.info.get(_INFO)
    if tracker is not None:
        tracker.rolled_back.add(_innermost(session))


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    tracker = session.info.get(_INFO)
    if tracker is None:
        return
    frame = tracker.frames.pop(transaction, None)
    rolled_back = transaction in tracker.rolled_back
    tracker.rolled_back.discard(transaction)
    if transaction.parent is None:
        session.info.pop(_INFO, None)
    elif frame and not rolled_back:
        parent = tracker.frames.setdefault(transaction.parent, {})
        for task_id, key in frame.items():
            parent.setdefault(task_id, key)


# --- rebuilding --------------------------------------------------------------------


def count_open(conn: Connection) -> Deltas:
    """Return the counters as the open tasks say they should be."""
    counted = Deltas()
    stmt = select(Task.queue, Task.status, Task.assignee, Task.due_at).where(text(_OPEN_SQL))
    for row in conn.execute(stmt, execution_options={"yield_per": 5000}):
        counted.add(key_of(row.queue, row.status, row.assignee, row.due_at), 1)
    return counted


def stored(conn: Connection) -> Deltas:
    """Return the counters as the tables hold them."""
    a, d = TaskCount.__table__, TaskDueCount.__table__
    by_assignee = conn.execute(select(a.c.queue, a.c.assignee, a.c.n))
    by_due = conn.execute(select(d.c.queue, d.c.due_hour, d.c.n))
    return Deltas(Counter({(q, who): n for q, who, n in by_assignee}), Counter({(q, hour): n for q, hour, n in by_due}))


@dataclass(frozen=True)
class Recount:
    """What a recount found: open tasks, counter rows, and rows that were wrong."""

    open_tasks: int
    rows: int
    wrong: list[str]


def _differences(want: Deltas, have: Deltas) -> list[str]:
    wrong = []
    for name, w, h in (
        ("queue/assignee", want.by_assignee, have.by_assignee),
        ("queue/due hour", want.by_due, have.by_due),
    ):
        for key in sorted(set(w) | set(h), key=repr):
            if w.get(key, 0) != h.get(key, 0):
                wrong.append(f"{name} {key}: {h.get(key, 0)} counted, {w.get(key, 0)} open")
    return wrong


def rebuild(conn: Connection, *, write: bool = True) -> Recount:
    """Recount the counters from the tasks (only compare when not `write`)."""
    if write and conn.dialect.name == "postgresql":
        # No task changes while counting: writers in flight finish (and count) first.
        conn.execute(text("LOCK TABLE tasks IN SHARE MODE"))
        conn.execute(text("LOCK TABLE task_counts, task_due_counts IN EXCLUSIVE MODE"))
    want, have = count_open(conn), stored(conn)
    wrong = _differences(want, have)
    if write and wrong:
        conn.execute(delete(TaskCount.__table__))
        conn.execute(delete(TaskDueCount.__table__))
        apply(conn, want)
    return Recount(
        open_tasks=sum(want.by_assignee.values()),
        rows=len(want.nonzero().by_assignee) + len(want.nonzero().by_due),
        wrong=wrong,
    )
