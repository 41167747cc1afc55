"""IB commissions do not depend on the order in which a referred client's events arrive.

Under the shipped rules (rules/ib: per-lot rebates and the CPA) each scenario delivers
the same history to several clients of one database, one event per delivery: in
occurred_at order, and with the event that makes the IB known (the client's own
registration, the IB's registration, an `ib.referral_attributed`) arriving last, after
the trades it should pay for. The commissions must be the same.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.db import unit_of_work
from engine.ib.models import IbCommission
from engine.rules import activation
from tests.helpers import event
from tests.ib.builders import at, client, deposit, ib, trade


@pytest.fixture(autouse=True)
def shipped_rules(database):
    activation.forget()
    activation.activate_dir(database, "rules", actor="test")
    yield
    activation.forget()


def history(ref: str) -> list[dict]:
    """KYC, a 250 USD deposit and four trades: one held under a minute, one of 100 lots."""
    return [
        client(ref)[1],
        deposit(ref, "250.00", 1.1, payment_id=f"{ref}-p1"),
        trade(ref, "1.5", 2, held=600, ticket=f"{ref}-1"),  # 1.5 x 6.50 = 9.75
        trade(ref, "3", 2.5, held=30, ticket=f"{ref}-2"),  # scalping: nothing
        trade(ref, "2", 3, held=3600, ticket=f"{ref}-3"),  # 13.00; 3.5 lots: the CPA
        trade(ref, "200", 4, held=3600, ticket=f"{ref}-4"),
    ]  # capped at 1000 per client


def deliver(feed, events: list[dict]) -> None:
    for e in events:
        feed([e])  # stored and processed before the next one arrives


def commissions(database, ref: str) -> list[tuple]:
    with unit_of_work(database) as s:
        rows = s.execute(
            select(IbCommission.ib_id, IbCommission.type, IbCommission.amount)
            .where(IbCommission.client_ref == ref)
            .order_by(IbCommission.id)
        ).all()
    return sorted((ib_id, kind, f"{amount:.2f}") for ib_id, kind, amount in rows)


EXPECTED = [
    ("IB-A", "cpa", "200.00"),
    ("IB-A", "lot_rebate", "13.00"),
    ("IB-A", "lot_rebate", "777.25"),
    ("IB-A", "lot_rebate", "9.75"),
]


def test_a_late_registration_or_a_late_ib_earns_what_in_order_delivery_earns(database, feed):
    deliver(feed, ib("P-A", "IB-A", "A"))
    in_order = client("C-IN", "A", day=1)[:1] + history("C-IN")
    deliver(feed, in_order)
    # The client's own registration (with the referral code) arrives after its trades.
    deliver(feed, history("C-REG") + client("C-REG", "A", day=1)[:1])
    # The IB registers after the client's trades were processed (another client's event).
    deliver(feed, client("C-IB", "B", day=1)[:1] + history("C-IB"))
    assert commissions(database, "C-IB") == []
    deliver(feed, [e for e in ib("P-B", "IB-B", "B")])
    assert commissions(database, "C-IN") == EXPECTED
    assert commissions(database, "C-REG") == EXPECTED
    assert commissions(database, "C-IB") == [("IB-B",) + row[1:] for row in EXPECTED]


def test_trades_before_a_late_referral_attribution_still_earn_nothing(database, feed):
    deliver(feed, ib("P-A", "IB-A", "A"))
    attributed = lambda ref: event("ib.referral_attributed", ref, at(2.2), ib_id="IB-A")  # noqa: E731
    deliver(feed, client("C-IN", day=1)[:1] + history("C-IN")[:3] + [attributed("C-IN")] + history("C-IN")[3:])
    deliver(feed, client("C-LATE", day=1)[:1] + history("C-LATE") + [attributed("C-LATE")])
    # The 1.5-lot trade closed before the attribution earns no rebate; the per-client
    # cap of 1000 USD (CPA included) leaves 787.00 for the 200-lot trade.
    expected = [("IB-A", "cpa", "200.00"), ("IB-A", "lot_rebate", "13.00"), ("IB-A", "lot_rebate", "787.00")]
    assert commissions(database, "C-IN") == expected
    assert commissions(database, "C-LATE") == expected


def test_a_repeated_attribution_pays_nothing_twice(database, feed):
    deliver(feed, client("C-IB", "B", day=1)[:1] + history("C-IB"))
    registration = ib("P-B", "IB-B", "B")
    deliver(feed, registration)
    deliver(feed, registration)  # the same deliveries again: duplicates
    deliver(feed, [event("ib.referral_attributed", "C-IB", at(5), ib_id="IB-B")])
    with unit_of_work(database) as s:
        total = s.scalar(select(func.count()).select_from(IbCommission))
    assert total == len(EXPECTED)


def test_an_ib_registered_in_the_same_transaction_as_the_trades_pays_for_them(database, feed):
    # One delivery: the clients are processed in one transaction, C-IB (by ref) before
    # P-B, whose IB registration then finds trades applied but not yet marked processed.
    feed(client("C-IB", "B", day=1)[:1] + history("C-IB") + ib("P-B", "IB-B", "B"))
    assert commissions(database, "C-IB") == [("IB-B",) + row[1:] for row in EXPECTED]


def cpa_records(database, ref: str) -> list[tuple]:
    with unit_of_work(database) as s:
        rows = s.execute(
            select(IbCommission.type, IbCommission.amount, IbCommission.earned_at)
            .where(IbCommission.client_ref == ref, IbCommission.type.in_(("cpa", "reversal")))
            .order_by(IbCommission.id)
        ).all()
    return [(kind, f"{amount:.2f}", earned_at) for kind, amount, earned_at in rows]


def test_a_late_attribution_earns_the_cpa_as_of_each_event_and_claws_it_back_in_time(database, feed):
    """The CPA is earned at the trade that qualified the client (not at the deposit before
    it, with lots traded later), and a chargeback 30 days later, already processed when the
    IB became known, neither prevents it nor goes unseen: CPA then reversal, as in order."""
    deliver(feed, ib("P-A", "IB-A", "A"))

    def story(ref):
        return [
            deposit(ref, "250.00", 1, payment_id=f"{ref}-p1"),
            trade(ref, "2.5", 3, held=3600, ticket=f"{ref}-1"),
            deposit(ref, "250.00", 33, payment_id=f"{ref}-p1", status="charged_back"),
        ]

    deliver(feed, client("C-IN", "A", day=0)[:1] + client("C-IN", day=0)[1:] + story("C-IN"))
    deliver(feed, client("C-LATE", day=0)[1:] + story("C-LATE") + client("C-LATE", "A", day=0)[:1])
    in_order = cpa_records(database, "C-IN")
    assert [(kind, amount) for kind, amount, _ in in_order] == [("cpa", "200.00"), ("reversal", "-200.00")]
    assert cpa_records(database, "C-LATE") == in_order
    assert in_order[0][2].isoformat().startswith(at(3)[:16])  # earned at the qualifying trade
