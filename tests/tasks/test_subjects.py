"""A task's subject is a typed link set when it opens, never found by searching its JSON."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.rules import activation
from engine.tasks import service as tasks_service
from engine.tasks.models import Task
from engine.tasks.subjects import Subject, subject_of
from tests.payments.builders import deposit, ingest, registered, withdrawal

pytest.importorskip("engine.payments.withdrawals")

BIG_WITHDRAWALS = """
ruleset: big-withdrawals
description: A large withdrawal is reviewed; a deposit is thanked.
rules:
  - id: big-withdrawal-review
    description: Source of funds for a withdrawal of 100 or more.
    when: payment.withdrawal_requested
    if:
      - event.amount >= 100 USD
    then:
      - task: {queue: compliance, title: "Source of funds for {event.withdrawal_id}"}
  - id: deposit-thanks
    description: Sales thanks a depositing client.
    when: payment.deposit_completed
    then:
      - task: {queue: sales, title: "Thank the client"}
"""


def asks_to_withdraw(database, ref: str, wid: str, amount: str) -> None:
    """Register `ref`, deposit 500 and request the withdrawal `wid` of `amount`."""
    ingest(
        database,
        registered(ref),
        deposit("completed", ref, 1, pid=f"p{ref[1:]}", amount="500.00"),
        withdrawal("requested", ref, 2, wid=wid, amount=amount),
    )


def test_a_rule_task_takes_the_subject_of_its_triggering_event(database):
    with unit_of_work(database) as s:
        activation.activate_files(s, {"big.yaml": BIG_WITHDRAWALS}, actor="test")
    asks_to_withdraw(database, "C1", "W-1", "200.00")
    with unit_of_work(database) as s:
        tasks = {t.rule_id: t for t in s.scalars(select(Task).where(Task.rule_id.is_not(None)))}
        review, thanks = tasks["big-withdrawal-review"], tasks["deposit-thanks"]
        assert subject_of(review, "withdrawal") == Subject("withdrawal", "W-1")
        assert tasks_service.to_dict(review)["subject"] == {"kind": "withdrawal", "id": "W-1"}
        assert (thanks.subject_kind, thanks.subject_id) == (None, None)
        assert subject_of(thanks, "withdrawal") is None


def test_the_chain_step_task_links_its_withdrawal(database):
    asks_to_withdraw(database, "C2", "W-2", "100.00")
    with unit_of_work(database) as s:
        step = s.scalar(select(Task).where(Task.title.like("Approve withdrawal W-2%")))
        assert subject_of(step, "withdrawal") == Subject("withdrawal", "W-2")


def test_a_withdrawal_id_in_a_tasks_data_is_not_its_subject(database):
    with unit_of_work(database) as s:
        task, _ = tasks_service.create(s, queue="finance", title="Note about W-9", data={"withdrawal_id": "W-9"})
        assert subject_of(task, "withdrawal") is None
        linked, _ = tasks_service.create(s, queue="finance", title="Approve", subject=Subject("withdrawal", "W-9"))
        assert subject_of(linked, "withdrawal") == Subject("withdrawal", "W-9")
        assert subject_of(linked, "delivery") is None


def test_the_migration_links_the_tasks_already_there(fresh_url):
    from datetime import datetime, timezone

    import sqlalchemy as sa

    from engine.migrate import upgrade

    upgrade(fresh_url, "1099_client_search")
    tasks = sa.table(
        "tasks",
        sa.column("id"),
        sa.column("queue"),
        sa.column("status"),
        sa.column("priority"),
        sa.column("priority_rank"),
        sa.column("title"),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("data", sa.JSON),
        sa.column("explanation", sa.JSON),
    )
    events = sa.table(
        "events",
        sa.column("seq"),
        sa.column("source"),
        sa.column("event_id"),
        sa.column("type"),
        sa.column("client_ref"),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        sa.column("received_at", sa.DateTime(timezone=True)),
        sa.column("data", sa.JSON),
        sa.column("status"),
        sa.column("attempts"),
        sa.column("via"),
    )
    now = datetime(2026, 11, 2, 10, tzinfo=timezone.utc)
    engine = sa.create_engine(fresh_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                events.insert(),
                [
                    {
                        "seq": 1,
                        "source": "api",
                        "event_id": "e1",
                        "type": "payment.withdrawal_requested",
                        "client_ref": "C1",
                        "occurred_at": now,
                        "received_at": now,
                        "status": "processed",
                        "attempts": 0,
                        "via": "api",
                        "data": {"withdrawal_id": "W-E", "amount": "1"},
                    }
                ],
            )
            rows = {
                "step": ({"withdrawal_id": "W-D"}, None),
                "facts": (None, {"facts": {"event.withdrawal_id": "W-F"}}),
                "event": (None, {"rule": "r", "events": [1]}),
                "batch": ({"ib_payout_batch": 3}, None),
                "wire": ({"delivery_id": 4}, None),
                "none": ({"close_when": "x"}, {"rule": "r", "events": []}),
            }
            conn.execute(
                tasks.insert(),
                [
                    {
                        "queue": "finance",
                        "status": "open",
                        "priority": "normal",
                        "priority_rank": 20,
                        "title": title,
                        "created_at": now,
                        "updated_at": now,
                        "data": data,
                        "explanation": explanation,
                    }
                    for title, (data, explanation) in rows.items()
                ],
            )
        upgrade(fresh_url, "1100_task_subject")
        with engine.connect() as conn:
            found = {
                r.title: (r.subject_kind, r.subject_id)
                for r in conn.execute(sa.text("SELECT title, subject_kind, subject_id FROM tasks"))
            }
        assert found == {
            "step": ("withdrawal", "W-D"),
            "facts": ("withdrawal", "W-F"),
            "event": ("withdrawal", "W-E"),
            "batch": ("ib_payout_batch", "3"),
            "wire": ("delivery", "4"),
            "none": (None, None),
        }
    finally:
        engine.dispose()
