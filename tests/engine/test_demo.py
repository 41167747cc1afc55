"""`fxcrm demo`: every page has something to show, dated around today, with every login."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from engine import demo
from engine.db import unit_of_work
from engine.deliveries import mt5_retry
from engine.deliveries.models import Delivery
from engine.events.models import Event
from engine.rules import activation
from engine.rules.timers import fire_due
from engine.tasks.models import Task
from engine.users import service as users_service
from engine.values import clock, utcnow


def _load(database, now):
    activation.activate_dir(database, "rules", actor="test")
    clock.freeze(now)
    summary = demo.load(database, clients=40, seed=7, now=now)
    fire_due(database, now)  # as the running app's ticker does
    return summary


def test_demo_prints_every_login_and_the_partner_can_log_in(database):
    now = utcnow().replace(microsecond=0)
    summary = _load(database, now)
    for email, _role in demo.DEMO_USERS:
        assert email in summary
    assert "partner@fxcrm.local" in summary and "partner (IB C000001)" in summary
    with unit_of_work(database) as s:
        partner = users_service.authenticate(s, "partner@fxcrm.local", demo.DEMO_PASSWORD)
        assert partner is not None and (partner.role, partner.ib_id) == ("partner", "C000001")


def test_demo_history_ends_at_now_and_leaves_tasks_not_yet_due(database):
    now = utcnow().replace(microsecond=0)
    _load(database, now)
    with unit_of_work(database) as s:
        latest = s.scalar(select(func.max(Event.occurred_at)))
        earliest = s.scalar(select(func.min(Event.occurred_at)))
        assert now - timedelta(days=2) < latest <= now
        assert earliest >= now - timedelta(weeks=demo.DEMO_WEEKS)
        open_due = list(s.scalars(select(Task.due_at).where(Task.status == "open")))
    assert open_due, "the demo opens tasks"
    assert any(due is not None and due > now for due in open_due), "not every task is overdue"


def test_demo_keeps_an_unplaced_mt5_deal_for_finance(database):
    now = utcnow().replace(microsecond=0)
    _load(database, now)
    with unit_of_work(database) as s:
        (row,) = s.scalars(select(Delivery).where(Delivery.provider == "mt5")).all()
        task = s.scalar(select(Task).where(Task.title == f"Retry or drop unmatched mt5 delivery #{row.id}"))
    assert (row.status, row.reason) == ("unmatched", "deal 880017: login 90017 has no trading account")
    assert (task.queue, task.status) == ("finance", "open")
    assert ("Trade", "sell 0.5 lots EURUSD, out (closes)") in mt5_retry.summary(row)
