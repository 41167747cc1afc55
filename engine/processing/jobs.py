"""rq jobs and the sweeper for distributed mode. Jobs carry client refs, never events.

Jobs are serialized as JSON (rq's JSONSerializer), not pickle: a job in Redis is plain
data that names a function of this module and its arguments, so whoever can write to
Redis cannot make a worker run arbitrary code by unpickling."""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from datetime import timedelta

from engine import config as config_mod
from engine.db import forget_databases, get_database, unit_of_work
from engine.values import utcnow

log = logging.getLogger(__name__)
SWEEP_LOCK = "fxcrm:sweeper:{queue}"

# A forked child (rq's scheduler) must not reuse the parent's database connections.
os.register_at_fork(after_in_child=lambda: forget_databases_in_child())


def forget_databases_in_child() -> None:
    from engine import db

    for database in db._databases.values():
        database.engine.dispose(close=False)
    db._databases.clear()


def redis_connection(cfg: config_mod.Config):
    """Return a Redis client for the configured URL."""
    from redis import Redis

    return Redis.from_url(cfg.redis_url, socket_connect_timeout=2, socket_timeout=10)


def get_queue(cfg: config_mod.Config, *, bulk: bool = False, connection=None):
    """Return the rq queue for `cfg`: live deliveries, or (`bulk`) files, batches and sweeps.

    Workers take from the live queue first, so a webhook's client does not wait behind
    a file of a million events. `connection`: a Redis client to share (a running job's).
    """
    from rq import Queue
    from rq.serializers import JSONSerializer

    return Queue(queue_name(cfg, bulk=bulk), connection=connection or redis_connection(cfg), serializer=JSONSerializer)


def queue_name(cfg: config_mod.Config, *, bulk: bool = False) -> str:
    return cfg.queue_name + ("-bulk" if bulk else "")


def retry_policy():
    """Retry infrastructure failures (database restarts) with back-off."""
    from rq import Retry

    return Retry(max=5, interval=[2, 5, 15, 30, 60])


def process_clients(client_refs: list[str]) -> dict:
    """Job: process the pending events of these clients (safe to run twice).

    A job of the bulk queue yields to live work: once a live job waits, the clients it has
    not done go back to the front of the bulk queue as a new job, and the worker, which
    takes from the live queue first, does the live job next."""
    from engine import processing
    from engine.processing import dispatch

    database = get_database()
    live = _live_queue_if_bulk(database.config)
    stats = processing.process_clients(database, client_refs, should_yield=(lambda: _waiting(live)) if live else None)
    if stats.left:
        dispatch.enqueue(database, stats.left, bulk=True, at_front=True)
    return {"processed": stats.processed, "failed": stats.failed, "parked": stats.parked, "yielded": len(stats.left)}


def _live_queue_if_bulk(cfg: config_mod.Config):
    """The live queue, when the running job came from the bulk queue; else None."""
    from rq import get_current_job

    job = get_current_job()
    if job is None or job.origin != queue_name(cfg, bulk=True):
        return None
    return get_queue(cfg, connection=job.connection)  # the job's own Redis client


def _waiting(queue) -> bool:
    """Whether a job waits in `queue` (Redis unreachable: go on with the bulk job)."""
    try:
        return queue.count > 0
    except Exception:
        return False


def run_sweeps() -> None:
    """Job: the domains' sweeps: due timers, provider read-backs, task leases, queued e-mail."""
    from engine.processing import ticker

    ticker.run_sweeps(get_database())


def sweep_once(cfg: config_mod.Config) -> int:
    """Enqueue clients whose events were missed (Redis was down, a job was lost)."""
    from engine.processing import dispatch
    from engine.events.store import list_pending_clients

    database = get_database(cfg)
    with unit_of_work(database) as session:
        refs = list_pending_clients(
            session, limit=10000, received_before=utcnow() - timedelta(seconds=cfg.sweep_after_seconds)
        )
    if refs:
        dispatch.enqueue(database, refs, bulk=True)
    queue = get_queue(cfg)
    queue.enqueue(run_sweeps, job_timeout=600, result_ttl=60)
    return len(refs)


def sweeper_loop(cfg: config_mod.Config, stop: threading.Event | None = None, parent: int | None = None) -> None:
    """Every ticker interval, one worker (elected by a Redis lock) sweeps."""
    interval = max(cfg.ticker_seconds, 1.0)
    stop = stop or threading.Event()
    while not stop.wait(interval):
        if parent is not None and os.getppid() != parent:
            return  # the worker is gone: do not sweep for a dead worker
        try:
            lock = redis_connection(cfg).set(
                SWEEP_LOCK.format(queue=cfg.queue_name), "1", nx=True, ex=max(int(interval), 1)
            )
            if lock:
                count = sweep_once(cfg)
                if count:
                    log.info("sweeper re-enqueued %d clients", count)
        except Exception as exc:  # keep sweeping through Redis or database restarts
            log.warning("sweep failed: %s", type(exc).__name__)


def warm_up(cfg: config_mod.Config) -> None:
    """Load the handlers and compile the active ruleset once, before the first job.

    Jobs run in the worker process itself, so every job finds them ready; a later
    activation is still noticed, because each transaction reads the active version.
    """
    from engine import processing
    from engine.plugins import import_optional

    processing.load_handlers(cfg.plugins)
    activation = import_optional("engine.rules.activation")
    if activation is not None:
        try:
            with unit_of_work(get_database(cfg)) as session:
                activation.current(session)
        except Exception as exc:  # the database may be down; jobs will compile it then
            log.warning("could not preload the active ruleset: %s", type(exc).__name__)
    forget_databases()
    # What is loaded now (modules, mappers, the compiled ruleset, the registries) lives as
    # long as the worker: frozen, the collector's full passes no longer walk it (they cost
    # about 4 % of a set-based run's CPU walking it; issue 20, step 5). A ruleset activated
    # later is collected as usual; the one compiled here stays, once.
    gc.collect()
    gc.freeze()


def run_worker(cfg: config_mod.Config, *, burst: bool = False, sweep: bool = True) -> None:
    """Run an rq worker with the scheduler, plus the sweeper in a process of its own.

    The sweeper is a spawned process, not a thread: rq's scheduler is a forked process,
    and a fork taken while another thread holds a lock (logging, a connection pool) can
    leave the child blocked forever.
    """
    import multiprocessing

    warm_up(cfg)
    sweeper = None
    if sweep and not burst:
        sweeper = multiprocessing.get_context("spawn").Process(
            target=sweeper_loop, args=(cfg, None, os.getpid()), daemon=True, name="fxcrm-sweeper"
        )
        sweeper.start()
    try:
        _work_through_redis_outages(cfg, burst)
    finally:
        if sweeper is not None:
            sweeper.terminate()


def _work_through_redis_outages(cfg: config_mod.Config, burst: bool) -> None:
    """Run the rq worker; when Redis goes away, wait for it and start again."""
    from redis.exceptions import ConnectionError as RedisDown
    from redis.exceptions import TimeoutError as RedisTimeout
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    delay = 1.0
    while True:
        try:
            # No work-horse fork per job: a job is a few client refs and takes milliseconds,
            # while a fork, new database connections and a cold ruleset cache cost far
            # more. Killing the worker kills its job; the sweeper re-enqueues its clients.
            worker = SimpleWorker(
                [get_queue(cfg), get_queue(cfg, bulk=True)], connection=redis_connection(cfg), serializer=JSONSerializer
            )
            worker.work(with_scheduler=True, burst=burst, logging_level="WARNING")
            return
        except (RedisDown, RedisTimeout) as exc:
            if burst:
                raise
            log.warning("lost Redis (%s); reconnecting in %.0f s", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
