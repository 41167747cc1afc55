"""Event builders for the IB tests: registrations, deposits, trades, KYC results."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from engine.values import UTC, iso
from tests.helpers import event, registered

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
_n = itertools.count(1)


def at(days: float = 0, seconds: float = 0) -> str:
    """Return T0 plus a delay, as ISO-8601."""
    return iso(T0 + timedelta(days=days, seconds=seconds))


def ib(ref: str, ib_id: str, code: str, parent: str | None = None, day: float = 0) -> list[dict]:
    """Register a client and make it an IB."""
    data = {"ib_id": ib_id, "referral_code": code, **({"parent_ib": parent} if parent else {})}
    return [registered(ref, at(day)), event("ib.registered", ref, at(day, 60), **data)]


def client(ref: str, code: str | None = None, day: float = 0, kyc: bool = True) -> list[dict]:
    """Register a (referred) client, KYC-approved an hour later unless kyc=False."""
    extra = {"referral_code": code} if code else {}
    out = [registered(ref, at(day), **extra)]
    if kyc:
        out.append(event("kyc.review_completed", ref, at(day, 3600), provider="sumsub", result="approved"))
    return out


def deposit(
    ref: str, amount: str, day: float, payment_id: str | None = None, status: str = "completed", currency: str = "USD"
) -> dict:
    """A deposit event (completed, refunded or charged_back)."""
    return event(
        f"payment.deposit_{status}",
        ref,
        at(day),
        payment_id=payment_id or f"pay-{next(_n)}",
        amount=amount,
        currency=currency,
        method="card",
        provider="stripe",
    )


def trade(
    ref: str,
    lots: str,
    day: float,
    held: int,
    symbol: str = "EURUSD",
    ticket: str | None = None,
    fee: str | None = None,
) -> dict:
    """A trade.closed event for a trade held `held` seconds, closing on `day`."""
    close = T0 + timedelta(days=day)
    extra = {"commission": fee} if fee else {}
    return event(
        "trade.closed",
        ref,
        iso(close),
        account_id=f"A-{ref}",
        ticket=ticket or f"t{next(_n)}",
        symbol=symbol,
        side="buy",
        volume_lots=lots,
        open_time=iso(close - timedelta(seconds=held)),
        close_time=iso(close),
        profit="12.50",
        **extra,
    )
