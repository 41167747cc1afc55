"""The double-entry ledger: balanced postings, balances as sums, no overdrawn wallet.

Ledger accounts are named by text:
  wallet:<client>:<CUR>     the client's wallet (what the client may spend)
  hold:<client>:<CUR>       money held for a pending withdrawal
  debt:<client>:<CUR>       what the client owes after a refund or chargeback it could not cover
  trading:<account id>      money moved to or from a trading account
  broker:<name>:<CUR>       the broker's side: clearing, fees, chargebacks
A posting is a set of entries summing to zero per currency, applied once per key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.db import money_sum
from engine.payments.models import LedgerEntry, Posting
from engine.values import ValueError_, fmt_amount, parse_decimal, utcnow

ZERO = Decimal(0)
# Accounts that hold client money and so may never go below zero.
GUARDED = ("wallet:", "hold:")


class LedgerError(ValueError):
    """A posting is refused (unbalanced, malformed, or it would overdraw a wallet)."""


class InsufficientFunds(LedgerError):
    """A posting is refused because it would take a wallet or hold below zero."""


@dataclass(frozen=True)
class Leg:
    account: str
    currency: str
    amount: Decimal
    client_ref: str | None = None


def wallet(client_ref: str, currency: str) -> str:
    return f"wallet:{client_ref}:{currency}"


def hold(client_ref: str, currency: str) -> str:
    return f"hold:{client_ref}:{currency}"


def debt(client_ref: str, currency: str) -> str:
    return f"debt:{client_ref}:{currency}"


def broker(name: str, currency: str) -> str:
    return f"broker:{name}:{currency}"


def trading(account_id: str) -> str:
    return f"trading:{account_id}"


def lock_client(session: Session, client_ref: str) -> Client:
    """Lock the client row so balance checks and postings cannot interleave."""
    client = session.scalar(select(Client).where(Client.ref == client_ref).with_for_update())
    if client is None:
        raise LedgerError(f"unknown client {client_ref!r}")
    return client


def balance(session: Session, account: str, currency: str) -> Decimal:
    """Return the sum of the entries on one ledger account in one currency."""
    session.flush()
    total = session.scalar(
        select(money_sum(LedgerEntry.amount)).where(LedgerEntry.account == account, LedgerEntry.currency == currency)
    )
    return total if total is not None else ZERO


def balances(session: Session, client_ref: str, prefix: str = "wallet") -> dict[str, Decimal]:
    """Return {currency: balance} of a client's `prefix` accounts (wallet, hold, debt)."""
    session.flush()
    rows = session.execute(
        select(LedgerEntry.currency, money_sum(LedgerEntry.amount))
        .where(LedgerEntry.client_ref == client_ref, LedgerEntry.account.like(f"{prefix}:%"))
        .group_by(LedgerEntry.currency)
        .order_by(LedgerEntry.currency)
    )
    return {currency: total for currency, total in rows}


def is_posted(session: Session, key: str) -> bool:
    """Return whether a posting with this key exists."""
    return session.scalar(select(Posting.id).where(Posting.key == key)) is not None


def _check_legs(legs: list[Leg]) -> None:
    if len(legs) < 2:
        raise LedgerError("a posting needs at least two entries")
    sums: dict[str, Decimal] = {}
    for leg in legs:
        if not isinstance(leg.amount, Decimal):
            raise LedgerError(f"{leg.account}: amount must be a Decimal, not {type(leg.amount).__name__}")
        try:
            parse_decimal(leg.amount, f"{leg.account} amount")
        except ValueError_ as exc:
            raise LedgerError(str(exc)) from None
        sums[leg.currency] = sums.get(leg.currency, ZERO) + leg.amount
    unbalanced = {c: s for c, s in sums.items() if s != 0}
    if unbalanced:
        raise LedgerError(f"posting does not balance: {unbalanced}")


def _check_overdraw(legs: list[Leg], available_of: Callable[[str, str], Decimal]) -> None:
    debits: dict[tuple[str, str], Decimal] = {}
    for leg in legs:
        if leg.account.startswith(GUARDED) and leg.amount < 0:
            debits[(leg.account, leg.currency)] = debits.get((leg.account, leg.currency), ZERO) + leg.amount
    for (account, currency), amount in debits.items():
        available = available_of(account, currency)
        if available + amount < 0:
            raise InsufficientFunds(
                f"insufficient funds: {account} holds {available} {currency}, cannot debit {-amount} {currency}"
            )


def post(
    session: Session,
    *,
    key: str,
    kind: str,
    client_ref: str,
    legs: list[Leg],
    occurred_at: datetime,
    memo: str | None = None,
    event_seq: int | None = None,
) -> Posting | None:
    """Apply a balanced posting once; return it, or None if `key` was already posted."""
    if not decide(
        key,
        legs,
        posted=lambda k: is_posted(session, k),
        available_of=lambda account, currency: balance(session, account, currency),
    ):
        return None
    return record(
        session,
        key=key,
        kind=kind,
        client_ref=client_ref,
        legs=legs,
        occurred_at=occurred_at,
        memo=memo,
        event_seq=event_seq,
    )


def record(
    session: Session,
    *,
    key: str,
    kind: str,
    client_ref: str,
    legs: list[Leg],
    occurred_at: datetime,
    memo: str | None = None,
    event_seq: int | None = None,
) -> Posting:
    """Write a posting `decide` made (checked, not posted yet)."""
    row, entries = rows(
        key=key, kind=kind, client_ref=client_ref, legs=legs, occurred_at=occurred_at, memo=memo, event_seq=event_seq
    )
    posting = Posting(**row)
    for entry in entries:
        posting.entries.append(LedgerEntry(**entry))
    session.add(posting)
    session.flush()
    return posting


def decide(
    key: str,
    legs: list[Leg],
    *,
    posted: Callable[[str], bool],
    available_of: Callable[[str, str], Decimal],
) -> bool:
    """Decide whether a posting is made: False if `key` is posted already; raise LedgerError
    if it is malformed or unbalanced, InsufficientFunds if it would overdraw a wallet or hold.

    Both processing paths decide here: per event `post` asks the database, the set-based
    form (engine.payments.batch) its group state.
    """
    _check_legs(legs)
    if posted(key):
        return False
    _check_overdraw(legs, available_of)
    return True


def rows(
    *,
    key: str,
    kind: str,
    client_ref: str,
    legs: list[Leg],
    occurred_at: datetime,
    memo: str | None,
    event_seq: int | None,
) -> tuple[dict, list[dict]]:
    """Return the `ledger_postings` row of a decided posting and its `ledger_entries` rows
    (without their ids): `post` makes them ORM objects, the set-based form writes them in bulk."""
    row = {
        "key": key,
        "kind": kind,
        "client_ref": client_ref,
        "occurred_at": occurred_at,
        "created_at": utcnow(),
        "memo": memo,
        "event_seq": event_seq,
    }
    entries = [
        {
            "account": leg.account,
            "currency": leg.currency,
            "amount": leg.amount,
            "client_ref": leg.client_ref or client_ref,
        }
        for leg in legs
    ]
    return row, entries


def covered_debit(session: Session, client_ref: str, currency: str, amount: Decimal) -> list[Leg]:
    """Return legs debiting the wallet up to its balance and the client's debt for the rest."""
    available = max(balance(session, wallet(client_ref, currency), currency), ZERO)
    from_wallet = min(available, amount)
    legs = [Leg(wallet(client_ref, currency), currency, -from_wallet)] if from_wallet else []
    if amount > from_wallet:
        legs.append(Leg(debt(client_ref, currency), currency, -(amount - from_wallet)))
    return legs


def entries_for(session: Session, client_ref: str, limit: int = 200) -> list[LedgerEntry]:
    """Return a client's ledger entries, newest first."""
    return list(
        session.scalars(
            select(LedgerEntry)
            .join(Posting)
            .where(LedgerEntry.client_ref == client_ref)
            .order_by(Posting.occurred_at.desc(), LedgerEntry.id.desc())
            .limit(limit)
        )
    )


# One formatting of amounts for every domain (engine.values); the ledger's name stays.
fmt = fmt_amount
