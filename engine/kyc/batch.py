"""The set-based form of the KYC projections (engine.processing.batch).

For a group of clients: one query each for their documents, document requests and
applied reviews; each event is applied in memory by the same functions the per-event
projections call (engine.kyc.decide) on `GroupRows`; the new rows are inserted in bulk
(engine.bulk, in the order the per-event path adds them), and the changed documents,
requests and clients rows are written by the session's flush.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.bulk import insert_rows
from engine.clients.models import Client
from engine.events.catalogue import DOCUMENT_TYPES
from engine.events.models import Event
from engine.facts import state_fact
from engine.kyc import decide, service
from engine.kyc import policy as policy_mod
from engine.kyc.models import DocumentRequest, KycDocument, KycReview
from engine.values import parse_datetime

DOCUMENT_EVENTS = ("kyc.document_submitted", "kyc.document_approved", "kyc.document_rejected")
REVIEW_EVENTS = ("kyc.review_pending", "kyc.on_hold", "kyc.review_completed", "kyc.reset")
TYPES = frozenset({*DOCUMENT_EVENTS, *REVIEW_EVENTS})
# Longest texts the columns take (PostgreSQL refuses longer ones: the per-event path isolates them).
_ID, _TYPE, _PROVIDER, _RESULT = 200, 32, 64, 16


@dataclass
class KycState:
    policy: Callable[[], Any]  # the onboarding policy in force (read once per group)
    documents: dict[str, list[KycDocument]]  # by client, oldest first
    requests: dict[str, list[DocumentRequest]]  # by client, oldest first
    reviews: dict[str, list[KycReview]]  # applied ones (and every new one) by client, in id order
    received: dict[str, KycReview]  # by client, the review recorded last before the round (if any)
    new: list[KycDocument | KycReview | DocumentRequest] = field(default_factory=list)  # to insert, in order
    # The group's clients with no KYC event in the round, loaded when a fact of one of them
    # is first read (rounds where no rule reads a KYC fact never load them).
    rest: Callable[[], None] | None = None

    def rows_of(self, ref: str) -> None:
        """Make sure the client's rows are here (KeyError: not a client of the group)."""
        if ref not in self.documents and self.rest is not None:
            load_rest, self.rest = self.rest, None
            load_rest()
        if ref not in self.documents:
            raise KeyError(ref)


class GroupRows:
    """One client's KYC rows in the group state (decide.Rows)."""

    def __init__(self, state: KycState, client: Client) -> None:
        self.state, self.client = state, client

    def documents(self) -> list[KycDocument]:
        return self.state.documents[self.client.ref]

    def requests(self) -> list[DocumentRequest]:
        return self.state.requests[self.client.ref]

    def reviews_since(self, at: datetime) -> list[KycReview]:
        return decide.applied_since(self.state.reviews[self.client.ref], at)

    def policy(self) -> Any:
        return self.state.policy()

    def add(self, row: KycDocument | KycReview | DocumentRequest) -> None:
        ref = self.client.ref
        if isinstance(row, KycDocument):
            self.state.documents[ref].append(row)
        elif isinstance(row, DocumentRequest):
            self.state.requests[ref].append(row)
        else:
            self.state.reviews[ref].append(row)
        self.state.new.append(row)


def load(session: Session, clients: dict[str, Client], events: list[Event]) -> KycState:
    """The KYC rows of the clients with a KYC event in the round; those of the group's other
    clients when the rules' form first reads a KYC fact of one of them (STATE_FACTS below)."""
    refs = sorted({e.client_ref for e in events if e.type in TYPES and e.client_ref in clients})
    state = KycState(lambda: None, {}, {}, {}, {})
    _load_rows(session, state, refs)
    policy = policy_mod.for_session(session) if clients else None  # read here: apply reads nothing
    state.policy = lambda: policy
    rest = sorted(set(clients) - set(refs))
    if rest:
        state.rest = lambda: _load_rows(session, state, rest)
    return state


def _load_rows(session: Session, state: KycState, refs: list[str]) -> None:
    """Add the documents, requests, applied reviews and last received review of `refs`:
    one query each. Read without flushing: the round's changes are in the state, not yet
    in the database, and these clients have none."""
    for ref in refs:
        state.documents[ref], state.requests[ref], state.reviews[ref] = [], [], []
    if not refs:
        return
    with session.no_autoflush:
        for doc in session.scalars(
            select(KycDocument).where(KycDocument.client_ref.in_(refs)).order_by(KycDocument.id)
        ):
            state.documents[doc.client_ref].append(doc)
        for request in session.scalars(
            select(DocumentRequest).where(DocumentRequest.client_ref.in_(refs)).order_by(DocumentRequest.id)
        ):
            state.requests[request.client_ref].append(request)
        for review in session.scalars(
            select(KycReview).where(KycReview.client_ref.in_(refs), KycReview.applied).order_by(KycReview.id)
        ):
            state.reviews[review.client_ref].append(review)
        last = select(func.max(KycReview.id)).where(KycReview.client_ref.in_(refs)).group_by(KycReview.client_ref)
        state.received.update(
            {r.client_ref: r for r in session.scalars(select(KycReview).where(KycReview.id.in_(last)))}
        )


def accepts(state: KycState, event: Event, client: Client) -> bool:
    """Take an event the per-event projection would apply without raising; one with a
    missing or malformed field goes to the per-event path, which isolates it."""
    if event.type not in TYPES or client.ref not in state.documents:
        return False
    data = event.data
    if not isinstance(data, dict):
        return False
    if event.type in DOCUMENT_EVENTS:
        return _document_event_ok(event.type, data)
    return _review_event_ok(event.type, data)


def _text(value: Any, longest: int | None = None, *, optional: bool = False) -> bool:
    if value is None:
        return optional
    return isinstance(value, str) and (longest is None or len(value) <= longest)


def _document_event_ok(kind: str, data: dict[str, Any]) -> bool:
    if not (_text(data.get("document_id"), _ID) and data.get("document_type") in DOCUMENT_TYPES):
        return False
    if kind == "kyc.document_submitted" and data.get("expires_at"):
        try:
            parse_datetime(data["expires_at"])
        except Exception:
            return False
    return _text(data.get("reason"), optional=kind != "kyc.document_rejected")


def _review_event_ok(kind: str, data: dict[str, Any]) -> bool:
    if not (_text(data.get("provider"), _PROVIDER) and _text(data.get("reason"), optional=True)):
        return False
    if kind != "kyc.review_completed":
        return _text(data.get("comment"), optional=True) and _labels_ok(data.get("labels"))
    return (
        _text(data.get("result"), _RESULT)
        and _text(data.get("comment"), optional=True)
        and _labels_ok(data.get("labels"))
    )


def _labels_ok(labels: Any) -> bool:
    return labels is None or (isinstance(labels, list) and all(isinstance(label, str) for label in labels))


def apply(state: KycState, event: Event, client: Client) -> None:
    decide.BY_TYPE[event.type](GroupRows(state, client), event)


def write(session: Session, state: KycState) -> None:
    """Insert the new rows in bulk, table by table in the order they were added (COPY on
    PostgreSQL); changed loaded rows and clients go with the flush."""
    for model in (KycDocument, KycReview, DocumentRequest):
        rows = [_row(r) for r in state.new if type(r) is model]
        if rows:
            insert_rows(session, model, rows)


def _row(obj: KycDocument | KycReview | DocumentRequest) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in type(obj).__table__.columns if c.key != "id"}


# The KYC facts the rules read most, from the group state as the round changes it (the
# same functions as their per-event loaders in engine.kyc.facts). KeyError: the client
# is not in the state (the rules' form then leaves the event to the per-event path).


def _required(state: KycState, client: Client) -> list[str]:
    state.rows_of(client.ref)
    return service.required_of(state.policy(), client, state.requests[client.ref])


@state_fact("kyc.documents.required", form="kyc")
def documents_required(state: KycState, client: Client) -> list[str]:
    return _required(state, client)


@state_fact("kyc.documents.missing", form="kyc")
def documents_missing(state: KycState, client: Client) -> list[str]:
    return service.missing_of(_required(state, client), state.documents[client.ref])


@state_fact("kyc.documents.missing_count", form="kyc")
def documents_missing_count(state: KycState, client: Client) -> int:
    return len(documents_missing(state, client))


@state_fact("kyc.under_review", form="kyc")
def under_review(state: KycState, client: Client) -> bool:
    return service.is_review_pending(_latest(state, client))


def _latest_applied(reviews: list[KycReview]) -> KycReview | None:
    """The newest applied review by (occurred_at, id), as service.latest_result reads it:
    `reviews` is in id order, the new ones (no id yet) last in the order they were added."""
    applied = [(r.occurred_at, i) for i, r in enumerate(reviews) if r.applied]
    return reviews[max(applied)[1]] if applied else None


@state_fact("country_risk", form="kyc")
def country_risk(state: KycState, client: Client) -> str:
    risk: str = state.policy().risk_of(client.country)
    return risk


@state_fact("kyc.result_is_current", form="kyc")
def result_is_current(state: KycState, client: Client) -> bool:
    """As service.last_received: the review recorded last (this round's last new one, or
    the last before it) was applied."""
    state.rows_of(client.ref)
    new = [r for r in state.reviews[client.ref] if r.id is None]
    received = new[-1] if new else state.received.get(client.ref)
    return received is None or bool(received.applied)


def _latest(state: KycState, client: Client) -> KycReview | None:
    state.rows_of(client.ref)
    return _latest_applied(state.reviews[client.ref])


@state_fact("kyc.reason", form="kyc")
def reason(state: KycState, client: Client) -> str:
    return service.reason_of(_latest(state, client))


@state_fact("kyc.labels", form="kyc")
def labels(state: KycState, client: Client) -> list[str]:
    return service.labels_of(_latest(state, client))


def notification_values(state: KycState, client: Client) -> dict[str, Any]:
    """The {{ kyc.x }} values of a notification (service.notification_context) from the
    group state as the round leaves it (KeyError: the client is not in the state)."""
    state.rows_of(client.ref)
    return service.notification_values(
        state.policy(), client, _latest(state, client), state.requests[client.ref], state.documents[client.ref]
    )
