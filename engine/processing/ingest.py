"""Events into the store, then to processing: files and API batches, and the after-commit hand-off.

The store (engine.events.store) only records; this module is where a unit of work that
recorded events hands the clients it touched to processing (inline, a thread, or rq).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from sqlalchemy.orm import Session

from engine.db import Database, after_commit, unit_of_work
from engine.events.store import parse_line, record_many
from engine.events.schemas import InvalidEvent
from engine.processing import dispatch


def schedule_touched(session: Session, database: Database) -> None:
    """After commit, hand the clients this unit of work touched to processing."""
    refs = sorted(session.info.get("touched_clients", ()))
    if refs:
        after_commit(session, lambda: dispatch.schedule(database, refs))


APP_SOURCE = "fxcrm.app"  # the source of the events fxcrm records about its own actions


def app_envelope(*, type_: str, ref: str, event_id: str, data: dict, at=None, internal: bool = False) -> dict:
    """The validated envelope of an event fxcrm itself observed about `ref`, at `at` (default
    now); `data`'s None values are left out. A bad one raises InvalidEvent. `internal`
    admits the types only fxcrm may record (a staff member's events)."""
    from engine.events.schemas import validate_envelope
    from engine.values import iso, utcnow

    return validate_envelope(
        {
            "id": event_id,
            "type": type_,
            "source": APP_SOURCE,
            "occurred_at": iso(at or utcnow()),
            "client": ref,
            "data": {k: v for k, v in data.items() if v is not None},
        },
        allow_internal=internal,
    )


def record_app_event(session: Session, *, type_: str, client_ref: str, event_id: str, data: dict, at=None) -> bool:
    """Record an event fxcrm itself observed (a sign-in, a status change, a task outcome)
    in the caller's transaction, and hand the client to processing after commit.

    The envelope is validated like any other (a bad one raises InvalidEvent and the
    caller's change is rolled back with it); `event_id` is unique per change, so
    recording it again adds nothing. Return whether it was new.
    """
    envelope = app_envelope(type_=type_, ref=client_ref, event_id=event_id, data=data, at=at)
    created = bool(record_many(session, [envelope], via="app"))
    database = session.info.get("database")
    if database is not None:
        schedule_touched(session, database)
    return created


@dataclass
class IngestReport:
    accepted: int = 0
    duplicate: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    conflict: int = 0  # ids already used by an event with different content

    @property
    def ok(self) -> bool:
        return not self.rejected

    def summary(self) -> str:
        return f"accepted: {self.accepted}, duplicate: {self.duplicate}, rejected: {len(self.rejected)}" + (
            f", conflict: {self.conflict} (see `fxcrm events conflicts`)" if self.conflict else ""
        )


def ingest_lines(
    database: Database, lines: Iterable[str], *, via: str = "file", progress: Callable[[int], None] | None = None
) -> IngestReport:
    """Validate and store JSON lines in batches; a bad line is reported, never fatal."""
    report, batch = IngestReport(), []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                batch.append((number, parse_line(line)))
            except InvalidEvent as exc:
                report.rejected.append((number, str(exc)))
        if len(batch) >= database.config.ingest_batch:
            _store_batch(database, batch, report, via)
            batch = []
        if progress:
            progress(1)
    if batch:
        _store_batch(database, batch, report, via)
    return report


def _store_batch(database: Database, batch, report: IngestReport, via: str) -> None:
    with unit_of_work(database) as session:
        created = record_many(session, [env for _n, env in batch], via=via)
        report.accepted += len(created)
        report.conflict += len(created.conflicts)
        report.duplicate += len(batch) - len(created) - len(created.conflicts)
        schedule_touched(session, database)
