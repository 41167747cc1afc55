"""What a partner (an IB) may see: its own tree, referred clients without private data,
and its commissions with the reason for each, including why a trade did not count."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from engine.ib import commissions, qualification, tree
from engine.ib.models import IbClientStats
from engine.ib.service import config_for
from engine.values import iso

# Roles that may open any IB's partner view; a `partner` sees only its own sub-tree.
STAFF_ROLES = ("admin", "ib_ops", "finance")


def visible_ibs(session: Session, role: str | None, own_ib: str | None) -> list[str] | None:
    """Return the IB ids this role may see (None: every IB; [] nothing)."""
    if role in STAFF_ROLES:
        return None
    if role == "partner" and own_ib and tree.get(session, own_ib) is not None:
        return tree.subtree(session, own_ib)
    return []


_MONEY_CHECKS = ("first_deposit_at_least", "total_deposits_at_least")


def redact(checks: list[dict], show_amounts: bool) -> list[dict]:
    """Hide the client's deposit amounts in qualification checks unless the broker shows them."""
    if show_amounts:
        return checks
    return [
        {**c, "detail": ("met" if c["ok"] else "not met") + " (deposit amounts are not shown)"}
        if c["criterion"] in _MONEY_CHECKS
        else c
        for c in checks
    ]


def for_partner(record: dict, show_amounts: bool) -> dict:
    """Return a commission as a partner sees it: its reason, no raw explanation."""
    exp = record.get("explanation") or {}
    checks = redact((exp.get("qualification") or {}).get("checks", []), show_amounts)
    text = "; ".join(filter(None, [exp.get("computation", "")] + [c["detail"] for c in checks]))
    public = {k: v for k, v in record.items() if k != "explanation"}
    return {**public, "why": record.get("reason") or exp.get("why") or text}


def reason(record: dict) -> str:
    """Return one line saying why a commission exists (everything: for staff)."""
    return for_partner(record, True)["why"]


def client_row(stats: IbClientStats, moves, trades) -> dict:
    """Return a referred client as a partner sees it: no name, e-mail or address."""
    return {
        "client": stats.client_ref,
        "ib_id": stats.ib_id,
        "registered_at": iso(stats.registered_at),
        "attributed_at": iso(stats.attributed_at),
        "kyc_approved": stats.kyc_approved_at is not None,
        "funded": any(m.status == "completed" for m in moves),
        "lots": qualification.plain(sum((t.lots for t in trades), Decimal(0))),
        "trades": len(trades),
    }


def referred_clients(session: Session, ib_ids: list[str]) -> list[dict]:
    """Return the clients referred by `ib_ids`."""
    return [
        client_row(s, qualification.deposits(session, s.client_ref), qualification.trades(session, s.client_ref))
        for s in tree.referred(session, ib_ids)
    ]


def _trade_reasons(session: Session, stats: IbClientStats, profile) -> list[dict]:
    config = config_for(session)
    policy = config.policies.get(profile.trade_policy or profile.cpa_policy or "")
    rows = []
    for trade in qualification.trades(session, stats.client_ref):
        counted, why = (
            qualification.trade_verdict(policy, trade, stats.registered_at) if policy else (True, "every trade counts")
        )
        rows.append(qualification.trade_dict(trade, counted, why))
    return rows


def client_detail(session: Session, stats: IbClientStats) -> dict:
    """Return a referred client's qualification: checks, trades (and why each did not count)."""
    config = config_for(session)
    profile = config.profile_for(stats.ib_id)
    moves = qualification.deposits(session, stats.client_ref)
    trades = qualification.trades(session, stats.client_ref)
    cpa = None
    if profile.cpa_policy:
        cpa = qualification.evaluate(
            config.policies[profile.cpa_policy], stats, stats.registered_at, moves, trades
        ).explanation()
        cpa = {**cpa, "checks": redact(cpa["checks"], config.show_deposit_amounts), "deposits": None}
    earned = [
        for_partner(commissions.to_dict(c), config.show_deposit_amounts)
        for c in commissions.list_commissions(session, client_ref=stats.client_ref)
    ]
    return {
        **client_row(stats, moves, trades),
        "profile": profile.name,
        "cpa": cpa,
        "trade_rules": _trade_reasons(session, stats, profile),
        "commissions": earned,
    }
