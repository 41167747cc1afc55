"""End to end: a three-level IB tree, clients that qualify and ones that do not, a clawback."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from engine import processing
from engine.db import unit_of_work
from engine.events.models import PENDING, Event
from engine.processing.ingest import ingest_lines
from engine.ib.commissions import money_text
from engine.ib.models import IbCommission
from tests.helpers import jsonl
from tests.ib.builders import client, deposit, ib, trade


def tree() -> list[dict]:
    """The tree IB-MASTER > IB-MID > IB-LEAF."""
    return (
        ib("P-MASTER", "IB-MASTER", "MASTER1")
        + ib("P-MID", "IB-MID", "MID1", "IB-MASTER")
        + ib("P-LEAF", "IB-LEAF", "LEAF1", "IB-MID")
    )


def scenario() -> list[dict]:
    """Five referred clients: one qualifies, three do not, one qualifies and charges back."""
    events = client("C-GOOD", "LEAF1") + [
        deposit("C-GOOD", "250.00", 1),
        trade("C-GOOD", "1.5", 2, held=7200),
        trade("C-GOOD", "0.75", 3, held=600),
    ]
    events += client("C-SMALL", "LEAF1") + [
        deposit("C-SMALL", "150.00", 1),
        trade("C-SMALL", "3", 2, held=3600, symbol="GBPUSD"),
    ]
    events += client("C-SCALP", "LEAF1") + [
        deposit("C-SCALP", "500.00", 1),
        trade("C-SCALP", "2.5", 2, held=20),
        trade("C-SCALP", "2", 2.5, held=45),
    ]
    events += client("C-LATE", "LEAF1") + [
        deposit("C-LATE", "500.00", 1),
        trade("C-LATE", "3", 40, held=3600, symbol="XAUUSD"),
    ]
    events += client("C-CB", "MID1") + [
        deposit("C-CB", "300.00", 1, payment_id="pay-cb"),
        trade("C-CB", "2", 2, held=120),
        deposit("C-CB", "300.00", 10, payment_id="pay-cb", status="charged_back"),
    ]
    return events


EXPECTED = sorted(
    [
        # C-GOOD: two EURUSD rebates (6.50/lot) with overrides, then the CPA with overrides.
        ("IB-LEAF", "C-GOOD", "lot_rebate", "9.75"),
        ("IB-MID", "C-GOOD", "override", "0.98"),
        ("IB-MASTER", "C-GOOD", "override", "0.49"),
        ("IB-LEAF", "C-GOOD", "lot_rebate", "4.88"),
        ("IB-MID", "C-GOOD", "override", "0.49"),
        ("IB-MASTER", "C-GOOD", "override", "0.24"),
        ("IB-LEAF", "C-GOOD", "cpa", "200.00"),
        ("IB-MID", "C-GOOD", "override", "20.00"),
        ("IB-MASTER", "C-GOOD", "override", "10.00"),
        # C-SMALL: first deposit too small, no CPA; its GBPUSD trade earns the default 5/lot.
        ("IB-LEAF", "C-SMALL", "lot_rebate", "15.00"),
        ("IB-MID", "C-SMALL", "override", "1.50"),
        ("IB-MASTER", "C-SMALL", "override", "0.75"),
        # C-SCALP: every trade too short: nothing at all.
        # C-LATE: trades after 30 days: no CPA, but the XAUUSD trade earns the metals rebate.
        ("IB-LEAF", "C-LATE", "lot_rebate", "36.00"),
        ("IB-MID", "C-LATE", "override", "3.60"),
        ("IB-MASTER", "C-LATE", "override", "1.80"),
        # C-CB: MID's own client; CPA and rebate, then the chargeback reverses the CPA.
        ("IB-MID", "C-CB", "lot_rebate", "13.00"),
        ("IB-MASTER", "C-CB", "override", "1.30"),
        ("IB-MID", "C-CB", "cpa", "200.00"),
        ("IB-MASTER", "C-CB", "override", "20.00"),
        ("IB-MID", "C-CB", "reversal", "-200.00"),
        ("IB-MASTER", "C-CB", "reversal", "-20.00"),
    ]
)


def commissions(database) -> list[tuple]:
    with unit_of_work(database) as s:
        rows = s.scalars(select(IbCommission))
        return sorted((c.ib_id, c.client_ref, c.type, money_text(c.amount)) for c in rows)


def test_three_level_tree_pays_exactly_once(database, runner):
    assert ingest_lines(database, jsonl(tree()).splitlines()).ok
    lines = jsonl(scenario()).splitlines()
    report = ingest_lines(database, lines)
    assert report.ok and report.accepted == len(lines)
    assert commissions(database) == EXPECTED

    # Delivered twice: the same file again, and the same facts under new event ids.
    assert ingest_lines(database, lines).duplicate == len(lines)
    redelivered = [dict(json.loads(line), source="resend") for line in lines]
    ingest_lines(database, jsonl(redelivered).splitlines())
    # Replayed: every event processed again from scratch.
    with unit_of_work(database) as s:
        s.execute(update(Event).values(status=PENDING))
    processing.process_all_pending(database)
    assert commissions(database) == EXPECTED

    profile = json.loads(runner.invoke(["clients", "show", "C-GOOD", "--json"]).output)
    assert [link["ib_id"] for link in profile["ib"]["chain"]] == ["IB-LEAF", "IB-MID", "IB-MASTER"]
    cpa = next(c for c in profile["commissions"] if c["type"] == "cpa")
    assert (cpa["ib"], cpa["amount"], cpa["currency"], cpa["status"]) == ("IB-LEAF", "200.00", "USD", "pending_review")
    # An IB's own profile lists what it earned, with its code and sub-IBs.
    own = json.loads(runner.invoke(["clients", "show", "P-MID", "--json"]).output)
    assert own["ib"]["own"]["sub_ibs"] == ["IB-LEAF"]
    assert sorted(c["amount"] for c in own["commissions"] if c["ib"] == "IB-MID") == sorted(
        amount for ib_id, _, _, amount in EXPECTED if ib_id == "IB-MID"
    )
