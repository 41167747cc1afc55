"""Finance works an MT5 deal the poller could not place: task, delivery page, Retry."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from connectors.mt5_webapi import WebApi
from engine.db import get_database, unit_of_work
from engine.deliveries import mt5_poll, replay
from engine.events import store
from engine.tasks.models import Task
from tests.browser.conftest import login, shot
from tests.connectors.mt5_server import MANAGER, PASSWORD
from tests.connectors.test_mt5_poll import Gateway
from tests.connectors.test_mt5_unmatched import OPENING_OF_999
from tests.helpers import open_standard_account

pytestmark = pytest.mark.browser


@pytest.fixture
def unplaced_deal(server) -> int:
    """Deal 40 of login 1011 closes position 999, whose opening the store does not know."""
    database = get_database(server[2])
    with unit_of_work(database) as s:
        store.ensure_clients(s, {"C-1001"})
        open_standard_account(s, "C-1001", "1011", datetime(2026, 1, 1, tzinfo=timezone.utc))
    gateway = Gateway()
    try:
        gateway.add(10, 40)
        api = WebApi(gateway.url, login=MANAGER, password=PASSWORD)
        assert mt5_poll.poll_once(database, api=api, server="live-1").unmatched == 1
    finally:
        gateway.close()
    with unit_of_work(database) as s:
        return s.scalar(select(Task.id).where(Task.title.like("Retry or drop unmatched mt5 delivery #%")))


def test_finance_retries_a_deal_once_its_opening_is_imported(page, server, unplaced_deal):
    login(page, "finance")
    page.goto("/wires")
    row = page.get_by_role("row").filter(has_text="deal 40: the opening of position 999 is not known")
    expect(row).to_contain_text("mt5")
    shot(page, "mt5-wires-queue")
    page.goto(f"/tasks/{unplaced_deal}")
    card = page.locator(".main-action")
    expect(card).to_contain_text("Retry or drop delivery")
    expect(card).to_contain_text("A mt5 delivery could not be placed")
    shot(page, "mt5-deal-task")
    card.get_by_role("link", name="Open delivery #").click()
    page.wait_for_load_state()
    expect(page.get_by_text("Unmatched: deal 40: the opening of position 999 is not known")).to_be_visible()
    summary = page.locator("#deal-summary")
    expect(summary).to_contain_text("sell 0.1 lots GBPUSD, out (closes)")
    expect(summary).to_contain_text("999")
    expect(page.get_by_role("rowheader", name="PositionID")).to_be_hidden()  # the raw record is folded
    shot(page, "mt5-deal-page")
    page.get_by_role("button", name="Retry deal").click()
    page.wait_for_load_state()
    expect(page.get_by_text("Still unmatched: deal 40: the opening of position 999 is still not known")).to_be_visible()
    shot(page, "mt5-deal-still-unmatched")

    replay.replay_mt5(get_database(server[2]), json.dumps(OPENING_OF_999).encode())  # an older export
    page.get_by_role("button", name="Retry deal").click()
    page.wait_for_load_state()
    expect(page.get_by_text("retried by finance")).to_be_visible()
    shot(page, "mt5-deal-retried")
    page.goto(f"/tasks/{unplaced_deal}")
    expect(page.get_by_text("This task is done.")).to_be_visible()
