"""Working a task: claim with an expiring lease, release, assign, wait, resolve, dismiss."""

from datetime import timedelta

import pytest

from engine.db import unit_of_work
from engine.tasks import bulk, service
from engine.tasks.models import Task
from engine.values import clock, parse_datetime

T0 = parse_datetime("2026-11-02T10:00:00Z")


def _task(database, **kw):
    with unit_of_work(database) as s:
        task, _ = service.create(s, queue=kw.pop("queue", "finance"), title="check", **kw)
        return task.id


def _do(database, task_id, fn, **kw):
    with unit_of_work(database) as s:
        task = service.get(s, task_id)
        fn(s, task, **kw)
        return service.to_dict(task, history=True)


def test_claim_sets_lease_and_blocks_others_until_it_lapses(database):
    clock.freeze(T0)
    tid = _task(database)
    data = _do(database, tid, service.claim, actor="ann@x.io")
    assert data["status"] == "in_progress" and data["assignee"] == "ann@x.io"
    assert data["lease_expires_at"] == "2026-11-02T10:30:00Z"
    with pytest.raises(service.TaskError, match="held by ann@x.io until"):
        _do(database, tid, service.claim, actor="bob@x.io")
    clock.freeze(T0 + timedelta(minutes=31))
    data = _do(database, tid, service.claim, actor="bob@x.io")
    assert data["assignee"] == "bob@x.io"
    assert "taken over from ann@x.io" in data["history"][-1]["detail"]


def test_expire_leases_returns_lapsed_claims_to_the_queue(database):
    clock.freeze(T0)
    tid = _task(database)
    _do(database, tid, service.claim, actor="ann@x.io")
    with unit_of_work(database) as s:
        assert service.expire_leases(s, now=T0 + timedelta(minutes=29)) == 0
        assert service.expire_leases(s, now=T0 + timedelta(minutes=30)) == 1
    with unit_of_work(database) as s:
        task = service.get(s, tid)
        assert (task.status, task.assignee, task.lease_expires_at) == ("open", None, None)
        assert task.history[-1].action == "lease_expired"


def test_release_only_by_holder_unless_forced(database):
    tid = _task(database)
    _do(database, tid, service.claim, actor="ann@x.io")
    with pytest.raises(service.TaskError, match="held by"):
        _do(database, tid, service.release, actor="bob@x.io")
    data = _do(database, tid, service.release, actor="bob@x.io", force=True)
    assert (data["status"], data["assignee"]) == ("open", None)
    with pytest.raises(service.TaskError, match="not held"):
        _do(database, tid, service.release, actor="bob@x.io")


def test_assign_and_reassign_hold_without_expiry(database):
    tid = _task(database)
    data = _do(database, tid, service.assign, actor="lead@x.io", assignee="Ann@X.io")
    assert (data["assignee"], data["lease_expires_at"], data["status"]) == ("ann@x.io", None, "in_progress")
    data = _do(database, tid, service.assign, actor="lead@x.io", assignee="bob@x.io")
    assert [h["action"] for h in data["history"]][-2:] == ["assigned", "reassigned"]
    with pytest.raises(service.TaskError, match="held by bob@x.io; ask them"):
        _do(database, tid, service.resolve, actor="ann@x.io", resolution="done")


def test_wait_resume_resolve(database):
    tid = _task(database)
    _do(database, tid, service.claim, actor="ann@x.io")
    with pytest.raises(service.TaskError, match="what the task waits for is required"):
        _do(database, tid, service.wait, actor="ann@x.io", waiting_for="  ")
    data = _do(database, tid, service.wait, actor="ann@x.io", waiting_for="proof of address")
    assert (data["status"], data["waiting_for"]) == ("waiting", "proof of address")
    data = _do(database, tid, service.resume, actor="ann@x.io")
    assert (data["status"], data["waiting_for"]) == ("in_progress", None)
    data = _do(database, tid, service.resolve, actor="ann@x.io", resolution="called client")
    assert (data["status"], data["resolution"]) == ("done", "called client")
    assert data["closed_at"] and data["lease_expires_at"] is None
    with pytest.raises(service.TaskError, match="already done"):
        _do(database, tid, service.claim, actor="ann@x.io")


def test_dismiss_needs_reason_and_frees_open_key(database):
    tid = _task(database, open_key="r1:C1")
    with pytest.raises(service.TaskError, match="reason is required"):
        _do(database, tid, service.dismiss, actor="ann@x.io", reason="")
    data = _do(database, tid, service.dismiss, actor="ann@x.io", reason="duplicate")
    assert (data["status"], data["resolution"]) == ("dismissed", "duplicate")
    assert _task(database, open_key="r1:C1") != tid


def test_comments_are_kept_in_order_and_in_history(database):
    tid = _task(database)
    _do(database, tid, service.comment, author="ann@x.io", body="called, no answer")
    data = _do(database, tid, service.comment, author="bob@x.io", body="sent email")
    assert [(c["author"], c["body"]) for c in data["comments"]] == [
        ("ann@x.io", "called, no answer"),
        ("bob@x.io", "sent email"),
    ]
    assert data["history"][-1]["action"] == "commented"
    with pytest.raises(service.TaskError, match="comment is required"):
        _do(database, tid, service.comment, author="bob@x.io", body="")


def test_bulk_reports_each_task(database):
    ids = [_task(database) for _ in range(3)] + [_task(database, queue="sales")]
    _do(database, ids[1], service.claim, actor="bob@x.io")
    with unit_of_work(database) as s:
        result = bulk.run(s, ids=ids + [999999], op="claim", actor="ann@x.io", visible=lambda t: t.queue == "finance")
    assert result[ids[0]] == result[ids[2]] == "ok"
    assert "held by bob@x.io" in result[ids[1]]
    assert result[ids[3]] == result[999999] == "no such task"
    with unit_of_work(database) as s:
        result = bulk.run(
            s, ids=ids[:3], op="resolve", actor="ann@x.io", visible=lambda t: True, resolution="batch fixed"
        )
        assert [s.get(Task, i).status for i in ids[:3]] == ["done", "in_progress", "done"]
    with pytest.raises(service.TaskError, match="unknown bulk operation"):
        with unit_of_work(database) as s:
            bulk.run(s, ids=ids, op="explode", actor="a", visible=lambda t: True)


def test_manual_task_gets_sla_due_time(database):
    clock.freeze(parse_datetime("2026-11-06T16:00:00Z"))  # a Friday, 2h before closing
    with unit_of_work(database) as s:
        task = service.create_manual(
            s, queue="support", title="Client cannot log in", actor="sue@x.io", client_ref="C1", priority="high"
        )
        assert task.due_at == parse_datetime("2026-11-09T11:00:00Z")  # 2h Fri + 2h Mon
        assert task.created_by == "sue@x.io" and task.rule_id is None
        with pytest.raises(service.TaskError, match="title is required"):
            service.create_manual(s, queue="support", title=" ", actor="sue@x.io")
