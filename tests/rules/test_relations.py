"""Comparisons between two values with a factor (`event.amount > 5 * client.deposits.completed.avg`)."""

from __future__ import annotations

import textwrap
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.processing.ingest import ingest_lines
from engine.rules import activation
from engine.rules.matcher import RuleMatcher
from engine.tasks.models import Task
from engine.values import Money
from tests.helpers import event, jsonl, registered
from tests.rules.conftest import compile_text

RULES = """
ruleset: relations
description: Deposits far above the client's usual.
rules:
  - id: unusual-deposit
    description: A deposit request over five times the client's average completed deposit.
    when: payment.deposit_requested
    if:
      - event.amount > 5 * client.deposits.completed.avg
    then:
      - task: {queue: compliance, title: "Unusual deposit of {event.amount} {event.currency}"}
"""


@pytest.fixture(autouse=True)
def _fresh_cache():
    activation.forget()
    yield
    activation.forget()


def _deposit(kind, at, amount, pid, currency="USD"):
    return event(
        f"payment.deposit_{kind}",
        "C1",
        at,
        payment_id=pid,
        amount=amount,
        currency=currency,
        method="card",
        provider="stripe",
    )


def test_amount_against_five_times_the_average_deposit(database):
    with unit_of_work(database) as s:
        activation.activate_files(s, {"r.yaml": textwrap.dedent(RULES)}, actor="test")
    report = ingest_lines(
        database,
        jsonl(
            [
                registered("C1", at="2026-11-01T09:00:00Z"),
                _deposit("completed", "2026-11-01T10:00:00Z", "100.00", "p1"),
                _deposit("completed", "2026-11-01T11:00:00Z", "100.00", "p2"),
                _deposit("requested", "2026-11-02T10:00:00Z", "500.00", "p3"),  # exactly 5x: not over
                _deposit("requested", "2026-11-02T11:00:00Z", "500.01", "p4"),  # over
                _deposit("requested", "2026-11-02T12:00:00Z", "9000.00", "p5", "EUR"),  # another currency: false
            ]
        ).splitlines(),
    )
    assert report.ok, report.rejected
    with unit_of_work(database) as s:
        tasks = s.scalars(select(Task).order_by(Task.id)).all()
        assert [t.title for t in tasks] == ["Unusual deposit of 500.01 USD"]
        why = tasks[0].explanation
        assert why["facts"] == {"event.amount": "500.01 USD", "client.deposits.completed.avg": "100 USD"}
        assert why["conditions"] == [
            {
                "text": "event.amount > 5 * client.deposits.completed.avg",
                "result": "true",
                "read": "event.amount = 500.01, client.deposits.completed.avg = 100",
            }
        ]


def _matches(condition: str, data: dict, facts: dict) -> list[list[str]]:
    rs = compile_text(f"""
        ruleset: t
        description: d
        rules:
          - id: r
            description: d
            when: payment.deposit_requested
            if: ["{condition}"]
            then: [{{task: {{queue: finance, title: t}}}}]
        """)
    found = []
    for engine in ("durable", "python"):
        matcher = RuleMatcher(rs, engine=engine)
        values = matcher.read({"type": "payment.deposit_requested", "data": data}, facts, 0)
        found.append([r.id for r in matcher.match("payment.deposit_requested", values)])
    return found


@pytest.mark.parametrize(
    "condition, data, facts, expected",
    [
        (
            "event.amount >= client.deposits.completed.sum * 0.5",
            {"amount": "50", "currency": "USD"},
            {"client.deposits.completed.sum": Money(Decimal(100), "USD")},
            ["r"],
        ),
        (
            "event.amount >= client.deposits.completed.sum * 0.5",
            {"amount": "49.99", "currency": "USD"},
            {"client.deposits.completed.sum": Money(Decimal(100), "USD")},
            [],
        ),
        (
            "event.amount != client.deposits.completed.sum",
            {"amount": "100", "currency": "EUR"},
            {"client.deposits.completed.sum": Money(Decimal(100), "USD")},
            ["r"],
        ),
        ("event.amount != client.deposits.completed.sum", {"amount": "100", "currency": "USD"}, {}, ["r"]),
        ("event.amount < client.deposits.completed.sum", {"amount": "1", "currency": "USD"}, {}, []),
        (
            "client.trades.lots > 2 * client.balance",
            {},
            {"client.trades.lots": Decimal("4.00000001"), "client.balance": Decimal(2)},
            ["r"],
        ),
        (
            "client.trades.lots > 2 * client.balance",
            {},
            {"client.trades.lots": Decimal("4"), "client.balance": Decimal(2)},
            [],
        ),
    ],
)
def test_both_evaluators_agree_on_relations(condition, data, facts, expected):
    assert _matches(condition, data, facts) == [expected, expected]
