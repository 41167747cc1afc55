"""Add points to a client's named score (once per trigger) and read the score back."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.scores.models import ScoreContribution
from engine.values import utcnow

MAX_POINTS = 1000  # one contribution, either way


class ScoreError(ValueError):
    """A contribution is not allowed (the message says why)."""


def add(
    session: Session,
    *,
    client_ref: str,
    name: str,
    points: int,
    reason: str,
    trigger_key: str,
    rule_id: str | None = None,
    ruleset_version: str | None = None,
) -> ScoreContribution | None:
    """Record a contribution; return it, or None when this trigger already added one."""
    if not (reason or "").strip():
        raise ScoreError(f"points to {name} need a reason")
    if points == 0 or abs(points) > MAX_POINTS:
        raise ScoreError(
            f"points to {name} must be a whole number from -{MAX_POINTS} to {MAX_POINTS}, not zero (got {points})"
        )
    if session.scalar(select(ScoreContribution.id).where(ScoreContribution.trigger_key == trigger_key)) is not None:
        return None
    row = ScoreContribution(
        client_ref=client_ref,
        name=name,
        points=points,
        reason=reason.strip()[:500],
        rule_id=rule_id,
        ruleset_version=ruleset_version,
        trigger_key=trigger_key,
        at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def total(session: Session, client_ref: str, name: str) -> int:
    """Return the client's score `name`: the sum of its contributions (0 with none)."""
    return int(
        session.scalar(
            select(func.coalesce(func.sum(ScoreContribution.points), 0)).where(
                ScoreContribution.client_ref == client_ref, ScoreContribution.name == name
            )
        )
        or 0
    )


def contributions(session: Session, client_ref: str) -> list[ScoreContribution]:
    """Return every contribution to the client's scores, oldest first."""
    return list(
        session.scalars(
            select(ScoreContribution).where(ScoreContribution.client_ref == client_ref).order_by(ScoreContribution.id)
        )
    )
