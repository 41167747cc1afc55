"""The fast processing path keeps the guarantees: groups of clients per transaction,
bulk processed marks, and the per-transaction read cache, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

from sqlalchemy import event as sa_event
import pytest
from sqlalchemy import func, select, update

from engine import processing
from engine.clients.models import Client
from engine.db import WriteGate, cached, unit_of_work
from engine.events.models import PENDING, PROCESSED, Event
from engine.events.store import record_many
from engine.events.schemas import validate_envelope
from engine.tasks import service as tasks_service
from engine.tasks.models import Task
from tests.helpers import deposit_failed, registered


def store(database, *envelopes) -> None:
    """Store events without processing them."""
    with unit_of_work(database) as s:
        record_many(s, [validate_envelope(e) for e in envelopes])


def statuses(database) -> dict[str, tuple[str, int]]:
    with unit_of_work(database) as s:
        return {e.data.get("payment_id", e.type): (e.status, e.attempts) for e in s.scalars(select(Event))}


def test_a_failing_client_in_a_group_is_redone_alone_and_the_others_commit(database, monkeypatch):
    def boom(session, ev, client):
        if ev.data["payment_id"] == "bad":
            raise RuntimeError("inconsistent")

    monkeypatch.setitem(processing.PROJECTIONS, "payment.deposit_failed", [boom])
    store(
        database,
        registered("C1"),
        deposit_failed("C1", payment_id="c1"),
        registered("C2"),
        deposit_failed("C2", payment_id="bad"),
        deposit_failed("C2", payment_id="c2-later", at="2026-11-01T12:00:00Z"),
        registered("C3"),
        deposit_failed("C3", payment_id="c3"),
    )
    stats = processing.process_clients(database, ["C3", "C1", "C2"])
    assert (stats.processed, stats.failed, stats.parked) == (6, 1, 0)
    got = statuses(database)
    assert got.pop("bad") == (PENDING, 1)
    assert set(got.values()) == {(PROCESSED, 0)}


def test_a_group_larger_than_one_transaction_keeps_each_clients_order(database, monkeypatch):
    seen = []
    monkeypatch.setitem(
        processing.PROJECTIONS, "payment.deposit_failed", [lambda s, ev, c: seen.append((c.ref, ev.data["payment_id"]))]
    )
    monkeypatch.setattr(processing, "EVENTS_PER_CLIENT_TXN", 3)
    monkeypatch.setattr(processing, "CLIENTS_PER_TXN", 2)
    for ref in ("A", "B", "C"):  # stored latest first: order comes from occurred_at
        store(
            database, *[deposit_failed(ref, at=f"2026-11-01T1{h}:00:00Z", payment_id=f"{ref}{h}") for h in (4, 2, 3, 1)]
        )
    stats = processing.process_clients(database, ["C", "B", "A"])
    assert stats.processed == 12
    for ref in ("A", "B", "C"):
        assert [p for r, p in seen if r == ref] == [f"{ref}{h}" for h in (1, 2, 3, 4)]
    assert len(seen) == 12  # nothing applied twice


@pytest.mark.parametrize("entry", ["group", "one client"])
def test_events_applied_earlier_in_the_transaction_are_seen_as_processed(database, monkeypatch, entry):
    seen = []

    def count_processed(session, ev, client):
        seen.append(
            session.scalar(
                select(func.count()).select_from(Event).where(Event.client_ref == client.ref, Event.status == PROCESSED)
            )
        )

    monkeypatch.setitem(processing.PROJECTIONS, "payment.deposit_failed", [count_processed])
    store(
        database,
        registered("C1"),
        deposit_failed("C1", at="2026-11-01T11:00:00Z"),
        deposit_failed("C1", at="2026-11-01T12:00:00Z"),
    )
    if entry == "group":
        processing.process_clients(database, ["C1"])
    else:
        processing.process_client(database, "C1")
    assert seen == [1, 2]  # one transaction, yet each sees those applied before it


def test_processed_marks_carry_the_ruleset_version_and_last_event_time(database):
    from pathlib import Path

    from engine.rules import activation

    rules = Path(__file__).resolve().parents[2] / "rules"
    version = activation.activate_dir(database, str(rules), actor="test")
    store(
        database,
        registered("C1"),
        deposit_failed("C1", at="2026-11-01T15:00:00Z"),
        deposit_failed("C1", at="2026-11-01T11:00:00Z"),
    )
    processing.process_clients(database, ["C1"])
    with unit_of_work(database) as s:
        rows = s.execute(select(Event.status, Event.ruleset_version, Event.processed_at)).all()
        client = s.scalar(select(Client).where(Client.ref == "C1"))
        assert {(status, v) for status, v, _at in rows} == {(PROCESSED, version)}
        assert all(at is not None and at.tzinfo is not None for _s, _v, at in rows)
        assert client.last_event_at.isoformat() == "2026-11-01T15:00:00+00:00"


def _count_selects(database) -> list[str]:
    seen: list[str] = []
    sa_event.listen(
        database.engine,
        "before_cursor_execute",
        lambda c, cur, stmt, *a: seen.append(stmt) if stmt.lstrip().startswith("SELECT") else None,
    )
    return seen


def _open_tasks(s, ref):
    return cached(
        s,
        ("t", ref),
        frozenset({"tasks"}),
        lambda: list(s.scalars(select(Task).where(Task.client_ref == ref, Task.status == "open"))),
    )


def test_the_read_cache_answers_once_and_forgets_after_a_write(database):
    store(database, registered("C1"))
    selects = _count_selects(database)
    with unit_of_work(database) as s:
        assert _open_tasks(s, "C1") == []
        before = len(selects)
        assert _open_tasks(s, "C1") == []
        assert len(selects) == before  # answered from the cache
        task, _created = tasks_service.create(s, queue="finance", title="t", client_ref="C1")
        assert _open_tasks(s, "C1") == [task]  # the new task is seen: the insert forgot the answer
        s.execute(
            update(Task).where(Task.id == task.id).values(status="done").execution_options(synchronize_session="fetch")
        )
        assert _open_tasks(s, "C1") == []  # a DML statement forgot it too
        task.status = "open"
        assert _open_tasks(s, "C1") == [task]  # and so did a changed object


def test_the_read_cache_forgets_what_a_rolled_back_savepoint_undid(database):
    store(database, registered("C1"))
    with unit_of_work(database) as s:
        try:
            with s.begin_nested():
                tasks_service.create(s, queue="finance", title="t", client_ref="C1")
                assert len(_open_tasks(s, "C1")) == 1
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        assert _open_tasks(s, "C1") == []


def _queued_then(gate, holder, order, name):
    def run():
        gate.acquire(holder)
        order.append(name)
        gate.release(holder)

    thread = threading.Thread(target=run)
    thread.start()
    while gate.waiting == 0:
        time.sleep(0.001)
    return thread


def test_the_sqlite_write_gate_gives_a_waiting_thread_its_turn_before_a_repeat_writer():
    gate = WriteGate()
    order: list[str] = []
    gate.acquire(1)
    waiter = _queued_then(gate, 2, order, "waiting request")
    gate.release(1)
    gate.acquire(3)  # the same thread at once again: it must queue behind the waiter
    order.append("repeat writer")
    gate.release(3)
    waiter.join()
    assert order == ["waiting request", "repeat writer"]


def test_an_urgent_thread_takes_the_next_turn_before_the_queued_ones():
    gate = WriteGate()
    order: list[str] = []
    gate.acquire(1)
    bulk = _queued_then(gate, 2, order, "queued bulk writer")

    def live():
        with gate.urgent():
            gate.acquire(3)
            order.append("live processing")
            gate.release(3)

    urgent = threading.Thread(target=live)
    urgent.start()
    deadline = time.monotonic() + 10
    while gate.waiting < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert gate.waiting == 2, "the live thread never queued"
    gate.release(1)
    bulk.join()
    urgent.join()
    assert order == ["live processing", "queued bulk writer"]


def test_the_write_gate_lets_a_late_waiter_go_on_after_its_timeout():
    gate = WriteGate(timeout=0.05)
    gate.acquire(1)  # never released by this thread
    order: list[str] = []
    waiter = _queued_then(gate, 2, order, "went on")
    waiter.join()
    assert order == ["went on"]


def test_sqlite_transactions_queue_at_the_gate_and_release_it_however_they_end(database):
    if database.dialect != "sqlite":
        return  # PostgreSQL has row locks, not one write lock: no gate
    store(database, registered("C1"))
    order: list[str] = []
    session = database.sessions()
    session.execute(select(Client)).all()  # BEGIN IMMEDIATE: this thread has the turn
    waiter = threading.Thread(target=lambda: (store(database, registered("C2")), order.append("other")))
    waiter.start()
    while not order and waiter.is_alive() and database.engine.fxcrm_write_gate.waiting == 0:
        time.sleep(0.001)
    session.close()  # ends with a rollback: the turn passes on
    waiter.join()
    with unit_of_work(database) as s:
        order.append("again")
        assert s.scalar(select(Client).where(Client.ref == "C2")) is not None
    assert order == ["other", "again"]
