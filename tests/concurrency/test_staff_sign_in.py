"""A staff sign-in with the old password racing an admin's password reset (PostgreSQL);
and staff sign-ins as rule events processed by two workers at once.

The sign-in checks the password before it locks the user's row; if the reset commits in
between, the row it locks carries the new password and the new session generation. Without
a second check the old password would open a session the reset was meant to end.
"""

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.events.models import PROCESSED, Event
from engine.processing import subjects
from engine.tasks.models import Task
from engine.users import service as users
from tests.concurrency.race import ROUNDS, together
from tests.staff_events import record_failed_sign_ins, staff_member, subject_evaluations

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

ARRIVAL = [50, 0, 30, 10, 40, 20]  # minutes after staff_events.T0, in the order they are recorded


@pytest.fixture
def evaluated():
    with subject_evaluations() as seen:
        yield seen


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_workers_process_a_staff_members_events_once_each_in_order(pg_database, evaluated, round_):
    ref = staff_member(pg_database, EMAIL, PASSWORD)
    record_failed_sign_ins(pg_database, ref, ARRIVAL, EMAIL)  # recorded only: the two workers below process them

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
    ref = staff_member(pg_database, EMAIL, PASSWORD)

    def wrong():  # as the login page: authenticate, commit, then process after the commit
        with unit_of_work(pg_database) as s:
            return users.authenticate(s, EMAIL, "not the password", ip="192.0.2.8")

    assert together(*[wrong] * 4) == [None] * 4
    with unit_of_work(pg_database) as s:
        events = list(s.scalars(select(Event).where(Event.client_ref == ref).order_by(Event.occurred_at, Event.seq)))
        assert [e.status for e in events] == [PROCESSED] * 4
        assert sorted(evaluated) == sorted(e.event_id for e in events), "each evaluated exactly once"
        assert len(list(s.scalars(select(Task)))) == 1
