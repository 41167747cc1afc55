"""Stripe: Stripe-Signature verification, amounts by currency exponent, event mapping.

plan_created.json is Stripe's own fixture event [SPEC T3]. Every other event here is
[CONSTRUCTED]: the reference has no verbatim payment_intent / charge / dispute /
payout event, so each is Stripe's envelope (§3.2) around Stripe's fixture object
(§3.3) with realistic values; the Dispute object's fields follow Stripe's API
(not in provider_formats.md).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import pytest

from connectors import MalformedPayload, SignatureError, UnknownClient, stripe
from tests.connectors.helpers import compact, load, one_event, raw

UTC = timezone.utc
# provider_formats.md §7: computed vector over the compact fixture event.
VECTOR_SECRET = "whsec_test_secret"
VECTOR_T = 1492774577
VECTOR_V1 = "75a235f97f6c535f9cd27f07cba3408196c76b3c7cb4208a5a12a95c9e97ea83"
VECTOR_BODY = compact(load("stripe/plan_created.json"))
AT_VECTOR_TIME = datetime.fromtimestamp(VECTOR_T + 5, UTC)


def sign(body: bytes, t: int, secret: str = VECTOR_SECRET) -> str:
    return hmac.new(secret.encode(), b"%d." % t + body, hashlib.sha256).hexdigest()


def header(value: str) -> dict:
    return {"Stripe-Signature": value}


def test_reference_vector_verifies_with_a_frozen_clock():
    assert VECTOR_BODY.startswith(b'{"api_version":null,"created":1234567890')
    stripe.verify(header(f"t={VECTOR_T},v1={VECTOR_V1}"), VECTOR_BODY, VECTOR_SECRET, AT_VECTOR_TIME)


def test_reference_vector_fails_today_because_it_is_old():
    with pytest.raises(SignatureError, match="more than 300 s old"):
        stripe.verify(header(f"t={VECTOR_T},v1={VECTOR_V1}"), VECTOR_BODY, VECTOR_SECRET, datetime.now(UTC))


def test_tolerance_edge():
    value = header(f"t={VECTOR_T},v1={VECTOR_V1}")
    stripe.verify(value, VECTOR_BODY, VECTOR_SECRET, datetime.fromtimestamp(VECTOR_T + 300, UTC))
    with pytest.raises(SignatureError, match="old"):
        stripe.verify(value, VECTOR_BODY, VECTOR_SECRET, datetime.fromtimestamp(VECTOR_T + 301, UTC))


def test_two_v1_entries_where_only_the_second_matches_pass():
    value = f"t={VECTOR_T},v1={'0' * 64},v1={VECTOR_V1},v0=6ffbb59b2300aae63f272406069a9788"
    stripe.verify(header(value), VECTOR_BODY, VECTOR_SECRET, AT_VECTOR_TIME)


def test_only_v0_is_not_enough():
    value = f"t={VECTOR_T},v0={VECTOR_V1}"
    with pytest.raises(SignatureError, match="no v1"):
        stripe.verify(header(value), VECTOR_BODY, VECTOR_SECRET, AT_VECTOR_TIME)


@pytest.mark.parametrize(
    "body",
    [
        VECTOR_BODY.replace(b'"amount":2000', b'"amount":2001'),  # one changed byte
        raw("stripe/plan_created.json"),  # re-serialised (pretty)
        VECTOR_BODY + b" ",
    ],
)
def test_changed_body_fails(body):
    with pytest.raises(SignatureError, match="matches"):
        stripe.verify(header(f"t={VECTOR_T},v1={VECTOR_V1}"), body, VECTOR_SECRET, AT_VECTOR_TIME)


@pytest.mark.parametrize(
    "value, message",
    [
        (None, "missing Stripe-Signature"),
        (f"v1={VECTOR_V1}", "no valid t="),
        (f"t=abc,v1={VECTOR_V1}", "no valid t="),
        (f"t={VECTOR_T + 1},v1={VECTOR_V1}", "matches"),  # the timestamp is signed too
        ("garbage", "no valid t="),
    ],
)
def test_bad_headers_fail(value, message):
    given = {} if value is None else header(value)
    with pytest.raises(SignatureError, match=message):
        stripe.verify(given, VECTOR_BODY, VECTOR_SECRET, AT_VECTOR_TIME)


def test_fresh_signature_verifies_and_header_case_does_not_matter():
    body = raw("stripe/payment_intent_succeeded.json")
    now = datetime(2024, 7, 26, tzinfo=UTC)
    t = int(now.timestamp()) - 10
    stripe.verify({"stripe-signature": f"t={t},v1={sign(body, t, 'whsec_x')}"}, body, "whsec_x", now)


@pytest.mark.parametrize(
    "amount, currency, expected",
    [
        (1099, "usd", "10.99"),
        (5, "eur", "0.05"),
        (500, "jpy", "500"),
        (500, "JPY", "500"),
        (1000, "kwd", "1.000"),
        (12340, "bhd", "12.340"),
        (100, "isk", "1.00"),
        (0, "usd", "0.00"),
        (7, "ugx", "7"),
    ],
)
def test_minor_units_by_currency_exponent(amount, currency, expected):
    assert format(stripe.from_minor_units(amount, currency), "f") == expected


def test_payment_intent_succeeded_is_a_completed_deposit():
    event = one_event(stripe.normalize(stripe.parse(raw("stripe/payment_intent_succeeded.json"))))
    assert event == {
        "id": "evt_3PgafyB7WZ01zgkW1a2b3c4d",
        "type": "payment.deposit_completed",
        "source": "stripe",
        "occurred_at": "2024-07-25T23:03:32+00:00",
        "client": "C-1001",
        "data": {
            "payment_id": "pi_1PgafyB7WZ01zgkWSjxsAJo3",
            "amount": "250.00",
            "currency": "USD",
            "method": "card",
            "provider": "stripe",
            "reference": "dep_7f3a",
            "account_id": "MT5-500123",
        },
    }


def test_zero_and_three_decimal_currencies_in_an_event():
    payload = load("stripe/payment_intent_succeeded.json")
    intent = payload["data"]["object"]
    intent.update(currency="jpy", amount=30000, amount_received=30000)
    assert one_event(stripe.normalize(payload))["data"]["amount"] == "30000"
    intent.update(currency="kwd", amount=75500, amount_received=75500)
    event = one_event(stripe.normalize(payload))
    assert (event["data"]["amount"], event["data"]["currency"]) == ("75.500", "KWD")


def test_payment_failed_carries_decline_code_and_message():
    event = one_event(stripe.normalize(load("stripe/payment_intent_payment_failed.json")))
    assert event["type"] == "payment.deposit_failed"
    assert (event["data"]["amount"], event["client"]) == ("500.00", "C-1002")
    assert event["data"]["reason_code"] == "insufficient_funds"
    assert event["data"]["reason"] == "Your card has insufficient funds."


def test_payment_failed_falls_back_to_the_error_code():
    payload = load("stripe/payment_intent_payment_failed.json")
    del payload["data"]["object"]["last_payment_error"]["decline_code"]
    assert one_event(stripe.normalize(payload))["data"]["reason_code"] == "card_declined"


def test_charge_refunded_uses_the_amount_of_this_refund():
    payload = load("stripe/charge_refunded.json")
    event = one_event(stripe.normalize(payload))
    assert event["type"] == "payment.deposit_refunded"
    assert (event["data"]["payment_id"], event["data"]["amount"]) == ("pi_1PgafyB7WZ01zgkWSjxsAJo3", "100.00")
    # A second partial refund: amount_refunded is cumulative.
    payload["data"]["object"]["amount_refunded"] = 25000
    payload["data"]["previous_attributes"] = {"amount_refunded": 10000}
    assert one_event(stripe.normalize(payload))["data"]["amount"] == "150.00"


def test_dispute_finds_the_client_through_the_resolver():
    payload = load("stripe/charge_dispute_created.json")
    with pytest.raises(UnknownClient, match="pi_1PgafyB7WZ01zgkWSjxsAJo3"):
        stripe.normalize(payload)
    seen = []
    event = one_event(stripe.normalize(payload, resolve_client=lambda pid: seen.append(pid) or "C-1001"))
    assert seen == ["pi_1PgafyB7WZ01zgkWSjxsAJo3"]
    assert event["type"] == "payment.deposit_charged_back"
    assert (event["client"], event["data"]["amount"]) == ("C-1001", "250.00")
    assert event["data"]["reason_code"] == "fraudulent"


def test_metadata_wins_over_the_resolver():
    payload = load("stripe/payment_intent_succeeded.json")
    event = one_event(stripe.normalize(payload, resolve_client=lambda pid: "SOMEONE-ELSE"))
    assert event["client"] == "C-1001"


def test_bank_payout_is_ignored_and_a_tagged_payout_is_a_paid_withdrawal():
    payload = load("stripe/payout_paid.json")
    result = stripe.normalize(payload)
    assert result.events == [] and "payout" in result.ignored
    payload["data"]["object"]["metadata"] = {"withdrawal_id": "wd_55", "client_ref": "C-1003"}
    event = one_event(stripe.normalize(payload))
    assert (event["type"], event["data"]["withdrawal_id"], event["data"]["amount"]) == (
        "payment.withdrawal_paid",
        "wd_55",
        "11.00",
    )


def test_payout_failed_carries_the_failure_message():
    payload = load("stripe/payout_paid.json")
    payload["type"] = "payout.failed"
    payload["data"]["object"].update(
        metadata={"withdrawal_id": "wd_56", "client_ref": "C-1003"},
        failure_code="account_closed",
        failure_message="The bank account has been closed",
    )
    event = one_event(stripe.normalize(payload))
    assert event["type"] == "payment.withdrawal_failed"
    assert event["data"]["reason"] == "The bank account has been closed"


def test_unused_type_is_ignored():
    result = stripe.normalize(stripe.parse(VECTOR_BODY))
    assert result.events == [] and result.ignored.startswith("plan.created")


def test_delivery_id_is_the_event_id():
    payload = load("stripe/charge_refunded.json")
    assert stripe.delivery_id(payload) == "evt_3PgcR1B7WZ01zgkW5e6f7a8b"
    assert one_event(stripe.normalize(payload))["id"] == stripe.delivery_id(payload)


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("data", "object", "currency"), "usdollar", "currency"),
        (("data", "object", "amount_received"), -5, "negative"),
        (("data", "object", "metadata"), {}, "no metadata.client_ref"),
        (("created",), "yesterday", "created: expected an integer"),
        (("data", "object"), None, "data.object: is null"),
    ],
)
def test_unusable_events_say_what_is_wrong(path, value, message):
    payload = load("stripe/payment_intent_succeeded.json")
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises((MalformedPayload, UnknownClient), match=message):
        stripe.normalize(payload)


def test_parse_needs_the_envelope():
    with pytest.raises(MalformedPayload, match="data: is missing"):
        stripe.parse(b'{"id":"evt_1","type":"x","created":1}')
    assert stripe.parse(VECTOR_BODY)["id"] == "evt_1Pgc76B7WZ01zgkWwyRHS12y"


def test_now_may_be_naive_utc():
    naive = (datetime.fromtimestamp(VECTOR_T, UTC) + timedelta(seconds=1)).replace(tzinfo=None)
    stripe.verify(header(f"t={VECTOR_T},v1={VECTOR_V1}"), VECTOR_BODY, VECTOR_SECRET, naive)


def test_values_too_long_for_an_event_are_malformed_not_stored_later():
    payload = load("stripe/payment_intent_succeeded.json")
    payload["data"]["object"]["id"] = "pi_" + "x" * 600
    with pytest.raises(MalformedPayload, match="payment_id: longer than 500"):
        stripe.normalize(payload)
