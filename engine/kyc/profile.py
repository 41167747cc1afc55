"""The kyc and next_step sections of the client profile."""

from __future__ import annotations

from engine.clients.service import section
from engine.kyc import service
from engine.kyc.policy import PolicyError
from engine.kyc.service import document_names
from engine.values import iso, utcnow


def _document(doc, now) -> dict:
    return {
        "document_id": doc.document_id,
        "type": doc.document_type,
        "state": service.effective_state(doc, now),
        "reason": doc.reason,
        "submitted_at": iso(doc.submitted_at),
        "expires_at": iso(doc.expires_at),
        "updated_at": iso(doc.state_at),
    }


def _review(review) -> dict | None:
    if review is None:
        return None
    return {
        "provider": review.provider,
        "result": review.result,
        "labels": review.labels or [],
        "reason": review.reason,
        "comment": review.comment,
        "occurred_at": iso(review.occurred_at),
    }


def _override(o) -> dict:
    return {
        "provider": o.provider,
        "from": o.from_result,
        "to": o.to_result,
        "actor": o.actor,
        "reason": o.reason,
        "at": iso(o.at),
    }


def _status_change(c) -> dict:
    return {
        "from": c.from_status,
        "to": c.to_status,
        "actor": c.actor,
        "rule_id": c.rule_id,
        "reason": c.reason,
        "at": iso(c.at),
    }


def _requirements(session, client) -> tuple[dict, str | None]:
    """Return required, missing and missing_fields; a broken policy shows its error instead."""
    try:
        return {
            "required": service.required_documents(session, client),
            "missing": service.missing_documents(session, client),
            "missing_fields": service.missing_fields(session, client),
        }, None
    except PolicyError as exc:
        return {"required": None, "missing": None, "missing_fields": None}, str(exc)


@section("kyc")
def kyc(session, client):
    """Return KYC status, documents with states, provider result, what is required and missing."""
    now = utcnow()
    docs = [_document(d, now) for d in service.documents(session, client.ref)]
    requirements, policy_error = _requirements(session, client)
    requests = service.requests(session, client.ref)
    return {
        "status": client.kyc_status,
        "status_at": iso(client.kyc_status_at),
        "documents": docs
        + [
            {"document_id": None, "type": t, "state": "missing", "reason": None, "submitted_at": None}
            for t in requirements["missing"] or ()
        ],
        "provider_result": _review(service.latest_result(session, client.ref, providers_only=True)),
        "latest_result": _review(service.latest_result(session, client.ref)),
        **requirements,
        "policy_error": policy_error,
        "requests": [
            {
                "type": r.document_type,
                "reason": r.reason,
                "by": r.requested_by,
                "at": iso(r.requested_at),
                "fulfilled_at": iso(r.fulfilled_at),
            }
            for r in requests
        ],
        "overrides": [_override(o) for o in service.overrides(session, client.ref)],
        "status_history": [_status_change(c) for c in service.status_history(session, client.ref)],
        "risk": {"category": client.risk_category, "reason": client.risk_reason},
    }


_FUNNEL_STEPS = {
    "registered": "Wait for the KYC approval",
    "kyc_approved": "Fund the wallet",
    "funded": "Open a trading account",
    "account_opened": "Place a first trade",
    "first_trade": "None: the client is fully onboarded",
}


@section("next_step")
def next_step(session, client):
    """Return what has to happen next for this client, in one sentence."""
    if client.status in ("blocked", "rejected"):
        return f"None: the client is {client.status} ({client.status_reason or 'no reason given'})"
    requirements, policy_error = _requirements(session, client)
    if policy_error:
        return "Fix the onboarding policy file (see kyc.policy_error)"
    if requirements["missing_fields"]:
        return "Complete the profile: " + ", ".join(f.replace("_", " ") for f in requirements["missing_fields"])
    missing = requirements["missing"]
    if missing:
        return "Upload documents: " + document_names(missing)
    if client.kyc_status == "on_hold":
        return "Compliance review: the KYC provider put the review on hold"
    if client.status != "approved":
        return (
            "Wait for the KYC review"
            if client.kyc_status in ("pending", "not_started", "retry")
            else "Compliance review: decide on the KYC result"
        )
    return _FUNNEL_STEPS.get(client.funnel_stage, "None")
