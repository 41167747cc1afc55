"""Absence rules: one durable timer per client and rule, restarted by each of its events."""

from __future__ import annotations

import textwrap

import pytest
from sqlalchemy import select

from engine import processing
from engine.db import unit_of_work
from engine.events.models import PENDING, Event
from engine.processing.ingest import ingest_lines
from engine.rules import activation, timers
from engine.rules.errors import RulesetInvalid
from engine.rules.models import ABSENCE, RuleTimer
from engine.tasks.models import Task
from engine.values import parse_datetime
from tests.helpers import event, jsonl, registered, rules_active
from tests.rules.conftest import compile_text, one_rule_errors

RULES = """
ruleset: quiet
description: d
rules:
  - id: quiet-client
    description: Nobody traded for 10 days after a deposit.
    absent: {events: [trade.opened, trade.closed], for: 10d, since: payment.deposit_completed}
    if: [client.status != blocked]
    then:
      - task: {queue: sales, title: "Quiet for 10 days ({client.status})"}
"""


@pytest.fixture(autouse=True)
def _setup(database):
    yield from rules_active(database, {"quiet.yaml": textwrap.dedent(RULES)})


def deposit(at: str, pid: str) -> dict:
    return event(
        "payment.deposit_completed",
        at=at,
        payment_id=pid,
        amount="100",
        currency="USD",
        method="card",
        provider="stripe",
    )


def opened(at: str, ticket: str) -> dict:
    return event(
        "trade.opened",
        at=at,
        account_id="A1",
        ticket=ticket,
        symbol="EURUSD",
        side="buy",
        volume_lots="1",
        open_time=at,
    )


def absence_timers(database) -> list[tuple[str, str, str]]:
    with unit_of_work(database) as s:
        rows = s.scalars(select(RuleTimer).where(RuleTimer.kind == ABSENCE).order_by(RuleTimer.id))
        return [(t.status, t.due_at.isoformat(), t.outcome or "") for t in rows]


def tasks(database) -> list[str]:
    with unit_of_work(database) as s:
        return [t.title for t in s.scalars(select(Task).order_by(Task.id))]


def test_each_event_restarts_the_one_timer_and_a_since_event_does_not(database):
    ingest_lines(
        database,
        jsonl(
            [
                registered(at="2026-11-01T09:00:00Z"),
                deposit("2026-11-01T10:00:00Z", "p1"),
                opened("2026-11-03T10:00:00Z", "t1"),
                deposit("2026-11-05T10:00:00Z", "p2"),
            ]
        ).splitlines(),
    )
    got = absence_timers(database)
    assert [g[:2] for g in got] == [
        ("cancelled", "2026-11-11T10:00:00+00:00"),
        ("pending", "2026-11-13T10:00:00+00:00"),
    ]
    assert got[0][2].startswith("restarted by trade.opened")
    # A trade that arrives late (older than t1) does not move the timer back.
    ingest_lines(database, jsonl([opened("2026-11-02T10:00:00Z", "t0")]).splitlines())
    assert [g[:2] for g in absence_timers(database)][1:] == [("pending", "2026-11-13T10:00:00+00:00")]
    assert timers.fire_due(database, now=parse_datetime("2026-11-13T09:59:59Z")) == 0


def test_the_timer_fires_once_after_the_silence_and_acts_once(database):
    ingest_lines(
        database, jsonl([registered(at="2026-11-01T09:00:00Z"), deposit("2026-11-01T10:00:00Z", "p1")]).splitlines()
    )
    assert timers.fire_due(database, now=parse_datetime("2026-11-11T09:59:59Z")) == 0
    assert timers.fire_due(database, now=parse_datetime("2026-11-11T10:00:00Z")) == 1
    assert timers.fire_due(database, now=parse_datetime("2026-11-30T10:00:00Z")) == 0
    assert tasks(database) == ["Quiet for 10 days (pending)"]
    with unit_of_work(database) as s:
        task = s.scalar(select(Task))
        assert task.explanation["silence"]["silent_since"] == "2026-11-01T10:00:00Z"
        assert task.explanation["events"] == []


def test_a_replayed_event_does_not_start_a_second_timer(database):
    ingest_lines(
        database, jsonl([registered(at="2026-11-01T09:00:00Z"), deposit("2026-11-01T10:00:00Z", "p1")]).splitlines()
    )
    with unit_of_work(database) as s:
        for e in s.scalars(select(Event)):
            e.status = PENDING
    processing.process_client(database, "C1")
    assert [t[0] for t in absence_timers(database)] == ["pending"]


def test_if_is_decided_when_the_silence_ends(database):
    from engine.clients.models import Client

    ingest_lines(
        database, jsonl([registered(at="2026-11-01T09:00:00Z"), deposit("2026-11-01T10:00:00Z", "p1")]).splitlines()
    )
    with unit_of_work(database) as s:
        s.scalar(select(Client)).status = "blocked"
    assert timers.fire_due(database, now=parse_datetime("2026-11-11T10:00:00Z")) == 0
    assert absence_timers(database)[0][::2] == ("cancelled", "if: did not hold when due")
    assert tasks(database) == []


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    "rule,message",
    [
        (
            "when: trade.closed\n    absent: {events: [trade.opened], for: 1d}",
            "6: r1: when: does not go with absent: (the events are given in absent:)",
        ),
        ("absent: {events: [trade.opend], for: 1d}", "6: r1: absent: unknown event type 'trade.opend'"),
        ("absent: {events: [trade.opened]}", "6: r1: absent: missing for"),
        (
            "absent: {events: [trade.opened], for: 1d}\n    if: [event.volume_lots > 1]",
            "7: r1: event.volume_lots: an absence rule has no triggering event; read client facts (client.*) "
            "or aggregates instead",
        ),
        (
            "absent: {events: [trade.opened], for: 1d}\n    after: 1h",
            "7: r1: after: does not go with absent: (it already waits)",
        ),
    ],
)
def test_absence_errors(rule, message):
    assert one_rule_errors(rule) == [message]
