"""KYC queries (documents, what is missing, provider results) and the client status change."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import service as audit_service
from engine.db import cached
from engine.clients.models import STATUSES, Client
from engine.kyc import policy as policy_mod
from engine.kyc.models import USABLE_STATES, DocumentRequest, KycDocument, KycOverride, KycReview, StatusChange
from engine.values import utcnow

# Who may be the provider of a result a reviewer overrides (not the reviewers themselves).
BACKOFFICE = "backoffice"


class KycError(ValueError):
    """A KYC or status operation is not allowed or its input is bad (the message says why)."""


# Facts and projections ask for a client's documents, requests and latest result several
# times per event; each answer is kept in the session until a write to its table
# (engine.db.cached), so a run of one client's events reads them once.
_DOCUMENTS, _REQUESTS, _REVIEWS = (
    frozenset({"kyc_documents"}),
    frozenset({"kyc_document_requests"}),
    frozenset({"kyc_reviews"}),
)


def _cached_rows(session: Session, key: str, tables: frozenset[str], model, client_ref: str) -> list:
    """Return the client's rows of `model`, oldest first, read once until `tables` are written."""
    return list(
        cached(
            session,
            (key, client_ref),
            tables,
            lambda: list(session.scalars(select(model).where(model.client_ref == client_ref).order_by(model.id))),
            client_ref=client_ref,
        )
    )


def documents(session: Session, client_ref: str) -> list[KycDocument]:
    """Return the client's documents, oldest first."""
    return _cached_rows(session, "kyc_documents", _DOCUMENTS, KycDocument, client_ref)


def effective_state(doc: KycDocument, now=None) -> str:
    """Return the document's state, `expired` once its expiry has passed."""
    now = now or utcnow()
    if doc.state in USABLE_STATES and doc.expires_at is not None and doc.expires_at <= now:
        return "expired"
    return doc.state


def requests(session: Session, client_ref: str) -> list[DocumentRequest]:
    """Return every document request for the client, oldest first."""
    return _cached_rows(session, "kyc_requests", _REQUESTS, DocumentRequest, client_ref)


def required_documents(session: Session, client: Client) -> list[str]:
    """Return the document types the policy requires plus any asked for since."""
    return required_of(policy_mod.for_session(session), client, requests(session, client.ref))


def required_of(policy: Any, client: Client, asked: Iterable[DocumentRequest]) -> list[str]:
    """The document types `policy` requires of the client plus those `asked` for since."""
    required = policy.documents_for(client.client_type, client.country)
    for request in asked:
        if request.document_type not in required:
            required.append(request.document_type)
    return required


def missing_documents(session: Session, client: Client) -> list[str]:
    """Return the required document types with no submitted, in-review or approved document."""
    return missing_of(required_documents(session, client), documents(session, client.ref))


def missing_of(required: list[str], docs: Iterable[KycDocument]) -> list[str]:
    """The types among `required` with no submitted, in-review or approved document in `docs`."""
    now = utcnow()
    usable = {d.document_type for d in docs if effective_state(d, now) in USABLE_STATES}
    return [t for t in required if t not in usable]


def expiring_documents(session: Session, client: Client, within: timedelta) -> list[str]:
    """Return the required types whose usable documents all expire within `within` (or have expired).

    A type counts only while no usable document of it stays valid beyond the window: a
    new document (no expiry, or a later one) ends the renewal.
    """
    return expiring_of(required_documents(session, client), documents(session, client.ref), within)


def expiring_of(required: list[str], docs: Iterable[KycDocument], within: timedelta) -> list[str]:
    """The types among `required` whose usable documents in `docs` all expire within `within`."""
    horizon = utcnow() + within
    by_type: dict[str, list[KycDocument]] = {}
    for doc in docs:
        if doc.state in USABLE_STATES:
            by_type.setdefault(doc.document_type, []).append(doc)
    return [
        t
        for t in required
        if by_type.get(t) and all(d.expires_at is not None and d.expires_at <= horizon for d in by_type[t])
    ]


def missing_fields(session: Session, client: Client) -> list[str]:
    """Return the profile fields the policy requires that the client has not filled in."""
    fields = policy_mod.for_session(session).fields_for(client.client_type)
    return [name for name in fields if getattr(client, name, None) in (None, "")]


def reviews(session: Session, client_ref: str) -> list[KycReview]:
    """Return every provider result recorded for the client, newest first."""
    return list(
        session.scalars(
            select(KycReview)
            .where(KycReview.client_ref == client_ref)
            .order_by(KycReview.occurred_at.desc(), KycReview.id.desc())
        )
    )


def latest_result(session: Session, client_ref: str, *, providers_only: bool = False):
    """Return the newest applied result (optionally ignoring reviewers' decisions), or None."""
    stmt = select(KycReview).where(KycReview.client_ref == client_ref, KycReview.applied)
    if providers_only:
        stmt = stmt.where(KycReview.provider != BACKOFFICE)
    stmt = stmt.order_by(KycReview.occurred_at.desc(), KycReview.id.desc()).limit(1)
    return cached(
        session,
        ("kyc_latest", client_ref, providers_only),
        _REVIEWS,
        lambda: session.scalar(stmt),
        client_ref=client_ref,
    )


def under_review(session: Session, client_ref: str) -> bool:
    """Whether the newest applied KYC result is a provider's `pending` (review under way)."""
    return is_review_pending(latest_result(session, client_ref))


def is_review_pending(review: KycReview | None) -> bool:
    return review is not None and review.result == "pending"


def reason_of(review: KycReview | None) -> str:
    """The reason a KYC result gives (its comment when it has none), or ""."""
    return (review.reason or review.comment or "") if review else ""


def labels_of(review: KycReview | None) -> list[str]:
    """The labels of a KYC result (e.g. BAD_PROOF_OF_ADDRESS), or []."""
    return list(review.labels or []) if review else []


def last_received(session: Session, client_ref: str) -> KycReview | None:
    """Return the KYC result recorded last (by arrival, not by time), or None."""
    return cached(
        session,
        ("kyc_last_received", client_ref),
        _REVIEWS,
        lambda: session.scalar(
            select(KycReview).where(KycReview.client_ref == client_ref).order_by(KycReview.id.desc()).limit(1)
        ),
        client_ref=client_ref,
    )


def overrides(session: Session, client_ref: str) -> list[KycOverride]:
    """Return the reviewer overrides of provider results, oldest first."""
    return list(
        session.scalars(select(KycOverride).where(KycOverride.client_ref == client_ref).order_by(KycOverride.id))
    )


def status_history(session: Session, client_ref: str) -> list[StatusChange]:
    """Return the client's status changes, oldest first."""
    return list(
        session.scalars(select(StatusChange).where(StatusChange.client_ref == client_ref).order_by(StatusChange.id))
    )


def set_status(
    session: Session, *, client: Client, status: str, reason: str, actor: str, rule_id: str | None = None
) -> StatusChange | None:
    """Move the client to `status` with a reason; return the change, or None if nothing changed.

    A rule (`rule_id` given) never moves a blocked client: only a person unblocks.
    """
    if status not in STATUSES:
        raise KycError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    if not (reason or "").strip():
        raise KycError("a status change needs a reason")
    change = status_change(client, status, reason, actor, rule_id)
    if change is None:
        return None
    session.add(change)
    session.flush()
    if rule_id is None:  # a person's change is an event rules may react to
        _announce_status_change(session, change)
    return change


def status_change(client: Client, status: str, reason: str, actor: str, rule_id: str | None) -> StatusChange | None:
    """Move the client (in memory) to `status`; return the history row to add, or None
    when nothing changes (the same status, or a rule facing a blocked client)."""
    if client.status == status or (rule_id and client.status == "blocked"):
        return None
    now = utcnow()
    change = StatusChange(
        client_ref=client.ref,
        from_status=client.status,
        to_status=status,
        actor=actor,
        reason=reason.strip(),
        rule_id=rule_id,
        at=now,
    )
    client.status, client.status_reason, client.status_changed_at = status, change.reason, now
    if status == "approved" and client.funnel_stage == "registered":
        client.funnel_stage = "kyc_approved"
    return change


def _announce_status_change(session: Session, change: StatusChange) -> None:
    from engine.processing.ingest import record_app_event

    record_app_event(
        session,
        type_="client.status_changed",
        client_ref=change.client_ref,
        event_id=f"status-change-{change.id}",
        at=change.at,
        data={
            "status": change.to_status,
            "previous_status": change.from_status,
            "actor": change.actor,
            "reason": change.reason[:500],
        },
    )


def change_status(session: Session, *, client: Client, status: str, reason: str, actor: str) -> StatusChange:
    """Change a client's status by hand: a reason is required and the change is audited."""
    if client.status == status:
        raise KycError(f"client {client.ref} is already {status}")
    change = set_status(session, client=client, status=status, reason=reason, actor=actor)
    audit(session, client, actor, "client.status_changed", change.reason, {"from": change.from_status, "to": status})
    return change


def audit(session: Session, client: Client, actor: str, action: str, reason: str | None, detail: dict) -> None:
    """Record in the client's audit trail who changed its KYC or status, and why."""
    audit_service.record(
        session, actor=actor, action=action, target_type="client", target_id=client.ref, reason=reason, detail=detail
    )


RISK_CATEGORIES = ("low", "medium", "high")


def set_risk(session: Session, *, client: Client, category: str, reason: str, actor: str) -> bool:
    """Set the client's risk category with its reason; return whether anything changed."""
    if category not in RISK_CATEGORIES:
        raise KycError(f"unknown risk category {category!r}; use one of {', '.join(RISK_CATEGORIES)}")
    if not (reason or "").strip():
        raise KycError("a risk category needs a reason")
    if (client.risk_category, client.risk_reason) == (category, reason.strip()):
        return False
    client.risk_category, client.risk_reason = category, reason.strip()
    if not actor.startswith("rule:"):
        audit(session, client, actor, "client.risk_changed", client.risk_reason, {"category": category})
    return True


DOCUMENT_NAMES = {
    "id": "identity document",
    "proof_of_address": "proof of address",
    "selfie": "selfie",
    "incorporation": "certificate of incorporation",
    "ubo_declaration": "UBO declaration",
    "source_of_funds": "source of funds",
}


def document_names(types) -> str:
    """Return document types as words a client reads: `identity document, proof of address`."""
    return ", ".join(DOCUMENT_NAMES.get(t, t) for t in types)


def notification_context(session: Session, client: Client) -> dict:
    """Return the KYC values a notification template may use as {{ kyc.x }}."""
    return notification_values(
        policy_mod.for_session(session),
        client,
        latest_result(session, client.ref),
        requests(session, client.ref),
        documents(session, client.ref),
    )


# The client columns notification_values reads (the set-based `notify` renders before
# an earlier action of the same event changes one of them: engine.rules.batch).
NOTIFICATION_READS = frozenset({"kyc_status", "client_type", "country"})


def notification_values(
    pol: Any, client: Client, review: KycReview | None, asked: Iterable[DocumentRequest], docs: list[KycDocument]
) -> dict:
    """The {{ kyc.x }} values of a client from its rows: its latest applied review, the
    documents asked of it and its documents (both processing paths call it)."""
    from engine.kyc.expiry import EXPIRY_NOTICE

    _docs, texts = pol.explain_labels(review.labels if review else ())
    required = required_of(pol, client, asked)
    missing = missing_of(list(required), docs)
    expiring = expiring_of(required, docs, EXPIRY_NOTICE)
    comment = (review.comment or "") if review else ""
    # A review's `reason` is internal (Sumsub's clientComment, a reviewer's note): only a
    # reason code the broker explained in its own words, or the provider's text meant for
    # the applicant (`comment`), may reach the client.
    code = (review.reason or "") if review else ""
    code = code if code in pol.reason_codes else ""
    return {
        "status": client.kyc_status,
        "missing": missing,
        "missing_text": document_names(missing),
        "expiring": expiring,
        "expiring_text": document_names(expiring),
        "labels": labels_of(review),
        "labels_explained": " ".join(texts) or comment,
        "reason": code,
        "reason_text": pol.reason_codes.get(code) or comment,
    }
