"""Every staff page renders in the browser for the role that works there, with a
screenshot each into test-artifacts/browser/pages/ (the ones other journeys do not take)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from engine.reports.base import names as report_names
from tests.browser.conftest import ARTIFACTS, login

pytestmark = pytest.mark.browser

TOUR = [
    ("admin", "/inbox", "inbox"),
    ("admin", "/clients", "clients"),
    ("admin", "/clients/C100", "client-profile"),
    ("finance", "/withdrawals", "withdrawals"),
    ("finance", "/wires", "wires"),
    ("compliance", "/rules", "rules"),
    ("compliance", "/audit", "audit"),
    ("admin", "/admin/users", "admin-users"),
    ("support", "/account/password", "account-password"),
    ("finance", "/reports", "reports"),
    ("ib_ops", "/partner", "partner-ibs"),
    ("finance", "/partner/payouts", "partner-payouts"),
    ("support", "/tasks/new", "new-task"),
    ("sales", "/no-such-page", "error-404-page"),
    ("sales", "/admin/users", "error-403-page"),
]


@pytest.mark.parametrize("role, path, name", TOUR, ids=[t[2] for t in TOUR])
def test_page_renders_for_its_role(page, role, path, name):
    login(page, role)
    response = page.goto(path)
    expected = 404 if "404" in name else 403 if "403" in name else 200
    assert response.status == expected, (path, response.status)
    expect(page.locator("h1").first).to_be_visible()
    expect(page.locator("header.top")).to_contain_text(role)
    (ARTIFACTS / "pages").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pages" / f"{name}.png"), full_page=True)


def test_every_report_page_renders(page):
    login(page, "admin")
    for name in report_names():
        response = page.goto(f"/reports/{name}")
        assert response.status == 200, name
        expect(page.locator("h1").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "pages" / "report.png"), full_page=True)
