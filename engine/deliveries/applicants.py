"""Onfido applicant -> client links: set by the broker, learnt from check tags."""

from __future__ import annotations

import re
from typing import Callable

from sqlalchemy.orm import Session

from connectors import onfido
from engine.audit import service as audit_service
from engine.clients import service as clients_service
from engine.deliveries.models import OnfidoApplicant
from engine.values import utcnow

# Onfido applicant ids are UUIDs; anything else is a typo or not an Onfido id.
APPLICANT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class LinkError(Exception):
    """A link cannot be made: what is wrong, and with which value."""


class LinkConflict(LinkError):
    """The applicant is linked to another client and moving it was not asked for."""


def get(session: Session, applicant_id: str) -> OnfidoApplicant | None:
    """Return the link of `applicant_id`, or None."""
    return session.get(OnfidoApplicant, applicant_id)


def link(
    session: Session, *, applicant_id: str, client_ref: str, actor: str, replace: bool = False, source: str = "cli"
) -> OnfidoApplicant:
    """Link an applicant to an existing client (audited); refuse to move it unless `replace`."""
    applicant_id = applicant_id.strip().lower()
    if not APPLICANT_ID.match(applicant_id):
        raise LinkError(
            f"applicant id {applicant_id[:60]!r}: expected an Onfido applicant "
            "id (a UUID such as 61f659cb-c90b-4067-808a-6136b5c01351)"
        )
    if clients_service.get_by_ref(session, client_ref) is None:
        raise LinkError(f"client {client_ref[:100]!r}: no such client")
    row = get(session, applicant_id)
    if row is not None and row.client_ref != client_ref and not replace:
        raise LinkConflict(f"applicant {applicant_id} is linked to client {row.client_ref} (by {row.source})")
    before = row.client_ref if row is not None else None
    row = _put(session, row, applicant_id, client_ref, source, actor)
    audit_service.record(
        session,
        actor=actor,
        action="onfido.applicant_linked",
        target_type="client",
        target_id=client_ref,
        detail={"applicant_id": applicant_id, "previous_client": before},
    )
    return row


def learn(session: Session, check: dict) -> OnfidoApplicant | None:
    """Record the link a check's `client:<ref>` tag gives, if the applicant has none."""
    applicant_id, client_ref = onfido.tag_link(check)
    if not applicant_id or not client_ref or len(applicant_id) > 100 or len(client_ref) > 100:
        return None
    row = get(session, applicant_id)
    return row if row is not None else _put(session, None, applicant_id, client_ref, "tag", "onfido check tag")


def resolver(session: Session) -> Callable[[str], str | None]:
    """Return resolve(applicant_id) -> the linked client ref, for the Onfido connector."""

    def resolve(applicant_id: str) -> str | None:
        row = get(session, applicant_id)
        return row.client_ref if row is not None else None

    return resolve


def _put(
    session: Session, row: OnfidoApplicant | None, applicant_id: str, client_ref: str, source: str, actor: str
) -> OnfidoApplicant:
    if row is None:
        row = OnfidoApplicant(applicant_id=applicant_id)
        session.add(row)
    row.client_ref, row.source, row.linked_by, row.linked_at = (client_ref, source, actor, utcnow())
    session.flush()
    return row
