"""Sumsub KYC webhooks: X-Payload-Digest HMAC over the raw body, applicant events."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

from connectors._common import (
    Fields,
    Normalized,
    check_hex_hmac,
    clip,
    event,
    load_json_object,
    parse_time,
    require_header,
    require_secret,
)
from connectors.errors import MalformedPayload, SignatureError, UnknownClient

NAME = "sumsub"
ERRORS = (SignatureError, MalformedPayload, UnknownClient)
ALGORITHMS = {
    "HMAC_SHA1_HEX": hashlib.sha1,
    "HMAC_SHA256_HEX": hashlib.sha256,
    "HMAC_SHA512_HEX": hashlib.sha512,
}
# Types we receive but do not turn into events, with the reason recorded for each.
_IGNORED = {
    "applicantCreated": "the applicant record exists; nothing is reviewed yet",
}


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: datetime | None = None) -> None:
    """Check X-Payload-Digest (hex HMAC of the raw body, algorithm from X-Payload-Digest-Alg)."""
    digest = require_header(headers, "X-Payload-Digest")
    alg = require_header(headers, "X-Payload-Digest-Alg")
    if alg not in ALGORITHMS:
        raise SignatureError(f"unknown X-Payload-Digest-Alg {alg[:40]!r}")
    check_hex_hmac(require_secret(secret), body, ALGORITHMS[alg], digest, "X-Payload-Digest")


def parse(body: bytes) -> dict:
    """Parse a webhook body; it must be an object with a `type`."""
    payload = load_json_object(body)
    Fields(payload).text("type")
    return payload


def delivery_id(payload: dict) -> str:
    """Return correlationId, which Sumsub documents as the unique id of the event."""
    return Fields(payload).text("correlationId")


def occurred_at(payload: dict) -> datetime:
    """Return createdAtMs (or the older createdAt) as an aware UTC datetime."""
    # createdAtMs is "yyyy-MM-dd HH:mm:ss.fff" in UTC, not epoch millis; createdAt
    # ("2024-09-23 23:10:24+0000") appears in older payloads.
    fields = Fields(payload)
    text = fields.text("createdAtMs", False)
    if text is not None:
        return parse_time(text, fields.where("createdAtMs"))
    text = fields.text("createdAt", False)
    if text is None:
        raise MalformedPayload("createdAtMs: is missing (and there is no createdAt)")
    return parse_time(text, fields.where("createdAt"))


def normalize(payload: dict) -> Normalized:
    """Turn one applicant webhook into canonical events (or an ignored result)."""
    kind = Fields(payload).text("type")
    build = _BUILDERS.get(kind)
    if build is None:
        return Normalized.ignore(_IGNORED.get(kind, f"{kind[:60]}: not used by fxcrm"))
    type_, data = build(payload)
    return Normalized([event(NAME, type_, delivery_id(payload), occurred_at(payload), client_of(payload), data)])


def client_of(payload: dict) -> str:
    """Return externalUserId, which the broker sets to its client reference."""
    value = payload.get("externalUserId")
    if not isinstance(value, str) or not value.strip():
        raise UnknownClient("externalUserId: missing, so the client is unknown")
    return value.strip()


def _pending(payload: dict) -> tuple[str, dict]:
    return "kyc.review_pending", {"provider": NAME}


def _reviewed(payload: dict) -> tuple[str, dict]:
    result = Fields(payload).child("reviewResult")
    answer = result.text("reviewAnswer")
    if answer == "GREEN":
        outcome = "approved"
    elif answer == "RED":
        outcome = _red_outcome(result)
    else:
        raise MalformedPayload(f"reviewResult.reviewAnswer: expected GREEN or RED, got {answer[:20]!r}")
    return "kyc.review_completed", {
        "provider": NAME,
        "result": outcome,
        "labels": result.strings("rejectLabels") or None,
        "reason": clip(result.text("clientComment", False)),
        "comment": clip(result.text("moderationComment", False)),
    }


def _red_outcome(result: Fields) -> str:
    reject_type = result.text("reviewRejectType", False)
    # RETRY lets the applicant resubmit; FINAL (and an API rejection) ends the review.
    if reject_type == "RETRY":
        return "retry"
    if reject_type in (None, "FINAL"):
        return "rejected"
    raise MalformedPayload(f"reviewResult.reviewRejectType: expected FINAL or RETRY, got {reject_type[:20]!r}")


def _on_hold(payload: dict) -> tuple[str, dict]:
    # The docs promise no reviewResult here; use its client comment when there is one.
    result = Fields(payload).child("reviewResult", False)
    reason = result.text("clientComment", False) if result else None
    return "kyc.on_hold", {"provider": NAME, "reason": clip(reason)}


def _personal_info_changed(payload: dict) -> tuple[str, dict]:
    # Sumsub sends no personal data in webhooks: what changed must be fetched by API.
    return "client.profile_updated", {"fields": {}}


def _reset(payload: dict) -> tuple[str, dict]:
    # A reset deactivates every document: the client has to go through KYC again.
    return "kyc.reset", {"provider": NAME, "reason": "applicant reset at Sumsub: all documents were deactivated"}


_BUILDERS = {
    "applicantPending": _pending,
    "applicantReviewed": _reviewed,
    "applicantOnHold": _on_hold,
    "applicantPersonalInfoChanged": _personal_info_changed,
    "applicantReset": _reset,
}
