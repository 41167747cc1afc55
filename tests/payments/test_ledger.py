"""The double-entry ledger: balanced postings, exact balances, no overdrawn wallet."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine.db import unit_of_work
from engine.events.store import ensure_clients
from engine.payments import ledger, transfers
from engine.payments.ledger import Leg, LedgerError
from engine.payments.models import LedgerEntry
from engine.values import utcnow

D = Decimal


def fund(session, ref="C1", amount="100.00", key="k1", currency="USD"):
    ensure_clients(session, {ref})
    return ledger.post(
        session,
        key=key,
        kind="deposit",
        client_ref=ref,
        occurred_at=utcnow(),
        legs=[
            Leg(ledger.wallet(ref, currency), currency, D(amount)),
            Leg(ledger.broker("clearing", currency), currency, -D(amount)),
        ],
    )


def test_a_balance_is_the_exact_sum_of_its_entries(database):
    with unit_of_work(database) as s:
        fund(s, amount="0.10", key="a")
        fund(s, amount="0.20", key="b")
        fund(s, amount="1234.12345678", key="c")
    with unit_of_work(database) as s:
        assert ledger.balance(s, "wallet:C1:USD", "USD") == D("1234.42345678")
        assert ledger.balances(s, "C1") == {"USD": D("1234.42345678")}
        total = s.scalar(select(func.sum(LedgerEntry.amount)))
        assert total == 0  # every posting balances, so the whole ledger sums to zero


def test_the_same_key_posts_once(database):
    with unit_of_work(database) as s:
        assert fund(s, key="same") is not None
        assert fund(s, key="same") is None
        assert ledger.balance(s, "wallet:C1:USD", "USD") == D("100")


MALFORMED = [
    ([Leg("wallet:C1:USD", "USD", D("10"))], "at least two entries"),
    ([Leg("wallet:C1:USD", "USD", D("10")), Leg("broker:clearing:USD", "USD", D("-9"))], "does not balance"),
    ([Leg("wallet:C1:USD", "USD", D("10")), Leg("broker:clearing:EUR", "EUR", D("-10"))], "does not balance"),
    ([Leg("wallet:C1:USD", "USD", 10.0), Leg("broker:clearing:USD", "USD", D("-10"))], "must be a Decimal, not float"),
    (
        [Leg("wallet:C1:USD", "USD", D("0.000000001")), Leg("broker:clearing:USD", "USD", D("-0.000000001"))],
        "more than 8 decimal places",
    ),
]


def test_malformed_postings_are_refused_and_nothing_is_written(database):
    with unit_of_work(database) as s:
        ensure_clients(s, {"C1"})
        for legs, message in MALFORMED:
            with pytest.raises(LedgerError, match=message):
                ledger.post(s, key="bad", kind="x", client_ref="C1", legs=legs, occurred_at=utcnow())
        assert not ledger.is_posted(s, "bad")


def test_a_debit_beyond_the_wallet_balance_is_refused_with_the_balance(database):
    with unit_of_work(database) as s:
        fund(s, amount="40.00")
        with pytest.raises(LedgerError) as err:
            ledger.post(
                s,
                key="out",
                kind="withdrawal",
                client_ref="C1",
                occurred_at=utcnow(),
                legs=[Leg("wallet:C1:USD", "USD", D("-40.01")), Leg("broker:clearing:USD", "USD", D("40.01"))],
            )
        assert str(err.value) == ("insufficient funds: wallet:C1:USD holds 40.00000000 USD, cannot debit 40.01 USD")
        assert ledger.balance(s, "wallet:C1:USD", "USD") == D("40")


def test_covered_debit_takes_the_wallet_to_zero_and_the_rest_as_debt(database):
    with unit_of_work(database) as s:
        fund(s, amount="30.00")
        legs = ledger.covered_debit(s, "C1", "USD", D("50.00"))
        assert legs == [Leg("wallet:C1:USD", "USD", D("-30")), Leg("debt:C1:USD", "USD", D("-20"))]


def test_fees_are_charged_once_and_need_a_reason(database):
    with unit_of_work(database) as s:
        fund(s, amount="10.00")
        assert transfers.charge_fee(
            s, client_ref="C1", fee_id="f1", amount=D("2.50"), currency="USD", reason="inactivity fee"
        )
        assert not transfers.charge_fee(
            s, client_ref="C1", fee_id="f1", amount=D("2.50"), currency="USD", reason="inactivity fee"
        )
        with pytest.raises(LedgerError, match="needs a reason"):
            transfers.charge_fee(s, client_ref="C1", fee_id="f2", amount=D("1"), currency="USD", reason=" ")
        with pytest.raises(LedgerError, match="insufficient funds"):
            transfers.charge_fee(s, client_ref="C1", fee_id="f3", amount=D("7.51"), currency="USD", reason="too much")
        assert ledger.balances(s, "C1") == {"USD": D("7.50")}
        assert ledger.balance(s, "broker:fees:USD", "USD") == D("2.50")


def test_formatting_keeps_cents_and_real_precision():
    assert ledger.fmt(D("1234.50000000")) == "1234.50"
    assert ledger.fmt(D("0E-8")) == "0.00"
    assert ledger.fmt(D("0.00012345")) == "0.00012345"
    assert ledger.fmt(D("-20")) == "-20.00"
    assert ledger.fmt(None) is None
