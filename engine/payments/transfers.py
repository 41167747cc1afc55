"""Transfers between the wallet and trading accounts, internal transfers, and fees."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts import service as accounts_service
from engine.accounts.service import AccountError
from engine.payments import ledger
from engine.payments.models import Transfer
from engine.values import utcnow

WALLET = "wallet"


def get(session: Session, transfer_id: str) -> Transfer | None:
    """Return the transfer with this id, or None."""
    return session.scalar(select(Transfer).where(Transfer.transfer_id == transfer_id))


def sole_account(session: Session, client_ref: str, currency: str) -> str | None:
    """Return the client's only active trading account in `currency`, or None."""
    found = [
        a.account_id
        for a in accounts_service.list_for(session, client_ref)
        if a.status == "active" and a.currency == currency
    ]
    return found[0] if len(found) == 1 else None


def _endpoint(session: Session, client_ref: str, name: str, currency: str) -> str:
    if name == WALLET:
        return ledger.wallet(client_ref, currency)
    account = accounts_service.owned(session, client_ref, name)
    if account.currency != currency:
        raise ledger.LedgerError(f"trading account {name} is in {account.currency}, the transfer in {currency}")
    return ledger.trading(name)


def legs(
    session: Session, client_ref: str, source: str, destination: str, amount: Decimal, currency: str
) -> list[ledger.Leg]:
    """Return the ledger legs moving `amount` from `source` to `destination`."""
    if amount <= 0:
        raise ledger.LedgerError(f"a transfer amount must be positive, not {amount}")
    if source == destination:
        raise ledger.LedgerError("a transfer needs two different ends")
    try:
        frm = _endpoint(session, client_ref, source, currency)
        to = _endpoint(session, client_ref, destination, currency)
    except AccountError as exc:
        raise ledger.LedgerError(str(exc)) from None
    return [ledger.Leg(frm, currency, -amount), ledger.Leg(to, currency, amount)]


def apply(
    session: Session,
    *,
    client_ref: str,
    transfer_id: str,
    source: str,
    destination: str,
    amount: Decimal,
    currency: str,
    occurred_at: datetime,
    event_seq: int | None = None,
    wait_for_funds: bool = False,
) -> Transfer:
    """Record a completed transfer and post it.

    One that would overdraw is kept as refused, or, with `wait_for_funds` (a transfer the
    platform reports completed: it has happened), kept as `waiting` and posted by
    `post_waiting` once the wallet can cover it.
    """
    transfer = get(session, transfer_id)
    if transfer is not None and transfer.status not in ("failed", "waiting"):
        return transfer  # a repeat: already posted (or refused) once
    if transfer is None:
        transfer = Transfer(
            transfer_id=transfer_id,
            client_ref=client_ref,
            source=source,
            destination=destination,
            amount=amount,
            currency=currency,
            occurred_at=occurred_at,
        )
    elif transfer.status == "waiting":
        wait_for_funds = True  # a replay of a waiting transfer keeps waiting
    # A transfer reported failed and then completed (a platform retry) did move the money.
    transfer.occurred_at = occurred_at
    _post(session, transfer, event_seq=event_seq, wait_for_funds=wait_for_funds)
    session.add(transfer)
    session.flush()
    return transfer


def _post(session: Session, transfer: Transfer, *, event_seq: int | None, wait_for_funds: bool) -> None:
    """Post the transfer; on insufficient funds keep it waiting (or refused)."""
    unknown = [
        name
        for name in (transfer.source, transfer.destination)
        if name != WALLET and accounts_service.get(session, name) is None
    ]
    if wait_for_funds and unknown:
        # account.created may arrive after the platform's transfer into it
        transfer.status, transfer.reason = "waiting", f"waiting for account {unknown[0]}"
        return
    try:
        ledger.post(
            session,
            key=f"transfer:{transfer.transfer_id}",
            kind="transfer",
            client_ref=transfer.client_ref,
            occurred_at=transfer.occurred_at,
            event_seq=event_seq,
            legs=legs(
                session, transfer.client_ref, transfer.source, transfer.destination, transfer.amount, transfer.currency
            ),
            memo=f"transfer {transfer.source} -> {transfer.destination}",
        )
    except ledger.InsufficientFunds as exc:
        status = "waiting" if wait_for_funds else "refused"
        reason = f"waiting for funds: {exc}" if wait_for_funds else str(exc)
        transfer.status, transfer.reason = status, reason
    except ledger.LedgerError as exc:
        transfer.status, transfer.reason = "refused", str(exc)
    else:
        transfer.status, transfer.reason = "completed", None


def post_waiting(session: Session, client_ref: str, event_seq: int | None = None) -> list[Transfer]:
    """Post the client's waiting transfers that the wallet now covers (and whose accounts exist).

    Tried oldest first (occurred_at, then id); one still not covered keeps waiting and
    the next is tried. Returns the transfers posted now. Posting is keyed by the
    transfer id, so a replay posts nothing twice.
    """
    waiting = list_waiting(session, client_ref)
    posted = []
    for transfer in waiting:
        _post(session, transfer, event_seq=event_seq, wait_for_funds=True)
        if transfer.status == "completed":
            posted.append(transfer)
    if waiting:
        session.flush()
    return posted


def list_waiting(session: Session, client_ref: str) -> list[Transfer]:
    """Return the client's transfers waiting for funds, oldest first."""
    return list(
        session.scalars(
            select(Transfer)
            .where(Transfer.client_ref == client_ref, Transfer.status == "waiting")
            .order_by(Transfer.occurred_at, Transfer.id)
        )
    )


def failed(
    session: Session,
    *,
    client_ref: str,
    transfer_id: str,
    source: str,
    destination: str,
    amount: Decimal,
    currency: str,
    reason: str | None,
    occurred_at: datetime,
) -> Transfer:
    """Record a transfer the platform reports failed (nothing is posted)."""
    transfer = get(session, transfer_id)
    if transfer is None:
        transfer = Transfer(
            transfer_id=transfer_id,
            client_ref=client_ref,
            source=source,
            destination=destination,
            amount=amount,
            currency=currency,
            status="failed",
            reason=reason,
            occurred_at=occurred_at,
        )
        session.add(transfer)
        session.flush()
    return transfer


def transfer(
    session: Session,
    *,
    client_ref: str,
    transfer_id: str,
    source: str,
    destination: str,
    amount: Decimal,
    currency: str,
    actor: str,
) -> Transfer:
    """Move money by hand between a client's wallet and accounts; raise LedgerError if refused."""
    ledger.lock_client(session, client_ref)
    if get(session, transfer_id) is not None:
        raise ledger.LedgerError(f"transfer {transfer_id} already exists")
    _check_open(session, destination)
    moved = apply(
        session,
        client_ref=client_ref,
        transfer_id=transfer_id,
        source=source,
        destination=destination,
        amount=amount,
        currency=currency,
        occurred_at=utcnow(),
    )
    if moved.status == "refused":
        raise ledger.LedgerError(moved.reason)
    return moved


def _check_open(session: Session, destination: str) -> None:
    # The platform may report moves into a locked account; staff may not make them.
    account = accounts_service.get(session, destination) if destination != WALLET else None
    if account is not None and account.status != "active":
        raise ledger.LedgerError(
            f"trading account {destination} is {account.status}"
            + (f": {account.status_reason}" if account.status_reason else "")
        )


def charge_fee(
    session: Session,
    *,
    client_ref: str,
    fee_id: str,
    amount: Decimal,
    currency: str,
    reason: str,
    occurred_at: datetime | None = None,
) -> bool:
    """Debit a fee from the wallet to the broker's fee account; return False if already charged."""
    if amount <= 0:
        raise ledger.LedgerError(f"a fee must be positive, not {amount}")
    if not reason or not reason.strip():
        raise ledger.LedgerError("a fee needs a reason")
    ledger.lock_client(session, client_ref)
    posted = ledger.post(
        session,
        key=f"fee:{fee_id}",
        kind="fee",
        client_ref=client_ref,
        occurred_at=occurred_at or utcnow(),
        memo=reason,
        legs=[
            ledger.Leg(ledger.wallet(client_ref, currency), currency, -amount),
            ledger.Leg(ledger.broker("fees", currency), currency, amount),
        ],
    )
    return posted is not None


def list_for(session: Session, client_ref: str, limit: int = 200) -> list[Transfer]:
    """Return a client's transfers, newest first."""
    return list(
        session.scalars(
            select(Transfer)
            .where(Transfer.client_ref == client_ref)
            .order_by(Transfer.occurred_at.desc(), Transfer.id.desc())
            .limit(limit)
        )
    )
