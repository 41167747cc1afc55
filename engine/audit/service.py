"""Record audit entries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit.models import AuditEntry
from engine.values import utcnow


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    reason: str | None = None,
    detail: dict | None = None,
) -> AuditEntry:
    """Add one audit entry (the caller's unit of work commits it)."""
    entry = AuditEntry(
        at=utcnow(),
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        reason=reason,
        detail=detail,
    )
    session.add(entry)
    return entry


def list_for(session: Session, *, target_type: str, target_id: str) -> list[AuditEntry]:
    """Return the audit entries of one target, oldest first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.target_type == target_type, AuditEntry.target_id == str(target_id))
            .order_by(AuditEntry.id)
        )
    )
