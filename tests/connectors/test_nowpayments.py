"""NOWPayments IPN: the JSON.stringify signing idiom, mapping and order_id convention.

No verbatim IPN body exists in the reference ([UNCONFIRMED]); the vector body is the
reference's illustrative one (§7) and the fixtures are [CONSTRUCTED] from the
payment fields the docs name (§6.2), with a nested `fee` object to exercise the
replacer-array behaviour.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import MalformedPayload, SignatureError, UnknownClient, _jsjson, nowpayments
from tests.connectors.helpers import compact, hex_hmac, load, one_event, raw

VECTOR_SECRET = "np-test-ipn-secret"
VECTOR_BODY = (
    b'{"actually_paid":0.0001,"order_description":"Apple Macbook Pro 2019 x 1",'
    b'"order_id":"RGDBP-21314","outcome_amount":1,"outcome_currency":"usd",'
    b'"pay_address":"addr","pay_amount":0.0001,"pay_currency":"btc",'
    b'"payment_id":5077125051,"payment_status":"finished","price_amount":1,'
    b'"price_currency":"usd","purchase_id":"6084744717"}'
)
VECTOR_SIG = (
    "356c8ab2d58f8f6323c9ba762dc2aa1942296a82945318f8c2bcd0fdd3ec7e8bf7d9825973009a68"
    "36dbe96eb6f627442e50e22657fd173d9bd05c5a84f5a972"
)
RECEIVED = datetime(2024, 5, 2, 10, 42, tzinfo=timezone.utc)


def sig_of(body: bytes, secret: str = VECTOR_SECRET) -> dict:
    signed = _jsjson.stringify_sorted(_jsjson.parse(body.decode())).encode()
    return {"x-nowpayments-sig": hex_hmac(secret, signed, hashlib.sha512)}


def test_reference_vector_verifies():
    nowpayments.verify({"x-nowpayments-sig": VECTOR_SIG}, VECTOR_BODY, VECTOR_SECRET)
    nowpayments.verify({"X-NOWPAYMENTS-SIG": VECTOR_SIG}, VECTOR_BODY, VECTOR_SECRET)


def test_key_order_and_whitespace_do_not_matter_because_the_body_is_re_sorted():
    shuffled = dict(reversed(list(json.loads(VECTOR_BODY).items())))
    body = json.dumps(shuffled, indent=2).encode()
    nowpayments.verify({"x-nowpayments-sig": VECTOR_SIG}, body, VECTOR_SECRET)


@pytest.mark.parametrize(
    "body",
    [
        VECTOR_BODY.replace(b'"price_amount":1', b'"price_amount":2'),  # a changed value
        VECTOR_BODY.replace(b'"addr"', b'"adds"'),  # one changed byte
        VECTOR_BODY.replace(b'"price_amount":1', b'"price_amount":"1"'),  # number became string
    ],
)
def test_changed_content_fails(body):
    with pytest.raises(SignatureError, match="does not match"):
        nowpayments.verify({"x-nowpayments-sig": VECTOR_SIG}, body, VECTOR_SECRET)


@pytest.mark.parametrize(
    "given_headers, body, message",
    [
        ({}, VECTOR_BODY, "missing x-nowpayments-sig"),
        ({"x-nowpayments-sig": VECTOR_SIG}, b"not json", "not a JSON object"),
        ({"x-nowpayments-sig": VECTOR_SIG}, b"[1,2]", "not a JSON object"),
        ({"x-nowpayments-sig": VECTOR_SIG[:-2]}, VECTOR_BODY, "does not match"),
    ],
)
def test_bad_deliveries_fail(given_headers, body, message):
    with pytest.raises(SignatureError, match=message):
        nowpayments.verify(given_headers, body, VECTOR_SECRET)


def test_nested_objects_keep_only_top_level_keys():
    # JSON.stringify with an array replacer filters nested objects by that same list.
    params = {"b": {"a": 1, "fee": 2, "zz": 3}, "a": [{"b": 1, "x": 2}], "fee": None}
    assert _jsjson.stringify_sorted(params) == '{"a":[{"b":1}],"b":{"a":1,"fee":2},"fee":null}'


@pytest.mark.parametrize(
    "value, text",
    [
        (1.0, "1"),
        (0.1, "0.1"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (-0.0, "0"),
        (5077125051.0, "5077125051"),
        (123456789012345678901.0, "123456789012345680000"),
        (float("inf"), "null"),
    ],
)
def test_numbers_print_like_javascript(value, text):
    assert _jsjson.number(value) == text


def test_strings_escape_like_javascript():
    assert _jsjson.quote('a"\\\b\f\n\r\t\x01\u2028\ud800é/') == ('"a\\"\\\\\\b\\f\\n\\r\\t\\u0001\u2028\\ud800é/"')


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**60), 2**60)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@settings(max_examples=3, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=5), json_values, max_size=6), min_size=40, max_size=40))
def test_stringify_matches_node_exactly(objects):
    """Compare with real JSON.stringify(params, Object.keys(params).sort()) in node."""
    script = (
        "const xs=JSON.parse(require('fs').readFileSync(0,'utf8'));"
        "process.stdout.write(JSON.stringify(xs.map(s=>{const p=JSON.parse(s);"
        "return JSON.stringify(p,Object.keys(p).sort())})))"
    )
    bodies = [json.dumps(o) for o in objects]
    out = subprocess.run(
        ["node", "-e", script], input=json.dumps(bodies), text=True, capture_output=True, check=True, timeout=20
    ).stdout
    assert [_jsjson.stringify_sorted(_jsjson.parse(b)) for b in bodies] == json.loads(out)


def test_finished_is_a_completed_deposit():
    body = raw("nowpayments/finished.json")
    nowpayments.verify(sig_of(body), body, VECTOR_SECRET)
    event = one_event(nowpayments.normalize(nowpayments.parse(body), received_at=RECEIVED))
    assert event == {
        "id": "5077125051:finished",
        "type": "payment.deposit_completed",
        "source": "nowpayments",
        "occurred_at": "2024-05-02T10:41:03+00:00",
        "client": "C-1001",
        "data": {
            "payment_id": "dep_42",
            "amount": "250",
            "currency": "USD",
            "method": "crypto",
            "provider": "nowpayments",
            "reference": "5077125051",
        },
    }


@pytest.mark.parametrize("status", ["failed", "expired", "cancelled"])
def test_failed_and_expired_are_failed_deposits(status):
    payload = {**load("nowpayments/finished.json"), "payment_status": status}
    event = one_event(nowpayments.normalize(payload, received_at=RECEIVED))
    assert (event["type"], event["data"]["reason_code"]) == ("payment.deposit_failed", status)
    assert event["id"] == f"5077125051:{status}"


def test_refunded_is_a_refund():
    payload = {**load("nowpayments/finished.json"), "payment_status": "refunded"}
    event = one_event(nowpayments.normalize(payload, received_at=RECEIVED))
    assert event["type"] == "payment.deposit_refunded"


def test_partially_paid_is_failed_with_what_arrived():
    event = one_event(nowpayments.normalize(load("nowpayments/partially_paid.json"), received_at=RECEIVED))
    assert event["type"] == "payment.deposit_failed"
    assert event["data"]["reason_code"] == "partially_paid"
    assert event["data"]["reason"] == "paid 0.0011 of 0.0018 BTC"
    assert (event["data"]["amount"], event["data"]["currency"]) == ("100.5", "EUR")


def test_in_flight_statuses_are_ignored():
    result = nowpayments.normalize(load("nowpayments/waiting.json"), received_at=RECEIVED)
    assert result.events == [] and "waiting" in result.ignored


def test_missing_updated_at_uses_the_receive_time():
    payload = load("nowpayments/finished.json")
    del payload["updated_at"]
    assert one_event(nowpayments.normalize(payload, received_at=RECEIVED))["occurred_at"] == (
        "2024-05-02T10:42:00+00:00"
    )


@pytest.mark.parametrize("order_id", [None, "no-separator", ":dep_1", "C-1:"])
def test_order_id_outside_the_convention_is_unknown_client(order_id):
    payload = {**load("nowpayments/finished.json"), "order_id": order_id}
    with pytest.raises(UnknownClient, match="order_id"):
        nowpayments.normalize(payload, received_at=RECEIVED)


def test_client_refs_may_contain_the_separator_before_the_last_one():
    assert nowpayments.client_and_payment("EU:C-1:dep_9") == ("EU:C-1", "dep_9")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"price_currency": "usdttrc20"}, "price_currency"),
        ({"price_amount": "lots"}, "price_amount: not a number"),
        ({"price_amount": -1}, "negative"),
        ({"updated_at": "soon"}, "updated_at"),
    ],
)
def test_unusable_ipns_say_what_is_wrong(change, message):
    payload = {**load("nowpayments/finished.json"), **change}
    with pytest.raises(MalformedPayload, match=message):
        nowpayments.normalize(payload, received_at=RECEIVED)


def test_parse_and_delivery_id():
    payload = nowpayments.parse(compact(load("nowpayments/finished.json")))
    assert nowpayments.delivery_id(payload) == "5077125051:finished"
    with pytest.raises(MalformedPayload, match="payment_status: is missing"):
        nowpayments.parse(b'{"payment_id": 1}')
