"""Client record projections: registration and profile updates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.projections import projection
from engine.values import parse_decimal

if TYPE_CHECKING:  # the event store makes client rows: clients sit below events
    from engine.events.models import Event

# Profile fields a `client.profile_updated` event may change.
UPDATABLE = {
    "email",
    "first_name",
    "last_name",
    "phone",
    "country",
    "declared_income",
    "declared_income_currency",
    "auto_funding",
    "source",
}


@projection("client.registered")
def registered(session: Session, event: Event, client: Client) -> None:
    """Fill in the client record from the registration."""
    data = event.data
    if client.registered_at is not None and client.registered_at <= event.occurred_at:
        return  # an older registration already applied; a repeat changes nothing
    client.registered_at = event.occurred_at
    client.email = data["email"]
    client.country = data["country"]
    client.client_type = data["client_type"]
    client.first_name = data.get("first_name")
    client.last_name = data.get("last_name")
    client.phone = data.get("phone")
    client.referral_code = data.get("referral_code")
    client.source = data.get("source")
    client.auto_funding = bool(data.get("auto_funding"))
    if data.get("declared_income") is not None:
        client.declared_income = parse_decimal(data["declared_income"])
        client.declared_income_currency = data.get("currency")


@projection("client.profile_updated")
def profile_updated(session: Session, event: Event, client: Client) -> None:
    """Apply the changed profile fields (unknown fields are ignored, never stored)."""
    for name, value in (event.data.get("fields") or {}).items():
        if name not in UPDATABLE:
            continue
        if name == "declared_income" and value is not None:
            value = parse_decimal(value)
        if name == "auto_funding":
            value = bool(value)
        setattr(client, name, value)
