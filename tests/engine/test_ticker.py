"""The ticker runs the sweeps each domain names (engine.domains), then the pending events."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine import domains
from engine.db import unit_of_work
from engine.events.models import PENDING, PROCESSED, Event
from engine.events.store import record
from engine.processing import ticker
from engine.tasks import service as tasks_service
from engine.tasks.models import Task
from engine.values import utcnow
from tests.payments.builders import registered


def test_the_ticker_runs_every_domains_sweep_in_order():
    names = [f.__module__ + ":" + f.__name__ for f in ticker.sweep_functions()]
    assert names == domains.sweeps()
    assert names[0] == "engine.rules.timers:fire_due"  # timers before the rest
    assert {
        "engine.tasks.service:expire_lapsed_leases",
        "engine.deliveries.fetches:run_due",
        "engine.notifications.service:deliver_queued",
        "engine.processing.subjects:process_due",  # a staff member's events (sign-ins)
    } <= set(names)


def test_a_failing_sweep_does_not_stop_the_others_nor_processing(database, monkeypatch):
    with unit_of_work(database) as s:
        task, _ = tasks_service.create(s, queue="support", title="held")
        tasks_service.claim(s, task, actor="ann@example.com")
        task.lease_expires_at = utcnow() - timedelta(minutes=1)
        record(s, registered("T1"), via="api")
        tid = task.id

    def broken(_database):
        raise RuntimeError("read-back provider down")

    real = ticker.sweep_functions
    monkeypatch.setattr(ticker, "sweep_functions", lambda: [broken, *real()])
    ticker.tick(database)
    with unit_of_work(database) as s:
        assert s.get(Task, tid).assignee is None  # the lease sweep still ran
        statuses = set(s.scalars(select(Event.status).where(Event.client_ref == "T1")))
    assert statuses == {PROCESSED} and PENDING not in statuses


def test_a_domain_adds_a_sweep_without_editing_the_ticker(monkeypatch):
    monkeypatch.setattr(
        domains, "_extra", [domains.Domain("probe", "tests.engine", sweeps=("tests.engine.test_ticker:probe_sweep",))]
    )
    assert ticker.sweep_functions()[-1] is probe_sweep


def probe_sweep(_database) -> None:
    """A sweep of the probe domain above."""
