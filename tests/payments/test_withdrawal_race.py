"""Two staff deciding the same withdrawal step at once: exactly one wins (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from engine.audit.models import AuditEntry
from engine.db import unit_of_work
from engine.payments import withdrawals
from engine.payments.models import Withdrawal
from engine.payments.withdrawals import WithdrawalError
from tests.concurrency.race import race
from tests.payments.builders import deposit, ingest, registered, set_kyc, withdrawal

ROUNDS = 10


def _approve(wid, actor):
    return lambda s: withdrawals.approve(s, withdrawal_id=wid, actor=actor, role="finance")


def _reject(wid, actor):
    return lambda s: withdrawals.reject(s, withdrawal_id=wid, actor=actor, role="finance", reason="name mismatch")


def _state(database, wid):
    with unit_of_work(database) as s:
        w = s.scalar(select(Withdrawal).where(Withdrawal.withdrawal_id == wid))
        staff = [d.decision for d in w.decisions if d.actor.endswith("@example.com")]
        audits = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.target_id == wid))
        return w.status, w.waiting_for, staff, audits


@pytest.fixture
def funded(pg_database):
    ingest(pg_database, registered("C1"), deposit("completed", minute=1, amount="100000.00"))
    set_kyc(pg_database, "C1", "approved")
    return pg_database


@pytest.mark.parametrize("second", [_approve, _reject], ids=["approve-vs-approve", "approve-vs-reject"])
def test_exactly_one_decision_wins_the_finance_step(funded, second):
    for n in range(ROUNDS):
        wid = f"w-race-{n}"
        ingest(funded, withdrawal("requested", minute=2 + n, wid=wid, amount="100.00"))
        outcomes = race(
            funded, _approve(wid, "fin1@example.com"), second(wid, "fin2@example.com"), expected=(WithdrawalError,)
        )
        assert outcomes.count("ok") == 1, outcomes
        loser = next(o for o in outcomes if o != "ok")
        # Overlapping, the loser hears what happened; arriving after the commit, it hears
        # that the withdrawal no longer waits for this step.
        assert isinstance(loser, WithdrawalError) and wid in str(loser)
        status, waiting_for, staff, audits = _state(funded, wid)
        assert len(staff) == 1 and audits == 1
        if staff == ["approved"]:
            assert (status, waiting_for) == ("pending", "payment_provider")
        else:
            assert (status, waiting_for) == ("rejected", None)
