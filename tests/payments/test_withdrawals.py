"""Withdrawals: funds held, the approval chain from policy, maker-checker, paid, failed, rejected."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.clients.service import get_by_ref
from engine.db import unit_of_work
from engine.events.models import Event
from engine.payments import withdrawals
from engine.payments.withdrawals import WithdrawalError
from engine.values import utcnow
from tests.helpers import event
from tests.payments.builders import at, deposit, ingest, profile, registered, set_kyc, withdrawal


def pending(database, ref="C1"):
    return {
        w["id"]: (w["step"], w["waiting_for"])
        for w in profile(database, ref)["withdrawals"]
        if w["status"] == "pending"
    }


def decide(database, verb, wid, actor, role, **kw):
    with unit_of_work(database) as s:
        getattr(withdrawals, verb)(s, withdrawal_id=wid, actor=actor, role=role, **kw)


def funded(database, kyc="approved", amount="30000.00"):
    ingest(database, registered("C1"), deposit("completed", minute=1, amount=amount))
    set_kyc(database, "C1", kyc)


def test_the_chain_depends_on_kyc_and_amount(database):
    funded(database, kyc="pending")
    ingest(database, withdrawal("requested", minute=2, wid="w-kyc", amount="100.00"))
    set_kyc(database, "C1", "approved")
    ingest(
        database,
        withdrawal("requested", minute=3, wid="w-small", amount="100.00"),
        withdrawal("requested", minute=4, wid="w-big", amount="6000.00"),
        withdrawal("requested", minute=5, wid="w-huge", amount="21000.00"),
    )
    assert pending(database) == {
        "w-kyc": ("compliance", "compliance"),
        "w-small": ("finance", "finance"),
        "w-big": ("compliance", "compliance"),
        "w-huge": ("compliance", "compliance"),
    }
    data = profile(database, "C1")
    assert data["wallets"] == {"USD": "2800.00"}
    assert data["payments"]["held"] == {"USD": "27200.00"}


def test_an_approved_withdrawal_is_paid_out_and_a_rejected_one_returns_the_funds(database):
    funded(database, amount="1000.00")
    ingest(
        database,
        withdrawal("requested", minute=2, wid="w1", amount="400.00"),
        withdrawal("requested", minute=3, wid="w2", amount="100.00"),
    )
    decide(database, "approve", "w1", "fin@example.com", "finance")
    assert pending(database)["w1"] == ("provider", "payment_provider")
    decide(database, "reject", "w2", "fin@example.com", "finance", reason="name mismatch")
    ingest(database, withdrawal("paid", minute=10, wid="w1", amount="400.00"))
    data = profile(database, "C1")
    assert data["wallets"] == {"USD": "600.00"}
    assert data["payments"]["held"] == {}
    w2 = next(w for w in data["withdrawals"] if w["id"] == "w2")
    assert (w2["status"], w2["reason"]) == ("rejected", "name mismatch")
    assert w2["decisions"][0]["actor"] == "fin@example.com"
    with unit_of_work(database) as s:  # staff decisions become events the rules can see
        staff = s.execute(
            select(Event.type, Event.event_id, Event.status).where(Event.source == "fxcrm.staff").order_by(Event.seq)
        ).all()
    assert staff == [
        ("payment.withdrawal_approved", "w1:finance:approved", "processed"),
        ("payment.withdrawal_rejected", "w2:finance:rejected", "processed"),
    ]


def test_approval_errors_say_why(database):
    funded(database, kyc="pending")
    ingest(database, withdrawal("requested", minute=2, wid="w1", amount="100.00"))
    with unit_of_work(database) as s:
        withdrawals.request(
            s,
            client=get_by_ref(s, "C1"),
            withdrawal_id="w-staff",
            amount=Decimal("10"),
            currency="USD",
            requested_by="ops@example.com",
            requested_at=utcnow(),
        )
    cases = [
        (
            ("approve", "w1", "fin@example.com", "finance"),
            {},
            "step compliance of withdrawal w1 is decided by compliance, admin, not finance",
        ),
        (("approve", "nope", "c@example.com", "compliance"), {}, "withdrawal nope is unknown"),
        (("reject", "w1", "c@example.com", "compliance"), {"reason": "  "}, "a rejection needs a reason"),
        (
            ("approve", "w-staff", "ops@example.com", "compliance"),
            {},
            "ops@example.com requested withdrawal w-staff and so cannot approve or reject it",
        ),
    ]
    for args, kw, message in cases:
        with pytest.raises(WithdrawalError) as err:
            decide(database, *args, **kw)
        assert str(err.value) == message
    decide(database, "approve", "w1", "c@example.com", "compliance")
    with pytest.raises(WithdrawalError, match="c@example.com already approved a step"):
        decide(database, "approve", "w1", "c@example.com", "admin")
    with pytest.raises(WithdrawalError, match="decided by finance, admin, not compliance"):
        decide(database, "approve", "w1", "c2@example.com", "compliance")
    decide(database, "approve", "w1", "fin@example.com", "finance")
    with pytest.raises(WithdrawalError, match="waits for payment_provider, not for an approval"):
        decide(database, "approve", "w1", "boss@example.com", "admin")
    assert pending(database)["w1"] == ("provider", "payment_provider")


def test_a_withdrawal_beyond_the_balance_is_refused_with_the_reason(database):
    funded(database, amount="50.00")
    ingest(database, withdrawal("requested", minute=2, wid="w1", amount="50.01"))
    w = profile(database, "C1")["withdrawals"][0]
    assert (w["status"], w["waiting_for"]) == ("refused", None)
    assert w["reason"] == ("insufficient funds: wallet:C1:USD holds 50.00000000 USD, cannot debit 50.01 USD")
    assert profile(database, "C1")["wallets"] == {"USD": "50.00"}


def test_a_large_withdrawal_waits_for_client_documents_then_finance(database):
    funded(database)
    ingest(database, withdrawal("requested", minute=2, wid="w1", amount="25000.00"))
    decide(database, "approve", "w1", "c@example.com", "compliance")
    assert pending(database)["w1"] == ("source-of-funds", "client_documents")
    ingest(database, event("kyc.document_submitted", "C1", at(5), document_id="d1", document_type="source_of_funds"))
    assert pending(database)["w1"] == ("finance", "finance")


def test_provider_events_drive_the_chain_and_contradictions_park(database):
    funded(database, amount="500.00")
    ingest(
        database,
        withdrawal("requested", minute=2, wid="w1", amount="100.00"),
        withdrawal("approved", minute=3, wid="w1", amount="100.00"),
        withdrawal("requested", minute=4, wid="w2", amount="100.00"),
        withdrawal("failed", minute=5, wid="w2", amount="100.00", reason="IBAN closed"),
        withdrawal("rejected", minute=6, wid="w3", amount="100.00"),
    )  # unknown: no effect
    assert pending(database) == {"w1": ("provider", "payment_provider")}
    data = profile(database, "C1")
    w2 = next(w for w in data["withdrawals"] if w["id"] == "w2")
    assert (w2["status"], w2["reason"]) == ("failed", "IBAN closed")
    assert data["wallets"] == {"USD": "400.00"}
    with pytest.raises(AssertionError, match="yet test reports it paid: resolve by hand"):
        ingest(database, withdrawal("paid", minute=9, wid="w2", amount="100.00"))


def test_paid_reported_before_the_request_settles_once(database):
    funded(database, amount="80.00")
    ingest(database, withdrawal("paid", minute=5, wid="w1", amount="100.00"))
    ingest(database, withdrawal("requested", minute=2, wid="w1", amount="100.00"))
    data = profile(database, "C1")
    assert data["wallets"] == {"USD": "0.00"}
    assert data["payments"]["owed"] == {"USD": "20.00"}
    assert data["withdrawals"][0]["status"] == "paid"
