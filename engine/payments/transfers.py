"""Transfers between the wallet and trading accounts, internal transfers, and fees."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Callable, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts import service as accounts_service
from engine.payments import ledger
from engine.payments.models import Transfer
from engine.queries import newest_first
from engine.values import utcnow

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from engine.accounts.models import TradingAccount

WALLET = "wallet"
# Finds a trading account by its platform id (None: unknown).
AccountOf = Callable[[str], "TradingAccount | None"]


class Move(TypedDict):
    """What a transfer moves: whose money, under which id, from where to where (`wallet`
    or a trading account id), how much. Each way of making a transfer takes these."""

    client_ref: str
    transfer_id: str
    source: str
    destination: str
    amount: Decimal
    currency: str


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


def _endpoint(account_of: AccountOf, client_ref: str, name: str, currency: str) -> str:
    if name == WALLET:
        return ledger.wallet(client_ref, currency)
    account = account_of(name)
    if account is None:
        raise ledger.LedgerError(f"trading account {name} is unknown")
    if account.client_ref != client_ref:
        raise ledger.LedgerError(f"trading account {name} belongs to another client")
    if account.currency != currency:
        raise ledger.LedgerError(f"trading account {name} is in {account.currency}, the transfer in {currency}")
    return ledger.trading(name)


def legs(
    session: Session, client_ref: str, source: str, destination: str, amount: Decimal, currency: str
) -> list[ledger.Leg]:
    """Return the ledger legs moving `amount` from `source` to `destination`."""
    return legs_of(lambda name: accounts_service.get(session, name), client_ref, source, destination, amount, currency)


def legs_of(
    account_of: AccountOf, client_ref: str, source: str, destination: str, amount: Decimal, currency: str
) -> list[ledger.Leg]:
    """`legs`, finding trading accounts with `account_of(account id)` (None: unknown)."""
    if amount <= 0:
        raise ledger.LedgerError(f"a transfer amount must be positive, not {amount}")
    if source == destination:
        raise ledger.LedgerError("a transfer needs two different ends")
    frm = _endpoint(account_of, client_ref, source, currency)
    to = _endpoint(account_of, client_ref, destination, currency)
    return [ledger.Leg(frm, currency, -amount), ledger.Leg(to, currency, amount)]


def apply(
    session: Session,
    *,
    occurred_at: datetime,
    event_seq: int | None = None,
    wait_for_funds: bool = False,
    **move: Unpack[Move],
) -> Transfer:
    """Record a completed transfer and post it.

    One that would overdraw is kept as refused, or, with `wait_for_funds` (a transfer the
    platform reports completed: it has happened), kept as `waiting` and posted by
    `post_waiting` once the wallet can cover it.
    """
    found = get(session, move["transfer_id"])
    if is_repeat(found):
        return found  # a repeat: already posted (or refused) once
    transfer, wait_for_funds = to_post(found, wait_for_funds, occurred_at=occurred_at, **move)
    _post(session, transfer, event_seq=event_seq, wait_for_funds=wait_for_funds)
    session.add(transfer)
    session.flush()
    return transfer


def is_repeat(found: Transfer | None) -> bool:
    """Whether a completed transfer reported again was posted (or refused) once already."""
    return found is not None and found.status not in ("failed", "waiting")


def to_post(found: Transfer | None, wait_for_funds: bool, *, occurred_at: datetime, **fields) -> tuple[Transfer, bool]:
    """Return the transfer row to post a completed transfer on (`found`, or a new one not
    added to a session) and whether it waits for funds rather than being refused."""
    if found is None:
        found = Transfer(occurred_at=occurred_at, **fields)
    elif found.status == "waiting":
        wait_for_funds = True  # a replay of a waiting transfer keeps waiting
    # A transfer reported failed and then completed (a platform retry) did move the money.
    found.occurred_at = occurred_at
    return found, wait_for_funds


def failed_row(**fields) -> Transfer:
    """Return the row of a transfer first known as failed (not added to a session)."""
    return Transfer(status="failed", **fields)


def _post(session: Session, transfer: Transfer, *, event_seq: int | None, wait_for_funds: bool) -> None:
    """Post the transfer; on insufficient funds keep it waiting (or refused)."""
    status, reason, legs_ = outcome(
        transfer,
        wait_for_funds=wait_for_funds,
        account_of=lambda name: accounts_service.get(session, name),
        posted=lambda key: ledger.is_posted(session, key),
        available_of=lambda account, currency: ledger.balance(session, account, currency),
    )
    transfer.status, transfer.reason = status, reason
    if legs_ is not None:
        ledger.record(session, **posting(transfer), legs=legs_, event_seq=event_seq)


def posting(transfer: Transfer) -> dict:
    """The ledger posting of a transfer (ledger.rows' arguments but its legs and event)."""
    return dict(
        key=f"transfer:{transfer.transfer_id}",
        kind="transfer",
        client_ref=transfer.client_ref,
        occurred_at=transfer.occurred_at,
        memo=f"transfer {transfer.source} -> {transfer.destination}",
    )


def outcome(
    transfer: Transfer,
    *,
    wait_for_funds: bool,
    account_of: AccountOf,
    posted: Callable[[str], bool],
    available_of: Callable[[str, str], Decimal],
) -> tuple[str, str | None, list[ledger.Leg] | None]:
    """Decide a transfer's posting: (status, reason, the legs to post or None).

    No SQL of its own (both processing paths decide here): trading accounts come from
    `account_of`, whether the key is posted from `posted`, balances from `available_of`.
    A transfer into or out of an account not known yet waits for it when the platform
    reports it done (`wait_for_funds`), like one the wallet does not cover yet.
    """
    unknown = [name for name in (transfer.source, transfer.destination) if name != WALLET and account_of(name) is None]
    if wait_for_funds and unknown:
        # account.created may arrive after the platform's transfer into it
        return "waiting", f"waiting for account {unknown[0]}", None
    try:
        legs_ = legs_of(
            account_of, transfer.client_ref, transfer.source, transfer.destination, transfer.amount, transfer.currency
        )
        if not ledger.decide(posting(transfer)["key"], legs_, posted=posted, available_of=available_of):
            return "completed", None, None  # posted once already
    except ledger.InsufficientFunds as exc:
        if wait_for_funds:
            return "waiting", f"waiting for funds: {exc}", None
        return "refused", str(exc), None
    except ledger.LedgerError as exc:
        return "refused", str(exc), None
    return "completed", None, legs_


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


def failed(session: Session, *, reason: str | None, occurred_at: datetime, **move: Unpack[Move]) -> Transfer:
    """Record a transfer the platform reports failed (nothing is posted)."""
    transfer = get(session, move["transfer_id"])
    if transfer is None:
        transfer = failed_row(reason=reason, occurred_at=occurred_at, **move)
        session.add(transfer)
        session.flush()
    return transfer


def transfer(session: Session, *, actor: str, **move: Unpack[Move]) -> Transfer:
    """Move money by hand between a client's wallet and accounts; raise LedgerError if refused."""
    ledger.lock_client(session, move["client_ref"])
    if get(session, move["transfer_id"]) is not None:
        raise ledger.LedgerError(f"transfer {move['transfer_id']} already exists")
    _check_open(session, move["destination"])
    moved = apply(session, occurred_at=utcnow(), **move)
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
    return newest_first(session, Transfer, client_ref, Transfer.occurred_at, limit)
