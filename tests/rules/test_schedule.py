"""Scheduled rules: a daily sweep over the clients, selected in SQL, acting once per client and day."""

from __future__ import annotations

import textwrap

import pytest
from sqlalchemy import select

from engine import domains
from engine.db import unit_of_work
from engine.processing.ingest import ingest_lines
from engine.rules import activation, ir, schedule
from engine.rules.errors import RulesetInvalid
from engine.rules.models import SCHEDULE, RuleTimer
from engine.tasks.models import Task
from engine.values import parse_datetime
from tests.helpers import event, jsonl, registered
from tests.rules.conftest import compile_text, one_rule_errors

RULES = """
ruleset: sweep
description: d
rules:
  - id: german-depositors
    description: German clients with a deposit, every morning.
    schedule: daily at 06:00
    if:
      - client.country == DE
      - client.status not in [blocked, rejected]
      - count(payment.deposit_completed) >= 1
    then:
      - task: {queue: sales, title: "Call {client.country} depositor"}
"""


def activate(database, note: str = "") -> None:
    with unit_of_work(database) as s:
        activation.activate_files(s, {"sweep.yaml": textwrap.dedent(RULES) + note}, actor="test")


@pytest.fixture(autouse=True)
def _clients(database):
    activation.forget()
    deposit = dict(amount="100", currency="USD", method="card", provider="stripe")
    ingest_lines(
        database,
        jsonl(
            [
                registered("C1", at="2026-06-01T09:00:00Z"),
                registered("C2", at="2026-06-01T09:00:00Z", country="GB"),
                registered("C3", at="2026-06-01T09:00:00Z"),
                event("payment.deposit_completed", "C1", "2026-06-02T09:00:00Z", payment_id="p1", **deposit),
                event("payment.deposit_completed", "C2", "2026-06-02T09:00:00Z", payment_id="p2", **deposit),
            ]
        ).splitlines(),
    )
    yield
    activation.forget()


def tasks(database) -> list[tuple[str, str]]:
    with unit_of_work(database) as s:
        return [(t.client_ref, t.title) for t in s.scalars(select(Task).order_by(Task.id))]


def test_clients_who_already_match_at_activation_are_found_by_the_first_sweep(database):
    activate(database)  # after the events: no event of theirs comes again
    assert schedule.run_due(database, now=parse_datetime("2026-07-01T10:00:00Z")) == 1
    assert tasks(database) == [("C1", "Call DE depositor")]
    with unit_of_work(database) as s:
        task = s.scalar(select(Task))
        assert task.explanation["schedule"] == {
            "slot": "2026-07-01T06:00:00Z",
            "day": "2026-07-01",
            "every": "daily at 06:00 UTC",
        }
        assert task.explanation["facts"]["count(payment.deposit_completed)"] == 1
        marker = s.scalar(select(RuleTimer).where(RuleTimer.kind == SCHEDULE))
        assert (marker.status, marker.outcome) == ("fired", "acted for 1 of 2 candidate clients")


def test_running_twice_or_under_a_new_version_the_same_day_acts_once(database):
    activate(database)
    assert schedule.run_due(database, now=parse_datetime("2026-07-01T06:00:00Z")) == 1
    assert schedule.run_due(database, now=parse_datetime("2026-07-01T23:59:59Z")) == 0
    activate(database, note="# a new version\n")
    assert schedule.run_due(database, now=parse_datetime("2026-07-01T23:59:59Z")) == 0
    assert len(tasks(database)) == 1
    assert schedule.run_due(database, now=parse_datetime("2026-07-02T06:00:00Z")) == 1  # the next day
    assert len(tasks(database)) == 2


def test_before_the_time_of_day_the_previous_day_is_due(database):
    activate(database)
    assert schedule.run_due(database, now=parse_datetime("2026-07-01T05:59:59Z")) == 1
    with unit_of_work(database) as s:
        assert s.scalar(select(Task)).explanation["schedule"]["day"] == "2026-06-30"


def test_candidates_are_selected_in_sql_by_the_client_columns(database):
    rule = compile_text(RULES).rule("german-depositors")
    sql = str(schedule.candidates(rule).compile(compile_kwargs={"literal_binds": True}))
    assert "clients.country = 'DE'" in sql and "clients.status NOT IN ('blocked', 'rejected')" in sql
    with unit_of_work(database) as s:
        assert list(s.scalars(schedule.candidates(rule))) == ["C1", "C3"]  # C2 is in GB


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    "now,slot",
    [
        ("2026-07-01T05:30:00Z", "2026-07-01T05:00:00+00:00"),
        ("2026-07-01T04:59:59Z", "2026-06-30T05:00:00+00:00"),
        ("2026-12-01T06:00:00Z", "2026-12-01T06:00:00+00:00"),
    ],
)
def test_the_time_of_day_is_in_the_named_zone(now, slot):
    assert schedule.latest_slot(ir.Schedule("06:00", "Europe/London"), parse_datetime(now)).isoformat() == slot


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_ticker_runs_the_scheduled_rules_after_the_timers():
    found = domains.sweeps()
    assert found.index("engine.rules.schedule:run_due") == found.index("engine.rules.timers:fire_due") + 1


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    "rule,message",
    [
        (
            "schedule: weekly",
            "6: r1: schedule: write `daily`, `daily at 06:00` or `daily at 06:00 Europe/London`, not 'weekly'",
        ),
        ("schedule: daily at 25:00", "6: r1: schedule: 25:00 is not a time of day (00:00 to 23:59)"),
        (
            "schedule: daily at 06:00 Europe/Lundon",
            "6: r1: schedule: unknown time zone 'Europe/Lundon' (an IANA name like Europe/London, or UTC)",
        ),
        (
            "schedule: daily\n    if: [event.amount >= 10 USD]",
            "7: r1: event.amount: a scheduled rule has no triggering event; read client facts (client.*) "
            "or aggregates instead",
        ),
        (
            "schedule: daily\n    when: payment.deposit_completed",
            "7: r1: when: does not go with schedule: (a scheduled rule looks at every client, not at one event)",
        ),
    ],
)
def test_schedule_errors(rule, message):
    assert one_rule_errors(rule) == [message]
