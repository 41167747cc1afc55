"""The payout workflow: review (approve or reject), payout batches with a finance task, paid."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import service as audit_service
from engine.ib.commissions import derived, get, log_change
from engine.errors import lock_and_reread
from engine.ib.errors import IbConflict, IbError
from engine.ib.models import APPROVED, PAID, PENDING_REVIEW, REJECTED, IbCommission, IbCommissionChange, IbPayoutBatch
from engine.tasks import service as tasks_service
from engine.tasks.subjects import Subject
from engine.values import utcnow


def _set(session: Session, record: IbCommission, to: str, actor: str, reason: str | None) -> None:
    log_change(session, record, to, actor, reason)
    record.status = to
    audit_service.record(
        session,
        actor=actor,
        action=f"commission.{to}",
        target_type="ib_commission",
        target_id=str(record.id),
        reason=reason,
    )


def _require(session: Session, commission_id: int) -> IbCommission:
    """Return the commission locked and re-read, so two reviewers decide it once."""
    record = get(session, commission_id)
    if record is None:
        raise IbError(f"no commission {commission_id}")
    return lock_and_reread(session, IbCommission, record)


def _decided(session: Session, record: IbCommission, wanted: str) -> IbConflict:
    last = session.scalar(
        select(IbCommissionChange)
        .where(IbCommissionChange.commission_id == record.id)
        .order_by(IbCommissionChange.id.desc())
        .limit(1)
    )
    by = f" (by {last.actor})" if last is not None else ""
    return IbConflict(f"commission {record.id} is {record.status}{by}, not {wanted}")


def approve(session: Session, *, commission_id: int, actor: str, note: str | None = None) -> IbCommission:
    """Approve a commission under review."""
    record = _require(session, commission_id)
    if record.status != PENDING_REVIEW:
        raise _decided(session, record, PENDING_REVIEW)
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
        raise IbConflict(
            f"commission {record.id} is {record.status}"
            + (f" in batch {record.batch_id}" if record.batch_id else "")
            + "; it cannot be rejected"
        )
    done = [record]
    _set(session, record, REJECTED, actor, reason)
    for child in derived(session, record):  # overrides and reversals owe nothing now
        child = lock_and_reread(session, IbCommission, child)
        if child.status in (PENDING_REVIEW, APPROVED) and child.batch_id is None:
            _set(session, child, REJECTED, actor, f"{reason} (follows commission {record.id})")
            done.append(child)
    return done


def _payable(session: Session, currency: str) -> dict[str, list[IbCommission]]:
    by_ib: dict[str, list[IbCommission]] = defaultdict(list)
    # Locked in id order and re-read: a second batch made at the same moment waits, then
    # finds these rows batched (PostgreSQL re-checks the WHERE on rows it waited for).
    for record in session.scalars(
        select(IbCommission)
        .where(IbCommission.status == APPROVED, IbCommission.batch_id.is_(None), IbCommission.currency == currency)
        .order_by(IbCommission.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ):
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
    batch = IbPayoutBatch(currency=currency, total=total, status="open", created_at=utcnow(), created_by=actor)
    session.add(batch)
    session.flush()
    for rows in payable.values():
        for record in rows:
            record.batch_id = batch.id
    lines = "\n".join(f"{ib}: {amount} {currency}" for ib, amount in totals.items())
    task, _ = tasks_service.create(
        session,
        queue="finance",
        title=f"Pay IB payout batch #{batch.id}: {total} {currency} to {len(totals)} IB(s)",
        description=lines,
        trigger_key=f"ib-payout-batch:{batch.id}",
        created_by=actor,
        data={"ib_payout_batch": batch.id},
        subject=Subject("ib_payout_batch", str(batch.id)),
    )
    batch.task_id = task.id
    audit_service.record(
        session,
        actor=actor,
        action="payout_batch.created",
        target_type="ib_payout_batch",
        target_id=str(batch.id),
        detail={"total": str(total), "currency": currency},
    )
    return batch


def mark_paid(session: Session, *, batch_id: int, actor: str, reference: str) -> IbPayoutBatch:
    """Record that finance paid a batch: its commissions become paid and its task is done."""
    batch = session.get(IbPayoutBatch, batch_id)
    if batch is None:
        raise IbError(f"no payout batch {batch_id}")
    batch = lock_and_reread(session, IbPayoutBatch, batch)
    if batch.status != "open":
        raise IbConflict(
            f"payout batch {batch_id} is already {batch.status}"
            + (f" (by {batch.paid_by}, reference {batch.reference})" if batch.paid_by else "")
        )
    if not reference or not reference.strip():
        raise IbError("marking a batch paid needs the payment reference")
    for record in batch_commissions(session, batch.id):
        _set(session, record, PAID, actor, f"batch {batch.id} paid: {reference}")
    batch.status, batch.paid_at, batch.paid_by, batch.reference = "paid", utcnow(), actor, reference
    task = tasks_service.get(session, batch.task_id) if batch.task_id else None
    if task is not None:
        tasks_service.close_if_open(session, task, actor=actor, resolution=f"paid: {reference}")
    return batch


def batch_commissions(session: Session, batch_id: int) -> list[IbCommission]:
    """Return the commissions of a batch."""
    return list(
        session.scalars(select(IbCommission).where(IbCommission.batch_id == batch_id).order_by(IbCommission.id))
    )


def list_batches(session: Session) -> list[IbPayoutBatch]:
    """Return every payout batch, newest first."""
    return list(session.scalars(select(IbPayoutBatch).order_by(IbPayoutBatch.id.desc())))
