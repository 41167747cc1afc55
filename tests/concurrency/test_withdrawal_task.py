"""A withdrawal step decided on its page and from its inbox task at the same moment
(PostgreSQL): decided once, the loser gets a conflict (409 on the web), never a 500."""

from __future__ import annotations

import pytest

from engine.db import unit_of_work
from engine.payments import withdrawals
from engine.tasks import service as tasks_service
from engine.tasks.models import Task
from tests.concurrency.race import ROUNDS, race, task_action, winners
from tests.payments.builders import deposit, ingest, registered, set_kyc, withdrawal

A, B = "fin1@example.com", "fin2@example.com"


@pytest.fixture
def waiting_for_finance(pg_database):
    ingest(pg_database, registered("C2"), deposit("completed", "C2", 1, pid="p2", amount="1000.00"))
    set_kyc(pg_database, "C2", "approved")
    ingest(pg_database, withdrawal("requested", "C2", 3, wid="w2", amount="200.00"))
    with unit_of_work(pg_database) as s:
        return tasks_service.get_open_by_key(s, withdrawals.step_task_key("w2", "finance")).id


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_page_and_task_deciding_one_step(pg_database, waiting_for_finance, round_):
    outcomes = race(
        pg_database,
        lambda s: withdrawals.approve(s, withdrawal_id="w2", actor=A, role="finance"),
        task_action(waiting_for_finance, B, "finance", "withdrawal_approve"),
    )
    won = winners(outcomes)
    assert len(won) == 1
    with unit_of_work(pg_database) as s:
        w = withdrawals.get(s, "w2")
        staff = [(d.step, d.actor) for d in w.decisions if d.actor in (A, B)]
        assert staff == [("finance", [A, B][won[0]])]
        assert (w.status, w.waiting_for) == ("pending", "payment_provider")
        assert s.get(Task, waiting_for_finance).status == "done"
