"""Compliance review actions: approve, reject with a reason code, request documents, override.

Each decision is recorded as a canonical `kyc.review_completed` event from the
back office, so documents, KYC status and the onboarding rules (notifications,
reminders) follow exactly as they do for a provider's result; the client status
change, the override record and the audit entry are written here, by the reviewer.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.errors import Conflict, lock_and_reread
from engine.events.catalogue import DOCUMENT_TYPES
from engine.events.store import record
from engine.processing.ingest import schedule_touched
from engine.kyc import policy as policy_mod
from engine.kyc.models import KycDocument, KycOverride, StatusChange
from engine.kyc.service import (
    BACKOFFICE,
    KycError,
    audit,
    documents,
    effective_state,
    latest_result,
    missing_documents,
    set_status,
)
from engine.tasks import service as tasks_service
from engine.values import iso, utcnow


def _event(session: Session, client: Client, *, result: str, labels=None, reason=None, comment=None) -> None:
    """Record the decision as an event no older than the client's newest KYC result."""
    at = max(filter(None, [utcnow(), client.kyc_status_at]))
    data = {"provider": BACKOFFICE, "result": result}
    data.update({k: v for k, v in (("labels", labels), ("reason", reason), ("comment", comment)) if v})
    _record_decision(session, client, "review", "kyc.review_completed", at, data)


def _record_decision(session: Session, client: Client, id_prefix: str, type_: str, at, data: dict) -> None:
    """Record a back-office decision as a `type_` event, so the rules react to it as to a
    provider's, and hand the client to processing after commit."""
    record(
        session,
        {
            "id": f"{id_prefix}-{uuid.uuid4().hex}",
            "type": type_,
            "source": BACKOFFICE,
            "occurred_at": iso(at),
            "client": client.ref,
            "data": data,
        },
        via="backoffice",
    )
    database = session.info.get("database")
    if database is not None:
        schedule_touched(session, database)


class KycConflict(KycError, Conflict):
    """Someone else decided the client's KYC first (the message says who and what)."""


def _lock(session: Session, client: Client, expected_status: str | None) -> None:
    """Lock the client and re-read it; refuse when its status is no longer what the
    decider saw (`expected_status`, from the page), so two reviewers decide once."""
    lock_and_reread(session, Client, client)
    if expected_status is not None and client.status != expected_status:
        raise KycConflict(
            f"client {client.ref} is {client.status} now, not {expected_status}: "
            f"{_last_change(session, client)}; nothing was changed"
        )


def _last_change(session: Session, client: Client) -> str:
    from sqlalchemy import select

    change = session.scalar(
        select(StatusChange).where(StatusChange.client_ref == client.ref).order_by(StatusChange.id.desc()).limit(1)
    )
    return f"{change.actor} set it at {iso(change.at)}" if change else "it changed meanwhile"


def _override_if_needed(
    session: Session, client: Client, actor: str, to_result: str, reason: str | None
) -> KycOverride | None:
    provider = latest_result(session, client.ref, providers_only=True)
    if provider is None or provider.result == to_result or provider.result == "pending":
        return None
    if not (reason or "").strip():
        raise KycError(
            f"the provider's result is {provider.result}; deciding {to_result} overrides it and needs a reason"
        )
    return _record_override(
        session,
        client,
        actor,
        reason,
        action="kyc.override",
        detail={"provider": provider.provider, "from": provider.result, "to": to_result},
        review_id=provider.id,
        provider=provider.provider,
        from_result=provider.result,
        to_result=to_result,
    )


def _record_override(
    session: Session, client: Client, actor: str, reason: str, *, action: str, detail: dict, **overridden
) -> KycOverride:
    """Store an override of `overridden` (provider, from_result, to_result) with its reason, and audit it."""
    override = KycOverride(client_ref=client.ref, actor=actor, reason=reason.strip(), at=utcnow(), **overridden)
    session.add(override)
    audit(session, client, actor, action, override.reason, detail)
    return override


def _close(session: Session, task, actor: str, resolution: str) -> None:
    if task is not None:
        tasks_service.close_if_open(session, task, actor=actor, resolution=resolution)


def _decide(session, client, actor, status, reason, detail, task):
    change = set_status(session, client=client, status=status, reason=reason, actor=actor)
    audit(session, client, actor, f"kyc.{detail['decision']}", reason, {**detail, "status_changed": change is not None})
    _close(session, task, actor, f"{detail['decision']}: {reason}")


# How a documents override is stored among the overrides (no provider result overridden).
DOCUMENTS_POLICY, DOCUMENTS_MISSING = "kyc_policy", "missing_docs"


def _missing_or_rejected(session: Session, client: Client) -> list[str]:
    """Describe each required document that is missing or rejected: `proof of address (rejected)`."""
    states = {d.document_type: effective_state(d) for d in documents(session, client.ref)}
    return [f"{t} ({states[t]})" if t in states else f"{t} (missing)" for t in missing_documents(session, client)]


def _documents_override(
    session: Session, client: Client, actor: str, override_reason: str | None
) -> KycOverride | None:
    """Refuse approval without required documents unless an override reason is given."""
    gaps = _missing_or_rejected(session, client)
    if not gaps:
        return None
    if not (override_reason or "").strip():
        raise KycError(
            f"required documents are missing or rejected: {', '.join(gaps)}; "
            "approving without them is an override and needs an override reason"
        )
    return _record_override(
        session,
        client,
        actor,
        override_reason,
        action="kyc.documents_override",
        detail={"documents": gaps},
        provider=DOCUMENTS_POLICY,
        from_result=DOCUMENTS_MISSING,
        to_result="approved",
    )


def approve(
    session: Session,
    *,
    client: Client,
    actor: str,
    reason: str | None = None,
    task=None,
    override_reason: str | None = None,
    expected_status: str | None = None,
) -> None:
    """Approve the client's KYC.

    A reason is required when it overrides the provider; an override reason when
    required documents are missing or rejected (both are recorded as overrides).
    """
    _lock(session, client, expected_status)
    _documents_override(session, client, actor, override_reason)
    _override_if_needed(session, client, actor, "approved", reason or override_reason)
    text = (reason or "").strip() or "KYC approved by compliance review"
    _event(session, client, result="approved", reason=text)
    _decide(session, client, actor, "approved", text, {"decision": "approved"}, task)


def reject(
    session: Session,
    *,
    client: Client,
    actor: str,
    reason_code: str,
    note: str | None = None,
    task=None,
    expected_status: str | None = None,
) -> None:
    """Reject the client with a reason code from the policy's list (and an optional note)."""
    _lock(session, client, expected_status)
    codes = policy_mod.for_session(session).reason_codes
    if reason_code not in codes:
        raise KycError(f"unknown reason code {reason_code!r}; use one of {', '.join(codes)}")
    why = f"{reason_code}: {note.strip()}" if (note or "").strip() else reason_code
    _override_if_needed(session, client, actor, "rejected", why)
    _event(session, client, result="rejected", labels=[reason_code], reason=reason_code, comment=codes[reason_code])
    _decide(
        session,
        client,
        actor,
        "rejected",
        f"{reason_code}: {codes[reason_code]}",
        {"decision": "rejected", "reason_code": reason_code, "note": note},
        task,
    )


def request_documents(
    session: Session,
    *,
    client: Client,
    actor: str,
    document_types,
    message: str,
    task=None,
    expected_status: str | None = None,
) -> None:
    """Ask the client for documents again, with a message the client will read."""
    _lock(session, client, expected_status)
    types = list(dict.fromkeys(document_types or ()))
    unknown = [t for t in types if t not in DOCUMENT_TYPES]
    if not types or unknown:
        raise KycError(
            f"name the documents to request from: {', '.join(DOCUMENT_TYPES)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    if not (message or "").strip():
        raise KycError("requesting documents needs a message for the client")
    _event(session, client, result="retry", labels=types, comment=message.strip())
    audit(session, client, actor, "kyc.documents_requested", message.strip(), {"documents": types})
    _close(session, task, actor, f"documents requested: {', '.join(types)}")


def override(
    session: Session, *, client: Client, actor: str, result: str, reason: str, reason_code: str | None = None, task=None
) -> None:
    """Override the provider's result with `approved` or `rejected`, saying who and why."""
    if not (reason or "").strip():
        raise KycError("an override needs a reason")
    if result == "approved":
        approve(session, client=client, actor=actor, reason=reason, task=task, override_reason=reason)
    elif result == "rejected":
        if not reason_code:
            raise KycError("rejecting needs a reason code from the policy's list")
        reject(session, client=client, actor=actor, reason_code=reason_code, note=reason, task=task)
    else:
        raise KycError(f"an override sets approved or rejected, not {result!r}")


DECIDABLE = ("submitted", "in_review")


def decide_document(
    session: Session, *, client: Client, document_id: str, approve: bool, actor: str, reason: str | None = None
) -> None:
    """Approve or reject one document with a reason (a rejection needs one).

    Under the client's lock the document must still wait for a decision, so two
    reviewers never both decide it; its state changes now and the decision is also
    recorded as a `kyc.document_approved`/`_rejected` event for the rules.
    """
    reason = (reason or "").strip() or None
    if not approve and not reason:
        raise KycError("rejecting a document needs a reason the client will read")
    _lock(session, client, None)
    doc = session.scalar(
        select(KycDocument)
        .where(KycDocument.client_ref == client.ref, KycDocument.document_id == document_id)
        .execution_options(populate_existing=True)
    )  # as it is now, under the lock
    if doc is None:
        raise KycError(f"client {client.ref} has no document {document_id!r}")
    if effective_state(doc) not in DECIDABLE:
        raise KycConflict(
            f"document {document_id} is already {effective_state(doc)}"
            + (f" ({doc.reason})" if doc.reason else "")
            + "; reload to see it"
        )
    at = utcnow()
    doc.state, doc.reason, doc.state_at, doc.updated_at = ("approved" if approve else "rejected", reason, at, at)
    kind = "kyc.document_approved" if approve else "kyc.document_rejected"
    data = {"document_id": document_id, "document_type": doc.document_type}
    if reason:
        data["reason"] = reason
    _record_decision(session, client, "document-decision", kind, at, data)
    audit(
        session,
        client,
        actor,
        "document.approved" if approve else "document.rejected",
        reason,
        {"document_id": document_id, "document_type": doc.document_type},
    )
