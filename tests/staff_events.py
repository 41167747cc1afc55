"""Staff sign-ins as events about a staff member (engine.processing.subjects), for the tests
that process them: the rules of tests/rules/staff_sign_ins, a staff member, failed sign-ins
recorded without processing, and the order the subject evaluators saw events in."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from engine.db import unit_of_work
from engine.processing import subjects
from engine.projections import SUBJECT_EVALUATORS
from engine.rules import activation
from engine.rules.loader import load_dir
from engine.users import service as users

RULES = Path(__file__).resolve().parent / "rules" / "staff_sign_ins"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def activate_staff_rules(database) -> None:
    """Make the staff sign-in rules (not their rule tests) the active ruleset."""
    activation.forget()
    with unit_of_work(database) as s:
        files = {k: v for k, v in load_dir(RULES).items() if not k.endswith(".test.yaml")}
        activation.activate_files(s, files, actor="test")


def staff_member(database, email: str, password: str) -> str:
    """Activate the staff sign-in rules and create the finance user `email`; return its ref."""
    activate_staff_rules(database)
    with unit_of_work(database) as s:
        user, _ = users.create(s, email=email, role="finance", password=password)
        return user.ref


def record_failed_sign_ins(database, ref: str, minutes: list[int], username: str) -> None:
    """Record failed sign-ins `fail-<m>` at T0 + each minute, in the order given; process nothing."""
    with unit_of_work(database) as s:
        s.info.pop("database")  # no after-commit processing: the test processes
        for m in minutes:
            subjects.record(
                s,
                kind="staff",
                ref=ref,
                type_="staff.login_failed",
                event_id=f"fail-{m}",
                data={"username": username, "ip": "192.0.2.1", "reason": "wrong_password"},
                at=T0 + timedelta(minutes=m),
            )


@contextmanager
def subject_evaluations() -> Iterator[list[str]]:
    """The ids of the events the subject evaluators run for while inside, in order (from
    every thread, committed or not)."""
    seen: list[str] = []

    def note(session, event, subject):
        seen.append(event.event_id)

    SUBJECT_EVALUATORS.insert(0, note)
    try:
        yield seen
    finally:
        SUBJECT_EVALUATORS.remove(note)
