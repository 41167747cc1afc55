"""Two staff deciding or paying the same IB commissions at the same moment (PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from engine.db import unit_of_work
from engine.processing.ingest import ingest_lines
from engine.ib import payouts
from engine.ib.models import IbCommission, IbCommissionChange, IbPayoutBatch
from tests.concurrency.race import ROUNDS, race, winners
from tests.ib.builders import client, deposit, ib, trade

A, B = "fin1@example.com", "fin2@example.com"
TREE = ib("P-TOP", "IB-TOP", "TOP") + ib("P-SUB", "IB-SUB", "SUB", "IB-TOP")
QUALIFIED = client("C1", "SUB") + [deposit("C1", "250.00", 1), trade("C1", "2", 2, held=600)]


@pytest.fixture
def earned(pg_database):
    """IB-SUB earned a CPA and a rebate, IB-TOP an override of each: all pending review."""
    report = ingest_lines(pg_database, [json.dumps(e) for e in TREE + QUALIFIED])
    assert report.ok, report.rejected
    with unit_of_work(pg_database) as s:
        return {(c.ib_id, c.type, str(c.amount.normalize())): c.id for c in s.scalars(select(IbCommission))}


def _cpa(earned) -> int:
    return next(i for (ib_id, kind, _), i in earned.items() if (ib_id, kind) == ("IB-SUB", "cpa"))


def _changes(database, commission_id):
    with unit_of_work(database) as s:
        return [
            (c.to_status, c.actor)
            for c in s.scalars(
                select(IbCommissionChange)
                .where(IbCommissionChange.commission_id == commission_id)
                .order_by(IbCommissionChange.id)
            )
            if c.from_status is not None
        ]


def _approve(cid, actor):
    return lambda s: payouts.approve(s, commission_id=cid, actor=actor)


def _reject(cid, actor):
    return lambda s: payouts.reject(s, commission_id=cid, actor=actor, reason="duplicate account")


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_approvals_one_decision(pg_database, earned, round_):
    cid = _cpa(earned)
    outcomes = race(pg_database, _approve(cid, A), _approve(cid, B))
    won = winners(outcomes)
    assert len(won) == 1 and _changes(pg_database, cid) == [("approved", [A, B][won[0]])]
    assert "approved" in str(outcomes[1 - won[0]])


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_approve_against_reject_one_decision(pg_database, earned, round_):
    cid = _cpa(earned)
    outcomes = race(pg_database, _approve(cid, A), _reject(cid, B))
    changes = _changes(pg_database, cid)
    if outcomes[1] == "ok":
        # rejecting an approved (not yet batched) commission is allowed: in turn, never lost
        assert changes in ([("rejected", B)], [("approved", A), ("rejected", B)])
        assert outcomes[0] == "ok" or "rejected" in str(outcomes[0])
    else:
        assert winners(outcomes) == [0] and changes == [("approved", A)]
    with unit_of_work(pg_database) as s:
        assert s.get(IbCommission, cid).status == changes[-1][0]


def _approve_all(database, earned):
    with unit_of_work(database) as s:
        for cid in earned.values():
            payouts.approve(s, commission_id=cid, actor=A)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_batches_never_pay_a_commission_twice(pg_database, earned, round_):
    _approve_all(pg_database, earned)
    outcomes = race(
        pg_database,
        lambda s: payouts.create_batch(s, actor=A),
        lambda s: payouts.create_batch(s, actor=B),
        expected=(payouts.IbError,),
    )
    assert sorted(str(o) for o in outcomes) == ["no approved commissions in USD to pay", "ok"]
    with unit_of_work(pg_database) as s:
        assert s.scalar(select(func.count()).select_from(IbPayoutBatch)) == 1
        only = s.scalar(select(IbPayoutBatch.id))
        assert list(s.scalars(select(IbCommission.batch_id))) == [only] * len(earned)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_payment_marks_pay_once(pg_database, earned, round_):
    _approve_all(pg_database, earned)
    with unit_of_work(pg_database) as s:
        batch_id = payouts.create_batch(s, actor=A).id
    outcomes = race(
        pg_database,
        lambda s: payouts.mark_paid(s, batch_id=batch_id, actor=A, reference="W-1"),
        lambda s: payouts.mark_paid(s, batch_id=batch_id, actor=B, reference="W-2"),
    )
    won = winners(outcomes)
    assert len(won) == 1
    with unit_of_work(pg_database) as s:
        batch = s.get(IbPayoutBatch, batch_id)
        assert (batch.paid_by, batch.reference) == [(A, "W-1"), (B, "W-2")][won[0]]
    for cid in earned.values():
        assert [c for c in _changes(pg_database, cid) if c[0] == "paid"] == [("paid", batch.paid_by)]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_reject_against_batching(pg_database, earned, round_):
    """A commission is either rejected or batched, never both."""
    _approve_all(pg_database, earned)
    cid = _cpa(earned)
    race(pg_database, _reject(cid, B), lambda s: payouts.create_batch(s, actor=A), expected=(payouts.IbError,))
    with unit_of_work(pg_database) as s:
        record = s.get(IbCommission, cid)
        assert not (record.status == "rejected" and record.batch_id is not None)


def _stored(database, events) -> None:
    from engine.events.schemas import validate_envelope
    from engine.events.store import record_many

    with unit_of_work(database) as s:
        record_many(s, [validate_envelope(e) for e in events])


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_client_using_a_code_while_its_ib_registers_is_attributed(pg_database, round_):
    """Two workers at once: one processes a client registering with code NEW, the other
    the registration of the IB that owns NEW. Whichever decides second sees what the first
    did (both decide on the code under one lock), so the client ends attributed, never
    left waiting for a code whose IB already exists."""
    from engine.ib.models import IbClientStats
    from engine.processing import process_clients
    from tests.concurrency.race import together

    refs = [f"C-{n}" for n in range(4)]
    _stored(pg_database, ib("P-NEW", "IB-NEW", "NEW") + [e for ref in refs for e in client(ref, "NEW", kyc=False)])
    outcomes = together(
        lambda: process_clients(pg_database, ["P-NEW"]), *[lambda r=r: process_clients(pg_database, [r]) for r in refs]
    )
    assert not any(isinstance(o, Exception) for o in outcomes), outcomes
    with unit_of_work(pg_database) as s:
        found = {st.client_ref: (st.ib_id, st.pending_code) for st in s.scalars(select(IbClientStats))}
    assert {ref: found.get(ref) for ref in refs} == {ref: ("IB-NEW", None) for ref in refs}
