"""Small builders shared by tests."""

from __future__ import annotations

import itertools
import json

_ids = itertools.count(1)


def event(
    etype: str,
    client: str = "C1",
    at: str = "2026-11-01T10:00:00Z",
    *,
    source: str = "test",
    id: str | None = None,
    **data,
) -> dict:
    """Build a canonical event envelope."""
    return {
        "id": id or f"ev-{next(_ids)}",
        "type": etype,
        "source": source,
        "occurred_at": at,
        "client": client,
        "data": data,
    }


def registered(client: str = "C1", at: str = "2026-11-01T10:00:00Z", **extra) -> dict:
    """Build a client.registered event."""
    data = {"email": f"{client.lower()}@example.com", "country": "DE", "client_type": "individual", **extra}
    return event("client.registered", client, at, **data)


def deposit_failed(client: str = "C1", at: str = "2026-11-01T11:00:00Z", amount: str = "100.00", **extra) -> dict:
    """Build a payment.deposit_failed event."""
    data = {
        "payment_id": extra.pop("payment_id", f"p-{next(_ids)}"),
        "amount": amount,
        "currency": "USD",
        "method": "card",
        "provider": "stripe",
        "reason_code": "card_declined",
        "reason": "Your card was declined.",
        **extra,
    }
    return event("payment.deposit_failed", client, at, **data)


def jsonl(events) -> str:
    """Serialise events as JSON lines."""
    return "".join(json.dumps(e) + "\n" for e in events)
