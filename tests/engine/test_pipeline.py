"""The event store and processing pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine import processing
from engine.clients.models import Client
from engine.db import unit_of_work
from engine.events.models import PARKED, PENDING, PROCESSED, Event
from engine.processing.ingest import ingest_lines
from engine.tasks import service as tasks_service
from engine.tasks.models import Task
from tests.helpers import deposit_failed, event, jsonl, registered


@pytest.fixture
def task_per_failed_deposit(monkeypatch):
    """A projection that opens one task per failed deposit, keyed by the event."""

    def handler(session, ev, client):
        tasks_service.create(
            session,
            queue="finance",
            title=f"failed {ev.data['amount']}",
            client_ref=client.ref,
            trigger_key=f"test:{ev.seq}",
            open_key=f"test-open:{client.ref}",
        )

    monkeypatch.setitem(processing.PROJECTIONS, "payment.deposit_failed", [handler])


def count(database, model, *where):
    with unit_of_work(database) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_ingesting_the_same_file_twice_stores_and_acts_once(database, task_per_failed_deposit):
    lines = jsonl(
        [registered("C1"), deposit_failed("C1"), registered("C2"), deposit_failed("C2", at="2026-11-01T12:00:00Z")]
    ).splitlines()
    first = ingest_lines(database, lines)
    second = ingest_lines(database, lines)
    assert (first.accepted, first.duplicate) == (4, 0)
    assert (second.accepted, second.duplicate) == (0, 4)
    assert count(database, Event) == 4
    assert count(database, Event, Event.status == PROCESSED) == 4
    assert count(database, Task) == 2


def test_bad_lines_are_reported_and_good_lines_stored(database):
    lines = [
        json.dumps(registered("C1")),
        "{not json",
        json.dumps({"type": "x"}),
        "",
        json.dumps(deposit_failed("C1", amount="ten")),
    ]
    report = ingest_lines(database, lines)
    assert report.accepted == 1
    assert [n for n, _ in report.rejected] == [2, 3, 5]
    assert report.rejected[0][1].startswith("not valid JSON")
    assert (
        "data.amount: must be a positive amount string like \"100.50\" (ASCII digits only), not 'ten'"
        in report.rejected[2][1]
    )
    assert count(database, Event) == 1


def test_duplicates_within_one_file_are_counted(database):
    env = registered("C1")
    report = ingest_lines(database, [json.dumps(env), json.dumps(env)])
    assert (report.accepted, report.duplicate) == (1, 1)


def test_events_apply_in_occurred_order_whatever_the_arrival(database, monkeypatch):
    seen = []
    monkeypatch.setitem(
        processing.PROJECTIONS, "payment.deposit_failed", [lambda s, ev, c: seen.append(ev.data["payment_id"])]
    )
    late = deposit_failed("C1", at="2026-11-01T09:00:00Z", payment_id="early")
    early = deposit_failed("C1", at="2026-11-01T11:00:00Z", payment_id="late")
    with unit_of_work(database) as s:  # store both before processing either
        from engine.events.store import record

        record(s, early)
        record(s, late)
    processing.process_client(database, "C1")
    assert seen == ["early", "late"]


def test_a_failing_event_backs_off_then_is_parked_without_blocking_the_client(database, monkeypatch):
    from datetime import timedelta

    from engine.db import Database
    from engine.values import clock, utcnow

    def boom(session, ev, client):
        if ev.data["payment_id"] == "bad":
            raise RuntimeError("provider data inconsistent")

    monkeypatch.setitem(processing.PROJECTIONS, "payment.deposit_failed", [boom])
    db = Database(database.config.with_overrides(max_attempts=3, retry_base_seconds=10))
    start = utcnow()
    clock.freeze(start)
    ingest_lines(
        db,
        jsonl(
            [deposit_failed("C1", payment_id="bad"), deposit_failed("C1", payment_id="good", at="2026-11-01T12:00:00Z")]
        ).splitlines(),
    )
    assert count(db, Event, Event.status == PROCESSED) == 1
    processing.process_all_pending(db)  # not due yet: no second attempt
    with unit_of_work(db) as s:
        bad = s.scalar(select(Event).where(Event.status == PENDING))
        assert bad.attempts == 1 and bad.retry_at == start + timedelta(seconds=10)
    clock.freeze(start + timedelta(seconds=10))
    processing.process_all_pending(db)
    clock.freeze(start + timedelta(seconds=39))  # second delay is 20 s: 30 s in total
    processing.process_all_pending(db)
    with unit_of_work(db) as s:
        bad = s.scalar(select(Event).where(Event.data["payment_id"].as_string() == "bad"))
        assert (bad.status, bad.attempts) == (PARKED, 3)
        assert bad.last_error == "RuntimeError: provider data inconsistent"
    db.dispose()


def test_effects_of_a_failed_event_are_rolled_back(database, monkeypatch):
    def half(session, ev, client):
        tasks_service.create(session, queue="finance", title="half", client_ref=client.ref)
        raise RuntimeError("after the task")

    monkeypatch.setitem(processing.PROJECTIONS, "payment.deposit_failed", [half])
    ingest_lines(database, [json.dumps(deposit_failed("C1"))])
    assert count(database, Task) == 0
    assert count(database, Event, Event.status == PENDING) == 1


def test_registration_fills_the_client_record(database):
    ingest_lines(database, [json.dumps(registered("C9", first_name="Ana", declared_income="85000.00", currency="EUR"))])
    with unit_of_work(database) as s:
        client = s.scalar(select(Client).where(Client.ref == "C9"))
        assert (client.email, client.country, client.first_name) == ("c9@example.com", "DE", "Ana")
        assert client.declared_income == Decimal("85000")
        assert client.registered_at.isoformat() == "2026-11-01T10:00:00+00:00"


def test_an_event_before_registration_creates_the_client(database):
    ingest_lines(database, [json.dumps(deposit_failed("C5"))])
    assert count(database, Client, Client.ref == "C5") == 1


def test_handlers_run_in_the_domains_order_whatever_module_was_imported_first(monkeypatch):
    """A module imported before `load_handlers` (a test or tool importing the payments'
    projections) registered its handlers first: the payments' `kyc.review_completed`
    projection, which moves withdrawals waiting for KYC on, then ran before the KYC one
    that sets the status it reads. Loading puts them back in the domains' order."""
    from engine import projections

    processing.load_handlers()
    in_order = list(projections.PROJECTIONS["kyc.review_completed"])
    kyc_first = ["engine.kyc.projections", "engine.payments.projections", "engine.ib.projections"]
    assert [h.__module__ for h in in_order] == kyc_first
    evaluators = list(projections.EVALUATORS)
    monkeypatch.setitem(projections.PROJECTIONS, "kyc.review_completed", in_order[::-1])  # imported first
    monkeypatch.setattr(projections, "_loaded", False)
    projections.EVALUATORS.reverse()
    try:
        projections.load_handlers()
        assert projections.PROJECTIONS["kyc.review_completed"] == in_order
        assert projections.EVALUATORS == evaluators
    finally:
        projections.EVALUATORS[:] = evaluators
