"""An IB partner signs in and sees only its own referred clients, in a real browser;
another IB's client and another IB's pages answer 404 (never a hint)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine.db import get_database, unit_of_work
from engine.processing.ingest import ingest_lines
from engine.ib.models import IbClientStats
from tests.browser.conftest import login, shot
from tests.ib.builders import client, deposit, ib, trade

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def referred(server):
    """The partner user's IB-1 referred C-P1 and C-P3; IB-2 referred C-P2."""
    db = get_database(server[2])
    events = (
        ib("P-1", "IB-1", "ONE")
        + ib("P-2", "IB-2", "TWO")
        + client("C-P1", "ONE")
        + client("C-P2", "TWO")
        + client("C-P3", "ONE", kyc=False)
        + [deposit("C-P1", "250.00", 1), trade("C-P1", "1", 2, held=600), deposit("C-P2", "900.00", 1)]
    )
    report = ingest_lines(db, [json.dumps(e) for e in events])
    assert report.ok, report.rejected
    return db


def test_a_partner_sees_only_its_own_clients(page, referred):
    login(page, "partner")
    expect(page).to_have_url(re.compile(r"/partner/IB-1$"))
    shot(page, "partner-dashboard")
    page.get_by_role("link", name="Referred clients").click()
    rows = page.locator("table tbody tr")
    with unit_of_work(referred) as s:
        own = sorted(s.scalars(select(IbClientStats.client_ref).where(IbClientStats.ib_id == "IB-1")))
    assert own == ["C-P1", "C-P3"]
    expect(rows).to_have_count(len(own))
    for ref in own:
        expect(page.locator("table")).to_contain_text(ref)
    expect(page.locator("table")).not_to_contain_text("C-P2")
    shot(page, "partner-referred-clients")

    page.get_by_role("link", name="C-P1").click()
    expect(page.locator("main")).to_contain_text("C-P1")
    shot(page, "partner-referred-client")

    for path in ("/partner/IB-1/clients/C-P2", "/partner/IB-2", "/partner/IB-2/clients", "/clients/C-P1", "/inbox"):
        response = page.goto(path)
        assert response.status in (403, 404), (path, response.status)
        expect(page.locator("body")).not_to_contain_text("C-P2")
    page.goto("/partner/IB-1/clients/C-P2")
    shot(page, "partner-other-ibs-client-404")
