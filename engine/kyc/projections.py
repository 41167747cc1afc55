"""KYC state from events: documents, provider results and requests; late events never go back.

Each handler reads the client's rows through `SessionRows` and lets engine.kyc.decide
apply the event; the set-based form (engine.kyc.batch) applies the same functions to
rows it loaded for a whole group.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.events.models import Event
from engine.kyc import batch, decide, service
from engine.kyc import policy as policy_mod
from engine.kyc.decide import RESET_REASON, retry_documents  # noqa: F401  (their home was here)
from engine.kyc.models import DocumentRequest, KycDocument, KycReview
from engine.projections import Handler, batch_form, projection


class SessionRows:
    """One client's KYC rows read with queries (engine.db read cache), added to the session."""

    def __init__(self, session: Session, client: Client) -> None:
        self.session, self.client = session, client

    def documents(self) -> list[KycDocument]:
        return service.documents(self.session, self.client.ref)

    def requests(self) -> list[DocumentRequest]:
        return service.requests(self.session, self.client.ref)

    def reviews_since(self, at: datetime) -> list[KycReview]:
        return list(
            self.session.scalars(
                select(KycReview)
                .where(KycReview.client_ref == self.client.ref, KycReview.applied, KycReview.occurred_at >= at)
                .order_by(KycReview.occurred_at, KycReview.id)
            )
        )

    def policy(self) -> policy_mod.Policy:
        return policy_mod.for_session(self.session)

    def add(self, row: KycDocument | KycReview | DocumentRequest) -> None:
        self.session.add(row)


def _handler(event_type: str, apply: Callable[[decide.Rows, Event], object]) -> Handler:
    """Register the projection of `event_type`: `apply` (engine.kyc.decide) on the client's
    rows read with queries."""

    def handler(session: Session, event: Event, client: Client) -> None:
        apply(SessionRows(session, client), event)

    handler.__name__ = handler.__qualname__ = apply.__name__
    handler.__doc__ = apply.__doc__
    return projection(event_type)(handler)


# One projection per KYC event type, each what engine.kyc.decide does for it (BY_TYPE).
HANDLERS = tuple(_handler(event_type, apply) for event_type, apply in decide.BY_TYPE.items())


batch_form(
    "kyc",
    HANDLERS,
    load=batch.load,
    accepts=batch.accepts,
    apply=batch.apply,
    write=batch.write,
)
