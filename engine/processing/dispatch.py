"""Hand committed events to processing: inline (embedded) or as rq jobs (distributed)."""

from __future__ import annotations

import logging

from engine.db import Database

log = logging.getLogger(__name__)


def chunks(items: list[str], size: int) -> list[list[str]]:
    """Split `items` into lists of at most `size`."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def schedule(database: Database, client_refs: list[str]) -> None:
    """Process these clients' pending events now (embedded) or enqueue them (distributed)."""
    if database.config.distributed:
        try:
            enqueue(database, client_refs)
        except Exception as exc:  # Redis down: the sweeper picks the events up later
            log.warning(
                "could not enqueue %d clients (%s); the sweeper will retry", len(client_refs), type(exc).__name__
            )
        return
    if database.background is not None:  # a serving web process: answer first
        database.background.submit(client_refs)
        return
    from engine import processing

    processing.process_clients(database, client_refs)


# A unit of work that touched more clients than this (a file, an API batch) is bulk work.
LIVE_CLIENTS = 10


def enqueue(
    database: Database, client_refs: list[str], *, bulk: bool | None = None, at_front: bool = False
) -> list[str]:
    """Enqueue one rq job per batch of clients (live or bulk queue); return the job ids.

    All of a hand-off's jobs go to Redis in one pipeline (`Queue.enqueue_many`): one round
    trip for a file's or an API batch's clients, not two per job. `at_front`: before the
    queue's other jobs, in the same order (the rest of a bulk job that yielded)."""
    from rq import Queue

    from engine.processing import jobs

    if bulk is None:
        bulk = len(client_refs) > LIVE_CLIENTS
    queue = jobs.get_queue(database.config, bulk=bulk)
    prepared = [
        Queue.prepare_data(
            jobs.process_clients,
            args=(batch,),
            retry=jobs.retry_policy(),
            timeout=600,
            result_ttl=300,
            failure_ttl=7 * 86400,
            at_front=at_front,
        )
        for batch in chunks(sorted(client_refs), database.config.job_batch)
    ]
    if at_front:  # each is pushed to the front in turn: push the last first
        prepared.reverse()
    return [job.id for job in queue.enqueue_many(prepared)] if prepared else []
