"""Commission records: exact amounts, caps, multi-level overrides, reversals and adjustments.

A record's amount and explanation never change once written. Each record has a
unique `key` naming what it pays for (`cpa:<client>`, `lot_rebate:<client>:<account>:<ticket>`),
so replaying or re-delivering events never pays twice; corrections are new
records (reversals, adjustments) that point at what they correct.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.db import money_sum
from engine.ib import tree
from engine.ib.config import IbConfig, Profile
from engine.ib.errors import IbError
from engine.ib.models import APPROVED, PENDING_REVIEW, REJECTED, IbCommission, IbCommissionChange, IntroducingBroker
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


def money_total(total) -> Decimal:
    """A `money_sum` result as a Decimal (SQLite's exact_sum gives units of 10^-8)."""
    return Decimal(total) if isinstance(total, Decimal) else Decimal(int(total or 0)).scaleb(-8)


def _sum(session: Session, *where) -> Decimal:
    total = session.scalar(
        select(func.coalesce(money_sum(IbCommission.amount), 0)).where(IbCommission.status != REJECTED, *where)
    )
    return money_total(total)


def month_of(at: datetime) -> tuple[datetime, datetime]:
    """The calendar month (start, end) a commission earned at `at` counts in for monthly caps."""
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


_month = month_of


class Ledger(Protocol):
    """What a commission decision reads besides the event: the commissions already
    recorded (by key, and summed for caps), the IB chain and the client's deposits.
    `SqlLedger` asks the database (the per-event path); the set-based path answers from
    its group state (engine.ib.batch), so both paths decide with the same functions."""

    def exists(self, key: str) -> bool: ...

    def used_by_client(self, ib_id: str, currency: str, client_ref: str) -> Decimal: ...

    def used_in_month(self, ib_id: str, currency: str, month: datetime) -> Decimal: ...

    def chain(self, ib_id: str) -> list[str]: ...

    def deposits(self, client_ref: str, as_of: datetime) -> list: ...


class SqlLedger:
    """The ledger of the per-event path: a query per question, on the session."""

    def __init__(self, session: Session):
        self.session = session

    def exists(self, key: str) -> bool:
        return get_by_key(self.session, key) is not None

    def used_by_client(self, ib_id: str, currency: str, client_ref: str) -> Decimal:
        return _sum(
            self.session,
            IbCommission.ib_id == ib_id,
            IbCommission.currency == currency,
            IbCommission.client_ref == client_ref,
        )

    def used_in_month(self, ib_id: str, currency: str, month: datetime) -> Decimal:
        lock_ibs(self.session, [ib_id])  # the monthly cap counts every client: one decider at a time
        start, end = month_of(month)
        return _sum(
            self.session,
            IbCommission.ib_id == ib_id,
            IbCommission.currency == currency,
            IbCommission.earned_at >= start,
            IbCommission.earned_at < end,
        )

    def chain(self, ib_id: str) -> list[str]:
        return [i.ib_id for i in tree.chain(self.session, ib_id)] or [ib_id]

    def deposits(self, client_ref: str, as_of: datetime) -> list:
        from engine.ib import qualification

        return qualification.deposits(self.session, client_ref, as_of=as_of)


def lock_ibs(session: Session, ib_ids) -> None:
    """Lock these IBs' rows (PostgreSQL; SQLite has one writer) until the transaction ends,
    in order of IB id: a monthly cap sums the commissions of all the IB's clients, which
    other workers may be recording at the same time. Taken after the client locks; the
    set-based path takes all of a group's at once. Not remembered per transaction: a
    savepoint rolled back (an isolated failing event) releases the locks taken in it."""
    todo = sorted(set(ib_ids))
    if not todo or session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        select(IntroducingBroker.id)
        .where(IntroducingBroker.ib_id.in_(todo))
        .order_by(IntroducingBroker.ib_id)
        .with_for_update()
    ).all()


def cap(
    ledger: Ledger | Session, profile: Profile, ib_id: str, client_ref: str | None, amount: Decimal, at: datetime
) -> tuple[Decimal, list[str]]:
    """Return `amount` reduced to what the profile's caps leave, with a note per cap applied."""
    if isinstance(ledger, Session):
        ledger = SqlLedger(ledger)
    notes, limits = [], []
    if profile.cap_per_client is not None and client_ref:
        limits.append(
            ("per client", profile.cap_per_client, ledger.used_by_client(ib_id, profile.currency, client_ref))
        )
    if profile.cap_per_month is not None:
        limits.append(("per month", profile.cap_per_month, ledger.used_in_month(ib_id, profile.currency, at)))
    for label, limit, used in limits:
        room = max(limit - used, Decimal(0))
        if amount > room:
            notes.append(
                f"capped at {limit} {profile.currency} {label}: {cents(amount)} reduced to {room.quantize(CENT, rounding=ROUND_DOWN)}"
            )
            amount = room.quantize(CENT, rounding=ROUND_DOWN)  # never above the cap
    return amount, notes


@dataclass
class NewCommission:
    """A commission a decision creates: the fields of its row; `source` is the record it
    derives from (an override's base, written first), `explanation["override_of"]` its id."""

    key: str
    ib_id: str
    client_ref: str | None
    type: str
    amount: Decimal
    currency: str
    explanation: dict
    earned_at: datetime
    actor: str
    level: int = 0
    profile: str | None = None
    reason: str | None = None
    review: bool = True
    source: "NewCommission | None" = None
    source_id: int | None = None
    id: int | None = None  # once written

    @property
    def status(self) -> str:
        return PENDING_REVIEW if self.review else APPROVED


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


def plan_overrides(
    ledger: Ledger,
    config: IbConfig,
    base: NewCommission | IbCommission,
    ancestors: list[str],
    *,
    actor: str,
    review: bool,
) -> list[NewCommission]:
    """Decide each ancestor's override of `base` (nearest first): its percent, capped."""
    planned = []
    for depth, ancestor in enumerate(ancestors, 1):
        profile = config.profile_for(ancestor)
        percent = profile.overrides.get(depth)
        if not percent:
            continue
        raw = cents(base.amount * percent / 100)
        amount, notes = cap(ledger, profile, ancestor, base.client_ref, raw, base.earned_at)
        if amount <= 0:
            continue
        key = f"{base.key}/override:{ancestor}"
        if ledger.exists(key):
            continue
        explanation = {
            "rule": base.explanation.get("rule"),
            "ruleset_version": base.explanation.get("ruleset_version"),
            "override_of": base.id if isinstance(base, IbCommission) else None,  # set when written
            "depth": depth,
            "percent": str(percent),
            "of_amount": f"{base.amount} {base.currency}",
            "profile": profile.name,
            "config_version": config.version,
            "caps": notes,
            "why": f"{percent}% override of {base.ib_id}'s {base.type} (depth {depth})",
        }
        planned.append(
            NewCommission(
                key=key,
                ib_id=ancestor,
                client_ref=base.client_ref,
                type="override",
                level=depth,
                amount=amount,
                currency=base.currency,
                explanation=explanation,
                earned_at=base.earned_at,
                actor=actor,
                profile=profile.name,
                review=review,
                source=base if isinstance(base, NewCommission) else None,
                source_id=base.id if isinstance(base, IbCommission) else None,
            )
        )
    return planned


def write(session: Session, new: NewCommission) -> tuple[IbCommission, bool]:
    """Write a decided commission (the per-event path) unless its key is already paid for."""
    source_id = new.source_id
    if new.source is not None:
        source_id = new.source.id  # the base is written first
        new.explanation["override_of"] = source_id
    record, created = create(
        session,
        key=new.key,
        ib_id=new.ib_id,
        client_ref=new.client_ref,
        type=new.type,
        level=new.level,
        money=Money(new.amount, new.currency),
        explanation=new.explanation,
        earned_at=new.earned_at,
        actor=new.actor,
        profile=new.profile,
        source_id=source_id,
        reason=new.reason,
        review=new.review,
    )
    new.id = record.id
    return record, created


def overrides(
    session: Session, config: IbConfig, base: IbCommission, ancestors: list[str], *, actor: str, review: bool = True
) -> list[IbCommission]:
    """Give each ancestor of the earning IB (nearest first) its override percent of `base`."""
    created = []
    for new in plan_overrides(SqlLedger(session), config, base, ancestors, actor=actor, review=review):
        record, made = write(session, new)
        if made:
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
