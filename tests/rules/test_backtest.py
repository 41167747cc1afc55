"""`rules backtest` compares outcomes, replayed in the order live processing applied the events:
the shipped rules replayed over the history they produced differ in nothing."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import demo
from engine.db import unit_of_work
from engine.processing.ingest import ingest_lines
from engine.rules import activation
from engine.rules.backtest import describe, run_backtest
from engine.rules.models import RuleTimer
from engine.rules.timers import fire_due
from engine.values import clock


@pytest.fixture(autouse=True)
def _fresh_cache():
    activation.forget()
    yield
    activation.forget()


def _demo(database):
    """`fxcrm demo` on the real clock, then the running app's ticker fires the timers due."""
    activation.activate_dir(database, "rules", actor="test")
    demo.load(database, clients=40, seed=7)
    fire_due(database)


def test_shipped_rules_replayed_over_the_demo_differ_in_nothing(database):
    _demo(database)
    report = run_backtest(database, "rules")
    assert report.events > 300 and report.same > 100
    assert report.differences == [], "\n".join(describe(report))


def _holdout(database, *, clients=40, seed=11):
    """A live stream of the load generator: a day's events arrive at its end, then the
    ticker fires the timers due (late events and timers interleave as they do live)."""
    activation.activate_dir(database, "rules", actor="test")
    events = sorted(demo.BrokerGenerator(seed).events(clients, total=clients * 30), key=lambda e: e["occurred_at"])
    day = demo.DEMO_START
    while events:
        day += timedelta(days=1)
        today = [e for e in events if e["occurred_at"] < day.isoformat()]
        events = events[len(today) :]
        clock.freeze(day)
        ingest_lines(database, (json.dumps(e) for e in today), via="holdout")
        fire_due(database, day)
    clock.freeze(None)


def test_shipped_rules_replayed_over_a_holdout_stream_differ_in_nothing(database):
    _holdout(database)
    with unit_of_work(database) as s:  # each timer remembers the run that settled it
        runs = set(s.scalars(select(RuleTimer.run_at).where(RuleTimer.run_at.is_not(None))))
    assert runs and {(r.hour, r.minute) for r in runs} == {(8, 0)}  # the day boundaries
    report = run_backtest(database, "rules")
    assert report.timer_runs == len(runs) > 5 and report.same > 100
    assert report.differences == [], "\n".join(describe(report))


def _changed(tmp_path, name: str, old: str, new: str):
    rules = tmp_path / name
    shutil.copytree("rules", rules)
    deposits = rules / "payments" / "deposits.yaml"
    text = deposits.read_text()
    assert old in text
    deposits.write_text(text.replace(old, new, 1))
    return str(rules)


def test_a_changed_queue_or_delay_is_reported_per_task_with_its_rule_and_reason(database, tmp_path):
    _holdout(database)
    report = run_backtest(database, _changed(tmp_path, "queue", "queue: sales\n", "queue: support\n"))
    assert report.differences
    assert {(d.kind, d.rule, d.change) for d in report.differences} == {("task", "funded-no-account", "changed")}
    first = report.differences[0]
    assert (first.live["queue"], first.candidate["queue"]) == ("sales", "support")
    assert "queue sales -> support" in first.line()
    assert first.reason.startswith("rule funded-no-account changed; candidate: because backoffice/")

    report = run_backtest(database, _changed(tmp_path, "delay", "    after: 24h\n", "    after: 1h\n"))
    # Clients who opened an account between 1h and 24h after their first deposit are now
    # called by sales; the calls the live rules made are the same calls, made earlier.
    assert len(report.differences) >= 3
    for difference in report.differences:
        assert (difference.kind, difference.rule, difference.change) == ("task", "funded-no-account", "added")
        assert difference.candidate["queue"] == "sales"
        assert "client.accounts.count=0" in difference.reason and " + timer)" in difference.line()


SMALL = """
ruleset: small
description: d
rules:
  - id: failed-deposit
    description: A task per failed deposit.
    when: payment.deposit_failed
    then: [{task: {queue: finance, title: "Failed {event.amount}"}}]
  - id: big-deposit-failed
    description: A second look at a big one.
    when: payment.deposit_failed
    if: ["event.amount >= 1000 USD"]
    then: [{task: {queue: compliance, title: "Big failure {event.amount}"}}]
"""


def test_a_deleted_rule_is_named_in_each_outcome_it_no_longer_leaves(database, tmp_path):
    from tests.helpers import deposit_failed, jsonl

    for name, text in (("live", SMALL), ("candidate", SMALL[: SMALL.index("  - id: big")])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "small.yaml").write_text(text)
    activation.activate_dir(database, str(tmp_path / "live"), actor="test")
    ingest_lines(
        database,
        jsonl([deposit_failed("C1", amount="5000"), deposit_failed("C2", amount="50")]).splitlines(),
        via="test",
    )
    report = run_backtest(database, str(tmp_path / "candidate"))
    assert [(d.client, d.kind, d.rule, d.change, d.live["queue"]) for d in report.differences] == [
        ("C1", "task", "big-deposit-failed", "removed", "compliance")
    ]
    reason = report.differences[0].reason
    assert (
        reason.startswith(
            "rule big-deposit-failed is not in the candidate; the candidate did not do it; live: because test/"
        )
        and "event.amount=5000 USD" in reason
    )
    assert report.same == 4  # the two failed-deposit tasks, and the state of C1 and of C2


def test_a_status_set_by_hand_is_set_again_in_the_replay(database, tmp_path):
    """Staff block a client by hand: only its announcement is an event; the replay redoes it."""
    from engine.clients.models import Client
    from engine.kyc import service as kyc_service
    from engine.processing import process_all_pending
    from tests.helpers import deposit_failed, jsonl, registered

    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "small.yaml").write_text(SMALL)
    activation.activate_dir(database, str(tmp_path / "live"), actor="test")
    ingest_lines(database, jsonl([registered("C1")]).splitlines(), via="test")
    with unit_of_work(database) as s:
        client = s.scalar(select(Client).where(Client.ref == "C1"))
        kyc_service.change_status(s, client=client, status="blocked", reason="fraud", actor="ana@example.com")
    process_all_pending(database)
    ingest_lines(database, jsonl([deposit_failed("C1", at="2026-11-02T10:00:00Z")]).splitlines(), via="test")
    report = run_backtest(database, str(tmp_path / "live"))
    assert report.differences == [], "\n".join(describe(report))
    assert report.events == 3  # registered, the status announcement, the failed deposit


def test_a_task_reprioritised_by_staff_is_compared_as_rules_left_it(database, tmp_path):
    from engine.tasks import service as tasks_service
    from engine.tasks.models import Task
    from tests.helpers import deposit_failed, jsonl

    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "small.yaml").write_text(SMALL)
    activation.activate_dir(database, str(tmp_path / "live"), actor="test")
    ingest_lines(database, jsonl([deposit_failed("C1", amount="50")]).splitlines(), via="test")
    with unit_of_work(database) as s:
        task = s.scalar(select(Task).where(Task.rule_id == "failed-deposit"))
        tasks_service.set_priority(s, task, "high", actor="ana@example.com", reason="VIP")
    report = run_backtest(database, str(tmp_path / "live"))
    assert report.differences == [], "\n".join(describe(report))
    assert report.same == 2  # the task (as the rule left it: normal) and C1's state
