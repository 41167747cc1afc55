"""Login, logout, lockout, CSRF and security headers."""

from engine.db import unit_of_work
from engine.users import service as users_service
from tests.web.conftest import PASSWORD, csrf, email, login


def test_login_logout_and_next(app, users):
    c = app.test_client()
    assert c.get("/inbox").headers["Location"].startswith("/login?next=/inbox")
    token = csrf(c)
    r = c.post("/login?next=/clients/C1", data={"email": email("support"), "password": PASSWORD, "csrf_token": token})
    assert r.headers["Location"] == "/clients/C1"
    assert c.get("/inbox").status_code == 200
    r = c.post("/logout", data={"csrf_token": csrf(c)})
    assert r.headers["Location"] == "/login"
    assert c.get("/inbox").status_code == 302


def test_open_redirect_is_refused(app, users):
    c = app.test_client()
    r = c.post(
        "/login?next=//evil.example", data={"email": email("admin"), "password": PASSWORD, "csrf_token": csrf(c)}
    )
    assert r.headers["Location"] == "/"


def test_passwords_are_hashed_with_scrypt(database, users):
    with unit_of_work(database) as s:
        stored = users_service.get_by_email(s, email("admin")).password_hash
    assert stored.startswith("scrypt:") and PASSWORD not in stored


def test_lockout_after_repeated_failures(app, users):
    c = app.test_client()
    for _ in range(users_service.MAX_FAILED_LOGINS):
        r = c.post("/login", data={"email": email("finance"), "password": "wrong password!", "csrf_token": csrf(c)})
        assert r.status_code == 200 and b"locked for a while" in r.data
    r = c.post("/login", data={"email": email("finance"), "password": PASSWORD, "csrf_token": csrf(c)})
    assert r.status_code == 200, "the right password must not open a locked account"


def test_forms_without_csrf_token_are_refused(app, users):
    c = login(app.test_client(), "admin")
    assert c.post("/logout").status_code == 400
    assert c.post("/tasks/new", data={"queue": "support", "title": "x"}).status_code == 400
    assert c.post("/inbox/bulk", data={"op": "claim", "ids": "1", "csrf_token": "forged"}).status_code == 400


def test_security_headers(app):
    r = app.test_client().get("/login")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Referrer-Policy"] == "same-origin"


def test_htmx_is_served_locally_with_its_license(app):
    c = app.test_client()
    assert b"htmx" in c.get("/static/vendor/htmx-2.0.11.min.js").data[:2000]
    assert b"Zero-Clause BSD" in c.get("/static/vendor/htmx-LICENSE.txt").data
