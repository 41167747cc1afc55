"""The rules runtime on a real database: actions, explanations, idempotency, timers, activation."""

from __future__ import annotations

import re
import textwrap
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.events.models import Event
from engine.processing.ingest import ingest_lines
from engine.rules import activation, timers
from engine.rules.errors import RulesetInvalid
from engine.rules.models import RuleAction, RuleTimer
from engine.tasks.models import Task
from engine.values import parse_datetime
from tests.helpers import deposit_failed, event, jsonl, registered

RULES = """
ruleset: runtime-demo
description: Rules the runtime tests exercise.
definitions:
  conditions:
    still-pending: client.status == pending
rules:
  - id: failed-deposit
    description: One finance task per client for failed deposits of 10 USD or more.
    when: payment.deposit_failed
    if: [event.amount >= 10 USD]
    then:
      - task:
          queue: finance
          route: {event.reason_code: {card_declined: support}}
          title: "Failed deposit of {event.amount} {event.currency}: {event.reason}"
          due_in: 4h
          one_open_per: client
          close_when: payment.deposit_completed
  - id: stuck
    description: Three failures in an hour raise the task.
    when: payment.deposit_failed
    if: ["count(payment.deposit_failed within 1h) >= 3"]
    then:
      - raise_priority: {task_of: failed-deposit, to: urgent}
  - id: kyc-nudge
    description: A day after registering, a pending client is called by sales.
    when: client.registered
    if: [still-pending]
    after: 24h
    unless: ["client.kyc.status in [pending, approved]"]
    then:
      - task: {queue: sales, title: "Call {client.country} client about KYC", open_while: still-pending}
"""


SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture(autouse=True)
def _fresh_cache():
    activation.forget()
    yield
    activation.forget()


def activate(database, text=RULES):
    with unit_of_work(database) as s:
        return activation.activate_files(s, {"demo.yaml": textwrap.dedent(text)}, actor="test").version


def ingest(database, *events):
    report = ingest_lines(database, jsonl(events).splitlines())
    assert report.ok, report.rejected


def tasks(database):
    with unit_of_work(database) as s:
        return [(t.queue, t.title, t.priority, t.status, t.rule_id) for t in s.scalars(select(Task).order_by(Task.id))]


def test_actions_run_once_with_explanations(database):
    version = activate(database)
    ingest(
        database,
        registered("C1", at="2026-11-01T09:00:00Z"),
        deposit_failed("C1", at="2026-11-01T10:00:00Z", amount="50", reason_code="card_declined"),
        deposit_failed("C1", at="2026-11-01T10:10:00Z", amount="5"),
        deposit_failed("C1", at="2026-11-01T10:20:00Z", amount="60.5", currency="EUR"),
    )
    assert tasks(database) == [
        ("support", "Failed deposit of 50 USD: Your card was declined.", "urgent", "open", "failed-deposit")
    ]
    with unit_of_work(database) as s:
        task = s.scalar(select(Task))
        why = task.explanation
        # due_in 4h in the shipped business hours (rules/policy/queues.yaml, Mon-Fri
        # 09:00-18:00 UTC): triggered on Sunday 10:00, due Monday 13:00.
        assert task.ruleset_version == version and task.due_at == parse_datetime("2026-11-02T13:00:00Z")
        events = s.scalars(select(Event).where(Event.type == "payment.deposit_failed").order_by(Event.seq)).all()
        assert why["events"] == [events[0].seq] and why["ruleset_version"] == version
        assert why["facts"] == {"event.amount": "50 USD"}
        assert why["conditions"] == [
            {"text": "event.amount >= 10 USD", "result": "true", "read": "event.amount = 50 USD"}
        ]
        actions = [
            (a.rule_id, a.action, a.result.split(" ")[0]) for a in s.scalars(select(RuleAction).order_by(RuleAction.id))
        ]
        assert actions == [("failed-deposit", "task", "task"), ("stuck", "raise_priority", "raised")]
        assert all(e.ruleset_version == version for e in events)


@SQLITE_ONLY
def test_close_when_closes_the_open_task(database):
    activate(database)
    ingest(
        database,
        deposit_failed("C1", at="2026-11-01T10:00:00Z"),
        event(
            "payment.deposit_completed",
            "C1",
            "2026-11-01T11:00:00Z",
            payment_id="p9",
            amount="100",
            currency="USD",
            method="card",
            provider="stripe",
        ),
    )
    assert [t[3] for t in tasks(database)] == ["done"]


def test_delay_timer_fires_once_and_unless_cancels(database):
    activate(database)
    ingest(
        database,
        registered("C1", at="2026-11-01T09:00:00Z"),
        registered("C2", at="2026-11-01T09:00:00Z"),
        event("kyc.review_pending", "C2", "2026-11-01T12:00:00Z", provider="sumsub"),
    )
    with unit_of_work(database) as s:
        states = {t.client_ref: (t.status, t.due_at) for t in s.scalars(select(RuleTimer))}
    assert states["C1"] == ("pending", parse_datetime("2026-11-02T09:00:00Z"))
    assert states["C2"][0] == "cancelled"
    assert timers.fire_due(database, now=parse_datetime("2026-11-02T08:59:59Z")) == 0
    assert timers.fire_due(database, now=parse_datetime("2026-11-02T09:00:00Z")) == 1
    assert timers.fire_due(database, now=parse_datetime("2026-11-03T09:00:00Z")) == 0
    assert tasks(database) == [("sales", "Call DE client about KYC", "normal", "open", "kyc-nudge")]
    with unit_of_work(database) as s:
        why = s.scalar(select(Task)).explanation
    assert why["timer"]["due_at"].startswith("2026-11-02T09:00:00") and why["rule"] == "kyc-nudge"


def test_start_delay_starts_once_per_key_and_the_cached_pending_timers_see_it(database):
    """start_delay is one INSERT that skips an existing key; the client's pending timers,
    read through the read cache (runtime.cancel_timers), are read again after it."""
    from engine.db import cached

    ingest(database, registered("C1", at="2026-11-01T09:00:00Z"))
    start = dict(
        key="delay:r:test/1", client_ref="C1", rule_id="r", version="v1", event_seq=None, explanation={"why": 1}
    )
    at = parse_datetime("2026-11-02T09:00:00Z")
    with unit_of_work(database) as s:

        def pending():
            return cached(
                s, ("delay_timers", "C1"), frozenset({"rule_timers"}), lambda: timers.pending(s, "C1", "delay")
            )

        assert pending() == []
        assert timers.start_delay(s, due_at=at, **start) is True
        assert [(t.key, t.status, t.due_at, t.explanation) for t in pending()] == [
            ("delay:r:test/1", "pending", at, {"why": 1})
        ]
        assert timers.start_delay(s, due_at=at + timedelta(hours=1), **start) is False
    with unit_of_work(database) as s:
        assert [(t.key, t.due_at) for t in s.scalars(select(RuleTimer))] == [("delay:r:test/1", at)]


def test_the_set_based_path_reads_a_timers_trigger_the_session_holds_from_memory(database):
    """The rules' form loads the group's pending delay timers with the events that started
    them; an event the session holds already (one of the group) is not read again."""
    from sqlalchemy import event as sa_event

    from engine.rules import batch

    activate(database)
    ingest(database, registered("C1", at="2026-11-01T09:00:00Z"))  # starts kyc-nudge's timer
    selects = []

    def seen(_conn, _cursor, statement, *_rest):
        selects.append(re.search(r"\bFROM\s+(\w+)", statement)[1])

    with unit_of_work(database) as s:
        trigger = s.scalar(select(Event).where(Event.client_ref == "C1"))
        state = batch.RulesState(None)
        sa_event.listen(database.engine, "before_cursor_execute", seen)
        try:
            batch._load_timers(s, state, ["C1"], ["kyc-nudge"])
        finally:
            sa_event.remove(database.engine, "before_cursor_execute", seen)
    assert [t.trigger for t in state.timers["C1"]] == [trigger]
    assert selects == ["rule_timers"]


@SQLITE_ONLY
def test_open_while_closes_the_task_when_the_condition_clears(database):
    activate(database)
    ingest(database, registered("C1", at="2026-11-01T09:00:00Z"))
    timers.fire_due(database, now=parse_datetime("2026-11-02T09:00:00Z"))
    with unit_of_work(database) as s:
        from engine.clients.models import Client

        s.scalar(select(Client).where(Client.ref == "C1")).status = "approved"
    ingest(database, event("client.profile_updated", "C1", "2026-11-02T10:00:00Z", fields={"x": 1}))
    assert [t[3] for t in tasks(database)] == ["done"]


@SQLITE_ONLY
def test_activation_is_atomic_with_history_and_rollback(database):
    first = activate(database)
    with pytest.raises(RulesetInvalid):
        activate(
            database,
            RULES.replace("payment.deposit_failed\n    if: [event.amount", "payment.nope\n    if: [event.amount"),
        )
    second = activate(database, RULES.replace("due_in: 4h", "due_in: 8h"))
    with unit_of_work(database) as s:
        assert [a.version for a in activation.history(s)] == [second, first]
        activation.rollback(s, actor="test")
    with unit_of_work(database) as s:
        assert activation.active(s).version == first
        assert activation.current(s).ruleset.version == first


@SQLITE_ONLY
def test_no_active_ruleset_means_no_rule_actions(database):
    ingest(database, deposit_failed("C1"))
    assert tasks(database) == []
