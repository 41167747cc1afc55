"""Reviewer actions and manual status changes: reasons required, audited, overrides recorded."""

from __future__ import annotations

import pytest

from engine.audit import service as audit_service
from engine.clients import service as clients_service
from engine.db import unit_of_work
from engine.kyc import review
from engine.kyc import service as kyc_service
from engine.tasks import service as tasks_service
from tests.kyc.helpers import documented_events, event, ingest, profile, registered, submitted
from tests.kyc.helpers import review as review_event


def act(database, fn, ref="C1", **kwargs):
    with unit_of_work(database) as session:
        client = clients_service.get_by_ref(session, ref)
        return fn(session, client=client, **kwargs)


def audit(database, ref="C1"):
    with unit_of_work(database) as session:
        return [
            (e.actor, e.action, e.reason) for e in audit_service.list_for(session, target_type="client", target_id=ref)
        ]


def test_manual_status_change_needs_a_reason_and_is_audited(database):
    ingest(database, registered("C1"))
    with pytest.raises(kyc_service.KycError, match="needs a reason"):
        act(database, kyc_service.change_status, status="blocked", reason="  ", actor="ops@b.test")
    act(database, kyc_service.change_status, status="blocked", reason="chargeback fraud", actor="ops@b.test")
    p = profile(database, "C1")
    assert (p["status"], p["status_reason"]) == ("blocked", "chargeback fraud")
    assert p["kyc"]["status_history"][0] | {"at": None} == {
        "from": "pending",
        "to": "blocked",
        "actor": "ops@b.test",
        "rule_id": None,
        "reason": "chargeback fraud",
        "at": None,
    }
    assert audit(database) == [("ops@b.test", "client.status_changed", "chargeback fraud")]
    assert p["next_step"] == "None: the client is blocked (chargeback fraud)"


def test_unknown_or_unchanged_status_is_refused(database):
    ingest(database, registered("C1"))
    with pytest.raises(kyc_service.KycError, match="unknown status 'frozen'"):
        act(database, kyc_service.change_status, status="frozen", reason="x", actor="a")
    with pytest.raises(kyc_service.KycError, match="already pending"):
        act(database, kyc_service.change_status, status="pending", reason="x", actor="a")
    assert audit(database) == []


def test_a_rule_never_moves_a_blocked_client(database):
    ingest(database, registered("C1"))
    act(database, kyc_service.change_status, status="blocked", reason="fraud", actor="a")
    change = act(
        database,
        kyc_service.set_status,
        status="approved",
        reason="kyc approved",
        actor="rule:kyc-approved",
        rule_id="kyc-approved",
    )
    assert change is None
    assert profile(database, "C1")["status"] == "blocked"


def test_approve_sets_status_funnel_and_documents_through_an_event(database):
    ingest(
        database,
        *documented_events(),
    )
    act(database, review.approve, actor="kyc@b.test")
    p = profile(database, "C1")
    assert (p["status"], p["funnel_stage"], p["kyc"]["status"]) == ("approved", "kyc_approved", "approved")
    assert {d["state"] for d in p["kyc"]["documents"]} == {"approved"}
    assert p["kyc"]["latest_result"]["provider"] == "backoffice"
    assert p["kyc"]["provider_result"] is None
    assert audit(database)[0][:2] == ("kyc@b.test", "kyc.approved")


def test_approving_against_the_provider_needs_a_reason_and_records_the_override(database):
    ingest(
        database,
        *documented_events(),
        event("kyc.on_hold", "C1", "2026-11-01T12:00:00Z", provider="sumsub", reason="PEP check"),
    )
    with pytest.raises(kyc_service.KycError, match="provider's result is on_hold; deciding approved"):
        act(database, review.approve, actor="kyc@b.test")
    act(database, review.approve, actor="kyc@b.test", reason="PEP check cleared by MLRO")
    p = profile(database, "C1")
    assert p["status"] == "approved"
    assert [(o["provider"], o["from"], o["to"], o["actor"], o["reason"]) for o in p["kyc"]["overrides"]] == [
        ("sumsub", "on_hold", "approved", "kyc@b.test", "PEP check cleared by MLRO")
    ]
    assert [a[1] for a in audit(database)] == ["kyc.override", "kyc.approved"]


def test_reject_takes_a_reason_code_from_the_policy_list(database):
    ingest(database, registered("C1"))
    with pytest.raises(kyc_service.KycError, match="unknown reason code 'meh'; use one of document_unreadable"):
        act(database, review.reject, actor="kyc@b.test", reason_code="meh")
    act(database, review.reject, actor="kyc@b.test", reason_code="identity_mismatch", note="name differs")
    p = profile(database, "C1")
    assert p["status"] == "rejected"
    assert p["status_reason"] == ("identity_mismatch: The details on your documents do not match your registration.")
    assert p["kyc"]["latest_result"]["labels"] == ["identity_mismatch"]


def test_overriding_a_provider_approval_with_a_rejection(database):
    ingest(database, registered("C1"), review_event("C1", "approved", "2026-11-01T12:00:00Z"))
    act(
        database,
        review.override,
        actor="mlro@b.test",
        result="rejected",
        reason="sanctions hit after approval",
        reason_code="sanctions_match",
    )
    p = profile(database, "C1")
    assert (p["status"], p["kyc"]["status"]) == ("rejected", "rejected")
    assert p["kyc"]["overrides"][0]["reason"] == "sanctions_match: sanctions hit after approval"
    assert p["kyc"]["provider_result"]["result"] == "approved"


def test_request_documents_asks_again_and_closes_the_review_task(database):
    ingest(
        database,
        *documented_events(),
    )
    with unit_of_work(database) as session:
        task, _ = tasks_service.create(session, queue="compliance", title="Review KYC", client_ref="C1")
        task_id = task.id
    with pytest.raises(kyc_service.KycError, match=r"unknown: passport"):
        act(database, review.request_documents, actor="kyc@b.test", document_types=["passport"], message="x")
    with unit_of_work(database) as session:
        client = clients_service.get_by_ref(session, "C1")
        review.request_documents(
            session,
            client=client,
            actor="kyc@b.test",
            document_types=["proof_of_address", "selfie"],
            message="Please send a bank statement and a selfie.",
            task=tasks_service.get(session, task_id),
        )
    p = profile(database, "C1")
    assert p["kyc"]["status"] == "retry"
    assert p["kyc"]["missing"] == ["proof_of_address", "selfie"]
    assert p["kyc"]["required"] == ["id", "proof_of_address", "selfie"]
    assert p["tasks"][0]["status"] == "done"
    assert p["tasks"][0]["resolution"] == "documents requested: proof_of_address, selfie"


def test_risk_category_needs_a_known_value_and_a_reason(database):
    ingest(database, registered("C1"))
    with pytest.raises(kyc_service.KycError, match="unknown risk category 'extreme'"):
        act(database, kyc_service.set_risk, category="extreme", reason="x", actor="a")
    with pytest.raises(kyc_service.KycError, match="needs a reason"):
        act(database, kyc_service.set_risk, category="high", reason="", actor="a")
    assert act(database, kyc_service.set_risk, category="high", reason="PEP", actor="mlro@b.test")
    assert not act(database, kyc_service.set_risk, category="high", reason="PEP", actor="mlro@b.test")
    assert profile(database, "C1")["risk"] == {"category": "high", "reason": "PEP"}
    assert audit(database) == [("mlro@b.test", "client.risk_changed", "PEP")]
