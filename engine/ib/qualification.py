"""Evaluate a qualification policy against a referred client's deposits and trades."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.db import money_sum
from engine.ib.config import Policy
from engine.ib.models import IbClientStats, IbMoneyMove, IbTrade
from engine.values import Money, iso, parse_duration


def deposits(session: Session, client_ref: str, *, as_of: datetime | None = None) -> list[IbMoneyMove]:
    """Return a client's deposits as the IB projections saw them, oldest first (those
    completed by `as_of` when given)."""
    query = select(IbMoneyMove).where(IbMoneyMove.client_ref == client_ref, IbMoneyMove.kind == "deposit")
    if as_of is not None:
        query = query.where(IbMoneyMove.at <= as_of)
    return list(session.scalars(query.order_by(IbMoneyMove.at, IbMoneyMove.id)))


def live_at(move: IbMoneyMove, as_of: datetime | None) -> bool:
    """Whether a deposit counted as completed at `as_of` (now when None): not yet refunded
    or charged back then."""
    if as_of is None:
        return move.status == "completed"
    return move.at <= as_of and (move.status == "completed" or move.reversed_at is None or move.reversed_at > as_of)


def chargebacks_by(session: Session, client_ref: str, as_of: datetime) -> int:
    """How many of the client's deposits were charged back at or before `as_of`."""
    return (
        session.scalar(
            select(func.count())
            .select_from(IbMoneyMove)
            .where(
                IbMoneyMove.client_ref == client_ref,
                IbMoneyMove.status == "charged_back",
                IbMoneyMove.reversed_at <= as_of,
            )
        )
        or 0
    )


def trades(session: Session, client_ref: str) -> list[IbTrade]:
    """Return a client's closed trades, in order of closing."""
    return list(
        session.scalars(
            select(IbTrade).where(IbTrade.client_ref == client_ref).order_by(IbTrade.close_time, IbTrade.id)
        )
    )


def counted_lots(
    session: Session, client_ref: str, policy: Policy, registered_at: datetime | None, closed_by: datetime | None = None
) -> Decimal:
    """Sum in SQL the lots of the client's closed trades that count under `policy`.

    Same verdict as `trade_verdict`, but one aggregate instead of loading every trade, so
    a rule that reads the lots on each `trade.closed` does not slow down with history.
    With `closed_by` only trades closed by then count (facts as of an earlier event)."""
    query = select(money_sum(IbTrade.lots)).where(IbTrade.client_ref == client_ref)
    if closed_by is not None:
        query = query.where(IbTrade.close_time <= closed_by)
    if policy.min_holding_time is not None:
        query = query.where(IbTrade.held_seconds >= policy.min_holding_time.total_seconds())
    if policy.within is not None:
        end = _window_end(policy, registered_at)
        if end is None:
            return Decimal(0)
        query = query.where(IbTrade.close_time <= end)
    return Decimal(session.scalar(query) or 0)


def counted_lots_of(session: Session, policy: Policy, clients: list[tuple[str, datetime | None]]) -> dict[str, Decimal]:
    """`counted_lots` for several clients (client ref, registration time) in one aggregate."""
    windows = []
    for ref, registered_at in clients:
        if policy.within is None:
            windows.append(IbTrade.client_ref == ref)
        elif (end := _window_end(policy, registered_at)) is not None:
            windows.append((IbTrade.client_ref == ref) & (IbTrade.close_time <= end))
    if not windows:
        return {}
    query = select(IbTrade.client_ref, money_sum(IbTrade.lots)).where(or_(*windows)).group_by(IbTrade.client_ref)
    if policy.min_holding_time is not None:
        query = query.where(IbTrade.held_seconds >= policy.min_holding_time.total_seconds())
    return {ref: Decimal(total or 0) for ref, total in session.execute(query).tuples()}


def plain(value: Decimal) -> str:
    """Format a decimal without trailing zeros or exponent (2.25, not 2.25000000)."""
    return format(value.normalize(), "f")


def seconds_text(seconds: float) -> str:
    """Format a duration the way the YAML writes it (90s, 30d)."""
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _window_end(policy: Policy, registered_at: datetime | None) -> datetime | None:
    return registered_at + policy.within if policy.within and registered_at else None


def trade_verdict(policy: Policy, trade: IbTrade, registered_at: datetime | None) -> tuple[bool, str]:
    """Return whether the trade counts under `policy`, and why (or why not)."""
    held = seconds_text(trade.held_seconds)
    minimum = policy.min_holding_time
    if minimum is not None and trade.held_seconds < minimum.total_seconds():
        return False, f"held {held}, under the minimum holding time of {seconds_text(minimum.total_seconds())}"
    if policy.within is not None:
        end = _window_end(policy, registered_at)
        if end is None:
            return False, "the client's registration date is unknown"
        if trade.close_time > end:
            return False, (
                f"closed {iso(trade.close_time)}, after the {seconds_text(policy.within.total_seconds())}"
                f" qualification window ended {iso(end)}"
            )
    return True, f"held {held}"


def trade_dict(trade: IbTrade, counted: bool, reason: str) -> dict:
    """Return a trade as explanations and the partner view show it."""
    return {
        "account_id": trade.account_id,
        "ticket": trade.ticket,
        "symbol": trade.symbol,
        "lots": plain(trade.lots),
        "held_seconds": trade.held_seconds,
        "close_time": iso(trade.close_time),
        "counted": counted,
        "reason": reason,
    }


def _deposit_dict(move: IbMoneyMove) -> dict:
    return {
        "payment_id": move.payment_id,
        "amount": plain(move.amount),
        "currency": move.currency,
        "at": iso(move.at),
        "status": move.status,
    }


@dataclass
class Result:
    policy: str
    qualified: bool = True
    checks: list[dict] = field(default_factory=list)
    trades: list[dict] = field(default_factory=list)
    deposits: list[dict] = field(default_factory=list)
    lots: Decimal = Decimal(0)

    def check(self, criterion: str, ok: bool, detail: str) -> None:
        """Record one criterion's outcome."""
        self.checks.append({"criterion": criterion, "ok": ok, "detail": detail})
        self.qualified = self.qualified and ok

    def explanation(self) -> dict:
        """Return the result as JSON-ready data."""
        return {
            "policy": self.policy,
            "qualified": self.qualified,
            "checks": self.checks,
            "lots": plain(self.lots),
            "deposits": self.deposits,
            "trades": self.trades,
        }


def _money_checks(result: Result, policy: Policy, moves: list[IbMoneyMove], end) -> None:
    live = [m for m in moves if m.status == "completed" and (end is None or m.at <= end)]
    if policy.first_deposit_at_least is not None:
        need = policy.first_deposit_at_least
        first = moves[0] if moves else None
        ok = bool(first and first in live and first.currency == need.currency and first.amount >= need.amount)
        shown = f"{plain(first.amount)} {first.currency} ({first.status})" if first else "none"
        result.check("first_deposit_at_least", ok, f"first deposit {shown}; needs {need}")
        if ok:
            result.deposits.append(_deposit_dict(first))
    if policy.total_deposits_at_least is not None:
        need = policy.total_deposits_at_least
        counted = [m for m in live if m.currency == need.currency]
        total = sum((m.amount for m in counted), Decimal(0))
        result.check(
            "total_deposits_at_least", total >= need.amount, f"deposits {plain(total)} {need.currency}; needs {need}"
        )
        result.deposits.extend(_deposit_dict(m) for m in counted if _deposit_dict(m) not in result.deposits)


def evaluate(
    policy: Policy,
    stats: IbClientStats,
    registered_at: datetime | None,
    moves: list[IbMoneyMove],
    closed: list[IbTrade] | None = None,
    lots: Decimal | None = None,
) -> Result:
    """Check every criterion of `policy`; return the outcome with what counted and why.

    With `closed` each trade is listed with its verdict (explanations, the partner view);
    with `lots` instead (from `counted_lots`) only the total is checked."""
    result = Result(policy.name)
    if policy.kyc_approved:
        result.check(
            "kyc_approved",
            stats.kyc_approved_at is not None,
            "KYC approved" if stats.kyc_approved_at else "KYC not approved yet",
        )
    if policy.no_chargeback:
        result.check("no_chargeback", stats.chargebacks == 0, f"{stats.chargebacks} chargeback(s)")
    end = _window_end(policy, registered_at)
    if policy.within is not None and registered_at is None:
        result.check("within", False, "the client's registration date is unknown")
    _money_checks(result, policy, moves, end)
    for trade in closed or ():
        counted, reason = trade_verdict(policy, trade, registered_at)
        result.trades.append(trade_dict(trade, counted, reason))
        result.lots += trade.lots if counted else 0
    if closed is None:
        result.lots = lots if lots is not None else Decimal(0)
    if policy.total_lots_at_least is not None:
        result.check(
            "total_lots_at_least",
            result.lots >= policy.total_lots_at_least,
            f"{plain(result.lots)} lots counted; needs {plain(policy.total_lots_at_least)}",
        )
    return result


UNBOUNDED_LOTS = Decimal("1e30")


def could_qualify(policy: Policy, stats: IbClientStats, moves: list[IbMoneyMove]) -> bool:
    """Whether the client would meet `policy` with enough lots: False means no trade can
    qualify it (its KYC, chargebacks, deposits or registration fail the policy), so a
    closed trade changes nothing (the set-based path decides on this, engine.ib.batch)."""
    return evaluate(policy, stats, stats.registered_at, moves, lots=UNBOUNDED_LOTS).qualified


def qualifies(session: Session, policy: Policy, stats: IbClientStats) -> bool:
    """Whether the client meets `policy` now, without loading its trades."""
    moves = deposits(session, stats.client_ref)
    if not could_qualify(policy, stats, moves):
        return False  # no need to sum the lots
    lots = counted_lots(session, stats.client_ref, policy, stats.registered_at)
    return evaluate(policy, stats, stats.registered_at, moves, lots=lots).qualified


# ---- the IB facts' decisions (engine.ib.facts per event, engine.ib.batch_facts for a group)


def _seconds(value) -> float | None:
    """Read a duration parameter given as seconds, a timedelta or text like 60s."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return float(value)
    return parse_duration(str(value)).total_seconds()


def lots_policy(held_at_least=None, within=None) -> Policy:
    """The policy `trades.lots(held_at_least=..., within=...)` counts trades under (both
    paths: engine.ib.facts, engine.ib.batch_facts)."""
    held, window = _seconds(held_at_least), _seconds(within)
    return Policy(
        "fact",
        min_holding_time=timedelta(seconds=held) if held else None,
        within=timedelta(seconds=window) if window else None,
    )


def first_deposit(moves: list) -> Money | None:
    """`ib.first_deposit` of a client's deposits, oldest first (both paths)."""
    return Money(moves[0].amount, moves[0].currency) if moves else None


def chargebacks_now(stats) -> int:
    """`ib.chargebacks.count` of a client's IB row (None: no row) when not as of a moment."""
    return stats.chargebacks if stats else 0
