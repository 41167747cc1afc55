"""Apply stored events to client state and evaluate the active rules, once each.

A client's pending events are processed in one transaction, in order of
`occurred_at`, under a lock on the client row, so two workers never process the
same client at once and a killed worker loses nothing: its transaction rolls back
and the events stay pending. Several clients share a transaction (fewer commits);
when it fails, each client is redone alone, and then each event in a savepoint, so
an event that fails `max_attempts` times is parked with its error instead of
blocking the client.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from sqlalchemy import ARRAY, BigInteger, DateTime, String, bindparam, cast, func, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified, set_committed_value

from engine.clients.models import Client
from engine.db import Database, keep_loaded_objects, unit_of_work
from engine.events.models import PARKED, PENDING, PROCESSED, Event
from engine.events.store import due_pending
from engine.subjects import CLIENT
from engine.values import utcnow

# The registry lives below processing so that domains register without importing it.
from engine.projections import EVALUATORS, PROJECTIONS, apply_event, load_handlers  # noqa: F401

log = logging.getLogger(__name__)

EVENTS_PER_CLIENT_TXN = 500
# Clients whose events share one transaction (fewer commits and lock round trips).
CLIENTS_PER_TXN = 100
# A group transaction commits after this long: it holds the client locks (and SQLite's
# one write lock) and keeps its new tasks invisible until it commits.
TXN_SECONDS = 0.25


def _mark_processed(event: Event, now) -> None:
    """Mark an applied event processed, visible to later events of the same transaction.

    The evaluator sets the ruleset version without a change of its own (it would be
    an UPDATE of its own at the next autoflush); it is written here, with the status,
    in the one UPDATE this event gets.
    """
    event.status, event.processed_at, event.last_error, event.retry_at = PROCESSED, now, None, None
    flag_modified(event, "ruleset_version")


class _SetBasedMarks:
    """The set-based path's processed marks, written as one UPDATE per flush instead of one
    ORM UPDATE per event.

    `mark(event)` marks the event in memory as `_mark_processed` does (the group runner and
    the forms read `event.status`) and keeps it; before the session's next flush (a query's
    autoflush, a form's bulk read, the end of the group) the kept marks are written by one
    statement, guarded by `status = 'pending'` (an event marked by anyone else fails the
    group, which is then redone client by client), and the events' own changes forgotten
    so the flush does not write them again. Marks are so visible to every later read of
    the transaction, as on the per-event path. `write()` writes the rest, `detach()` ends.
    """

    COLUMNS = ("status", "processed_at", "last_error", "retry_at", "ruleset_version")

    def __init__(self, session: Session):
        self.session, self.kept = session, []
        sa_event.listen(session, "before_flush", self._before_flush)

    def __call__(self, marked: Event) -> None:
        _mark_processed(marked, utcnow())
        self.kept.append(marked)

    def _before_flush(self, session, _context, _instances) -> None:
        self.write()

    def detach(self) -> None:
        sa_event.remove(self.session, "before_flush", self._before_flush)

    def write(self) -> None:
        kept, self.kept = self.kept, []
        if not kept:
            return
        rows = [(e.seq, e.processed_at, e.ruleset_version) for e in kept]
        written = _write_marks(self.session, rows)
        if written != len(rows):
            raise RuntimeError(f"{len(rows) - written} of {len(rows)} events were no longer pending")
        for marked in kept:  # written: nothing left for the flush to UPDATE
            for key in self.COLUMNS:
                set_committed_value(marked, key, getattr(marked, key))


def _write_marks(session: Session, rows: list[tuple]) -> int:
    """Mark (seq, processed_at, ruleset_version) processed where still pending; return how many.

    PostgreSQL: one `UPDATE ... FROM unnest(...)`; elsewhere one executemany (SQLite runs in
    process: no round trip to save)."""
    table = Event.__table__
    if session.get_bind().dialect.name == "postgresql":
        values = select(
            func.unnest(cast(bindparam("seqs"), ARRAY(BigInteger))).label("seq"),
            func.unnest(cast(bindparam("ats"), ARRAY(DateTime(timezone=True)))).label("at"),
            func.unnest(cast(bindparam("versions"), ARRAY(String))).label("version"),
        ).subquery("marks")
        stmt = (
            update(table)
            .where(table.c.seq == values.c.seq, table.c.status == PENDING)
            .values(
                status=PROCESSED,
                processed_at=values.c.at,
                last_error=None,
                retry_at=None,
                ruleset_version=values.c.version,
            )
        )
        seqs, ats, versions = (list(column) for column in zip(*rows, strict=True))
        return session.execute(stmt, {"seqs": seqs, "ats": ats, "versions": versions}).rowcount
    stmt = (
        update(table)
        .where(table.c.seq == bindparam("b_seq"), table.c.status == PENDING)
        .values(
            status=PROCESSED,
            processed_at=bindparam("b_at"),
            last_error=None,
            retry_at=None,
            ruleset_version=bindparam("b_version"),
        )
    )
    params = [{"b_seq": seq, "b_at": at, "b_version": version} for seq, at, version in rows]
    return session.execute(stmt, params).rowcount


def _advance_clients(events: list[Event], clients: dict[str, Client]) -> None:
    """Set each client's last_event_at once per transaction (nothing reads it mid-way)."""
    for event in events:
        client = clients[event.client_ref]
        if client.last_event_at is None or event.occurred_at > client.last_event_at:
            client.last_event_at = event.occurred_at


@dataclass
class Stats:
    processed: int = 0
    failed: int = 0
    parked: int = 0
    # Clients not (fully) done because live work was waiting (`process_clients(should_yield=)`).
    left: list[str] = field(default_factory=list)

    def add(self, other: "Stats") -> None:
        self.processed += other.processed
        self.failed += other.failed
        self.parked += other.parked


def _lock_client(session: Session, ref: str) -> Client | None:
    return session.scalar(select(Client).where(Client.ref == ref).with_for_update())


MAX_RETRY_DELAY = 900.0


def due_events(session: Session, subject: str, ref: str, limit: int) -> list[Event]:
    """The first `limit` due pending events of the `subject` kind of subject `ref`, in order."""
    return list(
        session.scalars(
            select(Event)
            .where(Event.client_ref == ref, Event.subject == subject, due_pending())
            .order_by(Event.occurred_at, Event.seq)
            .limit(limit)
        )
    )


def retry_delay(config, attempts: int) -> timedelta:
    """Return how long a failed event waits before its next attempt."""
    return timedelta(seconds=min(config.retry_base_seconds * 2 ** (attempts - 1), MAX_RETRY_DELAY))


def _process_one(session: Session, event: Event, client: Client, config, stats: Stats, apply=apply_event) -> bool:
    """Apply one event in a savepoint; on failure record it for retry or park it.

    `apply` is how (engine.processing.subjects passes the one for other subjects)."""
    try:
        with session.begin_nested():
            apply(session, event, client)
        _mark_processed(event, utcnow())
        stats.processed += 1
        return True
    except Exception as exc:
        event.attempts += 1
        event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        event.retry_at = utcnow() + retry_delay(config, event.attempts)
        if event.attempts >= config.max_attempts:
            event.status = PARKED
            stats.parked += 1
            log.error(
                "event %s/%s parked after %d attempts: %s",
                event.source,
                event.event_id,
                event.attempts,
                type(exc).__name__,
            )
        else:
            stats.failed += 1
            log.warning(
                "event %s/%s failed (attempt %d): %s", event.source, event.event_id, event.attempts, type(exc).__name__
            )
        return False


def _process_batch(database: Database, ref: str, *, isolate: bool) -> tuple[Stats, int]:
    """Process up to one batch of the client's pending events in one transaction.

    Without `isolate` every event runs in the same transaction (fast: one flush);
    with it each event runs in a savepoint, so one failing event is recorded and
    parked without undoing the others.
    """
    stats = Stats()
    with unit_of_work(database) as session:
        keep_loaded_objects(session)
        client = _lock_client(session, ref)
        events = due_events(session, CLIENT, ref, EVENTS_PER_CLIENT_TXN) if client else []
        if isolate:
            done = [e for e in events if _process_one(session, e, client, database.config, stats)]
        else:
            for event in events:
                apply_event(session, event, client)
                _mark_processed(event, utcnow())
            done, stats.processed = events, len(events)
        _advance_clients(done, {ref: client})
    return stats, len(events)


def process_client(database: Database, ref: str) -> Stats:
    """Process one client's pending events in order, one transaction per batch."""

    def one_batch() -> tuple[Stats, int]:
        try:
            return _process_batch(database, ref, isolate=False)
        except Exception:  # some event failed: redo this batch event by event
            return _process_batch(database, ref, isolate=True)

    load_handlers(database.config.plugins)
    return run_batches(one_batch, EVENTS_PER_CLIENT_TXN)


def run_batches(batch: Callable[[], tuple[Stats, int]], size: int) -> Stats:
    """Run `batch()` (its stats and how many events it read) until one reads fewer than
    `size` events or processes none: failed events stay pending for their retry (the
    sweeper's), they are not spun on here."""
    stats = Stats()
    while True:
        done, read = batch()
        stats.add(done)
        if read < size or done.processed == 0:
            return stats


def _process_group(database: Database, refs: list[str]) -> tuple[int, list[str]]:
    """Process several clients' pending events in one transaction (no savepoints).

    The clients are locked in order of ref (so two workers never deadlock on them)
    and their due events read in one query, each client's in `occurred_at` order.
    At most EVENTS_PER_CLIENT_TXN events are read and the transaction commits once
    TXN_SECONDS have passed: the clients from the first event not done onwards are
    returned to be done next. Any failure rolls the whole group back.
    """
    with unit_of_work(database) as session:
        keep_loaded_objects(session)
        clients = {
            c.ref: c
            for c in session.scalars(select(Client).where(Client.ref.in_(refs)).order_by(Client.ref).with_for_update())
        }
        events = list(
            session.scalars(
                select(Event)
                # only client events: another subject's (engine.processing.subjects) never come here
                .where(Event.client_ref.in_(list(clients)), Event.subject == CLIENT, due_pending())
                .order_by(Event.client_ref, Event.occurred_at, Event.seq)
                .limit(EVENTS_PER_CLIENT_TXN)
            )
        )
        deadline, done = time.monotonic() + TXN_SECONDS, len(events)
        if database.config.batch:
            return _finish_batched(session, refs, clients, events, deadline)
        for index, event in enumerate(events):
            if index and time.monotonic() > deadline:
                done = index  # commit now: locks and new tasks are not held back longer
                break
            apply_event(session, event, clients[event.client_ref])
            _mark_processed(event, utcnow())
        _advance_clients(events[:done], clients)
    if done < len(events):
        return done, [r for r in refs if r >= events[done].client_ref]
    rest = [r for r in refs if r >= events[-1].client_ref] if done == EVENTS_PER_CLIENT_TXN else []
    return done, rest


def _finish_batched(
    session: Session, refs: list[str], clients: dict[str, Client], events: list[Event], deadline: float
) -> tuple[int, list[str]]:
    """The group's events through the set-based path where it applies (engine.processing.batch).

    Returns what `_process_group` does: how many were done and the clients to do next
    (each client's done events are a prefix of its own, so its order holds)."""
    from engine.processing import batch

    marks = _SetBasedMarks(session)
    try:
        done = batch.run(session, clients, events, marks, deadline)
        marks.write()
    finally:
        marks.detach()  # on an exception the group rolls back, written marks with it
    _advance_clients(done, clients)
    left = {e.client_ref for e in events if e.status == PENDING}  # stopped at the deadline
    if len(events) == EVENTS_PER_CLIENT_TXN:  # the read was cut: these may have more
        left |= {r for r in refs if r >= events[-1].client_ref}
    return len(done), sorted(left)


def process_clients(database: Database, refs: list[str], *, should_yield: Callable[[], bool] | None = None) -> Stats:
    """Process the pending events of each client in `refs`, several clients per transaction.

    A group whose transaction fails is redone client by client (`process_client`),
    where a failing event is isolated in a savepoint and retried or parked.
    `should_yield` (bulk work) is asked after each transaction: when it says live work
    waits, the clients not done yet are returned in `Stats.left` instead, to be done after
    it (a group commits within TXN_SECONDS, so a webhook waits for one group, not a file).
    """
    load_handlers(database.config.plugins)
    total = Stats()
    yielding = should_yield or (lambda: False)
    todo, first = sorted(set(refs)), True
    while todo:
        if not first and yielding():
            total.left = todo
            return total
        first = False
        group, todo = todo[:CLIENTS_PER_TXN], todo[CLIENTS_PER_TXN:]
        try:
            processed, rest = _process_group(database, group)
        except Exception as exc:  # an event failed, or a deadlock with another worker
            log.info("group of %d clients rolled back (%s); redoing them one by one", len(group), type(exc).__name__)
            for index, ref in enumerate(group):
                if index and yielding():  # a group redone client by client takes long
                    total.left = group[index:] + todo
                    return total
                total.add(process_client(database, ref))
            continue
        total.processed += processed
        todo = rest + todo
    return total


def process_all_pending(database: Database, *, received_before=None) -> Stats:
    """Process every client that has pending events (the sweeper, and `fxcrm events process`)."""
    from engine.events.store import list_pending_clients

    total, seen = Stats(), set()
    while True:
        with unit_of_work(database) as session:
            refs = [r for r in list_pending_clients(session, received_before=received_before) if r not in seen]
        if not refs:
            return total
        seen.update(refs)
        total.add(process_clients(database, refs))
