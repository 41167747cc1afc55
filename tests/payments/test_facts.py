"""Payment and account facts read by rule conditions."""

from __future__ import annotations

from decimal import Decimal

from engine import facts
from engine.clients.service import get_by_ref
from engine.db import unit_of_work
from engine.values import Money
from tests.helpers import event
from tests.payments.builders import account, at, deposit, ingest, registered, withdrawal


def read(database, name, ref="C1", **params):
    with unit_of_work(database) as s:
        return facts.get(name).loader(s, get_by_ref(s, ref), **params)


def test_facts_follow_deposits_withdrawals_and_accounts(database):
    ingest(database, registered("C1"))
    assert read(database, "deposits.completed.sum") is None  # no deposit: no base currency
    ingest(
        database,
        deposit("failed", minute=1, pid="p1"),
        deposit("failed", minute=2, pid="p2"),
        deposit("completed", minute=3, pid="p2"),
        deposit("completed", minute=4, pid="p3", amount="10.50", currency="EUR"),
        deposit("completed", minute=5, pid="p4", amount="0.25"),
        account(minute=6, aid="A1"),
        account(minute=6, aid="A2"),
        event("account.status_changed", "C1", at(7), account_id="A2", status="locked"),
        withdrawal("requested", minute=8, wid="w1", amount="20.00"),
    )
    assert read(database, "deposits.completed.count") == 3
    assert read(database, "deposits.failed.count") == 1  # p2 failed, then completed
    assert read(database, "deposits.completed.sum") == Money(Decimal("100.25"), "USD")
    assert read(database, "deposits.completed.sum", currency="EUR") == Money(Decimal("10.5"), "EUR")
    assert read(database, "wallet.balance") == Money(Decimal("80.25"), "USD")
    assert read(database, "wallet.balance", currency="eur") == Money(Decimal("10.5"), "EUR")
    assert read(database, "withdrawals.pending.count") == 1
    assert read(database, "withdrawals.waiting_for") == ["compliance"]
    assert (
        read(database, "accounts.count"),
        read(database, "accounts.active.count"),
        read(database, "accounts.locked.count"),
        read(database, "accounts.restricted.count"),
    ) == (2, 1, 1, 1)
    assert read(database, "deposits.first_completed_at").isoformat() == "2026-11-01T10:03:00+00:00"


def test_every_fact_is_registered_with_a_kind_and_doc():
    names = [
        n
        for n in facts.load_domain_facts()
        if n.split(".")[0] in ("deposits", "wallet", "withdrawals", "transfers", "accounts")
    ]
    assert {
        "deposits.completed.count",
        "deposits.completed.sum",
        "deposits.failed.count",
        "wallet.balance",
        "withdrawals.pending.count",
        "accounts.count",
    } <= set(names)
    for name in names:
        spec = facts.get(name)
        assert spec.doc and spec.kind in ("integer", "money", "datetime", "list", "boolean")
