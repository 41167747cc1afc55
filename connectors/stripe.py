"""Stripe webhooks: Stripe-Signature (t= and v1= HMAC-SHA256), payment events."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from connectors._common import (
    ClientResolver,
    Fields,
    Normalized,
    as_utc,
    clip,
    currency_code,
    decimal_text,
    event,
    from_epoch_ms,
    hex_matches,
    hmac_hex,
    load_json_object,
    require_header,
    require_secret,
)
from connectors.errors import MalformedPayload, SignatureError, UnknownClient

NAME = "stripe"
ERRORS = (SignatureError, MalformedPayload, UnknownClient)
TOLERANCE_SECONDS = 300  # the official libraries' DEFAULT_TOLERANCE
# Minor-unit exponents from https://docs.stripe.com/currencies: zero-decimal and
# three-decimal currencies; every other currency (ISK and HUF included) has two.
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())
_TIMESTAMP = re.compile(r"[0-9]{1,15}")


def verify(
    headers: Mapping[str, str], body: bytes, secret: str, now: datetime, tolerance: int = TOLERANCE_SECONDS
) -> None:
    """Check Stripe-Signature: any v1 HMAC of `t.body` matches and t is recent enough."""
    timestamp, candidates = _signature_header(require_header(headers, "Stripe-Signature"))
    if int(timestamp) < as_utc(now).timestamp() - tolerance:
        raise SignatureError(f"Stripe-Signature timestamp is more than {tolerance} s old")
    # Stripe signs the t value exactly as sent, a dot, then the raw body.
    signed = timestamp.encode("ascii") + b"." + body
    expected = hmac_hex(require_secret(secret), signed, hashlib.sha256)
    # Check every candidate so the time taken does not tell which one matched.
    matches = [hex_matches(expected, candidate) for candidate in candidates]
    if not any(matches):
        raise SignatureError("no v1 signature in Stripe-Signature matches the body")


def _signature_header(value: str) -> tuple[str, list[str]]:
    timestamp, candidates = None, []
    for item in value.split(","):
        key, sep, text = item.strip().partition("=")
        if key == "t" and sep:
            timestamp = text.strip()
        elif key == "v1" and sep:
            candidates.append(text.strip())
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("Stripe-Signature has no valid t= timestamp")
    if not candidates:
        raise SignatureError("Stripe-Signature has no v1= signature")
    return timestamp, candidates


def parse(body: bytes) -> dict:
    """Parse an event: an object with id, type, created and data.object."""
    payload = load_json_object(body)
    fields = Fields(payload)
    fields.text("id")
    fields.text("type")
    fields.integer("created")
    fields.child("data").child("object")
    return payload


def delivery_id(payload: dict) -> str:
    """Return the event id (evt_...), Stripe's de-duplication key."""
    return Fields(payload).text("id")


def from_minor_units(amount: int, currency: str) -> Decimal:
    """Convert an amount in the currency's minor unit to an exact Decimal."""
    code = currency.upper()
    exponent = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    return Decimal(amount).scaleb(-exponent)


def normalize(payload: dict, *, resolve_client: ClientResolver | None = None) -> Normalized:
    """Turn one Stripe event into canonical events (or an ignored result).

    `resolve_client(payment_id)` finds the client when the object carries no
    `metadata.client_ref` (disputes never do).
    """
    fields = Fields(payload)
    kind = fields.text("type")
    build = _BUILDERS.get(kind)
    if build is None:
        return Normalized.ignore(f"{kind[:60]}: not used by fxcrm")
    obj = fields.child("data").child("object")
    built = build(obj, fields)
    if built is None:
        return Normalized.ignore(
            f"{kind}: payout without metadata.withdrawal_id is the merchant's own bank payout, not a client payment"
        )
    type_, payment_id, data = built
    client = _client(obj, payment_id, resolve_client)
    when = from_epoch_ms(fields.integer("created") * 1000, "created")
    return Normalized([event(NAME, type_, delivery_id(payload), when, client, data)])


def _client(obj: Fields, payment_id: str, resolve: ClientResolver | None) -> str:
    metadata = obj.child("metadata", False)
    ref = metadata.text("client_ref", False) if metadata else None
    if ref is None and resolve is not None:
        ref = resolve(payment_id)
    if not ref:
        raise UnknownClient(f"{obj.path}: no metadata.client_ref and no client found for {payment_id[:60]}")
    return ref


def _money(obj: Fields, key: str) -> tuple[str, str]:
    currency = currency_code(obj.text("currency"), obj.where("currency"))
    amount = obj.integer(key)
    if amount < 0:
        raise MalformedPayload(f"{obj.where(key)}: negative amount")
    return decimal_text(from_minor_units(amount, currency)), currency


def _payment_data(obj: Fields, payment_id: str, amount: str, currency: str) -> dict:
    metadata = obj.child("metadata", False)
    meta = (lambda key: metadata.text(key, False)) if metadata else (lambda key: None)
    return {
        "payment_id": payment_id,
        "amount": amount,
        "currency": currency,
        "method": _method(obj),
        "provider": NAME,
        "reference": meta("payment_ref"),
        "account_id": meta("account_id"),
    }


def _method(obj: Fields) -> str:
    types = obj.strings("payment_method_types")
    if len(types) == 1:
        return types[0]
    details = obj.child("payment_method_details", False)
    return (details.text("type", False) if details else None) or "stripe"


def _intent_succeeded(obj: Fields, _event: Fields):
    payment_id = obj.text("id")
    received = obj.integer("amount_received", False)
    amount, currency = _money(obj, "amount_received" if received else "amount")
    data = _payment_data(obj, payment_id, amount, currency)
    return "payment.deposit_completed", payment_id, data


def _intent_failed(obj: Fields, _event: Fields):
    payment_id = obj.text("id")
    data = _payment_data(obj, payment_id, *_money(obj, "amount"))
    error = obj.child("last_payment_error", False)
    if error is not None:
        data["reason_code"] = error.text("decline_code", False) or error.text("code", False)
        data["reason"] = clip(error.text("message", False))
    return "payment.deposit_failed", payment_id, data


def _charge_refunded(obj: Fields, event_fields: Fields):
    payment_id = obj.text("payment_intent", False) or obj.text("id")
    refunded = obj.integer("amount_refunded")
    # amount_refunded is cumulative; the event's previous_attributes give this refund.
    previous = event_fields.child("data").child("previous_attributes", False)
    before = previous.integer("amount_refunded", False) if previous else None
    currency = currency_code(obj.text("currency"), obj.where("currency"))
    this_refund = refunded - (before or 0)
    if this_refund <= 0:
        raise MalformedPayload(f"{obj.where('amount_refunded')}: no refunded amount")
    amount = decimal_text(from_minor_units(this_refund, currency))
    return "payment.deposit_refunded", payment_id, _payment_data(obj, payment_id, amount, currency)


def _dispute_created(obj: Fields, _event: Fields):
    payment_id = obj.text("payment_intent", False) or obj.text("charge")
    data = _payment_data(obj, payment_id, *_money(obj, "amount"))
    data["method"] = "stripe"
    data["reason_code"] = obj.text("reason", False)
    data["reason"] = f"dispute {obj.text('id')[:60]} opened ({obj.text('status', False)})"
    return "payment.deposit_charged_back", payment_id, data


def _payout(type_: str):
    def build(obj: Fields, _event: Fields):
        metadata = obj.child("metadata", False)
        withdrawal = metadata.text("withdrawal_id", False) if metadata else None
        if withdrawal is None:
            return None
        amount, currency = _money(obj, "amount")
        data = {
            "withdrawal_id": withdrawal,
            "amount": amount,
            "currency": currency,
            "method": "stripe_payout",
            "account_id": metadata.text("account_id", False),
        }
        if type_ == "payment.withdrawal_failed":
            data["reason"] = clip(obj.text("failure_message", False) or obj.text("failure_code", False))
        return type_, withdrawal, data

    return build


_BUILDERS = {
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
    "payout.paid": _payout("payment.withdrawal_paid"),
    "payout.failed": _payout("payment.withdrawal_failed"),
}
