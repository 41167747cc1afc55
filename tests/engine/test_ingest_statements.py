"""Ingestion is set-based: one INSERT of events (and one of new clients) per batch, whatever
the batch's size, duplicates stored once; one hand-off to processing per batch.
On SQLite and PostgreSQL, counting the statements the driver is given."""

from __future__ import annotations

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from engine.db import unit_of_work
from engine.events.models import Event
from engine.processing import dispatch
from engine.processing.ingest import ingest_lines
from engine.users import service as users
from tests.helpers import deposit_failed, jsonl, registered


@pytest.fixture
def statements(database):
    """Every statement sent to the database (SQLAlchemy before_cursor_execute), with its
    row count for an executemany."""
    seen: list[tuple[str, bool]] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append((" ".join(statement.split()), executemany))

    sa_event.listen(database.engine, "before_cursor_execute", note)
    yield seen
    sa_event.remove(database.engine, "before_cursor_execute", note)


@pytest.fixture
def handed_off(monkeypatch):
    """The client refs of each hand-off to processing (processing itself left out)."""
    calls: list[list[str]] = []
    monkeypatch.setattr(dispatch, "schedule", lambda database, refs: calls.append(list(refs)))
    return calls


def inserts(seen, table: str) -> int:
    return sum(1 for sql, _many in seen if sql.startswith(f"INSERT INTO {table} "))


def stored(database) -> int:
    with unit_of_work(database) as s:
        return s.scalar(select(func.count()).select_from(Event))


def batch(clients: int, per_client: int) -> list[dict]:
    out = []
    for n in range(clients):
        ref = f"C{n:04d}"
        out.append(registered(ref))
        out += [deposit_failed(ref, at=f"2026-11-01T11:{k:02d}:00Z") for k in range(per_client - 1)]
    return out


def test_an_api_batch_is_one_insert_of_events_and_one_of_clients(database, client, statements, handed_off):
    with unit_of_work(database) as s:
        user, _ = users.create(s, email="admin@broker.test", role="admin", password="a-long-password")
        token = users.create_token(s, user)
    headers = {"Authorization": f"Bearer {token}"}
    events = batch(250, 4)  # 1,000 events: the most one request may carry
    statements.clear()
    resp = client.post("/api/events", json=events, headers=headers)
    assert resp.status_code == 202, resp.get_json()
    assert (inserts(statements, "events"), inserts(statements, "clients")) == (1, 1)
    assert stored(database) == 1000
    assert len(handed_off) == 1 and len(handed_off[0]) == 250

    # The same batch again, plus a copy inside it: nothing new, still one INSERT per table.
    statements.clear()
    resp = client.post("/api/events", json=events[:500] + events[:1], headers=headers)
    assert resp.status_code == 202
    assert {e["status"] for e in resp.get_json()["events"]} == {"duplicate"}
    assert inserts(statements, "events") == 1
    assert stored(database) == 1000


def test_a_file_is_one_insert_of_events_per_batch(database, statements, handed_off, tmp_path):
    events = batch(300, 4)  # 1,200 lines: batches of 500, 500 and 200
    lines = jsonl(events[:700] + events[:3] + events[700:]).splitlines(keepends=True)  # 3 duplicates
    assert database.config.ingest_batch == 500
    statements.clear()
    report = ingest_lines(database, lines)
    assert (report.accepted, report.duplicate, report.rejected) == (1200, 3, [])
    assert inserts(statements, "events") == 3  # 1,203 lines in batches of 500
    assert inserts(statements, "clients") == 3
    assert len(handed_off) == 3
    assert stored(database) == 1200
