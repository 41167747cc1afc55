"""Onfido webhooks: X-SHA2-Signature over the raw body; check results fetched by API."""

from __future__ import annotations

import hashlib
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import datetime
from typing import Callable

from connectors._common import (
    ClientResolver,
    Fields,
    Normalized,
    check_hex_hmac,
    event,
    load_json_object,
    parse_time,
    require_header,
    require_secret,
)
from connectors.errors import FetchFailed, MalformedPayload, SignatureError, UnknownClient

NAME = "onfido"
ERRORS = (SignatureError, MalformedPayload, UnknownClient, FetchFailed)
DEFAULT_BASE_URL = "https://api.onfido.com"
API_VERSION = "v3.6"
# The webhook carries no result, so these actions need the check read back first.
FETCH_ACTIONS = ("check.started", "check.completed")
CLIENT_TAG = "client:"  # a check tag `client:<ref>` names the broker's client

CheckFetcher = Callable[[str], dict]


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: datetime | None = None) -> None:
    """Check X-SHA2-Signature: hex HMAC-SHA256 of the raw body with the webhook token."""
    signature = require_header(headers, "X-SHA2-Signature")
    check_hex_hmac(require_secret(secret), body, hashlib.sha256, signature, "X-SHA2-Signature")


def parse(body: bytes) -> dict:
    """Parse `{"payload": {resource_type, action, object: {id, ...}}}`."""
    envelope = load_json_object(body)
    payload = Fields(envelope).child("payload")
    payload.text("resource_type")
    payload.text("action")
    payload.child("object").text("id")
    return envelope


def _object(envelope: dict) -> tuple[Fields, str, Fields]:
    payload = Fields(envelope).child("payload")
    return payload, payload.text("action"), payload.child("object")


def delivery_id(envelope: dict) -> str:
    """Return `action:object id:completed time`; Onfido sends no delivery id."""
    _, action, obj = _object(envelope)
    # A reopened check completes again later with a new completion time.
    return f"{action}:{obj.text('id')}:{obj.text('completed_at_iso8601', False) or ''}"


def check_to_fetch(envelope: dict) -> str | None:
    """Return the id of the check to read before normalizing, or None."""
    payload, action, obj = _object(envelope)
    if payload.text("resource_type") == "check" and action in FETCH_ACTIONS:
        return obj.text("id")
    return None


def fetch_check(check_id: str, *, base_url: str, token: str, timeout: float = 5.0) -> dict:
    """GET /v3.6/checks/{id}; raise FetchFailed on any network, HTTP or JSON problem."""
    # Build the URL from configuration, never from the payload's href.
    url = f"{base_url.rstrip('/')}/{API_VERSION}/checks/{urllib.parse.quote(check_id, safe='')}"
    request = urllib.request.Request(
        url, headers={"Authorization": f"Token token={token}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(1_000_000)
    except urllib.error.HTTPError as exc:
        retryable = exc.code == 429 or exc.code >= 500
        raise FetchFailed(f"GET check {check_id[:60]}: HTTP {exc.code}", status=exc.code, retryable=retryable) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise FetchFailed(f"GET check {check_id[:60]}: {type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None
    return _check_body(body, check_id)


def _check_body(body: bytes, check_id: str) -> dict:
    try:
        check = json.loads(body)
    except (ValueError, RecursionError):
        raise FetchFailed(f"GET check {check_id[:60]}: the answer is not JSON") from None
    if not isinstance(check, dict):
        raise FetchFailed(f"GET check {check_id[:60]}: the answer is not a JSON object")
    return check


def normalize(
    envelope: dict, *, fetch: CheckFetcher | None = None, resolve_client: ClientResolver | None = None
) -> Normalized:
    """Turn a webhook into canonical events, reading the check through `fetch(check_id)`.

    The check's tag `client:<ref>` names the client; without a tag,
    `resolve_client(applicant_id)` (the broker's applicant -> client links) does. A tag
    and a link that disagree are UnknownClient.
    """
    check_id = check_to_fetch(envelope)
    _payload, action, obj = _object(envelope)
    if check_id is None:
        return Normalized.ignore(f"{action[:60]}: not used by fxcrm")
    if fetch is None:
        raise FetchFailed(f"check {check_id[:60]} must be fetched and no fetcher is set", retryable=False)
    check = Fields(fetch(check_id), "check")
    client = _client(check, resolve_client)
    if action == "check.started":
        return Normalized([_event("kyc.review_pending", envelope, check, client, {"provider": NAME})])
    return _completed(envelope, obj, check, client)


def _completed(envelope: dict, obj: Fields, check: Fields, client: str) -> Normalized:
    status = check.text("status")
    if status != "complete":
        return Normalized.ignore(f"check is {status[:30]!r} when read back, not complete")
    result = check.text("result")
    if result == "clear":
        type_, data = "kyc.review_completed", {"provider": NAME, "result": "approved"}
    elif result == "consider":
        # "consider" asks for a human decision; it is not a rejection.
        type_, data = "kyc.on_hold", {"provider": NAME, "reason": "Onfido check result: consider"}
    else:
        raise MalformedPayload(f"check.result: expected clear or consider, got {result[:20]!r}")
    return Normalized([_event(type_, envelope, check, client, data, obj.text("completed_at_iso8601", False))])


def _event(type_: str, envelope: dict, check: Fields, client: str, data: dict, when: str | None = None) -> dict:
    where = "payload.object.completed_at_iso8601" if when else "check.created_at"
    text = when or check.text("created_at")
    return event(NAME, type_, delivery_id(envelope), parse_time(text, where), client, data)


def tag_link(check: dict) -> tuple[str | None, str | None]:
    """Return the check's applicant id and the client its `client:<ref>` tag names."""
    fields = Fields(check, "check")
    tags = [t for t in fields.strings("tags") if t.startswith(CLIENT_TAG)]
    ref = tags[0][len(CLIENT_TAG) :].strip() if tags else None
    return fields.text("applicant_id", False) or None, ref or None


def _client(check: Fields, resolve: ClientResolver | None) -> str:
    # The tag set on the check says which client it is for; the applicant's recorded
    # client is used when there is no tag. When both exist they must agree: a KYC result
    # applied to the wrong client is worse than one an operator has to place.
    applicant, tagged = tag_link(check.obj)
    linked = resolve(applicant) if resolve is not None and applicant else None
    if tagged and linked and tagged != linked:
        raise UnknownClient(
            f"check: applicant {applicant[:60]} is linked to client "
            f"{linked[:60]} but the check's tag names {tagged[:60]}"
        )
    ref = tagged or linked
    if not ref:
        raise UnknownClient(f"check: no client for applicant {str(applicant)[:60]} and no '{CLIENT_TAG}<ref>' tag")
    return ref
