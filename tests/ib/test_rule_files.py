"""The shipped IB rules: their YAML rule tests pass, and through the pipeline they pay once."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from engine import processing
from engine.db import unit_of_work
from engine.events.models import PENDING, Event
from engine.ib.models import IbCommission
from engine.rules import activation
from tests.ib.builders import client, deposit, ib, trade

ruletests_run = pytest.importorskip("engine.rules.ruletests_run", reason="the rule-test runner")


def test_the_ib_rule_tests_pass():
    ruleset, results = ruletests_run.run_dir("rules/ib")
    assert {"cpa-qualification", "lot-rebate"} <= {r.id for r in ruleset.rules}
    assert len(results) >= 10
    assert [line for r in results for line in ruletests_run.describe(r) if not line.endswith(": ok")] == []


@pytest.fixture
def shipped_rules_active(database):
    activation.forget()
    activation.activate_dir(database, "rules", actor="test")
    yield
    activation.forget()


def test_active_rules_pay_the_cpa_and_rebates_once(database, feed, shipped_rules_active):
    feed(ib("P-A", "IB-A", "A") + ib("P-B", "IB-B", "B", "IB-A"))
    feed(
        client("C1", "B")
        + [
            deposit("C1", "250.00", 1),
            trade("C1", "1.5", 2, held=7200),
            trade("C1", "0.5", 3, held=30),
            trade("C1", "0.5", 4, held=600),
        ]
    )
    with unit_of_work(database) as s:
        s.execute(update(Event).values(status=PENDING))  # a replay pays nothing again
    processing.process_all_pending(database)
    with unit_of_work(database) as s:
        rows = [
            (c.ib_id, c.type, f"{c.amount:.2f}", c.explanation["rule"])
            for c in s.scalars(select(IbCommission).order_by(IbCommission.id))
        ]
    # The 30s trade counts for nothing; the last trade reaches 2 lots: CPA, then its rebate.
    assert rows == [
        ("IB-B", "lot_rebate", "9.75", "lot-rebate"),
        ("IB-A", "override", "0.98", "lot-rebate"),
        ("IB-B", "cpa", "200.00", "cpa-qualification"),
        ("IB-A", "override", "20.00", "cpa-qualification"),
        ("IB-B", "lot_rebate", "3.25", "lot-rebate"),
        ("IB-A", "override", "0.33", "lot-rebate"),
    ]
