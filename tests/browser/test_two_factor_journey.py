"""A finance user turns on two-factor login, then signs in with a code."""

from __future__ import annotations

import pyotp

from engine.db import get_database, unit_of_work
from engine.users import totp
from engine.users import service as users_service
from engine.values import utcnow
from tests.browser.conftest import email, login, shot


def test_finance_turns_on_two_factor_and_signs_in_with_a_code(page, server):
    login(page, "finance")
    page.get_by_role("link", name="Two-factor login").click()
    shot(page, "2fa-off")
    page.get_by_role("button", name="Set up two-factor login").click()
    secret = page.locator("code.secret").first.inner_text()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    shot(page, "2fa-enrol")
    page.get_by_role("button", name="Turn on two-factor login").click()
    assert "is on" in page.locator("main").inner_text()
    shot(page, "2fa-on")
    with unit_of_work(get_database(server[2])) as s:
        user = users_service.get_by_email(s, email("finance"))
        assert totp.is_enrolled(s, user.id)
        used = totp.get(s, user.id).last_step
    page.get_by_role("button", name="Log out").click()
    login(page, "finance")
    assert page.url.endswith("/login/2fa")
    shot(page, "2fa-code-step")
    code = pyotp.TOTP(secret)
    step = max(code.timecode(utcnow()), used + 1)  # a code is good once: wait for the next step
    page.get_by_label("Code").fill(code.generate_otp(step))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert "/login" not in page.url and "Log out" in page.content()
