"""Commission amounts: rebates, spread and revenue share, caps, overrides, clawback windows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.ib.models import IbCommission
from tests.ib.builders import client, deposit, ib, trade

TREE = ib("P-TOP", "IB-TOP", "TOP") + ib("P-SUB", "IB-SUB", "SUB", "IB-TOP")


def explanation(database, commission_type: str, index: int = -1) -> dict:
    with unit_of_work(database) as s:
        rows = s.scalars(
            select(IbCommission).where(IbCommission.type == commission_type).order_by(IbCommission.id)
        ).all()
        return rows[index].explanation


def test_per_lot_rebate_only_for_trades_held_long_enough(database, feed, earned):
    feed(TREE)
    feed(
        client("C1", "SUB")
        + [trade("C1", "1", 1, held=59), trade("C1", "1", 1, held=60), trade("C1", "0.01", 1, held=3600)]
    )
    assert earned(type="lot_rebate") == [
        ("IB-SUB", "C1", "lot_rebate", "6.50", "pending_review"),
        ("IB-SUB", "C1", "lot_rebate", "0.07", "pending_review"),
    ]
    first = explanation(database, "lot_rebate", 0)
    assert first["computation"] == "1 lots x 6.50 USD (symbol EURUSD)"
    assert first["trade"]["held_seconds"] == 60 and first["rule"] == "profile:standard"


def test_caps_per_client_reduce_then_stop_commissions(database, feed, earned, ib_rules):
    ib_rules("profiles.yaml", 'per_client: "1000"', 'per_client: "20"')
    feed(TREE)
    feed(
        client("C1", "SUB")
        + [trade("C1", "2", 1, held=600), trade("C1", "2", 2, held=600), trade("C1", "1", 3, held=600)]
    )
    assert earned(ib_id="IB-SUB") == [
        ("IB-SUB", "C1", "lot_rebate", "13.00", "pending_review"),
        ("IB-SUB", "C1", "lot_rebate", "7.00", "pending_review"),
    ]
    assert explanation(database, "lot_rebate")["caps"] == ["capped at 20 USD per client: 13.00 reduced to 7.00"]


def test_monthly_cap_counts_every_client_of_the_ib(feed, earned, ib_rules):
    ib_rules("profiles.yaml", 'per_month: "25000"', 'per_month: "30"')
    feed(TREE)
    feed(
        client("C1", "SUB")
        + client("C2", "SUB")
        + [
            trade("C1", "4", 1, held=600, symbol="GBPUSD"),
            trade("C2", "4", 2, held=600, symbol="GBPUSD"),
            trade("C2", "4", 35, held=600, symbol="GBPUSD"),
        ]
    )  # next month: room again
    assert [row[3] for row in earned(ib_id="IB-SUB")] == ["20.00", "10.00", "20.00"]


def test_spread_share_and_revenue_share(feed, earned, ib_rules):
    ib_rules("profiles.yaml", "    IB-MASTER: master", "    IB-TOP: master\n    IB-SUB: revshare-partner")
    feed(TREE)
    feed(
        client("C1", "TOP")
        + client("C2", "SUB")
        + [trade("C1", "2", 1, held=600), trade("C2", "2", 1, held=600, fee="-3.50")]
    )
    assert earned(client_ref="C1") == [
        ("IB-TOP", "C1", "lot_rebate", "12.00", "pending_review"),
        ("IB-TOP", "C1", "spread_share", "1.40", "pending_review"),
    ]
    # 25% of (2 lots x 7 spread + 3.50 fees) = 4.375, rounded half up; master takes 10% of it.
    assert earned(client_ref="C2") == [
        ("IB-SUB", "C2", "revshare", "4.38", "pending_review"),
        ("IB-TOP", "C2", "override", "0.44", "pending_review"),
    ]


QUALIFYING = [deposit("C1", "200.00", 1, payment_id="p1"), trade("C1", "2", 2, held=600)]


@pytest.mark.parametrize(
    "status, day, reversed_", [("charged_back", 30, True), ("refunded", 80, True), ("refunded", 120, False)]
)
def test_clawback_only_within_the_window(feed, earned, status, day, reversed_):
    feed(TREE)
    feed(client("C1", "SUB") + QUALIFYING + [deposit("C1", "200.00", day, payment_id="p1", status=status)])
    reversals = earned(type="reversal")
    assert bool(reversals) is reversed_
    if reversed_:
        assert reversals == [
            ("IB-SUB", "C1", "reversal", "-200.00", "pending_review"),
            ("IB-TOP", "C1", "reversal", "-20.00", "pending_review"),
        ]


def test_a_deposit_that_did_not_qualify_claws_nothing_back(feed, earned):
    feed(TREE)
    feed(
        client("C1", "SUB")
        + QUALIFYING
        + [deposit("C1", "50.00", 3, payment_id="p2"), deposit("C1", "50.00", 4, payment_id="p2", status="refunded")]
    )
    assert earned(type="cpa") and not earned(type="reversal")


def test_a_chargeback_before_qualifying_prevents_the_cpa(feed, earned):
    feed(TREE)
    feed(
        client("C1", "SUB")
        + [
            deposit("C1", "20.00", 0.5, payment_id="p0"),
            deposit("C1", "20.00", 0.6, payment_id="p0", status="charged_back"),
        ]
        + QUALIFYING
    )
    assert not earned(type="cpa")


def test_record_commission_as_the_rules_action_calls_it(database, feed, earned):
    from engine.ib.errors import IbError
    from engine.ib.service import record_commission

    feed(TREE)
    feed(client("C1", "SUB") + client("C2"))
    with unit_of_work(database) as s:
        made = record_commission(
            s,
            client="C1",
            type="cpa",
            explanation={"rule": "r1"},
            amount={"amount": "150", "currency": "EUR"},
            review=False,
        )
        assert [(c.ib_id, c.currency) for c in made] == [("IB-SUB", "EUR"), ("IB-TOP", "EUR")]
        assert record_commission(s, client="C1", type="cpa", explanation={"rule": "r1"}) == []
        assert record_commission(s, client="C2", type="cpa", explanation={"rule": "r1"}) == []
        with pytest.raises(IbError, match="needs the trade.closed event"):
            record_commission(s, client="C1", type="lot_rebate", explanation={})
        with pytest.raises(IbError, match="unknown commission type 'hybrid'"):
            record_commission(s, client="C1", type="hybrid", explanation={})
    assert earned() == [
        ("IB-SUB", "C1", "cpa", "150.00", "approved"),
        ("IB-TOP", "C1", "override", "15.00", "approved"),
    ]
