"""Client record projections: registration and profile updates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.clients import batch
from engine.projections import batch_form, projection
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


def registration(client: Client, data: dict, at) -> None:
    """Fill in the client record from a registration at `at` (both processing paths)."""
    if client.registered_at is not None and client.registered_at <= at:
        return  # an older registration already applied; a repeat changes nothing
    client.registered_at = at
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


def profile_update(client: Client, data: dict) -> None:
    """Apply the changed profile fields (unknown fields are ignored, never stored)."""
    for name, value in (data.get("fields") or {}).items():
        if name not in UPDATABLE:
            continue
        if name == "declared_income" and value is not None:
            value = parse_decimal(value)
        if name == "auto_funding":
            value = bool(value)
        setattr(client, name, value)


@projection("client.registered")
def registered(session: Session, event: Event, client: Client) -> None:
    """Fill in the client record from the registration."""
    registration(client, event.data, event.occurred_at)


@projection("client.profile_updated")
def profile_updated(session: Session, event: Event, client: Client) -> None:
    """Apply the changed profile fields (unknown fields are ignored, never stored)."""
    profile_update(client, event.data)


# Both change only the client row, which processing holds loaded: the set-based form
# applies the same functions to it, and the session's flush writes it (no reads at all).
batch_form(
    "clients",
    (registered, profile_updated),
    load=lambda session, clients, events: None,
    accepts=lambda state, event, client: batch.accepts(event),
    apply=lambda state, event, client: (
        registration(client, event.data, event.occurred_at)
        if event.type == batch.REGISTERED
        else profile_update(client, event.data)
    ),
    write=lambda session, state: None,
)
