"""Login hardening: atomic lockout under parallel guesses, same password-hash work on every path."""

from __future__ import annotations

import threading
import uuid

import pytest
from werkzeug.security import generate_password_hash

from engine import config
from engine.db import unit_of_work
from engine.users import service as users_service
from engine.users.models import User
from engine.values import utcnow
from tests.web.conftest import csrf

RIGHT = "correct horse battery"
WRONG = "wrong horse battery!"


class CountingVerify:
    """Count password-hash checks while doing the real check."""

    def __init__(self):
        self.calls = 0

    def __call__(self, password_hash, password):
        self.calls += 1
        return users_service.verify_password(password_hash, password)


def _add_user(db, email, *, active=True, password_hash=None):
    with unit_of_work(db) as s:
        s.add(
            User(
                email=email,
                role="finance",
                active=active,
                failed_logins=0,
                created_at=utcnow(),
                password_hash=password_hash or generate_password_hash(RIGHT, method="scrypt"),
            )
        )


def _attempt(db, email, password, verify=None):
    with unit_of_work(db) as s:
        seam = {"verify": verify} if verify else {}
        user = users_service.authenticate(s, email, password, **seam)
        return user is not None


def test_every_answer_does_one_password_check(database):
    _add_user(database, "on@x.com")
    _add_user(database, "off@x.com", active=False)
    answers = {}
    for case, email, password in [
        ("unknown", "nobody@x.com", RIGHT),
        ("inactive", "off@x.com", RIGHT),
        ("wrong", "on@x.com", WRONG),
        ("right", "on@x.com", RIGHT),
    ]:
        verify = CountingVerify()
        answers[case] = (_attempt(database, email, password, verify), verify.calls)
    for _ in range(users_service.MAX_FAILED_LOGINS):
        _attempt(database, "on@x.com", WRONG)
    verify = CountingVerify()
    answers["locked"] = (_attempt(database, "on@x.com", RIGHT, verify), verify.calls)
    assert answers == {
        "unknown": (False, 1),
        "inactive": (False, 1),
        "wrong": (False, 1),
        "right": (True, 1),
        "locked": (False, 1),
    }


def _burst(db, email, passwords):
    """Try all `passwords` at once (one thread and unit of work each); return who logged in."""
    barrier = threading.Barrier(len(passwords))
    results, errors = [None] * len(passwords), []

    def run(i):
        try:
            barrier.wait()
            results[i] = _attempt(db, email, passwords[i])
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(passwords))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


@pytest.mark.parametrize("round_", range(3))
def test_parallel_guesses_lock_after_exactly_five(pg_database, round_):
    email = f"race{round_}@x.com"
    _add_user(pg_database, email)
    assert _burst(pg_database, email, [WRONG] * (users_service.MAX_FAILED_LOGINS - 1)) == [False] * 4
    with unit_of_work(pg_database) as s:
        user = users_service.get_by_email(s, email)
        assert (user.failed_logins, user.locked_until) == (4, None), "every parallel failure counts"
    assert _burst(pg_database, email, [WRONG]) == [False]
    with unit_of_work(pg_database) as s:
        assert users_service.get_by_email(s, email).locked_until is not None, "locked at the 5th"
    assert _burst(pg_database, email, [WRONG, WRONG, RIGHT, WRONG, WRONG, RIGHT]) == [False] * 6


@pytest.mark.parametrize("round_", range(3))
def test_right_password_in_a_burst_of_wrong_ones_does_not_log_in_once_locked(pg_database, round_):
    email = f"burst{round_}@x.com"
    _add_user(pg_database, email)
    results = _burst(pg_database, email, [WRONG] * 8)
    with unit_of_work(pg_database) as s:
        user = users_service.get_by_email(s, email)
        assert user.locked_until is not None, "8 parallel failures must lock the account"
        assert user.failed_logins == 0, "guesses while locked are refused, not counted"
    assert results == [False] * 8
    assert _attempt(pg_database, email, RIGHT) is False


def _app(database, **overrides):
    from web import create_app

    return create_app({"TESTING": True, "TICKER": False, "FXCRM_CONFIG": database.config.with_overrides(**overrides)})


def _wrong_login(app, email):
    c = app.test_client()
    return c.post("/login", data={"email": email, "password": WRONG, "csrf_token": csrf(c)})


def test_login_limit_is_shared_through_redis_by_two_app_instances(database):
    shared = dict(
        redis_url="redis://127.0.0.1:6379/0",
        login_address_rate_limit="3 per minute",
        rate_limit_prefix=f"fxcrm-test-{uuid.uuid4().hex}",
    )
    first, second = _app(database, **shared), _app(database, **shared)
    assert [_wrong_login(first, "a@x.com").status_code for _ in range(2)] == [200, 200]
    assert _wrong_login(second, "a@x.com").status_code == 200
    refused = _wrong_login(second, "a@x.com")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert b"Too many attempts" in refused.data


def test_login_limit_per_email_holds_across_addresses(database):
    app = _app(database, login_rate_limit="2 per minute")
    answers = []
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        c = app.test_client()
        token = csrf(c)
        answers.append(
            c.post(
                "/login",
                data={"email": "v@x.com", "password": WRONG, "csrf_token": token},
                environ_base={"REMOTE_ADDR": address},
            ).status_code
        )
    assert answers == [200, 200, 429]


def test_api_limit_answers_json_429_with_retry_after(database):
    app = _app(database, api_rate_limit="2 per minute")
    c = app.test_client()
    codes = [c.get("/api/tasks").status_code for _ in range(3)]
    refused = c.get("/api/tasks")
    assert codes[:2] == [401, 401] and refused.status_code == 429
    assert refused.get_json()["error"].startswith("too many requests") and refused.headers["Retry-After"]


def test_session_cookie_secure_flag(database, users):
    def cookie(app):
        c = app.test_client()
        response = c.post("/login", data={"email": "admin@example.com", "password": RIGHT, "csrf_token": csrf(c)})
        return response.headers["Set-Cookie"]

    assert "Secure" not in cookie(_app(database))
    assert "Secure" in cookie(_app(database, redis_url="redis://127.0.0.1:6379/0"))
    assert "Secure" in cookie(_app(database, secure_cookies=True))
    assert "SameSite=Lax" in cookie(_app(database, secure_cookies=True))
    assert config.load({"FXCRM_SECURE_COOKIES": "0", "FXCRM_REDIS_URL": "redis://x"}).cookies_secure is False
    assert config.load({"FXCRM_REDIS_URL": "redis://x"}).cookies_secure is True
    with pytest.raises(config.ConfigError, match="FXCRM_SECURE_COOKIES"):
        config.load({"FXCRM_SECURE_COOKIES": "maybe"})
