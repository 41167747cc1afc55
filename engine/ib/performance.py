"""IB performance figures: registrations, KYC approved, funded, active traders, volume,
commissions and net deposits, per IB (its directly referred clients)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from engine.db import money_sum
from engine.ib.models import REJECTED, IbClientStats, IbCommission, IbMoneyMove, IbTrade
from engine.values import utcnow

ACTIVE_WINDOW = timedelta(days=30)


def _per_ib(session: Session, stmt) -> dict:
    return {ib: value for ib, value in session.execute(stmt)}


def _money_per_ib(session: Session, stmt) -> dict[str, dict[str, Decimal]]:
    out: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for ib, currency, amount in session.execute(stmt):
        out[ib][currency] = Decimal(amount)
    return out


def figures(session: Session, ib_ids: list[str], *, as_of: datetime | None = None) -> list[dict]:
    """Return the performance figures of each IB in `ib_ids`."""
    as_of = as_of or utcnow()
    S, M, T = IbClientStats, IbMoneyMove, IbTrade
    mine = S.ib_id.in_(ib_ids)
    count = lambda *where: _per_ib(session, select(S.ib_id, func.count()).where(mine, *where).group_by(S.ib_id))  # noqa: E731
    funded = _per_ib(
        session,
        select(S.ib_id, func.count(distinct(M.client_ref)))
        .join(M, M.client_ref == S.client_ref)
        .where(mine, M.kind == "deposit")
        .group_by(S.ib_id),
    )
    active = _per_ib(
        session,
        select(S.ib_id, func.count(distinct(T.client_ref)))
        .join(T, T.client_ref == S.client_ref)
        .where(mine, T.close_time >= as_of - ACTIVE_WINDOW, T.close_time <= as_of)
        .group_by(S.ib_id),
    )
    volume = _per_ib(
        session, select(S.ib_id, func.sum(T.lots)).join(T, T.client_ref == S.client_ref).where(mine).group_by(S.ib_id)
    )
    moves = _money_per_ib(
        session,
        select(S.ib_id, M.currency, money_sum(M.amount))
        .join(M, M.client_ref == S.client_ref)
        .where(mine, M.status.in_(("completed",)))
        .group_by(S.ib_id, M.currency),
    )
    out_moves = _money_per_ib(
        session,
        select(S.ib_id, M.currency, money_sum(M.amount))
        .join(M, M.client_ref == S.client_ref)
        .where(mine, M.kind == "withdrawal")
        .group_by(S.ib_id, M.currency),
    )
    earned = _money_per_ib(
        session,
        select(IbCommission.ib_id, IbCommission.currency, money_sum(IbCommission.amount))
        .where(IbCommission.ib_id.in_(ib_ids), IbCommission.status != REJECTED)
        .group_by(IbCommission.ib_id, IbCommission.currency),
    )
    regs, kyc = count(), count(S.kyc_approved_at.is_not(None))
    return [
        {
            "ib_id": ib,
            "registrations": regs.get(ib, 0),
            "kyc_approved": kyc.get(ib, 0),
            "funded_clients": funded.get(ib, 0),
            "active_traders": active.get(ib, 0),
            "volume_lots": str(volume.get(ib) or Decimal(0)),
            "net_deposits": _net(moves.get(ib, {}), out_moves.get(ib, {})),
            "commissions": {c: str(a) for c, a in sorted(earned.get(ib, {}).items())},
        }
        for ib in ib_ids
    ]


def _net(deposits: dict[str, Decimal], withdrawals: dict[str, Decimal]) -> dict[str, str]:
    currencies = sorted(set(deposits) | set(withdrawals))
    return {c: str(deposits.get(c, Decimal(0)) - withdrawals.get(c, Decimal(0))) for c in currencies}
