"""Commission records: exact amounts, caps, multi-level overrides, reversals and adjustments.

A record's amount and explanation never change once written. Each record has a
unique `key` naming what it pays for (`cpa:<client>`, `lot_rebate:<client>:<account>:<ticket>`),
so replaying or re-delivering events never pays twice; corrections are new
records (reversals, adjustments) that point at what they correct.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.db import money_sum
from engine.ib import tree
from engine.ib.config import IbConfig, Profile
from engine.ib.errors import IbError
from engine.ib.models import APPROVED, PENDING_REVIEW, REJECTED, IbCommission, IbCommissionChange
from engine.values import Money, iso, utcnow

CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    """Round money to cents, half up (how partners check their statements)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money_text(value: Decimal) -> str:
    """Format an amount with cents, keeping any finer digits it really has."""
    return str(value.quantize(CENT)) if value == value.quantize(CENT) else str(value.normalize())


def get(session: Session, commission_id: int) -> IbCommission | None:
    """Return the commission with this id, or None."""
    return session.get(IbCommission, commission_id)


def get_by_key(session: Session, key: str) -> IbCommission | None:
    """Return the commission paying for `key`, or None."""
    return session.scalar(select(IbCommission).where(IbCommission.key == key))


def _sum(session: Session, *where) -> Decimal:
    total = session.scalar(
        select(func.coalesce(money_sum(IbCommission.amount), 0)).where(IbCommission.status != REJECTED, *where)
    )
    return Decimal(total) if isinstance(total, Decimal) else Decimal(int(total or 0)).scaleb(-8)


def _month(at: datetime) -> tuple[datetime, datetime]:
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def cap(
    session: Session, profile: Profile, ib_id: str, client_ref: str | None, amount: Decimal, at: datetime
) -> tuple[Decimal, list[str]]:
    """Return `amount` reduced to what the profile's caps leave, with a note per cap applied."""
    notes, same = [], (IbCommission.ib_id == ib_id, IbCommission.currency == profile.currency)
    limits = []
    if profile.cap_per_client is not None and client_ref:
        limits.append(
            ("per client", profile.cap_per_client, _sum(session, *same, IbCommission.client_ref == client_ref))
        )
    if profile.cap_per_month is not None:
        start, end = _month(at)
        limits.append(
            (
                "per month",
                profile.cap_per_month,
                _sum(session, *same, IbCommission.earned_at >= start, IbCommission.earned_at < end),
            )
        )
    for label, limit, used in limits:
        room = max(limit - used, Decimal(0))
        if amount > room:
            notes.append(
                f"capped at {limit} {profile.currency} {label}: {cents(amount)} reduced to {room.quantize(CENT, rounding=ROUND_DOWN)}"
            )
            amount = room.quantize(CENT, rounding=ROUND_DOWN)  # never above the cap
    return amount, notes


def log_change(session: Session, record: IbCommission, to: str, actor: str, reason: str | None) -> None:
    """Record a status change (or the creation) of a commission."""
    session.add(
        IbCommissionChange(
            commission_id=record.id,
            at=utcnow(),
            actor=actor,
            from_status=None if to == record.status else record.status,
            to_status=to,
            reason=reason,
        )
    )


def create(
    session: Session,
    *,
    key: str,
    ib_id: str,
    client_ref: str | None,
    type: str,
    money: Money,
    explanation: dict,
    earned_at: datetime,
    actor: str,
    level: int = 0,
    profile: str | None = None,
    source_id: int | None = None,
    reason: str | None = None,
    review: bool = True,
) -> tuple[IbCommission, bool]:
    """Write one commission unless `key` is already paid for; return (record, created)."""
    existing = get_by_key(session, key)
    if existing is not None:
        return existing, False
    record = IbCommission(
        key=key,
        ib_id=ib_id,
        client_ref=client_ref,
        type=type,
        level=level,
        amount=money.amount,
        currency=money.currency,
        profile=profile,
        source_id=source_id,
        reason=reason,
        explanation=explanation,
        status=PENDING_REVIEW if review else APPROVED,
        earned_at=earned_at,
        created_at=utcnow(),
        created_by=actor,
    )
    session.add(record)
    session.flush()
    log_change(session, record, record.status, actor, reason or "created")
    return record, True


def overrides(
    session: Session, config: IbConfig, base: IbCommission, ancestors: list[str], *, actor: str, review: bool = True
) -> list[IbCommission]:
    """Give each ancestor of the earning IB (nearest first) its override percent of `base`."""
    created = []
    for depth, ancestor in enumerate(ancestors, 1):
        profile = config.profile_for(ancestor)
        percent = profile.overrides.get(depth)
        if not percent:
            continue
        raw = cents(base.amount * percent / 100)
        amount, notes = cap(session, profile, ancestor, base.client_ref, raw, base.earned_at)
        if amount <= 0:
            continue
        explanation = {
            "rule": base.explanation.get("rule"),
            "ruleset_version": base.explanation.get("ruleset_version"),
            "override_of": base.id,
            "depth": depth,
            "percent": str(percent),
            "of_amount": f"{base.amount} {base.currency}",
            "profile": profile.name,
            "config_version": config.version,
            "caps": notes,
            "why": f"{percent}% override of {base.ib_id}'s {base.type} (depth {depth})",
        }
        record, new = create(
            session,
            key=f"{base.key}/override:{ancestor}",
            ib_id=ancestor,
            client_ref=base.client_ref,
            type="override",
            level=depth,
            money=Money(amount, base.currency),
            explanation=explanation,
            earned_at=base.earned_at,
            actor=actor,
            profile=profile.name,
            source_id=base.id,
            review=review,
        )
        if new:
            created.append(record)
    return created


def derived(session: Session, record: IbCommission) -> list[IbCommission]:
    """Return the overrides and reversals that point at `record`."""
    return list(
        session.scalars(select(IbCommission).where(IbCommission.source_id == record.id).order_by(IbCommission.id))
    )


def reverse(
    session: Session,
    record: IbCommission,
    *,
    reason: str,
    actor: str,
    at: datetime | None = None,
    detail: dict | None = None,
) -> list[IbCommission]:
    """Reverse a commission and its overrides with new negative records (once each)."""
    if not reason or not reason.strip():
        raise IbError("a reversal needs a reason")
    if record.type == "reversal":
        raise IbError(f"commission {record.id} is itself a reversal")
    created = []
    for target in [record] + [d for d in derived(session, record) if d.type == "override"]:
        if target.status == REJECTED:
            continue  # nothing was ever owed
        explanation = {"reverses": target.id, "reverses_key": target.key, **(detail or {})}
        rev, new = create(
            session,
            key=f"reversal:{target.key}",
            ib_id=target.ib_id,
            client_ref=target.client_ref,
            type="reversal",
            level=target.level,
            money=Money(-target.amount, target.currency),
            explanation=explanation,
            earned_at=at or utcnow(),
            actor=actor,
            profile=target.profile,
            source_id=target.id,
            reason=reason,
        )
        if new:
            created.append(rev)
    return created


def adjust(
    session: Session,
    *,
    ib_id: str,
    amount: Decimal,
    currency: str,
    reason: str,
    actor: str,
    client_ref: str | None = None,
) -> IbCommission:
    """Record a manual adjustment (positive or negative) for an IB, with a mandatory reason."""
    if not reason or not reason.strip():
        raise IbError("an adjustment needs a reason")
    if tree.get(session, ib_id) is None:
        raise IbError(f"no IB {ib_id}")
    if amount == 0:
        raise IbError("an adjustment of zero changes nothing")
    record, _ = create(
        session,
        key=f"adjustment:{uuid.uuid4().hex}",
        ib_id=ib_id,
        client_ref=client_ref,
        type="adjustment",
        money=Money(amount, currency),
        explanation={"why": reason, "by": actor},
        earned_at=utcnow(),
        actor=actor,
        reason=reason,
    )
    return record


def list_commissions(
    session: Session,
    *,
    ib_ids: list[str] | None = None,
    client_ref: str | None = None,
    status: str | None = None,
    limit: int = 500,
) -> list[IbCommission]:
    """Return commissions matching the filters, newest first."""
    stmt = select(IbCommission)
    if ib_ids is not None:
        stmt = stmt.where(IbCommission.ib_id.in_(ib_ids))
    if client_ref:
        stmt = stmt.where(IbCommission.client_ref == client_ref)
    if status:
        stmt = stmt.where(IbCommission.status == status)
    return list(session.scalars(stmt.order_by(IbCommission.id.desc()).limit(limit)))


def to_dict(record: IbCommission) -> dict:
    """Return a commission in the SPEC §5 shape (ib, type, amount, currency, status) and more."""
    return {
        "id": record.id,
        "ib": record.ib_id,
        "client": record.client_ref,
        "type": record.type,
        "level": record.level,
        "amount": money_text(record.amount),
        "currency": record.currency,
        "status": record.status,
        "profile": record.profile,
        "reason": record.reason,
        "source_id": record.source_id,
        "earned_at": iso(record.earned_at),
        "created_at": iso(record.created_at),
        "batch_id": record.batch_id,
        "explanation": record.explanation,
    }


def settle_overrides(session: Session, config: IbConfig, ib_id: str, *, actor: str) -> list[IbCommission]:
    """Give a newly registered IB the overrides of what its sub-tree already earned.

    A parent may register after its sub-IBs' clients earned (events of different
    clients are processed independently); override keys make this idempotent.
    """
    below = [i for i in tree.subtree(session, ib_id) if i != ib_id]
    created = []
    for base in session.scalars(
        select(IbCommission)
        .where(
            IbCommission.ib_id.in_(below),
            IbCommission.level == 0,
            IbCommission.type.in_(("cpa", "lot_rebate", "spread_share", "revshare")),
            IbCommission.status != REJECTED,
        )
        .order_by(IbCommission.id)
    ):
        ancestors = [i.ib_id for i in tree.chain(session, base.ib_id)[1:]]
        new = overrides(session, config, base, ancestors, actor=actor)
        reversal = get_by_key(session, f"reversal:{base.key}")
        if new and reversal is not None:
            reverse(session, base, reason=reversal.reason, actor=actor, at=reversal.earned_at)
        created.extend(new)
    return created
