"""Each staff step of the approval chain opens a task in its queue, closed when the step is decided."""

from __future__ import annotations

from sqlalchemy import select, update

from engine.db import unit_of_work
from engine import processing
from engine.events.models import PENDING, Event
from engine.payments import withdrawals
from engine.tasks.models import Task
from tests.payments.builders import deposit, ingest, registered, set_kyc, withdrawal


def step_tasks(database, wid):
    with unit_of_work(database) as s:
        return [
            (t.queue, t.status, t.title, t.resolution)
            for t in s.scalars(
                select(Task)
                .where(Task.open_key.like(f"withdrawal:{wid}:%") | Task.trigger_key.like(f"withdrawal:{wid}:%"))
                .order_by(Task.id)
            )
        ]


def decide(database, verb, wid, actor, role, **kw):
    with unit_of_work(database) as s:
        getattr(withdrawals, verb)(s, withdrawal_id=wid, actor=actor, role=role, **kw)


def test_each_staff_step_opens_a_task_closed_when_decided_and_replay_adds_none(database):
    ingest(database, registered("C1"), deposit("completed", minute=1, amount="1000.00"))
    ingest(database, withdrawal("requested", minute=2, wid="w1", amount="100.00"))
    assert step_tasks(database, "w1") == [("compliance", "open", "Approve withdrawal w1 (compliance step)", None)]
    decide(database, "approve", "w1", "comp@example.com", "compliance")
    assert step_tasks(database, "w1") == [
        (
            "compliance",
            "done",
            "Approve withdrawal w1 (compliance step)",
            "compliance step: approved by comp@example.com",
        ),
        ("finance", "open", "Approve withdrawal w1 (finance step)", None),
    ]
    with unit_of_work(database) as s:  # processing runs again over every payment event
        s.execute(update(Event).where(Event.type.like("payment.%")).values(status=PENDING, processed_at=None))
    processing.process_all_pending(database)
    assert len(step_tasks(database, "w1")) == 2
    decide(database, "reject", "w1", "fin@example.com", "finance", reason="name mismatch")
    assert [t[:2] for t in step_tasks(database, "w1")] == [("compliance", "done"), ("finance", "done")]
    assert step_tasks(database, "w1")[1][3] == "finance step: withdrawal rejected: name mismatch"


def test_the_provider_step_opens_no_task_and_a_provider_rejection_closes_the_open_one(database):
    ingest(database, registered("C1"), deposit("completed", minute=1, amount="1000.00"))
    set_kyc(database, "C1", "approved")
    ingest(database, withdrawal("requested", minute=2, wid="w2", amount="100.00"))
    decide(database, "approve", "w2", "fin@example.com", "finance")
    assert [t[:2] for t in step_tasks(database, "w2")] == [("finance", "done")]
    ingest(
        database,
        withdrawal("requested", minute=3, wid="w3", amount="100.00"),
        withdrawal("rejected", minute=4, wid="w3", amount="100.00", reason="bank refused"),
    )
    assert [t[:2] for t in step_tasks(database, "w3")] == [("finance", "done")]
