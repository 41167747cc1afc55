"""Admin manages staff users in a real browser; a deactivated user's open session ends."""

import re

import pytest
from playwright.sync_api import expect

from engine.db import get_database, unit_of_work
from engine.users import service as users_service
from tests.browser.conftest import email, login, shot

pytestmark = pytest.mark.browser


def test_admin_creates_user_who_logs_in_then_is_deactivated(browser, page, server):
    login(page, "admin")
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Staff users")).to_be_visible()
    shot(page, "admin-users")
    page.get_by_label("Email").fill("dana@broker.test")
    page.get_by_label("Name").fill("Dana Support")
    page.get_by_label("Role").select_option("support")
    page.get_by_role("button", name="Create user").click()
    password = page.locator("#secret").inner_text()
    shot(page, "admin-user-created")

    other = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server[0])
    dana = other.new_page()
    dana.goto("/login")
    dana.get_by_label("Email").fill("dana@broker.test")
    dana.get_by_label("Password").fill(password)
    dana.get_by_role("button", name="Log in").click()
    expect(dana.get_by_role("heading", name="Inbox")).to_be_visible()

    page.goto("/admin/users")
    page.get_by_role("link", name="dana@broker.test").click()
    page.get_by_label("Reason for deactivating").fill("left the company")
    page.get_by_role("button", name="Deactivate user").click()
    expect(page.get_by_text("Deactivated; their sessions")).to_be_visible()
    shot(page, "admin-user-detail")

    dana.goto("/inbox")
    expect(dana.get_by_role("heading", name="Log in")).to_be_visible()
    assert re.search(r"/login", dana.url)
    other.close()
    with unit_of_work(get_database(server[2])) as s:
        assert users_service.get_by_email(s, "dana@broker.test").active is False


def test_error_pages(page):
    login(page, "support")
    page.goto("/admin/users")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    shot(page, "error-403")
    page.goto("/no/such/page")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    shot(page, "error-404")
    page.get_by_role("link", name="Back to the start page").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
