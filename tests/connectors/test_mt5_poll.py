"""The MT5 poller against a local MT5 Web API: cursor, events and failures in one unit of work."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from engine.db import unit_of_work
from connectors.mt5_webapi import WebApi, WebApiError
from engine.deliveries import mt5_poll
from engine.deliveries.models import Delivery, Mt5Cursor
from engine.events import store
from engine.events.models import Event
from tests.connectors import helpers as fx
from tests.connectors.mt5_server import MANAGER, PASSWORD, Mt5Server
from tests.helpers import open_standard_account

OPENED = datetime(2026, 1, 1, tzinfo=timezone.utc)  # when the test accounts were opened
DEALS = {d["Deal"]: d for d in (json.loads(line) for line in fx.raw("mt5/deals_export.jsonl").splitlines()[:9])}


class Gateway(Mt5Server):
    """The local MT5 Web API with the fixture deals added by ticket."""

    def add(self, *tickets: int) -> None:
        self.deals.extend(DEALS[t] for t in tickets)

    def pages(self) -> list[dict]:
        return [q for path, q in self.requests if path == "/api/deal/get_page"]


@pytest.fixture
def gateway():
    server = Gateway()
    yield server
    server.close()


@pytest.fixture
def mt5_account(database):
    with unit_of_work(database) as session:
        store.ensure_clients(session, {"C-1001"})
        open_standard_account(session, "C-1001", "1011", OPENED)
    return database


def poll(database, gateway, api=None, **kwargs):
    api = api or WebApi(gateway.url, login=MANAGER, password=PASSWORD)
    return mt5_poll.poll_once(database, api=api, server="live-1", **kwargs)


def event_ids(database) -> list[str]:
    with unit_of_work(database) as s:
        return list(s.scalars(select(Event.event_id).where(Event.source == "mt5").order_by(Event.seq)))


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
    assert gateway.paths()[:3] == ["/api/auth/start", "/api/auth/answer", "/api/deal/get_page"]
    (page,) = gateway.pages()
    assert (page["login"], page["from"], page["offset"], page["total"]) == ("1011", "0", "0", "100")
    # The range ends SETTLE_SECONDS before now (trade-server seconds).
    assert int(datetime.now(timezone.utc).timestamp()) - 10 <= int(page["to"]) + 5


def test_a_poll_with_no_new_deals_stores_nothing(mt5_account, gateway):
    database = mt5_account
    gateway.add(3, 10, 20, 21)
    poll(database, gateway)
    report = poll(database, gateway)
    # The range reaches back by the overlap: deal 21 comes again and is dropped.
    assert gateway.pages()[-1]["from"] == str(1771860120 - 60)
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
    assert (closed.type, closed.data["volume_lots"], closed.data["profit"]) == ("trade.closed", "0.6", "20.1")
    assert [(d.provider, d.status, d.delivery_id) for d in kept] == [("mt5", "unmatched", "deal:40")]
    assert json.loads(kept[0].body)["PositionID"] == 999


def test_pages_are_followed(mt5_account, gateway):
    database = mt5_account
    gateway.add(3, 10, 20, 21, 11)
    report = poll(database, gateway, page_size=2)
    assert (report.fetched, report.accepted) == (5, 6)
    assert [q["offset"] for q in gateway.pages()] == ["0", "2", "4"]


@pytest.mark.parametrize("failure", ["retcode", "status"])
def test_a_web_api_error_leaves_cursor_and_events_unchanged(mt5_account, gateway, failure):
    database = mt5_account
    gateway.add(3, 10)
    api = WebApi(gateway.url, login=MANAGER, password=PASSWORD)
    poll(database, gateway, api)
    before = (cursor(database), event_ids(database))
    gateway.add(20, 21)
    if failure == "retcode":
        gateway.fail_retcode = "9 Operation timeout"
    else:
        gateway.fail_status = 500
    with pytest.raises(WebApiError, match="9 Operation timeout" if failure == "retcode" else "HTTP 500"):
        poll(database, gateway, api)
    assert (cursor(database), event_ids(database)) == before
    gateway.fail_retcode = gateway.fail_status = None
    assert poll(database, gateway, api).accepted == 3


def test_an_expired_session_is_renewed_within_a_poll(mt5_account, gateway):
    database = mt5_account
    gateway.add(3, 10)
    api = WebApi(gateway.url, login=MANAGER, password=PASSWORD)
    poll(database, gateway, api)
    gateway.expire()
    gateway.add(20, 21)
    assert poll(database, gateway, api).accepted == 3
    assert api.logins == 2 and gateway.paths().count("/api/auth/answer") == 2


def test_a_wrong_password_stores_nothing(mt5_account, gateway):
    database = mt5_account
    gateway.add(3, 10)
    api = WebApi(gateway.url, login=MANAGER, password="not-it")
    with pytest.raises(WebApiError, match="1001 Invalid account"):
        poll(database, gateway, api)
    assert cursor(database) is None and event_ids(database) == []


def test_every_mt5_login_is_read_and_other_platforms_are_not(mt5_account, gateway):
    database = mt5_account
    with unit_of_work(database) as session:
        for account_id, platform in (("2022", "MT5"), ("ct-7", "ctrader"), ("3033", "mt4")):
            open_standard_account(session, "C-1001", account_id, OPENED, platform=platform)
    gateway.add(3)
    poll(database, gateway)
    assert [q["login"] for q in gateway.pages()] == ["1011", "2022"]
    assert len({(q["from"], q["to"]) for q in gateway.pages()}) == 1  # one range for all


def test_a_login_learnt_later_is_read_from_its_beginning(mt5_account, gateway):
    """Deals of an account fxcrm learns of after the cursor passed them are not skipped."""
    database = mt5_account
    gateway.add(3, 10, 20, 21)
    poll(database, gateway)
    with unit_of_work(database) as session:
        open_standard_account(session, "C-1001", "2022", OPENED)
    # A deposit on the new login, older than everything the cursor has passed.
    gateway.deals.append({**DEALS[3], "Deal": 103, "Login": 2022})
    report = poll(database, gateway)
    first, second = gateway.pages()[-2:]
    assert (first["login"], first["from"]) == ("1011", str(1771860120 - 60))
    assert (second["login"], second["from"]) == ("2022", "0")
    assert (report.new, report.accepted) == (1, 1)
    assert event_ids(database)[-1] == "deal:103"
    assert cursor(database) == (1771860120120, 21)  # the server's cursor did not go back
    with unit_of_work(database) as s:
        marker = s.get(Mt5Cursor, mt5_poll.login_key("live-1", 2022))
        assert (marker.last_deal, marker.last_time_msc) == (103, DEALS[3]["TimeMsc"])
    # Read once: the next poll asks for the new login from the cursor like the others.
    poll(database, gateway)
    assert {q["from"] for q in gateway.pages()[-2:]} == {str(1771860120 - 60)}
    assert len(event_ids(database)) == 6


def test_an_unreachable_server_leaves_no_cursor(mt5_account, gateway):
    database = mt5_account
    gateway.close()
    with pytest.raises(WebApiError):
        poll(database, gateway)
    assert cursor(database) is None and event_ids(database) == []
    gateway.close = lambda: None


def test_the_same_deals_again_store_no_duplicates(mt5_account, gateway):
    database = mt5_account
    gateway.add(3, 10, 20, 21, 11)
    poll(database, gateway)
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
    monkeypatch.setenv("FXCRM_MT5_MANAGER_LOGIN", MANAGER)
    monkeypatch.setenv("FXCRM_MT5_MANAGER_PASSWORD", PASSWORD)
    result = runner.invoke(["connectors", "poll", "mt5", "--once", "--server", "live-1"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "fetched: 2, new: 2, accepted: 2, duplicate: 0, ignored: 0, unmatched: 0, rejected: 0, cursor: 1771860000120:10"
    )
    assert PASSWORD not in result.output
    gateway.fail_retcode = "12 Too frequent requests"
    result = runner.invoke(["connectors", "poll", "mt5", "--once", "--server", "live-1"])
    assert result.exit_code == 1
    assert "'12 Too frequent requests' (cursor unchanged)" in result.output
    monkeypatch.setenv("FXCRM_MT5_MANAGER_PASSWORD", "")
    result = runner.invoke(["connectors", "poll", "mt5", "--once", "--server", "live-1"])
    assert result.exit_code == 1 and "MT5 manager password: not set" in result.output
