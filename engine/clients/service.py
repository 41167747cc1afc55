"""Client queries and the client profile (SPEC §5)."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.values import iso
from engine.domains import import_each_once

# Domains add or replace profile sections (each domain's `profile` module): name -> builder(session, client).
SECTIONS: dict[str, Callable[[Session, Client], Any]] = {}
B = TypeVar("B", bound=Callable[..., object])


def section(name: str) -> Callable[[B], B]:
    """Register the decorated builder(session, client) as profile section `name`."""

    def register(builder: B) -> B:
        SECTIONS[name] = builder
        return builder

    return register


def _load_sections() -> None:
    import_each_once("profile")


def get_by_ref(session: Session, ref: str) -> Client | None:
    """Return the client with this reference, or None."""
    return session.scalar(select(Client).where(Client.ref == ref))


def lock_by_ref(session: Session, ref: str) -> Client | None:
    """Lock the client's row and re-read it (None when unknown).

    Every decision about a client's money or KYC takes this lock first, then the rows it
    changes (withdrawal, task): one order everywhere, so two decisions never deadlock."""
    from engine.errors import lock_and_reread

    client = get_by_ref(session, ref)
    return lock_and_reread(session, Client, client) if client is not None else None


def summary(client: Client) -> dict:
    """Return the client's own record as JSON-ready data."""
    return {
        "ref": client.ref,
        "status": client.status,
        "status_reason": client.status_reason,
        "email": client.email,
        "first_name": client.first_name,
        "last_name": client.last_name,
        "phone": client.phone,
        "country": client.country,
        "client_type": client.client_type,
        "registered_at": iso(client.registered_at),
        "funnel_stage": client.funnel_stage,
        "risk": {"category": client.risk_category, "reason": client.risk_reason},
        "referral_code": client.referral_code,
        "source": client.source,
    }


_DEFAULTS: dict[str, Callable[[Client], Any]] = {
    "kyc": lambda c: {"status": c.kyc_status, "documents": []},
    "wallets": lambda c: {},
    "accounts": lambda c: [],
    "ib": lambda c: None,
    "commissions": lambda c: [],
    "notifications": lambda c: [],
    "tasks": lambda c: [],
    "timeline": lambda c: [],
}


def profile(session: Session, client: Client) -> dict:
    """Return the whole client profile: the record plus every domain's section."""
    _load_sections()
    data = summary(client)
    for name, default in _DEFAULTS.items():
        data[name] = default(client)
    for name, builder in SECTIONS.items():
        data[name] = builder(session, client)
    _add_notes(session, client, data)
    return data


def _add_notes(session: Session, client: Client, data: dict) -> None:
    """Add the client's notes and merge them into the timeline by time."""
    from engine.clients import notes

    found = notes.list_for(session, client.ref)
    data["notes"] = [notes.to_dict(n) for n in found]
    merged = list(data.get("timeline") or []) + notes.timeline_items(found)
    data["timeline"] = sorted(merged, key=lambda i: i.get("at") or "", reverse=True)
