"""The hand-off to rq workers: one Redis round trip for all of a batch's jobs."""

from __future__ import annotations

import pytest
import redis.client

from engine import config as config_mod
from engine.processing import dispatch, jobs
from tests import services
from tests.helpers import own_queues


@pytest.fixture
def queued():
    """A database config in distributed mode with queues of its own, emptied afterwards."""
    with own_queues(
        config_mod.Config(database_url="sqlite://", redis_url=services.require("redis"), job_batch=10)
    ) as db:
        yield db


def test_a_hand_off_enqueues_all_its_jobs_in_one_round_trip(queued, monkeypatch):
    trips = []
    command, execute = redis.client.Redis.execute_command, redis.client.Pipeline.execute
    monkeypatch.setattr(
        redis.client.Redis, "execute_command", lambda self, *a, **k: trips.append(a[0]) or command(self, *a, **k)
    )
    monkeypatch.setattr(
        redis.client.Pipeline, "execute", lambda self, *a, **k: trips.append("pipeline") or execute(self, *a, **k)
    )

    refs = [f"K{n:03d}" for n in range(25)]
    ids = dispatch.enqueue(queued, list(reversed(refs)))

    assert len(ids) == 3  # 25 clients in jobs of 10
    assert trips.count("pipeline") == 1 and len(trips) <= 2  # was two pipelines per job
    queue = jobs.get_queue(queued.config, bulk=True)
    found = [queue.fetch_job(job_id) for job_id in queue.job_ids]
    assert [job.args[0] for job in found] == [refs[:10], refs[10:20], refs[20:]]
    assert {(job.func_name, job.timeout, job.result_ttl, job.failure_ttl, job.retries_left) for job in found} == {
        ("engine.processing.jobs.process_clients", 600, 300, 7 * 86400, 5)
    }


def test_warm_up_freezes_what_the_worker_keeps_for_its_life(database):
    """After warm-up (handlers loaded, the ruleset compiled) the worker's objects are
    frozen: the collector's full passes do not walk them for every group."""
    import gc

    gc.unfreeze()
    try:
        jobs.warm_up(database.config)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
