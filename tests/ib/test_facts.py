"""IB facts for rule conditions, read from the IB projections."""

from __future__ import annotations

from decimal import Decimal

from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.facts import get as get_fact
from engine.values import Money
from tests.ib.builders import client, deposit, ib, trade


def facts(database, ref: str, *names_and_params) -> list:
    with unit_of_work(database) as s:
        c = clients_service.get_by_ref(s, ref)
        return [get_fact(name).loader(s, c, **params) for name, params in names_and_params]


def test_facts_of_a_referred_client(database, feed):
    feed(ib("P-A", "IB-A", "A") + ib("P-B", "IB-B", "B", "IB-A"))
    feed(
        client("C1", "B")
        + client("C2")
        + [
            deposit("C1", "150.00", 1, payment_id="p1"),
            deposit("C1", "80.00", 2),
            deposit("C1", "150.00", 3, payment_id="p1", status="charged_back"),
            trade("C1", "1.5", 2, held=30),
            trade("C1", "0.5", 3, held=90),
            trade("C1", "2", 45, held=900),
        ]
    )
    got = facts(
        database,
        "C1",
        ("ib", {}),
        ("ib.parent", {}),
        ("ib.profile", {}),
        ("ib.lots", {}),
        ("ib.lots", {"held_at_least": "60s"}),
        ("ib.lots", {"held_at_least": 60, "within": "30d"}),
        ("ib.first_deposit", {}),
        ("ib.deposits.sum", {}),
        ("ib.chargebacks.count", {}),
        ("ib.kyc_approved", {}),
        ("ib.qualified", {}),
        ("ib.cpa.recorded", {}),
    )
    assert got == [
        "IB-B",
        "IB-A",
        "standard",
        Decimal("4"),
        Decimal("2.5"),
        Decimal("0.5"),
        Money(Decimal("150"), "USD"),
        Money(Decimal("80"), "USD"),
        1,
        True,
        False,
        False,
    ]
    # Not referred: no IB, but the trading facts still hold (the sketch's client.trades.lots).
    assert facts(database, "C2", ("ib", {}), ("ib.chain", {}), ("trades.lots", {}), ("ib.chargebacks.count", {})) == [
        None,
        [],
        Decimal(0),
        0,
    ]
    assert facts(database, "C1", ("ib.chain", {}), ("trades.lots", {"held_at_least": 60})) == [
        ["IB-B", "IB-A"],
        Decimal("2.5"),
    ]


def test_qualified_fact_follows_the_cpa_policy(database, feed):
    feed(ib("P-A", "IB-A", "A"))
    feed(client("C1", "A") + [deposit("C1", "200.00", 1), trade("C1", "2", 2, held=61)])
    assert facts(database, "C1", ("ib.qualified", {}), ("ib.cpa.recorded", {})) == [True, True]


def test_lots_aggregate_agrees_with_each_trades_verdict_at_the_boundaries(database, feed):
    """The SQL sum counts exactly the trades `trade_verdict` counts (held == minimum counts,
    closed exactly at the end of the window counts, one second later does not)."""
    from datetime import timedelta

    from engine.ib import qualification, tree
    from engine.ib.config import Policy

    feed(
        client("C1")
        + [
            trade("C1", "1", 1, held=59),
            trade("C1", "2", 1, held=60),
            trade("C1", "4", 30, held=600),
            trade("C1", "8", 30 + 1 / 86400, held=600),
            trade("C1", "16", 2, held=61),
        ]
    )
    with unit_of_work(database) as s:
        stats = tree.stats_for(s, "C1")
        for policy in (
            Policy("p"),
            Policy("p", min_holding_time=timedelta(seconds=60)),
            Policy("p", within=timedelta(days=30)),
            Policy("p", min_holding_time=timedelta(seconds=60), within=timedelta(days=30)),
        ):
            listed = qualification.evaluate(policy, stats, stats.registered_at, [], qualification.trades(s, "C1")).lots
            assert qualification.counted_lots(s, "C1", policy, stats.registered_at) == listed
    # registered at T0: 30 days later is the window's last instant
    assert facts(database, "C1", ("trades.lots", {"held_at_least": 60, "within": "30d"})) == [Decimal("22")]


def test_a_trade_does_not_load_the_clients_earlier_trades(database, feed):
    """The cost of a trade.closed must not grow with history: with the shipped CPA rule
    reading `client.trades.lots(...)`, processing one more trade loads no earlier trade."""
    from sqlalchemy import event as orm_event

    from engine.ib.models import IbTrade

    feed(
        ib("P-A", "IB-A", "A")
        + client("C1", "A")
        + [deposit("C1", "50.00", 1)]
        + [trade("C1", "0.01", 1 + n / 100, held=600) for n in range(30)]
    )
    loaded = []

    def count(target, _context):
        loaded.append(target.ticket)

    orm_event.listen(IbTrade, "load", count)
    try:
        feed([trade("C1", "0.01", 2, held=600, ticket="new")])
    finally:
        orm_event.remove(IbTrade, "load", count)
    assert set(loaded) <= {"new"}  # the rebate reads the trade it pays for, nothing older


def test_explanations_show_amounts_as_people_write_them(database, feed):
    """Stored amounts keep 8 decimals; a rule's explanation and templates show a money fact
    with its currency's minor units, and a decimal without trailing zeros."""
    from engine.rules.evaluation import display

    feed(ib("P-A", "IB-A", "A"))
    feed(client("C1", "A") + [deposit("C1", "150.00", 1), deposit("C1", "20.50", 2), trade("C1", "1.5", 2, held=90)])
    first, total, lots = facts(database, "C1", ("ib.first_deposit", {}), ("ib.deposits.sum", {}), ("ib.lots", {}))
    assert [display(first), display(total), display(lots)] == ["150.00 USD", "170.50 USD", "1.5"]
