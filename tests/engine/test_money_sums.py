"""Sums of large valid amounts stay exact on both backends (SQLite SUM overflows 64 bits)."""

from datetime import datetime, timezone
from decimal import Decimal

from engine.db import unit_of_work
from engine.payments import ledger

BIG = Decimal("9999999999.12345678")  # the largest leg: ~1e18 units of 10^-8; ten overflow BIGINT


def _deposit(s, n: int) -> None:
    ledger.post(
        s,
        key=f"big-{n}",
        kind="deposit",
        client_ref="C1",
        occurred_at=datetime(2026, 1, 5, tzinfo=timezone.utc),
        legs=[ledger.Leg(ledger.broker("psp", "USD"), "USD", -BIG), ledger.Leg(ledger.wallet("C1", "USD"), "USD", BIG)],
    )


def test_balance_of_many_large_amounts_is_exact(database):
    with unit_of_work(database) as s:
        for n in range(12):
            _deposit(s, n)
    with unit_of_work(database) as s:
        assert ledger.balance(s, ledger.wallet("C1", "USD"), "USD") == 12 * BIG
        assert ledger.balances(s, "C1") == {"USD": 12 * BIG}


def test_payments_report_sums_many_large_deposits(database):
    from tests.reports.dataset import _deposit
    from tests.reports.helpers import pick_cols, section_rows

    with unit_of_work(database) as s:
        for n in range(12):
            _deposit(s, f"big{n}", "C1", "stripe", "card", str(BIG), "USD", "completed", "2026-01-05 15:00")
    rows = section_rows(database, "payments", "deposits")
    assert pick_cols(rows, "currency", "count", "amount") == [("USD", 12, 12 * BIG)]
