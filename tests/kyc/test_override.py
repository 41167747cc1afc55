"""Approving KYC without the required documents needs an override; a decision closes what it makes moot."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.audit.models import AuditEntry
from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.events.models import Event
from engine.kyc import review
from engine.kyc import service as kyc_service
from engine.kyc.models import KycOverride
from engine.payments import withdrawals
from engine.tasks.models import Task
from tests.kyc.helpers import documented_events, event, ingest, profile, registered, submitted
from tests.kyc.test_end_to_end import compliance_tasks, fire, onboarding, show  # noqa: F401
from tests.payments.builders import deposit, withdrawal


def approve(database, ref, **kwargs):
    with unit_of_work(database) as s:
        review.approve(s, client=clients_service.get_by_ref(s, ref), actor="kyc@b.test", **kwargs)


def counts(database) -> tuple[int, int, int]:
    with unit_of_work(database) as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (KycOverride, AuditEntry, Event))


def test_approval_without_documents_is_refused_without_an_override_reason(database):
    ingest(
        database,
        registered("C1", "2026-11-01T10:00:00Z"),
        submitted("C1", "id", "2026-11-01T11:00:00Z"),
        event(
            "kyc.document_rejected",
            "C1",
            "2026-11-01T11:30:00Z",
            document_id="C1-id",
            document_type="id",
            reason="blurred",
        ),
    )
    before = counts(database)
    with pytest.raises(
        kyc_service.KycError,
        match=r"id \(rejected\), proof_of_address \(missing\); "
        r"approving without them is an override",
    ):
        approve(database, "C1", override_reason="   ")
    assert counts(database) == before
    assert profile(database, "C1")["kyc"]["status"] != "approved"


def test_override_is_recorded_audited_and_shown(database):
    ingest(database, registered("C1", "2026-11-01T10:00:00Z"), submitted("C1", "id", "2026-11-01T11:00:00Z"))
    approve(database, "C1", override_reason="proof of address seen on a video call")
    p = profile(database, "C1")
    assert (p["status"], p["kyc"]["status"]) == ("approved", "approved")
    assert [(o["provider"], o["from"], o["to"], o["actor"], o["reason"]) for o in p["kyc"]["overrides"]] == [
        ("kyc_policy", "missing_docs", "approved", "kyc@b.test", "proof of address seen on a video call")
    ]
    with unit_of_work(database) as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "kyc.documents_override"))
    assert entry.detail == {"documents": ["proof_of_address (missing)"]}


def test_complete_documents_need_no_override(database):
    ingest(
        database,
        *documented_events(),
    )
    approve(database, "C1")
    assert profile(database, "C1")["kyc"]["overrides"] == []


def test_the_documents_task_closes_when_kyc_is_approved_with_an_override(onboarding, database):
    fire(onboarding, 7 * 24)
    assert compliance_tasks(show(onboarding, "POA")) == ["kyc-documents-overdue"]
    approve(database, "POA", override_reason="address checked in the land register")
    with unit_of_work(database) as s:
        task = s.scalar(select(Task).where(Task.rule_id == "kyc-documents-overdue"))
        assert (task.status, task.resolution) == ("done", "condition kyc-documents-task-needed no longer holds")


def test_the_documents_task_closes_when_kyc_is_rejected(onboarding, database):
    fire(onboarding, 7 * 24)
    with unit_of_work(database) as s:
        review.reject(
            s, client=clients_service.get_by_ref(s, "POA"), actor="kyc@b.test", reason_code="identity_mismatch"
        )
    with unit_of_work(database) as s:
        task = s.scalar(select(Task).where(Task.rule_id == "kyc-documents-overdue"))
        assert task.status == "done"


def waiting(database, ref="C1") -> list[tuple[str, str | None]]:
    with unit_of_work(database) as s:
        return [(w.withdrawal_id, w.waiting_for) for w in withdrawals.list_for(s, ref)]


def test_a_withdrawal_waiting_only_for_kyc_moves_on_when_kyc_is_approved(database):
    ingest(
        database,
        registered("C1", "2026-11-01T09:00:00Z"),
        submitted("C1", "id", "2026-11-01T09:10:00Z"),
        submitted("C1", "proof_of_address", "2026-11-01T09:11:00Z"),
        deposit("completed", "C1", 1, amount="9000.00"),
        withdrawal("requested", "C1", 3, wid="small", amount="100.00"),
        withdrawal("requested", "C1", 4, wid="large", amount="6000.00"),
    )
    assert sorted(waiting(database)) == [("large", "compliance"), ("small", "compliance")]
    approve(database, "C1")
    assert sorted(waiting(database)) == [("large", "compliance"), ("small", "finance")]
    with unit_of_work(database) as s:
        (skip,) = [d for d in withdrawals.get(s, "small").decisions if d.decision == "skipped"]
        assert (skip.step, skip.actor, skip.reason) == (
            "compliance",
            "policy",
            "KYC is approved: step compliance no longer applies",
        )


def test_the_cli_takes_the_same_override_reason(database, runner):
    from engine.users import service as users_service

    with unit_of_work(database) as s:
        users_service.create(s, email="kyc@b.test", role="compliance", password="a long password 1")
    ingest(database, registered("C1", "2026-11-01T10:00:00Z"))
    refused = runner.invoke(["kyc", "approve", "C1", "--actor", "kyc@b.test"])
    assert refused.exit_code == 1 and "needs an override reason" in refused.output
    assert counts(database)[0] == 0
    done = runner.invoke(
        ["kyc", "approve", "C1", "--actor", "kyc@b.test", "--override-reason", "documents seen at the branch"]
    )
    assert done.exit_code == 0, done.output
    (override,) = profile(database, "C1")["kyc"]["overrides"]
    assert (override["from"], override["reason"]) == ("missing_docs", "documents seen at the branch")
