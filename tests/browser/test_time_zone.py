"""A staff user takes the zone the browser suggests and then reads times in it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from engine.audit.models import AuditEntry
from engine.db import get_database, unit_of_work
from tests.browser.conftest import login, shot

pytestmark = pytest.mark.browser


@pytest.fixture
def tokyo_page(browser, server):
    """A browser whose own zone is Asia/Tokyo."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server[0], timezone_id="Asia/Tokyo")
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_the_browsers_zone_is_offered_saved_and_used(tokyo_page, server):
    page = tokyo_page
    with unit_of_work(get_database(server[2])) as s:
        s.add(
            AuditEntry(
                at=datetime(2026, 11, 2, 22, 10, tzinfo=UTC),
                actor="admin@example.com",
                action="user.create",
                target_type="user",
                target_id="1",
                reason="zone",
            )
        )
    login(page, "compliance")
    page.goto("/audit")
    expect(page.locator("table")).to_contain_text("2026-11-02 22:10")
    page.get_by_role("link", name="UTC").click()
    expect(page.locator("h1")).to_have_text("Your time zone")
    page.get_by_role("button", name="Use Asia/Tokyo").click()
    expect(page.get_by_label("Time zone (IANA name, such as Europe/Berlin)")).to_have_value("Asia/Tokyo")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.get_by_role("alert").or_(page.locator(".flash")).first).to_contain_text("Times now show in Asia/Tokyo")
    expect(page.locator("header.top")).to_contain_text("Asia/Tokyo")
    shot(page, "time-zone")
    page.goto("/audit")
    expect(page.locator("table")).to_contain_text("2026-11-03 07:10")
