"""TOTP two-factor login: enrol, log in with a right, wrong or replayed code, required roles."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp

from engine.db import unit_of_work
from engine.users import service as users_service
from engine.users import totp
from engine.values import clock, utcnow
from tests.web.conftest import PASSWORD, csrf, email, login


def _enrol(client) -> str:
    """Enrol the signed-in user through the pages; return the secret shown."""
    assert client.post("/account/2fa/start", data={"csrf_token": csrf(client)}).status_code == 302
    page = client.get("/account/2fa").get_data(as_text=True)
    secret = re.search(r'<code class="secret"[^>]*>([A-Z2-7]{32})</code>', page)[1]
    assert f"otpauth://totp/fxcrm:{email('finance').replace('@', '%40')}?secret={secret}" in page
    code = pyotp.TOTP(secret).at(utcnow())
    client.post("/account/2fa/confirm", data={"code": code, "csrf_token": csrf(client)})
    assert "Two-factor login is <strong>on</strong>" in client.get("/account/2fa").get_data(as_text=True)
    return secret


def _password_step(app, role="finance"):
    c = app.test_client()
    r = c.post("/login?next=/inbox", data={"email": email(role), "password": PASSWORD, "csrf_token": csrf(c)})
    return c, r


def _code_step(c, code):
    return c.post("/login/2fa", data={"code": code, "csrf_token": csrf(c)})


def _step_later():
    # Move the injectable clock to the next 30 s step, so the enrolment code is not reused.
    clock.freeze(utcnow() + timedelta(seconds=30))


def test_enrol_then_login_asks_for_the_code(app, users):
    secret = _enrol(login(app.test_client(), "finance"))
    _step_later()
    c, r = _password_step(app)
    assert r.headers["Location"] == "/login/2fa"
    assert c.get("/inbox").status_code == 302, "no session before the code"
    r = _code_step(c, pyotp.TOTP(secret).at(utcnow()))
    assert r.headers["Location"] == "/inbox"
    assert c.get("/inbox").status_code == 200


def test_wrong_code_is_refused_and_counts_toward_lockout(app, users, database):
    secret = _enrol(login(app.test_client(), "finance"))
    _step_later()
    c, _ = _password_step(app)
    right = pyotp.TOTP(secret).at(utcnow())
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    r = _code_step(c, wrong)
    assert r.status_code == 200 and b"code is wrong" in r.data
    assert c.get("/inbox").status_code == 302
    with unit_of_work(database) as s:
        assert users_service.get_by_email(s, email("finance")).failed_logins == 1
    for _ in range(users_service.MAX_FAILED_LOGINS - 1):
        _code_step(c, wrong)
    assert _code_step(c, right).status_code == 200, "a locked account takes no code"


def test_a_code_is_good_only_once(app, users):
    secret = _enrol(login(app.test_client(), "finance"))
    _step_later()
    first, _ = _password_step(app)
    code = pyotp.TOTP(secret).at(utcnow())
    assert _code_step(first, code).status_code == 302
    second, _ = _password_step(app)
    r = _code_step(second, code)
    assert r.status_code == 200 and b"already used" in r.data
    assert second.get("/inbox").status_code == 302


def test_codes_of_the_neighbour_steps_are_accepted_but_not_older(database, users):
    with unit_of_work(database) as s:
        user = users_service.get_by_email(s, email("admin"))
        row = totp.begin(s, user)
        assert totp.confirm(s, user.id, pyotp.TOTP(row.secret).at(utcnow()))
    clock.freeze(utcnow() + timedelta(minutes=5))
    with unit_of_work(database) as s:
        at = pyotp.TOTP(row.secret).at
        assert not totp.verify(s, user.id, at(utcnow() - timedelta(seconds=90)))
        assert totp.verify(s, user.id, at(utcnow() - timedelta(seconds=30)))
        assert totp.verify(s, user.id, at(utcnow() + timedelta(seconds=30)))
        assert not totp.verify(s, user.id, at(utcnow())), "an older step than one used is refused"
        assert not totp.verify(s, user.id, "12345") and not totp.verify(s, user.id, "１２３４５６")


def test_required_role_must_enrol_before_anything_else(database, users):
    from web import create_app

    app = create_app(
        {
            "TESTING": True,
            "TICKER": False,
            "FXCRM_CONFIG": database.config.with_overrides(require_2fa_roles="admin,finance"),
        }
    )
    c, r = _password_step(app, "finance")
    assert r.headers["Location"] == "/inbox"
    assert c.get("/inbox").headers["Location"] == "/account/2fa"
    assert "Your role must use it" in c.get("/account/2fa").get_data(as_text=True)
    support, _ = _password_step(app, "support")
    assert support.get("/inbox").status_code == 200, "other roles are not forced"
    _enrol(c)
    assert c.get("/inbox").status_code == 200
