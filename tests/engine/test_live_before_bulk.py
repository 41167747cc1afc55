"""Live work goes before bulk work: a bulk hand-off (a file, an API batch) yields between its
group transactions once a webhook's clients wait, embedded and with rq workers, so the
webhook's task is held back by one group, not by the backlog (issue 20)."""

from __future__ import annotations

import threading
import uuid

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import func, select

from engine import processing
from engine.db import forget_databases, unit_of_work
from engine.events.models import PENDING, PROCESSED, Event
from engine.events.store import record_many
from engine.processing import dispatch, jobs, ticker
from tests import services
from tests.helpers import registered

BULK = [f"B{n:02d}" for n in range(12)]  # more than dispatch.LIVE_CLIENTS: bulk work
LIVE = ["L1"]


@pytest.fixture
def groups(database, monkeypatch):
    """Groups of 5 clients; yields the list of the groups processed, in order."""
    monkeypatch.setattr(processing, "CLIENTS_PER_TXN", 5)
    with unit_of_work(database) as s:
        record_many(s, [registered(ref) for ref in [*BULK, *LIVE]])
    seen: list[list[str]] = []
    original = processing._process_group

    def recording(db, refs):
        seen.append(list(refs))
        return original(db, refs)

    monkeypatch.setattr(processing, "_process_group", recording)
    return seen


def _status(database) -> dict[str, int]:
    with unit_of_work(database) as s:
        return dict(s.execute(select(Event.status, func.count()).group_by(Event.status)).all())


def _when_first_group_is_done(monkeypatch, then) -> None:
    """Call `then()` once, right after the first group's transaction (live work arrives)."""
    original, calls = processing._process_group, []

    def arriving(db, refs):
        result = original(db, refs)
        if not calls:
            calls.append(refs)
            then()
        return result

    monkeypatch.setattr(processing, "_process_group", arriving)


def test_bulk_work_returns_the_clients_it_did_not_start_when_asked_to_yield(database, groups):
    stats = processing.process_clients(database, BULK, should_yield=lambda: True)
    assert groups == [BULK[:5]]  # one group always: bulk work never starves
    assert stats.processed == 5 and stats.left == BULK[5:]
    assert _status(database) == {PROCESSED: 5, PENDING: 8}
    rest = processing.process_clients(database, stats.left)
    assert rest.processed == 7 and rest.left == []
    assert _status(database) == {PROCESSED: 12, PENDING: 1}


def test_embedded_a_webhook_arriving_during_bulk_work_is_done_after_one_group(database, groups, monkeypatch):
    background = ticker.Background(database, start=False)
    _when_first_group_is_done(monkeypatch, lambda: background.submit(LIVE))
    background.submit(BULK)
    for _ in range(3):
        background.run_once()
    assert groups == [BULK[:5], LIVE, BULK[5:10], BULK[10:]]
    assert _status(database) == {PROCESSED: 13}
    assert not background.live and not background.bulk


def test_embedded_live_work_waiting_goes_before_bulk_work_waiting(database, groups):
    background = ticker.Background(database, start=False)
    background.submit(BULK)
    background.submit(LIVE)
    background.run_once()
    assert groups == [LIVE]


@pytest.fixture
def rq_env(database, monkeypatch):
    """The job's configuration from the environment, as a worker has it; queues of its own."""
    if database.config.database_url == "sqlite://":
        pytest.skip("an in-memory database is not shared with the job")
    name = f"fxcrm-test-{uuid.uuid4().hex[:8]}"
    for key, value in {
        "FXCRM_DATABASE_URL": database.config.database_url,
        "FXCRM_REDIS_URL": services.require("redis"),
        "FXCRM_QUEUE_NAME": name,
        "FXCRM_JOB_BATCH": "100",
        "FXCRM_SECRET_KEY": "test",
    }.items():
        monkeypatch.setenv(key, value)
    forget_databases()
    distributed = jobs.get_database()
    yield distributed
    jobs.get_queue(distributed.config).empty()
    jobs.get_queue(distributed.config, bulk=True).empty()
    forget_databases()


def test_rq_a_bulk_job_yields_to_a_live_job_and_its_rest_goes_first_in_the_bulk_queue(
    database, groups, rq_env, monkeypatch
):
    cfg = rq_env.config
    _when_first_group_is_done(monkeypatch, lambda: dispatch.enqueue(rq_env, LIVE))
    dispatch.enqueue(rq_env, BULK, bulk=True)
    other = dispatch.enqueue(rq_env, ["B99"] * 11 + [f"X{n}" for n in range(10)], bulk=True)  # queued later
    live, bulk = jobs.get_queue(cfg), jobs.get_queue(cfg, bulk=True)
    SimpleWorker([live, bulk], connection=live.connection, serializer=JSONSerializer).work(
        burst=True, logging_level="WARNING"
    )
    # The bulk job's first group, then the live job, then the bulk job's rest (before the
    # bulk job queued after it), then that later job.
    assert groups[:4] == [BULK[:5], LIVE, BULK[5:10], BULK[10:]]
    assert groups[4][0] == "B99" and len(other) == 1
    assert _status(database) == {PROCESSED: 13}


def test_a_group_redone_client_by_client_also_yields_between_clients(database, groups, monkeypatch):
    """A group that rolled back is redone one client at a time (long for 100 clients):
    live work waiting is done between two of them, not after the whole group."""
    redone: list[str] = []
    original = processing.process_client

    def one(db, ref):
        redone.append(ref)
        return original(db, ref)

    def failing(db, refs):
        groups.append(list(refs))
        raise RuntimeError("the group rolls back")

    monkeypatch.setattr(processing, "_process_group", failing)
    monkeypatch.setattr(processing, "process_client", one)
    stats = processing.process_clients(database, BULK, should_yield=lambda: len(redone) >= 2)
    assert redone == BULK[:2] and stats.left == BULK[2:]
    assert _status(database) == {PROCESSED: 2, PENDING: 11}


def test_embedded_live_work_takes_urgent_turns_at_the_sqlite_write_lock(database, monkeypatch):
    """Live work's transactions go before the writers already queued (engine.db.WriteGate)."""
    gate = getattr(database.engine, "fxcrm_write_gate", None)
    if gate is None:
        pytest.skip("PostgreSQL has row locks, not one write lock: no gate")
    with unit_of_work(database) as s:
        record_many(s, [registered(ref) for ref in [*BULK, *LIVE]])
    urgent: dict[str, bool] = {}
    original = processing._process_group

    def noting(db, refs):
        urgent[refs[0][0]] = threading.get_ident() in gate._urgent
        return original(db, refs)

    monkeypatch.setattr(processing, "_process_group", noting)
    background = ticker.Background(database, start=False)
    background.submit(LIVE)
    background.submit(BULK)
    background.run_once()
    background.run_once()
    assert urgent == {"L": True, "B": False}
