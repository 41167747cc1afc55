"""Domain actions on a task: KYC decisions through engine.kyc, withdrawal buttons by role."""

import pytest

from engine.audit import service as audit_service
from engine.db import unit_of_work
from engine.tasks import service as tasks_service
from engine.tasks.subjects import Subject
from tests.web.conftest import login

kyc = pytest.importorskip("engine.kyc.review")


def test_compliance_approves_kyc_from_the_task(app, tokens, sample, database):
    api, tid = app.test_client(), sample["compliance"]
    r = api.post(
        f"/api/tasks/{tid}/kyc_approve", headers=tokens["compliance"], json={"reason": "documents checked by hand"}
    )
    assert r.status_code == 400 and "needs an override reason" in r.json["error"]
    r = api.post(
        f"/api/tasks/{tid}/kyc_approve",
        headers=tokens["compliance"],
        json={"reason": "documents checked by hand", "override_reason": "documents checked by hand"},
    )
    assert r.status_code == 200, r.json
    assert (r.json["status"], r.json["resolution"]) == ("done", "approved: documents checked by hand")
    with unit_of_work(database) as s:
        actions = [e.action for e in audit_service.list_for(s, target_type="client", target_id="C1")]
    assert "kyc.approved" in actions
    page = login(app.test_client(), "compliance").get("/clients/C1").get_data(as_text=True)
    assert "kyc.approved" in page  # the audit section of the profile


def test_kyc_actions_only_on_compliance_tasks_and_not_when_held(app, tokens, sample, database):
    api = app.test_client()
    r = api.post(f"/api/tasks/{sample['finance']}/kyc_approve", headers=tokens["admin"])
    assert r.status_code == 409 and "does not apply" in r.json["error"]
    with unit_of_work(database) as s:
        tasks_service.claim(s, tasks_service.get(s, sample["compliance"]), actor="x@example.com")
    r = api.post(f"/api/tasks/{sample['compliance']}/kyc_approve", headers=tokens["compliance"])
    assert r.status_code == 409 and "held by x@example.com" in r.json["error"]


def test_withdrawal_buttons_follow_the_role(as_role, database):
    pytest.importorskip("engine.payments.withdrawals")
    with unit_of_work(database) as s:
        tid = tasks_service.create(
            s, queue="finance", title="Approve withdrawal", subject=Subject("withdrawal", "W-9")
        )[0].id
    assert "Approve withdrawal W-9" in as_role("finance").get(f"/tasks/{tid}").get_data(as_text=True)
    assert "Approve withdrawal W-9" in as_role("admin").get(f"/tasks/{tid}").get_data(as_text=True)


def test_unknown_withdrawal_is_reported(app, tokens, database):
    pytest.importorskip("engine.payments.withdrawals")
    with unit_of_work(database) as s:
        tid = tasks_service.create(
            s, queue="finance", title="Approve withdrawal", subject=Subject("withdrawal", "W-404")
        )[0].id
    r = app.test_client().post(f"/api/tasks/{tid}/withdrawal_approve", headers=tokens["finance"], json={"note": "ok"})
    assert r.status_code == 400 and "W-404" in r.json["error"]


def test_withdrawal_buttons_on_a_rule_task_about_a_withdrawal(as_role, database):
    pytest.importorskip("engine.payments.withdrawals")
    with unit_of_work(database) as s:
        tid = tasks_service.create(
            s,
            queue="compliance",
            title="Source of funds",
            client_ref="C7",
            explanation={"rule": "big-withdrawal"},
            subject=Subject("withdrawal", "W-77"),
        )[0].id
        other = tasks_service.create(
            s, queue="compliance", title="Mentions W-78", client_ref="C7", data={"withdrawal_id": "W-78"}
        )[0].id
    html = as_role("admin").get(f"/tasks/{tid}").get_data(as_text=True)
    assert "Approve withdrawal W-77" in html and "Reject withdrawal W-77" in html
    html = as_role("compliance").get(f"/tasks/{tid}").get_data(as_text=True)
    # Compliance decides the chain's compliance step, so it is offered; the service refuses
    # it on a step whose approvers (rules/policy/withdrawals.yaml) do not include compliance.
    assert "Approve KYC" in html and "Approve withdrawal W-77" in html
    html = as_role("support").get(f"/tasks/{tid}").get_data(as_text=True)
    assert "Approve withdrawal" not in html  # not this role's call
    # An id in the task's data is not what the task is about: no withdrawal actions.
    assert "Approve withdrawal" not in as_role("admin").get(f"/tasks/{other}").get_data(as_text=True)
