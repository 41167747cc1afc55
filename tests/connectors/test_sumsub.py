"""Sumsub: X-Payload-Digest verification, parsing and normalization.

Fixture provenance (see provider_formats.md §1.3): reviewed_green is the doc example
[DOC]; reviewed_red_final, created, pending and personal_info_changed are copies from
public repos [3P]; reviewed_red_final_nulls is a production-shaped capture [3P] with
its `type` corrected; reviewed_red_retry, on_hold, reset and pending_old_created_at
are [CONSTRUCTED] from documented field names (no verbatim sample exists).
"""

from __future__ import annotations

import hashlib
import json

import pytest

from connectors import MalformedPayload, SignatureError, UnknownClient, sumsub
from tests.connectors.helpers import compact, hex_hmac, load, one_event, raw

# provider_formats.md §7: computed test vector (made-up secret), exact bytes.
VECTOR_SECRET = "sumsub-test-secret"
VECTOR_BODY = (
    b'{"applicantId":"5cb56e8e0a975a35f333cb83","inspectionId":"5cb56e8e0a975a35f333cb84",'
    b'"correlationId":"req-a260b669-4f14-4bb5-a4c5-ac0218acb9a4","externalUserId":'
    b'"externalUserId","levelName":"basic-kyc-level","type":"applicantReviewed",'
    b'"reviewResult":{"reviewAnswer":"GREEN"},"reviewStatus":"completed",'
    b'"createdAtMs":"2020-02-21 13:23:19.321"}'
)
VECTOR_SHA256 = "635cc1c444549d0dd374541a7fb36b3aea103b6899c04446e0dcc8d30372edf8"
VECTOR_SHA512 = (
    "35e0cb2fc826d77a9f9f528e67217b2194c1ef1360a71b3b9f19d1421febe71bddd440fb6b62d0e1d"
    "080dc22049d14d008cb4fce876a83b8b8399af8313e92c5"
)


def headers(digest: str, alg: str = "HMAC_SHA256_HEX") -> dict:
    return {"X-Payload-Digest": digest, "X-Payload-Digest-Alg": alg}


@pytest.mark.parametrize("alg, digest", [("HMAC_SHA256_HEX", VECTOR_SHA256), ("HMAC_SHA512_HEX", VECTOR_SHA512)])
def test_reference_vectors_verify(alg, digest):
    sumsub.verify(headers(digest, alg), VECTOR_BODY, VECTOR_SECRET, None)


def test_sha1_legacy_algorithm_verifies():
    body = raw("sumsub/reviewed_red_final.json")
    sumsub.verify(headers(hex_hmac("k", body, hashlib.sha1), "HMAC_SHA1_HEX"), body, "k", None)


def test_headers_are_case_insensitive():
    lower = {"x-payload-digest": VECTOR_SHA256, "x-payload-digest-alg": "HMAC_SHA256_HEX"}
    sumsub.verify(lower, VECTOR_BODY, VECTOR_SECRET, None)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:10] + bytes([b[10] ^ 1]) + b[11:],  # one changed byte
        lambda b: json.dumps(json.loads(b), indent=1).encode(),  # re-serialised
        lambda b: compact(dict(sorted(json.loads(b).items()))),  # keys re-ordered
        lambda b: b + b"\n",  # trailing newline
    ],
)
def test_changed_body_fails(mutate):
    with pytest.raises(SignatureError, match="does not match"):
        sumsub.verify(headers(VECTOR_SHA256), mutate(VECTOR_BODY), VECTOR_SECRET, None)


@pytest.mark.parametrize(
    "given, reason",
    [
        (headers(VECTOR_SHA256, "HMAC_MD5_HEX"), "unknown X-Payload-Digest-Alg"),
        (headers(VECTOR_SHA256, "hmac_sha256_hex"), "unknown X-Payload-Digest-Alg"),
        ({"X-Payload-Digest-Alg": "HMAC_SHA256_HEX"}, "missing X-Payload-Digest"),
        ({"X-Payload-Digest": VECTOR_SHA256}, "missing X-Payload-Digest-Alg"),
        (headers(VECTOR_SHA512, "HMAC_SHA256_HEX"), "does not match"),
        (headers(""), "missing X-Payload-Digest"),
    ],
)
def test_bad_headers_fail(given, reason):
    with pytest.raises(SignatureError, match=reason):
        sumsub.verify(given, VECTOR_BODY, VECTOR_SECRET, None)


def test_wrong_or_empty_secret_fails():
    with pytest.raises(SignatureError):
        sumsub.verify(headers(VECTOR_SHA256), VECTOR_BODY, "other-secret", None)
    with pytest.raises(SignatureError, match="no webhook secret"):
        sumsub.verify(headers(hex_hmac("", VECTOR_BODY)), VECTOR_BODY, "", None)


def test_green_review_is_approved():
    payload = sumsub.parse(raw("sumsub/reviewed_green.json"))
    event = one_event(sumsub.normalize(payload))
    assert event == {
        "id": "req-a260b669-4f14-4bb5-a4c5-ac0218acb9a4",
        "type": "kyc.review_completed",
        "source": "sumsub",
        "occurred_at": "2020-02-21T13:23:19.321000+00:00",
        "client": "externalUserId",
        "data": {"provider": "sumsub", "result": "approved"},
    }


def test_red_final_is_rejected_with_labels_and_comments():
    event = one_event(sumsub.normalize(sumsub.parse(raw("sumsub/reviewed_red_final.json"))))
    assert event["data"]["result"] == "rejected"
    assert event["data"]["labels"] == ["UNSATISFACTORY_PHOTOS", "GRAPHIC_EDITOR", "FORGERY"]
    assert event["data"]["reason"] == "Suspected fraudulent account."
    assert event["data"]["comment"].startswith("We could not verify your profile.")


def test_red_retry_is_retry():
    event = one_event(sumsub.normalize(sumsub.parse(raw("sumsub/reviewed_red_retry.json"))))
    assert (event["client"], event["data"]["result"]) == ("C-1001", "retry")
    assert event["data"]["labels"] == ["UNSATISFACTORY_PHOTOS", "SCREENSHOTS"]


def test_production_shape_with_nulls_and_button_ids():
    payload = sumsub.parse(raw("sumsub/reviewed_red_final_nulls.json"))
    event = one_event(sumsub.normalize(payload))
    assert event["id"] == "0727edcd2fd452f64b7dd9f76516d815"
    assert event["data"]["labels"] == ["FRAUDULENT_PATTERNS", "CHECK_UNAVAILABLE"]
    assert "\n\nThe government database" in event["data"]["reason"]


def test_pending_and_on_hold():
    pending = one_event(sumsub.normalize(sumsub.parse(raw("sumsub/pending.json"))))
    assert (pending["type"], pending["client"]) == ("kyc.review_pending", "12672")
    # [UNCONFIRMED] payload: no reviewResult is assumed, so no reason is invented.
    hold = one_event(sumsub.normalize(sumsub.parse(raw("sumsub/on_hold.json"))))
    assert hold["type"] == "kyc.on_hold" and hold["data"] == {"provider": "sumsub"}


def test_on_hold_uses_client_comment_when_present():
    payload = load("sumsub/on_hold.json")
    payload["reviewResult"] = {"clientComment": "Waiting for UBO documents"}
    event = one_event(sumsub.normalize(payload))
    assert event["data"]["reason"] == "Waiting for UBO documents"


def test_old_created_at_is_used_when_created_at_ms_is_absent():
    event = one_event(sumsub.normalize(load("sumsub/pending_old_created_at.json")))
    assert event["occurred_at"] == "2019-11-05T10:11:12+00:00"


def test_created_at_ms_wins_over_created_at():
    event = one_event(sumsub.normalize(load("sumsub/personal_info_changed.json")))
    assert event["occurred_at"] == "2024-09-23T23:10:24.763000+00:00"
    assert (event["type"], event["data"]) == ("client.profile_updated", {"fields": {}})


def test_reset_asks_for_kyc_again():
    event = one_event(sumsub.normalize(load("sumsub/reset.json")))
    assert (event["type"], event["data"]) == (
        "kyc.reset",
        {"provider": "sumsub", "reason": "applicant reset at Sumsub: all documents were deactivated"},
    )


@pytest.mark.parametrize(
    "kind", ["applicantCreated", "applicantTagsChanged", "applicantActionPending", "videoIdentStatusChanged"]
)
def test_unused_types_are_ignored_with_a_reason(kind):
    payload = load("sumsub/created.json")
    payload["type"] = kind
    result = sumsub.normalize(payload)
    assert result.events == [] and result.ignored


def test_redelivery_gives_the_same_event_id():
    body = raw("sumsub/reviewed_red_retry.json")
    first = sumsub.normalize(sumsub.parse(body)).events[0]
    again = sumsub.normalize(sumsub.parse(body)).events[0]
    assert first["id"] == again["id"] == sumsub.delivery_id(sumsub.parse(body))


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"externalUserId": None}, UnknownClient, "externalUserId"),
        ({"externalUserId": "  "}, UnknownClient, "externalUserId"),
        ({"reviewResult": None}, MalformedPayload, "reviewResult: is null"),
        ({"reviewResult": {"reviewAnswer": "YELLOW"}}, MalformedPayload, "reviewAnswer"),
        ({"reviewResult": {"reviewAnswer": "RED", "reviewRejectType": "SOFT"}}, MalformedPayload, "reviewRejectType"),
        ({"reviewResult": {"reviewAnswer": "GREEN", "rejectLabels": "FORGERY"}}, MalformedPayload, "rejectLabels"),
        ({"createdAtMs": "yesterday"}, MalformedPayload, "createdAtMs"),
        ({"createdAtMs": None}, MalformedPayload, "createdAtMs: is missing"),
        ({"correlationId": 42}, MalformedPayload, "correlationId: expected a string"),
    ],
)
def test_unusable_payloads_say_what_is_wrong(change, error, message):
    payload = {**load("sumsub/reviewed_green.json"), **change}
    with pytest.raises(error, match=message):
        sumsub.normalize(payload)


@pytest.mark.parametrize(
    "body, message",
    [
        (b"[]", "expected a JSON object"),
        (b"{}", "type: is missing"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"type": 1}', "type: expected a string"),
    ],
)
def test_parse_rejects_bodies_with_a_reason(body, message):
    with pytest.raises(MalformedPayload, match=message):
        sumsub.parse(body)
