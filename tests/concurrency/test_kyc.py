"""Two compliance reviewers deciding one client's KYC at the same moment (PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.audit.models import AuditEntry
from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.events.models import Event
from engine.kyc import review
from engine.tasks import service as tasks_service
from tests.concurrency.race import ROUNDS, race, task_action, winners
from tests.kyc.helpers import documented_events, ingest, registered, submitted

A, B = "ana@example.com", "bo@example.com"


@pytest.fixture
def documented(pg_database):
    """A pending client with every document sent: approving needs no override."""
    ingest(
        pg_database,
        *documented_events(poa_at="2026-11-01T11:05:00Z"),
    )
    return pg_database


def _decide(how, actor, **kwargs):
    def run(s):
        client = clients_service.get_by_ref(s, "C1")
        if how == "approve":
            review.approve(s, client=client, actor=actor, **kwargs)
        else:
            review.reject(s, client=client, actor=actor, reason_code="identity_mismatch", **kwargs)

    return run


def _decisions(database):
    with unit_of_work(database) as s:
        audits = list(
            s.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.target_id == "C1", AuditEntry.action.in_(["kyc.approved", "kyc.rejected"])
                )
            )
        )
        events = s.scalar(
            select(func.count()).select_from(Event).where(Event.client_ref == "C1", Event.source == "backoffice")
        )
        return audits, events, clients_service.get_by_ref(s, "C1").status


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("second", ["approve", "reject"])
def test_two_reviewers_who_saw_the_client_pending_decide_once(documented, second, round_):
    outcomes = race(
        documented, _decide("approve", A, expected_status="pending"), _decide(second, B, expected_status="pending")
    )
    won = winners(outcomes)
    assert len(won) == 1
    audits, events, status = _decisions(documented)
    decided = {"approve": "approved", "reject": "rejected"}
    assert audits == [f"kyc.{['approved', decided[second]][won[0]]}"] and events == 1
    assert status == ["approved", decided[second]][won[0]]
    assert "pending" in str(outcomes[1 - won[0]])


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_reviewers_on_one_task_decide_once(documented, round_):
    """From the task page: the first decision closes the task; the second gets a 409."""
    with unit_of_work(documented) as s:
        task, _ = tasks_service.create(s, queue="compliance", title="Review KYC", client_ref="C1")
        s.flush()
        tid = task.id

    def act(actor):
        return task_action(tid, actor, "compliance", "kyc_approve")

    outcomes = race(documented, act(A), act(B))
    assert len(winners(outcomes)) == 1
    audits, events, status = _decisions(documented)
    assert (audits, events, status) == (["kyc.approved"], 1, "approved")
