"""The payout workflow: review (approve or reject), payout batches with a finance task, paid."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import service as audit_service
from engine.ib.commissions import derived, get, log_change
from engine.ib.errors import IbError
from engine.ib.models import (APPROVED, PAID, PENDING_REVIEW, REJECTED, IbCommission,
                              IbPayoutBatch)
from engine.tasks import service as tasks_service
from engine.values import utcnow


def _set(session: Session, record: IbCommission, to: str, actor: str, reason: str | None) -> None:
    log_change(session, record, to, actor, reason)
    record.status = to
    audit_service.record(session, actor=actor, action=f"commission.{to}", target_type="ib_commission",
                         target_id=str(record.id), reason=reason)


def _require(session: Session, commission_id: int) -> IbCommission:
    record = get(session, commission_id)
    if record is None:
        raise IbError(f"no commission {commission_id}")
    return record


def approve(session: Session, *, commission_id: int, actor: str, note: str | None = None) -> IbCommission:
    """Approve a commission under review."""
    record = _require(session, commission_id)
    if record.status != PENDING_REVIEW:
        raise IbError(f"commission {record.id} is {record.status}, not pending_review")
    if record.type == "reversal" and get(session, record.source_id).status == REJECTED:
        raise IbError(f"commission {record.id} reverses a rejected commission; reject it instead")
    _set(session, record, APPROVED, actor, note)
    return record


def reject(session: Session, *, commission_id: int, actor: str, reason: str) -> list[IbCommission]:
    """Reject a commission not yet in a batch, and what was derived from it; return them all."""
    if not reason or not reason.strip():
        raise IbError("rejecting a commission needs a reason")
    record = _require(session, commission_id)
    if record.status not in (PENDING_REVIEW, APPROVED) or record.batch_id is not None:
        raise IbError(f"commission {record.id} is {record.status}"
                      + (f" in batch {record.batch_id}" if record.batch_id else "") + "; it cannot be rejected")
    done = [record]
    _set(session, record, REJECTED, actor, reason)
    for child in derived(session, record):  # overrides and reversals owe nothing now
        if child.status in (PENDING_REVIEW, APPROVED) and child.batch_id is None:
            _set(session, child, REJECTED, actor, f"{reason} (follows commission {record.id})")
            done.append(child)
    return done


def _payable(session: Session, currency: str) -> dict[str, list[IbCommission]]:
    by_ib: dict[str, list[IbCommission]] = defaultdict(list)
    for record in session.scalars(select(IbCommission).where(
            IbCommission.status == APPROVED, IbCommission.batch_id.is_(None),
            IbCommission.currency == currency).order_by(IbCommission.id)):
        by_ib[record.ib_id].append(record)
    # An IB that owes more than it earned waits: its reversals offset a later batch.
    return {ib: rows for ib, rows in by_ib.items() if sum(r.amount for r in rows) > 0}


def create_batch(session: Session, *, actor: str, currency: str = "USD") -> IbPayoutBatch:
    """Gather every approved, unpaid commission in `currency` into a batch with a finance task."""
    payable = _payable(session, currency)
    if not payable:
        raise IbError(f"no approved commissions in {currency} to pay")
    totals = {ib: sum((r.amount for r in rows), Decimal(0)) for ib, rows in sorted(payable.items())}
    total = sum(totals.values(), Decimal(0))
    batch = IbPayoutBatch(currency=currency, total=total, status="open", created_at=utcnow(),
                          created_by=actor)
    session.add(batch)
    session.flush()
    for rows in payable.values():
        for record in rows:
            record.batch_id = batch.id
    lines = "\n".join(f"{ib}: {amount} {currency}" for ib, amount in totals.items())
    task, _ = tasks_service.create(
        session, queue="finance", title=f"Pay IB payout batch #{batch.id}: {total} {currency} to {len(totals)} IB(s)",
        description=lines, trigger_key=f"ib-payout-batch:{batch.id}", created_by=actor,
        data={"ib_payout_batch": batch.id})
    batch.task_id = task.id
    audit_service.record(session, actor=actor, action="payout_batch.created", target_type="ib_payout_batch",
                         target_id=str(batch.id), detail={"total": str(total), "currency": currency})
    return batch


def mark_paid(session: Session, *, batch_id: int, actor: str, reference: str) -> IbPayoutBatch:
    """Record that finance paid a batch: its commissions become paid and its task is done."""
    batch = session.get(IbPayoutBatch, batch_id)
    if batch is None:
        raise IbError(f"no payout batch {batch_id}")
    if batch.status != "open":
        raise IbError(f"payout batch {batch_id} is already {batch.status}")
    if not reference or not reference.strip():
        raise IbError("marking a batch paid needs the payment reference")
    for record in batch_commissions(session, batch.id):
        _set(session, record, PAID, actor, f"batch {batch.id} paid: {reference}")
    batch.status, batch.paid_at, batch.paid_by, batch.reference = "paid", utcnow(), actor, reference
    task = tasks_service.get(session, batch.task_id) if batch.task_id else None
    if task is not None and task.is_open:
        tasks_service.close(session, task, status="done", actor=actor, resolution=f"paid: {reference}")
    return batch


def batch_commissions(session: Session, batch_id: int) -> list[IbCommission]:
    """Return the commissions of a batch."""
    return list(session.scalars(select(IbCommission).where(IbCommission.batch_id == batch_id)
                                .order_by(IbCommission.id)))


def list_batches(session: Session) -> list[IbPayoutBatch]:
    """Return every payout batch, newest first."""
    return list(session.scalars(select(IbPayoutBatch).order_by(IbPayoutBatch.id.desc())))
