"""Distributed mode: a staff sign-in's event goes to a worker as an rq job that carries the
staff member's ref (never the event), and a burst worker processes it (PostgreSQL, Redis)."""

from __future__ import annotations

from sqlalchemy import select

from engine.db import unit_of_work
from engine.events.models import PENDING, PROCESSED, Event
from engine.processing import jobs
from engine.users import service as users
from tests.engine.test_distributed import dist, redis_url, start_worker  # noqa: F401 (fixtures)

EMAIL = "dealer@broker.test"


def _statuses(db) -> list[str]:
    with unit_of_work(db) as s:
        return list(s.scalars(select(Event.status).where(Event.subject == "staff")))


def test_a_staff_sign_in_is_a_job_a_worker_processes(dist):  # noqa: F811
    with unit_of_work(dist) as s:
        user, _ = users.create(s, email=EMAIL, role="finance", password="a long enough password 1")
        ref = user.ref
    with unit_of_work(dist) as s:
        assert users.authenticate(s, EMAIL, "not the password", ip="192.0.2.4") is None
    assert _statuses(dist) == [PENDING]  # distributed: not processed in the web process
    (job,) = jobs.get_queue(dist.config).get_jobs()
    assert (job.func_name, list(job.args)) == ("engine.processing.subjects.process_subjects_job", ["staff", [ref]])
    proc = start_worker(dist.config, "--burst")
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()[-2000:]
    assert _statuses(dist) == [PROCESSED]
