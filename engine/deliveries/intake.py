"""The path every provider delivery takes: verify, parse, normalize, store, answer.

The web endpoint calls `receive`; `fxcrm connectors replay` and operator retries call
`accept`, the same path after the signature check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Mapping

import connectors
from connectors import MalformedPayload, SignatureError, UnknownClient, onfido
from engine.db import Database, after_commit, unit_of_work
from engine.deliveries import applicants, service, wires
from engine.deliveries.models import IGNORED, PENDING, REJECTED
from engine.events.schemas import InvalidEvent, validate_envelope
from engine.events.store import record_many
from engine.processing.ingest import schedule_touched

log = logging.getLogger(__name__)
# The FXCRM_* setting holding each provider's webhook secret.
SECRETS = {
    "sumsub": "SUMSUB_SECRET_KEY",
    "onfido": "ONFIDO_WEBHOOK_TOKEN",
    "stripe": "STRIPE_WEBHOOK_SECRET",
    "nowpayments": "NOWPAYMENTS_IPN_SECRET",
}


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery, and the HTTP answer it gets."""

    status: str  # accepted, duplicate, ignored, unmatched, pending, rejected
    http_status: int
    reason: str | None = None
    events: int = 0

    def as_json(self) -> dict:
        body = {"status": self.status, "events": self.events}
        return {**body, "reason": self.reason} if self.reason else body


def receive(
    database: Database,
    *,
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    on_pending: Callable[[], None] | None = None,
) -> Outcome:
    """Handle one webhook delivery; nothing is stored from a body that fails verification."""
    module = connectors.get(provider)
    try:
        module.verify(headers, body, database.config.secret(SECRETS[provider]), now)
    except SignatureError as exc:
        return _reject(database, provider, body, 401, exc.reason, keep_body=False, now=now)
    return accept(database, provider=provider, body=body, now=now, on_pending=on_pending)


def accept(
    database: Database, *, provider: str, body: bytes, now: datetime, on_pending: Callable[[], None] | None = None
) -> Outcome:
    """Parse, normalize and store an authentic delivery."""
    module = connectors.get(provider)
    try:
        payload = module.parse(body)
        delivery_id = module.delivery_id(payload)
    except MalformedPayload as exc:
        return _reject(database, provider, body, 400, exc.reason, keep_body=True, now=now)
    if provider == onfido.NAME and onfido.check_to_fetch(payload):
        return _defer(database, provider, delivery_id, body, now, on_pending)
    with unit_of_work(database) as session:
        try:
            result = normalize(session, provider, payload, now=now)
        except UnknownClient as exc:
            return _unmatched(session, provider, delivery_id, body, exc.reason, now)
        except (MalformedPayload, InvalidEvent) as exc:
            service.create(
                session,
                provider=provider,
                status=REJECTED,
                http_status=400,
                body=body,
                reason=str(exc),
                delivery_id=delivery_id,
                keep_body=True,
                now=now,
            )
            return Outcome("rejected", 400, str(exc))
        return _store(session, database, provider, delivery_id, body, result, now)


def normalize(
    session, provider: str, payload: dict, *, now: datetime, fetch: Callable[[str], dict] | None = None
) -> connectors.Normalized:
    """Run the connector's normalize with what it needs from the database."""
    module = connectors.get(provider)
    if provider == "stripe":
        result = module.normalize(payload, resolve_client=_deposit_client(session, provider))
    elif provider == "nowpayments":
        result = module.normalize(payload, received_at=now)
    elif provider == onfido.NAME:
        result = _onfido(session, payload, fetch)
    else:
        result = module.normalize(payload)
    for envelope in result.events:
        validate_envelope(envelope)  # a connector bug must not reach the store
    return result


def _onfido(session, payload: dict, fetch: Callable[[str], dict] | None) -> connectors.Normalized:
    """Normalize with the applicant links, and learn the link a check's tag gives."""
    checks: list[dict] = []

    def keep(check_id: str) -> dict:
        checks.append(fetch(check_id))
        return checks[-1]

    result = onfido.normalize(payload, fetch=keep if fetch else None, resolve_client=applicants.resolver(session))
    for check in checks:
        applicants.learn(session, check)
    return result


def _deposit_client(session, provider: str) -> Callable[[str], str | None]:
    """Find the client of a payment through its deposit (disputes name only the payment)."""
    from engine.payments import deposits as deposits_service

    def resolve(payment_id: str) -> str | None:
        deposit = deposits_service.get(session, provider=provider, payment_id=payment_id)
        return deposit.client_ref if deposit else None

    return resolve


def _store(
    session,
    database: Database,
    provider: str,
    delivery_id: str,
    body: bytes,
    result: connectors.Normalized,
    now: datetime,
) -> Outcome:
    if not result.events:
        service.create(
            session,
            provider=provider,
            status=IGNORED,
            http_status=200,
            body=body,
            reason=result.ignored,
            delivery_id=delivery_id,
            now=now,
        )
        return Outcome("ignored", 200, result.ignored)
    created = record_many(session, result.events, via=f"webhook:{provider}"[:20])
    schedule_touched(session, database)
    status = "accepted" if created else "duplicate"
    log.info("%s delivery %s: %s", provider, delivery_id, status)
    return Outcome(status, 200, events=len(created))


def _unmatched(session, provider: str, delivery_id: str | None, body: bytes, reason: str, now: datetime) -> Outcome:
    # Authentic and well formed: answer 2xx so the provider stops, keep it for an operator.
    wires.keep_unmatched(session, provider=provider, delivery_id=delivery_id, body=body, reason=reason, now=now)
    return Outcome("unmatched", 202, reason)


def _reject(
    database: Database, provider: str, body: bytes, http_status: int, reason: str, *, keep_body: bool, now: datetime
) -> Outcome:
    with unit_of_work(database) as session:
        service.create(
            session,
            provider=provider,
            status=REJECTED,
            http_status=http_status,
            body=body,
            reason=reason,
            keep_body=keep_body,
            now=now,
        )
    log.info("%s delivery rejected with %d", provider, http_status)
    return Outcome("rejected", http_status, reason)


def _defer(
    database: Database,
    provider: str,
    delivery_id: str,
    body: bytes,
    now: datetime,
    on_pending: Callable[[], None] | None,
) -> Outcome:
    # The result must be read back from the provider: keep it and answer at once.
    with unit_of_work(database) as session:
        created = service.create(
            session,
            provider=provider,
            status=PENDING,
            http_status=202,
            body=body,
            delivery_id=delivery_id,
            keep_body=True,
            next_attempt_at=now,
            now=now,
        )
        if created and on_pending is not None:
            after_commit(session, on_pending)
    return Outcome("pending" if created else "duplicate", 202 if created else 200)
