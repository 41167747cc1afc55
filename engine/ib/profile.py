"""Client profile sections: the introducing IB chain and the commissions (SPEC §5)."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.clients.service import section
from engine.ib import commissions, tree
from engine.ib.models import IbAttribution, IbCommission, IntroducingBroker
from engine.ib.service import config_for
from engine.values import iso


def link(ib: IntroducingBroker, level: int) -> dict:
    """Return one IB of a chain."""
    return {"ib_id": ib.ib_id, "level": level, "referral_code": ib.referral_code, "client": ib.client_ref}


def attribution_dict(entry: IbAttribution) -> dict:
    """Return one attribution decision: who, when, why."""
    return {
        "at": iso(entry.at),
        "ib_id": entry.ib_id,
        "previous_ib_id": entry.previous_ib_id,
        "outcome": entry.outcome,
        "source": entry.source,
        "actor": entry.actor,
        "reason": entry.reason,
    }


def own_ib(session: Session, ib: IntroducingBroker) -> dict:
    """Return an IB's own record: its code, link, parent, sub-IBs and profile."""
    config = config_for(session)
    children = session.scalars(
        select(IntroducingBroker.ib_id).where(IntroducingBroker.parent_ib_id == ib.ib_id).order_by(IntroducingBroker.id)
    )
    return {
        "ib_id": ib.ib_id,
        "referral_code": ib.referral_code,
        "referral_link": config.referral_link.format(code=ib.referral_code),
        "parent_ib": ib.parent_ib_id,
        "sub_ibs": list(children),
        "profile": config.profile_for(ib.ib_id).name,
        "registered_at": iso(ib.registered_at),
    }


@section("ib")
def ib_section(session: Session, client: Client) -> dict | None:
    """The client's IB chain (nearest first), attribution history and disputes; its own IB record."""
    stats = tree.stats_for(session, client.ref)
    own = tree.get_by_client(session, client.ref)
    history = [attribution_dict(a) for a in tree.history(session, client.ref)]
    if own is None and not history and (stats is None or not stats.pending_code):
        return None  # no IB ever claimed this client
    chain = tree.chain(session, stats.ib_id) if stats else []
    return {
        "ib_id": stats.ib_id if stats else None,
        "chain": [link(ib, level) for level, ib in enumerate(chain)],
        "attributed_at": iso(stats.attributed_at) if stats else None,
        "pending_referral_code": stats.pending_code if stats else None,
        "history": history,
        "disputes": [h for h in history if h["outcome"] == "disputed"],
        "own": own_ib(session, own) if own else None,
    }


@section("commissions")
def commissions_section(session: Session, client: Client) -> list[dict]:
    """Commissions about this client, and (for an IB) every commission it earned."""
    own = tree.get_by_client(session, client.ref)
    where = IbCommission.client_ref == client.ref
    if own is not None:
        where = or_(where, IbCommission.ib_id == own.ib_id)
    rows = session.scalars(select(IbCommission).where(where).order_by(IbCommission.id))
    return [commissions.to_dict(c) for c in rows]
