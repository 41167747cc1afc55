"""POST /webhooks/<provider>: signatures, answers, stored events and delivery records.

Bodies are the connector fixtures (provenance in tests/connectors/test_*.py); the
signatures are computed here with test secrets, the Sumsub, Onfido and NOWPayments
ones also against the reference's §7 vectors.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from engine.db import unit_of_work
from engine.deliveries import fetches, intake
from engine.deliveries.models import Delivery
from engine.events import store
from engine.events.models import Event
from engine.values import clock, utcnow
from tests.connectors import helpers as fx
from tests.connectors.test_nowpayments import VECTOR_BODY as NP_BODY, VECTOR_SIG as NP_SIG
from tests.connectors.test_sumsub import VECTOR_BODY as SUMSUB_BODY, VECTOR_SHA256

SECRETS = {
    "SUMSUB_SECRET_KEY": "sumsub-test-secret",
    "ONFIDO_WEBHOOK_TOKEN": "onfido-test-webhook-token",
    "STRIPE_WEBHOOK_SECRET": "whsec_test_secret",
    "NOWPAYMENTS_IPN_SECRET": "np-test-ipn-secret",
    "ONFIDO_API_TOKEN": "api_sandbox.token",
    # Never the real Onfido from tests: a closed local port unless a test sets one.
    "ONFIDO_BASE_URL": "http://127.0.0.1:9",
}


BOTH_BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgres"])


@pytest.fixture(params=["sqlite"])
def backend(request):
    """SQLite by default here; tests whose SQL differs by dialect run on both."""
    return request.param


def app_with(database, **secrets):
    """Return a test client and database of an app with these connector secrets."""
    from web import create_app
    from engine.db import get_database

    cfg = database.config.with_overrides(secrets=secrets)
    app = create_app({"TESTING": True, "FXCRM_CONFIG": cfg, "TICKER": False})
    # The app's Database replaces the fixture's one: close the fixture's connections.
    database.dispose()
    return app.test_client(), get_database(cfg)


@pytest.fixture
def hooks(database):
    """The app with connector secrets configured, and its database."""
    return app_with(database, **SECRETS)


def post(client, provider: str, body: bytes, headers: dict):
    return client.post(f"/webhooks/{provider}", data=body, headers=headers, content_type="application/json")


def events(db) -> list[Event]:
    with unit_of_work(db) as s:
        return list(s.scalars(select(Event).order_by(Event.seq)))


def deliveries(db) -> list[Delivery]:
    with unit_of_work(db) as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def sumsub_headers(body: bytes, alg=hashlib.sha256, name="HMAC_SHA256_HEX") -> dict:
    return {"X-Payload-Digest": fx.hex_hmac(SECRETS["SUMSUB_SECRET_KEY"], body, alg), "X-Payload-Digest-Alg": name}


def stripe_headers(body: bytes, t: int | None = None) -> dict:
    t = int(utcnow().timestamp()) if t is None else t
    sig = fx.hex_hmac(SECRETS["STRIPE_WEBHOOK_SECRET"], b"%d." % t + body)
    return {"Stripe-Signature": f"t={t},v1={sig}"}


def test_signed_sumsub_review_is_stored_once(hooks):
    client, db = hooks
    headers = {"X-Payload-Digest": VECTOR_SHA256, "X-Payload-Digest-Alg": "HMAC_SHA256_HEX"}
    first = post(client, "sumsub", SUMSUB_BODY, headers)
    assert (first.status_code, first.json) == (200, {"status": "accepted", "events": 1})
    again = post(client, "sumsub", SUMSUB_BODY, headers)
    assert (again.status_code, again.json["status"]) == (200, "duplicate")
    (event,) = events(db)
    assert (event.source, event.event_id, event.type, event.client_ref) == (
        "sumsub",
        "req-a260b669-4f14-4bb5-a4c5-ac0218acb9a4",
        "kyc.review_completed",
        "externalUserId",
    )
    assert event.status == "processed"  # the pipeline ran after the commit
    assert deliveries(db) == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Payload-Digest": VECTOR_SHA256},
        {"X-Payload-Digest": VECTOR_SHA256, "X-Payload-Digest-Alg": "HMAC_MD5_HEX"},
        {"X-Payload-Digest": "0" * 64, "X-Payload-Digest-Alg": "HMAC_SHA256_HEX"},
    ],
)
def test_bad_or_missing_signature_is_401_and_recorded_without_the_body(hooks, headers):
    client, db = hooks
    response = post(client, "sumsub", SUMSUB_BODY, headers)
    assert response.status_code == 401 and response.json["status"] == "rejected"
    assert events(db) == []
    (row,) = deliveries(db)
    assert (row.provider, row.status, row.http_status, row.body) == ("sumsub", "rejected", 401, None)
    assert row.body_sha256 == hashlib.sha256(SUMSUB_BODY).hexdigest() and row.reason


def test_malformed_signed_body_is_400_and_kept_with_the_reason(hooks):
    client, db = hooks
    body = b'{"correlationId":"c-1","createdAtMs":"2024-01-01 00:00:00.000"}'
    response = post(client, "sumsub", body, sumsub_headers(body))
    assert response.status_code == 400 and response.json["reason"] == "type: is missing"
    (row,) = deliveries(db)
    assert (row.status, row.http_status, row.reason, row.body) == ("rejected", 400, "type: is missing", body.decode())


@BOTH_BACKENDS
def test_unused_type_is_200_ignored_and_recorded_once(hooks):
    client, db = hooks
    body = fx.raw("sumsub/created.json")
    for _ in range(2):
        response = post(client, "sumsub", body, sumsub_headers(body, hashlib.sha1, "HMAC_SHA1_HEX"))
        assert (response.status_code, response.json["status"]) == (200, "ignored")
    (row,) = deliveries(db)
    assert (row.status, row.delivery_id) == ("ignored", "req-63f92830-4d68-4eee-98d5-875d53a12258")
    assert events(db) == []


def test_stripe_reference_vector_with_a_frozen_clock_and_expired_without(hooks):
    client, db = hooks
    body = fx.compact(fx.load("stripe/plan_created.json"))
    header = {"Stripe-Signature": "t=1492774577,v1=75a235f97f6c535f9cd27f07cba3408196c76b3c7cb4208a5a12a95c9e97ea83"}
    assert post(client, "stripe", body, header).status_code == 401  # years old
    clock.freeze(datetime.fromtimestamp(1492774577 + 60, timezone.utc))
    response = post(client, "stripe", body, header)
    assert (response.status_code, response.json["status"]) == (200, "ignored")


def test_stripe_deposit_then_dispute_found_through_the_deposit(hooks):
    client, db = hooks
    paid = fx.raw("stripe/payment_intent_succeeded.json")
    assert post(client, "stripe", paid, stripe_headers(paid)).json["status"] == "accepted"
    dispute = fx.raw("stripe/charge_dispute_created.json")
    response = post(client, "stripe", dispute, stripe_headers(dispute))
    assert (response.status_code, response.json["status"]) == (200, "accepted")
    last = events(db)[-1]
    assert (last.type, last.client_ref) == ("payment.deposit_charged_back", "C-1001")


def test_stripe_dispute_of_an_unknown_payment_is_kept_unmatched(hooks):
    client, db = hooks
    dispute = fx.raw("stripe/charge_dispute_created.json")
    response = post(client, "stripe", dispute, stripe_headers(dispute))
    assert (response.status_code, response.json["status"]) == (202, "unmatched")
    (row,) = deliveries(db)
    assert row.status == "unmatched" and row.body == dispute.decode() and events(db) == []


def test_nowpayments_reference_vector_and_order_id_convention(hooks):
    client, db = hooks
    response = post(client, "nowpayments", NP_BODY, {"x-nowpayments-sig": NP_SIG})
    # The illustrative order_id "RGDBP-21314" names no client: authentic, kept, 2xx.
    assert (response.status_code, response.json["status"]) == (202, "unmatched")
    body = fx.raw("nowpayments/finished.json")
    signed = {"x-nowpayments-sig": _np_sig(body)}
    assert post(client, "nowpayments", body, signed).json == {"status": "accepted", "events": 1}
    assert [(e.type, e.client_ref) for e in events(db)] == [("payment.deposit_completed", "C-1001")]


def _np_sig(body: bytes) -> str:
    from connectors import _jsjson

    signed = _jsjson.stringify_sorted(_jsjson.parse(body.decode())).encode()
    return fx.hex_hmac(SECRETS["NOWPAYMENTS_IPN_SECRET"], signed, hashlib.sha512)


def test_unknown_provider_and_oversized_body(hooks):
    client, _db = hooks
    assert post(client, "paypal", b"{}", {}).status_code == 404
    big = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    assert post(client, "sumsub", big, sumsub_headers(big)).status_code == 413


def test_missing_secret_refuses_everything(database):
    client, _db = app_with(database)
    response = post(
        client, "sumsub", SUMSUB_BODY, {"X-Payload-Digest": VECTOR_SHA256, "X-Payload-Digest-Alg": "HMAC_SHA256_HEX"}
    )
    assert response.status_code == 401 and "no webhook secret" in response.json["reason"]


class FakeOnfido(BaseHTTPRequestHandler):
    answer: tuple[int, dict] = (200, {})

    def do_GET(self):  # noqa: N802
        status, check = self.answer
        body = json.dumps(check).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def onfido_api():
    FakeOnfido.answer = (200, fx.load("onfido/api_check_clear.json"))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOnfido)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def onfido_app(database, base_url):
    return app_with(database, **{**SECRETS, "ONFIDO_BASE_URL": base_url})


def wait_for(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_onfido_answers_at_once_and_stores_the_result_after_the_read_back(database, onfido_api):
    client, db = onfido_app(database, onfido_api)
    body = fx.raw("onfido/check_completed.json")
    headers = {"X-SHA2-Signature": "6ff0304c7f4455d311f66a3b9da910ebad67cc36d2febebbe597e24db7079025"}
    response = post(client, "onfido", body, headers)
    assert (response.status_code, response.json["status"]) == (202, "pending")
    assert wait_for(lambda: [r.status for r in deliveries(db)] == ["done"])
    (event,) = events(db)
    assert (event.type, event.client_ref, event.data["result"]) == ("kyc.review_completed", "C-1001", "approved")
    assert post(client, "onfido", body, headers).json["status"] == "duplicate"


@BOTH_BACKENDS
def test_onfido_read_back_failure_keeps_the_delivery_and_retries(database, onfido_api):
    FakeOnfido.answer = (503, {})
    _client, db = onfido_app(database, onfido_api)
    now = utcnow()
    outcome = intake.accept(db, provider="onfido", body=fx.raw("onfido/check_completed.json"), now=now)
    assert outcome.status == "pending"
    report = fetches.run_due(db, now=now)
    assert (report.retrying, report.done) == (1, 0)
    (row,) = deliveries(db)
    assert (row.status, row.attempts, row.reason) == (
        "pending",
        1,
        f"GET check 26411331-15e2-4a11-9ba0-b135d4131902: HTTP 503",
    )
    assert row.next_attempt_at > now and events(db) == []
    FakeOnfido.answer = (200, fx.load("onfido/api_check_clear.json"))
    assert fetches.run_due(db, now=row.next_attempt_at).done == 1
    assert [r.status for r in deliveries(db)] == ["done"] and len(events(db)) == 1


def test_onfido_without_api_token_is_failed_not_dropped(hooks):
    _client, db = hooks
    cfg = db.config.with_overrides(secrets={k: v for k, v in SECRETS.items() if k != "ONFIDO_API_TOKEN"})
    from engine.db import get_database

    db.dispose()
    db = get_database(cfg)
    intake.accept(db, provider="onfido", body=fx.raw("onfido/check_completed.json"), now=utcnow())
    assert fetches.run_due(db).failed == 1
    (row,) = deliveries(db)
    assert (row.status, row.reason) == ("failed", "FXCRM_ONFIDO_API_TOKEN is not set")
    assert row.body is not None


def test_store_counts_one_event_per_delivery(hooks):
    client, db = hooks
    body = fx.raw("stripe/payment_intent_payment_failed.json")
    for _ in range(3):
        post(client, "stripe", body, stripe_headers(body))
    with unit_of_work(db) as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 1
        assert store.get(s, source="stripe", event_id="evt_3PgbB2B7WZ01zgkW9f8e7d6c")
