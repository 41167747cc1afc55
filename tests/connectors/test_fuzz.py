"""Fuzz every connector: random bytes and mutated payloads raise only declared errors.

Whatever comes in, verify/parse/normalize may only raise the connector's declared
error classes (never KeyError, TypeError, ...), and every event they do produce must
pass the canonical event schema.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import bank_camt054, mt5, nowpayments, onfido, stripe, sumsub
from connectors.mt5_feed import parse_export
from tests.connectors.helpers import canonical, compact, hex_hmac, load, raw

NOW = datetime(2024, 7, 26, tzinfo=timezone.utc)
SECRET = "fuzz-secret"
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
headers = st.dictionaries(
    st.sampled_from(
        ["X-Payload-Digest", "X-Payload-Digest-Alg", "X-SHA2-Signature", "Stripe-Signature", "x-nowpayments-sig"]
    )
    | st.text(max_size=10),
    st.text(max_size=80),
    max_size=4,
)


def paths(value, prefix=()):
    """Yield the path of every value inside a JSON document."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, prefix + (index,))


def mutate(data, document):
    """Replace or delete up to three values of `document` (a deep copy)."""
    document = json.loads(json.dumps(document))
    for _ in range(data.draw(st.integers(1, 3))):
        candidates = [p for p in paths(document) if p]
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates))
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_values)
    return document


def only(errors, call, *args, **kwargs):
    """Run `call`; a declared error is fine, anything else fails the test."""
    try:
        return call(*args, **kwargs)
    except errors:
        return None


WEBHOOKS = {
    sumsub: [
        "sumsub/reviewed_red_final_nulls.json",
        "sumsub/reviewed_red_retry.json",
        "sumsub/on_hold.json",
        "sumsub/personal_info_changed.json",
    ],
    stripe: [
        "stripe/payment_intent_succeeded.json",
        "stripe/payment_intent_payment_failed.json",
        "stripe/charge_refunded.json",
        "stripe/charge_dispute_created.json",
        "stripe/payout_paid.json",
    ],
    nowpayments: ["nowpayments/finished.json", "nowpayments/partially_paid.json"],
    onfido: ["onfido/check_completed.json", "onfido/check_started.json"],
}


def normalize(module, payload):
    if module is stripe:
        return stripe.normalize(payload, resolve_client=lambda _pid: "C-1")
    if module is nowpayments:
        return nowpayments.normalize(payload, received_at=NOW)
    if module is onfido:
        return onfido.normalize(payload, fetch=lambda _id: load("onfido/api_check_clear.json"))
    return module.normalize(payload)


def run_pipeline(module, body: bytes, given_headers: dict) -> None:
    """verify, then parse, delivery_id and normalize, as the webhook endpoint will."""
    only(module.ERRORS, module.verify, given_headers, body, SECRET, NOW)
    payload = only(module.ERRORS, module.parse, body)
    if payload is None:
        return
    only(module.ERRORS, module.delivery_id, payload)
    result = only(module.ERRORS, normalize, module, payload)
    if result is not None:
        canonical(result.events)


@pytest.mark.parametrize("module", list(WEBHOOKS), ids=lambda m: m.NAME)
@FUZZ
@given(body=st.binary(max_size=300), given_headers=headers)
def test_random_bytes(module, body, given_headers):
    run_pipeline(module, body, given_headers)


def signed_headers(module, body: bytes) -> dict:
    if module is sumsub:
        return {"X-Payload-Digest": hex_hmac(SECRET, body, hashlib.sha512), "X-Payload-Digest-Alg": "HMAC_SHA512_HEX"}
    if module is onfido:
        return {"X-SHA2-Signature": hex_hmac(SECRET, body)}
    if module is stripe:
        t = int(NOW.timestamp())
        return {"Stripe-Signature": f"t={t},v1={hex_hmac(SECRET, b'%d.' % t + body)}"}
    from connectors import _jsjson

    signed = _jsjson.stringify_sorted(_jsjson.parse(body.decode())).encode()
    return {"x-nowpayments-sig": hex_hmac(SECRET, signed, hashlib.sha512)}


@pytest.mark.parametrize(
    "module, fixture", [(m, f) for m, fs in WEBHOOKS.items() for f in fs], ids=lambda v: getattr(v, "NAME", v)
)
@FUZZ
@given(data=st.data())
def test_mutated_signed_payloads(module, fixture, data):
    body = compact(mutate(data, load(fixture)))
    given_headers = signed_headers(module, body)
    module.verify(given_headers, body, SECRET, NOW)  # correctly signed: must pass
    run_pipeline(module, body, given_headers)


@FUZZ
@given(data=st.data())
def test_onfido_with_a_mutated_check(data):
    check = mutate(data, load("onfido/api_check_clear.json"))
    result = only(onfido.ERRORS, onfido.normalize, load("onfido/check_completed.json"), fetch=lambda _id: check)
    if result is not None:
        canonical(result.events)


@FUZZ
@given(data=st.data())
def test_mt5_mutated_deals(data):
    lines = raw("mt5/deals_export.jsonl").decode().splitlines()[:9]
    records = [mutate(data, json.loads(line)) for line in lines]
    export = parse_export("\n".join(json.dumps(r) for r in records).encode())
    accounts = {d.login: mt5.Account("C-1", "USD") for d in export.deals}
    result = mt5.normalize_deals(export.deals, positions={}, accounts=accounts)
    canonical(result.events)


@FUZZ
@given(body=st.binary(max_size=400))
def test_mt5_random_export(body):
    only(mt5.ERRORS, parse_export, body)


@FUZZ
@given(body=st.binary(max_size=400))
def test_camt054_random_bytes(body):
    only(bank_camt054.ERRORS, bank_camt054.parse, body)


@FUZZ
@given(data=st.data())
def test_camt054_mutated_text(data):
    lines = raw("camt054/incoming_wires.xml").decode().splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(2, len(lines) - 1))
        lines[index] = data.draw(
            st.sampled_from(
                [
                    "",
                    '<Amt Ccy="EUR">-5</Amt>',
                    '<Amt Ccy="EU">1</Amt>',
                    "<Sts>BOOK</Sts>",
                    "<BookgDt><DtTm>not a time</DtTm></BookgDt>",
                    "<NtryDtls><TxDtls/></NtryDtls>",
                    '<Amt Ccy="EUR">1e99999</Amt>',
                ]
            )
        ) or data.draw(st.text(max_size=20))
    result = only(bank_camt054.ERRORS, bank_camt054.parse, "\n".join(lines).encode())
    if result is not None:
        for credit in result.credits:
            canonical([bank_camt054.deposit_event(credit, client="C-1", payment_id="p")])
