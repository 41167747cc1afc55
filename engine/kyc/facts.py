"""KYC facts for rule conditions."""

from datetime import timedelta
from decimal import Decimal

from engine.facts import fact
from engine.kyc import expiry
from engine.kyc import policy as policy_mod
from engine.kyc import service
from engine.kyc.models import RESULTS
from engine.values import parse_duration, percent_of


@fact("kyc.documents.missing", "list")
def documents_missing(session, client):
    """The required document types the client has not provided (in policy order)."""
    return service.missing_documents(session, client)


@fact("kyc.documents.missing_count", "integer")
def documents_missing_count(session, client):
    """How many required document types are still missing."""
    return len(service.missing_documents(session, client))


@fact("kyc.documents.required", "list")
def documents_required(session, client):
    """The document types required of the client (policy plus any asked for since)."""
    return service.required_documents(session, client)


@fact("kyc.documents.expiring", "list", params={"within": "duration"})
def documents_expiring(session, client, within=None):
    """The required document types whose documents expire within `within` (default 30 days)
    or have expired, with no newer document of the type valid beyond it."""
    window = timedelta(seconds=_seconds(within)) if within is not None else expiry.EXPIRY_NOTICE
    return service.expiring_documents(session, client, window)


@fact("kyc.documents.expiring_count", "integer", params={"within": "duration"})
def documents_expiring_count(session, client, within=None):
    """How many required document types expire within `within` (default 30 days) or have expired."""
    return len(documents_expiring(session, client, within))


def _seconds(duration) -> float:
    """Read a duration parameter given as a timedelta, seconds or text like 30d."""
    if isinstance(duration, timedelta):
        return duration.total_seconds()
    if isinstance(duration, (int, float, Decimal)) and not isinstance(duration, bool):
        return float(duration)
    return parse_duration(str(duration)).total_seconds()


@fact("kyc.documents.rejected_count", "integer")
def documents_rejected_count(session, client):
    """How many of the client's documents are rejected."""
    return sum(1 for d in service.documents(session, client.ref) if d.state == "rejected")


@fact("kyc.provider_result", "enum", choices=RESULTS)
def provider_result(session, client):
    """The newest applied result of a KYC provider (not a reviewer), or nothing."""
    review = service.latest_result(session, client.ref, providers_only=True)
    return review.result if review else None


@fact("kyc.under_review", "boolean")
def under_review(session, client):
    """True while a provider reviews documents the client gave it and no result came yet.

    A `kyc.review_pending` (Sumsub applicantPending, Onfido check.started) means the
    documents are at the provider even when no file was recorded here: asking the
    client for them again would be wrong until the provider answers.
    """
    return service.under_review(session, client.ref)


@fact("kyc.result_is_current", "boolean")
def result_is_current(session, client):
    """False only when the KYC result received last arrived after a newer one and was not applied."""
    received = service.last_received(session, client.ref)
    return received is None or received.applied


@fact("kyc.labels", "list")
def labels(session, client):
    """The labels of the newest applied KYC result (e.g. BAD_PROOF_OF_ADDRESS)."""
    return service.labels_of(service.latest_result(session, client.ref))


@fact("kyc.labels_explained", "string")
def labels_explained(session, client):
    """The client-facing explanation of the newest result's labels, from the policy."""
    review = service.latest_result(session, client.ref)
    if review is None:
        return ""
    _docs, texts = policy_mod.for_session(session).explain_labels(review.labels)
    return " ".join(texts) or review.comment or ""


@fact("kyc.reason", "string")
def reason(session, client):
    """The reason given with the newest applied KYC result, if any."""
    return service.reason_of(service.latest_result(session, client.ref))


@fact("kyc.overridden", "boolean")
def overridden(session, client):
    """Whether a reviewer has overridden a provider result for this client."""
    return bool(service.overrides(session, client.ref))


@fact("profile.missing_fields", "list")
def missing_fields(session, client):
    """The profile fields the policy requires that the client has not filled in."""
    return service.missing_fields(session, client)


@fact("country_risk", "enum", choices=("low", "medium", "high"))
def country_risk(session, client):
    """The risk level of the client's country in the onboarding policy."""
    return policy_mod.for_session(session).risk_of(client.country)


@fact("risk.deposits_to_income_percent", "decimal")
def deposits_to_income_percent(session, client):
    """Completed deposits as a percentage of the yearly income the client declared."""
    from engine.facts import get  # payments registers the deposit sum; without it there is none

    spec = get("deposits.completed.sum")
    if spec is None or not client.declared_income or not client.declared_income_currency:
        return None
    deposited = spec.loader(session, client, currency=client.declared_income_currency)
    if deposited is None:
        return None
    return percent_of(deposited.amount, client.declared_income)
