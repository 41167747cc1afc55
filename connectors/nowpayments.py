"""NOWPayments IPN: x-nowpayments-sig HMAC-SHA512 over the key-sorted JSON, payments."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

from connectors import _jsjson
from connectors._common import (
    Fields,
    Normalized,
    check_hex_hmac,
    as_utc,
    currency_code,
    decimal_text,
    event,
    from_epoch_ms,
    load_json_object,
    parse_time,
    require_header,
    require_secret,
)
from connectors.errors import MalformedPayload, SignatureError, UnknownClient

NAME = "nowpayments"
ERRORS = (SignatureError, MalformedPayload, UnknownClient)
ORDER_SEPARATOR = ":"  # order_id is "<client_ref>:<payment_ref>"
_FAILED = ("failed", "expired", "cancelled")


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: datetime | None = None) -> None:
    """Check x-nowpayments-sig: hex HMAC-SHA512 of the key-sorted JSON.stringify string."""
    signature = require_header(headers, "x-nowpayments-sig")
    key = require_secret(secret)
    try:
        params = _jsjson.parse(body.decode("utf-8"))
        signed = _jsjson.stringify_sorted(params) if isinstance(params, dict) else None
    except (ValueError, RecursionError):
        signed = None
    if signed is None:
        raise SignatureError("body is not a JSON object, so its signature cannot be checked")
    check_hex_hmac(key, signed.encode("utf-8"), hashlib.sha512, signature, "x-nowpayments-sig")


def parse(body: bytes) -> dict:
    """Parse an IPN body: an object with payment_id and payment_status."""
    payload = load_json_object(body)
    fields = Fields(payload)
    fields.integer("payment_id")
    fields.text("payment_status")
    return payload


def delivery_id(payload: dict) -> str:
    """Return `payment_id:payment_status`: one IPN per status change of a payment."""
    fields = Fields(payload)
    return f"{fields.integer('payment_id')}:{fields.text('payment_status')}"


def client_and_payment(order_id: str | None) -> tuple[str, str]:
    """Split order_id `<client_ref>:<payment_ref>` into its two parts."""
    client, sep, payment = (order_id or "").rpartition(ORDER_SEPARATOR)
    if not sep or not client.strip() or not payment.strip():
        raise UnknownClient(f"order_id {str(order_id)[:60]!r} is not '<client_ref>{ORDER_SEPARATOR}<payment_ref>'")
    return client.strip(), payment.strip()


def normalize(payload: dict, *, received_at: datetime) -> Normalized:
    """Turn one IPN into a payment event; `received_at` stands in for a missing updated_at."""
    fields = Fields(payload)
    status = fields.text("payment_status")
    type_ = _event_type(status)
    if type_ is None:
        # waiting, confirming, confirmed, sending: the payment is still under way.
        return Normalized.ignore(f"payment_status {status[:30]!r}: not a final state")
    client, payment_ref = client_and_payment(fields.text("order_id", False))
    amount = fields.number("price_amount")
    if amount < 0:
        raise MalformedPayload("price_amount: negative amount")
    data = {
        "payment_id": payment_ref,
        "amount": decimal_text(amount),
        "currency": currency_code(fields.text("price_currency"), "price_currency"),
        "method": "crypto",
        "provider": NAME,
        "reference": str(fields.integer("payment_id")),
    }
    if type_ == "payment.deposit_failed":
        data.update(_failure(fields, status))
    return Normalized([event(NAME, type_, delivery_id(payload), _when(fields, received_at), client, data)])


def _event_type(status: str) -> str | None:
    if status == "finished":
        return "payment.deposit_completed"
    if status == "refunded":
        return "payment.deposit_refunded"
    # partially_paid: money arrived but short; nothing is credited until staff decide.
    if status in _FAILED or status == "partially_paid":
        return "payment.deposit_failed"
    return None


def _failure(fields: Fields, status: str) -> dict:
    if status != "partially_paid":
        return {"reason_code": status, "reason": f"NOWPayments payment {status}"}
    paid = fields.number("actually_paid", False)
    due = fields.number("pay_amount", False)
    currency = (fields.text("pay_currency", False) or "").upper()[:20]
    return {
        "reason_code": "partially_paid",
        "reason": f"paid {decimal_text(paid) if paid is not None else '?'} of "
        f"{decimal_text(due) if due is not None else '?'} {currency}".strip(),
    }


def _when(fields: Fields, received_at: datetime) -> datetime:
    value = fields.obj.get("updated_at")
    if isinstance(value, str) and value.strip():
        return parse_time(value, "updated_at")
    if isinstance(value, int) and not isinstance(value, bool):
        return from_epoch_ms(value, "updated_at")  # epoch milliseconds
    return as_utc(received_at)
