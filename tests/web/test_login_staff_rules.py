"""Staff sign-ins through the real app are rule events about the staff member (SQLite and
PostgreSQL; processed in-process after each sign-in's commit): three wrong passwords
within an hour open one task about that staff member; an admin from a new address is checked."""

from __future__ import annotations

from sqlalchemy import select

from engine.db import unit_of_work
from engine.events.models import Event
from engine.tasks.models import Task
from engine.users.models import User
from tests.staff_events import activate_staff_rules as _activate
from tests.web.conftest import PASSWORD, csrf, email


def _sign_in(app, role: str, password: str, address: str = "198.51.100.7"):
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    return c.post("/login", data={"email": email(role), "password": password, "csrf_token": csrf(c)})


def _tasks(database) -> list[Task]:
    with unit_of_work(database) as s:
        rows = list(s.scalars(select(Task).order_by(Task.id)))
        s.expunge_all()
        return rows


def _user_id(database, role: str) -> int:
    with unit_of_work(database) as s:
        return s.scalar(select(User.id).where(User.email == email(role)))


def test_three_wrong_staff_passwords_open_one_task_about_the_staff_member(app, database, users, as_role):
    _activate(database)
    for _ in range(2):
        assert _sign_in(app, "support", "not the password").status_code == 200
    assert _tasks(database) == [], "two failures are not yet a pattern"
    assert _sign_in(app, "support", "not the password").status_code == 200
    (task,) = _tasks(database)
    assert task.title == "Possible brute force on staff account support@example.com"
    assert (task.queue, task.priority, task.rule_id, task.client_ref) == (
        "compliance",
        "high",
        "staff-brute-force",
        None,
    )
    assert (task.subject_kind, task.subject_id) == ("staff", str(_user_id(database, "support")))
    assert task.description == "Last attempt from 198.51.100.7 (wrong_password)"
    assert _sign_in(app, "support", "not the password").status_code == 200
    assert len(_tasks(database)) == 1, "the open task takes the next failures"
    page = as_role("compliance").get(f"/tasks/{task.id}")  # a task without a client shows
    assert page.status_code == 200 and "Possible brute force on staff account" in page.get_data(as_text=True)
    ref = f"staff:{_user_id(database, 'support')}"
    with unit_of_work(database) as s:
        events = list(s.scalars(select(Event).where(Event.type == "staff.login_failed").order_by(Event.seq)))
        assert len(events) == 4
        assert {(e.subject, e.client_ref, e.status) for e in events} == {("staff", ref, "processed")}
        # nothing secret: the e-mail, the address and the reason only
        assert events[0].data == {"username": "support@example.com", "ip": "198.51.100.7", "reason": "wrong_password"}


def test_an_unknown_email_records_no_staff_event(app, database, users):
    _activate(database)
    c = app.test_client()
    c.post("/login", data={"email": "nobody@example.com", "password": "x", "csrf_token": csrf(c)})
    with unit_of_work(database) as s:
        assert s.scalar(select(Event.seq).where(Event.subject == "staff")) is None


def test_an_admin_signing_in_from_a_new_address_is_checked_once(app, database, users):
    _activate(database)
    assert _sign_in(app, "admin", PASSWORD, "203.0.113.5").status_code == 302  # the baseline
    assert _sign_in(app, "admin", PASSWORD, "203.0.113.5").status_code == 302  # known
    assert _sign_in(app, "admin", PASSWORD, "198.51.100.7").status_code == 302  # new
    assert _sign_in(app, "admin", PASSWORD, "198.51.100.7").status_code == 302  # known now
    assert _sign_in(app, "support", PASSWORD, "203.0.113.77").status_code == 302  # a first sign-in
    assert _sign_in(app, "support", PASSWORD, "203.0.113.78").status_code == 302  # new, not an admin
    (task,) = _tasks(database)
    assert task.title == "Admin admin@example.com signed in from a new address 198.51.100.7"
    with unit_of_work(database) as s:
        signed = list(s.scalars(select(Event).where(Event.type == "staff.logged_in").order_by(Event.seq)))
        assert [e.data["new_ip"] for e in signed] == [False, False, True, False, False, True]
