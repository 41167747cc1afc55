"""Two staff acting on one task at the same moment (PostgreSQL): it is decided once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.tasks import bulk, service
from engine.tasks.models import Task, TaskEvent
from tests.concurrency.race import ROUNDS, race, winners

A, B, C = "ana@example.com", "bo@example.com", "cy@example.com"


def _new_task(database) -> int:
    with unit_of_work(database) as s:
        task, _ = service.create(s, queue="support", title="Call the client", client_ref="C1")
        s.flush()
        return task.id


def _on(task_id, do):
    return lambda s: do(s, service.get(s, task_id))


def _race_on_new_task(database, first, second):
    """Open a task; run `first(s, task)` and `second(s, task)` at the same moment; return the
    task id and both outcomes."""
    tid = _new_task(database)
    return tid, race(database, _on(tid, first), _on(tid, second))


def _state(database, task_id):
    with unit_of_work(database) as s:
        task = s.get(Task, task_id)
        history = [
            (h.action, h.actor, (h.data or {}).get("from"), (h.data or {}).get("to"))
            for h in s.scalars(select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id))
        ]
        return task.status, task.assignee, task.resolution, history


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_claims_one_winner(pg_database, round_):
    tid, outcomes = _race_on_new_task(
        pg_database, lambda s, t: service.claim(s, t, actor=A), lambda s, t: service.claim(s, t, actor=B)
    )
    won = winners(outcomes)
    assert len(won) == 1
    status, assignee, _, history = _state(pg_database, tid)
    assert (status, assignee) == ("in_progress", [A, B][won[0]])
    assert [h[0] for h in history] == ["created", "claimed"]
    loser = outcomes[1 - won[0]]
    assert f"held by {assignee}" in str(loser)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_resolve_against_dismiss_closes_once(pg_database, round_):
    tid, outcomes = _race_on_new_task(
        pg_database,
        lambda s, t: service.resolve(s, t, actor=A, resolution="called"),
        lambda s, t: service.dismiss(s, t, actor=B, reason="duplicate"),
    )
    won = winners(outcomes)
    assert len(won) == 1
    status, _, resolution, history = _state(pg_database, tid)
    assert (status, resolution) == [("done", "called"), ("dismissed", "duplicate")][won[0]]
    assert [h[0] for h in history] == ["created", status]
    assert "already" in str(outcomes[1 - won[0]])


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_resolves_close_once(pg_database, round_):
    tid, outcomes = _race_on_new_task(
        pg_database,
        lambda s, t: service.resolve(s, t, actor=A, resolution="one"),
        lambda s, t: service.resolve(s, t, actor=A, resolution="two"),
    )
    assert len(winners(outcomes)) == 1
    assert [h[0] for h in _state(pg_database, tid)[3]] == ["created", "done"]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_assignments_are_applied_one_after_the_other(pg_database, round_):
    """Assigning takes a task over by design, so both may succeed, but in turn: the second
    one's history says whom it took the task from (no lost update)."""
    tid, outcomes = _race_on_new_task(
        pg_database,
        lambda s, t: service.assign(s, t, actor=C, assignee=A),
        lambda s, t: service.assign(s, t, actor=C, assignee=B),
    )
    assert winners(outcomes) == [0, 1]
    _, assignee, _, history = _state(pg_database, tid)
    first, second = history[1], history[2]
    assert first[0] == "assigned" and first[2] is None
    assert second[0] == "reassigned" and second[2] == first[3]
    assert assignee == second[3]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_claim_against_assignment(pg_database, round_):
    tid, outcomes = _race_on_new_task(
        pg_database, lambda s, t: service.claim(s, t, actor=A), lambda s, t: service.assign(s, t, actor=C, assignee=B)
    )
    _, assignee, _, history = _state(pg_database, tid)
    actions = [h[0] for h in history]
    if outcomes[0] == "ok":  # claimed first, then the assignment took it over
        assert actions == ["created", "claimed", "reassigned"] and history[2][2] == A
    else:  # assigned first: the claim found it held
        assert winners(outcomes) == [1] and actions == ["created", "assigned"]
        assert f"held by {B}" in str(outcomes[0])
    assert assignee == B


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_bulk_resolve_against_a_single_dismiss(pg_database, round_):
    first, other = _new_task(pg_database), _new_task(pg_database)
    results = {}

    def run_bulk(s):
        results.update(
            bulk.run(s, ids=[first, other], op="resolve", actor=A, visible=lambda t: True, resolution="batch")
        )

    outcomes = race(pg_database, run_bulk, _on(first, lambda s, t: service.dismiss(s, t, actor=B, reason="spam")))
    assert outcomes[0] == "ok"  # a bulk run reports per task, it never fails as a whole
    status, _, _, history = _state(pg_database, first)
    closes = [h for h in history if h[0] in ("done", "dismissed")]
    assert len(closes) == 1
    if outcomes[1] == "ok":
        assert status == "dismissed" and "already dismissed" in results[first]
    else:
        assert status == "done" and results[first] == "ok"
    assert _state(pg_database, other)[0] == "done"
