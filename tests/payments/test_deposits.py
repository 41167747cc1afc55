"""Deposits from events: lifecycle, late events, auto-funding, funnel and wire matching."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import select

from engine.db import unit_of_work
from engine.events.models import PENDING, Event
from engine.processing.ingest import ingest_lines
from engine.payments import deposits, ledger
from tests.helpers import jsonl
from tests.payments.builders import account, deposit, ingest, profile, registered, transfer


def balances(database, ref="C1", prefix="wallet"):
    with unit_of_work(database) as s:
        return {c: ledger.fmt(v) for c, v in ledger.balances(s, ref, prefix).items()}


def test_a_deposit_credits_the_wallet_once_and_keeps_the_decline(database):
    ingest(
        database,
        registered("C1"),
        deposit("requested", minute=1, pid="p1"),
        deposit("failed", minute=2, pid="p1", reason_code="insufficient_funds", reason="Insufficient funds"),
        deposit("completed", minute=3, pid="p2", amount="250.10"),
        deposit("completed", minute=3, pid="p2", amount="250.10"),
    )  # a second delivery
    assert balances(database) == {"USD": "250.10"}
    data = profile(database, "C1")
    failed = next(d for d in data["payments"]["deposits"] if d["id"] == "p1")
    assert (failed["status"], failed["reason_code"], failed["reason"]) == (
        "failed",
        "insufficient_funds",
        "Insufficient funds",
    )
    assert data["funnel_stage"] == "funded"


def test_a_refund_before_its_completion_ends_as_if_in_order(database):
    ingest(
        database,
        registered("C1"),
        deposit("completed", minute=1, pid="p0", amount="20.00"),
        deposit("refunded", minute=30, pid="p1", amount="40.00"),
    )
    assert balances(database) == {"USD": "20.00"}  # the refund waits for its completion
    ingest(database, deposit("completed", minute=10, pid="p1", amount="100.00"))
    assert balances(database) == {"USD": "80.00"}
    with unit_of_work(database) as s:
        d = deposits.get(s, provider="stripe", payment_id="p1")
        assert (d.status, d.refund_amount) == ("refunded", Decimal("40"))


def test_a_chargeback_beyond_the_wallet_leaves_a_debt_not_a_negative_wallet(database):
    ingest(
        database,
        registered("C1"),
        account(minute=1),
        deposit("completed", minute=2, pid="p1", amount="100.00"),
        transfer("completed", minute=3, amount="70.00"),
        deposit("charged_back", minute=9, pid="p1", amount="100.00", reason_code="fraudulent", reason="Fraudulent"),
        deposit("completed", minute=20, pid="p2", amount="10.00"),
    )
    data = profile(database, "C1")
    assert data["wallets"] == {"USD": "10.00"}  # a later deposit does not settle the debt
    assert data["payments"]["owed"] == {"USD": "70.00"}
    charged = next(d for d in data["payments"]["deposits"] if d["id"] == "p1")
    assert (charged["status"], charged["reason"]) == ("charged_back", "Fraudulent")
    with unit_of_work(database) as s:
        assert ledger.balance(s, "broker:chargebacks:USD", "USD") == Decimal("100")


def test_a_contradicting_event_is_parked_with_a_clear_error(database):
    ingest(database, registered("C1"), deposit("completed", minute=1, pid="p1"))
    ingest_lines(
        database,
        jsonl(
            [deposit("refunded", minute=2, pid="p1", currency="EUR"), deposit("completed", "C2", minute=2, pid="p1")]
        ).splitlines(),
    )
    with unit_of_work(database) as s:
        errors = sorted(s.scalars(select(Event.last_error).where(Event.status == PENDING)))
    assert errors == [
        "DepositError: deposit stripe/p1 belongs to client C1, not C2",
        "DepositError: deposit stripe/p1 is in USD; this event says EUR",
    ]
    assert balances(database) == {"USD": "100.00"}


def test_auto_funding_moves_the_deposit_to_the_trading_account(database):
    ingest(
        database,
        registered("C1", auto_funding=True),
        account(minute=1, aid="A1"),
        deposit("completed", minute=2, pid="p1", amount="300.00"),
        registered("C2"),
        account("C2", minute=1, aid="B1"),
        deposit("completed", "C2", minute=2, pid="p2", amount="300.00"),
    )
    assert balances(database) == {"USD": "0.00"}
    assert balances(database, "C2") == {"USD": "300.00"}
    data = profile(database, "C1")
    assert data["payments"]["transfers"][0]["id"] == "autofund:stripe:p1"
    assert data["payments"]["transfers"][0]["to"] == "A1"
    assert data["funnel_stage"] == "account_opened"  # funded never moves it back


def test_match_wire_finds_one_requested_deposit_by_reference(database):
    ingest(
        database,
        registered("C1"),
        deposit(
            "requested", minute=1, pid="w-1", amount="1000.00", currency="EUR", provider="bank_wire", reference="FX-123"
        ),
        deposit(
            "requested", minute=1, pid="w-2", amount="50.00", currency="EUR", provider="bank_wire", reference="FX-777"
        ),
        deposit(
            "requested", minute=2, pid="w-3", amount="50.00", currency="EUR", provider="bank_wire", reference="fx-777"
        ),
    )
    booked = datetime(2026, 11, 2, tzinfo=timezone.utc)
    with unit_of_work(database) as s:

        def match(ref, amount, cur="EUR"):
            found = deposits.match_wire(s, reference=ref, amount=Decimal(amount), currency=cur, booked_at=booked)
            return found.payment_id if found else None

        assert match(" fx-123 ", "1000.00") == "w-1"
        assert match("FX-123", "999.99") is None  # not to the cent
        assert match("FX-123", "1000.00", "USD") is None
        assert match("FX-777", "50.00") is None  # two candidates: ambiguous
        assert match("", "50.00") is None
