"""`fxcrm connectors replay|deliveries|retry|fetch`: files through the live-traffic path."""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.events.models import Event
from engine.payments.models import Deposit
from engine.tasks.models import Task
from tests.connectors import helpers as fx
from tests.helpers import event, registered
from tests.web.test_webhooks import FakeOnfido


@pytest.fixture(params=["sqlite"])
def backend(request):
    return request.param


def write(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def ingest(runner, tmp_path, *events) -> None:
    path = write(tmp_path, "events.jsonl", "\n".join(json.dumps(e) for e in events) + "\n")
    result = runner.invoke(["events", "ingest", path])
    assert result.exit_code == 0, result.output


def stored(database, **where) -> list[Event]:
    with unit_of_work(database) as s:
        stmt = select(Event).order_by(Event.seq)
        for key, value in where.items():
            stmt = stmt.where(getattr(Event, key) == value)
        return list(s.scalars(stmt))


def compact_line(name: str) -> bytes:
    return fx.compact(fx.load(name))


def test_sumsub_lines_replay_with_a_summary_and_line_numbers(runner, database, tmp_path):
    lines = [
        compact_line("sumsub/reviewed_green.json"),
        compact_line("sumsub/reviewed_red_final.json"),
        compact_line("sumsub/reviewed_red_retry.json"),
        compact_line("sumsub/created.json"),
        b'{"correlationId": "x"}',
        compact_line("sumsub/reviewed_green.json"),
    ]
    path = write(tmp_path, "sumsub.jsonl", b"\n".join(lines) + b"\n")
    result = runner.invoke(["connectors", "replay", "sumsub", path])
    assert result.exit_code == 1  # one line was rejected
    assert result.output.splitlines() == [
        "accepted: 3, duplicate: 1, ignored: 1, rejected: 1",
        f"{path}: line 5: type: is missing",
    ]
    assert [e.type for e in stored(database, source="sumsub")] == ["kyc.review_completed"] * 3


def test_clean_replay_exits_0(runner, tmp_path):
    path = write(tmp_path, "stripe.jsonl", compact_line("stripe/payment_intent_succeeded.json"))
    result = runner.invoke(["connectors", "replay", "stripe", path])
    assert (result.exit_code, result.output.strip()) == (0, "accepted: 1")


MT5_ACCOUNT = event(
    "account.created",
    "C-1001",
    "2026-01-01T00:00:00Z",
    source="crm",
    account_id="1011",
    platform="mt5",
    account_type="standard",
    currency="USD",
    leverage=100,
)


def test_mt5_export_replay(runner, database, tmp_path):
    ingest(runner, tmp_path, registered("C-1001", "2026-01-01T00:00:00Z"), MT5_ACCOUNT)
    path = write(tmp_path, "deals.jsonl", fx.raw("mt5/deals_export.jsonl"))
    result = runner.invoke(["connectors", "replay", "mt5", path, "--server-offset", "2"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "accepted: 8, ignored: 1, rejected: 2, unmatched: 1",
        f"{path}: line 10: not JSON",
        f"{path}: line 11.Login: is missing",
        f"{path}: deal 40: the opening of position 999 is not known",
    ]
    trades = stored(database, source="mt5")
    assert [e.event_id for e in trades] == [
        "deal:3",
        "deal:10",
        "deal:20",
        "deal:21",
        "deal:21:in",
        "deal:11",
        "deal:12",
        "deal:30",
    ]
    assert trades[0].occurred_at.isoformat() == "2026-02-23T13:06:42.353000+00:00"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_mt5_close_in_a_later_file_finds_its_opening_in_the_store(runner, database, tmp_path):
    ingest(runner, tmp_path, registered("C-1001", "2026-01-01T00:00:00Z"), MT5_ACCOUNT)
    first = write(tmp_path, "first.jsonl", fx.raw("mt5/deals_export.jsonl"))
    runner.invoke(["connectors", "replay", "mt5", first])
    close = {
        **json.loads(fx.raw("mt5/deals_export.jsonl").splitlines()[5]),
        "Deal": 50,
        "Action": 1,
        "Entry": 1,
        "Volume": 200,
        "VolumeExt": 2000000,
        "Profit": 7.5,
        "Time": 1771870000,
        "TimeMsc": 1771870000000,
    }
    second = write(tmp_path, "second.jsonl", json.dumps(close))
    result = runner.invoke(["connectors", "replay", "mt5", second])
    assert (result.exit_code, result.output.strip()) == (0, "accepted: 1")
    (closed,) = stored(database, event_id="deal:50")
    reopened = stored(database, event_id="deal:21:in")[0]
    assert (closed.type, closed.data["side"], closed.data["volume_lots"]) == ("trade.closed", "buy", "0.02")
    assert closed.data["open_time"] == reopened.data["open_time"]


def wire_request(ref: str, at: str, payment_id: str, amount: str, reference: str) -> dict:
    """The CRM's request for a bank-wire deposit in EUR that names `reference` for the transfer."""
    return event(
        "payment.deposit_requested",
        ref,
        at,
        source="crm",
        payment_id=payment_id,
        amount=amount,
        reference=reference,
        method="bank_wire",
        provider="bank",
        currency="EUR",
    )


def wire_requests():
    return [
        registered("C-1001", "2024-07-01T00:00:00Z"),
        registered("C-1002", "2024-07-01T00:00:00Z"),
        wire_request("C-1001", "2024-07-31T09:00:00Z", "dep_7Q2K9", "1500.00", "dep-7q2k9"),
        wire_request("C-1002", "2024-07-31T09:00:00Z", "dep_rf18", "250.50", "RF18DEP4K8P1"),
    ]


def test_camt054_credits_complete_their_requested_deposits(runner, database, tmp_path):
    ingest(runner, tmp_path, *wire_requests())
    path = write(tmp_path, "wires.xml", fx.raw("camt054/incoming_wires.xml"))
    result = runner.invoke(["connectors", "replay", "bank_camt054", path])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "accepted: 2, rejected: 2, skipped: 2, unmatched: 2"
    assert f"{path}: line 38: Amt: Amt@Ccy: is missing" in lines
    assert f"{path}: line 57: no requested deposit matches reference 'DEP-AAA111' 100.00 EUR" in lines
    with unit_of_work(database) as s:
        statuses = dict(s.execute(select(Deposit.payment_id, Deposit.status)).all())
    assert statuses == {"dep_7Q2K9": "completed", "dep_rf18": "completed"}
    again = runner.invoke(["connectors", "replay", "bank_camt054", path])
    assert again.output.splitlines()[0] == "duplicate: 2, rejected: 2, skipped: 2, unmatched: 2"


def test_malformed_file_is_a_user_error(runner, tmp_path):
    path = write(tmp_path, "bad.xml", b"<Document>")
    result = runner.invoke(["connectors", "replay", "bank_camt054", path])
    assert result.exit_code == 1 and "not well-formed" in result.output


def test_unmatched_dispute_is_listed_and_retried_once_the_deposit_is_known(runner, database, tmp_path):
    dispute = write(tmp_path, "dispute.jsonl", compact_line("stripe/charge_dispute_created.json"))
    assert runner.invoke(["connectors", "replay", "stripe", dispute]).exit_code == 0
    listed = json.loads(runner.invoke(["connectors", "deliveries", "--json"]).output)
    assert [(d["status"], d["delivery_id"]) for d in listed] == [("unmatched", "evt_1PgdZ8B7WZ01zgkWa9s8d7f6")]
    paid = write(tmp_path, "paid.jsonl", compact_line("stripe/payment_intent_succeeded.json"))
    runner.invoke(["connectors", "replay", "stripe", paid])
    result = runner.invoke(["connectors", "retry", str(listed[0]["id"])])
    assert result.output.strip() == "accepted"
    assert json.loads(runner.invoke(["connectors", "deliveries", "--json"]).output) == []
    assert stored(database, event_id="evt_1PgdZ8B7WZ01zgkWa9s8d7f6")[0].client_ref == "C-1001"
    with unit_of_work(database) as s:  # the unmatched delivery's finance task is closed
        (task,) = s.scalars(select(Task)).all()
    assert (task.status, task.resolution) == ("done", "retried with `fxcrm connectors retry`: accepted")


def test_onfido_replay_reads_the_check_back(runner, database, tmp_path, monkeypatch):
    FakeOnfido.answer = (200, fx.load("onfido/api_check_clear.json"))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOnfido)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("FXCRM_ONFIDO_API_TOKEN", "api_sandbox.token")
    monkeypatch.setenv("FXCRM_ONFIDO_BASE_URL", f"http://127.0.0.1:{httpd.server_address[1]}")
    try:
        path = write(tmp_path, "onfido.jsonl", fx.raw("onfido/check_completed.json"))
        result = runner.invoke(["connectors", "replay", "onfido", path])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert (result.exit_code, result.output.strip()) == (0, "fetched: 1, pending: 1")
    (review,) = stored(database, source="onfido")
    assert (review.type, review.client_ref) == ("kyc.review_completed", "C-1001")
    done = json.loads(runner.invoke(["connectors", "deliveries", "--status", "done", "--json"]).output)
    assert len(done) == 1 and done[0]["event_ids"] == [review.event_id]
