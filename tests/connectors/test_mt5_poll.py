"""The MT5 poller against a local HTTP gateway: cursor, events and failures in one unit of work."""
from __future__ import annotations

import json
import threading
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from engine.accounts import service as accounts_service
from engine.db import unit_of_work
from engine.deliveries import mt5_poll
from engine.deliveries.models import Delivery, Mt5Cursor
from engine.events import store
from engine.events.models import Event
from tests.connectors import helpers as fx

DEALS = {d["Deal"]: d for d in (json.loads(line) for line in
                                fx.raw("mt5/deals_export.jsonl").splitlines()[:9])}
TOKEN = "gateway-token"


class Gateway:
    """A local HTTP server answering /api/deal/get_page like an MT5 Web API gateway."""

    def __init__(self):
        self.deals: list[dict] = []
        self.fail: int | None = None
        self.ignore_range = False
        self.requests: list[tuple[str, dict, str | None]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = {k: int(v[0]) for k, v in urllib.parse.parse_qs(url.query).items()}
                gateway.requests.append((url.path, query, self.headers.get("Authorization")))
                if gateway.fail or url.path != "/api/deal/get_page":
                    self._answer(gateway.fail or 404, b'{"retcode": "1 Error"}')
                    return
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._answer(401, b"{}")
                    return
                found = [d for d in gateway.deals if gateway.ignore_range
                         or query["from"] <= d["Time"] <= query["to"]]
                page = found[query["offset"]:query["offset"] + query["total"]]
                self._answer(200, json.dumps({"retcode": "0 Done", "answer": page}).encode())

            def _answer(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, *tickets: int) -> None:
        self.deals.extend(DEALS[t] for t in tickets)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    server = Gateway()
    yield server
    server.close()


@pytest.fixture
def mt5_account(database):
    with unit_of_work(database) as session:
        store.ensure_clients(session, {"C-1001"})
        accounts_service.open_account(
            session, client_ref="C-1001", account_id="1011", platform="mt5",
            account_type="standard", currency="USD", leverage=100,
            opened_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    return database


def poll(database, gateway, **kwargs):
    return mt5_poll.poll_once(database, base_url=gateway.url, server="live-1",
                              fetch=mt5_poll.http_fetch, token=TOKEN, **kwargs)


def event_ids(database) -> list[str]:
    with unit_of_work(database) as s:
        return list(s.scalars(select(Event.event_id).where(Event.source == "mt5")
                              .order_by(Event.seq)))


def cursor(database) -> tuple[int, int] | None:
    with unit_of_work(database) as s:
        row = s.get(Mt5Cursor, "live-1")
        return (row.last_time_msc, row.last_deal) if row else None


def test_first_poll_stores_events_and_advances_the_cursor(mt5_account, gateway):
    database = mt5_account
    gateway.add(3, 10, 20, 21)
    report = poll(database, gateway)
    assert (report.fetched, report.new, report.accepted, report.duplicate) == (4, 4, 5, 0)
    assert event_ids(database) == ["deal:3", "deal:10", "deal:20", "deal:21", "deal:21:in"]
    assert cursor(database) == (1771860120120, 21)
    assert report.cursor == "1771860120120:21"
    path, query, auth = gateway.requests[0]
    assert (path, query["from"], query["offset"], auth) == (
        "/api/deal/get_page", 0, 0, f"Bearer {TOKEN}")


def test_a_poll_with_no_new_deals_stores_nothing(mt5_account, gateway):
    database = mt5_account
    gateway.add(3, 10, 20, 21)
    poll(database, gateway)
    report = poll(database, gateway)
    # The range reaches back by the overlap: deal 21 comes again and is dropped.
    assert gateway.requests[-1][1]["from"] == 1771860120 - 60
    assert (report.fetched, report.new, report.accepted) == (2, 0, 0)
    assert len(event_ids(database)) == 5
    assert cursor(database) == (1771860120120, 21)


def test_new_deals_after_the_cursor_are_picked_up(mt5_account, gateway):
    database = mt5_account
    gateway.add(3, 10, 20, 21)
    poll(database, gateway)
    gateway.add(11, 12, 30, 31, 40)  # closes of position 10, opened in the first poll
    report = poll(database, gateway)
    assert (report.new, report.accepted, report.ignored, report.unmatched) == (5, 3, 1, 1)
    assert sorted(event_ids(database)[5:]) == ["deal:11", "deal:12", "deal:30"]
    assert cursor(database) == (1771869200120, 40)
    with unit_of_work(database) as s:
        closed = store.get(s, source="mt5", event_id="deal:12")
        kept = s.scalars(select(Delivery)).all()
    assert (closed.type, closed.data["volume_lots"], closed.data["profit"]) == (
        "trade.closed", "0.6", "20.1")
    assert [(d.provider, d.status, d.delivery_id) for d in kept] == [
        ("mt5", "unmatched", "deal:40")]
    assert json.loads(kept[0].body)["PositionID"] == 999


def test_pages_are_followed(mt5_account, gateway):
    database = mt5_account
    gateway.add(3, 10, 20, 21, 11)
    report = poll(database, gateway, page_size=2)
    assert (report.fetched, report.accepted) == (5, 6)
    assert [q["offset"] for _p, q, _a in gateway.requests] == [0, 2, 4]


@pytest.mark.parametrize("status", [500, 401])
def test_a_gateway_error_leaves_cursor_and_events_unchanged(mt5_account, gateway, status):
    database = mt5_account
    gateway.add(3, 10)
    poll(database, gateway)
    before = (cursor(database), event_ids(database))
    gateway.add(20, 21)
    gateway.fail = status
    with pytest.raises(mt5_poll.FetchError, match=f"HTTP {status}"):
        poll(database, gateway)
    assert (cursor(database), event_ids(database)) == before
    gateway.fail = None
    assert poll(database, gateway).accepted == 3


def test_an_unreachable_gateway_leaves_no_cursor(mt5_account, gateway):
    database = mt5_account
    gateway.close()
    with pytest.raises(mt5_poll.FetchError):
        poll(database, gateway)
    assert cursor(database) is None and event_ids(database) == []
    gateway.server = gateway.thread = None
    gateway.close = lambda: None


def test_the_same_deals_again_store_no_duplicates(mt5_account, gateway):
    database = mt5_account
    gateway.add(3, 10, 20, 21, 11)
    poll(database, gateway)
    gateway.ignore_range = True  # a gateway that answers everything, every time
    assert poll(database, gateway).new == 0
    # Even with the cursor lost (rows written, cursor reset), no event is stored twice.
    with unit_of_work(database) as s:
        s.delete(s.get(Mt5Cursor, "live-1"))
    report = poll(database, gateway)
    assert (report.new, report.accepted, report.duplicate) == (5, 0, 6)
    with unit_of_work(database) as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 6
    assert cursor(database) == (1771863600120, 11)


def test_cli_poll_once(runner, mt5_account, gateway, monkeypatch):
    gateway.add(3, 10)
    monkeypatch.setenv("FXCRM_MT5_BASE_URL", gateway.url)
    monkeypatch.setenv("FXCRM_MT5_API_TOKEN", TOKEN)
    result = runner.invoke(["connectors", "poll", "mt5", "--once", "--server", "live-1"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "fetched: 2, new: 2, accepted: 2, duplicate: 0, ignored: 0, unmatched: 0, "
        "rejected: 0, cursor: 1771860000120:10")
    gateway.fail = 503
    result = runner.invoke(["connectors", "poll", "mt5", "--once", "--server", "live-1"])
    assert result.exit_code == 1
    assert "HTTP 503 (cursor unchanged)" in result.output
