"""Task counters: counts() read from them always equals counting the tasks."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from engine.db import unit_of_work
from engine.tasks import bulk, counters, service
from engine.tasks.models import OPEN_STATUSES, Task, TaskCount, TaskDueCount
from engine.tasks.query import counts
from engine.values import clock, parse_datetime

NOW = parse_datetime("2026-11-02T12:20:00Z")
QUEUES = ("compliance", "finance", "support")
STAFF = ("ann@x.io", "bob@x.io", "cy@x.io")


def brute_counts(s, queues, *, user, now) -> dict:
    """The inbox counts the slow way: COUNT over the tasks."""
    where = (Task.status.in_(OPEN_STATUSES), Task.queue.in_(queues))
    per_queue = dict(s.execute(select(Task.queue, func.count()).where(*where).group_by(Task.queue)).all())
    overdue = dict(
        s.execute(select(Task.queue, func.count()).where(*where, Task.due_at < now).group_by(Task.queue)).all()
    )
    return {
        "queues": {q: per_queue.get(q, 0) for q in queues},
        "overdue_by_queue": {q: overdue.get(q, 0) for q in queues},
        "mine": s.scalar(select(func.count()).where(where[0], Task.assignee == user)),
        "unassigned": s.scalar(select(func.count()).where(*where, Task.assignee.is_(None))),
        "overdue": sum(overdue.values()),
    }


def assert_same(s, rng: random.Random) -> None:
    """counts() equals the brute-force count for a random view, user and moment."""
    queues = tuple(rng.sample(QUEUES, rng.randint(1, 3)))
    user = rng.choice(STAFF + (None,))
    now = NOW + timedelta(minutes=rng.randint(-200, 200))
    expected = brute_counts(s, queues, user=user, now=now)
    if user is None:
        expected["mine"] = 0
    assert counts(s, queues, user=user, now=now) == expected, (queues, user, now)


def _due(rng: random.Random):
    # Around now, so tasks fall in past hours, in the current hour and in later ones.
    return None if rng.random() < 0.2 else NOW + timedelta(minutes=rng.randint(-300, 300))


def _create(s, rng):
    service.create(
        s, queue=rng.choice(QUEUES), title="t", due_at=_due(rng), priority=rng.choice(("low", "normal", "urgent"))
    )


def _on_task(s, rng):
    ids = s.scalars(select(Task.id)).all()
    if not ids:
        return _create(s, rng)
    task, actor = s.get(Task, rng.choice(ids)), rng.choice(STAFF)
    action = rng.choice(("claim", "release", "assign", "wait", "resume", "resolve", "dismiss", "queue", "due"))
    if action == "claim":
        service.claim(s, task, actor=actor)
    elif action == "release":
        service.release(s, task, actor=actor, force=True)
    elif action == "assign":
        service.assign(s, task, actor=actor, assignee=rng.choice(STAFF))
    elif action == "wait":
        service.wait(s, task, actor=actor, waiting_for="documents")
    elif action == "resume":
        service.resume(s, task, actor=actor)
    elif action == "resolve":
        service.resolve(s, task, actor=actor, resolution="ok")
    elif action == "dismiss":
        service.dismiss(s, task, actor=actor, reason="no need")
    elif action == "queue":  # no service call moves a task yet; the ORM path must count it
        task.queue = rng.choice(QUEUES)
    else:
        task.due_at = _due(rng)


def _bulk(s, rng):
    ids = s.scalars(select(Task.id)).all()
    op = rng.choice(bulk.OPERATIONS)
    params = {
        "assign": {"assignee": rng.choice(STAFF)},
        "resolve": {"resolution": "ok"},
        "dismiss": {"reason": "dup"},
        "release": {"force": True},
    }.get(op, {})
    bulk.run(
        s,
        ids=rng.sample(ids, min(len(ids), 5)) or [1],
        op=op,
        actor=rng.choice(STAFF),
        visible=lambda t: True,
        **params,
    )


def _expire(s, rng):
    service.expire_leases(s, now=NOW + timedelta(hours=1))


def _task_row(rng, statuses: tuple, title: str) -> dict:
    """A task row as a loader writing with Core inserts it: random queue, status, due date and assignee."""
    return {
        "queue": rng.choice(QUEUES),
        "status": rng.choice(statuses),
        "priority": "normal",
        "priority_rank": 20,
        "title": title,
        "created_at": NOW,
        "updated_at": NOW,
        "due_at": _due(rng),
        "assignee": rng.choice(STAFF + (None,)),
    }


def _core_insert(s, rng):
    # What a loader writing tasks with Core does: insert, then apply its own difference.
    rows = [_task_row(rng, ("open", "waiting", "done"), "bulk") for _ in range(rng.randint(1, 4))]
    s.execute(insert(Task), rows)
    counters.apply(s.connection(), counters.deltas_for_rows(rows))


STEPS = (_create, _create, _on_task, _on_task, _on_task, _on_task, _bulk, _expire, _core_insert)


class Undo(Exception):
    """Raised to roll a transaction or savepoint back."""


def _steps(s, rng):
    for _ in range(rng.randint(1, 4)):
        try:
            if rng.random() < 0.15:  # a savepoint that rolls back (as a failed event does)
                with s.begin_nested():
                    rng.choice(STEPS)(s, rng)
                    s.flush()
                    raise Undo
            elif rng.random() < 0.1:  # a savepoint that is released
                with s.begin_nested():
                    rng.choice(STEPS)(s, rng)
            else:
                rng.choice(STEPS)(s, rng)
        except (service.TaskError, Undo):
            pass
        if rng.random() < 0.3:  # mid-transaction: counts() sees its own changes
            assert_same(s, rng)


@pytest.mark.parametrize("seed", [1, 2])
def test_counts_equal_counting_tasks_over_random_changes(database, seed, caplog):
    clock.freeze(NOW)
    rng = random.Random(seed)
    for _ in range(60):
        try:
            with unit_of_work(database) as s:
                _steps(s, rng)
                if rng.random() < 0.1:
                    raise Undo  # the whole transaction rolls back
        except Undo:
            pass
        with unit_of_work(database) as s:
            assert_same(s, rng)
    with database.engine.connect() as conn:
        check = counters.rebuild(conn, write=False)
    assert check.wrong == [] and check.open_tasks > 0
    assert [r.message for r in caplog.records if r.name == counters.__name__] == []


def test_a_session_closed_without_commit_counts_nothing(database, caplog):
    clock.freeze(NOW)
    with database.sessions() as s:
        service.create(s, queue="finance", title="never committed")
        assert counts(s, ("finance",), now=NOW)["queues"] == {"finance": 1}
    with unit_of_work(database) as s:
        assert counts(s, ("finance",), now=NOW)["queues"] == {"finance": 0}
    assert [r.message for r in caplog.records if r.name == counters.__name__] == []


def test_a_root_commit_with_a_savepoint_open_is_reported(database, caplog):
    clock.freeze(NOW)
    with database.sessions() as s:
        root = s.begin()
        s.begin_nested()
        service.create(s, queue="finance", title="counted late")
        root.commit()
    assert "run `fxcrm tasks recount`" in caplog.text
    with database.engine.begin() as conn:
        assert len(counters.rebuild(conn).wrong) == 1  # and the recount puts it right
    with unit_of_work(database) as s:
        assert counts(s, ("finance",), now=NOW)["queues"] == {"finance": 1}


def _open_task(database, **kw):
    with unit_of_work(database) as s:
        task, _ = service.create(s, queue="finance", title="t", **kw)
        return task.id


def test_zero_rows_are_deleted_and_overdue_is_exact_at_the_hour(database):
    clock.freeze(NOW)
    due = parse_datetime("2026-11-02T11:00:00Z")  # exactly on an hour
    task_id = _open_task(database, due_at=due)
    with unit_of_work(database) as s:
        hour = counters.due_hour(due)
        assert s.scalar(select(TaskDueCount.n).where(TaskDueCount.due_hour == hour)) == 1
        for now, overdue in (
            (due, 0),
            (due + timedelta(microseconds=1), 1),
            (due - timedelta(microseconds=1), 0),
            (NOW, 1),
        ):
            assert counts(s, ("finance",), now=now)["overdue"] == overdue, now
        service.dismiss(s, s.get(Task, task_id), actor="ann@x.io", reason="dup")
    with unit_of_work(database) as s:
        assert s.scalar(select(func.count()).select_from(TaskDueCount)) == 0
        assert s.scalar(select(func.count()).select_from(TaskCount)) == 0


def test_recount_finds_and_fixes_wrong_counters(database):
    clock.freeze(NOW)
    _open_task(database, due_at=NOW)
    _open_task(database)
    with database.engine.begin() as conn:
        conn.execute(TaskCount.__table__.update().values(n=7))
        conn.execute(TaskDueCount.__table__.delete())
    with database.engine.begin() as conn:
        found = counters.rebuild(conn)
    assert found.open_tasks == 2 and found.rows == 2
    hour = counters.due_hour(NOW)
    assert found.wrong == [
        "queue/assignee ('finance', ''): 7 counted, 2 open",
        f"queue/due hour ('finance', {hour}): 0 counted, 1 open",
    ]
    with database.engine.begin() as conn:
        assert counters.rebuild(conn).wrong == []
    with unit_of_work(database) as s:
        assert counts(s, ("finance",), now=NOW + timedelta(hours=2))["overdue"] == 1


def test_a_change_over_a_stale_copy_is_refused_and_counts_stay_right(pg_database):
    """Session A loaded the task before B closed it: A's later change re-reads the locked
    row, finds it closed and is refused (it used to write over B's close); counts hold."""
    clock.freeze(NOW)
    task_id = _open_task(pg_database, due_at=NOW)
    a = pg_database.sessions()
    stale = a.get(Task, task_id)
    with unit_of_work(pg_database) as b:
        service.resolve(b, b.get(Task, task_id), actor="bob@x.io", resolution="done")
    try:
        with pytest.raises(service.TaskConflict, match="already done by bob@x.io"):
            service.assign(a, stale, actor="ann@x.io", assignee="ann@x.io")
    finally:
        a.rollback()
        a.close()
    with unit_of_work(pg_database) as s:
        assert counts(s, ("finance",), user="ann@x.io", now=NOW) == brute_counts(
            s, ("finance",), user="ann@x.io", now=NOW
        )
        assert s.get(Task, task_id).status == "done"


def test_a_savepoint_rolled_back_forgets_the_task_it_touched(pg_database):
    """A's savepoint touched the task and rolled back (its lock went too); B then closed it."""
    clock.freeze(NOW)
    task_id = _open_task(pg_database)
    a = pg_database.sessions()
    try:
        with a.begin_nested():
            service.claim(a, a.get(Task, task_id), actor="ann@x.io")
            a.flush()
            raise Undo
    except Undo:
        pass
    with unit_of_work(pg_database) as b:  # would wait here if A still held the row
        service.dismiss(b, b.get(Task, task_id), actor="bob@x.io", reason="dup")
    a.commit()
    a.close()
    with unit_of_work(pg_database) as s:
        assert counts(s, ("finance",), now=NOW)["queues"] == {"finance": 0}
        assert counters.rebuild(s.connection(), write=False).wrong == []


def test_concurrent_transactions_lose_no_count(pg_database):
    """Four threads change tasks of the same queues at once; no increment is lost."""
    import threading
    from sqlalchemy.exc import OperationalError

    clock.freeze(NOW)
    for n in range(12):
        _open_task(pg_database, due_at=NOW - timedelta(hours=n % 3))
    failures: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(25):
            try:
                with unit_of_work(pg_database) as s:
                    for _ in range(rng.randint(1, 3)):
                        try:
                            rng.choice((_create, _on_task, _on_task, _bulk))(s, rng)
                        except service.TaskError:
                            pass
            except OperationalError as exc:
                # Two transactions updating the same tasks in opposite orders (task
                # rows, not counters: those are written once, at commit, in key order).
                if "deadlock" not in str(exc) or "counts" in str(exc):
                    failures.append(exc)
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                failures.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with unit_of_work(pg_database) as s:
        for user in STAFF:
            assert counts(s, QUEUES, user=user, now=NOW) == brute_counts(s, QUEUES, user=user, now=NOW)
        assert counters.rebuild(s.connection(), write=False).wrong == []


def test_recount_command_checks_then_rebuilds(runner, database):
    clock.freeze(NOW)
    _open_task(database, due_at=NOW)
    ok = runner.invoke(["tasks", "recount", "--check"])
    assert ok.exit_code == 0, ok.output
    assert ok.output == "task counters: 1 open tasks in 2 counter rows; 0 wrong\n"
    with database.engine.begin() as conn:
        conn.execute(TaskCount.__table__.delete())
    bad = runner.invoke(["tasks", "recount", "--check"])
    assert bad.exit_code == 1
    assert bad.output == (
        "wrong: queue/assignee ('finance', ''): 0 counted, 1 open\n"
        "task counters: 1 open tasks in 2 counter rows; 1 wrong "
        "(left as they are)\n"
    )
    fixed = runner.invoke(["tasks", "recount"])
    assert fixed.exit_code == 0 and fixed.output.endswith("1 wrong (rebuilt)\n")
    assert runner.invoke(["tasks", "recount", "--check"]).exit_code == 0


def test_the_migration_counts_the_tasks_already_there(fresh_url):
    from sqlalchemy import create_engine

    from engine.migrate import upgrade

    upgrade(fresh_url, "1000_mt5_cursors")
    rng = random.Random(5)
    rows = [_task_row(rng, ("open", "in_progress", "done"), "old") for _ in range(200)]
    engine = create_engine(fresh_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(Task), rows)
        upgrade(fresh_url, "1010_task_counts")
        with engine.connect() as conn:
            from sqlalchemy.orm import Session

            with Session(bind=conn) as s:
                assert counts(s, QUEUES, user="ann@x.io", now=NOW) == brute_counts(s, QUEUES, user="ann@x.io", now=NOW)
            check = counters.rebuild(conn, write=False)
        assert check.wrong == [] and check.open_tasks == sum(r["status"] != "done" for r in rows)
    finally:
        engine.dispose()


def test_changes_over_several_statements_all_land_and_rows_at_zero_go(database):
    from collections import Counter

    rows = [
        {"queue": QUEUES[n % 3], "status": "open", "due_at": NOW + timedelta(hours=n)}
        for n in range(2 * counters.CHUNK + 7)
    ]  # more rows than one statement carries
    added = counters.deltas_for_rows(rows[:-1])
    taken = counters.Deltas(
        Counter({k: -d for k, d in added.by_assignee.items()}), Counter({k: -d for k, d in added.by_due.items()})
    )
    with database.engine.begin() as conn:
        counters.apply(conn, counters.deltas_for_rows(rows))
        assert sum(counters.stored(conn).by_due.values()) == len(rows)
        counters.apply(conn, taken)  # all but the last row away again
        queue, hour = rows[-1]["queue"], counters.due_hour(rows[-1]["due_at"])
        assert counters.stored(conn) == counters.Deltas(Counter({(queue, ""): 1}), Counter({(queue, hour): 1}))
