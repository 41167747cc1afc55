"""Client portal accounts under races (PostgreSQL): one e-mail registered twice at once,
wrong passwords guessed in parallel, a one-time link opened twice at once."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from engine.audit.models import AuditEntry
from engine.db import unit_of_work
from engine.events.models import Event
from engine.portal import service as portal
from engine.portal.models import ClientLogin, PortalToken
from engine.values import utcnow
from tests.concurrency.race import ROUNDS, race, together
from web import create_app

EMAIL, PASSWORD = "ana@example.com", "correct horse battery staple 42"
WRONG = "wrong horse battery staple 42"
NEW_PASSWORDS = ("first new passphrase 2026", "second new passphrase 2026")
TAKEN = "this e-mail already has an account: sign in, or reset the password"
WRONG_ANSWER = "the e-mail or the password is wrong"
LOCKED = "too many wrong passwords: try again in a few minutes, or reset it"
USED = "this link was already used or is not valid; ask for a new one"


def _app(database):
    return create_app({"TESTING": True, "FXCRM_CONFIG": database.config, "TICKER": False})


def _csrf(client, path) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


def _registration(client):
    """A client with the registration form open; calling the result sends it."""
    form = {
        "csrf_token": _csrf(client, "/portal/register"),
        "email": EMAIL,
        "password": PASSWORD,
        "first_name": "Ana",
        "last_name": "Lopez",
        "country": "ES",
    }
    return lambda: client.post("/portal/register", data=form)


def _page(response) -> tuple[int, str]:
    """Status and page without the per-session CSRF token, to compare two answers."""
    body = re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True))
    return response.status_code, body


def _count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_email_registered_twice_at_once_gets_one_account(pg_database, round_):
    """The loser of the race gets exactly the answer a later, plain duplicate gets (a 400
    naming the e-mail as taken), not a 500; one login, one client, one audit entry."""
    app = _app(pg_database)
    first, second, later = app.test_client(), app.test_client(), app.test_client()
    outcomes = together(_registration(first), _registration(second))
    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    statuses = sorted(o.status_code for o in outcomes)
    assert statuses == [200, 400], statuses
    lost = next(o for o in outcomes if o.status_code == 400)
    assert TAKEN in lost.get_data(as_text=True)
    assert _page(lost) == _page(_registration(later)())
    with unit_of_work(pg_database) as s:
        ref = s.scalar(select(ClientLogin.client_ref))
        assert _count(s, ClientLogin) == 1
        assert _count(s, Event, Event.type == "client.registered") == 1
        assert _count(s, AuditEntry, AuditEntry.action == "portal.registered") == 1
        assert _count(s, PortalToken, PortalToken.purpose == "verify") == 1
        assert s.scalar(select(Event.client_ref).where(Event.type == "client.registered")) == ref


def _confirmed(database) -> int:
    """A client who registered and confirmed the e-mail; return its login id."""
    with unit_of_work(database) as s:
        login, _ = portal.register(s, email=EMAIL, password=PASSWORD, first_name="Ana", last_name="Lopez", country="ES")
        login.email_verified_at = utcnow()
        return login.id


def _sign_in(database, password):
    """Sign in as web.portal does: a refusal commits its counter, audit and event too."""

    def run():
        with unit_of_work(database) as s:
            try:
                return portal.authenticate(s, EMAIL, password).session_generation
            except portal.PortalError as exc:
                return str(exc)

    return run


def _burst(database, passwords) -> list:
    outcomes = together(*(_sign_in(database, p) for p in passwords))
    assert all(isinstance(o, int | str) for o in outcomes), outcomes
    return outcomes


def _counter(database) -> tuple[int, bool, int]:
    """(failed sign-ins counted, locked now, audited failures)."""
    with unit_of_work(database) as s:
        login = s.scalar(select(ClientLogin))
        audited = _count(s, AuditEntry, AuditEntry.action == "portal.login_failed")
        return login.failed_logins, bool(login.locked_until and login.locked_until > utcnow()), audited


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_wrong_passwords_at_once_all_count_and_lock_at_the_limit(pg_database, round_):
    _confirmed(pg_database)
    almost = portal.MAX_FAILURES - 1
    assert _burst(pg_database, [WRONG] * almost) == [WRONG_ANSWER] * almost
    assert _counter(pg_database) == (almost, False, almost), "every parallel failure counts"
    # Two guesses race for the last try: one locks the account, the other is refused as
    # locked and not counted; then even the right password is refused.
    assert sorted(_burst(pg_database, [WRONG, WRONG])) == [WRONG_ANSWER, LOCKED]
    assert _counter(pg_database) == (0, True, portal.MAX_FAILURES)
    assert _burst(pg_database, [PASSWORD, WRONG, PASSWORD]) == [LOCKED] * 3
    assert _counter(pg_database) == (0, True, portal.MAX_FAILURES)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_burst_of_wrong_passwords_locks_exactly_once(pg_database, round_):
    _confirmed(pg_database)
    burst = portal.MAX_FAILURES + 2
    outcomes = _burst(pg_database, [WRONG] * burst)
    failed, locked, audited = _counter(pg_database)
    assert locked and failed == 0, "the limit reached in parallel locks the account"
    assert audited == portal.MAX_FAILURES, "failures past the limit are refused as locked"
    assert sorted(outcomes) == [WRONG_ANSWER] * portal.MAX_FAILURES + [LOCKED] * 2
    assert _sign_in(pg_database, PASSWORD)() == LOCKED


def _token(database, purpose) -> str:
    with unit_of_work(database) as s:
        return portal.issue_token(s, s.scalar(select(ClientLogin)), purpose)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_confirmation_link_opened_twice_at_once_confirms_once(pg_database, round_):
    with unit_of_work(pg_database) as s:
        portal.register(s, email=EMAIL, password=PASSWORD, first_name="Ana", last_name="Lopez", country="ES")
    raw = _token(pg_database, "verify")
    outcomes = race(pg_database, *[lambda s: portal.confirm_email(s, raw)] * 2, expected=(portal.PortalError,))
    assert sorted(map(str, outcomes)) == sorted(["ok", USED]), outcomes
    with unit_of_work(pg_database) as s:
        assert s.scalar(select(ClientLogin)).email_verified_at is not None
        assert _count(s, AuditEntry, AuditEntry.action == "portal.email_confirmed") == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_reset_link_used_twice_at_once_sets_one_password(pg_database, round_):
    """Two tabs send the reset form with different passwords at the same moment: the link
    works once, so exactly one password is set and the sessions end once."""
    _confirmed(pg_database)
    raw = _token(pg_database, "reset")
    outcomes = race(
        pg_database,
        *[lambda s, p=p: portal.reset_password(s, raw, p) for p in NEW_PASSWORDS],
        expected=(portal.PortalError,),
    )
    assert sorted(map(str, outcomes)) == sorted(["ok", USED]), outcomes
    won = outcomes.index("ok")
    with unit_of_work(pg_database) as s:
        login = s.scalar(select(ClientLogin))
        assert check_password_hash(login.password_hash, NEW_PASSWORDS[won])
        assert login.session_generation == 2
        assert _count(s, AuditEntry, AuditEntry.action == "portal.password_reset") == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_reset_requests_at_once_leave_one_live_link(pg_database, round_):
    """Asking three times at once sends three links; as when asked one after the other,
    only the newest may work, so exactly one reset link is left unused."""
    _confirmed(pg_database)
    outcomes = race(pg_database, *[lambda s: portal.request_reset(s, EMAIL)] * 3)
    assert outcomes == ["ok"] * 3, outcomes
    with unit_of_work(pg_database) as s:
        assert _count(s, PortalToken, PortalToken.purpose == "reset", PortalToken.used_at.is_(None)) == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_the_old_password_opens_no_session_after_a_reset_it_raced(pg_database, round_):
    """A sign-in with the old password racing a reset either comes first (and its session
    ends with the reset) or is refused: it never opens a session of the new password."""
    _confirmed(pg_database)
    raw = _token(pg_database, "reset")

    def reset():
        with unit_of_work(pg_database) as s:
            return portal.reset_password(s, raw, NEW_PASSWORDS[0]).session_generation

    outcomes = together(reset, *[_sign_in(pg_database, PASSWORD)] * 4)
    assert outcomes[0] == 2, outcomes
    assert all(o in (1, WRONG_ANSWER) for o in outcomes[1:]), outcomes


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_reset_link_used_while_another_is_requested_does_not_deadlock(pg_database, round_):
    """Using a link and asking for a new one take the login's lock and then the tokens'
    in the same order: both finish, one after the other, whichever comes first."""
    _confirmed(pg_database)
    raw = _token(pg_database, "reset")
    outcomes = race(
        pg_database,
        lambda s: portal.reset_password(s, raw, NEW_PASSWORDS[0]),
        lambda s: portal.request_reset(s, EMAIL),
        expected=(portal.PortalError,),
    )
    assert outcomes[1] == "ok" and (outcomes[0] == "ok" or str(outcomes[0]) == USED), outcomes
    with unit_of_work(pg_database) as s:
        assert _count(s, PortalToken, PortalToken.purpose == "reset", PortalToken.used_at.is_(None)) == 1
