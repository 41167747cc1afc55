"""Event builders and helpers for payment and trading-account tests."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from engine.clients import service as clients_service
from engine.clients.models import Client
from engine.db import unit_of_work
from engine.events.models import Event
from engine.processing.ingest import ingest_lines
from tests.helpers import event, jsonl, registered  # noqa: F401 (re-exported)

_ids = itertools.count(1)
T0 = "2026-11-01T10:00:00Z"


def at(minutes: int) -> str:
    """Return an ISO time `minutes` after 2026-11-01 10:00 UTC."""
    from datetime import datetime, timedelta, timezone

    base = datetime(2026, 11, 1, 10, tzinfo=timezone.utc)
    return (base + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def deposit(
    status: str,
    client: str = "C1",
    minute: int = 0,
    *,
    pid: str = "p1",
    amount: str = "100.00",
    currency: str = "USD",
    **extra,
) -> dict:
    """Build a payment.deposit_<status> event."""
    data = {
        "payment_id": pid,
        "amount": amount,
        "currency": currency,
        "method": "card",
        "provider": extra.pop("provider", "stripe"),
        **extra,
    }
    if status == "failed":
        data.setdefault("reason_code", "card_declined")
        data.setdefault("reason", "Your card was declined.")
    return event(f"payment.deposit_{status}", client, at(minute), **data)


def withdrawal(
    status: str,
    client: str = "C1",
    minute: int = 0,
    *,
    wid: str = "w1",
    amount: str = "50.00",
    currency: str = "USD",
    **extra,
) -> dict:
    """Build a payment.withdrawal_<status> event."""
    return event(
        f"payment.withdrawal_{status}", client, at(minute), withdrawal_id=wid, amount=amount, currency=currency, **extra
    )


def transfer(
    status: str,
    client: str = "C1",
    minute: int = 0,
    *,
    tid: str | None = None,
    frm: str = "wallet",
    to: str = "A1",
    amount: str = "10.00",
    currency: str = "USD",
    **extra,
) -> dict:
    """Build a wallet.transfer_<status> event."""
    return event(
        f"wallet.transfer_{status}",
        client,
        at(minute),
        transfer_id=tid or f"t{next(_ids)}",
        amount=amount,
        currency=currency,
        **{"from": frm, "to": to},
        **extra,
    )


def account(
    client: str = "C1",
    minute: int = 0,
    *,
    aid: str = "A1",
    currency: str = "USD",
    leverage: int = 100,
    account_type: str = "standard",
) -> dict:
    """Build an account.created event."""
    return event(
        "account.created",
        client,
        at(minute),
        account_id=aid,
        platform="mt5",
        account_type=account_type,
        currency=currency,
        leverage=leverage,
    )


def ingest(database, *events) -> None:
    """Store and process events; fail the test if any line is rejected or any event parks."""
    report = ingest_lines(database, jsonl(events).splitlines())
    assert report.ok, report.rejected
    with unit_of_work(database) as s:
        errors = list(s.scalars(select(Event.last_error).where(Event.last_error.is_not(None))))
    assert not errors, errors


def set_kyc(database, ref: str, status: str) -> None:
    """Set a client's KYC status directly (the KYC domain owns how it changes)."""
    with unit_of_work(database) as s:
        s.scalar(select(Client).where(Client.ref == ref)).kyc_status = status


def profile(database, ref: str) -> dict:
    """Return the client's profile."""
    with unit_of_work(database) as s:
        return clients_service.profile(s, clients_service.get_by_ref(s, ref))
