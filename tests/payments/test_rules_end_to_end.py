"""The shipped payment and account rules over the real pipeline: one task per trigger, no
duplicates on replay, tasks closed by later events, the sales timer and its cancellation."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from sqlalchemy import or_, select, update

from engine import processing
from engine.db import unit_of_work
from engine.events.models import PENDING, Event
from engine.processing.ingest import ingest_lines
from engine.payments import withdrawals
from engine.rules import activation
from engine.rules.loader import load_dir
from engine.rules import timers
from engine.tasks.models import Task
from engine.values import clock
from tests.helpers import event, jsonl
from tests.payments.builders import account, at, deposit, ingest, profile, registered, set_kyc, transfer, withdrawal


def activate_shipped_rules(database):
    files = {f"{d}/{name}": text for d in ("payments", "accounts") for name, text in load_dir(f"rules/{d}").items()}
    with unit_of_work(database) as s:
        activation.activate_files(s, files, actor="test")


def history():
    c1 = [
        registered("C1"),
        *[deposit("failed", "C1", m, pid=f"c1-f{m}") for m in (1, 20, 40)],
        deposit("completed", "C1", 50, pid="c1-ok"),
        account("C1", 120, aid="A1"),
        transfer("failed", "C1", 130, tid="c1-t1", reason="server down"),
        transfer("failed", "C1", 140, tid="c1-t2", reason="server down"),
    ]
    c2 = [
        registered("C2"),
        deposit("failed", "C2", 1, pid="c2-f", reason_code="risk_blocked", reason="risk"),
        deposit("completed", "C2", 90, pid="c2-ok", amount="300.00"),
    ]
    c3 = [
        registered("C3"),
        deposit("completed", "C3", 1, pid="c3-ok", amount="500.00"),
        account("C3", 2, aid="B1"),
        withdrawal("requested", "C3", 3, wid="c3-w1", amount="100.00"),
        withdrawal("requested", "C3", 4, wid="c3-w2", amount="100.00"),
    ]
    c4 = [
        registered("C4"),
        account("C4", 1, aid="D1"),
        event(
            "account.status_changed",
            "C4",
            at(2),
            account_id="D1",
            status="locked",
            reason="Negative balance after stop-out",
        ),
    ]
    return c1 + c2 + c3 + c4


def tasks(database):
    """Count the rules' tasks (the chain's step tasks are tested in test_withdrawal_tasks)."""
    with unit_of_work(database) as s:
        return Counter(
            (t.client_ref, t.rule_id, t.queue, t.status, t.priority)
            for t in s.scalars(select(Task).where(Task.rule_id.is_not(None)))
        )


def test_shipped_rules_make_one_task_per_cause_and_replays_add_none(database):
    activate_shipped_rules(database)
    events = history()
    ingest(database, *events)
    with unit_of_work(database) as s:
        withdrawals.reject(
            s, withdrawal_id="c3-w1", actor="comp@x.com", role="compliance", reason="proof of identity missing"
        )
    ingest(database, event("account.status_changed", "C4", at(300), account_id="D1", status="active"))
    clock.freeze(datetime(2026, 11, 3, tzinfo=timezone.utc))
    timers.fire_due(database)
    expected = Counter(
        {
            ("C1", "failed-deposit-task", "support", "done", "high"): 1,
            ("C1", "failed-transfer-task", "support", "open", "normal"): 1,
            ("C2", "failed-deposit-task", "finance", "done", "normal"): 1,
            ("C2", "funded-no-account", "sales", "open", "normal"): 1,
            ("C4", "account-locked", "support", "done", "normal"): 1,
        }
    )
    assert tasks(database) == expected
    c3 = profile(database, "C3")
    assert [w["waiting_for"] for w in c3["payments"]["pending_withdrawals"]] == ["compliance"]
    # One task per withdrawal step, saying why the step applies (no second rule task).
    step_tasks = {t["title"]: t for t in c3["tasks"] if t["queue"] == "compliance"}
    assert sorted(step_tasks) == [
        "Approve withdrawal c3-w1 (compliance step)",
        "Approve withdrawal c3-w2 (compliance step)",
    ]
    assert (
        "because the client's KYC is not started"
        in step_tasks["Approve withdrawal c3-w1 (compliance step)"]["description"]
    )
    with unit_of_work(database) as s:
        withdrawals.approve(s, withdrawal_id="c3-w2", actor="comp@x.com", role="compliance")
    assert tasks(database) == +expected

    ingest_lines(database, jsonl(events).splitlines())
    with unit_of_work(database) as s:
        s.execute(
            update(Event)
            .where(or_(*(Event.type.like(f"{p}.%") for p in ("payment", "wallet", "account"))))
            .values(status=PENDING, processed_at=None)
        )
    processing.process_all_pending(database)
    timers.fire_due(database)
    assert sum(tasks(database).values()) == 5
    assert profile(database, "C3")["wallets"] == {"USD": "400.00"}


def test_kyc_approved_clients_withdraw_without_a_compliance_task(database):
    activate_shipped_rules(database)
    ingest(database, registered("C1"))
    set_kyc(database, "C1", "approved")
    ingest(
        database,
        deposit("completed", "C1", 1, amount="500.00"),
        account("C1", 2),
        withdrawal("requested", "C1", 3, wid="w1", amount="100.00"),
    )
    assert tasks(database) == Counter()
    assert profile(database, "C1")["withdrawals"][0]["waiting_for"] == "finance"
