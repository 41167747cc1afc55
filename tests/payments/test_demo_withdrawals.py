"""The demo data leaves a pending withdrawal waiting at each step of the shipped chain."""

from __future__ import annotations

from engine import demo
from engine.db import unit_of_work
from engine.payments import withdrawals
from engine.tasks import service as tasks_service


def test_demo_leaves_withdrawals_waiting_at_every_step(database):
    demo.load(database, clients=3)
    with unit_of_work(database) as s:
        waiting = {w.waiting_for for w in withdrawals.list_pending(s)}
        untasked = [
            w.withdrawal_id
            for w in withdrawals.list_pending(s)
            if w.waiting_for in ("compliance", "finance")
            and tasks_service.get_open_by_key(s, withdrawals.step_task_key(w.withdrawal_id, w.step)) is None
        ]
    assert {"compliance", "client_documents", "finance", "payment_provider"} <= waiting
    assert untasked == []  # every staff step has its inbox task
