"""The unmatched queue's MT5 deals in the browser: Retry for finance, the task's main action."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.deliveries import replay
from engine.tasks.models import Task
from tests.connectors.test_mt5_poll import mt5_account  # noqa: F401  (fixture)
from tests.connectors.test_mt5_unmatched import OPENING_OF_999, deal_40_unmatched, kept
from tests.connectors.test_mt5_unmatched import Gateway
from tests.web.conftest import csrf
from tests.web.test_task_page import main_card


@pytest.fixture
def gateway():
    server = Gateway()
    yield server
    server.close()


def test_finance_retries_from_the_page_and_compliance_may_not(mt5_account, gateway, as_role):
    delivery_id = deal_40_unmatched(mt5_account, gateway)
    viewer = as_role("compliance")
    page = viewer.get(f"/wires/{delivery_id}").get_data(as_text=True)
    assert "mt5 delivery" in page and "PositionID" in page and "Retry deal" not in page
    refused = viewer.post(f"/wires/{delivery_id}/retry", data={"csrf_token": csrf(viewer)})
    assert refused.status_code == 403
    finance = as_role("finance")
    assert "Retry deal" in finance.get(f"/wires/{delivery_id}").get_data(as_text=True)
    assert finance.post(f"/wires/{delivery_id}/retry").status_code == 400  # no CSRF token
    still = finance.post(f"/wires/{delivery_id}/retry", data={"csrf_token": csrf(finance)}, follow_redirects=True)
    assert "Still unmatched: deal 40: the opening of position 999 is still not known" in still.get_data(as_text=True)
    replay.replay_mt5(mt5_account, json.dumps(OPENING_OF_999).encode())
    done = finance.post(f"/wires/{delivery_id}/retry", data={"csrf_token": csrf(finance)}, follow_redirects=True)
    assert f"Delivery #{delivery_id} retried by finance" in done.get_data(as_text=True)
    assert kept(mt5_account)[0].status == "done"


def test_the_task_page_leads_to_the_delivery_not_to_matching_a_wire(mt5_account, gateway, as_role):
    delivery_id = deal_40_unmatched(mt5_account, gateway)
    with unit_of_work(mt5_account) as s:
        task_id = s.scalar(select(Task.id))
    html = as_role("finance").get(f"/tasks/{task_id}").get_data(as_text=True)
    card = main_card(html)
    assert 'data-kind="place_delivery"' in card and f'href="/wires/{delivery_id}"' in card
    assert f"Open delivery #{delivery_id}" in card and "bank wire" not in card
