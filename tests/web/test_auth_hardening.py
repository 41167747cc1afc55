"""Login hardening: atomic lockout under parallel guesses, same password-hash work on every path."""
from __future__ import annotations

import threading

import pytest
from werkzeug.security import generate_password_hash

from engine.db import unit_of_work
from engine.users import service as users_service
from engine.users.models import User
from engine.values import utcnow

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
        s.add(User(email=email, role="finance", active=active, failed_logins=0, created_at=utcnow(),
                   password_hash=password_hash or generate_password_hash(RIGHT, method="scrypt")))


def _attempt(db, email, password, verify=None):
    with unit_of_work(db) as s:
        seam = {"verify": verify} if verify else {}
        user = users_service.authenticate(s, email, password, **seam)
        return user is not None


def test_every_answer_does_one_password_check(database):
    _add_user(database, "on@x.com")
    _add_user(database, "off@x.com", active=False)
    answers = {}
    for case, email, password in [("unknown", "nobody@x.com", RIGHT), ("inactive", "off@x.com", RIGHT),
                                  ("wrong", "on@x.com", WRONG), ("right", "on@x.com", RIGHT)]:
        verify = CountingVerify()
        answers[case] = (_attempt(database, email, password, verify), verify.calls)
    for _ in range(users_service.MAX_FAILED_LOGINS):
        _attempt(database, "on@x.com", WRONG)
    verify = CountingVerify()
    answers["locked"] = (_attempt(database, "on@x.com", RIGHT, verify), verify.calls)
    assert answers == {"unknown": (False, 1), "inactive": (False, 1), "wrong": (False, 1),
                       "right": (True, 1), "locked": (False, 1)}


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
