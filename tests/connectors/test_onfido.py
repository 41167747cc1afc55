"""Onfido: X-SHA2-Signature, and the check read back from a real local HTTP server.

check_completed.json is the public v3 example [3P O4, matches the spec field for
field]; check_started, report_completed and api_check_clear (the GET /checks/{id}
answer) are [CONSTRUCTED] from the spec's field names.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors import FetchFailed, MalformedPayload, SignatureError, UnknownClient, onfido
from tests.connectors.helpers import compact, hex_hmac, load, one_event, raw

VECTOR_SECRET = "onfido-test-webhook-token"
VECTOR_SIGNATURE = "6ff0304c7f4455d311f66a3b9da910ebad67cc36d2febebbe597e24db7079025"
CHECK_ID = "26411331-15e2-4a11-9ba0-b135d4131902"
API_TOKEN = "api_sandbox.test-token"


def test_reference_vector_verifies():
    body = raw("onfido/check_completed.json")
    onfido.verify({"X-SHA2-Signature": VECTOR_SIGNATURE}, body, VECTOR_SECRET, None)
    onfido.verify({"x-sha2-signature": VECTOR_SIGNATURE.upper()}, body, VECTOR_SECRET, None)


@pytest.mark.parametrize(
    "body",
    [
        raw("onfido/check_completed.json").replace(b"complete", b"completE", 1),
        json.dumps(load("onfido/check_completed.json"), indent=2).encode(),
        compact(load("onfido/check_completed.json")).replace(b",", b", "),
    ],
)
def test_changed_body_fails(body):
    with pytest.raises(SignatureError, match="does not match"):
        onfido.verify({"X-SHA2-Signature": VECTOR_SIGNATURE}, body, VECTOR_SECRET, None)


def test_missing_header_and_wrong_token_fail():
    body = raw("onfido/check_completed.json")
    with pytest.raises(SignatureError, match="missing X-SHA2-Signature"):
        onfido.verify({"X-Signature": VECTOR_SIGNATURE}, body, VECTOR_SECRET, None)
    with pytest.raises(SignatureError):
        onfido.verify({"X-SHA2-Signature": hex_hmac("other", body)}, body, VECTOR_SECRET, None)


class FakeOnfido(BaseHTTPRequestHandler):
    """GET /v3.6/checks/<id> as Onfido answers it, plus misbehaving ids."""

    checks: dict = {}
    seen: list = []

    def do_GET(self):  # noqa: N802 (http.server naming)
        self.seen.append((self.path, self.headers.get("Authorization")))
        check_id = self.path.rsplit("/", 1)[-1]
        if self.headers.get("Authorization") != f"Token token={API_TOKEN}":
            return self._send(401, b'{"error":{"type":"authorization_error"}}')
        if check_id == "slow":
            time.sleep(1.0)
        if check_id == "busy":
            return self._send(503, b"unavailable")
        if check_id == "broken":
            return self._send(200, b"<html>oops</html>")
        check = self.checks.get(check_id)
        if check is None:
            return self._send(404, b'{"error":{"type":"resource_not_found"}}')
        return self._send(200, json.dumps(check).encode())

    def _send(self, status: int, body: bytes):
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def log_message(self, *args):
        pass  # keep the test output quiet


@pytest.fixture(scope="module")
def running_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOnfido)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server(running_server):
    FakeOnfido.checks = {CHECK_ID: load("onfido/api_check_clear.json")}
    FakeOnfido.seen = []
    return running_server


def fetcher(base_url: str, token: str = API_TOKEN, timeout: float = 2.0):
    return lambda check_id: onfido.fetch_check(check_id, base_url=base_url, token=token, timeout=timeout)


def test_fetch_check_reads_the_check_with_the_api_token(server):
    check = onfido.fetch_check(CHECK_ID, base_url=server + "/", token=API_TOKEN)
    assert check["result"] == "clear"
    assert FakeOnfido.seen == [(f"/v3.6/checks/{CHECK_ID}", f"Token token={API_TOKEN}")]


def test_check_id_cannot_change_the_path(server):
    with pytest.raises(FetchFailed, match="HTTP 404"):
        onfido.fetch_check("../../admin?x=1", base_url=server, token=API_TOKEN)
    assert FakeOnfido.seen[0][0] == "/v3.6/checks/..%2F..%2Fadmin%3Fx%3D1"


@pytest.mark.parametrize(
    "check_id, token, message, retryable",
    [
        ("busy", API_TOKEN, "HTTP 503", True),
        ("unknown-check", API_TOKEN, "HTTP 404", False),
        (CHECK_ID, "wrong-token", "HTTP 401", False),
        ("broken", API_TOKEN, "not JSON", True),
        ("slow", API_TOKEN, "timed out", True),
    ],
)
def test_fetch_failures_raise_fetch_failed(server, check_id, token, message, retryable):
    with pytest.raises(FetchFailed, match=message) as caught:
        onfido.fetch_check(check_id, base_url=server, token=token, timeout=0.3)
    assert caught.value.retryable is retryable


def test_unreachable_server_raises_fetch_failed():
    with pytest.raises(FetchFailed, match="GET check"):
        onfido.fetch_check(CHECK_ID, base_url="http://127.0.0.1:9", token=API_TOKEN, timeout=1)


def test_completed_clear_check_is_approved(server):
    envelope = onfido.parse(raw("onfido/check_completed.json"))
    assert onfido.check_to_fetch(envelope) == CHECK_ID
    event = one_event(onfido.normalize(envelope, fetch=fetcher(server)))
    assert event == {
        "id": f"check.completed:{CHECK_ID}:2021-02-24T20:57:58Z",
        "type": "kyc.review_completed",
        "source": "onfido",
        "occurred_at": "2021-02-24T20:57:58+00:00",
        "client": "C-1001",
        "data": {"provider": "onfido", "result": "approved"},
    }


def test_consider_puts_the_review_on_hold(server):
    FakeOnfido.checks[CHECK_ID]["result"] = "consider"
    event = one_event(onfido.normalize(load("onfido/check_completed.json"), fetch=fetcher(server)))
    assert event["type"] == "kyc.on_hold" and "consider" in event["data"]["reason"]


def test_a_link_is_used_when_the_check_has_no_client_tag(server):
    seen = []
    FakeOnfido.checks[CHECK_ID]["tags"] = ["vip"]
    event = one_event(
        onfido.normalize(
            load("onfido/check_completed.json"),
            fetch=fetcher(server),
            resolve_client=lambda applicant: seen.append(applicant) or "C-2002",
        )
    )
    assert seen == ["61f659cb-c90b-4067-808a-6136b5c01351"] and event["client"] == "C-2002"


def test_a_link_that_agrees_with_the_tag_is_fine_and_one_that_does_not_is_refused(server):
    envelope = load("onfido/check_completed.json")
    agree = one_event(onfido.normalize(envelope, fetch=fetcher(server), resolve_client=lambda _a: "C-1001"))
    assert agree["client"] == "C-1001"
    with pytest.raises(UnknownClient, match="linked to client C-2002 but the check's tag names C-1001"):
        onfido.normalize(envelope, fetch=fetcher(server), resolve_client=lambda _a: "C-2002")
    assert onfido.tag_link(FakeOnfido.checks[CHECK_ID]) == ("61f659cb-c90b-4067-808a-6136b5c01351", "C-1001")


def test_no_client_is_unknown_client(server):
    FakeOnfido.checks[CHECK_ID]["tags"] = ["vip"]
    with pytest.raises(UnknownClient, match="client:<ref>"):
        onfido.normalize(load("onfido/check_completed.json"), fetch=fetcher(server))


def test_started_check_is_a_pending_review(server):
    event = one_event(onfido.normalize(load("onfido/check_started.json"), fetch=fetcher(server)))
    assert (event["type"], event["occurred_at"]) == ("kyc.review_pending", "2021-02-24T20:55:00+00:00")


def test_check_no_longer_complete_is_ignored(server):
    FakeOnfido.checks[CHECK_ID].update(status="reopened", result=None)
    result = onfido.normalize(load("onfido/check_completed.json"), fetch=fetcher(server))
    assert result.events == [] and "reopened" in result.ignored


def test_fetch_failure_propagates_so_the_delivery_is_kept(server):
    with pytest.raises(FetchFailed):
        onfido.normalize(load("onfido/check_completed.json"), fetch=fetcher(server, token="revoked"))
    with pytest.raises(FetchFailed, match="no fetcher"):
        onfido.normalize(load("onfido/check_completed.json"))


def test_report_and_other_actions_are_ignored_without_a_fetch():
    result = onfido.normalize(load("onfido/report_completed.json"), fetch=None)
    assert result.events == [] and result.ignored.startswith("report.completed")


def test_unexpected_check_result_is_malformed():
    check = {**load("onfido/api_check_clear.json"), "result": "maybe"}
    with pytest.raises(MalformedPayload, match="check.result"):
        onfido.normalize(load("onfido/check_completed.json"), fetch=lambda _id: check)


def test_redelivery_and_reopened_completion_ids():
    first = load("onfido/check_completed.json")
    assert onfido.delivery_id(first) == onfido.delivery_id(load("onfido/check_completed.json"))
    later = load("onfido/check_completed.json")
    later["payload"]["object"]["completed_at_iso8601"] = "2021-03-01T10:00:00Z"
    assert onfido.delivery_id(later) != onfido.delivery_id(first)


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"resource_type":"check"}', "payload: is missing"),
        (b'{"payload":{"resource_type":"check","action":"check.completed"}}', "object: is missing"),
        (
            b'{"payload":{"resource_type":"check","action":"check.completed","object":{"id":7}}}',
            "payload.object.id: expected a string",
        ),
    ],
)
def test_parse_says_what_is_wrong(body, message):
    with pytest.raises(MalformedPayload, match=message):
        onfido.parse(body)
