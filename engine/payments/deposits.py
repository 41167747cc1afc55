"""Deposits: requested -> completed / failed, then refunded or charged back; wire matching.

A deposit's ledger effect is derived from what is known about it, not from the
order events arrive in: `settle()` posts the credit once completion is known and
the refund or chargeback once both it and the completion are known, each under
its own key. A refund that arrives before its completion therefore waits, and
the balances end the same whatever the order.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.db import money_sum
from engine.clients.models import Client
from engine.payments import ledger
from engine.clients.funnel import advance
from engine.payments.models import Deposit, LedgerEntry, Posting
from engine.queries import newest_first
from engine.values import parse_decimal, utcnow

RANK = {"requested": 0, "failed": 1, "completed": 2, "refunded": 3, "charged_back": 4}


class DepositError(ValueError):
    """A deposit event contradicts what is known about the deposit."""


def currency_code(text: object) -> str:
    """A currency as a rule or a client's profile writes it (` eur`), as stored (EUR)."""
    return str(text).strip().upper()


def get(session: Session, *, provider: str, payment_id: str) -> Deposit | None:
    """Return the deposit with this provider payment id, or None."""
    return session.scalar(select(Deposit).where(Deposit.provider == provider, Deposit.payment_id == payment_id))


def key(deposit: Deposit, what: str) -> str:
    """Return the ledger posting key of one effect of a deposit."""
    return f"deposit:{deposit.provider}:{deposit.payment_id}:{what}"


def amount_of(data: dict) -> Decimal:
    """Return a deposit event's amount; raise if it is not a positive amount."""
    amount = parse_decimal(data["amount"], "amount")
    if amount <= 0:
        raise DepositError(f"deposit amount must be positive, not {amount}")
    return amount


def new(client_ref: str, data: dict, amount: Decimal) -> Deposit:
    """Return a deposit first known from this event (not added to a session)."""
    return Deposit(
        client_ref=client_ref,
        provider=data["provider"],
        payment_id=data["payment_id"],
        method=data["method"],
        amount=amount,
        currency=data["currency"],
        status="requested",
        updated_at=utcnow(),
    )


def change(deposit: Deposit, client_ref: str, status: str, data: dict, amount: Decimal, at: datetime) -> None:
    """Apply one deposit event of `status` to the deposit's row (no SQL: both processing
    paths decide here); raise DepositError if the event contradicts what is known."""
    if deposit.client_ref != client_ref:
        raise DepositError(
            f"deposit {data['provider']}/{data['payment_id']} belongs to client {deposit.client_ref}, not {client_ref}"
        )
    if deposit.currency != data["currency"]:
        raise DepositError(
            f"deposit {data['provider']}/{data['payment_id']} is in "
            f"{deposit.currency}; this event says {data['currency']}"
        )
    deposit.reference = (data.get("reference") or "").strip() or deposit.reference
    deposit.account_id = data.get("account_id") or deposit.account_id
    if data.get("on_platform"):
        if not deposit.account_id:
            raise DepositError(
                f"deposit {data['provider']}/{data['payment_id']} is on the "
                "platform but names no trading account (account_id)"
            )
        deposit.on_platform = True
    if status in ("refunded", "charged_back") and amount > deposit.amount:
        raise DepositError(
            f"{status.replace('_', ' ')} amount {amount} exceeds deposit "
            f"{deposit.provider}/{deposit.payment_id} of {deposit.amount}"
        )
    _note(deposit, status, data, amount, at)
    if RANK[status] >= RANK[deposit.status]:
        deposit.status = status
    deposit.updated_at = utcnow()


def apply(
    session: Session, *, client: Client, status: str, data: dict, occurred_at: datetime, event_seq: int | None = None
) -> Deposit:
    """Apply one deposit event of `status` and post what it settles."""
    amount = amount_of(data)
    deposit = get(session, provider=data["provider"], payment_id=data["payment_id"])
    if deposit is None:
        deposit = new(client.ref, data, amount)
        session.add(deposit)
    change(deposit, client.ref, status, data, amount, occurred_at)
    session.flush()
    settle(session, deposit, client, event_seq=event_seq)
    return deposit


def _note(deposit: Deposit, status: str, data: dict, amount: Decimal, at: datetime) -> None:
    if status == "requested":
        deposit.requested_at = deposit.requested_at or at
    elif status == "failed":
        deposit.failed_at = at
        deposit.reason_code, deposit.reason = data.get("reason_code"), data.get("reason")
    elif status == "completed":
        deposit.completed_at, deposit.amount = deposit.completed_at or at, amount
    elif status == "refunded":
        deposit.refunded_at, deposit.refund_amount = deposit.refunded_at or at, amount
    elif status == "charged_back":
        deposit.charged_back_at, deposit.chargeback_amount = deposit.charged_back_at or at, amount
        deposit.reason_code = data.get("reason_code") or deposit.reason_code
        deposit.reason = data.get("reason") or deposit.reason


def settle(session: Session, deposit: Deposit, client: Client, *, event_seq: int | None = None) -> None:
    """Post every ledger effect the deposit's known state calls for and is not posted yet."""
    if deposit.completed_at is None:
        return  # nothing reached the broker yet; a refund or chargeback waits for it
    if ledger.post(session, **credit(deposit), event_seq=event_seq):
        advance(client, "funded")
        _auto_fund(session, deposit, client)
    for what, at, amount, account in reversals(deposit):
        if at is not None and not ledger.is_posted(session, key(deposit, what)):
            _reverse(
                session,
                deposit,
                what,
                min(amount, deposit.amount - _reversed(session, deposit)),
                account,
                at,
                event_seq,
            )


def credit(deposit: Deposit) -> dict:
    """Return the posting (ledger.post's arguments) that credits a completed deposit."""
    cur = deposit.currency
    return dict(
        key=key(deposit, "credit"),
        kind="deposit",
        client_ref=deposit.client_ref,
        legs=[
            ledger.Leg(_credited(deposit), cur, deposit.amount),
            ledger.Leg(ledger.broker("clearing", cur), cur, -deposit.amount),
        ],
        occurred_at=deposit.completed_at,
        memo=f"deposit {deposit.provider}/{deposit.payment_id}",
    )


def reversals(deposit: Deposit) -> tuple[tuple[str, datetime | None, Decimal | None, str], ...]:
    """Return (what, when known, amount, broker account) of the deposit's refund and chargeback."""
    return (
        ("refund", deposit.refunded_at, deposit.refund_amount, "clearing"),
        ("chargeback", deposit.charged_back_at, deposit.chargeback_amount, "chargebacks"),
    )


def _credited(deposit: Deposit) -> str:
    """Where the deposit's money is: its trading account when it was made on the platform
    (the platform already shows it there), else the client's wallet."""
    if deposit.on_platform:
        return ledger.trading(deposit.account_id)
    return ledger.wallet(deposit.client_ref, deposit.currency)


def _reversed(session: Session, deposit: Deposit) -> Decimal:
    """Return how much of the deposit refunds and chargebacks already took back."""
    keys = [key(deposit, "refund"), key(deposit, "chargeback")]
    total = session.scalar(
        select(money_sum(LedgerEntry.amount))
        .join(Posting)
        .where(Posting.key.in_(keys), LedgerEntry.account.like("broker:%"))
    )
    return total if total is not None else Decimal(0)


def _reverse(
    session: Session, deposit: Deposit, what: str, amount: Decimal, account: str, at: datetime, event_seq: int | None
) -> None:
    # A refund and a chargeback of the same deposit never take back more than it brought in.
    if amount <= 0:
        return
    ref, cur = deposit.client_ref, deposit.currency
    if deposit.on_platform:  # taken back from the account it was credited to
        legs = [ledger.Leg(_credited(deposit), cur, -amount)]
    else:
        legs = ledger.covered_debit(session, ref, cur, amount)
    legs.append(ledger.Leg(ledger.broker(account, cur), cur, amount))
    ledger.post(
        session,
        key=key(deposit, what),
        kind=what,
        client_ref=ref,
        legs=legs,
        occurred_at=at,
        event_seq=event_seq,
        memo=f"{what} of deposit {deposit.provider}/{deposit.payment_id}",
    )


def _auto_fund(session: Session, deposit: Deposit, client: Client) -> None:
    # Funding follows the client's standing instruction, so it is state, not a rule decision.
    if not client.auto_funding or deposit.on_platform:
        return  # a deposit made on the platform is on the account already
    from engine.payments import transfers

    target = deposit.account_id or transfers.sole_account(session, client.ref, deposit.currency)
    if target:
        transfers.apply(
            session,
            client_ref=client.ref,
            transfer_id=f"autofund:{deposit.provider}:{deposit.payment_id}",
            source="wallet",
            destination=target,
            amount=deposit.amount,
            currency=deposit.currency,
            occurred_at=deposit.completed_at,
        )


def list_for(session: Session, client_ref: str, limit: int = 200) -> list[Deposit]:
    """Return a client's deposits, newest first."""
    return newest_first(session, Deposit, client_ref, Deposit.updated_at, limit)


def count(session: Session, client_ref: str, *, completed: bool) -> int:
    """Return how many of a client's deposits completed (or failed without completing)."""
    stmt = select(func.count()).select_from(Deposit).where(Deposit.client_ref == client_ref)
    if completed:
        stmt = stmt.where(Deposit.completed_at.is_not(None))
    else:
        stmt = stmt.where(Deposit.failed_at.is_not(None), Deposit.completed_at.is_(None))
    return session.scalar(stmt)


def completed_sum(session: Session, client_ref: str, currency: str) -> Decimal:
    """Return the sum of a client's completed deposits in one currency."""
    total = session.scalar(
        select(money_sum(Deposit.amount)).where(
            Deposit.client_ref == client_ref, Deposit.currency == currency, Deposit.completed_at.is_not(None)
        )
    )
    return total if total is not None else Decimal(0)


def completed_average(session: Session, client_ref: str, currency: str) -> Decimal | None:
    """Return the average completed deposit in one currency (8 decimal places), or None."""
    total, how_many = session.execute(
        select(money_sum(Deposit.amount), func.count()).where(
            Deposit.client_ref == client_ref, Deposit.currency == currency, Deposit.completed_at.is_not(None)
        )
    ).one()
    if not how_many:
        return None
    average = (Decimal(total) / how_many).quantize(Decimal("1e-8")).normalize()
    return average.quantize(Decimal(1)) if average.as_tuple().exponent > 0 else average  # 1E+2 -> 100


def first_completed(session: Session, client_ref: str) -> Deposit | None:
    """Return the client's first completed deposit, or None."""
    return session.scalar(
        select(Deposit)
        .where(Deposit.client_ref == client_ref, Deposit.completed_at.is_not(None))
        .order_by(Deposit.completed_at, Deposit.id)
        .limit(1)
    )


def last_completed_at(session: Session, client_ref: str):
    """Return when the client's latest completed deposit completed, or None."""
    return session.scalar(select(func.max(Deposit.completed_at)).where(Deposit.client_ref == client_ref))


def failures_since_completed(session: Session, client_ref: str) -> int:
    """How many of the client's deposits last failed after its latest completed deposit."""
    latest = last_completed_at(session, client_ref)
    stmt = (
        select(func.count())
        .select_from(Deposit)
        .where(Deposit.client_ref == client_ref, Deposit.failed_at.is_not(None), Deposit.completed_at.is_(None))
    )
    if latest is not None:
        stmt = stmt.where(Deposit.failed_at > latest)
    return session.scalar(stmt) or 0


def match_wire(
    session: Session,
    *,
    reference: str,
    amount: Decimal,
    currency: str,
    booked_at: datetime,
    provider: str | None = None,
) -> Deposit | None:
    """Return the one requested deposit a booked bank wire pays, or None if none fits exactly.

    It matches on the reference (case and surrounding spaces ignored), the currency and
    the amount to the cent, among deposits still `requested` or `failed` and requested
    no later than the booking; two candidates are ambiguous and match nothing.
    """
    wanted = (reference or "").strip().upper()
    if not wanted:
        return None
    stmt = select(Deposit).where(
        func.upper(Deposit.reference) == wanted,
        Deposit.status.in_(("requested", "failed")),
        Deposit.currency == currency,
        Deposit.amount == amount,
    )
    if provider:
        stmt = stmt.where(Deposit.provider == provider)
    found = [d for d in session.scalars(stmt.limit(3)) if d.requested_at is None or d.requested_at <= booked_at]
    return found[0] if len(found) == 1 else None


def get_by_id(session: Session, deposit_id: int) -> Deposit | None:
    """Return the deposit with this row id, or None."""
    return session.get(Deposit, deposit_id)


def find_open(
    session: Session, *, reference: str = "", amount: Decimal | None = None, currency: str = "", limit: int = 20
) -> list[Deposit]:
    """Return requested or failed deposits whose reference contains `reference` or amount is `amount`."""
    conditions = []
    if (reference or "").strip():
        conditions.append(func.lower(Deposit.reference).like(f"%{reference.strip().lower()}%"))
    if amount is not None:
        conditions.append(Deposit.amount == amount)
    if not conditions:
        return []
    stmt = select(Deposit).where(Deposit.status.in_(("requested", "failed")), or_(*conditions))
    if currency:
        stmt = stmt.where(Deposit.currency == currency)
    return list(session.scalars(stmt.order_by(Deposit.id).limit(limit)))
