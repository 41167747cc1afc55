"""Payout workflow: review, rejection with reason, batches with a finance task, paid; adjustments."""

from __future__ import annotations

import json

from sqlalchemy import select

from engine.db import unit_of_work
from engine.ib.models import IbCommission, IbCommissionChange
from engine.tasks.models import Task
from tests.ib.builders import client, deposit, ib, trade

TREE = ib("P-TOP", "IB-TOP", "TOP") + ib("P-SUB", "IB-SUB", "SUB", "IB-TOP")
# CPA 200 (IB-SUB) + override 20 (IB-TOP); rebate 13.00 (IB-SUB) + override 1.30 (IB-TOP).
QUALIFIED = client("C1", "SUB") + [deposit("C1", "250.00", 1), trade("C1", "2", 2, held=600)]


def ids(database, **where) -> dict[tuple, int]:
    with unit_of_work(database) as s:
        stmt = select(IbCommission)
        for name, value in where.items():
            stmt = stmt.where(getattr(IbCommission, name) == value)
        return {(c.ib_id, c.type): c.id for c in s.scalars(stmt)}


def test_review_batch_and_pay(database, feed, runner, earned):
    feed(TREE)
    feed(QUALIFIED)
    by = ids(database)
    cpa, rebate = by[("IB-SUB", "cpa")], by[("IB-SUB", "lot_rebate")]
    assert runner.invoke(["ib", "reject", str(cpa)]).exit_code == 2  # --reason is required
    out = runner.invoke(["ib", "reject", str(cpa), "--reason", "duplicate account", "--by", "fin@x.com"])
    assert out.exit_code == 0 and len(out.output.split(",")) == 2  # the CPA and its override
    approve = [str(i) for (ib_id, kind), i in by.items() if kind != "cpa" and (ib_id, kind) != ("IB-TOP", "override")]
    approve += [str(i) for (ib_id, kind), i in ids(database, type="override", amount="1.30").items()]
    assert runner.invoke(["ib", "approve", *approve, "--by", "fin@x.com"]).exit_code == 0

    created = runner.invoke(["ib", "payouts", "create", "--by", "fin@x.com"])
    assert created.output.startswith("batch #1: 14.30000000 USD")
    with unit_of_work(database) as s:
        task = s.scalar(select(Task).where(Task.queue == "finance"))
        assert task.title == "Pay IB payout batch #1: 14.30000000 USD to 2 IB(s)"
        assert task.description == "IB-SUB: 13.00000000 USD\nIB-TOP: 1.30000000 USD"
    assert runner.invoke(["ib", "payouts", "create"]).exit_code == 1  # nothing left to pay
    assert runner.invoke(["ib", "payouts", "paid", "1", "--reference", "WIRE-77", "--by", "cfo@x.com"]).exit_code == 0
    assert runner.invoke(["ib", "payouts", "paid", "1", "--reference", "WIRE-77"]).exit_code == 1
    assert sorted(earned()) == sorted(
        [
            ("IB-SUB", "C1", "lot_rebate", "13.00", "paid"),
            ("IB-TOP", "C1", "override", "1.30", "paid"),
            ("IB-SUB", "C1", "cpa", "200.00", "rejected"),
            ("IB-TOP", "C1", "override", "20.00", "rejected"),
        ]
    )
    with unit_of_work(database) as s:
        assert s.get(Task, task.id).status == "done"
        history = [
            (c.from_status, c.to_status, c.actor)
            for c in s.scalars(
                select(IbCommissionChange)
                .where(IbCommissionChange.commission_id == rebate)
                .order_by(IbCommissionChange.id)
            )
        ]
    assert history == [
        (None, "pending_review", "policy"),
        ("pending_review", "approved", "fin@x.com"),
        ("approved", "paid", "cfo@x.com"),
    ]


def test_adjustments_need_a_reason_and_negative_totals_wait(database, feed, runner):
    feed(TREE)
    assert runner.invoke(["ib", "adjust", "IB-SUB", "-50", "USD"]).exit_code == 2
    assert runner.invoke(["ib", "adjust", "IB-SUB", "-50", "USD", "--reason", " "]).exit_code == 1
    out = runner.invoke(["ib", "adjust", "IB-SUB", "-50", "USD", "--reason", "overpaid in May"])
    assert out.output == "adjustment #1 recorded, pending review\n"
    runner.invoke(["ib", "adjust", "IB-TOP", "10.005", "USD", "--reason", "bonus"])
    runner.invoke(["ib", "approve", "1", "2"])
    assert runner.invoke(["ib", "payouts", "create"]).output.startswith("batch #1: 10.00500000 USD")
    rows = json.loads(runner.invoke(["ib", "commissions", "--json"]).output)
    assert {(r["ib"], r["amount"], r["batch_id"]) for r in rows} == {
        ("IB-SUB", "-50.00", None),
        ("IB-TOP", "10.005", 1),
    }


def test_manual_reversal_makes_new_records_once(database, feed, runner, earned):
    feed(TREE)
    feed(QUALIFIED)
    cpa = ids(database)[("IB-SUB", "cpa")]
    out = runner.invoke(["ib", "reverse", str(cpa), "--reason", "fraud ring"])
    assert out.exit_code == 0 and len(out.output.split(",")) == 2
    assert "already reversed" in runner.invoke(["ib", "reverse", str(cpa), "--reason", "again"]).output
    assert ("IB-SUB", "C1", "cpa", "200.00", "pending_review") in earned()  # never edited
    assert [row[3] for row in earned(type="reversal")] == ["-200.00", "-20.00"]
