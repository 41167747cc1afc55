"""Runtime details: re-processing creates nothing twice; named timers come back as events."""

from __future__ import annotations

import textwrap

import pytest
from sqlalchemy import func, select

from engine import processing
from engine.db import unit_of_work
from engine.events.models import PENDING, Event
from engine.processing.ingest import ingest_lines
from engine.notifications.models import Notification
from engine.rules import activation, timers
from engine.rules.models import RuleAction
from engine.tasks.models import Task
from engine.values import parse_datetime
from tests.helpers import deposit_failed, jsonl, registered, rules_active

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

RULES = """
ruleset: more
description: d
rules:
  - id: every-failure
    description: A task and a notification for every failed deposit.
    when: payment.deposit_failed
    then:
      - task: {queue: finance, title: "Failed {event.payment_id}"}
      - notify: kyc-approved
      - start_timer: {name: follow-up, after: 2h}
  - id: follow-up
    description: When the follow-up timer fires, support calls.
    when: timer.fired
    if: [event.name == follow-up, client.risk_category != high]
    then:
      - task: {queue: support, title: "Follow up {client.status} client"}
"""


@pytest.fixture(autouse=True)
def _setup(database):
    yield from rules_active(database, {"more.yaml": textwrap.dedent(RULES)})


def count(database, model, *where):
    with unit_of_work(database) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_processing_an_event_again_does_nothing_twice(database):
    ingest_lines(database, jsonl([deposit_failed("C1", payment_id="p1")]).splitlines())
    before = (count(database, Task), count(database, Notification), count(database, RuleAction))
    assert before == (1, 1, 3)
    with unit_of_work(database) as s:  # as if a worker died after acting but a replay comes
        s.scalar(select(Event)).status = PENDING
    processing.process_client(database, "C1")
    assert (count(database, Task), count(database, Notification), count(database, RuleAction)) == before


def test_named_timer_fires_a_timer_event_that_rules_react_to(database):
    ingest_lines(
        database,
        jsonl(
            [
                registered("C1", at="2026-11-01T09:00:00Z"),
                deposit_failed("C1", at="2026-11-01T10:00:00Z", payment_id="p1"),
                deposit_failed("C1", at="2026-11-01T11:00:00Z", payment_id="p2"),
            ]
        ).splitlines(),
    )
    # The second failure restarted the timer: only one is pending, due 2h after it.
    assert timers.fire_due(database, now=parse_datetime("2026-11-01T12:30:00Z")) == 0
    assert timers.fire_due(database, now=parse_datetime("2026-11-01T13:00:00Z")) == 1
    with unit_of_work(database) as s:
        fired = s.scalar(select(Event).where(Event.type == "timer.fired"))
        support = s.scalar(select(Task).where(Task.queue == "support"))
        assert fired.data["name"] == "follow-up" and fired.occurred_at == parse_datetime("2026-11-01T13:00:00Z")
        assert support.title == "Follow up pending client"
        assert support.explanation["events"] == [fired.seq]
        assert support.explanation["facts"] == {"client.risk_category": None, "event.name": "follow-up"}
