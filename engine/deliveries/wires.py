"""Unmatched bank wires and deliveries: the finance queue, candidates, manual match, return.

A manual match builds the same `payment.deposit_completed` event an automatic match
builds (same event id: the credit's id), so the event store's de-duplication makes a
second submit or a later replay of the file credit the wallet exactly once.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from connectors import bank_camt054
from engine.audit import service as audit_service
from engine.clients import service as clients_service
from engine.clients.models import Client
from engine.deliveries import service
from engine.deliveries.models import DONE, IGNORED, UNMATCHED, Delivery
from engine.events import store
from engine.processing import ingest
from engine.payments import deposits as deposits_service
from engine.tasks import service as tasks_service
from engine.tasks.subjects import Subject
from engine.values import parse_datetime

QUEUE = "finance"
MAX_CANDIDATES = 20


class WireError(ValueError):
    """A wire cannot be matched or returned (the message says why)."""


def task_key(delivery_id: int) -> str:
    """Return the open-task key of an unmatched delivery."""
    return f"delivery:{delivery_id}"


def keep_unmatched(session: Session, *, provider: str, delivery_id: str | None, body: bytes, reason: str, now) -> None:
    """Keep an authentic delivery no client or request matches (answered 202, its body kept)
    and open its finance task: an operator matches or returns it."""
    created = service.create(
        session,
        provider=provider,
        status=UNMATCHED,
        http_status=202,
        body=body,
        reason=reason,
        delivery_id=delivery_id,
        keep_body=True,
        now=now,
    )
    open_task(session, created)


def open_task(session: Session, delivery_id: int | None) -> None:
    """Open the finance task of an unmatched delivery (once; nothing if it was known)."""
    row = service.get(session, delivery_id) if delivery_id else None
    if row is None or row.status != UNMATCHED:
        return
    if row.provider == bank_camt054.NAME:
        title = f"Match or return unmatched bank wire #{row.id}"
    else:  # a webhook or a platform record no client fits: its cause is fixed, then retried
        title = f"Retry or drop unmatched {row.provider} delivery #{row.id}"
    tasks_service.create(
        session,
        queue=QUEUE,
        title=title,
        open_key=task_key(row.id),
        trigger_key=f"{task_key(row.id)}:opened",
        description=row.reason,
        data={"delivery_id": row.id, "provider": row.provider},
        subject=Subject("delivery", str(row.id)),
    )


def list_unmatched(session: Session, limit: int = 200) -> list[Delivery]:
    """Return the unmatched deliveries, oldest first (the longest waiting on top)."""
    return list(
        session.scalars(select(Delivery).where(Delivery.status == UNMATCHED).order_by(Delivery.id).limit(limit))
    )


def credit_of(row: Delivery) -> dict | None:
    """Return the stored credit of an unmatched bank wire, or None for other deliveries."""
    if row.provider != bank_camt054.NAME or not row.body:
        return None
    try:
        return json.loads(row.body)
    except ValueError:
        return None


def candidates(session: Session, *, query: str = "", amount: str = "", currency: str = "") -> list[dict]:
    """Return clients (with their open deposit requests) found by reference, name or amount."""
    clients: dict[str, Client] = {}
    text = (query or "").strip()
    if text:
        like = f"%{text.lower()}%"
        for client in session.scalars(
            select(Client)
            .where(
                or_(
                    func.lower(Client.ref) == text.lower(),
                    func.lower(func.coalesce(Client.first_name, "") + " " + func.coalesce(Client.last_name, "")).like(
                        like
                    ),
                    func.lower(func.coalesce(Client.last_name, "")).like(like),
                )
            )
            .limit(MAX_CANDIDATES)
        ):
            clients[client.ref] = client
    deposits = _open_deposits(session, text, amount, currency)
    for deposit in deposits:
        if deposit.client_ref not in clients:
            clients[deposit.client_ref] = clients_service.get_by_ref(session, deposit.client_ref)
    return [
        {"client": c, "deposits": [d for d in deposits if d.client_ref == ref]}
        for ref, c in list(clients.items())[:MAX_CANDIDATES]
        if c is not None
    ]


def _open_deposits(session: Session, reference: str, amount: str, currency: str) -> list:
    """Return requested or failed deposits whose reference or amount fits."""
    try:
        value = Decimal(amount) if (amount or "").strip() else None
    except InvalidOperation:
        value = None
    return deposits_service.find_open(
        session, reference=reference, amount=value, currency=currency, limit=MAX_CANDIDATES
    )


def lock_unmatched(session: Session, delivery_id: int) -> Delivery:
    """Return the delivery locked for update, or refuse if it was decided already."""
    row = session.scalar(select(Delivery).where(Delivery.id == delivery_id).with_for_update())
    if row is None:
        raise WireError(f"delivery #{delivery_id} does not exist")
    if row.status != UNMATCHED:
        raise WireError(f"delivery #{delivery_id} is no longer unmatched ({row.status}: {row.reason})")
    return row


def _credit(data: dict) -> bank_camt054.Credit:
    return bank_camt054.Credit(
        id=data["id"],
        reference=data.get("reference"),
        amount=Decimal(data["amount"]),
        currency=data["currency"],
        booked_at=parse_datetime(data["booked_at"]),
        debtor_name=data.get("debtor_name"),
        entry_ref=data.get("entry_ref"),
        end_to_end_id=None,
        remittance=(),
        account=None,
        line=data.get("line") or 0,
    )


def _deposit(session: Session, deposit_id: int | None, client_ref: str, credit: bank_camt054.Credit):
    if not deposit_id:
        return None
    deposit = deposits_service.get_by_id(session, deposit_id)
    if deposit is None or deposit.client_ref != client_ref:
        raise WireError(f"deposit #{deposit_id} is not a deposit of client {client_ref}")
    if deposit.status not in ("requested", "failed"):
        raise WireError(f"deposit #{deposit_id} is {deposit.status}, not waiting for money")
    if (deposit.currency, deposit.amount) != (credit.currency, credit.amount):
        raise WireError(
            f"deposit #{deposit_id} is {deposit.amount} {deposit.currency}; "
            f"the wire is {credit.amount} {credit.currency}"
        )
    return deposit


def match(
    session: Session,
    *,
    delivery_id: int,
    client_ref: str,
    actor: str,
    deposit_id: int | None = None,
    note: str | None = None,
) -> str:
    """Match an unmatched bank wire to a client (and deposit request); return the event id."""
    row = lock_unmatched(session, delivery_id)
    data = credit_of(row)
    if data is None:
        raise WireError(
            f"delivery #{delivery_id} from {row.provider} is not a bank wire; "
            "fix its cause and requeue it, or return it"
        )
    client = clients_service.get_by_ref(session, (client_ref or "").strip())
    if client is None:
        raise WireError(f"client {client_ref!r} does not exist")
    credit = _credit(data)
    deposit = _deposit(session, deposit_id, client.ref, credit)
    envelope = bank_camt054.deposit_event(
        credit,
        client=client.ref,
        payment_id=deposit.payment_id if deposit else credit.id,
        provider=deposit.provider if deposit else bank_camt054.NAME,
        account_id=deposit.account_id if deposit else None,
    )
    store.record_many(session, [envelope], via="backoffice")
    _schedule(session)
    reason = f"matched by {actor} to client {client.ref}" + (f" (deposit #{deposit.id})" if deposit else "")
    service.finish(session, row.id, status=DONE, reason=reason, event_ids=[credit.id])
    audit_service.record(
        session,
        actor=actor,
        action="wire.matched",
        target_type="client",
        target_id=client.ref,
        reason=(note or "").strip() or reason,
        detail={
            "delivery_id": row.id,
            "credit": credit.id,
            "amount": str(credit.amount),
            "currency": credit.currency,
            "deposit_id": deposit.id if deposit else None,
        },
    )
    close_task(session, row.id, actor, reason)
    return credit.id


def return_delivery(session: Session, *, delivery_id: int, reason: str, actor: str) -> None:
    """Return an unmatched wire (or drop another unmatched delivery) with a reason."""
    if not (reason or "").strip():
        raise WireError("returning a wire needs a reason")
    row = lock_unmatched(session, delivery_id)
    text = f"returned by {actor}: {reason.strip()}"
    service.finish(session, row.id, status=IGNORED, reason=text)
    audit_decision(session, row, actor=actor, action="wire.returned", reason=reason.strip())
    close_task(session, row.id, actor, text)


def audit_decision(session: Session, row: Delivery, *, actor: str, action: str, reason: str, **detail) -> None:
    """Audit an operator's decision on an unmatched delivery (its provider and id named)."""
    audit_service.record(
        session,
        actor=actor,
        action=action,
        target_type="delivery",
        target_id=str(row.id),
        reason=reason,
        detail={"provider": row.provider, "delivery": row.delivery_id, **detail},
    )


def close_task(session: Session, delivery_id: int, actor: str, resolution: str) -> None:
    """Close the finance task of a delivery that was decided (matched, returned, retried)."""
    task = tasks_service.get_open_by_key(session, task_key(delivery_id))
    if task is not None:
        tasks_service.close_if_open(session, task, actor=actor, resolution=resolution)


def _schedule(session: Session) -> None:
    # Processing follows the commit, exactly as for an automatic match.
    database = session.info.get("database")
    if database is not None:
        ingest.schedule_touched(session, database)
