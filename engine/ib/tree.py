"""The IB tree (onboarding, chains, sub-trees) and client attribution with its history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.db import by_unique
from engine.ib.config import IbConfig
from engine.ib.errors import IbError
from engine.ib.models import IbAttribution, IbClientStats, IntroducingBroker

MAX_DEPTH = 50  # a guard against a corrupt tree, far deeper than any real hierarchy


def get(session: Session, ib_id: str) -> IntroducingBroker | None:
    """Return the IB with this id, or None."""
    return session.scalar(select(IntroducingBroker).where(IntroducingBroker.ib_id == ib_id))


def get_by_code(session: Session, code: str) -> IntroducingBroker | None:
    """Return the IB owning referral code `code`, or None."""
    return session.scalar(select(IntroducingBroker).where(IntroducingBroker.referral_code == code))


def get_by_client(session: Session, client_ref: str) -> IntroducingBroker | None:
    """Return the IB whose own client record is `client_ref`, or None."""
    return session.scalar(select(IntroducingBroker).where(IntroducingBroker.client_ref == client_ref))


def list_ibs(session: Session) -> list[IntroducingBroker]:
    """Return every IB, in registration order."""
    return list(session.scalars(select(IntroducingBroker).order_by(IntroducingBroker.id)))


def chain(session: Session, ib_id: str | None) -> list[IntroducingBroker]:
    """Return `ib_id` and its ancestors, nearest first (unknown parents end the chain)."""
    found, seen = [], set()
    while ib_id and ib_id not in seen and len(found) < MAX_DEPTH:
        seen.add(ib_id)
        ib = get(session, ib_id)
        if ib is None:
            break
        found.append(ib)
        ib_id = ib.parent_ib_id
    return found


def subtree(session: Session, ib_id: str) -> list[str]:
    """Return `ib_id` and the ids of every IB below it."""
    found, frontier = [ib_id], [ib_id]
    while frontier and len(found) < 100_000:
        frontier = [
            i
            for i in session.scalars(
                select(IntroducingBroker.ib_id).where(IntroducingBroker.parent_ib_id.in_(frontier))
            )
            if i not in found
        ]
        found.extend(frontier)
    return found


def register(
    session: Session,
    *,
    ib_id: str,
    referral_code: str,
    client_ref: str | None,
    parent_ib_id: str | None,
    at: datetime,
    event_seq: int | None = None,
) -> tuple[IntroducingBroker, bool]:
    """Onboard an IB; a repeat of the same registration changes nothing. Return (ib, created)."""
    existing = get(session, ib_id)
    if existing is not None:
        return existing, False
    owner = get_by_code(session, referral_code)
    if owner is not None:
        raise IbError(f"referral code {referral_code!r} already belongs to IB {owner.ib_id}")
    above = chain(session, parent_ib_id)
    # A sub-IB may have registered first, naming this IB as its parent: no loops.
    if parent_ib_id == ib_id or ib_id in {i.parent_ib_id for i in above}:
        raise IbError(f"IB {ib_id} cannot be below itself (parent {parent_ib_id})")
    ib = IntroducingBroker(
        ib_id=ib_id,
        referral_code=referral_code,
        client_ref=client_ref,
        parent_ib_id=parent_ib_id,
        registered_at=at,
        event_seq=event_seq,
    )
    session.add(ib)
    session.flush()
    return ib, True


def stats_for(session: Session, client_ref: str) -> IbClientStats | None:
    """Return the IB projection row of a client, or None if no IB ever claimed it (read
    several times per event: found by row id once known, engine.db.by_unique)."""
    row: IbClientStats | None = by_unique(session, IbClientStats, "client_ref", client_ref)
    return row


def ensure_stats(session: Session, client_ref: str) -> IbClientStats:
    """Return the client's IB projection row, creating it on first use."""
    stats = stats_for(session, client_ref)
    if stats is None:
        client = session.scalar(select(Client).where(Client.ref == client_ref))
        stats = IbClientStats(
            client_ref=client_ref, chargebacks=0, registered_at=client.registered_at if client else None
        )
        session.add(stats)
        session.flush()
    return stats


def _decide(
    stats: IbClientStats, ib: IntroducingBroker, client_ref: str, source: str, config: IbConfig
) -> tuple[str, str | None]:
    """Return (outcome, why) of a claim by `ib` on the client."""
    if ib.client_ref == client_ref and not config.self_referral:
        return "refused", "an IB cannot refer itself"
    if stats.ib_id is None:
        return "attributed", None
    if stats.ib_id == ib.ib_id:
        return "unchanged", None
    if source == "manual" or config.conflicts == "last_touch":
        return "reassigned", None
    return "disputed", f"already attributed to {stats.ib_id} (first touch keeps it)"


def attribute(
    session: Session,
    *,
    client_ref: str,
    ib_id: str | None,
    source: str,
    actor: str,
    reason: str | None,
    key: str,
    at: datetime,
    config: IbConfig,
) -> IbAttribution | None:
    """Attribute a client to an IB under the conflict policy; record the outcome once per `key`."""
    done = session.scalar(select(IbAttribution).where(IbAttribution.key == key))
    if done is not None:
        return done
    ib = get(session, ib_id) if ib_id else None
    if ib is None:
        # Often the IB's own registration is still queued: the event is retried, then parked.
        raise IbError(f"no IB {ib_id!r}")
    stats = ensure_stats(session, client_ref)
    outcome, why = _decide(stats, ib, client_ref, source, config)
    if outcome == "unchanged":
        return None
    entry = IbAttribution(
        client_ref=client_ref,
        ib_id=ib_id,
        previous_ib_id=stats.ib_id,
        outcome=outcome,
        source=source,
        actor=actor,
        at=at,
        key=key,
        reason="; ".join(filter(None, [reason, why])) or None,
    )
    session.add(entry)
    if outcome in ("attributed", "reassigned"):
        stats.ib_id, stats.attributed_at, stats.pending_code = ib_id, at, None
    session.flush()
    return entry


def remember_code(session: Session, client_ref: str, code: str) -> None:
    """Keep a referral code nobody owns yet, to resolve when its IB registers."""
    stats = ensure_stats(session, client_ref)
    if stats.ib_id is None:
        stats.pending_code = code


def waiting_for_code(session: Session, code: str) -> list[IbClientStats]:
    """Return clients that registered with `code` before its IB existed."""
    return list(
        session.scalars(select(IbClientStats).where(IbClientStats.pending_code == code).order_by(IbClientStats.id))
    )


def history(session: Session, client_ref: str) -> list[IbAttribution]:
    """Return every attribution decision about a client, oldest first."""
    return list(
        session.scalars(
            select(IbAttribution)
            .where(IbAttribution.client_ref == client_ref)
            .order_by(IbAttribution.at, IbAttribution.id)
        )
    )


def referred(session: Session, ib_ids: list[str]) -> list[IbClientStats]:
    """Return the clients currently attributed to any of `ib_ids`."""
    return list(
        session.scalars(select(IbClientStats).where(IbClientStats.ib_id.in_(ib_ids)).order_by(IbClientStats.id))
    )
