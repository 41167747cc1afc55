"""Money made on the trading platform (an MT5 balance deal) is counted once: on the
trading account, never also in the spendable wallet."""

from __future__ import annotations

from decimal import Decimal

from engine.db import unit_of_work
from engine.payments import ledger
from tests.payments.builders import account, deposit, ingest, registered

OPENED = "2026-11-01T10:03:00Z"  # when the one position of the platform history opened
# A balance deal on the MT5 account A1, reported as a deposit that arrived on the platform.
PLATFORM = dict(pid="mt5-deal-3", provider="mt5", method="mt5_balance", account_id="A1", on_platform=True)


def _balances(database, ref="C1", acct="A1"):
    with unit_of_work(database) as s:
        return (ledger.balance(s, ledger.wallet(ref, "USD"), "USD"), ledger.balance(s, ledger.trading(acct), "USD"))


def _paid_in_on_the_platform(database, **client):
    """Register C1 (with `client`'s fields), open A1 and deposit 500 USD on it; return the balances."""
    deposited = deposit("completed", "C1", 2, amount="500.00", **PLATFORM)
    ingest(database, registered("C1", **client), account("C1", 1), deposited)
    return _balances(database)


def test_a_platform_balance_deposit_is_on_the_account_not_in_the_wallet(database):
    assert _paid_in_on_the_platform(database) == (Decimal(0), Decimal("500.00"))


def test_with_auto_funding_it_is_not_moved_a_second_time(database):
    assert _paid_in_on_the_platform(database, auto_funding=True) == (Decimal(0), Decimal("500.00"))


def test_a_card_deposit_still_goes_to_the_wallet(database):
    ingest(database, registered("C1"), account("C1", 1), deposit("completed", "C1", 2, amount="80.00"))
    assert _balances(database) == (Decimal("80.00"), Decimal(0))


def test_a_platform_deposit_charged_back_is_taken_from_the_account(database):
    ingest(
        database,
        registered("C1"),
        account("C1", 1),
        deposit("completed", "C1", 2, amount="500.00", **PLATFORM),
        deposit("charged_back", "C1", 3, amount="500.00", **PLATFORM),
    )
    assert _balances(database) == (Decimal(0), Decimal(0))


def _platform_history(database, deposit_on_platform=True, reported="511.25"):
    from tests.payments.builders import event

    extra = {"on_platform": True} if deposit_on_platform else {}
    position = dict(account_id="A1", ticket="7", symbol="EURUSD", side="buy", volume_lots="1", open_time=OPENED)
    ingest(
        database,
        registered("C1"),
        account("C1", 1),
        deposit(
            "completed",
            "C1",
            2,
            pid="mt5-deal-3",
            provider="mt5",
            method="mt5_balance",
            amount="500.00",
            account_id="A1",
            **extra,
        ),
        event("trade.opened", "C1", OPENED, **position, commission="-0.50", currency="USD"),
        event(
            "trade.closed",
            "C1",
            "2026-11-01T10:04:00Z",
            **position,
            close_time="2026-11-01T10:04:00Z",
            profit="12.50",
            commission="-0.50",
            swap="-0.25",
            currency="USD",
        ),
        event(
            "account.balance_updated", "C1", "2026-11-01T10:05:00Z", account_id="A1", balance=reported, equity=reported
        ),
    )


def _reconcile(runner, *args):
    import json

    result = runner.invoke(["ledger", "reconcile", "--json", *args])
    return result.exit_code, json.loads(result.output)


def test_reconcile_agrees_when_every_unit_is_counted_once(database, runner):
    _platform_history(database)
    code, rows = _reconcile(runner)
    assert code == 0
    assert [(r["account_id"], r["ledger"], r["trading_result"], r["platform"], r["status"]) for r in rows] == [
        ("A1", "500.00", "11.25", "511.25", "ok")
    ]


def test_reconcile_lists_a_deposit_counted_in_the_wallet_instead(database, runner):
    """What an MT5 balance deal did before: credited to the wallet, missing on the account."""
    _platform_history(database, deposit_on_platform=False)
    code, rows = _reconcile(runner, "--differences")
    assert code == 1
    assert [(r["account_id"], r["expected"], r["platform"], r["difference"]) for r in rows] == [
        ("A1", "11.25", "511.25", "500.00")
    ]
    assert _balances(database) == (Decimal("500.00"), Decimal(0))
