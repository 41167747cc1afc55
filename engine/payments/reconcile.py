"""Reconcile trading accounts: what the ledger says each account holds against the
balance the platform reports.

The ledger's `trading:<account>` holds the money moved to and from the account (wallet
transfers, deposits and withdrawals made on the platform). The platform's balance also
holds what trading made: each closed trade's profit, swap and commission, and the
commission charged when a position opened. So the expected platform balance is

    ledger balance of trading:<account>  +  realised trading result

and a difference means money counted twice, missed, or moved outside fxcrm. This reads
each account's trade events once: it is a report for finance, not part of processing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts.models import TradingAccount
from engine.events.models import Event
from engine.payments import ledger
from engine.values import iso, parse_decimal

ZERO = Decimal(0)


@dataclass
class AccountCheck:
    account_id: str
    client_ref: str
    currency: str
    ledger_balance: Decimal
    trading_result: Decimal
    platform_balance: Decimal | None
    platform_at: str | None

    @property
    def expected(self) -> Decimal:
        return self.ledger_balance + self.trading_result

    @property
    def difference(self) -> Decimal | None:
        """Platform minus expected (None when the platform reported no balance yet)."""
        return None if self.platform_balance is None else self.platform_balance - self.expected

    def to_dict(self) -> dict:
        diff = self.difference
        return {
            "account_id": self.account_id,
            "client": self.client_ref,
            "currency": self.currency,
            "ledger": ledger.fmt(self.ledger_balance),
            "trading_result": ledger.fmt(self.trading_result),
            "expected": ledger.fmt(self.expected),
            "platform": ledger.fmt(self.platform_balance),
            "platform_at": self.platform_at,
            "difference": ledger.fmt(diff),
            "status": "no platform balance" if diff is None else ("ok" if diff == 0 else "differs"),
        }


def _number(data: dict, name: str) -> Decimal:
    value = data.get(name)
    return ZERO if value in (None, "") else parse_decimal(str(value), name)


def trading_result(session: Session, account: TradingAccount) -> Decimal:
    """Profit, swap and commissions of the account's trades, as the platform counted them."""
    total = ZERO
    for type_, data in session.execute(
        select(Event.type, Event.data).where(
            Event.client_ref == account.client_ref, Event.type.in_(("trade.closed", "trade.opened"))
        )
    ):
        if str(data.get("account_id")) != account.account_id:
            continue
        if type_ == "trade.closed":
            total += _number(data, "profit") + _number(data, "swap")
        total += _number(data, "commission")
    return total


def check(session: Session, account: TradingAccount) -> AccountCheck:
    """Compare one trading account."""
    held = ledger.balance(session, ledger.trading(account.account_id), account.currency)
    return AccountCheck(
        account.account_id,
        account.client_ref,
        account.currency,
        held,
        trading_result(session, account),
        account.balance,
        iso(account.balance_at) if account.balance_at else None,
    )


def reconcile(session: Session, *, client_ref: str | None = None, only_differences: bool = False) -> list[AccountCheck]:
    """Check every trading account (of one client); optionally only those that differ."""
    query = select(TradingAccount).order_by(TradingAccount.account_id)
    if client_ref:
        query = query.where(TradingAccount.client_ref == client_ref)
    checks = [check(session, a) for a in session.scalars(query)]
    return [c for c in checks if c.difference] if only_differences else checks
