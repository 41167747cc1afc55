"""A staff sign-in with the old password racing an admin's password reset (PostgreSQL);
and staff sign-ins as rule events processed by two workers at once.

The sign-in checks the password before it locks the user's row; if the reset commits in
between, the row it locks carries the new password and the new session generation. Without
a second check the old password would open a session the reset was meant to end.
"""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.events.models import PROCESSED, Event
from engine.processing import subjects
from engine.projections import SUBJECT_EVALUATORS
from engine.rules import activation
from engine.rules.loader import load_dir
from engine.tasks.models import Task
from engine.users import service as users
from tests.concurrency.race import ROUNDS, together

EMAIL, PASSWORD = "dealer@broker.test", "an old but long password 1"


def _sign_in(database):
    def run():
        with unit_of_work(database) as s:
            user = users.authenticate(s, EMAIL, PASSWORD)
            return user.session_generation if user else "refused"

    return run


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_the_old_password_opens_no_session_after_a_reset_it_raced(pg_database, round_):
    with unit_of_work(pg_database) as s:
        users.create(s, email=EMAIL, role="finance", password=PASSWORD)

    def reset():
        with unit_of_work(pg_database) as s:
            user = users.get_by_email(s, EMAIL)
            users.reset_password(s, user, actor="admin@broker.test", reason="lost")
            return user.session_generation

    outcomes = together(reset, *[_sign_in(pg_database)] * 4)
    new_generation = outcomes[0]
    assert isinstance(new_generation, int), outcomes
    # Before the reset: a session of the old generation (the reset ends it); after: refused.
    assert all(o in (new_generation - 1, "refused") for o in outcomes[1:]), outcomes


# ---- staff sign-ins as rule events (engine.processing.subjects) ------------------------

RULES = Path(__file__).resolve().parents[1] / "rules" / "staff_sign_ins"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
ARRIVAL = [50, 0, 30, 10, 40, 20]  # minutes after T0, in the order they are recorded


def _activate_and_create(database) -> str:
    activation.forget()
    with unit_of_work(database) as s:
        files = {k: v for k, v in load_dir(RULES).items() if not k.endswith(".test.yaml")}
        activation.activate_files(s, files, actor="test")
        user, _ = users.create(s, email=EMAIL, role="finance", password=PASSWORD)
        return user.ref


@pytest.fixture
def evaluated():
    """The event ids the subject evaluators ran for, in order, from every thread."""
    seen: list[str] = []

    def note(session, event, subject):
        seen.append(event.event_id)

    SUBJECT_EVALUATORS.insert(0, note)
    yield seen
    SUBJECT_EVALUATORS.remove(note)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_workers_process_a_staff_members_events_once_each_in_order(pg_database, evaluated, round_):
    ref = _activate_and_create(pg_database)
    with unit_of_work(pg_database) as s:
        s.info.pop("database")  # recorded only: the two workers below process them
        for minute in ARRIVAL:
            subjects.record(
                s,
                kind="staff",
                ref=ref,
                type_="staff.login_failed",
                event_id=f"fail-{minute}",
                data={"username": EMAIL, "reason": "wrong_password"},
                at=T0 + timedelta(minutes=minute),
            )

    def worker():
        return subjects.process_subject(pg_database, "staff", ref).processed

    outcomes = together(worker, worker)
    assert sorted(outcomes) == [0, len(ARRIVAL)], outcomes  # one worker did all, the other found none
    assert evaluated == [f"fail-{m}" for m in sorted(ARRIVAL)], "each event once, in order of occurrence"
    with unit_of_work(pg_database) as s:
        assert {e.status for e in s.scalars(select(Event).where(Event.client_ref == ref))} == {PROCESSED}
        (task,) = s.scalars(select(Task))
        assert task.trigger_key.startswith("fxcrm.app/fail-20:")  # the third failure by occurrence


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_parallel_wrong_passwords_each_count_once_and_open_one_task(pg_database, evaluated, round_):
    ref = _activate_and_create(pg_database)

    def wrong():  # as the login page: authenticate, commit, then process after the commit
        with unit_of_work(pg_database) as s:
            return users.authenticate(s, EMAIL, "not the password", ip="192.0.2.8")

    assert together(*[wrong] * 4) == [None] * 4
    with unit_of_work(pg_database) as s:
        events = list(s.scalars(select(Event).where(Event.client_ref == ref).order_by(Event.occurred_at, Event.seq)))
        assert [e.status for e in events] == [PROCESSED] * 4
        assert sorted(evaluated) == sorted(e.event_id for e in events), "each evaluated exactly once"
        assert len(list(s.scalars(select(Task)))) == 1
