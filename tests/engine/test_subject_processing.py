"""Events about a staff member (engine.processing.subjects): in order of occurred_at under a
lock on the users row, each once; a replay or a killed worker duplicates and loses nothing;
the clients' path never takes them (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from engine import processing
from engine.db import unit_of_work
from engine.events.models import PENDING, PROCESSED, Event
from engine.events.store import ensure_clients, list_pending_clients
from engine.processing import subjects
from engine.projections import SUBJECT_EVALUATORS
from engine.rules.models import RuleAction
from engine.tasks.models import Task
from tests.staff_events import record_failed_sign_ins, staff_member, subject_evaluations

EMAIL = "dealer@broker.test"


def _staff(database) -> str:
    return staff_member(database, EMAIL, "a long enough password 1")


def _record(database, ref: str, minutes: list[int]) -> None:
    record_failed_sign_ins(database, ref, minutes, EMAIL)


@pytest.fixture
def seen():
    with subject_evaluations() as order:
        yield order


def test_events_are_processed_in_occurred_at_order_not_arrival(database, seen):
    ref = _staff(database)
    _record(database, ref, [30, 0, 59, 10])  # arrival order differs from occurrence
    stats = subjects.process_subject(database, "staff", ref)
    assert (stats.processed, stats.failed, stats.parked) == (4, 0, 0)
    assert seen == ["fail-0", "fail-10", "fail-30", "fail-59"]
    with unit_of_work(database) as s:
        (task,) = s.scalars(select(Task))
        # the third failure by occurrence (10 min) opened it: count within 1h >= 3 at fail-30
        assert task.trigger_key.startswith("fxcrm.app/fail-30:staff-brute-force:")


def test_a_replay_creates_nothing_twice(database, seen):
    ref = _staff(database)
    _record(database, ref, [0, 10, 20])
    subjects.process_subject(database, "staff", ref)
    with unit_of_work(database) as s:  # as `fxcrm events replay` would: everything pending again
        s.execute(update(Event).where(Event.subject == "staff").values(status=PENDING, processed_at=None))
    assert subjects.process_subject(database, "staff", ref).processed == 3
    with unit_of_work(database) as s:
        assert len(list(s.scalars(select(Task)))) == 1
        assert len(list(s.scalars(select(RuleAction)))) == 1
    assert seen == ["fail-0", "fail-10", "fail-20"] * 2


def test_a_worker_killed_mid_transaction_loses_nothing(database, seen):
    ref = _staff(database)
    _record(database, ref, [0, 10, 20])

    def die_at_the_last(session, event, subject):  # not an Exception: nothing catches it
        if event.event_id == "fail-20":
            raise KeyboardInterrupt("worker killed")

    SUBJECT_EVALUATORS.append(die_at_the_last)
    try:
        with pytest.raises(KeyboardInterrupt):
            subjects.process_subject(database, "staff", ref)
    finally:
        SUBJECT_EVALUATORS.remove(die_at_the_last)
    with unit_of_work(database) as s:  # its transaction rolled back: all pending, no task
        assert {e.status for e in s.scalars(select(Event).where(Event.subject == "staff"))} == {PENDING}
        assert list(s.scalars(select(Task))) == []
    assert subjects.process_subject(database, "staff", ref).processed == 3
    with unit_of_work(database) as s:
        assert {e.status for e in s.scalars(select(Event).where(Event.subject == "staff"))} == {PROCESSED}
        assert len(list(s.scalars(select(Task)))) == 1


def test_the_clients_path_never_takes_a_staff_members_events(database):
    ref = _staff(database)
    _record(database, ref, [0, 10, 20])
    with unit_of_work(database) as s:
        assert ref not in list_pending_clients(s)
        ensure_clients(s, {ref})  # even a client whose ref is the staff member's
    processing.process_clients(database, [ref])
    processing.process_client(database, ref)
    with unit_of_work(database) as s:
        assert {e.status for e in s.scalars(select(Event).where(Event.subject == "staff"))} == {PENDING}
        assert subjects.pending_subjects(s) == [("staff", ref)]
    subjects.process_due(database)  # the sweep
    with unit_of_work(database) as s:
        assert {e.status for e in s.scalars(select(Event).where(Event.subject == "staff"))} == {PROCESSED}


def test_recording_again_adds_nothing_and_a_client_event_type_is_refused(database):
    ref = _staff(database)
    _record(database, ref, [0])
    _record(database, ref, [0])
    with unit_of_work(database) as s:
        assert len(list(s.scalars(select(Event).where(Event.subject == "staff")))) == 1
        with pytest.raises(ValueError, match="not an event about a staff"):
            subjects.record(s, kind="staff", ref=ref, type_="client.login_failed", event_id="x", data={})
