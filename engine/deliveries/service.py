"""Delivery records: create once per provider delivery, list, claim and update."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.db import insert_on_conflict
from engine.deliveries.models import PENDING, STATUSES, Delivery
from engine.values import utcnow

MAX_BODY = 256 * 1024  # larger bodies are known by hash and size only
MAX_REASON = 2000


def create(
    session: Session,
    *,
    provider: str,
    status: str,
    http_status: int,
    body: bytes,
    reason: str | None = None,
    delivery_id: str | None = None,
    keep_body: bool = False,
    next_attempt_at: datetime | None = None,
    now: datetime | None = None,
) -> int | None:
    """Record a delivery; return its id, or None when this delivery was recorded before."""
    assert status in STATUSES, status
    now = now or utcnow()
    kept = body.decode("utf-8", "replace") if keep_body and len(body) <= MAX_BODY else None
    row = {
        "provider": provider,
        "delivery_id": delivery_id,
        "status": status,
        "http_status": http_status,
        "reason": (reason or "")[:MAX_REASON] or None,
        "body": kept,
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "size": len(body),
        "received_at": now,
        "updated_at": now,
        "attempts": 0,
        "next_attempt_at": next_attempt_at,
    }
    stmt = (
        insert_on_conflict(session, Delivery)
        .on_conflict_do_nothing(index_elements=["provider", "delivery_id"])
        .returning(Delivery.id)
    )
    return session.execute(stmt, [row]).scalar()


def get(session: Session, delivery_id: int) -> Delivery | None:
    """Return the delivery with this row id, or None."""
    return session.get(Delivery, delivery_id)


def get_by_delivery_id(session: Session, *, provider: str, delivery_id: str) -> Delivery | None:
    """Return the delivery a provider identified as `delivery_id`, or None."""
    return session.scalar(select(Delivery).where(Delivery.provider == provider, Delivery.delivery_id == delivery_id))


def list_deliveries(
    session: Session, *, provider: str | None = None, status: str | None = None, limit: int = 100
) -> list[Delivery]:
    """Return deliveries, newest first, filtered by provider and status."""
    stmt = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if provider:
        stmt = stmt.where(Delivery.provider == provider)
    if status:
        stmt = stmt.where(Delivery.status == status)
    return list(session.scalars(stmt))


def claim_due(session: Session, *, now: datetime, lease_until: datetime, limit: int = 50) -> list[Delivery]:
    """Return pending deliveries due at `now`, leased until `lease_until` so no one else runs them."""
    rows = list(
        session.scalars(
            select(Delivery)
            .where(Delivery.status == PENDING, Delivery.next_attempt_at <= now)
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for row in rows:
        row.next_attempt_at, row.updated_at = lease_until, now
    return rows


def finish(
    session: Session,
    delivery_id: int,
    *,
    status: str,
    reason: str | None = None,
    event_ids: list[str] | None = None,
    http_status: int | None = None,
) -> None:
    """Set the final status of a delivery."""
    values = {
        "status": status,
        "reason": (reason or "")[:MAX_REASON] or None,
        "updated_at": utcnow(),
        "next_attempt_at": None,
    }
    if event_ids is not None:
        values["event_ids"] = event_ids
    if http_status is not None:
        values["http_status"] = http_status
    session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))


def retry_later(session: Session, delivery_id: int, *, at: datetime, reason: str) -> None:
    """Count a failed attempt and set when to try again."""
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(attempts=Delivery.attempts + 1, next_attempt_at=at, reason=reason[:MAX_REASON], updated_at=utcnow())
    )


def requeue(session: Session, row: Delivery, *, now: datetime) -> None:
    """Make a stored delivery pending again (after an operator fixed its cause)."""
    row.status, row.next_attempt_at, row.updated_at = PENDING, now, now


def to_dict(row: Delivery) -> dict:
    """Return a delivery as JSON-ready data (without its body)."""
    from engine.values import iso

    return {
        "id": row.id,
        "provider": row.provider,
        "delivery_id": row.delivery_id,
        "status": row.status,
        "http_status": row.http_status,
        "reason": row.reason,
        "size": row.size,
        "received_at": iso(row.received_at),
        "updated_at": iso(row.updated_at),
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at),
        "event_ids": row.event_ids,
    }
