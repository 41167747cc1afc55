"""MT5 deals the poller cannot place: kept with a finance task, retried once the cause is fixed.

A close whose opening is not known (deal 40 closes position 999), and a record the poller
cannot read, are kept as `unmatched` deliveries, each with one finance task. Retry (the
unmatched queue's button, engine.deliveries.mt5_retry) places the deal once its opening
is stored, closes the task and records it in the audit log; while the cause stands it
says what is still missing and changes nothing. Two operators retrying at once place it
once.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from connectors.mt5_webapi import WebApi
from engine.audit.models import AuditEntry
from engine.db import unit_of_work
from engine.deliveries import mt5_poll, mt5_retry, replay, wires
from engine.deliveries.models import Delivery
from engine.events import store
from engine.events.models import Event
from engine.tasks.models import Task
from tests.concurrency.race import together
from tests.connectors.mt5_server import MANAGER, PASSWORD
from tests.connectors.test_mt5_poll import DEALS, Gateway, mt5_account  # noqa: F401  (fixture)

OPENING_OF_999 = {**DEALS[10], "Deal": 39, "PositionID": 999, "Order": 39}


@pytest.fixture
def gateway():
    server = Gateway()
    yield server
    server.close()


def poll(database, gateway):
    return mt5_poll.poll_once(database, api=WebApi(gateway.url, login=MANAGER, password=PASSWORD), server="live-1")


def kept(database) -> list[Delivery]:
    with unit_of_work(database) as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def tasks(database) -> list[tuple[str, str, str | None, dict]]:
    with unit_of_work(database) as s:
        return [(t.queue, t.title, t.status, t.data) for t in s.scalars(select(Task).order_by(Task.id))]


def deal_40_unmatched(database, gateway) -> int:
    gateway.add(10, 40)
    report = poll(database, gateway)
    assert report.unmatched == 1
    (row,) = kept(database)
    return row.id


def test_an_unplaced_deal_opens_one_finance_task_and_keeps_how_it_was_read(mt5_account, gateway):
    delivery_id = deal_40_unmatched(mt5_account, gateway)
    poll(mt5_account, gateway)  # read again: no second row, no second task
    (row,) = kept(mt5_account)
    assert (row.status, row.delivery_id) == ("unmatched", "deal:40")
    body = json.loads(row.body)
    assert body["PositionID"] == 999 and body[mt5_retry.POLL_KEY] == {"server": "", "server_utc_offset_seconds": 0}
    ((queue, title, status, data),) = tasks(mt5_account)
    assert (queue, status) == ("finance", "open")
    assert title == f"Retry or drop unmatched mt5 delivery #{delivery_id}"
    assert data == {"delivery_id": delivery_id, "provider": "mt5"}


def test_an_unreadable_record_is_kept_with_a_task_not_lost(mt5_account, gateway):
    gateway.deals.append({**DEALS[20], "Deal": 50, "Action": "buy?"})
    report = poll(mt5_account, gateway)
    assert report.rejected == 1
    (row,) = kept(mt5_account)
    assert (row.status, row.delivery_id) == ("unmatched", "deal:50")
    assert row.reason.startswith("unreadable deal record: ") and "Action" in row.reason
    ((_, title, status, _),) = tasks(mt5_account)
    assert title == f"Retry or drop unmatched mt5 delivery #{row.id}" and status == "open"
    with unit_of_work(mt5_account) as s, pytest.raises(wires.WireError, match="cannot be read as an MT5 deal"):
        mt5_retry.retry(s, delivery_id=row.id, actor="fin@example.com")


def test_retry_says_what_is_missing_then_places_the_deal_once_its_opening_is_stored(mt5_account, gateway):
    delivery_id = deal_40_unmatched(mt5_account, gateway)
    with unit_of_work(mt5_account) as s, pytest.raises(wires.WireError, match="position 999 is still not known"):
        mt5_retry.retry(s, delivery_id=delivery_id, actor="fin@example.com")
    assert kept(mt5_account)[0].status == "unmatched" and tasks(mt5_account)[0][2] == "open"

    report = replay.replay_mt5(mt5_account, json.dumps(OPENING_OF_999).encode())  # an older export
    assert report.counts.get("accepted") == 1, report
    with unit_of_work(mt5_account) as s:
        done = mt5_retry.retry(s, delivery_id=delivery_id, actor="fin@example.com")
    assert done.status == "done"
    with unit_of_work(mt5_account) as s:
        closed = store.get(s, source="mt5", event_id="deal:40")
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "delivery.retried")).one()
        stored = s.scalar(select(Event.via).where(Event.event_id == "deal:40"))
    assert closed.type == "trade.closed" and closed.data["ticket"] == "999"
    assert (stored, audit.actor, audit.target_id) == ("backoffice", "fin@example.com", str(delivery_id))
    (row,) = kept(mt5_account)
    assert row.status == "done" and row.event_ids == ["deal:40"]
    assert tasks(mt5_account)[0][2] == "done"
    with unit_of_work(mt5_account) as s, pytest.raises(wires.WireError, match="no longer unmatched"):
        mt5_retry.retry(s, delivery_id=delivery_id, actor="fin@example.com")


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_two_operators_retrying_at_once_place_the_deal_once(mt5_account, gateway):
    delivery_id = deal_40_unmatched(mt5_account, gateway)
    replay.replay_mt5(mt5_account, json.dumps(OPENING_OF_999).encode())
    for _ in range(4):

        def retry(actor):
            with unit_of_work(mt5_account) as s:
                return mt5_retry.retry(s, delivery_id=delivery_id, actor=actor).status

        outcomes = together(lambda: retry("a@example.com"), lambda: retry("b@example.com"))
        placed = [o for o in outcomes if o == "done"]
        refused = [o for o in outcomes if isinstance(o, wires.WireError)]
        assert (len(placed), len(refused)) == ((1, 1) if _ == 0 else (0, 2)), outcomes
        with unit_of_work(mt5_account) as s:
            assert s.scalars(select(Event).where(Event.event_id == "deal:40")).all().__len__() == 1
            assert s.scalars(select(AuditEntry).where(AuditEntry.action == "delivery.retried")).all().__len__() == 1


def test_the_cli_retries_a_kept_deal_too(mt5_account, gateway, runner):
    delivery_id = deal_40_unmatched(mt5_account, gateway)
    still = runner.invoke(["connectors", "retry", str(delivery_id)])
    assert still.exit_code == 1 and "still unmatched: deal 40: the opening of position 999" in still.output
    replay.replay_mt5(mt5_account, json.dumps(OPENING_OF_999).encode())
    done = runner.invoke(["connectors", "retry", str(delivery_id)])
    assert (done.exit_code, done.output.strip()) == (0, "done: retried by cli: the deal is placed (1 event stored)")
    assert tasks(mt5_account)[0][2] == "done"
